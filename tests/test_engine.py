"""Engine behaviour beyond the per-rule cases: scorecard files, operators, scoring, robustness."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zuoxi.model import Conversation
from zuoxi.normalize import prepare
from zuoxi.pipeline import analyze_conversation
from zuoxi.rules.engine import get_scorecard
from zuoxi.rules.scorecard import ScorecardError, builtin_names, load_spec

DESIGN_IDS = (
    [f"EM-0{i}" for i in range(1, 4)]
    + [f"SA-0{i}" for i in range(1, 6)]
    + [f"CS-0{i}" for i in range(1, 9)]
    + ["ES-01", "ES-02"]
    + [f"EC-0{i}" for i in range(1, 10)]
    + [f"CP-0{i}" for i in range(1, 7)]
    + [f"OB-0{i}" for i in range(1, 9)]
)


def conv(*turns, **fields) -> Conversation:
    return Conversation.model_validate({"id": "t", "turns": [{"role": r, "text": t} for r, t in turns], **fields})


def finding(result, rule):
    (match,) = [f for f in result.findings if f.rule == rule]
    return match


def test_builtin_scorecards_implement_every_design_rule():
    assert set(builtin_names()) == {"core", "ecommerce", "complaint", "outbound"}
    ids = set()
    for name in builtin_names():
        spec, _ = load_spec(name)
        ids |= {item.id for section in spec.sections for item in section.items}
        get_scorecard(name)  # compiles
    assert set(DESIGN_IDS) <= ids


def test_included_scorecard_lists_core_items_first_and_every_rule_once():
    result = analyze_conversation(
        conv(("customer", "在吗"), ("agent", "您好，我是客服8号，很高兴为您服务")), "ecommerce"
    )
    rules = [f.rule for f in result.findings]
    assert rules[0] == "EM-01" and "EC-09" in rules and len(rules) == len(set(rules))


def test_veto_sets_score_to_zero_and_rude_without_insult_only_deducts():
    insult = analyze_conversation(conv(("customer", "怎么还没发货"), ("agent", "神经病，自己看物流")))
    rude = analyze_conversation(conv(("customer", "怎么还没发货"), ("agent", "你自己看物流吧")))
    assert insult.veto and insult.score == 0 and finding(insult, "EM-01").severity == "veto"
    assert not rude.veto and 0 < rude.score < 100 and finding(rude, "EM-01").status == "fail"


def test_a_blessing_or_a_scrolling_page_is_no_insult_and_no_anger():
    """ "财源滚滚来" closes many JD chats and "滚动截图" is how a page is captured: neither holds the insult 滚. A
    veto there zeroed a whole chat's score; a customer's scrolling page read as angry."""
    from zuoxi.analyze.emotion import lexicon_emotion

    closing = "感谢您对京东的支持，祝您：好运挡不住，财源滚滚来"
    blessed = analyze_conversation(conv(("customer", "好的谢谢"), ("agent", closing)), models=False)
    assert not blessed.veto and finding(blessed, "EM-01").status == "pass"
    told_off = analyze_conversation(conv(("customer", "好的谢谢"), ("agent", "滚")), models=False)
    assert told_off.veto  # the insult itself still is one
    assert lexicon_emotion("页面无法滚动截图").label == "neutral"
    assert lexicon_emotion("你给我滚").label == "angry"


def test_an_agent_promising_its_own_effort_is_no_over_promise():
    """SA-05 is an absolute promise of an outcome the agent does not control; "我百分之百给您申请" promises the
    agent's own effort (the readers judged it ok), "百分之百能到" an outcome."""
    effort = analyze_conversation(
        conv(("customer", "能退吗"), ("agent", "希望您不要担心，我百分之百给您申请")), models=False
    )
    outcome = analyze_conversation(conv(("customer", "明天能到吗"), ("agent", "放心，百分之百能到")), models=False)
    assert finding(effort, "SA-05").status == "pass"
    assert finding(outcome, "SA-05").status == "fail"


def test_when_a_refund_comes_back_is_no_delivery_question():
    """EC-05 is about the goods' arrival; "退款什么时候到呢" asks about money. A veto word also counts where the
    condition's `exclude` list holds the same word (it had been dropped as a false friend of itself)."""
    refund = analyze_conversation(
        conv(("customer", "退款什么时候到呢"), ("agent", "京东会在24小时内审核退款的哦")), "ecommerce", models=False
    )
    parcel = analyze_conversation(
        conv(("customer", "快递什么时候到呢"), ("agent", "明天一定能到")), "ecommerce", models=False
    )
    assert finding(refund, "EC-05").status == "n/a"
    assert finding(parcel, "EC-05").status == "fail"


def test_repeated_offences_deduct_more():
    once = analyze_conversation(conv(("customer", "好"), ("agent", "请你冷静一点")))
    thrice = analyze_conversation(
        conv(
            ("customer", "好"),
            ("agent", "请你冷静一点"),
            ("customer", "？"),
            ("agent", "你不要激动"),
            ("customer", "？"),
            ("agent", "你听我说完"),
        )
    )
    assert finding(thrice, "EM-03").points < finding(once, "EM-03").points < 0


