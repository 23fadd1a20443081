"""Server-rendered pages. Forms post back here (with the session's CSRF token) and redirect, so
every page works without JavaScript except the charts and the upload progress.

Templates are autoescaped whatever their file name (`*.html.j2` would escape nothing under
Jinja's extension rule); data for a page's script travels as `<script type="application/json">`
written by `|tojson`, and the scripts themselves are static files (the CSP allows no inline code)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

import soundfile
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from zuoxi import review
from zuoxi.audio.align import resolve as resolve_audio
from zuoxi.queues.items import tasks_for
from zuoxi.queues.precision import precision_by_share
from zuoxi.report import highlight
from zuoxi.report.labels import EMOTION_NAMES, ROLE_NAMES, SATISFACTION_NAMES, SKILL_NAMES, without_bidi_controls
from zuoxi.rules.engine import CORE_SKILLS
from zuoxi.store import reviews as stored_reviews
from zuoxi.store.queries import ConversationFilter, dashboard, filter_options, get_conversation, list_conversations
from zuoxi.store.queues import open_alert_count
from zuoxi.store.users import ADMINS, AGENTS, ANYONE, INSPECTORS, OVERSEERS, ROLES, close_session, list_accounts
from zuoxi.web import display as D
from zuoxi.web.api import (
    PasswordIn,
    UserChange,
    UserIn,
    audit_page,
    change_user,
    create_user,
    reset_password,
    start_session,
)
from zuoxi.web.params import DB, MAX_ID, AuditFilter, Filter, Id
from zuoxi.web.scorecards import NAME as SCORECARD_NAME
from zuoxi.web.scorecards import ScorecardProblem
from zuoxi.web.security import COOKIE, LoginRefused, Signed, check_login, notices, require_role, seal

MAX_OFFSET = 10_000  # rows before the last page that has a numbered link

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=True,
        finalize=without_bidi_controls,
    )
)
templates.env.globals.update(
    skill_names=SKILL_NAMES,
    role_names=ROLE_NAMES,
    satisfaction_names=SATISFACTION_NAMES,
    emotion_names=EMOTION_NAMES,
    role_titles=D.ROLE_TITLES,
    channel_names=D.CHANNEL_NAMES,
    status_names=D.STATUS_NAMES,
    severity_names=D.SEVERITY_NAMES,
    appeal_status=D.APPEAL_STATUS,
    verdict_names=D.VERDICT_NAMES,
    segment_names=D.SEGMENT_NAMES,
    outcome_names=D.OUTCOME_NAMES,
    audit_actions=D.AUDIT_ACTIONS,
    ADMINS=ADMINS,
    AGENTS=AGENTS,
    INSPECTORS=INSPECTORS,
    OVERSEERS=OVERSEERS,
    ROLES=ROLES,
)
templates.env.filters.update(
    q=lambda value: quote(str(value), safe=""),  # one URL path segment or query value
    local=D.local_time,
    num=D.number,
    pct=D.percent,
    reason=D.version_reason,
)


def render(request: Request, template: str, signed: Signed | None, **context) -> HTMLResponse:
    """The page, its menu and, unless the context says otherwise, the message a form's redirect sealed for this
    session (`back`): `error` and `done`, never text a link put in the query (`notices`)."""
    error, done = notices(request, signed)
    return templates.TemplateResponse(
        request,
        template,
        {
            "me": signed.account if signed else None,
            "csrf": signed.csrf if signed else "",
            "tz": request.app.state.tz,
            "scorecard_names": request.app.state.scorecards.titles(),
            "alert_count": open_alert_count(
                request.app.state.store.engine, signed.account
            )  # 投诉预警 in the menu at once
            if signed and signed.account.role in OVERSEERS
            else 0,
            "error": error,
            "done": done,
            **context,
        },
    )


def back(url: str, signed: Signed | None = None, *, error: str = "", done: str = "", **params) -> RedirectResponse:
    """A redirect after a form (303) to `url` with `params`; `error` or `done`, the message the page shows, goes in
    its query sealed for the session of `signed` (`seal`), so that the page shows it to this session only."""
    values = {k: v for k, v in params.items() if v}
    if error or done:
        if signed is None:
            raise ValueError("a page message needs the session it is sealed for")
        values |= {k: v for k, v in (("error", error), ("done", done)) if v}
        values["sig"] = seal(signed.csrf, error, done)
    query = urlencode(values)
    return RedirectResponse(f"{url}?{query}" if query else url, status_code=303)


def query_string(f: ConversationFilter, **override) -> str:
    """The filter as a query string (what links to other pages or exports keep), defaults left out."""
    values = {k: v for k, v in asdict(f).items() if v not in (None, "") and k not in ("tz", "after", "before")}
    values.update(override)
    return urlencode(
        {k: v for k, v in values.items() if v not in (None, "") and (k, v) not in (("page", 1), ("per_page", 50))}
    )


def page_numbers(current: int, pages: int, last: bool = True) -> list[int | None]:
    """The page links to show: the first, the last (when the total is known) and two either side of
    the current one; None for a gap."""
    shown = sorted({1, *([pages] if last else []), *range(max(1, current - 2), min(pages, current + 2) + 1)})
    return [n for a, b in zip([0, *shown], shown) for n in ((None, b) if b - a > 1 and a else (b,))]


# --- sign in ---------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = Query("/", max_length=2000)):
    """The sign-in form; it shows no message from its URL (`/login?error=账号已冻结…` was a phishing link)."""
    return render(request, "login.html.j2", None, next=next)


@router.post("/login")
def login_form(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/")):
    """A field left out or too long is said on the sign-in page, like a wrong password (a 422 was a JSON page)."""
    next = next[:2000]
    if not username.strip() or not password:
        return render(request, "login.html.j2", None, next=next, error="请输入用户名和密码")
    try:
        if len(username) > 100 or len(password) > 200:  # no account has one so long: not worth a password check
            raise LoginRefused(blocked=False)
        account = check_login(request, username, password)
    except LoginRefused as refused:
        error = "登录失败次数过多，请 15 分钟后再试" if refused.blocked else "用户名或密码错误"
        return render(request, "login.html.j2", None, next=next, error=error)
    local = next.startswith("/") and not next.startswith(("//", "/\\")) and "\\" not in next
    response = back(next if local else "/")
    start_session(request, response, account)
    return response


@router.post("/logout")
def logout(request: Request, engine: DB, signed: Signed = require_role(ANYONE, write=True)):
    close_session(engine, request.cookies.get(COOKIE))
    response = back("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


# --- dashboard and lists ---------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, f: Filter, engine: DB, signed: Signed = require_role(ANYONE)):
    figures = dashboard(engine, signed.account, f)
    return render(
        request,
        "dashboard.html.j2",
        signed,
        d=figures,
        f=f,
        options=filter_options(engine, signed.account),
        chart_data={
            "bands": figures.bands,
            "trend": figures.trend,
            "skills": figures.skills,
            "profiles": figures.profiles,
            "skill_names": SKILL_NAMES,
            "core_skills": CORE_SKILLS,
        },
        qs=query_string(f),
    )


@router.get("/conversations", response_class=HTMLResponse)
def conversation_list(request: Request, f: Filter, engine: DB, signed: Signed = require_role(ANYONE)):
    page = list_conversations(engine, signed.account, f)
    # Numbered links count rows from the start, so only the first MAX_OFFSET rows' pages have one;
    # 上一页/下一页 follow the cursors, as fast on page 20,000 as on page 2.
    numbered = min(page.pages, max(1, MAX_OFFSET // page.per_page))
    return render(
        request,
        "list.html.j2",
        signed,
        page=page,
        f=f,
        options=filter_options(engine, signed.account),
        qs=query_string(f, page=None, per_page=None),
        page_qs=lambda n, **cursor: query_string(f, page=n, **cursor),
        page_numbers=page_numbers(min(page.page, numbered), numbered, last=page.exact and numbered == page.pages),
        beyond_numbers=page.page > numbered,  # a page past the numbered ones is shown after them, marked
    )


@router.get("/conversations/{key}", response_class=HTMLResponse)
def conversation_detail(
    key: str,
    request: Request,
    engine: DB,
    signed: Signed = require_role(ANYONE),
):
    return _detail_page(key, request, engine, signed)


def _detail_page(key: str, request: Request, engine, signed: Signed, **context) -> HTMLResponse:
    """The conversation page; `context` adds to it (a refused form's `error` and what was typed in it)."""
    detail = get_conversation(engine, signed.account, key)
    conv = detail.conversation
    views = []
    for pk, machine, current in detail.results:
        marks: dict[int, list[tuple[int, int, str]]] = {}
        for finding in machine.findings:
            if finding.status == "fail":
                for e in finding.evidence:
                    marks.setdefault(e.turn, []).append((e.start, e.end, finding.rule))
        emotions = {e.turn: e for e in current.customer_emotion}
        history = stored_reviews.history(engine, signed.account, pk)
        views.append(
            {
                "pk": pk,
                "machine": machine,
                "current": current,
                "reviewed": detail.reviewed[pk],
                "machine_status": {f.rule: f.status for f in machine.findings},
                "history": history,
                "confirmed": {
                    x["rule"]: x["verdict"] == "confirm" for x in history["reviews"]
                },  # the latest review wins
                "turns": [
                    {
                        "index": i,
                        "role": t.role,
                        "text": highlight(t.text, marks.get(i, [])),
                        "start": t.start,
                        "emotion": emotions.get(i),
                    }
                    for i, t in enumerate(conv.turns)
                ],
                "curve": [{"turn": e.turn, "score": e.score, "label": e.label} for e in current.customer_emotion],
            }
        )
    tasks = (
        tasks_for(
            engine, signed.account, [pk for pk, _, _ in detail.results], datetime.now(request.app.state.tz).date()
        )
        if signed.account.role in INSPECTORS
        else []
    )  # this inspector's queue items on the conversation
    return render(
        request,
        "detail.html.j2",
        signed,
        conv=conv,
        key=key,
        views=views,
        has_audio=_recording(request, detail) is not None,
        tasks=tasks,
        appeal_limit=stored_reviews.MAX_REASON,
        **context,
    )


@router.get("/conversations/{key}/audio")
def conversation_audio(key: str, request: Request, engine: DB, signed: Signed = require_role(ANYONE)):
    """The call recording, for the player on the detail page (same scope check as the page)."""
    path = _recording(request, get_conversation(engine, signed.account, key))
    if path is None:
        raise HTTPException(404, "这个会话没有录音")
    return FileResponse(path)


AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}


