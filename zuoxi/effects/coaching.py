"""Training's effect on the agent: scores and the targeted rules' failure rates in real
conversations before and after drilling a case, next to agents who did not drill it
(difference in differences), with the drills' own progress beside it.

The drilled agents' change alone would also count whatever changed for everyone between the two
windows (a new product, a quiet season, a stricter scorecard); subtracting the change of the agents
who did not drill removes that, provided both groups would have moved alike without the drill. The
groups are not randomised: the figures remain an association, and the page says so.

Who counts as drilled: an agent whose first attempt on the case falls after the "before" window
ends and no later than the first day of the "after" window. Agents who drilled the case at any other
time are left out of both groups (listed as excluded); agents who never drilled it are the controls.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

import numpy as np
from pydantic import BaseModel

from zuoxi.campaigns.analytics import wilson
from zuoxi.campaigns.models import Rate
from zuoxi.coaching.cases import Case
from zuoxi.effects.behaviours import CUSTOMER_SIDE
from zuoxi.effects.stats import BOOTSTRAP_ROUNDS, Estimate, boot_means, boot_ratios, interval, newcombe

EARLIEST, LATEST = date(1990, 1, 1), date(2099, 12, 31)
RULE_ID = re.compile(r"\b[A-Z]{2}-\d{2}\b")
CAVEAT = (
    "差异中的差异（DiD）：演练组前后变化减去未演练组同期的前后变化，扣除了同期所有人共同的变化；"
    "但演练不是随机分配的，只有在两组本来会同样变化的前提下才能读作演练的效果。"
)


@dataclass(frozen=True)
class Window:
    """Days of the contact centre's time zone, both ends included; dates a user typed are bounded here."""

    start: date
    end: date

    def __post_init__(self):
        if not (EARLIEST <= self.start <= LATEST and EARLIEST <= self.end <= LATEST):
            raise ValueError(f"时间窗的日期须在 {EARLIEST} 至 {LATEST} 之间")
        if self.start > self.end:
            raise ValueError("时间窗的开始日期不能晚于结束日期")

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass
class Work:
    """One scored conversation of an agent, as training's effect reads it."""

    agent_id: str
    team: str | None
    started_at: datetime
    score: float  # percent of the scorecard's maximum
    fails: int  # the targeted rules that failed
    chances: int  # the targeted rules that applied (passed or failed)


@dataclass
class Drill:
    agent_id: str  # the trainee, resolved to their agent id where the user has one
    at: datetime
    score: float  # percent of the maximum
    outcome: str | None


def targeted_rules(case: Case, scorecard_rules: set[str] | None = None) -> list[str]:
    """The rules a case trains: those its trainer names in the analysis, guide answers and best
    replies (e.g. "（SA-03）"), kept to the case's scorecard when that is known; else the rules
    its own transcript fails under that scorecard (without the models, so it is deterministic)."""
    text = " ".join([case.analysis, *(g.answer for g in case.guide), *(b.why for b in case.best_solutions)])
    named = [r for r in dict.fromkeys(RULE_ID.findall(text)) if not scorecard_rules or r in scorecard_rules]
    if named:
        return [r for r in named if r not in CUSTOMER_SIDE]
    from zuoxi.pipeline import analyze_conversation  # the pipeline loads the scorecards: only when needed

    result = analyze_conversation(case.conversation, case.scorecard, models=False)
    return [f.rule for f in result.failed() if f.rule not in CUSTOMER_SIDE]


class AgentChange(BaseModel):
    agent_id: str
    team: str | None
    drilled: bool
    before_n: int
    after_n: int
    score_before: float
    score_after: float
    score_change: Estimate | None  # after − before, bootstrap over the agent's conversations
    fail_before: Rate  # targeted rules failed ÷ applied
    fail_after: Rate
    fail_change: Estimate | None  # Newcombe
    did_score: Estimate | None = None  # drilled agents: own change − the controls' mean change
    did_fail: Estimate | None = None
    attempts: int = 0
    first_attempt: float | None = None  # drill scores, percent of the maximum
    last_attempt: float | None = None
    best_attempt: float | None = None
    last_outcome: str | None = None


class GroupChange(BaseModel):
    """The drilled agents of a team (or all of them) against every control agent in view."""

    label: str
    drilled: int
    controls: int
    score_change: float  # mean of the drilled agents' changes
    control_score_change: float
    did_score: Estimate | None
    fail_change: float | None
    control_fail_change: float | None
    did_fail: Estimate | None


