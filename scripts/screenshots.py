"""Render the app as a new user sees it and save PNGs into docs/screenshots/.

    xvfb-run -s "-screen 0 1920x1080x24" python scripts/screenshots.py --size 1920x1080
    xvfb-run -s "-screen 0 1280x720x24" python scripts/screenshots.py --size 1280x720 --no-training

(``scripts/screenshots.py --all`` runs both under Xvfb + openbox itself.) Uses the demo library (the
shipped assets in models/demo when they fit, else built once into ``--workdir``, which stands in for the
user folders, so yours are never touched), loads the demo WIP, opens the Library & training panel and
saves, per screen size WxH:

  main_WxH.png            the whole window, maximised: WIP analysed, ranked references, A/B, map, Explore,
                          the Library & training panel open
  first_start_WxH.png     the first window of a fresh profile (the demo from the shipped assets)

and at 1920x1080 also ``map_interpolation.png`` (map + Explore), ``training_panel.png`` (mid-run) and the
README's ``main_window.png`` / ``first_start.png`` (copies of the 1920x1080 ones).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
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
    print(f"  saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
          f"({widget.width()}x{widget.height()})")


def _maximise(app, w, size) -> None:
    w.showMaximized()
    _settle(app, 0.6)
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        w.resize(*size)  # no window manager: the size the screen would give
        _settle(app, 0.3)


def run_all(args) -> int:
    """Both sizes, each under its own Xvfb screen with openbox (the window manager maximises)."""
    for size, extra in (("1920x1080", []), ("1280x720", ["--no-training"])):
        inner = (f"openbox & sleep 1; {sys.executable} {Path(__file__).resolve()} --size {size} "
                 f"--workdir {args.workdir} --out {args.out} {' '.join(extra)}; code=$?; kill %1; exit $code")
        cmd = ["xvfb-run", "-a", "-s", f"-screen 0 {size}x24", "bash", "-c", inner]
        print("$", " ".join(cmd[:5]), "...", flush=True)
        code = subprocess.call(cmd)
        if code:
            return code
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--all", action="store_true", help="both sizes, each under Xvfb + openbox")
    ap.add_argument("--no-training", action="store_true", help="skip the mid-run training screenshot")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "trance_finder_screenshots"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args(argv)
    if args.all:
        return run_all(args)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    workdir, out = Path(args.workdir), Path(args.out)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    tag = f"{size[0]}x{size[1]}"

    # 1) first start on a fresh profile: the shipped demo opens at once
    shutil.rmtree(workdir / "fresh", ignore_errors=True)
    _env(workdir, fresh=True)
    from trance_finder.gui.app import create_main_window, ensure_app

    app = ensure_app()
    t0 = time.monotonic()
    w = create_main_window(use_demo=True, player=None)
    _maximise(app, w, size)
    _wait(app, lambda: w.finder is not None, 900, "the demo model")
    print(f"first start: demo listed {time.monotonic() - t0:.1f} s after the window was made")
    _settle(app, 0.5)
    _save(w, out / f"first_start_{tag}.png")
    if tag == "1920x1080":
        _save(w, out / "first_start.png")  # the name the README uses
    w.close()
    _settle(app, 0.2)
    shutil.rmtree(workdir / "fresh", ignore_errors=True)

    # 2) the working window: demo audio rendered once in the work folder, the demo WIP analysed
    _env(workdir)
    shutil.rmtree(workdir / "user" / "config", ignore_errors=True)  # default layout, not the last run's
    from trance_finder import paths as app_paths

    shutil.rmtree(app_paths.user_model_dir(), ignore_errors=True)  # show the demo, not an older run's model
    w = create_main_window(use_demo=True, player=None)
    _maximise(app, w, size)
    _wait(app, lambda: w.finder is not None, 900, "the demo model")
    _wait(app, lambda: w._demo_render is None or not w._demo_render.running, 900, "the demo audio")
    w.try_demo_wip()
    _wait(app, lambda: w.query_outcome is not None and w.wip_audio is not None and w.ref_audio is not None,
          300, "the query")
    w.wave_a.set_fraction(0.38)
    w.wave_b.set_fraction(0.38)
    panel = w.interp
    _wait(app, lambda: panel.last_outcome is not None, 60, "the first blend")
    if len(panel.sliders) >= 2:
        panel.sliders[0].setValue(70)
        panel.sliders[1].setValue(30)
    _wait(app, lambda: panel.last_outcome is not None and panel.last_outcome.request_id == panel.request_id,
          60, "the blend")
    w.show_training()
    w.training.set_values({"references": str(app_paths.demo_library_dir())})
    _wait(app, lambda: "audio files" in w.training.summary.text(), 60, "the folder summary")
    _settle(app, 0.8)
    _save(w, out / f"main_{tag}.png")
    if tag == "1920x1080":
        _save(w, out / "main_window.png")  # the name the README uses
    if args.no_training:
        w.close()
        return 0
    w.dock.hide()
    _settle(app, 0.3)
    _save(w.right_split, out / "map_interpolation.png")

    # 3) the training panel mid-run (dsp features: quick), grabbed from the progress signal, then cancelled
    w.show_training()
    w.training.set_values({"features": "dsp", "epochs": 40, "n_views": 2, "eval_folds": 3, "device": "cpu"})
    grabbed = []

    def on_progress(p):
        if not grabbed and p.stage == "train" and p.done >= 16:
            grabbed.append(True)
            _save(w, out / "training_panel.png")
            w.training.cancel_training()

    w.training.progress.connect(on_progress)
    w.training.start_training()
    _wait(app, lambda: not w.training.running, 900, "training to stop")
    if not grabbed:
        raise SystemExit("training ended before the mid-run screenshot")
    w.close()
    _settle(app, 0.2)
    shutil.rmtree(app_paths.user_model_dir(), ignore_errors=True)
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
