"""Normalization: one matching form for Simplified and Traditional, full- and half-width text.

The matching form has exactly the length of the original, character for character, so a hit at
[start, end) in the normalized text is evidence at [start, end) in the original that users read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import opencc

from zuoxi.model import Conversation

_T2S = opencc.OpenCC("t2s")
_TW2SP = opencc.OpenCC("tw2sp")  # Taiwan wording too: 軟體→软件, 網路→网络, 滑鼠→鼠标
# Variants OpenCC keeps because they are also valid Simplified, but that mean the same to a rule.
_EXTRA = str.maketrans({"妳": "你", "祢": "你", "壹": "一", "著": "着", "裏": "里", "喫": "吃"})
_SENTENCE_END = re.compile(r"[。！？!?；;…\n]+")
_CLAUSE_END = re.compile(r"[。！？!?；;…\n,，、:：~～]+")
_SPACES = re.compile(r"[ \t\u3000\xa0]+")


def clean_whitespace(text: str) -> str:
    """Display cleanup applied at ingest: trims and collapses runs of spaces, keeps line breaks."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


# Full-width ASCII (！ＡＢ１２) and the ideographic space fold to half-width, letters to lower case:
# all 1:1 (str.lower() is not: "İ" becomes two characters).
_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_FOLD = {k: chr(v).lower() for k, v in _WIDTH.items()} | {c: chr(c).lower() for c in range(ord("A"), ord("Z") + 1)}


def replacer(table: dict[str, str]) -> Callable[[str], str]:
    """A function replacing every character that is a key of `table` by its value, by one regex
    scan: on Chinese text, where few characters change, ~10× faster than str.translate."""
    pattern = re.compile("[" + "".join(map(re.escape, table)) + "]")
    return lambda text: pattern.sub(lambda m: table[m.group()], text)


JOIN = "\ue000"  # a private-use character: OpenCC, the folding tables, NFKC and lower() keep it


def at_once(texts: list[str], convert: Callable[[str], str]) -> list[str] | None:
    """`convert` of every text from one call on all of them (a conversation's turns), joined by
    JOIN and split again; None where that cannot be faithful (fewer than two texts, a text holding
    JOIN, or a conversion that merged or made joints)."""
    if len(texts) < 2 or any(JOIN in t for t in texts):
        return None
    parts = convert(JOIN.join(texts)).split(JOIN)
    return parts if len(parts) == len(texts) else None


_fold = replacer({chr(c): chr(c).translate(_EXTRA).translate(_FOLD) for c in (*_EXTRA, *_FOLD)})  # _EXTRA, then _FOLD


def simplify(text: str) -> str:
    """Traditional→Simplified, preserving length. Traditional text also has its Taiwan wording converted
    (軟體→软件, 網路→网络) where that keeps the length; Simplified text never does: there 程序 is a program,
    which Taiwan wording would make 进程."""
    simplified = _T2S.convert(text)
    if simplified != text:
        taiwan = _TW2SP.convert(text)
        if len(taiwan) == len(text):
            return taiwan
    if len(simplified) != len(text):  # phrase conversions that change length: go char by char
        simplified = "".join(_T2S.convert(ch) if len(_T2S.convert(ch)) == 1 else ch for ch in text)
    return simplified


def normalize_text(text: str) -> str:
    """Traditional→Simplified (`simplify`), width folding and ASCII lower case, preserving length."""
    return _fold(simplify(text))


# Masking placeholders and emoji codes of real exports ([数字x], [ORDERID_…], #E-s[数字x], [姓名x], Weibo's
# [呵呵]) and @mentions stand for a number, a name, an emoji or an addressee, not for their words: in the
# matching form of a turn each becomes one symbol, padded to its length with U+2060 (WORD JOINER: not a
# word character, not a space, in no word list), so no rule reads 数字 or 订单编号 as words, an order
# card is no request, an emoji-only turn is no suggestion, and evidence spans still point into the original.
PAD = "\u2060"
# An @mention: "@" not inside an e-mail address, then the account name up to a separator.
_MENTION_PATTERN = r"(?<![0-9a-z_.\-])@[^\s@,:.!?;()\[\]'\"，。！？：；、]{1,24}(?=[\s@,:.!?;，。！？：；、]|$)"
_MENTION = re.compile(_MENTION_PATTERN)
_PLACEHOLDER = re.compile(
    r"(?P<emoji>#e-s\[数字x\])"
    r"|(?P<number>\[orderid_\d+\]|\[(?:数字|金额|时间|日期|电话|身份证号|手机号|订单号|订单编号|价保金额|价保商品数量)[^\[\]]{0,6}\])"
    r"|(?P<name>\[[^\[\]\s]{1,8}x\]|\[(?:商品快照|链接|图片|表情)\])"
    r"|(?P<emoticon>\[[\u4e00-\u9fff]{1,5}\])"
    r"|(?P<mention>" + _MENTION_PATTERN + ")"
)
_SYMBOL = {"emoji": "☺", "emoticon": "☺", "number": "0", "name": "◇", "mention": "◇"}


