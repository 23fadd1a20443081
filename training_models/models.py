"""Train the emotion, satisfaction and dialogue-quality models; write the artefacts.

    python training_models/models.py [--data ../shared/data] [--out DIR] [--limit N]

Needs scikit-learn (`pip install -e '.[train]'`); the artefacts it writes need only numpy.
Everything is deterministic (fixed seeds, fixed fold assignment, single thread). Splits are by
dialogue, never by turn. `--limit N` trains on a small slice (the first N dialogues / every k-th
text) for a quick end-to-end check; such artefacts are not fit for use.

Stages (each later stage reads the earlier ones' outputs through the same numpy code that runs
at analysis time, so training and run-time features are identical):
1. valence — P(positive) of a text; reviews (online_shopping_10_cats + waimai_10k).
2. emotion — angry/anxious/sad/neutral/positive; SMP2020-EWECT Weibo posts, mapped
   (fear→anxious, happy→positive, surprise dropped), + cue counts + valence; then the class
   priors are re-estimated on unlabelled customer turns (EM, Saerens et al. 2002).
3. turn_sat — exchange satisfaction of a customer turn; jddc_uss turn labels; customer text +
   context (repetition, what the agent just did, cues, valence, emotion).
4. dialogue_sat — jddc_uss overall labels, from aggregates of stages 1–3 (out-of-fold);
   quality_A/S/E — stc3_dch 19-annotator vote distributions (soft 5-class labels), from all
   customer text, all agent text and the same aggregates.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training_models import data as D  # noqa: E402
from zuoxi.analyze.models import features as F  # noqa: E402
from zuoxi.analyze.models import runtime  # noqa: E402
from zuoxi.analyze.models import text as T  # noqa: E402
from zuoxi.analyze.models.linear import Block, Head, Vocab  # noqa: E402

SEED = 0
N_FOLDS = 5

# Vocabulary: n-grams seen in ≥ MIN_DF general texts or ≥ MIN_DF_CS customer-service turns.
MIN_DF = 3
MIN_DF_CS = 2
PRUNE = 1e-3  # n-gram rows whose weights are all below this (after idf) are dropped
TOL = 1e-3  # L-BFGS stopping tolerance

SMP_MAP = {"angry": "angry", "fear": "anxious", "sad": "sad", "neutral": "neutral", "happy": "positive"}

# Hyper-parameters (chosen by cross-validation on the training sets, see eval/).
HP = {
    "valence": {"C": 4.0, "cw_power": 0.0, "solver": "liblinear"},
    "emotion": {"C": 4.0, "cw_power": 0.5, "dense_scale": 0.3},
    "turn_sat": {"C": 1.0, "cw_power": 0.5, "dense_scale": 0.3},
    "dialogue_sat": {"C": 0.1, "cw_power": 0.5, "dense_scale": 0.3},
    "quality": {"C": 1.0, "cw_power": 0.0, "dense_scale": 0.3},
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- corpora ------------------------------------------------------------------------------------
@dataclass
class Corpora:
    reviews_y: np.ndarray  # 1 = positive
    reviews_src: np.ndarray  # "online_shopping" / "waimai"
    reviews_cat: np.ndarray  # online_shopping category ("" for waimai)
    reviews_norm: list[str]
    smp_norm: list[str]
    smp_label: np.ndarray  # six source labels
    smp_file: np.ndarray
    jddc: list[D.Dialogue]
    jddc_prep: list[F.DialogueFeatures]
    stc3: list[D.Dialogue]
    stc3_prep: list[F.DialogueFeatures]
    sizes: dict = field(default_factory=dict)


def load_corpora(root: Path, limit: int | None = None) -> Corpora:
    t0 = time.perf_counter()
    osc, osc_y, osc_cat = D.load_online_shopping(root, limit)
    wm, wm_y = D.load_waimai(root, limit)
    rev_norm = [T.normalize(s) for s in list(osc) + list(wm)]
    smp, smp_y, smp_f = D.load_smp(root, limit)
    smp_norm = [T.normalize(s) for s in smp]
    jddc = D.load_jddc(root, limit)
    stc3 = D.load_stc3(root, limit)
    corp = Corpora(
        reviews_y=np.array(list(osc_y) + list(wm_y)),
        reviews_src=np.array(["online_shopping"] * len(osc) + ["waimai"] * len(wm)),
        reviews_cat=np.array(list(osc_cat) + [""] * len(wm)),
        reviews_norm=rev_norm,
        smp_norm=smp_norm,
        smp_label=np.array(smp_y),
        smp_file=np.array(smp_f),
        jddc=jddc,
        jddc_prep=[F.dialogue_features(d.roles, d.texts) for d in jddc],
        stc3=stc3,
        stc3_prep=[F.dialogue_features(d.roles, d.texts) for d in stc3],
    )
    corp.sizes = {
        "online_shopping_10_cats": len(osc),
        "waimai_10k": len(wm),
        "smp2020_ewect": len(smp),
        "jddc_uss_dialogues": len(jddc),
        "stc3_dch_dialogues": len(stc3),
    }
    log(f"loaded and normalised {corp.sizes} in {time.perf_counter() - t0:.1f}s")
    return corp


def doc_freq(norms: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """(n-gram keys, in how many texts each occurs, how many texts have any n-gram)."""
    keys, rows = T.gram_keys(norms)
    order = np.lexsort((keys, rows))
    keys, rows = keys[order], rows[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = (keys[1:] != keys[:-1]) | (rows[1:] != rows[:-1])
    uniq, counts = np.unique(keys[first], return_counts=True)
    return uniq, counts, len(np.unique(rows))


def build_vocab(corp: Corpora, min_df: int = MIN_DF, min_df_cs: int = MIN_DF_CS) -> Vocab:
    keys, df, _ = doc_freq(corp.reviews_norm + corp.smp_norm)
    keys_cs, df_cs, n_cs = doc_freq([s for prep in corp.jddc_prep + corp.stc3_prep for s in prep.norms])
    vocab = np.union1d(keys[df >= min_df], keys_cs[df_cs >= min_df_cs])

    def freq(k: np.ndarray, f: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(k, vocab), max(len(k) - 1, 0))
        return np.where(k[pos] == vocab, f[pos], 0) if len(k) else np.zeros(len(vocab))

    n_docs = len(corp.reviews_norm) + len(corp.smp_norm) + n_cs
    dfs = (freq(keys, df) + freq(keys_cs, df_cs)).astype(np.float64)
    idf = np.log((1.0 + n_docs) / (1.0 + dfs)) + 1.0
    # ids in the n-grams' string order, as the artefacts have always had them: the solvers see
    # the columns in the same order, so a retraining reproduces the committed weights
    grams = [T.gram_of_key(int(k)) for k in vocab]
    order = sorted(range(len(grams)), key=grams.__getitem__)
    return Vocab(vocab[order], np.append(idf[order], 0.0).astype(np.float32), [grams[i] for i in order])


# --- fitting ------------------------------------------------------------------------------------
@dataclass
class Fitted:
    name: str
    classes: list[str]
    text: dict[str, np.ndarray]  # ns -> (V + 1, K)
    dense: np.ndarray  # (D, K)
    bias: np.ndarray  # (K,)
    dense_names: list[str]


def fit_head(
    name: str,
    classes: list[str],
    parts: dict,
    dense: np.ndarray | None,
    dense_names: list[str],
    *,
    y: np.ndarray | None = None,
    soft: np.ndarray | None = None,
    weight: np.ndarray | None = None,
    C: float = 1.0,
    cw_power: float = 0.0,
    dense_scale: float = 0.3,
    solver: str = "lbfgs",
    max_iter: int = 2000,
) -> Fitted:
    """Multinomial logistic regression on [text namespaces…, standardised dense] features.

    Labels are hard (`y`, indices into `classes`) or soft (`soft`, one distribution per row:
    rows are repeated once per class with the probability as sample weight, which is the
    cross-entropy against the distribution). `cw_power` interpolates between no class weighting
    (0) and "balanced" (1).
    """
    from sklearn.linear_model import LogisticRegression

    K = len(classes)
    first = next(iter(parts.values())) if parts else None
    n = first.shape[0] if first is not None else dense.shape[0]
    if soft is None:
        soft = np.zeros((n, K))
        soft[np.arange(n), y] = 1.0
    weight = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)

    X, mu, sd = _design_matrix(parts, dense, dense_scale)
    rows_a, y_rep, sw_a = _replicated_rows(soft, weight, cw_power)
    Xr = X[rows_a]
    used = np.unique(Xr.indices)  # columns never seen get zero weight anyway: leave them out
    model = LogisticRegression(C=C, solver=solver, max_iter=max_iter, tol=TOL, random_state=SEED)
    model.fit(Xr[:, used], y_rep, sample_weight=sw_a / sw_a.mean())

    coef_used, bias = _per_class(model, K, len(used))
    coef = np.zeros((K, X.shape[1]))
    coef[:, used] = coef_used

    text, off = {}, 0
    for ns in parts:
        width = parts[ns].shape[1]
        text[ns] = coef[:, off : off + width].T.copy()
        off += width
    if mu is not None:
        wd = coef[:, off:].T * (dense_scale / sd)[:, None]
        bias = bias - mu @ wd
    else:
        wd = np.zeros((0, K))
    return Fitted(name, list(classes), text, wd, bias, list(dense_names))


def _design_matrix(parts: dict, dense: np.ndarray | None, dense_scale: float):
    """The text blocks side by side with the standardised, scaled dense block; and the dense block's
    mean and spread (None without one), to fold the standardisation back into the weights."""
    from scipy import sparse

    blocks = [parts[ns] for ns in parts]
    if dense is not None and dense.shape[1]:
        mu = dense.mean(0)
        sd = dense.std(0)
        sd[sd < 1e-9] = 1.0
        blocks.append(sparse.csr_matrix((dense - mu) / sd * dense_scale))
    else:
        mu = sd = None
    X = sparse.hstack(blocks).tocsr() if len(blocks) > 1 else sparse.csr_matrix(blocks[0])
    return X, mu, sd


def _replicated_rows(soft: np.ndarray, weight: np.ndarray, cw_power: float):
    """Soft labels as repeated rows: (row index, class, sample weight) once per class a row has mass in,
    with class weights between none (0) and balanced (1)."""
    K = soft.shape[1]
    mass = (soft * weight[:, None]).sum(0)
    present = mass > 0
    cw = np.ones(K)
    if cw_power:
        cw[present] = (mass[present].sum() / (present.sum() * mass[present])) ** cw_power
    rows, labels, sw = [], [], []
    for k in range(K):
        idx = np.nonzero(soft[:, k] > 0)[0]
        rows.append(idx)
        labels.append(np.full(len(idx), k))
        sw.append(soft[idx, k] * weight[idx] * cw[k])
    return np.concatenate(rows), np.concatenate(labels), np.concatenate(sw)


def _per_class(model, K: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's coefficients laid out one row per class (binary and one-class fits included)."""
    coef_used = np.zeros((K, width))
    bias = np.full(K, -30.0)  # a class absent from the training slice is never predicted
    seen = list(model.classes_)
    if len(seen) == 2:
        coef_used[seen[1]] = model.coef_[0]
        bias[seen[0]], bias[seen[1]] = 0.0, model.intercept_[0]
    elif len(seen) == 1:
        bias[seen[0]] = 0.0
    else:
        for j, k in enumerate(seen):
            coef_used[k] = model.coef_[j]
            bias[k] = model.intercept_[j]
    return coef_used, bias


