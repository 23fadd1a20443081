"""Results as Parquet parts: what `zuoxi analyze --engine dask --parquet DIR` writes, one file per shard.

One row per (conversation, scorecard):

| column | type | |
| --- | --- | --- |
| `conversation_key` | string | the store's content key (sha256 of the masked conversation) |
| `conversation_id`, `agent_id`, `team`, `channel`, `started_at` | string | from the conversation |
| `source` | string | the input file, relative to its input root (the folder given, or a file's own folder) |
| `shard` | string | `source`, or `source#lines A-B` / `source#rows A-B` for part of a big file |
| `scorecard` | string | |
| `score`, `max_score` | double | |
| `veto` | bool | |
| `failed_rules` | list<string> | rule IDs whose status is `fail` |
| `satisfaction` | string | dissatisfied / neutral / satisfied |
| `complaint_risk` | double | null without the models |
| `result` | string | the whole Result as JSON (DESIGN.md §3; `Result.model_validate_json` reads it back) |
| `conversation` | string | the conversation as analyzed (masked unless --no-mask), JSON |

A part is written under a temporary name beginning with a dot and renamed when complete, so a crash
never leaves half a part, and readers of the folder (pyarrow, DuckDB, Spark) skip unfinished ones.
A part's name comes from its shard's key, so a shard done again replaces its part; parts that the
current plan does not name are moved aside (`supersede_parts`), so the folder holds each conversation once.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from zuoxi.ingest.parquet import pyarrow_modules
from zuoxi.model import Conversation, Result

SUPERSEDED = "_superseded"  # readers of a folder skip names starting with _ or .


def result_schema():
    pa, _ = pyarrow_modules()
    return pa.schema(
        [
            ("conversation_key", pa.string()),
            ("conversation_id", pa.string()),
            ("agent_id", pa.string()),
            ("team", pa.string()),
            ("channel", pa.string()),
            ("started_at", pa.string()),
            ("source", pa.string()),
            ("shard", pa.string()),
            ("scorecard", pa.string()),
            ("score", pa.float64()),
            ("max_score", pa.float64()),
            ("veto", pa.bool_()),
            ("failed_rules", pa.list_(pa.string())),
            ("satisfaction", pa.string()),
            ("complaint_risk", pa.float64()),
            ("result", pa.string()),
            ("conversation", pa.string()),
        ]
    )


def result_row(key: str, conversation: Conversation, result: Result, source: str, shard: str) -> dict:
    return dict(
        conversation_key=key,
        conversation_id=conversation.id,
        agent_id=conversation.agent_id,
        team=conversation.team,
        channel=conversation.channel,
        started_at=conversation.started_at.isoformat() if conversation.started_at else None,
        source=source,
        shard=shard,
        scorecard=result.scorecard,
        score=result.score,
        max_score=result.max_score,
        veto=result.veto,
        failed_rules=[f.rule for f in result.failed()],
        satisfaction=result.satisfaction.label if result.satisfaction else None,
        complaint_risk=result.complaint_risk,
        result=result.model_dump_json(),
        conversation=conversation.model_dump_json(),
    )


def write_part(rows: Iterable[dict], target: str | Path) -> Path:
    """Write the rows to `target` atomically (a dot-named temporary file in the same folder, then a rename).
    An empty part (a shard with no readable conversation) still records that the shard is done."""
    pa, pq = pyarrow_modules()
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pq.write_table(pa.Table.from_pylist(list(rows), schema=result_schema()), str(temporary))
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def read_results(folder: str | Path) -> list[Result]:
    """Every Result in a folder of parts (finished parts only), in part-name order."""
    _, pq = pyarrow_modules()
    results = []
    for part in sorted(Path(folder).glob("part-*.parquet")):
        results += [
            Result.model_validate_json(text)
            for text in pq.read_table(str(part), columns=["result"]).column("result").to_pylist()
        ]
    return results


def read_part(path: str | Path) -> list[tuple[Conversation, Result, str]]:
    """A part's (conversation, result, conversation key) rows, in their order: an earlier run's results.
    Raises OSError or ValueError when the part cannot be read."""
    _, pq = pyarrow_modules()
    table = pq.read_table(str(path), columns=["conversation_key", "conversation", "result"])
    keys, conversations, results = (table.column(name).to_pylist() for name in table.column_names)
    return [
        (Conversation.model_validate_json(conversation), Result.model_validate_json(result), key)
        for key, conversation, result in zip(keys, conversations, results)
    ]


def supersede_parts(folder: str | Path, keep: set[str]) -> int:
    """Move the parts not named in `keep` (an older plan's: their input changed or is gone, or the options
    did) into `folder/_superseded/`, out of readers' sight but not lost, and delete temporary files that a
    killed writer left behind. Returns how many parts were moved."""
    folder = Path(folder)
    for temporary in folder.glob(".part-*.tmp"):
        temporary.unlink(missing_ok=True)
    stale = [part for part in folder.glob("part-*.parquet") if part.name not in keep]
    if stale:
        (folder / SUPERSEDED).mkdir(exist_ok=True)
    for part in stale:
        os.replace(part, folder / SUPERSEDED / part.name)
    return len(stale)
