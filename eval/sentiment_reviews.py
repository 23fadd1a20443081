"""Review sentiment (the valence stage) on online_shopping_10_cats and waimai_10k.

5-fold cross-validation; folds are assigned by unique normalised review text, so identical
reviews never straddle train and test (the hidden hold-out was split the same way). In each
fold the valence head is trained on the other folds of BOTH sets (as the deployed model is) and
tested on the held-out fold of each set.

    python eval/sentiment_reviews.py [--data ../shared/data]
"""

from __future__ import annotations

import numpy as np
from _common import args, note, setup, table

from training_models import metrics as M
from training_models import models as TR


def main() -> None:
    a = args(__doc__)
    corp, vocab = setup(a)
    src = corp.reviews_src
    y = corp.reviews_y
    # fold by unique text (within each set)
    keys = np.array([f"{s}\t{t}" for s, t in zip(src, corp.reviews_norm)])
    folds = TR.group_folds(keys)
    X = vocab.vectorize_texts(corp.reviews_norm).to_csr(len(vocab) + 1)
    P = np.zeros(len(y))
    for f in range(TR.N_FOLDS):
        tr, te = np.nonzero(folds != f)[0], np.nonzero(folds == f)[0]
        head = TR.fit_valence(corp, vocab, tr)
        P[te] = TR.predict_fitted(head, {"turn": X[te]}, None)[:, 1]
        note(f"fold {f + 1}/{TR.N_FOLDS}")
    pred = (P >= 0.5).astype(int)
    rows_maj, rows_m = ["majority class"], ["zuoxi valence (char 1-3-grams, logistic regression)"]
    sizes = []
    for s in ("online_shopping", "waimai"):
        m = src == s
        maj = np.bincount(y[m], minlength=2).argmax()
        rows_maj += [M.accuracy(y[m], np.full(m.sum(), maj)), M.macro_f1(y[m], np.full(m.sum(), maj), 2)]
        rows_m += [M.accuracy(y[m], pred[m]), M.macro_f1(y[m], pred[m], 2)]
        sizes.append(f"{s}: {m.sum()} reviews, {len(set(keys[m]))} unique")
    print("; ".join(sizes) + f"; {TR.N_FOLDS}-fold cross-validation, folds by unique text, seed {TR.SEED}")
    table(
        "Review sentiment (positive / negative), held-out folds",
        ["model", "online_shopping acc", "online_shopping macro-F1", "waimai acc", "waimai macro-F1"],
        [rows_maj, rows_m],
    )
    cats = corp.reviews_cat
    m = src == "online_shopping"
    rows = []
    for c in sorted(set(cats[m])):
        k = m & (cats == c)
        rows.append([c, int(k.sum()), M.accuracy(y[k], pred[k])])
    table(
        "online_shopping_10_cats accuracy by category (same held-out folds)", ["category", "reviews", "accuracy"], rows
    )
    print("\nGoal: accuracy >= 0.95 on online_shopping_10_cats.")


if __name__ == "__main__":
    main()
