"""Conversations in and out: `zuoxi import`, `analyze`, `predict`, `live`, `show`, `stats`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from zuoxi.analyze.models import PREDICT_CHUNK, TASKS, load_models, prediction_records
from zuoxi.cli.app import (
    AgentSpeaker,
    Columns,
    DbOption,
    InputFormat,
    NoMask,
    OutFile,
    SafeConsole,
    app,
    check_out,
    check_scorecard,
    err,
    inert_json,
    out,
    read_options,
    report_error,
    run_batch,
    write_out,
)
from zuoxi.engines.dask import DaskBatch, DaskEngineError, DaskSummary
from zuoxi.engines.local import Batch, BatchSummary
from zuoxi.ingest.errors import IngestError
from zuoxi.model import Conversation
from zuoxi.privacy import mask_text
from zuoxi.report import terminal
from zuoxi.store import Store, shown_url

HTML_REPORT = Path("zuoxi-report.html")  # where --format html writes without --out


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (recursive)")],
    db: DbOption = None,
    format: InputFormat = None,
    columns: Columns = None,
    agent_speaker: AgentSpeaker = None,
    no_mask: NoMask = False,
    again: Annotated[bool, typer.Option("--again", help="Re-read files already imported")] = False,
) -> None:
    """Import conversations into the database (idempotent; re-running resumes)."""
    store = Store(db)
    summary = run_batch(
        Batch(paths, read_options(format, columns, agent_speaker), store=store, mask=not no_mask, resume=not again),
        lambda item: None,
    )
    err.print(Text(f"database: {shown_url(store.url)}"))
    if summary.nothing_read:
        raise typer.Exit(1)


@app.command()
def analyze(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (recursive)")],
    scorecard: Annotated[
        str, typer.Option(help="auto (each conversation's meta.scorecard, else core), a built-in name, or a YAML file")
    ] = "auto",
    format: Annotated[
        str | None,
        typer.Option("--format", help="table (default), json (JSON Lines) or html; with --parquet, none unless given"),
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help=f"Write here instead of standard output (--format html: default ./{HTML_REPORT})"),
    ] = None,
    db: DbOption = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Do not write conversations and results to the database")
    ] = False,
    input_format: InputFormat = None,
    columns: Columns = None,
    agent_speaker: AgentSpeaker = None,
    no_mask: NoMask = False,
    no_models: Annotated[
        bool, typer.Option("--no-models", help="Skip the trained models: emotion from cue words only, faster")
    ] = False,
    engine: Annotated[
        str, typer.Option("--engine", help="local (this process) or dask (a Dask cluster, docs/scale.md)")
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="dask: an existing cluster's scheduler address, e.g. tcp://host:8786 (default: a LocalCluster on 127.0.0.1)",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="dask: LocalCluster worker processes (default: one per core)")
    ] = None,
    parquet: Annotated[
        Path | None, typer.Option("--parquet", help="dask: write the results as Parquet parts into this folder")
    ] = None,
    again: Annotated[
        bool, typer.Option("--again", help="dask: redo shards an earlier run finished (default: skip them)")
    ] = False,
) -> None:
    """Score conversations against a scorecard and print or write the results."""
    _check_engine_options(format, engine, scheduler, workers, parquet, again)
    format = format or ("none" if parquet else "table")
    if format == "html":
        check_out(out_file or HTML_REPORT)
    check_scorecard(scorecard)
    store = None if no_store else Store(db)
    options = read_options(input_format, columns, agent_speaker)
    chosen = None if scorecard == "auto" else scorecard
    batch = _analysis_batch(
        paths, options, store, chosen, format, no_mask, no_models, engine, scheduler, workers, parquet, again
    )
    collected: list = []
    handle = OutFile(out_file) if out_file and format in ("json", "table") else None
    try:
        summary = run_batch(batch, _analysis_consumer(format, handle, collected))
        _report_dask_outputs(summary, store is not None, parquet)
        if summary.nothing_read and (out_file or format == "html"):  # a mistyped path: the last report stays
            err.print(f"nothing was read: {out_file or HTML_REPORT} was not written", highlight=False)
        else:
            _write_analysis_report(format, out_file, handle, collected)
    except DaskEngineError as error:
        err.print(Text.assemble(("dask", "red"), f" {error}"), highlight=False)
        raise typer.Exit(2) from None
    finally:
        if handle:
            handle.close()
    if summary.nothing_read:
        raise typer.Exit(1)


def _analysis_batch(
    paths: list[Path],
    options,
    store: Store | None,
    chosen: str | None,
    format: str,
    no_mask: bool,
    no_models: bool,
    engine: str,
    scheduler: str | None,
    workers: int | None,
    parquet: Path | None,
    again: bool,
) -> Batch | DaskBatch:
    """The run `analyze` asked for: sharded on a Dask cluster, or in this process (the options were checked)."""
    if engine == "dask":
        return DaskBatch(
            paths,
            options,
            store=store,
            scorecard=chosen,
            mask=not no_mask,
            models=not no_models,
            resume=not again,
            parquet=parquet,
            collect=format != "none",
            scheduler=scheduler,
            workers=workers,
            on_cluster=lambda line: err.print(line, highlight=False),
        )
    return Batch(paths, options, store=store, analyze=True, scorecard=chosen, mask=not no_mask, models=not no_models)


def _analysis_consumer(format: str, handle, collected: list):
    """What happens to each analyzed conversation: audio notes to stderr, then a JSON line now (as results
    stream in) or a row kept for the table or HTML report written at the end."""

    def consume(item) -> None:
        _print_audio_notes(item.result.audio)
        if format == "json":
            line = item.result.model_dump_json(
                exclude={"sections", "audio"} if item.result.audio is None else {"sections"}
            )
            line = inert_json(line) + "\n"
            (handle.write(line) if handle else sys.stdout.write(line))
        else:
            collected.append((item.conversation, item.result))

    return consume


def _print_audio_notes(audio: dict | None) -> None:
    """Why a recording's audio was skipped and what its audio analysis warned about (the text is still scored)."""
    if audio and "error" in audio:
        err.print(Text.assemble(("audio skipped", "yellow"), f" {audio['error']} (text analyzed)"), highlight=False)
    for warning in (audio or {}).get("warnings", []):
        err.print(Text.assemble(("audio warning", "yellow"), f" {warning}"), highlight=False)


