"""Synthetic trance generator: render time per 30 s track (one thread) and a per-family table to check
the families sound as designed (bpm, measured beat period, spectral centroid, drop/breakdown RMS,
integrated loudness, stereo width). Writes bench/out/synth.md.

    python bench/bench_synth.py [--per-family 3] [--seconds 30]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from _common import OUT, table  # noqa: E402
from scipy import signal  # noqa: E402
from scipy.ndimage import uniform_filter1d  # noqa: E402

from trance_finder import synth  # noqa: E402


def beat_period(x: np.ndarray, sr: int) -> float:
    low = signal.sosfilt(signal.butter(4, 150, "lowpass", fs=sr, output="sos"), x)
    hop = 64
    env = np.sqrt(uniform_filter1d(low**2, int(0.025 * sr)))[::hop]
    onset = np.maximum(0.0, np.diff(env))
    onset -= onset.mean()
    ac = np.correlate(onset, onset, mode="full")[len(onset) - 1 :]
    lo, hi = int(0.3 * sr / hop), int(0.6 * sr / hop) + 1
    return (lo + int(np.argmax(ac[lo:hi]))) * hop / sr


def centroid(x: np.ndarray, sr: int) -> float:
    f, _t, z = signal.stft(x, fs=sr, nperseg=1024)
    mag = np.abs(z)
    return float((f[:, None] * mag).sum() / mag.sum())


def db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--per-family", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--sr", type=int, default=22050)
    args = ap.parse_args()
    sr, seconds = args.sr, args.seconds

    synth.render_track(synth.sample_style("uplifting", np.random.default_rng(0)), 2.0, sr)  # warm caches
    rows, times = [], []
    for fam in synth.FAMILIES:
        rng = np.random.default_rng(2024)
        acc: dict[str, list[float]] = {k: [] for k in ("bpm", "err", "cen", "drop", "bd", "lufs", "side", "t")}
        pals = set()
        for _ in range(args.per_family):
            st = synth.sample_style(fam, rng)
            pals.add(st.palette)
            t0 = time.perf_counter()
            x = synth.render_track(st, seconds, sr)
            dt = time.perf_counter() - t0
            secs = {s.name: slice(int(s.start * sr), int(s.end * sr)) for s in synth.track_sections(st, seconds)}
            mono = x.mean(axis=0)
            acc["bpm"].append(st.bpm)
            acc["err"].append(abs(beat_period(mono[secs["drop"]], sr) * st.bpm / 60.0 - 1.0) * 100)
            acc["cen"].append(centroid(mono, sr))
            acc["drop"].append(db(x[:, secs["drop"]]))
            acc["bd"].append(db(x[:, secs["breakdown"]]))
            acc["lufs"].append(synth.integrated_loudness(x, sr))
            acc["side"].append(db(x[0] - x[1]) - db(x[0] + x[1]))
            acc["t"].append(dt)
            times.append(dt)
        fd = synth.STYLE_FAMILIES[fam]
        m = {k: float(np.mean(v)) for k, v in acc.items()}
        rows.append([fam, f"{fd.bpm[0]:.0f}-{fd.bpm[1]:.0f}", f"{min(acc['bpm']):.1f}-{max(acc['bpm']):.1f}",
                     f"{max(acc['err']):.2f}", f"{fd.brightness:.2f}", f"{m['cen']:.0f}", f"{fd.energy:.2f}",
                     f"{m['drop']:.1f}", f"{m['bd']:.1f}", f"{m['drop'] - m['bd']:.1f}", f"{m['lufs']:.2f}",
                     f"{m['side']:.1f}", "/".join(sorted(pals)), f"{m['t']:.3f}"])
    headers = ["family", "bpm range", "drawn bpm", "beat err % (max)", "brightness", "centroid Hz", "energy",
               "drop dB", "breakdown dB", "drop-bd dB", "LUFS", "side/mid dB", "palettes", "render s"]
    out = table(headers, rows)
    summary = (f"{len(times)} tracks of {seconds:g} s at {sr} Hz, one thread: render mean {np.mean(times):.3f} s, "
               f"median {np.median(times):.3f} s, max {np.max(times):.3f} s "
               f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"Python {platform.python_version()}, numpy {np.__version__})")
    print(out)
    print()
    print(summary)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "synth.md").write_text(f"# Synthetic trance generator\n\n{out}\n\n{summary}\n")


if __name__ == "__main__":
    main()
