"""PII masking gaps a probe found: numbers joined by `_`, a card run on into the next number, floats in metadata,
Taiwan/Hong Kong/Macau phones, local numbers without 区号, list separators, old and non-mainland IDs, e-mails as
input methods and speech recognition write them — and order numbers and IMEIs that must survive."""

from __future__ import annotations

import pytest

from zuoxi.model import Conversation
from zuoxi.privacy import mask_conversation, mask_id, mask_text, mask_value, masked_name


@pytest.mark.parametrize(
    "raw, masked",
    [
        ("call_13712345678_20261102", "call_*******5678_20261102"),
        ("agent_13612345678", "agent_*******5678"),
        ("组_13512345678", "组_*******5678"),
        ("13912345678_20261102093105", "*******5678_20261102093105"),  # a FunASR key
        ("13812345678_20261102093105.srt", "*******5678_20261102093105.srt"),  # an SRT named by the number
        ("13812345678-20261102093105", "*******5678-20261102093105"),  # the timestamp kept, not read as a card
        ("x_6222778865013650_2", "x_**** **** **** 3650_2"),
    ],
)
def test_a_number_joined_by_underscores_in_an_id_or_value_is_masked(raw, masked):
    assert mask_id(raw) == masked
    assert mask_value(raw) == masked


def test_a_phone_joined_by_underscores_is_masked_in_a_path_a_conversation_and_a_text():
    conversation = Conversation.model_validate(
        {
            "id": "call_13712345678_20261102",
            "agent_id": "agent_13612345678",
            "team": "组_13512345678",
            "audio": "rec/13412345678_20261102.wav",
            "turns": [{"role": "customer", "text": "我是tb_13812345678"}],
        }
    )
    masked = mask_conversation(conversation)
    assert (masked.id, masked.agent_id, masked.team) == (
        "call_*******5678_20261102",
        "agent_*******5678",
        "组_*******5678",
    )
    assert masked.audio == "rec/*******5678_20261102.wav" and masked.turns[0].text == "我是tb_*******5678"
    assert mask_text("ORDERID_13912345678") == "ORDERID_13912345678"  # a code's word before the underscore
    assert masked_name("zhang_san@qq.com.csv") == "z***@qq.com.csv"  # an address keeps its underscore


@pytest.mark.parametrize(
    "raw, masked",
    [
        ("卡号 6222778865013650 12月3号被扣了钱", "卡号 **** **** **** 3650 12月3号被扣了钱"),
        ("卡号6222778865013650 2月扣了钱", "卡号**** **** **** 3650 2月扣了钱"),
        ("我的卡 6222778865013650 50元被扣了", "我的卡 **** **** **** 3650 50元被扣了"),
        ("卡号6222 7788 6501 3650 3号", "卡号**** **** **** 3650 3号"),
        ("卡号六二二二七七八八六五零一三六五零 三号扣的", "卡号**** **** **** 三六五零 三号扣的"),
    ],
)
def test_a_card_followed_by_another_number_is_masked(raw, masked):
    assert mask_text(raw) == masked


def test_a_whole_number_float_in_metadata_is_masked():
    assert mask_value({"phone": 13812345678.0, "x": [1.3812345678e10]}) == {
        "phone": "*******5678",
        "x": ["*******5678"],
    }
    assert mask_value(3.5) == 3.5 and mask_value(2026.0) == 2026.0


@pytest.mark.parametrize(
    "raw, masked",
    [
        ("我的手機是0912-345-678", "我的手機是******5678"),
        ("手機 0912 345 678", "手機 ******5678"),
        ("手機 +886 912 345 678", "手機 ********5678"),
        ("電話(02)2345-6789", "電話******6789"),
        ("電話 02-2345-6789", "電話 ******6789"),
        ("香港電話 9123 4567", "香港電話 ****4567"),
        ("聯絡電話 +852 6123 4567", "聯絡電話 *******4567"),
        ("澳門電話 +853 6612 3456", "澳門電話 *******3456"),
        # a local number without its 区号, only after a phone word
        ("家里电话是62345678", "家里电话是****5678"),
        ("电话是62345678", "电话是****5678"),
        ("座机 6234 5678", "座机 ****5678"),
        ("固话8888-6666", "固话****6666"),
        # a list's separators, where a phone word vouches for them
        ("手机138/1234/5678", "手机*******5678"),
        ("手机号138、1234、5678", "手机号*******5678"),
        ("手机138·1234·5678", "手机*******5678"),
        ("卡号6222/7788/6501/3650", "卡号**** **** **** 3650"),
        ("身份证号110105/19491231/002X", "身份证号**************002X"),
        ("手机壹叁捌壹贰叁肆伍陆柒捌", "手机*******伍陆柒捌"),  # capital numerals, kept as written
        # IDs: 15 digits of before 1999, Hong Kong's, Taiwan's; a passport; a QQ number
        ("身份证号码是110105491231002", "身份证号码是***********1002"),
        ("身份證字號110105491231002", "身份證字號***********1002"),
        ("香港身份证 A123456(7)", "香港身份证 ****4567"),
        ("台湾身分證 A123456789", "台湾身分證 ******6789"),
        ("护照号E12345678", "护照号*****5678"),
        ("QQ号123456789", "QQ号*****6789"),
        # e-mail as input methods and speech recognition write it
        ("邮箱zhangsan@qq。com", "邮箱z***@qq。com"),
        ("邮箱 zhangsan@163,com", "邮箱 z***@163,com"),
        ("邮箱zhangsan@qq点com", "邮箱z***@qq点com"),
        ("邮箱 zhangsan 艾特 qq 点 com", "邮箱 z***@qq点com"),
        ("zhangsan艾特qq.com", "z***@qq.com"),
        ("邮箱是 zhangsan @qq.com", "邮箱是 z***@qq.com"),
    ],
)
def test_more_ways_personal_data_is_written_are_masked(raw, masked):
    assert mask_text(raw) == masked
    assert mask_text(masked) == masked


@pytest.mark.parametrize(
    "raw",
    [
        "订单号是：2026102122409246",
        "订单号码是2026102122409246",
        "您的订单号我查一下，是 2026101440472969 对吗",
        "IMEI 356938035643809",
        "手机串号是356938035643809",
        "串号 862123456789012，屏幕碎了",
        "价格 1999/2999/3999",
        "手机 2999 3999 两款",  # prices after 手机: no local number without a 电话 word
        "号码是62345678",
        "身份证号码是110105491331002",  # no real birth date
        "QQ：800010000",  # an enterprise QQ is a company's
        "艾特我一下",
    ],
)
def test_order_numbers_imeis_and_amounts_survive(raw):
    assert mask_text(raw) == raw


def test_a_card_after_an_order_word_with_a_card_word_between_is_masked():
    assert mask_text("订单的卡号是6222778865013650") == "订单的卡号是**** **** **** 3650"
