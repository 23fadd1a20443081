"""The reader registry: each input format is a function registered with `@reader`, naming the format
(what `--format` accepts) and the file extensions it claims, and taking one `Source`.

A reader yields `Conversation`s and `IngestError`s; it never raises for bad input. Adding a format is
one decorated function in a module that `zuoxi/ingest/__init__.py` imports (ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from zuoxi.ingest.encoding import decode_bytes, decode_lines
from zuoxi.ingest.errors import Record
from zuoxi.ingest.jsonparse import parse_json


@dataclass
class ReadOptions:
    format: str | None = None  # None: by extension (and content, for .json)
    columns: dict[str, str] = field(default_factory=dict)  # CSV/XLSX header overrides
    agent_speaker: str | None = None  # ASR: which speaker is the agent


@dataclass
class Source:
    """One file handed to a reader: its name for error messages, its bytes, and the options.
    `text` decodes the bytes on first use (raising `UnknownEncoding`) and `json` parses it (raising
    `json.JSONDecodeError`, or `RecursionError` when nested too deep); `read_file` turns these into an
    `IngestError` naming the file."""

    name: str
    data: bytes
    options: ReadOptions

    @cached_property
    def text(self) -> str:
        return decode_bytes(self.data)[0]

    @cached_property
    def line_text(self) -> str:
        """The text for line-based readers: bytes that do not decode are `BAD_BYTES` (`decode_lines`),
        so one bad line costs that line, reported, not the file."""
        return decode_lines(self.data)

    @cached_property
    def json(self) -> Any:
        """The text parsed as one JSON document (raising `json.JSONDecodeError`, reported with its line)."""
        return parse_json(self.text)


ReadFunction = Callable[[Source], Iterator[Record]]


@dataclass(frozen=True)
class Reader:
    format: str
    extensions: tuple[str, ...]
    read: ReadFunction


READERS: dict[str, Reader] = {}
EXTENSIONS: dict[str, str] = {}  # ".csv" → "csv"


def reader(format: str, *extensions: str) -> Callable[[ReadFunction], ReadFunction]:
    """Register `read` as the reader of `format`, and of files with these extensions (lower case, with the dot)."""

    def register(read: ReadFunction) -> ReadFunction:
        if format in READERS:
            raise ValueError(f"two readers for format {format!r}")
        for extension in extensions:
            if extension in EXTENSIONS:
                raise ValueError(f"extension {extension} claimed by {EXTENSIONS[extension]!r} and {format!r}")
            EXTENSIONS[extension] = format
        READERS[format] = Reader(format, extensions, read)
        return read

    return register
