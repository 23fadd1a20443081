"""The indexes of revision 0009 (`zuoxi.store.tables.VOLUME_INDEXES`) are the ones the reads of a large database take,
on a SQLite database that was never analysed (zuoxi runs no ANALYZE) and on PostgreSQL before ANALYZE: the filter
menus, the dashboard's sums per day, its scorecards over a date range and its riskiest conversations, a queue run's
candidates, the open alerts. Measured on 100,000 conversations in docs/scale.md; here the plans, which do not depend
on the size. And `zuoxi queue alerts list` shows the newest alerts up to `--limit`, saying how many it left out."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import event, text
from typer.testing import CliRunner

from tests.queues_world import MONDAY, WEEK, Spec, add, conversation
from zuoxi.cli import app
from zuoxi.queues.plans import load_plan_file
from zuoxi.store import Store
from zuoxi.store import queries as Q
from zuoxi.store import queues as QQ
from zuoxi.store.users import Account

QA = Account(1, "qa", "inspector", None, None, None)
LEAD = Account(2, "lead", "team_lead", "一组", None, None)


@contextmanager
def statements(engine) -> Iterator[list[tuple[str, object]]]:
    """The SELECT statements (and their parameters) the engine runs inside the block."""
    seen: list[tuple[str, object]] = []

    def grab(_connection, _cursor, statement, parameters, *_):
        if statement.lstrip().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", grab)


def plan_of(engine, seen: list[tuple[str, object]], part: str) -> str:
    """The plan of the one statement in `seen` that contains `part`."""
    [(statement, parameters)] = [(s, p) for s, p in seen if part in s]
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")  # small tables: ask whether an index serves
        rows = connection.exec_driver_sql(explain + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.fixture
def world(tmp_path):
    """A SQLite database never analysed: scored conversations of two teams (some alerting) and two not analysed."""
    store = Store(f"sqlite:///{tmp_path / 'volume.db'}")
    add(
        store,
        *(Spec(f"one-{i}", agent=f"A{i % 3}", risk=0.2 * (i % 5)) for i in range(10)),
        *(Spec(f"two-{i}", agent=f"B{i % 3}", team="二组", risk=0.9) for i in range(5)),
    )
    unscored = [Spec("no-result-1", agent="C1"), Spec("no-result-2", agent="C2", team="二组")]
    store.add_conversations((conversation(s), "queues-test") for s in unscored)
    with store.engine.connect() as connection:
        assert (
            connection.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar() == 0
        )
    yield store
    store.close()


@pytest.mark.parametrize("account", [QA, LEAD], ids=["inspector", "team_lead"])
def test_the_filter_menus_read_the_conversations_not_analysed_from_their_index(world, account):
    """Every list and dashboard page asks for the filter menus: SQLite read every conversation's row for the few not
    analysed (0.4 to 0.9 s on 100,000)."""
    with statements(world.engine) as seen:
        options = Q.filter_options(world.engine, account)
    assert "ix_conversations_unscored_labels" in plan_of(world.engine, seen, "FROM conversations")
    assert {"C1", "C2"} & set(options["agents"]) == ({"C1", "C2"} if account is QA else {"C1"})


def test_the_dashboard_sums_and_riskiest_read_their_indexes(world):
    engine = world.engine
    with statements(engine) as seen:
        Q.dashboard(engine, QA, Q.ConversationFilter())
    assert "ix_stats_kind_main" in plan_of(engine, seen, "GROUP BY stats.day")  # the trend: score cells only
    with statements(engine) as seen:
        Q.dashboard(engine, QA, Q.ConversationFilter(date_from=MONDAY, date_to=MONDAY))
    assert "COVERING INDEX ix_stats_kind_main" in plan_of(engine, seen, "SELECT DISTINCT stats.scorecard")
    with statements(engine) as seen:
        riskiest = Q.dashboard(engine, QA, Q.ConversationFilter(scorecard="core")).risky
    assert "ix_results_scorecard_risk" in plan_of(engine, seen, "ORDER BY results.complaint_risk DESC")
    assert [r.complaint_risk for r in riskiest] == sorted((r.complaint_risk for r in riskiest), reverse=True)
    with statements(engine) as seen:
        riskiest = Q.dashboard(engine, LEAD, Q.ConversationFilter()).risky
    assert "ix_results_main_team_risk" in plan_of(engine, seen, "ORDER BY results.complaint_risk DESC")
    assert riskiest and {r.team for r in riskiest} == {"一组"}


def test_the_open_alerts_are_read_newest_first_from_their_index(world):
    """SQLite took the index over handled_at and sorted every open alert before returning the first 200."""
    with statements(world.engine) as seen:
        QQ.list_alerts(world.engine, QA)
    plan = plan_of(world.engine, seen, "FROM complaint_alerts")
    assert "ix_complaint_alerts_open_newest" in plan and "TEMP B-TREE" not in plan


def test_a_queue_run_finds_each_conversations_first_result_by_index_before_analyze(postgres_admin):
    """Right after a bulk load PostgreSQL has no statistics: it expected hundreds of results per conversation and, for
    each candidate, walked the results in pk order to its first one (a run over 100,000 conversations took minutes)."""
    from conftest import POSTGRES_URL

    store = Store(POSTGRES_URL, schema=f"volume_{uuid.uuid4().hex[:10]}")
    try:
        add(store, Spec("c-1"), Spec("c-2", agent="A2"), Spec("c-3", team="二组"))
        spec, plan_text = load_plan_file("weekly")
        plan_id = QQ.save_plan(store.engine, spec, plan_text, None)
        with statements(store.engine) as seen:
            found = QQ.candidates(store.engine, plan_id, spec.scope, WEEK)
        assert {c.agent_id for c in found} == {"A1", "A2"}
        plan = plan_of(store.engine, seen, "JOIN conversations")
        assert "ix_results_conversation_pk" in plan
        with statements(store.engine) as seen:
            Q.filter_options(store.engine, QA)
        assert "ix_conversations_unscored_labels" in plan_of(store.engine, seen, "FROM conversations")
    finally:
        with postgres_admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{store.schema}" CASCADE'))
        store.close()


def test_the_alerts_list_is_bounded_and_counted(store):
    add(store, *(Spec(f"risky-{i}", risk=0.9, team="一组" if i % 2 else "二组") for i in range(5)))
    newest = QQ.list_alerts(store.engine, QA, limit=2)
    every = QQ.list_alerts(store.engine, QA, "all")
    assert [a.id for a in newest] == [a.id for a in every[:2]] and len(every) == 5
    assert [a.id for a in every] == sorted((a.id for a in every), reverse=True)  # stored at once: newest id first
    assert (QQ.count_alerts(store.engine, QA), QQ.count_alerts(store.engine, LEAD)) == (5, 2)
    assert QQ.count_alerts(store.engine, QA, "handled") == 0 and QQ.open_alert_count(store.engine, LEAD) == 2


def test_zuoxi_queue_alerts_list_says_how_many_it_did_not_show(tmp_path):
    """It asked for 10,000 alerts, took 45 s over 60,000 and cut the rest without a word."""
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    store = Store(url)
    add(store, *(Spec(f"risky-{i}", risk=0.9, day=date(2026, 11, 16)) for i in range(5)))
    store.close()
    runner = CliRunner()
    shown = runner.invoke(app, ["queue", "alerts", "list", "--limit", "2", "--db", url])
    assert shown.exit_code == 0, shown.output
    assert "共 5 条，还有 3 条较早的预警未显示" in shown.stderr and "--limit" in shown.stderr
    assert "投诉预警：2 条（共 5 条）" in shown.stdout
    listed = runner.invoke(app, ["queue", "alerts", "list", "--limit", "2", "--format", "json", "--db", url])
    every = runner.invoke(app, ["queue", "alerts", "list", "--format", "json", "--db", url])
    assert json.loads(listed.stdout) == json.loads(every.stdout)[:2] and "还有 3 条" in listed.stderr
    assert len(json.loads(every.stdout)) == 5 and "未显示" not in every.stderr
    whole = runner.invoke(app, ["queue", "alerts", "list", "--db", url])
    assert whole.exit_code == 0 and "投诉预警：5 条" in whole.stdout and "未显示" not in whole.stderr
    refused = runner.invoke(app, ["queue", "alerts", "list", "--limit", "0", "--db", url])
    assert refused.exit_code == 2
