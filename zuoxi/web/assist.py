"""Live assist over a WebSocket, and the agent-side page that shows its alerts (docs/live.md).

Protocol on `/api/live/{session}` (JSON text frames; the sign-in cookie authenticates):
  server → {"type": "state", "session", "turns": n, "alerts": […]}      on connect: where it stands
  client → {"type": "turn", "seq": n, "role", "text", "start"?, "end"?}   the conversation's turn n
  server → {"type": "update", "turn": n, "alerts": […], "emotion", "complaint_risk"}
                                                                          a blank turn is refused (error)
  client → {"type": "end", "store": true|false}                           the conversation is over
  server → {"type": "result", "score", "max_score", "veto", "failed", "key"?, "note"?}, then closes
  server → {"type": "error", "error", "turns"}                            a bad message or refused turn; the socket stays open
A client that loses its connection reconnects to the same session id and resumes: `state.turns`
says which turn to send next, and a turn sent twice (same `seq`) is answered from the record, not
counted again. Sessions live in this process's memory (`LiveSessions`) until ended or 2 h without a message;
with `zuoxi serve --redis`, in Redis (`zuoxi.web.shared`), so the reconnect may reach any server process.

Who may store (`STORERS`, the roles that may upload conversations): a conversation typed into the panel is nobody's
call on the platform, and stored it would count as QA data — in averages, dashboards, rankings, team and skill
statistics, review queues and exports — so an agent could raise their own average with textbook conversations, or a
team lead their team's. Only inspectors and admins store a session; anyone else's `store` is answered with the
score and a `note` saying nothing was stored. A stored session is its storer's own (their agent id and team, none
for most inspectors), never the replayed conversation's agent's or team's: a replay with one turn changed is a
new conversation that no agent said (`meta.replay_of` names the conversation it was replayed from), and it may not
take the id of a stored conversation, which it would stand beside in every list.

A customer turn's `emotion.label` is the fused decision of `zuoxi.analyze.emotion`, not the argmax of `probs`
(the model's distribution): a cue word decides; else the model's negativity (angry + anxious + sad, `score`)
must reach `threshold` (0.7: the model, trained on Weibo posts, over-reads plain complaints and questions as
angry at lower confidence) for its most likely negative class to be the label; else the cue-less label
(neutral, or positive) stands. `emotion.basis` says which: "cue", "model", "below_threshold" (probs lean
negative but not enough: `我要投诉你们，东西坏了` is neutral with P(angry) 0.56, its complaint risk high all the
same), or "lexicon" (no model).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from zuoxi.analyze.emotion import MODEL_CONFIDENT, NEGATIVE
from zuoxi.engines.live import LiveSession, LiveSessions
from zuoxi.messages import said_all
from zuoxi.model import LiveUpdate
from zuoxi.rules.scorecard import builtin_names
from zuoxi.store import Store
from zuoxi.store.queries import (
    ConversationDetail,
    ConversationFilter,
    Forbidden,
    NotFound,
    get_conversation,
    list_conversations,
)
from zuoxi.store.users import ANYONE, INSPECTORS
from zuoxi.web.pages import render
from zuoxi.web.params import DB
from zuoxi.web.security import Signed, has_role, require_role, signed_in

router = APIRouter()

POLICY_VIOLATION = 1008  # WebSocket close codes (RFC 6455)
# Close reasons, in Chinese as every text a user may see (at most 123 bytes of UTF-8: 41 characters).
SIGN_IN = "请先登录"
CROSS_SITE = "来源不明：不能从其他网站连接实时辅助"
MAX_SESSION_ID = 100  # characters: the id a stored live conversation takes (ids are at most 200)
# A turn costs the server about 35 µs a character on top of 1–2 ms, in the event loop every session shares: each
# user may send turns worth TURN_RATE characters a second (a turn counts TURN_COST more), in bursts of TURN_BURST.
# Speech is 4–5 characters a second and a replay of a long chat a few thousand at once; four clients sending
# 2,000-character turns back to back took other agents' short turns from 3 ms to 240 ms.
TURN_RATE, TURN_COST, TURN_BURST = 2_000, 20, 20_000
STORERS = INSPECTORS  # who may store a session as a conversation (module doc): who may upload conversations
NOT_STORED = "未保存：实时辅助中输入的对话不是平台上的通话，不计入质检记录（只有质检员和管理员可以保存）"


class TurnBudget:
    """Each user's allowance of live-turn characters (a token bucket), in this process."""

    def __init__(self, rate: float = TURN_RATE, burst: float = TURN_BURST, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._left: dict[str, tuple[float, float]] = {}  # user → (allowance, when)

    def take(self, user: str, text: Any) -> bool:
        """Whether `user` may send a turn of `text` now (taken from their allowance if so)."""
        cost = TURN_COST + (len(text) if isinstance(text, str) else 0)
        now = self.clock()
        left, then = self._left.get(user, (self.burst, now))
        left = min(self.burst, left + (now - then) * self.rate)
        if cost > left:
            self._left[user] = (left, now)
            return False
        self._left[user] = (left - cost, now)
        return True


def _same_origin(websocket: WebSocket) -> bool:
    """Browsers send Origin on a WebSocket handshake but do not enforce it: a page on another site
    must not drive a session with the user's cookie. Clients that send no Origin are not browsers."""
    origin = websocket.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == websocket.headers.get("host")


def _turn_fields(message: dict) -> dict:
    return {k: message[k] for k in ("role", "text", "start", "end") if k in message}


@router.websocket("/api/live/{session_id}")
async def live_socket(
    websocket: WebSocket, session_id: str, scorecard: str = "core", channel: str = "chat", conversation: str = ""
):
    """`conversation`: the key of the stored conversation being replayed, which "结束并质检" links when the whole
    of it was replayed unchanged. The session is the signed-in user's own, never the replayed conversation's agent's
    or team's (module doc)."""
    signed = signed_in(websocket)
    if signed is None or not _same_origin(websocket):
        await websocket.close(code=POLICY_VIOLATION, reason=SIGN_IN if signed is None else CROSS_SITE)
        return
    replayed = None
    if conversation:
        try:
            replayed = get_conversation(websocket.app.state.store.engine, signed.account, conversation)
        except (NotFound, Forbidden):
            await websocket.close(code=POLICY_VIOLATION, reason="没有这个会话，或你无权查看")
            return
    refused = _refused_options(websocket, session_id, scorecard, channel)
    if refused:
        await websocket.close(code=POLICY_VIOLATION, reason=refused)
        return
    await websocket.accept()
    sessions: LiveSessions = websocket.app.state.live
    account = signed.account
    session = sessions.open(
        account.username,
        session_id,
        scorecard=scorecard,
        channel=channel,
        models=websocket.app.state.models,
        agent_id=account.agent_id,  # the storer's own: a replay does not make its agent say what was typed
        team=account.team,
        started_at=datetime.now(UTC).isoformat(),  # as text: a shared session's options are kept in Redis as JSON
    )
    await websocket.send_json(
        {
            "type": "state",
            "session": session.id,
            "scorecard": session.scorecard,
            "turns": len(session),
            "alerts": [a.model_dump() for a in session.alerts],
        }
    )
    try:
        await _converse(websocket, sessions, signed, session_id, session, replayed)
    except WebSocketDisconnect:
        return  # the session stays: a reconnect resumes it


def _refused_options(websocket: WebSocket, session_id: str, scorecard: str, channel: str) -> str | None:
    """Why the socket's options are refused (the close reason), or None where they are fine."""
    if len(session_id) > MAX_SESSION_ID:  # it becomes the stored conversation's id: refused now, not at the end
        return f"会话编号最多 {MAX_SESSION_ID} 个字符"
    if not session_id.replace("\x00", "").strip():  # nor an id that is empty once stored
        return "会话编号不能为空"
    if scorecard not in {name for name, _ in websocket.app.state.scorecards.names()}:  # names, never paths
        return "没有这个评分表"  # the name is not echoed: a close reason holds 123 bytes
    if channel not in ("chat", "call"):
        return "渠道只能是 chat（文字）或 call（电话）"
    return None


async def _converse(
    websocket: WebSocket,
    sessions: LiveSessions,
    signed: Signed,
    session_id: str,
    session: LiveSession,
    replayed: ConversationDetail | None,
) -> None:
    """The client's messages, each answered, until it ends the conversation (or disconnects, raised to the
    caller); a message that cannot be read is answered with an error and the socket stays open."""
    username = signed.account.username
    while True:
        frame = await websocket.receive()
        if frame["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(frame.get("code", 1000), frame.get("reason"))
        sessions.touch(username, session_id)
        message = _message(frame.get("text"))  # a binary frame has none
        if isinstance(message, str):
            await websocket.send_json({"type": "error", "error": message, "turns": len(session)})
            continue
        kind = message.get("type", "turn")
        session = sessions.sync(username, session_id, session)  # turns another process took
        if kind == "turn":
            if not websocket.app.state.turn_budget.take(username, message.get("text")):
                await websocket.send_json(
                    {
                        "type": "error",
                        "error": f"发送太快：每秒最多约 {TURN_RATE:,} 字，请稍后重发这一句",
                        "turns": len(session),
                    }
                )
                continue
            add = partial(sessions.add_turn, username, session_id, session)
            await websocket.send_json(_take_turn(session, message, add))
        elif kind == "end":
            await _end(websocket, sessions, signed, session_id, session, message, replayed)
            return
        else:
            await websocket.send_json({"type": "error", "error": f"未知的消息类型 {kind!r}", "turns": len(session)})


def _message(text: str | None) -> dict | str:
    """A client message as the JSON object it must be, or what is wrong with it (for the client)."""
    if text is None:
        return "请发送 JSON 文本消息"
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        return "请发送 JSON 文本消息"
    if not isinstance(message, dict):
        return "消息应为 JSON 对象"
    return message


async def _end(
    websocket: WebSocket,
    sessions: LiveSessions,
    signed: Signed,
    session_id: str,
    session: LiveSession,
    message: dict,
    replayed: ConversationDetail | None,
) -> None:
    """The conversation's result, then the socket closed; stored when asked, by a user who may (`STORERS`).

    Ended before the analysis starts: no other connection adds a turn meanwhile, and the conversation
    scored is the one stored. The whole conversation's QA (and the database write) takes tens of
    milliseconds: in a thread, so other sessions' turns are not held up behind it."""
    if session.ended:  # ended by another connection to the session: its result went there
        await websocket.send_json({"type": "error", "error": "这个会话已在另一个连接结束", "turns": len(session)})
        await websocket.close()
        return
    session.ended = True
    sessions.close(signed.account.username, session_id)
    store: Store = websocket.app.state.store
    finish = partial(_finish, may_store=has_role(signed, STORERS))
    await websocket.send_json(
        await run_in_threadpool(finish, session, store if message.get("store") else None, replayed)
    )
    await websocket.close()


def _explained(update: dict) -> dict:
    """The update with its emotion's `basis` and `threshold` (module doc): why the label may not be the
    likeliest class of `probs`."""
    emotion = update.get("emotion")
    if emotion:
        if emotion["label"] in NEGATIVE:
            basis = "cue" if emotion.get("cue") else "model"
        else:
            basis = "lexicon" if emotion.get("probs") is None else "below_threshold"
        update["emotion"] = {**emotion, "basis": basis, "threshold": MODEL_CONFIDENT}
    return update


def _take_turn(session: LiveSession, message: dict, add: Callable[[dict[str, Any]], LiveUpdate]) -> dict:
    """The answer to one turn message (`add` takes the turn into the session and wherever it is
    shared); every refusal says how many turns the session has (`turns`), where the client goes on from."""
    seq = message.get("seq")
    if seq is not None and not (type(seq) is int and 0 <= seq <= len(session)):
        return {"type": "error", "error": f"seq 应为下一句的序号 {len(session)}", "turns": len(session)}
    if seq is not None and seq < len(session):  # a resend after a reconnect
        return {"type": "update", "duplicate": True, **_explained(json.loads(session.answer(seq)))}
    try:
        update = add(_turn_fields(message))
    except ValidationError as error:
        return {"type": "error", "error": f"这一句的格式不对：{said_all(error.errors())}", "turns": len(session)}
    except UnicodeEncodeError:  # a lone surrogate: Python's message is English and names code points
        return {
            "type": "error",
            "error": "这一句未被接受：含有未配对的 UTF-16 代理字符，不是文本",
            "turns": len(session),
        }
    except ValueError as error:  # too long, the session full or ended
        return {"type": "error", "error": f"这一句未被接受：{error}", "turns": len(session)}
    return {"type": "update", **_explained(update.model_dump(mode="json"))}


def _finish(
    session: LiveSession, store: Store | None, replayed: ConversationDetail | None = None, may_store: bool = True
) -> dict:
    """The session's QA result; where a `store` is given (the client asked) and the user `may_store`, stored as a new
    conversation (its turns were masked as they arrived) — unless every turn of the replayed conversation was
    replayed unchanged: that one is linked and its stored result left as it is. A replay must not rescore a stored
    conversation: its result may come from a recording the replay lacks and be reviewed, and whoever may view it (its
    agent) could send it with the times left out. A user who may not store is told so (`note`), and so is one whose
    session id is a stored conversation's: nothing is stored (module doc)."""
    if not len(session):
        return {"type": "result", "error": "没有对话内容"}
    conversation = session.conversation()
    said = [(t.role, t.text) for t in conversation.turns]
    # a stored turn with no text (a sent picture) is not replayed: live assist takes no blank turn
    whole = replayed is not None and said == [(t.role, t.text) for t in replayed.conversation.turns if t.text.strip()]
    if replayed is not None and not whole:  # a changed replay: a new conversation that names where it came from
        conversation = conversation.model_copy(update={"meta": {**conversation.meta, "replay_of": replayed.key}})
    result = session.finish(conversation)
    answer = {
        "type": "result",
        "score": result.score,
        "max_score": result.max_score,
        "veto": result.veto,
        "failed": [f.rule for f in result.failed()],
        "alerts": len(session.alerts),
    }
    if store is None:
        return answer
    if replayed is not None and whole:
        answer["key"] = replayed.key  # linked: nothing is stored
    elif not may_store:
        answer["note"] = NOT_STORED
    elif any(other.id == conversation.id for _, other in store.find(conversation.id)):
        # beside it in every list, or a stored one of the same content (same id) whose result it would replace
        answer["note"] = f"未保存：已有会话编号为 {conversation.id} 的会话，请用新的会话编号"
    else:
        [key] = store.add_conversations([(conversation, "live")])
        store.save_results([(key, result)])
        answer["key"] = key
    return answer


@router.get("/live", response_class=HTMLResponse)
def live_page(request: Request, engine: DB, conversation: str = "", signed: Signed = require_role(ANYONE)):
    """The agent's assist panel; `conversation` (a stored conversation's key) is replayed into it."""
    replay = None
    if conversation:
        detail = get_conversation(engine, signed.account, conversation)
        replay = detail.conversation.model_dump(mode="json", include={"id", "channel", "turns", "meta"})
    recent = list_conversations(engine, signed.account, ConversationFilter(per_page=30, tz=request.app.state.tz)).items
    scorecard = (replay or {}).get("meta", {}).get("scorecard")
    return render(
        request,
        "live.html.j2",
        signed,
        replay=replay,
        recent=recent,
        conversation=conversation,
        session_id=secrets.token_urlsafe(9),
        scorecards=builtin_names(),
        scorecard=scorecard if scorecard in builtin_names() else "core",
        may_store=has_role(signed, STORERS),
    )
