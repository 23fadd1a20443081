"""Who spoke when on a mono call: speaker diarization with sherpa-onnx and models the user supplies.

`pip install 'zuoxi[asr]'` brings sherpa-onnx; the models come from a folder the user already has
(nothing is ever downloaded): a pyannote speaker-segmentation model and a speaker-embedding model,
as sherpa-onnx ships them. The two speakers found become agent and customer by who spoke first
(the agent greets first on nearly every call; `agent_first=False` says otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zuoxi.audio.io import Recording
from zuoxi.audio.transcribe import ModelError
from zuoxi.audio.vad import Segment

MIN_ON, MIN_OFF = 0.3, 0.5  # seconds: shorter speech is dropped, shorter pauses bridged (sherpa-onnx's own options)


def find_models(model_dir: str | Path) -> tuple[Path, Path]:
    """(segmentation, embedding) ONNX files of a diarization model folder: `segmentation*.onnx` or a
    `*segmentation*/model*.onnx` subfolder, and one other `*.onnx` (int8 variants preferred)."""
    root = Path(model_dir)
    if not root.is_dir():
        raise ModelError(f"{root}: 没有这个模型目录")
    prefer = lambda paths: sorted(paths, key=lambda p: (".int8." not in p.name, p.name))  # noqa: E731
    segmentation = prefer([*root.glob("segmentation*.onnx"), *root.glob("*segmentation*/model*.onnx")])
    embedding = prefer([p for p in root.glob("*.onnx") if not p.name.startswith("segmentation")])
    if not segmentation:
        raise ModelError(f"{root}: 没有说话人分段模型（segmentation*.onnx 或 *segmentation*/model.onnx）")
    if not embedding:
        raise ModelError(f"{root}: 没有声纹模型（分段模型旁边的另一个 *.onnx）")
    return segmentation[0], embedding[0]


def load_diarizer(model_dir: str | Path, threads: int = 1) -> Any:
    try:
        import sherpa_onnx
    except ImportError:
        raise ModelError("没有安装 sherpa-onnx：pip install 'zuoxi[asr]'") from None
    segmentation, embedding = find_models(model_dir)
    config = sherpa_onnx.OfflineSpeakerDiarizationConfig(
        segmentation=sherpa_onnx.OfflineSpeakerSegmentationModelConfig(
            pyannote=sherpa_onnx.OfflineSpeakerSegmentationPyannoteModelConfig(model=str(segmentation)),
            num_threads=threads,
        ),
        embedding=sherpa_onnx.SpeakerEmbeddingExtractorConfig(model=str(embedding), num_threads=threads),
        clustering=sherpa_onnx.FastClusteringConfig(num_clusters=2),
        min_duration_on=MIN_ON,
        min_duration_off=MIN_OFF,
    )
    if not config.validate():
        raise ModelError(f"{model_dir}: sherpa-onnx 不接受这些模型（{segmentation.name}、{embedding.name}）")
    try:
        return sherpa_onnx.OfflineSpeakerDiarization(config)
    except Exception as error:  # noqa: BLE001 - onnxruntime raises RuntimeError and others for a file that is no model
        raise ModelError(f"{model_dir}: 无法加载说话人分离模型（{error}）") from None


def diarize(recording: Recording, diarizer: Any, agent_first: bool = True) -> dict[str, list[Segment]]:
    """Agent and customer stretches of a mono recording."""
    rate = diarizer.sample_rate
    samples = recording.channels[0]
    if rate != recording.sample_rate:
        n = int(samples.size * rate / recording.sample_rate)
        samples = np.interp(np.arange(n) / rate, np.arange(samples.size) / recording.sample_rate, samples)
    found = diarizer.process(np.ascontiguousarray(samples, dtype=np.float32)).sort_by_start_time()
    speakers: dict[int, list[Segment]] = {}
    for piece in found:
        speakers.setdefault(piece.speaker, []).append(Segment(round(piece.start, 3), round(piece.end, 3)))
    order = list(speakers)  # first appearance first
    roles = ("agent", "customer") if agent_first else ("customer", "agent")
    return {role: speakers[speaker] for role, speaker in zip(roles, order)} | {role: [] for role in roles[len(order) :]}
