"""`zuoxi db upgrade` on SQLite and PostgreSQL: a database from before Alembic (and before the list
columns and stats) upgrades to the latest revision with its lists, totals and dashboard right; a
PostgreSQL schema (`--schema`, $ZUOXI_DB_SCHEMA) holds the tables apart from the rest of the database."""

from __future__ import annotations

import uuid

import pytest
from conftest import as_before_0006
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.engines.local import Batch
from zuoxi.store import Store
from zuoxi.store import queries as Q
from zuoxi.store.migrate import current, head
from zuoxi.store.users import Account

QA = Account(1, "qa", "inspector", None, None, None)
NEW_INDEXES = (
    "ix_results_list_main",
    "ix_results_list_main_team",
    "ix_results_list_main_agent",
    "ix_results_list_scorecard",
    "ix_results_list_scorecard_team",
    "ix_results_list_scorecard_agent",
    "ix_results_main_risk",
    "ix_conversations_unscored",
    "ix_results_main_once",  # over `main`, which the old database lacks
    "ix_results_main_team_risk",  # revision 0009's, over `main` and `team`
    "ix_conversations_unscored_labels",  # over `scored`
)
NEW_COLUMNS = {"results": ("channel", "agent_id", "team", "started_at", "main"), "conversations": ("scored",)}


def make_old(url: str, samples) -> tuple[int, float]:
    """A database as zuoxi made it before Alembic: no version, no list columns, no stats; returns
    the count and average its dashboard showed."""
    store = Store(url)
    for _ in Batch([samples], store=store, analyze=True).run():
        pass
    figures = Q.dashboard(store.engine, QA, Q.ConversationFilter())
    with store.engine.begin() as connection:
        for index in NEW_INDEXES:
            connection.execute(text(f"DROP INDEX IF EXISTS {index}"))
        connection.execute(text("DROP INDEX IF EXISTS ix_conversations_search_grams"))
        for table, columns in NEW_COLUMNS.items():
            for column in columns:
                connection.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        if connection.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE conversations DROP COLUMN search_grams"))
        connection.execute(text("DROP TABLE stats"))
        connection.execute(text("DROP TABLE alembic_version"))
    store.close()
    return figures.count, figures.average


def test_an_old_database_upgrades(db_url, samples):
    count, average = make_old(db_url, samples)
    result = CliRunner().invoke(app, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert f"版本 无 → {head()}" in result.output
    store = Store(db_url, migrate=False)
    assert current(store.engine) == head()
    tables = inspect(store.engine)
    assert set(NEW_INDEXES) <= {i["name"] for i in tables.get_indexes("results")} | {
        i["name"] for i in tables.get_indexes("conversations")
    }
    figures = Q.dashboard(store.engine, QA, Q.ConversationFilter())
    assert (figures.count, figures.average) == (count, average) and figures.trend
    page = Q.list_conversations(store.engine, QA, Q.ConversationFilter(per_page=500))
    assert page.exact and page.total == len(page.items) == count
    assert [i.id for i in Q.list_conversations(store.engine, QA, Q.ConversationFilter(q="漢堡")).items]
    again = CliRunner().invoke(app, ["db", "upgrade", "--db", db_url])
    assert again.exit_code == 0 and f"已是版本 {head()}" in again.output
    store.close()


def test_a_postgresql_schema_keeps_the_tables_apart(postgres_admin, monkeypatch):
    from conftest import POSTGRES_URL

    schema = f"pgscale_{uuid.uuid4().hex[:10]}"
    try:
        result = CliRunner().invoke(app, ["db", "upgrade", "--db", POSTGRES_URL, "--schema", schema])
        assert result.exit_code == 0, result.output
        assert f"（schema {schema}）" in result.output
        with postgres_admin.connect() as connection:
            assert "conversations" in inspect(connection).get_table_names(schema=schema)
        monkeypatch.setenv("ZUOXI_DB_SCHEMA", schema)
        store = Store(POSTGRES_URL)
        with store.engine.connect() as connection:
            assert connection.execute(text("SHOW search_path")).scalar() == schema
        assert current(store.engine) == head()
        store.close()
    finally:
        with postgres_admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def test_the_commands_that_use_the_database_take_its_schema(postgres_admin, samples, monkeypatch):
    """Only `serve` and `db` took `--schema`: `import`, `analyze`, `stats`, `show` and `user add` answered
    没有选项 --schema, and users could be added to a schema's database only through $ZUOXI_DB_SCHEMA."""
    from conftest import POSTGRES_URL

    schema = f"pgcli_{uuid.uuid4().hex[:10]}"
    where = ["--db", POSTGRES_URL, "--schema", schema]
    runner = CliRunner()
    monkeypatch.delenv("ZUOXI_DB_SCHEMA", raising=False)
    monkeypatch.setenv("ZUOXI_PASSWORD", "a-long-password")
    try:
        for args in (
            ["import", str(samples / "complaint_desk.jsonl")],
            ["analyze", str(samples / "callbacks.json"), "--no-models", "--format", "json"],
            ["user", "add", "wang", "--role", "admin"],
        ):
            result = runner.invoke(app, [*args, *where])
            assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["stats", "--format", "json", *where])
        assert result.exit_code == 0 and '"conversations": 15' in result.stdout, result.output
        assert "cp-001" in runner.invoke(app, ["show", "cp-001", *where]).stdout
        with postgres_admin.connect() as connection:
            counted = connection.execute(text(f'SELECT count(*) FROM "{schema}".conversations')).scalar()
            users = connection.execute(text(f'SELECT username FROM "{schema}".users')).scalars().all()
        assert counted == 15 and users == ["wang"]
    finally:
        with postgres_admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.mark.parametrize("name", ["Public", "x;drop", "1abc", "a" * 64])
