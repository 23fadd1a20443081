"""Scores and findings as CSV or XLSX, for whatever a list filter selects (within the user's scope).

Cells hold text from uploads (ids, teams, evidence): a text starting with = + - @ tab or CR would
be run as a formula by a spreadsheet, so it gets a leading apostrophe (OWASP, "CSV injection"); control
characters, which a workbook cannot hold (one in an uploaded id failed the whole export), are left out."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from zuoxi.store.exports import exported_results
from zuoxi.store.queries import ConversationFilter
from zuoxi.store.users import Account

SCORE_COLUMNS = [
    "conversation_id",
    "agent_id",
    "team",
    "channel",
    "started_at",
    "scorecard",
    "machine_score",
    "score",
    "max_score",
    "veto",
    "failed_rules",
    "complaint_risk",
    "satisfaction",
    "reviewed",
]
FINDING_COLUMNS = [
    "conversation_id",
    "agent_id",
    "scorecard",
    "rule",
    "name",
    "status",
    "severity",
    "points",
    "evidence",
    "message",
]
EXPORT_LIMIT = 100_000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value):
    """The value as a spreadsheet shows it without evaluating it."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _inert_rows(rows: list[list]) -> list[list]:
    return [[inert(v) for v in row] for row in rows]


def export_rows(engine, account: Account, f: ConversationFilter) -> tuple[list[list], list[list]]:
    """(score rows, finding rows) for the filter; findings are the current (reviewed) ones that failed."""
    scores, findings = [], []
    for r in exported_results(engine, account, f, EXPORT_LIMIT):
        data = r.data
        started = r.started_at.astimezone(f.tz).isoformat() if r.started_at else None
        scores.append(
            [
                r.conversation_id,
                r.agent_id,
                r.team,
                r.channel,
                started,
                r.scorecard,
                r.score,
                r.final_score,
                r.max_score,
                bool(data.get("veto")),
                " ".join(r.failed_rules.split()),
                r.complaint_risk,
                r.satisfaction,
                r.reviewed,
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
                        finding["status"],
                        finding["severity"],
                        finding["points"],
                        evidence,
                        finding.get("message", ""),
                    ]
                )
    return scores, findings


def to_csv(scores: list[list], findings: list[list], which: str = "scores") -> bytes:
    """One CSV (UTF-8 with BOM, so Excel opens Chinese correctly): the scores or the findings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SCORE_COLUMNS if which == "scores" else FINDING_COLUMNS)
    writer.writerows(_inert_rows(scores if which == "scores" else findings))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(scores: list[list], findings: list[list]) -> bytes:
    """One workbook, two sheets: 评分 (scores) and 问题 (failed findings)."""
    book = Workbook()
    sheet = book.active
    sheet.title = "评分"
    sheet.append(SCORE_COLUMNS)
    for row in _inert_rows(scores):
        sheet.append(row)
    detail = book.create_sheet("问题")
    detail.append(FINDING_COLUMNS)
    for row in _inert_rows(findings):
        detail.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
