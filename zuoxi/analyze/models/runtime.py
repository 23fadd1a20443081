"""Loading the committed artefacts and predicting with numpy only.

The artefacts are `models.npz` (arrays only, read with `allow_pickle=False`) and `models.json`
(label sets, column ranges, dense feature names, training summary). No pickle, no scikit-learn,
no network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from . import features as F
from . import text as T
from .acts import ActModel, TurnActs
from .linear import Block, Head, HeadGroup, Sparse, Vocab, softmax

ARTEFACTS = Path(__file__).resolve().parent.parent / "artefacts"
FORMAT = 1
QUALITY_KEYS = ("A", "S", "E")

# Emotion at a customer turn also leans on the turn before it (people do not switch mood on
# every message). A fixed, untrained blend: see docs/models.md.
EMOTION_CARRY = 0.2
# Complaint risk = noisy-OR of the dialogue's P(dissatisfied) and an explicit threat to complain.
THREAT_WEIGHT = 0.8


class ArtefactError(RuntimeError):
    pass


class TurnPrediction(BaseModel):
    turn: int
    label: str
    probs: dict[str, float]


class LabelProbs(BaseModel):
    label: str
    probs: dict[str, float]


class DialoguePrediction(BaseModel):
    satisfaction: LabelProbs
    complaint_risk: float
    quality: dict[str, dict[str, float]]  # {"A": {"-2": p, …, "2": p}, "S": …, "E": …}


class ConversationPrediction(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    conversation_id: str
    emotion: list[TurnPrediction]
    satisfaction: list[TurnPrediction]
    dialogue: DialoguePrediction
    acts: TurnActs | None = Field(
        default=None, exclude=True
    )  # every turn's dialogue acts (not serialised); None without act models


def _probs(classes: Iterable[str], p: np.ndarray) -> dict[str, float]:
    return dict(zip(classes, np.round(p, 4).tolist()))


class Models:
    """The trained models. `predict(conversation)` is the one call analysis needs."""

    def __init__(
        self, vocab: Vocab, blocks: dict[str, Block], heads: dict[str, Head], meta: dict, acts: ActModel | None = None
    ):
        self.vocab = vocab
        self.acts = acts
        self.blocks = blocks
        self.heads = heads
        self.meta = meta
        self._threat_col = T.CUE_NAMES.index("complaint")
        # the conversation-level heads share their inputs: computed as one group (absent while
        # training builds the earlier stages)
        names = ["dialogue_sat"] + [f"quality_{k}" for k in QUALITY_KEYS]
        self.dialogue_heads = HeadGroup([heads[n] for n in names]) if all(n in heads for n in names) else None

    # --- loading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: str | Path = ARTEFACTS) -> Models:
        directory = Path(directory)
        meta_path, npz_path = directory / "models.json", directory / "models.npz"
        if not meta_path.exists() or not npz_path.exists():
            raise ArtefactError(
                f"model artefacts missing in {directory}: run `make models` (python training_models/models.py)"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("feature_version") != T.FEATURE_VERSION:
            raise ArtefactError(
                f"artefacts in {directory} were built for format {meta.get('format')} / features "
                f"{meta.get('feature_version')}; this code needs {FORMAT} / {T.FEATURE_VERSION}: "
                "retrain with `make models`"
            )
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        blob = bytes(arrays["vocab"]).decode("utf-8")
        vocab = Vocab(T.keys_of_lines(blob) if blob else np.zeros(0, np.int64), arrays["idf"])
        blocks = {
            ns: Block.from_rows(len(vocab), arrays[f"block_{ns}_rows"], arrays[f"block_{ns}_W"])
            for ns in meta["blocks"]
        }
        heads = {}
        for name, h in meta["heads"].items():
            heads[name] = Head(
                name=name,
                classes=list(h["classes"]),
                text={ns: tuple(r) for ns, r in h["text"].items()},
                dense=arrays[f"head_{name}_dense"].astype(np.float64),
                bias=arrays[f"head_{name}_bias"].astype(np.float64),
                dense_names=list(h["dense_names"]),
            )
        models = cls(vocab, blocks, heads, meta, ActModel.load(directory, vocab))
        models._check()
        return models

    def _check(self) -> None:
        expected = {
            "valence": [],
            "emotion": F.EMOTION_DENSE_NAMES,
            "turn_sat": F.TURN_DENSE_NAMES,
            "dialogue_sat": F.DIALOGUE_DENSE_NAMES,
        }
        for k in QUALITY_KEYS:
            expected[f"quality_{k}"] = F.DIALOGUE_DENSE_NAMES
        for name, names in expected.items():
            if name in self.heads and list(self.heads[name].dense_names) != list(names):
                raise ArtefactError(f"head {name}: dense features differ from this code; retrain")

    # --- stages (also used by training, so features match exactly) ---------------------------
    def valence(self, s_turn: np.ndarray) -> np.ndarray:
        """P(positive) per text, from the review-trained head."""
        return self.heads["valence"].proba({"turn": s_turn}, None)[:, 1]

    def emotion_text(self, s_turn: np.ndarray, cue: np.ndarray, valence: np.ndarray) -> np.ndarray:
        return self.heads["emotion"].proba({"turn": s_turn}, F.emotion_dense(cue, valence))

    def turn_sat(self, ctx: np.ndarray, s_turn, valence, emotion) -> np.ndarray:
        return self.heads["turn_sat"].proba({"turn": s_turn}, F.turn_dense(ctx, valence, emotion))

    def text_matrix(
        self, preps: list[F.DialogueFeatures], ids_rows: tuple[np.ndarray, np.ndarray] | None = None
    ) -> Sparse:
        """The TF-IDF rows of conversations, all from one look-up of their n-grams: every customer
        turn of every conversation (in order), then each conversation's customer text as one row,
        then each one's agent text. `ids_rows` are the n-gram ids of the conversations' texts, one
        after another, and the index of the text each came from, when the caller has them."""
        if ids_rows is None:
            ids_rows = self.vocab.text_ids([norm for prep in preps for norm in prep.norms])
        ids, rows = ids_rows
        n_conv, n_cust = len(preps), sum(len(prep.cust) for prep in preps)
        turn_row = np.full(sum(len(prep.norms) for prep in preps), -1, dtype=np.int64)  # customer turn → its row
        side_row = turn_row.copy()  # customer/agent turn → its conversation's customer/agent row
        first_text = first_turn = 0
        for k, prep in enumerate(preps):
            cust = np.asarray(prep.cust, dtype=np.int64) + first_text
            turn_row[cust] = np.arange(first_turn, first_turn + len(cust))
            side_row[cust] = n_cust + k
            side_row[np.asarray(prep.agent, dtype=np.int64) + first_text] = n_cust + n_conv + k
            first_text += len(prep.norms)
            first_turn += len(cust)
        turn_of, side_of = turn_row[rows], side_row[rows]
        is_turn, is_side = turn_of >= 0, side_of >= 0
        return self.vocab.vectorize(
            np.concatenate([ids[is_turn], ids[is_side]]),
            np.concatenate([turn_of[is_turn], side_of[is_side]]),
            n_cust + 2 * n_conv,
        )

    def customer_stage(self, preps: list[F.DialogueFeatures], x: Sparse) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(valence, text emotion, exchange satisfaction) for every customer turn of `preps`, in
        order; `x` is their `text_matrix`."""
        n_cust = sum(len(prep.cust) for prep in preps)
        if not n_cust:
            return np.zeros(0), np.zeros((0, len(F.EMOTIONS))), np.zeros((0, len(F.SATISFACTION)))
        s = self.blocks["turn"].scores(x.rows(0, n_cust))
        cue = np.concatenate([prep.cue for prep in preps]) if len(preps) > 1 else preps[0].cue
        ctx = np.concatenate([prep.ctx for prep in preps]) if len(preps) > 1 else preps[0].ctx
        val = self.valence(s)
        emo = self.emotion_text(s, cue, val)
        sat = self.turn_sat(ctx, s, val, emo)
        return val, emo, sat

    def dialogue_scores(self, n_conv: int, n_cust: int, x: Sparse) -> dict[str, np.ndarray]:
        """The conversation-level n-gram scores of the `n_conv` conversations of `x` (one row each),
        whose customer turns fill its first `n_cust` rows."""
        return {
            "dcust": self.blocks["dcust"].scores(x.rows(n_cust, n_cust + n_conv)),
            "dagent": self.blocks["dagent"].scores(x.rows(n_cust + n_conv, n_cust + 2 * n_conv)),
        }

    # --- public -------------------------------------------------------------------------------
    def read_text(self, text: str) -> tuple[str, np.ndarray]:
        """A turn text's normalized form and the vocabulary ids of its n-grams: what `predict`
        derives from each text before the context is considered."""
        norm = T.normalize(text)
        return norm, self.vocab.text_ids([norm])[0]

    def predict(self, conversation: Any, cache: dict[str, tuple] | None = None) -> ConversationPrediction:
        """Emotion and satisfaction for every customer turn, and the dialogue-level estimates.

        `conversation` is a `zuoxi.model.Conversation` (anything with `.id` and `.turns` of
        objects with `.role` and `.text` works). `cache` (text → `read_text(text)`), kept by a
        caller that predicts again and again over overlapping turns — live assist's sliding
        window — saves reading the same texts each time.
        """
        if cache is None:
            return self.predict_many([conversation])[0]
        roles = [t.role for t in conversation.turns]
        texts = [t.text or "" for t in conversation.turns]
        read = [cache.get(t) or cache.setdefault(t, self.read_text(t)) for t in texts]
        prep = F.dialogue_features(roles, texts, norms=[r[0] for r in read])
        ids = [r[1] for r in read]
        rows = np.repeat(np.arange(len(ids)), [len(i) for i in ids])
        return self._predict([conversation], [prep], (np.concatenate(ids) if ids else np.zeros(0, np.int64), rows))[0]

    def predict_many(self, conversations: Sequence[Any]) -> list[ConversationPrediction]:
        """`predict` of each conversation, computed together: the texts of all of them are
        normalised, looked up and weighted in one pass each, so a batch costs less per
        conversation than one at a time. The same predictions: every row of the batch is computed
        as it would be alone, except that a matrix product over more rows may round the last bit
        (~1e-16) differently, which the predictions' 4 decimals do not show (tests compare them
        with predictions recorded before batching existed)."""
        roles = [[t.role for t in c.turns] for c in conversations]
        texts = [[t.text or "" for t in c.turns] for c in conversations]
        norms = T.normalize_all([text for group in texts for text in group])
        preps, first = [], 0
        for r, group in zip(roles, texts):
            preps.append(F.dialogue_features(r, group, norms=norms[first : first + len(group)]))
            first += len(group)
        return self._predict(conversations, preps, self.vocab.text_ids(norms))

    def _predict(
        self, conversations: Sequence[Any], preps: list[F.DialogueFeatures], ids_rows: tuple[np.ndarray, np.ndarray]
    ) -> list[ConversationPrediction]:
        x = self.text_matrix(preps, ids_rows)
        val, emo, sat = self.customer_stage(preps, x)
        acts: Sequence[TurnActs | None] = [None] * len(preps)
        if self.acts is not None:
            turns = self.vocab.vectorize(*ids_rows, sum(len(prep.norms) for prep in preps) + 1)  # + an empty row
            acts = self.acts.predict(
                [prep.roles for prep in preps],
                [prep.norms for prep in preps],
                turns,
                np.hstack([val[:, None], emo, sat]),
            )
        n_cust = len(val)
        scores = self.dialogue_scores(len(preps), n_cust, x)
        emo_classes = self.heads["emotion"].classes
        sat_classes = self.heads["turn_sat"].classes
        dsat_head = self.heads["dialogue_sat"]
        dialogue_heads = self.dialogue_heads
        if dialogue_heads is None:  # only while training builds the earlier stages
            raise ArtefactError("the dialogue-level heads are missing: retrain with `make models`")
        out, first = [], 0
        for k, (conversation, prep) in enumerate(zip(conversations, preps)):
            cust_rows = slice(first, first + len(prep.cust))
            first = cust_rows.stop
            c_val, c_emo, c_sat = val[cust_rows], emo[cust_rows], sat[cust_rows]
            dsat, *quality_probs = dialogue_heads.proba(
                {ns: block[k : k + 1] for ns, block in scores.items()}, F.dialogue_dense(prep, c_val, c_emo, c_sat)
            )
            quality = {
                key: _probs(self.heads[f"quality_{key}"].classes, p) for key, p in zip(QUALITY_KEYS, quality_probs)
            }
            threat = bool(prep.cue[:, self._threat_col].any()) if prep.cust else False
            p_dis = float(dsat[dsat_head.classes.index("dissatisfied")])
            risk = 1.0 - (1.0 - p_dis) * (1.0 - (THREAT_WEIGHT if threat else 0.0))
            out.append(
                ConversationPrediction.model_validate(
                    {  # one validation of the whole (faster than per part)
                        "conversation_id": str(conversation.id),
                        "emotion": _turn_predictions(prep.cust, emo_classes, carry_emotion(c_emo)),
                        "satisfaction": _turn_predictions(prep.cust, sat_classes, c_sat),
                        "dialogue": {
                            "satisfaction": {
                                "label": dsat_head.classes[int(dsat.argmax())],
                                "probs": _probs(dsat_head.classes, dsat),
                            },
                            "complaint_risk": round(risk, 4),
                            "quality": quality,
                        },
                        "acts": acts[k],
                    }
                )
            )
        return out


