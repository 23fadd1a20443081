"""Training in the browser and over JSON: the case library, candidates, and drills against the
simulated customer. A drill lives in the server's memory while it runs; its attempt is stored
when it ends."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import asdict
from threading import Lock
from typing import Annotated

from annotated_types import Interval
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from zuoxi.coaching import cases as bounds
from zuoxi.coaching.cases import TAGS, Case, CaseError
from zuoxi.coaching.library import CaseLibrary
from zuoxi.coaching.llm import LLMEngine
from zuoxi.coaching.simulator import MAX_AGENT_LINE, DrillSession, EmptyLine
from zuoxi.privacy import mask_turns
from zuoxi.store.cases import masked_trainee
from zuoxi.store.queries import get_conversation, trainee_name, trainee_scope
from zuoxi.store.users import ANYONE, INSPECTORS
from zuoxi.web.api import zoned
from zuoxi.web.display import OUTCOME_NAMES
from zuoxi.web.pages import back, render
from zuoxi.web.params import DB
from zuoxi.web.security import Signed, require_role

router = APIRouter()
MAX_LIVE_DRILLS = 1000
MAX_DRILLS_PER_USER = 10  # a trainee runs one or two at a time; more are tabs left open


class Drills:
    """Running drills by id, each owned by one user; past a user's own limit their oldest is dropped, past the
    server's the oldest of all (one user starting a thousand drills no longer ends everyone else's)."""

    def __init__(self):
        self._drills: OrderedDict[str, tuple[int, DrillSession]] = OrderedDict()
        self._lock = Lock()

    def start(self, user_id: int, session: DrillSession) -> str:
        drill_id = secrets.token_urlsafe(12)
        with self._lock:
            own = [key for key, (owner, _) in self._drills.items() if owner == user_id]
            for key in own[: max(0, len(own) + 1 - MAX_DRILLS_PER_USER)]:
                del self._drills[key]
            self._drills[drill_id] = (user_id, session)
            while len(self._drills) > MAX_LIVE_DRILLS:
                self._drills.popitem(last=False)
        return drill_id

    def get(self, drill_id: str, user_id: int) -> DrillSession:
        with self._lock:
            found = self._drills.get(drill_id)
        if found is None:
            raise HTTPException(404, "没有这个演练（可能已过期）")
        if found[0] != user_id:
            raise HTTPException(403, "这是别人的演练")
        return found[1]


def library(request: Request) -> CaseLibrary:
    return request.app.state.cases


def trainee(signed: Signed) -> str:
    return trainee_name(signed.account)


def public_case(case: Case) -> dict:
    """What a trainee sees before the debrief: no need, no answers, no resolution."""
    return {
        "id": case.id,
        "title": case.title,
        "tags": case.tags,
        "difficulty": case.difficulty,
        "scorecard": case.scorecard,
        "description": case.description,
        "escalation_turn": case.escalation_turn,
        "questions": [g.question for g in case.guide],
        "conversation": case.conversation.model_dump(mode="json", exclude_none=True),
    }


def debrief(case: Case) -> dict:
    return {
        "need": case.need,
        "analysis": case.analysis,
        "answers": [g.model_dump() for g in case.guide],
        "best_solutions": [b.model_dump() for b in case.best_solutions],
    }


def _case(request: Request, case_id: str) -> Case:
    try:
        return library(request).get(case_id)
    except KeyError:
        raise HTTPException(404, "没有这个案例") from None


# --- JSON API ----------------------------------------------------------------------------------


@router.get("/api/training/cases")
def cases(
    request: Request,
    q: str = "",
    tag: list[str] | None = None,
    difficulty: Annotated[int, Interval(ge=1, le=5)] | None = None,
    signed: Signed = require_role(ANYONE),
) -> list[dict]:
    return [
        {**public_case(c), "relevance": s, "conversation": None}
        for c, s in library(request).search(q, tags=tag, difficulty=difficulty)
    ]


@router.get("/api/training/cases/{case_id}")
def case_detail(case_id: str, request: Request, reveal: bool = False, signed: Signed = require_role(ANYONE)) -> dict:
    case = _case(request, case_id)
    return {**public_case(case), **({"debrief": debrief(case)} if reveal else {})}


class DrillStart(BaseModel):
    case_id: str
    seed: Annotated[int, Interval(ge=0, le=2**32)] = 0


def backend(session: DrillSession) -> dict:
    """Who plays the customer, for the page to show: the LLM until it fails, then offline and why."""
    return {
        "engine": session.backend,
        "failure": session.backend_failure,
        "model": session.engine.describe() if isinstance(session.engine, LLMEngine) else None,
    }


@router.post("/api/training/drills")
def start_drill(body: DrillStart, request: Request, signed: Signed = require_role(ANYONE, write=True)) -> dict:
    try:
        engine = LLMEngine.from_environment()
    except ValueError as error:  # the server's LLM settings are wrong: say so, not a 500
        raise HTTPException(503, f"模拟客户的模型设置有误：{error}") from None
    session = DrillSession(_case(request, body.case_id), seed=body.seed, engine=engine)
    drill_id = request.app.state.drills.start(signed.account.id, session)
    return {
        "drill_id": drill_id,
        "customer": session.opening,
        "anger": session.current_anger,
        "backend": backend(session),
    }


class AgentLine(BaseModel):
    text: Annotated[str, Field(max_length=MAX_AGENT_LINE)]


@router.post("/api/training/drills/{drill_id}/turns")
def drill_turn(
    drill_id: str, body: AgentLine, request: Request, signed: Signed = require_role(ANYONE, write=True)
) -> dict:
    """One trainee line. When the customer ends it (`outcome`), `closing` is true and the next line is
    the trainee's closing one, after which the report comes."""
    session = request.app.state.drills.get(drill_id, signed.account.id)
    _still_on(session)
    said = len(session.turns)  # where the trainee's line goes
    try:
        turn = session.agent_says(body.text)
    except EmptyLine as error:
        raise HTTPException(422, str(error)) from None
    # What the page shows of the exchange: personal data masked as the stored attempt has it (the page showed the
    # typed line as typed: 我的电话 13812345678).
    shown = mask_turns([(t.role, t.text) for t in session.turns])
    answer = {
        "agent": shown[said],
        "customer": shown[said + 1] if turn.text else "",
        "anger": turn.anger,
        "outcome": turn.outcome,
        "closing": session.closing,
        "backend": backend(session),
    }
    if session.finished:
        answer["report"] = _finish(request, signed, session)
    return answer


