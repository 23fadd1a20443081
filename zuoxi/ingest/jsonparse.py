"""JSON parsing for the readers: `json.loads`, raising `json.JSONDecodeError` — with the line and column of the
problem — for what it raised otherwise or let pass; and the pieces that read a JSON array element by element, so
that one element that cannot be read is that element's error (`canonical.read_json_array`)."""

from __future__ import annotations

import itertools
import json
import re
import sys
from json.decoder import JSONObject  # type: ignore[attr-defined]
from json.scanner import py_make_scanner  # type: ignore[attr-defined]
from typing import Any

_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's white space
# A JSON string (without its closing quote when the text ends first), or a bracket, comma or colon outside strings.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[][{},:]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")  # half of a UTF-16 pair (JSON's "\\ud800" alone)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # where an editor ends a line (`encoding.text_lines`)

# json's own messages (`JSONDecodeError.msg`, matched by their start) as a user reads them
_JSON_SAYS = (
    ("Expecting value", "这里缺少值，或值的写法不对"),
    ("Expecting ',' delimiter", "缺少逗号"),
    ("Expecting ':' delimiter", "字段名后缺少冒号"),
    ("Expecting property name enclosed in double quotes", "这里应是带双引号的字段名，或多了逗号"),
    ("Extra data", "JSON 结束后还有多余的内容"),
    ("Unterminated string", "字符串缺少结尾的双引号"),
    ("Invalid control character", "字符串里有未转义的换行、制表符等控制字符"),
    ("Invalid \\uXXXX escape", "\\u 后应是四位十六进制数"),
    ("Invalid \\escape", "反斜杠转义不对"),
    ("Illegal trailing comma before end of array", "数组最后多了一个逗号"),
    ("Illegal trailing comma before end of object", "对象最后多了一个逗号"),
)


def json_problem(error: json.JSONDecodeError) -> str:
    """What is wrong with the JSON, in one line: `JSON 格式错误：缺少逗号（第 12 列）`; the line is the caller's."""
    said = next((chinese for english, chinese in _JSON_SAYS if error.msg.startswith(english)), error.msg)
    return f"JSON 格式错误：{said}（第 {error.colno} 列）"


def line_and_column(text: str, index: int) -> tuple[int, int]:
    """The 1-based line and column of `text[index]`, lines ending at LF, CRLF or CR alone: json counts LF only, so a
    file of old Mac line ends (CR) had every error on line 1, at a column thousands long."""
    if text.find("\r", 0, index) < 0:  # LF alone, as json counts
        return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)
    line, start = 1, 0
    for end in _LINE_BREAK.finditer(text, 0, index):
        line, start = line + 1, end.end()
    if start == index and index > 0 and text[index - 1] == "\r" and text.startswith("\n", index):
        line -= 1  # `index` is the LF of a CRLF: the line the CR ends
        start = _last_line_start(text, index - 1)
    return line, index - start + 1


def line_ends(text: str, start: int, stop: int) -> tuple[int, int] | None:
    """How many lines end from `start` to `stop` (LF, CRLF or CR alone; neither index inside a CRLF), and where the
    last of the lines after them starts; None when none ends there."""
    count = text.count("\n", start, stop) + text.count("\r", start, stop) - text.count("\r\n", start, stop)
    # searched within [start, stop) only, where a line end is: from the text's start, each element of an array
    # re-read everything before it (80,000 elements, 7.6 MB: ten seconds)
    return (count, max(text.rfind("\n", start, stop), text.rfind("\r", start, stop)) + 1) if count else None


def _last_line_start(text: str, index: int) -> int:
    """Where the line holding `text[index]` starts (after the last line end before `index`)."""
    return max(text.rfind("\n", 0, index), text.rfind("\r", 0, index)) + 1


