"""The real conversations of the evaluation: jddc_uss and stc3_dch read as zuoxi Conversations.

A jddc_uss turn is one line of the chat (the data already join an agent's consecutive messages with a
space); an stc3_dch turn is one post of the Weibo thread, its utterances joined with a space (empty
utterances are uncrawled images). The texts are read from ../shared/data at run time and never copied
into the repository: the labels in eval/labels/ hold dialogue ids, turn numbers and our own verdicts.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from zuoxi.model import Conversation

ROOT = Path(__file__).resolve().parent
LABELS = ROOT / "labels"
DEFAULT_DATA = ROOT.parents[1] / "shared" / "data"


def _lines(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _files(folder: Path) -> list[Path]:
    """Every `*.jsonl.gz` of a data set's folder (`dialogues.jsonl.gz`, `train_cn.jsonl.gz` here; a held-out
    split kept elsewhere may be named otherwise); none where the folder is absent."""
    return sorted(folder.glob("*.jsonl.gz")) if folder.is_dir() else []


def jddc(data: Path = DEFAULT_DATA) -> Iterator[Conversation]:
    """USDA dropped the agent's messages before the customer's first one (SOURCE.md): the opening is not logged."""
    for d in (d for path in _files(data / "jddc_uss") for d in _lines(path)):
        yield Conversation(
            id=d["id"],
            channel="chat",
            meta={"source": "jddc_uss", "scorecard": "ecommerce", "opening": "not_logged"},
            turns=[{"role": t["role"], "text": t["text"]} for t in d["turns"]],
        )


def stc3(data: Path = DEFAULT_DATA) -> Iterator[Conversation]:
    files = _files(data / "stc3_dch")
    chinese = [path for path in files if "_cn" in path.name]  # STC-3 ships English translations under the same ids
    for d in (d for path in chinese or files for d in _lines(path)):
        turns = [
            {
                "role": "customer" if t["sender"] == "customer" else "agent",
                "text": " ".join(u for u in t["utterances"] if u),
            }
            for t in d["turns"]
        ]
        yield Conversation(
            id=f"stc3_{d['id']}", channel="chat", meta={"source": "stc3_dch", "scorecard": "core"}, turns=turns
        )


def conversations(data: Path = DEFAULT_DATA) -> dict[str, Conversation]:
    """Every real conversation by id (jddc_uss ids as in the data; stc3_dch ids prefixed `stc3_`). An id read
    twice (two files holding the same dialogue) is an error, not a silent choice of one."""
    out: dict[str, Conversation] = {}
    for c in (c for source in (jddc, stc3) for c in source(data)):
        if c.id in out:
            raise ValueError(f"{data}: conversation {c.id} is in two data files")
        out[c.id] = c
    return out


def split() -> dict[str, list[str]]:
    return json.loads((LABELS / "split.json").read_text(encoding="utf-8"))


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
