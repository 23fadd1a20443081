"""The `zuoxi` Typer app and what every command shares: the consoles, the common options, reading
options from flags, the scorecard check and the batch driver with its progress bar.

Results go to standard output (or --out); progress, errors and summaries go to standard error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from zuoxi.engines.dask import DaskBatch
from zuoxi.engines.local import Batch, BatchSummary
from zuoxi.ingest import READERS, IngestError, ReadOptions
from zuoxi.ingest.table import parse_column_map
from zuoxi.report import terminal
from zuoxi.rules.engine import get_scorecard
from zuoxi.rules.scorecard import ScorecardError

app = typer.Typer(
    help="zuoxi (坐席): quality inspection and coaching for contact-center agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# One message per line (file:line: reason), whatever the width. No emoji codes: `list.csv:100:` is a
# file and a line, not 💯; messages holding data are Text, so their brackets are not markup either.
err = Console(stderr=True, soft_wrap=True, emoji=False)
out = Console(emoji=False)
# For commands whose every message holds data (file names, list cells, notes): no markup at all.
plain_err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)
plain_out = Console(markup=False, emoji=False, highlight=False)

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
        err.print(f"[red]scorecard error[/]\n{error}", highlight=False)
        raise typer.Exit(2) from None


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
            err.print("[red]interrupted[/]: everything read so far is stored; run the same command again to resume")
            terminal.batch_summary(err, batch.summary, time.perf_counter() - started)
            raise typer.Exit(130) from None
    terminal.batch_summary(err, batch.summary, time.perf_counter() - started)
    return batch.summary
