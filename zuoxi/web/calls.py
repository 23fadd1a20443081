"""我的外呼: the signed-in agent's outbound calls — in every campaign with customers assigned to them, the queue
`zuoxi campaign queue NAME --agent ID` shows (`zuoxi.campaigns.assign.queue`: its rules and its order), with
each customer's number masked. A row's 显示号码 asks the audited dial endpoint (campaigns.py) for the number,
which the page shows in that row only."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from zuoxi.campaigns.assign import customer_zone, queue
from zuoxi.campaigns.models import from_db, local, status_name
from zuoxi.store import Store, masked_label
from zuoxi.store.campaigns import agent_campaigns, campaign_spec, customer_history
from zuoxi.store.users import AGENTS, Account
from zuoxi.web.pages import render
from zuoxi.web.security import Signed, require_role

router = APIRouter()
LIMIT = 50  # customers shown per campaign, the next ones first
NO_AGENT_ID = "你的账号没有登记坐席工号，看不到分配给你的外呼客户：请管理员在用户管理里填写坐席工号。"
NOTHING_ASSIGNED = "还没有分配给你的外呼客户。"
NOTHING_NOW = "现在没有可以拨打的客户：预约回拨未到期、距上次拨打太近、已达最多拨打次数，或客户当地时间不在呼叫时段内。"


@dataclass
class QueuedCustomer:
    """One row of the agent's queue: never the number, only its last four digits."""

    customer_id: int
    ref: str | None
    name: str | None  # the salutation the list stored (张先生): the full name is not kept
    phone: str  # masked: 尾号 1234
    region: str | None
    their_time: str  # the customer's clock now (HH:MM), by which calling hours are kept
    status: str
    status_text: str
    attempts: int
    callback_due: str | None  # the campaign's zone, YYYY-MM-DD HH:MM
    why: str  # callback, new or retry: the part of the queue the customer is in (callbacks first, retries last)
    why_text: str  # the queue's own words, as `zuoxi campaign queue` shows them


@dataclass
class CampaignQueue:
    name: str
    title: str
    timezone: str
    calling_hours: str
    now: str  # the campaign's clock, HH:MM
    customers: list[QueuedCustomer] = field(default_factory=list)


def _kind(attempts: int, due: str | None) -> str:
    """Which part of the queue the customer is in, as its order ranks them: a callback due, never called, a retry."""
    return "callback" if due is not None else "new" if attempts == 0 else "retry"


def campaign_queue(store: Store, name: str, title: str, agent: str, now: datetime) -> CampaignQueue:
    """The agent's queue in one campaign at `now`: the customers `assign.queue` picks, in its order."""
    spec = campaign_spec(store.engine, name)
    picked = queue(store, name, agent, now, LIMIT)
    tried, due = customer_history(store.engine, name, [c.id for c, _ in picked])
    found = CampaignQueue(name, title, spec.timezone, str(spec.calling_hours), f"{local(now, spec.tz):%H:%M}")
    for customer, why in picked:
        attempts = tried.get(customer.id, (0, None))[0]
        when = f"{local(from_db(due[customer.id]), spec.tz):%Y-%m-%d %H:%M}" if customer.id in due else None
        found.customers.append(
            QueuedCustomer(
                customer_id=customer.id,
                ref=customer.ref,
                name=customer.salutation,
                phone=f"尾号 {customer.phone_tail}",
                region=customer.region,
                their_time=f"{local(now, customer_zone(spec, customer)):%H:%M}",
                status=customer.status,
                status_text=status_name(customer.status),
                attempts=attempts,
                callback_due=when,
                why=_kind(attempts, when),
                why_text=why,
            )
        )
    return found


def my_calls(store: Store, account: Account, now: datetime | None = None) -> tuple[list[CampaignQueue], str | None]:
    """The account's queue in each campaign with customers assigned to them, and what to say when there is none."""
    agent = masked_label(account.agent_id)  # as customers are assigned: ０７ is 07
    if not agent:
        return [], NO_AGENT_ID
    now = now or datetime.now(UTC)
    queues = [campaign_queue(store, name, title, agent, now) for name, title in agent_campaigns(store.engine, agent)]
    return queues, None if queues else NOTHING_ASSIGNED


@router.get("/api/calls")
def calls(request: Request, signed: Signed = require_role(AGENTS)) -> dict:
    """The signed-in agent's queue in each campaign with customers assigned to them (`message` says why there
    is nothing); a number is revealed by POST /api/campaigns/{name}/customers/{customer_id}/dial."""
    queues, message = my_calls(request.app.state.store, signed.account)
    return {"agent_id": signed.account.agent_id, "message": message, "campaigns": [asdict(q) for q in queues]}


@router.get("/calls", response_class=HTMLResponse, include_in_schema=False)
def calls_page(request: Request, signed: Signed = require_role(AGENTS)):
    queues, message = my_calls(request.app.state.store, signed.account)
    return render(
        request, "calls.html.j2", signed, queues=queues, message=message, nothing_now=NOTHING_NOW, limit=LIMIT
    )
