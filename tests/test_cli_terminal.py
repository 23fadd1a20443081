"""What the command line prints at 80 columns is Chinese and whole: typer's own words, role and channel names,
turn numbers from 1, the stored agent id, and tables that wrap between Chinese characters — never inside an
ASCII word or a number, never cut short with "…"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.cli.app import SafeConsole
from zuoxi.engines.local import BatchSummary
from zuoxi.report import terminal
from zuoxi.report.terminal import Prose, line_breaks

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
ENGLISH = (
    "Usage:",
    "Show this message",
    "Invalid value",
    "No such option",
    "Missing option",
    "Missing argument",
    "install-completion",
    "Possible options",
    "<str>",
    "<int",
    "<bool>",
    "list[",
    "%Y-%m-%d",
    "{paths}",
)


@pytest.fixture
def runner():
    return CliRunner(env={"COLUMNS": "80", "TERMINAL_WIDTH": "80", "NO_COLOR": "1"})


def run(runner, *args, code=0):
    result = runner.invoke(app, [str(a) for a in args], prog_name="zuoxi", terminal_width=80)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


@pytest.mark.parametrize(
    "args",
    [("--help",), ("analyze", "--help"), ("queue", "run", "--help"), ("effects", "--help"), ("user", "add", "--help")],
)
def test_help_is_chinese_and_words_stay_whole(runner, args):
    said = run(runner, *args).stdout
    assert "用法：zuoxi" in said and "显示帮助并退出" in said
    assert not [word for word in ENGLISH if word in said]
    if args == ("analyze", "--help"):
        assert "json（JSON" in said and "Lines）或" in said and "--format" in said  # never json（JS / ON Lines）
        assert "…" not in said


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("stats", "--dbb", "x"), "没有选项 --dbb（是不是：--db）"),
        (("queue", "run", "--seed", "-1"), "--seed 的值不对：不能小于 0"),
        (("queue", "run", "--date", "xx"), "--date 的值不对：'xx' 不是日期"),
        (("serve", "--demo=3"), "选项 --demo 后面不能给值"),
        (("user", "add", "wang"), "缺少选项 --role"),
        (("effects", "agent"), "缺少参数"),
        (("queue", "alerts", "log", "--limit", "abc"), "--limit 的值不对：要是整数"),
    ],
)
def test_typer_errors_are_chinese(runner, args, said):
    result = run(runner, *args, code=2)
    assert said in result.stderr and ("用法：" in result.stderr or "--demo" in args[1])
    assert not [word for word in ENGLISH if word in result.stderr]


def test_live_counts_turns_from_one(runner):
    rows = [
        json.loads(line)
        for line in run(
            runner, "live", SAMPLES / "complaint_desk.jsonl", "--no-models", "--format", "json"
        ).stdout.splitlines()
    ]
    alerted = {a["turn"] for row in rows for a in row.get("alerts", [])}
    table = run(runner, "live", SAMPLES / "complaint_desk.jsonl", "--no-models").stdout
    first = min(alerted)
    assert f"│ {first + 1} " in table.replace("  ", " ")  # the table says the turn `zuoxi show` numbers it by


def test_analyze_shows_the_stored_agent_id(runner, tmp_path):
    source = tmp_path / "wide.jsonl"
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": "你好"}]
    source.write_text(json.dumps({"id": "w-1", "agent_id": "０７", "turns": turns}, ensure_ascii=False) + "\n")
    said = run(runner, "analyze", source, "--no-store", "--no-models").stdout
    assert "│ 07 " in said and "０７" not in said


def test_stats_names_channels_and_errors_have_a_colon(runner, tmp_path):
    db = tmp_path / "s.db"
    run(runner, "import", SAMPLES / "complaint_desk.jsonl", "--db", db)
    said = run(runner, "stats", "--db", db).stdout
    assert "通话" in said and "call" not in said.split("）")[0]
    refused = run(runner, "effects", "agent", "nobody", "--db", db, code=2)
    assert refused.stderr.startswith("错误：")


def test_audio_summary_in_chinese(runner):
    said = run(runner, "audio", SAMPLES / "audio" / "cb-004.ogg").stdout
    assert "双声道" in said and "坐席：说话" in said and "最后说话的一方：坐席" in said
    assert not [word for word in ("stereo", "agent", "customer") if word in said]


def test_a_run_that_stores_nothing_says_no_import():
    console = Console(width=200, record=True)
    terminal.batch_summary(console, BatchSummary(files=1, read=3), 1.0, stored=False)
    said = console.export_text()
    assert "读取 3" in said and "导入" not in said and "库中已有" not in said


def test_line_breaks_fall_between_chinese_characters_only():
    text = "待拨打 0 · 待重拨 0 · 待回拨 233 · 已成功 3100 · 已结案 9641"
    lines = [text[a:b].strip() for a, b in zip([0, *line_breaks(text, 41)], [*line_breaks(text, 41), None])]
    assert lines == ["待拨打 0 · 待重拨 0 · 待回拨 233 · 已成功", "3100 · 已结案 9641"]
    assert all(b - a > 0 for a, b in zip([0, *line_breaks("call_20261102_093105", 8)], line_breaks("x", 8)))
    mark = "我都说三遍了，就让你帮我查一下！ ← CS-03"
    assert all(not mark[at:].startswith("CS-03") for at in line_breaks(mark, 34))  # ← and its rule stay together


def test_tables_keep_words_and_numbers_whole_at_80_columns():
    console = SafeConsole(width=80, record=True)  # the command line's: its strings wrap as Prose
    table = Table()
    table.add_column("会话", no_wrap=True, overflow="fold")  # an id, as the commands' tables give it
    for header in ("行为", "投诉率（ES-01）", "抽中原因", "说明"):
        table.add_column(header)
    table.add_row(
        Prose("call_20261102_093105"),
        Prose("CP-01 开场致歉并确认问题"),
        Prose("8.6% 对 12.5%（n 5 对 1）"),
        Prose("随机抽样：新客户，还没有拨打过"),
        Prose("语速适中、音量不宜过高，客户疑为诈骗时建立信任"),
    )
    console.print(table)
    said = console.export_text()
    assert "…" not in said
    assert "call_20261102_093105" in said and "8.6%" in said and "12.5%" in said


def test_arguments_are_named_in_chinese_in_usage_and_errors(runner):
    """The usage line and a missing argument named the parameter as the code does (`paths...`, 'ident')."""
    usage = run(runner, "analyze", "--help").stdout
    assert "用法：zuoxi analyze [选项] 文件或文件夹..." in usage and "paths" not in usage
    assert "活动名 客户编号 拨打结果" in run(runner, "campaign", "record", "--help").stdout
    missing = run(runner, "show", code=2)
    assert "缺少参数 '会话编号'" in missing.output and "ident" not in missing.output
