"""Outbound campaigns in the web app: the report of each campaign (read-only; campaigns are run
from `zuoxi campaign …`). For admins, inspectors and team leads; a team lead sees the campaign's
figures but, per agent, only their own team's agents."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from zuoxi.campaigns import analytics
from zuoxi.campaigns.campaign import CampaignError, get_campaign
from zuoxi.store.queries import team_agents
from zuoxi.store.tables import CampaignRow
from zuoxi.web.pages import render
from zuoxi.store.users import OVERSEERS
from zuoxi.web.security import Signed, require_role

router = APIRouter()


def _names(request: Request) -> list[tuple[str, str]]:
    with Session(request.app.state.store.engine) as session:
        return [(r.name, r.title) for r in session.scalars(select(CampaignRow).order_by(CampaignRow.created_at))]


def _report(request: Request, signed: Signed, name: str):
    try:
        report = analytics.report(request.app.state.store, name)
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
def campaign_report(name: str, request: Request, signed: Signed = require_role(OVERSEERS)) -> dict:
    return _report(request, signed, name).model_dump(mode="json")


@router.get("/campaigns", response_class=HTMLResponse, include_in_schema=False)
def campaigns_page(request: Request, name: str = "", signed: Signed = require_role(OVERSEERS)):
    names = _names(request)
    chosen = name or (names[-1][0] if names else "")
    report = _report(request, signed, chosen) if chosen else None
    reasons = {"unspecified": "未说明"}  # the campaign's refusal reason codes, as its definition names them
    if report:
        with Session(request.app.state.store.engine) as session:
            reasons |= get_campaign(session, chosen)[1].reason_codes
    return render(request, "campaigns.html.j2", signed, names=names, chosen=chosen, reasons=reasons, report=report)
