"""Read a call recording into float32 channels at a rate the VAD takes (8 or 16 kHz).

Everything soundfile's libsndfile decodes is accepted (WAV, FLAC, OGG/Vorbis/Opus, MP3 with
libsndfile ≥ 1.1). Every way a file can be unusable becomes an `AudioError` that names the file,
so a batch can record it on the conversation and go on with the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

MIN_RATE = 8000  # telephone audio; below it speech is not intelligible enough to measure


class AudioError(ValueError):
    """A recording that cannot be analyzed; the message starts with the file name."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class Recording:
    """Decoded audio: `channels` has shape (n_channels, n_samples), values in [-1, 1]."""

    path: str
    channels: np.ndarray
    sample_rate: int
    source_rate: int  # the file's own rate, before resampling for the VAD

    @property
    def duration(self) -> float:
        return self.channels.shape[1] / self.sample_rate

    @property
    def n_channels(self) -> int:
        return self.channels.shape[0]


def read_audio(path: str | Path) -> Recording:
    """Decode `path`; raise `AudioError` for a missing, empty, truncated or unusable file."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "no such audio file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise AudioError(path, f"cannot decode audio ({error}); truncated header or unsupported format?") from None
    if rate < MIN_RATE:
        raise AudioError(path, f"sample rate {rate} Hz is too low: call recordings are 8000 Hz or more")
    if data.shape[0] == 0:
        raise AudioError(path, "no audio samples (0-length channel)")
    channels = np.ascontiguousarray(data.T)
    target = 8000 if rate < 16000 else 16000
    if rate != target:
        channels = _resample(channels, rate, target)
    return Recording(str(path), channels, target, rate)


def _resample(channels: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Down to the VAD's rate: a moving average as the anti-alias filter, then linear interpolation.
    Crude for listening, enough for voice activity and energy."""
    width = max(1, round(rate / target))
    kernel = np.ones(width, dtype=np.float32) / width
    n_out = int(channels.shape[1] * target / rate)
    src = np.arange(channels.shape[1]) / rate
    dst = np.arange(n_out) / target
    return np.stack([np.interp(dst, src, np.convolve(c, kernel, mode="same")).astype(np.float32) for c in channels])
