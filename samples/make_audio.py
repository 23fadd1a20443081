"""Synthesize the bundled call recordings in samples/audio/ from their transcripts.

Each turn is spoken by espeak-ng (Mandarin voice `cmn`; agent and customer at different pitches),
stretched with sox to exactly the turn's [start, end], and placed on its party's channel; the call
runs to the transcript's `duration`. Stereo files put the agent left and the customer right (as
`meta.audio_channels` says); cb-001 is mixed down to mono to show that layout. 8 kHz Ogg/Vorbis
keeps all four files to a few hundred KB.

Needs espeak-ng and sox (`make sample-audio` installs them on Debian and runs this script).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
RATE = 8000
CALLS = {  # id → (file it lives in, layout)
    "cb-001": ("callbacks.json", "mono"),  # good callback, 3 s pause before hang-up
    "cb-004": ("callbacks.json", "stereo"),  # agent interrupts 1.3 s, hangs up 0.4 s after the last word
    "cb-006": ("callbacks.json", "stereo"),  # too fast (~380 chars/min), interrupts, hangs up after 0.6 s
    "cp-002": ("complaint_desk.jsonl", "stereo"),  # 4 s of dead air while the manager checks
}
PITCH = {"agent": "35", "customer": "75", "system": "50"}


def speak(text: str, seconds: float, role: str, work: Path) -> np.ndarray:
    """`text` spoken by espeak-ng, silence trimmed, stretched to `seconds` at 8 kHz."""
    raw, fitted = work / "raw.wav", work / "fit.wav"
    subprocess.run(["espeak-ng", "-v", "cmn", "-s", "220", "-p", PITCH[role], "-w", str(raw), text], check=True)
    trim = ["silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse"]
    subprocess.run(["sox", "-D", "-v", "0.8", str(raw), "-r", str(RATE), "-c", "1", str(fitted), *trim], check=True)
    length = sf.info(str(fitted)).duration
    subprocess.run(
        [
            "sox",
            "-D",
            "-v",
            "0.8",
            str(raw),
            "-r",
            str(RATE),
            "-c",
            "1",
            str(work / "out.wav"),
            *trim,
            "tempo",
            "-s",
            f"{length / seconds:.4f}",
        ],
        check=True,
    )
    voice, _ = sf.read(str(work / "out.wav"), dtype="float32")
    return voice[: int(seconds * RATE)]


def render(conversation: dict, layout: str, target: Path) -> None:
    n = int(conversation["duration"] * RATE)
    tracks = {"agent": np.zeros(n, np.float32), "customer": np.zeros(n, np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        for turn in conversation["turns"]:
            voice = speak(turn["text"], turn["end"] - turn["start"], turn["role"], Path(tmp))
            start = int(turn["start"] * RATE)
            track = tracks["customer" if turn["role"] == "customer" else "agent"]
            track[start : start + voice.size] += voice[: n - start]
    data = (
        tracks["agent"] + tracks["customer"] if layout == "mono" else np.stack([tracks["agent"], tracks["customer"]], 1)
    )
    peak = float(np.abs(data).max())
    sf.write(str(target), 0.7 * data / peak, RATE, format="OGG", subtype="VORBIS", compression_level=1.0)


def main() -> None:
    (HERE / "audio").mkdir(exist_ok=True)
    by_file: dict[str, list[dict]] = {}
    for name in {f for f, _ in CALLS.values()}:
        text = (HERE / name).read_text(encoding="utf-8")
        by_file[name] = json.loads(text) if name.endswith(".json") else [json.loads(line) for line in text.splitlines()]
    for ident, (name, layout) in CALLS.items():
        conversation = next(c for c in by_file[name] if c["id"] == ident)
        render(conversation, layout, HERE / "audio" / f"{ident}.ogg")
        conversation["audio"] = f"audio/{ident}.ogg"
        if layout == "stereo":
            conversation["meta"]["audio_channels"] = ["agent", "customer"]
        print(f"audio/{ident}.ogg ({layout}, {conversation['duration']} s)")
    for name, conversations in by_file.items():
        if name.endswith(".json"):
            text = json.dumps(conversations, ensure_ascii=False, indent=1)
        else:
            text = "".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) + "\n" for c in conversations)
        (HERE / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
