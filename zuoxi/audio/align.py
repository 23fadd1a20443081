"""Attach the recording's measures to transcript turns, and hand the rule engine its view.

A turn's window is its transcript [start, end] widened by `SLACK` (ASR and recorder clocks drift by
a few hundred ms); inside it, the turn's own channel (stereo) or the single channel (mono) says when
the words were actually voiced. Without turn times only the call-level measures come out.
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from zuoxi.audio.features import ROLES, CallFeatures, Span, measure
from zuoxi.audio.io import AudioError, read_audio
from zuoxi.audio.vad import FRAME
from zuoxi.model import Conversation, Turn
from zuoxi.privacy import mask_text, masked_name

SLACK = 0.3
LATE = 1.0  # seconds: a turn ending this far past the recording's end is not in it (the recording stops short)
MAX_NAME = 200  # characters of a recording's name shown in a message
MIN_VOICED = 0.3  # a turn voiced for less than this has no meaningful speech rate
_NON_WORD = re.compile(r"[\W_]+")


class TurnFeatures(BaseModel):
    turn: int
    role: str
    speech_start: float | None  # first and last voiced moment inside the turn's window
    speech_end: float | None
    voiced: float  # seconds
    chars: int
    speech_rate: float | None  # characters per minute of voiced time
    level_dbfs: float | None
    volume_rel_db: float | None  # level minus the call's median speech level
    peak_rel_db: float | None  # loudest half-second minus the call's median speech level


class AudioAnalysis(BaseModel):
    call: CallFeatures
    turns: list[TurnFeatures] | None  # None: the transcript has no times, turn-level measures are n/a
    # (turns past the recording's end are left out: `align`)
    timed: bool = True  # False: the recording holds no speech where the transcript has some: no metric from it

    def summary(self) -> dict[str, Any]:
        data = self.call.summary()
        data["turns"] = "n/a" if self.turns is None else [t.model_dump() for t in self.turns]
        return data


def resolve(conversation: Conversation, base_dir: str | Path | None) -> Path | None:
    """The recording's path: absolute as given, relative to the folder of the file it was read from."""
    if not conversation.recording:
        return None
    path = Path(conversation.recording)
    return path if path.is_absolute() or base_dir is None else Path(base_dir) / path


def _located(conversation: Conversation, base_dir: str | Path | None, allowed: bool | Path) -> tuple[Path, bool]:
    """(the path to open, whether it is inside `allowed`). A relative name is looked up beside the file the
    conversation was read from, then in the recordings folder (`allowed`), as the web page's player does
    (zuoxi/web/pages.py): an upload's file sits in a temporary folder, its recordings in the server's folder.
    Of the places inside `allowed`, the first that exists (else the one beside the input, if inside, to be said
    missing; else none is inside). Raises ValueError/OSError for an unusable name."""
    path = resolve(conversation, base_dir)
    assert path is not None
    if isinstance(allowed, bool):  # True: anywhere (False never gets here)
        return path, allowed
    root = Path(allowed).resolve()
    places = [path]
    if not Path(str(conversation.recording)).is_absolute():
        places.append(root / str(conversation.recording))
    inside = [place for place in places if place.resolve().is_relative_to(root)]
    found = next((place for place in inside if place.exists()), None)
    if found is not None:
        return found, True
    return path, path in inside


def analyze_audio(
    conversation: Conversation,
    base_dir: str | Path | None = None,
    allowed: bool | Path = True,
    name_dir: str | Path | None = None,
) -> tuple[dict[str, list[tuple[int, float]]] | None, dict[str, Any] | None]:
    """The pipeline's audio stage: (rule-engine metrics, summary for `Result.audio`).
    No recording: (None, None). A bad one: (None, {"file", "error"}), so the text analysis still runs.
    `allowed`: False reads no recording (uploads to a server with no recordings folder); a folder
    reads only recordings inside it (a conversation's `audio` is data: it must not open any file), and a
    relative name not beside the input is looked for there too (`_located`).
    `name_dir`: the folder a relative recording is named from in the summary (default `base_dir`): the
    batch engines name it from the input root, so a result does not depend on where a process runs.
    A recording that holds no speech where the transcript has some gives the rules no metrics (they judge
    by the transcript, as without a recording), with a warning."""
    if resolve(conversation, base_dir) is None or allowed is False:
        return None, None
    given = str(conversation.audio)
    short = given if len(given) <= MAX_NAME else given[:MAX_NAME] + "…"
    try:
        path, inside = _located(conversation, base_dir, allowed)
    except (ValueError, OSError):  # a NUL byte in the name, a name longer than the system allows
        return None, {"file": masked_name(short), "error": "录音文件名无法使用（含空字符或过长）"}
    if not inside:
        return None, {"file": masked_name(short), "error": "录音不在录音目录内，未读取"}
    opened = str(path)
    named_as: Path | None = path
    if path != resolve(conversation, base_dir):  # found in the recordings folder: named as given, not by where it is
        named_as = Path(str(conversation.recording))
    elif name_dir is not None:
        named_as = resolve(conversation, name_dir)
    # named, never read; masked as a stored file name is (`call_13812345678.wav`: a number joined by underscores)
    shown = str(named_as)
    shown = masked_name(shown if len(shown) <= MAX_NAME else shown[:MAX_NAME] + "…")

    def named(text: str) -> str:  # messages start with the file's name (`shown`, masked already)
        return shown + mask_text(text[len(opened) :]) if text.startswith(opened) else mask_text(text)

    try:
        analysis = analyze_file(path, conversation.meta.get("audio_channels"), conversation.turns)
    except AudioError as error:
        return None, {"file": shown, "error": named(str(error))}
    summary = analysis.summary()
    summary.update(file=shown, warnings=[named(warning) for warning in summary["warnings"]])
    return (rule_metrics(analysis, conversation.turns) if analysis.timed else None), summary


