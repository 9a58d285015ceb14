"""The engine the CLI and the GUI share: train a library end to end, and answer queries.

``train_library`` is a generator (Progress out, cancel token in) that extracts features (cache-backed),
builds or loads the profile, derives labels, trains the head, indexes the references, lays out the 2D
map, evaluates, and only then writes model, index and profile, each atomically. ``Finder`` loads a
model + index pair (refusing mismatched ones) and turns a file into ranked neighbours, a predicted
cluster with confidence, and a place on the map.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trance_finder.core import map2d
from trance_finder.core.atomic import atomic_paths
from trance_finder.core.audio import find_audio_files
from trance_finder.core.cache import EmbeddingCache
from trance_finder.core.device import resolve_device
from trance_finder.core.evaluation import held_out_evaluation, in_sample_metrics
from trance_finder.core.extract import DEFAULT_FEATURES, FeatureExtractor, TrackFeatures, WindowPlan
from trance_finder.core.head import EmbeddingModel, Standardizer, unit_rows
from trance_finder.core.index import SimilarityIndex, metadata_path
from trance_finder.core.labels import composite_labels, read_labels_csv
from trance_finder.core.profile import ReferenceProfile, build_profile
from trance_finder.core.progress import CancelToken, Progress
from trance_finder.core.training import TrainConfig, TrainingSet, train_head
from trance_finder.errors import IndexMismatchError, ModelError, TranceFinderError

CONFIDENCE_TEMPERATURE = 0.05


@dataclass
class TrainOptions:
    references: str
    output_model: str
    output_index: str
    profile: str | None = None
    labels_csv: str | None = None
    features: str = DEFAULT_FEATURES
    device: str = "auto"
    n_views: int = 4
    clusters: int | None = None
    eval_folds: int = 5
    window_plan: WindowPlan = field(default_factory=WindowPlan)
    train: TrainConfig = field(default_factory=TrainConfig)
    cache_dir: str | None = None


@dataclass
class TrainResult:
    model_path: str
    index_path: str
    profile_path: str
    n_tracks: int
    n_labels: int
    label_source: str
    evaluation: dict
    skipped: list[tuple[str, str]]
    loss_history: list[float]
    seconds: float


def track_record(t: TrackFeatures, cluster: str, label: str, xy, tag_names=()) -> dict:
    rec = {"path": t.path, "title": Path(t.path).stem, "duration": round(t.duration, 2),
           "tempo": round(float(t.dna["tempo"]), 1), "energy": round(float(t.dna["energy_progression"]), 3),
           "lufs": round(t.lufs, 2) if math.isfinite(t.lufs) else None, "cluster": cluster, "label": label,
           "x": float(xy[0]), "y": float(xy[1])}
    if t.tags is not None and tag_names:
        top = np.argsort(-t.tags)[:5]
        rec["tags"] = [[tag_names[i], round(float(t.tags[i]), 3)] for i in top]
    return rec


def train_library(opts: TrainOptions, cancel: CancelToken | None = None):
    """Generator: Progress for every stage; returns a TrainResult. Nothing is written before the end."""
    started = time.monotonic()
    device = resolve_device(opts.device)
    refs = Path(opts.references).expanduser().resolve()
    files = find_audio_files(refs)
    if not files:
        raise TranceFinderError(f"no audio files (wav, flac, aiff, mp3, ogg) found in {refs}")
    cache = EmbeddingCache(opts.cache_dir) if opts.cache_dir else None
    extractor = FeatureExtractor(opts.features, device=device, plan=opts.window_plan, cache=cache,
                                 seed=opts.train.seed)
    lib = yield from extractor.extract_library(files, n_views=opts.n_views, cancel=cancel)
    tracks = lib.tracks
    if len(tracks) < 2:
        raise TranceFinderError(f"only {len(tracks)} usable track(s) in {refs}; at least 2 are needed "
                                f"({len(lib.skipped)} skipped)")

    # profile and labels
    model_dir = Path(opts.output_model).expanduser().resolve().parent
    profile_path = Path(opts.profile).expanduser() if opts.profile else model_dir / "trance_profile.json"
    profile = None
    if opts.profile and profile_path.exists():
        profile = ReferenceProfile.load(profile_path)
        known = profile.cluster_of()
        if not all(t.path in known for t in tracks):
            profile = None  # library changed since the profile was made: rebuild it
            yield Progress("profile", 0, 1, f"{profile_path.name} does not cover every track: rebuilding it")
    if profile is None:
        yield Progress("profile", 0, 1, "Building reference profile (clusters)")
        profile = build_profile(tracks, k=opts.clusters, backbone_names=extractor.names, seed=opts.train.seed)
    clusters = profile.cluster_of()
    if opts.labels_csv:
        user = read_labels_csv(opts.labels_csv, refs)
        missing = [t.path for t in tracks if t.path not in user]
        label_of = {**{p: f"unlabelled:{clusters[p]}" for p in missing}, **user}
        label_source = f"labels.csv ({len(user)} rows, {len(missing)} tracks without a label use their cluster)"
    else:
        label_of = composite_labels(profile)
        label_source = "profile clusters x tempo x energy"
    data = TrainingSet.from_tracks(tracks, label_of, extractor.names, opts.n_views)
    yield Progress("labels", 1, 1, f"Found {len(data.label_names)} unique labels ({label_source})",
                   {"labels": data.label_names})

    cfg = TrainConfig(**{**opts.train.to_dict(), "device": device})
    model = yield from train_head(data, cfg, cancel)

    # index vectors, cluster centres, map
    yield Progress("index", 0, 1, "Building similarity index")
    originals = np.stack([t.joined(extractor.names) for t in tracks])
    vectors = model.embed(originals)
    cluster_names = profile.clusters
    centroids = []
    for c in cluster_names:
        members = [i for i, t in enumerate(tracks) if clusters[t.path] == c]
        centroids.append(unit_rows(vectors[members].mean(axis=0, keepdims=True))[0] if members
                         else np.zeros(vectors.shape[1], np.float32))
    xy = map2d.layout(vectors, seed=cfg.seed)
    records = [track_record(t, clusters[t.path], label_of[t.path], xy[i], extractor.tag_names)
               for i, t in enumerate(tracks)]

    # evaluation: in-sample always, held-out folds when asked for and possible
    labels_arr = np.array([label_of[t.path] for t in tracks])
    raw = Standardizer.fit(data.X, data.blocks)(originals)
    evaluation = {"in_sample": {"finetuned": in_sample_metrics(vectors, labels_arr, cfg.seed),
                                "raw": in_sample_metrics(raw, labels_arr, cfg.seed)},
                  "label_source": label_source, "n_tracks": len(tracks), "n_labels": len(data.label_names)}
    if opts.eval_folds and opts.eval_folds > 1 and len(tracks) >= 2 * opts.eval_folds:
        evaluation["held_out"] = yield from held_out_evaluation(data, cfg, opts.eval_folds, cancel)

    model.meta.update({
        "features": extractor.spec,
        "backbone_ids": {b.name: b.id for b in extractor.backbones},
        "dims": extractor.dims,
        "window_plan": {"n_windows": opts.window_plan.n_windows, "window_seconds": opts.window_plan.window_seconds},
        "n_views": opts.n_views,
        "clusters": cluster_names,
        "cluster_centroids": [c.tolist() for c in centroids],
        "tag_names": list(extractor.tag_names),
        "references": str(refs),
        "evaluation": evaluation,
    })
    index = SimilarityIndex.build(vectors, records, {"model_fingerprint": model.fingerprint(),
                                                     "features": extractor.spec})
    if cancel:
        cancel.check()
    yield Progress("save", 0, 1, "Saving model, index and profile")
    if cancel:
        cancel.check()  # last chance: after this the new files replace the previous ones
    index_path = Path(opts.output_index)
    with atomic_paths(profile_path, index_path, metadata_path(index_path), opts.output_model) as tmp:
        profile.save(tmp[0])
        index.write(tmp[1], tmp[2], index_path.name)
        model.save(tmp[3])
    yield Progress("save", 1, 1, f"Index size: {len(index)} tracks")
    return TrainResult(str(opts.output_model), str(opts.output_index), str(profile_path), len(tracks),
                       len(data.label_names), label_source, evaluation, lib.skipped,
                       list(model.meta["loss_history"]), time.monotonic() - started)


@dataclass
class Neighbour:
    rank: int
    position: int  # row in the index
    similarity: float
    track: dict  # the index record: path, title, duration, tempo, cluster, x, y, ...


@dataclass
class QueryResult:
    query: TrackFeatures | None
    vector: np.ndarray
    neighbours: list[Neighbour]
    cluster: str
    confidence: float
    cluster_scores: dict[str, float]
    xy: tuple[float, float]
    seconds: float = 0.0

    def to_json(self) -> dict:
        q = self.query
        return {
            "query": q.path if q else None,
            "query_info": None if q is None else {
                "duration": round(q.duration, 2), "lufs": round(q.lufs, 2), "tempo": q.dna.get("tempo"),
                "energy": round(q.dna.get("energy_progression", 0.0), 3)},
            "results": [{"rank": n.rank, "path": n.track["path"], "title": n.track.get("title"),
                         "similarity": round(n.similarity, 4), "cluster": n.track.get("cluster"),
                         "tempo": n.track.get("tempo"), "duration": n.track.get("duration")}
                        for n in self.neighbours],
            "cluster": {"name": self.cluster, "confidence": round(self.confidence, 4),
                        "scores": {k: round(v, 4) for k, v in self.cluster_scores.items()}},
            "map": {"x": round(self.xy[0], 4), "y": round(self.xy[1], 4)},
            "seconds": round(self.seconds, 3),
        }


class Finder:
    """A loaded model + index, ready to answer queries."""

    def __init__(self, model_path, index_path, device: str = "cpu", cache: EmbeddingCache | None = None,
                 extractor: FeatureExtractor | None = None):
        self.model = EmbeddingModel.load(model_path)
        self.index = SimilarityIndex.load(index_path)
        meta = self.model.meta
        self.index.check_model(self.model.fingerprint(), meta.get("features", "?"))
        plan = WindowPlan(**meta.get("window_plan", {}))
        self.device = resolve_device(device)
        self.extractor = extractor or FeatureExtractor(meta["features"], device=self.device, plan=plan, cache=cache)
        for b in self.extractor.backbones:
            want = meta.get("backbone_ids", {}).get(b.name)
            if want != b.id:
                raise IndexMismatchError(
                    f"the model was trained on backbone {want}, but this app's {b.name} is {b.id}; re-train")
        self.vectors = self.index.vectors()
        self.xy = np.array([[t.get("x", 0.0), t.get("y", 0.0)] for t in self.index.tracks], dtype=np.float32)
        self.cluster_names: list[str] = list(meta.get("clusters", []))
        self.centroids = np.array(meta.get("cluster_centroids", []), dtype=np.float32).reshape(
            len(self.cluster_names), -1) if self.cluster_names else np.zeros((0, self.index.dim), np.float32)

    @property
    def tracks(self) -> list[dict]:
        return self.index.tracks

    def analyse(self, path, cancel: CancelToken | None = None) -> TrackFeatures:
        return self.extractor.analyse_file(str(Path(path).expanduser().resolve()), cancel=cancel)

    def vector_of(self, track: TrackFeatures) -> np.ndarray:
        return self.model.embed(track.joined(self.extractor.names)[None, :])[0]

    def neighbours(self, vector: np.ndarray, k: int = 10, exclude: set[int] | None = None) -> list[Neighbour]:
        exclude = exclude or set()
        hits = [(i, s) for i, s in self.index.search(vector, k + len(exclude)) if i not in exclude][:k]
        return [Neighbour(r + 1, i, s, self.index.tracks[i]) for r, (i, s) in enumerate(hits)]

    def predict_cluster(self, vector: np.ndarray) -> tuple[str, float, dict[str, float]]:
        if not self.cluster_names:
            return "", 0.0, {}
        sims = self.centroids @ np.asarray(vector, dtype=np.float32)
        w = np.exp((sims - sims.max()) / CONFIDENCE_TEMPERATURE)
        p = w / w.sum()
        best = int(np.argmax(p))
        return self.cluster_names[best], float(p[best]), dict(zip(self.cluster_names, map(float, p)))

    def place(self, vector: np.ndarray) -> tuple[float, float]:
        x, y = map2d.place(vector, self.vectors, self.xy)
        return float(x), float(y)

    def query_vector(self, vector: np.ndarray, k: int = 10, track: TrackFeatures | None = None) -> QueryResult:
        name, conf, scores = self.predict_cluster(vector)
        return QueryResult(track, vector, self.neighbours(vector, k), name, conf, scores, self.place(vector))

    def query(self, path, k: int = 10, cancel: CancelToken | None = None) -> QueryResult:
        """Rank the references for an audio file; ``cancel`` stops the analysis early (Cancelled)."""
        t0 = time.perf_counter()
        track = self.analyse(path, cancel)
        result = self.query_vector(self.vector_of(track), k, track)
        result.seconds = time.perf_counter() - t0
        return result


def load_finder_or_explain(model_path, index_path, **kwargs) -> Finder:
    """Finder, or a ModelError that says which file to make first."""
    for p, what in ((model_path, "model"), (index_path, "index")):
        if not Path(p).exists():
            raise ModelError(f"{what} file not found: {p}. Train first: trance-finder train --references DIR")
    return Finder(model_path, index_path, **kwargs)
