"""What the web app asks of the store: filtered, role-scoped conversation lists, one conversation,
and the dashboard's figures.

Every query goes through `scoped()`: an agent sees only their own conversations, a team lead only
their team's, inspectors and admins everything. Access checks live here, next to the queries, so
no page or endpoint can forget them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from statistics import mean
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, false, func, or_, select, true
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


def _listed(c: ConversationRow, r: ResultRow | None) -> ListedConversation:
    return ListedConversation(
        key=c.key,
        id=c.id,
        channel=c.channel,
        agent_id=c.agent_id,
        team=c.team,
        started_at=c.started_at,
        scorecard=r.scorecard if r else None,
        machine_score=r.score if r else None,
        score=r.final_score if r else None,
        max_score=r.max_score if r else None,
        veto=bool(r and r.veto),
        failed_rules=(r.failed_rules or "").split() if r else [],
        complaint_risk=r.complaint_risk if r else None,
        satisfaction=r.satisfaction if r else None,
        reviewed=bool(r and r.reviewed),
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
    risky: list[ListedConversation]
    teams: list[tuple[str, int, float]]
    agents: list[tuple[str, int, float]]
    skills: dict[str, float]  # the three core skills over the filter
    profiles: dict[str, dict[str, float]]  # agent → average of every skill and soft skill
    satisfaction: dict[str, int]


def dashboard(engine, account: Account, f: ConversationFilter, risk_threshold: float = HIGH_RISK) -> Dashboard:
    """The dashboard's figures: read from the stats kept as results are stored when the filter is one
    they keep (scorecard, channel, team, agent, days), else computed from the filtered rows."""
    cells = f.cells(account)
    if cells is None:
        return _dashboard_from_rows(engine, account, f, risk_threshold)
    with Session(engine) as session:
        figures = cells.figures(session)
        count, total = figures.get("score", {}).get("", (0, 0.0))
        trend = sorted((day, round(t / n, 1), n) for day, _, _, n, t in cells.by(session, StatRow.day))
        teams = sorted(
            ((team or "—", n, round(t / n, 1)) for team, _, _, n, t in cells.by(session, StatRow.team)),
            key=lambda x: (x[2], x[0]),
        )
        agents: list[tuple[str, int, float]] = []
        profiles: dict[str, dict[str, float]] = {}
        for agent, kind, name, n, t in sorted(cells.by(session, StatRow.agent_id, ("score", "skill"))):
            if kind == "score":
                agents.append((agent or "—", n, round(t / n, 1)))
            else:
                profiles.setdefault(agent or "—", {})[name] = round(t / n, 3)
        risky = session.execute(
            _scored(account, f, engine.dialect.name)
            .where(ResultRow.complaint_risk >= risk_threshold)
            .order_by(ResultRow.complaint_risk.desc(), ResultRow.pk.desc())
            .limit(20)
        ).all()
    failed = sorted(figures.get("rule", {}).items(), key=lambda x: (-x[1][0], x[0]))[:10]
    names = rule_names({scorecard for scorecard in ([f.scorecard] if f.scorecard else _scorecards(engine, cells))})
    return Dashboard(
        count=count,
        average=round(total / count, 1) if count else None,
        vetoes=figures.get("veto", {}).get("", (0, 0.0))[0],
        bands=[(label, figures.get("band", {}).get(label, (0, 0.0))[0]) for _, _, label in SCORE_BANDS],
        trend=trend,
        failed_rules=[(rule, names.get(rule, rule), n) for rule, (n, _) in failed],
        risky=[_listed_row("s", row) for row in risky],
        teams=teams,
        agents=sorted(agents, key=lambda x: (x[2], x[0])),
        skills={k: round(t / n, 3) for k, (n, t) in figures.get("skill", {}).items() if k in CORE_SKILLS},
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


def _dashboard_from_rows(engine, account: Account, f: ConversationFilter, risk_threshold: float) -> Dashboard:
    query = scoped(
        select(
            ConversationRow.key,
            ConversationRow.id,
            ConversationRow.agent_id,
            ConversationRow.team,
            ConversationRow.started_at,
            ConversationRow.channel,
            ResultRow,
        ).join(ResultRow, ResultRow.conversation_key == ConversationRow.key),
        account,
    ).where(*f.where())
    with Session(engine) as session:
        rows = session.execute(query).all()
    scores = [r.ResultRow.final_score for r in rows if r.ResultRow.final_score is not None]
    by_day: dict[str, list[float]] = defaultdict(list)
    by_team: dict[str, list[float]] = defaultdict(list)
    by_agent: dict[str, list[float]] = defaultdict(list)
    skills: dict[str, list[float]] = defaultdict(list)
    profiles: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    failed: Counter[str] = Counter()
    names: dict[str, str] = {}
    satisfaction: Counter[str] = Counter()
    risky = []
    for row in rows:
        res = row.ResultRow
        score = res.final_score if res.final_score is not None else res.score
        if row.started_at:
            by_day[as_utc(row.started_at).astimezone(f.tz).date().isoformat()].append(score)
        by_team[row.team or "—"].append(score)
        by_agent[row.agent_id or "—"].append(score)
        data = res.final_data or res.data
        for name, value in (data.get("skills") or {}).items():
            profiles[row.agent_id or "—"][name].append(value)
            if name in CORE_SKILLS:
                skills[name].append(value)
        for finding in data.get("findings", []):
            if finding["status"] == "fail":
                failed[finding["rule"]] += 1
                names[finding["rule"]] = finding["name"]
        if res.satisfaction:
            satisfaction[res.satisfaction] += 1
        if (res.complaint_risk or 0) >= risk_threshold:
            risky.append(row)
    risky.sort(key=lambda r: -(r.ResultRow.complaint_risk or 0))
    with Session(engine) as session:
        risky_listed = [_listed(session.get_one(ConversationRow, r.key), r.ResultRow) for r in risky[:20]]

    def averages(groups):
        return sorted(((k, len(v), round(mean(v), 1)) for k, v in groups.items()), key=lambda x: x[2])

    return Dashboard(
        count=len(rows),
        average=round(mean(scores), 1) if scores else None,
        vetoes=sum(bool((r.ResultRow.final_data or r.ResultRow.data).get("veto")) for r in rows),
        bands=[(label, sum(lo <= s < hi for s in scores)) for lo, hi, label in SCORE_BANDS],
        trend=[(day, round(mean(v), 1), len(v)) for day, v in sorted(by_day.items())],
        failed_rules=[(rule, names[rule], n) for rule, n in failed.most_common(10)],
        risky=risky_listed,
        teams=averages(by_team),
        agents=averages(by_agent),
        skills={k: round(mean(v), 3) for k, v in skills.items()},
        profiles={a: {k: round(mean(v), 3) for k, v in p.items()} for a, p in profiles.items()},
        satisfaction=dict(satisfaction),
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
