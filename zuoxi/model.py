"""The types every pipeline stage passes on (docs/format.md).

`Conversation` is the canonical input every reader produces; `Result` is what scoring produces
and what `zuoxi analyze --format json` prints. Field names follow the project design (docs/format.md) exactly, because
outside tools read them.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

Role = Literal["agent", "customer", "system"]
Channel = Literal["chat", "call"]
Status = Literal["pass", "fail", "n/a"]
Severity = Literal["minor", "major", "veto"]
SatisfactionLabel = Literal["dissatisfied", "neutral", "satisfied"]


# A lone UTF-16 surrogate: what Python keeps of bytes that were not UTF-8, and of a "\uD800" escape. No page,
# terminal or database can hold it: text holding one is refused wherever it comes in.
SURROGATE = re.compile("[\ud800-\udfff]")
# Why a conversation is refused when none of its turns has words: as `Conversation` says it, and as the table reader
# says it of a conversation whose rows are all empty.
EMPTY_TURNS = "每一轮的文字都是空的"


def without_nul(value: Any) -> Any:
    """A string without NUL characters, anything else as it is: no text holds one, and PostgreSQL cannot store one
    (checked before a field's own bounds, so an id of NULs is an empty id, refused)."""
    return value.replace("\x00", "") if isinstance(value, str) and "\x00" in value else value


def nul_free(value: Any) -> Any:
    """A JSON value (`meta`) with the NUL characters of its strings and keys dropped, inside lists and mappings too:
    PostgreSQL's json keeps one as `\\u0000`, which every cast to jsonb then refuses. The same object when it holds
    none."""
    if isinstance(value, str):
        return without_nul(value)
    if isinstance(value, dict):
        items = [(nul_free(k), nul_free(v)) for k, v in value.items()]
        return value if all(nk is k and nv is v for (nk, nv), (k, v) in zip(items, value.items())) else dict(items)
    if isinstance(value, list):
        cleaned = [nul_free(v) for v in value]
        return value if all(c is v for c, v in zip(cleaned, value)) else cleaned
    return value


class Turn(BaseModel):
    """One message (chat) or one utterance (call)."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    text: str
    start: float | None = None
    end: float | None = None

    _text_without_nul = field_validator("text", mode="before")(without_nul)

    @model_validator(mode="after")
    def _end_not_before_start(self) -> Turn:
        if any(t is not None and not math.isfinite(t) for t in (self.start, self.end)):
            raise ValueError("start 和 end 应为有限的秒数")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end（{self.end}）早于 start（{self.start}）")
        return self


class Conversation(BaseModel):
    """A whole chat or call, as in docs/format.md."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)  # bounded as the store's columns are: a longer one is an input error
    channel: Channel = "chat"
    agent_id: str | None = Field(default=None, max_length=100)
    team: str | None = Field(default=None, max_length=100)
    started_at: datetime | None = None
    duration: float | None = Field(default=None, ge=0)
    audio: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    turns: list[Turn] = Field(min_length=1)
    # Where the recording is read from when masking changed `audio` (a file named by the caller's number):
    # held for this run only, never stored or printed (zuoxi.privacy.mask_conversation).
    _recording: str | None = PrivateAttr(default=None)
    # The line of its file it was read from (zuoxi.ingest.canonical.validate), for messages that name it (a duplicate
    # id): held for this run only, never stored or printed.
    _line: int | None = PrivateAttr(default=None)

    @property
    def recording(self) -> str | None:
        """The path the recording is read from: `audio` as given, before masking."""
        return self._recording or self.audio

    @property
    def source_line(self) -> int | None:
        """The line of its input file it starts at, where the reader knows it."""
        return self._line

    _labels_without_nul = field_validator("id", "team", "audio", mode="before")(without_nul)
    _meta_without_nul = field_validator("meta", mode="before")(nul_free)

    @field_validator("agent_id", mode="before")
    @classmethod
    def _agent_id_as_text(cls, value: Any) -> Any:
        # Exports often carry agent numbers as integers (客服8号 → 8).
        return str(value) if isinstance(value, int) else without_nul(value)

    @field_validator("turns")
    @classmethod
    def _has_words(cls, turns: list[Turn]) -> list[Turn]:
        if not any(t.text.strip() for t in turns):
            raise ValueError(EMPTY_TURNS)
        return turns


class Evidence(BaseModel):
    """The exact words behind a finding: `turn` indexes `turns`, start/end index its text."""

    turn: int
    start: int
    end: int
    text: str


class Finding(BaseModel):
    rule: str
    name: str
    status: Status
    severity: Severity
    points: float = 0
    evidence: list[Evidence] = Field(default_factory=list)
    message: str = ""
    suggestion: str = ""
    section: str | None = None


class TurnEmotion(BaseModel):
    """A customer turn's emotion: `score` is negativity 0–1; `cue` the [start, end) of the deciding word."""

    turn: int
    label: str
    score: float
    probs: dict[str, float] | None = None
    satisfaction: SatisfactionLabel | None = None
    cue: list[int] | None = None


class Satisfaction(BaseModel):
    label: SatisfactionLabel
    score: float
    probs: dict[str, float] | None = None


# How every report, dashboard and candidate list reads a result: score bands, and the complaint
# risk at or above which a conversation counts as at risk.
SCORE_BANDS = [(0, 60, "<60"), (60, 70, "60–69"), (70, 80, "70–79"), (80, 90, "80–89"), (90, 101, "90–100")]
HIGH_RISK = 0.5


class Result(BaseModel):
    """The analysis of one conversation against one scorecard (docs/format.md)."""

    conversation_id: str
    scorecard: str
    score: float
    max_score: float
    veto: bool = False
    findings: list[Finding]
    customer_emotion: list[TurnEmotion] = Field(default_factory=list)
    satisfaction: Satisfaction | None = None
    complaint_risk: float | None = None
    quality: dict[str, dict[str, float]] | None = None  # STC-3 A/S/E, each a distribution over "-2"…"2"
    skills: dict[str, float] = Field(default_factory=dict)
    sections: dict[str, float] = Field(default_factory=dict)
    audio: dict[str, Any] | None = None

    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "fail"]


class Alert(BaseModel):
    """Something the agent should act on now, raised by live assist (zuoxi/engines/live.py) at `turn`."""

    kind: str  # anger_rising, complaint_risk, broken_record, refusal_without_reason, deflection, over_promise…
    title: str  # what the agent's screen shows, in Chinese
    turn: int  # the turn after which it became true
    rule: str | None = None  # the scorecard item behind it
    message: str = ""
    suggestion: str = ""  # a better phrasing, from the scorecard
    evidence: list[Evidence] = Field(default_factory=list)
    score: float | None = None  # for a model alert: the estimate that crossed the threshold


class LiveUpdate(BaseModel):
    """The answer to one turn of a live conversation."""

    session: str
    turn: int
    alerts: list[Alert] = Field(default_factory=list)  # those that just became true
    emotion: TurnEmotion | None = None  # the customer's, when the turn is theirs
    complaint_risk: float | None = None  # of the conversation so far
