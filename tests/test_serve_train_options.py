"""`zuoxi serve` and `zuoxi train` given hostile options and lines: each is one clear line before anything is
printed, written or started (serve), or a refused line the trainee is asked again for (train) — never a traceback,
never a URL shown for a server that cannot start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import uvicorn
from live_server import free_port
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.coaching.simulator import MAX_AGENT_LINE
from zuoxi.store import Store
from zuoxi.store.tables import TrainingAttempt


@pytest.fixture
def started(monkeypatch) -> list[dict]:
    """What uvicorn.run was called with (nothing is served)."""
    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    return calls


def serve(tmp_path, *options: str):
    return CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "serve.db"), "--port", str(free_port()), *options])


def flat(output: str) -> str:
    """The output without the error box's borders and line breaks (a long path wraps the message)."""
    return " ".join(output.replace("│", " ").split())


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("999.1.1.1", "无法解析"),
        ("a b", "无法解析"),
        ("", "不能为空"),
        ("   ", "不能为空"),
        ("no-such-host.invalid", "无法解析"),  # .invalid never resolves (RFC 2606)
        ("a\x00b", "无法解析"),
        ("a" * 300, "无法解析"),  # a label over 63 characters: a UnicodeError inside getaddrinfo
        ("192.0.2.1", "无法在"),  # TEST-NET-1: resolves, but no address of this machine
    ],
)
def test_a_bad_host_is_refused_before_anything(tmp_path, started, host, said):
    """The URL was printed, the demo's data loaded, then uvicorn failed (Name or service not known); `''` served on
    every interface without saying so."""
    result = serve(tmp_path, "--demo", "--host", host)
    assert result.exit_code == 2, result.output
    assert "--host" in result.output and said in flat(result.output)
    assert "zuoxi 网页端" not in result.output and "Traceback" not in result.output
    assert not started and not (tmp_path / "serve.db").exists()


def test_a_good_host_is_served(tmp_path, started):
    for host in ("127.0.0.1", "localhost"):
        result = serve(tmp_path, "--host", host)
        assert result.exit_code == 0, result.output
        assert f"http://{host}:{started[-1]['port']}/" in result.output and started[-1]["host"] == host


def test_an_ipv6_host_is_bracketed_in_the_url(tmp_path, started):
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    result = serve(tmp_path, "--host", "::1")
    assert result.exit_code == 0, result.output
    assert f"http://[::1]:{started[-1]['port']}/" in result.output and started[-1]["host"] == "::1"


def test_recordings_must_be_a_folder(tmp_path, started):
    """A named pipe passed `file_okay=False` and the server started with it as its recordings folder."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    result = serve(tmp_path, "--recordings", str(pipe))
    assert result.exit_code == 2 and "--recordings" in result.output and "不是文件夹" in flat(result.output)
    assert not started and not (tmp_path / "serve.db").exists()


@pytest.mark.parametrize("proxy", ["not-an-address", "10.0.0.5,", "", "10.0.0.5/24", "1.2.3.4\x00", "10.0.0.5,*", " *"])
def test_a_trusted_proxy_that_names_no_address_is_refused(tmp_path, started, proxy):
    """uvicorn keeps an entry it cannot read as a literal that no client matches: the proxy meant was not believed
    and every sign-in counted against the proxy's own address."""
    result = serve(tmp_path, "--trusted-proxy", proxy)
    assert result.exit_code == 2 and "--trusted-proxy" in result.output, result.output
    assert not started


@pytest.mark.parametrize("proxy", ["10.0.0.5", "10.0.0.5, 10.0.1.0/24", "::1", "*"])
def test_a_trusted_proxy_is_an_address_or_network(tmp_path, started, proxy):
    result = serve(tmp_path, "--trusted-proxy", proxy)
    assert result.exit_code == 0, result.output
    assert started[-1]["forwarded_allow_ips"] == proxy


# --- zuoxi train --------------------------------------------------------------------------------------


def drill(db: str, lines: str, *options: str):
    return CliRunner().invoke(
        app, ["train", "wrong-burger", "--stage", "drill", "--trainee", "t", "--db", db, *options], input=lines
    )


def agent_lines(db: str) -> list[list[str]]:
    """What the trainee said in each stored attempt."""
    with Session(Store(db).engine) as session:
        attempts = session.scalars(select(TrainingAttempt).order_by(TrainingAttempt.id)).all()
        return [[turn["text"] for turn in attempt.turns if turn["role"] == "agent"] for attempt in attempts]


