"""Outbound campaigns (issue 8): call-list import, assignment, dispositions, analytics, demo."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.campaigns import vault
from zuoxi.campaigns.analytics import report, wilson
from zuoxi.campaigns.assign import assign, queue
from zuoxi.campaigns.calllist import import_call_list
from zuoxi.campaigns.campaign import CampaignError, create_campaign, load_spec, render_script
from zuoxi.campaigns.demo import build_demo
from zuoxi.campaigns.dispositions import import_dispositions, record_attempts
from zuoxi.campaigns.models import Attempt
from zuoxi.cli import app
from zuoxi.model import Conversation
from zuoxi.store import Store
from zuoxi.store.tables import CampaignCallback, CampaignCustomer, ResultRow

HEADER = "客户号,姓名,性别,手机号,卡号,网点,地区,年龄,职业\n"
CARD = "6227 0000 0000 1234"


def _row(ref: str, name: str, phone: str, age: int, region: str = "汕头", occupation: str = "教师") -> str:
    return f"{ref},{name},男,{phone},{CARD},汕头分行营业部,{region},{age},{occupation}\n"


@pytest.fixture
def sqlite_store(tmp_path):
    opened = Store(f"sqlite:///{tmp_path / 'campaigns.db'}")
    yield opened
    opened.close()


def _campaign(store: Store, rows: list[str], tmp_path) -> list[CampaignCustomer]:
    create_campaign(store, load_spec("card_activation"))
    path = tmp_path / "list.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    summary = import_call_list(store, "card_activation", path, as_of=date(2026, 3, 1))
    assert summary.errors == []
    with Session(store.engine) as session:
        return list(session.scalars(select(CampaignCustomer).order_by(CampaignCustomer.id)))


def test_import_reports_each_bad_row_and_keeps_the_rest(sqlite_store, tmp_path, monkeypatch):
    monkeypatch.delenv(vault.SECRET_ENV, raising=False)
    create_campaign(sqlite_store, load_spec("card_activation"))
    path = tmp_path / "list.csv"
    path.write_bytes((HEADER + _row("C1", "张三", "138 1234 5678", 35)
                      + _row("C2", "李四", "", 40)                       # line 3: no phone
                      + _row("C3", "王五", "+86 13812345678", 41)        # line 4: same phone as line 2
                      ).encode("utf-8")
                     + _row("C4", "陈六", "13900001111", 50).encode("gbk")  # line 5: pasted from a GBK file
                     + (_row("C5", "欧阳娜", "0754-88881234", 62) + _row("C6", "林七", "12345", 30)).encode("utf-8"))
    summary = import_call_list(sqlite_store, "card_activation", path, as_of=date(2026, 3, 1))
    assert [str(e) for e in summary.errors] == [
        f"{path}:5: wrong encoding: this line is not UTF-8 like the rest of the file",
        f"{path}:3: missing phone number",
        f"{path}:4: duplicate customer: same phone as line 2 (kept that one)",
        f"{path}:7: unreadable phone number '12345' (expected a mainland mobile or landline)",
    ]
    assert summary.imported == 2
    with Session(sqlite_store.engine) as session:
        kept = list(session.scalars(select(CampaignCustomer).order_by(CampaignCustomer.id)))
    assert [(c.ref, c.salutation, c.phone_tail, c.card_last4, c.age_band, c.phone_enc) for c in kept] == [
        ("C1", "张先生", "5678", "1234", "30-39", None), ("C5", "欧阳先生", "1234", "1234", "60+", None)]
    again = import_call_list(sqlite_store, "card_activation", tmp_path / "list.csv", as_of=date(2026, 3, 1))
    assert again.imported == 0 and "duplicate customer: same phone as the campaign" in str(again.errors[1])


def test_phone_is_encrypted_only_with_a_secret(sqlite_store, tmp_path, monkeypatch):
    monkeypatch.setenv(vault.SECRET_ENV, "a long random passphrase for the test")
    customers = _campaign(sqlite_store, [_row("C1", "张三", "13812345678", 35)], tmp_path)
    assert customers[0].phone_enc and "13812345678" not in customers[0].phone_enc
    assert vault.decrypt(customers[0].phone_enc) == "13812345678"
    script = render_script(load_spec("card_activation"), customers[0], "T01")
    assert "张先生" in script and "尾号1234" in script and "95533" in script and "13812345678" not in script


def test_a_script_variable_the_list_lacks_is_a_row_error(sqlite_store, tmp_path):
    create_campaign(sqlite_store, load_spec("card_activation"))
    path = tmp_path / "list.csv"
    path.write_text("客户号,姓名,手机号,网点\nC1,张三,13812345678,汕头分行\n", encoding="utf-8")
    summary = import_call_list(sqlite_store, "card_activation", path)
    assert [str(e) for e in summary.errors] == [f"{path}:2: no card number: the script says the card's last four digits"]


def test_assignment_is_even_and_respects_regions(sqlite_store, tmp_path):
    rows = [_row(f"C{i}", "张三", f"1381234{i:04d}", 30, region="汕头" if i < 4 else "潮州") for i in range(10)]
    _campaign(sqlite_store, rows, tmp_path)
    assert assign(sqlite_store, "card_activation", ["A", "B", "C"]) == {"A": 4, "B": 3, "C": 3}
    assert assign(sqlite_store, "card_activation", ["A", "B", "C"]) == {}  # nothing unassigned is left
    given = assign(sqlite_store, "card_activation", ["B", "C"], regions={"汕头": ["A"]}, reassign=True)
    assert given == {"A": 4, "B": 3, "C": 3}
    with Session(sqlite_store.engine) as session:
        by_region = {(c.region, c.agent_id) for c in session.scalars(select(CampaignCustomer))}
    assert {agent for region, agent in by_region if region == "汕头"} == {"A"}


def _call(ident: str, opening: str) -> Conversation:
    texts = [("customer", "喂？"), ("agent", opening), ("customer", "是我。"),
             ("agent", "给您来电是提醒您，您的信用卡已经寄出还没有激活。请问您收到了吗？"), ("customer", "收到了。"),
             ("agent", "您打算使用这张卡吗？激活方式是拨打卡片背面的官方客服热线95533。"), ("customer", "好的。"),
             ("agent", "感谢您的接听，祝您生活愉快，再见。")]
    return Conversation(id=ident, channel="call", agent_id="X", turns=[{"role": r, "text": t} for r, t in texts])


def test_analytics_of_a_hand_computed_campaign(db_url, tmp_path):
    """5 customers, 7 attempts by 2 agents over 2 days; every figure below is worked out by hand."""
    store = Store(db_url)
    rows = [_row("A", "张三", "13800000001", 25), _row("B", "李四", "13800000002", 35),
            _row("C", "王五", "13800000003", 45, region="潮州"), _row("D", "陈六", "13800000004", 55, region="潮州"),
            _row("E", "林七", "13800000005", 65, region="潮州")]
    a, b, c, d, e = (x.id for x in _campaign(store, rows, tmp_path))
    good, hesitant = store.add_conversations([
        (_call("good", "您好，我是建设银行信用卡中心的客服代表，工号8。"), None),
        (_call("hesitant", "喂，您好，我是，嗯，银行的客服代表。"), None)])

    def at(day: int, hour: int) -> datetime:
        return datetime.fromisoformat(f"2026-03-0{day}T{hour:02d}:00:00+08:00")

    record_attempts(store, "card_activation", [
        (Attempt(customer_id=a, agent_id="X", started_at=at(2, 9), duration=30, disposition="no_answer"), None),
        (Attempt(customer_id=a, agent_id="X", started_at=at(3, 9), duration=150, disposition="goal_achieved",
                 conversation_key=good), None),
        (Attempt(customer_id=b, agent_id="X", started_at=at(2, 10), duration=60, disposition="拒绝",
                 reason_code="not_needed", conversation_key=hesitant), None),
        (Attempt(customer_id=c, agent_id="Y", started_at=at(2, 9), duration=10, disposition="busy"), None),
        (Attempt(customer_id=c, agent_id="Y", started_at=at(2, 11), duration=10, disposition="busy"), None),
        (Attempt(customer_id=d, agent_id="Y", started_at=at(2, 23), duration=80, disposition="suspected_fraud"), None),
        (Attempt(customer_id=e, agent_id="Y", started_at=at(3, 10), duration=120, disposition="goal_achieved"), None),
    ], models=False)
    r = report(store, "card_activation")
    assert (r.customers, r.customers_called, r.attempts) == (5, 5, 7)
    assert (r.contact_rate.successes, r.contact_rate.n) == (4, 5)  # A, B, D, E reached
    assert (round(r.contact_rate.low, 3), round(r.contact_rate.high, 3)) == (0.376, 0.964)
    assert (r.success_rate.successes, r.success_rate.n, r.success_rate.rate) == (2, 4, 0.5)
    assert (round(r.success_rate.low, 3), round(r.success_rate.high, 3)) == (0.150, 0.850)
    assert (r.list_success_rate.successes, r.list_success_rate.n) == (2, 5)
    assert r.attempts_per_success == 3.5
    assert r.calls_per_agent_day == 7 / 4  # X: 2 + 1, Y: 3 + 1 (23:00 China time is still March 2)
    assert r.average_handling_time == (150 + 60 + 80 + 120) / 4
    assert r.refusal_reasons == {"not_needed": 1}
    assert r.status == {"pending": 0, "retry": 1, "callback": 0, "success": 2, "closed": 2}
    assert [(x.agent_id, x.days, x.attempts, x.per_day, x.successes) for x in r.agents] == [
        ("X", 2, 3, 1.5, 1), ("Y", 2, 4, 2.0, 1)]
    segments = {(s.field, s.value): (s.contacted.successes, s.contacted.n) for s in r.segments}
    assert segments == {("age_band", "<30"): (1, 1), ("age_band", "30-39"): (0, 1), ("age_band", "50-59"): (0, 1),
                        ("age_band", "60+"): (1, 1), ("region", "汕头"): (1, 2), ("region", "潮州"): (1, 2),
                        ("occupation", "教师"): (2, 4)}
    # The linked calls got `outbound` results with the campaign's questions, and join in by item.
    assert r.linked_calls == 2
    ob01 = next(x for x in r.rules if x.rule == "OB-01")
    assert (ob01.passed.successes, ob01.passed.n, ob01.failed.successes, ob01.failed.n) == (1, 1, 0, 1)
    assert not ob01.separated  # one call each way proves nothing
    with Session(store.engine) as session:
        scored = {row.conversation_key: row.data for row in session.scalars(select(ResultRow))}
    assert set(scored) == {good, hesitant}
    assert all(d["scorecard"] == "outbound" for d in scored.values())
    store.close()


def test_wilson_interval():
    assert wilson(0, 0).rate is None
    zero = wilson(0, 10)
    assert zero.low == 0 and round(zero.high, 3) == 0.278
    assert round(wilson(50, 100).low, 3) == 0.404


def test_callbacks_and_the_queue(sqlite_store, tmp_path):
    a, b = (x.id for x in _campaign(sqlite_store, [_row("A", "张三", "13800000001", 25),
                                                     _row("B", "李四", "13800000002", 35)], tmp_path))
    assign(sqlite_store, "card_activation", ["X"])
    record_attempts(sqlite_store, "card_activation", [
        (Attempt(customer_id=a, agent_id="X", started_at=datetime(2026, 3, 2, 9), disposition="预约回访"), None)])
    with Session(sqlite_store.engine) as session:
        callback = session.scalars(select(CampaignCallback)).one()
    assert not callback.done
    picked = queue(sqlite_store, "card_activation", "X", datetime.fromisoformat("2026-03-03T10:00:00+08:00"))
    assert [(c.id, why.split(" ")[0]) for c, why in picked] == [(a, "callback"), (b, "new")]
    early = queue(sqlite_store, "card_activation", "X", datetime.fromisoformat("2026-03-02T10:00:00+08:00"))
    assert [c.id for c, _ in early] == [b]


def test_disposition_import_reports_bad_rows(sqlite_store, tmp_path):
    _campaign(sqlite_store, [_row("A", "张三", "13800000001", 25)], tmp_path)
    path = tmp_path / "attempts.csv"
    path.write_text("客户号,坐席工号,呼叫时间,结果,原因,时长\n"
                    "A,X,2026-03-02 09:00:00,拒绝,not_needed,1:05\n"
                    "Z,X,2026-03-02 09:05:00,拒绝,,\n"
                    "A,X,2026-03-02 09:10:00,飞走了,,\n"
                    "A,X,2026-03-02 09:15:00,拒绝,嫌麻烦,\n", encoding="utf-8")
    summary = import_dispositions(sqlite_store, "card_activation", path, models=False)
    assert summary.imported == 1
    assert [str(e).split(": ", 1)[1] for e in summary.errors] == [
        "no customer with number 'Z' on this campaign's list",
        "unknown disposition '飞走了' (one of connected, no_answer, busy, wrong_number, refused, suspected_fraud, "
        "hung_up, callback_requested, goal_achieved)",
        "unknown reason '嫌麻烦' (one of not_needed, distrusts_call, already_cancelled, annual_fee, too_many_cards, "
        "applied_for_employer, no_reason)"]
    assert report(sqlite_store, "card_activation").average_handling_time == 65


def test_campaign_file_errors_name_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ntitle: t\npurpose: p\nhotline: '1'\nscript: '{{ nickname }}'\n"
                    "questions: [{id: q, text: t, keywords: []}]\nreason_codes: {no: 不}\n", encoding="utf-8")
    with pytest.raises(CampaignError, match="questions.0.keywords"):
        load_spec(path)


def test_the_demo_is_deterministic(tmp_path):
    reports = []
    for name in ("one", "two"):
        store = Store(f"sqlite:///{tmp_path / name}.db")
        summary = build_demo(store, customers=400, seed=7, models=False)
        reports.append(report(store, summary.campaign).model_dump())
        store.close()
    assert reports[0] == reports[1]
    first = reports[0]
    assert first["customers"] < 400 + 2 and first["attempts"] > first["customers"] and first["linked_calls"] > 0
    assert any(r["rule"] == "OB-01" and r["passed"]["n"] and r["failed"]["n"] for r in first["rules"])


def test_cli_create_import_report(tmp_path):
    runner, db = CliRunner(), str(tmp_path / "cli.db")
    path = tmp_path / "list.csv"
    path.write_text(HEADER + _row("A", "张三", "13800000001", 25) + _row("B", "李四", "", 35), encoding="utf-8")
    assert runner.invoke(app, ["campaign", "create", "card_activation", "--db", db]).exit_code == 0
    imported = runner.invoke(app, ["campaign", "import", "card_activation", str(path), "--db", db])
    assert imported.exit_code == 0 and f"{path}:3: missing phone number" in imported.stderr
    assert runner.invoke(app, ["campaign", "assign", "card_activation", "--agent", "X", "--db", db]).exit_code == 0
    recorded = runner.invoke(app, ["campaign", "record", "card_activation", "1", "成功", "--agent", "X",
                                   "--at", "2026-03-02T09:00:00", "--duration", "100", "--db", db])
    assert recorded.exit_code == 0, recorded.stderr
    out = runner.invoke(app, ["campaign", "report", "card_activation", "--format", "json", "--db", db])
    data = json.loads(out.stdout)
    assert (data["customers"], data["attempts"], data["success_rate"]["successes"]) == (1, 1, 1)


def test_campaign_report_in_the_web_app(sqlite_store, tmp_path):
    from fastapi.testclient import TestClient

    from zuoxi.store.users import add_user
    from zuoxi.web import create_app

    customers = _campaign(sqlite_store, [_row("A", "张三", "13800000001", 25), _row("B", "李四", "13800000002", 35)], tmp_path)
    record_attempts(sqlite_store, "card_activation", [
        (Attempt(customer_id=customers[0].id, agent_id="X", started_at=datetime.fromisoformat("2026-03-02T09:00:00+08:00"),
                 duration=90, disposition="goal_achieved"), None),
        (Attempt(customer_id=customers[1].id, agent_id="X", started_at=datetime.fromisoformat("2026-03-02T10:00:00+08:00"),
                 duration=40, disposition="refused", reason_code="not_needed"), None)])
    app = create_app(sqlite_store.url)
    for name, role, agent in (("lead", "team_lead", None), ("a07", "agent", "07")):
        add_user(app.state.store.engine, name, "correct-horse", role, team="售后二组" if role == "team_lead" else None, agent_id=agent)

    def client(name):
        c = TestClient(app)
        assert c.post("/api/login", json={"username": name, "password": "correct-horse"}).status_code == 200
        return c

    lead, agent = client("lead"), client("a07")
    assert lead.get("/api/campaigns").json() == [{"name": "card_activation", "title": load_spec("card_activation").title}]
    figures = lead.get("/api/campaigns/card_activation").json()
    assert figures["success_rate"]["successes"] == 1 and figures["success_rate"]["n"] == 2
    assert figures["refusal_reasons"] == {"not_needed": 1}
    page = lead.get("/campaigns").text
    assert "接通率" in page and "not_needed" in page and "Wilson" in page
    assert lead.get("/api/campaigns/nope").status_code == 404
    assert agent.get("/api/campaigns").status_code == 403 and agent.get("/campaigns").status_code == 403
