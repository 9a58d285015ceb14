"""The single entry point for decoding audio: info, windowed reads, mono, resampling, loudness.

Decoding goes through soundfile (libsndfile: wav, flac, aiff, ogg, mp3), resampling through soxr,
loudness through pyloudnorm (ITU-R BS.1770 integrated LUFS). Long files are never loaded whole
for embedding: ``read_window`` seeks and reads just the frames asked for.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf
import soxr

from trance_finder.errors import AudioLoadError

AUDIO_EXTENSIONS = (".wav", ".flac", ".aif", ".aiff", ".mp3", ".ogg", ".oga")
#: loudness every excerpt is brought to before embedding (a mastered-reference-like level)
TARGET_LUFS = -14.0
MIN_SECONDS = 1.0
SILENCE_LUFS = -70.0
MAX_GAIN_DB = 60.0


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / float(self.sample_rate) if self.sample_rate else 0.0


def is_audio_file(path) -> bool:
    name = os.path.basename(str(path))
    return not name.startswith(".") and name.lower().endswith(AUDIO_EXTENSIONS)


def find_audio_files(folder) -> list[Path]:
    """Audio files under ``folder`` (recursive), sorted for a stable order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AudioLoadError(folder, "reference folder does not exist or is not a folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_audio_file(p))


def audio_info(path) -> AudioInfo:
    path = str(path)
    if not os.path.exists(path):
        raise AudioLoadError(path, "file not found (moved or deleted?)")
    if os.path.getsize(path) == 0:
        raise AudioLoadError(path, "file is empty (0 bytes)")
    try:
        info = sf.info(path)
    except Exception as exc:  # libsndfile raises LibsndfileError/RuntimeError for non-audio
        raise AudioLoadError(path, f"not a readable audio file ({_short(exc)})") from exc
    frames = int(info.frames)
    if frames <= 0 or info.samplerate <= 0:
        raise AudioLoadError(path, "no audio frames in file")
    if not 4000 <= info.samplerate <= 384000:
        raise AudioLoadError(path, f"unsupported sample rate {info.samplerate} Hz")
    return AudioInfo(path, int(info.samplerate), int(info.channels), frames, str(info.format))


def read_window(path, start_s: float = 0.0, duration_s: float | None = None,
                info: AudioInfo | None = None) -> np.ndarray:
    """Frames ``[start_s, start_s + duration_s)`` as float32 (channels, n), without reading the rest."""
    info = info or audio_info(path)
    start = max(0, int(round(start_s * info.sample_rate)))
    frames = -1 if duration_s is None else max(1, int(round(duration_s * info.sample_rate)))
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
    try:
        for data in sf.blocks(str(path), blocksize=block, dtype="float32", always_2d=True):
            if not np.all(np.isfinite(data)):
                raise AudioLoadError(path, "audio contains NaN or infinite samples")
            yield start / info.sample_rate, np.ascontiguousarray(data.T)
            start += data.shape[0]
    except AudioLoadError:
        raise
    except Exception as exc:
        raise AudioLoadError(path, f"could not decode audio ({_short(exc)})") from exc


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