def predict_fitted(f: Fitted, parts: dict, dense: np.ndarray | None) -> np.ndarray:
    """Probabilities of a fitted head on scipy inputs (cross-validation; float64 weights)."""
    z = np.tile(f.bias, (next(iter(parts.values())).shape[0] if parts else len(dense), 1))
    for ns, X in parts.items():
        z = z + np.asarray(X @ f.text[ns])
    if dense is not None and f.dense.size:
        z = z + dense @ f.dense
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def assemble(vocab: Vocab, fitted: list[Fitted], prune: float = PRUNE) -> tuple[runtime.Models, dict]:
    """Runtime `Models` (float16-rounded n-gram weights, as in the artefact) + arrays to save."""
    arrays: dict[str, np.ndarray] = {}
    blocks: dict[str, Block] = {}
    heads: dict[str, Head] = {}
    meta_heads: dict[str, dict] = {}
    cols: dict[str, list[tuple[Fitted, int, int]]] = {}
    for f in fitted:
        for ns in f.text:
            lo = sum(g.text[ns].shape[1] for g, _, _ in cols.get(ns, []))
            cols.setdefault(ns, []).append((f, lo, lo + len(f.classes)))
    for ns, members in cols.items():
        W = np.hstack([f.text[ns] for f, _, _ in members])[: len(vocab)]  # drop the sentinel row
        keep = np.nonzero(np.abs(W * vocab.idf[: len(vocab), None]).max(1) >= prune)[0]
        W16 = W[keep].astype(np.float16)
        arrays[f"block_{ns}_rows"] = keep.astype(np.int32)
        arrays[f"block_{ns}_W"] = W16
        blocks[ns] = Block.from_rows(len(vocab), keep, W16.astype(np.float32))
    for f in fitted:
        text_cols = {}
        for ns, members in cols.items():
            for g, lo, hi in members:
                if g is f:
                    text_cols[ns] = (lo, hi)
        heads[f.name] = Head(
            f.name,
            f.classes,
            text_cols,
            f.dense.astype(np.float32).astype(np.float64),
            f.bias.astype(np.float32).astype(np.float64),
            f.dense_names,
        )
        arrays[f"head_{f.name}_dense"] = f.dense.astype(np.float32)
        arrays[f"head_{f.name}_bias"] = f.bias.astype(np.float32)
        meta_heads[f.name] = {
            "classes": f.classes,
            "text": {ns: list(r) for ns, r in text_cols.items()},
            "dense_names": f.dense_names,
        }
    meta = {
        "format": runtime.FORMAT,
        "feature_version": T.FEATURE_VERSION,
        "blocks": list(cols),
        "heads": meta_heads,
    }
    return runtime.Models(vocab, blocks, heads, meta), arrays


