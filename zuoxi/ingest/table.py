"""CSV / XLSX exports with one row per message, grouped into conversations by a column.

Columns are found by a small mapping (field → header); defaults cover the headers Chinese
contact-center systems export (会话ID, 角色, 内容, 时间, 坐席工号 …) and their English twins.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import math
import re
import sys
import unicodedata
import warnings
import zipfile
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from zuoxi.ingest.canonical import Record, lines_over_bounds, validate
from zuoxi.ingest.encoding import BAD_BYTES, BAD_LINE, text_lines
from zuoxi.ingest.errors import IngestError, lost_lines
from zuoxi.ingest.limits import FIRST_YEAR, LAST_YEAR, MAX_LINE_CHARS, MAX_ROW_CELLS, MAX_XLSX_UNPACKED
from zuoxi.ingest.registry import Source, reader
from zuoxi.ingest.textlog import AGENT_WORDS, CUSTOMER_WORDS, DAY_SECONDS, SYSTEM_WORDS, past_midnight
from zuoxi.model import EMPTY_TURNS
from zuoxi.normalize import normalize_text

DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    # compared Simplified, half-width and lower-case (`_resolve`): 會話ID, 內容, 班組 are these
    "conversation_id": ("会话ID", "会话编号", "对话ID", "会话", "conversation_id", "session_id", "id"),
    "role": ("角色", "发送方", "身份", "role", "sender"),
    "text": ("内容", "消息内容", "消息", "文本", "text", "content", "message"),
    "time": ("时间", "发送时间", "消息时间", "time", "timestamp"),
    "agent_id": ("坐席工号", "客服工号", "工号", "坐席", "客服", "agent_id", "agent"),
    "team": ("班组", "团队", "组别", "team"),
    "channel": ("渠道", "channel"),
}
# The csv module refuses cells over 128 KB; a long cell is read up to the line bound, so a turn over
# its own bound is reported as such (zuoxi/ingest/limits.py), and a larger cell as that row's error.
csv.field_size_limit(MAX_LINE_CHARS)


@dataclass(frozen=True)
class BadRow:
    """A row that cannot be read: why, and what can be told of its cells (a lenient reading of a CSV row's first line,
    an XLSX row's cells where one is too long), to know whose conversation lost it."""

    error: IngestError
    cells: tuple[Any, ...] = ()


Row = list[Any] | BadRow  # a row's cells, or why it cannot be read


def cell_text(value: Any) -> str:
    """A cell as the text of a message, id or name: a number as its digits, never in scientific notation — an XLSX
    numeric cell holds a float, and str() wrote a 19-digit card number as 6.222088809777878e+18 and an 18-digit id
    card as 1.1010519491231e+17 (digits no masker sees, stored in clear) and 6222778865013650 as 6222778865013650.0. An
    int is exact; a float is written with the digits of its shortest form (a whole one without `.0`), zeros after them
    where Excel kept no more (6222088809777878000); TRUE/FALSE as Excel shows them; nothing as "" (a cell holding the
    number 0 was read as an empty message)."""
    if value is None or isinstance(value, CellProblem):
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and math.isfinite(value):
        digits = format(Decimal(repr(value)), "f")
        return digits[: -len(".0")] if digits.endswith(".0") else digits
    return value if isinstance(value, str) else str(value)


class CellProblem:
    """An XLSX cell that holds no value to read (`_cell`): a formula whose result was never saved (a workbook written
    by a program, never opened in Excel: its row was read as an empty message and dropped without a word, with the
    customer's words in it), or an error value (#N/A, #REF!). In a column a conversation is read from, the row's
    error (`_Grouped.take`); elsewhere nothing. Empty and false, as the cell was read before (`value` for call lists)."""

    def __init__(self, why: str, value: Any = None):
        self.why, self.value = why, value

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"CellProblem({self.why!r})"


NO_SAVED_VALUE = "是公式，没有保存计算结果（请用 Excel 打开这个文件、保存后再导入）"
_ROLE_VALUES = {
    **{w.lower(): "agent" for w in AGENT_WORDS},
    **{w.lower(): "customer" for w in CUSTOMER_WORDS},
    **{w.lower(): "system" for w in SYSTEM_WORDS},
    "坐席人员": "agent",
    "人工客服": "agent",
    "访客": "customer",
    "訪客": "customer",
}


def parse_column_map(spec: Iterable[str]) -> dict[str, str]:
    """`--columns text=消息正文,role=发送人` → {"text": "消息正文", "role": "发送人"}."""
    mapping = {}
    for item in spec:
        for pair in item.split(","):
            if pair.strip():
                field, _, header = pair.partition("=")
                if field.strip() not in DEFAULT_COLUMNS or not header.strip():
                    raise ValueError(
                        f"--columns 写得不对：{pair!r}；应写作 字段=表头，字段可以是 {'、'.join(sorted(DEFAULT_COLUMNS))}"
                    )
                mapping[field.strip()] = header.strip()
    return mapping


def _resolve(headers: list[str], overrides: dict[str, str]) -> dict[str, int]:
    """Each field's column. Headers are compared Simplified, half-width and lower-case, so a Traditional export's
    會話ID/坐席工號/班組 and a `--columns` name typed either way find their column."""
    clean = [normalize_text(str(h).strip()) for h in headers]
    found = {}
    for field, names in DEFAULT_COLUMNS.items():
        wanted = (overrides[field],) if field in overrides else names
        for name in map(normalize_text, wanted):
            if name in clean:
                found[field] = clean.index(name)
                break
    return found


EXCEL_EPOCH = datetime(1899, 12, 30)  # day 0 of Excel's serial dates (1900 system; a 1904 workbook says its own)
# How a time cell may be written: the error for one that is none of these lists them
TIME_FORMATS = (
    "（时间可以写作 2026-11-03 14:00:05、2026/11/3 14:00、2026年11月3日 14:00、2026.11.03 14:00、"
    "2026/11/3 下午 2:00 或 2:00 PM、只有日期 2026/11/3、只有时刻 14:00:05、"
    "连写的 20261103140005 或 202611031400、Unix 时间戳 1762149600（秒）或 1762149600000（毫秒），"
    "或从会话开始算起的秒数 12.5）"
)
When = datetime | date | time | float  # a time cell read: a date and time, a date, a time of day, or seconds
_DATE = re.compile(
    r"(?P<y>\d{4})\s*(?P<s1>[-/.年])\s*(?P<m>\d{1,2})\s*(?P<s2>[-/.月])\s*(?P<d>\d{1,2})\s*(?P<s3>[日号])?"
)
_DATE_SEPARATORS = {("-", "-", None), ("/", "/", None), (".", ".", None), ("年", "月", None), ("年", "月", "日")}
_AM, _PM, _NOON = ("上午", "早上", "早晨", "凌晨", "am", "a.m."), ("下午", "晚上", "傍晚", "pm", "p.m."), ("中午",)
_MERIDIEM = "|".join(re.escape(word) for word in sorted(_AM + _PM + _NOON, key=len, reverse=True))
_CLOCK = re.compile(
    rf"(?:(?P<before>{_MERIDIEM})\s*)?(?P<H>\d{{1,2}})\s*"
    r"(?::\s*(?P<M>\d{2})(?:\s*:\s*(?P<S>\d{2})(?:[.,](?P<f>\d{1,6}))?)?"
    r"|[时点]\s*(?P<M2>\d{1,2})\s*分(?:\s*(?P<S2>\d{1,2})\s*秒)?)"
    rf"\s*(?P<after>{_MERIDIEM})?",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# What a spreadsheet writes for a cell it cannot compute or show, saved to CSV as such: an error value, and the #### of
# a date it cannot show (a negative or too large serial number, or a column too narrow)
_EXCEL_ERROR = re.compile(
    r"#(?:NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|N/A|GETTING_DATA|SPILL!|CALC!|FIELD!|BLOCKED!|CONNECT!|BUSY!|UNKNOWN!)",
    re.IGNORECASE,
)
_HASHES = re.compile(r"#{2,}")
MAX_OFFSET = 10_000_000  # seconds from a conversation's start a number may be (115 days); larger ones are dates or none
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNIX_YEARS = (2000, 2100)  # the years [from, to) a number is taken for a Unix timestamp in, or a compact date in
_COMPACT = (14, 12, 8)  # digits of a date and time written without separators: 年月日时分秒, 年月日时分, 年月日
_SHOWN_CHARS = 60  # of a time cell's value, as an error quotes it


def _parse_time(value: Any) -> When | None:
    """A time cell: a date and time (`datetime`), a date alone (`date`), a time of day alone (`time`), or seconds from
    the conversation's start (`float`, which `_with_times` may yet read as an Excel date: `_excel_dates`); None for an
    empty cell. Written as text, in the forms Excel and contact-center systems write in Chinese locales (TIME_FORMATS:
    ISO 8601 with or without a zone, 2026/11/3 14:00 with one-digit month, day and hour, 2026年11月3日, 2026.11.03,
    上午/下午 and AM/PM, full-width digits); a workbook's own dates, times and durations as openpyxl reads them.
    ValueError, saying why in Chinese, for anything else and for a date outside FIRST_YEAR–LAST_YEAR (year 1 or 9999
    gave offsets of 315,537,897,599 s, and no start). A number of more than MAX_OFFSET seconds is a Unix timestamp
    or a date and time written without separators, where it can be (`_number`), else ValueError."""
    if value is None or value == "":
        return None
    if isinstance(value, date):  # a workbook's date cell (datetime is a date)
        return _in_years(value, value)
    if isinstance(value, time):  # a workbook's time-of-day cell
        return value
    if isinstance(value, timedelta):  # a workbook's duration cell ([h]:mm:ss): seconds
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool) and not _infinite(value):
        return _number(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    if _NUMBER.fullmatch(text):
        return _number(value, float(text))
    _no_excel_error(text, value)
    when = _text_time(text)
    if when is None:
        try:
            when = datetime.fromisoformat(text)  # a zone (+08:00, Z), a fraction, the basic format …
        except ValueError:
            raise ValueError(f"认不出时间 {_shown(value)}{TIME_FORMATS}") from None
    return _in_years(when, value)


def _infinite(number: float) -> bool:
    """Whether a number is infinite or NaN (an integer, of any size, is neither)."""
    return isinstance(number, float) and not math.isfinite(number)


def _no_excel_error(text: str, value: Any) -> None:
    """ValueError where a time cell's text is what a spreadsheet shows for a cell it cannot compute or show (saved to
    CSV so), saying so: it read 认不出时间 '#VALUE!' and the forms of a time."""
    if _EXCEL_ERROR.fullmatch(text):
        raise ValueError(
            f"时间 {_shown(value)} 是 Excel 的错误值：这个单元格在 Excel 里就出错了（公式出错，"
            "或日期超出了 Excel 能显示的范围）；请在 Excel 里改好再导出"
        )
    if _HASHES.fullmatch(text):
        raise ValueError(
            f"时间 {_shown(value)} 是 Excel 显示不了的日期：数值不是有效的日期（或列太窄放不下）时，Excel 显示 ####，"
            "另存时也就存成了 ####；请在 Excel 里改好（或把列拉宽）再导出"
        )


def _number(value: Any, number: float | None = None) -> When:
    """A number in a time cell: seconds from the conversation's start (or an Excel serial date: `_with_times`) up to
    MAX_OFFSET; a larger one is no such offset (a Unix timestamp of 1762149600 was a turn 56 years into its chat),
    but a Unix timestamp in seconds or milliseconds of _UNIX_YEARS (an instant: in UTC), or a date and time written
    without separators, 年月日时分秒 (20261103140005), 年月日时分 or 年月日 (a date alone), of those years; ValueError
    saying so for any other. `number`: the value, read as a number where it is text."""
    if number is None:
        try:
            number = float(value)
        except OverflowError:  # an integer of hundreds of digits
            number = math.inf
    if abs(number) < MAX_OFFSET:
        return number
    low, high = ((datetime(year, 1, 1, tzinfo=UTC) - _UNIX_EPOCH).total_seconds() for year in _UNIX_YEARS)
    if low <= number < high:
        return _UNIX_EPOCH + timedelta(seconds=number)
    if low * 1000 <= number < high * 1000:
        return _UNIX_EPOCH + timedelta(milliseconds=number)
    digits = str(int(number)) if math.isfinite(number) and number.is_integer() else ""
    if len(digits) in _COMPACT and _UNIX_YEARS[0] <= int(digits[:4]) < _UNIX_YEARS[1]:
        full = digits.ljust(14, "0")
        try:
            day = date(int(full[:4]), int(full[4:6]), int(full[6:8]))
            moment = time(int(full[8:10]), int(full[10:12]), int(full[12:14]))
            return day if len(digits) == 8 else datetime.combine(day, moment)
        except ValueError:
            raise ValueError(
                f"时间 {_shown(value)} 像是连写的年月日时分秒（如 20261103140005），但不是有效的日期时间"
            ) from None
    raise ValueError(
        f"认不出时间 {_shown(value)}：这个数字不是从会话开始算起的秒数（最多 {MAX_OFFSET:,} 秒，约 115 天），"
        f"也不是 {_UNIX_YEARS[0]}–{_UNIX_YEARS[1] - 1} 年的 Unix 时间戳（10 位秒数或 13 位毫秒数）"
        "或连写的年月日时分秒（20261103140005）"
    )


def _text_time(text: str) -> When | None:
    """A time written as text (`_parse_time`, width-folded); None where it is none of the forms read here."""
    day = None
    rest = text
    if found := _DATE.match(text):
        if (found["s1"], found["s2"], found["s3"]) not in _DATE_SEPARATORS:
            return None
        try:
            day = date(int(found["y"]), int(found["m"]), int(found["d"]))
        except ValueError:
            return None
        rest = text[found.end() :].strip().removeprefix("T").removeprefix("t")
        if not rest:
            return day
    moment = _clock(rest.strip())
    return moment if day is None or moment is None else datetime.combine(day, moment)


def _clock(text: str) -> time | None:
    """A time of day written as text: 14:00, 14:00:05.5, 14时00分05秒, with 上午/下午 or AM/PM before or after."""
    clock = _CLOCK.fullmatch(text)
    if clock is None or (clock["before"] and clock["after"]):
        return None
    hour = _hour(int(clock["H"]), (clock["before"] or clock["after"] or "").lower())
    try:
        return time(
            hour,
            int(clock["M"] or clock["M2"]),
            int(clock["S"] or clock["S2"] or 0),
            int((clock["f"] or "").ljust(6, "0")),
        )
    except ValueError:  # an hour, minute or second out of range (-1: a 12-hour clock's hour that is none)
        return None


def _hour(hour: int, meridiem: str) -> int:
    """The hour of a 24-hour clock for one written with 上午/下午 or AM/PM (-1 where it cannot be)."""
    if meridiem in _AM:
        return hour % 12 if hour <= 12 else -1  # 上午 12:30 is half past midnight, as Excel writes it
    if meridiem in _PM:
        return -1 if hour == 0 else hour + 12 if hour < 12 else hour  # 下午 12:30 is half past noon; 下午 14:00 twice
    if meridiem in _NOON:
        return hour + 12 if hour < 11 else hour  # 中午 1:00 is 13:00
    return hour


def _in_years(when: When, value: Any) -> When:
    """`when`, a date's year within FIRST_YEAR–LAST_YEAR (as a conversation's `started_at`; a text log's dates are held
    to the same); ValueError saying so."""
    if isinstance(when, date) and not FIRST_YEAR <= when.year <= LAST_YEAR:
        raise ValueError(f"时间 {_shown(value)} 的年份 {when.year} 不在 {FIRST_YEAR}–{LAST_YEAR} 之间")
    return when


def _shown(value: Any) -> str:
    """A time cell's value as an error quotes it: its first _SHOWN_CHARS characters (a cell of a million was quoted
    whole)."""
    if isinstance(value, datetime):
        return repr(value.isoformat(sep=" "))
    text = value if isinstance(value, str) else str(value)
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…")


def _kind(when: When) -> str:
    """What a time cell holds, as `_add_row` tells them apart."""
    if isinstance(when, datetime):
        return "日期加时刻"
    if isinstance(when, date):
        return "只有日期"
    if isinstance(when, time):
        return "只有时刻"
    return "秒数"


def _named_kind(when: When, epoch: datetime) -> str:
    """What a time cell holds, as an error names it: a number that looks like an Excel serial date (of the years
    _SERIAL_YEARS, with a fraction of a day: 46329.5840 is 2026-11-03 14:00) is named so — called 秒数, it was not
    recognisable as the date it is; a whole number of those years may be either."""
    if not isinstance(when, float):
        return _kind(when)
    low, high = ((datetime(year, 1, 1) - epoch).days for year in _SERIAL_YEARS)
    if not low <= when < high:
        return _kind(when)
    if when.is_integer():
        return "秒数，或 Excel 的日期序号"
    return f"Excel 的日期序号，即 {_serial_date(when, epoch)}"


def read_rows(
    rows: Iterator[tuple[int, Row]], path: str, overrides: dict[str, str], epoch: datetime = EXCEL_EPOCH
) -> Iterator[Record]:
    """The conversations of a table's rows, the first its header; `epoch`: day 0 of the Excel serial dates its time
    cells may hold (`_with_times`)."""
    try:
        _, headers = next(rows)
    except StopIteration:
        yield IngestError(path, None, "空表格")
        return
    if isinstance(headers, BadRow):
        yield headers.error
        return
    columns = _resolve([str(h or "") for h in headers], overrides)
    missing = [f for f in ("role", "text") if f not in columns]
    if missing:
        yield IngestError(
            path,
            1,
            f"找不到 {'、'.join(missing)} 列（表头：{', '.join(map(str, headers))}）；请把表头改为 角色、内容"
            "（命令行也可用 --columns 字段=表头 指定）",
        )
        return
    body: Iterator[tuple[int, Row]] | None = rows
    if "conversation_id" not in columns:  # the whole file is one conversation, named after it: say so
        body = yield from _as_one_conversation(rows, path, [str(h or "") for h in headers], columns)
    if body is None:
        return
    grouped = _Grouped(path, columns, [str(h or "") for h in headers], epoch)
    for number, row in body:
        if error := grouped.take(number, row):
            yield error
    yield from grouped.results()


class _Grouped:
    """A table's rows grouped into conversations by their id, with the lines of each conversation's rows that could
    not be read: a conversation that lost any is not stored half (its score judged on what was left, say the agent's
    好的 alone, and stored again beside the whole one once the file is fixed and imported again), but reported,
    naming its id and those lines. A row whose conversation cannot be told (an XLSX row not read at all) is lost to
    the conversations of the rows before and after it."""

    def __init__(self, path: str, columns: dict[str, int], headers: list[str], epoch: datetime = EXCEL_EPOCH):
        self.path, self.columns, self.headers, self.epoch = path, columns, headers, epoch
        self.conversations: dict[str, dict[str, Any]] = {}
        self.first: dict[str, int] = {}  # each conversation's first line (of any row), in the order they come
        self.lost: dict[str, list[int]] = {}  # the lines of each conversation's rows not read
        self.last: str | None = None  # the conversation of the row before
        self.unplaced: list[int] = []  # lines of rows not read whose conversation is not known, since the last known

    def take(self, number: int, row: Row) -> IngestError | None:
        """Read one row into its conversation; the row's error, if it cannot be read."""
        if isinstance(row, BadRow):
            self._lose(self._key(row.cells, partial=True), number)
            return row.error
        cells = {field: row[index] if index < len(row) else None for field, index in self.columns.items()}
        key = self._key(row)
        for field, index in sorted(self.columns.items(), key=lambda item: item[1]):
            if isinstance(problem := cells[field], CellProblem):  # a formula never computed: no empty message
                self._lose(key, number)
                header = self.headers[index] if index < len(self.headers) else ""
                return IngestError(
                    self.path,
                    number,
                    f"“{header}”列的单元格 {_column_letter(index)}{number} {problem.why}：这一行没有读入",
                )
        if not cell_text(cells.get("text")).strip():  # an empty message: its conversation is seen, nothing more
            if key is not None and cell_text(cells.get("conversation_id")).strip():
                self._seen(key, number)
            return None
        error = None if key is None else _add_row(self.conversations, key, cells, self.path, number, self.epoch)
        if key is None or error is not None:
            self._lose(key, number)
            return error or IngestError(self.path, number, BAD_LINE)
        self._seen(key, number)
        return None

    def _key(self, row: Sequence[Any], partial: bool = False) -> str | None:
        """The conversation of a row's cells: the file's name where there is no id column, or an empty id; None where it
        cannot be told: bad bytes in the id, or (`partial`: what could be read of a row) no cell of it."""
        index = self.columns.get("conversation_id")
        if index is None:
            return Path(self.path).stem
        if index >= len(row) and partial:
            return None
        value = row[index] if index < len(row) else None
        if isinstance(value, CellProblem):
            return None
        key = cell_text(value) or Path(self.path).stem
        return None if BAD_BYTES in key else key

    def _seen(self, key: str, number: int) -> None:
        self.first.setdefault(key, number)
        if self.unplaced:  # rows of no known conversation, just before this one's
            self.lost.setdefault(key, []).extend(self.unplaced)
            self.unplaced = []
        self.last = key

    def _lose(self, key: str | None, number: int) -> None:
        if key is None:
            if self.last is not None:
                self.lost.setdefault(self.last, []).append(number)
            self.unplaced.append(number)
            return
        self._seen(key, number)
        self.lost.setdefault(key, []).append(number)

    def results(self) -> Iterator[Record]:
        """The conversations in the order they began, each read whole; or why not."""
        for key, line in self.first.items():
            conv = self.conversations.get(key)
            if lines := self.lost.get(key):
                if conv is not None:  # else no row of it was read: each row's error said so
                    yield lost_lines(self.path, line, key, lines)
            elif conv is None:  # rows with an id and no words
                yield IngestError(self.path, line, f"会话 {key!r}：{EMPTY_TURNS}")
            elif untimed := _untimed(conv, self.path):
                yield from untimed
                yield lost_lines(self.path, line, key, [error.line for error in untimed if error.line])
            else:
                conv.pop("line")
                texts, lines = [turn["text"] for turn in conv["turns"]], conv["lines"]
                timed = _with_times(conv, self.path, self.epoch)
                if isinstance(timed, IngestError):
                    yield timed
                else:
                    too_big = lines_over_bounds(self.path, line, key, texts, lines, "这一行的消息")
                    yield too_big or validate(timed, self.path, line)


def _untimed(conv: dict[str, Any], path: str) -> list[IngestError]:
    """The errors of a conversation's rows without a time where others have one, at their lines. Such a conversation
    lost the timing of all its rows without a word; timing the others alone would not be honest either: a reply with
    no time beside timed ones (the customer's question at 14:00, the agent's first answer untimed, a second at 14:05)
    is a first response of 5 minutes, or none, to the rules that time replies. So the conversation is not stored, as
    one with a row not read (`lost_lines`)."""
    times = conv["times"]
    timed = next((i for i, when in enumerate(times) if when is not None), None)
    if timed is None or None not in times:
        return []
    example = f"第 {conv['lines'][timed]} 行是 {conv['raw'][timed]}"
    return [
        IngestError(
            path,
            line,
            f"时间是空的，而会话 {conv['id']!r} 的其他行有时间（{example}）：一句没有时间，回复间隔就算不出来，"
            "这一行没有读入；请补上时间，或把这个会话的时间都留空",
        )
        for when, line in zip(times, conv["lines"], strict=True)
        if when is None
    ]


def _column_letter(index: int) -> str:
    """A column's letters as Excel names it (0 → A, 26 → AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


ONE_CONVERSATION = "找不到会话ID列，整个文件读成了一个会话"


def _as_one_conversation(
    rows: Iterator[tuple[int, Row]], path: str, headers: list[str], columns: dict[str, int]
) -> Generator[IngestError, None, Iterator[tuple[int, Row]] | None]:
    """The rows of a table without a conversation id column, to be read as one conversation, after the note that
    says so (`_one_file`); None, after the error, where they are not to be."""
    read = list(rows)
    if problem := _one_file(path, headers, columns, read):
        yield problem
        if not problem.reason.startswith(ONE_CONVERSATION):
            return None
    return iter(read)


def _one_file(
    path: str, headers: list[str], columns: dict[str, int], rows: list[tuple[int, Row]]
) -> IngestError | None:
    """Why a table without a conversation id column is not read as one conversation: a column of its own whose values
    come in blocks of rows, as conversation ids do (a `conv` header not recognised: k-1, k-1, k-2…), would have every
    conversation of the file merged and scored as one. Else, for a table of rows, a note that it is read as one,
    named after the file (a chat saved alone needs no id column): the note, kept, starts with ONE_CONVERSATION."""
    mapped = set(columns.values())
    cells = [row for _, row in rows if not isinstance(row, BadRow)]
    option = "--columns conversation_id=<列名>"
    columns_seen: dict[int, list[str]] = {}  # each unmapped column's values, read row by row (a wide header of short
    for row in cells:  # rows took header × rows: 100,000 columns over a million rows, half an hour)
        for index, value in enumerate(row):
            if index not in mapped and (text := cell_text(value).strip()):
                columns_seen.setdefault(index, []).append(text)
    for index, values in sorted(columns_seen.items()):
        header = headers[index] if index < len(headers) else ""
        distinct = list(dict.fromkeys(values))
        blocks = 1 + sum(a != b for a, b in itertools.pairwise(values))
        # ids hold a digit (k-1, 10086…); a message type or a read mark in blocks (文本…图片…) does not
        if (
            2 <= len(distinct) == blocks < len(values)
            and all(any(c.isdigit() for c in v) for v in distinct)
            and not all(_is_clock(v) for v in distinct)
        ):
            named = f"--columns conversation_id={header}" if header.strip() else option
            return IngestError(
                path,
                1,
                f"找不到会话ID列，而“{header}”列像是会话ID（{len(distinct):,} 个值，如 {'、'.join(distinct[:3])}）："
                f"没有把整个文件当作一个会话读入；请把这一列的表头改为 会话ID（命令行也可用 {named} 指定）",
            )
    if not cells:
        return None
    return IngestError(
        path,
        1,
        f"{ONE_CONVERSATION}“{Path(path).stem}”（表头：{', '.join(headers)}）；"
        f"如果文件里有多个会话，请加一列 会话ID（命令行也可用 {option} 指定）",
        note=True,  # nothing was left out: the file is done
    )


def _is_clock(value: str) -> bool:
    """Whether a value is a date or a time written as such: not a number, though one may be a date (a column of
    numeric ids, 1762149600, in blocks of rows is one of ids)."""
    if _NUMBER.fullmatch(unicodedata.normalize("NFKC", value).strip()):
        return False
    try:
        return isinstance(_parse_time(value), date | time)
    except ValueError:
        return False


def _add_row(
    conversations: dict[str, dict[str, Any]],
    key: str,
    cells: dict[str, Any],
    path: str,
    number: int,
    epoch: datetime = EXCEL_EPOCH,
) -> IngestError | None:
    """Append one row's turn (its text not empty) to its conversation `key`; an unreadable role or time is the row's
    error, and so is a time of another kind than the conversation's first (`_kind`: a truncated row's `202`, seconds,
    among dates and times took the timing of its whole conversation) or, a date and time, with a zone where the
    first has none or the other way round (they cannot be subtracted)."""
    text = cell_text(cells.get("text")).strip()
    if any(isinstance(value, str) and BAD_BYTES in value for value in cells.values()):
        return IngestError(path, number, BAD_LINE)
    role = _ROLE_VALUES.get(cell_text(cells.get("role")).strip().lower())
    if role is None:
        return IngestError(
            path,
            number,
            f"认不出角色 {cells.get('role')!r}（应为 客服/客户/坐席/用户/系统 或 agent/customer/system）",
        )
    try:
        when = _parse_time(cells.get("time"))
    except ValueError as error:
        return IngestError(path, number, str(error))
    if when is not None and key in conversations:
        first, shown = conversations[key]["first_time"]  # kept, not looked for: a row at a time took n² on n rows
        if first is not None and _kind(first) != _kind(when):
            kinds = _named_kind(when, epoch), _named_kind(first, epoch)
            serial = "；Excel 的日期序号是日期存成了数字：请把时间列设为日期格式" if "序号" in "".join(kinds) else ""
            return IngestError(
                path,
                number,
                f"时间 {_shown(cells.get('time'))}（{kinds[0]}）与这个会话第一个时间 {shown}（{kinds[1]}）"
                f"写法不同：一个会话的时间要写成同一种{serial}",
            )
        if (
            isinstance(when, datetime)
            and isinstance(first, datetime)
            and (when.tzinfo is None) != (first.tzinfo is None)
        ):
            zone = "没有" if when.tzinfo is None else "带有"
            return IngestError(path, number, f"时间 {cells.get('time')!r} {zone}时区，与这个会话的第一个时间不同")
    conv = conversations.setdefault(
        key,
        {
            "id": key,
            "turns": [],
            "times": [],
            "raw": [],
            "lines": [],
            "first_time": (None, ""),
            "line": number,
            "meta": {},
        },
    )
    if when is not None and conv["first_time"][0] is None:
        conv["first_time"] = (when, _shown(cells.get("time")))
    for field in ("agent_id", "team", "channel"):
        if cells.get(field) not in (None, "") and field not in conv:
            conv[field] = cell_text(cells[field]).strip()
    conv["turns"].append({"role": role, "text": text})
    conv["times"].append(when)
    conv["raw"].append(_shown(cells.get("time")))
    conv["lines"].append(number)
    return None


_SERIAL_YEARS = (2000, 2100)  # the years [from, to) a conversation's numbers are taken for Excel serial dates in
# The days a conversation's Excel serial dates may span: numbers that, read as dates, span more are seconds (37000.5,
# 37010.5: ten seconds, not ten days)
_SERIAL_SPAN = 2


def _with_times(conv: dict[str, Any], path: str, epoch: datetime = EXCEL_EPOCH) -> dict[str, Any] | IngestError:
    """The conversation with its turns' start times from its rows' times (all of one kind: `_add_row`), or why it is
    not stored. Where no row has a time, the turns have none (rows of which some have none are refused: `_untimed`).

    - Dates and times: seconds from the first, which becomes `started_at`.
    - Times of day alone: seconds from the first; a time more than 12 hours before the one above it is past midnight
      (23:59:50, then 00:00:05), as a text log's are.
    - Dates alone: `started_at` at the first day's 00:00, and no start times: all at 0 s, every reply would have been
      instant to the rules that time replies (首次响应).
    - Numbers: seconds from the start; or Excel serial dates — `epoch` is the workbook's day 0 — where nothing else
      reads them (`_excel_dates`): every one of them of the years _SERIAL_YEARS, one at least with a fraction of a day
      (46329.5833 is 2026-11-03 14:00: a workbook's date cell without a date format, or one saved to CSV), and all
      within _SERIAL_SPAN days. A whole number stays seconds (37000, 37010: ten seconds, 10 h 16 min into a recording,
      or seconds of the day, were a chat of ten days in 2001 with no turn times), and so do numbers that, read as
      dates, would span more than _SERIAL_SPAN days (37000.5, 37010.5). A workbook's cell with a date format is a
      date and time already (openpyxl reads it so). A first time that is such a date beside a later one before it
      that is none (46329.5, then 5) is the conversation's error. A number past MAX_OFFSET seconds was read as a
      date and time already (`_number`: a Unix timestamp, 20261103140005), or is its row's error.

    A time before the one of the row above it in the conversation is its error, not stored: the rows are out of
    order (sorted by something else than time), and turns out of order, or replies before the question (negative
    gaps), are what the rules would have judged. The error names the conversation and the row."""
    times, shown, lines = conv.pop("times"), conv.pop("raw"), conv.pop("lines")
    conv.pop("first_time")
    if not times or any(t is None for t in times):  # none has one (`_untimed`)
        return conv
    if isinstance(start := times[0], float) and (dates := _excel_dates(times, epoch)) is not None:
        if isinstance(dates, int):
            return IngestError(
                path,
                lines[dates],
                f"会话 {conv['id']!r}：第一个时间 {shown[0]} 是 Excel 的日期序号（{_serial_date(start, epoch)}），"
                f"时间 {shown[dates]} 却不是：整个会话都没有导入；请把时间列设为日期格式，或都写成秒数",
            )
        times = dates
    seconds = _seconds(times)
    for i in range(1, len(seconds)):
        if seconds[i] < seconds[i - 1]:
            return IngestError(
                path,
                lines[i],
                f"会话 {conv['id']!r}：时间 {shown[i]} 早于这个会话上一行（第 {lines[i - 1]} 行）的 {shown[i - 1]}："
                "行没有按时间先后排列，整个会话都没有导入；请按时间排好再导入",
            )
    first = times[0]
    if isinstance(first, date):
        conv["started_at"] = (first if isinstance(first, datetime) else datetime.combine(first, time())).isoformat()
        if not isinstance(first, datetime):
            return conv
    for turn, start in zip(conv["turns"], seconds, strict=True):
        turn["start"] = start
    return conv


def _seconds(times: list[When]) -> list[float]:
    """Seconds of each time from the first, the times all of one kind (`_with_times`)."""
    first = times[0]
    if isinstance(first, time):
        return _clock_seconds(times)
    if isinstance(first, datetime):
        return [(t - first).total_seconds() for t in times if isinstance(t, datetime)]
    if isinstance(first, date):
        return [float((t - first).days * DAY_SECONDS) for t in times if isinstance(t, date)]
    return [t for t in times if isinstance(t, float)]


def _excel_dates(numbers: list[When], epoch: datetime) -> list[When] | int | None:
    """The conversation's times, numbers all (`_with_times`), as Excel serial dates where that reading is not in
    doubt: each of _SERIAL_YEARS, one at least with a fraction of a day, all within _SERIAL_SPAN days; None where
    they are seconds. Where the first is a serial date with a fraction and a later one is none and earlier than it (as
    seconds they would be out of order as well), the index of that one, to say so."""
    low, high = ((datetime(year, 1, 1) - epoch).days for year in _SERIAL_YEARS)
    serials = [n for n in numbers if isinstance(n, float)]
    first = serials[0]
    if len(serials) != len(numbers) or not low <= first < high:
        return None
    if not all(low <= n < high for n in serials):
        if first.is_integer():
            return None
        return next((i for i, n in enumerate(serials) if not low <= n < high and n < first), None)
    if all(n.is_integer() for n in serials) or max(serials) - min(serials) > _SERIAL_SPAN:
        return None
    return [_serial(n, epoch) for n in serials]


def _serial(number: float, epoch: datetime) -> datetime:
    """An Excel serial date, to the millisecond (46329.58333333334 is 14:00:00, not 13:59:59.999999)."""
    return epoch + timedelta(milliseconds=round(number * DAY_SECONDS * 1000))


def _serial_date(number: float, epoch: datetime) -> str:
    return _serial(number, epoch).isoformat(sep=" ", timespec="minutes")


def _clock_seconds(times: list[When]) -> list[float]:
    """Seconds of times of day from the first, a day added each time the clock goes back by more than 12 hours (past
    midnight); a smaller step back stays one (`_with_times` reports it)."""
    seconds: list[float] = []
    day = 0
    for moment in times:
        assert isinstance(moment, time)
        at = moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6 + day * DAY_SECONDS
        if seconds and past_midnight(seconds[-1], at):
            day += 1
            at += DAY_SECONDS
        seconds.append(at)
    return [at - seconds[0] for at in seconds]


def read_csv(text: str, path: str, overrides: dict[str, str]) -> Iterator[Record]:
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",\t;|").delimiter
    except csv.Error:
        delimiter = ","
    # Only the delimiter is sniffed: the sniffer misjudges Excel's doubled quotes ("") in short samples.
    rows = csv_rows(text_lines(text), path, delimiter)
    ended = text.endswith(("\n", "\r"))
    yield from read_rows(_as_wide_as_header(rows, path, delimiter, overrides, ended), path, overrides)


_DELIMITERS = {",": "逗号", "\t": "制表符", ";": "分号", "|": "竖线"}


_NEEDED = ("conversation_id", "role", "text")  # the fields a row is read from: one short of them is cut short


def _as_wide_as_header(
    rows: Iterator[tuple[int, Row]], path: str, delimiter: str, overrides: dict[str, str], ended: bool = True
) -> Iterator[tuple[int, Row]]:
    """A CSV's rows, the first its header, each row that has not the cells it is read from its error (with its cells,
    to tell its conversation). A row without a cell of its conversation id, role or text is cut short (a file cut off
    in its last row was stored); the file's last row, where no line break ends the file (`ended` false), is held to
    every column read (a cut there left `202` of a time, read as seconds, or a part of an agent's id). Other cells left
    out at the end of a row are empty: exporters leave out a row's trailing empty cells (a 备注 column), and a time
    left out is one of the row's times left empty (`_untimed`). A row whose cells past the header's hold anything has
    its cells shifted (a delimiter in a message, not quoted) and its columns cannot be told. Extra cells that are
    empty (a trailing delimiter) and rows all empty (a blank line) are as they were. An XLSX row holds the cells
    written in it and is not held to this."""
    header = named = None
    needed = read = 0  # the cells a row needs, and those of the file's last row not ended by a line break
    rows = iter(rows)
    following = next(rows, None)
    while following is not None:
        (number, row), following = following, next(rows, None)
        if isinstance(row, BadRow) or not any(str(cell).strip() for cell in row):
            yield number, row
            continue
        if header is None:
            header = len(row)
            named = max((i + 1 for i, cell in enumerate(row) if str(cell).strip()), default=0)
            columns = _resolve([str(cell) for cell in row], overrides)
            needed = max((columns[field] + 1 for field in _NEEDED if field in columns), default=0)
            read = max((index + 1 for index in columns.values()), default=0)
            yield number, row
            continue
        if len(row) < needed or (following is None and not ended and len(row) < read):
            why = f"这一行只有 {len(row)} 个单元格，表头有 {named} 列：这一行不完整（文件被截断了？），没有读入"
        elif any(str(cell).strip() for cell in row[header:]):
            said = _DELIMITERS.get(delimiter, repr(delimiter))
            why = (
                f"这一行有 {len(row)} 个单元格，比表头的 {header} 列多，多出的单元格有内容（内容里的{said}没有加引号？）："
                "这一行没有读入"
            )
        else:
            yield number, row
            continue
        yield number, BadRow(IngestError(path, number, why), tuple(row))


def csv_rows(lines: list[str], path: str, delimiter: str) -> Iterator[tuple[int, Row]]:
    """(line, cells) of each row, at its first line (a quoted cell may span lines); lines end where an editor ends
    them (CR alone too: a Mac export was one unreadable row). The reader is strict: a row it refuses — a quote never
    closed, which took every row after it into one cell and lost them without a word, text after a closing quote, a
    cell over MAX_LINE_CHARS — is that row's error, and the rows are read again from the line after its first. A line
    of more than MAX_ROW_CELLS cells is its own error, never split: 50 MB of commas took 800 MB as one row's cells."""
    begin = 0  # index of the line the current reader starts at
    while begin < len(lines):
        reader = csv.reader(_fed(lines, begin, delimiter), csv.excel, delimiter=delimiter, strict=True)
        start = begin + 1  # the line the next row starts at
        try:
            for row in reader:
                yield start, row
                start = begin + reader.line_num + 1
            return
        except csv.Error as error:
            yield start, BadRow(IngestError(path, start, csv_problem(error)), _first_cells(lines[start - 1], delimiter))
            begin = start
        except _TooWide as wide:
            yield (
                wide.line,
                BadRow(IngestError(path, wide.line, TOO_WIDE), _first_cells(lines[wide.line - 1], delimiter)),
            )
            begin = wide.line


def _first_cells(line: str, delimiter: str) -> tuple[str, ...]:
    """The cells of a row's first line that the strict reader refused, read leniently (a quote never closed ends with
    the line), up to the first 4,096 characters: enough to tell the row's conversation id. Where even that reading
    fails (a cell over the csv module's limit), the line split at the delimiter."""
    start = line[:4096].replace("\0", "")
    try:
        return tuple(next(csv.reader([start], delimiter=delimiter, strict=False), []))
    except csv.Error:
        return tuple(start.split(delimiter))


TOO_WIDE = f"一行超过 {MAX_ROW_CELLS:,} 个单元格的上限"
# The csv module's errors (matched by their start) as a user reads them
_CSV_SAYS = (
    ("unexpected end of data", "从这一行开始的引号直到文件末尾都没有闭合"),
    ("line contains NUL", "这一行有 NUL 字符"),
    ("new-line character seen in unquoted field", "没加引号的单元格里有换行"),
)


def csv_problem(error: csv.Error) -> str:
    """Why the csv module refused a row, in Chinese (its "',' expected after '"'" names the file's delimiter)."""
    message = str(error)
    if limit := re.fullmatch(r"field larger than field limit \((\d+)\)", message):
        return f"CSV 行读不了：有个单元格超过 {int(limit[1]):,} 个字符的上限"
    if message.startswith("'") and message.endswith("' expected after '\"'"):
        return 'CSV 行读不了：引号闭合后还有文字（引号里的引号要写成两个：""）'
    said = next((chinese for english, chinese in _CSV_SAYS if message.startswith(english)), message)
    return f"CSV 行读不了：{said}"


class _TooWide(Exception):
    def __init__(self, line: int):
        self.line = line  # 1-based


def _fed(lines: list[str], begin: int, delimiter: str) -> Iterator[str]:
    for i in range(begin, len(lines)):
        if lines[i].count(delimiter) >= MAX_ROW_CELLS:
            raise _TooWide(i + 1)
        yield lines[i] + "\n"


def open_workbook(data: bytes) -> Any:
    """The workbook in `data`, read only — once its zip is known to unpack to at most MAX_XLSX_UNPACKED bytes (the
    entries' declared sizes, which zipfile also holds each entry to while reading): a "zip bomb" of a few hundred
    KB would otherwise take the process's memory into gigabytes. ValueError when it is larger. Read by `_reader`, as
    openpyxl's `load_workbook` reads it but for the sizes its sheets declare."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(entry.file_size for entry in archive.infolist())
    if unpacked > MAX_XLSX_UNPACKED:
        raise ValueError(f"解压后有 {unpacked >> 20} MB，超过工作簿最多的 {MAX_XLSX_UNPACKED >> 20} MB")
    reader = _reader()(io.BytesIO(data), read_only=True, data_only=True)
    reader.read()
    return reader.wb


@functools.cache
def _reader() -> type:
    """openpyxl's reader of a workbook (imported when a workbook is first read) whose sheets do not read the size they
    declare, which is not believed (`first_sheet`): openpyxl parsed each sheet up to its `dimension` element, or to
    the end of its rows where it has none, keeping every element it passed (44 KB of a sheet without one, ten million
    empty cells, took 900 MB as the workbook was opened). Chart sheets are left out: no rows are read from one."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    class _Sheet(ReadOnlyWorksheet):
        def _get_size(self) -> None:
            pass

    class _Reader(ExcelReader):
        def read_worksheets(self) -> None:
            for sheet, rel in self.parser.find_sheets():
                if rel.target in self.valid_files and "chartsheet" not in rel.Type:
                    worksheet = _Sheet(self.wb, sheet.name, rel.target, self.shared_strings)
                    worksheet.sheet_state = sheet.state
                    self.wb._sheets.append(worksheet)

    return _Reader


@dataclass(frozen=True)
class Unread:
    """Why a sheet's row cannot be read, and those of its cells that can (its conversation id, as a rule)."""

    why: str
    cells: tuple[Any, ...] = ()


def first_sheet(data: bytes) -> tuple[str, Iterator[tuple[int, tuple[Any, ...] | Unread]]]:
    """The title of the workbook's first sheet, and (row number, cells) of its rows, each row holding the cells written
    in it; for a row whose cells openpyxl cannot read (a number of more digits than Python converts), why, with the
    cells that can be read (`Unread`): that is the row's problem, while openpyxl's own reading ends there (the file was one error, its good
    rows lost). The size the sheet declares is not believed: one claiming A1:XFD1048576 with a cell on its last row
    (5 KB) was read as a million rows of 16,384 cells each."""
    book = open_workbook(data)
    if not book.worksheets:
        raise ValueError("工作簿里没有工作表")
    sheet = book.worksheets[0]
    return sheet.title, _sheet_rows(book, sheet)


MAX_SHEET_ROWS = 1_048_576  # an Excel sheet's rows
_MAX_CELL_PARTS = 10_000  # XML elements in one cell (a rich text's runs and their formats): a few in Excel's
_MAX_XML_DEPTH = 100  # levels of XML elements in a sheet: Excel writes about ten


def _sheet_rows(book: Any, sheet: Any) -> Generator[tuple[int, tuple[Any, ...] | Unread], None, None]:
    """The rows of a read-only `sheet` as openpyxl's `iter_rows(values_only=True)` gives them (a row not written is
    empty), read by `_RowParser` from the parts of the workbook openpyxl's own `ReadOnlyWorksheet._cells_by_row` reads
    them from. A row that openpyxl left out without a word — numbered again, out of order, from 0 or below, past the
    sheet's last row (MAX_SHEET_ROWS; one numbered 99,999,999 took 85 s of empty rows) — is that row's error, as are
    a cell that cannot be read and a shared string out of range (a negative one read the last string)."""
    with sheet._get_source() as source:
        parser = _row_parser()(
            source,
            _SharedStrings(sheet._shared_strings),
            data_only=book.data_only,
            epoch=book.epoch,
            date_formats=book._date_formats,
            timedelta_formats=book._timedelta_formats,
        )
        expected = 1  # the number of the next row
        for number, cells, problem in parser.parse():
            if problem is not None:
                yield number, Unread(problem, _values(cells))
                continue
            if not cells:  # a row written empty: as one not written
                continue
            if not expected <= number <= MAX_SHEET_ROWS:
                if number < 1:
                    why = f"行号是 {number}，但行号从 1 开始"
                elif number < expected:
                    why = f"第 {number:,} 行排在第 {expected - 1:,} 行之后（行号重复或顺序错乱）"
                else:
                    why = f"第 {number:,} 行，超过了工作表最多的 {MAX_SHEET_ROWS:,} 行"
                yield expected if number < 1 else number, Unread(f"{why}：这一行没有读入", _values(cells))
                continue
            for empty in range(expected, number):
                yield empty, ()
            expected = number + 1
            yield number, _values(cells)


def _values(cells: list[dict[str, Any]]) -> tuple[Any, ...]:
    """A row's values by column from its cells, which may come in any order."""
    values: list[Any] = [None] * max((cell["column"] for cell in cells), default=0)
    for cell in cells:
        if cell["column"] >= 1:
            values[cell["column"] - 1] = cell["value"]
    return tuple(values)


class _SharedStrings:
    """The workbook's shared strings by index, a cell's index out of their range its `IndexError` (a negative one
    read a string from the end of Python's list)."""

    def __init__(self, strings: Any):
        self.strings = strings

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self.strings):
            raise IndexError(f"没有第 {index} 个共享字符串：工作簿只有 {len(self.strings):,} 个")
        return self.strings[index]


class _OutOfBounds(Exception):
    """Why a sheet's XML is not read on (`_RowReader`)."""


class _RowReader:
    """A sheet's rows read from its XML element by element (`_RowParser.parse`). openpyxl's own `parse` kept every
    element of the sheet but the rows' and all of a row's cells until its end: a 44 KB workbook of one row of ten
    million empty cells took 3 GB. Here each element is let go once read (cut from its parent), so memory holds one
    row's cells, at most MAX_ROW_CELLS, and one cell's parts. A cell of more than _MAX_CELL_PARTS parts, or XML nested
    past _MAX_XML_DEPTH, ends the reading (`_OutOfBounds`), the rows before it kept: no spreadsheet writes either."""

    def __init__(self, parser: Any, row_tag: str, cell_tag: str):
        self.parser, self.row_tag, self.cell_tag = parser, row_tag, cell_tag
        self.opened: list[Any] = []  # the elements open, outermost first
        self.row: Any = None  # the row and cell being read
        self.cell: Any = None
        self.cells: list[dict[str, Any]] = []
        self.why: str | None = None  # why the row cannot be read
        self.parts = 0  # elements in the cell, kept until it ends
        self.dates = {str(style) for style in parser.date_formats}  # the styles of dates (`_cell`)

    def start(self, element: Any) -> None:
        self.opened.append(element)
        if len(self.opened) > _MAX_XML_DEPTH:
            raise _OutOfBounds(f"工作表的 XML 嵌套超过 {_MAX_XML_DEPTH} 层")
        if self.cell is not None:
            self.parts += 1
            if self.parts > _MAX_CELL_PARTS:
                raise _OutOfBounds(f"有个单元格超过 {_MAX_CELL_PARTS:,} 个 XML 元素")
        elif element.tag == self.row_tag and self.row is None:
            self.row, self.cells, self.why = element, [], _numbered(self.parser, element)
        elif element.tag == self.cell_tag and self.row is not None and self.opened[-2] is self.row:
            self.cell, self.parts = element, 0

    def end(self, element: Any) -> tuple[int, list[dict[str, Any]], str | None] | None:
        """The row that `element` ends, as (number, cells, why it cannot be read or None); None for another
        element."""
        self.opened.pop()
        done = None
        if element is self.cell:  # read, the row's problems or not, for the row's conversation id
            self.cell = None
            if len(self.cells) >= MAX_ROW_CELLS:
                self.why = self.why or TOO_WIDE
            elif (why := _cell(self.parser, element, self.cells, self.dates)) and self.why is None:
                self.why = why
        elif element is self.row:
            self.row = None
            done = self.parser.row_counter, self.cells, self.why
        elif self.cell is not None:
            return None  # a part of the cell, read with it
        if self.opened:
            self.opened[-1].remove(element)  # the first of its parent's children: those before it are gone
        return done


def _numbered(parser: Any, row: Any) -> str | None:
    """The row's number set (`parser.row_counter`) from its `r`, or the one after the last without; why when `r` is
    no number."""
    parser.col_counter = 0
    given = row.get("r")
    if given is None:
        parser.row_counter += 1
        return None
    try:
        parser.row_counter = int(given)
    except ValueError:
        try:
            number = float(given)
        except ValueError:
            number = math.nan
        if not number.is_integer():
            parser.row_counter += 1
            return f"行号 {given[:20]!r} 不是整数"
        parser.row_counter = int(number)
    return None


def _cell(parser: Any, element: Any, cells: list[dict[str, Any]], dates: set[str]) -> str | None:
    """The cell read into `cells` (openpyxl's `parse_cell`); why it cannot be, or None. `dates`: the styles of dates,
    whose value out of range (a negative number, or one past 9999-12-31: Excel shows ####) openpyxl reads as an error
    value "#VALUE!", warning besides with a line of its own source on the terminal; it was reported as 认不出时间
    '#VALUE!' and the forms of a time, not saying what the cell holds. A formula without a saved result, an error
    value, or such a date is read as a `CellProblem` (a formula whose result is an empty text, saved as such, is that
    text)."""
    try:
        if element.get("s") in dates:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Cell .* is marked as a date", UserWarning)
                cell = parser.parse_cell(element)
        else:
            cell = parser.parse_cell(element)
        if element.get("t") == "e":
            cell["value"] = CellProblem(f"是错误值 {str(cell['value'])[:20]}", cell["value"])
        elif cell["data_type"] == "e":  # a date openpyxl could not convert
            number = str(element.findtext(_VALUE_TAG))[:20]
            cell["value"] = CellProblem(
                f"是日期格式，但数值 {number} 不是 Excel 能显示的日期（超出了 Excel 的日期范围，Excel 里显示为 ####）",
                cell["value"],
            )
        elif cell["value"] is None and element.find(_FORMULA_TAG) is not None:
            saved = element.find(_VALUE_TAG) is not None and element.get("t") == "str"  # ="" (an empty text)
            if not saved:
                cell["value"] = CellProblem(NO_SAVED_VALUE)
        cells.append(cell)
    except (ValueError, LookupError) as error:  # a number, date or shared text a cell cannot be read as
        if isinstance(error, ValueError) and "integer string conversion" in str(error):
            # Python refuses to convert thousands of digits (a guard against quadratic time): say what the cell is,
            # not how to lift the guard
            return f"有个数字单元格超过 {sys.get_int_max_str_digits():,} 位；请把这一列存成文本"
        return _unreadable_cell(element, error)
    return None


_CELL_KINDS = {"b": "真假值（0 或 1）", "d": "日期", "s": "共享字符串的编号", "n": "数字"}


def _unreadable_cell(element: Any, error: Exception) -> str:
    """Why a cell cannot be read, naming it and what it holds (openpyxl's ValueError: invalid literal for int() with
    base 10: 'abc', in English and naming no cell)."""
    where = f"单元格 {str(element.get('r'))[:12]}" if element.get("r") else "有个单元格"
    if _CJK.search(str(error)):  # this module's own words (`_SharedStrings`)
        return f"{where} 读不了：{error}"
    kind = _CELL_KINDS.get(str(element.get("t") or "n"), "数字")
    return f"{where} 的类型是{kind}，值却是 {str(element.findtext(_VALUE_TAG))[:20]!r}，读不了"


def _xml_where(error: ParseError) -> str:
    """Where the XML parser stopped, in Chinese (its own words are English: unclosed token: line 1, column 0)."""
    line, column = getattr(error, "position", (0, 0))
    return f"XML 第 {line} 行第 {column + 1} 列格式不对"


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_FORMULA_TAG, _VALUE_TAG = f"{_MAIN}f", f"{_MAIN}v"  # openpyxl's FORMULA_TAG and VALUE_TAG


@functools.cache
def _row_parser() -> type:
    """openpyxl's parser of a sheet's XML (imported when a workbook is first read), reading the rows alone
    (`_RowReader`), on past a row it cannot read, giving why in place of the row's cells."""
    from openpyxl.worksheet._reader import CELL_TAG, ROW_TAG, WorkSheetParser
    from openpyxl.xml.functions import iterparse

    class _RowParser(WorkSheetParser):
        def parse(self) -> Iterator[tuple[int, list[dict[str, Any]], str | None]]:
            reader = _RowReader(self, ROW_TAG, CELL_TAG)
            try:
                for event, element in iterparse(self.source, events=("start", "end")):
                    if event == "start":
                        reader.start(element)
                    elif (row := reader.end(element)) is not None:
                        yield row
            except (_OutOfBounds, ParseError) as error:  # the rows read so far are kept (a sheet cut short lost them)
                number = self.row_counter + (reader.row is None)
                why = str(error) if isinstance(error, _OutOfBounds) else f"工作表的 XML 中断了（{_xml_where(error)}）"
                cells = [] if reader.row is None else reader.cells  # those of the row it ends in, read so far
                yield number, cells, f"{why}：工作表余下的部分没有读入"

    return _RowParser


def sheet_rows(data: bytes) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(row number, cells) of the workbook's first sheet (`first_sheet`), for call lists: a row that cannot be read
    raises ValueError, ending the rows."""
    return _until_unread(first_sheet(data)[1])


def _until_unread(rows: Iterator[tuple[int, tuple[Any, ...] | Unread]]) -> Iterator[tuple[int, tuple[Any, ...]]]:
    for number, cells in rows:
        if isinstance(cells, Unread):
            raise ValueError(f"第 {number} 行：{cells.why}")
        yield number, tuple(cell.value if isinstance(cell, CellProblem) else cell for cell in cells)


def read_xlsx(data: bytes, path: str, overrides: dict[str, str]) -> Iterator[Record]:
    """The conversations of the workbook's first sheet; a note naming its other sheets that hold anything, which are
    not read (the format is one table of messages: docs/format.md), where there are any — a sheet left out was lost
    without a word."""
    book = open_workbook(data)
    if not book.worksheets:
        raise ValueError("工作簿里没有工作表")
    sheet = book.worksheets[0]
    if others := [other.title for other in book.worksheets[1:] if _holds_anything(book, other)]:
        named = "、".join(f"“{title}”" for title in others[:5]) + (f" 等 {len(others):,} 个" if len(others) > 5 else "")
        yield IngestError(
            path,
            None,
            f"只读了第一个工作表“{sheet.title}”；工作表 {named}也有内容，没有读入"
            "（要导入它，请把它移到第一个，或另存为单独的文件）",
            note=True,  # the first sheet is read whole: said, no error (an error had the file read again every run)
        )
    rows = _sheet_rows(book, sheet)
    yield from read_rows(
        (_xlsx_row(number, cells, path, sheet.title) for number, cells in rows), path, overrides, book.epoch
    )


def _holds_anything(book: Any, sheet: Any) -> bool:
    """Whether a sheet has a cell with a value, or a row that cannot be read: read up to the first (an empty sheet,
    Sheet2 of a new workbook, is no sheet left out)."""
    rows = _sheet_rows(book, sheet)
    try:
        return any(
            isinstance(cells, Unread) or any(isinstance(cell, CellProblem) or str(cell or "").strip() for cell in cells)
            for _, cells in rows
        )
    finally:
        rows.close()


def _xlsx_row(number: int, cells: tuple[Any, ...] | Unread, path: str, sheet: str) -> tuple[int, Row]:
    """A row's cells, or its error naming the sheet: a row that cannot be read, or a cell over MAX_LINE_CHARS (as a CSV
    cell: a text that long is no message, and it cost its whole conversation, reported as a turn too long)."""
    if isinstance(cells, Unread):
        return number, BadRow(IngestError(path, number, f'工作表 "{sheet}"：{cells.why}'), cells.cells)
    for column, value in enumerate(cells, start=1):
        if isinstance(value, str) and len(value) > MAX_LINE_CHARS:
            from openpyxl.utils import get_column_letter

            return number, BadRow(
                IngestError(
                    path,
                    number,
                    f'工作表 "{sheet}" 单元格 {get_column_letter(column)}{number}：{len(value):,} 个字符，'
                    f"超过单元格最多的 {MAX_LINE_CHARS:,} 个",
                ),
                tuple(None if isinstance(v, str) and len(v) > MAX_LINE_CHARS else v for v in cells),
            )
    return number, list(cells)


_CJK = re.compile(r"[\u4e00-\u9fff]")
_MISSING_PART = re.compile(r"There is no item named '(?P<part>[^']*)' in the archive")


def workbook_problem(error: BaseException) -> str:
    """Why a workbook cannot be read, in Chinese: zipfile and openpyxl say it in English (BadZipFile: File is not a
    zip file; KeyError: "There is no item named '[Content_Types].xml' in the archive"), which reached the terminal and
    the upload page as it was. A reason of this module's own (in Chinese) is kept."""
    message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    if _CJK.search(message):
        return message
    if isinstance(error, zipfile.BadZipFile) and "not a zip file" in message:
        return "不是 zip 压缩包（XLSX 工作簿是 zip 格式的），或文件不完整：可能是改了扩展名的 .xls、CSV 或其他文件"
    if isinstance(error, zipfile.BadZipFile | EOFError) or type(error).__name__ == "error":  # zlib.error
        return "压缩数据损坏（文件不完整或被改动过）：请用 Excel 打开后重新保存"
    if part := _MISSING_PART.search(message):
        return f"缺少工作簿的组成部分 {part['part']}：不是 Excel 等表格软件保存的 XLSX，或文件不完整"
    if isinstance(error, ParseError):
        line, column = getattr(error, "position", (0, 0))
        return f"工作簿里有个 XML 部件格式不对（第 {line} 行第 {column + 1} 列）：文件不完整或被改动过"
    if isinstance(error, NotImplementedError):  # a compression method zipfile does not know
        return "用了读不了的压缩方式：请用 Excel 打开后重新保存"
    if "no valid workbook part" in message:
        return "找不到工作簿部件（[Content_Types].xml 里没有登记工作簿）：不是 Excel 等表格软件保存的 XLSX"
    return "工作簿的结构不对（内部部件缺失或损坏）：请用 Excel 打开后重新保存"


@reader("csv", ".csv", ".tsv")
def csv_file(source: Source) -> Iterator[Record]:
    yield from read_csv(source.line_text, source.name, source.options.columns)


@reader("xlsx", ".xlsx")
def xlsx_file(source: Source) -> Iterator[Record]:
    try:
        yield from read_xlsx(source.data, source.name, source.options.columns)
    except Exception as error:  # noqa: BLE001 - openpyxl raises many types for a broken workbook
        yield IngestError(source.name, None, f"不是能读的 XLSX 工作簿：{workbook_problem(error)}")
