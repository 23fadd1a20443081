"""Dialogue acts of every turn: what the agent does (apologizes, refuses, deflects, proposes…) and
what the customer does (asks, rejects, threatens a complaint…), read by linear models trained on
turns labelled by careful reading (docs/labelling.md; training_models/acts.py).

A turn is read from its own character n-grams (TF-IDF over the shared vocabulary of `Models`, so
the n-gram look-up the other models already made is reused) plus a few dense features of its
place in the conversation and of the turn before it from the other side (cue counts, position,
length). Each act is a one-vs-rest logistic head; a turn performs an act when the head's
probability reaches the act's threshold (chosen on held-out folds for F1, stored with the weights).
Rules read acts through the `act` operator (zuoxi/rules/operators/signals.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import text as T
from .linear import Block, Sparse, Vocab

AGENT_ACTS = ("greet", "soothe", "apology", "act", "inform", "explain", "refuse", "alternative", "deflect",
              "guarantee", "clarify", "ask_info", "ask_photo", "pending", "followup", "closing", "rude", "argue",
              "return_shipping", "price_principle", "concession", "pay_guide", "courier_timing", "propose")
CUSTOMER_ACTS = ("request", "question", "reject", "anger", "anxiety", "complaint", "accept", "vague", "failure",
                 "nudge", "info")
REQUEST_TYPES = ("query", "change", "return", "refund", "cancel", "exchange", "invoice", "repair", "deliver",
                 "price", "other")
CUSTOMER_OUTPUTS = CUSTOMER_ACTS + tuple(f"request_{t}" for t in REQUEST_TYPES)
OUTPUTS = {"agent": AGENT_ACTS, "customer": CUSTOMER_OUTPUTS}
ACT_NAMES = frozenset(AGENT_ACTS + CUSTOMER_OUTPUTS)
FORMAT = 1

_QUESTION = ("?", "？", "吗", "么")
DENSE_NAMES = (
    [f"self_cue_{n}" for n in T.CUE_NAMES] + [f"self_agent_{n}" for n in T.AGENT_CUE_NAMES]
    + [f"prev_cue_{n}" for n in T.CUE_NAMES] + [f"prev_agent_{n}" for n in T.AGENT_CUE_NAMES]
    + ["has_prev", "first_of_role", "last_turn", "last_of_role", "first_turn", "log_len", "question_end",
       "log_position", "same_role_before"]
)


def dense_features(roles: list[str], norms: list[str]) -> np.ndarray:
    """(turns, DENSE_NAMES) of one conversation: the turn's cue counts, those of the latest earlier
    turn from the other side, and where the turn stands."""
    n = len(roles)
    out = np.zeros((n, len(DENSE_NAMES)), dtype=np.float64)
    log1p = math.log1p
    cues = [[log1p(c) for c in T.cue_counts(s) + T.agent_cue_counts(s)] for s in norms]
    width = len(T.CUE_NAMES) + len(T.AGENT_CUE_NAMES)
    last_of = {role: i for i, role in enumerate(roles)}
    latest: dict[str, int] = {}  # role → its latest turn so far
    for i, (role, s) in enumerate(zip(roles, norms)):
        other = max((t for r, t in latest.items() if r != role), default=None)
        row = out[i]
        row[:width] = cues[i]
        if other is not None:
            row[width:2 * width] = cues[other]
        row[2 * width:] = [other is not None, role not in latest, i == n - 1, last_of[role] == i, i == 0,
                           log1p(len(s)), s.rstrip().endswith(_QUESTION), log1p(i), i > 0 and roles[i - 1] == role]
        latest[role] = i
    return out


@dataclass
class RoleHead:
    """The acts of one role: n-gram weights (a Block over the shared vocabulary), dense weights
    (standardisation folded in), biases and thresholds, one column per act."""

    names: tuple[str, ...]
    block: Block
    dense: np.ndarray  # (len(DENSE_NAMES), K)
    bias: np.ndarray  # (K,)
    thresholds: np.ndarray  # (K,)

    def proba(self, x: Sparse, dense: np.ndarray) -> np.ndarray:
        z = self.block.scores(x).astype(np.float64) + dense @ self.dense + self.bias
        return 1.0 / (1.0 + np.exp(-z))


class TurnActs:
    """The acts of every turn of one conversation: `probs[turn, k]` for act `names[k]` (zero for the
    other role's acts), performed when it reaches `thresholds[k]`."""

    def __init__(self, roles: list[str], probs: np.ndarray, model: ActModel, dense: np.ndarray):
        self.roles = roles
        self.probs = probs
        self.names = model.names
        self.index = model.index
        self.thresholds = model.thresholds
        self._model = model
        self._dense = dense

    def best_clause(self, turn: int, acts: tuple[str, ...], text: str,
                    clauses: list[tuple[int, int]]) -> tuple[int, int] | None:
        """The [start, end) of the clause of `text` that reads most like one of `acts` (None for a
        turn of one clause): the words a finding shows as evidence of an act."""
        if len(clauses) < 2:
            return None
        role = self.roles[turn]
        probs = self._model.clause_probs(role, [text[s:e] for s, e in clauses], self._dense[turn])
        names = OUTPUTS[role]
        columns = [names.index(a) for a in acts if a in names]
        return clauses[int(probs[:, columns].max(1).argmax())] if columns else None

    def prob(self, turn: int, act: str) -> float:
        return float(self.probs[turn, self.index[act]])

    def has(self, turn: int, act: str, threshold: float | None = None) -> bool:
        k = self.index[act]
        return bool(self.probs[turn, k] >= (self.thresholds[k] if threshold is None else threshold))

    def names_of(self, turn: int) -> list[str]:
        """The acts the turn performs (request types included)."""
        return [self.names[k] for k in np.flatnonzero(self.probs[turn] >= self.thresholds)]

    def __len__(self) -> int:
        return len(self.roles)


class ActModel:
    """The per-role act heads, loaded from `acts.npz` / `acts.json` beside the other artefacts."""

    def __init__(self, heads: dict[str, RoleHead], meta: dict, vocab: Vocab):
        self.heads = heads
        self.meta = meta
        self.vocab = vocab
        self.names = AGENT_ACTS + CUSTOMER_OUTPUTS
        self.index = {name: k for k, name in enumerate(self.names)}
        self.thresholds = np.concatenate([heads["agent"].thresholds, heads["customer"].thresholds])
        self._offset = {"agent": 0, "customer": len(AGENT_ACTS)}

    @classmethod
    def load(cls, directory: Path, vocab: Vocab) -> ActModel | None:
        n_vocab = len(vocab)
        meta_path, npz_path = directory / "acts.json", directory / "acts.npz"
        if not meta_path.exists() or not npz_path.exists():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("dense_names") != DENSE_NAMES or meta.get("n_vocab") != n_vocab:
            return None  # built for other features or another vocabulary: acts are left out until retrained
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        heads = {}
        for role, names in OUTPUTS.items():
            if tuple(meta["names"][role]) != names:
                return None
            heads[role] = RoleHead(names, Block.from_rows(n_vocab, arrays[f"{role}_rows"], arrays[f"{role}_W"]),
                                   arrays[f"{role}_dense"].astype(np.float64), arrays[f"{role}_bias"].astype(np.float64),
                                   arrays[f"{role}_thresholds"].astype(np.float64))
        return cls(heads, meta, vocab)

    def clause_probs(self, role: str, texts: list[str], dense_row: np.ndarray) -> np.ndarray:
        """The role's act probabilities of parts of one turn, each read as if it were the whole turn."""
        norms = T.normalize_all(texts)
        x = self.vocab.vectorize(*self.vocab.text_ids(norms), len(norms))
        return self.heads[role].proba(x, np.repeat(dense_row[None, :], len(texts), axis=0))

    def predict(self, roles: list[list[str]], norms: list[list[str]], x: Sparse) -> list[TurnActs]:
        """The acts of every turn of several conversations; `x` holds one TF-IDF row per turn, all
        conversations' turns one after another."""
        flat_roles = [r for group in roles for r in group]
        dense = np.vstack([dense_features(r, s) for r, s in zip(roles, norms)]) if flat_roles else \
            np.zeros((0, len(DENSE_NAMES)))
        probs = np.zeros((len(flat_roles), len(self.names)))
        role_arr = np.asarray(flat_roles)
        for role, head in self.heads.items():
            rows = np.flatnonzero(role_arr == role)
            if not len(rows):
                continue
            off = self._offset[role]
            probs[rows, off:off + len(head.names)] = head.proba(_take_rows(x, rows), dense[rows])
        out, first = [], 0
        for group in roles:
            turns = slice(first, first + len(group))
            out.append(TurnActs(group, probs[turns], self, dense[turns]))
            first += len(group)
        return out


def _take_rows(x: Sparse, rows: np.ndarray) -> Sparse:
    """The texts `rows` of a Sparse batch, as a batch of their own."""
    ends = np.append(x.starts[1:], len(x.ids))
    lengths = ends[rows] - x.starts[rows]
    index = np.repeat(x.starts[rows] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return Sparse(x.ids[index], x.vals[index], starts)
