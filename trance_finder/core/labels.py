"""Training labels: where a library's style labels come from, and which of them make useful classes.

Label sources, first match wins (``find_label_source``):

1. ``labels.csv`` (columns path,label): given explicitly, or lying in the reference folder;
2. the reference folder's sub-folders (References/Uplifting/..., References/Psy/...), when at least two
   of them hold two or more tracks (a track's label is its first-level sub-folder);
3. the files' genre tags (ID3 TCON, Vorbis GENRE, MP4 ``©gen``, read with mutagen), when at least two
   genres have two or more tracks each;
4. otherwise the profile's clusters (``cluster_labels``), or none at all.

Which labels become triplet classes (``triplet_classes``): a class needs at least
``MIN_CLASS_TRACKS`` (2) tracks, because a class with one track has no positive partner and only ever
acts as a negative, pushing that track away from everything. Tracks whose label is too rare get no
class: they still learn from their augmented views (the instance loss). When fewer than two classes
remain, or the classes cover less than half of the library (a label set far too fine for it), there
is no style loss at all: training uses the views only.

The spec's composite ``{cluster}_{bpm}_{energy}`` labels (``cluster_labels``) split a small library
into many classes of one or two tracks, which the rule above would throw away. They are therefore
used only where *every* composite label has at least ``MIN_COMPOSITE_TRACKS`` (3) tracks; else
``{cluster}_{bpm}`` under the same rule; else the clusters alone.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from trance_finder.core.profile import ReferenceProfile
from trance_finder.errors import TranceFinderError

MIN_CLASS_TRACKS = 2
MIN_COMPOSITE_TRACKS = 3
LABELS_FILE = "labels.csv"

#: short source names, in the order they are tried
SOURCES = ("labels.csv", "folders", "genre tags", "clusters", "none")


@dataclass
class LabelPlan:
    """The labels a training run uses and where they came from."""

    source: str  # one of SOURCES
    label_of: dict[str, str] = field(default_factory=dict)  # path -> label, for tracks that have one
    classes: dict[str, str] = field(default_factory=dict)  # path -> triplet class (subset of label_of)
    detail: str = ""  # e.g. "12 sub-folders"

    @property
    def n_classes(self) -> int:
        return len(set(self.classes.values()))

    @property
    def views_only(self) -> bool:
        return self.n_classes < 2

    def sentence(self, n_tracks: int, trains_views: bool = True) -> str:
        """One producer sentence: which labels trained the model, and what the others did.
        ``trains_views`` False: with no styles nothing is trained (the raw backbone is used)."""
        what = {"labels.csv": "your labels.csv", "folders": "the sub-folders of your reference folder",
                "genre tags": "the genre tags of your files", "clusters": "the app's own clusters of your references",
                "none": ""}[self.source]
        if self.views_only:
            why = (f"{what} gave no style with two or more tracks" if what
                   else "no labels.csv, no sub-folders with two or more tracks each and no genre tags were found")
            return (views_only_sentence(why, trains_views)
                    + " Put references in one sub-folder per style to teach the app your styles.")
        n_cls = sum(1 for p in self.classes)
        rest = n_tracks - n_cls
        tail = (f"; {rest} track{'s' if rest != 1 else ''} with a style of its own learned from altered copies "
                f"of {'themselves' if rest != 1 else 'itself'}" if rest else "")
        return f"Trained on {self.n_classes} styles from {what}{f' ({self.detail})' if self.detail else ''}{tail}."


def views_only_sentence(why: str, trains_views: bool) -> str:
    if trains_views:
        return f"Trained on sound alone: {why}, so each track only learned from altered copies of itself."
    return f"No training: {why}, so the app compares tracks by their sound alone (the untrained backbone)."


def triplet_classes(label_of: dict[str, str], n_tracks: int | None = None) -> dict[str, str]:
    """The labels worth a triplet class (see the module docstring); {} means views only."""
    counts = Counter(label_of.values())
    keep = {p: lab for p, lab in label_of.items() if counts[lab] >= MIN_CLASS_TRACKS}
    n_tracks = n_tracks if n_tracks is not None else len(label_of)
    if len(set(keep.values())) < 2 or 2 * len(keep) < n_tracks:
        return {}
    return keep


def _plan(source: str, label_of: dict[str, str], paths: list[str], detail: str = "") -> LabelPlan:
    return LabelPlan(source, label_of, triplet_classes(label_of, len(paths)), detail)


def _groups_of_two(label_of: dict[str, str]) -> int:
    return sum(1 for n in Counter(label_of.values()).values() if n >= 2)


def folder_labels(paths: list[str], references_dir) -> dict[str, str]:
    """path -> name of its first-level sub-folder under ``references_dir`` (tracks at the top: none).

    The folder a file is *listed* in counts, so a linked file (References/Psy/x.wav -> ~/Downloads/x.wav)
    is labelled "Psy"; the resolved paths are the fallback (the folder itself reached through a link)."""
    listed_root, real_root = Path(os.path.abspath(references_dir)), Path(references_dir).resolve()
    out = {}
    for p in paths:
        rel = _under(Path(os.path.abspath(p)), listed_root)
        if rel is None:
            rel = _under(Path(p).resolve(), real_root)
        if rel is not None and len(rel.parts) >= 2:
            out[str(p)] = rel.parts[0]
    return out


def _under(path: Path, root: Path) -> Path | None:
    """``path`` relative to ``root``, or None when it lies elsewhere."""
    try:
        return path.relative_to(root)
    except ValueError:
        return None


def genre_of(path) -> str | None:
    """The first genre tag of a file (ID3 TCON, Vorbis GENRE, MP4 ©gen), or None."""
    try:
        import mutagen

        f = mutagen.File(str(path), easy=True)
    except Exception:  # unreadable tags never stop training
        return None
    if f is None or not f.tags:
        return None
    try:
        values = f.tags.get("genre") or []
    except Exception:
        return None
    for v in values:
        v = str(v).strip()
        if v:
            return v
    return None


def genre_labels(paths: list[str]) -> dict[str, str]:
    """path -> genre for tagged files; genres that differ only in case are one genre."""
    raw = {str(p): g for p in paths if (g := genre_of(p))}
    first: dict[str, str] = {}
    for g in raw.values():
        first.setdefault(g.casefold(), g)
    return {p: first[g.casefold()] for p, g in raw.items()}


def find_label_source(paths, references_dir, labels_csv=None) -> LabelPlan | None:
    """The first label source that applies (labels.csv, folders, genre tags), or None."""
    paths = [str(p) for p in paths]
    refs = Path(references_dir)
    csv_path = Path(labels_csv) if labels_csv else refs / LABELS_FILE
    if labels_csv or csv_path.is_file():
        user = read_labels_csv(csv_path, refs)
        real = {p: os.path.realpath(p) for p in paths}  # read_labels_csv keys its rows the same way
        label_of = {p: user[real[p]] for p in paths if real[p] in user}
        missing = len(paths) - len(label_of)
        return _plan("labels.csv", label_of, paths,
                     f"{len(set(label_of.values()))} labels" + (f", {missing} tracks not listed" if missing else ""))
    folders = folder_labels(paths, refs)
    if _groups_of_two(folders) >= 2:
        return _plan("folders", folders, paths, f"{len(set(folders.values()))} sub-folders")
    genres = genre_labels(paths)
    if _groups_of_two(genres) >= 2:
        return _plan("genre tags", genres, paths, f"{len(set(genres.values()))} genres")
    return None


def bpm_bin(tempo: float) -> str:
    return "slow" if tempo < 135 else "medium" if tempo < 142 else "fast"


def energy_bin(energy: float) -> str:
    return "low" if energy < 0.4 else "medium" if energy < 0.6 else "high"


def composite_labels(profile: ReferenceProfile) -> dict[str, str]:
    """path -> "{cluster}_{bpm}_{energy}" for every track in the profile (the spec's finest labels)."""
    return {t.path: f"{t.cluster}_{bpm_bin(t.tempo)}_{energy_bin(t.energy_progression)}" for t in profile.tracks}


def cluster_labels(profile: ReferenceProfile) -> LabelPlan:
    """Labels from the profile: the finest of cluster x tempo x energy, cluster x tempo, cluster for
    which every label has at least MIN_COMPOSITE_TRACKS tracks (the clusters alone otherwise)."""
    paths = [t.path for t in profile.tracks]
    levels = [
        ("clusters x tempo x energy", composite_labels(profile)),
        ("clusters x tempo", {t.path: f"{t.cluster}_{bpm_bin(t.tempo)}" for t in profile.tracks}),
    ]
    for detail, label_of in levels:
        counts = Counter(label_of.values())
        if len(counts) >= 2 and min(counts.values()) >= MIN_COMPOSITE_TRACKS:
            return _plan("clusters", label_of, paths, detail)
    return _plan("clusters", profile.cluster_of(), paths, f"{len(profile.clusters)} clusters")


def read_labels_csv(csv_path, references_dir) -> dict[str, str]:
    """path -> label from a CSV with columns path,label (paths relative to ``references_dir`` or absolute)."""
    csv_path, references_dir = Path(csv_path), Path(references_dir)
    try:
        raw = csv_path.read_bytes()
    except OSError as exc:
        raise TranceFinderError(f"{csv_path}: cannot read labels ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # saved by Excel on Windows: cp1252 (Latin-1 for its few undefined bytes)
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        if not reader.fieldnames or not {"path", "label"} <= {f.strip().lower() for f in reader.fieldnames}:
            raise TranceFinderError(f"{csv_path}: needs a header with columns 'path' and 'label'")
        rows = [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    except csv.Error as exc:
        raise TranceFinderError(f"{csv_path}: not a readable CSV file ({exc})") from exc
    labels = {}
    for row in rows:
        if not row.get("path") or not row.get("label"):
            continue
        p = Path(row["path"])
        p = p if p.is_absolute() else references_dir / p
        labels[os.path.realpath(p)] = row["label"]
    if not labels:
        raise TranceFinderError(f"{csv_path}: no rows with both a path and a label")
    return labels
