"""The simulated customer (陪练): a case's customer, who reads the trainee as QA does and answers from
its own state.

Each trainee line is read by `zuoxi.rules.reading.read_agent_turns` — the dialogue acts of the turn
models fused with the scorecards' cue words and their veto of negated, quoted and supposed words, with
the rules' own conditions where a rule reads the act — together with the case's words: the parts of
the need, the facts' topics, the triggers, the alternatives. The dynamics table (`dynamics.yaml`,
shown in docs/training.md) turns that reading into a change of anger and of progress toward the need;
the customer then chooses what to say from its state and what it read: the fact asked for (only
then), the case's own words for a trigger or for the part of the need still unmet, or a persona
template of the situation (`personas.yaml`). It accepts only when every part of the need was met,
affirmed; past 1.0 it demands a manager (the drill fails). After the customer accepts, demands a
manager or gives up, the trainee still has one closing line.

The state always moves on the *planned* transcript: the trainee's lines and, for each customer turn,
its planned line (the case's words, or the persona's first template of the situation). The score is
of that transcript too, so the same trainee lines get the same state and score whatever the seed or
the wording. An engine only words the line shown: the offline engine picks persona templates with the
seed; the LLM engine (`llm.py`) asks an OpenAI-compatible server, and after its first failure the
session stays offline (circuit breaker).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict

from zuoxi.coaching.cases import Case, NeedPart
from zuoxi.model import Conversation, Result, Turn
from zuoxi.normalize import normalize_text
from zuoxi.pipeline import analyze_conversation
from zuoxi.rules.operators.text import bigrams, overlap
from zuoxi.rules.reading import TurnReading, read_agent_turns

HERE = Path(__file__).resolve().parent
PERSONAS = HERE / "personas.yaml"
DYNAMICS = HERE / "dynamics.yaml"
MAX_AGENT_TURNS = 12
MAX_AGENT_LINE = 1000  # characters in one trainee line, in the web app and the terminal alike
ESCALATE_AT = 1.0
ACCEPT_BELOW = 0.9  # an angrier customer no longer accepts even the right answer
ALTERNATIVE_BELOW = 0.6
IMPATIENT_AT = 0.7
SUSPICIOUS_AT = 0.5  # a persona this suspicious wants something it can check before anything else
REPEAT_SIMILARITY = 0.6  # character-bigram overlap coefficient, as the scorecards' `repeat`
VERIFY_WORDS = ("@verify_partial", "@official_channel")
HOSTILE = ("rude", "argue", "deflect")


class EmptyLine(ValueError):
    """A blank trainee line, refused (in Chinese)."""


class Effect(BaseModel):
    """One row of the dynamics table (dynamics.yaml explains the columns)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["act", "event"]
    anger: float | None  # None: the case's own amount (triggers)
    progress: Literal["part", "reveals", "blocks", "none"]
    wears_off: bool = False
    what: str


class Dynamics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wears_off_after: int
    threaten_at: float
    effects: dict[str, Effect]

    def change(self, name: str) -> float:
        """The change of anger of row `name`; every row but `trigger` (whose amount is the case's) has one."""
        anger = self.effects[name].anger
        if anger is None:
            raise ValueError(f"dynamics row {name!r} has no anger of its own: the case gives it")
        return anger


