"""ASR output: FunASR JSON (`sentence_info`), Whisper JSON (`segments`), SRT and WebVTT.

Speakers come as numbers or tags; a role map says which one is the agent. By default the agent is
the speaker of the first service greeting (您好…很高兴为您服务 / 我是…客服), since call recorders
do not agree on who is channel 0.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zuoxi.ingest.canonical import Record, validate
from zuoxi.ingest.encoding import text_lines
from zuoxi.ingest.errors import IngestError, lost_lines
from zuoxi.ingest.limits import MAX_TURN_CHARS
from zuoxi.ingest.registry import Source, reader
from zuoxi.ingest.textlog import AGENT_WORDS, CUSTOMER_WORDS, SYSTEM_WORDS, role_of
from zuoxi.normalize import normalize_text

_GREETING = re.compile(r"(很高兴为您服务|为您服务|竭诚|我是.{0,12}(客服|专员|代表|坐席|工号)|工号|客服.{0,3}号)")
_KNOWN_TAGS = set(AGENT_WORDS + CUSTOMER_WORDS + SYSTEM_WORDS)
_TIMESTAMP = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})")
_CUE_TIMES = re.compile(rf"^\s*{_TIMESTAMP.pattern}\s*-->\s*{_TIMESTAMP.pattern}")
_TAG_PREFIX = re.compile(r"^\s*(?:\[(?P<b>[^\]]{1,20})\]|【(?P<c>[^】]{1,20})】|(?P<p>[^\s:：]{1,20})\s*[:：])\s*")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+(?P<v>[^>]+)>")
_MARKUP = re.compile(r"</?[^>]+>")


def assign_roles(segments: list[dict[str, Any]], agent_speaker: str | None = None) -> dict[str, str]:
    """speaker → role. Known tags (客服/客户…) map directly; others by `agent_speaker` or the greeting. One pass over
    the segments whatever the number of speakers (20,000 cues, each tagged with a name of its own, took 10 s)."""
    speakers = list(dict.fromkeys(str(s["speaker"]) for s in segments))
    roles = {s: role_of(s) for s in speakers if s in _KNOWN_TAGS}
    unknown = [s for s in speakers if s not in roles]
    if not unknown:
        return roles
    agent = agent_speaker
    if agent is None:
        for segment in segments:
            if str(segment["speaker"]) not in roles and _GREETING.search(normalize_text(segment["text"])):
                agent = str(segment["speaker"])
                break
    if agent is None:  # no greeting: agents address customers as 您 far more than customers do
        polite: Counter[str] = Counter()
        for segment in segments:
            polite[str(segment["speaker"])] += segment["text"].count("您")
        agent = max(unknown, key=lambda s: polite[s])
    for speaker in unknown:
        roles[speaker] = "agent" if speaker == str(agent) else "customer"
    return roles


def _conversation(
    segments: list[dict[str, Any]], path: str, agent_speaker: str | None, extra: dict[str, Any]
) -> Record:
    segments = [s for s in segments if str(s.get("text", "")).strip()]
    if not segments:
        return IngestError(path, None, "没有带文字的语音片段")
    roles = assign_roles(segments, agent_speaker)
    turns = [
        {"role": roles[str(s["speaker"])], "text": str(s["text"]).strip(), "start": s.get("start"), "end": s.get("end")}
        for s in segments
    ]
    ends = [t["end"] for t in turns if t["end"] is not None]
    record = {"id": Path(path).name, "channel": "call", "turns": turns, **extra}
    record.setdefault("duration", max(ends) if ends else None)
    return validate(record, path, None)


class _Shape(ValueError):
    """Where an ASR JSON is not of its format's shape, and what should be there: `segments[3].start 应是数字…`. The
    readers said it with Python's words (TypeError: 'int' object is not iterable), naming no element."""


_KINDS = {
    "dict": "对象",
    "list": "数组",
    "str": "字符串",
    "int": "整数",
    "float": "数字",
    "bool": "true/false",
    "NoneType": "null",
}


def _kind(value: Any) -> str:
    """What a JSON value is, in words: 字符串 'a', 整数, 对象."""
    kind = _KINDS.get(type(value).__name__, type(value).__name__)
    return f"{kind} {value[:20]!r}" if isinstance(value, str) else kind


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Shape(f"{where} 应是列表，却是{_kind(value)}")
    return value


