"""The web app's API and pages: sign-in, CSRF, roles and scope (401/403), review and appeal with
score recomputation and audit, dashboards, upload, scorecards, calibration, export."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from zuoxi.engines.local import Batch
from zuoxi.store import Store
from zuoxi.store.users import add_user
from zuoxi.web import create_app

PASSWORD = "correct-horse"
USERS = {  # username: (role, team, agent_id)
    "admin": ("admin", None, None),
    "qa": ("inspector", None, None),
    "qa2": ("inspector", None, None),
    "lead2": ("team_lead", "售后二组", None),
    "lead1": ("team_lead", "售后一组", None),
    "agent07": ("agent", None, "07"),
    "agent21": ("agent", None, "21"),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory, samples):
    db = str(tmp_path_factory.mktemp("web") / "web.db")
    store = Store(db)
    for _ in Batch(
        [samples / "complaint_desk.jsonl", samples / "ecommerce_chats.jsonl"], store=store, analyze=True
    ).run():
        pass
    for name, (role, team, agent_id) in USERS.items():
        add_user(store.engine, name, PASSWORD, role, team, agent_id)
    return create_app(db, recordings=samples)


class Client:
    """A signed-in TestClient that sends its CSRF token on writes."""

    def __init__(self, app, username: str | None):
        self.http = TestClient(app)
        self.csrf = ""
        if username:
            response = self.http.post("/api/login", json={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.text
            self.csrf = response.json()["csrf_token"]

    def get(self, url, **kw):
        return self.http.get(url, **kw)

    def post(self, url, **kw):
        return self.http.post(url, headers={"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}, **kw)

    def put(self, url, **kw):
        return self.http.put(url, headers={"X-CSRF-Token": self.csrf}, **kw)


@pytest.fixture(scope="module")
def clients(app):
    return {name: Client(app, name) for name in USERS}


def items(client, **params):
    response = client.get("/api/conversations", params={"per_page": 500, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def key_of(client, conversation_id):
    return next(i["key"] for i in items(client) if i["id"] == conversation_id)


def result_of(client, key, scorecard=None):
    detail = client.get(f"/api/conversations/{key}").json()
    return next(r for r in detail["results"] if scorecard in (None, r["current"]["scorecard"]))


# --- sign-in and CSRF ------------------------------------------------------------------------------


def test_everything_needs_sign_in(app):
    anonymous = TestClient(app)
    for url in (
        "/api/conversations",
        "/api/dashboard",
        "/api/appeals",
        "/api/me",
        "/api/export.csv",
        "/api/scorecards",
        "/api/rule-precision",
        "/api/results/1/history",
    ):
        assert anonymous.get(url).status_code == 401, url
    assert anonymous.post("/api/results/1/reviews", json={"rule": "EM-01", "verdict": "confirm"}).status_code == 401
    page = anonymous.get("/conversations", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_wrong_password_and_rate_limit(app):
    client = TestClient(app)
    for _ in range(5):
        assert client.post("/api/login", json={"username": "qa2", "password": "nope-nope"}).status_code == 401
    blocked = client.post("/api/login", json={"username": "qa2", "password": PASSWORD})
    assert blocked.status_code == 429  # even the right password, until the window passes
    for name in ("qa2\u0000", "q\u0000a2", "\u0000qa2"):  # the store compares it as qa2: so does the limit
        refused = client.post("/api/login", json={"username": name, "password": PASSWORD})
        assert refused.status_code == 429, name
    app.state.limiter.succeeded("testclient", "qa2")


def test_cookie_flags_and_csrf(app):
    client = TestClient(app)
    response = client.post("/api/login", json={"username": "qa", "password": PASSWORD})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    key = items(client)[0]["key"]
    pk = client.get(f"/api/conversations/{key}").json()["results"][0]["result_id"]
    body = {"rule": "EM-01", "verdict": "confirm"}
    assert client.post(f"/api/results/{pk}/reviews", json=body).status_code == 403
    assert client.post(f"/api/results/{pk}/reviews", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403


def test_logout_ends_the_session(app):
    client = Client(app, "qa")
    assert client.get("/api/me").status_code == 200
    assert client.post("/api/logout").status_code == 200
    assert client.get("/api/me").status_code == 401


# --- scope -------------------------------------------------------------------------------------------


def test_each_role_sees_its_scope(clients):
    everything = items(clients["qa"])
    assert len(everything) == len(items(clients["admin"])) and len(everything) > 20
    team = items(clients["lead2"])
    assert team and {i["team"] for i in team} == {"售后二组"}
    own = items(clients["agent07"])
    assert own and {i["agent_id"] for i in own} == {"07"}
    assert len(own) < len(team) < len(everything)


def test_an_agent_cannot_open_another_agents_conversation(clients):
    others = [i for i in items(clients["qa"]) if i["agent_id"] not in ("07", None)]
    for other in others[:5]:
        assert clients["agent07"].get(f"/api/conversations/{other['key']}").status_code == 403
        page = clients["agent07"].get(f"/conversations/{other['key']}")
        assert page.status_code == 403
        pk = result_of(clients["qa"], other["key"])["result_id"]
        assert clients["agent07"].get(f"/api/results/{pk}/history").status_code == 403
        appeal = clients["agent07"].post(f"/api/results/{pk}/appeals", json={"rule": "EM-01", "reason": "x"})
        assert appeal.status_code == 403
    assert clients["agent07"].get("/api/conversations/" + "0" * 64).status_code == 404


def test_a_team_lead_cannot_reach_another_team(clients):
    outside = next(i for i in items(clients["qa"]) if i["team"] == "售后一组")
    assert clients["lead2"].get(f"/api/conversations/{outside['key']}").status_code == 403
    assert clients["lead1"].get(f"/api/conversations/{outside['key']}").status_code == 200


def test_admin_only_endpoints(clients):
    for name in ("qa", "lead2", "agent07"):
        assert clients[name].get("/api/audit").status_code == 403
        assert clients[name].get("/api/users").status_code == 403
        assert (
            clients[name]
            .post("/api/users", json={"username": "x", "password": "12345678", "role": "admin"})
            .status_code
            == 403
        )
    assert clients["admin"].get("/api/users").status_code == 200
    made = clients["admin"].post(
        "/api/users", json={"username": "agent35", "password": PASSWORD, "role": "agent", "agent_id": "35"}
    )
    assert made.status_code == 200 and made.json()["role"] == "agent"
    assert (
        clients["admin"]
        .post("/api/users", json={"username": "agent35", "password": PASSWORD, "role": "agent", "agent_id": "35"})
        .status_code
        == 422
    )


def test_agents_cannot_review_upload_or_edit(clients):
    key = items(clients["agent07"])[0]["key"]
    pk = result_of(clients["agent07"], key)["result_id"]
    assert (
        clients["agent07"].post(f"/api/results/{pk}/reviews", json={"rule": "EM-01", "verdict": "overturn"}).status_code
        == 403
    )
    files = {"files": ("a.jsonl", b'{"id": "x", "turns": [{"role": "agent", "text": "hi"}]}\n')}
    assert clients["agent07"].post("/api/uploads", files=files).status_code == 403
    assert clients["agent07"].put("/api/scorecards/mine", json={"yaml": "id: mine"}).status_code == 403
    assert clients["lead2"].put("/api/scorecards/mine", json={"yaml": "id: mine"}).status_code == 403
    assert clients["agent07"].get("/api/rule-precision").status_code == 403
    assert clients["agent07"].get("/api/calibration/r1").status_code == 403


# --- review, appeal, versions, audit ---------------------------------------------------------------


def test_overturning_a_finding_recomputes_the_score_and_keeps_both_versions(clients):
    key = key_of(clients["qa"], "cp-001")  # the burger call: fails CS-01 (broken record)
    result = result_of(clients["qa"], key)
    pk, machine = result["result_id"], result["machine"]
    cs01 = next(f for f in machine["findings"] if f["rule"] == "CS-01")
    assert cs01["status"] == "fail" and cs01["points"] < 0
    response = clients["qa"].post(
        f"/api/results/{pk}/reviews", json={"rule": "CS-01", "verdict": "overturn", "comment": "客户同意拒收"}
    )
    assert response.status_code == 200
    assert response.json()["score"] == pytest.approx(min(machine["max_score"], machine["score"] - cs01["points"]))
    after = result_of(clients["qa"], key)
    assert after["reviewed"] and after["machine"]["score"] == machine["score"]  # the machine version is kept
    assert next(f for f in after["current"]["findings"] if f["rule"] == "CS-01")["status"] == "pass"
    history = clients["qa"].get(f"/api/results/{pk}/history").json()
    assert [v["version"] for v in history["versions"]] == [0, 1]
    assert history["reviews"][0]["comment"] == "客户同意拒收" and history["reviews"][0]["by"] == "qa"
    listed = next(i for i in items(clients["qa"]) if i["key"] == key)
    assert listed["score"] == response.json()["score"] and "CS-01" not in listed["failed_rules"]
    audit = clients["admin"].get("/api/audit").json()["items"]
    assert any(
        e["action"] == "review.overturn" and e["entity_id"] == f"{pk}/CS-01" and e["before"] == {"status": "fail"}
        for e in audit
    )
    # confirming afterwards restores the machine's verdict
    clients["qa"].post(f"/api/results/{pk}/reviews", json={"rule": "CS-01", "verdict": "confirm"})
    assert result_of(clients["qa"], key)["current"]["score"] == machine["score"]


def test_reviewing_a_rule_that_did_not_apply_is_refused(clients):
    key = key_of(clients["qa"], "cp-003")
    result = result_of(clients["qa"], key)
    na = next(f["rule"] for f in result["machine"]["findings"] if f["status"] == "n/a")
    response = clients["qa"].post(
        f"/api/results/{result['result_id']}/reviews", json={"rule": na, "verdict": "overturn"}
    )
    assert response.status_code == 400


def test_a_review_verdict_the_api_does_not_take_is_refused_naming_the_values_it_takes(clients):
    result = result_of(clients["qa"], key_of(clients["qa"], "cp-003"))
    response = clients["qa"].post(
        f"/api/results/{result['result_id']}/reviews", json={"rule": "CS-01", "verdict": "确认"}
    )
    assert response.status_code == 400 and "confirm" in response.text and "overturn" in response.text


def test_appeal_then_resolution_by_the_team_lead(clients):
    own = items(clients["agent07"])
    target = next(i for i in own if i["failed_rules"])
    result = result_of(clients["agent07"], target["key"])
    rule = next(f["rule"] for f in result["current"]["findings"] if f["status"] == "fail" and f["points"] < 0)
    pk, before = result["result_id"], result["current"]["score"]
    assert clients["agent07"].post(f"/api/results/{pk}/appeals", json={"rule": rule, "reason": ""}).status_code == 400
    made = clients["agent07"].post(
        f"/api/results/{pk}/appeals", json={"rule": rule, "reason": "客户已表示理解，我道歉了"}
    )
    assert made.status_code == 200
    appeal_id = made.json()["appeal_id"]
    assert (
        clients["agent07"].post(f"/api/results/{pk}/appeals", json={"rule": rule, "reason": "again"}).status_code == 400
    )
    assert clients["lead1"].get("/api/appeals").json()["items"] == []  # another team's lead sees nothing
    assert clients["lead1"].post(f"/api/appeals/{appeal_id}/resolve", json={"accept": True}).status_code == 403
    assert clients["agent07"].post(f"/api/appeals/{appeal_id}/resolve", json={"accept": True}).status_code == 403
    assert appeal_id in [a["id"] for a in clients["lead2"].get("/api/appeals").json()["items"]]
    resolved = clients["lead2"].post(f"/api/appeals/{appeal_id}/resolve", json={"accept": True, "comment": "同意"})
    assert resolved.status_code == 200 and resolved.json()["score"] > before
    assert clients["lead2"].post(f"/api/appeals/{appeal_id}/resolve", json={"accept": False}).status_code == 400
    history = clients["agent07"].get(f"/api/results/{pk}/history").json()
    assert history["appeals"][0]["status"] == "accepted" and history["appeals"][0]["resolved_by"] == "lead2"
    precision = {p["rule"]: p for p in clients["qa"].get("/api/rule-precision").json()}
    assert precision[rule]["reviewed"] >= 1 and precision[rule]["precision"] < 1


# --- calibration -------------------------------------------------------------------------------------


def test_calibration_agreement_and_strictness(clients):
    key = key_of(clients["qa"], "cp-004")
    result = result_of(clients["qa"], key)
    judged = [f["rule"] for f in result["machine"]["findings"] if f["status"] != "n/a"][:4]
    for i, rule in enumerate(judged):
        for name, status in (("qa", "fail"), ("qa2", "fail" if i < 2 else "pass")):
            r = clients[name].post(
                "/api/calibration/r1", json={"result_id": result["result_id"], "rule": rule, "status": status}
            )
            assert r.status_code == 200
    report = clients["lead2"].get("/api/calibration/r1").json()
    assert report["overall"] == pytest.approx(0.5)
    assert [i[0] for i in report["inspectors"]] == ["qa", "qa2"]  # strictest first
    assert report["inspectors"][0][2] == 1.0 and report["inspectors"][1][2] == 0.5


# --- dashboard, filters, search, export --------------------------------------------------------------


def test_dashboard_figures_follow_the_filter_and_scope(clients):
    everything = clients["qa"].get("/api/dashboard").json()
    assert everything["count"] == len(items(clients["qa"]))
    assert sum(n for _, n in everything["bands"]) == everything["count"]
    assert set(everything["skills"]) == {"emotion_management", "service_awareness", "communication"}
    assert everything["failed_rules"] and everything["risky"]
    team = clients["qa"].get("/api/dashboard", params={"team": "售后二组"}).json()
    assert team["count"] == len(items(clients["lead2"]))
    assert clients["lead2"].get("/api/dashboard").json()["count"] == team["count"]
    assert all(a[0] in ("07", "21", "35") for a in team["agents"])


ISO_TIME = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d[^"]*)"')


def test_every_api_time_carries_its_zone(clients):
    """The store keeps naive UTC; the list said `2026-11-13T11:30:00` (read as local time by a client, 8 hours
    off) where the detail said `…Z`. Every time the API writes is UTC with its zone."""
    qa, admin = clients["qa"], clients["admin"]
    listed = items(qa)
    first = next(i for i in listed if i["started_at"])
    assert first["started_at"].endswith("Z")
    assert first["started_at"] == qa.get(f"/api/conversations/{first['key']}").json()["conversation"]["started_at"]
    pk = result_of(qa, key_of(qa, "cp-001"))["result_id"]
    assert qa.post(f"/api/results/{pk}/reviews", json={"rule": "CS-01", "verdict": "confirm"}).status_code == 200
    urls = ["/api/conversations", "/api/dashboard", f"/api/results/{pk}/history", "/api/appeals?status=", "/api/audit"]
    seen = {}
    for url in urls:
        response = admin.get(url)
        assert response.status_code == 200, (url, response.text)
        seen[url] = ISO_TIME.findall(response.text)
        assert all(t.endswith("Z") for t in seen[url]), (url, [t for t in seen[url] if not t.endswith("Z")][:3])
    assert seen["/api/conversations"] and seen["/api/dashboard"] and seen[f"/api/results/{pk}/history"]


def test_list_filters_and_full_text_search(clients):
    qa = clients["qa"]
    failing = items(qa, failed_rule="CS-01")
    assert failing and all("CS-01" in i["failed_rules"] for i in failing)
    low = items(qa, score_max=40)
    assert low and all(i["score"] <= 40 for i in low)
    risky = items(qa, risk_min=0.5)
    assert risky and all(i["complaint_risk"] >= 0.5 for i in risky)
    burger = items(qa, q="汉堡")
    assert {"cp-001", "cp-002"} <= {i["id"] for i in burger}
    assert {i["id"] for i in items(qa, q="漢堡")} == {i["id"] for i in burger}  # Traditional finds Simplified
    assert [i["id"] for i in items(qa, q=" cp-001 ")] == ["cp-001"]  # an id, as an inspector pastes it
    others = {i["id"] for i in items(qa)} - {i["id"] for i in items(clients["agent07"])}
    assert others and items(clients["agent07"], q=sorted(others)[0]) == []  # still within the agent's scope
    paged = qa.get("/api/conversations", params={"per_page": 5, "page": 2}).json()
    assert paged["page"] == 2 and len(paged["items"]) == 5


def test_export_csv_and_xlsx_within_scope(clients):
    csv_text = clients["agent07"].get("/api/export.csv").content.decode("utf-8-sig")
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("会话ID,坐席工号") and len(lines) - 1 == len(items(clients["agent07"]))
    assert all(",07," in line for line in lines[1:])
    book = load_workbook(io.BytesIO(clients["qa"].get("/api/export.xlsx", params={"team": "售后二组"}).content))
    assert book.sheetnames == ["评分", "问题"]
    assert book["评分"].max_row - 1 == len(items(clients["lead2"]))
    findings = clients["qa"].get("/api/export.csv", params={"which": "findings"}).content.decode("utf-8-sig")
    assert findings.splitlines()[0].startswith("会话ID,坐席工号,评分表,规则")


def test_exports_read_in_chinese(clients):
    """Headers and coded values in Chinese, as the pages name them; the same download name for each kind."""
    import csv

    qa = clients["qa"]
    response = qa.get("/api/export.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert list(rows[0]) == [
        "会话ID", "坐席工号", "班组", "渠道", "开始时间", "评分表", "机器评分", "得分", "满分",
        "一票否决", "未通过规则", "投诉风险", "满意度", "已复核",
    ]  # fmt: skip
    assert {r["渠道"] for r in rows} == {"在线", "通话"}
    assert {r["一票否决"] for r in rows} <= {"是", "否"} and {r["已复核"] for r in rows} <= {"是", "否"}
    assert {r["满意度"] for r in rows} - {""} <= {"满意", "一般", "不满意"}
    assert not {"True", "False", "chat", "call"} & {v for r in rows for v in r.values()}
    findings = list(csv.DictReader(io.StringIO(qa.get("/api/export.csv?which=findings").content.decode("utf-8-sig"))))
    assert list(findings[0]) == [
        "会话ID",
        "坐席工号",
        "评分表",
        "规则",
        "名称",
        "结果",
        "严重程度",
        "分值",
        "证据",
        "说明",
    ]
    assert {f["结果"] for f in findings} == {"未通过"}
    assert {f["严重程度"] for f in findings} <= {"轻微", "严重", "一票否决"} and "严重" in {
        f["严重程度"] for f in findings
    }
    book = load_workbook(io.BytesIO(qa.get("/api/export.xlsx").content))
    assert [c.value for c in book["评分"][1]][:2] == ["会话ID", "坐席工号"]
    assert [c.value for c in book["问题"][1]][5:7] == ["结果", "严重程度"]
    # a start time is a date cell (sortable and filterable in Excel), the same wall-clock time the CSV gives with its zone
    started = {r["会话ID"]: r["开始时间"] for r in rows if r["开始时间"]}
    cells = {row[0].value: row[4] for row in book["评分"].iter_rows(min_row=2)}
    some = next(iter(started))
    assert isinstance(cells[some].value, datetime) and cells[some].is_date
    assert cells[some].value == datetime.fromisoformat(started[some]).replace(tzinfo=None)
    names = {
        url: re.search(r'filename="([^"]+)"', qa.get(url).headers["content-disposition"]).group(1)
        for url in ("/api/export.csv", "/api/export.csv?which=findings", "/api/export.xlsx")
    }
    day = r"\d{4}-\d\d-\d\d"
    assert re.fullmatch(rf"zuoxi-scores-{day}\.csv", names["/api/export.csv"])
    assert re.fullmatch(rf"zuoxi-findings-{day}\.csv", names["/api/export.csv?which=findings"])
    assert re.fullmatch(rf"zuoxi-scores-findings-{day}\.xlsx", names["/api/export.xlsx"])
    assert "filename*=UTF-8''zuoxi-%E8%AF%84%E5%88%86-" in response.headers["content-disposition"]  # 评分


# --- upload and scorecards ---------------------------------------------------------------------------


def test_upload_runs_in_the_background_with_per_file_errors(clients):
    good = json.dumps(
        {
            "id": "up-1",
            "agent_id": "07",
            "team": "售后二组",
            "turns": [
                {"role": "agent", "text": "您好，很高兴为您服务"},
                {"role": "customer", "text": "我的快递到哪了"},
            ],
        },
        ensure_ascii=False,
    )
    files = [("files", ("good.jsonl", (good + "\n{broken\n").encode())), ("files", ("bad.xyz", b"???"))]
    response = clients["qa"].post("/api/uploads", files=files)
    assert response.status_code == 200
    job_id = response.json()["job_id"]
    for _ in range(100):
        job = clients["qa"].get(f"/api/uploads/{job_id}").json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "done" and job["files"] == job["files_done"] == 2 and job["conversations"] == 1
    assert any(e.startswith("good.jsonl:2:") for e in job["errors"])
    # a type no reader takes is said in Chinese, with what can be uploaded (it said "pass --format", a command-line
    # option), and the other files are imported
    assert any(
        e.startswith("bad.xyz：不支持的文件类型 .xyz，未导入。可上传：") and ".jsonl" in e for e in job["errors"]
    )
    assert not any("--format" in e for e in job["errors"]), job["errors"]
    assert "up-1" in {i["id"] for i in items(clients["agent07"])}
    assert clients["qa2"].get(f"/api/uploads/{job_id}").status_code == 403


def test_scorecard_edit_validates_by_line_and_rescores(clients):
    qa = clients["qa"]
    assert {"core", "ecommerce"} <= {s["name"] for s in qa.get("/api/scorecards").json()}
    assert "EM-01" in qa.get("/api/scorecards/core").json()["yaml"]
    assert qa.put("/api/scorecards/core", json={"yaml": "id: core"}).status_code == 422  # built-ins are read-only
    broken = "id: strict\nname: 严格\ninclude: [core]\nsections:\n  - id: extra\n    name: 额外\n    items:\n      - id: X-01\n        name: x\n        points: -5\n        message: 测试\n        forbid: {keyword: {role: agent}}\n"
    response = qa.put("/api/scorecards/strict", json={"yaml": broken})
    assert response.status_code == 422
    problems = response.json()["detail"]["problems"]
    assert problems and problems[0].startswith("strict.yaml:") and "X-01" in problems[0]
    assert "keyword 需要 `words`" in problems[0]  # the editor is a page: its author reads Chinese
    typed = qa.put("/api/scorecards/strict", json={"yaml": broken.replace("points: -5", "points: 五")})
    assert "points：应为数字" in typed.json()["detail"]["problems"][0]
    good = broken.replace("{keyword: {role: agent}}", "{keyword: {role: agent, words: [亲]}}")
    assert qa.put("/api/scorecards/strict", json={"yaml": good}).status_code == 200
    assert "words: [亲]" in qa.get("/api/scorecards/strict").json()["yaml"]
    team_keys = {i["key"] for i in items(clients["lead1"])}
    rescored = qa.post("/api/scorecards/strict/rescore", params={"team": "售后一组"})
    assert rescored.status_code == 200 and rescored.json()["rescored"] == len(team_keys)
    strict = items(qa, scorecard="strict")
    assert {i["key"] for i in strict} == team_keys  # a second result per conversation; the first is kept
    listed = items(clients["lead1"])  # each conversation once, with its first result, never twice
    assert len(listed) == len(team_keys) and {i["scorecard"] for i in listed} != {"strict"}
    assert clients["lead1"].get("/api/dashboard").json()["count"] == len(team_keys)
    again = qa.post("/api/scorecards/strict/rescore", params={"team": "售後一組"})  # Traditional: the same team
    assert again.json()["rescored"] == len(team_keys) and len(items(qa, scorecard="strict")) == len(team_keys)


def test_a_scorecards_personal_data_is_masked_where_it_is_stored_and_in_what_it_scores(app, clients):
    """A phone number in a scorecard's message or suggestion stayed in clear in the scorecards table, the audit log and
    every result a rescore wrote: masked before it is stored, the rest of the text as written."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from zuoxi.store.tables import AuditEntry, ResultRow, ScorecardRow

    qa, phone = clients["qa"], "13812345678"
    text = (
        "id: phoned\nname: 回拨表\nsections:\n  - id: s\n    name: 服务\n    items:\n      - id: P-01\n"
        "        name: 没说暗号\n        points: -5\n        expect: {keyword: {role: agent, words: [芝麻开门]}}\n"
        f"        message: 客户 {phone} 要回拨  # 组长 {phone}\n        suggestion: 请回拨 {phone}\n"
    )
    assert qa.put("/api/scorecards/phoned", json={"yaml": text}).status_code == 200
    stored = qa.get("/api/scorecards/phoned").json()["yaml"]
    assert phone not in stored and 'suggestion: "请回拨 *******5678"' in stored and "# 组长 *******5678" in stored
    assert stored.startswith("id: phoned\nname: 回拨表\n")  # the rest as written
    rescored = qa.post("/api/scorecards/phoned/rescore", params={"team": "售后一组"}).json()["rescored"]
    assert rescored
    with Session(app.state.store.engine) as session:
        assert phone not in session.scalars(select(ScorecardRow.yaml).where(ScorecardRow.name == "phoned")).one()
        saved = session.scalars(select(AuditEntry).where(AuditEntry.action == "scorecard.save")).all()
        assert saved and not any(phone in json.dumps(e.after, ensure_ascii=False) for e in saved)
        results = session.scalars(select(ResultRow).where(ResultRow.scorecard == "phoned")).all()
        assert len(results) == rescored
        findings = [f for r in results for f in r.data["findings"] if f["rule"] == "P-01"]
        assert findings and {f["suggestion"] for f in findings} == {"请回拨 *******5678"}
        assert not any(phone in json.dumps(r.data, ensure_ascii=False) for r in results)


