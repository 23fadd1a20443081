"""Names people type that were stored as typed: a drill's trainee (`zuoxi train --trainee`), a webhook's name and
team, a sampling plan's name (and its YAML, spec and audit entry). Each is stored masked, as conversations are,
through the command line and the web app alike; a team or agent goes through the form users and conversations
store it in, so it still matches them; a plan or rule id, which is a key in URLs and cannot be masked, refuses
personal data."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.store import Store
from zuoxi.store.tables import AuditEntry, SamplingPlanRow, TrainingAttempt, WebhookRow
from zuoxi.store.users import add_user
from zuoxi.web import create_app

PHONE, PHONE_MASKED = "13812345678", "*******5678"
EMAIL, EMAIL_MASKED = "zhang.san@example.com", "z***@example.com"
ID_NUMBER, ID_MASKED = "11010519491231002X", "**************002X"  # a valid check digit
RAW = (PHONE, EMAIL, ID_NUMBER, "1381234", "zhang.san@")
PASSWORD = "password-1"
URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0123456789abcdef-KEY9"


def rows(db: str, table) -> list:
    with Session(Store(db).engine) as session:
        return list(session.scalars(select(table).order_by(table.id)))


def audit_text(db: str) -> str:
    return json.dumps([[a.entity_id, a.before, a.after] for a in rows(db, AuditEntry)], ensure_ascii=False)


def stored_team(db: str, team: str) -> str | None:
    """The team as a user's is stored: the form conversations and users compare teams in."""
    account = add_user(Store(db).engine, f"lead-{uuid.uuid4().hex[:8]}", PASSWORD, "team_lead", team)
    return account.team


def assert_no_raw(text: str) -> None:
    for raw in RAW:
        assert raw not in text, raw


class Client:
    def __init__(self, web, username: str):
        self.http = TestClient(web)
        self.csrf = self.http.post("/api/login", json={"username": username, "password": PASSWORD}).json()["csrf_token"]

    def form(self, path: str, **data):
        return self.http.post(
            path, data={"csrf_token": self.csrf, **data}, headers={"accept": "text/html"}, follow_redirects=False
        )


@pytest.fixture
def web(tmp_path):
    db = str(tmp_path / "web.db")
    store = Store(db)
    add_user(store.engine, "admin", PASSWORD, "admin")
    add_user(store.engine, "qa", PASSWORD, "inspector")
    store.close()
    return db, create_app(db, models=False)


# --- a drill's trainee ------------------------------------------------------------------------------------


def drill(db: str, trainee: str):
    return CliRunner().invoke(
        app,
        ["train", "wrong-burger", "--stage", "drill", "--trainee", trainee, "--db", db],
        input="您好，请问有什么可以帮您\n/quit\n",
    )


@pytest.mark.parametrize(
    ("trainee", "stored"),
    [
        (PHONE, PHONE_MASKED),
        (f"张三 {EMAIL}", f"张三 {EMAIL_MASKED}"),
        (f"工号{ID_NUMBER}", f"工号{ID_MASKED}"),
    ],
)
def test_a_trainee_named_by_personal_data_is_stored_masked(tmp_path, trainee, stored):
    db = str(tmp_path / "train.db")
    first = drill(db, trainee)
    assert first.exit_code == 0, first.output
    second = drill(db, trainee)
    assert second.exit_code == 0, second.output
    assert [a.trainee for a in rows(db, TrainingAttempt)] == [stored, stored]
    assert re.search(r"历次得分：\S+ → \S+\n", second.output)  # the history finds the first drill under the masked name
    assert_no_raw(first.output + second.output)


# --- webhooks -----------------------------------------------------------------------------------------------


def test_a_webhook_from_the_command_line_is_stored_masked_with_the_team_as_users_have_it(tmp_path):
    db = str(tmp_path / "hooks.db")
    team = "售後１３８１２３４５６７８"  # traditional, full-width digits: one team with 售后13812345678
    added = CliRunner().invoke(app, ["queue", "webhook", "add", "--team", team, "--url", URL, "--db", db])
    assert added.exit_code == 0, added.output
    named = CliRunner().invoke(
        app, ["queue", "webhook", "add", "--team", "一组", "--url", URL, "--name", f"{EMAIL} 群", "--db", db]
    )
    assert named.exit_code == 0, named.output
    hooks = rows(db, WebhookRow)
    assert [(h.name, h.team) for h in hooks] == [
        ("售後*******５６７８群", f"售后{PHONE_MASKED}"),  # a name is masked, not made canonical
        (f"{EMAIL_MASKED} 群", "一组"),
    ]
    assert hooks[0].team == stored_team(db, team)  # a conversation of that team reaches this webhook
    assert_no_raw(audit_text(db))
    listed = CliRunner().invoke(app, ["queue", "webhook", "list", "--db", db])
    assert listed.exit_code == 0, listed.output
    assert_no_raw(listed.output)


