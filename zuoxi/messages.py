"""What a user reads when a value they wrote is refused: pydantic's error types and PyYAML's problems said in
Chinese.

Scorecards, sampling plans, training cases, campaign files and live-assist turns are written by users
of a Chinese product; each of their validators turns a pydantic error into a line through `said`.
A type not listed keeps pydantic's own words rather than saying nothing.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import yaml


class Problems(ValueError):
    """What is wrong with something a user wrote, one line a problem (`source:line: field: 问题`)."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


SAID = {
    "missing": "必须填写",
    "extra_forbidden": "不认识这个字段",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "finite_number": "应为有限的数（不能是 nan 或 inf）",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为文字",
    "string_too_long": "太长",
    "string_too_short": "不能为空",
    "list_type": "应为列表",
    "too_long": "条目太多",
    "too_short": "不能为空",
    "dict_type": "应为映射（键: 值）",
    "model_type": "应为映射（键: 值）",
    "model_attributes_type": "应为映射（键: 值）",
    "string_pattern_mismatch": "格式不对",
    "datetime_parsing": "应为日期时间",
    "datetime_type": "应为日期时间",
    "datetime_from_date_parsing": "应为日期时间（如 2024-03-01T10:00:00+08:00）",
    "datetime_object_invalid": "应为日期时间",
    "date_parsing": "应为日期（如 2024-03-01）",
    "date_type": "应为日期",
    "date_from_datetime_parsing": "应为日期（如 2024-03-01）",
    "date_from_datetime_inexact": "应为日期，不带时刻",
    "time_parsing": "应为时刻（如 10:00:00）",
    "time_type": "应为时刻",
    "timezone_naive": "不能带时区",
    "timezone_aware": "应带时区（如 +08:00）",
    "int_parsing_size": "数字太大",
    "decimal_parsing": "应为数字",
    "decimal_type": "应为数字",
    "string_unicode": "应为有效的文字",
    "bytes_type": "应为文字",
    "tuple_type": "应为列表",
    "set_type": "应为列表",
    "mapping_type": "应为映射（键: 值）",
    "dataclass_type": "应为映射（键: 值）",
    "json_invalid": "不是有效的 JSON",
    "json_type": "应为 JSON 文字",
    "url_parsing": "应为网址",
    "uuid_parsing": "应为 UUID",
    "frozen_field": "不能修改",
    "none_required": "应为空（null）",
    "union_tag_invalid": "类型不对",
    "union_tag_not_found": "缺少类型字段",
}


