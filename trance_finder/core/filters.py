"""Filters for the ranked list, as pure functions over index records (no Qt, no state).

``RankFilter`` keeps the rows of a ranking that pass: a tempo range, a set of clusters or labels,
title/folder words to exclude; and, optionally, collapses the versions of one track (the same title
as "Extended Mix", "Radio Edit", "Original Mix", "edit", ...) into its best-ranked row, which then
counts how many it hides. ``apply`` works on positions (rows of the index) in ranked order and is
vectorised enough for 10,000 tracks (see bench/bench_library.py).

Remixes by another artist ("(Someone Remix)") are *not* versions: they are another producer's
sound, so they stay separate rows.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np

#: words that mark a version of the same production (inside brackets or after " - ")
VERSION_WORDS = (
    "extended mix", "extended version", "extended", "original mix", "original version", "radio edit",
    "radio mix", "radio version", "club mix", "club edit", "edit", "short edit", "single edit", "album mix",
    "album version", "mixed", "mix cut", "cut", "intro mix", "dj edit", "clean", "explicit", "instrumental",
    "instrumental mix", "vocal mix", "dub mix", "dub", "remaster", "remastered", "version", "full length",
)
_VERSION_RE = re.compile(
    r"\s*[\(\[]\s*(?:\d{4}\s+)?(?:" + "|".join(sorted((re.escape(w) for w in VERSION_WORDS), key=len, reverse=True))
    + r")(?:\s+\d{4})?\s*[\)\]]", re.IGNORECASE)
_DASH_VERSION_RE = re.compile(
    r"\s+-\s+(?:" + "|".join(sorted((re.escape(w) for w in VERSION_WORDS), key=len, reverse=True)) + r")\s*$",
    re.IGNORECASE)
_TRACK_NUMBER_RE = re.compile(r"^\s*(?:\d{1,3}|[A-D]\d)\s*[-._)]?\s+")
_SPACES_RE = re.compile(r"[\s_]+")


def _fold(text: str) -> str:
    if not text.isascii():  # accents off: "Skylíne" == "Skyline"
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _SPACES_RE.sub(" ", text.casefold()).strip()


def version_key(title: str) -> str:
    """The title without version markers, track numbers, case, accents or spacing:
    "01 - Artist - Skyline (Extended Mix)" and "Artist - Skyline [Radio Edit]" share one key."""
    t = _SPACES_RE.sub(" ", title.replace("_", " ")).strip()
    t = _TRACK_NUMBER_RE.sub("", t)
    for _ in range(3 if ("(" in t or "[" in t or " - " in t) else 0):  # "(Extended Mix) [Remastered]"
        stripped = _DASH_VERSION_RE.sub("", _VERSION_RE.sub("", t)).strip()
        if stripped == t:
            break
        t = stripped
    return _fold(t) or _fold(title)


def record_title(rec: dict) -> str:
    return str(rec.get("title") or PurePath(str(rec.get("path", ""))).stem)


@dataclass
class Row:
    position: int  # row in the index
    versions: list[int] = field(default_factory=list)  # other positions collapsed into this row


@dataclass
class RankFilter:
    """What the ranked list shows. Empty/None fields do not filter."""

    tempo_min: float | None = None
    tempo_max: float | None = None
    clusters: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()
    exclude: tuple[str, ...] = ()  # words: a track whose title or folder contains one is hidden
    collapse_versions: bool = False

    @property
    def active(self) -> bool:
        return bool(self.tempo_min is not None or self.tempo_max is not None or self.clusters or self.labels
                    or any(w.strip() for w in self.exclude) or self.collapse_versions)

    def keeps(self, rec: dict) -> bool:
        """Whether one record passes (collapsing aside)."""
        tempo = rec.get("tempo")
        if self.tempo_min is not None and (tempo is None or tempo < self.tempo_min):
            return False
        if self.tempo_max is not None and (tempo is None or tempo > self.tempo_max):
            return False
        if self.clusters and rec.get("cluster") not in self.clusters:
            return False
        if self.labels and rec.get("label") not in self.labels:
            return False
        words = [_fold(w) for w in self.exclude if w.strip()]
        if words:
            where = _fold(record_title(rec) + " / " + str(PurePath(str(rec.get("path", ""))).parent))
            if any(w in where for w in words):
                return False
        return True

    def mask(self, table: FilterTable) -> np.ndarray:
        """Boolean per index position: passes the filter (collapsing aside). Vectorised."""
        keep = np.ones(len(table.tempo), dtype=bool)
        if self.tempo_min is not None:
            keep &= table.tempo >= self.tempo_min  # NaN (no tempo) never passes a bound
        if self.tempo_max is not None:
            keep &= table.tempo <= self.tempo_max
        if self.clusters:
            keep &= np.isin(table.cluster, list(self.clusters))
        if self.labels:
            keep &= np.isin(table.label, list(self.labels))
        for word in (_fold(w) for w in self.exclude if w.strip()):
            keep &= ~np.fromiter((word in text for text in table.text), dtype=bool, count=len(table.text))
        return keep

    def apply(self, order, records: list[dict], table: FilterTable | None = None) -> list[Row]:
        """The rows to show, best first: ``order`` is index positions in ranked order. ``table``:
        ``FilterTable.of(records)`` made once per loaded index (10,000 tracks: milliseconds per call)."""
        table = table or FilterTable.of(records)
        order = np.asarray(order, dtype=np.int64)
        kept = order[self.mask(table)[order]] if len(order) else order
        if not self.collapse_versions:
            return [Row(int(i)) for i in kept]
        rows: list[Row] = []
        first: dict[str, Row] = {}
        for i in kept.tolist():
            key = table.version[i]
            if key in first:
                first[key].versions.append(i)
            else:
                row = Row(i)
                first[key] = row
                rows.append(row)
        return rows


@dataclass
class FilterTable:
    """Per index position what the filters look at, computed once per loaded index."""

    tempo: np.ndarray  # float, NaN where unknown
    cluster: np.ndarray  # str
    label: np.ndarray  # str
    text: list[str]  # folded "title / folder" for exclude words
    version: list[str]  # version_key of the title

    @classmethod
    def of(cls, records: list[dict]) -> FilterTable:
        tempo = np.array([r["tempo"] if isinstance(r.get("tempo"), (int, float)) else np.nan for r in records],
                         dtype=np.float64)
        titles = [record_title(r) for r in records]
        return cls(tempo, np.array([str(r.get("cluster") or "") for r in records], dtype=object),
                   np.array([str(r.get("label") or "") for r in records], dtype=object),
                   [_fold(t + " / " + str(PurePath(str(r.get("path", ""))).parent)) for t, r in zip(titles, records)],
                   [version_key(t) for t in titles])


def tempo_range(records: list[dict]) -> tuple[float, float] | None:
    """(lowest, highest) tempo in the records, for a range slider; None when none has one."""
    tempos = [r["tempo"] for r in records if isinstance(r.get("tempo"), (int, float))]
    return (float(min(tempos)), float(max(tempos))) if tempos else None


def facet_values(records: list[dict], key: str) -> list[tuple[str, int]]:
    """(value, count) of a record key (cluster, label), most common first: the filter's choices."""
    counts: dict[str, int] = {}
    for r in records:
        v = r.get(key)
        if isinstance(v, str) and v:
            counts[v] = counts.get(v, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
