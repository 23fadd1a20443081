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
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from zuoxi.messages import said, said_all, yaml_message
from zuoxi.model import Conversation

CASES_DIR = Path(__file__).resolve().parent / "cases"
TAGS = ("物流", "退换货", "议价", "投诉", "回访", "质量", "支付", "售后", "催单", "信用卡", "外卖")

# Every field and list of a case is bounded: every training page and drill reads the whole library, and one promoted
# case of millions of characters made training unusable for everyone. Each bound is several times what the bundled
# cases hold (their longest: title 37, scene 145, need 109, analysis 412 characters; 4 guiding questions; 3 model
# replies of up to 116 characters; 9 words to a need part), so a trainer never meets one writing a real case.
MAX_ID = 100  # the stored column's width (training_cases.id, training_attempts.case_id)
MAX_TITLE = 100
MAX_SCENE = 2000  # description
MAX_NEED = 1000
MAX_ANALYSIS = 5000
MAX_LINE = 1000  # a guide answer, a model reply, a fact's answer, a customer line (as MAX_AGENT_LINE: a trainee's)
MAX_SHORT = 200  # a guide question, the customer's name, a scorecard
MAX_KEY = 50  # a fact's, a need part's, a trigger's key; a rule id
MAX_WORD = 50  # one of the words that meet a need, draw out a fact or anger the customer
MAX_TAGS = 10
MAX_TAG = 20
MAX_ITEMS = 20  # guiding questions, model replies, facts, need parts, triggers, alternatives, suggestions
MAX_WORDS = 50  # words of one need part, fact or trigger; `accept`

Line = Annotated[str, Field(max_length=MAX_LINE)]
Short = Annotated[str, Field(max_length=MAX_SHORT)]
Key = Annotated[str, Field(max_length=MAX_KEY)]


def _written(text: str) -> str:
    """A field a case cannot do without (its title, scene, the customer's need, the analysis): not blank — the
    promotion form's `required` is the browser's, and a form posted without it stored a case titled ''."""
    if not text.strip():
        raise ValueError("不能为空")
    return text


Word = Annotated[str, Field(max_length=MAX_WORD)]


class Persona(BaseModel):
    """How the simulated customer behaves: all three are 0–1."""

    model_config = ConfigDict(extra="forbid")

    name: Short = "客户"
    patience: float = Field(0.5, ge=0, le=1)  # high: anger rises slowly
    politeness: float = Field(0.5, ge=0, le=1)  # high: polite wording, low: blunt
    suspicion: float = Field(0.0, ge=0, le=1)  # high: wants proof the caller is genuine (outbound)
    anger: float = Field(0.3, ge=0, le=1)  # at the start of the drill


class Fact(BaseModel):
    """Something the customer holds and the agent only learns by asking (order number, what broke, …):
    a line read as a question (`ask`, `ask_photo`) that names one of the topic words draws it out."""

    model_config = ConfigDict(extra="forbid")

    key: Key
    asked_by: list[Word] = Field(min_length=1, max_length=MAX_WORDS)  # the fact's topic words
    answer: Line


class NeedPart(BaseModel):
    """One thing the customer needs: met by a trainee line that affirms one of `words` (a negated,
    quoted, supposed or taken-back mention does not count: zuoxi/rules/reading.py)."""

    model_config = ConfigDict(extra="forbid")

    key: Key
    words: list[Word] = Field(min_length=1, max_length=MAX_WORDS)
    says: Line | None = (
        None  # the customer pressing for it while unmet, in their words (default: the need's first clause)
    )
    hidden: bool = False  # the hidden need: pressed for only once the stated parts are met


class Trigger(BaseModel):
    """What makes this customer angrier than most: words (affirmed) in the trainee's line."""

    model_config = ConfigDict(extra="forbid")

    key: Key
    words: list[Word] = Field(min_length=1, max_length=MAX_WORDS)
    anger: float = Field(gt=0, le=1)  # added anger, before the persona's patience
    says: Line | None = None  # the customer's answer the first time (their own words, no fact they were not asked)


class GuideQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Short
    answer: Line


class BestReply(BaseModel):
    """A model agent reply for a key turn: `turn` is the customer turn it answers."""

    model_config = ConfigDict(extra="forbid")

    turn: int
    reply: Line
    why: Line = ""


class Resolution(BaseModel):
    """What ends the drill well: every part of the need met, or an acceptable alternative. `accept` is
    the short form of a need in one part (a case promoted in the web form)."""

    model_config = ConfigDict(extra="forbid")

    parts: list[NeedPart] = Field(default_factory=list, max_length=MAX_ITEMS)
    accept: list[Word] = Field(default_factory=list, max_length=MAX_WORDS)
    # accepted only while the customer is calm enough
    alternatives: list[Word] = Field(default_factory=list, max_length=MAX_ITEMS)
    # fact keys the agent must have asked first
    needs_facts: list[Key] = Field(default_factory=list, max_length=MAX_ITEMS)

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


