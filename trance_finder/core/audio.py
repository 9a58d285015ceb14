"""The single entry point for decoding audio: info, windowed reads, mono, resampling, loudness.

Decoding goes through soundfile (libsndfile: wav, flac, aiff, ogg, mp3) and, for what libsndfile does
not read (m4a with AAC or ALAC, Opus, raw AAC), through PyAV (the ffmpeg inside its wheels).
Resampling through soxr, loudness through pyloudnorm (ITU-R BS.1770 integrated LUFS). Long files are
never loaded whole for embedding: ``read_window`` seeks (both decoders; PyAV with half a second of
pre-roll so codecs with overlapping frames are exact) and decodes just the frames asked for.

Before decoding, the first bytes are checked, so a picture or a document renamed ``.mp3`` gives one
clear line ("a PNG image, not audio") instead of a decoder's raw message.
"""

from __future__ import annotations

import errno
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf
import soxr

from trance_finder.errors import AudioLoadError

#: files whose containers PyAV decodes (libsndfile does not read them)
PYAV_EXTENSIONS = (".m4a", ".aac", ".opus", ".mp4")
AUDIO_EXTENSIONS = (".wav", ".flac", ".aif", ".aiff", ".mp3", ".ogg", ".oga", *PYAV_EXTENSIONS)
#: loudness every excerpt is brought to before embedding (a mastered-reference-like level)
TARGET_LUFS = -14.0
MIN_SECONDS = 1.0
SILENCE_LUFS = -70.0
MAX_GAIN_DB = 60.0
PYAV_PREROLL_S = 0.5

