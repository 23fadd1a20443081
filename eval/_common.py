"""Shared set-up of the evaluation scripts: data, vocabulary, the stages trained on other sets.

The evaluation scripts retrain the models inside cross-validation folds with exactly the recipe
of `zuoxi.analyze.models.train` (same features, same hyper-parameters); they never look at the
committed artefacts, whose training saw every fold. The n-gram vocabulary and its idf are built
once from all texts: that uses no labels (a held-out fold's unseen n-grams get no weight).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training_models import data as D
from training_models import models as TR

T0 = time.perf_counter()


def args(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", default=str(D.DEFAULT_DATA), help="shared data folder (default ../shared/data)")
    ap.add_argument("--limit", type=int, default=None, help="small slice, to check the script runs")
    return ap.parse_args()


def setup(a: argparse.Namespace):
    TR.single_thread()
    try:
        root = D.data_dir(a.data)
    except D.DataMissing as e:
        print(e, file=sys.stderr)
        raise SystemExit(2) from None
    corp = TR.load_corpora(root, a.limit)
    vocab = TR.build_vocab(corp)
    note(f"vocabulary {len(vocab)} n-grams")
    return corp, vocab


def note(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def table(title: str, headers: list[str], rows: list[list]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
    for r in rows:
        cells = [f"{c:.3f}" if isinstance(c, float) else str(c) for c in r]
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()
