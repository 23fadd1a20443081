"""Read a call recording into float32 channels at a rate the VAD takes (8 or 16 kHz).

Everything soundfile's libsndfile decodes is accepted (WAV incl. μ-law/A-law, FLAC, OGG/Vorbis/Opus,
MP3). Every way a file can be unusable becomes an `AudioError` that names the file, so a batch can
record it on the conversation and go on with the text; a file that is only partly there (cut
mid-data, or its decoder stops early) is analysed as far as it goes, with a warning saying how much
is missing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from zuoxi.audio.vad import FRAME

MIN_RATE = 8000  # telephone audio; below it speech is not intelligible enough to measure
MAX_RATE = 384_000  # the highest rate audio hardware records; above it the header is garbage
MAX_CHANNELS = 8  # call recorders write 1 or 2; dozens means a broken header
MAX_HOURS = 24  # a header claiming more than a day of audio is not a call recording
CLIP_LEVEL = 0.98  # of full scale (−0.18 dBFS); lossy codecs ring around the flat top, so not exactly 1.0
CLIP_RUN = 3  # samples in a row: a natural peak touches full scale for one or two
BLOCK = 1 << 14  # frames decoded at a time, so a decoder failing late keeps what came before
# A LAME-encoded MP3 starts 576 (encoder) + 529 (decoder) samples late. libsndfile removes that itself
# when the file's LAME/Info tag says so; without the tag it cannot know, and times would shift (0.14 s at 8 kHz).
MP3_DELAY = 1105


class AudioError(ValueError):
    """A recording that cannot be analyzed; the message starts with the file name."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class Recording:
    """Decoded audio: `channels` has shape (n_channels, n_samples), values in [-1, 1] (lossy codecs may overshoot)."""

    path: str
    channels: np.ndarray
    sample_rate: int
    source_rate: int  # the file's own rate, before resampling for the VAD
    warnings: tuple[str, ...] = field(default=())  # e.g. the file is cut short; each starts with the file name
    peak: np.ndarray | None = None  # per channel: the largest |sample| at the file's own rate
    clipped: np.ndarray | None = None  # (n_channels, n_frames) bool: the VAD frame holds a clipped run

    @property
    def duration(self) -> float:
        return self.channels.shape[1] / self.sample_rate

    @property
    def n_channels(self) -> int:
        return self.channels.shape[0]


def read_audio(path: str | Path) -> Recording:
    """Decode `path`; raise `AudioError` for a missing, empty, absurd or undecodable file."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "no such audio file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise AudioError(path, f"cannot decode audio ({error}); truncated header or unsupported format?") from None
    rate, n_channels = info.samplerate, info.channels
    if rate < MIN_RATE:
        raise AudioError(path, f"sample rate {rate} Hz is too low: call recordings are 8000 Hz or more")
    if rate > MAX_RATE:
        raise AudioError(path, f"header claims a sample rate of {rate:,} Hz (at most {MAX_RATE:,}): broken or forged header")
    if not 1 <= n_channels <= MAX_CHANNELS:
        raise AudioError(path, f"header claims {n_channels} channels (1 to {MAX_CHANNELS} expected): broken header")
    if info.frames > MAX_HOURS * 3600 * rate:
        raise AudioError(path, f"header claims {info.frames / rate / 3600:,.0f} hours of audio: broken header")
    data, stopped = _decode(path)
    warnings = []
    if info.format == "MP3":
        expected = _mp3_declared_frames(path, rate)
        if expected is None:
            data = data[MP3_DELAY:]
    else:
        expected = _declared_frames(path, info)
    present = data.shape[0] / rate
    missing = f"{(expected - data.shape[0]) / rate:.2f} s of the {expected / rate:.2f} s its header declares are " \
              f"missing" if expected is not None and expected > data.shape[0] else None
    if stopped is not None:
        warnings.append(f"{path}: decoding failed at {present:.2f} s ({stopped})" + (f": {missing}" if missing else "")
                        + "; analysed up to there")
    elif missing:
        warnings.append(f"{path}: file is cut short: {missing}; analysed the {present:.2f} s present")
    if data.shape[0] == 0:
        raise AudioError(path, "no audio samples (0-length channel)" + (f"; decoding failed: {stopped}" if stopped else ""))
    channels = np.ascontiguousarray(data.T)
    peak, clipped = _clipping(channels, rate)
    target = 8000 if rate < 16000 else 16000
    if rate != target:
        channels = _resample(channels, rate, target)
    return Recording(str(path), channels, target, rate, tuple(warnings), peak, clipped)


def _clipping(channels: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Per channel the sample peak, and per VAD frame whether CLIP_RUN samples in a row sit at full
    scale (≥ CLIP_LEVEL): the flat tops a recorder or codec leaves when the voice was too loud."""
    magnitude = np.abs(channels)
    hot = magnitude >= CLIP_LEVEL
    run = hot[:, CLIP_RUN - 1:].copy()
    for k in range(1, CLIP_RUN):
        run &= hot[:, CLIP_RUN - 1 - k:hot.shape[1] - k]
    size = int(rate * FRAME)
    n_frames = channels.shape[1] // size
    clipped = np.zeros((channels.shape[0], n_frames), dtype=bool)
    for index, where in enumerate(run):
        frames = (np.flatnonzero(where) + CLIP_RUN - 1) // size
        clipped[index, frames[frames < n_frames]] = True
    return magnitude.max(axis=1), clipped


