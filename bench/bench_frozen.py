"""The frozen app: build time, bundle size, and start-up / self-test timings against a source checkout.

    python bench/bench_frozen.py [--build] [--runs 2] [--dist dist/TranceFinder] [--no-source]

``--build`` rebuilds ``dist/TranceFinder`` first (``pyinstaller --noconfirm --clean trance_finder.spec``,
at low priority) and times it; without it the existing build is measured, and the build time is taken
from ``build/build_exe.json`` when ``scripts/build_exe.sh`` wrote one. Then it runs the frozen
``TranceFinder --self-test`` and ``python -m trance_finder --self-test`` ``--runs`` times each
(offscreen Qt) and prints markdown tables: the bundle (size on disk, apparent size, files, largest
parts) and per-step seconds, frozen vs source, best of the runs.

"Start-up to window" is the sum of the time to the self-test's first line (bootloader, Python,
``trance_finder``), the numeric-stack step (numpy / scipy / torch / faiss / scikit-learn imports) and
the main window step's "window ready" time (PySide6 + GUI imports, window built and shown): what
opening the app costs before any user data is read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEP = re.compile(r"^\[(?P<tag> OK |FAIL|SKIP)\] (?P<title>.+?) — (?P<detail>.*) \((?P<secs>\d+\.\d) s\)$")
READY = re.compile(r"window ready in (\d+\.\d+) s")


def build(dist: Path) -> float:
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
           "--distpath", str(dist.parent), str(ROOT / "trance_finder.spec")]
    if os.name == "posix":
        cmd = ["nice", "-n", "10", *cmd]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.perf_counter() - t0


def folder_sizes(folder: Path) -> tuple[int, int, int]:
    """(bytes on disk, apparent bytes, files); links are not followed."""
    disk = apparent = files = 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            p = os.path.join(root, name)
            st = os.lstat(p)
            files += 1
            apparent += st.st_size
            disk += getattr(st, "st_blocks", (st.st_size + 4095) // 4096 * 8) * 512
    return disk, apparent, files


def largest_parts(folder: Path, n: int = 8) -> list[tuple[str, int]]:
    inner = folder / "_internal" if (folder / "_internal").is_dir() else folder
    parts = []
    for child in inner.iterdir():
        size = folder_sizes(child)[1] if child.is_dir() else child.lstat().st_size
        parts.append((child.name, size))
    exe = [c for c in folder.iterdir() if c.is_file()]
    parts += [(f"{c.name} (executable + PYZ archive)", c.stat().st_size) for c in exe]
    return sorted(parts, key=lambda x: -x[1])[:n]


def run_self_test(cmd: list[str], timeout: float = 900) -> dict:
    """Run one self-test; returns step seconds, time to the first line and the total wall time."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    env.pop("TRANCE_FINDER_SELFTEST_FAIL", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, encoding="utf-8", errors="replace")
    first = None
    steps: dict[str, float] = {}
    ready = None
    ok = True
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        lines.append(line)
        if first is None:
            first = time.perf_counter() - t0
        m = STEP.match(line)
        if m:
            steps[m["title"]] = float(m["secs"])
            ok &= m["tag"] == " OK "
            r = READY.search(m["detail"])
            if r:
                ready = float(r.group(1))
    code = proc.wait(timeout=timeout)
    wall = time.perf_counter() - t0
    return {"first_line": first, "steps": steps, "ready": ready, "wall": wall, "ok": ok and code == 0,
            "code": code, "lines": lines}


def startup(r: dict) -> float | None:
    if r["first_line"] is None or r["ready"] is None:
        return None
    return r["first_line"] + r["steps"].get("numeric stack", 0.0) + r["ready"]


def best(runs: list[dict], key) -> float | None:
    vals = [v for v in (key(r) for r in runs) if v is not None]
    return min(vals) if vals else None


def fmt(x: float | None, unit: str = "s") -> str:
    return "n/a" if x is None else f"{x:.2f} {unit}"


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.2f}x"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", action="store_true", help="rebuild the app first and time the build")
    ap.add_argument("--dist", default=str(ROOT / "dist" / "TranceFinder"))
    ap.add_argument("--runs", type=int, default=2, help="self-test runs per variant (best is reported)")
    ap.add_argument("--no-source", action="store_true", help="skip the source-checkout comparison")
    args = ap.parse_args()
    dist = Path(args.dist).resolve()

    build_s, build_note = None, ""
    if args.build:
        build_s, build_note = build(dist), "measured now"
    else:
        info = ROOT / "build" / "build_exe.json"
        if info.is_file():
            build_s, build_note = float(json.loads(info.read_text())["seconds"]), "from build/build_exe.json"
    exe = dist / ("TranceFinder.exe" if os.name == "nt" else "TranceFinder")
    if not exe.is_file():
        print(f"no built app at {exe}: run scripts/build_exe.sh or pass --build", file=sys.stderr)
        return 1

    disk, apparent, files = folder_sizes(dist)
    try:
        import torch

        torch_kind = f"torch {torch.__version__} ({'CUDA ' + torch.version.cuda if torch.version.cuda else 'CPU'})"
    except ImportError:
        torch_kind = "torch ?"
    print(f"# Frozen app benchmark: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, {torch_kind}\n")
    print("| bundle | value |\n|---|---|")
    print(f"| build time | {fmt(build_s)} ({build_note or 'not built by this run'}) |")
    print(f"| size on disk (du) | {disk / 2**20:.0f} MiB |")
    print(f"| apparent size | {apparent / 2**20:.0f} MiB ({apparent / 1e9:.2f} GB) |")
    print(f"| files | {files} |")
    for name, size in largest_parts(dist):
        print(f"| &nbsp; {name} | {size / 2**20:.0f} MiB |")

    frozen = [run_self_test([str(exe), "--self-test"]) for _ in range(args.runs)]
    source = [] if args.no_source else [run_self_test([sys.executable, "-m", "trance_finder", "--self-test"])
                                        for _ in range(args.runs)]
    for name, runs in (("frozen", frozen), ("source", source)):
        bad = [r for r in runs if not r["ok"]]
        if bad:
            print(f"\n{name} self-test did not pass (exit {bad[0]['code']}):\n" + "\n".join(bad[0]["lines"]))

    titles = list(dict.fromkeys(t for r in frozen + source for t in r["steps"]))
    print(f"\n| self-test (best of {args.runs}) | frozen | source | frozen / source |\n|---|---|---|---|")
    rows = [("time to first line (start-up)", lambda r: r["first_line"]),
            ("start-up to window (first line + numeric + window ready)", startup),
            ("main window: window ready", lambda r: r["ready"])]
    rows += [(f"step: {t}", lambda r, t=t: r["steps"].get(t)) for t in titles]
    rows += [("whole self-test (wall)", lambda r: r["wall"])]
    for label, key in rows:
        f, s = best(frozen, key), best(source, key) if source else None
        print(f"| {label} | {fmt(f)} | {fmt(s)} | {ratio(f, s)} |")
    return 0 if all(r["ok"] for r in frozen + source) else 1


if __name__ == "__main__":
    sys.exit(main())
