"""Who calls whom, and when: even or by-region assignment, callbacks, each agent's queue.

The queue is where the dialling rules hold: no number on the do-not-call list, no call outside the
calling hours on the customer's own clock, no retry sooner than the retry interval nor after the
maximum number of attempts (docs/campaigns.md, "The queue").
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zuoxi.campaigns.campaign import CampaignError, get_campaign
from zuoxi.campaigns.models import OPEN, CampaignSpec, from_db, local, parse_time, to_utc, zone
from zuoxi.store import Store, canonical_label
from zuoxi.store.tables import CampaignAttempt, CampaignCallback, CampaignCustomer, DoNotCall


def assign(
    store: Store, campaign: str, agents: list[str], regions: dict[str, list[str]] | None = None, reassign: bool = False
) -> dict[str, int]:
    """Give open, unassigned customers (all open ones with `reassign`) to agents so each ends up
    with as equal a load as possible; with `regions` (region → agents) a region's customers go to its
    agents only, and customers of unlisted regions to everyone. Returns the new customers per agent."""

    def labels(names: list[str]) -> list[str]:  # as users and conversations store them: ０７ is agent 07
        return [label for label in map(canonical_label, names) if label]

    regions = {region: labels(names) for region, names in (regions or {}).items()}
    everyone = list(dict.fromkeys(labels(agents) + [a for names in regions.values() for a in names]))
    if not everyone:
        raise CampaignError("name at least one agent")
    with Session(store.engine) as session, session.begin():
        row, _ = get_campaign(session, campaign)
        open_customers = select(CampaignCustomer).where(
            CampaignCustomer.campaign_id == row.id, CampaignCustomer.status.in_(OPEN)
        )
        load: Counter[str] = Counter({a: 0 for a in everyone})
        if not reassign:
            load.update(
                {
                    agent: n
                    for agent, n in session.execute(
                        select(CampaignCustomer.agent_id, func.count())
                        .where(
                            CampaignCustomer.campaign_id == row.id,
                            CampaignCustomer.status.in_(OPEN),
                            CampaignCustomer.agent_id.in_(everyone),
                        )
                        .group_by(CampaignCustomer.agent_id)
                    )
                    if agent is not None  # the query's `in_(everyone)` leaves none
                }
            )
            open_customers = open_customers.where(CampaignCustomer.agent_id.is_(None))
        given: Counter[str] = Counter()
        for customer in session.scalars(open_customers.order_by(CampaignCustomer.id)):
            pool = regions.get(customer.region or "", everyone)
            agent = min(pool, key=lambda a: (load[a], everyone.index(a)))
            customer.agent_id = agent
            load[agent] += 1
            given[agent] += 1
    return dict(given)


def parse_regions(specs: list[str]) -> dict[str, list[str]]:
    """`汕头=A01,A02` → {"汕头": ["A01", "A02"]}."""
    regions = {}
    for spec in specs:
        region, _, names = spec.partition("=")
        agents = [a.strip() for a in names.split(",") if a.strip()]
        if not region.strip() or not agents:
            raise CampaignError(f"bad region mapping {spec!r}: use REGION=AGENT,AGENT")
        regions[region.strip()] = agents
    return regions


def customer_zone(spec: CampaignSpec, customer: CampaignCustomer):
    """The customer's time zone: the list's, else the campaign's."""
    return zone(customer.timezone, spec.tz)


def blocked(session: Session, customer: CampaignCustomer) -> bool:
    """Whether the customer's number is on the do-not-call list."""
    return session.scalar(select(DoNotCall.id).where(DoNotCall.phone_hash == customer.phone_hash)) is not None


def callback(
    store: Store, campaign: str, customer_id: int, due_at_text: str, note: str = ""
) -> tuple[datetime, CampaignSpec]:
    """`schedule_callback` for customer `customer_id` of `campaign` at a time given as text in the
    campaign's zone (or with its own); returns when, and the campaign. CampaignError or ValueError say why not."""
    with Session(store.engine) as session, session.begin():
        row, spec = get_campaign(session, campaign)
        person = session.get(CampaignCustomer, customer_id)
        if person is None or person.campaign_id != row.id:
            raise CampaignError(f"customer {customer_id} is not on the list of {campaign!r}")
        when = parse_time(due_at_text, spec.tz)
        schedule_callback(session, row.id, spec, person, when, note)
    return when, spec