def analyze_file(
    path: str | Path,
    layout: Any = None,
    turns: list[Turn] | None = None,
    diarizer: Any = None,
    agent_first: bool = True,
) -> AudioAnalysis:
    """Read, measure and align one recording (a mono one split by `diarizer`, zuoxi.audio.diarize,
    when given). Every failure is an `AudioError` naming the file."""
    from zuoxi.audio.diarize import diarize

    try:
        recording = read_audio(path)
        speakers = (
            diarize(recording, diarizer, agent_first) if diarizer is not None and recording.n_channels == 1 else None
        )
        return align(measure(recording, layout, speakers), turns or [])
    except AudioError:
        raise
    except Exception as error:  # noqa: BLE001 - a case no check foresaw costs this recording, never the batch
        raise AudioError(path, f"录音分析失败（{type(error).__name__}: {error}）") from None


def align(call: CallFeatures, turns: list[Turn]) -> AudioAnalysis:
    """Per turn measures, where the transcript has times. What the recording cannot say is warned of and left
    out: a recording with no speech at all where the transcript has some (`timed` False: no rule metric), and
    turns past the end of a recording that stops short of the transcript (nor the hang-up gap then)."""
    spoken = sum(1 for t in turns if t.role in ROLES and _NON_WORD.sub("", t.text))
    if spoken and not any(c.speech_seconds > 0 for c in call.channels):
        warning = (
            f"{call.file}: 录音（{call.duration:.1f} 秒）里没有检测到说话声，而转写有 {spoken} 句话："
            "录音与转写对不上（静音、错录或声道不对？），时间类规则不用这段录音，按转写的时间判断"
        )
        call = call.model_copy(update={"warnings": [*call.warnings, warning]})
        timed = False
    else:
        timed = True
    if not turns or not all(t.start is not None and t.end is not None for t in turns):
        return AudioAnalysis(call=call, turns=None, timed=timed)
    past = [i for i, t in enumerate(turns) if t.end is not None and t.end > call.duration + LATE]
    if past:
        end = max(t.end for t in turns if t.end is not None)
        warning = (
            f"{call.file}: 录音（{call.duration:.1f} 秒）比转写（{end:.1f} 秒）短：录音结束之后的 {len(past)} 句"
            f"（第 {past[0] + 1} 句起）和挂机间隔没有测量"
        )
        call = call.model_copy(
            update={
                "warnings": [*call.warnings, warning],
                "hangup_gaps": {},
                "hangup_gap": None,
                "last_speaker": None,
            }
        )
    feats = [_turn(call, i, t) for i, t in enumerate(turns) if i not in past]
    if call.layout == "mono" and not call.diarized and not past:  # one channel: the transcript says who spoke last
        ends: dict[str, float] = {}
        for f in feats:
            if f.role in ROLES and f.speech_end is not None:
                ends[f.role] = max(ends.get(f.role, 0.0), f.speech_end)
        gaps = {role: round(call.duration - end, 3) for role, end in ends.items()}
        call = call.model_copy(
            update={
                "hangup_gaps": gaps,
                "last_speaker": max(ends, key=lambda role: ends[role]) if ends else None,
                "hangup_gap": min(gaps.values()) if "agent" in ends else None,
            }
        )
    return AudioAnalysis(call=call, turns=feats, timed=timed)


def _role_channel(call: CallFeatures, role: str) -> str | None:
    if call.layout == "mono" and not call.diarized:
        return "mixed"
    return role if call.channel(role) else None


