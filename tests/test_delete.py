"""`zuoxi conversation delete` on SQLite and PostgreSQL: a conversation goes with every row keyed to it, in one
audited transaction, and nothing else does; the command asks first, and a corrected export of a refused id is
stored once the stored one is deleted."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.model import Conversation
from zuoxi.pipeline import analyze_conversation
from zuoxi.store import Store, stats
from zuoxi.store.audit import audit_entries
from zuoxi.store.deletion import delete_conversations, dependents
from zuoxi.store.reviews import add_appeal, add_review
from zuoxi.store.search import search_clause
from zuoxi.store.tables import (
    AppealRow,
    Base,
    CampaignAttempt,
    CampaignCustomer,
    CampaignRow,
    ComplaintAlertRow,
    ConversationRow,
    QueueItemRow,
    ResultRow,
    ResultVersion,
    ReviewRow,
    SamplingPlanRow,
    SamplingRunRow,
    StatRow,
    TrainingCase,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookRow,
)
from zuoxi.store.users import add_user

NOW = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)
# The tables a deletion empties of a conversation's rows, and those whose link to it is dropped (the row kept).
DELETED = {
    "conversations",
    "results",
    "reviews",
    "appeals",
    "result_versions",
    "queue_items",
    "complaint_alerts",
    "alert_deliveries",
    "alert_delivery_attempts",
}
UNLINKED = {"campaign_attempts", "training_cases"}
KEPT_OUT = {"deleted_conversations"}  # written by a deletion: the keys a deleted conversation is kept out by
PER_CONVERSATION = (  # table, its column naming a conversation, and what that column holds of it
    (ResultRow, ResultRow.conversation_key, "key"),
    (ReviewRow, ReviewRow.result_pk, "result"),
    (AppealRow, AppealRow.result_pk, "result"),
    (ResultVersion, ResultVersion.result_pk, "result"),
    (QueueItemRow, QueueItemRow.conversation_key, "key"),
    (ComplaintAlertRow, ComplaintAlertRow.conversation_key, "key"),
    (WebhookDeliveryRow, WebhookDeliveryRow.alert_id, "alert"),
    (WebhookAttemptRow, WebhookAttemptRow.delivery_id, "delivery"),
    (CampaignAttempt, CampaignAttempt.conversation_key, "key"),
    (TrainingCase, TrainingCase.conversation_key, "key"),
)


def naming(column, holds: str, keys: list[str]):
    """The clause of the rows whose `column` names one of these conversations (or their results, alert, deliveries)."""
    results = select(ResultRow.pk).where(ResultRow.conversation_key.in_(keys))
    alerts = select(ComplaintAlertRow.id).where(ComplaintAlertRow.conversation_key.in_(keys))
    deliveries = select(WebhookDeliveryRow.id).where(WebhookDeliveryRow.alert_id.in_(alerts.scalar_subquery()))
    given = {"key": keys, "result": results, "alert": alerts, "delivery": deliveries}[holds]
    return column.in_(given if holds == "key" else given.scalar_subquery())


def conversation(ident: str, *texts: str, agent: str = "8") -> Conversation:
    return Conversation.model_validate(
        {
            "id": ident,
            "channel": "chat",
            "agent_id": agent,
            "team": "售后一组",
            "started_at": "2026-11-03T14:00:00+08:00",
            "turns": [{"role": "agent", "text": t} for t in texts],
        }
    )


def counts(engine, keys: list[str]) -> dict[str, int]:
    """How many rows of each table name these conversations."""
    with Session(engine) as session:
        found = {"conversations": session.scalar(select(func.count()).where(ConversationRow.key.in_(keys)))}
        for table, column, holds in PER_CONVERSATION:
            clause = naming(column, holds, keys)
            found[table.__tablename__] = session.scalar(select(func.count()).select_from(table).where(clause))
    return found


def stat_cells(engine) -> dict[tuple, tuple[int, float]]:
    with Session(engine) as session:
        return {
            tuple(getattr(row, name) for name in stats.KEY): (row.n, round(row.total, 6))
            for row in session.scalars(select(StatRow))
            if row.n or row.total
        }


def world(store: Store) -> tuple[str, str]:
    """Two analysed conversations, A and B, each with everything a conversation can have keyed to it: two results,
    a review with a comment, an appeal, score versions, a queue item, a complaint alert with a delivery and its log,
    a campaign call and a promoted training case. Returns (A's key, B's key)."""
    a, b = conversation("a-1", "您好，我的快递没到", "马上查"), conversation("b-1", "您好，请讲")
    key_a, key_b = store.add_conversations([(a, "a.csv"), (b, "b.csv")])
    core = {c.id: analyze_conversation(c, "core", models=False) for c in (a, b)}
    store.save_results(
        [(key_a, core["a-1"]), (key_a, analyze_conversation(a, "ecommerce", models=False)), (key_b, core["b-1"])]
    )
    inspector = add_user(store.engine, "qa", "a-long-password", "inspector")
    agent = add_user(store.engine, "agent8", "a-long-password", "agent", agent_id="8")
    with Session(store.engine) as session:
        query = select(ResultRow.conversation_key, ResultRow.pk).where(ResultRow.scorecard == "core")
        pks = {key: pk for key, pk in session.execute(query)}
    for key, conv in ((key_a, a), (key_b, b)):
        failed = [f.rule for f in core[conv.id].findings if f.status == "fail"]
        add_review(store.engine, inspector, pks[key], failed[0], "overturn", comment=f"复核意见{key[:4]}：其实说了")
        add_appeal(store.engine, agent, pks[key], failed[1], f"申诉理由{key[:4]}：客户先挂断")
    with Session(store.engine) as session, session.begin():
        plan = SamplingPlanRow(name="weekly", title="每周", yaml="", spec={}, active=True, updated_at=NOW)
        hook = WebhookRow(name="群", team="售后一组", url="https://example.invalid/x", template="json", created_at=NOW)
        campaign = CampaignRow(name="回访", title="回访", spec={}, created_at=NOW)
        session.add_all([plan, hook, campaign])
        session.flush()
        run = SamplingRunRow(
            plan_id=plan.id,
            period="2026-W45",
            period_start=NOW,
            period_end=NOW,
            seed=1,
            considered=2,
            sampled=2,
            unassigned=0,
            at=NOW,
        )
        customer = CampaignCustomer(
            campaign_id=campaign.id,
            phone_hash="h",
            phone_tail="5678",
            phone_enc="x",
            status="done",
            source="list.csv:2",
            imported_at=NOW,
        )
        session.add_all([run, customer])
        session.flush()
        for number, key in enumerate((key_a, key_b)):
            session.add(
                QueueItemRow(
                    plan_id=plan.id,
                    run_id=run.id,
                    result_pk=pks[key],
                    conversation_key=key,
                    criterion="random",
                    kind="random",
                    label="随机",
                    status="open",
                    created_at=NOW,
                )
            )
            alert = ComplaintAlertRow(
                conversation_key=key,
                result_pk=pks[key],
                conversation_id=key[:6],
                rules=["ES-01"],
                excerpt=f"预警摘录{key[:4]}",
                created_at=NOW,
            )
            session.add(alert)
            session.flush()
            delivery = WebhookDeliveryRow(
                alert_id=alert.id, webhook_id=hook.id, status="failed", created_at=NOW, updated_at=NOW
            )
            session.add(delivery)
            session.flush()
            session.add_all(
                WebhookAttemptRow(delivery_id=delivery.id, at=NOW, ok=False, error="超时") for _ in range(2)
            )
            session.add(
                CampaignAttempt(
                    campaign_id=campaign.id,
                    customer_id=customer.id,
                    agent_id="8",
                    started_at=NOW.replace(minute=number),
                    disposition="connected",
                    conversation_key=key,
                )
            )
            session.add(TrainingCase(id=f"case-{key[:6]}", yaml="id: x\n", conversation_key=key, created_at=NOW))
    return key_a, key_b


def test_every_table_keyed_to_a_conversation_is_deleted_or_unlinked():
    """A new table naming a conversation, a result, an alert or a delivery must be added to zuoxi.store.deletion."""
    keyed = set()
    for table in Base.metadata.tables.values():
        for column in table.columns:
            targets = {fk.target_fullname for fk in column.foreign_keys}
            if column.name in ("conversation_key", "result_pk", "alert_id", "delivery_id") or targets & {
                "conversations.key",
                "results.pk",
                "complaint_alerts.id",
                "alert_deliveries.id",
            }:
                keyed.add(table.name)
    assert keyed | {"conversations"} == DELETED | UNLINKED | KEPT_OUT
    # each table a deletion takes rows from never gives a deleted row's id again (SQLite: revision 0006)
    from zuoxi.store.tables import ID_TABLES

    assert set(ID_TABLES) == DELETED - {"conversations"}
    assert all(Base.metadata.tables[name].kwargs.get("sqlite_autoincrement") for name in ID_TABLES)
    assert {table.__tablename__ for table, _, _ in PER_CONVERSATION} | {"conversations"} == DELETED | UNLINKED


def test_a_deletion_takes_every_dependent_row_and_leaves_other_conversations(store):
    key_a, key_b = world(store)
    before_b = counts(store.engine, [key_b])
    assert set(before_b.values()) != {0} and 0 not in counts(store.engine, [key_a]).values()
    [planned] = dependents(store.engine, [key_a, "f" * 64])  # a key not stored is left out
    assert (planned.conversation_id, planned.scorecards, planned.training_cases) == (
        "a-1",
        ["core", "ecommerce"],
        [f"case-{key_a[:6]}"],
    )
    assert (planned.reviews, planned.appeals, planned.queue_items, planned.alerts) == (1, 1, 1, 1)
    assert (planned.alert_deliveries, planned.alert_delivery_attempts, planned.campaign_attempts) == (1, 2, 1)
    assert planned.result_versions == counts(store.engine, [key_a])["result_versions"] > 0

    [deleted] = delete_conversations(store.engine, [key_a, key_a], operator="wang")
    assert deleted == planned
    assert {table: n for table, n in counts(store.engine, [key_a]).items() if n} == {}
    assert counts(store.engine, [key_b]) == before_b  # B untouched
    with Session(store.engine) as session:  # the call and the case are kept, no longer naming A
        assert (
            session.scalar(
                select(func.count()).select_from(CampaignAttempt).where(CampaignAttempt.conversation_key.is_(None))
            )
            == 1
        )
        assert session.get(TrainingCase, f"case-{key_a[:6]}").conversation_key is None
        dialect = store.engine.dialect.name
        assert session.scalars(select(ConversationRow.id).where(search_clause("快递", dialect))).all() == []
        assert session.scalars(select(ConversationRow.id).where(search_clause("请讲", dialect))).all() == ["b-1"]
    assert [c.id for _, c in store.find("b-1")] == ["b-1"] and store.find("a-1") == []
    assert store.stats()["conversations"] == 1 and [s["results"] for s in store.stats()["scorecards"]] == [1]
    shown = stat_cells(store.engine)  # the dashboard's figures: B's alone, as a recount gives them
    with store.engine.begin() as connection:
        stats.rebuild(connection)
    assert shown == stat_cells(store.engine) and shown


def test_a_deletion_is_audited_without_the_deleted_text(store):
    key_a, _ = world(store)
    delete_conversations(store.engine, [key_a], operator="wang")
    total, [entry] = audit_entries(store.engine, action="conversation.delete")
    assert total == 1 and (entry.username, entry.entity, entry.entity_id) == (None, "conversation", key_a)
    assert entry.before["conversation_id"] == "a-1" and entry.before["source"] == "a.csv"
    assert entry.before["scorecards"] == ["core", "ecommerce"] and entry.before["reviews"] == 1
    assert entry.before["training_cases"] == [f"case-{key_a[:6]}"] and entry.after == {"deleted_by": "wang"}
    written = json.dumps([entry.before, entry.after], ensure_ascii=False)
    from zuoxi.web.display import AUDIT_ACTIONS, AUDIT_ENTITIES, AUDIT_KEYS  # the audit page reads it in Chinese

    assert "conversation.delete" in AUDIT_ACTIONS and "conversation" in AUDIT_ENTITIES
    assert set(entry.before) | set(entry.after) <= set(AUDIT_KEYS)
    for deleted_text in ("快递", "马上查", "复核意见", "申诉理由", "预警摘录"):
        assert deleted_text not in written


def test_a_deletion_that_fails_midway_deletes_nothing(store, monkeypatch):
    from zuoxi.store import deletion

    key_a, key_b = world(store)
    before, cells = counts(store.engine, [key_a, key_b]), stat_cells(store.engine)

    def broken(*args, **kwargs):
        raise RuntimeError("audit failed")

    monkeypatch.setattr(deletion, "audit", broken)
    with pytest.raises(RuntimeError):
        delete_conversations(store.engine, [key_a])
    assert counts(store.engine, [key_a, key_b]) == before and stat_cells(store.engine) == cells


# --- the command --------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request, tmp_path, monkeypatch) -> list[str]:
    """`--db` (and on PostgreSQL `--schema`, a schema of its own, dropped afterwards) of an empty database."""
    monkeypatch.delenv("ZUOXI_DB_SCHEMA", raising=False)
    if request.param == "sqlite":
        yield ["--db", str(tmp_path / "delete.db")]
        return
    from conftest import POSTGRES_URL

    admin = request.getfixturevalue("postgres_admin")
    schema = f"zuoxi_delete_{uuid.uuid4().hex[:10]}"
    try:
        yield ["--db", POSTGRES_URL, "--schema", schema]
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def zuoxi(*args, code: int = 0, input: str | None = None):
    outcome = CliRunner().invoke(app, [str(a) for a in args], input=input)
    assert outcome.exit_code == code, (outcome.exit_code, outcome.stdout, outcome.stderr, outcome.exception)
    return outcome


def export(path, *replies: str):
    """A chat export of conversation dx-1: the customer's question and the agent's replies."""
    rows = ["会话ID,角色,内容,时间", "dx-1,客户,快递没到，电话13812345678,2026-11-03 14:00:10"]
    rows += [f"dx-1,客服,{reply},2026-11-03 14:00:{11 + i}" for i, reply in enumerate(replies)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_corrected_export_is_stored_with_a_note_and_the_stored_one_deleted_by_its_key(where, tmp_path):
    first, longer = export(tmp_path / "a.csv", "马上查"), export(tmp_path / "a2.csv", "马上查", "已经到了")
    zuoxi("analyze", first, *where, "--no-models", "--format", "json")
    key = json.loads(zuoxi("show", "dx-1", *where, "--format", "json").stdout)["key"]
    noted = zuoxi("import", longer, *where)
    assert f"注意 {longer}:2: 数据库中已有会话 'dx-1'，内容不同（内容键 {key[:12]}" in noted.stderr
    assert f"用 zuoxi conversation delete {key[:12]} 删去库中旧的那个" in noted.stderr

    deleted = zuoxi("conversation", "delete", key[:12], *where, "--yes")
    assert "将删除 1 个会话：" in deleted.stderr and f"内容键 {key[:12]}" in deleted.stderr
    assert "质检结果 1 个（core）" in deleted.stderr and "确定删除" not in deleted.stderr  # --yes: not asked
    assert f"已删除 1 个会话（内容键 {key[:12]}）" in deleted.stderr
    assert "快递" not in deleted.stderr  # what is deleted is named and counted, not shown

    shown = json.loads(zuoxi("show", "dx-1", *where, "--format", "json").stdout)
    assert [t["text"] for t in shown["conversation"]["turns"]][-1] == "已经到了" and shown["results"] == []


def test_the_command_asks_first_and_an_answer_other_than_yes_deletes_nothing(where, tmp_path):
    zuoxi("analyze", export(tmp_path / "a.csv", "马上查"), *where, "--no-models", "--format", "json")
    for answer in ("n\n", "\n", ""):
        kept = zuoxi("conversation", "delete", "dx-1", *where, input=answer, code=1)
        assert "将删除 1 个会话：" in kept.stderr and "确定删除以上 1 个会话？输入 y 确认" in kept.stderr
        assert "什么也没有删除" in kept.stderr
        assert ("不询问直接删除请加 --yes" in kept.stderr) == (answer.strip() == "")
        zuoxi("show", "dx-1", *where)
    asked = zuoxi("conversation", "delete", "dx-1", *where, input="y\n")
    assert "确定删除以上 1 个会话？" in asked.stderr and "已删除 1 个会话" in asked.stderr
    assert "没有会话" in zuoxi("show", "dx-1", *where, code=1).stderr


def test_an_unknown_key_or_id_is_said_in_chinese_and_nothing_is_deleted(where, tmp_path):
    zuoxi("import", export(tmp_path / "a.csv", "马上查"), *where)
    refused = zuoxi("conversation", "delete", "dx-1", "nope-9", "abcdef0123", *where, "--yes", code=1)
    assert "错误：数据库" in refused.stderr and "里没有会话 'nope-9'" in refused.stderr
    assert "里没有会话 'abcdef0123'" in refused.stderr and "什么也没有删除" in refused.stderr
    zuoxi("show", "dx-1", *where)  # the one that was found is kept too
    missing = zuoxi("conversation", "delete", "13812345678", "--db", tmp_path / "no-such.db", "--yes", code=2)
    assert "找不到数据库" in missing.stderr and not (tmp_path / "no-such.db").exists()


def test_an_id_of_several_stored_conversations_lists_them_and_asks_for_a_key(where, tmp_path):
    """Two callers' numbers used as ids are stored masked alike (*******5678): the id names both."""
    for name, number in (("a.jsonl", "13812345678"), ("b.jsonl", "13912345678")):
        (tmp_path / name).write_text(json.dumps({"id": number, "turns": [{"role": "agent", "text": name}]}) + "\n")
    zuoxi("import", tmp_path / "a.jsonl", tmp_path / "b.jsonl", *where)
    listed = zuoxi("conversation", "delete", "13812345678", *where, "--yes", code=1)
    assert "'*******5678' 对应库中 2 个会话" in listed.stderr and "zuoxi conversation delete 内容键" in listed.stderr
    assert "13812345678" not in listed.stderr and "什么也没有删除" in listed.stderr
    keys = [line.split()[0] for line in listed.stderr.splitlines() if line.startswith("  ")]
    assert len(keys) == 2
    zuoxi("conversation", "delete", keys[0], *where, "--yes")
    left = zuoxi("show", "*******5678", *where, "--format", "json").stdout.splitlines()
    assert [json.loads(line)["key"][:12] for line in left] == [keys[1]]


