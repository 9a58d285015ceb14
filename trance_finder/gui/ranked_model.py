"""The ranked list's model for big libraries: ``NeighbourModel``'s behaviour (browse by title, ranked
top-k, picked rows pinned) over numpy arrays instead of one object per reference, plus the window's
filters (``core.filters.RankFilter``: tempo range, clusters/labels, exclude words, collapsed versions).

Storage: ``_order`` (every position in display order: by title, or by similarity), ``_sims`` (cosine by
position), ``_shown`` (the positions on screen) and ``_row_at`` (row by position). A row's ``Row`` is
made when Qt asks for it (``_LazyRows``), so 10,000 references cost three int arrays, not 10,000
objects. The similarity is shown clipped to 0..1 (``core.calibration.display_similarity``) with a
tooltip that says what it is.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QModelIndex, Qt

from trance_finder.core.calibration import SIMILARITY_TOOLTIP, display_similarity
from trance_finder.gui.results import COL_CLUSTER, COL_SIM, COL_TITLE, COLUMNS, NeighbourModel, Row

CLUSTER_TIP = "Double-click (or right-click) to rename this cluster"


class _LazyRows:
    """``model._rows`` for NeighbourModel's code: a Row made on demand for the row asked for."""

    def __init__(self, model: ArrayNeighbourModel):
        self.model = model

    def __len__(self) -> int:
        return len(self.model._shown)

    def __getitem__(self, row: int) -> Row:
        m = self.model
        if not -len(m._shown) <= row < len(m._shown):
            raise IndexError(row)
        pos = int(m._shown[row])
        rank = int(m._rank[pos]) + 1 if m.ranked else None
        sim = display_similarity(m._sims[pos]) if m._sims is not None else None
        pinned = m.ranked and pos in m._pinned and pos not in m._top
        return Row(pos, m._tracks[pos], rank, sim, pinned)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


