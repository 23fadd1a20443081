"""Audio features measured on synthetic calls (numpy speech-like signals, see zuoxi/audio/synth.py).

Tolerances: VAD frames are 30 ms and WebRTC holds speech a frame or two past its end, so times are
checked to ±0.2 s and speech rates to ±8 %.
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from zuoxi.audio import AudioError, align, analyze_audio, measure, read_audio
from zuoxi.audio.diarize import diarize, load_diarizer
from zuoxi.audio.features import loudness
from zuoxi.audio.synth import silence, speech
from zuoxi.audio.vad import (
    FRAME,
    GO_ON_DB,
    _rest_of_voice,
    _stands_out,
    band_powers,
    copied_power,
    follows,
    noise_floor,
)
from zuoxi.cli import app
from zuoxi.model import Conversation
from zuoxi.pipeline import analyze_conversation

RATE = 8000
TIME_TOL = 0.2


def build_call(
    path: Path, parts: list[dict], duration: float, mono: bool = False, pitches: tuple[float, float] = (140, 220)
) -> dict:
    """Write a recording of `parts` (role, start, chars, seconds, level) and return its conversation;
    `pitches`: the agent's and the customer's voice (Hz)."""
    tracks = {"agent": silence(duration, seed=1), "customer": silence(duration, seed=2)}
    turns = []
    for i, p in enumerate(parts):
        words = speech(
            p["chars"], p["seconds"], RATE, pitch=pitches[p["role"] != "agent"], level_db=p.get("level", -20.0), seed=i
        )
        start = int(p["start"] * RATE)
        tracks[p["role"]][start : start + words.size] += words
        turns.append(
            {"role": p["role"], "text": "好" * p["chars"], "start": p["start"], "end": p["start"] + p["seconds"]}
        )
    data = tracks["agent"] + tracks["customer"] if mono else np.stack([tracks["agent"], tracks["customer"]], axis=1)
    sf.write(path, data, RATE)
    return {
        "id": path.stem,
        "channel": "call",
        "duration": None,
        "audio": path.name,
        "meta": {"audio_channels": ["agent", "customer"], "scorecard": "outbound"},
        "turns": turns,
    }


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


def test_a_cut_in_during_a_breath_is_the_cut_in_not_the_breather_interrupting_back():
    from zuoxi.audio.features import timeline
    from zuoxi.audio.vad import Segment

    # the agent draws a 0.4 s breath mid-sentence (5.0–5.4 s, or a babble hid its quiet syllable); the
    # customer starts in it and talks on while the agent finishes the sentence
    found = timeline(
        {"agent": [Segment(0.0, 5.0), Segment(5.4, 8.0)], "customer": [Segment(5.1, 9.0)]},
        10.0,
    )
    assert [(o.by, o.over, o.start) for o in found["overlaps"]] == [("customer", "agent", 5.1)]
    assert found["overlaps"][0].seconds == pytest.approx(2.9)
    # a pause as long as a turn's end is the floor given up: starting there is no cut-in
    later = timeline({"agent": [Segment(0.0, 5.0), Segment(5.8, 8.0)], "customer": [Segment(5.1, 9.0)]}, 10.0)
    assert [(o.by, o.start) for o in later["overlaps"]] == [("agent", 5.8)]


def test_a_back_channel_inside_the_other_partys_turn_is_listening_not_an_interruption():
    from zuoxi.audio.features import timeline
    from zuoxi.audio.vad import Segment

    def overlaps(customer: list[Segment]) -> list[tuple[str, float]]:
        found = timeline({"agent": [Segment(0.0, 8.0)], "customer": customer}, 10.0)["overlaps"]
        return [(o.by, o.seconds) for o in found]

    assert overlaps([Segment(3.0, 3.3)]) == []  # "嗯" while the agent talks on
    said = [Segment(3.0, 3.3), Segment(3.6, 4.0)]  # "等一下，我说": one turn of a second
    assert overlaps(said) == [("customer", 1.0)]
    assert overlaps([Segment(7.7, 8.1)]) == [("customer", pytest.approx(0.3))]  # short, but it takes the floor


def test_the_reply_after_a_cut_in_is_timed_from_the_customers_end_not_hidden_by_the_agents_trailing_words():
    from zuoxi.audio.features import timeline
    from zuoxi.audio.vad import Segment

    # the customer cuts in at 24.4 s; the agent trails off (a fragment 24.9–26.0 s, its breath before it lost under
    # a babble) while the customer talks on to 28.0 s; the agent replies at 28.5 s
    found = timeline(
        {
            "agent": [Segment(16.4, 24.6), Segment(24.9, 26.0), Segment(28.5, 39.0)],
            "customer": [Segment(24.4, 28.0)],
        },
        40.0,
    )
    assert [(round(s.start, 2), round(s.end, 2)) for s in found["latencies"]] == [(28.0, 28.5)]
    # an agent already speaking when the customer stops is no reply after a silence
    talking_over = timeline({"agent": [Segment(26.0, 29.0)], "customer": [Segment(24.4, 28.0)]}, 30.0)
    assert talking_over["latencies"] == []


def test_speech_rates_per_turn(tmp_path):
    parts = [
        {"role": "agent", "start": 1.0 + 9 * i, "chars": chars, "seconds": 8.0} for i, chars in enumerate((16, 32, 48))
    ]
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


def test_a_recording_named_by_the_callers_number_is_read_but_named_masked(tmp_path):
    """Recordings are often named by the caller's number: the call is measured from the real file, and the
    result (and so the store and every report) names it masked."""
    path = tmp_path / "rec-13812345678.flac"
    conv = build_call(path, SCRIPT, DURATION)
    result = analyze_conversation(Conversation.model_validate(conv), audio_dir=tmp_path, models=False)
    assert "error" not in result.audio and result.audio["hangup_gap"] == pytest.approx(0.5, abs=TIME_TOL)
    assert result.audio["file"] == str(tmp_path / "rec-*******5678.flac")
    assert "13812345678" not in result.model_dump_json()


def test_polite_pause_passes_ob07_and_text_times_are_not_used(tmp_path):
    parts = [
        {"role": "customer", "start": 0.5, "chars": 3, "seconds": 1.0},
        {"role": "agent", "start": 2.0, "chars": 12, "seconds": 3.0},
    ]
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
    parts = [
        {"role": "customer", "start": 0.5, "chars": 12, "seconds": 3.0},
        {"role": "agent", "start": 4.0, "chars": 12, "seconds": 3.0},
        {"role": "customer", "start": 8.0, "chars": 12, "seconds": 3.0, "level": -6.0},
    ]
    path = tmp_path / "loud.wav"
    result = analysis(path, build_call(path, parts, 12.0))
    assert [p.role for p in result.call.peaks] == ["customer"]
    assert result.call.peaks[0].start == pytest.approx(8.0, abs=0.5)
    assert result.turns[2].volume_rel_db > 9 > abs(result.turns[1].volume_rel_db)


def test_channel_layout_from_meta(call):
    path, _ = call
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
        "missing": (tmp_path / "nowhere.wav", "录音文件不存在"),
        "empty": (tmp_path / "empty.wav", "空文件"),
        "truncated header": (tmp_path / "truncated.wav", "无法解码音频"),
        "wrong sample rate": (tmp_path / "slow.wav", "采样率 4000 Hz 太低"),
        "0-length channel": (tmp_path / "zero.wav", "声道长度为 0"),
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
        conv = Conversation(
            id="x",
            channel="call",
            audio=path.name,
            duration=10.0,
            turns=[{"role": "agent", "text": "您好，我是客服8号，很高兴为您服务", "start": 0.0, "end": 3.0}],
        )
        result = analyze_conversation(conv, audio_dir=tmp_path, models=False)
        assert result.audio["file"] == str(path) and reason in result.audio["error"]
        assert {f.rule: f.status for f in result.findings}["CS-07"] == "pass"


def test_cli_analyze_finds_relative_recordings(call, tmp_path):
    _, conv = call
    (tmp_path / "calls.jsonl").write_text(json.dumps(conv, ensure_ascii=False) + "\n", encoding="utf-8")
    run = CliRunner().invoke(app, ["analyze", str(tmp_path / "calls.jsonl"), "--format", "json", "--no-store"])
    assert run.exit_code == 0, run.output
    result = json.loads(run.stdout.splitlines()[0])
    failed = {f["rule"]: f for f in result["findings"] if f["status"] == "fail"}
    assert failed["CS-02"]["evidence"][0]["turn"] == 3 and failed["OB-07"]["evidence"][0]["turn"] == 5
    assert result["audio"]["overlaps"][0]["by"] == "agent"
    assert result["audio"]["file"] == "call.flac"  # named from the input root, wherever zuoxi runs


def test_cli_audio_prints_features(call, tmp_path):
    path, conv = call
    (tmp_path / "t.jsonl").write_text(json.dumps(conv, ensure_ascii=False) + "\n", encoding="utf-8")
    run = CliRunner().invoke(app, ["audio", str(path), "--transcript", str(tmp_path / "t.jsonl"), "--format", "json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert data["hangup_gap"] == pytest.approx(0.5, abs=TIME_TOL) and len(data["turns"]) == 6
    table = CliRunner().invoke(app, ["audio", str(path)])
    assert table.exit_code == 0 and "抢话" in table.stdout and "各句：无" in table.stdout
    bad = CliRunner().invoke(app, ["audio", str(tmp_path / "nowhere.wav")])
    assert bad.exit_code == 1 and "nowhere.wav" in bad.output


class _FakeStream:
    def __init__(self, recognizer):
        self.recognizer, self.result = recognizer, types.SimpleNamespace(text="")

    def accept_waveform(self, rate, samples):
        self.seconds = samples.size / rate


class _FakeRecognizer:
    """Stands in for sherpa_onnx.OfflineRecognizer: 'hears' one 好 per 0.25 s of audio."""

    built_with: ClassVar[dict] = {}

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


def test_transcribe_says_what_is_wrong_with_the_recording_then_the_model(call, tmp_path):
    """A file that is no recording is said before the models load (seconds); model files that are no model are one
    line naming the folder, not onnxruntime's traceback."""
    pytest.importorskip("sherpa_onnx")
    path, _ = call
    model = tmp_path / "paraformer-zh"
    model.mkdir()
    (model / "tokens.txt").write_text("好 0\n", encoding="utf-8")
    (model / "model.int8.onnx").write_bytes(b"junk, not a model")
    text = tmp_path / "notes.wav"
    text.write_text("not audio", encoding="utf-8")
    bad_audio = CliRunner().invoke(app, ["transcribe", str(text), "--model-dir", str(model)])
    assert bad_audio.exit_code == 1 and str(text) in bad_audio.output and "model" not in bad_audio.output
    bad_model = CliRunner().invoke(app, ["transcribe", str(path), "--model-dir", str(model)])
    assert bad_model.exit_code == 1 and f"{model}: 无法加载 paraformer 模型" in bad_model.output
    assert bad_model.exception is None or isinstance(bad_model.exception, SystemExit)


