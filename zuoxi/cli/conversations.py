"""Conversations in and out: `zuoxi import`, `analyze`, `predict`, `live`, `show`, `stats`, `conversation delete`."""

from __future__ import annotations

import getpass
import json
import sys
import unicodedata
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
    SchemaOption,
    app,
    check_format,
    check_out,
    check_scorecard,
    err,
    inert_json,
    out,
    plain_err,
    read_options,
    report_error,
    run_batch,
    say_error,
    write_out,
)
from zuoxi.engines.dask import DaskBatch, DaskEngineError, DaskSummary
from zuoxi.engines.local import Batch, BatchSummary
from zuoxi.ingest.errors import IngestError
from zuoxi.model import Conversation
from zuoxi.privacy import mask_text
from zuoxi.report import Report, render_report, terminal
from zuoxi.report.labels import CHANNEL_NAMES, ROLE_NAMES, named
from zuoxi.report.terminal import Prose
from zuoxi.store import Store, shown_url

HTML_REPORT = Path("zuoxi-report.html")  # where --format html writes without --out
HTML_SHOWN = 1_000  # conversations the HTML report shows in full (the lowest scores); the figures count them all


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(metavar="文件或文件夹", help="文件或文件夹（含子文件夹）")],
    db: DbOption = None,
    schema: SchemaOption = None,
    format: InputFormat = None,
    columns: Columns = None,
    agent_speaker: AgentSpeaker = None,
    no_mask: NoMask = False,
    again: Annotated[bool, typer.Option("--again", help="重新读取已导入过的文件")] = False,
) -> None:
    """把会话导入数据库（可重复运行：已导入的不会重复，中断后再运行即接着导入）。"""
    store = Store(db, schema)
    summary = run_batch(
        Batch(paths, read_options(format, columns, agent_speaker), store=store, mask=not no_mask, resume=not again),
        lambda item: None,
    )
    err.print(Text(f"数据库：{shown_url(store.url)}"))
    if summary.nothing_read:
        raise typer.Exit(1)


@app.command()
def analyze(
    paths: Annotated[list[Path], typer.Argument(metavar="文件或文件夹", help="文件或文件夹（含子文件夹）")],
    scorecard: Annotated[
        str, typer.Option(help="auto（按各会话的 meta.scorecard，没有则用 core）、内置评分表名，或 YAML 文件")
    ] = "auto",
    format: Annotated[
        str | None,
        typer.Option("--format", help="输出格式：table（默认）、json（JSON Lines）或 html；用 --parquet 时默认不输出"),
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help=f"写到这个文件，而不是标准输出（--format html 默认 ./{HTML_REPORT}）"),
    ] = None,
    db: DbOption = None,
    schema: SchemaOption = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="不把会话和质检结果写入数据库")] = False,
    input_format: InputFormat = None,
    columns: Columns = None,
    agent_speaker: AgentSpeaker = None,
    no_mask: NoMask = False,
    no_models: Annotated[bool, typer.Option("--no-models", help="不用训练好的模型：情绪只按提示词判断，更快")] = False,
    engine: Annotated[
        str, typer.Option("--engine", help="local（本进程）或 dask（Dask 集群，见 docs/scale.md）")
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="dask：已有集群的调度器地址，如 tcp://host:8786（默认：在 127.0.0.1 上启动 LocalCluster）",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="dask：LocalCluster 的 worker 进程数（默认：每个 CPU 核一个）"),
    ] = None,
    parquet: Annotated[Path | None, typer.Option("--parquet", help="dask：把结果以 Parquet 分块写入这个文件夹")] = None,
    again: Annotated[bool, typer.Option("--again", help="dask：重做此前运行已完成的分片（默认跳过）")] = False,
) -> None:
    """按评分表给会话质检评分，打印或写出结果。"""
    _check_engine_options(format, engine, scheduler, workers, parquet, again)
    format = format or ("none" if parquet else "table")
    if format == "html":
        check_out(out_file or HTML_REPORT)
    check_scorecard(scorecard)
    store = None if no_store else Store(db, schema)
    options = read_options(input_format, columns, agent_speaker)
    chosen = None if scorecard == "auto" else scorecard
    batch = _analysis_batch(
        paths, options, store, chosen, format, no_mask, no_models, engine, scheduler, workers, parquet, again
    )
    collected: list | Report = Report(HTML_SHOWN) if format == "html" else []
    handle = OutFile(out_file) if out_file and format in ("json", "table") else None
    try:
        summary = run_batch(batch, _analysis_consumer(format, handle, collected))
        _report_dask_outputs(summary, store is not None, parquet)
        if summary.nothing_read and (out_file or format == "html"):  # a mistyped path: the last report stays
            err.print(f"什么也没有读到：没有写 {out_file or HTML_REPORT}", highlight=False)
        else:
            _write_analysis_report(format, out_file, handle, collected)
    except DaskEngineError as error:
        say_error(str(error), "dask 错误")
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


