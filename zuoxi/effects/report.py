"""The figures the 技能价值 page and `zuoxi effects` show, from the store, within a user's scope:
both call these, so the page and the command line print the same numbers."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta, tzinfo

from pydantic import BaseModel

from zuoxi.coaching.library import CaseLibrary
from zuoxi.effects.behaviours import (
    ADJUSTMENT,
    CAVEAT,
    OUTCOMES,
    AgentView,
    BehaviourEffect,
    agent_view,
    behaviour_effects,
)
from zuoxi.effects.coaching import Drill, TrainingReport, Window, targeted_rules, training_effect
from zuoxi.effects.stats import BOOTSTRAP_ROUNDS
from zuoxi.store import canonical_label, source_zone
from zuoxi.store import effects as store
from zuoxi.store.queries import ConversationFilter, NotFound
from zuoxi.store.users import Account

DEFAULT_WINDOW_DAYS = 28
WAVE_DAYS = 14
RECENT_DAYS = 90
"""With no dates given, the behaviours' figures cover the RECENT_DAYS days up to the latest conversation in
view. Reading every conversation ever stored took 163 s and 10 GB at 100,000 conversations (docs/scale.md),
and grows with the years; a quarter holds enough conversations per behaviour for the intervals, and describes
the scorecards, team and customers of now rather than averaging them with last year's. Counted back from the
latest conversation, not from today, so an imported archive still shows its last quarter. Explicit dates
reach any span (the memory per conversation is small: `store.effects.observations`)."""


class OutcomeInfo(BaseModel):
    id: str
    label: str
    kind: str
    better: int
    real: bool
    percent: bool
    conversations: int  # how many in view carry it


class EffectsReport(BaseModel):
    conversations: int
    date_from: date | None  # the days the figures cover (None: no bound on that side)
    date_to: date | None
    recent: bool = False  # no dates were given: the RECENT_DAYS up to the latest conversation (`recent`)
    outcomes: list[OutcomeInfo]
    behaviours: list[BehaviourEffect]
    adjustment: str = ADJUSTMENT
    caveat: str = CAVEAT


def _outcomes(observations) -> list[OutcomeInfo]:
    return [
        OutcomeInfo(
            id=o.id,
            label=o.label,
            kind=o.kind,
            better=o.better,
            real=o.real,
            percent=o.percent,
            conversations=sum(o.id in x.outcomes for x in observations),
        )
        for o in OUTCOMES.values()
        if any(o.id in x.outcomes for x in observations)
    ]


def recent(engine, account: Account, f: ConversationFilter) -> ConversationFilter:
    """The filter as given when it has a date; else bounded to the RECENT_DAYS days (of `f.tz`) up to the
    latest conversation it takes in view (as given when none has a start time: there are no days to bound)."""
    if f.date_from or f.date_to:
        return f
    latest = store.latest_day(engine, account, f)
    if latest is None:
        return f
    return replace(f, date_from=latest - timedelta(days=RECENT_DAYS - 1), date_to=latest)


def effects_report(
    engine, account: Account, f: ConversationFilter, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0
) -> EffectsReport:
    """Every behaviour's effects over the conversations in view that the filter takes; with no dates, over
    the recent ones (`recent`)."""
    bounded = recent(engine, account, f)
    observations = store.observations(engine, account, bounded)
    return EffectsReport(
        conversations=len(observations),
        date_from=bounded.date_from,
        date_to=bounded.date_to,
        recent=bounded != f,
        outcomes=_outcomes(observations),
        behaviours=behaviour_effects(observations, rounds=rounds, seed=seed),
    )


class AgentReport(BaseModel):
    view: AgentView
    outcomes: list[OutcomeInfo]
    date_from: date | None  # as EffectsReport's
    date_to: date | None
    recent: bool = False
    adjustment: str = ADJUSTMENT
    caveat: str = CAVEAT


def agent_report(
    engine,
    account: Account,
    agent_id: str,
    f: ConversationFilter,
    outcome: str = "complaint",
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> AgentReport:
    """One agent's behaviours against everyone else in view (the filter's agent is ignored: the
    comparison needs the others); with no dates, over the RECENT_DAYS up to the agent's own latest conversation
    (`recent`): an agent who left, or moved to other work, still has a page. NotFound when the agent
    has no conversation there, so a team lead learns nothing about agents of other teams."""
    agent_id = canonical_label(agent_id) or ""
    everyone = replace(f, agent_id=None)
    theirs = recent(engine, account, replace(f, agent_id=agent_id))
    if not store.any_in_view(engine, account, theirs):
        raise NotFound(agent_id)
    bounded = replace(everyone, date_from=theirs.date_from, date_to=theirs.date_to)
    observations = store.observations(engine, account, bounded)
    if not any(o.agent_id == agent_id for o in observations):
        raise NotFound(agent_id)
    if outcome not in OUTCOMES:
        outcome = "complaint"
    effects = behaviour_effects(observations, {outcome: OUTCOMES[outcome]}, rounds=rounds, seed=seed)
    return AgentReport(
        view=agent_view(observations, agent_id, effects, outcome),
        outcomes=_outcomes(observations),
        date_from=bounded.date_from,
        date_to=bounded.date_to,
        recent=bounded != everyone,
    )


def default_windows(drills: list[Drill], tz: tzinfo) -> tuple[Window, Window]:
    """Around the latest wave of drills: the trainees' first drills within WAVE_DAYS of the most
    recent first drill, and their attempts until WAVE_DAYS after it, form the gap; the windows are
    the four weeks before the gap and the four weeks after it (days of `tz`)."""

    def day(d: Drill) -> date:
        return d.at.astimezone(tz).date()

    firsts: dict[str, date] = {}
    for d in sorted(drills, key=lambda d: d.at):
        firsts.setdefault(d.agent_id, day(d))
    latest = max(firsts.values())
    start = min(x for x in firsts.values() if x >= latest - timedelta(days=WAVE_DAYS))
    end = max(x for d in drills if start <= (x := day(d)) <= latest + timedelta(days=WAVE_DAYS))
    return (
        Window(start - timedelta(days=DEFAULT_WINDOW_DAYS), start - timedelta(days=1)),
        Window(end + timedelta(days=1), end + timedelta(days=DEFAULT_WINDOW_DAYS)),
    )


def training_report(
    engine,
    account: Account,
    library: CaseLibrary,
    case_id: str,
    before: Window | None = None,
    after: Window | None = None,
    rules: list[str] | None = None,
    team: str | None = None,
    tz: tzinfo | None = None,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> TrainingReport:
    """Training's effect for one case; windows (days of `tz`, default the source zone) default to
    `default_windows` of its drills in view. NotFound for an unknown case; ValueError for windows in
    the wrong order or no drills to anchor them."""
    tz = tz or source_zone()
    try:
        case = library.get(case_id)
    except KeyError:
        raise NotFound(case_id) from None
    if not rules:
        from zuoxi.rules.engine import get_scorecard

        try:
            known = {c.item.id for c in get_scorecard(case.scorecard).items}
        except Exception:  # noqa: BLE001 - a scorecard edited in the web app: take the rules the case names
            known = None
        rules = targeted_rules(case, known)
    drills = store.drills(engine, account, case_id)
    if before is None or after is None:
        if not drills:
            raise ValueError("这个案例在可见范围内还没有演练记录，请指定培训前后的时间窗")
        before, after = default_windows(drills, tz)
    work = store.work(engine, account, rules, before, after, tz, ConversationFilter(team=team or None))
    return training_effect(case, rules, work, drills, before, after, tz, rounds=rounds, seed=seed)