def test_a_recording_too_short_or_too_long_is_refused_by_what_it_holds(tmp_path, monkeypatch):
    """Under half a second there is nothing to measure (0.1 s failed inside the analysis with a numpy broadcast
    error); a stream holding more hours than a call is refused as it is decoded, before memory fills (a 3 MB
    FLAC of 23 h of silence took 10 GB), even where its header does not say how long it is (Ogg)."""
    from zuoxi.audio import io as audio_io

    short = tmp_path / "short.wav"
    sf.write(short, np.zeros((800, 2), dtype=np.float32), 8000)
    with pytest.raises(AudioError, match=r"short.wav: 太短，无法测量：只有 0.10 s 音频（至少要 0.5 s）"):
        read_audio(short)
    long = tmp_path / "long.ogg"
    sf.write(long, np.zeros((8000 * 30, 1), dtype=np.float32), 8000)
    assert read_audio(long).duration == pytest.approx(30, abs=0.1)
    monkeypatch.setattr(audio_io, "MAX_HOURS", 20 / 3600)  # 20 seconds
    with pytest.raises(AudioError, match=r"long.ogg: 文件头声称有 0.0 小时音频（最多"):
        read_audio(long)
    monkeypatch.setattr(audio_io, "_check_header", lambda path, info: None)  # a header that says nothing of its length
    with pytest.raises(AudioError, match=r"long.ogg: 音频超过 .* 小时：不是通话录音"):
        read_audio(long)


