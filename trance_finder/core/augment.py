"""The spec's conservative augmentation for music similarity (audiomentations), seeded per view."""

from __future__ import annotations

import random

import numpy as np
from audiomentations import AddGaussianNoise, Compose, Gain, PitchShift, TimeStretch

#: bump when the augmentation changes: cached views are keyed by it
AUGMENT_VERSION = "2"


class AudioAugmenter:
    """Pitch ±3 st, stretch 0.9-1.1x, light noise, gain -6..+3 dB. Same seed -> same output."""

    def __init__(self):
        self.augment = Compose([
            AddGaussianNoise(min_amplitude=0.001, max_amplitude=0.01, p=0.3),
            TimeStretch(min_rate=0.9, max_rate=1.1, p=0.5, leave_length_unchanged=False),
            PitchShift(min_semitones=-3, max_semitones=3, p=0.5),
            Gain(min_gain_db=-6, max_gain_db=3, p=0.4),
        ])

    def __call__(self, audio: np.ndarray, sample_rate: int, seed: int | None = None) -> np.ndarray:
        audio = np.asarray(audio, dtype=np.float32)
        if seed is None:
            return self.augment(samples=audio, sample_rate=sample_rate)
        # audiomentations draws from the global random/numpy generators: seed both, then restore
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            for attempt in range(8):
                random.seed(seed + 7919 * attempt)
                np.random.seed((seed + 7919 * attempt) % (2**32))
                out = self.augment(samples=audio, sample_rate=sample_rate).astype(np.float32)
                if self._changed_sound():
                    break
            return out
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)

    def _changed_sound(self) -> bool:
        """True when a transform other than Gain was applied (gain alone is undone by loudness
        normalisation, so such a view would equal the original)."""
        return any(t.parameters.get("should_apply") for t in self.augment.transforms if not isinstance(t, Gain))

    def augment_excerpts(self, excerpts: list[np.ndarray], sample_rate: int, seed: int) -> list[np.ndarray]:
        """Each excerpt with the same seed, hence the same pitch/stretch/gain draw across the track."""
        return [self(x, sample_rate, seed) for x in excerpts]
