"""Filters above the ranked list: tempo range, clusters / labels, words to exclude (title or folder),
and "one row per track" (versions of one production collapsed). The filter itself lives in AppState
(``state.filters``, a ``core.filters.RankFilter``); this bar sends intents and renders it, and the
table model (``ranked_model.ArrayNeighbourModel``) applies it with the vectorised ``FilterTable``.

``install(window)`` puts a "Filters" toggle in the references card's header and the bar above the
table, and subscribes to AppState; nothing else in the window changes."""

from __future__ import annotations

import math
from dataclasses import replace

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
)
from superqt import QRangeSlider

from trance_finder.core.filters import RankFilter, facet_values, tempo_range
from trance_finder.gui import theme

EXCLUDE_TIP = ("Hide references whose title or folder contains one of these words (comma-separated), "
               "e.g. 'acapella, DJ tools'")
VERSIONS_TIP = ("Show one row per production: its Extended Mix, Radio Edit, Original Mix ... are folded into "
                "the best-ranked one (remixes by someone else stay separate rows)")


class FiltersBar(QFrame):
    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.setObjectName("filtersBar")
        self._bounds: tuple[int, int] | None = None
        self._rendering = False

        self.tempo = QRangeSlider(Qt.Horizontal)
        self.tempo.setMinimumWidth(90)
        self.tempo.setToolTip("Only references in this tempo range (BPM)")
        self.tempo_label = QLabel("BPM")
        self.tempo_label.setObjectName("hint")
        self.tempo_label.setMinimumWidth(72)
        self.styles = QToolButton()
        self.styles.setText("All styles ▾")
        self.styles.setPopupMode(QToolButton.InstantPopup)
        self.styles.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        self.styles.setToolTip("Only references of the ticked clusters or labels")
        self.styles_menu = QMenu(self.styles)
        self.styles.setMenu(self.styles_menu)
        self.exclude = QLineEdit()
        self.exclude.setPlaceholderText("Hide words…")
        self.exclude.setToolTip(EXCLUDE_TIP)
        self.exclude.setClearButtonEnabled(True)
        self.collapse = QCheckBox("One row per track")
        self.collapse.setToolTip(VERSIONS_TIP)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Show every reference again")
        self.count = QLabel("")
        self.count.setObjectName("hint")

        row1 = QHBoxLayout()
        row1.setContentsMargins(0, 0, 0, 0)
        row1.addWidget(QLabel("Tempo"))
        row1.addWidget(self.tempo, 1)
        row1.addWidget(self.tempo_label)
        row1.addWidget(self.styles)
        row2 = QHBoxLayout()
        row2.setContentsMargins(0, 0, 0, 0)
        row2.addWidget(self.exclude, 1)
        row2.addWidget(self.collapse)
        row2.addWidget(self.count)
        row2.addWidget(self.clear_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 2)
        lay.setSpacing(4)
        lay.addLayout(row1)
        lay.addLayout(row2)

        self._exclude_timer = QTimer(self)
        self._exclude_timer.setSingleShot(True)
        self._exclude_timer.setInterval(250)
        self._exclude_timer.timeout.connect(self._send)
        self.exclude.textChanged.connect(lambda _t: self._exclude_timer.start())
        self.tempo.valueChanged.connect(self._tempo_moved)
        self.tempo.sliderReleased.connect(self._send)
        self._tempo_timer = QTimer(self)
        self._tempo_timer.setSingleShot(True)
        self._tempo_timer.setInterval(120)
        self._tempo_timer.timeout.connect(self._send)
        self.collapse.toggled.connect(lambda _c: self._send())
        self.clear_button.clicked.connect(self.clear)

    # -- AppState -> bar ------------------------------------------------------------------------------
    def model_changed(self) -> None:
        """A library was loaded: its tempo range and styles; clusters it does not have are dropped."""
        finder = self.state.finder
        tracks = finder.tracks if finder is not None else []
        rng = tempo_range(tracks)
        self._rendering = True
        if rng is None:
            self._bounds = None
            self.tempo.setEnabled(False)
        else:
            lo, hi = int(math.floor(rng[0])), int(math.ceil(rng[1]))
            hi = max(hi, lo + 1)
            self._bounds = (lo, hi)
            self.tempo.setEnabled(True)
            self.tempo.setRange(lo, hi)
        self._rendering = False
        f = self.state.filters
        names = set(finder.cluster_names) if finder is not None else set()
        labels = {v for v, _n in facet_values(tracks, "label")}
        pruned = replace(f, clusters=frozenset(c for c in f.clusters if c in names),
                         labels=frozenset(v for v in f.labels if v in labels))
        if pruned != f:
            self.state.set_filters(pruned)
        else:
            self.render()
            self.apply()

    def render(self) -> None:
        f = self.state.filters
        self._rendering = True
        if self._bounds is not None:
            lo, hi = self._bounds
            self.tempo.setValue((max(lo, f.tempo_min) if f.tempo_min is not None else lo,
                                 min(hi, f.tempo_max) if f.tempo_max is not None else hi))
        self._show_tempo()
        words = ", ".join(f.exclude)
        if [w.strip() for w in self.exclude.text().split(",") if w.strip()] != list(f.exclude):
            self.exclude.setText(words)
        self.collapse.setChecked(f.collapse_versions)
        self._fill_styles()
        self._rendering = False

    def _fill_styles(self) -> None:
        finder = self.state.finder
        f = self.state.filters
        self.styles_menu.clear()
        if finder is None:
            return
        counts = dict(facet_values(finder.tracks, "cluster"))
        for name in finder.cluster_names:
            a = QAction(f"{name}  ({counts.get(name, 0)})", self.styles_menu)
            a.setCheckable(True)
            a.setChecked(name in f.clusters)
            a.toggled.connect(lambda on, n=name: self._toggle("clusters", n, on))
            self.styles_menu.addAction(a)
        labels = facet_values(finder.tracks, "label")
        if labels and {v for v, _ in labels} != set(finder.cluster_names):
            self.styles_menu.addSection("Labels")
            for value, n in labels:
                a = QAction(f"{value}  ({n})", self.styles_menu)
                a.setCheckable(True)
                a.setChecked(value in f.labels)
                a.toggled.connect(lambda on, v=value: self._toggle("labels", v, on))
                self.styles_menu.addAction(a)
        chosen = sorted(f.clusters) + sorted(f.labels)
        self.styles.setText(("All styles" if not chosen else chosen[0] if len(chosen) == 1
                             else f"{len(chosen)} styles") + " ▾")

    def apply(self) -> None:
        """Give the table the filter and say how many references it hides."""
        model = self.table.neighbours
        model.set_filter(self.state.filters, self.state.filter_table())
        st = self.state.selected
        if st is not None and model.row_of(st) >= 0:
            self.table.select_position(st)
        self.update_count()

    def update_count(self) -> None:
        hidden = self.table.neighbours.hidden
        self.count.setText(f"{hidden} hidden" if hidden else "")
        self.count.setToolTip("References the filters hide from this list" if hidden else "")
        n = sum(1 for on in self._parts() if on)
        self.toggle.setText(f"Filters ({n})" if n else "Filters")
        self.toggle.setStyleSheet(f"color: {theme.ACCENT};" if n else "")

    def _parts(self):
        f = self.state.filters
        return (f.tempo_min is not None or f.tempo_max is not None, bool(f.clusters or f.labels),
                any(w.strip() for w in f.exclude), f.collapse_versions)

    # -- bar -> AppState ------------------------------------------------------------------------------
    def _tempo_moved(self, _value) -> None:
        self._show_tempo()
        if not self._rendering:
            self._tempo_timer.start()

    def _show_tempo(self) -> None:
        if self._bounds is None:
            self.tempo_label.setText("no tempo")
            return
        lo, hi = self.tempo.value()
        self.tempo_label.setText(f"{int(lo)}–{int(hi)} BPM")

    def _toggle(self, kind: str, value: str, on: bool) -> None:
        if self._rendering:
            return
        f = self.state.filters
        current = set(getattr(f, kind))
        current = current | {value} if on else current - {value}
        self.state.set_filters(replace(f, **{kind: frozenset(current)}))

    def current_filter(self) -> RankFilter:
        f = self.state.filters
        tmin = tmax = None
        if self._bounds is not None:
            lo, hi = (int(v) for v in self.tempo.value())
            tmin = None if lo <= self._bounds[0] else float(lo)
            tmax = None if hi >= self._bounds[1] else float(hi)
        words = tuple(w.strip() for w in self.exclude.text().split(",") if w.strip())
        return replace(f, tempo_min=tmin, tempo_max=tmax, exclude=words, collapse_versions=self.collapse.isChecked())

    def _send(self) -> None:
        if self._rendering:
            return
        f = self.current_filter()
        if f != self.state.filters:
            self.state.set_filters(f)

    def clear(self) -> None:
        self.state.set_filters(RankFilter())

    def only_cluster(self, name: str) -> None:
        """Show only ``name`` (the table's context menu)."""
        self.state.set_filters(replace(self.state.filters, clusters=frozenset({name})))
        self.toggle.setChecked(True)


