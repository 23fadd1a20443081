"""The dashboard of a filter the kept stats do not keep (a score, a failed item, a search, another display zone), on
SQLite and PostgreSQL: summed by the database, it gives the figures the dashboard computed from every result row
(kept below as the reference), through reviews that change scores and vetoes, second scorecards, several teams and
agents, days either side of midnight in four zones; and it holds sums, never the results' documents."""

from __future__ import annotations

import tracemalloc
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from statistics import mean
from zoneinfo import ZoneInfo

import pytest
from conftest import POSTGRES_URL
from sqlalchemy import Text, cast, func, select, text
from sqlalchemy.orm import Session

from zuoxi import review
from zuoxi.engines.local import Batch
from zuoxi.rules.engine import CORE_SKILLS
from zuoxi.store import Store, as_utc
from zuoxi.store import queries as Q
from zuoxi.store.tables import ConversationRow, ResultRow
from zuoxi.store.users import Account, add_user

QA = Account(1, "qa", "inspector", None, None, None)
LEAD = Account(2, "lead", "team_lead", "售后二组", None, None)
AGENT = Account(3, "a07", "agent", None, "07", None)

AGENTS = ["07", "8", "21", "35", None]
TEAMS = {"07": "售后二组", "8": "售后一组", "21": "售后二组", "35": "投诉专席", None: None}
MOMENTS = [  # either side of midnight in Shanghai, New York (the day its clocks go back) and Kolkata (+05:30)
    datetime(2026, 11, 30, 15, 59, 59, 999000, tzinfo=UTC),
    datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 3, 59, tzinfo=UTC),
    datetime(2026, 11, 1, 4, 0, tzinfo=UTC),
    datetime(2026, 11, 2, 4, 59, 59, tzinfo=UTC),
    datetime(2026, 11, 2, 5, 0, tzinfo=UTC),
    datetime(2026, 12, 5, 18, 29, 59, tzinfo=UTC),
    datetime(2026, 12, 5, 18, 30, tzinfo=UTC),
    datetime(2026, 12, 6, 9, 0, tzinfo=UTC),
]
COPIES = 4


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def varied(request, samples, tmp_path_factory):
    """The samples analysed, most a second time with the core scorecard (results that are not the main one), each
    copied under other agents, teams and times; reviews then overturn vetoes, failed items and passed ones. Built
    once per backend: the tests only read it."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'zuoxi.db'}")
        yield _fill(store, samples)
        store.close()
        return
    admin = request.getfixturevalue("postgres_admin")
    schema = f"zuoxi_dash_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = Store(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        yield _fill(store, samples)
    finally:
        store.close()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def _fill(store: Store, samples) -> Store:
    for scorecard in (None, "core"):
        for _ in Batch([samples], store=store, analyze=True, scorecard=scorecard, resume=False).run():
            pass
    with Session(store.engine) as session:
        order = session.execute(select(ResultRow.conversation_key, ResultRow.scorecard).order_by(ResultRow.pk)).all()
    originals = store.conversations(sorted({key for key, _ in order}))
    results = store.results_of(list(originals))
    for copy in range(COPIES):
        copies = {}
        for i, (key, conversation) in enumerate(sorted(originals.items())):
            agent = AGENTS[(i + copy) % len(AGENTS)]
            copies[key] = conversation.model_copy(
                update={
                    "id": f"{conversation.id}-copy{copy}",
                    "agent_id": agent,
                    "team": TEAMS[agent],
                    "started_at": MOMENTS[(i * COPIES + copy) % len(MOMENTS)] if i % 7 else None,
                }
            )
        new_keys = dict(zip(copies, store.add_conversations([(c, None) for c in copies.values()])))
        store.save_results(  # in the order the originals' were stored: the first is the main one
            (new_keys[key], results[key, scorecard].model_copy(update={"conversation_id": copies[key].id}))
            for key, scorecard in order
        )
    _review(store.engine)
    return store


def _review(engine) -> None:
    inspector = add_user(engine, "qa-dash", "correct-horse", "inspector")
    with Session(engine) as session:
        rows = session.scalars(select(ResultRow).order_by(ResultRow.pk)).all()
        findings = [(row.pk, f) for row in rows for f in row.data["findings"]]
    vetoed = [(pk, f["rule"]) for pk, f in findings if f["status"] == "fail" and f["severity"] == "veto"]
    failed = [(pk, f["rule"]) for pk, f in findings if f["status"] == "fail" and f["severity"] != "veto"][::9][:10]
    passed = [(pk, f["rule"]) for pk, f in findings if f["status"] == "pass" and f["points"] < 0][::40][:4]
    assert len(vetoed) > 2
    for pk, rule in [vetoed[0], vetoed[-1], *failed, *passed]:
        review.review_finding(engine, inspector, pk, rule, "overturn", "复核改判")


def reference(engine, account, f, risk_threshold):
    """How the dashboard computed the figures of such a filter before: every matching result row loaded.
    Only its ties are broken as the kept stats break them (teams, agents, items by name, risk by result)."""
    query = Q.scoped(
        select(
            ConversationRow.key,
            ConversationRow.id,
            ConversationRow.agent_id,
            ConversationRow.team,
            ConversationRow.started_at,
            ConversationRow.channel,
            ResultRow,
        ).join(ResultRow, ResultRow.conversation_key == ConversationRow.key),
        account,
    ).where(*f.where())
    with Session(engine) as session:
        rows = session.execute(query).all()
    scores = [r.ResultRow.final_score for r in rows if r.ResultRow.final_score is not None]
    by_day: dict[str, list[float]] = defaultdict(list)
    by_team: dict[str, list[float]] = defaultdict(list)
    by_agent: dict[str, list[float]] = defaultdict(list)
    skills: dict[str, list[float]] = defaultdict(list)
    profiles: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    failed: Counter[str] = Counter()
    names: dict[str, str] = {}
    satisfaction: Counter[str] = Counter()
    risky = []
    for row in rows:
        res = row.ResultRow
        score = res.final_score if res.final_score is not None else res.score
        if row.started_at:
            by_day[as_utc(row.started_at).astimezone(f.tz).date().isoformat()].append(score)
        by_team[row.team or "—"].append(score)
        by_agent[row.agent_id or "—"].append(score)
        data = res.final_data or res.data
        for name, value in (data.get("skills") or {}).items():
            profiles[row.agent_id or "—"][name].append(value)
            if name in Q.CORE_SKILLS:
                skills[name].append(value)
        for finding in data.get("findings", []):
            if finding["status"] == "fail":
                failed[finding["rule"]] += 1
                names[finding["rule"]] = finding["name"]
        if res.satisfaction:
            satisfaction[res.satisfaction] += 1
        if (res.complaint_risk or 0) >= risk_threshold:
            risky.append(row)
    risky.sort(key=lambda r: (-(r.ResultRow.complaint_risk or 0), -r.ResultRow.pk))
    with Session(engine) as session:
        risky_listed = [_listed(session.get_one(ConversationRow, r.key), r.ResultRow) for r in risky[:20]]

    def averages(groups):
        return sorted(((k, len(v), round(mean(v), 1)) for k, v in groups.items()), key=lambda x: (x[2], x[0]))

    return Q.Dashboard(
        count=len(rows),
        average=round(mean(scores), 1) if scores else None,
        vetoes=sum(bool((r.ResultRow.final_data or r.ResultRow.data).get("veto")) for r in rows),
        bands=[(label, sum(lo <= s < hi for s in scores)) for lo, hi, label in Q.SCORE_BANDS],
        trend=[(day, round(mean(v), 1), len(v)) for day, v in sorted(by_day.items())],
        failed_rules=[(rule, names[rule], n) for rule, n in sorted(failed.items(), key=lambda x: (-x[1], x[0]))[:10]],
        risky=risky_listed,
        high_risk=len(risky),
        teams=averages(by_team),
        agents=averages(by_agent),
        skills={k: round(mean(v), 3) for k, v in skills.items()},
        profiles={a: {k: round(mean(v), 3) for k, v in p.items()} for a, p in profiles.items()},
        satisfaction=dict(satisfaction),
    )


def _listed(c: ConversationRow, r: ResultRow) -> Q.ListedConversation:
    return Q.ListedConversation(
        key=c.key,
        id=c.id,
        channel=c.channel,
        agent_id=c.agent_id,
        team=c.team,
        started_at=c.started_at,
        scorecard=r.scorecard,
        machine_score=r.score,
        score=r.final_score,
        max_score=r.max_score,
        veto=bool(r.veto),
        failed_rules=(r.failed_rules or "").split(),
        complaint_risk=r.complaint_risk,
        satisfaction=r.satisfaction,
        reviewed=bool(r.reviewed),
    )


FILTERS = [
    Q.ConversationFilter(score_min=0),
    Q.ConversationFilter(score_max=80),
    Q.ConversationFilter(q="您"),
    Q.ConversationFilter(q="退款", team="售后二组"),
    Q.ConversationFilter(failed_rule="CS-07"),
    Q.ConversationFilter(risk_min=0.5),
    Q.ConversationFilter(scorecard="core", score_min=50),
    Q.ConversationFilter(channel="call", score_max=90),
    Q.ConversationFilter(tz=UTC),
    Q.ConversationFilter(tz=ZoneInfo("America/New_York")),
    Q.ConversationFilter(tz=ZoneInfo("Asia/Kolkata"), date_from=date(2026, 11, 1), date_to=date(2026, 12, 5)),
    Q.ConversationFilter(tz=ZoneInfo("America/New_York"), agent_id="07", failed_rule="CS-08"),
]


@pytest.mark.parametrize("account", [QA, LEAD, AGENT], ids=["inspector", "team_lead", "agent"])
def test_the_summed_figures_are_those_of_every_row(varied, account):
    engine = varied.engine
    with Session(engine) as session:
        assert session.scalar(select(func.count()).where(ResultRow.reviewed)) >= 10
        assert session.scalar(select(func.count()).where(ResultRow.main.is_not(True))) > 10
    shown = Counter()
    for f in FILTERS:
        expected = asdict(reference(engine, account, f, 0.5))
        assert asdict(Q.dashboard(engine, account, f)) == expected, f
        assert asdict(Q._dashboard_from_rows(engine, account, f, 0.5)) == expected, f
        shown.update(count=expected["count"], vetoes=expected["vetoes"], trend=len(expected["trend"]))
    assert shown["count"] > 100 and shown["trend"] > 20 and (shown["vetoes"] > 0 or account is not QA)


def test_the_trend_counts_the_days_of_the_zone_asked_for(varied):
    engine = varied.engine
    days = {
        zone: {day: n for day, _, n in Q.dashboard(engine, QA, Q.ConversationFilter(tz=ZoneInfo(zone))).trend}
        for zone in ("Asia/Shanghai", "UTC", "America/New_York", "Asia/Kolkata")
    }
    assert days["Asia/Shanghai"]["2026-12-01"] > days["UTC"].get("2026-12-01", 0)  # 16:00 UTC: midnight in Shanghai
    assert days["Asia/Kolkata"]["2026-12-06"] > days["UTC"]["2026-12-06"]  # 18:30 UTC: midnight in Kolkata
    assert days["America/New_York"]["2026-10-31"] > days["UTC"].get("2026-10-31", 0)  # 04:00 UTC, 05:00 from Nov 1
    assert len({sum(d.values()) for d in days.values()}) == 1  # every conversation with a time, on one day


def test_the_dashboard_holds_sums_not_the_results(varied):
    """Memory for groups and one chunk of skills: the reference held every matching result's documents."""
    engine = varied.engine
    f = Q.ConversationFilter(score_min=0)
    Q.dashboard(engine, QA, f)  # scorecards compiled, statements cached: what a warm server has
    tracemalloc.start()
    try:
        figures = Q.dashboard(engine, QA, f)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with Session(engine) as session:
        documents = session.scalar(select(func.sum(func.length(cast(ResultRow.data, Text)))).where(ResultRow.main))
    assert figures.count > 200
    assert peak < documents / 2, (peak, documents)


