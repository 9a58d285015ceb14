"""Extraction speed per backbone, and the window-plan lever: retrieval quality vs speed on long tracks.

1. Speed: audio seconds analysed per wall second for each backbone on 60 s of audio (analysis only),
   and for the whole file pipeline (decode, resample, loudness, DNA, backbones) on a 7-minute track.
2. Lever: 48 synthetic 3-minute tracks (8 styles); for each window plan, extraction time per track and
   leave-one-out precision@5 of the raw features (no training, so nothing is flattered).
3. One decode per reference (``--only structure`` runs just this): on the 7-minute track (44.1 kHz
   stereo FLAC), the query's ranked-list analysis (windows only), the WIP's sections + mix stats
   (``structure_of``: one decode, what the GUI runs after the ranked list), and the reference
   pipeline (one decode: sections, mix, embedding windows, section vectors) by part; then a
   30-minute mix through the reference pipeline with its peak Python heap (tracemalloc).

4. (``--only query``) the ranked-list analysis of the 7-minute WIP (8 windows read and embedded, what
   a query costs before the search) for each feature set in ``--features`` (the candidates for the
   default), best of 3, one thread.

    python bench/bench_extraction.py [--long-tracks 48] [--long-seconds 180] [--only speed|structure|query]
        [--features musicnn+dsp,vgg_msd+dsp,musicnn+vgg_msd+dsp]
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
    if not path.exists():  # (flac or wav, from the suffix)
        style = synth.sample_style(family, np.random.default_rng(seed), seed=seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), synth.render_track(style, seconds=seconds, sr=sr).T, sr, subtype="PCM_16")
    return path


def best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def query_bench(specs: list[str]) -> None:
    wip = OUT / "long" / "wip_7min_44k.flac"
    long_track(wip, "psy", 77, 420.0, sr=44100)
    rows = []
    for spec in specs:
        ex = FeatureExtractor(spec)
        ex.analyse_file(wip)  # warm-up (weights, first-call allocations)
        rows.append([spec, f"{best(lambda ex=ex: ex.analyse_file(wip)):.2f}"])
    print("\nRanked-list analysis of a 7-minute 44.1 kHz stereo FLAC (8 x 6 s windows; best of 3):\n")
    print(table(["features", "seconds"], rows))


def structure_bench() -> None:
    import tracemalloc

    from trance_finder.core import analysis, mixstats
    from trance_finder.core import audio as audio_io

    spec = "musicnn+dsp" if availability("musicnn")[0] else "dsp"
    wip = OUT / "long" / "wip_7min_44k.flac"
    long_track(wip, "psy", 77, 420.0, sr=44100)
    ex = FeatureExtractor(spec)
    q = ex.analyse_file(wip)  # warm-up
    info = audio_io.audio_info(wip)
    rows = [["ranked-list analysis (8 windows read, embedded)", f"{best(lambda: ex.analyse_file(wip)):.2f}"]]
    tempo = q.dna["tempo"]
    rows.append(["WIP sections + mix stats (structure_of: one decode)",
                 f"{best(lambda: ex.structure_of(wip, tempo=tempo, use_cache=False)):.2f}"])
    rows.append(["  decode only", f"{best(lambda: ex.decode_whole(wip, info, analysers=False, tape=False)):.2f}"])
    rows.append(["  decode + mono tape only", f"{best(lambda: ex.decode_whole(wip, info, analysers=False)):.2f}"])
    rows.append(["  decode + section and mix analysers", f"{best(lambda: ex.decode_whole(wip, info, tape=False)):.2f}"])
    sec, _mix, tape, lufs = ex.structure_of(wip, tempo=tempo, use_cache=False, need_tape=True)
    _t, _s, mix_an = ex.decode_whole(wip, info, tape=False)
    frames = mix_an.finish()
    rows.append(["  mix stats per label from the frames (section_stats)",
                 f"{best(lambda: mixstats.section_stats(frames, sec.sections)):.3f}"])
    label = max({s.label for s in sec.sections}, key=lambda lb: sum(s.duration for s in sec.of_label(lb)))
    rows.append([f"section search: the WIP's {label} vector (after structure_of)",
                 f"{best(lambda: ex.section_vector(tape, sec, lufs, label), 2):.2f}"])
    rows.append(["reference pipeline, 0 views (one decode: all of the above)",
                 f"{best(lambda: ex.analyse_file(wip, structure=True), 2):.2f}"])
    for views in (2, 4):
        rows.append([f"reference pipeline, {views} augmented views",
                     f"{best(lambda v=views: ex.analyse_file(wip, n_views=v, structure=True), 1):.2f}"])
    print(f"\nOne decode per reference ({spec}, 7-min 44.1 kHz stereo FLAC, {len(sec.sections)} sections; "
          "best of 3):\n")
    print(table(["what", "seconds"], rows))

    mix30 = OUT / "long" / "mix_30min.flac"
    if not mix30.exists():
        with sf.SoundFile(str(mix30), "w", 44100, 2, subtype="PCM_16") as fh:
            for m in range(30):
                style = synth.sample_style(list(synth.STYLE_FAMILIES)[m % 8], np.random.default_rng(m), seed=m)
                fh.write(synth.render_track(style, seconds=60.0, sr=44100).T)
    tracemalloc.start()
    t = time.perf_counter()
    tr = ex.analyse_file(mix30, structure=True)
    s = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"\n30-minute mix (44.1 kHz stereo FLAC): reference pipeline {s:.1f} s, peak Python heap "
          f"{peak / 1e6:.0f} MB (the mono tape at {analysis.TAPE_SR} Hz is float16 above "
          f"{analysis.TAPE_FLOAT32_SECONDS // 60} minutes), {len(tr.sections['sections'])} sections")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--long-tracks", type=int, default=48)
    ap.add_argument("--long-seconds", type=float, default=180.0)
    ap.add_argument("--only", choices=["speed", "structure", "query"], default=None)
    ap.add_argument("--features", default="musicnn+dsp,vgg_msd+dsp,musicnn+vgg_msd+dsp",
                    help="--only query: comma list of feature sets")
    args = ap.parse_args()
    if args.only == "structure":
        print(f"Machine: {machine()}")
        structure_bench()
        return
    if args.only == "query":
        print(f"Machine: {machine()}")
        query_bench([f for f in args.features.split(",") if f])
        return
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
    if args.only == "speed":
        return

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
    if args.only is None:
        structure_bench()


if __name__ == "__main__":
    main()
