"""Sparse character n-gram vectors and linear heads in plain numpy (no scikit-learn at run time).

A text becomes a TF-IDF vector over a fixed n-gram vocabulary (sublinear tf × idf, L2-normalised).
Several texts are kept together as one flat `Sparse` batch: `ids`/`vals` of all texts one after
another, `starts` where each text begins. Every text starts with a sentinel entry (id = V, value 0)
so no text is ever empty, which lets `np.add.reduceat` sum each text's rows in one call.

A `Block` holds the n-gram weights of every head that reads one text namespace ("turn": one
customer turn; "dcust"/"dagent": all customer/agent turns of a conversation); a `Head` adds its
dense weights and bias and turns scores into probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import text as T


@dataclass
class Sparse:
    ids: np.ndarray  # int64, global n-gram ids (V = sentinel)
    vals: np.ndarray  # float32
    starts: np.ndarray  # int64, one per text

    @property
    def n(self) -> int:
        return len(self.starts)

    def rows(self, lo: int, hi: int) -> Sparse:
        """Texts lo…hi-1 of the batch."""
        first = int(self.starts[lo]) if lo < self.n else len(self.ids)
        last = int(self.starts[hi]) if hi < self.n else len(self.ids)
        return Sparse(self.ids[first:last], self.vals[first:last], self.starts[lo:hi] - first)

    def to_csr(self, n_cols: int):
        """scipy CSR matrix (training only)."""
        from scipy import sparse

        indptr = np.append(self.starts, len(self.ids))
        return sparse.csr_matrix((self.vals, self.ids, indptr), shape=(self.n, n_cols))


class Vocab:
    """The n-gram vocabulary: id ↔ `text.gram_key`, and the idf of every id (plus the sentinel's).

    Looking n-grams up is a binary search of their keys in the sorted vocabulary keys (numpy),
    not a dictionary of strings: no Python object per n-gram, a quarter of the memory."""

    def __init__(self, keys: np.ndarray, idf: np.ndarray, grams: list[str] | None = None):
        if len(idf) != len(keys) + 1:
            raise ValueError("idf must have one entry per n-gram plus the sentinel")
        self.keys = np.asarray(keys, dtype=np.int64)
        self.grams = grams  # the strings, kept only where they were given (training writes them)
        self.idf = np.asarray(idf, dtype=np.float32)
        self.sentinel = len(self.keys)
        self._order = np.argsort(self.keys, kind="stable")
        self._sorted = self.keys[self._order]
        if len(self._sorted) > 1 and not (np.diff(self._sorted) > 0).all():
            raise ValueError("the vocabulary holds an n-gram twice")

    def __len__(self) -> int:
        return self.sentinel

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Vocabulary ids of n-gram keys, -1 for unknown ones."""
        if not len(keys) or not self.sentinel:
            return np.full(len(keys), -1, dtype=np.int64)
        uniq, inverse = np.unique(keys, return_inverse=True)  # sorted queries search faster
        pos = np.minimum(np.searchsorted(self._sorted, uniq), self.sentinel - 1)
        ids = np.where(self._sorted[pos] == uniq, self._order[pos], -1)
        return ids[inverse.reshape(-1)]

    def text_ids(self, norms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, rows): the known n-grams of normalised texts and the text each came from."""
        keys, rows = T.gram_keys(norms)
        ids = self.lookup(keys)
        known = ids >= 0
        return ids[known], rows[known]

    def vectorize_texts(self, norms: list[str]) -> Sparse:
        return self.vectorize(*self.text_ids(norms), len(norms))

    def vectorize(self, ids: np.ndarray, rows: np.ndarray, n: int) -> Sparse:
        """TF-IDF rows (sublinear tf, L2-normalised) of `n` texts whose n-gram ids are `ids`,
        `rows` saying which text each belongs to."""
        width = self.sentinel + 1
        keys = np.concatenate([np.arange(n, dtype=np.int64) * width + self.sentinel, rows * width + ids])
        uniq, tf = np.unique(keys, return_counts=True)
        row_of = uniq // width
        id_arr = uniq - row_of * width
        starts = np.searchsorted(row_of, np.arange(n, dtype=np.int64))
        vals = (1.0 + np.log(tf.astype(np.float32))) * self.idf[id_arr]
        if n:
            norms = np.sqrt(np.add.reduceat(vals * vals, starts))
            norms[norms == 0] = 1.0
            vals /= np.repeat(norms, np.diff(np.append(starts, len(id_arr))))
        return Sparse(id_arr, vals.astype(np.float32), starts.astype(np.int64))


@dataclass
class Block:
    """n-gram weights of one namespace: `W[rowmap[id]]`; rows absent from training map to zero."""

    rowmap: np.ndarray  # int32 (V + 1,)
    W: np.ndarray  # float32 (R + 1, K); the last row is zeros

    @classmethod
    def from_rows(cls, n_vocab: int, rows: np.ndarray, W: np.ndarray) -> Block:
        rowmap = np.full(n_vocab + 1, len(rows), dtype=np.int32)
        rowmap[rows] = np.arange(len(rows), dtype=np.int32)
        full = np.vstack([np.asarray(W, dtype=np.float32), np.zeros((1, W.shape[1]), np.float32)])
        return cls(rowmap, full)

    def scores(self, x: Sparse) -> np.ndarray:
        if x.n == 0:
            return np.zeros((0, self.W.shape[1]), dtype=np.float32)
        g = self.W[self.rowmap[x.ids]] * x.vals[:, None]
        return np.add.reduceat(g, x.starts, axis=0)


@dataclass
class Head:
    name: str
    classes: list[str]
    text: dict[str, tuple[int, int]]  # namespace -> column range in that block
    dense: np.ndarray  # (D, K), standardisation folded in
    bias: np.ndarray  # (K,)
    dense_names: list[str] = field(default_factory=list)

    def logits(self, block_scores: dict[str, np.ndarray], dense: np.ndarray | None) -> np.ndarray:
        out = None
        for ns, (lo, hi) in self.text.items():
            part = block_scores[ns][:, lo:hi]
            out = part.astype(np.float64) if out is None else out + part
        if dense is not None and self.dense.size:
            d = (dense.reshape(1, -1) if dense.ndim == 1 else dense) @ self.dense
            out = d if out is None else out + d
        return out + self.bias

    def proba(self, block_scores: dict[str, np.ndarray], dense: np.ndarray | None) -> np.ndarray:
        return softmax(self.logits(block_scores, dense))


class HeadGroup:
    """Several heads reading the same inputs (one row each), computed together: one matrix
    product and one softmax per group instead of a dozen numpy calls per head. Equal to each
    head's own `proba` up to floating-point rounding (last bits, ~1e-16: the wider product and
    the segment sums may add in another order)."""

    def __init__(self, heads: list[Head]):
        self.sizes = [len(h.classes) for h in heads]
        self.starts = np.cumsum([0] + self.sizes[:-1])
        self.bias = np.concatenate([h.bias for h in heads])
        names = {tuple(h.dense_names) for h in heads}
        if len(names) != 1:
            raise ValueError("heads of a group must read the same dense features")
        self.dense = np.hstack(
            [h.dense if h.dense.size else np.zeros((len(heads[0].dense_names), k)) for h, k in zip(heads, self.sizes)]
        )
        # per namespace: the block column feeding each output; -1 (a zero) where a head reads none
        self.columns = {}
        for ns in dict.fromkeys(ns for h in heads for ns in h.text):
            cols = [np.arange(*h.text[ns]) if ns in h.text else np.full(k, -1) for h, k in zip(heads, self.sizes)]
            self.columns[ns] = np.concatenate(cols)

    def proba(self, block_scores: dict[str, np.ndarray], dense: np.ndarray) -> list[np.ndarray]:
        """One probability vector per head, for a single row of inputs."""
        out = None
        for ns, cols in self.columns.items():
            row = np.append(block_scores[ns][0], 0.0)  # column -1 reads this zero
            part = row[cols]
            out = part.astype(np.float64) if out is None else out + part
        d = dense.reshape(1, -1) @ self.dense
        z = (d[0] if out is None else out + d[0]) + self.bias
        z = z - np.repeat(np.maximum.reduceat(z, self.starts), self.sizes)
        e = np.exp(z)
        p = e / np.repeat(np.add.reduceat(e, self.starts), self.sizes)
        return np.split(p, self.starts[1:])


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - np.maximum.reduce(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / np.add.reduce(e, axis=-1, keepdims=True)
