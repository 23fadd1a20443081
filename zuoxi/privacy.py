"""PII masking, applied before anything is stored or printed.

The last four digits survive (agents legitimately verify 卡号后四位). A number counts as PII only
when it is one whole token (or ends one after letters: see below) and passes its check (Luhn for a bank card; for
an ID number its check digit, or else a real region and birth date — a mistyped ID is still someone's): digits inside
an order or waybill number, or after 订单号/运单号, are left alone. Numbers are found as people and speech recognition write them: full-width,
grouped by spaces, tabs, dashes or brackets (`138 001 38000`, `(138)00138000`, `110105-19491231-002X`,
`13800 138000`, `+86 10 8888 6666`), one digit at a time (`1 3 8 0 0 1 3 8 0 0 0`), with zero-width characters
anywhere in them, and in spoken digits (`一三八零零一三八零零零`, 幺 for 1, 〇 for 0; the call-center words 两 2, 洞 0,
拐 7, 勾 9 only in a run that has other digits; 叉 or 艾克斯 for an ID number's X).

A comma (`138，0013，8000`, as speech recognition puts one at a pause) or a line break between groups is also how a
list of numbers is written (`价格 158，1299，2999`), and so is a price with its range in brackets (`1799（1999-200）`)
or two groups of three or more (`13800 138000`): such groups are one number only when it is read out in spoken digits,
follows a phone word (电话, 手机号…), is dialled with +86 or 0086, or has a group that starts with 0 (no quantity
does); an ID number so split only with a real region and birth date, a card only in groups of four with a card
scheme's prefix. A number one speaker's consecutive turns split (`电话是138 0013` / `8000`: speech recognition ends a
turn at a pause) is masked in each part (`mask_turns`): the turns are read joined by a line break, and each keeps its
own text.

An e-mail address has a local part glued before its @ (ASCII, full-width or Chinese: `张三@qq.com`) and a dotted
domain (`user@例子.中国`): a Weibo @mention (`@中国电信客服`) has neither.

An id (a conversation's, an agent's, a team's: `mask_id`) is a system's key, often a long number (a Weibo post is
16 digits): there a number that passes Luhn is a card only with a card scheme's prefix and length, and 18 digits
an ID number only with a real region and birth date, so that ids are not rewritten as cards at random. In an id, a
metadata value and a file name an underscore ends a number (call_13812345678_20261102); in a text it does for a mobile
number (tb_13812345678) but after a code's word (ORDERID_13912345678).

A number glued to letters (rec13800138000, IDNO11010519491231002X, ph13912345678, x6222020000000007: a key's, a
file's or a field's name, or a word for what follows) is personal data as an id's is, whole and checked: one run that
ends the token and is a mobile number, an ID number with a real region and birth date, or a card with Luhn and a
scheme's prefix and length. Letters that make a code keep it — capitals of two or more (SF…, JD…, DD…, TS…: couriers',
shops' and makers' codes are written so), a code's word in any case (order, sku, sn, a courier's sf or jd, a Weibo
post's mid or wb), an order word before them (单号dd…) — but capitals that name personal data (ID, IDNO, TEL, WX…)
do not. Models (iPhone13, GTX1060, i7-8750H) and most codes are no such number at all.

Some numbers are personal data only where a word names them (`_NAMED`): a local number without its 区号, Taiwan's and
Hong Kong's phones, a 15-digit ID number of before 1999, Hong Kong's and Taiwan's ID cards, a passport, a QQ number;
a phone dialled with +852, +853 or +886 needs none. An e-mail address is also found as typed or spoken loosely after a
mail word (邮箱 zhangsan 艾特 qq 点 com). A card that runs on into the next number (卡号 6222…3650 12月) is cut where
it ends; a long number a few words after 订单号 (ending 是 or a colon), or after IMEI/串号, is left alone.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any

from zuoxi.model import Conversation

# Digits may be full-width (１３８…), as Chinese input methods type them: `\d` matches both, and
# int() reads both, so the checks below work unchanged.
# A number begins at no letter, digit or underscore: one glued to letters is read apart (`_GLUED`).
# Nor four digits alone right after four stars (and a space): those are the digits a masked number kept
# (`*******5678-2026…`, as masking a masked text reads it), which begin no other number — a number typed after stars
# an export masked with (`张**** 13912345678`, `地址：****** 13812345678`) is one.
_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z_０-９Ａ-Ｚａ-ｚ])(?:(?<!\*\*\*\*)(?<!\*\*\*\* )|(?![0-9０-９]{4}(?![0-9０-９])))"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z_０-９Ａ-Ｚａ-ｚ])"
# Between the groups of a number: up to three blanks (space, tab, the no-break space of web text, the ideographic
# space), or one dash, dot, bracket, comma or line break with up to two blanks on each side — at most six
# characters, which the quick checks below count on. Zero-width characters are read as if absent (`_ops`).
_WS = " \t\u00a0\u3000"
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_DASHES = r"\-－.．—–"
_COMMAS = ",，"
_SLASHES = "/／、·・"  # 138/1234/5678, 138、1234、5678, 138·1234·5678: a list's marks, so vouched only (as a comma)


def _sep(marks: str, lines: bool) -> str:
    mark = f"[{marks}]|\\r?\\n" if lines else f"[{marks}]"
    return rf"(?:[{_WS}]{{0,2}}(?:{mark})[{_WS}]{{0,2}}|[{_WS}]{{1,3}})"


_SEP = _sep(_DASHES, lines=False)  # 138-1234-5678, 138 - 1234 - 5678, 138.1234.5678, 138—1234—5678, 138 1234 5678
_CARD_SEP = _sep(_DASHES + _SLASHES, lines=True)  # a line break: only in groups of four (`_bank_card`)
_ID_SEP = _sep(
    _DASHES + _COMMAS + _SLASHES, lines=True
)  # a comma or line break: only with a real region and date (`_id_card`)
_RUN_SEP = _sep(
    _DASHES + "()（）" + _COMMAS + _SLASHES, lines=True
)  # a comma or line break: only where vouched (`_phone_run`)
_LISTED = re.compile(rf"[{_COMMAS}{_SLASHES}\n]")  # how a list separates: groups so joined need more to be one number

# A mobile number right after "tel"/"phone"/"mobile" is one, though letters touch it (other letters make a code).
# After an underscore too (a nickname, tb_13812345678, or a key, call_13812345678_20261102), unless a code's word is
# before it (ORDERID_13912345678: `_phone`).
_AFTER_PHONE_WORD = (
    r"(?:(?<=[Tt][Ee][Ll])|(?<=[Pp][Hh][Oo][Nn][Ee])|(?<=[Mm][Oo][Bb][Ii][Ll][Ee])|(?<=_)|" + _NOT_ALNUM_BEFORE + ")"
)
_NOT_ALNUM_OR_UNDERSCORE_AFTER = r"(?![0-9A-Za-z０-９Ａ-Ｚａ-ｚ])"
# 18 characters, optionally separated where the fields meet: region (6), birth year, month, day, sequence (3), check
# (110105 19491231 002X, 110105-1949-1231-002X).
_ID_CARD = re.compile(
    _NOT_ALNUM_BEFORE
    + rf"[1-9１-９]\d{{5}}{_ID_SEP}?\d{{4}}{_ID_SEP}?\d{{2}}{_ID_SEP}?\d{{2}}{_ID_SEP}?\d{{3}}{_ID_SEP}?[\dXxＸｘ]"
    + _NOT_ALNUM_AFTER
)
_BANK_CARD = re.compile(_NOT_ALNUM_BEFORE + rf"\d(?:{_CARD_SEP}?\d){{14,18}}" + _NOT_ALNUM_AFTER)
_MOBILE = re.compile(
    "(?=[+＋8８1１])"
    + _AFTER_PHONE_WORD
    + rf"(?:[+＋]?[8８][6６]{_SEP}?)?[1１][3-9３-９]\d{_SEP}?\d{{4}}{_SEP}?\d{{4}}"
    + _NOT_ALNUM_OR_UNDERSCORE_AFTER
)
_LANDLINE = re.compile(
    "(?=[(（0０])"
    + _NOT_ALNUM_BEFORE
    + rf"(?:[(（][0０]\d{{2,3}}[)）]|[0０]\d{{2,3}}){_SEP}?[1-9１-９]\d{{6,7}}"
    + _NOT_ALNUM_AFTER
)
# Numbers only a word before them says are personal data (a bare one is often an order's fragment, an amount, a
# code): a phone after 电话/手机 words — Taiwan's (0912-345-678, (02)2345-6789, 02-2345-6789) and a local number
# without its 区号 (电话是62345678, 座机 6234 5678, 香港電話 9123 4567: eight digits, after a phone word but 手机,
# which a price follows as often); a 15-digit ID number of before 1999, Hong Kong's (A123456(7)) and Taiwan's
# (A123456789) after an ID word; a passport's (E12345678) after 护照; a QQ number after QQ. A phone dialled with
# Hong Kong's, Macau's or Taiwan's code (+852 6123 4567, +886 912 345 678) needs no word.
_FILL = r"(?:号码|號碼|号|號|字号|字號)?(?:是|为|為)?[:：\s]{0,3}"
_N_SEP = rf"(?:{_SEP})?"
_NAMED = re.compile(
    "(?=[电電手座固聯联身护護Qq])"  # the first characters of its words: the search skips to them
    + r"(?:(?:电话|電話|手机|手機|座机|座機|固话|固話|聯絡方式|联系方式|聯繫方式)"
    + _FILL
    + rf"(?P<n>[0０][9９]\d{{2}}{_N_SEP}\d{{3}}{_N_SEP}\d{{3}}"  # 0912-345-678
    + rf"|(?:[(（][0０]\d{{1,3}}[)）]{_N_SEP}|[0０][2-8２-８]\d{{0,2}}{_SEP})[2-9２-９]\d{{2,3}}{_N_SEP}\d{{4}})"
    + r"|(?:电话|電話|座机|座機|固话|固話)"
    + _FILL
    + rf"(?P<local>[2-9２-９]\d{{3}}{_N_SEP}\d{{4}})"  # 62345678, 6234 5678, 8888-6666
    + r"|(?:身份证|身份證|身分证|身分證)"
    + _FILL
    + r"(?:(?P<old_id>[1-9１-９]\d{14})|(?P<hk_id>[A-Za-z]{1,2}\d{6}[(（]?[\dAa][)）]?|[A-Za-z][12]\d{8}))"
    + r"|(?:护照|護照)"
    + _FILL
    + r"(?P<passport>[A-Za-z]{1,2}\d{7,8})"
    + r"|(?<![A-Za-z])(?:QQ|qq)"
    + _FILL
    + r"(?!(?:800|400)\d{6,7}(?!\d))(?P<qq>[1-9１-９]\d{6,10})"  # an enterprise QQ (800…, 400…) is a company's
    + r")"
    + _NOT_ALNUM_AFTER
)
_ABROAD_PHONE = re.compile(
    "(?=[(（+＋])" + rf"(?:[(（][{_WS}]*)?[+＋](?:(?:852|853)[)）]?{_N_SEP}\d{{4}}{_N_SEP}\d{{4}}"
    rf"|886[)）]?{_N_SEP}(?:[0０]?[9９]\d{{2}}{_N_SEP}\d{{3}}{_N_SEP}\d{{3}}"
    rf"|[(（]?[0０]?[2-8２-８]\d?[)）]?{_N_SEP}\d{{3,4}}{_N_SEP}\d{{4}}))" + _NOT_ALNUM_AFTER
)
# Groups of digits joined by a separator or a bracket, a + or ( before them: (138)00138000, 138 001 38000,
# 1 3 8 0 0 1 3 8 0 0 0, 0086 138 0013 8000, 010 8888 6666; `_phone_run` finds the phone numbers among the groups.
# Only a run that starts with ten of its characters is read (a phone number has ten digits or more): most are short.
_DIGIT_RUN = re.compile(
    _NOT_ALNUM_BEFORE
    + rf"(?=[\d+＋(（)）{_WS}{_DASHES}{_COMMAS}{_SLASHES}\r\n]{{10}})(?:[+＋]|[(（][{_WS}]*[+＋]?)?\d+(?:{_RUN_SEP}\d+)*"
)
_PLUS = re.compile(rf"[(（]?[{_WS}]*[+＋]")
_DIGITS = re.compile(r"\d+")
_ALNUM = re.compile(r"[0-9A-Za-z_０-９Ａ-Ｚａ-ｚ]")
_MOBILE_DIGITS = re.compile(r"1[3-9]\d{9}")
# 区号 010, 02x (three digits) or 0[3-9]xx (four), then a local number of 7 or 8 digits that does not start with 0;
# after +86 the 区号 goes without its 0 (+86 10 8888 6666).
_LANDLINE_DIGITS = re.compile(r"0(?:10|2\d|[3-9]\d\d)[1-9]\d{6,7}")
_ABROAD_LANDLINE_DIGITS = re.compile(r"(?:10|2\d|[3-9]\d\d)[1-9]\d{6,7}")
_AREA_CODE = re.compile(r"0(?:10|2\d|[3-9]\d\d)")
_ABROAD_AREA_CODE = re.compile(r"10|2\d|[3-9]\d\d")
_COUNTRY_CODES = ("0086", "86")
_PHONE_LENGTHS = (16, 15, 14, 13, 12, 11, 10)  # longest first: 0086 or +86 and a number, a mobile, a landline
_PHONE_START = re.compile(r"1[3-9]|0|86")
# Words after which groups joined as a list joins them are a phone number (手机号是138，1234，5678).
_PHONE_WORD = re.compile(
    r"(?:电话|電話|手机|手機|号码|號碼|联系方式|聯繫方式|致电|致電|拨打|撥打|打给|座机|座機|固话|热线|熱線"
    r"|[Tt][Ee][Ll]|[Pp]hone|PHONE|[Mm]obile|MOBILE)[号號码碼是为為:：\s]{0,4}$"
)
# Spoken digits, as speech recognition writes a number read out one digit at a time (幺 is how 1 is read in numbers).
# 两 (2), 洞 (0), 拐 (7) and 勾 (9) are how call centers read digits too, but are words as well: they are read as
# digits only in a run that has another digit (`_read`). An ID number's X is said 叉 or 艾克斯.
_SPOKEN_DIGITS = "零〇○一二三四五六七八九幺"
_CAPITAL_DIGITS = "壹贰貳叁參肆伍陆陸柒捌玖"  # 大写数字, as a number is typed to get past a filter
_WEAK_DIGITS = "两洞拐勾"
_SPOKEN_X = "叉艾爱埃"
_SPOKEN_ANY = _SPOKEN_DIGITS + _CAPITAL_DIGITS + _WEAK_DIGITS + _SPOKEN_X
_READ_SPOKEN = str.maketrans(_SPOKEN_DIGITS + _CAPITAL_DIGITS + "叉", "0001234567891" + "122334566789" + "X")
_READ_WEAK = str.maketrans(_WEAK_DIGITS, "2079")
_WEAK_RUN = re.compile(rf"[\d{_WEAK_DIGITS}](?:[{_WS}{_COMMAS}\-－]?[\d{_WEAK_DIGITS}])*")
_X_WORD = re.compile("[艾爱埃]克斯")
_SPOKEN = re.compile(f"[{_SPOKEN_ANY}]")
# Words after which a number is a business identifier, not personal data: an order's, a waybill's, a phone's IMEI
# (15 digits that pass Luhn by design). Right before the number (订单号是：…, 订单号码是…, IMEI …), or, for a long
# number (a card's or an ID's length), a few words before it with none that asks for personal data between
# (您的订单号我查一下，是 2026…, ending 是, 为 or a colon; not 订单的卡号是 6222…).
_ORDER_WORDS = (
    r"(?:订单|訂單|單號|单号|运单|運單|快递单|快遞單|物流单|物流單|工单|工單|编号|編號|流水号|流水號|批次"
    r"|IMEI|imei|Imei|MEID|meid|串号|串號)"
)
_ORDER_CONTEXT = re.compile(_ORDER_WORDS + r"[号號]?[码碼]?(?:是|为|為)?[:：\s]*$")
_ORDER_NEARBY = re.compile(_ORDER_WORDS + r"[号號]?(?P<between>[^\d\n。！？!?]{0,10}(?:是|为|為|[:：])\s*)$")
_PII_WORD = re.compile(
    r"卡|电话|電話|手机|手機|身份|身分|证件|證件|邮箱|郵箱|座机|座機|固话|固話|账|帳|联系|聯繫|聯絡|护照|護照|[Qq]{2}"
    r"|银行|銀行|退款|退到|付款|支付|尾号|尾號"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# An e-mail address: a local part glued before the @ (＠ too) — a run of ASCII or full-width mail characters, or else
# of Chinese ones (张三@qq.com) after the last word that says what follows (邮箱是…, 发到…) — and a dotted domain,
# its labels ASCII, full-width or Chinese, its top level letters or a Chinese one (.中国, .公司…). Found from each @:
# the local part read backwards, so each character is read once however long a run of them is (40,000 digits
# before an @ took 7 s when a pattern was tried from each of them; a 200,000-digit field hung an import).
_HAN = "\u3400-\u4dbf\u4e00-\u9fff"
_MAIL_CHAR = r"A-Za-z0-9._%+\-Ａ-Ｚａ-ｚ０-９．＿％＋－"
_AT = re.compile("[@＠]")
_LOCAL_BEFORE = re.compile(rf"[{_MAIL_CHAR}]|(?P<han>[{_HAN}])")
_LOCAL_REVERSED = {False: re.compile(rf"[{_MAIL_CHAR}]+"), True: re.compile(rf"[{_HAN}]+")}
_LOCAL_LEAD = re.compile(
    r".*[是为為到给給至往和与與或及跟的在从從请請了过過吗嗎呢吧啊哦箱件址号號发發寄用写寫填留改换換成:：]", re.DOTALL
)
_HAN_TLD = (
    "中国|中國|公司|网络|網絡|在线|在線|香港|台湾|台灣|澳门|澳門|集团|集團|商城|网站|網站|网店|企业|手机|信息|移动"
)
_DOMAIN_CHAR = rf"A-Za-z0-9.\-Ａ-Ｚａ-ｚ０-９．－{_HAN}"
# A Chinese name before the @ and a Chinese domain: the top level not glued to more Chinese (感谢@某客服.中国联通…).
_DOMAIN = {
    False: re.compile(rf"[{_DOMAIN_CHAR}]+[.．](?:[A-Za-zＡ-Ｚａ-ｚ]{{2,}}|{_HAN_TLD})"),
    True: re.compile(rf"[{_DOMAIN_CHAR}]+[.．](?:[A-Za-zＡ-Ｚａ-ｚ]{{2,}}|(?:{_HAN_TLD})(?![{_HAN}]))"),
}


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


def _in_order_context(text: str, start: int, nearby: bool = False) -> bool:
    if _ORDER_CONTEXT.search(text, max(0, start - 12), start):
        return True
    if not nearby:
        return False
    near = _ORDER_NEARBY.search(text, max(0, start - 20), start)
    return bool(near and not _PII_WORD.search(near.group("between")))


# Every number pattern above needs seven digits with at most six other characters between neighbours (a separator;
# a local number alone has seven in a row), an e-mail its @: most texts have neither.
_MAYBE_PII = re.compile(r"\d(?:\D{0,6}\d){6}")
_ZERO_WIDTH_CHAR = re.compile(f"[{_ZERO_WIDTH}]")
# The same where a digit is spoken: the first spoken one of a number has six digits after it, or else a written
# digit at most six characters before it (the search skips to spoken digits; lookbehinds count the digit itself).
_ANY_DIGIT = rf"\d{_SPOKEN_ANY}"
_WRITTEN_BEFORE = "|".join(rf"(?<=\d.{{{n}}})" for n in range(1, 8))
_MAYBE_SPOKEN = re.compile(
    rf"[{_SPOKEN_ANY}](?:(?:[^{_ANY_DIGIT}]{{0,6}}[{_ANY_DIGIT}]){{6}}|{_WRITTEN_BEFORE})", re.DOTALL
)

# A number found: its span, and whether it is masked as a card (**** **** **** 1234) or digit by digit.
_Found = tuple[int, int, bool]


def _id_card(m: re.Match[str], label: bool, spoken: bool) -> Iterator[_Found]:
    number = re.sub(r"[^\dXxＸｘ]", "", m.group())
    if _in_order_context(m.string, m.start(), nearby=True):
        return
    listed = bool(_LISTED.search(m.group()))
    if looks_like_id_number(number) or (not label and not listed and valid_id_number(number)):
        yield m.start(), m.end(), False


def _a_card(groups: list[str], seps: list[str], label: bool, cut: bool) -> bool:
    """Whether digit groups (and the separators between them) are a bank card: Luhn, a card scheme's prefix and
    length in an id or where they were cut from a longer run (`_bank_card`); across lines or joined as a list is
    (138/…, 、) only as cards are printed, in groups of four, and with a scheme's prefix."""
    digits = "".join(groups)
    if not luhn_ok(digits) or ((label or cut) and not card_scheme_ok(digits)):
        return False
    if any(_LISTED.search(sep) for sep in seps):
        return all(len(g) == 4 for g in groups[:-1]) and 3 <= len(groups[-1]) <= 4 and card_scheme_ok(digits)
    return True


