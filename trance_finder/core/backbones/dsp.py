"""``dsp``: a backbone with no weights, so the app always works.

Per 3-second patch: mean and standard deviation of 64 log-mel bands, the mean of their frame-to-frame
change (timbre movement), and four spectral-shape values. Pooled over patches like any backbone.
"""

from __future__ import annotations

import numpy as np

from trance_finder.core.backbones.base import Backbone, BackboneOutput
from trance_finder.core.spectral import log_mel


class DspBackbone(Backbone):
    name = "dsp"
    version = "1"
    sample_rate = 22050
    patch_seconds = 3.0
    n_mels = 64

    def __init__(self, device: str = "cpu", pooling: str = "mean"):
        self.device = "cpu"
        self.pooling = pooling

    @classmethod
    def check_available(cls) -> tuple[bool, str]:
        return True, ""

    @property
    def frame_dim(self) -> int:
        return 3 * self.n_mels + 4

    def analyse(self, audio: np.ndarray) -> BackboneOutput:
        audio = np.asarray(audio, dtype=np.float32)
        patch = int(self.patch_seconds * self.sample_rate)
        if len(audio) < patch:
            audio = np.pad(audio, (0, patch - len(audio)))
        n = len(audio) // patch
        frames = [self._patch_vector(audio[i * patch:(i + 1) * patch]) for i in range(n)]
        return BackboneOutput(frames=np.stack(frames).astype(np.float32))

    def _patch_vector(self, x: np.ndarray) -> np.ndarray:
        mel = log_mel(x, self.sample_rate, n_fft=2048, hop=512, n_mels=self.n_mels)  # (T, 64)
        delta = np.abs(np.diff(mel, axis=0)).mean(axis=0) if len(mel) > 1 else np.zeros(self.n_mels)
        energy = 10.0 ** mel
        bands = np.arange(self.n_mels, dtype=np.float32)
        weights = energy / (energy.sum(axis=1, keepdims=True) + 1e-12)
        centroid = (weights @ bands).mean() / self.n_mels
        spread = np.sqrt((weights * (bands[None, :] - (weights @ bands)[:, None]) ** 2).sum(axis=1)).mean() / self.n_mels
        flat = np.mean(np.exp(np.mean(np.log(energy + 1e-12), axis=1)) / (energy.mean(axis=1) + 1e-12))
        frame_energy = np.log10(energy.sum(axis=1) + 1e-10)
        shape = np.array([centroid, spread, flat, frame_energy.std()], dtype=np.float32)
        return np.concatenate([mel.mean(axis=0), mel.std(axis=0), delta, shape]).astype(np.float32)
