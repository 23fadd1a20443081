"""Speech-like test signals made with numpy: per Chinese character one syllable — a noisy consonant
onset, then a voiced vowel through formant filters with one of the four Mandarin tone contours.
Silero hears them as speech, so tests and the benchmark need no recordings and no text-to-speech."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

_VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))
_TONES = ((1.0, 1.0), (0.85, 1.15), (0.9, 0.8), (1.2, 0.8))  # pitch factor at start and end of the vowel


def speech(
    chars: int, seconds: float, sample_rate: int = 8000, pitch: float = 160.0, level_db: float = -20.0, seed: int = 0
) -> np.ndarray:
    """`chars` syllables filling `seconds` (so chars / seconds × 60 is the speech rate), RMS ≈ `level_db` dBFS."""
    rng = np.random.default_rng(seed)
    n = round(float(seconds) * sample_rate)
    out = np.zeros(n, dtype=np.float64)
    bounds = np.concatenate(([0], np.cumsum(rng.uniform(0.8, 1.2, chars))))
    bounds = (bounds / bounds[-1] * n).astype(int)
    for start, stop in pairwise(bounds):
        length = int((stop - start) * 0.9)
        out[start : start + length] = _syllable(length, sample_rate, pitch * rng.uniform(0.85, 1.15), rng)
    voiced = out[out != 0]
    rms = np.sqrt(np.mean(voiced**2)) if voiced.size else 1.0
    return (out * (10 ** (level_db / 20) / rms)).astype(np.float32)


def _syllable(n: int, rate: int, pitch: float, rng: np.random.Generator) -> np.ndarray:
    onset = min(n // 4, int(rate * rng.uniform(0.02, 0.06)))
    vowel = n - onset
    t = np.arange(vowel) / rate
    begin, end = _TONES[rng.integers(len(_TONES))]
    wobble = 1 + 0.02 * rng.standard_normal(vowel).cumsum() / np.sqrt(vowel)
    contour = pitch * (begin + (end - begin) * t / max(t[-1], 1e-9)) * wobble
    pulses = (np.diff(np.floor(np.cumsum(contour / rate)), prepend=0.0) > 0).astype(np.float64)
    freqs = np.fft.rfftfreq(vowel, 1 / rate)
    formants = _VOWELS[rng.integers(len(_VOWELS))]
    envelope = sum(1 / (1 + ((freqs - f) / (60 + 0.06 * f)) ** 2) for f in formants)
    voiced = np.fft.irfft(np.fft.rfft(pulses) * envelope, vowel)
    voiced *= np.sin(np.pi * np.arange(vowel) / vowel) ** 0.3 * rng.uniform(0.6, 1.0)
    hiss = np.diff(rng.standard_normal(onset + 1)) * 0.3 * np.abs(voiced).max()
    return np.concatenate((hiss, voiced))


def silence(seconds: float, sample_rate: int = 8000, noise_db: float = -65.0, seed: int = 1) -> np.ndarray:
    """Line noise at `noise_db` dBFS."""
    rng = np.random.default_rng(seed)
    return rng.normal(0, 10 ** (noise_db / 20), round(float(seconds) * sample_rate)).astype(np.float32)
