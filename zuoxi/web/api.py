"""The JSON API (`/api/…`, documented at `/docs`). The pages use the same domain functions, so
access rules are enforced once, in `zuoxi.store.queries` and `zuoxi.review`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Literal

from annotated_types import Interval
from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, Response, UploadFile
from pydantic import BaseModel, BeforeValidator
from sqlalchemy import select
from sqlalchemy.orm import Session

from zuoxi import review as R
from zuoxi.report.export import export_rows, to_csv, to_xlsx
from zuoxi.store.queries import ConversationFilter, dashboard, filter_options, get_conversation, list_conversations
from zuoxi.store.tables import AuditEntry, ImportJob
from zuoxi.store.users import ROLES, UserError, add_user, close_session, list_accounts, open_session
from zuoxi.web.scorecards import ScorecardProblem
from zuoxi.web.security import COOKIE, LoginRefused, Signed, check_csrf, check_login, require_overseer, require_user

router = APIRouter(prefix="/api")

MAX_ID = 2**31 - 1  # what an INTEGER column holds: larger numbers are refused (422), never sent to the database
Id = Annotated[int, Interval(ge=1, le=MAX_ID)]


def _blank_is_none(value):
    """A filter form sends its empty fields (`score_min=`): empty means "any"."""
    return None if isinstance(value, str) and not value.strip() else value


Score = Annotated[Annotated[float, Interval(ge=-1000, le=1000)] | None, BeforeValidator(_blank_is_none)]
Risk = Annotated[Annotated[float, Interval(ge=0, le=1)] | None, BeforeValidator(_blank_is_none)]
Day = Annotated[date | None, BeforeValidator(_blank_is_none)]


def filters(
    agent_id: str | None = None, team: str | None = None, channel: str | None = None, scorecard: str | None = None,
    date_from: Day = None, date_to: Day = None, score_min: Score = None, score_max: Score = None,
    failed_rule: str | None = None, risk_min: Risk = None, q: str | None = None,
    page: int = Query(1, ge=1, le=100_000), per_page: int = Query(50, ge=1, le=500),
) -> ConversationFilter:
    """The list/dashboard/export filters, as query parameters (each bounded; blank means any)."""
    return ConversationFilter(agent_id or None, team or None, channel or None, scorecard or None, date_from, date_to,
                              score_min, score_max, failed_rule or None, risk_min, q or None, page, per_page)


async def writer(request: Request, signed: Signed = Depends(require_user)) -> Signed:
    """A signed-in user making a change: the CSRF token is required."""
    await check_csrf(request, signed)
    return signed


def start_session(request: Request, response: Response, account) -> str:
    token, csrf = open_session(request.app.state.store.engine, account)
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        max_age=7 * 24 * 3600, path="/")
    return csrf


class Login(BaseModel):
    username: str
    password: str


@router.post("/login")
def login(body: Login, request: Request, response: Response) -> dict:
    try:
        account = check_login(request, body.username, body.password)
    except LoginRefused as refused:
        if refused.blocked:
            raise HTTPException(429, "too many failed sign-ins; wait 15 minutes") from None
        raise HTTPException(401, "wrong username or password") from None
    csrf = start_session(request, response, account)
    return {"user": asdict(account), "csrf_token": csrf}


@router.post("/logout")
def logout(request: Request, response: Response, signed: Signed = Depends(writer)) -> dict:
    close_session(request.app.state.store.engine, request.cookies.get(COOKIE))
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}


@router.get("/me")
def me(signed: Signed = Depends(require_user)) -> dict:
    return {"user": asdict(signed.account), "csrf_token": signed.csrf}


@router.get("/conversations")
def conversations(request: Request, f: ConversationFilter = Depends(filters), signed: Signed = Depends(require_user)) -> dict:
    page = list_conversations(request.app.state.store.engine, signed.account, f)
    return {"total": page.total, "page": page.page, "pages": page.pages, "items": [asdict(i) for i in page.items]}


@router.get("/conversations/{key}")
def conversation(key: str, request: Request, signed: Signed = Depends(require_user)) -> dict:
    detail = get_conversation(request.app.state.store.engine, signed.account, key)
    return {
        "key": detail.key, "conversation": detail.conversation.model_dump(mode="json"),
        "results": [{"result_id": pk, "reviewed": detail.reviewed[pk], "machine": machine.model_dump(mode="json"),
                     "current": current.model_dump(mode="json")} for pk, machine, current in detail.results],
    }


@router.get("/results/{result_id}/history")
def result_history(result_id: Id, request: Request, signed: Signed = Depends(require_user)) -> dict:
    return R.history(request.app.state.store.engine, signed.account, result_id)


class ReviewIn(BaseModel):
    rule: str
    verdict: str  # confirm | overturn
    comment: str = ""


@router.post("/results/{result_id}/reviews")
def review(result_id: Id, body: ReviewIn, request: Request, signed: Signed = Depends(writer)) -> dict:
    current = R.review_finding(request.app.state.store.engine, signed.account, result_id, body.rule, body.verdict, body.comment)
    return {"score": current.score, "result": current.model_dump(mode="json")}


class AppealIn(BaseModel):
    rule: str
    reason: str


@router.post("/results/{result_id}/appeals")
def appeal(result_id: Id, body: AppealIn, request: Request, signed: Signed = Depends(writer)) -> dict:
    return {"appeal_id": R.appeal_finding(request.app.state.store.engine, signed.account, result_id, body.rule, body.reason)}


@router.get("/appeals")
def appeals(request: Request, status: str | None = "open", signed: Signed = Depends(require_user)) -> list[dict]:
    return [asdict(a) for a in R.list_appeals(request.app.state.store.engine, signed.account, status or None)]


class Resolution(BaseModel):
    accept: bool
    comment: str = ""


@router.post("/appeals/{appeal_id}/resolve")
def resolve(appeal_id: Id, body: Resolution, request: Request, signed: Signed = Depends(writer)) -> dict:
    current = R.resolve_appeal(request.app.state.store.engine, signed.account, appeal_id, body.accept, body.comment)
    return {"score": current.score}


@router.get("/dashboard")
def dashboard_figures(request: Request, f: ConversationFilter = Depends(filters), signed: Signed = Depends(require_user)) -> dict:
    return asdict(dashboard(request.app.state.store.engine, signed.account, f))


@router.get("/filters")
def filter_values(request: Request, signed: Signed = Depends(require_user)) -> dict:
    return filter_options(request.app.state.store.engine, signed.account)


@router.post("/uploads")
def upload(request: Request, files: list[UploadFile] = File(...), signed: Signed = Depends(writer)) -> dict:
    """Files arrive spooled to disk (the body limit bounds them); the importer copies them, by
    sanitized names, into its own folder."""
    if signed.account.role == "agent":
        raise HTTPException(403, "坐席不能上传会话")
    return {"job_id": request.app.state.importer.submit(signed.account.id, [(f.filename, f.file) for f in files])}


@router.get("/uploads/{job_id}")
def upload_status(job_id: Id, request: Request, signed: Signed = Depends(require_user)) -> dict:
    with Session(request.app.state.store.engine) as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            raise HTTPException(404, "no such upload")
        if job.user_id != signed.account.id and signed.account.role != "admin":
            raise HTTPException(403, "not your upload")
        return {"id": job.id, "status": job.status, "files": job.files, "files_done": job.files_done,
                "conversations": job.conversations, "errors": job.errors}


@router.get("/scorecards")
def scorecards(request: Request, signed: Signed = Depends(require_user)) -> list[dict]:
    return [{"name": n, "builtin": b} for n, b in request.app.state.scorecards.names()]


@router.get("/scorecards/{name}")
def scorecard(name: str, request: Request, signed: Signed = Depends(require_user)) -> dict:
    try:
        return {"name": name, "yaml": request.app.state.scorecards.text(name)}
    except KeyError:
        raise HTTPException(404, f"no scorecard {name}") from None


class ScorecardIn(BaseModel):
    yaml: str


def _editor(signed: Signed) -> None:
    if signed.account.role not in ("admin", "inspector"):
        raise HTTPException(403, "only inspectors and admins edit scorecards")


@router.put("/scorecards/{name}")
def save_scorecard(name: str, body: ScorecardIn, request: Request, signed: Signed = Depends(writer)) -> dict:
    _editor(signed)
    try:
        request.app.state.scorecards.save(signed.account, name, body.yaml)
    except ScorecardProblem as problem:
        raise HTTPException(422, {"problems": problem.problems}) from None
    return {"name": name, "saved": True}


@router.post("/scorecards/{name}/rescore")
def rescore(name: str, request: Request, f: ConversationFilter = Depends(filters), signed: Signed = Depends(writer)) -> dict:
    _editor(signed)
    try:
        return {"rescored": request.app.state.scorecards.rescore(signed.account, name, f)}
    except KeyError:
        raise HTTPException(404, f"no scorecard {name}") from None


class Judgement(BaseModel):
    result_id: Id
    rule: str
    status: str  # pass | fail
    comment: str = ""


@router.post("/calibration/{round_name}")
def calibrate(round_name: str, body: Judgement, request: Request, signed: Signed = Depends(writer)) -> dict:
    R.calibrate(request.app.state.store.engine, signed.account, body.result_id, body.rule, body.status, round_name, body.comment)
    return {"ok": True}


@router.get("/calibration/{round_name}")
def calibration(round_name: str, request: Request, signed: Signed = Depends(require_user)) -> dict:
    require_overseer(signed)
    return asdict(R.calibration_report(request.app.state.store.engine, round_name))


@router.get("/rule-precision")
def precision(request: Request, signed: Signed = Depends(require_user)) -> list[dict]:
    require_overseer(signed)
    return [{"rule": r, "reviewed": n, "confirmed": c, "precision": p} for r, n, c, p in R.rule_precision(request.app.state.store.engine)]


@router.get("/audit")
def audit_log(request: Request, limit: int = Query(200, ge=1, le=5000), signed: Signed = Depends(require_user)) -> list[dict]:
    if not signed.account.can_admin:
        raise HTTPException(403, "admins only")
    with Session(request.app.state.store.engine) as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
        return [{"at": e.at.isoformat(), "user_id": e.user_id, "action": e.action, "entity": e.entity,
                 "entity_id": e.entity_id, "before": e.before, "after": e.after} for e in rows]


@router.get("/export.{kind}")
def export(kind: str, request: Request, f: ConversationFilter = Depends(filters),
           which: Literal["scores", "findings"] = "scores",
           signed: Signed = Depends(require_user)) -> Response:
    scores, findings = export_rows(request.app.state.store.engine, signed.account, f)
    if kind == "csv":
        return Response(to_csv(scores, findings, which), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="zuoxi-{which}.csv"'})
    if kind == "xlsx":
        return Response(to_xlsx(scores, findings),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="zuoxi-export.xlsx"'})
    raise HTTPException(404, "export.csv or export.xlsx")


@router.get("/users")
def users(request: Request, signed: Signed = Depends(require_user)) -> list[dict]:
    if not signed.account.can_admin:
        raise HTTPException(403, "admins only")
    return [asdict(a) for a in list_accounts(request.app.state.store.engine)]


class UserIn(BaseModel):
    username: str
    password: str
    role: str
    team: str | None = None
    agent_id: str | None = None
    display_name: str | None = None


@router.post("/users")
def create_user(body: UserIn, request: Request, signed: Signed = Depends(writer)) -> dict:
    if not signed.account.can_admin:
        raise HTTPException(403, "admins only")
    if body.role not in ROLES:
        raise HTTPException(422, f"role must be one of {', '.join(ROLES)}")
    try:
        account = add_user(request.app.state.store.engine, body.username, body.password, body.role, body.team,
                           body.agent_id, body.display_name)
    except UserError as error:
        raise HTTPException(422, str(error)) from None
    with Session(request.app.state.store.engine) as session, session.begin():
        R.audit(session, signed.account, "user.add", "user", account.id, None,
                {"username": account.username, "role": account.role, "team": account.team})
    return asdict(account)