def test_a_scorecard_is_saved_only_under_its_own_id(clients):
    """`PUT /api/scorecards/other_name` with `id: my_center` was saved, its id rewritten: its results carried a name
    its author never gave. Refused, naming both; a text without an id takes the name; "另存为" still copies."""
    qa = clients["qa"]
    text = "id: my_center\nname: 我的中心\ninclude: [core]\nsections: []\n"
    refused = qa.put("/api/scorecards/other_name", json={"yaml": text})
    assert refused.status_code == 422
    (problem,) = refused.json()["detail"]["problems"]
    assert "my_center" in problem and "other_name" in problem and "一致" in problem
    assert qa.get("/api/scorecards/other_name").status_code == 404
    assert "other_name" not in {s["name"] for s in qa.get("/api/scorecards").json()}
    assert qa.put("/api/scorecards/my_center", json={"yaml": text}).status_code == 200
    quoted = qa.put("/api/scorecards/my_center", json={"yaml": text.replace("id: my_center", "id: 'my_center'")})
    assert quoted.status_code == 200
    no_id = qa.put("/api/scorecards/no_id", json={"yaml": "name: 无 id\ninclude: [core]\nsections: []\n"})
    assert no_id.status_code == 200 and qa.get("/api/scorecards/no_id").json()["yaml"].startswith("id: no_id\n")
    page = qa.http.post(
        "/scorecards/my_center", data={"csrf_token": qa.csrf, "yaml": text.replace("my_center", "elsewhere")}
    )
    assert page.status_code == 200 and "文中的 id 是 elsewhere" in page.text and "my_center" in page.text
    assert qa.get("/api/scorecards/elsewhere").status_code == 404
    copied = qa.http.post(
        "/scorecards/my_center",
        data={"csrf_token": qa.csrf, "yaml": text, "save_as": "my_copy"},
        follow_redirects=False,
    )
    assert copied.status_code == 303 and qa.get("/api/scorecards/my_copy").json()["yaml"].startswith("id: my_copy\n")


