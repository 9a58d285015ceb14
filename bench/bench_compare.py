"""Mix statistics and Compare: seconds per reference (7-minute 44.1 kHz stereo file) and Compare latency.

    python bench/bench_compare.py [--minutes 7] [--repeat 3]

The 7-minute file is a rendered 30-s synthetic track (mastered) repeated with a slow level ride, so
the analysis sees music-like material. Times are the best of ``--repeat`` runs, CPU time of this
process (wall time in brackets: on a shared machine wall time includes waiting for a core). One thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench._common import machine  # noqa: E402


def timed(fn, repeat: int):
    best_cpu, best_wall, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        out = fn()
        best_cpu = min(best_cpu, time.process_time() - c)
        best_wall = min(best_wall, time.perf_counter() - w)
    return best_cpu, best_wall, out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=7.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import pyloudnorm
    import scipy.signal
    import soundfile as sf

    from trance_finder import synth
    from trance_finder.core import compare as C
    from trance_finder.core import mixstats as M

    sr = 44100
    style = synth.sample_style("uplifting", np.random.default_rng(1), seed=1)
    base = synth.render_track(style, 30.0, sr)
    reps = int(np.ceil(args.minutes * 60 / 30.0))
    ride = np.repeat(10 ** (np.linspace(-3, 0, reps) / 20), base.shape[1])
    audio = (np.tile(base, reps) * ride).astype(np.float32)[:, : int(args.minutes * 60 * sr)]
    seconds = audio.shape[1] / sr
    rows = []

    def row(what, cpu, wall, note=""):
        rows.append((what, f"{cpu:.3f} ({wall:.3f})", note))

    cpu, wall, frames = timed(lambda: M.analyse_frames(audio, sr), args.repeat)
    row(f"MixAnalyzer, {seconds / 60:.1f}-min stereo 44.1 kHz in memory", cpu, wall,
        f"{frames.n_frames} frames, table {sum(v.nbytes for v in frames.to_arrays().values()) / 1e6:.2f} MB")
    sections = [("intro", 0, 60), ("breakdown", 60, 120), ("drop", 120, 240), ("breakdown", 240, 300),
                ("drop", 300, seconds)]
    cpu, wall, stats = timed(lambda: M.section_stats(frames, sections), args.repeat)
    row("section_stats (whole + 3 labels) from the table", cpu, wall)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seven_minutes.wav"
        sf.write(str(path), audio.T, sr, subtype="PCM_16")
        from trance_finder.core.audio import iter_blocks

        cpu_d, wall_d, _ = timed(lambda: sum(b.shape[1] for _, b in iter_blocks(path)), args.repeat)
        row("decode only (iter_blocks, 16-bit WAV)", cpu_d, wall_d, "shared with the embedding in training")
        cpu, wall, _ = timed(lambda: C.file_structure(str(path)), args.repeat)
        row("WIP: decode + sections + mix stats (file_structure)", cpu, wall, "Compare's cost after the ranked list")

    wip = stats["drop"]
    refs5 = [M.summarise(frames, [(a, a + 60)]) for a in range(0, 300, 60)]
    refs50 = refs5 * 10
    cpu, wall, res = timed(lambda: C.compare(wip, refs5, "drop"), max(args.repeat, 20))
    row("compare() against 5 references", cpu, wall)
    cpu, wall, _ = timed(lambda: C.compare(wip, refs50, "drop"), max(args.repeat, 20))
    row("compare() against 50 references", cpu, wall)

    # accuracy on this music against independent references
    whole = stats["whole"]
    ref_lufs = pyloudnorm.Meter(sr).integrated_loudness(audio[:, : sr * 60].T.astype(np.float64))
    ours = M.summarise(frames, [(0, 60)]).lufs
    tp_ref = 20 * np.log10(np.abs(scipy.signal.resample_poly(audio[:, : sr * 60].astype(np.float64), 4, 1,
                                                              axis=-1)).max())
    tp_ours = M.summarise(frames, [(0, 60)]).true_peak
    up = np.abs(scipy.signal.resample_poly(audio[:, : sr * 60].astype(np.float64), 4, 1, axis=-1)).max(axis=0)
    hop = int(round(sr * M.HOP_SECONDS))
    per_hop = np.array([up[i * hop * 4:(i + 1) * hop * 4].max() for i in range(60 * sr // hop - 1)])
    miss = 20 * np.log10(per_hop) - 20 * np.log10(frames.true_peak[: per_hop.size])

    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print("\n| step | seconds CPU (wall) | note |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    print("\n| accuracy, first minute of the file | this app | reference | difference |\n|---|---|---|---|")
    print(f"| integrated loudness (LUFS) vs pyloudnorm | {ours:.2f} | {ref_lufs:.2f} | {ours - ref_lufs:+.3f} |")
    print(f"| true peak (dBTP) vs full 4x resample_poly | {tp_ours:.2f} | {tp_ref:.2f} | {tp_ours - tp_ref:+.3f} |")
    print(f"| per-hop true peak under-read: median / 99th pct / max (dB) | | | {np.median(miss):.3f} / "
          f"{np.percentile(miss, 99):.3f} / {miss.max():.3f} |")
    print(f"\nWhole file: {whole.lufs:.1f} LUFS, LRA {whole.lra:.1f} LU, PLR {whole.plr:.1f} dB; "
          f"{len(res.differences)} differences for the drop vs 5 one-minute excerpts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
