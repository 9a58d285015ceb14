"""From audio files to track features: window plan, loudness normalisation, backbones, pooling, cache.

A "feature set" names one backbone or several joined with "+" (``musicnn+dsp``): each track gets one
pooled vector per backbone, plus optional augmented *views* (the audio is augmented, then embedded).
Which windows of a track get embedded is the main speed lever: by default 8 windows of 6 s spread
over the track (a 30-minute mix costs as much as a 3-minute track); short tracks are read whole.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from trance_finder.core import audio as audio_io
from trance_finder.core.augment import AUGMENT_VERSION, AudioAugmenter
from trance_finder.core.backbones import Backbone, get_backbone
from trance_finder.core.cache import EmbeddingCache, file_fingerprint
from trance_finder.core.dna import DNA_SR, DNA_VERSION, compute_dna
from trance_finder.core.progress import CancelToken, Progress
from trance_finder.errors import AudioLoadError

DEFAULT_FEATURES = "musicnn+dsp"


@dataclass(frozen=True)
class WindowPlan:
    n_windows: int = 8
    window_seconds: float = 6.0

    def windows(self, duration: float) -> list[tuple[float, float]]:
        """(start, length) pairs in seconds. Whole track when it is short, else evenly spread windows."""
        total = self.n_windows * self.window_seconds
        if duration <= total * 1.25:
            return [(0.0, duration)]
        lo, hi = 0.05 * duration, 0.95 * duration - self.window_seconds
        starts = np.linspace(lo, hi, self.n_windows)
        return [(float(s), self.window_seconds) for s in starts]


@dataclass
class TrackFeatures:
    """What the engine knows about one audio file."""

    path: str
    duration: float
    lufs: float  # integrated loudness of the analysed audio before normalisation
    dna: dict
    vectors: dict[str, np.ndarray]  # backbone name -> (1 + n_views, dim), row 0 = the original audio
    tags: np.ndarray | None = None  # mean tag probabilities of the original, when a backbone tags
    tag_names: tuple[str, ...] = ()

    @property
    def n_views(self) -> int:
        return min(v.shape[0] for v in self.vectors.values()) - 1

    def joined(self, names: list[str], view: int = 0) -> np.ndarray:
        return np.concatenate([self.vectors[n][view] for n in names]).astype(np.float32)


@dataclass
class LibraryFeatures:
    tracks: list[TrackFeatures] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def parse_feature_set(spec: str) -> list[str]:
    names = [n.strip().lower() for n in str(spec).split("+") if n.strip()]
    if not names:
        raise ValueError("empty backbone name")
    return names


class FeatureExtractor:
    """Turns files into TrackFeatures for a feature set, using (and filling) the cache."""

    def __init__(self, features: str = DEFAULT_FEATURES, device: str = "cpu", plan: WindowPlan | None = None,
                 cache: EmbeddingCache | None = None, seed: int = 0,
                 backbones: list[Backbone] | None = None):
        self.names = parse_feature_set(features)
        self.backbones = backbones or [get_backbone(n, device=device) for n in self.names]
        self.plan = plan or WindowPlan()
        self.cache = cache
        self.seed = int(seed)
        self.augmenter: AudioAugmenter | None = None

    @property
    def spec(self) -> str:
        return "+".join(self.names)

    @property
    def dims(self) -> dict[str, int]:
        return {b.name: b.dim for b in self.backbones}

    @property
    def tag_names(self) -> tuple[str, ...]:
        for b in self.backbones:
            if b.tag_names:
                return tuple(b.tag_names)
        return ()

    def describe(self) -> dict:
        return {"features": self.spec, "backbones": [b.describe() for b in self.backbones],
                "window_plan": {"n_windows": self.plan.n_windows, "window_seconds": self.plan.window_seconds}}

    # -- cache keys -----------------------------------------------------------------------------
    def _plan_key(self) -> dict:
        return {"n_windows": self.plan.n_windows, "window_seconds": self.plan.window_seconds,
                "target_lufs": audio_io.TARGET_LUFS}

    def _backbone_key(self, b: Backbone) -> dict:
        return {"kind": "embedding", "backbone": b.id, "seed": self.seed, "augment": AUGMENT_VERSION,
                **self._plan_key()}

    def _dna_key(self) -> dict:
        return {"kind": "dna", "version": DNA_VERSION, **self._plan_key()}

    # -- one file -------------------------------------------------------------------------------
    def analyse_file(self, path, n_views: int = 0, cancel: CancelToken | None = None) -> TrackFeatures:
        """Features for one file; raises AudioLoadError with a clear reason for unusable files.

        ``cancel`` is checked between views and backbones, so even a long file stops promptly."""
        path = str(path)
        info = audio_io.audio_info(path)
        fp = file_fingerprint(path) if self.cache else ""
        cached = self._from_cache(fp, n_views) if self.cache else None
        if cached is not None:
            dna_entry, vectors, tags = cached
            return TrackFeatures(path, info.duration, float(dna_entry["lufs"]), _dna_from_arrays(dna_entry),
                                 vectors, tags, self.tag_names if tags is not None else ())

        excerpts = [audio_io.to_mono(audio_io.read_window(path, s, d, info))
                    for s, d in self.plan.windows(info.duration)]
        sr = info.sample_rate
        lufs = audio_io.check_usable(np.concatenate(excerpts), sr, path)

        views = [excerpts]
        if n_views:
            self.augmenter = self.augmenter or AudioAugmenter()
            views += [self.augmenter.augment_excerpts(excerpts, sr, self._view_seed(fp or path, v))
                      for v in range(1, n_views + 1)]

        vectors: dict[str, list[np.ndarray]] = {b.name: [] for b in self.backbones}
        tags = None
        dna = None
        for v, view in enumerate(views):
            view_lufs = lufs if v == 0 else audio_io.integrated_lufs(np.concatenate(view), sr)
            gain = audio_io.loudness_gain_db(view_lufs)
            normalised = [audio_io.apply_gain_db(x, gain) for x in view]
            resampled: dict[int, list[np.ndarray]] = {}

            def at(rate: int, _normalised=normalised, _resampled=resampled) -> list[np.ndarray]:
                if rate not in _resampled:
                    _resampled[rate] = [audio_io.resample(x, sr, rate) for x in _normalised]
                return _resampled[rate]

            if v == 0:
                dna = compute_dna(at(DNA_SR), DNA_SR, lufs)
            for b in self.backbones:
                if cancel:
                    cancel.check()
                outs = [b.analyse(x) for x in at(b.sample_rate)]
                frames = np.concatenate([o.frames for o in outs])
                vectors[b.name].append(b.pool(frames))
                if v == 0 and outs[0].tags is not None:
                    tags = np.concatenate([o.tags for o in outs]).mean(axis=0).astype(np.float32)
        stacked = {name: np.stack(rows).astype(np.float32) for name, rows in vectors.items()}
        if self.cache:
            self._to_cache(fp, dna, lufs, stacked, tags)
        return TrackFeatures(path, info.duration, float(lufs), dna, stacked, tags,
                             self.tag_names if tags is not None else ())

    def _view_seed(self, key: str, view: int) -> int:
        import zlib

        return (zlib.crc32(key.encode()) * 1000003 + self.seed * 7919 + view) % (2**31)

    def _from_cache(self, fp: str, n_views: int):
        dna_entry = self.cache.get(fp, self._dna_key())
        if dna_entry is None:
            return None
        vectors, tags = {}, None
        for b in self.backbones:
            entry = self.cache.get(fp, self._backbone_key(b))
            if entry is None or entry["views"].shape[0] < 1 + n_views or entry["views"].shape[1] != b.dim:
                return None
            vectors[b.name] = entry["views"][: 1 + n_views]
            if "tags" in entry:
                tags = entry["tags"]
        return dna_entry, vectors, tags

    def _to_cache(self, fp, dna, lufs, stacked, tags) -> None:
        self.cache.put(fp, self._dna_key(), _dna_to_arrays(dna, lufs))
        for b in self.backbones:
            arrays = {"views": stacked[b.name]}
            if tags is not None and b.tag_names:
                arrays["tags"] = tags
            self.cache.put(fp, self._backbone_key(b), arrays)

    # -- a library ------------------------------------------------------------------------------
    def extract_library(self, paths, n_views: int = 0, cancel: CancelToken | None = None):
        """Generator: yields Progress per file, returns LibraryFeatures. Bad files are skipped."""
        paths = [str(p) for p in paths]
        result = LibraryFeatures()
        started = time.monotonic()
        total = len(paths)
        yield Progress("extract", 0, total, f"Extracting features from {total} tracks")
        for i, path in enumerate(paths):
            if cancel:
                cancel.check()
            info: dict = {}
            try:
                result.tracks.append(self.analyse_file(path, n_views, cancel))
            except AudioLoadError as exc:
                result.skipped.append((path, exc.reason))
                info = {"skipped": path, "reason": exc.reason}
            except (OSError, ValueError, RuntimeError) as exc:  # vanished mid-read, decoder errors
                reason = f"could not be analysed ({type(exc).__name__}: {str(exc)[:120]})"
                result.skipped.append((path, reason))
                info = {"skipped": path, "reason": reason}
            elapsed = time.monotonic() - started
            eta = elapsed / (i + 1) * (total - i - 1)
            yield Progress("extract", i + 1, total, path, {**info, "eta_s": eta})
        return result



def _dna_to_arrays(dna: dict, lufs: float) -> dict[str, np.ndarray]:
    names = sorted(dna)
    return {"names": np.array(names), "values": np.array([dna[n] for n in names], dtype=np.float64),
            "lufs": np.array(lufs)}


def _dna_from_arrays(entry: dict) -> dict:
    return {str(n): float(v) for n, v in zip(entry["names"], entry["values"])}
