"""The dashboard's figures, kept up to date as results are stored instead of recomputed per request.

Every flush that adds or changes a result (analysis, re-analysis, review, appeal, whichever code
does it) adds the new version's contribution to the `stats` table and takes away the old one's, in
the same transaction. A cell is a day (in the store's zone, `source_zone()`), scorecard, main result
or not, channel, team and agent; each cell is kept at four grains (with or without the day, with or
without the agent), so that a year of a whole center is a few thousand rows to sum and one agent's
month a few hundred.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import delete, event, false, func, inspect, select, text, true
from sqlalchemy.orm import Session

from zuoxi.model import SCORE_BANDS
from zuoxi.store import races
from zuoxi.store.tables import ResultRow, StatRow

# (grain, keeps the day, keeps the agent)
GRAINS = ((0, True, True), (1, True, False), (2, False, True), (3, False, False))
NO_DAY = "-"  # a day-keeping cell of conversations with no start time (no trend point, no date range)
KEY = ("grain", "main", "scorecard", "team", "agent_id", "day", "channel", "kind", "name")
_FACTS = (
    "scorecard",
    "main",
    "channel",
    "team",
    "agent_id",
    "started_at",
    "final_score",
    "final_data",
    "data",
    "failed_rules",
    "satisfaction",
    "score",
)


def day_of(started: datetime | None, zone) -> str:
    from zuoxi.store import as_utc

    return as_utc(started).astimezone(zone).date().isoformat() if started else NO_DAY


def band_of(score: float) -> str | None:
    return next((label for lo, hi, label in SCORE_BANDS if lo <= score < hi), None)


def contribution(facts: dict, zone) -> list[tuple[tuple, int, float]]:
    """What one result adds to the stats: (key, n, total) for each grain and figure."""
    current = facts["final_data"] or facts["data"] or {}
    score = facts["final_score"] if facts["final_score"] is not None else facts["score"]
    figures = [("score", "", 1, score)]
    if current.get("veto"):
        figures.append(("veto", "", 1, 0.0))
    if (band := band_of(score)) is not None:
        figures.append(("band", band, 1, 0.0))
    figures += [("rule", rule, 1, 0.0) for rule in (facts["failed_rules"] or "").split()]
    if facts["satisfaction"]:
        figures.append(("satisfaction", facts["satisfaction"], 1, 0.0))
    figures += [("skill", name, 1, float(value)) for name, value in (current.get("skills") or {}).items()]
    day = day_of(facts["started_at"], zone)
    out = []
    for grain, keeps_day, keeps_agent in GRAINS:
        cell = (
            grain,
            bool(facts["main"]),
            facts["scorecard"],
            facts["team"] or "",
            (facts["agent_id"] or "") if keeps_agent else "",
            day if keeps_day else "",
            facts["channel"] or "",
        )
        out += [((*cell, kind, name), n, total) for kind, name, n, total in figures]
    return out


def facts_of(row: ResultRow) -> dict:
    return {name: getattr(row, name) for name in _FACTS}


def _old_facts(row: ResultRow) -> dict | None:
    """The facts of a changed row as they were before this flush; None when none of them changed."""
    state = inspect(row)
    old, changed = {}, False
    for name in _FACTS:
        history = state.attrs[name].history
        if history.deleted:
            old[name], changed = history.deleted[0], True
        elif history.added:
            old[name], changed = None, True
        else:
            old[name] = getattr(row, name)
    return old if changed else None


# A stats cell's key (the KEY columns) -> the count and sum of scores to add to it.
Deltas = dict[tuple, tuple[int, float]]


def add(deltas: Deltas, facts: dict, sign: int, zone) -> None:
    for key, n, total in contribution(facts, zone):
        count, summed = deltas.get(key, (0, 0.0))
        deltas[key] = (count + sign * n, summed + sign * total)


def apply(connection, deltas: Deltas) -> None:
    """Add the deltas to the stats table (an upsert: concurrent writers add, they do not overwrite)."""
    rows = [dict(zip(KEY, key), n=n, total=total) for key, (n, total) in deltas.items() if n or total]
    if not rows:
        return
    statement = races.insert(connection.dialect.name, StatRow)
    statement = statement.on_conflict_do_update(
        index_elements=list(KEY),
        set_={"n": StatRow.n + statement.excluded.n, "total": StatRow.total + statement.excluded.total},
    )
    # A stable order: two transactions adding to the same cells lock them in the same order.
    rows.sort(key=lambda r: tuple(str(r[k]) for k in KEY))
    for begin in range(0, len(rows), 2000):
        connection.execute(statement, rows[begin : begin + 2000])


def keep_counts() -> None:
    """Count every flush of results into the stats, whichever session flushes (once per process)."""
    if not event.contains(Session, "before_flush", _count_flush):
        event.listen(Session, "before_flush", _count_flush)


def _count_flush(session: Session, flush_context, instances) -> None:
    from zuoxi.store import source_zone

    zone = None
    deltas: Deltas = {}
    for row in session.new:
        if isinstance(row, ResultRow):
            zone = zone or source_zone()
            add(deltas, facts_of(row), +1, zone)
    for row in session.dirty:
        if isinstance(row, ResultRow) and (old := _old_facts(row)) is not None:
            zone = zone or source_zone()
            add(deltas, old, -1, zone)
            add(deltas, facts_of(row), +1, zone)
    for row in session.deleted:
        if isinstance(row, ResultRow):
            zone = zone or source_zone()
            add(deltas, _old_facts(row) or facts_of(row), -1, zone)
    if deltas:
        apply(session.connection(), deltas)


def rebuild(connection, batch: int = 5_000) -> None:
    """The stats recomputed from every result (after a migration, or when labels were made canonical)."""
    from zuoxi.store import source_zone

    zone = source_zone()
    columns = [ResultRow.pk] + [getattr(ResultRow, name) for name in _FACTS]
    if connection.dialect.name == "postgresql":
        # Writers add to the figures as they store results: none may add between the DELETE and the sums (it was
        # then counted twice), nor while the sums are stored. Readers go on. SQLite's writers wait for any write.
        connection.execute(text(f"LOCK TABLE {StatRow.__tablename__} IN EXCLUSIVE MODE"))
    connection.execute(delete(StatRow))
    deltas: Deltas = {}
    last = 0
    while rows := connection.execute(
        select(*columns).where(ResultRow.pk > last).order_by(ResultRow.pk).limit(batch)
    ).all():
        for row in rows:
            add(deltas, dict(zip(_FACTS, row[1:])), +1, zone)
        last = rows[-1][0]
        if len(deltas) > 100_000:
            apply(connection, deltas)
            deltas.clear()
    apply(connection, deltas)


def _kept(connection) -> dict[tuple, tuple[int, float]]:
    query = select(*(getattr(StatRow, name) for name in KEY), StatRow.n, StatRow.total)
    return {tuple(row[: len(KEY)]): (row[-2], row[-1] or 0.0) for row in connection.execute(query) if row[-2]}


def rebuild_figures(engine) -> tuple[int, int, int]:
    """The figures recomputed from every result in one transaction (`zuoxi db rebuild-stats`), for figures that
    drifted from the results (an older zuoxi took two writers' changes to a result both away); returns (results,
    cells, cells that were wrong)."""
    with engine.begin() as connection:
        before = _kept(connection)
        rebuild(connection)
        after = _kept(connection)
        results = connection.scalar(select(func.count()).select_from(ResultRow)) or 0
    wrong = sum(
        1
        for key in before.keys() | after.keys()
        if (old := before.get(key, (0, 0.0)))[0] != (new := after.get(key, (0, 0.0)))[0]
        or abs(old[1] - new[1]) > 1e-6 * max(1.0, abs(new[1]))
    )
    return results, len(after), wrong


# --- reading ----------------------------------------------------------------------------------------


class Cells:
    """The stats rows one dashboard or count reads: the filter's scorecard (or main results), channel,
    team, agent and days, at the grain that keeps what the question needs and no more."""

    def __init__(
        self,
        scorecard: str | None,
        channel: str | None,
        team: str | None,
        agent: str | None,
        day_from: date | None,
        day_to: date | None,
        empty: bool = False,
    ):
        """`empty`: the filter and the reader's scope exclude each other (another team's agent)."""
        self.scorecard, self.channel, self.team, self.agent = scorecard, channel, team, agent
        self.day_from, self.day_to, self.empty = day_from, day_to, empty

    def where(self, by_day: bool = False, by_agent: bool = False) -> list:
        dated = by_day or self.day_from is not None or self.day_to is not None
        per_agent = by_agent or self.agent is not None
        grain = next(g for g, keeps_day, keeps_agent in GRAINS if keeps_day == dated and keeps_agent == per_agent)
        s = StatRow
        if self.empty:
            return [false()]
        clauses = [s.grain == grain, (s.scorecard == self.scorecard) if self.scorecard else s.main == true()]
        if self.scorecard:
            clauses.append(s.main.in_([True, False]))  # the unique index's second column: keep it usable
        for column, value in ((s.channel, self.channel), (s.team, self.team), (s.agent_id, self.agent)):
            if value is not None:
                clauses.append(column == value)
        if dated:
            clauses.append(s.day != NO_DAY)
            if self.day_from:
                clauses.append(s.day >= self.day_from.isoformat())
            if self.day_to:
                clauses.append(s.day <= self.day_to.isoformat())
        return clauses

    def count(self, session: Session) -> int:
        return int(session.scalar(select(func.sum(StatRow.n)).where(*self.where(), StatRow.kind == "score")) or 0)

    def figures(self, session: Session) -> dict[str, dict[str, tuple[int, float]]]:
        """kind → name → (n, total), summed over the cells."""
        out: dict[str, dict[str, tuple[int, float]]] = {}
        query = (
            select(StatRow.kind, StatRow.name, func.sum(StatRow.n), func.sum(StatRow.total))
            .where(*self.where())
            .group_by(StatRow.kind, StatRow.name)
            .having(func.sum(StatRow.n) > 0)
        )
        for kind, name, n, total in session.execute(query):
            out.setdefault(kind, {})[name] = (int(n), float(total or 0))
        return out

    def by(self, session: Session, column, kinds: Iterable[str] = ("score",)) -> list[tuple]:
        """(value of `column`, kind, name, n, total) for each value, the scores summed per day, team or agent."""
        query = (
            select(column, StatRow.kind, StatRow.name, func.sum(StatRow.n), func.sum(StatRow.total))
            .where(
                *self.where(by_day=column is StatRow.day, by_agent=column is StatRow.agent_id),
                StatRow.kind.in_(list(kinds)),
            )
            .group_by(column, StatRow.kind, StatRow.name)
            .having(func.sum(StatRow.n) > 0)
        )
        return [tuple(row) for row in session.execute(query)]


def options(session: Session, team: str | None, agent: str | None) -> dict[str, set[str]]:
    """The agents, teams, channels and scorecards with results, within a team or agent scope ("": none)."""
    query = (
        select(StatRow.agent_id, StatRow.team, StatRow.channel, StatRow.scorecard)
        .distinct()
        .where(StatRow.grain == 2, StatRow.kind == "score", StatRow.n > 0)
    )
    if team is not None:
        query = query.where(StatRow.team == team)
    if agent is not None:
        query = query.where(StatRow.agent_id == agent)
    found: dict[str, set[str]] = {"agents": set(), "teams": set(), "channels": set(), "scorecards": set()}
    for agent_id, team_name, channel, scorecard in session.execute(query):
        for name, value in (
            ("agents", agent_id),
            ("teams", team_name),
            ("channels", channel),
            ("scorecards", scorecard),
        ):
            if value:
                found[name].add(value)
    return found
