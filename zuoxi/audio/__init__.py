"""Call audio: read a recording, find who speaks when, and measure what the seeds teach by ear.

One module per concern: `io` (read and decode), `vad` (voice activity), `features` (per-call
measures), `align` (attach them to transcript turns, and the rule-engine view), `transcribe`
(optional sherpa-onnx ASR with a local model directory). `analyze_audio` is the stage the pipeline
calls.
"""

from zuoxi.audio.align import AudioAnalysis, align, analyze_audio, analyze_file, rule_metrics
from zuoxi.audio.features import CallFeatures, measure
from zuoxi.audio.io import AudioError, Recording, read_audio

__all__ = [
    "AudioAnalysis",
    "AudioError",
    "CallFeatures",
    "Recording",
    "align",
    "analyze_audio",
    "analyze_file",
    "measure",
    "read_audio",
    "rule_metrics",
]
