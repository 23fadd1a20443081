"""The `zuoxi` Typer app and what every command shares: the consoles, the common options, reading
options from flags, the scorecard check and the batch driver with its progress bar.

Results go to standard output (or --out); progress, errors and summaries go to standard error.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfoNotFoundError

import typer
from rich.console import Console, ConsoleOptions, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.segment import Segment
from rich.text import Text
from typer.core import TyperGroup

from zuoxi.engines.dask import DaskBatch
from zuoxi.engines.local import Batch, BatchSummary
from zuoxi.ingest import READERS, IngestError, ReadOptions
from zuoxi.ingest.table import parse_column_map
from zuoxi.model import SURROGATE
from zuoxi.report import terminal
from zuoxi.rules.engine import get_scorecard
from zuoxi.rules.scorecard import ScorecardError
from zuoxi.store import StoreError, StoreUnavailable

# C0 controls but tab and newline, DEL, C1, and the bidirectional overrides and isolates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """`text` with its control characters shown as `\\x1b`, `\\u202e`…: a file's value can move no cursor,
    clear no screen, set no title and open no hyperlink in the terminal it is printed to."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


# What JSON writers leave raw that a terminal or an editor acts on: DEL, C1 (U+009B is a terminal's CSI),
# the line and paragraph separators, the bidirectional overrides and isolates.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def inert_json(text: str) -> str:
    """JSON text as `json.dumps(ensure_ascii=False)` or pydantic writes it, with those characters written as
    `\\u` escapes: the same JSON value (they can stand only inside its strings), printed or opened as text."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


class SafeConsole(Console):
    """The consoles of the command line. Everything they print may hold a file's values (ids, agent ids,
    teams, turn texts, file names), so: no markup (a `[/]` or `[link=…]` in an id is printed as it is;
    styles come from Text), no emoji codes, and control characters made visible — in strings before
    they are laid out (table widths stay right) and in every segment of Text that is printed."""

    def __init__(self, **options: Any) -> None:
        super().__init__(markup=False, emoji=False, **options)

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(visible(text), **options)

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and _CONTROL.search(segment.text):
                yield Segment(visible(segment.text), segment.style)
            else:
                yield segment


class _Commands(TyperGroup):
    """The root command: an argument that is no text, a database that cannot be opened or written (read-only, full,
    another process's row first) and a time zone that does not exist are one clear line and exit status 2 — never
    a traceback, whose SQL parameters could hold a password's hash or a conversation."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        given = [*getattr(ctx, "_protected_args", getattr(ctx, "protected_args", [])), *ctx.args]  # click 8.2 or before
        for index, argument in enumerate(given, start=1):
            if SURROGATE.search(argument):  # bytes that were not UTF-8, which Python keeps as lone surrogates
                err.print(
                    Text.assemble(("error", "red"), f" argument {index} is not UTF-8 text: {ascii(argument)[:80]}")
                )
                raise typer.Exit(2)
        try:
            return super().invoke(ctx)
        except StoreUnavailable as error:
            err.print(Text.assemble(("database error", "red"), f" {error}"))
            raise typer.Exit(2) from None
        except StoreError as error:
            reason = (
                str(getattr(error, "orig", None) or error).strip().splitlines()
            )  # a DB error: its own words, no SQL
            err.print(Text.assemble(("database error", "red"), f" {reason[0] if reason else type(error).__name__}"))
            raise typer.Exit(2) from None
        except ZoneInfoNotFoundError as error:
            err.print(Text.assemble(("error", "red"), f" unknown time zone {error} (ZUOXI_TZ or --timezone)"))
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Commands,
    help="zuoxi (坐席): quality inspection and coaching for contact-center agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# One message per line (file:line: reason), whatever the width. No markup and no emoji codes
# (`list.csv:100:` is a file and a line, not 💯): styles are Text, as in report_error.
err = SafeConsole(stderr=True, soft_wrap=True)
out = SafeConsole()
# For commands whose every message holds data (file names, list cells, notes): no highlighting either.
plain_err = SafeConsole(stderr=True, soft_wrap=True, highlight=False)
plain_out = SafeConsole(highlight=False)

DbOption = Annotated[
    str | None, typer.Option("--db", help="SQLAlchemy URL or SQLite file (default $ZUOXI_DB or ./zuoxi.db)")
]
SchemaOption = Annotated[
    str | None,
    typer.Option("--schema", help="PostgreSQL schema of zuoxi's tables (default $ZUOXI_DB_SCHEMA; created if missing)"),
]
InputFormat = Annotated[str | None, typer.Option(help=f"Input format instead of by extension: {', '.join(READERS)}")]
Columns = Annotated[
    list[str] | None, typer.Option("--columns", help="CSV/XLSX column mapping FIELD=HEADER (e.g. text=消息正文)")
]
AgentSpeaker = Annotated[
    str | None, typer.Option(help="ASR files: the speaker label of the agent (default: who greets)")
]
NoMask = Annotated[bool, typer.Option("--no-mask", help="Keep phone/ID/card numbers and e-mails unmasked")]
FormatOption = Annotated[str, typer.Option("--format", help="table or json")]


def check_format(value: str, allowed: tuple[str, ...] = ("table", "json")) -> None:
    if value not in allowed:
        raise typer.BadParameter(f"--format must be {' or '.join(allowed)}")


def read_options(input_format: str | None, columns: list[str] | None, agent_speaker: str | None) -> ReadOptions:
    if input_format and input_format not in READERS:
        raise typer.BadParameter(f"unknown format {input_format!r}; one of {', '.join(READERS)}")
    try:
        return ReadOptions(format=input_format, columns=parse_column_map(columns or []), agent_speaker=agent_speaker)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


def check_scorecard(scorecard: str) -> None:
    """Exit 2 with the scorecard's problems (file:line) unless it is "auto" or compiles."""
    if scorecard == "auto":
        return
    try:
        get_scorecard(scorecard)
    except ScorecardError as error:
        err.print(Text.assemble(("scorecard error", "red"), f"\n{error}"), highlight=False)
        raise typer.Exit(2) from None


def out_error(path: Path, reason: str) -> typer.Exit:
    """Say that `--out` cannot be written (and why); the exit to raise."""
    err.print(Text.assemble(("output error", "red"), f" --out {path}：无法写入（{reason}）"))
    return typer.Exit(2)


def check_out(path: Path | None) -> None:
    """Exit 2 before a run if `--out` cannot be a file to write: a folder, a parent that is not a folder
    or cannot be made, no permission. (A full disk shows only when written: see write_out.)"""
    if path is None:
        return
    if path.is_dir():
        raise out_error(path, "这是一个目录")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise out_error(path, f"无法创建所在目录：{error.strerror or error}") from None
    if not path.parent.is_dir():
        raise out_error(path, "所在路径不是目录")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise out_error(path, "没有写权限")


class OutFile:
    """`--out` as a text file, checked before the run (check_out) and written a line at a time, so a write error
    (a full disk) shows at the first line, as one message and exit status 2, not a traceback. It is opened (and
    an earlier file of that name replaced) only at the first line: a run that reads nothing — a mistyped input
    path — leaves the last run's results as they were."""

    def __init__(self, path: Path) -> None:
        check_out(path)
        self.path = path
        self.failed = False
        self.handle: Any = None

    def _failure(self, error: OSError) -> typer.Exit:
        self.failed = True
        return out_error(self.path, error.strerror or str(error))

    def write(self, text: str) -> int:
        try:
            if self.handle is None:
                self.handle = self.path.open("w", encoding="utf-8", buffering=1)
            return self.handle.write(text)
        except OSError as error:
            raise self._failure(error) from None

    def flush(self) -> None:
        try:
            if self.handle is not None:
                self.handle.flush()
        except OSError as error:
            raise self._failure(error) from None

    def close(self) -> None:
        try:
            if self.handle is not None:
                self.handle.close()
        except OSError as error:
            if not self.failed:  # said once
                raise self._failure(error) from None


def write_out(path: Path, text: str) -> None:
    """Write a whole report to `path` (checked by check_out before the run); an error is one message, exit 2."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise out_error(path, error.strerror or str(error)) from None


def report_error(error: IngestError) -> None:
    err.print(Text.assemble(("skipped", "yellow"), f" {error}"), soft_wrap=True)


def run_batch(batch: Batch | DaskBatch, consume: Callable[[Any], None]) -> BatchSummary:
    """Drive a batch (either engine) with a progress bar on standard error; Ctrl-C keeps what was done."""
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("shards" if isinstance(batch, DaskBatch) else "files"),
        TextColumn("{task.fields[conversations]} conversations · {task.fields[rate]:.0f}/s"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("zuoxi", total=None, conversations=0, rate=0.0)

        def on_progress(files_done: int, files: int, conversations: int) -> None:
            elapsed = max(time.perf_counter() - started, 1e-9)
            progress.update(
                task, completed=files_done, total=files, conversations=conversations, rate=conversations / elapsed
            )

        batch.on_progress = on_progress
        batch.on_error = report_error
        try:
            for item in batch.run():
                consume(item)
        except KeyboardInterrupt:
            err.print(
                Text.assemble(
                    ("interrupted", "red"), ": everything read so far is stored; run the same command again to resume"
                )
            )
            terminal.batch_summary(err, batch.summary, time.perf_counter() - started)
            raise typer.Exit(130) from None
    terminal.batch_summary(err, batch.summary, time.perf_counter() - started)
    return batch.summary