class CaseFields(BaseModel):
    """What a trainer writes of a case: every field of `Case` but its conversation (what a promotion is checked
    against, bounds first, before anything is masked or stored)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=MAX_ID)
    title: Annotated[str, Field(max_length=MAX_TITLE), AfterValidator(_written)]
    tags: list[Annotated[str, Field(max_length=MAX_TAG)]] = Field(min_length=1, max_length=MAX_TAGS)
    difficulty: int = Field(ge=1, le=5)
    scorecard: Short = "core"
    description: Annotated[
        str, Field(max_length=MAX_SCENE), AfterValidator(_written)
    ]  # the scene, read out in the replay stage
    persona: Persona
    # the customer's real need: hidden in the drill, revealed in the analysis
    need: Annotated[str, Field(max_length=MAX_NEED), AfterValidator(_written)]
    escalation_turn: int | None = None  # where it escalated in the original conversation
    analysis: Annotated[str, Field(max_length=MAX_ANALYSIS), AfterValidator(_written)]
    guide: list[GuideQuestion] = Field(min_length=1, max_length=MAX_ITEMS)
    best_solutions: list[BestReply] = Field(min_length=1, max_length=MAX_ITEMS)
    facts: list[Fact] = Field(default_factory=list, max_length=MAX_ITEMS)
    resolution: Resolution
    triggers: list[Trigger] = Field(default_factory=list, max_length=MAX_ITEMS)
    opening: Line | None = None  # the drill's first customer line (default: the transcript's first)
    # Rule id → the suggestion the drill report gives for this case, instead of the scorecard's
    # generic one (SA-01's "查一下是否已经送出" fits a takeaway order, not a card callback).
    suggestions: dict[Key, Line] = Field(default_factory=dict, max_length=MAX_ITEMS)


class Case(CaseFields):
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


# A case's fields as the promotion form names them, for what a trainer reads when one is refused.
LABELS = {
    "id": "案例 id",
    "title": "标题",
    "tags": "标签",
    "difficulty": "难度",
    "scorecard": "评分表",
    "description": "场景描述",
    "persona": "客户性格",
    "name": "称呼",
    "patience": "耐心",
    "politeness": "礼貌",
    "suspicion": "疑心",
    "anger": "情绪",
    "need": "客户真正的诉求",
    "escalation_turn": "升级的句子",
    "analysis": "案例分析",
    "guide": "引导问题",
    "question": "问题",
    "answer": "参考答案",
    "best_solutions": "最佳话术",
    "turn": "回应的句子",
    "reply": "话术",
    "why": "理由",
    "facts": "客户掌握的信息",
    "key": "键",
    "asked_by": "问到它的说法",
    "resolution": "解决条件",
    "parts": "诉求",
    "words": "说法",
    "says": "客户的话",
    "accept": "满足诉求的说法",
    "alternatives": "可接受的替代方案",
    "needs_facts": "须先问到的信息",
    "triggers": "激怒客户的说法",
    "opening": "开场白",
    "suggestions": "改进建议",
}
SHOWN_PROBLEMS = 5  # a list of 200,000 bad entries is one message, not 200,000


def _where(loc: tuple[Any, ...]) -> str:
    """A field's place as a trainer reads it: 引导问题第 2 条的参考答案."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"第 {part + 1} 条"
        else:
            label = LABELS.get(str(part), str(part))
            out += f"的{label}" if out else label
    return out or "案例"


def check_fields(curation: Any) -> CaseFields:
    """What a trainer wrote of a case (every field but the conversation) checked against the case's schema and
    bounds, or CaseError in Chinese naming each field as the form does: cheap even for millions of characters,
    so it comes before anything is masked, written out or stored."""
    try:
        return CaseFields.model_validate(curation)
    except ValidationError as error:
        problems = [f"{_where(tuple(e['loc']))}：{said(e)}" for e in error.errors()]
        more = f"；等共 {len(problems)} 处" if len(problems) > SHOWN_PROBLEMS else ""
        raise CaseError("；".join(dict.fromkeys(problems[:SHOWN_PROBLEMS])) + more) from None


def parse_case(text: str, source: str) -> Case:
    try:
        data = yaml.safe_load(text)
        return Case.model_validate(data)
    except yaml.YAMLError as error:
        raise CaseError(yaml_message(error, source, text)) from error
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