def _recording(request: Request, detail) -> Path | None:
    """The conversation's recording, if it is a readable audio file inside the recordings folder
    (`zuoxi serve --recordings DIR`): `audio` comes from imported data, so it must never turn into
    a way to download any other file from the server. A relative path is looked up beside the
    file it was imported from, then in the recordings folder."""
    root: Path | None = request.app.state.recordings
    if root is None or not detail.conversation.audio:
        return None
    places = [
        resolve_audio(detail.conversation, Path(detail.source).parent if detail.source else None),
        resolve_audio(detail.conversation, root),
    ]
    try:
        found = dict.fromkeys(p.resolve() for p in places if p is not None)
        for path in found:
            if path.is_relative_to(root) and path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
                try:
                    soundfile.info(str(path))
                except Exception:  # noqa: BLE001, S112 - not audio, whatever the reason: do not serve it (nothing to log)
                    continue
                return path
    except (ValueError, OSError):  # a NUL byte in the name, a name longer than the system allows: nothing to play
        return None
    return None


@router.post("/conversations/{key}/review")
def review_form(
    key: str,
    engine: DB,
    result_id: Annotated[Id, Form()],
    rule: str = Form(..., max_length=50),
    verdict: str = Form(...),
    comment: str = Form("", max_length=2000),
    signed: Signed = require_role(INSPECTORS, write=True),
):
    try:
        review.review_finding(engine, signed.account, result_id, rule, verdict, comment)
    except review.ReviewError as error:
        return back(f"/conversations/{key}", signed, error=str(error))
    return back(f"/conversations/{key}")


