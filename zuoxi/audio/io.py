"""Read a call recording into float32 channels at a rate the VAD takes (8 or 16 kHz).

Everything soundfile's libsndfile decodes is accepted (WAV incl. μ-law/A-law, FLAC, OGG/Vorbis/Opus,
MP3). Every way a file can be unusable becomes an `AudioError` that names the file, so a batch can
record it on the conversation and go on with the text; a file that is only partly there (cut
mid-data, or its decoder stops early) is analysed as far as it goes, with a warning saying how much
is missing.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from zuoxi.audio.vad import FRAME

MIN_RATE = 8000  # telephone audio; below it speech is not intelligible enough to measure
MAX_RATE = 384_000  # the highest rate audio hardware records; above it the header is garbage
MAX_CHANNELS = 8  # call recorders write 1 or 2; dozens means a broken header
MAX_HOURS = 6  # longer is no call: a 3 MB FLAC of 23 h of silence took 10 GB of memory to decode (float32, whole)
MIN_SECONDS = 0.5  # shorter holds nothing to measure (no turn, latency or gap fits in it)
CLIP_LEVEL = 0.98  # of full scale (−0.18 dBFS); lossy codecs ring around the flat top, so not exactly 1.0
CLIP_RUN = 3  # samples in a row: a natural peak touches full scale for one or two
BLOCK = 1 << 14  # frames decoded at a time, so a decoder failing late keeps what came before
# A LAME-encoded MP3 starts 576 (encoder) + 529 (decoder) samples late. libsndfile removes both when the
# file's LAME/Info tag says so; without it, once a Xing header declares the length (`_mp3_with_length`),
# mpg123 removes its own 529 and zuoxi the encoder's 576 (0.07 s at 8 kHz).
MP3_ENCODER_DELAY = 576


class AudioError(ValueError):
    """A recording that cannot be analyzed; the message starts with the file name."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class Recording:
    """Decoded audio: `channels` has shape (n_channels, n_samples), values in [-1, 1] (lossy codecs may overshoot)."""

    path: str
    channels: np.ndarray
    sample_rate: int
    source_rate: int  # the file's own rate, before resampling for the VAD
    warnings: tuple[str, ...] = field(default=())  # e.g. the file is cut short; each starts with the file name
    peak: np.ndarray | None = None  # per channel: the largest |sample| at the file's own rate
    clipped: np.ndarray | None = None  # (n_channels, n_frames) bool: the VAD frame holds a clipped run

    @property
    def duration(self) -> float:
        return self.channels.shape[1] / self.sample_rate

    @property
    def n_channels(self) -> int:
        return self.channels.shape[0]