def _turn_predictions(turns: list[int], classes: list[str], p: np.ndarray) -> list[dict]:
    """One `TurnPrediction`'s fields per row of `p` (rounded and listed in one numpy call each)."""
    labels = p.argmax(1).tolist() if len(p) else []
    rows = np.round(p, 4).tolist()
    return [
        {"turn": i, "label": classes[k], "probs": dict(zip(classes, row))} for i, k, row in zip(turns, labels, rows)
    ]


def carry_emotion(emo: np.ndarray, carry: float = EMOTION_CARRY) -> np.ndarray:
    """Blend each customer turn's emotion with the (blended) turn before it."""
    if len(emo) < 2 or carry <= 0:
        return emo
    out = emo.copy()
    for i in range(1, len(out)):
        out[i] = (1.0 - carry) * emo[i] + carry * out[i - 1]
    return out


@lru_cache(maxsize=4)
def _load_cached(directory: str) -> Models:
    return Models.load(directory)


def load_models(directory: str | Path | None = None) -> Models:
    """The trained models (cached per directory; the committed artefacts by default)."""
    return _load_cached(str(Path(directory) if directory else ARTEFACTS))


TASKS = ("satisfaction", "emotion", "quality")


# Conversations predicted together (`predict_many`) by `zuoxi predict`, `zuoxi analyze` and the web
# app's rescoring: enough to share the numpy calls and keep the models' tables in the CPU cache,
# few enough that results still stream.
PREDICT_CHUNK = 64


