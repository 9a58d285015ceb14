"""Training labels: the user's own (labels.csv: path,label) or the spec's composite
``{cluster}_{bpm}_{energy}`` labels derived from the profile."""

from __future__ import annotations

import csv
from pathlib import Path

from trance_finder.core.profile import ReferenceProfile
from trance_finder.errors import TranceFinderError


def bpm_bin(tempo: float) -> str:
    return "slow" if tempo < 135 else "medium" if tempo < 142 else "fast"


def energy_bin(energy: float) -> str:
    return "low" if energy < 0.4 else "medium" if energy < 0.6 else "high"


def composite_labels(profile: ReferenceProfile) -> dict[str, str]:
    """path -> "{cluster}_{bpm}_{energy}" for every track in the profile."""
    return {t.path: f"{t.cluster}_{bpm_bin(t.tempo)}_{energy_bin(t.energy_progression)}" for t in profile.tracks}


def read_labels_csv(csv_path, references_dir) -> dict[str, str]:
    """path -> label from a CSV with columns path,label (paths relative to ``references_dir`` or absolute)."""
    csv_path, references_dir = Path(csv_path), Path(references_dir)
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"path", "label"} <= {f.strip().lower() for f in reader.fieldnames}:
                raise TranceFinderError(f"{csv_path}: needs a header with columns 'path' and 'label'")
            rows = [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    except OSError as exc:
        raise TranceFinderError(f"{csv_path}: cannot read labels ({exc.strerror})") from exc
    labels = {}
    for row in rows:
        if not row.get("path") or not row.get("label"):
            continue
        p = Path(row["path"])
        p = p if p.is_absolute() else references_dir / p
        labels[str(p.resolve())] = row["label"]
    if not labels:
        raise TranceFinderError(f"{csv_path}: no rows with both a path and a label")
    return labels