def test_evidence_points_at_original_traditional_text():
    result = analyze_conversation(conv(("customer", "我的包裹呢"), ("agent", "這是快遞的責任，你去找快遞吧")))
    fail = finding(result, "SA-03")
    assert fail.status == "fail"
    for e in fail.evidence:
        assert result and e.text == "這是快遞的責任，你去找快遞吧"[e.start : e.end]


def test_traditional_and_simplified_twins_score_the_same():
    simplified = conv(("customer", "东西坏了，给我退款"), ("agent", "不能退"))
    traditional = conv(("customer", "東西壞了，給我退款"), ("agent", "不能退"))
    a, b = analyze_conversation(simplified), analyze_conversation(traditional)
    assert [(f.rule, f.status) for f in a.findings] == [(f.rule, f.status) for f in b.findings]
    assert a.score == b.score


def test_similar_operator_matches_paraphrase_through_synonyms(tmp_path):
    card = tmp_path / "mine.yaml"
    card.write_text(
        textwrap.dedent("""
        id: mine
        name: 自定义
        synonyms:
          拒收: [拒签]
          就行: [就好]
        sections:
          - id: s
            name: 测试
            items:
              - id: X-01
                name: suggests refusing delivery
                points: -5
                forbid:
                  similar: {role: agent, examples: [拒收就行], threshold: 0.8}
                message: 建议拒收
        """),
        encoding="utf-8",
    )
    hit = analyze_conversation(conv(("customer", "能换吗"), ("agent", "到时候您拒签就好")), str(card))
    miss = analyze_conversation(conv(("customer", "能换吗"), ("agent", "我帮您查一下是否已送出")), str(card))
    assert finding(hit, "X-01").status == "fail" and finding(miss, "X-01").status == "pass"


def test_scorecard_errors_name_the_line(tmp_path):
    card = tmp_path / "bad.yaml"
    card.write_text(
        textwrap.dedent("""
        id: bad
        name: 坏的
        sections:
          - id: s
            name: 测试
            items:
              - id: X-01
                name: no points
                forbid: {keyword: {words: [滚]}}
                message: m
              - id: X-02
                name: bad operator
                points: -1
                forbid:
                  keywrd: {words: [滚]}
                message: m
        """),
        encoding="utf-8",
    )
    with pytest.raises(ScorecardError) as raised:
        get_scorecard(str(card))
    text = str(raised.value)
    assert f"{card}:8:" in text and "points" in text


def test_unknown_operator_is_reported_with_its_line(tmp_path):
    card = tmp_path / "bad.yaml"
    card.write_text(
        "id: b\nname: b\nsections:\n  - id: s\n    name: s\n    items:\n      - id: X\n        name: x\n"
        "        points: -1\n        message: m\n        forbid:\n          keywrd: {words: [a]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScorecardError) as raised:
        get_scorecard(str(card))
    assert f"{card}:12:" in str(raised.value) and "keywrd" in str(raised.value)


def test_order_scores_partial_sequences():
    steps = [
        ("customer", "东西还没收到，都多少天了"),
        ("agent", "十分抱歉，我马上查一下物流信息"),
        ("agent", "我们现在联系快递公司，争取尽快给您送到"),
        ("agent", "实在抱歉，感谢您的理解"),
    ]
    full = analyze_conversation(conv(*steps), "ecommerce")
    bare = analyze_conversation(conv(steps[0], ("agent", "等着吧")), "ecommerce")
    assert finding(full, "EC-06").status == "pass"
    assert finding(bare, "EC-06").status == "fail" and finding(bare, "EC-06").points <= -9


turn_text = st.text(
    alphabet=st.sampled_from(list('您好我是客服不能退因为抱歉投诉?？！!，。 \n"“”拒收就行查一下123abcＡ這樣')),
    max_size=40,
)
turns = st.lists(
    st.tuples(st.sampled_from(["agent", "customer", "system"]), turn_text, st.one_of(st.none(), st.floats(0, 500))),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    turns=turns,
    channel=st.sampled_from(["chat", "call"]),
    scorecard=st.sampled_from(["core", "ecommerce", "complaint", "outbound"]),
)
def test_no_text_crashes_the_engine_and_evidence_stays_inside_turns(turns, channel, scorecard):
    if not any(t.strip() for _, t, _ in turns):
        turns = turns + [("customer", "你好", None)]
    conversation = Conversation.model_validate(
        {
            "id": "p",
            "channel": channel,
            "duration": 600,
            "turns": [{"role": r, "text": t, "start": s, "end": None if s is None else s + 1} for r, t, s in turns],
        }
    )
    result = analyze_conversation(conversation, scorecard)
    assert 0 <= result.score <= result.max_score
    texts = [t.text for t in conversation.turns]  # masking leaves this alphabet unchanged
    for f in result.findings:
        assert f.status in ("pass", "fail", "n/a")
        for e in f.evidence:
            assert 0 <= e.turn < len(texts)
            assert 0 <= e.start <= e.end <= len(texts[e.turn])
            assert e.text == texts[e.turn][e.start : e.end]


@given(st.text(max_size=60))
@settings(max_examples=200, deadline=None)
def test_normalized_text_keeps_length(text):
    conversation = Conversation.model_validate({"id": "n", "turns": [{"role": "agent", "text": text + "x"}]})
    prepared = prepare(conversation)
    assert all(len(t.norm) == len(t.text) for t in prepared.turns)


def test_normalization_keeps_length_for_characters_whose_lower_case_is_longer():
    conversation = Conversation.model_validate({"id": "n", "turns": [{"role": "agent", "text": "İstanbul ＡＢＣ這樣"}]})
    (turn,) = prepare(conversation).turns
    assert turn.norm == "İstanbul abc这样" and len(turn.norm) == len(turn.text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 12),
            st.sets(st.sampled_from(["换货", "退款", "查询", "物流", "#refund", "发票"]), min_size=1, max_size=4),
        ),
        max_size=70,
    )
)
def test_repeat_clusters_the_same_with_or_without_the_inverted_index(raw_units):
    """Short unit lists are clustered by scanning clusters, long ones through an index: same result."""
    from zuoxi.rules.operators import text as operators

    repeat = next(c.forbid for c in get_scorecard("core").items if c.item.id == "CS-01")
    units = [(operators.Hit(turn, i, i + 1), grams) for i, (turn, grams) in enumerate(sorted(raw_units, key=str))]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(operators, "SCAN_UNITS", 10**6)
        scanned = repeat._clusters(units)
        patch.setattr(operators, "SCAN_UNITS", -1)
        indexed = repeat._clusters(units)
    assert indexed == scanned
    assert sorted(i for cluster in scanned for i in cluster) == list(range(len(units)))


