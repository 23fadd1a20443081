"""Personal data glued to letters (probe 2026-12: rec13800138000, IDNO11010519491231002X, ph13912345678,
x6222020000000007) was stored and printed in clear, while call_…, TEL…, tel: and ID: were masked: a number after
letters was never one. Now it is when whole and checked, after letters that make no code — and codes, waybills,
models and SKUs glued to letters stay as they were."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.model import Conversation
from zuoxi.privacy import (
    luhn_ok,
    mask_conversation,
    mask_id,
    mask_text,
    mask_value,
    masked_name,
    valid_id_number,
)
from zuoxi.store import Store

PHONE, ID_NUMBER, MOBILE, CARD = "13800138000", "11010519491231002X", "13912345678", "6222020000000007"
RAW = (PHONE, ID_NUMBER, MOBILE, CARD, "138001", "110105194912")  # what no stored or printed value may hold
PROBE = {
    "id": f"rec{PHONE}",
    "audio": f"rec{PHONE}.wav",
    "meta": {"certificate": f"IDNO{ID_NUMBER}"},
    "turns": [
        {"role": "agent", "text": "您好，请问有什么可以帮您"},
        {"role": "customer", "text": f"我的身份证IDNO{ID_NUMBER}，手机ph{MOBILE}"},
    ],
}


def _with_luhn(prefix: str) -> str:
    return next(prefix + c for c in "0123456789" if luhn_ok(prefix + c))


def test_the_probes_numbers_check_out():
    assert luhn_ok(CARD) and valid_id_number(ID_NUMBER)


@pytest.mark.parametrize(
    "ident, masked",
    [
        (f"rec{PHONE}", "rec*******8000"),
        (f"x{CARD}", "x**** **** **** 0007"),
        (f"IDNO{ID_NUMBER}", "IDNO**************002X"),
        (f"ph{MOBILE}", "ph*******5678"),
        (f"Rec{PHONE}", "Rec*******8000"),
        (f"X{CARD}", "X**** **** **** 0007"),  # one capital is no code
        (f"ID{PHONE}", "ID*******8000"),  # capitals that name personal data
        (f"WX{MOBILE}", "WX*******5678"),
        (f"rec{PHONE}_20261102", "rec*******8000_20261102"),
        # the forms that were masked already, unchanged
        (f"call_{PHONE}", "call_*******8000"),
        (f"TEL{PHONE}", "TEL*******8000"),
        (f"tel:{PHONE}", "tel:*******8000"),
        (f"ID:{ID_NUMBER}", "ID:**************002X"),
    ],
)
def test_an_id_glued_to_letters_is_masked(ident, masked):
    assert mask_id(ident) == masked
    assert mask_value(ident) == masked
    assert mask_id(masked) == masked  # masking a masked id changes nothing


@pytest.mark.parametrize(
    "raw, masked",
    [
        (f"我的身份证IDNO{ID_NUMBER}，手机ph{MOBILE}", "我的身份证IDNO**************002X，手机ph*******5678"),
        (f"录音 rec{PHONE}.wav", "录音 rec*******8000.wav"),
        (f"卡号x{CARD}", "卡号x**** **** **** 0007"),
        (f"身份证sfz{ID_NUMBER}", "身份证sfz**************002X"),
        (f"加我vx{MOBILE}", "加我vx*******5678"),
        ("手机ph１３９１２３４５６７８", "手机ph*******５６７８"),  # full-width digits
        ("身份证id110101199003074578", "身份证id**************4578"),  # a typo'd check digit, a real region and date
    ],
)
def test_a_text_with_a_number_glued_to_letters_is_masked(raw, masked):
    assert mask_text(raw) == masked
    assert mask_text(masked) == masked


def test_a_file_name_and_metadata_glued_to_letters_are_masked():
    assert masked_name(f"rec/rec{PHONE}.wav") == "rec/rec*******8000.wav"
    assert masked_name(f"rec{PHONE}_名单.csv") == "rec*******8000_名单.csv"
    assert mask_value({"certificate": f"IDNO{ID_NUMBER}", f"ph{MOBILE}": [f"x{CARD}"]}) == {
        "certificate": "IDNO**************002X",
        "ph*******5678": ["x**** **** **** 0007"],
    }


@pytest.mark.parametrize(
    "raw",
    [
        # waybills and orders: a courier's or shop's capitals, a code's word, an order word before the letters
        "SF1234567890123",
        "运单SF1234567890123",
        "JD0012345678901",
        "YT7000000000000",
        "JT5000000000000",
        f"JD{MOBILE}",
        f"SF{MOBILE}",
        f"DD{PHONE}",
        f"sf{MOBILE}",
        f"jd{MOBILE}",
        f"单号DD{MOBILE}",
        f"单号dd{MOBILE}",
        f"订单号：abc{PHONE}",
        f"ORDERID{MOBILE}",
        f"order{MOBILE}",
        f"sku{MOBILE}",
        f"SKU{MOBILE}",
        f"sn{MOBILE}",
        "TS16051702020",  # a ticket's number that has a mobile number's shape
        "ABC6217001234567893",
        f"ABC{CARD}",
        # a code's digits that check out as nothing: no mobile's 1[3-9], no card's prefix, no real birth date
        "lzl160315164539304",
        "abc12345678901",
        "abc202611011234567890",
        "abc990101199003074578",
        "abc12345678901234567",
        # the number does not end the token
        f"{MOBILE}DD",
        f"rec{PHONE}a",
        f"rec{PHONE}1",
        f"a1b{PHONE}",
        # Weibo post ids (16 digits, a card scheme's prefix, passing Luhn as one in ten does)
        f"mid{_with_luhn('456789012345678')}",
        f"weibo{_with_luhn('383040129679682')}",
        f"wb{_with_luhn('512345678901234')}",
        # product models, SKUs, prices, dates
        "iPhone13",
        "iPhone 13 Pro",
        "GTX1060",
        "RTX4090",
        "i7-8750H",
        "型号KD-65X9000H",
        "SKU100012043978",
        "v20261101",
        "价格rmb1399元",
        "ORDERID_13912345678",
    ],
)
def test_codes_models_and_ids_glued_to_letters_survive(raw):
    assert mask_text(raw) == raw
    if "_" not in raw:  # an underscore ends a number in an id, a value and a name (call_13812345678)
        assert mask_id(raw) == raw
        assert mask_value(raw) == raw
        assert masked_name(raw + ".csv") == raw + ".csv"


def test_the_probes_conversation_is_masked_in_every_field():
    masked = mask_conversation(Conversation.model_validate(PROBE))
    assert (masked.id, masked.audio, masked.meta) == (
        "rec*******8000",
        "rec*******8000.wav",
        {"certificate": "IDNO**************002X"},
    )
    assert masked.turns[1].text == "我的身份证IDNO**************002X，手机ph*******5678"
    assert not any(raw in masked.model_dump_json() for raw in RAW)
    assert masked.recording == f"rec{PHONE}.wav"  # read where it is, in this run


def _stored(url: str) -> str:
    """Every stored conversation's and result's columns, as text."""
    store = Store(url, migrate=False)
    with store.engine.connect() as connection:
        rows = [
            *connection.execute(text("SELECT id, CAST(data AS TEXT), search_text, source FROM conversations")),
            *connection.execute(text("SELECT CAST(data AS TEXT), CAST(final_data AS TEXT) FROM results")),
        ]
    store.close()
    assert rows
    return json.dumps([list(row) for row in rows], ensure_ascii=False, default=str)


def test_the_probes_conversation_is_stored_and_said_masked(db_url, tmp_path):
    """conversations.id, data, search_text and results held the numbers; the terminal said 录音跳过 rec1380….wav."""
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(PROBE, ensure_ascii=False) + "\n", encoding="utf-8")
    outcome = CliRunner().invoke(app, ["analyze", str(path), "--no-models", "--db", db_url, "--format", "json"])
    assert outcome.exit_code == 0, (outcome.stdout, outcome.stderr, outcome.exception)
    said = outcome.stdout + outcome.stderr
    assert "录音跳过" in said and "rec*******8000.wav" in said
    assert not any(raw in said for raw in RAW)
    stored = _stored(db_url)
    assert "rec*******8000" in stored and "IDNO**************002X" in stored and "ph*******5678" in stored
    assert not any(raw in stored for raw in RAW)


def test_remask_masks_a_database_stored_before(db_url, tmp_path):
    """A database that stored the probe's numbers in clear is masked by `zuoxi db remask`; a second run changes
    nothing."""
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(PROBE, ensure_ascii=False) + "\n", encoding="utf-8")
    outcome = CliRunner().invoke(
        app, ["analyze", str(path), "--no-models", "--no-mask", "--db", db_url, "--format", "json"]
    )
    assert outcome.exit_code == 0, (outcome.stdout, outcome.stderr, outcome.exception)
    assert PHONE in _stored(db_url)
    for _ in range(2):
        run = CliRunner().invoke(app, ["db", "remask", "--db", db_url])
        assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    stored = _stored(db_url)
    assert "rec*******8000" in stored and not any(raw in stored for raw in RAW)
    assert "已改写 0 个值" in run.stdout