def test_a_trainee_line_over_the_web_apps_cap_is_refused_and_asked_again(tmp_path):
    """The web app refuses a line over MAX_AGENT_LINE characters (422); the terminal took any length."""
    db = str(tmp_path / "long.db")
    result = drill(db, "好" * (MAX_AGENT_LINE + 1) + "\n" + "您" * MAX_AGENT_LINE + "\n/quit\n")
    assert result.exit_code == 0, result.output
    assert f"这句有 {MAX_AGENT_LINE + 1} 字，一句最多 {MAX_AGENT_LINE} 字" in result.output
    assert agent_lines(db) == [["您" * MAX_AGENT_LINE]]  # the refused line is not in the drill, the next one is


def test_a_drill_of_only_refused_lines_is_no_attempt(tmp_path):
    db = str(tmp_path / "refused.db")
    result = drill(db, "好" * (MAX_AGENT_LINE + 1) + "\n/quit\n")
    assert result.exit_code == 0 and "没有作答" in result.output
    assert agent_lines(db) == []


def test_a_line_that_is_not_utf8_is_refused_not_a_traceback(tmp_path):
    """Python keeps bytes that are not UTF-8 as lone surrogates; the converter then failed with a traceback."""
    db = str(tmp_path / "bytes.db")
    result = subprocess.run(
        [sys.executable, "-m", "zuoxi.cli", "train", "wrong-burger", "--stage", "drill", "--trainee", "t", "--db", db],
        input=b"\xff\xfe\xe5\xa5\n\xe6\x82\xa8\xe5\xa5\xbd\n/quit\n",
        capture_output=True,
        timeout=120,
        check=False,
        env={key: value for key, value in os.environ.items() if not key.startswith("ZUOXI_LLM")},
    )
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0, output
    assert "不是 UTF-8 文本" in output and "Traceback" not in output
    assert agent_lines(db) == [["您好"]]


def test_a_trainee_name_with_control_characters_is_refused_first(tmp_path):
    """A NUL in --trainee was stored with the attempt: PostgreSQL refuses it, and the finished drill was lost."""
    db = str(tmp_path / "name.db")
    for name in ("t\x00x", "t\x1b[2Jx"):
        result = drill(db, "您好\n/quit\n", "--trainee", name)
        assert result.exit_code == 2 and "--trainee" in result.output and "不能含控制字符" in result.output
        assert "第三步" not in result.output
    assert agent_lines(db) == []


@pytest.mark.parametrize("seed", [str(10**40), "-5"])
def test_any_integer_seed_drills(tmp_path, seed):
    result = drill(str(tmp_path / "seed.db"), "/quit\n", "--seed", seed)
    assert result.exit_code == 0 and "客户：" in result.output, result.output


def test_a_port_in_use_is_refused_before_the_demo_is_loaded(tmp_path, started):
    """uvicorn said "address already in use" only after the URL was printed and a minute of demo data was written
    (`make run` run while its first server still runs)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        db = tmp_path / "busy.db"
        result = CliRunner().invoke(
            app, ["serve", "--db", str(db), "--demo", "--host", "127.0.0.1", "--port", str(port)]
        )
    assert result.exit_code == 2, result.output
    assert "--port" in result.output and f"端口 {port}" in flat(result.output) and "另一个服务" in flat(result.output)
    assert "zuoxi 网页端" not in result.output and not db.exists() and started == []


def test_the_demo_never_joins_a_database_with_users_of_its_own(tmp_path, started, monkeypatch):
    """`serve --demo` added admin/zuoxi-demo (a password the README prints) to ./zuoxi.db, the database the other
    commands keep real users in. Without --db the demo has a database of its own; a database that has users of its
    own is refused before anything is written."""
    from zuoxi.cli.server import DEMO_DB
    from zuoxi.store.users import add_user, authenticate, list_accounts

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZUOXI_DB", raising=False)
    real = Store(str(tmp_path / "zuoxi.db"))  # the default database, with a real user
    add_user(real.engine, "boss", "a-real-password-1", "admin")
    real.close()

    result = CliRunner().invoke(app, ["serve", "--demo", "--no-models", "--port", str(free_port())])
    assert result.exit_code == 0, result.output
    assert started and (tmp_path / DEMO_DB).exists()
    real = Store(str(tmp_path / "zuoxi.db"))
    assert [a.username for a in list_accounts(real.engine)] == ["boss"]  # untouched
    assert authenticate(real.engine, "admin", "zuoxi-demo") is None
    real.close()

    started.clear()
    refused = CliRunner().invoke(
        app, ["serve", "--demo", "--db", str(tmp_path / "zuoxi.db"), "--port", str(free_port())]
    )
    assert refused.exit_code == 2 and "--demo" in refused.output and "boss" in flat(refused.output), refused.output
    assert not started and "zuoxi 网页端" not in refused.output
    real = Store(str(tmp_path / "zuoxi.db"))
    assert [a.username for a in list_accounts(real.engine)] == ["boss"] and real.stats()["conversations"] == 0
    real.close()
