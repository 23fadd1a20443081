"""Combining conditions: all, any, not, and relations in time (after/before/within/nth)."""

from __future__ import annotations

from typing import Any

from zuoxi.rules.operators.base import Condition, Env, Hit, RuleError, operator


def _children(spec: Any, loc: tuple[Any, ...], env: Env, kind: str) -> list[Condition]:
    if not isinstance(spec, list) or not spec:
        raise RuleError(loc, f"{kind} 需要条件列表")
    return [env.compile(c, loc + (i,)) for i, c in enumerate(spec)]


@operator("all", set())
class All(Condition):
    def __init__(self, spec: Any, loc: tuple[Any, ...], env: Env):
        self.children = _children(spec, loc, env, "all")

    def settled(self, ctx, anchor):
        return all(c.settled(ctx, anchor) for c in self.children)

    def looked_at(self, ctx, anchor):
        return sorted({t for c in self.children for t in c.looked_at(ctx, anchor)})

    def hits(self, ctx, anchor):
        found: list[Hit] = []
        marks: list[Hit] = []  # a `not`'s hit only marks where it held: evidence when nothing else is
        for child in self.children:
            part = child.hits(ctx, anchor)
            if part is None:
                return None
            if not part:
                return []
            (marks if isinstance(child, Not) else found).extend(part)
        return sorted(set(found or marks))


@operator("any", set())
class Any_(Condition):
    def __init__(self, spec: Any, loc: tuple[Any, ...], env: Env):
        self.children = _children(spec, loc, env, "any")

    def settled(self, ctx, anchor):
        return all(c.settled(ctx, anchor) for c in self.children)

    def looked_at(self, ctx, anchor):
        return sorted({t for c in self.children for t in c.looked_at(ctx, anchor)})

    def hits(self, ctx, anchor):
        parts = [c.hits(ctx, anchor) for c in self.children]
        if all(p is None for p in parts):
            return None
        return sorted({h for p in parts if p for h in p})


@operator("not", set())
class Not(Condition):
    """Holds where the child finds nothing; its hit marks the anchor turn (or the first turn)."""

    def __init__(self, spec: Any, loc: tuple[Any, ...], env: Env):
        self.child = env.compile(spec, loc)

    def settled(self, ctx, anchor):
        return self.child.settled(ctx, anchor)

    def looked_at(self, ctx, anchor):
        return self.child.looked_at(ctx, anchor)

    def hits(self, ctx, anchor):
        found = self.child.hits(ctx, anchor)
        if found is None:
            return None
        if found:
            return []
        turn = anchor.turn if anchor else 0
        return [Hit(turn, 0, len(ctx.turns[turn].text))]


LOGIC = frozenset({"all", "any", "not"})  # operators whose body is conditions, not options
RELATIONS = ("after", "before", "within", "nth")


class Related(Condition):
    """Hits of `base` after the first hit of another condition, or before it (all of them when it never
    occurs), optionally within N turns of it; and/or only the `nth` hit."""

    def __init__(self, base: Condition, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        self.base = base
        self.after = env.compile(spec["after"], loc + ("after",)) if "after" in spec else None
        self.before = env.compile(spec["before"], loc + ("before",)) if "before" in spec else None
        self.within = spec.get("within")
        self.nth = spec.get("nth")

    def settled(self, ctx, anchor):
        return all(c.settled(ctx, anchor) for c in (self.base, self.after, self.before) if c is not None)

    def looked_at(self, ctx, anchor):
        return self.base.looked_at(ctx, anchor)

    def hits(self, ctx, anchor):
        found = self.base.hits(ctx, anchor)
        if found is None:
            return None
        if self.after is not None:  # after the first mark (within N turns); nothing when it never occurs
            marks = sorted(self.after.hits(ctx, anchor) or [])
            found = [
                h
                for h in found
                if marks
                and (h.turn, h.start) > (marks[0].turn, marks[0].start)
                and (self.within is None or h.turn - marks[0].turn <= self.within)
            ]
        if self.before is not None:  # before the first mark; everything when it never occurs
            marks = sorted(self.before.hits(ctx, anchor) or [])
            found = [
                h
                for h in found
                if not marks
                or (
                    (h.turn, h.start) < (marks[0].turn, marks[0].start)
                    and (self.within is None or marks[0].turn - h.turn <= self.within)
                )
            ]
        if self.nth is not None:
            found = found[self.nth - 1 : self.nth] if self.nth > 0 else []
        return found