# A card's word just before its number: one mistyped (its check digit wrong: 卡号6222 0212 3456 7890 123) with a card
# scheme's prefix and length is still most of the customer's card (an ID number mistyped is masked too).
_CARD_WORD = re.compile(r"(卡号|银行卡|信用卡|储蓄卡|借记卡|銀行卡|信用卡|卡號|(?i:card))[^\d]{0,6}$")


def _bank_card(m: re.Match[str], label: bool, spoken: bool) -> Iterator[_Found]:
    """A card, or where the run is not one, the longest card among its groups: a run that goes on into the next
    number (卡号 6222…3650 12月3号, 卡号6222 7788 6501 3650 3号) is no card, its first groups are — as one group
    or in groups of four, with a card scheme's prefix. A few words after an order's word only what is no card
    (Luhn and a scheme's prefix and length) is the order's number."""
    found = list(_DIGITS.finditer(m.string, m.start(), m.end()))
    groups = [_ascii(g.group()) for g in found]
    if _in_order_context(m.string, m.start()) or (
        _in_order_context(m.string, m.start(), nearby=True)
        and not (luhn_ok("".join(groups)) and card_scheme_ok("".join(groups)))
    ):
        return
    seps = [m.string[a.end() : b.start()] for a, b in pairwise(found)]
    if _a_card(groups, seps, label, cut=False):
        yield m.start(), m.end(), True
        return
    ends = list(accumulate(map(len, groups)))
    cuts = [
        (i, j)
        for i in range(len(groups))
        for j in range(len(groups) - 1, i - 1, -1)
        if (i, j) != (0, len(groups) - 1) and 15 <= ends[j] - ends[i] + len(groups[i]) <= 19
    ]
    for i, j in sorted(cuts, key=lambda c: (ends[c[0]] - ends[c[1]] - len(groups[c[0]]), c[0])):
        if (i == j or all(len(g) == 4 for g in groups[i:j])) and _a_card(groups[i : j + 1], seps[i:j], label, True):
            if i == 0 or not _in_order_context(m.string, found[i].start(), nearby=True):
                yield found[i].start(), found[j].end(), True
            return
    if label or not _CARD_WORD.search(m.string, max(0, m.start() - 12), m.start()):
        return
    for j in range(len(groups) - 1, -1, -1):  # a mistyped card: the longest leading run printed as cards are
        shaped = j == 0 or (all(len(g) == 4 for g in groups[:j]) and len(groups[j]) <= 4)
        if shaped and card_scheme_ok("".join(groups[: j + 1])):
            yield m.start(), found[j].end(), True
            return


