"""The appeals list pages in SQL, newest first, within the account's scope: each role sees exactly the appeals it
saw when every appeal was read and `may_see` chose among them, now a page at a time, counted, without any result's or
conversation's JSON; on SQLite and PostgreSQL, through the store, the page and the API."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from zuoxi.engines.local import Batch
from zuoxi.store import Store
from zuoxi.store import reviews as stored_reviews
from zuoxi.store.queries import may_see
from zuoxi.store.tables import AppealRow, ConversationRow, ResultRow
from zuoxi.store.users import Account, add_user
from zuoxi.web import create_app

PASSWORD = "appeals-paging-1"
STATUSES = ("open", "accepted", "rejected", None)


@pytest.fixture
def world(db_url, samples):
    """The samples analysed; users of every role, of teams and agents with and without appeals; 90
    appeals of random failed findings, by the agents of their conversations, over a few days, some at the very
    same moment."""
    store = Store(db_url)
    paths = [samples / "complaint_desk.jsonl", samples / "ecommerce_chats.jsonl"]
    for _ in Batch(paths, store=store, analyze=True, models=False).run():
        pass
    engine = store.engine
    accounts = {
        "qa": add_user(engine, "qa", PASSWORD, "inspector"),
        "root": add_user(engine, "root", PASSWORD, "admin"),
        "lead2": add_user(engine, "lead2", PASSWORD, "team_lead", team="售后二组"),
        "lead_complaints": add_user(engine, "lead_complaints", PASSWORD, "team_lead", team="投诉专席"),
        "lead_elsewhere": add_user(engine, "lead_elsewhere", PASSWORD, "team_lead", team="外呼组"),
        "agent07": add_user(engine, "agent07", PASSWORD, "agent", agent_id="07"),
        "agent19": add_user(engine, "agent19", PASSWORD, "agent", agent_id="19"),
        "agent_elsewhere": add_user(engine, "agent_elsewhere", PASSWORD, "agent", agent_id="99"),
    }
    # as an older zuoxi let them be: a team lead without a team, an agent without an agent id (they see nothing)
    accounts["lead_nobody"] = Account(9001, "lead_nobody", "team_lead", None, None, None)
    accounts["agent_nobody"] = Account(9002, "agent_nobody", "agent", None, None, None)
    draw = random.Random(1208)
    start = datetime(2026, 11, 30, 8, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        findings = [
            (pk, rule)
            for pk, failed in session.execute(select(ResultRow.pk, ResultRow.failed_rules).order_by(ResultRow.pk))
            for rule in (failed or "").split()
        ]
        opened = set()
        for n in range(90):
            pk, rule = draw.choice(findings)
            status = draw.choice(["open", "open", "accepted", "rejected"])
            if status == "open" and (pk, rule) in opened:  # one open appeal a finding
                status = "rejected"
            opened.add((pk, rule))
            at = start + timedelta(minutes=draw.randrange(6000), microseconds=draw.randrange(10**6))
            session.execute(
                insert(AppealRow).values(
                    result_pk=pk,
                    rule=rule,
                    reason=f"理由 {n}",
                    status=status,
                    agent_user_id=draw.choice([accounts["agent07"].id, accounts["agent19"].id]),
                    created_at=start if n % 9 == 0 else at,  # ten at the same moment: ordered by id among them
                )
            )
    yield store, accounts
    store.close()


def former(engine, account, status):
    """The ids the list showed before it paged: every appeal read, `may_see` choosing, newest first (and, at the
    same moment, the later appeal first, which the database had left to chance)."""
    with Session(engine) as session:
        rows = session.execute(
            select(AppealRow, ConversationRow)
            .join(ResultRow, ResultRow.pk == AppealRow.result_pk)
            .join(ConversationRow, ConversationRow.key == ResultRow.conversation_key)
        ).all()
    chosen = [a for a, c in rows if may_see(account, c) and (status is None or a.status == status)]
    return [a.id for a in sorted(chosen, key=lambda a: (a.created_at, a.id), reverse=True)]


def walk(engine, account, status, per_page):
    """Every page from the newest by `next`, then back from the last by `prev`."""
    pages = [stored_reviews.list_appeals(engine, account, status, per_page=per_page)]
    while pages[-1].next:
        pages.append(stored_reviews.list_appeals(engine, account, status, after=pages[-1].next, per_page=per_page))
    back = [pages[-1]]
    while back[-1].prev:
        back.append(stored_reviews.list_appeals(engine, account, status, before=back[-1].prev, per_page=per_page))
    return pages, back[::-1]


def test_each_role_pages_through_exactly_what_it_saw(world):
    store, accounts = world
    for name, account in accounts.items():
        for status in STATUSES:
            expected = former(store.engine, account, status)
            pages, back = walk(store.engine, account, status, per_page=7)
            assert [a.id for p in pages for a in p.items] == expected, (name, status)
            assert [[a.id for a in p.items] for p in back] == [[a.id for a in p.items] for p in pages], (name, status)
            assert all(p.total == len(expected) and p.exact for p in pages), (name, status)
            assert all(len(p.items) == 7 for p in pages[:-1]) and pages[0].prev is None
    for somebody in ("lead2", "lead_complaints", "agent07", "agent19"):  # scopes that hold appeals, and
        assert 0 < len(former(store.engine, accounts[somebody], None)) < 90, somebody  # not all of them
    for nobody in ("lead_nobody", "agent_nobody", "lead_elsewhere", "agent_elsewhere"):
        assert former(store.engine, accounts[nobody], None) == [], nobody


def test_a_page_is_bounded_and_reads_no_json(world):
    store, accounts = world
    said: list[str] = []

    def heard(conn, cursor, statement, parameters, context, executemany):
        said.append(statement)

    event.listen(store.engine, "before_cursor_execute", heard)
    try:
        for account in accounts.values():
            page = stored_reviews.list_appeals(store.engine, account, None, per_page=100_000)
            assert len(page.items) <= stored_reviews.MAX_APPEALS_PER_PAGE
    finally:
        event.remove(store.engine, "before_cursor_execute", heard)
    reads = [s for s in said if "appeals" in s]
    assert reads and all("LIMIT" in s.upper() for s in reads)
    assert not any(re.search(r"\b(results|conversations)\.(data|final_data|search_text)\b", s) for s in reads)
    with pytest.raises(ValueError):
        stored_reviews.list_appeals(store.engine, accounts["qa"], None, after="1; DROP TABLE appeals")


def test_the_page_and_the_api_follow_the_cursors(world, db_url):
    store, accounts = world
    app = create_app(db_url)
    lead = TestClient(app)
    assert lead.post("/api/login", json={"username": "lead2", "password": PASSWORD}).status_code == 200
    expected = former(store.engine, accounts["lead2"], None)
    assert len(expected) > stored_reviews.APPEALS_PER_PAGE

    first = lead.get("/appeals", params={"status": ""})
    assert first.status_code == 200 and f"共 {len(expected)} 条" in first.text
    assert '<b aria-current="page">全部</b>' in first.text and 'href="/appeals?status=open">待处理' in first.text
    opened = lead.get("/appeals")  # the open ones by default: that status is the one marked
    assert '<b aria-current="page">待处理</b>' in opened.text and 'href="/appeals?status=">全部' in opened.text
    shown = re.findall(r'<tr id="appeal-(\d+)">', first.text)
    assert [int(i) for i in shown] == expected[: stored_reviews.APPEALS_PER_PAGE]
    following = re.search(r'href="/appeals\?([^"]+)" rel="next">下一页', first.text)
    assert following and 'rel="prev"' not in first.text
    second = lead.get("/appeals?" + following.group(1).replace("&amp;", "&"))
    assert second.status_code == 200 and 'rel="prev">上一页' in second.text
    shown = re.findall(r'<tr id="appeal-(\d+)">', second.text)
    assert [int(i) for i in shown] == expected[stored_reviews.APPEALS_PER_PAGE :][: stored_reviews.APPEALS_PER_PAGE]

    listed, after = [], None
    while True:
        got = lead.get("/api/appeals", params={"status": "", "per_page": 10, **({"after": after} if after else {})})
        assert got.status_code == 200
        body = got.json()
        assert body["total"] == len(expected) and body["total_exact"]
        listed += [a["id"] for a in body["items"]]
        assert all(a["created_at"].endswith("Z") for a in body["items"])
        if not (after := body["next"]):
            break
    assert listed == expected
    assert lead.get("/api/appeals", params={"after": "x"}).status_code == 422
    assert lead.get("/api/appeals", params={"per_page": 100_000}).status_code == 422
    assert lead.get("/appeals", params={"before": "1:1; DROP"}).status_code == 422
    app.state.store.close()
