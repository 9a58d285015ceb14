"""Render the app as a new user sees it and save PNGs into docs/screenshots/.

    python scripts/screenshots.py [--features musicnn+dsp|dsp] [--workdir DIR] [--out docs/screenshots]

Uses the built-in demo library (built once into ``--workdir``, which stands in for the user data and
cache folders, so your own are never touched and a second run is quick), loads the demo WIP and saves:

  first_start.png         the window on an empty profile while the demo library is being built
  main_window.png         a query loaded: ranked references, waveforms, tags, map, interpolation
  map_interpolation.png   the map with the WIP, its nearest references and the blend marker
  training_panel.png      the library & training panel in the middle of a run (live loss curve)

Offscreen (``QT_QPA_PLATFORM=offscreen``) unless a display is available; the grab is the same.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _env(workdir: Path, fresh: bool = False) -> None:
    base = workdir / ("fresh" if fresh else "user")
    for var in ("DATA", "CACHE", "LOG", "CONFIG"):
        os.environ[f"TRANCE_FINDER_{var}_DIR"] = str(base / var.lower())


def _wait(app, predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.01)


def _settle(app, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def _save(widget, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(path)):
        raise SystemExit(f"could not write {path}")
    print(f"  saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", default=None, help="demo feature set (default: musicnn+dsp when available)")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "trance_finder_screenshots"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args(argv)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    workdir, out = Path(args.workdir), Path(args.out)

    from trance_finder.core.backbones import availability
    from trance_finder.core.extract import DEFAULT_FEATURES

    features = args.features or (DEFAULT_FEATURES if availability("musicnn")[0] else "dsp")
    print(f"demo features: {features}; work folder: {workdir}")

    # 1) first start, empty profile: the demo library is being built
    import shutil

    shutil.rmtree(workdir / "fresh", ignore_errors=True)
    _env(workdir, fresh=True)
    from trance_finder.gui.app import create_main_window, ensure_app

    app = ensure_app()
    w = create_main_window(use_demo=True, player=None, demo_features=features)
    w.show()
    _wait(app, lambda: w.banner.bar.isVisible() and w.banner.bar.maximum() > 0 and w.banner.bar.value() >= 3,
          120, "the demo build to start")
    _settle(app, 0.3)
    _save(w, out / "first_start.png")
    w.close()
    _settle(app, 0.2)
    shutil.rmtree(workdir / "fresh", ignore_errors=True)

    # 2) the demo library, built once in the work folder
    _env(workdir)
    shutil.rmtree(workdir / "user" / "config", ignore_errors=True)  # default layout, not the last run's
    from trance_finder import paths as app_paths
    from trance_finder.cli import ConsoleProgress
    from trance_finder.core.progress import run_to_end
    from trance_finder.demo import demo_query_file, ensure_demo

    shutil.rmtree(app_paths.user_model_dir(), ignore_errors=True)  # show the demo, not an older run's model
    t0 = time.monotonic()
    run_to_end(ensure_demo(device="cpu", features=features), ConsoleProgress(quiet=True))
    wip = demo_query_file()
    print(f"demo ready in {time.monotonic() - t0:.0f} s")

    w = create_main_window(use_demo=True, player=None, demo_features=features)
    w.show()
    _wait(app, lambda: w.finder is not None, 120, "the demo model")
    w.open_query(wip)
    _wait(app, lambda: w.query_outcome is not None and w.wip_audio is not None and w.ref_audio is not None,
          120, "the query")
    w.wave_a.set_fraction(0.38)
    w.wave_b.set_fraction(0.38)
    panel = w.interp
    _wait(app, lambda: panel.last_outcome is not None, 60, "the first blend")
    if len(panel.sliders) >= 2:
        panel.sliders[0].setValue(70)
        panel.sliders[1].setValue(30)
    _wait(app, lambda: panel.last_outcome is not None and panel.last_outcome.request_id == panel.request_id,
          60, "the blend")
    _settle(app, 0.5)
    _save(w, out / "main_window.png")
    _save(w.right_split, out / "map_interpolation.png")

    # 3) the training panel mid-run (grabbed from the progress signal itself, then cancelled); the window
    #    grows by the dock's width, as a user with a wide screen would see it
    w.resize(w.width() + 440, w.height())
    _settle(app, 0.2)
    w.show_training()
    from trance_finder.demo import demo_paths

    w.training.set_values({"references": demo_paths()["library"], "features": features, "epochs": 40, "n_views": 4, "eval_folds": 4,
                           "device": "cpu"})
    grabbed = []

    def on_progress(p):
        if not grabbed and p.stage == "train" and p.done >= 16:
            grabbed.append(True)  # first: saving processes no events, but be safe against re-entry
            _save(w, out / "training_panel.png")
            w.training.cancel_training()

    w.training.progress.connect(on_progress)
    w.training.start_training()
    _wait(app, lambda: not w.training.running, 600, "training to stop")
    if not grabbed:
        raise SystemExit("training ended before the mid-run screenshot")
    w.close()
    _settle(app, 0.2)
    shutil.rmtree(app_paths.user_model_dir(), ignore_errors=True)
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
