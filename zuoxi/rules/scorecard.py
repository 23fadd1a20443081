"""Scorecards are YAML: sections of items, each a rule plus points, severity, message and advice.

This module loads them (built-in by name, or a user's file by path), resolves `include`, and
validates them, reporting every problem with the line it is on.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from zuoxi.messages import Problems, said, yaml_said
from zuoxi.model import SURROGATE
from zuoxi.privacy import mask_text

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "scorecards"
LEXICON_FILE = BUILTIN_DIR / "lexicons.yaml"
_LINE = "__line__"
_KEY_LINES = "__key_lines__"  # each key's own line: an error names the line of the field that is wrong
_ITEM_LINES = "__item_lines__"  # the line of each entry of a list value, by key (`include:` written one a line)


@dataclass(frozen=True)
class Unvalidated:
    """A scorecard file that did not validate, as far as it was read: its items' conditions can still be compiled,
    so that one run of `zuoxi scorecard check` reports their problems with the file's own (a missing `message`
    hid a wrong operator until a second run)."""

    source: str
    raw: dict[str, Any]
    lexicons: dict[str, list[str]]
    synonyms: dict[str, list[str]]


class ScorecardError(Problems):
    """Problems in a scorecard file, each as `file:line: message`. `partial`: the scorecard as merged despite
    them (only item ids met twice, or points out of bounds), so that compiling it can report its rules' problems
    in the same run; `unvalidated`: the file as read where it did not validate, for the same."""

    def __init__(
        self,
        problems: list[str],
        partial: tuple[ScorecardSpec, list[Origin]] | None = None,
        unvalidated: Unvalidated | None = None,
    ):
        super().__init__(problems)
        self.partial = partial
        self.unvalidated = unvalidated


MAX_SCORE = 1000  # the most a scorecard's max_score, and so an item's points, may be
# The longest ids, as long as the columns that hold them: an item's in a review or an appeal (`reviews.rule`), a
# scorecard's in each result, a profile entry's (a skill) and an item's in the dashboard's figures. On PostgreSQL a
# finding of a longer item id could not be reviewed or appealed, and a scorecard or skill id over 100 characters failed
# the storing of a whole chunk (none of the file's conversations stored); SQLite, which keeps any length, took them.
ITEM_ID_MAX = 50
SCORECARD_ID_MAX = 100
MAX_REPEATS = 100  # further offences an item may count, and turns a profile entry may need


class Applies(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a score of nan or inf is no score

    channel: Literal["chat", "call"] | None = None
    roles: list[Literal["agent", "customer"]] = Field(
        default_factory=lambda: list[Literal["agent", "customer"]](["agent"])
    )
    times: bool = False  # needs turn start/end times
    # "opening": the item judges the agent's opening, so it is n/a for a log that does not hold it —
    # `meta.opening: not_logged`, as for exports that begin after the platform's automatic welcome.
    transcript: Literal["opening"] | None = None


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a score of nan or inf is no score

    id: str = Field(max_length=ITEM_ID_MAX)
    name: str
    severity: Literal["minor", "major", "veto"] = "minor"
    # at most the scorecard's max_score either way (`_out_of_bounds`)
    points: float = Field(
        ge=-MAX_SCORE, le=MAX_SCORE, description="negative: deducted on fail; positive: bonus on pass"
    )
    repeat_points: float = Field(0, ge=-MAX_SCORE, le=MAX_SCORE)  # deducted per further offence (its sign is not read)
    max_repeats: int = Field(3, ge=0, le=MAX_REPEATS)  # a negative one turned further offences into a bonus
    applies: Applies = Field(default_factory=Applies)
    when: dict[str, Any] | None = None
    once: bool = False
    expect: dict[str, Any] | None = None
    forbid: dict[str, Any] | None = None
    veto_if: dict[str, Any] | None = None
    dismiss_if: dict[str, Any] | None = None
    partial: bool = False
    min_degree: float = Field(1.0, ge=0, le=1)  # a share of the steps
    evidence: Literal["trigger", "violation", "first_agent", "last_agent"] | None = None
    message: str
    suggestion: str = ""

    @model_validator(mode="after")
    def _has_a_rule(self) -> Item:
        if self.expect is None and self.forbid is None:
            raise ValueError("条目需要 `expect` 或 `forbid`")
        if self.dismiss_if is not None and self.when is None:
            raise ValueError("`dismiss_if` 需要 `when`：它在每次触发处判断")
        return self


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a score of nan or inf is no score

    id: str
    name: str
    skill: bool = False
    items: list[Item]


class ProfileItem(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a score of nan or inf is no score

    id: str = Field(max_length=SCORECARD_ID_MAX)
    name: str
    condition: dict[str, Any]
    # turns that make the skill 1.0 (a 0 divided by zero in every analysis)
    saturate: int = Field(2, ge=1, le=MAX_REPEATS)


class ScorecardSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a score of nan or inf is no score

    id: str = Field(max_length=SCORECARD_ID_MAX)
    name: str
    description: str = ""
    max_score: float = Field(100, ge=1, le=MAX_SCORE)  # 0 or less made every score 0 or negative
    include: list[str] = Field(default_factory=list)
    lexicons: dict[str, list[str]] = Field(default_factory=dict)
    synonyms: dict[str, list[str]] = Field(default_factory=dict)
    sections: list[Section] = Field(default_factory=list)
    profile: list[ProfileItem] = Field(default_factory=list)
    source: str | None = None  # file it came from


MAX_DEPTH = 64  # nesting of YAML collections; the built-in scorecards need about 12


class _LineLoader(yaml.SafeLoader):
    """Records the line of every mapping, so errors can point at it. Refuses aliases (`*name`, `<<: *name`),
    which scorecards never need and which let a few lines expand into gigabytes ("billion laughs"), and
    nesting deeper than MAX_DEPTH, which would otherwise end in a RecursionError."""

    _depth = 0

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            value = super().construct_object(node, deep)
        except ValueError as error:  # an impossible date (2026-02-30), an integer of thousands of digits
            raise yaml.constructor.ConstructorError(None, None, f"无法读取的值（{error}）", node.start_mark) from None
        if isinstance(value, float) and not math.isfinite(value):  # `.nan`, `1e999`: no score or bar is one
            raise yaml.constructor.ConstructorError(None, None, f"不是有限的数（{value}）", node.start_mark)
        if isinstance(value, str) and SURROGATE.search(value):  # "\uD800": no page or database can hold it
            raise yaml.constructor.ConstructorError(
                None, None, "含有未配对的 UTF-16 代理字符，不是文本", node.start_mark
            )
        return value

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"不支持 YAML 别名（*{event.anchor}）：请把内容直接写出来", event.start_mark
            )
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"嵌套超过 {MAX_DEPTH} 层", self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = cast(dict[str, Any], loader.construct_mapping(node, deep=True))  # keys as YAML wrote them
    mapping[_LINE] = node.start_mark.line + 1
    mapping[_KEY_LINES] = {
        key.value: key.start_mark.line + 1 for key, _ in node.value if isinstance(key, yaml.ScalarNode)
    }
    mapping[_ITEM_LINES] = {
        key.value: [entry.start_mark.line + 1 for entry in value.value]
        for key, value in node.value
        if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.SequenceNode)
    }
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k not in (_LINE, _KEY_LINES, _ITEM_LINES)}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value


def line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest key (else mapping) along `loc`: a wrong `severity` is its own line, not its item's."""
    line = data.get(_LINE) if isinstance(data, dict) else None
    for part in loc:
        if isinstance(data, dict):
            line = data.get(_KEY_LINES, {}).get(part, line)
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(data, dict) and _LINE in data:
            line = data[_LINE]
    return line