def relined(error: json.JSONDecodeError) -> json.JSONDecodeError:
    """`error` with its line and column counted as `line_and_column` counts them (json's counted LF alone)."""
    if isinstance(error.doc, str) and "\r" in error.doc:
        error.lineno, error.colno = line_and_column(error.doc, error.pos)
        error.args = (f"{error.msg}: line {error.lineno} column {error.colno} (char {error.pos})",)
    return error


def parse_json(text: str | bytes) -> Any:
    """`json.loads`, raising `json.JSONDecodeError` for an integer longer than Python converts
    (`sys.get_int_max_str_digits()`, 4,300 digits), which `json.loads` raises as a bare ValueError that no reader
    expected (it ended the batch with a traceback), and for a key given twice in one object, which `json.loads` lets
    pass keeping the last value, though which one the exporter meant is unclear. Each is raised where it is: at the
    number, or at the key's second place. Nesting too deep still raises `RecursionError`."""
    if isinstance(text, bytes):  # as json.loads reads bytes
        text = _decoded(text)
    return _parsed(text, 0, whole=True)[0]


def _decoded(data: bytes) -> str:
    """JSON's bytes as text, in the encoding json.loads finds for them; `json.JSONDecodeError` at the first byte
    that is not of it (json.loads raised UnicodeDecodeError, which no reader expected: a Parquet cell of binary JSON
    ended the batch with a traceback)."""
    encoding = json.detect_encoding(data)
    try:
        return data.decode(encoding, "surrogatepass")
    except UnicodeDecodeError as error:
        before = data[: error.start].decode(encoding, "replace")
        raise relined(json.JSONDecodeError(f"不是有效的 {encoding} 文字", before, len(before))) from None


def parse_json_value(text: str, start: int, stop: int | None = None, line: int = 1, column: int = 1) -> tuple[Any, int]:
    """The JSON value at index `start` of `text` (an element of an array) and the index after it, raising as
    `parse_json` does, the error's line and column those of `text`. `stop`: where the value ends at the latest (the
    comma or bracket after it, `value_end`), to parse that piece of the text alone, its errors placed by `line` and
    `column`, those of `start`: json counts the lines of the text up to an error, so that every bad element of an
    array read the array up to it again (200,000 of them, a 3 MB file, took two minutes)."""
    if stop is None:
        return _parsed(text, start, whole=False)
    try:
        value, end = _parsed(text[start:stop], 0, whole=False)
    except json.JSONDecodeError as error:
        raise _placed(error, text, start, line, column) from None
    return value, start + end


def _placed(error: json.JSONDecodeError, text: str, start: int, line: int, column: int) -> json.JSONDecodeError:
    """`error`, raised in the piece of `text` from `start` (at `line` and `column`), at its place in `text`."""
    placed = json.JSONDecodeError.__new__(json.JSONDecodeError)
    placed.msg, placed.doc, placed.pos = error.msg, text, start + error.pos
    placed.lineno = line + error.lineno - 1
    placed.colno = error.colno + (column - 1 if error.lineno == 1 else 0)
    placed.args = (f"{error.msg}: line {placed.lineno} column {placed.colno} (char {placed.pos})",)
    return placed


def skip_space(text: str, index: int) -> int:
    """The index of the first character at or after `index` that is not JSON's white space (or the text's end)."""
    return _SPACE.match(text, index).end()  # type: ignore[union-attr]  # the pattern matches empty text


def value_end(text: str, start: int) -> int | None:
    """The index of the comma or closing bracket that ends the array element at `start`, found by brackets and strings
    alone, for an element that does not parse (a number too long, a key twice, a comma missing): the reading goes on
    after it. None when the text ends first (an array or string never closed)."""
    depth = 0
    for token in _TOKEN.finditer(text, start):
        if token[0] in "[{":
            depth += 1
        elif token[0] in "]}":
            if depth == 0:
                return token.start()
            depth -= 1
        elif token[0] == "," and depth == 0:
            return token.start()
    return None


class _RepeatedKey(Exception):
    def __init__(self, key: str):
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's pairs as the dict `json.loads` makes; `_RepeatedKey` when a key comes twice."""
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_unique)


