"""Types of the campaigns package: the campaign definition (YAML), dispositions, attempts, the report.

The campaign YAML and the dispositions YAML are validated here, so a typo in a campaign file is
reported with its field path before anything is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import cache
from importlib import resources
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zuoxi.ingest.limits import FIRST_YEAR, LAST_YEAR
from zuoxi.privacy import mask_text
from zuoxi.store import masked_label

# The call centres are in China: a campaign's times are Asia/Shanghai unless its YAML names another
# zone, and a customer's calling hours are read in the customer's own zone (the list's 时区 column).
# The database holds UTC (SQLite drops zones, PostgreSQL converts); whatever is shown is converted back.
DEFAULT_TIMEZONE = "Asia/Shanghai"
LOCAL_TZ = ZoneInfo(DEFAULT_TIMEZONE)
_OFFSET = re.compile(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)


def zone(name: str | None, default: tzinfo = LOCAL_TZ) -> tzinfo:
    """An IANA zone (Asia/Shanghai) or a fixed offset (UTC+8, +05:30); ValueError names the value."""
    if not name:
        return default
    offset = _OFFSET.fullmatch(name.strip())
    if offset:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta > timedelta(hours=14):
            raise ValueError(f"认不出时区 {name!r}（时差最多 ±14 小时）")
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"认不出时区 {name!r}（应为 Asia/Shanghai 这样的时区名，或 UTC+8）") from None


def to_utc(value: datetime, tz: tzinfo = LOCAL_TZ) -> datetime:
    """A time as typed or exported (no zone means `tz`) → UTC, as stored."""
    return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)


def from_db(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def local(value: datetime, tz: tzinfo = LOCAL_TZ) -> datetime:
    """A stored (UTC) time as the clock on the wall in `tz` shows it."""
    return from_db(value).astimezone(tz)


def local_day(value: datetime, tz: tzinfo = LOCAL_TZ) -> date:
    return local(value, tz).date()


def parse_time(value: str, tz: tzinfo = LOCAL_TZ) -> datetime:
    """`2026-03-03 15:00`, `2026/03/03T15:00+08:00` …: an aware time, `tz` when no zone is given."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("/", "-"))
    except ValueError:
        raise ValueError(f"认不出时间 {value!r:.60}（应为 2026-03-03 15:00 这样的时间，可带时区如 +08:00）") from None
    _check_year(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _check_year(moment: datetime) -> datetime:
    """A time of the years calls are made in: 0001-01-01 or 9999-12-31 overflow in time zone arithmetic."""
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"时间 {moment.isoformat()} 的年份不在 {FIRST_YEAR}–{LAST_YEAR} 之间")
    return moment


Next = Literal["success", "closed", "retry", "callback"]
OPEN = ("pending", "retry", "callback")  # a customer still to be called; success and closed are final
# A customer's status as the product names it (the web page's 待拨打 / 待重拨 / 待回拨 for the open ones).
STATUS_NAMES = {"pending": "待拨打", "retry": "待重拨", "callback": "待回拨", "success": "已成功", "closed": "已结案"}


def status_name(status: str) -> str:
    return STATUS_NAMES.get(status, status)


class CampaignError(ValueError):
    pass


@dataclass(frozen=True)
class Customer:
    """One entry of a call list as the campaign reads it: never the number itself nor its hash."""

    id: int
    ref: str | None
    phone_tail: str
    timezone: str | None  # the customer's, when not the campaign's
    salutation: str | None
    card_last4: str | None
    branch: str | None
    region: str | None
    age_band: str | None
    occupation: str | None
    agent_id: str | None
    status: str


