"""The references card: heading, "Show top" box, the ranked table and the WIP's tags. Renders AppState
(the library, the WIP's ranking, the selection); it keeps no copy of them."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout

from trance_finder import settings
from trance_finder.gui import theme
from trance_finder.gui.results import NeighbourTable
from trance_finder.gui.widgets import card, chips


class ResultsPanel(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        frame, rl = card()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(frame)
        head = self.head = QHBoxLayout()
        self.title = QLabel("References")
        self.title.setObjectName("heading")
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(QLabel("Show top"))
        self.k_spin = QSpinBox()
        self.k_spin.setRange(*settings.RESULTS_RANGE)
        self.k_spin.setValue(settings.RESULTS_LIMIT)
        self.k_spin.setToolTip("How many of the closest references the list shows")
        head.addWidget(self.k_spin)
        rl.addLayout(head)
        self.table = NeighbourTable()
        self.table.setMinimumHeight(90)
        rl.addWidget(self.table, 1)
        self.tags = QLabel()
        self.tags.setTextFormat(Qt.RichText)
        self.tags.setWordWrap(True)
        self.tags.setVisible(False)
        rl.addWidget(self.tags)

    #: below this width the heading's control captions ("Rank by", "Show top") step aside so the title
    #: stays whole; the controls keep their tooltips
    NARROW_WIDTH = 640

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        narrow = self.width() < self.NARROW_WIDTH
        for i in range(self.head.count()):
            w = self.head.itemAt(i).widget()
            if isinstance(w, QLabel) and w is not self.title:
                w.setVisible(not narrow)

    def render_library(self, finder) -> None:
        if finder is None:
            return
        self.table.neighbours.set_library(finder.tracks, finder.cluster_names)
        self.title.setText(f"References ({len(finder.tracks)})")

    def render_wip(self, state) -> None:
        wip, finder = state.wip, state.finder
        if finder is None:
            return
        if wip.outcome is None:
            if self.table.neighbours.ranked:
                self.table.neighbours.show_browse()
            self.title.setText(f"References ({len(finder.tracks)})" + (
                f" · analysing {wip.name}…" if wip.status in ("analysing", "waiting") else ""))
        else:
            out = wip.outcome
            self.table.neighbours.set_ranking(out.ranking.order, out.ranking.similarity)
            self.title.setText("Closest references")
        self.render_tags(state)

    def render_tags(self, state) -> None:
        out = state.wip.outcome
        if out is None or not out.top_tags:
            self.tags.setVisible(False)
            return
        wip_tags = [name for name, _ in out.top_tags[:4]]
        text = f"<span style='color:{theme.MUTED}'>WIP tags</span>&nbsp; {chips(wip_tags, theme.ACCENT)}"
        if state.selected is not None and state.finder is not None:
            rec = state.finder.tracks[state.selected]
            ref_tags = [t[0] for t in rec.get("tags", [])]
            wip_set = {name for name, _ in out.top_tags}
            shared = [t for t in ref_tags if t in wip_set][:4]
            title = html.escape(rec.get("title", ""))
            text += (f"<br><span style='color:{theme.MUTED}'>Shared with {title}</span>&nbsp; "
                     + (chips(shared, theme.ACCENT_2) if shared else f"<span style='color:{theme.MUTED}'>none of "
                        "the top tags</span>"))
        self.tags.setText(text)
        self.tags.setVisible(True)
