"""What the web app asks of the store: filtered, role-scoped conversation lists, one conversation,
and the dashboard's figures.

Every query goes through `scoped()`: an agent sees only their own conversations, a team lead only
their team's, inspectors and admins everything. Access checks live here, next to the queries, so
no page or endpoint can forget them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    ColumnElement,
    Integer,
    Select,
    Text,
    case,
    cast,
    extract,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.orm import Session, defer

from zuoxi.model import HIGH_RISK, SCORE_BANDS, Conversation, Result
from zuoxi.normalize import normalize_text
from zuoxi.privacy import mask_text
from zuoxi.rules.engine import CORE_SKILLS
from zuoxi.store import as_utc, canonical_label, source_zone
from zuoxi.store.cases import masked_trainee
from zuoxi.store.races import for_update
from zuoxi.store.search import search_clause
from zuoxi.store.stats import Cells
from zuoxi.store.stats import options as stat_options
from zuoxi.store.tables import ConversationRow, ResultRow, StatRow
from zuoxi.store.users import INSPECTORS, Account

MAX_COUNT = 10_000  # conversations without a result a list counts at most
CURSOR = (
    r"^(s:-?[0-9][0-9.e+-]{0,30}:[0-9]{1,19}|u:[0-9a-f]{1,64})$"  # where a page starts: a score and result, or a key
)


SHANGHAI = ZoneInfo("Asia/Shanghai")


def _search(query: str, dialect: str):
    """`search_clause`, and a conversation whose id is the query masked as ids are stored: an inspector pastes the
    id a caller's number made (13800138000), which is kept as *******8000."""
    masked = mask_text(query.strip())
    clause = search_clause(query, dialect)
    return or_(clause, ConversationRow.id == masked) if masked != query.strip() else clause


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


@dataclass
class ConversationFilter:
    agent_id: str | None = None
    team: str | None = None
    channel: str | None = None
    scorecard: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    score_min: float | None = None
    score_max: float | None = None
    failed_rule: str | None = None
    risk_min: float | None = None
    q: str | None = None  # full-text search in the turns (Traditional or Simplified)
    page: int = 1
    per_page: int = 50
    tz: tzinfo = SHANGHAI  # the days of date_from/date_to are this zone's days
    after: str | None = None  # the page after this cursor (`Page.next`), instead of counting `page` pages
    before: str | None = None  # the page before this cursor (`Page.prev`)

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time.min, self.tz).astimezone(UTC)

    def where(self) -> list:
        c, r = ConversationRow, ResultRow
        # One result per conversation, so no list, count or average has a conversation twice: the
        # filter's scorecard, else the main one, the first result stored (what it was analysed with on import).
        clauses: list[ColumnElement[bool]] = (
            [r.scorecard == self.scorecard] if self.scorecard else [r.pk.is_(None) | (r.main == true())]
        )
        clauses += self._labels(c) + self._measures(r)
        if self.q and self.q.strip():
            clauses.append(c.search_text.contains(normalize_text(self.q.strip()), autoescape=True))
        return clauses

    def result_where(self, dialect: str) -> list:
        """`where()` on the results' own copies of the list columns, which the list indexes cover
        (the search alone reads the conversation)."""
        r = ResultRow
        clauses = [r.scorecard == self.scorecard] if self.scorecard else [r.main == true()]
        clauses += self._labels(r) + self._measures(r)
        if self.q and self.q.strip():
            clauses.append(_search(self.q, dialect))
        return clauses

    def tail_where(self, dialect: str) -> list | None:
        """The conversations with no result that the filter lists (after the scored ones); None when
        it asks for something only a result has."""
        if self.scorecard or self._measures(ResultRow):
            return None
        clauses = [ConversationRow.scored == false(), *self._labels(ConversationRow)]
        if self.q and self.q.strip():
            clauses.append(_search(self.q, dialect))
        return clauses

    def _measures(self, r) -> list:
        """What only a result has: its score, failed rules and complaint risk."""
        clauses = []
        if self.score_min is not None:
            clauses.append(r.final_score >= self.score_min)
        if self.score_max is not None:
            clauses.append(r.final_score <= self.score_max)
        if self.failed_rule:
            clauses.append(r.failed_rules.contains(f" {self.failed_rule.strip()} ", autoescape=True))
        if self.risk_min is not None:
            clauses.append(r.complaint_risk >= self.risk_min)
        return clauses

    def _labels(self, table) -> list:
        clauses = []
        for column, value in (
            (table.agent_id, canonical_label(self.agent_id)),
            (table.team, canonical_label(self.team)),
            (table.channel, self.channel),
        ):
            if value:
                clauses.append(column == value)
        if self.date_from:
            clauses.append(table.started_at >= self._midnight(self.date_from))
        if self.date_to:
            clauses.append(table.started_at < self._midnight(self.date_to + timedelta(days=1)))
        return clauses

    def cells(self, account: Account) -> Cells | None:
        """The dashboard stats this filter reads within the account's scope; None when it filters on
        what the stats do not keep (score, rule, risk, search) or counts days in another zone."""
        if (
            self._measures(ResultRow)
            or (self.q and self.q.strip())
            or getattr(self.tz, "key", None) != source_zone().key
        ):
            return None
        team, agent = canonical_label(self.team), canonical_label(self.agent_id)
        scoped_team, scoped_agent = stat_scope(account)
        empty = (team and scoped_team is not None and team != scoped_team) or (
            agent and scoped_agent is not None and agent != scoped_agent
        )
        return Cells(
            self.scorecard,
            self.channel or None,
            scoped_team if scoped_team is not None else team,
            scoped_agent if scoped_agent is not None else agent,
            self.date_from,
            self.date_to,
            empty=bool(empty),
        )


