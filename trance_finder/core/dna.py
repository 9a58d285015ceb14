"""Hand-made "Trance DNA": tempo, energy progression, loudness and a few spectral descriptors.

Computed from the excerpts the extractor already decoded (mono, 22.05 kHz, loudness-normalised), so a
30-minute mix costs no more than a 6-minute track. ``tempo`` is folded into the trance range so
half/double-time errors (69 or 276 BPM for a 138 BPM track) do not happen.
"""

from __future__ import annotations

import numpy as np

from trance_finder.core.spectral import power_spectrogram

DNA_SR = 22050
DNA_VERSION = "1"
TEMPO_RANGE = (115.0, 155.0)  # preferred octave for trance; candidates outside are folded in

#: the numeric DNA features, in the order used for clustering
FEATURE_NAMES = (
    "tempo",
    "energy_progression",
    "loudness",
    "dynamic_range",
    "spectral_centroid",
    "spectral_rolloff",
    "spectral_flatness",
    "low_end_ratio",
    "high_end_ratio",
    "onset_density",
)

_N_FFT = 2048
_HOP = 256


def onset_envelope(x: np.ndarray, sr: int = DNA_SR) -> tuple[np.ndarray, float]:
    """Half-wave rectified spectral flux on a log-compressed spectrum; returns (envelope, frame_rate)."""
    power = power_spectrogram(x, _N_FFT, _HOP)
    logspec = np.log1p(1000.0 * power)
    flux = np.maximum(0.0, np.diff(logspec, axis=0)).sum(axis=1)
    flux = flux - np.convolve(flux, np.ones(16) / 16.0, mode="same")  # remove slow trends
    return np.maximum(flux, 0.0).astype(np.float64), sr / _HOP


def _autocorr(env: np.ndarray) -> np.ndarray:
    env = env - env.mean()
    n = len(env)
    spec = np.fft.rfft(env, 2 * n)
    acf = np.fft.irfft(spec * np.conj(spec))[:n]
    return acf / (acf[0] + 1e-12)


def _envelopes(excerpts: list[np.ndarray], sr: int, envelopes) -> list[tuple[np.ndarray, float]]:
    return list(envelopes) if envelopes is not None else [onset_envelope(x, sr) for x in excerpts]


def estimate_tempo(excerpts: list[np.ndarray], sr: int = DNA_SR, envelopes=None) -> float:
    """BPM from a comb over the onset autocorrelation, folded into ``TEMPO_RANGE``.
    ``envelopes``: each excerpt's ``onset_envelope`` when the caller already has them."""
    acfs, rate = [], sr / _HOP
    for x, (env, _rate) in zip(excerpts, _envelopes(excerpts, sr, envelopes)):
        if len(x) < 4 * sr:
            continue
        acfs.append(_autocorr(env))
    if not acfs:
        if not excerpts:
            return 0.0
        env, rate = onset_envelope(np.concatenate(excerpts), sr)
        acfs.append(_autocorr(env))
    n = min(len(a) for a in acfs)
    acf = np.mean([a[:n] for a in acfs], axis=0)
    lags = np.arange(n)

    def score(bpm: np.ndarray) -> np.ndarray:
        total = np.zeros_like(bpm)
        for k, w in ((1, 1.0), (2, 0.5), (4, 0.25)):
            lag = k * 60.0 * rate / bpm
            ok = lag < n - 1
            total[ok] += w * np.interp(lag[ok], lags, acf)
        return total

    grid = np.arange(60.0, 200.0, 0.05)
    s = score(grid)
    # fold every candidate into the preferred octave and sum scores of tempi that fold together
    folded = grid.copy()
    while np.any(folded < TEMPO_RANGE[0]):
        folded = np.where(folded < TEMPO_RANGE[0], folded * 2.0, folded)
    while np.any(folded >= TEMPO_RANGE[1]):
        folded = np.where(folded >= TEMPO_RANGE[1], folded / 2.0, folded)
    fine = np.arange(TEMPO_RANGE[0], TEMPO_RANGE[1], 0.05)
    inside = score(fine)
    best = float(fine[int(np.argmax(inside))])
    # a clear peak outside the range that is not an octave of ``best`` is still folded in
    if s.max() > 1.5 * inside.max():
        best = float(folded[int(np.argmax(s))])
    return round(best, 1)