def _file_console(handle: OutFile | None) -> SafeConsole:
    """Where a table goes: the terminal, or the --out file (as `> FILE` would have it: no colours, 80 wide)."""
    return out if handle is None else SafeConsole(file=handle, highlight=False)


def _write_analysis_report(format: str, out_file: Path | None, handle: OutFile | None, collected: list) -> None:
    """The results table or HTML report, once every result is in, and where a file was written."""
    if format == "table":
        terminal.results_table(_file_console(handle), collected)
    elif format == "html":
        from zuoxi.report import render_html

        target = out_file or HTML_REPORT
        write_out(target, render_html(collected))
        err.print(f"report: {target.resolve()}", highlight=False)
    if out_file and format in ("json", "table"):
        err.print(f"results: {out_file.resolve()}", highlight=False)


def _check_engine_options(
    format: str | None, engine: str, scheduler: str | None, workers: int | None, parquet: Path | None, again: bool
) -> None:
    if format not in (None, "table", "json", "html"):
        raise typer.BadParameter("--format must be table, json or html")
    if engine not in ("local", "dask"):
        raise typer.BadParameter("--engine must be local or dask")
    if engine == "local" and (scheduler or workers or parquet or again):
        raise typer.BadParameter(
            "--scheduler, --workers, --parquet and --again go with --engine dask (--workers 1 for one process)"
        )
    if scheduler and workers:
        raise typer.BadParameter("--workers sizes the LocalCluster; a cluster given by --scheduler has its own workers")


def _report_dask_outputs(summary: BatchSummary, stored: bool, parquet: Path | None) -> None:
    """Where a Dask run's results went: shards an earlier run finished, the Parquet folder, parts superseded."""
    if not isinstance(summary, DaskSummary):  # a local run (--parquet goes with --engine dask)
        return
    if summary.shards_skipped:
        read_back = f", {summary.read_back} read back from there" if summary.read_back else ""
        err.print(
            f"{summary.shards_skipped} shards were done by an earlier run (their results are in "
            f"{' and '.join(str(w) for w in ('the database' if stored else None, parquet) if w)}{read_back}); "
            "--again redoes them",
            highlight=False,
        )
    if parquet:
        err.print(f"parquet: {parquet.resolve()}", highlight=False)
        if summary.parts_superseded:
            from zuoxi.report.parquet import SUPERSEDED

            err.print(
                f"parquet: {summary.parts_superseded} parts of an earlier plan (other input or options) moved to "
                f"{parquet.resolve() / SUPERSEDED}",
                highlight=False,
            )


