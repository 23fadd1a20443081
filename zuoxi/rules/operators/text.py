"""Operators over the words of turns: keyword lists, regular expressions, similar sentences, and the
same thing said again and again."""

from __future__ import annotations

import operator as op
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from re import _constants as _sre  # type: ignore[attr-defined]  # typeshed stubs only the public `re`
from re import _parser  # type: ignore[attr-defined]
from typing import Any

from rapidfuzz import fuzz

from zuoxi.normalize import mentions, normalize_pattern, normalize_text
from zuoxi.rules.operators.base import (
    FILTER_OPTIONS,
    SCOPE_OPTIONS,
    Context,
    Env,
    Filtered,
    Hit,
    RuleError,
    Scoped,
    operator,
    parse_scope,
    words_of,
)

_add = op.add
_NON_WORD = re.compile(r"[\W_]+")


@operator("keyword", FILTER_OPTIONS | {"words", "all"})
class Keyword(Filtered):
    """Any of a word list (`words`, `@lexicon` entries), or `all` of several lists in one turn."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        super().__init__(spec, loc, env)
        groups = spec["all"] if "all" in spec else [spec.get("words", [])]
        if not groups or not all(groups):
            raise RuleError(loc, "keyword 需要 `words`（或 `all`：多个词表的列表）")
        self.keys = [env.matcher.register(words_of(g, env.lexicons, loc)) for g in groups]

    def raw(self, ctx: Context) -> list[Hit]:
        if len(self.keys) == 1:
            return ctx.keyword_hits(self.keys[0])
        per_group = [ctx.keyword_hits(k) for k in self.keys]
        both = set.intersection(*({h.turn for h in g} for g in per_group))
        return sorted(h for g in per_group for h in g if h.turn in both)

    def hits(self, ctx, anchor):
        found = super().hits(ctx, anchor) or []
        if len(self.keys) > 1:  # every group must survive the filters in the turn
            survivors = set(found)
            groups = [{h.turn for h in ctx.keyword_hits(k) if h in survivors} for k in self.keys]
            turns = set.intersection(*groups) if groups else set()
            found = [h for h in found if h.turn in turns]
        return found


# --- Which regular expressions a scorecard may use ------------------------------------------------------------
# `re` backtracks: where a pattern can match the same text in many ways, a match that fails tries every one of
# them, and a turn holding a long run of one character (20,000 may come in, zuoxi/ingest/limits.py) takes
# longer than anyone waits — (a+)+$ or (a|aa)+$ exponentially, .*a.*a$ or (.*a){12} polynomially. Scorecards
# are hostile input (a QA team's file, a form in the web app), so `regex_problem` refuses such a pattern when the
# scorecard is compiled. It reads the parse tree as an automaton (Glushkov's: one state per character class, its
# edges counted by the ways the pattern takes them) and refuses
# - a loop that can read the same text along two different paths (exponential: nested repetition, an alternation
#   whose branches overlap inside a repetition);
# - two loops that can read the same text one after the other (polynomial: .*x.*, \d+\d+, " *个? *");
# - bounded repetitions that together split the same text in more than MAX_WAYS ways ([^。]{0,30} three times);
# - more than MAX_LOOP_WAYS ways to read a run of one character on from a loop ([^。]+ then [^，]{0,60}): each is
#   tried at every place the loop could stop, so they multiply the passes over the turn;
# - a repetition of something that can match nothing ((a?)+, (a|b?)*): ambiguous, and ~40× slower per iteration;
# - back-references, and patterns too long or too large to check.
# A repetition bounded by more than LOOP_BOUND counts as a loop; smaller ones are written out. What passes may still
# try a loop's every stopping place at every start (\d+天 on a run of digits: a second or so on 20,000 of them).
MAX_PATTERN_CHARS = 1_000  # the built-in scorecards' longest is about 200
MAX_GROUP_DEPTH = 20  # groups in groups: the built-in scorecards need 2; `re` runs out of stack at a few hundred
LOOP_BOUND = 100
MAX_WAYS = 10_000  # the built-in scorecards' most is about 2,000
MAX_LOOP_WAYS = 32  # ways a run is read on after a loop: each costs a pass over the rest of the turn
MAX_POSITIONS = 2_000  # character classes once bounded repetitions are written out
MAX_STEPS = 200_000  # pairs and triples of states the checks may visit


class _Unsafe(Exception):
    """Why a pattern is refused."""


_NESTED = "一段重复（+、*、{m,}）能以不止一种方式匹配同一段文字（嵌套的重复如 (a+)+，或重复中可重叠的分支如 (a|aa)+）"
_SERIAL = "两处不限次数的重复能匹配同一段文字（如 .*x.*、\\d+\\d+）"
_REPRESENTATIVES = "\n\t \u3000\xa0\u2060\x00059٣azAZ_é字。，,.#☺◇0"  # one of each kind the text holds, at least
_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}
_LEAVES = (_sre.LITERAL, _sre.NOT_LITERAL, _sre.ANY, _sre.IN)
_REPEATS = (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT)


def _children(code: Any, arg: Any) -> list[Any]:
    """The sub-patterns (lists of (code, arg)) of one node of a parse tree."""
    if code is _sre.SUBPATTERN:
        return [arg[-1]]
    if code is _sre.ATOMIC_GROUP:
        return [arg]
    if code is _sre.BRANCH:
        return list(arg[1])
    if code in _REPEATS:
        return [arg[2]]
    if code in (_sre.ASSERT, _sre.ASSERT_NOT):
        return [arg[1]]
    if code is _sre.GROUPREF_EXISTS:
        return [p for p in arg[1:] if p is not None]
    return []


def _leaves(items: Any) -> Iterator[tuple[Any, Any]]:
    for code, arg in items:
        if code in _LEAVES:
            yield code, arg
        for child in _children(code, arg):
            yield from _leaves(child)


def _nullable(items: Any) -> bool:
    """Whether a sub-pattern can match nothing."""
    for code, arg in items:
        if code in _LEAVES:
            return False
        if code in (_sre.SUBPATTERN, _sre.ATOMIC_GROUP) and not _nullable(_children(code, arg)[0]):
            return False
        if code is _sre.BRANCH and not any(_nullable(b) for b in arg[1]):
            return False
        if code in _REPEATS and arg[0] > 0 and not _nullable(arg[2]):
            return False
    return True


def _cases(ch: str) -> set[str]:
    return {c for c in (ch, ch.lower(), ch.upper()) if len(c) == 1}


def _alphabet(items: Any) -> str:
    """Characters enough to tell which classes of the pattern overlap: its literals and the ends of its ranges
    (with the characters next to them), in both cases, and one of each other kind."""
    chars = set(_REPRESENTATIVES)
    for code, arg in _leaves(items):
        members = arg if code is _sre.IN else [(_sre.LITERAL, arg)] if code is not _sre.ANY else []
        for kind, value in members:
            points = (
                [value] if kind is _sre.LITERAL else [value[0] - 1, *value, value[1] + 1] if kind is _sre.RANGE else []
            )
            chars.update(c for point in points if 0 <= point <= sys.maxunicode for c in _cases(chr(point)))
    return "".join(sorted(chars))


def _class_source(code: Any, arg: Any) -> str:
    """One character class of a parse tree written back as a regular expression (`re` has no way back)."""
    if code is _sre.ANY:
        return "(?s:.)"
    negate, parts = code is _sre.NOT_LITERAL, []
    for kind, value in arg if code is _sre.IN else [(_sre.LITERAL, arg)]:
        if kind is _sre.NEGATE:
            negate = True
        elif kind is _sre.LITERAL:
            parts.append(f"\\U{value:08x}")
        elif kind is _sre.RANGE:
            parts.append(f"\\U{value[0]:08x}-\\U{value[1]:08x}")
        elif str(value) in _CATEGORIES:
            parts.append(_CATEGORIES[str(value)])
        else:
            return "(?s:.)"  # anything else may hold any character
    return f"[{'^' if negate else ''}{''.join(parts)}]"


def _mask(source: str, alphabet: str) -> int:
    """The characters of `alphabet` a class matches (ignoring case, as patterns are compiled), as bits."""
    bits = 0
    for match in re.finditer(source, alphabet, re.IGNORECASE):
        bits |= 1 << match.start()
    return bits


def _cap(n: int) -> int:
    return min(n, MAX_WAYS + 1)  # past that a pattern is refused anyway


def _add_ways(a: dict[int, int], b: dict[int, int], times: int = 1) -> dict[int, int]:
    out = dict(a)
    for key, n in b.items():
        if times:
            out[key] = _cap(out.get(key, 0) + n * times)
    return out


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_STEPS

    def spend(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise _Unsafe("过于复杂，无法确认它不会回溯失控")


@dataclass
class _Part:
    """A piece of a pattern as a Glushkov automaton: the states it can start and end on (with the number of
    ways), the ways it matches nothing, the ways (bounded) it can match one text, and what it can start with."""

    empty: int = 1
    first: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)
    ways: int = 1
    starts: int = 0


class _Automaton:
    def __init__(self, alphabet: str, budget: _Budget):
        self.alphabet, self.budget = alphabet, budget
        self.everything = (1 << len(alphabet)) - 1
        self.classes: dict[str, int] = {}  # a class's source → its mask
        self.masks: list[int] = []
        self.follow: list[dict[int, int]] = []

    def sequence(self, items: Any) -> _Part:
        part = _Part()
        for code, arg in items:
            part = self.concat(part, self.node(code, arg))
        return part

    def node(self, code: Any, arg: Any) -> _Part:
        if code in _LEAVES:
            source = _class_source(code, arg)
            if source not in self.classes:
                self.classes[source] = _mask(source, self.alphabet)
            return self.position(self.classes[source])
        if code in (_sre.SUBPATTERN, _sre.ATOMIC_GROUP):
            return self.sequence(_children(code, arg)[0])
        if code is _sre.BRANCH:
            return self.branch([self.sequence(b) for b in arg[1]])
        if code in _REPEATS:
            return self.repeat(*arg)
        if code in (_sre.ASSERT, _sre.ASSERT_NOT):
            _check_tree(arg[1], self.alphabet, self.budget)  # a look-around backtracks too, on its own
        elif code in (_sre.GROUPREF, _sre.GROUPREF_EXISTS):
            raise _Unsafe("不支持反向引用（\\1、(?P=name)、(?(1)…)）")
        return _Part()  # anchors, look-arounds: they match nothing

    def position(self, mask: int) -> _Part:
        if len(self.masks) >= MAX_POSITIONS:
            raise _Unsafe(f"写出有上限的重复后超过 {MAX_POSITIONS} 个字符类，过于复杂")
        self.masks.append(mask)
        self.follow.append({})
        state = len(self.masks) - 1
        return _Part(empty=0, first={state: 1}, last={state: 1}, starts=mask)

    def link(self, last: dict[int, int], first: dict[int, int]) -> None:
        for p, m in last.items():
            edges = self.follow[p]
            for q, n in first.items():
                edges[q] = _cap(edges.get(q, 0) + m * n)

    def concat(self, a: _Part, b: _Part) -> _Part:
        self.link(a.last, b.first)
        return _Part(
            empty=_cap(a.empty * b.empty),
            first=_add_ways(a.first, b.first, a.empty),
            last=_add_ways(b.last, a.last, b.empty),
            ways=min(a.ways * b.ways, MAX_WAYS + 1),
            starts=a.starts | (b.starts if a.empty else 0),
        )

    def branch(self, parts: list[_Part]) -> _Part:
        """Branches that can start with the same character may both match one text: their ways add up."""
        starts = [p.starts if not p.empty else self.everything for p in parts]
        groups: list[tuple[int, int]] = []  # (characters, ways) of branches that overlap
        for start, part in zip(starts, parts):
            merged = [g for g in groups if g[0] & start]
            groups = [g for g in groups if not g[0] & start]
            chars = start
            for more, _ in merged:
                chars |= more
            groups.append((chars, part.ways + sum(w for _, w in merged)))
        out = _Part(empty=0, ways=min(max((w for _, w in groups), default=1), MAX_WAYS + 1))
        for part in parts:
            out.empty = _cap(out.empty + part.empty)
            out.first = _add_ways(out.first, part.first)
            out.last = _add_ways(out.last, part.last)
            out.starts |= part.starts
        return out

    def repeat(self, low: int, high: int, body: Any) -> _Part:
        """`body` written out `low` times, then either looped (unbounded, or bounded above LOOP_BOUND) or
        nested optional copies up to `high`: (x(x(x)?)?)? for x{0,3}."""
        if high > 1 and _nullable(body):  # `re` guards each such iteration against looping for ever: ~40× slower
            raise _Unsafe(
                "重复的内容可以什么字都不匹配（如 (a?)+、(a|b?)*、(a?){1,3}），请改写（如 a*、[ab]*、a{0,3}）"
            )
        parts = [self.sequence(body) for _ in range(min(low, LOOP_BOUND))]
        if high is _sre.MAXREPEAT or high > LOOP_BOUND:
            loop = self.sequence(body)
            self.link(loop.last, loop.first)
            parts.append(_Part(1, loop.first, loop.last, loop.ways, loop.starts))
        else:
            tail: _Part | None = None
            for _ in range(high - low):
                inner = self.sequence(body) if tail is None else self.concat(self.sequence(body), tail)
                tail = _Part(
                    _cap(inner.empty + 1), inner.first, inner.last, min(inner.ways + 1, MAX_WAYS + 1), inner.starts
                )
            parts += [tail] if tail is not None else []
        out = _Part()
        for part in parts:
            out = self.concat(out, part)
        return out


def _finish_order(follow: list[dict[int, int]]) -> list[int]:
    """The states in the order a depth-first search (without recursion) finishes them."""
    order: list[int] = []
    seen = [False] * len(follow)
    for root in range(len(follow)):
        if seen[root]:
            continue
        seen[root] = True
        stack = [(root, iter(follow[root]))]
        while stack:
            state, edges = stack[-1]
            nxt = next((q for q in edges if not seen[q]), None)
            if nxt is None:
                order.append(state)
                stack.pop()
            else:
                seen[nxt] = True
                stack.append((nxt, iter(follow[nxt])))
    return order


def _components(follow: list[dict[int, int]]) -> tuple[list[int], set[int]]:
    """Strongly connected components of the automaton (Kosaraju): each state's component, and the components
    that hold a loop."""
    back: list[list[int]] = [[] for _ in follow]
    for p, edges in enumerate(follow):
        for q in edges:
            back[q].append(p)
    comp = [-1] * len(follow)
    for root in reversed(_finish_order(follow)):
        if comp[root] < 0:
            comp[root], todo = root, [root]
            while todo:
                for p in back[todo.pop()]:
                    if comp[p] < 0:
                        comp[p] = root
                        todo.append(p)
    looped = {comp[p] for p, edges in enumerate(follow) for q in edges if comp[q] == comp[p]}
    return comp, looped


def _search(
    starts: Iterable[tuple[int, ...]],
    step: Callable[[tuple[int, ...]], Iterable[tuple[int, ...]]],
    goal: Callable[[tuple[int, ...]], bool],
    budget: _Budget,
) -> set[tuple[int, ...]] | None:
    """A search over tuples of states from `starts` (not themselves goals): None once a goal is reached, else every
    tuple reached."""
    seen = set(starts)
    todo = list(seen)
    while todo:
        for nxt in step(todo.pop()):
            budget.spend()
            if goal(nxt):
                return None
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _equal_to(target: tuple[int, ...]) -> Callable[[tuple[int, ...]], bool]:
    return lambda t: t == target


def _exponential(auto: _Automaton, comp: list[int], looped: set[int], budget: _Budget) -> bool:
    """A state with two different paths back to itself reading the same text: an edge taken two ways inside a
    loop, or two copies of the automaton that leave a state together, part, and meet again."""
    follow, masks = auto.follow, auto.masks
    if any(n > 1 and comp[p] == comp[q] for p, edges in enumerate(follow) for q, n in edges.items()):
        return True

    def step(pair: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        x, y = pair
        budget.spend(len(follow[x]) * len(follow[y]))
        for x2 in follow[x]:
            if comp[x2] == comp[x]:
                yield from ((x2, y2) for y2 in follow[y] if comp[y2] == comp[x] and masks[x2] & masks[y2])

    diagonal = [(p, p) for p in range(len(follow)) if comp[p] in looped]
    apart = _search(diagonal, step, lambda pair: False, budget) or set()
    parted = [pair for pair in apart if pair[0] != pair[1]]
    return bool(parted) and _search(parted, step, lambda pair: pair[0] == pair[1], budget) is None


def _polynomial(auto: _Automaton, comp: list[int], looped: set[int], budget: _Budget) -> bool:
    """Two loops p and q, p before q, and one text read around p, from p to q and around q: the split of a run
    between them is tried every way (Allauzen, Mohri and Rastogi's test for infinite ambiguity)."""
    follow, masks = auto.follow, auto.masks
    loops = [p for p in range(len(follow)) if comp[p] in looped]
    for p in loops:
        after = _search([(p,)], lambda s: ((q,) for q in follow[s[0]]), lambda s: False, budget) or set()
        for q in (q for (q,) in after if q in loops and comp[q] != comp[p]):

            def step(t: tuple[int, ...], p: int = p, q: int = q) -> Iterator[tuple[int, ...]]:
                x, y, z = t
                budget.spend(len(follow[x]) * len(follow[y]) * len(follow[z]))
                for x2 in (s for s in follow[x] if comp[s] == comp[p]):
                    for z2 in (s for s in follow[z] if comp[s] == comp[q] and masks[s] & masks[x2]):
                        yield from ((x2, y2, z2) for y2 in follow[y] if masks[x2] & masks[y2] & masks[z2])

            if _search([(p, p, q)], step, _equal_to((p, q, q)), budget) is None:
                return True
    return False


def _runs(masks: list[int], everything: int) -> Iterator[set[int]]:
    """For each kind of character (those that every class holds or lacks alike), the states that can read it."""
    kinds = [everything]
    for mask in set(masks):
        kinds = [part for kind in kinds for part in (kind & mask, kind & ~mask) if part]
    for kind in kinds:
        yield {q for q, mask in enumerate(masks) if mask & kind}


def _run_paths(auto: _Automaton, whole: _Part, budget: _Budget) -> tuple[int, int]:
    """How many ways the pattern can read a run of one character (的的的…, 1111…) from its start or any state:
    the most at any length of the run, and how many go on however long the run is (the ways a loop is left
    and then the run read on). `re` tries these at every place a loop over the run could stop."""
    end = len(auto.follow)  # the match ending (and what follows it tried): a state every character leads to
    follow = [*auto.follow, {}, whole.first]  # and the start, as one state more
    back: list[list[tuple[int, int]]] = [[] for _ in follow]
    for p, edges in enumerate(follow):
        for q, n in edges.items():
            back[q].append((p, n))
    back[end] = [*whole.last.items(), (end + 1, whole.empty)]
    most = stable = 0
    for reads in _runs(auto.masks, auto.everything):
        budget.spend(len(follow))
        reads.add(end)
        paths = dict.fromkeys(range(len(follow)), 1)  # ways to read k characters of the run from each state
        for _ in range(len(follow) + 1):
            longer: dict[int, int] = {}
            for q in reads.intersection(paths):
                budget.spend(len(back[q]))
                for p, n in back[q]:
                    longer[p] = min(longer.get(p, 0) + n * paths[q], MAX_WAYS + 1)
            if longer == paths or not longer:
                break
            paths = longer
            most = max(most, *paths.values())
        stable = max(stable, *longer.values(), 0)
    return most, stable


def _check_tree(items: Any, alphabet: str, budget: _Budget) -> None:
    auto = _Automaton(alphabet, budget)
    whole = auto.sequence(items)
    if whole.ways > MAX_WAYS:
        raise _Unsafe(f"有上限的重复合起来能以超过 {MAX_WAYS} 种方式匹配同一段文字（如连用几个 [^。]{{0,30}}）")
    comp, looped = _components(auto.follow)
    if _exponential(auto, comp, looped, budget):
        raise _Unsafe(_NESTED + "，耗时随文字长度指数增长")
    if _polynomial(auto, comp, looped, budget):
        raise _Unsafe(_SERIAL + "，耗时随文字长度成倍增长")
    most, stable = _run_paths(auto, whole, budget)
    if most > MAX_WAYS:
        raise _Unsafe(f"一长串相同的字能被它以超过 {MAX_WAYS} 种方式读取（如连用几个 [^。]{{0,30}}）")
    if stable > MAX_LOOP_WAYS:
        raise _Unsafe(
            f"不限次数的重复之后，一长串相同的字还能以 {stable} 种方式读下去（最多 {MAX_LOOP_WAYS} 种），"
            "如 [^。]+ 后紧跟 [^，]{0,30}"
        )


def group_depth(pattern: str) -> int:
    """How deep the groups of a regular expression nest (brackets in a character class or escaped do not count)."""
    depth = deepest = 0
    in_class = escaped = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch in "()":
            depth += 1 if ch == "(" else -1
            deepest = max(deepest, depth)
    return deepest


@lru_cache(maxsize=1024)
def regex_problem(pattern: str) -> str | None:
    """Why the regular expression `pattern` (valid, in its matching form) could take too long on a turn, or None."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"超过 {MAX_PATTERN_CHARS} 个字符"
    try:
        items = list(_parser.parse(pattern, re.IGNORECASE))
        _check_tree(items, _alphabet(items), _Budget())
    except _Unsafe as error:
        return str(error)
    except RecursionError:
        return "括号嵌套过深"
    return None


@operator("regex", FILTER_OPTIONS | {"pattern"})
class Regex(Filtered):
    """Each match of `pattern` in the matching form of a turn; a pattern that could backtrack for ever on a long
    turn is refused (`regex_problem`)."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        super().__init__(spec, loc, env)
        pattern = spec.get("pattern")
        if not isinstance(pattern, str):
            raise RuleError(loc + ("pattern",), "regex 需要 `pattern`：一个正则表达式（文本）")
        if group_depth(pattern) > MAX_GROUP_DEPTH:
            raise RuleError(loc + ("pattern",), f"正则表达式有误：括号嵌套超过 {MAX_GROUP_DEPTH} 层")
        try:
            self.pattern = re.compile(normalize_pattern(pattern), re.IGNORECASE)
        except re.error as error:
            raise RuleError(loc + ("pattern",), f"正则表达式有误：{error}") from error
        except RecursionError:
            raise RuleError(loc + ("pattern",), "正则表达式有误：括号嵌套过深") from None
        problem = regex_problem(self.pattern.pattern)
        if problem:
            shown = pattern if len(pattern) <= 80 else pattern[:80] + "…"
            raise RuleError(
                loc + ("pattern",),
                f"正则表达式 {shown!r} 可能回溯失控（catastrophic backtracking），分析长句时会卡住：{problem}。"
                "请改写，例如用有上限的 [^。]{0,20} 代替 .*，不要嵌套重复",
            )

    def raw(self, ctx: Context) -> list[Hit]:
        return [
            Hit(t.index, m.start(), m.end())
            for t in ctx.turns
            for m in self.pattern.finditer(t.norm)
            if m.end() > m.start()
        ]

    def hits(self, ctx, anchor):
        allowed = set(self.scope.turns(ctx, anchor))
        return [
            Hit(t, m.start(), m.end())
            for t in allowed
            for m in self.pattern.finditer(ctx.turns[t].norm)
            if m.end() > m.start() and self.keep(ctx, Hit(t, m.start(), m.end()))
        ]


@operator("mention", SCOPE_OPTIONS | {"names", "exclude"})
class Mention(Scoped):
    """@mentions whose account name holds one of `names` (and none of `exclude`): whom a public post
    tags (a newspaper, a regulator, a complaint platform). The text other operators match shows a
    mention as one symbol, so that account names never read as words; this reads the names."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        self.scope = parse_scope(spec, loc)
        self.names = [normalize_text(w) for w in words_of(spec.get("names", []), env.lexicons, loc + ("names",))]
        self.exclude = [normalize_text(w) for w in words_of(spec.get("exclude", []), env.lexicons, loc + ("exclude",))]
        if not self.names:
            raise RuleError(loc + ("names",), "mention 需要 `names`：账号名中的词语列表")

    def settled(self, ctx, anchor):
        return self.scope.closed(ctx, anchor)

    def hits(self, ctx, anchor):
        found = []
        for t in self.scope.turns(ctx, anchor):
            for start, end, name in mentions(ctx.turns[t].text):
                if any(w in name for w in self.names) and not any(w in name for w in self.exclude):
                    found.append(Hit(t, start, end))
        return found


class Synonyms:
    """Maps variant words to one head word before similarity, so 拒签 and 拒收 compare equal."""

    def __init__(self, groups: dict[str, list[str]]):
        self.table = {normalize_text(v): normalize_text(head) for head, variants in groups.items() for v in variants}
        alternatives = sorted(self.table, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def canon(self, text: str) -> str:
        text = re.sub(r"[\s,，。！？!?、~～.…:：;；\"'“”]+", "", text)
        return self.pattern.sub(lambda m: self.table[m.group()], text) if self.pattern else text


@operator("similar", FILTER_OPTIONS | {"examples", "threshold"})
class Similar(Filtered):
    """Clauses similar to one of the example sentences (char-level partial ratio after synonyms)."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        super().__init__(spec, loc, env)
        self.synonyms = env.synonyms
        self.examples = [self.synonyms.canon(normalize_text(e)) for e in spec.get("examples", [])]
        if not self.examples:
            raise RuleError(loc + ("examples",), "similar 需要例句列表（examples）")
        self.threshold = float(spec.get("threshold", 0.8))

    def _match(self, text: str) -> bool:
        canon = self.synonyms.canon(text)
        for example in self.examples:
            if len(canon) * 2 >= len(example) and fuzz.partial_ratio(example, canon) >= self.threshold * 100:
                return True
        return False

    def hits(self, ctx, anchor):
        found = []
        for t in self.scope.turns(ctx, anchor):
            turn = ctx.turns[t]
            for start, end in turn.sentences:
                if self._match(turn.norm[start:end]):
                    hit = Hit(t, start, end)
                    if self.keep(ctx, hit):
                        found.append(hit)
        return found


SCAN_UNITS = 48  # up to this many units, Repeat compares clusters directly rather than through an index


# Characters that carry little of what a proposal is about (pronouns, particles, politeness, "can"): a
# character bigram made of them weighs little when `weighted` similarity compares two turns. On the
# agent proposals of the labelled real chats, this weighting separates a reworded proposal from a
# different one as well as idf weights do (docs/accuracy.md), without a vocabulary.
FUNCTION_CHARS = frozenset(
    "您你我他她它们的了就吧呢哦啊呀嘛亲请是这那个下一可以在也都还有要会能给把被让和与及或么吗哈嗯好"
)


def _gram_weight(gram: str) -> float:
    light = (gram[0] in FUNCTION_CHARS) + (gram[1] in FUNCTION_CHARS)
    return (1.0, 0.6, 0.15)[light]


def bigrams(norm: str) -> set[str]:
    """The character bigrams of normalized text, punctuation and spaces left out."""
    chars = _NON_WORD.sub("", norm)
    return set(map(_add, chars, chars[1:]))


def overlap(a: set[str], b: set[str], weighted: bool = False) -> float:
    """Overlap coefficient of two bigram sets (shared ÷ the smaller), `weighted` by FUNCTION_CHARS;
    0 when either is empty. How `repeat` tells the same proposal reworded, and the simulated customer
    a repeated line."""
    if weighted:
        small = min(sum(map(_gram_weight, a)), sum(map(_gram_weight, b)))
        return sum(map(_gram_weight, a & b)) / small if small else 0.0
    small = min(len(a), len(b))
    return len(a & b) / small if small else 0.0


def _other_spoke(ctx: Context, before: int, after: int) -> bool:
    """Whether a turn of another role than `after`'s lies between the two turns: a request asked
    again before anyone could answer (a chat message split over lines) is not asked again."""
    role = ctx.turns[after].role
    return any(ctx.turns[t].role != role for t in range(before + 1, after))


@operator(
    "repeat",
    SCOPE_OPTIONS
    | {
        "min",
        "similarity",
        "min_chars",
        "keys",
        "ignore",
        "pushback",
        "per_turn",
        "of",
        "act_keys",
        "weighted",
        "unanswered",
    },
)
class Repeat(Scoped):
    """The same thing said again and again by one role (broken record; a customer repeating a request).

    Units are clauses of the role's turns — or whole turns (`per_turn`), or only the turns where the
    condition `of` holds (an agent's proposals, a customer's requests). Two units are the same when
    their character-bigram overlap coefficient reaches `similarity` (`weighted`: bigrams of function
    characters count less), or when they share a `keys` group (the same requested action: 查/换/退…)
    or one of the `act_keys` dialogue acts (the same request type). Hits are the repeats (2nd
    occurrence on) of any thing said `min` times or more, optionally only when a `pushback`
    condition occurs between the first occurrence and a repeat, or (`unanswered`) only the repeats
    with another role's turn but no hit of that condition since the occurrence before (the customer
    asks again because nothing came back).
    """

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        self.scope = parse_scope(spec, loc)
        self.of = env.compile(spec["of"], loc + ("of",)) if "of" in spec else None
        self.act_keys = tuple(spec.get("act_keys") or ())
        self.weighted = bool(spec.get("weighted", False))
        self.min = int(spec.get("min", 3))
        self.similarity = float(spec.get("similarity", 0.6))
        self.min_chars = int(spec.get("min_chars", 3))
        self.group_keys = {
            name: env.matcher.register(words_of(words, env.lexicons, loc + ("keys", name)))
            for name, words in (spec.get("keys") or {}).items()
        }
        ignore = words_of(spec.get("ignore", []), env.lexicons, loc + ("ignore",))
        self.ignore_key = env.matcher.register(ignore) if ignore else None
        self.pushback = env.compile(spec["pushback"], loc + ("pushback",)) if "pushback" in spec else None
        self.unanswered = env.compile(spec["unanswered"], loc + ("unanswered",)) if "unanswered" in spec else None
        self.per_turn = bool(spec.get("per_turn", False)) or self.of is not None

    def hits(self, ctx, anchor):
        pushback = self.pushback.hits(ctx, None) if self.pushback else None
        if pushback == []:
            return []  # nothing to repeat against
        units = self._units(ctx, anchor)
        if len(units) < self.min:
            return []
        answers = sorted({h.turn for h in self.unanswered.hits(ctx, None) or []}) if self.unanswered else None
        found: set[Hit] = set()
        for cluster in self._clusters(units):
            if len(cluster) < self.min:
                continue
            first, *repeats = [units[j][0] for j in cluster]
            if pushback is not None:
                repeats = [r for r in repeats if any(first.turn < p.turn < r.turn for p in pushback)]
            if answers is not None:
                occurrences = [first, *repeats]
                repeats = [
                    r
                    for prev, r in zip(occurrences, repeats)
                    if _other_spoke(ctx, prev.turn, r.turn) and not any(prev.turn < a < r.turn for a in answers)
                ]
            if len(repeats) + 1 >= self.min:
                found.update(repeats)
        return sorted(found)

    def _groups_by_turn(self, ctx: Context) -> dict[int, set[str]]:
        """The "#group" tags of each turn: its `keys` words and `act_keys` acts."""
        groups: dict[int, set[str]] = {}
        for name, key in self.group_keys.items():
            for h in ctx.keyword_hits(key):
                groups.setdefault(h.turn, set()).add(f"#{name}")
        for name in self.act_keys:
            if ctx.acts is not None and name in ctx.acts.index:
                for t in range(len(ctx.turns)):
                    if ctx.acts.has(t, name):
                        groups.setdefault(t, set()).add(f"#{name}")
        return groups

    def _units(self, ctx: Context, anchor: Hit | None) -> list[tuple[Hit, set[str]]]:
        """What is compared: each chosen turn (or clause) with its bigrams, plus its "#group" tags per turn."""
        ignored: dict[int, list[int]] = {}
        for h in ctx.keyword_hits(self.ignore_key) if self.ignore_key is not None else []:
            ignored.setdefault(h.turn, []).append(h.start)
        groups_by_turn = self._groups_by_turn(ctx)
        turns = self.scope.turns(ctx, anchor)
        if self.of is not None:
            chosen = {h.turn for h in self.of.hits(ctx, anchor) or []}
            turns = [t for t in turns if t in chosen]
        units = []
        for t in turns:
            turn = ctx.turns[t]
            skip = ignored.get(t, ())
            for start, end in [(0, len(turn.norm))] if self.per_turn else turn.clauses:
                chars = _NON_WORD.sub("", turn.norm[start:end])
                if len(chars) < self.min_chars or any(start <= s < end for s in skip):
                    continue
                grams = set(map(_add, chars, chars[1:]))
                if self.per_turn:
                    grams |= groups_by_turn.get(t, set())
                units.append((Hit(t, start, end), grams))
        return units

    def _clusters(self, units: list[tuple[Hit, set[str]]]) -> list[list[int]]:
        """Single-linkage clusters of the units: each unit joins the first cluster whose last unit
        is in another turn and which holds a unit `_same` as it. Only a cluster sharing a feature
        can hold one; a short list finds those by testing each cluster's features (C-level set
        tests), a long one through an inverted index (feature → clusters)."""
        clusters: list[list[int]] = []
        if len(units) <= SCAN_UNITS:
            features: list[set[str]] = []
            for i, (hit, grams) in enumerate(units):
                target = next(
                    (
                        c
                        for c, members in enumerate(clusters)
                        if not features[c].isdisjoint(grams)
                        and units[members[-1]][0].turn != hit.turn
                        and any(self._same(units[j][1], grams) for j in members)
                    ),
                    None,
                )
                if target is None:
                    clusters.append([i])
                    features.append(set(grams))
                else:
                    clusters[target].append(i)
                    features[target] |= grams
            return clusters
        index: dict[str, set[int]] = {}
        for i, (hit, grams) in enumerate(units):
            candidates: set[int] = set()
            for g in grams:
                candidates.update(index.get(g, ()))
            target = next(
                (
                    c
                    for c in sorted(candidates)
                    if units[clusters[c][-1]][0].turn != hit.turn
                    and any(self._same(units[j][1], grams) for j in clusters[c])
                ),
                None,
            )
            if target is None:
                target = len(clusters)
                clusters.append([])
            clusters[target].append(i)
            for g in grams:
                index.setdefault(g, set()).add(target)
        return clusters

    def _same(self, a: set[str], b: set[str]) -> bool:
        """Same action group, or character-bigram overlap coefficient ≥ similarity."""
        if any(g.startswith("#") for g in a & b):
            return True
        return bool(a) and bool(b) and overlap(a, b, self.weighted) >= self.similarity
