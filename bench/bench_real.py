"""Retrieval quality on REAL music: the development corpus (../shared/corpus, 13 soundtracks).

Reads the per-patch frames that ``bench/real_extract.py`` stored once (musicnn penultimate layer,
tags, mid-end maps; dsp frames; DNA; one augmented view; WIP-like copies of some tracks), so every
configuration below is a few seconds of pooling plus head training, never a re-extraction.

Protocol: 5 stratified folds over tracks (every track is a held-out query exactly once; the head of
each fold is trained without its queries, which then query the other folds' tracks). Reported:
held-out precision@5 micro (mean over queries) and macro (mean over labels), per label, and the
silhouette and NMI of the held-out queries (mean over folds). Also "every 5th track a query" (the
issue's protocol, labels.csv order) for the main rows. Copies: each stored WIP-like copy queries the
index of all 216 originals; rank-1 rate of its original.

    python bench/real_extract.py ...            # once (see there)
    nice -n 5 python bench/bench_real.py [--only main|explore|copies] [--epochs 50]

Other sections (``--only NAME``): networks, candidates, losses (``--variants``), views, silhouette
(centring and a 3-head ensemble: does anything gather unseen tracks of a soundtrack more tightly?).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from _common import OUT, machine, table

from trance_finder.core.engine import TrainOptions
from trance_finder.core.evaluation import cluster_metrics, precision_at_k
from trance_finder.core.head import Standardizer, unit_rows
from trance_finder.core.labels import cluster_labels
from trance_finder.core.profile import build_profile
from trance_finder.core.progress import run_to_end
from trance_finder.core.training import WINDOW_SHARE, TrainConfig, TrainingSet, train_head, window_subsets

CACHE = OUT / "real"
COPY_KINDS = ("minus12db", "pitch_up1", "tempo103", "treble_minus6", "mp3_128k")


# -- data --------------------------------------------------------------------------------------------
def load(corpus: Path):
    rows = list(csv.DictReader(open(corpus / "labels.csv", newline="")))
    tracks = []
    for i, r in enumerate(rows):
        key = Path(r["path"]).stem
        f = CACHE / "tracks" / f"{key}.npz"
        if not f.exists():
            continue
        with np.load(f) as d:
            arr = {k: d[k] for k in d.files}
        if "v1_emb" not in arr:
            continue
        copies = {}
        for kind in COPY_KINDS:
            c = CACHE / "copies" / f"{key}__{kind}.npz"
            if c.exists():
                with np.load(c) as d:
                    copies[kind] = {k: d[k] for k in d.files}
        tracks.append(SimpleNamespace(key=key, label=r["label"], order=i, a=arr, copies=copies,
                                      dna={str(n): float(v) for n, v in zip(arr["dna_names"], arr["dna_values"])}))
    return tracks


# -- representations: frames of one set -> list of pooled blocks ---------------------------------------
def pool(frames: np.ndarray, how: str) -> np.ndarray:
    f = np.asarray(frames, dtype=np.float32)
    if how == "mean":
        return f.mean(0)
    if how == "max":
        return f.max(0)
    if how == "meanstd":
        return np.concatenate([f.mean(0), f.std(0)])
    if how == "meanmax":
        return np.concatenate([f.mean(0), f.max(0)])
    if how == "stats":  # attention-free statistics pooling: mean, std, 10th and 90th percentile
        return np.concatenate([f.mean(0), f.std(0), np.percentile(f, 10, 0), np.percentile(f, 90, 0)])
    raise ValueError(how)


def window_patches(n: int, plan: str) -> np.ndarray:
    """Patch indices of the default 16-patch set (8 windows x 2 patches) for a smaller plan."""
    idx = np.arange(n)
    if plan == "8x6s" or n < 16:
        return idx
    if plan == "4x6s":
        return np.array([i for i in idx if (i // 2) % 2 == 0])
    if plan == "8x3s":
        return idx[::2]
    raise ValueError(plan)


def rep_blocks(arr: dict, prefix: str, spec: dict) -> list[np.ndarray]:
    """spec: {"blocks": ["emb", "dsp", ...], "pool": "mean", "plan": "8x6s"}"""
    out = []
    for b in spec["blocks"]:
        frames = arr[f"{prefix}_{ {'relu': 'emb', 'logtags': 'tags'}.get(b, b)}"].astype(np.float32)
        if b == "relu":
            frames = np.maximum(frames, 0)
        if b == "logtags":
            frames = np.log(np.clip(arr[f"{prefix}_tags"], 1e-4, 1))
        frames = frames[window_patches(len(frames), spec.get("plan", "8x6s"))]
        out.append(pool(frames, spec.get("pool_" + b, spec.get("pool", "mean"))))
    return out


def matrices(tracks, spec) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(originals (n, d), views (n, d), block dims)."""
    orig = [rep_blocks(t.a, "def", spec) for t in tracks]
    views = [rep_blocks(t.a, "v1", spec) for t in tracks]
    dims = [len(b) for b in orig[0]]
    return (np.stack([np.concatenate(o) for o in orig]), np.stack([np.concatenate(v) for v in views]), dims)


