"""The window with 10,000 references: start (window + model + table + map), a query's ranking shown,
map draw, filters, Explore slider latency and the searchable anchor picker.

    nice -n 5 python bench/bench_gui_10k.py [--n 10000] [--repeat 5]

A tiny "dsp" model is trained once on 8 synthetic tracks (bench/out/gui10k); its index is then replaced
by ``--n`` synthetic references built directly (random vectors around the model's cluster centres,
realistic records with versions and folders), saved as one model-folder version. A query's audio
analysis does not depend on the library size (see bench_gui.py for the drop-to-list time); here the
query is the ranking of all references against a WIP vector and showing it (table, map, header).
Offscreen Qt, no audio device. Times are medians (milliseconds) of ``--repeat`` runs in one process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
from _common import OUT, machine, table

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
BASE = OUT / "gui10k"
for _var in ("DATA", "CACHE", "LOG", "CONFIG"):
    os.environ[f"TRANCE_FINDER_{_var}_DIR"] = str(BASE / "user" / _var.lower())


def trained_model() -> str:
    from trance_finder import synth
    from trance_finder.core.engine import TrainOptions, train_library
    from trance_finder.core.progress import run_to_end
    from trance_finder.core.training import TrainConfig

    model = BASE / "small_model" / "embedding_model.pt"
    if model.exists():
        return str(model)
    refs = BASE / "small_refs"
    run_to_end(synth.make_library(refs, n_per_family=2, families=["uplifting", "psy", "progressive", "balearic"],
                                  seconds=8.0, sr=22050, seed=3))
    opts = TrainOptions(references=str(refs), output_model=str(model), output_index=str(model.parent / "index.faiss"),
                        features="dsp", n_views=0, eval_folds=0, train=TrainConfig(epochs=1))
    run_to_end(train_library(opts))
    return str(model)


def synthetic_index(model_path, out_dir: Path, n: int, seed: int = 0) -> tuple[str, str]:
    """``n`` synthetic references for the model at ``model_path`` (as tests/test_gui_library.py)."""
    from trance_finder.core.engine import save_model_files
    from trance_finder.core.head import EmbeddingModel, unit_rows
    from trance_finder.core.index import SimilarityIndex

    model = EmbeddingModel.load(model_path)
    names = list(model.meta["clusters"])
    centroids = np.asarray(model.meta["cluster_centroids"], np.float32)
    rng = np.random.default_rng(seed)
    cl = rng.integers(0, len(names), n)
    vectors = unit_rows(centroids[cl] + 0.3 * rng.standard_normal(centroids[cl].shape).astype(np.float32))
    versions = ["", " (Extended Mix)", " (Radio Edit)", " (Original Mix)"]
    records = []
    for i in range(n):
        title = f"Artist {i % 997} - Title {i // 3}{versions[i % 4]}"
        records.append({"path": str(out_dir / "refs" / f"label_{i % 50:02d}" / f"{title}.wav"), "title": title,
                        "duration": 420.0, "tempo": float(128 + i % 20), "energy": 0.5, "lufs": -8.0,
                        "cluster": names[cl[i]], "label": "", "x": float(rng.uniform(-1, 1)),
                        "y": float(rng.uniform(-1, 1))})
    model.meta["references"] = ""
    index = SimilarityIndex.build(vectors.astype(np.float32), records,
                                  {"model_fingerprint": model.fingerprint(), "features": model.meta["features"]})
    shutil.rmtree(out_dir, ignore_errors=True)
    save_model_files(out_dir / "embedding_model.pt", out_dir / "similarity_index.faiss", index, model=model)
    return str(out_dir / "embedding_model.pt"), str(out_dir / "similarity_index.faiss")


def wait(app, predicate, timeout=120.0) -> float:
    t = time.perf_counter()
    while not predicate():
        app.processEvents()
        if time.perf_counter() - t > timeout:
            raise SystemExit("timed out")
        time.sleep(0.0005)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"Machine: {machine()}\n")
    model_path = trained_model()
    paths = synthetic_index(model_path, BASE / f"index_{args.n}", args.n)

    from trance_finder.core.filters import RankFilter
    from trance_finder.gui.app import create_main_window, ensure_app
    from trance_finder.gui.tasks import Ranking

    app = ensure_app()
    rows: list[list] = []
    starts, windows = [], []
    for _ in range(max(1, args.repeat // 2)):
        t = time.perf_counter()
        w = create_main_window(model_path=paths[0], index_path=paths[1], use_demo=False, player=None)
        w.resize(1600, 950)
        w.show()
        wait(app, lambda w=w: w.finder is not None and w.table.neighbours.rowCount() == args.n)
        app.processEvents()
        starts.append(time.perf_counter() - t)
        windows.append(w)
    for w in windows[:-1]:
        w.close()
    w = windows[-1]
    rows.append([f"start: window + load model/index + table + map + Explore ({args.n} refs)",
                 statistics.median(starts)])
    finder = w.finder
    rng = np.random.default_rng(5)

    def med(fn, repeat=args.repeat):
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            app.processEvents()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    def show_ranking():
        v = finder.vectors[int(rng.integers(len(finder.vectors)))]
        r = Ranking.of(finder, v)
        w.table.neighbours.set_ranking(r.order, r.similarity)
        w.map.set_query(finder.place(v), r.order[:5].tolist())
        w.table.viewport().repaint()

    rows.append(["query shown: rank all + table top 10 + map lines (no audio analysis)", med(show_ranking)])

    def map_draw():
        w.map.set_library(finder.tracks, finder.cluster_names)
        w.map.plot_widget.viewport().repaint()

    rows.append(["map: set all points + legend + repaint", med(map_draw)])
    rows.append(["map: repaint only", med(lambda: w.map.plot_widget.viewport().repaint())])
    w.k_spin.setValue(50)
    for name, f in (("filter: tempo range", RankFilter(tempo_min=130, tempo_max=136)),
                    ("filter: exclude a folder word", RankFilter(exclude=("label_07",))),
                    ("filter: tempo + cluster + exclude + collapse versions",
                     RankFilter(tempo_min=130, tempo_max=136, clusters=frozenset(finder.cluster_names[:1]),
                                exclude=("label_07",), collapse_versions=True))):
        def apply(f=f):
            w.state.set_filters(RankFilter())
            w.state.set_filters(f)
            w.table.viewport().repaint()

        rows.append([f"{name} -> table updated (clear + set)", med(apply)])
    w.state.set_filters(RankFilter())
    w.table.neighbours.show_browse()
    rows.append([f"browse mode: all {args.n} by title (set_library)",
                 med(lambda: w.table.neighbours.set_library(finder.tracks, finder.cluster_names))])
    rows.append(["browse + exclude filter over every reference",
                 med(lambda: (w.state.set_filters(RankFilter()), w.state.set_filters(RankFilter(exclude=("title 1",)))))])
    w.state.set_filters(RankFilter())

    # Explore: slider step to the blend's neighbours listed (LatestOnly worker)
    interp = w.interp
    slider = interp.rows[0].slider
    lat = []
    for i in range(args.repeat * 2):
        before = interp.worker.computed
        t = time.perf_counter()
        slider.setValue(20 + (i * 7) % 60)
        wait(app, lambda b=before: interp.worker.computed > b and not interp.worker.busy)
        lat.append(time.perf_counter() - t)
    rows.append(["Explore slider step -> blend neighbours listed", statistics.median(lat)])
    combo = interp.rows[0].combo
    rows.append(["anchor picker: refill with every reference (wip_changed, all rows)", med(interp.wip_changed)])

    def search():
        combo.finder.setCompletionPrefix(f"title {int(rng.integers(3000))}")
        combo.finder.completionCount()

    rows.append(["anchor picker: one keystroke of search", med(search)])
    w.close()
    print(f"The window with {args.n:,} references (offscreen, median of {args.repeat}):\n")
    print(table(["operation", "milliseconds"], [[name, f"{s * 1000:.1f}"] for name, s in rows]))


if __name__ == "__main__":
    main()