def test_a_search_counts_what_the_list_shows(varied):
    """The dashboard of a search is the list's conversations (a pasted id finds its conversation in both)."""
    engine = varied.engine
    for f in (Q.ConversationFilter(q="您"), Q.ConversationFilter(q="退款", team="售后二组")):
        listed = Q.list_conversations(engine, QA, replace(f, per_page=500))
        assert Q.dashboard(engine, QA, f).count == len(listed.items) > 0
    ident = listed.items[0].id
    assert Q.dashboard(engine, QA, Q.ConversationFilter(q=ident)).count == 1


def test_the_risk_card_counts_every_risky_conversation_and_the_skills_keep_their_order(varied):
    """The 投诉风险 card showed how many the riskiest list holds (never over 20, 20 of 20,400 at volume), and the skill
    cards changed places with the filter (kept figures and summed ones came in different orders)."""
    with Session(varied.engine) as session:
        risky = session.scalar(select(func.count()).where(ResultRow.main.is_(True), ResultRow.complaint_risk >= 0.0))
    assert risky > 20
    for f in (Q.ConversationFilter(), Q.ConversationFilter(score_min=0)):
        figures = Q.dashboard(varied.engine, QA, f, risk_threshold=0.0)
        assert figures.high_risk == risky and len(figures.risky) == 20
        assert list(figures.skills) == list(CORE_SKILLS)