def block_rms(x: np.ndarray, sr: int, seconds: float = 1.0) -> np.ndarray:
    n = max(1, int(sr * seconds))
    k = len(x) // n
    if k == 0:
        return np.array([float(np.sqrt(np.mean(x**2)))])
    blocks = x[: k * n].reshape(k, n)
    return np.sqrt(np.mean(blocks.astype(np.float64) ** 2, axis=1))


def energy_progression(excerpts: list[np.ndarray], sr: int = DNA_SR) -> tuple[float, float]:
    """(energy 0..1, dynamic range dB): how much of the track sits near its loudest level."""
    rms = np.concatenate([block_rms(x, sr) for x in excerpts])
    rms = rms[rms > 1e-6]
    if rms.size == 0:
        return 0.0, 0.0
    ref = np.percentile(rms, 95)
    energy = float(np.mean(np.minimum(1.0, rms / ref)) ** 2)
    db = 20 * np.log10(rms / ref)
    return energy, float(np.percentile(db, 95) - np.percentile(db, 10))


def spectral_descriptors(excerpts: list[np.ndarray], sr: int = DNA_SR) -> dict:
    power = np.concatenate([power_spectrogram(x, _N_FFT, _N_FFT // 2) for x in excerpts])
    freqs = np.linspace(0, sr / 2, power.shape[1])
    total = power.sum(axis=1) + 1e-12
    loud = total > np.percentile(total, 20)  # ignore near-silent frames
    p, t = power[loud], total[loud]
    centroid = (p @ freqs) / t
    cumsum = np.cumsum(p, axis=1)
    rolloff = freqs[np.argmax(cumsum >= 0.85 * cumsum[:, -1:], axis=1)]
    flatness = np.exp(np.mean(np.log(p + 1e-12), axis=1)) / (np.mean(p, axis=1) + 1e-12)
    low = p[:, freqs < 150].sum(axis=1) / t
    high = p[:, freqs > 5000].sum(axis=1) / t
    return {
        "spectral_centroid": float(np.mean(centroid)),
        "spectral_rolloff": float(np.mean(rolloff)),
        "spectral_flatness": float(np.mean(flatness)),
        "low_end_ratio": float(np.mean(low)),
        "high_end_ratio": float(np.mean(high)),
    }


def onset_density(excerpts: list[np.ndarray], sr: int = DNA_SR, envelopes=None) -> float:
    """Onsets per second (peaks of the onset envelope above an adaptive threshold)."""
    count, seconds = 0, 0.0
    for x, (env, _rate) in zip(excerpts, _envelopes(excerpts, sr, envelopes)):
        if env.size < 3:
            continue
        thr = env.mean() + env.std()
        peaks = (env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:]) & (env[1:-1] > thr)
        count += int(peaks.sum())
        seconds += len(x) / sr
    return count / seconds if seconds else 0.0


def compute_dna(excerpts: list[np.ndarray], sr: int, loudness: float) -> dict:
    """All DNA features for a track from its (normalised) excerpts; ``loudness`` is the original LUFS."""
    energy, dyn = energy_progression(excerpts, sr)
    envelopes = [onset_envelope(x, sr) for x in excerpts]  # tempo and onset density share them
    return {
        "tempo": estimate_tempo(excerpts, sr, envelopes),
        "energy_progression": energy,
        "loudness": float(loudness),
        "dynamic_range": dyn,
        **spectral_descriptors(excerpts, sr),
        "onset_density": onset_density(excerpts, sr, envelopes),
    }


def feature_vector(dna: dict) -> np.ndarray:
    return np.array([float(dna[name]) for name in FEATURE_NAMES], dtype=np.float64)
