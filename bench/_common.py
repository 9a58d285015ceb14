"""Shared bench helpers: the 215-track synthetic benchmark library, machine description, tables."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OUT = Path(__file__).resolve().parent / "out"


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = f", CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return (f"{cpu}, {os.cpu_count()} cores{gpu}, torch {torch.__version__} "
            f"({torch.get_num_threads()} thread), Python {platform.python_version()}")


def benchmark_library() -> Path:
    """bench/out/benchmark_library: 215 synthetic tracks (8 styles, 30 s), built once."""
    from trance_finder import synth
    from trance_finder.core.progress import run_to_end

    folder = OUT / "benchmark_library"
    run_to_end(synth.benchmark_library(folder, seed=0))
    return folder


def table(headers: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)
