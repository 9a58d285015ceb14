"""The 2D map: a t-SNE layout (cosine) of the references' index vectors, and a way to place a new
vector (a WIP, a blend) on it from its nearest references. 2D is approximate; rankings always use
the full embedding."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

#: above this many references, t-SNE lays out a seeded sample and the rest are placed from their nearest
#: sampled neighbours (t-SNE on 10,000 vectors took over 5 minutes on 2 cores)
LAYOUT_SAMPLE = 2000


def layout(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, 2) coordinates scaled into [-1, 1]."""
    X = np.asarray(vectors, dtype=np.float32)
    n = len(X)
    if n > LAYOUT_SAMPLE:
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, LAYOUT_SAMPLE, replace=False))
        anchor_xy = layout(X[sample], seed)
        unit = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        xy = np.empty((n, 2), np.float32)
        xy[sample] = anchor_xy
        rest = np.setdiff1d(np.arange(n), sample)
        for start in range(0, len(rest), 1024):
            chunk = rest[start:start + 1024]
            xy[chunk] = _place_many(unit[chunk], unit[sample], anchor_xy)
        return xy
    if n == 0:
        return np.zeros((0, 2), np.float32)
    if n < 5:
        xy = PCA(n_components=min(2, n), random_state=seed).fit_transform(X) if n > 1 else np.zeros((1, 2))
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    else:
        perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
        xy = TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca", random_state=seed,
                  max_iter=750).fit_transform(X)
    xy = xy - xy.mean(axis=0)
    span = np.abs(xy).max() or 1.0
    return (xy / span).astype(np.float32)


def place(query: np.ndarray, vectors: np.ndarray, xy: np.ndarray, k: int = 6, temperature: float = 0.05) -> np.ndarray:
    """Position of ``query`` on the map: similarity-weighted mean of its k nearest references."""
    sims = np.asarray(vectors, dtype=np.float32) @ np.asarray(query, dtype=np.float32).ravel()
    k = max(1, min(k, len(sims)))
    top = np.argpartition(-sims, k - 1)[:k]
    w = np.exp((sims[top] - sims[top].max()) / temperature)
    return (w[:, None] * xy[top]).sum(axis=0) / w.sum()


def _place_many(queries: np.ndarray, vectors: np.ndarray, xy: np.ndarray, k: int = 6,
                temperature: float = 0.05) -> np.ndarray:
    """``place`` for many queries at once (rows of ``queries``)."""
    sims = queries @ vectors.T
    k = max(1, min(k, vectors.shape[0]))
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sims, top, axis=1)
    w = np.exp((s - s.max(axis=1, keepdims=True)) / temperature)
    return ((w[:, :, None] * xy[top]).sum(axis=1) / w.sum(axis=1, keepdims=True)).astype(np.float32)