def _object(value: Any, where: str, holds: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Shape(f"{where} 应是对象（含 {holds}），却是{_kind(value)}")
    return value


def _text(item: dict[str, Any], where: str) -> str:
    """The element's `text`: a string (a number is its digits; null or none, no text)."""
    value = item.get("text")
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Shape(f"{where}.text 应是文字，却是{_kind(value)}")


def _speaker(item: dict[str, Any], key: str, where: str, default: Any) -> Any:
    value = item.get(key)
    if value is None:
        return default
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise _Shape(f"{where}.{key} 应是说话人的编号或名字，却是{_kind(value)}")


def _time(item: dict[str, Any], key: str, where: str, scale: float, unit: str) -> float | None:
    """The element's `key` time in seconds (`scale`: its unit's, 1000 for milliseconds), None where it has none; a
    number written as text is read as the number."""
    value = item.get(key)
    if value is None:
        return None
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer of hundreds of digits: a traceback that ended the batch
            raise _Shape(f"{where}.{key} 太大了（{len(str(abs(value))):,} 位数字）") from None
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None:
        raise _Shape(f"{where}.{key} 应是数字（{unit}），却是{_kind(value)}")
    if not math.isfinite(number):
        raise _Shape(f"{where}.{key} 应是有限的数字（{unit}），却是 {value!r}")
    return number / scale


def _segment(item: Any, where: str, scale: float, unit: str, speaker_key: str, default: Any) -> dict[str, Any]:
    item = _object(item, where, "text、start、end")
    text = _text(item, where)
    start, end = _time(item, "start", where, scale, unit), _time(item, "end", where, scale, unit)
    if start is not None and end is not None and end < start:
        raise _Shape(f"{where}：end（{item['end']}）早于 start（{item['start']}）")
    return {"speaker": _speaker(item, speaker_key, where, default), "text": text, "start": start, "end": end}


def read_funasr(data: Any, path: str, agent_speaker: str | None) -> Iterator[Record]:
    items = data if isinstance(data, list) else [data]
    for i, item in enumerate(items):
        info = item.get("sentence_info") if isinstance(item, dict) else None
        if not isinstance(info, list):
            yield IngestError(path, None, f"第 {i + 1} 项：没有 sentence_info 列表")
            continue
        try:
            segments = [_segment(s, f"sentence_info[{n}]", 1000, "毫秒", "spk", 0) for n, s in enumerate(info)]
            key = item.get("key")
            if key is not None and (isinstance(key, bool) or not isinstance(key, str | int)):
                raise _Shape(f"key 应是会话编号（文字），却是{_kind(key)}")
        except _Shape as shape:  # one malformed item costs that item, not those after it
            yield IngestError(path, None, f"第 {i + 1} 项：funasr JSON 的结构不对：{shape}")
            continue
        extra = {"id": str(key)} if key else {}
        yield _conversation(segments, path, agent_speaker, extra)


def read_whisper(data: Any, path: str, agent_speaker: str | None) -> Iterator[Record]:
    try:
        data = _object(data, "whisper JSON", "segments 列表")
        segments = [
            _segment(s, f"segments[{n}]", 1, "秒", "speaker", None)
            for n, s in enumerate(_list(data.get("segments", []), "segments"))
        ]
    except _Shape as shape:
        yield IngestError(path, None, f"whisper JSON 的结构不对：{shape}")
        return
    for segment in segments:
        if segment["speaker"] is None and (tag := _TAG_PREFIX.match(segment["text"])):
            segment["speaker"], segment["text"] = next(g for g in tag.groups() if g), segment["text"][tag.end() :]
        if segment["speaker"] is None:
            segment["speaker"] = "SPEAKER_00"
    yield _conversation(segments, path, agent_speaker, {})


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis.ljust(3, "0")) / 1000


def _cue(values: tuple[str | None, ...], number: int) -> dict[str, Any] | str:
    """A cue starting at line `number` from its times' parts, or why it cannot be one: a time out of range, an end
    before the start."""
    try:
        start, end = _seconds(*values[:4]), _seconds(*values[4:])  # type: ignore[arg-type]
    except (ValueError, OverflowError):  # hours of thousands of digits: a traceback that ended the batch
        return "字幕时间超出范围"
    if end < start:
        return f"字幕的结束时间（{_clock(end)}）早于开始时间（{_clock(start)}）"
    return {"start": start, "end": end, "lines": [], "speaker": None, "line": number}


def _clock(seconds: float) -> str:
    """00:01:02.500, as subtitles write a time."""
    whole, millis = divmod(round(seconds * 1000), 1000)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}.{millis:03d}"


def _add_line(cue: dict[str, Any], line: str) -> None:
    """A line of the cue's text, its speaker taken from the first tag. The lines are joined once, at the end: adding
    each to the text so far copied it at every line (a cue of 240,000 lines took 19 s, 120,000 took 4 s)."""
    if cue["speaker"] is None:
        if voice := _VOICE.search(line):
            cue["speaker"] = voice["v"].strip()
        elif tag := _TAG_PREFIX.match(line):
            cue["speaker"] = next(g for g in tag.groups() if g)
            line = line[tag.end() :]
    cue["lines"].append(_MARKUP.sub("", line).strip())


