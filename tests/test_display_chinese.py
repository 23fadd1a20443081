"""What a person reads is Chinese, and each code has one Chinese name wherever it is read: the web pages,
the HTML report and the exports take their labels from `zuoxi.report.labels`."""

from __future__ import annotations

import re
from pathlib import Path

from zuoxi.model import Conversation
from zuoxi.pipeline import analyze_conversation
from zuoxi.report import export, labels, render_html
from zuoxi.web import display, pages


def test_the_pages_and_the_exports_share_one_definition_of_each_label():
    assert display.CHANNEL_NAMES is labels.CHANNEL_NAMES
    assert display.STATUS_NAMES is labels.STATUS_NAMES
    assert display.SEVERITY_NAMES is labels.SEVERITY_NAMES
    names = pages.templates.env.globals
    for key, shared in (
        ("channel_names", labels.CHANNEL_NAMES),
        ("status_names", labels.STATUS_NAMES),
        ("severity_names", labels.SEVERITY_NAMES),
        ("satisfaction_names", labels.SATISFACTION_NAMES),
        ("emotion_names", labels.EMOTION_NAMES),
        ("skill_names", labels.SKILL_NAMES),
        ("role_names", labels.ROLE_NAMES),
    ):
        assert names[key] is shared, key
    assert labels.SEVERITY_NAMES == {"minor": "轻微", "major": "严重", "veto": "一票否决"}


def test_export_headers_are_chinese_and_cells_stay_inert():
    assert all(not column.isascii() for column in export.SCORE_COLUMNS + export.FINDING_COLUMNS)
    assert export.inert("=1+1") == "'=1+1" and export.inert("否") == "否"


def test_xlsx_cells_hold_formula_like_text_as_strings_without_an_apostrophe():
    """A workbook's string cell never runs as a formula: the text is written as uploaded (no visible apostrophe),
    a string cell even where openpyxl would make `=…` a formula, with the quote prefix so an edit keeps it text."""
    from openpyxl import load_workbook

    texts = ["-2+3", "+1+1", "@SUM(1,2)", "=1+1", '=HYPERLINK("http://x")', "-alert('X5')-'", "\t=1", "班组\x07一"]
    score = ["c-1", "=1+1", "-2+3", "在线", None, "core", 90, 90, 100, "否", "", 0.1, "满意", "否"]
    finding = ["c-1", "@SUM(1,2)", "core", "R-1", "名称", "未通过", "轻微", 5, "=cmd|' /C calc'!A0", "说明"]
    book = load_workbook(export.to_xlsx([[(score, [finding])] + [([t] + score[1:], []) for t in texts]]))
    cells = [row[0] for row in book["评分"].iter_rows(min_row=3)]
    assert [c.value for c in cells] == [*texts[:-1], "班组一"]
    assert all(c.data_type == "s" for c in cells)
    assert all(c.quotePrefix for c in cells[:-1]) and not cells[-1].quotePrefix
    first = next(book["评分"].iter_rows(min_row=2, max_row=2))
    assert [(c.value, c.data_type) for c in first[:3]] == [("c-1", "s"), ("=1+1", "s"), ("-2+3", "s")]
    assert first[6].value == 90 and first[6].data_type == "n"
    row = next(book["问题"].iter_rows(min_row=2, max_row=2))
    assert (row[1].value, row[1].data_type, row[8].value, row[8].data_type) == (
        "@SUM(1,2)",
        "s",
        "=cmd|' /C calc'!A0",
        "s",
    )
    assert not any(c.data_type == "f" for sheet in book for r in sheet.iter_rows() for c in r)


def report_of(*turns, **fields) -> str:
    conversation = Conversation.model_validate(
        {"id": "r-1", "turns": [{"role": r, "text": t} for r, t in turns], **fields}
    )
    return render_html([(conversation, analyze_conversation(conversation))])


def test_the_html_report_names_severities_in_chinese():
    """It printed the code: `（minor，-3.0 分；…）`."""
    html = report_of(("customer", "怎么还没发货"), ("agent", "神经病，自己看物流"), channel="call")
    assert "（一票否决，" in html
    assert not re.search(r"（(minor|major|veto)，", html)
    html = report_of(("customer", "怎么还没发货"), ("agent", "你自己看物流吧"))
    assert re.search(r"（(轻微|严重)，", html) and not re.search(r"（(minor|major|veto)，", html)


def test_turns_are_numbered_from_one_where_people_read_them():
    """`证据：第 0、1 句` and a transcript from `0 客户`: readers count from 1; stored and API indices stay 0-based."""
    html = report_of(("customer", "怎么还没发货"), ("agent", "神经病，自己看物流"))
    assert "证据：第 2 句" in html and "证据：第 1 句" not in html
    assert re.search(r'<div class="who">1 客户', html) and re.search(r'<div class="who">2 坐席', html)
    assert not re.search(r'<div class="who">0 ', html)
    static = Path(pages.__file__).parent / "static"
    live = (static / "live.js").read_text(encoding="utf-8")
    assert "第${esc(a.turn + 1)}句" in live and "（第${esc(e.turn + 1)}句）" in live and "${i + 1} ${turn.role" in live
    assert "'第' + (p.turn + 1) + '句'" in (static / "detail.js").read_text(encoding="utf-8")
