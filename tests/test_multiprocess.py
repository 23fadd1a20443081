"""Several server processes sharing one database and one Redis (`zuoxi serve --redis`, `--workers`):
a live session moves from one process to the other mid-conversation and goes on as if it had not
moved; the sign-in rate limit counts failures made at any process. Skipped, saying why, where no
Redis server answers."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import httpx
import pytest
from live_server import running_app

from zuoxi.engines.live import LiveSession
from zuoxi.store import Store
from zuoxi.store.users import add_user

REDIS_URL = "redis://127.0.0.1:6379/0"
TURNS = [
    {"role": "agent", "text": "您好，请问有什么可以帮您？"},
    {"role": "customer", "text": "我的快递三天了还没到，电话13812345678，太慢了！"},
    {"role": "agent", "text": "这个不归我们管，你自己去问快递公司。"},
    {"role": "customer", "text": "什么态度！我要投诉你们！"},
    {"role": "agent", "text": "非常抱歉给您带来不便，我马上帮您查询。"},
]


@pytest.fixture
def redis_client(monkeypatch):
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    prefix = f"pgscale-test:{uuid.uuid4().hex[:8]}:"
    monkeypatch.setenv("ZUOXI_REDIS_PREFIX", prefix)
    yield client, prefix
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)


def test_two_processes_share_a_live_session_turn_by_turn(redis_client):
    """Two processes' views of one session, turns taken alternately: each answers what one
    process alone answers, and the turns are stored masked."""
    from zuoxi.web.shared import SharedLiveSessions

    client, prefix = redis_client
    first, second = SharedLiveSessions(client, prefix), SharedLiveSessions(client, prefix)
    alone = LiveSession("call-1", scorecard="core", channel="call", models=False)
    session = first.open("qa", "call-1", scorecard="core", channel="call", models=False)
    for index, turn in enumerate(TURNS):
        sessions = first if index % 2 == 0 else second
        session = sessions.sync("qa", "call-1", session)
        assert len(session) == index
        update = sessions.add_turn("qa", "call-1", session, turn)
        assert update.model_dump() == alone.add_turn(turn).model_dump()
    assert [a.model_dump() for a in first.sync("qa", "call-1", session).alerts] == [
        a.model_dump() for a in alone.alerts
    ]
    stored = b" ".join(client.lrange(first._key("qa", "call-1") + ":turns", 0, -1)).decode()
    assert "13812345678" not in stored and len(client.lrange(first._key("qa", "call-1") + ":turns", 0, -1)) == len(
        TURNS
    )
    first.close("qa", "call-1")
    held = second.sync("qa", "call-1", session)  # ended everywhere: the copy a socket here holds is marked ended
    assert held is session and held.ended
    with pytest.raises(ValueError):  # so it takes no more turns (they were taken here, refused in Redis, and stored)
        second.add_turn("qa", "call-1", held, TURNS[0])
    assert len(held) == len(TURNS)


def test_a_shared_session_keeps_the_start_time_it_was_opened_with(redis_client):
    """Another process opening the session, before its first turn as after, gets it as it was opened (its options
    were the caller's while it had no turn): the stored conversation is dated by when the call began."""
    from zuoxi.web.shared import SharedLiveSessions

    client, prefix = redis_client
    first, second = SharedLiveSessions(client, prefix), SharedLiveSessions(client, prefix)
    began = "2026-03-02T09:15:00+00:00"
    first.open("qa", "call-9", scorecard="core", channel="call", models=False, started_at=began)
    elsewhere = second.open(
        "qa", "call-9", scorecard="core", channel="call", models=False, started_at="2030-01-01T00:00:00+00:00"
    )
    second.add_turn("qa", "call-9", elsewhere, TURNS[0])
    assert elsewhere.conversation().started_at == datetime.fromisoformat(began)


def test_a_turn_taken_twice_at_once_is_refused_once(redis_client):
    from zuoxi.web.shared import SharedLiveSessions, TurnConflict

    client, prefix = redis_client
    first, second = SharedLiveSessions(client, prefix), SharedLiveSessions(client, prefix)
    a = first.open("qa", "s", models=False)
    b = second.open("qa", "s", models=False)
    first.add_turn("qa", "s", a, TURNS[0])
    with pytest.raises(TurnConflict):
        second.add_turn("qa", "s", b, TURNS[1])  # b did not see turn 0: its turn would be turn 0 again
    assert [t.text for t in second.sync("qa", "s", b).turns] == [TURNS[0]["text"]]


def test_a_session_two_processes_end_at_once_is_ended_and_stored_by_one(redis_client, monkeypatch):
    """Both synced the session (not ended) before either closed it: both finished and stored it (review
    2026-12-07). Ending is a claim, the delete of the session's meta in Redis: one of them gets it."""
    from zuoxi.web import assist
    from zuoxi.web.shared import SharedLiveSessions

    client, prefix = redis_client
    first, second = SharedLiveSessions(client, prefix), SharedLiveSessions(client, prefix)
    a = first.open("qa", "end-1", models=False)
    first.add_turn("qa", "end-1", a, TURNS[0])
    b = second.sync("qa", "end-1", second.open("qa", "end-1", models=False))
    assert len(b) == 1 and not a.ended and not b.ended
    assert first.end("qa", "end-1") is True and second.end("qa", "end-1") is False
    c = first.open("qa", "end-2", models=False)
    d = second.sync("qa", "end-2", second.open("qa", "end-2", models=False))
    monkeypatch.setattr(assist, "_synced", lambda sessions, owner, ident, session: session)  # both synced before
    assert assist._ends(first, "qa", "end-2", c) == (c, True)
    session, ended_here = assist._ends(second, "qa", "end-2", d)
    assert ended_here is False and session.ended


def test_the_login_limit_counts_failures_at_any_process(redis_client):
    from zuoxi.web.shared import RedisLoginLimiter

    client, prefix = redis_client
    one, other = RedisLoginLimiter(client, prefix), RedisLoginLimiter(client, prefix)
    for i in range(5):
        assert (one if i % 2 else other).attempt("10.0.0.1", "qa")  # counted before the password is checked
    assert not other.attempt("10.0.0.1", "qa") and not one.attempt("10.0.0.1", "qa")
    assert other.attempt("10.0.0.2", "qa")
    other.succeeded("10.0.0.1", "qa")
    assert one.attempt("10.0.0.1", "qa")


def test_attempts_sent_at_once_are_counted_before_any_password_is_checked(redis_client):
    """Sixty wrong passwords sent at once through two processes all passed the old check-then-count limit before
    the first failure was counted (47 got through): counting is one atomic step, so five pass."""
    from concurrent.futures import ThreadPoolExecutor

    from zuoxi.web.security import LoginLimiter
    from zuoxi.web.shared import RedisLoginLimiter

    client, prefix = redis_client
    limiters = [RedisLoginLimiter(client, prefix), RedisLoginLimiter(client, prefix)]
    with ThreadPoolExecutor(16) as pool:
        passed = list(pool.map(lambda i: limiters[i % 2].attempt("10.0.0.9", "victim"), range(60)))
    assert sum(passed) == 5
    local = LoginLimiter()
    with ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(lambda i: local.attempt("10.0.0.9", "victim"), range(60))) == 5