# A code's word before an underscore: ORDERID_13912345678 is an order, tb_13812345678 a nickname.
_CODE_BEFORE_UNDERSCORE = re.compile(
    r"(?i:order|ord|sku|sn|no|num|txn|trade|trans|bill|waybill|tracking|serial|invoice|ticket|case|imei|batch)"
    r"(?i:id|no|num)?_$"
)


def _phone(m: re.Match[str], label: bool, spoken: bool) -> Iterator[_Found]:
    start = m.start()
    if start and m.string[start - 1] == "_" and _CODE_BEFORE_UNDERSCORE.search(m.string, max(0, start - 12), start):
        return
    if not _in_order_context(m.string, start):
        yield start, m.end(), False


# A number glued to letters (rec13800138000, IDNO11010519491231002X, ph13912345678, x6222020000000007): the letters
# are a key's or a file's naming, or a word for what follows. Its digits are read only in one run that ends the token
# (no letter, digit or, in a text, underscore after it) and only as what checks out whole: a mobile number, an ID
# number with a real region and birth date, a card with Luhn and a scheme's prefix and length.
_GLUED = re.compile(
    r"(?<![0-9A-Za-z_０-９Ａ-Ｚａ-ｚ])(?P<letters>[A-Za-zＡ-Ｚａ-ｚ]+)(?P<number>\d{11,19}[XxＸｘ]?)" + _NOT_ALNUM_AFTER
)
# Letters that make the number a code's: capitals of two or more (SF, JD, DD, ABC, GTX, TS…: couriers', shops' and
# makers' codes are written so), or a code's word in any case — an order's or a serial's, a courier's, a Weibo post's.
_GLUED_CODE = re.compile(
    r"(?:order|ord|sku|sn|no|num|txn|trade|trans|bill|waybill|tracking|serial|invoice|ticket|case|imei|batch"
    r"|sf|jd|jdv|yt|yto|zto|sto|yd|jt|ems|dd|weibo|wb|mid)(?:id|no|num)?"
)
# Letters that name personal data, in capitals too (ID, IDNO, TEL, WX…): the number after them is never a code's.
_GLUED_PII = re.compile(
    r"tel|phone|mobile|mob|cell|ph|id|idno|idcard|sfz|sfzh|card|cardno|bankcard|wx|vx|wechat|weixin"
)


