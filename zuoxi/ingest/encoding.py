"""Decode exported files whatever their encoding: UTF-8 (BOM or not), GB18030/GBK, Big5."""

from __future__ import annotations

import codecs
import functools
import re

from charset_normalizer import from_bytes

# Chinese exports are almost always one of these; trying them first avoids charset-normalizer
# guessing a Cyrillic or Latin code page for short files.
_PREFERRED = ("utf-8", "gb18030", "big5")


class UnknownEncoding(ValueError):
    pass


# Bytes that do not decode become this lone surrogate, which no valid decoding yields (the UTF-8 and
# UTF-16 codecs reject surrogates), so it marks exactly the bad bytes for line-based readers.
BAD_BYTES = "\udcff"


def _mark(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):  # registered for decoding only
        raise error
    return BAD_BYTES, error.end


codecs.register_error("zuoxi-mark", _mark)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # in binary files, not in text lines
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


CLEAN_SHARE = 10  # a file no one encoding reads is read line by line when one character in so many is in clean lines

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def text_lines(text: str) -> list[str]:
    """`text`'s lines, broken where an editor breaks them (LF, CRLF, CR) and nowhere else: `str.splitlines`
    also breaks at U+2028, U+0085, form feeds and more, which stand raw inside valid JSON strings and chat
    texts (a JSON line cut in two there, and every later line number off by one)."""
    lines = _LINE_BREAK.split(text)
    return lines[:-1] if lines[-1] == "" else lines


# A byte order mark that starts a line other than the first: where files were concatenated (`cat a.csv b.csv`, an
# export appended to another). It is no text; left in, it cost that line (JSON: "Unexpected UTF-8 BOM", a text log's
# `# id:` or speaker not found) or split a table's conversation in two (an id "\ufeffc1" beside "c1").
_LINE_BOM = re.compile("(?:^|(?<=\n)|(?<=\r))\ufeff+")


