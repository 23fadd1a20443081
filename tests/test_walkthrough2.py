"""What a new user found (second walkthrough): `zuoxi campaign assign … --reassign` moved 233 customers to other
agents — which changes who may reveal their numbers — and nothing appeared in the audit log."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.campaigns import vault
from zuoxi.campaigns.assign import assign, command_line
from zuoxi.campaigns.calllist import import_call_list
from zuoxi.campaigns.campaign import create_campaign, load_spec
from zuoxi.cli import app
from zuoxi.store import Store
from zuoxi.store.audit import audit_entries
from zuoxi.store.tables import CampaignCustomer
from zuoxi.store.users import add_user
from zuoxi.web import create_app

HEADER = "客户号,姓名,性别,手机号,卡号,网点,地区,年龄,职业\n"
PASSWORD = "correct-horse"


@pytest.fixture(autouse=True)
def secret_key(monkeypatch):
    monkeypatch.setenv(vault.SECRET_ENV, "a long random passphrase, only for the tests")


@pytest.fixture
def store(tmp_path):
    opened = Store(f"sqlite:///{tmp_path / 'walk.db'}")
    create_campaign(opened, load_spec("card_activation"))
    path = tmp_path / "list.csv"
    rows = "".join(f"C{i},张三,男,1381234567{i},6227 0000 0000 1234,汕头分行营业部,汕头,30,教师\n" for i in range(4))
    path.write_text(HEADER + rows, encoding="utf-8")
    assert import_call_list(opened, "card_activation", path, as_of=date(2026, 3, 1)).errors == []
    yield opened
    opened.close()


def _agents(store: Store) -> list[str | None]:
    with Session(store.engine) as session:
        return list(session.scalars(select(CampaignCustomer.agent_id).order_by(CampaignCustomer.id)))


def _assigns(store: Store):
    return [e for e in audit_entries(store.engine, action="campaign.assign")[1]]


def test_an_assignment_that_moves_customers_is_audited_with_the_command_and_counts(store, monkeypatch):
    def run(*options: str) -> str:
        argv = ["/opt/zuoxi/.venv/bin/zuoxi", "campaign", "assign", "card_activation", *options, "--db", store.url]
        monkeypatch.setattr("sys.argv", argv)  # what the shell gave the zuoxi command
        result = CliRunner().invoke(app, argv[1:])
        assert result.exit_code == 0, result.output
        return result.stderr

    assert "已分配：07 4 位" in run("--agent", "07")
    [first] = _assigns(store)
    assert (first.username, first.entity, first.entity_id) == (None, "campaign_customer", "card_activation")
    assert first.before == {"agent_id": {"未分配": 4}}  # no one could see their numbers; now 07 can
    assert first.after == {
        "campaign": "card_activation",
        "agent_id": {"07": 4},
        "command": f"zuoxi campaign assign card_activation --agent 07 --db {store.url}",
    }
    run("--agent", "07", "--agent", "21", "--reassign")
    assert _agents(store) == ["07", "21", "07", "21"]
    moved, _ = _assigns(store)  # newest first
    assert moved.before == {"agent_id": {"07": 2}} and moved.after["agent_id"] == {"21": 2}  # the two that moved
    assert moved.after["command"].startswith("zuoxi campaign assign card_activation --agent 07 --agent 21 --reassign")
    # the same again moves no one: nothing changed, nothing to audit
    run("--agent", "07", "--agent", "21", "--reassign")
    assert len(_assigns(store)) == 2


def test_a_signed_in_user_is_recorded_and_the_audit_page_names_the_action_in_chinese(store):
    admin = add_user(store.engine, "admin", PASSWORD, "admin")
    assign(store, "card_activation", ["13700001111"], account=admin)  # an agent id that is a phone number: masked
    [entry] = _assigns(store)
    assert entry.username == "admin" and "command" not in entry.after
    assert entry.after["agent_id"] == {"*******1111": 4}
    web = TestClient(create_app(store.url, models=False))
    assert web.post("/api/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
    page = web.get("/audit", headers={"accept": "text/html"}).text
    assert "分配外呼客户" in page
    web.app.state.store.close()


def test_the_command_line_is_kept_without_personal_data_or_secrets():
    assert command_line(["/x/bin/zuoxi", "campaign", "assign", "c", "--agent", "13800138000"]) == (
        "zuoxi campaign assign c --agent '*******8000'"
    )
    assert command_line(["/x/zuoxi/__main__.py", "x", "--db", "postgresql://qa:hunter2@db/zuoxi"]) == (
        "zuoxi x --db 'postgresql://qa:***@db/zuoxi'"
    )
    assert command_line(["zuoxi", "user", "add", "--password", "hunter2", "--secret=s3"]) == (
        "zuoxi user add --password '***' '--secret=***'"
    )


def test_an_attempt_that_makes_an_unassigned_customer_an_agents_is_audited(store):
    """A customer nobody was assigned becomes the agent's who records an attempt on them — who may then reveal their
    number — and that was in no audit entry; a further attempt by the same agent moves no one and writes none."""
    from datetime import UTC, datetime, timedelta

    from zuoxi.campaigns.dispositions import record_attempts
    from zuoxi.campaigns.models import Attempt

    with Session(store.engine) as session:
        first = session.scalars(select(CampaignCustomer.id).order_by(CampaignCustomer.id)).first()
    started = datetime.now(UTC) - timedelta(hours=1)
    attempt = Attempt(customer_id=first, agent_id="07", started_at=started, disposition="no_answer")
    record_attempts(store, "card_activation", [(attempt, None)], models=False)
    assert _agents(store)[0] == "07"
    [entry] = _assigns(store)
    assert entry.before == {"agent_id": {"未分配": 1}} and entry.after["agent_id"] == {"07": 1}
    again = Attempt(customer_id=first, agent_id="07", started_at=started + timedelta(minutes=5), disposition="busy")
    record_attempts(store, "card_activation", [(again, None)], models=False)
    assert len(_assigns(store)) == 1
