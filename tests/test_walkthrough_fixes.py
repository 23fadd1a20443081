"""What a new user's walkthrough found, each fixed: a mistyped ID number kept in clear, scorecard problems without
their line (and one per run), `show` missing a conversation whose id was a phone number, `campaign dial`'s English
password prompt, queue picks left unassigned, and attempts recorded for another agent's customer."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.engines.local import Batch
from zuoxi.privacy import valid_id_number
from zuoxi.store import Store
from zuoxi.store.tables import ConversationRow, ResultRow

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
