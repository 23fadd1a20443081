"""PII masking, applied before anything is stored or printed.

The last four digits survive (agents legitimately verify 卡号后四位). A number counts as PII only
when it is one whole token and passes its check (Luhn for a bank card; for an ID number its check digit, or else
a real region and birth date — a mistyped ID is still someone's): digits inside an order or waybill number, or
after 订单号/运单号, are left alone.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

from zuoxi.model import Conversation

# Digits may be full-width (１３８…), as Chinese input methods type them: `\d` matches both, and
# int() reads both, so the checks below work unchanged.
_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z_０-９Ａ-Ｚａ-ｚ])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z_０-９Ａ-Ｚａ-ｚ])"
_SEP = r"(?:[ 　]*[\-－.．—–][ 　]*|[ 　])"  # 138-1234-5678, 138 - 1234 - 5678, 138.1234.5678, 138—1234—5678, 138 1234 5678
# A mobile number right after "tel"/"phone"/"mobile" is one, though letters touch it (other letters make a code).
_AFTER_PHONE_WORD = (
    r"(?:(?<=[Tt][Ee][Ll])|(?<=[Pp][Hh][Oo][Nn][Ee])|(?<=[Mm][Oo][Bb][Ii][Ll][Ee])|" + _NOT_ALNUM_BEFORE + ")"
)
# A full-width ＠ as IMEs type it. Only from the start of a run of its characters: tried from every digit of a long
# number, the pattern read the whole run each time (40,000 digits took 7 s; a 200,000-digit field hung an import).
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+[@＠][A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_ID_CARD = re.compile(_NOT_ALNUM_BEFORE + r"[1-9１-９]\d{16}[\dXxＸｘ]" + _NOT_ALNUM_AFTER)
_BANK_CARD = re.compile(_NOT_ALNUM_BEFORE + rf"\d(?:{_SEP}?\d){{14,18}}" + _NOT_ALNUM_AFTER)
_MOBILE = re.compile(
    _AFTER_PHONE_WORD + rf"(?:[+＋]?[8８][6６]{_SEP}?)?[1１][3-9３-９]\d{_SEP}?\d{{4}}{_SEP}?\d{{4}}" + _NOT_ALNUM_AFTER
)
_LANDLINE = re.compile(
    _NOT_ALNUM_BEFORE + rf"(?:[(（][0０]\d{{2,3}}[)）]|[0０]\d{{2,3}}){_SEP}?[1-9１-９]\d{{6,7}}" + _NOT_ALNUM_AFTER
)
# Words after which a number is a business identifier, not personal data.
_ORDER_CONTEXT = re.compile(
    r"(订单|訂單|單號|单号|运单|運單|快递单|快遞單|物流单|物流單|工单|工單|编号|編號|流水号|流水號|批次)[号號]?[:：\s]*$"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


# GB/T 2260 province codes (the first two digits): 11 北京 … 65 新疆, 71 台湾, 81 香港, 82 澳门, 83 港澳台居民居住证.
_ID_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54}
    | {61, 62, 63, 64, 65, 71, 81, 82, 83}
)
_ID_FIRST_YEAR = 1900  # the oldest birth year an ID number is read with


def valid_id_number(number: str) -> bool:
    """GB 11643 check digit of an 18-digit resident ID."""
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == unicodedata.normalize("NFKC", number[17]).upper()


def looks_like_id_number(number: str) -> bool:
    """An 18-character ID number whose check digit is wrong (a typo) but that is still read as one: a province
    code of GB/T 2260 and a city part that is not 00 (that is the province's own code, no person's), and a birth
    date (YYYYMMDD) that is a real day from 1900 to today. An order or serial number seldom has both (one that
    starts with a year, 2026…, has no province 20)."""
    digits = unicodedata.normalize("NFKC", number[:17])
    if int(digits[:2]) not in _ID_PROVINCES or digits[2:4] == "00":
        return False
    try:
        born = date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
    except ValueError:
        return False
    return born.year >= _ID_FIRST_YEAR and born <= date.today()


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _keep_last4(digits: str) -> str:
    return "*" * (len(digits) - 4) + digits[-4:]


def _in_order_context(text: str, start: int) -> bool:
    return bool(_ORDER_CONTEXT.search(text[max(0, start - 8) : start]))


# Every pattern above needs the @ of an e-mail, or seven digits with at most three other characters
# between neighbours (" - " in a spaced phone number; a local number alone has seven in a row): most texts have neither.
_MAYBE_PII = re.compile(r"[@＠]|\d(?:\D{0,3}\d){6}")


def mask_text(text: str) -> str:
    if not _MAYBE_PII.search(text):
        return text

    def email(m: re.Match[str]) -> str:
        local, domain = re.split("[@＠]", m.group(), maxsplit=1)
        return local[:1] + "***@" + domain

    def id_card(m: re.Match[str]) -> str:
        if _in_order_context(m.string, m.start()):
            return m.group()
        if not (valid_id_number(m.group()) or looks_like_id_number(m.group())):
            return m.group()
        return _keep_last4(m.group())

    def bank_card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group())
        if _in_order_context(m.string, m.start()) or not luhn_ok(digits):
            return m.group()
        return "**** **** **** " + digits[-4:]

    def phone(m: re.Match[str]) -> str:
        if _in_order_context(m.string, m.start()):
            return m.group()
        return _keep_last4(re.sub(r"\D", "", m.group()))

    text = _EMAIL.sub(email, text)
    text = _ID_CARD.sub(id_card, text)
    text = _BANK_CARD.sub(bank_card, text)
    text = _MOBILE.sub(phone, text)
    return _LANDLINE.sub(phone, text)


def masked_name(path: Path | str) -> str:
    """A file's path as stored and reported: its name masked like a conversation (exports and call lists are
    often named by a customer's number), each part between underscores on its own (`13912345678_名单.csv`, where
    in a text an underscore joins a number into a code); its folders keep theirs (recordings are looked up beside
    the file). A stored path may be given as text (`zuoxi db remask`), `file:line` too."""
    folder, slash, name = str(path).rpartition("/")
    return folder + slash + "_".join(mask_text(part) for part in name.split("_"))


def mask_value(value: Any) -> Any:
    """A metadata value with personal data masked: strings, and numbers that read as one (a phone stored as
    an integer), inside lists and mappings too, their keys included (an export keyed by phone number). The same
    object when nothing changed."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        masked = mask_text(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, dict):
        items = [(mask_value(k), mask_value(v)) for k, v in value.items()]
        unchanged = all(mk is k and mv is v for (mk, mv), (k, v) in zip(items, value.items()))
        return value if unchanged else dict(items)
    if isinstance(value, list):
        masked_items = [mask_value(v) for v in value]
        return value if all(m is v for m, v in zip(masked_items, value)) else masked_items
    return value


def mask_conversation(conversation: Conversation) -> Conversation:
    """The conversation with personal data masked — its turns, and every field a file sets (id, agent, team,
    recording name, metadata): a call list or a recording is often named by the caller's number. The same
    object when there is none. A recording whose name was masked is still read from its real path in this
    run (`Conversation.recording`), but what is stored names it masked."""
    turns = [
        t if (masked := mask_text(t.text)) == t.text else t.model_copy(update={"text": masked})
        for t in conversation.turns
    ]
    fields = {
        name: masked
        for name in ("id", "agent_id", "team", "audio", "meta")
        if (masked := mask_value(value := getattr(conversation, name))) is not value and masked != value
    }
    if not fields and all(new is old for new, old in zip(turns, conversation.turns)):
        return conversation
    masked_conversation = conversation.model_copy(update={"turns": turns, **fields})
    if "audio" in fields:
        masked_conversation._recording = conversation.recording
    return masked_conversation
