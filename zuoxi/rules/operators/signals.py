"""Operators over what the analysis stage measured: turn times, the customer's emotion, the call
recording's features, the dialogue acts of each turn."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from itertools import pairwise
from typing import Any

from zuoxi.analyze.emotion import NEGATIVE, CustomerEmotion
from zuoxi.analyze.models.acts import ACT_NAMES
from zuoxi.normalize import PreparedTurn, content_length
from zuoxi.rules.operators.base import (
    FILTER_OPTIONS,
    Condition,
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

_OPS: dict[str, Callable[[float, Any], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "outside": lambda a, b: not (b[0] <= a <= b[1]),
    "inside": lambda a, b: b[0] <= a <= b[1],
}
TIMING_METRICS = ("first_response", "response_latency", "silence", "hangup_gap", "overlap", "speech_rate")


@operator("timing", {"metric", "op", "value", "channel"})
class Timing(Condition):
    """Times from the transcript: latency, first response, silence, hang-up gap, overlap, speech rate.

    `None` (n/a) when the conversation has no times for what the metric needs.
    """

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        self.metric = spec.get("metric")
        if self.metric not in TIMING_METRICS:
            raise RuleError(loc + ("metric",), f"metric 只能是 {'、'.join(TIMING_METRICS)} 之一")
        self.op = spec.get("op", ">")
        if self.op not in _OPS:
            raise RuleError(loc + ("op",), f"op 只能是 {'、'.join(_OPS)} 之一")
        self.value = spec.get("value")
        if self.value is None:
            raise RuleError(loc + ("value",), "timing 需要 value")
        self.channel = spec.get("channel")

    def measure(self, ctx: Context) -> list[tuple[int, float]] | None:
        """(turn, value) pairs for the metric; None when it cannot be measured."""
        if self.channel and ctx.prepared.conversation.channel != self.channel:
            return None
        audio = (ctx.audio or {}).get(str(self.metric))
        if audio is not None:
            return audio
        return _MEASURES[str(self.metric)](ctx)

    def hits(self, ctx, anchor):
        values = self.measure(ctx)
        if values is None:
            return None
        test = _OPS[self.op]
        return [Hit(t, 0, len(ctx.turns[t].text)) for t, v in values if test(v, self.value)]


def _spans(turns: list[PreparedTurn]) -> list[tuple[PreparedTurn, float, float]]:
    """The turns that have both a start and an end time, with them."""
    return [(t, t.start, t.end) for t in turns if t.start is not None and t.end is not None]


def _first_response(ctx: Context) -> list[tuple[int, float]] | None:
    customer = ctx.prepared.role_turns("customer")
    first = customer[0].start if customer else None
    if first is None:
        return None
    reply = next((t for t in ctx.prepared.role_turns("agent") if t.index > customer[0].index), None)
    if reply is None or reply.start is None:
        return None
    return [(reply.index, reply.start - first)]


def _gaps(ctx: Context, replies_only: bool) -> list[tuple[int, float]] | None:
    """Each turn's start minus the end (or start) of the turn before it; with `replies_only`, only an
    agent turn answering a customer turn (response latency)."""
    pairs = []
    for prev, cur in pairwise(ctx.turns):
        before = prev.end if prev.end is not None else prev.start
        if cur.start is None or before is None:
            continue
        if replies_only and not (prev.role == "customer" and cur.role == "agent"):
            continue
        pairs.append((cur.index, cur.start - before))
    return pairs or None


def _hangup_gap(ctx: Context) -> list[tuple[int, float]] | None:
    agent = ctx.prepared.role_turns("agent")
    end_of_call = ctx.prepared.conversation.duration
    if not agent or agent[-1].end is None or end_of_call is None:
        return None
    return [(agent[-1].index, end_of_call - agent[-1].end)]


def _overlap(ctx: Context) -> list[tuple[int, float]] | None:
    spans = _spans(ctx.turns)
    if len(spans) < len(ctx.turns):
        return None
    customer = [(s, e) for t, s, e in spans if t.role == "customer"]
    values = []
    for t, start, _ in spans:
        if t.role == "agent":
            values.append((t.index, max((e - start for s, e in customer if s < start < e), default=0.0)))
    return values or None


def _speech_rate(ctx: Context) -> list[tuple[int, float]] | None:
    """Characters per minute over the agent's timed turns (the turn furthest from the rate marks it)."""
    spoken = [(t, s, e) for t, s, e in _spans(ctx.prepared.role_turns("agent")) if e > s]
    if not spoken:
        return None
    chars = {t.index: len(re.sub(r"[\W_]+", "", t.norm)) for t, _, _ in spoken}
    overall = sum(chars.values()) / (sum(e - s for _, s, e in spoken) / 60)
    per_turn = sorted(
        ((t.index, chars[t.index] / ((e - s) / 60)) for t, s, e in spoken),
        key=lambda p: abs(p[1] - overall),
        reverse=True,
    )
    return [(per_turn[0][0], overall)]


