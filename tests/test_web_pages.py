"""What the pages show and do beyond security: Chinese wherever a user reads (labels, history,
errors, error pages), local time and rounded numbers, one team however it is written, one result
per conversation and scorecard, live replays that link what they replay (never store a copy as its
agent's), and the admin and inspector pages (audit log, users, blind calibration queue, page numbers, titles)."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import zuoxi.queues
from tests.queues_world import MONDAY, WEEK
from zuoxi.engines.local import Batch
from zuoxi.queues.plans import parse_plan
from zuoxi.queues.sampling import run_plan
from zuoxi.store import Store
from zuoxi.store.audit import audit_now
from zuoxi.store.queues import save_plan
from zuoxi.store.users import add_user
from zuoxi.web import create_app

PASSWORD = "correct-horse"
USERS = {
    "admin": ("admin", None, None, "系统管理员"),
    "qa": ("inspector", None, None, "质检员小王"),
    "qa2": ("inspector", None, None, "质检员小李"),
    "lead2": ("team_lead", "售后二组", None, None),
    "agent07": ("agent", None, "07", None),
}
# 01:30 in Shanghai on 5 December is still 4 December in UTC: which day it falls on depends on the zone.
EARLY = {
    "id": "early-1",
    "channel": "chat",
    "agent_id": "０７",
    "team": "售後二組",
    "started_at": "2026-12-05T01:30:00+08:00",
    "turns": [{"role": "customer", "text": "我的快递怎么还没到？"}, {"role": "agent", "text": "不知道，你自己查。"}],
}


class Client:
    def __init__(self, app, username: str | None):
        self.http = TestClient(app)
        self.csrf = ""
        if username:
            response = self.http.post("/api/login", json={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.text
            self.csrf = response.json()["csrf_token"]

    def get(self, url, **kw):
        return self.http.get(url, **kw)

    def page(self, url) -> str:
        response = self.http.get(url, headers={"accept": "text/html"})
        assert response.status_code == 200, f"{url}: {response.status_code}"
        return response.text

    def post(self, url, **kw):
        return self.http.post(url, headers={"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}, **kw)

    def form(self, url, data):
        return self.http.post(url, data={"csrf_token": self.csrf, **data}, follow_redirects=False)


def build(folder, samples, **options):
    source = folder / "early.jsonl"
    source.write_text(json.dumps(EARLY, ensure_ascii=False) + "\n", encoding="utf-8")
    db = str(folder / "pages.db")
    store = Store(db)
    for _ in Batch(
        [samples / "complaint_desk.jsonl", samples / "ecommerce_chats.jsonl", source],
        store=store,
        analyze=True,
        models=False,
    ).run():
        pass
    for name, (role, team, agent_id, display) in USERS.items():
        add_user(store.engine, name, PASSWORD, role, team, agent_id, display)
    store.close()
    return create_app(db, models=False, **options)


@pytest.fixture(scope="module")
def app(tmp_path_factory, samples):
    return build(tmp_path_factory.mktemp("pages"), samples)


@pytest.fixture(scope="module")
def clients(app):
    return {name: Client(app, name) for name in USERS}


def items(client, **params) -> list[dict]:
    return client.get("/api/conversations", params={"per_page": 500, **params}).json()["items"]


def key_of(client, ident: str) -> str:
    return next(i["key"] for i in items(client) if i["id"] == ident)


def text_of(html: str) -> str:
    """What a reader sees: the page without tags, scripts' data or attribute values."""
    html = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


# --- Chinese, local time, numbers --------------------------------------------------------------------


def test_lists_show_chinese_labels_local_times_and_round_numbers(clients):
    page = text_of(clients["qa"].page("/conversations?per_page=200"))
    assert "在线" in page and "通话" in page and "核心技能质检表" in page and "投诉专席质检表" in page
    for code in (" chat ", " call ", " core ", " complaint "):
        assert code not in f" {page} ".replace("\n", " ").replace("  ", " "), code
    assert "2026-12-05 01:30" in page and "2026-10-10 12:03" in page  # Asia/Shanghai, as the conversations said
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", page)
    dashboard = text_of(clients["qa"].page("/"))
    assert not re.search(r"\d\.\d{3,}", dashboard), "numbers are rounded for reading"
    assert "%" in dashboard and "坐席平均分" in dashboard