def scope_clause(account: Account):
    """The rows `account` may see, as a WHERE clause on conversations (None: everything)."""
    if account.role in INSPECTORS:
        return None
    if account.role == "team_lead":
        return ConversationRow.team == account.team
    return ConversationRow.agent_id == account.agent_id


def result_scope(account: Account) -> list:
    """`scope_clause` on the results' copies of team and agent."""
    if account.role in INSPECTORS:
        return []
    if account.role == "team_lead":
        return [ResultRow.team == account.team]
    return [ResultRow.agent_id == account.agent_id]


def stat_scope(account: Account) -> tuple[str | None, str | None]:
    """(team, agent) the account's stats are limited to: "" for a team lead without a team or an agent
    without an agent id, the stats' key for none, which `scope_clause` matches (IS NULL) as well."""
    if account.role in INSPECTORS:
        return None, None
    if account.role == "team_lead":
        return account.team or "", None
    return None, account.agent_id or ""


def scoped(query: Select, account: Account) -> Select:
    clause = scope_clause(account)
    return query if clause is None else query.where(clause)


def may_see(account: Account, row: ConversationRow) -> bool:
    if account.role in INSPECTORS:
        return True
    if account.role == "team_lead":
        return row.team is not None and row.team == account.team
    return row.agent_id is not None and row.agent_id == account.agent_id


def team_agents(engine, team: str | None) -> set[str]:
    """The agents of `team`, by the names their drills and campaign figures are keyed by: the agent ids and usernames
    of its agent users, and the agent ids on its conversations that name no other user. An inspector's, an admin's or
    a team lead's username (or agent id) on a conversation of the team, as uploaded data may carry it, does not make
    them one of its agents, nor does an agent of another team's; an agent user with no team is one by their
    conversations."""
    from zuoxi.store.tables import User

    if not team:
        return set()
    with Session(engine) as session:
        users = session.execute(select(User.role, User.team, User.agent_id, User.username)).all()
        agents = session.scalars(select(ConversationRow.agent_id).where(ConversationRow.team == team).distinct())
        on_conversations = {a for a in agents if a}
    members = {x for role, of, *names in users if role == "agent" and of == team for x in names if x}
    others = {x for role, of, *names in users if role != "agent" or of not in (team, None) for x in names if x}
    return members | (on_conversations - others)


def trainee_name(account: Account) -> str:
    """What a user's drill attempts are stored under: their agent id, else their username."""
    return account.agent_id or account.username