# --- pages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/conversations",
        "/appeals",
        "/upload",
        "/scorecards",
        "/scorecards/core",
        "/calibration",
        "/quality",
        "/login",
    ],
)
def test_pages_render(clients, path):
    response = clients["qa"].get(path)
    assert response.status_code == 200 and "<html" in response.text


def test_detail_page_shows_evidence_and_emotion_curve(clients):
    key = key_of(clients["qa"], "cp-001")
    html = clients["qa"].get(f"/conversations/{key}").text
    assert "<mark" in html and "CS-01" in html and "客户情绪曲线" in html and 'name="csrf_token"' in html
    # each evidence quote says whose words it is: the customer's that called for it, the agent's that lacked it
    assert "句（坐席）「" in html and "句（客户）「" in html


def test_the_detail_page_numbers_turns_from_one(clients):
    """Evidence said `第0句` and the transcript began `0 客户`: shown 1-based; the API's indices stay 0-based."""
    qa = clients["qa"]
    key = key_of(qa, "cp-001")
    detail = qa.get(f"/api/conversations/{key}").json()
    html = qa.get(f"/conversations/{key}").text
    turns = detail["conversation"]["turns"]
    shown = [int(n) for n in re.findall(r'<div class="who">(\d+) ', html)]
    assert shown[: len(turns)] == list(range(1, len(turns) + 1))
    cs01 = next(f for f in detail["results"][0]["machine"]["findings"] if f["rule"] == "CS-01")
    first = cs01["evidence"][0]
    role = {"agent": "坐席", "customer": "客户"}[turns[first["turn"]]["role"]]
    assert f"第{first['turn'] + 1}句（{role}）「" in html
    assert 'id="turn-0"' in html  # anchors keep the index