def read_audio(path: str | Path) -> Recording:
    """Decode `path`; raise `AudioError` for a missing, empty, absurd or undecodable file."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "录音文件不存在")
    if path.stat().st_size == 0:
        raise AudioError(path, "空文件（0 字节）")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise AudioError(path, f"无法解码音频（{error}）：文件头不完整，或格式不受支持") from None
    _check_header(path, info)
    rate = info.samplerate
    expected = _mp3_declared_frames(path, rate) if info.format == "MP3" else _declared_frames(path, info)
    untagged, unread = _mp3_with_length(path) if info.format == "MP3" and expected is None else (None, 0)
    data, stopped = _decode(path, untagged, MAX_HOURS * 3600 * rate)
    if untagged is not None:
        data = data[MP3_ENCODER_DELAY:]
    warnings = _shortfall(path, rate, data.shape[0], expected, stopped, unread)
    if data.shape[0] == 0:
        raise AudioError(path, "没有音频样本（声道长度为 0）" + (f"；解码失败：{stopped}" if stopped else ""))
    if data.shape[0] < MIN_SECONDS * rate:
        raise AudioError(path, f"太短，无法测量：只有 {data.shape[0] / rate:.2f} s 音频（至少要 {MIN_SECONDS} s）")
    channels = np.ascontiguousarray(data.T)
    peak, clipped = _clipping(channels, rate)
    target = 8000 if rate < 16000 else 16000
    if rate != target:
        channels = _resample(channels, rate, target)
    return Recording(str(path), channels, target, rate, tuple(warnings), peak, clipped)


def _check_header(path: Path, info: Any) -> None:
    """Refuse a header no call recording has: too low or absurd a rate, too many channels or hours."""
    rate, n_channels = info.samplerate, info.channels
    if rate < MIN_RATE:
        raise AudioError(path, f"采样率 {rate} Hz 太低：通话录音至少是 8000 Hz")
    if rate > MAX_RATE:
        raise AudioError(path, f"文件头声称采样率为 {rate:,} Hz（最多 {MAX_RATE:,} Hz）：文件头损坏或是伪造的")
    if not 1 <= n_channels <= MAX_CHANNELS:
        raise AudioError(path, f"文件头声称有 {n_channels} 个声道（应为 1 到 {MAX_CHANNELS} 个）：文件头损坏")
    if info.frames > MAX_HOURS * 3600 * rate:
        raise AudioError(
            path,
            f"文件头声称有 {info.frames / rate / 3600:,.1f} 小时音频（最多 {MAX_HOURS} 小时）：不是通话录音",
        )


def _shortfall(path: Path, rate: int, frames: int, expected: int | None, stopped: str | None, unread: int) -> list[str]:
    """Warnings for a file analysed only in part: bytes after the last MPEG frame, a decoder that
    stopped early, fewer frames than the header declares."""
    present = frames / rate
    warnings = [f"{path}: {present:.2f} s 之后的 {unread:,} 字节不是 MPEG 音频帧；只分析到这里"] if unread else []
    missing = (
        f"文件头声明的 {expected / rate:.2f} s 中缺了 {(expected - frames) / rate:.2f} s"
        if expected is not None and expected > frames
        else None
    )
    if stopped is not None:
        warnings.append(
            f"{path}: 解码在 {present:.2f} s 处失败（{stopped}）"
            + (f"：{missing}" if missing else "")
            + "；只分析到这里"
        )
    elif missing:
        warnings.append(f"{path}: 文件不完整：{missing}；分析了现有的 {present:.2f} s")
    return warnings


def _clipping(channels: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Per channel the sample peak, and per VAD frame whether CLIP_RUN samples in a row sit at full
    scale (≥ CLIP_LEVEL): the flat tops a recorder or codec leaves when the voice was too loud."""
    magnitude = np.abs(channels)
    hot = magnitude >= CLIP_LEVEL
    run = hot[:, CLIP_RUN - 1 :].copy()
    for k in range(1, CLIP_RUN):
        run &= hot[:, CLIP_RUN - 1 - k : hot.shape[1] - k]
    size = int(rate * FRAME)
    n_frames = channels.shape[1] // size
    clipped = np.zeros((channels.shape[0], n_frames), dtype=bool)
    for index, where in enumerate(run):
        frames = (np.flatnonzero(where) + CLIP_RUN - 1) // size
        clipped[index, frames[frames < n_frames]] = True
    return magnitude.max(axis=1), clipped


class _Unseeking(sf.SoundFile):
    """Reads that never seek. soundfile seeks to where it already is after every read, and a seek
    makes libsndfile's MP3 decoder drop its bit reservoir: block by block, a glitch every block."""

    def seekable(self) -> bool:
        return False


def _decode(path: Path, content: bytes | None = None, max_frames: int | None = None) -> tuple[np.ndarray, str | None]:
    """All frames the decoder gives (of `content` instead of the file's bytes when given), and why it
    stopped early (None: it reached the end). More than `max_frames` is an AudioError, raised as soon as they are
    decoded: a stream whose header does not say how long it is may still hold days."""
    blocks, stopped, decoded = [], None, 0
    try:
        with _Unseeking(io.BytesIO(content) if content is not None else str(path)) as handle:
            while True:
                block = handle.read(BLOCK, dtype="float32", always_2d=True)
                if not block.shape[0]:
                    break
                blocks.append(block)
                decoded += block.shape[0]
                if max_frames is not None and decoded > max_frames:
                    raise AudioError(path, f"音频超过 {MAX_HOURS} 小时：不是通话录音")
            n_channels = handle.channels
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError) as error:
        if not blocks:
            raise AudioError(path, f"无法解码音频（{error}）") from None
        stopped, n_channels = str(error), blocks[0].shape[1]
    data = np.concatenate(blocks) if blocks else np.zeros((0, n_channels), dtype=np.float32)
    return data, stopped


def _declared_frames(path: Path, info) -> int | None:
    """How many frames the container says it holds. WAV: from the data chunk's size (libsndfile
    shortens `frames` to what is there); FLAC and others: libsndfile's frame count; Ogg: None
    (its length is read from the last page there is, not declared up front)."""
    if info.format == "OGG":
        return None
    if info.format != "WAV":
        return info.frames
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = None
        while chunk := handle.read(8):
            if len(chunk) < 8:
                return None
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"fmt ":
                fmt = handle.read(size + (size & 1))
                block_align = struct.unpack("<H", fmt[12:14])[0] if len(fmt) >= 14 else None
            elif name == b"data":
                return size // block_align if block_align else None
            else:
                handle.seek(size + (size & 1), 1)
    return None


