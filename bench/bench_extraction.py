"""Extraction speed per backbone, and the window-plan lever: retrieval quality vs speed on long tracks.

1. Speed: audio seconds analysed per wall second for each backbone on 60 s of audio (analysis only),
   and for the whole file pipeline (decode, resample, loudness, DNA, backbones) on a 7-minute track.
2. Lever: 48 synthetic 3-minute tracks (8 styles); for each window plan, extraction time per track and
   leave-one-out precision@5 of the raw features (no training, so nothing is flattered).

    python bench/bench_extraction.py [--long-tracks 48] [--long-seconds 180]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import soundfile as sf
from _common import OUT, machine, table

from trance_finder import synth
from trance_finder.core.audio import resample
from trance_finder.core.backbones import availability, get_backbone
from trance_finder.core.evaluation import precision_at_k
from trance_finder.core.extract import FeatureExtractor, WindowPlan
from trance_finder.core.head import Standardizer


def long_track(path, family, seed, seconds, sr=22050):
    if not path.exists():
        style = synth.sample_style(family, np.random.default_rng(seed), seed=seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), synth.render_track(style, seconds=seconds, sr=sr).T, sr, subtype="PCM_16")
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--long-tracks", type=int, default=48)
    ap.add_argument("--long-seconds", type=float, default=180.0)
    args = ap.parse_args()
    names = [n for n in ("dsp", "musicnn", "openl3") if availability(n)[0]]

    # 1. analysis speed per backbone
    style = synth.sample_style("uplifting", np.random.default_rng(1), seed=1)
    audio22 = synth.render_track(style, seconds=60.0, sr=22050).mean(axis=0)
    rows = []
    for name in names:
        b = get_backbone(name)
        x = resample(audio22, 22050, b.sample_rate)
        b.analyse(x[: b.sample_rate * 3])  # warm-up
        t = time.perf_counter()
        b.analyse(x)
        s = time.perf_counter() - t
        rows.append([name, "analyse 60 s", f"{s:.2f}", f"{60 / s:.1f}"])
    wip = OUT / "long" / "wip_7min.wav"
    long_track(wip, "psy", 77, 420.0)
    for spec in ["dsp", "musicnn", "musicnn+dsp"]:
        if not all(availability(n)[0] for n in spec.split("+")):
            continue
        for plan in (WindowPlan(8, 6.0), WindowPlan(1000, 6.0)):
            ex = FeatureExtractor(spec, plan=plan)
            ex.analyse_file(wip)  # warm caches of filterbanks etc.
            t = time.perf_counter()
            ex.analyse_file(wip)
            s = time.perf_counter() - t
            label = "whole 7-min file" if plan.n_windows == 1000 else "7-min file, 8 x 6 s windows"
            rows.append([spec, label, f"{s:.2f}", f"{420 / s:.1f}"])
    print(f"Machine: {machine()}\n")
    print(table(["backbone", "what", "seconds", "audio s / s"], rows))

    # 2. the lever
    fams = list(synth.STYLE_FAMILIES)
    files, labels = [], []
    for i in range(args.long_tracks):
        fam = fams[i % len(fams)]
        files.append(long_track(OUT / "long" / f"{fam}_{i:03d}.wav", fam, 1000 + i, args.long_seconds))
        labels.append(fam)
    lever = []
    spec = "musicnn+dsp" if availability("musicnn")[0] else "dsp"
    for plan in (WindowPlan(1, 6.0), WindowPlan(2, 6.0), WindowPlan(4, 6.0), WindowPlan(8, 6.0),
                 WindowPlan(16, 6.0), WindowPlan(1000, 6.0)):
        ex = FeatureExtractor(spec, plan=plan)
        t = time.perf_counter()
        tracks = [ex.analyse_file(f) for f in files]
        per = (time.perf_counter() - t) / len(files)
        X = np.stack([tr.joined(ex.names) for tr in tracks])
        Z = Standardizer.fit(X, [tr_dim for tr_dim in ex.dims.values()])(X)
        p5 = precision_at_k(Z, labels, Z, labels, 5, exclude_self=True)
        name = "whole track" if plan.n_windows == 1000 else f"{plan.n_windows} x {plan.window_seconds:.0f} s"
        lever.append([name, f"{per:.2f}", f"{args.long_seconds / per:.0f}", f"{p5:.3f}"])
    print(f"\nWindow plan lever ({spec}, {len(files)} tracks of {args.long_seconds:.0f} s, 8 styles; "
          "raw features, leave-one-out precision@5):\n")
    print(table(["windows embedded", "s / track", "audio s / s", "P@5 raw"], lever))


if __name__ == "__main__":
    main()
