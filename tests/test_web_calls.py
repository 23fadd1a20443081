"""我的外呼 (/calls, /api/calls): the signed-in agent's campaign queue as `zuoxi campaign queue` computes it, their
customers only and none on the do-not-call list, each number masked until 显示号码 asks the audited dial
endpoint; hostile list values escaped; a Chinese message when there is nothing to call."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from zuoxi.campaigns import vault
from zuoxi.campaigns.assign import assign, queue
from zuoxi.campaigns.calllist import import_call_list
from zuoxi.campaigns.campaign import create_campaign, load_spec
from zuoxi.campaigns.dial import do_not_call_customer
from zuoxi.campaigns.dispositions import record_attempts
from zuoxi.campaigns.models import Attempt, CallingHours
from zuoxi.store import Store
from zuoxi.store.tables import AuditEntry, CampaignCustomer
from zuoxi.store.users import add_user, list_accounts
from zuoxi.web import create_app
from zuoxi.web.calls import NO_AGENT_ID, NOTHING_ASSIGNED, my_calls

PASSWORD = "correct-horse"
EVIL = "<script>alert(1)</script>"
HEADER = "客户号,姓名,性别,手机号,卡号,网点,地区,年龄,职业\n"
# ref, name, phone, region (the region decides the agent: 汕头 → 07, 潮州 → 21)
LIST = [
    ("A", "张三", "13800000001", "汕头"),  # 07: called three days ago, asked to be called back two days ago
    ("B", "李四", "13800000002", "汕头"),  # 07: never called
    ("C", "王五", "13800000003", "潮州"),  # 21's
    ("D", "赵六", "13800000004", "汕头"),  # 07, but on the do-not-call list
    ("E", "钱七", "13800000005", "汕头"),  # 07: no answer two days ago, so a retry
    ("F", EVIL, "13800000006", EVIL),  # 07: hostile name and region
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A campaign whose calling hours are the whole day (the tests run at any hour) and its customers as LIST
    says, agents 07, 21 and 99 (nothing assigned), and an inspector."""
    tmp = tmp_path_factory.mktemp("calls")
    patch = pytest.MonkeyPatch()
    patch.setenv(vault.SECRET_ENV, "a long random passphrase, only for the tests")
    store = Store(f"sqlite:///{tmp / 'calls.db'}")
    spec = load_spec("card_activation").model_copy(
        update={"calling_hours": CallingHours(start=time(0), end=time(23, 59, 59, 999999))}
    )
    create_campaign(store, spec)
    path = tmp / "list.csv"
    rows = "".join(
        f"{ref},{name},男,{phone},6227 0000 0000 1234,汕头分行营业部,{region},30,教师\n"
        for ref, name, phone, region in LIST
    )
    path.write_text(HEADER + rows, encoding="utf-8")
    assert import_call_list(store, "card_activation", path, as_of=date(2026, 3, 1)).errors == []
    assign(store, "card_activation", ["07", "21"], regions={"汕头": ["07"], EVIL: ["07"], "潮州": ["21"]})
    with Session(store.engine) as session:
        ids = {c.ref: c.id for c in session.scalars(select(CampaignCustomer))}
    do_not_call_customer(store, "card_activation", ids["D"])
    now = datetime.now(UTC)
    record_attempts(
        store,
        "card_activation",
        [
            (
                Attempt(
                    customer_id=ids["A"],
                    agent_id="07",
                    started_at=now - timedelta(days=3),
                    disposition="callback_requested",
                ),
                now - timedelta(days=2),
            ),
            (
                Attempt(
                    customer_id=ids["E"], agent_id="07", started_at=now - timedelta(days=2), disposition="no_answer"
                ),
                None,
            ),
        ],
        models=False,
    )
    for name, role, agent_id in (
        ("a07", "agent", "07"),
        ("a21", "agent", "21"),
        ("a99", "agent", "99"),
        ("insp", "inspector", None),
    ):
        add_user(store.engine, name, PASSWORD, role, agent_id=agent_id)
    app = create_app(store.url, models=False)
    yield app, store, ids
    store.close()
    app.state.store.close()
    patch.undo()


