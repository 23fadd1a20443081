"""Live assist over a WebSocket, and the agent-side page that shows its alerts (docs/live.md).

Protocol on `/api/live/{session}` (JSON text frames; the sign-in cookie authenticates):
  server → {"type": "state", "session", "turns": n, "alerts": […]}      on connect: where it stands
  client → {"type": "turn", "seq": n, "role", "text", "start"?, "end"?}   the conversation's turn n
  server → {"type": "update", "turn": n, "alerts": […], "emotion", "complaint_risk"}
                                                                          a blank turn is refused (error)
  client → {"type": "end", "store": true|false}                           the conversation is over
  server → {"type": "result", "score", "max_score", "veto", "failed", "key"?, "note"?}, then closes
  server → {"type": "error", "error", "turns"}                            a bad message or refused turn; the socket stays open
  server → {"type": "error", "error", "turns", "retry_after"}             a frame past the sender's allowance (below)
  server closes 1008 "发送太快，连接已断开…"                                 a client that keeps sending past it
Every frame a user sends — a turn, a bad or binary frame, a message of no known type, a refused one — is charged to
their allowance (`TurnBudget`, per user across their connections) before it is read: 20 characters, plus one for
each 6 characters of the frame (a character escaped as \\uXXXX takes 6), plus the rest of a turn's text. A frame past
the allowance is answered `发送太快…` with `retry_after` (seconds until it would be taken; null for a frame bigger
than a burst) and counts a strike; a user with more than `STRIKES` strikes (`PARDON` forgiven a second) has the
connection closed (1008) and new ones refused (after `HOLD` seconds, each one more strike) until the strikes fall
back. A flood (a million `我要投诉` frames, 250 KB frames of an unknown type, `not json` in a loop) took other agents'
turns from 4 ms to over a second and sign-in to a time-out. The work of a turn (and of opening and ending a session,
which may talk to Redis) runs in a thread of its own, off the event loop that every request shares, one frame at a
time as the loop ran them before.
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

import asyncio
import json
import math
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
# Every frame is charged before it is read (module doc): TURN_COST, plus a character for each ESCAPED characters of the
# frame (what reading it costs is its size; a turn's text, escaped as \uXXXX, takes 6 characters a character), plus
# the rest of a turn's text once read. A frame past the allowance is a strike: a user with more than STRIKES strikes
# (PARDON forgiven a second) is flooding, and their connection is closed. A client that sends a refused turn again
# once a second, or after `retry_after`, is never closed; the browser page reconnecting every second is let back in.
ESCAPED, STRIKES, PARDON = 6, 10, 2.0
# A flooding user's new connection waits HOLD seconds before it is refused: a client that reconnects at once does so
# every HOLD seconds, not thousands of times a second (each a handshake and a sign-in lookup). The connection that
# floods is closed at once: held unread, a client that writes without reading fills its buffers, all read (and
# discarded) after the close; closed at once, one that reads the close stops.
HOLD = 2.0
FLOODING = "发送太快，连接已断开：请放慢发送速度，稍后再连接"
STORERS = INSPECTORS  # who may store a session as a conversation (module doc): who may upload conversations
NOT_STORED = "未保存：实时辅助中输入的对话不是平台上的通话，不计入质检记录（只有质检员和管理员可以保存）"


class TurnBudget:
    """Each user's allowance of live-assist characters (a token bucket), and their strikes: frames sent past it (a
    bucket that leaks `pardon` a second), in this process. Used from the event loop only."""

    def __init__(
        self,
        rate: float = TURN_RATE,
        burst: float = TURN_BURST,
        clock: Callable[[], float] = time.monotonic,
        strikes: float = STRIKES,
        pardon: float = PARDON,
        hold: float = HOLD,
    ):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.strikes, self.pardon, self.hold = strikes, pardon, hold
        self._left: dict[str, tuple[float, float]] = {}  # user → (allowance, when)
        self._struck: dict[str, tuple[float, float]] = {}  # user → (strikes, when)

    def take(self, user: str, text: Any) -> bool:
        """Whether `user` may send a turn of `text` now (taken from their allowance if so)."""
        return self.charge(user, TURN_COST + (len(text) if isinstance(text, str) else 0))

    def charge(self, user: str, cost: float) -> bool:
        """Whether `user` may spend `cost` now: taken from their allowance if so; else a strike, and the refused frame
        still costs its fixed part (TURN_COST) of what is left."""
        now = self.clock()
        left = self._allowance(user, now)
        if cost > left:
            self._left[user] = (max(0.0, left - TURN_COST), now)
            self.strike(user)
            return False
        self._left[user] = (left - cost, now)
        return True

    def frame(self, user: str, data: str | bytes) -> bool:
        """`charge` for a frame before it is read (module doc)."""
        return self.charge(user, TURN_COST + len(data) / ESCAPED)

    def rest_of_turn(self, user: str, data: str | bytes, text: Any) -> bool:
        """`charge` for what a turn's text costs beyond the frame it came in (`frame`)."""
        rest = (len(text) if isinstance(text, str) else 0) - len(data) / ESCAPED
        return rest <= 0 or self.charge(user, rest)

    def retry_after(self, user: str, cost: float = TURN_COST) -> float:
        """Seconds until `user` may spend `cost` (rounded up to a tenth); inf where it is more than a burst holds."""
        if cost > self.burst or self.rate <= 0:
            return math.inf
        missing = cost - self._allowance(user, self.clock())
        return max(0.0, math.ceil(missing / self.rate * 10) / 10)

    def strike(self, user: str) -> None:
        """One more frame (or connection) past the allowance; counted up to twice `strikes`, so that a flood's user
        is let back in a few seconds after it stops."""
        now = self.clock()
        self._struck[user] = (min(2 * self.strikes, self._strikes(user, now) + 1), now)

    def flooding(self, user: str) -> bool:
        """Whether `user` keeps sending past their allowance: their connections are closed, new ones refused."""
        return self._strikes(user, self.clock()) > self.strikes

    def _allowance(self, user: str, now: float) -> float:
        left, then = self._left.get(user, (self.burst, now))
        return min(self.burst, left + (now - then) * self.rate)

    def _strikes(self, user: str, now: float) -> float:
        struck, then = self._struck.get(user, (0.0, now))
        return max(0.0, struck - (now - then) * self.pardon)


