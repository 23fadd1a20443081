"""我的外呼: the signed-in agent's outbound calls — in every campaign with customers assigned to them, the queue
`zuoxi campaign queue NAME --agent ID` shows (`zuoxi.campaigns.assign.queue`: its rules and its order), with
each customer's number masked. A row's 显示号码 asks the audited dial endpoint (campaigns.py) for the number,
which the page shows in that row only.

The queue is paged (`page`, `per_page`: bounded, 50 a page by default), in the queue's own order; `campaign` lists
that campaign only (one of the agent's: any other is 404), as the page's 上一页/下一页 links do."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from math import ceil
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from zuoxi.campaigns.assign import customer_zone, queue_page
from zuoxi.campaigns.models import from_db, local, status_name
from zuoxi.store import Store, masked_label
from zuoxi.store.campaigns import agent_campaigns, campaign_spec, customer_history
from zuoxi.store.users import AGENTS, Account
from zuoxi.web.pages import render
from zuoxi.web.security import Signed, require_role

router = APIRouter()
PER_PAGE = 50  # customers shown per campaign on a page, the next ones first
MAX_PER_PAGE = 500
MAX_PAGE = 100_000  # bounds the offset (page × per_page) a request can ask for
NO_AGENT_ID = "你的账号没有登记坐席工号，看不到分配给你的外呼客户：请管理员在用户管理里填写坐席工号。"
NOTHING_ASSIGNED = "还没有分配给你的外呼客户。"
NOT_YOURS = "没有这个外呼活动，或其中没有分配给你的客户。"
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
    customers: list[QueuedCustomer] = field(default_factory=list)  # this page's, in the queue's order
    total: int = 0  # customers in the whole queue now
    page: int = 1
    per_page: int = PER_PAGE
    pages: int = 1  # how many pages the queue fills (1 when it is empty)


def _kind(attempts: int, due: str | None) -> str:
    """Which part of the queue the customer is in, as its order ranks them: a callback due, never called, a retry."""
    return "callback" if due is not None else "new" if attempts == 0 else "retry"


def campaign_queue(
    store: Store, name: str, title: str, agent: str, now: datetime, page: int = 1, per_page: int = PER_PAGE
) -> CampaignQueue:
    """Page `page` of the agent's queue in one campaign at `now`: the customers `assign.queue` picks, in its order,
    `per_page` a page; a page past the last is empty (its `total` and `pages` say where the queue ends)."""
    spec = campaign_spec(store.engine, name)
    picked, total = queue_page(store, name, agent, now, (page - 1) * per_page, per_page)
    tried, due = customer_history(store.engine, name, [c.id for c, _ in picked])
    found = CampaignQueue(
        name,
        title,
        spec.timezone,
        str(spec.calling_hours),
        f"{local(now, spec.tz):%H:%M}",
        total=total,
        page=page,
        per_page=per_page,
        pages=max(1, ceil(total / per_page)),
    )
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


def my_calls(
    store: Store,
    account: Account,
    now: datetime | None = None,
    campaign: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> tuple[list[CampaignQueue], str | None]:
    """Page `page` of the account's queue in each campaign with customers assigned to them (in `campaign` only, if
    given: 404 where none of its customers is theirs), and what to say when there is none."""
    agent = masked_label(account.agent_id)  # as customers are assigned: ０７ is 07
    if not agent:
        return [], NO_AGENT_ID
    now = now or datetime.now(UTC)
    campaigns = agent_campaigns(store.engine, agent)
    if campaign is not None:
        campaigns = [(name, title) for name, title in campaigns if name == campaign]
        if not campaigns:
            raise HTTPException(404, NOT_YOURS)
    queues = [campaign_queue(store, name, title, agent, now, page, per_page) for name, title in campaigns]
    return queues, None if queues else NOTHING_ASSIGNED


class Paging:
    """The query parameters of both routes, bounded: a value out of bounds or not a number is refused (422, in
    Chinese), never handed to the queue."""

    def __init__(
        self,
        campaign: str | None = Query(None, max_length=100),
        page: int = Query(1, ge=1, le=MAX_PAGE),
        per_page: int = Query(PER_PAGE, ge=1, le=MAX_PER_PAGE),
    ) -> None:
        self.campaign, self.page, self.per_page = campaign or None, page, per_page  # campaign= is every campaign

    def query(self, campaign: str, page: int) -> str:
        """The query string of `campaign`'s page `page`, at this page size."""
        values: dict[str, str | int] = {"campaign": campaign, "page": page}
        if self.per_page != PER_PAGE:
            values["per_page"] = self.per_page
        return urlencode(values)


@router.get("/api/calls")
def calls(request: Request, paging: Annotated[Paging, Depends()], signed: Signed = require_role(AGENTS)) -> dict:
    """The signed-in agent's queue in each campaign with customers assigned to them (`message` says why there
    is nothing), a page of each: `total`, `page`, `per_page` and `pages` say which; a number is revealed by
    POST /api/campaigns/{name}/customers/{customer_id}/dial."""
    queues, message = my_calls(
        request.app.state.store, signed.account, None, paging.campaign, paging.page, paging.per_page
    )
    return {"agent_id": signed.account.agent_id, "message": message, "campaigns": [asdict(q) for q in queues]}


@router.get("/calls", response_class=HTMLResponse, include_in_schema=False)
def calls_page(request: Request, paging: Annotated[Paging, Depends()], signed: Signed = require_role(AGENTS)):
    queues, message = my_calls(
        request.app.state.store, signed.account, None, paging.campaign, paging.page, paging.per_page
    )
    return render(
        request,
        "calls.html.j2",
        signed,
        queues=queues,
        message=message,
        nothing_now=NOTHING_NOW,
        chosen=paging.campaign,
        page_qs=paging.query,
    )
