"""抽检与复核 and 投诉预警 in the web app: an inspector's queue with its counts and overdue items,
finishing from the conversation page after the usual confirm/overturn, a team lead's progress and
their team's alerts at once in the menu, plans from the form and from YAML (problems by line), the
random share's precision on the rule-quality page, webhooks set by admins only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.queues_world import MONDAY, WEEK, Spec, add
from zuoxi.queues.plans import parse_plan
from zuoxi.queues.sampling import run_plan
from zuoxi.store import Store
from zuoxi.store import queues as Q
from zuoxi.store.users import add_user
from zuoxi.web import create_app

PASSWORD = "password-1"
HTML = {"accept": "text/html"}
PLAN = """id: weekly
name: 售后每周抽检
random: {count: 1, name: 随机抽查}
rules:
  - {id: low, kind: score_band, max: 60, name: 低分会话}
  - {id: high, kind: score_band, min: 90, name: 高分抽查}
assignment: {inspectors: [qa], due_days: 1}
"""


class Client:
    def __init__(self, app, username: str):
        self.http = TestClient(app)
        self.csrf = self.http.post("/api/login", json={"username": username, "password": PASSWORD}).json()["csrf_token"]

    def page(self, path: str):
        return self.http.get(path, headers=HTML)

    def form(self, path: str, **data):
        return self.http.post(path, data={"csrf_token": self.csrf, **data}, headers=HTML, follow_redirects=False)


@pytest.fixture
def world(tmp_path):
    db = str(tmp_path / "web-queues.db")
    store = Store(db)
    for name, role, team in (
        ("qa", "inspector", None),
        ("qa2", "inspector", None),
        ("lead", "team_lead", "一组"),
        ("lead2", "team_lead", "二组"),
        ("admin", "admin", None),
    ):
        add_user(store.engine, name, PASSWORD, role, team)
    add_user(store.engine, "agent1", PASSWORD, "agent", "一组", "A1")
    keys = add(
        store,
        Spec("low1", score=40, failed=["EM-02", "CS-01"]),
        Spec("low2", score=50, failed=["CS-01"]),
        Spec("fine", score=95),
        Spec("b-only", team="二组", agent="B1", score=30, failed=["CS-01"]),
    )
    Q.save_plan(store.engine, parse_plan(PLAN, "p"), PLAN, None)
    # Sampled and due long ago: every item is overdue today.
    run_plan(store.engine, "weekly", WEEK, today=MONDAY, seed=4)
    store.close()
    app = create_app(db, models=False)
    return {"app": app, "keys": keys, "engine": app.state.store.engine}


def test_the_inspector_sees_counts_overdue_items_and_why_each_was_picked(world):
    qa = Client(world["app"], "qa")
    page = qa.page("/queue").text
    assert re.search(r'id="count-open">4<', page) and re.search(r'id="count-overdue">4<', page)
    assert page.count('class="overdue"') == 4 and page.count(">逾期<") == 4
    assert "低分会话" in page and "随机抽查" in page and "售后每周抽检" in page
    assert f"{(MONDAY + timedelta(days=1)).isoformat()}" in page
    api = qa.http.get("/api/queue").json()
    assert api["counts"]["overdue"] == 4 and all(i["overdue"] for i in api["items"])
    assert Client(world["app"], "qa2").http.get("/api/queue").json()["counts"]["open"] == 0


def test_every_form_on_the_queue_pages_carries_the_session_s_csrf_token(world):
    qa, lead = Client(world["app"], "qa"), Client(world["app"], "lead")
    key = qa.http.get("/api/queue").json()["items"][0]["conversation_key"]
    for client, path in (
        (qa, "/queue"),
        (qa, "/queue/team"),
        (qa, f"/conversations/{key}"),
        (qa, "/queue/plans"),
        (qa, "/queue/plans/weekly"),
        (lead, "/queue/team"),
        (lead, "/alerts"),
    ):
        forms = re.findall(r'<form method="post".*?</form>', client.page(path).text, re.S)
        assert forms, path
        for form in forms:
            assert f'name="csrf_token" value="{client.csrf}"' in form, (path, form[:200])


def test_finishing_from_the_conversation_page_needs_every_failed_finding_judged(world):
    qa = Client(world["app"], "qa")
    [item] = [i for i in qa.http.get("/api/queue").json()["items"] if i["conversation_id"] == "low1"]
    key = item["conversation_key"]
    page = qa.page(f"/conversations/{key}").text
    assert f'id="task-{item["id"]}"' in page and "还需复核（确认或改判）：EM-02、CS-01" in page
    refused = qa.form(f"/queue/items/{item['id']}/done", where="detail")
    assert refused.status_code == 303 and refused.headers["location"].startswith(f"/conversations/{key}?error=")
    assert "还有 2 条未通过的质检项没有复核" in qa.page(refused.headers["location"]).text
    for rule, verdict in (("EM-02", "confirm"), ("CS-01", "overturn")):
        assert (
            qa.form(
                f"/conversations/{key}/review",
                result_id=str(item["result_pk"]),
                rule=rule,
                verdict=verdict,
                comment="已核对",
            ).status_code
            == 303
        )
    assert "未通过的质检项都已复核，可以完成" in qa.page(f"/conversations/{key}").text
    finished = qa.form(f"/queue/items/{item['id']}/done", where="detail")
    assert finished.headers["location"].startswith("/queue?done=")
    page = qa.page("/queue").text
    assert re.search(r'id="count-done">1<', page) and re.search(r'id="count-open">3<', page)
    assert f'id="task-{item["id"]}"' not in qa.page(f"/conversations/{key}").text
    skipped = qa.form(
        f"/queue/items/{qa.http.get('/api/queue').json()['items'][0]['id']}/skip",
        skip_reason="duplicate",
        where="queue",
    )
    assert "已跳过复核任务" in qa.page(skipped.headers["location"]).text


def test_the_team_lead_sees_their_team_s_progress_and_reassigns_within_the_rules(world):
    lead, lead2 = Client(world["app"], "lead"), Client(world["app"], "lead2")
    team = lead.http.get("/api/queue/team").json()
    assert [(p["sampled"], p["overdue"]) for p in team["plans"]] == [(3, 3)]  # 一组's three, not 二组's
    assert {w["inspector"]: w["overdue"] for w in team["inspectors"]} == {"qa": 3, "qa2": 0}
    assert {i["team"] for i in team["open"]} == {"一组"}
    other = lead2.http.get("/api/queue/team").json()["open"]
    assert [i["conversation_id"] for i in other] == ["b-only"]
    page = lead.page("/queue/team").text
    assert "复核进度" in page and "一组" in page and "b-only" not in page
    item = team["open"][0]["id"]
    assert lead2.form(f"/queue/items/{item}/reassign", inspector="qa2").status_code == 403  # not lead2's team
    moved = lead.form(f"/queue/items/{item}/reassign", inspector="qa2", where="team")
    assert "已改派给 qa2" in lead.page(moved.headers["location"]).text
    assert (
        lead.form(f"/queue/items/{item}/reassign", inspector="nobody", where="team")
        .headers["location"]
        .startswith("/queue/team?error=")
    )
    assert Client(world["app"], "agent1").page("/queue/team").status_code == 403


def test_a_complaint_alert_reaches_the_team_lead_at_once(world):
    lead, lead2 = Client(world["app"], "lead"), Client(world["app"], "lead2")
    assert 'id="alerts-count"' not in lead.page("/conversations").text
    store = Store(str(world["engine"].url.database))
    add(store, Spec("angry", failed=["ES-01"], customer="再不退款我就投诉到12315，电话13812345678"))
    store.close()
    menu = lead.page("/conversations").text.split("<main>")[0]
    assert re.search(r'id="alerts-count">1<', menu)  # the next page the lead opens says so
    assert 'id="alerts-count"' not in lead2.page("/conversations").text  # another team's lead is not told
    page = lead.page("/alerts").text
    assert "angry" in page and "ES-01" in page and "13812345678" not in page and "*******5678" in page
    assert lead.http.get("/api/alerts?limit=0").json() == {"open": 1, "items": []}
    [alert] = lead.http.get("/api/alerts").json()["items"]
    assert lead2.form(f"/alerts/{alert['id']}/handle", note="x").status_code == 403
    assert lead.form(f"/alerts/{alert['id']}/handle", note="已联系客户").status_code == 303
    assert 'id="alerts-count"' not in lead.page("/alerts").text.split("<main>")[0]
    assert "已联系客户" in lead.page("/alerts?status=handled").text


def test_plans_from_the_form_and_from_yaml(world):
    qa = Client(world["app"], "qa")
    made = qa.form(
        "/queue/plans",
        id="daily-complaints",
        name="每日投诉抽检",
        schedule="daily",
        random_share="5",
        complaint="1",
        risk_min="70",
        failed_rules="EM-02，CS-01",
        per_agent="3",
        fill="1",
        method="workload",
        exclude_own_team="1",
        due_days="1",
    )
    assert made.status_code == 303 and made.headers["location"].startswith("/queue/plans/daily-complaints")
    text = qa.page("/queue/plans/daily-complaints").text
    assert "schedule: daily" in text and "min: 0.7" in text and "- EM-02" in text and "method: workload" in text
    wrong = qa.form("/queue/plans", id="Bad Id", name="x")
    assert wrong.status_code == 200 and "表单" in wrong.text and "只能用小写字母" in wrong.text
    broken = qa.form(
        "/queue/plans/daily-complaints", plan_yaml="id: daily-complaints\nname: x\nrules:\n  - {id: a, kind: nope}\n"
    )
    assert broken.status_code == 200 and "daily-complaints.yaml:4: rules.0: 未知的规则类型 nope" in broken.text
    ran = qa.form("/queue/plans/weekly/run", first=MONDAY.isoformat(), last=(MONDAY + timedelta(days=6)).isoformat())
    assert "候选 0 条" in qa.page(ran.headers["location"]).text  # everything in the week was considered already
    assert "日期应为" in qa.page(qa.form("/queue/plans/weekly/run", day="昨天").headers["location"]).text
    assert Client(world["app"], "lead").form("/queue/plans", id="x", name="x").status_code == 403


def test_the_quality_page_shows_the_random_share_with_its_interval(world):
    qa = Client(world["app"], "qa")
    expected: dict[tuple[str, bool], int] = {}
    for item in qa.http.get("/api/queue").json()["items"]:
        pk = item["result_pk"]
        results = qa.http.get(f"/api/conversations/{item['conversation_key']}").json()["results"]
        for finding in next(r for r in results if r["result_id"] == pk)["machine"]["findings"]:
            if finding["status"] == "fail":
                qa.http.post(
                    f"/api/results/{pk}/reviews",
                    json={"rule": finding["rule"], "verdict": "confirm"},
                    headers={"X-CSRF-Token": qa.csrf},
                )
                at = (finding["rule"], item["criterion"] == "random")
                expected[at] = expected.get(at, 0) + 1
        assert qa.http.post(f"/api/queue/items/{item['id']}/done", headers={"X-CSRF-Token": qa.csrf}).status_code == 200
    figures = {f["rule"]: f for f in qa.http.get("/api/queue/precision").json()}
    assert {
        (rule, drawn): f["random" if drawn else "targeted"]["n"]
        for rule, f in figures.items()
        for drawn in (True, False)
        if f["random" if drawn else "targeted"]["n"]
    } == expected
    assert figures["CS-01"]["targeted"]["rate"] == 1.0 and figures["CS-01"]["targeted"]["low"] < 1.0
    page = Client(world["app"], "lead").page("/quality").text
    assert 'id="sampled-precision"' in page and "随机抽样（无偏）" in page
    assert re.search(r'100% <span class="muted">\[\d+%–100%\] \d+/\d+', page)


def test_only_admins_set_webhooks_and_pages_hide_their_keys(world):
    admin, qa = Client(world["app"], "admin"), Client(world["app"], "qa")
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0123456789abcdef-KEY9"
    assert qa.form("/alerts/webhooks", name="群", team="一组", url=url).status_code == 403
    assert qa.page("/alerts/settings").status_code == 403
    added = admin.form("/alerts/webhooks", name="一组群", team="一組", url=url, template="dingtalk")
    assert added.headers["location"].startswith("/alerts/settings?done=")
    page = admin.page("/alerts/settings").text
    assert "key=****KEY9" in page and "0123456789abcdef" not in page and "钉钉群机器人" in page
    assert "一组" in page  # stored as the canonical team, 一組 → 一组
    bad = admin.form("/alerts/webhooks", name="x", team="一组", url="file:///etc/passwd")
    assert "推送地址应为" in admin.page(bad.headers["location"]).text
    saved = admin.form("/alerts/settings", risk="65", rules="ES-01, ES-02")
    assert "预警设置已保存" in admin.page(saved.headers["location"]).text
    assert "投诉风险 ≥ 65% 或未通过 ES-01、ES-02" in admin.page("/alerts").text