class TrainingReport(BaseModel):
    case_id: str
    title: str
    rules: list[str]
    before: tuple[date, date]
    after: tuple[date, date]
    agents: list[AgentChange]
    groups: list[GroupChange]
    excluded: list[str]  # drilled the case outside the gap between the windows
    attempts_progress: Estimate | None  # mean (last − first) drill score of trainees with 2+ attempts
    trainees_with_progress: int


@dataclass
class _Agent:
    agent_id: str
    team: str | None
    before: list[Work]
    after: list[Work]
    score_draws: np.ndarray | None = None  # bootstrap draws of the changes, over the agent's conversations
    fail_draws: np.ndarray | None = None

    def score_change(self) -> float:
        return float(np.mean([w.score for w in self.after]) - np.mean([w.score for w in self.before]))

    def fail_change(self) -> float | None:
        b, a = (sum(w.chances for w in ws) for ws in (self.before, self.after))
        if not a or not b:
            return None
        return sum(w.fails for w in self.after) / a - sum(w.fails for w in self.before) / b

    def resample(self, rng, rounds) -> None:
        def ratios(ws):
            return boot_ratios(
                np.array([w.fails for w in ws], float), np.array([w.chances for w in ws], float), rng, rounds
            )

        self.score_draws = boot_means(np.array([w.score for w in self.after]), rng, rounds) - boot_means(
            np.array([w.score for w in self.before]), rng, rounds
        )
        if self.fail_change() is not None:
            self.fail_draws = ratios(self.after) - ratios(self.before)


def _pooled(agents: list[_Agent], fail: bool, rng, rounds) -> tuple[float, np.ndarray] | None:
    """The mean change over agents, with a two-stage bootstrap: resample the agents, then take each
    chosen agent's own resampled change. Resampling agents alone would understate the uncertainty
    of a handful of agents; this errs the other way, a little."""
    changes: list[float | None] = []
    agent_draws: list[np.ndarray] = []
    for a in agents:
        own = a.fail_draws if fail else a.score_draws
        if own is not None:
            changes.append(a.fail_change() if fail else a.score_change())
            agent_draws.append(own)
    if not agent_draws:
        return None
    values = np.array(changes)
    draws = np.vstack(agent_draws)
    pick = rng.integers(0, len(agent_draws), size=(rounds, len(agent_draws)))
    with np.errstate(all="ignore"):
        return float(values.mean()), np.nanmean(draws[pick, np.arange(rounds)[:, None]], axis=1)


def _did(drilled: list[_Agent], controls: list[_Agent], rng, rounds, label: str) -> GroupChange:
    score_d, score_c = _pooled(drilled, False, rng, rounds), _pooled(controls, False, rng, rounds)
    assert score_d is not None and score_c is not None  # neither group is empty, and every agent was resampled
    fail_d, fail_c = _pooled(drilled, True, rng, rounds), _pooled(controls, True, rng, rounds)
    return GroupChange(
        label=label,
        drilled=len(drilled),
        controls=len(controls),
        score_change=score_d[0],
        control_score_change=score_c[0],
        did_score=interval(score_d[1] - score_c[1], score_d[0] - score_c[0]),
        fail_change=fail_d[0] if fail_d else None,
        control_fail_change=fail_c[0] if fail_c else None,
        did_fail=interval(fail_d[1] - fail_c[1], fail_d[0] - fail_c[0]) if fail_d and fail_c else None,
    )


