"""Dialogue acts and the rules that stand on them: placeholders in normalization, the act operator's
fusion of model and cue words, the operator registry, reworded proposals (CS-01), the turn models on
tricky wording, and the real-data regression against readers' verdicts (docs/accuracy.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import numpy as np
import pytest

from zuoxi.analyze.models import load_models
from zuoxi.analyze.models.acts import AGENT_ACTS, CUSTOMER_OUTPUTS, ActModel, TurnActs
from zuoxi.model import Conversation
from zuoxi.normalize import PAD, normalize_turn, prepare
from zuoxi.pipeline import analyze_conversation
from zuoxi.rules.engine import CompiledScorecard
from zuoxi.rules.operators import OPERATORS, Hit, operator
from zuoxi.rules.operators.base import CLAUSE_LOOKBACK, Condition
from zuoxi.rules.scorecard import parse_scorecard_text

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def conv(*turns: tuple[str, str], **fields) -> Conversation:
    return Conversation.model_validate(
        {"id": fields.pop("id", "t"), "turns": [{"role": r, "text": t} for r, t in turns], **fields}
    )


def finding(result, rule: str):
    return next(f for f in result.findings if f.rule == rule)


# --- normalization ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("订单编号[ORDERID_10124449]", "订单编号", "orderid"),
        ("储蓄卡[数字x]-[数字x]个工作日", "个工作日", "数字"),
        ("好的#E-s[数字x]#E-s[数字x]", "好的", "数字"),
        ("@中国电信客服 今天一天了", "今天一天了", "电信"),
        ("敬请等待[呵呵]", "敬请等待", "呵呵"),
        ("[价保金额(单件)]*[价保商品数量]=[金额x]", "*", "金额"),
    ],
)
def test_placeholders_become_one_symbol_each_and_keep_the_length(text, kept, gone):
    norm = normalize_turn(text)
    assert len(norm) == len(text)
    assert kept in norm and gone not in norm and "[" not in norm and PAD in norm


def test_an_email_address_is_not_a_mention():
    assert normalize_turn("邮箱a@b.com 联系") == "邮箱a@b.com 联系"


@pytest.mark.parametrize("models", [True, False])
def test_order_cards_and_emoji_codes_are_neither_requests_nor_suggestions(models):
    c = conv(
        ("customer", "[ORDERID_10124449]"),
        ("agent", "#E-s[数字x]"),
        ("customer", "[ORDERID_10124449]"),
        ("agent", "#E-s[数字x]"),
        ("customer", "[ORDERID_10124449]"),
        ("agent", "#E-s[数字x]"),
    )
    result = analyze_conversation(c, models=models)
    assert finding(result, "CS-03").status != "fail"
    assert finding(result, "CS-01").status != "fail"


def test_a_long_message_counts_a_placeholder_as_a_few_characters():
    card = _card("""
            forbid:
              length: {role: agent, min: 151}
        """)
    short = "好" * 100 + "[数字x]" * 10  # 100 characters and ten placeholders: 130 as read, 150 as stored
    long_ = "好" * 150 + "[数字x]"
    assert len(short) == 150
    assert _status(card, conv(("customer", "在吗"), ("agent", short))) == "pass"
    assert _status(card, conv(("customer", "在吗"), ("agent", long_))) == "fail"


# --- the act operator --------------------------------------------------------------------------


def _spec(text: str):
    spec, raw = parse_scorecard_text(textwrap.dedent(text), "test.yaml")
    return spec, [("test.yaml", raw, i) for i in range(len(spec.sections))]


def _card(conditions: str) -> CompiledScorecard:
    """A scorecard of one item, T-1 (-5 points), judged by `conditions` (its when/expect/forbid)."""
    item = (
        "id: t\nname: t\nsections:\n  - id: s\n    name: s\n    items:\n      - id: T-1\n        name: t\n"
        "        points: -5\n        message: m\n"
    )
    return CompiledScorecard(*_spec(item + textwrap.indent(textwrap.dedent(conditions).strip("\n"), " " * 8) + "\n"))


def _status(card: CompiledScorecard, c: Conversation, acts=None, rule: str = "T-1") -> str:
    result = card.evaluate(card.context(prepare(c), acts=acts))
    return finding(result, rule).status


def _fake_acts(roles: list[str], probs: dict[tuple[int, str], float], untrained: tuple[str, ...] = ()) -> TurnActs:
    names = AGENT_ACTS + CUSTOMER_OUTPUTS
    thresholds = np.full(len(names), 0.6)
    for name in untrained:
        thresholds[names.index(name)] = 0.99
    model = SimpleNamespace(
        names=names, index={n: k for k, n in enumerate(names)}, thresholds=thresholds, trained=thresholds < 0.99
    )
    p = np.zeros((len(roles), len(names)))
    for (turn, name), value in probs.items():
        p[turn, names.index(name)] = value
    return TurnActs(roles, p, cast(ActModel, model), np.zeros((len(roles), 1)), None)  # the fields the rules read


REFUSAL = """
    when:
      act: {role: agent, acts: [refuse], cues: [不能, 无法]}
    expect:
      act: {role: agent, anchor: same_and_next, count: 1, acts: [explain], cues: [因为]}