def _glued(m: re.Match[str], label: bool, spoken: bool) -> Iterator[_Found]:
    """A number glued to letters (`_GLUED`): personal data only whole and checked, and after no code's letters, as
    ids are read (`mask_id`), so that a code's digits are not masked at random."""
    letters = unicodedata.normalize("NFKC", m.group("letters"))
    word = letters.lower()
    if not _GLUED_PII.fullmatch(word) and (_GLUED_CODE.fullmatch(word) or (len(letters) > 1 and letters.isupper())):
        return
    if _in_order_context(m.string, m.start(), nearby=True):  # 单号dd13812345678
        return
    number, (start, end) = _ascii(m.group("number")), m.span("number")
    if _MOBILE_DIGITS.fullmatch(number) or (len(number) == 18 and looks_like_id_number(number)):
        yield start, end, False
    elif number.isdecimal() and len(number) >= 15 and luhn_ok(number) and card_scheme_ok(number):
        yield start, end, True


def _named(m: re.Match[str], label: bool, spoken: bool) -> Iterator[_Found]:
    """The number a word names (`_NAMED`), checked where it has a check (`_old_id_ok`)."""
    name = m.lastgroup
    assert name is not None
    start, end = m.span(name)
    if name == "old_id" and not _old_id_ok(_ascii(m.group(name))):
        return
    if not _in_order_context(m.string, start):
        yield start, end, False


