"""Prediction speed of the committed models on one core (conversations per second).

Runs `load_models().predict()` one conversation at a time (single analyses) and `predict_many()`
over chunks of `PREDICT_CHUNK` conversations (what `zuoxi analyze` and `zuoxi predict` run), over
the jddc_uss dialogues (27 turns on average) and the stc3_dch dialogues (2–7 turns), or, without
the data folder, over built-in examples. CPU time of this process (one thread: BLAS threads are
limited to one); the best of `--repeat` runs.

    python eval/speed_models.py [--data ../shared/data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training_models import data as D
from zuoxi.analyze.models import PREDICT_CHUNK, load_models
from zuoxi.model import Conversation


def limit_threads() -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def conversations(root):
    if root is None:
        turns = [
            {"role": "customer", "text": "你好,我的快递怎么还没到?"},
            {"role": "agent", "text": "您好,请提供一下订单号,我帮您查询"},
            {"role": "customer", "text": "123456"},
            {"role": "agent", "text": "已为您催促,明天送达"},
            {"role": "customer", "text": "好的,谢谢"},
        ]
        return {"built-in (5 turns)": [Conversation(id=f"c{i}", turns=turns) for i in range(500)]}
    out = {}
    for name, dialogues in (("jddc_uss", D.load_jddc(root)), ("stc3_dch", D.load_stc3(root))):
        out[name] = [
            Conversation(id=d.id, turns=[{"role": r, "text": t} for r, t in zip(d.roles, d.texts)]) for d in dialogues
        ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=str(D.DEFAULT_DATA))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    limit_threads()
    try:
        root = D.data_dir(a.data)
    except D.DataMissing:
        root = None
    t0 = time.perf_counter()
    models = load_models()
    print(f"load_models(): {time.perf_counter() - t0:.2f}s (first call; cached afterwards)")
    print("\n| conversations | count | turns/conversation | how | conversations/s (1 core) | ms/conversation |")
    print("|---|---:|---:|---|---:|---:|")
    ways = {
        "one at a time (predict)": lambda convs: [models.predict(c) for c in convs],
        f"{PREDICT_CHUNK} at a time (predict_many)": lambda convs: [
            models.predict_many(convs[i : i + PREDICT_CHUNK]) for i in range(0, len(convs), PREDICT_CHUNK)
        ],
    }
    for name, convs in conversations(root).items():
        models.predict_many(convs[:20])
        best = dict.fromkeys(ways, float("inf"))
        for _ in range(a.repeat):  # the ways alternate, so a slow spell of the machine hits both
            for how, run in ways.items():
                t = time.process_time()
                run(convs)
                best[how] = min(best[how], time.process_time() - t)
        turns = sum(len(c.turns) for c in convs) / len(convs)
        for how, dt in best.items():
            print(
                f"| {name} | {len(convs)} | {turns:.1f} | {how} | {len(convs) / dt:.0f} | {1000 * dt / len(convs):.2f} |"
            )


if __name__ == "__main__":
    main()
