"""Sampling plans (抽检计划): which conversations go to human review, written as data.

A plan is YAML (docs/queues.md; a bundled example in `zuoxi/queues/plans/weekly.yaml`): the
conversations in scope, a uniform random share, targeted rules in order of priority, per-agent
quotas, a daily or weekly schedule and how the picks are assigned. It is validated here, and every
problem is reported as `file:line: field: 问题` in Chinese, because a QA lead edits it in the web app.

Each targeted rule has a `kind`, a class registered with `@criterion`: the class holds the kind's
settings, says whether a conversation matches (`matches`), which matching ones come first
(`priority`) and how the rule reads on a queue item (`describe`). A new kind is one more class.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from zuoxi.messages import Problems, said, yaml_message
from zuoxi.privacy import mask_text, mask_value
from zuoxi.queues.assignment import METHODS
from zuoxi.queues.models import Candidate, Period
from zuoxi.rules.scorecard import _LineLoader, line_of, strip_lines
from zuoxi.store import masked_label

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,49}$")
RANDOM, QUOTA_FILL = "random", "quota_fill"  # the criteria that are not targeted rules
LABELS = {RANDOM: "随机抽样", QUOTA_FILL: "配额补足"}
Label = Annotated[str, Field(min_length=1, max_length=100)]


class PlanError(Problems):
    """Problems in a plan, each as `source:line: field: 问题`."""


class Written(BaseModel):
    """A part of a plan as a person writes it: personal data in its texts and lists of texts (names, description,
    teams, agents, inspectors…) is masked as conversations' is before they are validated, so that the bounds apply to
    what is stored (each part masks its own fields). An `id` is a key in URLs and commands and cannot be masked:
    `_no_personal_data` refuses one that holds any."""

    @model_validator(mode="before")
    @classmethod
    def _masked(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {key: mask_value(value) if key != "id" and _text(value) else value for key, value in data.items()}


def _text(value: Any) -> bool:
    """A text or a list of texts (a part of the plan within, a mapping, masks its own)."""
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _no_personal_data(value: str) -> str:
    if mask_text(value) != value:
        raise ValueError(
            "id 不能含手机号、电话号码、身份证号、银行卡号或邮箱地址：id 用于链接和命令，无法打码保存，请换一个"
        )
    return value


class Rule(Written):
    """A targeted rule: the kinds below add their settings, `matches` and `priority`."""

    model_config = ConfigDict(extra="forbid")
    label: ClassVar[str] = ""  # the kind's name in Chinese
    needs_agent_since: ClassVar[bool] = False  # reads Candidate.agent_since (a query of its own)
    if TYPE_CHECKING:  # each kind declares it, as its Literal tag (`@criterion` registers it)
        kind: str

    id: str = Field(pattern=NAME.pattern)
    name: str | None = Field(None, max_length=50)  # how the queue shows it; else `describe()`
    limit: int | None = Field(None, ge=1, le=100_000)  # at most this many picks per period
    per_agent: int | None = Field(None, ge=1, le=1_000)  # at most this many of one agent per period

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in LABELS:
            raise ValueError(f"规则 id 不能是 {value}（保留给{LABELS[value]}）")
        return _no_personal_data(value)

    def matches(self, c: Candidate, period: Period) -> bool:
        raise NotImplementedError

    def priority(self, c: Candidate) -> float | None:
        """Smaller comes first; None keeps the seeded random order among matching conversations."""
        return None

    def describe(self) -> str:
        return self.label

    @property
    def title(self) -> str:
        return self.name or self.describe()


CRITERIA: dict[str, type[Rule]] = {}

if TYPE_CHECKING:  # at run time the union of the registered kinds, bound by `_rebuild`
    AnyRule = Rule


def criterion(cls: type[Rule]) -> type[Rule]:
    """Register a rule kind under the `kind` its class declares, and let plans use it."""
    kind = get_args(cls.model_fields["kind"].annotation)[0]  # kind: Literal["the_kind"]
    CRITERIA[kind] = cls
    if "PlanSpec" in globals():
        _rebuild()
    return cls


def _pct(value: float) -> str:
    return f"{value * 100:g}%"


@criterion
class ScoreBand(Rule):
    label: ClassVar[str] = "分数段"
    kind: Literal["score_band"]
    min: float | None = Field(None, ge=-1000, le=1000)  # at least (inclusive)
    max: float | None = Field(None, ge=-1000, le=1000)  # below (exclusive)

    @model_validator(mode="after")
    def _bounded(self) -> ScoreBand:
        if self.min is None and self.max is None:
            raise ValueError("分数段至少要有 min 或 max")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError("分数段的 min 要小于 max")
        return self

    def matches(self, c: Candidate, period: Period) -> bool:
        return (self.min is None or c.score >= self.min) and (self.max is None or c.score < self.max)

    def priority(self, c: Candidate) -> float:
        return c.score  # the lowest scores first

    def describe(self) -> str:
        if self.min is None:
            return f"低于 {self.max:g} 分"
        if self.max is None:
            return f"{self.min:g} 分及以上"
        return f"{self.min:g}–{self.max:g} 分"


@criterion
class Veto(Rule):
    label: ClassVar[str] = "一票否决"
    kind: Literal["veto"]

    def matches(self, c: Candidate, period: Period) -> bool:
        return c.veto

    def priority(self, c: Candidate) -> float:
        return c.score


@criterion
class FailedRules(Rule):
    label: ClassVar[str] = "指定规则未通过"
    kind: Literal["failed_rules"]
    rules: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(min_length=1, max_length=50)

    def matches(self, c: Candidate, period: Period) -> bool:
        return not c.failed.isdisjoint(self.rules)

    def priority(self, c: Candidate) -> float:
        return -len(c.failed.intersection(self.rules))  # most of the named rules failed first

    def describe(self) -> str:
        return f"未通过 {'、'.join(self.rules)}"


@criterion
class ComplaintRisk(Rule):
    label: ClassVar[str] = "投诉风险"
    kind: Literal["complaint_risk"]
    min: float = Field(0.5, gt=0, le=1)
    rules: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=50
    )  # or these failed (e.g. ES-01)

    def matches(self, c: Candidate, period: Period) -> bool:
        return (c.complaint_risk or 0) >= self.min or not c.failed.isdisjoint(self.rules)

    def priority(self, c: Candidate) -> float:
        return -(c.complaint_risk or 0)

    def describe(self) -> str:
        return f"投诉风险 ≥ {_pct(self.min)}" + (f" 或 {'、'.join(self.rules)}" if self.rules else "")


@criterion
class ModelDisagreement(Rule):
    """The rules and the satisfaction model disagree: a low score with a satisfied customer, or a
    high score with a dissatisfied one. Either the rules or the model is wrong there."""

    label: ClassVar[str] = "规则与模型不一致"
    kind: Literal["model_disagreement"]
    score_below: float = Field(70, ge=-1000, le=1000)
    score_at_least: float = Field(90, ge=-1000, le=1000)

    def matches(self, c: Candidate, period: Period) -> bool:
        return (c.score < self.score_below and c.satisfaction == "satisfied") or (
            c.score >= self.score_at_least and c.satisfaction == "dissatisfied"
        )


@criterion
class NewAgents(Rule):
    label: ClassVar[str] = "新坐席"
    needs_agent_since: ClassVar[bool] = True
    kind: Literal["new_agents"]
    days: int = Field(30, ge=1, le=3650)  # first conversation at most this many days before the period ends

    def matches(self, c: Candidate, period: Period) -> bool:
        return c.agent_since is not None and c.agent_since >= period.end - timedelta(days=self.days)

    def describe(self) -> str:
        return f"新坐席（{self.days} 天内）"


class Scope(Written):
    """Which conversations a plan looks at (empty: all); teams and agents masked and canonical, as users' and
    conversations' are, so they match."""

    model_config = ConfigDict(extra="forbid")
    teams: list[Label] = Field(default_factory=list, max_length=200)
    agents: list[Label] = Field(default_factory=list, max_length=2000)
    channels: list[Literal["chat", "call"]] = Field(default_factory=list)
    scorecards: list[Label] = Field(default_factory=list, max_length=50)

    @field_validator("teams", "agents")
    @classmethod
    def _canonical(cls, values: list[str]) -> list[str]:
        return [label for v in values if (label := masked_label(v))]


