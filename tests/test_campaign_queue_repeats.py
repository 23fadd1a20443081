"""What a new user hit trying the command line: a callback scheduled in the past (it could never be kept,
and the report counted it missed), the same call attempt recorded twice (the report counted it twice), the
same group robot added twice (every alert was sent twice)."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.campaigns import vault
from zuoxi.campaigns.analytics import report
from zuoxi.campaigns.calllist import import_call_list
from zuoxi.campaigns.campaign import CampaignError, create_campaign, load_spec
from zuoxi.campaigns.dispositions import import_dispositions, record_attempts
from zuoxi.campaigns.models import Attempt
from zuoxi.cli import app
from zuoxi.store import Store
from zuoxi.store import queues as Q
from zuoxi.store.campaigns import add_callback
from zuoxi.store.migrate import head
from zuoxi.store.tables import CampaignAttempt, CampaignCallback, CampaignCustomer

HEADER = "客户号,姓名,性别,手机号,卡号,网点,地区,年龄,职业\n"
SECRET = "a long random passphrase, only for the tests"


def local(text: str) -> datetime:
    """A time on the call centre's clock (the card_activation campaign's zone, Asia/Shanghai)."""
    return datetime.fromisoformat(text + "+08:00")


def _row(ref: str, name: str, phone: str) -> str:
    return f"{ref},{name},男,{phone},6227 0000 0000 1234,汕头分行营业部,汕头,30,教师\n"


@pytest.fixture(autouse=True)
def secret_key(monkeypatch):
    monkeypatch.setenv(vault.SECRET_ENV, SECRET)


@pytest.fixture
def store(tmp_path):
    opened = Store(f"sqlite:///{tmp_path / 'campaigns.db'}")
    yield opened
    opened.close()


def _campaign(store: Store, tmp_path, people: int = 2) -> list[int]:
    """The card_activation campaign with `people` customers; their ids."""
    create_campaign(store, load_spec("card_activation"))
    path = tmp_path / "list.csv"
    path.write_text(HEADER + "".join(_row(f"C{i}", "张三", f"1381234567{i}") for i in range(people)), encoding="utf-8")
    assert import_call_list(store, "card_activation", path, as_of=date(2026, 3, 1)).errors == []
    with Session(store.engine) as session:
        return list(session.scalars(select(CampaignCustomer.id).order_by(CampaignCustomer.id)))


def _callbacks(store: Store) -> list[tuple[int, bool]]:
    with Session(store.engine) as session:
        return [
            (c.customer_id, c.done) for c in session.scalars(select(CampaignCallback).order_by(CampaignCallback.id))
        ]


# --- a callback in the past -----------------------------------------------------------------------------------


def test_a_callback_earlier_than_now_is_refused_naming_both_times(store, tmp_path):
    a, b = _campaign(store, tmp_path)
    now = local("2026-03-03T15:00:00")
    with pytest.raises(CampaignError) as refused:
        add_callback(store.engine, "card_activation", a, "2026-03-03T10:00", now=now)
    assert str(refused.value) == (
        "回拨时间 2026-03-03 10:00 已经过去（现在是 2026-03-03 15:00，时区 Asia/Shanghai）：请约一个以后的时间"
    )
    # a time with its own zone is shown in the campaign's: 06:00 UTC is 14:00 in Shanghai
    with pytest.raises(CampaignError, match="回拨时间 2026-03-03 14:00 已经过去"):
        add_callback(store.engine, "card_activation", a, "2026-03-03T06:00+00:00", now=now)
    assert _callbacks(store) == []
    with Session(store.engine) as session:
        assert session.get(CampaignCustomer, a).status == "pending"  # nothing changed
    # "15:00" typed a few seconds after 15:00 is meant as now; a later time is a callback like any other
    add_callback(store.engine, "card_activation", a, "2026-03-03T15:00", now=local("2026-03-03T15:00:40"))
    add_callback(store.engine, "card_activation", b, "2026-03-04T10:00", now=now)
    assert _callbacks(store) == [(a, False), (b, False)]


def test_the_command_line_refuses_a_callback_in_the_past(store, tmp_path):
    a, _ = _campaign(store, tmp_path)
    refused = CliRunner().invoke(
        app, ["campaign", "callback", "card_activation", str(a), "--at", "2020-03-03T10:00", "--db", store.url]
    )
    assert refused.exit_code == 2, refused.output
    assert "回拨时间 2020-03-03 10:00 已经过去（现在是 " in refused.stderr and "时区 Asia/Shanghai" in refused.stderr
    assert _callbacks(store) == []


def test_a_callback_asked_for_before_the_call_is_refused(store, tmp_path):
    """`record --callback-at` and a dispositions file schedule callbacks too: one earlier than the call it was
    asked for on could never be kept either. A file's row says so and the rest is recorded."""
    a, b = _campaign(store, tmp_path)
    call = Attempt(customer_id=a, agent_id="X", started_at=local("2026-03-03T15:00:00"), disposition="预约回访")
    with pytest.raises(CampaignError, match=r"回拨时间 2026-03-03 10:00 早于这次拨打的时间 2026-03-03 15:00"):
        record_attempts(store, "card_activation", [(call, local("2026-03-03T10:00:00"))], models=False)
    assert _callbacks(store) == []
    path = tmp_path / "attempts.csv"
    path.write_text(
        "客户号,坐席工号,呼叫时间,结果,预约时间\n"
        "C0,X,2026-03-03 15:00:00,预约回访,2026-03-03 10:00:00\n"
        "C1,X,2026-03-03 15:00:00,预约回访,2026-03-04 10:00:00\n",
        encoding="utf-8",
    )
    summary = import_dispositions(store, "card_activation", path, models=False)
    assert summary.imported == 1 and [e.line for e in summary.errors] == [2]
    assert "早于这次拨打的时间" in summary.errors[0].reason
    assert _callbacks(store) == [(b, False)]


