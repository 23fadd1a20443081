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
            raise RuleError(loc, f"a condition is a mapping with one of {names}")
        kinds = [k for k in spec if k in OPERATORS]
        if len(kinds) != 1:
            raise RuleError(loc, f"a condition needs exactly one of {names} (found {', '.join(map(str, spec)) or 'nothing'})")
        kind = kinds[0]
        unknown = [k for k in spec if k != kind and k not in RELATIONS]
        if unknown:
            raise RuleError(loc + (unknown[0],), f"unknown key {unknown[0]!r} beside {kind!r}")
        body, here = spec[kind], loc + (kind,)
        condition = self._build(kind, body, here)
        if any(k in spec for k in RELATIONS):
            condition = Related(condition, spec, loc, self.env)
        return condition

    def _build(self, kind: str, body: Any, loc: tuple[Any, ...]) -> Condition:
        registered = OPERATORS[kind]
        if kind not in LOGIC:
            if not isinstance(body, dict):
                raise RuleError(loc, f"{kind} takes a mapping of options")
            unknown = sorted(set(body) - registered.options)
            if unknown:
                hint = " (after/before/within/nth go beside the operator, not inside it)" if set(unknown) & set(RELATIONS) else ""
                raise RuleError(loc + (unknown[0],),
                                f"unknown {kind} option {unknown[0]!r}{hint}; allowed: {', '.join(sorted(registered.options))}")
        try:
            return registered.cls(body, loc, self.env)
        except RuleError:
            raise
        except (TypeError, ValueError) as error:
            raise RuleError(loc, f"bad {kind} options: {error}") from error
