"""Evaluation measures (numpy only), as the papers define them.

- Classification: accuracy, macro-F1, UAR (unweighted average recall = macro recall), Cohen's
  kappa, F1 of one class against the rest, confusion matrix.
- Distributions over ordinal bins (NTCIR-14 STC-3 dialogue quality; Sakai, "Comparing Two Binned
  Probability Distributions for Information Access Evaluation", SIGIR 2018):
  NMD(p, p*) = Σ_i |cp_i − cp*_i| / (L − 1)   (cp = cumulative distribution, L bins);
  DW_i = Σ_j |i − j| (p_j − p*_j)²;  OD(p ‖ p*) = mean of DW_i over bins i with p*_i > 0;
  RSNOD(p, p*) = sqrt( (OD(p ‖ p*) + OD(p* ‖ p)) / 2 / (L − 1) ).
  Both are averaged over dialogues; lower is better.
"""

from __future__ import annotations

import numpy as np


def confusion(y, p, k: int) -> np.ndarray:
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (np.asarray(y), np.asarray(p)), 1)
    return m


def accuracy(y, p) -> float:
    return float(np.mean(np.asarray(y) == np.asarray(p)))


def _prf(m: np.ndarray):
    tp = np.diag(m).astype(float)
    pred = m.sum(0).astype(float)
    true = m.sum(1).astype(float)
    prec = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    rec = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0)
    return prec, rec, f1, true


def macro_f1(y, p, k: int) -> float:
    _, _, f1, true = _prf(confusion(y, p, k))
    return float(f1[true > 0].mean())


def uar(y, p, k: int) -> float:
    _, rec, _, true = _prf(confusion(y, p, k))
    return float(rec[true > 0].mean())


def class_f1(y, p, cls: int) -> float:
    y = np.asarray(y) == cls
    p = np.asarray(p) == cls
    tp = float(np.sum(y & p))
    denom = float(np.sum(y) + np.sum(p))
    return 2 * tp / denom if denom else 0.0


def cohen_kappa(y, p, k: int) -> float:
    m = confusion(y, p, k).astype(float)
    n = m.sum()
    po = np.trace(m) / n
    pe = float((m.sum(0) * m.sum(1)).sum()) / (n * n)
    return float((po - pe) / (1 - pe)) if pe < 1 else 0.0


def nmd(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Normalised match distance per row (p = system, q = gold; symmetric)."""
    p, q = np.atleast_2d(p), np.atleast_2d(q)
    L = p.shape[1]
    return np.abs(np.cumsum(p, 1) - np.cumsum(q, 1)).sum(1) / (L - 1)


def _od(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """OD(p ‖ q): mean over bins i with q_i > 0 of Σ_j |i − j| (p_j − q_j)²."""
    L = p.shape[1]
    delta = np.abs(np.arange(L)[:, None] - np.arange(L)[None, :])  # (i, j)
    dw = (p - q) ** 2 @ delta.T  # (n, i)
    mask = q > 0
    return (dw * mask).sum(1) / np.maximum(mask.sum(1), 1)


def rsnod(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Root symmetric normalised order-aware divergence per row (p = system, q = gold)."""
    p, q = np.atleast_2d(p), np.atleast_2d(q)
    L = p.shape[1]
    return np.sqrt((_od(p, q) + _od(q, p)) / 2 / (L - 1))