# --- an attempt in the future ----------------------------------------------------------------------------------


def test_an_attempt_later_than_now_is_refused_naming_both_times(store, tmp_path):
    """`record --at 2030-01-01T10:00` stored a call years ahead (exit 0), and the report counted it. Every path that
    records attempts refuses one that starts after now, past a few minutes of clock skew."""
    a, b = _campaign(store, tmp_path)
    now = local("2026-03-03T15:00:00")
    ahead = Attempt(customer_id=a, agent_id="X", started_at=local("2030-01-01T10:00:00"), disposition="busy")
    with pytest.raises(CampaignError) as refused:
        record_attempts(store, "card_activation", [(ahead, None)], models=False, now=now)
    assert str(refused.value) == (
        "拨打时间 2030-01-01 10:00 还没到（现在是 2026-03-03 15:00，时区 Asia/Shanghai）：只能记录已经拨打过的电话"
    )
    # a time with its own zone is shown in the campaign's: 08:00 UTC is 16:00 in Shanghai
    utc = ahead.model_copy(update={"started_at": datetime.fromisoformat("2026-03-03T08:00:00+00:00")})
    with pytest.raises(CampaignError, match="拨打时间 2026-03-03 16:00 还没到"):
        record_attempts(store, "card_activation", [(utc, None)], models=False, now=now)
    assert _attempts(store) == []
    with Session(store.engine) as session:
        assert session.get(CampaignCustomer, a).status == "pending"  # nothing moved on
    # a dialer's clock a few minutes fast is no error; a call in the past is recorded as ever
    fast = ahead.model_copy(update={"started_at": local("2026-03-03T15:04:00")})
    past = ahead.model_copy(update={"customer_id": b, "started_at": local("2026-03-02T09:00:00")})
    assert len(record_attempts(store, "card_activation", [(fast, None), (past, None)], models=False, now=now)) == 2


