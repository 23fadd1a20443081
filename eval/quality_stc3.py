"""Dialogue quality (NTCIR-14 STC-3 DQ: A, S, E score distributions) on stc3_dch.

5-fold cross-validation by dialogue over the 3,700 official training dialogues (seeded). For
each dialogue the 19 annotators' votes give a distribution over −2…2; the model predicts a
distribution and is scored with NMD and RSNOD (metrics.py; Sakai SIGIR 2018, as in STC-3),
averaged over dialogues, lower is better. Baselines as in STC-3: uniform (0.2 per bin) and
popularity (the mean training distribution of the fold). The exchange-satisfaction stage the
quality heads read is trained on jddc_uss (no stc3 labels); valence/emotion on reviews/Weibo.

    python eval/quality_stc3.py [--data ../shared/data]
"""

from __future__ import annotations

import numpy as np
from _common import args, note, setup, table

from training_models import metrics as M
from training_models import models as TR


def main() -> None:
    a = args(__doc__)
    corp, vocab = setup(a)
    _, models, _ = TR.base_models(corp, vocab, log_fn=note)
    n = len(corp.stc3)
    sc, sa, sd = TR.dialogue_rows(models, corp.stc3_prep, None)
    folds = TR.group_folds(np.arange(n))
    gold = {k: np.array([d.quality[k] for d in corp.stc3]) for k in "ASE"}
    pred = {k: np.zeros((n, 5)) for k in "ASE"}
    pop = {k: np.zeros((n, 5)) for k in "ASE"}
    for f in range(TR.N_FOLDS):
        tr, te = folds != f, folds == f
        heads = TR.fit_dialogue_heads(corp, models, np.arange(0), np.nonzero(tr)[0], [], which=("A", "S", "E"))
        for h in heads:
            k = h.name[-1]
            pred[k][te] = TR.predict_fitted(h, {"dcust": sc[te], "dagent": sa[te]}, sd[te])
            pop[k][te] = gold[k][tr].mean(0)
        note(f"fold {f + 1}/{TR.N_FOLDS}")
    uni = np.full((n, 5), 0.2)
    rows = []
    for name, P in (("uniform", {k: uni for k in "ASE"}), ("popularity", pop), ("zuoxi quality", pred)):
        row = [name]
        for k in "ASE":
            row += [float(M.nmd(P[k], gold[k]).mean()), float(M.rsnod(P[k], gold[k]).mean())]
        rows.append(row)
    print(
        f"stc3_dch official training set: {n} dialogues, 19 annotators each; "
        f"{TR.N_FOLDS}-fold cross-validation by dialogue, seed {TR.SEED}"
    )
    table(
        "Dialogue quality distributions (lower is better)",
        ["model", "A NMD", "A RSNOD", "S NMD", "S RSNOD", "E NMD", "E RSNOD"],
        rows,
    )


if __name__ == "__main__":
    main()