def _analysis_consumer(format: str, handle, collected: list | Report):
    """What happens to each analyzed conversation: audio notes to stderr, then a JSON line now (as results
    stream in), or a table row or its part of the HTML report, written at the end."""

    def consume(item) -> None:
        _print_audio_notes(item.result.audio)
        if format == "json":
            line = item.result.model_dump_json(
                exclude={"sections", "audio"} if item.result.audio is None else {"sections"}
            )
            line = inert_json(line) + "\n"
            (handle.write(line) if handle else sys.stdout.write(line))
        elif isinstance(collected, Report):
            collected.add(item.conversation, item.result)
        elif format == "table":
            collected.append(terminal.result_line(item.conversation, item.result))

    return consume


def _print_audio_notes(audio: dict | None) -> None:
    """Why a recording's audio was skipped and what its audio analysis warned about (the text is still scored)."""
    if audio and "error" in audio:
        err.print(Text.assemble(("录音跳过", "yellow"), f" {audio['error']}（文字已分析）"), highlight=False)
    for warning in (audio or {}).get("warnings", []):
        err.print(Text.assemble(("录音警告", "yellow"), f" {warning}"), highlight=False)


def _file_console(handle: OutFile | None) -> SafeConsole:
    """Where a table goes: the terminal, or the --out file (as `> FILE` would have it: no colours, 80 wide)."""
    return out if handle is None else SafeConsole(file=handle, highlight=False)


def _write_analysis_report(
    format: str, out_file: Path | None, handle: OutFile | None, collected: list | Report
) -> None:
    """The results table or HTML report, once every result is in, and where a file was written."""
    if isinstance(collected, Report):
        target = out_file or HTML_REPORT
        write_out(target, render_report(collected))
        err.print(f"报告：{target.resolve()}", highlight=False)
    elif format == "table":
        terminal.results_table(_file_console(handle), collected)
    if out_file and format in ("json", "table"):
        err.print(f"结果：{out_file.resolve()}", highlight=False)


def _check_engine_options(
    format: str | None, engine: str, scheduler: str | None, workers: int | None, parquet: Path | None, again: bool
) -> None:
    if format not in (None, "table", "json", "html"):
        raise typer.BadParameter("--format 只能是 table、json 或 html")
    if engine not in ("local", "dask"):
        raise typer.BadParameter("--engine 只能是 local 或 dask")
    if engine == "local" and (scheduler or workers or parquet or again):
        raise typer.BadParameter(
            "--scheduler、--workers、--parquet 和 --again 要与 --engine dask 一起用（单进程用 --workers 1）"
        )
    if scheduler and workers:
        raise typer.BadParameter("--workers 指定的是 LocalCluster 的进程数；--scheduler 给出的集群有自己的 worker")


