"""Who speaks when, per channel: WebRTC's VAD gated by each channel's own noise floor and, on a
stereo call, by what the other channel explains (echo, crosstalk).

WebRTC's VAD (`webrtcvad-wheels`: compiled, no model file) finds speech to ±30 ms on a quiet line,
but in street noise at −30 dBFS it calls nearly everything speech. So every 30 ms frame must also
stand out from its channel's noise: the frame's power in 16 speech bands (150–3,800 Hz) is compared
with the channel's noise in each band, estimated from the quietest frames around it (a running low
percentile, so a noise that changes during the call is followed); a frame is speech where WebRTC
says so and enough bands rise above the noise by more than that noise's own frame-to-frame spread.
On a stereo call the noise of a channel also includes what the other channel predicts: each
channel's delay and gain from the other are estimated (a delayed, attenuated copy — echo or
crosstalk), and the copy's predicted power is added to the noise, so an echo of the agent is not
the customer speaking, while the customer talking over it still is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

FRAME = 0.03  # seconds; WebRTC takes 10, 20 or 30 ms frames
AGGRESSIVENESS = 3  # 0–3; 3 is the telephony setting: fewest noise frames taken for speech
MIN_SILENCE = 0.3  # pauses shorter than this stay inside one stretch of speech (breaths, commas)
MIN_SPEECH = 0.15  # shorter blips (clicks, line noise) are not speech
BANDS = (150.0, 3800.0, 16)  # speech bands: low edge, high edge (Hz), count (mel-spaced)
NOISE_BLOCK = 33  # frames (≈1 s) per noise estimate
NOISE_REACH = 5  # blocks each side whose lowest estimate is the noise (≈11 s window: a long turn is bridged)
NOISE_QUANTILE = 20  # percentile of a block's frame powers taken as its noise
ECHO_MAX = 0.5  # seconds: the longest echo/crosstalk delay looked for
ECHO_CORR = 0.3  # correlation of the channels' frame levels at the best delay for a copy to count
ECHO_HEADROOM = 2.0  # the predicted copy's power is doubled (+3 dB): frame to frame it is a rough guess
SURE_WIDTH, EDGE_WIDTH = 15, 5  # frames: 0.45 s to decide that speech is there, 0.15 s to place its edges
MARGIN_DB = 1.4  # the threshold is at least this far above the noise's typical score
SPREAD = 1.0  # … plus this many times the noise score's spread


@dataclass(frozen=True, order=True)
class Segment:
    """A stretch of speech in seconds from the start of the recording."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def speech_frames(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """WebRTC's verdict, one bool per 30 ms frame (the last partial frame dropped)."""
    vad = webrtcvad.Vad(AGGRESSIVENESS)
    size = int(sample_rate * FRAME)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    step = size * 2
    return np.fromiter((vad.is_speech(pcm[i:i + step], sample_rate) for i in range(0, len(pcm) - step + 1, step)),
                       dtype=bool)


