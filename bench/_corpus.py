"""The benchmark corpus: the bundled samples, replicated with fresh ids to any size."""

from __future__ import annotations

import json
from pathlib import Path

from zuoxi.ingest import read_paths
from zuoxi.model import Conversation

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def sample_conversations() -> list[Conversation]:
    return [record for _, record in read_paths([SAMPLES]) if isinstance(record, Conversation)]


def replicated(n: int, text_only: bool = False) -> list[Conversation]:
    """`n` copies of the samples; `text_only` leaves out the calls that come with a recording."""
    base = [c for c in sample_conversations() if not (text_only and c.audio)]
    return [base[i % len(base)].model_copy(update={"id": f"{base[i % len(base)].id}-r{i}"}) for i in range(n)]


def write_jsonl(conversations: list[Conversation], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for conv in conversations:
            handle.write(json.dumps(conv.model_dump(mode="json", exclude_none=True), ensure_ascii=False) + "\n")
