"""Types of the campaigns package: the campaign definition (YAML), dispositions, attempts, the report.

The campaign YAML and the dispositions YAML are validated here, so a typo in a campaign file is
reported with its field path before anything is stored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

# Times without a zone are China Standard Time, where the call centres are; the database holds UTC
# (SQLite drops zones, PostgreSQL converts), and calls are counted per local day.
LOCAL_TZ = timezone(timedelta(hours=8))


def to_utc(value: datetime) -> datetime:
    return (value if value.tzinfo else value.replace(tzinfo=LOCAL_TZ)).astimezone(UTC)


def from_db(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def local_day(value: datetime) -> date:
    return from_db(value).astimezone(LOCAL_TZ).date()


Next = Literal["success", "closed", "retry", "callback"]
CustomerStatus = Literal["pending", "retry", "callback", "success", "closed"]


class Question(BaseModel):
    """One question the script must cover; `keywords` are what OB-06 looks for in the agent's turns."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    text: str
    keywords: list[str] = Field(min_length=1)


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
    max_attempts: int = Field(default=3, ge=1)
    callback_after_hours: float = Field(default=24, gt=0)

    @field_validator("reason_codes")
    @classmethod
    def _codes_are_identifiers(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [code for code in value if not code.replace("_", "").isalnum() or not code.isascii()]
        if bad:
            raise ValueError(f"reason codes must be ascii identifiers: {', '.join(bad)}")
        return value

    def script_questions(self) -> list[dict]:
        """What a recorded call's `meta.script_questions` holds, so OB-06 checks this campaign's questions."""
        return [q.model_dump() for q in self.questions]


class DispositionInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    contact: bool
    next: Next
    aliases: list[str] = []


@cache
def dispositions() -> dict[str, DispositionInfo]:
    """The disposition codes (data/dispositions.yaml), in the order they are reported."""
    raw = yaml.safe_load(resources.files("zuoxi.campaigns").joinpath("data/dispositions.yaml").read_text(encoding="utf-8"))
    return {code: DispositionInfo.model_validate(info) for code, info in raw["dispositions"].items()}


def disposition_code(value: str) -> str:
    """A code, its Chinese label or an alias → the code; ValueError names the accepted values."""
    wanted = value.strip().lower()
    for code, info in dispositions().items():
        if wanted in (code, info.label.lower(), *(a.lower() for a in info.aliases)):
            return code
    raise ValueError(f"unknown disposition {value!r} (one of {', '.join(dispositions())})")


class Attempt(BaseModel):
    """One call attempt as recorded by an agent or imported from the dialer's export."""

    model_config = ConfigDict(extra="forbid")
    customer_id: int
    agent_id: str = Field(min_length=1)
    started_at: datetime
    disposition: str
    duration: float | None = Field(default=None, ge=0)  # seconds, from dialling to hang-up
    reason_code: str | None = None
    notes: str = ""
    conversation_key: str | None = None  # conversations.key of the recorded call

    @field_validator("disposition")
    @classmethod
    def _known(cls, value: str) -> str:
        return disposition_code(value)


class Rate(BaseModel):
    """A proportion with its 95% Wilson score interval (None when n is 0)."""

    successes: int
    n: int
    rate: float | None
    low: float | None
    high: float | None


class AgentFigures(BaseModel):
    agent_id: str
    days: int
    attempts: int
    per_day: float
    successes: int


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
    segments: list[SegmentFigures]
    linked_calls: int
    rules: list[RuleFigures]
