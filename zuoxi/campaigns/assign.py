"""Who calls whom, and when: even or by-region assignment, callbacks, each agent's queue.

The queue is where the dialling rules hold: no number on the do-not-call list, no call outside the
calling hours on the customer's own clock, no retry sooner than the retry interval nor after the
maximum number of attempts (docs/campaigns.md, "The queue").
"""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from zuoxi.campaigns.models import (
    CampaignError,
    Customer,
    customer_zone,
    from_db,
    local,
    to_utc,
)
from zuoxi.privacy import mask_text
from zuoxi.store import Store, masked_label, shown_url
from zuoxi.store import campaigns as stored
from zuoxi.store.campaigns import schedule_callback
from zuoxi.store.users import Account

__all__ = ["customer_zone", "schedule_callback"]  # kept here for their callers


_SECRET_OPTIONS = ("--password", "--secret")


def command_line(argv: list[str] | None = None) -> str:
    """The command this process runs (`sys.argv`), as the audit log keeps who made a change where no one is signed
    in (the command line): `zuoxi campaign assign …`, personal data masked, a database URL's password and the value
    of --password hidden."""
    argv = sys.argv if argv is None else argv
    program = Path(argv[0]) if argv and argv[0] else Path("python")
    words = [program.parent.name if program.name == "__main__.py" else program.name]
    hidden = False
    for word in argv[1:]:
        if hidden:
            words.append("***")
        elif word.startswith(tuple(f"{option}=" for option in _SECRET_OPTIONS)):
            words.append(word.split("=", 1)[0] + "=***")
        else:
            words.append(mask_text(shown_url(word) if "://" in word else word))
        hidden = not hidden and word in _SECRET_OPTIONS
    return shlex.join(words)


def assign(
    store: Store,
    campaign: str,
    agents: list[str],
    regions: dict[str, list[str]] | None = None,
    reassign: bool = False,
    account: Account | None = None,
    command: str | None = None,
) -> dict[str, int]:
    """Give open, unassigned customers (all open ones with `reassign`) to agents so each ends up
    with as equal a load as possible; with `regions` (region → agents) a region's customers go to its
    agents only, and customers of unlisted regions to everyone. Returns the new customers per agent.
    Customers whose agent changes (so does who may reveal their number) are audited, by `account`, or where no one
    is signed in by the `command` (default: this process's `command_line`)."""

    def labels(names: list[str]) -> list[str]:  # as users and conversations store them: ０７ is agent 07, masked
        return [label for label in map(masked_label, names) if label]

    regions = {region: labels(names) for region, names in (regions or {}).items()}
    everyone = list(dict.fromkeys(labels(agents) + [a for names in regions.values() for a in names]))
    if not everyone:
        raise CampaignError("至少要给出一个坐席（--agent 或 --region）")

    def balance(load: Counter[str], customers: list[Customer]) -> dict[int, str]:
        chosen = {}
        for customer in customers:
            pool = regions.get(customer.region or "", everyone)
            agent = min(pool, key=lambda a: (load[a], everyone.index(a)))
            chosen[customer.id] = agent
            load[agent] += 1
        return chosen

    if account is None and command is None:
        command = command_line()
    given = stored.assign_customers(store.engine, campaign, everyone, reassign, balance, account, command)
    return dict(Counter(given.values()))


def not_now(state: stored.QueueState, customer: Customer, now: datetime) -> tuple[str, str] | None:
    """Why an open customer may not be called at `now` (UTC), as (code, message), or None: the queue's rules, which
    revealing the number to dial applies too — calling hours on the customer's clock, a callback not due yet, a
    retry sooner than the retry interval or past the maximum number of attempts."""
    spec = state.spec
    there = local(now, customer_zone(spec, customer))
    if not spec.calling_hours.allow(there):
        return "outside_hours", f"客户当地时间 {there:%H:%M}，不在呼叫时段 {spec.calling_hours} 内"
    if customer.id in state.due:
        when = from_db(state.due[customer.id])
        return (
            None if when <= now else ("callback_not_due", f"预约回拨时间 {local(when, spec.tz):%Y-%m-%d %H:%M} 还没到")
        )
    attempts, last = state.tried.get(customer.id, (0, None))
    if attempts >= spec.max_attempts:
        return "max_attempts", f"已拨打 {attempts} 次，达到本活动的最多拨打次数"
    if last is not None and now - from_db(last) < timedelta(minutes=spec.retry_after_minutes):
        again = local(from_db(last) + timedelta(minutes=spec.retry_after_minutes), spec.tz)
        return "retry_too_soon", f"{local(from_db(last), spec.tz):%H:%M} 刚拨打过，{again:%H:%M} 以后才能重拨"
    return None


def parse_regions(specs: list[str]) -> dict[str, list[str]]:
    """`汕头=A01,A02` → {"汕头": ["A01", "A02"]}."""
    regions = {}
    for spec in specs:
        region, _, names = spec.partition("=")
        agents = [a.strip() for a in names.split(",") if a.strip()]
        if not region.strip() or not agents:
            raise CampaignError(f"地区分配写错了：{spec!r}（应为 地区=坐席,坐席，如 汕头=A01,A02）")
        regions[region.strip()] = agents
    return regions


def queue(store: Store, campaign: str, agent: str, now: datetime, limit: int = 50) -> list[tuple[Customer, str]]:
    """What the agent may call now, each with why: callbacks due (oldest first), then customers never
    called, then retries with the fewest attempts. Left out: numbers on the do-not-call list, customers
    outside calling hours on their own clock, retries within the retry interval or past the maximum
    number of attempts, and callbacks not yet due."""
    return queue_page(store, campaign, agent, now, 0, limit)[0]


def queue_page(
    store: Store, campaign: str, agent: str, now: datetime, offset: int = 0, limit: int = 50
) -> tuple[list[tuple[Customer, str]], int]:
    """One page of `queue`: its `limit` customers from the `offset`-th (0: the first) on, in its order, and how many
    the whole queue has. The order is total (a customer's id breaks every tie), so pages at the same `now` neither
    repeat nor skip a customer. Whether a customer may be called is decided on their own clock, their history and
    the campaign's rules, not by a column, so the page is cut here, from the ordered queue, not by the database.
    A negative `offset` or `limit` counts as 0."""
    offset, limit = max(offset, 0), max(limit, 0)
    now = to_utc(now)
    state = stored.queue_state(store.engine, campaign, masked_label(agent))
    spec, tried, due = state.spec, state.tried, state.due
    callbacks, fresh = [], []
    for customer in state.customers:
        if not_now(state, customer, now) is not None:
            continue
        attempts = tried.get(customer.id, (0, None))[0]
        if customer.id in due:
            callbacks.append((from_db(due[customer.id]), customer))
        elif attempts == 0:
            fresh.append((0, customer.id, customer, "新客户，还没有拨打过"))
        else:
            fresh.append((attempts, customer.id, customer, f"重拨：已拨打 {attempts} 次"))
    picked = [
        (c, f"预约回拨已到期（{local(when, spec.tz):%Y-%m-%d %H:%M}）")
        for when, c in sorted(callbacks, key=lambda x: (x[0], x[1].id))
    ]
    picked += [(c, why) for _, _, c, why in sorted(fresh, key=lambda x: x[:2])]
    return picked[offset : offset + limit], len(picked)
