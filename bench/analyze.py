"""End-to-end `analyze` speed on one core: mask → normalize → models → rules, per conversation.

The same `analyze_conversation` the CLI runs, with the trained models on (the default) and off
(`--no-models`). CPU seconds of this process (time.process_time), pinned to one core, so other
load on the machine does not skew them. Target with models on: ≥ 500 conversations/s.
"""

from __future__ import annotations

import argparse
import os
import time

from _corpus import replicated

from zuoxi.analyze.models import load_models
from zuoxi.pipeline import analyze_conversation


def rate(conversations, models: bool) -> float:
    started = time.process_time()
    for conv in conversations:
        analyze_conversation(conv, models=models)
    return len(conversations) / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=5_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    conversations = list(replicated(args.n))
    load_models()
    for conv in conversations[:50]:  # warm caches (scorecards, OpenCC, models)
        analyze_conversation(conv)
    turns = sum(len(c.turns) for c in conversations)
    print(f"{args.n} conversations ({turns / args.n:.1f} turns each), scorecard auto, masking on, one core")
    print(f"analyze with models (emotion, satisfaction, risk, quality + rules): {rate(conversations, True):,.0f} conversations/s  [target ≥ 500]")
    print(f"analyze without models (--no-models, lexicon emotion): {rate(conversations, False):,.0f} conversations/s")


if __name__ == "__main__":
    main()