@router.post("/api/training/drills/{drill_id}/finish")
def finish_drill(drill_id: str, request: Request, signed: Signed = require_role(ANYONE, write=True)) -> dict:
    """End a drill (the trainee stops, or skips the closing line): it is stored as it stands."""
    session = request.app.state.drills.get(drill_id, signed.account.id)
    _still_on(session)
    session.stop()
    return _finish(request, signed, session)


def _still_on(session: DrillSession) -> None:
    if session.finished:
        raise HTTPException(409, f"演练已经结束（{OUTCOME_NAMES.get(session.outcome or '', '已中止')}）")


UNANSWERED = "没有作答：本次不计分，也不记入历史。"


def _finish(request: Request, signed: Signed, session: DrillSession) -> dict:
    """The drill's report. One the trainee said nothing in has no score (`score` null, `answered` false, `note` says
    why) and is not stored: nothing failed, so it was shown as 100/100."""
    report = session.report()
    answered = any(turn.role == "agent" for turn in report.transcript.turns)
    attempt = library(request).record(trainee(signed), report, report.engine) if answered else None
    return {
        "attempt_id": attempt,
        "answered": answered,
        "note": "" if answered else UNANSWERED,
        "outcome": report.outcome,
        "score": report.score if answered else None,
        "max_score": report.max_score,
        "anger": report.anger,
        "degraded": report.degraded,
        "engine": report.engine,
        "backend": backend(session),
        "failed": [{"rule": f.rule, "message": f.message, "suggestion": f.suggestion} for f in report.result.failed()]
        if answered
        else [],
        **debrief(session.case),
    }