def trainee_scope(engine, account: Account) -> set[str] | None:
    """Whose drill attempts `account` may see, as attempts store their trainee (`masked_trainee`), None for
    everyone's: inspectors and admins everyone's, a team lead their own and their team's agents' (`team_agents`), an
    agent their own. Every page and API that shows attempts asks this."""
    if account.role in INSPECTORS:
        return None
    names = {trainee_name(account)}
    if account.role == "team_lead":
        names |= team_agents(engine, account.team)
    return {masked_trainee(name) for name in names}


@dataclass
class ListedConversation:
    key: str
    id: str
    channel: str
    agent_id: str | None
    team: str | None
    started_at: datetime | None
    scorecard: str | None
    machine_score: float | None
    score: float | None
    max_score: float | None
    veto: bool
    failed_rules: list[str]
    complaint_risk: float | None
    satisfaction: str | None
    reviewed: bool


@dataclass
class Page:
    items: list[ListedConversation]
    total: int
    page: int
    per_page: int
    exact: bool = True  # False: there are more than `total` (a filter the stats do not keep is not counted)
    next: str | None = None  # cursor of the following page (`ConversationFilter.after`); None on the last
    prev: str | None = None  # cursor of the preceding page (`ConversationFilter.before`); None on the first

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _scored(account: Account, f: ConversationFilter, dialect: str) -> Select:
    """The list's results (one per conversation), driven by the results' list indexes."""
    c, r = ConversationRow, ResultRow
    return (
        select(
            c.key,
            c.id,
            c.channel,
            c.agent_id,
            c.team,
            c.started_at,
            r.pk,
            r.scorecard,
            r.score,
            r.final_score,
            r.max_score,
            r.veto,
            r.failed_rules,
            r.complaint_risk,
            r.satisfaction,
            r.reviewed,
        )
        .join(c, c.key == r.conversation_key)
        .where(*f.result_where(dialect), *result_scope(account))
    )


def _tail(account: Account, f: ConversationFilter, dialect: str) -> Select | None:
    """The conversations without a result the list shows after the scored ones (by key)."""
    clauses = f.tail_where(dialect)
    if clauses is None:
        return None
    c = ConversationRow
    return scoped(select(c.key, c.id, c.channel, c.agent_id, c.team, c.started_at).where(*clauses), account)


def _after(part: str, cursor: tuple, backward: bool, newest: bool = False) -> list:
    """Rows past `cursor` in the list's order (see `_order`)."""
    if part == "u":
        return [ConversationRow.key < cursor[1]] if backward else [ConversationRow.key > cursor[1]]
    score, pk = cursor[1], cursor[2]
    if newest:
        return [ResultRow.pk > pk] if backward else [ResultRow.pk < pk]
    if backward:
        return [ResultRow.final_score <= score, or_(ResultRow.final_score < score, ResultRow.pk > pk)]
    return [ResultRow.final_score >= score, or_(ResultRow.final_score > score, ResultRow.pk < pk)]


def _order(part: str, backward: bool, newest: bool = False) -> tuple:
    """Worst score first, newest result first among equal scores; `newest` (a search): newest first.
    A search's matches may be thousands of conversations bunched anywhere in score order: newest first
    they are found where they occur, in the primary key's order, without reading and sorting them all.
    Conversations without a result follow, by key."""
    if part == "u":
        return (ConversationRow.key.desc(),) if backward else (ConversationRow.key.asc(),)
    if newest:
        return (ResultRow.pk.asc(),) if backward else (ResultRow.pk.desc(),)
    return (
        (ResultRow.final_score.desc(), ResultRow.pk.asc())
        if backward
        else (ResultRow.final_score.asc(), ResultRow.pk.desc())
    )


def parse_cursor(cursor: str) -> tuple:
    """("s", score, result pk) or ("u", conversation key); ValueError for anything else."""
    part, _, rest = cursor.partition(":")
    if part == "u" and rest:
        return ("u", rest)
    if part == "s":
        score, _, pk = rest.partition(":")
        return ("s", float(score), int(pk))
    raise ValueError(cursor)


def _cursor(part: str, row) -> str:
    return f"u:{row.key}" if part == "u" else f"s:{row.final_score!r}:{row.pk}"