def _without_line_boms(text: str) -> str:
    return _LINE_BOM.sub("", text) if "\ufeff" in text else text


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Return (text, encoding name); raise `UnknownEncoding` when the bytes are not all text. A byte order mark at the
    start of a line (files concatenated) is dropped, as the one at the start of the file is."""
    text, encoding = _decoded(data)
    return _without_line_boms(text), encoding


def _decoded(data: bytes) -> tuple[str, str]:
    if declared := _bom_encoding(data):
        try:
            return data.decode(declared), declared
        except UnicodeDecodeError:
            raise UnknownEncoding(
                f"文件开头的字节顺序标记（BOM）表明是 {declared}，内容却不是有效的 {declared}"
            ) from None
    if found := _chinese(data):
        return found
    return _guessed(data)


def _chinese(data: bytes) -> tuple[str, str] | None:
    """The text in UTF-8, GB18030 or Big5, if it is valid in one of them."""
    candidates = []
    for encoding in _PREFERRED:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8":
            return text, encoding
        candidates.append((text, encoding))
    if len(candidates) == 2:
        # Bytes valid in both GB18030 and Big5: the reading of ordinary Chinese (`plausibility`), GB18030 on a tie
        # (a short text that reads as Chinese both ways: 好的 is 疑腔 in Big5), as mainland exports are. charset-normalizer
        # decided here before: it read one short GBK file in a hundred as Big5.
        gbk_score, big5_score = (-1.0 if (score := plausibility(text)) is None else score for text, _ in candidates)
        return candidates[big5_score > gbk_score]
    return candidates[0] if candidates else None


def _guessed(data: bytes) -> tuple[str, str]:
    best = from_bytes(data).best()
    if best is None:
        raise UnknownEncoding("认不出文字编码（不是 UTF-8、GB18030/GBK 或 Big5）")
    return str(best), best.encoding


def decode_lines(data: bytes) -> str:
    """The text of a line-based file (JSON Lines, text logs, CSV) whose lines are not all in one
    encoding: a file with lines pasted from another, or a cut character. Each line is UTF-8 when it is
    valid UTF-8 (no GBK or Big5 text happens to be), else GBK or Big5, whichever reads as ordinary
    Chinese (`plausibility`; most such lines of the file decide a tie); a line that neither reads as
    Chinese, or whose bytes do not decode, is marked with `BAD_BYTES`, so the reader reports that line
    and reads the others. When most lines do not decode so, the file is decoded whole, as
    `decode_bytes` does; a file in GBK or Big5 is read whole in its encoding, but for a line that reads
    as Chinese only in the other (a Big5 line pasted into a GBK file). Byte order marks at the start
    of lines are dropped (`decode_bytes`)."""
    return _without_line_boms(_decoded_lines(data))


def _decoded_lines(data: bytes) -> str:
    if declared := _bom_encoding(data):  # only the bad bytes are lost
        return data.decode(declared, "zuoxi-mark")
    found = _chinese(data)
    if found and found[1] == "utf-8":
        return found[0]
    lines = data.split(b"\n")
    if found and not _mostly_utf8(lines):  # GB18030 reads nearly any bytes: not the file when most lines are UTF-8
        if found[1] not in _LEGACY:  # charset-normalizer's pick among GB18030 and Big5, by another name
            return found[0]
        return "\n".join(
            line.decode("ascii") if line.isascii() else _legacy_line(line, found[1], utf8=True) for line in lines
        )
    legacy = [line for line in lines if not _is_text(line, "utf-8")]
    encoding = _most_read_in(legacy)
    text = [_decode_line(line, encoding) for line in lines]
    written = [line for line in text if line.strip()]
    clean = [line for line in written if BAD_BYTES not in line and not _CONTROL.search(line)]
    if 2 * len(clean) > len(written):
        return "\n".join(text)
    try:
        return _guessed(data)[0]
    except UnknownEncoding:
        # No one encoding reads the file, yet some of its lines are text: an export appended in UTF-16 to a UTF-8 one
        # (half its lines or more) cost the whole file, the UTF-8 conversations with it. Read it line by line, the
        # other lines reported; bytes with hardly any text in lines of their own (a binary file) stay one error.
        if CLEAN_SHARE * sum(map(len, clean)) >= sum(map(len, written)):
            return "\n".join(text)
        raise


def _mostly_utf8(lines: list[bytes]) -> bool:
    """Whether most lines that are not plain ASCII are valid UTF-8: a UTF-8 file with a line pasted from a GBK
    one, which the whole-file GB18030 reading would garble line by line."""
    wide = [line for line in lines if not line.isascii()]
    return 2 * sum(_is_text(line, "utf-8") for line in wide) > len(wide)


def _decode_line(line: bytes, legacy: str) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return _legacy_line(line, legacy, strict=True)


# --- GBK or Big5 -----------------------------------------------------------------------------------------------------
# Most byte pairs are valid in both, and each reads the other's text as characters: a Big5 line read as GBK is
# 硂琌羉砰и璶癶砯 for 這是繁體字，我要退貨. The reading a person wrote is the one of ordinary Chinese. Measured on 20,000
# real texts (reviews and JD customer-service turns from shared/data, as written and converted to Traditional with
# OpenCC): a Big5 text read as GBK has private-use characters in 99.5 % of cases (Big5's punctuation is GBK's
# user-defined area); a GBK text read as Big5 fails to decode in 40 %, and otherwise a median 36 % of its characters
# are common (below), against 99 % and more for a right reading; no right reading scored below a wrong one but one of
# 40,000, and ties are short texts (好的 is 疑腔 in Big5, two common characters).
_LEGACY = ("gb18030", "big5")
PLAUSIBLE = 0.5  # the share of common characters below which a reading of a line is no Chinese anyone wrote…
PLAUSIBLE_FROM = 4  # …when it has this many characters beyond ASCII at least (fewer tell nothing)
_PARTICLES = "嗯哦噢喔唔咯呗诶嘞"  # chat particles outside GB2312's first level (嗯 alone is a whole message)
_PUNCTUATION = "，。、；：？！“”‘’（）《》【】〈〉「」『』…—～·"
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
_NARROW = re.compile(r"[\x00-\x7f\s]+")
# What GBK's symbol rows are in Big5's eyes and Big5's in GBK's: kana, bopomofo (，read as Big5 is ㄛ), Greek,
# Cyrillic, box drawing, vertical and small forms (。 is ﹝). Rare in Chinese text, they count against a reading.
_MISREAD = re.compile("[\u0370-\u04ff\u2500-\u257f\u3040-\u312f\ufe30-\ufe6f]")


@functools.cache
def _common() -> frozenset[str]:
    """The characters of ordinary Chinese text: the 3,755 of GB2312's first level (the most used, in Simplified) and
    the chat particles, with their Traditional forms (OpenCC: Taiwan, Hong Kong), Chinese punctuation and the
    full-width forms of ASCII."""
    import opencc

    level_one = bytes(b for lead in range(0xB0, 0xD8) for trail in range(0xA1, 0xFF) for b in (lead, trail))
    simplified = level_one.decode("gb2312", "ignore") + _PARTICLES
    common = set(simplified + _PUNCTUATION) | {chr(c) for c in range(0xFF01, 0xFF5F)}
    for config in ("s2t", "s2tw", "s2hk"):
        common.update(opencc.OpenCC(config).convert(simplified))
    return frozenset(common)


def plausibility(text: str) -> float | None:
    """How much `text` reads as Chinese someone wrote: the share of its characters beyond ASCII that are common
    (`_common`), less the share of those that a wrong reading yields (`_MISREAD`), 1.0 when it has none; None when it
    has a private-use character, which no text has (GBK's user-defined area: where Big5's punctuation falls)."""
    if _PRIVATE_USE.search(text):
        return None
    wide = _NARROW.sub("", text)
    if not wide:
        return 1.0
    return (sum(map(_common().__contains__, wide)) - len(_MISREAD.findall(wide))) / len(wide)


def _readings(line: bytes, encodings: tuple[str, ...] = _LEGACY) -> dict[str, tuple[float, str]]:
    """The line's readings free of private-use characters, by encoding: (plausibility, text)."""
    found = {}
    for encoding in encodings:
        try:
            text = line.decode(encoding)
        except UnicodeDecodeError:
            continue
        if (score := plausibility(text)) is not None:
            found[encoding] = (score, text)
    return found


