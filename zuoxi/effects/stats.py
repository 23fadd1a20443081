"""The intervals behind every effect: Newcombe for a difference of two rates, Mantel–Haenszel with
Sato's variance for a rate difference within strata, and the percentile bootstrap for means.

numpy only (no scipy at run time). Every function returns `Estimate`s whose interval is None when
the counts cannot support one, so a page never shows a number that was not computed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from zuoxi.campaigns.analytics import Z95, wilson

BOOTSTRAP_ROUNDS = 1000
LARGE = 1000  # values in a group beyond which the bootstrap means are drawn from their normal limit
_CHUNK = 4_000_000  # indices drawn at once by the bootstrap: bounds its memory (32 MB) whatever the data size


class Estimate(BaseModel):
    """A difference (or a change) with its 95 % interval."""

    value: float
    low: float | None = None
    high: float | None = None

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def newcombe(events1: int, n1: int, events0: int, n0: int) -> Estimate | None:
    """p1 − p0 with Newcombe's hybrid score interval (his method 10, from the two Wilson intervals):
    it stays inside [−1, 1] and keeps its coverage for small counts and rates near 0 or 1."""
    if n1 == 0 or n0 == 0:
        return None
    (p1, low1, high1), (p0, low0, high0) = _interval(events1, n1), _interval(events0, n0)
    d = p1 - p0
    return Estimate(
        value=d,
        low=d - math.hypot(p1 - low1, high0 - p0),
        high=d + math.hypot(high1 - p1, p0 - low0),
    )


def _interval(events: int, n: int) -> tuple[float, float, float]:
    """The rate and its Wilson interval, for n > 0 (where wilson fills them all)."""
    rate = wilson(events, n)
    assert rate.rate is not None and rate.low is not None and rate.high is not None, "n > 0"
    return rate.rate, rate.low, rate.high


def mantel_haenszel(strata: Sequence[tuple[int, int, int, int]]) -> Estimate | None:
    """The Mantel–Haenszel risk difference over strata of (events1, n1, events0, n0), with Sato's
    (1989) variance, which holds both for a few large strata and for many sparse ones (one per
    length band × topic × …). Strata lacking either group carry no information and are skipped."""
    if not strata:
        return None
    e1, n1, e0, n0 = np.array(strata, dtype=float).T
    keep = (n1 > 0) & (n0 > 0)
    if not keep.any():
        return None
    e1, n1, e0, n0 = e1[keep], n1[keep], e0[keep], n0[keep]
    t = n1 + n0
    w = n1 * n0 / t
    d = float(np.sum((e1 * n0 - e0 * n1) / t) / w.sum())
    p = (n1**2 * e0 - n0**2 * e1 + n1 * n0 * (n0 - n1) / 2) / t**2
    q = (e1 * (n0 - e0) + e0 * (n1 - e1)) / (2 * t)
    variance = (d * p.sum() + q.sum()) / w.sum() ** 2
    if variance <= 0:  # no events (or only events) in every stratum: no spread to estimate, so no interval
        return Estimate(value=d)
    half = Z95 * math.sqrt(variance)
    return Estimate(value=d, low=max(-1.0, d - half), high=min(1.0, d + half))


def boot_means(values: np.ndarray, rng: np.random.Generator, rounds: int = BOOTSTRAP_ROUNDS) -> np.ndarray:
    """`rounds` bootstrap means of `values`. Above LARGE values they are drawn from the normal limit
    of the bootstrap distribution (the same mean and variance; the skew it leaves out shrinks as
    1/√n), which keeps a page over tens of thousands of conversations to seconds; below, by
    resampling, in chunks that bound the memory."""
    n = len(values)
    if n == 1:
        return np.full(rounds, float(values[0]))
    if n > LARGE:
        return rng.normal(values.mean(), values.std() / math.sqrt(n), rounds)
    step = max(1, _CHUNK // n)
    return np.concatenate(
        [values[rng.integers(0, n, size=(min(step, rounds - i), n))].mean(axis=1) for i in range(0, rounds, step)]
    )


def boot_ratios(
    numerators: np.ndarray, denominators: np.ndarray, rng: np.random.Generator, rounds: int = BOOTSTRAP_ROUNDS
) -> np.ndarray:
    """Bootstrap draws of Σ numerators / Σ denominators, resampling the pairs (conversations) together;
    a draw whose denominators sum to 0 is NaN."""
    n = len(numerators)
    step = max(1, _CHUNK // n)
    draws = []
    for i in range(0, rounds, step):
        idx = rng.integers(0, n, size=(min(step, rounds - i), n))
        den = denominators[idx].sum(axis=1)
        draws.append(np.divide(numerators[idx].sum(axis=1), den, out=np.full(len(den), np.nan), where=den > 0))
    return np.concatenate(draws)


def interval(draws: np.ndarray, value: float) -> Estimate:
    """`value` with the 2.5th and 97.5th percentiles of its bootstrap draws; no interval when over
    half of the draws were undefined (NaN: a resample without the denominator)."""
    defined = draws[~np.isnan(draws)]
    if 2 * len(defined) < len(draws) or len(defined) == 0:
        return Estimate(value=value)
    low, high = np.percentile(defined, [2.5, 97.5])
    return Estimate(value=value, low=float(low), high=float(high))


def mean_difference(
    shown: np.ndarray, missed: np.ndarray, rng: np.random.Generator, rounds: int = BOOTSTRAP_ROUNDS
) -> Estimate | None:
    """mean(shown) − mean(missed), percentile bootstrap (each group resampled on its own)."""
    if len(shown) == 0 or len(missed) == 0:
        return None
    value = float(shown.mean() - missed.mean())
    return interval(boot_means(shown, rng, rounds) - boot_means(missed, rng, rounds), value)


def stratified_mean_difference(
    cells: Sequence[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator, rounds: int = BOOTSTRAP_ROUNDS
) -> Estimate | None:
    """Σ w_k (mean1_k − mean0_k) / Σ w_k over strata of (shown values, missed values), with the
    Mantel–Haenszel weights w_k = n1 n0 / (n1 + n0); the bootstrap resamples within each stratum
    and group, so the strata's sizes stay as observed."""
    cells = [(a, b) for a, b in cells if len(a) and len(b)]
    if not cells:
        return None
    w = np.array([len(a) * len(b) / (len(a) + len(b)) for a, b in cells])
    value = float(sum(wk * (a.mean() - b.mean()) for wk, (a, b) in zip(w, cells)) / w.sum())
    draws = sum(wk * (boot_means(a, rng, rounds) - boot_means(b, rng, rounds)) for wk, (a, b) in zip(w, cells))
    return interval(draws / w.sum(), value)
