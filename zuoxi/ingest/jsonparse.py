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


def parse_json(text: str | bytes) -> Any:
    """`json.loads`, raising `json.JSONDecodeError` for an integer longer than Python converts
    (`sys.get_int_max_str_digits()`, 4,300 digits), which `json.loads` raises as a bare ValueError that no reader
    expected (it ended the batch with a traceback), and for a key given twice in one object, which `json.loads` lets
    pass keeping the last value, though which one the exporter meant is unclear. Each is raised where it is: at the
    number, or at the key's second place. Nesting too deep still raises `RecursionError`."""
    if isinstance(text, bytes):  # as json.loads reads bytes
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    return _parsed(text, 0, whole=True)[0]


def parse_json_value(text: str, start: int) -> tuple[Any, int]:
    """The JSON value at index `start` of `text` (an element of an array) and the index after it, raising as
    `parse_json` does, the error's line and column those of `text`."""
    return _parsed(text, start, whole=False)


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
        found = re.compile(rf"\d{{{limit + 1},}}").search(text, start)
        message = f"a number of more than {limit:,} digits"
        raise json.JSONDecodeError(message, text, found.start() if found else start) from None


def _repeated(key: str) -> str:
    return f'the key "{key}" is given twice in one object, so which of its values is meant is unclear'


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