@router.get("/api/training/attempts")
def attempts(
    request: Request, case_id: str | None = None, who: str | None = None, signed: Signed = require_role(ANYONE)
) -> list[dict]:
    """Progress over attempts: agents see their own (`who` is ignored); others may ask for a trainee
    (`who`) within their scope (`trainee_scope`): inspectors and admins anyone, a team lead themselves and
    their team's agents, never an inspector, admin or other lead (403 otherwise)."""
    account = signed.account
    person = trainee(signed) if account.role == "agent" or who is None else who
    scope = trainee_scope(request.app.state.store.engine, account)
    if scope is not None and masked_trainee(person) not in scope:
        raise HTTPException(403, "只能查看本人或本班组的演练记录")
    return [zoned(asdict(a)) for a in library(request).attempts(person, case_id)]


@router.get("/api/training/candidates")
def candidates(request: Request, signed: Signed = require_role(INSPECTORS)) -> list[dict]:
    return [asdict(c) for c in library(request).candidates()]


class Curation(BaseModel):
    """A case's fields but its conversation (zuoxi/coaching/cases.py `CaseFields`). Every field and list is bounded
    there (`MAX_*`): past a bound the promotion is refused with 422 and a Chinese `detail` naming the field, before
    anything is masked or stored."""

    id: str
    title: str
    tags: list[str]
    difficulty: int = 3
    description: str
    need: str
    analysis: str
    guide: list[dict]
    best_solutions: list[dict]
    resolution: dict
    persona: dict = {}
    facts: list[dict] = []
    escalation_turn: int | None = None
    scorecard: str = "core"


@router.post("/api/training/candidates/{key}/promote")
def promote(
    key: str, body: Curation, request: Request, engine: DB, signed: Signed = require_role(INSPECTORS, write=True)
) -> dict:
    get_conversation(engine, signed.account, key)  # exists and in scope
    try:
        case = library(request).promote(key, body.model_dump(), signed.account.id)
    except CaseError as error:
        raise HTTPException(422, str(error)) from None
    return {"case_id": case.id}


# --- pages ---------------------------------------------------------------------------------------


@router.get("/training", response_class=HTMLResponse, include_in_schema=False)
def training_page(request: Request, q: str = "", tag: str = "", signed: Signed = require_role(ANYONE)):
    lib = library(request)
    found = lib.search(q, tags=[tag] if tag else None)
    mine = lib.attempts(trainee(signed))
    picks = lib.candidates() if signed.account.role in INSPECTORS else []
    return render(
        request,
        "training.html.j2",
        signed,
        found=found,
        q=q,
        tag=tag,
        tags=TAGS,
        attempts=mine,
        candidates=picks,
        case_titles={c.id: c.title for c in lib.cases()},
    )


@router.get("/training/promote/{key}", response_class=HTMLResponse, include_in_schema=False)
def promote_page(
    key: str,
    request: Request,
    engine: DB,
    signed: Signed = require_role(INSPECTORS),
):
    return _promote_form_page(key, request, engine, signed)


def _promote_form_page(key: str, request: Request, engine, signed: Signed, **context) -> HTMLResponse:
    """The promotion form; a refused one comes again with `error` and the fields as typed (`typed`)."""
    detail = get_conversation(engine, signed.account, key)
    turns = detail.conversation.turns
    first_customer = next((i for i, t in enumerate(turns, 1) if t.role == "customer"), 1)  # the form's default
    return render(
        request,
        "training_promote.html.j2",
        signed,
        key=key,
        conv=detail.conversation,
        tags=TAGS,
        first_customer=first_customer,
        limits=FORM_LIMITS,
        **context,
    )


