"""FAISS similarity index over unit vectors (inner product = cosine), saved atomically with its
metadata (``index_metadata.json`` in the same folder: track paths, titles, tempo, cluster...).

Small libraries use exact search (IndexFlatIP); from ``HNSW_THRESHOLD`` vectors on, the spec's HNSW
graph (M=32, efConstruction=40) with inner-product metric.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from trance_finder.core.atomic import atomic_paths
from trance_finder.errors import IndexMismatchError, ModelError

HNSW_THRESHOLD = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 128
METADATA_NAME = "index_metadata.json"


def metadata_path(index_path) -> Path:
    return Path(index_path).with_name(METADATA_NAME)


def build_faiss_index(vectors: np.ndarray, exact: bool | None = None) -> faiss.Index:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = vectors.shape
    if exact is None:
        exact = n < HNSW_THRESHOLD
    if exact:
        index = faiss.IndexFlatIP(d)
    else:
        index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(vectors)
    return index


#: record fields that must be numbers when present (lufs may also be null); other keys are kept as they are
NUMBER_FIELDS = ("duration", "tempo", "energy", "x", "y")
NULLABLE_NUMBER_FIELDS = ("lufs",)


def _first_line(exc: BaseException, limit: int = 120) -> str:
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()[:limit]
    return type(exc).__name__


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def validate_metadata(meta, where) -> list[dict]:
    """Check index metadata read from JSON; pops and returns its track records. Raises ModelError
    naming the first problem (records: a dict each, a text ``path``, numbers where numbers go)."""
    if not isinstance(meta, dict):
        raise ModelError(f"{where} is damaged (not a JSON object)")
    if "tracks" not in meta:
        raise ModelError(f"{where} is damaged (no track list)")
    tracks = meta.pop("tracks")
    if not isinstance(tracks, list):
        raise ModelError(f"{where} is damaged ('tracks' is not a list)")
    for i, t in enumerate(tracks):
        if not isinstance(t, dict):
            raise ModelError(f"{where} is damaged (track {i + 1} is not a record)")
        if not isinstance(t.get("path"), str) or not t["path"]:
            raise ModelError(f"{where} is damaged (track {i + 1} has no path)")
        for key in NUMBER_FIELDS:
            if key in t and not _is_number(t[key]):
                raise ModelError(f"{where} is damaged (track {i + 1}: {key} is {t[key]!r}, not a number)")
        for key in NULLABLE_NUMBER_FIELDS:
            if t.get(key) is not None and not _is_number(t[key]):
                raise ModelError(f"{where} is damaged (track {i + 1}: {key} is {t[key]!r}, not a number)")
        if "title" in t and not isinstance(t["title"], str):
            raise ModelError(f"{where} is damaged (track {i + 1}: title is not text)")
    return tracks


@dataclass
class SimilarityIndex:
    index: faiss.Index
    tracks: list[dict]  # one dict per vector: path, title, duration, tempo, cluster, lufs, ...
    meta: dict = field(default_factory=dict)  # model_fingerprint, features, kind, ...

    @classmethod
    def build(cls, vectors: np.ndarray, tracks: list[dict], meta: dict | None = None,
              exact: bool | None = None) -> SimilarityIndex:
        if len(vectors) != len(tracks):
            raise ValueError("one track record per vector is needed")
        index = build_faiss_index(vectors, exact)
        kind = "flat" if isinstance(index, faiss.IndexFlat) else "hnsw"
        return cls(index, list(tracks), {**(meta or {}), "kind": kind, "dim": int(index.d)})

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def vectors(self) -> np.ndarray:
        return self.index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim), np.float32)

    def search(self, query: np.ndarray, k: int = 10) -> list[tuple[int, float]]:
        """[(track position, cosine similarity)] best first."""
        q = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32)
        if q.shape[1] != self.dim:
            raise IndexMismatchError(f"query vector has {q.shape[1]} dims, the index has {self.dim}")
        k = max(1, min(int(k), len(self)))
        sims, ids = self.index.search(q, k)
        return [(int(i), float(s)) for i, s in zip(ids[0], sims[0]) if i >= 0]

    def write(self, index_file, metadata_file, index_name: str) -> None:
        """Plain writes of the index and its metadata (callers make them atomic)."""
        self.write_index(index_file)
        self.write_metadata(metadata_file, index_name)

    def write_index(self, index_file) -> None:
        faiss.write_index(self.index, str(index_file))

    def write_metadata(self, metadata_file, index_name: str) -> None:
        # one compact line per track (records carry sections, mix stats and section vectors: indenting
        # them would triple the file for a 10,000-track library); the header stays indented
        meta = {k: v for k, v in self.meta.items() if k != "index_file"}  # a loaded index saved elsewhere
        head = json.dumps({"index_file": index_name, **meta}, indent=2)
        rows = ",\n".join(json.dumps(t, separators=(",", ":")) for t in self.tracks)
        text = head[:-2] + ',\n  "tracks": [\n' + rows + "\n]\n}"
        Path(metadata_file).write_text(text, encoding="utf-8")

    def save(self, index_path) -> None:
        """Index and index_metadata.json, replaced together."""
        index_path = Path(index_path)
        with atomic_paths(index_path, metadata_path(index_path)) as (tmp_index, tmp_meta):
            self.write(tmp_index, tmp_meta, index_path.name)

    @classmethod
    def load(cls, index_path) -> SimilarityIndex:
        from trance_finder.core.modelstore import resolve_pair

        shown = Path(index_path)
        index_path, meta_file = resolve_pair(shown, METADATA_NAME)  # one version of the model folder
        if not index_path.exists():
            raise ModelError(f"index file not found: {shown}")
        if not meta_file.exists():
            raise ModelError(f"{METADATA_NAME} is missing next to {shown}")
        if index_path.stat().st_size == 0:
            raise ModelError(f"{shown} is empty (0 bytes): the index was not saved completely; train again")
        try:
            index = faiss.read_index(str(index_path))
        except Exception as exc:
            raise ModelError(f"{shown} is not a readable FAISS index ({_first_line(exc)})") from exc
        shown_meta = shown.with_name(METADATA_NAME)
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{shown_meta} is damaged ({_first_line(exc)})") from exc
        tracks = validate_metadata(meta, shown_meta)
        if meta.get("index_file") not in (None, shown.name):
            raise ModelError(f"{shown_meta} describes {meta.get('index_file')}, not {shown.name}")
        if len(tracks) != index.ntotal:
            raise ModelError(f"{shown_meta} lists {len(tracks)} tracks but the index holds {index.ntotal}")
        if "dim" in meta and meta["dim"] != index.d:
            raise ModelError(f"{shown_meta} says {meta['dim']} dimensions but the index has {index.d}")
        return cls(index, tracks, meta)

    def check_model(self, model_fingerprint: str, features: str) -> None:
        """Refuse an index built by another model or backbone."""
        if self.meta.get("model_fingerprint") != model_fingerprint:
            raise IndexMismatchError(
                f"this index was built by another model (index: {self.meta.get('model_fingerprint')}, "
                f"features {self.meta.get('features')}; model: {model_fingerprint}, features {features}). "
                "Re-train, or load the index that was saved with this model.")
