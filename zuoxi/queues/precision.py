"""Rule precision from the queues: confirmed ÷ judged failed findings per rule, separately for the
conversations the uniform random share drew and those the targeted rules picked. The random figure
is an unbiased estimate of how often a rule's failures are right; the targeted one is not (the
rules pick where the machine is likely wrong or right on purpose), so the two are never pooled."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from zuoxi.campaigns.analytics import wilson
from zuoxi.campaigns.models import Rate
from zuoxi.store import queues as Q


@dataclass
class SharePrecision:
    rule: str
    random: Rate  # with its 95% Wilson interval
    targeted: Rate


def precision_by_share(engine, plan: str | None = None) -> list[SharePrecision]:
    """Per rule, from finished queue items (all plans, or one): the random share's precision and
    the targeted picks' precision, lowest random precision first (unmeasured last)."""
    tally: dict[str, dict[bool, list[int]]] = defaultdict(lambda: {True: [], False: []})
    for drawn, rule, confirmed in Q.sampled_reviews(engine, plan):
        tally[rule][drawn].append(int(confirmed))
    figures = [
        SharePrecision(rule, wilson(sum(t[True]), len(t[True])), wilson(sum(t[False]), len(t[False])))
        for rule, t in tally.items()
    ]
    return sorted(figures, key=lambda f: (f.random.rate is None, f.random.rate or 0, f.rule))
