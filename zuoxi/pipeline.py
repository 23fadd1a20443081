"""The per-conversation pipeline, top to bottom: mask → normalize → analyze → score.

Everything that analyzes goes through `iter_analyses` — the batch engines and the web app's
rescoring directly, single analyses (`analyze_conversation`, live assist, the tests) with a batch
of one — so a change to a stage shows up everywhere at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from zuoxi.analyze.emotion import as_turn_emotions, customer_emotions, satisfaction_from_emotions
from zuoxi.analyze.models import PREDICT_CHUNK, ConversationPrediction, load_models
from zuoxi.audio import analyze_audio
from zuoxi.model import Conversation, Result, Satisfaction
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


def analyze_conversation(
    conversation: Conversation,
    scorecard: str | None = None,
    mask: bool = True,
    models: bool = True,
    audio_dir: str | Path | None = None,
    audio_name_dir: str | Path | None = None,
) -> Result:
    """Score one conversation. `models=False` skips the trained models: emotion then comes from
    the lexicon alone, and satisfaction from where the customer's cues ended up. `audio_dir` is the folder
    of the file the conversation was read from: a relative `audio` path is found there (and named from
    `audio_name_dir` in the result, when given: `analyze_audio`)."""
    return next(iter_analyses([conversation], scorecard, mask, models, audio_dir, audio_name_dir=audio_name_dir))


def analyze_conversations(
    conversations: Iterable[Conversation],
    scorecard: str | None = None,
    mask: bool = True,
    models: bool = True,
    audio_dir: str | Path | None = None,
    audio_name_dir: str | Path | None = None,
) -> list[Result]:
    """The results of `iter_analyses`, as a list."""
    return list(iter_analyses(conversations, scorecard, mask, models, audio_dir, audio_name_dir=audio_name_dir))


def iter_analyses(
    conversations: Iterable[Conversation],
    scorecard: str | None = None,
    mask: bool = True,
    models: bool = True,
    audio_dir: str | Path | None = None,
    audio: bool | Path = True,
    audio_name_dir: str | Path | None = None,
) -> Iterator[Result]:
    """Score several conversations: the same results as `analyze_conversation` one by one, in
    order, each handed on as soon as the rules have scored it, faster. The models run a chunk
    (`PREDICT_CHUNK`) ahead of the rules, over all the chunk's conversations at once
    (`Models.predict_many`: one pass of numpy calls for all their texts), so each stage also
    finds its tables still in the CPU cache (the models' n-gram arrays and the rules' compiled
    scorecards evict each other when they alternate). Without the models there is nothing to
    share: conversations go one at a time. Should `conversations` itself raise, the conversations
    of the chunk it was filling are not scored (callers with a fallible reader, like the batch
    engines, read ahead themselves and pass lists). `audio`: which recordings may be read (all, none, or
    only those inside a folder: `analyze_audio`); `audio_name_dir`: the folder recordings are named from
    in results (default `audio_dir`)."""
    stream = iter(conversations)
    while chunk := list(islice(stream, PREDICT_CHUNK if models else 1)):
        if mask:
            chunk = [mask_conversation(conversation) for conversation in chunk]
        predictions = load_models().predict_many(chunk) if models else [None] * len(chunk)
        for conversation, prediction in zip(chunk, predictions):
            yield _score(conversation, prediction, scorecard, audio_dir, audio, audio_name_dir)


def _score(
    conversation: Conversation,
    prediction: ConversationPrediction | None,
    scorecard: str | None,
    audio_dir: str | Path | None,
    audio_allowed: bool | Path = True,
    audio_name_dir: str | Path | None = None,
) -> Result:
    """The rules and the result of one (masked) conversation, given the models' prediction."""
    compiled = get_scorecard(choose_scorecard(conversation, scorecard))
    prepared = prepare(conversation)
    emotions = customer_emotions(prepared, prediction)
    audio, audio_summary = analyze_audio(conversation, audio_dir, audio_allowed, audio_name_dir)
    acts = prediction.acts if prediction is not None else None
    result = compiled.evaluate(compiled.context(prepared, emotions=emotions, audio=audio, acts=acts))
    result.audio = audio_summary
    result.customer_emotion = as_turn_emotions(emotions)
    if prediction is None:
        result.satisfaction = satisfaction_from_emotions(emotions)
    else:
        # The dialogue-level head, not the cues: on jddc_uss it finds dissatisfied dialogues
        # twice as well (F1 0.27 vs 0.13, docs/models.md).
        dialogue = prediction.dialogue
        # validated, not constructed: the head's label is a plain str (its label list), checked against the Literal here
        result.satisfaction = Satisfaction.model_validate(
            {
                "label": dialogue.satisfaction.label,
                "score": dialogue.satisfaction.probs[dialogue.satisfaction.label],
                "probs": dialogue.satisfaction.probs,
            }
        )
        result.complaint_risk = dialogue.complaint_risk
        result.quality = dialogue.quality
    return result
