"""What a web walkthrough found users, uploads and URLs could set: webhooks aimed at this machine or its network (and
a delivery log that told which internal ports answered), URLs stored with personal data or passwords, display names
and teams holding bidi and control characters, upload names that become ids reading backwards, call-list names that
are markup or spreadsheet formulas, and PyYAML's English in every YAML editor."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.campaigns.calllist import import_call_list
from zuoxi.campaigns.campaign import CampaignError, create_campaign, load_spec
from zuoxi.cli import app as cli
from zuoxi.coaching.cases import CaseError, parse_case
from zuoxi.messages import YAML_UNKNOWN, yaml_said
from zuoxi.queues import alerts as A
from zuoxi.queues.items import QueueError
from zuoxi.queues.plans import PlanError, parse_plan
from zuoxi.rules.scorecard import ScorecardError, parse_scorecard_text
from zuoxi.store import Store
from zuoxi.store import queues as Q
from zuoxi.store.tables import CampaignCustomer, WebhookRow
from zuoxi.store.users import UserError, add_user, list_accounts, without_controls
from zuoxi.web import create_app
from zuoxi.web.jobs import safe_name

PASSWORD = "password-1"
ENGLISH = re.compile(r"[A-Za-z]{4,}")  # a word of PyYAML's; the messages' own Latin is YAML, Tab and key names
ALLOWED_LATIN = {"YAML", "Tab"}


def english(message: str) -> list[str]:
    """The English words of a message, after its file's name."""
    return [w for w in ENGLISH.findall(message.partition("不是有效的 YAML")[2]) if w not in ALLOWED_LATIN]


# --- webhooks ------------------------------------------------------------------------------------------


class Receiver:
    """An HTTP server on this machine that answers 200 and keeps what it was sent."""

    def __init__(self) -> None:
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode": 0}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


@pytest.fixture(autouse=True)
def no_allowance(monkeypatch):
    monkeypatch.delenv("ZUOXI_WEBHOOK_ALLOW", raising=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:18142/api/logout",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.8/hook",
        "http://172.16.3.4/hook",
        "http://192.168.1.20:8080/hook",
        "http://100.64.0.1/hook",  # shared address space (CGNAT)
        "http://0.0.0.0:8000/",
        "http://224.0.0.1/",
        "http://[::1]:8000/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://localhost:8000/",
        "http://LOCALHOST./",
        "http://api.localhost/",
    ],
)
def test_webhooks_to_this_machine_or_its_network_are_refused(url):
    with pytest.raises(QueueError, match=r"不能指向本机、内网或其他非公网地址.*ZUOXI_WEBHOOK_ALLOW"):
        A.check_url(url)


def test_the_operator_allows_named_hosts_and_networks(monkeypatch):
    monkeypatch.setenv("ZUOXI_WEBHOOK_ALLOW", "10.0.0.0/8, alerts.corp.lan fd00::/8")
    for url in ("http://10.1.2.3:8080/hook", "http://Alerts.Corp.Lan/hook", "http://[fd00::5]/hook"):
        assert A.check_url(url) == url
    with pytest.raises(QueueError, match="非公网"):
        A.check_url("http://192.168.1.20/hook")
    assert A.check_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://example.com/hook?phone=13812345678", "手机号"),
        ("https://example.com/hook/zhang.san@example.com", "邮箱"),
        ("https://example.com/hook?id=110101199003077777", "身份证"),
        ("https://user:pass@example.com/hook", "用户名或密码"),
        ("https://token@example.com/hook", "用户名或密码"),
        ("https://example.com:0/hook", "端口"),
        ("https://example.com:99999/hook", "端口"),
        ("https://example.com/ho\u202eok", "完整网址"),
    ],
)
def test_webhook_urls_with_personal_data_or_credentials_are_refused_not_stored(url, said, tmp_path):
    store = Store(str(tmp_path / "hooks.db"))
    with pytest.raises(QueueError, match=said):
        A.add_webhook(store.engine, None, "群", "一组", url, "json")
    with Session(store.engine) as session:
        assert session.scalars(select(WebhookRow)).all() == []
    store.close()


def test_webhook_names_and_teams_are_visible_text(tmp_path):
    store = Store(str(tmp_path / "hooks.db"))
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0123456789abcdef-KEY9"
    with pytest.raises(QueueError, match=r"班组不能含控制字符.*U\+202E"):
        A.add_webhook(store.engine, None, "群", "售后一组\u202e", url, "json")
    with pytest.raises(QueueError, match=r"名称不能含控制字符.*U\+200B"):
        A.add_webhook(store.engine, None, "群\u200b", "售后一组", url, "json")
    store.close()