def _old_id_ok(number: str) -> bool:
    """A 15-digit ID number (issued before 1999): a province of GB/T 2260, a city part not 00, a birth date yymmdd
    of the 1900s that is a real day."""
    if int(number[:2]) not in _ID_PROVINCES or number[2:4] == "00":
        return False
    try:
        date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))
    except ValueError:
        return False
    return True


_BRACKETS = frozenset("()（）")
_CLOSING = frozenset(")）")


def _grouped(sizes: list[int], seps: list[str]) -> bool | None:
    """How digit groups are grouped for a mobile number: as people group one (False) — one group, one digit a group
    with the same separator throughout, 3-4-4 (138 0013 8000), or 3-8 and 7-4 as `_MOBILE` reads them (138 00138000),
    a bracket only closing the first group ((138)0013 8000), and any other first group of 3 or 4 then groups of three
    or more (139 123 45678, 1380 013 8000: a phone is personal data, so a price list grouped so is masked too); as a
    list of numbers could be too (True: one only where vouched, `_longest_phone`) — those with a bracket elsewhere
    (1799（1999-200）: a price and the range it came from), two groups of three or more (13800 138000), a first group
    of 3 or 4 then one digit a group (138 0 0 1 3 8 0 0 0); or not at all (None)."""
    if len(sizes) == 1 or (max(sizes) == 1 and len(set(seps)) == 1):
        return False
    rest = sizes[1:]
    bracketed = any(_BRACKETS.intersection(sep) for sep in seps[1:]) or bool(_BRACKETS.intersection(seps[0]) - _CLOSING)
    if sizes in ([3, 4, 4], [3, 8], [7, 4]) and not bracketed:
        return False
    if sizes[0] in (3, 4) and min(rest) >= 3:
        return bracketed  # 139 123 45678 or 1380 013 8000 is masked unvouched, a price list grouped so too (a phone
        # is personal data, a price is not); a bracket mid-run, a price and its range (1799（1999-200）), is not
    if len(sizes) == 2 and min(sizes) >= 3:
        return True
    if sizes[0] in (3, 4) and max(rest) == 1 and len(set(seps[1:])) == 1:
        return True
    return None


def _a_phone(groups: list[str], seps: list[str], plus: bool) -> bool | None:
    """Whether digit groups (and the separators between them) are one phone number as people group one: a mobile
    number (after 86 or 0086, perhaps), or a landline with its 区号 (after +86 or 0086 with it or without its 0); in
    one group, one digit a group with the same separator throughout, or grouped (`_grouped`; a landline's first
    group its 区号, the others three or more). None where they are not, True where they are one only if vouched
    (`_grouped`: a mobile number dialled with +86 or 0086 is vouched by it), False where they are."""
    digits = "".join(groups)
    abroad = dialled = False
    for code in _COUNTRY_CODES:
        if digits.startswith(code) and len(groups[0]) >= len(code) and len(digits) >= len(code) + 10:
            rest, by_code = digits[len(code) :], plus or code == "0086"
            if not (
                _MOBILE_DIGITS.fullmatch(rest)
                or (by_code and (_LANDLINE_DIGITS.fullmatch(rest) or _ABROAD_LANDLINE_DIGITS.fullmatch(rest)))
            ):
                continue
            head = groups[0][len(code) :]
            groups, seps = ([head, *groups[1:]], seps) if head else (groups[1:], seps[1:])
            digits, abroad, dialled = rest, rest[0] != "0", by_code
            break
    sizes = [len(g) for g in groups]
    if _MOBILE_DIGITS.fullmatch(digits):
        grouped = _grouped(sizes, seps)
        return grouped and not dialled  # after +86 or 0086 it is a phone number however grouped
    if not (_ABROAD_LANDLINE_DIGITS if abroad else _LANDLINE_DIGITS).fullmatch(digits):
        return None
    if len(groups) == 1 or (max(sizes) == 1 and len(set(seps)) == 1):
        return False
    local = len(digits) - sizes[0]
    area = _ABROAD_AREA_CODE if abroad else _AREA_CODE
    grouped = area.fullmatch(groups[0]) and digits[sizes[0]] != "0" and 7 <= local <= 8 and min(sizes[1:]) >= 3
    return False if grouped else None