def _walk(
    session: Session,
    parts: list[tuple[str, Select]],
    cursor: tuple | None,
    backward: bool,
    limit: int,
    offset: int = 0,
    newest: bool = False,
) -> list[tuple[str, object]]:
    """Up to `limit` rows of the list from `cursor` (or its start, skipping `offset`), forwards or
    backwards, crossing from the scored part into the tail as one ordered list."""
    out: list[tuple[str, object]] = []
    started = cursor is None
    for part, query in parts[::-1] if backward else parts:
        where = []
        if not started and cursor is not None:  # not started: there is a cursor
            if cursor[0] != part:
                continue
            where = _after(part, cursor, backward, newest)
        started = True
        rows = session.execute(
            query.where(*where).order_by(*_order(part, backward, newest)).offset(offset).limit(limit - len(out))
        ).all()
        if offset and not rows:  # the offset lies past this part: skip what it has
            offset -= session.scalar(select(func.count()).select_from(query.limit(offset).subquery())) or 0
        else:
            offset = 0
        out += [(part, row) for row in rows]
        if len(out) >= limit:
            break
    return out


def _count(session: Session, account: Account, f: ConversationFilter, parts: list[tuple[str, Select]]) -> int | None:
    """The total from the stats when the filter is one they keep (and the few conversations without a
    result, counted up to MAX_COUNT); None for other filters, whose count would read every match."""
    cells = f.cells(account)
    if cells is None:
        return None
    total = cells.count(session)
    for _part, query in parts[1:]:
        total += session.scalar(select(func.count()).select_from(query.limit(MAX_COUNT + 1).subquery())) or 0
    return total


def list_conversations(engine, account: Account, f: ConversationFilter) -> Page:
    """One page of the filtered list, worst score first (a search: newest first, `_order`). A page is found by its cursor (`after`,
    `before`: an index seek wherever it lies) or by its number (an offset, for the first pages);
    the total comes from the dashboard stats; a filter they do not keep (score, rule, risk, search) is
    not counted, it says "more than" the rows so far, as counting its matches could read a million rows."""
    per_page = max(1, min(f.per_page, 500))
    page = max(1, f.page)
    dialect = engine.dialect.name
    newest = bool(f.q and f.q.strip())
    parts = [("s", _scored(account, f, dialect))]
    if (tail := _tail(account, f, dialect)) is not None:
        parts.append(("u", tail))
    with Session(engine) as session:
        cursor = None
        if f.before:
            rows = _walk(session, parts, parse_cursor(f.before), True, per_page + 1, newest=newest)
            more, rows = len(rows) > per_page, rows[:per_page][::-1]
            prev = _cursor(*rows[0]) if more and rows else None
            next_ = _cursor(*rows[-1]) if rows else None
        else:
            cursor = parse_cursor(f.after) if f.after else None
            rows = _walk(session, parts, cursor, False, per_page + 1, 0 if cursor else (page - 1) * per_page, newest)
            more, rows = len(rows) > per_page, rows[:per_page]
            next_ = _cursor(*rows[-1]) if more else None
            prev = _cursor(*rows[0]) if rows and (cursor or page > 1) else None
        seen = (page - 1) * per_page + len(rows)  # rows up to this page's end, when it was found by number
        if not more and not f.before and not cursor and (rows or page == 1):  # the last page by number: all is known
            total, exact = seen, True
        elif (counted := _count(session, account, f, parts)) is not None:
            total, exact = counted, True
        else:  # at least the rows before the next page
            total, exact = (seen if not (f.before or cursor) else page * per_page), False
    return Page([_listed_row(part, row) for part, row in rows], total, page, per_page, exact, next_, prev)


def _listed_row(part: str, row) -> ListedConversation:
    scored = part == "s"
    return ListedConversation(
        key=row.key,
        id=row.id,
        channel=row.channel,
        agent_id=row.agent_id,
        team=row.team,
        started_at=row.started_at,
        scorecard=row.scorecard if scored else None,
        machine_score=row.score if scored else None,
        score=row.final_score if scored else None,
        max_score=row.max_score if scored else None,
        veto=bool(scored and row.veto),
        failed_rules=(row.failed_rules or "").split() if scored else [],
        complaint_risk=row.complaint_risk if scored else None,
        satisfaction=row.satisfaction if scored else None,
        reviewed=bool(scored and row.reviewed),
    )


