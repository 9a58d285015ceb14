"""Query time for a 7-minute WIP, from file to ranked list (decode, windows, loudness, DNA, backbones,
head, search, cluster, map), plus model load time and the trained files' sizes.

    python bench/bench_query.py
"""

from __future__ import annotations

import os
import time

import numpy as np
import soundfile as sf
from _common import OUT, benchmark_library, machine, table

from trance_finder import synth
from trance_finder.core.engine import Finder, TrainOptions, train_library
from trance_finder.core.progress import run_to_end
from trance_finder.core.training import TrainConfig


def main() -> None:
    lib = benchmark_library()
    model_dir = OUT / "model"
    opts = TrainOptions(references=str(lib), output_model=str(model_dir / "embedding_model.pt"),
                        output_index=str(model_dir / "similarity_index.faiss"),
                        labels_csv=str(lib / "labels.csv"), eval_folds=0, cache_dir=str(OUT / "cache"),
                        train=TrainConfig(epochs=50))
    cached_before = sum(1 for _ in (OUT / "cache").rglob("*.npz")) if (OUT / "cache").exists() else 0
    t = time.perf_counter()
    run_to_end(train_library(opts))
    train_s = time.perf_counter() - t
    extracted = sum(1 for _ in (OUT / "cache").rglob("*.npz")) > cached_before
    train_label = ("train_library, empty cache: extract 215 x 30 s tracks + 4 augmented views each, profile, "
                   "50 epochs, index, map, save" if extracted else
                   "train_library, features cached: profile, 50 epochs, index, map, save")
    wip = OUT / "long" / "wip_7min_quiet.wav"
    if not wip.exists():
        wip.parent.mkdir(parents=True, exist_ok=True)
        style = synth.sample_style("psy", np.random.default_rng(7), seed=7)
        sf.write(str(wip), synth.render_wip(style, seconds=420.0, sr=44100, gain_db=-9.0).T, 44100)
    t = time.perf_counter()
    finder = Finder(opts.output_model, opts.output_index)
    load_s = time.perf_counter() - t
    finder.query(wip)  # warm-up (first-call allocations)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        result = finder.query(wip, k=10)
        times.append(time.perf_counter() - t)
    rows = [[train_label, f"{train_s:.1f}"],
            ["load model + index (Finder)", f"{load_s:.2f}"],
            ["query 7-min WIP (44.1 kHz stereo wav), file to ranked list, median of 3", f"{np.median(times):.2f}"]]
    print(f"Machine: {machine()}\n")
    print(table(["step", "seconds"], rows))
    sizes = [[p.name, f"{os.path.getsize(p) / 1e6:.2f}"] for p in sorted(model_dir.iterdir())]
    print("\n" + table(["file", "MB"], sizes))
    print(f"\nTop match: {result.neighbours[0].track['title']} ({result.neighbours[0].similarity:.2f}), "
          f"cluster {result.cluster} ({result.confidence:.2f})")


if __name__ == "__main__":
    main()
