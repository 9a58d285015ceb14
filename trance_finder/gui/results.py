"""The ranked neighbours table: a model over the index records, a similarity-bar delegate, a view
with keyboard audition (arrows move, Space plays)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QStyledItemDelegate, QTableView

from trance_finder.gui import theme

COLUMNS = ["#", "Title", "Similarity", "Cluster", "BPM", "Length"]
COL_RANK, COL_TITLE, COL_SIM, COL_CLUSTER, COL_TEMPO, COL_LENGTH = range(len(COLUMNS))
SHORT_COLUMNS = {COL_SIM: "Sim.", COL_LENGTH: "Len."}  # headers of a narrow table
PositionRole = Qt.UserRole + 1
SimilarityRole = Qt.UserRole + 2


def fmt_duration(seconds) -> str:
    if seconds is None:
        return ""
    s = int(round(float(seconds)))
    return f"{s // 60}:{s % 60:02d}"


@dataclass
class Row:
    position: int
    track: dict
    rank: int | None = None
    similarity: float | None = None
    pinned: bool = False


class NeighbourModel(QAbstractTableModel):
    """Browse mode (no query): every reference by title. Ranked mode: the top ``limit`` by similarity,
    plus any reference the user picked elsewhere (the map, the blend list), shown with its true rank."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._tracks: list[dict] = []
        self._cluster_index: dict[str, int] = {}
        self._all: list[Row] = []  # every reference, in display order
        self._rows: list[Row] = []  # what is shown
        self._limit = 10
        self._pinned: set[int] = set()
        self.ranked = False
        self.display_path = lambda t: str(t.get("path", ""))  # the window shows paths relative to the library
        self.short_headers = False

    # -- data in --------------------------------------------------------------------------------
    def set_library(self, tracks: list[dict], cluster_names: list[str]) -> None:
        self._tracks = tracks
        self._cluster_index = {c: i for i, c in enumerate(cluster_names)}
        self.ranked = False
        self._pinned = set()
        order = sorted(range(len(tracks)), key=lambda i: str(tracks[i].get("title", "")).lower())
        self._all = [Row(i, tracks[i]) for i in order]
        self._refresh()

    def show_browse(self) -> None:
        """Every reference by title again (a new WIP is being analysed: no ranking of another file)."""
        self.set_library(self._tracks, list(self._cluster_index))

    def set_ranking(self, order, similarity) -> None:
        """``order``: positions best first; ``similarity``: cosine by position."""
        self.ranked = True
        self._pinned = set()
        self._all = [Row(int(p), self._tracks[int(p)], r + 1, float(similarity[int(p)]))
                     for r, p in enumerate(order)]
        self._refresh()

    def set_limit(self, k: int) -> None:
        self._limit = max(1, int(k))
        self._refresh()

    @property
    def limit(self) -> int:
        return self._limit

    def ensure_visible(self, position: int) -> int:
        """Row showing ``position`` (pinning it below the top-k when needed); -1 if unknown."""
        row = self.row_of(position)
        if row >= 0:
            return row
        if any(r.position == position for r in self._all):
            self._pinned.add(int(position))
            self._refresh()
        return self.row_of(position)

    def _refresh(self) -> None:
        self.beginResetModel()
        if self.ranked:
            self._rows = [r for i, r in enumerate(self._all) if i < self._limit or r.position in self._pinned]
            for r in self._rows:
                r.pinned = r.position in self._pinned and (r.rank or 0) > self._limit
        else:
            self._rows = list(self._all)
        self.endResetModel()

    # -- queries ----------------------------------------------------------------------------------
    def row_of(self, position: int) -> int:
        for i, r in enumerate(self._rows):
            if r.position == position:
                return i
        return -1

    def position_at(self, row: int) -> int | None:
        return self._rows[row].position if 0 <= row < len(self._rows) else None

    def row_data(self, row: int) -> Row | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def visible_positions(self) -> list[int]:
        return [r.position for r in self._rows]

    # -- Qt model ---------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return SHORT_COLUMNS.get(section, COLUMNS[section]) if self.short_headers else COLUMNS[section]
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole:
            return COLUMNS[section]
        if orientation == Qt.Horizontal and role == Qt.TextAlignmentRole:
            return int(Qt.AlignLeft | Qt.AlignVCenter) if section in (COL_TITLE, COL_CLUSTER, COL_SIM) \
                else int(Qt.AlignRight | Qt.AlignVCenter)
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        r = self._rows[index.row()]
        c = index.column()
        t = r.track
        if role == Qt.DisplayRole:
            if c == COL_RANK:
                return "" if r.rank is None else str(r.rank)
            if c == COL_TITLE:
                return t.get("title", "")
            if c == COL_SIM:
                return "" if r.similarity is None else f"{r.similarity:.2f}"
            if c == COL_CLUSTER:
                return t.get("cluster", "")
            if c == COL_TEMPO:
                return "" if t.get("tempo") is None else f"{float(t['tempo']):.0f}"
            if c == COL_LENGTH:
                return fmt_duration(t.get("duration"))
        if role == SimilarityRole:
            return r.similarity
        if role == PositionRole:
            return r.position
        if role == Qt.DecorationRole and c == COL_CLUSTER and t.get("cluster") in self._cluster_index:
            return theme.cluster_color(self._cluster_index[t["cluster"]])
        if role == Qt.TextAlignmentRole:
            if c in (COL_RANK, COL_TEMPO, COL_LENGTH):
                return int(Qt.AlignRight | Qt.AlignVCenter)
            return int(Qt.AlignLeft | Qt.AlignVCenter)
        if role == Qt.ForegroundRole:
            if c == COL_RANK or (c in (COL_TEMPO, COL_LENGTH)):
                return QColor(theme.MUTED)
            if r.pinned and c == COL_TITLE:
                return QColor(theme.ACCENT_2)
        if role == Qt.ToolTipRole:
            tip = f"{t.get('title', '')}\n{self.display_path(t)}"
            if r.pinned:
                tip += f"\nRank {r.rank}: outside the top {self._limit}, shown because you picked it"
            return tip
        return None