@app.command()
def predict(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (recursive)")],
    task: Annotated[str, typer.Option("--task", help=f"{' | '.join(TASKS)}")] = "satisfaction",
    format: Annotated[str, typer.Option("--format", help="json (JSON Lines) or table")] = "json",
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here instead of standard output")] = None,
    input_format: InputFormat = None,
    columns: Columns = None,
    agent_speaker: AgentSpeaker = None,
) -> None:
    """Customer emotion, satisfaction or dialogue quality from the trained models (docs/models.md)."""
    _check_predict_options(task, format)
    options = read_options(input_format, columns, agent_speaker)
    handle = OutFile(out_file) if out_file else None  # checked before the models load and the batch runs
    try:
        models = load_models()
        batch = Batch(paths, options, mask=True)  # ids and names printed too
        predictions = _Predictions(task, format, models, handle.write if handle else sys.stdout.write)
        try:
            summary = run_batch(batch, predictions.consume)
        finally:
            predictions.flush()  # what was read comes out, after Ctrl-C too
        if format == "table":
            terminal.predictions_table(_file_console(handle), predictions.rows, task)
    finally:
        if handle:
            handle.close()
    if out_file:
        err.print(f"results: {out_file.resolve()}", highlight=False)
    if summary.nothing_read:
        raise typer.Exit(1)


def _check_predict_options(task: str, format: str) -> None:
    """Bad options refused before the models load (that takes a while)."""
    if task not in TASKS:
        raise typer.BadParameter(f"--task must be one of {', '.join(TASKS)}")
    if format not in ("json", "table"):
        raise typer.BadParameter("--format must be json or table")


class _Predictions:
    """`predict`'s conversations, predicted together PREDICT_CHUNK at a time (the models run faster in batches),
    each record written as a JSON line at once or kept as a table row."""

    def __init__(self, task: str, format: str, models, write) -> None:
        self.task = task
        self.format = format
        self.models = models
        self.write = write
        self.rows: list[dict] = []
        self.waiting: list = []

    def consume(self, item) -> None:
        self.waiting.append(item.conversation)
        if len(self.waiting) >= PREDICT_CHUNK:
            self.flush()

    def flush(self) -> None:
        written = 0
        try:
            for record in prediction_records(self.waiting, self.task, self.models):
                if self.format == "json":
                    self.write(inert_json(json.dumps(record, ensure_ascii=False)) + "\n")
                else:
                    self.rows.append(record)
                written += 1
        finally:
            del self.waiting[:written]  # an interrupted flush never writes a record twice


@app.command()
def live(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (recursive)")],
    scorecard: Annotated[
        str, typer.Option(help="auto (each conversation's meta.scorecard, else core), a built-in name, or a YAML file")
    ] = "auto",
    format: Annotated[
        str, typer.Option("--format", help="table, or json: one line per turn (the WebSocket's update)")
    ] = "table",
    input_format: InputFormat = None,
    columns: Columns = None,
    agent_speaker: AgentSpeaker = None,
    no_models: Annotated[bool, typer.Option("--no-models", help="Emotion from cue words only")] = False,
) -> None:
    """Replay conversations turn by turn through live assist and show what the agent would have been told
    (docs/live.md)."""
    from zuoxi.engines.live import LiveSession
    from zuoxi.pipeline import choose_scorecard

    if format not in ("table", "json"):
        raise typer.BadParameter("--format must be table or json")
    batch = Batch(paths, read_options(input_format, columns, agent_speaker), mask=True)  # ids and names printed too
    table = Table(title="live assist alerts")
    for column in ("conversation", "turn", "alert", "rule", "words", "suggestion"):
        table.add_column(column, overflow="fold")

    def consume(item) -> None:
        conversation = item.conversation
        session = LiveSession(
            conversation.id,
            scorecard=choose_scorecard(conversation, scorecard),
            channel=conversation.channel,
            models=not no_models,
            started_at=conversation.started_at,
        )
        for turn in conversation.turns:
            try:
                update = session.add_turn(turn)
            except ValueError as error:  # a turn live assist refuses (over 2,000 characters): this conversation only
                report_error(IngestError(item.source, None, f"会话 {conversation.id}：{error}"))
                return
            if format == "json":
                sys.stdout.write(inert_json(update.model_dump_json()) + "\n")
            for alert in update.alerts:
                table.add_row(
                    conversation.id,
                    str(alert.turn),
                    alert.title,
                    alert.rule or "model",
                    " ".join(f"“{e.text}”" for e in alert.evidence[:2]),
                    alert.suggestion,
                )

    check_scorecard(scorecard)
    summary = run_batch(batch, consume)
    if format == "table":
        out.print(table)
    if summary.nothing_read:
        raise typer.Exit(1)


