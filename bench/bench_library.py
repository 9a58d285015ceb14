"""A living library: update time for 10 new files in a 215-track library, and index / query / filter
operations with 10,000 tracks in the index.

    nice -n 5 python bench/bench_library.py            # both parts
    python bench/bench_library.py --part 10k           # only the 10,000-track part (synthetic vectors)

Part 1 builds a 215-track synthetic library (8 s tracks, so the bench builds in minutes), trains a
model on it with the "dsp" features (fast), adds 10 new 30 s tracks and times ``update_index``
(scan, analysis of the 10 new files only, save as one model-folder version); it also times a scan
with nothing changed, an update where 10 files were only moved (recognised by content, nothing
analysed), and the analysis of the same 10 files with the default features (musicnn+dsp), which is
what an update with the default model adds per file.

Part 2 uses 10,000 synthetic unit vectors (1,024 dims, about the default model's index width) and
realistic records: index build / save / load, one search, a full ranking, filters with version
collapsing, placing a query on the map, one interpolation slider step, and a scan of a folder of
10,000 files against the index.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time

import numpy as np
import soundfile as sf
from _common import OUT, machine, table

from trance_finder import synth
from trance_finder.core.progress import run_to_end


def timed(fn, repeat=5):
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def render(path, family, seed, seconds):
    style = synth.sample_style(family, np.random.default_rng(seed), seed=seed)
    sf.write(str(path), np.asarray(synth.render_track(style, seconds, 22050)).T, 22050, subtype="PCM_16")


def part_update() -> list[list]:
    from trance_finder.core.engine import TrainOptions, load_finder_or_explain, train_library
    from trance_finder.core.extract import FeatureExtractor
    from trance_finder.core.library import scan, update_index
    from trance_finder.core.training import TrainConfig

    base = OUT / "library_bench"
    refs = base / "refs_215"
    families = list(synth.FAMILIES)
    refs.mkdir(parents=True, exist_ok=True)
    for i in range(215):
        path = refs / families[i % len(families)] / f"track_{i:03d}.wav"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            render(path, families[i % len(families)], 1000 + i, 8.0)
    new_dir = base / "new_10"
    new_dir.mkdir(exist_ok=True)
    for i in range(10):
        path = new_dir / f"new_{i:02d}.wav"
        if not path.exists():
            render(path, families[i % len(families)], 5000 + i, 30.0)
    for p in refs.rglob("new_*.wav"):  # from an earlier run
        p.unlink()
    model_dir = base / "model"
    shutil.rmtree(model_dir, ignore_errors=True)
    opts = TrainOptions(references=str(refs), output_model=str(model_dir / "embedding_model.pt"),
                        output_index=str(model_dir / "similarity_index.faiss"), features="dsp", n_views=0,
                        eval_folds=0, train=TrainConfig(epochs=5), cache_dir=str(base / "cache"))
    t = time.perf_counter()
    run_to_end(train_library(opts))
    train_s = time.perf_counter() - t

    finder = load_finder_or_explain(opts.output_model, opts.output_index)
    t = time.perf_counter()
    diff = scan(refs, finder.index)
    scan_s = time.perf_counter() - t
    assert diff.is_empty, diff.sentence

    dest = refs / "added"
    dest.mkdir(exist_ok=True)
    for p in sorted(new_dir.iterdir()):
        shutil.copy2(p, dest / p.name)
    finder = load_finder_or_explain(opts.output_model, opts.output_index)
    finder.extractor.cache = None  # a new file is never in the cache
    t = time.perf_counter()
    result = run_to_end(update_index(finder, opts.output_model, opts.output_index, refs))
    update_s = time.perf_counter() - t
    assert result.analysed == 10 and result.n_tracks == 225, result

    moved = refs / "moved"
    moved.mkdir(exist_ok=True)
    for p in sorted(dest.iterdir()):
        os.rename(p, moved / p.name)
    finder = load_finder_or_explain(opts.output_model, opts.output_index)
    t = time.perf_counter()
    result_moved = run_to_end(update_index(finder, opts.output_model, opts.output_index, refs))
    moved_s = time.perf_counter() - t
    assert result_moved.analysed == 0 and len(result_moved.diff.moved) == 10

    default = FeatureExtractor("musicnn+dsp", cache=None)
    files = sorted(new_dir.iterdir())
    default.analyse_file(files[0])  # model load / first-call warm-up
    t = time.perf_counter()
    for p in files:
        default.analyse_file(p)
    default_s = time.perf_counter() - t
    for p in moved.iterdir():
        p.unlink()
    return [
        ["train the 215-track library (dsp, 5 epochs; for reference)", f"{train_s:.1f}"],
        ["scan 215 tracks, nothing changed (stat only)", f"{scan_s:.3f}"],
        ["update: 10 new 30 s files (scan + analyse 10 with dsp + embed + save version)", f"{update_s:.2f}"],
        ["update: the 10 files moved to another folder (content ids, nothing analysed)", f"{moved_s:.2f}"],
        ["analysis of the same 10 files with the default features musicnn+dsp", f"{default_s:.2f}"],
    ]


def part_10k(n: int = 10_000, dim: int = 1024, with_layout: bool = False) -> list[list]:
    from trance_finder.core import map2d
    from trance_finder.core.engine import save_model_files
    from trance_finder.core.filters import FilterTable, RankFilter
    from trance_finder.core.head import EmbeddingModel, MusicEmbeddingNetwork, Standardizer, unit_rows
    from trance_finder.core.index import SimilarityIndex
    from trance_finder.core.interpolate import blend
    from trance_finder.core.library import scan

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, dim))
    vectors = unit_rows(centres[rng.integers(0, 40, n)] + 0.7 * rng.standard_normal((n, dim)))
    base = OUT / "library_bench" / "ten_k"
    shutil.rmtree(base, ignore_errors=True)
    refs = base / "refs"
    versions = ["", " (Extended Mix)", " (Radio Edit)", " (Original Mix)"]
    records = []
    for i in range(n):
        folder = refs / f"label_{i % 50:02d}"
        title = f"Artist {i % 997} - Title {i // 3}{versions[i % 4]}"
        records.append({"path": str(folder / f"{i:05d} {title}.wav"), "title": title, "duration": 420.0,
                        "tempo": float(128 + i % 20), "energy": 0.5, "lufs": -8.0, "cluster": f"C{i % 8}",
                        "label": f"L{i % 12}", "x": float(rng.uniform(-1, 1)), "y": float(rng.uniform(-1, 1)),
                        "content_id": f"{i:040x}", "size_bytes": 16, "mtime_ns": 0})
    rows = []
    build_s, index = timed(lambda: SimilarityIndex.build(vectors, records, {"model_fingerprint": "x", "features": "dsp"}), 3)
    rows.append(["build the index (exact inner product)", build_s])
    model = EmbeddingModel(MusicEmbeddingNetwork(16, 8), Standardizer(np.zeros(16, np.float32), np.ones(16, np.float32)),
                           {"embedding_dim": 8, "features": "dsp"})
    index.meta["model_fingerprint"] = model.fingerprint()
    folder = base / "model"
    save_s, _ = timed(lambda: save_model_files(folder / "embedding_model.pt", folder / "similarity_index.faiss",
                                               index, model=model), 3)
    rows.append(["save model + index + metadata as one version", save_s])
    load_s, loaded = timed(lambda: SimilarityIndex.load(folder / "similarity_index.faiss"), 3)
    rows.append(["load index + metadata (validated)", load_s])
    meta_mb = os.path.getsize(folder / "index_metadata.json") / 1e6
    q = unit_rows(vectors[17] + 0.5 * rng.standard_normal(dim))
    rows.append(["search top 10", timed(lambda: loaded.search(q, 10), 20)[0]])
    vecs = loaded.vectors()
    rank_s, order = timed(lambda: np.argsort(-(vecs @ np.asarray(q)), kind="stable"), 10)
    rows.append(["rank all 10,000 (cosine + sort)", rank_s])
    table_s, ftable = timed(lambda: FilterTable.of(loaded.tracks), 3)
    rows.append(["filter table (once per loaded index: folded titles, version keys)", table_s])
    flt = RankFilter(tempo_min=130, tempo_max=140, exclude=("label_07",), collapse_versions=True)
    filt_s, shown = timed(lambda: flt.apply(order, loaded.tracks, ftable), 5)
    rows.append([f"filter tempo + exclude folder + collapse versions ({len(shown)} rows left)", filt_s])
    plain_s, _ = timed(lambda: RankFilter(tempo_min=130, tempo_max=140).apply(order, loaded.tracks, ftable), 5)
    rows.append(["filter tempo range only", plain_s])
    xy = np.array([[t["x"], t["y"]] for t in loaded.tracks], np.float32)
    rows.append(["place a query on the map", timed(lambda: map2d.place(q, vecs, xy), 20)[0]])
    anchors = vecs[[1, 2, 3]]

    def slider_step():
        v = blend(anchors, [0.2, 0.5, 0.3])
        return loaded.search(v, 10), map2d.place(v, vecs, xy)

    rows.append(["interpolation slider step (blend + search + place)", timed(slider_step, 20)[0]])
    t = time.perf_counter()
    for rec in records:  # a folder of 10,000 (tiny) files matching the records
        p = rec["path"]
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as fh:
            fh.write(b"RIFF")
    for rec in loaded.tracks:
        st = os.stat(rec["path"])
        rec["size_bytes"], rec["mtime_ns"] = st.st_size, st.st_mtime_ns
    make_s = time.perf_counter() - t
    scan_s, diff = timed(lambda: scan(refs, loaded), 3)
    assert diff.is_empty, diff.sentence
    rows.append(["scan a folder of 10,000 files against the index (nothing changed)", scan_s])
    if with_layout:
        layout_s, _ = timed(lambda: map2d.layout(vecs), 1)
        rows.append(["map layout of 10,000 (training time only)", layout_s])
    del make_s
    shutil.rmtree(refs, ignore_errors=True)
    return rows, meta_mb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["all", "update", "10k"], default="all")
    ap.add_argument("--layout", action="store_true", help="also time map2d.layout of 10,000 vectors (minutes)")
    args = ap.parse_args()
    print(f"Machine: {machine()}\n")
    if args.part in ("all", "update"):
        print("Update without retraining, 215-track library (synthetic):\n")
        print(table(["step", "seconds"], part_update()))
        print()
    if args.part in ("all", "10k"):
        rows, meta_mb = part_10k(with_layout=args.layout)
        print("10,000 tracks in the index (synthetic 1,024-d vectors; median of repeats):\n")
        print(table(["operation", "milliseconds"], [[name, f"{s * 1000:.1f}"] for name, s in rows]))
        print(f"\nindex_metadata.json for 10,000 records without sections/mix: {meta_mb:.1f} MB")


if __name__ == "__main__":
    main()