class EndElidedDelegate(QStyledItemDelegate):
    """Cluster names keep their start ("Dark Driv…"), titles their start and end (the table's mode)."""

    def initStyleOption(self, option, index) -> None:  # noqa: N802
        super().initStyleOption(option, index)
        option.textElideMode = Qt.ElideRight


class SimilarityDelegate(QStyledItemDelegate):
    """A horizontal bar (cosine similarity, 0..1) behind the number."""

    def paint(self, painter: QPainter, option, index) -> None:
        sim = index.data(SimilarityRole)
        selected = bool(option.state & QStyle.State_Selected)
        painter.save()
        if selected:
            painter.fillRect(option.rect, option.palette.highlight())
        if sim is None:
            painter.restore()
            return
        r = QRectF(option.rect).adjusted(6, 7, -44, -7)
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor("#2a2f38"))
        painter.drawRoundedRect(r, 3, 3)
        frac = max(0.0, min(1.0, float(sim)))
        if frac > 0:
            fill = QRectF(r.left(), r.top(), max(3.0, r.width() * frac), r.height())
            colour = QColor(theme.ACCENT)
            colour.setAlphaF(0.45 + 0.55 * frac)
            painter.setBrush(colour)
            painter.drawRoundedRect(fill, 3, 3)
        painter.setPen(QPen(QColor(theme.TEXT)))
        text_rect = QRectF(option.rect).adjusted(0, 0, -6, 0)
        painter.drawText(text_rect, int(Qt.AlignRight | Qt.AlignVCenter), f"{float(sim):.2f}")
        painter.restore()

    def sizeHint(self, option, index) -> QSize:  # noqa: N802
        return QSize(150, 26)


