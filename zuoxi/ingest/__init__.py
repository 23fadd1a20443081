"""Ingest: every supported file format → canonical `Conversation`s (or `IngestError`s).

`read_file` never raises for bad input: a malformed file, line or encoding becomes an
`IngestError` naming the file and line, and the rest of the batch goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Each reader module registers its formats with @reader when imported (zuoxi/ingest/registry.py).
from zuoxi.ingest import asr, canonical, parquet, table, textlog  # noqa: F401
from zuoxi.ingest.canonical import NESTED_TOO_DEEP
from zuoxi.ingest.encoding import UnknownEncoding
from zuoxi.ingest.errors import IngestError, Record, given_up_if_nothing_read, os_problem
from zuoxi.ingest.jsonparse import json_problem
from zuoxi.ingest.limits import MAX_FILE_BYTES
from zuoxi.ingest.registry import EXTENSIONS, READERS, ReadOptions, Source

__all__ = [
    "NOT_REGULAR",
    "READERS",
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


def detect_format(path: Path) -> str | None:
    return EXTENSIONS.get(path.suffix.lower())


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
            # everything but a folder is listed: a link whatever it points at (links to folders are not followed: no
            # loops), a pipe, a socket or a device (a pipe named calls.jsonl counted as no file at all), so that one
            # that is no regular file is reported (`file_bytes`, which opens none of them), not skipped in silence
            for child in sorted(p for p in path.rglob("*") if p.is_symlink() or not p.is_dir()):
                if detect_format(child) and not child.name.startswith(".") and child.name.lower() != "readme.md":
                    yield InputFile(child, child.relative_to(path).as_posix())
        else:
            yield InputFile(path, path.name)


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The paths of `input_files`."""
    return (file.path for file in input_files(paths))


def read_file(path: Path, options: ReadOptions | None = None) -> Iterator[Record]:
    found = False
    for record in given_up_if_nothing_read(_read_file(path, options or ReadOptions()), str(path)):
        found = True
        yield record
    if not found:  # e.g. `[]`, a table with only its header, a log of separators
        yield IngestError(str(path), None, "文件里没有会话")


def _read_file(path: Path, options: ReadOptions) -> Iterator[Record]:
    name = str(path)
    fmt = options.format or detect_format(path)
    if fmt is None:
        yield IngestError(
            name, None, f"认不出文件格式（扩展名 {path.suffix or '无'}）；请用 --format 指定：{', '.join(READERS)}"
        )
        return
    if fmt not in READERS:
        yield IngestError(name, None, f"没有 {fmt!r} 这种格式；可选：{', '.join(READERS)}")
        return
    data = file_bytes(path, name)
    if isinstance(data, IngestError):
        yield data
        return
    if not data.strip():
        yield IngestError(name, None, "空文件")
        return
    source = Source(name, data, options)
    try:
        yield from READERS[fmt].read(source)
    except UnknownEncoding as error:
        yield IngestError(name, None, str(error))
    except json.JSONDecodeError as error:
        yield IngestError(name, error.lineno, json_problem(error))
    except RecursionError:
        yield IngestError(name, None, NESTED_TOO_DEEP)


NOT_REGULAR = "不是普通文件（文件夹、管道或设备无法读取）"
NO_SUCH_FILE = "没有这个文件或文件夹"


def file_bytes(path: Path, name: str) -> bytes | IngestError:
    """The whole file, or why it cannot be read: only a regular file within MAX_FILE_BYTES is."""
    try:
        if not path.exists():  # a mistyped name (a call list, a dialer export): not "not a regular file"
            return IngestError(name, None, NO_SUCH_FILE)
        if not path.is_file():  # a pipe or a device (/dev/zero) would hang the batch or fill memory
            return IngestError(name, None, NOT_REGULAR)
        if (size := path.stat().st_size) > MAX_FILE_BYTES:  # a file is read whole: split a bigger one
            return IngestError(
                name,
                None,
                f"文件有 {size / 2**20:,.1f} MB，超过单个文件最多的 {MAX_FILE_BYTES >> 20:,} MB；请拆成几个文件",
            )
        return path.read_bytes()
    except OSError as error:
        return IngestError(name, None, os_problem(error))
    except MemoryError:
        return IngestError(name, None, "内存不足，读不了这个文件；请拆成几个小文件")


def read_paths(paths: Iterable[str | Path], options: ReadOptions | None = None) -> Iterator[tuple[Path, Record]]:
    for path in iter_files(paths):
        if not path.exists():
            yield path, IngestError(str(path), None, NO_SUCH_FILE)
            continue
        for record in read_file(path, options):
            yield path, record