@router.post("/conversations/{key}/appeal")
def appeal_form(
    key: str,
    request: Request,
    engine: DB,
    result_id: Annotated[Id, Form()],
    rule: str = Form(..., max_length=50),
    reason: str = Form(""),  # its bound is checked below, so that the page keeps what was typed
    signed: Signed = require_role(AGENTS, write=True),
):
    """An agent's appeal. Refused (too long, empty, one already open), the page comes again with the message and the
    reason as typed in its finding's form: a bare error page lost it."""
    try:
        if len(reason.strip()) > stored_reviews.MAX_REASON:
            raise review.ReviewError(
                f"申诉理由太长：{len(reason.strip()):,} 个字，最多 {stored_reviews.MAX_REASON:,} 个字，请删减后再提交"
            )
        review.appeal_finding(engine, signed.account, result_id, rule, reason)
    except review.ReviewError as error:
        page = _detail_page(
            key,
            request,
            engine,
            signed,
            error=str(error),
            typed={"result_id": result_id, "rule": rule, "reason": reason},
        )
        page.status_code = 400
        return page
    return back(f"/conversations/{key}")


@router.get("/appeals", response_class=HTMLResponse)
def appeals_page(
    request: Request,
    engine: DB,
    status: str = Query("open", max_length=20),
    after: str | None = Query(None, pattern=stored_reviews.APPEAL_CURSOR),
    before: str | None = Query(None, pattern=stored_reviews.APPEAL_CURSOR),
    signed: Signed = require_role(ANYONE),
):
    """A page of appeals, newest first; 上一页/下一页 follow the page's cursors."""
    page = stored_reviews.list_appeals(engine, signed.account, status or None, after, before)
    return render(request, "appeals.html.j2", signed, page=page, status=status)