def test_a_deleted_conversation_read_again_is_kept_out_until_readmitted(where, tmp_path):
    """A customer's erasure stays erased: `analyze` (which reads every file given), `import --again` and another file
    holding the same conversation note it and store nothing of it; `readmit` lets it back, audited."""
    first = export(tmp_path / "a.csv", "马上查")
    zuoxi("analyze", first, *where, "--no-models", "--format", "json")
    key = json.loads(zuoxi("show", "dx-1", *where, "--format", "json").stdout)["key"]
    zuoxi("conversation", "delete", key[:12], *where, "--yes")

    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "again.csv").write_text(first.read_text() + "dx-2,客户,在吗,2026-11-03 15:00:00\n", encoding="utf-8")
    for again in (
        ("analyze", first, "--no-models", "--format", "json"),
        ("import", "--again", first),
        ("import", copy / "again.csv"),
    ):
        kept = zuoxi(*again, *where)
        assert ":2: 会话 'dx-1' 此前已用 zuoxi conversation delete 删除：没有再存入，也没有分析" in kept.stderr
        assert f"zuoxi conversation readmit {key[:12]}" in kept.stderr and "已删除、未再存入 1" in kept.stderr
        assert "错误 0 · 注意 1" in kept.stderr and "13812345678" not in kept.stderr
        assert "没有会话" in zuoxi("show", "dx-1", *where, code=1).stderr
    analyzed = zuoxi("analyze", first, *where, "--no-models", "--format", "json")
    assert json.loads(analyzed.stdout or "[]") == []  # nor is it analyzed and shown

    other = export(tmp_path / "b.csv", "马上查", "已经到了")  # another conversation of the same id is no erasure
    zuoxi("import", other, *where)
    assert json.loads(zuoxi("show", "dx-1", *where, "--format", "json").stdout)["key"] != key

    unknown = zuoxi("conversation", "readmit", "abcdef012345", *where, code=1)
    assert "不是已删除会话的内容键" in unknown.stderr and "什么也没有改" in unknown.stderr
    readmitted = zuoxi("conversation", "readmit", key[:8], *where)
    assert f"已允许 1 个已删除的会话再次存入（内容键 {key[:12]}）" in readmitted.stderr
    stored = zuoxi("import", "--again", first, *where)
    assert "导入 1" in stored.stderr and "此前已用" not in stored.stderr
    assert key in zuoxi("show", key[:12], *where, "--format", "json").stdout


