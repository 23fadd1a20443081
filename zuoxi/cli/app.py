"""The `zuoxi` Typer app and what every command shares: the consoles, the common options, reading
options from flags, the scorecard check and the batch driver with its progress bar.

Results go to standard output (or --out); progress, errors and summaries go to standard error.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
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

from zuoxi import __version__
from zuoxi.cli.chinese import install
from zuoxi.engines.dask import DaskBatch
from zuoxi.engines.local import Batch, BatchSummary
from zuoxi.ingest import READERS, IngestError, ReadOptions
from zuoxi.ingest.table import parse_column_map
from zuoxi.model import SURROGATE
from zuoxi.report import terminal
from zuoxi.report.terminal import Paragraph, Prose
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
        return Prose.of(super().render_str(visible(text), **options))  # wrapped as Chinese reads

    def print(self, *objects: Any, **options: Any) -> None:
        """One text (str or Text) is printed as a Paragraph: wrapped at spaces and Chinese characters, an id whole."""
        if len(objects) == 1 and isinstance(objects[0], str | Text) and not options.get("soft_wrap", self.soft_wrap):
            if isinstance(objects[0], str):
                objects = (self.render_str(objects[0], highlight=options.get("highlight") is not False),)
            objects = (Paragraph(objects[0]),)
        super().print(*objects, **options)

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and _CONTROL.search(segment.text):
                yield Segment(visible(segment.text), segment.style)
            else:
                yield segment


class _Commands(TyperGroup):
    """The root command: an argument that is no text, a database that cannot be opened or written (read-only, full,
    another process's row first) and a time zone that does not exist are one clear line and exit status 2 — never
    a traceback, whose SQL parameters could hold a password's hash or a conversation. Ctrl-C is 已中断 (status 130),
    not click's English "Aborted!"."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        given = [*getattr(ctx, "_protected_args", getattr(ctx, "protected_args", [])), *ctx.args]  # click 8.2 or before
        for index, argument in enumerate(given, start=1):
            if SURROGATE.search(argument):  # bytes that were not UTF-8, which Python keeps as lone surrogates
                say_error(f"第 {index} 个参数不是 UTF-8 文本：{ascii(argument)[:80]}")
                raise typer.Exit(2)
        try:
            return super().invoke(ctx)
        except StoreUnavailable as error:
            say_error(str(error), "数据库错误")
            raise typer.Exit(2) from None
        except StoreError as error:
            reason = (
                str(getattr(error, "orig", None) or error).strip().splitlines()
            )  # a DB error: its own words, no SQL
            say_error(reason[0] if reason else type(error).__name__, "数据库错误")
            raise typer.Exit(2) from None
        except ZoneInfoNotFoundError as error:
            say_error(f"没有时区 {_zone_key(error)}（请检查 ZUOXI_TZ 或 --timezone）")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:  # Ctrl-C at a prompt or mid-command: click said "Aborted!"
            err.print(Text("已中断", style="red"))
            raise typer.Exit(130) from None


def _zone_key(error: ZoneInfoNotFoundError) -> str:
    """The time zone name that was not found, without zoneinfo's English ("No time zone found with key …")."""
    said = str(error.args[0]) if error.args else str(error)
    return said.removeprefix("No time zone found with key ").strip("'\"")


install()  # typer's own words (usage, --help, its errors) in Chinese: zuoxi/cli/chinese.py
app = typer.Typer(
    cls=_Commands,
    help="zuoxi（坐席）：呼叫中心的会话质检与坐席辅导。",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,  # --install-completion: English, and no doc says how to use it
)


def _show_version(asked: bool) -> None:
    if asked:
        typer.echo(f"zuoxi {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", help="显示版本号并退出", callback=_show_version, is_eager=True)
    ] = False,
) -> None:
    """zuoxi（坐席）：呼叫中心的会话质检与坐席辅导。"""


# One message per line (file:line: reason), whatever the width. No markup and no emoji codes
# (`list.csv:100:` is a file and a line, not 💯): styles are Text, as in report_error.
err = SafeConsole(stderr=True, soft_wrap=True)
out = SafeConsole()
# For commands whose every message holds data (file names, list cells, notes): no highlighting either.
plain_err = SafeConsole(stderr=True, soft_wrap=True, highlight=False)
plain_out = SafeConsole(highlight=False)