def _decode(path: Path) -> tuple[np.ndarray, str | None]:
    """All frames the decoder gives, and why it stopped early (None: it reached the end)."""
    blocks, stopped = [], None
    try:
        with sf.SoundFile(str(path)) as handle:
            while True:
                block = handle.read(BLOCK, dtype="float32", always_2d=True)
                if not block.shape[0]:
                    break
                blocks.append(block)
            n_channels = handle.channels
    except (sf.LibsndfileError, RuntimeError, ValueError) as error:
        if not blocks:
            raise AudioError(path, f"cannot decode audio ({error})") from None
        stopped, n_channels = str(error), blocks[0].shape[1]
    data = np.concatenate(blocks) if blocks else np.zeros((0, n_channels), dtype=np.float32)
    return data, stopped


def _declared_frames(path: Path, info) -> int | None:
    """How many frames the container says it holds. WAV: from the data chunk's size (libsndfile
    shortens `frames` to what is there); FLAC and others: libsndfile's frame count; Ogg: None
    (its length is read from the last page there is, not declared up front)."""
    if info.format == "OGG":
        return None
    if info.format != "WAV":
        return info.frames
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = None
        while chunk := handle.read(8):
            if len(chunk) < 8:
                return None
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"fmt ":
                fmt = handle.read(size + (size & 1))
                block_align = struct.unpack("<H", fmt[12:14])[0] if len(fmt) >= 14 else None
            elif name == b"data":
                return size // block_align if block_align else None
            else:
                handle.seek(size + (size & 1), 1)
    return None


def _mp3_declared_frames(path: Path, rate: int) -> int | None:
    """The length an MP3's LAME/Info tag declares; None without the tag (libsndfile then cannot
    remove the encoder delay: the caller does)."""
    from mutagen import MutagenError
    from mutagen.mp3 import MP3

    try:
        info = MP3(str(path)).info
    except MutagenError:
        return None
    return round(info.length * rate) if info.encoder_info else None


def _resample(channels: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Down to the VAD's rate: a moving average as the anti-alias filter, then linear interpolation.
    Crude for listening, enough for voice activity and energy."""
    width = max(1, round(rate / target))
    kernel = np.ones(width, dtype=np.float32) / width
    n_out = int(channels.shape[1] * target / rate)
    src = np.arange(channels.shape[1]) / rate
    dst = np.arange(n_out) / target
    return np.stack([np.interp(dst, src, np.convolve(c, kernel, mode="same")).astype(np.float32) for c in channels])