"""


def test_an_act_counts_where_the_model_reaches_its_threshold():
    card = _card(REFUSAL)
    c = conv(("customer", "帮我改一下地址"), ("agent", "这个办不了"), ("customer", "哦"))
    roles = ["customer", "agent", "customer"]
    assert _status(card, c, _fake_acts(roles, {(1, "refuse"): 0.7})) == "fail"
    assert _status(card, c, _fake_acts(roles, {(1, "refuse"): 0.5})) == "n/a"
    assert _status(card, c, _fake_acts(roles, {(1, "refuse"): 0.7, (1, "explain"): 0.9})) == "pass"


def test_unless_min_rules_out_a_turn_read_faintly_as_the_other_act():
    """An answer must not be a proposal read even below the proposal head's own bar (0.6 here): with
    `unless_min` the `unless` acts rule a turn out at that bar instead."""
    answer = """
        forbid:
          act: {role: agent, acts: [inform], unless: [propose]%s}
    """
    c = conv(("customer", "能帮我查查送出去没有吗"), ("agent", "送到时您拒收就行"))
    acts = _fake_acts(["customer", "agent"], {(1, "inform"): 0.7, (1, "propose"): 0.45})
    assert _status(_card(answer % ""), c, acts) == "fail"  # read as an answer: the proposal is under its bar
    assert _status(_card(answer % ", unless_min: 0.4"), c, acts) == "pass"  # a proposal at 0.4 or more: no answer
    for option in ("unless_min: 2", "min: 1.5", "cue_min: '0.3'", "min: true"):  # every bar: a number from 0 to 1
        with pytest.raises(Exception, match=f"{option.split(':')[0]} 应为 0 到 1"):
            _card(answer % f", {option}")
    sample = Conversation.model_validate(
        json.loads((ROOT / "samples" / "complaint_desk.jsonl").read_text().splitlines()[0])
    )
    assert finding(analyze_conversation(sample), "CS-03").status == "fail"  # seed 000: "拒收就行" again and again


def test_a_cue_word_lowers_the_bar_and_becomes_the_evidence():
    card = _card(REFUSAL)
    c = conv(("customer", "帮我改一下地址"), ("agent", "您好，地址现在不能改了"), ("customer", "哦"))
    roles = ["customer", "agent", "customer"]
    result = card.evaluate(card.context(prepare(c), acts=_fake_acts(roles, {(1, "refuse"): 0.35})))
    f = finding(result, "T-1")
    assert f.status == "fail" and f.evidence[0].text == "不能"
    assert _status(card, c, _fake_acts(roles, {(1, "refuse"): 0.2})) == "n/a"  # the model disagrees: no refusal


def test_a_negated_cue_is_no_cue_and_the_model_decides():
    card = _card(REFUSAL)
    c = conv(("customer", "还能退吗"), ("agent", "不是不能退，七天内都可以"), ("customer", "好"))
    roles = ["customer", "agent", "customer"]
    assert _status(card, c, _fake_acts(roles, {(1, "refuse"): 0.35})) == "n/a"
    assert _status(card, c, None) == "n/a"  # without the models the negated cue is no refusal either


def test_without_the_models_the_cue_words_decide():
    card = _card(REFUSAL)
    assert _status(card, conv(("customer", "改地址"), ("agent", "无法修改"), ("customer", "哦"))) == "fail"
    assert _status(card, conv(("customer", "改地址"), ("agent", "无法修改，因为已经发货"))) == "pass"


def test_an_act_the_models_could_not_learn_falls_back_to_its_cue_words():
    card = _card(REFUSAL)
    c = conv(("customer", "改地址"), ("agent", "无法修改"), ("customer", "哦"))
    roles = ["customer", "agent", "customer"]
    assert _status(card, c, _fake_acts(roles, {(1, "refuse"): 0.0}, untrained=("refuse",))) == "fail"


def test_an_expectation_nobody_could_meet_yet_is_not_judged():
    card = _card(REFUSAL.replace("anchor: same_and_next, count: 1", "anchor: next"))
    c = conv(("customer", "改地址"), ("agent", "无法修改"))
    assert _status(card, c, _fake_acts(["customer", "agent"], {(1, "refuse"): 0.9})) == "n/a"


def test_need_cue_narrows_an_act_to_what_its_words_name():
    card = _card("""
            forbid:
              act: {role: customer, acts: [request_price], cues: [便宜点], need_cue: true}
        """)
    roles = ["customer", "agent"]
    protection = conv(("customer", "降价了能保价吗"), ("agent", "可以的"))
    bargain = conv(("customer", "能便宜点吗"), ("agent", "亲，已经是最低价了"))
    assert _status(card, protection, _fake_acts(roles, {(0, "request_price"): 0.9})) == "pass"
    assert _status(card, bargain, _fake_acts(roles, {(0, "request_price"): 0.9})) == "fail"


def test_a_line_too_short_to_read_needs_a_cue_word():
    card = _card("""
            forbid:
              act: {role: customer, acts: [failure], cues: [坏了], need_cue_below: 5}
        """)
    roles = ["customer", "agent"]

    def status(text: str) -> str:
        return _status(card, conv(("customer", text), ("agent", "您好")), _fake_acts(roles, {(0, "failure"): 0.9}))

    assert status("人工服务") == "pass"  # four characters: the model's reading alone does not count
    assert status("不对！！") == "pass"  # punctuation is no content
    assert status("[数字x]天了都") == "pass"  # a placeholder is one character
    assert status("坏了") == "fail"  # short, but a cue word says it
    assert status("收到的杯子有裂痕") == "fail"  # long enough for the model's reading
    with pytest.raises(Exception, match="need_cue_below 需要 `cues`"):
        _card("""
            forbid:
              act: {role: customer, acts: [failure], need_cue_below: 5}
        """)
    for bad in ("-3", "1.5", "abc"):
        with pytest.raises(Exception, match=r"test.yaml:\d+: T-1: .*need_cue_below 应为不小于 0 的整数"):
            _card(f"""
            forbid:
              act: {{role: customer, acts: [failure], cues: [坏了], need_cue_below: {bad}}}
        """)


def test_clear_cue_words_decide_an_act_at_their_own_bar():
    """`clear_cues`: words that nearly always carry the act count wherever the model reads it at their `min`,
    beside the condition's own cues at theirs; `unless`, `exclude` and negation hold for both."""
    card = _card("""
            forbid:
              act: {role: customer, acts: [failure], cues: [太慢], clear_cues: [{cues: [不制冷], min: 0.0}, {cues: [没到], min: 0.05}],
                    exclude: [没到期], unless: [request_price]}
        """)
    roles = ["customer", "agent"]

    def status(text: str, failure: float, price: float = 0.0) -> str:
        acts = _fake_acts(roles, {(0, "failure"): failure, (0, "request_price"): price})
        return _status(card, conv(("customer", text), ("agent", "您好")), acts)

    assert status("空调不制冷", 0.0) == "fail"  # decides however faintly
    assert status("包裹还没到", 0.1) == "fail" and status("包裹还没到", 0.01) == "pass"  # at its own bar
    assert (
        status("物流太慢了", 0.1) == "pass" and status("物流太慢了", 0.4) == "fail"
    )  # the own cue: half the act's 0.6
    assert status("会员还没到期", 0.1) == "pass"  # a false friend is no cue
    assert status("空调没有不制冷", 0.0) == "pass"  # negated
    assert status("空调不制冷，能保价吗", 0.0, price=0.9) == "pass"  # an `unless` act in the turn
    both = conv(("customer", "物流太慢了，空调还不制冷"), ("agent", "您好"))
    acts = _fake_acts(roles, {(0, "failure"): 0.05})
    words = {e.text for f in card.evaluate(card.context(prepare(both), acts=acts)).findings for e in f.evidence}
    assert words == {"不制冷"}  # the clear word decides at 0.05; the own cue (bar 0.3) does not
    assert _status(card, both, None) == "fail"  # without the models every cue word decides
    assert {e.text for f in card.evaluate(card.context(prepare(both))).findings for e in f.evidence} == {
        "太慢",
        "不制冷",
    }
    vetoed = _card("""
            forbid:
              act: {role: customer, acts: [failure], clear_cues: [{cues: [不制冷], min: 0.0}], veto: [保价]}
        """)
    assert _status(vetoed, conv(("customer", "空调不制冷，保价吗"), ("agent", "您好")), _fake_acts(roles, {})) == "pass"
    untrained = _fake_acts(roles, {(0, "failure"): 0.0}, untrained=("failure",))
    assert _status(card, conv(("customer", "空调不制冷"), ("agent", "您好")), untrained) == "fail"  # the words decide
    for bad in (
        "[不制冷]",
        "[{cues: [不制冷]}]",
        "[{cues: [不制冷], min: 2}]",
        "[{cues: [不制冷], min: 0.1, bar: 1}]",
        "{}",
        "0",
        "[{cues: [], min: 0.1}]",
    ):
        with pytest.raises(Exception, match=r"test.yaml:\d+: T-1: .*clear_cues"):
            _card(f"""
            forbid:
              act: {{role: customer, acts: [failure], clear_cues: {bad}}}
        """)


def test_an_unknown_act_is_a_scorecard_error_naming_the_line():
    from zuoxi.rules.scorecard import ScorecardError

    with pytest.raises(ScorecardError, match=r"test.yaml:\d+: T-1: .*没有对话行为 'apologise'"):
        _card(REFUSAL.replace("acts: [explain]", "acts: [apologise]"))


# --- the registry --------------------------------------------------------------------------------


def test_an_operator_is_one_registered_class():
    @operator("turn_count_at_least", {"n"})
    class TurnCount(Condition):
        def __init__(self, spec, loc, env):
            self.n = int(spec["n"])

        def hits(self, ctx, anchor):
            return [Hit(0, 0, 0)] if len(ctx.turns) >= self.n else []

    try:
        card = _card("""
                forbid:
                  turn_count_at_least: {n: 3}
            """)
        assert _status(card, conv(("customer", "在吗"), ("agent", "在的"))) == "pass"
        assert _status(card, conv(("customer", "在吗"), ("agent", "在的"), ("customer", "好"))) == "fail"
        with pytest.raises(ValueError, match="registered twice"):
            operator("turn_count_at_least", set())(TurnCount)
    finally:
        OPERATORS.pop("turn_count_at_least", None)


def test_the_built_in_operators_are_registered():
    assert {
        "keyword",
        "regex",
        "similar",
        "repeat",
        "count",
        "order",
        "script",
        "timing",
        "emotion",
        "audio",
        "act",
        "length",
        "ends_with",
        "mention",
        "all",
        "any",
        "not",
    } <= set(OPERATORS)


# --- reworded proposals (CS-01) ------------------------------------------------------------------

SEED_000 = [
    ("agent", "您好，这里是快餐客服中心，请问有什么可以帮您？"),
    ("customer", "我刚下单，有个汉堡点错了，能不能帮我查查送出去没有？没送的话帮我换成鸡腿堡。"),
    ("agent", "您可以在收货时当面拒签。"),
    ("customer", "我只是想换一个汉堡，干嘛要拒签啊？你帮我查一下送没送出。"),
    ("agent", "到货后不满意直接拒签就好。"),
    ("customer", "拒签了还得重新下单，你们怎么就不能帮我查查呢？"),
    ("agent", "先生，东西到了您拒签就可以了。"),
    ("customer", "我都说了三遍了，你这是什么态度！"),
]


@pytest.mark.parametrize("models", [True, False])
def test_the_paraphrased_broken_record_of_seed_000_fails_cs01(models):
    result = analyze_conversation(conv(*SEED_000), models=models)
    f = finding(result, "CS-01")
    assert f.status == "fail"
    assert {e.turn for e in f.evidence} >= {6}


def test_a_proposal_changed_after_push_back_is_no_broken_record():
    turns = SEED_000[:4] + [
        ("agent", "好的，我这就帮您查询订单是否已经送出。"),
        ("customer", "好的"),
        ("agent", "查到还没送出，已经为您把汉堡换成鸡腿堡了。"),
        ("customer", "谢谢"),
    ]
    assert finding(analyze_conversation(conv(*turns)), "CS-01").status != "fail"


# --- the turn models on tricky wording --------------------------------------------------------------
# What keyword matching got wrong on real conversations (issue 17): each must now read as what it means.


def acts_of(*turns: tuple[str, str]) -> list[list[str]]:
    prediction = load_models().predict(conv(*turns))
    assert prediction.acts is not None, "the act models are part of the committed artefacts"
    return [prediction.acts.names_of(i) for i in range(len(turns))]


def test_a_narrated_switch_is_no_change_request():
    acts = acts_of(
        ("customer", "我的手机昨天自动切换成了省电模式，屏幕暗了很多"), ("agent", "您好，您可以在设置里关闭省电模式")
    )
    assert "request_change" not in acts[0] and "request_exchange" not in acts[0]


def test_a_conditional_tip_is_no_refusal():
    c = conv(
        ("customer", "路由器装好了，还有什么要注意的吗"),
        ("agent", "如果您的电脑出现无法联网的情况，可以先重启路由器再试试"),
        ("customer", "好的谢谢"),
    )
    assert "refuse" not in acts_of(*[(t.role, t.text) for t in c.turns])[1]
    assert finding(analyze_conversation(c), "SA-02").status == "n/a"


def test_a_supposition_is_looked_for_in_the_clause_up_to_a_bounded_stretch_back():
    """ "如果…无法" in one clause is a supposition; the clause is looked back over at most CLAUSE_LOOKBACK characters
    (a long turn full of cue words took seconds when every hit re-read the turn from its start)."""
    card = _card("""
        forbid:
          keyword: {role: agent, words: [无法], conditional: skip}
    """)
    near = conv(("customer", "怎么办"), ("agent", "如果您的电脑出现无法联网的情况可以重启"))
    assert _status(card, near) == "pass"
    far = conv(("customer", "怎么办"), ("agent", "如果" + "您" * CLAUSE_LOOKBACK + "无法联网"))
    assert _status(card, far) == "fail"