def test_a_deletion_and_a_readmission_are_audited_and_the_kept_out_keys_hold_no_text(store):
    key_a, key_b = world(store)
    delete_conversations(store.engine, [key_a], operator="wang")
    assert store.deleted() == {key_a: key_a}
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT key, conversation_key, deleted_at FROM deleted_conversations")).all()
        columns = connection.execute(text("SELECT * FROM deleted_conversations")).keys()
    assert [tuple(row[:2]) for row in rows] == [(key_a, key_a)]
    assert sorted(columns) == ["conversation_key", "deleted_at", "key"]  # keys and when: no text
    delete_conversations(store.engine, [key_b])  # each deletion keeps its own out, the earlier stays
    assert store.deleted() == {key_a: key_a, key_b: key_b}

    from zuoxi.store.deletion import deleted_keys, readmit

    assert deleted_keys(store.engine, key_a[:6].upper()) == [key_a] and deleted_keys(store.engine, "%%%%%%") == []
    assert readmit(store.engine, [key_a, key_a, "f" * 64], operator="li") == [key_a]
    assert store.deleted() == {key_b: key_b} and readmit(store.engine, [key_a]) == []
    _, entries = audit_entries(store.engine, action="conversation.readmit")
    assert [(e.entity_id, e.after) for e in entries] == [(key_a, {"readmitted_by": "li"})]


