"""First training of a library from an empty cache, end to end, with the stage breakdown; then the
held-out quality of section search against whole-track search.

1. ``train_library`` on the corpus folder (default the development corpus, 216 tracks) with a fresh,
   empty feature cache: wall seconds per stage (scan, extract, profile/labels, train, held-out
   evaluation, guard, index, save) and in all. ``--views`` and ``--workers`` are the levers.
2. (``--section-eval``) every 5th track held out: a model trained on the others (features from the
   cache of step 1, so only training costs), then each held-out track queried by its whole track and
   by its drop (``Finder.query(section="drop")``); precision@5 = share of the 5 nearest with the
   query's label (labels.csv of the corpus). Queries without a drop are counted apart.

    nice -n 5 python bench/bench_train_time.py [--corpus /work/corpus] [--views 2] [--workers 2] [--threads 1]
        [--limit N] [--section-eval] [--section drop]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from _common import OUT, machine, table

from trance_finder.core.engine import Finder, TrainOptions, train_library
from trance_finder.core.extract import WindowPlan
from trance_finder.core.training import TrainConfig


def corpus_rows(corpus: Path, limit: int | None) -> list[tuple[str, str]]:
    """(relative path, label) from labels.csv, or label = parent folder when there is none."""
    rows = []
    labels_csv = corpus / "labels.csv"
    if labels_csv.exists():
        with open(labels_csv, newline="", encoding="utf-8") as fh:
            rows = [(r["path"], r["label"]) for r in csv.DictReader(fh)]
    else:
        rows = [(str(p.relative_to(corpus)), p.parent.name) for p in sorted(corpus.rglob("*.flac"))]
    if limit:
        by_label = defaultdict(list)
        for r in rows:
            by_label[r[1]].append(r)
        picked, i = [], 0
        while len(picked) < min(limit, len(rows)):  # round robin over labels: every label kept
            for lab in sorted(by_label):
                if i < len(by_label[lab]) and len(picked) < limit:
                    picked.append(by_label[lab][i])
            i += 1
        rows = sorted(picked)
    return rows


def mirror(corpus: Path, rows, folder: Path) -> Path:
    """A folder of links to ``rows`` (same relative paths) with a labels.csv for them."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, _ in rows:
        dst = folder / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            os.symlink((corpus / rel).resolve(), dst)
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label"])
        w.writerows(rows)
    return folder


def timed_training(opts: TrainOptions) -> tuple[dict[str, float], float, object]:
    """Runs train_library; seconds per stage (from one stage's first progress to the next's)."""
    stages: dict[str, float] = {}
    order: list[str] = []
    t0 = last = time.perf_counter()
    current = None
    gen = train_library(opts)
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        now = time.perf_counter()
        if p.stage != current:
            if current is not None:
                stages[current] = stages.get(current, 0.0) + now - last
            else:
                stages["scan/start"] = now - t0
            if p.stage not in order:
                order.append(p.stage)
            current, last = p.stage, now
        if p.stage == "extract" and p.done and p.done % 20 == 0:
            print(f"  extract {p.done}/{p.total} ({now - t0:.0f} s)", flush=True)
    end = time.perf_counter()
    if current is not None:
        stages[current] = stages.get(current, 0.0) + end - last
    ordered = {"scan/start": stages.pop("scan/start", 0.0), **{s: stages[s] for s in order if s in stages}}
    return ordered, end - t0, result


