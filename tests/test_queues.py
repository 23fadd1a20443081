"""Sampling plans, runs, assignment and queue items (zuoxi.queues): plans select what they say, the
random share is uniform and untouched by targeting, quotas and limits hold across runs, assignment
never gives an inspector their own team or an agent whose appeal they resolved, due dates and
overdue items, finishing and skipping, and rule precision from the random share."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta

import pytest
from typer.testing import CliRunner

from tests.queues_world import MONDAY, TZ, WEEK, Spec, add, candidate
from zuoxi.queues import items as I
from zuoxi.queues.assignment import Load, Policy, assign
from zuoxi.queues.models import Inspector, Taken
from zuoxi.queues.plans import PlanError, load_plan_file, parse_plan
from zuoxi.queues.precision import precision_by_share
from zuoxi.queues.sampling import run_due, run_plan, select
from zuoxi.review import appeal_finding, resolve_appeal, review_finding
from zuoxi.store import queues as Q
from zuoxi.store.users import add_user, get_account

SATURDAY = MONDAY + timedelta(days=5)


def plan(text: str):
    return parse_plan(text, "test.yaml")


def stored_plan(engine, text: str) -> str:
    spec = plan(text)
    Q.save_plan(engine, spec, text, None)
    return spec.id


def user(engine, name: str, role: str = "inspector", team: str | None = None, agent_id: str | None = None):
    return add_user(engine, name, "password-1", role, team, agent_id)


# --- plans as data ----------------------------------------------------------------------------------------


def test_plan_problems_name_the_file_and_line_in_chinese(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "id: bad\nname: 坏计划\nrandom: {share: 1.5}\nrules:\n  - id: low\n    kind: score_band\n"
        "  - id: x\n    kind: nope\n  - id: random\n    kind: veto\nassignment:\n  method: lottery\n",
        encoding="utf-8",
    )
    with pytest.raises(PlanError) as raised:
        load_plan_file(path)
    problems = raised.value.problems
    assert f"{path}:3: random.share: 不能大于 1.0" in problems
    assert f"{path}:5: rules.0: 分数段至少要有 min 或 max" in problems
    assert any(p.startswith(f"{path}:7: rules.1: 未知的规则类型 nope") for p in problems)
    assert f"{path}:9: rules.2.id: 规则 id 不能是 random（保留给随机抽样）" in problems
    assert any(p.startswith(f"{path}:12: assignment.method: 未知的分配方式 lottery") for p in problems)
    with pytest.raises(PlanError, match=r"p\.yaml:2: 不是有效的 YAML"):
        parse_plan("id: x\nname: a: b\n", "p.yaml")
    with pytest.raises(PlanError, match="不认识这个字段"):
        parse_plan("id: x\nname: 计划\nrules:\n  - {id: a, kind: veto, maximum: 3}\n", "p.yaml")


def test_the_bundled_plan_loads():
    spec, _text = load_plan_file("weekly")
    assert spec.id == "weekly" and spec.random.share == 0.1 and spec.quota.per_agent == 5
    assert [r.kind for r in spec.rules] == [
        "veto",
        "complaint_risk",
        "score_band",
        "failed_rules",
        "model_disagreement",
        "new_agents",
    ]
    assert [r.title for r in spec.rules][2:4] == ["低于 60 分", "未先安抚情绪"] and spec.random.title == "随机抽样"


# --- what each rule selects -------------------------------------------------------------------------------

POOL = [
    candidate(1, score=40),
    candidate(2, score=75, veto=True),
    candidate(3, score=85, failed={"EM-02"}),
    candidate(4, score=95, risk=0.9),
    candidate(5, score=95, failed={"ES-01"}),
    candidate(6, score=50, satisfaction="satisfied"),
    candidate(7, score=95, satisfaction="dissatisfied"),
    candidate(8, score=95, satisfaction="satisfied"),
    candidate(9, agent="NEW", score=92, since=datetime.combine(MONDAY - timedelta(days=10), time(9), TZ)),
    candidate(10, agent="OLD", score=92, since=datetime.combine(MONDAY - timedelta(days=100), time(9), TZ)),
]


@pytest.mark.parametrize(
    "rule,expected",
    [
        ("{kind: score_band, max: 60}", {1, 6}),
        ("{kind: score_band, min: 70, max: 90}", {2, 3}),
        ("{kind: veto}", {2}),
        ("{kind: failed_rules, rules: [EM-02, CS-01]}", {3}),
        ("{kind: complaint_risk, min: 0.8}", {4}),
        ("{kind: complaint_risk, min: 0.8, rules: [ES-01]}", {4, 5}),
        ("{kind: model_disagreement}", {6, 7}),
        ("{kind: new_agents, days: 30}", {9}),
    ],
)
def test_each_rule_selects_what_it_says(rule, expected):
    spec = plan(f"id: p\nname: 计划\nrules:\n  - {{id: r, {rule[1:]}\n")
    picks = select(spec, POOL, WEEK, seed=1)
    assert {p.candidate.result_pk for p in picks} == expected
    assert {(p.criterion, p.kind) for p in picks} == {("r", spec.rules[0].kind)}


def test_the_first_rule_in_order_is_recorded_and_priorities_hold():
    spec = plan(
        "id: p\nname: 计划\nrules:\n  - {id: veto, kind: veto, name: 否决项}\n"
        "  - {id: low, kind: score_band, max: 80, limit: 2}\n"
    )
    picks = select(spec, POOL, WEEK, seed=3)
    by = {p.candidate.result_pk: (p.criterion, p.label) for p in picks}
    assert by[2] == ("veto", "否决项")  # 75 points is under 80 too, but the veto rule came first
    assert [p.candidate.result_pk for p in picks if p.criterion == "low"] == [1, 6]  # the lowest two scores, 40 and 50
    assert by[1][1] == "低于 80 分"


def test_a_seed_gives_one_sample_whatever_order_the_store_lists():
    spec = plan(
        "id: p\nname: 计划\nrandom: {share: 0.3}\nrules:\n  - {id: low, kind: score_band, max: 100, limit: 3}\n"
    )
    once = [p.candidate.result_pk for p in select(spec, POOL, WEEK, seed=7)]
    again = [p.candidate.result_pk for p in select(spec, list(reversed(POOL)), WEEK, seed=7)]
    assert once == again and len(once) == 6
    assert once != [p.candidate.result_pk for p in select(spec, POOL, WEEK, seed=8)]


def test_the_random_share_is_uniform_and_targeting_does_not_bias_it():
    """3,000 seeded runs over 60 conversations, 20 of them low scores a targeted rule wants: every
    conversation is drawn by the random share about equally often (chi-square), the targeted ones
    no more and no less than the others, and each run draws exactly 10%."""
    pool = [candidate(pk, agent=f"A{pk % 6}", score=40 if pk <= 20 else 90) for pk in range(1, 61)]
    spec = plan(
        "id: p\nname: 计划\nrandom: {share: 0.1}\nrules:\n  - {id: low, kind: score_band, max: 60}\n"
        "quota: {per_agent: 2}\n"
    )
    runs = 3000
    drawn: Counter[int] = Counter()
    for seed in range(runs):
        picks = select(spec, pool, WEEK, seed)
        randomly = [p.candidate.result_pk for p in picks if p.criterion == "random"]
        assert len(randomly) == 6
        drawn.update(randomly)
    expected = runs * 6 / 60
    chi_square = sum((drawn[pk] - expected) ** 2 / expected for pk in range(1, 61))
    assert chi_square < 98.32  # the 99.9% point of chi-square with 59 degrees of freedom
    targeted = sum(drawn[pk] for pk in range(1, 21)) / (20 * runs)
    others = sum(drawn[pk] for pk in range(21, 61)) / (40 * runs)
    assert abs(targeted - 0.1) < 0.01 and abs(others - 0.1) < 0.01


def test_quotas_cap_targeted_picks_and_fill_tops_up():
    pool = [candidate(pk, agent="BUSY", score=30 + pk) for pk in range(1, 11)]  # ten low scores
    pool += [candidate(pk, agent="QUIET", score=95) for pk in range(11, 15)]  # nothing targeted
    spec = plan(
        "id: p\nname: 计划\nrules:\n  - {id: low, kind: score_band, max: 60}\nquota: {per_agent: 3, fill: true}\n"
    )
    picks = select(spec, pool, WEEK, seed=5)
    busy = [p for p in picks if p.candidate.agent_id == "BUSY"]
    quiet = [p for p in picks if p.candidate.agent_id == "QUIET"]
    assert [p.candidate.result_pk for p in busy] == [1, 2, 3] and {p.criterion for p in busy} == {"low"}
    assert (
        len(quiet) == 3 and {p.criterion for p in quiet} == {"quota_fill"} and {p.label for p in quiet} == {"配额补足"}
    )
    # what earlier runs of the period took counts: BUSY has its three, QUIET two of three
    earlier = Taken(targeted=Counter({"BUSY": 3}), total=Counter({"BUSY": 3, "QUIET": 2}))
    later = select(spec, pool, WEEK, seed=5, taken=earlier)
    assert [p.candidate.agent_id for p in later] == ["QUIET"]


def test_rule_limits_and_per_agent_caps():
    pool = [candidate(pk, agent=f"A{pk % 3}", score=pk) for pk in range(1, 31)]
    spec = plan("id: p\nname: 计划\nrules:\n  - {id: low, kind: score_band, max: 60, per_agent: 2}\n")
    assert Counter(p.candidate.agent_id for p in select(spec, pool, WEEK, 1)) == {"A0": 2, "A1": 2, "A2": 2}
    spec = plan("id: p\nname: 计划\nrules:\n  - {id: low, kind: score_band, max: 60, limit: 4}\n")
    assert [p.candidate.result_pk for p in select(spec, pool, WEEK, 1)] == [1, 2, 3, 4]


# --- assignment -------------------------------------------------------------------------------------------

PEOPLE = [Inspector(1, "qa1", None, None), Inspector(2, "qa2", None, "一组"), Inspector(3, "qa3", None, None)]


def test_round_robin_passes_over_who_may_not_and_continues_where_it_stopped():
    picks = [candidate(pk, team="一组" if pk % 2 else "二组") for pk in range(1, 9)]
    load = Load()
    chosen = assign(picks, PEOPLE, Policy(exclude_own_team=True), "round_robin", load)
    assert all(not (p.team == "一组" and i.username == "qa2") for p, i in zip(picks, chosen))
    assert max(Counter(i.username for i in chosen).values()) - min(Counter(i.username for i in chosen).values()) <= 2
    assert load.last == chosen[-1].id
    after = assign([candidate(9, team="二组")], PEOPLE, Policy(), "round_robin", Load(last=2))
    assert after[0].username == "qa3"


def test_by_workload_evens_out_open_items():
    chosen = assign(
        [candidate(pk) for pk in range(1, 7)],
        PEOPLE,
        Policy(exclude_own_team=False),
        "workload",
        Load(open=Counter({1: 4, 2: 0, 3: 1})),
    )
    assert Counter(i.username for i in chosen) == {"qa2": 4, "qa3": 2}


def test_nobody_eligible_leaves_an_item_unassigned():
    only_team = [Inspector(2, "qa2", None, "一组")]
    assert assign([candidate(1, team="一组")], only_team, Policy(), "round_robin", Load()) == [None]
    handled = Policy(exclude_own_team=False, avoid_appeal_handlers="agent", handlers={"A1": frozenset({2})})
    assert assign([candidate(1, agent="A1")], only_team, handled, "workload", Load()) == [None]
    assert assign([candidate(1, agent="A2")], only_team, handled, "workload", Load())[0].username == "qa2"


# --- runs in the store ------------------------------------------------------------------------------------

WEEKLY = """id: weekly
name: 每周抽检
random: {share: 0.5}
rules:
  - {id: low, kind: score_band, max: 60}
