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