class NeighbourTable(QTableView):
    """Arrows move the selection; Space (or Enter) auditions the selected reference."""

    empty_text = "No references yet."

    positionSelected = Signal(int)  # noqa: N815 - Qt naming
    playRequested = Signal(int)  # noqa: N815

    def __init__(self, parent=None):
        super().__init__(parent)
        from trance_finder.gui.ranked_model import ArrayNeighbourModel  # no per-row objects, filters

        self.neighbours = ArrayNeighbourModel(self)
        self.setModel(self.neighbours)
        self.setItemDelegateForColumn(COL_SIM, SimilarityDelegate(self))
        self.setItemDelegateForColumn(COL_CLUSTER, EndElidedDelegate(self))
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        # a long "Artist - Title (mix)" keeps its start and its end: "Artist 2 - Mush…ine (psy)"
        self.setTextElideMode(Qt.ElideMiddle)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(28)
        h = self.horizontalHeader()
        h.setHighlightSections(False)
        h.setMinimumSectionSize(30)
        h.setStretchLastSection(False)
        for col in range(len(COLUMNS)):
            h.setSectionResizeMode(col, QHeaderView.Fixed)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        # Tab leaves the table (arrows move by row); the focus is drawn (theme: QTableView:focus)
        self.setTabKeyNavigation(False)
        self.setFocusPolicy(Qt.StrongFocus)
        self.selectionModel().currentRowChanged.connect(self._current_changed)
        self.doubleClicked.connect(lambda idx: self._play_row(idx.row()))

    def fit_columns(self) -> None:
        """Share the width so the title always gets at least half of it (no "Artist 1 - ..." collapse);
        when even the narrowest columns would take more, Length and then BPM step aside (still in the
        tooltip and the header)."""
        width = max(1, self.viewport().width())
        wanted = {COL_RANK: 34, COL_SIM: 120, COL_CLUSTER: 150, COL_TEMPO: 50, COL_LENGTH: 70}
        floor = {COL_RANK: 28, COL_SIM: 64, COL_CLUSTER: 80, COL_TEMPO: 46, COL_LENGTH: 64}
        budget = width // 2
        shown = dict(wanted)
        for optional in (COL_LENGTH, COL_TEMPO):
            if sum(floor[c] for c in shown) > budget:
                del shown[optional]
        for col in wanted:
            self.setColumnHidden(col, col not in shown)
        others = sum(shown.values())
        if others > budget:
            lo = sum(floor[c] for c in shown)
            scale = max(0.0, (budget - lo) / max(1, others - lo))
            widths = {c: int(floor[c] + scale * (shown[c] - floor[c])) for c in shown}
        else:
            widths = shown
        for col, w in widths.items():
            self.setColumnWidth(col, w)
        self.setColumnWidth(COL_TITLE, max(60, width - sum(widths.values())))
        short = widths.get(COL_SIM, 0) < 100
        if short != self.neighbours.short_headers:
            self.neighbours.short_headers = short
            self.neighbours.headerDataChanged.emit(Qt.Horizontal, 0, len(COLUMNS) - 1)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.fit_columns()

    def title_width(self) -> int:
        return self.columnWidth(COL_TITLE)

    def _current_changed(self, current, _previous) -> None:
        pos = self.neighbours.position_at(current.row())
        if pos is not None:
            self.positionSelected.emit(pos)

    def selected_position(self) -> int | None:
        rows = self.selectionModel().selectedRows()
        return self.neighbours.position_at(rows[0].row()) if rows else None

    def select_position(self, position: int) -> bool:
        row = self.neighbours.ensure_visible(position)
        if row < 0:
            return False
        self.selectRow(row)
        self.scrollTo(self.neighbours.index(row, 0), QAbstractItemView.EnsureVisible)
        return True

    def _play_row(self, row: int) -> None:
        pos = self.neighbours.position_at(row)
        if pos is not None:
            self.playRequested.emit(pos)

    def set_empty_text(self, text: str) -> None:
        self.empty_text = text
        self.viewport().update()

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        if self.neighbours.rowCount() == 0 and self.empty_text:
            p = QPainter(self.viewport())
            p.setPen(QColor(theme.MUTED))
            p.drawText(self.viewport().rect().adjusted(24, 24, -24, -24), int(Qt.AlignCenter | Qt.TextWordWrap),
                       self.empty_text)
            p.end()

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() in (Qt.Key_Space, Qt.Key_Return, Qt.Key_Enter) and not event.modifiers():
            row = self.currentIndex().row()
            if row < 0 and self.neighbours.rowCount():
                self.selectRow(0)
                row = 0
            self._play_row(row)
            event.accept()
            return
        super().keyPressEvent(event)
