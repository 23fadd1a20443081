"""What every operator shares: hits, the per-conversation context, turn scopes, hit filters, and the
registry through which an operator names its YAML key and options.

Every operator answers `hits(ctx, anchor)` with the places it matched — a list of `Hit`s (turn
index and character span) — or `None` when it cannot be judged for this conversation (no turn
times for a timing rule, no audio for an audio rule), which makes the rule `n/a`.
`anchor` is the trigger hit a condition is evaluated against (for "the agent's reply to this
customer turn"); without one, conditions look at the whole conversation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import ahocorasick

from zuoxi.analyze.emotion import CustomerEmotion
from zuoxi.normalize import Prepared, PreparedTurn, content_length, normalize_text

CLAUSE_END = re.compile(r"[。！？!?；;…\n,，、:：~～]+")
# A negation just before a word (within its clause): "不是不能退", "无法联网", or one that spares the customer
# the action ("不需要您再去找商家", "不用您自己联系" — no deflection; "不会让您提供密码" — no request for it).
_NEGATION_BEFORE = re.compile(
    r"(?:(不是|并不|并非|没有|没|不|无法|未|别|非)(很|太|是|算|会|要|用|那么|怎么|再)?"
    r"|(不需要|不用|无需|不必|不会让|不会要求|不会向|不会叫|不让)(您|你)(再|自己)?)$"
)
CLAUSE_LOOKBACK = 80  # characters: a supposition word further back in one unbroken clause is not looked for
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
    acts: Any = None  # the turn models' dialogue acts (zuoxi.analyze.models.acts.TurnActs), None without models
    act_marks: dict[Hit, tuple[str, ...]] = field(default_factory=dict)  # whole-turn act hits → their acts
    _keyword_hits: dict[int, list[Hit]] | None = None
    _quotes: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    _by_role: dict[str | None, list[int]] = field(default_factory=dict)
    _pattern_hits: dict[tuple[int, int], list[Hit]] = field(default_factory=dict)

    @property
    def turns(self) -> list[PreparedTurn]:
        return self.prepared.turns

    def role_indices(self, role: str | None) -> list[int]:
        if role not in self._by_role:
            self._by_role[role] = [t.index for t in self.prepared.turns if role is None or t.role == role]
        return self._by_role[role]

    def pattern_hits(self, pattern: Any, turn: int) -> list[Hit]:
        """Where a compiled pattern matches a turn: found once per conversation, however many conditions and
        anchors ask (a rule's `expect` is judged once per trigger)."""
        key = (id(pattern), turn)
        if key not in self._pattern_hits:
            self._pattern_hits[key] = [
                Hit(turn, m.start(), m.end()) for m in pattern.finditer(self.turns[turn].norm) if m.end() > m.start()
            ]
        return self._pattern_hits[key]

    def keyword_hits(self, key: int) -> list[Hit]:
        if self._keyword_hits is None:
            self._keyword_hits = self.matcher.scan(self.turns)
        return self._keyword_hits.get(key, [])

    def marked(self, hit: Hit) -> tuple[Hit, tuple[str, ...] | None]:
        """A hit with the acts the models read in it so far (a later condition may mark the same span
        with other acts): what `refined` narrows."""
        return hit, self.act_marks.get(hit)

    def refined(self, hits: Collection[tuple[Hit, tuple[str, ...] | None]]) -> dict[tuple[Hit, Any], Hit]:
        """The evidence to show for (hit, acts) pairs (`marked`) where it differs from the hit: a whole turn
        the act models read as an act narrows to the clause that reads most like it (computed only for
        what failed findings show, all of a conversation's at once)."""
        if self.acts is None:
            return {}
        asks = [(h, acts) for h, acts in hits if acts is not None]
        worded = {h.turn: self._worded_clauses(h.turn) for h, _ in asks}
        spans = self.acts.best_clauses([(h.turn, acts, self.turns[h.turn].text, worded[h.turn]) for h, acts in asks])
        out = {ask: Hit(ask[0].turn, *span) for ask, span in zip(asks, spans) if span}
        for ask in asks:  # a turn with one clause of words beside emoji or @mentions shows that clause
            if ask not in out and len(worded[ask[0].turn]) == 1 < len(self.turns[ask[0].turn].clauses):
                out[ask] = Hit(ask[0].turn, *worded[ask[0].turn][0])
        return out

    def _worded_clauses(self, turn: int) -> list[tuple[int, int]]:
        """The turn's clauses that hold words: a clause of @mentions or emoji alone ("@中国电信 @客服") is never
        the evidence of what a turn says."""
        norm = self.turns[turn].norm
        return [(s, e) for s, e in self.turns[turn].clauses if content_length(norm[s:e])]

    def without_trailing(self, turns: list[int], acts: Collection[str], keep: Collection[int] = ()) -> list[int]:
        """`turns` less the trailing ones that perform nothing but `acts` (or no act at all): the last
        word on the matter, the closings after it set aside — but not a turn in `keep` (one whose own words
        are on the matter, "您好,请您继续留意的哦,谢谢!"). Unchanged without the act models."""
        if self.acts is None:
            return turns
        end, skip = len(turns), set(acts)
        while end and turns[end - 1] not in keep and set(self.acts.names_of(turns[end - 1])) <= skip:
            end -= 1
        return turns[:end]

    def quoted(self, turn: int) -> list[tuple[int, int]]:
        if turn not in self._quotes:
            self._quotes[turn] = [m.span() for m in _QUOTES.finditer(self.turns[turn].norm)]
        return self._quotes[turn]


class KeywordMatcher:
    """All keyword lists of a scorecard in one automaton (one scan per turn); `scan` returns hits per
    list key, and each keyword operator only filters its own."""

    def __init__(self) -> None:
        self._automaton = ahocorasick.Automaton()
        self._keys: dict[str, set[int]] = {}
        self._next = 0
        self._built = False

    def register(self, words: list[str]) -> int:
        key = self._next
        self._next += 1
        for word in map(normalize_text, words):
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

ANCHOR_SCOPES = ("block", "first_reply", "next", "after", "before", "same", "same_and_next", "around", "rest")
SCOPE_OPTIONS = frozenset({"role", "first", "last", "final", "within_seconds", "fallback_first", "anchor", "count"})
FILTER_OPTIONS = SCOPE_OPTIONS | {"negation", "quoted", "exclude", "conditional"}
# A clause opened by one of these is a supposition ("如果无法联网，可以先重启"), not what is happening.
_CONDITIONAL = re.compile(r"(如果|假如|假设|万一|要是|若是|倘若|如若|一旦)")


@dataclass
class Scope:
    role: str | None = None
    first: int | None = None  # first N turns of the role
    last: int | None = None  # last N turns of the role
    final: bool = False  # only the role's turns after the other side's last turn (the closing exchange)
    within_seconds: float | None = None  # turns starting within N s of the conversation start
    fallback_first: int | None = None  # with within_seconds, when the turns have no times: first N
    anchor: str | None = None  # relation to the anchor turn, one of ANCHOR_SCOPES
    count: int | None = None  # for anchors "next", "around" and "before": how many of the role's turns

    def turns(self, ctx: Context, anchor: Hit | None) -> list[int]:
        turns = ctx.turns
        chosen = ctx.role_indices(self.role)
        if self.first is not None:
            chosen = chosen[: self.first]
        if self.last is not None:
            chosen = chosen[-self.last :] if self.last else []
        if self.final:
            others = [t.index for t in turns if t.role != self.role and t.role != "system"]
            chosen = [i for i in chosen if not others or i > others[-1]]
        if self.within_seconds is not None and self.fallback_first is not None and not ctx.prepared.has_times:
            chosen = chosen[: self.fallback_first]
        elif self.within_seconds is not None:
            limit = self.within_seconds
            chosen = [i for i in chosen if (start := turns[i].start) is not None and start <= limit]
        if anchor is None or self.anchor is None:
            return chosen
        return self._around_anchor(ctx, chosen, anchor.turn)

    def _around_anchor(self, ctx: Context, chosen: list[int], a: int) -> list[int]:
        """The chosen turns in the scope's relation to the anchor turn `a`."""
        if self.anchor == "same":
            return [i for i in chosen if i == a]
        if self.anchor == "before":  # with `count`, only the role's nearest `count` turns before it
            prior = [i for i in chosen if i < a]
            return prior[-self.count :] if self.count else prior
        if self.anchor == "rest":
            return [i for i in chosen if i >= a]
        if self.anchor in ("after", "first_reply", "next", "same_and_next", "around"):
            return self._following(chosen, a)
        return self._block(ctx, chosen, a)

    def _following(self, chosen: list[int], a: int) -> list[int]:
        """The anchors that count the role's turns after `a` (its replies to it), some with the anchor's
        own turn or the role's turn before it too."""
        after = [i for i in chosen if i > a]
        if self.anchor == "after":
            return after
        if self.anchor == "first_reply":
            return after[:1]
        if self.anchor == "next":
            return after[: self.count or 1]
        if self.anchor == "same_and_next":
            return [i for i in chosen if i == a] + after[: self.count or 1]
        # "around": the role's turn before the anchor, the anchor's, and the next `count`
        return [i for i in chosen if i < a][-1:] + [i for i in chosen if i == a] + after[: self.count or 1]

    def _block(self, ctx: Context, chosen: list[int], a: int) -> list[int]:
        """The "block" anchor: the role's turns after the anchor, up to the next turn of the anchor's role
        (the whole answer to it, however many turns it takes)."""
        turns = ctx.turns
        anchor_role = turns[a].role
        block = []
        for t in turns[a + 1 :]:
            if t.role == anchor_role and t.role != self.role:
                break
            if t.index in chosen:
                block.append(t.index)
        return block

    def awaiting(self, ctx: Context, anchor: Hit | None) -> bool:
        """Whether the scope looks for the role's answer to the anchor turn and no turn of the role has
        come after it: an expectation there cannot be judged (a thread that ends on the customer's
        angry turn gave the agent no chance to soothe)."""
        if anchor is None or self.anchor not in ("block", "first_reply", "next", "after", "around", "same_and_next"):
            return False
        if self.anchor in ("around", "same_and_next") and ctx.turns[anchor.turn].role == self.role:
            return False  # the anchor is the role's own turn: it is judged on what it says
        return not any(i > anchor.turn for i in ctx.role_indices(self.role))

    def closed(self, ctx: Context, anchor: Hit | None) -> bool:
        """Whether turns added after the current last one can no longer enter this scope, so a
        live evaluation may treat what it finds now as final (zuoxi/engines/live.py). Only scopes
        that look a bounded way forward from their anchor can be; anything else — the whole
        conversation, its first or last turns, what came before (older turns may have left live
        assist's window) — answers no."""
        if anchor is None or self.anchor in (None, "before", "after", "rest") or self.last is not None or self.final:
            return False
        a = anchor.turn
        if self.anchor == "same":
            return True
        if self.anchor == "block":
            anchor_role = ctx.turns[a].role
            return anchor_role != self.role and any(t.role == anchor_role for t in ctx.turns[a + 1 :])
        needed = 1 if self.anchor == "first_reply" else (self.count or 1)  # "around" looks back too, at what is past
        return sum(1 for i in ctx.role_indices(self.role) if i > a) >= needed


def parse_scope(spec: dict[str, Any], loc: tuple[Any, ...]) -> Scope:
    scope = Scope(
        role=spec.get("role"),
        first=spec.get("first"),
        last=spec.get("last"),
        final=bool(spec.get("final", False)),
        within_seconds=spec.get("within_seconds"),
        anchor=spec.get("anchor"),
        count=spec.get("count"),
        fallback_first=spec.get("fallback_first"),
    )
    if scope.role not in (None, "agent", "customer", "system"):
        raise RuleError(loc + ("role",), f"role 只能是 agent、customer 或 system，不能是 {scope.role!r}")
    if scope.anchor not in (None, *ANCHOR_SCOPES):
        raise RuleError(loc + ("anchor",), f"anchor 只能是 {'、'.join(ANCHOR_SCOPES)} 之一")
    return scope


# ---------------------------------------------------------------------------------------------
# Conditions and the registry


class Condition:
    def hits(self, ctx: Context, anchor: Hit | None) -> list[Hit] | None:
        raise NotImplementedError

    def looked_at(self, ctx: Context, anchor: Hit | None) -> list[int]:
        """The turns the condition looked for its hits in: where an unmet expectation was missing
        (the agent's reply that lacked an apology), shown beside the trigger. None named: []."""
        return []

    def degree(self, ctx: Context, anchor: Hit | None) -> float | None:
        """How fully the condition holds, 0–1 (only `order` and `script` are partial)."""
        found = self.hits(ctx, anchor)
        return None if found is None else (1.0 if found else 0.0)

    def settled(self, ctx: Context, anchor: Hit | None) -> bool:
        """Whether later turns cannot change `hits(ctx, anchor)`; unknown means no."""
        return False


class Scoped(Condition):
    """A condition that looks in the turns of one scope (role, first/last, anchor)."""

    scope: Scope

    def looked_at(self, ctx: Context, anchor: Hit | None) -> list[int]:
        return self.scope.turns(ctx, anchor)


@dataclass
class Env:
    """What operators may use while they compile: the scorecard's keyword matcher, its lexicons and
    synonyms, and `compile` for the sub-conditions they hold."""

    matcher: KeywordMatcher
    lexicons: dict[str, list[str]]
    synonyms: Any
    compile: Callable[[Any, tuple[Any, ...]], Condition]


@dataclass(frozen=True)
class OperatorSpec:
    name: str
    cls: type
    options: frozenset[str]


OPERATORS: dict[str, OperatorSpec] = {}


def operator(name: str, options: set[str] | frozenset[str]):
    """Class decorator: the operator answers to `name:` in a scorecard's YAML and takes `options`.
    Its constructor is `(spec, loc, env)`: the option mapping, its place in the YAML, an `Env`."""

    def register(cls: type) -> type:
        if name in OPERATORS:
            raise ValueError(f"operator {name!r} is registered twice")
        OPERATORS[name] = OperatorSpec(name, cls, frozenset(options))
        return cls

    return register


def words_of(value: Any, lexicons: dict[str, list[str]], loc: tuple[Any, ...]) -> list[str]:
    """A word list, where `@name` entries pull in a named lexicon."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise RuleError(loc, "这里应是词语列表")
    words: list[str] = []
    for item in map(str, value):
        if item.startswith("@"):
            if item[1:] not in lexicons:
                raise RuleError(loc, f"没有名为 {item} 的词库")
            words.extend(map(str, lexicons[item[1:]]))
        else:
            words.append(item)
    return words


class Filtered(Scoped):
    """Shared hit filters: scope, negation, quotation, conditionals, exclusions."""

    CONDITIONAL = "keep"  # what `conditional` defaults to: words in a supposition still count for plain keywords

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        self.scope = parse_scope(spec, loc)
        self.negation = spec.get("negation", True)
        self.skip_quoted = spec.get("quoted", "skip") == "skip"
        self.skip_conditional = spec.get("conditional", self.CONDITIONAL) == "skip"
        exclude = words_of(spec.get("exclude", []), env.lexicons, loc + ("exclude",))
        self.exclude_key = env.matcher.register(exclude) if exclude else None

    def keep(self, ctx: Context, hit: Hit, excluding: bool = True) -> bool:
        """Whether a word found is said as such: not negated, quoted or supposed (as the condition's options
        say) and, with `excluding`, not part of one of its `exclude` words."""
        turn = ctx.turns[hit.turn]
        if self.negation:
            prefix = CLAUSE_END.split(turn.norm[max(0, hit.start - 6) : hit.start])[-1]  # within the clause
            if prefix and _NEGATION_BEFORE.search(prefix):
                return False
        if self.skip_quoted and any(s < hit.start and hit.end <= e for s, e in ctx.quoted(hit.turn)):
            return False
        if self.skip_conditional:  # the clause so far, looked back over a bounded stretch (a long turn has many hits)
            clause = CLAUSE_END.split(turn.norm[max(0, hit.start - CLAUSE_LOOKBACK) : hit.start])[-1]
            if _CONDITIONAL.search(clause):
                return False
        return not (excluding and self.excluded(ctx, hit))

    def excluded(self, ctx: Context, hit: Hit) -> bool:
        """Whether the hit is part of one of the `exclude` words (a false friend: 滚筒 is no 滚)."""
        if self.exclude_key is None:
            return False
        return any(
            ex.turn == hit.turn and ex.start < hit.end and hit.start < ex.end
            for ex in ctx.keyword_hits(self.exclude_key)
        )

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