def said(error: Any, own: dict[str, str] | None = None) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) in Chinese; `own` overrides `SAID`."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if own and kind in own:
        return own[kind]
    if kind in ("literal_error", "enum"):  # pydantic's "'minor', 'major' or 'veto'", in Chinese
        return f"只能是 {str(ctx.get('expected', '')).replace(', ', '、').replace(' or ', ' 或 ')}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"不能小于{'等于' if kind == 'greater_than' else ''} {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"不能大于{'等于' if kind == 'less_than' else ''} {ctx.get('le', ctx.get('lt'))}"
    if kind == "string_too_long" and "max_length" in ctx:
        return f"太长（最多 {ctx['max_length']} 个字）"
    if kind == "too_long" and "max_length" in ctx:
        return f"条目太多（最多 {ctx['max_length']} 个）"
    if kind == "string_too_short" and ctx.get("min_length", 1) > 1:
        return f"太短（至少 {ctx['min_length']} 个字）"
    if kind == "multiple_of":
        return f"应为 {ctx.get('multiple_of')} 的倍数"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return SAID.get(kind, error["msg"])


def said_all(errors: list[Any]) -> str:
    """Every error of a validation, `field.path：problem`, joined."""
    return "；".join(f"{'.'.join(map(str, e['loc']))}：{said(e)}" for e in errors)


# --- YAML ---------------------------------------------------------------------------------------------
# PyYAML says what is wrong with a file in English (`error.problem`); scorecards, sampling plans, training cases and
# campaigns are written by people who read Chinese. Each pattern matches one of PyYAML's problems (its `%r` value
# captured as `x`); the line and column stay with the caller's message. A problem not listed is said generally.

_TOKENS = {
    "<stream end>": "文件结尾",
    "<document start>": "文档开头「---」",
    "<document end>": "文档结尾「...」",
    "<block end>": "缩进的结束",
    "<block mapping start>": "新的一组「键: 值」",
    "<block sequence start>": "列表项「- 」",
    "<scalar>": "一个值",
    "<alias>": "别名「*」",
    "<anchor>": "锚点「&」",
    "<tag>": "标签「!」",
    "<directive>": "指令「%」",
    "?": "「? 」",
    "-": "列表项「- 」",
}
_CHARACTERS = {"\t": "制表符（Tab）", " ": "空格", "\n": "换行", "\r": "回车", "\x00": "文件结尾"}


def _shown(found: str) -> str:
    """PyYAML's `%r` of a token or a character, as a Chinese phrase."""
    try:
        value = ast.literal_eval(found)
    except (ValueError, SyntaxError):
        value = found
    value = str(value)
    if value in _TOKENS:
        return _TOKENS[value]
    if value in _CHARACTERS:
        return _CHARACTERS[value]
    if len(value) == 1 and (unicodedata.category(value)[0] in "CZ"):
        return f"不可见字符 U+{ord(value):04X}"
    return f"「{value}」"


def _cannot_start(x: str) -> str:
    if x == "制表符（Tab）":
        return "这里有制表符（Tab）：YAML 的缩进只能用空格，请把 Tab 换成空格"
    return f"{x}不能作为一个值的开头：请给这个值加上引号"


_YAML_PROBLEMS: list[tuple[re.Pattern[str], Callable[[str], str]]] = [
    (
        re.compile(r"expected ',' or '\]', but got (?P<x>.+)"),
        lambda x: f"方括号列表 [ … ] 没有写完：应是逗号「,」或「]」，却是{x}",
    ),
    (
        re.compile(r"expected ',' or '\}', but got (?P<x>.+)"),
        lambda x: f"花括号映射 {{ … }} 没有写完：应是逗号「,」或「}}」，却是{x}",
    ),
    (re.compile(r"found character (?P<x>.+) that cannot start any token"), _cannot_start),
    (re.compile(r"could not find expected ':'"), lambda x: "找不到应有的冒号「:」：键后要写「: 」，或是引号没有成对"),
    (
        re.compile(r"mapping values are not allowed here"),
        lambda x: "这里不能再有「键: 值」：值里含「: 」时请给整个值加上引号，或检查缩进",
    ),
    (
        re.compile(r"expected <block end>, but found (?P<x>.+)"),
        lambda x: f"缩进对不上：这一行与上面的层级不一致（遇到了{x}）",
    ),
    (re.compile(r"sequence entries are not allowed here"), lambda x: "这里不能有列表项「- 」：请检查缩进"),
    (re.compile(r"mapping keys are not allowed here"), lambda x: "这里不能有「? 」键：请检查缩进"),
    (re.compile(r"found unexpected end of stream"), lambda x: "文件在引号或括号闭合前就结束了：请补上另一半引号或括号"),
    (
        re.compile(r"found unknown escape character (?P<x>.+)"),
        lambda x: f"双引号里的转义「\\{x.strip('「」')}」无效：反斜杠请写成「\\\\」，或改用单引号",
    ),
    (
        re.compile(r"expected escape sequence of \d+ hexadecimal numbers, but found (?P<x>.+)"),
        lambda x: f"双引号里的 \\x、\\u 或 \\U 转义后应是十六进制数字，却是{x}",
    ),
    (re.compile(r"found unexpected document separator"), lambda x: "引号里的值中间出现了文档分隔符「---」或「...」"),
    (re.compile(r"found undefined alias (?P<x>.+)"), lambda x: f"别名 *{x.strip('「」')} 没有对应的锚点"),
    (re.compile(r"second occurrence"), lambda x: "锚点重名：同一个锚点「&」定义了两次"),
    (
        re.compile(r"but found another document|expected a single document"),
        lambda x: "只能有一个文档：请不要用「---」分出第二个",
    ),
    (
        re.compile(r"expected '<document start>', but found (?P<x>.+)"),
        lambda x: f"多余的内容：{x}（请检查括号是否多写了，或缩进）",
    ),
    (re.compile(r"expected the node content, but found (?P<x>.+)"), lambda x: f"这里应有一个值，却是{x}"),
    (
        re.compile(r"expected a comment or a line break, but found (?P<x>.+)"),
        lambda x: f"这里只能是注释或换行，却是{x}",
    ),
    (
        re.compile(r"expected alphabetic or numeric character, but found (?P<x>.+)"),
        lambda x: f"锚点、别名或标签的名字只能由字母和数字组成，却有{x}",
    ),
    (
        re.compile(r"expected indentation indicator in the range 1-9, but found 0"),
        lambda x: "「|」或「>」后的缩进数字应为 1–9，不能是 0",
    ),
    (
        re.compile(r"expected chomping or indentation indicators, but found (?P<x>.+)"),
        lambda x: f"「|」或「>」后只能是 +、- 或 1–9 的缩进数字，却是{x}",
    ),
    (
        re.compile(r"could not determine a constructor for the tag (?P<x>.+)"),
        lambda x: f"不认识的标签{x}：请去掉「!」开头的标签",
    ),
    (re.compile(r"found undefined tag handle (?P<x>.+)"), lambda x: f"没有定义的标签前缀{x}"),
    (re.compile(r"found unhashable key"), lambda x: "列表或映射不能用作键"),
]
YAML_UNKNOWN = "写法不符合 YAML 的格式：请检查这一行的缩进、冒号和引号"


def yaml_said(error: Exception, text: str | None = None) -> tuple[int | None, str]:
    """A PyYAML error as (line, Chinese): the line 1-based (None when PyYAML does not tell it), the problem in
    Chinese with its column (`第 N 列`). A problem already in Chinese (a loader's own, such as aliases refused) is
    kept as it is; one PyYAML says that is not listed is said generally, never in English. `text` (what was read)
    gives the line of a character PyYAML refuses to read (a control character), which it tells by position only."""
    if isinstance(error, yaml.reader.ReaderError):
        character = error.character if isinstance(error.character, str) else chr(error.character)
        line = text[: error.position].count("\n") + 1 if text is not None else None
        return line, f"含有 YAML 不允许的字符 U+{ord(character):04X}（控制字符等）：请删去它"
    mark = getattr(error, "problem_mark", None)
    problem = str(getattr(error, "problem", None) or "")
    line = mark.line + 1 if mark is not None else None
    column = f"（第 {mark.column + 1} 列）" if mark is not None else ""
    if re.search(r"[\u4e00-\u9fff]", problem):  # the loader's own words
        return line, problem
    for pattern, say in _YAML_PROBLEMS:
        if found := pattern.search(problem):
            return line, say(_shown(found.group("x")) if "x" in pattern.groupindex else "") + column
    return line, YAML_UNKNOWN + column


def yaml_message(error: Exception, source: str, text: str | None = None) -> str:
    """`source:line: 不是有效的 YAML：…` (`yaml_said`), as file problems are written."""
    line, problem = yaml_said(error, text)
    return f"{source}{f':{line}' if line else ''}: 不是有效的 YAML：{problem}"
