"""Held-out retrieval quality and extraction/training cost per feature set on the 215-track synthetic
benchmark (8 styles, ground-truth style labels), raw backbone vs fine-tuned head.

    python bench/bench_quality.py [--features musicnn+dsp,musicnn,dsp] [--views 4] [--folds 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
from _common import OUT, benchmark_library, machine, table

from trance_finder.core.audio import find_audio_files
from trance_finder.core.cache import EmbeddingCache
from trance_finder.core.evaluation import held_out_evaluation, in_sample_metrics
from trance_finder.core.extract import FeatureExtractor
from trance_finder.core.head import Standardizer
from trance_finder.core.index import SimilarityIndex
from trance_finder.core.labels import read_labels_csv
from trance_finder.core.progress import run_to_end
from trance_finder.core.training import TrainConfig, TrainingSet, train_head


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", default="musicnn+dsp,musicnn,dsp")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--identity-weight", type=float, default=None)
    ap.add_argument("--lr", type=float, default=None)
    args = ap.parse_args()

    t0 = time.perf_counter()
    lib = benchmark_library()
    print(f"benchmark library ready in {time.perf_counter() - t0:.1f} s: {lib}")
    files = find_audio_files(lib)
    labels = read_labels_csv(lib / "labels.csv", lib)
    cache = EmbeddingCache(OUT / "cache")
    rows, speed_rows, results = [], [], {}
    for spec in args.features.split(","):
        ex = FeatureExtractor(spec, cache=cache)
        t = time.perf_counter()
        libf = run_to_end(ex.extract_library(files, n_views=args.views))
        extract_s = time.perf_counter() - t
        tracks = libf.tracks
        audio_s = sum(min(tr.duration, ex.plan.n_windows * ex.plan.window_seconds * 1.25) for tr in tracks)
        speed_rows.append([spec, len(tracks), args.views, f"{extract_s:.1f}",
                           f"{audio_s * (1 + args.views) / max(extract_s, 1e-9):.1f}"
                           if extract_s > 1 else "cached"])
        data = TrainingSet.from_tracks(tracks, labels, ex.names, args.views)
        cfg = TrainConfig(epochs=args.epochs)
        if args.identity_weight is not None:
            cfg.identity_weight = args.identity_weight
        if args.lr is not None:
            cfg.lr = args.lr
        t = time.perf_counter()
        model = run_to_end(train_head(data, cfg))
        train_s = time.perf_counter() - t
        originals = np.stack([tr.joined(ex.names) for tr in tracks])
        y = np.array([labels[tr.path] for tr in tracks])
        vecs = model.embed(originals)
        if spec == args.features.split(",")[0]:
            np.save(OUT / "index_vectors.npy", vecs)  # real index vectors for bench_search.py
        with tempfile.TemporaryDirectory() as tmp:
            model.save(f"{tmp}/m.pt")
            SimilarityIndex.build(vecs, [{"path": tr.path} for tr in tracks]).save(f"{tmp}/i.faiss")
            import os

            model_mb = os.path.getsize(f"{tmp}/m.pt") / 1e6
            index_mb = os.path.getsize(f"{tmp}/i.faiss") / 1e6
        ins_ft = in_sample_metrics(vecs, y)
        ins_raw = in_sample_metrics(Standardizer.fit(data.X, data.blocks)(originals), y)
        held = run_to_end(held_out_evaluation(data, cfg, args.folds))
        results[spec] = {"held_out": held, "in_sample": {"finetuned": ins_ft, "raw": ins_raw},
                         "train_seconds": train_s, "model_mb": model_mb, "index_mb": index_mb,
                         "extract_seconds": extract_s}
        for kind, h, i in (("raw", held["raw"], ins_raw), ("fine-tuned", held["finetuned"], ins_ft)):
            rows.append([spec, kind, h["precision_at_5"], h["silhouette"], h["nmi"], i["precision_at_5"],
                         f"{train_s:.1f}" if kind == "fine-tuned" else "-",
                         f"{model_mb:.2f} / {index_mb:.2f}" if kind == "fine-tuned" else "-"])
    print(f"\nMachine: {machine()}")
    print(f"Benchmark: {len(files)} synthetic tracks, 8 styles, labels = style; {args.views} augmented views; "
          f"held-out = {args.folds}-fold (train on k-1 folds, held-out tracks query the others)\n")
    print(table(["features", "vectors", "held-out P@5", "held-out silhouette", "held-out NMI", "in-sample P@5",
                 f"train {args.epochs} ep (s)", "model / index MB"], rows))
    print("\nExtraction (first run fills the cache; later runs read it):\n")
    print(table(["features", "tracks", "views", "seconds", "audio s / s"], speed_rows))
    (OUT / "bench_quality.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
