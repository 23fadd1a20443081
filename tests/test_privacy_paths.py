"""File names are masked where the tool prints them (walk_cli 2026-12-07): exports, call lists and recordings are often
named by a customer's number, and the database already stored them masked while the terminal showed them in clear."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.ingest import IngestError


def test_an_errors_file_name_is_masked_where_it_is_said_and_kept_for_the_code():
    error = IngestError("in/13912345678_名单.jsonl", 4, "id：应为文字")
    assert str(error) == "in/*******5678_名单.jsonl:4: id：应为文字"
    assert error.path == "in/13912345678_名单.jsonl"  # the readers and engines compare the path as read


def test_the_import_and_a_recordings_errors_name_files_masked(tmp_path):
    bad = tmp_path / "客户13912345678.jsonl"
    bad.write_text('{"id": 5, "turns": []}\n', encoding="utf-8")
    good = tmp_path / "calls.jsonl"
    record = {
        "id": "c-1",
        "audio": "rec/13412345678_20261102.wav",
        "turns": [{"role": "customer", "text": "快递没到"}, {"role": "agent", "text": "马上查"}],
    }
    good.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    outcome = CliRunner().invoke(app, ["analyze", str(bad), str(good), "--no-models", "--no-store", "--format", "json"])
    said = outcome.stderr + outcome.stdout
    assert "客户*******5678.jsonl:1:" in said and "13912345678" not in said
    assert "*******5678_20261102.wav" in said and "13412345678" not in said


def test_a_bidi_override_in_a_value_never_turns_a_report_or_page_around():
    """`agent_id: abc\\u202egpj.exe` made the HTML report's heading read 坐席 abcexe.jpg and its own words after it
    backwards (probe 2026-12-07): reports and pages print values without bidi controls."""
    from zuoxi.model import Conversation
    from zuoxi.pipeline import analyze_conversation
    from zuoxi.report import render_html

    conversation = Conversation.model_validate(
        {
            "id": "id\u202eevil",
            "agent_id": "abc\u202egpj.exe",
            "team": "组\u2067二\u2069",
            "turns": [{"role": "customer", "text": "快递\u202e没到"}, {"role": "agent", "text": "马上查"}],
        }
    )
    html = render_html([(conversation, analyze_conversation(conversation, "core", models=False))])
    assert not any(char in html for char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert "abcgpj.exe" in html and "idevil" in html and "快递" in html
