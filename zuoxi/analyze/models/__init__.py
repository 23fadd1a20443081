"""Customer emotion, satisfaction and dialogue-quality models (docs/models.md).

    from zuoxi.analyze.models import load_models
    pred = load_models().predict(conversation)      # ConversationPrediction
    pred.emotion        # [{turn, label, probs}] for every customer turn
    pred.satisfaction   # [{turn, label, probs}] exchange satisfaction of every customer turn
    pred.dialogue       # {satisfaction: {label, probs}, complaint_risk, quality: {A, S, E}}
    load_models().predict_many(conversations)       # the same, faster for many at once

Run time needs numpy only; training (`python training_models/models.py`) needs scikit-learn.
"""

from .features import EMOTIONS, QUALITY_LABELS, SATISFACTION
from .runtime import (
    PREDICT_CHUNK,
    TASKS,
    ArtefactError,
    ConversationPrediction,
    DialoguePrediction,
    LabelProbs,
    Models,
    TurnPrediction,
    load_models,
    prediction_records,
)

__all__ = [
    "EMOTIONS",
    "PREDICT_CHUNK",
    "QUALITY_LABELS",
    "SATISFACTION",
    "TASKS",
    "ArtefactError",
    "ConversationPrediction",
    "DialoguePrediction",
    "LabelProbs",
    "Models",
    "TurnPrediction",
    "load_models",
    "prediction_records",
]
