"""技能价值 at volume: the store streams the rows and reads no turns, giving the observations the
code before did (kept here, `reference_observations`, as the reference) on SQLite and PostgreSQL;
with no dates the figures cover the recent days (`zuoxi.effects.report.RECENT_DAYS`), and the page,
the API and the command line say which."""

from __future__ import annotations

import json
import tracemalloc
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import null, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.cli import app as cli
from zuoxi.effects.behaviours import Observation, behaviour_effects, observe
from zuoxi.effects.report import RECENT_DAYS, agent_report, effects_report
from zuoxi.model import Conversation, Finding, Result, Satisfaction, TurnEmotion
from zuoxi.store import Store, as_utc, source_zone
from zuoxi.store.effects import LOCAL, observations
from zuoxi.store.queries import ConversationFilter, NotFound, scoped
from zuoxi.store.tables import ConversationRow, ResultRow
from zuoxi.store.users import Account, add_user
from zuoxi.web import create_app

LEAD = Account(5, "lead", "team_lead", "一组", None, None)
TZ = source_zone()
FIRST = datetime(2026, 1, 5, 3, tzinfo=UTC)
RULES = ("EM-01", "EM-02", "SA-04", "CS-08", "ES-01", "ES-02")
METAS = (
    {},
    {"topic": "退款"},
    {"intent": "物流", "csat": 4},
    {"topic": "", "intent": "投诉", "csat": 7.5},
    {"topic": 1.0, "csat": True},
    {"topic": ["改地址"], "csat": 11},
    {"topic": "退款😀" + "长" * 80, "csat": "5"},
    {"topic": {"a": 1}, "csat": None, "other": [1, 2.50, "x"]},
    {"csat": 0},
)


def reference_observations(engine, account: Account, f: ConversationFilter) -> list[Observation]:
    """The store's observations as they were read before: every conversation's full JSON (all turns) and
    both versions of its result, all rows at once."""
    query = scoped(
        select(
            ConversationRow.key,
            ConversationRow.agent_id,
            ConversationRow.team,
            ConversationRow.started_at,
            ConversationRow.data,
            ResultRow.final_data,
            ResultRow.data,
        ).join(ResultRow, ResultRow.conversation_key == ConversationRow.key),
        account,
    ).where(*f.where())
    with Session(engine) as session:
        return [
            replace(
                observe(conversation, final or machine, key),
                agent_id=agent,
                team=team,
                started_at=as_utc(started) if started else None,
            )
            for key, agent, team, started, conversation, final, machine in session.execute(
                query.order_by(ConversationRow.key)
            )
        ]


