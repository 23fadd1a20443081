"""Who reviews what: the picks of a run go to inspectors by a registered method (`@method`:
round robin, by workload), never to one the plan's policy rules out — an inspector of the
conversation's own team (`exclude_own_team`), or one who resolved an appeal of the same agent (or
conversation): a reviewer must not judge work they already judged on appeal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from zuoxi.queues.models import Inspector


class Assignable(Protocol):
    """What assignment reads of a pick: a run's new pick (`Candidate`), or an earlier one nobody was given
    (`UnassignedItem`)."""

    @property
    def conversation_key(self) -> str: ...

    @property
    def agent_id(self) -> str | None: ...

    @property
    def team(self) -> str | None: ...


@dataclass(frozen=True)
class Policy:
    exclude_own_team: bool = True
    avoid_appeal_handlers: str = "agent"  # agent | conversation
    handlers: dict[str, frozenset[int]] = field(default_factory=dict)  # agent id or conversation key → resolvers

    def refusal(
        self, inspector: Inspector, agent_id: str | None, team: str | None, conversation_key: str
    ) -> str | None:
        """Why `inspector` may not review this conversation (Chinese), or None when they may."""
        who = inspector.display_name or inspector.username
        if self.exclude_own_team and inspector.team and team and inspector.team == team:
            return f"{who} 属于会话所在的班组 {team}"
        by_agent = self.avoid_appeal_handlers == "agent"
        key = agent_id if by_agent else conversation_key
        if key and inspector.id in self.handlers.get(key, frozenset()):
            return f"{who} 处理过{'该坐席' if by_agent else '这个会话'}的申诉"
        return None


@dataclass
class Load:
    """What a method weighs: open items per inspector id, and who got this plan's last item."""

    open: Counter[int] = field(default_factory=Counter)
    last: int | None = None
    line: list[int] | None = None  # round robin's turn order during a run


Method = Callable[[list[Inspector], list[Inspector], Load], Inspector]
METHODS: dict[str, Method] = {}
METHOD_NAMES: dict[str, str] = {}


def method(name: str, title: str) -> Callable[[Method], Method]:
    """Register an assignment method: it chooses one of `eligible` (never empty), given everyone in
    the plan's order and the current load."""

    def register(choose: Method) -> Method:
        METHODS[name], METHOD_NAMES[name] = choose, title
        return choose

    return register


@method("round_robin", "轮流分配")
def round_robin(eligible: list[Inspector], everyone: list[Inspector], load: Load) -> Inspector:
    """Take turns in the plan's order, starting after the one given the plan's last item: the first
    in line who may take the item gets it and goes to the back, so one passed over (own team, an
    appeal they handled) stays at the front for the next item they may take."""
    ids = [i.id for i in everyone]
    if load.line is None or sorted(load.line) != sorted(ids):
        start = ids.index(load.last) + 1 if load.last in ids else 0
        load.line = ids[start:] + ids[:start]
    allowed = {i.id for i in eligible}
    chosen = next(i for i in load.line if i in allowed)
    load.line.remove(chosen)
    load.line.append(chosen)
    return next(i for i in everyone if i.id == chosen)


@method("workload", "按工作量分配")
def by_workload(eligible: list[Inspector], everyone: list[Inspector], load: Load) -> Inspector:
    """The inspector with the fewest open items (all plans); ties in the plan's order."""
    order = {i.id: n for n, i in enumerate(everyone)}
    return min(eligible, key=lambda i: (load.open[i.id], order[i.id]))


def assign(
    picks: Sequence[Assignable], inspectors: list[Inspector], policy: Policy, how: str, load: Load
) -> list[Inspector | None]:
    """An inspector (or None: nobody may take it) for each pick, in order; `load` is updated."""
    chosen: list[Inspector | None] = []
    for pick in picks:
        eligible = [i for i in inspectors if policy.refusal(i, pick.agent_id, pick.team, pick.conversation_key) is None]
        if not eligible:
            chosen.append(None)
            continue
        inspector = METHODS[how](eligible, inspectors, load)
        load.open[inspector.id] += 1
        load.last = inspector.id
        chosen.append(inspector)
    return chosen