class RandomShare(Written):
    """The uniform share: drawn first from everything in scope, so targeting cannot bias it."""

    model_config = ConfigDict(extra="forbid")
    share: float | None = Field(None, gt=0, le=1)
    count: int | None = Field(None, ge=1, le=100_000)
    name: str | None = Field(None, max_length=50)

    @model_validator(mode="after")
    def _one(self) -> RandomShare:
        if (self.share is None) == (self.count is None):
            raise ValueError("随机抽样写 share（比例）或 count（条数），二选一")
        return self

    def size(self, pool: int) -> int:
        if self.count is not None:
            return min(pool, self.count)
        assert self.share is not None  # _one: exactly one of share and count
        return round(pool * self.share)

    @property
    def title(self) -> str:
        return self.name or LABELS[RANDOM]


class Quota(Written):
    """Per agent and period: targeted picks stop at `per_agent`; `fill` tops each agent up to it."""

    model_config = ConfigDict(extra="forbid")
    per_agent: int = Field(ge=1, le=1_000)
    fill: bool = False


class Assignment(Written):
    model_config = ConfigDict(extra="forbid")
    method: str = "round_robin"
    inspectors: list[Label] = Field(default_factory=list, max_length=500)  # usernames; empty: every inspector
    exclude_own_team: bool = True
    # Never the inspector who resolved an appeal of the same agent (or only of the same conversation).
    avoid_appeal_handlers: Literal["agent", "conversation"] = "agent"
    due_days: int = Field(default=2, ge=0, le=60)  # default= by name: type checkers see it as optional

    @field_validator("method")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in METHODS:
            raise ValueError(f"未知的分配方式 {value}（可用：{'、'.join(METHODS)}）")
        return value


