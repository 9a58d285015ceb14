"""Screenshots of Sections (A/B with an active section loop) and Compare in the real window.

    python scripts/screenshots_structure.py --all        # 1920x1080 and 1280x720, each under Xvfb + openbox

Uses the demo library and the demo WIP (user folders in ``--workdir``, default bench/out/gui_user where
bench_gui / bench_structure_gui already rendered the demo audio), a player on a silent stand-in output
stream (so the loop gains show), jumps to the WIP's first drop with an 8-bar loop and saves, per size:

  sections_loop_WxH.png   the whole window: both waveforms with sections, the looped drops, gains
  compare_WxH.png         the whole window with the Compare tab (top 5, drops)

and at 1920x1080 also ``sections_ab.png`` (the A/B area alone) and ``compare_tab.png`` (the views area).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")


class SilentStream:
    """Stands in for the sound card: accepts the callback, never calls it (nothing plays)."""

    def __init__(self, samplerate, channels, blocksize, callback):
        self.callback = callback

    def start(self):
        pass

    def stop(self):
        pass

    def close(self):
        pass


from screenshots import _save, _settle, _wait  # noqa: E402  (one copy of the Qt wait/grab helpers)


def run_all(args) -> int:
    for size in ("1920x1080", "1280x720"):
        inner = (f"openbox & sleep 1; {sys.executable} {Path(__file__).resolve()} --size {size} "
                 f"--workdir {args.workdir} --out {args.out}; code=$?; kill %1; exit $code")
        code = subprocess.call(["xvfb-run", "-a", "-s", f"-screen 0 {size}x24", "bash", "-c", inner])
        if code:
            return code
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--workdir", default=str(ROOT / "bench" / "out" / "gui_user"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args(argv)
    if args.all:
        return run_all(args)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for var in ("DATA", "CACHE", "LOG", "CONFIG"):
        os.environ[f"TRANCE_FINDER_{var}_DIR"] = str(Path(args.workdir) / var.lower())
    out = Path(args.out)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    tag = f"{size[0]}x{size[1]}"

    from trance_finder.gui.app import create_main_window, ensure_app
    from trance_finder.playback.player import Player

    app = ensure_app()
    player = Player(samplerate=44100, channels=2, blocksize=1024, stream_factory=SilentStream)
    w = create_main_window(use_demo=True, player=player)
    w.showMaximized()
    _settle(app, 0.6)
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        w.resize(*size)
    _wait(app, lambda: w.finder is not None, 900, "the demo model")
    _wait(app, lambda: w._demo_render is None or not w._demo_render.running, 1800, "the demo audio")
    w.try_demo_wip()
    ab = w.structure.ab
    _wait(app, lambda: w.query_outcome is not None and ab.sides["A"].sections is not None
          and ab.sides["B"].sections is not None and player.has_source("B"), 600, "the WIP and its reference")
    secs = ab.sides["A"].sections.sections
    drop = next((i for i, s in enumerate(secs) if s.label == "drop"), len(secs) - 1)
    ab.jump_to_section(drop + 1)
    player.seek(player.loop(player.active)[0] + 0.4 * (player.loop(player.active)[1] - player.loop(player.active)[0]))
    player.pause()
    ab.refresh()
    _settle(app, 0.8)
    _save(w, out / f"sections_loop_{tag}.png")
    if tag == "1920x1080":
        _save(ab, out / "sections_ab.png")
    w.views.setCurrentWidget(w.structure.compare_scroll)
    _wait(app, lambda: w.structure.compare.result is not None, 60, "Compare")
    _settle(app, 0.8)
    _save(w, out / f"compare_{tag}.png")
    if tag == "1920x1080":
        _save(w.right_split, out / "compare_tab.png")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