# --- stages -------------------------------------------------------------------------------------
def fit_valence(corp: Corpora, vocab: Vocab, idx: np.ndarray | None = None) -> Fitted:
    idx = np.arange(len(corp.reviews_y)) if idx is None else idx
    X = vocab.vectorize_texts([corp.reviews_norm[i] for i in idx]).to_csr(len(vocab) + 1)
    hp = HP["valence"]
    return fit_head(
        "valence",
        ["negative", "positive"],
        {"turn": X},
        None,
        [],
        y=corp.reviews_y[idx],
        C=hp["C"],
        cw_power=hp["cw_power"],
        solver=hp["solver"],
    )


def smp_features(corp: Corpora, models: runtime.Models, idx: np.ndarray):
    norms = [corp.smp_norm[i] for i in idx]
    x = models.vocab.vectorize_texts(norms)
    s = models.blocks["turn"].scores(x)
    val = models.valence(s)
    cue = np.log1p(np.array([T.cue_counts(n) for n in norms], dtype=np.float64))
    cue = cue.reshape(-1, len(T.CUE_NAMES))
    return x.to_csr(len(models.vocab) + 1), F.emotion_dense(cue, val)


def fit_emotion(corp: Corpora, models: runtime.Models, idx: np.ndarray | None = None, six: bool = False) -> Fitted:
    """5-class deployed emotion head (or, with six=True, the source's six labels, for eval)."""
    if idx is None:
        idx = np.arange(len(corp.smp_label))
    if six:
        classes = ["angry", "fear", "happy", "neutral", "sad", "surprise"]
        idx = np.asarray(idx)
        y = np.array([classes.index(x) for x in corp.smp_label[idx]])
    else:
        idx = np.array([i for i in idx if corp.smp_label[i] in SMP_MAP], dtype=np.int64)
        classes = list(F.EMOTIONS)
        y = np.array([classes.index(SMP_MAP[x]) for x in corp.smp_label[idx]])
    X, dense = smp_features(corp, models, idx)
    hp = HP["emotion"]
    return fit_head(
        "emotion",
        classes,
        {"turn": X},
        dense,
        F.EMOTION_DENSE_NAMES,
        y=y,
        C=hp["C"],
        cw_power=hp["cw_power"],
        dense_scale=hp["dense_scale"],
    )


