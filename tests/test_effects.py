"""技能价值 (issue 23): the intervals, each behaviour's effect with a planted effect and a planted
confounder, training's difference in differences, and the store's scope."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import effects_synth as S
import numpy as np
import pytest

from zuoxi.coaching.cases import builtin_cases
from zuoxi.coaching.library import CaseLibrary
from zuoxi.effects.behaviours import MIN_GROUP, OUTCOMES, Observation, behaviour_effects, observe, suggest_weights
from zuoxi.effects.coaching import Drill, Window, targeted_rules
from zuoxi.effects.report import agent_report, default_windows, effects_report, training_report
from zuoxi.effects.stats import Estimate, mantel_haenszel, mean_difference, newcombe, stratified_mean_difference
from zuoxi.store import Store
from zuoxi.store.effects import LOCAL, observations
from zuoxi.store.queries import ConversationFilter, NotFound
from zuoxi.store.users import Account

LEAD1 = Account(5, "lead1", "team_lead", "售后一组", None, None)


def covers(estimate: Estimate, value: float) -> bool:
    return estimate.low <= value <= estimate.high


# --- the intervals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "counts, low, high",
    [  # Newcombe (1998), Statistics in Medicine 17:873, table II, method 10
        ((56, 70, 48, 80), 0.0524, 0.3339),
        ((9, 10, 3, 10), 0.1705, 0.8090),
        ((6, 7, 2, 7), 0.0582, 0.8062),
        ((5, 56, 0, 29), -0.0381, 0.1926),
    ],
)
def test_newcombe_matches_the_published_intervals(counts, low, high):
    found = newcombe(*counts)
    assert (round(found.low, 4), round(found.high, 4)) == (low, high)


def test_mantel_haenszel_is_the_plain_difference_in_one_stratum_and_covers_the_truth_in_sparse_ones():
    one = mantel_haenszel([(30, 100, 20, 100)])
    assert one.value == pytest.approx(0.1)
    assert (one.high - one.low) / 2 == pytest.approx(1.96 * np.sqrt(0.3 * 0.7 / 100 + 0.2 * 0.8 / 100), rel=1e-3)
    assert mantel_haenszel([(3, 5, 0, 0), (0, 0, 2, 4)]) is None  # no stratum holds both groups
    # 40 strata of 3 + 3 conversations, risks differing by stratum, a common difference of 0.2:
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(400):
        base = rng.uniform(0.05, 0.7, size=40)
        strata = [(int(rng.binomial(3, b + 0.2)), 3, int(rng.binomial(3, b)), 3) for b in base]
        hits += covers(mantel_haenszel(strata), 0.2)
    assert 0.92 <= hits / 400 <= 0.98


def test_bootstrap_differences_of_means_cover_the_truth():
    rng = np.random.default_rng(3)
    hits = sum(
        covers(mean_difference(rng.normal(1.0, 1, 60), rng.normal(0.5, 1, 80), rng, 400), 0.5) for _ in range(150)
    )
    assert 0.9 <= hits / 150 <= 0.99
    # Beyond LARGE values the draws come from the bootstrap's normal limit: still honest on skewed data.
    hits = sum(
        covers(mean_difference(rng.exponential(1.2, 1500), rng.exponential(1.0, 2000), rng, 400), 0.2)
        for _ in range(150)
    )
    assert 0.9 <= hits / 150 <= 0.99
    cells = [(rng.normal(k + 0.3, 1, 40), rng.normal(k, 1, 50)) for k in range(4)]  # level differs by stratum
    assert covers(stratified_mean_difference(cells, rng), 0.3)
    assert stratified_mean_difference([(np.array([1.0]), np.array([]))], rng) is None


# --- behaviours --------------------------------------------------------------------------------------


def _observations(n=2400, seed=7):
    return [observe(c.model_dump(mode="json"), r.model_dump(mode="json"), c.id) for c, r in S.generate(n, seed)]


@pytest.fixture(scope="module")
def effects():
    return {e.behaviour: e for e in behaviour_effects(_observations())}


def test_the_planted_effect_is_recovered_within_its_interval(effects):
    complaint, satisfied = effects["SA-04"].effects["complaint"], effects["SA-04"].effects["p_satisfied"]
    assert covers(complaint.adjusted, S.COMPLAINT_EFFECT) and complaint.adjusted.high < 0
    assert covers(satisfied.adjusted, S.SATISFACTION_EFFECT) and satisfied.adjusted.low > 0
    assert complaint.verdict == satisfied.verdict == "better"
    assert complaint.shown_n + complaint.missed_n == 2400 and complaint.shown_events + complaint.missed_events > 0
    assert effects["SA-04"].effects["csat"].verdict == "better"  # the real label follows P(satisfied) here


def test_stratification_removes_the_planted_confounder(effects):
    """EM-02 is shown mostly in long and angry-opening conversations, which complain more: raw, it
    looks like soothing causes complaints; within strata there is nothing."""
    complaint = effects["EM-02"].effects["complaint"]
    assert complaint.crude.low > 0.1  # the confounded raw difference
    assert covers(complaint.adjusted, 0.0) and complaint.verdict == "unclear"
    assert complaint.strata == 8  # scorecard × channel × topic (2) × length (2) × opening mood (2)
    assert covers(effects["EM-02"].effects["p_satisfied"].adjusted, 0.0)
    assert effects["EM-02"].effects["p_satisfied"].crude.high < -0.1


@pytest.mark.parametrize("behaviour", ["CS-08", "explanations"])
def test_no_effect_is_reported_where_none_was_planted(effects, behaviour):
    for outcome in ("complaint", "p_satisfied", "csat"):
        found = effects[behaviour].effects[outcome]
        assert covers(found.adjusted, 0.0) and found.verdict == "unclear", (behaviour, outcome)
    assert effects["explanations"].kind == "profile" and effects["CS-08"].kind == "rule"


def test_observe_reads_opportunities_outcomes_and_strata():
    conversation = {"channel": "chat", "meta": {"topic": "退款", "csat": "5"}, "turns": [{}] * 5}
    result = {
        "scorecard": "core",
        "findings": [
            {"rule": "SA-04", "name": "时限", "status": "pass"},
            {"rule": "CS-01", "name": "车轱辘", "status": "n/a"},
            {"rule": "ES-01", "name": "投诉", "status": "fail"},
            {"rule": "ES-02", "name": "恶化", "status": "pass"},
        ],
        "skills": {"communication": 0.5, "explanations": 0.0},
        "customer_emotion": [{"turn": 3, "label": "neutral"}, {"turn": 1, "label": "angry"}],
    }
    o = observe(conversation, result)
    assert o.behaviours == {
        "SA-04": True,
        "explanations": False,
    }  # n/a is no opportunity; ES-* and core skills are not behaviours
    assert o.outcomes == {"complaint": 1.0}  # a csat that is not a number is ignored
    assert o.stratum == ("core", "chat", "退款", "4–6轮", "开场愤怒")
    for hostile in (True, 11, -1, float("nan"), [5]):
        assert "csat" not in observe({**conversation, "meta": {"csat": hostile}}, result).outcomes
    assert observe({**conversation, "meta": {"csat": 4}}, result).outcomes["csat"] == 4.0


def test_too_few_conversations_give_counts_but_no_estimate():
    rows = [
        Observation(
            str(i),
            "a",
            None,
            None,
            "core",
            ("s",),
            {"X-01": i < MIN_GROUP - 1},
            {"complaint": float(i % 2)},
            {"X-01": ("x", "rule")},
        )
        for i in range(50)
    ]
    found = behaviour_effects(rows)[0].effects["complaint"]
    assert (found.shown_n, found.missed_n, found.verdict) == (MIN_GROUP - 1, 50 - MIN_GROUP + 1, "too_few")
    assert found.adjusted is None and found.crude is None


def test_suggested_weights_follow_the_evidence_and_keep_the_rest(effects):
    rows = {
        r.rule: r
        for r in suggest_weights(
            list(effects.values()), {"SA-04": -5, "EM-02": -10, "CS-08": -3}, OUTCOMES["complaint"]
        )
    }
    assert rows["SA-04"].suggested == -5 and rows["SA-04"].effect.value > 0  # the only helpful rule keeps the budget
    assert rows["EM-02"].suggested is None and rows["CS-08"].suggested is None
    assert "explanations" not in rows  # no points to compare


# --- the store: scope, one result per conversation ------------------------------------------------------


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    store = Store(str(tmp_path_factory.mktemp("effects") / "effects.db"))
    S.fill(store)
    return store


def test_the_store_gives_the_same_observations_within_scope(filled):
    everyone = observations(filled.engine, LOCAL, ConversationFilter())
    assert len(everyone) == 2400
    team = observations(filled.engine, LEAD1, ConversationFilter())
    assert len(team) == sum(S.AGENTS[o.agent_id] == "售后一组" for o in everyone) and {o.team for o in team} == {
        "售后一组"
    }
    assert (
        observations(filled.engine, LEAD1, ConversationFilter(team="售后二组")) == []
    )  # asking for another team: nothing
    report = effects_report(filled.engine, LOCAL, ConversationFilter(), rounds=300)
    sa04 = next(b for b in report.behaviours if b.behaviour == "SA-04").effects["complaint"]
    assert covers(sa04.adjusted, S.COMPLAINT_EFFECT)
    assert [o.id for o in report.outcomes] == ["complaint", "p_satisfied", "complaint_risk", "csat"]


def test_the_store_counts_a_conversation_scored_twice_once(db_url):
    store = Store(db_url)
    items = S.generate(60, seed=2)
    keys = store.add_conversations((c, "x") for c, _ in items)
    store.save_results(zip(keys, (r for _, r in items)))
    store.save_results(zip(keys, (r.model_copy(update={"scorecard": "ecommerce"}) for _, r in items)))
    found = observations(store.engine, LOCAL, ConversationFilter())
    assert len(found) == 60 and {o.scorecard for o in found} == {"core"}  # the first result stored, as in every list
    assert {o.scorecard for o in observations(store.engine, LOCAL, ConversationFilter(scorecard="ecommerce"))} == {
        "ecommerce"
    }
    store.close()


def test_the_agent_view_ranks_the_gap_that_matters(filled):
    view = agent_report(filled.engine, LOCAL, "A05", ConversationFilter(), "complaint", rounds=300).view
    first = view.behaviours[0]
    assert first.behaviour == "SA-04" and first.potential > 0  # A05 seldom gives a time; others do and complain less
    assert first.agent.rate < 0.35 < 0.5 < first.others.rate
    assert all(b.potential is None for b in view.behaviours[1:])  # nothing else has a clear effect
    with pytest.raises(NotFound):
        agent_report(filled.engine, LEAD1, "A08", ConversationFilter())  # another team's agent


# --- training --------------------------------------------------------------------------------------------


def _training(store, **kw):
    return training_report(store.engine, LOCAL, CaseLibrary(store), S.CASE, Window(*S.BEFORE), Window(*S.AFTER), **kw)


def test_training_effect_is_recovered_and_the_common_trend_removed(filled):
    report = _training(filled)
    everyone = report.groups[0]
    assert everyone.label == "全部" and (everyone.drilled, everyone.controls) == (5, 6)
    assert covers(everyone.did_score, S.TRAINING) and everyone.did_score.low > 0
    assert not covers(everyone.did_score, S.TRAINING + S.TREND)  # the drilled agents' own change counts the trend too
    assert everyone.score_change == pytest.approx(S.TRAINING + S.TREND, abs=1.5)
    assert covers(everyone.did_fail, -0.3) and everyone.did_fail.high < 0
    assert report.excluded == ["A12"]  # drilled long before: in neither group
    assert "SA-02" in report.rules
    drilled = [a for a in report.agents if a.drilled]
    assert {a.agent_id for a in drilled} == set(S.DRILLED)
    assert all(a.attempts == 3 and (a.first_attempt, a.last_attempt) == (60, 90) for a in drilled)
    assert covers(report.attempts_progress, 30.0) and report.trainees_with_progress == 5
    assert {g.label for g in report.groups} == {"全部", "售后一组", "售后二组"}


def test_no_training_effect_is_reported_where_none_was_planted(tmp_path):
    store = Store(str(tmp_path / "null.db"))
    S.fill(store, training=0.0, drilled_fail=0.5)
    everyone = _training(store).groups[0]
    assert covers(everyone.did_score, 0.0) and covers(everyone.did_fail, 0.0)
    store.close()


def test_a_team_lead_sees_their_team_s_drills_only(filled):
    report = training_report(
        filled.engine, LEAD1, CaseLibrary(filled), S.CASE, Window(*S.BEFORE), Window(*S.AFTER), rounds=200
    )
    assert {a.agent_id for a in report.agents} <= {a for a, t in S.AGENTS.items() if t == "售后一组"}
    assert {a.agent_id for a in report.agents if a.drilled} == {"A01", "A02", "A03"}


def test_training_windows_default_to_the_latest_wave_and_are_bounded(filled):
    at = [
        datetime(2026, 9, 1, 3, tzinfo=UTC),
        datetime(2026, 11, 11, 3, tzinfo=UTC),
        datetime(2026, 11, 13, 3, tzinfo=UTC),
    ]
    drills = [Drill("A", at[0], 50, None), Drill("B", at[1], 50, None), Drill("B", at[2], 60, None)]
    before, after = default_windows(drills, ZoneInfo("Asia/Shanghai"))
    assert (before, after) == (
        Window(date(2026, 10, 14), date(2026, 11, 10)),
        Window(date(2026, 11, 14), date(2026, 12, 11)),
    )
    for bad in ((date(2026, 2, 1), date(2026, 1, 1)), (date(1, 1, 1), date(2026, 1, 1))):
        with pytest.raises(ValueError):
            Window(*bad)
    with pytest.raises(ValueError):  # overlapping windows
        training_report(filled.engine, LOCAL, CaseLibrary(filled), S.CASE, Window(*S.AFTER), Window(*S.BEFORE))
    with pytest.raises(NotFound):
        training_report(filled.engine, LOCAL, CaseLibrary(filled), "no-such-case")
    with pytest.raises(ValueError):  # nobody drilled it and no windows given
        training_report(filled.engine, LOCAL, CaseLibrary(filled), "wrong-burger")


def test_a_case_s_targeted_rules_are_those_its_trainer_names():
    case = next(c for c in builtin_cases() if c.id == "refund-runaround")
    rules = targeted_rules(case, {"SA-03", "CP-01", "SA-02", "CS-07", "EM-03", "CP-06"})
    assert rules == ["SA-03", "CP-01", "CS-07", "EM-03", "SA-02", "CP-06"]
    silent = case.model_copy(update={"analysis": "没有写规则编号", "guide": [], "best_solutions": []})
    assert "SA-03" in targeted_rules(silent)  # then the rules its own transcript fails


def test_strata_without_any_event_give_no_interval_rather_than_a_zero_width_one():
    found = mantel_haenszel([(0, 10, 0, 12), (0, 4, 0, 9)])
    assert found.value == 0 and found.low is None and not found.excludes_zero


def test_a_drill_by_a_blank_trainee_is_left_out(tmp_path):
    """canonical_label gives None for a blank trainee: such a drill names no agent (and None would break
    the sorting of agent ids in the training report)."""
    from sqlalchemy.orm import Session

    from zuoxi.store.effects import drills
    from zuoxi.store.tables import TrainingAttempt

    store = Store(str(tmp_path / "blank.db"))
    with Session(store.engine) as session, session.begin():
        for trainee in ("A01", "  "):
            session.add(
                TrainingAttempt(
                    case_id=S.CASE,
                    trainee=trainee,
                    outcome="accepted",
                    score=70,
                    max_score=100,
                    anger=[],
                    turns=[],
                    failed_rules=[],
                    engine="offline",
                    created_at=datetime(2026, 9, 1, tzinfo=UTC),
                )
            )
    assert [d.agent_id for d in drills(store.engine, LOCAL, S.CASE)] == ["A01"]
    store.close()
