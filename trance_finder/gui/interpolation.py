"""Interpolation panel: blend two to four anchors (references, cluster centres, the WIP) with weight
sliders, or walk from the WIP toward a cluster. The blend's nearest references update while a slider
moves; the numbers run on a LatestOnly worker (the newest request only), never on the UI thread.

The model, the WIP and the blend result live in ``AppState``; this panel keeps only its own controls
(anchors, weights, mode) and renders ``state.blend``. A result for another model or WIP is dropped by
``AppState.blend_result``."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QStackedWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from trance_finder.core.calibration import display_similarity
from trance_finder.gui import tasks
from trance_finder.gui.workers import LatestOnly

MAX_ANCHORS = 4
MIN_ANCHORS = 2
N_RESULTS = 8


class AnchorRow:
    def __init__(self, panel: InterpolationPanel, grid: QGridLayout, row: int):
        from trance_finder.gui.anchor_picker import AnchorPicker  # searchable: 10,000 references

        self.combo = AnchorPicker()
        self.combo.setMaxVisibleItems(20)
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(8)
        self.combo.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(50)
        self.slider.setMinimumWidth(60)
        self.value = QLabel("50")
        self.value.setMinimumWidth(28)
        self.value.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("Remove this anchor")
        self.widgets = (self.combo, self.slider, self.value, self.remove)
        for col, w in enumerate(self.widgets):
            grid.addWidget(w, row, col)
        self.slider.valueChanged.connect(lambda v: self.value.setText(str(v)))

    def anchor(self):
        return self.combo.currentData()

    def dispose(self) -> None:
        for w in self.widgets:
            w.setParent(None)
            w.deleteLater()


class InterpolationPanel(QWidget):
    blendChanged = Signal(object)  # noqa: N815 - tasks.BlendOutcome, or None when cleared
    referenceActivated = Signal(int)  # noqa: N815 - a blend neighbour was clicked
    referencePlay = Signal(int)  # noqa: N815 - ... or double-clicked
    failed = Signal(str)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.request_id = 0
        self.worker = LatestOnly("blend", self)
        self.worker.result.connect(self._on_result)
        self.worker.failed.connect(self.failed)

        # mode switch
        self.mode_blend = QPushButton("Blend anchors")
        self.mode_toward = QPushButton("My WIP → cluster")
        self.modes = QButtonGroup(self)
        for i, b in enumerate((self.mode_blend, self.mode_toward)):
            b.setCheckable(True)
            self.modes.addButton(b, i)
        self.mode_blend.setChecked(True)
        self.modes.idClicked.connect(self._mode_changed)
        mode_bar = QHBoxLayout()
        mode_bar.addWidget(self.mode_blend)
        mode_bar.addWidget(self.mode_toward)
        mode_bar.addStretch(1)

        # blend page
        blend_page = QWidget()
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setColumnStretch(0, 3)
        self.grid.setColumnStretch(1, 2)
        self.rows: list[AnchorRow] = []
        self.add_button = QPushButton("+ Add anchor")
        self.add_button.setToolTip("Blend up to four references or cluster centres")
        self.add_button.clicked.connect(lambda: self.add_anchor())
        bl = QVBoxLayout(blend_page)
        bl.setContentsMargins(0, 0, 0, 0)
        hint = QLabel("Mix anchors (cluster centres, references or your WIP) with the sliders:")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        bl.addWidget(hint)
        bl.addLayout(self.grid)
        add_row = QHBoxLayout()
        add_row.addWidget(self.add_button)
        add_row.addStretch(1)
        bl.addLayout(add_row)

        # toward page
        toward_page = QWidget()
        self.target = QComboBox()
        self.amount = QSlider(Qt.Horizontal)
        self.amount.setRange(0, 100)
        self.amount.setValue(50)
        self.amount_label = QLabel("50 %")
        self.amount_label.setMinimumWidth(44)
        self.toward_hint = QLabel("Load a WIP first (drop a file on the window).")
        self.toward_hint.setObjectName("hint")
        tl = QGridLayout(toward_page)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(QLabel("Toward"), 0, 0)
        tl.addWidget(self.target, 0, 1, 1, 2)
        tl.addWidget(QLabel("Amount"), 1, 0)
        tl.addWidget(self.amount, 1, 1)
        tl.addWidget(self.amount_label, 1, 2)
        tl.addWidget(self.toward_hint, 2, 0, 1, 3)
        tl.setRowStretch(3, 1)
        self.amount.valueChanged.connect(lambda v: self.amount_label.setText(f"{v} %"))
        self.amount.valueChanged.connect(self.request)
        self.target.currentIndexChanged.connect(self.request)

        self.pages = QStackedWidget()
        self.pages.addWidget(blend_page)
        self.pages.addWidget(toward_page)
        # the page takes the height of its rows, the list below takes the rest (no empty gap)
        self.pages.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Maximum)
        self.pages.currentChanged.connect(self._fit_page)
        self._fit_page(0)

        self.results_label = QLabel("Nearest references to the blend")
        self.results_label.setObjectName("heading")
        self.results = QTreeWidget()
        self.results.setColumnCount(3)
        self.results.setHeaderLabels(["Sim.", "Title", "Cluster"])
        self.results.setRootIsDecorated(False)
        self.results.setUniformRowHeights(True)
        self.results.setAlternatingRowColors(True)
        self.results.setSelectionMode(QTreeWidget.SingleSelection)
        self.results.setToolTip("Click to select in the table, double-click to play")
        header = self.results.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        self.results.setMinimumHeight(90)
        self.results.setTextElideMode(Qt.ElideMiddle)
        self.results.itemClicked.connect(lambda it, _col=0: self.referenceActivated.emit(int(it.data(0, Qt.UserRole))))
        self.results.itemDoubleClicked.connect(
            lambda it, _col=0: self.referencePlay.emit(int(it.data(0, Qt.UserRole))))

        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addLayout(mode_bar)
        lay.addWidget(self.pages)
        lay.addWidget(self.results_label)
        lay.addWidget(self.results, 1)
        self.setEnabled(False)

    # -- state (read, never copied) ------------------------------------------------------------------
    @property
    def finder(self):
        return self.state.finder

    @property
    def wip_vector(self):
        out = self.state.wip.outcome
        return None if out is None else out.result.vector

    @property
    def wip_name(self) -> str:
        return Path(self.state.wip.path).stem if self.state.wip.path else ""

    @property
    def last_outcome(self):
        return self.state.blend

    # -- model -------------------------------------------------------------------------------------
    def anchor_choices(self) -> list[tuple[str, tuple]]:
        if self.finder is None:
            return []
        items = [(f"◆ {c}", ("cluster", c)) for c in self.finder.cluster_names]
        if self.state.wip.path and self.state.wip.status != "failed":  # kept while a new WIP is analysed
            items.append((f"★ My WIP ({self.wip_name})", ("wip", None)))
        titles = sorted(((t.get("title", str(i)), i) for i, t in enumerate(self.finder.tracks)),
                        key=lambda x: x[0].lower())
        items += [(title, ("track", i)) for title, i in titles]
        return items

    def model_changed(self) -> None:
        """A new model is in AppState: fresh anchors (two cluster centres), fresh targets."""
        finder = self.finder
        for r in self.rows:
            r.dispose()
        self.rows = []
        self.results.clear()
        self.target.blockSignals(True)
        self.target.clear()
        if finder is not None:
            for c in finder.cluster_names:
                self.target.addItem(c, c)
        self.target.blockSignals(False)
        self.setEnabled(finder is not None and len(finder.tracks) > 0)
        if finder is None or not len(finder.tracks):
            self.state.clear_blend()
            return
        choices = self.anchor_choices()
        clusters = [c for c in choices if c[1][0] == "cluster"]
        defaults = clusters[:2] if len(clusters) >= 2 else [c for c in choices if c[1][0] == "track"][:2]
        for _label, anchor in defaults:
            self.add_anchor(anchor, request=False)
        self._update_toward_state()
        self.request()

    def wip_changed(self) -> None:
        """The WIP in AppState changed (analysed, or cleared while a new one is analysed)."""
        for r in self.rows:
            self._fill_combo(r.combo, r.anchor())
        self._default_target()
        self._update_toward_state()
        if self.modes.checkedId() == 1 or any(r.anchor() is not None and r.anchor()[0] == "wip" for r in self.rows):
            self.state.invalidate("blend")  # a result for the previous WIP is out of date
            self.request()

    def _default_target(self) -> None:
        """"My WIP → cluster" starts at a cluster other than the WIP's own (walking to itself shows nothing)."""
        out = self.state.wip.outcome
        own = None if out is None else out.result.cluster
        if own is None or self.target.count() < 2 or self.target.currentData() != own:
            return
        other = next(i for i in range(self.target.count()) if self.target.itemData(i) != own)
        self.target.setCurrentIndex(other)

    def _update_toward_state(self) -> None:
        has_wip = self.wip_vector is not None
        ok = has_wip and self.target.count() > 0
        self.amount.setEnabled(ok)
        self.target.setEnabled(ok)
        self.toward_hint.setVisible(not ok)
        self.toward_hint.setText("Load a WIP first (drop a file on the window)." if not has_wip
                                 else "This model has no clusters.")

    def _fill_combo(self, combo: QComboBox, keep=None) -> None:
        if hasattr(combo, "set_choices"):  # AnchorPicker: one model reset, no per-item objects
            combo.set_choices(self.anchor_choices(), keep)
            return
        combo.blockSignals(True)
        combo.clear()
        for label, anchor in self.anchor_choices():
            combo.addItem(label, anchor)
        if keep is not None:
            i = next((k for k in range(combo.count()) if combo.itemData(k) == keep), 0)
            combo.setCurrentIndex(i)
        combo.blockSignals(False)

    def add_anchor(self, anchor=None, weight: int = 50, request: bool = True) -> AnchorRow | None:
        if len(self.rows) >= MAX_ANCHORS or self.finder is None:
            return None
        row = AnchorRow(self, self.grid, len(self.rows))
        self._fill_combo(row.combo, anchor)
        if anchor is None:  # a different default than the rows above
            used = {r.anchor() for r in self.rows}
            keys = getattr(getattr(row.combo, "choices", None), "keys", None)
            free = next((k for k in range(row.combo.count()) if (keys[k] if keys is not None else
                                                                  row.combo.itemData(k)) not in used), 0)
            row.combo.setCurrentIndex(free)
        row.slider.setValue(weight)
        row.slider.valueChanged.connect(self.request)
        row.combo.currentIndexChanged.connect(self.request)
        row.remove.clicked.connect(lambda _=False, r=row: self.remove_anchor(r))
        self.rows.append(row)
        self._update_buttons()
        if request:
            self.request()
        return row

    def remove_anchor(self, row: AnchorRow) -> None:
        if len(self.rows) <= MIN_ANCHORS:
            return
        self.rows.remove(row)
        row.dispose()
        for i, r in enumerate(self.rows):  # re-pack the grid
            for col, w in enumerate(r.widgets):
                self.grid.addWidget(w, i, col)
        self._update_buttons()
        self.request()

    def _update_buttons(self) -> None:
        self.add_button.setEnabled(len(self.rows) < MAX_ANCHORS)
        for r in self.rows:
            r.remove.setEnabled(len(self.rows) > MIN_ANCHORS)

    @property
    def sliders(self) -> list[QSlider]:
        return [r.slider for r in self.rows]

    def _fit_page(self, current: int) -> None:
        """A stacked widget is as tall as its tallest page; size it to the page shown instead."""
        for i in range(self.pages.count()):
            page = self.pages.widget(i)
            page.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred if i == current else QSizePolicy.Ignored)
            page.updateGeometry()
        self.pages.updateGeometry()

    def _mode_changed(self, mode: int) -> None:
        self.pages.setCurrentIndex(mode)
        self.results_label.setText("Nearest references to the blend" if mode == 0
                                   else "Nearest references along the way")
        self.request()

    # -- compute -------------------------------------------------------------------------------------
    def request(self, *_args) -> None:
        finder = self.finder
        if finder is None or not self.rows:
            return
        ticket, wip = self.state.blend_ticket(), self.wip_vector
        if self.modes.checkedId() == 1:
            cluster, amount = self.target.currentData(), self.amount.value() / 100.0
            if wip is None or cluster is None:
                return
            self.request_id += 1
            rid = self.request_id
            self.worker.submit(lambda: (ticket, tasks.toward_cluster(finder, rid, wip, cluster, amount, N_RESULTS)))
        else:
            anchors = [r.anchor() for r in self.rows]
            weights = [r.slider.value() for r in self.rows]
            if any(a is None or (a[0] == "wip" and wip is None) for a in anchors):
                return
            self.request_id += 1
            rid = self.request_id
            self.worker.submit(lambda: (ticket, tasks.blend_anchors(finder, rid, anchors, weights, wip, N_RESULTS)))

    def _on_result(self, value) -> None:
        ticket, outcome = value
        self.state.blend_result(ticket, outcome)  # dropped there when it is for another model or WIP

    def render_blend(self, outcome) -> None:
        """AppState's blend changed: list its nearest references."""
        self.results.clear()
        if outcome is None:
            self.blendChanged.emit(None)
            return
        for n in outcome.neighbours:
            t = n.track
            item = QTreeWidgetItem([f"{display_similarity(n.similarity):.2f}", t.get("title", ""),
                                    t.get("cluster", "")])
            item.setData(0, Qt.UserRole, n.position)
            item.setTextAlignment(0, Qt.AlignRight | Qt.AlignVCenter)
            for col in range(3):
                item.setToolTip(col, f"{t.get('title', '')}\n{self.state.display_path(n.position)}")
            self.results.addTopLevelItem(item)
        self.blendChanged.emit(outcome)

    # -- persistence --------------------------------------------------------------------------------
    def explore_settings(self) -> dict:
        anchors = [[a[0], a[1], r.slider.value()] for r in self.rows if (a := r.anchor()) is not None]
        return {"mode": self.modes.checkedId(), "anchors": anchors, "target": self.target.currentData() or "",
                "amount": self.amount.value()}

    def restore(self, saved: dict) -> None:
        """Anchors, weights, mode and target from the last session (whatever still exists in this model)."""
        if self.finder is None:
            return
        choices = {tuple(a) for _label, a in self.anchor_choices()}
        anchors = [(k, key, int(w)) for k, key, w in saved.get("anchors", []) if (k, key) in choices]
        if len(anchors) >= MIN_ANCHORS:
            for r in self.rows:
                r.dispose()
            self.rows = []
            for kind, key, weight in anchors[:MAX_ANCHORS]:
                self.add_anchor((kind, key), weight, request=False)
        if saved.get("target"):
            i = self.target.findData(saved["target"])
            if i >= 0:
                self.target.setCurrentIndex(i)
        self.amount.setValue(int(saved.get("amount", self.amount.value())))
        mode = int(saved.get("mode", 0))
        self.modes.button(mode if mode in (0, 1) else 0).setChecked(True)
        self._mode_changed(self.modes.checkedId())

    def blend_titles(self) -> list[str]:
        return [] if self.last_outcome is None else [n.track.get("title", "") for n in self.last_outcome.neighbours]

    def shutdown(self) -> None:
        self.worker.shutdown()