def test_a_question_about_a_refund_is_no_delivery_question():
    c = conv(
        ("customer", "退款一般几天能到账？"),
        ("agent", "您好，原路退回一般1-7个工作日到账哦"),
        ("customer", "好的"),
        meta={"scorecard": "ecommerce"},
    )
    assert finding(analyze_conversation(c), "EC-05").status == "n/a"


def test_price_protection_is_not_bargaining():
    c = conv(
        ("customer", "我前天买的时候不是最低价，今天降价了，能给我保价吗"),
        ("agent", "您好，我这边帮您申请价保，差价会退回到您的账户"),
        ("customer", "好的谢谢"),
        meta={"scorecard": "ecommerce"},
    )
    assert finding(analyze_conversation(c), "EC-03").status == "n/a"


def test_asking_what_something_means_before_any_answer_questions_no_decision():
    c = conv(
        ("customer", "请问订单页面上写的“待揽收”是什么意思？"),
        ("agent", "您好，就是快递员还没有上门取件哦"),
        ("customer", "哦哦明白了"),
    )
    assert finding(analyze_conversation(c), "CS-04").status == "n/a"


def test_asking_what_to_do_is_no_anxiety_and_a_third_partys_anger_is_not_the_customers():
    calm = conv(
        ("customer", "请问发票丢了怎么办？"), ("agent", "您好，可以在订单详情里重新下载电子发票"), ("customer", "好的")
    )
    narrated = conv(
        ("customer", "送货师傅刚才很生气地挂了我电话，我想问下包裹现在到哪了"),
        ("agent", "您好，我帮您查一下，包裹已经到站点了，今天会再次配送"),
        ("customer", "好的"),
    )
    for c in (calm, narrated):
        assert finding(analyze_conversation(c), "EM-02").status == "n/a"


def test_a_calm_question_is_not_angry():
    result = analyze_conversation(conv(("customer", "请问我的包裹今天能到吗?"), ("agent", "您好，预计今天下午送达")))
    assert result.customer_emotion[0].label != "angry"


def test_saying_it_is_not_a_return_is_no_return_request():
    acts = acts_of(("customer", "我不是要退货，我只是想问一下这个怎么安装"), ("agent", "您好，安装步骤在说明书第三页"))
    assert "request_return" not in acts[0]


def test_an_action_worded_freely_is_acting_with_a_follow_up():
    acts = acts_of(
        ("customer", "空调不制冷了，你们什么时候来修"), ("agent", "已帮您转给售后专员，今天下午五点前给您回电")
    )
    assert "followup" in acts[1] and ({"act", "pending"} & set(acts[1]))


def test_deflection_and_contempt_worded_outside_the_lists():
    deflect = acts_of(("customer", "我家宽带一直断网，你们能不能处理一下"), ("agent", "这个您去问问当地营业厅吧"))
    assert (
        "deflect" in deflect[1]
        or finding(
            analyze_conversation(
                conv(("customer", "我家宽带一直断网，你们能不能处理一下"), ("agent", "这个您去问问当地营业厅吧"))
            ),
            "SA-03",
        ).status
        == "fail"
    )


def test_a_false_friend_of_a_cue_is_no_cue_and_no_denial():
    card = _card("""
            forbid:
              act: {role: agent, acts: [pending], cues: [反馈], exclude: [感谢您的反馈]}
        """)
    c = conv(("customer", "机器不出货"), ("agent", "我们会联系工作人员去查看，感谢您的反馈"))
    assert _status(card, c, _fake_acts(["customer", "agent"], {(1, "pending"): 0.9})) == "fail"  # the model decides
    assert _status(card, c, _fake_acts(["customer", "agent"], {(1, "pending"): 0.4})) == "pass"  # no cue lowers the bar


def test_veto_words_said_as_such_keep_a_turn_from_an_act():
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("core")

    def cs06(text: str) -> str:
        turns = [("customer", text), ("agent", "这边为您处理")]
        acts = _fake_acts(["customer", "agent"], {(0, "failure"): 0.95, (1, "act"): 0.9})
        return _status(card, conv(*turns), acts, "CS-06")

    assert cs06("还没一个星期就降价了") == "n/a"  # a price drop: no service failure, however it reads
    assert cs06("还没一个星期就坏了") == "fail"
    assert cs06("不是降价的事，还没一个星期就坏了") == "fail"  # a negated veto word vetoes nothing


# --- the customer asking again (CS-03) -------------------------------------------------------------


def test_a_request_counts_again_only_after_the_agent_had_a_turn_to_answer_it():
    """A chat message split over lines is one asking: CS-03 is the customer having to ask again."""
    card = _card("""
            forbid:
              repeat:
                role: customer
                min: 3
                per_turn: true
                keys: {refund: [退款]}
                unanswered:
                  keyword: {role: agent, words: [已为您]}
        """)
    split_lines = conv(
        ("customer", "我要退款"),
        ("customer", "麻烦退款吧"),
        ("customer", "快点退款"),
        ("agent", "您好，请问有什么可以帮您"),
    )
    asked_thrice = conv(
        ("customer", "我要退款"),
        ("agent", "您好，请问有什么可以帮您"),
        ("customer", "麻烦退款吧"),
        ("agent", "这款现在有满减活动"),
        ("customer", "快点退款"),
    )
    answered = conv(
        ("customer", "我要退款"),
        ("agent", "已为您提交申请"),
        ("customer", "麻烦退款吧"),
        ("agent", "已为您加急"),
        ("customer", "快点退款"),
    )
    assert _status(card, split_lines) == "pass"
    assert _status(card, asked_thrice) == "fail"
    assert _status(card, answered) == "pass"


# --- a matter left pending (SA-04) -------------------------------------------------------------------


def test_closings_after_the_last_word_on_the_matter_do_not_hide_it():
    roles = ["customer", "agent", "customer", "agent", "customer", "agent"]
    acts = _fake_acts(roles, {(1, "pending"): 0.9, (3, "closing"): 0.9, (5, "closing"): 0.9})
    c = conv(*zip(roles, ["差价不对", "已告知专员核实", "好的", "还有什么问题吗", "没有了", "祝您生活愉快"]))
    skipping = _card("""
            forbid:
              act: {role: agent, last: 1, skip_trailing: [closing], acts: [pending]}
        """)
    plain = _card("""
            forbid:
              act: {role: agent, last: 1, acts: [pending]}
        """)
    assert _status(skipping, c, acts) == "fail"
    assert _status(plain, c, acts) == "pass"
    with pytest.raises(Exception, match="last"):
        _card("""
            forbid:
              act: {role: agent, skip_trailing: [closing], acts: [pending]}
        """)


def test_a_closing_whose_words_leave_the_matter_open_is_the_last_word_on_it():
    """ "您好,请您继续留意的哦,谢谢!" reads as a greeting and a closing, but its words say the matter is still open:
    it is not set aside as a trailing closing, so SA-04 judges it rather than the answer before it."""
    roles = ["customer", "agent", "customer", "agent"]
    acts = _fake_acts(roles, {(1, "inform"): 0.9, (3, "closing"): 0.9, (3, "greet"): 0.9})
    card = _card("""
            forbid:
              act: {role: agent, last: 1, skip_trailing: [closing, greet], acts: [pending], clear_cues: [{cues: [继续留意], min: 0.0}]}
        """)
    still_open = conv(*zip(roles, ["4G助手什么时候能用", "目前在升级", "月底前能好吗", "您好,请您继续留意的哦,谢谢!"]))
    closed = conv(*zip(roles, ["4G助手什么时候能用", "目前在升级", "好的谢谢", "您好,祝您生活愉快,谢谢!"]))
    assert _status(card, still_open, acts) == "fail"
    assert (
        _status(card, closed, acts) == "pass"
    )  # a plain closing is still set aside: the answer before it is the last word
    turns = list(zip(roles, ["4G助手什么时候能用", "目前在升级", "月底前能好吗", "您好,请您继续留意的哦,谢谢!"]))
    assert _core("SA-04", turns, {(1, "inform"): 0.9, (3, "closing"): 0.9, (3, "greet"): 0.9}) == "fail"


def _core(rule: str, turns: list[tuple[str, str]], probs: dict[tuple[int, str], float], card: str = "core") -> str:
    from zuoxi.rules.engine import get_scorecard

    roles = [r for r, _ in turns]
    return _status(get_scorecard(card), conv(*turns), _fake_acts(roles, probs), rule)


def test_a_follow_up_the_thread_went_past_does_not_cover_a_later_pending():
    turns = [
        ("customer", "彩铃取消不了"),
        ("agent", "麻烦提供一下号码以便核实"),
        ("customer", "15600000000"),
        ("agent", "已将您的问题转交工作人员跟进，敬请留意。"),
    ]
    probs = {(1, "followup"): 0.9, (1, "ask_info"): 0.9, (3, "pending"): 0.9}
    assert _core("SA-04", turns, probs) == "fail"
    assert _core("SA-04", turns, {**probs, (3, "followup"): 0.9}) == "pass"  # a callback promised with it


