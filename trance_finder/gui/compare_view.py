"""The Compare view (pyqtgraph): the WIP's mix against a target built from references.

A self-contained widget; the window owns the state and the work:

    view = CompareView()
    view.set_target_choices(groups=["Uplifting", ...], reference="ref.wav" or None)
    view.set_sections(["drop", "breakdown", ...])        # drops by default when there are any
    view.targetChanged.connect(...)   # (kind, value): ("top5", ""), ("reference", ""), ("group", name)
    view.sectionChanged.connect(...)  # "whole" or a section label
    view.set_result(core.compare.CompareResult)          # or None / clear(message)

What it shows: the tonal-balance curve of the WIP (band level relative to the track's total) over the
target's shaded 10-90 % range with its median line; per stereo band the WIP's width bar against the
target's range; a small loudness and dynamics table; the ranked differences as sentences and a summary.
Points, bars and cells outside the target's range are drawn in the warning colour; every measure has a
one-line tooltip (``core.compare.MEASURE_HELP``).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from trance_finder.core.compare import MEASURE_HELP, CompareResult
from trance_finder.core.mixstats import BANDS, STEREO_BANDS, hz_range
from trance_finder.gui import theme

TARGET_TOP5, TARGET_REFERENCE, TARGET_GROUP = "top5", "reference", "group"
WHOLE = "whole"
IN_COLOR = theme.ACCENT
OUT_COLOR = theme.BAD
RANGE_COLOR = (242, 165, 65, 60)  # amber, translucent: the references' 10-90 % range
MEDIAN_COLOR = theme.ACCENT_2

LOUDNESS_ROWS = [  # (key, label, format)
    ("lufs", "Integrated loudness (LUFS)", "{:.1f}"),
    ("short_term_max", "Short-term max, 3 s (LUFS)", "{:.1f}"),
    ("lra", "Loudness range (LU)", "{:.1f}"),
    ("true_peak", "True peak (dBTP)", "{:+.1f}"),
    ("plr", "PLR (dB)", "{:.1f}"),
    ("correlation", "Correlation (L/R)", "{:.2f}"),
    ("tempo", "Tempo (BPM)", "{:.1f}"),
]


def _cap(name: str) -> str:
    return name[:1].upper() + name[1:]


def _key(kind: str, value: str) -> str:
    return f"{kind}\t{value}"


def _num(v) -> float:
    return math.nan if v is None else float(v)


class CompareView(QWidget):
    targetChanged = Signal(str, str)  # noqa: N815 - (kind, value)
    sectionChanged = Signal(str)  # noqa: N815 - "whole" or a section label

    def __init__(self, parent=None):
        super().__init__(parent)
        self.result: CompareResult | None = None
        self._quiet = False

        # -- selectors ---------------------------------------------------------------------------
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("What your WIP is compared with: the nearest references, the selected "
                                     "reference, or a whole cluster or label.")
        self.section_combo = QComboBox()
        self.section_combo.setToolTip("Which part of the tracks is compared: the drops by default, the whole "
                                      "track, or any section.")
        for combo, chars in ((self.target_combo, 14), (self.section_combo, 8)):  # long titles never widen it
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(chars)
        self.target_combo.currentIndexChanged.connect(self._target_picked)
        self.section_combo.currentIndexChanged.connect(self._section_picked)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Compare with"))
        bar.addWidget(self.target_combo, 2)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Section"))
        bar.addWidget(self.section_combo, 1)
        self.set_target_choices([], None)
        self.set_sections([])

        # -- tonal balance -----------------------------------------------------------------------
        self.tonal_plot = pg.PlotWidget()
        self.tonal_plot.setToolTip(MEASURE_HELP["band"])
        self.tonal_plot.setMenuEnabled(False)
        self.tonal_plot.setMouseEnabled(x=False, y=False)
        self.tonal_plot.showGrid(x=False, y=True, alpha=0.2)
        self.tonal_plot.setLabel("left", "dB rel. total")
        ax = self.tonal_plot.getAxis("bottom")
        ax.setTicks([[(i, b.name) for i, b in enumerate(BANDS)]])
        self.range_lo = pg.PlotDataItem(pen=pg.mkPen(None))
        self.range_hi = pg.PlotDataItem(pen=pg.mkPen(None))
        self.range_fill = pg.FillBetweenItem(self.range_lo, self.range_hi, brush=pg.mkBrush(*RANGE_COLOR))
        self.median_curve = pg.PlotDataItem(pen=pg.mkPen(MEDIAN_COLOR, width=1.5, style=Qt.DashLine))
        self.wip_curve = pg.PlotDataItem(pen=pg.mkPen(theme.WIP_COLOR, width=2))
        self.wip_points = pg.ScatterPlotItem(size=10, hoverable=True, tip=lambda x, y, data: data)
        for item in (self.range_lo, self.range_hi, self.range_fill, self.median_curve, self.wip_curve,
                     self.wip_points):
            self.tonal_plot.addItem(item)
        self.tonal_plot.setXRange(-0.5, len(BANDS) - 0.5, padding=0)

        # -- stereo width ------------------------------------------------------------------------
        self.width_plot = pg.PlotWidget()
        self.width_plot.setToolTip(MEASURE_HELP["width"])
        self.width_plot.setMenuEnabled(False)
        self.width_plot.setMouseEnabled(x=False, y=False)
        self.width_plot.setLabel("left", "side / mid")
        self.width_plot.getAxis("left").enableAutoSIPrefix(False)
        # short tick names (long ones overlap and pyqtgraph then hides all but one); ranges in the tooltip
        self.width_plot.getAxis("bottom").setTicks([[(i, _cap(b.name)) for i, b in enumerate(STEREO_BANDS)]])
        self.width_plot.setToolTip(MEASURE_HELP["width"] + "\n" + ", ".join(
            f"{_cap(b.name)}: {hz_range(b.lo_hz, b.hi_hz)}" for b in STEREO_BANDS))
        self.width_range = pg.BarGraphItem(x=[], height=[], y0=[], width=0.6, brush=pg.mkBrush(*RANGE_COLOR),
                                           pen=pg.mkPen(None))
        self.width_median = pg.ScatterPlotItem(symbol="t1", size=12, brush=pg.mkBrush(MEDIAN_COLOR),
                                               pen=pg.mkPen(None))
        self.width_bars = pg.BarGraphItem(x=[], height=[], width=0.25, brush=pg.mkBrush(IN_COLOR))
        self.width_tips = pg.ScatterPlotItem(size=14, brush=pg.mkBrush(0, 0, 0, 0), pen=pg.mkPen(None),
                                             hoverable=True, tip=lambda x, y, data: data)
        for item in (self.width_range, self.width_bars, self.width_median, self.width_tips):
            self.width_plot.addItem(item)
        self.width_plot.setXRange(-0.6, len(STEREO_BANDS) - 0.4, padding=0)

        # -- loudness table ----------------------------------------------------------------------
        self.table = QTableWidget(len(LOUDNESS_ROWS), 3)
        self.table.setHorizontalHeaderLabels(["WIP", "References", "10-90 %"])
        self.table.setVerticalHeaderLabels([label for _, label, _ in LOUDNESS_ROWS])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        self.table.setMinimumWidth(360)
        self.table.setMinimumHeight(24 * (len(LOUDNESS_ROWS) + 1) + 6)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.NoSelection)
        self.table.setFocusPolicy(Qt.NoFocus)
        for r, (key, _, _) in enumerate(LOUDNESS_ROWS):
            self.table.verticalHeaderItem(r).setToolTip(MEASURE_HELP[key])
            for c in range(3):
                item = QTableWidgetItem("")
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                item.setToolTip(MEASURE_HELP[key])
                self.table.setItem(r, c, item)

        # -- words -------------------------------------------------------------------------------
        self.summary_label = QLabel("Load a WIP to compare its mix with your references.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setObjectName("heading")
        self.differences_list = QListWidget()
        self.differences_list.setWordWrap(True)
        self.differences_list.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        self.differences_list.setMaximumHeight(150)
        self.notes_label = QLabel("")
        self.notes_label.setObjectName("muted")
        self.notes_label.setWordWrap(True)

        grid = QGridLayout()
        tonal_title = QLabel("Tonal balance")
        tonal_title.setObjectName("heading")
        tonal_title.setToolTip(MEASURE_HELP["band"])
        width_title = QLabel("Stereo width")
        width_title.setObjectName("heading")
        width_title.setToolTip(MEASURE_HELP["width"])
        loud_title = QLabel("Loudness and dynamics")
        loud_title.setObjectName("heading")
        grid.addWidget(tonal_title, 0, 0, 1, 2)
        grid.addWidget(self.tonal_plot, 1, 0, 1, 2)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(3, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        self._grid, self._width_title, self._loud_title = grid, width_title, loud_title
        self._narrow: bool | None = None
        self._arrange(narrow=False)
        # explicit: the wide arrangement's minimum would otherwise keep a scroll area from ever making it
        # narrow enough to switch to the stacked one
        self.setMinimumWidth(self.MIN_WIDTH)

        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.summary_label)
        lay.addLayout(grid, 1)
        lay.addWidget(self.differences_list)
        lay.addWidget(self.notes_label)

    #: below this width the loudness table goes under the width bars instead of beside them, so the view
    #: fits the tab at 1280x720 with the training panel open (no sideways scrolling)
    NARROW_WIDTH = 880
    MIN_WIDTH = 400

    def _arrange(self, narrow: bool) -> None:
        if narrow == self._narrow:
            return
        self._narrow = narrow
        g = self._grid
        for w in (self._width_title, self._loud_title, self.width_plot, self.table):
            g.removeWidget(w)
        if narrow:
            g.addWidget(self._width_title, 2, 0, 1, 2)
            g.addWidget(self.width_plot, 3, 0, 1, 2)
            g.addWidget(self._loud_title, 4, 0, 1, 2)
            g.addWidget(self.table, 5, 0, 1, 2)
        else:
            g.addWidget(self._width_title, 2, 0)
            g.addWidget(self._loud_title, 2, 1)
            g.addWidget(self.width_plot, 3, 0)
            g.addWidget(self.table, 3, 1)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._arrange(self.width() < self.NARROW_WIDTH)

    # -- choices -------------------------------------------------------------------------------
    def set_target_choices(self, groups: list[str], reference: str | None = None,
                           current: tuple[str, str] | None = None) -> None:
        """Fill the target selector: top 5 neighbours, the selected reference (when there is one), every
        cluster or label in ``groups``. ``current`` (kind, value) is kept selected when still offered."""
        keep = current or self.current_target()
        self._quiet = True
        try:
            self.target_combo.clear()
            self.target_combo.addItem("Top 5 neighbours", _key(TARGET_TOP5, ""))
            if reference:
                self.target_combo.addItem(f"Selected reference: {reference}", _key(TARGET_REFERENCE, ""))
            for g in groups:
                self.target_combo.addItem(f"Cluster / label: {g}", _key(TARGET_GROUP, g))
            i = self.target_combo.findData(_key(*keep)) if keep else -1
            self.target_combo.setCurrentIndex(max(0, i))
        finally:
            self._quiet = False

    def set_sections(self, labels: list[str], default: str | None = None) -> None:
        """Fill the section selector: "whole track" and every label; the default is ``default``, else the
        drops when there are any, else the whole track. Emits nothing."""
        labels = [lb for lb in dict.fromkeys(labels) if lb and lb != WHOLE]
        self._quiet = True
        try:
            self.section_combo.clear()
            self.section_combo.addItem("Whole track", WHOLE)
            for lb in labels:
                self.section_combo.addItem(f"{_cap(lb)}s" if not lb.endswith("s") else _cap(lb), lb)
            want = default or ("drop" if "drop" in labels else WHOLE)
            self.section_combo.setCurrentIndex(max(0, self.section_combo.findData(want)))
        finally:
            self._quiet = False

    def current_target(self) -> tuple[str, str] | None:
        data = self.target_combo.currentData()
        if not data:
            return None
        kind, _, value = str(data).partition("\t")
        return kind, value

    def current_section(self) -> str:
        return self.section_combo.currentData() or WHOLE

    def _target_picked(self, _i: int) -> None:
        if not self._quiet and self.current_target():
            self.targetChanged.emit(*self.current_target())

    def _section_picked(self, _i: int) -> None:
        if not self._quiet:
            self.sectionChanged.emit(self.current_section())

    # -- results -------------------------------------------------------------------------------
    def clear(self, message: str = "Load a WIP to compare its mix with your references.") -> None:
        self.result = None
        for item in (self.range_lo, self.range_hi, self.median_curve, self.wip_curve):
            item.setData([], [])
        self.wip_points.setData([])
        self.width_range.setOpts(x=[], height=[], y0=[])
        self.width_bars.setOpts(x=[], height=[])
        self.width_median.setData([])
        self.width_tips.setData([])
        for r in range(self.table.rowCount()):
            for c in range(3):
                self._cell(r, c, "", None)
        self.differences_list.clear()
        self.summary_label.setText(message)
        self.notes_label.setText("")

    def set_result(self, result: CompareResult | None) -> None:
        if result is None:
            self.clear()
            return
        self.result = result
        self._show_bands(result)
        self._show_widths(result)
        self._show_table(result)
        self.summary_label.setText(result.summary)
        self.differences_list.clear()
        for i, d in enumerate(result.differences, 1):
            item = QListWidgetItem(f"{i}. {d.text}")
            kind = d.measure.split(":")[0]
            item.setToolTip(MEASURE_HELP.get(kind, MEASURE_HELP.get(d.measure, "")))
            item.setForeground(QBrush(QColor(OUT_COLOR)))
            self.differences_list.addItem(item)
        if not result.differences:
            item = QListWidgetItem("Inside your references' range on every measure.")
            item.setForeground(QBrush(QColor(theme.GOOD)))
            self.differences_list.addItem(item)
        self.notes_label.setText("\n".join(result.notes))

    def _show_bands(self, res: CompareResult) -> None:
        rows = res.bands
        x = np.arange(len(rows), dtype=float)
        wip = np.array([_num(b["wip_db"]) for b in rows])
        med = np.array([_num(b["target_db"]) for b in rows])
        lo = np.array([_num(b["target_lo_db"]) for b in rows])
        hi = np.array([_num(b["target_hi_db"]) for b in rows])
        ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(med)
        self.range_lo.setData(x[ok], lo[ok])
        self.range_hi.setData(x[ok], hi[ok])
        self.median_curve.setData(x[ok], med[ok])
        has = np.isfinite(wip)
        self.wip_curve.setData(x[has], wip[has])
        spots = []
        for i, b in enumerate(rows):
            if not has[i]:
                continue
            out = b.get("outside") or 0.0
            colour = OUT_COLOR if out else IN_COLOR
            tip = (f"{_cap(b['name'])} ({hz_range(b['lo_hz'], b['hi_hz'])}): WIP {wip[i]:.1f} dB, references "
                   f"{med[i]:.1f} dB ({lo[i]:.1f} to {hi[i]:.1f})") if ok[i] else f"{_cap(b['name'])}: {wip[i]:.1f} dB"
            spots.append({"pos": (x[i], wip[i]), "brush": pg.mkBrush(colour), "pen": pg.mkPen(colour),
                          "data": tip})
        self.wip_points.setData(spots)

    def _show_widths(self, res: CompareResult) -> None:
        rows = res.stereo
        x = np.arange(len(rows), dtype=float)
        wip = np.array([_num(s["wip_width"]) for s in rows])
        med = np.array([_num(s["target_width"]) for s in rows])
        lo = np.array([_num(s["target_lo"]) for s in rows])
        hi = np.array([_num(s["target_hi"]) for s in rows])
        ok = np.isfinite(lo) & np.isfinite(hi)
        self.width_range.setOpts(x=x[ok], y0=lo[ok], height=(hi - lo)[ok])
        self.width_median.setData(x[np.isfinite(med)], med[np.isfinite(med)])
        has = np.isfinite(wip)
        brushes = [pg.mkBrush(OUT_COLOR if (s.get("outside") or 0.0) else IN_COLOR)
                   for s, h in zip(rows, has) if h]
        self.width_bars.setOpts(x=x[has], height=wip[has], brushes=brushes)
        self.width_tips.setData([{"pos": (x[i], wip[i]), "data": (
            f"{_cap(s['name'])} ({hz_range(s['lo_hz'], s['hi_hz'])}): WIP side/mid {wip[i]:.2f}, references "
            f"{med[i]:.2f} ({lo[i]:.2f} to {hi[i]:.2f})")} for i, s in enumerate(rows) if has[i] and ok[i]])
        top = np.nanmax(np.concatenate([wip[has], hi[ok], [0.3]]))
        self.width_plot.setYRange(0.0, float(top) * 1.15, padding=0)

    def _show_table(self, res: CompareResult) -> None:
        L = res.loudness
        for r, (key, _, fmt) in enumerate(LOUDNESS_ROWS):
            if key == "correlation":
                w, t, lo, hi = (res.correlation.get(k) for k in ("wip", "target", "target_lo", "target_hi"))
            elif key == "tempo":
                w, t, lo, hi = res.tempo.get("wip"), res.tempo.get("target"), None, None
            else:
                w, t, lo, hi = L["wip"].get(key), L["target"].get(key), L["target_lo"].get(key), L["target_hi"].get(key)
            outside = None
            if key in ("lufs", "short_term_max", "true_peak") and w is not None and lo is not None and hi is not None:
                outside = "level" if not lo <= w <= hi else None  # level: shown, not a mix difference
            measure = {"plr": "plr", "lra": "lra", "correlation": "correlation", "true_peak": "true_peak"}.get(key)
            if measure and any(d.measure == measure for d in res.differences):
                outside = "mix"
            self._cell(r, 0, "" if w is None else fmt.format(w), outside)
            self._cell(r, 1, "" if t is None else fmt.format(t), None)
            rng = "" if lo is None or hi is None else f"{fmt.format(lo)} to {fmt.format(hi)}"
            self._cell(r, 2, rng, None)

    def _cell(self, r: int, c: int, text: str, outside: str | None) -> None:
        item = self.table.item(r, c)
        item.setText(text)
        colour = {"mix": OUT_COLOR, "level": theme.ACCENT_2}.get(outside or "", theme.TEXT)
        item.setForeground(QBrush(QColor(colour)))
