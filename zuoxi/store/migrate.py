"""The store's schema versions (Alembic, zuoxi/store/migrations): `zuoxi db upgrade`, and `Store()`
on start-up, bring any database zuoxi ever made to this version's tables.

A new database gets today's tables at once and is stamped with the latest revision; an existing one
runs the revisions it lacks. A database from before Alembic has no version yet: revision 0001 is
what start-up used to do for it (create missing tables, add missing nullable columns and fill them).
Migrations check what exists, so they also bring a database made by `create_all` in step.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, bindparam, create_engine, event, func, inspect, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from zuoxi.store.tables import Base, repair_before_unique_index

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK = 0x7A756F7869  # "zuoxi": one migrating process per PostgreSQL database
_COPY = "_alembic_tmp_"  # the copy of a table Alembic's batch mode rebuilds on SQLite, renamed to the table at its end


def config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    revision = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert revision is not None, "zuoxi ships its migrations: there is always a head revision"
    return revision


@cache  # the package's revisions cannot change while it runs: read once, not at every store's start
def known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions())


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Run the migrations the database lacks, in one transaction (PostgreSQL: while holding a lock,
    so that workers starting together migrate once; SQLite: one that holds the DDL too, `_transactional`): a failed
    migration leaves the database as it was. Returns (revision before, revision after)."""
    migrating = _transactional(engine)
    event.listen(migrating, "before_execute", repair_before_unique_index)
    try:
        return _upgrade(migrating, revision)
    finally:
        event.remove(migrating, "before_execute", repair_before_unique_index)
        if migrating is not engine:
            migrating.dispose()


def _transactional(engine: Engine) -> Engine:
    """The engine to migrate with. SQLite: one of its own on the same file whose transactions hold DDL (SQLAlchemy's
    recipe for pysqlite: the driver begins nothing, the engine emits BEGIN). The driver's own handling begins a
    transaction only before INSERT, UPDATE or DELETE, so a batch rebuild's CREATE TABLE was committed on its own: a
    migration that failed after it left an empty `_alembic_tmp_results`, and every later start failed on it. Only the
    migration's engine: the store's keeps the driver's handling its code was written for. An in-memory database
    (each engine its own) is migrated on the engine given."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine
    migrating = create_engine(engine.url, poolclass=NullPool)
    event.listen(migrating, "connect", _driver_begins_nothing)
    event.listen(migrating, "begin", _emit_begin)
    return migrating


def _driver_begins_nothing(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _emit_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def _drop_leftover_copies(connection: Connection) -> None:
    """SQLite: drop the `_alembic_tmp_<table>` copies a failed migration of an older zuoxi left behind (see
    `_transactional`), which the next batch rebuild of <table> cannot create again. Only where <table> is there: the
    copy holds nothing the table does not."""
    names = set(inspect(connection).get_table_names())
    for name in sorted(names):
        if name.startswith(_COPY) and name.removeprefix(_COPY) in names:
            connection.exec_driver_sql(f'DROP TABLE "{name}"')


def _upgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(_LOCK)))
        if connection.dialect.name == "sqlite":
            _drop_leftover_copies(connection)
        before = MigrationContext.configure(connection).get_current_revision()
        cfg = config(connection)
        if before is not None and before not in known_revisions():
            raise ValueError(f"数据库的版本 {before} 不是这个 zuoxi 认识的（由更新的 zuoxi 写入）：请升级 zuoxi")
        if before is None and not inspect(connection).has_table("conversations"):
            taken = sorted(set(inspect(connection).get_table_names()) & set(Base.metadata.tables))
            if taken:  # another application's database: nothing of it is changed
                raise ValueError(f"不是 zuoxi 的数据库：其中已有同名的表（{', '.join(taken)}），未做任何改动")
            Base.metadata.create_all(connection)  # a new database: today's tables, nothing to migrate
            command.stamp(cfg, revision)
        elif before != head() or revision != "head":
            # on stderr where nothing else is set up for logging: a large database's upgrade takes a while, and a
            # server silent for it looked hung
            log.warning(
                "正在把数据库从版本 %s 升级到 %s（数据多时可能要几分钟）…",
                before,
                head() if revision == "head" else revision,
            )
            command.upgrade(cfg, revision)
        Base.metadata.create_all(connection)  # tables of models that no revision creates yet
        return before, MigrationContext.configure(connection).get_current_revision()


# --- steps the revisions share --------------------------------------------------------------------


def add_missing_columns(connection: Connection) -> list[str]:
    """Add the models' columns a table lacks (all nullable), with the indexes over only those
    columns; returns "table.column" of each added."""
    added = []
    inspector = inspect(connection)
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        missing = [c for c in table.columns if c.name not in have]
        for column in missing:
            kind = column.type.compile(dialect=connection.dialect)
            connection.execute(
                text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")
            )  # names from the models
            added.append(f"{table.name}.{column.name}")
    return added


def create_missing_indexes(connection: Connection, only: Collection[str] | None = None) -> None:
    """Create the models' indexes a table lacks; `only`: of these tables (a revision that rebuilt them), so that a
    revision does not create a later revision's indexes over columns the database does not have yet."""
    inspector = inspect(connection)
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name) or (only is not None and table.name not in only):
            continue
        have = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            postgres_only = index.dialect_options["postgresql"]["using"]  # GIN: the search pairs
            if index.name not in have and not (postgres_only and connection.dialect.name != "postgresql"):
                index.create(connection, checkfirst=False)


