"""SQLAlchemy tables. JSON columns hold the canonical conversation and the full result, so a
newer zuoxi can re-read old rows; the scalar columns are what lists and dashboards filter on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    false,
    true,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.schema import CreateIndex

from zuoxi.model import without_nul


class Str(TypeDecorator):
    """A string column that holds no NUL character. PostgreSQL's text cannot store one (a NUL in one turn failed
    the insert of a whole batch), so on every database it is dropped as a value is written — and as it is compared,
    so a lookup finds what was stored. Alembic sees the plain type."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return without_nul(value)


class LongText(Str):
    impl = Text
    cache_ok = True


class Base(DeclarativeBase):
    pass


# The tables a conversation's deletion takes rows from: on SQLite a deleted row's id was given to the next row (appeal 1,
# deleted with its conversation, and a new appeal 1 were one appeal to the audit log). PostgreSQL's sequences never
# reuse an id; SQLite's AUTOINCREMENT makes it so (revision 0006 rebuilds the tables of older databases).
IDS_NEVER_REUSED = {"sqlite_autoincrement": True}
ID_TABLES = (
    "results",
    "reviews",
    "appeals",
    "result_versions",
    "queue_items",
    "complaint_alerts",
    "alert_deliveries",
    "alert_delivery_attempts",
)


class ConversationRow(Base):
    __tablename__ = "conversations"

    key: Mapped[str] = mapped_column(Str(64), primary_key=True)  # sha256 of the canonical content
    id: Mapped[str] = mapped_column(Str(200), index=True)
    channel: Mapped[str] = mapped_column(Str(10))
    agent_id: Mapped[str | None] = mapped_column(Str(100), index=True)
    team: Mapped[str | None] = mapped_column(Str(100), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    turn_count: Mapped[int] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(LongText)  # the file, as named (a path has no bound: revision 0007)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict] = mapped_column(JSON)
    search_text: Mapped[str | None] = mapped_column(LongText, nullable=True)  # normalized turns, for search
    # PostgreSQL only (NULL elsewhere): the search text's character pairs, GIN-indexed, so that a search
    # for 退款 reads an index instead of every conversation (`zuoxi.store.search`).
    search_grams: Mapped[str | None] = mapped_column(Text().with_variant(TSVECTOR(), "postgresql"), nullable=True)
    scored: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=False)  # has a result (lists' tail)


