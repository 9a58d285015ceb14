"""A library that lives: bring the index up to date with the reference folder without retraining.

``scan(references, index)`` compares the folder with the index records and returns a ``LibraryDiff``
(new files, removed ones, moved ones recognised by their content, changed ones, what could not be
read, and whether enough changed since training to suggest a retrain, in one sentence).
``update_index(...)`` is the long job (Progress out, CancelToken in): it analyses only the new and
changed files with the *current* model, drops the removed ones, carries moved ones over with their
vectors (no re-analysis), and saves the index as a new version of the model folder (the model and
the profile stay as they are).

Equal to a rebuild: every track's vector is the model's embedding of its file, whether it was in the
index already or analysed now, so the updated index holds the same vectors, paths and record numbers
as an index built from scratch over the same folder with the same model, in the same order (sorted by
path). Fields fitted over the whole library at training time (a track's cluster, its map position)
are kept for the tracks that were there; a new track gets its nearest cluster and its place on the
existing map (``Finder.predict_cluster``, ``Finder.place``) - as a retrain would refit them, a
retrain is suggested once ``RETRAIN_FRACTION`` of the library has changed since training.

Records carry ``content_id`` (a hash of the size and four 64 KiB blocks, no dates), ``size_bytes``
and ``mtime_ns``: a file whose size and date are unchanged is not read at all during a scan.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trance_finder.core.audio import scan_audio_files
from trance_finder.core.index import SimilarityIndex
from trance_finder.core.progress import CancelToken, Progress
from trance_finder.errors import TranceFinderError

RETRAIN_FRACTION = 0.2
RETRAIN_MIN_CHANGES = 3
_BLOCK = 1 << 16


def content_id(path) -> str:
    """sha1 over the size and four 64 KiB blocks spread over the file (no dates: a copy or a move
    of the same file has the same id)."""
    path = str(path)
    size = os.stat(path).st_size
    h = hashlib.sha1(f"{size}".encode())
    with open(path, "rb") as fh:
        for frac in (0.0, 0.33, 0.66, 1.0):
            fh.seek(max(0, int(size * frac) - (_BLOCK if frac == 1.0 else 0)))
            h.update(fh.read(_BLOCK))
    return h.hexdigest()


def file_identity(path) -> dict:
    """The record keys that let a later scan recognise the file (empty when it cannot be read)."""
    try:
        st = os.stat(path)
        return {"content_id": content_id(path), "size_bytes": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}
    except OSError:
        return {}


@dataclass
class LibraryDiff:
    """What changed in the reference folder since the index was saved."""

    references: str
    n_indexed: int
    new: list[str] = field(default_factory=list)  # files to analyse and add
    removed: list[int] = field(default_factory=list)  # index positions whose file is gone
    moved: list[tuple[int, str]] = field(default_factory=list)  # (position, new path): same content
    changed: list[int] = field(default_factory=list)  # same path, other content: analysed again
    problems: list[tuple[str, str]] = field(default_factory=list)  # unreadable folders, link loops
    changed_before: int = 0  # tracks added/removed/changed by earlier updates since training
    n_trained: int = 0

    @property
    def n_changes(self) -> int:
        """Tracks whose content differs from what the model was trained on (moves do not count)."""
        return len(self.new) + len(self.removed) + len(self.changed)

    @property
    def changed_since_training(self) -> int:
        return self.changed_before + self.n_changes

    @property
    def is_empty(self) -> bool:
        return not (self.new or self.removed or self.moved or self.changed)

    @property
    def retrain_suggested(self) -> bool:
        base = max(1, self.n_trained or self.n_indexed)
        return (self.changed_since_training >= RETRAIN_MIN_CHANGES
                and self.changed_since_training / base >= RETRAIN_FRACTION)

    @property
    def sentence(self) -> str:
        """"3 new, 1 removed, retrain suggested" - the line the panel and the CLI show."""
        parts = [f"{len(self.new)} new" if self.new else "", f"{len(self.removed)} removed" if self.removed else "",
                 f"{len(self.moved)} moved" if self.moved else "", f"{len(self.changed)} changed" if self.changed else ""]
        parts = [p for p in parts if p]
        text = ", ".join(parts) if parts else "no changes"
        if self.problems:
            text += f", {len(self.problems)} not readable"
        if self.retrain_suggested:
            share = self.changed_since_training / max(1, self.n_trained or self.n_indexed)
            text += f", retrain suggested ({share:.0%} of the library changed since training)"
        return text

    def to_json(self) -> dict:
        return {"references": self.references, "indexed": self.n_indexed, "new": self.new,
                "removed": self.removed, "moved": [[i, p] for i, p in self.moved], "changed": self.changed,
                "problems": [[p, r] for p, r in self.problems], "retrain_suggested": self.retrain_suggested,
                "changed_since_training": self.changed_since_training, "sentence": self.sentence}


def scan(references, index: SimilarityIndex) -> LibraryDiff:
    """Compare ``references`` with the index records. Reads only files whose path is new or whose
    size or date changed, and (to recognise a move) those of new files when tracks went missing.

    A record whose file no longer exists is removed; a record outside ``references`` whose file still
    exists is kept (the index may hold tracks from other folders)."""
    refs = os.path.realpath(os.path.expanduser(str(references)))
    folder = scan_audio_files(refs)
    on_disk = [str(p) for p in folder.files]
    tracks = index.tracks
    paths = [_absolute(t["path"], refs) for t in tracks]
    by_path = {p: i for i, p in enumerate(paths)}
    diff = LibraryDiff(refs, len(tracks), problems=list(folder.problems),
                       changed_before=int(index.meta.get("changed_since_training", 0) or 0),
                       n_trained=int(index.meta.get("n_trained", 0) or len(tracks)))
    for i, (t, path) in enumerate(zip(tracks, paths)):
        try:
            st = os.stat(path)
        except OSError:
            diff.removed.append(i)
            continue
        if "size_bytes" in t and (st.st_size != t.get("size_bytes") or st.st_mtime_ns != t.get("mtime_ns")):
            try:
                if content_id(path) != t.get("content_id"):
                    diff.changed.append(i)
            except OSError:
                diff.removed.append(i)
    candidates = [p for p in on_disk if p not in by_path]
    if diff.removed and candidates:
        missing = {tracks[i].get("content_id"): i for i in diff.removed if tracks[i].get("content_id")}
        still_new = []
        for p in candidates:
            try:
                cid = content_id(p)
            except OSError:
                continue
            if cid in missing:
                i = missing.pop(cid)
                diff.moved.append((i, p))
                diff.removed.remove(i)
            else:
                still_new.append(p)
        candidates = still_new
    diff.new = candidates
    return diff


def _absolute(path: str, refs: str) -> str:
    """Record paths are absolute, except in indexes shipped with the app (relative to their library)."""
    return path if os.path.isabs(path) else os.path.join(refs, path)


@dataclass
class UpdateResult:
    diff: LibraryDiff
    n_tracks: int
    analysed: int  # files analysed (new and changed; moved ones never are)
    skipped: list[tuple[str, str]]
    seconds: float
    saved: bool


def update_index(finder, model_path, index_path, references=None, diff: LibraryDiff | None = None,
                 cancel: CancelToken | None = None):
    """Generator: bring the index of ``finder`` (a loaded ``engine.Finder``) up to date with
    ``references`` (default: the folder the model was trained on) and save it as a new version of
    the model folder. Returns an UpdateResult. Nothing is written when nothing changed, or before
    the end (Ctrl-C / cancel leaves the saved set as it was)."""
    from trance_finder.core.analysis import structure_fields
    from trance_finder.core.engine import save_model_files, track_record

    started = time.monotonic()
    references = references or finder.model.meta.get("references")
    if not references:
        raise TranceFinderError("which reference folder? the model does not record one: give --references")
    index = finder.index
    if diff is None:
        yield Progress("scan", 0, 1, f"Scanning {references}")
        diff = scan(references, index)
    yield Progress("scan", 1, 1, diff.sentence, {"diff": diff.to_json()})
    for where, why in diff.problems:
        yield Progress("scan", 1, 1, "", {"skipped": where, "reason": why})
    if diff.is_empty:
        return UpdateResult(diff, len(index), 0, [], time.monotonic() - started, False)

    to_analyse = [*diff.new, *(_absolute(index.tracks[i]["path"], diff.references) for i in diff.changed)]
    extractor = finder.extractor
    lib = yield from extractor.extract_library(to_analyse, n_views=0, cancel=cancel, structure=True)
    if cancel:
        cancel.check()
    new_vectors = (finder.model.embed(np.stack([t.joined(extractor.names) for t in lib.tracks]))
                   if lib.tracks else np.zeros((0, index.dim), np.float32))
    new_records = []
    extras = structure_fields(lib.tracks, finder.model.embed, extractor.names) if lib.tracks else []
    for t, v, extra in zip(lib.tracks, new_vectors, extras):
        cluster = finder.predict_cluster(v)[0]
        rec = track_record(t, cluster, "", finder.place(v), extractor.tag_names)
        rec.update(extra)
        rec.update(file_identity(t.path))
        new_records.append(rec)

    drop = set(diff.removed) | set(diff.changed)
    moved = dict(diff.moved)
    old_vectors = index.vectors()
    records, rows = [], []
    for i, t in enumerate(index.tracks):
        if i in drop:
            continue
        rec = dict(t)  # unknown keys (sections, mix, ...) are kept as they are
        if i in moved:
            rec["path"] = moved[i]
            rec["title"] = Path(moved[i]).stem
            rec.update(file_identity(moved[i]))
        records.append(rec)
        rows.append(old_vectors[i])
    records += new_records
    rows += list(new_vectors)
    order = sorted(range(len(records)), key=lambda j: Path(records[j]["path"]))  # a rebuild's order
    records = [records[j] for j in order]
    vectors = np.stack([rows[j] for j in order]).astype(np.float32) if rows else np.zeros((0, index.dim), np.float32)
    if not len(records):
        raise TranceFinderError("every reference was removed: nothing left to index (train on a new folder)")
    meta = {k: v for k, v in index.meta.items() if k not in ("kind", "dim")}
    meta["n_trained"] = diff.n_trained
    meta["changed_since_training"] = diff.changed_since_training - (len(lib.skipped))
    meta["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    updated = SimilarityIndex.build(vectors, records, meta)
    if cancel:
        cancel.check()  # last chance: after this the new index replaces the old one
    yield Progress("save", 0, 1, "Saving the updated index")
    save_model_files(model_path, index_path, updated, model=None)
    yield Progress("save", 1, 1, f"Index size: {len(updated)} tracks")
    return UpdateResult(diff, len(updated), len(to_analyse), list(lib.skipped), time.monotonic() - started, True)