@dataclass
class ConversationDetail:
    key: str
    conversation: Conversation
    results: list[tuple[int, Result, Result]]  # (result pk, machine result, current result)
    reviewed: dict[int, bool] = field(default_factory=dict)
    source: str | None = None  # the file it was imported from (relative audio paths start there)


def get_conversation(engine, account: Account, key: str) -> ConversationDetail:
    """One conversation with its results; NotFound / Forbidden (outside the account's scope)."""
    with Session(engine) as session:
        row = session.get(
            ConversationRow, key, options=[defer(ConversationRow.search_text), defer(ConversationRow.search_grams)]
        )
        if row is None:
            raise NotFound(key)
        if not may_see(account, row):
            raise Forbidden(key)
        results = session.scalars(
            select(ResultRow).where(ResultRow.conversation_key == key).order_by(ResultRow.scorecard)
        ).all()

        def versions(r: ResultRow) -> tuple[int, Result, Result]:
            machine = Result.model_validate(r.data)  # an unreviewed result's current version is the same: read once
            return (
                r.pk,
                machine,
                machine if r.final_data is None or r.final_data == r.data else Result.model_validate(r.final_data),
            )

        conversation = Conversation.model_validate(row.data)  # with the stored (canonical, UTC) labels and time
        conversation = conversation.model_copy(
            update={
                "team": row.team,
                "agent_id": row.agent_id,
                "started_at": as_utc(row.started_at) if row.started_at else None,
            }
        )
        return ConversationDetail(
            key=key,
            conversation=conversation,
            results=[versions(r) for r in results],
            reviewed={r.pk: bool(r.reviewed) for r in results},
            source=row.source,
        )


def result_row_for(
    session: Session, account: Account, result_pk: int, lock: bool = False
) -> tuple[ResultRow, ConversationRow]:
    """A result and its conversation, checked against the account's scope. `lock`, for a write that depends on the
    result and its decisions (a review, an appeal, its resolution): the result's row stays locked until the transaction
    ends, so two at once take turns, the second reading what the first wrote (both overturned a different finding and
    the score kept only one). Lock before reading anything else of the result."""
    if lock:
        query = for_update(session, select(ResultRow).where(ResultRow.pk == result_pk))
        result = session.scalars(query.execution_options(populate_existing=True)).first()
    else:
        result = session.get(ResultRow, result_pk)
    if result is None:
        raise NotFound(str(result_pk))
    conversation = session.get(ConversationRow, result.conversation_key)
    if conversation is None:  # the key is a foreign key: only a concurrent delete leaves none
        raise NotFound(str(result_pk))
    if not may_see(account, conversation):
        raise Forbidden(str(result_pk))
    return result, conversation


# --- dashboard -------------------------------------------------------------------------------------


@dataclass
class Dashboard:
    count: int
    average: float | None
    vetoes: int
    bands: list[tuple[str, int]]
    trend: list[tuple[str, float, int]]  # (day, average, conversations)
    failed_rules: list[tuple[str, str, int]]  # (rule, name, conversations failing it)
    risky: list[ListedConversation]  # the 20 riskiest
    high_risk: int  # conversations at or over the risk threshold
    teams: list[tuple[str, int, float]]
    agents: list[tuple[str, int, float]]
    skills: dict[str, float]  # the three core skills over the filter
    profiles: dict[str, dict[str, float]]  # agent → average of every skill and soft skill
    satisfaction: dict[str, int]


def dashboard(engine, account: Account, f: ConversationFilter, risk_threshold: float = HIGH_RISK) -> Dashboard:
    """The dashboard's figures: read from the stats kept as results are stored when the filter is one
    they keep (scorecard, channel, team, agent, days); when it only counts days in another zone than the
    stats', theirs with the trend counted from the results; else summed by the database over the results."""
    if (cells := f.cells(account)) is not None:
        return _dashboard_from_stats(engine, account, f, cells, risk_threshold)
    if f.date_from is None and f.date_to is None and (cells := replace(f, tz=source_zone()).cells(account)) is not None:
        return _dashboard_from_stats(engine, account, f, cells, risk_threshold, kept_days=False)
    return _dashboard_from_rows(engine, account, f, risk_threshold)


