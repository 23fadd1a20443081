"""Feature and training variants tried for the valence stage (none reached the 0.95 goal).

Same data and folds as `sentiment_reviews.py` (5 folds by unique normalised text, seed 0), but
only the first two folds are used, as in the tuning runs: this is model selection, not the
reported figure. Every variant is a logistic regression (liblinear) on TF-IDF features (sublinear
tf) fitted with scikit-learn; tested on the held-out online_shopping_10_cats part of each fold.
Word tokens come from rjieba (`pip install rjieba`; not a run-time dependency of zuoxi).

    python eval/sentiment_variants.py [--data ../shared/data]
"""

from __future__ import annotations

import numpy as np
from _common import args, note, table

from training_models import data as D
from training_models import models as TR
from zuoxi.analyze.models import text as T

TUNING_FOLDS = (0, 1)


def main() -> None:
    import rjieba
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    a = args(__doc__)
    TR.single_thread()
    root = D.data_dir(a.data)
    osc, oy, _ = D.load_online_shopping(root, a.limit)
    wm, wy = D.load_waimai(root, a.limit)
    norm = [T.normalize(s) for s in list(osc) + list(wm)]
    y = np.array(list(oy) + list(wy))
    src = np.array([0] * len(osc) + [1] * len(wm))
    folds = TR.group_folds(np.array([f"{s}\t{t}" for s, t in zip(src, norm)]))
    words = [[w for w in rjieba.cut(T.ngram_text(s)) if w.strip()] for s in norm]
    note("data loaded and segmented")

    def tfidf(docs, analyzer=None, ngram_range=(1, 1), min_df=3):
        v = TfidfVectorizer(
            analyzer=analyzer or "word",
            tokenizer=(lambda d: d) if analyzer is None else None,
            token_pattern=None,
            lowercase=False,
            preprocessor=(lambda d: d) if analyzer is None else None,
            ngram_range=ngram_range,
            min_df=min_df,
            sublinear_tf=True,
            dtype=np.float32,
        )
        return v.fit_transform(docs)

    c13 = tfidf(norm, analyzer=T.ngrams)
    c14 = tfidf(norm, analyzer=lambda s: T.ngrams(s, 1, 4))
    w12 = tfidf(words, ngram_range=(1, 2), min_df=2)
    w13 = tfidf(words, ngram_range=(1, 3), min_df=2)
    note("features built")

    def nb_ratio(X, yy):
        p = np.asarray(X[yy == 1].sum(0)).ravel() + 1.0
        q = np.asarray(X[yy == 0].sum(0)).ravel() + 1.0
        return np.log((p / p.sum()) / (q / q.sum()))

    def run(name, X, C=4.0, both=True, nb=False):
        accs = []
        for f in TUNING_FOLDS:
            tr = (folds != f) & (np.ones_like(src, bool) if both else src == 0)
            te = (folds == f) & (src == 0)
            Xtr, Xte = X[tr], X[te]
            if nb:  # NB-SVM style log-count-ratio scaling (Wang & Manning 2012)
                r = nb_ratio(Xtr, y[tr])
                Xtr, Xte = Xtr.multiply(r).tocsr(), Xte.multiply(r).tocsr()
            m = LogisticRegression(C=C, solver="liblinear", max_iter=2000).fit(Xtr, y[tr])
            accs.append(float((m.predict(Xte) == y[te]).mean()))
        note(name)
        return [
            name,
            X.shape[1],
            f"{C:g}",
            "both" if both else "online_shopping",
            "yes" if nb else "no",
            *accs,
            float(np.mean(accs)),
        ]

    hs = lambda *m: sparse.hstack(m).tocsr()  # noqa: E731
    rows = [
        run("char 1-3 (the deployed recipe)", c13),
        run("char 1-3", c13, both=False),
        run("char 1-3", c13, nb=True),
        run("char 1-4", c14),
        run("char 1-3 + words 1-2", hs(c13, w12)),
        run("char 1-3 + words 1-2", hs(c13, w12), C=8.0),
        run("char 1-3 + words 1-2", hs(c13, w12), C=2.0, nb=True),
        run("char 1-3 + words 1-2", hs(c13, w12), nb=True),
        run("char 1-3 + words 1-2", hs(c13, w12), C=8.0, nb=True),
        run("char 1-4 + words 1-3", hs(c14, w13)),
        run("char 1-4 + words 1-3", hs(c14, w13), C=2.0),
        run("char 1-4 + words 1-3", hs(c14, w13), both=False),
        run("char 1-4 + words 1-3", hs(c14, w13), nb=True),
    ]
    print(
        f"online_shopping_10_cats accuracy on folds {[f + 1 for f in TUNING_FOLDS]} of the "
        f"{TR.N_FOLDS} folds by unique text (seed {TR.SEED}); trained on the other folds"
    )
    table(
        "Valence variants (logistic regression, sublinear TF-IDF)",
        ["features", "columns", "C", "trained on", "NB scaling", "fold 1", "fold 2", "mean"],
        rows,
    )


if __name__ == "__main__":
    main()
