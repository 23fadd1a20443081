"""Audio features measured on synthetic calls (numpy speech-like signals, see zuoxi/audio/synth.py).

Tolerances: VAD frames are 30 ms and WebRTC holds speech a frame or two past its end, so times are
checked to ±0.2 s and speech rates to ±8 %.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from zuoxi.audio import AudioError, align, analyze_audio, measure, read_audio
from zuoxi.audio.synth import silence, speech
from zuoxi.cli import app
from zuoxi.model import Conversation
from zuoxi.pipeline import analyze_conversation

RATE = 8000
TIME_TOL = 0.2


def build_call(path: Path, parts: list[dict], duration: float, mono: bool = False) -> dict:
    """Write a recording of `parts` (role, start, chars, seconds, level) and return its conversation."""
    tracks = {"agent": silence(duration, seed=1), "customer": silence(duration, seed=2)}
    turns = []
    for i, p in enumerate(parts):
        words = speech(p["chars"], p["seconds"], RATE, pitch=140 if p["role"] == "agent" else 220,
                       level_db=p.get("level", -20.0), seed=i)
        start = int(p["start"] * RATE)
        tracks[p["role"]][start:start + words.size] += words
        turns.append({"role": p["role"], "text": "好" * p["chars"], "start": p["start"], "end": p["start"] + p["seconds"]})
    data = tracks["agent"] + tracks["customer"] if mono else np.stack([tracks["agent"], tracks["customer"]], axis=1)
    sf.write(path, data, RATE)
    return {"id": path.stem, "channel": "call", "duration": None, "audio": path.name,
            "meta": {"audio_channels": ["agent", "customer"], "scorecard": "outbound"}, "turns": turns}


def analysis(path: Path, conv: dict):
    conversation = Conversation.model_validate(conv)
    return align(measure(read_audio(path), conv["meta"].get("audio_channels")), conversation.turns)


# A card-activation callback: 1.5 s interruption at 9.0 s, 5 s dead air from 15.5 s, hang-up 0.5 s after the last word.
SCRIPT = [
    {"role": "customer", "start": 0.5, "chars": 3, "seconds": 1.0},
    {"role": "agent", "start": 2.0, "chars": 24, "seconds": 6.0},  # 240 chars/min
    {"role": "customer", "start": 8.5, "chars": 8, "seconds": 2.0},  # speaks until 10.5
    {"role": "agent", "start": 9.0, "chars": 20, "seconds": 6.0},  # starts 1.5 s before the customer stops
    {"role": "customer", "start": 20.0, "chars": 4, "seconds": 1.5},  # after 5 s of dead air (15.0–20.0)
    {"role": "agent", "start": 22.0, "chars": 10, "seconds": 2.5},  # ends at 24.5
]
DURATION = 25.0


@pytest.fixture()
def call(tmp_path):
    path = tmp_path / "call.flac"
    return path, build_call(path, SCRIPT, DURATION)


def test_interruption_dead_air_and_hangup_are_measured(call):
    path, conv = call
    result = analysis(path, conv)
    overlaps = [o for o in result.call.overlaps if o.by == "agent"]
    assert len(overlaps) == 1 and overlaps[0].over == "customer"
    assert overlaps[0].start == pytest.approx(9.0, abs=TIME_TOL)
    assert overlaps[0].seconds == pytest.approx(1.5, abs=TIME_TOL)
    assert [round(d.duration) for d in result.call.dead_air] == [5]
    assert result.call.dead_air[0].start == pytest.approx(15.0, abs=TIME_TOL)
    assert result.call.hangup_gap == pytest.approx(0.5, abs=TIME_TOL)


def test_speech_rates_per_turn(tmp_path):
    parts = [{"role": "agent", "start": 1.0 + 9 * i, "chars": chars, "seconds": 8.0} for i, chars in enumerate((16, 32, 48))]
    path = tmp_path / "rates.wav"
    result = analysis(path, build_call(path, parts, 28.0))
    measured = [t.speech_rate for t in result.turns]
    assert measured == pytest.approx([120, 240, 360], rel=0.08)


def test_rule_metrics_feed_cs02_ob04_ob07(call):
    path, conv = call
    metrics, summary = analyze_audio(Conversation.model_validate(conv), path.parent)
    assert dict(metrics["overlap"])[3] == pytest.approx(1.5, abs=TIME_TOL)
    assert dict(metrics["overlap"])[1] == 0.0
    assert metrics["hangup_gap"][0][0] == 5
    assert dict(metrics["silence"])[4] == pytest.approx(5.0, abs=TIME_TOL)
    assert metrics["speech_rate"][0][1] == pytest.approx(54 / (14.5 / 60), rel=0.08)
    assert summary["file"] == str(path) and len(summary["turns"]) == 6


def test_pipeline_fails_cs02_and_ob07_with_evidence(call):
    path, conv = call
    result = analyze_conversation(Conversation.model_validate(conv), audio_dir=path.parent, models=False)
    findings = {f.rule: f for f in result.findings}
    assert findings["CS-02"].status == "fail" and [e.turn for e in findings["CS-02"].evidence] == [3]
    assert findings["OB-07"].status == "fail" and [e.turn for e in findings["OB-07"].evidence] == [5]
    assert result.audio["hangup_gap"] == pytest.approx(0.5, abs=TIME_TOL)


def test_polite_pause_passes_ob07_and_text_times_are_not_used(tmp_path):
    parts = [{"role": "customer", "start": 0.5, "chars": 3, "seconds": 1.0},
             {"role": "agent", "start": 2.0, "chars": 12, "seconds": 3.0}]
    path = tmp_path / "calm.wav"
    conv = build_call(path, parts, 8.0)
    conv["turns"][1]["end"] = 7.9  # a sloppy transcript end: the recording says the agent stopped at 5.0
    result = analyze_conversation(Conversation.model_validate(conv), audio_dir=tmp_path, models=False)
    assert {f.rule: f.status for f in result.findings}["OB-07"] == "pass"
    assert result.audio["hangup_gap"] == pytest.approx(3.0, abs=TIME_TOL)


def test_mono_uses_transcript_times_for_who_spoke(tmp_path):
    path = tmp_path / "mono.wav"
    conv = build_call(path, SCRIPT, DURATION, mono=True)
    del conv["meta"]["audio_channels"]
    result = analysis(path, conv)
    assert result.call.layout == "mono" and measure(read_audio(path)).hangup_gap is None
    metrics, _ = analyze_audio(Conversation.model_validate(conv), tmp_path)
    assert metrics["hangup_gap"][0][1] == pytest.approx(0.5, abs=TIME_TOL)
    assert "overlap" not in metrics  # one channel cannot show two voices: the transcript's times decide
    assert result.turns[1].speech_rate == pytest.approx(240, rel=0.08)


def test_without_turn_times_call_level_features_still_come_out(call):
    path, conv = call
    for turn in conv["turns"]:
        turn["start"] = turn["end"] = None
    metrics, summary = analyze_audio(Conversation.model_validate(conv), path.parent)
    assert summary["turns"] == "n/a"
    assert summary["overlaps"] and summary["dead_air"]
    assert set(metrics) == {"hangup_gap", "loudness", "clipping"}  # call-level: no turn times needed
    result = analyze_conversation(Conversation.model_validate(conv), audio_dir=path.parent, models=False)
    statuses = {f.rule: f.status for f in result.findings}
    assert statuses["CS-02"] == "n/a" and statuses["OB-07"] == "fail"


def test_shouting_is_a_peak_over_the_call_median(tmp_path):
    parts = [{"role": "customer", "start": 0.5, "chars": 12, "seconds": 3.0},
             {"role": "agent", "start": 4.0, "chars": 12, "seconds": 3.0},
             {"role": "customer", "start": 8.0, "chars": 12, "seconds": 3.0, "level": -6.0}]
    path = tmp_path / "loud.wav"
    result = analysis(path, build_call(path, parts, 12.0))
    assert [p.role for p in result.call.peaks] == ["customer"]
    assert result.call.peaks[0].start == pytest.approx(8.0, abs=0.5)
    assert result.turns[2].volume_rel_db > 9 > abs(result.turns[1].volume_rel_db)


def test_channel_layout_from_meta(call):
    path, conv = call
    swapped = measure(read_audio(path), {"customer": 0, "agent": 1})
    assert swapped.channel("agent").index == 1
    assert [o.by for o in swapped.overlaps] == ["customer"]
    with pytest.raises(AudioError, match="audio_channels"):
        measure(read_audio(path), ["agent", "customer", "supervisor"])


def test_other_sample_rates_are_resampled(tmp_path):
    x = np.concatenate([silence(1.0, 48000), speech(12, 3.0, 48000), silence(1.0, 48000)])
    sf.write(tmp_path / "hi.wav", x, 48000)
    recording = read_audio(tmp_path / "hi.wav")
    assert recording.sample_rate == 16000 and recording.source_rate == 48000
    (seg,) = measure(recording).channels[0].segments
    assert (seg.start, seg.end) == pytest.approx((1.0, 4.0), abs=TIME_TOL)


@pytest.mark.parametrize("fmt, subtype", [("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III"), ("FLAC", "PCM_16")])
def test_compressed_formats_are_decoded(tmp_path, fmt, subtype):
    x = np.concatenate([silence(1.0), speech(12, 3.0), silence(1.0)])
    path = tmp_path / f"call.{fmt.lower()}"
    sf.write(path, x, RATE, format=fmt, subtype=subtype)
    (seg,) = measure(read_audio(path)).channels[0].segments
    assert (seg.start, seg.end) == pytest.approx((1.0, 4.0), abs=TIME_TOL)


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = tmp_path / "good.wav"
    sf.write(good, speech(6, 2.0), RATE)
    cases = {
        "missing": (tmp_path / "nowhere.wav", "no such audio file"),
        "empty": (tmp_path / "empty.wav", "empty file"),
        "truncated header": (tmp_path / "truncated.wav", "cannot decode"),
        "wrong sample rate": (tmp_path / "slow.wav", "sample rate 4000 Hz"),
        "0-length channel": (tmp_path / "zero.wav", "0-length"),
    }
    cases["empty"][0].write_bytes(b"")
    cases["truncated header"][0].write_bytes(good.read_bytes()[:30])
    sf.write(cases["wrong sample rate"][0], speech(6, 2.0, 8000), 4000)
    sf.write(cases["0-length channel"][0], np.zeros((0, 2), dtype=np.float32), RATE)
    return cases


def test_bad_audio_names_the_file(tmp_path):
    for name, (path, reason) in _bad_files(tmp_path).items():
        with pytest.raises(AudioError) as caught:
            read_audio(path)
        assert str(path) in str(caught.value) and reason in str(caught.value), name


def test_bad_audio_keeps_the_text_analysis(tmp_path):
    for path, reason in _bad_files(tmp_path).values():
        conv = Conversation(id="x", channel="call", audio=path.name, duration=10.0,
                            turns=[{"role": "agent", "text": "您好，我是客服8号，很高兴为您服务", "start": 0.0, "end": 3.0}])
        result = analyze_conversation(conv, audio_dir=tmp_path, models=False)
        assert result.audio["file"] == str(path) and reason in result.audio["error"]
        assert {f.rule: f.status for f in result.findings}["CS-07"] == "pass"


def test_cli_analyze_finds_relative_recordings(call, tmp_path):
    path, conv = call
    (tmp_path / "calls.jsonl").write_text(json.dumps(conv, ensure_ascii=False) + "\n", encoding="utf-8")
    run = CliRunner().invoke(app, ["analyze", str(tmp_path / "calls.jsonl"), "--format", "json", "--no-store"])
    assert run.exit_code == 0, run.output
    result = json.loads(run.stdout.splitlines()[0])
    failed = {f["rule"]: f for f in result["findings"] if f["status"] == "fail"}
    assert failed["CS-02"]["evidence"][0]["turn"] == 3 and failed["OB-07"]["evidence"][0]["turn"] == 5
    assert result["audio"]["overlaps"][0]["by"] == "agent"


def test_cli_audio_prints_features(call, tmp_path):
    path, conv = call
    (tmp_path / "t.jsonl").write_text(json.dumps(conv, ensure_ascii=False) + "\n", encoding="utf-8")
    run = CliRunner().invoke(app, ["audio", str(path), "--transcript", str(tmp_path / "t.jsonl"), "--format", "json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert data["hangup_gap"] == pytest.approx(0.5, abs=TIME_TOL) and len(data["turns"]) == 6
    table = CliRunner().invoke(app, ["audio", str(path)])
    assert table.exit_code == 0 and "overlap" in table.stdout and "turns: n/a" in table.stdout
    bad = CliRunner().invoke(app, ["audio", str(tmp_path / "nowhere.wav")])
    assert bad.exit_code == 1 and "nowhere.wav" in bad.output


class _FakeStream:
    def __init__(self, recognizer):
        self.recognizer, self.result = recognizer, types.SimpleNamespace(text="")

    def accept_waveform(self, rate, samples):
        self.seconds = samples.size / rate


class _FakeRecognizer:
    """Stands in for sherpa_onnx.OfflineRecognizer: 'hears' one 好 per 0.25 s of audio."""

    built_with: dict = {}

    @classmethod
    def from_paraformer(cls, **kwargs):
        cls.built_with = kwargs
        return cls()

    def create_stream(self):
        return _FakeStream(self)

    def decode_stream(self, stream):
        stream.result.text = "好" * max(1, int(stream.seconds / 0.25))


def test_transcribe_with_a_stub_model(call, tmp_path, monkeypatch):
    path, _ = call
    model = tmp_path / "paraformer-zh"
    model.mkdir()
    (model / "tokens.txt").write_text("好 0\n", encoding="utf-8")
    (model / "model.int8.onnx").write_bytes(b"stub")
    monkeypatch.setitem(sys.modules, "sherpa_onnx", types.SimpleNamespace(OfflineRecognizer=_FakeRecognizer))
    out = tmp_path / "out" / "call.jsonl"
    out.parent.mkdir()
    run = CliRunner().invoke(app, ["transcribe", str(path), "--model-dir", str(model), "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert _FakeRecognizer.built_with["paraformer"].endswith("model.int8.onnx")
    conv = Conversation.model_validate_json(out.read_text(encoding="utf-8"))
    assert [t.role for t in conv.turns] == [p["role"] for p in sorted(SCRIPT, key=lambda p: p["start"])]
    assert [t.start for t in conv.turns] == pytest.approx([p["start"] for p in SCRIPT], abs=TIME_TOL)
    assert conv.audio == "../call.flac" and conv.duration == pytest.approx(DURATION)
    metrics, _ = analyze_audio(conv, out.parent)
    assert metrics["hangup_gap"][0][1] == pytest.approx(0.5, abs=TIME_TOL)


def test_transcribe_refuses_a_model_dir_without_tokens(call, tmp_path):
    path, _ = call
    run = CliRunner().invoke(app, ["transcribe", str(path), "--model-dir", str(tmp_path)])
    assert run.exit_code == 1 and "tokens.txt" in run.output
