"""Typical cases (典型案例): a conversation plus what a trainer adds to it.

Seed 003: agents should not learn complaint handling on real customers. A case carries what the
three training stages need — the scene and transcript for replay, guiding questions and the
analysis for guided analysis, and, for the drill, a simulated customer described as data: persona,
the need in parts (stated, then hidden) with the customer's own words for each, the facts they
hold (answered only when asked), the triggers that anger them, and alternatives they accept. Cases are YAML files
(`zuoxi/coaching/cases/*.yaml`), or promoted in the web app from analyzed conversations.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from zuoxi.messages import said_all
from zuoxi.model import Conversation

CASES_DIR = Path(__file__).resolve().parent / "cases"
TAGS = ("物流", "退换货", "议价", "投诉", "回访", "质量", "支付", "售后", "催单", "信用卡", "外卖")


class Persona(BaseModel):
    """How the simulated customer behaves: all three are 0–1."""

    model_config = ConfigDict(extra="forbid")

    name: str = "客户"
    patience: float = Field(0.5, ge=0, le=1)  # high: anger rises slowly
    politeness: float = Field(0.5, ge=0, le=1)  # high: polite wording, low: blunt
    suspicion: float = Field(0.0, ge=0, le=1)  # high: wants proof the caller is genuine (outbound)
    anger: float = Field(0.3, ge=0, le=1)  # at the start of the drill


class Fact(BaseModel):
    """Something the customer holds and the agent only learns by asking (order number, what broke, …):
    a line read as a question (`ask`, `ask_photo`) that names one of the topic words draws it out."""

    model_config = ConfigDict(extra="forbid")

    key: str
    asked_by: list[str] = Field(min_length=1)  # the fact's topic words
    answer: str


class NeedPart(BaseModel):
    """One thing the customer needs: met by a trainee line that affirms one of `words` (a negated,
    quoted, supposed or taken-back mention does not count: zuoxi/rules/reading.py)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    words: list[str] = Field(min_length=1)
    says: str | None = (
        None  # the customer pressing for it while unmet, in their words (default: the need's first clause)
    )
    hidden: bool = False  # the hidden need: pressed for only once the stated parts are met


class Trigger(BaseModel):
    """What makes this customer angrier than most: words (affirmed) in the trainee's line."""

    model_config = ConfigDict(extra="forbid")

    key: str
    words: list[str] = Field(min_length=1)
    anger: float = Field(gt=0, le=1)  # added anger, before the persona's patience
    says: str | None = None  # the customer's answer the first time (their own words, no fact they were not asked)


class GuideQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str
    answer: str


class BestReply(BaseModel):
    """A model agent reply for a key turn: `turn` is the customer turn it answers."""

    model_config = ConfigDict(extra="forbid")

    turn: int
    reply: str
    why: str = ""


class Resolution(BaseModel):
    """What ends the drill well: every part of the need met, or an acceptable alternative. `accept` is
    the short form of a need in one part (a case promoted in the web form)."""

    model_config = ConfigDict(extra="forbid")

    parts: list[NeedPart] = Field(default_factory=list)
    accept: list[str] = Field(default_factory=list)
    alternatives: list[str] = Field(default_factory=list)  # accepted only while the customer is calm enough
    needs_facts: list[str] = Field(default_factory=list)  # fact keys the agent must have asked first

    @model_validator(mode="after")
    def _one_part_at_least(self) -> Resolution:
        if not self.parts and not self.accept:
            raise ValueError("resolution 需要 `parts`（或 `accept`：一次满足需求的说法）")
        if not self.parts:
            self.parts = [NeedPart(key="need", words=self.accept)]
        keys = [p.key for p in self.parts]
        if len(set(keys)) < len(keys):
            raise ValueError(f"需求部分重名：{keys}")
        return self


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str
    tags: list[str] = Field(min_length=1)
    difficulty: int = Field(ge=1, le=5)
    scorecard: str = "core"
    description: str  # the scene, read out in the replay stage
    persona: Persona
    need: str  # the customer's real need: hidden in the drill, revealed in the analysis
    escalation_turn: int | None = None  # where it escalated in the original conversation
    analysis: str
    guide: list[GuideQuestion] = Field(min_length=1)
    best_solutions: list[BestReply] = Field(min_length=1)
    facts: list[Fact] = Field(default_factory=list)
    resolution: Resolution
    triggers: list[Trigger] = Field(default_factory=list)
    opening: str | None = None  # the drill's first customer line (default: the transcript's first)
    # Rule id → the suggestion the drill report gives for this case, instead of the scorecard's
    # generic one (SA-01's "查一下是否已经送出" fits a takeaway order, not a card callback).
    suggestions: dict[str, str] = Field(default_factory=dict)
    conversation: Conversation

    def first_customer_line(self) -> str:
        if self.opening:
            return self.opening
        return next(t.text for t in self.conversation.turns if t.role == "customer")

    def presses(self, part: NeedPart) -> str:
        """The customer's words pressing for an unmet part."""
        return part.says or re.split(r"[；;。]", self.need)[0]

    def search_text(self) -> str:
        turns = " ".join(t.text for t in self.conversation.turns)
        return " ".join([self.title, " ".join(self.tags), self.description, self.need, self.analysis, turns])


class CaseError(ValueError):
    pass


def parse_case(text: str, source: str) -> Case:
    try:
        data = yaml.safe_load(text)
        return Case.model_validate(data)
    except yaml.YAMLError as error:
        raise CaseError(f"{source}：不是有效的 YAML：{error}") from error
    except ValidationError as error:
        raise CaseError(f"{source}：{said_all(error.errors())}") from error


@lru_cache(maxsize=1)
def builtin_cases() -> tuple[Case, ...]:
    """The curated cases shipped with zuoxi, sorted by id."""
    cases = [parse_case(p.read_text(encoding="utf-8"), p.name) for p in sorted(CASES_DIR.glob("*.yaml"))]
    ids = [c.id for c in cases]
    duplicated = {i for i in ids if ids.count(i) > 1}
    if duplicated:
        raise CaseError(f"案例 id 重复：{'、'.join(sorted(duplicated))}")
    return tuple(sorted(cases, key=lambda c: c.id))
