"""Server-rendered pages. Forms post back here (with the session's CSRF token) and redirect, so
every page works without JavaScript except the charts and the upload progress."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlencode

import soundfile
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from zuoxi import review as R
from zuoxi.audio.align import resolve as resolve_audio
from zuoxi.report import EMOTION_NAMES, ROLE_NAMES, SATISFACTION_NAMES, SKILL_NAMES, highlight
from zuoxi.store.queries import ConversationFilter, dashboard, filter_options, get_conversation, list_conversations
from zuoxi.store.users import close_session
from zuoxi.web.api import filters, start_session
from zuoxi.web.scorecards import ScorecardProblem
from zuoxi.web.security import COOKIE, LoginRefused, Signed, check_csrf, check_login, require_overseer, require_user

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
templates.env.globals.update(skill_names=SKILL_NAMES, role_names=ROLE_NAMES, satisfaction_names=SATISFACTION_NAMES,
                             emotion_names=EMOTION_NAMES)
ROLE_TITLES = {"admin": "管理员", "inspector": "质检员", "team_lead": "班长", "agent": "坐席"}
templates.env.globals["role_titles"] = ROLE_TITLES


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
                  chart_data=json.dumps({"bands": figures.bands, "trend": figures.trend, "skills": figures.skills,
                                         "profiles": figures.profiles, "skill_names": SKILL_NAMES}, ensure_ascii=False),
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
            "curve": json.dumps([{"turn": e.turn, "score": e.score, "label": e.label} for e in current.customer_emotion]),
        })
    return render(request, "detail.html.j2", signed, conv=conv, key=key, views=views, error=error,
                  has_audio=_recording(detail) is not None)


@router.get("/conversations/{key}/audio")
def conversation_audio(key: str, request: Request, signed: Signed = Depends(require_user)):
    """The call recording, for the player on the detail page (same scope check as the page)."""
    detail = get_conversation(request.app.state.store.engine, signed.account, key)
    path = _recording(detail)
    if path is None:
        raise HTTPException(404, "no recording for this conversation")
    return FileResponse(path)


AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}


def _recording(detail) -> Path | None:
    """The conversation's recording, if it is a readable audio file: `audio` comes from imported
    data, so it must never turn into a way to download any other file from the server."""
    path = resolve_audio(detail.conversation, Path(detail.source).parent if detail.source else None)
    if path is None or path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
        return None
    try:
        soundfile.info(str(path))
    except Exception:  # noqa: BLE001 - not audio, whatever the reason: do not serve it
        return None
    return path


@router.post("/conversations/{key}/review")
async def review_form(key: str, request: Request, result_id: int = Form(...), rule: str = Form(...),
                      verdict: str = Form(...), comment: str = Form(""), signed: Signed = Depends(require_user)):
    await check_csrf(request, signed)
    try:
        R.review_finding(request.app.state.store.engine, signed.account, result_id, rule, verdict, comment)
    except R.ReviewError as error:
        return back(f"/conversations/{key}", error=str(error))
    return back(f"/conversations/{key}")


@router.post("/conversations/{key}/appeal")
async def appeal_form(key: str, request: Request, result_id: int = Form(...), rule: str = Form(...),
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
async def resolve_form(appeal_id: int, request: Request, decision: str = Form(...), comment: str = Form(""),
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
def scorecards_page(request: Request, signed: Signed = Depends(require_user)):
    return render(request, "scorecards.html.j2", signed, names=request.app.state.scorecards.names())


@router.get("/scorecards/{name}", response_class=HTMLResponse)
def scorecard_page(name: str, request: Request, signed: Signed = Depends(require_user), rescored: str = ""):
    library = request.app.state.scorecards
    try:
        text = library.text(name)
    except KeyError:
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
def calibration_page(request: Request, round: str = "", signed: Signed = Depends(require_user)):
    require_overseer(signed)
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
        if field_name.startswith("item:") and status in ("pass", "fail"):
            _, pk, rule = field_name.split(":", 2)
            R.calibrate(engine, signed.account, int(pk), rule, status, round_name)
    return back("/calibration", round=round_name)


@router.get("/quality", response_class=HTMLResponse)
def quality_page(request: Request, signed: Signed = Depends(require_user)):
    require_overseer(signed)
    return render(request, "quality.html.j2", signed, precision=R.rule_precision(request.app.state.store.engine))

