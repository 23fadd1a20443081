"""Outbound campaigns in the web app: the report of each campaign over a period of local days, for
admins, inspectors and team leads (campaigns are run from `zuoxi campaign …`; a team lead sees the
campaign's figures but, per agent, only their own team's agents), and the number to dial, for the
agent the customer is assigned to only."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from zuoxi.campaigns import analytics, dial
from zuoxi.campaigns.campaign import CampaignError
from zuoxi.store.campaigns import campaign_spec, campaign_titles
from zuoxi.store.queries import team_agents
from zuoxi.store.users import AGENTS, OVERSEERS
from zuoxi.web.pages import render
from zuoxi.web.params import Day, Id
from zuoxi.web.security import Signed, require_role

router = APIRouter()
# Why a customer may not be called now (dial.NotDialable.reason), as the agent reads it.
NOT_DIALABLE = {
    "closed": "客户已结案，不再拨打",
    "do_not_call": "客户在免打扰名单上",
    "outside_hours": "客户当地时间不在活动的呼叫时段内",
    "callback_not_due": "约定的回拨时间还没到",
    "retry_too_soon": "距上次拨打不足活动规定的重拨间隔",
    "max_attempts": "已达到活动规定的最多拨打次数",
}


def _names(request: Request) -> list[tuple[str, str]]:
    return campaign_titles(request.app.state.store.engine)


def _report(request: Request, signed: Signed, name: str, start: Day, end: Day):
    """The campaign's report in the account's scope; 404 for no such campaign, 422 for a start after the end."""
    try:
        report = analytics.report(request.app.state.store, name, start, end)
    except analytics.PeriodError as error:
        raise HTTPException(422, str(error)) from None
    except CampaignError:
        raise HTTPException(404, "没有这个外呼活动") from None
    if signed.account.role == "team_lead":
        mine = team_agents(request.app.state.store.engine, signed.account.team)
        report.agents = [a for a in report.agents if a.agent_id in mine]
    return report


@router.get("/api/campaigns")
def campaigns(request: Request, signed: Signed = require_role(OVERSEERS)) -> list[dict]:
    return [{"name": n, "title": t} for n, t in _names(request)]


@router.get("/api/campaigns/{name}")
def campaign_report(
    name: str, request: Request, start: Day = None, end: Day = None, signed: Signed = require_role(OVERSEERS)
) -> dict:
    """The report over the campaign's local days `start`–`end` (both included, each optional)."""
    return _report(request, signed, name, start, end).model_dump(mode="json")


@router.post("/api/campaigns/{name}/customers/{customer_id}/dial")
def reveal_number(
    name: str, customer_id: Id, request: Request, signed: Signed = require_role(AGENTS, write=True)
) -> dict:
    """The number to dial, for the agent the customer is assigned to (403 for another agent); every
    request that reaches the campaign, granted or refused, is audited without the number."""
    try:
        return {"phone": dial.reveal_phone(request.app.state.store, name, customer_id, signed.account)}
    except dial.NotDialable as error:
        raise HTTPException(409, f"现在不能拨打：{NOT_DIALABLE[error.reason]}") from None
    except CampaignError:
        raise HTTPException(404, "没有这个外呼活动或客户") from None


@router.get("/campaigns", response_class=HTMLResponse, include_in_schema=False)
def campaigns_page(
    request: Request, name: str = "", start: Day = None, end: Day = None, signed: Signed = require_role(OVERSEERS)
):
    names = _names(request)
    chosen = name or (names[-1][0] if names else "")
    report, error = None, ""
    try:
        analytics.check_period(start, end)  # said above the form, which keeps the dates to correct
        report = _report(request, signed, chosen, start, end) if chosen else None
    except analytics.PeriodError as problem:
        error = str(problem)
    reasons = {"unspecified": "未说明"}  # the campaign's refusal reason codes, as its definition names them
    if report:
        reasons |= campaign_spec(request.app.state.store.engine, chosen).reason_codes
    return render(
        request,
        "campaigns.html.j2",
        signed,
        names=names,
        chosen=chosen,
        reasons=reasons,
        report=report,
        start=start,
        end=end,
        error=error,
    )