def _problem(source: str, line: int | None, message: str) -> str:
    return f"{source}:{line}: {message}" if line else f"{source}: {message}"


def parse_scorecard_text(text: str, source: str) -> tuple[ScorecardSpec, dict[str, Any]]:
    """Parse and validate one file (without includes); returns the spec and the raw, line-annotated data."""
    spec, raw, problems = _parse(text, source)
    if spec is None or problems:
        raise ScorecardError(problems)
    return spec, raw


def _parse(text: str, source: str) -> tuple[ScorecardSpec | None, dict[str, Any], list[str]]:
    """The spec (None when it does not validate), the raw line-annotated data, and the problems. What is not YAML,
    or not a mapping, raises: nothing else about the file can be told."""
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as error:
        line, problem = yaml_said(error, text)
        raise ScorecardError([_problem(source, line, f"不是有效的 YAML：{problem}")]) from error
    if not isinstance(raw, dict):
        raise ScorecardError([_problem(source, 1, "评分表应是含 id、name 和 sections 的映射")])
    try:
        spec = ScorecardSpec.model_validate({**strip_lines(raw), "source": source})
    except ValidationError as error:
        problems = []
        for item in error.errors():
            loc = tuple(item["loc"])
            where = ".".join(map(str, loc))
            problems.append(_problem(source, line_of(raw, loc), f"{where}：{said(item)}"))
        return None, raw, problems
    return spec, raw, _out_of_bounds(spec, raw, source)


