"""Dialogue acts of every turn: what the agent does (apologizes, refuses, deflects, proposes…) and
what the customer does (asks, rejects, threatens a complaint…), read by linear models trained on
turns labelled by careful reading (docs/labelling.md; training_models/acts.py).

A turn is read from its own character n-grams (TF-IDF over the shared vocabulary of `Models`, so
the n-gram look-up the other models already made is reused), the n-grams of the latest earlier turn
from the other side (with weights of their own: what the customer rejects or accepts is in the
agent's turn before), a few dense features of its place in the conversation (cue counts,
position, length), and for a customer turn what the other models read in it (valence, emotion,
exchange satisfaction: the emotion head learnt anger from Weibo posts, which the acts' own labels
have fewer of). Each act is a one-vs-rest logistic head; a turn performs an act when the head's
probability reaches the act's threshold (chosen on held-out folds: the highest within 0.002 of the best F1,
stored with the weights).
Rules read acts through the `act` operator (zuoxi/rules/operators/signals.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from . import features as F
from . import text as T
from .linear import Block, Sparse, Vocab

AGENT_ACTS = (
    "greet",
    "soothe",
    "apology",
    "act",
    "inform",
    "explain",
    "refuse",
    "alternative",
    "deflect",
    "guarantee",
    "clarify",
    "ask_info",
    "ask_photo",
    "pending",
    "followup",
    "closing",
    "rude",
    "argue",
    "return_shipping",
    "price_principle",
    "concession",
    "pay_guide",
    "courier_timing",
    "propose",
)
CUSTOMER_ACTS = (
    "request",
    "question",
    "reject",
    "anger",
    "anxiety",
    "complaint",
    "accept",
    "vague",
    "failure",
    "nudge",
    "info",
)
REQUEST_TYPES = (
    "query",
    "change",
    "return",
    "refund",
    "cancel",
    "exchange",
    "invoice",
    "repair",
    "deliver",
    "price",
    "other",
)
CUSTOMER_OUTPUTS = CUSTOMER_ACTS + tuple(f"request_{t}" for t in REQUEST_TYPES)
OUTPUTS = {"agent": AGENT_ACTS, "customer": CUSTOMER_OUTPUTS}
ACT_NAMES = frozenset(AGENT_ACTS + CUSTOMER_OUTPUTS)
FORMAT = 3
UNTRAINED = 0.99  # the threshold training gives an act with too few labelled examples

_QUESTION = ("?", "？", "吗", "么")
DENSE_NAMES = (
    [f"self_cue_{n}" for n in T.CUE_NAMES]
    + [f"self_agent_{n}" for n in T.AGENT_CUE_NAMES]
    + [f"prev_cue_{n}" for n in T.CUE_NAMES]
    + [f"prev_agent_{n}" for n in T.AGENT_CUE_NAMES]
    + [
        "has_prev",
        "first_of_role",
        "last_turn",
        "last_of_role",
        "first_turn",
        "log_len",
        "question_end",
        "log_position",
        "same_role_before",
    ]
    + ["valence"]
    + [f"emotion_{e}" for e in F.EMOTIONS]
    + [f"satisfaction_{s}" for s in F.SATISFACTION]
)
N_READ = 1 + len(F.EMOTIONS) + len(F.SATISFACTION)  # the last dense columns: the customer stage's reading


def previous_other(roles: list[str]) -> list[int]:
    """For each turn, the latest earlier turn from the other side (-1 when there is none)."""
    latest: dict[str, int] = {}
    out = []
    for i, role in enumerate(roles):
        out.append(max((t for r, t in latest.items() if r != role), default=-1))
        latest[role] = i
    return out


def dense_features(roles: list[str], norms: list[str], read: np.ndarray | None = None) -> np.ndarray:
    """(turns, DENSE_NAMES) of one conversation: the turn's cue counts, those of the latest earlier
    turn from the other side, where the turn stands, and `read` — (customer turns, N_READ): valence,
    emotion and satisfaction of each customer turn, in order (zeros without them)."""
    n = len(roles)
    out = np.zeros((n, len(DENSE_NAMES)), dtype=np.float64)
    log1p = math.log1p
    cues = [T.log_counts(T.cue_counts(s) + T.agent_cue_counts(s)) for s in norms]
    width = len(T.CUE_NAMES) + len(T.AGENT_CUE_NAMES)
    last_of = {role: i for i, role in enumerate(roles)}
    latest: dict[str, int] = {}  # role → its latest turn so far
    for i, (role, s) in enumerate(zip(roles, norms)):
        other = max((t for r, t in latest.items() if r != role), default=None)
        row = out[i]
        row[:width] = cues[i]
        if other is not None:
            row[width : 2 * width] = cues[other]
        row[2 * width : 2 * width + 9] = [
            other is not None,
            role not in latest,
            i == n - 1,
            last_of[role] == i,
            i == 0,
            log1p(len(s)),
            s.rstrip().endswith(_QUESTION),
            log1p(i),
            i > 0 and roles[i - 1] == role,
        ]
        latest[role] = i
    if read is not None and len(read):
        out[[i for i, r in enumerate(roles) if r == "customer"], -N_READ:] = read
    return out


@dataclass
class RoleHead:
    """The acts of one role: n-gram weights (a Block over the shared vocabulary), dense weights
    (standardisation folded in), biases and thresholds, one column per act."""

    names: tuple[str, ...]
    block: Block  # the turn's own n-grams
    before: Block  # the n-grams of the other side's turn before it
    dense: np.ndarray  # (len(DENSE_NAMES), K)
    bias: np.ndarray  # (K,)
    thresholds: np.ndarray  # (K,)

    def proba(self, x: Sparse, x_before: Sparse, dense: np.ndarray) -> np.ndarray:
        z = self.block.scores(x).astype(np.float64) + self.before.scores(x_before) + dense @ self.dense + self.bias
        return 1.0 / (1.0 + np.exp(-z))


class TurnActs:
    """The acts of every turn of one conversation: `probs[turn, k]` for act `names[k]` (zero for the
    other role's acts), performed when it reaches `thresholds[k]`."""

    def __init__(self, roles: list[str], probs: np.ndarray, model: ActModel, dense: np.ndarray, before: Sparse | None):
        self.roles = roles
        self.probs = probs
        self.names = model.names
        self.index = model.index
        self.thresholds = model.thresholds
        self.trained = model.trained
        self._model = model
        self._dense = dense
        self._before = before  # each turn's row of the other side's turn before it

    def with_rows(self, roles: list[str], probs: np.ndarray) -> TurnActs:
        """Acts of other turns read by the same model (live assist keeps each turn's row as it came);
        their evidence is the whole turn."""
        return TurnActs(roles, probs, self._model, np.zeros((len(roles), len(DENSE_NAMES))), None)

    def best_clauses(
        self, asks: list[tuple[int, tuple[str, ...], str, list[tuple[int, int]]]]
    ) -> list[tuple[int, int] | None]:
        """For each (turn, acts, text, clauses) asked, the [start, end) of the clause of `text` that reads
        most like one of `acts` (None for a turn of one clause): the words a finding shows as evidence of
        an act. The clauses of every turn asked about are read together, one pass per role (a pass costs
        about as much for one turn as for ten)."""
        out: list[tuple[int, int] | None] = [None] * len(asks)
        if self._before is None:
            return out
        rows: dict[int, tuple[int, int]] = {}  # turn → its clauses' rows in its role's batch
        batches: dict[str, tuple[list[str], list[int]]] = {}
        for turn, _, text, clauses in asks:
            if len(clauses) < 2 or turn in rows:
                continue
            texts, owners = batches.setdefault(self.roles[turn], ([], []))
            rows[turn] = (len(texts), len(texts) + len(clauses))
            texts.extend(text[s:e] for s, e in clauses)
            owners.extend([turn] * len(clauses))
        probs = {
            role: self._model.clause_probs(
                role, texts, self._dense[owners], _take_rows(self._before, np.asarray(owners, dtype=np.int64))
            )
            for role, (texts, owners) in batches.items()
        }
        for i, (turn, acts, _, clauses) in enumerate(asks):
            if turn not in rows:
                continue
            names = OUTPUTS[self.roles[turn]]
            columns = [names.index(a) for a in acts if a in names]
            if columns:
                first, stop = rows[turn]
                out[i] = clauses[int(probs[self.roles[turn]][first:stop, columns].max(1).argmax())]
        return out

    @cached_property
    def table(self) -> list[list[float]]:
        """`probs` as Python lists: the rules compare a few of a turn's acts at a time, where indexing
        a numpy row costs more than the comparison."""
        return self.probs.tolist()

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
        self.trained = self.thresholds < UNTRAINED  # heads training left out for too few examples
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
            heads[role] = RoleHead(
                names,
                Block.from_rows(n_vocab, arrays[f"{role}_rows"], arrays[f"{role}_W"]),
                Block.from_rows(n_vocab, arrays[f"{role}_before_rows"], arrays[f"{role}_before_W"]),
                arrays[f"{role}_dense"].astype(np.float64),
                arrays[f"{role}_bias"].astype(np.float64),
                arrays[f"{role}_thresholds"].astype(np.float64),
            )
        return cls(heads, meta, vocab)

    def clause_probs(self, role: str, texts: list[str], dense: np.ndarray, before: Sparse) -> np.ndarray:
        """The role's act probabilities of parts of turns, each read as if it were the whole turn
        (`dense`, `before`: per part, its turn's dense features and the other side's turn before it)."""
        norms = T.normalize_all(texts)
        x = self.vocab.vectorize(*self.vocab.text_ids(norms), len(norms))
        return self.heads[role].proba(x, before, dense)

    def predict(self, roles: list[list[str]], norms: list[list[str]], x: Sparse, read: np.ndarray) -> list[TurnActs]:
        """The acts of every turn of several conversations; `x` holds one TF-IDF row per turn, all
        conversations' turns one after another, and one empty row after them; `read` the customer
        stage's reading of every customer turn, in the same order (`dense_features`)."""
        flat_roles = [r for group in roles for r in group]
        n = len(flat_roles)
        dense_rows, first = [], 0
        for r, s in zip(roles, norms):
            k = r.count("customer")
            dense_rows.append(dense_features(r, s, read[first : first + k]))
            first += k
        dense = np.vstack(dense_rows) if flat_roles else np.zeros((0, len(DENSE_NAMES)))
        before: list[int] = []
        first = 0
        for group in roles:
            before.extend(first + b if b >= 0 else n for b in previous_other(group))
            first += len(group)
        x_before = _take_rows(x, np.asarray(before, dtype=np.int64))
        probs = np.zeros((n, len(self.names)))
        role_arr = np.asarray(flat_roles)
        for role, head in self.heads.items():
            rows = np.flatnonzero(role_arr == role)
            if not len(rows):
                continue
            off = self._offset[role]
            probs[rows, off : off + len(head.names)] = head.proba(
                _take_rows(x, rows), _take_rows(x_before, rows), dense[rows]
            )
        out, first = [], 0
        for group in roles:
            turns = slice(first, first + len(group))
            out.append(
                TurnActs(
                    group,
                    probs[turns],
                    self,
                    dense[turns],
                    _take_rows(x_before, np.arange(turns.start, turns.stop, dtype=np.int64)),
                )
            )
            first += len(group)
        return out


def _take_rows(x: Sparse, rows: np.ndarray) -> Sparse:
    """The texts `rows` of a Sparse batch, as a batch of their own."""
    ends = np.append(x.starts[1:], len(x.ids))
    lengths = ends[rows] - x.starts[rows]
    index = np.repeat(x.starts[rows] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(
        lengths.sum()
    )
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return Sparse(x.ids[index], x.vals[index], starts)
