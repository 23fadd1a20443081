"""Train the dialogue-act heads (zuoxi/analyze/models/acts.py) on the turns labelled by careful reading.

    python training_models/acts.py [--data ../shared/data] [--out zuoxi/analyze/artefacts]

Labels: eval/labels/acts.jsonl (docs/labelling.md), every labelled dialogue except the evaluation's
test part (eval/labels/split.json), which the figures in docs/accuracy.md are reported on. Texts:
../shared/data, read here and never stored. Features: the turn's character n-grams over the committed
models' vocabulary (the n-gram look-up analysis already makes) and `acts.dense_features` (with the
committed emotion/satisfaction models' reading of each customer turn). One
logistic head per act and role (scikit-learn, L2, class weights); the regularisation and each
act's threshold are chosen on out-of-fold predictions (4 folds by dialogue). Deterministic: the
same labels and data give the same artefacts. Needs scikit-learn (`pip install -e '.[train]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.realdata import DEFAULT_DATA, LABELS, conversations, read_jsonl  # noqa: E402
from zuoxi.analyze.models import acts as A  # noqa: E402
from zuoxi.analyze.models import features as F  # noqa: E402
from zuoxi.analyze.models import text as T  # noqa: E402
from zuoxi.analyze.models.runtime import ARTEFACTS, load_models  # noqa: E402

N_FOLDS = 4
C_GRID = (16.0,)  # 4 and 64 were never better out of fold on these labels (docs/accuracy.md)
F1_TOLERANCE = 0.002  # thresholds within this of the best out-of-fold F1 are as good: the highest is taken
MIN_CV_F1 = 0.5  # a head that reads its act worse than this out of fold is not used: the rules' cue words decide
JOBS = int(os.environ.get("ZUOXI_TRAIN_JOBS", "2"))  # heads trained side by side (each is single-threaded)
PRUNE = 0.3  # n-gram rows whose weights are all below this are dropped: a third of the size, the same rule figures (docs/accuracy.md)
MIN_POSITIVES = 3  # an act seen fewer times than this gets a head that never fires
BEFORE_SCALE = 0.5  # the other side's turn before weighs half as much as the turn itself (L2 shrinks it more)


def label_matrix(labels: list[list[str]], roles: list[str], role: str) -> np.ndarray:
    names = A.OUTPUTS[role]
    index = {n: k for k, n in enumerate(names)}
    rows = []
    for acts, r in zip(labels, roles):
        if r != role:
            continue
        y = np.zeros(len(names), dtype=np.int8)
        for act in acts:
            name, _, arg = act.partition(":")
            if name in index:
                y[index[name]] = 1
            if name == "request" and f"request_{arg}" in index:
                y[index[f"request_{arg}"]] = 1
        rows.append(y)
    return np.array(rows, dtype=np.int8).reshape(-1, len(names))


def build(ids: list[str], convs, labels: dict[str, list[list[str]]], models):
    """Per role: X (sparse TF-IDF ⊕ dense), Y, and the dialogue of each row (for the folds)."""
    from scipy import sparse

    vocab = models.vocab
    per_role = {role: {"x": [], "b": [], "d": [], "y": [], "g": []} for role in A.OUTPUTS}
    for gi, cid in enumerate(ids):
        conv = convs[cid]
        roles = [t.role for t in conv.turns]
        texts = [t.text for t in conv.turns]
        norms = T.normalize_all(texts)
        ids_rows = vocab.text_ids(norms)
        x = vocab.vectorize(*ids_rows, len(norms) + 1).to_csr(len(vocab) + 1)  # + an empty row
        before = [b if b >= 0 else len(norms) for b in A.previous_other(roles)]
        prep = F.dialogue_features(roles, texts, norms=norms)  # what the other models read in each customer turn
        val, emo, sat = models.customer_stage([prep], models.text_matrix([prep], ids_rows))
        dense = A.dense_features(roles, norms, np.hstack([val[:, None], emo, sat]))
        for role, bucket in per_role.items():
            rows = [i for i, r in enumerate(roles) if r == role]
            if not rows:
                continue
            bucket["x"].append(x[rows])
            bucket["b"].append(x[[before[i] for i in rows]])
            bucket["d"].append(dense[rows])
            bucket["y"].append(label_matrix(labels[cid], roles, role))
            bucket["g"].extend([gi] * len(rows))
    out = {}
    for role, b in per_role.items():
        out[role] = (
            sparse.vstack(b["x"]).tocsr(),
            sparse.vstack(b["b"]).tocsr(),
            np.vstack(b["d"]),
            np.vstack(b["y"]),
            np.array(b["g"]),
        )
    return out


def best_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """The threshold in 0.2…0.9 for out-of-fold probabilities, and the best F1 there: the highest threshold whose F1
    is within F1_TOLERANCE of the best. An F1 curve is flat near its top (the `anger` head's 0.666–0.674 from 0.45 to
    0.65), so its exact maximum is chance — two trainings put it at 0.5 and 0.7 — and the high end of the flat part
    reads the act as often right for fewer false findings (docs/accuracy.md)."""
    grid = [round(float(t), 2) for t in np.arange(0.2, 0.91, 0.05)]
    scores = []
    for t in grid:
        pred = p >= t
        tp = int((pred & (y == 1)).sum())
        scores.append(2 * tp / (pred.sum() + y.sum()) if pred.sum() + y.sum() else 0.0)
    best = max(scores)
    if best <= 0:
        return 0.5, 0.0
    return max(t for t, f1 in zip(grid, scores) if f1 >= best - F1_TOLERANCE), best


def train_role(x, x_before, dense, y, groups, role: str, n_vocab: int):
    from joblib import Parallel, delayed
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    mean, std = dense.mean(0), dense.std(0)
    std[std == 0] = 1.0
    features = sparse.hstack([x, BEFORE_SCALE * x_before, sparse.csr_matrix((dense - mean) / std)]).tocsr()
    folds = list(GroupKFold(N_FOLDS).split(features, groups=groups))
    names = A.OUTPUTS[role]
    k, n_x = len(names), x.shape[1]
    W = np.zeros((n_x, k), dtype=np.float64)
    Wb = np.zeros((n_x, k), dtype=np.float64)
    Wd = np.zeros((dense.shape[1], k))
    bias = np.full(k, -20.0)  # an act with too few examples never fires
    thresholds = np.full(k, 0.99)
    report = {}

    def fit(C: float, rows, yj):
        return LogisticRegression(C=C, class_weight="balanced", max_iter=2000, solver="liblinear", random_state=0).fit(
            features[rows], yj[rows]
        )

    def choose(j: int):
        """(C, threshold, F1) with the best out-of-fold F1, and the head fitted on every row with that C."""
        yj = y[:, j]
        choice = None
        for C in C_GRID:
            oof = np.zeros(len(yj))
            for train, test in folds:
                if yj[train].sum() == 0:
                    continue
                oof[test] = fit(C, train, yj).predict_proba(features[test])[:, 1]
            t, f1 = best_threshold(yj, oof)
            if choice is None or f1 > choice[2] + 1e-9:
                choice = (C, t, f1)
        return choice, fit(choice[0], np.arange(len(yj)), yj)

    trainable = [j for j in range(k) if y[:, j].sum() >= MIN_POSITIVES]
    fitted = dict(zip(trainable, Parallel(n_jobs=JOBS)(delayed(choose)(j) for j in trainable)))
    for j, name in enumerate(names):
        yj = y[:, j]
        if j not in fitted:
            report[name] = {"positives": int(yj.sum()), "cv_f1": None}
            continue
        (C, t, f1), m = fitted[j]
        coef = m.coef_[0]
        W[:, j] = coef[:n_x]
        Wb[:, j] = coef[n_x : 2 * n_x] * BEFORE_SCALE
        Wd[:, j] = coef[2 * n_x :] / std
        bias[j] = m.intercept_[0] - float((coef[2 * n_x :] * mean / std).sum())
        thresholds[j] = t if f1 >= MIN_CV_F1 else A.UNTRAINED
        report[name] = {
            "positives": int(yj.sum()),
            "C": C,
            "threshold": t,
            "cv_f1": round(float(f1), 3),
            "used": bool(f1 >= MIN_CV_F1),
        }
        print(f"  {role:8s} {name:16s} n+={int(yj.sum()):5d} C={C:<4} t={t:.2f} cv F1={f1:.3f}", file=sys.stderr)
    kept = []
    for M in (W, Wb):
        rows = np.flatnonzero(np.abs(M).max(1) >= PRUNE)
        rows = rows[rows < n_vocab]  # the sentinel column carries no weight
        kept.append((rows, M[rows].astype(np.float16)))  # half precision: the artefact's size, not the reading
    return kept, Wd, bias, thresholds, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=ARTEFACTS)
    ap.add_argument(
        "--exclude",
        choices=["dev", "dev2", "dev3"],
        action="append",
        default=[],
        help="also leave out a tuning part's dialogues (acts to tune rules on honestly)",
    )
    a = ap.parse_args()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    t0 = time.perf_counter()
    split = json.loads((LABELS / "split.json").read_text(encoding="utf-8"))
    test = set(split["test"]).union(*(split[part] for part in a.exclude))
    labels = {r["id"]: r["acts"] for r in read_jsonl(LABELS / "acts.jsonl") if r["id"] not in test}
    convs = conversations(a.data)
    ids = sorted(labels)
    models = load_models()
    vocab = models.vocab
    data = build(ids, convs, labels, models)
    arrays, meta = (
        {},
        {
            "format": A.FORMAT,
            "n_vocab": len(vocab),
            "dense_names": A.DENSE_NAMES,
            "names": {r: list(n) for r, n in A.OUTPUTS.items()},
            "acts": {},
        },
    )
    for role, (x, x_before, dense, y, groups) in data.items():
        print(f"{role}: {x.shape[0]} turns of {len(set(groups))} dialogues", file=sys.stderr)
        ((rows, W), (b_rows, Wb)), Wd, bias, thresholds, report = train_role(
            x, x_before, dense, y, groups, role, len(vocab)
        )
        arrays.update(
            {
                f"{role}_rows": rows.astype(np.int64),
                f"{role}_W": W,
                f"{role}_before_rows": b_rows.astype(np.int64),
                f"{role}_before_W": Wb,
                f"{role}_dense": Wd.astype(np.float32),
                f"{role}_bias": bias.astype(np.float32),
                f"{role}_thresholds": thresholds.astype(np.float32),
            }
        )
        meta["acts"][role] = report
        meta[f"{role}_turns"] = int(x.shape[0])
    meta["dialogues"] = len(ids)
    meta["seconds"] = round(time.perf_counter() - t0, 1)
    meta["licence"] = (
        "trained on jddc_uss and stc3_dch turns labelled for this project (research data, see ../shared/data)"
    )
    a.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out / "acts.npz", **arrays)
    (a.out / "acts.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(
        f"wrote {a.out / 'acts.npz'} ({(a.out / 'acts.npz').stat().st_size / 1e6:.1f} MB) in {meta['seconds']} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