def _out_of_bounds(spec: ScorecardSpec, raw: dict[str, Any], source: str) -> list[str]:
    """Points no item can be worth: more than the whole score (`max_score`) won or lost at once."""
    problems = []
    for s_index, section in enumerate(spec.sections):
        for i_index, item in enumerate(section.items):
            for name in ("points", "repeat_points"):
                value = getattr(item, name)
                if abs(value) > spec.max_score:
                    loc = ("sections", s_index, "items", i_index, name)
                    problems.append(
                        _problem(
                            source,
                            line_of(raw, loc),
                            f"{'.'.join(map(str, loc))}：{item.id} 的 {name} 为 {value:g}，"
                            f"一条最多扣或加满分 max_score（{spec.max_score:g}）分",
                        )
                    )
    return problems


@lru_cache(maxsize=1)
def _builtin_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml") if p.stem != "lexicons"))


def builtin_names() -> list[str]:
    """The scorecards shipped in the package (read once: they cannot change while running)."""
    return list(_builtin_names())


_search_dirs: list[Path] = [Path(p) for p in os.environ.get("ZUOXI_SCORECARDS", "").split(os.pathsep) if p]


def add_search_dir(directory: Path) -> None:
    """Also find scorecards by name in `directory` (after the built-ins; $ZUOXI_SCORECARDS adds more)."""
    if directory not in _search_dirs:
        _search_dirs.append(directory)


def masked_text(text: str) -> str:
    """A scorecard's YAML with personal data masked (`mask_text`) in its values and its comments, everything else
    as written (keys, layout, comments, line of each item): a message or suggestion is shown to agents and copied into
    every result it scores, so a phone number in one is stored nowhere in clear. A value masking changes is written
    again as a double-quoted string (a plain `*******5678` would read as a YAML alias); a block (`|`, `>`) is masked
    in place, its lines being its text. Text that does not read as YAML is masked where it stands."""
    if mask_text(text) == text:
        return text
    try:
        scalars = [token for token in yaml.scan(text, Loader=yaml.SafeLoader) if isinstance(token, yaml.ScalarToken)]
    except yaml.YAMLError:
        return mask_text(text)
    parts, at = [], 0
    for token in scalars:
        start, end = token.start_mark.index, token.end_mark.index
        parts.append(mask_text(text[at:start]))  # between values: comments, punctuation
        raw = text[start:end]
        if token.style in ("|", ">"):
            parts.append(mask_text(raw))
        elif (masked := mask_text(token.value)) != token.value:
            parts.append(json.dumps(masked, ensure_ascii=False))  # JSON's escapes are YAML's double-quoted ones
        else:
            parts.append(raw)
        at = end
    parts.append(mask_text(text[at:]))
    return "".join(parts)


_texts: dict[str, str] = {}  # scorecards known by name from their text (the web app's, kept in its database)


