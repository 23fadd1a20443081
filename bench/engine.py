"""Scoring speed of the `core` scorecard on 20,000 conversations, on one core.

Times are CPU seconds of this process (time.process_time), so other load on the machine does not
skew them. Also times the naive approach on the same conversations — one Python `re` search per keyword per
turn for every keyword list the scorecard uses — and prints the ratio. Target ≥ 2,000 conversations/s.
"""

from __future__ import annotations

import argparse
import os
import re
import time

from _corpus import replicated

from zuoxi.analyze.emotion import customer_emotions
from zuoxi.normalize import normalize_text, prepare
from zuoxi.privacy import mask_conversation
from zuoxi.rules.engine import get_scorecard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--scorecard", default="core")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    conversations = [mask_conversation(c) for c in replicated(args.n)]
    scorecard = get_scorecard(args.scorecard)

    started = time.process_time()
    fails = 0
    for conv in conversations:
        prepared = prepare(conv)
        result = scorecard.evaluate(scorecard.context(prepared, emotions=customer_emotions(prepared)))
        fails += len(result.failed())
    engine_seconds = time.process_time() - started

    # Naive: every keyword of the scorecard searched with its own regex in every turn.
    keywords = sorted({normalize_text(w) for words in scorecard.spec.lexicons.values() for w in map(str, words)})
    patterns = [re.compile(re.escape(w)) for w in keywords]
    started = time.process_time()
    naive_hits = 0
    for conv in conversations:
        for turn in conv.turns:
            text = normalize_text(turn.text)
            for pattern in patterns:
                if pattern.search(text):
                    naive_hits += 1
    naive_seconds = time.process_time() - started

    engine_rate, naive_rate = args.n / engine_seconds, args.n / naive_seconds
    print(f"{args.n} conversations, scorecard {args.scorecard} ({len(scorecard.items)} items), {fails} failed findings")
    print(f"zuoxi engine (all rules, evidence, scores): {engine_rate:,.0f} conversations/s  [target ≥ 2,000]")
    print(
        f"naive keyword search only ({len(patterns)} keywords × turns, one re each): {naive_rate:,.0f} conversations/s"
    )
    print(f"ratio: the full engine is {engine_rate / naive_rate:.1f}× the naive keyword pass alone")


if __name__ == "__main__":
    main()
