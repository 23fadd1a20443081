"""Who speaks when, per channel: WebRTC's VAD gated by each channel's own noise floor and, on a
stereo call, by what the other channel explains (echo, crosstalk).

WebRTC's VAD (`webrtcvad-wheels`: compiled, no model file) finds speech to ±30 ms on a quiet line,
but in street noise at −30 dBFS it calls nearly everything speech. So every 30 ms frame must also
stand out from its channel's noise: the frame's power in 16 speech bands (150–3,800 Hz) is compared
with the channel's noise in each band, estimated from the quietest frames around it (a running low
percentile, so a noise that changes during the call is followed); a frame is speech where WebRTC
says so and the bands rise above the noise by more than that noise's own spread, twice over — a
babble of other voices swells in bursts that a steady hiss does not have. A stretch that started
clearly may trail off into the babble: it goes on while the next 0.45 s stays above the noise, and
then as far as its band-mean SNR, summed, keeps above a mark 2 dB over the noise (`_carried_on`),
and on to where that SNR drops clearly below what it was (`_rest_of_voice`). A stretch only a few dB
over a babble counts only where it is about as loud as the party's own voice (its talker level): a
babble swelling for seconds with nobody speaking is not the party.
On a stereo call the noise of a channel also includes what the other channel predicts: a channel
whose level changes follow the other's at a fixed delay holds a delayed, attenuated copy of it
(echo or crosstalk), and the copy's predicted power (of the other channel's speech) is added to the
noise, so an echo of the agent is not the customer speaking, while the customer talking over it
still is.
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
ECHO_Z = 2.0  # a copy's level changes follow its source's by this many standard errors or more (none: ≤ 1.3 measured)
ECHO_MAX_GAIN = 0.25  # a copy is attenuated: at most −6 dB
ECHO_HEADROOM = 2.0  # the predicted copy's power is doubled (+3 dB): frame to frame it is a rough guess
EDGE_ECHO_HEADROOM = 2.0  # … and again ×2 (+3 dB) where edges are placed: one frame's echo under-guessed by 10 dB, next
# to the other party's cut-in, would otherwise start it early (the 0.15 s edge score has no 0.45 s average to hide it in)
SURE_WIDTH, EDGE_WIDTH = 15, 5  # frames: 0.45 s to decide that speech is there, 0.15 s to place its edges
MARGIN_DB = 1.4  # the threshold is at least this far above the noise's typical score
SPREAD = 2.0  # … plus this many times the noise score's spread (a babble's bursts reach ~2 spreads above its typical)
TAIL_DB = 2.5  # a stretch goes on while the next SURE_WIDTH frames stay this far above the noise's typical score
NOISE_PEAK = 0.5  # the noise's peak in a score histogram holds at least this share of the highest peak
GO_ON_DB = 2.0  # … then on while its band-mean score, summed, stays above the noise's typical + this (CUSUM)
GO_ON_REACH = 170  # frames (5.1 s): the furthest a stretch is carried on that way
GO_ON_MIN = 7  # frames (0.21 s): only a stretch this long is carried on (a babble's burst is shorter)
ECHO_GATE = 3  # frames: a copy is predicted from its source's own speech, ± this much
OWN_VOICE_DB = 15.0  # speech is the party's own only within this much of the channel's loudest speech (95th percentile)
TALKER_DB = 8.0  # … and a stretch vouched for by a score under CLEAR_DB must come within this much of it (talker level)
CLEAR_DB = 6.0  # a score this far above the noise's typical vouches for a stretch at any level of the party's own
SPLIT_DB = 3.0  # after the CUSUM's end, the rest of a voice is this much louder (band mean) than what follows it
SPLIT_FLOOR_DB = 1.2  # … and at least this far above the noise's typical band-mean score
SPLIT_AFTER, SPLIT_MIN_AFTER = 33, 20  # frames: what follows is measured over up to 1 s, and at least 0.6 s
CHUNK = 8192  # frames (4 min) converted at a time: temporary copies stay that size, whatever the call's length


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
    step, chunk = size * 2, CHUNK * size  # converted a chunk at a time: a copy of a chunk, not of the call
    verdicts = []
    for at in range(0, samples.size - size + 1, chunk):
        pcm = (np.clip(samples[at : at + chunk], -1.0, 1.0) * 32767).astype("<i2").tobytes()
        verdicts.append(
            np.fromiter(
                (vad.is_speech(pcm[i : i + step], sample_rate) for i in range(0, len(pcm) - step + 1, step)), dtype=bool
            )
        )
    return np.concatenate(verdicts) if verdicts else np.zeros(0, dtype=bool)


def band_powers(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Power per 30 ms frame in each speech band, shape (n_frames, bands)."""
    size = int(sample_rate * FRAME)
    n_fft = 1 << (size - 1).bit_length()
    low, high, count = BANDS
    mel = np.linspace(2595 * np.log10(1 + low / 700), 2595 * np.log10(1 + high / 700), count + 1)
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
    for at in range(0, n, CHUNK):
        spectrum = np.fft.rfft(frames[at : at + CHUNK] * window, n_fft)
        out[at : at + CHUNK] = (spectrum.real**2 + spectrum.imag**2) @ pool
    return np.maximum(out, 1e-12)


