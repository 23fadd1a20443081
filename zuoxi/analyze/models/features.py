"""Per-conversation features, computed the same way while training and at run time.

`prepare()` turns a conversation (roles + raw texts) into normalised texts and the context
features of every customer turn that need no model. The `*_dense` functions add what
the earlier models said (valence, emotion, exchange satisfaction) and give the dense feature
rows the later models read. Names of every dense column are listed next to it, so the
artefact's metadata can record them and `load_models` can check them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import text as T

EMOTIONS = ("angry", "anxious", "sad", "neutral", "positive")
SATISFACTION = ("dissatisfied", "neutral", "satisfied")
QUALITY_LABELS = ("-2", "-1", "0", "1", "2")

REPEAT_SIM = 0.6  # overlap of character bigrams above which a customer turn repeats an earlier one
REPEAT_MIN_BIGRAMS = 3  # "好的" twice is not repeating a request
REPEAT_WINDOW = 30  # compare with this many earlier customer turns at most (bounded cost)

CTX_NAMES = (
    [f"cue_{n}" for n in T.CUE_NAMES]
    + [f"agent_{n}" for n in T.AGENT_CUE_NAMES]
    + [
        "agent_before",
        "repeat_max_sim",
        "repeat_count",
        "customer_turns_since_agent",
        "customer_turns_so_far",
        "agent_turns_so_far",
        "chars",
        "agent_chars",
    ]
)
EMOTION_DENSE_NAMES = [f"cue_{n}" for n in T.CUE_NAMES] + ["valence"]
TURN_DENSE_NAMES = CTX_NAMES + ["valence"] + [f"emotion_{e}" for e in EMOTIONS]
DIALOGUE_DENSE_NAMES = (
    [
        "turns",
        "customer_turns",
        "agent_turns",
        "customer_chars",
        "agent_chars",
        "ends_with_customer",
        "max_repeat_count",
    ]
    + [f"sat_mean_{s}" for s in SATISFACTION]
    + [f"sat_last_{s}" for s in SATISFACTION]
    + [f"sat_last3_{s}" for s in SATISFACTION]
    + ["sat_max_dissatisfied", "sat_min_satisfied"]
    + [f"emo_mean_{e}" for e in EMOTIONS]
    + [f"emo_max_{e}" for e in EMOTIONS]
    + [f"emo_last_{e}" for e in EMOTIONS]
    + ["valence_mean", "valence_min", "valence_last"]
    + [f"cue_sum_{n}" for n in T.CUE_NAMES]
    + [f"agent_sum_{n}" for n in T.AGENT_CUE_NAMES]
)


@dataclass
class DialogueFeatures:
    """What the models read of one dialogue besides its n-grams: roles, normalized texts, who speaks
    where, and the context and cue counts of the customer turns."""

    roles: list[str]
    norms: list[str]
    cust: list[int]  # indices of customer turns
    agent: list[int]  # indices of agent turns
    ctx: np.ndarray  # (len(cust), len(CTX_NAMES)) context features, log-scaled counts
    cue: np.ndarray  # (len(cust), len(CUE_NAMES)) customer cue counts, log-scaled
    agent_cue_sum: np.ndarray  # (len(AGENT_CUE_NAMES),) over all agent turns, log-scaled


def dialogue_features(roles: list[str], texts: list[str], norms: list[str] | None = None) -> DialogueFeatures:
    """`norms`, when given, are the texts' normalized forms, already made."""
    if norms is None:
        norms = T.normalize_all(texts)
    cust: list[int] = []
    agent: list[int] = []
    ctx_rows: list[list[float]] = []
    cue_rows: list[list[float]] = []
    agent_sum = [0] * len(T.AGENT_CUE_NAMES)
    last_agent = ""
    last_agent_cues: tuple[int, ...] = (0,) * len(T.AGENT_CUE_NAMES)
    agent_before = 0.0
    since_agent = 0
    history: list[frozenset[str]] = []
    log1p = math.log1p  # not numpy's: its vectorised log1p differs in the last bit on some CPUs
    for i, (role, s) in enumerate(zip(roles, norms)):
        if role == "agent":
            agent.append(i)
            last_agent = s
            last_agent_cues = T.agent_cue_counts(s)
            agent_sum = [a + b for a, b in zip(agent_sum, last_agent_cues)]
            agent_before = 1.0
            since_agent = 0
            continue
        if role != "customer":
            continue
        bg = T.bigram_set(s)
        best = 0.0
        repeats = 0
        if len(bg) >= REPEAT_MIN_BIGRAMS:
            for h in history[-REPEAT_WINDOW:]:
                if len(h) >= REPEAT_MIN_BIGRAMS:
                    sim = T.similarity(bg, h)
                    if sim > best:
                        best = sim
                    if sim >= REPEAT_SIM:
                        repeats += 1
        cues = T.log_counts(T.cue_counts(s))
        cue_rows.append(cues)
        ctx_rows.append(
            cues
            + T.log_counts(last_agent_cues)
            + [
                agent_before,
                best,
                log1p(repeats),
                log1p(since_agent),
                log1p(len(cust)),
                log1p(len(agent)),
                log1p(len(s)),
                log1p(len(last_agent)),
            ]
        )
        cust.append(i)
        history.append(bg)
        since_agent += 1
    n_ctx = len(CTX_NAMES)
    return DialogueFeatures(
        roles=list(roles),
        norms=norms,
        cust=cust,
        agent=agent,
        ctx=np.asarray(ctx_rows, dtype=np.float64).reshape(-1, n_ctx),
        cue=np.asarray(cue_rows, dtype=np.float64).reshape(-1, len(T.CUE_NAMES)),
        agent_cue_sum=np.log1p(np.asarray(agent_sum, dtype=np.float64)),
    )