def _report_dask_outputs(summary: BatchSummary, stored: bool, parquet: Path | None) -> None:
    """Where a Dask run's results went: shards an earlier run finished, the Parquet folder, parts superseded."""
    if not isinstance(summary, DaskSummary):  # a local run (--parquet goes with --engine dask)
        return
    if summary.shards_skipped:
        read_back = f"，从中读回 {summary.read_back} 个" if summary.read_back else ""
        err.print(
            f"{summary.shards_skipped} 个分片此前已完成（结果在"
            f"{'和'.join(str(w) for w in ('数据库' if stored else None, parquet) if w)}{read_back}）；"
            "--again 可重做",
            highlight=False,
        )
    if parquet:
        err.print(f"parquet：{parquet.resolve()}", highlight=False)
        if summary.parts_superseded:
            from zuoxi.report.parquet import SUPERSEDED

            err.print(
                f"parquet：此前计划（不同的输入或选项）的 {summary.parts_superseded} 个分块已移到 "
                f"{parquet.resolve() / SUPERSEDED}",
                highlight=False,
            )


@app.command()
def predict(
    paths: Annotated[list[Path], typer.Argument(metavar="文件或文件夹", help="文件或文件夹（含子文件夹）")],
    task: Annotated[str, typer.Option("--task", help=f"预测什么：{' | '.join(TASKS)}")] = "satisfaction",
    format: Annotated[str, typer.Option("--format", help="输出格式：json（JSON Lines）或 table")] = "json",
    out_file: Annotated[Path | None, typer.Option("--out", help="写到这个文件，而不是标准输出")] = None,
    input_format: InputFormat = None,
    columns: Columns = None,
    agent_speaker: AgentSpeaker = None,
) -> None:
    """用训练好的模型预测客户情绪、满意度或对话质量（见 docs/models.md）。"""
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
        err.print(f"结果：{out_file.resolve()}", highlight=False)
    if summary.nothing_read:
        raise typer.Exit(1)


def _check_predict_options(task: str, format: str) -> None:
    """Bad options refused before the models load (that takes a while)."""
    if task not in TASKS:
        raise typer.BadParameter(f"--task 只能是 {'、'.join(TASKS)} 之一")
    if format not in ("json", "table"):
        raise typer.BadParameter("--format 只能是 json 或 table")


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
    paths: Annotated[list[Path], typer.Argument(metavar="文件或文件夹", help="文件或文件夹（含子文件夹）")],
    scorecard: Annotated[
        str, typer.Option(help="auto（按各会话的 meta.scorecard，没有则用 core）、内置评分表名，或 YAML 文件")
    ] = "auto",
    format: Annotated[
        str, typer.Option("--format", help="输出格式：table，或 json（每句一行，与 WebSocket 推送的相同）")
    ] = "table",
    input_format: InputFormat = None,
    columns: Columns = None,
    agent_speaker: AgentSpeaker = None,
    no_models: Annotated[bool, typer.Option("--no-models", help="不用模型：情绪只按提示词判断")] = False,
) -> None:
    """把会话逐句回放给实时辅助，显示坐席当时会收到的提醒（见 docs/live.md）。"""
    from zuoxi.engines.live import LiveSession
    from zuoxi.pipeline import choose_scorecard

    if format not in ("table", "json"):
        raise typer.BadParameter("--format 只能是 table 或 json")
    batch = Batch(paths, read_options(input_format, columns, agent_speaker), mask=True)  # ids and names printed too
    table = Table(title="实时辅助提醒")
    for column in ("会话", "句", "提醒", "规则", "原话", "建议"):
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
                    str(alert.turn + 1),  # counted from 1, as `zuoxi show`, the web app and the report do
                    alert.title,
                    alert.rule or "模型",
                    " ".join(f"“{e.text}”" for e in alert.evidence[:2]),
                    alert.suggestion,
                )

    check_scorecard(scorecard)
    summary = run_batch(batch, consume)
    if format == "table":
        out.print(table)
    if summary.nothing_read:
        raise typer.Exit(1)


def _stored(store: Store, ident: str) -> tuple[list[tuple[str, Conversation]], str, bool]:
    """The conversations of a key, a key's start or an id as typed, else of the id masked as it is stored (a caller's
    number, 13800138000, is kept as *******8000); the ident masked, as messages show it; and whether it was found so."""
    found = store.find(ident)
    masked = mask_text(ident)
    if not found and masked != ident:
        return store.find(masked), masked, True
    return found, masked, False