def _legacy_line(line: bytes, preferred: str, strict: bool = False, utf8: bool = False) -> str:
    """A line in GBK or Big5 (or, with `utf8`, UTF-8: a line pasted into a GBK file): the reading of more common
    characters, `preferred` on a tie. With no reading free of private-use characters, or (`strict`) only readings
    below PLAUSIBLE, the line is marked (`BAD_BYTES` for each byte beyond ASCII: its ASCII, a table's conversation id,
    is kept for the reader to name) — but, not `strict`, a line the file's own encoding reads as plausible Chinese
    with one private-use character is read so: that is how some bank and government systems store a rare character of
    a name."""
    readings = _readings(line, (*_LEGACY, "utf-8") if utf8 else _LEGACY)
    if not strict and (own := _own_with_private_use(line, preferred)) is not None:
        rest = _PRIVATE_USE.sub("", own)
        score = plausibility(rest) or 0.0
        if (
            len(_PRIVATE_USE.findall(own)) == 1  # a rare character of a name; a misreading yields several
            and len(_NARROW.sub("", rest)) >= PLAUSIBLE_FROM
            and score >= PLAUSIBLE
            and score >= max((s for s, _ in readings.values()), default=-1.0)
        ):
            return own
    if not readings:
        try:
            line.decode(preferred)
        except UnicodeDecodeError:
            return line.decode(preferred, "zuoxi-mark")
        return line.decode("ascii", "zuoxi-mark")
    score, text = readings.get(preferred, (-1.0, ""))
    for other, other_text in readings.values():
        if other > score:
            score, text = other, other_text
    if strict and score < PLAUSIBLE and len(_NARROW.sub("", text)) >= PLAUSIBLE_FROM:
        return line.decode("ascii", "zuoxi-mark")
    return text


def _own_with_private_use(line: bytes, encoding: str) -> str | None:
    """The line in `encoding` where that reading holds a private-use character, else None."""
    try:
        text = line.decode(encoding)
    except UnicodeDecodeError:
        return None
    return text if _PRIVATE_USE.search(text) else None


def _most_read_in(lines: list[bytes]) -> str:
    """GB18030 or Big5: the one more of these lines read better in (`plausibility`, a reading below PLAUSIBLE no
    vote); GB18030 on a tie."""
    votes = {encoding: 0 for encoding in _LEGACY}
    for line in lines:
        readings = sorted(_readings(line).items(), key=lambda item: item[1][0], reverse=True)
        if (
            readings
            and readings[0][1][0] >= PLAUSIBLE
            and (len(readings) == 1 or readings[1][1][0] < readings[0][1][0])
        ):
            votes[readings[0][0]] += 1
    return "big5" if votes["big5"] > votes["gb18030"] else "gb18030"


def _bom_encoding(data: bytes) -> str | None:
    return next((encoding for bom, encoding in _BOMS if data.startswith(bom)), None)


def _is_text(line: bytes, encoding: str) -> bool:
    try:
        return not _CONTROL.search(line.decode(encoding))
    except UnicodeDecodeError:
        return False


BAD_LINE = "编码错误：这一行有不属于本文件文字编码的字节"  # a line with `BAD_BYTES`
