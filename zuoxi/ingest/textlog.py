"""Plain-text chat logs, as agents copy them out of chat tools.

Two layouts, mixed freely:
- role lines: ``客服: …`` / ``客户: …``, ``G:``/``K:`` (顾客/客服, seed 002), ``坐席``/``用户``;
- headers with times: a line ``客服8号 10:01:02`` (or a full date-time) and the message below it.
A line ``---`` or a blank line ends a conversation; ``# key: value`` lines before the first message
set id, agent_id, team, channel, started_at, duration, scorecard (others go to ``meta``). A ``# key: value`` line
after messages starts the next conversation, as a separator would: ``# id: p-2`` right under p-1's last message was
read as more of that message, and p-2 was never stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from zuoxi.ingest.canonical import Record, lines_over_bounds, validate
from zuoxi.ingest.encoding import BAD_BYTES, BAD_LINE, text_lines
from zuoxi.ingest.errors import IngestError, lost_lines
from zuoxi.ingest.registry import Source, reader

AGENT_WORDS = ("客服", "坐席", "座席", "售后", "商家", "卖家", "K", "agent", "Agent")
CUSTOMER_WORDS = (
    "客户",
    "客戶",
    "顾客",
    "顧客",
    "用户",
    "用戶",
    "买家",
    "買家",
    "来电人",
    "來電人",
    "G",
    "customer",
    "Customer",
)
SYSTEM_WORDS = ("系统", "系統", "system")
_SPEAKER = "|".join(sorted((re.escape(w) for w in AGENT_WORDS + CUSTOMER_WORDS + SYSTEM_WORDS), key=len, reverse=True))
# 客服8号 / 客服小王 / 坐席007: a role word and an optional short name or number.
_NAME = r"[0-9A-Za-z\u4e00-\u9fff]{0,6}?"
_WHEN = r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\s+)?\d{1,2}:\d{2}(?::\d{2})?"
# A role line: 客服: …, also as chat tools write it — a name in brackets (客户(张三): …, 客服【小王】：…) or after a space
# (客户 张三: …), the role in brackets (【客服】您好, [客户] …), a time before it ([2026-11-03 14:00:01] 客户: …). Such
# lines were read as more of the message before, the agent's: a customer's 我要投诉 judged as the agent's words.
_ROLE_LINE = re.compile(
    rf"^\s*(?:[\[【(（]?(?P<when>{_WHEN})[\]】)）]?\s+)?"
    r"(?:(?P<open>[\[【])\s*)?"
    rf"(?P<speaker>{_SPEAKER})"
    rf"(?P<name>{_NAME}|\s*[（(【\[][^（()）【】\[\]]{{1,12}}[）)】\]]|\s+[0-9A-Za-z\u4e00-\u9fff]{{1,6}})"
    r"(?(open)\s*[\]】]\s*[:：]?|\s*[:：])\s*(?P<text>.*)$"
)
_HEADER_LINE = re.compile(
    rf"^\s*(?P<speaker>{_SPEAKER})(?P<name>{_NAME})\s+"
    r"(?P<when>(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\s+)?\d{1,2}:\d{2}(?::\d{2})?)\s*$"
)
# A line that starts as a speaker's does — a short name, no spaces or punctuation in it, then a colon — whose name is
# no known speaker's (路人甲: 插一句): taken for more of the message before, the agent's, it was judged as the agent's
# words. But a message's own lines look the same (第一步：…, 温馨提示：…, 注意：…), so such a label is a third speaker only
# where it starts two lines or more of the conversation (`_Block.third_speakers`): its lines are then lost to the
# conversation, not stored half (路人甲's 我要投诉 left out, the rest was scored 100). Not a name: a number (10:30), a
# link (https://…), and the fields a customer writes in a message.
_LABEL_LINE = re.compile(r"^\s*(?P<label>[^\W_]{1,8})\s*[:：](?!//)")
_FIELDS = frozenset(
    {
        "地址",
        "收货地址",
        "订单",
        "订单号",
        "单号",
        "快递单号",
        "运单号",
        "物流单号",
        "电话",
        "手机",
        "手机号",
        "联系电话",
        "姓名",
        "名字",
        "收件人",
        "联系人",
        "备注",
        "时间",
        "日期",
        "金额",
        "价格",
        "型号",
        "颜色",
        "尺码",
        "数量",
        "原因",
        "问题",
        "链接",
        "网址",
        "邮箱",
        "账号",
        "编号",
        "商品",
        "规格",
        "http",
        "https",
        # a message's own headings: an agent's pasted Q&A (问：…/答：…), notes and steps
        "问",
        "答",
        "Q",
        "A",
        "注意",
        "提示",
        "温馨提示",
        "说明",
        "须知",
        "步骤",
        "方法",
        "结果",
        "回复",
        "答复",
    }
)
_STEP_LABEL = re.compile(r"^(?:第[0-9一二三四五六七八九十]{1,3}[步条点项]|步骤[0-9一二三四五六七八九十]{1,3})$")
_META_LINE = re.compile(r"^\s*#\s*(?P<key>[A-Za-z_]+)\s*[:：]\s*(?P<value>.*?)\s*$")
_SEPARATOR = re.compile(r"^\s*-{3,}\s*$")
_TOP_FIELDS = {"id", "agent_id", "team", "channel", "started_at", "duration", "audio"}
_AGENT_NUMBER = re.compile(r"(\d+)")


# What follows a role word and a space in a message's own words, not a name: 客户 说：…, 客户 须知：…, 客服 电话：…
_NOT_A_NAME = re.compile(
    r"说|讲|问|答|称|表示|反馈|回复|回答|提示|须知|电话|热线|服务|信息|留言|评价|要求|需要|可以|的|们"
)


def _spoken(line: re.Match[str]) -> bool:
    """Whether a role line's match is one: a name after a space follows a role word of two letters or more (K 线图：…
    is words of a message, G/K the roles of seed 002), and is no word of a message (客户 说：…, 客服 电话：…)."""
    name = line["name"]
    spaced = name[:1].isspace() and name.strip()[:1] not in "（(【["
    return not (spaced and (len(line["speaker"]) < 2 or _NOT_A_NAME.search(name)))


def role_of(speaker: str) -> str:
    if speaker in AGENT_WORDS:
        return "agent"
    if speaker in SYSTEM_WORDS:
        return "system"
    return "customer"


def _parse_clock(value: str) -> datetime:
    value = value.replace("/", "-").replace(".", "-")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%H:%M:%S", "%H:%M"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise ValueError(f"认不出时间 {value!r}")


def _declared_start(record: dict[str, Any]) -> datetime | None:
    """The `# started_at:` value as a datetime; None when absent or unreadable (validation reports it)."""
    try:
        return datetime.fromisoformat(str(record["started_at"])) if "started_at" in record else None
    except ValueError:
        return None


class _Block:
    """The lines of one conversation being collected. A message's lines are kept apart and joined once, in
    `to_record`: appending each line to the text so far copied the text at every line (a message of 120,000 lines,
    a pasted log, took 20 s; time grew with the square of the lines)."""

    def __init__(self, line: int):
        self.line = line
        self.meta: dict[str, Any] = {}
        self.turns: list[dict[str, Any]] = []
        self.lines: list[list[str]] = []  # of each turn's text
        self.clocks: list[datetime | None] = []
        self.starts: list[int] = []  # each turn's first line
        self.written: list[tuple[int, str]] = []  # each turn's header: its line and its time as written
        self.times_wrong: tuple[int, str] | None = None  # where and why the turns' times cannot be (`_time_turns`)
        self.agent_name: str | None = None
        self.lost: list[int] = []  # lines of the conversation that could not be read
        self.notes: list[IngestError] = []  # what the reader should know though nothing was lost
        self.labelled: dict[str, list[tuple[int, int, int]]] = {}  # label → (turn, its line, file line) it starts

    def add_turn(
        self,
        speaker: str,
        name: str,
        text: str,
        clock: datetime | None,
        number: int,
        written: tuple[int, str] = (0, ""),
    ) -> None:
        """A turn starting at line `number`; `clock`: its header's time, `written`: the header's line and the time as
        written there."""
        role = role_of(speaker)
        if role == "agent" and name and self.agent_name is None:
            self.agent_name = name
        self.turns.append({"role": role})
        self.lines.append([text] if text else [])
        self.clocks.append(clock)
        self.starts.append(number)
        self.written.append(written)

    def read_line(self, line: str, number: int) -> str | None:
        """Take a line that is not blank: metadata, a header, a role line or more of the last
        message. Returns what is wrong with it (the line is then left out, and lost to the
        conversation where it is one's: `lost`), or None."""
        if (meta := _META_LINE.match(line)) and not self.turns:
            self.meta[meta["key"].lower()] = meta["value"]
        elif header := _HEADER_LINE.match(line):
            try:
                clock = _parse_clock(header["when"])
            except ValueError as error:
                self.lost.append(number)
                return str(error)
            self.add_turn(header["speaker"], header["name"], "", clock, number, (number, header["when"]))
        elif (role_line := _ROLE_LINE.match(line)) and _spoken(role_line):
            clock = None
            if role_line["when"]:
                try:
                    clock = _parse_clock(role_line["when"])
                except ValueError as error:
                    self.lost.append(number)
                    return str(error)
            name = role_line["name"].strip().strip("（()）【】[]").strip()
            written = (number, role_line["when"]) if clock else (0, "")
            self.add_turn(role_line["speaker"], name, role_line["text"].strip(), clock, number, written)
        elif (
            self.turns
            and (label := _LABEL_LINE.match(line))
            and not label["label"].isdigit()
            and label["label"] not in _FIELDS
            and not _STEP_LABEL.match(label["label"])
        ):
            self.labelled.setdefault(label["label"], []).append((len(self.turns) - 1, len(self.lines[-1]), number))
            self.append_text(line.strip())
        elif self.turns:
            self.append_text(line.strip())
        else:  # a title above the conversation, say: no one's words
            return f"这一行开头不是说话人（客服:/客户:/G:/K:）：{line[:30]!r}"
        return None

    def ends_before(self, line: str) -> bool:
        """Whether `line` starts the next conversation: metadata after messages (module docstring)."""
        return bool(self.turns) and _META_LINE.match(line) is not None

    def awaits_message(self) -> bool:
        """Whether the last line was a header (it has a clock) whose message has not started yet."""
        return bool(self.turns) and not self.lines[-1] and self.clocks[-1] is not None

    def append_text(self, text: str) -> None:
        self.lines[-1].append(text)

    def third_speakers(self, path: str) -> list[IngestError]:
        """The lines of a speaker no role word names (a label starting two lines or more, 路人甲: …), taken out of the
        messages they were read into: reported, each, and lost to the conversation (`lost`: it is not stored, as for a
        line in a bad encoding — stored with the two parties' lines alone, it was scored without what the third said,
        a 我要投诉 included)."""
        third = sorted(
            (place, label) for label, places in self.labelled.items() if len(places) >= 2 for place in places
        )
        for (turn, index, number), _label in reversed(third):  # the last first: the others' places hold
            del self.lines[turn][index]
            self.lost.append(number)
        return [
            IngestError(
                path,
                number,
                f"认不出说话人 {label!r}（应为 客服/客户/坐席/用户/系统、G/K 或 agent/customer）：这一行没有读入",
            )
            for (_, _, number), label in sorted(third, key=lambda t: t[0][2])
        ]

    def result(self, path: str, number: int) -> Record | None:
        """The conversation read, the `number`th of the file; or why it is not stored: any of its lines lost
        (`lost_lines`: not stored half), times out of order (`_time_turns`), no message. None where a lost line was
        all (its error says it)."""
        if not self.turns:
            named = f"会话 {self.meta['id']!r}：" if self.meta.get("id") else "这个会话"
            return None if self.lost else IngestError(path, self.line, f"{named}只有 # 开头的信息行，没有消息")
        record = self.to_record(path, number)
        if self.lost:
            return lost_lines(path, self.line, str(record["id"]), self.lost)
        if self.times_wrong is not None:
            line, why = self.times_wrong
            return IngestError(path, line, f"会话 {record['id']!r}：{why}")
        kept = {id(turn) for turn in record["turns"]}
        lines = [line for turn, line in zip(self.turns, self.starts, strict=True) if id(turn) in kept]
        if too_big := lines_over_bounds(
            path, self.line, str(record["id"]), [t["text"] for t in record["turns"]], lines
        ):
            return too_big
        return validate(record, path, self.line)

    def to_record(self, path: str, number: int) -> dict[str, Any]:
        for turn, lines in zip(self.turns, self.lines, strict=True):
            turn["text"] = "\n".join(lines)
        record: dict[str, Any] = {"id": f"{path.rsplit('/', 1)[-1].rsplit('.', 1)[0]}-{number}", "meta": {}}
        for key, value in self.meta.items():
            if key == "scorecard" or key not in _TOP_FIELDS:
                record["meta"][key] = value
            else:
                record[key] = value
        if "agent_id" not in record and self.agent_name:
            found = _AGENT_NUMBER.search(self.agent_name)
            record["agent_id"] = found.group(1) if found else self.agent_name
        clocks = [c for c in self.clocks if c is not None]
        if clocks and len(clocks) == len(self.clocks):  # every message has a header with its time
            self._time_turns(record, clocks)
        elif clocks:  # some have: the turns are stored without times, which the timing rules then cannot read
            untimed = next(line for clock, line in zip(self.clocks, self.starts, strict=True) if clock is None)
            self.notes.append(
                IngestError(
                    path,
                    untimed,
                    f"会话 {record['id']!r}：有的消息带时间、这一句没有：各句都按没有时间导入（回复时长等规则不判）",
                    note=True,
                )
            )
        record["turns"] = [t for t in self.turns if t["text"].strip()] or self.turns
        return record

    def _time_turns(self, record: dict[str, Any], clocks: list[datetime]) -> None:
        """Each turn's `start`: seconds after the declared `started_at` (or after the first message
        when none is declared), from the clocks of the headers — or, in `times_wrong`, where and why they cannot be,
        the conversation not stored (as a table's rows out of order are not: zuoxi/ingest/table.py). Times of day
        alone that go back by more than 12 hours have passed midnight (23:59:58, then 00:00:03), a day each time; any
        other step back, and any with full dates (a day was added to it: 14:05, then 14:00 of the same day, was a reply
        23 h 55 min later), is a message out of order; times with a date and times without in one conversation cannot
        be told apart."""
        first = clocks[0]
        dated = [len(when.split()) > 1 for _, when in self.written]  # a date, then the time of day
        seconds: list[float] = []
        day = 0.0
        for i, clock in enumerate(clocks):
            line, when = self.written[i]
            at = (clock - first).total_seconds() + day
            if dated[i] != dated[0]:
                kinds = ("只有时刻", "日期加时刻")
                self.times_wrong = (
                    line,
                    f"时间 {when!r}（{kinds[dated[i]]}）与这个会话第一个时间 {self.written[0][1]!r}（{kinds[dated[0]]}）"
                    "写法不同：一个会话的时间要写成同一种，整个会话都没有导入",
                )
                return
            if seconds and at < seconds[-1]:
                if not dated[i] and past_midnight(seconds[-1], at):
                    day += DAY_SECONDS
                    at += DAY_SECONDS
                else:
                    before, shown = self.written[i - 1]
                    alone = "" if dated[i] else "（只有时刻的，倒退超过 12 小时才算过了午夜）"
                    self.times_wrong = (
                        line,
                        f"时间 {when!r} 早于这个会话上一条消息（第 {before} 行）的 {shown!r}{alone}："
                        "消息没有按时间先后排列，整个会话都没有导入；请按时间排好再导入",
                    )
                    return
            seconds.append(at)
        lead = _lead(record, first)
        for turn, at in zip(self.turns, seconds, strict=True):
            turn["start"] = at + lead


DAY_SECONDS = 86_400


def past_midnight(before: float, at: float) -> bool:
    """Whether a time of day alone, `at` seconds, after one at `before` has passed midnight: it steps back by more
    than half a day (23:59:58, then 00:00:03). A smaller step back is a message out of order. The table reader's
    clocks follow the same rule."""
    return before - at > DAY_SECONDS / 2


def _lead(record: dict[str, Any], first: datetime) -> float:
    """Seconds from the declared `started_at` to the `first` message. A first message with a full
    date sets `started_at` where none is declared; one that precedes the declared start becomes it."""
    declared = _declared_start(record)
    if "started_at" not in record and first.year > 1900:
        record["started_at"] = first.isoformat()
        return 0.0
    if declared is None:
        return 0.0
    if first.year == 1900:  # clock times only: on the day of started_at
        start = declared.replace(hour=first.hour, minute=first.minute, second=first.second, microsecond=0)
        lead = (start - declared).total_seconds()
        if past_midnight(0.0, lead):  # first message after midnight; seconds, as a date could pass year 9999
            lead += DAY_SECONDS
    else:
        start = first.replace(tzinfo=declared.tzinfo)
        lead = (start - declared).total_seconds()
    if lead < 0:  # the first message precedes the declared start: it is the start
        record["started_at"] = start.isoformat()
        return 0.0
    return lead


def read_textlog(text: str, path: str) -> Iterator[Record]:
    block: _Block | None = None
    count = 0

    def finish() -> Iterator[Record]:
        nonlocal block, count
        if block is not None and (block.turns or block.meta):
            count += 1
            yield from block.third_speakers(path)
            if (result := block.result(path, count)) is not None:
                yield result
            yield from block.notes
        block = None

    for number, raw in enumerate(text_lines(text), start=1):
        line = raw.rstrip()
        if not line.strip() or _SEPARATOR.match(line):
            # A blank line inside a message that follows a header is part of the layout, not a break.
            # (Headers carry a clock; a role line with no text, e.g. a sent picture, is a whole message.)
            if block is not None and block.awaits_message() and not _SEPARATOR.match(line):
                continue
            yield from finish()
            continue
        if block is None or block.ends_before(line):
            yield from finish()
            block = _Block(number)
        if BAD_BYTES in line:  # a line of the conversation, lost to it
            block.lost.append(number)
            yield IngestError(path, number, BAD_LINE)
            continue
        if problem := block.read_line(line, number):
            yield IngestError(path, number, problem)
    yield from finish()


@reader("text", ".txt", ".log")
def text_file(source: Source) -> Iterator[Record]:
    yield from read_textlog(source.line_text, source.name)