def register_text(name: str, text: str) -> None:
    """Know scorecard `name` by its YAML text (no file): what `get_scorecard(name)` and `include: [name]` use."""
    if name in builtin_names():
        raise ScorecardError([f"{name}：内置评分表不能被替换"])
    _texts[name] = text


def registered_text(name: str) -> str | None:
    return _texts.get(name)


def locate(name: str, relative_to: Path | None = None) -> Path:
    """The file of a scorecard: a .yaml path, a built-in name, or a name in a search directory."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_absolute() and relative_to is not None and (relative_to / path).exists():
            return relative_to / path
        return path
    for directory in (BUILTIN_DIR, *_search_dirs):
        candidate = directory / f"{name}.yaml"
        if candidate.exists():
            return candidate
    raise ScorecardError([f"没有评分表 {name!r}：内置的有 {'、'.join(builtin_names())}，或给出 .yaml 文件路径"])


def shared_lexicons() -> dict[str, list[str]]:
    return strip_lines(yaml.load(LEXICON_FILE.read_text(encoding="utf-8"), Loader=_LineLoader)) or {}  # noqa: S506 — a SafeLoader


MAX_SCORECARD_BYTES = 10 << 20  # the built-in ones are a few tens of KB


@lru_cache(maxsize=64)
def _load_path(path: Path, mtime: float, shown: str) -> tuple[ScorecardSpec | None, dict[str, Any], tuple[str, ...]]:
    """The file's spec (None when it does not validate), raw data and problems (cached: a tuple, not to be
    changed); what cannot be read at all raises. Problems name the file as `shown` (as the user gave it), as the
    rules' problems do."""
    try:
        if path.exists() and not path.is_file():  # a pipe would hang, /dev/zero fill memory
            raise ScorecardError([f"{shown}：不是普通文件（文件夹、管道或设备不能作为评分表）"])
        if path.exists() and path.stat().st_size > MAX_SCORECARD_BYTES:
            raise ScorecardError([f"{shown}：超过 {MAX_SCORECARD_BYTES >> 20} MB，不是评分表"])
        data = path.read_bytes()
    except OSError as error:
        raise ScorecardError([f"{shown}：无法读取（{error.strerror or error}）"]) from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ScorecardError([_problem(shown, line, "不是 UTF-8 编码的文本（评分表须存为 UTF-8）")]) from None
    spec, raw, problems = _parse(text, shown)
    return spec, raw, tuple(problems)


Origin = tuple[str, dict[str, Any], int]  # file, its raw line-annotated data, section index there


def _entry_line(raw: dict[str, Any], key: str, index: int) -> int | None:
    """The line of entry `index` of list `key` (each on its own line, or all on the key's)."""
    lines = raw.get(_ITEM_LINES, {}).get(key) or []
    return lines[index] if index < len(lines) else line_of(raw, (key,))


def _raw_includes(raw: dict[str, Any]) -> list[str]:
    """`include:` of a file that does not validate, as far as it reads (its wrong entries are reported by the
    validation): the includes are still checked in the same run."""
    include = raw.get("include")
    return [name if isinstance(name, str) else "" for name in include] if isinstance(include, list) else []


def _unvalidated(
    source: str, raw: dict[str, Any], lexicons: dict[str, list[str]], synonyms: dict[str, list[str]]
) -> Unvalidated:
    """The file as read, with its own lexicons and synonyms where they are lists of words (as validation needs)."""

    def words(name: str) -> dict[str, list[str]]:
        value = strip_lines(raw.get(name))
        if not isinstance(value, dict):
            return {}
        return {k: v for k, v in value.items() if isinstance(v, list) and all(isinstance(w, str) for w in v)}

    return Unvalidated(source, raw, {**lexicons, **words("lexicons")}, {**synonyms, **words("synonyms")})


def _raw_sections(raw: dict[str, Any]) -> int:
    sections = raw.get("sections")
    return len(sections) if isinstance(sections, list) else 0


