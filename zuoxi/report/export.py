"""Scores and findings as CSV or XLSX, for whatever a list filter selects (within the user's scope).

Headers and coded values are Chinese, named as the pages name them (`zuoxi.report.labels`): 渠道 在线/通话,
一票否决 and 已复核 是/否, 结果 未通过, 严重程度 轻微/严重/一票否决, 满意度 满意/一般/不满意; ids, numbers and
times stay as stored (times in the filter's zone, with their offset).

Cells hold text from uploads (ids, teams, evidence): a text starting with = + - @ tab or CR would
be run as a formula by a spreadsheet. In a CSV it gets a leading apostrophe (OWASP, "CSV injection"); in the
workbook it is a string cell with the "quote prefix" style (what Excel writes for a typed '=1+1), which no
spreadsheet evaluates, so it reads as it was uploaded, with no apostrophe. Control characters, which a workbook
cannot hold (one in an uploaded id failed the whole export), are left out of both."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter

from zuoxi.report.labels import CHANNEL_NAMES, SATISFACTION_NAMES, SEVERITY_NAMES, STATUS_NAMES, YES_NO, named
from zuoxi.store.exports import exported_results
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
EXPORT_LIMIT = 100_000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _clean(value):
    """The value without the control characters a workbook cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def inert(value):
    """The value as a CSV cell a spreadsheet shows without evaluating it."""
    value = _clean(value)
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _inert_rows(rows: list[list]) -> list[list]:
    return [[inert(v) for v in row] for row in rows]


def _append(sheet, row: list) -> None:
    """One row of a sheet, each text a string cell: openpyxl writes a text starting with = as a formula, so such a
    cell (or one starting with + - @, which a spreadsheet would read as one when edited) is set back to a string
    and marked with the quote prefix; its text is the value as it is, with no apostrophe."""
    row = [_clean(v) for v in row]
    sheet.append(row)
    if any(isinstance(v, str) and v.startswith(FORMULA_STARTS) for v in row):
        for cell, value in zip(sheet[sheet.max_row], row, strict=False):
            if isinstance(value, str) and value.startswith(FORMULA_STARTS):
                cell.data_type, cell.quotePrefix = "s", True


def export_rows(engine, account: Account, f: ConversationFilter) -> tuple[list[list], list[list]]:
    """(score rows, finding rows) for the filter; findings are the current (reviewed) ones that failed."""
    scores, findings = [], []
    for r in exported_results(engine, account, f, EXPORT_LIMIT):
        data = r.data
        started = r.started_at.astimezone(f.tz) if r.started_at else None  # the list's zone; text or a date cell below
        scores.append(
            [
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
        )
        for finding in data["findings"]:
            if finding["status"] == "fail":
                evidence = " | ".join(e["text"] for e in finding.get("evidence", []))
                findings.append(
                    [
                        r.conversation_id,
                        r.agent_id,
                        r.scorecard,
                        finding["rule"],
                        finding["name"],
                        named(STATUS_NAMES, finding["status"]),
                        named(SEVERITY_NAMES, finding["severity"]),
                        finding["points"],
                        evidence,
                        finding.get("message", ""),
                    ]
                )
    return scores, findings


def download_name(which: str, kind: str, day: date) -> tuple[str, str]:
    """(ASCII name, Chinese name) of a download, the same pattern for each: `zuoxi-scores-2026-12-07.csv` and
    `zuoxi-评分-2026-12-07.csv`; the workbook, which holds both sheets, `zuoxi-scores-findings-…` / `zuoxi-评分与问题-…`."""
    ascii_part, chinese_part = {
        "scores": ("scores", "评分"),
        "findings": ("findings", "问题"),
        "both": ("scores-findings", "评分与问题"),
    }[which]
    return f"zuoxi-{ascii_part}-{day.isoformat()}.{kind}", f"zuoxi-{chinese_part}-{day.isoformat()}.{kind}"


def to_csv(scores: list[list], findings: list[list], which: str = "scores") -> bytes:
    """One CSV (UTF-8 with BOM, so Excel opens Chinese correctly): the scores or the findings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SCORE_COLUMNS if which == "scores" else FINDING_COLUMNS)
    rows = _inert_rows(scores if which == "scores" else findings)
    writer.writerows([[v.isoformat() if isinstance(v, datetime) else v for v in row] for row in rows])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(scores: list[list], findings: list[list]) -> bytes:
    """One workbook, two sheets: 评分 (scores) and 问题 (failed findings)."""
    book = Workbook()
    sheet = book.active
    sheet.title = "评分"
    sheet.append(SCORE_COLUMNS)
    for row in scores:
        # a start time is a date cell Excel sorts and filters as one, at the list's wall-clock time (a workbook
        # holds no zone: the CSV's ISO text keeps it)
        _append(sheet, [v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row])
    for cell in sheet[get_column_letter(SCORE_COLUMNS.index(STARTED) + 1)][1:]:
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
    detail = book.create_sheet("问题")
    detail.append(FINDING_COLUMNS)
    for row in findings:
        _append(detail, row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
