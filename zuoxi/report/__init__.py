"""Reports of a batch: a self-contained HTML page for QA inspectors, and the summary figures."""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape

from zuoxi.model import HIGH_RISK, SCORE_BANDS, Conversation, Result
from zuoxi.report.labels import (
    CHANNEL_NAMES,
    EMOTION_NAMES,
    ROLE_NAMES,
    SATISFACTION_NAMES,
    SEVERITY_NAMES,
    SKILL_NAMES,
    without_bidi_controls,
)


@dataclass
class BatchStats:
    count: int
    average: float
    vetoes: int
    bands: list[tuple[str, int]]
    failed_rules: list[tuple[str, str, int]]  # rule, name, count
    agents: list[tuple[str, int, float]]  # agent, conversations, average
    skills: dict[str, float]
    risks: list[str]  # ids of conversations with complaint risk or rising anger


class Report:
    """What the HTML report of a batch needs, gathered one result at a time: the summary figures over every
    conversation, and in full only the `limit` lowest-scoring ones (the report lists them worst first). A run over
    100,000 conversations kept every conversation and result to the end (gigabytes) for a page no one can read."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.count = 0
        self.score_total = 0.0
        self.vetoes = 0
        self.bands: Counter[str] = Counter()
        self.failed: Counter[tuple[str, str]] = Counter()
        self.by_agent: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self.skills: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self.risks: set[str] = set()
        # (-score, -arrival, arrival, conversation, result): the heap's first is the one to give up next, the highest
        # score and among equal scores the latest, so that what stays is what sorting every result would list first
        self._worst: list[tuple[float, int, int, Conversation, Result]] = []

    @classmethod
    def of(cls, items: Iterable[tuple[Conversation, Result]], limit: int | None = None) -> Report:
        report = cls(limit)
        for conversation, result in items:
            report.add(conversation, result)
        return report

    def add(self, conversation: Conversation, result: Result) -> None:
        self.count += 1
        self.score_total += result.score
        self.vetoes += result.veto
        self.bands.update(label for lo, hi, label in SCORE_BANDS if lo <= result.score < hi)
        self.failed.update((f.rule, f.name) for f in result.findings if f.status == "fail")
        agent = self.by_agent[conversation.agent_id or "—"]
        agent[0] += 1
        agent[1] += result.score
        for name, value in result.skills.items():
            skill = self.skills[name]
            skill[0] += 1
            skill[1] += value
        rising = any(f.rule in ("ES-01", "ES-02") and f.status == "fail" for f in result.findings)
        if rising or (result.complaint_risk or 0) >= HIGH_RISK:
            self.risks.add(result.conversation_id)
        entry = (-result.score, -self.count, self.count, conversation, result)
        if self.limit is None or len(self._worst) < self.limit:
            heapq.heappush(self._worst, entry)
        elif entry[:2] > self._worst[0][:2]:
            heapq.heapreplace(self._worst, entry)

    @property
    def shown(self) -> list[tuple[Conversation, Result]]:
        """The conversations shown in full, lowest score first (in the order they came among equal scores)."""
        return [(c, r) for _, _, _, c, r in sorted(self._worst, key=lambda e: (-e[0], e[2]))]

    @property
    def left_out(self) -> int:
        return self.count - len(self._worst)

    def stats(self) -> BatchStats:
        return BatchStats(
            count=self.count,
            average=round(self.score_total / self.count, 1) if self.count else 0.0,
            vetoes=self.vetoes,
            bands=[(label, self.bands[label]) for _, _, label in SCORE_BANDS],
            failed_rules=[(rule, name, n) for (rule, name), n in self.failed.most_common(15)],
            agents=sorted(((a, int(n), round(t / n, 1)) for a, (n, t) in self.by_agent.items()), key=lambda x: x[2]),
            skills={k: round(t / n, 2) for k, (n, t) in self.skills.items()},
            risks=sorted(self.risks),
        )


def highlight(text: str, spans: list[tuple[int, int, str]]) -> Markup:
    """The turn text with each evidence span wrapped in <mark>, the rule IDs as its title."""
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    out = []
    for a, b in pairwise(cuts):
        rules = sorted({rule for s, e, rule in spans if s <= a and b <= e and s < e})
        piece = escape(text[a:b])
        # Markup.format escapes its arguments (the escaped piece stays as it is)
        out.append(Markup('<mark title="{}">{}</mark>').format(" ".join(rules), piece) if rules else piece)
    return Markup("").join(out)


def render_html(items: list[tuple[Conversation, Result]], title: str = "zuoxi 质检报告") -> str:
    return render_report(Report.of(items), title)


def render_report(report: Report, title: str = "zuoxi 质检报告") -> str:
    # autoescape=True: select_autoescape() goes by extension and would escape nothing in `.html.j2`.
    env = Environment(
        loader=PackageLoader("zuoxi", "report/templates"), autoescape=True, finalize=without_bidi_controls
    )
    env.globals.update(
        satisfaction_names=SATISFACTION_NAMES,
        emotion_names=EMOTION_NAMES,
        severity_names=SEVERITY_NAMES,
        channel_names=CHANNEL_NAMES,
        high_risk=HIGH_RISK,
    )
    conversations = []
    for conv, result in report.shown:
        marks: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        flagged: dict[int, set[str]] = defaultdict(set)
        for finding in result.findings:
            if finding.status == "fail":
                for e in finding.evidence:
                    marks[e.turn].append((e.start, e.end, finding.rule))
                    flagged[e.turn].add(finding.rule)
        emotions = {e.turn: e for e in result.customer_emotion}
        turns = [
            {
                "index": i,
                "role": ROLE_NAMES[t.role],
                "role_class": t.role,
                "time": t.start,
                "html": highlight(t.text, marks.get(i, [])),
                "rules": sorted(flagged.get(i, [])),
                "emotion": emotions.get(i),
            }
            for i, t in enumerate(conv.turns)
        ]
        conversations.append(
            {
                "conv": conv,
                "result": result,
                "turns": turns,
                "failed": [f for f in result.findings if f.status == "fail"],
                "passed": sum(f.status == "pass" for f in result.findings),
                "na": sum(f.status == "n/a" for f in result.findings),
            }
        )
    return env.get_template("report.html.j2").render(
        title=title,
        generated=datetime.now().strftime("%Y-%m-%d %H:%M"),
        stats=report.stats(),
        left_out=report.left_out,
        conversations=conversations,
        skill_names=SKILL_NAMES,
    )
