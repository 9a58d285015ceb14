"""Build the demo assets that ship with the app (``models/demo/``): the trained demo model, its index
(paths relative to the demo library folder), the profile and a stamp. The app opens them at first
start without training anything; only the demo *audio* is rendered, in the background, for playback.

    python scripts/build_demo_assets.py [--features musicnn+dsp] [--out models/demo] [--workdir DIR]

Re-run it whenever the model or index format changes (``trance_finder.demo.DEMO_VERSION`` says which
assets the app accepts). Everything is built in a throw-away folder (``--workdir``, a temporary one
by default), never in your own user folders. The demo is deterministic (fixed seeds), so the same
code gives the same library. It prints how long each step took.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", default=None, help="feature set (default: the app's default)")
    ap.add_argument("--out", default=str(ROOT / "models" / "demo"))
    ap.add_argument("--workdir", default=None, help="build folder (default: a temporary folder)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tf_demo_build_"))
    for var in ("DATA", "CACHE", "LOG", "CONFIG"):
        os.environ[f"TRANCE_FINDER_{var}_DIR"] = str(work / var.lower())

    from trance_finder import demo
    from trance_finder.core.progress import run_to_end

    t0 = time.monotonic()
    last = [0.0]

    def report(p) -> None:
        now = time.monotonic()
        if now - last[0] > 5 or p.done == p.total:
            last[0] = now
            print(f"  [{now - t0:6.0f} s] {p.stage}: {p.done}/{p.total} {p.message}", flush=True)

    paths = run_to_end(demo.ensure_demo(device=args.device, rebuild=True, features=args.features), report)
    built = time.monotonic() - t0
    out = demo.export_assets(paths, Path(args.out))
    print(f"\ndemo assets written to {out} in {built:.0f} s "
          f"({json.loads((out / demo.STAMP_NAME).read_text())['features']}):")
    for f in sorted(out.iterdir()):
        print(f"  {f.name:28s} {f.stat().st_size / 1024:8.1f} KiB")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