# The form's maxlength of each field: the case's bounds, which the server checks all the same.
FORM_LIMITS = {
    "id": bounds.MAX_ID,
    "title": bounds.MAX_TITLE,
    "description": bounds.MAX_SCENE,
    "need": bounds.MAX_NEED,
    "analysis": bounds.MAX_ANALYSIS,
    "question": bounds.MAX_SHORT,
    "answer": bounds.MAX_LINE,
    "reply": bounds.MAX_LINE,
}


BEST_TURN = "最佳话术回应第几句"


def typed_turn(typed: str, turns: int) -> int:
    """The 0-based index of the turn a person typed as they read it, counted from 1 (the form shows the
    conversation so numbered); ValueError, in Chinese, for a number that names no turn."""
    typed = typed.strip()
    if not typed:
        raise ValueError(f"{BEST_TURN}：请填写客户那句的序号（从 1 数）")
    try:
        number = int(typed)
    except ValueError:
        raise ValueError(f"{BEST_TURN}：“{typed[:20]}”不是整数，请填写客户那句的序号（从 1 数）") from None
    if number < 1:
        raise ValueError(f"{BEST_TURN}：句子从 1 数起，没有第 {number} 句")
    if number > turns:
        raise ValueError(f"{BEST_TURN}：这段对话只有 {turns} 句，没有第 {number} 句")
    return number - 1


@router.post("/training/promote/{key}", include_in_schema=False)
async def promote_form(key: str, request: Request, engine: DB, signed: Signed = require_role(INSPECTORS, write=True)):
    detail = get_conversation(engine, signed.account, key)
    form = await request.form()

    def field(name: str) -> str:
        """A text field of the form: "" when absent, and for a file sent in its place."""
        value = form.get(name, "")
        return value if isinstance(value, str) else ""

    def lines(name: str) -> list[str]:
        return [x.strip() for x in field(name).replace("，", ",").replace("、", ",").split(",") if x.strip()]

    try:  # a number field that is not a number is a ValueError, shown on the form like the rest
        curation = {
            "id": field("id"),
            "title": field("title"),
            "tags": form.getlist("tags"),
            "difficulty": int(field("difficulty") or 3),
            "scorecard": field("scorecard") or "core",
            "description": field("description"),
            "need": field("need"),
            "analysis": field("analysis"),
            "persona": {
                "patience": float(field("patience") or 0.5),
                "politeness": float(field("politeness") or 0.5),
                "anger": float(field("anger") or 0.3),
            },
            "guide": [{"question": field("question"), "answer": field("answer")}],
            # typed as the form numbers the turns (from 1), stored as the case files count them (from 0)
            "best_solutions": [
                {"turn": typed_turn(field("best_turn"), len(detail.conversation.turns)), "reply": field("best_reply")}
            ],
            "resolution": {"accept": lines("accept"), "alternatives": lines("alternatives")},
        }
        case = library(request).promote(key, curation, signed.account.id)
    except (CaseError, ValueError) as error:
        # The form again, as typed, with why: a redirect to an empty form lost every field (title, description, …).
        typed: dict[str, str | list[str]] = {name: field(name) for name in TYPED_FIELDS if name in form}
        typed["tags"] = [tag for tag in form.getlist("tags") if isinstance(tag, str)]
        page = _promote_form_page(key, request, engine, signed, error=str(error)[:500], typed=typed)
        page.status_code = 400
        return page
    return back(f"/training/{case.id}")


# The promotion form's fields that a refused form shows again as typed (the tags besides).
TYPED_FIELDS = (
    "id",
    "title",
    "difficulty",
    "scorecard",
    "description",
    "need",
    "analysis",
    "patience",
    "politeness",
    "anger",
    "question",
    "answer",
    "best_turn",
    "best_reply",
    "accept",
    "alternatives",
)


@router.get("/training/{case_id}", response_class=HTMLResponse, include_in_schema=False)
def case_page(case_id: str, request: Request, signed: Signed = require_role(ANYONE)):
    case = _case(request, case_id)
    history = library(request).attempts(trainee(signed), case.id)
    return render(request, "training_case.html.j2", signed, case=case, history=history, max_line=MAX_AGENT_LINE)
