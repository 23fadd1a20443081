"""What a user reads when a value they wrote is refused: pydantic's error types said in Chinese.

Scorecards, sampling plans, training cases, campaign files and live-assist turns are written by users
of a Chinese product; each of their validators turns a pydantic error into a line through `said`.
A type not listed keeps pydantic's own words rather than saying nothing.
"""

from __future__ import annotations

from typing import Any


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