def noise_floor(power: np.ndarray) -> np.ndarray:
    """Per frame and band, the channel's noise power: the low percentile of each ~1 s block, the
    lowest of the blocks around it (so a long turn does not count as noise)."""
    n = power.shape[0]
    blocks = -(-n // NOISE_BLOCK)
    # the last block is the last NOISE_BLOCK frames: a short tail (an MP3's faded last frame) is not the noise
    index = np.arange(blocks * NOISE_BLOCK).reshape(blocks, NOISE_BLOCK)
    index[-1] -= blocks * NOISE_BLOCK - n
    low = np.percentile(power[np.clip(index, 0, n - 1)], NOISE_QUANTILE, axis=1)
    wide = np.concatenate([np.repeat(low[:1], NOISE_REACH, 0), low, np.repeat(low[-1:], NOISE_REACH, 0)])
    floor = np.lib.stride_tricks.sliding_window_view(wide, 2 * NOISE_REACH + 1, axis=0).min(axis=-1)
    return np.repeat(floor, NOISE_BLOCK, axis=0)[:n]


def detect(channels: list[np.ndarray], sample_rate: int) -> list[np.ndarray]:
    """A speech mask per 30 ms frame for each channel of one call (see the module's docstring)."""
    webrtc = [speech_frames(samples, sample_rate) for samples in channels]
    power = [band_powers(samples, sample_rate) for samples in channels]
    n = min(p.shape[0] for p in power)
    webrtc, power = [w[:n] for w in webrtc], [p[:n] for p in power]
    floors = [noise_floor(p) for p in power]
    leaks: list[np.ndarray | float] = [0.0] * len(channels)
    if len(channels) == 2:
        copying = [follows(power[1], power[0]), follows(power[0], power[1])]  # channel 0 following 1, 1 following 0
        # the copy comes from the source's speech: its noise, echoed, is part of the target's own noise already
        alone = [w & _stands_out(p, floor, 0.0) for w, p, floor in zip(webrtc, power, floors)]
        leaks = [
            copied_power(power[1 - i], power[i], *copying[i], copying[1 - i][0].max(), alone[1 - i]) for i in (0, 1)
        ]
    return [w & _stands_out(p, floor, leak) for w, p, floor, leak in zip(webrtc, power, floors, leaks)]


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    return np.convolve(x, np.ones(width) / width, mode="same")


def _stands_out(power: np.ndarray, floor: np.ndarray, leak: np.ndarray | float) -> np.ndarray:
    """Frames whose speech bands rise above the reference by more than the channel's noise varies.

    The score is the speech bands' power over the noise's plus the other channel's predicted copy
    (`leak`), smoothed over SURE_WIDTH frames to decide that speech is there and over EDGE_WIDTH to
    place its edges; each has its own threshold from the channel's noise (`_noise_score`), so a
    steady hiss gets a low one, a babble of voices a high one. A stretch then goes on while the
    next SURE_WIDTH frames stay TAIL_DB above the noise's typical score: a voice trailing off under
    a babble is as loud as the babble's own bursts, but follows a start the threshold vouched for;
    and further as `_carried_on` finds."""
    total, noise = power.sum(axis=1), floor.sum(axis=1)
    leaked = leak.sum(axis=1) if isinstance(leak, np.ndarray) else leak
    verdicts, typical, copied = [], 0.0, noise
    loud = np.percentile(10 * np.log10(total), 95)
    for width, headroom in ((EDGE_WIDTH, EDGE_ECHO_HEADROOM), (SURE_WIDTH, 1.0)):
        # the threshold from the noise alone: a copy pushed under it would distort the noise's histogram
        typical, spread = _noise_score(10 * np.log10(_smooth(total / noise, width)))
        # the copy adds to the noise as it typically is, not to its floor: under a babble whose typical power
        # is 10 dB over its floor, an echo as strong as that floor lifts the noise by 0.4 dB, not 3 dB
        copied = noise + headroom * leaked / 10 ** (typical / 10)
        above = 10 * np.log10(_smooth(total / copied, width))
        verdicts.append(above > typical + MARGIN_DB + SPREAD * spread)
    edges, sure = verdicts
    # a voice far below the channel's own loudest speech is someone in the background, not the party; and a
    # stretch only a few dB over a babble (`above` is the SURE_WIDTH score) is the party's only at its talker level
    level = 10 * np.log10(_smooth(total, SURE_WIDTH))
    sure &= (level > loud - OWN_VOICE_DB) & ((level > loud - TALKER_DB) | (above > typical + CLEAR_DB))
    starts = np.flatnonzero(np.diff(np.concatenate(([0], edges.astype(np.int8)))) == 1)
    stops = np.flatnonzero(np.diff(np.concatenate((edges.astype(np.int8), [0]))) == -1) + 1
    keep = np.zeros_like(edges)
    cumulative = np.concatenate(([0], np.cumsum(sure)))
    kept = [(start, stop) for start, stop in zip(starts, stops) if cumulative[stop] > cumulative[start]]
    for start, stop in kept:
        keep[start:stop] = True
    # `typical` is the noise's typical SURE_WIDTH score (the loop's last pass)
    goes_on = 10 * np.log10(_ahead(total / copied, SURE_WIDTH)) > typical + TAIL_DB
    near = 10 * np.log10(_smooth(total / copied, EDGE_WIDTH)) > typical + TAIL_DB
    for _, stop in kept:
        end = stop
        while end < keep.size and goes_on[end] and not keep[end]:
            end += 1
        while stop < end < keep.size and near[end] and not keep[end]:  # its last words placed as edges are
            end += 1
        keep[stop:end] = True
    return _carried_on(keep, power, floor, leak)


def _carried_on(keep: np.ndarray, power: np.ndarray, floor: np.ndarray, leak: np.ndarray | float) -> np.ndarray:
    """`keep` with each stretch of at least GO_ON_MIN frames carried on as far as its voice goes on
    a little above the noise: the quiet end of a sentence under a babble of voices nearly as loud.

    The score is a band-mean SNR: each band's power over its noise (plus the other channel's
    predicted copy, added to the noise as it typically is), smoothed over EDGE_WIDTH, in dB, and
    averaged over the bands, so every band's evidence counts the same (the total power is ruled by
    the loud low bands, where a babble is loudest too); less the noise's typical band-mean score and
    GO_ON_DB. From a stretch's end to the next stretch carried on (or GO_ON_REACH frames), the
    stretch then ends where the running sum of that score peaks (a CUSUM change point): a voice
    going on 1 dB above the mark adds up over a second, the noise after it, below the mark, takes
    it back, and a lone burst of the babble between them does not outweigh either. A frame whose
    power is under the channel's own voice (OWN_VOICE_DB) counts −OWN_VOICE_DB: a voice in the
    background does not carry the party's speech on."""
    bands_db = lambda reference, width: np.mean(10 * np.log10(_smooth_rows(power / reference, width)), axis=1)  # noqa: E731
    typical, _ = _noise_score(bands_db(floor, SURE_WIDTH))
    copied = floor + (leak if isinstance(leak, np.ndarray) else leak / floor.shape[1]) / 10 ** (typical / 10)
    total = power.sum(axis=1)
    own = 10 * np.log10(_smooth(total, EDGE_WIDTH)) > np.percentile(10 * np.log10(total), 95) - OWN_VOICE_DB
    score = np.where(own, bands_db(copied, EDGE_WIDTH) - (typical + GO_ON_DB), -OWN_VOICE_DB)
    starts = np.flatnonzero(np.diff(np.concatenate(([0], keep.astype(np.int8)))) == 1)
    stops = np.flatnonzero(np.diff(np.concatenate((keep.astype(np.int8), [0]))) == -1) + 1
    long = stops - starts >= GO_ON_MIN
    out = keep.copy()
    for start, stop in zip(starts[long], stops[long]):
        following = starts[long][starts[long] > start]
        limit = min(int(following[0]) if following.size else keep.size, stop + GO_ON_REACH)
        gain = np.concatenate(([0.0], np.cumsum(score[stop:limit])))
        end = stop + int(np.argmax(gain))
        out[stop:end] = True
        out[end : _rest_of_voice(score, end, limit, int(following[0]) if following.size else keep.size)] = True
    return out


def _rest_of_voice(score: np.ndarray, begin: int, limit: int, bound: int) -> int:
    """Where the rest of a voice that the CUSUM left at `begin` ends: the quiet last second of a
    sentence under a babble is often at the CUSUM's mark or just under it (its sum wanders and
    peaks early), but clearly louder than the babble right after it. So the end is the change point
    between `begin` and `limit` with the strongest contrast (the mean `score` before it against the
    mean over up to SPLIT_AFTER frames after it, not past `bound`, weighted as a two-sample
    statistic), provided the part before it is at least GO_ON_MIN frames, SPLIT_DB over the part
    after and SPLIT_FLOOR_DB over the noise's typical band-mean score; `begin` if there is none.
    `score` is the band-mean SNR less the noise's typical and GO_ON_DB (`_carried_on`)."""
    limit = min(limit, bound)
    if limit - begin <= GO_ON_MIN:
        return begin
    summed = np.concatenate(([0.0], np.cumsum(score[begin:bound], dtype=np.float64)))
    at = np.arange(begin + GO_ON_MIN, limit)
    until = np.minimum(at + SPLIT_AFTER, bound)
    before, after = at - begin, until - at
    mean_before = summed[before] / before
    mean_after = (summed[until - begin] - summed[before]) / np.maximum(after, 1)
    good = (
        (after >= SPLIT_MIN_AFTER) & (mean_before - mean_after >= SPLIT_DB) & (mean_before >= SPLIT_FLOOR_DB - GO_ON_DB)
    )
    if not good.any():
        return begin
    contrast = (mean_before - mean_after) * np.sqrt(before * after / (before + after))
    return int(at[int(np.argmax(np.where(good, contrast, -np.inf)))])


def _smooth_rows(x: np.ndarray, width: int) -> np.ndarray:
    """`_smooth` of each column (a sum of shifted copies: a running sum would lose the quiet frames
    after a loud one to rounding)."""
    half = width // 2
    padded = np.concatenate(
        (np.zeros((half, x.shape[1]), x.dtype), x, np.zeros((width - 1 - half, x.shape[1]), x.dtype))
    )
    total = padded[: x.shape[0]].copy()
    for k in range(1, width):
        total += padded[k : k + x.shape[0]]
    return total / width


def _ahead(x: np.ndarray, width: int) -> np.ndarray:
    """Per frame, the mean of `x` over it and the `width` - 1 frames after it (fewer at the end)."""
    cumulative = np.concatenate(([0.0], np.cumsum(x, dtype=np.float64)))
    at = np.arange(x.size)
    until = np.minimum(at + width, x.size)
    return np.maximum((cumulative[until] - cumulative[at]) / (until - at), 1e-12)


def _noise_score(score: np.ndarray) -> tuple[float, float]:
    """The channel's noise in a smoothed score: its typical value (the lowest peak of the histogram
    that is at least NOISE_PEAK of the highest: noise frames bunch up there, even where speech
    fills most of the channel) and its spread, measured below that peak (speech never lies below
    it). A babble spreads ~1 dB, a hiss ~0.4 dB."""
    low = np.percentile(score, 0.5)
    counts, edges = np.histogram(score, bins=np.arange(low, low + 15.25, 0.25))
    counts = np.convolve(counts, np.ones(5), mode="same")
    peaks = np.flatnonzero(
        (counts >= np.roll(counts, 1)) & (counts >= np.roll(counts, -1)) & (counts >= NOISE_PEAK * counts.max())
    )
    mode = edges[peaks[0]] + 0.125
    below = score[score < mode] - mode
    return float(mode), float(np.sqrt(np.mean(below**2))) if below.size else 0.0


def follows(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, int]:
    """Per delay (0–ECHO_MAX), how closely `target`'s frame-to-frame changes of log band power
    follow `source`'s while `source` is loud (the mean over bands of their correlation), and over
    how many frames. A delayed copy (echo, crosstalk) shows as a peak at its delay, even 10 dB
    under street noise, where the target's level hardly rises; independent noise and turn-taking
    stay within about one standard error (1/√frames) of 0."""
    level = np.log10(source.sum(axis=1))
    loud = (level > np.percentile(level, 70))[1:]
    if not loud.any():  # a source at one level throughout (digital silence, a muted leg) is followed by nothing
        return np.zeros(int(ECHO_MAX / FRAME) + 1), 0
    cause, effect = np.diff(np.log(source), axis=0), np.diff(np.log(target), axis=0)
    n = cause.shape[0]
    return np.array(
        [
            np.mean(_standard(cause[: n - k][loud[: n - k]]) * _standard(effect[k:][loud[: n - k]]))
            for k in range(int(ECHO_MAX / FRAME) + 1)
        ]
    ), int(loud.sum())


def copied_power(
    source: np.ndarray,
    target: np.ndarray,
    correlation: np.ndarray,
    frames: int,
    reverse: float,
    voiced: np.ndarray | None = None,
) -> np.ndarray:
    """The power per frame and band that `source` puts into `target` as a delayed, attenuated copy;
    zeros where there is none.

    The delay is where `target` follows `source` best (`correlation` over `frames`, from `follows`).
    Under ECHO_Z standard errors there is no copy; nor where `source` follows `target` at least as
    well (`reverse`, its best correlation): a channel holding a copy of the other correlates with
    it the other way round too, at delays of the copied voice's own rhythm. A copy louder than
    ECHO_MAX_GAIN is not one (then the source holds an echo of the target). The gain per band is
    the median ratio of what the target holds above its usual level (after the source was quiet)
    to the source's power. With `voiced` (the source's own speech mask) only the source's speech,
    ± ECHO_GATE frames, is copied: the source's noise, echoed, is steady enough to be part of the
    target's noise floor already, and a babble there would otherwise be copied as if it spoke."""
    lag = int(np.argmax(correlation))
    if correlation[lag] < ECHO_Z / np.sqrt(max(frames, 1)) or correlation[lag] <= reverse:
        return np.zeros_like(target)
    level = np.log10(source.sum(axis=1))
    loud, quiet = level > np.percentile(level, 70), level < np.percentile(level, 30)
    if not quiet.any():
        return np.zeros_like(target)
    copy = np.maximum.reduce([_delayed(source, k) for k in (lag - 1, lag, lag + 1)])
    after = _delayed(loud, lag)
    baseline = np.median(target[_delayed(quiet, lag)], axis=0)
    excess = np.maximum(target[after] - baseline, 0)
    if np.median(excess.sum(axis=1) / copy[after].sum(axis=1)) > ECHO_MAX_GAIN:
        return np.zeros_like(target)
    gain = ECHO_HEADROOM * np.median(excess / copy[after], axis=0)
    if voiced is not None:
        speaking = np.convolve(voiced.astype(float), np.ones(2 * ECHO_GATE + 1), mode="same") > 0
        spoken = np.where(speaking[:, None], source, 0.0)
        copy = np.maximum.reduce([_delayed(spoken, k) for k in (lag - 1, lag, lag + 1)])
    return gain * copy


def _standard(x: np.ndarray) -> np.ndarray:
    """Each column at zero mean and unit variance."""
    return (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-9)


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
