"""The `zuoxi` command. Thin: it parses options and composes the stages.

Results go to standard output (or --out); progress, errors and summaries go to standard error.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from zuoxi.analyze.models import PREDICT_CHUNK, TASKS, load_models, prediction_records
from zuoxi.campaigns.cli import campaign_app
from zuoxi.effects.cli import effects_app
from zuoxi.engines.dask import DaskBatch, DaskEngineError, DaskSummary
from zuoxi.engines.local import Batch, BatchSummary
from zuoxi.ingest import FORMATS, IngestError, ReadOptions
from zuoxi.ingest.table import parse_column_map
from zuoxi.queues.cli import queue_app
from zuoxi.rules.engine import get_scorecard
from zuoxi.rules.scorecard import ScorecardError, builtin_names, load_spec
from zuoxi.store import Store

app = typer.Typer(
    help="zuoxi (坐席): quality inspection and coaching for contact-center agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
scorecard_app = typer.Typer(help="Work with scorecard files.", no_args_is_help=True)
app.add_typer(scorecard_app, name="scorecard")
app.add_typer(campaign_app, name="campaign")
app.add_typer(effects_app, name="effects")
app.add_typer(queue_app, name="queue")
# One message per line (file:line: reason), whatever the width. No emoji codes: `list.csv:100:` is a
# file and a line, not 💯; messages holding data are Text, so their brackets are not markup either.
err = Console(stderr=True, soft_wrap=True, emoji=False)
out = Console(emoji=False)

DbOption = Annotated[
    str | None, typer.Option("--db", help="SQLAlchemy URL or SQLite file (default $ZUOXI_DB or ./zuoxi.db)")
]
SchemaOption = Annotated[
    str | None,
    typer.Option("--schema", help="PostgreSQL schema of zuoxi's tables (default $ZUOXI_DB_SCHEMA; created if missing)"),
]
InputFormat = Annotated[str | None, typer.Option(help=f"Input format instead of by extension: {', '.join(FORMATS)}")]
Columns = Annotated[
    list[str] | None, typer.Option("--columns", help="CSV/XLSX column mapping FIELD=HEADER (e.g. text=消息正文)")
]
AgentSpeaker = Annotated[
    str | None, typer.Option(help="ASR files: the speaker label of the agent (default: who greets)")
]
NoMask = Annotated[bool, typer.Option("--no-mask", help="Keep phone/ID/card numbers and e-mails unmasked")]


def _options(input_format: str | None, columns: list[str] | None, agent_speaker: str | None) -> ReadOptions:
    if input_format and input_format not in FORMATS:
        raise typer.BadParameter(f"unknown format {input_format!r}; one of {', '.join(FORMATS)}")
    try:
        return ReadOptions(format=input_format, columns=parse_column_map(columns or []), agent_speaker=agent_speaker)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


def _check_scorecard(scorecard: str) -> None:
    """Exit 2 with the scorecard's problems (file:line) unless it is "auto" or compiles."""
    if scorecard == "auto":
        return
    try:
        get_scorecard(scorecard)
    except ScorecardError as error:
        err.print(f"[red]scorecard error[/]\n{error}", highlight=False)
        raise typer.Exit(2) from None


def _report_error(error: IngestError) -> None:
    err.print(Text.assemble(("skipped", "yellow"), f" {error}"), soft_wrap=True)


def _run(batch: Batch | DaskBatch, consume) -> BatchSummary:
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
        batch.on_error = _report_error
        try:
            for item in batch.run():
                consume(item)
        except KeyboardInterrupt:
            err.print("[red]interrupted[/]: everything read so far is stored; run the same command again to resume")
            _print_summary(batch.summary, time.perf_counter() - started)
            raise typer.Exit(130) from None
    _print_summary(batch.summary, time.perf_counter() - started)
    return batch.summary


