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


def analyze_audio(
    conversation: Conversation,
    base_dir: str | Path | None = None,
    allowed: bool | Path = True,
    name_dir: str | Path | None = None,
) -> tuple[dict[str, list[tuple[int, float]]] | None, dict[str, Any] | None]:
    """The pipeline's audio stage: (rule-engine metrics, summary for `Result.audio`).
    No recording: (None, None). A bad one: (None, {"file", "error"}), so the text analysis still runs.
    `allowed`: False reads no recording (uploads to a server with no recordings folder); a folder
    reads only recordings inside it (a conversation's `audio` is data: it must not open any file).
    `name_dir`: the folder a relative recording is named from in the summary (default `base_dir`): the
    batch engines name it from the input root, so a result does not depend on where a process runs."""
    path = resolve(conversation, base_dir)
    if path is None or allowed is False:
        return None, None
    try:
        outside = allowed is not True and not path.resolve().is_relative_to(Path(allowed).resolve())
    except (ValueError, OSError):  # a NUL byte in the name, a name longer than the system allows
        return None, {
            "file": masked_name(str(conversation.audio)[:200]),
            "error": "录音文件名无法使用（含空字符或过长）",
        }
    if outside:
        return None, {"file": masked_name(str(conversation.audio)), "error": "录音不在录音目录内，未读取"}
    opened = str(path)
    # named, never read; masked as a stored file name is (`call_13812345678.wav`: a number joined by underscores)
    shown = masked_name(str(resolve(conversation, name_dir) if name_dir is not None else path))

    def named(text: str) -> str:  # messages start with the file's name (`shown`, masked already)
        return shown + mask_text(text[len(opened) :]) if text.startswith(opened) else mask_text(text)

    try:
        analysis = analyze_file(path, conversation.meta.get("audio_channels"), conversation.turns)
    except AudioError as error:
        return None, {"file": shown, "error": named(str(error))}
    summary = analysis.summary()
    summary.update(file=shown, warnings=[named(warning) for warning in summary["warnings"]])
    return rule_metrics(analysis, conversation.turns), summary


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
    if not turns or not all(t.start is not None and t.end is not None for t in turns):
        return AudioAnalysis(call=call, turns=None)
    feats = [_turn(call, i, t) for i, t in enumerate(turns)]
    if call.layout == "mono" and not call.diarized:  # one channel: the transcript says whose speech ended when
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
    return AudioAnalysis(call=call, turns=feats)


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
        metrics["overlap"] = [(i, max((s for turn, s in by_agent if turn == i), default=0.0)) for i in agents]
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
