"""The GUI's background jobs, Qt-free: every function here runs in a worker thread, never on the UI
thread. Long ones are generators (Progress out, CancelToken in) like the core's; short ones are plain
functions. The worker (``workers.py``) drives both."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trance_finder import paths as app_paths
from trance_finder.core.progress import CancelToken, Progress

log = logging.getLogger(__name__)

MODEL_NAME = "embedding_model.pt"
INDEX_NAME = "similarity_index.faiss"
WAVEFORM_BINS = 1600


# -- models -----------------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    """A Finder and where it came from ("demo", "user", "custom")."""

    finder: object  # trance_finder.core.engine.Finder
    kind: str
    model_path: str
    index_path: str
    features: str = ""
    references: str = ""
    evaluation: dict = field(default_factory=dict)
    demo_wip: str | None = None

    @property
    def n_tracks(self) -> int:
        return len(self.finder.tracks)


def user_model_paths() -> tuple[str, str]:
    folder = app_paths.user_model_dir()
    return str(folder / MODEL_NAME), str(folder / INDEX_NAME)


def load_model(model_path: str, index_path: str, kind: str = "custom", device: str = "auto") -> LoadedModel:
    from trance_finder.core.engine import load_finder_or_explain

    finder = load_finder_or_explain(model_path, index_path, device=device, cache=app_paths.default_embedding_cache())
    meta = finder.model.meta
    return LoadedModel(finder, kind, str(model_path), str(index_path), meta.get("features", ""),
                       meta.get("references", ""), meta.get("evaluation", {}))


def startup(model_path: str | None = None, index_path: str | None = None, use_demo: bool = True,
            prefer_user_model: bool = True, device: str = "auto", demo_features: str | None = None,
            cancel: CancelToken | None = None):
    """Generator: which model to open, and open it. Returns a LoadedModel, or None (nothing to load).

    Order: the paths given (command line / frozen self-test), then the model trained from the settings
    panel, then the built-in demo library (built once, with progress).
    """
    if model_path and index_path:
        yield Progress("load", 0, 1, f"Loading model {Path(model_path).name}")
        return load_model(model_path, index_path, "custom", device)
    user_model, user_index = user_model_paths()
    if prefer_user_model and Path(user_model).exists() and Path(user_index).exists():
        yield Progress("load", 0, 1, "Loading your model")
        try:
            return load_model(user_model, user_index, "user", device)
        except Exception as exc:  # a damaged user model must not keep the app from opening
            if not use_demo:
                raise
            log.warning("could not load the user model (%s); opening the demo library instead", exc)
            yield Progress("load", 0, 1, f"Your model could not be loaded ({exc}); opening the demo library",
                           {"warning": str(exc)})
    if not use_demo:
        return None
    from trance_finder.demo import demo_query_file, ensure_demo

    paths = yield from ensure_demo(device=device, cancel=cancel, features=demo_features)
    yield Progress("load", 0, 1, "Loading the demo model")
    if paths.get("shipped"):
        try:
            return load_shipped_demo(paths, device)
        except Exception as exc:  # made for an older model format: build the demo here instead
            log.warning("the shipped demo assets did not load (%s); building the demo library", exc)
            paths = yield from ensure_demo(device=device, cancel=cancel, features=demo_features, use_shipped=False)
    loaded = load_model(paths["model"], paths["index"], "demo", device)
    loaded.references = paths["library"]
    loaded.demo_wip = demo_query_file()
    return loaded


def load_shipped_demo(paths: dict, device: str = "auto") -> LoadedModel:
    """The demo model and index shipped with the app; their track paths point into the user's demo
    library folder, where the audio is rendered in the background (``demo.render_demo_audio``)."""
    from trance_finder.demo import resolve_track_paths

    loaded = load_model(paths["model"], paths["index"], "demo", device)
    resolve_track_paths(loaded.finder.tracks, paths["library"])
    loaded.references = paths["library"]
    return loaded


# -- queries ----------------------------------------------------------------------------------------
@dataclass
class Ranking:
    """Every reference ranked against one vector (exact cosine), best first."""

    order: np.ndarray  # positions, best first
    similarity: np.ndarray  # by position

    @classmethod
    def of(cls, finder, vector, top=None) -> Ranking:
        sims = np.asarray(finder.vectors, dtype=np.float32) @ np.asarray(vector, dtype=np.float32).ravel()
        order = np.argsort(-sims, kind="stable")
        if top:  # the index's own order for its top-k (identical for an exact index)
            head = [n.position for n in top]
            rest = [int(i) for i in order if int(i) not in set(head)]
            order = np.array(head + rest, dtype=np.int64)
        return cls(order, sims)


@dataclass
class QueryOutcome:
    path: str
    result: object  # trance_finder.core.engine.QueryResult
    ranking: Ranking
    top_tags: list[tuple[str, float]]
    n_windows: int = 0  # analysis windows the first loudness estimate comes from
    note: str = ""  # e.g. a section ranking that fell back to the whole track


def run_query(finder, path: str, k: int = 10, cancel=None, section: str | None = None) -> QueryOutcome:
    """The ranked list; ``section`` ("drop", ...): ranked by that section of the WIP against the
    references' same sections. A WIP without that section is ranked by its whole track (``note`` says so)."""
    k = max(1, min(k, len(finder.tracks)))
    note = ""
    if section and section != "whole":
        from trance_finder.errors import TranceFinderError

        try:
            result = finder.query(path, k=k, cancel=cancel, section=section)
        except TranceFinderError as exc:
            if f"has no {section} section" not in str(exc):
                raise
            note = f"{exc}: ranked by the whole track"
            result = finder.query(path, k=k, cancel=cancel)
    else:
        result = finder.query(path, k=k, cancel=cancel)
    ranking = Ranking.of(finder, result.vector, result.neighbours)
    top_tags: list[tuple[str, float]] = []
    q = result.query
    if q is not None and q.tags is not None and q.tag_names:
        idx = np.argsort(-np.asarray(q.tags))[:10]
        top_tags = [(q.tag_names[i], float(q.tags[i])) for i in idx]
    n_windows = 0
    if q is not None:
        from trance_finder.core.extract import WindowPlan

        n_windows = len(WindowPlan().windows(float(q.duration)))
    if getattr(result, "section", None):  # the list shows the section similarities it is ranked by
        for n in result.neighbours:
            ranking.similarity[n.position] = n.similarity
    return QueryOutcome(str(path), result, ranking, top_tags, n_windows, note)