def _dashboard_from_stats(
    engine, account: Account, f: ConversationFilter, cells: Cells, risk_threshold: float, kept_days: bool = True
) -> Dashboard:
    """The figures of the stats' `cells`; `kept_days` False: the trend by the filter's days, from the results."""
    with Session(engine) as session:
        figures = cells.figures(session)
        count, total = figures.get("score", {}).get("", (0, 0.0))
        if kept_days:
            trend = sorted((day, round(t / n, 1), n) for day, _, _, n, t in cells.by(session, StatRow.day))
        else:
            trend = _trend(session, account, f)
        teams = {team or "—": [n, t] for team, _, _, n, t in cells.by(session, StatRow.team)}
        agents: dict[str, list] = {}
        profiles: dict[str, dict[str, float]] = {}
        for agent, kind, name, n, t in sorted(cells.by(session, StatRow.agent_id, ("score", "skill"))):
            if kind == "score":
                agents[agent or "—"] = [n, t]
            else:
                profiles.setdefault(agent or "—", {})[name] = round(t / n, 3)
        risky = _riskiest(session, account, f, engine.dialect.name, risk_threshold)
        high_risk = _high_risk(session, account, f, engine.dialect.name, risk_threshold)
    failed = sorted(figures.get("rule", {}).items(), key=lambda x: (-x[1][0], x[0]))[:10]
    names = rule_names({scorecard for scorecard in ([f.scorecard] if f.scorecard else _scorecards(engine, cells))})
    return Dashboard(
        count=count,
        average=round(total / count, 1) if count else None,
        vetoes=figures.get("veto", {}).get("", (0, 0.0))[0],
        bands=[(label, figures.get("band", {}).get(label, (0, 0.0))[0]) for _, _, label in SCORE_BANDS],
        trend=trend,
        failed_rules=[(rule, names.get(rule, rule), n) for rule, (n, _) in failed],
        risky=risky,
        high_risk=high_risk,
        teams=_averages(teams),
        agents=_averages(agents),
        skills=_core_skills(figures.get("skill", {})),
        profiles=profiles,
        satisfaction={k: n for k, (n, _) in figures.get("satisfaction", {}).items()},
    )


def _scorecards(engine, cells: Cells) -> set[str]:
    with Session(engine) as session:
        return set(session.scalars(select(StatRow.scorecard).where(*cells.where(), StatRow.kind == "score").distinct()))


def rule_names(scorecards: set[str]) -> dict[str, str]:
    """Each rule's name in the scorecards (the first that has it), built-in or registered ones only:
    a name read from the database never becomes a file path."""
    from zuoxi.rules.engine import get_scorecard
    from zuoxi.rules.scorecard import ScorecardError, builtin_names, registered_text

    names: dict[str, str] = {}
    for scorecard in sorted(scorecards):
        if scorecard not in builtin_names() and registered_text(scorecard) is None:
            continue
        try:
            items = get_scorecard(scorecard).items
        except ScorecardError:
            continue
        for compiled in items:
            names.setdefault(compiled.item.id, compiled.item.name)
    return names


def _riskiest(session: Session, account: Account, f: ConversationFilter, dialect: str, threshold: float) -> list:
    """The 20 conversations most likely to become complaints, read in the risk index's order."""
    rows = session.execute(
        _scored(account, f, dialect)
        .where(ResultRow.complaint_risk >= threshold)
        .order_by(ResultRow.complaint_risk.desc(), ResultRow.pk.desc())
        .limit(20)
    ).all()
    return [_listed_row("s", row) for row in rows]


def _core_skills(sums: dict) -> dict[str, float]:
    """The core skills' averages from their (count, total), always in CORE_SKILLS' order: the cards kept their
    places whichever way the figures were summed."""
    return {k: round(sums[k][1] / sums[k][0], 3) for k in CORE_SKILLS if k in sums}


def _high_risk(session: Session, account: Account, f: ConversationFilter, dialect: str, threshold: float) -> int:
    """How many conversations the filter takes are at or over the risk threshold (the card; the list shows 20)."""
    risky = _matching(account, f, dialect, func.count()).where(ResultRow.complaint_risk >= threshold)
    return session.scalar(risky.select_from(ResultRow)) or 0