CUE_TIME_EXAMPLE = "00:00:01,000 --> 00:00:03,500"
_TIME_LIKE = re.compile(r"-->|->|\d{1,2}:\d{2}")  # what a time line mistyped or cut short still holds
_NOT_CUES = re.compile(r"(WEBVTT|NOTE|STYLE|REGION)(\s|$)")  # WebVTT blocks that are no cue


_LOST = "lost"  # `_Cues.last` after a cue not read: the text that continues it goes with it


class _Cues:
    """The cues of a subtitle file, read line by line. A block (lines between blank lines) whose time line cannot be
    read is a cue lost, its words with it: reported at that line, never skipped in silence (a customer's 我要投诉 was
    dropped and the call scored 100). A block without a time line that follows a cue is that cue's text continued
    after a blank line, as players show it (some writers break a cue's text into paragraphs: the call was refused),
    unless it starts with a cue number or with another speaker's tag (`_another_speaker`: a cue whose time line is
    missing). Any other block without a time line is lost too, unless it is a cue number alone or a WebVTT header,
    NOTE, STYLE or REGION block."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.segments: list[dict[str, Any]] = []
        self.lost: list[IngestError] = []  # one per cue not read, at its line
        self.cue: dict[str, Any] | None = None  # the cue whose text lines come now
        self.last: dict[str, Any] | str | None = None  # the cue a block without a time line continues, or _LOST
        self.block: list[tuple[int, str]] = []  # the lines of a block before its time line
        self.skipping = False  # in a cue whose time line was refused: its text goes with it
        self.untimed = 0  # blocks lost with no time line at all (in a file of no cues: it is not subtitles)
        self.speakers: set[str] = set()  # the speakers of the cues before the last one
        self.numbered: int | None = None  # the last cue's number, where its block gave one

    def take(self, number: int, line: str) -> None:
        if times := _CUE_TIMES.match(line):
            numbers = [text.strip() for _, text in self.block if text.strip().isdigit()]
            self.numbered = int(numbers[-1]) if numbers else None
            self.block.clear()  # a cue number or WebVTT cue identifier
            cue = _cue(times.groups(), number)
            if isinstance(cue, str):
                self.lost.append(IngestError(self.path, number, f"{cue}，这条字幕没有读入"))
                self.cue, self.skipping, self.last = None, True, _LOST
            else:
                if self.segments and (speaker := self.segments[-1]["speaker"]) is not None:
                    self.speakers.add(str(speaker))
                self.segments.append(cue)
                self.cue, self.skipping, self.last = cue, False, cue
        elif not line.strip():
            self.end_block()
        elif self.cue is not None:
            _add_line(self.cue, line)
        elif not self.skipping:
            self.block.append((number, line))

    def end_block(self) -> None:
        """A blank line (or the end of the file): a block that had no time line is the text of the cue before it
        continued, a cue lost, or none at all."""
        block, self.block = self.block, []
        self.cue, self.skipping = None, False
        if not block:
            return
        last, self.last = self.last, None
        if _NOT_CUES.match(block[0][1].strip()):
            return
        if len(block) == 1 and block[0][1].strip().isdigit():
            if not isinstance(last, dict) or self._next_number(block[0][1]):
                return  # a cue number whose cue the file does not hold
            _add_line(last, block[0][1])  # digits said in the cue before (a number read out), continued
            self.last = last
            return
        words = next(((n, t) for n, t in block if not t.strip().isdigit()), block[0])  # past the cue number
        number, line = next(((n, t) for n, t in block if _TIME_LIKE.search(t)), words)
        if _TIME_LIKE.search(line):
            reason = f"认不出字幕的时间行 {line.strip()[:60]!r}（应为 {CUE_TIME_EXAMPLE}），这条字幕没有读入"
            self.last = _LOST
        elif last is not None and not block[0][1].strip().isdigit():
            if last is _LOST:  # the text of a cue not read, reported with it
                self.last = _LOST
                return
            assert isinstance(last, dict)
            if not self._another_speaker(last, block[0][1]):
                for _, text in block:
                    _add_line(last, _same_speaker(last, text))
                self.last = last
                return
            reason = f"这段文字前面没有字幕的时间行（应为 {CUE_TIME_EXAMPLE}），没有读入"
        else:
            reason = f"这段文字前面没有字幕的时间行（应为 {CUE_TIME_EXAMPLE}），没有读入"
            self.untimed += 1
        self.lost.append(IngestError(self.path, number, reason))

    def _next_number(self, line: str) -> bool:
        """Whether digits alone are the number the next cue would have: a cue number, not words. Where cues are
        not numbered (WebVTT), digits alone after a cue are its words."""
        return self.numbered is not None and int(line.strip()) == self.numbered + 1

    def _another_speaker(self, cue: dict[str, Any], line: str) -> bool:
        """Whether a line starts with the tag of a speaker other than the cue's: a voice tag (`<v 客户>`), or a tag that
        is a role (`[客户]`, `客户:`) or a speaker of a cue before. Such text is another cue whose time line is
        missing, not this cue's text continued: joined, the customer's 我要退款 was the agent's. A tag that names no
        speaker (`[笑声]`, `客户说:`) is text."""
        tag = _tag(line)
        if tag is None or cue["speaker"] is None or tag[0] == cue["speaker"]:
            return False
        speaker, voice = tag
        return voice or speaker in _KNOWN_TAGS or speaker in self.speakers or bool(_DIARIZED.fullmatch(speaker))


# A speaker label as diarization writes one (SPEAKER_01, spk2, 说话人1, Speaker 2): another speaker's, even before
# the file has shown a cue of theirs.
_DIARIZED = re.compile(r"(?i)(?:speaker|spk|说话人|发言人|讲话人)[ _\-]?\d{1,3}")


def _tag(line: str) -> tuple[str, bool] | None:
    """The speaker a line's tag names, as `_add_line` reads it, and whether it is a voice tag; None where it has none."""
    if voice := _VOICE.search(line):
        return voice["v"].strip(), True
    if tag := _TAG_PREFIX.match(line):
        return next(g for g in tag.groups() if g), False
    return None


