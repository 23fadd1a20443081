"""A scorecard's `regex` is hostile input (a QA team's file, a form in the web app): it is matched by RE2, in time
linear in the text, so no pattern can stall analysis; what RE2 cannot match the way the author meant is refused
when the scorecard is compiled, naming the file, the line and the reason."""

import json
import subprocess
import sys
import textwrap

import pytest

from zuoxi.model import Conversation
from zuoxi.pipeline import analyze_conversation
from zuoxi.rules.engine import get_scorecard
from zuoxi.rules.operators.text import MAX_PATTERN_CHARS
from zuoxi.rules.scorecard import ScorecardError

CATASTROPHIC = ["(a+)+$", "(a|aa)+$", "(.*a){12}$", r"(\d+\d+)+x", "(a*)*b"]


def card_with(tmp_path, pattern: str):
    path = tmp_path / "card.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        id: card
        name: 测试
        sections:
          - id: s
            name: 测试
            items:
              - id: X-01
                name: 禁用的说法
                points: -1
                forbid:
                  regex: {{role: agent, pattern: {json.dumps(pattern)}}}
                message: m
        """),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_a_pattern_that_backtracks_for_ever_in_re_is_analysed_at_once(tmp_path, pattern):
    """Python's `re` never finishes these over 20,000 characters (2^20000 ways to split the run); the analysis runs
    in a process of its own so that a regression fails this test instead of hanging the suite."""
    card = card_with(tmp_path, pattern)
    conversation = tmp_path / "c.json"
    turns = [{"role": "customer", "text": "在吗"}, {"role": "agent", "text": "a" * 20_000 + "!"}]
    conversation.write_text(json.dumps({"id": "c1", "channel": "chat", "turns": turns}), encoding="utf-8")
    script = (
        "import json, sys\n"
        "from zuoxi.pipeline import analyze_conversation\n"
        "from zuoxi.model import Conversation\n"
        "c = Conversation(**json.load(open(sys.argv[1], encoding='utf-8')))\n"
        "r = analyze_conversation(c, sys.argv[2])\n"
        "print([f.status for f in r.findings if f.rule == 'X-01'][0])\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, str(conversation), str(card)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"analysis with {pattern!r} did not finish")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in {"pass", "fail"}


def test_a_match_is_shown_as_the_characters_it_covers(tmp_path):
    """RE2 reports where a match is in characters of the turn, as `re` did: the evidence shows the words."""
    card = card_with(tmp_path, "(到货|到了)[^，。]{0,4}拒签")
    said = Conversation(
        id="t",
        channel="chat",
        turns=[{"role": "customer", "text": "能换吗"}, {"role": "agent", "text": "亲亲，等到货以后直接拒签就好"}],
    )
    (found,) = [f for f in analyze_conversation(said, str(card)).findings if f.rule == "X-01"]
    assert found.status == "fail"
    assert [(e.turn, e.text) for e in found.evidence] == [(1, "到货以后直接拒签")]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(?<=不)行", "不支持环视"),
        (r"(退|换)货\1", "不支持环视和反向引用"),
        (r"\w+退款", r"不支持 \w"),
        (r"\b退款", r"不支持 \b"),
        ("[退款", "missing ]"),
        ("退" * (MAX_PATTERN_CHARS + 1), "正则表达式太长"),
    ],
)
def test_what_re2_cannot_match_as_meant_is_refused_with_the_line(tmp_path, pattern, reason):
    card = card_with(tmp_path, pattern)
    with pytest.raises(ScorecardError) as raised:
        get_scorecard(str(card))
    text = str(raised.value)
    assert f"{card}:11:" in text and "X-01" in text and reason in text


def test_an_escaped_backslash_before_w_is_a_literal_not_the_class(tmp_path):
    get_scorecard(str(card_with(tmp_path, r"a\\w")))  # the two characters "\" and "w": nothing refused