def client(app, username: str) -> tuple[TestClient, str]:
    signed = TestClient(app)
    answer = signed.post("/api/login", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200
    return signed, answer.json()["csrf_token"]


def page(signed: TestClient, url: str = "/calls"):
    return signed.get(url, headers={"accept": "text/html"})


def test_the_page_and_the_api_list_exactly_the_agents_queue(world):
    app, store, ids = world
    expected = [ids[ref] for ref in ("A", "B", "F", "E")]  # the callback due, the new ones, then the retry
    picked = queue(store, "card_activation", "07", datetime.now(UTC))  # as the CLI shows it
    assert [c.id for c, _ in picked] == expected
    agent, _ = client(app, "a07")
    answer = agent.get("/api/calls").json()
    assert answer["agent_id"] == "07" and answer["message"] is None
    [campaign] = answer["campaigns"]
    assert campaign["name"] == "card_activation" and campaign["title"] == "信用卡未激活客户电话回访"
    rows = campaign["customers"]
    assert [r["customer_id"] for r in rows] == expected
    assert [(r["why"], r["status"], r["attempts"]) for r in rows] == [
        ("callback", "callback", 1),
        ("new", "pending", 0),
        ("new", "pending", 0),
        ("retry", "retry", 1),
    ]
    assert [r["why_text"] for r in rows] == [why for _, why in picked]  # the queue's own words
    assert rows[0]["callback_due"] and rows[0]["why_text"].startswith("预约回拨已到期")
    assert [r["callback_due"] for r in rows[1:]] == [None, None, None]
    assert rows[1] | {"their_time": ""} == {
        "customer_id": ids["B"],
        "ref": "B",
        "name": "李先生",
        "phone": "尾号 0002",
        "region": "汕头",
        "their_time": "",
        "status": "pending",
        "status_text": "待拨打",
        "attempts": 0,
        "callback_due": None,
        "why": "new",
        "why_text": "新客户，还没有拨打过",
    }
    html = page(agent)
    assert html.status_code == 200 and "<title>我的外呼 · zuoxi</title>" in html.text
    shown = [int(n) for n in re.findall(r'<tr data-customer="(\d+)">', html.text)]
    assert shown == expected
    for text in (
        "尾号 0001",
        "尾号 0002",
        "尾号 0005",
        "尾号 0006",
        "待回拨",
        "待重拨",
        "重拨：已拨打 1 次",
        rows[0]["callback_due"],
    ):
        assert text in html.text
    for other in ("尾号 0003", "尾号 0004", "王", "赵"):  # 21's customer, the do-not-call one
        assert other not in html.text
    assert not re.search(r"1380000000\d", html.text + agent.get("/api/calls").text)  # no number before 显示号码


def test_another_agent_sees_only_theirs(world):
    app, _, ids = world
    agent, _ = client(app, "a21")
    [campaign] = agent.get("/api/calls").json()["campaigns"]
    assert [r["customer_id"] for r in campaign["customers"]] == [ids["C"]]
    html = page(agent).text
    assert re.findall(r'<tr data-customer="(\d+)">', html) == [str(ids["C"])]


def test_a_number_is_revealed_from_the_page_for_the_agents_customer_only(world):
    """What calls.js posts — the row button's campaign and customer, with the session's CSRF token — shows the
    number of the agent's own customer; another agent's is refused (403), a post without the token too; each
    request is audited without the number."""
    app, store, ids = world
    agent, csrf = client(app, "a07")
    html = page(agent).text
    assert '<script src="/static/calls.js" defer></script>' in html and f'content="{csrf}"' in html
    buttons = re.findall(
        r'<button type="button" class="reveal" data-campaign="([^"]+)" data-customer="(\d+)">显示号码</button>', html
    )
    assert buttons[1] == ("card_activation", str(ids["B"]))
    url = "/api/campaigns/{}/customers/{}/dial"
    headers = {"X-CSRF-Token": csrf, "accept": "application/json"}
    assert agent.post(url.format(*buttons[1])).status_code == 403  # no CSRF token
    granted = agent.post(url.format(*buttons[1]), headers=headers)
    assert granted.status_code == 200 and granted.json() == {"phone": "13800000002"}
    refused = agent.post(url.format("card_activation", ids["C"]), headers=headers)
    assert refused.status_code == 403 and "13800000003" not in refused.text
    assert re.search(r"[\u4e00-\u9fff]", refused.json()["detail"])
    assert "13800000002" not in page(agent).text  # shown on the page by the script only, never stored
    with Session(store.engine) as session:
        log = [(e.action, e.entity_id) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert log[-2:] == [("reveal_phone", str(ids["B"])), ("reveal_phone_refused", str(ids["C"]))]
    script = agent.get("/static/calls.js").text
    assert "'X-CSRF-Token': zuoxi.csrf()" in script and "method: 'POST'" in script and "textContent" in script
    assert "innerHTML" not in script and "localStorage" not in script and "sessionStorage" not in script


def test_hostile_list_values_are_escaped(world):
    app, _, ids = world
    agent, _ = client(app, "a07")
    html = page(agent).text
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the region
    row = html.split(f'<tr data-customer="{ids["F"]}">')[1].split("</tr>")[0]
    assert "&lt;先生" in row  # the salutation the list stored of the name: its first character
    [campaign] = agent.get("/api/calls").json()["campaigns"]
    assert [r["region"] for r in campaign["customers"] if r["customer_id"] == ids["F"]] == [EVIL]
    assert unescape(row).count(EVIL) == 1


def test_nothing_assigned_or_no_agent_id_is_said_in_chinese(world):
    app, store, _ = world
    agent, _ = client(app, "a99")
    assert agent.get("/api/calls").json() == {"agent_id": "99", "message": NOTHING_ASSIGNED, "campaigns": []}
    html = page(agent)
    assert html.status_code == 200 and f'<p class="muted" id="calls-message">{NOTHING_ASSIGNED}</p>' in html.text
    assert "<table" not in html.text.split("<main>")[1]
    seven = next(a for a in list_accounts(store.engine) if a.username == "a07")
    # an agent account without an agent id (one made before an agent needed one): nothing to look up
    assert my_calls(app.state.store, replace(seven, agent_id=None)) == ([], NO_AGENT_ID)
    assert re.search(r"[\u4e00-\u9fff]", NO_AGENT_ID + NOTHING_ASSIGNED)


def test_the_agents_menu_links_it_and_others_are_refused_in_chinese(world):
    app, _, _ = world
    agent, _ = client(app, "a07")
    assert '<a href="/calls">我的外呼</a>' in page(agent, "/").text.split("<main>")[0]
    inspector, _ = client(app, "insp")
    assert '<a href="/calls">' not in page(inspector, "/").text
    refused = page(inspector)
    assert refused.status_code == 403 and "你的角色不能使用这项功能" in refused.text
    assert inspector.get("/api/calls").json() == {"detail": "你的角色不能使用这项功能"}
    assert TestClient(app).get("/api/calls").status_code == 401