def test_a_callback_word_decides_a_follow_up_the_model_reads_faintly():
    turns = [
        ("customer", "发票一直没换"),
        ("agent", "已经帮您提交专员处理了"),
        ("customer", "好的"),
        ("agent", "辛苦您等待回电"),
    ]
    faint = {(1, "pending"): 0.9, (3, "followup"): 0.1}
    assert _core("SA-04", turns, faint) == "pass"
    assert _core("SA-04", turns[:3] + [("agent", "辛苦您耐心等待")], faint) == "fail"


def test_a_callback_promised_with_a_time_covers_a_later_pending_word():
    turns = [
        ("customer", "退款一直没到"),
        ("agent", "一到三天会联系您处理的"),
        ("customer", "好的那谢谢"),
        ("agent", "我们已经联系相关部门处理"),
    ]
    probs = {(1, "followup"): 0.9, (3, "pending"): 0.9}
    assert _core("SA-04", turns, probs) == "pass"
    untimed = [turns[0], ("agent", "会联系您处理的"), *turns[2:]]
    assert _core("SA-04", untimed, probs) == "fail"  # without a time it does not hold past the later pending turn


def test_a_deflection_word_inside_the_agents_own_errand_is_no_deflection():
    """ "您去问" inside "团长帮您去问下" is the agent going to ask for the customer, not sending them to ask; said as
    such the word still decides however faintly the model reads the turn."""
    turns = [("customer", "电视什么时候能发货"), ("agent", "团长帮您去问下，有结果第一时间告知您")]
    assert _core("SA-03", turns, {(1, "act"): 0.9, (1, "deflect"): 0.02}) == "pass"
    sent = [turns[0], ("agent", "这个您去问问商家吧")]
    assert _core("SA-03", sent, {(1, "deflect"): 0.02}) == "fail"


def test_a_notice_promised_with_a_time_in_a_long_sentence_covers_a_later_pending_word():
    """The time and the notice may stand far apart in one sentence ("审核退款周期是3-5个工作日，请您耐心等待小妹会帮你跟进至处理结束的，
    退款成功短信告知您"); a later "请您耐心等候" leaves nothing more pending."""
    timed = "审核退款周期是[数字x]-[数字x]个工作日，请您耐心等待小妹会帮你跟进至处理结束的，退款成功短信告知您"
    turns = [
        ("customer", "退票的钱什么时候退"),
        ("agent", timed),
        ("customer", "好的谢谢"),
        ("agent", "请您耐心等候哈"),
    ]
    probs = {(1, "inform"): 0.9, (3, "pending"): 0.9}
    assert _core("SA-04", turns, probs) == "pass"
    apart = [turns[0], ("agent", "审核退款周期是[数字x]-[数字x]个工作日。请您耐心等待，退款成功短信告知您"), *turns[2:]]
    assert _core("SA-04", apart, probs) == "fail"  # a time in another sentence does not time the notice


def test_a_notice_when_it_is_done_is_a_follow_up():
    turns = [("customer", "行程单还没收到"), ("agent", "已为您特殊反馈发送行程单，发送后短信通知您")]
    assert _core("SA-04", turns, {(1, "pending"): 0.9}) == "pass"
    bare = [turns[0], ("agent", "已为您特殊反馈发送行程单，请耐心等待")]
    assert _core("SA-04", bare, {(1, "pending"): 0.9}) == "fail"


def test_a_result_promised_before_a_time_of_the_same_day_is_a_follow_up():
    said = "已经帮您提交~ 中午前提交的服务单，我们会在当天[时间x]前审核完毕"  # a JD chat's time, masked
    assert _core("SA-04", [("customer", "空调不制冷"), ("agent", said)], {(1, "pending"): 0.9}) == "pass"
    untimed = "已经帮您提交~ 我们会尽快审核完毕"
    assert _core("SA-04", [("customer", "空调不制冷"), ("agent", untimed)], {(1, "pending"): 0.9}) == "fail"


def test_asking_the_customer_to_keep_the_phone_on_for_the_call_back_is_a_follow_up():
    """ "电话畅通" is a follow-up in every labelled agent turn outside the evaluation that says it (6 of 6): the
    agent will call. It decides where the model reads the follow-up faintly."""
    said = "已为您反馈站点，请您保持电话畅通"
    faint = {(1, "pending"): 0.9, (1, "followup"): 0.1}
    assert _core("SA-04", [("customer", "快递三天没动了"), ("agent", said)], faint) == "pass"
    bare = "已为您反馈站点，请您耐心等待"
    assert _core("SA-04", [("customer", "快递三天没动了"), ("agent", bare)], faint) == "fail"


def test_a_callback_promised_without_a_time_is_a_follow_up():
    """The guide counts a callback as a follow-up; the readers judged every tuning conversation whose agent
    ends on "…会联系您" followed up (or n/a), however faintly the model reads it."""
    faint = {(1, "pending"): 0.9, (1, "followup"): 0.1}
    said = "您反映的问题已提交，相关专员会联系您的"
    assert _core("SA-04", [("customer", "宽带一直掉线"), ("agent", said)], faint) == "pass"
    bare = "您反映的问题已提交，请耐心等待"
    assert _core("SA-04", [("customer", "宽带一直掉线"), ("agent", bare)], faint) == "fail"


def test_a_matter_promised_only_to_be_solved_soon_is_left_open():
    """The guide: a bare "we'll pass it on" with the issue unresolved is no follow-up. "我们会尽快解决的" or
    "请您随时关注" leaves the matter as open as a pending turn does, however faintly the model reads `pending`;
    a promise to reply soon ("会尽快回复您") is a follow-up."""
    faint = {(1, "pending"): 0.05, (1, "followup"): 0.1, (1, "explain"): 0.9}
    for said in ("这个视频暂时不能观看，我们会尽快解决的", "目前还在优化中，请您随时关注"):
        assert _core("SA-04", [("customer", "视频一直打不开"), ("agent", said)], faint) == "fail"
    replied = "这个视频暂时不能观看，我们会尽快回复您"
    assert _core("SA-04", [("customer", "视频一直打不开"), ("agent", replied)], faint) == "pass"
    answered = "这个视频您清除缓存后就可以观看了"
    assert _core("SA-04", [("customer", "视频一直打不开"), ("agent", answered)], faint) == "n/a"


def test_a_thread_that_ends_on_the_customer_giving_the_details_asked_is_mid_process():
    """The readers: a thread that ends on the customer's reply mid-process ("以客户回复结束，处理中途") asks no
    follow-up yet, as CS-08 has it; one that ends on the customer pushing back still does."""
    pending = [("customer", "宽带又断了"), ("agent", "已为您反馈，请耐心等待")]
    probs = {(1, "pending"): 0.9}
    assert _core("SA-04", pending, probs) == "fail"
    details = pending + [("customer", "地址是朝阳区XX路5号")]
    assert _core("SA-04", details, {**probs, (2, "info"): 0.9}) == "n/a"
    pushed = pending + [("customer", "每次都让我等，到底什么时候修好")]
    for pushback in ("failure", "anger", "reject", "question", "request"):
        assert _core("SA-04", pushed, {**probs, (2, "info"): 0.9, (2, pushback): 0.9}) == "fail", pushback
    both = details + [("customer", "每次都让我等")]  # the details, then pushing back: not mid-process
    assert _core("SA-04", both, {**probs, (2, "info"): 0.9, (3, "failure"): 0.9}) == "fail"


def test_an_answer_after_the_closing_needs_a_new_closing_however_faintly_the_model_reads_it():
    """The guide: a customer who reopens the matter after a closing needs a new closing. A last word that says
    nothing more may follow the closing before it, but an answer the model reads at 0.3 or more ("一到三天到账呢",
    inform at 0.4 under its bar) says something: CS-08 fails without a closing after it."""
    turns = [
        ("customer", "好的"),
        ("agent", "请问还有其他还可以帮到您的吗?"),
        ("customer", "多久能退款差价"),
        ("agent", "一到三天到账呢"),
    ]
    probs = {(1, "closing"): 0.9, (2, "request"): 0.9}
    assert _core("CS-08", turns, {**probs, (3, "inform"): 0.4}) == "fail"
    assert _core("CS-08", turns, {**probs, (3, "inform"): 0.1}) == "pass"  # an emoji-like last word after the closing


def test_a_thread_gone_on_in_private_messages_is_followed_up():
    turns = [
        ("customer", "宽带一直掉线"),
        ("agent", "麻烦提供一下地址和电话"),
        ("customer", "已私信"),
        ("agent", "收到后转派工作人员核查处理"),
    ]
    assert _core("SA-04", turns, {(1, "followup"): 0.9, (3, "pending"): 0.9}) == "pass"


def test_a_pending_turn_the_agent_answered_after_is_not_left_pending():
    turns = [
        ("customer", "我想申请售后"),
        ("agent", "请您稍等，您的问题马上查询核实"),
        ("customer", "好"),
        ("agent", "您申请的是送货到自提点，地址是人民路1号"),
    ]
    probs = {(1, "pending"): 0.9}
    assert _core("SA-04", turns, probs) == "fail"  # read as if the last word were no answer
    assert _core("SA-04", turns, {**probs, (3, "inform"): 0.9}) == "pass"  # the result came after it


