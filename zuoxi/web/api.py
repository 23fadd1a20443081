"""The JSON API (`/api/…`, documented at `/docs`). The pages use the same domain functions: who
may call a route is its `require_role` (the groups of `zuoxi.store.users`), what they may see is
the scope of `zuoxi.store.queries`."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from zuoxi import review as reviews  # not `review`: the route `review` below would shadow it
from zuoxi.report.export import TooManyToExport, download_name, export_rows, read_through, to_csv, to_xlsx
from zuoxi.store import as_utc
from zuoxi.store import reviews as stored_reviews
from zuoxi.store.audit import AuditView, audit_entries, audit_now
from zuoxi.store.jobs import import_job
from zuoxi.store.queries import dashboard, filter_options, get_conversation, list_conversations
from zuoxi.store.users import (
    ADMINS,
    AGENTS,
    ANYONE,
    INSPECTORS,
    OVERSEERS,
    Account,
    UserError,
    add_user,
    audited,
    close_session,
    list_accounts,
    open_session,
    set_password,
    update_user,
)
from zuoxi.web.params import DB, AuditFilter, Filter, Id
from zuoxi.web.scorecards import ScorecardProblem
from zuoxi.web.security import COOKIE, LoginRefused, Signed, check_login, require_role

router = APIRouter(prefix="/api")
Text = Annotated[str, Field(max_length=2000)]


def utc_iso(moment: datetime) -> str:
    """A time as the API writes it: UTC with its zone (`2026-11-13T11:30:00Z`), as the conversation detail's
    models do. The store keeps naive UTC (SQLite hands back no zone): a time without one is read as UTC."""
    return as_utc(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


def zoned(value):
    """A JSON-able value (dicts, lists, rows of `asdict`) with each datetime written by `utc_iso`: without a zone a
    client would read a naive time as its own local time, 8 hours off in China."""
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, dict):
        return {k: zoned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [zoned(v) for v in value]
    return value


def start_session(request: Request, response: Response, account) -> str:
    token, csrf = open_session(request.app.state.store.engine, account)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=7 * 24 * 3600,
        path="/",
    )
    return csrf


class Login(BaseModel):
    username: Annotated[str, Field(max_length=100)]
    password: Annotated[str, Field(max_length=200)]


@router.post("/login")
def login(body: Login, request: Request, response: Response) -> dict:
    try:
        account = check_login(request, body.username, body.password)
    except LoginRefused as refused:
        if refused.blocked:
            raise HTTPException(429, "登录失败次数过多，请 15 分钟后再试") from None
        raise HTTPException(401, "用户名或密码错误") from None
    csrf = start_session(request, response, account)
    return {"user": asdict(account), "csrf_token": csrf}


@router.post("/logout")
def logout(request: Request, response: Response, engine: DB, signed: Signed = require_role(ANYONE, write=True)) -> dict:
    close_session(engine, request.cookies.get(COOKIE))
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}


@router.get("/me")
def me(signed: Signed = require_role(ANYONE)) -> dict:
    return {"user": asdict(signed.account), "csrf_token": signed.csrf}


@router.get("/conversations")
def conversations(f: Filter, engine: DB, signed: Signed = require_role(ANYONE)) -> dict:
    """One page, worst score first. `total` is exact unless `total_exact` is false (then more than it);
    `next`/`prev` are the cursors of the neighbouring pages (pass as `after`/`before`)."""
    page = list_conversations(engine, signed.account, f)
    return {
        "total": page.total,
        "total_exact": page.exact,
        "page": page.page,
        "pages": page.pages,
        "next": page.next,
        "prev": page.prev,
        "items": [zoned(asdict(i)) for i in page.items],
    }


@router.get("/conversations/{key}")
def conversation(key: str, engine: DB, signed: Signed = require_role(ANYONE)) -> JSONResponse:
    detail = get_conversation(engine, signed.account, key)
    results = []
    for pk, machine, current in detail.results:
        dumped = machine.model_dump(mode="json")
        results.append(
            {
                "result_id": pk,
                "reviewed": detail.reviewed[pk],
                "machine": dumped,
                "current": dumped if current is machine else current.model_dump(mode="json"),
            }
        )
    # Plain JSON already: skip FastAPI's encoder, which would walk every finding again.
    return JSONResponse(
        {"key": detail.key, "conversation": detail.conversation.model_dump(mode="json"), "results": results}
    )


@router.get("/results/{result_id}/history")
def result_history(result_id: Id, engine: DB, signed: Signed = require_role(ANYONE)) -> dict:
    found = stored_reviews.history(engine, signed.account, result_id)
    for entries in found.values():  # the store writes its times as text already, naive: give them their zone
        for entry in entries:
            entry["at"] = utc_iso(datetime.fromisoformat(entry["at"]))
    return found


class ReviewIn(BaseModel):
    rule: Annotated[str, Field(max_length=50)]
    verdict: str  # confirm | overturn
    comment: Text = ""


@router.post("/results/{result_id}/reviews")
def review(result_id: Id, body: ReviewIn, engine: DB, signed: Signed = require_role(INSPECTORS, write=True)) -> dict:
    current = reviews.review_finding(engine, signed.account, result_id, body.rule, body.verdict, body.comment)
    return {"score": current.score, "result": current.model_dump(mode="json")}


class AppealIn(BaseModel):
    rule: Annotated[str, Field(max_length=50)]
    reason: Text


@router.post("/results/{result_id}/appeals")
def appeal(result_id: Id, body: AppealIn, engine: DB, signed: Signed = require_role(AGENTS, write=True)) -> dict:
    return {"appeal_id": reviews.appeal_finding(engine, signed.account, result_id, body.rule, body.reason)}


@router.get("/appeals")
def appeals(
    engine: DB,
    status: Annotated[str | None, Query(max_length=20)] = "open",
    after: Annotated[str | None, Query(pattern=stored_reviews.APPEAL_CURSOR)] = None,
    before: Annotated[str | None, Query(pattern=stored_reviews.APPEAL_CURSOR)] = None,
    per_page: Annotated[int, Query(ge=1, le=stored_reviews.MAX_APPEALS_PER_PAGE)] = stored_reviews.APPEALS_PER_PAGE,
    signed: Signed = require_role(ANYONE),
) -> dict:
    """One page, newest first. `total` is exact unless `total_exact` is false (then more than it); `next`/`prev`
    are the cursors of the neighbouring pages (pass as `after`/`before`)."""
    page = stored_reviews.list_appeals(engine, signed.account, status or None, after, before, per_page)
    return {
        "total": page.total,
        "total_exact": page.exact,
        "next": page.next,
        "prev": page.prev,
        "items": [zoned(asdict(a)) for a in page.items],
    }


class Resolution(BaseModel):
    accept: bool
    comment: Text = ""


@router.post("/appeals/{appeal_id}/resolve")
def resolve(appeal_id: Id, body: Resolution, engine: DB, signed: Signed = require_role(OVERSEERS, write=True)) -> dict:
    current = reviews.resolve_appeal(engine, signed.account, appeal_id, body.accept, body.comment)
    return {"score": current.score}


@router.get("/dashboard")
def dashboard_figures(f: Filter, engine: DB, signed: Signed = require_role(ANYONE)) -> Response:
    """Encoded by json.dumps (times as UTC ISO strings, `utc_iso`): FastAPI's encoder walks every agent's profile
    again, and with a few hundred agents that took longer than reading the figures."""
    return Response(
        json.dumps(asdict(dashboard(engine, signed.account, f)), ensure_ascii=False, default=utc_iso),
        media_type="application/json",
    )


@router.get("/filters")
def filter_values(engine: DB, signed: Signed = require_role(ANYONE)) -> dict:
    return filter_options(engine, signed.account)


@router.post("/uploads")
def upload(
    request: Request, files: list[UploadFile] = File(...), signed: Signed = require_role(INSPECTORS, write=True)
) -> dict:
    """Files arrive spooled to disk (the body limit bounds them); the importer copies them, by
    sanitized names, into its own folder."""
    return {"job_id": request.app.state.importer.submit(signed.account.id, [(f.filename, f.file) for f in files])}


@router.get("/uploads/{job_id}")
def upload_status(job_id: Id, engine: DB, signed: Signed = require_role(INSPECTORS)) -> dict:
    job = import_job(engine, job_id)
    if job is None:
        raise HTTPException(404, "没有这个上传任务")
    if job.user_id != signed.account.id and signed.account.role not in ADMINS:
        raise HTTPException(403, "这是别人的上传任务")
    return zoned({k: v for k, v in asdict(job).items() if k != "user_id"})


@router.get("/scorecards")
def scorecards(request: Request, signed: Signed = require_role(ANYONE)) -> list[dict]:
    titles = request.app.state.scorecards.titles()
    return [{"name": n, "title": titles.get(n, n), "builtin": b} for n, b in request.app.state.scorecards.names()]


@router.get("/scorecards/{name}")
def scorecard(name: str, request: Request, signed: Signed = require_role(ANYONE)) -> dict:
    try:
        return {"name": name, "yaml": request.app.state.scorecards.text(name)}
    except KeyError:
        raise HTTPException(404, "没有这个评分表") from None


class ScorecardIn(BaseModel):
    yaml: Annotated[str, Field(max_length=200_000)]


@router.put("/scorecards/{name}")
def save_scorecard(
    name: str, body: ScorecardIn, request: Request, signed: Signed = require_role(INSPECTORS, write=True)
) -> dict:
    try:
        request.app.state.scorecards.save(signed.account, name, body.yaml)
    except ScorecardProblem as problem:
        raise HTTPException(422, {"problems": problem.problems}) from None
    return {"name": name, "saved": True}


@router.post("/scorecards/{name}/rescore")
def rescore(name: str, request: Request, f: Filter, signed: Signed = require_role(INSPECTORS, write=True)) -> dict:
    try:
        return {"rescored": request.app.state.scorecards.rescore(signed.account, name, f)}
    except KeyError:
        raise HTTPException(404, "没有这个评分表") from None


class Judgement(BaseModel):
    result_id: Id
    rule: Annotated[str, Field(max_length=50)]
    status: str  # pass | fail
    comment: Text = ""


@router.post("/calibration/{round_name}")
def calibrate(
    round_name: str, body: Judgement, engine: DB, signed: Signed = require_role(INSPECTORS, write=True)
) -> dict:
    reviews.calibrate(engine, signed.account, body.result_id, body.rule, body.status, round_name, body.comment)
    return {"ok": True}


@router.get("/calibration/{round_name}")
def calibration(round_name: str, engine: DB, signed: Signed = require_role(OVERSEERS)) -> dict:
    return asdict(reviews.calibration_report(engine, round_name))


@router.get("/rule-precision")
def precision(engine: DB, signed: Signed = require_role(OVERSEERS)) -> list[dict]:
    return [{"rule": r, "reviewed": n, "confirmed": c, "precision": p} for r, n, c, p in reviews.rule_precision(engine)]


def audit_page(request: Request, engine, f: AuditFilter) -> tuple[int, list[AuditView]]:
    """The audit entries of the filter; its days are the app's time zone's days."""
    tz = request.app.state.tz
    since = datetime.combine(f.date_from, time.min, tz) if f.date_from else None
    until = datetime.combine(f.date_to + timedelta(days=1), time.min, tz) if f.date_to else None
    return audit_entries(engine, f.who, f.action, since, until, f.page, f.per_page)


@router.get("/audit")
def audit_log(
    request: Request, engine: DB, f: Annotated[AuditFilter, Query()], signed: Signed = require_role(ADMINS)
) -> dict:
    """The audit log, newest first, filtered by who (username), what (action or prefix) and when."""
    total, entries = audit_page(request, engine, f)
    return {"total": total, "items": [zoned(asdict(e)) for e in entries]}


@router.get("/export.{kind}")
def export(
    kind: Literal["csv", "xlsx"],
    request: Request,
    engine: DB,
    f: Filter,
    which: Literal["scores", "findings"] = "scores",
    signed: Signed = require_role(ANYONE),
) -> Response:
    """The filter's scores (or findings) as CSV, or both as a workbook, streamed; a filter that selects more than one
    export holds is a 422 asking to narrow it (an export is never cut short)."""
    try:
        rows = export_rows(engine, signed.account, f)
    except TooManyToExport as error:
        raise HTTPException(422, str(error)) from None
    plain, chinese = download_name(which if kind == "csv" else "both", kind, datetime.now(request.app.state.tz).date())
    # a Chinese name for browsers (RFC 6266 filename*), an ASCII one for the others
    disposition = {"Content-Disposition": f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(chinese)}"}
    if kind == "csv":
        return StreamingResponse(to_csv(rows, which), media_type="text/csv; charset=utf-8", headers=disposition)
    return StreamingResponse(
        read_through(to_xlsx(rows)),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=disposition,
    )


# --- users (admins) --------------------------------------------------------------------------------


class UserIn(BaseModel):
    username: Annotated[str, Field(max_length=100)]
    password: Annotated[str, Field(max_length=200)]
    role: str
    team: Annotated[str, Field(max_length=100)] | None = None
    agent_id: Annotated[str, Field(max_length=100)] | None = None
    display_name: Annotated[str, Field(max_length=100)] | None = None


class UserChange(BaseModel):
    role: str
    team: Annotated[str, Field(max_length=100)] | None = None
    agent_id: Annotated[str, Field(max_length=100)] | None = None
    display_name: Annotated[str, Field(max_length=100)] | None = None
    active: bool = True


class PasswordIn(BaseModel):
    password: Annotated[str, Field(max_length=200)]


def create_user(engine, admin: Account, body: UserIn) -> Account:
    """Add a user, audited; HTTP 422 with the reason when refused (shared by the API and the users page)."""
    try:
        account = add_user(engine, body.username, body.password, body.role, body.team, body.agent_id, body.display_name)
    except UserError as error:
        raise HTTPException(422, str(error)) from None
    audit_now(engine, admin, "user.add", "user", account.id, None, audited(account))
    return account


def change_user(engine, admin: Account, user_id: int, body: UserChange) -> Account:
    """Change a user's role, team, agent id, name or access, audited with before and after. An admin
    cannot lock themselves out (disable themselves or drop their own admin role), and the store refuses any
    change that leaves no active admin (`zuoxi.store.users.LAST_ADMIN`: two admins demoting each other at once)."""
    if user_id == admin.id and (not body.active or body.role not in ADMINS):
        raise HTTPException(422, "不能停用自己或取消自己的管理员角色")
    try:
        before, after = update_user(
            engine, user_id, body.role, body.team, body.agent_id, body.display_name, body.active
        )
    except UserError as error:
        raise HTTPException(422, str(error)) from None
    except LookupError:
        raise HTTPException(404, "没有这个用户") from None
    audit_now(engine, admin, "user.update", "user", user_id, audited(before), audited(after))
    return after


def reset_password(engine, admin: Account, user_id: int, password: str) -> Account:
    try:
        account = set_password(engine, user_id, password)
    except UserError as error:
        raise HTTPException(422, str(error)) from None
    except LookupError:
        raise HTTPException(404, "没有这个用户") from None
    audit_now(engine, admin, "user.password", "user", user_id, None, {"username": account.username})
    return account


@router.get("/users")
def users(engine: DB, signed: Signed = require_role(ADMINS)) -> list[dict]:
    return [zoned(asdict(a)) for a in list_accounts(engine)]


@router.post("/users")
def add_user_api(body: UserIn, engine: DB, signed: Signed = require_role(ADMINS, write=True)) -> dict:
    return asdict(create_user(engine, signed.account, body))


@router.put("/users/{user_id}")
def change_user_api(
    user_id: Id, body: UserChange, engine: DB, signed: Signed = require_role(ADMINS, write=True)
) -> dict:
    return asdict(change_user(engine, signed.account, user_id, body))


@router.post("/users/{user_id}/password")
def password_api(user_id: Id, body: PasswordIn, engine: DB, signed: Signed = require_role(ADMINS, write=True)) -> dict:
    reset_password(engine, signed.account, user_id, body.password)
    return {"ok": True}
