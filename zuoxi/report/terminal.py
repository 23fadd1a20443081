"""What the command line prints in a terminal: batch summaries; result, prediction and audio tables (rich); the
campaign report's are zuoxi/campaigns/terminal.py. The commands in zuoxi/cli/ decide what to print and where;
this module only lays it out."""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.containers import Lines
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from zuoxi.engines.dask import DaskSummary
from zuoxi.engines.local import BatchSummary
from zuoxi.report.labels import ROLE_NAMES, named
from zuoxi.store import canonical_label

LAYOUT_NAMES = {"stereo": "双声道", "mono": "单声道"}  # a recording's channels (zuoxi audio)


# Where a line of Chinese may break (rich breaks only at spaces, and cut a Chinese sentence or an id with "…"): at
# spaces, between two Chinese characters, never inside an ASCII word or number (`call_20261102`, `12.3%`, `(45/366)`),
# never before closing punctuation (，。）…) nor after opening punctuation (（「“).
_UNITS = re.compile(r"←[^\S\n]*[!-~]+|\s+|[!-~–→]+|.", re.DOTALL)  # `← CS-03`, a rule's mark, stays whole
_CLOSING = frozenset("，。、；：？！）」』”’》〉】〕…%,.;:?!)]}")
_OPENING = frozenset("（「『“‘《〈【〔([{")


def _units(text: str) -> list[tuple[int, int, bool]]:
    """The pieces no line break falls inside: (start, end, is it spaces)."""
    units: list[tuple[int, int, bool]] = []
    for match in _UNITS.finditer(text):
        start, end, spaces = match.start(), match.end(), match[0].isspace()
        previous = units[-1] if units else None
        if (
            previous
            and not spaces
            and not previous[2]
            and (text[start] in _CLOSING or text[previous[1] - 1] in _OPENING)
        ):
            units[-1] = (previous[0], end, False)
        else:
            units.append((start, end, spaces))
    return units


def line_breaks(text: str, width: int) -> list[int]:
    """Where the lines of `text` (one line, no newline) start when it is wrapped at `width` cells: at spaces and
    between Chinese characters; only a piece wider than a line (a long URL) is folded inside."""
    offsets: list[int] = []
    used, filled = 0, False  # cells on this line; whether it has more than spaces
    for start, end, spaces in _units(text):
        cells = cell_len(text[start:end])
        if spaces:
            used += cells
            continue
        if filled and used + cells > width:
            offsets.append(start)
            used = 0
        if cells > width:  # fold it, a character at a time
            for index in range(start, end):
                char = cell_len(text[index])
                if used + char > width and used:
                    offsets.append(index)
                    used = 0
                used += char
        else:
            used += cells
        filled = True
    return offsets


class Prose(Text):
    """Text that wraps as Chinese reads (line_breaks), for table cells, help texts and long lines: rich's own
    wrapping finds no spaces in Chinese and cut words and numbers with "…", or left half an id on the next line."""

    @classmethod
    def of(cls, text: Text | str) -> Prose:
        if isinstance(text, str):
            return cls(text)
        made = cls(
            text.plain,
            style=text.style,
            justify=text.justify,
            overflow=text.overflow,
            no_wrap=text.no_wrap,
            end=text.end,
            tab_size=text.tab_size,
        )
        made._spans[:] = text.spans
        return made

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        lines = self.plain.splitlines() or [""]
        widest = max(cell_len(line) for line in lines)
        pieces = [cell_len(line[s:e]) for line in lines for s, e, spaces in _units(line) if not spaces]
        return Measurement(min(max(pieces, default=widest), widest), widest)

    def wrap(
        self,
        console: Console,
        width: int,
        *,
        justify=None,
        overflow=None,
        tab_size: int = 8,
        no_wrap: bool | None = None,
    ) -> Lines:
        if (self.no_wrap if no_wrap is None else no_wrap) or overflow == "ignore":
            return super().wrap(console, width, justify=justify, overflow=overflow, tab_size=tab_size, no_wrap=no_wrap)
        wrap_justify = justify or self.justify or "default"
        wrap_overflow = overflow or self.overflow or "fold"
        lines = Lines()
        for line in self.split(allow_blank=True):
            if "\t" in line:
                line.expand_tabs(tab_size)
            parts = line.divide(line_breaks(line.plain, width))
            for part in parts:
                part.rstrip()  # the spaces a line ends at (rich's rstrip_end counts characters, not cells)
            parts.justify(console, width, justify=wrap_justify, overflow=wrap_overflow)
            for part in parts:
                part.truncate(width, overflow=wrap_overflow)
            lines.extend(parts)
        return lines


class Paragraph:
    """A line printed on its own, wrapped as Prose: Console.print joins the Text it is given into a plain Text first."""

    def __init__(self, text: Text | str) -> None:
        self.text = Prose.of(text)

    def __rich_console__(self, console: Console, options: ConsoleOptions):
        yield self.text

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return self.text.__rich_measure__(console, options)


