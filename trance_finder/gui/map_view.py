"""The 2D map (pyqtgraph): every reference coloured by cluster, the WIP with lines to its nearest
references, the interpolation marker. One ScatterPlotItem for all references, reused via setData,
with each point's index position in ``data=``."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from trance_finder.gui import theme

N_LINES = 5


def legend_html(names, counts) -> str:
    parts = []
    for i, c in enumerate(names):
        colour = theme.cluster_color(i).name()
        name = html.escape(c).replace(" ", "&nbsp;").replace("-", "&#8209;")  # keep each entry on one line
        parts.append(f"<span style='color:{colour}; font-size:13pt'>&#9679;</span>&nbsp;{name}"
                     f"&nbsp;<span style='color:{theme.MUTED}'>{counts.get(c, 0)}</span>")
    parts.append(f"<span style='color:{theme.TEXT}; font-size:13pt'>&#9733;</span>&nbsp;your&nbsp;WIP")
    parts.append(f"<span style='color:{theme.BLEND_COLOR}; font-size:12pt'>&#9670;</span>&nbsp;blend")
    # entries may wrap between each other, never inside one ("your WIP" stays on one line)
    entries = " &nbsp; ".join(f"<span style='white-space:nowrap'>{p}</span>" for p in parts)
    return f"<span style='font-size:9pt'>{entries}</span>"


LABEL_ABOVE, LABEL_BELOW = (0.5, 1.6), (0.5, -0.6)


class Marker(pg.ScatterPlotItem):
    """A marker drawn over the references that lets clicks through to them."""

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        ev.ignore()


class MapView(QWidget):
    pointClicked = Signal(int)  # noqa: N815 - index position of the clicked reference
    auditionRequested = Signal(int)  # noqa: N815

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tracks: list[dict] = []
        self.xy = np.zeros((0, 2), np.float32)
        self.cluster_names: list[str] = []
        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setMinimumSize(280, 220)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setAspectLocked(True)
        self.plot.vb.setDefaultPadding(0.12)  # room for the marker labels at the edges

        self.lines = pg.PlotDataItem([], [], connect="pairs",
                                     pen=pg.mkPen(QColor(255, 255, 255, 110), width=1.4, style=Qt.DashLine))
        self.scatter = pg.ScatterPlotItem(size=11, pen=pg.mkPen(QColor(0, 0, 0, 120), width=0.8),
                                          hoverable=True, hoverSize=14, hoverPen=pg.mkPen("w", width=1.5),
                                          tip=self._tip)
        self.selected = Marker(size=20, symbol="o", pen=pg.mkPen(theme.ACCENT_2, width=2.5),
                                           brush=QBrush(Qt.NoBrush))
        self.wip = Marker(size=24, symbol="star", pen=pg.mkPen(theme.ACCENT, width=1.5),
                                      brush=pg.mkBrush(theme.WIP_COLOR))
        self.blend = Marker(size=20, symbol="d", pen=pg.mkPen("w", width=1.5),
                                        brush=pg.mkBrush(theme.BLEND_COLOR))
        self.wip_label = pg.TextItem("your WIP", color=theme.TEXT, anchor=LABEL_ABOVE)
        self.blend_label = pg.TextItem("blend", color=theme.BLEND_COLOR, anchor=LABEL_BELOW)
        self._wip_xy: tuple[float, float] | None = None
        self._blend_xy: tuple[float, float] | None = None
        self.auto_fit = True  # refit on resize until the user pans or zooms
        for item in (self.lines, self.scatter, self.selected, self.wip, self.blend, self.wip_label, self.blend_label):
            self.plot.addItem(item)
        self.selected.setZValue(5)
        self.wip.setZValue(10)
        self.blend.setZValue(11)
        self.wip_label.setVisible(False)
        self.blend_label.setVisible(False)
        # the legend sits under the plot (a Qt label), so it never hides points or markers
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.RichText)
        self.legend.setWordWrap(True)
        self.scatter.sigClicked.connect(self._clicked)
        self.plot.vb.sigRangeChangedManually.connect(self._user_moved)
        self.plot.vb.sigResized.connect(self._resized)

        self.play_on_click = QCheckBox("Play on click")
        self.play_on_click.setObjectName("playOnClick")
        self.play_on_click.setToolTip("Clicking a point also auditions that reference")
        reset = QPushButton("Fit")
        reset.setToolTip("Zoom to show every reference")
        reset.clicked.connect(self.refit)
        note = QLabel("2D is approximate")
        note.setObjectName("hint")
        note.setToolTip("The map squeezes the embedding into 2D, so distances on it are approximate; the ranked "
                        "list uses the full embedding.")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(note, 1)
        bar.addWidget(self.play_on_click)
        bar.addWidget(reset)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.placeholder = QLabel("The map appears when a reference library is loaded.")
        self.placeholder.setObjectName("hint")
        self.placeholder.setAlignment(Qt.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet(f"background: {theme.BASE}; border-radius: 6px;")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.plot_widget)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.legend)
        lay.addLayout(bar)

    # -- data -------------------------------------------------------------------------------------
    def set_library(self, tracks: list[dict], cluster_names: list[str]) -> None:
        self.tracks = tracks
        names = list(cluster_names) or sorted({t.get("cluster", "") for t in tracks})
        self.cluster_names = names
        index = {c: i for i, c in enumerate(names)}
        self.xy = np.array([[t.get("x", 0.0), t.get("y", 0.0)] for t in tracks], dtype=np.float32).reshape(-1, 2)
        # one brush per cluster, shared: pyqtgraph keys its symbol atlas per brush (10,000 distinct
        # brushes took 3.7 s to set, shared ones 0.1 s; bench/bench_gui_10k.py)
        shared = [pg.mkBrush(theme.cluster_color(i)) for i in range(max(1, len(names)))]
        brushes = [shared[index.get(t.get("cluster", ""), 0)] for t in tracks]
        self.scatter.setData(x=self.xy[:, 0], y=self.xy[:, 1], brush=brushes, data=np.arange(len(tracks)))
        counts = {c: 0 for c in names}
        for t in tracks:
            counts[t.get("cluster", "")] = counts.get(t.get("cluster", ""), 0) + 1
        self.legend.setText(legend_html(names, counts))
        self.stack.setCurrentIndex(1 if len(tracks) else 0)
        self.clear_query()
        self.set_blend(None)
        self.set_selected(None)
        self.auto_fit = True
        self.fit()

    def set_placeholder(self, text: str) -> None:
        """What the map says while it has no references to show."""
        self.placeholder.setText(text)
        if not len(self.tracks):
            self.stack.setCurrentIndex(0)

    def _place_labels(self) -> None:
        """The WIP and blend labels go on the far sides of their two markers, so they never overlap."""
        w, b = self._wip_xy, self._blend_xy
        blend_above = w is None or b is None or b[1] >= w[1]
        self.blend_label.setAnchor(LABEL_ABOVE if blend_above else LABEL_BELOW)
        self.wip_label.setAnchor(LABEL_BELOW if blend_above and b is not None else LABEL_ABOVE)

    def set_query(self, xy, neighbour_positions) -> None:
        x, y = float(xy[0]), float(xy[1])
        self.wip.setData([x], [y])
        self.wip_label.setPos(x, y)
        self.wip_label.setVisible(True)
        self._wip_xy = (x, y)
        self._place_labels()
        pts = []
        for p in list(neighbour_positions)[:N_LINES]:
            pts += [(x, y), tuple(self.xy[p])]
        arr = np.array(pts, dtype=np.float32).reshape(-1, 2)
        self.lines.setData(arr[:, 0], arr[:, 1], connect="pairs")

    def clear_query(self) -> None:
        self.wip.setData([], [])
        self.lines.setData([], [])
        self.wip_label.setVisible(False)
        self._wip_xy = None
        self._place_labels()

    def set_blend(self, xy) -> None:
        if xy is None:
            self.blend.setData([], [])
            self.blend_label.setVisible(False)
            self._blend_xy = None
            self._place_labels()
            return
        self.blend.setData([float(xy[0])], [float(xy[1])])
        self.blend_label.setPos(float(xy[0]), float(xy[1]))
        self.blend_label.setVisible(True)
        self._blend_xy = (float(xy[0]), float(xy[1]))
        self._place_labels()

    def set_selected(self, position: int | None) -> None:
        if position is None or not 0 <= position < len(self.xy):
            self.selected.setData([], [])
        else:
            self.selected.setData([float(self.xy[position, 0])], [float(self.xy[position, 1])])

    def fit(self) -> None:
        if len(self.xy):
            self.plot.vb.autoRange(items=[self.scatter])

    def refit(self) -> None:
        self.auto_fit = True
        self.fit()

    def _user_moved(self, *_args) -> None:
        self.auto_fit = False

    def _resized(self, *_args) -> None:
        if self.auto_fit:
            self.fit()  # every point stays in view whatever size the map gets

    def points_in_view(self) -> bool:
        """True when every reference lies inside the visible range (tests)."""
        if not len(self.xy):
            return True
        (x0, x1), (y0, y1) = self.plot.vb.viewRange()
        x, y = self.xy[:, 0], self.xy[:, 1]
        return bool((x >= x0).all() and (x <= x1).all() and (y >= y0).all() and (y <= y1).all())

    # -- interaction --------------------------------------------------------------------------------
    def _tip(self, x, y, data) -> str:
        try:
            t = self.tracks[int(data)]
        except (TypeError, ValueError, IndexError):
            return ""
        bpm = f", {float(t['tempo']):.0f} BPM" if t.get("tempo") is not None else ""
        return f"{t.get('title', '')}\n{t.get('cluster', '')}{bpm}"

    def _clicked(self, _item, points, _ev=None) -> None:
        if len(points) == 0:
            return
        pos = int(points[0].data())
        self.pointClicked.emit(pos)
        if self.play_on_click.isChecked():
            self.auditionRequested.emit(pos)

    def point_view_pos(self, position: int) -> QPointF:
        """Where reference ``position`` is drawn, in the plot widget's viewport coordinates."""
        scene = self.plot.vb.mapViewToScene(QPointF(float(self.xy[position, 0]), float(self.xy[position, 1])))
        return QPointF(self.plot_widget.mapFromScene(scene))