def window_subset_views(tracks, spec, k: int, share: float = WINDOW_SHARE, seed: int = 0) -> list[np.ndarray]:
    """k rows per track made of its own analysis, by the app's ``window_subsets``: each pools the frames
    of a random ``share`` of its windows (2 patches each), so they cost no extra extraction."""
    out = [[] for _ in range(k)]
    for t in tracks:
        n_win = min(len(v) for key, v in t.a.items() if key.startswith("def_")) // 2  # short tracks: fewer
        per_window = [rep_blocks({key: v[2 * w:2 * w + 2] for key, v in t.a.items() if key.startswith("def_")},
                                 "def", spec) for w in range(n_win)]
        fake = SimpleNamespace(path=t.key, windows={str(b): np.stack([pw[b] for pw in per_window])
                                                    for b in range(len(spec["blocks"]))})
        rows = window_subsets(fake, [str(b) for b in range(len(spec["blocks"]))], k, seed, share)
        for v in range(k):
            out[v].append(rows[v] if rows else np.concatenate(rep_blocks(t.a, "def", spec)))
    return [np.stack(rows) for rows in out]


class PlainStandardizer(Standardizer):
    """z-score per dimension, no per-block equalisation (the 'no block standardisation' row)."""

    @classmethod
    def fit(cls, X, blocks):
        X = np.asarray(X, dtype=np.float64)
        sd = X.std(0)
        return cls(X.mean(0).astype(np.float32), (1.0 / np.where(sd < 1e-8, 1.0, sd)).astype(np.float32))


# -- evaluation ---------------------------------------------------------------------------------------
APP_VIEWS = TrainOptions.n_views > 0  # the app trains with augmented views (the store holds one: "v1")
APP_WINDOW_VIEWS = TrainOptions.window_views  # and rows pooled from a share of each track's windows


def folds_of(labels: np.ndarray, k: int = 5, seed: int = 0):
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(labels, labels))


def every_fifth(tracks):
    q = np.array([t.order % 5 == 0 for t in tracks])
    return [(np.flatnonzero(~q), np.flatnonzero(q))]


