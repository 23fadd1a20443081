"""A tiny speaker-diarization model folder that sherpa-onnx loads like a real one, generated in
numpy and the `onnx` package (nothing trained, nothing downloaded), so the tests run zuoxi's
diarization through sherpa-onnx end to end: segmentation, embeddings, clustering.

It tells apart two synthetic voices (zuoxi/audio/synth.py) by pitch alone, as the test calls are
made: a low voice (F0 90 Hz, 61–124 Hz with the tones) and a high one (F0 300 Hz, 204–414 Hz).
- `segmentation.onnx` — pyannote-style (sherpa-onnx reads it by its metadata: 16 kHz, windows,
  receptive field, 3 speakers with at most 2 at once = 7 powerset classes): the samples are
  filtered down to 2 kHz and split by two band-pass filters (50–130 Hz: only the low voice has
  its fundamental there; 180–450 Hz); every 20 ms, where the two bands together are loud enough
  to be speech, the low band's share over 400 ms names the local speaker. It never finds two at
  once, so an overlap goes to one voice.
- `embedding.onnx` — a "wespeaker" speaker-embedding model over 80 log-mel filter banks: the
  mean over time of the lowest 14 banks (up to ~400 Hz, where the harmonics of the two voices
  fall apart), less their own mean, so that loudness does not count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

RATE = 16000
DOWN = 8  # 16 kHz filtered (below 600 Hz) down to 2 kHz
DOWN_TAPS = 127
TAPS = 129  # band-pass filters at 2 kHz: 64 ms
FRAME, HOP = 160, 40  # energy frames at 2 kHz: 80 ms every 20 ms …
VOICE_FRAME = 800  # … and, to tell the voices apart, 400 ms around each
WINDOW = 10 * RATE  # samples the segmentation model sees at once (sherpa-onnx steps 10 % of it)
BANDS = ((50.0, 130.0), (180.0, 450.0))
LOW_VOICE_DB = -24.0  # the low band over the high one above which the low voice speaks
SPEECH = 1e-5  # mean power of the two bands together above which a frame is speech (−50 dBFS)
LOW_BANKS = 14


def write_models(folder: Path) -> Path:
    """Write segmentation.onnx and embedding.onnx into `folder` (created); return it."""
    folder.mkdir(parents=True, exist_ok=True)
    _save(
        _segmentation(),
        folder / "segmentation.onnx",
        {
            "model_type": "pyannote-segmentation-3.0",
            "sample_rate": RATE,
            "window_size": WINDOW,
            "receptive_field_size": DOWN_TAPS + DOWN * (TAPS - 2 + FRAME),
            "receptive_field_shift": DOWN * HOP,
            "num_speakers": 3,
            "powerset_max_classes": 2,
            "num_classes": 7,
        },
    )
    _save(
        _embedding(),
        folder / "embedding.onnx",
        {
            "framework": "wespeaker",
            "sample_rate": RATE,
            "output_dim": LOW_BANKS,
            "normalize_samples": 1,
            "feature_normalize_type": "",
            "language": "zh",
        },
    )
    return folder


def _bandpass(low: float, high: float, rate: float = RATE / DOWN, taps: int = TAPS) -> np.ndarray:
    """A windowed-sinc band-pass filter (low = 0: low-pass)."""
    t = np.arange(taps) - (taps - 1) / 2
    ideal = 2 * high / rate * np.sinc(2 * high / rate * t) - 2 * low / rate * np.sinc(2 * low / rate * t)
    return (ideal * np.hamming(taps)).astype(np.float32)


def _segmentation():
    from onnx import TensorProto, helper, numpy_helper

    filters = np.stack([_bandpass(*band) for band in BANDS])[:, None, :]  # (2, 1, TAPS)
    # logits of the 7 powerset classes ({}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}) from (speech, low − high) in dB
    mix = np.zeros((7, 2), dtype=np.float32)
    mix[0, 0], mix[1], mix[2] = -1.0, (1.0, 1.0), (1.0, -1.0)
    bias = np.array([0, -LOW_VOICE_DB, LOW_VOICE_DB, -1e4, -1e4, -1e4, -1e4], dtype=np.float32)
    constants = {
        "lowpass": _bandpass(0.0, 600.0, RATE, DOWN_TAPS)[None, None, :],
        "filters": filters,
        "frame": np.full((2, 1, FRAME), 1 / FRAME, dtype=np.float32),
        "voice_frame": np.full((2, 1, VOICE_FRAME), 1 / VOICE_FRAME, dtype=np.float32),
        "mix": mix.T.copy(),
        "bias": bias,
        "floor": np.float32(SPEECH),
        "tiny": np.float32(1e-10),
        "ten": np.float32(10 / np.log(10)),
        "halves": np.array([[0.5], [0.5]], dtype=np.float32),
        "diff": np.array([[1.0], [-1.0]], dtype=np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "lowpass"], ["down"], strides=[DOWN]),  # 2 kHz without aliases
        helper.make_node("Conv", ["down", "filters"], ["bands"]),  # (N, 2, L)
        helper.make_node("Mul", ["bands", "bands"], ["squared"]),
        helper.make_node("Conv", ["squared", "frame"], ["energy"], strides=[HOP], group=2),  # (N, 2, F)
        helper.make_node(
            "Conv",
            ["squared", "voice_frame"],
            ["voice_energy"],
            strides=[HOP],
            group=2,
            pads=[(VOICE_FRAME - FRAME) // 2] * 2,
        ),  # the same frames, wider
        helper.make_node("Transpose", ["energy"], ["frames"], perm=[0, 2, 1]),  # (N, F, 2)
        helper.make_node("Transpose", ["voice_energy"], ["voice_frames"], perm=[0, 2, 1]),
        helper.make_node("Add", ["voice_frames", "tiny"], ["safe"]),
        helper.make_node("Log", ["safe"], ["log_bands"]),
        helper.make_node("MatMul", ["frames", "halves"], ["both"]),  # (N, F, 1): mean of the two bands
        helper.make_node("Div", ["both", "floor"], ["over"]),
        helper.make_node("Log", ["over"], ["log_over"]),
        helper.make_node("MatMul", ["log_bands", "diff"], ["log_ratio"]),  # (N, F, 1)
        helper.make_node("Concat", ["log_over", "log_ratio"], ["features"], axis=2),
        helper.make_node("Mul", ["features", "ten"], ["db"]),
        helper.make_node("MatMul", ["db", "mix"], ["raw"]),
        helper.make_node("Add", ["raw", "bias"], ["logits"]),
        helper.make_node("LogSoftmax", ["logits"], ["y"], axis=2),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-segmentation",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "T"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "F", 7])],
        [numpy_helper.from_array(np.asarray(value), name) for name, value in constants.items()],
    )
    return graph


def _embedding():
    from onnx import TensorProto, helper, numpy_helper

    pick = np.zeros((80, LOW_BANKS), dtype=np.float32)
    pick[np.arange(LOW_BANKS), np.arange(LOW_BANKS)] = 1.0
    centre = np.eye(LOW_BANKS, dtype=np.float32) - 1 / LOW_BANKS
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[1], keepdims=0),  # (N, 80)
        helper.make_node("MatMul", ["mean", "pick"], ["low"]),
        helper.make_node("MatMul", ["low", "centre"], ["embedding"]),
    ]
    return helper.make_graph(
        nodes,
        "tiny-embedding",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", 80])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", LOW_BANKS])],
        [numpy_helper.from_array(pick, "pick"), numpy_helper.from_array(centre, "centre")],
    )


def _save(graph, path: Path, metadata: dict) -> None:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
