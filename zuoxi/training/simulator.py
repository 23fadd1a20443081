"""The simulated customer (陪练): a case's customer, whose anger moves with what the agent does.

What the agent did is read with the scorecards' own rules and word lists, so practice and QA
agree: the case's scorecard runs on the transcript so far, and a finding that newly fails at the
agent's latest turn (EM-01 rude, EM-03 "calm down", SA-02 refusal without reason, SA-03
deflection, SA-05 over-promise, CS-01 broken record) raises anger; an apology or empathy, a real
action, a reason, an alternative, verification (for a suspicious customer) or a question that
draws out a fact lower it. Past 1.0 the customer demands a manager (the drill fails); a reply
that meets the hidden need — or an acceptable alternative while calm enough — ends it well. After
the customer accepts, demands a manager or gives up, the trainee still has one closing line.

The state always moves by these rules, read on the *planned* transcript: the trainee's lines and,
for each customer turn, its planned line (a fact's answer, the case's real line, or the persona's
first template of the situation). The score is of that transcript too, so the same trainee lines get
the same state and score whatever the seed or the wording. An engine only words the line shown: the
offline engine picks persona templates with the seed; the LLM engine (`llm.py`) asks an
OpenAI-compatible server, and after its first failure the session stays offline (circuit breaker).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import yaml

from zuoxi.model import Conversation, Result, Turn
from zuoxi.normalize import normalize_text
from zuoxi.pipeline import analyze_conversation
from zuoxi.rules.scorecard import shared_lexicons
from zuoxi.training.cases import Case

PERSONAS = Path(__file__).resolve().parent / "personas.yaml"
MAX_AGENT_TURNS = 12
ESCALATE_AT = 1.0
ACCEPT_BELOW = 0.9  # an angrier customer no longer accepts even the right answer
ALTERNATIVE_BELOW = 0.6
REPEAT_SIMILARITY = 0.6  # character-bigram overlap coefficient, as the scorecards' `repeat`

# Scorecard findings that, failing at the agent's latest turn, raise anger (before patience).
RULE_EFFECTS = {"EM-01": ("insulted", 0.5), "EM-03": ("insulted", 0.25), "SA-02": ("refused", 0.15),
                "SA-03": ("deflected", 0.2), "SA-05": ("over_promise", 0.1), "CS-01": ("repeated", 0.2)}
# Word lists (scorecards/lexicons.yaml) that, found in the agent's turn, lower anger.
CALMING = {"empathy": (("soothing", "apology"), 0.1), "action": (("agent_action", "solution"), 0.1),
           "reason": (("reason",), 0.05), "alternative": (("alternative",), 0.05)}
_NON_WORD = re.compile(r"[\W_]+")


@dataclass
class CustomerTurn:
    text: str
    anger: float
    outcome: str | None  # None while the drill goes on; accepted | accepted_alternative | escalated | gave_up
    events: list[str]


@dataclass
class DrillReport:
    case_id: str
    outcome: str | None
    score: float
    max_score: float
    result: Result
    anger: list[float]  # after the opening and after every customer reply
    events: list[list[str]]  # per agent turn
    transcript: Conversation
    degraded: bool = False  # the LLM engine failed and the offline engine answered the rest
    backends: list[str | None] = field(default_factory=list)  # per transcript turn: who worded a customer line

    @property
    def engine(self) -> str:
        """The engines that worded the customer's lines: offline, llm, or llm+offline (it failed midway)."""
        return "+".join(sorted({b for b in self.backends if b not in (None, "case")})) or "offline"


class Engine(Protocol):
    name: str  # recorded for each line it words: "offline", "llm"

    def reply(self, session: DrillSession, situation: str, fact: str | None) -> str: ...


@lru_cache(maxsize=1)
def persona_lines() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load(PERSONAS.read_text(encoding="utf-8"))


def _bigrams(text: str) -> set[str]:
    chars = _NON_WORD.sub("", normalize_text(text))
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def _same(a: set[str], b: set[str]) -> bool:
    small = min(len(a), len(b))
    return small >= 2 and len(a & b) / small >= REPEAT_SIMILARITY


class OfflineEngine:
    """The planned line when it is a fact or the case's real words, else a persona template chosen
    with the session's seed (polite or blunt by politeness)."""

    name = "offline"

    def reply(self, session: DrillSession, situation: str, fact: str | None) -> str:
        case, rng = session.case, session.rng
        if fact is not None or session.real_line is not None:
            return session.planned[-1].text
        variant = "polite" if rng.random() < case.persona.politeness else "blunt"
        line = rng.choice(persona_lines()[situation][variant])
        return line.format(need=_short(case.need))