class Question(BaseModel):
    """One question the script must cover; `keywords` are what OB-06 looks for in the agent's turns."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    text: str
    keywords: list[str] = Field(min_length=1)


class CallingHours(BaseModel):
    """When a customer may be called, on their own clock (no calls at 23:30 or 03:00)."""

    model_config = ConfigDict(extra="forbid")
    start: time = time(9)
    end: time = time(21)

    @model_validator(mode="after")
    def _ordered(self) -> CallingHours:
        if self.start >= self.end:
            raise ValueError("开始时间（start）要早于结束时间（end）")
        return self

    def allow(self, moment: datetime) -> bool:
        return self.start <= moment.time().replace(tzinfo=None) < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


class CampaignSpec(BaseModel):
    """A campaign as written in YAML (zuoxi/campaigns/data/card_activation.yaml is the example)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)
    title: str
    purpose: str
    hotline: str
    script: str
    questions: list[Question] = Field(min_length=1)
    reason_codes: dict[str, str] = Field(min_length=1)
    max_attempts: int = Field(default=3, ge=1)  # the queue offers no more retries after this many attempts
    callback_after_hours: float = Field(default=24, gt=0)
    retry_after_minutes: float = Field(default=60, ge=0)  # the queue offers a retry no sooner than this
    timezone: str = DEFAULT_TIMEZONE  # the call centre's: times typed without a zone, days of the report
    calling_hours: CallingHours = Field(default_factory=CallingHours)  # in the customer's local time
    callback_tolerance_minutes: float = Field(default=15, ge=0)  # a callback this close to its time is kept on time

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @property
    def tz(self) -> tzinfo:
        return zone(self.timezone)

    @field_validator("reason_codes")
    @classmethod
    def _codes_are_identifiers(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [code for code in value if not code.replace("_", "").isalnum() or not code.isascii()]
        if bad:
            raise ValueError(f"原因代码只能用英文字母、数字和下划线：{'、'.join(bad)}")
        return value

    def script_questions(self) -> list[dict]:
        """What a recorded call's `meta.script_questions` holds, so OB-06 checks this campaign's questions."""
        return [q.model_dump() for q in self.questions]


def customer_zone(spec: CampaignSpec, customer: Customer) -> tzinfo:
    """The customer's time zone: the list's, else the campaign's."""
    return zone(customer.timezone, spec.tz)


# How far before now a callback may still be scheduled: the clocks of the agent's machine and the server's
# may differ by a little, and "15:00" typed at 15:00:40 is meant as now.
CLOCK_SKEW = timedelta(minutes=1)


def check_not_past(spec: CampaignSpec, due_at: datetime, now: datetime) -> datetime:
    """`due_at` (the campaign's zone unless it has one) in UTC, if it is not earlier than `now` (less
    CLOCK_SKEW): a callback in the past can never be kept, and the report would count it missed. CampaignError
    names the time given and now, in the campaign's zone."""
    due = to_utc(due_at, spec.tz)
    if due < to_utc(now) - CLOCK_SKEW:
        raise CampaignError(
            f"回拨时间 {local(due, spec.tz):%Y-%m-%d %H:%M} 已经过去（现在是 {local(now, spec.tz):%Y-%m-%d %H:%M}，"
            f"时区 {spec.timezone}）：请约一个以后的时间"
        )
    return due


# How far after now a call may be said to have started: the dialer's clock, or the agent's machine's, may run a little
# fast; further ahead it is a typo (2030 for 2026) or a test row, and the report would count a call never made.
ATTEMPT_CLOCK_SKEW = timedelta(minutes=5)


def check_not_future(spec: CampaignSpec, started_at: datetime, now: datetime) -> datetime:
    """`started_at` (the campaign's zone unless it has one) in UTC, if it is not later than `now` (plus
    ATTEMPT_CLOCK_SKEW): an attempt is recorded once made. CampaignError names the time given and now, in the
    campaign's zone."""
    started = to_utc(started_at, spec.tz)
    if started > to_utc(now) + ATTEMPT_CLOCK_SKEW:
        raise CampaignError(
            f"拨打时间 {local(started, spec.tz):%Y-%m-%d %H:%M} 还没到（现在是 {local(now, spec.tz):%Y-%m-%d %H:%M}，"
            f"时区 {spec.timezone}）：只能记录已经拨打过的电话"
        )
    return started


def check_requested_callback(spec: CampaignSpec, started_at: datetime, callback_at: datetime | None) -> None:
    """A callback a customer asked for on a call (if any) is not earlier than the call (less CLOCK_SKEW):
    CampaignError names both times, in the campaign's zone."""
    if callback_at is not None and to_utc(callback_at, spec.tz) < to_utc(started_at, spec.tz) - CLOCK_SKEW:
        raise CampaignError(
            f"回拨时间 {local(to_utc(callback_at, spec.tz), spec.tz):%Y-%m-%d %H:%M} 早于这次拨打的时间 "
            f"{local(to_utc(started_at, spec.tz), spec.tz):%Y-%m-%d %H:%M}（时区 {spec.timezone}）：回拨只能约在拨打之后"
        )


def check_callback(
    spec: CampaignSpec, customer: Customer, on_do_not_call: bool, due_at: datetime, now: datetime
) -> datetime:
    """When a callback for the customer at `due_at`, scheduled at `now`, is due, in UTC: only for an open
    customer, not on the do-not-call list, not in the past, inside calling hours on the customer's clock.
    CampaignError says why not."""
    if customer.status not in OPEN:
        raise CampaignError(
            f"客户 {customer.id} {status_name(customer.status)}：只能给还在跟进的客户（待拨打、待重拨、待回拨）预约回拨"
        )
    if on_do_not_call:
        raise CampaignError(f"客户 {customer.id} 在免打扰名单上，不能预约回拨")
    check_not_past(spec, due_at, now)
    tz = customer_zone(spec, customer)
    there = local(to_utc(due_at, spec.tz), tz)
    if not spec.calling_hours.allow(there):
        raise CampaignError(f"客户当地时间 {there:%Y-%m-%d %H:%M}（{tz}）不在呼叫时段 {spec.calling_hours} 内")
    return to_utc(due_at, spec.tz)


class DispositionInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    contact: bool
    next: Next
    aliases: list[str] = []


@cache
def dispositions() -> dict[str, DispositionInfo]:
    """The disposition codes (data/dispositions.yaml), in the order they are reported."""
    raw = yaml.safe_load(
        resources.files("zuoxi.campaigns").joinpath("data/dispositions.yaml").read_text(encoding="utf-8")
    )
    return {code: DispositionInfo.model_validate(info) for code, info in raw["dispositions"].items()}


def disposition_code(value: str) -> str:
    """A code, its Chinese label or an alias → the code; ValueError names the accepted values."""
    wanted = value.strip().lower()
    for code, info in dispositions().items():
        if wanted in (code, info.label.lower(), *(a.lower() for a in info.aliases)):
            return code
    known = "、".join(f"{code}（{info.label}）" for code, info in dispositions().items())
    raise ValueError(f"没有 {value!r} 这个拨打结果（可填代码或中文：{known}）")


class Attempt(BaseModel):
    """One call attempt as recorded by an agent or imported from the dialer's export."""

    model_config = ConfigDict(extra="forbid")
    customer_id: int
    agent_id: str = Field(min_length=1)
    started_at: datetime
    disposition: str
    duration: float | None = Field(default=None, ge=0, le=86_400, allow_inf_nan=False)  # s, dialling to hang-up
    reason_code: str | None = None
    notes: str = ""
    conversation_key: str | None = None  # conversations.key of the recorded call

    @field_validator("disposition")
    @classmethod
    def _known(cls, value: str) -> str:
        return disposition_code(value)

    @field_validator("agent_id")
    @classmethod
    def _canonical(cls, value: str) -> str:
        """Stored in the form users and conversations have (０７ is agent 07, personal data masked), so scopes
        and dialling match."""
        if (label := masked_label(value)) is None:
            raise ValueError("坐席工号不能为空")
        return label

    @field_validator("started_at")
    @classmethod
    def _a_real_year(cls, value: datetime) -> datetime:
        return _check_year(value)

    @field_validator("notes")
    @classmethod
    def _masked(cls, value: str) -> str:
        """What the agent typed ("客户改用13912345678联系"), masked before it is stored, as conversations are."""
        return mask_text(value)


class Rate(BaseModel):
    """A proportion with its 95% Wilson score interval (None when n is 0)."""

    successes: int
    n: int
    rate: float | None
    low: float | None
    high: float | None


class AgentFigures(BaseModel):
    """One agent's productivity over the period (docs/campaigns.md defines each figure)."""

    agent_id: str
    days: int
    attempts: int
    per_day: float
    successes: int
    active_hours: int  # local clock hours in which the agent started at least one call
    calls_per_hour: float  # attempts / active hours
    talk_time: float  # seconds, summed over the agent's attempts that reached a person
    success: Rate  # the agent's goal_achieved attempts / their attempts that reached a person


class SliceFigures(BaseModel):
    """Attempts of one slice (the n-th call to a customer, or an hour of the day)."""

    key: int  # attempt number (1 = first call to the customer) or local hour (0–23)
    attempts: int
    contact: Rate  # attempts that reached a person / attempts
    success: Rate  # goal_achieved / attempts that reached a person


class CallbackFigures(BaseModel):
    """Callbacks due in the period: kept within ± the campaign's tolerance of the time agreed?"""

    due: int
    on_time: int
    early: int
    late: int
    missed: int  # no call and the time (plus tolerance) has passed
    rescheduled: int  # replaced by a new appointment before it was called
    waiting: int  # not due yet
    kept: Rate  # on time / (on time + early + late + missed)


class SegmentFigures(BaseModel):
    field: str
    value: str
    contacted: Rate  # of the customers reached in this segment, how many succeeded


class RuleFigures(BaseModel):
    """Success of linked calls by whether a scorecard item passed or failed on that call."""

    rule: str
    name: str
    passed: Rate
    failed: Rate
    separated: bool  # the two intervals do not overlap: a difference this sample can support


class CampaignReport(BaseModel):
    campaign: str
    title: str
    timezone: str
    period_start: date | None  # local days, both included; None: from the first / to the last attempt
    period_end: date | None
    customers: int
    customers_called: int
    attempts: int
    contact_rate: Rate  # customers reached / customers called
    success_rate: Rate  # successes / customers reached
    list_success_rate: Rate  # successes / customers on the list
    attempts_per_success: float | None
    calls_per_agent_day: float | None
    average_handling_time: float | None  # seconds, over attempts that reached someone and have a duration
    dispositions: dict[str, int]
    refusal_reasons: dict[str, int]
    status: dict[str, int]
    agents: list[AgentFigures]
    by_attempt: list[SliceFigures]
    by_hour: list[SliceFigures]
    callbacks: CallbackFigures
    segments: list[SegmentFigures]
    linked_calls: int
    rules: list[RuleFigures]