quota: {per_agent: 2}
assignment: {method: round_robin, due_days: 2}
"""


def test_a_run_stores_each_pick_with_the_rule_that_chose_it(store):
    engine = store.engine
    for name in ("qa1", "qa2"):
        user(engine, name)
    add(
        store,
        *[Spec(f"w{i}", agent="A1" if i < 4 else "A2", score=40 if i % 2 else 90) for i in range(8)],
        Spec("outside", day=MONDAY - timedelta(days=1), score=10),
        Spec("other-team", team="二组", day=SATURDAY, score=20),
    )
    stored_plan(engine, WEEKLY)
    summary = run_plan(engine, "weekly", WEEK, today=SATURDAY)
    assert summary.considered == 9 and summary.run_id
    items = Q.queue_items(engine, get_account(engine, 1), SATURDAY, limit=100)
    assert len(items) == summary.sampled and "outside" not in {i.conversation_id for i in items}
    assert {i.criterion for i in items} <= {"random", "low"}
    assert sum(i.criterion == "random" for i in items) == round(9 * 0.5)
    for i in items:
        assert i.label == {"random": "随机抽样", "low": "低于 60 分"}[i.criterion]
        assert i.due_on == SATURDAY + timedelta(days=2) and i.assignee in ("qa1", "qa2")
    assert abs(Counter(i.assignee for i in items)["qa1"] - Counter(i.assignee for i in items)["qa2"]) <= 1
    targeted = Counter(i.agent_id for i in items if i.criterion == "low")
    assert all(n <= 2 for n in targeted.values())
    # A second run of the period looks only at what was imported since, and keeps the quota.
    again = run_plan(engine, "weekly", WEEK, today=SATURDAY)
    assert (again.considered, again.sampled, again.already) == (0, 0, summary.sampled)  # says why it found none
    add(store, *[Spec(f"late{i}", agent="A1", score=30) for i in range(3)])
    late = run_plan(engine, "weekly", WEEK, today=SATURDAY)
    assert late.considered == 3
    after = Q.queue_items(engine, get_account(engine, 1), SATURDAY, limit=100)
    assert Counter(i.agent_id for i in after if i.criterion == "low")["A1"] <= 2


def test_the_schedule_samples_each_period_once(store):
    engine = store.engine
    user(engine, "qa1")
    add(store, Spec("s1", score=30), Spec("s2", score=30, day=MONDAY + timedelta(days=8)))
    stored_plan(engine, WEEKLY)
    next_monday = MONDAY + timedelta(days=7)
    [summary] = run_due(engine, next_monday, TZ)  # last week: W47
    assert summary.period == "2026-W47" and summary.sampled == 1
    assert run_due(engine, next_monday + timedelta(days=3), TZ) == []  # still W47: done
    Q.set_plan_active(engine, None, "weekly", False)
    assert run_due(engine, next_monday + timedelta(days=7), TZ) == []  # W48, but the plan is off
    assert [r.scheduled for r in Q.plan_runs(engine, "weekly")] == [True]


def test_assignment_avoids_own_team_and_appeal_handlers_and_reassign_keeps_the_rules(tmp_path):
    from zuoxi.store import Store

    store = Store(str(tmp_path / "assign.db"))
    engine = store.engine
    same_team = user(engine, "qa-team", team="一组")
    handler = user(engine, "qa-appeal")
    free = user(engine, "qa-free")
    agent = user(engine, "agent1", "agent", "一组", "A1")
    keys = add(
        store,
        Spec("appealed", agent="A1", score=50, failed=["EM-02"]),
        Spec("another", agent="A1", score=40),
        Spec("other-agent", agent="B2", team="二组", score=40),
    )
    pk = store_result_pk(engine, keys["appealed"])
    appeal = appeal_finding(engine, agent, pk, "EM-02", "我已经安抚过客户了")
    resolve_appeal(engine, handler, appeal, accept=False)
    stored_plan(
        engine, "id: p\nname: 计划\nrules:\n  - {id: low, kind: score_band, max: 60}\nassignment: {method: workload}\n"
    )
    run_plan(engine, "p", WEEK, today=SATURDAY)
    items = {i.conversation_id: i for i in Q.queue_items(engine, get_account(engine, free.id), SATURDAY)}
    assert items["appealed"].assignee == items["another"].assignee == "qa-free"  # not 一组's, not the appeal's handler
    assert items["other-agent"].assignee in ("qa-team", "qa-appeal")
    for who, why in ((same_team, "属于会话所在的班组 一组"), (handler, "处理过该坐席的申诉")):
        with pytest.raises(I.QueueError, match=why):
            I.reassign(engine, get_account(engine, free.id), items["another"].id, who.username, SATURDAY)
    other = items["other-agent"]
    target = "qa-appeal" if other.assignee == "qa-team" else "qa-team"
    I.reassign(engine, get_account(engine, 1 if other.assignee == "qa-team" else 2), other.id, target, SATURDAY)
    assert {i.id: i.assignee for i in Q.queue_items(engine, get_account(engine, free.id), SATURDAY)}[other.id] == target
    store.close()


def store_result_pk(engine, key: str) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from zuoxi.store.tables import ResultRow

    with Session(engine) as session:
        return session.scalar(select(ResultRow.pk).where(ResultRow.conversation_key == key))


def test_due_dates_overdue_counts_finishing_and_skipping(tmp_path):
    from zuoxi.store import Store

    store = Store(str(tmp_path / "due.db"))
    engine = store.engine
    qa = user(engine, "qa1")
    lead = user(engine, "lead1", "team_lead", "一组")
    other_lead = user(engine, "lead2", "team_lead", "二组")
    add(
        store,
        Spec("d1", score=40, failed=["EM-02", "CS-01"], customer="我的电话是13812345678"),
        Spec("d2", score=45),
        Spec("d3", score=50),
        Spec("d4", team="二组", score=30),
    )
    stored_plan(
        engine, "id: p\nname: 计划\nrules:\n  - {id: low, kind: score_band, max: 60}\nassignment: {due_days: 1}\n"
    )
    run_plan(engine, "p", WEEK, today=SATURDAY)
    due = SATURDAY + timedelta(days=1)
    assert Q.queue_counts(engine, qa, SATURDAY) == Q.queue_counts(engine, qa, SATURDAY).__class__(open=4)
    assert Q.queue_counts(engine, qa, due).due_today == 4
    late = Q.queue_counts(engine, qa, due + timedelta(days=1))
    assert (late.open, late.overdue, late.due_today) == (4, 4, 0)
    assert all(i.overdue for i in Q.queue_items(engine, qa, due + timedelta(days=1), mine=True))
    plans, workload = Q.progress(engine, lead, due + timedelta(days=1))
    assert [(p.sampled, p.overdue) for p in plans] == [(3, 3)]  # the lead's team only
    assert [(w.inspector, w.open, w.overdue) for w in workload] == [("qa1", 3, 3)]
    assert Q.progress(engine, other_lead, due)[0][0].sampled == 1

    items = {i.conversation_id: i for i in Q.queue_items(engine, qa, SATURDAY, mine=True)}
    with pytest.raises(I.QueueError, match=r"还有 2 条未通过的质检项没有复核.*EM-02、CS-01"):
        I.complete(engine, qa, items["d1"].id)
    review_finding(engine, qa, items["d1"].result_pk, "EM-02", "confirm")
    review_finding(engine, qa, items["d1"].result_pk, "CS-01", "overturn", "客户自己要求重复确认")
    I.complete(engine, qa, items["d1"].id)
    with pytest.raises(I.QueueError, match="已完成"):
        I.complete(engine, qa, items["d1"].id)
    I.complete(engine, qa, items["d2"].id)  # nothing failed: nothing to judge
    with pytest.raises(I.QueueError, match="请选择跳过原因"):
        I.skip(engine, qa, items["d3"].id, "")
    with pytest.raises(I.QueueError, match="请写明"):
        I.skip(engine, qa, items["d3"].id, "other", " ")
    with pytest.raises(Exception, match="复核任务"):
        I.skip(engine, other_lead, items["d3"].id, "duplicate")  # another team's item
    I.skip(engine, lead, items["d3"].id, "other", "客户电话13812345678打错了")
    closed = {i.conversation_id: i for i in Q.queue_items(engine, qa, SATURDAY, mine=True, status="closed")}
    assert closed["d3"].skip_comment == "客户电话*******5678打错了" and closed["d1"].status == "done"
    counts = Q.queue_counts(engine, qa, due + timedelta(days=1))
    assert (counts.open, counts.overdue, counts.done, counts.skipped) == (1, 1, 2, 1)
    store.close()


# --- precision from the random share ------------------------------------------------------------------------


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson interval, written out again here so the test checks the figure, not the code."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_precision_from_the_random_share_matches_a_direct_computation(tmp_path):
    from zuoxi.store import Store

    store = Store(str(tmp_path / "precision.db"))
    engine = store.engine
    qa = user(engine, "qa1")
    agent = user(engine, "agent1", "agent", "一组", "A1")
    lead = user(engine, "lead1", "team_lead", "一组")
    # 12 conversations fail EM-02 and CS-01; a random share of a half and a targeted rule on the rest.
    add(store, *[Spec(f"p{i}", agent="A1", score=70, failed=["EM-02", "CS-01"]) for i in range(12)])
    stored_plan(
        engine, "id: p\nname: 计划\nrandom: {count: 6}\nrules:\n  - {id: em, kind: failed_rules, rules: [EM-02]}\n"
    )
    run_plan(engine, "p", WEEK, today=SATURDAY, seed=11)
    items = sorted(Q.queue_items(engine, qa, SATURDAY, mine=True), key=lambda i: i.id)
    assert Counter(i.criterion for i in items) == {"random": 6, "em": 6}
    still_open = items[-1]  # reviewed but not finished: its reviews must not count
    verdicts: dict[tuple[bool, str], list[bool]] = defaultdict(list)
    for n, item in enumerate(items):
        for rule, confirm in (("EM-02", n % 3 != 0), ("CS-01", n % 2 == 0)):
            if n == 0:
                review_finding(
                    engine, qa, item.result_pk, rule, "confirm" if not confirm else "overturn"
                )  # changed their mind:
            review_finding(engine, qa, item.result_pk, rule, "confirm" if confirm else "overturn")  # the latest counts
            if item is not still_open:
                verdicts[(item.criterion == "random", rule)].append(confirm)
        if item is not still_open:
            I.complete(engine, qa, item.id)
    # An accepted appeal on a finished item was chosen by the agent, not drawn: it changes no figure.
    appeal = appeal_finding(engine, agent, items[1].result_pk, "EM-02", "我已经先安抚了")
    resolve_appeal(engine, lead, appeal, accept=True)
    figures = {f.rule: f for f in precision_by_share(engine)}
    for rule in ("EM-02", "CS-01"):
        for drawn, rate in ((True, figures[rule].random), (False, figures[rule].targeted)):
            judged = verdicts[(drawn, rule)]
            assert (rate.successes, rate.n) == (sum(judged), len(judged))
            assert rate.rate == pytest.approx(sum(judged) / len(judged))
            low, high = wilson(sum(judged), len(judged))
            assert (rate.low, rate.high) == (pytest.approx(low), pytest.approx(high))
    assert precision_by_share(engine, "nope") == []
    store.close()


# --- the command line ---------------------------------------------------------------------------------------


def test_the_queue_commands(tmp_path):
    import json

    from zuoxi.cli import app
    from zuoxi.store import Store

    db = str(tmp_path / "cli.db")
    store = Store(db)
    user(store.engine, "qa1")
    add(store, Spec("c1", score=40), Spec("c2", score=95))
    store.close()
    runner = CliRunner()
    created = runner.invoke(app, ["queue", "plan", "create", "weekly", "--db", db])
    assert created.exit_code == 0, created.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nname: x\nrules:\n  - {id: r, kind: score_band}\n", encoding="utf-8")
    checked = runner.invoke(app, ["queue", "plan", "check", str(bad)])
    assert checked.exit_code == 2 and f"{bad}:4: rules.0: 分数段至少要有 min 或 max" in checked.output
    ran = runner.invoke(app, ["queue", "run", "weekly", "--date", MONDAY.isoformat(), "--format", "json", "--db", db])
    assert ran.exit_code == 0, ran.output
    [summary] = json.loads(ran.stdout)
    assert (
        summary["period"] == "2026-W47"
        and summary["considered"] == 2
        and summary["by_inspector"] == {"qa1": summary["sampled"]}
    )
    rerun = runner.invoke(app, ["queue", "run", "weekly", "--date", MONDAY.isoformat(), "--db", db])
    assert (
        rerun.exit_code == 0 and "候选 0 条" in rerun.stderr and f"此前已抽中 {summary['sampled']} 条" in rerun.stderr
    )
    listed = runner.invoke(app, ["queue", "list", "--user", "qa1", "--format", "json", "--db", db])
    items = json.loads(listed.stdout)
    assert len(items) == summary["sampled"] and {i["conversation_id"] for i in items} >= {"c1"}
    twin = runner.invoke(app, ["queue", "list", "--user", "QA1", "--format", "json", "--db", db])
    assert json.loads(twin.stdout) == items  # the user as any twin of the name finds them
    nobody = runner.invoke(app, ["queue", "list", "--user", "qa9", "--db", db])  # was an empty queue, exit 0
    assert nobody.exit_code == 2 and "错误：--user：没有用户 'qa9'" in nobody.stderr, nobody.stderr
    assert next(i for i in items if i["conversation_id"] == "c1")["label"] in (
        "一票否决",
        "低于 60 分",
        "随机抽样",
        "配额补足",
    )
    assert runner.invoke(app, ["queue", "run", "nope", "--db", db]).exit_code == 2
    shown = runner.invoke(app, ["queue", "plan", "show", "weekly", "--db", db])
    assert shown.exit_code == 0 and "id: weekly" in shown.stdout
    for far in (
        ["weekly", "--date", "9999-12-31"],
        ["weekly", "--date", "0001-01-01"],
        ["--due", "--date", "0001-01-01"],
    ):
        refused = runner.invoke(app, ["queue", "run", *far, "--db", db])  # an OverflowError traceback before
        assert refused.exit_code == 2 and "日期超出范围" in refused.stderr, (far, refused.output)


def test_a_rerun_gives_the_periods_unassigned_picks_to_the_inspectors_there_are_now(store):
    """Picks made when no inspector existed stayed unassigned for good: a rerun of the period gives them out,
    under the plan's rules (never the conversation's own team), and says how many; a third run has none left."""
    engine = store.engine
    add(store, *(Spec(f"c{n}", agent=f"A{n % 3}", team="一组" if n < 3 else "二组", score=40) for n in range(6)))
    name = stored_plan(engine, WEEKLY)
    admin = user(engine, "admin", role="admin")  # no inspector: an admin is none unless the plan names them
    first = run_plan(engine, name, WEEK, MONDAY)
    assert first.sampled == 6 and first.unassigned == 6 and first.by_inspector == {}
    user(engine, "wang")
    user(engine, "li", team="一组")  # may take 二组's picks only
    second = run_plan(engine, name, WEEK, MONDAY + timedelta(days=1))
    assert second.sampled == 0 and second.already == 6
    assert sum(second.earlier_by_inspector.values()) == 6 and second.earlier_unassigned == 0
    items = Q.queue_items(engine, get_account(engine, admin.id), MONDAY, status="open")
    assert all(i.assignee for i in items) and len(items) == 6
    assert all(i.team != "一组" for i in items if i.assignee == "li")
    assert {i.due_on for i in items} == {MONDAY + timedelta(days=3)}  # due from the run that gave them out
    third = run_plan(engine, name, WEEK, MONDAY + timedelta(days=2))
    assert third.earlier_by_inspector == {} and third.earlier_unassigned == 0


def test_a_rerun_says_which_earlier_picks_still_nobody_may_take(store):
    engine = store.engine
    add(store, Spec("c1", team="一组", score=40), Spec("c2", team="二组", score=40))
    name = stored_plan(engine, WEEKLY)
    assert run_plan(engine, name, WEEK, MONDAY).unassigned == 2
    user(engine, "li", team="一组")
    second = run_plan(engine, name, WEEK, MONDAY)
    assert second.earlier_by_inspector == {"li": 1} and second.earlier_unassigned == 1


def test_queue_run_on_the_command_line_assigns_what_no_inspector_could_take_before(tmp_path):
    from zuoxi.cli import app
    from zuoxi.store import Store

    db = str(tmp_path / "cli.db")
    store = Store(db)
    add(store, *(Spec(f"c{n}", score=40) for n in range(3)))
    store.close()
    runner = CliRunner()
    assert runner.invoke(app, ["queue", "plan", "create", "weekly", "--db", db]).exit_code == 0
    week = ["queue", "run", "weekly", "--date", MONDAY.isoformat(), "--db", db]
    first = runner.invoke(app, week)
    assert first.exit_code == 0 and "未分配 3 条" in first.stderr, first.output
    added = runner.invoke(
        app, ["user", "add", "wang", "--role", "inspector", "--db", db], env={"ZUOXI_PASSWORD": "p" * 9}
    )
    assert added.exit_code == 0, added.output
    rerun = runner.invoke(app, week)
    assert rerun.exit_code == 0 and "此前已抽中 3 条" in rerun.stderr, rerun.output
    assert "此前未分配的 3 条现已分配：wang 3" in rerun.stderr, rerun.stderr
    listed = runner.invoke(app, ["queue", "list", "--user", "wang", "--format", "json", "--db", db])
    assert len(json.loads(listed.stdout)) == 3
