"""The 技能价值 pages and API, and `zuoxi effects`: roles (agents 403, a team lead only their team),
escaping of hostile values, bounded inputs, and the same figures in the page's JSON and the CLI."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import effects_synth as S
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from zuoxi.cli import app as cli
from zuoxi.model import Conversation, Finding, Result
from zuoxi.store import Store
from zuoxi.store.users import add_user
from zuoxi.web import create_app

PASSWORD = "correct-horse"
USERS = {
    "admin": ("admin", None, None),
    "qa": ("inspector", None, None),
    "lead1": ("team_lead", "售后一组", None),
    "agentA01": ("agent", None, "A01"),
}
HOSTILE = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("web-effects") / "effects.db")
    store = Store(path)
    S.fill(store, n=900)
    # A conversation whose team, topic and rule name are script: they must come back escaped. Dated among the
    # others, so the figures with no dates given (the recent days) count it.
    hostile = Conversation(
        id="evil",
        agent_id=HOSTILE,
        team="售后一组",
        started_at=datetime(2026, 11, 1, tzinfo=UTC),
        meta={"topic": HOSTILE},
        turns=[{"role": "agent", "text": "您好"}],
    )
    key = store.add_conversations([(hostile, "x")])[0]
    store.save_results(
        [
            (
                key,
                Result(
                    conversation_id="evil",
                    scorecard="core",
                    score=90,
                    max_score=100,
                    findings=[Finding(rule="XS-01", name=HOSTILE, status="pass", severity="minor")],
                ),
            )
        ]
    )
    for name, (role, team, agent_id) in USERS.items():
        add_user(store.engine, name, PASSWORD, role, team, agent_id)
    return path


@pytest.fixture(scope="module")
def clients(db):
    app = create_app(db, models=False)
    signed = {}
    for name in USERS:
        client = TestClient(app)
        assert client.post("/api/login", json={"username": name, "password": PASSWORD}).status_code == 200
        signed[name] = client
    return signed


PAGES = ["/effects", "/effects?sort=complaint&kind=rule", "/effects/agents/A01", "/effects/training?case=" + S.CASE]


@pytest.mark.parametrize(
    "url", PAGES + ["/api/effects", "/api/effects/agents/A01", "/api/effects/training?case=" + S.CASE]
)
def test_agents_get_403_and_overseers_get_the_figures(clients, url):
    assert clients["agentA01"].get(url).status_code == 403
    for name in ("admin", "qa", "lead1"):
        assert clients[name].get(url).status_code == 200, (name, url)


def test_a_team_lead_sees_only_their_team(clients):
    everyone = clients["qa"].get("/api/effects").json()
    team = clients["lead1"].get("/api/effects").json()
    assert team["conversations"] == 1 + sum(S.AGENTS[f"A{i % 12 + 1:02d}"] == "售后一组" for i in range(900))
    assert team["conversations"] < everyone["conversations"]
    assert clients["lead1"].get("/api/effects", params={"team": "售后二组"}).json()["conversations"] == 0
    assert clients["lead1"].get("/effects/agents/A08").status_code == 404  # another team's agent
    assert clients["lead1"].get("/api/effects/agents/A08").status_code == 404
    drilled = {
        a["agent_id"]
        for a in clients["lead1"].get("/api/effects/training", params={"case": S.CASE}).json()["agents"]
        if a["drilled"]
    }
    assert drilled == {"A01", "A02", "A03"}


def test_the_page_shows_the_effect_with_its_interval_and_how_it_was_adjusted(clients):
    page = clients["qa"].get("/effects", params={"sort": "complaint"}).text
    assert "这是关联，不是因果" in page and "Mantel–Haenszel" in page
    rows = re.findall(r"<td>(\w\w-\d\d|解释与理由)", page)
    assert rows[0] == "SA-04"  # sorted by the complaint effect, most helpful first
    assert "解释与理由" in rows
    assert re.search(
        r"SA-04 主动告知处理时限.*?-1\d\.\d 个百分点 <span class=\"muted\">\[-\d+\.\d，-\d+\.\d\]", page, re.S
    )


def test_a_soft_skill_is_named_in_chinese_only(clients):
    """The pages showed the code beside the name (`educating 教育客户`); a rule keeps its id (SA-04 主动告知处理时限)."""
    for url in ("/effects", "/effects/agents/A01"):
        page = clients["qa"].get(url).text
        assert "<td>解释与理由" in page and "SA-04 " in page, url
        assert not re.search(r"\b(explanations|educating|emotional_support|personal_touch|caring_question)\b", page), (
            url
        )


def test_hostile_values_are_escaped_and_inputs_bounded(clients):
    page = clients["admin"].get("/effects").text
    assert HOSTILE not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert HOSTILE not in clients["admin"].get("/effects/agents/" + HOSTILE).text
    assert clients["admin"].get("/effects", params={"sort": HOSTILE, "kind": HOSTILE}).status_code == 200
    assert clients["admin"].get("/effects", params={"team": "x" * 101}).status_code == 422
    assert clients["admin"].get("/effects", params={"date_from": "not a day"}).status_code == 422
    bad = clients["admin"].get(
        "/effects/training",
        params={
            "case": S.CASE,
            "before_from": "1950-01-01",
            "before_to": "2026-01-01",
            "after_from": "2026-02-01",
            "after_to": "2026-03-01",
        },
    )
    assert bad.status_code == 200 and "时间窗的日期须在" in bad.text
    far = clients["admin"].get("/effects/training", params={"case": S.CASE, "before_from": "0001-01-01"})
    assert far.status_code == 422 and "输入有误" in far.text  # past any day filter's years: refused as every page's is
    assert (
        clients["admin"].get("/api/effects/training", params={"case": S.CASE, "before_from": "2026-03-01"}).status_code
        == 400
    )
    assert clients["admin"].get("/effects/training", params={"case": HOSTILE}).status_code == 404


def test_the_command_line_prints_the_same_figures_as_the_page(clients, db):
    runner = CliRunner()
    printed = runner.invoke(cli, ["effects", "--db", db, "--format", "json"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == clients["admin"].get("/api/effects").json()
    training = runner.invoke(
        cli,
        [
            "effects",
            "training",
            S.CASE,
            "--db",
            db,
            "--format",
            "json",
            "--before",
            "{}:{}".format(*S.BEFORE),
            "--after",
            "{}:{}".format(*S.AFTER),
        ],
    )
    assert training.exit_code == 0, training.output
    assert json.loads(training.stdout)["groups"][0]["drilled"] == 5
    table = runner.invoke(cli, ["effects", "weights", "--db", db, "--outcome", "complaint"])
    assert table.exit_code == 0 and "SA-04" in table.stdout and "未生效" in table.stdout
    assert runner.invoke(cli, ["effects", "training", "no-such-case", "--db", db]).exit_code == 2
    for name in ("nosuch", "../../etc/passwd"):  # one line naming the scorecard, not a traceback
        refused = runner.invoke(cli, ["effects", "weights", "--scorecard", name, "--db", db])
        assert refused.exit_code == 2 and "评分表错误" in refused.stderr and "Traceback" not in refused.output
    assert (
        runner.invoke(
            cli,
            [
                "effects",
                "training",
                S.CASE,
                "--db",
                db,
                "--before",
                "2026-13-01:2026-12-01",
                "--after",
                "2027-01-01:2027-02-01",
            ],
        ).exit_code
        == 2
    )
    assert runner.invoke(cli, ["effects", "agent", "nobody", "--db", db]).exit_code == 2