# -- interpolation ----------------------------------------------------------------------------------
@dataclass
class BlendOutcome:
    request_id: int
    vector: np.ndarray
    xy: tuple[float, float]
    neighbours: list  # [Neighbour]


def anchor_vector(finder, anchor: tuple[str, object], wip_vector=None) -> np.ndarray:
    """An anchor is ("cluster", name), ("track", position) or ("wip", None)."""
    kind, key = anchor
    if kind == "cluster":
        return np.asarray(finder.centroids[finder.cluster_names.index(key)], dtype=np.float32)
    if kind == "track":
        return np.asarray(finder.vectors[int(key)], dtype=np.float32)
    if kind == "wip":
        if wip_vector is None:
            raise ValueError("no WIP loaded")
        return np.asarray(wip_vector, dtype=np.float32)
    raise ValueError(f"unknown anchor kind {kind!r}")


def blend_anchors(finder, request_id: int, anchors, weights, wip_vector=None, k: int = 8) -> BlendOutcome:
    from trance_finder.core.interpolate import blend

    vecs = np.stack([anchor_vector(finder, a, wip_vector) for a in anchors])
    v = blend(vecs, weights)
    return BlendOutcome(request_id, v, finder.place(v), finder.neighbours(v, k))


def toward_cluster(finder, request_id: int, wip_vector, cluster: str, amount: float, k: int = 8) -> BlendOutcome:
    from trance_finder.core.interpolate import toward

    target = anchor_vector(finder, ("cluster", cluster))
    v = toward(np.asarray(wip_vector, dtype=np.float32), target, amount)
    return BlendOutcome(request_id, v, finder.place(v), finder.neighbours(v, k))