def test_another_time_zone_moves_times_and_days(tmp_path, samples):
    utc = Client(build(tmp_path, samples, timezone="UTC"), "qa")
    assert "2026-12-04 17:30" in text_of(utc.page("/conversations?per_page=200"))
    assert "early-1" not in {i["id"] for i in items(utc, date_from="2026-12-05")}
    assert "early-1" in {i["id"] for i in items(utc, date_from="2026-12-04", date_to="2026-12-04")}


def test_days_are_the_local_days(clients):
    assert "early-1" in {i["id"] for i in items(clients["qa"], date_from="2026-12-05", date_to="2026-12-05")}
    trend = clients["qa"].get("/api/dashboard", params={"date_from": "2026-12-05"}).json()["trend"]
    assert [day for day, _, _ in trend] == ["2026-12-05"]


def test_review_history_and_errors_read_in_chinese(clients):
    qa, agent = clients["qa"], clients["agent07"]
    key = key_of(qa, "cp-001")
    result = qa.get(f"/api/conversations/{key}").json()["results"][0]
    pk = result["result_id"]
    assert (
        qa.post(
            f"/api/results/{pk}/reviews", json={"rule": "CS-01", "verdict": "overturn", "comment": "客户同意"}
        ).status_code
        == 200
    )
    failing = next(f["rule"] for f in result["current"]["findings"] if f["status"] == "fail" and f["rule"] != "CS-01")
    assert qa.post(f"/api/results/{pk}/reviews", json={"rule": failing, "verdict": "confirm"}).status_code == 200
    page = agent.page(f"/conversations/{key}")
    shown = text_of(page)
    assert "v0 · " in shown and "机器评分" in shown and "复核 CS-01：改判" in shown and "machine" not in shown
    assert "review " not in shown and ": overturn" not in shown
    assert not re.search(r"\d{4}-\d\d-\d\dT", shown)
    row = re.search(rf'<tr class="fail" id="finding-{pk}-{failing}">.*?</tr>', page, re.S).group()
    assert "人工确认" in row  # a confirmed finding is marked as confirmed
    assert "<th>规则</th><th>名称</th><th>结果</th>" in page
    first = agent.form(f"/conversations/{key}/appeal", {"result_id": pk, "rule": failing, "reason": "我已经道歉了"})
    again = agent.form(f"/conversations/{key}/appeal", {"result_id": pk, "rule": failing, "reason": "再申诉"})
    assert (first.status_code, again.status_code) == (303, 400)  # refused: the page again, with why and the reason
    assert f"{failing} 已有待处理的申诉" in text_of(again.text) and 'value="再申诉"' in again.text


def test_error_pages_are_chinese_for_browsers_and_json_for_the_api(clients):
    agent = clients["agent07"]
    for url, status, title in (
        ("/nowhere", 404, "没有找到"),
        ("/conversations/" + "0" * 64, 404, "没有找到"),
        ("/audit", 403, "没有权限"),
        ("/conversations?page=0", 422, "输入有误"),
    ):
        response = agent.http.get(url, headers={"accept": "text/html"})
        assert response.status_code == status and response.headers["content-type"].startswith("text/html"), url
        assert f"<title>{title} · zuoxi</title>" in response.text
        api = agent.get("/api" + url if not url.startswith("/api") else url)
        assert api.headers["content-type"].startswith("application/json")
    assert agent.get("/api/audit").json()["detail"] == "你的角色不能使用这项功能"
    assert agent.get("/api/conversations?page=0").json()["detail"] == "输入有误：页码不能小于 1"


