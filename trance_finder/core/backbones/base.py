"""The small interface every backbone implements.

A backbone turns mono audio at its own sample rate into frame vectors (one per analysis patch) and
pools them into one track vector. ``id`` names the backbone *and* every parameter that changes its
output, so caches and models keyed by it never serve a stale vector.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass
class BackboneOutput:
    frames: np.ndarray  # (n_frames, frame_dim) float32
    tags: np.ndarray | None = None  # (n_frames, n_tags) probabilities, for backbones that tag


class Backbone(ABC):
    #: short name used on the command line and in model files
    name: str = ""
    #: bump when the backbone's output changes for the same audio
    version: str = "1"
    #: sample rate ``analyse`` expects (Hz, mono float32)
    sample_rate: int = 16000
    #: length of one analysis patch in seconds; the extractor never feeds less than this
    patch_seconds: float = 3.0
    #: names of the tag probabilities ``analyse`` returns, empty when the backbone does not tag
    tag_names: tuple[str, ...] = ()
    #: torch device the backbone runs on, if any
    device: str = "cpu"

    @property
    @abstractmethod
    def frame_dim(self) -> int: ...

    @property
    def params(self) -> dict:
        """Every setting that changes the output (pooling, hop, representation...)."""
        return {"pooling": self.pooling}

    pooling: str = "mean"  # "mean" or "meanmax"

    @property
    def dim(self) -> int:
        return self.frame_dim * (2 if self.pooling == "meanmax" else 1)

    @property
    def id(self) -> str:
        blob = json.dumps(
            {"name": self.name, "version": self.version, "sr": self.sample_rate, **self.params},
            sort_keys=True,
        )
        return f"{self.name}-v{self.version}-{hashlib.sha1(blob.encode()).hexdigest()[:10]}"

    @abstractmethod
    def analyse(self, audio: np.ndarray) -> BackboneOutput:
        """Frame vectors (and tags, if any) for mono float32 ``audio`` at ``sample_rate``."""

    def pool(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames, dtype=np.float32)
        mean = frames.mean(axis=0)
        if self.pooling == "meanmax":
            return np.concatenate([mean, frames.max(axis=0)]).astype(np.float32)
        return mean.astype(np.float32)

    def describe(self) -> dict:
        return {"name": self.name, "id": self.id, "dim": self.dim, "sample_rate": self.sample_rate,
                "params": self.params, "device": self.device}