def test_a_schema_name_is_an_identifier(name):
    result = CliRunner().invoke(app, ["db", "upgrade", "--db", "postgresql+psycopg://u@localhost/x", "--schema", name])
    assert result.exit_code == 2 and "schema 名称" in result.output and "不可用" in result.output


def test_another_applications_database_and_a_newer_zuoxis_are_refused_and_left_as_they_are(tmp_path):
    """A command pointed at another application's SQLite file added zuoxi's 27 tables to it and stamped it, then
    failed on its `users` table for good; one written by a newer zuoxi was an Alembic traceback in every command."""
    import sqlite3

    from zuoxi.store import StoreUnavailable

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("create table users(x text)")
        db.execute("insert into users values ('precious')")
    with pytest.raises(StoreUnavailable, match=r"不是 zuoxi 的数据库.*users"):
        Store(f"sqlite:///{foreign}")
    with sqlite3.connect(foreign) as db:
        assert db.execute("select name from sqlite_master").fetchall() == [("users",)]
    newer = tmp_path / "newer.db"
    Store(f"sqlite:///{newer}").close()
    with sqlite3.connect(newer) as db:
        db.execute("update alembic_version set version_num = '9999'")
    with pytest.raises(StoreUnavailable, match="版本 9999 不是这个 zuoxi 认识的"):
        Store(f"sqlite:///{newer}")


def test_an_older_sqlite_database_gets_ids_that_are_never_reused(tmp_path):
    """Appeal 1, deleted with its conversation, and the next appeal were both appeal 1 to the audit log: SQLite gave
    a deleted row's id again. Revision 0006 rebuilds the tables a deletion takes rows from with AUTOINCREMENT, rows
    and ids kept."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session
    from test_delete import world

    from zuoxi.model import Conversation
    from zuoxi.pipeline import analyze_conversation
    from zuoxi.store import utc_now
    from zuoxi.store.deletion import delete_conversations
    from zuoxi.store.tables import ID_TABLES, AppealRow, ResultRow

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    key_a, key_b = world(store)
    with store.engine.begin() as connection:
        as_before_0006(connection)
        connection.execute(text("UPDATE alembic_version SET version_num = '0005'"))
        before = {name: connection.execute(text(f"SELECT * FROM {name} ORDER BY 1")).all() for name in ID_TABLES}
    store.close()

    store = Store(url)  # upgrades on start
    with store.engine.connect() as connection:
        for name in ID_TABLES:
            made = connection.execute(text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}).scalar()
            assert "AUTOINCREMENT" in made, name
            assert connection.execute(text(f"SELECT * FROM {name} ORDER BY 1")).all() == before[name], name
        last_appeal = connection.execute(text("SELECT max(id) FROM appeals")).scalar()
        last_result = connection.execute(text("SELECT max(pk) FROM results")).scalar()
    assert {i["name"] for i in inspect(store.engine).get_indexes("results")} >= set(NEW_INDEXES[:6])
    delete_conversations(store.engine, [key_a, key_b])  # the highest appeal and result go with them
    conversation = Conversation(
        id="c-1", turns=[{"role": "customer", "text": "在吗"}, {"role": "agent", "text": "不知道"}]
    )
    [key_c] = store.add_conversations([(conversation, "c.jsonl")])
    store.save_results([(key_c, analyze_conversation(conversation, "core", models=False))])
    with Session(store.engine) as session, session.begin():
        [pk] = session.scalars(select(ResultRow.pk).where(ResultRow.conversation_key == key_c)).all()
        appeal = AppealRow(
            result_pk=pk, rule="EM-01", reason="不同意", status="open", agent_user_id=1, created_at=utc_now()
        )
        session.add(appeal)
        session.flush()
        assert pk > last_result and appeal.id > last_appeal
    store.close()


# `deleted_conversations` as revision 0005 created it, written by zuoxi at commit e7fc716 (its model then: the key
# and when); the column `conversation_key` came into the models after 0005 had shipped, and 0005 creates the table
# only where it is missing.
DELETED_CONVERSATIONS_AT_0005 = {
    "sqlite": (
        'CREATE TABLE deleted_conversations ("key" VARCHAR(64) NOT NULL, deleted_at DATETIME NOT NULL, '
        'PRIMARY KEY ("key"))'
    ),
    "postgresql": (
        "CREATE TABLE deleted_conversations (key VARCHAR(64) NOT NULL, "
        "deleted_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (key))"
    ),
}


# The columns of a path or a result's failed items, VARCHAR(1000) before revision 0007.
BOUNDED_BEFORE_0007 = (
    ("conversations", "source"),
    ("imported_files", "path"),
    ("results", "failed_rules"),
    ("campaign_customers", "source"),
    ("campaign_do_not_call", "source"),
)


def make_0005(url: str, samples) -> str:
    """A database that zuoxi of revision 0005 (commit e7fc716) wrote: the bundled complaint desk imported and one of
    its conversations deleted; returns the deleted conversation's key."""
    from zuoxi.store.deletion import delete_conversations

    store = Store(url)
    for _ in Batch([samples / "complaint_desk.jsonl"], store=store).run():
        pass
    with store.engine.connect() as connection:
        gone = connection.execute(text("SELECT key FROM conversations ORDER BY id LIMIT 1")).scalar()
    delete_conversations(store.engine, [gone])
    with store.engine.begin() as connection:
        when = connection.execute(text("SELECT deleted_at FROM deleted_conversations")).scalars().first()
        connection.execute(text("DROP TABLE deleted_conversations"))
        connection.execute(text(DELETED_CONVERSATIONS_AT_0005[connection.dialect.name]))
        connection.execute(
            text('INSERT INTO deleted_conversations ("key", deleted_at) VALUES (:k, :t)'), {"k": gone, "t": when}
        )
        if connection.dialect.name == "sqlite":
            as_before_0006(connection)
        else:
            for table, column in BOUNDED_BEFORE_0007:
                connection.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR(1000)"))
        connection.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    store.close()
    return gone