def test_a_conversation_stored_before_its_masking_changed_is_kept_out_as_masked_today(where, tmp_path):
    """Deleted after `zuoxi db remask` (or stored by an older zuoxi, or with --no-mask), the conversation's key was
    the hash of its text as first stored: read again and masked as today it has another key, and it came back."""
    first = export(tmp_path / "a.csv", "马上查")
    zuoxi("import", "--no-mask", first, *where)
    zuoxi("db", "remask", *where)
    stored = json.loads(zuoxi("show", "dx-1", *where, "--format", "json").stdout)
    assert "13812345678" not in json.dumps(stored, ensure_ascii=False)  # masked again, its key kept
    zuoxi("conversation", "delete", stored["key"][:12], *where, "--yes")
    for again in (
        ("import", "--again", first),
        ("analyze", first, "--no-models"),
        ("import", "--no-mask", "--again", first),
    ):
        kept = zuoxi(*again, *where)
        assert "此前已用 zuoxi conversation delete 删除" in kept.stderr and "已删除、未再存入 1" in kept.stderr, again
        assert f"readmit {stored['key'][:12]}" in kept.stderr  # the key it was deleted under, as readmit takes it
        assert "没有会话" in zuoxi("show", "dx-1", *where, code=1).stderr


def test_a_kept_out_conversation_is_compared_with_no_other(where, tmp_path):
    """A deleted conversation read again beside a corrected one of its id was noted as imported too ("两个都已导入",
    "用 zuoxi conversation delete … 删去库中旧的那个" naming the conversation that is kept)."""

    def record(*replies: str) -> str:
        turns = [{"role": "customer", "text": "快递没到"}] + [{"role": "agent", "text": r} for r in replies]
        return json.dumps({"id": "dx-1", "turns": turns}, ensure_ascii=False) + "\n"

    first, corrected, both = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "both.jsonl"
    first.write_text(record("马上查"), encoding="utf-8")
    corrected.write_text(record("马上查", "已经到了"), encoding="utf-8")
    both.write_text(record("马上查") + record("马上查", "已经到了", "还有问题吗"), encoding="utf-8")
    zuoxi("import", first, *where)
    zuoxi("conversation", "delete", "dx-1", *where, "--yes")
    zuoxi("import", corrected, *where)  # the corrected one, stored
    again = zuoxi("analyze", first, *where, "--no-models", "--format", "json")
    assert "此前已用 zuoxi conversation delete 删除" in again.stderr
    assert "内容不同" not in again.stderr and "注意 1" in again.stderr
    noted = zuoxi("import", both, *where)
    assert f"注意 {both}:1: 会话 'dx-1' 此前已用 zuoxi conversation delete 删除" in noted.stderr
    assert "两个都已导入" not in noted.stderr and f"{both}:1" not in noted.stderr.split("此前已用")[1]


