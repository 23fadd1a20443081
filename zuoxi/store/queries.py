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
from zoneinfo import ZoneInfo
from statistics import mean

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, defer

from zuoxi.model import HIGH_RISK, SCORE_BANDS, Conversation, Result
from zuoxi.normalize import normalize_text
from zuoxi.rules.engine import CORE_SKILLS
from zuoxi.store import as_utc, canonical_label
from zuoxi.store.tables import ConversationRow, ResultRow
from zuoxi.store.users import INSPECTORS, Account



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
    tz: tzinfo = ZoneInfo("Asia/Shanghai")  # the days of date_from/date_to are this zone's days

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time.min, self.tz).astimezone(UTC)

    def where(self) -> list:
        c, r = ConversationRow, ResultRow
        # One result per conversation, so no list, count or average has a conversation twice: the
        # filter's scorecard, else the first result stored (what it was analysed with on import).
        first = select(func.min(r.pk)).where(r.conversation_key == c.key).correlate(c).scalar_subquery()
        clauses = [] if self.scorecard else [r.pk.is_(None) | (r.pk == first)]
        for column, value in ((c.agent_id, canonical_label(self.agent_id)), (c.team, canonical_label(self.team)),
                              (c.channel, self.channel), (r.scorecard, self.scorecard)):
            if value:
                clauses.append(column == value)
        if self.date_from:
            clauses.append(c.started_at >= self._midnight(self.date_from))
        if self.date_to:
            clauses.append(c.started_at < self._midnight(self.date_to + timedelta(days=1)))
        if self.score_min is not None:
            clauses.append(r.final_score >= self.score_min)
        if self.score_max is not None:
            clauses.append(r.final_score <= self.score_max)
        if self.failed_rule:
            clauses.append(r.failed_rules.contains(f" {self.failed_rule.strip()} ", autoescape=True))
        if self.risk_min is not None:
            clauses.append(r.complaint_risk >= self.risk_min)
        if self.q and self.q.strip():
            clauses.append(c.search_text.contains(normalize_text(self.q.strip()), autoescape=True))
        return clauses


def scope_clause(account: Account):
    """The rows `account` may see, as a WHERE clause on conversations (None: everything)."""
    if account.role in INSPECTORS:
        return None
    if account.role == "team_lead":
        return ConversationRow.team == account.team
    return ConversationRow.agent_id == account.agent_id


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
    """Who belongs to `team`: the agent ids and usernames of its users, and the agent ids on its
    conversations (what training attempts and campaign figures are keyed by)."""
    from zuoxi.store.tables import User

    if not team:
        return set()
    with Session(engine) as session:
        users = session.execute(select(User.agent_id, User.username).where(User.team == team)).all()
        agents = session.scalars(select(ConversationRow.agent_id).where(ConversationRow.team == team).distinct())
        return {x for pair in users for x in pair if x} | {a for a in agents if a}


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

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _joined() -> Select:
    return select(ConversationRow, ResultRow).outerjoin(ResultRow, ResultRow.conversation_key == ConversationRow.key)


def list_conversations(engine, account: Account, f: ConversationFilter) -> Page:
    # A listed row needs none of the JSON documents or the search text: leaving them out keeps the
    # sort and the fetch small (several times faster on a few thousand conversations).
    query = scoped(_joined(), account).where(*f.where()).options(
        defer(ConversationRow.data), defer(ConversationRow.search_text), defer(ResultRow.data), defer(ResultRow.final_data))
    count_query = scoped(select(func.count()).select_from(ConversationRow).outerjoin(
        ResultRow, ResultRow.conversation_key == ConversationRow.key), account).where(*f.where())
    per_page = max(1, min(f.per_page, 500))
    page = max(1, f.page)
    order = (ResultRow.final_score.asc(), ConversationRow.started_at.desc(), ConversationRow.key)
    with Session(engine) as session:
        total = session.scalar(count_query) or 0
        rows = session.execute(query.order_by(*order).offset((page - 1) * per_page).limit(per_page)).all()
        items = [_listed(c, r) for c, r in rows]
    return Page(items, total, page, per_page)


