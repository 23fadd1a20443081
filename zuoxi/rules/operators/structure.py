"""Operators over the shape of a conversation: how often something happens, steps in order, the
questions of a campaign's script."""

from __future__ import annotations

import re
from typing import Any

from zuoxi.normalize import PAD, normalize_text
from zuoxi.rules.operators.base import (
    SCOPE_OPTIONS,
    Condition,
    Context,
    Env,
    Hit,
    RuleError,
    Scoped,
    operator,
    parse_scope,
    words_of,
)


@operator("count", {"of", "min", "per_100_chars", "role", "min_chars"})
class Count(Condition):
    """`of` occurs at least `min` times (distinct hits), or at a `per_100_chars` rate of the role's text."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        if "of" not in spec:
            raise RuleError(loc, "count 需要 `of`")
        self.of = env.compile(spec["of"], loc + ("of",))
        self.min = spec.get("min")
        self.rate = spec.get("per_100_chars")
        self.role = spec.get("role", "agent")
        self.min_chars = int(spec.get("min_chars", 0))

    def hits(self, ctx, anchor):
        found = self.of.hits(ctx, anchor)
        if found is None:
            return None
        if self.rate is not None:
            chars = sum(len(re.sub(r"\W", "", t.norm)) for t in ctx.turns if t.role == self.role)
            if chars < max(1, self.min_chars):
                return None
            return found if len(found) * 100 / chars >= float(self.rate) else []
        return found if len(found) >= int(self.min or 1) else []


@operator("order", {"steps", "min_steps", "ordered"})
class Order(Condition):
    """Steps in order (A before B before C); `degree` is the share of steps in the best ordered chain.
    With `ordered: false` a step counts wherever it comes (the share of steps present)."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        steps = spec.get("steps")
        if not isinstance(steps, list) or len(steps) < 2:
            raise RuleError(loc + ("steps",), "order 需要至少两个步骤的列表（steps）")
        self.steps = [env.compile(s, loc + ("steps", i)) for i, s in enumerate(steps)]
        self.min_steps = int(spec.get("min_steps", len(self.steps)))
        self.ordered = bool(spec.get("ordered", True))

    def looked_at(self, ctx: Context, anchor: Hit | None) -> list[int]:
        return sorted({t for s in self.steps for t in s.looked_at(ctx, anchor)})

    def chain(self, ctx: Context, anchor: Hit | None) -> list[Hit] | None:
        per_step = [s.hits(ctx, anchor) for s in self.steps]
        if all(p is None for p in per_step):
            return None
        if not self.ordered:
            return sorted(min(p) for p in per_step if p)
        # best[i] = longest in-order chain ending with a hit of step i (steps may be skipped)
        best: list[list[tuple[Hit, list[Hit]]]] = []
        for i, step_hits in enumerate(per_step):
            options = []
            for hit in sorted(set(step_hits or [])):
                chain = [hit]
                for earlier in best[:i]:
                    for ehit, echain in earlier:
                        if ehit < hit and len(echain) + 1 > len(chain):
                            chain = echain + [hit]
                options.append((hit, chain))
            best.append(options)
        return max((c for options in best for _, c in options), key=len, default=[])

    def hits(self, ctx, anchor):
        chain = self.chain(ctx, anchor)
        if chain is None:
            return None
        return chain if len(chain) >= self.min_steps else []

    def degree(self, ctx, anchor):
        chain = self.chain(ctx, anchor)
        return None if chain is None else len(chain) / len(self.steps)