def schedule_callback(
    session: Session, campaign_id: int, spec: CampaignSpec, customer: CampaignCustomer, due_at: datetime, note: str = ""
) -> CampaignCallback:
    """A callback for an open customer, inside calling hours on the customer's clock; an earlier open
    one is rescheduled (one appointment at a time). CampaignError says why not."""
    if customer.status not in OPEN:
        raise CampaignError(f"customer {customer.id} is {customer.status}: callbacks are only for open customers")
    if blocked(session, customer):
        raise CampaignError(f"customer {customer.id} is on the do-not-call list")
    tz = customer_zone(spec, customer)
    there = local(to_utc(due_at, spec.tz), tz)
    if not spec.calling_hours.allow(there):
        raise CampaignError(
            f"{there:%Y-%m-%d %H:%M} on the customer's clock ({tz}) is outside the calling hours {spec.calling_hours}"
        )
    for earlier in session.scalars(
        select(CampaignCallback).where(CampaignCallback.customer_id == customer.id, CampaignCallback.done.is_(False))
    ):
        earlier.done = True
    callback = CampaignCallback(
        campaign_id=campaign_id,
        customer_id=customer.id,
        agent_id=customer.agent_id,
        due_at=to_utc(due_at, spec.tz),
        note=note,
        done=False,
    )
    session.add(callback)
    customer.status = "callback"
    return callback


def queue(
    store: Store, campaign: str, agent: str, now: datetime, limit: int = 50
) -> list[tuple[CampaignCustomer, str]]:
    """What the agent may call now, each with why: callbacks due (oldest first), then customers never
    called, then retries with the fewest attempts. Left out: numbers on the do-not-call list, customers
    outside calling hours on their own clock, retries within the retry interval or past the maximum
    number of attempts, and callbacks not yet due."""
    now = to_utc(now)
    with Session(store.engine, expire_on_commit=False) as session:
        row, spec = get_campaign(session, campaign)
        customers = list(
            session.scalars(
                select(CampaignCustomer).where(
                    CampaignCustomer.campaign_id == row.id,
                    CampaignCustomer.agent_id == canonical_label(agent),
                    CampaignCustomer.status.in_(OPEN),
                    CampaignCustomer.phone_hash.not_in(select(DoNotCall.phone_hash)),
                )
            )
        )
        ids = [c.id for c in customers]
        tried = (
            {
                cid: (n, last)
                for cid, n, last in session.execute(
                    select(CampaignAttempt.customer_id, func.count(), func.max(CampaignAttempt.started_at))
                    .where(CampaignAttempt.customer_id.in_(ids))
                    .group_by(CampaignAttempt.customer_id)
                )
            }
            if ids
            else {}
        )
        due = dict(
            session.execute(
                select(CampaignCallback.customer_id, func.min(CampaignCallback.due_at))
                .where(CampaignCallback.campaign_id == row.id, CampaignCallback.done.is_(False))
                .group_by(CampaignCallback.customer_id)
            ).all()
        )
    callbacks, fresh = [], []
    retry_after = timedelta(minutes=spec.retry_after_minutes)
    for customer in customers:
        if not spec.calling_hours.allow(local(now, customer_zone(spec, customer))):
            continue
        attempts, last = tried.get(customer.id, (0, None))
        if customer.id in due:
            when = from_db(due[customer.id])
            if when <= now:
                callbacks.append((when, customer))
        elif attempts == 0:
            fresh.append((0, customer.id, customer, "new"))
        elif last is not None and attempts < spec.max_attempts and now - from_db(last) >= retry_after:  # tried: a last
            fresh.append(
                (attempts, customer.id, customer, f"retry after {attempts} attempt{'s' if attempts > 1 else ''}")
            )
    picked = [
        (c, f"callback due {local(when, spec.tz):%Y-%m-%d %H:%M}")
        for when, c in sorted(callbacks, key=lambda x: (x[0], x[1].id))
    ]
    picked += [(c, why) for _, _, c, why in sorted(fresh, key=lambda x: x[:2])]
    return picked[:limit]
