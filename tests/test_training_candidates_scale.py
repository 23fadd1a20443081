"""The training page's candidate cases are ranked in the database (ORDER BY … LIMIT over the results' list columns),
not by reading every result: the same candidates as the former ranking in Python, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from zuoxi.coaching.library import Candidate, CaseLibrary
from zuoxi.engines.local import Batch
from zuoxi.model import HIGH_RISK
from zuoxi.store import Store
from zuoxi.store.tables import ConversationRow, ResultRow, TrainingCase


def former_candidates(engine, limit: int | None = None) -> list[Candidate]:
    """The ranking as it was (every result read, ranked in Python), over the results in the order SQLite scanned them
    (the results' own order)."""
    with Session(engine) as session:
        promoted = {key for key in session.scalars(select(TrainingCase.conversation_key)) if key is not None}
        rows = session.execute(
            select(
                ConversationRow.key,
                ConversationRow.id,
                ConversationRow.agent_id,
                ResultRow.score,
                ResultRow.final_score,
                ResultRow.max_score,
                ResultRow.failed_rules,
                ResultRow.complaint_risk,
            )
            .join(ResultRow, ResultRow.conversation_key == ConversationRow.key)
            .order_by(ResultRow.pk)
        ).all()
    weights = {"risk": 0.4, "ES-01": 0.2, "ES-02": 0.2, "CS-01": 0.2, "low_score": 0.3}
    best: dict[str, Candidate] = {}
    for key, cid, agent, machine, final, max_score, failed_rules, complaint_risk in rows:
        if key in promoted:
            continue
        failed = set((failed_rules or "").split())
        score = final if final is not None else machine
        reasons, rank = [], 0.0
        risk = complaint_risk or 0.0
        if risk >= HIGH_RISK:
            reasons.append(f"投诉风险 {risk:.0%}")
            rank += weights["risk"] * risk
        for rule, label in (("ES-01", "投诉/升级"), ("ES-02", "情绪恶化"), ("CS-01", "车轱辘话")):
            if rule in failed:
                reasons.append(label)
                rank += weights[rule]
        if score < 60:
            reasons.append(f"低分 {score:.0f}")
            rank += weights["low_score"] * (1 - score / max(max_score, 1))
        if reasons and rank > best.get(key, Candidate(key, cid, agent, score, None, [], -1)).rank:
            best[key] = Candidate(key, cid, agent, score, complaint_risk, reasons, round(rank, 3))
    return sorted(best.values(), key=lambda c: -c.rank)[:limit]


@pytest.fixture
def varied(db_url, samples):
    """Every sample analysed with its own scorecard and with core (two results a conversation), then their facts
    drawn at random from values that tie often: risks at and around HIGH_RISK or none, the candidate rules and
    another, scores either side of 60, a reviewed score or none, a max score of 100 or 50; the first three
    conversations' results all worth the most, so that the first rows ranked are two of each; one promoted."""
    store = Store(db_url)
    paths = [samples / "complaint_desk.jsonl", samples / "ecommerce_chats.jsonl"]
    for scorecard in (None, "core"):
        for _ in Batch(paths, store=store, analyze=True, scorecard=scorecard, models=False).run():
            pass
    draw = random.Random(20261208)
    with Session(store.engine) as session, session.begin():
        results = session.execute(select(ResultRow.pk, ResultRow.conversation_key).order_by(ResultRow.pk)).all()
        keys = sorted({key for _, key in results})
        for pk, key in results:
            rules = draw.sample(["ES-01", "ES-02", "CS-01", "EM-02"], draw.randint(0, 3))
            facts = {
                "complaint_risk": draw.choice([None, 0.2, 0.49, 0.5, 0.75, 1.0]),
                "score": draw.choice([0.0, 30.0, 59.5, 60.0, 85.0, 100.0]),
                "final_score": draw.choice([None, None, 45.0, 70.0]),
                "max_score": draw.choice([100.0, 100.0, 50.0]),
                "failed_rules": f" {' '.join(rules)} " if rules else " ",
            }
            if key in keys[:3]:
                facts = {"complaint_risk": 1.0, "score": 0.0, "final_score": None, "max_score": 100.0}
                facts["failed_rules"] = " ES-01 ES-02 CS-01 "
            session.execute(update(ResultRow).where(ResultRow.pk == pk).values(**facts))
        session.add(
            TrainingCase(id="promoted", yaml="id: promoted", conversation_key=keys[5], created_at=datetime.now(UTC))
        )
    yield store
    store.close()


def test_the_candidates_are_those_of_the_former_ranking(varied):
    """The same candidates, each as it was, with the same ranks in the same order. Among equal ranks the former order
    was the order the rows happened to be scanned in; now it is the earliest stored result first, so at the limit
    either may be listed, and no other."""
    with Session(varied.engine) as session:
        assert session.scalar(select(ResultRow.pk).limit(1)) and len(session.scalars(select(ResultRow.pk)).all()) > 40
    every = former_candidates(varied.engine)
    assert len({c.rank for c in every}) < len(every)  # ties, which the order among equals decides
    library = CaseLibrary(varied)
    for limit in (1, 3, 5, 10, 20, len(every), 100):
        found, former = library.candidates(limit), every[:limit]
        assert [c.rank for c in found] == [c.rank for c in former], limit
        by_key = {c.key: c for c in every}
        assert all(asdict(c) == asdict(by_key[c.key]) for c in found), limit  # each as it was: reasons, score, risk
        edge = former[-1].rank if former else None
        assert {c.key for c in found if c.rank != edge} == {c.key for c in former if c.rank != edge}, limit
    assert {c.key for c in library.candidates(100)} == {c.key for c in every}  # all of them


def test_the_candidates_are_ranked_in_the_database(varied):
    """Without the results' JSON, and bounded: a LIMIT, never every result brought back to rank in Python."""
    said: list[str] = []

    def heard(conn, cursor, statement, parameters, context, executemany):
        said.append(statement)

    event.listen(varied.engine, "before_cursor_execute", heard)
    try:
        assert len(CaseLibrary(varied).candidates(3)) == 3
    finally:
        event.remove(varied.engine, "before_cursor_execute", heard)
    reads = [s for s in said if "results" in s]
    assert reads and all("LIMIT" in s.upper() for s in reads)
    assert not any("results.data" in s or "final_data" in s for s in said)
