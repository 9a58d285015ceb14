"""Rename a cluster where a producer sees it: click a name in the map legend, or double-click (or
right-click) the Cluster column of the ranked list; a line edit opens over it, Enter keeps the name,
Esc cancels. The rename is an AppState intent (``state.rename_cluster``): shown everywhere at once
(table, legend, map tips, the WIP's predicted cluster, Explore's anchors and walk target, filters),
then saved through the core API, so it survives a reload and a retrain.

``install(window)`` wires the table, the legend and the views; nothing else in the window changes."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt
from PySide6.QtWidgets import QLineEdit, QMenu, QWidget

from trance_finder.gui import theme
from trance_finder.gui.results import COL_CLUSTER

LEGEND_TIP = "Click a cluster's name to rename it"


class NameEditor(QLineEdit):
    """A one-line editor laid over a name: Enter (or leaving it) commits, Esc cancels."""

    def __init__(self, parent: QWidget, rect: QRect, old: str, on_commit: Callable[[str, str], object]):
        super().__init__(parent)
        self.old = old
        self.on_commit = on_commit
        self._done = False
        self.setText(old)
        self.setObjectName("nameEditor")
        self.setToolTip("Type the cluster's new name; Enter keeps it, Esc cancels")
        self.setStyleSheet(f"QLineEdit#nameEditor {{ border: 2px solid {theme.ACCENT}; }}")
        r = QRect(rect)
        r.setWidth(max(140, r.width()))  # a narrow Cluster column still gets a usable editor
        self.setGeometry(r)
        self.returnPressed.connect(self.commit)
        self.show()
        self.setFocus(Qt.OtherFocusReason)
        self.selectAll()

    def commit(self) -> None:
        if self._done:
            return
        self._done = True
        new = self.text()
        self.hide()
        self.deleteLater()
        if new.strip() and new.strip() != self.old:
            self.on_commit(self.old, new)

    def cancel(self) -> None:
        if self._done:
            return
        self._done = True
        self.hide()
        self.deleteLater()

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key_Escape:
            self.cancel()
            event.accept()
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event) -> None:  # noqa: N802
        super().focusOutEvent(event)
        self.commit()


def legend_with_links(names, counts) -> str:
    """The map view's legend with every cluster name a link (``cluster:i``) that opens the editor."""
    from trance_finder.gui.map_view import legend_html

    text = legend_html(names, counts)
    for i, c in enumerate(names):
        esc = html.escape(c).replace(" ", "&nbsp;").replace("-", "&#8209;")
        old = f"&#9679;</span>&nbsp;{esc}&nbsp;"
        link = (f"&#9679;</span>&nbsp;<a href='cluster:{i}' style='color:{theme.TEXT}; text-decoration:none'>"
                f"{esc}</a>&nbsp;")
        if old in text:
            text = text.replace(old, link, 1)
    return text