def _find(store: Store, ident: str) -> list[tuple[str, Conversation]]:
    """The conversations `zuoxi show IDENT` shows (`_stored`); exits saying why when none, or several masked alike,
    are."""
    found, masked, by_mask = _stored(store, ident)
    if by_mask and len(found) > 1:
        err.print(
            Text(
                f"有 {len(found)} 个会话的编号打码后都是 {masked!r:.80}（存储时个人信息已打码，分不出是哪一个）：\n"
                + "\n".join(f"  {key[:12]}  {conv.agent_id or '—'}  {conv.started_at or '—'}" for key, conv in found)
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
    ident: Annotated[str, typer.Argument(metavar="会话编号", help="会话编号，或其内容键的开头")],
    db: DbOption = None,
    schema: SchemaOption = None,
    format: Annotated[str, typer.Option("--format", help="输出格式：table 或 json")] = "table",
) -> None:
    """显示库中的一个会话及其质检结果。含个人信息的编号（如来电号码）存储时已打码：按输入的编号同样打码后查找。"""
    check_format(format)
    store = Store(db, schema, create=False)
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
                (conv.id, "bold"),
                f"（{CHANNEL_NAMES.get(conv.channel, conv.channel)}，坐席 {conv.agent_id or '—'}，{conv.team or '—'}）内容键 {key[:12]}",
            )
        )
        evidence_turns = {e.turn: f.rule for r in results for f in r.findings if f.status == "fail" for e in f.evidence}
        turns = Table.grid(padding=(0, 1))  # a long turn goes on under its own text, the rule's mark whole
        turns.add_column(justify="right", no_wrap=True)
        turns.add_column(no_wrap=True)
        turns.add_column()
        for i, turn in enumerate(conv.turns):
            mark = (f" ← {evidence_turns[i]}", "red") if i in evidence_turns else ""
            turns.add_row(str(i + 1), ROLE_NAMES.get(turn.role, turn.role), Prose.of(Text.assemble(turn.text, mark)))
        out.print(turns, highlight=False)
        if not results:
            out.print("尚未质检：zuoxi analyze 文件 --db … 会给它评分（zuoxi import 只存入数据库）")
        for result in results:
            out.print(
                Text.assemble(
                    (result.scorecard, "bold"),
                    f"：{result.score:.0f}/{result.max_score:.0f}{' 一票否决' if result.veto else ''}",
                )
            )
            for f in result.failed():
                out.print(
                    Text.assemble(
                        "  ", (f.rule, "red"), f" {f.message}（第 {'、'.join(str(e.turn + 1) for e in f.evidence)} 句）"
                    ),
                    highlight=False,
                )
                if f.suggestion:
                    out.print(f"      建议：{f.suggestion}", highlight=False)


@app.command()
def stats(
    db: DbOption = None,
    schema: SchemaOption = None,
    format: Annotated[str, typer.Option("--format", help="输出格式：table 或 json")] = "table",
) -> None:
    """库中数据的数量和平均分。"""
    check_format(format)
    figures = Store(db, schema, create=False).stats()
    if format == "json":
        sys.stdout.write(inert_json(json.dumps(figures, ensure_ascii=False)) + "\n")
        return
    out.print(
        f"会话：{figures['conversations']}（{'，'.join(f'{named(CHANNEL_NAMES, k)} {v}' for k, v in figures['by_channel'].items())}）"
        f" · 已导入文件：{figures['files']}"
    )
    table = Table(title="评分表")
    for column in ("评分表", "结果数", "平均分", "一票否决"):
        table.add_column(column)
    for row in figures["scorecards"]:
        table.add_row(row["scorecard"], str(row["results"]), str(row["average"]), str(row["vetoes"]))
    out.print(table)
    agents = Table(title="坐席（平均分从低到高）")
    for column in ("坐席", "结果数", "平均分"):
        agents.add_column(column)
    for row in figures["agents"]:
        agents.add_row(row["agent_id"] or "—", str(row["results"]), str(row["average"]))
    out.print(agents)


