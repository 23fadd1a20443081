"""Learning curves: how the two accuracy goals would move with more training data.

The deployed recipes, retrained on nested random shares of each fold's training part and tested
on the same held-out folds as `satisfaction_jddc.py` and `sentiment_reviews.py`:

- jddc_uss exchange satisfaction (`turn_sat`): 1/8 … all of the training dialogues of each of the
  5 folds by dialogue (the valence and emotion stages, trained on other sets, stay fixed);
- review valence on online_shopping_10_cats: 1/16 … all of the training reviews (both review
  sets, as deployed) of each of the 5 folds by unique text.

A straight line through accuracy against log2(training size) is extended to where the goal would
be met. That is a rough, optimistic guide — learning curves of a fixed model flatten — not a
promise; it says whether more data of the same kind, or a different kind of model, is what is
missing.

    python eval/learning_curves.py [--data ../shared/data]
"""

from __future__ import annotations

import numpy as np
from _common import args, note, setup, table

from training_models import metrics as M
from training_models import models as TR

JDDC_SHARES = (1 / 8, 1 / 4, 1 / 2, 1.0)
REVIEW_SHARES = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
USDA_TRAIN_DIALOGUES = 2640  # the USDA train split, not available here (data/jddc_uss/SOURCE.md)


def nested_share(items: np.ndarray, share: float, seed: int) -> np.ndarray:
    """The first `share` of `items` in a seeded random order: smaller shares are subsets of larger ones."""
    order = np.random.RandomState(seed).permutation(len(items))
    return items[np.sort(order[: max(1, round(share * len(items)))])]


def trend(sizes: list[float], accs: list[float], goal: float) -> tuple[float, float, float]:
    """(slope per doubling, intercept, training size at which the line reaches `goal`)."""
    slope, intercept = np.polyfit(np.log2(sizes), accs, 1)
    needed = 2 ** ((goal - intercept) / slope) if slope > 0 else float("inf")
    return float(slope), float(intercept), float(needed)


def jddc_curve(corp, base) -> tuple[list[list], tuple]:
    n = len(corp.jddc)
    dlg = np.arange(n)
    X, dense, y, g = TR.jddc_turn_rows(corp, base, dlg)
    lab = y >= 0
    folds = TR.group_folds(g)
    dfold = TR.group_folds(dlg)
    rows, sizes, accs = [], [], []
    for share in JDDC_SHARES:
        pred = np.full(len(y), -1)
        used = []
        for k in range(TR.N_FOLDS):
            keep = nested_share(dlg[dfold != k], share, seed=TR.SEED + k)
            used.append(len(keep))
            tr, te = np.isin(g, keep), folds == k
            f = TR.fit_turn_sat(X[tr], dense[tr], y[tr])
            pred[te] = TR.predict_fitted(f, {"turn": X[te]}, dense[te]).argmax(1)
        yl, pl = y[lab], pred[lab]
        size = float(np.mean(used))
        rows.append([f"{share:g}", f"{size:.0f}", M.accuracy(yl, pl), M.uar(yl, pl, 3)])
        sizes.append(size)
        accs.append(M.accuracy(yl, pl))
        note(f"jddc share {share:g}")
    return rows, trend(sizes, accs, 0.65)


def review_curve(corp, vocab) -> tuple[list[list], tuple]:
    src, y = corp.reviews_src, corp.reviews_y
    keys = np.array([f"{s}\t{t}" for s, t in zip(src, corp.reviews_norm)])
    folds = TR.group_folds(keys)
    X = vocab.vectorize_texts(corp.reviews_norm).to_csr(len(vocab) + 1)
    shop = src == "online_shopping"
    rows, sizes, accs = [], [], []
    for share in REVIEW_SHARES:
        pred = np.zeros(len(y), dtype=int)
        used = []
        for k in range(TR.N_FOLDS):
            tr = nested_share(np.nonzero(folds != k)[0], share, seed=TR.SEED + k)
            te = np.nonzero(folds == k)[0]
            used.append(len(tr))
            head = TR.fit_valence(corp, vocab, tr)
            pred[te] = (TR.predict_fitted(head, {"turn": X[te]}, None)[:, 1] >= 0.5).astype(int)
            note(f"reviews share {share:g} fold {k + 1}/{TR.N_FOLDS}")
        size = float(np.mean(used))
        acc = M.accuracy(y[shop], pred[shop])
        rows.append([f"{share:g}", f"{size:.0f}", acc, M.macro_f1(y[shop], pred[shop], 2)])
        sizes.append(size)
        accs.append(acc)
    return rows, trend(sizes, accs, 0.95)


def main() -> None:
    a = args(__doc__)
    corp, vocab = setup(a)
    _, _, _, base = TR.text_stages(corp, vocab)
    note("valence and emotion stages trained (reviews, Weibo)")

    rows, (slope, _, needed) = jddc_curve(corp, base)
    print(
        f"Learning curves, 5-fold cross-validation (seed {TR.SEED}); nested random shares of each fold's training part"
    )
    table(
        "jddc_uss exchange-level satisfaction (deployed turn_sat recipe)",
        ["share of training dialogues", "training dialogues per fold", "accuracy", "UAR"],
        rows,
    )
    print(
        f"\nAccuracy gains {slope:+.3f} per doubling of the dialogues; a straight line in log2(size) reaches "
        f"0.65 at about {needed:,.0f} training dialogues (the USDA train split has {USDA_TRAIN_DIALOGUES:,}; "
        f"{len(corp.jddc)} dialogues are here)."
    )

    rows, (slope, _, needed) = review_curve(corp, vocab)
    table(
        "online_shopping_10_cats sentiment (deployed valence recipe, trained on both review sets)",
        ["share of training reviews", "training reviews per fold", "online_shopping accuracy", "macro-F1"],
        rows,
    )
    print(
        f"\nAccuracy gains {slope:+.3f} per doubling of the reviews; a straight line in log2(size) reaches "
        f"0.95 at about {needed:,.0f} training reviews ({len(corp.reviews_y):,} are here)."
    )


if __name__ == "__main__":
    main()