def _phone_run(m: re.Match[str], label: bool, spoken: bool) -> Iterator[_Found]:
    """The phone numbers among a run of digit groups: from each group on, the longest that is one (`_a_phone`)."""
    if len(m.group()) < 10 or _in_order_context(m.string, m.start()):
        return
    found = list(_DIGITS.finditer(m.string, m.start(), m.end()))
    groups = [_ascii(g.group()) for g in found]
    seps = [m.string[a.end() : b.start()] for a, b in pairwise(found)]
    last = len(groups) - 1 if _ALNUM.match(m.string, m.end()) else None  # a code's letters glued to the last group
    digits, ends = "".join(groups), list(accumulate(map(len, groups)))  # ends[j]: the digits up to group j's end
    plus = bool(_PLUS.match(m.group()))
    i = 0
    while i < len(groups):
        start = m.start() if i == 0 else found[i].start()
        vouched = spoken or bool(_PHONE_WORD.search(m.string, max(0, start - 12), start))
        end = _longest_phone(groups, seps, digits, ends, i, last, plus and i == 0, vouched)
        if end is None:
            i += 1
            continue
        if not _in_order_context(m.string, start):
            yield start, found[end].end(), False
        i = end + 1


def _longest_phone(
    groups: list[str],
    seps: list[str],
    digits: str,
    ends: list[int],
    i: int,
    last: int | None,
    plus: bool,
    vouched: bool,
) -> int | None:
    """The last group of the longest phone number that starts at group i, if one does (a number read one digit a
    group is tried at seven lengths, not at every group up to sixteen digits). Groups joined as a list joins them
    (a comma, a line break) or grouped as a list could be (`_grouped`) are one only where `vouched` (spoken, after a
    phone word) or where a group starts with 0, as no quantity does."""
    begin = ends[i] - len(groups[i])
    if not _PHONE_START.match(digits, begin):
        return None
    for length in _PHONE_LENGTHS:
        j = bisect_left(ends, begin + length, i)
        if j >= len(ends) or ends[j] != begin + length or j == last:
            continue
        unusual = _a_phone(groups[i : j + 1], seps[i:j], plus)
        if unusual is None:
            continue
        listed = unusual or any(_LISTED.search(sep) for sep in seps[i:j])
        if listed and not vouched and not any(g[0] == "0" for g in groups[i : j + 1]):
            continue
        return j
    return None


_Find = Callable[[re.Match[str], bool, bool], Iterator[_Found]]
_NUMBERS: tuple[tuple[re.Pattern[str], _Find], ...] = (
    (_ID_CARD, _id_card),
    (_BANK_CARD, _bank_card),
    (_MOBILE, _phone),
    (_LANDLINE, _phone),
    (_NAMED, _named),
    (_ABROAD_PHONE, _phone),
    (_DIGIT_RUN, _phone_run),
    (_GLUED, _glued),
)

_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWYZabcdefghijklmnopqrstuvwyz")  # X is an ID number's digit
# What masking does, character by character: a character at an index it has is replaced by that text (often "").
_Ops = dict[int, str]


def _mark(ops: _Ops, read: str, start: int, end: int, card: bool) -> None:
    """A number masked in `ops`: its digits (as `read` reads them) hidden but the last four, which stay as written;
    its separators dropped, a line break kept (a number across lines or turns keeps them apart). A card reads
    **** **** **** 1234 (digit by digit where it crosses a line)."""
    digits = [i for i in range(start, end) if read[i].isdecimal() or read[i] in "XxＸｘ"]
    for i in range(start, end):
        if read[i] not in "\r\n":
            ops[i] = ""
    hidden = digits[:-4]
    for i in hidden:
        ops[i] = "*"
    for i in range(start, end):
        if read[i] in _LETTERS and i not in digits:  # a Hong Kong or Taiwan ID's, a passport's letters
            ops[i] = "*"
    for i in digits[-4:]:
        del ops[i]
    if card and hidden and not any(read[i] == "\n" for i in range(start, end)):
        ops[hidden[0]] = "**** **** **** "
        for i in hidden[1:]:
            ops[i] = ""


def _email_ops(text: str, ops: _Ops, spans: list[tuple[int, int]]) -> None:
    """E-mail addresses masked in `ops` to their local part's first character (z***@example.com, ＠ as @)."""
    reversed_text, last = "", 0
    for at in _AT.finditer(text):
        p = at.start()
        before = _LOCAL_BEFORE.match(text, p - 1) if p > last else None
        if before is None:
            continue
        han = before.group("han") is not None
        reversed_text = reversed_text or text[::-1]
        local = _LOCAL_REVERSED[han].match(reversed_text, len(text) - p)
        assert local is not None  # the character before the @ is one of its
        start = max(last, p - len(local.group()))
        if han and (lead := _LOCAL_LEAD.match(text, start, p)):  # 邮箱是张三@…: the address begins after 是
            start = lead.end()
        domain = _DOMAIN[han].match(text, p + 1) if start < p else None
        if domain is None:
            continue
        ops.update(dict.fromkeys(range(start + 1, p), ""))
        if p - start > 1:
            ops[start + 1] = "***"
        if p - start == 1 or text[p] != "@":
            ops[p] = "@" if p - start > 1 else "***@"
        spans.append((start, domain.end()))
        last = domain.end()


