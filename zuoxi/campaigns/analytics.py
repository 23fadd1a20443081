"""The figures behind "why did it work?": rates with 95% Wilson intervals, so a segment of twelve
customers is not read like one of twelve hundred (docs/campaigns.md defines each figure)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from zuoxi.campaigns.calllist import AGE_BANDS
from zuoxi.campaigns.campaign import get_campaign
from zuoxi.campaigns.models import AgentFigures, CampaignReport, Rate, RuleFigures, SegmentFigures, dispositions, local_day
from zuoxi.campaigns.dispositions import SCORECARD
from zuoxi.store import Store
from zuoxi.store.tables import CampaignAttempt, CampaignCustomer, ResultRow

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
    return a.n > 0 and b.n > 0 and (a.low > b.high or b.low > a.high)


def report(store: Store, campaign: str) -> CampaignReport:
    with Session(store.engine) as session:
        row, spec = get_campaign(session, campaign)
        customers = session.execute(select(CampaignCustomer.id, CampaignCustomer.status, CampaignCustomer.age_band,
                                           CampaignCustomer.region, CampaignCustomer.occupation)
                                    .where(CampaignCustomer.campaign_id == row.id)).all()
        attempts = session.execute(select(CampaignAttempt.customer_id, CampaignAttempt.agent_id, CampaignAttempt.started_at,
                                          CampaignAttempt.duration, CampaignAttempt.disposition, CampaignAttempt.reason_code,
                                          CampaignAttempt.conversation_key)
                                   .where(CampaignAttempt.campaign_id == row.id)).all()
        linked = {a.conversation_key for a in attempts if a.conversation_key}
        results = {r.conversation_key: r.final_data or r.data for r in session.scalars(
            select(ResultRow).where(ResultRow.scorecard == SCORECARD, ResultRow.conversation_key.in_(linked)))} if linked else {}

    codes = dispositions()
    contact = {code for code, info in codes.items() if info.contact}
    called = {a.customer_id for a in attempts}
    reached = {a.customer_id for a in attempts if a.disposition in contact}
    succeeded = {a.customer_id for a in attempts if a.disposition == SUCCESS}

    per_agent_day: Counter[tuple[str, object]] = Counter((a.agent_id, local_day(a.started_at)) for a in attempts)
    agents = []
    for agent in sorted({a.agent_id for a in attempts}):
        days = [n for (who, _), n in per_agent_day.items() if who == agent]
        agents.append(AgentFigures(agent_id=agent, days=len(days), attempts=sum(days), per_day=sum(days) / len(days),
                                   successes=sum(1 for a in attempts if a.agent_id == agent and a.disposition == SUCCESS)))
    handled = [a.duration for a in attempts if a.disposition in contact and a.duration is not None]

    segments = []
    for name in SEGMENT_FIELDS:
        groups: dict[str, list[int]] = defaultdict(list)
        for c in customers:
            if c.id in reached and getattr(c, name):
                groups[getattr(c, name)].append(c.id)
        for value in sorted(groups, key=lambda v: (_BAND_ORDER.get(v, 0), v) if name == "age_band" else v):
            ids = groups[value]
            segments.append(SegmentFigures(field=name, value=value, contacted=wilson(sum(i in succeeded for i in ids), len(ids))))

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
        rules.append(RuleFigures(rule=rule, name=names[rule], passed=passed, failed=failed, separated=_separated(passed, failed)))

    refusals = Counter(a.reason_code or "unspecified" for a in attempts if a.disposition == "refused")
    by_code = Counter(a.disposition for a in attempts)
    statuses = Counter(c.status for c in customers)
    return CampaignReport(
        campaign=spec.name, title=spec.title, customers=len(customers), customers_called=len(called), attempts=len(attempts),
        contact_rate=wilson(len(reached), len(called)), success_rate=wilson(len(succeeded), len(reached)),
        list_success_rate=wilson(len(succeeded), len(customers)),
        attempts_per_success=len(attempts) / len(succeeded) if succeeded else None,
        calls_per_agent_day=len(attempts) / len(per_agent_day) if per_agent_day else None,
        average_handling_time=sum(handled) / len(handled) if handled else None,
        dispositions={code: by_code[code] for code in codes},
        refusal_reasons=dict(refusals.most_common()),
        status={s: statuses[s] for s in ("pending", "retry", "callback", "success", "closed")},
        agents=agents, segments=segments, linked_calls=calls, rules=rules)
