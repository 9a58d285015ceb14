"""The main window: query header and waveforms, ranked neighbours, A/B transport, the map, the
interpolation panel and the library & training dock. Every file or numeric job runs in a worker
(``tasks`` + ``workers``); this module only wires results into widgets."""

from __future__ import annotations

import html
import logging
import math
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from trance_finder import paths as app_paths
from trance_finder.core.audio import AUDIO_EXTENSIONS, TARGET_LUFS, is_audio_file
from trance_finder.gui import tasks, theme
from trance_finder.gui.interpolation import InterpolationPanel
from trance_finder.gui.map_view import MapView
from trance_finder.gui.results import NeighbourTable, fmt_duration
from trance_finder.gui.training_panel import TrainingPanel
from trance_finder.gui.waveform import WaveformView, fmt_time
from trance_finder.gui.widgets import ElidedLabel
from trance_finder.gui.workers import JobRunner, LatestOnly

log = logging.getLogger("trance_finder.gui")

DEFAULT_SIZE = (1400, 900)
REF_CACHE = 6
NO_AUDIO_TIP = "No audio output device was found, so playback is off. Everything else works."
DROP_HINT = "Drop your WIP here"
DROP_SUB = "Drag a bounce onto the window, or File › Open… (Ctrl+O)"
FILE_FILTER = "Audio (" + " ".join(f"*{e}" for e in AUDIO_EXTENSIONS) + ")"


def card(title: str | None = None) -> tuple[QFrame, QVBoxLayout]:
    frame = QFrame()
    frame.setObjectName("card")
    lay = QVBoxLayout(frame)
    lay.setContentsMargins(12, 10, 12, 10)
    lay.setSpacing(6)
    if title:
        label = QLabel(title)
        label.setObjectName("heading")
        lay.addWidget(label)
    return frame, lay


def stat(name: str) -> tuple[QWidget, QLabel]:
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(0)
    caption = QLabel(name)
    caption.setObjectName("statname")
    value = QLabel("—")
    value.setObjectName("stat")
    lay.addWidget(caption)
    lay.addWidget(value)
    return w, value


def chips(items, colour: str) -> str:
    if not items:
        return ""
    style = (f"background-color:{colour}22; color:{colour}; border:1px solid {colour}66; "
             "border-radius:8px; padding:1px 6px;")
    return " ".join(f"<span style='{style}'>&nbsp;{html.escape(str(t))}&nbsp;</span>" for t in items)


def fmt_gain(db: float) -> str:
    return f"{db:+.1f} dB"


def fmt_lufs(lufs) -> str:
    return "—" if lufs is None or not math.isfinite(float(lufs)) else f"{float(lufs):.1f} LUFS"