def p_at_5(neighbours, label: str, label_of: dict[str, str]) -> float:
    hits = [label_of.get(os.path.realpath(n.track["path"])) == label for n in neighbours[:5]]
    return sum(hits) / 5.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/work/corpus")
    ap.add_argument("--views", type=int, default=TrainOptions.n_views)
    ap.add_argument("--workers", type=int, default=0, help="0 = the app's default")
    ap.add_argument("--limit", type=int, default=None, help="only this many tracks (every label kept)")
    ap.add_argument("--eval-folds", type=int, default=TrainOptions.eval_folds)
    ap.add_argument("--section-eval", action="store_true")
    ap.add_argument("--section", default="drop")
    ap.add_argument("--cache", default=None, help="reuse this feature cache (default: a new, empty one)")
    ap.add_argument("--out", default=str(OUT / "train_time"))
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads of the training process; 0 = what the app gets (one per core). "
                         "Extraction workers always use one each.")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads or os.cpu_count() or 1)  # _common pins 1 for the other benches
    corpus = Path(args.corpus)
    rows = corpus_rows(corpus, args.limit)
    work = Path(args.out)
    shutil.rmtree(work, ignore_errors=True)
    refs = mirror(corpus, rows, work / "library")
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="tf_cache_", dir=str(OUT)))
    print(f"Machine: {machine()} in the training process; load average {os.getloadavg()[0]:.1f} at start")
    print(f"{len(rows)} tracks from {corpus}, {args.views} views, workers {args.workers or 'default'}, "
          f"{'cache ' if args.cache else 'empty cache '}{cache}\n", flush=True)
    opts = TrainOptions(references=str(refs), output_model=str(work / "model" / "embedding_model.pt"),
                        output_index=str(work / "model" / "similarity_index.faiss"), n_views=args.views,
                        eval_folds=args.eval_folds, window_plan=WindowPlan(), train=TrainConfig(),
                        cache_dir=str(cache), workers=args.workers)
    stages, total, result = timed_training(opts)
    print(table(["stage", "seconds"], [[s, f"{v:.1f}"] for s, v in stages.items()] + [["total", f"{total:.1f}"]]))
    print(f"\n{result.n_tracks} tracks trained, {len(result.skipped)} skipped; load average "
          f"{os.getloadavg()[0]:.1f} at the end")
    held_out = result.evaluation.get("held_out") or {}
    if held_out:
        print("held-out evaluation (the app's own folds):",
              {k: v for k, v in held_out.items() if isinstance(v, (int, float, str, dict)) and k != "per_label"})
    meta = Path(opts.output_index).with_name("index_metadata.json")
    if meta.exists():
        print(f"index_metadata.json: {meta.stat().st_size / 1e6:.2f} MB for {result.n_tracks} tracks")

    if not args.section_eval:
        return
    held = rows[::5]
    train_rows = [r for r in rows if r not in held]
    refs2 = mirror(corpus, train_rows, work / "library_heldout")
    opts2 = TrainOptions(**{**opts.__dict__, "references": str(refs2), "eval_folds": 0,
                            "output_model": str(work / "model2" / "embedding_model.pt"),
                            "output_index": str(work / "model2" / "similarity_index.faiss")})
    _, t2, _ = timed_training(opts2)
    finder = Finder(opts2.output_model, opts2.output_index)
    label_of = {os.path.realpath(corpus / rel): lab for rel, lab in rows}
    whole, by_section, whole_same = [], [], []
    no_section = 0
    t_struct = []
    for rel, lab in held:
        path = str(corpus / rel)
        whole.append(p_at_5(finder.query(path, k=5).neighbours, lab, label_of))
        t = time.perf_counter()
        sections, _ = finder.analyse_structure(path)
        t_struct.append(time.perf_counter() - t)
        if not any(s.label == args.section for s in sections.sections):
            no_section += 1
            continue
        res = finder.query(path, k=5, section=args.section)
        by_section.append(p_at_5(res.neighbours, lab, label_of))
        whole_same.append(whole[-1])
    refs_with = sum(1 for t in finder.tracks if args.section in (t.get("section_vectors") or {}))
    print(f"\nSection search, held-out (every 5th track a query, {len(held)} queries; model trained on "
          f"{len(train_rows)} tracks in {t2:.0f} s from the cache):\n")
    rows_out = [["whole track", len(whole), f"{sum(whole) / max(1, len(whole)):.3f}"],
                [f"whole track, queries with a {args.section}", len(whole_same),
                 f"{sum(whole_same) / max(1, len(whole_same)):.3f}"],
                [f"by {args.section} (same queries)", len(by_section),
                 f"{sum(by_section) / max(1, len(by_section)):.3f}"]]
    print(table(["ranking", "queries", "P@5"], rows_out))
    print(f"\n{no_section} queries have no {args.section}; {refs_with}/{len(finder.tracks)} references have one. "
          f"Labels of the held-out queries: {dict(Counter(lab for _, lab in held))}")
    print(f"analyse_structure per query: median {sorted(t_struct)[len(t_struct) // 2]:.2f} s")


if __name__ == "__main__":
    main()
