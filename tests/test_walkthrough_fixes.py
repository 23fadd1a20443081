"""What a new user's walkthrough found, each fixed: a mistyped ID number kept in clear, scorecard problems without
their line (and one per run), `show` missing a conversation whose id was a phone number, `campaign dial`'s English
password prompt, queue picks left unassigned, and attempts recorded for another agent's customer."""

from __future__ import annotations

import json
from datetime import date, time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.campaigns import vault
from zuoxi.campaigns.calllist import import_call_list
from zuoxi.campaigns.campaign import create_campaign, load_spec
from zuoxi.campaigns.models import CallingHours
from zuoxi.cli import app
from zuoxi.engines.local import Batch
from zuoxi.privacy import valid_id_number
from zuoxi.store import Store
from zuoxi.store.queries import ConversationFilter, list_conversations
from zuoxi.store.tables import CampaignAttempt, CampaignCustomer, ConversationRow, ResultRow
from zuoxi.store.users import Account, add_user

MISTYPED_ID = "110101199003074578"  # a real region (北京东城) and birth date, the wrong check digit


def run(*args: str, code: int = 0, input: str | None = None, env: dict | None = None):
    outcome = CliRunner().invoke(app, list(args), input=input, env=env)
    assert outcome.exit_code == code, (outcome.stdout, outcome.stderr, outcome.exception)
    assert "Traceback" not in outcome.output
    return outcome


def _conversation_file(folder: Path, ident: str, agent: str, text: str) -> Path:
    path = folder / "calls.jsonl"
    record = {
        "id": ident,
        "channel": "chat",
        "agent_id": agent,
        "started_at": "2026-01-05T09:00:00+08:00",
        "turns": [
            {"role": "agent", "text": "您好，请问有什么可以帮您"},
            {"role": "customer", "text": text},
        ],
    }
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _stored(url: str) -> list[str]:
    """Every stored conversation and result, as text."""
    store = Store(url)
    with Session(store.engine) as session:
        rows = [
            json.dumps([c.id, c.agent_id, c.search_text, c.data], ensure_ascii=False)
            for c in session.scalars(select(ConversationRow))
        ]
        rows += [
            json.dumps([r.agent_id, r.data, r.final_data], ensure_ascii=False)
            for r in session.scalars(select(ResultRow))
        ]
    store.close()
    return rows


# 1. A mistyped ID number ---------------------------------------------------------------------------------------


def test_a_mistyped_id_number_is_masked_where_it_is_stored(tmp_path):
    assert not valid_id_number(MISTYPED_ID)
    path = _conversation_file(tmp_path, "c-1", MISTYPED_ID, f"我的身份证号是{MISTYPED_ID}，麻烦查一下")
    db = str(tmp_path / "x.db")
    run("analyze", str(path), "--db", db, "--no-models")
    stored = _stored(f"sqlite:///{db}")
    assert stored and not any(MISTYPED_ID in row for row in stored)
    assert any("**************4578" in row for row in stored)
    shown = run("show", "c-1", "--db", db).stdout
    assert MISTYPED_ID not in shown and "4578" in shown


def test_remask_masks_a_mistyped_id_number_an_older_zuoxi_stored(tmp_path):
    """`zuoxi db remask` uses the current masker: a database written before the rule is masked by it."""
    path = _conversation_file(tmp_path, MISTYPED_ID, MISTYPED_ID, f"身份证{MISTYPED_ID}")
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    for _ in Batch([path], store=store, analyze=True, mask=False, models=False).run():  # as an older zuoxi left it
        pass
    store.close()
    assert any(MISTYPED_ID in row for row in _stored(url))
    run("db", "remask", "--db", url)
    assert not any(MISTYPED_ID in row for row in _stored(url))


# 3. `zuoxi show` and the list's search by a conversation id that was a phone number ----------------------------

QA = Account(1, "qa", "inspector", None, None, None)