def test_a_webhook_from_the_web_app_is_stored_masked(web):
    db, web_app = web
    added = Client(web_app, "admin").form("/alerts/webhooks", name=f"张经理 {PHONE}", team=f"售后{ID_NUMBER}", url=URL)
    assert added.headers["location"].startswith("/alerts/settings?done="), added.headers["location"]
    assert [(h.name, h.team) for h in rows(db, WebhookRow)] == [(f"张经理 {PHONE_MASKED}", f"售后{ID_MASKED}")]
    assert_no_raw(audit_text(db))


# --- sampling plans -----------------------------------------------------------------------------------------

PLAN = f"""# 回访名单负责人 {PHONE}
id: callbacks
name: "回访抽检 {PHONE}"
description: 有问题找 {EMAIL}
scope:
  teams: [售后{PHONE}]
  agents: ["{ID_NUMBER}"]
random: {{count: 1, name: 随机 {PHONE}}}
rules:
  - {{id: low, kind: score_band, max: 60, name: 低分 {EMAIL}}}
"""


def plan_rows(db: str) -> list[tuple[str, str, str, str]]:
    return [(p.name, p.title, p.yaml, json.dumps(p.spec, ensure_ascii=False)) for p in rows(db, SamplingPlanRow)]


def test_a_plan_from_the_command_line_is_stored_masked(tmp_path):
    db, path = str(tmp_path / "plans.db"), tmp_path / "callbacks.yaml"
    path.write_text(PLAN, encoding="utf-8")
    made = CliRunner().invoke(app, ["queue", "plan", "create", str(path), "--db", db])
    assert made.exit_code == 0, made.output
    [(name, title, text, spec)] = plan_rows(db)
    assert (name, title) == ("callbacks", f"回访抽检 {PHONE_MASKED}")
    for stored in (text, spec):
        assert f"售后{PHONE_MASKED}" in stored and ID_MASKED in stored and EMAIL_MASKED in stored
        assert f"随机 {PHONE_MASKED}" in stored and f"低分 {EMAIL_MASKED}" in stored
        assert_no_raw(stored)
    assert text.startswith(f"# 回访名单负责人 {PHONE_MASKED}\n")  # the YAML as written, comments kept, masked
    assert f"售后{PHONE_MASKED}" == stored_team(db, f"售后{PHONE}")  # the scope still matches the team
    assert_no_raw(audit_text(db) + made.output)
    shown = CliRunner().invoke(app, ["queue", "plan", "show", "callbacks", "--db", db])
    assert shown.exit_code == 0 and PHONE_MASKED in shown.output
    assert_no_raw(shown.output)


def test_a_plan_whose_yaml_would_not_read_once_masked_is_stored_as_its_masked_spec(tmp_path):
    """An unquoted masked value starts with `*`, a YAML alias: the stored text is then the spec written out."""
    db, path = str(tmp_path / "plans.db"), tmp_path / "p.yaml"
    path.write_text(f"id: p\nname: x\nscope: {{agents: [{PHONE}号]}}\nrandom: {{count: 1}}\n", encoding="utf-8")
    made = CliRunner().invoke(app, ["queue", "plan", "create", str(path), "--db", db])
    assert made.exit_code == 0, made.output
    [(_, _, text, spec)] = plan_rows(db)
    assert f"{PHONE_MASKED}号" in text and f"{PHONE_MASKED}号" in spec
    assert_no_raw(text + spec + audit_text(db))
    shown = CliRunner().invoke(app, ["queue", "plan", "show", "p", "--db", db])
    assert shown.exit_code == 0, shown.output


@pytest.mark.parametrize("plan_id", [f"x-{PHONE}", f"tel{PHONE}", "a-11010519491231002x"])
def test_a_plan_id_holding_personal_data_is_refused(tmp_path, plan_id):
    """The id is the plan's key in URLs and commands: masked, it would match no pattern and no plan."""
    db, path = str(tmp_path / "plans.db"), tmp_path / "p.yaml"
    path.write_text(f"id: {plan_id}\nname: x\nrandom: {{count: 1}}\n", encoding="utf-8")
    made = CliRunner().invoke(app, ["queue", "plan", "create", str(path), "--db", db])
    assert made.exit_code != 0 and "p.yaml:1: id:" in made.output, made.output
    assert plan_rows(db) == []
    path.write_text(f"id: p\nname: x\nrules:\n  - {{id: {plan_id}, kind: veto}}\n", encoding="utf-8")
    made = CliRunner().invoke(app, ["queue", "plan", "create", str(path), "--db", db])
    assert made.exit_code != 0 and "p.yaml:4: rules.0.id:" in made.output, made.output
    assert plan_rows(db) == []


def test_a_plan_from_the_web_form_is_stored_masked(web):
    db, web_app = web
    made = Client(web_app, "qa").form(
        "/queue/plans",
        id="daily",
        name=f"每日 {PHONE}",
        schedule="daily",
        random_share="5",
        teams=EMAIL,
        method="workload",
    )
    assert made.status_code == 303, made.text
    [(name, title, text, spec)] = plan_rows(db)
    assert (name, title) == ("daily", f"每日 {PHONE_MASKED}") and EMAIL_MASKED in text and EMAIL_MASKED in spec
    assert_no_raw(text + spec + audit_text(db))
