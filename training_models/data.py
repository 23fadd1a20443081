"""Readers for the training sets in ../shared/data (see each folder's SOURCE.md).

Used by training and evaluation only; nothing here runs inside analysis. The data are
research-licensed: they are read in place and never copied into the repository.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class DataMissing(FileNotFoundError):
    pass


def data_dir(path: str | Path | None = None) -> Path:
    p = Path(path) if path else DEFAULT_DATA
    if not (p / "jddc_uss").is_dir():
        raise DataMissing(f"training data not found at {p} (expected jddc_uss/, stc3_dch/, …)")
    return p


@dataclass
class Dialogue:
    """One dialogue reduced to what the models use: roles/texts, plus whatever labels exist."""

    id: str
    roles: list[str]
    texts: list[str]
    turn_sat: list[int | None] = field(default_factory=list)  # jddc: per turn (None for agents)
    overall: int | None = None  # jddc: dialogue satisfaction 0/1/2
    quality: dict[str, np.ndarray] | None = None  # stc3: A/S/E vote distributions over −2…2
    source: str = ""


def _gz_lines(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_jddc(root: Path, limit: int | None = None) -> list[Dialogue]:
    out = []
    for d in _gz_lines(root / "jddc_uss" / "dialogues.jsonl.gz"):
        roles, texts, sat = [], [], []
        for t in d["turns"]:
            roles.append(t["role"])
            texts.append(t["text"])
            sat.append((t.get("labels") or {}).get("sat3") if t["role"] == "customer" else None)
        out.append(Dialogue(d["id"], roles, texts, sat, d["labels"]["overall_sat3"], source="jddc"))
        if limit and len(out) >= limit:
            break
    return out


def load_stc3(root: Path, limit: int | None = None) -> list[Dialogue]:
    out = []
    for d in _gz_lines(root / "stc3_dch" / "train_cn.jsonl.gz"):
        roles, texts = [], []
        for t in d["turns"]:
            roles.append("customer" if t["sender"] == "customer" else "agent")
            texts.append(" ".join(u for u in t["utterances"] if u))
        q = {}
        for k in "ASE":
            votes = np.zeros(5)
            for a in d["annotations"]:
                votes[a["quality"][k] + 2] += 1
            q[k] = votes / votes.sum()
        out.append(Dialogue(str(d["id"]), roles, texts, quality=q, source="stc3"))
        if limit and len(out) >= limit:
            break
    return out


def _csv_rows(path: Path):
    with gzip.open(path, "rb") as fh:
        yield from csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8", newline=""))


def load_online_shopping(root: Path, limit: int | None = None):
    """(texts, labels 0/1, categories)."""
    texts, labels, cats = [], [], []
    for r in _csv_rows(root / "online_shopping_10_cats" / "train_dev.csv.gz"):
        texts.append(r["review"])
        labels.append(int(r["label"]))
        cats.append(r["cat"])
    return _slice(limit, texts, labels, cats)


def load_waimai(root: Path, limit: int | None = None):
    texts, labels = [], []
    for r in _csv_rows(root / "waimai_10k" / "waimai_10k.csv.gz"):
        texts.append(r["review"])
        labels.append(int(r["label"]))
    return _slice(limit, texts, labels)


SMP_FILES = (
    "usual_eval_labeled",
    "usual_test_labeled",
    "virus_train",
    "virus_eval_labeled",
    "virus_test_labeled",
)


def load_smp(root: Path, limit: int | None = None, files=SMP_FILES):
    """(texts, labels, file names) of SMP2020-EWECT; six labels as in the source."""
    texts, labels, names = [], [], []
    for name in files:
        for r in _gz_lines(root / "smp2020_ewect" / f"{name}.jsonl.gz"):
            texts.append(r["content"])
            labels.append(r["label"])
            names.append(name)
    return _slice(limit, texts, labels, names)


def _slice(limit, *cols):
    """A deterministic, label-mixed slice for --limit: every k-th row."""
    if not limit or limit >= len(cols[0]):
        return cols
    step = max(1, len(cols[0]) // limit)
    return tuple(c[::step][:limit] for c in cols)