DbOption = Annotated[
    str | None, typer.Option("--db", help="数据库：SQLAlchemy URL 或 SQLite 文件（默认 $ZUOXI_DB，否则 ./zuoxi.db）")
]
SchemaOption = Annotated[
    str | None,
    typer.Option("--schema", help="zuoxi 数据表所在的 PostgreSQL schema（默认 $ZUOXI_DB_SCHEMA；没有则创建）"),
]
InputFormat = Annotated[str | None, typer.Option(help=f"输入格式（不按扩展名判断）：{'、'.join(READERS)}")]
Columns = Annotated[
    list[str] | None, typer.Option("--columns", help="CSV/XLSX 的列对应：字段=表头（如 text=消息正文）")
]
AgentSpeaker = Annotated[str | None, typer.Option(help="ASR 文件：坐席的说话人标签（默认：先问候的一方）")]
NoMask = Annotated[bool, typer.Option("--no-mask", help="不给电话号码、身份证号、银行卡号和邮箱打码")]
FormatOption = Annotated[str, typer.Option("--format", help="输出格式：table 或 json")]


SIGN_IN_UNREAD = "读不到密码：请在终端里输入，或者用环境变量 ZUOXI_PASSWORD 给出，或者从标准输入传入一行"
TWO_ENTRIES_DIFFER = "两次输入的密码不一致"


def say_error(message: str, kind: str = "错误") -> None:
    """An error as every command says it: one red prefix with a colon (错误：, 数据库错误：, 输出错误：…), then why."""
    err.print(Text.assemble((f"{kind}：", "red"), message), highlight=False)


def refuse(message: str) -> typer.Exit:
    """Say why a command is refused, as one line (错误：…); the exit (status 2) to raise."""
    say_error(message)
    return typer.Exit(2)


def _password_line(prompt: str) -> str:
    """One password: asked for, hidden, on a terminal; else the next line of standard input ("" when none)."""
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            return getpass.getpass(prompt)
        return sys.stdin.readline().rstrip("\r\n") if sys.stdin is not None else ""
    except (EOFError, KeyboardInterrupt, OSError, UnicodeDecodeError):
        return ""


def read_password(confirm: bool = False, unread: str = SIGN_IN_UNREAD) -> str:
    """A password not given by an option or $ZUOXI_PASSWORD: asked for in Chinese (密码：, hidden) on a terminal,
    else read as the first line of standard input (`… < file`, a pipe). With `confirm`, asked for again (再输入一次：)
    or read from the next line, and refused when the two differ (a terminal asks again, three times at most).
    None to read (an empty line, no input, Ctrl-D or Ctrl-C at the prompt) is refused with `unread` — where click's
    prompt printed English and "Aborted.", and getpass its warnings. Shared by `zuoxi user` and `campaign dial`."""
    on_terminal = sys.stdin is not None and sys.stdin.isatty()
    for _ in range(3 if on_terminal else 1):
        password = _password_line("密码：")
        if not password:
            raise refuse(unread)
        if not confirm:
            return password
        again = _password_line("再输入一次：")
        if again == password:
            return password
        if not again and not on_terminal:
            raise refuse(unread)
        if on_terminal:
            err.print(f"{TWO_ENTRIES_DIFFER}，请重新输入", highlight=False)
    raise refuse(TWO_ENTRIES_DIFFER)


def check_format(value: str, allowed: tuple[str, ...] = ("table", "json")) -> None:
    if value not in allowed:
        raise typer.BadParameter(f"--format 只能是 {' 或 '.join(allowed)}")


def read_options(input_format: str | None, columns: list[str] | None, agent_speaker: str | None) -> ReadOptions:
    if input_format and input_format not in READERS:
        raise typer.BadParameter(f"没有输入格式 {input_format!r}；可选：{'、'.join(READERS)}")
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
        say_error(f"\n{error}", "评分表错误")
        raise typer.Exit(2) from None


def out_error(path: Path, reason: str) -> typer.Exit:
    """Say that `--out` cannot be written (and why); the exit to raise."""
    say_error(f"--out {path}：无法写入（{reason}）", "输出错误")
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
    """`跳过 file:line: reason` for what was left out; `注意 …` for a note (nothing was left out)."""
    err.print(Text.assemble(("注意", "cyan") if error.note else ("跳过", "yellow"), f" {error}"), soft_wrap=True)


def run_batch(batch: Batch | DaskBatch, consume: Callable[[Any], None]) -> BatchSummary:
    """Drive a batch (either engine) with a progress bar on standard error; Ctrl-C keeps what was done."""
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("个分片" if isinstance(batch, DaskBatch) else "个文件"),
        TextColumn("{task.fields[conversations]} 个会话 · 每秒 {task.fields[rate]:.0f} 个"),
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
            err.print(Text.assemble(("已中断", "red"), "：已读取的内容都已保存；再运行同一条命令即可接着处理"))
            terminal.batch_summary(err, batch.summary, time.perf_counter() - started, batch.store is not None)
            raise typer.Exit(130) from None
    terminal.batch_summary(err, batch.summary, time.perf_counter() - started, batch.store is not None)
    return batch.summary
