"""Optional ASR: a call recording → a canonical conversation with times and speakers.

It runs sherpa-onnx (`pip install 'zuoxi[asr]'`) with a model directory the user supplies; nothing
is ever downloaded. A stereo recording is cut at the VAD's speech stretches per channel, each stretch
is recognized on its own, and its channel's role (from the channel layout) becomes the turn's role;
a mono one is cut where a speaker-diarization model (zuoxi.audio.diarize) says each party spoke.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zuoxi.audio.features import channel_roles
from zuoxi.audio.io import AudioError, Recording, read_audio
from zuoxi.audio.vad import detect, segments
from zuoxi.model import Conversation, Turn

MODEL_TYPES = ("auto", "paraformer", "sense_voice", "transducer")


class ModelError(ValueError):
    """The model directory is unusable (missing files, sherpa-onnx not installed)."""


@dataclass(frozen=True)
class ModelFiles:
    kind: str
    files: dict[str, Path]  # the `from_<kind>` keyword → file
    tokens: Path


def find_model(model_dir: str | Path, model_type: str = "auto") -> ModelFiles:
    """The ONNX files of a sherpa-onnx offline model directory (int8 variants preferred)."""
    root = Path(model_dir)
    if not root.is_dir():
        raise ModelError(f"{root}: 没有这个模型目录")
    tokens = root / "tokens.txt"
    if not tokens.is_file():
        raise ModelError(f"{root}: 没有 tokens.txt（sherpa-onnx 离线模型目录里都有这个文件）")

    def pick(prefix: str) -> Path | None:
        found = sorted(root.glob(f"{prefix}*.onnx"), key=lambda p: (".int8." not in p.name, p.name))
        return found[0] if found else None

    parts = {name: pick(name) for name in ("encoder", "decoder", "joiner")}
    if model_type == "transducer" or (model_type == "auto" and all(parts.values())):
        if not all(parts.values()):
            raise ModelError(f"{root}: transducer 模型需要 encoder*.onnx、decoder*.onnx 和 joiner*.onnx")
        return ModelFiles("transducer", {name: file for name, file in parts.items() if file is not None}, tokens)
    model = pick("model")
    if model is None:
        raise ModelError(
            f"{root}: 既没有 model*.onnx（paraformer、SenseVoice），也没有 encoder/decoder/joiner（transducer）"
        )
    if model_type == "auto":
        model_type = "sense_voice" if "sense" in root.name.lower() else "paraformer"
    return ModelFiles(model_type, {"model" if model_type == "sense_voice" else "paraformer": model}, tokens)


def load_recognizer(model: ModelFiles, threads: int = 1) -> Any:
    try:
        import sherpa_onnx
    except ImportError:
        raise ModelError("没有安装 sherpa-onnx：pip install 'zuoxi[asr]'") from None
    build = getattr(sherpa_onnx.OfflineRecognizer, f"from_{model.kind}")
    options = {k: str(v) for k, v in model.files.items()}
    try:
        return build(tokens=str(model.tokens), num_threads=threads, **options)
    except Exception as error:  # noqa: BLE001 - onnxruntime raises RuntimeError and others for a file that is no model
        raise ModelError(f"{model.tokens.parent}: 无法加载 {model.kind} 模型（{error}）") from None


def transcribe(
    audio: str | Path | Recording,
    recognizer: Any,
    layout: Any = None,
    conversation_id: str | None = None,
    diarizer: Any = None,
    agent_first: bool = True,
) -> Conversation:
    """Recognize every speech stretch of a call; turns in time order. Stereo: the role is the
    channel's. Mono: the stretches and roles come from `diarizer` (zuoxi.audio.diarize)."""
    from zuoxi.audio.diarize import diarize

    recording = audio if isinstance(audio, Recording) else read_audio(audio)
    if recording.n_channels == 1:
        if diarizer is None:
            raise AudioError(
                recording.path,
                "单声道录音：转写需要坐席和客户各占一个声道，或者提供说话人分离模型（--diarization-dir）",
            )
        stretches, sources = diarize(recording, diarizer, agent_first), {"agent": 0, "customer": 0}
        meta: dict[str, Any] = {"diarized": True}
    else:
        sources = channel_roles(layout, recording.n_channels, recording.path)
        masks = detect([recording.channels[index] for index in sources.values()], recording.sample_rate)
        stretches = {role: segments(mask) for role, mask in zip(sources, masks)}
        meta = {"audio_channels": dict(sources)}
    rate = recording.sample_rate
    pieces: list[tuple[float, Turn]] = []
    for role, found in stretches.items():
        samples = recording.channels[sources[role]]
        for seg in found:
            stream = recognizer.create_stream()
            stream.accept_waveform(rate, samples[int(seg.start * rate) : int(seg.end * rate)])
            recognizer.decode_stream(stream)
            text = stream.result.text.strip()
            if text:
                # `role` is a channel role (agent, customer); the model checks it
                turn = Turn.model_validate({"role": role, "text": text, "start": seg.start, "end": seg.end})
                pieces.append((seg.start, turn))
    if not pieces:
        raise AudioError(recording.path, "没有识别出任何语音")
    pieces.sort(key=lambda piece: piece[0])
    return Conversation(
        id=conversation_id or Path(recording.path).stem,
        channel="call",
        audio=recording.path,
        duration=round(recording.duration, 3),
        meta=meta,
        turns=[turn for _, turn in pieces],
    )