def _find_layout_with(layout, widget):
    """The layout (``layout`` or one nested in it) that holds ``widget``."""
    if layout.indexOf(widget) >= 0:
        return layout
    for i in range(layout.count()):
        child = layout.itemAt(i).layout()
        if child is not None:
            found = _find_layout_with(child, widget)
            if found is not None:
                return found
    return None


def install(window) -> FiltersBar:
    """Add the bar above the ranked table and a "Filters" toggle beside "Show top"."""
    results = window.results
    table = results.table
    bar = FiltersBar(window.state)
    bar.table = table
    card = table.parentWidget().layout()
    card.insertWidget(card.indexOf(table), bar)
    bar.setVisible(False)
    toggle = QToolButton()
    toggle.setText("Filters")
    toggle.setCheckable(True)
    toggle.setToolTip("Filter the list: tempo range, styles, words to hide, one row per track")
    toggle.toggled.connect(bar.setVisible)
    bar.toggle = toggle
    head = _find_layout_with(card, results.k_spin)
    if head is not None:
        at = head.indexOf(results.k_spin)
        head.insertWidget(max(0, at - 1), toggle)  # before "Show top"
    else:
        card.insertWidget(card.indexOf(bar), toggle)

    def on_state(event: str, _payload) -> None:
        if getattr(window, "_closing", False):
            return
        if event == "model" and window.state.model_status == "ready":
            bar.model_changed()
        elif event in ("filters", "clusters"):
            bar.render()
            bar.apply()
        elif event == "wip":  # the table keeps the filter through a new ranking: only the count changes
            bar.update_count()

    window.state.subscribe(on_state)
    return bar
