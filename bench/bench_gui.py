"""GUI responsiveness: time from dropping a 7-minute WIP on the window to the ranked list (and to the
waveform / whole-file loudness), against the engine's own ``Finder.query`` on the same file; and the
start-up time of a fresh process to an interactive window with the demo library listed.

    python bench/bench_gui.py [--features musicnn+dsp|dsp] [--runs 3] [--minutes 7] [--startup-only]

First a table of the start-up phases (a fresh process each run: imports, window construction, show,
and which heavy modules were already imported when the window showed).

User folders point into bench/out/gui_user (the demo library is built there once, a few minutes with
musicnn). Every drop uses a new file (different content), so no embedding cache hit flatters the numbers.
Offscreen Qt, no audio device (decoding for the waveform still runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import OUT, machine, table

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
USER = OUT / "gui_user"
for _var in ("DATA", "CACHE", "LOG", "CONFIG"):
    os.environ[f"TRANCE_FINDER_{_var}_DIR"] = str(USER / _var.lower())

STARTUP_PROBE = r"""
import sys, time
t0 = float(sys.argv[1])
from PySide6.QtCore import QTimer
from trance_finder.gui.app import create_main_window, ensure_app
app = ensure_app()
w = create_main_window(use_demo=True, player=None, demo_features=sys.argv[2] or None)
marks = {}
def shown():
    marks["shown"] = time.time() - t0
w.show()
QTimer.singleShot(0, shown)  # first turn of the event loop: the window is up and takes input
def loaded(_):
    marks["loaded"] = time.time() - t0
    QTimer.singleShot(0, app.quit)
w.modelLoaded.connect(loaded)
w.modelFailed.connect(lambda m: (print("failed", m), app.quit()))
app.exec()
print(f"RESULT {marks.get('shown', -1):.4f} {marks.get('loaded', -1):.4f}")
w.close()
"""


PHASE_PROBE = r"""
import sys, time
t0 = time.perf_counter()
marks = []
def mark(name):
    marks.append((name, time.perf_counter() - t0))
from PySide6.QtWidgets import QApplication
mark("import PySide6")
from trance_finder.gui.app import ensure_app
mark("import trance_finder.gui.app")
app = ensure_app()
mark("QApplication + theme")
from trance_finder.gui.main_window import MainWindow
mark("import main_window (and what it imports)")
w = MainWindow(use_demo=False, player=None, autostart=False)
mark("MainWindow() built")
w.show()
app.processEvents()
mark("window shown")
heavy = [m for m in ("torch", "faiss", "scipy", "pyloudnorm", "trance_finder.core.engine", "trance_finder.core.audio")
         if m in sys.modules]
for name, t in marks:
    print(f"PHASE {t:.4f} {name}")