def _duplicate_ids(origins: list[Origin]) -> list[str]:
    """Each item id met again, at the line of its second (third…) occurrence, naming where it was first: read from
    the files as written, so that a file that does not validate has its repeated ids reported in the same run."""
    first: dict[str, str] = {}
    problems = []
    for source, raw, s_index in origins:
        section = raw["sections"][s_index]
        items = section.get("items") if isinstance(section, dict) else None
        for i_index, item in enumerate(items if isinstance(items, list) else []):
            ident = item.get("id") if isinstance(item, dict) else None
            if not isinstance(ident, str):
                continue
            line = line_of(raw, ("sections", s_index, "items", i_index, "id"))
            here = f"{source}:{line}" if line else source
            if ident in first:
                problems.append(_problem(source, line, f"条目 id 重复：{ident}（第一次出现在 {first[ident]}）"))
            else:
                first[ident] = here
    return problems


def _read(
    name: str, seen: tuple[str, ...], text: str | None, at: str | None
) -> tuple[Path, ScorecardSpec | None, dict[str, Any], list[str], Path | None]:
    """One scorecard without its includes: its path, spec (None when it does not validate), raw data, problems,
    and the folder its includes by file are found from. What names no readable scorecard raises, at `at`."""

    def here(message: str) -> ScorecardError:
        return ScorecardError([f"{at}: {message}" if at else message])

    text = text if text is not None else (_texts.get(name) if name not in builtin_names() else None)
    if text is not None:
        path = Path(f"{name}.yaml")
        if str(path) in seen:
            raise here(f"{path}：include 形成循环（{' → '.join(seen)}）")
        spec, raw, problems = _parse(text, str(path))
        return path, spec, raw, problems, None
    try:
        path = locate(name)
    except ScorecardError as error:
        raise here(error.problems[0]) from None
    if str(path) in seen:
        raise here(f"{path}：include 形成循环（{' → '.join(seen)}）")
    if not path.exists():
        raise here(f"没有评分表文件 {path}")
    spec, raw, found = _load_path(path.resolve(), path.stat().st_mtime, str(path))
    return path, spec, raw, list(found), path.parent


def load_spec(
    name: str, _seen: tuple[str, ...] = (), text: str | None = None, _at: str | None = None
) -> tuple[ScorecardSpec, list[Origin]]:
    """The scorecard with its includes merged in (included sections first), and where each section came
    from. `text` (or a text registered under `name`) is the scorecard itself, read as `name.yaml`. Every problem
    of the file that can be told in one run is reported together: its validation, each include that cannot be
    read, and each item id met twice (`_at`: the `file:line` of the include that names this one)."""
    path, spec, raw, problems, base_dir = _read(name, _seen, text, _at)
    origins: list[Origin] = []
    sections: list[Section] = []
    lexicons = shared_lexicons()
    synonyms: dict[str, list[str]] = {}
    profile: list[ProfileItem] = []
    includes_read = True
    for index, included in enumerate(spec.include if spec is not None else _raw_includes(raw)):
        if not included:
            continue
        at = f"{path}:{_entry_line(raw, 'include', index)}"
        try:
            by_file = included.endswith((".yaml", ".yml"))
            target = str(locate(included, base_dir)) if by_file else included
            base, base_origins = load_spec(target, _seen + (str(path),), _at=at)
        except ScorecardError as error:
            problems += [p for p in error.problems if p not in problems]
            includes_read = False
            continue
        sections += base.sections
        lexicons.update(base.lexicons)
        synonyms.update(base.synonyms)
        profile += base.profile
        origins += base_origins
    origins += [(str(path), raw, i) for i in range(len(spec.sections) if spec is not None else _raw_sections(raw))]
    problems += _duplicate_ids(origins)
    if spec is None:
        raise ScorecardError(problems, unvalidated=_unvalidated(str(path), raw, lexicons, synonyms))
    if problems and not includes_read:
        raise ScorecardError(problems)
    lexicons.update(spec.lexicons)
    synonyms.update(spec.synonyms)
    merged = spec.model_copy(
        update={
            "sections": sections + spec.sections,
            "lexicons": lexicons,
            "synonyms": synonyms,
            "profile": profile + spec.profile,
        }
    )
    if problems:
        raise ScorecardError(problems, partial=(merged, origins))
    return merged, origins
