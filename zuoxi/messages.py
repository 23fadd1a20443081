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
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return SAID.get(kind, error["msg"])


def said_all(errors: list[Any]) -> str:
    """Every error of a validation, `field.path：problem`, joined."""
    return "；".join(f"{'.'.join(map(str, e['loc']))}：{said(e)}" for e in errors)