# Customer-service prior for the emotion classes (angry, anxious, sad, neutral, positive).
# An assumption, not an estimate: no labelled customer-service emotion data exist here. Weibo
# posts are far more emotional than service chats; without this shift the Weibo-trained head
# calls most plain customer questions "angry". EM re-estimation of the priors on unlabelled
# customer turns (Saerens et al. 2002) was tried and made it worse (it converged on ~58 % angry):
# the shift between Weibo and service chat is not a label shift the classifier's posteriors
# could reveal. See docs/models.md.
CS_EMOTION_PRIOR = {"angry": 0.10, "anxious": 0.08, "sad": 0.04, "neutral": 0.66, "positive": 0.12}
# Weibo "fear" (illness, danger) says little about a customer's impatience, so urgency cues
# (催/快点/怎么还没/等了/多久…) get a hand-set push towards "anxious": logit += weight × log(1 + count).
CS_EMOTION_CUE_BOOST = {("urgency", "anxious"): 1.5}


def shift_emotion_priors(corp: Corpora, emo: Fitted) -> dict:
    """Adapt the Weibo-trained emotion head to customer service (both steps are assumptions,
    documented in docs/models.md): fold log(service prior / training prior) into the bias and
    add the cue boosts to the dense weights."""
    idx = np.array([i for i, x in enumerate(corp.smp_label) if x in SMP_MAP], dtype=np.int64)
    y = np.array([F.EMOTIONS.index(SMP_MAP[x]) for x in corp.smp_label[idx]], dtype=np.int64)
    mass = np.bincount(y, minlength=len(F.EMOTIONS)).astype(float) + 1.0
    cw = (mass.sum() / (len(mass) * mass)) ** HP["emotion"]["cw_power"]
    train_prior = mass * cw / (mass * cw).sum()  # the prior the class-weighted head was fit to
    target = np.array([CS_EMOTION_PRIOR[e] for e in F.EMOTIONS])
    emo.bias = emo.bias + np.log(target / train_prior)
    for (cue, label), w in CS_EMOTION_CUE_BOOST.items():
        emo.dense[F.EMOTION_DENSE_NAMES.index(f"cue_{cue}"), F.EMOTIONS.index(label)] += w
    return {
        "cue_boost": {f"{c}->{label}": w for (c, label), w in CS_EMOTION_CUE_BOOST.items()},
        "classes": list(F.EMOTIONS),
        "smp_prior": (mass / mass.sum()).round(4).tolist(),
        "train_prior": train_prior.round(4).tolist(),
        "customer_service_prior": target.round(4).tolist(),
    }