def run_config(tracks, spec: dict, mode: str, cfg: TrainConfig, splits, plain_std: bool = False,
               views: bool | None = None, window_views: int | None = None,
               window_share: float = WINDOW_SHARE, post: str = "", heads: int = 1) -> dict:
    """mode: raw | labels | clusters | views | lda. Returns per-query P@5 and per-fold sil/NMI.
    ``post="center"``: the base (training tracks') mean embedding is subtracted from base and queries
    before the cosine (centred, re-normalised vectors). ``heads`` > 1: that many heads (seeds) trained,
    their unit embeddings joined (an ensemble).
    ``views``: train with each track's augmented view too; ``window_views``: rows pooled from a share
    of each track's windows (defaults: as the app, APP_VIEWS and APP_WINDOW_VIEWS; as in the app, the
    rows also enter the standardisation of the raw vectors)."""
    views = APP_VIEWS if views is None else views
    window_views = APP_WINDOW_VIEWS if window_views is None else window_views
    y = np.array([t.label for t in tracks])
    Xo, V, dims = matrices(tracks, spec)
    W = window_subset_views(tracks, spec, window_views, window_share) if window_views else []
    p5 = np.full(len(tracks), np.nan)
    sil, nmi, per_fold = [], [], []
    Std = PlainStandardizer if plain_std else Standardizer
    for train_i, test_i in splits:
        X = np.concatenate([Xo[train_i], V[train_i]]) if views else Xo[train_i]
        groups = np.concatenate([train_i, train_i]) if views else train_i
        if W:
            X = np.concatenate([X] + [w[train_i] for w in W])
            groups = np.concatenate([groups] + [train_i] * len(W))
        std = Std.fit(X, dims)
        if mode == "raw":
            embed = lambda A, std=std: unit_rows(std(A))  # noqa: E731
        elif mode == "lda":
            from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

            ylab = y[groups]
            lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(std(X), ylab)
            embed = lambda A, std=std, lda=lda: unit_rows(lda.transform(std(A)))  # noqa: E731
        else:
            if mode == "labels":
                lab_of = {i: y[i] for i in train_i}
            elif mode == "clusters":
                fake = [SimpleNamespace(path=str(i), dna=tracks[i].dna, lufs=-14.0, duration=120.0,
                                        joined=lambda names, v=0, i=i: Xo[i]) for i in train_i]
                prof = build_profile(fake, backbone_names=["x"], seed=cfg.seed)
                lab_of = {int(p): c for p, c in cluster_labels(prof).classes.items()}
            else:  # views only
                lab_of = {}
            names = sorted(set(lab_of.values()))
            idx = {n: j for j, n in enumerate(names)}
            labels = np.array([idx.get(lab_of.get(int(g)), -1) if g in lab_of else -1 for g in groups])
            data = TrainingSet(X, labels, groups, dims, names)
            models = []
            for s in range(max(1, heads)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = run_to_end(train_head(data, replace(cfg, seed=cfg.seed + s)))
                if plain_std:
                    model.standardizer = std
                models.append(model)
            embed = models[0].embed if len(models) == 1 else (  # noqa: E731
                lambda A, ms=models: unit_rows(np.concatenate([m.embed(A) for m in ms], axis=1)))
        B, Q = embed(Xo[train_i]), embed(Xo[test_i])
        if post == "center":
            mu = B.mean(axis=0)
            B, Q = unit_rows(B - mu), unit_rows(Q - mu)
        sims = unit_rows(Q) @ unit_rows(B).T
        top = np.argsort(-sims, axis=1)[:, :5]
        p5[test_i] = (y[train_i][top] == y[test_i][:, None]).mean(1)
        m = cluster_metrics(Q, y[test_i], cfg.seed)
        sil.append(m["silhouette"])
        nmi.append(m["nmi"])
        per_fold.append(precision_at_k(Q, y[test_i], B, y[train_i], 5))
    done = ~np.isnan(p5)
    labs = sorted(set(y))
    per_label = {lab: float(np.mean(p5[(y == lab) & done])) for lab in labs if ((y == lab) & done).any()}
    return {"micro": float(np.mean(p5[done])), "macro": float(np.mean(list(per_label.values()))),
            "per_label": per_label, "sil": float(np.nanmean(sil)), "nmi": float(np.nanmean(nmi)),
            "per_fold": per_fold, "n_queries": int(done.sum())}


def copy_rank1(tracks, spec: dict, mode: str, cfg: TrainConfig, views: bool | None = None) -> dict:
    """Rank-1 rate of the original for each stored copy, per kind; model trained on all tracks
    (with one augmented view each, or on the originals only; default as the app)."""
    views = APP_VIEWS if views is None else views
    y = np.array([t.label for t in tracks])
    Xo, V, dims = matrices(tracks, spec)
    X = np.concatenate([Xo, V]) if views else Xo
    n_rows = 2 if views else 1
    std = Standardizer.fit(X, dims)
    if mode == "raw":
        embed = lambda A: unit_rows(std(A))  # noqa: E731
    else:
        names = sorted(set(y))
        idx = {n: j for j, n in enumerate(names)}
        lab = np.array([idx[v] for v in np.concatenate([y] * n_rows)])
        groups = np.concatenate([np.arange(len(y))] * n_rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            embed = run_to_end(train_head(TrainingSet(X, lab, groups, dims, names), cfg)).embed
    B = unit_rows(embed(Xo))
    out = {k: [] for k in COPY_KINDS}
    for i, t in enumerate(tracks):
        for kind, arr in t.copies.items():
            q = unit_rows(embed(np.concatenate(rep_blocks(arr, "def", spec))[None, :]))[0]
            out[kind].append(int(np.argmax(B @ q) == i))
    return {k: (float(np.mean(v)) if v else float("nan"), len(v)) for k, v in out.items()}


def variant_rows(tracks, variants, base: TrainConfig, splits, per_label=()) -> list[list]:
    """One row per (name, spec, kwargs): raw, fine-tuned with labels and LDA, held out."""
    rows = []
    for name, spec, kw in variants:
        t = time.perf_counter()
        raw = run_config(tracks, spec, "raw", base, splits, **kw)
        ft = run_config(tracks, spec, "labels", base, splits, **kw)
        lda = run_config(tracks, spec, "lda", base, splits, **kw)
        rows.append([name, raw["micro"], raw["macro"], raw["sil"], ft["micro"], ft["macro"], ft["sil"], ft["nmi"],
                     lda["micro"], lda["sil"]] + [ft["per_label"].get(lab, float("nan")) for lab in per_label])
        print(f"  {name}: {time.perf_counter() - t:.0f} s  " + " ".join(
            f"{v:.3f}" if isinstance(v, float) else str(v) for v in rows[-1][1:10]), file=sys.stderr, flush=True)
    return rows


def three_draws(tracks, name: str, cfg: TrainConfig, **kw) -> list:
    """[name, P@5 per fold draw (3), means of micro / macro / sil / NMI, every-5th P@5 and sil, per label
    (draw 0)...] for a training with folder labels; ``kw`` as run_config's (views, window_views...)."""
    y = np.array([t.label for t in tracks])
    labs = sorted(set(y))
    runs = [run_config(tracks, DEFAULT, "labels", cfg, folds_of(y, seed=sd), **kw) for sd in (0, 1, 2)]
    e5 = run_config(tracks, DEFAULT, "labels", cfg, every_fifth(tracks), **kw)
    return ([name] + [f"{r['micro']:.3f}" for r in runs]
            + [float(np.mean([r[k] for r in runs])) for k in ("micro", "macro", "sil", "nmi")]
            + [e5["micro"], e5["sil"]] + [runs[0]["per_label"][lab] for lab in labs])


# -- main ---------------------------------------------------------------------------------------------
DEFAULT = {"blocks": ["emb", "vggmsd", "dsp"], "pool": "mean"}  # the app's default: musicnn+vgg_msd+dsp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/work/corpus")
    ap.add_argument("--only", default="main,explore,copies")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--instance-weight", type=float, default=None, help="override TrainConfig's default")
    ap.add_argument("--variants", default="", help='losses: JSON list of [name, {TrainConfig field: value}] to run '
                    'instead of the built-in list, e.g. \'[["alpha 64", {"style_loss": "proxy_anchor"}]]\'')
    ap.add_argument("--rows", default="", help="explore: only rows whose name contains one of these (comma list)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    tracks = load(Path(args.corpus))
    labs = sorted({t.label for t in tracks})
    y = np.array([t.label for t in tracks])
    print(f"{len(tracks)} tracks with stored features, {len(labs)} labels "
          f"({', '.join(f'{lab} {int((y == lab).sum())}' for lab in labs)})")
    print(f"machine: {machine()}\n")
    splits = folds_of(y)
    base = TrainConfig(epochs=args.epochs)
    if args.instance_weight is not None:
        base = replace(base, instance_weight=args.instance_weight)
    print(f"head: {base}\n")
    only = set(args.only.split(","))
    short = {lab: lab[:6] for lab in labs}

    if "main" in only:
        rows = []
        meanmax = {**DEFAULT, "pool": "meanmax"}
        for name, mode, spec in (("raw backbone", "raw", DEFAULT), ("fine-tuned, folder labels", "labels", DEFAULT),
                                 ("fine-tuned, no labels (clusters)", "clusters", DEFAULT),
                                 ("fine-tuned, views only (one view)", "views", DEFAULT),
                                 ("LDA (sklearn, labels)", "lda", DEFAULT),
                                 ("raw backbone, pool mean+max", "raw", meanmax),
                                 ("fine-tuned, labels, pool mean+max", "labels", meanmax)):
            t = time.perf_counter()
            kw = {"views": True} if mode == "views" else {}
            r = run_config(tracks, spec, mode, base, splits, **kw)
            e5 = run_config(tracks, spec, mode, base, every_fifth(tracks), **kw)
            rows.append([name, r["micro"], r["macro"], r["sil"], r["nmi"], e5["micro"]]
                        + [r["per_label"].get(lab, float("nan")) for lab in labs])
            print(f"  {name}: {time.perf_counter() - t:.0f} s  " + " ".join(
                f"{v:.3f}" for v in rows[-1][1:]), file=sys.stderr, flush=True)
        print("### Held-out, app default features (musicnn 200-d + MSD_vgg 256-d + dsp, mean pooling), 5 folds")
        print(table(["config", "P@5 micro", "P@5 macro", "silhouette", "NMI", "P@5 every-5th"]
                    + [short[lab] for lab in labs], rows))
        print()

    if "explore" in only:
        variants = [
            ("default: musicnn emb + vgg_msd + dsp, mean", DEFAULT, {}),
            ("musicnn emb, mean (dsp out)", {"blocks": ["emb"], "pool": "mean"}, {}),
            ("dsp only", {"blocks": ["dsp"], "pool": "mean"}, {}),
            ("default, no block equalisation", DEFAULT, {"plain_std": True}),
            ("pool mean+std", {**DEFAULT, "pool": "meanstd"}, {}),
            ("pool max", {**DEFAULT, "pool": "max"}, {}),
            ("pool mean+max", {**DEFAULT, "pool": "meanmax"}, {}),
            ("pool stats (mean,std,p10,p90)", {**DEFAULT, "pool": "stats"}, {}),
            ("emb ReLU'd + dsp", {"blocks": ["relu", "dsp"]}, {}),
            ("tags (50) + dsp", {"blocks": ["tags", "dsp"]}, {}),
            ("log tags + dsp", {"blocks": ["logtags", "dsp"]}, {}),
            ("mid-end maps (1506) + dsp", {"blocks": ["mid", "dsp"]}, {}),
            ("emb + mid-end + dsp", {"blocks": ["emb", "mid", "dsp"]}, {}),
            ("emb + tags + dsp", {"blocks": ["emb", "tags", "dsp"]}, {}),
            ("window plan 4x6s", {**DEFAULT, "plan": "4x6s"}, {}),
            ("window plan 8x3s", {**DEFAULT, "plan": "8x3s"}, {}),
        ]
        heads = [("default settings", {}), ("instance weight 0", {"instance_weight": 0.0}), ("instance weight 0.5", {"instance_weight": 0.5}),
                 ("margin 0.1", {"margin": 0.1}), ("margin 0.4", {"margin": 0.4}),
                 ("embedding 64", {"embedding_dim": 64}), ("embedding 128", {"embedding_dim": 128}),
                 ("dropout 0.3", {"dropout": 0.3}), ("epochs 20", {"epochs": 20}), ("epochs 100", {"epochs": 100}),
                 ("lr 3e-4", {"lr": 3e-4}), ("lr 3e-3", {"lr": 3e-3}),
                 ("raw share 0", {"identity_weight": 0.0}), ("raw share 0.3", {"identity_weight": 0.3}),
                 ("raw share 0.5", {"identity_weight": 0.5})]
        want = [w for w in args.rows.split(",") if w]
        rows = variant_rows(tracks, [v for v in variants if not want or any(w in v[0] for w in want)], base, splits)
        for name, kw in heads:
            if want and not any(w in name for w in want):
                continue
            t = time.perf_counter()
            ft = run_config(tracks, DEFAULT, "labels", replace(base, **kw), splits)
            rows.append([f"head: {name}", "", "", "", ft["micro"], ft["macro"], ft["sil"], ft["nmi"], "", ""])
            print(f"  head {name}: {time.perf_counter() - t:.0f} s  {ft['micro']:.3f} {ft['macro']:.3f} "
                  f"{ft['sil']:.3f} {ft['nmi']:.3f}", file=sys.stderr, flush=True)
        print("### Exploration (held-out, 5 folds, with folder labels; raw = no training)")
        print(table(["variant", "raw P@5", "raw macro", "raw sil", "ft P@5", "ft macro", "ft sil", "ft NMI",
                     "LDA P@5", "LDA sil"], rows))
        print()

    if "networks" in only:
        # the wheel's networks (scripts/convert_musicnn.py), alone and joined, on the same patches
        nets = {"MSD_musicnn": "emb", "MTT_musicnn": "mtt", "MSD_vgg": "vggmsd", "MTT_vgg": "vggmtt"}
        variants = [(f"{n} alone", {"blocks": [b]}, {}) for n, b in nets.items()]
        variants += [(f"{n} + dsp", {"blocks": [b, "dsp"]}, {}) for n, b in nets.items()]
        variants += [
            ("MSD_musicnn + MTT_musicnn", {"blocks": ["emb", "mtt"]}, {}),
            ("MSD_musicnn + MTT_musicnn + dsp", {"blocks": ["emb", "mtt", "dsp"]}, {}),
            ("MSD_musicnn + MTT_vgg + dsp", {"blocks": ["emb", "vggmtt", "dsp"]}, {}),
            ("MSD_musicnn + MSD_vgg + dsp", {"blocks": ["emb", "vggmsd", "dsp"]}, {}),
            ("both musicnn + both vgg", {"blocks": ["emb", "mtt", "vggmsd", "vggmtt"]}, {}),
            ("all four + dsp", {"blocks": ["emb", "mtt", "vggmsd", "vggmtt", "dsp"]}, {}),
            ("both musicnn + MTT tags + dsp", {"blocks": ["emb", "mtt", "mtt_tags", "dsp"]}, {}),
        ]
        want = [w for w in args.rows.split(",") if w]
        variants = [v for v in variants if not want or any(w in v[0] for w in want)]
        rows = variant_rows(tracks, variants, base, splits, per_label=labs)
        print("### The wheel's networks, alone and joined (held-out, 5 folds; raw = no training; ft = folder labels)")
        print(table(["features", "raw P@5", "raw macro", "raw sil", "ft P@5", "ft macro", "ft sil", "ft NMI",
                     "LDA P@5", "LDA sil"] + [f"ft {short[lab]}" for lab in labs], rows))
        print()

    if "candidates" in only:
        # the feature sets worth shipping, on three fold draws and the every-5th split, plus copies
        cands = [("musicnn + dsp (before)", {"blocks": ["emb", "dsp"]}), ("vgg_msd + dsp", {"blocks": ["vggmsd", "dsp"]}),
                 ("musicnn + vgg_msd + dsp", DEFAULT)]
        rows, crow = [], []
        for name, spec in cands:
            res = {}
            for mode in ("raw", "labels"):
                runs = [run_config(tracks, spec, mode, base, folds_of(y, seed=sd)) for sd in (0, 1, 2)]
                e5 = run_config(tracks, spec, mode, base, every_fifth(tracks))
                res[mode] = (runs, e5)
                rows.append([f"{name}, {'raw' if mode == 'raw' else 'labels'}"]
                            + [f"{r['micro']:.3f}" for r in runs]
                            + [float(np.mean([r["micro"] for r in runs])), float(np.mean([r["macro"] for r in runs])),
                               float(np.mean([r["sil"] for r in runs])), float(np.mean([r["nmi"] for r in runs])),
                               e5["micro"], e5["sil"]])
                print(f"  {rows[-1]}", file=sys.stderr, flush=True)
            r = copy_rank1(tracks, spec, "labels", base)
            crow.append([name] + [f"{r[k][0]:.2f} ({r[k][1]})" for k in COPY_KINDS])
            per = res["labels"][0][0]["per_label"]
            raw_per = res["raw"][0][0]["per_label"]
            print("  per label (fold draw 0), raw -> labels: " + ", ".join(
                f"{lab} {raw_per[lab]:.2f} -> {per[lab]:.2f}" for lab in labs), flush=True)
        print("### Candidates: held-out P@5 micro on three fold draws (seeds 0, 1, 2), means, and every-5th")
        print(table(["features, training", "P@5 s0", "P@5 s1", "P@5 s2", "P@5 mean", "macro mean", "sil mean",
                     "NMI mean", "P@5 every-5th", "sil every-5th"], rows))
        print("### Candidates, trained with labels: WIP-like copies, rank-1 rate of the original")
        print(table(["features"] + list(COPY_KINDS), crow))
        print()

    if "losses" in only:
        # the style loss: the spec's triplet loss against proxy / contrastive losses, three fold draws
        variants = [("triplet (the spec's)", {"style_loss": "triplet"}),
                    ("triplet+proxy_anchor(margin=0.2) (app default)", {}),
                    ("triplet+proxy_anchor", {"style_loss": "triplet+proxy_anchor"}),
                    ("triplet+normsoftmax", {"style_loss": "triplet+normsoftmax"}),
                    ("proxy_anchor", {"style_loss": "proxy_anchor"}), ("normsoftmax", {"style_loss": "normsoftmax"}),
                    ("supcon", {"style_loss": "supcon"}), ("multisim", {"style_loss": "multisim"}),
                    ("normsoftmax, raw share 0", {"style_loss": "normsoftmax", "identity_weight": 0.0}),
                    ("proxy_anchor(margin=0.2)", {"style_loss": "proxy_anchor(margin=0.2)"}),
                    ("triplet, raw share 0", {"style_loss": "triplet", "identity_weight": 0.0})]
        if args.variants:
            variants = [tuple(v) for v in json.loads(args.variants)]
        want = [w for w in args.rows.split(",") if w]
        rows = []
        for name, kw in variants:
            if want and not any(w == name for w in want):
                continue
            t = time.perf_counter()
            kw = dict(kw)
            views = bool(kw.pop("views", APP_VIEWS))  # {"views": true/false}: with the view, or the originals only
            wkw = {"window_views": int(kw.pop("window_views", APP_WINDOW_VIEWS)),
                   "window_share": float(kw.pop("window_share", WINDOW_SHARE))}
            cfg = replace(base, **kw)
            row = three_draws(tracks, name, cfg, views=views, **wkw)
            cp = copy_rank1(tracks, DEFAULT, "labels", cfg, views=views)
            rows.append(row[:10] + [f"{min(v[0] for v in cp.values()):.2f}"] + row[10:])
            print(f"  {name}: {time.perf_counter() - t:.0f} s {rows[-1][1:11]}", file=sys.stderr, flush=True)
        print("### Style loss (default features, folder labels): held-out P@5 on three fold draws, means, every-5th")
        print(table(["loss", "P@5 s0", "P@5 s1", "P@5 s2", "P@5 mean", "macro mean", "sil mean", "NMI mean",
                     "P@5 every-5th", "sil every-5th", "copies rank-1 (worst kind)"] + [short[lab] for lab in labs], rows))
        print()

    if "silhouette" in only:
        # post-processing and ensembles that might gather unseen tracks of a soundtrack more tightly
        rows = []
        draws = [("fold draw 0", folds_of(y, seed=0)), ("fold draw 1", folds_of(y, seed=1)),
                 ("every-5th", every_fifth(tracks))]
        for name, mode, kw in (("raw", "raw", {}), ("raw, centred", "raw", {"post": "center"}),
                               ("LDA", "lda", {}), ("LDA, centred", "lda", {"post": "center"}),
                               ("default head", "labels", {}), ("default head, centred", "labels", {"post": "center"}),
                               ("3 heads joined (seeds 0-2)", "labels", {"heads": 3})):
            t = time.perf_counter()
            res = [run_config(tracks, DEFAULT, mode, base, sp, **kw) for _, sp in draws]
            rows.append([name] + [f"{r['micro']:.3f} / {r['sil']:.3f}" for r in res]
                        + [float(np.mean([r["sil"] for r in res]))])
            print(f"  {name}: {time.perf_counter() - t:.0f} s {rows[-1][1:]}", file=sys.stderr, flush=True)
        print("### Held-out P@5 / silhouette (default features, folder labels)")
        print(table(["config"] + [f"{n} P@5 / sil" for n, _ in draws] + ["sil mean"], rows))
        print()

    if "views" in only:
        # does training need the augmented view? (it is half of the first training's extraction)
        rows, crow = [], []
        for name, kw in (("triplet", {"style_loss": "triplet"}), ("proxy_anchor", {"style_loss": "proxy_anchor"}),
                         ("triplet+proxy_anchor", {"style_loss": "triplet+proxy_anchor"}),
                         ("triplet+proxy_anchor(margin=0.2) (app default)", {})):
            cfg = replace(base, **kw)
            for views in (True, False):
                t = time.perf_counter()
                label = f"{name}, {'one view' if views else 'no view'}"
                rows.append(three_draws(tracks, label, cfg, views=views))
                r = copy_rank1(tracks, DEFAULT, "labels", cfg, views=views)
                crow.append([label] + [f"{r[k][0]:.2f} ({r[k][1]})" for k in COPY_KINDS])
                print(f"  {label}: {time.perf_counter() - t:.0f} s {rows[-1][1:10]} {crow[-1][1:]}",
                      file=sys.stderr, flush=True)
        print("### Training with one augmented view per track or none (default features, folder labels)")
        print(table(["loss, views", "P@5 s0", "P@5 s1", "P@5 s2", "P@5 mean", "macro mean", "sil mean", "NMI mean",
                     "P@5 every-5th", "sil every-5th"] + [short[lab] for lab in labs], rows))
        print("### The same trainings: WIP-like copies, rank-1 rate of the original")
        print(table(["loss, views"] + list(COPY_KINDS), crow))
        print()

    if "copies" in only:
        n = sum(len(t.copies) for t in tracks)
        if n:
            rows = []
            for name, mode, cfg in (("raw backbone", "raw", base), ("fine-tuned, labels", "labels", base),
                                    ("fine-tuned, labels, instance weight 2 (old)", "labels",
                                     replace(base, instance_weight=2.0))):
                r = copy_rank1(tracks, DEFAULT, mode, cfg)
                rows.append([name] + [f"{r[k][0]:.2f} ({r[k][1]})" for k in COPY_KINDS])
            print(f"### WIP-like copies: rank-1 rate of the original among {len(tracks)} (copies per kind)")
            print(table(["index"] + list(COPY_KINDS), rows))
        else:
            print("(no copies stored yet: run real_extract.py with --copies 1)")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