def _print_summary(summary: BatchSummary, seconds: float) -> None:
    rate = summary.read / seconds if seconds > 0 else 0.0
    parts = [f"files {summary.files}"]
    if isinstance(summary, DaskSummary):
        parts.append(f"shards {summary.shards}")
        if summary.shards_skipped:
            parts.append(f"shards done before {summary.shards_skipped}")
        if summary.shards_failed:
            parts.append(f"shards failed {summary.shards_failed}")
    parts.append(f"read {summary.read}")
    if summary.files_skipped:
        parts.append(f"files already imported {summary.files_skipped}")
    parts += [f"imported {summary.imported}", f"already stored {summary.duplicates}"]
    if summary.analyzed:
        parts.append(f"analyzed {summary.analyzed}")
    parts.append(f"errors {len(summary.errors)}")
    err.print(" · ".join(parts) + f" · {seconds:.1f}s ({rate:.0f} conversations/s)", highlight=False, soft_wrap=True)


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
    summary = _run(
        Batch(paths, _options(format, columns, agent_speaker), store=store, mask=not no_mask, resume=not again),
        lambda item: None,
    )
    err.print(Text(f"database: {store.url}"))
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
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here instead of standard output")] = None,
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
    format = format or ("none" if parquet else "table")
    _check_scorecard(scorecard)
    store = None if no_store else Store(db)
    options = _options(input_format, columns, agent_speaker)
    chosen = None if scorecard == "auto" else scorecard
    if engine == "dask":
        batch = DaskBatch(
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
    else:
        batch = Batch(
            paths, options, store=store, analyze=True, scorecard=chosen, mask=not no_mask, models=not no_models
        )
    collected: list = []
    handle = out_file.open("w", encoding="utf-8") if out_file and format == "json" else None

    def consume(item) -> None:
        if item.result.audio and "error" in item.result.audio:
            err.print(f"[yellow]audio skipped[/] {item.result.audio['error']} (text analyzed)", highlight=False)
        for warning in (item.result.audio or {}).get("warnings", []):
            err.print(f"[yellow]audio warning[/] {warning}", highlight=False)
        if format == "json":
            line = item.result.model_dump_json(
                exclude={"sections", "audio"} if item.result.audio is None else {"sections"}
            )
            (handle.write(line + "\n") if handle else sys.stdout.write(line + "\n"))
        else:
            collected.append((item.conversation, item.result))

    try:
        summary = _run(batch, consume)
    except DaskEngineError as error:
        err.print(f"[red]dask[/] {error}", highlight=False)
        raise typer.Exit(2) from None
    finally:
        if handle:
            handle.close()
    if isinstance(summary, DaskSummary) and summary.shards_skipped:
        read_back = f", {summary.read_back} read back from there" if summary.read_back else ""
        err.print(
            f"{summary.shards_skipped} shards were done by an earlier run (their results are in "
            f"{' and '.join(str(w) for w in ('the database' if store else None, parquet) if w)}{read_back}); "
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
    if format == "table":
        _print_results_table(collected)
    elif format == "html":
        from zuoxi.report import render_html

        target = out_file or Path("zuoxi-report.html")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_html(collected), encoding="utf-8")
        err.print(f"report: {target.resolve()}", highlight=False)
    if out_file and format == "json":
        err.print(f"results: {out_file.resolve()}", highlight=False)
    if summary.nothing_read:
        raise typer.Exit(1)


def _print_results_table(items) -> None:
    table = Table(title=f"{len(items)} conversations")
    for column in ("conversation", "agent", "scorecard", "score", "failed rules"):
        table.add_column(column)
    for conv, result in items:
        failed = " ".join(f.rule for f in result.failed())
        score = f"[red]{result.score:.0f} veto[/]" if result.veto else f"{result.score:.0f}"
        table.add_row(conv.id, conv.agent_id or "—", result.scorecard, score, failed or "—")
    out.print(table)


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
    if task not in TASKS:
        raise typer.BadParameter(f"--task must be one of {', '.join(TASKS)}")
    if format not in ("json", "table"):
        raise typer.BadParameter("--format must be json or table")
    models = load_models()
    batch = Batch(paths, _options(input_format, columns, agent_speaker), mask=False)
    handle = out_file.open("w", encoding="utf-8") if out_file else None
    write = handle.write if handle else sys.stdout.write
    rows: list[dict] = []
    waiting: list = []  # predicted together, PREDICT_CHUNK at a time

    def flush() -> None:
        written = 0
        try:
            for record in prediction_records(waiting, task, models):
                if format == "json":
                    write(json.dumps(record, ensure_ascii=False) + "\n")
                else:
                    rows.append(record)
                written += 1
        finally:
            del waiting[:written]  # an interrupted flush never writes a record twice

    def consume(item) -> None:
        waiting.append(item.conversation)
        if len(waiting) >= PREDICT_CHUNK:
            flush()

    try:
        summary = _run(batch, consume)
    finally:
        try:
            flush()  # what was read comes out, after Ctrl-C too
        finally:
            if handle:
                handle.close()
    if format == "table":
        _print_predictions_table(rows, task)
    if summary.nothing_read:
        raise typer.Exit(1)


def _print_predictions_table(rows: list[dict], task: str) -> None:
    table = Table(title=f"{len(rows)} conversations · {task}")
    table.add_column("conversation")
    if task == "quality":
        for key, name in (("A", "task accomplished"), ("S", "customer satisfied"), ("E", "effective")):
            table.add_column(f"{key} ({name})")
        for r in rows:
            means = [sum(int(k) * p for k, p in r["dialogue"][key].items()) for key in ("A", "S", "E")]
            table.add_row(r["conversation_id"], *(f"{m:+.2f}" for m in means))
    else:
        table.add_column("dialogue")
        table.add_column("customer turns")
        if task == "satisfaction":
            table.add_column("complaint risk")
        for r in rows:
            turns = " ".join(f"{t['turn']}:{t['label']}" for t in r["turns"])
            row = [r["conversation_id"], str(r["dialogue"].get("label") or "—"), turns or "—"]
            if task == "satisfaction":
                row.append(f"{r['dialogue']['complaint_risk']:.2f}")
            table.add_row(*row)
    out.print(table)


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
    batch = Batch(paths, _options(input_format, columns, agent_speaker), mask=False)
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
        )
        for turn in conversation.turns:
            update = session.add_turn(turn)
            if format == "json":
                sys.stdout.write(update.model_dump_json() + "\n")
            for alert in update.alerts:
                table.add_row(
                    conversation.id,
                    str(alert.turn),
                    alert.title,
                    alert.rule or "model",
                    " ".join(f"“{e.text}”" for e in alert.evidence[:2]),
                    alert.suggestion,
                )

    _check_scorecard(scorecard)
    summary = _run(batch, consume)
    if format == "table":
        out.print(table)
    if summary.nothing_read:
        raise typer.Exit(1)