def _calls(folder: Path, *records: tuple[str, str]) -> Path:
    path = folder / "phones.jsonl"
    lines = [
        json.dumps(
            {
                "id": ident,
                "channel": "call",
                "agent_id": agent,
                "turns": [{"role": "agent", "text": "您好"}, {"role": "customer", "text": f"我是 {agent} 的客户"}],
            },
            ensure_ascii=False,
        )
        for ident, agent in records
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_show_finds_a_conversation_by_the_phone_number_its_id_was(tmp_path):
    db = str(tmp_path / "x.db")
    run("analyze", str(_calls(tmp_path, ("13800138000", "T01"), ("c-2", "T02"))), "--db", db, "--no-models")
    shown = run("show", "13800138000", "--db", db).stdout
    assert "*******8000" in shown and "T01" in shown and "13800138000" not in shown
    assert "T01" in run("show", "138-0013-8000", "--db", db).stdout  # typed as people type it
    missing = run("show", "13900001111", "--db", db, code=1)
    assert "没有会话 '*******1111'" in missing.stderr and "13900001111" not in missing.output

    page = list_conversations(Store(f"sqlite:///{db}").engine, QA, ConversationFilter(q="13800138000"))
    assert [item.id for item in page.items] == ["*******8000"]


def test_show_says_when_several_stored_ids_have_the_same_masked_form(tmp_path):
    db = str(tmp_path / "x.db")
    run("analyze", str(_calls(tmp_path, ("13800138000", "T01"), ("13900138000", "T02"))), "--db", db, "--no-models")
    said = run("show", "13800138000", "--db", db, code=1).stderr
    assert "有 2 个会话的编号打码后都是 '*******8000'" in said and "T01" in said and "T02" in said
    assert "内容键" in said
    key = next(line.split()[0] for line in said.splitlines() if "T02" in line)
    assert "我是 T02 的客户" in run("show", key, "--db", db).stdout  # and the key shows the one meant


# 4 and 6. Campaigns: `dial`'s password, and attempts recorded for another agent's customer ----------------------

LIST_HEADER = "客户号,姓名,性别,手机号,卡号,网点,地区,年龄,职业\n"
PASSWORD = "correct-horse"


def _campaign(tmp_path: Path, monkeypatch) -> tuple[str, list[int]]:
    """card_activation with three customers, the first two assigned to T01, the third to no one; a user t01."""
    monkeypatch.setenv(vault.SECRET_ENV, "a long random passphrase, only for the tests")
    url = f"sqlite:///{tmp_path / 'campaigns.db'}"
    store = Store(url)
    all_day = CallingHours(start=time(0), end=time.max)  # dialling is allowed whenever the test runs
    create_campaign(store, load_spec("card_activation").model_copy(update={"calling_hours": all_day}))
    path = tmp_path / "list.csv"
    rows = [f"R{n},张三,男,1380000000{n},6227 0000 0000 1234,汕头分行营业部,汕头,30,教师\n" for n in (1, 2, 3)]
    path.write_text(LIST_HEADER + "".join(rows), encoding="utf-8")
    assert import_call_list(store, "card_activation", path, as_of=date(2026, 3, 1)).errors == []
    with Session(store.engine) as session:
        ids = list(session.scalars(select(CampaignCustomer.id).order_by(CampaignCustomer.id)))
        for customer in session.scalars(select(CampaignCustomer).where(CampaignCustomer.id.in_(ids[:2]))):
            customer.agent_id = "T01"
        session.commit()
    add_user(store.engine, "t01", PASSWORD, "agent", agent_id="T01")
    store.close()
    return url, ids


def test_dial_without_a_password_to_read_says_so_in_chinese(tmp_path, monkeypatch):
    url, ids = _campaign(tmp_path, monkeypatch)
    monkeypatch.delenv("ZUOXI_PASSWORD", raising=False)
    dial = ("campaign", "dial", "card_activation", str(ids[0]), "--user", "t01", "--db", url)
    for given in ("", "\n"):  # no input at all, an empty line
        refused = run(*dial, code=2, input=given)
        assert "读不到密码" in refused.stderr and "ZUOXI_PASSWORD" in refused.stderr
        assert "Aborted" not in refused.output and "Password" not in refused.output
        assert "GetPassWarning" not in refused.output
    assert "13800000001" in run(*dial, input=PASSWORD + "\n").stdout  # one line on standard input
    assert "13800000001" in run(*dial, env={"ZUOXI_PASSWORD": PASSWORD}).stdout
    assert "用户名或密码不对" in run(*dial, code=2, input="wrong-password\n").stderr


def test_an_attempt_for_another_agents_customer_is_refused(tmp_path, monkeypatch):
    url, ids = _campaign(tmp_path, monkeypatch)
    record = ("campaign", "record", "card_activation")
    refused = run(*record, str(ids[0]), "refused", "--agent", "T02", "--db", url, code=2)
    assert "客户" in refused.stderr and "T01" in refused.stderr and "T02" in refused.stderr
    run(*record, str(ids[0]), "no_answer", "--agent", "T01", "--at", "2026-03-02T10:00:00", "--db", url)
    run(*record, str(ids[2]), "no_answer", "--agent", "T02", "--at", "2026-03-02T10:00:00", "--db", url)  # no one's
    refused = run(*record, str(ids[2]), "refused", "--agent", "T03", "--db", url, code=2)  # now T02's
    assert "T02" in refused.stderr and "T03" in refused.stderr
    with Session(Store(url).engine) as session:
        attempts = session.execute(select(CampaignAttempt.customer_id, CampaignAttempt.agent_id)).all()
    assert sorted(attempts) == [(ids[0], "T01"), (ids[2], "T02")]


def test_a_dispositions_row_for_another_agents_customer_is_that_rows_error(tmp_path, monkeypatch):
    url, ids = _campaign(tmp_path, monkeypatch)
    export = tmp_path / "dialer.csv"
    export.write_text(
        "名单ID,坐席工号,呼叫时间,结果\n"
        f"{ids[0]},T02,2026-03-02 10:00:00,refused\n"
        f"{ids[1]},T01,2026-03-02 10:05:00,no_answer\n"
        f"{ids[2]},T02,2026-03-02 10:10:00,no_answer\n",
        encoding="utf-8",
    )
    said = run("campaign", "dispositions", "card_activation", str(export), "--db", url).stderr
    assert "dialer.csv:2: " in said and "T01" in said.split("dialer.csv:2: ")[1].splitlines()[0]
    assert "拨打记录共 3 行：记录 2 行 · 跳过 1 行" in said, said
    with Session(Store(url).engine) as session:
        attempts = session.execute(select(CampaignAttempt.customer_id, CampaignAttempt.agent_id)).all()
    assert sorted(attempts) == [(ids[1], "T01"), (ids[2], "T02")]
