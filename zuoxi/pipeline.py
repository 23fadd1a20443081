"""The per-conversation pipeline, top to bottom: mask → normalize → analyze → score.

The CLI, the batch engines and the tests all call `analyze_conversation`, so a change to a stage
shows up everywhere at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from zuoxi.analyze.emotion import as_turn_emotions, customer_emotions, satisfaction_from_emotions
from zuoxi.analyze.models import ConversationPrediction, load_models
from zuoxi.audio import analyze_audio
from zuoxi.model import Conversation, Result, Satisfaction
from zuoxi.normalize import prepare
from zuoxi.privacy import mask_conversation
from zuoxi.rules.engine import get_scorecard
from zuoxi.rules.scorecard import builtin_names

DEFAULT_SCORECARD = "core"
# Conversations analyzed together (`analyze_conversations`): enough to share the models' numpy
# calls and keep their tables warm, few enough that the batch engines' results still stream.
ANALYZE_CHUNK = 64


def choose_scorecard(conversation: Conversation, forced: str | None = None) -> str:
    """`--scorecard` wins; else the conversation's `meta.scorecard` when it names a built-in; else core."""
    if forced and forced != "auto":
        return forced
    named = conversation.meta.get("scorecard")
    return named if isinstance(named, str) and named in builtin_names() else DEFAULT_SCORECARD


def analyze_conversation(conversation: Conversation, scorecard: str | None = None, mask: bool = True,
                         models: bool = True,
                         audio_dir: str | Path | None = None) -> Result:
    """Score one conversation. `models=False` skips the trained models: emotion then comes from
    the lexicon alone, and satisfaction from where the customer's cues ended up. `audio_dir` is the folder
    of the file the conversation was read from: a relative `audio` path is found there."""
    return analyze_conversations([conversation], scorecard, mask, models, audio_dir)[0]


def analyze_conversations(conversations: Sequence[Conversation], scorecard: str | None = None, mask: bool = True,
                          models: bool = True, audio_dir: str | Path | None = None) -> list[Result]:
    """Score several conversations: the same results as `analyze_conversation` one by one, faster.
    Chunk by chunk (`ANALYZE_CHUNK`), the models run over all the chunk's conversations at once
    (`Models.predict_many`: one pass of numpy calls for all their texts) before the rules do, so
    each stage also finds its tables still in the CPU cache (the models' n-gram arrays and the
    rules' compiled scorecards evict each other when they alternate)."""
    results: list[Result] = []
    for begin in range(0, len(conversations), ANALYZE_CHUNK):
        chunk = conversations[begin:begin + ANALYZE_CHUNK]
        if mask:
            chunk = [mask_conversation(conversation) for conversation in chunk]
        predictions = load_models().predict_many(chunk) if models else [None] * len(chunk)
        results.extend(_score(conversation, prediction, scorecard, audio_dir)
                       for conversation, prediction in zip(chunk, predictions))
    return results


def _score(conversation: Conversation, prediction: ConversationPrediction | None, scorecard: str | None,
           audio_dir: str | Path | None) -> Result:
    """The rules and the result of one (masked) conversation, given the models' prediction."""
    compiled = get_scorecard(choose_scorecard(conversation, scorecard))
    prepared = prepare(conversation)
    emotions = customer_emotions(prepared, prediction)
    audio, audio_summary = analyze_audio(conversation, audio_dir)
    result = compiled.evaluate(compiled.context(prepared, emotions=emotions, audio=audio))
    result.audio = audio_summary
    result.customer_emotion = as_turn_emotions(emotions)
    if prediction is None:
        result.satisfaction = satisfaction_from_emotions(emotions)
    else:
        # The dialogue-level head, not the cues: on jddc_uss it finds dissatisfied dialogues
        # twice as well (F1 0.27 vs 0.13, docs/models.md).
        dialogue = prediction.dialogue
        result.satisfaction = Satisfaction(label=dialogue.satisfaction.label,
                                           score=dialogue.satisfaction.probs[dialogue.satisfaction.label],
                                           probs=dialogue.satisfaction.probs)
        result.complaint_risk = dialogue.complaint_risk
        result.quality = dialogue.quality
    return result
