"""What each behaviour goes with: the outcome of conversations where the agent showed it against
those where the opportunity was there and missed, raw and within strata.

A behaviour is every rule with an opportunity (a finding that passed — shown — or failed — missed;
`n/a` is no opportunity) and every soft-skill profile behaviour of seed 004 (shown when its profile
value is above 0; every conversation is an opportunity). The customer's own side (ES-01 complaint,
ES-02 worsening anger) is an outcome, never a behaviour.

The raw difference mixes the behaviour with everything that travels with it: long, angry calls have
both more apologies and more complaints. So each difference is also computed within strata — same
scorecard, channel, topic, length band and the customer's mood at the opening (before the agent
could influence it) — and pooled with Mantel–Haenszel weights. That removes confounding by those
five things, not by anything else: the figures are associations, and every page says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel

from zuoxi.campaigns.analytics import wilson
from zuoxi.campaigns.models import Rate
from zuoxi.effects.stats import (
    BOOTSTRAP_ROUNDS,
    Estimate,
    mantel_haenszel,
    mean_difference,
    newcombe,
    stratified_mean_difference,
)
from zuoxi.report import SKILL_NAMES
from zuoxi.rules.engine import CORE_SKILLS

Kind = Literal["rule", "profile"]  # a scorecard rule, or a skill of the conversation's profile
Verdict = Literal["better", "worse", "unclear", "too_few"]

CUSTOMER_SIDE = frozenset({"ES-01", "ES-02"})  # what the customer does: outcomes, not the agent's behaviours
COMPLAINT_RULE = "ES-01"
MIN_GROUP = 5  # fewer conversations on either side: counts only, no estimate
LENGTH_BANDS = ((3, "≤3轮"), (6, "4–6轮"), (10, "7–10轮"), (16, "11–16轮"), (25, "17–25轮"))
OPENING_MOODS = {"angry": "开场愤怒", "anxious": "开场焦虑/低落", "sad": "开场焦虑/低落"}
STRATA = ("评分表", "渠道", "话题", "会话长度", "开场情绪")
ADJUSTMENT = (
    "分层调整：只在同一评分表、渠道、话题、会话长度（轮数段）和开场情绪（坐席开口前客户的情绪）之内比较，"
    "再按 Mantel–Haenszel 权重合并；没有同时包含“做到”和“未做到”的分层不参与。"
)
CAVEAT = (
    "这是关联，不是因果：分层只排除了上述五项造成的假象，客户、问题难度等其他差异仍可能同时影响行为和结果。"
    "同时比较几十项时，约每 20 项会有 1 项纯属偶然地显得“显著”。"
)


@dataclass(frozen=True)
class Outcome:
    """An outcome per conversation: a rate (0/1 values) or a mean; `better` is +1 when higher is better."""

    id: str
    label: str
    kind: Literal["rate", "mean"]
    better: int
    real: bool = False  # a real label (survey, annotators), not the machine's estimate
    percent: bool = True  # a probability or rate (differences read in percentage points), else a score


OUTCOMES = {
    o.id: o
    for o in (
        Outcome("complaint", "投诉率（ES-01）", "rate", -1),
        Outcome("p_satisfied", "预测满意概率", "mean", +1),
        Outcome("complaint_risk", "投诉风险（模型）", "mean", -1),
        Outcome("csat", "真实满意度评分（meta.csat）", "mean", +1, real=True, percent=False),
    )
}


@dataclass
class Observation:
    """One conversation (one result) as the effects read it."""

    key: str
    agent_id: str | None
    team: str | None
    started_at: datetime | None
    scorecard: str
    stratum: tuple[str, ...]
    behaviours: dict[str, bool]  # shown (True) or missed (False); absent: no opportunity
    outcomes: dict[str, float]
    names: dict[str, tuple[str, Kind]] = field(default_factory=dict)  # behaviour → (name, kind)


def length_band(turns: int) -> str:
    return next((label for top, label in LENGTH_BANDS if turns <= top), f">{LENGTH_BANDS[-1][0]}轮")


def opening_mood(emotions: list[dict]) -> str:
    """The customer's mood at their first turn: what the agent met, not what the agent caused."""
    if not emotions:
        return "无客户发言"
    return OPENING_MOODS.get(min(emotions, key=lambda e: e["turn"])["label"], "开场平稳")


