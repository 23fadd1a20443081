"""Real-time factor of audio feature extraction on one core: one hour of stereo 8 kHz call audio.

The call is synthesized (zuoxi/audio/synth.py): agent and customer take turns of 3–10 s with
0.3–4 s pauses, a few interruptions, line noise on both channels; it is written to a FLAC file and
timed end to end — decode, VAD on both channels, levels, dead air, overlaps, latencies, peaks, and
alignment to the ~400 transcript turns. CPU seconds of this process (time.process_time).
Target: ≥ 200× faster than real time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from zuoxi.audio import align, measure, read_audio
from zuoxi.audio.synth import silence, speech
from zuoxi.model import Turn

RATE = 8000


def synthesize(seconds: float, seed: int = 0) -> tuple[np.ndarray, list[Turn]]:
    rng = np.random.default_rng(seed)
    tracks = np.stack([silence(seconds, RATE, seed=1), silence(seconds, RATE, seed=2)])
    turns: list[Turn] = []
    t, role = 0.5, 0
    while True:
        length = float(rng.uniform(3, 10))
        if t + length > seconds - 1:
            break
        chars = int(length * rng.uniform(3.5, 4.5))
        voice = speech(chars, length, RATE, pitch=(140, 220)[role], seed=len(turns))
        start = int(t * RATE)
        tracks[role, start : start + voice.size] += voice
        turns.append(
            Turn(role=("agent", "customer")[role], text="好" * chars, start=round(t, 3), end=round(t + length, 3))
        )
        t += length + (float(rng.uniform(-1.5, -0.5)) if rng.random() < 0.05 else float(rng.uniform(0.3, 4)))
        role = 1 - role
    return tracks.T, turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    seconds = args.minutes * 60
    audio, turns = synthesize(seconds)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "call.flac"
        sf.write(path, audio, RATE)
        started = time.process_time()
        analysis = align(measure(read_audio(path)), turns)
        spent = time.process_time() - started
    call = analysis.call
    speech = {c.role: c.speech_seconds for c in call.channels}
    print(f"audio: {seconds / 60:.0f} min stereo {RATE} Hz FLAC, {len(turns)} turns")
    print(
        f"found: speech agent {speech['agent'] / 60:.1f} min, customer "
        f"{speech['customer'] / 60:.1f} min, {len(call.overlaps)} overlaps, "
        f"{len(call.dead_air)} dead-air stretches, {len(call.latencies)} responses"
    )
    print(
        f"feature extraction (decode + VAD + features + alignment): {spent:.2f} CPU s "
        f"= {seconds / spent:,.0f}× real time  [target ≥ 200×]"
    )


if __name__ == "__main__":
    main()