def _short(need: str) -> str:
    return re.split(r"[；;。]", need)[0]


@dataclass
class DrillSession:
    case: Case
    seed: int = 0
    engine: Engine | None = None
    max_turns: int = MAX_AGENT_TURNS
    rng: random.Random = field(init=False)
    turns: list[Turn] = field(default_factory=list)
    anger: list[float] = field(default_factory=list)
    events: list[list[str]] = field(default_factory=list)
    asked: set[str] = field(default_factory=set)
    outcome: str | None = None
    finished: bool = False  # the closing line after the outcome was said (or the drill was stopped)
    verified: bool = False
    degraded: bool = False
    backend_failure: str | None = None  # why the LLM engine was switched off, shown to the trainee
    real_lines: list[str] = field(default_factory=list)
    real_line: str | None = None  # the case's real words planned for the current customer turn
    planned: list[Turn] = field(default_factory=list)  # the transcript that is judged (module docstring)
    backends: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.engine = self.engine or OfflineEngine()
        customer = [t.text for t in self.case.conversation.turns if t.role == "customer"]
        opening = self.case.first_customer_line()
        self.real_lines = [line for line in customer if line != opening]
        self.turns.append(Turn(role="customer", text=opening))
        self.planned.append(self.turns[0])
        self.backends.append("case")
        self.anger.append(self.case.persona.anger)

    @property
    def opening(self) -> str:
        return self.turns[0].text

    @property
    def current_anger(self) -> float:
        return self.anger[-1]

    @property
    def agent_turns(self) -> int:
        return sum(t.role == "agent" for t in self.turns)

    @property
    def closing(self) -> bool:
        """The customer has ended it: the trainee's next line is the closing one."""
        return self.outcome is not None and not self.finished

    @property
    def backend(self) -> str:
        """The engine wording the customer now: the configured one until it fails, then offline."""
        return "offline" if self.backend_failure else self.engine.name

    # --- one exchange ----------------------------------------------------------------------------
    def agent_says(self, text: str) -> CustomerTurn:
        """The trainee's line and the customer's answer; after the outcome, the closing line (no answer)."""
        if self.finished:
            raise RuntimeError(f"the drill is over ({self.outcome or 'stopped'})")
        text = text.strip()
        said = Turn(role="agent", text=text or "……")
        self.turns.append(said)
        self.planned.append(said)
        self.backends.append(None)
        if self.outcome is not None:
            self.finished = True
            return CustomerTurn("", self.current_anger, self.outcome, [])
        events, delta = self._behaviour()
        fact = self._fact_asked(text)
        if fact is not None:
            events.append(f"asked:{fact.key}")
            delta -= 0.05
        anger = min(1.0, max(0.0, self.current_anger + delta))
        situation, self.outcome = self._next(anger, events)
        answer = fact.answer if fact is not None and self.outcome is None else None
        self.planned.append(Turn(role="customer", text=self._plan(situation, answer)))
        reply = self._word(situation, answer)
        self.turns.append(Turn(role="customer", text=reply))
        self.anger.append(round(anger, 3))
        self.events.append(events)
        return CustomerTurn(reply, round(anger, 3), self.outcome, events)

    def stop(self) -> None:
        """The trainee ends the drill (no closing line follows)."""
        self.finished = True

    def _plan(self, situation: str, fact: str | None) -> str:
        """The customer's line as judged: the fact asked for, the case's next real line while the
        need is pushed, else the persona's first template of the situation. No randomness."""
        self.real_line = self.real_lines.pop(0) if fact is None and situation == "push" and self.real_lines else None
        if fact is not None:
            return fact
        if self.real_line is not None:
            return self.real_line
        variant = "polite" if self.case.persona.politeness >= 0.5 else "blunt"
        return persona_lines()[situation][variant][0].format(need=_short(self.case.need))

    def _behaviour(self) -> tuple[list[str], float]:
        """What the agent's latest turn did, by the scorecard's rules, and the anger it causes."""
        latest = len(self.turns) - 1
        norm = normalize_text(self.turns[latest].text)
        events: list[str] = []
        rise = fall = 0.0
        result = analyze_conversation(self._conversation(self.planned), self.case.scorecard, mask=False, models=False)
        for finding in result.findings:
            if finding.status == "fail" and finding.rule in RULE_EFFECTS and any(e.turn == latest for e in finding.evidence):
                name, amount = RULE_EFFECTS[finding.rule]
                events.append(f"{name}:{finding.rule}")
                rise += amount
        mine = _bigrams(self.turns[latest].text)
        earlier = [_bigrams(t.text) for t in self.turns[:latest] if t.role == "agent"]
        if not any(e.startswith("repeated") for e in events) and any(_same(mine, e) for e in earlier):
            events.append("repeated")
            rise += RULE_EFFECTS["CS-01"][1]
        lexicons = shared_lexicons()
        for name, (lists, amount) in CALMING.items():
            if any(normalize_text(str(w)) in norm for key in lists for w in lexicons[key]):
                events.append(name)
                fall += amount
        if self.case.persona.suspicion >= 0.5 and not self.verified:
            if any(normalize_text(str(w)) in norm for key in ("verify_partial", "official_channel") for w in lexicons[key]):
                self.verified = True
                events.append("verified")
                fall += 0.15
            else:
                rise += 0.1 * self.case.persona.suspicion
        if not events:
            events.append("no_progress")
            rise += 0.1
        return events, rise * (1.5 - self.case.persona.patience) - fall

    def _fact_asked(self, text: str):
        norm = normalize_text(text)
        for fact in self.case.facts:
            if fact.key not in self.asked and any(normalize_text(w) in norm for w in fact.asked_by):
                self.asked.add(fact.key)
                return fact
        return None

    def _meets(self, phrases: list[str]) -> bool:
        norm = normalize_text(self.turns[-1].text)
        return any(normalize_text(p) in norm for p in phrases)

    def _next(self, anger: float, events: list[str]) -> tuple[str, str | None]:
        """The situation the customer answers in, and the outcome if the drill ends here."""
        resolution = self.case.resolution
        if anger >= ESCALATE_AT:
            return "demand_manager", "escalated"
        facts_known = set(resolution.needs_facts) <= self.asked
        if facts_known and anger < ACCEPT_BELOW and self._meets(resolution.accept):
            return "accept", "accepted"
        if facts_known and anger < ALTERNATIVE_BELOW and resolution.alternatives and self._meets(resolution.alternatives):
            return "accept_alternative", "accepted_alternative"
        if self.agent_turns >= self.max_turns:
            return "give_up", "gave_up"
        if self.case.persona.suspicion >= 0.5 and not self.verified:
            return "suspicious", None
        if "verified" in events:
            return "verified", None
        for name in ("insulted", "repeated", "deflected", "refused"):
            if any(e.startswith(name) for e in events):
                return name, None
        if anger >= 0.7:
            return "impatient", None
        if any(e in ("empathy", "action", "reason", "alternative") or e.startswith("asked:") for e in events):
            return "acknowledge", None
        return "push", None

    def _word(self, situation: str, fact: str | None) -> str:
        """The line shown. The first failure of the engine switches it off for the rest of the
        drill, so a dead server costs one deadline, not one per line."""
        if self.backend_failure is None and not isinstance(self.engine, OfflineEngine):
            try:
                line = self.engine.reply(self, situation, fact)
                self.backends.append(self.engine.name)
                return line
            except Exception as error:  # noqa: BLE001 - an engine failure must never end a drill
                self.degraded = True
                self.backend_failure = str(error) or type(error).__name__
        self.backends.append(OfflineEngine.name)
        return OfflineEngine().reply(self, situation, fact)

    # --- results -----------------------------------------------------------------------------------
    def _conversation(self, turns: list[Turn]) -> Conversation:
        case = self.case
        return Conversation(id=f"drill-{case.id}", channel=case.conversation.channel, turns=turns,
                            meta={"scorecard": case.scorecard, "training_case": case.id,
                                  "complete": True})  # a drill ends here: a missing closing is the trainee's

    def transcript(self) -> Conversation:
        """What was said and shown."""
        return self._conversation(self.turns)

    def report(self) -> DrillReport:
        """The judged (planned) transcript's result, with the case's own suggestions where it has them."""
        result = analyze_conversation(self._conversation(self.planned), self.case.scorecard, mask=False)
        findings = [f.model_copy(update={"suggestion": self.case.suggestions[f.rule]}) if f.rule in self.case.suggestions else f
                    for f in result.findings]
        result = result.model_copy(update={"findings": findings})
        return DrillReport(case_id=self.case.id, outcome=self.outcome, score=result.score, max_score=result.max_score,
                           result=result, anger=list(self.anger), events=list(self.events),
                           transcript=self.transcript(), degraded=self.degraded, backends=list(self.backends))