#: leading bytes of common files that are not audio (checked before any decoder sees the file)
_NOT_AUDIO = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x7fELF", "a program"), (b"MZ", "a Windows program"), (b"{\\rtf", "an RTF document"),
    (b"<!DOCTYPE", "a web page"), (b"<html", "a web page"), (b"<?xml", "an XML document"),
    (b"BM", "a BMP image"), (b"Rar!", "a RAR archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
)


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    decoder: str = field(default="soundfile")  # "soundfile" or "pyav"

    @property
    def duration(self) -> float:
        return self.frames / float(self.sample_rate) if self.sample_rate else 0.0


def is_audio_file(path) -> bool:
    name = os.path.basename(str(path))
    return not name.startswith(".") and name.lower().endswith(AUDIO_EXTENSIONS)


# -- finding files ----------------------------------------------------------------------------------
@dataclass
class FolderScan:
    """Audio files found under a folder, and what could not be looked at (path, reason)."""

    files: list[Path]
    problems: list[tuple[str, str]]


def os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (the link points back to itself)"
    if exc.errno == errno.ENOENT:
        return "broken link or file vanished (target missing)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or type(exc).__name__


def scan_audio_files(folder) -> FolderScan:
    """Audio files under ``folder`` (recursive, following links once; sorted), with every sub-folder
    that cannot be read, link loop and broken link reported instead of silently dropped."""
    folder = Path(folder)
    try:
        top = folder.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AudioLoadError(folder, "reference folder is a symbolic link loop") from exc
        raise AudioLoadError(folder, "reference folder does not exist or is not a folder") from exc
    if not os.path.isdir(folder):
        raise AudioLoadError(folder, "reference folder does not exist or is not a folder")
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen_dirs = {(top.st_dev, top.st_ino)}
    seen_files: dict[tuple[int, int], str] = {}
    stack = [folder]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append((str(d), f"folder cannot be read ({os_reason(exc)}): its files are left out"))
            continue
        for e in entries:
            if e.name.startswith(".") and not e.is_dir(follow_symlinks=False):
                continue  # hidden files (._ AppleDouble, temp files) are never references
            path = Path(e.path)
            try:
                st = e.stat() if not e.is_symlink() else os.stat(e.path)
            except OSError as exc:
                if is_audio_file(e.name) or exc.errno == errno.ELOOP:
                    problems.append((str(path), os_reason(exc)))
                continue
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in seen_dirs:
                    if e.is_symlink():
                        problems.append((str(path), "link to a folder already scanned (a link loop?): skipped"))
                    continue
                seen_dirs.add(key)
                stack.append(path)
            elif is_audio_file(e.name) and stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in seen_files:
                    problems.append((str(path), f"same file as {seen_files[key]} (reached through a link): skipped"))
                    continue
                seen_files[key] = str(path)
                files.append(path)
    return FolderScan(sorted(files), problems)


def find_audio_files(folder) -> list[Path]:
    """Audio files under ``folder`` (recursive), sorted for a stable order. ``scan_audio_files``
    also says what could not be read."""
    return scan_audio_files(folder).files


# -- info -------------------------------------------------------------------------------------------
def sniff_not_audio(head: bytes) -> str | None:
    """What a file is when its first bytes say it is certainly not audio (else None)."""
    for magic, what in _NOT_AUDIO:
        if head.startswith(magic):
            return what
    return None


def audio_info(path) -> AudioInfo:
    path = str(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT and not os.path.lexists(path):
            raise AudioLoadError(path, "file not found (moved or deleted?)") from exc
        raise AudioLoadError(path, os_reason(exc)) from exc
    if os.path.isdir(path):
        raise AudioLoadError(path, "is a folder, not an audio file")
    if st.st_size == 0:
        raise AudioLoadError(path, "file is empty (0 bytes)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise AudioLoadError(path, f"cannot be read ({os_reason(exc)})") from exc
    what = sniff_not_audio(head)
    if what:
        raise AudioLoadError(path, f"not an audio file: it is {what} (with an audio file's name)")
    if path.lower().endswith(PYAV_EXTENSIONS):
        info = _av_info(path)
    else:
        try:
            sinfo = sf.info(path)
            info = AudioInfo(path, int(sinfo.samplerate), int(sinfo.channels), int(sinfo.frames), str(sinfo.format))
        except Exception as exc:  # libsndfile cannot: let ffmpeg try (odd mp3s, opus in .ogg ...)
            try:
                info = _av_info(path)
            except AudioLoadError:
                if not os.path.exists(path):
                    raise AudioLoadError(path, "file not found (moved or deleted while reading?)") from exc
                raise AudioLoadError(path, "not a readable audio file (format not recognised or damaged)") from exc
    if info.frames <= 0 or info.sample_rate <= 0:
        raise AudioLoadError(path, "no audio frames in file")
    if not 4000 <= info.sample_rate <= 384000:
        raise AudioLoadError(path, f"unsupported sample rate {info.sample_rate} Hz")
    return info


def read_window(path, start_s: float = 0.0, duration_s: float | None = None,
                info: AudioInfo | None = None) -> np.ndarray:
    """Frames ``[start_s, start_s + duration_s)`` as float32 (channels, n), without reading the rest."""
    info = info or audio_info(path)
    start = max(0, int(round(start_s * info.sample_rate)))
    frames = -1 if duration_s is None else max(1, int(round(duration_s * info.sample_rate)))
    if info.decoder == "pyav":
        data = _av_read(path, info, start, None if frames < 0 else frames)
    else:
        try:
            data, _ = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
        except Exception as exc:
            raise AudioLoadError(path, f"could not decode audio ({_short(exc)})") from exc
        data = data.T
    if data.size == 0:
        raise AudioLoadError(path, "file is truncated: no audio could be decoded")
    if not np.all(np.isfinite(data)):
        raise AudioLoadError(path, "audio contains NaN or infinite samples")
    return np.ascontiguousarray(data)


def iter_blocks(path, block_seconds: float = 30.0, info: AudioInfo | None = None):
    """The whole file as consecutive float32 (channels, n) blocks at its own sample rate, so a
    30-minute mix is analysed in bounded memory. Yields (start_seconds, block)."""
    info = info or audio_info(path)
    block = max(1, int(block_seconds * info.sample_rate))
    start = 0
    source = _av_blocks(path, info, block) if info.decoder == "pyav" else (
        d.T for d in sf.blocks(str(path), blocksize=block, dtype="float32", always_2d=True))
    try:
        for data in source:
            if not np.all(np.isfinite(data)):
                raise AudioLoadError(path, "audio contains NaN or infinite samples")
            yield start / info.sample_rate, np.ascontiguousarray(data)
            start += data.shape[1]
    except AudioLoadError:
        raise
    except Exception as exc:
        raise AudioLoadError(path, f"could not decode audio ({_short(exc)})") from exc


# -- PyAV (m4a: AAC/ALAC, opus, aac) ---------------------------------------------------------------
def _av_open(path):
    import av

    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except Exception as exc:
        raise AudioLoadError(path, f"not a readable audio file ({_short(exc)})") from exc
    if not container.streams.audio:
        container.close()
        raise AudioLoadError(path, "no audio stream in the file")
    return container, container.streams.audio[0]


def _av_info(path) -> AudioInfo:
    container, stream = _av_open(path)
    try:
        ctx = stream.codec_context
        sr = int(ctx.sample_rate or 0)
        channels = int(ctx.channels or 0)
        duration = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000.0
        if not duration or duration <= 0 or sr <= 0 or channels <= 0:  # no header length: count by decoding
            n = 0
            for frame in container.decode(stream):
                n += frame.samples
                sr = sr or int(frame.sample_rate)
                channels = channels or len(frame.layout.channels)
            duration = n / sr if sr else 0.0
        return AudioInfo(str(path), sr, channels, int(round(duration * sr)), str(ctx.name).upper(), "pyav")
    except AudioLoadError:
        raise
    except Exception as exc:
        raise AudioLoadError(path, f"could not read the audio stream ({_short(exc)})") from exc
    finally:
        container.close()


def _frame_array(frame) -> np.ndarray:
    """A decoded frame as float32 (channels, n), whatever the decoder's sample format."""
    a = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        a = a.reshape(-1, channels).T
    if a.dtype.kind == "i":
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max + 1)
    elif a.dtype.kind == "u":
        a = (a.astype(np.float32) - 128.0) / 128.0
    return np.asarray(a, dtype=np.float32)


def _av_frames(path, info: AudioInfo, start: int):
    """(first sample index, (channels, n) float32) for the decoded frames from about ``start`` on."""
    container, stream = _av_open(path)
    try:
        sr = info.sample_rate
        if start > PYAV_PREROLL_S * sr and stream.time_base:
            target = (start / sr - PYAV_PREROLL_S) / float(stream.time_base)
            try:
                container.seek(int(target), stream=stream, backward=True)
            except Exception:  # container without seeking: decode from the start
                container.close()
                container, stream = _av_open(path)
        pos = None
        for frame in container.decode(stream):
            if frame.pts is not None and frame.time_base:
                pos = int(round(float(frame.pts * frame.time_base) * sr))
            elif pos is None:
                pos = 0
            data = _frame_array(frame)
            yield pos, data
            pos += data.shape[1]
    finally:
        container.close()


def _av_read(path, info: AudioInfo, start: int, frames: int | None) -> np.ndarray:
    end = None if frames is None else start + frames
    parts = []
    try:
        for pos, data in _av_frames(path, info, start):
            lo, hi = max(start, pos), pos + data.shape[1] if end is None else min(end, pos + data.shape[1])
            if hi > lo:
                parts.append(data[:, lo - pos:hi - pos])
            if end is not None and pos + data.shape[1] >= end:
                break
    except AudioLoadError:
        raise
    except Exception as exc:
        raise AudioLoadError(path, f"could not decode audio ({_short(exc)})") from exc
    if not parts:
        return np.zeros((info.channels, 0), np.float32)
    return np.concatenate(parts, axis=1)


def _av_blocks(path, info: AudioInfo, block: int):
    buf, n = [], 0
    for pos, data in _av_frames(path, info, 0):
        if pos < 0:  # encoder priming before the stream's time zero
            data = data[:, -pos:]
        buf.append(data)
        n += data.shape[1]
        while n >= block:
            joined = np.concatenate(buf, axis=1)
            yield joined[:, :block]
            rest = joined[:, block:]
            buf, n = ([rest] if rest.shape[1] else []), rest.shape[1]
    if n:
        yield np.concatenate(buf, axis=1)


def to_mono(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    return audio if audio.ndim == 1 else audio.mean(axis=0).astype(np.float32)


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """High-quality resampling (soxr) along the last axis; mono or (channels, n)."""
    if sr_in == sr_out:
        return np.asarray(audio, dtype=np.float32)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return soxr.resample(audio, sr_in, sr_out, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(soxr.resample(audio.T, sr_in, sr_out, quality="HQ").T, dtype=np.float32)


def integrated_lufs(audio: np.ndarray, sr: int) -> float:
    """Integrated loudness (LUFS) of mono or (channels, n) audio; -inf for silence or < 0.4 s."""
    audio = np.asarray(audio, dtype=np.float64)
    data = audio if audio.ndim == 1 else audio.T
    if data.shape[0] < int(0.4 * sr) + 1:
        return -math.inf
    if data.ndim == 2 and data.shape[1] > 5:  # BS.1770 weights cover up to 5 channels
        data = data[:, :2]
    meter = pyloudnorm.Meter(sr)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(meter.integrated_loudness(data))
    return value if math.isfinite(value) else -math.inf


def loudness_gain_db(lufs: float, target: float = TARGET_LUFS) -> float:
    if not math.isfinite(lufs):
        return 0.0
    return float(np.clip(target - lufs, -MAX_GAIN_DB, MAX_GAIN_DB))


def apply_gain_db(audio: np.ndarray, gain_db: float) -> np.ndarray:
    return (np.asarray(audio, dtype=np.float32) * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)


def check_usable(audio: np.ndarray, sr: int, path) -> float:
    """Raise AudioLoadError for too-short or silent audio; return its integrated LUFS."""
    n = audio.shape[-1]
    if n < MIN_SECONDS * sr:
        raise AudioLoadError(path, f"too short ({n / sr:.2f} s; at least {MIN_SECONDS:.0f} s needed)")
    lufs = integrated_lufs(audio, sr)
    if not math.isfinite(lufs) or lufs < SILENCE_LUFS:
        raise AudioLoadError(path, "audio is silent")
    return lufs


def load(path, sr: int | None = None, mono: bool = False, start_s: float = 0.0,
         duration_s: float | None = None) -> tuple[np.ndarray, int]:
    """Decode (a window of) a file, optionally resampled / mixed to mono. Returns (audio, sr)."""
    info = audio_info(path)
    audio = read_window(path, start_s, duration_s, info)
    if mono:
        audio = to_mono(audio)
    if sr is not None and sr != info.sample_rate:
        return resample(audio, info.sample_rate, sr), sr
    return audio, info.sample_rate


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