def _find(store: Store, ident: str) -> list[tuple[str, Conversation]]:
    """The conversations `zuoxi show IDENT` shows: by key or id as typed, else by the id masked as it is stored
    (a caller's number, 13800138000, is kept as *******8000); exits saying why when none, or several, are."""
    found = store.find(ident)
    masked = mask_text(ident)
    if not found and masked != ident:
        found = store.find(masked)
        if len(found) > 1:
            err.print(
                Text(
                    f"有 {len(found)} 个会话的编号打码后都是 {masked!r:.80}（存储时个人信息已打码，分不出是哪一个）：\n"
                    + "\n".join(
                        f"  {key[:12]}  {conv.agent_id or '—'}  {conv.started_at or '—'}" for key, conv in found
                    )
                    + "\n请用内容键（上面左列）指定其中一个：zuoxi show 内容键"
                )
            )
            raise typer.Exit(1)
    if not found:
        err.print(Text(f"数据库 {shown_url(store.url)} 里没有会话 {masked!r:.80}"))
        raise typer.Exit(1)
    return found


@app.command()
def show(
    ident: Annotated[str, typer.Argument(help="Conversation id, or the start of its content key")],
    db: DbOption = None,
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Show a stored conversation with its findings. An id holding personal data (a caller's number) is stored
    masked: it is found by the id as typed, masked the same way."""
    store = Store(db, create=False)
    found = _find(store, ident)
    for key, conv in found:
        results = store.results_for(key)
        if format == "json":
            sys.stdout.write(
                inert_json(
                    json.dumps(
                        {
                            "key": key,
                            "conversation": conv.model_dump(mode="json"),
                            "results": [r.model_dump(mode="json") for r in results],
                        },
                        ensure_ascii=False,
                    )
                )
                + "\n"
            )
            continue
        out.print(
            Text.assemble(
                (conv.id, "bold"), f" ({conv.channel}, agent {conv.agent_id or '—'}, {conv.team or '—'}) key {key[:12]}"
            )
        )
        evidence_turns = {e.turn: f.rule for r in results for f in r.findings if f.status == "fail" for e in f.evidence}
        for i, turn in enumerate(conv.turns):
            mark = (f" ← {evidence_turns[i]}", "red") if i in evidence_turns else ""
            out.print(Text.assemble(f"{i:>3} {turn.role:<8} {turn.text}", mark), highlight=False)
        if not results:
            out.print("not analysed yet: zuoxi analyze FILE --db … scores it (zuoxi import only stores it)")
        for result in results:
            out.print(
                Text.assemble(
                    (result.scorecard, "bold"),
                    f": {result.score:.0f}/{result.max_score:.0f}{' VETO' if result.veto else ''}",
                )
            )
            for f in result.failed():
                out.print(
                    Text.assemble(
                        "  ", (f.rule, "red"), f" {f.message} (turns {', '.join(str(e.turn) for e in f.evidence)})"
                    ),
                    highlight=False,
                )
                if f.suggestion:
                    out.print(f"      建议: {f.suggestion}", highlight=False)


@app.command()
def stats(
    db: DbOption = None, format: Annotated[str, typer.Option("--format", help="table or json")] = "table"
) -> None:
    """Counts and averages of what is stored."""
    figures = Store(db, create=False).stats()
    if format == "json":
        sys.stdout.write(inert_json(json.dumps(figures, ensure_ascii=False)) + "\n")
        return
    out.print(
        f"conversations: {figures['conversations']} ({', '.join(f'{k} {v}' for k, v in figures['by_channel'].items())}) · files imported: {figures['files']}"
    )
    table = Table(title="scorecards")
    for column in ("scorecard", "results", "average", "vetoes"):
        table.add_column(column)
    for row in figures["scorecards"]:
        table.add_row(row["scorecard"], str(row["results"]), str(row["average"]), str(row["vetoes"]))
    out.print(table)
    agents = Table(title="agents (lowest average first)")
    for column in ("agent", "results", "average"):
        agents.add_column(column)
    for row in figures["agents"]:
        agents.add_row(row["agent_id"] or "—", str(row["results"]), str(row["average"]))
    out.print(agents)
