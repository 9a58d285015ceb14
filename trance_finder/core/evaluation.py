"""Embedding quality: precision@5, silhouette and NMI (the spec's metrics), in-sample and on
held-out folds (train on k-1 folds, query the index of those folds with the held-out tracks), for the
fine-tuned head and for the raw backbone features, so a report shows whether fine-tuning helps."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score, silhouette_score
from sklearn.model_selection import KFold, StratifiedKFold

from trance_finder.core.head import Standardizer, unit_rows
from trance_finder.core.progress import CancelToken, Progress
from trance_finder.core.training import TrainConfig, TrainingSet, train_head

METRICS = ("precision_at_5", "silhouette", "nmi")


def precision_at_k(queries: np.ndarray, query_labels, base: np.ndarray, base_labels, k: int = 5,
                   exclude_self: bool = False) -> float:
    """Mean fraction of each query's k nearest (cosine) base vectors that share its label."""
    q, b = unit_rows(queries), unit_rows(base)
    sims = q @ b.T
    if exclude_self:
        np.fill_diagonal(sims, -np.inf)
    k = min(k, b.shape[0] - (1 if exclude_self else 0))
    if k <= 0:
        return float("nan")
    top = np.argsort(-sims, axis=1)[:, :k]
    base_labels = np.asarray(base_labels)
    hits = base_labels[top] == np.asarray(query_labels)[:, None]
    return float(hits.mean())


