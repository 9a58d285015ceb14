"""A library that lives, in the window: "Rescan" in the Library & training panel, a rescan on start and
one when the reference folder changes (``QFileSystemWatcher`` on the folder and its sub-folders,
debounced: a copy of 30 files is one rescan, started once the folder has been quiet for a moment).

A rescan is an AppState intent (``state.rescan``): scan + ``update_index`` with the current model in a
worker; the updated index opens without a restart and the row says "3 new, 1 removed, retrain
suggested". Only a library trained in this app (or given on the command line) is rescanned: the demo's
files ship with the app. Nothing is rescanned while training runs (the new model brings a new index).
"""

from __future__ import annotations

import os

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton

from trance_finder.gui import theme

DEBOUNCE_MS = 2500  # the folder must be quiet this long before a watch rescan starts
MAX_WATCHED = 2000  # folders (a watch per folder); beyond it only Rescan and start-up scans


def sub_folders(root: str, limit: int = MAX_WATCHED) -> list[str]:
    out = []
    for dirpath, dirnames, _files in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        out.append(dirpath)
        if len(out) >= limit:
            break
    return out


class LibraryWatch(QObject):
    def __init__(self, window, debounce_ms: int = DEBOUNCE_MS):
        super().__init__(window)
        self.window = window
        self.state = window.state
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._changed)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(debounce_ms)
        self.timer.timeout.connect(lambda: self.rescan("watch"))
        self.watched_root: str | None = None
        self.button: QPushButton | None = None
        self.label: QLabel | None = None
        self._scanned_on_start: set[str] = set()
        self.watch_events = 0
        self.state.subscribe(self._on_state)

    # -- the panel's row ------------------------------------------------------------------------------
    def attach_panel(self, panel) -> None:
        """Add "Rescan" and its sentence to the panel's Reference library box."""
        if self.button is not None:
            return
        self.button = QPushButton("Rescan")
        self.button.setToolTip("Add new files, drop removed ones and follow moved ones without retraining "
                               "(also done on start and when the folder changes)")
        self.button.clicked.connect(lambda: self.rescan("manual"))
        self.label = QLabel("")
        self.label.setObjectName("hint")
        self.label.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.button)
        row.addWidget(self.label, 1)
        form = panel.lib_box.layout()
        form.addRow("Library", row)
        self.render()

    def render(self) -> None:
        if self.button is None:
            return
        lib = self.state.library
        loaded = self.state.loaded
        usable = loaded is not None and loaded.kind != "demo" and self.state.model_status == "ready"
        self.button.setEnabled(usable and not lib.busy)
        self.button.setText("Scanning…" if lib.busy else "Rescan")
        if not usable and loaded is not None and loaded.kind == "demo":
            from trance_finder.app_library import DEMO_FIXED

            text, colour = DEMO_FIXED, theme.MUTED
        else:
            text = lib.sentence
            if lib.state == "done" and loaded is not None:
                text = f"{text[:1].upper()}{text[1:]} · {len(loaded.finder.tracks)} references indexed"
            colour = theme.BAD if lib.state == "failed" else theme.ACCENT_2 if lib.retrain_suggested else theme.MUTED
        self.label.setText(text)
        self.label.setStyleSheet(f"color: {colour};")
        self.label.setToolTip(loaded.references if loaded is not None and loaded.references else "")

    # -- rescans --------------------------------------------------------------------------------------
    def training_running(self) -> bool:
        panel = getattr(self.window, "_training", None)
        return panel is not None and panel.running

    def rescan(self, reason: str = "manual") -> bool:
        if getattr(self.window, "_closing", False):
            return False
        if self.training_running():
            if reason == "manual":
                self.window._status("Training is running: its new index will include the folder as it is.")
            return False
        started = self.state.rescan(reason)
        if not started and reason == "manual" and self.state.library.sentence:
            self.window._status(self.state.library.sentence, error=self.state.library.state == "failed")
        return started

    def _changed(self, _path: str) -> None:
        self.watch_events += 1
        self.timer.start()  # restarts: one rescan once the folder is quiet

    def watch(self, root: str | None) -> None:
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        self.watched_root = root
        if root and os.path.isdir(root):
            self.watcher.addPaths(sub_folders(root))

    # -- AppState -------------------------------------------------------------------------------------
    def _on_state(self, event: str, payload) -> None:
        if getattr(self.window, "_closing", False):
            return
        if event == "model":
            loaded = self.state.loaded
            if self.state.model_status != "ready" or loaded is None:
                self.render()
                return
            root = loaded.references if loaded.kind != "demo" else None
            self.watch(root)  # again after a rescan: new sub-folders are watched too
            if root and loaded.model_path not in self._scanned_on_start:
                self._scanned_on_start.add(loaded.model_path)
                QTimer.singleShot(0, self, lambda: self.rescan("start"))
            self.render()
        elif event == "library":
            self.render()
            lib = payload
            if lib is not None and lib.state == "done" and (lib.diff is not None and not lib.diff.is_empty
                                                             or lib.retrain_suggested):
                self.window._status(f"Library: {lib.sentence}", timeout=12000)
            elif lib is not None and lib.state == "failed":
                self.window._status(lib.sentence, error=True)

    def shutdown(self) -> None:
        self.timer.stop()
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())


def install(window) -> LibraryWatch:
    return LibraryWatch(window)
