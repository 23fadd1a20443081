"""The per-conversation pipeline, top to bottom: mask → normalize → analyze → score.

The CLI, the batch engines and the tests all call `analyze_conversation`, so a change to a stage
shows up everywhere at once.
"""

from __future__ import annotations

from zuoxi.analyze.emotion import as_turn_emotions, customer_emotions, satisfaction_from_emotions
from zuoxi.model import Conversation, Result
from zuoxi.normalize import prepare
from zuoxi.privacy import mask_conversation
from zuoxi.rules.engine import get_scorecard
from zuoxi.rules.scorecard import builtin_names

DEFAULT_SCORECARD = "core"


def choose_scorecard(conversation: Conversation, forced: str | None = None) -> str:
    """`--scorecard` wins; else the conversation's `meta.scorecard` when it names a built-in; else core."""
    if forced and forced != "auto":
        return forced
    named = conversation.meta.get("scorecard")
    return named if isinstance(named, str) and named in builtin_names() else DEFAULT_SCORECARD


def analyze_conversation(conversation: Conversation, scorecard: str | None = None, mask: bool = True) -> Result:
    if mask:
        conversation = mask_conversation(conversation)
    compiled = get_scorecard(choose_scorecard(conversation, scorecard))
    prepared = prepare(conversation)
    emotions = customer_emotions(prepared)
    result = compiled.evaluate(compiled.context(prepared, emotions=emotions))
    result.customer_emotion = as_turn_emotions(emotions)
    result.satisfaction = satisfaction_from_emotions(emotions)
    return result