@pytest.mark.slow
def test_a_live_session_moves_between_two_server_processes(redis_client, tmp_path):
    """Two `zuoxi serve` processes behind no balancer at all: the client signs in at one, talks to
    it, loses the connection and resumes at the other, which also refuses the sixth bad password."""
    from websockets.sync.client import connect

    db = str(tmp_path / "two.db")
    store = Store(db)
    add_user(store.engine, "qa", "correct-horse", "inspector")
    store.close()
    with (
        running_app(db, "--no-models", "--redis", REDIS_URL) as one,
        running_app(db, "--no-models", "--redis", REDIS_URL) as two,
    ):
        with httpx.Client(base_url=one) as http:
            http.post("/api/login", json={"username": "qa", "password": "correct-horse"}).raise_for_status()
            cookie = f"zuoxi_session={http.cookies['zuoxi_session']}"

        def socket(base):
            return connect(
                base.replace("http", "ws") + "/api/live/move-1?channel=call", additional_headers={"Cookie": cookie}
            )

        with socket(one) as ws:
            assert json.loads(ws.recv())["turns"] == 0
            answers = []
            for seq, turn in enumerate(TURNS[:3]):
                ws.send(json.dumps({"type": "turn", "seq": seq, **turn}))
                answers.append(json.loads(ws.recv()))
        with socket(two) as ws:
            state = json.loads(ws.recv())
            assert state["turns"] == 3 and state["alerts"]
            ws.send(json.dumps({"type": "turn", "seq": 2, **TURNS[2]}))  # resent: answered from the record
            again = json.loads(ws.recv())
            assert again["duplicate"] and again["alerts"] == answers[2]["alerts"]
            for seq, turn in enumerate(TURNS[3:], start=3):
                ws.send(json.dumps({"type": "turn", "seq": seq, **turn}))
                assert json.loads(ws.recv())["turn"] == seq
            ws.send(json.dumps({"type": "end", "store": False}))
            result = json.loads(ws.recv())
            assert result["type"] == "result" and result["max_score"] > 0
        with httpx.Client(base_url=one) as a, httpx.Client(base_url=two) as b:
            for _ in range(5):
                assert a.post("/api/login", json={"username": "qa", "password": "wrong-one!"}).status_code == 401
            assert b.post("/api/login", json={"username": "qa", "password": "correct-horse"}).status_code == 429


