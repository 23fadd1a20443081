"""What a person reads is Chinese, and each code has one Chinese name wherever it is read: the web pages,
the HTML report and the exports take their labels from `zuoxi.report.labels`."""

from __future__ import annotations

from zuoxi.report import export, labels
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