def training_effect(
    case: Case,
    rules: list[str],
    work: list[Work],
    drills: list[Drill],
    before: Window,
    after: Window,
    tz: tzinfo,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> TrainingReport:
    """`work`: the scored conversations in view (any dates; those outside the windows are ignored);
    `drills`: the attempts on this case; `tz`: the zone whose days the windows are."""
    if before.end >= after.start:
        raise ValueError("培训前的时间窗必须在培训后的时间窗开始之前结束")
    rng = np.random.default_rng(seed)
    attempts: dict[str, list[Drill]] = defaultdict(list)
    for d in sorted(drills, key=lambda d: d.at):
        attempts[d.agent_id].append(d)
    first = {agent: ds[0].at.astimezone(tz).date() for agent, ds in attempts.items()}
    in_gap = {agent for agent, day in first.items() if before.end < day <= after.start}
    never = {agent for agent, day in first.items() if day > after.end}  # drilled only after it all: still a control
    agents = _agents_in_windows(work, before, after, tz)
    usable = [a for a in agents if a.before and a.after]
    drilled = [a for a in usable if a.agent_id in in_gap]
    controls = [a for a in usable if a.agent_id not in attempts or a.agent_id in never]
    excluded = sorted(a for a in attempts if a not in in_gap and a not in never)

    for a in drilled + controls:
        a.resample(rng, rounds)
    control_score, control_fail = _pooled(controls, False, rng, rounds), _pooled(controls, True, rng, rounds)
    rows = [
        _agent_row(a, attempts.get(a.agent_id, []) if a.agent_id in in_gap else None, control_score, control_fail)
        for a in sorted(drilled + controls, key=lambda a: (a.agent_id not in in_gap, a.team or "", a.agent_id))
    ]
    groups = _groups(drilled, controls, rng, rounds)
    progress = [ds[-1].score - ds[0].score for agent, ds in attempts.items() if len(ds) > 1 and agent in in_gap]
    return TrainingReport(
        case_id=case.id,
        title=case.title,
        rules=rules,
        before=(before.start, before.end),
        after=(after.start, after.end),
        agents=rows,
        groups=groups,
        excluded=excluded,
        attempts_progress=interval(boot_means(np.array(progress), rng, rounds), float(np.mean(progress)))
        if progress
        else None,
        trainees_with_progress=len(progress),
    )


def _agents_in_windows(work: list[Work], before: Window, after: Window, tz: tzinfo) -> list[_Agent]:
    """Each agent's conversations in the two windows, and the team they worked most in."""
    agents: dict[str, _Agent] = {}
    teams: dict[str, Counter] = defaultdict(Counter)
    for w in work:
        day = w.started_at.astimezone(tz).date()
        side = "before" if day in before else "after" if day in after else None
        if side is None:
            continue
        agent = agents.setdefault(w.agent_id, _Agent(w.agent_id, None, [], []))
        getattr(agent, side).append(w)
        teams[w.agent_id][w.team] += 1
    for agent in agents.values():
        agent.team = teams[agent.agent_id].most_common(1)[0][0]
    return list(agents.values())


def _agent_row(
    a: _Agent,
    drills: list[Drill] | None,
    control_score: tuple[float, np.ndarray] | None,
    control_fail: tuple[float, np.ndarray] | None,
) -> AgentChange:
    """One resampled agent's change; `drills`: the attempts of a drilled agent (None for a control),
    who is also set against the controls' mean change."""
    assert a.score_draws is not None  # resampled
    fb, fa = (wilson(sum(w.fails for w in ws), sum(w.chances for w in ws)) for ws in (a.before, a.after))
    row = AgentChange(
        agent_id=a.agent_id,
        team=a.team,
        drilled=drills is not None,
        before_n=len(a.before),
        after_n=len(a.after),
        score_before=float(np.mean([w.score for w in a.before])),
        score_after=float(np.mean([w.score for w in a.after])),
        score_change=interval(a.score_draws, a.score_change()),
        fail_before=fb,
        fail_after=fa,
        fail_change=newcombe(fa.successes, fa.n, fb.successes, fb.n),
    )
    if drills is not None:
        if control_score is not None:
            row.did_score = interval(a.score_draws - control_score[1], a.score_change() - control_score[0])
        if control_fail is not None and a.fail_draws is not None and (fail := a.fail_change()) is not None:
            row.did_fail = interval(a.fail_draws - control_fail[1], fail - control_fail[0])
        row.attempts, row.first_attempt, row.last_attempt = len(drills), drills[0].score, drills[-1].score
        row.best_attempt, row.last_outcome = max(d.score for d in drills), drills[-1].outcome
    return row


def _groups(drilled: list[_Agent], controls: list[_Agent], rng, rounds) -> list[GroupChange]:
    """The drilled agents together against the controls, and each team's when there are several."""
    groups = []
    if drilled and controls:
        groups.append(_did(drilled, controls, rng, rounds, "全部"))
        by_team: dict[str, list[_Agent]] = defaultdict(list)
        for a in drilled:
            by_team[a.team or "—"].append(a)
        if len(by_team) > 1:
            groups += [_did(members, controls, rng, rounds, team) for team, members in sorted(by_team.items())]
    return groups