print("HEAVY " + (",".join(heavy) or "-"))
w.close()
"""


def _phase_run(tree: Path) -> tuple[dict[str, float], str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", PHASE_PROBE], capture_output=True, text=True, env=env, cwd=str(tree))
    spawn = time.time() - t0
    phases, heavy = {}, ""
    for ln in out.stdout.splitlines():
        if ln.startswith("PHASE"):
            _tag, t, name = ln.split(" ", 2)
            phases[name] = float(t)
        elif ln.startswith("HEAVY"):
            heavy = ln.split(" ", 1)[1]
    if not phases:
        raise SystemExit(f"phase probe failed in {tree}:\n{out.stdout}\n{out.stderr[-2000:]}")
    phases["process exit (whole run)"] = spawn
    return phases, heavy


def startup_phases(runs: int, trees: list[Path]) -> None:
    """What runs before the window shows: fresh processes, trees interleaved (same load for each), the
    median time to each phase. ``trees``: source trees to compare (e.g. an older commit exported with
    ``git archive``); the first is this checkout."""
    results = {t: {} for t in trees}
    heavy = {}
    for _ in range(runs):
        for tree in trees:
            phases, heavy[tree] = _phase_run(tree)
            for name, t in phases.items():
                results[tree].setdefault(name, []).append(t)
    names = list(results[trees[0]])
    rows = []
    for name in names:
        row = [name]
        for tree in trees:
            values = results[tree].get(name)
            row.append(f"{statistics.median(values):.2f}" if values else "-")
        rows.append(row)
    labels = [f"{t.name or t} (s)" for t in trees]
    print(f"\nStart-up phases, {runs} fresh processes per tree (median s since interpreter start) on {machine()}\n")
    print(table(["phase", *labels], rows))
    for tree in trees:
        print(f"heavy modules imported when the window shows ({tree.name}): {heavy[tree]}")


def make_wips(folder: Path, minutes: float, runs: int, sr: int = 22050) -> list[Path]:
    """``runs`` different 7-minute WIPs: a 30 s synthetic WIP render tiled, each at its own level."""
    import numpy as np
    import soundfile as sf

    from trance_finder import synth

    folder.mkdir(parents=True, exist_ok=True)
    style = synth.sample_style("uplifting", np.random.default_rng(11), seed=11)
    base = synth.render_wip(style, seconds=30.0, sr=sr, gain_db=-9.0)
    reps = int(np.ceil(minutes * 60 * sr / base.shape[1]))
    long = np.tile(base, (1, reps))[:, : int(minutes * 60 * sr)]
    paths = []
    for i in range(2 * runs):  # the second half for the engine-only comparison
        path = folder / f"wip_{minutes:g}min_{i}.wav"
        sf.write(str(path), (long * 10 ** (-0.5 * i / 20)).T, sr, subtype="PCM_16")
        paths.append(path)
    return paths


def wait(app, predicate, timeout=600.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.001)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=7.0)
    ap.add_argument("--compare-tree", action="append", default=[],
                    help="another source tree to time the start-up phases of (e.g. git archive of an older commit)")
    ap.add_argument("--startup-only", action="store_true",
                    help="only the start-up phases (what runs before the window shows); no demo, no drops")
    args = ap.parse_args()
    trees = [Path(__file__).resolve().parent.parent] + [Path(t).resolve() for t in args.compare_tree]
    startup_phases(args.runs, trees)
    if args.startup_only:
        return

    from trance_finder.core.backbones import availability
    from trance_finder.core.extract import DEFAULT_FEATURES

    features = args.features or (DEFAULT_FEATURES if availability("musicnn")[0] else "dsp")
    from trance_finder.core.progress import run_to_end
    from trance_finder.demo import ensure_demo

    t = time.monotonic()
    run_to_end(ensure_demo(device="cpu", features=features))
    print(f"demo library ready ({features}, {time.monotonic() - t:.0f} s)", flush=True)
    wips = make_wips(OUT / "gui_wips", args.minutes, args.runs)

    # -- start-up: a fresh process each time (imports included)
    shown, loaded = [], []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", STARTUP_PROBE, repr(time.time()), features],
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")]
        if not line:
            raise SystemExit(f"start-up probe failed:\n{out.stdout}\n{out.stderr[-2000:]}")
        s, lo = map(float, line[0].split()[1:])
        shown.append(s)
        loaded.append(lo)

    # -- drop to ranked list, in one window
    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    from trance_finder.gui.app import create_main_window, ensure_app

    app = ensure_app()
    w = create_main_window(use_demo=True, player=None, demo_features=features)
    w.show()
    wait(app, lambda: w.finder is not None)
    ranked, decoded = [], []
    for path in wips[: args.runs]:
        done = {}
        w.queryFinished.connect(lambda _o, d=done: d.setdefault("ranked", time.perf_counter()))
        w.wipDecoded.connect(lambda _a, d=done: d.setdefault("decoded", time.perf_counter()))
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        target = w.table.viewport()
        pos = QPoint(10, 10)
        t0 = time.perf_counter()
        QApplication.sendEvent(target, QDragEnterEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
        QApplication.sendEvent(target, QDropEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
        wait(app, lambda d=done: "ranked" in d and "decoded" in d)
        ranked.append(done["ranked"] - t0)
        decoded.append(done["decoded"] - t0)
        w.queryFinished.disconnect()
        w.wipDecoded.disconnect()
    finder = w.finder
    engine_runs = []
    for path in wips[args.runs:]:
        t0 = time.perf_counter()
        finder.query(str(path), k=10)
        engine_runs.append(time.perf_counter() - t0)
    engine = statistics.median(engine_runs)
    w.close()

    med = statistics.median
    rows = [
        [f"drop -> ranked list ({args.minutes:g}-min WIP, 22.05 kHz)", f"{med(ranked):.2f}",
         f"{min(ranked):.2f}-{max(ranked):.2f}", f"{med(ranked) / engine:.2f}x engine"],
        ["drop -> waveform + whole-file LUFS", f"{med(decoded):.2f}", f"{min(decoded):.2f}-{max(decoded):.2f}", "-"],
        ["Finder.query alone (new files of the same kind, no GUI)", f"{engine:.2f}",
         f"{min(engine_runs):.2f}-{max(engine_runs):.2f}", "1.00x"],
        ["start-up: process start -> window shown", f"{med(shown):.2f}", f"{min(shown):.2f}-{max(shown):.2f}", "-"],
        ["start-up: process start -> demo library listed", f"{med(loaded):.2f}", f"{min(loaded):.2f}-{max(loaded):.2f}",
         "-"],
    ]
    print(f"\nGUI timings, {features}, {args.runs} runs (median, range) on {machine()}\n")
    print(table(["measurement", "median s", "range s", "ratio"], rows))


if __name__ == "__main__":
    main()
