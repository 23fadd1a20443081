"""What keeps writers that run at once apart: several server workers, an import beside an analysis, a deletion
beside both. Rows are locked before they are read for a write, in one order (conversations by key, then their
results by pk, the dashboard's figures last); a transaction PostgreSQL ends to break a deadlock, or as a
serialization failure, is run again; and what races left behind before the unique indexes that now stop them is
repaired as each index is made (`zuoxi.store.tables`).

SQLite locks the whole database, not rows: there the write lock is taken first, as BEGIN IMMEDIATE would, since
its driver starts a transaction only at the first write and what was read before that may already be stale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, delete, false, func, inspect, select, true, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from zuoxi.store.tables import AppealRow, ConversationRow, ResultRow, StatRow

T = TypeVar("T")
Query = TypeVar("Query", bound=Select)
ATTEMPTS = 3  # of a transaction the database ended to let another go on
LOST = frozenset({"40P01", "40001"})  # PostgreSQL: deadlock detected, serialization failure


def lost_to_another(error: BaseException) -> bool:
    """Whether the database ended the transaction only to let another one go on: run again, it goes through."""
    return isinstance(error, DBAPIError) and getattr(error.orig, "sqlstate", None) in LOST


def retried(work: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """`work` (one whole transaction), run again when the database ended it for another (`lost_to_another`)."""
    for attempt in range(attempts):
        try:
            return work()
        except DBAPIError as error:
            if attempt == attempts - 1 or not lost_to_another(error):
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def insert(dialect: str, model: Any) -> Any:
    """The dialect's INSERT of `model`'s table, whose ON CONFLICT lets writers at once add rows without looking first
    (`on_conflict_do_nothing`, `on_conflict_do_update` with `excluded`): PostgreSQL's and SQLite's both have it."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(model)


def hold_writes(session: Session) -> None:
    """SQLite: take the database's write lock now (a write that changes nothing starts the transaction), so that
    nothing read from here on changes before this transaction commits. Elsewhere nothing: rows are locked one by
    one (`for_update`)."""
    if session.get_bind().dialect.name == "sqlite":
        nothing = update(ConversationRow).where(false()).values(scored=ConversationRow.scored)
        session.execute(nothing.execution_options(synchronize_session=False))


def for_update(session: Session, query: Query, *, deleting: bool = False) -> Query:
    """`query` locking the rows it reads until the transaction ends, for a write that depends on what it reads:
    PostgreSQL FOR NO KEY UPDATE (rows may still be referred to meanwhile), FOR UPDATE when `deleting` them. Order
    the query (by key or pk) so that two writers lock in one order. Run it first in the transaction: the rows are read
    as the last writer committed them."""
    hold_writes(session)
    if session.get_bind().dialect.name == "sqlite":
        return query
    return query.with_for_update(key_share=not deleting)


# --- repairs of what earlier races left behind (run before the unique index that stops them is made) -------------


def keep_one_main(connection: Connection) -> int:
    """Conversations with more than one main result (analyses with different scorecards stored at once): the first
    result (lowest pk) stays main, as it is for every other conversation (`Store.save_results`,
    `migrate.fill_list_columns`); the others become not main, their part of the dashboard's figures moved with them.
    Returns how many changed."""
    from zuoxi.store import source_zone, stats

    r = ResultRow
    twice = select(r.conversation_key).where(r.main == true()).group_by(r.conversation_key).having(func.count() > 1)
    first = select(func.min(r.pk)).where(r.main == true()).group_by(r.conversation_key)
    facts = [getattr(r, name) for name in stats._FACTS]
    rows = connection.execute(
        select(r.pk, *facts).where(r.main == true(), r.conversation_key.in_(twice), r.pk.not_in(first))
    ).all()
    if not rows:
        return 0
    deltas: stats.Deltas = {}
    zone = source_zone()
    for row in rows:
        was = dict(zip(stats._FACTS, row[1:]))
        stats.add(deltas, was, -1, zone)
        stats.add(deltas, {**was, "main": False}, +1, zone)
    pks = [row[0] for row in rows]
    for begin in range(0, len(pks), 500):
        connection.execute(update(r).where(r.pk.in_(pks[begin : begin + 500])).values(main=False))
    if inspect(connection).has_table(StatRow.__tablename__):  # an older database: made and filled later
        stats.apply(connection, deltas)
    return len(pks)


def drop_repeated_open_appeals(connection: Connection) -> int:
    """Findings with more than one open appeal (one appeal sent twice at once, a double click): the first (lowest id)
    stays; the later ones are deleted, each one's reason kept in the audit log's appeal.open entry. Returns how many
    were deleted."""
    a = AppealRow
    first = select(func.min(a.id)).where(a.status == "open").group_by(a.result_pk, a.rule)
    later = list(connection.scalars(select(a.id).where(a.status == "open", a.id.not_in(first))))
    for begin in range(0, len(later), 500):
        connection.execute(delete(a).where(a.id.in_(later[begin : begin + 500])))
    return len(later)
