"""Probes of the web app and the HTML report as an attacker would send them: script injection
through every field a user, an uploaded file or a URL can set, on every page that shows it, for
every role; recordings outside the recordings folder; oversized and oddly named uploads;
formulas in exports; huge numbers in URLs; the API docs without sign-in; another team's data.
The browser half (Playwright) is in test_web_security_browser.py."""

from __future__ import annotations

import io
import json
import shutil
import time
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from zuoxi.engines.local import Batch
from zuoxi.store import Store
from zuoxi.store.tables import AppealRow, ReviewRow, TrainingAttempt
from zuoxi.store.users import add_user
from zuoxi.web import create_app

PASSWORD = "correct-horse"
# Each payload breaks out of a different context: element content, an attribute, a <script> block,
# a URL, a template; together they are what every user-settable field below carries.
EVIL = '"><img src=x onerror=alert(1)><script>alert(1)</script></script><script>alert(2)</script>{{7*7}}'
ROUND = '"><img src=x onerror=alert(1)>{{7*7}}'  # a URL path segment: no "/"
AGENT = 'javascript:alert(1)"><script>alert(1)</script>'  # ids, teams and names are at most 100 characters
TEAM = "售后" + ROUND
CONVERSATION = "cid" + EVIL
USERS = {  # username: (role, team, agent_id)
    "admin": ("admin", None, None),
    "qa": ("inspector", None, None),
    "leadx": ("team_lead", TEAM, None),
    "agentx": ("agent", TEAM, AGENT),
    "lead2": ("team_lead", "售后二组", None),
}


def hostile_conversation() -> dict:
    return {
        "id": CONVERSATION,
        "channel": "chat",
        "agent_id": AGENT,
        "team": TEAM,
        "started_at": "2026-12-05T14:03:00+08:00",
        "turns": [
            {"role": "customer", "text": "你们这什么破服务，我要投诉！" + EVIL},
            {"role": "agent", "text": "不知道，这不归我管。" + EVIL},
            {"role": "customer", "text": "我电话13812345678，赶紧处理" + EVIL},
        ],
    }


