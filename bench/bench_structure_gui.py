"""Sections and Compare latency in the window (issues 12 and 13): drop a 7-minute WIP on the window
and time the ranked list, the WIP's sections over waveform A and the Compare tab (top 5), measured from
the ranked list. The WIP is decoded once (structure_tasks.decode_wip) alongside the ranked-list query.

    nice -n 5 python bench/bench_structure_gui.py [--runs 2] [--minutes 7] [--features dsp]

Offscreen Qt, no audio device (so no resample to a device rate), the demo library of bench_gui
(bench/out/gui_user). A new WIP file per run (no cache hit).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from _common import OUT, machine, table

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
USER = OUT / "gui_user"
for _var in ("DATA", "CACHE", "LOG", "CONFIG"):
    os.environ[f"TRANCE_FINDER_{_var}_DIR"] = str(USER / _var.lower())


def fill_records(finder) -> int:
    """The shipped demo index predates stored sections / mix: give its records what training stores now
    (same analysers, from the files), so the timing is of the path a trained library takes."""
    from trance_finder.core.compare import file_structure

    n = 0
    for t in finder.tracks:
        if t.get("mix") and t.get("sections"):
            continue
        secs, mix = file_structure(t["path"])
        t["sections"] = secs.to_json() if secs is not None else None
        t["mix"] = {k: v.to_json() for k, v in mix.items()}
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=7.0)
    ap.add_argument("--features", default=None, help="demo features (default: the shipped demo's)")
    args = ap.parse_args()

    from bench_gui import make_wips, wait

    from trance_finder.core.progress import run_to_end
    from trance_finder.demo import ensure_demo
    from trance_finder.gui.app import create_main_window, ensure_app

    run_to_end(ensure_demo(device="cpu", features=args.features))
    wips = make_wips(OUT / "structure_wips", args.minutes, args.runs)
    app = ensure_app()
    w = create_main_window(use_demo=True, player=None, demo_features=args.features)
    w.show()
    wait(app, lambda: w.finder is not None)
    wait(app, lambda: w._demo_render is None or not w._demo_render.running, 3600)  # no rendering while timing
    filled = fill_records(w.finder)
    rows = []
    ctl = w.structure
    for path in wips:
        t0 = time.perf_counter()
        w.open_query(str(path))
        wait(app, lambda p=str(path): "ranked" in ctl.timings and w.state.wip.path == p)
        wait(app, lambda: "sections" in ctl.timings and "compare" in ctl.timings)
        t = ctl.timings
        audio = w.state.wip.audio
        rows.append({"ranked": t["ranked"] - t0, "sections": t["sections"] - t["ranked"],
                     "compare": t["compare"] - t["ranked"], "job": audio.timings,
                     "n": len(audio.sections.sections) if audio.sections is not None else 0})
        time.sleep(0.5)
    w.close()

    def med(key, sub=None):
        vals = [r[key][sub] if sub else r[key] for r in rows]
        return f"{statistics.median(vals):.2f}", f"{min(vals):.2f}-{max(vals):.2f}"

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{len(rows)} runs, {args.minutes:g}-minute WIP (22.05 kHz stereo WAV), demo library, no audio device\n")
    body = [
        ["drop -> ranked list", *med("ranked")],
        ["ranked list -> WIP sections shown (negative: before it)", *med("sections")],
        ["ranked list -> Compare shown (top 5, drops)", *med("compare")],
        ["WIP job: decode (the only decode of the WIP)", *med("job", "decode")],
        ["WIP job: sections + mix stats from that decode", *med("job", "structure")],
        ["WIP job: peaks, loudness, playback buffer", *med("job", "playback")],
        ["WIP job: total (runs alongside the query)", *med("job", "total")],
    ]
    print(table(["step", "median s (wall)", "range"], body))
    print(f"sections found: {[r['n'] for r in rows]}; demo records given stored stats first: {filled}")


if __name__ == "__main__":
    main()
