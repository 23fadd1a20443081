"""Parquet shards of canonical conversations: one row per conversation, the columns of DESIGN.md §2.

| column | type | |
| --- | --- | --- |
| `id` | string | required |
| `channel` | string | `chat` (default) or `call` |
| `agent_id`, `team`, `audio` | string | optional |
| `started_at` | string (ISO 8601, offset kept) or timestamp | optional |
| `duration` | double | optional |
| `meta` | string: a JSON object | optional |
| `turns` | list<struct<role: string, text: string, start: double, end: double>>, or string: a JSON array of turns | required |

Null means absent. Other columns (a dataset's partition keys, say) are ignored. A row that is not a
valid conversation is reported as `file:ROW: reason` — the 1-based row number stands where a text
format has its line — and the rest of the file is read. `write_conversations` writes this schema
(turns as a list of structs, started_at as text so the offset survives the round trip).

pyarrow is the optional `parquet` extra (`pip install 'zuoxi[parquet]'`); without it a Parquet file is
reported as one error, not a crash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from zuoxi.ingest.canonical import NESTED_TOO_DEEP, Record, validate
from zuoxi.ingest.errors import IngestError, given_up_if_nothing_read, os_problem
from zuoxi.ingest.jsonparse import json_problem
from zuoxi.ingest.registry import Source, parse_json, reader
from zuoxi.model import Conversation

FIELDS = ("id", "channel", "agent_id", "team", "started_at", "duration", "audio", "meta", "turns")
BATCH_ROWS = 1_000  # rows turned into Python objects at a time: a row group's millions at once took gigabytes
NO_PYARROW = "读取 Parquet 需要 pyarrow：pip install 'zuoxi[parquet]'"


class ParquetUnavailable(RuntimeError):
    pass


def pyarrow_modules():
    """(pyarrow, pyarrow.parquet), or ParquetUnavailable saying how to install them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as error:
        raise ParquetUnavailable(NO_PYARROW) from error
    return pyarrow, pyarrow.parquet


def conversation_schema():
    pa, _ = pyarrow_modules()
    turn = pa.struct([("role", pa.string()), ("text", pa.string()), ("start", pa.float64()), ("end", pa.float64())])
    return pa.schema(
        [
            ("id", pa.string()),
            ("channel", pa.string()),
            ("agent_id", pa.string()),
            ("team", pa.string()),
            ("started_at", pa.string()),
            ("duration", pa.float64()),
            ("audio", pa.string()),
            ("meta", pa.string()),
            ("turns", pa.list_(turn)),
        ]
    )


def conversation_row(conversation: Conversation) -> dict[str, Any]:
    data = conversation.model_dump(mode="json")
    data["meta"] = json.dumps(data["meta"], ensure_ascii=False) if data["meta"] else None
    return data


def write_conversations(conversations: Iterable[Conversation], path: str | Path, row_group_size: int = 1000) -> int:
    """Write conversations as one Parquet file of the schema above; returns how many."""
    pa, pq = pyarrow_modules()
    rows = [conversation_row(c) for c in conversations]
    pq.write_table(pa.Table.from_pylist(rows, schema=conversation_schema()), str(path), row_group_size=row_group_size)
    return len(rows)


def row_groups(path: str | Path) -> list[int]:
    """The number of rows of each row group (how the Dask engine splits a big file into shards)."""
    _, pq = pyarrow_modules()
    metadata = pq.ParquetFile(str(path)).metadata
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


def _record(row: dict[str, Any] | IngestError, path: str, number: int) -> Record:
    if isinstance(row, IngestError):
        return row
    record = {}
    for name in FIELDS:
        value = row.get(name)
        if value is None:
            continue
        if name in ("meta", "turns") and isinstance(value, str | bytes):
            try:
                value = parse_json(value)
            except json.JSONDecodeError as error:
                return IngestError(path, number, f"{name}：{json_problem(error)}")
            except RecursionError:  # one row's error: it ended the file's other rows
                return IngestError(path, number, f"{name}：{NESTED_TOO_DEEP}")
        if name == "turns" and isinstance(value, list):
            value = [
                {k: v for k, v in turn.items() if v is not None} if isinstance(turn, dict) else turn for turn in value
            ]
        record[name] = value
    return validate(record, path, number)


def read_parquet(
    data: bytes | str | Path, path: str, groups: Sequence[int] | None = None, first_row: int = 1
) -> Iterator[Record]:
    """Conversations of a Parquet file (bytes or a path), or of some of its row groups (then `first_row`
    is the file row number of the first group's first row, for error messages). A file whose first
    MAX_ERRORS_BEFORE_ANY rows are all errors is not read on (`given_up_if_nothing_read`)."""
    return given_up_if_nothing_read(_read_parquet(data, path, groups, first_row), path)


