"""Scripted trainees for the simulated customer's tests (test_simulator.py, test_training.py)."""

from __future__ import annotations

import re

from zuoxi.coaching.cases import Case, builtin_cases
from zuoxi.coaching.simulator import DrillSession

CASES = {c.id: c for c in builtin_cases()}
STALLING = "这个我这边也没有办法，您再等等看吧。"
CLOSING = "感谢您的耐心，请问还有其他可以帮您的吗？"
# Kind words only: greetings, apologies, empathy — never an action.
POLITE = [
    "您好，很高兴为您服务。",
    "非常抱歉给您带来不便。",
    "非常理解您的心情。",
    "真的很抱歉，让您久等了。",
    "您别着急，我理解您。",
    "实在不好意思，给您添麻烦了。",
] * 2
_NEGATION = re.compile(r"不|没|别|无法|未")


def ask_for(fact) -> str:
    """A plain question about a fact's topic."""
    return f"请问您能告诉我{fact.asked_by[0]}吗？"


def good_trainee(case: Case) -> list[str]:
    """Greets with empathy, asks for every fact, then gives the case's best replies in order."""
    return (
        ["您好，很高兴为您服务，非常理解您的心情，给您添麻烦了。"]
        + [ask_for(f) for f in case.facts]
        + [b.reply for b in case.best_solutions]
    )


def negatable(case: Case) -> dict[str, str]:
    """For each part of the need, a word of it to negate: one that is no negation itself and holds no other
    word of the need (so negating it leaves nothing affirmed); parts worded only as negations are left out."""
    every = [w for p in case.resolution.parts for w in p.words]
    chosen = {}
    for part in case.resolution.parts:
        words = [w for w in part.words if not _NEGATION.search(w) and not any(o != w and o in w for o in every)]
        if words:
            chosen[part.key] = words[0]
    return chosen


def negating_lines(case: Case) -> list[str]:
    """The solution's words negated, refused in their clause, supposed and quoted — one line each."""
    words = list(negatable(case).values())
    return [
        "不好意思，" + "，".join(f"我们不会{w}" for w in words) + "，您自己等着吧。",
        "；".join(f"{w}这个我们做不到" for w in words) + "。",
        "；".join(f"如果能{w}就好了" for w in words) + "。",
        "；".join(f"您说的“{w}”，我们这边没有这个说法" for w in words) + "。",
    ]


def drill(case: Case, lines: list[str], seed: int = 0, engine=None, closing: str | None = CLOSING) -> DrillSession:
    """The lines until the customer ends it, then the closing line (if any)."""
    session = DrillSession(case, seed=seed, engine=engine)
    for line in lines:
        session.agent_says(line)
        if session.outcome:
            break
    if session.closing and closing:
        session.agent_says(closing)
    return session
