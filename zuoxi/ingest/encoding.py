"""Decode exported files whatever their encoding: UTF-8 (BOM or not), GB18030/GBK, Big5."""

from __future__ import annotations

import codecs
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


def _cjk_share(text: str) -> float:
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return cjk / max(1, sum(1 for ch in text if not ch.isspace() and not ch.isascii()))


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
        # Bytes valid in both GB18030 and Big5: the reading with more common characters wins.
        best = from_bytes(data, cp_isolation=["gb18030", "big5"]).best()
        if best is not None:
            return str(best), best.encoding
        candidates.sort(key=lambda c: _cjk_share(c[0]), reverse=True)
    return candidates[0] if candidates else None


def _guessed(data: bytes) -> tuple[str, str]:
    best = from_bytes(data).best()
    if best is None:
        raise UnknownEncoding("认不出文字编码（不是 UTF-8、GB18030/GBK 或 Big5）")
    return str(best), best.encoding


def decode_lines(data: bytes) -> str:
    """The text of a line-based file (JSON Lines, text logs, CSV) whose lines are not all in one
    encoding: a file with lines pasted from another, or a cut character. Each line is UTF-8 when it is
    valid UTF-8 (no GBK or Big5 text happens to be), else in the legacy encoding most such lines are
    in; bytes that do not decode become `BAD_BYTES`, so the reader reports that line and reads the
    others. When most lines do not decode so, the file is decoded whole, as `decode_bytes` does.
    Byte order marks at the start of lines are dropped (`decode_bytes`)."""
    return _without_line_boms(_decoded_lines(data))


def _decoded_lines(data: bytes) -> str:
    if declared := _bom_encoding(data):  # only the bad bytes are lost
        return data.decode(declared, "zuoxi-mark")
    found = _chinese(data)
    if found and found[1] == "utf-8":
        return found[0]
    lines = data.split(b"\n")
    if found and not _mostly_utf8(lines):  # GB18030 reads nearly any bytes: not the file when most lines are UTF-8
        return found[0]
    legacy = [line for line in lines if not _is_text(line, "utf-8")]
    encoding = max(("gb18030", "big5"), key=lambda e: sum(_is_text(line, e) for line in legacy))
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
        return line.decode(legacy, "zuoxi-mark")


def _bom_encoding(data: bytes) -> str | None:
    return next((encoding for bom, encoding in _BOMS if data.startswith(bom)), None)


def _is_text(line: bytes, encoding: str) -> bool:
    try:
        return not _CONTROL.search(line.decode(encoding))
    except UnicodeDecodeError:
        return False


BAD_LINE = "编码错误：这一行有不属于本文件文字编码的字节"  # a line with `BAD_BYTES`