def fill_stored_facts(connection: Connection) -> None:
    """The columns an older zuoxi left empty: search text, a result's current facts (as the machine scored it)."""
    from zuoxi.model import Conversation, Result
    from zuoxi.store import result_facts, search_text
    from zuoxi.store.tables import ConversationRow, ResultRow

    with Session(bind=connection) as session:
        for row in session.scalars(select(ConversationRow).where(ConversationRow.search_text.is_(None))):
            row.search_text = search_text(Conversation.model_validate(row.data))
        for result_row in session.scalars(select(ResultRow).where(ResultRow.final_data.is_(None))):
            for name, value in result_facts(Result.model_validate(result_row.data)).items():
                setattr(result_row, name, value)
            result_row.reviewed = False
        session.flush()


def fill_list_columns(connection: Connection) -> None:
    """Results get their conversation's list columns and which is its main one; conversations
    whether they have a result; on PostgreSQL, the search pairs."""
    from zuoxi.store.search import grams_vector
    from zuoxi.store.tables import ConversationRow as C
    from zuoxi.store.tables import ResultRow as R

    def of_conversation(column):
        return select(column).where(C.key == R.conversation_key).scalar_subquery()

    first = select(func.min(R.pk)).where(R.conversation_key == C.key).scalar_subquery()
    connection.execute(
        update(R).values(
            channel=of_conversation(C.channel),
            agent_id=of_conversation(C.agent_id),
            team=of_conversation(C.team),
            started_at=of_conversation(C.started_at),
        )
    )
    other = R.__table__.alias("other")
    connection.execute(
        update(R).values(
            main=R.pk
            == select(func.min(other.c.pk)).where(other.c.conversation_key == R.conversation_key).scalar_subquery()
        )
    )
    connection.execute(update(C).values(scored=first.is_not(None)))
    if connection.dialect.name == "postgresql":
        rows = connection.execute(select(C.key, C.search_text).where(C.search_grams.is_(None))).all()
        for begin in range(0, len(rows), 2000):
            connection.execute(
                update(C).where(C.key == bindparam("k")).values(search_grams=bindparam("g")),
                [{"k": key, "g": grams_vector(text_ or "")} for key, text_ in rows[begin : begin + 2000]],
            )


def fill_username_keys(connection: Connection) -> list[str]:
    """Users without a `username_key` get theirs, oldest first (by id). An older zuoxi let in names that differ only by
    case or width (compared in Python, not by the database): the first keeps the key, each later twin keeps NULL, so
    the unique index holds and they still sign in by their exact name. Returns the usernames left without a key."""
    from zuoxi.store.tables import User
    from zuoxi.store.users import USERNAME_KEY_MAX, username_key

    rows = connection.execute(select(User.id, User.username, User.username_key).order_by(User.id)).all()
    taken = {row.username_key for row in rows if row.username_key is not None}
    keys, twins = [], []
    for row in rows:
        if row.username_key is not None:
            continue
        key = username_key(row.username)
        if key in taken or len(key) > USERNAME_KEY_MAX:
            twins.append(row.username)
            continue
        taken.add(key)
        keys.append({"i": row.id, "k": key})
    if keys:
        connection.execute(update(User).where(User.id == bindparam("i")).values(username_key=bindparam("k")), keys)
    return twins