def test_page_forms_need_csrf(clients, app):
    key = key_of(clients["qa"], "cp-002")
    pk = result_of(clients["qa"], key)["result_id"]
    form = {"result_id": pk, "rule": "EM-01", "verdict": "confirm"}
    assert clients["qa"].http.post(f"/conversations/{key}/review", data=form).status_code == 403
    ok = clients["qa"].http.post(
        f"/conversations/{key}/review", data={**form, "csrf_token": clients["qa"].csrf}, follow_redirects=False
    )
    assert ok.status_code == 303


def test_recording_plays_on_the_detail_page_within_scope(clients):
    key = key_of(clients["qa"], "cp-002")  # has a recording in samples/audio/
    html = clients["qa"].get(f"/conversations/{key}").text
    assert 'id="recording"' in html and "data-start=" in html
    audio = clients["qa"].get(f"/conversations/{key}/audio")
    assert audio.status_code == 200 and audio.content[:4] == b"OggS"
    assert clients["agent07"].get(f"/conversations/{key}/audio").status_code == 403
    silent = key_of(clients["qa"], "cp-003")
    assert 'id="recording"' not in clients["qa"].get(f"/conversations/{silent}").text
    assert clients["qa"].get(f"/conversations/{silent}/audio").status_code == 404


def test_re_analysis_keeps_people_s_decisions(app, clients, samples):
    key = key_of(clients["qa"], "ec-006")
    result = result_of(clients["qa"], key)
    rule = next(f["rule"] for f in result["machine"]["findings"] if f["status"] == "fail" and f["points"] < 0)
    reviewed = clients["qa"].post(
        f"/api/results/{result['result_id']}/reviews", json={"rule": rule, "verdict": "overturn"}
    )
    from sqlalchemy.orm import Session

    from zuoxi.store.tables import ResultRow

    def analyzed_at():
        with Session(app.state.store.engine) as session:
            return session.get(ResultRow, result["result_id"]).analyzed_at

    before = analyzed_at()
    for _ in Batch([samples / "ecommerce_chats.jsonl"], store=app.state.store, analyze=True, resume=False).run():
        pass
    assert analyzed_at() > before  # the machine result was replaced
    again = result_of(clients["qa"], key)
    assert again["reviewed"] and again["current"]["score"] == reviewed.json()["score"]
    assert next(f for f in again["current"]["findings"] if f["rule"] == rule)["status"] == "pass"