def test_the_settings_page_refuses_an_internal_webhook(tmp_path):
    db = str(tmp_path / "web.db")
    add_user(Store(db).engine, "admin", PASSWORD, "admin")
    client = TestClient(create_app(db, models=False))
    csrf = client.post("/api/login", json={"username": "admin", "password": PASSWORD}).json()["csrf_token"]
    for url in ("http://127.0.0.1:18142/api/logout", "http://169.254.169.254/latest/meta-data/"):
        answer = client.post(
            "/alerts/webhooks",
            data={"csrf_token": csrf, "name": "探测", "team": "一组", "url": url, "template": "json"},
            headers={"accept": "text/html"},
        )
        assert "不能指向本机、内网" in answer.text, answer.text
    with Session(Store(db).engine) as session:
        assert session.scalars(select(WebhookRow)).all() == []


def test_a_name_resolving_to_this_machine_is_not_called_and_the_address_checked_is_the_one_connected(
    receiver, monkeypatch
):
    """DNS rebinding: the name is resolved once when connecting, every address must be public, and the socket goes
    to that very address."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def resolve(host, port, *args, **kwargs):
        if host == "hooks.example.com" and not kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            asked.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    url = f"http://hooks.example.com:{receiver.port}/hook"
    assert A.check_url(url) == url  # a name: told when called
    outcome = A.post_json(url, {"x": 1}, timeout=2)
    assert not outcome.ok and outcome.status_code is None
    assert "hooks.example.com 解析为 127.0.0.1" in outcome.error and "未推送" in outcome.error
    assert receiver.bodies == [] and asked
    monkeypatch.setenv("ZUOXI_WEBHOOK_ALLOW", "127.0.0.0/8")
    assert A.post_json(url, {"x": 1}, timeout=2).ok and json.loads(receiver.bodies[0]) == {"x": 1}


def test_a_webhook_stored_before_to_an_internal_address_is_not_called(tmp_path, receiver):
    """An older zuoxi stored them; the delivery log then told which internal ports answered."""
    from tests.test_queue_alerts import THREAT, Spec, add

    store = Store(str(tmp_path / "old.db"))
    url = f"http://127.0.0.1:{receiver.port}/api/logout"
    Q.add_webhook(store.engine, None, "旧地址", "一组", url, "json", lambda existing: None)
    add(store, Spec("t1", failed=["ES-01"], customer=THREAT))
    report = A.deliver_pending(store.engine, sleep=lambda s: None)
    assert (report.delivered, report.failed) == (0, 1) and receiver.bodies == []
    errors = {a.error for a in Q.delivery_log(store.engine)}
    assert len(errors) == 1 and "非公网地址（127.0.0.1）" in errors.pop()
    store.close()


# --- users ----------------------------------------------------------------------------------------------


def test_display_names_teams_and_agent_ids_refuse_hidden_characters(tmp_path):
    db = str(tmp_path / "users.db")
    engine = Store(db).engine
    add_user(engine, "admin", PASSWORD, "admin")
    lead = add_user(engine, "lead", PASSWORD, "team_lead", "售后一组")
    client = TestClient(create_app(db, models=False))
    csrf = client.post("/api/login", json={"username": "admin", "password": PASSWORD}).json()["csrf_token"]

    def put(**body):
        return client.put(f"/api/users/{lead.id}", json={"role": "team_lead", **body}, headers={"X-CSRF-Token": csrf})

    refused = put(team="售后一组", display_name="乙\u202e\u200b\x1b[31m\x07")
    assert refused.status_code == 422 and "姓名不能含控制字符" in refused.json()["detail"], refused.text
    refused = put(team="售后一组\u202e")
    assert refused.status_code == 422 and "班组不能含控制字符" in refused.json()["detail"] and "U+202E" in refused.text
    assert put(team="售后\u3000一组").status_code == 422  # an ideographic space reads as a plain one
    assert put(team=" 售后一组 ", display_name="王 乙").status_code == 200
    [stored] = [a for a in list_accounts(engine) if a.username == "lead"]
    assert (stored.team, stored.display_name) == ("售后一组", "王 乙")
    with pytest.raises(UserError, match="坐席工号不能含控制字符"):
        add_user(engine, "a1", PASSWORD, "agent", agent_id="07\u200d")
    added = CliRunner().invoke(
        cli,
        ["user", "add", "li", "--role", "team_lead", "--team", "售后\u2067一组", "--db", db],
        env={"ZUOXI_PASSWORD": PASSWORD},
    )
    assert added.exit_code != 0 and "班组不能含控制字符" in added.output + (added.stderr or "")


def test_free_text_keeps_lines_and_drops_control_characters():
    assert without_controls("理由\x01\x1b[31m红字\x07\r\n第二行\t缩进\x7f\x9b") == "理由[31m红字\n第二行\t缩进"


# --- uploads ---------------------------------------------------------------------------------------------


def test_upload_names_lose_bidi_zero_width_and_control_characters():
    assert safe_name("\u202egpj.txt", set()) == "gpj.txt"
    assert safe_name("a\u200bb\u2066c\u2069\ufeff.jsonl", set()) == "abc.jsonl"
    assert safe_name("\u202e\u200b", set()) == "upload"
    assert safe_name("电话\x1b[31m.csv", set()) == "电话_[31m.csv"


def test_an_uploaded_file_named_backwards_gives_ids_that_read_forwards(tmp_path):
    db = str(tmp_path / "up.db")
    add_user(Store(db).engine, "qa", PASSWORD, "inspector")
    client = TestClient(create_app(db, models=False))
    csrf = client.post("/api/login", json={"username": "qa", "password": PASSWORD}).json()["csrf_token"]
    text = "坐席：您好，请问有什么可以帮您？\n客户：我想查一下账单。\n"
    answer = client.post(
        "/api/uploads", files=[("files", ("\u202egpj.txt", text.encode()))], headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 200, answer.text
    for _ in range(200):
        job = client.get(f"/api/uploads/{answer.json()['job_id']}").json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "done" and job["conversations"] == 1, job
    ids = [c["id"] for c in client.get("/api/conversations").json()["items"]]
    assert ids and all("\u202e" not in i for i in ids) and ids[0].startswith("gpj")
    # stored as the name uploaded, not the server's temporary copy (/tmp/zuoxi-upload-…/gpj.txt, gone after the run)
    with Store(db).engine.connect() as connection:
        sources = connection.exec_driver_sql("SELECT source FROM conversations").scalars().all()
        marks = connection.exec_driver_sql("SELECT path FROM imported_files").scalars().all()
    assert sources == ["gpj.txt"] and marks == ["gpj.txt"]


# --- call lists ------------------------------------------------------------------------------------------


def test_call_list_names_that_are_markup_or_formulas_are_bad_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("ZUOXI_SECRET_KEY", "a long random passphrase, only for the tests")
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    create_campaign(store, load_spec("card_activation"))
    path = tmp_path / "list2.csv"
    path.write_text(
        "客户号,姓名,性别,手机号,卡号后四位,网点\n"
        "C1,张三,男,13812345678,1234,汕头分行\n"
        "C2,<img src=x onerror=alert(1)>,女,13812345679,2345,汕头分行\n"
        "C3,=cmd|' /C calc'!A0,男,13812345670,3456,汕头分行\n"
        "C4,李\u202e四,女,13812345671,4567,汕头分行\n"
        "C5,买买提·艾力,男,13812345672,5678,汕头分行\n"
        "C6,王**,女,13812345673,6789,汕头分行\n"
        "C7,张三2（先生）,男,13812345674,7890,汕头分行\n"  # a list's own numbering and note: a name still
        "C8,李<b>四,女,13812345675,8901,汕头分行\n",
        encoding="utf-8",
    )
    summary = import_call_list(store, "card_activation", path, as_of=date(2026, 3, 1))
    assert [(e.line, str(e).split(": ", 1)[1]) for e in summary.errors] == [
        (3, "姓名应以姓开头，却以「<」开头：这一行没有导入"),
        (4, "姓名应以姓开头，却以「=」开头：这一行没有导入"),
        (5, "姓名不像人名（含有不可见字符 U+202E）：只能是文字和数字，可带空格、括号和 · . ' - *，这一行没有导入"),
        (9, "姓名不像人名（含有「<」）：只能是文字和数字，可带空格、括号和 · . ' - *，这一行没有导入"),
    ]
    assert str(summary.errors[0]).startswith(f"{path}:3: ")
    assert summary.imported == 4
    with Session(store.engine) as session:
        names = [c.salutation for c in session.scalars(select(CampaignCustomer).order_by(CampaignCustomer.id))]
    assert names == ["张先生", "买先生", "王女士", "张先生"]
    store.close()


# --- YAML -----------------------------------------------------------------------------------------------

BROKEN = {
    "a: [1, 2": ("方括号列表", 1),
    "a: {b: 1": ("花括号映射", 1),
    "id: x\nname:\n\t- 1\n": ("制表符（Tab）", 3),
    "id: x\nname\nsections: []\n": ("找不到应有的冒号", 3),
    "id: x\nname: a: b\n": ("值里含「: 」", 2),
    "id: x\nname: 'open\n": ("引号或括号闭合前", 3),
    'id: x\nname: "a\\q"\n': ("转义「\\q」", 2),
    "id: x\n  name: 1\n bad: 2\n": ("", 2),
    "id: x\nname: \x07\n": ("U+0007", 2),
}


@pytest.mark.parametrize("text", list(BROKEN))
def test_yaml_problems_are_said_in_chinese_with_their_line(text):
    said, line = BROKEN[text]
    for parse, error in ((parse_scorecard_text, ScorecardError), (parse_plan, PlanError), (parse_case, CaseError)):
        with pytest.raises(error) as raised:
            parse(text, "x.yaml")
        message = str(raised.value)
        assert message.startswith(f"x.yaml:{line}: 不是有效的 YAML："), message
        assert said in message and not english(message), message
        if "U+" not in said:
            assert re.search(r"（第 \d+ 列）$", message), message


def test_an_unknown_yaml_problem_is_said_generally():
    import yaml

    error = yaml.scanner.ScannerError("while scanning", None, "something new went wrong", yaml.Mark("", 0, 4, 2, "", 0))
    assert yaml_said(error) == (5, f"{YAML_UNKNOWN}（第 3 列）")


def test_the_scorecard_api_and_campaign_files_say_yaml_problems_in_chinese(tmp_path):
    db = str(tmp_path / "sc.db")
    add_user(Store(db).engine, "qa", PASSWORD, "inspector")
    client = TestClient(create_app(db, models=False))
    csrf = client.post("/api/login", json={"username": "qa", "password": PASSWORD}).json()["csrf_token"]
    answer = client.put(
        "/api/scorecards/mine", json={"yaml": "id: mine\nsections: [1, 2"}, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]["problems"]
    assert "方括号列表" in problem and not english(problem), problem
    campaign = tmp_path / "c.yaml"
    campaign.write_text("id: c\nname\nscript: x\n", encoding="utf-8")
    with pytest.raises(CampaignError) as raised:
        load_spec(campaign)
    assert "找不到应有的冒号" in str(raised.value) and not english(str(raised.value).replace(str(tmp_path), ""))


def test_control_characters_leave_what_people_write_about_results():
    """An appeal's reason kept `\x01\x1b[31m` (an escape sequence acts on the terminal that lists it); so would a
    review comment and a resolution (all through `_written`). Line breaks and tabs stay."""
    from zuoxi.store.reviews import _written

    assert _written("\x01\x1b[31m 不同意\r\n第二行\t完\x7f", 2000, "申诉理由") == "[31m 不同意\n第二行\t完"


def test_a_percent_encoded_host_is_refused_and_never_reached(tmp_path, receiver, monkeypatch):
    """urllib decodes a host's %xx before connecting: `127.0.0.%31` passed the check as a name and reached this
    machine (review 2026-12-07); refused when added, and not called if stored."""
    monkeypatch.delenv("ZUOXI_WEBHOOK_ALLOW", raising=False)
    for url in (f"http://127.0.0.%31:{receiver.port}/b", f"http://%6c%6fcalhost:{receiver.port}/c"):
        with pytest.raises(QueueError, match="% 编码"):
            A.check_url(url)
        outcome = A.post_json(url, {"x": 1}, timeout=2)
        assert not outcome.ok and "未推送" in outcome.error
    assert receiver.bodies == []


def test_a_robots_own_key_is_no_personal_data():
    """A WeCom key with a run of digits that reads as a phone (0557-4160-9307) was refused as personal data."""
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=28703c75-0557-4160-9307-119bf1a7b7f1"
    assert A.check_url(url) == url
    with pytest.raises(QueueError, match="手机号"):
        A.check_url("https://example.com/hook?key=abc&phone=13812345678")
