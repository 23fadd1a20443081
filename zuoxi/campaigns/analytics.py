"""The figures behind "why did it work?" and a team lead's day: rates with 95% Wilson intervals, so a
segment of twelve customers is not read like one of twelve hundred, over a period of local days, per
agent, by attempt number and hour, and callbacks kept on time (docs/campaigns.md defines each figure)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from zuoxi.campaigns.calllist import AGE_BANDS
from zuoxi.campaigns.dispositions import SCORECARD
from zuoxi.campaigns.models import (
    AgentFigures,
    CallbackFigures,
    CampaignReport,
    Rate,
    RuleFigures,
    SegmentFigures,
    SliceFigures,
    dispositions,
    from_db,
    local,
    local_day,
)
from zuoxi.store import Store
from zuoxi.store import campaigns as stored

Z95 = 1.959963984540054  # two-sided 95% normal quantile
SUCCESS = "goal_achieved"
SEGMENT_FIELDS = ("age_band", "region", "occupation")
_BAND_ORDER = {label: i for i, (_, label) in enumerate(AGE_BANDS)}


def wilson(successes: int, n: int, z: float = Z95) -> Rate:
    """Wilson score interval: unlike p ± z·se it stays inside [0, 1] and is honest for small n."""
    if n == 0:
        return Rate(successes=0, n=0, rate=None, low=None, high=None)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Rate(successes=successes, n=n, rate=p, low=max(0.0, centre - half), high=min(1.0, centre + half))


def _separated(a: Rate, b: Rate) -> bool:
    """Whether the two intervals do not overlap; a rate of no calls (no interval) is never apart."""
    if a.low is None or a.high is None or b.low is None or b.high is None:
        return False
    return a.low > b.high or b.low > a.high


def period(name: str, today: date) -> tuple[date | None, date | None]:
    """`today`, `week` (Monday to today), `month`, `yesterday` or `all` → the first and last local day."""
    spans = {
        "today": (today, today),
        "yesterday": (today - timedelta(days=1),) * 2,
        "week": (today - timedelta(days=today.weekday()), today),
        "month": (today.replace(day=1), today),
        "all": (None, None),
    }
    if name not in spans:
        raise ValueError(f"没有 {name!r} 这个统计周期（可选：{'、'.join(spans)}）")
    return spans[name]


class PeriodError(ValueError):
    """A period whose first day comes after its last (in Chinese)."""


def check_period(start: date | None, end: date | None) -> None:
    """PeriodError when both days are given and the first is after the last: such a period holds no day, and its
    figures (zeros, or the list's status as it is now) read as if it had been counted."""
    if start is not None and end is not None and start > end:
        raise PeriodError(f"开始日期 {start.isoformat()} 晚于结束日期 {end.isoformat()}，请调换或改正日期")


def _slices(attempts: list, key, contact: set[str]) -> list[SliceFigures]:
    groups: dict[int, list] = defaultdict(list)
    for a in attempts:
        groups[key(a)].append(a)
    figures = []
    for k in sorted(groups):
        reached = [a for a in groups[k] if a.disposition in contact]
        figures.append(
            SliceFigures(
                key=k,
                attempts=len(groups[k]),
                contact=wilson(len(reached), len(groups[k])),
                success=wilson(sum(a.disposition == SUCCESS for a in reached), len(reached)),
            )
        )
    return figures


def _callbacks(
    callbacks: list, settled_at: dict[int, datetime], tolerance: timedelta, now: datetime
) -> CallbackFigures:
    counts: Counter[str] = Counter()
    for c in callbacks:
        due = from_db(c.due_at)
        called = settled_at.get(c.attempt_id) if c.attempt_id is not None else None
        if called is not None:
            counts["early" if called < due - tolerance else "late" if called > due + tolerance else "on_time"] += 1
        elif c.done:
            counts["rescheduled"] += 1
        else:
            counts["missed" if now > due + tolerance else "waiting"] += 1
    settled = counts["on_time"] + counts["early"] + counts["late"] + counts["missed"]
    return CallbackFigures(
        due=len(callbacks),
        kept=wilson(counts["on_time"], settled),
        **{k: counts[k] for k in ("on_time", "early", "late", "missed", "rescheduled", "waiting")},
    )


def report(
    store: Store, campaign: str, start: date | None = None, end: date | None = None, now: datetime | None = None
) -> CampaignReport:
    """The campaign's figures over the local days `start`–`end` (both included; None: open-ended).
    The list and the customers' status are as they are now; everything else counts the period's attempts.
    PeriodError when `start` is after `end`."""
    check_period(start, end)
    now = now or datetime.now(UTC)
    spec, customers, every, callbacks = stored.report_columns(store.engine, campaign)
    tz = spec.tz

    def in_period(moment: datetime) -> bool:
        day = local_day(moment, tz)
        return (start is None or day >= start) and (end is None or day <= end)

    number = _attempt_numbers(every)
    attempts = [a for a in every if in_period(a.started_at)]
    results = _linked_results(store, attempts)

    codes = dispositions()
    contact = {code for code, info in codes.items() if info.contact}
    called = {a.customer_id for a in attempts}
    reached = {a.customer_id for a in attempts if a.disposition in contact}
    succeeded = {a.customer_id for a in attempts if a.disposition == SUCCESS}

    per_agent_day: Counter[tuple[str, object]] = Counter((a.agent_id, local_day(a.started_at, tz)) for a in attempts)
    handled = [a.duration for a in attempts if a.disposition in contact and a.duration is not None]
    calls, rules = _rules(attempts, results)
    refusals = Counter(a.reason_code or "unspecified" for a in attempts if a.disposition == "refused")
    by_code = Counter(a.disposition for a in attempts)
    statuses = Counter(c.status for c in customers)
    started = {a.id: from_db(a.started_at) for a in every}
    return CampaignReport(
        campaign=spec.name,
        title=spec.title,
        timezone=spec.timezone,
        period_start=start,
        period_end=end,
        customers=len(customers),
        customers_called=len(called),
        attempts=len(attempts),
        contact_rate=wilson(len(reached), len(called)),
        success_rate=wilson(len(succeeded), len(reached)),
        list_success_rate=wilson(len(succeeded), len(customers)),
        attempts_per_success=len(attempts) / len(succeeded) if succeeded else None,
        calls_per_agent_day=len(attempts) / len(per_agent_day) if per_agent_day else None,
        average_handling_time=sum(handled) / len(handled) if handled else None,
        dispositions={code: by_code[code] for code in codes},
        refusal_reasons=dict(refusals.most_common()),
        status={s: statuses[s] for s in ("pending", "retry", "callback", "success", "closed")},
        agents=_agents(attempts, contact, tz),
        by_attempt=_slices(attempts, lambda a: number[a.id], contact),
        by_hour=_slices(attempts, lambda a: local(a.started_at, tz).hour, contact),
        callbacks=_callbacks(
            [c for c in callbacks if in_period(c.due_at)],
            started,
            timedelta(minutes=spec.callback_tolerance_minutes),
            now,
        ),
        segments=_segments(customers, reached, succeeded),
        linked_calls=calls,
        rules=rules,
    )


def _attempt_numbers(every: Sequence[Any]) -> dict[int, int]:
    """Attempt id → its rank among the customer's attempts (1 = first call), over all attempts in order."""
    number: dict[int, int] = {}
    seen: Counter[int] = Counter()
    for a in every:
        seen[a.customer_id] += 1
        number[a.id] = seen[a.customer_id]
    return number


def _linked_results(store: Store, attempts: list[Any]) -> dict[str, dict]:
    """The outbound scorecard's result (as people left it) of each recorded call, by conversation key."""
    return stored.final_results(store.engine, {a.conversation_key for a in attempts if a.conversation_key}, SCORECARD)


def _agents(attempts: list[Any], contact: set[str], tz: tzinfo) -> list[AgentFigures]:
    agents = []
    for agent in sorted({a.agent_id for a in attempts}):
        mine = [a for a in attempts if a.agent_id == agent]
        spoke = [a for a in mine if a.disposition in contact]
        days = len({local_day(a.started_at, tz) for a in mine})
        hours = len({local(a.started_at, tz).replace(minute=0, second=0, microsecond=0) for a in mine})
        wins = sum(a.disposition == SUCCESS for a in mine)
        agents.append(
            AgentFigures(
                agent_id=agent,
                days=days,
                attempts=len(mine),
                per_day=len(mine) / days,
                successes=wins,
                active_hours=hours,
                calls_per_hour=len(mine) / hours,
                talk_time=sum(a.duration or 0 for a in spoke),
                success=wilson(wins, len(spoke)),
            )
        )
    return agents


def _segments(customers: Sequence[Any], reached: set[int], succeeded: set[int]) -> list[SegmentFigures]:
    """Success among the reached customers of each age band, region and occupation."""
    segments = []
    for name in SEGMENT_FIELDS:
        groups: dict[str, list[int]] = defaultdict(list)
        for c in customers:
            if c.id in reached and getattr(c, name):
                groups[getattr(c, name)].append(c.id)
        for value in sorted(groups, key=lambda v: (_BAND_ORDER.get(v, 0), v) if name == "age_band" else v):
            ids = groups[value]
            segments.append(
                SegmentFigures(field=name, value=value, contacted=wilson(sum(i in succeeded for i in ids), len(ids)))
            )
    return segments


def _rules(attempts: list[Any], results: dict[str, dict]) -> tuple[int, list[RuleFigures]]:
    """The recorded calls, and per scorecard rule the success of calls that passed it against those that
    failed it (outbound rules first)."""
    outcome: dict[str, dict[str, list[bool]]] = defaultdict(lambda: {"pass": [], "fail": []})
    names: dict[str, str] = {}
    calls = 0
    for a in attempts:
        data = results.get(a.conversation_key)
        if data is None:
            continue
        calls += 1
        for finding in data["findings"]:
            if finding["status"] in ("pass", "fail"):
                outcome[finding["rule"]][finding["status"]].append(a.disposition == SUCCESS)
                names[finding["rule"]] = finding["name"]
    rules = []
    for rule in sorted(outcome, key=lambda r: (not r.startswith("OB-"), r)):
        passed, failed = (wilson(sum(v), len(v)) for v in (outcome[rule]["pass"], outcome[rule]["fail"]))
        rules.append(
            RuleFigures(rule=rule, name=names[rule], passed=passed, failed=failed, separated=_separated(passed, failed))
        )
    return calls, rules
