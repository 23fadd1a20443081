"""Sampling runs: what a plan picks from one period's conversations, and who reviews each pick.

The order matters for what the figures later mean:
1. the uniform random share is drawn first, from everything in scope, with a seeded generator, so a
   conversation's chance of being drawn does not depend on anything the rules see — precision
   measured on it (`zuoxi.queues.precision`) is unbiased;
2. the targeted rules, in the plan's order, each take the matching conversations not yet picked
   (its `priority` first), within the rule's limits and the per-agent quota; the first rule to take
   a conversation is the one recorded on the item;
3. with `quota.fill`, agents below their quota are topped up with their own conversations, drawn
   uniformly.
Runs add to what earlier runs of the same period picked (quotas and limits count those too), so a
daily import can be sampled as it arrives.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo

from zuoxi.queues.assignment import Assignable, Policy, assign
from zuoxi.queues.models import Candidate, Period, RunSummary, Taken
from zuoxi.queues.plans import LABELS, QUOTA_FILL, RANDOM, PlanError, PlanSpec, RandomShare, Rule
from zuoxi.store import queues as Q
from zuoxi.store.users import Account


@dataclass(frozen=True)
class Pick:
    candidate: Candidate
    criterion: str  # the plan rule's id, "random" or "quota_fill"
    kind: str
    label: str


def select(plan: PlanSpec, pool: list[Candidate], period: Period, seed: int, taken: Taken | None = None) -> list[Pick]:
    """The plan's picks from `pool` (conversations in scope not yet picked by the plan), reproducible
    for a seed; `taken` is what earlier runs of the period picked."""
    rng = random.Random(seed)
    pool = sorted(pool, key=lambda c: c.result_pk)  # one order for a seed, however the store listed them
    taken = taken or Taken()
    taken = Taken(taken.targeted.copy(), taken.total.copy(), taken.per_rule.copy(), taken.per_rule_agent.copy())
    selection = _Selection(rng, pool, taken)
    if plan.random:
        selection.random_share(plan.random)
    cap = plan.quota.per_agent if plan.quota else None
    for rule in plan.rules:
        selection.targeted(rule, period, cap)
    if plan.quota and plan.quota.fill:
        selection.fill(plan.quota.per_agent)
    return selection.picks


class _Selection:
    """One run's picks in the making, in the module's order, all drawn from one seeded generator (each step's
    draws depend on what the steps before it took, so the steps must run in that order)."""

    def __init__(self, rng: random.Random, pool: list[Candidate], taken: Taken) -> None:
        self.rng = rng
        self.pool = pool
        self.taken = taken
        self.picks: list[Pick] = []
        self.chosen: set[int] = set()

    def take(self, c: Candidate, criterion: str, kind: str, label: str) -> None:
        self.picks.append(Pick(c, criterion, kind, label))
        self.chosen.add(c.result_pk)
        self.taken.total[c.agent_id] += 1

    def random_share(self, share: RandomShare) -> None:
        """The uniform share, drawn from everything in scope before any rule looks at it."""
        for c in self.rng.sample(self.pool, share.size(len(self.pool))):
            self.take(c, RANDOM, RANDOM, share.title)

    def targeted(self, rule: Rule, period: Period, cap: int | None) -> None:
        """What one rule takes of the matching conversations not yet picked, highest priority first (ties in
        shuffled order), within the rule's limits and the per-agent quota."""
        taken = self.taken
        matching = [c for c in self.pool if c.result_pk not in self.chosen and rule.matches(c, period)]
        self.rng.shuffle(matching)
        matching.sort(key=lambda c: rule.priority(c) or 0.0)  # stable: equal priorities keep the shuffled order
        for c in matching:
            if rule.limit is not None and taken.per_rule[rule.id] >= rule.limit:
                break
            if rule.per_agent is not None and taken.per_rule_agent[(rule.id, c.agent_id)] >= rule.per_agent:
                continue
            if cap is not None and c.agent_id is not None and taken.targeted[c.agent_id] >= cap:
                continue
            self.take(c, rule.id, rule.kind, rule.title)
            taken.targeted[c.agent_id] += 1
            taken.per_rule[rule.id] += 1
            taken.per_rule_agent[(rule.id, c.agent_id)] += 1

    def fill(self, per_agent: int) -> None:
        """Agents below their quota topped up with their own conversations not yet picked, drawn uniformly."""
        for agent in sorted({c.agent_id for c in self.pool if c.agent_id}):
            rest = [c for c in self.pool if c.agent_id == agent and c.result_pk not in self.chosen]
            for c in self.rng.sample(rest, max(0, min(per_agent - self.taken.total[agent], len(rest)))):
                self.take(c, QUOTA_FILL, QUOTA_FILL, LABELS[QUOTA_FILL])