def emotion_dense(cue: np.ndarray, valence: np.ndarray) -> np.ndarray:
    """(n_texts, len(EMOTION_DENSE_NAMES)) from the texts' log-scaled cue counts and valence."""
    return np.concatenate([cue, valence.reshape(-1, 1)], axis=1)


def turn_dense(ctx: np.ndarray, valence: np.ndarray, emotion: np.ndarray) -> np.ndarray:
    """(n_customer_turns, len(TURN_DENSE_NAMES)) from the turns' context rows (`DialogueFeatures.ctx`);
    `emotion` are the text-only probabilities."""
    return np.concatenate([ctx, valence.reshape(-1, 1), emotion.reshape(-1, len(EMOTIONS))], axis=1)


def dialogue_dense(prep: DialogueFeatures, valence: np.ndarray, emotion: np.ndarray, sat: np.ndarray) -> np.ndarray:
    """(len(DIALOGUE_DENSE_NAMES),) for one conversation."""
    n_c = len(prep.cust)
    cust_chars = sum(len(prep.norms[i]) for i in prep.cust)
    agent_chars = sum(len(prep.norms[i]) for i in prep.agent)
    spoken = [r for r in prep.roles if r in ("customer", "agent")]
    head = [
        math.log1p(len(spoken)),
        math.log1p(n_c),
        math.log1p(len(prep.agent)),
        math.log1p(cust_chars),
        math.log1p(agent_chars),
        1.0 if spoken and spoken[-1] == "customer" else 0.0,
        float(prep.ctx[:, CTX_NAMES.index("repeat_count")].max()) if n_c else 0.0,
    ]
    if n_c:
        # ufunc reductions, not .mean()/.max(): the same numbers without numpy's Python wrappers
        add, high, low = np.add.reduce, np.maximum.reduce, np.minimum.reduce
        last3 = sat[-3:]
        sat_part = np.concatenate(
            [
                add(sat, 0) / n_c,
                sat[-1],
                add(last3, 0) / len(last3),
                [high(sat[:, 0]), low(sat[:, 2])],
                add(emotion, 0) / n_c,
                high(emotion, 0),
                emotion[-1],
                [add(valence) / n_c, low(valence), valence[-1]],
                add(prep.cue, 0),
            ]
        )
    else:  # no customer words: neutral placeholders
        ns, ne = len(SATISFACTION), len(EMOTIONS)
        neutral_sat = np.eye(ns)[1]
        neutral_emo = np.eye(ne)[EMOTIONS.index("neutral")]
        sat_part = np.concatenate(
            [neutral_sat, neutral_sat, neutral_sat, [0.0, 0.0]]
            + [neutral_emo] * 3
            + [[0.5, 0.5, 0.5], np.zeros(len(T.CUE_NAMES))]
        )
    return np.concatenate([head, sat_part, prep.agent_cue_sum])