def test_a_refusal_followed_by_the_way_it_can_be_done_is_not_bare():
    asked = [
        ("customer", "可以直接给快递员带走吗"),
        ("agent", "不行"),
        ("customer", "那要怎么样才可以"),
        ("agent", "请送到自提点，地址在这个页面里"),
    ]
    refused = {(1, "refuse"): 0.9}
    assert _core("SA-02", asked, refused) == "fail"
    assert _core("SA-02", asked, {**refused, (3, "inform"): 0.9}) == "pass"  # the way it can be done, said next
    again = asked[:3] + [("agent", "这个是不可以的")]  # said again is still no way
    assert _core("SA-02", again, {**refused, (3, "inform"): 0.9}) == "fail"
    # the model leans to an offer under its own bar; words that name one (如需, 申请) confirm it
    leaning = {(1, "refuse"): 0.9, (1, "propose"): 0.35}
    offered = [("customer", "能开纸质发票吗"), ("agent", "纸质发票开不了，如需可以申请电子发票")]
    assert _core("SA-02", offered, leaning) == "pass"
    assert _core("SA-02", [offered[0], ("agent", "纸质发票开不了，电子发票一样的")], leaning) == "fail"


def test_a_refusal_whose_reason_was_just_given_is_not_bare():
    """The readers accept a reason the agent gave a few turns before refusing again ("前一轮已说明"); a reason far
    back in a long chat does not cover a new refusal."""
    turns = [
        ("customer", "能开电子发票吗"),
        ("agent", "这个订单已经删除了，系统里查不到"),
        ("customer", "那怎么办"),
        ("agent", "请您稍等"),
        ("customer", "电子发票到底能不能开"),
        ("agent", "电子发票是开不了的"),
    ]
    refused = {(5, "refuse"): 0.9}
    assert _core("SA-02", turns, {**refused, (1, "explain"): 0.9}) == "pass"
    assert _core("SA-02", turns, refused) == "fail"
    waits = [("agent", "请您稍等"), ("customer", "嗯")] * 4  # four more agent turns between the reason and the refusal
    far = turns[:2] + waits + turns[4:]
    assert _core("SA-02", far, {(len(far) - 1, "refuse"): 0.9, (1, "explain"): 0.9}) == "fail"


def test_a_refusal_without_a_refusal_word_must_be_read_clearly():
    asked = ("customer", "能帮我改一下地址吗")
    sorry = [asked, ("agent", "这个的确是很抱歉呢")]
    assert _core("SA-02", sorry, {(1, "refuse"): 0.65}) == "n/a"  # an apology the head leans to read as a refusal
    assert _core("SA-02", sorry, {(1, "refuse"): 0.85}) == "fail"
    bare = [asked, ("agent", "不可以哦")]
    assert _core("SA-02", bare, {(1, "refuse"): 0.45}) == "fail"  # a refusal word: half the bar


def test_a_reason_read_faintly_in_the_refusing_line_itself_is_a_reason():
    line = [("customer", "能改一下收货地址吗"), ("agent", "亲爱的 订单提交之后改不了呢")]
    assert _core("SA-02", line, {(1, "refuse"): 0.9, (1, "explain"): 0.32}) == "pass"  # the line names why
    assert _core("SA-02", line, {(1, "refuse"): 0.9, (1, "explain"): 0.1}) == "fail"
    # faint in a neighbouring line is not enough: there the act's own bar holds
    around = [("customer", "能改一下收货地址吗"), ("agent", "不可以哦"), ("agent", "亲爱的")]
    assert _core("SA-02", around, {(1, "refuse"): 0.9, (2, "explain"): 0.32}) == "fail"


def test_a_short_what_is_wrong_is_vague_at_the_opening_not_once_the_matter_is_told():
    opening = [("customer", "你们这个APP怎么回事？"), ("agent", "您卸载重装一下就好了")]
    assert _core("CS-05", opening, {}) == "fail"
    told = [
        ("customer", "我支付的时候没有输密码，钱就付出去了"),
        ("agent", "请问是什么时候的订单"),
        ("customer", "昨天晚上的"),
        ("customer", "怎么回事呢？"),
        ("agent", "正在为您查询，请稍等"),
    ]
    assert _core("CS-05", told, {}) == "n/a"


def test_a_request_answered_each_time_is_not_a_request_the_customer_had_to_repeat():
    turns = [
        ("customer", "评价能删除吗"),
        ("agent", "全额退款的订单评价会删除的"),
        ("customer", "可是评价还没删除啊，能删除吗"),
        ("agent", "三个工作日内删除"),
        ("customer", "那评价到底能不能删除"),
    ]
    asked = {(t, "request"): 0.9 for t in (0, 2, 4)}
    answered = {**asked, (1, "inform"): 0.9, (3, "inform"): 0.9}
    assert _core("CS-03", turns, answered) == "pass"
    # a proposal of something else is no answer: the customer is still not heard
    assert _core("CS-03", turns, {**answered, (1, "propose"): 0.9, (3, "propose"): 0.9}) == "fail"


def test_a_proposal_that_did_not_work_still_took_the_request_up():
    turns = [
        ("customer", "游戏一直卡在读取界面，求支援"),
        ("agent", "点校验缓存，再清除浏览器缓存"),
        ("customer", "还是不行，缓存都清理了"),
    ]
    probs = {(0, "request"): 0.9, (1, "propose"): 0.9, (2, "reject"): 0.9}
    assert _core("SA-01", turns, probs) == "pass"
    # talking about something else is not taking it up: the customer says so
    elsewhere = [
        ("customer", "我想取消自动续费"),
        ("agent", "下个月有新团课，您可以来试试"),
        ("customer", "我不是问团课，我就是想取消"),
    ]
    assert _core("SA-01", elsewhere, probs) == "fail"


def test_the_after_sales_sequence_is_for_goods_that_went_wrong_not_every_failure():
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("ecommerce")

    def ec06(report: str, failure: float = 0.9) -> str:
        turns = [("customer", report), ("agent", "好的"), ("customer", "嗯"), ("agent", "好的")]
        acts = _fake_acts([r for r, _ in turns], {(0, "failure"): failure})
        return _status(card, conv(*turns), acts, "EC-06")

    assert ec06("收到的电饭煲漏水") == "fail"  # an after-sales problem handled with none of the six steps
    assert ec06("空调不制冷", failure=0.01) == "fail"  # a thing that does not work, however faintly the model reads it
    assert ec06("空调制冷效果好吗", failure=0.01) == "n/a"
    assert ec06("机票退款进度怎么还是审核中") == "n/a"  # a failure the model reads, but no goods gone wrong
    assert ec06("退款三天了还没收到钱") == "n/a"  # money that did not come: a refund matter, not goods
    assert ec06("三天了还没收到货") == "fail"
    # goods only partly received, a fault, a thing broken: after-sales words the readers' failure turns hold
    # (tuning parts, 2026-12-06 late night)
    for report in (
        "两件只收到一件",
        "水壶出现了故障",
        "手机烂了，去年买的",
        "用了两天就坏掉了",
        "耳机不能正常充电",
        "这个吹风机很不好用",
    ):
        assert ec06(report) == "fail", report
    assert ec06("只收到一件，另一件明天到是吧", failure=0.0) == "n/a"  # the word alone is not a failure


def test_failure_words_decide_a_failure_the_model_reads_faintly():
    faint = {(0, "failure"): 0.1}
    gone = [("customer", "我的订单无缘无故不见了"), ("agent", "请提供一下订单号")]
    assert _core("CS-06", gone, faint) == "fail"  # a failure, and no apology after it
    assert _core("CS-06", [("customer", "我的订单在哪里看"), gone[1]], faint) == "n/a"


def test_time_waited_is_a_failure_however_faintly_the_model_reads_it():
    """ "…天了", "…个月了", "半个月", "多天" are a failure (waited long) in 82-93 % of the labelled customer turns
    outside the evaluation that say them; a day that is no time waited ("第一天了") is not."""
    faint = {(0, "failure"): 0.06}
    reply = ("agent", "请提供一下订单号")
    for said in ("退款已经十几天了", "发票快一个月了还没寄到", "等了半个月", "评价多天不更新"):
        assert _core("CS-06", [("customer", said), reply], faint) == "fail", said
    assert _core("CS-06", [("customer", "每个月最喜欢的就是第一天了，终于又有流量了"), reply], faint) == "n/a"
    assert _core("CS-06", [("customer", "退款已经十几天了"), reply], {(0, "failure"): 0.01}) == "n/a"  # not read at all
    # each a failure in 75-100 % of the labelled customer turns outside the evaluation that say it: no notice, a
    # fault, a problem never solved, a line that drops, nobody answering, a parcel that has not moved (a JD chat the
    # model read at 0.04), an app that errors
    for said in (
        "航班取消了，但是没通知",
        "宽带故障报修三次",
        "问题至今没解决",
        "网络老是掉线",
        "客服电话没人接",
        "我的快递三号怎么没动",
        "官方app一启动就报错",
        "下载总是出错",
        "账户显示异常",
        "昨天还好好的，今天不能用了",
    ):
        assert _core("CS-06", [("customer", said), reply], faint) == "fail", said


def test_a_thing_that_does_not_work_is_a_failure_however_faintly_the_model_reads_it():
    nothing = {
        (0, "failure"): 0.01
    }  # a JD chat's "空调不制冷": the act model, trained mostly on Weibo posts, reads ~0.02
    reply = ("agent", "请问是这个商品吗")
    assert _core("CS-06", [("customer", "你好，空调不制冷"), reply], nothing) == "fail"
    assert _core("CS-06", [("customer", "热水器机身漏水"), reply], nothing) == "fail"
    assert _core("CS-06", [("customer", "空调制冷效果怎么样"), reply], nothing) == "n/a"
    assert _core("CS-06", [("customer", "如果不制冷怎么办"), reply], nothing) == "n/a"  # a conditional is no report
    assert _core("CS-06", [("customer", "人工服务"), reply], {(0, "failure"): 0.9}) == "n/a"  # too short to read alone
    sorry = [("customer", "你好，空调不制冷"), ("agent", "非常抱歉给您添麻烦了")]
    assert _core("CS-06", sorry, {**nothing, (1, "apology"): 0.9}) == "pass"


