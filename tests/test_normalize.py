"""Normalization: one matching form (繁→简, width, case) of exactly the original's length; splitting."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zuoxi import normalize
from zuoxi.model import Conversation
from zuoxi.normalize import (
    _CLAUSE_END,
    clean_whitespace,
    normalize_pattern,
    normalize_text,
    normalize_texts,
    prepare,
    split_spans,
)


@pytest.mark.parametrize(
    "original, matching",
    [
        (
            "這個軟體很好用，請問您還有其他問題嗎？",
            "这个软件很好用,请问您还有其他问题吗?",
        ),  # Taiwan wording: 軟體 is 软件
        ("我的軟體無法安裝，網路一直斷線", "我的软件无法安装,网络一直断线"),
        ("这个小程序打不开", "这个小程序打不开"),  # Simplified: no Taiwan wording (程序 would become 进程)
        ("乾燥的頭髮", "干燥的头发"),
        ("我們的產品品質有問題，後天會到", "我们的产品品质有问题,后天会到"),
        ("妳好，著急嗎？裏面", "你好,着急吗?里面"),  # variants OpenCC keeps, folded for rules
        ("訂單已發貨，您好ok", "订单已发货,您好ok"),  # mixed Traditional, Simplified and ASCII
        ("已经为您退款", "已经为您退款"),  # Simplified stays as it is
    ],
)
def test_traditional_to_simplified_keeps_the_length(original, matching):
    assert normalize_text(original) == matching
    assert len(normalize_text(original)) == len(original)


def test_a_hit_in_the_matching_form_is_evidence_in_the_original():
    original = "客戶說：你們的質量太差了，我要投訴！"
    norm = normalize_text(original)
    start = norm.index("投诉")
    assert original[start : start + 2] == "投訴"
    start = norm.index("质量太差")
    assert original[start : start + 4] == "質量太差"


def test_phrase_conversions_that_change_length_fall_back_to_characters(monkeypatch):
    real = normalize._T2S

    class Lengthening:  # stands in for an OpenCC phrase rule that maps 2 characters to 3
        def convert(self, text: str) -> str:
            return real.convert(text).replace("头发", "头头发") if len(text) > 1 else real.convert(text)

    monkeypatch.setattr(normalize, "_T2S", Lengthening())
    monkeypatch.setattr(normalize, "_TW2SP", Lengthening())  # the Taiwan-wording conversion lengthens it too
    assert normalize_text("乾燥的頭髮") == "干燥的头发"


def test_a_traditional_turn_reads_its_taiwan_wording_in_the_rules_and_the_models():
    """軟體/網路/滑鼠 are 软件/网络/鼠标: the matching form and the models' text say the Simplified words, so a
    Taiwan-worded turn is read as its mainland twin; a Simplified turn is left as it is, even beside Traditional ones."""
    from zuoxi.analyze.models import text as T

    taiwan, mainland = "我的軟體無法安裝，網路一直斷線，滑鼠也壞了", "我的软件无法安装,网络一直断线,鼠标也坏了"
    assert normalize_text(taiwan) == mainland and len(normalize_text(taiwan)) == len(taiwan)
    assert T.normalize_all([taiwan, "小程序打不开"]) == T.normalize_all([mainland, "小程序打不开"])
    assert T.normalize_all([taiwan, "小程序打不开"])[1] == T.normalize("小程序打不开")
    assert normalize_texts([taiwan, "小程序打不开"]) == [normalize.normalize_turn(t) for t in (taiwan, "小程序打不开")]
    assert "程序" in normalize_texts([taiwan, "小程序打不开"])[1]


CHARS = "這個軟體頭髮乾燥訂單發貨謝謝您好你們我们质量ＡＢＣａｂｃ１２３！？，：ABCxyz 　\t,.!?…~～"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=CHARS, max_size=40))
def test_matching_form_always_has_the_original_length(text):
    norm = normalize_text(text)
    assert len(norm) == len(text)
    assert normalize_text(norm) == norm  # already normal


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=CHARS + "\ue000\n", max_size=20), max_size=8))
def test_a_conversation_normalized_at_once_equals_text_by_text(texts):
    assert normalize_texts(texts) == [normalize_text(t) for t in texts]


def test_conversation_normalization_falls_back_where_a_phrase_changes_length(monkeypatch):
    real = normalize._T2S

    class Lengthening:
        def convert(self, text: str) -> str:
            return real.convert(text).replace("头发", "头头发") if len(text) > 1 else real.convert(text)

    monkeypatch.setattr(normalize, "_T2S", Lengthening())
    assert normalize_texts(["您好", "乾燥的頭髮", "謝謝"]) == ["您好", "干燥的头发", "谢谢"]


def test_width_folding_and_lower_case():
    assert normalize_text("ＡＢＣ１２３！　你好Ｈｅｌｌｏ") == "abc123! 你好hello"
    assert normalize_text("请问（ＶＩＰ）会员：ＯＫ？") == "请问(vip)会员:ok?"
    assert normalize_text("HELLO World 您好") == "hello world 您好"
    assert normalize_text("İ ǅ") == "İ ǅ"  # non-ASCII letters are not lower-cased (str.lower would change length)
    assert normalize_text("。、「」") == "。、「」"  # CJK punctuation outside the full-width ASCII block stays


def test_patterns_are_normalized_without_lower_casing():
    assert normalize_pattern(r"\S+說ＡＢ\d") == r"\S+说AB\d"
    assert re.search(normalize_pattern("投訴|差評"), normalize_text("我要給差評")) is not None


def test_whitespace_cleanup():
    assert clean_whitespace("  您好　　请问 \t 有什么\r\n\r\n  可以帮您  ") == "您好 请问 有什么\n可以帮您"
    assert clean_whitespace("a\xa0\xa0b") == "a b"
    assert clean_whitespace(" \n \t ") == ""
    assert clean_whitespace("第一行\n第二行") == "第一行\n第二行"


def test_sentence_and_clause_spans():
    text = normalize_text("您好！請問，您的訂單……已經發貨了嗎？好的；謝謝~再見")
    sentences = split_spans(text)
    assert [text[a:b] for a, b in sentences] == ["您好!", "请问,您的订单……", "已经发货了吗?", "好的;", "谢谢~再见"]
    assert sentences[0] == (0, 3) and sentences[-1][1] == len(text)
    clauses = split_spans(text, _CLAUSE_END)
    assert [text[a:b] for a, b in clauses] == [
        "您好!",
        "请问,",
        "您的订单……",
        "已经发货了吗?",
        "好的;",
        "谢谢~",
        "再见",
    ]
    assert split_spans("  。。好的。") == [(4, 7)]  # punctuation-only pieces are not sentences
    assert split_spans("第一行\n第二行") == [(0, 4), (4, 7)]
    assert split_spans("") == [] and split_spans("好") == [(0, 1)]


def test_prepare_keeps_the_original_and_the_matching_form_side_by_side():
    conversation = Conversation.model_validate(
        {
            "id": "p",
            "turns": [
                {"role": "customer", "text": "東西還沒收到！我很著急", "start": 0.0, "end": 2.0},
                {"role": "agent", "text": "非常抱歉，我馬上幫您查。", "start": 3.0, "end": 5.0},
            ],
        }
    )
    prepared = prepare(conversation)
    customer, agent = prepared.turns
    assert (customer.index, customer.role, customer.text) == (0, "customer", "東西還沒收到！我很著急")
    assert customer.norm == "东西还没收到!我很着急"
    assert customer.sentences == [(0, 7), (7, 11)]
    assert [agent.text[a:b] for a, b in agent.clauses] == ["非常抱歉，", "我馬上幫您查。"]
    assert prepared.has_times and [t.index for t in prepared.role_turns("agent")] == [1]
    assert len(prepared.role_turns(None)) == 2
    untimed = prepare(Conversation.model_validate({"id": "u", "turns": [{"role": "agent", "text": "您好"}]}))
    assert not untimed.has_times