def test_a_dispositions_row_in_the_future_is_that_rows_error(store, tmp_path):
    _, b = _campaign(store, tmp_path)
    path = tmp_path / "attempts.csv"
    path.write_text(
        "客户号,坐席工号,呼叫时间,结果\nC0,X,2030-01-01 10:00:00,忙线\nC1,X,2026-03-02 09:05:00,拒绝\n",
        encoding="utf-8",
    )
    summary = import_dispositions(store, "card_activation", path, models=False, now=local("2026-03-03T15:00:00"))
    assert (summary.rows, summary.imported, summary.already) == (2, 1, 0)
    assert [str(e) for e in summary.errors] == [
        f"{path}:2: 拨打时间 2030-01-01 10:00 还没到（现在是 2026-03-03 15:00，时区 Asia/Shanghai）："
        "只能记录已经拨打过的电话"
    ]
    assert _attempts(store) == [(b, "refused")]


def test_the_record_command_refuses_an_attempt_in_the_future(store, tmp_path):
    a, _ = _campaign(store, tmp_path)
    command = ["campaign", "record", "card_activation", str(a), "busy", "--agent", "T01"]
    refused = CliRunner().invoke(app, [*command, "--at", "2030-01-01T10:00", "--db", store.url])
    assert refused.exit_code == 2, refused.output
    assert "拨打时间 2030-01-01 10:00 还没到（现在是 " in refused.stderr and "时区 Asia/Shanghai" in refused.stderr
    assert _attempts(store) == []
    shown = CliRunner().invoke(app, ["campaign", "report", "card_activation", "--format", "json", "--db", store.url])
    assert json.loads(shown.stdout)["attempts"] == 0
    assert CliRunner().invoke(app, [*command, "--db", store.url]).exit_code == 0  # now, the default: recorded
    assert _attempts(store) == [(a, "busy")]


# --- the same attempt recorded twice ------------------------------------------------------------------------------


def _attempts(store: Store) -> list[tuple[int, str]]:
    with Session(store.engine) as session:
        return [
            (a.customer_id, a.disposition)
            for a in session.scalars(select(CampaignAttempt).order_by(CampaignAttempt.id))
        ]


def test_the_same_attempt_recorded_again_is_stored_once(store, tmp_path):
    a, b = _campaign(store, tmp_path)
    busy = Attempt(customer_id=a, agent_id="X", started_at=local("2026-03-02T09:00:00"), disposition="busy")
    assert len(record_attempts(store, "card_activation", [(busy, None)], models=False)) == 1
    # again, with a zone of its own (the same moment) and other notes: still the same attempt, nothing moves on
    again = busy.model_copy(update={"started_at": datetime.fromisoformat("2026-03-02T01:00:00+00:00"), "notes": "又"})
    assert record_attempts(store, "card_activation", [(again, None), (busy, None)], models=False) == []
    with Session(store.engine) as session:
        assert session.get(CampaignCustomer, a).status == "retry"
    # another attempt of the same customer is stored: a later call, or another outcome at that time
    later = busy.model_copy(update={"started_at": local("2026-03-02T11:00:00")})
    refused = busy.model_copy(update={"disposition": "refused"})
    assert len(record_attempts(store, "card_activation", [(later, None), (refused, None)], models=False)) == 2
    assert _attempts(store) == [(a, "busy"), (a, "refused"), (a, "busy")]  # in time order
    assert report(store, "card_activation").attempts == 3
    # the database holds each attempt once, whoever writes it (in UTC, as zuoxi stores times)
    with pytest.raises(IntegrityError), Session(store.engine) as session, session.begin():
        session.add(
            CampaignAttempt(
                campaign_id=1,
                customer_id=a,
                agent_id="Y",
                started_at=datetime.fromisoformat("2026-03-02T01:00:00+00:00"),
                disposition="busy",
            )
        )
    assert b not in {customer for customer, _ in _attempts(store)}