# The work of a turn — 1–2 ms plus about 35 µs a character, and with `--redis` round trips to Redis — runs here, off the
# event loop every request shares (sign-in, pages, other sockets' frames), one frame at a time as the loop ran them:
# no two turns of a session are taken at once, and a session is ended between turns, never during one.
_TURNS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zuoxi-live")


async def _off_loop(work: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_TURNS, partial(work, *args))


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
    signed = await run_in_threadpool(signed_in, websocket)  # a database query: not in the event loop
    if signed is None or not _same_origin(websocket):
        await websocket.close(code=POLICY_VIOLATION, reason=SIGN_IN if signed is None else CROSS_SITE)
        return
    budget: TurnBudget = websocket.app.state.turn_budget
    account = signed.account
    if budget.flooding(account.username):  # a flood that reconnects: refused before it costs a session
        budget.strike(account.username)
        await asyncio.sleep(budget.hold)
        # Refused unaccepted (HTTP 403): an accepted socket would be read on through the close handshake. The
        # connection it floods was closed with the reason.
        await websocket.close(code=POLICY_VIOLATION, reason=FLOODING)
        return
    replayed = None
    if conversation:
        try:
            replayed = await run_in_threadpool(
                get_conversation, websocket.app.state.store.engine, account, conversation
            )
        except (NotFound, Forbidden):
            await websocket.close(code=POLICY_VIOLATION, reason="没有这个会话，或你无权查看")
            return
    refused = _refused_options(websocket, session_id, scorecard, channel)
    if refused:
        await websocket.close(code=POLICY_VIOLATION, reason=refused)
        return
    await websocket.accept()
    sessions: LiveSessions = websocket.app.state.live
    open_session = partial(
        sessions.open,
        account.username,
        session_id,
        scorecard=scorecard,
        channel=channel,
        models=websocket.app.state.models,
        agent_id=account.agent_id,  # the storer's own: a replay does not make its agent say what was typed
        team=account.team,
        started_at=datetime.now(UTC).isoformat(),  # as text: a shared session's options are kept in Redis as JSON
    )
    session, state = await _off_loop(_opened, open_session)
    await websocket.send_json(state)
    try:
        await _converse(websocket, sessions, signed, session_id, session, replayed)
    except WebSocketDisconnect:
        return  # the session stays: a reconnect resumes it