def seed_for(plan: str, period: str, run: int) -> int:
    """A run's seed when none is given: fixed by the plan, the period and how many runs it had."""
    return int.from_bytes(hashlib.sha256(f"{plan}|{period}|{run}".encode()).digest()[:4], "big") & 0x7FFFFFFF


def run_plan(
    engine,
    name: str,
    period: Period,
    today: date,
    account: Account | None = None,
    seed: int | None = None,
    scheduled: bool = False,
) -> RunSummary:
    """Sample one period with a stored plan, assign the picks and store them as queue items; the period's earlier
    picks that nobody could be given (no inspector yet, or none the plan's rules let take them) are given now to the
    inspectors there are, under the same rules, before the new ones. `scheduled` marks the schedule's own run of
    the period: a second one stores nothing."""
    plan_id, spec = Q.get_plan(engine, name)
    if scheduled and Q.has_scheduled_run(engine, plan_id, period.label):
        return RunSummary(spec.id, period.label, None, 0, 0)
    inspectors, unknown = Q.inspectors(engine, spec.assignment.inspectors)
    if unknown:
        raise PlanError([f"计划 {spec.id}: assignment.inspectors: 没有这些质检员（或已停用）：{'、'.join(unknown)}"])
    needs_since = any(rule.needs_agent_since for rule in spec.rules)
    pool = Q.candidates(engine, plan_id, spec.scope, period, agent_since=needs_since)
    seed = seed if seed is not None else seed_for(spec.id, period.label, Q.run_count(engine, plan_id, period.label))
    taken = Q.taken(engine, plan_id, period)
    picks = select(spec, pool, period, seed, taken)
    earlier = Q.unassigned_items(engine, plan_id, period)  # picked when no inspector could take them
    by = spec.assignment.avoid_appeal_handlers
    everything: list[Assignable] = [*earlier, *(p.candidate for p in picks)]
    keys = sorted({(c.agent_id if by == "agent" else c.conversation_key) or "" for c in everything} - {""})
    policy = Policy(spec.assignment.exclude_own_team, by, Q.appeal_handlers(engine, by, keys))
    load = Q.load(engine, plan_id)
    given = assign(earlier, inspectors, policy, spec.assignment.method, load)  # the earlier picks first
    chosen = assign([p.candidate for p in picks], inspectors, policy, spec.assignment.method, load)
    picked = [(p.candidate, p.criterion, p.kind, p.label, inspector) for p, inspector in zip(picks, chosen)]
    due_on = today + timedelta(days=spec.assignment.due_days)
    run_id = Q.record_run(
        engine,
        plan_id,
        period,
        seed,
        len(pool),
        picked,
        due_on,
        account,
        period.label if scheduled else None,
    )
    summary = RunSummary(
        spec.id, period.label, run_id, len(pool), len(picks) if run_id else 0, already=sum(taken.total.values())
    )
    to_give = [(item.id, inspector) for item, inspector in zip(earlier, given) if inspector is not None]
    done = set(Q.assign_items(engine, to_give, due_on, account))
    summary.earlier_unassigned = len(earlier) - len(done)
    for item_id, reviewer in to_give:
        if item_id in done:
            by_name = summary.earlier_by_inspector
            by_name[reviewer.username] = by_name.get(reviewer.username, 0) + 1
    if run_id:
        for pick, inspector in zip(picks, chosen):
            summary.by_criterion[pick.label] = summary.by_criterion.get(pick.label, 0) + 1
            if inspector is None:
                summary.unassigned += 1
            else:
                summary.by_inspector[inspector.username] = summary.by_inspector.get(inspector.username, 0) + 1
    return summary


def run_due(engine, today: date, tz: tzinfo) -> list[RunSummary]:
    """The schedule: every active plan samples its last complete period (yesterday, or last week)
    once; run it daily (the web app does, and `zuoxi queue run --due` from cron)."""
    done = []
    for name, schedule in Q.active_plans(engine):
        summary = run_plan(engine, name, Period.last_complete(schedule, today, tz), today, scheduled=True)
        if summary.run_id:
            done.append(summary)
    return done
