"""我的外呼 (/calls, /api/calls): the signed-in agent's campaign queue as `zuoxi campaign queue` computes it, their
customers only and none on the do-not-call list, each number masked until 显示号码 asks the audited dial
endpoint; hostile list values escaped; a Chinese message when there is nothing to call."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from html import unescape
from urllib.parse import urlencode

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
from zuoxi.web.calls import NO_AGENT_ID, NOT_YOURS, NOTHING_ASSIGNED, my_calls

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
    ("F", "孙八", "13800000006", EVIL),  # 07: hostile region (a hostile name is a bad row: test_walk_web_hygiene)
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


# --- paging: every customer of a long queue is reached, 50 a page ------------------------------------------------

CROWD = 120  # agent 08's customers in card_activation: three pages of 50, 50 and 20
CALLBACKS = (110, 111)  # of them, these asked to be called back (the queue's first), and these were not answered
RETRIES = (100, 101, 102, 103, 104)  # (its last): the order is the queue's, not the list's


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    """Agent 08 with CROWD customers in card_activation (some of them callbacks due, some retries) and three in a
    second campaign; agent 09 with one customer of the second campaign only."""
    tmp = tmp_path_factory.mktemp("calls-crowd")
    patch = pytest.MonkeyPatch()
    patch.setenv(vault.SECRET_ENV, "a long random passphrase, only for the tests")
    store = Store(f"sqlite:///{tmp / 'crowd.db'}")
    hours = CallingHours(start=time(0), end=time(23, 59, 59, 999999))
    first = load_spec("card_activation").model_copy(update={"calling_hours": hours})
    second = first.model_copy(update={"name": "second_round", "title": "第二轮回访"})
    for spec, size, agents in ((first, CROWD, ["08"]), (second, 4, ["08", "09"])):
        create_campaign(store, spec)
        path = tmp / f"{spec.name}.csv"
        rows = "".join(
            f"R{n:03d},客户{n},男,1391{size % 10}{n + 100:06d},6227 0000 0000 1234,汕头分行营业部,汕头,30,教师\n"
            for n in range(size)
        )
        path.write_text(HEADER + rows, encoding="utf-8")
        assert import_call_list(store, spec.name, path, as_of=date(2026, 3, 1)).errors == []
        assign(store, spec.name, agents)
    with Session(store.engine) as session:
        ids = {c.ref: c.id for c in session.scalars(select(CampaignCustomer).where(CampaignCustomer.agent_id == "08"))}
    now = datetime.now(UTC)
    record_attempts(
        store,
        "card_activation",
        [
            (
                Attempt(
                    customer_id=ids[f"R{n:03d}"],
                    agent_id="08",
                    started_at=now - timedelta(days=3),
                    disposition="callback_requested",
                ),
                now - timedelta(days=2, minutes=n),
            )
            for n in CALLBACKS
        ]
        + [
            (
                Attempt(
                    customer_id=ids[f"R{n:03d}"],
                    agent_id="08",
                    started_at=now - timedelta(days=2),
                    disposition="no_answer",
                ),
                None,
            )
            for n in RETRIES
        ],
        models=False,
    )
    add_user(store.engine, "a08", PASSWORD, "agent", agent_id="08")
    add_user(store.engine, "a09", PASSWORD, "agent", agent_id="09")
    add_user(store.engine, "insp", PASSWORD, "inspector")
    app = create_app(store.url, models=False)
    yield app, store
    store.close()
    app.state.store.close()
    patch.undo()


def test_every_customer_of_a_long_queue_is_reached_page_by_page_through_the_api(crowd):
    app, store = crowd
    agent, _ = client(app, "a08")
    order = [c.id for c, _ in queue(store, "card_activation", "08", datetime.now(UTC), limit=1000)]
    assert len(order) == CROWD
    pages = []
    for n in (1, 2, 3, 4):
        answer = agent.get("/api/calls", params={"campaign": "card_activation", "page": n})
        assert answer.status_code == 200
        body = answer.json()
        assert set(body) == {"agent_id", "message", "campaigns"} and body["message"] is None
        [campaign] = body["campaigns"]  # only the campaign asked for
        assert campaign["name"] == "card_activation"
        assert (campaign["total"], campaign["page"], campaign["per_page"], campaign["pages"]) == (CROWD, n, 50, 3)
        pages.append([r["customer_id"] for r in campaign["customers"]])
    assert [len(p) for p in pages] == [50, 50, 20, 0]  # page 4 is past the last: empty, not an error
    reached = [i for p in pages for i in p]
    assert reached == order and len(set(reached)) == CROWD  # in the queue's order, none twice, none missed
    first = agent.get("/api/calls", params={"campaign": "card_activation"}).json()["campaigns"][0]["customers"]
    assert [r["why"] for r in first[:3]] == ["callback", "callback", "new"]
    last = pages[2][-len(RETRIES) :]
    assert last == order[-len(RETRIES) :] and all(
        r["why"] == "retry"
        for r in agent.get("/api/calls", params={"campaign": "card_activation", "page": 3}).json()["campaigns"][0][
            "customers"
        ][-len(RETRIES) :]
    )
    # another page size reaches the same customers in the same order
    bigger = [
        [
            r["customer_id"]
            for r in agent.get("/api/calls", params={"per_page": 100, "page": n}).json()["campaigns"][0]["customers"]
        ]
        for n in (1, 2)
    ]
    assert [len(p) for p in bigger] == [100, 20] and bigger[0] + bigger[1] == order


def test_without_a_campaign_each_of_the_agents_campaigns_is_paged(crowd):
    app, _ = crowd
    agent, _ = client(app, "a08")
    campaigns = agent.get("/api/calls").json()["campaigns"]
    assert [(c["name"], c["total"], c["pages"], len(c["customers"])) for c in campaigns] == [
        ("card_activation", CROWD, 3, 50),
        ("second_round", 2, 1, 2),  # assign shares its four customers between 08 and 09
    ]
    assert all(c["page"] == 1 and c["per_page"] == 50 for c in campaigns)
    again = agent.get("/api/calls", params={"page": 3}).json()["campaigns"]
    assert [(c["page"], len(c["customers"])) for c in again] == [(3, 20), (3, 0)]


def test_the_page_links_previous_and_next_and_reaches_every_customer(crowd):
    app, store = crowd
    agent, _ = client(app, "a08")
    order = [c.id for c, _ in queue(store, "card_activation", "08", datetime.now(UTC), limit=1000)]
    first = page(agent)
    assert first.status_code == 200
    section = first.text.split('id="queue-card_activation"')[1].split("</section>")[0]
    assert "共 120 位可拨打 · 第 1/3 页 · 第 1–50 位" in section
    assert len(re.findall(r'<tr data-customer="(\d+)">', section)) == 50
    assert "上一页" not in section
    assert '<a href="/calls?campaign=card_activation&amp;page=2" rel="next">下一页</a>' in section
    assert "下一页" not in first.text.split('id="queue-second_round"')[1]  # its two customers fit on one page
    # follow 下一页 to the end, as an agent would
    url, reached, seen = "/calls?campaign=card_activation&page=2", re.findall(r'<tr data-customer="(\d+)">', section), 1
    while url:
        html = page(agent, url).text
        seen += 1
        assert "queue-second_round" not in html and '<a href="/calls">← 全部外呼活动</a>' in html
        reached += re.findall(r'<tr data-customer="(\d+)">', html)
        found = re.search(r'<a href="(/calls\?[^"]+)" rel="next">下一页</a>', html)
        url = unescape(found.group(1)) if found else ""
    assert seen == 3 and [int(i) for i in reached] == order
    assert "共 120 位可拨打 · 第 3/3 页 · 第 101–120 位" in html
    assert '<a href="/calls?campaign=card_activation&amp;page=2" rel="prev">上一页</a>' in html
    # past the last page: said so, and 上一页 goes to the last one
    past = page(agent, "/calls?campaign=card_activation&page=9")
    assert past.status_code == 200 and "第 9 页没有客户：共 120 位，3 页。" in past.text
    assert '<a href="/calls?campaign=card_activation&amp;page=3" rel="prev">上一页</a>' in past.text
    assert "下一页" not in past.text and "<table" not in past.text.split("<main>")[1]
    # a page size the agent chose is kept by the links
    sized = page(agent, "/calls?campaign=card_activation&per_page=100").text
    assert len(re.findall(r'<tr data-customer="(\d+)">', sized)) == 100 and "第 1/2 页" in sized
    assert '<a href="/calls?campaign=card_activation&amp;page=2&amp;per_page=100" rel="next">下一页</a>' in sized


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("page=-1", "页码不能小于 1"),
        ("page=0", "页码不能小于 1"),
        ("page=abc", "页码应为整数"),
        (f"page={10**30}", "页码不能大于 100000"),
        ("page=100001", "页码不能大于 100000"),
        ("per_page=100000", "每页条数不能大于 500"),
        ("per_page=0", "每页条数不能小于 1"),
        ("per_page=1.5", "每页条数应为整数"),
        ("campaign=" + "x" * 101, "外呼活动太长"),
    ],
)
def test_bad_paging_is_refused_in_chinese(crowd, query, words):
    app, _ = crowd
    agent, _ = client(app, "a08")
    answer = agent.get(f"/api/calls?{query}")
    assert answer.status_code == 422 and answer.json()["detail"].startswith("输入有误：")
    assert words in answer.json()["detail"]
    html = page(agent, f"/calls?{query}")
    assert html.status_code == 422 and words in html.text and "<title>" in html.text
    inspector, _ = client(app, "insp")  # the role is checked whatever the parameters
    assert inspector.get(f"/api/calls?{query}").status_code == 403
    assert TestClient(app).get(f"/api/calls?{query}").status_code == 401


def test_a_campaign_not_the_agents_is_not_found(crowd):
    app, _ = crowd
    agent, _ = client(app, "a09")  # 09 has customers in second_round only
    assert [c["name"] for c in agent.get("/api/calls").json()["campaigns"]] == ["second_round"]
    for name in ("card_activation", "no_such_campaign", EVIL):
        answer = agent.get("/api/calls", params={"campaign": name})
        assert answer.status_code == 404 and answer.json() == {"detail": NOT_YOURS}
        html = page(agent, "/calls?" + urlencode({"campaign": name}))
        assert html.status_code == 404 and NOT_YOURS in html.text and "<script>alert" not in html.text
    blank = agent.get("/api/calls", params={"campaign": ""}).json()  # a blank campaign is every campaign
    assert [c["name"] for c in blank["campaigns"]] == ["second_round"]