def test_a_database_of_revision_0005_upgrades_and_keeps_its_deletions_out(db_url, samples):
    """Revision 0005 did not add `deleted_conversations.conversation_key` to the table it had made: on SQLite the
    upgrade failed (no such column: conversation_key) and left the file unopenable; on PostgreSQL it said it had
    upgraded, and every import then failed. Revision 0007 adds the column, filled with the key it was stored under."""
    gone = make_0005(db_url, samples)
    runner = CliRunner()
    result = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert f"版本 0005 → {head()}" in result.output
    engine = Store(db_url, migrate=False).engine
    tables = inspect(engine)
    [column] = [c for c in tables.get_columns("deleted_conversations") if c["name"] == "conversation_key"]
    assert column["nullable"] is False
    assert "ix_deleted_conversations_conversation_key" in {
        i["name"] for i in tables.get_indexes("deleted_conversations")
    }
    with engine.connect() as connection:
        rows = connection.execute(text('SELECT "key", conversation_key FROM deleted_conversations')).all()
    assert [tuple(row) for row in rows] == [(gone, gone)]
    if engine.dialect.name == "postgresql":  # SQLite keeps text of any length in a VARCHAR(1000): left as it is
        for table, name in BOUNDED_BEFORE_0007:
            [column] = [c for c in tables.get_columns(table) if c["name"] == name]
            assert str(column["type"]) == "TEXT", (table, name)
    engine.dispose()
    again = runner.invoke(app, ["import", str(samples / "complaint_desk.jsonl"), "--again", "--db", db_url])
    assert again.exit_code == 0, again.output
    assert "此前已用 zuoxi conversation delete 删除" in again.output and f"readmit {gone[:12]}" in again.output
    store = Store(db_url)
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM conversations WHERE key = :k"), {"k": gone}).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM conversations")).scalar() == 6
    store.close()