def test_a_report_answered_as_how_the_service_works_and_let_stand_is_no_failure():
    """The readers judge "兑换需1个工作日" or "续费按规则次月生效" no failure of the service when the agent's first
    reply only informs and the customer lets it stand: CS-06 is then n/a, not a missing apology. It stays a
    failure where the customer pushes back after that answer, or the agent acts on the report."""
    turns = [
        ("customer", "积分兑换的流量怎么还没到账"),
        ("agent", "兑换成功后需要一个工作日处理，明天就会到账的"),
        ("customer", "好的，知道了"),
    ]
    informed = {(0, "failure"): 0.9, (1, "inform"): 0.9, (2, "accept"): 0.9}
    assert _core("CS-06", turns, informed) == "n/a"
    pushed = [*turns[:2], ("customer", "昨天就说一个工作日，到现在都没到")]
    assert _core("CS-06", pushed, {**informed, (2, "failure"): 0.9}) == "fail"
    assert _core("CS-06", turns, {**informed, (1, "act"): 0.9}) == "fail"  # acted on it: a failure to apologize for
    assert _core("CS-06", turns, {**informed, (1, "inform"): 0.1}) == "fail"  # not answered as information


def test_a_dismissed_trigger_leaves_the_next_one_to_judge_and_an_unanswered_one_stands():
    """`dismiss_if` sets a trigger aside where it finds something; with `once`, the next trigger not set aside
    is judged; where it cannot judge yet (nobody has answered the trigger: None), the trigger stands."""
    card = _card("""
            when:
              keyword: {role: customer, words: [坏了]}
            once: true
            dismiss_if:
              act: {role: agent, anchor: first_reply, acts: [inform]}
            expect:
              keyword: {role: agent, anchor: after, words: [抱歉]}
        """)

    def status(turns: list[tuple[str, str]], probs: dict[tuple[int, str], float]) -> str:
        return _status(card, conv(*turns), _fake_acts([r for r, _ in turns], probs))

    informed = [("customer", "屏幕坏了"), ("agent", "这是正常现象")]
    assert status(informed, {(1, "inform"): 0.9}) == "n/a"
    assert status(informed, {(1, "inform"): 0.1}) == "fail"  # not answered as information: no apology after it
    again = [*informed, ("customer", "电源也坏了"), ("agent", "请提供订单号")]
    assert status(again, {(1, "inform"): 0.9}) == "fail"  # the second report, not set aside, is judged
    assert status([("agent", "您好"), ("customer", "屏幕坏了")], {}) == "fail"  # unanswered: the trigger stands


def test_dismiss_if_needs_a_trigger():
    from zuoxi.rules.scorecard import Item

    item = {"id": "T-1", "name": "t", "points": -1, "message": "m", "expect": {"keyword": {"words": ["您好"]}}}
    Item(**item, when={"keyword": {"words": ["坏了"]}}, dismiss_if={"keyword": {"words": ["好的"]}})
    with pytest.raises(ValueError, match="dismiss_if"):
        Item(**item, dismiss_if={"keyword": {"words": ["好的"]}})


def test_a_report_the_agent_apologizes_for_later_is_not_dismissed():
    """CS-06 sets aside a report answered as information only where the agent never apologizes for it: an apology
    later shows the agent took it for a failure, and a later report must not become the one judged instead."""
    turns = [
        ("customer", "快递一直没到"),
        ("agent", "一般需要三到五天送达"),
        ("agent", "非常抱歉让您久等了"),
        ("customer", "空调不制冷"),
        ("agent", "请提供一下订单号"),
    ]
    probs = {(0, "failure"): 0.9, (1, "inform"): 0.9, (2, "apology"): 0.9, (4, "ask_info"): 0.9}
    assert _core("CS-06", turns, probs) == "pass"


def test_thanks_for_bearing_with_it_is_a_step_of_the_after_sales_handling():
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("ecommerce")

    def ec06(last: str) -> str:
        turns = [
            ("customer", "少发了一件"),
            ("agent", "我查一下订单"),
            ("agent", "很抱歉，给您补发一件"),
            ("agent", last),
        ]
        roles = [r for r, _ in turns]
        acts = _fake_acts(roles, {(0, "failure"): 0.9, (1, "ask_info"): 0.9, (2, "apology"): 0.9, (2, "act"): 0.9})
        return _status(card, conv(*turns), acts, "EC-06")

    assert ec06("辛苦您了") == "pass"  # checked, solved, apologized, thanked: two steps missing
    assert ec06("好的") == "fail"  # three missing


def test_explaining_the_position_states_where_the_after_sales_handling_stands():
    """表明立场 as the readers credit it: the agent says what holds (how the goods work, what the policy is), not only
    "我们会负责到底"."""
    turns = [
        ("customer", "电脑开机就黑屏"),
        ("agent", "就是黑屏是吗"),
        ("agent", "出厂装的都是官方驱动，在第三方更新驱动就容易出现这种问题"),
        ("agent", "非常抱歉，建议您提交返修申请"),
    ]
    read = {(0, "failure"): 0.9, (1, "clarify"): 0.9, (2, "inform"): 0.9, (3, "apology"): 0.9, (3, "propose"): 0.9}
    # checked, position stated, solved, apologized: two steps missing; the same words read as no explanation: three
    assert _core("EC-06", turns, {**read, (2, "explain"): 0.9}, card="ecommerce") == "pass"
    assert _core("EC-06", turns, {**read, (2, "explain"): 0.1}, card="ecommerce") == "fail"


def test_soothing_is_judged_on_the_first_reply_to_the_first_outburst():
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("core")
    turns = [
        ("customer", "太气人了，扣了我两百块"),
        ("agent", "理解您的心情，我马上帮您查"),
        ("customer", "赶紧的，气死了"),
        ("agent", "请提供一下号码"),
    ]
    roles = [r for r, _ in turns]

    def em02(probs):
        acts = _fake_acts(roles, probs)
        return _status(card, conv(*turns), acts, "EM-02")

    angry = {(0, "anger"): 0.9, (2, "anger"): 0.9, (3, "ask_info"): 0.9}
    assert em02({**angry, (1, "soothe"): 0.9}) == "pass"  # the first outburst was met with care
    assert em02({**angry, (1, "act"): 0.9}) == "fail"


def test_telling_a_worried_customer_not_to_worry_is_soothing():
    """ "这个您不用担心" answers a worry as surely as "您放心", even where the soothe head reads it faintly."""
    worry = ("customer", "太危险了，我很担心钱被盗刷")
    read = {(0, "anxiety"): 0.9, (1, "soothe"): 0.1, (1, "explain"): 0.9}
    assert _core("EM-02", [worry, ("agent", "支付时已经验证过密码了，这个您不用担心")], read) == "pass"
    assert _core("EM-02", [worry, ("agent", "支付时已经验证过密码了，这个不用再输")], read) == "fail"


def test_a_last_word_asking_what_the_customer_means_is_mid_process_unless_it_answers_too():
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("core")
    turns = [("customer", "这个能用吗"), ("agent", "您是指哪一款呢？")]

    def cs08(probs):
        acts = _fake_acts(["customer", "agent"], probs)
        return _status(card, conv(*turns), acts, "CS-08")

    assert cs08({(1, "clarify"): 0.9}) == "n/a"
    assert cs08({(1, "clarify"): 0.9, (1, "inform"): 0.9}) == "fail"


def test_a_thread_the_customer_takes_to_private_messages_needs_no_closing_here():
    turns = [("customer", "你可以查吗？我也不知道 我私信你号码"), ("agent", "好的.")]
    assert _core("CS-08", turns, {}) == "n/a"
    assert _core("CS-08", [("customer", "你可以查吗？我也不知道"), ("agent", "好的.")], {}) == "fail"


def test_you_are_welcome_after_the_customers_thanks_is_a_closing():
    turns = [("agent", "已经发送过去了，您按照教程试试"), ("customer", "好的,谢谢,辛苦了！"), ("agent", "不客气的~")]
    faint = {(0, "act"): 0.9, (2, "closing"): 0.2}  # the model reads "不客气的~" as a closing at 0.2
    assert _core("CS-08", turns, faint) == "pass"
    assert _core("CS-08", turns[:2] + [("agent", "嗯嗯")], faint) == "fail"


def test_the_price_principle_is_a_reason_for_refusing_a_discount():
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("core")

    def sa02(reply: str) -> str:
        turns = [("customer", "还能再优惠点吗"), ("agent", reply)]
        acts = _fake_acts(
            ["customer", "agent"], {(0, "request"): 0.9, (1, "refuse"): 0.9}, untrained=("price_principle",)
        )
        return _status(card, conv(*turns), acts, "SA-02")

    assert sa02("亲亲目前已是最低价了，没办法更低了") == "pass"
    assert sa02("亲亲没办法更低了") == "fail"


