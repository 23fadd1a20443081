"""Customer emotion per turn: the trained model's probabilities fused with a lexicon of cues.

The lexicon (anger/anxiety/sadness/thanks words, `emotion_*` in scorecards/lexicons.yaml) is
transparent: a QA inspector sees the word that made a turn "angry", and the rule engine's
evidence points at it. The trained model (`zuoxi.analyze.models`) hears what no word list
lists ("我只是想换其中一个汉堡，干嘛拒收啊？"), but is trained on Weibo posts and over-reads plain
questions as angry at low confidence. The fusion, in order:

1. a negative lexicon cue decides the label (the evidence is that word); the score is the
   larger of the cue's strength and the model's negativity;
2. otherwise, when the model's negativity reaches `MODEL_CONFIDENT`, the turn takes the model's
   most likely negative class;
3. otherwise the lexicon's neutral/positive label stands.

`score` is negativity, 0–1: P(angry) + P(anxious) + P(sad) from the model, or the cue strength
when there is no model (`--no-models`) or the cue is stronger.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple, cast, get_args

from zuoxi.model import Satisfaction, SatisfactionLabel, TurnEmotion
from zuoxi.normalize import Prepared
from zuoxi.rules.scorecard import shared_lexicons

NEGATIVE = ("angry", "anxious", "sad")
MODEL_CONFIDENT = 0.7  # set on the bundled samples: plain questions reach 0.55, upset customers 0.7+
_NEGATION = re.compile(r"(不是|并不|并非|没有|没|不|别|未)(很|太|是|算|会|那么)?$")
_SHOUTING = re.compile(r"[!！]{2,}|[?？]{2,}|[!！?？]{3,}")
_CUE_WEIGHT = {"angry": 0.45, "anxious": 0.3, "sad": 0.3}


class CustomerEmotion(NamedTuple):
    """What the rule engine's `emotion` operator reads for one customer turn."""

    label: str
    score: float  # negativity 0–1
    cue: tuple[int, int] | None = None  # span of the deciding word in the turn's text
    probs: dict[str, float] | None = None  # the model's emotion distribution
    satisfaction: str | None = None  # the model's exchange satisfaction at this turn


def _any_of(words: list[str]) -> re.Pattern[str]:
    """One alternation of a word list, longest first (a longer word wins where two start together)."""
    return re.compile("|".join(sorted((re.escape(str(w)) for w in words), key=len, reverse=True)))


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    lexicons = shared_lexicons()
    return {label: _any_of(lexicons[f"emotion_{label}"]) for label in ("angry", "anxious", "sad", "positive")}


@lru_cache(maxsize=1)
def _false_friends() -> re.Pattern[str] | None:
    """Words holding a cue that are not it (滚动 and 财源滚滚 are no 滚): `insult_false_friends`."""
    words = shared_lexicons().get("insult_false_friends", [])
    return _any_of(words) if words else None


@lru_cache(maxsize=1)
def _any_cue() -> re.Pattern[str]:
    """Any word of any emotion lexicon: one scan rules out most turns, which have none."""
    return re.compile("|".join(f"(?:{p.pattern})" for p in _patterns().values()))


def lexicon_emotion(norm: str) -> CustomerEmotion:
    """The label, negativity and deciding word of one normalized customer turn, from cues alone."""
    if not _any_cue().search(norm):
        return CustomerEmotion("neutral", 0.0)
    counts: dict[str, int] = {}
    first: dict[str, tuple[int, int]] = {}
    friends = _false_friends()
    taken = [m.span() for m in friends.finditer(norm)] if friends is not None else []
    for label, pattern in _patterns().items():
        for m in pattern.finditer(norm):
            if _NEGATION.search(norm[max(0, m.start() - 3) : m.start()]):
                continue
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            counts[label] = counts.get(label, 0) + 1
            first.setdefault(label, m.span())
    shouting = len(_SHOUTING.findall(norm))
    if shouting and ("angry" in counts or "anxious" in counts):
        counts["angry"] = counts.get("angry", 0) + shouting
        if "angry" not in first:
            first["angry"] = first["anxious"]
    negative = {k: v for k, v in counts.items() if k in NEGATIVE}
    if negative:
        label = max(negative, key=lambda k: (negative[k], k == "angry"))
        score = min(1.0, 0.25 + _CUE_WEIGHT[label] * sum(negative.values()))
        return CustomerEmotion(label, round(score, 3), first[label])
    if counts.get("positive"):
        return CustomerEmotion("positive", 0.0, first["positive"])
    return CustomerEmotion("neutral", 0.0)


def fuse(lexicon: CustomerEmotion, probs: dict[str, float] | None, satisfaction: str | None = None) -> CustomerEmotion:
    """One turn's emotion from its lexicon reading and the model's probabilities (module doc)."""
    if probs is None:
        return lexicon._replace(satisfaction=satisfaction)
    negativity = round(min(1.0, sum(probs.get(k, 0.0) for k in NEGATIVE)), 3)
    if lexicon.label in NEGATIVE:
        return lexicon._replace(score=max(lexicon.score, negativity), probs=probs, satisfaction=satisfaction)
    if negativity >= MODEL_CONFIDENT:
        top = max(NEGATIVE, key=lambda k: probs.get(k, 0.0))
        return CustomerEmotion(top, negativity, None, probs, satisfaction)
    return lexicon._replace(score=negativity, probs=probs, satisfaction=satisfaction)


def customer_emotions(prepared: Prepared, prediction=None) -> dict[int, CustomerEmotion]:
    """Every customer turn's emotion; `prediction` is a `ConversationPrediction` or None (lexicon only)."""
    probs = {p.turn: p.probs for p in prediction.emotion} if prediction else {}
    sat = {p.turn: p.label for p in prediction.satisfaction} if prediction else {}
    return {
        t.index: fuse(lexicon_emotion(t.norm), probs.get(t.index), sat.get(t.index))
        for t in prepared.turns
        if t.role == "customer"
    }


def as_turn_emotion(turn: int, e: CustomerEmotion) -> TurnEmotion:
    return TurnEmotion(
        turn=turn,
        label=e.label,
        score=e.score,
        probs=e.probs,
        satisfaction=_satisfaction_label(e.satisfaction),
        cue=list(e.cue) if e.cue else None,
    )


def _satisfaction_label(label: str | None) -> SatisfactionLabel | None:
    """The model's satisfaction class as the result's type; the classifier knows no other classes
    (an unknown one fails as the result's validation would, with a ValueError)."""
    if label is None or label in get_args(SatisfactionLabel):
        return cast("SatisfactionLabel | None", label)
    raise ValueError(f"unknown satisfaction label {label!r}")


def as_turn_emotions(emotions: dict[int, CustomerEmotion]) -> list[TurnEmotion]:
    return [as_turn_emotion(i, e) for i, e in sorted(emotions.items())]


def satisfaction_from_emotions(emotions: dict[int, CustomerEmotion]) -> Satisfaction | None:
    """Where the customer ended up, by cues alone (used without models): the last turns weigh most."""
    if not emotions:
        return None
    ordered = [emotions[i] for i in sorted(emotions)]
    tail = ordered[-2:]
    negativity = max(e.score for e in tail)
    if any(e.label in NEGATIVE for e in tail) and negativity >= 0.5:
        return Satisfaction(label="dissatisfied", score=round(min(1.0, 0.5 + negativity / 2), 3))
    if ordered[-1].label == "positive":
        return Satisfaction(label="satisfied", score=0.7)
    return Satisfaction(label="neutral", score=0.6)
