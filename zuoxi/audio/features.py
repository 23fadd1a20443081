"""Call-level measures from the recording alone: who speaks when, how loud, dead air, overlaps,
response latency and the hang-up gap. Attaching them to transcript turns is `align`'s job."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from zuoxi.audio.io import AudioError, Recording
from zuoxi.audio.vad import FRAME, Segment, speech_segments

DEAD_AIR = 3.0  # seconds of silence on every channel that count as dead air (冷场)
MIN_OVERLAP = 0.2  # shorter overlaps are back-channel noise (嗯/对), not interruptions
SHOUT_DB = 9.0  # a half-second this much louder than the call's median speech level is a peak (shouting)
SHOUT_WINDOW = 0.5
ROLES = ("agent", "customer")


class Span(BaseModel):
    start: float
    end: float

    @property
    def duration(self) -> float:
        return round(self.end - self.start, 3)


class Overlap(Span):
    """`by` started speaking while `over` was still speaking."""

    by: str
    over: str
    seconds: float


class Peak(Span):
    role: str
    db_over_median: float


class ChannelFeatures(BaseModel):
    role: str  # agent, customer, or "mixed" for a mono recording
    index: int
    speech_seconds: float
    level_dbfs: float | None  # RMS over the voiced frames
    segments: list[Span]


class CallFeatures(BaseModel):
    """Everything measured from one recording, before any transcript is consulted."""

    file: str
    duration: float
    sample_rate: int
    layout: str  # "stereo" (one party per channel) or "mono"
    channels: list[ChannelFeatures]
    median_dbfs: float | None  # median level of all voiced frames: the reference for relative volume
    dead_air: list[Span] = Field(default_factory=list)
    overlaps: list[Overlap] = Field(default_factory=list)
    latencies: list[Span] = Field(default_factory=list)  # customer stops → agent starts (stereo)
    peaks: list[Peak] = Field(default_factory=list)
    hangup_gap: float | None = None  # stereo: end of the agent's last speech → end of recording
    levels: dict[str, Any] = Field(default_factory=dict, exclude=True)  # role → dBFS per 30 ms frame (numpy)
    voiced: dict[str, Any] = Field(default_factory=dict, exclude=True)  # role → speech mask per frame (numpy)

    def channel(self, role: str) -> ChannelFeatures | None:
        return next((c for c in self.channels if c.role == role), None)

    def summary(self) -> dict[str, Any]:
        """The call-level view stored on `Result.audio` (segments and frame levels left out)."""
        data = self.model_dump(exclude={"channels"})
        data["speech_seconds"] = {c.role: c.speech_seconds for c in self.channels}
        data["level_dbfs"] = {c.role: c.level_dbfs for c in self.channels}
        return data


def channel_roles(layout: Any, n_channels: int, path: str) -> dict[str, int]:
    """Role → channel index, from `meta.audio_channels` (["agent", "customer"] or {"agent": 0, …}).
    Stereo without it: agent left, customer right, the usual recorder default."""
    if n_channels == 1:
        return {"mixed": 0}
    if layout is None:
        layout = list(ROLES)
    roles = {role: i for i, role in enumerate(layout)} if isinstance(layout, list) else dict(layout)
    if set(roles) - {*ROLES, "system"} or not all(isinstance(i, int) and 0 <= i < n_channels for i in roles.values()):
        raise AudioError(path, f"meta.audio_channels {layout!r} does not fit a {n_channels}-channel recording "
                               f"(expected e.g. [\"agent\", \"customer\"])")
    return {role: roles[role] for role in ROLES if role in roles}


def measure(recording: Recording, layout: Any = None) -> CallFeatures:
    """VAD and levels per channel, then the measures that need only the recording."""
    roles = channel_roles(layout, recording.n_channels, recording.path)
    rate = recording.sample_rate
    size = int(rate * FRAME)
    channels, levels, voiced = [], {}, {}
    for role, index in roles.items():
        samples = recording.channels[index]
        segments = speech_segments(samples, rate)
        level = _frame_db(samples, size)
        mask = _mask(segments, level.size)
        channels.append(ChannelFeatures(
            role=role, index=index, speech_seconds=round(sum(s.duration for s in segments), 3),
            level_dbfs=_mean_db(level[mask]), segments=[Span(start=s.start, end=s.end) for s in segments]))
        levels[role], voiced[role] = level, mask
    all_voiced = np.concatenate([levels[r][voiced[r]] for r in levels]) if levels else np.array([])
    median = float(np.median(all_voiced)) if all_voiced.size else None
    features = CallFeatures(
        file=recording.path, duration=round(recording.duration, 3), sample_rate=recording.source_rate,
        layout="mono" if recording.n_channels == 1 else "stereo", channels=channels,
        median_dbfs=None if median is None else round(median, 1),
        levels=levels, voiced=voiced)
    segments = {c.role: [Segment(s.start, s.end) for s in c.segments] for c in channels}
    features.dead_air = [Span(start=a, end=b) for a, b in _gaps(segments, recording.duration) if b - a >= DEAD_AIR]
    if median is not None:
        features.peaks = _peaks(levels, voiced, median)
    if "agent" in segments and "customer" in segments:
        features.overlaps = _overlaps(segments)
        features.latencies = _latencies(segments["customer"], segments["agent"])
        if segments["agent"]:
            features.hangup_gap = round(recording.duration - segments["agent"][-1].end, 3)
    return features


def _frame_db(samples: np.ndarray, size: int) -> np.ndarray:
    n = samples.size // size
    frames = samples[: n * size].reshape(n, size).astype(np.float64)
    return 10 * np.log10(np.maximum(np.mean(frames * frames, axis=1), 1e-12))


def _mask(segments: list[Segment], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for s in segments:
        mask[int(round(s.start / FRAME)):int(round(s.end / FRAME))] = True
    return mask


def _mean_db(levels: np.ndarray) -> float | None:
    """Level of the mean power (an RMS), not the mean of dB values."""
    if not levels.size:
        return None
    return round(float(10 * np.log10(np.mean(10 ** (levels / 10)))), 1)


def _gaps(segments: dict[str, list[Segment]], duration: float) -> list[tuple[float, float]]:
    """Silences on every channel between the first and the last speech of the call."""
    spans = sorted(s for segs in segments.values() for s in segs)
    gaps, reach = [], None
    for s in spans:
        if reach is not None and s.start > reach:
            gaps.append((reach, s.start))
        reach = s.end if reach is None else max(reach, s.end)
    return gaps


def _overlaps(segments: dict[str, list[Segment]]) -> list[Overlap]:
    found = []
    for by, over in (("agent", "customer"), ("customer", "agent")):
        for s in segments[by]:
            for o in segments[over]:
                if o.start < s.start < o.end:
                    end = min(s.end, o.end)
                    if end - s.start >= MIN_OVERLAP:
                        found.append(Overlap(start=s.start, end=end, by=by, over=over, seconds=round(end - s.start, 3)))
    return sorted(found, key=lambda o: o.start)


def _latencies(customer: list[Segment], agent: list[Segment]) -> list[Span]:
    """For each agent stretch that starts after the customer stopped (and nobody spoke between)."""
    events = sorted([(s.start, s.end, "customer") for s in customer] + [(s.start, s.end, "agent") for s in agent])
    found = []
    for (_, prev_end, prev_role), (start, _, role) in zip(events, events[1:]):
        if prev_role == "customer" and role == "agent" and start >= prev_end:
            found.append(Span(start=prev_end, end=start))
    return found


def _peaks(levels: dict[str, np.ndarray], voiced: dict[str, np.ndarray], median: float) -> list[Peak]:
    width = max(1, int(round(SHOUT_WINDOW / FRAME)))
    kernel = np.ones(width) / width
    found = []
    for role, level in levels.items():
        power = np.where(voiced[role], 10 ** (level / 10), 0.0)
        smooth = 10 * np.log10(np.maximum(np.convolve(power, kernel, mode="same"), 1e-12))
        loud = (smooth - median >= SHOUT_DB) & voiced[role]
        edges = np.flatnonzero(np.diff(np.concatenate(([0], loud.astype(np.int8), [0]))))
        for first, stop in zip(edges[::2], edges[1::2]):
            if (stop - first) * FRAME >= SHOUT_WINDOW / 2:
                found.append(Peak(start=round(first * FRAME, 3), end=round(stop * FRAME, 3), role=role,
                                  db_over_median=round(float(smooth[first:stop].max() - median), 1)))
    return sorted(found, key=lambda p: p.start)