def cluster_metrics(X: np.ndarray, labels, seed: int = 0) -> dict:
    labels = np.asarray(labels)
    n_labels = len(np.unique(labels))
    out = {"silhouette": float("nan"), "nmi": float("nan")}
    if n_labels < 2 or n_labels >= len(labels):
        return out
    X = unit_rows(X)
    out["silhouette"] = float(silhouette_score(X, labels, metric="cosine"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = KMeans(n_clusters=n_labels, n_init=10, random_state=seed).fit_predict(X)
    out["nmi"] = float(normalized_mutual_info_score(labels, pred))
    return out


def in_sample_metrics(X: np.ndarray, labels, seed: int = 0) -> dict:
    return {"precision_at_5": precision_at_k(X, labels, X, labels, 5, exclude_self=True),
            **cluster_metrics(X, labels, seed)}


def _splitter(labels: np.ndarray, folds: int, seed: int):
    counts = np.bincount(np.unique(labels, return_inverse=True)[1])
    if counts.min() >= folds:
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(labels, labels)
    return KFold(n_splits=folds, shuffle=True, random_state=seed).split(labels)


def chance_precision(query_labels, base_labels) -> float:
    """Expected precision@k of a random ranking: per query, the share of the base with its label."""
    base_labels = np.asarray(base_labels)
    return float(np.mean([np.mean(base_labels == q) for q in np.asarray(query_labels)])) if len(query_labels) else float("nan")


def cluster_predictions(Q: np.ndarray, B: np.ndarray, base_clusters, temperature: float):
    """(predicted cluster, score) per query row, the way Finder.predict_cluster does it: softmax over
    the cosine to each cluster centre of ``B``."""
    base_clusters = np.asarray(base_clusters)
    names = sorted(set(base_clusters.tolist()))
    centres = unit_rows(np.stack([B[base_clusters == c].mean(axis=0) for c in names]))
    sims = unit_rows(Q) @ centres.T
    w = np.exp((sims - sims.max(axis=1, keepdims=True)) / temperature)
    p = w / w.sum(axis=1, keepdims=True)
    best = p.argmax(axis=1)
    return [names[i] for i in best], p[np.arange(len(best)), best]


def held_out_evaluation(data: TrainingSet, cfg: TrainConfig, folds: int = 5, cancel: CancelToken | None = None,
                        clusters=None, temperature: float = 0.05):
    """Generator yielding Progress; returns {"finetuned": {...}, "raw": {...}, "folds": n, "per_fold":
    {"finetuned", "raw", "chance": per-fold precision@5}, "n_queries", "cluster_predictions": {"finetuned",
    "raw": [[score, right], ...]}}.

    Folds split *tracks* (all views of a track stay on one side). Per fold: a head is trained on the
    training tracks; precision@5 queries the training tracks' index with each held-out original that has
    a class (tracks without one, label -1, are never a hit); silhouette and NMI are computed on the
    held-out originals with a class. Means over folds are returned. ``clusters`` (one name per track, in
    track order) adds the nearest-cluster-centre predictions used to calibrate the confidence.
    """
    groups = np.unique(data.groups)
    track_label = np.array([data.labels[data.groups == g][0] for g in groups])
    originals = np.array([np.flatnonzero(data.groups == g)[0] for g in groups])
    folds = max(2, min(int(folds), len(groups)))
    per_fold = {"finetuned": [], "raw": []}
    chance: list[float] = []
    preds: dict[str, list] = {"finetuned": [], "raw": []}
    n_queries = 0
    splits = list(_splitter(track_label, folds, cfg.seed))
    for f, (train_t, test_t) in enumerate(splits):
        yield Progress("evaluate", f, len(splits), f"Held-out fold {f + 1}/{len(splits)}")
        train_rows = np.isin(data.groups, groups[train_t])
        sub = TrainingSet(data.X[train_rows], data.labels[train_rows], data.groups[train_rows], data.blocks,
                          data.label_names)
        gen = train_head(sub, cfg, cancel)
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                model = stop.value
                break
            yield Progress("evaluate", f, len(splits), f"Fold {f + 1}/{len(splits)}: {p.message}", p.info)
        base_x, query_x = data.X[originals[train_t]], data.X[originals[test_t]]
        base_y, query_y = track_label[train_t], track_label[test_t]
        has_class = query_y >= 0
        n_queries += int(has_class.sum())
        std = Standardizer.fit(data.X[train_rows], data.blocks)
        chance.append(chance_precision(query_y[has_class], base_y) if has_class.any() else float("nan"))
        for name, fn in (("finetuned", model.embed), ("raw", std)):
            B, Q = fn(base_x), fn(query_x)
            if has_class.any():
                per_fold[name].append({"precision_at_5": precision_at_k(Q[has_class], query_y[has_class], B, base_y, 5),
                                       **cluster_metrics(Q[has_class], query_y[has_class], cfg.seed)})
            else:
                per_fold[name].append({m: float("nan") for m in METRICS})
            if clusters is not None:
                cl = np.asarray(clusters)
                names, scores = cluster_predictions(Q, B, cl[train_t], temperature)
                preds[name] += [[float(s), bool(n == c)] for n, s, c in zip(names, scores, cl[test_t])]
    yield Progress("evaluate", len(splits), len(splits), "Held-out evaluation done")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN metric: no fold could compute it
        means = {name: {m: float(np.nanmean([r[m] for r in rows])) for m in METRICS} for name, rows in per_fold.items()}
    out = means | {"folds": len(splits), "n_queries": n_queries,
                   "per_fold": {"finetuned": [r["precision_at_5"] for r in per_fold["finetuned"]],
                                "raw": [r["precision_at_5"] for r in per_fold["raw"]], "chance": chance}}
    if clusters is not None:
        out["cluster_predictions"] = preds
    return out


def leave_one_out_predictions(vectors: np.ndarray, clusters, temperature: float) -> list[list]:
    """[score, right] per track: its nearest cluster centre, each centre computed without the track
    (used to calibrate the confidence when there were no held-out folds)."""
    V = unit_rows(vectors)
    cl = np.asarray(clusters)
    out = []
    for i in range(len(V)):
        rest = np.arange(len(V)) != i
        if len(set(cl[rest].tolist())) < 2:
            continue
        names, scores = cluster_predictions(V[i:i + 1], V[rest], cl[rest], temperature)
        out.append([float(scores[0]), bool(names[0] == cl[i])])
    return out
