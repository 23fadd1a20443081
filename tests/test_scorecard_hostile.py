"""Scorecards are hostile input (a QA team's YAML, a form in the web app): what `zuoxi scorecard check`, the
analysis and the web app's save refuse — regular expressions that backtrack for ever on a long turn, scores and
points no scorecard can mean, and values that crashed the check or every analysis. Nothing here times anything:
a dangerous pattern is refused by reading it, before it ever runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.model import Conversation
from zuoxi.normalize import normalize_pattern
from zuoxi.pipeline import analyze_conversation
from zuoxi.rules.engine import compile_text, get_scorecard
from zuoxi.rules.operators.text import MAX_PATTERN_CHARS, group_depth, regex_problem
from zuoxi.rules.scorecard import BUILTIN_DIR, ScorecardError


def card(item: str = "", head: str = "", profile: str = "") -> str:
    """A scorecard of one item (its item begins on line 7, a rule written under it on line 11)."""
    item = item or "        points: -5\n"
    return (
        f"id: hostile\nname: 恶意评分表\n{head}sections:\n  - id: s\n    name: s\n    items:\n"
        f"      - id: HX-01\n        name: x\n{item}"
        "        forbid: {keyword: {role: agent, words: [不知道]}}\n        message: m\n"
        f"{profile}"
    )


def regex_card(pattern: str) -> str:
    return card(
        "        points: -5\n        expect:\n          regex: {role: agent, pattern: " + _quoted(pattern) + "}\n"
    )


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check(tmp_path: Path, text: str) -> str:
    """What `zuoxi scorecard check` says on stderr about `text` (it must refuse it, without a traceback)."""
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    outcome = CliRunner().invoke(app, ["scorecard", "check", str(path)])
    assert outcome.exit_code == 1, (outcome.stdout, outcome.stderr, outcome.exception)
    assert "Traceback" not in outcome.stderr
    return outcome.stderr.replace(str(path), "hostile.yaml")


# The brief's examples and their kin: exponential (a loop that reads one text two ways), polynomial (two loops that
# read the same run one after the other), and bounded repetitions that multiply into too many ways.
CATASTROPHIC = [
    r"(a+)+$",
    r"(\w+\s?)+$",
    r"(a|aa)+$",
    r"(.*a){12}",
    r"(a*)*b",
    r"(a?a)+$",
    r"([^。]*,)*x",
    r"(?:(?:b[^b](?:a?)*)*|b)c",  # an empty iteration is a second way out of a loop
    r"(?=(a+)+$)",
    r".*.*x",
    r"\d+\d+元",
    r".*a.*a.*a$",
    r"您.*不.*退",
    r" *个? *(小时|天)",
    r"(x{0,30}){0,30}",
    r".{0,30}.{0,30}.{0,30}x",
    r"[^。]+[^，]{0,60}b",
]
SAFE = [
    r"\d+天内?",
    r"(ab)+c",
    r"(ab+)+",
    r"(ab|a)*c",
    r"^.*退款",
    r"[^。]{0,30}(退款|退货)",
    r"(\d{1,3}\.){3}\d{1,3}",
    r"(您|你)(好|们)",
    r"[0-9一二两三]+ *(?:个 *)?(小时|天)",
    r"客服[^,，。]{0,4}号|我是[^,，。]{0,8}(客服|小二)",
    r"95\d{3}|400-?\d{3}-?\d{4}",
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_scorecard_check_refuses_a_regex_that_backtracks_for_ever(tmp_path, pattern):
    said = check(tmp_path, regex_card(pattern))
    assert said.startswith("hostile.yaml:11: HX-01: sections.0.items.0.expect.regex.pattern: 正则表达式 "), said
    assert repr(pattern) in said and "回溯失控" in said, said


@pytest.mark.parametrize("pattern", SAFE)
def test_ordinary_patterns_are_still_accepted(pattern):
    assert regex_problem(normalize_pattern(pattern)) is None
    compile_text("hostile", regex_card(pattern))


def test_every_built_in_pattern_is_accepted_and_the_one_that_was_not_now_reads_the_same():
    patterns: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("regex"), dict):
                patterns.append(node["regex"]["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in BUILTIN_DIR.glob("*.yaml"):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert len(patterns) >= 15
    assert [p for p in patterns if regex_problem(normalize_pattern(p))] == []
    # " *个? *" let a run of spaces split two ways at every digit (seconds on one live-assist turn of 2,000
    # characters); " *(?:个 *)?" is the same language read one way
    old, new = (re.compile(p) for p in (r"[0-9]+ *个? *(小时|天)", r"[0-9]+ *(?:个 *)?(小时|天)"))
    for text in ["3天", "3 天", "3个天", "3 个 小时", "3  个  小时", "3个 个天", "3 个", "两 个小时", "12 小时内"]:
        assert [m.span() for m in old.finditer(text)] == [m.span() for m in new.finditer(text)], text


def test_a_long_run_of_matching_characters_is_analyzed_with_every_built_in_scorecard():
    """The attack the refusal is about, against what is accepted: a turn of the longest kind the ingest takes."""
    turns = [
        {"role": "agent", "text": "您好，请问有什么可以帮您？"},
        {"role": "customer", "text": "啊" * 5_000 + "！" * 5_000},
        {"role": "agent", "text": "保证" + "1" * 3_000 + " " * 3_000 + "个" + "天" * 3_000},  # live turns keep spaces
    ]
    for name in ("core", "ecommerce", "complaint", "outbound"):
        conversation = Conversation.model_validate({"id": f"run-{name}", "channel": "chat", "turns": turns})
        assert analyze_conversation(conversation, name, models=False).findings


def test_the_web_apps_check_refuses_the_same_patterns():
    with pytest.raises(ScorecardError) as raised:
        compile_text("hostile", regex_card(r"(a|aa)+$"))
    assert raised.value.problems[0].startswith("hostile.yaml:11: HX-01: ")
    assert "'(a|aa)+$'" in raised.value.problems[0]


@pytest.mark.parametrize(
    ("pattern", "said"),
    [
        (r"(a)\1", "不支持反向引用"),
        (r"(?P<x>a)(?P=x)", "不支持反向引用"),
        ("a" * (MAX_PATTERN_CHARS + 1), f"超过 {MAX_PATTERN_CHARS} 个字符"),
        ("(" * 400 + "a" + ")" * 400, "括号嵌套超过 20 层"),  # a RecursionError out of `re`, or not, by the stack
        ("(a{1,100}){1,100}$", "过于复杂"),
    ],
)
def test_patterns_that_cannot_be_checked_are_refused(tmp_path, pattern, said):
    message = check(tmp_path, regex_card(pattern))
    assert message.startswith("hostile.yaml:11: HX-01: "), message
    assert said in message, message


def test_group_depth_counts_groups_not_escaped_or_classed_brackets():
    depths = {"a": 0, "(a)": 1, r"\(\(": 0, "[(]((a))": 2, r"[\]]((b))": 2, "(?:(a|b)(c))": 2}
    assert {p: group_depth(p) for p in depths} == depths


def test_a_regex_pattern_that_is_not_text_is_an_error_not_a_traceback(tmp_path):
    text = card("        points: -5\n        expect:\n          regex: {role: agent, pattern: [1, 2]}\n")
    assert "hostile.yaml:11: HX-01: sections.0.items.0.expect.regex.pattern: regex 需要 `pattern`" in check(
        tmp_path, text
    )


@pytest.mark.parametrize(
    ("head", "item", "said"),
    [
        ("max_score: 0\n", "", "hostile.yaml:1: max_score：不能小于 1"),
        ("max_score: -100\n", "", "hostile.yaml:1: max_score：不能小于 1"),
        ("max_score: 1e12\n", "", "hostile.yaml:1: max_score：不能大于 1000"),
        ("", "        points: -1e12\n", "hostile.yaml:7: sections.0.items.0.points：不能小于 -1000"),
        ("", "        points: 5000\n", "hostile.yaml:7: sections.0.items.0.points：不能大于 1000"),
        (
            "max_score: 10\n",
            "        points: -20\n",
            "hostile.yaml:8: sections.0.items.0.points：HX-01 的 points 为 -20，一条最多扣或加满分 max_score（10）分",
        ),
        (
            "",
            "        points: -5\n        repeat_points: -500\n",
            "hostile.yaml:7: sections.0.items.0.repeat_points：HX-01 的 repeat_points 为 -500",
        ),
        (
            "",
            "        points: -5\n        max_repeats: -3\n",
            "hostile.yaml:7: sections.0.items.0.max_repeats：不能小于 0",
        ),
        ("", "        points: -5\n        max_repeats: 1000000\n", "sections.0.items.0.max_repeats：不能大于 100"),
        ("", "        points: -5\n        min_degree: 1.5\n", "sections.0.items.0.min_degree：不能大于 1"),
    ],
)
def test_scores_and_points_no_scorecard_can_mean_are_refused(tmp_path, head, item, said):
    assert said in check(tmp_path, card(item, head=head))


def test_a_profile_entry_saturating_at_zero_is_refused_not_a_division_by_zero_in_every_analysis(tmp_path):
    profile = (
        "profile:\n  - id: p\n    name: p\n    condition: {keyword: {role: agent, words: [您好]}}\n    saturate: 0\n"
    )
    assert "hostile.yaml:13: profile.0.saturate：不能小于 1" in check(tmp_path, card(profile=profile))


def test_points_up_to_the_whole_score_are_still_accepted(tmp_path):
    path = tmp_path / "fine.yaml"
    path.write_text(
        card("        points: -10\n        repeat_points: -10\n        max_repeats: 0\n", head="max_score: 10\n"),
        encoding="utf-8",
    )
    assert get_scorecard(str(path)).spec.max_score == 10