def test_the_review_flow_on_both_backends(db_url, samples):
    store = Store(db_url)
    for _ in Batch([samples / "complaint_desk.jsonl"], store=store, analyze=True).run():
        pass
    add_user(store.engine, "qa", PASSWORD, "inspector")
    add_user(store.engine, "agent16", PASSWORD, "agent", agent_id="16")
    app = create_app(db_url)
    qa, agent = Client(app, "qa"), Client(app, "agent16")
    assert {i["id"] for i in items(qa, q="汉堡")} == {"cp-001", "cp-002"}
    assert {i["agent_id"] for i in items(agent)} == {"16"}
    key = key_of(qa, "cp-001")
    result = result_of(qa, key)
    response = qa.post(f"/api/results/{result['result_id']}/reviews", json={"rule": "CS-01", "verdict": "overturn"})
    assert response.status_code == 200 and response.json()["score"] > result["machine"]["score"]
    assert "CS-01" not in next(i for i in items(qa, failed_rule="CS-03") if i["key"] == key)["failed_rules"]
    assert qa.get("/api/dashboard").json()["count"] == 7
    store.close()
    app.state.store.close()


def test_an_older_database_gains_the_new_columns(tmp_path, samples):
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    for _ in Batch([samples / "complaint_desk.jsonl"], store=store, analyze=True).run():
        pass
    with store.engine.begin() as connection:  # what a database from before the web app looked like
        for index in (
            "ix_results_list_main",
            "ix_results_list_main_team",
            "ix_results_list_main_agent",
            "ix_results_list_scorecard",
            "ix_results_list_scorecard_team",
            "ix_results_list_scorecard_agent",
            "ix_results_main_risk",
            "ix_results_scorecard_risk",
            "ix_results_main_team_risk",
        ):
            connection.execute(text(f"DROP INDEX {index}"))
        connection.execute(text("DROP TABLE alembic_version"))  # and before Alembic
        connection.execute(text("DROP INDEX ix_results_final_score"))
        connection.execute(text("DROP INDEX ix_results_complaint_risk"))
        for column in ("final_score", "final_data", "failed_rules", "complaint_risk", "satisfaction", "reviewed"):
            connection.execute(text(f"ALTER TABLE results DROP COLUMN {column}"))
        connection.execute(text("ALTER TABLE conversations DROP COLUMN search_text"))
    store.close()
    add_user(Store(url).engine, "qa", PASSWORD, "inspector")
    qa = Client(create_app(url), "qa")
    from sqlalchemy import inspect

    assert {"ix_results_final_score", "ix_results_complaint_risk"} <= {
        i["name"] for i in inspect(qa.http.app.state.store.engine).get_indexes("results")
    }
    listed = items(qa, q="值班经理")
    assert listed and all(i["score"] is not None and i["failed_rules"] is not None for i in listed)
    assert {i["id"] for i in items(qa, failed_rule="CS-01")} >= {"cp-001"}


