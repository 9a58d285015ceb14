"""Walks through the latent space: weighted blends of anchors (references, cluster centres, a WIP)."""

from __future__ import annotations

import numpy as np

from trance_finder.core.head import unit_rows


def blend(anchors: np.ndarray, weights) -> np.ndarray:
    """Unit vector of the weighted mean of unit ``anchors`` (k, d); weights are made to sum to 1."""
    anchors = unit_rows(np.atleast_2d(anchors))
    w = np.clip(np.asarray(weights, dtype=np.float32).ravel(), 0.0, None)
    if w.shape[0] != anchors.shape[0]:
        raise ValueError("one weight per anchor is needed")
    if w.sum() <= 0:
        w = np.ones_like(w)
    mix = (w / w.sum()) @ anchors
    if np.linalg.norm(mix) < 1e-6:  # opposite anchors cancel: fall back to the heaviest
        mix = anchors[int(np.argmax(w))]
    return unit_rows(mix[None, :])[0]


def toward(start: np.ndarray, target: np.ndarray, amount: float) -> np.ndarray:
    """Spherical interpolation from ``start`` (amount 0) to ``target`` (amount 1)."""
    a, b = unit_rows(np.stack([start, target]))
    t = float(np.clip(amount, 0.0, 1.0))
    omega = float(np.arccos(np.clip(a @ b, -1.0, 1.0)))
    if omega < 1e-4:
        return a
    return unit_rows(((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega))[None, :])[0]