def test_the_record_command_run_twice_says_it_was_already_recorded(store, tmp_path):
    a, _ = _campaign(store, tmp_path)
    command = ["campaign", "record", "card_activation", str(a), "成功", "--agent", "X"]
    command += ["--at", "2026-03-02T09:00:00", "--duration", "100", "--db", store.url]
    first = CliRunner().invoke(app, command)
    assert first.exit_code == 0 and "已记录过" not in first.stderr, first.output
    second = CliRunner().invoke(app, command)
    assert second.exit_code == 0, second.output
    assert (
        "已记录过，不再重复记录：客户 1 在 2026-03-02 09:00:00（Asia/Shanghai）的拨打，结果「达成目标」"
        in second.stderr
    )
    shown = CliRunner().invoke(app, ["campaign", "report", "card_activation", "--format", "json", "--db", store.url])
    assert json.loads(shown.stdout)["attempts"] == 1


def test_a_dispositions_file_imported_twice_counts_its_rows_as_already_recorded(store, tmp_path):
    a, b = _campaign(store, tmp_path)
    path = tmp_path / "attempts.csv"
    path.write_text(
        "客户号,坐席工号,呼叫时间,结果\n"
        "C0,X,2026-03-02 09:00:00,无人接听\n"
        "C1,X,2026-03-02 09:05:00,拒绝\n"
        "C1,X,2026-03-02 09:05:00,拒绝\n",  # the same row twice in one export
        encoding="utf-8",
    )
    first = import_dispositions(store, "card_activation", path, models=False)
    assert (first.rows, first.imported, first.already, first.errors) == (3, 2, 1, [])
    again = CliRunner().invoke(app, ["campaign", "dispositions", "card_activation", str(path), "--db", store.url])
    assert again.exit_code == 0, again.output
    assert "拨打记录共 3 行：记录 0 行 · 此前已记录过 3 行 · 跳过 0 行" in again.stderr, again.stderr
    assert _attempts(store) == [(a, "no_answer"), (b, "refused")]
    assert report(store, "card_activation").attempts == 2


def _old_database_with_repeats(url: str, tmp_path, revision: str) -> dict[str, int]:
    """A database at `revision`, before the index, in which an older zuoxi stored one attempt three times (a
    callback settled by the second) and another twice; returns the attempts' ids."""
    store = Store(url)
    a, b = _campaign(store, tmp_path)
    call = Attempt(customer_id=a, agent_id="X", started_at=local("2026-03-02T09:00:00"), disposition="预约回访")
    record_attempts(store, "card_activation", [(call, local("2026-03-03T10:00:00"))], models=False)
    done = Attempt(customer_id=a, agent_id="X", started_at=local("2026-03-03T10:00:00"), disposition="成功")
    busy = Attempt(customer_id=b, agent_id="X", started_at=local("2026-03-02T09:30:00"), disposition="busy")
    record_attempts(store, "card_activation", [(done, None), (busy, None)], models=False)
    with store.engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_campaign_attempts_once"))
        copy = (
            "INSERT INTO campaign_attempts (campaign_id, customer_id, agent_id, started_at, duration, disposition, "
            "reason_code, notes, conversation_key) SELECT campaign_id, customer_id, agent_id, started_at, duration, "
            "disposition, reason_code, notes, conversation_key FROM campaign_attempts WHERE id = :i"
        )
        ids = dict(connection.execute(text("SELECT disposition, id FROM campaign_attempts")).all())
        connection.execute(text(copy), {"i": ids["goal_achieved"]})
        connection.execute(text(copy), {"i": ids["goal_achieved"]})
        connection.execute(text(copy), {"i": ids["busy"]})
        second = connection.execute(
            text("SELECT min(id) FROM campaign_attempts WHERE id > :i AND disposition = 'goal_achieved'"),
            {"i": ids["goal_achieved"]},
        ).scalar()
        connection.execute(text("UPDATE campaign_callbacks SET attempt_id = :s"), {"s": second})
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    store.close()
    return ids


