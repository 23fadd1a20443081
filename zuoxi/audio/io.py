"""Read a call recording into float32 channels at a rate the VAD takes (8 or 16 kHz).

Everything soundfile's libsndfile decodes is accepted (WAV incl. μ-law/A-law, FLAC, OGG/Vorbis/Opus,
MP3). Every way a file can be unusable becomes an `AudioError` that names the file, so a batch can
record it on the conversation and go on with the text; a file that is only partly there (cut
mid-data, or its decoder stops early) is analysed as far as it goes, with a warning saying how much
is missing.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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
# channels × seconds kept at the analysis rate (float32): 6 hours of two 16 kHz channels, 2.8 GB. A file of more
# channels holds proportionally fewer hours (8 channels: 1.5 h); what goes past it is refused, not decoded.
MAX_CHANNEL_HOURS = 2 * MAX_HOURS
MIN_SECONDS = 0.5  # shorter holds nothing to measure (no turn, latency or gap fits in it)
CLIP_LEVEL = 0.98  # of full scale (−0.18 dBFS); lossy codecs ring around the flat top, so not exactly 1.0
CLIP_RUN = 3  # samples in a row: a natural peak touches full scale for one or two
BLOCK = 1 << 14  # frames decoded at a time: a decoder failing late keeps what came before, and memory holds one block
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
    """Decode `path`; raise `AudioError` for a missing, empty, absurd or undecodable file. Decoded block by
    block and brought to the analysis rate as it comes (`_Sink`): memory holds the analysis-rate channels and
    one block, whatever the file's own rate."""
    path = Path(path)
    try:
        kind = path.stat()
    except FileNotFoundError:
        raise AudioError(path, "录音文件不存在") from None
    except OSError as error:  # a name longer than the system allows, a folder that cannot be entered
        raise AudioError(path, f"无法读取录音文件（{_os_reason(error)}）") from None
    if not stat.S_ISREG(kind.st_mode):
        raise AudioError(path, "不是普通文件（是文件夹、管道或设备），无法当作录音读取")
    if kind.st_size == 0:
        raise AudioError(path, "空文件（0 字节）")
    try:
        with _quiet_stderr():
            info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        raise AudioError(
            path, "无法解码音频：文件头不完整，或格式不受支持（不是 WAV、FLAC、Ogg 或 MP3 录音）"
        ) from None
    _check_header(path, info)
    rate = info.samplerate
    expected = _mp3_declared_frames(path, rate) if info.format == "MP3" else _declared_frames(path, info)
    if expected is not None:  # a WAV's data chunk may declare what libsndfile's count (what is there) does not
        _check_length(path, expected, rate, info.channels)
    untagged, unread = _mp3_with_length(path) if info.format == "MP3" and expected is None else (None, 0)
    sink, stopped = _decode(
        path, rate, untagged, MP3_ENCODER_DELAY if untagged is not None else 0, max(info.frames, expected or 0)
    )
    frames = sink.frames
    warnings = _shortfall(path, rate, frames, expected, stopped, unread)
    if sink.nonfinite:
        warnings.append(f"{path}: {sink.nonfinite:,} 个样本不是有限数（NaN 或无穷大），按 0（静音）分析")
    if frames == 0:
        raise AudioError(path, "没有音频样本（声道长度为 0）" + (f"；解码失败：{stopped}" if stopped else ""))
    if frames < MIN_SECONDS * rate:
        raise AudioError(path, f"太短，无法测量：只有 {frames / rate:.2f} s 音频（至少要 {MIN_SECONDS} s）")
    channels, peak, clipped = sink.finish()
    return Recording(str(path), channels, sink.target, rate, tuple(warnings), peak, clipped)


def _os_reason(error: OSError) -> str:
    return {errno.ENAMETOOLONG: "文件名过长", errno.EACCES: "没有读取权限", errno.ELOOP: "符号链接循环"}.get(
        error.errno or 0, "系统无法打开它"
    )


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """libsndfile's MP3 decoder (mpg123) writes its complaints in English straight to file descriptor 2;
    zuoxi says what went wrong itself, in Chinese. Silenced for the call only (where fd 2 can be redirected)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            sys.stderr.flush()
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _check_header(path: Path, info: Any) -> None:
    """Refuse a header no call recording has: too low or absurd a rate, too many channels or hours."""
    rate, n_channels = info.samplerate, info.channels
    if rate < MIN_RATE:
        raise AudioError(path, f"采样率 {rate} Hz 太低：通话录音至少是 8000 Hz")
    if rate > MAX_RATE:
        raise AudioError(path, f"文件头声称采样率为 {rate:,} Hz（最多 {MAX_RATE:,} Hz）：文件头损坏或是伪造的")
    if not 1 <= n_channels <= MAX_CHANNELS:
        raise AudioError(path, f"文件头声称有 {n_channels} 个声道（应为 1 到 {MAX_CHANNELS} 个）：文件头损坏")
    _check_length(path, info.frames, rate, n_channels)


def _check_length(path: Path, frames: int, rate: int, n_channels: int) -> None:
    """Refuse a declared length no call has: more than MAX_HOURS, or more channel-hours than memory is kept for."""
    if frames > MAX_HOURS * 3600 * rate:
        raise AudioError(
            path, f"文件头声称有 {frames / rate / 3600:,.1f} 小时音频（最多 {MAX_HOURS} 小时）：不是通话录音"
        )
    if frames * n_channels > MAX_CHANNEL_HOURS * 3600 * rate:
        raise AudioError(path, _too_many_channel_hours(n_channels, frames / rate))


def _too_many_channel_hours(n_channels: int, seconds: float) -> str:
    return (
        f"{n_channels} 个声道、{seconds / 3600:,.1f} 小时音频：声道数 × 时长超过 {MAX_CHANNEL_HOURS} 声道小时"
        f"（{n_channels} 声道的录音最多 {MAX_CHANNEL_HOURS / n_channels:g} 小时），"
        "内存放不下，不是通话录音"
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


class _Unseeking(sf.SoundFile):
    """Reads that never seek. soundfile seeks to where it already is after every read, and a seek
    makes libsndfile's MP3 decoder drop its bit reservoir: block by block, a glitch every block."""

    def seekable(self) -> bool:
        return False