class ClusterRename(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.state = window.state
        self.editor: NameEditor | None = None
        table = window.table
        table.viewport().installEventFilter(self)
        table.setContextMenuPolicy(Qt.CustomContextMenu)
        table.customContextMenuRequested.connect(self._table_menu)
        legend = window.map.legend
        legend.setTextInteractionFlags(Qt.LinksAccessibleByMouse)
        legend.setOpenExternalLinks(False)
        legend.linkActivated.connect(self._legend_link)
        legend.setContextMenuPolicy(Qt.CustomContextMenu)
        legend.customContextMenuRequested.connect(self._legend_menu)
        legend.setToolTip(LEGEND_TIP)
        self.state.subscribe(self._on_state)

    # -- where a rename starts ------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if event.type() == QEvent.MouseButtonDblClick and obj is self.window.table.viewport():
            index = self.window.table.indexAt(event.position().toPoint())
            if index.isValid() and index.column() == COL_CLUSTER:
                self.edit_table_cell(index.row())
                return True  # not a double-click on the row (that plays the reference)
        return False

    def edit_table_cell(self, row: int) -> NameEditor | None:
        table = self.window.table
        pos = table.neighbours.position_at(row)
        if pos is None:
            return None
        name = self.state.track(pos).get("cluster", "")
        rect = table.visualRect(table.neighbours.index(row, COL_CLUSTER))
        return self.edit(table.viewport(), rect, name)

    def edit_legend(self, name: str) -> NameEditor | None:
        legend = self.window.map.legend
        parent = legend.parentWidget()
        top_left = legend.mapTo(parent, QPoint(0, 0))
        rect = QRect(top_left, legend.size())
        rect.setHeight(min(rect.height(), 28))
        rect.setWidth(min(rect.width(), 260))
        return self.edit(parent, rect, name)

    def edit(self, parent: QWidget, rect: QRect, name: str) -> NameEditor | None:
        if not name:
            return None
        if not self.state.can_rename:
            from trance_finder.app_library import DEMO_NAMES_FIXED

            self.window._status(DEMO_NAMES_FIXED)
            return None
        if self.editor is not None:
            self.editor.cancel()
        self.editor = NameEditor(parent, rect, name, self.rename)
        self.editor.destroyed.connect(lambda *_: setattr(self, "editor", None))
        return self.editor

    def rename(self, old: str, new: str) -> str | None:
        shown = self.state.rename_cluster(old, new)
        if shown:
            self.window._status(f"Cluster “{old}” is now called “{shown}” (saved with your library).")
        return shown

    def _legend_link(self, href: str) -> None:
        if not href.startswith("cluster:"):
            return
        names = self.state.finder.cluster_names if self.state.finder is not None else []
        i = int(href.split(":", 1)[1])
        if 0 <= i < len(names):
            self.edit_legend(names[i])

    def _legend_menu(self, point) -> None:
        finder = self.state.finder
        if finder is None or not finder.cluster_names:
            return
        menu = QMenu(self.window.map.legend)
        for name in finder.cluster_names:
            menu.addAction(f"Rename “{name}”…", lambda n=name: self.edit_legend(n))
        menu.exec(self.window.map.legend.mapToGlobal(point))

    def _table_menu(self, point) -> None:
        table = self.window.table
        index = table.indexAt(point)
        pos = table.neighbours.position_at(index.row()) if index.isValid() else None
        if pos is None:
            return
        name = self.state.track(pos).get("cluster", "")
        menu = QMenu(table)
        menu.addAction("Play", lambda: self.window.play_reference(pos))
        if name:
            menu.addAction(f"Rename cluster “{name}”…", lambda: self.edit_table_cell(table.neighbours.row_of(pos)))
            bar = getattr(self.window, "filters_bar", None)
            if bar is not None:
                menu.addAction(f"Show only “{name}”", lambda: bar.only_cluster(name))
        menu.exec(table.viewport().mapToGlobal(point))

    # -- shown everywhere at once ---------------------------------------------------------------------
    def _on_state(self, event: str, payload) -> None:
        if getattr(self.window, "_closing", False):
            return
        if event == "model" and self.state.model_status == "ready":
            self.render_legend()
            tip = "" if self.state.can_rename else "The demo library's cluster names are fixed"
            self.window.table.neighbours.cluster_tip = "Double-click (or right-click) to rename this cluster" \
                if self.state.can_rename else ""
            self.window.map.legend.setToolTip(LEGEND_TIP if self.state.can_rename else tip)
        elif event == "clusters":
            self.renamed(*payload)

    def render_legend(self) -> None:
        finder = self.state.finder
        if finder is None:
            return
        counts: dict[str, int] = {}
        for t in finder.tracks:
            counts[t.get("cluster", "")] = counts.get(t.get("cluster", ""), 0) + 1
        self.window.map.cluster_names = list(finder.cluster_names)
        self.window.map.legend.setText(legend_with_links(finder.cluster_names, counts))

    def renamed(self, old: str, new: str) -> None:
        w = self.window
        w.table.neighbours.rename_cluster(old, new)
        self.render_legend()
        w.header.render(self.state.wip, self.state.finder is not None)
        interp = w.interp
        for r in interp.rows:
            keep = r.anchor()
            if keep == ("cluster", old):
                keep = ("cluster", new)
            interp._fill_combo(r.combo, keep)
        i = interp.target.findData(old)
        if i >= 0:
            interp.target.setItemText(i, new)
            interp.target.setItemData(i, new)
        blend = self.state.blend
        if blend is not None:
            interp.render_blend(blend)
        refill = getattr(getattr(w, "structure", None), "_refill_targets", None)
        if refill is not None:  # the Compare tab's cluster / label targets
            refill()


def install(window) -> ClusterRename:
    return ClusterRename(window)