def test_what_people_wrote_about_a_deleted_conversation_leaves_the_audit_log(store):
    """The audit page still showed a deleted conversation's review comments and appeal reasons (walk_web): each entry
    keeps who did what and when, its words are forgotten; another conversation's stay."""
    from zuoxi.store.deletion import FORGOTTEN

    key_a, key_b = world(store)
    delete_conversations(store.engine, [key_a])
    _, entries = audit_entries(store.engine, per_page=1000)
    said = {(e.action, e.entity): [e.before, e.after] for e in entries if e.entity in ("finding", "appeal")}
    texts = json.dumps([[e.before, e.after] for e in entries], ensure_ascii=False)
    assert f"复核意见{key_a[:4]}" not in texts and f"申诉理由{key_a[:4]}" not in texts
    assert f"复核意见{key_b[:4]}" in texts and f"申诉理由{key_b[:4]}" in texts
    assert texts.count(FORGOTTEN) == 2 and said  # a's comment and reason; the entries themselves are kept
    assert (
        sum(e.action == "appeal.open" for e in entries) == 2
        and sum(e.action == "review.overturn" for e in entries) == 2
    )


def test_a_conversation_deleted_while_an_import_runs_is_not_stored_by_it(tmp_path):
    """The run read the deletions at its start: a conversation deleted while it went on (an upload, a long
    `zuoxi analyze`) was stored again by it, the erasure silently undone (review 2026-12-07)."""
    from zuoxi.engines.local import Batch

    path = tmp_path / "two.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"r-{n}", "turns": [{"role": "customer", "text": f"快递没到{n}"}]}, ensure_ascii=False)
            + "\n"
            for n in (1, 2)
        ),
        encoding="utf-8",
    )
    store = Store(f"sqlite:///{tmp_path / 'race.db'}")
    list(Batch([path], store=store).run())
    [(key, _)] = store.find("r-2")
    running = Batch([path], store=store, resume=False, analyze=True, models=False)
    items = running.run()
    next(items)  # read and held, not stored yet
    delete_conversations(store.engine, [key])
    rest = list(items)
    assert store.find("r-2") == [] and running.summary.kept_out == 1 and len(rest) == 1
    [note] = running.summary.errors
    assert note.note and note.line == 2 and "会话 'r-2' 此前已用 zuoxi conversation delete 删除" in str(note)
    store.close()


def test_a_conversation_deleted_between_the_check_and_its_results_is_noted_and_not_counted(tmp_path, monkeypatch):
    """A deletion that lands after store_analyzed's check and before its results are stored: save_results hands the
    key back and its result is left out; the run counted it analyzed and said nothing (review 2026-12-07, eighth)."""
    from zuoxi.engines.local import Batch

    path = tmp_path / "one.jsonl"
    path.write_text(
        json.dumps({"id": "s-1", "turns": [{"role": "customer", "text": "快递没到"}]}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    store = Store(f"sqlite:///{tmp_path / 'late.db'}")
    real = Store.save_results

    def delete_first(self, items):
        items = list(items)
        delete_conversations(self.engine, [key for key, _ in items])
        return real(self, items)

    monkeypatch.setattr(Store, "save_results", delete_first)
    running = Batch([path], store=store, analyze=True, models=False)
    list(running.run())
    assert store.find("s-1") == []
    assert (running.summary.kept_out, running.summary.analyzed) == (1, 0)
    [note] = running.summary.errors
    assert note.note and note.line == 1 and "会话 's-1' 此前已用 zuoxi conversation delete 删除" in str(note)
    store.close()
