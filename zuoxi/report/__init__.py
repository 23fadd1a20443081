"""Reports of a batch: a self-contained HTML page for QA inspectors, and the summary figures."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from statistics import mean

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


def batch_stats(items: list[tuple[Conversation, Result]]) -> BatchStats:
    results = [r for _, r in items]
    failed = Counter((f.rule, f.name) for r in results for f in r.findings if f.status == "fail")
    by_agent: dict[str, list[float]] = defaultdict(list)
    for conv, result in items:
        by_agent[conv.agent_id or "—"].append(result.score)
    skills: dict[str, list[float]] = defaultdict(list)
    for r in results:
        for name, value in r.skills.items():
            skills[name].append(value)
    risks = sorted(
        {r.conversation_id for r in results for f in r.findings if f.rule in ("ES-01", "ES-02") and f.status == "fail"}
        | {r.conversation_id for r in results if (r.complaint_risk or 0) >= HIGH_RISK}
    )
    return BatchStats(
        count=len(results),
        average=round(mean(r.score for r in results), 1) if results else 0.0,
        vetoes=sum(r.veto for r in results),
        bands=[(label, sum(lo <= r.score < hi for r in results)) for lo, hi, label in SCORE_BANDS],
        failed_rules=[(rule, name, n) for (rule, name), n in failed.most_common(15)],
        agents=sorted(((a, len(s), round(mean(s), 1)) for a, s in by_agent.items()), key=lambda x: x[2]),
        skills={k: round(mean(v), 2) for k, v in skills.items()},
        risks=risks,
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
    for conv, result in sorted(items, key=lambda x: x[1].score):
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
        stats=batch_stats(items),
        conversations=conversations,
        skill_names=SKILL_NAMES,
    )