@router.post("/appeals/{appeal_id}/resolve")
def resolve_form(
    appeal_id: Id,
    engine: DB,
    decision: str = Form(...),
    comment: str = Form("", max_length=2000),
    signed: Signed = require_role(OVERSEERS, write=True),
):
    try:
        review.resolve_appeal(engine, signed.account, appeal_id, decision == "accept", comment)
    except review.ReviewError as error:
        return back("/appeals", signed, error=str(error))
    return back("/appeals")


# --- upload, scorecards, calibration, rule quality -------------------------------------------------


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, signed: Signed = require_role(INSPECTORS)):
    return render(request, "upload.html.j2", signed)


@router.get("/scorecards", response_class=HTMLResponse)
def scorecards_page(request: Request, new: str = "", signed: Signed = require_role(ANYONE)):
    """The list; `new` (the "新建" form) opens the editor of a scorecard of that id."""
    if new.strip():
        return back(f"/scorecards/{quote(new.strip(), safe='')}")
    return render(request, "scorecards.html.j2", signed, names=request.app.state.scorecards.names())


def _editor(request: Request, signed: Signed, engine, name: str, text: str, problems=()):
    builtin = dict(request.app.state.scorecards.names()).get(name, False)
    return render(
        request,
        "scorecard.html.j2",
        signed,
        name=name,
        text=text,
        builtin=builtin,
        problems=list(problems),
        options=filter_options(engine, signed.account),
    )