@app.command()
def show(
    ident: Annotated[str, typer.Argument(help="Conversation id, or the start of its content key")],
    db: DbOption = None,
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Show a stored conversation with its findings."""
    store = Store(db)
    found = store.find(ident)
    if not found:
        err.print(f"no conversation {ident!r} in {store.url}")
        raise typer.Exit(1)
    for key, conv in found:
        results = store.results_for(key)
        if format == "json":
            sys.stdout.write(
                json.dumps(
                    {
                        "key": key,
                        "conversation": conv.model_dump(mode="json"),
                        "results": [r.model_dump(mode="json") for r in results],
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
            continue
        out.print(
            f"[bold]{conv.id}[/] ({conv.channel}, agent {conv.agent_id or '—'}, {conv.team or '—'}) key {key[:12]}"
        )
        evidence_turns = {e.turn: f.rule for r in results for f in r.findings if f.status == "fail" for e in f.evidence}
        for i, turn in enumerate(conv.turns):
            mark = f" [red]← {evidence_turns[i]}[/]" if i in evidence_turns else ""
            out.print(f"{i:>3} {turn.role:<8} {turn.text}{mark}", highlight=False)
        for result in results:
            out.print(
                f"[bold]{result.scorecard}[/]: {result.score:.0f}/{result.max_score:.0f}{' VETO' if result.veto else ''}"
            )
            for f in result.failed():
                out.print(
                    f"  [red]{f.rule}[/] {f.message} (turns {', '.join(str(e.turn) for e in f.evidence)})",
                    highlight=False,
                )
                if f.suggestion:
                    out.print(f"      建议: {f.suggestion}", highlight=False)


@app.command()
def stats(
    db: DbOption = None, format: Annotated[str, typer.Option("--format", help="table or json")] = "table"
) -> None:
    """Counts and averages of what is stored."""
    figures = Store(db).stats()
    if format == "json":
        sys.stdout.write(json.dumps(figures, ensure_ascii=False) + "\n")
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


@app.command()
def scorecards() -> None:
    """List the built-in scorecards."""
    table = Table()
    for column in ("name", "title", "items", "includes"):
        table.add_column(column)
    for name in builtin_names():
        spec, _ = load_spec(name)
        table.add_row(name, spec.name, str(sum(len(s.items) for s in spec.sections)), ", ".join(spec.include) or "—")
    out.print(table)


@scorecard_app.command("check")
def scorecard_check(file: Annotated[Path, typer.Argument(help="A scorecard YAML file")]) -> None:
    """Validate a scorecard file; errors are reported as file:line: message."""
    try:
        compiled = get_scorecard(str(file))
    except ScorecardError as error:
        for problem in error.problems:
            err.print(problem, highlight=False, markup=False)
        raise typer.Exit(1) from None
    items = sum(len(s.items) for s in compiled.spec.sections)
    out.print(
        f"{file}: OK — {compiled.spec.id}, {len(compiled.spec.sections)} sections, {items} items", highlight=False
    )


DiarizationDir = Annotated[
    Path | None,
    typer.Option(
        "--diarization-dir",
        help="Mono calls: a local sherpa-onnx speaker-diarization folder (segmentation + embedding model; never downloaded)",
    ),
]
CustomerFirst = Annotated[
    bool, typer.Option("--customer-first", help="Diarization: the first speaker is the customer (default: the agent)")
]


@app.command()
def audio(
    file: Annotated[Path, typer.Argument(help="A call recording: WAV, FLAC, OGG or MP3, mono or stereo")],
    transcript: Annotated[
        Path | None, typer.Option(help="Its transcript (any input format; the first conversation is used)")
    ] = None,
    channels: Annotated[
        str | None,
        typer.Option(
            help="Stereo layout, e.g. agent,customer (default: the transcript's meta.audio_channels, else agent,customer)"
        ),
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    diarization_dir: DiarizationDir = None,
    customer_first: CustomerFirst = False,
) -> None:
    """Measure a recording: speech, volume, dead air, interruptions, latency, hang-up gap (docs/audio.md)."""
    from zuoxi.audio import AudioError, analyze_file
    from zuoxi.audio.diarize import load_diarizer
    from zuoxi.audio.transcribe import ModelError
    from zuoxi.ingest import read_file

    if format not in ("table", "json"):
        raise typer.BadParameter("--format must be table or json")
    conversation = None
    if transcript is not None:
        conversation = next((r for r in read_file(transcript) if not isinstance(r, IngestError)), None)
        if conversation is None:
            err.print(f"{transcript}: no conversation could be read", highlight=False)
            raise typer.Exit(1)
    layout = channels.split(",") if channels else conversation.meta.get("audio_channels") if conversation else None
    try:
        diarizer = load_diarizer(diarization_dir) if diarization_dir else None
        analysis = analyze_file(file, layout, conversation.turns if conversation else [], diarizer, not customer_first)
    except (AudioError, ModelError) as error:
        err.print(f"[red]audio error[/] {error}", highlight=False)
        raise typer.Exit(1) from None
    summary = analysis.summary()
    if format == "json":
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        return
    _print_audio(summary)


def _print_audio(summary: dict) -> None:
    out.print(
        f"[bold]{summary['file']}[/] {summary['layout']}, {summary['duration']:.1f} s, {summary['sample_rate']} Hz, "
        f"median speech level {summary['median_dbfs']} dBFS",
        highlight=False,
    )
    for warning in summary["warnings"]:
        out.print(f"  [yellow]warning[/] {warning}", highlight=False)
    for role, seconds in summary["speech_seconds"].items():
        out.print(
            f"  {role}: speaks {seconds:.1f} s at {summary['level_dbfs'][role]} dBFS, loudness "
            f"{summary['loudness_lufs'][role]} LUFS, peak {summary['peak_dbfs'][role]} dBFS, "
            f"clipped in {summary['clipped'][role]:.1%} of its speech",
            highlight=False,
        )
    gap, gaps = summary["hangup_gap"], summary["hangup_gaps"]
    out.print(
        f"  hang-up gap: {'n/a' if gap is None else f'{gap:.2f} s'} after the last words "
        f"(last speaker: {summary['last_speaker'] or 'n/a'}"
        + "".join(f"; after the {role}'s: {value:.2f} s" for role, value in gaps.items())
        + ")",
        highlight=False,
    )
    for kind, rows in (
        ("dead air", summary["dead_air"]),
        ("overlap", summary["overlaps"]),
        ("response latency", summary["latencies"]),
        ("loud peak", summary["peaks"]),
    ):
        for row in rows:
            extra = (
                f" {row['by']} over {row['over']}"
                if "by" in row
                else f" {row['role']} +{row['db_over_median']} dB"
                if "role" in row
                else ""
            )
            out.print(
                f"  {kind}: {row['start']:.2f}–{row['end']:.2f} s ({row['end'] - row['start']:.2f} s){extra}",
                highlight=False,
            )
    if summary["turns"] == "n/a":
        out.print("  turns: n/a (no transcript with times)")
        return
    table = Table()
    for column in ("turn", "role", "voiced s", "chars/min", "dBFS", "vs median dB", "peak dB"):
        table.add_column(column)
    for t in summary["turns"]:
        table.add_row(
            str(t["turn"]),
            t["role"],
            f"{t['voiced']:.2f}",
            *(
                "—" if v is None else f"{v:g}"
                for v in (t["speech_rate"], t["level_dbfs"], t["volume_rel_db"], t["peak_rel_db"])
            ),
        )
    out.print(table)


@app.command()
def transcribe(
    file: Annotated[
        Path,
        typer.Argument(
            help="A call recording: stereo (agent and customer on separate channels), or mono with --diarization-dir"
        ),
    ],
    model_dir: Annotated[
        Path, typer.Option("--model-dir", help="A local sherpa-onnx offline model directory (never downloaded)")
    ],
    model_type: Annotated[str, typer.Option(help="auto, paraformer, sense_voice or transducer")] = "auto",
    channels: Annotated[str, typer.Option(help="Stereo layout, e.g. agent,customer")] = "agent,customer",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON line here instead of standard output")
    ] = None,
    threads: Annotated[int, typer.Option(help="ASR threads")] = 1,
    diarization_dir: DiarizationDir = None,
    customer_first: CustomerFirst = False,
) -> None:
    """Transcribe a call with sherpa-onnx into canonical JSON Lines with times and speakers (docs/audio.md)."""
    import os

    from zuoxi.audio import AudioError
    from zuoxi.audio.diarize import load_diarizer
    from zuoxi.audio.transcribe import MODEL_TYPES, ModelError, find_model, load_recognizer
    from zuoxi.audio.transcribe import transcribe as run_asr

    if model_type not in MODEL_TYPES:
        raise typer.BadParameter(f"--model-type must be one of {', '.join(MODEL_TYPES)}")
    try:
        recognizer = load_recognizer(find_model(model_dir, model_type), threads)
        diarizer = load_diarizer(diarization_dir, threads) if diarization_dir else None
        conversation = run_asr(file, recognizer, channels.split(","), diarizer=diarizer, agent_first=not customer_first)
    except (ModelError, AudioError) as error:
        err.print(f"[red]transcribe error[/] {error}", highlight=False)
        raise typer.Exit(1) from None
    if out_file:
        conversation.audio = os.path.relpath(file.resolve(), out_file.resolve().parent)
        out_file.write_text(conversation.model_dump_json(exclude_none=True) + "\n", encoding="utf-8")
        err.print(f"transcript: {out_file.resolve()} ({len(conversation.turns)} turns)", highlight=False)
    else:
        sys.stdout.write(conversation.model_dump_json(exclude_none=True) + "\n")


@app.command()
def train(
    case_id: Annotated[str | None, typer.Argument(help="A case id (none: list the cases)")] = None,
    stage: Annotated[str, typer.Option(help="all, replay, guide or drill")] = "all",
    search: Annotated[str | None, typer.Option(help="List the cases matching these words")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only cases with this tag (repeatable)")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated customer (same seed, same customer)")] = 0,
    trainee: Annotated[str | None, typer.Option(help="Who is training (default $USER)")] = None,
    db: DbOption = None,
) -> None:
    """Train on a typical case: replay it, analyze it with guiding questions, then drill against a simulated customer."""
    import os

    from zuoxi.coaching import terminal
    from zuoxi.coaching.library import CaseLibrary

    library = CaseLibrary(Store(db))
    if case_id is None:
        terminal.list_cases(out, library.search(search or "", tags=tag or None))
        return
    try:
        case = library.get(case_id)
    except KeyError:
        err.print(f"no case {case_id!r}; `zuoxi train` lists them")
        raise typer.Exit(2) from None
    if stage not in ("all", "replay", "guide", "drill"):
        raise typer.BadParameter("--stage must be all, replay, guide or drill")
    terminal.run(out, library, case, stage, seed, trainee or os.environ.get("USER") or "trainee")


user_app = typer.Typer(help="Web app users.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="admin, inspector, team_lead or agent")],
    team: Annotated[str | None, typer.Option(help="A team lead's team")] = None,
    agent_id: Annotated[str | None, typer.Option(help="An agent's agent_id in the conversations")] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the app")] = None,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="ZUOXI_PASSWORD",
            help="At least 8 characters (prompted)",
        ),
    ] = "",
    db: DbOption = None,
) -> None:
    """Create a web app user (password hashed with argon2)."""
    from zuoxi.store.users import UserError, add_user

    try:
        account = add_user(Store(db).engine, username, password, role, team, agent_id, display_name)
    except UserError as error:
        err.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    err.print(f"user {account.username} ({account.role}) added", highlight=False)


@user_app.command("list")
def user_list(db: DbOption = None) -> None:
    """The web app users."""
    from zuoxi.store.users import list_accounts

    table = Table()
    for column in ("username", "role", "team", "agent_id", "name"):
        table.add_column(column)
    for a in list_accounts(Store(db).engine):
        table.add_row(a.username, a.role, a.team or "—", a.agent_id or "—", a.display_name or "")
    out.print(table)


@app.command()
def serve(
    db: DbOption = None,
    schema: SchemaOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the bundled samples and demo users first (if missing)")
    ] = False,
    no_models: Annotated[
        bool, typer.Option("--no-models", help="Uploads are analyzed without the trained models")
    ] = False,
    recordings: Annotated[
        Path | None,
        typer.Option(
            "--recordings",
            file_okay=False,
            exists=True,
            help="Folder of call recordings the pages may play (none outside it); "
            "with --demo, the samples folder by default",
        ),
    ] = None,
    max_upload_mb: Annotated[
        int,
        typer.Option(
            "--max-upload-mb",
            min=1,
            max=10_000,
            help="Largest upload (all its files) in MB; larger is refused with 413",
        ),
    ] = 20,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone", help="Time zone pages show times and filter dates in (default $ZUOXI_TZ, else Asia/Shanghai)"
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Server processes (2 or more need --redis)")
    ] = 1,
    redis: Annotated[
        str | None,
        typer.Option(
            "--redis",
            help="Redis URL (redis://127.0.0.1:6379/0): live sessions and "
            "sign-in limits shared by every server process",
        ),
    ] = None,
) -> None:
    """Start the web app (dashboards, review, appeals). API docs at /docs."""
    import os
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    import uvicorn

    from zuoxi.store import database_schema
    from zuoxi.web import SERVE_SETTINGS, create_app

    if workers > 1 and not redis:
        raise typer.BadParameter("--workers 2 or more needs --redis: a live session must resume in any process")
    try:
        schema = database_schema(schema)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if schema:
        os.environ["ZUOXI_DB_SCHEMA"] = schema  # the workers' stores too
    store = Store(db)  # migrated here, once, before any worker starts
    if demo:
        _load_demo(store)
        recordings = recordings or SAMPLES
    store.close()
    err.print(f"zuoxi web app: http://{host}:{port}/  (API docs: http://{host}:{port}/docs)", highlight=False)
    # WebSocket frames are single live-assist turns (at most 2,000 characters): 256 KiB is plenty.
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ValueError, ZoneInfoNotFoundError):
            raise typer.BadParameter(f"unknown time zone {timezone!r} (e.g. Asia/Shanghai)") from None
    settings = dict(
        db=db,
        models=not no_models,
        recordings=str(recordings) if recordings else None,
        max_upload=max_upload_mb << 20,
        timezone=timezone,
        redis=redis,
    )
    if workers == 1:
        uvicorn.run(create_app(**settings), host=host, port=port, log_level="warning", ws_max_size=1 << 18)
        return
    os.environ[SERVE_SETTINGS] = json.dumps(settings)
    uvicorn.run(
        "zuoxi.web:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        ws_max_size=1 << 18,
    )


SAMPLES = Path(__file__).resolve().parent.parent / "samples"

db_app = typer.Typer(help="The database's schema version.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    db: DbOption = None,
    schema: SchemaOption = None,
    revision: Annotated[str, typer.Option(help="Revision to upgrade to")] = "head",
) -> None:
    """Bring the database to this version's tables (Alembic migrations; `zuoxi serve` and every
    command also do it on start). Run it once before starting several servers on a new version."""
    from zuoxi.store import create_store_engine, database_schema, database_url
    from zuoxi.store.migrate import upgrade

    try:
        schema = database_schema(schema)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    engine = create_store_engine(database_url(db), schema)
    try:
        before, after = upgrade(engine, revision)
    finally:
        engine.dispose()
    where = f"{engine.url.render_as_string(hide_password=True)}" + (f" (schema {schema})" if schema else "")
    err.print(
        f"{where}: revision {before or 'none'} → {after}" if before != after else f"{where}: at revision {after}",
        highlight=False,
    )


def _load_demo(store: Store) -> None:
    """The bundled samples, analyzed, and the demo users of zuoxi/web/demo_users.yaml."""
    import yaml

    from zuoxi.store.users import UserError, add_user

    if store.stats()["conversations"] == 0 and SAMPLES.is_dir():
        summary = _run(Batch([SAMPLES], store=store, analyze=True, resume=False), lambda item: None)
        err.print(f"demo: {summary.analyzed} sample conversations analyzed into {store.url}", highlight=False)
    demo = yaml.safe_load((Path(__file__).resolve().parent / "web" / "demo_users.yaml").read_text(encoding="utf-8"))
    for user in demo["users"]:
        try:
            add_user(store.engine, password=demo["password"], **user)
        except UserError:
            pass  # already there
    from zuoxi.queues.cli import demo_queues  # 抽检与复核 in the demo (issue 24)

    demo_queues(store)
    names = ", ".join(f"{u['username']} ({u['role']})" for u in demo["users"])
    err.print(f"demo sign-ins, password {demo['password']}: {names}", highlight=False)


if __name__ == "__main__":
    app()
