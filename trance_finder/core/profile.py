"""The reference profile: the references grouped into style clusters with readable names.

When the library has style labels (labels.csv, sub-folders, genre tags) the clusters *are* those
styles, named after them ("Uplifting"; "Psy (2)" when two labels read the same), see
``profile_from_labels``. Otherwise clusters come from KMeans over the tracks' DNA (tempo, energy,
spectral shape) joined with the main directions of their backbone features; k is chosen by
silhouette (or given), and each is named in producer words from what sets it apart: the tempo range
most of its members have ("138-140 BPM"), bright or dark, heavy low end, airy top, driving; never two
clusters with one name. (Stereo width is not in the DNA, so "wide" is not said.)

A producer can rename a cluster (``ReferenceProfile.rename``); user names are kept in the profile
file and carried over to a rebuilt profile when the cluster's members mostly stay
(``carry_names``: the new cluster with the largest member overlap, Jaccard >= 0.5).
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
    renamed: list[str] = field(default_factory=list)  # cluster names the producer chose
    source: str = "clusters"  # "clusters" or the label source the clusters were made from

    def cluster_of(self) -> dict[str, str]:
        return {t.path: t.cluster for t in self.tracks}

    def members(self, name: str) -> set[str]:
        return {t.path for t in self.tracks if t.cluster == name}

    def rename(self, old: str, new: str) -> None:
        """Rename a cluster (kept as the producer's name: it survives retrains, see ``carry_names``)."""
        new = " ".join(str(new).split())
        if old not in self.clusters:
            raise ModelError(f"no cluster named {old!r}")
        if not new:
            raise ModelError("a cluster name cannot be empty")
        if new != old and new in self.clusters:
            raise ModelError(f"there is already a cluster named {new!r}")
        self.clusters = [new if c == old else c for c in self.clusters]
        for t in self.tracks:
            if t.cluster == old:
                t.cluster = new
        if old in self.summary:
            self.summary = {new if k == old else k: v for k, v in self.summary.items()}
        self.renamed = [c for c in self.renamed if c != old] + [new]

    def save(self, path) -> None:
        write_json(path, {"format": PROFILE_FORMAT, "clusters": self.clusters, "renamed": self.renamed,
                          "source": self.source, "summary": self.summary,
                          "tracks": [asdict(t) for t in self.tracks]})

    @classmethod
    def load(cls, path) -> ReferenceProfile:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != PROFILE_FORMAT:
                raise ValueError(f"format {data.get('format')}")
            return cls(list(data["clusters"]), [TrackMeta(**t) for t in data["tracks"]], data.get("summary", {}),
                       list(data.get("renamed", [])), str(data.get("source", "clusters")))
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


def _tempo_range(tempos: np.ndarray) -> str:
    """The tempo range most members have (10th-90th percentile), "138-140 BPM" or "138 BPM"."""
    lo, hi = (int(round(v)) for v in np.percentile(tempos, [10, 90]))
    return f"{lo} BPM" if lo == hi else f"{lo}-{hi} BPM"


#: producer words for a cluster that stands out on a DNA feature: (feature, z above, word, z below, word)
_CUES = (
    ("spectral_centroid", 0.5, "Bright", -0.5, "Dark"),
    ("low_end_ratio", 0.7, "Heavy low end", -0.7, "Light low end"),
    ("onset_density", 0.8, "Driving", -0.8, "Sparse"),
    ("high_end_ratio", 0.8, "Airy", -0.8, "Muffled"),
    ("dynamic_range", 0.8, "Dynamic", -0.8, "Compressed"),
)


def _cues(centre: dict, library: dict, spread: dict) -> list[tuple[float, str]]:
    """(strength, word) for every cue the cluster shows, strongest first."""
    out = []
    for feat, hi, up, lo, down in _CUES:
        if spread[feat] <= 1e-9 * max(1.0, abs(library[feat])):
            continue  # the whole library is alike here: nothing to tell clusters apart
        z = (centre[feat] - library[feat]) / spread[feat]
        if z > hi:
            out.append((z / hi, up))
        elif z < lo:
            out.append((z / lo, down))
    return sorted(out, reverse=True)


def name_clusters(tracks, assign: np.ndarray, k: int) -> list[str]:
    """Producer names for KMeans clusters: tempo range plus the strongest cue ("Dark, 138-140 BPM");
    when two would read the same, the next cue is added, and a number only as the last resort."""
    feats = {f: np.array([t.dna[f] for t in tracks], dtype=np.float64) for f in CLUSTER_FEATURES}
    library = {f: float(v.mean()) for f, v in feats.items()}
    spread = {f: float(v.std()) for f, v in feats.items()}
    cues, tempo = [], []
    for c in range(k):
        m = assign == c
        cues.append([w for _, w in _cues({f: float(v[m].mean()) for f, v in feats.items()}, library, spread)])
        tempo.append(_tempo_range(feats["tempo"][m]) if m.any() else "")
    depth = [1] * k
    for _ in range(3):  # add cues where names collide
        names = [", ".join(cues[c][:depth[c]] + [tempo[c]]) if cues[c] else f"Balanced, {tempo[c]}" for c in range(k)]
        dup = {n for n in names if names.count(n) > 1}
        if not dup:
            break
        for c in range(k):
            if names[c] in dup:
                depth[c] += 1
    out: list[str] = []
    for n in names:
        base, i = n, 2
        while n in out:
            n, i = f"{base} ({i})", i + 1
        out.append(n)
    return out


def _label_name(label: str) -> str:
    text = " ".join(str(label).replace("_", " ").split())
    return text[:1].upper() + text[1:] if text.islower() else text


def _summarise(tracks, names: list[str], assign: np.ndarray) -> dict:
    summary = {}
    for c, name in enumerate(names):
        m = assign == c
        tempos = np.array([t.dna["tempo"] for t, a in zip(tracks, m) if a], dtype=np.float64)
        summary[name] = {"size": int(m.sum()),
                         "tempo": round(float(tempos.mean()), 1) if len(tempos) else 0.0,
                         "tempo_range": _tempo_range(tempos) if len(tempos) else "",
                         "energy_progression": round(float(np.mean([t.dna["energy_progression"]
                                                                    for t, a in zip(tracks, m) if a] or [0])), 3),
                         "spectral_centroid": round(float(np.mean([t.dna["spectral_centroid"]
                                                                   for t, a in zip(tracks, m) if a] or [0])), 1)}
    return summary


def _profile(tracks, names: list[str], assign: np.ndarray, source: str) -> ReferenceProfile:
    summary = _summarise(tracks, names, assign)
    metas = [TrackMeta(t.path, names[a], float(t.dna["tempo"]), float(t.dna["energy_progression"]),
                       float(t.lufs), float(t.duration)) for t, a in zip(tracks, assign)]
    order = sorted(range(len(names)), key=lambda c: (-summary[names[c]]["size"], names[c]))
    return ReferenceProfile([names[c] for c in order], metas, summary, source=source)


UNSORTED = "Unsorted"


def profile_from_labels(tracks, label_of: dict[str, str], source: str) -> ReferenceProfile:
    """One cluster per label, named after it; tracks without a label go to "Unsorted"."""
    if not tracks:
        raise ModelError("no usable tracks to build a profile from")
    labels = sorted({label_of[t.path] for t in tracks if t.path in label_of})
    names: list[str] = []
    for lab in labels:
        base = n = _label_name(lab)
        i = 2
        while n in names or n == UNSORTED:
            n, i = f"{base} ({i})", i + 1
        names.append(n)
    index = {lab: i for i, lab in enumerate(labels)}
    if any(t.path not in label_of for t in tracks):
        names.append(UNSORTED)
    assign = np.array([index.get(label_of.get(t.path), len(labels)) for t in tracks])
    return _profile(tracks, names, assign, source)


def build_profile(tracks, k: int | None = None, backbone_names: list[str] | None = None,
                  seed: int = 0) -> ReferenceProfile:
    """Cluster ``tracks`` (TrackFeatures) into a profile named in producer words."""
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
    return _profile(tracks, name_clusters(tracks, assign, k), assign, "clusters")


def carry_names(old: ReferenceProfile | None, new: ReferenceProfile, min_overlap: float = 0.5) -> list[str]:
    """Give ``new``'s clusters the producer's names from ``old`` where the members mostly stayed
    (largest Jaccard overlap >= ``min_overlap``). Returns the names carried over."""
    if old is None or not old.renamed:
        return []
    carried = []
    for name in old.renamed:
        before = old.members(name)
        if not before:
            continue
        best, score = None, 0.0
        for c in new.clusters:
            after = new.members(c)
            j = len(before & after) / max(1, len(before | after))
            if j > score:
                best, score = c, j
        if best is None or score < min_overlap or best in new.renamed:
            continue
        if name != best and name in new.clusters:
            continue  # the name now belongs to another cluster
        new.rename(best, name)
        carried.append(name)
    return carried
