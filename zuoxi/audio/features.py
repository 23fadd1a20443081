"""Call-level measures from the recording alone: who speaks when, how loud, dead air, overlaps,
response latency and the hang-up gap. Attaching them to transcript turns is `align`'s job."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from zuoxi.audio.io import AudioError, Recording
from zuoxi.audio.vad import CHUNK, FRAME, Segment, detect
from zuoxi.audio.vad import segments as vad_segments

DEAD_AIR = 3.0  # seconds of silence on every channel that count as dead air (冷场)
MIN_OVERLAP = 0.2  # shorter overlaps are back-channel noise (嗯/对), not interruptions
BACKCHANNEL = 0.5  # a turn shorter than this, said wholly inside the other's turn, is listening (嗯, 对对)
TURN_PAUSE = 0.6  # a party's pause shorter than this is inside its turn: the other starting in it cuts in
SHOUT_DB = 9.0  # a half-second this much louder than the call's median speech level is a peak (shouting)
SHOUT_WINDOW = 0.5
ROLES = ("agent", "customer")
# ITU-R BS.1770-4 K-weighting at 48 kHz (shelf, then RLB high-pass): its response at a frequency is the
# curve the standard defines, whatever the file's own rate.
K_WEIGHTING = (
    ((1.53512485958697, -2.69169618940638, 1.19839281085285), (1.0, -1.69065929318241, 0.73248077421585)),
    ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621)),
)


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
    loudness_lufs: float | None = None  # ITU-R BS.1770 K-weighted loudness of the voiced frames
    peak_dbfs: float | None = None  # the channel's sample peak
    clipped: float = 0.0  # share of the voiced frames holding a clipped run (flat tops at full scale)
    segments: list[Span]


class CallFeatures(BaseModel):
    """Everything measured from one recording, before any transcript is consulted."""

    file: str
    duration: float
    sample_rate: int
    layout: str  # "stereo" (one party per channel) or "mono"
    diarized: bool = False  # mono split into agent and customer by a diarization model
    channels: list[ChannelFeatures]
    median_dbfs: float | None  # median level of all voiced frames: the reference for relative volume
    dead_air: list[Span] = Field(default_factory=list)
    overlaps: list[Overlap] = Field(default_factory=list)
    latencies: list[Span] = Field(default_factory=list)  # customer stops → agent starts (stereo)
    peaks: list[Peak] = Field(default_factory=list)
    last_speaker: str | None = None  # the party whose speech ends last (stereo; mono: from the transcript)
    hangup_gaps: dict[str, float] = Field(default_factory=dict)  # party → its last words' end → end of recording
    hangup_gap: float | None = None  # the call's last words → end of recording (OB-07); None without agent speech
    warnings: list[str] = Field(default_factory=list)  # the file is cut short, decoding stopped early
    levels: dict[str, Any] = Field(default_factory=dict, exclude=True)  # role → dBFS per 30 ms frame (numpy)
    voiced: dict[str, Any] = Field(default_factory=dict, exclude=True)  # role → speech mask per frame (numpy)

    def channel(self, role: str) -> ChannelFeatures | None:
        return next((c for c in self.channels if c.role == role), None)

    def summary(self) -> dict[str, Any]:
        """The call-level view stored on `Result.audio` (segments and frame levels left out)."""
        data = self.model_dump(exclude={"channels"})
        data["speech_seconds"] = {c.role: c.speech_seconds for c in self.channels}
        for key in ("level_dbfs", "loudness_lufs", "peak_dbfs", "clipped"):
            data[key] = {c.role: getattr(c, key) for c in self.channels}
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
        raise AudioError(
            path,
            f'meta.audio_channels {layout!r} 与这段 {n_channels} 声道的录音对不上（应写作如 ["agent", "customer"]）',
        )
    return {role: roles[role] for role in ROLES if role in roles}


def _unread_channels(recording: Recording, roles: dict[str, int]) -> list[str]:
    """A warning for channels no party is read from (a 3-channel file read as agent and customer): one may hold a
    party's voice."""
    unread = sorted(set(range(recording.n_channels)) - set(roles.values()))
    if recording.n_channels == 1 or not unread:
        return []
    shown = "、".join(str(i) for i in unread)
    return [
        f"{recording.path}: 有 {recording.n_channels} 个声道；声道 {shown}（从 0 数起）没有当作任何一方来分析："
        "请用 meta.audio_channels 说明各声道是谁"
    ]


