"""Customer emotion per turn, from a lexicon of anger/anxiety/sadness/thanks cues.

This is the fallback the rule engine's `emotion` operator can always rely on: it is transparent
(a QA inspector can see which word made a turn "angry") and needs no model. Trained models, where
present, refine it (see `zuoxi.analyze.models`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from zuoxi.model import Satisfaction, TurnEmotion
from zuoxi.normalize import Prepared
from zuoxi.rules.scorecard import shared_lexicons

NEGATIVE = ("angry", "anxious", "sad")
_NEGATION = re.compile(r"(不是|并不|并非|没有|没|不|别|未)(很|太|是|算|会|那么)?$")
_SHOUTING = re.compile(r"[!！]{2,}|[?？]{2,}|[!！?？]{3,}")


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    lexicons = shared_lexicons()
    return {
        label: re.compile("|".join(sorted((re.escape(str(w)) for w in lexicons[f"emotion_{label}"]), key=len, reverse=True)))
        for label in ("angry", "anxious", "sad", "positive")
    }


def _cues(norm: str) -> dict[str, int]:
    counts = {}
    for label, pattern in _patterns().items():
        n = sum(1 for m in pattern.finditer(norm) if not _NEGATION.search(norm[max(0, m.start() - 3) : m.start()]))
        if n:
            counts[label] = n
    return counts


def turn_emotion(norm: str) -> tuple[str, float]:
    """(label, negativity 0–1) for one customer turn; positive turns have negativity 0."""
    cues = _cues(norm)
    shouting = len(_SHOUTING.findall(norm))
    if shouting and ("angry" in cues or "anxious" in cues):
        cues["angry"] = cues.get("angry", 0) + shouting
    negative = {k: v for k, v in cues.items() if k in NEGATIVE}
    if negative:
        label = max(negative, key=lambda k: (negative[k], k == "angry"))
        weight = {"angry": 0.45, "anxious": 0.3, "sad": 0.3}[label]
        return label, round(min(1.0, 0.25 + weight * sum(negative.values())), 3)
    if cues.get("positive"):
        return "positive", 0.0
    return "neutral", 0.0


def customer_emotions(prepared: Prepared) -> dict[int, tuple[str, float]]:
    return {t.index: turn_emotion(t.norm) for t in prepared.turns if t.role == "customer"}


def as_turn_emotions(emotions: dict[int, tuple[str, float]]) -> list[TurnEmotion]:
    return [TurnEmotion(turn=i, label=label, score=score) for i, (label, score) in sorted(emotions.items())]


def satisfaction_from_emotions(emotions: dict[int, tuple[str, float]]) -> Satisfaction | None:
    """Where the customer ended up: the last turns weigh most."""
    if not emotions:
        return None
    ordered = [emotions[i] for i in sorted(emotions)]
    tail = ordered[-2:]
    negativity = max(score for _, score in tail)
    if any(label in NEGATIVE for label, _ in tail) and negativity >= 0.5:
        return Satisfaction(label="dissatisfied", score=round(min(1.0, 0.5 + negativity / 2), 3))
    if ordered[-1][0] == "positive":
        return Satisfaction(label="satisfied", score=0.7)
    return Satisfaction(label="neutral", score=0.6)
