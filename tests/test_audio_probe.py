"""What a hostile probe found in reading recordings: memory that grew with the file's rate and channels, a silent
or short recording taken for a real one, non-finite samples, a relative name the player found and the analysis did
not, and reasons that said the wrong thing (or said it in English)."""

from __future__ import annotations

import os
import struct
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_audio import DURATION, SCRIPT, build_call

from zuoxi.audio import AudioError, analyze_audio, read_audio
from zuoxi.audio.synth import silence, speech
from zuoxi.model import Conversation
from zuoxi.pipeline import analyze_conversation


def _whole_file_resample(channels: np.ndarray, rate: int, target: int) -> np.ndarray:
    """The resampler as it was, on the whole call at once: the block-by-block one must give the same."""
    width = max(1, round(rate / target))
    kernel = np.ones(width, dtype=np.float32) / width
    src, dst = np.arange(channels.shape[1]) / rate, np.arange(int(channels.shape[1] * target / rate)) / target
    return np.stack([np.interp(dst, src, np.convolve(c, kernel, mode="same")).astype(np.float32) for c in channels])


def test_a_high_rate_stereo_recording_is_decoded_block_by_block_not_whole(tmp_path):
    """1 h of silence at 48 kHz stereo (a 0.7 MB FLAC) took 7.9 GB to analyse, 3 h was killed at 22 GB: the whole
    file was decoded to float32 and resampled in float64. Now each block is brought to 16 kHz as it is decoded:
    the memory it takes is the 16 kHz channels kept (and a block), not the file at its own rate."""
    rate, seconds = 48000, 20
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((rate * seconds, 2)) * 0.1).astype(np.float32)
    path = tmp_path / "wide.wav"
    sf.write(path, data, rate, subtype="FLOAT")
    tracemalloc.start()
    try:
        recording = read_audio(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kept = recording.channels.nbytes  # 2 channels × 16 kHz × 20 s × 4 bytes = 2.6 MB
    assert recording.sample_rate == 16000 and recording.channels.shape == (2, 16000 * seconds)
    assert peak < kept + 3 * 1024 * 1024 < data.nbytes  # was the file at 48 kHz (7.7 MB) several times over
    np.testing.assert_allclose(recording.channels, _whole_file_resample(data.T, rate, 16000), atol=1e-5)


def test_the_block_resampler_gives_what_the_whole_file_one_gave_at_every_rate(tmp_path):
    rng = np.random.default_rng(1)
    for rate in (11025, 22050, 44100, 96000):
        data = (rng.standard_normal((rate * 3 + 17, 1)) * 0.2).astype(np.float32)
        path = tmp_path / f"r{rate}.wav"
        sf.write(path, data, rate, subtype="FLOAT")
        recording = read_audio(path)
        target = 8000 if rate < 16000 else 16000
        np.testing.assert_allclose(recording.channels, _whole_file_resample(data.T, rate, target), atol=1e-5)


def test_clipping_and_peak_are_measured_across_blocks(tmp_path):
    """A flat top at full scale that spans two decoded blocks is still a clipped run."""
    rate = 8000
    data = np.zeros(rate * 6, dtype=np.float32)
    data[(1 << 14) - 2 : (1 << 14) + 2] = 1.0  # two samples each side of the first block's end
    path = tmp_path / "clip.wav"
    sf.write(path, data, rate, subtype="FLOAT")
    recording = read_audio(path)
    assert recording.clipped is not None and recording.peak is not None
    assert list(np.flatnonzero(recording.clipped[0])) == [(1 << 14) // 240]
    assert recording.peak[0] == pytest.approx(1.0)


def test_more_channel_hours_than_memory_is_kept_for_is_refused_by_the_header(tmp_path):
    """Eight channels of 2 hours would keep 8 × 2 h at 16 kHz: refused from the header, before any is decoded."""
    path = _declaring(tmp_path / "eight.wav", channels=8, rate=16000, seconds=2 * 3600)
    with pytest.raises(AudioError, match=r"8 个声道、2.0 小时音频：声道数 × 时长超过 12 声道小时"):
        read_audio(path)


def _declaring(path: Path, channels: int, rate: int, seconds: float, present: float = 1.0) -> Path:
    """A 16-bit WAV whose data chunk declares `seconds` and holds `present`."""
    sf.write(path, np.zeros((int(rate * present), channels), dtype=np.int16), rate, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    at = raw.index(b"data")
    raw[at + 4 : at + 8] = struct.pack("<I", min(0xFFFFFFFF, int(seconds * rate) * 2 * channels))
    path.write_bytes(bytes(raw))
    return path


def test_a_header_declaring_more_than_six_hours_is_refused_as_the_doc_says(tmp_path):
    """A WAV whose data chunk declares 7 h with 1 s present was analysed with a warning; docs/audio.md says more
    than 6 hours declared is refused. A size a writer could not fill in (0xFFFFFFFF: ffmpeg or sox to a pipe, a live
    recorder) declares nothing: the file is what it holds."""
    path = _declaring(tmp_path / "huge.wav", channels=1, rate=8000, seconds=7 * 3600)
    with pytest.raises(AudioError, match=r"huge.wav: 文件头声称有 7.0 小时音频（最多 6 小时）：不是通话录音"):
        read_audio(path)
    streamed = _declaring(tmp_path / "piped.wav", channels=1, rate=8000, seconds=10**9)  # 0xFFFFFFFF
    recording = read_audio(streamed)
    assert recording.duration == pytest.approx(1.0, abs=0.01) and not recording.warnings
    ok = _declaring(tmp_path / "cut.wav", channels=1, rate=8000, seconds=5 * 3600)  # cut short: still analysed
    assert "文件不完整" in read_audio(ok).warnings[0]


def _statuses(conv: dict, audio_dir: Path) -> tuple[dict[str, str], dict]:
    result = analyze_conversation(Conversation.model_validate(conv), audio_dir=audio_dir, models=False)
    return {f.rule: f.status for f in result.findings}, result.audio


def test_a_silent_recording_of_a_spoken_call_is_warned_of_and_gives_the_rules_nothing(tmp_path):
    """A silent stereo file on a conversation whose agent interrupts turned CS-02's fail into a pass (every overlap
    measured 0) with no warning. Now the rules judge by the transcript, as without a recording, and it is said."""
    path = tmp_path / "call.wav"
    conv = build_call(path, SCRIPT, DURATION)
    sf.write(path, np.zeros((int(DURATION * 48000), 2), dtype=np.float32), 48000)
    statuses, audio = _statuses(conv, tmp_path)
    without, _ = _statuses({**conv, "audio": None}, tmp_path)
    assert statuses == without and statuses["CS-02"] == "fail"
    assert audio["speech_seconds"] == {"agent": 0.0, "customer": 0.0}
    assert audio["warnings"] == [
        f"{path}: 录音（25.0 秒）里没有检测到说话声，而转写有 6 句话：录音与转写对不上（静音、错录或声道不对？），"
        "时间类规则不用这段录音，按转写的时间判断"
    ]
    metrics, _ = analyze_audio(Conversation.model_validate(conv), tmp_path)
    assert metrics is None


def test_a_recording_shorter_than_the_transcript_measures_only_what_it_holds(tmp_path):
    """16 s of audio on turns running to 24.5 s: the turns past its end were 'voiced 0.0' and the hang-up gap
    measured at the cut (OB-07 failed, where without audio it judges by the transcript)."""
    path = tmp_path / "call.wav"
    conv = build_call(path, SCRIPT, DURATION)
    data, rate = sf.read(path)
    sf.write(path, data[: 16 * rate], rate)
    statuses, audio = _statuses(conv, tmp_path)
    without, _ = _statuses({**conv, "audio": None}, tmp_path)
    assert audio["warnings"] == [
        f"{path}: 录音（16.0 秒）比转写（24.5 秒）短：录音结束之后的 2 句（第 5 句起）和挂机间隔没有测量"
    ]
    assert audio["hangup_gap"] is None and [t["turn"] for t in audio["turns"]] == [0, 1, 2, 3]
    assert statuses["OB-07"] == without["OB-07"]
    assert statuses["CS-02"] == "fail"  # the interruption at 9 s is inside the recording and still measured


def test_non_finite_samples_are_zeroed_and_counted_with_no_numpy_warnings(tmp_path):
    """1,000 NaN and 20 ±inf samples in a float WAV lost the whole recording (`arange: cannot compute length`) after
    numpy's RuntimeWarnings on standard error."""
    rate = 16000
    quiet = silence(2.0, rate)
    clean = np.concatenate([quiet, speech(40, 5.0, rate, seed=3), quiet]).astype(np.float32)
    tone = clean.copy()
    rng = np.random.default_rng(2)
    where = rng.choice(tone.size, 1020, replace=False)
    tone[where[:1000]] = np.nan
    tone[where[1000:1010]], tone[where[1010:]] = np.inf, -np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, np.stack([tone, clean], axis=1), rate, subtype="FLOAT")
    conv = {"id": "n", "audio": path.name, "turns": [{"role": "agent", "text": "您好", "start": 2.0, "end": 7.0}]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, summary = analyze_audio(Conversation.model_validate(conv), tmp_path)
    assert summary is not None and "error" not in summary
    assert summary["warnings"][0] == f"{path}: 1,020 个样本不是有限数（NaN 或无穷大），按 0（静音）分析"
    assert summary["speech_seconds"]["agent"] > 2


def test_a_relative_name_is_found_in_the_recordings_folder_as_the_player_finds_it(tmp_path):
    """An upload names `call1.wav`, which is in the server's recordings folder: the page played it, the analysis
    looked only beside the uploaded file (a temporary folder) and said it was outside the recordings folder."""
    upload, recordings = tmp_path / "upload", tmp_path / "recordings"
    upload.mkdir()
    recordings.mkdir()
    path = recordings / "call.wav"
    conv = build_call(path, SCRIPT, DURATION)
    metrics, summary = analyze_audio(Conversation.model_validate(conv), upload, recordings, name_dir=".")
    assert metrics and summary is not None and "error" not in summary and summary["file"] == "call.wav"
    metrics, summary = analyze_audio(Conversation.model_validate(conv), upload, recordings)
    assert summary is not None and summary["file"] == "call.wav"  # named as given, not by the server's folder
    (tmp_path / "secret.wav").write_bytes(path.read_bytes())
    for name in ("../secret.wav", str(tmp_path / "secret.wav"), "missing.wav"):
        metrics, summary = analyze_audio(Conversation.model_validate({**conv, "audio": name}), upload, recordings)
        assert metrics is None and summary == {"file": name, "error": "录音不在录音目录内，未读取"}


def test_a_folder_or_a_pipe_is_not_a_regular_file(tmp_path):
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    with pytest.raises(AudioError, match=r"folder.wav: 不是普通文件（是文件夹、管道或设备），无法当作录音读取"):
        read_audio(folder)
    if hasattr(os, "mkfifo"):
        pipe = tmp_path / "pipe.wav"
        os.mkfifo(pipe)
        with pytest.raises(AudioError, match=r"pipe.wav: 不是普通文件"):
            read_audio(pipe)
    with pytest.raises(AudioError, match=r"gone.wav: 录音文件不存在"):
        read_audio(tmp_path / "gone.wav")


def test_a_file_that_is_no_audio_is_said_in_chinese_with_nothing_from_the_decoder(tmp_path, capfd):
    """`garbage.mp3` gave libsndfile's English 'File does not exist or is not a regular file (possibly a pipe?)'
    and mpg123's notes on standard error."""
    path = tmp_path / "garbage.mp3"
    path.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + np.random.default_rng(0).bytes(20000))
    with pytest.raises(AudioError) as raised:
        read_audio(path)
    assert raised.value.reason == "无法解码音频：文件头不完整，或格式不受支持（不是 WAV、FLAC、Ogg 或 MP3 录音）"
    out, err = capfd.readouterr()
    assert err == "" and out == ""


def test_a_name_too_long_for_the_system_is_said_once_and_in_chinese(tmp_path):
    """A 5,000-character `audio` printed the name twice and `OSError: [Errno 36] File name too long`."""
    name = "a" * 5000 + ".wav"
    _, summary = analyze_audio(
        Conversation.model_validate({"id": "x", "audio": name, "turns": [{"role": "agent", "text": "您好"}]}), tmp_path
    )
    assert summary is not None and "Errno" not in summary["error"] and "OSError" not in summary["error"]
    assert len(summary["file"]) < 300 and len(summary["error"]) < 600
    assert "文件名过长" in summary["error"] or "文件名无法使用" in summary["error"]