def test_asking_for_what_would_settle_a_challenge_answers_it():
    turns = [("agent", "这个订单是没有付款的呢"), ("customer", "我这边是付过的啊"), ("agent", "麻烦您提供付款的截图哦")]
    assert _cs04(turns, {(0, "inform"): 0.9, (2, "ask_photo"): 0.9}) == "pass"
    assert _cs04(turns, {(0, "inform"): 0.9, (2, "inform"): 0.9}) == "fail"


def _core_em02(text: str, anger: float, emotions=None) -> str:
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("core")
    turns = [("customer", text), ("agent", "请提供一下您的号码")]
    acts = _fake_acts(["customer", "agent"], {(0, "anger"): anger, (1, "ask_info"): 0.9})
    ctx = card.context(prepare(conv(*turns)), emotions=emotions or {}, acts=acts)
    return finding(card.evaluate(ctx), "EM-02").status


def test_a_word_that_is_nearly_always_anger_decides_with_little_help_from_the_model():
    post = "说好的20M网速到头来只有几十KB，学校宿舍里看个视频都卡，什么破网络，无语"
    assert _core_em02(post, anger=0.1) == "fail"
    assert _core_em02("说好的20M网速到头来只有几十KB，学校宿舍里看个视频都卡", anger=0.1) == "n/a"


def test_a_turn_the_emotion_model_reads_as_plainly_angry_calls_for_soothing():
    from zuoxi.analyze.emotion import CustomerEmotion

    post = "等了四个小时师傅说不来了，明天再来，我下午把事都推了"
    assert _core_em02(post, anger=0.1, emotions={0: CustomerEmotion("angry", 0.85)}) == "fail"
    assert _core_em02(post, anger=0.1, emotions={0: CustomerEmotion("angry", 0.6)}) == "n/a"


def test_a_turn_read_as_asking_for_price_protection_is_no_service_failure():
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("core")
    turns = [("customer", "刚买两天，差价能补给我吗"), ("agent", "好的，这边为您申请")]

    def cs06(probs):
        acts = _fake_acts(["customer", "agent"], {(0, "failure"): 0.9, (1, "act"): 0.9, **probs})
        return _status(card, conv(*turns), acts, "CS-06")

    assert cs06({(0, "request_price"): 0.9}) == "n/a"
    assert cs06({}) == "fail"


def test_return_shipping_said_as_a_pickup_fee_and_goods_refused_at_the_door():
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("ecommerce")

    def ec08(reply: str) -> str:
        turns = [("customer", "我买错了，要退货"), ("agent", reply)]
        probs = {(0, "request_return"): 0.9, (0, "request"): 0.9, (1, "act"): 0.9}
        acts = _fake_acts(["customer", "agent"], probs, untrained=("return_shipping",))  # as in the shipped heads
        return _status(card, conv(*turns), acts, "EC-08")

    assert ec08("已为您申请退货，上门取件费需要您承担") == "pass"
    assert ec08("已为您申请退货") == "fail"
    assert ec08("还没签收的话，送到时您拒收就行，会自动退回") == "n/a"


def test_closing_words_decide_a_closing_the_model_reads_faintly():
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("core")

    def cs08(last: str) -> str:
        turns = [("customer", "好的"), ("agent", last)]
        acts = _fake_acts(["customer", "agent"], {(1, "closing"): 0.1})
        return _status(card, conv(*turns), acts, "CS-08")

    assert cs08("嗯嗯有问题随时咨询我们哦") == "pass"
    assert cs08("嗯嗯好的哦") == "fail"


@pytest.mark.parametrize(
    "post",
    [
        "办了三次都没办好，你们到底想闹哪样，我明天还要上班",
        "出了问题就知道推卸责任，话费照扣不误",
        "每次打电话都是这套废话，宽带还是断的",
        "我真是受够了，网一到晚上就断",
    ],
)
def test_anger_words_decide_anger_the_model_reads_faintly_in_a_long_post(post):
    """Words that are anger in three of four labelled customer turns outside the evaluation (`@anger_clear`,
    docs/accuracy.md) decide EM-02 where the model's anger is faint; the same post without them does not."""
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("core")

    def em02(text: str) -> str:
        turns = [("customer", text), ("agent", "请私信您的手机号码，我们帮您查询。")]
        acts = _fake_acts(["customer", "agent"], {(0, "anger"): 0.1, (1, "ask_info"): 0.9})
        return _status(card, conv(*turns), acts, "EM-02")

    assert em02(post) == "fail"
    assert em02("宽带到了晚上就断，麻烦帮忙看一下") == "n/a"


def test_an_apology_worded_as_asking_forgiveness_for_the_trouble_is_an_apology():
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("core")

    def cs06(reply: str) -> str:
        turns = [("customer", "宽带断了三天了"), ("agent", reply)]
        acts = _fake_acts(["customer", "agent"], {(0, "failure"): 0.9, (1, "apology"): 0.1, (1, "act"): 0.9})
        return _status(card, conv(*turns), acts, "CS-06")

    assert cs06("给您的使用带来不便请见谅，请私信您的地址") == "pass"
    assert cs06("请私信您的地址") == "fail"


def _cs04(turns: list[tuple[str, str]], probs: dict[tuple[int, str], float]) -> str:
    """CS-04 on an answer, the customer's challenge of it and the reply (turns 0, 1, 2), the challenge read clearly."""
    return _core("CS-04", turns, {(1, "question"): 0.9, **probs})


def test_the_action_challenged_is_no_answer_to_the_challenge():
    turns = [
        ("agent", "待这个订单完成后为您申请差价"),
        ("customer", "为什么要等这个订单完成呢"),
        ("agent", "请您届时注意查收呢"),
    ]
    acted = {(0, "act"): 0.9}
    assert _cs04(turns, {**acted, (2, "inform"): 0.9}) == "fail"
    assert _cs04(turns, {**acted, (0, "explain"): 0.9, (2, "inform"): 0.9}) == "pass"  # the reason came just before


def test_a_customer_who_argues_back_at_length_needs_a_new_reason():
    """A reason just before a short challenge answers it ("功能一样吗?" asks again); a customer who contests that
    reason with their own arguments needs one in the reply (the Weibo readers: "只重申，无理由")."""
    reason = ("agent", "因为系统规定，号码只能在归属地营业厅销户")
    reply = ("agent", "请您到归属地营业厅办理")
    short = [reason, ("customer", "真的不能异地销户吗？"), reply]
    argued = [
        reason,
        ("customer", "银行卡都能异地注销，为什么手机号就不行？让我专门回一趟归属地，这个规定合理吗？"),
        reply,
    ]
    explained = {(0, "explain"): 0.9, (2, "inform"): 0.9}
    assert _cs04(short, explained) == "pass"
    assert _cs04(argued, explained) == "fail"
    assert _cs04(argued, {**explained, (2, "explain"): 0.9}) == "pass"
    assert _cs04(argued[:2], {(0, "explain"): 0.9}) == "n/a"  # nobody has answered the challenge yet: not judged


def test_a_challenge_answered_with_facts_is_answered():
    """The readers take a reply that answers the challenge with facts of its own ("说明订单提交后不能改、电子票无需寄回")
    as the explanation it asks for; a bare "是的呢" is none."""
    challenge = [("agent", "发票一经开具无法修改哦"), ("customer", "为什么不能改？")]
    facts = challenge + [("agent", "订单提交后系统就锁定了开票信息，电子发票也不需要寄回，您在订单完成后可以自助换开")]
    assert _cs04(facts, {(0, "inform"): 0.9, (2, "inform"): 0.9}) == "pass"
    bare = challenge + [("agent", "是的呢")]
    assert _cs04(bare, {(0, "inform"): 0.9, (2, "inform"): 0.9}) == "fail"
    again = challenge + [("agent", "发票一经开具就是无法修改的哦，亲亲")]  # the answer challenged, said again at length
    assert _cs04(again, {(0, "inform"): 0.9, (2, "inform"): 0.9}) == "fail"


def test_passing_a_challenge_on_is_no_answer_to_it():
    challenge = [("agent", "您的号码已经销户了"), ("customer", "销户之前你们不需要尽到告知义务吗？")]
    answered = {(0, "inform"): 0.9, (2, "act"): 0.9, (2, "pending"): 0.9}
    passed_on = challenge + [("agent", "您的问题已记录并转交相关工作人员核查跟进")]
    assert _cs04(passed_on, answered) == "fail"  # recorded and passed on: no reason, nothing settled
    resubmitted = challenge + [("agent", "我给您重新提交下申请，具体看审核结果哈")]
    assert _cs04(resubmitted, answered) == "pass"  # acting on it settles it, pending or not
    evidence = challenge + [("agent", "请私信提供一下您缴费的截图，我帮您核对")]  # asking for what would settle it
    assert _cs04(evidence, {(0, "inform"): 0.9, (2, "ask_photo"): 0.9}) == "pass"


def test_a_complaint_without_a_complaint_word_must_be_read_clearly():
    from zuoxi.rules.engine import get_scorecard

    card = get_scorecard("core")

    def es01(text: str, complaint: float) -> str:
        turns = [("customer", text), ("agent", "您好，请私信我们您的号码")]
        return _status(card, conv(*turns), _fake_acts(["customer", "agent"], {(0, "complaint"): complaint}), "ES-01")

    leaving = "用了十年联通，下个月就换电信了"
    assert es01(leaving, 0.6) == "pass"  # leaving for a rival: the head leans to a complaint, no word says one
    assert es01(leaving, 0.75) == "fail"
    assert es01("再不处理我就打12315投诉你们", 0.4) == "fail"  # a complaint word: half the bar


