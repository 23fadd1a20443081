"""Lists and dashboards at scale (issue 19), on SQLite and PostgreSQL: pages by cursor walk the same
list as one long page, totals are bounded, the dashboard's stats equal the figures computed from the
rows through analysis, review and re-analysis, search finds the same on both backends, and the
queries use the indexes made for them."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text

from zuoxi import review
from zuoxi.engines.local import Batch
from zuoxi.model import Conversation, Turn
from zuoxi.store import queries as Q
from zuoxi.store.search import search_clause
from zuoxi.store.tables import ConversationRow
from zuoxi.store.users import Account

QA = Account(1, "qa", "inspector", None, None, None)
LEAD = Account(2, "lead", "team_lead", "售后二组", None, None)
AGENT = Account(3, "a07", "agent", None, "07", None)


@pytest.fixture
def filled(store, samples):
    for _ in Batch([samples], store=store, analyze=True).run():
        pass
    plain = Conversation(
        id="no-result", channel="chat", agent_id="07", team="售后二组", turns=[Turn(role="customer", text="汉堡还没到")]
    )
    store.add_conversations([(plain, None), (replace_id(plain, "no-result-2"), None)])
    return store


def replace_id(conversation: Conversation, new: str) -> Conversation:
    return conversation.model_copy(update={"id": new})


def walk(engine, account, f: Q.ConversationFilter) -> list[str]:
    keys, after = [], None
    while True:
        page = Q.list_conversations(engine, account, replace(f, after=after))
        keys += [i.key for i in page.items]
        if page.next is None:
            return keys
        after = page.next


@pytest.mark.parametrize("account", [QA, LEAD, AGENT], ids=["inspector", "team_lead", "agent"])
def test_cursor_pages_walk_the_whole_list_both_ways(filled, account):
    engine = filled.engine
    whole = Q.list_conversations(engine, account, Q.ConversationFilter(per_page=500))
    everything = [i.key for i in whole.items]
    assert whole.exact and whole.total == len(everything) and whole.next is None
    assert walk(engine, account, Q.ConversationFilter(per_page=3)) == everything
    scores = [i.score for i in whole.items]
    scored = [s for s in scores if s is not None]
    assert scored == sorted(scored) and scores[len(scored) :] == [None] * (len(scores) - len(scored))
    if account is not QA:
        return
    assert "no-result" in {i.id for i in whole.items}  # conversations without a result come last
    last = Q.list_conversations(engine, account, Q.ConversationFilter(per_page=4, page=-(-len(everything) // 4)))
    back, before = [i.key for i in last.items], last.prev
    while before:
        page = Q.list_conversations(engine, account, Q.ConversationFilter(per_page=4, before=before))
        back = [i.key for i in page.items] + back
        before = page.prev
    assert back == everything
    numbered = Q.list_conversations(engine, account, Q.ConversationFilter(per_page=4, page=3))
    assert [i.key for i in numbered.items] == everything[8:12]


def test_a_search_lists_newest_first_and_pages_both_ways(filled):
    engine = filled.engine
    f = Q.ConversationFilter(q="您", per_page=2)
    whole = Q.list_conversations(engine, QA, replace(f, per_page=500))
    expected = [i.key for i in whole.items]
    assert len(expected) > 4 and walk(engine, QA, f) == expected
    assert [i.score for i in whole.items] != sorted(i.score for i in whole.items if i.score is not None)
    last = Q.list_conversations(engine, QA, replace(f, page=-(-len(expected) // 2)))
    back, before = [i.key for i in last.items], last.prev
    while before:
        page = Q.list_conversations(engine, QA, replace(f, before=before))
        back, before = [i.key for i in page.items] + back, page.prev
    assert back == expected


def test_filtered_pages_and_totals_that_count_nothing(filled):
    engine = filled.engine
    f = Q.ConversationFilter(per_page=2, score_max=80)
    expected = [i.key for i in Q.list_conversations(engine, QA, replace(f, per_page=500)).items]
    assert len(expected) > 4 and walk(engine, QA, f) == expected
    first = Q.list_conversations(engine, QA, f)  # a score filter is not in the stats: "more than 2"
    assert (first.total, first.exact) == (2, False) and first.next
    last = Q.list_conversations(engine, QA, replace(f, page=-(-len(expected) // 2)))
    assert (last.total, last.exact) == (len(expected), True) and last.next is None
    assert Q.list_conversations(engine, QA, Q.ConversationFilter(team="售后二组", per_page=2)).exact  # from the stats


def figures(engine, account, f):
    """The dashboard both ways: from the stats, and computed from the rows."""
    kept, computed = asdict(Q.dashboard(engine, account, f)), asdict(Q._dashboard_from_rows(engine, account, f, 0.5))
    for name in ("teams", "agents", "failed_rules"):
        kept[name], computed[name] = sorted(kept[name]), sorted(computed[name])
    for both in (kept, computed):  # the top ten: rules tied at the tenth place may differ
        counts = [n for _, _, n in both["failed_rules"]]
        both["failed_rules"] = (
            sorted(counts),
            sorted(rule for rule, _, n in both["failed_rules"] if n > min(counts, default=0)),
        )
    kept["risky"] = sorted(r["key"] for r in kept["risky"])
    computed["risky"] = sorted(r["key"] for r in computed["risky"])
    return kept, computed


def same(a, b) -> bool:
    """Equal, counts exactly; averages to their rounding (a sum ÷ n may round the other way than a mean)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 0.1 + 1e-9 if max(abs(a), abs(b)) > 1.5 else abs(a - b) <= 0.001 + 1e-9
    return a == b