@router.get("/scorecards/{name}", response_class=HTMLResponse)
def scorecard_page(name: str, request: Request, engine: DB, signed: Signed = require_role(ANYONE)):
    try:
        text = request.app.state.scorecards.text(name)
    except KeyError:
        if not SCORECARD_NAME.match(name):
            raise HTTPException(404, "没有这个评分表；新评分表 id 由小写字母、数字、- 和 _ 组成，以字母开头") from None
        text = f"id: {name}\nname: 新评分表\ninclude: [core]\nsections: []\n"
    return _editor(request, signed, engine, name, text)


@router.post("/scorecards/{name}", response_class=HTMLResponse)
def scorecard_save(
    name: str,
    request: Request,
    engine: DB,
    yaml_text: str = Form(..., alias="yaml", max_length=200_000),
    save_as: str = Form("", max_length=100),
    signed: Signed = require_role(INSPECTORS, write=True),
):
    """Save the editor's text; "另存为" saves it under a new id (written into the text's `id:`). Without it the
    text's `id:` must be the page's."""
    target = save_as.strip() or name
    try:
        request.app.state.scorecards.save(signed.account, target, yaml_text, copy_of=name if save_as.strip() else None)
    except ScorecardProblem as problem:
        return _editor(request, signed, engine, name, yaml_text, problem.problems)
    return back(f"/scorecards/{quote(target, safe='')}")


@router.post("/scorecards/{name}/rescore")
def scorecard_rescore(
    name: str,
    request: Request,
    agent_id: str = Form(""),
    team: str = Form(""),
    channel: str = Form(""),
    signed: Signed = require_role(INSPECTORS, write=True),
):
    f = ConversationFilter(
        agent_id=agent_id or None, team=team or None, channel=channel or None, tz=request.app.state.tz
    )
    try:
        count = request.app.state.scorecards.rescore(signed.account, name, f)
    except KeyError:
        raise HTTPException(404, "没有这个评分表") from None
    title = request.app.state.scorecards.titles().get(name, name)
    return back(f"/scorecards/{quote(name, safe='')}", signed, done=f"已用 {title} 重新评分 {count} 个会话")


@router.get("/calibration", response_class=HTMLResponse)
def calibration_page(
    request: Request,
    engine: DB,
    round: str = Query("", max_length=100),
    key: str = "",
    signed: Signed = require_role(OVERSEERS),
):
    """A round's report and, for inspectors, its blind queue; with `key` (the detail page's
    "校准盲评" form) the blind judging of that conversation."""
    round = round.strip()
    if round and key:
        return back(f"/calibration/{quote(round, safe='')}/{quote(key, safe='')}")
    report = review.calibration_report(engine, round) if round else None
    queue = (
        stored_reviews.calibration_queue(engine, signed.account, round)
        if round and signed.account.role in INSPECTORS
        else None
    )
    return render(
        request,
        "calibration.html.j2",
        signed,
        rounds=stored_reviews.calibration_rounds(engine),
        round=round,
        report=report,
        queue=queue,
    )


@router.get("/calibration/{round_name}/{key}", response_class=HTMLResponse)
def calibration_judge(
    round_name: str, key: str, request: Request, engine: DB, signed: Signed = require_role(INSPECTORS)
):
    """Blind judging: the transcript and the items, no machine verdict, score or evidence."""
    detail = get_conversation(engine, signed.account, key)
    return render(
        request,
        "judge.html.j2",
        signed,
        conv=detail.conversation,
        key=key,
        round=round_name,
        results=[(pk, machine) for pk, machine, _ in detail.results],
        mine=stored_reviews.my_judgements(engine, signed.account, round_name, [pk for pk, _, _ in detail.results]),
    )


