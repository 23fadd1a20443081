"""Canonical conversations (DESIGN.md §2): JSON Lines, or one JSON array / object per file."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from zuoxi.ingest.encoding import BAD_BYTES, BAD_LINE, UnknownEncoding, text_lines
from zuoxi.ingest.errors import IngestError, Record, describe_validation_error
from zuoxi.ingest.limits import (
    FIRST_YEAR,
    LAST_YEAR,
    MAX_CONVERSATION_CHARS,
    MAX_LINE_CHARS,
    MAX_NESTING,
    MAX_TURN_CHARS,
    MAX_TURNS,
)
from zuoxi.ingest.registry import READERS, Source, parse_json, reader
from zuoxi.model import SURROGATE, Conversation
from zuoxi.normalize import clean_whitespace

__all__ = ["NESTED_TOO_DEEP", "Record", "read_json_conversations", "read_jsonl", "validate"]

NESTED_TOO_DEEP = "invalid JSON: nested too deeply"  # json.loads raises RecursionError


def validate(record: Any, path: str, line: int | None) -> Record:
    if not isinstance(record, dict):
        return IngestError(path, line, f"expected a conversation object, got {type(record).__name__}")
    if isinstance(record.get("turns"), list):  # display cleanup of every reader's text (normalize.clean_whitespace)
        record = {
            **record,
            "turns": [
                {**turn, "text": clean_whitespace(turn["text"])}
                if isinstance(turn, dict) and isinstance(turn.get("text"), str)
                else turn
                for turn in record["turns"]
            ],
        }
    if too_big := _over_bounds(record):
        return IngestError(path, line, too_big)
    if not_text := _unpaired_surrogate(record):
        return IngestError(path, line, not_text)
    try:
        conversation = Conversation.model_validate(record)
    except ValidationError as error:
        return IngestError(path, line, describe_validation_error(error))
    if conversation.duration is not None and not math.isfinite(conversation.duration):
        # JSON's 1e400 (or a text log's `# duration: inf`): stored as `Infinity`, which is no JSON a database or tool reads
        return IngestError(path, line, "duration: must be a finite number of seconds")
    if conversation.started_at and not FIRST_YEAR <= conversation.started_at.year <= LAST_YEAR:
        return IngestError(
            path, line, f"started_at: year {conversation.started_at.year}, not in {FIRST_YEAR}–{LAST_YEAR}"
        )
    return conversation


def _unpaired_surrogate(value: Any, where: str = "", depth: int = 0) -> str | None:
    """Where a string of the record holds half of a UTF-16 pair (JSON's "\\ud83d" alone), which no text encoding can
    write (it failed the whole batch when printed or stored), or where arrays and objects nest more than MAX_NESTING
    deep (`meta` 900 levels deep parsed, then overflowed the stack when masked: a traceback that ended the batch);
    None when neither."""
    if depth > MAX_NESTING:
        return f"{where.split('.')[0]}: arrays and objects nested more than {MAX_NESTING} levels deep"
    if isinstance(value, str):
        found = SURROGATE.search(value)
        return (
            f"{where or 'text'}: an unpaired UTF-16 surrogate (\\u{ord(found[0]):04x}) is not text" if found else None
        )
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and SURROGATE.search(key):
            return f"{where or 'record'}: a name holds an unpaired UTF-16 surrogate"
        if inside := _unpaired_surrogate(item, f"{where}.{key}" if where else str(key), depth + 1):
            return inside
    return None


def _over_bounds(record: dict[str, Any]) -> str | None:
    """What makes the conversation too big to analyze (zuoxi/ingest/limits.py), or None."""
    turns = record.get("turns")
    if not isinstance(turns, list):
        return None
    if len(turns) > MAX_TURNS:
        return f"turns: {len(turns)} turns, more than the {MAX_TURNS} a conversation may have"
    total = 0
    for i, turn in enumerate(turns):
        if isinstance(turn, dict) and isinstance(turn.get("text"), str):
            if len(turn["text"]) > MAX_TURN_CHARS:
                return f"turns.{i}.text: {len(turn['text'])} characters, more than the {MAX_TURN_CHARS} a turn may have"
            total += len(turn["text"])
    if total > MAX_CONVERSATION_CHARS:
        return f"turns: {total} characters in all, more than the {MAX_CONVERSATION_CHARS} a conversation may have"
    return None


def read_jsonl(text: str, path: str) -> Iterator[Record]:
    for number, line in enumerate(text_lines(text), start=1):
        if not line.strip():
            continue
        if BAD_BYTES in line:
            yield IngestError(path, number, BAD_LINE)
            continue
        if len(line) > MAX_LINE_CHARS:
            yield IngestError(path, number, f"line of {len(line)} characters, more than the {MAX_LINE_CHARS} allowed")
            continue
        try:
            record = parse_json(line)
        except json.JSONDecodeError as error:
            yield IngestError(path, number, f"invalid JSON: {error.msg} (column {error.colno})")
            continue
        except RecursionError:
            yield IngestError(path, number, NESTED_TOO_DEEP)
            continue
        yield validate(record, path, number)


def _line_of_each_element(text: str) -> list[int]:
    """Line numbers where the top-level array's elements start, for error messages."""
    lines, depth, in_string, escaped, line = [], 0, False, False, 1
    for ch in text:
        if ch == "\n":
            line += 1
        if in_string:
            escaped = not escaped and ch == "\\"
            if ch == '"' and not escaped:
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth == 2 and ch == "{":
                lines.append(line)
        elif ch in "]}":
            depth -= 1
    return lines


def read_json_conversations(data: Any, text: str, path: str) -> Iterator[Record]:
    if not isinstance(data, list):  # one object (or a stray scalar, reported by `validate`)
        yield validate(data, path, 1)
        return
    lines = _line_of_each_element(text)
    for i, record in enumerate(data):
        yield validate(record, path, lines[i] if i < len(lines) else None)


@reader("jsonl", ".jsonl", ".ndjson")
def jsonl_file(source: Source) -> Iterator[Record]:
    yield from read_jsonl(source.line_text, source.name)


@reader("json", ".json")
def json_file(source: Source) -> Iterator[Record]:
    """Canonical JSON (an array or one object); ASR JSON is recognised by its shape and handed to
    its reader; JSON Lines saved as .json is read as such, line by line as a .jsonl file is (a line in another
    encoding costs that line; lines may end in CR alone)."""
    try:
        parsed = source.json
    except (json.JSONDecodeError, UnknownEncoding):
        if _json_lines(source):
            yield from read_jsonl(source.line_text, source.name)
            return
        raise
    kind = _json_kind(parsed)
    if kind != "json":
        yield from READERS[kind].read(source)
        return
    yield from read_json_conversations(parsed, source.text, source.name)


def _json_lines(source: Source) -> bool:
    """Whether a .json file that is not one JSON document holds JSON Lines: two lines or more that start an object."""
    try:
        text = source.line_text
    except UnknownEncoding:
        return False
    starts = 0
    for line in text_lines(text):
        starts += line.lstrip().startswith("{")
        if starts >= 2:
            return True
    return False


def _json_kind(data: object) -> str:
    probe = data[0] if isinstance(data, list) and data else data
    if isinstance(probe, dict):
        if "sentence_info" in probe:
            return "funasr"
        if "segments" in probe and "turns" not in probe and isinstance(data, dict):
            return "whisper"
    return "json"