class Banner(QFrame):
    """The strip under the menu: first-start guidance, demo build progress, or an error."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.RichText)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(260)
        self.bar.setVisible(False)
        self.own_button = QPushButton("Use my own references…")
        self.own_button.setObjectName("primary")
        self.demo_wip_button = QPushButton("Try the demo WIP")
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Hide this message")
        self.close_button.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 8, 8, 8)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.bar)
        lay.addWidget(self.demo_wip_button)
        lay.addWidget(self.own_button)
        lay.addWidget(self.close_button)

    def show_message(self, text: str, error: bool = False, progress: bool = False, demo_button: bool = False,
                     own_button: bool = True) -> None:
        self.setObjectName("error" if error else "banner")
        self.style().unpolish(self)
        self.style().polish(self)
        self.text.setText(text)
        self.bar.setVisible(progress)
        self.demo_wip_button.setVisible(demo_button)
        self.own_button.setVisible(own_button)
        self.setVisible(True)


class DropOverlay(QLabel):
    def __init__(self, parent):
        super().__init__(parent)
        self.setAlignment(Qt.AlignCenter)
        self.setText(f"<div style='font-size:20pt; font-weight:600'>Drop to analyse</div>"
                     f"<div style='color:{theme.MUTED}'>wav · flac · aiff · mp3 · ogg</div>")
        self.setStyleSheet(f"background: rgba(39, 196, 217, 40); border: 3px dashed {theme.ACCENT}; "
                           "border-radius: 16px;")
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.hide()


class MainWindow(QMainWindow):
    modelLoaded = Signal(object)  # noqa: N815 - tasks.LoadedModel
    modelFailed = Signal(str)  # noqa: N815
    queryStarted = Signal(str)  # noqa: N815
    queryFinished = Signal(object)  # noqa: N815 - tasks.QueryOutcome
    queryFailed = Signal(str)  # noqa: N815
    wipDecoded = Signal(object)  # noqa: N815 - tasks.PlaybackAudio
    referenceDecoded = Signal(object)  # noqa: N815

    def __init__(self, model_path=None, index_path=None, use_demo: bool = True, player="auto",
                 settings: QSettings | None = None, demo_features: str | None = None, autostart: bool = True):
        super().__init__()
        self.setWindowTitle("Trance Finder")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings(str(app_paths.settings_file()), QSettings.IniFormat)
        self.model_path, self.index_path, self.use_demo = model_path, index_path, use_demo
        self.demo_features = demo_features
        self.runner = JobRunner(self)
        self.loaded: tasks.LoadedModel | None = None
        self.query_path: str | None = None
        self.pending_query: str | None = None
        self.query_outcome: tasks.QueryOutcome | None = None
        self.query_seq = 0
        self.model_seq = 0  # bumped by every startup job and trained model: stale results are ignored
        self._model_job = None
        self.wip_audio: tasks.PlaybackAudio | None = None
        self.ref_audio: tasks.PlaybackAudio | None = None
        self.ref_cache: OrderedDict[str, tasks.PlaybackAudio] = OrderedDict()
        self.selected_position: int | None = None
        self._play_when_decoded: str | None = None
        self._closing = False
        self.player, self.player_reason = self._make_player(player)
        self.ref_loader = LatestOnly("decode-reference", self)
        self.ref_loader.result.connect(self._reference_decoded)
        self.ref_loader.failed.connect(self._reference_failed)

        self._build_ui()
        self._build_menus()
        self._restore_settings()
        self._update_transport()
        self.playhead_timer = QTimer(self)
        self.playhead_timer.setInterval(33)
        self.playhead_timer.timeout.connect(self._tick)
        if self.player is not None:
            self.playhead_timer.start()
        self.runner.start(lambda cancel: tasks.environment_info(), "environment",
                          on_finished=self.training.set_environment)
        if autostart:
            self.start_model()

    # ================================================================== construction
    def _make_player(self, player):
        if player != "auto":
            return player, "" if player is not None else NO_AUDIO_TIP
        from trance_finder.playback.player import PlaybackUnavailable, Player

        try:
            return Player(), ""
        except PlaybackUnavailable as exc:
            log.info("playback disabled: %s", exc)
            return None, f"{NO_AUDIO_TIP}\n({exc})"

    def _build_ui(self) -> None:
        self.banner = Banner()
        self.banner.own_button.clicked.connect(self.show_training)
        self.banner.demo_wip_button.clicked.connect(self.try_demo_wip)
        self.banner.hide()

        # -- query card
        qcard, ql = card()
        self.query_card = qcard
        head = QHBoxLayout()
        titles = QVBoxLayout()
        self.query_title = ElidedLabel(DROP_HINT, Qt.ElideRight)
        self.query_title.setObjectName("title")
        self.query_sub = ElidedLabel(DROP_SUB, Qt.ElideMiddle)
        self.query_sub.setObjectName("muted")
        titles.addWidget(self.query_title)
        titles.addWidget(self.query_sub)
        head.addLayout(titles, 1)
        self.stats = {}
        for key, name in (("duration", "Length"), ("lufs", "Loudness"), ("tempo", "Tempo")):
            w, value = stat(name)
            self.stats[key] = value
            head.addWidget(w)
            head.addSpacing(14)
        self.open_button = QPushButton("Open WIP…")
        self.open_button.clicked.connect(self.choose_query)
        head.addWidget(self.open_button)
        ql.addLayout(head)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumHeight(6)
        self.busy.setTextVisible(False)
        self.busy.setVisible(False)
        ql.addWidget(self.busy)
        cl = QHBoxLayout()
        self.cluster_caption = QLabel("Predicted cluster")
        self.cluster_caption.setObjectName("muted")
        self.cluster_label = QLabel("—")
        self.cluster_label.setObjectName("cluster")
        self.confidence = QProgressBar()
        self.confidence.setRange(0, 100)
        self.confidence.setValue(0)
        self.confidence.setFormat("%p% confidence")
        self.confidence.setFixedWidth(190)
        self.confidence.setVisible(False)
        cl.addWidget(self.cluster_caption)
        cl.addWidget(self.cluster_label)
        cl.addStretch(1)
        cl.addWidget(self.confidence)
        ql.addLayout(cl)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {theme.BAD};")
        self.error_label.setVisible(False)
        ql.addWidget(self.error_label)

        # -- waveforms and transport
        self.wave_a = WaveformView("A", theme.ACCENT, "Your WIP's waveform appears here")
        self.wave_b = WaveformView("B", theme.ACCENT_2, "Select a reference (arrows, Space plays) to compare")
        self.wave_a.seekRequested.connect(lambda f: self.seek("A", f))
        self.wave_b.seekRequested.connect(lambda f: self.seek("B", f))
        self.play_wip_button = QPushButton("▶  WIP")
        self.play_wip_button.setToolTip("Play / pause your WIP (W)")
        self.play_wip_button.clicked.connect(lambda: self.play_slot("A"))
        self.play_ref_button = QPushButton("▶  Reference")
        self.play_ref_button.setToolTip("Play / pause the selected reference (Space in the table)")
        self.play_ref_button.clicked.connect(lambda: self.play_slot("B"))
        self.ab_button = QPushButton("A / B")
        self.ab_button.setObjectName("primary")
        self.ab_button.setToolTip("Switch between WIP and reference at the same point in the song (B)")
        self.ab_button.clicked.connect(self.toggle_ab)
        self.stop_button = QPushButton("■")
        self.stop_button.setToolTip("Stop (S)")
        self.stop_button.clicked.connect(self.stop)
        self.gain_label = QLabel("Loudness-matched")
        self.gain_label.setObjectName("muted")
        self.time_label = QLabel("")
        self.time_label.setObjectName("muted")
        self.time_label.setVisible(self.player is not None)
        transport = QHBoxLayout()
        for b in (self.play_wip_button, self.play_ref_button, self.ab_button, self.stop_button):
            transport.addWidget(b)
        transport.addSpacing(10)
        transport.addWidget(self.gain_label, 1)
        transport.addWidget(self.time_label)
        wcard, wl = card()
        wl.addWidget(self.wave_a)
        wl.addWidget(self.wave_b)
        wl.addLayout(transport)

        # -- results
        rcard, rl = card()
        rhead = QHBoxLayout()
        self.results_title = QLabel("References")
        self.results_title.setObjectName("heading")
        rhead.addWidget(self.results_title)
        rhead.addStretch(1)
        rhead.addWidget(QLabel("Show top"))
        self.k_spin = QSpinBox()
        self.k_spin.setRange(3, 200)
        self.k_spin.setValue(10)
        self.k_spin.valueChanged.connect(self._limit_changed)
        rhead.addWidget(self.k_spin)
        rl.addLayout(rhead)
        self.table = NeighbourTable()
        self.table.positionSelected.connect(self._reference_selected)
        self.table.playRequested.connect(self.play_reference)
        rl.addWidget(self.table, 1)
        self.tags_label = QLabel()
        self.tags_label.setTextFormat(Qt.RichText)
        self.tags_label.setWordWrap(True)
        self.tags_label.setVisible(False)
        rl.addWidget(self.tags_label)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.setSpacing(8)
        lv.addWidget(qcard)
        lv.addWidget(wcard)
        lv.addWidget(rcard, 1)

        # -- map and interpolation
        mcard, ml = card("Map")
        self.map = MapView()
        self.map.pointClicked.connect(self.select_reference)
        self.map.auditionRequested.connect(self.play_reference)
        self.map.plot_widget.setAcceptDrops(False)
        self.map.plot_widget.viewport().setAcceptDrops(False)
        ml.addWidget(self.map, 1)
        icard, il = card("Explore between")
        self.interp = InterpolationPanel()
        self.interp.layout().setContentsMargins(0, 0, 0, 0)
        self.interp.blendChanged.connect(lambda o: self.map.set_blend(None if o is None else o.xy))
        self.interp.referenceActivated.connect(self.select_reference)
        self.interp.referencePlay.connect(self.play_reference)
        self.interp.failed.connect(lambda m: self._status(m, error=True))
        il.addWidget(self.interp, 1)
        self.right_split = QSplitter(Qt.Vertical)
        self.right_split.setObjectName("rightSplit")
        self.right_split.addWidget(mcard)
        self.right_split.addWidget(icard)
        self.right_split.setStretchFactor(0, 5)
        self.right_split.setStretchFactor(1, 4)
        self.right_split.setSizes([470, 390])
        self.right_split.setChildrenCollapsible(False)

        self.main_split = QSplitter(Qt.Horizontal)
        self.main_split.setObjectName("mainSplit")
        self.main_split.addWidget(left)
        self.main_split.addWidget(self.right_split)
        self.main_split.setStretchFactor(0, 11)
        self.main_split.setStretchFactor(1, 9)
        self.main_split.setChildrenCollapsible(False)
        self.main_split.setSizes([770, 610])

        central = QWidget()
        cv = QVBoxLayout(central)
        cv.setContentsMargins(10, 8, 10, 6)
        cv.setSpacing(8)
        cv.addWidget(self.banner)
        cv.addWidget(self.main_split, 1)
        self.setCentralWidget(central)

        # -- training dock
        self.training = TrainingPanel()
        self.training.modelTrained.connect(self._model_trained)
        self.training.trainingFailed.connect(lambda m: self._status(f"Training failed: {m}", error=True))
        self.training.trainingCancelled.connect(
            lambda: self._status("Training cancelled; the previous model is still in use."))
        self.training.progress.connect(self._training_progress)
        self.dock = QDockWidget("Library && training", self)
        self.dock.setObjectName("trainingDock")
        self.dock.setWidget(self.training)
        self.dock.setFeatures(QDockWidget.DockWidgetClosable | QDockWidget.DockWidgetMovable
                              | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self.dock.hide()

        # -- status bar
        self.model_label = QLabel("No model loaded")
        self.model_label.setObjectName("muted")
        self.statusBar().addPermanentWidget(self.model_label)
        self.overlay = DropOverlay(central)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        self.open_action = self._action(m, "&Open WIP…", self.choose_query, QKeySequence.Open)
        self._action(m, "Try the &demo WIP", self.try_demo_wip)
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.Quit)
        m = mb.addMenu("&Library")
        self._action(m, "Choose &reference folder…", self.choose_reference_folder)
        self._action(m, "&Train / settings…", self.show_training, "Ctrl+T")
        self.demo_action = self._action(m, "Use the &demo library", self.use_demo_library)
        m = mb.addMenu("&Playback")
        self.play_wip_action = self._action(m, "Play / pause &WIP", lambda: self.play_slot("A"), "W")
        self.play_ref_action = self._action(m, "Play / pause &reference", lambda: self.play_slot("B"), "R")
        self.ab_action = self._action(m, "&A/B switch", self.toggle_ab, "B")
        self.stop_action = self._action(m, "&Stop", self.stop, "S")
        m = mb.addMenu("&View")
        m.addAction(self.dock.toggleViewAction())
        self._action(m, "&Fit map", self.map.fit)
        self._action(m, "&Reset layout", self.reset_layout)
        m = mb.addMenu("&Help")
        self._action(m, "Open the &log folder", self.open_log_folder)
        self._action(m, "&About", self.about)

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(lambda _checked=False: slot())
        menu.addAction(a)
        return a

    # ================================================================== settings
    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(*DEFAULT_SIZE)
        state = s.value("window/state")
        if state is not None:
            self.restoreState(state)
        for key, split in (("window/mainSplit", self.main_split), ("window/rightSplit", self.right_split)):
            value = s.value(key)
            if value is not None:
                split.restoreState(value)
        header = s.value("window/tableHeader")
        if header is not None:
            self.table.horizontalHeader().restoreState(header)
        k = s.value("results/limit")
        if k is not None:
            self.k_spin.setValue(int(k))
        self.map.play_on_click.setChecked(str(s.value("map/playOnClick", "false")).lower() == "true")
        self.training.load_settings(s)

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/mainSplit", self.main_split.saveState())
        s.setValue("window/rightSplit", self.right_split.saveState())
        s.setValue("window/tableHeader", self.table.horizontalHeader().saveState())
        s.setValue("results/limit", self.k_spin.value())
        s.setValue("map/playOnClick", self.map.play_on_click.isChecked())
        self.training.save_settings(s)
        s.sync()

    def reset_layout(self) -> None:
        self.resize(*DEFAULT_SIZE)
        self.main_split.setSizes([770, 610])
        self.right_split.setSizes([520, 340])
        self.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self.dock.setFloating(False)

    # ================================================================== model
    @property
    def finder(self):
        return None if self.loaded is None else self.loaded.finder

    def start_model(self, prefer_user_model: bool = True) -> None:
        # queries run where training would, except that a saved "cuda" never stops the app from opening
        device = "cpu" if self.training.values()["device"] == "cpu" else "auto"
        mp, ip, demo, feats = self.model_path, self.index_path, self.use_demo, self.demo_features
        self.banner.show_message("Opening the model…", progress=True, own_button=False)
        self.banner.bar.setRange(0, 0)
        self.map.set_placeholder("Opening the reference library…")
        self.table.set_empty_text("Opening the reference library…")
        self._cancel_model_job()
        self.model_seq += 1
        seq = self.model_seq
        self._model_job = self.runner.start(
            lambda cancel: tasks.startup(mp, ip, demo, prefer_user_model, device, feats, cancel), "startup",
            on_progress=lambda p: self._startup_progress(seq, p), on_finished=lambda m: self._model_ready(seq, m),
            on_failed=lambda m: self._model_failed(seq, m))

    def _cancel_model_job(self) -> None:
        if self._model_job is not None:
            self._model_job.cancel()  # a newer model wins: its result would be ignored anyway
            self._model_job = None

    def use_demo_library(self) -> None:
        self.model_path = self.index_path = None
        self.use_demo = True
        self.start_model(prefer_user_model=False)

    def _startup_progress(self, seq: int, p) -> None:
        if seq != self.model_seq:
            return
        if p.stage in ("synth", "extract", "train", "evaluate") and p.total:
            what = {"synth": "Rendering the demo tracks", "extract": "Analysing the demo tracks",
                    "train": "Training the demo model", "evaluate": "Evaluating the demo model"}[p.stage]
            self.banner.show_message(
                f"<b>First start:</b> building the built-in demo library (synthetic trance, once; a few "
                f"minutes). {what}: {p.done} / {p.total}.<br>You can already point the app at your own "
                "references.", progress=True)
            self.banner.bar.setRange(0, p.total)
            self.banner.bar.setValue(p.done)
            self.model_label.setText("Building the demo library…")
            wait = "The demo library is being built; its references appear here when it is ready."
            self.map.set_placeholder(wait)
            self.table.set_empty_text(wait)
        elif p.message:
            self.banner.text.setText(html.escape(p.message))
        if p.info.get("warning"):
            self._status(p.message, error=True)

    def _model_ready(self, seq: int, loaded) -> None:
        if seq != self.model_seq:
            return  # a newer startup job or a trained model replaced this one
        if loaded is None:
            self.banner.show_message(
                "<b>No model yet.</b> Choose a folder of your reference tracks and train (Library › Train), "
                "or open the built-in demo library (Library › Use the demo library).")
            self.model_label.setText("No model loaded")
            none = "No reference library yet: choose your reference folder and train (Library › Train)."
            self.map.set_placeholder(none)
            self.table.set_empty_text(none)
            return
        self.set_model(loaded)

    def _model_failed(self, seq: int, message: str) -> None:
        if seq != self.model_seq:
            return
        self.banner.show_message(f"<b>Could not open a model:</b> {html.escape(message)}<br>Choose a folder of "
                                 "your reference tracks and train (Library › Train).", error=True)
        self._status(message, error=True)
        none = "No reference library loaded."
        self.map.set_placeholder(none)
        self.table.set_empty_text(none)
        self.modelFailed.emit(message)

    def set_model(self, loaded: tasks.LoadedModel) -> None:
        """Swap in a loaded model (UI work only: the Finder was built in a worker)."""
        self.loaded = loaded
        finder = loaded.finder
        self.ref_cache.clear()
        self.selected_position = None
        self.table.neighbours.set_library(finder.tracks, finder.cluster_names)
        self.results_title.setText(f"References ({len(finder.tracks)})")
        self.map.set_library(finder.tracks, finder.cluster_names)
        self.interp.set_finder(finder)
        self.interp.set_wip(None)
        if self.player is not None:
            self.player.clear("B")
        self.wave_b.clear()
        self.ref_audio = None
        self._play_when_decoded = None
        self._update_transport()
        kind = {"demo": "Demo library", "user": "Your library", "custom": "Model"}.get(loaded.kind, "Model")
        self.model_label.setText(f"{kind} · {len(finder.tracks)} references · {loaded.features}")
        if loaded.kind == "demo":
            self.banner.show_message(
                "<b>You're exploring the built-in demo library</b> (synthetic trance). Drop your WIP on the "
                "window to try it, then point the app at your own reference tracks: "
                "<i>Use my own references…</i> (or Library › Train).", demo_button=bool(loaded.demo_wip))
        else:
            self.banner.hide()
        if loaded.kind == "user":
            self.training.show_evaluation(loaded.evaluation)
        self.modelLoaded.emit(loaded)
        path = self.pending_query or self.query_path
        self.pending_query = None
        if path:
            self._start_query(path)
        else:
            self._reset_query_view()

    def _model_trained(self, outcome) -> None:
        self.model_path = self.index_path = None
        self._cancel_model_job()
        self.model_seq += 1
        self.set_model(outcome.loaded)
        self._status(f"New model in use: {outcome.result.n_tracks} references.")

    def _training_progress(self, p) -> None:
        if p.stage == "extract" and p.total:
            self._status(f"Training: extracting {p.done} / {p.total}", timeout=0)
        elif p.stage == "train" and p.done:
            self._status(f"Training: {p.message}", timeout=0)

    # ================================================================== queries
    def choose_query(self) -> None:
        start = str(Path(self.query_path).parent) if self.query_path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a WIP bounce", start, FILE_FILTER)
        if path:
            self.open_query(path)

    def try_demo_wip(self) -> None:
        if self.loaded is not None and self.loaded.demo_wip:
            self.open_query(self.loaded.demo_wip)
            return
        self._status("Preparing the demo WIP…", timeout=0)
        self.runner.start(lambda cancel: tasks.make_demo_wip(), "demo-wip", on_finished=self.open_query,
                          on_failed=lambda m: self._status(m, error=True))

    def open_query(self, path) -> bool:
        path = str(path)
        if not is_audio_file(path):
            self._show_query_error(f"{Path(path).name} is not an audio file this app reads "
                                   f"({', '.join(e.lstrip('.') for e in AUDIO_EXTENSIONS)}).")
            return False
        self.query_path = path
        if self.finder is None:
            self.pending_query = path
            self.query_title.setText(Path(path).name)
            self.query_sub.setText("Waiting for the model to open; the WIP is analysed right after.")
            self.busy.setVisible(True)
            return True
        self._start_query(path)
        return True

    def _start_query(self, path: str) -> None:
        self.query_seq += 1
        seq, finder, k = self.query_seq, self.finder, max(10, self.k_spin.value())
        self.error_label.setVisible(False)
        self.query_title.setText(Path(path).name)
        self.query_sub.setText("Analysing…")
        self.busy.setVisible(True)
        self._status(f"Analysing {Path(path).name}…", timeout=0)
        self.queryStarted.emit(path)
        previous = getattr(self, "_query_job", None)
        if previous is not None:
            previous.cancel()  # a newer drop wins: stop analysing the old file
        self._query_job = self.runner.start(lambda cancel: tasks.run_query(finder, path, k, cancel), "query",
                                            on_finished=lambda out: self._query_done(seq, out),
                                            on_failed=lambda m: self._query_failed(seq, m))
        if self.wip_audio is None or not self.wip_audio.is_current(path):
            self.wave_a.set_loading(Path(path).name)

    def _decode_wip(self, seq: int, path: str) -> None:
        """Decode the whole WIP for playback, the waveform and its loudness. Started once the ranked list
        is shown: on a small machine the two jobs would otherwise slow each other down."""
        if self.wip_audio is not None and self.wip_audio.is_current(path):
            return  # same file, unchanged on disk (a re-bounce to the same path is decoded again)
        rate = self.player.samplerate if self.player is not None else None
        channels = self.player.channels if self.player is not None else 2
        self.runner.start(lambda cancel: tasks.decode_for_playback(path, rate, channels), "decode-wip",
                          on_finished=lambda a: self._wip_decoded(seq, a),
                          on_failed=lambda m: self._wip_decode_failed(seq, m))

    def _query_done(self, seq: int, out: tasks.QueryOutcome) -> None:
        if seq != self.query_seq:
            return
        self._decode_wip(seq, out.path)
        self.busy.setVisible(False)
        self.query_outcome = out
        r = out.result
        q = r.query
        self.query_sub.setText(str(Path(out.path).parent))
        self.stats["duration"].setText(fmt_duration(q.duration) if q else "—")
        lufs = self.wip_audio.lufs if self.wip_audio is not None and self.wip_audio.is_current(out.path) else (
            q.lufs if q else None)
        self.stats["lufs"].setText(fmt_lufs(lufs))
        tempo = q.dna.get("tempo") if q else None
        self.stats["tempo"].setText("—" if tempo is None else f"{float(tempo):.1f} BPM")
        self.cluster_label.setText(r.cluster or "—")
        self.confidence.setValue(int(round(100 * r.confidence)))
        self.confidence.setVisible(bool(r.cluster))
        self.confidence.setToolTip("How clearly the WIP sits in this cluster rather than the others: "
                                   + ", ".join(f"{k} {v:.0%}" for k, v in sorted(r.cluster_scores.items(),
                                                                                key=lambda kv: -kv[1])[:4]))
        self.table.neighbours.set_ranking(out.ranking.order, out.ranking.similarity)
        self.results_title.setText("Closest references")
        top = [n.position for n in r.neighbours]
        self.map.set_query(r.xy, top)
        self.interp.set_wip(r.vector, Path(out.path).stem)
        self._status(f"{Path(out.path).name}: analysed in {r.seconds:.1f} s", timeout=8000)
        if top:
            self.table.select_position(top[0])
            self.table.setFocus()
        self._update_tags()
        self.queryFinished.emit(out)

    def _query_failed(self, seq: int, message: str) -> None:
        if seq != self.query_seq:
            return
        self._show_query_error(message)
        self.queryFailed.emit(message)

    def _show_query_error(self, message: str) -> None:
        self.busy.setVisible(False)
        self.error_label.setText(message)
        self.error_label.setVisible(True)
        self.query_sub.setText("Could not analyse this file.")
        self._status(message, error=True)

    def _reset_query_view(self) -> None:
        self.query_title.setText(DROP_HINT)
        self.query_sub.setText(DROP_SUB)
        self.confidence.setVisible(False)
        for v in self.stats.values():
            v.setText("—")
        self.cluster_label.setText("—")
        self.confidence.setValue(0)
        self.busy.setVisible(False)

    def _limit_changed(self, k: int) -> None:
        self.table.neighbours.set_limit(k)
        if self.selected_position is not None:
            self.table.select_position(self.selected_position)

    def _update_tags(self) -> None:
        out = self.query_outcome
        if out is None or not out.top_tags:
            self.tags_label.setVisible(False)
            return
        wip_tags = [name for name, _ in out.top_tags[:5]]
        text = f"<span style='color:{theme.MUTED}'>WIP tags</span>&nbsp; {chips(wip_tags, theme.ACCENT)}"
        if self.selected_position is not None and self.finder is not None:
            rec = self.finder.tracks[self.selected_position]
            ref_tags = [t[0] for t in rec.get("tags", [])]
            wip_set = {name for name, _ in out.top_tags}
            shared = [t for t in ref_tags if t in wip_set]
            title = html.escape(rec.get("title", ""))
            text += (f"<br><span style='color:{theme.MUTED}'>Shared with {title}</span>&nbsp; "
                     + (chips(shared, theme.ACCENT_2) if shared else f"<span style='color:{theme.MUTED}'>none of the "
                        "top tags</span>"))
        self.tags_label.setText(text)
        self.tags_label.setVisible(True)

    # ================================================================== references
    def select_reference(self, position: int) -> None:
        """Select a reference everywhere (table, map); the table emits positionSelected."""
        if not self.table.select_position(int(position)):
            return
        self.table.setFocus()

    def _reference_selected(self, position: int) -> None:
        self.selected_position = position
        self.map.set_selected(position)
        self._update_tags()
        self._load_reference(position)

    def _load_reference(self, position: int) -> None:
        if self.finder is None:
            return
        path = self.finder.tracks[position]["path"]
        cached = self.ref_cache.get(path)
        if cached is not None:
            self.ref_cache.move_to_end(path)
            self._install_reference(cached)
            return
        self.wave_b.set_loading(Path(path).stem)
        rate = self.player.samplerate if self.player is not None else None
        channels = self.player.channels if self.player is not None else 2
        self.ref_loader.submit(lambda: tasks.decode_for_playback(path, rate, channels))

    def _reference_decoded(self, audio: tasks.PlaybackAudio) -> None:
        self.ref_cache[audio.path] = audio
        while len(self.ref_cache) > REF_CACHE:
            self.ref_cache.popitem(last=False)
        if self.selected_position is not None and self.finder is not None \
                and self.finder.tracks[self.selected_position]["path"] == audio.path:
            self._install_reference(audio)
        self.referenceDecoded.emit(audio)

    def _reference_failed(self, message: str) -> None:
        self._play_when_decoded = None  # never start some later reference by surprise
        self._status(f"Could not play that reference: {message}", error=True)

    def _install_reference(self, audio: tasks.PlaybackAudio) -> None:
        self.ref_audio = audio
        self.wave_b.set_audio(audio.title, audio.peaks, audio.duration)
        if self.player is not None and audio.buffer is not None:
            self.player.set_source(audio.buffer, audio.samplerate, audio.gain_db, "B", audio.title,
                                   lufs=audio.lufs)
        self._update_transport()
        if self._play_when_decoded == audio.path:
            self._play_when_decoded = None
            if self.player is not None:
                self._play("B")
        self._tick()

    def play_reference(self, position: int) -> None:
        """Audition a reference (Space in the table, double-click, map click with 'Play on click')."""
        if self.finder is None:
            return
        if self.selected_position != position:
            self.select_reference(position)
        if self.player is None:
            self._status(NO_AUDIO_TIP)
            return
        path = self.finder.tracks[position]["path"]
        if self.ref_audio is not None and self.ref_audio.path == path:
            if self.player.active == "B" and self.player.playing:
                self.player.pause()
            else:
                self._play("B")
        else:
            self._play_when_decoded = path
        self._tick()

    # ================================================================== WIP audio
    def _wip_decoded(self, seq: int, audio: tasks.PlaybackAudio) -> None:
        if self.query_path != audio.path:
            return
        self.wip_audio = audio
        self.wave_a.set_audio(audio.title, audio.peaks, audio.duration)
        self.stats["lufs"].setText(fmt_lufs(audio.lufs))
        if self.player is not None and audio.buffer is not None:
            if self.player.active == "A":
                self.player.stop()
            self.player.set_source(audio.buffer, audio.samplerate, audio.gain_db, "A", audio.title,
                                   lufs=audio.lufs)
        self._update_transport()
        self.wipDecoded.emit(audio)

    def _wip_decode_failed(self, seq: int, message: str) -> None:
        if seq == self.query_seq:
            self.wave_a.clear()
            self._status(f"Could not decode the WIP for playback: {message}", error=True)

    # ================================================================== transport
    def _update_transport(self) -> None:
        has_player = self.player is not None
        a = has_player and self.player.has_source("A")
        b = has_player and self.player.has_source("B")
        for w, ok in ((self.play_wip_button, a), (self.play_ref_button, b), (self.ab_button, a and b),
                      (self.stop_button, a or b)):
            w.setEnabled(ok)
            w.setToolTip(w.toolTip().split("\n\n")[0] + ("" if has_player else f"\n\n{self.player_reason}"))
        for act, ok in ((self.play_wip_action, a), (self.play_ref_action, b), (self.ab_action, a and b),
                        (self.stop_action, a or b)):
            act.setEnabled(ok)
        parts = []
        for slot, ok in (("A", a), ("B", b)):
            if ok:
                parts.append(f"{slot} {fmt_gain(self.player.source(slot).gain_db)}")
        match = "Loudness-matched" + (": " + " · ".join(parts) if parts else "")
        self.gain_label.setText(match if has_player else "Playback off: no audio output device")
        self.gain_label.setToolTip("Both sides are played at the loudness of the quieter one (never boosted, so "
                                   f"nothing clips; a side alone is turned down to {TARGET_LUFS:.0f} LUFS at most), "
                                   "so you compare sound, not level." if has_player else self.player_reason)

    def play_slot(self, slot: str) -> None:
        if self.player is None or not self.player.has_source(slot):
            return
        if self.player.active == slot and self.player.playing:
            self.player.pause()
        else:
            self._play(slot)
        self._tick()

    def _play(self, slot: str) -> bool:
        """Start playing ``slot``; a stream that fails to start is a status-bar error, not a crash."""
        from trance_finder.playback.player import PlaybackUnavailable

        try:
            self.player.play(slot)
        except PlaybackUnavailable as exc:
            log.warning("playback failed: %s", exc)
            self._status(f"Could not play: {exc}", error=True)
            return False
        return True

    def toggle_ab(self) -> None:
        if self.player is None:
            return
        self.player.toggle_ab()
        self._tick()

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
        self._tick()

    def seek(self, slot: str, fraction: float) -> None:
        if self.player is None:
            return
        if self.player.has_source(slot):
            if self.player.active != slot:
                self.player.select(slot)
            self.player.seek_fraction(fraction)
        self._tick()

    def _tick(self) -> None:
        p = self.player
        if p is None:
            return
        frac = p.fraction
        self.wave_a.set_fraction(frac)
        self.wave_b.set_fraction(frac)
        self.wave_a.set_active(p.active == "A" and p.has_source("A"))
        self.wave_b.set_active(p.active == "B" and p.has_source("B"))
        self.time_label.setText(f"{p.active}  {fmt_time(p.position)} / {fmt_time(p.duration)}")
        playing = p.playing
        self.play_wip_button.setText("❚❚  WIP" if playing and p.active == "A" else "▶  WIP")
        self.play_ref_button.setText("❚❚  Reference" if playing and p.active == "B" else "▶  Reference")

    # ================================================================== drag and drop
    @staticmethod
    def _audio_paths(mime) -> list[str]:
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and is_audio_file(u.toLocalFile())]

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if self._audio_paths(event.mimeData()):
            event.acceptProposedAction()
            self.overlay.setGeometry(self.centralWidget().rect().adjusted(20, 20, -20, -20))
            self.overlay.raise_()
            self.overlay.show()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if self._audio_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802
        self.overlay.hide()
        event.accept()

    def dropEvent(self, event) -> None:  # noqa: N802
        self.overlay.hide()
        paths = self._audio_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_query(paths[0])

    # ================================================================== misc
    def show_training(self) -> None:
        first = not self.dock.isVisible()
        self.dock.show()
        self.dock.raise_()
        if first and not self.dock.isFloating():
            self.resizeDocks([self.dock], [440], Qt.Horizontal)
        if not self.training.folder.text():
            self.training.folder.setFocus()

    def choose_reference_folder(self) -> None:
        self.show_training()
        self.training.choose_folder()

    def open_log_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(app_paths.user_log_dir())))

    def about(self) -> None:
        from trance_finder import __version__

        QMessageBox.about(self, "About Trance Finder",
                          f"<b>Trance Finder</b> {__version__}<br>Finds which of your reference tracks a "
                          "work-in-progress sounds closest to.")

    def _status(self, text: str, error: bool = False, timeout: int = 10000) -> None:
        self.statusBar().setStyleSheet(f"color: {theme.BAD};" if error else "")
        self.statusBar().showMessage(text, timeout)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.overlay.isVisible():
            self.overlay.setGeometry(self.centralWidget().rect().adjusted(20, 20, -20, -20))

    def shutdown(self) -> None:
        """Cancel and wait for every worker, close the audio stream (no terminate())."""
        if self._closing:
            return
        self._closing = True
        self.playhead_timer.stop()
        # cancel everything first, then wait: the jobs wind down together, not one after the other
        self.training.runner.cancel_all()
        self.interp.worker.cancel()
        self.ref_loader.cancel()
        self.runner.cancel_all()
        self.training.shutdown()
        self.interp.shutdown()
        self.ref_loader.shutdown()
        self.runner.shutdown()
        if self.player is not None:
            self.player.close()

    def closeEvent(self, event) -> None:  # noqa: N802
        if self.training.running:
            answer = QMessageBox.question(self, "Training is running",
                                          "Cancel training and quit? Your previous model stays as it is.")
            if answer != QMessageBox.Yes:
                event.ignore()
                return
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)