def test_several_workers_need_redis(tmp_path):
    from typer.testing import CliRunner

    from zuoxi.cli import app

    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "w.db"), "--workers", "2"])
    assert result.exit_code == 2 and "--redis" in result.output
    # each refused before anything starts or is written: a bad Redis URL made every worker crash and restart for
    # ever, a port past 65535 failed after the URL was printed, a bad zone after the demo's data was loaded
    for options, said in (
        (["--workers", "2", "--redis", "bogus"], "--redis"),
        (["--redis", "redis://127.0.0.1:1/0"], "--redis"),
        (["--port", "70000"], "--port"),
        (["--demo", "--timezone", "Bogus"], "没有时区 'Bogus'"),
    ):
        db = tmp_path / "refused.db"
        refused = CliRunner().invoke(app, ["serve", "--db", str(db), *options])
        assert refused.exit_code == 2 and said in refused.output and not db.exists(), options


@pytest.mark.slow
def test_workers_serve_from_several_processes(redis_client, tmp_path):
    db = str(tmp_path / "workers.db")
    with running_app(db, "--no-models", "--workers", "2", "--redis", REDIS_URL) as base:
        assert all(httpx.get(base + "/login").status_code == 200 for _ in range(4))


class _EndedElsewhere:
    """A Redis in which the session's key exists when `open` tries to create it, and is gone (closed
    by another process, or expired) by the time `open` reads it back."""

    def set(self, *args, **kwargs) -> bool:
        return False

    def get(self, key):
        return None


def test_a_session_closed_elsewhere_while_opening_opens_fresh():
    """`open` once returned None here (the live socket then failed on `session.id`)."""
    from zuoxi.web.shared import SharedLiveSessions

    sessions = SharedLiveSessions(_EndedElsewhere())
    session = sessions.open("qa", "call-1", scorecard="core", channel="call", models=False)
    assert isinstance(session, LiveSession)
    assert (session.id, session.scorecard, len(session)) == ("call-1", "core", 0)


def test_a_scorecard_saved_by_one_server_process_is_known_to_another(tmp_path):
    """Each process kept the scorecards it read at start: one saved in another process showed there without its text
    or title until a restart (a live session or rescore there used the older text). The library asks the database
    whether anything changed before it answers."""
    from zuoxi.store import Store
    from zuoxi.store.users import add_user
    from zuoxi.web.scorecards import ScorecardLibrary

    db = str(tmp_path / "shared.db")
    one, other = ScorecardLibrary(Store(db)), ScorecardLibrary(Store(db))
    editor = add_user(one.store.engine, "qa", "correct-horse", "inspector")
    one.save(editor, "mine", "id: mine\nname: 我的评分表\ninclude: [core]\nsections: []\n")
    assert other.titles()["mine"] == "我的评分表" and ("mine", False) in other.names()
    one.save(editor, "mine", "id: mine\nname: 改过的评分表\ninclude: [core]\nsections: []\n")
    assert other.titles()["mine"] == "改过的评分表"
