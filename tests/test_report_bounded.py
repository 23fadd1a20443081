"""The HTML report and the results table of `zuoxi analyze` keep what they print, not every conversation and result:
a run over 100,000 conversations held them all to the end (about 5 GB) for a page that shows them one by one."""

from __future__ import annotations

import re
from collections import Counter
from statistics import mean

import pytest
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.cli import conversations as cli_conversations
from zuoxi.ingest import read_file
from zuoxi.ingest.errors import IngestError
from zuoxi.model import HIGH_RISK, SCORE_BANDS
from zuoxi.pipeline import analyze_conversation
from zuoxi.report import Report, render_html, render_report


@pytest.fixture(scope="module")
def analyzed(samples):
    items = [
        (conversation, analyze_conversation(conversation, models=False))
        for path in (samples / "ecommerce_chats.jsonl", samples / "complaint_desk.jsonl")
        for conversation in read_file(path)
        if not isinstance(conversation, IngestError)
    ]
    assert len(items) >= 10
    return items


def test_the_figures_count_every_conversation_and_only_the_lowest_scores_are_kept(analyzed):
    report = Report.of(analyzed, limit=3)
    stats = report.stats()
    scores = [r.score for _, r in analyzed]
    assert stats.count == len(analyzed) and report.left_out == len(analyzed) - 3
    assert stats.average == round(mean(scores), 1)
    assert stats.vetoes == sum(r.veto for _, r in analyzed)
    assert stats.bands == [(label, sum(lo <= s < hi for s in scores)) for lo, hi, label in SCORE_BANDS]
    failed = Counter((f.rule, f.name) for _, r in analyzed for f in r.findings if f.status == "fail")
    assert stats.failed_rules == [(rule, name, n) for (rule, name), n in failed.most_common(15)]
    by_agent: dict[str, list[float]] = {}
    for conversation, result in analyzed:
        by_agent.setdefault(conversation.agent_id or "—", []).append(result.score)
    assert sorted(stats.agents) == sorted((a, len(s), round(mean(s), 1)) for a, s in by_agent.items())
    risky = {r.conversation_id for _, r in analyzed if (r.complaint_risk or 0) >= HIGH_RISK} | {
        r.conversation_id
        for _, r in analyzed
        for f in r.findings
        if f.rule in ("ES-01", "ES-02") and f.status == "fail"
    }
    assert stats.risks == sorted(risky)
    # the kept ones are what sorting all of them by score (stable: arrival order among equal scores) lists first
    expected = sorted(analyzed, key=lambda item: item[1].score)[:3]
    assert [r.conversation_id for _, r in report.shown] == [r.conversation_id for _, r in expected]
    assert Report.of(analyzed).stats() == stats  # the limit changes what is shown, never the figures


def test_equal_scores_keep_the_first_to_come(analyzed):
    conversation, result = analyzed[0]
    same = [
        (conversation.model_copy(update={"id": f"c{i}"}), result.model_copy(update={"conversation_id": f"c{i}"}))
        for i in range(5)
    ]
    report = Report.of(same, limit=2)
    assert [r.conversation_id for _, r in report.shown] == ["c0", "c1"]


def test_the_page_says_how_many_it_does_not_list(analyzed):
    whole = render_html(analyzed)
    assert 'id="left-out"' not in whole
    shown = render_report(Report.of(analyzed, limit=2))
    assert len(re.findall(r'<section class="conv', shown)) == 2
    assert f"其余 {len(analyzed) - 2} 个只计入上面的统计" in shown
    assert f"<b>{len(analyzed)}</b>" in shown  # the count card counts them all


def test_analyze_html_lists_the_lowest_scores_within_its_bound(samples, tmp_path, monkeypatch):
    monkeypatch.setattr(cli_conversations, "HTML_SHOWN", 2)
    report = tmp_path / "report.html"
    outcome = CliRunner().invoke(
        app,
        [
            "analyze",
            str(samples / "ecommerce_chats.jsonl"),
            "--format",
            "html",
            "--out",
            str(report),
            "--no-store",
            "--no-models",
        ],
    )
    assert outcome.exit_code == 0, outcome.stderr
    html = report.read_text(encoding="utf-8")
    assert len(re.findall(r'<section class="conv', html)) == 2 and "只计入上面的统计" in html
    table = CliRunner().invoke(app, ["analyze", str(samples / "ecommerce_chats.jsonl"), "--no-store", "--no-models"])
    count = int(re.search(r"(\d+) 个会话", table.stdout).group(1))
    assert count > 2 and f"其余 {count - 2} 个" in html
