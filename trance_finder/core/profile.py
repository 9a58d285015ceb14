"""The reference profile: the references grouped into style clusters with readable names.

Clusters come from KMeans over the tracks' DNA (tempo, energy, spectral shape) joined with the main
directions of their backbone features; k is chosen by silhouette (or given). Names are derived from
what sets each cluster apart from the library ("Bright 138 BPM", "Dark Driving 136 BPM", ...).
Saved and loaded as JSON.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score

from trance_finder.core.atomic import write_json
from trance_finder.errors import ModelError

PROFILE_FORMAT = 1
CLUSTER_FEATURES = ("tempo", "energy_progression", "dynamic_range", "spectral_centroid", "spectral_rolloff",
                    "spectral_flatness", "low_end_ratio", "high_end_ratio", "onset_density")


@dataclass
class TrackMeta:
    path: str
    cluster: str
    tempo: float
    energy_progression: float
    loudness: float
    duration: float


@dataclass
class ReferenceProfile:
    clusters: list[str]
    tracks: list[TrackMeta] = field(default_factory=list)
    summary: dict = field(default_factory=dict)  # per cluster: size, mean tempo, energy...

    def cluster_of(self) -> dict[str, str]:
        return {t.path: t.cluster for t in self.tracks}

    def save(self, path) -> None:
        write_json(path, {"format": PROFILE_FORMAT, "clusters": self.clusters,
                          "summary": self.summary, "tracks": [asdict(t) for t in self.tracks]})

    @classmethod
    def load(cls, path) -> ReferenceProfile:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != PROFILE_FORMAT:
                raise ValueError(f"format {data.get('format')}")
            return cls(list(data["clusters"]), [TrackMeta(**t) for t in data["tracks"]], data.get("summary", {}))
        except FileNotFoundError as exc:
            raise ModelError(f"profile not found: {path}") from exc
        except Exception as exc:
            raise ModelError(f"{path} is not a Trance Finder profile ({exc})") from exc


def _zscore(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd < 1e-9, 1.0, sd)


def profile_matrix(tracks, backbone_names: list[str] | None = None) -> np.ndarray:
    dna = _zscore(np.array([[t.dna[f] for f in CLUSTER_FEATURES] for t in tracks], dtype=np.float64))
    if not backbone_names or len(tracks) < 4:
        return dna
    emb = _zscore(np.stack([t.joined(backbone_names) for t in tracks]).astype(np.float64))
    n_comp = min(8, len(tracks) - 1, emb.shape[1])
    pcs = _zscore(PCA(n_components=n_comp, random_state=0).fit_transform(emb))
    # both blocks weigh the same
    return np.hstack([dna / np.sqrt(dna.shape[1]), pcs / np.sqrt(pcs.shape[1])])


def choose_k(X: np.ndarray, k_max: int = 12, seed: int = 0) -> int:
    n = len(X)
    if n < 6:
        return 1 if n < 3 else 2
    best_k, best = 2, -1.0
    for k in range(2, min(k_max, n // 3) + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X)
        if len(np.unique(labels)) < 2:
            continue
        score = silhouette_score(X, labels)
        if score > best:
            best_k, best = k, score
    return best_k


def _describe(centre: dict, library: dict, spread: dict) -> str:
    """A readable name from what sets a cluster apart: brightness, a strong rhythmic drive, its tempo
    ("Bright 138 BPM", "Dark Driving 136 BPM"). Only robust measures are named."""
    def z(name):
        return (centre[name] - library[name]) / (spread[name] or 1.0)

    bright = z("spectral_centroid")
    parts = ["Bright" if bright > 0.5 else "Dark" if bright < -0.5 else "Melodic"]
    if z("onset_density") > 1.0:
        parts.append("Driving")
    return f"{' '.join(parts)} {centre['tempo']:.0f} BPM"


def build_profile(tracks, k: int | None = None, backbone_names: list[str] | None = None,
                  seed: int = 0) -> ReferenceProfile:
    """Cluster ``tracks`` (TrackFeatures) into a named profile."""
    if not tracks:
        raise ModelError("no usable tracks to build a profile from")
    X = profile_matrix(tracks, backbone_names)
    k = k or choose_k(X, seed=seed)
    k = max(1, min(int(k), len(tracks)))
    if k == 1:
        assign = np.zeros(len(tracks), dtype=int)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assign = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X)
    feats = {f: np.array([t.dna[f] for t in tracks]) for f in CLUSTER_FEATURES}
    library = {f: float(v.mean()) for f, v in feats.items()}
    spread = {f: float(v.std()) for f, v in feats.items()}
    names: list[str] = []
    summary = {}
    for c in range(k):
        members = assign == c
        centre = {f: float(v[members].mean()) for f, v in feats.items()}
        base = name = _describe(centre, library, spread)
        n = 2
        while name in names:
            name, n = f"{base} ({n})", n + 1
        names.append(name)
        summary[name] = {"size": int(members.sum()), "tempo": round(centre["tempo"], 1),
                         "energy_progression": round(centre["energy_progression"], 3),
                         "spectral_centroid": round(centre["spectral_centroid"], 1)}
    metas = [TrackMeta(t.path, names[a], float(t.dna["tempo"]), float(t.dna["energy_progression"]),
                       float(t.lufs), float(t.duration)) for t, a in zip(tracks, assign)]
    order = sorted(range(k), key=lambda c: -summary[names[c]]["size"])
    return ReferenceProfile([names[c] for c in order], metas, summary)
