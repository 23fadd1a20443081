"""Types passed between the queue stages and the store: what a plan may pick (`Candidate`), the
period a run samples (`Period`), and the views the pages, the API and the CLI show."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from pydantic import BaseModel, Field


@dataclass(frozen=True)
class Candidate:
    """One conversation's result as sampling reads it: the current (reviewed, if it was) facts."""

    result_pk: int
    conversation_key: str
    agent_id: str | None
    team: str | None
    channel: str
    scorecard: str
    started_at: datetime | None
    score: float
    veto: bool  # the machine found a veto item
    failed: frozenset[str]
    complaint_risk: float | None
    satisfaction: str | None  # dissatisfied | neutral | satisfied (the model's estimate)
    agent_since: datetime | None = None  # the agent's first stored conversation


@dataclass(frozen=True)
class Period:
    """The local days a run samples, as UTC instants [start, end) for the store."""

    label: str
    first_day: date
    last_day: date
    start: datetime
    end: datetime

    @classmethod
    def of_days(cls, first: date, last: date, tz: tzinfo, label: str | None = None) -> Period:
        if last < first:
            raise ValueError("结束日期不能早于开始日期")
        start = datetime.combine(first, time.min, tz).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(UTC)
        return cls(
            label or (first.isoformat() if first == last else f"{first.isoformat()}~{last.isoformat()}"),
            first,
            last,
            start,
            end,
        )

    @classmethod
    def containing(cls, schedule: str, day: date, tz: tzinfo) -> Period:
        """The schedule's period holding `day`: that day, or its ISO week (Monday to Sunday)."""
        if schedule == "daily":
            return cls.of_days(day, day, tz)
        monday = day - timedelta(days=day.weekday())
        year, week, _ = monday.isocalendar()
        return cls.of_days(monday, monday + timedelta(days=6), tz, f"{year}-W{week:02d}")

    @classmethod
    def last_complete(cls, schedule: str, today: date, tz: tzinfo) -> Period:
        """The latest period that has ended by `today`: yesterday, or last week."""
        return cls.containing(schedule, today - timedelta(days=1 if schedule == "daily" else 7), tz)


@dataclass
class Taken:
    """What a plan already sampled in a period (earlier runs), so its quotas and limits hold across runs."""

    targeted: Counter[str | None] = field(default_factory=Counter)  # per agent: picks of targeted rules
    total: Counter[str | None] = field(default_factory=Counter)  # per agent: every pick
    per_rule: Counter[str] = field(default_factory=Counter)
    per_rule_agent: Counter[tuple[str, str | None]] = field(default_factory=Counter)


@dataclass(frozen=True)
class Inspector:
    id: int
    username: str
    display_name: str | None
    team: str | None


@dataclass
class RunSummary:
    """What one sampling run did: how many it looked at, picked (by plan rule) and gave to whom."""

    plan: str
    period: str
    run_id: int | None
    considered: int
    sampled: int
    by_criterion: dict[str, int] = field(default_factory=dict)
    by_inspector: dict[str, int] = field(default_factory=dict)
    unassigned: int = 0
    already: int = 0  # sampled by earlier runs of the plan in the period (a second run's "0 candidates" is why)
    # earlier runs' picks of the period that nobody could be given then (no inspector yet), given now
    earlier_by_inspector: dict[str, int] = field(default_factory=dict)
    earlier_unassigned: int = 0  # … and those still nobody may take


@dataclass(frozen=True)
class UnassignedItem:
    """An open queue item nobody was given when it was sampled (no inspector could take it then)."""

    id: int
    conversation_key: str
    agent_id: str | None
    team: str | None


@dataclass
class QueueItem:
    """A queue item as the pages show it (no score: the reviewer judges the findings themselves)."""

    id: int
    plan: str
    plan_title: str
    result_pk: int
    conversation_key: str
    conversation_id: str
    agent_id: str | None
    team: str | None
    started_at: datetime | None
    criterion: str
    kind: str
    label: str
    assignee: str | None
    assignee_id: int | None
    due_on: date | None
    status: str
    overdue: bool
    skip_reason: str | None
    skip_comment: str | None
    closed_at: datetime | None


@dataclass
class QueueCounts:
    open: int = 0
    due_today: int = 0
    overdue: int = 0
    done: int = 0
    skipped: int = 0


@dataclass
class PlanProgress:
    plan: str
    title: str
    sampled: int
    done: int
    skipped: int
    open: int
    overdue: int
    unassigned: int


@dataclass
class Workload:
    inspector: str
    display_name: str | None
    open: int
    overdue: int
    due_today: int
    done: int
    skipped: int


@dataclass
class AlertView:
    id: int
    conversation_key: str
    conversation_id: str
    team: str | None
    agent_id: str | None
    risk: float | None
    rules: list[str]
    excerpt: str
    created_at: datetime
    handled_by: str | None
    handled_at: datetime | None
    note: str | None
    deliveries: dict[str, int] = field(default_factory=dict)  # status → count


@dataclass
class WebhookView:
    id: int
    name: str
    team: str
    url: str
    template: str
    active: bool
    created_at: datetime


@dataclass
class DeliveryAttempt:
    at: datetime
    webhook: str
    team: str
    alert_id: int
    conversation_id: str
    ok: bool
    status_code: int | None
    error: str


@dataclass
class PlanListed:
    name: str
    title: str
    schedule: str
    active: bool
    updated_at: datetime
    runs: int
    last_period: str | None
    open: int


@dataclass
class RunView:
    id: int
    period: str
    at: datetime
    by: str | None
    scheduled: bool
    seed: int
    considered: int
    sampled: int
    unassigned: int


@dataclass(frozen=True)
class ItemState:
    """What the rules of completing, skipping and reassigning an item read."""

    id: int
    plan: str
    status: str
    assignee_id: int | None
    result_pk: int
    conversation_key: str
    agent_id: str | None
    team: str | None


@dataclass(frozen=True)
class NewAlert:
    conversation_key: str
    result_pk: int
    conversation_id: str
    team: str | None
    agent_id: str | None
    risk: float | None
    rules: list[tuple[str, str]]  # (rule, its name) the result failed among the alert rules
    excerpt: str  # masked


@dataclass(frozen=True)
class AlertMessage:
    """What a webhook is told: one team's alert, masked; nothing of other teams."""

    alert_id: int
    team: str
    agent_id: str | None
    conversation_id: str
    risk: float | None
    rules: list[tuple[str, str]]
    excerpt: str
    created_at: datetime


@dataclass(frozen=True)
class PendingDelivery:
    delivery_id: int
    webhook: str
    url: str
    template: str
    message: AlertMessage


class AlertSettings(BaseModel):
    """When a stored analysis raises a complaint alert: risk at or above `risk`, or one of `rules`
    failed; with `max_age_hours`, only for conversations that started (else were imported) that
    recently, so importing last year's history does not page anyone."""

    risk: float = Field(default=0.8, gt=0, le=1)  # default= by name: type checkers see it as optional
    rules: list[str] = Field(default_factory=lambda: ["ES-01"], max_length=20)
    max_age_hours: int = Field(default=0, ge=0, le=24 * 365)