@operator("script", SCOPE_OPTIONS | {"questions", "topic"})
class Script(Scoped):
    """Campaign script questions, each a word list; `meta.script_questions` overrides the defaults."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        self.scope = parse_scope({"role": "agent", **spec}, loc)
        questions = spec.get("questions") or {}
        if not questions:
            raise RuleError(loc + ("questions",), "script 需要 `questions`：名称 → 词表")
        self.keys = {
            name: env.matcher.register(words_of(words, env.lexicons, loc + ("questions", name)))
            for name, words in questions.items()
        }
        topic = words_of(spec.get("topic", []), env.lexicons, loc + ("topic",))
        self.topic_key = env.matcher.register(topic) if topic else None

    def _covered(self, ctx: Context, anchor: Hit | None) -> tuple[list[Hit], int] | None:
        allowed = set(self.scope.turns(ctx, anchor))
        custom = ctx.prepared.conversation.meta.get("script_questions")
        if not custom and self.topic_key is not None and not ctx.keyword_hits(self.topic_key):
            return None  # not a call of this campaign
        found, total = [], 0
        if isinstance(custom, list) and custom:
            for question in custom:
                words = question.get("keywords", []) if isinstance(question, dict) else [str(question)]
                total += 1
                hit = next(
                    (
                        Hit(t, m, m + len(w))
                        for t in sorted(allowed)
                        for w in map(normalize_text, words)
                        if (m := ctx.turns[t].norm.find(w)) >= 0
                    ),
                    None,
                )
                if hit:
                    found.append(hit)
            return found, total
        for key in self.keys.values():
            total += 1
            hit = next((h for h in ctx.keyword_hits(key) if h.turn in allowed), None)
            if hit:
                found.append(hit)
        return found, total

    def hits(self, ctx, anchor):
        covered = self._covered(ctx, anchor)
        if covered is None:
            return None
        found, total = covered
        return found if len(found) == total else []

    def degree(self, ctx, anchor):
        covered = self._covered(ctx, anchor)
        if covered is None or not covered[1]:
            return None
        return len(covered[0]) / covered[1]


PLACEHOLDER_CHARS = 3  # what a masking placeholder ([数字x], [金额x]…) stands for counts as this many characters


@operator("length", SCOPE_OPTIONS | {"min", "max"})
class Length(Scoped):
    """Turns longer than `min` (or shorter than `max`) characters as a reader counts them: a masking
    placeholder, emoji code or mention counts as a few characters, not as its code."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        self.scope = parse_scope(spec, loc)
        if spec.get("min") is None and spec.get("max") is None:
            raise RuleError(loc, "length 需要 `min` 或 `max`")
        self.min, self.max = spec.get("min"), spec.get("max")

    def settled(self, ctx, anchor):
        return self.scope.closed(ctx, anchor)

    def hits(self, ctx, anchor):
        found = []
        for t in self.scope.turns(ctx, anchor):
            norm = ctx.turns[t].norm
            n = len(norm) - norm.count(PAD) + (PLACEHOLDER_CHARS - 1) * _placeholders(norm)
            if (self.min is None or n >= self.min) and (self.max is None or n <= self.max):
                found.append(Hit(t, 0, len(ctx.turns[t].text)))
        return found


def _placeholders(norm: str) -> int:
    """How many placeholders the matching form marks: each is a run of PAD followed by its symbol."""
    return norm.count(PAD) and len(re.findall(PAD + "+[^" + PAD + "]", norm))


@operator("ends_with", {"role"})
class EndsWith(Condition):
    """The conversation's last turn is one of `role`'s (the agent has the last word). A last turn without
    words (an image or emoji the export did not keep) is still that side's last word."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        self.role = parse_scope(spec, loc).role

    def hits(self, ctx, anchor):
        last = next((t for t in reversed(ctx.turns) if t.role != "system"), None)
        return [Hit(last.index, 0, len(last.text))] if last is not None and last.role == self.role else []


@operator("meta", {"key", "equals"})
class Meta(Condition):
    """The conversation's `meta[key]` is `equals` (what the data says of itself: a drill's transcript is
    complete to its end); the hit marks its last turn."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        if not spec.get("key"):
            raise RuleError(loc, "meta 需要 `key`")
        self.key, self.value = str(spec["key"]), spec.get("equals", True)

    def hits(self, ctx, anchor):
        last = ctx.turns[-1]
        return (
            [Hit(last.index, 0, len(last.text))] if ctx.prepared.conversation.meta.get(self.key) == self.value else []
        )
