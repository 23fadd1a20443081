"""Scores and findings as CSV or XLSX, for whatever a list filter selects (within the user's scope).

Headers and coded values are Chinese, named as the pages name them (`zuoxi.report.labels`): 渠道 在线/通话,
一票否决 and 已复核 是/否, 结果 未通过, 严重程度 轻微/严重/一票否决, 满意度 满意/一般/不满意; ids, numbers and
times stay as stored (times in the filter's zone, with their offset).

Cells hold text from uploads (ids, teams, evidence): a text starting with = + - @ tab or CR would
be run as a formula by a spreadsheet. In a CSV it gets a leading apostrophe (OWASP, "CSV injection"); in the
workbook it is a string cell with the "quote prefix" style (what Excel writes for a typed '=1+1), which no
spreadsheet evaluates, so it reads as it was uploaded, with no apostrophe. Control characters, which a workbook
cannot hold (one in an uploaded id failed the whole export), are left out of both.

An export is streamed: the rows are read a chunk at a time (`zuoxi.store.exports`), the CSV is sent as they are read
and the workbook is written in openpyxl's write-only mode to a temporary file, so memory stays bounded whatever its
size. It is never cut short: a filter that selects more than `EXPORT_LIMIT` conversations is refused, before anything
is sent, with a message asking to narrow it."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import IO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from zuoxi.report.labels import CHANNEL_NAMES, SATISFACTION_NAMES, SEVERITY_NAMES, STATUS_NAMES, YES_NO, named
from zuoxi.store.exports import EXPORT_CHUNK, ExportedResult, export_selection, exported_results
from zuoxi.store.queries import ConversationFilter
from zuoxi.store.users import Account

STARTED = "开始时间"
SCORE_COLUMNS = [
    "会话ID",
    "坐席工号",
    "班组",
    "渠道",
    STARTED,
    "评分表",
    "机器评分",
    "得分",
    "满分",
    "一票否决",
    "未通过规则",
    "投诉风险",
    "满意度",
    "已复核",
]
FINDING_COLUMNS = ["会话ID", "坐席工号", "评分表", "规则", "名称", "结果", "严重程度", "分值", "证据", "说明"]
EXPORT_LIMIT = 100_000  # conversations in one export (below a sheet's rows, so the scores fit on one)
SHEET_ROWS = 1_048_576  # rows a spreadsheet holds on a sheet, the header's included
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Exported = tuple[list, list[list]]  # a conversation's score row and the rows of its failed findings


class TooManyToExport(Exception):
    """The filter selects more conversations than one export holds."""

    def __init__(self, limit: int):
        super().__init__(
            f"筛选出的会话超过 {limit:,} 条，一次最多导出 {limit:,} 条：请缩小筛选范围（例如按日期分段）后分次导出"
        )


def _clean(value):
    """The value without the control characters a workbook cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def inert(value):
    """The value as a CSV cell a spreadsheet shows without evaluating it."""
    value = _clean(value)
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def export_rows(
    engine, account: Account, f: ConversationFilter, limit: int | None = None, chunk: int = EXPORT_CHUNK
) -> Iterator[list[Exported]]:
    """The filter's rows, oldest conversation first, a chunk of conversations at a time, read as they are asked for;
    findings are the current (reviewed) ones that failed. Raises TooManyToExport at once, before any row is read, when
    the filter selects more than `limit` conversations (`EXPORT_LIMIT`)."""
    limit = EXPORT_LIMIT if limit is None else limit
    keys = export_selection(engine, account, f, limit)
    if len(keys) > limit:
        raise TooManyToExport(limit)
    return ([_exported(r, f) for r in results] for results in exported_results(engine, account, keys, chunk))