def _same_speaker(cue: dict[str, Any], line: str) -> str:
    """A line continuing a cue, without the tag of the cue's own speaker that starts it (`[客服] 还有…`)."""
    if (
        cue["speaker"] is not None
        and (tag := _TAG_PREFIX.match(line))
        and next(g for g in tag.groups() if g) == cue["speaker"]
    ):
        return line[tag.end() :]
    return line


def read_subtitles(text: str, path: str, agent_speaker: str | None) -> Iterator[Record]:
    """SRT and WebVTT cues; the speaker is a `<v 客服>` voice tag or a `[客服]`/`客服:` prefix. A cue that cannot be read
    is reported at its line, and the call is then not stored (`lost_lines`): scored on the cues left, it lacked what
    the lost ones said."""
    cues = _Cues(path)
    for number, line in enumerate(text_lines(text), start=1):
        cues.take(number, line)
    cues.end_block()
    segments = cues.segments
    for segment in segments:
        segment["text"] = "".join(segment.pop("lines"))
        if len(segment["text"]) > MAX_TURN_CHARS:
            cues.lost.append(_too_long(path, segment))
    if not segments and len(cues.lost) == cues.untimed:  # not one time line: no subtitles
        yield IngestError(path, None, f"没有字幕条目（应有 {CUE_TIME_EXAMPLE} 这样的时间行）")
        return
    if cues.lost:
        lost = sorted(cues.lost, key=lambda error: error.line or 0)
        yield from lost
        if segments:  # else nothing was read: each cue's error said why
            lines = [error.line for error in lost if error.line]
            yield lost_lines(path, min(segments[0]["line"], *lines), Path(path).name, lines, "条字幕")
        return
    untagged = [s for s in segments if s["speaker"] is None]
    if untagged:
        yield IngestError(path, untagged[0]["line"], "字幕没有标明说话人（[客服] 文字、客服: 文字 或 <v 客服>）")
        return
    yield _conversation(segments, path, agent_speaker, {})


def _too_long(path: str, segment: dict[str, Any]) -> IngestError:
    return IngestError(
        path,
        segment["line"],
        f"这条字幕有 {len(segment['text']):,} 个字，超过一句最多的 {MAX_TURN_CHARS:,} 个字，没有读入",
    )


def _asr_json(kind: str, read, source: Source) -> Iterator[Record]:
    yield from read(source.json, source.name, source.options.agent_speaker)


@reader("funasr")
def funasr_file(source: Source) -> Iterator[Record]:
    yield from _asr_json("funasr", read_funasr, source)


@reader("whisper")
def whisper_file(source: Source) -> Iterator[Record]:
    yield from _asr_json("whisper", read_whisper, source)


@reader("vtt", ".vtt")
@reader("srt", ".srt")
def subtitles_file(source: Source) -> Iterator[Record]:
    yield from read_subtitles(source.text, source.name, source.options.agent_speaker)