conversation_app = typer.Typer(
    help="库中的会话：删除（更正或更完整的重新导出、导错的会话、客户要求删除其数据）。", no_args_is_help=True
)
app.add_typer(conversation_app, name="conversation")


@conversation_app.command("delete")
def conversation_delete(
    idents: Annotated[
        list[str],
        typer.Argument(
            metavar="内容键或会话编号",
            help="内容键（或其开头，至少 6 位，见 zuoxi show）或会话编号；可给多个",
            show_default=False,
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", help="不询问，直接删除")] = False,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """删除库中的会话及与之关联的全部数据，一个事务完成，记入审计日志（删了什么、谁删的，不含会话内容）。
    删除的有：质检结果、复核与校准（含意见）、申诉、评分版本、复核任务、投诉预警及其推送记录、全文检索索引。
    由它整理出的培训案例和外呼拨打记录保留，但不再关联它。
    审计日志保留谁在何时做了什么，但其中关于它的复核意见、申诉理由与处理意见、跳过说明和预警备注会被抹去。先列出将删除的内容并询问（--yes 不询问）。
    同一会话编号更正过或更完整的导出导入时会与旧的并存（附注意），用本命令删去旧的即可。
    删除的会话记下其内容键（不含内容）：再次读到同样的会话（zuoxi analyze、网页上传、import --again、别的文件）不会再存入，附注意。
    若要让它再存入，用 zuoxi conversation readmit 内容键。"""
    from zuoxi.store.deletion import delete_conversations, dependents

    store = Store(db, schema, create=False)
    keys = _keys_to_delete(store, idents)
    planned = dependents(store.engine, keys)
    if not planned:  # found a moment ago, deleted since
        plain_err.print("这些会话已不在库中：什么也没有删除")
        raise typer.Exit(1)
    _say_deletion(planned)
    if not yes and not _confirmed(len(planned)):
        raise typer.Exit(1)
    deleted = delete_conversations(store.engine, keys, operator=_operator())
    if len(deleted) < len(planned):
        gone = len(planned) - len(deleted)
        plain_err.print(f"{gone} 个会话在询问期间已被删除（别的进程或用户）")
    shown = "、".join(d.key[:12] for d in deleted[:5]) + (f" 等 {len(deleted)} 个" if len(deleted) > 5 else "")
    plain_err.print(
        f"已删除 {len(deleted)} 个会话（内容键 {shown}）及其关联数据，已记入审计日志（conversation.delete）"
    )
    plain_err.print("再次读到同样的会话时不会再存入（要让它再存入：zuoxi conversation readmit 内容键）")


@conversation_app.command("readmit")
def conversation_readmit(
    keys: Annotated[
        list[str],
        typer.Argument(
            metavar="内容键", help="删除时列出的内容键（或其开头，至少 6 位）；可给多个", show_default=False
        ),
    ],
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """让已删除的会话在再次读到时可以再存入（删错了、作为重复删去的那个其实要保留）。
    本命令不恢复任何内容：之后用 zuoxi import --again 或 zuoxi analyze 再读含有它的文件。
    （zuoxi import 会跳过已导入过的同一文件。）记入审计日志（conversation.readmit）。"""
    from zuoxi.store.deletion import deleted_keys, readmit

    store = Store(db, schema, create=False)
    full: list[str] = []
    for typed in keys:
        found = deleted_keys(store.engine, typed)
        if len(found) != 1:
            say_error(
                f"{typed!r:.80} 不是已删除会话的内容键（或其开头，至少 6 位）"
                if not found
                else f"{typed!r:.80} 是 {len(found)} 个已删除会话内容键的开头：请多给几位"
            )
            plain_err.print("什么也没有改")
            raise typer.Exit(1)
        full.append(found[0])
    done = readmit(store.engine, full, operator=_operator())
    plain_err.print(
        f"已允许 {len(done)} 个已删除的会话再次存入（内容键 {'、'.join(key[:12] for key in done)}），"
        "已记入审计日志（conversation.readmit）"
    )
    plain_err.print(
        "要把它再存进来：zuoxi import --again 文件 或 zuoxi analyze 文件（zuoxi import 会跳过已导入过的同一文件）"
    )


def _keys_to_delete(store: Store, idents: list[str]) -> list[str]:
    """The keys of the conversations named, each by key, a key's start or id, as typed or masked as ids are stored
    (as `zuoxi show` finds them). One that names no conversation, or several, is said, and nothing is deleted (exit
    status 1)."""
    keys: list[str] = []
    refused = False
    for ident in idents:
        found, masked, _ = _stored(store, ident)
        if len(found) == 1:
            keys.append(found[0][0])
            continue
        refused = True
        if not found:
            say_error(f"数据库 {shown_url(store.url)} 里没有会话 {masked!r:.80}（内容键或会话编号；zuoxi show 可查看）")
            continue
        say_error(
            f"{masked!r:.80} 对应库中 {len(found)} 个会话：\n"
            + "\n".join(f"  {key[:12]}  坐席 {conv.agent_id or '—'}  {conv.started_at or '—'}" for key, conv in found)
            + "\n请用内容键（上面左列）指定要删除的那一个：zuoxi conversation delete 内容键"
        )
    if refused:
        plain_err.print("什么也没有删除")
        raise typer.Exit(1)
    return list(dict.fromkeys(keys))


def _say_deletion(planned: list) -> None:
    """What will be deleted, conversation by conversation, and what is kept unlinked (counts and names, no text)."""
    from zuoxi.store import source_zone

    plain_err.print(f"将删除 {len(planned)} 个会话：")
    for d in planned:
        started = d.started_at.astimezone(source_zone()).strftime("%Y-%m-%d %H:%M") if d.started_at else "—"
        plain_err.print(
            f"  {d.conversation_id}  内容键 {d.key[:12]}  坐席 {d.agent_id or '—'}  {d.team or '—'}  {started}"
            + (f"  来自 {d.source}" if d.source else "")
        )
        parts = ["会话内容及全文检索索引"]
        if d.scorecards:
            parts.append(f"质检结果 {len(d.scorecards)} 个（{'、'.join(d.scorecards)}）")
        for count, what in (
            (d.reviews, "复核与校准 {} 条（含意见）"),
            (d.appeals, "申诉 {} 条（含理由和处理意见）"),
            (d.result_versions, "评分版本 {} 个"),
            (d.queue_items, "复核任务 {} 个"),
            (d.alerts, "投诉预警 {} 条"),
            (d.alert_deliveries, "预警推送 {} 条"),
            (d.alert_delivery_attempts, "推送日志 {} 条"),
        ):
            if count:
                parts.append(what.format(count))
        plain_err.print("    删除：" + "、".join(parts))
        kept = [f"外呼拨打记录 {d.campaign_attempts} 条"] if d.campaign_attempts else []
        kept += [f"培训案例 {case}（已整理、已打码，含对话内容）" for case in d.training_cases]
        if kept:
            plain_err.print("    保留，但不再关联此会话：" + "；".join(kept))


CONFIRMATIONS = ("y", "yes", "是", "确定", "确认")


def _confirmed(count: int) -> bool:
    """Whether the person at the terminal (or the first line of standard input) says yes; a no is said."""
    err.print(f"确定删除以上 {count} 个会话？输入 y 确认，其他任何输入都取消：", end="", highlight=False)
    try:
        answer = sys.stdin.readline() if sys.stdin is not None else ""
    except (OSError, UnicodeDecodeError):
        answer = ""
    if not sys.stdin or not sys.stdin.isatty():
        err.print(answer.rstrip("\r\n"), highlight=False)  # what a pipe answered, after the question
    if unicodedata.normalize("NFKC", answer).strip().lower() in CONFIRMATIONS:
        return True
    said = "已取消" if answer.strip() else "没有得到确认（不询问直接删除请加 --yes）"
    plain_err.print(f"{said}：什么也没有删除")
    return False


def _operator() -> str | None:
    """Who runs the command, for the audit log: the command line needs no sign-in, so its login name."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return None
