"""Outbound campaigns in the web app: the report of each campaign, for admins, inspectors and team
leads (campaigns are run from `zuoxi campaign …`), and the number to dial, for the assigned agent only."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from zuoxi.campaigns import analytics, dial
from zuoxi.campaigns.campaign import CampaignError
from zuoxi.store.tables import CampaignRow
from zuoxi.web.api import writer
from zuoxi.web.pages import render
from zuoxi.web.security import Signed, require_overseer, require_user

router = APIRouter()


def _names(request: Request) -> list[tuple[str, str]]:
    with Session(request.app.state.store.engine) as session:
        return [(r.name, r.title) for r in session.scalars(select(CampaignRow).order_by(CampaignRow.created_at))]


def _report(request: Request, name: str, start: date | None = None, end: date | None = None):
    try:
        return analytics.report(request.app.state.store, name, start, end)
    except CampaignError:
        raise HTTPException(404, f"no campaign {name}") from None


@router.get("/api/campaigns")
def campaigns(request: Request, signed: Signed = Depends(require_user)) -> list[dict]:
    require_overseer(signed)
    return [{"name": n, "title": t} for n, t in _names(request)]


@router.get("/api/campaigns/{name}")
def campaign_report(name: str, request: Request, start: date | None = None, end: date | None = None,
                    signed: Signed = Depends(require_user)) -> dict:
    """The report over the campaign's local days `start`–`end` (both included, each optional)."""
    require_overseer(signed)
    return _report(request, name, start, end).model_dump(mode="json")


@router.post("/api/campaigns/{name}/customers/{customer_id}/dial")
def reveal_number(name: str, customer_id: int, request: Request, signed: Signed = Depends(writer)) -> dict:
    """The number to dial, for the agent the customer is assigned to (403 for anyone else); audited."""
    try:
        return {"phone": dial.reveal_phone(request.app.state.store, name, customer_id, signed.account)}
    except CampaignError as error:
        raise HTTPException(409, str(error)) from None


@router.get("/campaigns", response_class=HTMLResponse, include_in_schema=False)
def campaigns_page(request: Request, name: str = "", signed: Signed = Depends(require_user)):
    require_overseer(signed)
    names = _names(request)
    chosen = name or (names[-1][0] if names else "")
    return render(request, "campaigns.html.j2", signed, names=names, chosen=chosen,
                  report=_report(request, chosen) if chosen else None)
