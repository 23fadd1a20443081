"""Scorecards are hostile input (a QA team's YAML, a form in the web app): what `zuoxi scorecard check`, the
analysis and the web app's save refuse — regular expressions RE2 cannot run as meant, scores and
points no scorecard can mean, and values that crashed the check or every analysis. Nothing here times anything:
patterns run in RE2, in time linear in the text (tests/test_scorecard_regex.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.model import Conversation
from zuoxi.pipeline import analyze_conversation
from zuoxi.rules.engine import compile_text, get_scorecard
from zuoxi.rules.scorecard import ScorecardError


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


def test_a_long_run_of_matching_characters_is_analyzed_with_every_built_in_scorecard():
    """The attack a backtracking engine falls to, against the built-in patterns: a turn of the longest kind the
    ingest takes, full of the characters they repeat (live turns keep their spaces)."""
    turns = [
        {"role": "agent", "text": "您好，请问有什么可以帮您？"},
        {"role": "customer", "text": "啊" * 5_000 + "！" * 5_000},
        {"role": "agent", "text": "保证" + "1" * 3_000 + " " * 3_000 + "个" + "天" * 3_000},
    ]
    for name in ("core", "ecommerce", "complaint", "outbound"):
        conversation = Conversation.model_validate({"id": f"run-{name}", "channel": "chat", "turns": turns})
        assert analyze_conversation(conversation, name, models=False).findings


def test_the_web_apps_check_refuses_what_scorecard_check_refuses(tmp_path):
    with pytest.raises(ScorecardError) as raised:
        compile_text("hostile", regex_card(r"(?<!不)退款"))
    assert raised.value.problems[0].startswith("hostile.yaml:11: HX-01: ")
    assert "不支持环视" in raised.value.problems[0]
    assert "不支持环视" in check(tmp_path, regex_card(r"(?<!不)退款"))


def test_a_regex_pattern_that_is_not_text_is_an_error_not_a_traceback(tmp_path):
    text = card("        points: -5\n        expect:\n          regex: {role: agent, pattern: [1, 2]}\n")
    assert "hostile.yaml:11: HX-01: sections.0.items.0.expect.regex.pattern: regex 需要 `pattern`" in check(
        tmp_path, text
    )


@pytest.mark.parametrize(
    ("head", "item", "said"),
    [
        # the line of the field that is wrong, not of its item; the choices in Chinese, not pydantic's "or"
        (
            "",
            "        points: -5\n        severity: minr\n",
            "hostile.yaml:10: sections.0.items.0.severity：只能是 'minor'、'major' 或 'veto'",
        ),
        ("max_score: 0\n", "", "hostile.yaml:3: max_score：不能小于 1"),
        ("max_score: -100\n", "", "hostile.yaml:3: max_score：不能小于 1"),
        ("max_score: 1e12\n", "", "hostile.yaml:3: max_score：不能大于 1000"),
        ("", "        points: -1e12\n", "hostile.yaml:9: sections.0.items.0.points：不能小于 -1000"),
        ("", "        points: 5000\n", "hostile.yaml:9: sections.0.items.0.points：不能大于 1000"),
        (
            "max_score: 10\n",
            "        points: -20\n",
            "hostile.yaml:10: sections.0.items.0.points：HX-01 的 points 为 -20，一条最多扣或加满分 max_score（10）分",
        ),
        (
            "",
            "        points: -5\n        repeat_points: -500\n",
            "hostile.yaml:10: sections.0.items.0.repeat_points：HX-01 的 repeat_points 为 -500",
        ),
        (
            "",
            "        points: -5\n        max_repeats: -3\n",
            "hostile.yaml:10: sections.0.items.0.max_repeats：不能小于 0",
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
    assert "hostile.yaml:16: profile.0.saturate：不能小于 1" in check(tmp_path, card(profile=profile))


def test_points_up_to_the_whole_score_are_still_accepted(tmp_path):
    path = tmp_path / "fine.yaml"
    path.write_text(
        card("        points: -10\n        repeat_points: -10\n        max_repeats: 0\n", head="max_score: 10\n"),
        encoding="utf-8",
    )
    assert get_scorecard(str(path)).spec.max_score == 10


def test_an_include_that_is_not_there_is_reported_at_its_line(tmp_path):
    block = check(tmp_path, card(head="include:\n  - core\n  - nonexistent\n  - missing.yaml\n"))
    assert "hostile.yaml:5: 没有评分表 'nonexistent'：" in block
    assert "hostile.yaml:6: 没有评分表文件 missing.yaml" in block
    flow = check(tmp_path, card(head="include: [core, nonexistent]\n"))
    assert flow.startswith("hostile.yaml:3: 没有评分表 'nonexistent'：")


def test_an_include_cycle_is_reported_at_the_include_that_closes_it(tmp_path):
    (tmp_path / "other.yaml").write_text("id: o\nname: o\ninclude: [hostile.yaml]\nsections: []\n", encoding="utf-8")
    said = check(tmp_path, card(head="include: [other.yaml]\n"))
    assert said.startswith(f"{tmp_path / 'other.yaml'}:3: hostile.yaml：include 形成循环")


FORBID = "        forbid: {keyword: {role: agent, words: [不知道]}}\n        message: m\n"
SECOND = "      - id: HX-01\n        name: y\n        points: -5\n"  # the item again (its rule and message: card's)


def test_a_repeated_item_id_is_reported_at_its_second_line(tmp_path):
    said = check(tmp_path, card(item="        points: -5\n" + FORBID + SECOND))
    assert said.strip() == "hostile.yaml:12: 条目 id 重复：HX-01（第一次出现在 hostile.yaml:7）"
    core = check(tmp_path, card(head="include: [core]\n").replace("HX-01", "EM-01"))
    assert core.startswith("hostile.yaml:8: 条目 id 重复：EM-01（第一次出现在 ") and "core.yaml:" in core


def test_every_independent_problem_of_a_file_is_reported_in_one_run(tmp_path):
    """Wrong includes, repeated ids and fields that do not validate together; repeated ids, points out of bounds
    and a pattern RE2 cannot run together (a file of six mistakes took five runs to clean)."""
    head = "include:\n  - core\n  - nonexistent\n  - missing.yaml\n"
    lines = check(
        tmp_path, card(item="        points: -5\n        severity: fatal\n" + FORBID + SECOND, head=head)
    ).split("\n")
    assert "hostile.yaml:14: sections.0.items.0.severity：只能是 'minor'、'major' 或 'veto'" in lines
    assert any(line.startswith("hostile.yaml:5: 没有评分表 'nonexistent'：") for line in lines), lines
    assert "hostile.yaml:6: 没有评分表文件 missing.yaml" in lines
    assert "hostile.yaml:17: 条目 id 重复：HX-01（第一次出现在 hostile.yaml:11）" in lines

    regex = "        expect:\n          regex: {role: agent, pattern: '(?<!不)退款'}\n        message: m\n"
    lines = check(tmp_path, card(item="        points: -500\n" + regex + SECOND)).strip().split("\n")
    assert len(lines) == 3, lines
    assert lines[0].startswith("hostile.yaml:9: sections.0.items.0.points：") and "max_score" in lines[0]
    assert lines[1] == "hostile.yaml:13: 条目 id 重复：HX-01（第一次出现在 hostile.yaml:7）"
    assert lines[2].startswith("hostile.yaml:11: HX-01: ") and "不支持环视" in lines[2]


def test_personal_data_in_a_scorecard_is_masked_and_the_yaml_still_reads_as_written():
    """`masked_text`, what the web app's save and `zuoxi db remask` store: each value (plain, quoted, escaped, a block,
    a key, in a flow list, under an anchor, over two lines) and each comment masked, what masking leaves alone as written, and the
    text still the same YAML with the values masked. A masked value is quoted: a plain *******5678 is an alias."""
    import yaml

    from zuoxi.privacy import mask_value
    from zuoxi.rules.scorecard import BUILTIN_DIR, builtin_names, masked_text

    for name in builtin_names():  # nothing personal in the built-ins: not a byte changes
        text = (BUILTIN_DIR / f"{name}.yaml").read_text(encoding="utf-8")
        assert masked_text(text) == text, name
    phone = "13812345678"
    text = (
        f"id: hostile  # 作者 {phone}\nname: 恶意\n"
        f"synonyms: {{{phone}: [我的号码], 回拨: ['{phone}', \"\\u0031\\u00338\\u00312345678\"]}}\n"
        "sections:\n  - id: s\n    name: s\n    items:\n      - id: HX-01\n        name: x\n        points: -5\n"
        "        forbid: {keyword: {role: agent, words: [不知道]}}\n"
        f"        message: &said 回拨 {phone}\n"
        f"        suggestion: |\n          第一行\n          拨 {phone}\n"
        "      - id: HX-02\n        name: y\n        points: -5\n"
        "        forbid: {keyword: {role: agent, words: [再说]}}\n        message: m2\n"
        f"        suggestion: 多行的\n          {phone} 建议\n"
    )
    masked = masked_text(text)
    assert phone not in masked and "5678" in masked and masked_text(masked) == masked
    assert masked.startswith("id: hostile  # 作者 *******5678\nname: 恶意\n")
    assert 'message: &said "回拨 *******5678"' in masked
    assert "suggestion: |\n          第一行\n          拨 *******5678\n" in masked
    assert yaml.safe_load(masked) == mask_value(yaml.safe_load(text))
    spec = compile_text("hostile", masked).spec
    assert [i.message for i in spec.sections[0].items] == ["回拨 *******5678", "m2"]
    aliased = masked_text(f"a: &x 拨 {phone}\nb: *x\n")  # YAML's aliases (which scorecards refuse) still read
    assert aliased == 'a: &x "拨 *******5678"\nb: *x\n' and yaml.safe_load(aliased)["b"] == "拨 *******5678"
    assert spec.sections[0].items[1].suggestion == "多行的 *******5678 建议"
    assert masked_text(f'id: "{phone}') == 'id: "*******5678'  # no YAML: masked where it stands


def test_the_rules_problems_are_reported_with_the_fields_that_do_not_validate(tmp_path, monkeypatch):
    """A missing `message` (the file does not validate) hid a wrong operator, a pattern RE2 cannot run and an unknown
    act until a second run; the file was named as given in the rules' problems and by its absolute path in the
    others."""
    monkeypatch.chdir(tmp_path)
    Path("mine.yaml").write_text(
        "id: mine\nname: 我的\nlexicons:\n  my_words: [退款]\nsections:\n  - id: s\n    name: s\n    items:\n"
        "      - id: M-01\n        name: x\n        points: -5\n"  # line 9: no message
        "        when: {bogus_op: 1}\n"  # line 12
        "        expect:\n          regex: {role: agent, pattern: '(?<!不)退款'}\n"  # line 14
        "      - id: M-02\n        name: y\n        points: -5\n        message: m\n"
        "        forbid: {act: {role: agent, acts: [no_such_act], cues: ['@my_words']}}\n",  # line 19
        encoding="utf-8",
    )
    outcome = CliRunner().invoke(app, ["scorecard", "check", "mine.yaml"])
    assert outcome.exit_code == 1 and "Traceback" not in outcome.stderr
    lines = outcome.stderr.strip().split("\n")
    assert lines[0] == "mine.yaml:9: sections.0.items.0.message：必须填写", lines
    assert (
        lines[1].startswith("mine.yaml:12: M-01: sections.0.items.0.when: 条件须恰好含以下之一")
        and "bogus_op" in lines[1]
    )
    assert (
        lines[2].startswith("mine.yaml:14: M-01: sections.0.items.0.expect.regex.pattern: ")
        and "不支持环视" in lines[2]
    )
    assert lines[3].startswith("mine.yaml:19: M-02: sections.0.items.1.forbid.act.acts: 没有对话行为 'no_such_act'")
    assert len(lines) == 4 and str(tmp_path) not in outcome.stderr  # the file's own lexicon is known: no problem