def jddc_turn_rows(corp: Corpora, models: runtime.Models, dlg: np.ndarray):
    """Features of every customer turn of the given jddc dialogues.

    Returns (X_turn csr, dense, y (-1 where unlabelled), dialogue index of each row).
    """
    from scipy import sparse

    Xs, dens, ys, gs = [], [], [], []
    for j in dlg:
        prep = corp.jddc_prep[j]
        if not prep.cust:
            continue
        x = models.text_matrix([prep]).rows(0, len(prep.cust))
        s = models.blocks["turn"].scores(x)
        val = models.valence(s)
        emo = models.emotion_text(s, prep.cue, val)
        Xs.append(x.to_csr(len(models.vocab) + 1))
        dens.append(F.turn_dense(prep.ctx, val, emo))
        lab = corp.jddc[j].turn_sat
        ys.append([-1 if lab[i] is None else lab[i] for i in prep.cust])
        gs.append([j] * len(prep.cust))
    return sparse.vstack(Xs).tocsr(), np.vstack(dens), np.concatenate(ys), np.concatenate(gs)


def fit_turn_sat(X, dense, y) -> Fitted:
    lab = y >= 0
    hp = HP["turn_sat"]
    return fit_head(
        "turn_sat",
        list(F.SATISFACTION),
        {"turn": X[lab]},
        dense[lab],
        F.TURN_DENSE_NAMES,
        y=y[lab],
        C=hp["C"],
        cw_power=hp["cw_power"],
        dense_scale=hp["dense_scale"],
    )


def group_folds(groups: np.ndarray, n_folds: int = N_FOLDS, seed: int = SEED) -> np.ndarray:
    """Fold number of each row; whole groups (dialogues) go to one fold, seeded shuffle."""
    uniq = np.unique(groups)
    rng = np.random.RandomState(seed)
    perm = rng.permutation(len(uniq))
    fold_of = {g: int(perm[i] % n_folds) for i, g in enumerate(uniq)}
    return np.array([fold_of[g] for g in groups])