def _turn(call: CallFeatures, index: int, turn: Turn) -> TurnFeatures:
    if turn.start is None or turn.end is None:
        raise ValueError("align() measures turns with start and end times only")
    chars = len(_NON_WORD.sub("", turn.text))
    role = _role_channel(call, turn.role)
    channel = call.channel(role) if role else None
    lo, hi = turn.start - SLACK, turn.end + SLACK
    spans = [
        Span(start=max(s.start, lo), end=min(s.end, hi))
        for s in (channel.segments if channel else [])
        if s.end > lo and s.start < hi
    ]
    voiced = round(sum(s.duration for s in spans), 3)
    level = peak = None
    if role and spans:
        frames = call.levels[role][int(lo / FRAME) if lo > 0 else 0 : int(hi / FRAME)]
        mask = call.voiced[role][int(lo / FRAME) if lo > 0 else 0 : int(hi / FRAME)]
        if mask.any():
            power = 10 ** (frames[mask] / 10)
            level = round(float(10 * np.log10(power.mean())), 1)
            width = max(1, min(power.size, int(0.5 / FRAME)))
            peak = round(float(10 * np.log10(np.convolve(power, np.ones(width) / width, mode="valid").max())), 1)
    median = call.median_dbfs
    return TurnFeatures(
        turn=index,
        role=turn.role,
        speech_start=spans[0].start if spans else None,
        speech_end=spans[-1].end if spans else None,
        voiced=voiced,
        chars=chars,
        speech_rate=round(chars / (voiced / 60), 1) if voiced >= MIN_VOICED and chars else None,
        level_dbfs=level,
        volume_rel_db=None if level is None or median is None else round(level - median, 1),
        peak_rel_db=None if peak is None or median is None else round(peak - median, 1),
    )


def rule_metrics(analysis: AudioAnalysis, turns: list[Turn]) -> dict[str, list[tuple[int, float]]]:
    """(turn, value) pairs per metric, the shape `Timing` and `Audio` conditions read from `ctx.audio`.
    A metric left out falls back to the transcript's times (or is n/a)."""
    call, feats = analysis.call, analysis.turns
    if not analysis.timed:  # no speech in the recording where the transcript has some: it measures nothing
        return {}
    agents = [i for i, t in enumerate(turns) if t.role == "agent"]
    metrics: dict[str, list[tuple[int, float]]] = {}
    if agents and call.hangup_gap is not None:
        metrics["hangup_gap"] = [(agents[-1], call.hangup_gap)]
    agent = call.channel("agent") if call.layout == "stereo" or call.diarized else None
    if agents and agent is not None and agent.loudness_lufs is not None:
        levels = [(f.level_dbfs, f.turn) for f in feats or [] if f.role == "agent" and f.level_dbfs is not None]
        evidence = max(levels, key=lambda level: level[0])[1] if levels else agents[0]
        metrics["loudness"] = [(evidence, agent.loudness_lufs)]
        metrics["clipping"] = [(evidence, agent.clipped)]
    if feats is None:
        return metrics
    rated = [(f, f.speech_rate) for f in feats if f.role == "agent" and f.speech_rate is not None]
    if rated:
        overall = sum(f.chars for f, _ in rated) / (sum(f.voiced for f, _ in rated) / 60)
        furthest, _ = max(rated, key=lambda pair: abs(pair[1] - overall))
        metrics["speech_rate"] = [(furthest.turn, round(overall, 1))]
    metrics["response_latency"] = []
    for prev, cur in pairwise(feats):
        if (
            prev.role == "customer"
            and cur.role == "agent"
            and prev.speech_end is not None
            and cur.speech_start is not None
        ):
            metrics["response_latency"].append((cur.turn, round(cur.speech_start - prev.speech_end, 3)))
    metrics["silence"] = [(_next_turn(feats, gap.end), gap.duration) for gap in call.dead_air]
    if call.layout == "stereo" or call.diarized:
        by_agent = [(_owner(feats, o.start, "agent"), o.seconds) for o in call.overlaps if o.by == "agent"]
        measured = {f.turn for f in feats}  # not the turns past a recording that stops short
        metrics["overlap"] = [
            (i, max((s for turn, s in by_agent if turn == i), default=0.0)) for i in agents if i in measured
        ]
    metrics["volume"] = [(f.turn, f.volume_rel_db) for f in feats if f.volume_rel_db is not None]
    metrics["peak"] = [(f.turn, f.peak_rel_db) for f in feats if f.peak_rel_db is not None]
    return metrics


def _next_turn(feats: list[TurnFeatures], at: float) -> int:
    """The turn whose speech begins when a silence ends (the one that broke it)."""
    starts = [(abs(f.speech_start - at), f.turn) for f in feats if f.speech_start is not None]
    return min(starts)[1] if starts else 0


def _owner(feats: list[TurnFeatures], at: float, role: str) -> int | None:
    """The `role` turn voiced at `at` (or starting nearest to it)."""
    mine = [
        (f.turn, f.speech_start, f.speech_end)
        for f in feats
        if f.role == role and f.speech_start is not None and f.speech_end is not None
    ]
    inside = [(turn, start, end) for turn, start, end in mine if start - FRAME <= at <= end]
    pool = inside or mine
    return min(pool, key=lambda voiced: abs(voiced[1] - at))[0] if pool else None
