"""PII masking: phones, landlines, ID numbers, bank cards, e-mail — and the numbers that must survive."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zuoxi.model import Conversation, Turn
from zuoxi.privacy import (
    looks_like_id_number,
    luhn_ok,
    mask_conversation,
    mask_text,
    masked_name,
    valid_id_number,
)


@pytest.mark.parametrize(
    "raw, masked",
    [
        # mobile numbers, with country code and spaces or dashes
        ("手机13812345678", "手机*******5678"),
        ("手机13812345678谢谢", "手机*******5678谢谢"),
        ("电话：138 1234 5678。", "电话：*******5678。"),
        ("打138-1234-5678", "打*******5678"),
        ("电话:138.1234.5678", "电话:*******5678"),  # dotted, and spaced dashes, as people type them
        ("打 138 - 1234 - 5678 找我", "打 *******5678 找我"),
        ("电话138—1234—5678", "电话*******5678"),
        ("tel13812345678", "tel*******5678"),  # after a phone word letters may touch it
        ("Phone:13812345678", "Phone:*******5678"),
        ("电话 +86 138 1234 5678", "电话 *********5678"),
        ("+8613812345678", "*********5678"),
        ("(+86)19912345678", "(+86)*******5678"),
        # landlines
        ("座机010-12345678", "座机*******5678"),
        ("座机010-62345678", "座机*******5678"),
        ("电话(010)12345678", "电话*******5678"),
        ("深圳0755 2345678", "深圳*******5678"),
        # 18-digit resident ID with a valid check digit (also X)
        ("身份证440582198807151230", "身份证**************1230"),
        ("身份证号11010519491231002X", "身份证号**************002X"),
        ("id 11010519491231002x ok", "id **************002x ok"),
        # a mistyped ID (wrong check digit) with a real region and birth date is still someone's
        ("身份证110101199003074578", "身份证**************4578"),
        ("身份证440582198807151231", "身份证**************1231"),
        ("身份证号11010119900307457X", "身份证号**************457X"),
        ("身份证１１０１０１１９９００３０７４５７８", "身份证**************４５７８"),
        # bank cards passing Luhn: 16 and 19 digits, run together or grouped
        ("卡号6217001234567893", "卡号**** **** **** 7893"),
        ("卡号 6217 0012 3456 7893 请核对", "卡号 **** **** **** 7893 请核对"),
        ("卡号6217-0012-3456-7893", "卡号**** **** **** 7893"),
        ("卡号6222021234567890128", "卡号**** **** **** 0128"),
        # full-width digits, as Chinese input methods type them
        ("我的手机１３８１２３４５６７８", "我的手机*******５６７８"),
        ("电话（０１０）８８８８８８８８", "电话*******８８８８"),
        ("卡号６２１７００１２３４５６７８９３", "卡号**** **** **** ７８９３"),
        ("身份证１１０１０５１９４９１２３１００２Ｘ", "身份证**************００２Ｘ"),
        # e-mail
        ("邮箱zhangwei.buy@example.com", "邮箱z***@example.com"),
        ("邮箱zhangwei＠example.com", "邮箱z***@example.com"),  # a full-width ＠, as input methods type it
        ("发到 li.si@corp.com.cn 谢谢", "发到 l***@corp.com.cn 谢谢"),
    ],
)
def test_pii_is_masked_keeping_the_last_four(raw, masked):
    assert mask_text(raw) == masked


def test_several_kinds_in_one_message():
    raw = "联系我13812345678或者010-12345678，邮箱li.si@corp.cn，卡号6217001234567893，身份证440582198807151230"
    assert mask_text(raw) == (
        "联系我*******5678或者*******5678，邮箱l***@corp.cn，卡号**** **** **** 7893，身份证**************1230"
    )


@pytest.mark.parametrize(
    "raw",
    [
        # order / waybill / ticket numbers: inside a longer token, or after 订单号 and friends
        "订单号2026110112345678已发货",
        "订单号2026110112345676",  # Luhn-valid, still an order number
        "订单号：6222021234567890128",  # 19 digits, Luhn-valid, still an order number
        "订单号 440582198807151230",  # a valid ID check digit does not matter after 订单号
        "订单号１３８１２３４５６７８",  # full-width digits too
        "訂單號：6217001234567893",
        "訂單6217001234567893",
        "运单号：13812345678",
        "快递单号 13812345678",
        "工单号440582198807151230",
        "单号DD13812345678",
        "13812345678DD",
        "运单SF1234567890123",
        "ABC6217001234567893",
        # invalid checks: a wrong ID check digit where the rest is no ID either (region, birth date)
        "单据202611011234567890",  # starts with a year: no province 20
        "流水 123456789012345678",
        "号码990101199003074578",  # no province 99
        "号码110001199003074578x",  # inside a longer token
        "号码110001199003074577",  # city 00: the province's own code
        "号码110101199013074578",  # month 13
        "号码110101199002304578",  # 30 February
        "号码110101189903074578",  # born before 1900
        "号码110101209903074578",  # born in the future
        "卡号6217001234567890",  # fails Luhn
        "卡号 6217 0012 3456 7890",
        # amounts, dates, times, short numbers
        "金额1999元，2026-11-01 10:00:02",
        "退款¥12,345.67已到账",
        "2026年11月1日 14:30 退款3,280.00元",
        "日期20261101，时间143002",
        "请拨打95533或400-820-8820",
        "卡号后四位7893",
        "第12345678位客户",
        "",
    ],
)
def test_non_pii_numbers_survive(raw):
    assert mask_text(raw) == raw


@pytest.mark.parametrize(
    "raw",
    [
        "手机13812345678",
        "座机010-12345678",
        "身份证440582198807151230",
        "卡号6217 0012 3456 7893",
        "a.b@example.com",
    ],
)
def test_masking_is_idempotent_and_keeps_at_most_four_digits(raw):
    once = mask_text(raw)
    assert mask_text(once) == once
    assert len(re.sub(r"\D", "", once)) <= 4


def test_checks():
    assert valid_id_number("440582198807151230") and not valid_id_number("440582198807151231")
    assert looks_like_id_number("440582198807151231") and looks_like_id_number("11010119900307457X")
    assert not looks_like_id_number("202611011234567890") and not looks_like_id_number("110101199002304578")
    assert valid_id_number("11010519491231002X") and valid_id_number("11010519491231002x")
    assert luhn_ok("6217001234567893") and luhn_ok("6222021234567890128")
    assert not luhn_ok("6217001234567890") and not luhn_ok("2026110112345678")


def test_mask_conversation_masks_every_turn_and_every_field_a_file_sets():
    """A call list or a recording is often named by the caller's number: the id, agent, team, recording name
    and metadata are masked as the turns are; what holds no personal data is left as it was."""
    conversation = Conversation.model_validate(
        {
            "id": "13812345678",
            "agent_id": "8",
            "team": "a.b@example.com",
            "audio": "calls/rec-13812345678.wav",
            "meta": {
                "phone": 13812345678,
                "ids": ["11010519491231002X"],
                "who": {"mail": "zhang.san@example.com"},
                "calls": {"13912345678": 2},  # an export keyed by phone number
                "queue": "售后",
                "n": 3,
                "vip": True,
            },
            "turns": [
                {"role": "customer", "text": "我的手机13812345678", "start": 0.0, "end": 1.0},
                {"role": "agent", "text": "好的，卡号6217001234567893已登记"},
            ],
        }
    )
    masked = mask_conversation(conversation)
    assert [t.text for t in masked.turns] == ["我的手机*******5678", "好的，卡号**** **** **** 7893已登记"]
    assert (masked.turns[0].start, masked.turns[0].end) == (0.0, 1.0)
    assert (masked.id, masked.agent_id, masked.team) == ("*******5678", "8", "a***@example.com")
    assert masked.audio == "calls/rec-*******5678.wav"
    assert masked.meta == {
        "phone": "*******5678",
        "ids": ["**************002X"],
        "who": {"mail": "z***@example.com"},
        "calls": {"*******5678": 2},
        "queue": "售后",
        "n": 3,
        "vip": True,
    }
    assert "13812345678" not in masked.model_dump_json()  # nothing stored or printed holds it
    assert masked.recording == "calls/rec-13812345678.wav"  # but the recording is read where it is, in this run
    assert conversation.turns[0].text == "我的手机13812345678" and conversation.id == "13812345678"  # not modified
    plain = conversation.model_copy(
        update={"id": "c-1", "audio": None, "meta": {}, "team": None, "turns": [Turn(role="agent", text="您好")]}
    )
    assert mask_conversation(plain) is plain  # nothing to mask: the same object


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789０１２３４５６７８９ -－　()（）+＋@.abcXx订单号电话", max_size=40))
def test_the_quick_pii_check_skips_only_texts_without_personal_data(text):
    """mask_text skips texts the quick check rules out: masking them fully changes nothing either."""
    from zuoxi import privacy

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(privacy, "_MAYBE_PII", re.compile(r"[\d@]"))  # any digit or @: the full masking runs
        full = privacy.mask_text(text)
    assert privacy.mask_text(text) == full


def test_a_file_name_is_masked_part_by_part_between_underscores():
    """Exports and lists are named `13912345678_名单.csv`: in a file name an underscore separates, where in a text
    (`ORDERID_13912345678`) it joins a number into a code. The folders keep their names."""
    folder = Path("/data/13700000000")
    assert masked_name(folder / "13912345678_110101199003074258_名单.csv") == str(
        folder / "*******5678_**************4258_名单.csv"
    )
    assert masked_name(folder / "客户13912345678.csv") == str(folder / "客户*******5678.csv")
    assert masked_name(folder / "JD13912345678.csv") == str(folder / "JD13912345678.csv")  # a code, as in a text
    assert mask_text("ORDERID_13912345678") == "ORDERID_13912345678"


def test_an_email_is_only_looked_for_from_the_start_of_its_characters():
    """Tried from every digit of a long number, the e-mail pattern read the rest of the run each time: 40,000 digits
    took 7 s and a 200,000-digit field hung an import. A match may only begin where a run of its characters begins,
    which finds the same addresses."""
    from zuoxi.privacy import _EMAIL

    assert _EMAIL.match("ab@c.com", 1) is None and _EMAIL.match("ab@c.com", 0)
    assert mask_text("联系 ab.c@d.com 或 x%y@z.cn") == "联系 a***@d.com 或 x***@z.cn"
    run = "1" * 200_000
    assert mask_text(run + "@") == run + "@"  # finishes: one attempt per run, not one per digit
