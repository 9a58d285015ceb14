"""The engine the CLI and the GUI share: train a library end to end, and answer queries.

``train_library`` is a generator (Progress out, cancel token in) that extracts features (cache-backed),
builds or loads the profile, derives labels, trains the head, indexes the references, lays out the 2D
map, evaluates, and only then writes model, index and profile, each atomically. ``Finder`` loads a
model + index pair (refusing mismatched ones) and turns a file into ranked neighbours, a predicted
cluster with confidence, and a place on the map.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trance_finder.core import map2d, modelstore
from trance_finder.core.analysis import section_matrix, structure_fields
from trance_finder.core.atomic import atomic_path
from trance_finder.core.audio import scan_audio_files
from trance_finder.core.cache import EmbeddingCache
from trance_finder.core.calibration import (
    calibrated_confidence,
    evaluation_sentence,
    fit_calibration,
    guard_decision,
    guard_sentence,
)
from trance_finder.core.device import resolve_device
from trance_finder.core.evaluation import held_out_evaluation, in_sample_metrics, leave_one_out_predictions
from trance_finder.core.extract import (
    DEFAULT_FEATURES,
    FeatureExtractor,
    TrackFeatures,
    WindowPlan,
    default_workers,
)
from trance_finder.core.head import EmbeddingModel, Standardizer, unit_rows
from trance_finder.core.index import SimilarityIndex, metadata_path
from trance_finder.core.labels import LabelPlan, cluster_labels, find_label_source, views_only_sentence
from trance_finder.core.library import file_identity
from trance_finder.core.profile import ReferenceProfile, build_profile, carry_names, profile_from_labels
from trance_finder.core.progress import CancelToken, Progress
from trance_finder.core.training import TrainConfig, TrainingSet, train_head
from trance_finder.errors import AudioLoadError, IndexMismatchError, ModelError, TranceFinderError

CONFIDENCE_TEMPERATURE = 0.05
#: below this many tracks there are too few to learn styles *and* test them on held-out folds
MIN_TRACKS_FOR_STYLES = 10
#: without style labels, train the head on the profile's clusters? No: on real music (bench/bench_real.py,
#: 216 tracks, 5 held-out folds) that gave P@5 0.288 against 0.329 for the raw backbone
TRAIN_ON_CLUSTERS = False
#: with no styles to learn from, train on views alone? No: 0.278 against raw 0.329 (same bench), so the
#: index uses the raw backbone and nothing is trained
VIEWS_ONLY_USES_HEAD = False


@dataclass
class TrainOptions:
    references: str
    output_model: str
    output_index: str
    profile: str | None = None
    labels_csv: str | None = None
    features: str = DEFAULT_FEATURES
    device: str = "auto"
    # augmented views per reference for training: none. On real music (bench/bench_real.py --only views,
    # 216 tracks, 3 x 5 held-out folds) one view did not retrieve better than none (P@5 0.490 vs 0.507),
    # copies of a reference found it first either way, and a view doubles the first analysis
    n_views: int = 0
    # extra training rows per reference, each pooling 2 of its own 8 windows: no extra analysis, and on
    # real music held-out P@5 0.519 -> 0.531 with 4 (bench/bench_real.py --only losses, 3 x 5 folds)
    window_views: int = 4
    clusters: int | None = None
    eval_folds: int = 5
    window_plan: WindowPlan = field(default_factory=WindowPlan)
    train: TrainConfig = field(default_factory=TrainConfig)
    cache_dir: str | None = None
    workers: int = 0  # extraction processes; 0 = 2 on a machine with 2 or more cores (extract.default_workers)


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
    label_sentence: str = ""  # which labels trained the model, in one sentence
    head_in_use: bool = True  # False: the quality guard kept the raw backbone vectors
    guard_sentence: str = ""  # which vectors the index uses and why
    evaluation_sentence: str = ""  # "Of the 5 closest references, 4.1 share the query's style ..."


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
    refs = Path(os.path.realpath(Path(opts.references).expanduser()))  # realpath: no error on link loops
    scan = scan_audio_files(refs)
    files = scan.files
    for where, why in scan.problems:  # unreadable sub-folders, link loops: said, never silently dropped
        yield Progress("scan", 0, 1, "", {"skipped": where, "reason": why})
    if not files:
        raise TranceFinderError(f"no audio files (wav, flac, aiff, mp3, ogg) found in {refs}")
    cache = EmbeddingCache(opts.cache_dir) if opts.cache_dir else None
    extractor = FeatureExtractor(opts.features, device=device, plan=opts.window_plan, cache=cache,
                                 seed=opts.train.seed)
    lib = yield from extractor.extract_library(files, n_views=opts.n_views, cancel=cancel, structure=True,
                                               workers=opts.workers or default_workers())
    lib.skipped = [*scan.problems, *lib.skipped]
    tracks = lib.tracks
    if len(tracks) < 2:
        raise TranceFinderError(f"only {len(tracks)} usable track(s) in {refs}; at least 2 are needed "
                                f"({len(lib.skipped)} skipped)")

    # labels and profile (see core/labels.py for the order of label sources and the class rule)
    model_dir = Path(opts.output_model).expanduser().resolve().parent
    profile_path = Path(opts.profile).expanduser() if opts.profile else model_dir / "trance_profile.json"
    previous = None
    if modelstore.exists(profile_path):
        try:
            previous = ReferenceProfile.load(modelstore.resolve(profile_path).path)
        except ModelError:
            previous = None  # unreadable: rebuilt below
    paths = [t.path for t in tracks]
    plan = find_label_source(paths, refs, opts.labels_csv)
    if plan is not None and opts.labels_csv and not plan.label_of:
        raise TranceFinderError(
            f"{opts.labels_csv}: none of its paths is a track of {refs}; "
            "paths must be relative to the reference folder or absolute")
    profile = None
    if plan is not None and plan.label_of:
        yield Progress("profile", 0, 1, f"Styles from {plan.source} ({plan.detail})")
        profile = profile_from_labels(tracks, plan.label_of, plan.source)
    else:
        if opts.profile and previous is not None and previous.source == "clusters":
            known = previous.cluster_of()
            if all(t.path in known for t in tracks):
                profile = previous
            else:  # library changed since the profile was made: rebuild it
                yield Progress("profile", 0, 1, f"{profile_path.name} does not cover every track: rebuilding it")
        if profile is None:
            yield Progress("profile", 0, 1, "Building reference profile (clusters)")
            profile = build_profile(tracks, k=opts.clusters, backbone_names=extractor.names, seed=opts.train.seed)
        plan = cluster_labels(profile) if TRAIN_ON_CLUSTERS else LabelPlan("none")
    if profile is not previous:
        carried = carry_names(previous, profile)
        if carried:
            yield Progress("profile", 1, 1, f"Kept your cluster names: {', '.join(carried)}")
    clusters = profile.cluster_of()
    too_few = len(tracks) < MIN_TRACKS_FOR_STYLES
    classes = {} if too_few else plan.classes
    data = TrainingSet.from_tracks(tracks, classes, extractor.names, opts.n_views, opts.window_views,
                                   opts.train.seed)
    views_only = len(data.label_names) < 2
    label_source = plan.source
    trains_views = VIEWS_ONLY_USES_HEAD and opts.n_views > 0
    label_sentence = (views_only_sentence(f"{len(tracks)} tracks are too few to learn styles and test them (at "
                                          f"least {MIN_TRACKS_FOR_STYLES} are needed)", trains_views)
                      if too_few and not plan.views_only else plan.sentence(len(tracks), trains_views))
    yield Progress("labels", 1, 1, f"Found {len(data.label_names)} unique labels ({label_source}). {label_sentence}",
                   {"labels": data.label_names, "label_source": label_source, "sentence": label_sentence})

    cfg = TrainConfig(**{**opts.train.to_dict(), "device": device})
    originals = np.stack([t.joined(extractor.names) for t in tracks])
    standardizer = Standardizer.fit(data.X, data.blocks)
    if views_only and not trains_views:
        model = EmbeddingModel.raw(standardizer, {"head_bypass_reason": "no styles to learn from"},
                                   cfg.embedding_dim)
    else:
        model = yield from train_head(data, cfg, cancel)

    # evaluation: in-sample always, held-out folds (the quality guard) when there are styles to test
    eval_labels = np.array([classes.get(t.path, f"(own) {t.path}") if not views_only else clusters[t.path]
                            for t in tracks])
    raw = standardizer(originals)
    trained_vectors = model.embed(originals)
    evaluation = {"in_sample": {"finetuned": in_sample_metrics(trained_vectors, eval_labels, cfg.seed),
                                "raw": in_sample_metrics(raw, eval_labels, cfg.seed)},
                  "label_source": label_source, "label_sentence": label_sentence, "views_only": views_only,
                  "n_tracks": len(tracks), "n_labels": len(data.label_names)}
    cluster_arr = [clusters[t.path] for t in tracks]
    if not views_only and opts.eval_folds and opts.eval_folds > 1 and len(tracks) >= 2 * opts.eval_folds:
        evaluation["held_out"] = yield from held_out_evaluation(data, cfg, opts.eval_folds, cancel,
                                                                clusters=cluster_arr,
                                                                temperature=CONFIDENCE_TEMPERATURE)
    guard = guard_decision(evaluation.get("held_out"))
    if views_only:
        guard = {**guard, "use_head": VIEWS_ONLY_USES_HEAD if model.head_in_use else False,
                 "reason": "no styles to test the model on"}
    evaluation["guard"] = guard
    if guard["use_head"] is False and model.head_in_use:
        model.bypass_head(guard["reason"])
    evaluation["head_in_use"] = model.head_in_use
    evaluation["summary"] = evaluation_sentence(evaluation)
    evaluation["guard_sentence"] = guard_sentence(evaluation)
    yield Progress("guard", 1, 1, evaluation["guard_sentence"], {"head_in_use": model.head_in_use})

    # index vectors, cluster centres, map
    yield Progress("index", 0, 1, "Building similarity index")
    vectors = model.embed(originals)
    cluster_names = profile.clusters
    centroids = []
    for c in cluster_names:
        members = [i for i, t in enumerate(tracks) if clusters[t.path] == c]
        centroids.append(unit_rows(vectors[members].mean(axis=0, keepdims=True))[0] if members
                         else np.zeros(vectors.shape[1], np.float32))
    # confidence calibration: held-out cluster predictions of the vectors in use, else leave-one-out
    predictions = evaluation.get("held_out", {}).pop("cluster_predictions", None)
    if predictions is not None:
        pairs = predictions["finetuned" if model.head_in_use else "raw"]
    else:
        pairs = leave_one_out_predictions(vectors, cluster_arr, CONFIDENCE_TEMPERATURE)
    calibration = fit_calibration([p[0] for p in pairs], [p[1] for p in pairs])
    evaluation["calibration"] = {"n": len(pairs), "held_out": predictions is not None,
                                 "accuracy": calibration["accuracy"] if calibration else None}
    xy = map2d.layout(vectors, seed=cfg.seed)
    records = [track_record(t, clusters[t.path], plan.label_of.get(t.path, ""), xy[i], extractor.tag_names)
               for i, t in enumerate(tracks)]
    for rec, extra in zip(records, structure_fields(tracks, model.embed, extractor.names)):
        rec.update(extra)  # sections, mix stats and section vectors: free at query time
    for rec in records:
        rec.update(file_identity(rec["path"]))  # content id, size, date: `update` recognises moves

    model.meta.update({
        "features": extractor.spec,
        "backbone_ids": {b.name: b.id for b in extractor.backbones},
        "dims": extractor.dims,
        "window_plan": {"n_windows": opts.window_plan.n_windows, "window_seconds": opts.window_plan.window_seconds},
        "n_views": opts.n_views,
        "window_views": opts.window_views,
        "clusters": cluster_names,
        "cluster_centroids": [c.tolist() for c in centroids],
        "calibration": calibration,
        "label_source": label_source,
        "label_sentence": label_sentence,
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
    save_model_files(opts.output_model, index_path, index, model=model, profile=profile, profile_path=profile_path)
    yield Progress("save", 1, 1, f"Index size: {len(index)} tracks")
    return TrainResult(str(opts.output_model), str(opts.output_index), str(profile_path), len(tracks),
                       len(data.label_names), label_source, evaluation, lib.skipped,
                       list(model.meta["loss_history"]), time.monotonic() - started,
                       label_sentence=label_sentence, head_in_use=model.head_in_use,
                       guard_sentence=evaluation["guard_sentence"], evaluation_sentence=evaluation["summary"])


def save_model_files(model_path, index_path, index: SimilarityIndex, model: EmbeddingModel | None = None,
                     profile: ReferenceProfile | None = None, profile_path=None) -> None:
    """Save model, index, metadata and profile as one version of the model folder (``modelstore``):
    a kill at any point leaves the previous set or the new one. ``model=None`` keeps the folder's
    current model (``update``). Files outside the model's folder (an index or profile saved
    elsewhere) are written atomically each, after the set."""
    folder = Path(model_path).expanduser().parent
    index_path = Path(index_path).expanduser()
    meta_path = metadata_path(index_path)
    writers: dict = {}
    outside: list = []

    def add(path, write):
        path = Path(path).expanduser()
        if path.parent.resolve() == folder.resolve():
            writers[path.name] = write
        else:
            outside.append((path, write))

    if model is not None:
        add(model_path, model.save)
    add(index_path, index.write_index)
    add(meta_path, lambda p: index.write_metadata(p, index_path.name))
    if profile is not None and profile_path is not None:
        add(profile_path, profile.save)
    modelstore.save_set(folder, writers)
    for path, write in outside:
        with atomic_path(path) as tmp:
            write(tmp)


def rename_cluster(model_path, index_path, profile_path, old: str, new: str) -> str:
    """Rename cluster ``old`` to ``new`` in the profile (kept as the producer's name, so it survives a
    retrain while the members mostly stay), the model's cluster list and the index records, saved as
    one set. Returns the name as stored (spaces tidied). A loaded Finder: also call its rename_cluster."""
    if not modelstore.exists(profile_path):
        raise ModelError(f"profile not found: {profile_path}")
    profile = ReferenceProfile.load(modelstore.resolve(profile_path).path)
    profile.rename(old, new)
    new = profile.renamed[-1]
    model = EmbeddingModel.load(model_path)
    index = SimilarityIndex.load(index_path)
    model.meta["clusters"] = [new if c == old else c for c in model.meta.get("clusters", [])]
    for t in index.tracks:
        if t.get("cluster") == old:
            t["cluster"] = new
    save_model_files(model_path, index_path, index, model=model, profile=profile, profile_path=profile_path)
    return new


@dataclass
class Neighbour:
    rank: int
    position: int  # row in the index
    similarity: float
    track: dict  # the index record: path, title, duration, tempo, cluster, x, y, ...
    section: str | None = None  # section search: the label matched (None: the reference has no such section)


@dataclass
class QueryResult:
    query: TrackFeatures | None
    vector: np.ndarray
    neighbours: list[Neighbour]
    cluster: str
    confidence: float
    cluster_scores: dict[str, float]  # raw softmax score per cluster (not calibrated)
    xy: tuple[float, float]
    seconds: float = 0.0
    confidence_word: str = ""  # "likely" / "possible" / "unsure" (core.calibration)
    calibrated: bool = False  # confidence is a held-out calibrated probability
    section: str | None = None  # ranked by this section of the query (None: whole track)

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
                        "confidence_word": self.confidence_word, "calibrated": self.calibrated,
                        "scores": {k: round(v, 4) for k, v in self.cluster_scores.items()}},
            "map": {"x": round(self.xy[0], 4), "y": round(self.xy[1], 4)},
            "seconds": round(self.seconds, 3),
            **({"section": self.section, "section_matched": [n.section is not None for n in self.neighbours]}
               if self.section else {}),
        }


def check_model_meta(meta: dict, where, dim: int) -> WindowPlan:
    """Validate what Finder reads from a model's metadata; returns its window plan. ModelError names
    the problem (a window plan with unknown keys or non-positive sizes, cluster names and centroids
    that do not pair up, ...)."""
    import dataclasses

    def bad(what):
        return ModelError(f"{where} has damaged metadata ({what}); train again")

    if not isinstance(meta.get("features"), str) or not meta["features"]:
        raise bad("no feature set")
    plan = meta.get("window_plan", {})
    if not isinstance(plan, dict):
        raise bad("window_plan is not an object")
    known = {f.name for f in dataclasses.fields(WindowPlan)}
    unknown = sorted(set(plan) - known)
    if unknown:
        raise bad(f"unknown window plan key {unknown[0]!r}")
    for key, value in plan.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise bad(f"window plan {key} is {value!r}; it must be a positive number")
    if "n_windows" in plan and int(plan["n_windows"]) != plan["n_windows"]:
        raise bad("window plan n_windows is not a whole number")
    names, centroids = meta.get("clusters", []), meta.get("cluster_centroids", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad("cluster names are not a list of text")
    if not isinstance(centroids, list) or len(centroids) != len(names):
        raise bad(f"{len(names)} cluster names but {len(centroids) if isinstance(centroids, list) else 0} centroids")
    for c in centroids:
        if not isinstance(c, list) or len(c) != dim or not all(isinstance(v, (int, float)) for v in c):
            raise bad(f"a cluster centroid is not a list of {dim} numbers")
    if not isinstance(meta.get("backbone_ids", {}), dict):
        raise bad("backbone_ids is not an object")
    return WindowPlan(**plan)


class Finder:
    """A loaded model + index, ready to answer queries."""

    def __init__(self, model_path, index_path, device: str = "cpu", cache: EmbeddingCache | None = None,
                 extractor: FeatureExtractor | None = None):
        self.model = EmbeddingModel.load(model_path)
        self.index = SimilarityIndex.load(index_path)
        meta = self.model.meta
        self.index.check_model(self.model.fingerprint(), meta.get("features", "?"))
        plan = check_model_meta(meta, model_path, self.index.dim)
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
        self._memo: dict = {}  # the last query file's features and structure (section search, Compare)

    @property
    def tracks(self) -> list[dict]:
        return self.index.tracks

    def analyse(self, path, cancel: CancelToken | None = None) -> TrackFeatures:
        path = os.path.realpath(os.path.expanduser(str(path)))  # realpath: a link loop is reported, not raised
        try:
            return self.extractor.analyse_file(path, cancel=cancel)
        except AudioLoadError:
            raise
        except FileNotFoundError as exc:  # vanished between its header and its samples
            raise AudioLoadError(path, "file vanished while it was being read (moved or deleted?)") from exc
        except OSError as exc:
            raise AudioLoadError(path, f"could not be read ({exc.strerror or type(exc).__name__})") from exc

    def vector_of(self, track: TrackFeatures) -> np.ndarray:
        return self.model.embed(track.joined(self.extractor.names)[None, :])[0]

    def neighbours(self, vector: np.ndarray, k: int = 10, exclude: set[int] | None = None) -> list[Neighbour]:
        exclude = exclude or set()
        hits = [(i, s) for i, s in self.index.search(vector, k + len(exclude)) if i not in exclude][:k]
        return [Neighbour(r + 1, i, s, self.index.tracks[i]) for r, (i, s) in enumerate(hits)]

    def predict_cluster(self, vector: np.ndarray) -> tuple[str, float, dict[str, float]]:
        """(nearest cluster, calibrated probability that it is right, raw softmax score per cluster).

        The probability comes from the model's held-out calibration (``core.calibration``): how often a
        prediction with this score was right on tracks the model had not trained on."""
        name, score, scores = self.cluster_score(vector)
        if not name:
            return name, score, scores
        return name, calibrated_confidence(score, self.model.meta.get("calibration"))[0], scores

    def cluster_score(self, vector: np.ndarray) -> tuple[str, float, dict[str, float]]:
        """(nearest cluster, its raw softmax score, score per cluster), before calibration."""
        if not self.cluster_names:
            return "", 0.0, {}
        sims = self.centroids @ np.asarray(vector, dtype=np.float32)
        w = np.exp((sims - sims.max()) / CONFIDENCE_TEMPERATURE)
        p = w / w.sum()
        best = int(np.argmax(p))
        return self.cluster_names[best], float(p[best]), dict(zip(self.cluster_names, map(float, p)))

    def confidence_of(self, vector: np.ndarray) -> tuple[float, str, bool]:
        """(calibrated probability, "likely" / "possible" / "unsure", calibrated?) for the nearest cluster."""
        name, score, _ = self.cluster_score(vector)
        if not name:
            return 0.0, "", False
        return calibrated_confidence(score, self.model.meta.get("calibration"))

    def rename_cluster(self, old: str, new: str) -> None:
        """Rename a cluster in this loaded model (names, centroids' labels, index records); see
        ``rename_cluster`` for the files."""
        new = " ".join(str(new).split())
        self.cluster_names = [new if c == old else c for c in self.cluster_names]
        self.model.meta["clusters"] = list(self.cluster_names)
        for t in self.index.tracks:
            if t.get("cluster") == old:
                t["cluster"] = new

    def place(self, vector: np.ndarray) -> tuple[float, float]:
        x, y = map2d.place(vector, self.vectors, self.xy)
        return float(x), float(y)

    def query_vector(self, vector: np.ndarray, k: int = 10, track: TrackFeatures | None = None) -> QueryResult:
        name, score, scores = self.cluster_score(vector)
        conf, word, calibrated = (calibrated_confidence(score, self.model.meta.get("calibration")) if name
                                  else (0.0, "", False))
        return QueryResult(track, vector, self.neighbours(vector, k), name, conf, scores, self.place(vector),
                           confidence_word=word, calibrated=calibrated)

    def query(self, path, k: int = 10, cancel: CancelToken | None = None, section: str | None = None) -> QueryResult:
        """Rank the references for an audio file; ``cancel`` stops the analysis early (Cancelled).
        ``section`` ("drop", "breakdown", ...): rank by that section of the file against the
        references' same sections (``query_section``); None or "whole": the whole track."""
        t0 = time.perf_counter()
        track = self.analyse(path, cancel)
        self._memo["track"] = (_stamp(track.path), track)
        if section and section != "whole":
            result = self.query_section(path, section, k, cancel, track)
        else:
            result = self.query_vector(self.vector_of(track), k, track)
        result.seconds = time.perf_counter() - t0
        return result

    # -- sections and mix statistics (issues 12 and 13) -------------------------------------------
    def _structure(self, path, cancel: CancelToken | None, need_tape: bool = False):
        """(sections, {label: MixStats}, tape or None, lufs or None) of a query file, memoised for the
        last file (unchanged size and mtime), from the cache when it has them and no tape is needed."""
        path = os.path.realpath(os.path.expanduser(str(path)))
        stamp = _stamp(path)
        memo = self._memo.get("structure")
        if memo and memo[0] == stamp and (memo[1][2] is not None or not need_tape):
            return memo[1]
        track_memo = self._memo.get("track")
        tempo = track_memo[1].dna.get("tempo") if track_memo and track_memo[0] == stamp else None
        result = self.extractor.structure_of(path, cancel, tempo=tempo, use_cache=not need_tape, need_tape=need_tape)
        self._memo["structure"] = (stamp, result)
        return result

    def analyse_structure(self, path, cancel: CancelToken | None = None):
        """(TrackSections, {"whole": MixStats, "drop": MixStats, ... one per label present}) of a file,
        from one decode of it; the GUI runs it right after the ranked list (a reference's come free
        from its index record: ``reference_structure``)."""
        sections, mix, _tape, _lufs = self._structure(path, cancel)
        return sections, mix

    def reference_structure(self, position: int):
        """(TrackSections or None, {label: MixStats}) stored with reference ``position`` (no decode)."""
        from trance_finder.core.mixstats import MixStats
        from trance_finder.core.sections import TrackSections

        rec = self.index.tracks[position]
        sections = TrackSections.from_json(rec["sections"]) if rec.get("sections") else None
        mix = {k: MixStats.from_json(v) for k, v in (rec.get("mix") or {}).items()}
        return sections, mix

    def section_labels(self) -> list[str]:
        """Section labels at least one reference has a stored vector for."""
        return sorted({lb for t in self.index.tracks for lb in (t.get("section_vectors") or {})})

    def query_section(self, path, label: str, k: int = 10, cancel: CancelToken | None = None,
                      track: TrackFeatures | None = None) -> QueryResult:
        """Rank the references by the file's ``label`` sections against each reference's same
        sections ("whose drops are like my drop"). A reference without that section is ranked by its
        whole-track vector and has ``Neighbour.section`` None. Cluster and map place stay the whole
        track's."""
        track = track or self.analyse(path, cancel)
        sections, _mix, tape, lufs = self._structure(path, cancel, need_tape=True)
        raw = self.extractor.section_vector(tape, sections, lufs, label, cancel, duration=track.duration)
        if raw is None:
            have = ", ".join(sorted({s.label for s in sections.sections})) or "none"
            raise TranceFinderError(f"{Path(str(path)).name} has no {label} section (its sections: {have})")
        vec = unit_rows(self.model.embed(raw[None, :]))[0]
        mats = self._memo.setdefault("section_matrix", {})
        if label not in mats:
            mats[label] = section_matrix(self.index.tracks, label, self.index.dim)
        mat, has = mats[label]
        sims = np.where(has, np.asarray(mat @ vec), np.asarray(self.vectors, np.float32) @ vec)
        order = np.argsort(-sims, kind="stable")[: max(1, min(int(k), len(sims)))]
        neighbours = [Neighbour(r + 1, int(i), float(sims[i]), self.index.tracks[i], label if has[i] else None)
                      for r, i in enumerate(order)]
        whole = self.vector_of(track)
        result = self.query_vector(whole, k, track)
        result.neighbours, result.section = neighbours, label
        return result


def _stamp(path) -> tuple:
    st = os.stat(path)
    return str(path), st.st_size, st.st_mtime_ns


def load_finder_or_explain(model_path, index_path, **kwargs) -> Finder:
    """Finder, or a ModelError that says which file to make first. The one way the CLI and the GUI
    open a model: what a killed save left in the model folder is cleaned first (``modelstore``), and
    the files are read through the folder's pointer, so they are always one whole set."""
    for folder in {Path(model_path).expanduser().parent, Path(index_path).expanduser().parent}:
        modelstore.clean(folder)
    for p, what in ((model_path, "model"), (index_path, "index")):
        if not modelstore.exists(p):
            raise ModelError(f"{what} file not found: {p}. Train first: trance-finder train --references DIR")
    return Finder(model_path, index_path, **kwargs)
