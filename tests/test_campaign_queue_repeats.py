"""What a new user hit trying the command line: a callback scheduled in the past (it could never be kept,
and the report counted it missed), the same call attempt recorded twice (the report counted it twice), the
same group robot added twice (every alert was sent twice)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.campaigns import vault
from zuoxi.campaigns.calllist import import_call_list
from zuoxi.campaigns.campaign import CampaignError, create_campaign, load_spec
from zuoxi.campaigns.dispositions import import_dispositions, record_attempts
from zuoxi.campaigns.models import Attempt
from zuoxi.cli import app
from zuoxi.store import Store
from zuoxi.store.campaigns import add_callback
from zuoxi.store.tables import CampaignCallback, CampaignCustomer

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
