"""Small spectral helpers shared by the DNA features and the dsp backbone (numpy only)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def frame_signal(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(n_frames, n_fft) view of mono ``x``, zero-padded at the end so every sample is covered."""
    x = np.asarray(x, dtype=np.float32)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    n_frames = 1 + (len(x) - n_fft + hop - 1) // hop
    need = (n_frames - 1) * hop + n_fft
    if need > len(x):
        x = np.pad(x, (0, need - len(x)))
    return np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:n_frames]


@lru_cache(maxsize=8)
def _window(n_fft: int) -> np.ndarray:
    return np.hanning(n_fft).astype(np.float32)


def power_spectrogram(x: np.ndarray, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """(n_frames, n_fft // 2 + 1) power spectrum."""
    frames = frame_signal(x, n_fft, hop) * _window(n_fft)
    spec = np.fft.rfft(frames, axis=1)
    return (spec.real**2 + spec.imag**2).astype(np.float32)


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 20.0, fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular HTK-mel filters, area-normalised."""
    fmax = fmax or sr / 2.0
    freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    down = (upper - freqs[None, :]) / np.maximum(upper - centre, 1e-9)
    fb = np.maximum(0.0, np.minimum(up, down))
    fb *= (2.0 / np.maximum(upper - lower, 1e-9))
    return fb.astype(np.float32)


def log_mel(x: np.ndarray, sr: int, n_fft: int = 2048, hop: int = 512, n_mels: int = 64) -> np.ndarray:
    """(n_frames, n_mels) log10 mel energies."""
    power = power_spectrogram(x, n_fft, hop)
    mel = power @ mel_filterbank(sr, n_fft, n_mels).T
    return np.log10(mel + 1e-10).astype(np.float32)
