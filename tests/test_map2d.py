"""The 2D map: small libraries get a full t-SNE; large ones a sampled layout with the rest placed."""

import numpy as np

from trance_finder.core import map2d


def _clusters(n, dim=16, k=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 4
    labels = rng.integers(0, k, n)
    X = centres[labels] + rng.normal(size=(n, dim))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), labels


def test_large_library_uses_a_sample_and_places_the_rest(monkeypatch):
    monkeypatch.setattr(map2d, "LAYOUT_SAMPLE", 120)
    X, labels = _clusters(600)
    xy = map2d.layout(X, seed=1)
    assert xy.shape == (600, 2) and np.all(np.isfinite(xy))
    assert np.abs(xy).max() <= 1.0 + 1e-6
    # placed points sit with their own cluster: nearest cluster centre on the map is their own
    centres = np.stack([xy[labels == c].mean(axis=0) for c in range(4)])
    nearest = np.argmin(((xy[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == labels).mean() > 0.9


def test_place_many_matches_place():
    X, _ = _clusters(80)
    xy = map2d.layout(X[:60], seed=0)
    many = map2d._place_many(X[60:], X[:60], xy)
    one = np.stack([map2d.place(q, X[:60], xy) for q in X[60:]])
    assert np.allclose(many, one, atol=1e-5)