FILTERS = [
    Q.ConversationFilter(),
    Q.ConversationFilter(team="售後二組"),
    Q.ConversationFilter(agent_id="07"),
    Q.ConversationFilter(channel="call"),
    Q.ConversationFilter(scorecard="core"),
    Q.ConversationFilter(date_from=date(2026, 12, 1), date_to=date(2026, 12, 5)),
]


def test_the_kept_stats_are_the_figures_of_the_rows(filled, samples):
    engine = filled.engine
    assert Q.dashboard(engine, QA, Q.ConversationFilter()).count > 10
    for f in FILTERS:
        for account in (QA, LEAD, AGENT):
            kept, computed = figures(engine, account, f)
            assert same(kept, computed), (f, account, kept, computed)
    # A review changes a score, an accepted appeal another; re-analysis replaces results.
    page = Q.list_conversations(engine, QA, Q.ConversationFilter(failed_rule="CS-01", per_page=2))
    detail = Q.get_conversation(engine, QA, page.items[0].key)
    pk = detail.results[0][0]
    review.review_finding(engine, _inspector(engine), pk, "CS-01", "overturn", "不是问题")
    for _ in Batch([samples], store=filled, analyze=True, resume=False).run():
        pass
    for f in FILTERS[:3]:
        kept, computed = figures(engine, QA, f)
        assert same(kept, computed), (f, kept, computed)
    assert Q.list_conversations(engine, QA, Q.ConversationFilter()).total == len(
        Q.list_conversations(engine, QA, Q.ConversationFilter(per_page=500)).items
    )


def _inspector(engine) -> Account:
    from zuoxi.store.users import add_user

    return add_user(engine, "qa-scale", "correct-horse", "inspector")


def test_dashboard_reads_stats_only_for_what_they_keep(filled):
    assert Q.ConversationFilter().cells(QA) is not None
    assert Q.ConversationFilter(q="汉堡").cells(QA) is None
    assert Q.ConversationFilter(score_min=60).cells(QA) is None
    assert Q.ConversationFilter(tz=UTC).cells(QA) is None  # stats count days in the store's zone
    other = Q.ConversationFilter(team="售前一组").cells(LEAD)
    assert other.empty and Q.dashboard(filled.engine, LEAD, Q.ConversationFilter(team="售前一组")).count == 0


@pytest.mark.parametrize("query", ["汉堡", "漢堡", "退", "经理", "没有这个词语"])
def test_search_finds_the_substring_on_both_backends(filled, query):
    from zuoxi.normalize import normalize_text

    engine = filled.engine
    found = {i.key for i in Q.list_conversations(engine, QA, Q.ConversationFilter(q=query, per_page=500)).items}
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT key, search_text FROM conversations")).all()
    assert found == {key for key, body in rows if normalize_text(query) in body}


def plan(engine, query) -> str:
    with engine.connect() as connection:
        connection.execute(text("SET enable_seqscan = off"))  # small tables: ask whether an index can serve
        compiled = query.compile(engine)
        return "\n".join(connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars())


def test_postgresql_plans_use_the_list_and_search_indexes(postgres_admin, samples, tmp_path):
    from conftest import POSTGRES_URL

    from zuoxi.store import Store

    store = Store(POSTGRES_URL, schema=f"pgscale_plan_{datetime.now().strftime('%H%M%S%f')}")
    try:
        for _ in Batch([samples], store=store, analyze=True).run():
            pass
        engine = store.engine
        listed = (
            Q._scored(QA, Q.ConversationFilter(team="售后二组"), "postgresql").order_by(*Q._order("s", False)).limit(50)
        )
        assert "ix_results_list_main_team" in plan(engine, listed)
        searched = select(ConversationRow.key).where(search_clause("漢堡", "postgresql"))
        assert "ix_conversations_search_grams" in plan(engine, searched)
        with engine.connect() as connection:
            assert len(connection.execute(searched).all()) == 2
    finally:
        with postgres_admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{store.schema}" CASCADE'))
        store.close()


def test_a_role_without_its_scope_sees_what_its_list_shows(filled):
    """A team lead with no team, an agent with no agent id: the conversations with none (as the lists
    always had it), never everything, and no other team's figures by asking for them."""
    for account in (
        Account(4, "lost-lead", "team_lead", None, None, None),
        Account(5, "lost-agent", "agent", None, None, None),
    ):
        listed = Q.list_conversations(filled.engine, account, Q.ConversationFilter(per_page=500))
        everything = Q.list_conversations(filled.engine, QA, Q.ConversationFilter(per_page=500))
        assert listed.total < everything.total
        kept, computed = figures(filled.engine, account, Q.ConversationFilter())
        assert same(kept, computed)
        assert Q.dashboard(filled.engine, account, Q.ConversationFilter(team="售后二组", agent_id="07")).count == 0