def _matching(account: Account, f: ConversationFilter, dialect: str, *columns) -> Select:
    """`columns` of the results the filter matches in the account's scope, one per conversation as the list
    has them, on the results' own copies of the list columns. A search within a team or an agent looks in
    those results' conversations; a search of every result finds its conversations first, once (looking
    in each result's conversation took twice as long on SQLite)."""
    query = select(*columns).where(*replace(f, q=None).result_where(dialect), *result_scope(account))
    if not (f.q and f.q.strip()):
        return query
    found = select(ConversationRow.key).where(_search(f.q, dialect))
    if f.team or f.agent_id or account.role not in INSPECTORS:
        return query.where(found.where(ConversationRow.key == ResultRow.conversation_key).exists())
    return query.where(ResultRow.conversation_key.in_(found))


def _current_score():
    return func.coalesce(ResultRow.final_score, ResultRow.score)


# A result's current version is its machine one (`data`, `veto`) until a person's decision recomputes it
# into `final_data` and marks it reviewed (zuoxi.store.reviews): only a reviewed result's JSON is read for
# its veto, and one document of each result for its skills (reading a document is most of the time).
def _current_veto():
    return case((ResultRow.reviewed == true(), ResultRow.final_data["veto"].as_boolean()), else_=ResultRow.veto)


def _current_skills():
    return case((ResultRow.reviewed == true(), ResultRow.final_data["skills"]), else_=ResultRow.data["skills"])


def current_data():
    """A result's current version as one JSON expression, chosen in SQL so that only one document is decoded:
    `final_data` (the machine's own JSON again for a result never reviewed, as `save_results` writes it), else the
    machine's `data` where it is SQL NULL, or the JSON null or {} that older writers left."""
    r = ResultRow
    unset = or_(r.final_data.is_(None), cast(r.final_data, Text).in_(("null", "{}")))
    return type_coerce(case((unset, r.data), else_=r.final_data), JSON)


def _count_if(condition):
    return func.sum(case((condition, 1), else_=0))


def _add(sums: dict[str, list], name: str, n: int, total: float) -> None:
    """Adds n values summing to `total` to `name`'s [count, sum]."""
    counted = sums.setdefault(name, [0, 0.0])
    counted[0] += n
    counted[1] += total


def _averages(sums: dict[str, list]) -> list[tuple[str, int, float]]:
    """(name, count, average) lowest average first, as the stats' figures are ordered."""
    return sorted(((k, n, round(t / n, 1)) for k, (n, t) in sums.items()), key=lambda x: (x[2], x[0]))


def _trend(session: Session, account: Account, f: ConversationFilter) -> list[tuple[str, float, int]]:
    """(day, average, conversations) by the filter zone's days. The database sums by quarter hour (UTC),
    which fold into any zone's days (zones are whole quarter hours off UTC): days × 96 rows at most."""
    seconds = extract("epoch", ResultRow.started_at)
    quarter: ColumnElement[int] = literal_column("900", Integer)
    start = seconds - ((seconds % quarter) + quarter) % quarter  # rounded down, before 1970 too
    query = (
        _matching(account, f, session.get_bind().dialect.name, start, func.count(), func.sum(_current_score()))
        .where(ResultRow.started_at.is_not(None))
        .group_by(start)
    )
    days: dict[str, list] = {}
    for moment, n, total in session.execute(query):
        _add(days, datetime.fromtimestamp(int(moment), f.tz).date().isoformat(), n, total)
    return [(day, round(t / n, 1), n) for day, (n, t) in sorted(days.items())]


def _itemised(session: Session, account: Account, f: ConversationFilter) -> tuple[Counter[str], dict]:
    """The failed items counted, and each agent's skills as [count, sum], in one pass over the results a
    chunk at a time: a failed item and a skill are no column the database can group by."""
    query = _matching(
        account, f, session.get_bind().dialect.name, ResultRow.agent_id, _current_skills(), ResultRow.failed_rules
    )
    failed: Counter[str] = Counter()
    profiles: dict[str, dict[str, list]] = {}
    for agent, skills, failed_rules in session.execute(query.execution_options(yield_per=2_000)):
        if failed_rules:
            failed.update(failed_rules.split())
        if skills:  # a step per skill of every result: kept short
            profile = profiles.setdefault(agent or "—", {})
            for name, value in skills.items():
                if (sums := profile.get(name)) is None:
                    profile[name] = [1, value]
                else:
                    sums[0] += 1
                    sums[1] += value
    return failed, profiles


