"""How a change to the masker moves real text: every text of ../shared/data masked by a git revision's
zuoxi/privacy.py and by the working tree's, and the texts that mask differently counted and shown (the words around
the first difference). A masking change should mask new forms of personal data and nothing else: read what it prints
for order numbers, prices, dates and codes masked by mistake.

    python eval/masking_drift.py                  # HEAD against the working tree
    python eval/masking_drift.py --base e18bffe   # an older commit against the working tree
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import io
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zuoxi import privacy

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
FUNCTIONS = ("mask_text", "mask_value", "mask_id")


def real_texts(data: Path) -> dict[str, list[str]]:
    """Every turn, post and review of the five data sets, by data set (read at run time; none is in the repo)."""
    texts: dict[str, list[str]] = {}
    with gzip.open(data / "jddc_uss" / "dialogues.jsonl.gz", "rt", encoding="utf-8") as f:
        texts["jddc_uss"] = [t["text"] for line in f for t in json.loads(line)["turns"]]
    with gzip.open(data / "stc3_dch" / "train_cn.jsonl.gz", "rt", encoding="utf-8") as f:
        texts["stc3_dch"] = [u for line in f for t in json.loads(line)["turns"] for u in t["utterances"]]
    for name, path in (
        ("online_shopping_10_cats", "online_shopping_10_cats/train_dev.csv.gz"),
        ("waimai_10k", "waimai_10k/waimai_10k.csv.gz"),
    ):
        with gzip.open(data / path, "rt", encoding="utf-8") as f:
            texts[name] = [row[-1] for row in list(csv.reader(io.StringIO(f.read())))[1:]]
    texts["smp2020_ewect"] = []
    for part in sorted((data / "smp2020_ewect").glob("*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as f:
            texts["smp2020_ewect"] += [json.loads(line)["content"] for line in f if line.strip()]
    return texts


def masker_at(revision: str) -> ModuleType:
    """zuoxi/privacy.py as it was at `revision`, loaded as a module of its own beside today's."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{revision}:zuoxi/privacy.py"], check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "privacy_base.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("privacy_base", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def around(before: str, after: str, width: int = 24) -> tuple[str, str]:
    """The two maskings around where they first differ."""
    start = next(
        (i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), min(len(before), len(after))
    )
    return before[max(0, start - width) : start + width], after[max(0, start - width) : start + width]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="HEAD", help="the git revision whose masker is compared (default HEAD)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--show", type=int, default=40, help="differences shown per function")
    a = ap.parse_args()
    if not (a.data / "jddc_uss").is_dir():
        print(f"real data not found at {a.data}", file=sys.stderr)
        return 2
    base = masker_at(a.base)
    texts = real_texts(a.data)
    total = sum(map(len, texts.values()))
    print(f"{total:,} real texts ({', '.join(f'{k} {len(v):,}' for k, v in texts.items())})")
    for name in FUNCTIONS:
        old: Callable[[str], str] = getattr(base, name)
        new: Callable[[str], str] = getattr(privacy, name)
        moved = [(source, old(t), new(t)) for source, items in texts.items() for t in items if old(t) != new(t)]
        print(f"{name}: {len(moved):,} of {total:,} mask differently ({a.base} → working tree)")
        for source, before, after in moved[: a.show]:
            was, now = around(before, after)
            print(f"  {source}: {was!r} → {now!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