def test_a_channel_no_party_is_read_from_is_warned_of(tmp_path):
    """A 3-channel recording was measured as agent and customer on channels 0 and 1 and channel 2 silently left out
    (it may hold a party's voice); the layout that names it reads it, with no warning."""
    path = tmp_path / "three.wav"
    sf.write(path, np.zeros((8000 * 2, 3), dtype=np.float32), 8000)
    warned = measure(read_audio(path)).warnings
    assert warned == [
        f"{path}: 有 3 个声道；声道 2（从 0 数起）没有当作任何一方来分析：请用 meta.audio_channels 说明各声道是谁"
    ]
    assert measure(read_audio(path), {"agent": 2, "customer": 0}).warnings == [
        f"{path}: 有 3 个声道；声道 1（从 0 数起）没有当作任何一方来分析：请用 meta.audio_channels 说明各声道是谁"
    ]
    stereo = tmp_path / "two.wav"
    sf.write(stereo, np.zeros((8000 * 2, 2), dtype=np.float32), 8000)
    assert measure(read_audio(stereo)).warnings == []


# --- noise, echo, hang-up, loudness, clipping (issue 21) ---


def _noise(kind: str, n: int, level_db: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    if kind == "pink":
        spectrum = np.fft.rfft(x)
        spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
        x = np.fft.irfft(spectrum, n)
    return (x * 10 ** (level_db / 20) / np.sqrt(np.mean(x**2))).astype(np.float32)


def _rewrite(path: Path, change) -> None:
    """Read a stereo WAV, let `change(agent, customer)` alter the tracks in place, write it back."""
    data, rate = sf.read(path, dtype="float32")
    change(data[:, 0], data[:, 1])
    sf.write(path, np.clip(data, -1, 1), rate)


@pytest.mark.parametrize("kind", ["white", "pink"])
def test_street_noise_at_minus_25_dbfs_invents_nothing(call, kind):
    """WebRTC alone calls nearly all of this speech (the issue: 24 invented overlaps, hang-up gap 0.02 s)."""
    path, conv = call
    n = sf.info(path).frames
    _rewrite(
        path,
        lambda agent, customer: (agent.__iadd__(_noise(kind, n, -25, 1)), customer.__iadd__(_noise(kind, n, -25, 2))),
    )
    result = analysis(path, conv)
    assert [(o.by, round(o.start)) for o in result.call.overlaps] == [("agent", 9)]
    assert result.call.overlaps[0].seconds == pytest.approx(1.5, abs=TIME_TOL)
    assert [round(d.duration) for d in result.call.dead_air] == [5]
    assert result.call.hangup_gap == pytest.approx(0.5, abs=TIME_TOL)
    assert result.call.channel("customer").speech_seconds == pytest.approx(4.5, abs=0.5)


def _babble(n: int, level_db: float, seed: int) -> np.ndarray:
    """Six other voices talking at once (synthetic speech at random pitches), `level_db` dBFS RMS."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for _ in range(6):
        voice = np.concatenate(
            [
                speech(
                    int(rng.integers(8, 20)),
                    float(rng.uniform(2, 5)),
                    RATE,
                    pitch=float(rng.uniform(100, 260)),
                    seed=int(rng.integers(1 << 30)),
                )
                for _ in range(12)
            ]
        )
        voice = np.tile(voice, n // voice.size + 2)
        start = int(rng.integers(0, voice.size - n))
        x += voice[start : start + n]
    return (x * 10 ** (level_db / 20) / np.sqrt(np.mean(x**2))).astype(np.float32)


def test_a_babble_of_voices_is_not_the_customer_and_a_quiet_ending_is_kept(tmp_path):
    """Babble at −30 dBFS whose bursts swell 3 dB for a second while the agent talks (a level
    threshold took the one at 12 s for the customer cutting in), and an agent whose last words
    drop 8 dB into the babble: the call still ends 0.5 s after them."""
    parts = SCRIPT[:-1] + [
        {"role": "agent", "start": 22.0, "chars": 4, "seconds": 1.0},
        {"role": "agent", "start": 23.0, "chars": 6, "seconds": 1.5, "level": -28.0},
    ]
    path = tmp_path / "babble.wav"
    conv = build_call(path, parts, DURATION)
    n = sf.info(path).frames

    def crowd(agent, customer):
        agent += _babble(n, -30, 1)
        behind = _babble(n, -30, 2)
        for second in (3, 6, 12):
            behind[second * RATE : (second + 1) * RATE] *= 1.4
        customer += behind

    _rewrite(path, crowd)
    result = analysis(path, conv)
    assert [(o.by, round(o.start)) for o in result.call.overlaps] == [("agent", 9)]
    assert [round(d.duration) for d in result.call.dead_air] == [5]
    assert result.call.hangup_gap == pytest.approx(0.5, abs=TIME_TOL)


def test_a_reply_whose_last_words_sink_into_a_babble_at_minus_25_dbfs_ends_where_they_do(tmp_path):
    """Babble at −25 dBFS, 5 dB under the speech, and a customer whose last second drops to 1 dB
    over it: the threshold loses that second (the latency read 0.5 s long), the band-mean SNR
    summed from the stretch's end carries it on to its last words and no further."""
    parts = [
        {"role": "customer", "start": 0.5, "chars": 3, "seconds": 1.0},
        {"role": "agent", "start": 2.0, "chars": 22, "seconds": 5.5},
        {"role": "customer", "start": 8.5, "chars": 8, "seconds": 2.0},
        {"role": "customer", "start": 10.5, "chars": 4, "seconds": 1.0, "level": -24.0},  # ends 11.5
        {"role": "agent", "start": 12.5, "chars": 10, "seconds": 2.5},  # ends 15.0
    ]
    path = tmp_path / "babble25.wav"
    conv = build_call(path, parts, 15.5)
    n = sf.info(path).frames

    def crowd(agent, customer):
        agent += _babble(n, -25, 3)
        customer += _babble(n, -25, 4)

    _rewrite(path, crowd)
    result = analysis(path, conv)
    reply = [span for span in result.call.latencies if span.end > 12]
    assert [(span.start, span.end) for span in reply] == [
        (pytest.approx(11.5, abs=TIME_TOL), pytest.approx(12.5, abs=TIME_TOL))
    ]
    assert result.call.overlaps == []
    assert result.call.hangup_gap == pytest.approx(0.5, abs=TIME_TOL)


def test_a_babble_swelling_for_seconds_with_nobody_speaking_is_not_the_party(tmp_path):
    """The agent's line holds a babble at −35 dBFS that swells 5 dB for 5 s (6–11 s) while only the
    customer talks: 4–5 dB over the babble's typical score, past the babble threshold, it was read
    as the agent cutting in for 5 s. The agent's own voice is 9–12 dB louder than that swell, and
    a stretch only a few dB over the babble counts only near the party's talker level."""
    parts = [
        {"role": "customer", "start": 0.5, "chars": 3, "seconds": 1.0},
        {"role": "agent", "start": 2.0, "chars": 8, "seconds": 2.0},
        {"role": "customer", "start": 5.0, "chars": 28, "seconds": 7.0},  # 5–12
        {"role": "agent", "start": 13.0, "chars": 10, "seconds": 2.5},
    ]
    path = tmp_path / "swell.wav"
    conv = build_call(path, parts, 16.0)
    n = sf.info(path).frames

    def crowd(agent, customer):
        behind = _babble(n, -35, 5)
        behind[6 * RATE : 11 * RATE] *= 10 ** (5 / 20)
        agent += behind
        customer += _babble(n, -35, 6)

    _rewrite(path, crowd)
    result = analysis(path, conv)
    assert result.call.overlaps == []
    spans = result.call.channel("agent").segments
    assert [(round(s.start), round(s.end)) for s in spans] == [(2, 4), (13, 16)]


def test_a_quiet_reply_on_a_quiet_line_is_still_the_party(tmp_path):
    """The talker level binds only stretches a few dB over a babble: a customer who answers 14 dB
    under their own usual level, on a line with a faint hiss, is still heard."""
    parts = SCRIPT[:4] + [{"role": "customer", "start": 20.0, "chars": 4, "seconds": 1.5, "level": -34.0}, SCRIPT[5]]
    path = tmp_path / "quiet.wav"
    conv = build_call(path, parts, DURATION)
    n = sf.info(path).frames
    _rewrite(path, lambda agent, customer: customer.__iadd__(_noise("white", n, -55, 7)))
    result = analysis(path, conv)
    spans = result.call.channel("customer").segments
    assert [(round(s.start), round(s.end)) for s in spans][-1] == (20, pytest.approx(21.5, abs=0.5))
    assert [round(d.duration) for d in result.call.dead_air] == [5]


def test_the_rest_of_a_voice_just_under_the_carry_on_mark_ends_where_the_babble_drops():
    """The CUSUM's score (band-mean SNR less the noise's typical and the 2 dB mark) of a sentence's
    last 1.35 s under a babble: it wanders around the mark (its sum peaks after 0.09 s), then the
    babble alone, 4 dB lower. The rest of the voice ends at the drop; a babble that does not drop
    after it, or drops from under the noise's typical, carries nothing on."""
    rng = np.random.default_rng(0)
    tail = rng.normal(0.0, 1.2, 45)
    tail[3:] -= tail[3:].mean()  # the sum peaks early: the CUSUM alone ends after a few frames
    after = rng.normal(-4.2, 1.2, 60)
    score = np.concatenate((tail, after)).astype(np.float32)
    assert _rest_of_voice(score, 0, 100, score.size) == 45
    flat = np.concatenate((tail, rng.normal(-1.0, 1.2, 60))).astype(np.float32)
    assert _rest_of_voice(flat, 0, 100, flat.size) == 0
    low = score - GO_ON_DB  # a "voice" at the noise's typical score: no more than the babble swelling
    assert _rest_of_voice(low, 0, 100, low.size) == 0
    assert _rest_of_voice(score, 0, 100, 50) == 0  # the next stretch 5 frames after it: nothing to compare with


def test_echo_of_the_agent_is_not_the_customer_speaking(call):
    """The agent leaking into the customer channel at −15 dB, 40 ms late: no customer speech, no
    'customer interrupted agent' (the issue: 5.6 s and 8.0 s invented overlaps)."""
    path, conv = call
    lag = int(0.04 * RATE)

    def leak(agent, customer):
        customer[lag:] += agent[:-lag] * 10 ** (-15 / 20)

    _rewrite(path, leak)
    result = analysis(path, conv)
    assert [o.by for o in result.call.overlaps] == ["agent"]
    assert result.call.channel("customer").speech_seconds == pytest.approx(4.5, abs=0.5)


def test_an_echo_under_street_noise_is_not_the_customer_speaking(call):
    """An echo at −20 dB under pink noise at −30 dBFS barely lifts the customer channel's level, so
    a level test missed it and its louder syllables read as the customer cutting in; the
    channel's level changes still follow the agent's 40 ms late."""
    path, conv = call
    n, lag = sf.info(path).frames, int(0.04 * RATE)

    def leak(agent, customer):
        customer[lag:] += agent[:-lag] * 10 ** (-20 / 20)
        agent += _noise("pink", n, -30, 1)
        customer += _noise("pink", n, -30, 2)

    _rewrite(path, leak)
    result = analysis(path, conv)
    assert [(o.by, round(o.start)) for o in result.call.overlaps] == [("agent", 9)]
    assert result.call.channel("customer").speech_seconds == pytest.approx(4.5, abs=0.5)


def test_the_echo_model_finds_an_echo_under_street_noise_and_nothing_without(call):
    """At −20 dB under pink noise at −30 dBFS an echo lifts the customer channel's median level by
    under 1 dB (the earlier test for a copy missed it); its level changes follow the agent's 40 ms
    (one frame) late, and the predicted copy is the echo's power within a few dB."""
    path, _ = call
    data, _ = sf.read(path, dtype="float32")
    agent, customer = data[:, 0], data[:, 1]
    n, lag = agent.size, int(0.04 * RATE)
    echo = np.concatenate([np.zeros(lag, dtype=np.float32), agent[:-lag] * 10 ** (-20 / 20)])
    noisy_agent = agent + _noise("pink", n, -30, 1)
    with_echo, without = (band_powers(customer + extra + _noise("pink", n, -30, 2), RATE) for extra in (echo, 0))
    source = band_powers(noisy_agent, RATE)

    def copied(into, other):
        (forward, frames), (backward, _) = follows(other, into), follows(into, other)
        return copied_power(other, into, forward, frames, backward.max()), forward

    leak, correlation = copied(with_echo, source)
    assert int(np.argmax(correlation)) == 1
    truth = band_powers(echo, RATE).sum(axis=1)
    loud = truth > np.percentile(truth, 70)
    assert np.median(10 * np.log10(leak.sum(axis=1)[loud] / truth[loud])) == pytest.approx(0, abs=4)
    assert not copied(source, with_echo)[0].any()  # the agent holds no copy of the customer channel
    assert not copied(without, source)[0].any() and not copied(source, without)[0].any()
    # given the agent's speech mask, only its speech (± a few frames) is copied, with the same gain
    (forward, frames), (backward, _) = follows(source, with_echo), follows(with_echo, source)
    speaking = np.zeros(source.shape[0], dtype=bool)
    speaking[: source.shape[0] // 2] = True
    gated = copied_power(source, with_echo, forward, frames, backward.max(), speaking)
    assert np.allclose(gated[: source.shape[0] // 2], leak[: source.shape[0] // 2])
    assert not gated[source.shape[0] // 2 + 10 :].any()


def test_an_echo_frame_under_guessed_next_to_a_cut_in_does_not_start_it_early():
    """The predicted echo is a rough guess frame by frame: one frame of the agent's echo 9 dB over
    it, 0.15 s before the customer cuts in, started the cut-in 0.21 s early (seed 22 of the audio
    bench, a clean line with the echo at −20 dB and 40 ms). Edges are placed with more room for the
    echo than the 0.45 s decision, so the cut-in starts where the customer does."""
    rng = np.random.default_rng(0)
    n, bands = 600, 16
    floor = np.ones((n, bands))
    power = floor * rng.lognormal(0, 0.3, (n, bands))
    leak = np.zeros((n, bands))
    leak[150:450] = 100.0  # the agent speaking: the echo predicted from it, 20 dB over the floor
    power[150:450] += 50.0 * rng.lognormal(0, 0.5, (300, bands))  # the echo as it came, mostly under the guess
    power[295] += 800.0  # … and one frame of it 9 dB over the guess
    power[300:360] += 1e4  # the customer cuts in at frame 300 (9.0 s)
    mask = _stands_out(power, floor, leak)
    assert 297 <= np.flatnonzero(mask[250:])[0] + 250 <= 300
    assert not mask[380:450].any()  # the echo alone, after the customer stops, is not the customer


def test_a_faded_last_frame_is_not_the_noise_floor():
    """An MP3's last frame fades out; padded into the last noise block it lowered the floor of the
    call's last ~6 s by as much, and the noise there read as speech."""
    power = np.ones((1000, 16), dtype=np.float32)
    power[-1] = 0.01
    assert np.allclose(noise_floor(power)[:-1], 1.0)


def test_customer_talking_over_an_echo_is_still_heard(tmp_path):
    parts = [
        {"role": "agent", "start": 1.0, "chars": 24, "seconds": 6.0},
        {"role": "customer", "start": 4.0, "chars": 8, "seconds": 2.0},
    ]
    path = tmp_path / "double.wav"
    conv = build_call(path, parts, 9.0)
    lag = int(0.04 * RATE)
    _rewrite(path, lambda agent, customer: customer.__setitem__(slice(lag, None), customer[lag:] + agent[:-lag] * 0.18))
    (overlap,) = analysis(path, conv).call.overlaps
    assert (overlap.by, overlap.start, overlap.seconds) == (
        "customer",
        pytest.approx(4.0, abs=TIME_TOL),
        pytest.approx(2.0, abs=TIME_TOL),
    )


def test_hangup_right_after_the_customer_fails_ob07(tmp_path):
    """The agent says goodbye, the customer answers, the line drops 0.3 s later: the agent's own gap is
    2.3 s, but the call's last words were the customer's."""
    parts = [
        {"role": "agent", "start": 0.5, "chars": 12, "seconds": 3.0},
        {"role": "customer", "start": 4.0, "chars": 8, "seconds": 2.0},
        {"role": "agent", "start": 6.5, "chars": 6, "seconds": 1.5},  # 再见 … ends at 8.0
        {"role": "customer", "start": 8.5, "chars": 2, "seconds": 1.5},
    ]  # 好，再见 … ends at 10.0
    path = tmp_path / "bye.wav"
    conv = build_call(path, parts, 10.3)
    result = analyze_conversation(Conversation.model_validate(conv), audio_dir=tmp_path, models=False)
    assert result.audio["last_speaker"] == "customer"
    assert result.audio["hangup_gaps"]["agent"] == pytest.approx(2.3, abs=TIME_TOL)
    assert result.audio["hangup_gaps"]["customer"] == pytest.approx(0.3, abs=TIME_TOL)
    assert result.audio["hangup_gap"] == result.audio["hangup_gaps"]["customer"]
    ob07 = {f.rule: f for f in result.findings}["OB-07"]
    assert ob07.status == "fail" and [e.turn for e in ob07.evidence] == [2]


def test_mono_hangup_per_party_from_the_transcript(tmp_path):
    parts = [
        {"role": "agent", "start": 0.5, "chars": 12, "seconds": 3.0},
        {"role": "customer", "start": 4.0, "chars": 4, "seconds": 1.5},
    ]
    path = tmp_path / "mono.wav"
    conv = build_call(path, parts, 8.0, mono=True)
    del conv["meta"]["audio_channels"]
    call = analysis(path, conv).call
    assert call.last_speaker == "customer"
    assert call.hangup_gaps == pytest.approx({"agent": 4.5, "customer": 2.5}, abs=TIME_TOL)


def test_loudness_peak_and_clipping_per_party(tmp_path):
    parts = [
        {"role": "agent", "start": 0.5, "chars": 12, "seconds": 3.0, "level": -8.0},
        {"role": "customer", "start": 4.0, "chars": 12, "seconds": 3.0, "level": -26.0},
    ]
    path = tmp_path / "loud.wav"
    conv = build_call(path, parts, 8.0)
    _rewrite(path, lambda agent, customer: agent.__imul__(4.0))  # +12 dB: −8 → −2 dBFS, the tops clipped at write
    call = analysis(path, conv).call
    agent, customer = call.channel("agent"), call.channel("customer")
    assert agent.peak_dbfs == pytest.approx(0.0, abs=0.1) and agent.clipped > 0.2
    assert customer.clipped == 0.0 and customer.peak_dbfs < -6
    assert agent.loudness_lufs > -6 and customer.loudness_lufs == pytest.approx(-26, abs=3)
    result = analyze_conversation(Conversation.model_validate(conv), audio_dir=tmp_path, models=False)
    assert {f.rule: f.status for f in result.findings}["OB-04"] == "fail"
    assert result.audio["clipped"]["agent"] > 0.2 and result.audio["loudness_lufs"]["customer"] < -20


@pytest.mark.parametrize("rate", [8000, 16000])
def test_loudness_of_the_standard_sine(rate):
    """BS.1770: a 997 Hz sine of peak −20 dBFS reads −23.01 LUFS (−3.01 at full scale); 100 Hz is
    weighted down (the RLB high-pass and the shelf), 3 kHz up."""
    t = np.arange(rate * 3) / rate
    frames = np.ones(int(3 / FRAME), dtype=bool)
    assert loudness(np.sin(2 * np.pi * 997 * t) * 0.1, rate, frames) == pytest.approx(-23.0, abs=0.1)
    assert loudness(np.sin(2 * np.pi * 100 * t) * 0.1, rate, frames) < -23.5
    assert loudness(np.sin(2 * np.pi * 3000 * t) * 0.1, rate, frames) > -21


def test_a_quiet_moderate_call_passes_ob04(call):
    path, conv = call
    result = analyze_conversation(Conversation.model_validate(conv), audio_dir=path.parent, models=False)
    assert {f.rule: f.status for f in result.findings}["OB-04"] == "pass"
    assert -24 < result.audio["loudness_lufs"]["agent"] < -16 and result.audio["clipped"]["agent"] == 0.0


# --- bad files ---


def _wav_with_rate(path: Path, rate: int) -> Path:
    sf.write(path, np.concatenate([silence(1.0), speech(6, 2.0), silence(1.0)]), RATE, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    raw[24:28] = rate.to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    return path


def test_absurd_headers_are_refused_naming_the_file(tmp_path):
    huge = _wav_with_rate(tmp_path / "huge.wav", 2_000_000_000)
    with pytest.raises(AudioError, match=r"huge\.wav: 文件头声称采样率为 2,000,000,000 Hz"):
        read_audio(huge)
    many = _wav_with_rate(tmp_path / "many.wav", RATE)
    raw = bytearray(many.read_bytes())
    raw[22:24] = (200).to_bytes(2, "little")
    many.write_bytes(bytes(raw))
    with pytest.raises(AudioError) as caught:
        read_audio(many)
    assert str(caught.value).startswith(str(many))


def test_a_wav_cut_mid_data_is_analysed_with_a_warning(tmp_path):
    path = tmp_path / "cut.wav"
    sf.write(path, np.concatenate([silence(1.0), speech(12, 3.0), silence(6.0)]), RATE, subtype="PCM_16")
    raw = path.read_bytes()
    path.write_bytes(raw[: 44 + 2 * 6 * RATE])  # 6 of 10 s
    recording = read_audio(path)
    assert recording.duration == pytest.approx(6.0, abs=0.01)
    (warning,) = recording.warnings
    assert warning == f"{path}: 文件不完整：文件头声明的 10.00 s 中缺了 4.00 s；分析了现有的 6.00 s"
    conv = Conversation(id="c", channel="call", audio=path.name, turns=[{"role": "agent", "text": "您好"}])
    result = analyze_conversation(conv, audio_dir=tmp_path, models=False)
    assert "error" not in result.audio and result.audio["warnings"] == [warning]
    assert result.audio["speech_seconds"]["mixed"] == pytest.approx(3.0, abs=TIME_TOL)


def test_a_flac_whose_decoder_stops_keeps_what_came_before(tmp_path):
    path = tmp_path / "cut.flac"
    sf.write(path, np.concatenate([speech(40, 10.0), silence(2.0), speech(40, 10.0)]), RATE)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) * 2 // 3])
    recording = read_audio(path)
    (warning,) = recording.warnings
    assert warning.startswith(f"{path}: 解码在 ")
    assert re.search(r" s 处失败（.+）：文件头声明的 22\.00 s 中缺了 \d+\.\d\d s；只分析到这里$", warning)
    assert 10.0 < recording.duration < 22.0


def _untagged_mp3(path: Path, x: np.ndarray) -> Path:
    """`x` as libsndfile writes an MP3 (VBR: it ignores the bitrate mode asked), the first frame —
    the Xing/LAME tag — cut off, as some recorders and cutters leave it."""
    sf.write(path, x, RATE, format="MP3")
    raw = path.read_bytes()
    path.write_bytes(raw[_first_frame_length(raw) :])
    return path


@pytest.mark.parametrize("tagged", [True, False])
def test_mp3_encoder_delay_is_removed(tmp_path, tagged):
    """An MP3 starts 1,105 samples late (0.14 s at 8 kHz): removed by libsndfile where the LAME tag
    says so, else by mpg123 (529) and zuoxi (576)."""
    x = np.zeros(3 * RATE, dtype=np.float32)
    x[RATE // 2] = 0.9
    path = tmp_path / "click.mp3"
    if tagged:
        sf.write(path, x, RATE, format="MP3")
    else:
        _untagged_mp3(path, x)
    recording = read_audio(path)
    assert np.argmax(np.abs(recording.channels[0])) / RATE == pytest.approx(0.5, abs=0.002)


def test_an_untagged_vbr_mp3_is_decoded_to_its_end(tmp_path):
    """Without the tag libsndfile took the length from the first frame's bitrate: 60 s read as ~14 s."""
    x = np.concatenate([silence(1.0), speech(40, 10.0), silence(44.0), speech(16, 4.0), silence(1.0)])
    recording = read_audio(_untagged_mp3(tmp_path / "call.mp3", x))
    assert recording.duration == pytest.approx(60.0, abs=0.1) and not recording.warnings
    first, last = measure(recording).channels[0].segments
    assert (first.start, first.end, last.start, last.end) == pytest.approx((1.0, 11.0, 55.0, 59.0), abs=TIME_TOL)


def test_an_mp3_decodes_the_same_block_by_block(tmp_path):
    """soundfile seeks after every read and libsndfile's MP3 decoder then lost its bit reservoir:
    a burst of garbage every 2 s. A 450 Hz ringback tone is encoded with the reservoir in use."""
    x = 0.1 * np.sin(2 * np.pi * 450 * np.arange(20 * RATE) / RATE)
    path = tmp_path / "speech.mp3"
    sf.write(path, x, RATE, format="MP3")
    whole, _ = sf.read(path, dtype="float32")
    assert np.abs(read_audio(path).channels[0] - whole).max() < 1e-6


def test_an_mp3_with_junk_after_its_frames_is_analysed_up_to_there(tmp_path):
    path = _untagged_mp3(tmp_path / "junk.mp3", np.concatenate([speech(40, 10.0), silence(10.0)]))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] + bytes(3000) + raw[len(raw) // 2 :])
    recording = read_audio(path)
    (warning,) = recording.warnings
    assert re.fullmatch(
        rf"{re.escape(str(path))}: (\d+\.\d\d) s 之后的 [\d,]+ 字节不是 MPEG 音频帧；只分析到这里",
        warning,
    )
    assert 5.0 < recording.duration < 15.0


def _first_frame_length(raw: bytes) -> int:
    """Bytes of the first MPEG-2.5 layer III frame (the Xing/LAME tag frame at 8 kHz)."""
    bitrate = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)[raw[2] >> 4]
    return 72 * bitrate * 1000 // RATE + ((raw[2] >> 1) & 1)


def test_an_unforeseen_failure_is_an_audio_error_naming_the_file(call, monkeypatch):
    path, conv = call
    monkeypatch.setattr(
        sys.modules["zuoxi.audio.align"], "measure", lambda *a: (_ for _ in ()).throw(IndexError("boom"))
    )
    metrics, summary = analyze_audio(Conversation.model_validate(conv), path.parent)
    assert metrics is None and summary["error"] == f"{path}: 录音分析失败（IndexError: boom）"


def test_a_batch_keeps_every_call_when_the_first_names_an_absurd_file(call, tmp_path):
    """The issue: `zuoxi analyze` exited with no output when the first call named such a file."""
    _, conv = call
    _wav_with_rate(tmp_path / "huge.wav", 2_000_000_000)
    bad = {**conv, "id": "bad", "audio": "huge.wav"}
    (tmp_path / "calls.jsonl").write_text(
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in (bad, conv)), encoding="utf-8"
    )
    run = CliRunner().invoke(
        app, ["analyze", str(tmp_path / "calls.jsonl"), "--format", "json", "--no-store", "--no-models"]
    )
    assert run.exit_code == 0, run.output
    first, second = (json.loads(line) for line in run.stdout.splitlines())
    # named from the input root (the input file's folder here), as every batch engine names recordings
    assert first["audio"]["error"].startswith("huge.wav: ") and "2,000,000,000 Hz" in first["audio"]["error"]
    assert second["audio"]["hangup_gap"] == pytest.approx(0.5, abs=TIME_TOL)
    assert "huge.wav" in run.stderr and "Traceback" not in run.output


# --- mono calls: diarization with a user-supplied model folder (a stub stands in for sherpa-onnx) ---


class _Config:
    """Stands in for sherpa-onnx's config classes: keeps its keyword arguments."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def validate(self):
        return Path(self.segmentation.pyannote.model).is_file() and Path(self.embedding.model).is_file()


class _FakeDiarizer:
    """Stands in for sherpa_onnx.OfflineSpeakerDiarization: takes 16 kHz samples like the real one and
    'hears' SCRIPT's two voices (speaker ids as arbitrary as a clustering's)."""

    sample_rate = 16000
    built_with = None
    seconds = None

    def __init__(self, config):
        type(self).built_with = config

    def process(self, samples):
        type(self).seconds = samples.size / self.sample_rate
        pieces = [
            types.SimpleNamespace(
                start=p["start"], end=p["start"] + p["seconds"], speaker=7 if p["role"] == "customer" else 3
            )
            for p in SCRIPT
        ]
        return types.SimpleNamespace(sort_by_start_time=lambda: sorted(pieces, key=lambda p: p.start))


def _fake_sherpa(monkeypatch, tmp_path):
    module = types.SimpleNamespace(
        OfflineRecognizer=_FakeRecognizer,
        OfflineSpeakerDiarization=_FakeDiarizer,
        **{
            name: _Config
            for name in (
                "OfflineSpeakerDiarizationConfig",
                "OfflineSpeakerSegmentationModelConfig",
                "OfflineSpeakerSegmentationPyannoteModelConfig",
                "SpeakerEmbeddingExtractorConfig",
                "FastClusteringConfig",
            )
        },
    )
    monkeypatch.setitem(sys.modules, "sherpa_onnx", module)
    models = tmp_path / "diarization"
    (models / "sherpa-onnx-pyannote-segmentation-3-0").mkdir(parents=True)
    (models / "sherpa-onnx-pyannote-segmentation-3-0" / "model.onnx").write_bytes(b"stub")
    (models / "3dspeaker_eres2net_base_zh-cn_16k.onnx").write_bytes(b"stub")
    return models


def test_mono_call_split_by_a_diarization_model(tmp_path, monkeypatch):
    models = _fake_sherpa(monkeypatch, tmp_path)
    path = tmp_path / "mono.wav"
    build_call(path, SCRIPT, DURATION, mono=True)
    run = CliRunner().invoke(
        app, ["audio", str(path), "--diarization-dir", str(models), "--customer-first", "--format", "json"]
    )  # SCRIPT's customer says 喂 first
    assert run.exit_code == 0, run.output
    assert _FakeDiarizer.seconds == pytest.approx(DURATION)  # 8 kHz resampled to the model's 16 kHz
    config = _FakeDiarizer.built_with
    assert config.segmentation.pyannote.model.endswith("segmentation-3-0/model.onnx")
    assert config.embedding.model.endswith("eres2net_base_zh-cn_16k.onnx") and config.clustering.num_clusters == 2
    data = json.loads(run.stdout)
    assert data["diarized"] and data["layout"] == "mono"
    assert [(o["by"], round(o["start"])) for o in data["overlaps"]] == [("agent", 9)]
    assert data["last_speaker"] == "agent" and data["hangup_gap"] == pytest.approx(0.5, abs=TIME_TOL)
    assert data["speech_seconds"]["customer"] == pytest.approx(4.5, abs=0.5)
    swapped = CliRunner().invoke(app, ["audio", str(path), "--diarization-dir", str(models), "--format", "json"])
    assert json.loads(swapped.stdout)["last_speaker"] == "customer"  # by default the first voice is the agent's


def test_transcribe_a_mono_call_with_diarization(tmp_path, monkeypatch):
    models = _fake_sherpa(monkeypatch, tmp_path)
    asr = tmp_path / "paraformer-zh"
    asr.mkdir()
    (asr / "tokens.txt").write_text("好 0\n", encoding="utf-8")
    (asr / "model.onnx").write_bytes(b"stub")
    path = tmp_path / "mono.wav"
    build_call(path, SCRIPT, DURATION, mono=True)
    refused = CliRunner().invoke(app, ["transcribe", str(path), "--model-dir", str(asr)])
    assert refused.exit_code == 1 and "--diarization-dir" in refused.output
    run = CliRunner().invoke(
        app, ["transcribe", str(path), "--model-dir", str(asr), "--diarization-dir", str(models), "--customer-first"]
    )
    assert run.exit_code == 0, run.output
    conv = Conversation.model_validate_json(run.stdout)
    assert [t.role for t in conv.turns] == [p["role"] for p in sorted(SCRIPT, key=lambda p: p["start"])]
    assert conv.meta == {"diarized": True}


def test_diarization_dir_without_models_is_a_clear_error(tmp_path, monkeypatch):
    _fake_sherpa(monkeypatch, tmp_path)
    (tmp_path / "empty").mkdir()
    path = tmp_path / "mono.wav"
    build_call(path, SCRIPT[:2], 9.0, mono=True)
    run = CliRunner().invoke(app, ["audio", str(path), "--diarization-dir", str(tmp_path / "empty")])
    assert run.exit_code == 1 and "没有说话人分段模型" in run.output and "empty" in run.output


def test_mono_call_split_through_sherpa_onnx_by_a_generated_model(tmp_path):
    """The real path — sherpa-onnx's segmentation, speaker embeddings and clustering — with a tiny
    model the test generates (tests/diarization_models.py: it tells a low voice from a high one)."""
    pytest.importorskip("sherpa_onnx")
    pytest.importorskip("onnx")
    from diarization_models import write_models

    models = write_models(tmp_path / "diarization")
    path = tmp_path / "mono.wav"
    build_call(path, SCRIPT, DURATION, mono=True, pitches=(90, 300))
    speakers = diarize(read_audio(path), load_diarizer(models), agent_first=False)  # SCRIPT's customer speaks first
    agent, customer = ([(s.start, s.end) for s in speakers[role]] for role in ("agent", "customer"))
    assert agent[0] == pytest.approx((2.0, 8.0), abs=TIME_TOL) and agent[-1] == pytest.approx(
        (22.0, 24.5), abs=TIME_TOL
    )
    assert customer[0] == pytest.approx((0.5, 1.5), abs=TIME_TOL) and customer[-1][1] == pytest.approx(
        21.5, abs=TIME_TOL
    )
    run = CliRunner().invoke(
        app, ["audio", str(path), "--diarization-dir", str(models), "--customer-first", "--format", "json"]
    )
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert data["diarized"] and data["last_speaker"] == "agent"
    assert data["hangup_gap"] == pytest.approx(0.5, abs=TIME_TOL)
    assert [round(d["end"] - d["start"]) for d in data["dead_air"]] == [5]


def test_a_recording_is_read_only_where_it_is_allowed(tmp_path):
    """An uploaded conversation's `audio` is data: the web app lets it open recordings only inside its
    recordings folder, and none without one."""
    from zuoxi.audio.align import analyze_audio
    from zuoxi.ingest import read_file

    samples = Path(__file__).resolve().parents[1] / "samples"
    conv = next(c for c in read_file(samples / "complaint_desk.jsonl") if getattr(c, "audio", None))
    metrics, summary = analyze_audio(conv, samples)
    assert metrics and "error" not in summary  # read when anything may be read
    assert analyze_audio(conv, samples, allowed=False) == (None, None)
    metrics, summary = analyze_audio(conv, samples, allowed=tmp_path)
    assert metrics is None and summary["error"] == "录音不在录音目录内，未读取" and str(samples) not in str(summary)
    metrics, summary = analyze_audio(conv, samples, allowed=samples)
    assert metrics and "error" not in summary


def test_a_digitally_silent_channel_is_measured_without_numeric_warnings(tmp_path):
    """A channel holding exact zeros (a muted leg, as in the bundled samples) once made the echo model
    take the median of no frames: the warning turned every such recording into 'audio skipped'."""
    path = tmp_path / "muted.wav"
    conv = build_call(path, SCRIPT[1::2], DURATION)  # the agent's turns only
    data, rate = sf.read(path)
    data[:, 1] = 0.0
    sf.write(path, data, rate)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        found = analysis(path, conv)
    speech = found.summary()["speech_seconds"]
    assert speech["agent"] > 14 and speech["customer"] == 0


def test_the_accuracy_bench_counts_speech_lost_as_invented_dead_air():
    """A dead air found where a party was speaking is a false finding against the agent: the bench must
    count it (it once printed "met" over calls that lost seconds of speech under babble)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        import audio_accuracy as bench
    finally:
        sys.path.pop(0)
    span = lambda start, end: types.SimpleNamespace(start=start, end=end)  # noqa: E731
    truth = {
        "dead_air": [span(61.4, 66.2)],
        "latencies": [],
        "overlaps": [],
        "hangup_gaps": {},
        "last_speaker": "agent",
    }
    found = {**truth, "dead_air": [span(61.5, 66.2), span(81.6, 86.3)]}
    errors = bench.compare(found, truth)
    assert errors["invented_dead_air"] == 1 and errors["missed"] == 0
    assert bench.compare(truth, truth)["invented_dead_air"] == 0