@pytest.mark.parametrize("revision", ["0002", "0003"])
def test_an_old_database_with_repeated_attempts_upgrades_keeping_the_first(db_url, tmp_path, revision):
    ids = _old_database_with_repeats(db_url, tmp_path, revision)
    old = Store(db_url, migrate=False)
    assert report(old, "card_activation").attempts == 6
    old.close()
    result = CliRunner().invoke(app, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 0 and f"版本 {revision} → {head()}" in result.output, result.output
    store = Store(db_url, migrate=False)
    with Session(store.engine) as session:
        assert sorted(session.scalars(select(CampaignAttempt.id))) == sorted(ids.values())  # the first of each
        assert session.scalars(select(CampaignCallback.attempt_id)).all() == [ids["goal_achieved"]]
    [index] = [
        i for i in inspect(store.engine).get_indexes("campaign_attempts") if i["name"] == "ix_campaign_attempts_once"
    ]
    assert index["unique"]
    figures = report(store, "card_activation")
    assert figures.attempts == 3 and figures.callbacks.on_time == 1
    store.close()


# --- the same group robot added twice -----------------------------------------------------------------------------

URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0123456789abcdef-KEY9"


def _webhooks(db: str) -> list[tuple[str, str, str]]:
    store = Store(db)
    try:
        return [(w.name, w.team, w.url) for w in Q.list_webhooks(store.engine)]
    finally:
        store.close()


def test_the_webhook_add_command_run_twice_adds_one_robot(tmp_path):
    db = str(tmp_path / "hooks.db")
    add = ["queue", "webhook", "add", "--team", "一组", "--url", URL, "--db", db]
    assert CliRunner().invoke(app, add).exit_code == 0
    again = CliRunner().invoke(app, add)
    assert again.exit_code == 2, again.output
    assert "班组「一组」已有这个推送地址（编号 1「一组群」），不再重复添加" in again.stderr
    # the same address written otherwise (host in capitals, 一組 for 一组), under another name: still the same robot
    shouted = URL.replace("qyapi.weixin.qq.com", "QYAPI.weixin.qq.com")
    other = CliRunner().invoke(app, [*add[:4], "一組", "--url", f" {shouted} ", "--name", "售后群", "--db", db])
    assert other.exit_code == 2 and "已有这个推送地址" in other.stderr, other.output
    # a name already taken, for another team's robot
    named = CliRunner().invoke(
        app, ["queue", "webhook", "add", "--team", "二组", "--url", URL + "2", "--name", "一组群", "--db", db]
    )
    assert named.exit_code == 2 and "已有名为「一组群」的推送地址（编号 1，班组「一组」）：请换一个名称" in named.stderr
    # the same robot for another team is another team's alerts: added
    assert (
        CliRunner().invoke(app, ["queue", "webhook", "add", "--team", "二组", "--url", URL, "--db", db]).exit_code == 0
    )
    assert _webhooks(db) == [("一组群", "一组", URL), ("二组群", "二组", URL)]
    # a disabled robot is not added again either: it can be enabled
    assert CliRunner().invoke(app, ["queue", "webhook", "disable", "1", "--db", db]).exit_code == 0
    disabled = CliRunner().invoke(app, add)
    assert disabled.exit_code == 2 and "编号 1「一组群」，已停用：需要时重新启用它即可" in disabled.stderr


def test_the_web_app_refuses_the_same_webhook_again(tmp_path):
    from fastapi.testclient import TestClient

    from zuoxi.store.users import add_user
    from zuoxi.web import create_app

    db = str(tmp_path / "web.db")
    store = Store(db)
    add_user(store.engine, "admin", "password-1", "admin")
    store.close()
    http = TestClient(create_app(db, models=False))
    csrf = http.post("/api/login", json={"username": "admin", "password": "password-1"}).json()["csrf_token"]

    def add(**data):
        return http.post(
            "/alerts/webhooks",
            data={"csrf_token": csrf, "template": "wecom", **data},
            headers={"accept": "text/html"},
            follow_redirects=False,
        )

    assert add(name="一组群", team="一组", url=URL).headers["location"].startswith("/alerts/settings?done=")
    again = add(name="一组群", team="一组", url=URL).headers["location"]
    assert again.startswith("/alerts/settings?error=")
    assert "班组「一组」已有这个推送地址" in http.get(again, headers={"accept": "text/html"}).text
    assert _webhooks(db) == [("一组群", "一组", URL)]
