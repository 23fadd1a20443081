"""Rule operators: the building blocks a scorecard's YAML composes.

One module per kind — `text` (keyword, regex, similar, repeat), `structure` (count, order, script),
`signals` (timing, emotion, audio, act), `logic` (all, any, not, relations) — each operator a class
registered under its YAML key with `@operator(name, options)` (`base.py`); `compiler.py` builds a
condition from YAML through that registry. Adding an operator is one class in one module.
"""

from zuoxi.rules.operators import logic, signals, structure, text  # noqa: F401  (each registers its operators)
from zuoxi.rules.operators.base import OPERATORS, Condition, Context, Env, Hit, RuleError, operator
from zuoxi.rules.operators.compiler import Compiler

__all__ = ["OPERATORS", "Compiler", "Condition", "Context", "Env", "Hit", "RuleError", "operator"]
