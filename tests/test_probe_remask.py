"""`zuoxi db remask` against hostile stored values, on SQLite and PostgreSQL: JSON that does not read or nests too
deep, a turn whose text is a number, turns that are no list, an id that is a number. Each ended the run with a
traceback, or was left unmasked without a word; now a row that cannot be masked is reported and left whole, the
rest masked, and a second run changes nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import insert, select, text, update
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.engines.local import Batch
from zuoxi.store import Store, utc_now
from zuoxi.store.remask import remask as remask_store
from zuoxi.store.tables import ConversationRow, ResultRow, TrainingCase

PHONE = "13812345678"
MASKED = "*******5678"


def database(url: str, folder: Path, count: int) -> list[str]:
    """`count` conversations stored raw (as an older zuoxi stored them), analyzed; their keys in id order."""
    path = folder / "calls.jsonl"
    records = [
        {
            "id": f"c{i}",
            "meta": {"phone": PHONE},
            "turns": [
                {"role": "agent", "text": "您好，请问有什么可以帮您"},
                {"role": "customer", "text": f"我的手机{PHONE}，太慢了我要投诉"},
            ],
        }
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    store = Store(url)
    for _ in Batch([path], store=store, analyze=True, mask=False, models=False).run():
        pass
    with store.engine.connect() as connection:
        table = ConversationRow.__table__
        keys = list(connection.scalars(select(table.c.key).order_by(table.c.id)))
    store.close()
    return keys


def rows(url: str, key: str) -> tuple:
    """A conversation's row and its results' rows, as stored (JSON as its text)."""
    store = Store(url, migrate=False)
    with store.engine.connect() as connection:
        conversation = connection.execute(
            text("SELECT key, id, CAST(data AS TEXT), search_text FROM conversations WHERE key = :k"), {"k": key}
        ).all()
        results = connection.execute(
            text("SELECT pk, CAST(data AS TEXT), CAST(final_data AS TEXT) FROM results WHERE conversation_key = :k"),
            {"k": key},
        ).all()
    store.close()
    return conversation, results


def run(url: str, *args: str, code: int):
    outcome = CliRunner().invoke(app, ["db", "remask", "--db", url, *args])
    assert outcome.exit_code == code, (outcome.stdout, outcome.stderr, outcome.exception)
    assert "Traceback" not in outcome.output and isinstance(outcome.exception, SystemExit | None)
    return outcome


def test_rows_that_cannot_be_masked_are_reported_and_left(db_url, tmp_path):
    """Stored JSON nested deeper than Python's parser follows (PostgreSQL takes it; the driver raised as it read the
    batch), JSON that is no JSON (SQLite keeps any text), and a conversation's metadata too deep to mask: each row,
    with the rows that go with it, is reported and left as it was; the other rows are masked."""
    keys = database(db_url, tmp_path, 4)
    deep_meta: object = PHONE
    for _ in range(900):
        deep_meta = {"k": deep_meta}
    deep_json = '{"findings": ' + "[" * 3000 + "]" * 3000 + "}"
    store = Store(db_url)
    with store.engine.begin() as connection:
        conversations = ConversationRow.__table__
        data = connection.execute(select(conversations.c.data).where(conversations.c.key == keys[0])).scalar_one()
        connection.execute(
            update(conversations).where(conversations.c.key == keys[0]).values(data={**data, "meta": deep_meta})
        )
        cast = "CAST(:d AS JSON)" if store.engine.dialect.name == "postgresql" else ":d"
        connection.execute(
            text(f"UPDATE results SET data = {cast} WHERE conversation_key = :k"), {"d": deep_json, "k": keys[1]}
        )
        if store.engine.dialect.name == "sqlite":
            connection.execute(
                text("UPDATE results SET final_data = '[oops' WHERE conversation_key = :k"), {"k": keys[2]}
            )
    store.close()
    before = {key: rows(db_url, key) for key in keys}
    store = Store(db_url)
    try:
        dry = remask_store(store.engine, dry_run=True)
    finally:
        store.close()
    unread = "存储的 JSON 无法读取（不是 JSON，或嵌套过深）"
    assert [(r.table, r.key, r.columns, r.reason) for r in dry.refused] == sorted(
        [
            ("conversations", keys[0], (), "JSON 嵌套过深，无法打码"),
            ("conversations", keys[1], ("results.data",), unread),
            *([("conversations", keys[2], ("results.final_data",), unread)] if db_url.startswith("sqlite") else []),
        ],
        key=lambda refused: refused[1],  # in key order
    )
    run(db_url, "--dry-run", code=1)
    assert {key: rows(db_url, key) for key in keys} == before
    refused = run(db_url, code=1)
    left = keys[:3] if db_url.startswith("sqlite") else keys[:2]
    assert f"{len(left)} 行未能改写" in refused.stderr
    for key in left:
        assert rows(db_url, key) == before[key]
    (conversation,), (result,) = rows(db_url, keys[3])
    assert PHONE not in str(conversation) and MASKED in conversation[2] and PHONE not in str(result)
    again = run(db_url, code=1)
    assert "已改写 0 个值" in again.stdout and f"{len(left)} 行未能改写" in again.stderr


def test_a_conversation_of_another_shape_is_masked_whole(db_url, tmp_path):
    """A turn whose text is a number (its search text rebuilt from it raised AttributeError), a turn that is a string,
    turns that are an object, an id that is a number: each was left holding the phone number without a word (and the
    search text too, when the turns were no list)."""
    keys = database(db_url, tmp_path, 2)
    store = Store(db_url)
    with store.engine.begin() as connection:
        conversations = ConversationRow.__table__
        for key, data in (
            (keys[0], {"id": "c0", "turns": [{"role": "agent", "text": int(PHONE)}, PHONE, None]}),
            (keys[1], {"id": int(PHONE), "agent_id": int(PHONE), "turns": {"first": f"我的手机{PHONE}"}}),
        ):
            connection.execute(update(conversations).where(conversations.c.key == key).values(data=data))
    store.close()
    report = None
    store = Store(db_url)
    try:
        report = remask_store(store.engine)
        assert report.refused == []
        assert remask_store(store.engine).total == 0
        with store.engine.connect() as connection:
            stored = dict(connection.execute(select(conversations.c.key, conversations.c.data)).all())
            searched = list(connection.scalars(select(conversations.c.search_text)))
            results = list(connection.scalars(select(ResultRow.__table__.c.data)))
    finally:
        store.close()
    assert PHONE not in json.dumps(stored) and PHONE not in json.dumps(results) and PHONE not in str(searched)
    assert stored[keys[0]]["turns"] == [{"role": "agent", "text": MASKED}, MASKED, None]
    assert stored[keys[1]] == {"id": MASKED, "agent_id": MASKED, "turns": {"first": f"我的手机{MASKED}"}}


def test_a_case_of_yaml_aliases_is_masked_where_it_stands(store):
    """A stored case's YAML was read with its aliases and every copy they stand for masked and written out (272
    bytes of them took 14 s and 18 MB; one level more, ten times that): it is masked as text, as YAML that does not
    read is."""
    laughs = f'id: c1\na: &a ["{PHONE}", "x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
    for name, alias in zip("bcdefghij", "abcdefghi", strict=True):
        laughs += f"{name}: &{name} [{', '.join([f'*{alias}'] * 10)}]\n"
    with store.engine.begin() as connection:
        connection.execute(insert(TrainingCase).values(id="c1", yaml=laughs, created_at=utc_now()))
    started = time.monotonic()
    report = remask_store(store.engine)
    assert time.monotonic() - started < 10 and report.changed["training_cases"]["yaml"] == 1
    with store.engine.connect() as connection:
        stored = connection.scalar(select(TrainingCase.__table__.c.yaml))
    assert stored == laughs.replace(PHONE, MASKED)
    assert remask_store(store.engine).total == 0