def dialogue_rows(models: runtime.Models, preps: list[F.DialogueFeatures], sats: list[np.ndarray] | None):
    """(dcust csr, dagent csr, dense) for whole dialogues; `sats` overrides turn satisfaction
    (out-of-fold probabilities while training)."""
    from scipy import sparse

    cust_rows, agent_rows, dens = [], [], []
    n = len(models.vocab) + 1
    for k, prep in enumerate(preps):
        x = models.text_matrix([prep])
        val, emo, sat = models.customer_stage([prep], x)
        if sats is not None:
            sat = sats[k]
        n_c = len(prep.cust)
        cust_rows.append(x.rows(n_c, n_c + 1).to_csr(n))
        agent_rows.append(x.rows(n_c + 1, n_c + 2).to_csr(n))
        dens.append(F.dialogue_dense(prep, val, emo, sat))
    return sparse.vstack(cust_rows).tocsr(), sparse.vstack(agent_rows).tocsr(), np.vstack(dens)


def oof_turn_sat(corp: Corpora, models: runtime.Models, dlg: np.ndarray, log_fn=None) -> list[np.ndarray]:
    """Out-of-fold exchange satisfaction for every customer turn of the given jddc dialogues."""
    X, dense, y, g = jddc_turn_rows(corp, models, dlg)
    folds = group_folds(g)
    P = np.zeros((len(y), len(F.SATISFACTION)))
    for k in range(N_FOLDS):
        tr, te = folds != k, folds == k
        if not te.any() or not (y[tr] >= 0).any():
            continue
        f = fit_turn_sat(X[tr], dense[tr], y[tr])
        P[te] = predict_fitted(f, {"turn": X[te]}, dense[te])
    out = []
    for j in dlg:
        out.append(P[g == j])
    return out


def fit_dialogue_heads(
    corp: Corpora,
    models: runtime.Models,
    jddc_idx: np.ndarray,
    stc3_idx: np.ndarray,
    jddc_sats: list[np.ndarray],
    which=("dialogue_sat", "A", "S", "E"),
) -> list[Fitted]:
    out = []
    if "dialogue_sat" in which:
        # jddc only, aggregates only: adding stc3's S votes or the n-grams made the
        # cross-validated jddc figures worse (eval/satisfaction_jddc.py, docs/models.md).
        _, _, jd = dialogue_rows(models, [corp.jddc_prep[i] for i in jddc_idx], jddc_sats)
        hp = HP["dialogue_sat"]
        out.append(
            fit_head(
                "dialogue_sat",
                list(F.SATISFACTION),
                {},
                jd,
                F.DIALOGUE_DENSE_NAMES,
                y=np.array([corp.jddc[i].overall for i in jddc_idx]),
                C=hp["C"],
                cw_power=hp["cw_power"],
                dense_scale=hp["dense_scale"],
            )
        )
    if not any(k in which for k in runtime.QUALITY_KEYS):
        return out
    preps = [corp.stc3_prep[i] for i in stc3_idx]
    sc, sa, sd = dialogue_rows(models, preps, None)
    hp = HP["quality"]
    for k in runtime.QUALITY_KEYS:
        if k not in which:
            continue
        soft = np.array([corp.stc3[i].quality[k] for i in stc3_idx]).reshape(-1, 5)
        out.append(
            fit_head(
                f"quality_{k}",
                list(F.QUALITY_LABELS),
                {"dcust": sc, "dagent": sa},
                sd,
                F.DIALOGUE_DENSE_NAMES,
                soft=soft,
                C=hp["C"],
                cw_power=hp["cw_power"],
                dense_scale=hp["dense_scale"],
            )
        )
    return out


def text_stages(corp: Corpora, vocab: Vocab, log_fn=None):
    """Stages 1–2, which need no jddc labels: valence, then emotion with its prior shift.
    Returns (valence, emotion, priors, Models of both)."""
    log_fn = log_fn or (lambda m: None)
    valence = fit_valence(corp, vocab)
    models, _ = assemble(vocab, [valence])
    log_fn("valence trained")
    emotion = fit_emotion(corp, models)
    priors = shift_emotion_priors(corp, emotion)
    models, _ = assemble(vocab, [valence, emotion])
    log_fn("emotion trained")
    return valence, emotion, priors, models


def base_models(corp: Corpora, vocab: Vocab, turn_sat_dialogues: np.ndarray | None = None, log_fn=None):
    """Stages 1–3: valence, emotion (prior-shifted) and exchange satisfaction.

    `turn_sat_dialogues` limits the jddc dialogues the exchange-satisfaction head learns from
    (cross-validation); None = all. Returns ([valence, emotion, turn_sat], Models, priors)."""
    log_fn = log_fn or (lambda m: None)
    valence, emotion, priors, models = text_stages(corp, vocab, log_fn)
    dlg = np.arange(len(corp.jddc)) if turn_sat_dialogues is None else turn_sat_dialogues
    X, dense, y, _ = jddc_turn_rows(corp, models, dlg)
    turn_sat = fit_turn_sat(X, dense, y)
    models, _ = assemble(vocab, [valence, emotion, turn_sat])
    log_fn("exchange satisfaction trained")
    return [valence, emotion, turn_sat], models, priors


