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
        raise json.JSONDecodeError(f"not valid {encoding} ({error.reason})", before, len(before)) from None


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
    try:
        return (_DECODER.decode(text), len(text)) if whole else _DECODER.raw_decode(text, start)
    except _RepeatedKey as repeated:
        raise _repeated_at(text, skip_space(text, start), repeated.key) from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        limit = sys.get_int_max_str_digits() or 4300
        found = next((m.start() for m in _long_integers(limit).finditer(text, start) if m[0][0] != '"'), start)
        raise json.JSONDecodeError(f"a number of more than {limit:,} digits", text, found) from None


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
    return f"the key {shown} is given twice in one object, so which of its values is meant is unclear"


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