# --- whom a public post tags (ES-01) ---------------------------------------------------------------


def test_mentions_keep_their_names_and_spans():
    from zuoxi.normalize import mentions

    text = "@中国联通客服 @CCTV315 邮箱a@b.com 看看"
    assert mentions(text) == [(0, 7, "中国联通客服"), (8, 16, "cctv315")]
    assert mentions("没有提到谁") == []


@pytest.mark.parametrize("models", [True, False])
def test_tagging_a_newspaper_is_a_complaint_risk_and_tagging_the_company_is_not(models):
    tagged = conv(("customer", "@中国联通客服 @南方都市报 网速慢了一个月了"), ("agent", "您好，请私信您的号码"))
    plain = conv(("customer", "@中国联通客服 网速慢了一个月了"), ("agent", "您好，请私信您的号码"))
    result = analyze_conversation(tagged, models=models)
    assert finding(result, "ES-01").status == "fail"
    assert any(e.turn == 0 and e.start == 8 for e in finding(result, "ES-01").evidence)
    assert finding(analyze_conversation(plain, models=models), "ES-01").status != "fail"


@pytest.mark.parametrize(
    "account",
    [
        "厦门街头巷尾",
        "重庆事儿",
        "福建身边事",
        "温江人不知道的温江事",
        "陕西都市热线",
        "上海发布",
        "深圳公安",
        "首都工商",
    ],
)
def test_tagging_a_local_news_account_or_an_authority_is_a_complaint_risk(account):
    post = conv(("customer", f"@中国联通客服 @{account} 宽带断了三天没人管"), ("agent", "您好，请私信您的号码"))
    assert finding(analyze_conversation(post, models=False), "ES-01").status == "fail"


@pytest.mark.parametrize("account", ["中国工商银行", "小米手机发布会"])
def test_tagging_a_bank_or_a_product_launch_is_no_complaint_risk(account):
    post = conv(("customer", f"@中国联通客服 @{account} 话费自动扣款怎么设置"), ("agent", "您好，请私信您的号码"))
    assert finding(analyze_conversation(post, models=False), "ES-01").status != "fail"


def test_a_mention_condition_needs_names():
    with pytest.raises(Exception, match="names"):
        _card("""
            forbid:
              mention: {role: customer}
        """)


@pytest.mark.skipif(not (DATA / "stc3_dch").is_dir(), reason=f"the real conversations are not at {DATA}")
def test_the_reply_where_something_was_missing_is_shown_whole():
    """A real Weibo thread (text read from ../shared/data): the agent's first post lacks a greeting (CS-07) and an
    apology for the reported failure (CS-06). Both findings show that post whole — an earlier rule's act marked on
    it once narrowed it to a clause that has nothing to do with either ("我司对网络建设和完善都非常重视,"). (The
    thread first used here, stc3_3733751966007154, reports a line cut off for the customer's own arrears: no
    service failure since the second reading of `failure`, docs/labelling.md.)"""
    from eval.realdata import conversations
    from zuoxi.pipeline import analyze_conversations

    conversation = conversations(DATA)["stc3_3459762283246700"]
    result = analyze_conversations([conversation])[0]
    reply = conversation.turns[1].text
    for rule in ("CS-07", "CS-06"):
        finding = next(f for f in result.findings if f.rule == rule)
        assert finding.status == "fail"
        shown = [e for e in finding.evidence if e.turn == 1]
        assert [(e.start, e.end, e.text) for e in shown] == [(0, len(reply), reply)], rule


@pytest.mark.skipif(not (DATA / "jddc_uss").is_dir(), reason=f"the real conversations are not at {DATA}")
def test_a_finding_is_not_narrowed_by_the_acts_another_rule_read_in_its_turn():
    """A real JD chat (text read from ../shared/data): the agent's 295-character message at turn 2 fails EC-09 (over
    150 characters), and the evidence is that message whole. Other rules' act conditions read the same turn before
    EC-09 is judged; the acts they marked on it once narrowed EC-09's evidence to a ten-character clause, as if the
    clause were what was too long (32 EC-09 findings over the 4,030 real conversations, and CS-01's repeated turns)."""
    from eval.realdata import conversations
    from zuoxi.pipeline import analyze_conversations

    conversation = conversations(DATA)["jddc_uss_valid_108"]
    result = analyze_conversations([conversation], scorecard="ecommerce")[0]
    message = conversation.turns[2].text
    assert len(message) > 150
    finding = next(f for f in result.findings if f.rule == "EC-09")
    assert finding.status == "fail"
    assert [(e.turn, e.start, e.end) for e in finding.evidence] == [(2, 0, len(message))]


# --- real conversations ------------------------------------------------------------------------------

# What eval/realqa.py printed for the dev part with the committed models (docs/accuracy.md; the act models saw
# these dialogues in training, so this is a guard against regressions, not the reported figure): a
# change that makes the rules less right on real conversations fails here.
# (0.80 and 0.79 until 2026-12-06, when the rules were tuned on 375 labelled conversations instead of these 135:
# precision rose to 0.83 and recall fell to 0.77 here — one CS-05 failure counted right had named turn 5 of a
# conversation whose readers' violation is turn 39, one SA-01 failure came from a push-back clause that made five
# false alarms elsewhere, one SA-04 miss is a timed notice about another matter — while on the tuning parts, with
# act models trained without them, the session's changes removed 49 false alarms and kept as many right failures.
# Raised on the night of 2026-12-06 to what the rules of that night print: 142 right failures, 24 false alarms, 40 misses;
# and the late night: 143 / 22 / 39, precision 0.867, recall 0.786. Recall lowered to 0.77 in the session after the
# closing one, when every `failure` turn was read again more strictly and the act heads retrained on it: 141 / 21 / 41
# here — one CS-06 violation whose report the second reading calls an item out of stock, one EC-06 false alarm — while
# on the 375 tuning conversations, with act models trained without them, 300 / 106 / 178 → 298 / 97 / 180.
# Precision raised to 0.88 when SA-01 took a refusal as an answer: 141 / 19 / 41 here, 0.881.)
DEV_FLOOR = {"precision": 0.88, "recall": 0.77}


@pytest.mark.skipif(not (DATA / "jddc_uss").is_dir(), reason=f"the real conversations are not at {DATA}")
def test_the_rules_stay_as_right_on_the_labelled_dev_conversations():
    out = subprocess.run(
        [sys.executable, str(ROOT / "eval" / "realqa.py"), "--part", "dev", "--json", "--data", str(DATA)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(out.stdout)
    t = figures["total"]
    precision = t["tp"] / (t["tp"] + t["fp"])
    recall = t["tp"] / (t["tp"] + t["fn"])
    assert precision >= DEV_FLOOR["precision"] and recall >= DEV_FLOOR["recall"], (precision, recall)
    # a right failure's evidence names the turn the readers named (140 of 144 printed; 57 before the agent's
    # faulty turn was shown beside the customer's words)
    assert t["turn"] >= 0.9 * t["tp"], (t["turn"], t["tp"])


def test_an_act_head_threshold_is_the_high_end_of_its_flat_best_f1():
    """Training picks the highest threshold whose out-of-fold F1 is within F1_TOLERANCE of the best: on a flat
    curve the bar that reads the act as often right with fewer false findings, on a peaked one the peak."""
    sys.path.insert(0, str(ROOT))
    from training_models.acts import F1_TOLERANCE, best_threshold

    y = np.array([1] * 10 + [0] * 10)
    # positives read 0.35–0.8; one negative at 0.5: every bar from 0.4 to 0.5 gives F1 0.947, then recall falls
    p = np.array([0.8] * 9 + [0.52] + [0.5] + [0.1] * 9)
    t, f1 = best_threshold(y, p)
    assert t == 0.5 and abs(f1 - 2 * 10 / 21) < 1e-9
    # negatives at 0.6 cost precision until the bar passes them; half the positives at 0.67 are lost above 0.65
    p_peaked = np.array([0.9] * 5 + [0.67] * 5 + [0.6] * 3 + [0.1] * 7)
    assert best_threshold(y, p_peaked) == (0.65, 1.0)
    assert best_threshold(np.zeros(4, int), np.full(4, 0.3)) == (0.5, 0.0)  # nothing to find: the default, F1 0
    assert 0 < F1_TOLERANCE < 0.01


@pytest.mark.skipif(not (DATA / "stc3_dch").is_dir(), reason=f"the real conversations are not at {DATA}")
def test_evidence_is_never_a_clause_of_mentions_or_emoji_alone():
    """Real Weibo threads (text read from ../shared/data) whose first post opens with the accounts it tags: the clause
    narrowing chose that clause of @mentions ("@91手机软件客服 @91熊猫桌面") as the words of a service failure (CS-06),
    of anger (EM-02) or of a complaint (ES-01), in 183 findings over the 4,030 real conversations. The clause shown
    is one that holds words."""
    from eval.realdata import conversations
    from zuoxi.pipeline import analyze_conversations

    wanted = {"stc3_3547811154952346": "CS-06", "stc3_3584091792082227": "EM-02", "stc3_3583047821586521": "ES-01"}
    threads = conversations(DATA)
    results = analyze_conversations([threads[i] for i in wanted])
    for (cid, rule), result in zip(wanted.items(), results):
        failed = finding(result, rule)
        assert failed.status == "fail", (cid, rule)
        shown = [e.text for e in failed.evidence if e.turn == 0]
        assert shown and all(text.strip() and "@" not in text for text in shown), (cid, rule, shown)