@router.post("/calibration/{round_name}/{key}")
async def calibration_submit(
    round_name: str, key: str, request: Request, engine: DB, signed: Signed = require_role(INSPECTORS, write=True)
):
    for field_name, status in (await request.form()).items():
        parts = field_name.split(":", 2)  # item:<result id>:<rule>
        if (
            len(parts) == 3
            and parts[0] == "item"
            and parts[1].isascii()
            and parts[1].isdigit()
            and 0 < int(parts[1]) <= MAX_ID
            and status in ("pass", "fail")
        ):
            review.calibrate(engine, signed.account, int(parts[1]), parts[2], status, round_name)
    return back("/calibration", round=round_name)


@router.get("/quality", response_class=HTMLResponse)
def quality_page(request: Request, engine: DB, signed: Signed = require_role(OVERSEERS)):
    return render(
        request, "quality.html.j2", signed, precision=review.rule_precision(engine), sampled=precision_by_share(engine)
    )


# --- administration: audit log and users -----------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def audit_log_page(
    request: Request, engine: DB, f: Annotated[AuditFilter, Query()], signed: Signed = require_role(ADMINS)
):
    total, entries = audit_page(request, engine, f)
    pages = max(1, -(-total // f.per_page))
    query = {k: v for k, v in f.model_dump().items() if v not in (None, "") and k != "page"}
    return render(
        request,
        "audit.html.j2",
        signed,
        f=f,
        total=total,
        entries=entries,
        pages=pages,
        page_numbers=page_numbers(f.page, pages),
        page_qs=lambda n: urlencode({**query, "page": n}),
        users=list_accounts(engine),
        actions=D.AUDIT_ACTIONS,
        entities=D.AUDIT_ENTITIES,
        lines=D.audit_lines,
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    engine: DB,
    signed: Signed = require_role(ADMINS),
):
    return render(request, "users.html.j2", signed, users=list_accounts(engine))


@router.post("/users")
def add_user_form(
    engine: DB,
    username: str = Form(..., max_length=100),
    password: str = Form(..., max_length=200),
    role: str = Form(...),
    team: str = Form("", max_length=100),
    agent_id: str = Form("", max_length=100),
    display_name: str = Form("", max_length=100),
    signed: Signed = require_role(ADMINS, write=True),
):
    try:
        account = create_user(
            engine,
            signed.account,
            UserIn(
                username=username, password=password, role=role, team=team, agent_id=agent_id, display_name=display_name
            ),
        )
    except HTTPException as refused:
        return back("/users", signed, error=str(refused.detail))
    return back("/users", signed, done=f"已添加用户 {account.username}")


@router.post("/users/{user_id}")
def change_user_form(
    user_id: Id,
    engine: DB,
    role: str = Form(...),
    team: str = Form("", max_length=100),
    agent_id: str = Form("", max_length=100),
    display_name: str = Form("", max_length=100),
    active: str = Form(""),
    signed: Signed = require_role(ADMINS, write=True),
):
    try:
        account = change_user(
            engine,
            signed.account,
            user_id,
            UserChange(role=role, team=team, agent_id=agent_id, display_name=display_name, active=bool(active)),
        )
    except HTTPException as refused:
        return back("/users", signed, error=str(refused.detail))
    return back("/users", signed, done=f"已保存用户 {account.username}")


@router.post("/users/{user_id}/password")
def password_form(
    user_id: Id,
    engine: DB,
    password: str = Form(..., max_length=200),
    signed: Signed = require_role(ADMINS, write=True),
):
    try:
        account = reset_password(engine, signed.account, user_id, PasswordIn(password=password).password)
    except HTTPException as refused:
        return back("/users", signed, error=str(refused.detail))
    return back("/users", signed, done=f"已重置 {account.username} 的密码")


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request, signed: Signed = require_role(ANYONE)):
    """Swagger UI from the vendored swagger-ui-dist (works offline; no validator badge, which would
    call validator.swagger.io); its start-up script is static/swagger-init.js."""
    return render(request, "docs.html.j2", signed)
