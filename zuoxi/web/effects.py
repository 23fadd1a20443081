"""技能价值: what each behaviour goes with on the customer's side, one agent against everyone else,
and training's effect (zuoxi.effects). For team leads (their team's conversations and drills only),
inspectors and admins; agents get 403. Pages and JSON show the same figures as `zuoxi effects`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse

from zuoxi.effects.behaviours import ADJUSTMENT, CAVEAT, OUTCOMES
from zuoxi.effects.coaching import CAVEAT as TRAINING_CAVEAT
from zuoxi.effects.coaching import TrainingReport, Window
from zuoxi.effects.report import RECENT_DAYS, agent_report, effects_report, training_report
from zuoxi.report.labels import EFFECT_VERDICTS
from zuoxi.store.effects import drilled_cases
from zuoxi.store.queries import ConversationFilter, filter_options
from zuoxi.store.users import OVERSEERS
from zuoxi.web.pages import render, templates
from zuoxi.web.params import Day
from zuoxi.web.security import Signed, require_role

router = APIRouter()
Text = Annotated[str, Query(max_length=100)]
SORTS = ("behaviour", "shown", "missed", *OUTCOMES)
VERDICTS = EFFECT_VERDICTS


def _difference(value: float | None, percent: bool) -> str:
    """A difference as people read it: percentage points for rates and probabilities, else points."""
    if value is None:
        return "—"
    return f"{value * 100:+.1f} 个百分点" if percent else f"{value:+.2f} 分"


def _number(value: float, percent: bool) -> str:
    """An interval's end, in the unit of the difference beside it."""
    return f"{value * 100:+.1f}" if percent else f"{value:+.2f}"


def _level(value: float | None, percent: bool) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}%" if percent else f"{value:.2f}"


templates.env.filters.update(fx_difference=_difference, fx_number=_number, fx_level=_level)
templates.env.globals.update(fx_verdicts=VERDICTS, fx_recent_days=RECENT_DAYS)


def effect_filter(
    request: Request,
    team: Text = "",
    scorecard: Text = "",
    channel: Text = "",
    date_from: Day = None,
    date_to: Day = None,
) -> ConversationFilter:
    """Which conversations the effects are computed over (blank means any; each value bounded; no dates:
    the recent ones, `zuoxi.effects.report.recent`)."""
    return ConversationFilter(
        team=team or None,
        scorecard=scorecard or None,
        channel=channel or None,
        date_from=date_from,
        date_to=date_to,
        tz=request.app.state.tz,
    )


def _sorted(behaviours, sort: str, kind: str):
    rows = [b for b in behaviours if kind in ("", b.kind)]
    if sort in ("shown", "missed"):
        return sorted(rows, key=lambda b: -getattr(b, sort))
    if sort in OUTCOMES:

        def benefit(b):
            found = b.effects.get(sort)
            return -found.adjusted.value * OUTCOMES[sort].better if found and found.adjusted else float("inf")

        return sorted(rows, key=benefit)
    return rows


# --- JSON ------------------------------------------------------------------------------------------


@router.get("/api/effects")
def effects_api(
    request: Request, f: ConversationFilter = Depends(effect_filter), signed: Signed = require_role(OVERSEERS)
) -> dict:
    return effects_report(request.app.state.store.engine, signed.account, f).model_dump(mode="json")


@router.get("/api/effects/agents/{agent_id:path}")
def agent_api(
    request: Request,
    agent_id: Annotated[str, Path(max_length=100)],
    outcome: Text = "complaint",
    f: ConversationFilter = Depends(effect_filter),
    signed: Signed = require_role(OVERSEERS),
) -> dict:
    return agent_report(request.app.state.store.engine, signed.account, agent_id, f, outcome).model_dump(mode="json")


def _training(
    request: Request,
    signed: Signed,
    case: str,
    before_from: date | None,
    before_to: date | None,
    after_from: date | None,
    after_to: date | None,
    team: str,
) -> TrainingReport:
    before: Window | None = None
    after: Window | None = None
    if before_from and before_to and after_from and after_to:
        before, after = Window(before_from, before_to), Window(after_from, after_to)
    elif before_from or before_to or after_from or after_to:
        raise ValueError("请填写培训前、培训后两个时间窗的全部四个日期，或全部留空（按演练时间自动选取）")
    return training_report(
        request.app.state.store.engine,
        signed.account,
        request.app.state.cases,
        case,
        before,
        after,
        team=team or None,
        tz=request.app.state.tz,
    )


@router.get("/api/effects/training")
def training_api(
    request: Request,
    case: Text,
    before_from: Day = None,
    before_to: Day = None,
    after_from: Day = None,
    after_to: Day = None,
    team: Text = "",
    signed: Signed = require_role(OVERSEERS),
) -> dict:
    try:
        report = _training(request, signed, case, before_from, before_to, after_from, after_to, team)
    except ValueError as error:
        raise HTTPException(400, str(error)) from None
    return report.model_dump(mode="json")


# --- pages ---------------------------------------------------------------------------------------


@router.get("/effects", response_class=HTMLResponse, include_in_schema=False)
def effects_page(
    request: Request,
    f: ConversationFilter = Depends(effect_filter),
    sort: Text = "",
    kind: Text = "",
    signed: Signed = require_role(OVERSEERS),
):
    engine = request.app.state.store.engine
    report = effects_report(engine, signed.account, f)
    kind = kind if kind in ("rule", "profile") else ""
    sort = sort if sort in SORTS else ""
    return render(
        request,
        "effects.html.j2",
        signed,
        report=report,
        rows=_sorted(report.behaviours, sort, kind),
        f=f,
        sort=sort,
        kind=kind,
        options=filter_options(engine, signed.account),
        adjustment=ADJUSTMENT,
        caveat=CAVEAT,
    )


@router.get("/effects/agents/{agent_id:path}", response_class=HTMLResponse, include_in_schema=False)
def agent_page(
    request: Request,
    agent_id: Annotated[str, Path(max_length=100)],
    outcome: Text = "complaint",
    f: ConversationFilter = Depends(effect_filter),
    signed: Signed = require_role(OVERSEERS),
):
    report = agent_report(request.app.state.store.engine, signed.account, agent_id, f, outcome)
    return render(
        request,
        "effects_agent.html.j2",
        signed,
        report=report,
        view=report.view,
        f=f,
        chosen=OUTCOMES[report.view.outcome],
        options=filter_options(request.app.state.store.engine, signed.account),
    )


@router.get("/effects/training", response_class=HTMLResponse, include_in_schema=False)
def training_page(
    request: Request,
    case: Text = "",
    before_from: Day = None,
    before_to: Day = None,
    after_from: Day = None,
    after_to: Day = None,
    team: Text = "",
    signed: Signed = require_role(OVERSEERS),
):
    engine = request.app.state.store.engine
    cases = drilled_cases(engine, signed.account)
    report, error = None, ""
    if case:
        try:
            report = _training(request, signed, case, before_from, before_to, after_from, after_to, team)
        except ValueError as problem:
            error = str(problem)
    return render(
        request,
        "effects_training.html.j2",
        signed,
        cases=cases,
        titles={c.id: c.title for c in request.app.state.cases.cases()},  # the selector names cases by title
        case=case,
        report=report,
        error=error,
        team=team,
        options=filter_options(engine, signed.account),
        caveat=TRAINING_CAVEAT,
        dates={"before_from": before_from, "before_to": before_to, "after_from": after_from, "after_to": after_to},
    )