def _mp3_declared_frames(path: Path, rate: int) -> int | None:
    """The length an MP3's LAME/Info tag declares; None without the tag (libsndfile then knows
    neither the length nor the encoder delay: `_mp3_with_length`)."""
    from mutagen import MutagenError
    from mutagen.mp3 import MP3

    try:
        info = MP3(str(path)).info
    except MutagenError:
        return None
    return round(info.length * rate) if info is not None and info.encoder_info else None


def _mp3_with_length(path: Path) -> tuple[bytes | None, int]:
    """An MP3 without LAME/Info tag, rewritten so libsndfile decodes all of it: its layer III frames
    behind a Xing header that declares how many there are, and how many bytes after them are not
    frames (a trailing ID3v1/APE tag aside). Without the header, mpg123 guesses the length from the
    first frame's bitrate, and libsndfile stops there: a VBR call of 90 s read as 20 s. (None, 0)
    where there are no frames to walk (free format, layers I/II, an info frame alone): decoded as it is."""
    raw = path.read_bytes()
    at = 0
    if raw[:3] == b"ID3" and len(raw) >= 10:  # ID3v2 tag: 10-byte header, syncsafe size, optional footer
        at = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(raw[6:10])) + (10 if raw[5] & 0x10 else 0)
    while 0 <= at < len(raw) and _mp3_frame(raw[at : at + 4]) is None:  # the first frame header
        at = raw.find(b"\xff", at + 1)
    first = _mp3_frame(raw[at : at + 4]) if at >= 0 else None
    if first is None:
        return None, 0
    start, count = at, 0
    while (frame := _mp3_frame(raw[at : at + 4])) and frame[1:] == first[1:] and at + frame[0] <= len(raw):
        body = raw[at + 4 + first[3] : at + 8 + first[3]]
        if count or (body not in (b"Xing", b"Info") and raw[at + 36 : at + 40] != b"VBRI"):  # an old info frame goes
            count += 1
        else:
            start = at + frame[0]
        at += frame[0]
    if not count:
        return None, 0
    header = bytearray(raw[start : start + 4])
    header[1] |= 1  # no CRC
    header[2] &= 0xFD  # no padding
    rebuilt = _mp3_frame(bytes(header))
    if rebuilt is None:  # cannot happen (a valid header without CRC and padding), but then decode it as it is
        return None, 0
    length = rebuilt[0]
    xing = bytearray(length)
    xing[:4] = header
    xing[4 + first[3] : 20 + first[3]] = b"Xing" + struct.pack(">III", 3, count, length + at - start)  # frames, bytes
    tail = raw[at:]
    tail = tail[:-128] if tail[-128:-125] == b"TAG" else tail
    unread = 0 if not tail or tail.startswith((b"APETAGEX", b"TAG", b"LYRICS")) else len(tail)
    return bytes(xing) + raw[start:at], unread


def _mp3_frame(header: bytes) -> tuple[int, int, int, int] | None:
    """(frame bytes, version bits, rate index, side-info bytes) of an MPEG layer III frame header;
    None if `header` is not one."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0 or header[1] & 0x06 != 0x02:
        return None
    version, bitrate, rate = (header[1] >> 3) & 3, header[2] >> 4, (header[2] >> 2) & 3
    if version == 1 or bitrate in (0, 15) or rate == 3:
        return None
    mono = header[3] >> 6 == 3
    hz = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}[version][rate]
    if version == 3:  # MPEG-1: 1,152 samples a frame
        kbps = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)[bitrate]
        return 144_000 * kbps // hz + ((header[2] >> 1) & 1), version, rate, 17 if mono else 32
    kbps = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)[bitrate]  # MPEG-2/2.5: 576
    return 72_000 * kbps // hz + ((header[2] >> 1) & 1), version, rate, 9 if mono else 17


def _resample(channels: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Down to the VAD's rate: a moving average as the anti-alias filter, then linear interpolation.
    Crude for listening, enough for voice activity and energy."""
    width = max(1, round(rate / target))
    kernel = np.ones(width, dtype=np.float32) / width
    n_out = int(channels.shape[1] * target / rate)
    src = np.arange(channels.shape[1]) / rate
    dst = np.arange(n_out) / target
    return np.stack([np.interp(dst, src, np.convolve(c, kernel, mode="same")).astype(np.float32) for c in channels])