# An e-mail address as an input method or speech recognition writes it: its @ said 艾特 or set apart by blanks, its
# dots typed 。 or a comma or said 点 (zhangsan 艾特 qq 点 com, zhangsan@qq。com): after a mail word (邮箱…), and
# a common top-level domain; without a word only glued, with written dots (zhangsan艾特qq.com). Found from each @
# or 艾特, the local part and domain read within a bounded window, so long runs stay linear.
_LOOSE_AT = re.compile("[@＠]|艾特")
_LOOSE_LOCAL_REVERSED = re.compile(r"[A-Za-z0-9._%+\-]{1,64}")
_LOOSE_DOT = r"[ \t]*(?:[.．。,，]|点|點)[ \t]*"
_TLD = r"(?:com|cn|net|org|edu|gov|hk|tw|mo|io|cc|me|info|biz|top|vip)"
_LOOSE_DOMAIN = {
    True: re.compile(
        rf"[ \t]*[A-Za-z0-9\-]{{1,63}}(?:{_LOOSE_DOT}[A-Za-z0-9\-]{{1,63}})*?{_LOOSE_DOT}{_TLD}(?![A-Za-z0-9])"
    ),
    False: re.compile(rf"[A-Za-z0-9\-]{{1,63}}(?:[.．][A-Za-z0-9\-]{{1,63}})*?[.．]{_TLD}(?![A-Za-z0-9])"),
}
_MAIL_WORD = re.compile(
    r"(?:邮箱|郵箱|邮件|郵件|[Ee]-?[Mm]ail|EMAIL|E-MAIL|[Mm]ail|MAIL)(?:地址)?(?:是|为|為)?[:：\s]{0,3}$"
)


def _loose_email_ops(text: str, ops: _Ops, spans: list[tuple[int, int]]) -> None:
    """E-mail addresses written loosely (`_LOOSE_AT`) masked in `ops` as `_email_ops` masks them (z***@qq 点 com)."""
    last = 0
    for at in _LOOSE_AT.finditer(text):
        p = at.start()
        if p < last or p in ops or p - 1 in ops:  # an address `_email_ops` masked
            continue
        before = p
        while before > last and text[before - 1] in " \t":
            before -= 1
        window = text[max(last, before - 64) : before][::-1]
        local = _LOOSE_LOCAL_REVERSED.match(window)
        if local is None:
            continue
        start = before - len(local.group())
        worded = bool(_MAIL_WORD.search(text, max(0, start - 12), start))
        glued = before == p and at.group() == "艾特"
        if not (worded or glued) or (start and _ALNUM.match(text, start - 1)):
            continue
        domain = _LOOSE_DOMAIN[worded].match(text, at.end(), min(len(text), at.end() + 200))
        if domain is None:
            continue
        ops.update(dict.fromkeys(range(start + 1, at.end()), ""))
        ops[start + 1] = "***@"
        for i in range(at.end(), domain.end()):
            if text[i] in " \t":
                ops[i] = ""
        spans.append((start, domain.end()))
        last = domain.end()


def _worked(text: str, ops: _Ops, spans: list[tuple[int, int]]) -> str:
    """The text as the next pattern reads it: each masked character a *, so that no pattern finds a number in a
    masked one; the digits a number keeps are kept, so a later pattern reads them as a masked text shows them."""
    pieces, at = [], 0
    for start, end in sorted(spans):
        pieces += [text[at:start], "".join("*" if i in ops else text[i] for i in range(start, end))]
        at = end
    return "".join(pieces) + text[at:]


def _read(text: str) -> str:
    """The text with its spoken digits read as digits, character for character: 两洞拐勾 where the run they are in
    has another digit, 叉 and the 艾 of 艾克斯 as X."""
    read = text.translate(_READ_SPOKEN)
    if any(c in read for c in _WEAK_DIGITS):
        read = _WEAK_RUN.sub(
            lambda m: m.group().translate(_READ_WEAK) if re.search(r"\d", m.group()) else m.group(), read
        )
    if "克斯" in read:
        read = _X_WORD.sub(lambda m: "X" + m.group()[1:], read)
    return read


def _plain_ops(text: str, label: bool, split: bool) -> tuple[_Ops, list[tuple[int, int]]]:
    """What masking changes in a text without zero-width characters, and the spans of what it masked. Where `split`
    (an id, a value, a file name) an underscore ends a number as a space does (call_13812345678_20261102): the
    numbers are looked for with each read as an unprinted blank (\\x1f, that joins no number's groups)."""
    ops: _Ops = {}
    spans: list[tuple[int, int]] = []
    if "@" in text or "＠" in text or "艾特" in text:
        _email_ops(text, ops, spans)
        _loose_email_ops(text, ops, spans)
        text = _worked(text, ops, spans)
    if split:
        text = text.replace("_", "\x1f")
    if _MAYBE_PII.search(text):
        for pattern, find in _NUMBERS:
            found = [f for m in pattern.finditer(text) for f in find(m, label, False)]
            for start, end, card in found:
                _mark(ops, text, start, end, card)
            if found:
                spans += [(s, e) for s, e, _ in found]
                text = _worked(text, ops, [(s, e) for s, e, _ in found])
    if _MAYBE_SPOKEN.search(text):
        _spoken_ops(text, label, ops, spans)
    return ops, spans


def _spoken_ops(text: str, label: bool, ops: _Ops, spans: list[tuple[int, int]]) -> None:
    """Numbers with a spoken digit in them, found as the written ones are, in the text with its spoken digits read
    as digits (`_read`); the four digits kept are kept as they were said (*******八零零零)."""
    read = _read(text)
    for pattern, find in _NUMBERS:
        found = [
            (start, end, card)
            for m in pattern.finditer(read)
            for start, end, card in find(m, label, True)
            if _SPOKEN.search(text, start, end)
        ]
        for start, end, card in found:
            _mark(ops, read, start, end, card)
        if found:
            spans += [(s, e) for s, e, _ in found]
            text = _worked(text, ops, [(s, e) for s, e, _ in found])
            read = _worked(read, ops, [(s, e) for s, e, _ in found])


def _ops(text: str, label: bool, split: bool = False) -> _Ops:
    """What masking changes in a text, character by character. Zero-width characters (typed to keep a number from
    being found, or left by copying) are read as if absent, and go with the number they are in."""
    if not _ZERO_WIDTH_CHAR.search(text):
        return _plain_ops(text, label, split)[0]
    kept = [i for i, c in enumerate(text) if c not in _ZERO_WIDTH]
    ops, spans = _plain_ops("".join(text[i] for i in kept), label, split)
    moved = {kept[i]: change for i, change in ops.items()}
    for start, end in spans:
        moved.update((i, "") for i in range(kept[start], kept[end - 1]) if text[i] in _ZERO_WIDTH)
    return moved


def _apply(text: str, ops: _Ops, changed: list[int], start: int, end: int) -> str:
    """text[start:end] with `ops` applied (`changed`: the indexes of `ops`, in order)."""
    pieces, at = [], start
    for i in changed[bisect_left(changed, start) : bisect_left(changed, end)]:
        pieces += [text[at:i], ops[i]]
        at = i + 1
    return "".join(pieces) + text[at:end]


