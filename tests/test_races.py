"""Two writers at once on SQLite and PostgreSQL: reviews, appeals and their resolution, an import, analyses, a
deletion, queue items. Each test interleaves the two by hand: the first stops at a chosen point inside its transaction
until the second has finished or waits for a lock the first holds (PostgreSQL says which; SQLite, whose writers wait
in its busy handler, cannot, so there the first goes on after a second). What the second does then depends on the
locks, never on timing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import as_before_0006
from sqlalchemy import event, func, inspect, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.model import Conversation
from zuoxi.pipeline import analyze_conversation
from zuoxi.queues.models import Inspector
from zuoxi.store import Store, races, stats
from zuoxi.store import queries as Q
from zuoxi.store import queues as store_queues
from zuoxi.store import reviews as R
from zuoxi.store.audit import audit_entries
from zuoxi.store.deletion import delete_conversations
from zuoxi.store.tables import (
    MAIN_ONCE,
    OPEN_APPEAL_ONCE,
    AppealRow,
    ConversationRow,
    QueueItemRow,
    ResultRow,
    ResultVersion,
)
from zuoxi.store.users import Account, add_user

PASSWORD = "a-long-password"
NOW = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)
SQLITE_PAUSE = 1.0  # below pysqlite's 5 s busy timeout: the second writer is still waiting when the first goes on


class Interleaved:
    """Run `first` and `second` in two threads: `second` starts once `first` reached `pause()`, and `first` goes on
    from there once `second` has finished or waits for a lock."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.postgresql = engine.dialect.name == "postgresql"
        self.first: threading.Thread | None = None
        self.second: threading.Thread | None = None
        self.second_pid: int | None = None
        self.reached = threading.Event()
        self.second_done = threading.Event()
        self.outcomes: dict[str, Any] = {}
        self.second_waited = False
        event.listen(engine, "checkout", self._checkout)

    def _checkout(self, dbapi_connection, record, proxy) -> None:
        if threading.current_thread() is self.second and self.postgresql:
            self.second_pid = dbapi_connection.info.backend_pid

    def _second_waits(self) -> bool:
        if self.second_pid is None:
            return False
        with self.engine.connect() as connection:
            waiting = connection.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": self.second_pid}
            ).scalar()
        return waiting == "Lock"

    def pause(self) -> None:
        """Called where the first writer stops (once; a no-op in any other thread)."""
        if threading.current_thread() is not self.first or self.reached.is_set():
            return
        self.reached.set()
        deadline = time.monotonic() + (20 if self.postgresql else SQLITE_PAUSE)
        while time.monotonic() < deadline and not self.second_done.is_set():
            if self.postgresql and self._second_waits():
                self.second_waited = True
                return
            time.sleep(0.02)

    def run(self, first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
        def call(name: str, work: Callable[[], Any]) -> None:
            try:
                self.outcomes[name] = work()
            except Exception as error:  # noqa: BLE001 - the outcome the test looks at
                self.outcomes[name] = error
            finally:
                if name == "second":
                    self.second_done.set()

        self.first = threading.Thread(target=call, args=("first", first))
        self.second = threading.Thread(target=call, args=("second", second))
        self.first.start()
        while not self.reached.is_set() and self.first.is_alive():
            time.sleep(0.01)
        assert self.reached.is_set(), f"the first writer never reached its pause: {self.outcomes.get('first')!r}"
        self.second.start()
        self.first.join(60)
        self.second.join(60)
        event.remove(self.engine, "checkout", self._checkout)
        return self.outcomes["first"], self.outcomes["second"]

    def after(self, owner: Any, name: str, monkeypatch) -> None:
        """Pause the first writer just after it called `owner.name`."""
        real = getattr(owner, name)

        def then_pause(*args, **kwargs):
            found = real(*args, **kwargs)
            self.pause()
            return found

        monkeypatch.setattr(owner, name, then_pause)

    def after_statement(self, start: str) -> None:
        """Pause the first writer just after it executed a statement beginning with `start`."""

        def seen(connection, cursor, statement, parameters, context, executemany) -> None:
            if statement.lstrip().upper().startswith(start.upper()):
                self.pause()

        event.listen(self.engine, "after_cursor_execute", seen)


def drift(engine) -> dict:
    """The dashboard's kept figures (zuoxi.store.stats) that differ from the figures recomputed from the results."""
    with engine.connect() as connection:
        kept = stats._kept(connection)
        stats.rebuild(connection)
        fresh = stats._kept(connection)
        connection.rollback()
    return {
        key: (kept.get(key), fresh.get(key))
        for key in kept.keys() | fresh.keys()
        if (kept.get(key) or (0, 0))[0] != (fresh.get(key) or (0, 0))[0]
        or abs((kept.get(key) or (0, 0.0))[1] - (fresh.get(key) or (0, 0.0))[1]) > 1e-6
    }


BAD = Conversation(
    id="c-1",
    agent_id="8",
    team="售后一组",
    turns=[
        {"role": "customer", "text": "我的快递三天了还没到，我要投诉"},
        {"role": "agent", "text": "不知道，你自己去问快递公司"},
    ],
)


@pytest.fixture
def world(db_url):
    """A store with one analysed conversation failing at least two rules of `core`, two inspectors and its agent."""
    store = Store(db_url)
    [key] = store.add_conversations([(BAD, "c.jsonl")])
    result = analyze_conversation(BAD, "core", models=False)
    store.save_results([(key, result)])
    with Session(store.engine) as session:
        pk = session.scalar(select(ResultRow.pk).where(ResultRow.conversation_key == key))
    failed = [f.rule for f in result.findings if f.status == "fail"]
    assert len(failed) >= 2, failed
    people = {
        "qa": add_user(store.engine, "qa", PASSWORD, "inspector"),
        "qa2": add_user(store.engine, "qa2", PASSWORD, "inspector"),
        "agent": add_user(store.engine, "agent8", PASSWORD, "agent", agent_id="8"),
    }
    yield store, key, pk, failed, people
    store.close()


def failed_now(engine, pk: int) -> list[str]:
    with Session(engine) as session:
        return (session.scalar(select(ResultRow.failed_rules).where(ResultRow.pk == pk)) or "").split()


# --- reviews and appeals ------------------------------------------------------------------------------------------


def test_two_reviews_of_one_result_at_once_both_count(world, monkeypatch):
    """Two inspectors overturning two findings of one result at once: both were stored, the score kept only one
    overturn (the second computed it from the decisions it read before the first committed), and the dashboard's
    figures took the machine score away twice."""
    store, _, pk, failed, people = world
    race = Interleaved(store.engine)
    race.after(R, "decisions", monkeypatch)
    first, second = race.run(
        lambda: R.add_review(store.engine, people["qa"], pk, failed[0], "overturn", "一"),
        lambda: R.add_review(store.engine, people["qa2"], pk, failed[1], "overturn", "二"),
    )
    assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
    assert failed[0] not in failed_now(store.engine, pk) and failed[1] not in failed_now(store.engine, pk)
    assert {f.rule: f.status for f in second.findings}[failed[0]] == "pass"  # the second saw the first's
    with Session(store.engine) as session:
        versions = session.scalars(select(ResultVersion.version).where(ResultVersion.result_pk == pk)).all()
    assert sorted(versions) == [0, 1, 2]
    assert drift(store.engine) == {}


def test_an_appeal_resolved_twice_at_once_is_resolved_once(world, monkeypatch):
    """Accepted by one and rejected by another at once, an appeal ended rejected with its finding rescored as
    accepted, and the audit log held both resolutions."""
    store, _, pk, failed, people = world
    appeal = R.add_appeal(store.engine, people["agent"], pk, failed[0], "客户先挂断")
    race = Interleaved(store.engine)
    race.after(store_queues, "hand_on_after_appeal", monkeypatch)
    first, second = race.run(
        lambda: R.resolve_appeal(store.engine, people["qa"], appeal, True, "成立"),
        lambda: R.resolve_appeal(store.engine, people["qa2"], appeal, False, "驳回"),
    )
    assert not isinstance(first, Exception), first
    assert isinstance(second, R.ReviewError) and "这条申诉已经接受" in str(second), second
    with Session(store.engine) as session:
        assert session.scalar(select(AppealRow.status).where(AppealRow.id == appeal)) == "accepted"
    assert failed[0] not in failed_now(store.engine, pk)
    _, entries = audit_entries(store.engine, action="appeal")
    assert sorted(e.action for e in entries if e.entity_id == str(appeal)) == ["appeal.accepted", "appeal.open"]
    assert drift(store.engine) == {}


def test_an_appeal_sent_twice_at_once_is_opened_once(world, monkeypatch):
    """A double-clicked appeal: both requests looked, found no open appeal, and each opened one."""
    store, _, pk, failed, people = world
    race = Interleaved(store.engine)
    race.after(R, "_written", monkeypatch)  # the first has looked for an open appeal, and not yet inserted
    first, second = race.run(
        lambda: R.add_appeal(store.engine, people["agent"], pk, failed[0], "一"),
        lambda: R.add_appeal(store.engine, people["agent"], pk, failed[0], "二"),
    )
    opened = [o for o in (first, second) if isinstance(o, int)]
    refused = [o for o in (first, second) if isinstance(o, R.ReviewError)]
    assert len(opened) == 1 and len(refused) == 1, (first, second)
    assert f"{failed[0]} 已有待处理的申诉" in str(refused[0])
    with Session(store.engine) as session:
        assert session.scalars(select(AppealRow.id).where(AppealRow.status == "open")).all() == opened


def test_the_unique_index_refuses_a_second_open_appeal_in_the_chinese_words(world, monkeypatch):
    """Where the lock is not taken (a writer of another version), the index refuses the second open appeal, and the
    refusal is the one the check gives; a resolved appeal leaves room for a new one."""
    store, _, pk, failed, people = world
    first = R.add_appeal(store.engine, people["agent"], pk, failed[0], "一")

    def looked_before_the_other_inserted(session, result_pk, rule) -> bool:
        return not session.in_transaction()  # none in add_appeal's transaction; the answer to the refusal finds it

    monkeypatch.setattr(R, "_open_appeal", looked_before_the_other_inserted)
    with pytest.raises(R.ReviewError, match="已有待处理的申诉"):
        R.add_appeal(store.engine, people["agent"], pk, failed[0], "二")
    monkeypatch.undo()
    R.resolve_appeal(store.engine, people["qa"], first, False, "驳回")
    assert R.add_appeal(store.engine, people["agent"], pk, failed[0], "再申诉") > first


# --- import, analysis, deletion -----------------------------------------------------------------------------------


def test_one_file_imported_twice_at_once(db_url):
    """Two imports of one file into one database: the second looked, found none of the conversations yet, inserted
    them and failed on the first's (duplicate key value violates unique constraint "conversations_pkey")."""
    store = Store(db_url)
    conversations = [BAD.model_copy(update={"id": f"c-{i}"}) for i in range(3)]
    race = Interleaved(store.engine)
    race.after_statement("INSERT INTO conversations")
    first, second = race.run(
        lambda: store.add_conversations((c, "a.jsonl") for c in conversations),
        lambda: store.add_conversations((c, "a.jsonl") for c in conversations),
    )
    assert first == second and len(first) == 3, (first, second)
    with Session(store.engine) as session:
        assert session.scalar(select(func.count()).select_from(ConversationRow)) == 3
    store.close()


def test_two_analyses_of_one_conversation_at_once_make_one_main_result(db_url):
    """Analyses with different scorecards stored at once each read no earlier result and made theirs the
    conversation's main one: the conversation was counted twice."""
    store = Store(db_url)
    [key] = store.add_conversations([(BAD, None)])
    race = Interleaved(store.engine)
    race.after_statement("INSERT INTO results")
    first, second = race.run(
        lambda: store.save_results([(key, analyze_conversation(BAD, "core", models=False))]),
        lambda: store.save_results([(key, analyze_conversation(BAD, "ecommerce", models=False))]),
    )
    with Session(store.engine) as session:
        mains = session.execute(select(ResultRow.scorecard, ResultRow.main).order_by(ResultRow.pk)).all()
    assert [tuple(row) for row in mains] == [("core", True), ("ecommerce", False)]
    admin = Account(0, "admin", "admin", None, None, None)
    assert Q.dashboard(store.engine, admin, Q.ConversationFilter()).count == 1
    assert drift(store.engine) == {}
    assert first == second == [], (first, second)  # no conversation deleted meanwhile
    store.close()


def test_a_conversation_deleted_while_its_results_are_stored_is_a_note_not_a_crash(db_url):
    """A deletion committing while an analysis stored results of its conversation: the analysis failed (`expected to
    update 1 row(s); 0 were matched` re-analysing, the foreign key on a new result). Now it waits for the deletion and
    says which conversations were deleted meanwhile."""
    store = Store(db_url)
    [key] = store.add_conversations([(BAD, None)])
    store.save_results([(key, analyze_conversation(BAD, "core", models=False))])
    race = Interleaved(store.engine)
    race.after_statement("DELETE FROM conversations")
    again = [(key, analyze_conversation(BAD, s, models=False)) for s in ("core", "ecommerce")]
    first, second = race.run(
        lambda: delete_conversations(store.engine, [key], operator="运维"),
        lambda: store.save_results(again),
    )
    assert [d.key for d in first] == [key], first
    assert second == [key], second
    with Session(store.engine) as session:
        assert session.scalar(select(func.count()).select_from(ResultRow)) == 0
    assert drift(store.engine) == {}
    store.close()


def test_a_conversation_deleted_while_an_analysis_stores_it_goes_with_the_new_results(db_url):
    """The other order: the analysis first, the deletion waiting for it and then taking the new results too (it
    failed on the foreign key of the result it had not seen)."""
    store = Store(db_url)
    [key] = store.add_conversations([(BAD, None)])
    store.save_results([(key, analyze_conversation(BAD, "core", models=False))])
    race = Interleaved(store.engine)
    race.after_statement("INSERT INTO results")
    again = [(key, analyze_conversation(BAD, s, models=False)) for s in ("core", "ecommerce")]
    first, second = race.run(
        lambda: store.save_results(again),
        lambda: delete_conversations(store.engine, [key], operator="运维"),
    )
    assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
    assert [(d.key, sorted(d.scorecards)) for d in second] == [(key, ["core", "ecommerce"])]
    with Session(store.engine) as session:
        assert session.scalar(select(func.count()).select_from(ResultRow)) == 0
        assert session.scalar(select(func.count()).select_from(ConversationRow)) == 0
    assert drift(store.engine) == {}
    assert first == [], first
    store.close()


def deadlock() -> OperationalError:
    import psycopg.errors

    return OperationalError("INSERT INTO stats …", {}, psycopg.errors.DeadlockDetected("deadlock detected"))


def test_a_deletion_and_a_save_that_lost_a_deadlock_run_again(world, monkeypatch):
    """PostgreSQL ends one of two deadlocked transactions (`deadlock detected`): `zuoxi conversation delete` and an
    analysis failed with it; the transaction is run again."""
    store, key, _, _, _ = world
    from zuoxi.queues import alerts
    from zuoxi.store import deletion

    for owner, name in ((deletion, "_keep_out"), (alerts, "raise_alerts")):
        real, calls = getattr(owner, name), []

        def once(*args, real=real, calls=calls, **kwargs):
            calls.append(1)
            if len(calls) == 1:
                raise deadlock()
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, once)
    other = BAD.model_copy(update={"id": "c-2"})
    [key2] = store.add_conversations([(other, None)])
    assert store.save_results([(key2, analyze_conversation(other, "core", models=False))]) == []
    assert [d.key for d in delete_conversations(store.engine, [key])] == [key]
    with Session(store.engine) as session:
        assert session.scalars(select(ResultRow.conversation_key)).all() == [key2]
    assert drift(store.engine) == {}
    assert not races.lost_to_another(OperationalError("x", {}, Exception("database is locked")))