# -- playback audio ---------------------------------------------------------------------------------
@dataclass
class PlaybackAudio:
    """A decoded file for the player and the waveform view."""

    path: str
    duration: float
    lufs: float  # integrated loudness of the whole file
    gain_db: float  # alone: min(0, target LUFS - lufs); the player matches A and B to the quieter side
    peaks: np.ndarray  # (bins, 2) min/max of the mono mix, for the overview
    buffer: np.ndarray | None = None  # (frames, channels) float32 at ``samplerate``; None without a device
    samplerate: float = 0.0
    stamp: tuple[int, int] | None = None  # (size, mtime_ns) of the file when it was decoded

    @property
    def title(self) -> str:
        return Path(self.path).stem

    def is_current(self, path) -> bool:
        """Same path and the file unchanged since decoding (a re-bounce keeps the path, not the stamp)."""
        return self.path == str(path) and self.stamp == file_stamp(path)


def file_stamp(path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def waveform_peaks(mono: np.ndarray, bins: int = WAVEFORM_BINS) -> np.ndarray:
    n = len(mono)
    if n == 0:
        return np.zeros((bins, 2), np.float32)
    bins = max(1, min(bins, n))
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    lo = np.minimum.reduceat(mono, edges[:-1])
    hi = np.maximum.reduceat(mono, edges[:-1])
    return np.stack([lo, hi], axis=1).astype(np.float32)


def decode_for_playback(path: str, device_rate: float | None, channels: int = 2,
                        target_lufs: float | None = None) -> PlaybackAudio:
    """Decode the whole file, measure its loudness, make waveform peaks and (when a device rate is
    given) a (frames, channels) buffer resampled to the device rate."""
    from trance_finder.core import audio as audio_io  # scipy: imported in the worker, not at start-up

    target_lufs = audio_io.TARGET_LUFS if target_lufs is None else target_lufs
    stamp = file_stamp(path)
    audio, sr = audio_io.load(path)  # (channels, n) at the file's rate
    mono = audio_io.to_mono(audio)
    peaks = waveform_peaks(mono)
    if audio.shape[0] == 1 and channels > 1:
        audio = np.repeat(audio, channels, axis=0)  # played on every channel: measure it that way
    audio = audio[:channels]
    lufs = audio_io.integrated_lufs(audio, sr)
    gain = min(0.0, audio_io.loudness_gain_db(lufs, target_lufs))  # alone: attenuate only, never boost
    buffer = None
    rate = 0.0
    if device_rate:
        rate = float(device_rate)
        if int(round(rate)) != sr:
            audio = audio_io.resample(audio, sr, int(round(rate)))
        buffer = np.ascontiguousarray(audio.T, dtype=np.float32)
    return PlaybackAudio(str(path), audio_io.audio_info(path).duration, lufs if math.isfinite(lufs) else -math.inf,
                         gain, peaks, buffer, rate, stamp)


def make_demo_wip() -> str:
    from trance_finder.demo import demo_query_file

    return demo_query_file()


# -- training ---------------------------------------------------------------------------------------
@dataclass
class TrainOutcome:
    result: object  # TrainResult
    loaded: LoadedModel


def train_and_load(opts, device: str = "auto", cancel: CancelToken | None = None):
    """Generator: train (core ``train_library``), then open the new model; returns a TrainOutcome.

    The previous model stays in use until this returns: a cancelled or failed run changes nothing.
    """
    from trance_finder.core.engine import train_library

    result = yield from train_library(opts, cancel)
    yield Progress("load", 0, 1, "Loading the new model")
    loaded = load_model(result.model_path, result.index_path, "user", device)
    loaded.evaluation = result.evaluation
    return TrainOutcome(result, loaded)


# -- environment ------------------------------------------------------------------------------------
def environment_info() -> dict:
    """Backbone availability and devices, for the settings panel (imports torch: run it in a worker)."""
    from trance_finder.core.backbones import availability, backbone_names
    from trance_finder.core.device import cuda_available, describe_devices

    return {"backbones": {n: availability(n) for n in backbone_names()}, "devices": describe_devices(),
            "cuda": cuda_available()}