def test_what_the_framework_says_in_english_is_said_in_chinese(app, clients):
    """A body FastAPI or Starlette cannot parse (JSON nested past Python's limit, a broken multipart form, a file name
    of 5,000 characters) was answered "There was an error parsing the body" or "Invalid multipart data."; a
    parameter's name stood in English in a 422 ("after格式不对"); the sign-in form without a password gave a JSON
    page. Each is Chinese now."""
    qa = clients["qa"]
    deep = qa.post("/api/login", content="[" * 5000, headers={"content-type": "application/json"})
    assert deep.status_code == 400 and deep.json()["detail"] == "请求内容无法解析：不是有效的 JSON 或表单，或嵌套太深"
    broken = qa.post("/api/login", content="{", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"] == "输入有误：请求不是有效的 JSON"
    form = "multipart/form-data; boundary=zz"
    for url in ("/api/uploads", "/login"):
        for body in (b"garbage", b"\r\n--zz\r\nContent-Type: x\r\n\r\nv\r\n--zz--\r\n"):  # no name: Starlette's own
            bad = qa.post(url, content=body, headers={"content-type": form})
            assert bad.status_code == 400, (url, body)
            assert bad.json()["detail"] == "上传的表单无法解析：内容不完整或格式不对，或文件名太长"
    long_name = qa.post("/api/uploads", files=[("files", ("长" * 5000 + ".jsonl", b"{}"))])
    assert long_name.status_code == 400 and "上传的表单无法解析" in long_name.json()["detail"]
    page = qa.http.post("/login", content="[", headers={"content-type": form, "accept": "text/html"})
    assert page.status_code == 400 and "上传的表单无法解析" in text_of(page.text) and "multipart" not in page.text
    for url, said in (
        ("/api/conversations?after=x", "输入有误：下一页位置格式不对"),
        ("/api/conversations?before=x", "输入有误：上一页位置格式不对"),
        (
            "/api/campaigns/x?start=1800-01-01&end=3000-01-01",
            "输入有误：开始日期不能小于 1900-01-01；结束日期不能大于 2999-12-31",
        ),
        ("/api/export.pdf", "输入有误：类型格式不对"),
    ):
        assert qa.get(url).json()["detail"] == said, url
    anonymous = TestClient(app)
    for data in ({"username": "qa"}, {"password": PASSWORD}, {}, {"username": " ", "password": "x"}):
        signed = anonymous.post("/login", data=data, headers={"accept": "text/html"})
        assert signed.status_code == 200 and "请输入用户名和密码" in text_of(signed.text), data
        assert signed.headers["content-type"].startswith("text/html") and 'name="password"' in signed.text
    long = anonymous.post("/login", data={"username": "qa", "password": "x" * 201}, headers={"accept": "text/html"})
    assert long.status_code == 200 and "用户名或密码错误" in text_of(long.text)
    signed = anonymous.post("/login", data={"username": "qa", "password": PASSWORD}, follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/"


def test_campaign_codes_are_labelled(tmp_path):
    from typer.testing import CliRunner

    from zuoxi.cli import app as cli

    db = str(tmp_path / "campaign.db")
    assert CliRunner().invoke(cli, ["campaign", "demo", "--db", db]).exit_code == 0
    app = create_app(db, models=False)
    add_user(app.state.store.engine, "qa", PASSWORD, "inspector")
    page = text_of(Client(app, "qa").page("/campaigns"))
    assert "不需要信用卡" in page and "担心年费" in page and "年龄段" in page and "地区" in page
    assert " age_band " not in page and not re.search(r"\d\.\d{3,}", page)


# --- data quirks ---------------------------------------------------------------------------------------


def test_one_team_however_written(clients):
    options = clients["qa"].get("/api/filters").json()
    assert (
        "售後二組" not in options["teams"]
        and options["teams"].count("售后二组") == 1
        and "０７" not in options["agents"]
    )
    assert "early-1" in {i["id"] for i in items(clients["lead2"])}  # 售後二組 is the lead's 售后二组
    assert "early-1" in {i["id"] for i in items(clients["agent07"])}  # ０７ is agent 07
    assert {i["id"] for i in items(clients["qa"], team="售後二組")} == {i["id"] for i in items(clients["lead2"])}


def test_a_copy_of_a_scorecard_keeps_its_own_id_and_results(clients):
    qa = clients["qa"]
    core = qa.get("/api/scorecards/core").json()["yaml"]
    before = {i["key"]: i["score"] for i in items(qa, scorecard="core")}
    saved = qa.form("/scorecards/core", {"yaml": core, "save_as": "core-copy"})
    assert saved.status_code == 303 and saved.headers["location"] == "/scorecards/core-copy"
    assert re.search(r"(?m)^id: core-copy$", qa.get("/api/scorecards/core-copy").json()["yaml"])
    rescored = qa.form("/scorecards/core-copy/rescore", {"team": "售后二组"})
    assert rescored.status_code == 303  # the page it returns to says how many, to this session only
    assert re.search(r"已用 核心技能质检表 重新评分 [1-9]\d* 个会话", text_of(qa.page(rescored.headers["location"])))
    assert "个会话" not in text_of(clients["qa2"].page(rescored.headers["location"]))  # not in another session
    assert {i["key"]: i["score"] for i in items(qa, scorecard="core")} == before  # core's results untouched
    copied = items(qa, scorecard="core-copy")
    assert copied and {i["scorecard"] for i in copied} == {"core-copy"}
    assert len(items(qa)) == len({i["key"] for i in items(qa)})  # the list has each conversation once
    assert "核心技能质检表" in text_of(qa.page("/scorecards"))


def live_replay(client: Client, key: str, turns: list[dict], session: str) -> dict:
    with client.http.websocket_connect(f"/api/live/{session}?scorecard=core&conversation={key}") as ws:
        assert ws.receive_json()["type"] == "state"
        for seq, turn in enumerate(turns):
            ws.send_json({"type": "turn", "seq": seq, "role": turn["role"], "text": turn["text"]})
            assert ws.receive_json()["type"] == "update"
        ws.send_json({"type": "end", "store": True})
        return ws.receive_json()


def test_ending_a_live_replay_links_the_replayed_conversation_and_never_rescores_it(clients):
    """A whole replay links the stored conversation (no copy) and leaves its result as it is: the agent of cp-001
    replaying it with the times left out (so CS-02, interrupting, cannot be judged) scored 47 instead of 40 and
    replaced the stored result, with no review, audit entry or version."""
    qa, agent = clients["qa"], clients["agent07"]
    key = key_of(qa, "ec-003")
    turns = qa.get(f"/api/conversations/{key}").json()["conversation"]["turns"]
    count, results = len(items(qa)), qa.get(f"/api/conversations/{key}").json()["results"]
    answer = live_replay(qa, key, turns, "replay-all")
    assert answer["key"] == key and len(items(qa)) == count  # no copy stored
    assert qa.get(f"/api/conversations/{key}").json()["results"] == results  # nor a result of the replay's scorecard
    own = key_of(agent, "cp-001")
    before = agent.get(f"/api/conversations/{own}").json()["results"]
    said = [
        {"role": t["role"], "text": t["text"]}
        for t in agent.get(f"/api/conversations/{own}").json()["conversation"]["turns"]
    ]
    replayed = live_replay(agent, own, said, "rescore-mine")
    assert replayed["key"] == own and replayed["score"] > min(r["current"]["score"] for r in before)  # scored live…
    assert agent.get(f"/api/conversations/{own}").json()["results"] == before  # …but nothing stored changed
    # not the whole conversation: a new one, the inspector's own — never its agent's or team's
    # (tests/test_web_live_store.py: an agent's "fixed" copy of a failed call counted as theirs)
    partial = live_replay(qa, key, turns[:2], "replay-part")
    assert partial["key"] != key
    original = qa.get(f"/api/conversations/{key}").json()["conversation"]
    new = qa.get(f"/api/conversations/{partial['key']}").json()["conversation"]
    assert (new["agent_id"], new["team"]) == (None, None) != (original["agent_id"], original["team"])
    assert new["meta"]["replay_of"] == key


# --- pages: audit log, users, calibration queue, page numbers, titles -----------------------------------


def test_the_audit_log_page(clients):
    admin, qa = clients["admin"], clients["qa"]
    key = key_of(qa, "cp-004")
    pk = qa.get(f"/api/conversations/{key}").json()["results"][0]["result_id"]
    rule = next(
        f["rule"]
        for f in qa.get(f"/api/conversations/{key}").json()["results"][0]["machine"]["findings"]
        if f["status"] == "fail"
    )
    qa.post(f"/api/results/{pk}/reviews", json={"rule": rule, "verdict": "overturn", "comment": "审计测试"})
    page = text_of(admin.page("/audit?who=qa&action=review"))
    assert "质检员小王" in page and "复核：改判" in page and "审计测试" in page and "状态：未通过" in page
    assert "rescore" not in page  # only review actions
    assert "审计测试" not in text_of(admin.page("/audit?who=admin"))
    assert "没有符合条件的记录" in admin.page("/audit?date_from=2001-01-01&date_to=2001-01-02")
    api = admin.get("/api/audit", params={"who": "qa", "action": "review.overturn"}).json()
    assert api["total"] >= 1 and all(e["action"] == "review.overturn" and e["username"] == "qa" for e in api["items"])


def test_the_audit_log_reads_in_chinese_and_shows_a_plan_by_its_id(app, clients):
    """Details were raw JSON (`{"considered": 0, "period": …}`) and a saved plan its whole YAML, English comments
    included. Known keys and codes read in Chinese, a YAML by its id and name; unknown keys as stored, escaped."""
    engine = app.state.store.engine
    text = (Path(zuoxi.queues.__file__).parent / "plans" / "weekly.yaml").read_text(encoding="utf-8")
    save_plan(engine, parse_plan(text, "weekly.yaml"), text, None)
    run_plan(engine, "weekly", WEEK, today=MONDAY, seed=4)
    audit_now(engine, None, "custom.thing", "thing", 1, None, {"<b>k</b>": "<script>x</script>"})
    html = clients["admin"].page("/audit")
    page = text_of(html)
    assert "保存抽检计划" in page and "内容：id weekly · 名称 每周抽检 · 共" in page
    assert "A weekly sampling plan" not in page and "schedule:" not in page
    assert "抽样" in page and "抽检批次 1" in page and "候选会话数：" in page and "周期：2026-W47" in page
    assert '"considered"' not in page and "{" not in page.split("审计日志", 1)[1]
    assert "&lt;b&gt;k&lt;/b&gt;：&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    entries = clients["admin"].get("/api/audit", params={"action": "plan.save"}).json()["items"]
    assert entries[0]["after"] == {"yaml": text}  # the stored entry keeps the whole text


def test_the_users_page_adds_changes_disables_and_resets(app, clients):
    admin = clients["admin"]
    added = admin.form(
        "/users",
        {
            "username": "agent35",
            "password": "first-pass",
            "role": "agent",
            "agent_id": "３５",
            "team": "售後一組",
            "display_name": "坐席35",
        },
    )
    assert added.status_code == 303 and "已添加用户 agent35" in text_of(admin.page(added.headers["location"]))
    user = next(u for u in admin.get("/api/users").json() if u["username"] == "agent35")
    assert (user["agent_id"], user["team"], user["role"]) == ("35", "售后一组", "agent")
    refused = admin.form("/users", {"username": "x", "password": "short", "role": "agent", "agent_id": "1"})
    assert "密码需要 8–200 个字符" in text_of(admin.page(refused.headers["location"]))
    signed = Client(app, None)
    assert signed.http.post("/api/login", json={"username": "agent35", "password": "first-pass"}).status_code == 200
    changed = admin.form(
        f"/users/{user['id']}", {"role": "team_lead", "team": "售后一组", "agent_id": "", "display_name": "班长35"}
    )
    assert changed.status_code == 303  # no `active`: the box was unticked
    assert signed.get("/api/me").status_code == 401  # disabling ends the sessions
    assert TestClient(app).post("/api/login", json={"username": "agent35", "password": "first-pass"}).status_code == 401
    admin.form(
        f"/users/{user['id']}", {"role": "team_lead", "team": "售后一组", "display_name": "班长35", "active": "1"}
    )
    admin.form(f"/users/{user['id']}/password", {"password": "second-pass"})
    again = TestClient(app)
    assert again.post("/api/login", json={"username": "agent35", "password": "first-pass"}).status_code == 401
    assert (
        again.post("/api/login", json={"username": "agent35", "password": "second-pass"}).json()["user"]["role"]
        == "team_lead"
    )
    me = next(u for u in admin.get("/api/users").json() if u["username"] == "admin")
    locked = admin.form(f"/users/{me['id']}", {"role": "inspector", "active": "1"})
    assert "不能停用自己或取消自己的管理员角色" in text_of(admin.page(locked.headers["location"]))
    actions = [e["action"] for e in admin.get("/api/audit", params={"action": "user"}).json()["items"]]
    assert {"user.add", "user.update", "user.password"} <= set(actions)
    page = admin.page("/users")
    assert 'value="班长35"' in page and "质检员" in text_of(page) and "inspector" not in text_of(page)


def test_the_blind_calibration_queue(clients):
    qa, qa2 = clients["qa"], clients["qa2"]
    key = key_of(qa, "cp-005")
    result = qa.get(f"/api/conversations/{key}").json()["results"][0]
    rule = next(f["rule"] for f in result["machine"]["findings"] if f["status"] != "n/a")
    assert (
        qa.post(
            "/api/calibration/r-queue", json={"result_id": result["result_id"], "rule": rule, "status": "fail"}
        ).status_code
        == 200
    )
    mine, theirs = qa.page("/calibration?round=r-queue"), qa2.page("/calibration?round=r-queue")
    todo = lambda html: html.split('id="todo"')[1].split("</section>")[0]  # noqa: E731
    done = lambda html: html.split('id="done"')[1].split("</section>")[0]  # noqa: E731
    assert "cp-005" in todo(theirs) and "cp-005" not in todo(mine) and "cp-005" in done(mine)
    assert f'href="/calibration/r-queue/{key}"' in todo(theirs)
    queue = theirs.split('id="todo"')[1].split("<h2>r-queue")[0]  # the queue shows no scores or verdicts
    assert queue.count("<th>会话</th><th>渠道</th><th>班组</th><th>坐席</th><th>时间</th></tr>") == 3
    assert 'class="num"' not in queue and "<mark" not in queue and "未通过" not in queue
    judge = qa.page(f"/calibration/r-queue/{key}")
    assert re.search(
        rf'name="item:{result["result_id"]}:{rule}" value="fail" checked', judge
    )  # their own earlier choice
    assert " checked" not in qa2.page(f"/calibration/r-queue/{key}")  # never someone else's
    assert clients["lead2"].page("/calibration?round=r-queue").count('id="todo"') == 0  # team leads see the report only


def test_page_numbers_and_page_size(clients):
    qa = clients["qa"]
    total = len(items(qa))
    page = qa.page("/conversations?per_page=5&page=2")
    pages = -(-total // 5)
    assert f"第 2/{pages} 页" in text_of(page)
    assert '<b aria-current="page">2</b>' in page and 'href="/conversations?per_page=5">1</a>' in page
    assert f'href="/conversations?page={pages}&amp;per_page=5">{pages}</a>' in page
    assert "<option selected>20</option>" not in page and "<option selected>5</option>" not in page
    assert len(re.findall(r'<tr><td><a href="/conversations/', page)) == 5


def test_a_page_past_the_numbered_ones_is_marked_after_them(clients, monkeypatch):
    """Page 2,000 of 100,000 conversations said 第 2000/2000 页 above a pager that ended "198 199 200", as if 200
    were the last; the page shown is now marked after the numbered ones."""
    from zuoxi.web import pages

    monkeypatch.setattr(pages, "MAX_OFFSET", 10)  # numbered links for the first 10 rows: pages 1 and 2 of 5
    qa = clients["qa"]
    assert len(items(qa)) > 20
    deep = qa.page("/conversations?per_page=5&page=4")
    pager = deep.split('aria-label="分页"')[1].split("</nav>")[0]
    assert re.findall(r"<b aria-current=\"page\">(\d+)</b>", pager) == ["4"]
    assert pager.index('href="/conversations?page=2&amp;per_page=5">2</a>') < pager.index('<b aria-current="page">4')
    shallow = qa.page("/conversations?per_page=5&page=2")
    assert shallow.split('aria-label="分页"')[1].count("aria-current") == 1


def test_every_page_has_its_own_title(clients):
    qa, admin = clients["qa"], clients["admin"]
    key = key_of(qa, "cp-001")
    pages = [
        (qa, "/"),
        (qa, "/conversations"),
        (qa, f"/conversations/{key}"),
        (qa, "/appeals"),
        (qa, "/upload"),
        (qa, "/scorecards"),
        (qa, "/scorecards/core"),
        (qa, "/calibration"),
        (qa, "/quality"),
        (qa, "/training"),
        (qa, "/training/wrong-burger"),
        (qa, "/live"),
        (qa, "/campaigns"),
        (admin, "/audit"),
        (admin, "/users"),
        (qa, f"/training/promote/{key}"),
        (qa, f"/calibration/r1/{key}"),
    ]
    titles = [re.search(r"<title>(.*?)</title>", client.page(url)).group(1) for client, url in pages]
    assert len(set(titles)) == len(titles), titles
    assert all("zuoxi" in t for t in titles)


def test_candidate_cases_have_table_headers(clients):
    page = clients["qa"].page("/training")
    assert '<th>会话</th><th>坐席</th><th class="num">得分</th><th>入选原因</th>' in page
