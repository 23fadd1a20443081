"""ASR output: FunASR JSON (`sentence_info`), Whisper JSON (`segments`), SRT and WebVTT.

Speakers come as numbers or tags; a role map says which one is the agent. By default the agent is
the speaker of the first service greeting (您好…很高兴为您服务 / 我是…客服), since call recorders
do not agree on who is channel 0.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zuoxi.ingest.canonical import Record, validate
from zuoxi.ingest.encoding import text_lines
from zuoxi.ingest.errors import IngestError
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


def read_funasr(data: Any, path: str, agent_speaker: str | None) -> Iterator[Record]:
    items = data if isinstance(data, list) else [data]
    for i, item in enumerate(items):
        info = item.get("sentence_info") if isinstance(item, dict) else None
        if not isinstance(info, list):
            yield IngestError(path, None, f"第 {i + 1} 项：没有 sentence_info 列表")
            continue
        try:
            segments = [
                {
                    "speaker": s.get("spk", 0),
                    "text": s.get("text", ""),
                    "start": s["start"] / 1000 if s.get("start") is not None else None,
                    "end": s["end"] / 1000 if s.get("end") is not None else None,
                }
                for s in info
            ]
        except (AttributeError, TypeError, OverflowError) as error:
            # one malformed item (a time of 400 digits overflows the division) costs that item, not those after it
            yield IngestError(path, None, f"第 {i + 1} 项：funasr JSON 的结构不对（{type(error).__name__}: {error}）")
            continue
        extra = {"id": str(item["key"])} if item.get("key") else {}
        yield _conversation(segments, path, agent_speaker, extra)


def read_whisper(data: dict[str, Any], path: str, agent_speaker: str | None) -> Iterator[Record]:
    segments = []
    for s in data.get("segments", []):
        text, speaker = str(s.get("text", "")), s.get("speaker")
        if speaker is None and (tag := _TAG_PREFIX.match(text)):
            speaker, text = next(g for g in tag.groups() if g), text[tag.end() :]
        segments.append(
            {
                "speaker": speaker if speaker is not None else "SPEAKER_00",
                "text": text,
                "start": s.get("start"),
                "end": s.get("end"),
            }
        )
    yield _conversation(segments, path, agent_speaker, {})


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis.ljust(3, "0")) / 1000


def _cue(values: tuple[str | None, ...], number: int) -> dict[str, Any] | None:
    """A cue starting at line `number` from its times' parts, or None when a time is out of range."""
    try:
        start, end = _seconds(*values[:4]), _seconds(*values[4:])  # type: ignore[arg-type]
    except (ValueError, OverflowError):
        return None
    return {"start": start, "end": end, "lines": [], "speaker": None, "line": number}


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


def read_subtitles(text: str, path: str, agent_speaker: str | None) -> Iterator[Record]:
    """SRT and WebVTT cues; the speaker is a `<v 客服>` voice tag or a `[客服]`/`客服:` prefix."""
    segments: list[dict[str, Any]] = []
    cue: dict[str, Any] | None = None
    for number, line in enumerate(text_lines(text), start=1):
        if times := _CUE_TIMES.match(line):
            cue = _cue(times.groups(), number)
            if cue is None:  # hours of thousands of digits: a traceback that ended the batch
                yield IngestError(path, number, "字幕时间超出范围，这条字幕没有读入")
                continue
            segments.append(cue)
        elif not line.strip():
            cue = None
        elif cue is not None:
            _add_line(cue, line)
    for segment in segments:
        segment["text"] = "".join(segment.pop("lines"))
    if not segments:
        yield IngestError(path, None, "没有字幕条目（应有 00:00:01,000 --> 00:00:03,500 这样的时间行）")
        return
    untagged = [s for s in segments if s["speaker"] is None]
    if untagged:
        yield IngestError(path, untagged[0]["line"], "字幕没有标明说话人（[客服] 文字、客服: 文字 或 <v 客服>）")
        return
    yield _conversation(segments, path, agent_speaker, {})


def _asr_json(kind: str, read, source: Source) -> Iterator[Record]:
    try:
        yield from read(source.json, source.name, source.options.agent_speaker)
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as error:  # ASR JSON of an unexpected shape
        yield IngestError(source.name, None, f"{kind} JSON 的结构不对（{type(error).__name__}: {error}）")


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
