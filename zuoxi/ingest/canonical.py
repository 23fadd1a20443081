"""Canonical conversations (DESIGN.md §2): JSON Lines, or one JSON array / object per file."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import ValidationError

from zuoxi.ingest.encoding import BAD_BYTES, BAD_LINE, UnknownEncoding, text_lines
from zuoxi.ingest.errors import IngestError, Record, describe_validation_error
from zuoxi.ingest.jsonparse import (
    json_problem,
    line_ends,
    parse_json,
    parse_json_value,
    relined,
    skip_space,
    value_end,
)
from zuoxi.ingest.limits import (
    FIRST_YEAR,
    LAST_YEAR,
    MAX_CONVERSATION_CHARS,
    MAX_LINE_CHARS,
    MAX_NESTING,
    MAX_TURN_CHARS,
    MAX_TURNS,
)
from zuoxi.ingest.registry import READERS, Source, reader
from zuoxi.model import SURROGATE, Conversation
from zuoxi.normalize import clean_whitespace
from zuoxi.privacy import mask_id

__all__ = ["NESTED_TOO_DEEP", "Record", "lines_over_bounds", "read_json_array", "read_jsonl", "validate"]

NESTED_TOO_DEEP = "JSON 格式错误：数组和对象嵌套太深"  # json.loads raises RecursionError
# What a JSON value that is no object is, as `validate` names it
_KINDS = {"list": "数组", "str": "字符串", "int": "整数", "float": "数字", "bool": "true/false", "NoneType": "null"}


def validate(record: Any, path: str, line: int | None) -> Record:
    if not isinstance(record, dict):
        kind = _KINDS.get(type(record).__name__, type(record).__name__)
        return IngestError(path, line, f"应为一个会话（JSON 对象），却是{kind}")
    if isinstance(record.get("turns"), list):  # display cleanup of every reader's text (normalize.clean_whitespace)
        record = {
            **record,
            "turns": [
                {**turn, "text": clean_whitespace(turn["text"])}
                if isinstance(turn, dict) and isinstance(turn.get("text"), str)
                else turn
                for turn in record["turns"]
            ],
        }
    if too_big := _over_bounds(record):
        return IngestError(path, line, too_big)
    if not_text := _unpaired_surrogate(record):
        return IngestError(path, line, not_text)
    try:
        conversation = Conversation.model_validate(record)
    except ValidationError as error:
        return IngestError(path, line, describe_validation_error(error))
    if conversation.duration is not None and not math.isfinite(conversation.duration):
        # JSON's 1e400 (or a text log's `# duration: inf`): stored as `Infinity`, which is no JSON a database or tool reads
        return IngestError(path, line, "duration：应为有限的秒数（不能是 nan 或 inf）")
    if conversation.started_at and not FIRST_YEAR <= conversation.started_at.year <= LAST_YEAR:
        return IngestError(
            path, line, f"started_at：年份 {conversation.started_at.year} 不在 {FIRST_YEAR}–{LAST_YEAR} 之间"
        )
    if too_long := _too_long_masked(conversation):
        return IngestError(path, line, too_long)
    conversation._line = line
    return conversation


# The bounds of the fields a column of that length holds (`Conversation`): the id, the agent, the team.
_BOUNDED = {
    name: next(rule.max_length for rule in Conversation.model_fields[name].metadata if hasattr(rule, "max_length"))
    for name in ("id", "agent_id", "team")
}


def _too_long_masked(conversation: Conversation) -> str | None:
    """Which of the id, agent and team masking makes longer than its bound, or None. The model checks them as read,
    but they are stored masked (`mask_id`: a card's 16 digits read as 19 characters, **** **** **** 1234), and a
    value too long for its column failed the insert of the whole chunk on PostgreSQL (value too long for type
    character varying(100): none of the file's conversations stored), while SQLite stored it. Refused here, at its
    line, whether or not the run masks (`--no-mask`), so that a file reads alike on every database and with every
    option. Masking makes a value half as long again at most (a@b.cn: a***@b.cn; a card: 16 digits in 19 characters),
    so one of half its bound or less is not masked here to be measured (a numeric id's masking costs 0.1 ms)."""
    for name, bound in _BOUNDED.items():
        value = getattr(conversation, name)
        if value is None or 2 * len(value) <= bound:
            continue
        if (length := len(mask_id(value))) > bound:
            return f"{name}：打码后 {length} 个字，太长（最多 {bound} 个字）"
    return None


def _unpaired_surrogate(value: Any, where: str = "", depth: int = 0) -> str | None:
    """Where a string of the record holds half of a UTF-16 pair (JSON's "\\ud83d" alone), which no text encoding can
    write (it failed the whole batch when printed or stored), or where arrays and objects nest more than MAX_NESTING
    deep (`meta` 900 levels deep parsed, then overflowed the stack when masked: a traceback that ended the batch);
    None when neither."""
    if depth > MAX_NESTING:
        return f"{where.split('.')[0]}：数组和对象嵌套超过 {MAX_NESTING} 层"
    if isinstance(value, str):
        found = SURROGATE.search(value)
        return f"{where or '文字'}：含有不成对的 UTF-16 代理项（\\u{ord(found[0]):04x}），不是文字" if found else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and SURROGATE.search(key):
            return f"{where or '会话'}：有个字段名含有不成对的 UTF-16 代理项"
        if inside := _unpaired_surrogate(item, f"{where}.{key}" if where else str(key), depth + 1):
            return inside
    return None


def _over_bounds(record: dict[str, Any]) -> str | None:
    """What makes the conversation too big to analyze (zuoxi/ingest/limits.py), or None."""
    turns = record.get("turns")
    if not isinstance(turns, list):
        return None
    if len(turns) > MAX_TURNS:
        return f"turns：{len(turns)} 轮，超过一个会话最多的 {MAX_TURNS} 轮"
    total = 0
    for i, turn in enumerate(turns):
        if isinstance(turn, dict) and isinstance(turn.get("text"), str):
            if len(turn["text"]) > MAX_TURN_CHARS:
                return f"turns.{i}.text：{len(turn['text'])} 个字，超过一轮最多的 {MAX_TURN_CHARS} 个字"
            total += len(turn["text"])
    if total > MAX_CONVERSATION_CHARS:
        return f"turns：共 {total} 个字，超过一个会话最多的 {MAX_CONVERSATION_CHARS} 个字"
    return None


def lines_over_bounds(
    path: str, line: int, conversation: str, texts: Sequence[str], lines: Sequence[int], what: str = "这一句"
) -> IngestError | None:
    """Why a conversation read from a file's lines (a text log's, a table's rows) is over a bound (limits.py), in the
    words of that file and at the line at fault: `texts`, its turns' texts, begin at `lines`; `line` is the
    conversation's first. `validate` said it in a JSON path at the conversation's first line (big.txt:1:
    turns.1.text：17476266 个字…) for a turn on line 3. None where it is within them (`validate` holds it to them
    again: the same count, after `clean_whitespace`)."""
    whole = "整个会话都没有导入（不截断）；请把它分成几个会话"
    if len(texts) > MAX_TURNS:
        return IngestError(
            path, line, f"会话 {conversation!r} 有 {len(texts):,} 句，超过一个会话最多的 {MAX_TURNS:,} 句：{whole}"
        )
    total = 0
    for text, at in zip(texts, lines, strict=True):
        size = len(clean_whitespace(text)) if len(text) > MAX_TURN_CHARS else len(text)
        if size > MAX_TURN_CHARS:
            return IngestError(
                path,
                at,
                f"{what}有 {size:,} 个字，超过一句最多的 {MAX_TURN_CHARS:,} 个字：会话 {conversation!r} "
                "整个都没有导入（不截断）",
            )
        total += size
    if (
        total > MAX_CONVERSATION_CHARS
        and (total := sum(len(clean_whitespace(t)) for t in texts)) > MAX_CONVERSATION_CHARS
    ):
        return IngestError(
            path,
            line,
            f"会话 {conversation!r} 共有 {total:,} 个字，超过一个会话最多的 {MAX_CONVERSATION_CHARS:,} 个字：{whole}",
        )
    return None


def read_jsonl(text: str, path: str) -> Iterator[Record]:
    for number, line in enumerate(text_lines(text), start=1):
        if not line.strip():
            continue
        if BAD_BYTES in line:
            yield IngestError(path, number, BAD_LINE)
            continue
        if len(line) > MAX_LINE_CHARS:
            yield IngestError(path, number, f"这一行有 {len(line)} 个字符，超过一行最多的 {MAX_LINE_CHARS} 个")
            continue
        yield _record(line, path, number)[0]


def _record(
    text: str,
    path: str,
    line: int,
    element: int | None = None,
    start: int = 0,
    stop: int | None = None,
    column: int = 1,
) -> tuple[Record, int | None]:
    """One conversation's JSON read, the same for a JSON Lines line (`text`) and for the `element`th of a JSON array
    (`text` the array's, the element from index `start`, at `line` and `column`, and ending by `stop` when known:
    `parse_json_value`): the conversation, or its error at `line` (a JSON error in an array: at its own line and
    column), naming the element; and the index after the element (None when its JSON does not parse)."""
    where = "" if element is None else f"第 {element + 1} 项："
    try:
        record, end = (parse_json(text), None) if element is None else parse_json_value(text, start, stop, line, column)
    except json.JSONDecodeError as error:
        return _invalid(path, error, line if element is None else error.lineno, where), None
    except RecursionError:
        return IngestError(path, line, where + NESTED_TOO_DEEP), None
    conversation = validate(record, path, line)
    if isinstance(conversation, IngestError) and where:
        conversation = IngestError(path, line, where + conversation.reason)
    return conversation, end


def _invalid(path: str, error: json.JSONDecodeError, line: int, where: str = "") -> IngestError:
    return IngestError(path, line, where + json_problem(error))


def _broken_array(path: str, text: str, index: int, message: str) -> IngestError:
    """The array's own syntax broken at `index` of `text` (json's `message` for it), at that line and column."""
    error = relined(json.JSONDecodeError(message, text, index))
    return _invalid(path, error, error.lineno)


def read_json_array(text: str, path: str) -> Iterator[Record]:
    """The conversations of a JSON array (`text` starts with its [), element by element as JSON Lines are read line by
    line (`_record`): an element that cannot be read — not a conversation, a field missing or wrong, a number too
    long, nested too deep, a key given twice, a comma missing inside it — is its own error, naming its index and the
    line it starts at, and the other elements are read (one such element failed the whole file). The array itself
    broken (a comma missing between elements, the file cut short) ends the reading there, with an error saying where."""
    at = skip_space(text, skip_space(text, 0) + 1)  # after the [: the first element, or the ]
    line, counted, line_start = 1, 0, 0  # the line of `at`, the index up to which it is counted, where it starts
    bounded = False  # each element parsed within its bounds (`_element`)
    if not text.startswith("]", at):
        for element in itertools.count():
            if ends := line_ends(text, counted, at):
                line, line_start = line + ends[0], ends[1]
            counted = at
            record, end, bounded = _element(text, path, element, at, line, at - line_start + 1, bounded)
            yield record
            if end is None:
                return  # the element runs to the end of the text (a string or bracket never closed): reported
            at = skip_space(text, end)
            if not text.startswith(",", at):
                break
            comma, at = at, skip_space(text, at + 1)
            if text.startswith("]", at):
                yield _broken_array(path, text, comma, "Illegal trailing comma before end of array")
                break
    if not text.startswith("]", at):
        yield _broken_array(path, text, at, "Expecting ',' delimiter")
    elif (after := skip_space(text, at + 1)) < len(text):
        yield _broken_array(path, text, after, "Extra data")


def _element(
    text: str, path: str, element: int, at: int, line: int, column: int, bounded: bool
) -> tuple[Record, int | None, bool]:
    """The `element`th of the array, from index `at`, at `line` and `column` (`_record`); the index after it (None
    when it runs to the end of the text); and whether the next is to be read within its bounds. Once one element does
    not parse, each is parsed by itself, to the comma or bracket after it (`value_end`): json counts the lines of the
    text up to an error, which read the array up to each bad element again (200,000 of them, 3 MB: two minutes)."""
    stop = value_end(text, at) if bounded else None
    record, end = _record(
        text, path, line, element, at, (len(text) if stop is None else stop) if bounded else None, column
    )
    if end is not None:
        return record, end, bounded
    return record, stop if bounded else value_end(text, at), True


@reader("jsonl", ".jsonl", ".ndjson")
def jsonl_file(source: Source) -> Iterator[Record]:
    yield from read_jsonl(source.line_text, source.name)


@reader("json", ".json")
def json_file(source: Source) -> Iterator[Record]:
    """Canonical JSON (an array, read element by element, or one object); ASR JSON is recognised by its shape and
    handed to its reader; JSON Lines saved as .json is read as such, line by line as a .jsonl file is (a line in
    another encoding costs that line; lines may end in CR alone)."""
    try:
        text = source.text
        array = text.startswith("[", skip_space(text, 0))
        probe = _first_element(text) if array else source.json
    except (json.JSONDecodeError, UnknownEncoding):
        if _json_lines(source):
            yield from read_jsonl(source.line_text, source.name)
            return
        raise
    kind = _json_kind(probe, array)
    if kind != "json":
        yield from READERS[kind].read(source)
    elif array:
        yield from read_json_array(text, source.name)
    else:  # one object (or a stray scalar, reported by `validate`)
        yield validate(probe, source.name, 1)


def _first_element(text: str) -> Any:
    """The first element of the array in `text`, to tell the file's kind by; None when there is none or it does not
    parse (`read_json_array` reports it)."""
    try:
        return parse_json_value(text, skip_space(text, skip_space(text, 0) + 1))[0]
    except (json.JSONDecodeError, RecursionError):
        return None


def _json_lines(source: Source) -> bool:
    """Whether a .json file that is not one JSON document holds JSON Lines: two lines or more that start an object."""
    try:
        text = source.line_text
    except UnknownEncoding:
        return False
    starts = 0
    for line in text_lines(text):
        starts += line.lstrip().startswith("{")
        if starts >= 2:
            return True
    return False


def _json_kind(probe: object, array: bool) -> str:
    """The reader of a .json file whose document, or its array's first element, is `probe`."""
    if isinstance(probe, dict):
        if "sentence_info" in probe:
            return "funasr"
        if "segments" in probe and "turns" not in probe and not array:
            return "whisper"
    return "json"