class ArrayNeighbourModel(NeighbourModel):
    """NeighbourModel without per-row objects, with the window's filters."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._order = np.zeros(0, np.int64)
        self._rank = np.zeros(0, np.int64)  # rank (0-based) by position in ranked mode
        self._sims: np.ndarray | None = None
        self._shown = np.zeros(0, np.int64)
        self._row_at = np.zeros(0, np.int64)
        self._top: set[int] = set()  # the filtered top-k (ranked mode)
        self._versions: dict[int, list[int]] = {}  # row position -> other versions collapsed into it
        self._rows = _LazyRows(self)
        self.rank_filter = None  # core.filters.RankFilter
        self.filter_table = None  # core.filters.FilterTable for the loaded tracks
        self.hidden = 0  # references the filters hide (of those the mode would show)
        self.cluster_tip = CLUSTER_TIP

    # -- data in --------------------------------------------------------------------------------
    def set_library(self, tracks: list[dict], cluster_names: list[str]) -> None:
        self._tracks = tracks
        self._cluster_index = {c: i for i, c in enumerate(cluster_names)}
        self.ranked = False
        self._pinned = set()
        self._sims = None
        titles = [str(t.get("title", "")).lower() for t in tracks]
        self._order = np.array(sorted(range(len(tracks)), key=titles.__getitem__), dtype=np.int64)
        self._refresh()

    def set_ranking(self, order, similarity) -> None:
        self.ranked = True
        self._pinned = set()
        self._order = np.asarray(order, dtype=np.int64)
        self._rank = np.empty(len(self._tracks), np.int64)
        self._rank[self._order] = np.arange(len(self._order))
        self._sims = np.asarray(similarity, dtype=np.float32)
        self._refresh()

    def set_filter(self, rank_filter, table) -> None:
        """Show the list through ``rank_filter`` (None: everything); ``table``: its FilterTable."""
        self.rank_filter = rank_filter if rank_filter is not None and rank_filter.active else None
        self.filter_table = table
        self._refresh()

    def cluster_names(self) -> list[str]:
        return list(self._cluster_index)

    def rename_cluster(self, old: str, new: str) -> None:
        """A cluster was renamed in the records: keep its colour, repaint the column."""
        self._cluster_index = {new if c == old else c: i for c, i in self._cluster_index.items()}
        if len(self._shown):
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._shown) - 1, len(COLUMNS) - 1))

    def ensure_visible(self, position: int) -> int:
        row = self.row_of(position)
        if row >= 0:
            return row
        if 0 <= int(position) < len(self._tracks) and len(self._order):
            self._pinned.add(int(position))
            self._refresh()
        return self.row_of(position)

    def _refresh(self) -> None:
        self.beginResetModel()
        order = self._order
        n = len(self._tracks)
        f, table = self.rank_filter, self.filter_table
        if f is not None and table is not None and len(order) and len(table.tempo) == n:
            kept = order[f.mask(table)[order]]
        else:
            kept = order
        self._versions = {}
        if f is not None and f.collapse_versions and table is not None and len(kept):
            first: dict[str, int] = {}
            keep_rows = []
            for p in kept.tolist():
                key = table.version[p]
                if key in first:
                    self._versions[first[key]].append(p)
                else:
                    first[key] = p
                    self._versions[p] = []
                    keep_rows.append(p)
            kept = np.asarray(keep_rows, dtype=np.int64)
            self._versions = {p: v for p, v in self._versions.items() if v}
        if self.ranked:
            top = kept[: self._limit]
            self._top = set(top.tolist())
            self.hidden = int(min(self._limit, len(order)) - len(top))
            extra = sorted((p for p in self._pinned if p not in self._top), key=lambda p: self._rank[p])
            shown = np.concatenate([top, np.asarray(extra, dtype=np.int64)]) if extra else top
        else:
            self._top = set()
            self.hidden = int(len(order) - len(kept))
            passing = set(kept.tolist()) if self._pinned else set()
            extra = [p for p in self._pinned if p not in passing]
            shown = np.concatenate([kept, np.asarray(extra, dtype=np.int64)]) if extra else kept
        self._shown = np.asarray(shown, dtype=np.int64)
        self._row_at = np.full(n, -1, np.int64)
        self._row_at[self._shown] = np.arange(len(self._shown))
        self.endResetModel()

    # -- queries ----------------------------------------------------------------------------------
    def row_of(self, position: int) -> int:
        position = int(position)
        return int(self._row_at[position]) if 0 <= position < len(self._row_at) else -1

    def position_at(self, row: int) -> int | None:
        return int(self._shown[row]) if 0 <= row < len(self._shown) else None

    def row_data(self, row: int) -> Row | None:
        return self._rows[row] if 0 <= row < len(self._shown) else None

    def visible_positions(self) -> list[int]:
        return self._shown.tolist()

    def versions_of(self, position: int) -> list[int]:
        return list(self._versions.get(int(position), []))

    # -- Qt model ---------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._shown)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole and section == COL_SIM:
            return SIMILARITY_TOOLTIP
        return super().headerData(section, orientation, role)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        c = index.column()
        if role == Qt.ToolTipRole and c == COL_SIM:
            return SIMILARITY_TOOLTIP
        if role == Qt.ToolTipRole and c == COL_CLUSTER:
            name = self._tracks[int(self._shown[index.row()])].get("cluster", "")
            return f"{name}\n{self.cluster_tip}" if self.cluster_tip else name
        value = super().data(index, role)
        if c == COL_TITLE and role in (Qt.DisplayRole, Qt.ToolTipRole):
            others = self._versions.get(int(self._shown[index.row()]))
            if others:
                if role == Qt.DisplayRole:
                    return f"{value}  (+{len(others)})"
                names = "\n".join(f"  {self._tracks[p].get('title', '')}" for p in others)
                return f"{value}\nOther versions, hidden by 'One row per track':\n{names}"
        return value
