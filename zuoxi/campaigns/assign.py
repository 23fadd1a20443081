"""Who calls whom, and when: even or by-region assignment, callbacks, each agent's queue."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zuoxi.campaigns.campaign import CampaignError, get_campaign
from zuoxi.store import Store
from zuoxi.store.tables import CampaignAttempt, CampaignCallback, CampaignCustomer

OPEN = ("pending", "retry", "callback")


def assign(store: Store, campaign: str, agents: list[str], regions: dict[str, list[str]] | None = None,
           reassign: bool = False) -> dict[str, int]:
    """Give open, unassigned customers (all open ones with `reassign`) to agents so each ends up
    with as equal a load as possible; with `regions` (region → agents) a region's customers go to its
    agents only, and customers of unlisted regions to everyone. Returns the new customers per agent."""
    regions = regions or {}
    everyone = list(dict.fromkeys(agents + [a for names in regions.values() for a in names]))
    if not everyone:
        raise CampaignError("name at least one agent")
    with Session(store.engine) as session, session.begin():
        row, _ = get_campaign(session, campaign)
        open_customers = select(CampaignCustomer).where(CampaignCustomer.campaign_id == row.id,
                                                        CampaignCustomer.status.in_(OPEN))
        load: Counter[str] = Counter({a: 0 for a in everyone})
        if not reassign:
            load.update(dict(session.execute(
                select(CampaignCustomer.agent_id, func.count()).where(CampaignCustomer.campaign_id == row.id,
                                                                      CampaignCustomer.status.in_(OPEN),
                                                                      CampaignCustomer.agent_id.in_(everyone))
                .group_by(CampaignCustomer.agent_id)).all()))
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


def schedule_callback(session: Session, campaign_id: int, customer: CampaignCustomer, due_at: datetime,
                      note: str = "") -> CampaignCallback:
    """A callback for this customer; earlier open ones are superseded (one appointment at a time)."""
    for earlier in session.scalars(select(CampaignCallback).where(CampaignCallback.customer_id == customer.id,
                                                                  CampaignCallback.done.is_(False))):
        earlier.done = True
    callback = CampaignCallback(campaign_id=campaign_id, customer_id=customer.id, agent_id=customer.agent_id,
                                due_at=due_at, note=note, done=False)
    session.add(callback)
    customer.status = "callback"
    return callback


def queue(store: Store, campaign: str, agent: str, now: datetime, limit: int = 50) -> list[tuple[CampaignCustomer, str]]:
    """What the agent calls next: callbacks due by `now` first (oldest first), then customers never
    called, then those to retry with the fewest attempts. Each with why it is in the queue."""
    with Session(store.engine, expire_on_commit=False) as session:
        row, _ = get_campaign(session, campaign)
        due = session.execute(
            select(CampaignCustomer, CampaignCallback.due_at).join(CampaignCallback, CampaignCallback.customer_id == CampaignCustomer.id)
            .where(CampaignCallback.campaign_id == row.id, CampaignCallback.done.is_(False), CampaignCallback.due_at <= now,
                   CampaignCustomer.agent_id == agent)
            .order_by(CampaignCallback.due_at).limit(limit)).all()
        picked = [(c, f"callback due {when:%Y-%m-%d %H:%M}") for c, when in due]
        attempts = (select(CampaignAttempt.customer_id, func.count().label("n")).group_by(CampaignAttempt.customer_id).subquery())
        rest = session.execute(
            select(CampaignCustomer, func.coalesce(attempts.c.n, 0))
            .outerjoin(attempts, attempts.c.customer_id == CampaignCustomer.id)
            .where(CampaignCustomer.campaign_id == row.id, CampaignCustomer.agent_id == agent,
                   CampaignCustomer.status.in_(("pending", "retry")))
            .order_by(func.coalesce(attempts.c.n, 0), CampaignCustomer.id).limit(max(0, limit - len(picked)))).all()
        picked += [(c, "new" if n == 0 else f"retry after {n} attempt{'s' if n > 1 else ''}") for c, n in rest]
    return picked
