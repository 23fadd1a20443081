"""投诉预警: a stored analysis that crosses the risk threshold or fails ES-01 raises one alert, with
the customer's words masked, seen by its own team's lead; webhooks get it on a local receiver,
with retries, every attempt logged, failures kept for a resend, each team's alerts to that team's
webhook only, robot markdown kept as text, and no redirect followed."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.queues_world import TZ, Spec, add
from zuoxi.queues import alerts as A
from zuoxi.queues.items import QueueError
from zuoxi.queues.models import AlertMessage
from zuoxi.store import queues as Q
from zuoxi.store.effects import LOCAL
from zuoxi.store.queries import Forbidden
from zuoxi.store.users import add_user

PHONE = "13812345678"
THREAT = f"你们这什么服务，我要投诉！我电话{PHONE}"


class Receiver:
    """A webhook receiver on 127.0.0.1: each POST gets the next answer (status, body, headers), the
    last one over and over; what it received is kept."""

    def __init__(self, *answers: tuple[int, dict | str, dict]):
        self.answers, self.bodies = list(answers), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                status, body, headers = receiver.answers[min(len(receiver.bodies), len(receiver.answers)) - 1]
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/webhook/send?key=secret-robot-key-1234"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


OK = (200, {"errcode": 0, "errmsg": "ok"}, {})


@pytest.fixture(autouse=True)
def loopback_receivers(monkeypatch):
    """The receivers here listen on this machine, which webhooks reach only when the operator allows it."""
    monkeypatch.setenv("ZUOXI_WEBHOOK_ALLOW", "127.0.0.1")


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(*answers):
        made.append(Receiver(*answers))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_an_analysis_that_crosses_the_settings_raises_one_masked_alert_for_its_team(store):
    engine = store.engine
    inspector = add_user(engine, "qa1", "password-1", "inspector")
    lead = add_user(engine, "lead1", "password-1", "team_lead", "一组")
    other = add_user(engine, "lead2", "password-1", "team_lead", "二组")
    add(
        store,
        Spec("threat", failed=["ES-01"], customer=THREAT),
        Spec("risky", risk=0.85),
        Spec("calm", risk=0.5),
        Spec("elsewhere", team="二组", failed=["ES-01"], customer=THREAT),
    )
    alerts = {a.conversation_id: a for a in Q.list_alerts(engine, inspector)}
    assert set(alerts) == {"threat", "risky", "elsewhere"}
    assert (
        alerts["threat"].rules == ["ES-01"]
        and PHONE not in alerts["threat"].excerpt
        and "*******5678" in alerts["threat"].excerpt
    )
    assert alerts["risky"].risk == 0.85 and alerts["risky"].rules == []
    assert {a.conversation_id for a in Q.list_alerts(engine, lead)} == {"threat", "risky"}
    assert (Q.open_alert_count(engine, lead), Q.open_alert_count(engine, other)) == (2, 1)
    add(store, Spec("threat", failed=["ES-01"], customer=THREAT))  # analysed again: still one alert
    assert Q.open_alert_count(engine, inspector) == 3
    with pytest.raises(Forbidden):
        Q.handle_alert(engine, other, alerts["threat"].id, "不是我们组的")
    assert Q.handle_alert(engine, lead, alerts["threat"].id, "已回电客户")
    assert not Q.handle_alert(engine, lead, alerts["threat"].id, "again")
    assert Q.open_alert_count(engine, lead) == 1
    assert [a.note for a in Q.list_alerts(engine, lead, "handled")] == ["已回电客户"]
    # an admin lowers the threshold and drops ES-01: the next analyses follow the new settings
    A.set_settings(engine, None, 0.4, [])
    add(store, Spec("now-risky", risk=0.5), Spec("threat-2", failed=["ES-01"], customer=THREAT))
    assert {a.conversation_id for a in Q.list_alerts(engine, inspector, "all")} == {
        "threat",
        "risky",
        "elsewhere",
        "now-risky",
    }
    with pytest.raises(QueueError, match="0 到 1"):
        A.set_settings(engine, None, 1.5, [])


def test_only_recent_conversations_alert_when_an_age_is_set(tmp_path):
    """Importing history with an age set pages nobody; what started within the hours still alerts."""
    from datetime import timedelta

    from zuoxi.store import Store

    store = Store(str(tmp_path / "age.db"))
    A.set_settings(store.engine, None, 0.8, ["ES-01"], max_age_hours=48)
    today = datetime.now(TZ).date()  # the conversations start at 10:00 local time on their day
    add(
        store,
        Spec("last-year", failed=["ES-01"], customer=THREAT, day=today - timedelta(days=365)),
        Spec("this-morning", failed=["ES-01"], customer=THREAT, day=today),
    )
    assert [a.conversation_id for a in Q.list_alerts(store.engine, LOCAL)] == ["this-morning"]
    assert A.settings(store.engine).max_age_hours == 48
    store.close()


def test_webhooks_are_delivered_with_retries_and_every_attempt_logged(tmp_path, receivers):
    from zuoxi.store import Store

    store = Store(str(tmp_path / "hooks.db"))
    engine = store.engine
    flaky = receivers((500, "oops", {}), (200, {"errcode": 93000, "errmsg": "invalid webhook url"}, {}), OK)
    down = receivers((503, "down", {}), (503, "down", {}), (503, "down", {}), OK)
    A.add_webhook(engine, None, "一组群", "一组", flaky.url, "wecom")
    A.add_webhook(engine, None, "二组接口", "二组", down.url, "json")
    with pytest.raises(QueueError, match="消息格式"):
        A.add_webhook(engine, None, "x", "一组", flaky.url, "slack")
    add(
        store,
        Spec("t1", agent="A1", team="一组", failed=["ES-01"], customer=THREAT),
        Spec("t2", agent="B7", team="二组", risk=0.9, customer=f"再不处理我就投诉，邮箱zhang@example.com 电话{PHONE}"),
        Spec("t3", agent="C1", team="三组", risk=0.95),
    )  # a team with no webhook: nothing to send
    waited: list[float] = []
    report = A.deliver_pending(engine, sleep=waited.append)
    assert (report.delivered, report.failed) == (1, 1)
    assert waited == [2.0, 10.0, 2.0, 10.0]  # the backoff before the second and third attempts, twice
    assert len(flaky.bodies) == 3 and len(down.bodies) == 3
    message = flaky.bodies[-1]
    assert message["msgtype"] == "markdown" and message["markdown"]["content"].startswith("**投诉预警**")
    assert "会话：t1" in message["markdown"]["content"] and "ES-01 客户投诉意向" in message["markdown"]["content"]
    everything = json.dumps(flaky.bodies + down.bodies, ensure_ascii=False)
    assert PHONE not in everything and "zhang@" not in everything and "*******5678" in everything
    assert "t2" not in json.dumps(flaky.bodies, ensure_ascii=False) and "t1" not in json.dumps(
        down.bodies, ensure_ascii=False
    )
    assert {b["team"] for b in down.bodies} == {"二组"} and down.bodies[0]["event"] == "complaint_alert"
    log = sorted(Q.delivery_log(engine), key=lambda a: (a.webhook, a.at))
    assert [(a.webhook, a.ok, a.status_code, a.error) for a in log] == [
        ("一组群", False, 500, "对方返回 HTTP 500"),
        ("一组群", False, 200, "对方拒收：errcode 93000：invalid webhook url"),
        ("一组群", True, 200, ""),
        ("二组接口", False, 503, "对方返回 HTTP 503"),
        ("二组接口", False, 503, "对方返回 HTTP 503"),
        ("二组接口", False, 503, "对方返回 HTTP 503"),
    ]
    assert Q.delivery_states(engine) == {"delivered": 1, "failed": 1}
    assert A.deliver_pending(engine, sleep=waited.append).delivered == 0  # nothing pending: failed waits for a resend
    assert Q.retry_failed(engine, None) == 1
    assert A.deliver_pending(engine, sleep=waited.append).delivered == 1 and len(down.bodies) == 4
    assert Q.delivery_states(engine) == {"delivered": 2}
    alerts = {a.conversation_id: a.deliveries for a in Q.list_alerts(engine, LOCAL)}
    assert alerts == {"t1": {"delivered": 1}, "t2": {"delivered": 1}, "t3": {}}
    store.close()


def test_a_disabled_webhook_gets_nothing_and_a_new_one_gets_only_new_alerts(tmp_path, receivers):
    from zuoxi.store import Store

    store = Store(str(tmp_path / "later.db"))
    engine = store.engine
    add(store, Spec("before", failed=["ES-01"], customer=THREAT))
    hook = receivers(OK)
    hook_id = A.add_webhook(engine, None, "一组群", "一组", hook.url, "dingtalk")
    add(store, Spec("after", failed=["ES-01"], customer=THREAT))
    Q.set_webhook_active(engine, None, hook_id, False)
    add(store, Spec("while-off", failed=["ES-01"], customer=THREAT))
    assert A.deliver_pending(engine, sleep=lambda s: None).delivered == 0 and hook.bodies == []
    Q.set_webhook_active(engine, None, hook_id, True)
    assert A.deliver_pending(engine, sleep=lambda s: None).delivered == 1
    [body] = hook.bodies
    assert (
        body["msgtype"] == "markdown"
        and body["markdown"]["title"] == "投诉预警"
        and "会话：after" in body["markdown"]["text"]
    )
    store.close()


def test_each_delivery_is_sent_by_one_server_process(tmp_path, receivers, monkeypatch):
    """Every `zuoxi serve` process runs the delivery worker, and each sent every pending delivery: a team's robot got
    each alert once per process. A delivery is claimed in one UPDATE before it is sent; one claimed by a process that
    died is sent again once its lease has passed."""
    from zuoxi.store import Store

    store = Store(str(tmp_path / "claims.db"))
    engine = store.engine
    hook = receivers(OK)
    A.add_webhook(engine, None, "一组群", "一组", hook.url, "json")
    add(store, Spec("once", failed=["ES-01"], customer=THREAT))
    [pending] = Q.pending_deliveries(engine)
    assert Q.claim_delivery(engine, pending.delivery_id)  # another process is sending it
    assert not Q.claim_delivery(engine, pending.delivery_id)
    assert A.deliver_pending(engine, sleep=lambda s: None).delivered == 0 and hook.bodies == []
    assert Q.delivery_states(engine) == {"sending": 1}
    monkeypatch.setattr(Q, "SENDING_LEASE", -Q.SENDING_LEASE)  # that process died long ago
    assert A.deliver_pending(engine, sleep=lambda s: None).delivered == 1 and len(hook.bodies) == 1
    assert A.deliver_pending(engine, sleep=lambda s: None).delivered == 0 and len(hook.bodies) == 1
    assert Q.delivery_states(engine) == {"delivered": 1}
    store.close()


def test_robot_messages_keep_data_as_text():
    message = AlertMessage(
        1,
        "一组",
        "[点我](http://evil.example)",
        "c<img src=x>#1",
        0.9,
        [("ES-01", "**投诉**")],
        "![x](http://evil.example/p.png) 我要投诉",
        datetime(2026, 12, 5, 6, 3, tzinfo=UTC),
    )
    from zoneinfo import ZoneInfo

    for name in ("wecom", "dingtalk"):
        text = json.dumps(A.TEMPLATES[name](message, ZoneInfo("Asia/Shanghai")), ensure_ascii=False)
        assert "](" not in text and "<img" not in text and "**投诉**" not in text and "![" not in text
        assert "［点我］（http://evil.example）" in text and "时间：2026-12-05 14:03" in text
    plain = A.TEMPLATES["json"](message, ZoneInfo("Asia/Shanghai"))
    assert plain["agent_id"] == "[点我](http://evil.example)"  # JSON carries the value itself; the receiver escapes


def test_a_redirect_is_an_answer_not_a_new_address(receivers):
    elsewhere = receivers(OK)
    redirecting = receivers((302, "", {"Location": elsewhere.url}))
    outcome = A.post_json(redirecting.url, {"x": 1})
    assert (outcome.ok, outcome.status_code) == (False, 302) and elsewhere.bodies == []
    refused = A.post_json("http://127.0.0.1:9/none", {"x": 1}, timeout=2)
    assert not refused.ok and refused.status_code is None and refused.error


def test_a_receiver_that_trickles_its_answer_is_cut_at_the_deadline():
    """urllib's timeout restarts with every byte: a receiver sending its headers a byte a tenth of a second held the
    worker (every team's alerts) as long as it liked. The whole exchange now has one deadline."""
    import socket
    import threading
    import time

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 600:
                if stop.is_set():
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.1)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    outcome = A.post_json(f"http://127.0.0.1:{listener.getsockname()[1]}/hook", {"x": 1}, timeout=1.0)
    stop.set()
    listener.close()
    assert not outcome.ok and outcome.error == "1 秒内没有收到完整的答复"  # cut by the deadline, not the trickle's end


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "javascript:alert(1)",
        "http://",
        "https://exa mple.com/x",
        "file:///etc/passwd",
        "https://example.com/" + "x" * 1000,
    ],
)
def test_webhook_urls_are_http_and_bounded(url):
    with pytest.raises(QueueError, match="推送地址"):
        A.check_url(url)


