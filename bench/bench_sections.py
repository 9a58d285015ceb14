"""Section detection: boundary and label accuracy per style family against the generator's truth,
analysis seconds per track, the matched-section jump, and the WIP latency (analysis of a 7-minute
44.1 kHz file on top of decoding it), plus a 30-minute stream. Writes bench/out/sections.md.

    python bench/bench_sections.py [--per-family 3] [--seconds 90] [--seed 2026]

Renders are cached in bench/out/sections_renders. Seeds differ from the tests' (tests use 100+i).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from _common import OUT, table  # noqa: E402

from trance_finder import synth  # noqa: E402
from trance_finder.core.audio import iter_blocks, resample  # noqa: E402
from trance_finder.core.sections import SectionAnalyzer, detect_sections, loop_bounds, matching_section  # noqa: E402

SR = 22050


def render(family: str, i: int, seconds: float, seed: int):
    style = synth.sample_style(family, np.random.default_rng([seed, i, len(family)]))
    folder = OUT / "sections_renders"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{family}_{i}_{seconds:g}_{style.seed}.npy"
    if path.is_file():
        return style, np.load(path)
    audio = synth.render_track(style, seconds, SR)
    np.save(path, audio)
    return style, audio


def truth_label(truth, t: float):
    return next((s.name for s in truth if s.start <= t < s.end), None)


def score(ts, truth, bar: float, seconds: float):
    bounds = [s.start for s in truth[1:] if s.end > s.start]
    found = [s.start for s in ts.sections[1:]]
    within = sum(any(abs(f - b) < bar for f in found) for b in bounds)
    half = sum(any(abs(f - b) < bar / 2 for f in found) for b in bounds)
    mids = np.arange(bar / 2, seconds, bar)
    right = sum(truth_label(truth, m) == ts.section_at(m).label for m in mids)
    return within, half, len(bounds), right, len(mids), len(found)


def timed(fn, repeats: int = 3):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-family", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    lines = [f"# Sections bench\n\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}; {args.per_family} tracks per family of {args.seconds:g} s at "
             f"{SR} Hz, seed {args.seed}.\n"]
    rows, detected, truths = [], {}, {}
    tot = np.zeros(6)
    t_all = []
    for fam in synth.FAMILIES:
        acc = np.zeros(6)
        tempo_err, secs = [], []
        for i in range(args.per_family):
            style, audio = render(fam, i, args.seconds, args.seed)
            dt, ts = timed(lambda a=audio: detect_sections(a, SR))
            truth = synth.track_sections(style, args.seconds)
            acc += score(ts, truth, 240.0 / style.bpm, args.seconds)
            tempo_err.append(abs(ts.tempo - style.bpm))
            secs.append(dt)
            detected[(fam, i)], truths[(fam, i)] = ts, truth
        tot += acc
        t_all += secs
        rows.append([fam, f"{acc[0]:.0f}/{acc[2]:.0f}", acc[0] / acc[2], acc[1] / acc[2], acc[3] / acc[4],
                     f"{acc[5] / args.per_family + 1:.1f}", max(tempo_err), statistics.mean(secs)])
    rows.append(["all", f"{tot[0]:.0f}/{tot[2]:.0f}", tot[0] / tot[2], tot[1] / tot[2], tot[3] / tot[4],
                 f"{tot[5] / (args.per_family * len(synth.FAMILIES)) + 1:.1f}", "", statistics.mean(t_all)])
    lines.append("## Accuracy per style family (truth: synth.track_sections)\n")
    lines.append(table(["family", "boundaries found", "within 1 bar", "within 1/2 bar", "bars labelled right",
                        "sections/track (truth 4)", "max tempo error (BPM)", f"s per {args.seconds:g} s track"], rows))

    # matched-section jump: every detected section of track (fam, 0) against (next fam, 0)
    fams = list(synth.FAMILIES)
    jump_rows = []
    for lab in ("intro", "breakdown", "build", "drop"):
        ok = n = 0
        for k, fam in enumerate(fams):
            for i in range(args.per_family):
                wip, ref = detected[(fam, i)], detected[(fams[(k + 1) % len(fams)], i)]
                ref_truth = truths[(fams[(k + 1) % len(fams)], i)]
                for sec in wip.of_label(lab):
                    start, _end = loop_bounds(matching_section(sec, ref, wip), ref, 8)
                    ok += truth_label(ref_truth, start + 0.5 * ref.bar_seconds) == lab
                    n += 1
        jump_rows.append([lab, f"{ok}/{n}", ok / n if n else float("nan")])
    lines.append("\n## Matched-section jump lands in the same section of another track (first bar of the loop)\n")
    lines.append(table(["WIP section", "landed right", "rate"], jump_rows))

    # WIP latency: a 7-minute 44.1 kHz stereo file (a render tiled on whole bars, resampled)
    style, audio = render("uplifting", 0, args.seconds, args.seed)
    bar = 240.0 / style.bpm
    whole = audio[:, : int(round(int(args.seconds / bar) * bar * SR))]
    x = resample(whole, SR, 44100)
    x = np.tile(x, (1, int(np.ceil(420 * 44100 / x.shape[1]))))[:, : 420 * 44100]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wip_7min.wav"
        sf.write(str(path), x.T, 44100, subtype="PCM_16")

        def decode_only():
            n = 0
            for _t, block in iter_blocks(path):
                n += block.shape[1]
            return n

        def decode_and_analyse():
            an = SectionAnalyzer(44100)
            for _t, block in iter_blocks(path):
                an.add(block)
            return an.finish()

        blocks = [b for _t, b in iter_blocks(path)]

        def analyse_in_memory():
            an = SectionAnalyzer(44100)
            for b in blocks:
                an.add(b)
            t = time.perf_counter()
            ts = an.finish()
            return ts, time.perf_counter() - t

        def analyse_with_tempo():
            an = SectionAnalyzer(44100)
            for b in blocks:
                an.add(b)
            return an.finish(tempo=style.bpm)

        t_dec, _ = timed(decode_only)
        t_both, _ = timed(decode_and_analyse)
        t_mem, (ts7, t_finish) = timed(analyse_in_memory)
        t_tempo, _ = timed(analyse_with_tempo)
    lines.append("\n## WIP latency: 7-minute 44.1 kHz stereo WAV (median of 3)\n")
    lines.append(table(["step", "seconds"], [
        ["decode only (iter_blocks)", t_dec],
        ["decode + section analysis (streamed)", t_both],
        ["section analysis on decoded blocks (add + finish)", t_mem],
        ["  of which finish()", t_finish],
        ["section analysis with the DNA tempo given", t_tempo],
        ["analysis cost on top of decoding", t_both - t_dec],
    ]))
    lines.append(f"\n7-minute file: tempo {ts7.tempo:.2f} (truth {style.bpm}), {len(ts7.sections)} sections.")

    # 30-minute stream, blocks of 30 s (bounded memory)
    an = SectionAnalyzer(SR)
    tracemalloc.start()
    t = time.perf_counter()
    pos, total = 0, 30 * 60 * SR
    while pos < total:
        a = pos % whole.shape[1]
        n = min(30 * SR, whole.shape[1] - a, total - pos)
        an.add(whole[:, a:a + n])
        pos += n
    t_add = time.perf_counter() - t
    ts30 = an.finish()
    t_total = time.perf_counter() - t
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    lines.append("\n## 30-minute mix streamed at 22.05 kHz (tiles of one render)\n")
    lines.append(table(["measure", "value"], [
        ["add() seconds", t_add], ["total seconds (add + finish)", t_total],
        ["analyser state (MB)", an.state_bytes / 1e6], ["peak traced memory during analysis (MB)", peak / 1e6],
        ["sections found", len(ts30.sections)], [f"drops found (tiles: {int(np.ceil(total / whole.shape[1]))})", len(ts30.of_label("drop"))],
    ]))
    text = "\n".join(lines) + "\n"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sections.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