# --- the whole run ------------------------------------------------------------------------------
def train_all(root: Path, out: Path, limit: int | None = None) -> dict:
    t0 = time.perf_counter()
    np.random.seed(SEED)
    corp = load_corpora(root, limit)
    vocab = build_vocab(corp)
    log(f"vocabulary: {len(vocab)} n-grams ({time.perf_counter() - t0:.1f}s)")

    def progress(msg: str) -> None:
        log(f"{msg} ({time.perf_counter() - t0:.1f}s)")

    fitted, models, priors = base_models(corp, vocab, log_fn=progress)
    valence, emotion, turn_sat = fitted
    jddc_idx = np.arange(len(corp.jddc))
    sats = oof_turn_sat(corp, models, jddc_idx)
    dialogue = fit_dialogue_heads(corp, models, jddc_idx, np.arange(len(corp.stc3)), sats)
    models, arrays = assemble(vocab, [valence, emotion, turn_sat, *dialogue])
    log(f"dialogue heads trained ({time.perf_counter() - t0:.1f}s)")

    # keep only n-grams some block uses; renumber
    used = np.unique(np.concatenate([arrays[f"block_{ns}_rows"] for ns in models.meta["blocks"]]))
    remap = np.full(len(vocab), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    for ns in models.meta["blocks"]:
        arrays[f"block_{ns}_rows"] = remap[arrays[f"block_{ns}_rows"]].astype(np.int32)
    arrays["vocab"] = np.frombuffer("\n".join(vocab.grams[i] for i in used).encode("utf-8"), np.uint8)
    arrays["idf"] = np.append(vocab.idf[used], 0.0).astype(np.float32)

    meta = models.meta
    meta["training"] = {
        "command": "python training_models/models.py" + (f" --limit {limit}" if limit else ""),
        "limit": limit,
        "seed": SEED,
        "sizes": corp.sizes,
        "data_sha256": data_fingerprint(root),
        "vocabulary": len(used),
        "hyper_parameters": HP,
        "emotion_priors": priors,
        "ngram_range": [T.NGRAM_MIN, T.NGRAM_MAX],
        "min_df": [MIN_DF, MIN_DF_CS],
        "prune": PRUNE,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    meta["licence"] = (
        "Trained on research-licensed data (jddc_uss, stc3_dch, online_shopping_10_cats, "
        "waimai_10k, smp2020_ewect; see docs/models.md). Weights only; no training text inside."
    )
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "models.npz", **arrays)
    (out / "models.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=False) + "\n", encoding="utf-8"
    )
    runtime._load_cached.cache_clear()
    log(
        f"wrote {out}/models.npz ({(out / 'models.npz').stat().st_size / 1e6:.1f} MB) and "
        f"models.json in {time.perf_counter() - t0:.1f}s"
    )
    return meta


def data_fingerprint(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.glob("*/*.gz")):
        h = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        out[f"{p.parent.name}/{p.name}"] = h
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python training_models/models.py", description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(D.DEFAULT_DATA), help="the shared data folder (default: ../shared/data)")
    ap.add_argument("--out", default=str(runtime.ARTEFACTS), help="where to write models.npz / models.json")
    ap.add_argument("--limit", type=int, default=None, help="train on a small slice (quick check only)")
    args = ap.parse_args(argv)
    try:
        root = D.data_dir(args.data)
    except D.DataMissing as e:
        log(str(e))
        return 2
    limiter = single_thread()
    try:
        train_all(root, Path(args.out), args.limit)
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
    return 0


def single_thread():
    """One core: the machines this runs on are shared (BLAS/OpenMP threads off, n_jobs=1
    everywhere). Returns the limiter (`.restore_original_limits()`), or None."""
    try:
        import scipy.sparse  # noqa: F401  (load the native libraries before limiting them)
        import sklearn.linear_model  # noqa: F401
        from threadpoolctl import threadpool_limits

        return threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return None


if __name__ == "__main__":
    raise SystemExit(main())
