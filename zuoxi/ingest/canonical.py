"""Canonical conversations (DESIGN.md §2): JSON Lines, or one JSON array / object per file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from zuoxi.ingest.errors import IngestError, describe_validation_error
from zuoxi.model import Conversation
from zuoxi.normalize import clean_whitespace

Record = Conversation | IngestError


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
    try:
        return Conversation.model_validate(record)
    except ValidationError as error:
        return IngestError(path, line, describe_validation_error(error))


def read_jsonl(text: str, path: str) -> Iterator[Record]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            yield IngestError(path, number, f"invalid JSON: {error.msg} (column {error.colno})")
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