def test_a_scorecard_known_by_its_text_is_used_by_name_and_included_without_files():
    from zuoxi.rules import scorecard as S
    from zuoxi.rules.engine import compile_text

    dirs = list(S._search_dirs)
    text = (
        "id: mine\nname: 我的评分表\ninclude: [core]\nsections:\n  - id: extra\n    name: 附加\n    items:\n"
        "      - id: X-01\n        name: 不说亲\n        points: -5\n        forbid:\n"
        "          keyword: {role: agent, words: [亲爱的]}\n        message: 称呼不当\n"
    )
    S.register_text("mine", text)
    S.register_text("mine2", "id: mine2\nname: 二\ninclude: [mine]\nsections: []\n")
    conv = Conversation.model_validate(
        {"id": "m", "turns": [{"role": "customer", "text": "你好"}, {"role": "agent", "text": "亲爱的，您好"}]}
    )
    for name in ("mine", "mine2"):
        result = analyze_conversation(conv, scorecard=name, models=False)
        assert next(f for f in result.findings if f.rule == "X-01").status == "fail"
        assert any(f.rule == "EM-01" for f in result.findings)  # core came in through the include
    assert S._search_dirs == dirs  # no folder was added to the search path
    with pytest.raises(ScorecardError, match=r"broken\.yaml:\d+"):
        compile_text("broken", text.replace("words: [亲爱的]", "wordz: [亲爱的]"))
    with pytest.raises(ScorecardError):
        S.register_text("core", text)


@pytest.mark.parametrize("models", [False, True])
def test_a_missing_reply_shows_the_agent_turn_that_lacked_it_beside_the_trigger(models):
    """An unmet expectation points at what called for it and at the agent's faulty turn (the turn
    a reader names): the first reply for soothing; the last word on the matter, closings aside, for
    the after-sales steps. A trigger that is the agent's own turn is shown alone."""
    c = conv(
        ("customer", "你们发的货到了，屏幕是碎的，气死我了！"),
        ("agent", "您好，请提供一下订单号。"),
        ("customer", "[ORDERID_1]"),
        ("agent", "已为您登记换货，明天安排上门取件。"),
        ("customer", "好吧"),
        ("agent", "祝您生活愉快"),
    )
    core = analyze_conversation(c, models=models)
    assert [e.turn for e in finding(core, "EM-02").evidence] == [0, 1]
    if models:  # the after-sales steps read acts: the closing at turn 5 is set aside
        ecommerce = analyze_conversation(c, models=True, scorecard="ecommerce")
        assert [e.turn for e in finding(ecommerce, "EC-06").evidence] == [0, 3]
    pending = conv(("customer", "退款还没到账"), ("agent", "已经帮您反馈了，您耐心等待吧。"), ("customer", "好吧"))
    assert [e.turn for e in finding(analyze_conversation(pending, models=models), "SA-04").evidence] == [1]