@lru_cache(maxsize=1)
def dynamics() -> Dynamics:
    return Dynamics.model_validate(yaml.safe_load(DYNAMICS.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def persona_lines() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load(PERSONAS.read_text(encoding="utf-8"))


@dataclass
class CustomerTurn:
    text: str
    anger: float
    outcome: str | None  # None while the drill goes on; accepted | accepted_alternative | escalated | gave_up
    events: list[str]


@dataclass(frozen=True)
class Plan:
    """What the customer says next: the situation, the planned (judged) line, and whether that line is
    the case's own words (a fact's answer, a trigger's or a need part's line), said as they are."""

    situation: str
    line: str
    own_words: bool
    unmet: str  # the customer's words for the first unmet part of the need, for templates


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

    def reply(self, session: DrillSession, plan: Plan) -> str: ...


def _bigrams(text: str) -> set[str]:
    return bigrams(normalize_text(text))


def _same(a: set[str], b: set[str]) -> bool:
    return min(len(a), len(b)) >= 2 and overlap(a, b) >= REPEAT_SIMILARITY


def template(situation: str, politeness: float, rng: random.Random | None = None) -> str:
    """A persona template of the situation: the first of the persona's variant, or one chosen with `rng`."""
    if rng is None:
        return persona_lines()[situation]["polite" if politeness >= 0.5 else "blunt"][0]
    variant = "polite" if rng.random() < politeness else "blunt"
    return rng.choice(persona_lines()[situation][variant])


class OfflineEngine:
    """The case's own words as planned, else a persona template chosen with the session's seed."""

    name = "offline"

    def reply(self, session: DrillSession, plan: Plan) -> str:
        if plan.own_words:
            return plan.line
        return template(plan.situation, session.case.persona.politeness, session.rng).format(unmet=plan.unmet)


@dataclass(frozen=True)
class Reading:
    """What one trainee line did, as the customer took it."""

    acts: frozenset[str]
    parts: list[NeedPart]  # parts of the need met for the first time
    facts: list[str]  # keys of the facts asked for (not yet given)
    retold: list[str]  # keys of the facts asked for again (already given)
    triggers: list[str]  # keys of the case's triggers said
    denied: bool  # the need's words said only negated, refused, supposed or quoted: the need itself refused
    asked_back: bool  # the need only asked back as what the customer wants ("您是想…吗？")
    alternative: bool
    verified: bool  # a suspicious customer got something it can check
    repeated: bool  # says what an earlier line said, and nothing new
    worn: bool  # kind words without substance, past wearing off

    @property
    def refused(self) -> bool:
        return "refuse" in self.acts or self.denied

    @property
    def bare_refusal(self) -> bool:
        return self.refused and "reason" not in self.acts

    @property
    def hostile(self) -> bool:
        return self.bare_refusal or any(a in self.acts for a in HOSTILE)

    @property
    def substance(self) -> bool:
        return bool(self.parts or self.facts or self.verified)


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
    asked: set[str] = field(default_factory=set)  # facts given
    met: set[str] = field(default_factory=set)  # parts of the need met
    said: set[str] = field(default_factory=set)  # the case's own lines already said (each said as is once)
    empty_lines: int = 0  # lines of kind words without substance since the trainee last got somewhere
    threatened: bool = False  # the customer warned it would ask for a manager
    outcome: str | None = None
    finished: bool = False  # the closing line after the outcome was said (or the drill was stopped)
    verified: bool = False
    degraded: bool = False
    backend_failure: str | None = None  # why the LLM engine was switched off, shown to the trainee
    planned: list[Turn] = field(default_factory=list)  # the transcript that is judged (module docstring)
    backends: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.engine = self.engine or OfflineEngine()
        opening = Turn(role="customer", text=self.case.first_customer_line())
        self.turns.append(opening)
        self.planned.append(opening)
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
        return "offline" if self.backend_failure else self._engine.name

    @property
    def _engine(self) -> Engine:
        """The engine given; `__post_init__` put the offline one where none was."""
        return self.engine or OfflineEngine()

    @property
    def suspicious(self) -> bool:
        return self.case.persona.suspicion >= SUSPICIOUS_AT and not self.verified

    @property
    def unmet(self) -> list[NeedPart]:
        """The parts of the need still unmet, stated before hidden."""
        return sorted((p for p in self.case.resolution.parts if p.key not in self.met), key=lambda p: p.hidden)

    # --- one exchange ----------------------------------------------------------------------------
    def agent_says(self, text: str) -> CustomerTurn:
        """The trainee's line and the customer's answer; after the outcome, the closing line (no answer).
        A blank line is refused (EmptyLine), the drill as it was: it was taken as "……", and the customer's
        anger rose at a line the trainee never meant to send (the terminal skips blank lines)."""
        if self.finished:
            raise RuntimeError(f"the drill is over ({self.outcome or 'stopped'})")
        if not text.strip():
            raise EmptyLine("这一句是空白的：请输入要对客户说的话")
        said = Turn(role="agent", text=text.strip())
        self.turns.append(said)
        self.planned.append(said)
        self.backends.append(None)
        if self.outcome is not None:
            self.finished = True
            return CustomerTurn("", self.current_anger, self.outcome, [])
        reading = self._read()
        events, delta = self._move(reading)
        anger = round(min(1.0, max(0.0, self.current_anger + delta)), 3)
        plan = self._plan(reading, anger, delta)
        events.append(f"says:{plan.situation}")
        self.planned.append(Turn(role="customer", text=plan.line))
        reply = self._word(plan)
        self.turns.append(Turn(role="customer", text=reply))
        self.anger.append(anger)
        self.events.append(events)
        return CustomerTurn(reply, anger, self.outcome, events)

    def stop(self) -> None:
        """The trainee ends the drill (no closing line follows)."""
        self.finished = True

    def _words(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """The case's word lists the customer listens for: what it hears, and what the trainee must do."""
        case = self.case
        words = {f"fact:{f.key}": f.asked_by for f in case.facts} | {f"trigger:{t.key}": t.words for t in case.triggers}
        if case.persona.suspicion >= SUSPICIOUS_AT:
            words["verify"] = list(VERIFY_WORDS)
        actions = {f"need:{p.key}": p.words for p in case.resolution.parts}
        if case.resolution.alternatives:
            actions["alternative"] = case.resolution.alternatives
        return words, actions

    def _read(self) -> Reading:
        """The trainee's latest line, read on the planned transcript (the same whatever the wording)."""
        latest = len(self.planned) - 1
        turn: TurnReading = read_agent_turns(self._conversation(self.planned), *self._words())[latest]
        case, table = self.case, dynamics()
        asks = bool(turn.acts & {"ask", "ask_photo"})
        said = any(k.startswith("need:") for k in turn.said)
        denied = not said and any(k.startswith("need:") for k in turn.denied)
        acts = turn.acts - {"act"} if denied else turn.acts  # doing what the line refuses is no action
        if not said and any(k.startswith("need:") for k in turn.errands):
            acts |= {"deflect"}  # the need put on the customer to do: a deflection
        parts = [p for p in case.resolution.parts if p.key not in self.met and f"need:{p.key}" in turn.said]
        facts = [f.key for f in case.facts if asks and f.key not in self.asked and f"fact:{f.key}" in turn.said]
        verified = self.suspicious and "verify" in turn.said
        substance = bool(parts or facts or verified)
        mine = _bigrams(self.planned[latest].text)
        similar = any(_same(mine, _bigrams(t.text)) for t in self.planned[:latest] if t.role == "agent")
        kind_words = any(table.effects[a].wears_off for a in acts)
        return Reading(
            acts=acts,
            parts=parts,
            facts=facts,
            retold=[f.key for f in case.facts if asks and f.key in self.asked and f"fact:{f.key}" in turn.said],
            triggers=[t.key for t in case.triggers if f"trigger:{t.key}" in turn.said],
            denied=denied,
            asked_back=not said and any(k.startswith("need:") for k in turn.asked_back),
            alternative="alternative" in turn.said,
            verified=verified,
            repeated=similar and not substance,  # new content in the same words is no broken record
            worn=kind_words and not substance and self.empty_lines >= table.wears_off_after,
        )

    def _move(self, reading: Reading) -> tuple[list[str], float]:
        """The dynamics table applied to the reading: the events and the change of anger."""
        table, persona = dynamics(), self.case.persona
        self._count_empty_line(reading, table)
        events: list[str] = []
        rise, fall = self._act_changes(reading, table, events)
        rise, fall = self._content_changes(reading, table, events, rise, fall)
        rise = self._pressure(reading, table, events, rise, fall)
        self.met |= {p.key for p in reading.parts}
        self.asked |= set(reading.facts)
        self.verified = self.verified or reading.verified
        return events, rise * (1.5 - persona.patience) - fall * (0.5 + persona.patience)

    def _count_empty_line(self, reading: Reading, table: Dynamics) -> None:
        """Kind words without substance in a row, the count after which they wear off; substance resets it."""
        if reading.substance:
            self.empty_lines = 0
        elif any(table.effects[a].wears_off for a in reading.acts):
            self.empty_lines += 1

    @staticmethod
    def _act_changes(reading: Reading, table: Dynamics, events: list[str]) -> tuple[float, float]:
        """The rise and fall of anger from the line's acts, in name order: a refusal with reasons and kind
        words worn thin are noted as events but move nothing."""
        rise = fall = 0.0
        for act in sorted(reading.acts | ({"refuse"} if reading.refused else set())):
            if act == "refuse" and not reading.bare_refusal:
                events.append("refuse:reasoned")
                continue
            if table.effects[act].wears_off and reading.worn:
                events.append(f"{act}:worn")
                continue
            events.append(act)
            amount = table.change(act)
            rise += max(amount, 0.0)
            fall += max(-amount, 0.0)
        return rise, fall

    @staticmethod
    def _content_changes(
        reading: Reading, table: Dynamics, events: list[str], rise: float, fall: float
    ) -> tuple[float, float]:
        """rise and fall carried on through what the line said: a broken record, a verification, each need
        met and each fact asked for."""
        counted = [("repeated", reading.repeated), ("verified", reading.verified)]
        counted += [(f"need:{p.key}", True) for p in reading.parts] + [(f"fact:{key}", True) for key in reading.facts]
        for event, happened in counted:
            if happened:
                amount = table.change(event.split(":")[0])
                events.append(event)
                rise += max(amount, 0.0)
                fall += max(-amount, 0.0)
        return rise, fall

    def _pressure(self, reading: Reading, table: Dynamics, events: list[str], rise: float, fall: float) -> float:
        """rise carried on through what angers whatever was said: the case's triggers, an unverified
        suspicious customer, and a line that moved nothing at all (a question always moves the talk on)."""
        for key in reading.triggers:
            events.append(f"trigger:{key}")
            rise += next(t.anger for t in self.case.triggers if t.key == key)
        if self.suspicious and not reading.substance:
            events.append("unverified")
            rise += table.change("unverified") * self.case.persona.suspicion
        asked = bool(reading.acts & {"ask", "ask_photo"})
        if not asked and rise == 0 and fall == 0:
            events.append("no_progress")
            rise += table.change("no_progress")
        return rise

    def _plan(self, reading: Reading, anger: float, delta: float) -> Plan:
        """The customer's next line from its state and what it read (and the outcome if it ends here)."""
        case = self.case
        unmet = self.unmet
        pressing = case.presses(unmet[0]) if unmet else ""
        situation = self._situation(reading, anger, delta, not unmet)
        if situation == "answer":
            answers = [f.answer for f in case.facts if f.key in reading.facts]
            return Plan(situation, "".join(answers), True, pressing)
        if situation == "trigger":
            line = next(
                t.says for t in case.triggers if t.key in reading.triggers and t.says and t.says not in self.said
            )
            self.said.add(line)
            return Plan(situation, line, True, pressing)
        if situation == "push" and pressing and pressing not in self.said:
            self.said.add(pressing)
            return Plan(situation, pressing, True, pressing)
        if situation == "threaten":
            self.threatened = True
        return Plan(situation, template(situation, case.persona.politeness).format(unmet=pressing), False, pressing)

    def _situation(self, reading: Reading, anger: float, delta: float, need_met: bool) -> str:
        """Which situation the customer answers in; sets the outcome when the drill ends here. The
        first that applies wins: an ending, then what the line provoked, then how far it got."""
        changed = bool(reading.substance) or delta < 0
        return (
            self._ending(reading, anger, need_met, changed)
            or self._provoked(reading, anger)
            or self._progress(reading, anger, changed)
        )

    def _ending(self, reading: Reading, anger: float, need_met: bool, changed: bool) -> str | None:
        """The situation that ends the drill, with its outcome set; None while the drill goes on."""
        facts_known = set(self.case.resolution.needs_facts) <= self.asked
        calm = not reading.hostile
        for ends, outcome, situation in (
            (anger >= ESCALATE_AT, "escalated", "demand_manager"),
            (need_met and facts_known and anger < ACCEPT_BELOW and changed and calm, "accepted", "accept"),
            (
                reading.alternative and not reading.parts and facts_known and anger < ALTERNATIVE_BELOW and calm,
                "accepted_alternative",
                "accept_alternative",
            ),
            (self.agent_turns >= self.max_turns, "gave_up", "give_up"),
        ):
            if ends:
                self.outcome = outcome
                return situation
        return None

    def _provoked(self, reading: Reading, anger: float) -> str | None:
        """The situation the line provoked on its own (a threat, an insult, a question, a trigger,
        a broken record…); None when only the state of the need decides."""
        acts = reading.acts
        if anger >= dynamics().threaten_at and not self.threatened:
            return "threaten"
        if "rude" in acts or "argue" in acts:
            return "insulted"
        if reading.facts:
            return "answer"
        if self.suspicious:
            return "suspicious"
        if reading.verified:
            return "verified"
        if any(t.key in reading.triggers and t.says and t.says not in self.said for t in self.case.triggers):
            return "trigger"
        for happened, situation in (
            (reading.repeated, "repeated"),
            ("deflect" in acts, "deflected"),
            (reading.bare_refusal, "refused"),
            ("guarantee" in acts, "over_promise"),
        ):
            if happened:
                return situation
        return None

    def _progress(self, reading: Reading, anger: float, changed: bool) -> str:
        """The situation from how far the line got toward the need (`push` when nowhere)."""
        acts = reading.acts
        if reading.parts:
            return "progress"
        if reading.asked_back:
            return "confirm"
        if reading.retold:
            return "told"
        if acts & {"ask", "ask_photo"}:
            return "unknown"
        if anger >= IMPATIENT_AT:
            return "impatient"
        if reading.worn:
            return "empty"
        if acts & {"act", "reason", "followup", "pending"}:
            return "grudging" if self.threatened and not changed else "acknowledge"
        return "push"

    def _word(self, plan: Plan) -> str:
        """The line shown. The first failure of the engine switches it off for the rest of the
        drill, so a dead server costs one deadline, not one per line."""
        if self.backend_failure is None and not isinstance(self.engine, OfflineEngine):
            try:
                line = self._engine.reply(self, plan)
                self.backends.append(self._engine.name)
                return line
            except Exception as error:  # noqa: BLE001 - an engine failure must never end a drill
                self.degraded = True
                self.backend_failure = str(error) or type(error).__name__
        self.backends.append(OfflineEngine.name)
        return OfflineEngine().reply(self, plan)

    # --- results -----------------------------------------------------------------------------------
    def _conversation(self, turns: list[Turn]) -> Conversation:
        case = self.case
        return Conversation(
            id=f"drill-{case.id}",
            channel=case.conversation.channel,
            turns=turns,
            meta={"scorecard": case.scorecard, "training_case": case.id, "complete": True},
        )  # a drill ends here: a missing closing is the trainee's

    def transcript(self) -> Conversation:
        """What was said and shown."""
        return self._conversation(self.turns)

    def report(self) -> DrillReport:
        """The judged (planned) transcript's result, with the case's own suggestions where it has them."""
        result = analyze_conversation(self._conversation(self.planned), self.case.scorecard, mask=False)
        findings = [
            f.model_copy(update={"suggestion": self.case.suggestions[f.rule]}) if f.rule in self.case.suggestions else f
            for f in result.findings
        ]
        result = result.model_copy(update={"findings": findings})
        return DrillReport(
            case_id=self.case.id,
            outcome=self.outcome,
            score=result.score,
            max_score=result.max_score,
            result=result,
            anger=list(self.anger),
            events=list(self.events),
            transcript=self.transcript(),
            degraded=self.degraded,
            backends=list(self.backends),
        )