def measure(recording: Recording, layout: Any = None, speakers: dict[str, list[Segment]] | None = None) -> CallFeatures:
    """Speech, levels, loudness and clipping per party, then the measures that need only the recording.
    `speakers`: a mono call's stretches per party from diarization, measured as if each had a channel."""
    rate = recording.sample_rate
    size = int(rate * FRAME)
    if speakers is not None and recording.n_channels == 1:
        roles = {role: 0 for role in speakers}
        found = list(speakers.values())
    else:
        roles = channel_roles(layout, recording.n_channels, recording.path)
        found = [vad_segments(mask) for mask in detect([recording.channels[i] for i in roles.values()], rate)]
    channels, levels, voiced = [], {}, {}
    for (role, index), segments in zip(roles.items(), found):
        samples = recording.channels[index]
        level = _frame_db(samples, size)
        mask = _mask(segments, level.size)
        clipped = _fit(recording.clipped[index], mask.size) if recording.clipped is not None else np.zeros_like(mask)
        channels.append(
            ChannelFeatures(
                role=role,
                index=index,
                speech_seconds=round(sum(s.duration for s in segments), 3),
                level_dbfs=_mean_db(level[mask]),
                loudness_lufs=loudness(samples, rate, mask),
                peak_dbfs=None
                if recording.peak is None
                else round(float(20 * np.log10(max(recording.peak[index], 1e-6))), 1),
                clipped=round(float(clipped[mask].mean()), 4) if mask.any() else 0.0,
                segments=[Span(start=s.start, end=s.end) for s in segments],
            )
        )
        levels[role], voiced[role] = level, mask
    all_voiced = np.concatenate([levels[r][voiced[r]] for r in levels]) if levels else np.array([])
    median = float(np.median(all_voiced)) if all_voiced.size else None
    features = CallFeatures(
        file=recording.path,
        duration=round(recording.duration, 3),
        sample_rate=recording.source_rate,
        layout="mono" if recording.n_channels == 1 else "stereo",
        diarized=speakers is not None,
        channels=channels,
        median_dbfs=None if median is None else round(median, 1),
        warnings=[*recording.warnings, *_unread_channels(recording, roles)],
        levels=levels,
        voiced=voiced,
    )
    stretches = {c.role: [Segment(s.start, s.end) for s in c.segments] for c in channels}
    for key, value in timeline(stretches, recording.duration).items():
        setattr(features, key, value)
    if median is not None:
        features.peaks = _peaks(levels, voiced, median)
    return features


def timeline(segments: dict[str, list[Segment]], duration: float) -> dict[str, Any]:
    """What the stretches of speech say about the call: dead air, overlaps and latencies (both
    parties needed), who spoke last and the gap after each party's last words. Also how
    bench/audio_accuracy.py turns its known truth into the same measures."""
    found: dict[str, Any] = {"dead_air": [Span(start=a, end=b) for a, b in _gaps(segments) if b - a >= DEAD_AIR]}
    ends = {role: segs[-1].end for role, segs in segments.items() if segs and role in ROLES}
    found["hangup_gaps"] = {role: round(duration - end, 3) for role, end in ends.items()}
    found["last_speaker"] = max(ends, key=lambda role: ends[role]) if ends else None
    found["hangup_gap"] = min(found["hangup_gaps"].values()) if "agent" in ends else None
    if "agent" in segments and "customer" in segments:
        found["overlaps"] = _overlaps(segments)
        found["latencies"] = _latencies(segments["customer"], segments["agent"])
    return found


def _frame_db(samples: np.ndarray, size: int) -> np.ndarray:
    n = samples.size // size
    out = np.empty(n)
    for at in range(0, n, CHUNK):  # a chunk at a time in float64: a copy of a chunk, not of the call
        frames = samples[at * size : min(n, at + CHUNK) * size].reshape(-1, size).astype(np.float64)
        out[at : at + CHUNK] = 10 * np.log10(np.maximum(np.mean(frames * frames, axis=1), 1e-12))
    return out


def _fit(frames: np.ndarray, n: int) -> np.ndarray:
    """A per-frame array cut or padded (False) to `n` frames (rates differ by a frame in rounding)."""
    return frames[:n] if frames.size >= n else np.concatenate([frames, np.zeros(n - frames.size, dtype=frames.dtype)])


def loudness(samples: np.ndarray, rate: int, mask: np.ndarray) -> float | None:
    """BS.1770 loudness (LUFS) of the voiced frames: their mean K-weighted power, −0.691 dB. The
    standard's 400 ms gating is replaced by the speech mask, so the figure is the party's voice
    alone, not the noise around it."""
    size = int(rate * FRAME)
    every = samples[: mask.size * size].reshape(mask.size, size)
    count = int(mask.sum())
    if not count:
        return None
    window = np.hanning(size)
    z = np.exp(-2j * np.pi * np.fft.rfftfreq(2 * size, 1 / rate) / 48000)
    gain = np.ones_like(z)
    for b, a in K_WEIGHTING:
        gain *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    weight = np.abs(gain) ** 2 * 2
    weight[[0, -1]] /= 2
    total = 0.0
    for at in range(0, mask.size, CHUNK):  # a chunk of frames at a time: the spectra of a chunk, not of the call
        frames = every[at : at + CHUNK][mask[at : at + CHUNK]]
        if frames.size:
            spectrum = np.fft.rfft(frames * window, 2 * size)
            total += float(np.sum((np.abs(spectrum) ** 2 @ weight) / (2 * size * np.sum(window**2))))
    return round(float(-0.691 + 10 * np.log10(max(total / count, 1e-12))), 1)