def _dashboard_from_rows(engine, account: Account, f: ConversationFilter, risk_threshold: float) -> Dashboard:
    """The figures of a filter the stats do not keep (score, rule, risk, search), summed by the database
    over the matching results: by their labels, by quarter hour, and their skills and failed items read a
    chunk at a time. Memory holds sums, never the results (a search of 100,000 conversations once loaded
    every result's JSON)."""
    r, dialect = ResultRow, engine.dialect.name
    labels = (r.scorecard, r.team, r.agent_id, r.satisfaction)
    grouped = _matching(
        account,
        f,
        dialect,
        *labels,
        func.count(),
        func.sum(_current_score()),
        func.count(r.final_score),
        func.sum(r.final_score),
        _count_if(_current_veto()),
        _count_if(r.complaint_risk >= risk_threshold),
        *(_count_if((r.final_score >= lo) & (r.final_score < hi)) for lo, hi, _ in SCORE_BANDS),
    ).group_by(*labels)
    scored, scored_total, vetoes, high_risk, bands = 0, 0.0, 0, 0, [0] * len(SCORE_BANDS)
    teams: dict[str, list] = {}
    agents: dict[str, list] = {}
    skills: dict[str, list] = {}
    satisfaction: Counter[str] = Counter()
    scorecards: set[str] = set()
    with Session(engine) as session:
        for (
            scorecard,
            team,
            agent,
            satisfied,
            n,
            total,
            n_scored,
            of_scored,
            n_vetoes,
            n_risky,
            *in_bands,
        ) in session.execute(grouped):
            _add(teams, team or "—", n, total)
            _add(agents, agent or "—", n, total)
            scored += n_scored
            scored_total += of_scored or 0.0
            vetoes += n_vetoes or 0
            high_risk += n_risky or 0
            bands = [have + (more or 0) for have, more in zip(bands, in_bands)]
            satisfaction[satisfied or ""] += n
            scorecards.add(scorecard)
        trend = _trend(session, account, f)
        failed, profiles = _itemised(session, account, f)
        risky = _riskiest(session, account, f, dialect, risk_threshold)
    for name, sums in ((name, p[name]) for p in profiles.values() for name in CORE_SKILLS if name in p):
        _add(skills, name, *sums)
    names = rule_names({f.scorecard} if f.scorecard else scorecards)
    count = sum(n for n, _ in teams.values())
    return Dashboard(
        count=count,
        average=round(scored_total / scored, 1) if scored else None,
        vetoes=vetoes,
        bands=[(label, n) for (_, _, label), n in zip(SCORE_BANDS, bands)],
        trend=trend,
        failed_rules=[
            (rule, names.get(rule, rule), n) for rule, n in sorted(failed.items(), key=lambda x: (-x[1], x[0]))[:10]
        ],
        risky=risky,
        high_risk=high_risk,
        teams=_averages(teams),
        agents=_averages(agents),
        skills=_core_skills(skills),
        profiles={a: {k: round(t / n, 3) for k, (n, t) in p.items()} for a, p in sorted(profiles.items())},
        satisfaction={k: n for k, n in satisfaction.items() if k},
    )


def filter_options(engine, account: Account) -> dict[str, list[str]]:
    """Distinct agents, teams, channels and scorecards within the account's scope, for filter menus:
    those with results from the stats, those without from the few conversations not analysed."""
    team, agent = stat_scope(account)
    c = ConversationRow
    with Session(engine) as session:
        found = stat_options(session, team, agent)
        tail = scoped(select(c.agent_id, c.team, c.channel).where(c.scored == false()).distinct(), account)
        for agent_id, team_name, channel in session.execute(tail):
            for name, value in (("agents", agent_id), ("teams", team_name), ("channels", channel)):
                if value:
                    found[name].add(value)
    return {name: sorted(values) for name, values in found.items()}


__all__ = [
    "ConversationFilter",
    "Dashboard",
    "Forbidden",
    "NotFound",
    "Page",
    "dashboard",
    "filter_options",
    "get_conversation",
    "list_conversations",
    "may_see",
    "result_row_for",
    "scoped",
    "team_agents",
    "trainee_name",
    "trainee_scope",
]