def _listed(c: ConversationRow, r: ResultRow | None) -> ListedConversation:
    return ListedConversation(
        key=c.key, id=c.id, channel=c.channel, agent_id=c.agent_id, team=c.team, started_at=c.started_at,
        scorecard=r.scorecard if r else None, machine_score=r.score if r else None,
        score=r.final_score if r else None, max_score=r.max_score if r else None, veto=bool(r and r.veto),
        failed_rules=(r.failed_rules or "").split() if r else [], complaint_risk=r.complaint_risk if r else None,
        satisfaction=r.satisfaction if r else None, reviewed=bool(r and r.reviewed),
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
        row = session.get(ConversationRow, key)
        if row is None:
            raise NotFound(key)
        if not may_see(account, row):
            raise Forbidden(key)
        results = session.scalars(select(ResultRow).where(ResultRow.conversation_key == key)
                                  .order_by(ResultRow.scorecard)).all()
        conversation = Conversation.model_validate(row.data)  # with the stored (canonical, UTC) labels and time
        conversation = conversation.model_copy(update={"team": row.team, "agent_id": row.agent_id,
                                                       "started_at": as_utc(row.started_at) if row.started_at else None})
        return ConversationDetail(
            key=key, conversation=conversation,
            results=[(r.pk, Result.model_validate(r.data), Result.model_validate(r.final_data or r.data)) for r in results],
            reviewed={r.pk: bool(r.reviewed) for r in results}, source=row.source,
        )


def result_row_for(session: Session, account: Account, result_pk: int) -> tuple[ResultRow, ConversationRow]:
    """A result and its conversation, checked against the account's scope."""
    result = session.get(ResultRow, result_pk)
    if result is None:
        raise NotFound(str(result_pk))
    conversation = session.get(ConversationRow, result.conversation_key)
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
    query = scoped(select(ConversationRow.key, ConversationRow.id, ConversationRow.agent_id, ConversationRow.team,
                          ConversationRow.started_at, ConversationRow.channel, ResultRow)
                   .join(ResultRow, ResultRow.conversation_key == ConversationRow.key), account).where(*f.where())
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
        risky_listed = [_listed(session.get(ConversationRow, r.key), r.ResultRow) for r in risky[:20]]

    def averages(groups):
        return sorted(((k, len(v), round(mean(v), 1)) for k, v in groups.items()), key=lambda x: x[2])

    return Dashboard(
        count=len(rows), average=round(mean(scores), 1) if scores else None,
        vetoes=sum(bool((r.ResultRow.final_data or r.ResultRow.data).get("veto")) for r in rows),
        bands=[(label, sum(lo <= s < hi for s in scores)) for lo, hi, label in SCORE_BANDS],
        trend=[(day, round(mean(v), 1), len(v)) for day, v in sorted(by_day.items())],
        failed_rules=[(rule, names[rule], n) for rule, n in failed.most_common(10)],
        risky=risky_listed, teams=averages(by_team), agents=averages(by_agent),
        skills={k: round(mean(v), 3) for k, v in skills.items()},
        profiles={a: {k: round(mean(v), 3) for k, v in p.items()} for a, p in profiles.items()},
        satisfaction=dict(satisfaction),
    )


def filter_options(engine, account: Account) -> dict[str, list[str]]:
    """Distinct agents, teams, channels and scorecards within the account's scope, for filter menus."""
    with Session(engine) as session:
        def distinct(column, join_results=False):
            q = select(column).select_from(ConversationRow)
            if join_results:
                q = q.join(ResultRow, ResultRow.conversation_key == ConversationRow.key)
            q = scoped(q.where(column.is_not(None)).distinct(), account)
            return sorted(v for v in session.scalars(q) if v)
        return {"agents": distinct(ConversationRow.agent_id), "teams": distinct(ConversationRow.team),
                "channels": distinct(ConversationRow.channel), "scorecards": distinct(ResultRow.scorecard, True)}


__all__ = ["ConversationFilter", "Dashboard", "Forbidden", "NotFound", "Page", "dashboard", "filter_options",
           "get_conversation", "list_conversations", "may_see", "result_row_for", "scoped", "team_agents"]
