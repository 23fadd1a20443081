"""Turning a scorecard's YAML condition into operators: each mapping names exactly one registered
operator (`base.OPERATORS`), whose options are checked before it is built; relations in time
(after/before/within/nth) may sit beside it."""

from __future__ import annotations

from typing import Any

from zuoxi.rules.operators.base import OPERATORS, Condition, Env, KeywordMatcher, RuleError
from zuoxi.rules.operators.logic import LOGIC, RELATIONS, Related
from zuoxi.rules.operators.text import Synonyms


class Compiler:
    """Compiles the conditions of one scorecard, registering their keyword lists with one matcher."""

    def __init__(self, lexicons: dict[str, list[str]], synonyms: dict[str, list[str]]):
        self.matcher = KeywordMatcher()
        self.env = Env(matcher=self.matcher, lexicons=lexicons, synonyms=Synonyms(synonyms), compile=self.compile)

    def compile(self, spec: Any, loc: tuple[Any, ...]) -> Condition:
        names = ", ".join(OPERATORS)
        if not isinstance(spec, dict) or not spec:
            raise RuleError(loc, f"条件应是含以下之一的映射：{names}")
        kinds = [k for k in spec if k in OPERATORS]
        if len(kinds) != 1:
            raise RuleError(loc, f"条件须恰好含以下之一：{names}（实际为：{'、'.join(map(str, spec)) or '无'}）")
        kind = kinds[0]
        unknown = [k for k in spec if k != kind and k not in RELATIONS]
        if unknown:
            raise RuleError(loc + (unknown[0],), f"{kind!r} 旁不认识的键 {unknown[0]!r}")
        body, here = spec[kind], loc + (kind,)
        condition = self._build(kind, body, here)
        if any(k in spec for k in RELATIONS):
            condition = Related(condition, spec, loc, self.env)
        return condition

    def _build(self, kind: str, body: Any, loc: tuple[Any, ...]) -> Condition:
        registered = OPERATORS[kind]
        if kind not in LOGIC:
            if not isinstance(body, dict):
                raise RuleError(loc, f"{kind} 的选项应是映射")
            unknown = sorted(set(body) - registered.options)
            if unknown:
                hint = (
                    "（after/before/within/nth 应与算子并列，而不是写在算子里面）"
                    if set(unknown) & set(RELATIONS)
                    else ""
                )
                raise RuleError(
                    loc + (unknown[0],),
                    f"{kind} 没有选项 {unknown[0]!r}{hint}；可用的有：{'、'.join(sorted(registered.options))}",
                )
        try:
            return registered.cls(body, loc, self.env)
        except RuleError:
            raise
        except (TypeError, ValueError) as error:
            raise RuleError(loc, f"{kind} 的选项有误：{error}") from error
