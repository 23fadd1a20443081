"""End-to-end `analyze` speed on one core: mask → normalize → models → rules, per conversation.

What `zuoxi analyze` runs — `iter_analyses`, the models a chunk of `PREDICT_CHUNK` conversations
ahead of the rules, as both batch engines call it — with the trained models on (the default) and
off (`--no-models`), and `analyze_conversation` one conversation at a time (live assist, the web
app's single analyses).
CPU seconds of this process (time.process_time), pinned to one core. The corpus is run in rounds,
the three ways alternating, and the median round is printed with the range: on a shared virtual
machine single runs vary by ±20 %. Target for `zuoxi analyze` with models on: ≥ 500 conversations/s.

Last, the command itself on the same number of text conversations (the samples' calls with a
recording left out: their audio is `bench/audio.py`'s), end to end — start-up, model loading,
reading, validation, masking, analysis, JSON written — in a child process on the same core.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _corpus import replicated, write_jsonl

from zuoxi.analyze.models import load_models
from zuoxi.pipeline import analyze_conversation, iter_analyses


def rate(conversations, models: bool, together: bool = True) -> float:
    started = time.process_time()
    if together:
        for _ in iter_analyses(conversations, models=models):
            pass
    else:
        for conv in conversations:
            analyze_conversation(conv, models=models)
    return len(conversations) / (time.process_time() - started)


def summary(rates: list[float]) -> str:
    return f"{statistics.median(rates):,.0f} conversations/s (median of {len(rates)} rounds; {min(rates):,.0f}–{max(rates):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=5_000, help="conversations in all")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    conversations = list(replicated(args.n))
    load_models()
    for conv in conversations[:50]:  # warm caches (scorecards, OpenCC, models)
        analyze_conversation(conv)
    turns = sum(len(c.turns) for c in conversations)
    size = max(1, len(conversations) // args.rounds)
    rounds = [conversations[i : i + size] for i in range(0, size * args.rounds, size)]
    with_models, without, one_by_one = [], [], []
    for chunk in rounds:
        with_models.append(rate(chunk, True))
        without.append(rate(chunk, False))
        one_by_one.append(rate(chunk, True, together=False))
    print(f"{args.n} conversations ({turns / args.n:.1f} turns each), scorecard auto, masking on, one core")
    print(f"analyze with models (emotion, satisfaction, risk, quality + rules): {summary(with_models)}  [target ≥ 500]")
    print(f"analyze without models (--no-models, lexicon emotion): {summary(without)}")
    print(f"one conversation at a time with models (analyze_conversation: live, web): {summary(one_by_one)}")
    print(f"zuoxi analyze FILE --no-store --format json, end to end: {command_rate(args.n):,.0f} conversations/s")


def command_rate(n: int) -> float:
    """Conversations per CPU second of a whole `zuoxi analyze` run over `n` text conversations."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "chats.jsonl"
        write_jsonl(replicated(n, text_only=True), source)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "zuoxi.cli",
                "analyze",
                str(source),
                "--no-store",
                "--format",
                "json",
                "--out",
                str(Path(tmp) / "results.jsonl"),
            ],
            check=True,
            capture_output=True,
            cwd=tmp,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return n / (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


if __name__ == "__main__":
    main()