def _mask(segments: list[Segment], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for s in segments:
        mask[round(float(s.start) / FRAME) : round(float(s.end) / FRAME)] = True
    return mask


def _mean_db(levels: np.ndarray) -> float | None:
    """Level of the mean power (an RMS), not the mean of dB values."""
    if not levels.size:
        return None
    return round(float(10 * np.log10(np.mean(10 ** (levels / 10)))), 1)


def _gaps(segments: dict[str, list[Segment]]) -> list[tuple[float, float]]:
    """Silences on every channel between the first and the last speech of the call."""
    spans = sorted(s for segs in segments.values() for s in segs)
    gaps, reach = [], None
    for s in spans:
        if reach is not None and s.start > reach:
            gaps.append((reach, s.start))
        reach = s.end if reach is None else max(reach, s.end)
    return gaps


def _turns(segments: list[Segment]) -> list[Segment]:
    """A party's stretches with pauses under TURN_PAUSE bridged: the turns it holds the floor in."""
    out: list[Segment] = []
    for s in segments:
        if out and s.start - out[-1].end < TURN_PAUSE:
            out[-1] = Segment(out[-1].start, max(out[-1].end, s.end))
        else:
            out.append(Segment(s.start, s.end))
    return out


def _overlaps(segments: dict[str, list[Segment]]) -> list[Overlap]:
    """One party starting while the other holds the floor. A pause inside a turn is still the turn: a
    customer cutting in where the agent drew breath interrupted the agent — and the agent's next words, under
    a babble that hid the breath's end, are not the agent interrupting back. A back-channel — a turn under
    BACKCHANNEL said wholly while the other talks on — is listening, not an interruption."""
    turns = {role: _turns(segs) for role, segs in segments.items()}
    found = []
    for by, over in (("agent", "customer"), ("customer", "agent")):
        for s in turns[by]:
            for o in turns[over]:
                if o.start < s.start < o.end and not (s.end - s.start < BACKCHANNEL and s.end <= o.end):
                    end = min(s.end, o.end)
                    if end - s.start >= MIN_OVERLAP:
                        found.append(Overlap(start=s.start, end=end, by=by, over=over, seconds=round(end - s.start, 3)))
    return sorted(found, key=lambda o: o.start)


def _latencies(customer: list[Segment], agent: list[Segment]) -> list[Span]:
    """For each agent stretch that starts after the customer stopped (and nobody spoke between): the speech that
    ended last before it is the customer's. Judged on what ended last, not on what started last, so a fragment of
    the agent's earlier words inside the customer's turn (the agent trailing off as the customer cut in) does not
    hide the customer's end from the agent's reply."""
    events = sorted([(s.start, s.end, "customer") for s in customer] + [(s.start, s.end, "agent") for s in agent])
    found = []
    last_end, last_role = None, None  # the latest end among the stretches started so far, and whose
    for start, end, role in events:
        if role == "agent" and last_role == "customer" and last_end is not None and start >= last_end:
            found.append(Span(start=last_end, end=start))
        if last_end is None or end >= last_end:
            last_end, last_role = end, role
    return found


def _peaks(levels: dict[str, np.ndarray], voiced: dict[str, np.ndarray], median: float) -> list[Peak]:
    width = max(1, round(SHOUT_WINDOW / FRAME))
    kernel = np.ones(width) / width
    found = []
    for role, level in levels.items():
        power = np.where(voiced[role], 10 ** (level / 10), 0.0)
        smooth = 10 * np.log10(np.maximum(np.convolve(power, kernel, mode="same"), 1e-12))
        loud = (smooth - median >= SHOUT_DB) & voiced[role]
        edges = np.flatnonzero(np.diff(np.concatenate(([0], loud.astype(np.int8), [0]))))
        for first, stop in zip(edges[::2], edges[1::2]):
            if (stop - first) * FRAME >= SHOUT_WINDOW / 2:
                found.append(
                    Peak(
                        start=round(first * FRAME, 3),
                        end=round(stop * FRAME, 3),
                        role=role,
                        db_over_median=round(float(smooth[first:stop].max() - median), 1),
                    )
                )
    return sorted(found, key=lambda p: p.start)