def _opened(open_session: Callable[[], LiveSession]) -> tuple[LiveSession, dict]:
    """The session opened (or resumed) and the `state` message that says where it stands."""
    session = open_session()
    state = {
        "type": "state",
        "session": session.id,
        "scorecard": session.scorecard,
        "turns": len(session),
        "alerts": [a.model_dump() for a in session.alerts],
    }
    return session, state


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
    caller); a message that cannot be read is answered with an error and the socket stays open. Every frame is
    charged to the user's allowance before it is read, and a user who keeps sending past it is disconnected
    (module doc)."""
    username = signed.account.username
    while True:
        frame = await websocket.receive()
        if frame["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(frame.get("code", 1000), frame.get("reason"))
        budget: TurnBudget = websocket.app.state.turn_budget
        text = frame.get("text")  # a binary frame has none
        data = text if text is not None else frame.get("bytes") or b""
        if not budget.frame(username, data):
            if await _too_fast(websocket, budget, username, TURN_COST + len(data) / ESCAPED, session):
                return
            continue
        message = _message(text)
        if isinstance(message, str):
            await _off_loop(sessions.touch, username, session_id)
            await websocket.send_json({"type": "error", "error": message, "turns": len(session)})
            continue
        kind = message.get("type", "turn")
        if kind == "turn":
            if not budget.rest_of_turn(username, data, message.get("text")):
                cost = TURN_COST + len(message["text"])
                if await _too_fast(websocket, budget, username, cost, session):
                    return
                continue
            session, answer = await _off_loop(_turn, sessions, username, session_id, session, message)
            await websocket.send_json(answer)
        elif kind == "end":
            await _end(websocket, sessions, signed, session_id, session, message, replayed)
            return
        else:
            await _off_loop(sessions.touch, username, session_id)
            await websocket.send_json({"type": "error", "error": f"未知的消息类型 {kind!r}", "turns": len(session)})


async def _too_fast(websocket: WebSocket, budget: TurnBudget, username: str, cost: float, session: LiveSession) -> bool:
    """The answer to a frame past the allowance: an error saying when to send it again, or — for a user who keeps
    sending past it — the socket closed (True)."""
    if budget.flooding(username):
        await websocket.close(code=POLICY_VIOLATION, reason=FLOODING)
        return True
    retry = budget.retry_after(username, cost)
    await websocket.send_json(
        {
            "type": "error",
            "error": f"发送太快：每秒最多约 {TURN_RATE:,} 字，请稍后重发这一句",
            "turns": len(session),
            "retry_after": retry if math.isfinite(retry) else None,  # None: too big to be taken at all
        }
    )
    return False


def _synced(sessions: LiveSessions, username: str, session_id: str, session: LiveSession) -> LiveSession:
    """The session in use again (not idle), with the turns another process took."""
    sessions.touch(username, session_id)
    return sessions.sync(username, session_id, session)


def _turn(
    sessions: LiveSessions, username: str, session_id: str, session: LiveSession, message: dict
) -> tuple[LiveSession, dict]:
    """A turn message taken (off the event loop): the session as it now stands, and the answer."""
    session = _synced(sessions, username, session_id, session)
    return session, _take_turn(session, message, partial(sessions.add_turn, username, session_id, session))


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
    session, ends = await _off_loop(_ends, sessions, signed.account.username, session_id, session)
    if not ends:
        # ended by another connection to the session: its result went there
        await websocket.send_json({"type": "error", "error": "这个会话已在另一个连接结束", "turns": len(session)})
        await websocket.close()
        return
    store: Store = websocket.app.state.store
    finish = partial(_finish, may_store=has_role(signed, STORERS))
    await websocket.send_json(
        await run_in_threadpool(finish, session, store if message.get("store") else None, replayed)
    )
    await websocket.close()


def _ends(sessions: LiveSessions, username: str, session_id: str, session: LiveSession) -> tuple[LiveSession, bool]:
    """The session as it stands, and whether this connection ends it (not ended already), which it then is: where
    turns are taken, between two of them."""
    session = _synced(sessions, username, session_id, session)
    if session.ended or not sessions.end(username, session_id):  # ended here, or by another process's connection
        session.ended = True
        return session, False
    session.ended = True
    return session, True


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