def _exported(r: ExportedResult, f: ConversationFilter) -> Exported:
    data = r.data
    started = r.started_at.astimezone(f.tz) if r.started_at else None  # the list's zone; text or a date cell below
    score = [
        r.conversation_id,
        r.agent_id,
        r.team,
        named(CHANNEL_NAMES, r.channel),
        started,
        r.scorecard,
        r.score,
        r.final_score,
        r.max_score,
        YES_NO[bool(data.get("veto"))],
        " ".join(r.failed_rules.split()),
        r.complaint_risk,
        named(SATISFACTION_NAMES, r.satisfaction),
        YES_NO[bool(r.reviewed)],
    ]
    findings = [
        [
            r.conversation_id,
            r.agent_id,
            r.scorecard,
            finding["rule"],
            finding["name"],
            named(STATUS_NAMES, finding["status"]),
            named(SEVERITY_NAMES, finding["severity"]),
            finding["points"],
            " | ".join(e["text"] for e in finding.get("evidence", [])),
            finding.get("message", ""),
        ]
        for finding in data["findings"]
        if finding["status"] == "fail"
    ]
    return score, findings


def download_name(which: str, kind: str, day: date) -> tuple[str, str]:
    """(ASCII name, Chinese name) of a download, the same pattern for each: `zuoxi-scores-2026-12-07.csv` and
    `zuoxi-评分-2026-12-07.csv`; the workbook, which holds both sheets, `zuoxi-scores-findings-…` / `zuoxi-评分与问题-…`."""
    ascii_part, chinese_part = {
        "scores": ("scores", "评分"),
        "findings": ("findings", "问题"),
        "both": ("scores-findings", "评分与问题"),
    }[which]
    return f"zuoxi-{ascii_part}-{day.isoformat()}.{kind}", f"zuoxi-{chinese_part}-{day.isoformat()}.{kind}"


def to_csv(chunks: Iterable[list[Exported]], which: str = "scores") -> Iterator[bytes]:
    """One CSV (UTF-8 with BOM, so Excel opens Chinese correctly), the scores or the findings: the header at once, then
    a piece per chunk of rows, as they are read."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SCORE_COLUMNS if which == "scores" else FINDING_COLUMNS)
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    for chunk in chunks:
        buffer.seek(0)
        buffer.truncate()
        for score, findings in chunk:
            for row in [score] if which == "scores" else findings:
                writer.writerow([v.isoformat() if isinstance(v, datetime) else inert(v) for v in row])
        if text := buffer.getvalue():
            yield text.encode("utf-8")


def to_xlsx(chunks: Iterable[list[Exported]]) -> IO[bytes]:
    """One workbook, two sheets: 评分 (scores) and 问题 (failed findings), in a temporary file (gone once closed) read
    from its start. Written in write-only mode, which holds no cells: each sheet streams to a file of its own. Findings
    past a sheet's rows go on in 问题2, 问题3…"""
    book = Workbook(write_only=True)
    scores = book.create_sheet("评分")
    scores.append(SCORE_COLUMNS)
    detail = book.create_sheet("问题")
    detail.append(FINDING_COLUMNS)
    sheets, rows = 1, 1
    for chunk in chunks:
        for score, findings in chunk:
            scores.append(_cells(scores, score))
            for finding in findings:
                if rows == SHEET_ROWS:
                    sheets, rows = sheets + 1, 1
                    detail = book.create_sheet(f"问题{sheets}")
                    detail.append(FINDING_COLUMNS)
                detail.append(_cells(detail, finding))
                rows += 1
    file = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it (`read_through`)
    try:
        book.save(file)
    except BaseException:
        file.close()
        raise
    file.seek(0)
    return file


def _cells(sheet, row: list) -> list:
    """One row of a sheet, each text a string cell: openpyxl writes a text starting with = as a formula, so such a
    cell (or one starting with + - @, which a spreadsheet would read as one when edited) is set back to a string
    and marked with the quote prefix; its text is the value as it is, with no apostrophe. A start time is a date cell
    Excel sorts and filters as one, at the list's wall-clock time (a workbook holds no zone: the CSV's ISO text keeps
    it)."""
    return [_cell(sheet, _clean(value)) for value in row]


def _cell(sheet, value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell = WriteOnlyCell(sheet, value)
        cell.data_type, cell.quotePrefix = "s", True
        return cell
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value.replace(tzinfo=None))
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    return value


def read_through(file: IO[bytes], size: int = 1 << 16) -> Iterator[bytes]:
    """A file's bytes in pieces, closing it at the end (or when the download stops)."""
    with file:
        while block := file.read(size):
            yield block