def test_pages_show_webhook_urls_without_their_keys():
    assert (
        A.shown_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa")
        == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=****5aaa"
    )
    assert (
        A.shown_url("https://user:pw@hooks.example.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX")
        == "https://hooks.example.com/services/T000/B000/****XXXX"
    )


def test_the_web_app_s_worker_delivers_and_samples_on_schedule(tmp_path, receivers):
    """One round of `zuoxi serve`'s background work: the pending alert reaches the team's robot and
    every active plan samples its last complete period."""
    from datetime import timedelta

    from zuoxi.queues.plans import parse_plan
    from zuoxi.queues.worker import Worker
    from zuoxi.store import Store

    store = Store(str(tmp_path / "worker.db"))
    engine = store.engine
    hook = receivers(OK)
    A.add_webhook(engine, None, "一组群", "一组", hook.url, "wecom")
    yesterday = datetime.now(TZ).date() - timedelta(days=1)
    add(store, Spec("worker", failed=["ES-01"], customer=THREAT, day=yesterday, score=40))
    add_user(engine, "qa1", "password-1", "inspector")
    text = "id: daily\nname: 每日\nschedule: daily\nrules:\n  - {id: low, kind: score_band, max: 60}\n"
    Q.save_plan(engine, parse_plan(text, "daily.yaml"), text, None)
    worker = Worker(engine, TZ)
    worker.run_once()
    assert len(hook.bodies) == 1 and "会话：worker" in hook.bodies[0]["markdown"]["content"]
    assert [(r.period, r.sampled, r.scheduled) for r in Q.plan_runs(engine, "daily")] == [
        (yesterday.isoformat(), 1, True)
    ]
    worker.run_once()  # the schedule's turn comes again only after ten minutes; nothing is sent twice
    assert len(hook.bodies) == 1 and len(Q.plan_runs(engine, "daily")) == 1
    store.close()