def _csat(meta: Mapping) -> float | None:
    value = meta.get("csat")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10:
        return None  # imported data: anything but a plain score on a 0–10 scale is ignored
    return float(value)


def observe(conversation: Mapping, result: Mapping, key: str = "") -> Observation:
    """An observation from a conversation and its result, both as their JSON dicts (as stored)."""
    started = conversation.get("started_at")
    return observation(
        result,
        conversation.get("meta") or {},
        key=key,
        agent_id=conversation.get("agent_id"),
        team=conversation.get("team"),
        started_at=datetime.fromisoformat(started) if isinstance(started, str) else started,
        channel=conversation.get("channel"),
        turns=len(conversation.get("turns") or ()),
    )


def observation(
    result: Mapping,
    meta: Mapping,
    *,
    key: str,
    agent_id: str | None,
    team: str | None,
    started_at: datetime | None,
    channel: str | None,
    turns: int,
) -> Observation:
    """An observation from a result (its JSON dict) and the few facts of its conversation the effects
    use: the store reads these from columns and the conversation's `meta`, never decoding its turns."""
    topic = meta.get("topic") or meta.get("intent")
    behaviours: dict[str, bool] = {}
    names: dict[str, tuple[str, Kind]] = {}
    outcomes: dict[str, float] = {}
    for finding in result["findings"]:
        rule, status = finding["rule"], finding["status"]
        if status == "n/a":
            continue
        if rule == COMPLAINT_RULE:
            outcomes["complaint"] = float(status == "fail")
        if rule not in CUSTOMER_SIDE:
            behaviours[rule] = status == "pass"
            names[rule] = (finding["name"], "rule")
    for skill, value in (result.get("skills") or {}).items():
        if skill not in CORE_SKILLS:
            behaviours[skill] = value > 0
            names[skill] = (SKILL_NAMES.get(skill, skill), "profile")
    satisfaction = result.get("satisfaction") or {}
    if (satisfaction.get("probs") or {}).get("satisfied") is not None:
        outcomes["p_satisfied"] = float(satisfaction["probs"]["satisfied"])
    if result.get("complaint_risk") is not None:
        outcomes["complaint_risk"] = float(result["complaint_risk"])
    if (csat := _csat(meta)) is not None:
        outcomes["csat"] = csat
    return Observation(
        key=key,
        agent_id=agent_id,
        team=team,
        started_at=started_at,
        scorecard=result["scorecard"],
        stratum=(
            result["scorecard"],
            channel or "chat",
            str(topic)[:50] if topic else "—",
            length_band(turns),
            opening_mood(result.get("customer_emotion") or []),
        ),
        behaviours=behaviours,
        outcomes=outcomes,
        names=names,
    )


class OutcomeEffect(BaseModel):
    """One behaviour against one outcome: `difference` is shown − missed (rates as fractions)."""

    outcome: str
    shown_n: int
    missed_n: int
    shown_value: float | None = None
    missed_value: float | None = None
    shown_events: int | None = None  # rates: conversations with the event
    missed_events: int | None = None
    crude: Estimate | None = None
    adjusted: Estimate | None = None
    strata: int = 0  # strata holding both groups (the adjusted figure's)
    adjusted_n: int = 0  # conversations in those strata
    verdict: Verdict = "too_few"


class BehaviourEffect(BaseModel):
    behaviour: str
    name: str
    kind: Kind
    shown: int
    missed: int
    effects: dict[str, OutcomeEffect]