def batch_summary(console: Console, summary: BatchSummary, seconds: float, stored: bool = True) -> None:
    """`文件 12 · 读取 50 · 导入 50 · 库中已有 0 · 错误 0 · …`: only what applies — a run that stores nothing
    (`predict`, `analyze --no-store`) imports nothing and finds nothing already stored."""
    rate = summary.read / seconds if seconds > 0 else 0.0
    parts = [f"文件 {summary.files}"]
    if isinstance(summary, DaskSummary):
        parts.append(f"分片 {summary.shards}")
        if summary.shards_skipped:
            parts.append(f"此前已完成的分片 {summary.shards_skipped}")
        if summary.shards_failed:
            parts.append(f"失败的分片 {summary.shards_failed}")
    parts.append(f"读取 {summary.read}")
    if summary.files_skipped:
        parts.append(f"此前已导入的文件 {summary.files_skipped}")
    if stored:
        parts += [f"导入 {summary.imported}", f"库中已有 {summary.duplicates}"]
        if summary.kept_out:
            parts.append(f"已删除、未再存入 {summary.kept_out}")
    if summary.analyzed:
        parts.append(f"分析 {summary.analyzed}")
    notes = sum(problem.note for problem in summary.errors)
    parts.append(f"错误 {len(summary.errors) - notes}")
    if notes:
        parts.append(f"注意 {notes}")
    console.print(" · ".join(parts) + f" · {seconds:.1f} 秒（每秒 {rate:.0f} 个会话）", highlight=False, soft_wrap=True)


def result_line(conv, result) -> tuple:
    """One row of the results table: only its cells are kept while a batch runs, not the conversation and result."""
    failed = " ".join(f.rule for f in result.failed())
    score = Text(f"{result.score:.0f} 一票否决", style="red") if result.veto else f"{result.score:.0f}"
    return (conv.id, canonical_label(conv.agent_id) or "—", result.scorecard, score, failed or "—")


def results_table(console: Console, lines: list[tuple]) -> None:
    table = Table(title=f"{len(lines)} 个会话")
    table.add_column("会话", no_wrap=True, overflow="fold")  # an id stays on one line where it can
    for column in ("坐席", "评分表", "得分", "未通过的规则"):
        table.add_column(column, no_wrap=column == "得分")
    for line in lines:
        table.add_row(*line)
    console.print(table)


def predictions_table(console: Console, rows: list[dict], task: str) -> None:
    table = Table(title=f"{len(rows)} 个会话 · {task}")
    table.add_column("会话")
    if task == "quality":
        for key, name in (("A", "问题解决"), ("S", "客户满意"), ("E", "沟通有效")):
            table.add_column(f"{key}（{name}）")
        for r in rows:
            means = [sum(int(k) * p for k, p in r["dialogue"][key].items()) for key in ("A", "S", "E")]
            table.add_row(r["conversation_id"], *(f"{m:+.2f}" for m in means))
    else:
        table.add_column("整通会话")
        table.add_column("客户各句")
        if task == "satisfaction":
            table.add_column("投诉风险")
        for r in rows:
            turns = " ".join(f"{t['turn']}:{t['label']}" for t in r["turns"])
            row = [r["conversation_id"], str(r["dialogue"].get("label") or "—"), turns or "—"]
            if task == "satisfaction":
                row.append(f"{r['dialogue']['complaint_risk']:.2f}")
            table.add_row(*row)
    console.print(table)


def audio_summary(console: Console, summary: dict) -> None:
    console.print(
        Text.assemble(
            (str(summary["file"]), "bold"),
            f" {named(LAYOUT_NAMES, summary['layout'])}，{summary['duration']:.1f} 秒，{summary['sample_rate']} Hz，"
            f"语音电平中位数 {summary['median_dbfs']} dBFS",
        ),
        highlight=False,
    )
    for warning in summary["warnings"]:
        console.print(Text.assemble("  ", ("警告", "yellow"), f" {warning}"), highlight=False)
    for role, seconds in summary["speech_seconds"].items():
        console.print(
            f"  {named(ROLE_NAMES, role)}：说话 {seconds:.1f} 秒，电平 {summary['level_dbfs'][role]} dBFS，响度 "
            f"{summary['loudness_lufs'][role]} LUFS，峰值 {summary['peak_dbfs'][role]} dBFS，"
            f"削波占语音 {summary['clipped'][role]:.1%}",
            highlight=False,
        )
    gap, gaps = summary["hangup_gap"], summary["hangup_gaps"]
    console.print(
        f"  挂机间隔：最后一句话后 {'无' if gap is None else f'{gap:.2f} 秒'}"
        f"（最后说话的一方：{named(ROLE_NAMES, summary['last_speaker']) or '无'}"
        + "".join(f"；{named(ROLE_NAMES, role)}最后一句后 {value:.2f} 秒" for role, value in gaps.items())
        + "）",
        highlight=False,
    )
    for kind, rows in (
        ("静音", summary["dead_air"]),
        ("抢话", summary["overlaps"]),
        ("响应延迟", summary["latencies"]),
        ("音量突增", summary["peaks"]),
    ):
        for row in rows:
            extra = (
                f" {named(ROLE_NAMES, row['by'])}打断{named(ROLE_NAMES, row['over'])}"
                if "by" in row
                else f" {named(ROLE_NAMES, row['role'])} +{row['db_over_median']} dB"
                if "role" in row
                else ""
            )
            console.print(
                f"  {kind}：{row['start']:.2f}–{row['end']:.2f} 秒（{row['end'] - row['start']:.2f} 秒）{extra}",
                highlight=False,
            )
    if summary["turns"] == "n/a":
        console.print("  各句：无（没有带时间的转写）")
        return
    table = Table()
    for column in ("句", "角色", "发声秒数", "字/分钟", "dBFS", "比中位数 dB", "峰值 dB"):
        table.add_column(column)
    for t in summary["turns"]:
        table.add_row(
            str(t["turn"]),
            named(ROLE_NAMES, t["role"]),
            f"{t['voiced']:.2f}",
            *(
                "—" if v is None else f"{v:g}"
                for v in (t["speech_rate"], t["level_dbfs"], t["volume_rel_db"], t["peak_rel_db"])
            ),
        )
    console.print(table)
