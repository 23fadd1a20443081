"""Server-rendered pages. Forms post back here (with the session's CSRF token) and redirect, so
every page works without JavaScript except the charts and the upload progress.

Templates are autoescaped whatever their file name (`*.html.j2` would escape nothing under
Jinja's extension rule); data for a page's script travels as `<script type="application/json">`
written by `|tojson`, and the scripts themselves are static files (the CSP allows no inline code)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated
from pathlib import Path
from urllib.parse import quote, urlencode

import soundfile
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from zuoxi import review as R
from zuoxi.audio.align import resolve as resolve_audio
from zuoxi.report import EMOTION_NAMES, ROLE_NAMES, SATISFACTION_NAMES, SKILL_NAMES, highlight
from zuoxi.store.queries import ConversationFilter, dashboard, filter_options, get_conversation, list_conversations
from zuoxi.store.users import close_session
from zuoxi.web.api import MAX_ID, Id, filters, start_session
from zuoxi.web.scorecards import NAME as SCORECARD_NAME, ScorecardProblem
from zuoxi.web.security import COOKIE, LoginRefused, Signed, check_csrf, check_login, require_overseer, require_user

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                                            autoescape=True))
templates.env.globals.update(skill_names=SKILL_NAMES, role_names=ROLE_NAMES, satisfaction_names=SATISFACTION_NAMES,
                             emotion_names=EMOTION_NAMES)
ROLE_TITLES = {"admin": "管理员", "inspector": "质检员", "team_lead": "班长", "agent": "坐席"}
templates.env.globals["role_titles"] = ROLE_TITLES
templates.env.filters["q"] = lambda value: quote(str(value), safe="")  # one URL path segment or query value


def render(request: Request, template: str, signed: Signed | None, **context) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"me": signed.account if signed else None,
                                                      "csrf": signed.csrf if signed else "", **context})


def back(url: str, **params) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(f"{url}?{query}" if query else url, status_code=303)


def query_string(f: ConversationFilter, **override) -> str:
    values = {k: v for k, v in asdict(f).items() if v not in (None, "") and k not in ("per_page",)}
    values.update(override)
    return urlencode({k: v for k, v in values.items() if v not in (None, "")})


# --- sign in ---------------------------------------------------------------------------------------

@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", error: str = ""):
    return render(request, "login.html.j2", None, next=next, error=error)


@router.post("/login")
def login_form(request: Request, username: str = Form(...), password: str = Form(...), next: str = Form("/")):
    try:
        account = check_login(request, username, password)
    except LoginRefused as refused:
        error = "登录失败次数过多，请 15 分钟后再试" if refused.blocked else "用户名或密码错误"
        return render(request, "login.html.j2", None, next=next, error=error)
    local = next.startswith("/") and not next.startswith(("//", "/\\")) and "\\" not in next
    response = back(next if local else "/")
    start_session(request, response, account)
    return response


@router.post("/logout")
async def logout(request: Request, signed: Signed = Depends(require_user)):
    await check_csrf(request, signed)
    close_session(request.app.state.store.engine, request.cookies.get(COOKIE))
    response = back("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


# --- dashboard and lists ---------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def home(request: Request, f: ConversationFilter = Depends(filters), signed: Signed = Depends(require_user)):
    engine = request.app.state.store.engine
    figures = dashboard(engine, signed.account, f)
    return render(request, "dashboard.html.j2", signed, d=figures, f=f, options=filter_options(engine, signed.account),
                  chart_data={"bands": figures.bands, "trend": figures.trend, "skills": figures.skills,
                              "profiles": figures.profiles, "skill_names": SKILL_NAMES},
                  qs=query_string(f))


@router.get("/conversations", response_class=HTMLResponse)
def conversation_list(request: Request, f: ConversationFilter = Depends(filters), signed: Signed = Depends(require_user)):
    engine = request.app.state.store.engine
    page = list_conversations(engine, signed.account, f)
    return render(request, "list.html.j2", signed, page=page, f=f, options=filter_options(engine, signed.account),
                  qs=query_string(f, page=None), prev_qs=query_string(f, page=f.page - 1), next_qs=query_string(f, page=f.page + 1))


@router.get("/conversations/{key}", response_class=HTMLResponse)
def conversation_detail(key: str, request: Request, signed: Signed = Depends(require_user), error: str = ""):
    engine = request.app.state.store.engine
    detail = get_conversation(engine, signed.account, key)
    conv = detail.conversation
    views = []
    for pk, machine, current in detail.results:
        marks: dict[int, list[tuple[int, int, str]]] = {}
        for finding in machine.findings:
            if finding.status == "fail":
                for e in finding.evidence:
                    marks.setdefault(e.turn, []).append((e.start, e.end, finding.rule))
        machine_status = {f.rule: f.status for f in machine.findings}
        emotions = {e.turn: e for e in current.customer_emotion}
        views.append({
            "pk": pk, "machine": machine, "current": current, "reviewed": detail.reviewed[pk],
            "machine_status": machine_status, "history": R.history(engine, signed.account, pk),
            "turns": [{"index": i, "role": t.role, "text": highlight(t.text, marks.get(i, [])), "start": t.start,
                       "emotion": emotions.get(i)} for i, t in enumerate(conv.turns)],
            "curve": [{"turn": e.turn, "score": e.score, "label": e.label} for e in current.customer_emotion],
        })
    return render(request, "detail.html.j2", signed, conv=conv, key=key, views=views, error=error,
                  has_audio=_recording(request, detail) is not None)


@router.get("/conversations/{key}/audio")
def conversation_audio(key: str, request: Request, signed: Signed = Depends(require_user)):
    """The call recording, for the player on the detail page (same scope check as the page)."""
    detail = get_conversation(request.app.state.store.engine, signed.account, key)
    path = _recording(request, detail)
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
    places = [resolve_audio(detail.conversation, Path(detail.source).parent if detail.source else None),
              resolve_audio(detail.conversation, root)]
    for path in dict.fromkeys(p.resolve() for p in places if p is not None):
        if path.is_relative_to(root) and path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
            try:
                soundfile.info(str(path))
            except Exception:  # noqa: BLE001 - not audio, whatever the reason: do not serve it
                continue
            return path
    return None


@router.post("/conversations/{key}/review")
async def review_form(key: str, request: Request, result_id: Annotated[Id, Form()], rule: str = Form(...),
                      verdict: str = Form(...), comment: str = Form(""), signed: Signed = Depends(require_user)):
    await check_csrf(request, signed)
    try:
        R.review_finding(request.app.state.store.engine, signed.account, result_id, rule, verdict, comment)
    except R.ReviewError as error:
        return back(f"/conversations/{key}", error=str(error))
    return back(f"/conversations/{key}")


@router.post("/conversations/{key}/appeal")
async def appeal_form(key: str, request: Request, result_id: Annotated[Id, Form()], rule: str = Form(...),
                      reason: str = Form(""), signed: Signed = Depends(require_user)):
    await check_csrf(request, signed)
    try:
        R.appeal_finding(request.app.state.store.engine, signed.account, result_id, rule, reason)
    except R.ReviewError as error:
        return back(f"/conversations/{key}", error=str(error))
    return back(f"/conversations/{key}")


@router.get("/appeals", response_class=HTMLResponse)
def appeals_page(request: Request, status: str = "open", signed: Signed = Depends(require_user)):
    items = R.list_appeals(request.app.state.store.engine, signed.account, status or None)
    return render(request, "appeals.html.j2", signed, appeals=items, status=status)


@router.post("/appeals/{appeal_id}/resolve")
async def resolve_form(appeal_id: Id, request: Request, decision: str = Form(...), comment: str = Form(""),
                       signed: Signed = Depends(require_user)):
    await check_csrf(request, signed)
    R.resolve_appeal(request.app.state.store.engine, signed.account, appeal_id, decision == "accept", comment)
    return back("/appeals")


# --- upload, scorecards, calibration, rule quality -------------------------------------------------

@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, signed: Signed = Depends(require_user)):
    if signed.account.role == "agent":
        raise HTTPException(403, "agents cannot upload conversations")
    return render(request, "upload.html.j2", signed)


@router.get("/scorecards", response_class=HTMLResponse)
def scorecards_page(request: Request, new: str = "", signed: Signed = Depends(require_user)):
    """The list; `new` (the "新建" form) opens the editor of a scorecard of that name."""
    if new.strip():
        return back(f"/scorecards/{quote(new.strip(), safe='')}")
    return render(request, "scorecards.html.j2", signed, names=request.app.state.scorecards.names())


@router.get("/scorecards/{name}", response_class=HTMLResponse)
def scorecard_page(name: str, request: Request, signed: Signed = Depends(require_user), rescored: str = ""):
    library = request.app.state.scorecards
    try:
        text = library.text(name)
    except KeyError:
        if not SCORECARD_NAME.match(name):
            raise HTTPException(404, "没有这个评分表；新评分表名由小写字母、数字、- 和 _ 组成，以字母开头") from None
        text = "id: " + name + "\nname: 新评分表\ninclude: [core]\nsections: []\n"
    builtin = name in dict(library.names()) and dict(library.names())[name]
    return render(request, "scorecard.html.j2", signed, name=name, text=text, builtin=builtin, problems=[],
                  rescored=rescored, options=filter_options(request.app.state.store.engine, signed.account))


@router.post("/scorecards/{name}", response_class=HTMLResponse)
async def scorecard_save(name: str, request: Request, yaml_text: str = Form(..., alias="yaml"),
                         save_as: str = Form(""), signed: Signed = Depends(require_user)):
    await check_csrf(request, signed)
    if signed.account.role not in ("admin", "inspector"):
        raise HTTPException(403, "only inspectors and admins edit scorecards")
    target = save_as.strip() or name
    try:
        request.app.state.scorecards.save(signed.account, target, yaml_text)
    except ScorecardProblem as problem:
        return render(request, "scorecard.html.j2", signed, name=target, text=yaml_text, builtin=False,
                      problems=problem.problems, rescored="", options=filter_options(request.app.state.store.engine, signed.account))
    return back(f"/scorecards/{target}")


@router.post("/scorecards/{name}/rescore")
async def scorecard_rescore(name: str, request: Request, signed: Signed = Depends(require_user)):
    await check_csrf(request, signed)
    if signed.account.role not in ("admin", "inspector"):
        raise HTTPException(403, "only inspectors and admins re-score")
    form = await request.form()
    f = ConversationFilter(agent_id=form.get("agent_id") or None, team=form.get("team") or None,
                           channel=form.get("channel") or None)
    try:
        count = request.app.state.scorecards.rescore(signed.account, name, f)
    except KeyError:
        raise HTTPException(404, f"no scorecard {name}") from None
    return back(f"/scorecards/{name}", rescored=str(count))


@router.get("/calibration", response_class=HTMLResponse)
def calibration_page(request: Request, round: str = "", key: str = "", signed: Signed = Depends(require_user)):
    """A round's report; with `key` (the detail page's "校准盲评" form) the blind judging of that conversation."""
    require_overseer(signed)
    if round.strip() and key:
        return back(f"/calibration/{quote(round.strip(), safe='')}/{quote(key, safe='')}")
    engine = request.app.state.store.engine
    report = R.calibration_report(engine, round) if round else None
    return render(request, "calibration.html.j2", signed, rounds=R.calibration_rounds(engine), round=round, report=report)


@router.get("/calibration/{round_name}/{key}", response_class=HTMLResponse)
def calibration_judge(round_name: str, key: str, request: Request, signed: Signed = Depends(require_user)):
    if signed.account.role not in ("admin", "inspector"):
        raise HTTPException(403, "only inspectors take part in calibration")
    detail = get_conversation(request.app.state.store.engine, signed.account, key)
    return render(request, "judge.html.j2", signed, conv=detail.conversation, key=key, round=round_name,
                  results=[(pk, machine) for pk, machine, _ in detail.results])


@router.post("/calibration/{round_name}/{key}")
async def calibration_submit(round_name: str, key: str, request: Request, signed: Signed = Depends(require_user)):
    await check_csrf(request, signed)
    form = await request.form()
    engine = request.app.state.store.engine
    for field_name, status in form.items():
        parts = field_name.split(":", 2)  # item:<result id>:<rule>
        if len(parts) == 3 and parts[0] == "item" and parts[1].isascii() and parts[1].isdigit() \
                and 0 < int(parts[1]) <= MAX_ID and status in ("pass", "fail"):
            R.calibrate(engine, signed.account, int(parts[1]), parts[2], status, round_name)
    return back("/calibration", round=round_name)


@router.get("/quality", response_class=HTMLResponse)
def quality_page(request: Request, signed: Signed = Depends(require_user)):
    require_overseer(signed)
    return render(request, "quality.html.j2", signed, precision=R.rule_precision(request.app.state.store.engine))



@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request, signed: Signed = Depends(require_user)):
    """Swagger UI from the vendored swagger-ui-dist (works offline; no validator badge, which would
    call validator.swagger.io); its start-up script is static/swagger-init.js."""
    return render(request, "docs.html.j2", signed)
