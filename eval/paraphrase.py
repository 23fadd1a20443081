"""How well a similarity measure tells a reworded proposal from a different one (CS-01's broken record).

    python eval/paraphrase.py

Pairs are two `propose` turns of the same agent in one dialogue, outside the test part; the readers gave
each proposal a key in their own words (docs/labelling.md), so a pair is "the same proposal" when the keys
are equal. Printed: the area under the ROC curve of each measure (0.5 = chance), and at the threshold
the scorecard uses, how many same pairs are caught and how many different pairs are merged.
"""

from __future__ import annotations

import argparse
import json
import sys
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.realdata import DEFAULT_DATA, LABELS, conversations, read_jsonl
from zuoxi.normalize import normalize_turn
from zuoxi.rules.operators.text import bigrams, overlap


def grams(text: str) -> set[str]:
    return bigrams(normalize_turn(text))


MEASURES = {
    "character-bigram overlap": overlap,
    "function-character-weighted overlap (used)": lambda a, b: overlap(a, b, weighted=True),
}


def auc(same: list[float], different: list[float]) -> float:
    """Probability that a same pair scores above a different one (ties count half)."""
    wins = sum((s > d) + 0.5 * (s == d) for s in same for d in different)
    return wins / (len(same) * len(different))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--threshold", type=float, default=0.3, help="CS-01's similarity in core.yaml")
    args = ap.parse_args()
    test = set(json.loads((LABELS / "split.json").read_text())["test"])
    convs = conversations(args.data)
    pairs: list[tuple[bool, set[str], set[str]]] = []
    for record in read_jsonl(LABELS / "acts.jsonl"):
        if record["id"] in test or record["id"] not in convs:
            continue
        turns = convs[record["id"]].turns
        proposals = [
            (turn, act.split(":", 1)[1])
            for turn, acts in enumerate(record["acts"])
            for act in acts
            if act.startswith("propose:") and turn < len(turns)
        ]
        for (t1, k1), (t2, k2) in combinations(proposals, 2):
            if t1 != t2:
                pairs.append((k1 == k2, grams(turns[t1].text), grams(turns[t2].text)))
    same = [p for p in pairs if p[0]]
    print(
        f"{len(pairs)} pairs of proposals in one dialogue ({len(same)} the same proposal reworded), test part left out"
    )
    for name, measure in MEASURES.items():
        s = [measure(a, b) for ok, a, b in pairs if ok]
        d = [measure(a, b) for ok, a, b in pairs if not ok]
        caught = sum(x >= args.threshold for x in s) / len(s)
        merged = sum(x >= args.threshold for x in d) / len(d)
        print(
            f"{name}: AUC {auc(s, d):.3f}; at {args.threshold}: {caught:.0%} of same pairs caught, "
            f"{merged:.0%} of different pairs merged"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
