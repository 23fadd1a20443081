"""Rule operators: the building blocks a scorecard's YAML composes.

Every operator answers `hits(ctx, anchor)` with the places it matched — a list of `Hit`s (turn
index and character span) — or `None` when it cannot be judged for this conversation (no turn
times for a timing rule, no audio for an audio rule), which makes the rule `n/a`.
`anchor` is the trigger hit a condition is evaluated against (for "the agent's reply to this
customer turn"); without one, conditions look at the whole conversation.

Keyword lists of a whole scorecard go into one Aho-Corasick automaton that runs once per turn;
each keyword operator then only filters its own hits.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ahocorasick
from rapidfuzz import fuzz

from zuoxi.analyze.emotion import NEGATIVE, CustomerEmotion
from zuoxi.normalize import Prepared, PreparedTurn, normalize_pattern, normalize_text

_CLAUSE_END = re.compile(r"[。！？!?；;…\n,，、:：~～]+")
_NEGATION_BEFORE = re.compile(r"(不是|并不|并非|没有|没|不|无法|未|别|非)(很|太|是|算|会|要|用|那么|怎么|再)?$")
_add = operator.add
_NON_WORD = re.compile(r"[\W_]+")
_QUOTES = re.compile(r"“[^”]*”|\"[^\"]*\"|「[^」]*」|『[^』]*』|‘[^’]*’|'[^']*'")


class RuleError(ValueError):
    """A scorecard condition that cannot be compiled; `loc` is its path in the YAML."""

    def __init__(self, loc: tuple[Any, ...], message: str):
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True, order=True)
class Hit:
    turn: int
    start: int
    end: int


@dataclass
class Context:
    """Per-conversation state shared by every operator of one scorecard run."""

    prepared: Prepared
    matcher: KeywordMatcher
    emotions: dict[int, CustomerEmotion] = field(default_factory=dict)  # customer turn → emotion
    audio: dict[str, Any] | None = None
    _keyword_hits: dict[int, list[Hit]] | None = None
    _quotes: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    _by_role: dict[str | None, list[int]] = field(default_factory=dict)

    @property
    def turns(self) -> list[PreparedTurn]:
        return self.prepared.turns

    def role_indices(self, role: str | None) -> list[int]:
        if role not in self._by_role:
            self._by_role[role] = [t.index for t in self.prepared.turns if role is None or t.role == role]
        return self._by_role[role]

    def keyword_hits(self, key: int) -> list[Hit]:
        if self._keyword_hits is None:
            self._keyword_hits = self.matcher.scan(self.turns)
        return self._keyword_hits.get(key, [])

    def quoted(self, turn: int) -> list[tuple[int, int]]:
        if turn not in self._quotes:
            self._quotes[turn] = [m.span() for m in _QUOTES.finditer(self.turns[turn].norm)]
        return self._quotes[turn]


class KeywordMatcher:
    """All keyword lists of a scorecard in one automaton; `scan` returns hits per list key."""

    def __init__(self) -> None:
        self._automaton = ahocorasick.Automaton()
        self._keys: dict[str, set[int]] = {}
        self._next = 0
        self._built = False

    def register(self, words: list[str]) -> int:
        key = self._next
        self._next += 1
        for word in words:
            word = normalize_text(word)
            if word:
                self._keys.setdefault(word, set()).add(key)
        return key

    def build(self) -> None:
        for word, keys in self._keys.items():
            self._automaton.add_word(word, (len(word), tuple(sorted(keys))))
        if self._keys:
            self._automaton.make_automaton()
        self._built = True

    def scan(self, turns: list[PreparedTurn]) -> dict[int, list[Hit]]:
        found: dict[int, list[Hit]] = {}
        if not self._keys:
            return found
        for turn in turns:
            for end, (length, keys) in self._automaton.iter(turn.norm):
                hit = Hit(turn.index, end - length + 1, end + 1)
                for key in keys:
                    found.setdefault(key, []).append(hit)
        return found


# ---------------------------------------------------------------------------------------------
# Turn scopes: which turns a leaf looks at (role, position, relation to the anchor).

ANCHOR_SCOPES = ("block", "first_reply", "next", "after", "before", "same", "same_and_next", "rest")


@dataclass
class Scope:
    role: str | None = None
    first: int | None = None  # first N turns of the role
    last: int | None = None  # last N turns of the role
    within_seconds: float | None = None  # turns starting within N s of the conversation start
    fallback_first: int | None = None  # with within_seconds, when the turns have no times: first N
    anchor: str | None = None  # relation to the anchor turn, one of ANCHOR_SCOPES
    count: int | None = None  # for anchor "next": how many role turns

    def turns(self, ctx: Context, anchor: Hit | None) -> list[int]:
        turns = ctx.turns
        chosen = ctx.role_indices(self.role)
        if self.first is not None:
            chosen = chosen[: self.first]
        if self.last is not None:
            chosen = chosen[-self.last :] if self.last else []
        if self.within_seconds is not None and self.fallback_first is not None and not ctx.prepared.has_times:
            chosen = chosen[: self.fallback_first]
        elif self.within_seconds is not None:
            chosen = [i for i in chosen if turns[i].start is not None and turns[i].start <= self.within_seconds]
        if anchor is None or self.anchor is None:
            return chosen
        a = anchor.turn
        if self.anchor == "same":
            return [i for i in chosen if i == a]
        if self.anchor == "before":
            return [i for i in chosen if i < a]
        if self.anchor == "rest":
            return [i for i in chosen if i >= a]
        after = [i for i in chosen if i > a]
        if self.anchor == "after":
            return after
        if self.anchor == "first_reply":
            return after[:1]
        if self.anchor == "next":
            return after[: self.count or 1]
        if self.anchor == "same_and_next":
            return [i for i in chosen if i == a] + after[: self.count or 1]
        # "block": the role's turns after the anchor, up to the next turn of the anchor's role
        anchor_role = turns[a].role
        block = []
        for t in turns[a + 1 :]:
            if t.role == anchor_role and t.role != self.role:
                break
            if t.index in chosen:
                block.append(t.index)
        return block

    def closed(self, ctx: Context, anchor: Hit | None) -> bool:
        """Whether turns added after the current last one can no longer enter this scope, so a
        live evaluation may treat what it finds now as final (zuoxi/engines/live.py). Only scopes
        that look a bounded way forward from their anchor can be; anything else — the whole
        conversation, its first or last turns, what came before (older turns may have left live
        assist's window) — answers no."""
        if anchor is None or self.anchor in (None, "before", "after", "rest") or self.last is not None:
            return False
        a = anchor.turn
        if self.anchor == "same":
            return True
        if self.anchor == "block":
            anchor_role = ctx.turns[a].role
            return anchor_role != self.role and any(t.role == anchor_role for t in ctx.turns[a + 1 :])
        needed = 1 if self.anchor == "first_reply" else (self.count or 1)
        return sum(1 for i in ctx.role_indices(self.role) if i > a) >= needed


def parse_scope(spec: dict[str, Any], loc: tuple[Any, ...]) -> Scope:
    scope = Scope(
        role=spec.get("role"), first=spec.get("first"), last=spec.get("last"),
        within_seconds=spec.get("within_seconds"), anchor=spec.get("anchor"), count=spec.get("count"),
        fallback_first=spec.get("fallback_first"),
    )
    if scope.role not in (None, "agent", "customer", "system"):
        raise RuleError(loc + ("role",), f"role must be agent, customer or system, not {scope.role!r}")
    if scope.anchor not in (None, *ANCHOR_SCOPES):
        raise RuleError(loc + ("anchor",), f"anchor must be one of {', '.join(ANCHOR_SCOPES)}")
    return scope


# ---------------------------------------------------------------------------------------------
# Operators


class Condition:
    def hits(self, ctx: Context, anchor: Hit | None) -> list[Hit] | None:
        raise NotImplementedError

    def degree(self, ctx: Context, anchor: Hit | None) -> float | None:
        """How fully the condition holds, 0–1 (only `order` and `script` are partial)."""
        found = self.hits(ctx, anchor)
        return None if found is None else (1.0 if found else 0.0)

    def settled(self, ctx: Context, anchor: Hit | None) -> bool:
        """Whether later turns cannot change `hits(ctx, anchor)`; unknown means no."""
        return False


class _Filtered(Condition):
    """Shared hit filters: scope, negation, quotation, exclusions."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], matcher: KeywordMatcher, lexicons: dict[str, list[str]]):
        self.scope = parse_scope(spec, loc)
        self.negation = spec.get("negation", True)
        self.skip_quoted = spec.get("quoted", "skip") == "skip"
        exclude = _words(spec.get("exclude", []), lexicons, loc + ("exclude",))
        self.exclude_key = matcher.register(exclude) if exclude else None

    def keep(self, ctx: Context, hit: Hit) -> bool:
        turn = ctx.turns[hit.turn]
        if self.negation:
            prefix = _CLAUSE_END.split(turn.norm[max(0, hit.start - 4) : hit.start])[-1]  # within the clause
            if prefix and _NEGATION_BEFORE.search(prefix):
                return False
        if self.skip_quoted and any(s < hit.start and hit.end <= e for s, e in ctx.quoted(hit.turn)):
            return False
        if self.exclude_key is not None:
            for ex in ctx.keyword_hits(self.exclude_key):
                if ex.turn == hit.turn and ex.start < hit.end and hit.start < ex.end:
                    return False
        return True

    def raw(self, ctx: Context) -> list[Hit]:
        raise NotImplementedError

    def settled(self, ctx: Context, anchor: Hit | None) -> bool:
        return self.scope.closed(ctx, anchor)

    def hits(self, ctx: Context, anchor: Hit | None) -> list[Hit] | None:
        raw = self.raw(ctx)
        if not raw:  # most word lists are absent from most conversations
            return []
        allowed = set(self.scope.turns(ctx, anchor))
        return [h for h in raw if h.turn in allowed and self.keep(ctx, h)]


def _words(value: Any, lexicons: dict[str, list[str]], loc: tuple[Any, ...]) -> list[str]:
    """A word list, where `@name` entries pull in a named lexicon."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise RuleError(loc, "expected a list of words")
    words = []
    for item in value:
        item = str(item)
        if item.startswith("@"):
            if item[1:] not in lexicons:
                raise RuleError(loc, f"unknown lexicon {item}")
            words.extend(map(str, lexicons[item[1:]]))
        else:
            words.append(item)
    return words


class Keyword(_Filtered):
    """Any of a word list (`words`, `@lexicon` entries), or `all` of several lists in one turn."""

    def __init__(self, spec, loc, matcher, lexicons):
        super().__init__(spec, loc, matcher, lexicons)
        groups = spec["all"] if "all" in spec else [spec.get("words", [])]
        if not groups or not all(groups):
            raise RuleError(loc, "keyword needs `words` (or `all`: a list of word lists)")
        self.keys = [matcher.register(_words(g, lexicons, loc)) for g in groups]

    def raw(self, ctx: Context) -> list[Hit]:
        if len(self.keys) == 1:
            return ctx.keyword_hits(self.keys[0])
        per_group = [ctx.keyword_hits(k) for k in self.keys]
        both = set.intersection(*({h.turn for h in g} for g in per_group))
        return sorted(h for g in per_group for h in g if h.turn in both)

    def hits(self, ctx, anchor):
        found = super().hits(ctx, anchor)
        if len(self.keys) > 1:  # every group must survive the filters in the turn
            survivors = set(found)
            groups = [{h.turn for h in ctx.keyword_hits(k) if h in survivors} for k in self.keys]
            turns = set.intersection(*groups) if groups else set()
            found = [h for h in found if h.turn in turns]
        return found


class Regex(_Filtered):
    def __init__(self, spec, loc, matcher, lexicons):
        super().__init__(spec, loc, matcher, lexicons)
        try:
            self.pattern = re.compile(normalize_pattern(spec["pattern"]), re.IGNORECASE)
        except (KeyError, re.error) as error:
            raise RuleError(loc + ("pattern",), f"bad regular expression: {error}") from error

    def raw(self, ctx: Context) -> list[Hit]:
        return [Hit(t.index, m.start(), m.end()) for t in ctx.turns for m in self.pattern.finditer(t.norm) if m.end() > m.start()]

    def hits(self, ctx, anchor):
        allowed = set(self.scope.turns(ctx, anchor))
        return [
            Hit(t, m.start(), m.end())
            for t in allowed
            for m in self.pattern.finditer(ctx.turns[t].norm)
            if m.end() > m.start() and self.keep(ctx, Hit(t, m.start(), m.end()))
        ]


class Synonyms:
    """Maps variant words to one head word before similarity, so 拒签 and 拒收 compare equal."""

    def __init__(self, groups: dict[str, list[str]]):
        self.table = {normalize_text(v): normalize_text(head) for head, variants in groups.items() for v in variants}
        alternatives = sorted(self.table, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def canon(self, text: str) -> str:
        text = re.sub(r"[\s,，。！？!?、~～.…:：;；\"'“”]+", "", text)
        return self.pattern.sub(lambda m: self.table[m.group()], text) if self.pattern else text


class Similar(_Filtered):
    """Clauses similar to one of the example sentences (char-level partial ratio after synonyms)."""

    def __init__(self, spec, loc, matcher, lexicons, synonyms: Synonyms):
        super().__init__(spec, loc, matcher, lexicons)
        self.synonyms = synonyms
        self.examples = [synonyms.canon(normalize_text(e)) for e in spec.get("examples", [])]
        if not self.examples:
            raise RuleError(loc + ("examples",), "similar needs a list of example sentences")
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


class Repeat(Condition):
    """The same thing said again and again by one role (broken record; a customer repeating a request).

    Units are clauses of the role's turns; two units are the same when their character-bigram
    overlap coefficient reaches `similarity`, or when they share a `keys` group (the same requested
    action: 查/换/退…). Hits are the repeats (2nd occurrence on) of any thing said `min` times or more,
    optionally only when a `pushback` condition occurs between the first occurrence and a repeat.
    """

    def __init__(self, spec, loc, matcher, lexicons, compile_: Callable[[Any, tuple[Any, ...]], Condition]):
        self.scope = parse_scope(spec, loc)
        self.min = int(spec.get("min", 3))
        self.similarity = float(spec.get("similarity", 0.6))
        self.min_chars = int(spec.get("min_chars", 3))
        self.group_keys = {name: matcher.register(_words(words, lexicons, loc + ("keys", name)))
                           for name, words in (spec.get("keys") or {}).items()}
        ignore = _words(spec.get("ignore", []), lexicons, loc + ("ignore",))
        self.ignore_key = matcher.register(ignore) if ignore else None
        self.pushback = compile_(spec["pushback"], loc + ("pushback",)) if "pushback" in spec else None
        self.per_turn = bool(spec.get("per_turn", False))

    def hits(self, ctx, anchor):
        pushback = self.pushback.hits(ctx, None) if self.pushback else None
        if pushback == []:
            return []  # nothing to repeat against
        ignored: dict[int, list[int]] = {}
        for h in ctx.keyword_hits(self.ignore_key) if self.ignore_key is not None else []:
            ignored.setdefault(h.turn, []).append(h.start)
        groups_by_turn: dict[int, set[str]] = {}
        for name, key in self.group_keys.items():
            for h in ctx.keyword_hits(key):
                groups_by_turn.setdefault(h.turn, set()).add(f"#{name}")
        units = []  # (hit, features: bigrams plus "#group" tags)
        for t in self.scope.turns(ctx, anchor):
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
        if len(units) < self.min:
            return []
        found: set[Hit] = set()
        for cluster in self._clusters(units):
            if len(cluster) < self.min:
                continue
            first, *repeats = [units[j][0] for j in cluster]
            if pushback is not None:
                repeats = [r for r in repeats if any(first.turn < p.turn < r.turn for p in pushback)]
            if len(repeats) + 1 >= self.min:
                found.update(repeats)
        return sorted(found)

    def _clusters(self, units: list[tuple[Hit, set[str]]]) -> list[list[int]]:
        """Single-linkage clusters of the units: each unit joins the first cluster whose last unit
        is in another turn and which holds a unit `_same` as it. Only a cluster sharing a feature
        can hold one; a short list finds those by testing each cluster's features (C-level set
        tests), a long one through an inverted index (feature → clusters)."""
        clusters: list[list[int]] = []
        if len(units) <= SCAN_UNITS:
            features: list[set[str]] = []
            for i, (hit, grams) in enumerate(units):
                target = next((c for c, members in enumerate(clusters)
                               if not features[c].isdisjoint(grams) and units[members[-1]][0].turn != hit.turn
                               and any(self._same(units[j][1], grams) for j in members)), None)
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
            target = next((c for c in sorted(candidates) if units[clusters[c][-1]][0].turn != hit.turn
                           and any(self._same(units[j][1], grams) for j in clusters[c])), None)
            if target is None:
                target = len(clusters)
                clusters.append([])
            clusters[target].append(i)
            for g in grams:
                index.setdefault(g, set()).add(target)
        return clusters

    def _same(self, a: set[str], b: set[str]) -> bool:
        """Same action group, or character-bigram overlap coefficient ≥ similarity."""
        shared = a & b
        if any(g.startswith("#") for g in shared):
            return True
        small = min(len(a), len(b))
        return small > 0 and len(shared) / small >= self.similarity


class Count(Condition):
    """`of` occurs at least `min` times (distinct hits), or at a `per_100_chars` rate of the role's text."""

    def __init__(self, spec, loc, compile_):
        if "of" not in spec:
            raise RuleError(loc, "count needs `of`")
        self.of = compile_(spec["of"], loc + ("of",))
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


class Order(Condition):
    """Steps in order (A before B before C); `degree` is the share of steps in the best ordered chain."""

    def __init__(self, spec, loc, compile_):
        steps = spec.get("steps")
        if not isinstance(steps, list) or len(steps) < 2:
            raise RuleError(loc + ("steps",), "order needs a list of at least two steps")
        self.steps = [compile_(s, loc + ("steps", i)) for i, s in enumerate(steps)]
        self.min_steps = int(spec.get("min_steps", len(self.steps)))

    def chain(self, ctx: Context, anchor: Hit | None) -> list[Hit] | None:
        per_step = [s.hits(ctx, anchor) for s in self.steps]
        if all(p is None for p in per_step):
            return None
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


class Script(Condition):
    """Campaign script questions, each a word list; `meta.script_questions` overrides the defaults."""

    def __init__(self, spec, loc, matcher, lexicons):
        self.scope = parse_scope({"role": "agent", **spec}, loc)
        questions = spec.get("questions") or {}
        if not questions:
            raise RuleError(loc + ("questions",), "script needs `questions`: name → word list")
        self.keys = {name: matcher.register(_words(words, lexicons, loc + ("questions", name))) for name, words in questions.items()}
        topic = _words(spec.get("topic", []), lexicons, loc + ("topic",))
        self.topic_key = matcher.register(topic) if topic else None

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
                hit = next((Hit(t, m, m + len(w)) for t in sorted(allowed) for w in map(normalize_text, words)
                            if (m := ctx.turns[t].norm.find(w)) >= 0), None)
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


_OPS: dict[str, Callable[[float, Any], bool]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    "outside": lambda a, b: not (b[0] <= a <= b[1]), "inside": lambda a, b: b[0] <= a <= b[1],
}
TIMING_METRICS = ("first_response", "response_latency", "silence", "hangup_gap", "overlap", "speech_rate")


class Timing(Condition):
    """Times from the transcript: latency, first response, silence, hang-up gap, overlap, speech rate.

    `None` (n/a) when the conversation has no times for what the metric needs.
    """

    def __init__(self, spec, loc):
        self.metric = spec.get("metric")
        if self.metric not in TIMING_METRICS:
            raise RuleError(loc + ("metric",), f"metric must be one of {', '.join(TIMING_METRICS)}")
        self.op = spec.get("op", ">")
        if self.op not in _OPS:
            raise RuleError(loc + ("op",), f"op must be one of {', '.join(_OPS)}")
        self.value = spec.get("value")
        if self.value is None:
            raise RuleError(loc + ("value",), "timing needs a value")
        self.channel = spec.get("channel")

    def measure(self, ctx: Context) -> list[tuple[int, float]] | None:
        """(turn, value) pairs for the metric; None when it cannot be measured."""
        conv, turns = ctx.prepared.conversation, ctx.turns
        if self.channel and conv.channel != self.channel:
            return None
        audio = (ctx.audio or {}).get(self.metric)
        if audio is not None:
            return audio
        agent = [t for t in turns if t.role == "agent"]
        customer = [t for t in turns if t.role == "customer"]
        timed = [t for t in turns if t.start is not None]
        if self.metric == "first_response":
            if not customer or customer[0].start is None:
                return None
            reply = next((t for t in agent if t.index > customer[0].index), None)
            if reply is None or reply.start is None:
                return None
            return [(reply.index, reply.start - customer[0].start)]
        if self.metric in ("response_latency", "silence"):
            pairs = []
            for prev, cur in zip(turns, turns[1:]):
                if cur.start is None or (prev.end if prev.end is not None else prev.start) is None:
                    continue
                if self.metric == "response_latency" and not (prev.role == "customer" and cur.role == "agent"):
                    continue
                pairs.append((cur.index, cur.start - (prev.end if prev.end is not None else prev.start)))
            return pairs or None
        if self.metric == "hangup_gap":
            last = agent[-1] if agent else None
            end_of_call = conv.duration
            if last is None or last.end is None or end_of_call is None:
                return None
            return [(last.index, end_of_call - last.end)]
        if self.metric == "overlap":
            if len(timed) < len(turns) or any(t.end is None for t in turns):
                return None
            values = []
            for t in agent:
                talking = [c for c in customer if c.start < t.start < c.end]
                values.append((t.index, max((c.end - t.start for c in talking), default=0.0)))
            return values or None
        # speech_rate: characters per minute over the agent's timed turns
        spoken = [t for t in agent if t.start is not None and t.end is not None and t.end > t.start]
        if not spoken:
            return None
        chars = sum(len(re.sub(r"[\W_]+", "", t.norm)) for t in spoken)
        minutes = sum(t.end - t.start for t in spoken) / 60
        overall = chars / minutes
        per_turn = sorted(((t.index, len(re.sub(r"[\W_]+", "", t.norm)) / ((t.end - t.start) / 60)) for t in spoken),
                          key=lambda p: abs(p[1] - overall), reverse=True)
        return [(per_turn[0][0], overall)]

    def hits(self, ctx, anchor):
        values = self.measure(ctx)
        if values is None:
            return None
        test = _OPS[self.op]
        return [Hit(t, 0, len(ctx.turns[t].text)) for t, v in values if test(v, self.value)]


class Emotion(Condition):
    """Customer turns whose emotion is one of `labels` (with at least `min_score` negativity),
    or with `trend: worsening`, the last customer turn when it ends negative and worse than the first."""

    def __init__(self, spec, loc):
        self.labels = set(spec.get("labels", []))
        self.trend = spec.get("trend")
        self.min_score = float(spec.get("min_score", 0.0))
        self.scope = parse_scope({"role": "customer", **{k: v for k, v in spec.items() if k in ("first", "last", "anchor", "count")}}, loc)
        if not self.labels and self.trend != "worsening":
            raise RuleError(loc, "emotion needs `labels` or `trend: worsening`")

    def settled(self, ctx, anchor):
        return self.trend is None and self.scope.closed(ctx, anchor)

    def hits(self, ctx, anchor):
        customer = [t for t in ctx.turns if t.role == "customer"]
        if self.trend == "worsening":
            if len(customer) < 2:
                return None
            first = ctx.emotions.get(customer[0].index)
            last = ctx.emotions.get(customer[-1].index)
            if last and last.label in NEGATIVE and last.score > (first.score if first else 0.0):
                return [_emotion_hit(customer[-1], last)]
            return []
        allowed = set(self.scope.turns(ctx, anchor))
        return [
            _emotion_hit(t, e) for t in customer
            if t.index in allowed and (e := ctx.emotions.get(t.index)) and e.label in self.labels and e.score >= self.min_score
        ]


def _emotion_hit(turn: PreparedTurn, emotion: CustomerEmotion) -> Hit:
    """The deciding word when a cue decided, else the whole turn (the model read all of it)."""
    return Hit(turn.index, *emotion.cue) if emotion.cue else Hit(turn.index, 0, len(turn.text))


class Audio(Condition):
    """A feature from the audio stage (`feature`, `op`, `value`); n/a without a recording."""

    def __init__(self, spec, loc):
        self.feature = spec.get("feature")
        self.op = spec.get("op", ">")
        self.value = spec.get("value")
        if not self.feature or self.op not in _OPS or self.value is None:
            raise RuleError(loc, "audio needs `feature`, `op` and `value`")

    def hits(self, ctx, anchor):
        values = (ctx.audio or {}).get(self.feature)
        if values is None:
            return None
        return [Hit(t, 0, len(ctx.turns[t].text)) for t, v in values if _OPS[self.op](v, self.value)]


class All(Condition):
    def __init__(self, children: list[Condition]):
        self.children = children

    def settled(self, ctx, anchor):
        return all(c.settled(ctx, anchor) for c in self.children)

    def hits(self, ctx, anchor):
        found: list[Hit] = []
        for child in self.children:
            part = child.hits(ctx, anchor)
            if part is None:
                return None
            if not part:
                return []
            found.extend(part)
        return sorted(set(found))


class Any_(Condition):
    def __init__(self, children: list[Condition]):
        self.children = children

    def settled(self, ctx, anchor):
        return all(c.settled(ctx, anchor) for c in self.children)

    def hits(self, ctx, anchor):
        parts = [c.hits(ctx, anchor) for c in self.children]
        if all(p is None for p in parts):
            return None
        return sorted({h for p in parts if p for h in p})


class Not(Condition):
    """Holds where the child finds nothing; its hit marks the anchor turn (or the first turn)."""

    def __init__(self, child: Condition):
        self.child = child

    def settled(self, ctx, anchor):
        return self.child.settled(ctx, anchor)

    def hits(self, ctx, anchor):
        found = self.child.hits(ctx, anchor)
        if found is None:
            return None
        if found:
            return []
        turn = anchor.turn if anchor else 0
        return [Hit(turn, 0, len(ctx.turns[turn].text))]


class Related(Condition):
    """Hits of `base` after the first hit of another condition, or before it (all of them when it never
    occurs), optionally within N turns of it; and/or only the `nth` hit."""

    def __init__(self, base: Condition, spec: dict[str, Any], loc, compile_):
        self.base = base
        self.after = compile_(spec["after"], loc + ("after",)) if "after" in spec else None
        self.before = compile_(spec["before"], loc + ("before",)) if "before" in spec else None
        self.within = spec.get("within")
        self.nth = spec.get("nth")

    def settled(self, ctx, anchor):
        return all(c.settled(ctx, anchor) for c in (self.base, self.after, self.before) if c is not None)

    def hits(self, ctx, anchor):
        found = self.base.hits(ctx, anchor)
        if found is None:
            return None
        if self.after is not None:  # after the first mark (within N turns); nothing when it never occurs
            marks = sorted(self.after.hits(ctx, anchor) or [])
            found = [h for h in found if marks and (h.turn, h.start) > (marks[0].turn, marks[0].start)
                     and (self.within is None or h.turn - marks[0].turn <= self.within)]
        if self.before is not None:  # before the first mark; everything when it never occurs
            marks = sorted(self.before.hits(ctx, anchor) or [])
            found = [h for h in found if not marks or ((h.turn, h.start) < (marks[0].turn, marks[0].start)
                     and (self.within is None or marks[0].turn - h.turn <= self.within))]
        if self.nth is not None:
            found = found[self.nth - 1 : self.nth] if self.nth > 0 else []
        return found


# ---------------------------------------------------------------------------------------------

LEAVES = ("keyword", "regex", "similar", "repeat", "count", "order", "script", "timing", "emotion", "audio")
_SCOPE = {"role", "first", "last", "within_seconds", "fallback_first", "anchor", "count"}
_FILTERS = _SCOPE | {"negation", "quoted", "exclude"}
OPTIONS = {
    "keyword": _FILTERS | {"words", "all"}, "regex": _FILTERS | {"pattern"}, "similar": _FILTERS | {"examples", "threshold"},
    "repeat": _SCOPE | {"min", "similarity", "min_chars", "keys", "ignore", "pushback", "per_turn"},
    "count": {"of", "min", "per_100_chars", "role", "min_chars"}, "order": {"steps", "min_steps"},
    "script": _SCOPE | {"questions", "topic"}, "timing": {"metric", "op", "value", "channel"},
    "emotion": {"labels", "trend", "min_score", "first", "last", "anchor", "count"}, "audio": {"feature", "op", "value"},
}
LOGIC = ("all", "any", "not")
RELATIONS = ("after", "before", "within", "nth")


class Compiler:
    """Turns a YAML condition into operators, registering keyword lists with one matcher."""

    def __init__(self, lexicons: dict[str, list[str]], synonyms: dict[str, list[str]]):
        self.matcher = KeywordMatcher()
        self.lexicons = lexicons
        self.synonyms = Synonyms(synonyms)

    def compile(self, spec: Any, loc: tuple[Any, ...]) -> Condition:
        if not isinstance(spec, dict) or not spec:
            raise RuleError(loc, f"a condition is a mapping with one of {', '.join(LEAVES + LOGIC)}")
        kinds = [k for k in spec if k in LEAVES + LOGIC]
        if len(kinds) != 1:
            raise RuleError(loc, f"a condition needs exactly one of {', '.join(LEAVES + LOGIC)} (found {', '.join(spec) or 'nothing'})")
        kind = kinds[0]
        unknown = [k for k in spec if k != kind and k not in RELATIONS]
        if unknown:
            raise RuleError(loc + (unknown[0],), f"unknown key {unknown[0]!r} beside {kind!r}")
        body, here = spec[kind], loc + (kind,)
        if kind in LOGIC:
            if kind == "not":
                condition: Condition = Not(self.compile(body, here))
            else:
                if not isinstance(body, list) or not body:
                    raise RuleError(here, f"{kind} needs a list of conditions")
                children = [self.compile(c, here + (i,)) for i, c in enumerate(body)]
                condition = All(children) if kind == "all" else Any_(children)
        else:
            if not isinstance(body, dict):
                raise RuleError(here, f"{kind} takes a mapping of options")
            condition = self._leaf(kind, body, here)
        if any(k in spec for k in RELATIONS):
            condition = Related(condition, spec, loc, self.compile)
        return condition

    def _leaf(self, kind: str, body: dict[str, Any], loc: tuple[Any, ...]) -> Condition:
        unknown = sorted(set(body) - OPTIONS[kind])
        if unknown:
            hint = " (after/before/within/nth go beside the operator, not inside it)" if set(unknown) & set(RELATIONS) else ""
            raise RuleError(loc + (unknown[0],), f"unknown {kind} option {unknown[0]!r}{hint}; allowed: {', '.join(sorted(OPTIONS[kind]))}")
        try:
            if kind == "keyword":
                return Keyword(body, loc, self.matcher, self.lexicons)
            if kind == "regex":
                return Regex(body, loc, self.matcher, self.lexicons)
            if kind == "similar":
                return Similar(body, loc, self.matcher, self.lexicons, self.synonyms)
            if kind == "repeat":
                return Repeat(body, loc, self.matcher, self.lexicons, self.compile)
            if kind == "count":
                return Count(body, loc, self.compile)
            if kind == "order":
                return Order(body, loc, self.compile)
            if kind == "script":
                return Script(body, loc, self.matcher, self.lexicons)
            if kind == "timing":
                return Timing(body, loc)
            if kind == "emotion":
                return Emotion(body, loc)
            return Audio(body, loc)
        except (TypeError, ValueError) as error:
            if isinstance(error, RuleError):
                raise
            raise RuleError(loc, f"bad {kind} options: {error}") from error