def sqlite_snapshot(path) -> tuple[list, dict[str, list]]:
    """A SQLite file's schema and every table's rows, read with the driver alone."""
    import sqlite3

    with sqlite3.connect(path) as db:
        schema = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        tables = [name for kind, name, _ in schema if kind == "table" and not name.startswith("sqlite_")]
        rows = {name: sorted(db.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in tables}
    db.close()
    return schema, rows


def test_a_sqlite_migration_that_fails_midway_leaves_the_database_as_it_was(tmp_path, samples, monkeypatch):
    """pysqlite begins a transaction only before INSERT, UPDATE or DELETE: the CREATE TABLE of revision 0006's rebuild
    of `results` was committed on its own, so an upgrade that failed after it left an empty `_alembic_tmp_results`,
    and every command then failed (table _alembic_tmp_results already exists). The whole upgrade is one transaction."""

    from zuoxi.store import migrate

    path = tmp_path / "old.db"
    make_0005(f"sqlite:///{path}", samples)
    before = sqlite_snapshot(path)

    def fails(*_, **__):
        raise RuntimeError("midway")

    with monkeypatch.context() as patched:
        patched.setattr(migrate, "create_missing_indexes", fails)  # 0006, after its tables are rebuilt
        engine = create_engine(f"sqlite:///{path}")
        with pytest.raises(RuntimeError, match="midway"):
            migrate.upgrade(engine)
        engine.dispose()
    assert sqlite_snapshot(path) == before
    result = CliRunner().invoke(app, ["db", "upgrade", "--db", f"sqlite:///{path}"])
    assert result.exit_code == 0 and f"版本 0005 → {head()}" in result.output, result.output


def test_what_a_failed_sqlite_migration_of_an_older_zuoxi_left_is_dropped(tmp_path, samples):
    """An older zuoxi's failed upgrade left an empty `_alembic_tmp_results`, which the next rebuild of `results` could
    not create again: the file could not be opened by any command. Such a copy is dropped before migrating."""
    import sqlite3

    path = tmp_path / "old.db"
    make_0005(f"sqlite:///{path}", samples)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE _alembic_tmp_results (pk INTEGER NOT NULL, PRIMARY KEY (pk))")
        db.execute("CREATE TABLE _alembic_tmp_elsewhere (x INTEGER)")  # no table of that name: not a copy, kept
    db.close()
    store = Store(f"sqlite:///{path}")
    assert current(store.engine) == head()
    tables = set(inspect(store.engine).get_table_names())
    assert "_alembic_tmp_results" not in tables and "_alembic_tmp_elsewhere" in tables
    store.close()


def test_a_database_of_revision_0008_gets_the_indexes_reads_at_volume_need(db_url, samples):
    """Revision 0009 makes the indexes of `VOLUME_INDEXES` (each on its dialect); an analysed SQLite database gets
    their statistics too, or its planner takes one it knows nothing about over a better one."""
    from zuoxi.store.tables import VOLUME_INDEXES

    store = Store(db_url)
    for _ in Batch([samples / "complaint_desk.jsonl"], store=store, analyze=True).run():
        pass
    sqlite = store.engine.dialect.name == "sqlite"
    with store.engine.begin() as connection:
        for index in VOLUME_INDEXES:
            connection.execute(text(f"DROP INDEX IF EXISTS {index.name}"))
        if sqlite:
            connection.execute(text("ANALYZE"))
        connection.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    store.close()
    result = CliRunner().invoke(app, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 0 and f"版本 0008 → {head()}" in result.output, result.output
    engine = Store(db_url, migrate=False).engine
    tables = inspect(engine)
    made = {
        i["name"]
        for name in ("conversations", "results", "stats", "complaint_alerts")
        for i in tables.get_indexes(name)
    }
    theirs = {"ix_conversations_unscored_labels", "ix_stats_kind_main", "ix_results_scorecard_risk"}
    theirs |= {
        "ix_results_main_team_risk",
        "ix_complaint_alerts_open_newest" if sqlite else "ix_results_conversation_pk",
    }
    assert made & {index.name for index in VOLUME_INDEXES} == theirs
    if sqlite:
        with engine.connect() as connection:
            analysed = set(connection.execute(text("SELECT idx FROM sqlite_stat1")).scalars())
        assert {"ix_stats_kind_main", "ix_results_scorecard_risk", "ix_results_main_team_risk"} <= analysed
    engine.dispose()


def test_an_upgrade_says_so_while_it_runs(tmp_path, caplog):
    """`zuoxi serve` on a large database of an older revision was silent for the upgrade's seconds or minutes, as if
    it hung; an open at the head says nothing."""
    import logging

    from zuoxi.store.tables import VOLUME_INDEXES

    path = tmp_path / "older.db"
    Store(str(path)).close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        for index in VOLUME_INDEXES:
            connection.execute(text(f"DROP INDEX IF EXISTS {index.name}"))
        connection.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    engine.dispose()
    with caplog.at_level(logging.WARNING, logger="zuoxi.store.migrate"):
        Store(str(path)).close()
        assert [r.getMessage() for r in caplog.records] == [
            f"正在把数据库从版本 0008 升级到 {head()}（数据多时可能要几分钟）…"
        ]
        caplog.clear()
        Store(str(path)).close()
        assert caplog.records == []