def _read_parquet(
    data: bytes | str | Path, path: str, groups: Sequence[int] | None, first_row: int
) -> Iterator[Record]:
    try:
        pa, pq = pyarrow_modules()
    except ParquetUnavailable as error:
        yield IngestError(path, None, str(error))
        return
    try:
        handle = pq.ParquetFile(pa.BufferReader(_arrow_owned(pa, data)) if isinstance(data, bytes) else str(data))
        columns = [name for name in FIELDS if name in handle.schema_arrow.names]
        if "turns" not in columns or "id" not in columns:
            yield IngestError(
                path,
                None,
                f"不是会话表：需要 id 和 turns 两列（现有列：{', '.join(handle.schema_arrow.names)}）",
            )
            return
        wanted = range(handle.metadata.num_row_groups) if groups is None else groups
        number = first_row
        for group in wanted:
            for batch in handle.iter_batches(batch_size=BATCH_ROWS, row_groups=[group], columns=columns):
                for row in _rows(batch, path, number):
                    yield _record(row, path, number)
                    number += 1
    except (pa.ArrowException, OSError) as error:  # not Parquet, truncated, unreadable column types
        yield IngestError(path, None, f"不是能读的 Parquet 文件：{parquet_problem(error)}")


def _arrow_owned(pa: Any, data: bytes) -> Any:
    """A copy of `data` in memory of Arrow's own. Arrow's threads let go of a buffer after the read that used it has
    returned; when that buffer wraps a Python object (`io.BytesIO`, `pa.py_buffer`), letting go takes the interpreter's
    lock, and a thread doing so while the interpreter exited aborted the process ("terminate called without an active
    exception", exit status 134) at the end of a run that had gone well."""
    stream = pa.BufferOutputStream()
    stream.write(data)
    return stream.getvalue()


def _rows(batch: Any, path: str, first: int) -> list[dict[str, Any] | IngestError]:
    """The batch's rows as dicts; a row with a value Python cannot hold (a timestamp past year 9999) is that row's
    error, naming the column: converting the batch whole raised for all of them (a traceback that ended the batch)."""
    try:
        return batch.to_pylist()
    except (ValueError, ArithmeticError):
        pass
    rows: list[dict[str, Any] | IngestError] = []
    for i in range(batch.num_rows):
        row = batch.slice(i, 1)
        try:
            rows.append(row.to_pylist()[0])
        except (ValueError, ArithmeticError):
            rows.append(_unreadable(row, path, first + i))
    return rows


def _unreadable(row: Any, path: str, number: int) -> IngestError:
    for name in row.schema.names:
        try:
            row.column(name).to_pylist()
        except (ValueError, ArithmeticError) as error:
            return IngestError(path, number, f"{name}：{_value_problem(error, row.schema.field(name).type)}")
    return IngestError(path, number, "有 Python 读不了的值")


_SMALL = re.compile(r"Parquet file size is (?P<size>\d+) bytes")
_YEAR = re.compile(r"year (?P<year>-?\d+) is out of range")


def parquet_problem(error: BaseException) -> str:
    """Why pyarrow could not read a Parquet file, in Chinese: its own words (ArrowInvalid: Parquet file size is 108
    bytes, smaller than the minimum file footer) reached the terminal and the upload page as they were."""
    message = str(error)
    if isinstance(error, OSError) and getattr(error, "errno", None):
        return os_problem(error)
    if small := _SMALL.search(message):
        return f"文件只有 {int(small['size']):,} 字节，不是完整的 Parquet 文件"
    if "magic bytes not found" in message:
        return "文件结尾没有 Parquet 的标记（PAR1）：不是 Parquet 文件，或文件不完整"
    if "thrift" in message or "footer" in message or "metadata" in message.lower():
        return "文件的元数据或数据页损坏：文件不完整或被改动过"
    if "decompress" in message.lower() or "compressed" in message.lower() or "codec" in message.lower():
        return "压缩数据损坏，或用了读不了的压缩方式"
    if type(error).__name__ == "ArrowNotImplementedError":
        return "有列用了 pyarrow 读不了的类型或编码"
    return "文件损坏，或不是 Parquet 格式（pyarrow 读不了）"


def _value_problem(error: BaseException, kind: Any) -> str:
    """Why a value of a column of Arrow type `kind` cannot be held in Python, in Chinese (`_unreadable`): a time past
    year 9999 (OverflowError: date value out of range; ValueError: year 33658 is out of range)."""
    if year := _YEAR.search(str(error)):
        return f"有个时间的年份 {year['year']} 超出了 1–9999 年，读不了"
    if str(kind).startswith(("timestamp", "date", "time", "duration")):
        return "有个时间超出了 1–9999 年，读不了"
    if isinstance(error, ArithmeticError):
        return "有个数值太大，读不了"
    return "有个值读不了（超出了范围）"


@reader("parquet", ".parquet")
def parquet_file(source: Source) -> Iterator[Record]:
    """One row per conversation; the bytes are read directly (no text decoding)."""
    yield from read_parquet(source.data, source.name)