class ResultRow(Base):
    """The machine's result (`score`, `data`) and, after review, the current one (`final_*`)."""

    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("conversation_key", "scorecard"), IDS_NEVER_REUSED)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_key: Mapped[str] = mapped_column(ForeignKey("conversations.key", ondelete="CASCADE"))
    scorecard: Mapped[str] = mapped_column(Str(100), index=True)
    score: Mapped[float] = mapped_column(Float, index=True)
    max_score: Mapped[float] = mapped_column(Float)
    veto: Mapped[bool] = mapped_column(Boolean)
    analyzed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict] = mapped_column(JSON)
    # Filterable facts of the current version (machine or reviewed); kept in step by the store.
    final_score: Mapped[float | None] = mapped_column(Float, index=True, nullable=True)
    final_data: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    failed_rules: Mapped[str | None] = mapped_column(LongText, nullable=True)  # " CS-01 EM-02 ", every failed item
    complaint_risk: Mapped[float | None] = mapped_column(Float, index=True, nullable=True)
    satisfaction: Mapped[str | None] = mapped_column(Str(20), nullable=True)
    reviewed: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=False)
    # The conversation's list columns, copied here so that a list sorts and filters on one table's
    # indexes (issue 19); `main`: the conversation's first result, the one shown when no scorecard is chosen.
    channel: Mapped[str | None] = mapped_column(Str(10), nullable=True)
    agent_id: Mapped[str | None] = mapped_column(Str(100), nullable=True)
    team: Mapped[str | None] = mapped_column(Str(100), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    main: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class ImportedFile(Base):
    """A file whose every conversation is stored: a re-run skips it if its content is unchanged."""

    __tablename__ = "imported_files"

    sha256: Mapped[str] = mapped_column(Str(64), primary_key=True)
    path: Mapped[str] = mapped_column(LongText)
    conversations: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeletedConversation(Base):
    """A content key a conversation deleted with `zuoxi conversation delete` is kept out by: reading the same
    conversation again (`zuoxi analyze`, an upload, `import --again`, another file holding it) does not store it
    again — a customer's erasure stays erased — until `zuoxi conversation readmit` lets it back. Its stored key, and
    the key of its text as masked today where that differs (stored before `zuoxi db remask` or by an older zuoxi,
    which masked otherwise). Keys are hashes: no text is kept."""

    __tablename__ = "deleted_conversations"

    key: Mapped[str] = mapped_column(Str(64), primary_key=True)
    conversation_key: Mapped[str] = mapped_column(Str(64), index=True)  # the key it was stored and deleted under
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A person using the web app. `team` scopes a team lead; `agent_id` ties an agent to their conversations."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(Str(100), unique=True)
    # `zuoxi.store.users.username_key(username)`: unique, so two names that differ only by case or character
    # width cannot both be added, even at the same moment. NULL only for a later twin that an older zuoxi let in
    # (migration 0003); they still sign in by their exact name.
    username_key: Mapped[str | None] = mapped_column(Str(400), nullable=True, unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(Str(200))
    role: Mapped[str] = mapped_column(Str(20))  # admin | inspector | team_lead | agent
    team: Mapped[str | None] = mapped_column(Str(100), nullable=True)
    agent_id: Mapped[str | None] = mapped_column(Str(100), nullable=True)
    display_name: Mapped[str | None] = mapped_column(Str(100), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LoginSession(Base):
    """A signed-in browser: the cookie holds a random token, the table only its hash."""

    __tablename__ = "login_sessions"

    token_hash: Mapped[str] = mapped_column(Str(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(Str(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewRow(Base):
    """An inspector's verdict on one finding: `review` changes the score, `calibration` is blind practice."""

    __tablename__ = "reviews"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    result_pk: Mapped[int] = mapped_column(ForeignKey("results.pk", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(Str(50))
    machine_status: Mapped[str] = mapped_column(Str(5))  # what the engine said
    verdict: Mapped[str] = mapped_column(Str(10))  # confirm | overturn
    comment: Mapped[str] = mapped_column(Str(2000), default="")
    kind: Mapped[str] = mapped_column(Str(12), default="review")  # review | calibration
    round: Mapped[str | None] = mapped_column(Str(100), nullable=True)  # calibration round name
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AppealRow(Base):
    """An agent's appeal (申诉) against a finding, resolved by a team lead or inspector."""

    __tablename__ = "appeals"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    result_pk: Mapped[int] = mapped_column(ForeignKey("results.pk", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(Str(50))
    reason: Mapped[str] = mapped_column(Str(2000))
    status: Mapped[str] = mapped_column(Str(10), default="open", index=True)  # open | accepted | rejected
    agent_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    resolver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    resolution: Mapped[str | None] = mapped_column(Str(2000), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ResultVersion(Base):
    """Every score a result has had: version 0 is the machine's, each review or appeal adds one."""

    __tablename__ = "result_versions"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    result_pk: Mapped[int] = mapped_column(ForeignKey("results.pk", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    data: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Str(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Who changed what, when, with the before and after values."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    action: Mapped[str] = mapped_column(Str(50))
    entity: Mapped[str] = mapped_column(Str(50))
    entity_id: Mapped[str] = mapped_column(Str(100))
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class ScorecardRow(Base):
    """A scorecard written or edited in the web app (YAML text); built-ins live in the package."""

    __tablename__ = "scorecards"

    name: Mapped[str] = mapped_column(Str(100), primary_key=True)
    yaml: Mapped[str] = mapped_column(LongText)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class ImportJob(Base):
    """An upload being imported in the background: progress and per-file errors for the page."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    status: Mapped[str] = mapped_column(Str(10))  # queued | running | done | failed
    files: Mapped[int] = mapped_column(Integer, default=0)
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    conversations: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


Index("ix_results_conversation", ResultRow.conversation_key)


def _list_index(name: str, *columns, main: bool = False) -> Index:
    """An index in the list's order (worst score first, newest result first among equal scores) after
    `columns`; `main`: over main results only, the list without a chosen scorecard."""
    where: dict[str, Any] = (
        {"postgresql_where": ResultRow.main == true(), "sqlite_where": ResultRow.main == true()} if main else {}
    )
    return Index(name, *columns, ResultRow.final_score, ResultRow.pk.desc(), **where)


_list_index("ix_results_list_main", main=True)
_list_index("ix_results_list_main_team", ResultRow.team, main=True)
_list_index("ix_results_list_main_agent", ResultRow.agent_id, main=True)
_list_index("ix_results_list_scorecard", ResultRow.scorecard)
_list_index("ix_results_list_scorecard_team", ResultRow.scorecard, ResultRow.team)
_list_index("ix_results_list_scorecard_agent", ResultRow.scorecard, ResultRow.agent_id)
Index(
    "ix_results_main_risk",
    ResultRow.complaint_risk.desc(),
    ResultRow.pk.desc(),
    postgresql_where=ResultRow.main == true(),
    sqlite_where=ResultRow.main == true(),
)  # the dashboard's riskiest conversations
Index(
    "ix_conversations_unscored",
    ConversationRow.key,
    postgresql_where=ConversationRow.scored == false(),
    sqlite_where=ConversationRow.scored == false(),
)  # the list's tail: conversations not analysed
Index("ix_conversations_search_grams", ConversationRow.search_grams, postgresql_using="gin").ddl_if(
    dialect="postgresql"
)

# One main result per conversation, one open appeal per finding: two analyses with different scorecards stored at once
# both made theirs main (the conversation counted twice), and an appeal sent twice at once was opened twice. Revision
# 0008 makes them; what earlier races left is repaired first (`repair_before_unique_index`).
MAIN_ONCE = Index(
    "ix_results_main_once",
    ResultRow.conversation_key,
    unique=True,
    postgresql_where=ResultRow.main == true(),
    sqlite_where=ResultRow.main == true(),
)
OPEN_APPEAL_ONCE = Index(
    "ix_appeals_open_once",
    AppealRow.result_pk,
    AppealRow.rule,
    unique=True,
    postgresql_where=AppealRow.status == "open",
    sqlite_where=AppealRow.status == "open",
)


def repair_before_unique_index(connection: Connection, clause: Any, *_: Any) -> None:
    """Repair the rows an index above would refuse just before it is made, however a migration makes it (listened to
    by `migrate.upgrade`, where every index is made): by revision 0008, by the earlier revisions that make every index
    of today's tables, or by SQLite's table rebuild (revision 0006), which copies the indexes without the DDL events
    an index's own listener would need."""
    if isinstance(clause, CreateIndex) and clause.element.name in (MAIN_ONCE.name, OPEN_APPEAL_ONCE.name):
        from zuoxi.store import races

        if clause.element.name == MAIN_ONCE.name:
            races.keep_one_main(connection)
        else:
            races.drop_repeated_open_appeals(connection)


class StatRow(Base):
    """The dashboard's figures, summed as results are stored (`zuoxi.store.stats`): for each cell of
    day (in the store's zone), scorecard, main result or not, channel, team and agent, how many results
    (`kind` score; `total` their score), vetoes, and per band, failed rule, satisfaction and skill.
    `grain` says which of day and agent the cell keeps (the others are summed, "" in the key), so that a
    dashboard over a year of all agents reads a few thousand rows, not a row per agent and day."""

    __tablename__ = "stats"
    __table_args__ = (
        UniqueConstraint("grain", "main", "scorecard", "team", "agent_id", "day", "channel", "kind", "name"),
        Index("ix_stats_agent", "grain", "agent_id", "day"),
        Index("ix_stats_day", "grain", "day"),
        Index("ix_stats_kind", "grain", "kind", "team", "day"),
    )  # one agent; days; scores per day, team, agent

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grain: Mapped[int] = mapped_column(Integer)
    day: Mapped[str] = mapped_column(Str(10))  # YYYY-MM-DD, "" when summed over days
    scorecard: Mapped[str] = mapped_column(Str(100))
    main: Mapped[bool] = mapped_column(Boolean)
    channel: Mapped[str] = mapped_column(Str(10))
    team: Mapped[str] = mapped_column(Str(100))
    agent_id: Mapped[str] = mapped_column(Str(100))
    kind: Mapped[str] = mapped_column(Str(12))  # score | veto | band | rule | satisfaction | skill
    name: Mapped[str] = mapped_column(Str(100))
    n: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)


# --- outbound campaigns (zuoxi/campaigns, docs/campaigns.md) ----------------------------------


class CampaignRow(Base):
    """An outbound campaign: its YAML definition, validated."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Str(100), unique=True)
    title: Mapped[str] = mapped_column(Str(200))
    spec: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CampaignCustomer(Base):
    """One entry of a call list: only what the script and the segments need (docs/campaigns.md)."""

    __tablename__ = "campaign_customers"
    __table_args__ = (UniqueConstraint("campaign_id", "phone_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str | None] = mapped_column(Str(100), nullable=True, index=True)  # the list's customer number
    phone_hash: Mapped[str] = mapped_column(Str(64), index=True)  # HMAC keyed by $ZUOXI_SECRET_KEY: lookups only
    phone_tail: Mapped[str] = mapped_column(Str(4))
    phone_enc: Mapped[str] = mapped_column(
        LongText
    )  # Fernet under a key derived from $ZUOXI_SECRET_KEY (campaigns/vault.py)
    timezone: Mapped[str | None] = mapped_column(Str(50), nullable=True)  # the customer's, when not the campaign's
    salutation: Mapped[str | None] = mapped_column(Str(40), nullable=True)  # 张先生: what {{name}} says
    card_last4: Mapped[str | None] = mapped_column(Str(4), nullable=True)
    branch: Mapped[str | None] = mapped_column(Str(100), nullable=True)
    region: Mapped[str | None] = mapped_column(Str(100), nullable=True, index=True)
    age_band: Mapped[str | None] = mapped_column(Str(10), nullable=True)
    occupation: Mapped[str | None] = mapped_column(Str(100), nullable=True)
    agent_id: Mapped[str | None] = mapped_column(Str(100), nullable=True, index=True)
    status: Mapped[str] = mapped_column(Str(10), default="pending", index=True)
    source: Mapped[str] = mapped_column(LongText)  # file:line it was imported from
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CampaignAttempt(Base):
    """One call attempt and its disposition; `conversation_key` links the recorded call, if any."""

    __tablename__ = "campaign_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("campaign_customers.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[str] = mapped_column(Str(100), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    disposition: Mapped[str] = mapped_column(Str(30), index=True)
    reason_code: Mapped[str | None] = mapped_column(Str(50), nullable=True)
    notes: Mapped[str] = mapped_column(LongText, default="")
    conversation_key: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.key", ondelete="SET NULL"), nullable=True, index=True
    )


# One attempt is stored once: the same customer, start time and disposition again is a repeat (a command run
# twice, a file imported twice), which would count the call twice in the report.
ATTEMPT_ONCE = Index(
    "ix_campaign_attempts_once",
    CampaignAttempt.customer_id,
    CampaignAttempt.started_at,
    CampaignAttempt.disposition,
    unique=True,
)


@event.listens_for(ATTEMPT_ONCE, "before_create")
def _keep_the_first_of_repeated_attempts(index: Index, connection: Connection, **_: Any) -> None:
    """An older zuoxi stored repeats: creating the index drops them first, keeping the first (revision 0004 creates
    it; so do earlier revisions, which create every index of today's tables)."""
    from zuoxi.store.campaigns import drop_repeated_attempts

    drop_repeated_attempts(connection)


class CampaignCallback(Base):
    """A callback the customer asked for (or an agent scheduled), due at a time, done or not."""

    __tablename__ = "campaign_callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("campaign_customers.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[str | None] = mapped_column(Str(100), nullable=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    note: Mapped[str] = mapped_column(LongText, default="")
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    # The attempt that settled it; done without one means it was rescheduled.
    attempt_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_attempts.id", ondelete="SET NULL"), nullable=True
    )


class DoNotCall(Base):
    """A number that must never be called, by any campaign: only its keyed HMAC is kept."""

    __tablename__ = "campaign_do_not_call"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone_hash: Mapped[str] = mapped_column(Str(64), unique=True)
    source: Mapped[str] = mapped_column(LongText)  # file:line, or the campaign customer it came from
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TrainingCase(Base):
    """A typical case promoted from an analyzed conversation (the curated ones ship as YAML)."""

    __tablename__ = "training_cases"

    id: Mapped[str] = mapped_column(Str(100), primary_key=True)
    yaml: Mapped[str] = mapped_column(LongText)
    conversation_key: Mapped[str | None] = mapped_column(Str(64), nullable=True, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TrainingAttempt(Base):
    """One drill of one trainee on one case: outcome, score, anger curve and transcript."""

    __tablename__ = "training_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(Str(100), index=True)
    trainee: Mapped[str] = mapped_column(Str(100), index=True)  # agent_id or username
    outcome: Mapped[str | None] = mapped_column(Str(30), nullable=True)
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    anger: Mapped[list] = mapped_column(JSON)
    turns: Mapped[list] = mapped_column(JSON)
    failed_rules: Mapped[list] = mapped_column(JSON)
    engine: Mapped[str] = mapped_column(Str(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


# --- review queues and complaint alerts (zuoxi/queues, docs/queues.md) ------------------------
# Imported here, beside the one table that needs them, so this section stays a self-contained addition.
from datetime import date  # noqa: E402

from sqlalchemy import Date  # noqa: E402


class SamplingPlanRow(Base):
    """A sampling plan (抽检计划): its YAML as written and the validated spec."""

    __tablename__ = "sampling_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Str(50), unique=True)
    title: Mapped[str] = mapped_column(Str(100))
    yaml: Mapped[str] = mapped_column(LongText)
    spec: Mapped[dict] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SamplingRunRow(Base):
    """One sampling of one plan over one period. A scheduled run carries its period in
    `schedule_key`, so the schedule samples each period once; manual runs leave it empty."""

    __tablename__ = "sampling_runs"
    __table_args__ = (UniqueConstraint("plan_id", "schedule_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("sampling_plans.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(Str(40))  # 2026-12-05, 2026-W49 or 2026-11-01~2026-11-30
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    schedule_key: Mapped[str | None] = mapped_column(Str(40), nullable=True)
    seed: Mapped[int] = mapped_column(Integer)
    considered: Mapped[int] = mapped_column(Integer)
    sampled: Mapped[int] = mapped_column(Integer)
    unassigned: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QueueItemRow(Base):
    """A sampled result waiting for (or done by) an inspector; `criterion` is the plan rule that chose it."""

    __tablename__ = "queue_items"
    __table_args__ = (UniqueConstraint("plan_id", "result_pk"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("sampling_plans.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sampling_runs.id", ondelete="CASCADE"), index=True)
    result_pk: Mapped[int] = mapped_column(ForeignKey("results.pk", ondelete="CASCADE"), index=True)
    conversation_key: Mapped[str] = mapped_column(Str(64), index=True)
    agent_id: Mapped[str | None] = mapped_column(Str(100), nullable=True, index=True)
    team: Mapped[str | None] = mapped_column(Str(100), nullable=True, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    criterion: Mapped[str] = mapped_column(Str(50))  # the plan rule's id, "random" or "quota_fill"
    kind: Mapped[str] = mapped_column(Str(30), index=True)  # its kind: score_band, veto, …, random, quota_fill
    label: Mapped[str] = mapped_column(Str(100))  # its name, as the plan said it when the item was sampled
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)  # the last local day
    status: Mapped[str] = mapped_column(Str(10), default="open", index=True)  # open | done | skipped
    skip_reason: Mapped[str | None] = mapped_column(Str(30), nullable=True)
    skip_comment: Mapped[str | None] = mapped_column(Str(500), nullable=True)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertSettingsRow(Base):
    """When a stored analysis raises a complaint alert (one row, id 1; defaults until an admin sets it)."""

    __tablename__ = "alert_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    risk: Mapped[float] = mapped_column(Float)
    rules: Mapped[list] = mapped_column(JSON)
    max_age_hours: Mapped[int] = mapped_column(Integer, default=0)  # only conversations this recent (0: any)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ComplaintAlertRow(Base):
    """投诉预警: one per conversation, raised when its analysis was stored; `excerpt` is masked."""

    __tablename__ = "complaint_alerts"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_key: Mapped[str] = mapped_column(ForeignKey("conversations.key", ondelete="CASCADE"), unique=True)
    result_pk: Mapped[int] = mapped_column(ForeignKey("results.pk", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[str] = mapped_column(Str(200))
    team: Mapped[str | None] = mapped_column(Str(100), nullable=True, index=True)
    agent_id: Mapped[str | None] = mapped_column(Str(100), nullable=True)
    risk: Mapped[float | None] = mapped_column(Float, nullable=True)
    rules: Mapped[list] = mapped_column(JSON)  # the alert rules the result failed, e.g. ["ES-01"]
    excerpt: Mapped[str] = mapped_column(Str(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    handled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    note: Mapped[str | None] = mapped_column(Str(500), nullable=True)


class WebhookRow(Base):
    """A group robot (WeCom, DingTalk or plain JSON) told of one team's alerts; set by an admin."""

    __tablename__ = "alert_webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Str(100))
    team: Mapped[str] = mapped_column(Str(100), index=True)
    url: Mapped[str] = mapped_column(Str(1000))
    template: Mapped[str] = mapped_column(Str(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookDeliveryRow(Base):
    """One alert to one webhook: pending until delivered, failed after its last attempt failed."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (UniqueConstraint("alert_id", "webhook_id"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("complaint_alerts.id", ondelete="CASCADE"), index=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("alert_webhooks.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(Str(10), default="pending", index=True)  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookAttemptRow(Base):
    """The delivery log: every call of a webhook, its HTTP status and what went wrong."""

    __tablename__ = "alert_delivery_attempts"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("alert_deliveries.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Str(500), default="")


# --- indexes that reads of a large database need (measured on 100,000 conversations: docs/scale.md) ------------------
# Revision 0009 makes them in older databases. Each serves one query, whose plan (EXPLAIN) uses it on a database that
# was never analysed (zuoxi runs no ANALYZE) and on one that was.
_UNSCORED = ConversationRow.scored == false()
_MAIN = ResultRow.main == true()
VOLUME_INDEXES = (
    # `queries.filter_options`, on every list and dashboard: the agents, teams and channels of conversations not
    # analysed (a team lead's by team) from these few entries; SQLite read every conversation's row to its last column.
    Index(
        "ix_conversations_unscored_labels",
        ConversationRow.team,
        ConversationRow.agent_id,
        ConversationRow.channel,
        postgresql_where=_UNSCORED,
        sqlite_where=_UNSCORED,
    ),
    # The dashboard's sums per day, team or agent (`stats.Cells.by`): one kind's cells (scores), not every kind's, in
    # the order of days. Team, agent and scorecard follow: where SQLite's planner takes it for one team's or agent's
    # figures (it does without ANALYZE) it filters them on the index entries, not on every cell's row, and a date
    # range's scorecards (`queries._scorecards`) are read from it alone (they read every cell of the grain).
    Index(
        "ix_stats_kind_main",
        StatRow.grain,
        StatRow.kind,
        StatRow.main,
        StatRow.day,
        StatRow.team,
        StatRow.agent_id,
        StatRow.scorecard,
    ),
    # The dashboard's riskiest conversations of one scorecard, and of one team (a team lead's dashboard), in order.
    Index("ix_results_scorecard_risk", ResultRow.scorecard, ResultRow.complaint_risk.desc(), ResultRow.pk.desc()),
    Index(
        "ix_results_main_team_risk",
        ResultRow.team,
        ResultRow.complaint_risk.desc(),
        ResultRow.pk.desc(),
        postgresql_where=_MAIN,
        sqlite_where=_MAIN,
    ),
    # A queue run's first result of each conversation (`queues.candidates`, min(pk)). Before ANALYZE, PostgreSQL
    # expected hundreds of results per conversation and walked the results in pk order for each one (a run over 100,000
    # took minutes). SQLite's ix_results_conversation holds pk already (its rowid).
    Index("ix_results_conversation_pk", ResultRow.conversation_key, ResultRow.pk).ddl_if(dialect="postgresql"),
    # The open alerts, newest first (`queues.list_alerts`): SQLite took ix_complaint_alerts_handled_at and sorted every
    # open alert; PostgreSQL reads ix_complaint_alerts_created_at backwards.
    Index(
        "ix_complaint_alerts_open_newest",
        ComplaintAlertRow.handled_at,
        ComplaintAlertRow.created_at,
        ComplaintAlertRow.id,
    ).ddl_if(dialect="sqlite"),
)