def _parsed(text: str, start: int, whole: bool) -> tuple[Any, int]:
    """The value at `start` (the whole text when `whole`) and the index after it; every `json.JSONDecodeError` at its
    line and column as an editor counts them (`relined`)."""
    try:
        return _parsed_as_json_does(text, start, whole)
    except json.JSONDecodeError as error:
        raise relined(error) from None


def _parsed_as_json_does(text: str, start: int, whole: bool) -> tuple[Any, int]:
    try:
        return (_DECODER.decode(text), len(text)) if whole else _DECODER.raw_decode(text, start)
    except _RepeatedKey as repeated:
        raise _repeated_at(text, skip_space(text, start), repeated.key) from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        limit = sys.get_int_max_str_digits() or 4300
        found = next((m.start() for m in _long_integers(limit).finditer(text, start) if m[0][0] != '"'), start)
        raise json.JSONDecodeError(f"数字超过 {limit:,} 位", text, found) from None


def _long_integers(limit: int) -> re.Pattern[str]:
    """JSON's strings, and its integers of more than `limit` digits: not the digits of a string, of a fraction or of
    an exponent (which Python converts), and each run of digits tried once (searching for the digits alone took
    quadratic time in a run: 400 fractions of 4,300 digits, 17 s)."""
    return re.compile(rf'"[^"\\]*(?:\\.[^"\\]*)*"|(?<![\d.eE])(?<![eE][+-])\d{{{limit + 1},}}(?![\d.eE])')


def _repeated(key: str) -> str:
    """The message for `key` given twice: the key as JSON writes it (a line break in it escaped), its first 50
    characters, half a UTF-16 pair as its code (it cannot be printed or stored)."""
    shown = json.dumps(key[:50], ensure_ascii=False)[:-1] + ('…"' if len(key) > 50 else '"')
    shown = _SURROGATE.sub(lambda half: f"\\u{ord(half[0]):04x}", shown)
    return f"同一对象里键 {shown} 出现了两次，不清楚用哪个值"


def _repeated_at(text: str, start: int, key: str) -> json.JSONDecodeError:
    """The error for `key` given twice in an object of the value at `start`, at the key's second place. The fast
    parser does not tell where that object is: the value is parsed again by json's Python parser, which does (slower,
    only for a value that has this error)."""
    try:
        _Locating().raw_decode(text, start)
    except json.JSONDecodeError as error:
        return error
    except (RecursionError, ValueError):  # the Python parser does not nest as deep as the C one
        pass
    return json.JSONDecodeError(_repeated(key), text, start)


class _Locating(json.JSONDecoder):
    """json's Python parser, raising `json.JSONDecodeError` at the second place of a key that an object gives twice."""

    def __init__(self) -> None:
        super().__init__()
        self.parse_object = self._object
        self.scan_once = py_make_scanner(self)

    @staticmethod
    def _object(
        s_and_end: tuple[str, int], strict: bool, scan_once: Any, object_hook: Any, pairs_hook: Any, memo: Any = None
    ) -> tuple[dict[str, Any], int]:
        text, begin = s_and_end  # `begin`: just after the object's {
        pairs, end = JSONObject(s_and_end, strict, scan_once, None, list, memo)
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise json.JSONDecodeError(_repeated(key), text, _second_name(text, begin, end, key))
            seen.add(key)
        return dict(pairs), end


def _second_name(text: str, begin: int, end: int, key: str) -> int:
    """Where `key` comes the second time among the names of the object from `begin` (after its {) to `end`."""
    depth, seen = 0, 0
    for token, after in itertools.pairwise(_TOKEN.finditer(text, begin, end)):
        if token[0] in "[{":
            depth += 1
        elif token[0] in "]}":
            depth -= 1
        elif depth == 0 and after[0] == ":" and token[0].startswith('"') and json.loads(token[0]) == key:
            seen += 1
            if seen == 2:
                return token.start()
    return begin - 1