def _predicted(models: Models, conversations: Iterable[Any]) -> Iterator[ConversationPrediction]:
    """Predictions of a stream of conversations, in order, `PREDICT_CHUNK` at a time."""
    stream = iter(conversations)
    while chunk := list(islice(stream, PREDICT_CHUNK)):
        yield from models.predict_many(chunk)


def prediction_records(conversations: Iterable[Any], task: str, models: Models | None = None) -> Iterator[dict]:
    """One JSON-ready record per conversation for `zuoxi predict --task …`.

    Every record is `{"conversation_id", "turns": [{"turn", "label", "probs"}], "dialogue": {…}}`:
    - satisfaction: turns = exchange satisfaction of each customer turn; dialogue =
      `{"label", "probs", "complaint_risk"}`;
    - emotion: turns = emotion of each customer turn; dialogue = `{"label", "probs"}` of the
      mean over customer turns, plus `"peak"` (the highest probability of each emotion);
    - quality: turns = [] (quality is judged per dialogue); dialogue = `{"A", "S", "E"}`, each a
      distribution over "-2"…"2".
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    m = models or load_models()
    for p in _predicted(m, conversations):
        if task == "satisfaction":
            turns = [t.model_dump() for t in p.satisfaction]
            dialogue = {
                "label": p.dialogue.satisfaction.label,
                "probs": dict(p.dialogue.satisfaction.probs),
                "complaint_risk": p.dialogue.complaint_risk,
            }
        elif task == "emotion":
            turns = [t.model_dump() for t in p.emotion]
            classes = m.heads["emotion"].classes
            if turns:
                mat = np.array([[t["probs"][c] for c in classes] for t in turns])
                mean, peak = mat.mean(0), mat.max(0)
                dialogue = {
                    "label": classes[int(mean.argmax())],
                    "probs": _probs(classes, mean),
                    "peak": _probs(classes, peak),
                }
            else:
                dialogue = {"label": None, "probs": {}, "peak": {}}
        else:
            turns = []
            dialogue = {k: dict(v) for k, v in p.dialogue.quality.items()}
        yield {"conversation_id": p.conversation_id, "turns": turns, "dialogue": dialogue}


__all__ = [
    "PREDICT_CHUNK",
    "ArtefactError",
    "ConversationPrediction",
    "DialoguePrediction",
    "LabelProbs",
    "Models",
    "Sparse",
    "TurnPrediction",
    "load_models",
    "prediction_records",
    "softmax",
]