class PlanSpec(Written):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=NAME.pattern)
    name: Label
    description: str = Field("", max_length=500)
    schedule: Literal["daily", "weekly"] = "weekly"
    scope: Scope = Field(default_factory=Scope)
    random: RandomShare | None = None
    # AnyRule: the union of the registered kinds, tagged by `kind`; bound by `_rebuild` (and again by each `@criterion`)
    rules: list[SerializeAsAny[AnyRule]] = Field(default_factory=list, max_length=50)
    quota: Quota | None = None
    assignment: Assignment = Field(default_factory=Assignment)

    @field_validator("id")
    @classmethod
    def _key(cls, value: str) -> str:
        return _no_personal_data(value)

    @model_validator(mode="after")
    def _picks_something(self) -> PlanSpec:
        if self.random is None and not self.rules and not (self.quota and self.quota.fill):
            raise ValueError("计划至少要有随机抽样（random）、一条规则（rules）或配额补足（quota.fill）")
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError(f"规则 id 重复：{'、'.join(sorted({i for i in ids if ids.count(i) > 1}))}")
        return self


def _rebuild() -> None:
    union: Any = Annotated[Union[tuple(CRITERIA.values())], Field(discriminator="kind")]  # noqa: UP007 - built at run time
    PlanSpec.model_rebuild(force=True, _types_namespace={"AnyRule": union})


_rebuild()

# pydantic's error types, as a QA lead reads them
_PROBLEMS = {  # beside zuoxi.messages.SAID: what only a plan's fields mean
    "string_pattern_mismatch": "只能用小写字母、数字、- 和 _，以字母开头（最多 50 个字符）",
    "union_tag_not_found": "缺少 kind（规则类型）",
}


def _problem(error: ErrorDetails) -> str:
    if error["type"] == "union_tag_invalid":
        return f"未知的规则类型 {(error.get('ctx') or {}).get('tag')}（可用：{'、'.join(CRITERIA)}）"
    return said(error, _PROBLEMS)


def _where(loc: tuple) -> str:
    """`rules.0.score_band.max` → `rules.0.max`: the kind's tag is pydantic's, not the writer's."""
    parts = [str(p) for i, p in enumerate(loc) if not (i == 2 and loc[0] == "rules" and p in CRITERIA)]
    return ".".join(parts)


def parse_plan(text: str, source: str) -> PlanSpec:
    """A plan from its YAML text; PlanError lists every problem with its line in `source`."""
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader that records lines
    except yaml.YAMLError as error:
        raise PlanError([yaml_message(error, source, text)]) from None
    if not isinstance(raw, dict):
        raise PlanError([f"{source}:1: 计划应为映射，至少有 id、name 和 rules 或 random"])
    try:
        return PlanSpec.model_validate(strip_lines(raw))
    except ValidationError as error:
        problems = []
        for item in error.errors():
            loc = tuple(item["loc"])
            at = line_of(raw, loc)
            where = _where(loc)
            problems.append(f"{source}{f':{at}' if at else ''}: {where + ': ' if where else ''}{_problem(item)}")
        raise PlanError(list(dict.fromkeys(problems))) from None


def stored_text(spec: PlanSpec, text: str) -> str:
    """A plan's YAML as stored: as written, personal data masked (in its comments too); the spec written out
    where the masked text would not read as the spec, which is masked already (an unquoted masked value starts
    with `*`, a YAML alias)."""
    masked = mask_text(text)
    if masked == text:
        return text
    try:
        if parse_plan(masked, "") == spec:
            return masked
    except PlanError:
        pass
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=True), allow_unicode=True, sort_keys=False)


BUNDLED_DIR = Path(__file__).resolve().parent / "plans"


def bundled_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.yaml"))


def load_plan_file(source: str | Path) -> tuple[PlanSpec, str]:
    """(spec, text) of a plan file, or of a bundled plan by name; PlanError names the file and line
    of each problem."""
    path = Path(source)
    if not path.is_file():
        if str(source) not in bundled_names():
            raise PlanError([f"{path}: 没有这个文件（内置计划：{'、'.join(bundled_names())}）"])
        path = BUNDLED_DIR / f"{source}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PlanError([f"{path}: 读不出来（{type(error).__name__}）"]) from None
    return parse_plan(text, str(path)), text


def stored_plan(spec: dict[str, Any], name: str) -> PlanSpec:
    """A stored plan's spec (validated when saved) back as a PlanSpec."""
    try:
        return PlanSpec.model_validate(spec)
    except ValidationError as error:  # a kind removed since it was saved
        raise PlanError([f"计划 {name}: {_where(tuple(e['loc']))}: {_problem(e)}" for e in error.errors()]) from None
