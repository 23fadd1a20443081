"""Ingest: every supported file format → canonical `Conversation`s (or `IngestError`s).

`read_file` never raises for bad input: a malformed file, line or encoding becomes an
`IngestError` naming the file and line, and the rest of the batch goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from zuoxi.ingest.asr import read_funasr, read_subtitles, read_whisper
from zuoxi.ingest.canonical import Record, read_json_conversations, read_jsonl
from zuoxi.ingest.encoding import UnknownEncoding, decode_bytes
from zuoxi.ingest.errors import IngestError
from zuoxi.ingest.parquet import read_parquet
from zuoxi.ingest.table import read_csv, read_xlsx
from zuoxi.ingest.textlog import read_textlog

__all__ = [
    "FORMATS",
    "IngestError",
    "InputFile",
    "ReadOptions",
    "Record",
    "detect_format",
    "input_files",
    "iter_files",
    "read_file",
    "read_paths",
]

FORMATS = ("jsonl", "json", "text", "csv", "xlsx", "parquet", "funasr", "whisper", "srt", "vtt")
_BY_EXTENSION = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".txt": "text",
    ".log": "text",
    ".csv": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".parquet": "parquet",
    ".srt": "srt",
    ".vtt": "vtt",
}


@dataclass
class ReadOptions:
    format: str | None = None  # None: by extension (and content, for .json)
    columns: dict[str, str] = field(default_factory=dict)  # CSV/XLSX header overrides
    agent_speaker: str | None = None  # ASR: which speaker is the agent


def detect_format(path: Path) -> str | None:
    return _BY_EXTENSION.get(path.suffix.lower())


@dataclass(frozen=True)
class InputFile:
    """A file to read: `path` as given (under its folder argument), and `name`, its path relative to the
    input root (the folder given, or a file's own folder): results name files from there, so they do not
    depend on the folder a process runs in or on how the input was spelled."""

    path: Path
    name: str


def input_files(paths: Iterable[str | Path]) -> Iterator[InputFile]:
    """Files under the given paths, recursively, in a stable order; unknown extensions skipped in folders."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if detect_format(child) and not child.name.startswith(".") and child.name.lower() != "readme.md":
                    yield InputFile(child, child.relative_to(path).as_posix())
        else:
            yield InputFile(path, path.name)


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The paths of `input_files`."""
    return (file.path for file in input_files(paths))


def _json_kind(data: object) -> str:
    probe = data[0] if isinstance(data, list) and data else data
    if isinstance(probe, dict):
        if "sentence_info" in probe:
            return "funasr"
        if "segments" in probe and "turns" not in probe and isinstance(data, dict):
            return "whisper"
    return "json"


def read_file(path: Path, options: ReadOptions | None = None) -> Iterator[Record]:
    found = False
    for record in _read_file(path, options or ReadOptions()):
        found = True
        yield record
    if not found:  # e.g. `[]`, a table with only its header, a log of separators
        yield IngestError(str(path), None, "no conversations found")


def _read_file(path: Path, options: ReadOptions) -> Iterator[Record]:
    name = str(path)
    fmt = options.format or detect_format(path)
    if fmt is None:
        yield IngestError(
            name, None, f"unknown format (extension {path.suffix or 'none'}); pass --format one of {', '.join(FORMATS)}"
        )
        return
    if fmt not in FORMATS:
        yield IngestError(name, None, f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
        return
    try:
        data = path.read_bytes()
    except OSError as error:
        yield IngestError(name, None, f"cannot read: {error.strerror or error}")
        return
    if not data.strip():
        yield IngestError(name, None, "empty file")
        return
    if fmt == "parquet":  # one row per conversation (zuoxi/ingest/parquet.py)
        yield from read_parquet(data, name)
        return
    if fmt == "xlsx":
        try:
            yield from read_xlsx(data, name, options.columns)
        except Exception as error:  # openpyxl raises many types for a broken workbook
            yield IngestError(name, None, f"not a readable XLSX workbook ({type(error).__name__}: {error})")
        return
    try:
        text, _ = decode_bytes(data)
    except UnknownEncoding as error:
        yield IngestError(name, None, str(error))
        return
    if fmt == "jsonl":
        yield from read_jsonl(text, name)
    elif fmt == "text":
        yield from read_textlog(text, name)
    elif fmt == "csv":
        yield from read_csv(text, name, options.columns)
    elif fmt in ("srt", "vtt"):
        yield from read_subtitles(text, name, options.agent_speaker)
    else:
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            if fmt == "json" and "\n{" in text.strip():  # JSON Lines saved as .json
                yield from read_jsonl(text, name)
            else:
                yield IngestError(name, error.lineno, f"invalid JSON: {error.msg} (column {error.colno})")
            return
        kind = _json_kind(parsed) if fmt == "json" else fmt
        try:
            if kind == "funasr":
                yield from read_funasr(parsed, name, options.agent_speaker)
            elif kind == "whisper":
                yield from read_whisper(parsed, name, options.agent_speaker)
            else:
                yield from read_json_conversations(parsed, text, name)
        except (AttributeError, KeyError, TypeError, ValueError) as error:  # ASR JSON of an unexpected shape
            yield IngestError(name, None, f"unexpected {kind} JSON structure ({type(error).__name__}: {error})")


def read_paths(paths: Iterable[str | Path], options: ReadOptions | None = None) -> Iterator[tuple[Path, Record]]:
    for path in iter_files(paths):
        if not path.exists():
            yield path, IngestError(str(path), None, "no such file or folder")
            continue
        for record in read_file(path, options):
            yield path, record
