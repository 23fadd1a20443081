"""Live assist under a flood: every frame a user sends — bad JSON, binary, an unknown type, a refused turn, one too
big to read — is charged to their allowance (per user, across their connections) before it is read, and a user who
keeps sending past it has the connection closed (1008, a Chinese reason) and new ones refused until they stop; a
client at a normal pace is never closed; a turn's work runs off the event loop. A flood of `我要投诉` turns, of
250 KB frames of an unknown type, or of `not json`, took another agent's turns from 4 ms to over a second and made
sign-in time out."""

from __future__ import annotations

import json
import threading

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from zuoxi.engines.live import LiveSession
from zuoxi.store import Store
from zuoxi.store.users import add_user
from zuoxi.web import assist, create_app
from zuoxi.web.assist import ESCAPED, FLOODING, STRIKES, TURN_COST, TurnBudget

PASSWORD = "live-flood-pw"


class Clock:
    """A clock the test moves: nothing here depends on how fast the machine is."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("flood") / "flood.db")
    store = Store(db)
    for user in ("ag1", "ag2"):
        add_user(store.engine, user, PASSWORD, "agent", None, user)
    return create_app(db, models=False)


@pytest.fixture
def clock(app):
    clock = Clock()
    app.state.turn_budget = TurnBudget(clock=clock, hold=0)  # HOLD is waited in the event loop, unread
    yield clock
    app.state.turn_budget = TurnBudget()


def signed_in(app, username: str = "ag1") -> TestClient:
    client = TestClient(app)
    assert client.post("/api/login", json={"username": username, "password": PASSWORD}).status_code == 200
    return client


def flood(ws, send, limit: int = 10_000) -> tuple[list[dict], WebSocketDisconnect]:
    """Sends frames (`send(ws)`), one answer read after each, until the server closes: the answers and the close."""
    answers = []
    for _ in range(limit):
        send(ws)
        try:
            answers.append(ws.receive_json())
        except WebSocketDisconnect as closed:
            return answers, closed
    raise AssertionError(f"still open after {limit} frames")


def test_a_connection_that_floods_bad_frames_is_closed_with_a_reason_and_kept_out_until_it_stops(app, clock):
    app.state.turn_budget = budget = TurnBudget(rate=100, burst=200, clock=clock, hold=0)
    frames = iter(range(10_000))

    def bad(ws):  # not JSON, binary, JSON that is no object: in turn
        kind = next(frames) % 3
        if kind == 0:
            ws.send_text("not json")
        elif kind == 1:
            ws.send_bytes(b"\x00" * 8)
        else:
            ws.send_text("[1]")

    with signed_in(app).websocket_connect("/api/live/bad") as ws:
        ws.receive_json()
        answers, closed = flood(ws, bad)
    assert closed.code == 1008 and closed.reason == FLOODING and len(FLOODING.encode()) <= 123
    read = [a for a in answers if not a["error"].startswith("发送太快")]
    too_fast = [a for a in answers if a["error"].startswith("发送太快")]
    # each costs 20 and a character for each 6 of its bytes: 200 pays for 9; then STRIKES refusals, then the close
    assert len(read) == 9 and answers[:9] == read
    assert len(too_fast) == STRIKES and all(a["turns"] == 0 and a["retry_after"] > 0 for a in too_fast)
    assert budget.flooding("ag1")

    # Reconnecting at once is refused before a session is opened: every such try is one more strike.
    for _ in range(3):
        with pytest.raises(WebSocketDisconnect) as refused, signed_in(app).websocket_connect("/api/live/again") as ws:
            ws.receive_json()
        assert (refused.value.code, refused.value.reason) == (1008, FLOODING)
    assert len(app.state.live) == 1  # only the flood's own session: "again" was never opened

    # Another user goes on as if nothing happened.
    with signed_in(app, "ag2").websocket_connect("/api/live/calm") as ws:
        ws.receive_json()
        ws.send_json({"type": "turn", "seq": 0, "role": "customer", "text": "你好，我的快递还没到"})
        assert ws.receive_json()["type"] == "update"

    # The flood stopped: a few seconds later (strikes are forgiven, PARDON a second) the user is let back in.
    clock.now += 2 * STRIKES / assist.PARDON + 1
    assert not budget.flooding("ag1")
    with signed_in(app).websocket_connect("/api/live/bad") as ws:
        assert ws.receive_json()["turns"] == 0
        ws.send_json({"type": "turn", "seq": 0, "role": "customer", "text": "我要投诉"})
        assert ws.receive_json()["type"] == "update"


def test_unknown_types_and_refused_turns_count_against_the_same_allowance_across_connections(app, clock):
    frame = json.dumps({"type": "x", "pad": "0123456789"})
    per_frame = TURN_COST + len(frame) / ESCAPED
    app.state.turn_budget = TurnBudget(rate=0, burst=10 * per_frame, clock=clock, hold=0)
    with (
        signed_in(app).websocket_connect("/api/live/unknown") as ws,
        signed_in(app).websocket_connect("/api/live/u2") as other,
    ):
        ws.receive_json()
        other.receive_json()
        for _ in range(10):  # ten unknown-type frames: the whole allowance
            ws.send_text(frame)
            assert ws.receive_json()["error"] == "未知的消息类型 'x'"
        ws.send_text(frame)
        assert ws.receive_json()["error"].startswith("发送太快")
        # the same user's turn, on another connection, finds the allowance spent by those frames
        other.send_json({"type": "turn", "seq": 0, "role": "customer", "text": "你好"})
        refused = other.receive_json()
        assert refused["error"].startswith("发送太快") and refused["turns"] == 0
        # refused turns count too: a loop of them closes the connection that sends them
        answers, closed = flood(
            other, lambda s: s.send_json({"type": "turn", "role": "customer", "text": "我要投诉"}), limit=100
        )
        assert (closed.code, closed.reason) == (1008, FLOODING)
        assert len(answers) == STRIKES - 2  # two strikes were struck above
        assert all(a["error"].startswith("发送太快") for a in answers)


def test_a_frame_too_big_for_a_burst_is_refused_unread(app, clock, monkeypatch):
    """A 250 KB frame is never parsed (JSON parsing was the work it asked of the server): it costs more than a
    burst, and is refused before it is read."""
    read = []
    monkeypatch.setattr(assist, "_message", lambda text, real=assist._message: read.append(text) or real(text))
    with signed_in(app).websocket_connect("/api/live/big") as ws:
        ws.receive_json()
        ws.send_text(json.dumps({"type": "x", "pad": "x" * 250_000}))
        refused = ws.receive_json()
        assert refused["error"].startswith("发送太快") and refused["retry_after"] is None
        assert read == []
        answers, closed = flood(ws, lambda s: s.send_text(json.dumps({"type": "x", "pad": "x" * 250_000})))
    assert (closed.code, closed.reason, len(answers), read) == (1008, FLOODING, STRIKES - 1, [])


def test_a_client_at_a_normal_pace_is_never_closed(app, clock):
    """Hours of conversation a turn every second or two, a replay's burst, a stray bad frame, and long turns sent
    again when `retry_after` says: every turn answered, nothing closed."""
    texts = ["您好，请问有什么可以帮您？", "我的快递三天了还没到，能帮我查一下吗？", "好的，请提供一下订单号。"]
    with signed_in(app).websocket_connect("/api/live/normal") as ws:
        ws.receive_json()
        seq = 0

        def turn(text: str) -> dict:
            ws.send_json({"type": "turn", "seq": seq, "role": "customer" if seq % 2 else "agent", "text": text})
            return ws.receive_json()

        for _ in range(60):  # a replay sent back to back
            assert turn(texts[seq % 3])["type"] == "update"
            seq += 1
        for i in range(300):  # a conversation at a chat's pace
            clock.now += 1 + (i % 2)
            if i % 50 == 0:
                ws.send_text("not json")  # a client's slip is answered, not punished
                assert ws.receive_json()["error"] == "请发送 JSON 文本消息"
            assert turn(texts[seq % 3])["type"] == "update"
            seq += 1
        retries = 0
        for _ in range(30):  # long turns back to back: refused past the burst, sent again when told
            answer = turn("长" * 1500)
            while answer["type"] == "error":
                assert answer["error"].startswith("发送太快") and answer["turns"] == seq
                retries += 1
                clock.now += answer["retry_after"]
                answer = turn("长" * 1500)
            assert answer["type"] == "update"
            seq += 1
        assert retries > 0
        clock.now += 60
        ws.send_json({"type": "end"})
        assert ws.receive_json()["type"] == "result"


def test_a_turn_is_read_off_the_event_loop(app, clock, monkeypatch):
    """A turn's work (1–2 ms, and up to 70 ms for a long one) runs in a thread of its own: sign-in, pages and other
    sockets do not wait behind it in the event loop."""
    threads = []
    real = LiveSession.add_turn
    monkeypatch.setattr(
        LiveSession, "add_turn", lambda self, turn: threads.append(threading.current_thread()) or real(self, turn)
    )
    with signed_in(app).websocket_connect("/api/live/thread") as ws:
        ws.receive_json()
        ws.send_json({"type": "turn", "seq": 0, "role": "customer", "text": "我要投诉"})
        assert ws.receive_json()["type"] == "update"
    [thread] = threads
    assert thread.name.startswith("zuoxi-live") and thread is not threading.main_thread()