def band_powers(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Power per 30 ms frame in each speech band, shape (n_frames, bands)."""
    size = int(sample_rate * FRAME)
    n_fft = 1 << (size - 1).bit_length()
    low, high, count = BANDS
    mel = np.linspace(*(2595 * np.log10(1 + np.array([low, high]) / 700)), count + 1)
    edges = 700 * (10 ** (mel / 2595) - 1)
    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    which = np.searchsorted(edges, freqs, side="right") - 1
    pool = np.zeros((freqs.size, count), dtype=np.float32)
    inside = (which >= 0) & (which < count)
    pool[np.flatnonzero(inside), which[inside]] = 1.0
    window = np.hanning(size).astype(np.float32) * np.sqrt(2.0 / size)
    n = samples.size // size
    frames = samples[: n * size].reshape(n, size)
    out = np.empty((n, count), dtype=np.float32)
    for at in range(0, n, 8192):
        spectrum = np.fft.rfft(frames[at:at + 8192] * window, n_fft)
        out[at:at + 8192] = (spectrum.real ** 2 + spectrum.imag ** 2) @ pool
    return np.maximum(out, 1e-12)


def noise_floor(power: np.ndarray) -> np.ndarray:
    """Per frame and band, the channel's noise power: the low percentile of each ~1 s block, the
    lowest of the blocks around it (so a long turn does not count as noise)."""
    n, bands = power.shape
    blocks = -(-n // NOISE_BLOCK)
    padded = np.concatenate([power, np.repeat(power[-1:], blocks * NOISE_BLOCK - n, axis=0)])
    low = np.percentile(padded.reshape(blocks, NOISE_BLOCK, bands), NOISE_QUANTILE, axis=1)
    wide = np.concatenate([np.repeat(low[:1], NOISE_REACH, 0), low, np.repeat(low[-1:], NOISE_REACH, 0)])
    floor = np.lib.stride_tricks.sliding_window_view(wide, 2 * NOISE_REACH + 1, axis=0).min(axis=-1)
    return np.repeat(floor, NOISE_BLOCK, axis=0)[:n]



def detect(channels: list[np.ndarray], sample_rate: int) -> list[np.ndarray]:
    """A speech mask per 30 ms frame for each channel of one call (see the module's docstring)."""
    webrtc = [speech_frames(samples, sample_rate) for samples in channels]
    power = [band_powers(samples, sample_rate) for samples in channels]
    n = min(p.shape[0] for p in power)
    webrtc, power = [w[:n] for w in webrtc], [p[:n] for p in power]
    reference = [noise_floor(p) for p in power]
    if len(channels) == 2:
        leaks = [_leak(power[1], power[0], reference[0]), _leak(power[0], power[1], reference[1])]
        reference = [ref + leak for ref, leak in zip(reference, leaks)]
    return [w & _stands_out(p, ref) for w, p, ref in zip(webrtc, power, reference)]


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    return np.convolve(x, np.ones(width) / width, mode="same")


def _stands_out(power: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Frames whose speech bands rise above the reference by more than the channel's noise varies.

    The score is the speech bands' power over the reference's, smoothed over SURE_WIDTH frames to
    decide that speech is there and over EDGE_WIDTH to place its edges; each has its own threshold
    from the channel's noise (`_threshold`), so a steady hiss gets a low one, a babble of voices a
    high one."""
    ratio = power.sum(axis=1) / reference.sum(axis=1)
    wide, narrow = (10 * np.log10(_smooth(ratio, width)) for width in (SURE_WIDTH, EDGE_WIDTH))
    edges, sure = narrow > _threshold(narrow), wide > _threshold(wide)
    starts = np.flatnonzero(np.diff(np.concatenate(([0], edges.astype(np.int8)))) == 1)
    stops = np.flatnonzero(np.diff(np.concatenate((edges.astype(np.int8), [0]))) == -1) + 1
    keep = np.zeros_like(edges)
    cumulative = np.concatenate(([0], np.cumsum(sure)))
    for start, stop in zip(starts, stops):
        if cumulative[stop] > cumulative[start]:
            keep[start:stop] = True
    return keep


def _threshold(score: np.ndarray) -> float:
    """Where the channel's noise ends: its commonest score (the histogram's peak among the lower
    scores — noise frames bunch up, speech spreads out), plus MARGIN_DB, plus SPREAD times the
    noise's spread measured below that peak (speech never lies below it)."""
    low = np.percentile(score, 0.5)
    counts, edges = np.histogram(score, bins=np.arange(low, low + 15.25, 0.25))
    counts = np.convolve(counts, np.ones(3), mode="same")
    mode = edges[int(np.argmax(counts))] + 0.125
    below = score[score < mode] - mode
    spread = float(np.sqrt(np.mean(below ** 2))) if below.size else 0.0
    return mode + MARGIN_DB + SPREAD * spread


def _leak(source: np.ndarray, target: np.ndarray, target_floor: np.ndarray) -> np.ndarray:
    """The power per frame and band that `source` puts into `target` as a delayed, attenuated copy
    (echo, crosstalk); zeros where no such copy is found."""
    n = source.shape[0]
    lags = int(ECHO_MAX / FRAME)
    a, c = np.log10(source.sum(axis=1)), np.log10(target.sum(axis=1))
    corr = [np.corrcoef(a[: n - k], c[k:])[0, 1] if n - k > 10 else 0.0 for k in range(lags + 1)]
    lag = int(np.nanargmax(corr))
    if not corr[lag] >= ECHO_CORR:
        return np.zeros_like(target)
    copy = np.maximum.reduce([_delayed(source, k) for k in (lag - 1, lag, lag + 1)])
    loud = _delayed(a > np.percentile(a, 70), lag)
    gain = np.median(np.maximum(target[loud] - target_floor[loud], 0) / copy[loud], axis=0)
    return ECHO_HEADROOM * gain * copy


def _delayed(x: np.ndarray, k: int) -> np.ndarray:
    """`x` k frames later (earlier for k < 0), zeros shifted in."""
    out = np.zeros_like(x)
    if k >= 0:
        out[k:] = x[: x.shape[0] - k]
    else:
        out[:k] = x[-k:]
    return out


def segments(mask: np.ndarray) -> list[Segment]:
    """Stretches of speech from a frame mask, short pauses bridged and blips dropped."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    merged: list[list[float]] = []
    for first, stop in zip(edges[::2], edges[1::2]):
        start, end = first * FRAME, stop * FRAME
        if merged and start - merged[-1][1] < MIN_SILENCE:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return [Segment(round(float(s), 3), round(float(e), 3)) for s, e in merged if e - s >= MIN_SPEECH]