def _verdict(outcome: Outcome, adjusted: Estimate | None) -> Verdict:
    if adjusted is None:
        return "too_few"
    if not adjusted.excludes_zero:
        return "unclear"
    return "better" if (adjusted.value > 0) == (outcome.better > 0) else "worse"


def outcome_effect(
    outcome: Outcome, rows: list[tuple[bool, float, tuple]], rng: np.random.Generator, rounds: int = BOOTSTRAP_ROUNDS
) -> OutcomeEffect:
    """`rows` are (shown, value, stratum) of the conversations with the opportunity and the outcome."""
    shown = np.array([v for s, v, _ in rows if s], dtype=float)
    missed = np.array([v for s, v, _ in rows if not s], dtype=float)
    effect = OutcomeEffect(
        outcome=outcome.id,
        shown_n=len(shown),
        missed_n=len(missed),
        shown_value=float(shown.mean()) if len(shown) else None,
        missed_value=float(missed.mean()) if len(missed) else None,
    )
    if outcome.kind == "rate":
        effect.shown_events, effect.missed_events = int(shown.sum()), int(missed.sum())
    if min(len(shown), len(missed)) < MIN_GROUP:
        return effect
    cells: dict[tuple, tuple[list, list]] = defaultdict(lambda: ([], []))
    for s, v, stratum in rows:
        cells[stratum][0 if s else 1].append(v)
    both = [(np.array(a), np.array(b)) for a, b in cells.values() if a and b]
    effect.strata, effect.adjusted_n = len(both), sum(len(a) + len(b) for a, b in both)
    if outcome.kind == "rate":
        effect.crude = newcombe(int(shown.sum()), len(shown), int(missed.sum()), len(missed))
        effect.adjusted = mantel_haenszel([(int(a.sum()), len(a), int(b.sum()), len(b)) for a, b in both])
    else:
        effect.crude = mean_difference(shown, missed, rng, rounds)
        effect.adjusted = stratified_mean_difference(both, rng, rounds)
    effect.verdict = _verdict(outcome, effect.adjusted)
    return effect


