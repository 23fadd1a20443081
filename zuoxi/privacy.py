"""PII masking, applied before anything is stored or printed.

The last four digits survive (agents legitimately verify 卡号后四位). A number counts as PII only
when it is one whole token and passes its check (Luhn for a bank card; for an ID number its check digit, or else
a real region and birth date — a mistyped ID is still someone's): digits inside an order or waybill number, or
after 订单号/运单号, are left alone. Numbers are found as people and speech recognition write them: full-width,
grouped by spaces, dashes or brackets (`138 001 38000`, `(138)00138000`, `110105-19491231-002X`), one digit at a
time (`1 3 8 0 0 1 3 8 0 0 0`), and in spoken digits (`一三八零零一三八零零零`, 幺 for 1, 〇 for 0).

An id (a conversation's, an agent's, a team's: `mask_id`) is a system's key, often a long number (a Weibo post is
16 digits): there a number that passes Luhn is a card only with a card scheme's prefix and length, and 18 digits
an ID number only with a real region and birth date, so that ids are not rewritten as cards at random.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterator
from datetime import date
from itertools import accumulate, pairwise
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
# An address in ASCII or full-width (ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ), as IMEs type it. Only from the start of a run
# of its characters: tried from every digit of a long number, the pattern read the whole run each time (40,000 digits
# took 7 s; a 200,000-digit field hung an import).
_MAIL_CHAR = r"A-Za-z0-9._%+\-Ａ-Ｚａ-ｚ０-９．＿％＋－"
_EMAIL = re.compile(
    rf"(?<![{_MAIL_CHAR}])[{_MAIL_CHAR}]+[@＠][A-Za-z0-9.\-Ａ-Ｚａ-ｚ０-９．－]+[.．][A-Za-zＡ-Ｚａ-ｚ]{{2,}}"
)
# 18 characters, optionally separated where the fields meet: region (6), birth year, month, day, sequence (3), check
# (110105 19491231 002X, 110105-1949-1231-002X).
_ID_CARD = re.compile(
    _NOT_ALNUM_BEFORE
    + rf"[1-9１-９]\d{{5}}{_SEP}?\d{{4}}{_SEP}?\d{{2}}{_SEP}?\d{{2}}{_SEP}?\d{{3}}{_SEP}?[\dXxＸｘ]"
    + _NOT_ALNUM_AFTER
)
_BANK_CARD = re.compile(_NOT_ALNUM_BEFORE + rf"\d(?:{_SEP}?\d){{14,18}}" + _NOT_ALNUM_AFTER)
_MOBILE = re.compile(
    "(?=[+＋8８1１])"
    + _AFTER_PHONE_WORD
    + rf"(?:[+＋]?[8８][6６]{_SEP}?)?[1１][3-9３-９]\d{_SEP}?\d{{4}}{_SEP}?\d{{4}}"
    + _NOT_ALNUM_AFTER
)
_LANDLINE = re.compile(
    "(?=[(（0０])"
    + _NOT_ALNUM_BEFORE
    + rf"(?:[(（][0０]\d{{2,3}}[)）]|[0０]\d{{2,3}}){_SEP}?[1-9１-９]\d{{6,7}}"
    + _NOT_ALNUM_AFTER
)
# Groups of digits joined by a separator or a bracket, a + or ( before them: (138)00138000, 138 001 38000,
# 1 3 8 0 0 1 3 8 0 0 0, 0086 138 0013 8000, 010 8888 6666; `_phone_run` finds the phone numbers among the groups.
# Only a run that starts with ten of its characters is read (a phone number has ten digits or more): most are short.
_RUN_SEP = r"(?:[ 　]*[\-－.．—–()（）][ 　]*|[ 　])"
_DIGIT_RUN = re.compile(
    _NOT_ALNUM_BEFORE + rf"(?=[\d+＋(（)） 　\-－.．—–]{{10}})(?:[+＋]|[(（][ 　]*[+＋]?)?\d+(?:{_RUN_SEP}\d+)*"
)
_DIGITS = re.compile(r"\d+")
_ALNUM = re.compile(r"[0-9A-Za-z_０-９Ａ-Ｚａ-ｚ]")
_MOBILE_DIGITS = re.compile(r"1[3-9]\d{9}")
# 区号 010, 02x (three digits) or 0[3-9]xx (four), then a local number of 7 or 8 digits that does not start with 0.
_LANDLINE_DIGITS = re.compile(r"0(?:10|2\d|[3-9]\d\d)[1-9]\d{6,7}")
_AREA_CODE = re.compile(r"0(?:10|2\d|[3-9]\d\d)")
_COUNTRY_CODES = ("0086", "86")
_PHONE_LENGTHS = (15, 13, 12, 11, 10)  # longest first: 0086 or 86 and a mobile number, a mobile, a landline with 区号
_PHONE_START = re.compile(r"1[3-9]|0|86")
# Spoken digits, as speech recognition writes a number read out one digit at a time (幺 is how 1 is read in numbers).
_SPOKEN_DIGITS = "零〇○一二三四五六七八九幺"
_READ_SPOKEN = str.maketrans(_SPOKEN_DIGITS, "0001234567891")
_SPOKEN = re.compile(f"[{_SPOKEN_DIGITS}]")
_DIGIT_LIKE = re.compile(rf"[\dXxＸｘ{_SPOKEN_DIGITS}]")
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


def card_scheme_ok(digits: str) -> bool:
    """Whether a number has a payment card's prefix (IIN) and a length that scheme issues:
    UnionPay 62 and 81, Discover 6011/644–649/65, Maestro 50/56–69 and every other 5 and 6 (Chinese banks' own
    60xxxx, 69xxxx…), Chinese banks' domestic prefixes from before UnionPay (9558 工行, 95599 农行, 955100 邮储… every
    9; 浦发 84xxx/87xxx), at any length a card has; Visa 4 at 13, 16 or 19 digits; Mastercard 2221–2720 at 16;
    Mir 2200–2204 at 16–19; American Express 34/37 at 15; JCB 3528–3589 at 16–19; Diners Club 36 at 14–19 and
    300–305, 3095, 38, 39 at 16–19. Luhn is checked apart (`luhn_ok`)."""
    digits = _ascii(digits)
    first, n = digits[:1], len(digits)
    if first in ("5", "6", "9") or digits[:2] in ("81", "84", "87"):
        return True
    if first == "4":
        return n in (13, 16, 19)
    four = int(digits[:4]) if n >= 4 else 0
    if first == "2":
        return (2200 <= four <= 2204 and n >= 16) or (2221 <= four <= 2720 and n == 16)
    if first == "3":
        two = four // 100
        return (
            (two in (34, 37) and n == 15)
            or (3528 <= four <= 3589 and n >= 16)
            or (two == 36 and n >= 14)
            or ((300 <= four // 10 <= 305 or four == 3095 or two in (38, 39)) and n >= 16)
        )
    return False


def _ascii(digits: str) -> str:
    """Digits of any width (１３８) as ASCII; an X is kept."""
    return "".join(str(int(c)) if c.isdecimal() else c for c in digits)


def _keep_last4(digits: str) -> str:
    return "*" * (len(digits) - 4) + digits[-4:]


def _in_order_context(text: str, start: int) -> bool:
    return bool(_ORDER_CONTEXT.search(text[max(0, start - 8) : start]))


# Every pattern above needs the @ of an e-mail, or seven digits with at most three other characters
# between neighbours (" - " in a spaced phone number; a local number alone has seven in a row): most texts have neither.
_MAYBE_PII = re.compile(r"[@＠]|\d(?:\D{0,3}\d){6}")
# The same where a digit is spoken: the first spoken one of a number has six digits after it, or else a written
# digit at most three characters before it. Both begin with a spoken digit, which the search skips to.
_NOT_DIGIT = rf"[^\d{_SPOKEN_DIGITS}]"
_MAYBE_SPOKEN = re.compile(
    rf"[{_SPOKEN_DIGITS}](?:(?:{_NOT_DIGIT}{{0,3}}[\d{_SPOKEN_DIGITS}]){{6}}|(?<=\d.)|(?<=\d..)|(?<=\d...)|(?<=\d....))"
)

# A span of the text and what it becomes.
_Span = tuple[int, int, str]


def _id_card(m: re.Match[str], label: bool) -> Iterator[_Span]:
    number = re.sub(r"[^\dXxＸｘ]", "", m.group())
    if _in_order_context(m.string, m.start()):
        return
    if looks_like_id_number(number) or (not label and valid_id_number(number)):
        yield m.start(), m.end(), _keep_last4(number)


def _bank_card(m: re.Match[str], label: bool) -> Iterator[_Span]:
    digits = re.sub(r"\D", "", m.group())
    if _in_order_context(m.string, m.start()) or not luhn_ok(digits) or (label and not card_scheme_ok(digits)):
        return
    yield m.start(), m.end(), "**** **** **** " + digits[-4:]


def _phone(m: re.Match[str], label: bool) -> Iterator[_Span]:
    if not _in_order_context(m.string, m.start()):
        yield m.start(), m.end(), _keep_last4(re.sub(r"\D", "", m.group()))


def _a_phone(groups: list[str], seps: list[str]) -> bool:
    """Whether digit groups (and the separators between them) are one phone number as people group one: a mobile
    number (after 86 or 0086, perhaps), or a landline with its 区号; in one group, one digit a group with the same
    separator throughout, or groups of three or more digits (the first of a mobile number 3 or 4 long, of a
    landline its 区号)."""
    digits = "".join(groups)
    for code in _COUNTRY_CODES:
        if len(digits) == len(code) + 11 and digits.startswith(code) and len(groups[0]) >= len(code):
            rest = groups[0][len(code) :]
            groups, seps = ([rest, *groups[1:]], seps) if rest else (groups[1:], seps[1:])
            digits = digits[len(code) :]
            break
    sizes = [len(g) for g in groups]
    together = len(groups) == 1 or (max(sizes) == 1 and len(set(seps)) == 1)
    if _MOBILE_DIGITS.fullmatch(digits):
        return together or (sizes[0] in (3, 4) and min(sizes[1:]) >= 3)
    if not _LANDLINE_DIGITS.fullmatch(digits):
        return False
    if together:
        return True
    local = len(digits) - sizes[0]
    return bool(_AREA_CODE.fullmatch(groups[0])) and digits[sizes[0]] != "0" and 7 <= local <= 8 and min(sizes[1:]) >= 3


def _phone_run(m: re.Match[str], label: bool) -> Iterator[_Span]:
    """The phone numbers among a run of digit groups: from each group on, the longest that is one (`_a_phone`)."""
    if len(m.group()) < 10 or _in_order_context(m.string, m.start()):
        return
    found = list(_DIGITS.finditer(m.string, m.start(), m.end()))
    groups = [_ascii(g.group()) for g in found]
    seps = [m.string[a.end() : b.start()] for a, b in pairwise(found)]
    last = len(groups) - 1 if _ALNUM.match(m.string, m.end()) else None  # a code's letters glued to the last group
    digits, ends = "".join(groups), list(accumulate(map(len, groups)))  # ends[j]: the digits up to group j's end
    i = 0
    while i < len(groups):
        end = _longest_phone(groups, seps, digits, ends, i, last)
        if end is None:
            i += 1
            continue
        start = m.start() if i == 0 else found[i].start()
        if not _in_order_context(m.string, start):
            yield start, found[end].end(), _keep_last4("".join(g.group() for g in found[i : end + 1]))
        i = end + 1


def _longest_phone(
    groups: list[str], seps: list[str], digits: str, ends: list[int], i: int, last: int | None
) -> int | None:
    """The last group of the longest phone number that starts at group i, if one does (a number read one digit a
    group is tried at five lengths, not at every group up to fifteen digits)."""
    begin = ends[i] - len(groups[i])
    if not _PHONE_START.match(digits, begin):
        return None
    for length in _PHONE_LENGTHS:
        j = bisect_left(ends, begin + length, i)
        if j < len(ends) and ends[j] == begin + length and j != last and _a_phone(groups[i : j + 1], seps[i:j]):
            return j
    return None


_Find = Callable[[re.Match[str], bool], Iterator[_Span]]
_NUMBERS: tuple[tuple[re.Pattern[str], _Find], ...] = (
    (_ID_CARD, _id_card),
    (_BANK_CARD, _bank_card),
    (_MOBILE, _phone),
    (_LANDLINE, _phone),
    (_DIGIT_RUN, _phone_run),
)


def _email(m: re.Match[str]) -> str:
    local, domain = re.split("[@＠]", m.group(), maxsplit=1)
    return local[:1] + "***@" + domain


def _mask_numbers(text: str, label: bool) -> str:
    for pattern, find in _NUMBERS:
        spans = [span for m in pattern.finditer(text) for span in find(m, label)]
        if spans:
            text = _replaced(text, [(start, end, masked, masked) for start, end, masked in spans])
    return text


def _mask_spoken(text: str, label: bool) -> str:
    """Numbers with a spoken digit in them, found as `_mask_numbers` finds numbers, in the text with its spoken
    digits read as digits; the four digits kept are kept as they were written (*******八零零零)."""
    read = text.translate(_READ_SPOKEN)
    for pattern, find in _NUMBERS:
        spans = [
            (start, end, masked[:-4] + "".join(_DIGIT_LIKE.findall(text, start, end))[-4:], masked)
            for m in pattern.finditer(read)
            for start, end, masked in find(m, label)
            if _SPOKEN.search(text, start, end)
        ]
        if spans:
            text, read = _replaced(text, spans), _replaced(read, [(s, e, r, r) for s, e, _, r in spans])
    return text


def _replaced(text: str, spans: list[tuple[int, int, str, str]]) -> str:
    """The text with each (start, end) span replaced by its first text (spans in order, not overlapping)."""
    pieces, last = [], 0
    for start, end, masked, _ in spans:
        pieces += [text[last:start], masked]
        last = end
    return "".join(pieces) + text[last:]


def _mask(text: str, label: bool) -> str:
    if _MAYBE_PII.search(text):
        text = _mask_numbers(_EMAIL.sub(_email, text), label)
    if _MAYBE_SPOKEN.search(text):
        text = _mask_spoken(text, label)
    return text


def mask_text(text: str) -> str:
    """A text with its phone numbers, ID numbers, bank cards and e-mail addresses masked."""
    return _mask(text, label=False)


def mask_id(text: str) -> str:
    """An id, an agent id or a team as stored: masked as a text is (`mask_text`), except that a number passing Luhn
    is masked as a card only with a card scheme's prefix and length (`card_scheme_ok`), and 18 digits as an ID
    number only with a real region and birth date (`looks_like_id_number`): an id is often a long number, and one
    in ten passes Luhn. What it masks it masks as `mask_text` does, so an id typed raw finds the masked one."""
    return _mask(text, label=True)


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


def _masked_field(name: str, value: Any) -> Any:
    """An id, agent id or team as `mask_id` masks it, the recording's name and the metadata as `mask_value`."""
    return mask_id(value) if name in ("id", "agent_id", "team") and isinstance(value, str) else mask_value(value)


def mask_conversation(conversation: Conversation) -> Conversation:
    """The conversation with personal data masked — its turns, and every field a file sets (id, agent, team,
    recording name, metadata): a call list or a recording is often named by the caller's number; the id, agent and
    team as ids are (`mask_id`). The same
    object when there is none. A recording whose name was masked is still read from its real path in this
    run (`Conversation.recording`), but what is stored names it masked."""
    turns = [
        t if (masked := mask_text(t.text)) == t.text else t.model_copy(update={"text": masked})
        for t in conversation.turns
    ]
    fields = {
        name: masked
        for name in ("id", "agent_id", "team", "audio", "meta")
        if (masked := _masked_field(name, value := getattr(conversation, name))) is not value and masked != value
    }
    if not fields and all(new is old for new, old in zip(turns, conversation.turns)):
        return conversation
    masked_conversation = conversation.model_copy(update={"turns": turns, **fields})
    if "audio" in fields:
        masked_conversation._recording = conversation.recording
    return masked_conversation
