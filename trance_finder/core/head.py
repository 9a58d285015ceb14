"""The projection head (the spec's MusicEmbeddingNetwork) and the model file that carries it.

A model file (``.pt``) holds only tensors and one JSON string: it is read with
``torch.load(weights_only=True)``, so opening a model someone shared never runs code. Besides the
weights it records everything needed to use it: feature set and backbone ids, input standardisation,
label names, cluster centroids, training settings and date, evaluation numbers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trance_finder.core.atomic import atomic_path
from trance_finder.errors import ModelError

MODEL_FORMAT = 1


class MusicEmbeddingNetwork(nn.Module):
    """Backbone features -> 256-d unit vector (Linear-LayerNorm-GELU-Dropout-Linear, L2-normalised)."""

    def __init__(self, backbone_dim: int = 6144, embedding_dim: int = 256, dropout: float = 0.1):
        super().__init__()
        self.projection = nn.Sequential(
            nn.Linear(backbone_dim, 512),
            nn.LayerNorm(512),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(512, embedding_dim),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(features), p=2, dim=1)


@dataclass
class Standardizer:
    """Per-dimension z-score, then each backbone block scaled so all blocks carry the same total
    variance (a 6144-d block does not drown a 196-d one) and the average dimension has unit variance."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, blocks: list[int]) -> Standardizer:
        X = np.asarray(X, dtype=np.float64)
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        std = np.where(std < 1e-8, 1.0, std)
        total = float(sum(blocks))
        block_scale = np.concatenate([np.full(d, np.sqrt(total / (len(blocks) * d))) for d in blocks])
        return cls(mean.astype(np.float32), (block_scale / std).astype(np.float32))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float32) - self.mean) * self.scale).astype(np.float32)


def first_line(exc: BaseException, limit: int = 120) -> str:
    """The first non-empty line of an exception's message (its type name when there is none)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()[:limit]
    return type(exc).__name__


def unit_rows(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return (X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


@dataclass
class EmbeddingModel:
    """A trained head plus what it needs: the way from track features to index vectors."""

    network: MusicEmbeddingNetwork
    standardizer: Standardizer
    meta: dict = field(default_factory=dict)

    # meta keys used by code: features, backbone_ids, dims, embedding_dim, identity_weight,
    # label_names, clusters (name list), cluster_centroids (list of vectors), window_plan,
    # train_config, trained_at, evaluation

    @property
    def identity_weight(self) -> float:
        return float(self.meta.get("identity_weight", 0.0))

    @property
    def head_in_use(self) -> bool:
        """False when the quality guard found the trained head worse than the raw backbone on held-out
        tracks (or nothing could be trained): the index vectors are then the standardised backbone
        features themselves, and the head's weights are kept only for the record."""
        return bool(self.meta.get("head_in_use", True))

    def bypass_head(self, reason: str = "") -> None:
        """Make ``embed`` return the raw (standardised) backbone vectors from now on."""
        self.meta["head_in_use"] = False
        if reason:
            self.meta["head_bypass_reason"] = reason

    @classmethod
    def raw(cls, standardizer: Standardizer, meta: dict | None = None, embedding_dim: int = 256) -> EmbeddingModel:
        """A model with no trained head: ``embed`` gives the standardised backbone vectors."""
        net = MusicEmbeddingNetwork(int(standardizer.mean.shape[0]), embedding_dim, 0.0).eval()
        model = cls(net, standardizer, {"embedding_dim": embedding_dim, "dropout": 0.0, "identity_weight": 0.0,
                                        "loss_history": [], **(meta or {})})
        model.bypass_head(model.meta.get("head_bypass_reason", ""))
        return model

    def embed(self, X: np.ndarray, device: str = "cpu", batch: int = 4096) -> np.ndarray:
        """Raw joined features (n, dim) -> index vectors (n, embedding_dim [+ raw dim]), unit length;
        (n, raw dim) standardised backbone vectors when the head is bypassed (``head_in_use`` False).

        With identity_weight w > 0 the vector is [sqrt(1-w) * head, sqrt(w) * unit(raw)], so its cosine is
        (1-w) * head cosine + w * raw cosine: the head decides the style neighbourhood, the raw
        backbone keeps a re-bounced or pitched copy of a track next to its original.
        """
        Z = self.standardizer(np.atleast_2d(X))
        if not self.head_in_use:
            return unit_rows(Z)
        net = self.network.to(device).eval()
        outs = []
        with torch.inference_mode():
            for i in range(0, len(Z), batch):
                outs.append(net(torch.from_numpy(Z[i:i + batch]).to(device)).cpu().numpy())
        head = np.concatenate(outs).astype(np.float32) if outs else np.zeros((0, self.meta["embedding_dim"]), np.float32)
        w = self.identity_weight
        if w <= 0:
            return head
        return unit_rows(np.concatenate([np.sqrt(1 - w) * head, np.sqrt(w) * unit_rows(Z)], axis=1))

    def fingerprint(self) -> str:
        h = hashlib.sha1()
        for k, v in sorted(self.network.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().numpy().tobytes())
        h.update(self.standardizer.mean.tobytes())
        h.update(self.standardizer.scale.tobytes())
        h.update(json.dumps({k: self.meta.get(k) for k in ("features", "backbone_ids", "identity_weight")}
                            | ({"head_in_use": False} if not self.head_in_use else {}),
                            sort_keys=True).encode())
        return h.hexdigest()[:16]

    def save(self, path) -> None:
        payload = {
            "format": torch.tensor(MODEL_FORMAT),
            "state_dict": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
            "standardizer_mean": torch.from_numpy(self.standardizer.mean),
            "standardizer_scale": torch.from_numpy(self.standardizer.scale),
            "meta_json": json.dumps(self.meta),
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    @classmethod
    def load(cls, path) -> EmbeddingModel:
        from trance_finder.core.modelstore import resolve

        shown = Path(path)
        path = Path(resolve(shown).path)  # through the model folder's pointer: always a whole set
        if not path.exists():
            raise ModelError(f"model file not found: {shown}")
        if path.stat().st_size == 0:
            raise ModelError(f"{shown} is empty (0 bytes): the model was not saved completely; train again")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelError(f"{shown} is not a Trance Finder model file ({first_line(exc)})") from exc
        if not isinstance(payload, dict) or "meta_json" not in payload or "state_dict" not in payload:
            raise ModelError(f"{shown} is not a Trance Finder model file (missing weights or metadata)")
        if int(payload.get("format", -1)) != MODEL_FORMAT:
            raise ModelError(f"{shown} has model format {int(payload.get('format', -1))}; this app reads {MODEL_FORMAT}")
        try:
            meta = json.loads(payload["meta_json"])
            if not isinstance(meta, dict):
                raise ValueError("its metadata is not a JSON object")
            state = payload["state_dict"]
            in_dim = int(state["projection.0.weight"].shape[1])
            net = MusicEmbeddingNetwork(in_dim, int(meta["embedding_dim"]), float(meta.get("dropout", 0.1)))
            net.load_state_dict(state)
            std = Standardizer(payload["standardizer_mean"].numpy().astype(np.float32),
                               payload["standardizer_scale"].numpy().astype(np.float32))
        except Exception as exc:
            raise ModelError(f"{shown} is damaged or from an incompatible version ({exc})") from exc
        if std.mean.shape[0] != in_dim:
            raise ModelError(f"{shown} is inconsistent: standardiser has {std.mean.shape[0]} dims, head expects {in_dim}")
        net.eval()
        return cls(net, std, meta)