_MEASURES: dict[str, Callable[[Context], list[tuple[int, float]] | None]] = {
    "first_response": _first_response,
    "response_latency": lambda ctx: _gaps(ctx, replies_only=True),
    "silence": lambda ctx: _gaps(ctx, replies_only=False),
    "hangup_gap": _hangup_gap,
    "overlap": _overlap,
    "speech_rate": _speech_rate,
}


@operator("emotion", {"labels", "trend", "min_score", "first", "last", "anchor", "count"})
class Emotion(Scoped):
    """Customer turns whose emotion is one of `labels` (with at least `min_score` negativity),
    or with `trend: worsening`, the last customer turn when it ends negative and worse than the first."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        self.labels = set(spec.get("labels", []))
        self.trend = spec.get("trend")
        self.min_score = float(spec.get("min_score", 0.0))
        self.scope = parse_scope(
            {"role": "customer", **{k: v for k, v in spec.items() if k in ("first", "last", "anchor", "count")}}, loc
        )
        if not self.labels and self.trend != "worsening":
            raise RuleError(loc, "emotion 需要 `labels` 或 `trend: worsening`")

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
            _emotion_hit(t, e)
            for t in customer
            if t.index in allowed
            and (e := ctx.emotions.get(t.index))
            and e.label in self.labels
            and e.score >= self.min_score
        ]


def _emotion_hit(turn: PreparedTurn, emotion: CustomerEmotion) -> Hit:
    """The deciding word when a cue decided, else the whole turn (the model read all of it)."""
    return Hit(turn.index, *emotion.cue) if emotion.cue else Hit(turn.index, 0, len(turn.text))


@operator("audio", {"feature", "op", "value"})
class Audio(Condition):
    """A feature from the audio stage (`feature`, `op`, `value`); n/a without a recording."""

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        self.feature = spec.get("feature")
        self.op = spec.get("op", ">")
        self.value = spec.get("value")
        if not self.feature or self.op not in _OPS or self.value is None:
            raise RuleError(loc, "audio 需要 `feature`、`op` 和 `value`")

    def hits(self, ctx, anchor):
        values = (ctx.audio or {}).get(self.feature)
        if values is None:
            return None
        return [Hit(t, 0, len(ctx.turns[t].text)) for t, v in values if _OPS[self.op](v, self.value)]


@operator(
    "act",
    FILTER_OPTIONS
    | {
        "acts",
        "min",
        "cues",
        "cue_min",
        "need_cue",
        "need_cue_below",
        "clear_cues",
        "unless",
        "unless_min",
        "veto",
        "wait",
        "skip_trailing",
    },
)
class Act(Filtered):
    """Turns that perform one of `acts` (dialogue acts read by the turn models,
    zuoxi/analyze/models/acts.py): the act's probability reaches `min` (default: the act's own
    threshold), or `cue_min` (default half of it) when one of the `cues` words is in the turn —
    the lexicon confirms what the model leans to, and its words become the evidence; with `need_cue`
    the act counts only where a cue is (the act narrowed to what the words name: a request that is
    bargaining); with `need_cue_below: N`, a turn of fewer than N letters, digits and placeholders needs a
    cue ("不对", "人工服务", "找不到了" hold too little for the model to read an act on its own); with
    `clear_cues` (a list of `{cues, min}`), words that nearly always carry the act decide it wherever the model
    reads it at that `min` or more, beside the condition's own cues (one condition, not one per word list:
    exclusions, `unless` and `veto` are said once); with `unless`,
    not in a turn the models read as one of those acts (a "request" that is the customer accepting); with
    `veto` (words), not in a turn that says one of them as such (a price drop asked to be protected is no
    service failure, however the model reads it). Without the models the cue words alone decide (negation,
    quotation and supposition filters apply to them). An act looked for in the answer to a turn nobody has answered yet
    cannot be judged (`None`: n/a) — unless `wait: false`, for "the customer did not push back".
    With `skip_trailing` (acts) and `last: N`, the role's trailing turns that perform nothing but those
    acts (closings, emoji) do not count among its last N: "the agent's last word on the matter".
    Evidence is the cue when there is one, else the whole turn (refined to the clause that reads most
    like the act when a failed finding shows it)."""

    CONDITIONAL = "skip"  # a cue word in a supposition ("如果无法…") is not the act

    def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
        super().__init__(spec, loc, env)
        acts = spec.get("acts")
        acts = [acts] if isinstance(acts, str) else acts
        if not acts or not isinstance(acts, list):
            raise RuleError(loc + ("acts",), "act 需要 `acts`：对话行为列表")
        unknown = [a for a in acts if a not in ACT_NAMES]
        if unknown:
            raise RuleError(loc + ("acts",), f"没有对话行为 {unknown[0]!r}；可用的有：{'、'.join(sorted(ACT_NAMES))}")
        self.acts = tuple(acts)
        self.min = self._probability(spec.get("min"), loc + ("min",))
        self.cue_min = self._probability(spec.get("cue_min"), loc + ("cue_min",))
        cues = words_of(spec.get("cues", []), env.lexicons, loc + ("cues",))
        self.cue_key = env.matcher.register(cues) if cues else None
        self.need_cue = bool(spec.get("need_cue", False))
        below = spec.get("need_cue_below") or 0
        if isinstance(below, bool) or not isinstance(below, int) or below < 0:
            raise RuleError(
                loc + ("need_cue_below",), f"need_cue_below 应为不小于 0 的整数（字数），而不是 {below!r:.40}"
            )
        self.need_cue_below = below
        self.clear = self._clear_cues(spec.get("clear_cues", []), loc + ("clear_cues",), env)
        veto = words_of(spec.get("veto", []), env.lexicons, loc + ("veto",))
        self.veto_key = env.matcher.register(veto) if veto else None
        self.unless = tuple(spec.get("unless") or ())
        self.unless_min = self._probability(spec.get("unless_min"), loc + ("unless_min",))
        self.wait = bool(spec.get("wait", True))
        self.skip_trailing = tuple(spec.get("skip_trailing") or ())
        self._bars_of: tuple[Any, Any] | None = None
        for option in ("unless", "skip_trailing"):
            unknown = [a for a in getattr(self, option) if a not in ACT_NAMES]
            if unknown:
                raise RuleError(loc + (option,), f"没有对话行为 {unknown[0]!r}")
        if self.skip_trailing and self.scope.last is None:
            raise RuleError(loc + ("skip_trailing",), "skip_trailing 需要 `last`")
        for option in ("need_cue", "need_cue_below"):
            if getattr(self, option) and self.cue_key is None:
                raise RuleError(loc + (option,), f"{option} 需要 `cues`")

    @staticmethod
    def _probability(value: Any, loc: tuple[Any, ...]) -> float | None:
        """A bar option (`min`, `cue_min`, `unless_min`, a clear cue's `min`): a number from 0 to 1, or None if unset."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise RuleError(loc, f"{loc[-1]} 应为 0 到 1 之间的数，而不是 {value!r:.40}")
        return float(value)

    @staticmethod
    def _clear_cues(groups: Any, loc: tuple[Any, ...], env: Env) -> list[tuple[int, float]]:
        """(matcher key, bar) of each `clear_cues` entry."""
        if not isinstance(groups, list):
            raise RuleError(loc, "clear_cues 应为列表：[{cues: [...], min: 0.05}, …]")
        out = []
        for i, group in enumerate(groups):
            if not isinstance(group, dict) or set(group) - {"cues", "min"} or "cues" not in group or "min" not in group:
                raise RuleError(loc + (i,), "clear_cues 的每一项需要 `cues`（词表）和 `min`（概率下限），不含其他键")
            bar = Act._probability(group["min"], loc + (i, "min"))
            if bar is None:
                raise RuleError(loc + (i, "min"), "clear_cues 的 `min` 不能为空")
            words = words_of(group["cues"], env.lexicons, loc + (i, "cues"))
            if not words:
                raise RuleError(loc + (i, "cues"), "clear_cues 的 `cues` 不能为空")
            out.append((env.matcher.register(words), bar))
        return out

    def _cues(self, ctx: Context, allowed: set[int], key: int | None = None) -> tuple[dict[int, list[Hit]], set[int]]:
        """The cues (of the condition's own list, or of the list registered as `key`) that count in each
        turn, and the turns whose every cue was negated, quoted or supposed ("不是不能退", "如果无法联网",
        an agent quoting "不归我们管"): there the words themselves say the act is not performed, whatever
        the model leans to."""
        key = self.cue_key if key is None else key
        if key is None:
            return {}, set()
        found: dict[int, list[Hit]] = {}
        seen: set[int] = set()
        for h in ctx.keyword_hits(key):
            if h.turn in allowed and not self.excluded(ctx, h):  # a false friend is no cue at all, not a denial
                seen.add(h.turn)
                if self.keep(ctx, h):
                    found.setdefault(h.turn, []).append(h)
        return found, seen - set(found)

    def _last_on_the_matter(self, ctx: Context, anchor: Hit | None) -> list[int]:
        """The scope's last N turns of the role once its trailing turns that perform only
        `skip_trailing` acts (or none) are set aside; a turn holding one of the condition's clear cue words
        ("继续留意": the matter is still open) is on the matter, whatever else the models read in it."""
        last = self.scope.last
        every = replace(self.scope, last=None).turns(ctx, anchor)
        scope = set(every)
        cued = set().union(*(self._cues(ctx, scope, key)[0] for key, _ in self.clear))
        turns = ctx.without_trailing(every, self.skip_trailing, cued)
        return turns[-last:] if last else []

    def hits(self, ctx, anchor):
        if self.wait and self.scope.awaiting(ctx, anchor):
            return None  # nobody has answered the anchor turn yet: nothing to judge
        allowed = self._last_on_the_matter(ctx, anchor) if self.skip_trailing else self.scope.turns(ctx, anchor)
        scope = set(allowed)
        cues, denied = self._cues(ctx, scope)
        clear = [(self._cues(ctx, scope, key), bar) for key, bar in self.clear]
        if self.veto_key is not None:  # words that say the turn is something else (negation and quotes apply)
            vetoed = {
                h.turn
                for h in ctx.keyword_hits(self.veto_key)
                if h.turn in scope and self.keep(ctx, h, excluding=False)
            }
            allowed = [t for t in allowed if t not in vetoed]
        acts = ctx.acts
        if acts is None:
            found = [h for t in allowed for h in cues.get(t, ())]
            found += [h for (words, _), _ in clear for t in allowed for h in words.get(t, ())]
            return sorted(set(found)) if clear else found
        found = []
        for t in allowed:
            found.extend(self._turn_hits(ctx, acts, t, cues.get(t), t in denied))
            for (words, _), bar in clear:  # a clear word decides at its own bar
                if t in words:
                    found.extend(self._clear_hits(acts, t, words[t], bar))
        return sorted(set(found)) if clear else found

    def _clear_hits(self, acts: Any, t: int, words: list[Hit], bar: float) -> list[Hit]:
        """A clear word's hits in turn `t`: where the models read one of the acts at `bar` or more (and no
        `unless` act), or the models could not learn the acts."""
        plain, _, unless = self._bars(acts)
        row = acts.table[t]
        if _reads_any(row, unless):
            return []
        if not plain or any(row[k] >= bar for k, _ in plain):
            return list(words)
        return []

    def _too_short(self, norm: str) -> bool:
        return bool(self.need_cue_below) and content_length(norm) < self.need_cue_below

    def _bars(self, acts: Any) -> tuple[list[tuple[int, float]], list[tuple[int, float]], list[tuple[int, float]]]:
        """(act column, bar) pairs of the acts the models read: without a cue, with one, and the `unless`
        acts at their own thresholds. Worked out once per act model (the thresholds array is its identity)."""
        cached = self._bars_of
        if cached is not None and cached[0] is acts.thresholds:
            return cached[1]
        thresholds, trained = acts.thresholds.tolist(), acts.trained.tolist()
        columns = [acts.index[name] for name in self.acts if trained[acts.index[name]]]
        plain = [(k, self.min if self.min is not None else thresholds[k]) for k in columns]
        cued = [(k, self.cue_min if self.cue_min is not None else bar / 2) for k, bar in plain]
        unless = [
            (k, thresholds[k] if self.unless_min is None else self.unless_min)
            for k in (acts.index[name] for name in self.unless)
            if trained[k]
        ]
        self._bars_of = (acts.thresholds, (plain, cued, unless))
        return plain, cued, unless

    def _turn_hits(self, ctx: Context, acts: Any, t: int, cue: list[Hit] | None, denied: bool) -> list[Hit]:
        """Whether turn `t` performs the act, as its evidence: the cues where it has some, else the whole turn
        (marked with the acts, so a finding can say the model read it). A turn whose words deny the act, one
        without a cue that needs one (or is too short to go without), and one performing an `unless` act have none."""
        if denied or (cue is None and (self.need_cue or self._too_short(ctx.turns[t].norm))):
            return []
        plain, cued, unless = self._bars(acts)
        row = acts.table[t]
        if _reads_any(row, unless):
            return []
        if not plain:  # the models could not learn these acts (too few labelled turns): the cue words decide
            return list(cue or ())
        for k, bar in plain if cue is None else cued:  # the cues are the condition's: any act the models read decides
            if row[k] >= bar:
                if cue is not None:
                    return list(cue)
                hit = Hit(t, 0, len(ctx.turns[t].text))
                ctx.act_marks[hit] = self.acts
                return [hit]
        return []


def _reads_any(row: list[float], bars: list[tuple[int, float]]) -> bool:
    """Whether a turn's act probabilities (`TurnActs.table` row) reach any of (column, bar)."""
    return any(row[k] >= bar for k, bar in bars)
