"""Whole-file analysis from one decode: the mono "tape", sections, mix statistics, section vectors.

A reference file is decoded once, block by block (``audio.iter_blocks``). Each block feeds the
section analyser (``core.sections``) and the mix analyser (``core.mixstats``) at the file's own
rate and is appended, mixed to mono and resampled (soxr, streaming) to ``TAPE_SR``, to a ``Tape``.
The embedding windows of the window plan are then cut from the tape, so nothing is read twice.

The tape holds the mono track at 22.05 kHz: 37 MB for a 7-minute track in float32; tracks longer
than ``TAPE_FLOAT32_SECONDS`` are held in float16 (a 30-minute mix: 79 MB). Nothing else grows with
the file (the analysers keep a few floats per frame).

Section vectors: each backbone frame (one per 3-s patch) of the embedded windows belongs to the
section its centre falls in; a label's vector is the pooled frames of all its sections. A label
that no window reaches gets one extra window in the middle of its longest section. References
store the model embedding of these vectors with the index, so "search by section" compares the
WIP's drop with the references' drops at no decode cost.
"""

from __future__ import annotations

import base64
import math

import numpy as np
import soxr

#: rate of the mono tape every embedding window is cut from (also the DNA and dsp rate)
TAPE_SR = 22050
#: bump when the structure or section-vector computation here changes (cache keys use it)
ANALYSIS_VERSION = "1"
TAPE_FLOAT32_SECONDS = 20 * 60


def modules():
    """(sections, mixstats) modules, or None when they cannot be imported."""
    try:
        from trance_finder.core import mixstats, sections
    except ImportError:
        return None
    return sections, mixstats


def structure_available() -> bool:
    return modules() is not None


def structure_version() -> str:
    mods = modules()
    if mods is None:
        return f"{ANALYSIS_VERSION}-none"
    sections, mixstats = mods
    return f"{ANALYSIS_VERSION}-s{getattr(sections, 'VERSION', 0)}-m{getattr(mixstats, 'VERSION', 0)}"


class Tape:
    """Mono audio of a whole file at ``TAPE_SR``, appended block by block (streaming resampler)."""

    def __init__(self, sr_in: int, expected_frames: int = 0):
        self.sr_in = int(sr_in)
        n = int(math.ceil(max(0, expected_frames) * TAPE_SR / self.sr_in)) + TAPE_SR
        self.dtype = np.float32 if n <= TAPE_FLOAT32_SECONDS * TAPE_SR else np.float16
        self.buf = np.zeros(n, self.dtype)
        self.n = 0
        self._stream = (None if self.sr_in == TAPE_SR
                        else soxr.ResampleStream(self.sr_in, TAPE_SR, 1, dtype="float32", quality="HQ"))

    def _append(self, y: np.ndarray) -> None:
        if self.n + len(y) > len(self.buf):  # a header that under-counted its frames
            grown = np.zeros(max(len(self.buf) * 3 // 2, self.n + len(y)), self.dtype)
            grown[: self.n] = self.buf[: self.n]
            self.buf = grown
        self.buf[self.n: self.n + len(y)] = y
        self.n += len(y)

    def add(self, mono: np.ndarray) -> None:
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        self._append(mono if self._stream is None else self._stream.resample_chunk(mono))

    def finish(self) -> np.ndarray:
        if self._stream is not None:
            self._append(self._stream.resample_chunk(np.zeros(0, np.float32), last=True))
            self._stream = None
        self.buf = self.buf[: self.n]
        return self.buf

    @property
    def duration(self) -> float:
        return self.n / TAPE_SR

    def excerpt(self, start_s: float, duration_s: float) -> np.ndarray:
        a = max(0, int(round(start_s * TAPE_SR)))
        b = min(self.n, a + max(1, int(round(duration_s * TAPE_SR))))
        return np.asarray(self.buf[a:b], dtype=np.float32)


def label_ranges(track_sections) -> dict[str, list[tuple[float, float]]]:
    """{label: [(start, end), ...]} in time order."""
    out: dict[str, list[tuple[float, float]]] = {}
    for s in track_sections.sections:
        out.setdefault(s.label, []).append((float(s.start), float(s.end)))
    return out


def frames_in(ranges: list[tuple[float, float]], start_s: float, n_frames: int, patch_seconds: float) -> np.ndarray:
    """Which of ``n_frames`` consecutive patches starting at ``start_s`` have their centre in ``ranges``."""
    centres = start_s + (np.arange(n_frames) + 0.5) * patch_seconds
    mask = np.zeros(n_frames, dtype=bool)
    for a, b in ranges:
        mask |= (centres >= a) & (centres < b)
    return mask


def extra_window(ranges: list[tuple[float, float]], window_seconds: float,
                 min_seconds: float) -> tuple[float, float] | None:
    """A window in the middle of the longest range: (start, length), or None when it is too short."""
    a, b = max(ranges, key=lambda r: r[1] - r[0])
    length = min(window_seconds, b - a)
    if length < min_seconds:
        return None
    return (a + b) / 2.0 - length / 2.0, length


def round_floats(obj, digits: int = 2):
    """A JSON-able copy with every float rounded (index_metadata.json stays small)."""
    if isinstance(obj, float):
        return round(obj, digits) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_floats(v, digits) for v in obj]
    return obj


# -- section vectors in the index: unit vectors as int8, base64 (344 characters for 256 dims) ---------
def encode_vector(v: np.ndarray) -> str:
    v = np.asarray(v, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    q = np.clip(np.round(v / (norm if norm > 0 else 1.0) * 127.0), -127, 127).astype(np.int8)
    return base64.b64encode(q.tobytes()).decode("ascii")


def decode_vector(text: str, dim: int) -> np.ndarray | None:
    try:
        q = np.frombuffer(base64.b64decode(text.encode("ascii"), validate=True), dtype=np.int8)
    except (ValueError, TypeError, AttributeError):
        return None
    if q.size != dim:
        return None
    v = q.astype(np.float32)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else None


def section_matrix(tracks: list[dict], label: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (n, dim), has (n,) bool): every reference's stored ``label`` vector, zeros where none."""
    out = np.zeros((len(tracks), dim), np.float32)
    has = np.zeros(len(tracks), dtype=bool)
    for i, t in enumerate(tracks):
        text = (t.get("section_vectors") or {}).get(label)
        v = decode_vector(text, dim) if isinstance(text, str) else None
        if v is not None:
            out[i], has[i] = v, True
    return out, has


def structure_fields(tracks, embed, names: list[str]) -> list[dict]:
    """Per track the index record keys ``sections``, ``mix`` and ``section_vectors`` (model space,
    via ``embed``: (n, raw dim) -> (n, dim)); empty dicts for tracks without structure."""
    rows, where = [], []
    for i, t in enumerate(tracks):
        for label in sorted(t.section_vectors or {}):
            rows.append(t.joined_section(names, label))
            where.append((i, label))
    embedded = embed(np.stack(rows)) if rows else np.zeros((0, 0), np.float32)
    out: list[dict] = []
    for t in tracks:
        rec: dict = {}
        if t.sections is not None:
            rec["sections"] = round_floats(t.sections, 3)
        if t.mix is not None:
            rec["mix"] = round_floats(t.mix, 2)
        out.append(rec)
    for (i, label), v in zip(where, embedded):
        out[i].setdefault("section_vectors", {})[label] = encode_vector(v)
    return out