def varied(n: int, seed: int = 3, dated: bool = True, turns: int = 0) -> list[tuple[Conversation, Result]]:
    """Conversations of every shape the effects read: both channels, lengths in every band, hostile and
    odd `meta`, results with and without each outcome, a rule under two names, a day every other day."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        statuses = rng.choice(["pass", "fail", "n/a"], size=len(RULES), p=[0.5, 0.35, 0.15])
        findings = [
            Finding(
                rule=rule,
                name=f"{rule} 名称{'（改）' if rule == 'SA-04' and i % 7 == 0 else ''}",
                status=status,
                severity="minor",
                message="说明" * (i % 5),
            )
            for rule, status in zip(RULES, statuses)
        ]
        count = turns or int(rng.integers(1, 30))
        conversation = Conversation(
            id=f"v-{i:04d}",
            channel="call" if i % 3 == 0 else "chat",
            agent_id=f"A{i % 7}",
            team="一组" if i % 7 < 4 else "二组",
            started_at=FIRST + timedelta(days=2 * i, hours=int(rng.integers(0, 24))) if dated and i % 11 else None,
            meta=METAS[i % len(METAS)],
            turns=[{"role": "customer" if t % 2 else "agent", "text": f"第{t}句话" * 10} for t in range(count)],
        )
        result = Result(
            conversation_id=conversation.id,
            scorecard="core",
            score=80,
            max_score=100,
            findings=findings,
            customer_emotion=[]
            if i % 5 == 0
            else [
                TurnEmotion(turn=int(t), label=str(rng.choice(["angry", "sad", "neutral"])), score=0.5) for t in (3, 1)
            ],
            satisfaction=None
            if i % 6 == 0
            else Satisfaction(label="neutral", score=0.5, probs={"satisfied": float(rng.random())}),
            complaint_risk=None if i % 4 == 0 else float(rng.random()),
            skills={"emotion_management": 1.0, "explanations": float(rng.integers(0, 2)), "caring_question": 0.5},
        )
        items.append((conversation, result))
    return items


def fill(store: Store, items: list[tuple[Conversation, Result]]) -> None:
    """Store them; then a second result (another scorecard) for some, a reviewed version for others, and a
    never-reviewed one kept as SQL NULL or JSON null, as older writers left it."""
    keys = store.add_conversations((c, "varied") for c, _ in items)
    store.save_results(zip(keys, (r for _, r in items)))
    store.save_results((k, r.model_copy(update={"scorecard": "ecommerce"})) for k, (_, r) in zip(keys[::4], items[::4]))
    with Session(store.engine) as session, session.begin():
        for n, row in enumerate(session.scalars(select(ResultRow).order_by(ResultRow.pk))):
            if n % 3 == 0:
                reviewed = json.loads(json.dumps(row.data))
                reviewed["findings"][2]["status"] = "pass" if reviewed["findings"][2]["status"] != "pass" else "fail"
                row.final_data = reviewed
        session.execute(update(ResultRow).where(ResultRow.pk % 5 == 1).values(final_data=None))
        session.execute(update(ResultRow).where(ResultRow.pk % 5 == 2).values(final_data=null()))


@pytest.fixture
def filled(db_url):
    store = Store(db_url)
    fill(store, varied(240))
    yield store
    store.close()


FILTERS = [
    ConversationFilter(),
    ConversationFilter(scorecard="ecommerce"),
    ConversationFilter(channel="call", team="一组"),
    ConversationFilter(date_from=date(2026, 3, 1), date_to=date(2026, 8, 31)),
]


@pytest.mark.parametrize("f", FILTERS, ids=["all", "scorecard", "channel-team", "dates"])
def test_the_streamed_observations_are_those_read_before(filled, f):
    f = replace(f, tz=TZ)
    for account in (LOCAL, LEAD):
        found = observations(filled.engine, account, f)
        assert found == reference_observations(filled.engine, account, f)
        assert found  # the comparison is over something
    everything = observations(filled.engine, LOCAL, ConversationFilter(tz=TZ))
    assert len({o.stratum[3] for o in everything}) >= 3 and {o.stratum[1] for o in everything} == {"chat", "call"}


def test_the_estimates_are_those_computed_before(filled):
    """The same window gives the same figures, to the last digit, as the observations read before."""
    f = ConversationFilter(date_from=date(2025, 1, 1), date_to=date(2027, 12, 31), tz=TZ)
    report = effects_report(filled.engine, LOCAL, f, rounds=200)
    before = behaviour_effects(reference_observations(filled.engine, LOCAL, f), rounds=200)
    assert [b.model_dump() for b in report.behaviours] == [b.model_dump() for b in before]
    assert report.conversations == 240 - len(range(0, 240, 11)) and not report.recent
    assert {b.behaviour for b in before} >= {"EM-01", "SA-04", "explanations"}


def test_the_turns_are_never_decoded_and_rows_are_read_a_few_at_a_time(tmp_path):
    store = Store(str(tmp_path / "long.db"))
    fill(store, varied(300, turns=200))
    peaks = []
    for read in (reference_observations, observations):
        tracemalloc.start()
        found = read(store.engine, LOCAL, ConversationFilter(tz=TZ))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert len(found) == 300
    before, now = peaks
    assert now * 8 < before, (before, now)
    store.close()


# --- with no dates: the recent days ---------------------------------------------------------------------------


def _days(items) -> list[date]:
    return [c.started_at.astimezone(TZ).date() for c, _ in items if c.started_at]


def test_no_dates_means_the_recent_days_up_to_the_latest_conversation(filled):
    days = _days(varied(240))
    latest = max(days)
    report = effects_report(filled.engine, LOCAL, ConversationFilter(tz=TZ), rounds=100)
    assert report.recent and report.date_to == latest and report.date_from == latest - timedelta(days=RECENT_DAYS - 1)
    assert report.conversations == sum(d >= report.date_from for d in days) < len(days)
    agent = agent_report(filled.engine, LOCAL, "A1", ConversationFilter(tz=TZ), rounds=100)
    assert (agent.recent, agent.date_from, agent.date_to) == (True, report.date_from, report.date_to)
    # explicit dates are kept, one side alone too
    start = date(2026, 2, 1)
    given = effects_report(filled.engine, LOCAL, ConversationFilter(date_from=start, tz=TZ), rounds=100)
    assert not given.recent and (given.date_from, given.date_to) == (start, None)
    assert given.conversations == sum(d >= start for d in days)
    # a team lead's recent days end at their own team's latest conversation
    team = effects_report(filled.engine, LEAD, ConversationFilter(tz=TZ), rounds=100)
    mine = [c.started_at.astimezone(TZ).date() for c, _ in varied(240) if c.started_at and c.team == "一组"]
    assert team.date_to == max(mine)


def test_an_agent_gone_quiet_keeps_a_page_over_their_own_recent_days(db_url):
    """With no dates an agent's page covered the 90 days up to the latest conversation of anyone: an agent who left
    months ago had none there and their page said 404."""
    store = Store(db_url)
    items = varied(240)
    gone = [(c.model_copy(update={"agent_id": "GONE"}), r) for c, r in items[1:6]]  # the first dated days only
    fill(store, items + [(c.model_copy(update={"id": f"g-{c.id}"}), r) for c, r in gone])
    report = agent_report(store.engine, LOCAL, "GONE", ConversationFilter(tz=TZ), rounds=100)
    theirs = max(_days(gone))
    assert report.recent and report.date_to == theirs < max(_days(items))
    assert report.date_from == theirs - timedelta(days=RECENT_DAYS - 1)
    assert report.view.conversations == len(gone)
    store.close()


def test_a_page_for_nobody_says_so_before_reading_the_window(filled, monkeypatch):
    """An unknown agent (a typo, a stale link) read every conversation of the whole range before its 404: 38 s at
    100,000 conversations, a server worker held all along."""
    from zuoxi.effects import report as effects_module

    def no_reading(*_args, **_kwargs):
        raise AssertionError("the observations were read for an agent with no conversation")

    monkeypatch.setattr(effects_module.store, "observations", no_reading)
    for agent, f in (("NOBODY", ConversationFilter(tz=TZ)), ("NOBODY", ConversationFilter(date_from=FIRST.date()))):
        with pytest.raises(NotFound):
            agent_report(filled.engine, LOCAL, agent, f, rounds=100)
    with pytest.raises(NotFound):  # a team lead asking for an agent of another team
        agent_report(filled.engine, LEAD, "A6", ConversationFilter(tz=TZ), rounds=100)


def test_with_no_start_times_every_conversation_counts(tmp_path):
    store = Store(str(tmp_path / "undated.db"))
    fill(store, varied(40, dated=False))
    report = effects_report(store.engine, LOCAL, ConversationFilter(tz=TZ), rounds=100)
    assert (report.recent, report.date_from, report.date_to, report.conversations) == (False, None, None, 40)
    store.close()


def test_the_page_api_and_command_line_say_which_days(tmp_path):
    path = str(tmp_path / "web.db")
    store = Store(path)
    fill(store, varied(240))
    add_user(store.engine, "qa", "correct-horse", "inspector", None, None)
    store.close()
    client = TestClient(create_app(path, models=False))
    assert client.post("/api/login", json={"username": "qa", "password": "correct-horse"}).status_code == 200
    figures = client.get("/api/effects").json()
    start, end = figures["date_from"], figures["date_to"]
    assert figures["recent"] and (date.fromisoformat(end) - date.fromisoformat(start)).days == RECENT_DAYS - 1
    for url in ("/effects", "/effects/agents/A1"):
        page = client.get(url).text
        assert f"只统计最近 {RECENT_DAYS} 天的会话：{start} 至 {end}" in page, url
        assert f'name="date_from" value="{start}"' in page and f'name="date_to" value="{end}"' in page, url
    chosen = client.get("/effects", params={"date_from": "2026-02-01", "date_to": "2026-04-30"}).text
    assert "只统计最近" not in chosen and 'name="date_from" value="2026-02-01"' in chosen
    assert client.get("/api/effects", params={"date_from": "2026-02-01"}).json()["recent"] is False
    printed = CliRunner().invoke(cli, ["effects", "--db", path, "--format", "json", "--rounds", "1000"])
    assert printed.exit_code == 0 and json.loads(printed.stdout) == figures
    table = CliRunner().invoke(cli, ["effects", "--db", path, "--rounds", "100"], env={"COLUMNS": "400"})
    assert table.exit_code == 0 and f"最近 {RECENT_DAYS} 天：{start} 至 {end}" in table.stdout