def _decode(
    path: Path, rate: int, content: bytes | None = None, skip: int = 0, size_hint: int = 0
) -> tuple[_Sink, str | None]:
    """All frames the decoder gives (of `content` instead of the file's bytes when given; the first `skip`
    dropped), brought to the analysis rate block by block, and why the decoder stopped early (None: it reached
    the end). More than MAX_HOURS is an AudioError, raised as soon as they are decoded: a stream whose header
    does not say how long it is may still hold days."""
    stopped, sink, decoded = None, None, 0
    try:
        with _quiet_stderr():
            handle = _Unseeking(io.BytesIO(content) if content is not None else str(path))
        with handle:
            sink = _Sink(path, rate, handle.channels, size_hint)
            while True:
                block = handle.read(BLOCK, dtype="float32", always_2d=True)
                if not block.shape[0]:
                    break
                decoded += block.shape[0]
                if skip:
                    dropped = min(skip, block.shape[0])
                    block, skip = block[dropped:], skip - dropped
                sink.add(block)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError) as error:
        if sink is None or not decoded:
            raise AudioError(path, "无法解码音频：文件已损坏，或格式不受支持") from None
        stopped = str(error)
    return sink, stopped


class _Sink:
    """Decoded blocks at the file's rate in, the analysis-rate channels out: per block the non-finite samples
    zeroed (counted), the sample peak and clipped runs measured at the file's rate, then the block resampled
    (`_Resampler`) and kept. Memory: the kept channels (preallocated from the header's length) and one block."""

    def __init__(self, path: Path, rate: int, n_channels: int, size_hint: int):
        self.path, self.rate, self.n_channels = path, rate, n_channels
        self.target = 8000 if rate < 16000 else 16000
        self.frames = 0  # at the file's rate
        self.nonfinite = 0
        self.peak = np.zeros(n_channels, dtype=np.float32)
        self._hot = np.zeros((0, n_channels), dtype=bool)  # the last CLIP_RUN - 1 samples' "at full scale"
        self._clipped: list[np.ndarray] = [np.zeros(0, dtype=np.int64) for _ in range(n_channels)]  # frame indices
        self._resampler = _Resampler(n_channels, rate, self.target) if rate != self.target else None
        hint = int(min(size_hint, MAX_HOURS * 3600 * rate, MAX_CHANNEL_HOURS * 3600 * rate // n_channels))
        self._out = np.zeros((n_channels, hint * self.target // rate + 1), np.float32)
        self._kept = 0

    def add(self, block: np.ndarray) -> None:
        if not block.shape[0]:
            return
        bad = ~np.isfinite(block)
        if bad.any():
            self.nonfinite += int(bad.sum())
            block[bad] = 0.0
        start, self.frames = self.frames, self.frames + block.shape[0]
        if self.frames > MAX_HOURS * 3600 * self.rate:
            raise AudioError(self.path, f"音频超过 {MAX_HOURS} 小时：不是通话录音")
        if self.frames * self.n_channels > MAX_CHANNEL_HOURS * 3600 * self.rate:
            raise AudioError(self.path, _too_many_channel_hours(self.n_channels, self.frames / self.rate))
        magnitude = np.abs(block)
        np.maximum(self.peak, magnitude.max(axis=0), out=self.peak)
        self._clip(magnitude >= CLIP_LEVEL, start)
        channels = block.T
        self._keep(self._resampler.add(channels) if self._resampler is not None else channels)

    def _clip(self, hot: np.ndarray, start: int) -> None:
        """Per VAD frame (at the file's rate) whether CLIP_RUN samples in a row sit at full scale (≥ CLIP_LEVEL):
        the flat tops a recorder or codec leaves when the voice was too loud. A run may span two blocks."""
        both = np.concatenate([self._hot, hot])
        offset = start - self._hot.shape[0]  # the file's sample index of both[0]
        self._hot = both[-(CLIP_RUN - 1) :] if CLIP_RUN > 1 else both[:0]
        if both.shape[0] < CLIP_RUN or not hot.any():
            return
        run = both[CLIP_RUN - 1 :].copy()
        for k in range(1, CLIP_RUN):
            run &= both[CLIP_RUN - 1 - k : both.shape[0] - k]
        size = int(self.rate * FRAME)
        for index in range(self.n_channels):
            ends = np.flatnonzero(run[:, index])
            if ends.size:
                frames = np.unique((ends + CLIP_RUN - 1 + offset) // size)
                self._clipped[index] = np.union1d(self._clipped[index], frames)

    def _keep(self, channels: np.ndarray) -> None:
        end = self._kept + channels.shape[1]
        if end > self._out.shape[1]:  # longer than the header said: grow by half again
            grown = np.zeros((self.n_channels, max(end, self._out.shape[1] * 3 // 2)), np.float32)
            grown[:, : self._kept] = self._out[:, : self._kept]
            self._out = grown
        self._out[:, self._kept : end] = channels
        self._kept = end

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(channels at the analysis rate, per-channel peak, per-VAD-frame clipped runs at the file's rate)."""
        if self._resampler is not None:
            self._keep(self._resampler.finish(self.frames))
        channels = self._out[:, : self._kept]
        if self._out.shape[1] > self._kept + self.target:  # the header said more than there was: give it back
            channels = channels.copy()
        self._out = channels
        n_frames = self.frames // int(self.rate * FRAME)
        clipped = np.zeros((self.n_channels, n_frames), dtype=bool)
        for index, frames in enumerate(self._clipped):
            clipped[index, frames[frames < n_frames]] = True
        return channels, self.peak, clipped


class _Resampler:
    """Down to the VAD's rate, block by block: a moving average of `width` samples as the anti-alias filter
    (zero beyond the ends), then linear interpolation at output sample n, the file's sample n·rate/target.
    Crude for listening, enough for voice activity and energy. Holds only the samples the next output needs."""

    def __init__(self, n_channels: int, rate: int, target: int):
        self.rate, self.target = rate, target
        self.width = max(1, round(rate / target))
        self.before, self.after = self.width // 2, (self.width - 1) // 2  # the average's reach either side
        self.kernel = np.ones(self.width, dtype=np.float32) / self.width
        self.buffer = np.zeros((n_channels, self.before), np.float32)  # the file's samples from index `start`
        self.start = -self.before
        self.next = 0  # the next output sample

    def add(self, channels: np.ndarray) -> np.ndarray:
        self.buffer = np.concatenate([self.buffer, channels], axis=1)
        last = self.start + self.buffer.shape[1] - 2 - self.after  # the furthest sample an output may start at
        stop = ((last + 1) * self.target - 1) // self.rate + 1 if last >= 0 else 0
        given = self.start + self.buffer.shape[1]  # the file holds at least this many samples: so many outputs
        return self._emit(min(stop, given * self.target // self.rate), None)

    def finish(self, frames: int) -> np.ndarray:
        """The outputs left, `frames` being how many samples the file gave (past its end the last one holds)."""
        pad = np.zeros((self.buffer.shape[0], self.after + 2), np.float32)
        self.buffer = np.concatenate([self.buffer, pad], axis=1)
        return self._emit(frames * self.target // self.rate, frames - 1)

    def _emit(self, stop: int, last: int | None) -> np.ndarray:
        n = np.arange(self.next, max(stop, self.next), dtype=np.int64)
        if not n.size:
            return np.zeros((self.buffer.shape[0], 0), np.float32)
        at = n * self.rate // self.target
        weight = (n * self.rate % self.target) / self.target
        if last is not None:  # past the last sample the interpolation holds it (as np.interp does)
            weight[at >= last] = 0.0
            at = np.minimum(at, last)
        first = int(at[0])
        lo = first - self.before - self.start
        hi = int(at[-1]) + 1 + self.after + 1 - self.start
        out = np.empty((self.buffer.shape[0], n.size), np.float32)
        for index, samples in enumerate(self.buffer):
            smooth = np.convolve(samples[lo:hi], self.kernel, mode="valid").astype(np.float64)  # samples first..
            left = smooth[at - first]
            out[index] = left + (smooth[at - first + 1] - left) * weight
        self.next = int(n[-1]) + 1
        needed = self.next * self.rate // self.target - self.before - self.start  # the next output's first sample
        needed = max(0, min(needed, self.buffer.shape[1]))
        self.buffer, self.start = self.buffer[:, needed:].copy(), self.start + needed
        return out


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
                if size in (0, 0xFFFFFFFF):  # a writer that could not seek back (ffmpeg or sox to a pipe, a live
                    return None  # recorder) leaves the size unknown: the length is what the file holds
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
