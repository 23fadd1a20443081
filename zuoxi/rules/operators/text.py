"""Operators over the words of turns: keyword lists, regular expressions, similar sentences, and the
same thing said again and again."""

from __future__ import annotations

import operator as op
import re
from typing import Any

import re2
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

MAX_PATTERN_CHARS = 1_000  # the built-in scorecards' longest is about 200
_ASCII_CLASS = re.compile(r"(?<!\\)(?:\\\\)*\\([wWbB])")  # \w \W \b \B, not escaped themselves


def _regex_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the error is raised (and shown with the rule), not logged to stderr as well
    options.max_mem = 8 << 20  # RE2's own default, said here: a pattern whose automaton needs more is refused
    return options


def compile_regex(pattern: str) -> Any:
    """A scorecard's pattern compiled by RE2, which matches in time linear in the text whatever the pattern:
    scorecards are hostile input (a QA team's file, a form in the web app), and Python's backtracking `re`
    takes exponential time on (a+)+$ or (a|aa)+$ and polynomial time on .*a.*a$ over a 20,000-character turn.
    RE2 has no look-around or back-references (refused as syntax errors). Its \\w and \\b know only ASCII
    letters and digits — on Chinese text \\w+ would silently match nothing — so they are refused too.
    Raises ValueError with the reason in Chinese."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"正则表达式太长（{len(pattern)} 字，最多 {MAX_PATTERN_CHARS} 字）")
    if found := _ASCII_CLASS.search(pattern):
        raise ValueError(
            f"不支持 \\{found.group(1)}：它只认英文字母和数字，匹配不到中文；"
            "请写出字符范围，如 [^，。！？]、[0-9a-z]、\\p{Han}"
        )
    try:
        return re2.compile(normalize_pattern(pattern), _regex_options())
    except re2.error as error:
        reason = error.args[0].decode("utf-8", "replace") if error.args and isinstance(error.args[0], bytes) else error
        raise ValueError(f"正则表达式有误（RE2 语法，不支持环视和反向引用）：{reason}") from error


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


@operator("regex", FILTER_OPTIONS | {"pattern"})
class Regex(Filtered):
    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        super().__init__(spec, loc, env)
        pattern = spec.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise RuleError(loc + ("pattern",), "regex 需要 `pattern`：一个正则表达式")
        try:
            self.pattern = compile_regex(pattern)
        except ValueError as error:
            raise RuleError(loc + ("pattern",), str(error)) from error

    def raw(self, ctx: Context) -> list[Hit]:
        return [h for t in ctx.turns for h in ctx.pattern_hits(self.pattern, t.index)]

    def hits(self, ctx, anchor):
        return [
            h
            for t in sorted(set(self.scope.turns(ctx, anchor)))
            for h in ctx.pattern_hits(self.pattern, t)
            if self.keep(ctx, h)
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