def hostile_database(path, samples) -> str:
    """Samples plus one conversation whose id, agent, team and turns are all payloads, and the users."""
    conversations = path / "hostile.jsonl"
    conversations.write_text(json.dumps(hostile_conversation(), ensure_ascii=False) + "\n", encoding="utf-8")
    db = str(path / "hostile.db")
    store = Store(db)
    for _ in Batch([samples / "complaint_desk.jsonl", conversations], store=store, analyze=True).run():
        pass
    for name, (role, team, agent_id) in USERS.items():
        add_user(store.engine, name, PASSWORD, role, team, agent_id, display_name=EVIL if name == "agentx" else None)
    store.close()
    return db


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

    def page(self, url):
        return self.http.get(url, headers={"accept": "text/html"}, follow_redirects=False)

    def post(self, url, **kw):
        return self.http.post(url, headers={"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}, **kw)

    def put(self, url, **kw):
        return self.http.put(url, headers={"X-CSRF-Token": self.csrf}, **kw)


def evil_scorecard() -> str:
    text = json.dumps(EVIL, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
    return (
        f"id: evil\nname: {text}\ninclude: [core]\nsections:\n  - id: extra\n    name: {text}\n    items:\n"
        f"      - id: X-01\n        name: {text}\n        points: -5\n        message: {text}\n        suggestion: {text}\n"
        f"        forbid: {{keyword: {{role: agent, words: [不知道]}}}}\n"
    )


def populate(app) -> dict:
    """People write payloads everywhere they can: a scorecard (names, messages), a review comment,
    an appeal reason, a calibration round and comment. Returns what the tests need to find them."""
    clients = {name: Client(app, name) for name in USERS}
    qa, agent = clients["qa"], clients["agentx"]
    [listed] = [
        i for i in qa.get("/api/conversations", params={"per_page": 500}).json()["items"] if i["id"] == CONVERSATION
    ]
    key = listed["key"]
    assert qa.put("/api/scorecards/evil", json={"yaml": evil_scorecard()}).status_code == 200
    assert qa.post("/api/scorecards/evil/rescore", params={"agent_id": AGENT}).json()["rescored"] == 1
    results = qa.get(f"/api/conversations/{key}").json()["results"]
    evil = next(r for r in results if r["current"]["scorecard"] == "evil")
    failed = [f["rule"] for f in evil["current"]["findings"] if f["status"] == "fail"]
    assert "X-01" in failed and len(failed) >= 2
    review = qa.post(
        f"/api/results/{evil['result_id']}/reviews", json={"rule": failed[0], "verdict": "confirm", "comment": EVIL}
    )
    assert review.status_code == 200, review.text
    appeal = agent.post(
        f"/api/results/{evil['result_id']}/appeals", json={"rule": "X-01", "reason": EVIL + " 13812345678"}
    )
    assert appeal.status_code == 200, appeal.text
    assert (
        qa.post(
            f"/api/calibration/{ROUND}",
            json={"result_id": evil["result_id"], "rule": "X-01", "status": "fail", "comment": EVIL},
        ).status_code
        == 200
    )
    populate_queues(clients)
    return {
        "app": app,
        "clients": clients,
        "key": key,
        "result_id": evil["result_id"],
        "appeal_id": appeal.json()["appeal_id"],
    }


def populate_queues(clients) -> None:
    """A sampling plan named with a payload picks the hostile conversation for qa under a rule named
    with one; the lead notes the conversation's complaint alert with one; the admin adds a webhook."""
    qa, lead, admin = clients["qa"], clients["leadx"], clients["admin"]
    name, label = json.dumps(EVIL, ensure_ascii=False), json.dumps(ROUND, ensure_ascii=False)
    plan = (
        f"id: evil-plan\nname: {name}\nscope: {{scorecards: [evil]}}\nrules:\n  - id: hit\n    kind: failed_rules\n"
        f"    name: {label}\n    rules: [X-01]\nassignment: {{inspectors: [qa]}}\n"
    )
    saved = qa.http.post(
        "/queue/plans/evil-plan", data={"csrf_token": qa.csrf, "plan_yaml": plan}, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    ran = qa.post("/api/queue/plans/evil-plan/run", json={"first": "2026-12-05", "last": "2026-12-05"})
    assert ran.status_code == 200 and ran.json()["by_inspector"] == {"qa": 1}, ran.text
    [alert] = [a for a in lead.get("/api/alerts").json()["items"] if a["conversation_id"] == CONVERSATION]
    assert (
        lead.http.post(f"/alerts/{alert['id']}/handle", data={"csrf_token": lead.csrf, "note": EVIL}).status_code == 200
    )
    added = admin.http.post(
        "/alerts/webhooks",
        data={
            "csrf_token": admin.csrf,
            "name": EVIL,
            "team": TEAM,
            "template": "wecom",
            "url": "https://example.invalid/hook?key=%22%3E%3Cscript%3Ealert(1)",
        },
    )
    assert added.status_code == 200 and "推送地址已添加" in added.text


@pytest.fixture(scope="module")
def world(tmp_path_factory, samples):
    """The app on the hostile database, after people wrote payloads everywhere they can write."""
    return populate(
        create_app(hostile_database(tmp_path_factory.mktemp("security"), samples), models=False, recordings=samples)
    )


class Scan(HTMLParser):
    """Every start tag with its attributes, and the text of each <script type=application/json>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.json_blocks: list[str] = []
        self._in_json = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_json = tag == "script" and dict(attrs).get("type") == "application/json"

    def handle_endtag(self, tag):
        self._in_json = False

    def handle_data(self, data):
        if self._in_json:
            self.json_blocks.append(data)


def assert_inert(html: str, where: str) -> Scan:
    """Nothing in the page came from a payload: no element or handler it would have made, no script
    but the app's static files and JSON data, no javascript: link."""
    scan = Scan()
    scan.feed(html)
    for tag, attrs in scan.tags:
        assert tag not in ("img", "iframe", "object", "embed"), f"{where}: an injected <{tag}>"
        assert not [a for a in attrs if a.startswith("on")], f"{where}: an event handler on <{tag}>"
        if tag == "script":
            assert (attrs.get("src") or "").startswith("/static/") or attrs.get("type") == "application/json", (
                f"{where}: an inline or foreign script {attrs}"
            )
        for name in ("href", "src", "action", "formaction"):
            assert not (attrs.get(name) or "").strip().lower().startswith("javascript:"), (
                f"{where}: {name}={attrs[name]}"
            )
    for block in scan.json_blocks:
        json.loads(block)  # data, whole: a payload did not end the block early
    assert "alert(1)</script>" not in html and "<img src=x" not in html, where
    return scan


def shown(payload: str, html: str) -> bool:
    """The payload is on the page as text (escaped), or inside a JSON data block; whole, so also
    not run as a template ({{7*7}} would have become 49)."""
    return (
        str(escape(payload)) in html
        or json.dumps(payload)[1:-1]
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
        in html
    )


ALL = ("admin", "qa", "leadx", "agentx")
OVERSEERS = ("admin", "qa", "leadx")
INSPECTORS = ("admin", "qa")
# (page, who may open it, the payloads it must show escaped)
PAGES = [
    ("/conversations", ALL, [CONVERSATION, AGENT, TEAM]),
    ("/conversations?q={evil}&team={team}", ALL, [EVIL]),
    ("/", ALL, [AGENT]),
    ("/?agent_id={agent}", ALL, [AGENT]),
    ("/conversations/{key}", ALL, [CONVERSATION, AGENT, TEAM, EVIL]),
    ("/conversations/{key}?{notice}", ALL, [EVIL]),  # a message a form's redirect sealed for the session
    ("/appeals?status=", ALL, [EVIL, CONVERSATION]),
    ("/calibration?round={round}", OVERSEERS, [ROUND]),
    ("/calibration/{round}/{key}", INSPECTORS, [ROUND, CONVERSATION]),
    ("/scorecards", ALL, []),
    ("/scorecards/evil", ALL, [evil_scorecard()]),
    ("/training?q={evil}", ALL, [EVIL]),
    ("/training/promote/{key}", INSPECTORS, [CONVERSATION]),
    ("/live?conversation={key}", ALL, [EVIL]),
    ("/quality", OVERSEERS, []),
    ("/campaigns", OVERSEERS, []),
    ("/calls", ("agentx",), [AGENT]),  # the agent's own calls: nothing assigned here, their id shown escaped
    ("/upload", INSPECTORS, []),
    ("/effects?team={team}&sort={evil}", OVERSEERS, [TEAM, AGENT]),
    ("/effects/agents/{agent}", OVERSEERS, [AGENT]),
    ("/effects/training?team={team}", OVERSEERS, [TEAM]),
    ("/queue", INSPECTORS, []),
    ("/queue?{notice}", INSPECTORS, [EVIL]),
    ("/queue/team", OVERSEERS, [CONVERSATION, AGENT, TEAM, ROUND, EVIL]),
    ("/queue/team?plan={round}&{notice}", OVERSEERS, [EVIL]),
    ("/queue/plans", OVERSEERS, [EVIL]),
    ("/queue/plans/evil-plan?{notice}", OVERSEERS, [EVIL]),
    ("/alerts?status=all", OVERSEERS, [CONVERSATION, AGENT, TEAM, EVIL]),
    ("/alerts?status=nope&{notice}", OVERSEERS, [EVIL]),
    ("/alerts/settings?{notice}", ("admin",), [EVIL, TEAM]),
    ("/appeals?{notice}", ALL, [EVIL]),
    ("/users?{notice}", ("admin",), [EVIL]),
    ("/training/promote/{key}?{notice}", INSPECTORS, [EVIL]),
    ("/scorecards/core?{notice}", ALL, [EVIL]),
    ("/audit?who=qa", ("admin",), [EVIL]),
    ("/audit?who={round}&action={round}&date_from=&date_to=", ("admin",), []),
    ("/users", ("admin",), [EVIL, AGENT, TEAM]),
]


def fill(url: str, world, csrf: str = "") -> str:
    """The URL with its payloads; `{notice}`, a page's message (`error` and `done`) of a payload, sealed for the
    session of `csrf` (or, without one, unsealed: shown nowhere)."""
    from urllib.parse import quote, urlencode

    from zuoxi.web.security import seal

    notice = {"error": EVIL, "done": EVIL} | ({"sig": seal(csrf, EVIL, EVIL)} if csrf else {})
    return url.format(
        key=world["key"],
        evil=quote(EVIL, safe=""),
        team=quote(TEAM, safe=""),
        agent=quote(AGENT, safe=""),
        round=quote(ROUND, safe=""),
        notice=urlencode(notice),
    )


@pytest.mark.parametrize("role", ALL)
def test_payloads_are_shown_escaped_on_every_page_for_every_role(world, role):
    client = world["clients"][role]
    for url, allowed, payloads in PAGES:
        response = client.page(fill(url, world, client.csrf))
        where = f"{role} {url}"
        if role not in allowed:
            assert response.status_code == 403 and "没有权限" in response.text, where
            assert_inert(response.text, where)
            continue
        assert response.status_code == 200, f"{where}: {response.status_code}"
        assert_inert(response.text, where)
        for payload in payloads:
            assert shown(payload, response.text), f"{where}: {payload[:20]}… not shown"
        if role == "agentx":
            assert shown(EVIL, response.text), f"{where}: the display name in the menu"


def test_payloads_in_sign_in_and_error_pages(world):
    anonymous = TestClient(world["app"])
    page = anonymous.get(fill("/login?next={evil}&error={evil}", world), headers={"accept": "text/html"})
    assert page.status_code == 200 and shown(EVIL, page.text)  # the form's `next`; the link's `error` is not shown
    assert 'class="error"' not in page.text
    assert_inert(page.text, "login")
    for url in (
        "/conversations/{evil}",
        "/training/{evil}",
        "/scorecards/{evil}",
        "/calibration/{round}/{evil}",
        "/nowhere/{evil}",
    ):
        response = world["clients"]["qa"].page(fill(url, world))
        assert response.status_code == 404 and "没有找到" in response.text, url
        assert_inert(response.text, url)
    signed_in = TestClient(world["app"])
    assert (
        signed_in.post(
            "/login",
            data={"username": "qa", "password": PASSWORD, "next": "javascript:alert(1)"},
            follow_redirects=False,
        ).headers["location"]
        == "/"
    )


SPOOF = "账号已冻结，请致电 400-000-0000 解冻"
# Each page that shows a message after a form, and who may open it.
MESSAGE_PAGES = [
    ("/conversations/{key}", "qa"),
    ("/appeals", "qa"),
    ("/queue", "qa"),
    ("/queue/team", "leadx"),
    ("/queue/plans", "qa"),
    ("/queue/plans/evil-plan", "qa"),
    ("/alerts", "leadx"),
    ("/alerts/settings", "admin"),
    ("/users", "admin"),
    ("/training/promote/{key}", "qa"),
    ("/scorecards/evil", "qa"),
]


def test_a_message_put_in_a_link_is_shown_nowhere(world):
    """`/login?error=账号已冻结，请致电 400-000-0000 解冻` showed its text as a sign-in error (a phishing link on the real
    host), and `error`/`done` did as much on the signed-in pages. A page shows a message only when the redirect of a
    form sealed it for the session reading it: not one typed into a link, nor one sealed for another session."""
    from urllib.parse import urlencode

    from zuoxi.web.security import seal

    anonymous = TestClient(world["app"])
    for query in ({"error": SPOOF}, {"error": SPOOF, "sig": "0" * 32}, {"error": SPOOF, "done": SPOOF, "sig": "非"}):
        page = anonymous.get("/login?" + urlencode(query), headers={"accept": "text/html"})
        assert page.status_code == 200 and SPOOF not in page.text and 'class="error"' not in page.text
    other = world["clients"]["agentx"].csrf
    for path, who in MESSAGE_PAGES:
        client, url = world["clients"][who], fill(path, world)
        for query in (
            {"error": SPOOF, "done": SPOOF},
            {"error": SPOOF, "done": SPOOF, "sig": "0" * 32},
            {"error": SPOOF, "sig": "非ascii"},
            {"error": SPOOF, "done": SPOOF, "sig": seal(other, SPOOF, SPOOF)},  # another session's seal
            {"error": SPOOF, "sig": seal(client.csrf, SPOOF, "")[:-1]},
            {"done": SPOOF, "sig": seal(client.csrf, SPOOF, "")},  # sealed as an error, shown as done
        ):
            page = client.page(f"{url}?{urlencode(query)}")
            assert page.status_code == 200 and SPOOF not in page.text, (path, query)
        sealed = client.page(
            f"{url}?{urlencode({'error': SPOOF, 'done': SPOOF, 'sig': seal(client.csrf, SPOOF, SPOOF)})}"
        )
        assert SPOOF in sealed.text, path  # what this session's own redirect carries


def test_the_page_scripts_read_their_data_as_json(world):
    """Data for a page's script is a JSON block that parses back to the payloads themselves."""
    qa = world["clients"]["qa"]
    blocks = assert_inert(qa.page(fill("/live?conversation={key}", world)).text, "live").json_blocks
    replay = json.loads(blocks[0])["replay"]
    assert next(t["text"] for t in replay).endswith(EVIL)
    dashboard = json.loads(assert_inert(qa.page("/").text, "dashboard").json_blocks[0])
    assert AGENT in dashboard["profiles"]


def test_the_html_report_escapes_conversations(tmp_path):
    from typer.testing import CliRunner

    from zuoxi.cli import app as cli

    source = tmp_path / "hostile.jsonl"
    source.write_text(json.dumps(hostile_conversation(), ensure_ascii=False) + "\n", encoding="utf-8")
    report = tmp_path / "report.html"
    outcome = CliRunner().invoke(
        cli, ["analyze", str(source), "--format", "html", "--out", str(report), "--no-store", "--no-models"]
    )
    assert outcome.exit_code == 0, outcome.output
    html = report.read_text(encoding="utf-8")
    assert_inert(html, "report")
    for payload in (CONVERSATION, AGENT, TEAM, EVIL):
        assert shown(payload, html), payload[:20]
    assert "<mark" in html  # the highlighter's own tags still mark the evidence
    assert "script-src" not in html and "default-src 'none'" in html  # and the report may run no script at all


def test_every_response_carries_the_security_headers(world):
    qa = world["clients"]["qa"]
    for response in (
        qa.page("/"),
        qa.get("/api/conversations"),
        qa.get("/static/app.css"),
        qa.page("/nowhere"),
        TestClient(world["app"]).get("/api/me"),
        qa.get("/api/conversations?page=x"),
    ):
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert "object-src 'none'" in policy and "base-uri 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"


def test_pages_have_no_inline_script_or_handler(world):
    """The CSP forbids inline code, so none may be needed: every template, for an inspector."""
    qa = world["clients"]["qa"]
    for url, _, _ in PAGES:
        html = qa.page(fill(url, world)).text
        assert (
            "<script>" not in html and " onclick=" not in html and " onsubmit=" not in html and " onchange=" not in html
        ), url


# --- recordings -------------------------------------------------------------------------------------


def upload_and_wait(client, name: str, content: bytes) -> dict:
    response = client.post("/api/uploads", files=[("files", (name, content))])
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    for _ in range(200):
        job = client.get(f"/api/uploads/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def test_recordings_only_from_the_recordings_folder(tmp_path, samples):
    """`audio` comes from uploaded data: only files inside `--recordings` are ever served."""
    root, outside = tmp_path / "recordings", tmp_path / "elsewhere"
    root.mkdir(), outside.mkdir()
    shutil.copy(samples / "audio" / "cb-001.ogg", root / "inside.ogg")
    shutil.copy(samples / "audio" / "cb-001.ogg", outside / "outside.ogg")
    (root / "linked.ogg").symlink_to(outside / "outside.ogg")
    db = str(tmp_path / "rec.db")
    add_user(Store(db).engine, "qa", PASSWORD, "inspector")
    app = create_app(db, models=False, recordings=root)
    qa = Client(app, "qa")
    cases = {
        "inside.ogg": 200,
        str(root / "inside.ogg"): 200,
        str(outside / "outside.ogg"): 404,
        "../elsewhere/outside.ogg": 404,
        str(root / ".." / "elsewhere" / "outside.ogg"): 404,
        "linked.ogg": 404,
        "/etc/passwd": 404,
        "": 404,
        "x\u0000.wav": 404,  # a NUL byte failed the whole upload, and the page answered 500
        "A" * 300 + ".wav": 404,  # a name longer than the system allows: the page answered 500
    }
    lines = [
        json.dumps(
            {"id": f"rec-{i}", "channel": "call", "audio": audio or None, "turns": [{"role": "agent", "text": "您好"}]}
        )
        for i, audio in enumerate(cases)
    ]
    assert upload_and_wait(qa, "rec.jsonl", "\n".join(lines).encode())["conversations"] == len(cases)
    keys = {i["id"]: i["key"] for i in qa.get("/api/conversations", params={"per_page": 500}).json()["items"]}
    for i, (audio, status) in enumerate(cases.items()):
        response = qa.get(f"/conversations/{keys[f'rec-{i}']}/audio")
        assert response.status_code == status, audio
        assert (response.content[:4] == b"OggS") == (status == 200)
        assert ('id="recording"' in qa.page(f"/conversations/{keys[f'rec-{i}']}").text) == (status == 200), audio
    bad = qa.get("/api/conversations", params={"per_page": 500}).json()["items"]
    assert len(bad) == len(cases)  # every one stored, whatever its recording's name
    unconfigured = Client(create_app(db, models=False), "qa")  # no --recordings: no recording is served at all
    assert unconfigured.get(f"/conversations/{keys['rec-0']}/audio").status_code == 404


# --- uploads -----------------------------------------------------------------------------------------


def one_conversation(ident: str) -> bytes:
    return (json.dumps({"id": ident, "agent_id": "07", "turns": [{"role": "agent", "text": "您好"}]}) + "\n").encode()


def test_an_upload_over_the_limit_is_refused_with_413(tmp_path):
    db = str(tmp_path / "limit.db")
    add_user(Store(db).engine, "qa", PASSWORD, "inspector")
    app = create_app(db, models=False, max_upload=64 << 10)
    qa = Client(app, "qa")
    big = one_conversation("big") * 2000  # ~150 KB
    declared = qa.post("/api/uploads", files=[("files", ("big.jsonl", big))])
    assert declared.status_code == 413 and "64 KB" in declared.json()["detail"]

    head = b'--x\r\nContent-Disposition: form-data; name="files"; filename="big.jsonl"\r\n\r\n'
    body = head + big + b"\r\n--x--\r\n"
    chunked = qa.post(
        "/api/uploads",
        content=(body[i : i + 8192] for i in range(0, len(body), 8192)),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )  # no Content-Length
    assert chunked.status_code == 413
    page = qa.http.post(
        "/conversations/0/review",
        content=b"x" * (65 << 10),
        headers={"content-type": "application/x-www-form-urlencoded", "accept": "text/html"},
    )
    assert page.status_code == 413 and "内容太大" in page.text
    assert qa.get("/api/conversations").json()["total"] == 0  # nothing was imported
    assert upload_and_wait(qa, "small.jsonl", one_conversation("small"))["conversations"] == 1


@pytest.mark.parametrize(
    "name",
    [
        "..",
        "../",
        "../../etc/passwd.jsonl",
        "a" * 300 + ".jsonl",
        "售" * 200 + ".jsonl",
        "x\x00y.jsonl",
        "C:\\Windows\\x.jsonl",
        "",
        ".jsonl.",
        "售后/../../记录.jsonl",
    ],
)
def test_odd_upload_file_names_are_sanitized(tmp_path, monkeypatch, name):
    import tempfile

    scratch, data = tmp_path / "scratch", tmp_path / "data"
    scratch.mkdir(), data.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the importer makes its job folders
    db = str(data / "names.db")
    add_user(Store(db).engine, "qa", PASSWORD, "inspector")
    qa = Client(create_app(db, models=False), "qa")
    if not name:  # a part with no file name is not a file: a 422 that says so
        refused = qa.post("/api/uploads", files=[("files", (name, one_conversation("named")))])
        assert refused.status_code == 422 and refused.json()["detail"] == "输入有误：文件格式不对"
        return
    job = upload_and_wait(qa, name, one_conversation("named"))
    assert job["status"] == "done" and job["files"] == 1, job
    if name.endswith(".jsonl"):
        assert job["conversations"] == 1 and not job["errors"], job
    assert sorted(tmp_path.iterdir()) == [data, scratch]  # nothing written outside the job's folder
    assert not list(scratch.glob("zuoxi-upload-*"))  # which is gone once imported


def test_two_files_of_the_same_name_are_both_imported(tmp_path):
    db = str(tmp_path / "same.db")
    add_user(Store(db).engine, "qa", PASSWORD, "inspector")
    qa = Client(create_app(db, models=False), "qa")
    files = [("files", ("a.jsonl", one_conversation("first"))), ("files", ("a.jsonl", one_conversation("second")))]
    job_id = qa.post("/api/uploads", files=files).json()["job_id"]
    for _ in range(200):
        if qa.get(f"/api/uploads/{job_id}").json()["status"] == "done":
            break
        time.sleep(0.05)
    assert {i["id"] for i in qa.get("/api/conversations").json()["items"]} == {"first", "second"}


def test_the_body_limit_stops_reading_once_passed():
    """The limit is enforced on the bytes as they arrive: a client streaming 800 KB against a 64 KB
    limit has at most one chunk past the limit read before the request is refused."""
    import asyncio

    from starlette.requests import Request

    from zuoxi.web.security import BodyLimit, TooLarge

    async def app(scope, receive, send):
        await Request(scope, receive).body()

    reads = 0

    async def receive():
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 8192, "more_body": reads < 100}

    with pytest.raises(TooLarge):
        asyncio.run(BodyLimit(app, limit=64 << 10)({"type": "http", "headers": []}, receive, None))
    assert reads == 9


# --- exports -----------------------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example","点我")', "+1+2", "-3+4", "@SUM(A1)", "\t=1+1", "\r=1+1"]


def test_exports_do_not_carry_formulas(tmp_path):
    db = str(tmp_path / "formula.db")
    store = Store(db)
    source = tmp_path / "f.jsonl"
    source.write_text(
        "".join(
            json.dumps(
                {
                    "id": f,
                    "agent_id": f,
                    "team": f,
                    "turns": [{"role": "customer", "text": "我要投诉"}, {"role": "agent", "text": "不知道"}],
                }
            )
            + "\n"
            for f in FORMULAS
        )
    )
    for _ in Batch([source], store=store, analyze=True, models=False).run():
        pass
    add_user(store.engine, "qa", PASSWORD, "inspector")
    qa = Client(create_app(db, models=False), "qa")
    import csv

    rows = list(csv.reader(io.StringIO(qa.get("/api/export.csv").content.decode("utf-8-sig"))))[1:]
    assert len(rows) == len(FORMULAS)
    for row in rows:  # id, agent, team: the last two trimmed, as teams and agent ids are stored
        assert row[0] in {"'" + f for f in FORMULAS} and row[1] == row[2] == "'" + row[0][1:].strip()
    book = load_workbook(io.BytesIO(qa.get("/api/export.xlsx").content))
    cells = [c for row in book["评分"].iter_rows(min_row=2, max_col=3) for c in row]
    assert len(cells) == 3 * len(FORMULAS)
    # a workbook's string cell never runs: the text as uploaded (no apostrophe), marked with the quote prefix
    assert all(c.data_type == "s" and c.quotePrefix and not c.value.startswith("'") for c in cells)
    values = [[c.value for c in row] for row in book["评分"].iter_rows(min_row=2, max_col=3)]
    read = [f.replace("\r", "\n") for f in FORMULAS]  # XML reads a carriage return as a line break
    assert sorted(values) == sorted([f, f.strip(), f.strip()] for f in read)
    assert book["评分"].cell(2, 7).data_type == "n"  # numbers stay numbers


def test_a_control_character_in_an_uploaded_id_does_not_fail_the_export(tmp_path):
    """A workbook cannot hold control characters: one in an id, agent or team failed the whole XLSX export (500)."""
    db = str(tmp_path / "control.db")
    store = Store(db)
    source = tmp_path / "c.jsonl"
    turns = [{"role": "customer", "text": "我要投诉"}, {"role": "agent", "text": "不知道"}]
    source.write_text(
        json.dumps({"id": "c\x01-1\x1b[31m", "agent_id": "a\x07", "team": "t\x0b", "turns": turns}) + "\n"
    )
    for _ in Batch([source], store=store, analyze=True, models=False).run():
        pass
    add_user(store.engine, "qa", PASSWORD, "inspector")
    response = Client(create_app(db, models=False), "qa").get("/api/export.xlsx")
    assert response.status_code == 200
    row = next(load_workbook(io.BytesIO(response.content))["评分"].iter_rows(min_row=2, max_col=3, values_only=True))
    assert row == ("c-1[31m", "a", "t")


# --- numbers in URLs ---------------------------------------------------------------------------------

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", f"/api/conversations?page={HUGE}"),
        ("get", f"/api/conversations?per_page={HUGE}"),
        ("get", "/api/dashboard?score_min=1e400"),
        ("get", "/api/conversations?risk_min=nan"),
        ("get", f"/api/results/{HUGE}/history"),
        ("get", f"/api/uploads/{HUGE}"),
        ("get", f"/api/audit?per_page={HUGE}"),
        ("post", f"/api/appeals/{HUGE}/resolve"),
        ("post", f"/api/results/{HUGE}/reviews"),
        ("get", f"/api/training/cases?difficulty={HUGE}"),
        ("get", "/api/conversations?date_from=2026-13-45"),
        # days past what a time zone's arithmetic holds were a 500 on every filtered page (OverflowError)
        ("get", "/api/conversations?date_from=0001-01-01"),
        ("get", "/api/dashboard?date_to=9999-12-31"),
        ("get", "/api/export.csv?date_from=0001-01-01"),
        ("get", "/api/effects?date_to=9999-12-31"),
        ("get", "/api/audit?date_to=9999-12-31"),
    ],
)
def test_huge_numbers_are_a_422_in_chinese(world, method, url):
    admin = world["clients"]["admin"]
    body = {"rule": "X-01", "verdict": "confirm", "accept": True}
    response = admin.get(url) if method == "get" else admin.post(url, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("输入有误：")


@pytest.mark.parametrize(
    "url",
    [f"/conversations?page={HUGE}", "/?score_min=abc", "/conversations?date_to=tomorrow", "/?date_from=0001-01-01"],
)
def test_a_bad_number_in_a_page_url_is_a_chinese_page(world, url):
    response = world["clients"]["qa"].page(url)
    assert response.status_code == 422 and "输入有误" in response.text and "<html" in response.text
    assert "Input should" not in response.text


def test_huge_numbers_in_forms(world):
    qa = world["clients"]["qa"]
    key = world["key"]
    review = qa.http.post(
        f"/conversations/{key}/review",
        headers={"accept": "text/html"},
        data={"csrf_token": qa.csrf, "result_id": HUGE, "rule": "X-01", "verdict": "confirm"},
    )
    assert review.status_code == 422 and "评分结果编号不能大于" in review.text
    calibration = qa.http.post(
        f"/calibration/r9/{key}",
        follow_redirects=False,
        data={"csrf_token": qa.csrf, f"item:{HUGE}:X-01": "fail", "item:abc:X-01": "fail"},
    )
    assert calibration.status_code == 303  # items naming no possible result are ignored


# --- scope: training and campaigns -------------------------------------------------------------------


def test_training_attempts_stay_within_the_team_and_are_masked(world):
    clients, engine = world["clients"], world["app"].state.store.engine
    agent = clients["agentx"]
    drill = agent.post("/api/training/drills", json={"case_id": "wrong-burger", "seed": 1}).json()["drill_id"]
    said = agent.post(
        f"/api/training/drills/{drill}/turns", json={"text": "您好，请留个电话13812345678或邮箱zhang@example.com"}
    )
    assert said.status_code == 200
    assert agent.post(f"/api/training/drills/{drill}/finish").status_code == 200
    with Session(engine) as session:
        [attempt] = session.scalars(select(TrainingAttempt).where(TrainingAttempt.trainee == AGENT)).all()
        stored = json.dumps(attempt.turns, ensure_ascii=False)
    assert "13812345678" not in stored and "5678" in stored and "zhang@" not in stored
    assert [a["trainee"] for a in clients["leadx"].get("/api/training/attempts", params={"who": AGENT}).json()] == [
        AGENT
    ]
    assert clients["qa"].get("/api/training/attempts", params={"who": AGENT}).status_code == 200
    assert clients["lead2"].get("/api/training/attempts", params={"who": AGENT}).status_code == 403
    assert [a["trainee"] for a in clients["agentx"].get("/api/training/attempts", params={"who": "07"}).json()] == [
        AGENT
    ]
    assert clients["lead2"].get("/api/training/attempts").status_code == 200  # one's own


def test_what_people_write_is_stored_masked(world):
    with Session(world["app"].state.store.engine) as session:
        reasons = [a.reason for a in session.scalars(select(AppealRow))]
        comments = [r.comment for r in session.scalars(select(ReviewRow))]
    assert reasons and not any("13812345678" in r for r in reasons) and any("*******5678" in r for r in reasons)
    assert comments and all(EVIL in c for c in comments)  # stored as written: escaping is the pages' job


def test_a_team_lead_sees_only_their_team_in_campaign_reports(tmp_path):
    from typer.testing import CliRunner

    from zuoxi.cli import app as cli

    db = str(tmp_path / "campaign.db")
    assert CliRunner().invoke(cli, ["campaign", "demo", "--db", db]).exit_code == 0
    app = create_app(db, models=False)
    engine = app.state.store.engine
    add_user(engine, "qa", PASSWORD, "inspector")
    qa = Client(app, "qa")
    name = qa.get("/api/campaigns").json()[0]["name"]
    everyone = sorted(a["agent_id"] for a in qa.get(f"/api/campaigns/{name}").json()["agents"])
    assert len(everyone) >= 2
    add_user(engine, "lead", PASSWORD, "team_lead", team="外呼一组")
    add_user(engine, "a1", PASSWORD, "agent", team="外呼一组", agent_id=everyone[0])
    lead = Client(app, "lead")
    assert [a["agent_id"] for a in lead.get(f"/api/campaigns/{name}").json()["agents"]] == [everyone[0]]
    page = lead.page(f"/campaigns?name={name}").text
    assert f"<td>{everyone[0]}</td>" in page and not any(f"<td>{a}</td>" in page for a in everyone[1:])


# --- who is asking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "believed"), [([], ""), (["--trusted-proxy", "10.0.0.5"], "10.0.0.5")])
def test_x_forwarded_for_is_believed_only_from_a_named_proxy(tmp_path, monkeypatch, options, believed):
    """Sign-in limits count by the client's address. Uvicorn believes X-Forwarded-For from loopback by
    default, so any local client could name a fresh address for every guess and never be locked out."""
    import uvicorn
    from typer.testing import CliRunner

    from zuoxi.cli import app

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    from live_server import free_port

    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "p.db"), "--port", str(free_port()), *options])
    assert result.exit_code == 0, result.output
    assert seen["proxy_headers"] is bool(believed) and seen["forwarded_allow_ips"] == believed


def test_an_upload_named_by_a_number_is_reported_by_its_masked_name(tmp_path):
    """An upload's problems are stored with the job: a file named by a customer's number is named masked there."""
    db = str(tmp_path / "upload-name.db")
    add_user(Store(db).engine, "qa", PASSWORD, "inspector")
    qa = Client(create_app(db, models=False), "qa")
    job = upload_and_wait(qa, "13812345678.jsonl", b'{"id": "a", "turns": [{"role": "agent", "text": "hi"}]}\n{oops\n')
    assert job["conversations"] == 1 and len(job["errors"]) == 1, job
    assert job["errors"][0].startswith("*******5678.jsonl:2: JSON 格式错误"), job