def behaviour_effects(
    observations: Iterable[Observation],
    outcomes: Mapping[str, Outcome] = OUTCOMES,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> list[BehaviourEffect]:
    """Every behaviour's effect on every outcome that the observations carry (rules first, by id)."""
    observations = list(observations)
    rng = np.random.default_rng(seed)
    names: dict[str, tuple[str, Kind]] = {}
    for o in observations:
        names.update(o.names)
    effects = []
    for behaviour in sorted(names, key=lambda b: (names[b][1] != "rule", b)):
        having = [o for o in observations if behaviour in o.behaviours]
        per_outcome = {}
        for outcome in outcomes.values():
            rows = [
                (o.behaviours[behaviour], o.outcomes[outcome.id], o.stratum) for o in having if outcome.id in o.outcomes
            ]
            if rows:
                per_outcome[outcome.id] = outcome_effect(outcome, rows, rng, rounds)
        shown = sum(o.behaviours[behaviour] for o in having)
        effects.append(
            BehaviourEffect(
                behaviour=behaviour,
                name=names[behaviour][0],
                kind=names[behaviour][1],
                shown=shown,
                missed=len(having) - shown,
                effects=per_outcome,
            )
        )
    return effects


# --- one agent against everyone else ---------------------------------------------------------------


class AgentBehaviour(BaseModel):
    behaviour: str
    name: str
    kind: Kind
    agent: Rate  # how often the agent showed it when there was the opportunity
    others: Rate  # everyone else in view
    effect: OutcomeEffect | None = None  # the behaviour's effect over everyone in view
    potential: float | None = None  # (others' rate − agent's rate) × the adjusted effect, when it excludes 0


class AgentView(BaseModel):
    agent_id: str
    conversations: int
    outcome: str
    outcomes: dict[str, float]  # the agent's own averages
    behaviours: list[AgentBehaviour]


def _shown_rate(group: list[Observation], behaviour: str) -> Rate:
    """How often the behaviour was shown where there was the opportunity."""
    having = [o.behaviours[behaviour] for o in group if behaviour in o.behaviours]
    return wilson(sum(having), len(having))


def agent_view(
    observations: list[Observation],
    agent_id: str,
    effects: list[BehaviourEffect],
    outcome: str,
    outcomes: Mapping[str, Outcome] = OUTCOMES,
) -> AgentView:
    """Where the agent stands on each behaviour, and what closing the gap to everyone else would go
    with, by the (adjusted) association: largest potential first."""
    mine = [o for o in observations if o.agent_id == agent_id]
    rest = [o for o in observations if o.agent_id != agent_id]
    by_id = {e.behaviour: e for e in effects}
    rows = []
    for behaviour, effect in by_id.items():
        agent, others = _shown_rate(mine, behaviour), _shown_rate(rest, behaviour)
        if agent.rate is None:  # no opportunity (n == 0)
            continue
        chosen = effect.effects.get(outcome)
        potential = None
        if chosen and chosen.adjusted and chosen.adjusted.excludes_zero and others.rate is not None:
            potential = (others.rate - agent.rate) * chosen.adjusted.value * outcomes[outcome].better
        rows.append(
            AgentBehaviour(
                behaviour=behaviour,
                name=effect.name,
                kind=effect.kind,
                agent=agent,
                others=others,
                effect=chosen,
                potential=potential,
            )
        )
    rows.sort(key=lambda r: (r.potential is None, -(r.potential or 0), r.behaviour))
    averages = {
        o: float(np.mean([m.outcomes[o] for m in mine if o in m.outcomes]))
        for o in outcomes
        if any(o in m.outcomes for m in mine)
    }
    return AgentView(agent_id=agent_id, conversations=len(mine), outcome=outcome, outcomes=averages, behaviours=rows)


# --- what the point weights would be if they followed the effects -------------------------------------


class WeightSuggestion(BaseModel):
    rule: str
    name: str
    points: float  # the scorecard's now
    effect: Estimate | None  # adjusted, signed so that positive = showing it goes with the better outcome
    suggested: float | None  # None: keep the current points (see `note`)
    note: str


def suggest_weights(
    effects: list[BehaviourEffect], points: Mapping[str, float], outcome: Outcome
) -> list[WeightSuggestion]:
    """Points that follow the evidence, for a QA lead to adopt or not (never applied here): the
    deduction budget of the rules whose showing goes clearly with the better outcome is shared among
    them in proportion to their adjusted effect; every other rule keeps its points, with the reason."""
    rows: list[tuple[str, str, float, Estimate | None]] = []
    for e in effects:
        if e.kind != "rule" or e.behaviour not in points:
            continue
        found = e.effects.get(outcome.id)
        signed = None
        if found and found.adjusted:
            a = found.adjusted
            signed = (
                a
                if outcome.better > 0
                else Estimate(
                    value=-a.value,
                    low=-a.high if a.high is not None else None,
                    high=-a.low if a.low is not None else None,
                )
            )
        rows.append((e.behaviour, e.name, points[e.behaviour], signed))
    helpful = [
        (current, signed) for _, _, current, signed in rows if signed and signed.excludes_zero and signed.value > 0
    ]
    budget = sum(abs(current) for current, _ in helpful)
    total = sum(signed.value for _, signed in helpful)
    out = []
    for rule, name, current, signed in rows:
        if signed is None:
            suggested, note = None, "样本不足，保持现值"
        elif not signed.excludes_zero:
            suggested, note = None, "与结果无明确关联，保持现值"
        elif signed.value < 0:
            suggested, note = None, "做到反而结果更差：先核查规则是否误判，再决定分值"
        else:
            suggested = max(1.0, round(budget * signed.value / total)) * (1 if current > 0 else -1)
            note = "按关联强度重新分配这些规则的总扣分"
        out.append(
            WeightSuggestion(rule=rule, name=name, points=current, effect=signed, suggested=suggested, note=note)
        )
    return out