_ROUNDS = 3  # what a masked text shows, masked again: a few rounds reach the fixed point of all but made-up texts


def _mask_parts(texts: Sequence[str], label: bool, split: bool = False) -> list[str]:
    """Texts masked as one, joined by a line break (which a number may cross as a listed separator: `_longest_phone`),
    each given back with what falls in it: a number across two of them masked in both parts, each keeping its own
    characters otherwise. Masked again while that changes something (the four digits a number keeps, read with the
    digits after them, may be another), so that masking a masked text changes nothing."""
    parts = list(texts)
    for _ in range(_ROUNDS):
        joined = "\n".join(parts)
        ops = _ops(joined, label, split)
        if not ops:
            break
        masked, at, changed = [], 0, sorted(ops)
        for text in parts:
            masked.append(_apply(joined, ops, changed, at, at + len(text)))
            at += len(text) + 1
        if masked == parts:
            break
        parts = masked
    return parts


def _mask(text: str, label: bool, split: bool = False) -> str:
    if not _may_hold_pii(text):  # most turns: none of what `_plain_ops` looks for, so nothing to work out
        return text
    return _mask_parts([text], label, split)[0]


def _may_hold_pii(text: str) -> bool:
    """Whether `_ops` could change anything in `text`: it holds an @, seven digits close together, a spoken digit
    near a written one or a run of them, or a zero-width character (which may stand between any two digits)."""
    return bool(
        "@" in text
        or "＠" in text
        or "艾特" in text
        or _MAYBE_PII.search(text)
        or _MAYBE_SPOKEN.search(text)
        or _ZERO_WIDTH_CHAR.search(text)
    )


def mask_text(text: str) -> str:
    """A text with its phone numbers, ID numbers, bank cards and e-mail addresses masked."""
    return _mask(text, label=False)


def mask_id(text: str) -> str:
    """An id, an agent id or a team as stored: masked as a text is (`mask_text`), except that a number passing Luhn
    is masked as a card only with a card scheme's prefix and length (`card_scheme_ok`), and 18 digits as an ID
    number only with a real region and birth date (`looks_like_id_number`): an id is often a long number, and one
    in ten passes Luhn. What it masks it masks as `mask_text` does, so an id typed raw finds the masked one."""
    return _mask(text, label=True, split=True)


# What may stand between a number's part that ends one turn and the part that begins the next.
_SEAM = _WS + _ZERO_WIDTH + _DASHES.replace("\\", "") + _COMMAS + "()（）\r\n"
_SEAM_END = frozenset(_SPOKEN_DIGITS + _WEAK_DIGITS)
_SEAM_BEGIN = frozenset(_SPOKEN_ANY + "XxＸｘ")


def _continues(before: str, after: str) -> bool:
    """Whether a number may run on from the end of one turn into the next: a digit (written, spoken, an X) ends the
    one and begins the other, but for separators."""
    end, begin = before.rstrip(_SEAM)[-1:], after.lstrip(_SEAM)[:1]
    return bool(end and begin) and (end.isdecimal() or end in _SEAM_END) and (begin.isdecimal() or begin in _SEAM_BEGIN)


def mask_turns(turns: Sequence[tuple[object, str]]) -> list[str]:
    """The texts of a conversation's turns, given as (speaker, text), masked: each as `mask_text` masks it, and a
    number that one speaker's consecutive turns split (speech recognition ends a turn at a pause: `电话是138 0013`,
    then `8000`) masked in every part — those turns read as one text, lines joined (`_mask_parts`). Only turns
    where a digit ends one and begins the next are read together, so the time stays linear in the text."""
    masked: list[str] = []
    i = 0
    while i < len(turns):
        j = i
        while j + 1 < len(turns) and turns[j + 1][0] == turns[i][0] and _continues(turns[j][1], turns[j + 1][1]):
            j += 1
        if j == i:
            masked.append(mask_text(turns[i][1]))
        else:
            masked += _mask_parts([text for _, text in turns[i : j + 1]], label=False)
        i = j + 1
    return masked


def mask_continued(before: Sequence[str], text: str) -> str:
    """`text` masked as the next turn of a speaker whose turns right before it (theirs alone, none of another's
    between, oldest first, as stored) are `before`: a number begun there and ended here (`电话是138 0013`, then
    `8000`) is masked in this turn's part. What `before` holds of it is as it was stored: a caller that keeps turns
    as they come (live assist) masks that part only when it masks the whole conversation again (`mask_turns`)."""
    chain: list[str] = []
    after = text
    for earlier in reversed(before[-4:]):  # a number spans a few turns at most
        if not _continues(earlier, after):
            break
        chain.insert(0, earlier)
        after = earlier
    return _mask_parts([*chain, text], label=False)[-1] if chain else mask_text(text)


def masked_name(path: Path | str) -> str:
    """A file's path as stored and reported: its name masked like a conversation (exports and call lists are
    often named by a customer's number), each part between underscores on its own (`13912345678_名单.csv`, where
    in a text an underscore joins a number into a code); its folders keep theirs (recordings are looked up beside
    the file). A stored path may be given as text (`zuoxi db remask`), `file:line` too."""
    folder, slash, name = str(path).rpartition("/")
    return folder + slash + _mask(name, label=False, split=True)


def mask_value(value: Any) -> Any:
    """A metadata value with personal data masked: strings, and numbers that read as one (a phone stored as
    an integer), inside lists and mappings too, their keys included (an export keyed by phone number). The same
    object when nothing changed."""
    if isinstance(value, str):
        return _mask(value, label=False, split=True)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e20:  # 13812345678.0, as pandas reads a
        value = int(value)  # phone column with a blank cell (and 1.3812345678e10 as JSON may write it)
        masked = mask_text(str(value))
        return float(value) if masked == str(value) else masked
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
    """The conversation with personal data masked — its turns (`mask_turns`: a number one speaker's consecutive turns
    split is masked in each), and every field a file sets (id, agent, team,
    recording name, metadata): a call list or a recording is often named by the caller's number; the id, agent and
    team as ids are (`mask_id`). The same
    object when there is none. A recording whose name was masked is still read from its real path in this
    run (`Conversation.recording`), but what is stored names it masked."""
    texts = mask_turns([(t.role, t.text) for t in conversation.turns])
    turns = [
        t if masked == t.text else t.model_copy(update={"text": masked}) for t, masked in zip(conversation.turns, texts)
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
