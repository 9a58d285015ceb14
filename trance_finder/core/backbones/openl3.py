"""``openl3``: the spec's OpenL3 embedding (music, mel128, 6144-d, hop 0.5 s, mean pooling).

Uses the official ``openl3`` package when it is installed (``pip install trance-finder[openl3]``; its
setup downloads the pretrained weights, and it brings TensorFlow). The model is loaded once per
backbone instance and reused for every file.
"""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np

from trance_finder.core.backbones.base import Backbone, BackboneOutput


class OpenL3Backbone(Backbone):
    name = "openl3"
    version = "1"
    sample_rate = 48000  # OpenL3's own rate: feeding it avoids a second resampling inside openl3
    patch_seconds = 1.0

    def __init__(self, device: str = "cpu", pooling: str = "mean", content_type: str = "music",
                 input_repr: str = "mel128", embedding_size: int = 6144, hop_size: float = 0.5,
                 batch_size: int = 32):
        self.device = device
        self.pooling = pooling
        self.content_type = content_type
        self.input_repr = input_repr
        self.embedding_size = int(embedding_size)
        self.hop_size = float(hop_size)
        self.batch_size = int(batch_size)
        self._openl3 = importlib.import_module("openl3")
        self._model = self._openl3.models.load_audio_embedding_model(
            input_repr=self.input_repr, content_type=self.content_type, embedding_size=self.embedding_size)

    @classmethod
    def check_available(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("openl3") is None:
            return False, "the openl3 package is not installed (pip install 'trance-finder[openl3]')"
        return True, ""

    @property
    def frame_dim(self) -> int:
        return self.embedding_size

    @property
    def params(self) -> dict:
        return {"pooling": self.pooling, "content_type": self.content_type, "input_repr": self.input_repr,
                "embedding_size": self.embedding_size, "hop_size": self.hop_size}

    def analyse(self, audio: np.ndarray) -> BackboneOutput:
        emb, _timestamps = self._openl3.get_audio_embedding(
            np.asarray(audio, dtype=np.float32), self.sample_rate, model=self._model,
            hop_size=self.hop_size, batch_size=self.batch_size, center=True, verbose=False)
        return BackboneOutput(frames=np.asarray(emb, dtype=np.float32))