# --- queue items --------------------------------------------------------------------------------------------------


def test_an_item_skipped_and_reassigned_at_once_is_not_reassigned_once_closed(db_url, monkeypatch):
    """A skip and a reassignment of one open item at once both succeeded: the audit log showed queue.skipped, then
    queue.reassign of the closed item."""
    from test_delete import world as delete_world

    store = Store(db_url)
    delete_world(store)
    admin = add_user(store.engine, "admin", PASSWORD, "admin")
    qa2 = add_user(store.engine, "qa2", PASSWORD, "inspector")
    with Session(store.engine) as session:
        item = session.scalar(select(func.min(QueueItemRow.id)))
    race = Interleaved(store.engine)
    race.after(store_queues, "audit", monkeypatch)
    first, second = race.run(
        lambda: store_queues.close_item(store.engine, admin, item, "skipped", "duplicate"),
        lambda: store_queues.reassign_item(store.engine, admin, item, Inspector(qa2.id, "qa2", None, None), None),
    )
    assert (first, second) == (True, False)
    _, entries = audit_entries(store.engine, action="queue")
    assert [e.action for e in entries if e.entity_id == str(item)] == ["queue.skipped"]
    store.close()


# --- older databases: repaired, then kept so -----------------------------------------------------------------------


def test_an_older_database_with_two_main_results_and_two_open_appeals_is_repaired(world):
    """Revision 0008: a conversation with two main results keeps the first as main (the dashboard counts it once), a
    finding with two open appeals keeps the first; then the unique indexes refuse another of either."""
    store, key, pk, failed, people = world
    engine = store.engine
    store.save_results([(key, analyze_conversation(BAD, "ecommerce", models=False))])
    first_appeal = R.add_appeal(engine, people["agent"], pk, failed[0], "一")
    with engine.begin() as connection:
        for index in (MAIN_ONCE, OPEN_APPEAL_ONCE):
            connection.execute(text(f"DROP INDEX {index.name}"))
    with Session(engine) as session, session.begin():  # as an older zuoxi left them, through the session: the
        for row in session.scalars(select(ResultRow).where(ResultRow.scorecard == "ecommerce")):  # figures follow
            row.main = True
        later = AppealRow(
            result_pk=pk, rule=failed[0], reason="二", status="open", agent_user_id=people["agent"].id, created_at=NOW
        )
        session.add(later)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0007'"))
    admin = Account(0, "admin", "admin", None, None, None)
    assert Q.dashboard(engine, admin, Q.ConversationFilter()).count == 2  # counted twice
    store.close()

    store = Store(store.url)  # upgrades on start
    engine = store.engine
    with Session(engine) as session:
        mains = session.execute(select(ResultRow.scorecard, ResultRow.main).order_by(ResultRow.pk)).all()
        open_appeals = session.scalars(select(AppealRow.id).where(AppealRow.status == "open")).all()
    assert [tuple(row) for row in mains] == [("core", True), ("ecommerce", False)]
    assert open_appeals == [first_appeal]
    assert Q.dashboard(engine, admin, Q.ConversationFilter()).count == 1
    assert drift(engine) == {}
    with pytest.raises(IntegrityError, match=r"ix_results_main_once|UNIQUE"), engine.begin() as connection:
        connection.execute(update(ResultRow).where(ResultRow.scorecard == "ecommerce").values(main=True))
    store.close()


