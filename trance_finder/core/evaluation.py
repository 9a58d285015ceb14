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


def held_out_evaluation(data: TrainingSet, cfg: TrainConfig, folds: int = 5, cancel: CancelToken | None = None):
    """Generator yielding Progress; returns {"finetuned": {...}, "raw": {...}, "folds": n}.

    Folds split *tracks* (all views of a track stay on one side). Per fold: a head is trained on the
    training tracks; precision@5 queries the training tracks' index with each held-out original; silhouette
    and NMI are computed on the held-out originals. Means over folds are returned.
    """
    groups = np.unique(data.groups)
    track_label = np.array([data.labels[data.groups == g][0] for g in groups])
    originals = np.array([np.flatnonzero(data.groups == g)[0] for g in groups])
    folds = max(2, min(int(folds), len(groups)))
    per_fold = {"finetuned": [], "raw": []}
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
        std = Standardizer.fit(data.X[train_rows], data.blocks)
        for name, fn in (("finetuned", model.embed), ("raw", std)):
            B, Q = fn(base_x), fn(query_x)
            per_fold[name].append({"precision_at_5": precision_at_k(Q, query_y, B, base_y, 5),
                                   **cluster_metrics(Q, query_y, cfg.seed)})
    yield Progress("evaluate", len(splits), len(splits), "Held-out evaluation done")
    return {name: {m: float(np.nanmean([r[m] for r in rows])) for m in METRICS}
            for name, rows in per_fold.items()} | {"folds": len(splits)}