def _symbol(match: re.Match[str]) -> str:
    return PAD * (match.end() - match.start() - 1) + _SYMBOL[str(match.lastgroup)]


def mark_placeholders(norm: str) -> str:
    """The matching form with placeholders, emoji codes and mentions as symbols (same length)."""
    return _PLACEHOLDER.sub(_symbol, norm) if ("[" in norm or "@" in norm) else norm


def mentions(text: str) -> list[tuple[int, int, str]]:
    """[start, end) and the account name (normalized, without "@") of each @mention in `text`: whom a
    public post tags, which the matching form hides (it pads every mention so that names never match words)."""
    if "@" not in text:
        return []
    return [(m.start(), m.end(), m.group()[1:]) for m in _MENTION.finditer(normalize_text(text))]


def normalize_turn(text: str) -> str:
    """The matching form of a turn's text: `normalize_text` with placeholders marked."""
    return mark_placeholders(normalize_text(text))


def visible_length(norm: str) -> int:
    """Characters as a reader counts them: a placeholder is one."""
    return len(norm) - norm.count(PAD)


def content_length(norm: str) -> int:
    """Letters, digits and placeholders (a number, an order id) of a matching form: what a line says, without
    its punctuation, spaces and emoji."""
    return sum(ch.isalnum() for ch in norm)


def normalize_texts(texts: list[str]) -> list[str]:
    """`normalize_turn` of every text, converting all of them (a conversation's turns) in one
    OpenCC call: the same result for less time."""
    parts = at_once(texts, _T2S.convert)
    if parts is None:
        return [normalize_turn(t) for t in texts]
    # a text the conversion left alone is Simplified already; a Traditional one gets its Taiwan wording too
    return [mark_placeholders(_fold(p)) if p == t else normalize_turn(t) for p, t in zip(parts, texts)]


def normalize_pattern(pattern: str) -> str:
    """The matching form of a regular expression: like `normalize_text` but without lower-casing,
    which would turn \\S into \\s (patterns are compiled case-insensitively instead)."""
    return _T2S.convert(pattern).translate(_EXTRA).translate(_WIDTH)


def split_spans(text: str, pattern: re.Pattern[str] = _SENTENCE_END) -> list[tuple[int, int]]:
    """[start, end) spans of the sentences (or clauses) of `text`, punctuation included."""
    spans, start = [], 0
    for match in pattern.finditer(text):
        if match.end() > start and text[start : match.start()].strip():
            spans.append((start, match.end()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


@dataclass
class PreparedTurn:
    index: int
    role: str
    text: str
    norm: str
    start: float | None
    end: float | None

    @cached_property
    def sentences(self) -> list[tuple[int, int]]:
        return split_spans(self.norm)

    @cached_property
    def clauses(self) -> list[tuple[int, int]]:
        return split_spans(self.norm, _CLAUSE_END)


@dataclass
class Prepared:
    """A conversation ready for analysis: the original plus per-turn matching forms."""

    conversation: Conversation
    turns: list[PreparedTurn]

    @property
    def has_times(self) -> bool:
        return all(t.start is not None for t in self.turns)

    def role_turns(self, role: str | None) -> list[PreparedTurn]:
        return [t for t in self.turns if role is None or t.role == role]


def prepare(conversation: Conversation) -> Prepared:
    turns = []
    norms = normalize_texts([turn.text for turn in conversation.turns])
    for i, (turn, norm) in enumerate(zip(conversation.turns, norms)):
        turns.append(
            PreparedTurn(
                index=i,
                role=turn.role,
                text=turn.text,
                norm=norm,
                start=turn.start,
                end=turn.end,
            )
        )
    return Prepared(conversation=conversation, turns=turns)