def test_an_older_sqlite_database_is_repaired_as_revision_0006_rebuilds_its_tables(tmp_path):
    """Revision 0006 rebuilds SQLite's tables with today's indexes, the unique ones among them, by a table copy that
    fires no index's DDL events: a database of revision 0005 holding two main results could not upgrade."""

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    [key] = store.add_conversations([(BAD, None)])
    store.save_results([(key, analyze_conversation(BAD, s, models=False)) for s in ("core", "ecommerce")])
    with store.engine.begin() as connection:
        connection.execute(text(f"DROP INDEX {MAIN_ONCE.name}"))
    with Session(store.engine) as session, session.begin():
        for row in session.scalars(select(ResultRow)):
            row.main = True
    with store.engine.begin() as connection:
        as_before_0006(connection)
        connection.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    store.close()

    store = Store(url)  # upgrades on start
    with Session(store.engine) as session:
        mains = session.execute(select(ResultRow.scorecard, ResultRow.main).order_by(ResultRow.pk)).all()
    assert [tuple(row) for row in mains] == [("core", True), ("ecommerce", False)]
    assert {MAIN_ONCE.name, OPEN_APPEAL_ONCE.name} <= {
        i["name"] for table in ("results", "appeals") for i in inspect(store.engine).get_indexes(table)
    }
    assert drift(store.engine) == {}
    store.close()


def test_db_rebuild_stats_puts_drifted_figures_right(world):
    store, _, _, _, _ = world
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE stats SET n = n + 3 WHERE kind = 'score'"))
    assert drift(store.engine)
    runner = CliRunner()
    result = runner.invoke(app, ["db", "rebuild-stats", "--db", store.url])
    assert result.exit_code == 0, result.output
    assert "条质检结果重算看板统计" in result.output and "与重算前不同，已更正" in result.output
    assert drift(store.engine) == {}
    again = runner.invoke(app, ["db", "rebuild-stats", "--db", store.url])
    assert again.exit_code == 0 and "与重算前一致" in again.output, again.output