def test_blind_calibration_pages(clients):
    key = key_of(clients["qa"], "cp-006")
    result = result_of(clients["qa"], key)
    page = clients["qa2"].get(f"/calibration/blind/{key}").text
    assert 'type="radio"' in page and "未通过 <" not in page and "points" not in page
    assert "人工改判" not in page and "<mark" not in page  # no machine verdicts or evidence shown
    rule = next(f["rule"] for f in result["machine"]["findings"] if f["status"] != "n/a")
    form = {"csrf_token": clients["qa2"].csrf, f"item:{result['result_id']}:{rule}": "fail"}
    assert clients["qa2"].http.post(f"/calibration/blind/{key}", data=form, follow_redirects=False).status_code == 303
    report = clients["qa"].get("/api/calibration/blind").json()
    assert report["inspectors"] == [
        [
            "qa2",
            1,
            1.0,
            float(
                result["machine"]["findings"][[f["rule"] for f in result["machine"]["findings"]].index(rule)]["status"]
                == "fail"
            ),
        ]
    ]
    assert clients["lead2"].get(f"/calibration/blind/{key}").status_code == 403


def test_requests_cannot_reach_files_on_the_server(app, clients, tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text("id: secret\npassword: hunter2\n", encoding="utf-8")
    assert clients["qa"].post(f"/api/scorecards/{secret}/rescore").status_code == 404
    assert clients["qa"].post("/api/scorecards/..%2F..%2Fetc%2Fpasswd.yaml/rescore").status_code == 404
    # a conversation whose `audio` points at a non-audio file does not get it served
    bad = json.dumps(
        {
            "id": "sneaky",
            "channel": "call",
            "agent_id": "07",
            "audio": str(secret),
            "turns": [{"role": "agent", "text": "您好"}],
        }
    )
    job = clients["qa"].post("/api/uploads", files=[("files", ("s.jsonl", bad.encode()))]).json()["job_id"]
    for _ in range(100):
        if clients["qa"].get(f"/api/uploads/{job}").json()["status"] == "done":
            break
        time.sleep(0.05)
    key = key_of(clients["qa"], "sneaky")
    assert clients["qa"].get(f"/conversations/{key}/audio").status_code == 404
    login = TestClient(app).post(
        "/login", data={"username": "qa", "password": PASSWORD, "next": "//evil.example/x"}, follow_redirects=False
    )
    assert login.status_code == 303 and login.headers["location"] == "/"


def test_api_docs_work_offline_for_signed_in_users(app, clients):
    anonymous = TestClient(app)
    assert anonymous.get("/openapi.json").status_code == 401
    assert anonymous.get("/docs", follow_redirects=False).status_code == 401
    assert (
        anonymous.get("/docs", headers={"accept": "text/html"}, follow_redirects=False).headers["location"]
        == "/login?next=%2Fdocs"
    )
    client = clients["agent07"]
    page = client.get("/docs")
    assert page.status_code == 200 and "<script>" not in page.text  # its start-up script is a static file
    linked = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
    assert {"/static/swagger-ui-bundle.js", "/static/swagger-init.js", "/static/swagger-ui.css"} <= set(linked)
    assert not re.search(r"https?://|//[a-z]", page.text), "the docs page must not load anything from outside"
    for url in linked:
        if url.startswith("/"):
            assert client.get(url).status_code == 200, url
    assert "SwaggerUIBundle" in client.get("/static/swagger-init.js").text
    assert "/api/conversations/{key}" in client.get("/openapi.json").json()["paths"]
    assert client.get("/redoc").status_code != 200  # FastAPI's ReDoc page would load its script from a CDN


def test_the_filter_forms_empty_fields_mean_any(clients):
    """What the list and dashboard forms send when a field is left empty: every filter blank."""
    qa = clients["qa"]
    blank = "q=&score_min=&score_max=&failed_rule=&risk_min=&agent_id=&team=&date_from=&date_to=&channel=&scorecard="
    everything = items(qa)
    listed = qa.get(f"/conversations?{blank}")
    assert listed.status_code == 200 and f"共 {len(everything)} 条" in listed.text
    assert qa.get(f"/?{blank}").status_code == 200
    assert qa.get(f"/api/conversations?{blank}&per_page=500").json()["total"] == len(everything)
    assert qa.get(f"/api/dashboard?{blank}").json()["count"] == qa.get("/api/dashboard").json()["count"]
    some = qa.get("/api/conversations?score_min=&score_max=60&date_from=&risk_min= ").json()
    assert some["total"] == len([i for i in everything if i["score"] is not None and i["score"] <= 60])
