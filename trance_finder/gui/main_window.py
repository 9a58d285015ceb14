"""The main window: layout and wiring only. The state (model, WIP, selection, compare target, blend,
request generations) lives in ``AppState`` (trance_finder/app_state.py, Qt-free); every panel renders
it and sends it intents, and every background result passes AppState's one stale-result gate.

Layout: banner · [query header / A-B area / references] | [views (Map; a Compare tab can be added
with ``add_view``) / Explore] · Library & training dock (built on first use). The A/B area is one
widget (``ab_area``) that ``set_ab_area`` can replace.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from trance_finder import paths as app_paths
from trance_finder import settings as app_settings
from trance_finder.app_state import AppState
from trance_finder.gui import tasks, theme
from trance_finder.gui.interpolation import InterpolationPanel
from trance_finder.gui.map_view import MapView
from trance_finder.gui.query_header import Banner, DropOverlay, QueryHeader, fmt_lufs  # noqa: F401 - re-export
from trance_finder.gui.results_panel import ResultsPanel
from trance_finder.gui.transport_panel import TransportPanel
from trance_finder.gui.widgets import card
from trance_finder.gui.workers import JobRunner
from trance_finder.settings import Keys

log = logging.getLogger("trance_finder.gui")

DEFAULT_SIZE = app_settings.DEFAULT_WINDOW
NO_AUDIO_TIP = "No audio output device was found, so playback is off. Everything else works."
DOCK_TITLE = "Library & training"  # a docked title bar reads '&' as a mnemonic: it shows "Library && training"
DOCK_WIDTH = (320, 440)  # the panel's share of the window: 28 %, within these bounds
SHORTCUTS = [("Ctrl+O", "Open a WIP"), ("Ctrl+T", "Show / hide the Library & training panel"),
             ("W", "Play / pause the WIP"), ("R", "Play / pause the reference"), ("B", "A/B switch"),
             ("S", "Stop"), ("↑ ↓", "Move through the references"), ("Space", "Play the selected reference"),
             ("Tab", "Next control (the table moves by row)")]


def _file_filter() -> str:
    from trance_finder.core.audio import AUDIO_EXTENSIONS

    return "Audio (" + " ".join(f"*{e}" for e in AUDIO_EXTENSIONS) + ")"


def _is_audio(path: str) -> bool:
    from trance_finder.core.audio import is_audio_file

    return is_audio_file(path)


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
        self.player, self.player_reason = self._make_player(player)
        self.state = AppState(self.runner, tasks, playback_format=self._playback_format,
                              k=Keys.results_limit.get(self.settings))
        self.state.subscribe(self._on_state)
        self._training = None
        self._announced = None  # the outcome queryFinished was last emitted for
        self._play_when_decoded: str | None = None
        self._restore_wip = Keys.last_wip.get(self.settings)
        self._restore_explore = True
        self._demo_render = None
        self._closing = False

        self._build_ui()
        from trance_finder.gui.structure_controller import install_structure

        self.structure = install_structure(self)  # sections A/B, Compare tab, rank by section (issues 12, 13)
        self._build_menus()
        from trance_finder.gui import cluster_rename, filters_bar, library_watch  # issues 8 and 11

        self.filters_bar = filters_bar.install(self)  # filters above the ranked list
        self.cluster_rename = cluster_rename.install(self)  # rename from the legend or the Cluster column
        self.library_watch = library_watch.install(self)  # Rescan, on start and when the folder changes
        self._restore_settings()
        self._update_transport()
        self.playhead_timer = QTimer(self)
        self.playhead_timer.setInterval(33)
        self.playhead_timer.timeout.connect(self._tick)
        if self.player is not None:
            self.playhead_timer.start()
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

    def _playback_format(self):
        if self.player is None:
            return None, 2
        return self.player.samplerate, self.player.channels

    def _build_ui(self) -> None:
        self.banner = Banner()
        self.banner.own_button.clicked.connect(self.use_own_references)
        self.banner.demo_wip_button.clicked.connect(self.try_demo_wip)
        self.banner.hide()

        self.header = QueryHeader()
        self.header.open_button.clicked.connect(self.choose_query)
        self.ab_area = TransportPanel(self.player, self.player_reason)
        self.ab_area.failed.connect(lambda m: self._status(m, error=True))
        self.ab_area.sourcesChanged.connect(self._sources_changed)
        self.results = ResultsPanel()
        self.results.k_spin.valueChanged.connect(self._limit_changed)
        self.results.table.positionSelected.connect(self.state.select)
        self.results.table.playRequested.connect(self.play_reference)
        self.results.table.neighbours.display_path = self._display_path

        left = QWidget()
        self.left_layout = QVBoxLayout(left)
        self.left_layout.setContentsMargins(0, 0, 0, 0)
        self.left_layout.setSpacing(8)
        self.left_layout.addWidget(self.header)
        self.left_layout.addWidget(self.ab_area)
        self.left_layout.addWidget(self.results, 1)
        left.setMinimumWidth(400)

        # -- views (Map; a Compare view can be added as a tab) and Explore
        mcard, ml = card()
        self.map = MapView()
        self.map.pointClicked.connect(self.select_reference)
        self.map.auditionRequested.connect(self.play_reference)
        self.map.plot_widget.setAcceptDrops(False)
        self.map.plot_widget.viewport().setAcceptDrops(False)
        self.map.plot_widget.setMinimumSize(220, 160)
        ml.addWidget(self.map, 1)
        self.views = QTabWidget()
        self.views.setObjectName("views")
        self.views.setDocumentMode(True)
        self.views.addTab(mcard, "Map")
        self.views.setMinimumSize(240, 250)  # a tab widget asks for its page's full size hint otherwise
        icard, il = card("Explore between")
        self.interp = InterpolationPanel(self.state)
        self.interp.layout().setContentsMargins(0, 0, 0, 0)
        self.interp.blendChanged.connect(lambda o: self.map.set_blend(None if o is None else o.xy))
        self.interp.referenceActivated.connect(self.select_reference)
        self.interp.referencePlay.connect(self.play_reference)
        self.interp.failed.connect(lambda m: self._status(m, error=True))
        il.addWidget(self.interp, 1)
        # more anchors never make the window taller: the Explore card scrolls instead
        self.explore_scroll = QScrollArea()
        self.explore_scroll.setWidgetResizable(True)
        self.explore_scroll.setFrameShape(QScrollArea.NoFrame)
        self.explore_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.explore_scroll.setWidget(icard)
        self.explore_scroll.setMinimumHeight(120)
        self.right_split = QSplitter(Qt.Vertical)
        self.right_split.setObjectName("rightSplit")
        self.right_split.addWidget(self.views)
        self.right_split.addWidget(self.explore_scroll)
        self.right_split.setStretchFactor(0, 3)
        self.right_split.setStretchFactor(1, 2)
        self.right_split.setSizes([540, 360])
        self.right_split.setChildrenCollapsible(False)
        self.right_split.setMinimumWidth(280)

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

        # -- library & training dock (its panel is built on first use: it needs torch for its defaults)
        self.dock = QDockWidget(self)
        self._dock_floated(False)
        self.dock.setObjectName("trainingDock")
        self.dock.setFeatures(QDockWidget.DockWidgetClosable | QDockWidget.DockWidgetMovable
                              | QDockWidget.DockWidgetFloatable)
        self.dock.setWidget(QLabel("Opening…"))
        self.dock.visibilityChanged.connect(lambda visible: visible and self._ensure_training())
        self.dock.topLevelChanged.connect(self._dock_floated)
        self.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self.dock.hide()

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
        self._action(m, "&Train / settings…", self.show_training)
        m.addSeparator()
        self.user_library_action = self._action(m, "Use &my trained library", self.use_user_library)
        self.demo_action = self._action(m, "Use the &demo library", self.use_demo_library)
        m.aboutToShow.connect(self._update_library_actions)
        m = mb.addMenu("&Playback")
        self.play_wip_action = self._action(m, "Play / pause &WIP", lambda: self.play_slot("A"), "W")
        self.play_ref_action = self._action(m, "Play / pause &reference", lambda: self.play_slot("B"), "R")
        self.ab_action = self._action(m, "&A/B switch", self.toggle_ab, "B")
        self.stop_action = self._action(m, "&Stop", self.stop, "S")
        m = mb.addMenu("&View")
        self.dock_action = self.dock.toggleViewAction()
        self.dock_action.setText("&Library && training panel")
        self.dock_action.setShortcut(QKeySequence("Ctrl+T"))  # opens and closes it
        m.addAction(self.dock_action)
        self._action(m, "&Fit map", self.map.refit)
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

    # -- slots other helpers plug into ----------------------------------------------------------------
    def add_view(self, widget: QWidget, title: str) -> int:
        """Add a view as a tab beside the map (the Compare view)."""
        return self.views.addTab(widget, title)

    def set_ab_area(self, widget: QWidget) -> None:
        """Replace the A/B area (waveforms + transport) with another widget (the ABPanel)."""
        i = self.left_layout.indexOf(self.ab_area)
        self.left_layout.removeWidget(self.ab_area)
        self.ab_area.hide()
        self.left_layout.insertWidget(i, widget)

    # -- compatibility names (tests, bench, screenshots) ------------------------------------------------
    @property
    def finder(self):
        return self.state.finder

    @property
    def loaded(self):
        return self.state.loaded

    @property
    def query_path(self):
        return self.state.wip.path

    @property
    def pending_query(self):
        return self.state.pending_wip

    @property
    def query_outcome(self):
        return self.state.wip.outcome

    @property
    def wip_audio(self):
        return self.state.wip.audio

    @property
    def ref_audio(self):
        return self.state.reference_audio if not isinstance(self.state.reference_audio, str) else None

    @property
    def selected_position(self):
        return self.state.selected

    table = property(lambda self: self.results.table)
    k_spin = property(lambda self: self.results.k_spin)
    results_title = property(lambda self: self.results.title)
    tags_label = property(lambda self: self.results.tags)
    query_title = property(lambda self: self.header.title)
    query_sub = property(lambda self: self.header.sub)
    stats = property(lambda self: self.header.stats)
    cluster_label = property(lambda self: self.header.cluster)
    confidence = property(lambda self: self.header.confidence)
    busy = property(lambda self: self.header.busy)
    error_label = property(lambda self: self.header.error)
    wave_a = property(lambda self: self.ab_area.wave_a)
    wave_b = property(lambda self: self.ab_area.wave_b)
    play_wip_button = property(lambda self: self.ab_area.play_wip_button)
    play_ref_button = property(lambda self: self.ab_area.play_ref_button)
    ab_button = property(lambda self: self.ab_area.ab_button)
    stop_button = property(lambda self: self.ab_area.stop_button)
    gain_label = property(lambda self: self.ab_area.gain_label)
    time_label = property(lambda self: self.ab_area.time_label)

    # ================================================================== training panel (lazy)
    @property
    def training(self):
        return self._ensure_training()

    def _ensure_training(self):
        if self._training is not None:
            return self._training
        from trance_finder.gui.training_panel import TrainingPanel

        panel = TrainingPanel()
        panel.load_settings(self.settings)
        panel.modelTrained.connect(self._model_trained)
        panel.trainingFailed.connect(lambda m: self._status(f"Training failed: {m}", error=True))
        panel.trainingCancelled.connect(
            lambda: self._status("Training cancelled; the previous model is still in use."))
        panel.progress.connect(self._training_progress)
        if self.state.loaded is not None and self.state.loaded.kind == "user":
            panel.show_evaluation(self.state.loaded.evaluation)
        self._training = panel
        self.dock.setWidget(panel)
        self.library_watch.attach_panel(panel)
        panel.runner.start(lambda cancel: tasks.environment_info(), "environment",
                           on_finished=panel.set_environment)
        return panel

    def _dock_floated(self, floating: bool) -> None:
        # docked, Qt draws the title with mnemonics ("&&" shows one "&"); floating, the window manager
        # draws it as is: either way the user reads "Library & training"
        self.dock.setWindowTitle(DOCK_TITLE if floating else DOCK_TITLE.replace("&", "&&"))
        if floating:  # a floated dock comes up in front of the window, never hidden behind it
            self.dock.raise_()
            self.dock.activateWindow()

    # ================================================================== settings
    def _restore_settings(self) -> None:
        s = self.settings
        geometry = Keys.geometry.get(s)
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(*self._fit_to_screen(DEFAULT_SIZE))
        state = Keys.state.get(s)
        if state is not None:
            self.restoreState(state)
        for key, split in ((Keys.main_split, self.main_split), (Keys.right_split, self.right_split)):
            value = key.get(s)
            if value is not None:
                split.restoreState(value)
        self.k_spin.setValue(Keys.results_limit.get(s))
        self.map.play_on_click.setChecked(Keys.play_on_click.get(s))
        self._clamp_to_screen()

    def save_settings(self) -> None:
        s = self.settings
        Keys.geometry.set(s, self.saveGeometry())
        Keys.state.set(s, self.saveState())
        Keys.main_split.set(s, self.main_split.saveState())
        Keys.right_split.set(s, self.right_split.saveState())
        Keys.results_limit.set(s, self.k_spin.value())
        Keys.play_on_click.set(s, self.map.play_on_click.isChecked())
        if self.state.wip.path and self.state.wip.status != "failed":
            Keys.last_wip.set(s, self.state.wip.path)
        if self.state.loaded is not None:
            saved = self.interp.explore_settings()
            Keys.explore_mode.set(s, saved["mode"])
            Keys.explore_anchors.set(s, saved["anchors"])
            Keys.explore_target.set(s, saved["target"])
            Keys.explore_amount.set(s, saved["amount"])
            Keys.explore_model.set(s, self.state.loaded.model_path)
        if self._training is not None:
            self._training.save_settings(s)
        s.sync()

    def _available(self):
        screen = self.screen() or QGuiApplication.primaryScreen()
        return None if screen is None else screen.availableGeometry()

    def _fit_to_screen(self, size) -> tuple[int, int]:
        avail = self._available()
        if avail is None:
            return size
        return min(size[0], avail.width()), min(size[1], avail.height())

    def _clamp_to_screen(self) -> None:
        w, h = self._fit_to_screen((self.width(), self.height()))
        if (w, h) != (self.width(), self.height()):
            self.resize(w, h)

    def reset_layout(self) -> None:
        self.resize(*self._fit_to_screen(DEFAULT_SIZE))
        self.main_split.setSizes([770, 610])
        self.right_split.setSizes([540, 360])
        self.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self.dock.setFloating(False)

    # ================================================================== model
    def start_model(self, prefer_user_model: bool | None = None) -> None:
        if prefer_user_model is None:
            prefer_user_model = Keys.library.get(self.settings) != "demo"
        saved_device = Keys.training("device").get(self.settings) or "auto"
        device = "cpu" if saved_device == "cpu" else "auto"  # a saved "cuda" never stops the app opening
        mp, ip, demo, feats = self.model_path, self.index_path, self.use_demo, self.demo_features
        self.state.open_model(lambda cancel: tasks.startup(mp, ip, demo, prefer_user_model, device, feats, cancel))

    def use_demo_library(self) -> None:
        self.model_path = self.index_path = None
        self.use_demo = True
        Keys.library.set(self.settings, "demo")
        self.start_model(prefer_user_model=False)

    def use_user_library(self) -> None:
        """Back from the demo to the library trained from this app, without a restart."""
        if not self._user_model_exists():
            self._status("No trained library yet: choose your reference folder and train (Library › Train).",
                         error=True)
            return
        self.model_path = self.index_path = None
        Keys.library.set(self.settings, "user")
        self.start_model(prefer_user_model=True)

    @staticmethod
    def _user_model_exists() -> bool:
        model, index = tasks.user_model_paths()
        return Path(model).exists() and Path(index).exists()

    def _update_library_actions(self) -> None:
        kind = None if self.state.loaded is None else self.state.loaded.kind
        self.user_library_action.setEnabled(self._user_model_exists() and kind != "user")
        self.demo_action.setEnabled(kind != "demo")

    def _model_trained(self, outcome) -> None:
        self.model_path = self.index_path = None
        Keys.library.set(self.settings, "user")
        self.state.set_model(outcome.loaded)
        self._status(f"New model in use: {outcome.result.n_tracks} references.")

    def _training_progress(self, p) -> None:
        if p.stage == "extract" and p.total:
            self._status(f"Training: extracting {p.done} / {p.total}", timeout=0)
        elif p.stage == "train" and p.done:
            self._status(f"Training: {p.message}", timeout=0)

    # ================================================================== state -> widgets
    def _on_state(self, event: str, payload) -> None:
        if self._closing:
            return
        if event == "model":
            self._render_model()
        elif event == "model_progress":
            self._startup_progress(payload)
        elif event == "wip":
            self._render_wip()
        elif event == "wip_audio":
            self._render_wip_audio(payload)
        elif event == "selection":
            self._render_selection()
        elif event == "reference_audio":
            self._render_reference(payload)
        elif event == "blend":
            self.interp.render_blend(payload)
        elif event == "message":
            self._status(str(payload), error=True)

    def _set_placeholders(self, text: str) -> None:
        self.map.set_placeholder(text)
        self.table.set_empty_text(text)

    def _render_model(self) -> None:
        st = self.state
        if st.model_status == "opening":
            self.banner.show_message("Opening the model…", progress=True, own_button=False)
            self.banner.bar.setRange(0, 0)
            self._set_placeholders("Opening the reference library…")
        elif st.model_status == "empty":
            self.banner.show_message(
                "<b>No model yet.</b> Choose a folder of your reference tracks and train (Library › Train), "
                "or open the built-in demo library (Library › Use the demo library).")
            self.model_label.setText("No model loaded")
            self._set_placeholders("No reference library yet: choose your reference folder and train "
                                   "(Library › Train).")
        elif st.model_status == "failed":
            self.banner.show_message(f"<b>Could not open a model:</b> {html.escape(st.model_message)}<br>Choose a "
                                     "folder of your reference tracks and train (Library › Train).", error=True)
            self._status(st.model_message, error=True)
            self._set_placeholders("No reference library loaded.")
            self.modelFailed.emit(st.model_message)
        elif st.model_status == "ready":
            self._install_model(st.loaded)

    def _startup_progress(self, p) -> None:
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
            self._set_placeholders("The demo library is being built; its references appear here when it is ready.")
        elif p.message:
            self.banner.text.setText(html.escape(p.message))
        if p.info.get("warning"):
            self._status(p.message, error=True)

    def _install_model(self, loaded) -> None:
        finder = loaded.finder
        self.results.render_library(finder)
        self.map.set_library(finder.tracks, finder.cluster_names)
        self.interp.model_changed()
        self.ab_area.set_source("B", None)
        self._play_when_decoded = None
        kind = {"demo": "Demo library", "user": "Your library", "custom": "Model"}.get(loaded.kind, "Model")
        self.model_label.setText(f"{kind} · {len(finder.tracks)} references · {loaded.features}")
        if loaded.kind == "demo":
            self.banner.show_message(
                "<b>You're exploring the built-in demo library</b> (synthetic trance). Drop your WIP on the "
                "window to try it, then train on your own reference tracks.", demo_button=True)
            self._render_demo_audio(loaded)
        else:
            self.banner.hide()
        if loaded.kind == "user" and self._training is not None:
            self._training.show_evaluation(loaded.evaluation)
        self._restore_session(loaded)
        self.modelLoaded.emit(loaded)

    def _restore_session(self, loaded) -> None:
        """Once, after the first model: the Explore anchors and mode, and the last WIP."""
        if self._restore_explore:
            self._restore_explore = False
            s = self.settings
            if Keys.explore_model.get(s) == loaded.model_path:
                self.interp.restore({"mode": Keys.explore_mode.get(s), "anchors": Keys.explore_anchors.get(s),
                                     "target": Keys.explore_target.get(s), "amount": Keys.explore_amount.get(s)})
        if self._restore_wip:
            last, self._restore_wip = self._restore_wip, ""
            if self.state.wip.path is None and Path(last).is_file():
                self.open_query(last)

    def _render_demo_audio(self, loaded) -> None:
        """Shipped demo assets: render the demo audio in the background (only playback needs it)."""
        from trance_finder import demo

        missing = demo.demo_audio_missing(loaded.finder.tracks)
        if not missing or (self._demo_render is not None and self._demo_render.running):
            return

        def progress(p):
            if p.total:
                self.model_label.setText(f"Demo library · rendering its audio for playback: {p.done} / {p.total}")

        def done(_folder):
            self.model_label.setText(f"Demo library · {len(loaded.finder.tracks)} references · {loaded.features}")
            self._status("The demo audio is ready: references play now.")

        self._demo_render = self.runner.start(lambda cancel: demo.render_demo_audio(cancel), "demo-audio",
                                              on_progress=progress, on_finished=done,
                                              on_failed=lambda m: self._status(f"Demo audio: {m}", error=True))

    def _render_wip(self) -> None:
        st = self.state
        wip = st.wip
        self.header.render(wip, st.finder is not None)
        self.results.render_wip(st)
        self.ab_area.render_wip(wip)
        if wip.outcome is not None:
            top = [n.position for n in wip.outcome.result.neighbours]
            self.map.set_query(wip.outcome.result.xy, top)
        else:
            self.map.clear_query()
        self.interp.wip_changed()
        if wip.status == "done" and wip.outcome is not self._announced:
            self._announced = wip.outcome
            self._status(f"{wip.name}: analysed in {wip.outcome.result.seconds:.1f} s", timeout=8000)
            if st.selected is not None:
                self.table.select_position(st.selected)
                self.table.setFocus()
            self.queryFinished.emit(wip.outcome)
        elif wip.status == "failed" and wip.error and self._announced != ("failed", wip.path, wip.error):
            self._announced = ("failed", wip.path, wip.error)
            self._status(wip.error, error=True)
            self.queryFailed.emit(wip.error)
        elif wip.status == "analysing" and self._announced != ("analysing", wip.path):
            self._announced = ("analysing", wip.path)
            self._status(f"Analysing {wip.name}…", timeout=0)
            self.queryStarted.emit(wip.path)

    def _render_wip_audio(self, audio) -> None:
        self.ab_area.render_wip(self.state.wip)
        self.ab_area.set_source("A", audio)
        if audio is not None:
            self.wipDecoded.emit(audio)

    def _render_selection(self) -> None:
        pos = self.state.selected
        self.map.set_selected(pos)
        if pos is not None and self.table.selected_position() != pos:
            self.table.select_position(pos)
        self.results.render_tags(self.state)

    def _render_reference(self, audio) -> None:
        st = self.state
        title = Path(st.track(st.target)["path"]).stem if st.target is not None and st.finder is not None else ""
        self.ab_area.render_reference(audio, title)
        if audio is None or isinstance(audio, str):
            if audio is None:
                self._play_when_decoded = None  # never start some later reference by surprise
            return
        self.ab_area.set_source("B", audio)
        self.referenceDecoded.emit(audio)
        if self._play_when_decoded == audio.path:
            self._play_when_decoded = None
            if self.player is not None:
                self._play("B")
        self._tick()

    def _display_path(self, track: dict) -> str:
        finder = self.state.finder
        if finder is None:
            return str(track.get("path", ""))
        try:
            return self.state.display_path(finder.tracks.index(track))
        except ValueError:
            return str(track.get("path", ""))

    # ================================================================== queries
    def choose_query(self) -> None:
        start = Keys.open_folder.get(self.settings) or (
            str(Path(self.state.wip.path).parent) if self.state.wip.path else "")
        path, _ = QFileDialog.getOpenFileName(self, "Open a WIP bounce", start, _file_filter())
        if path:
            Keys.open_folder.set(self.settings, str(Path(path).parent))
            self.open_query(path)

    def try_demo_wip(self) -> None:
        if self.state.loaded is not None and self.state.loaded.demo_wip:
            self.open_query(self.state.loaded.demo_wip)
            return
        self._status("Preparing the demo WIP…", timeout=0)
        self.runner.start(lambda cancel: tasks.make_demo_wip(), "demo-wip", on_finished=self.open_query,
                          on_failed=lambda m: self._status(m, error=True))

    def open_query(self, path) -> bool:
        """Intent: analyse ``path`` (drop, Open…, the command line)."""
        self.state.k = max(10, self.k_spin.value())
        return self.state.open_wip(str(path), is_audio=_is_audio)

    def _limit_changed(self, k: int) -> None:
        self.state.k = k
        self.table.neighbours.set_limit(k)
        if self.state.selected is not None:
            self.table.select_position(self.state.selected)

    # ================================================================== references
    def select_reference(self, position: int) -> None:
        """Select a reference everywhere (table, map); the table tells AppState."""
        if not self.table.select_position(int(position)):
            return
        self.table.setFocus()

    def play_reference(self, position: int) -> None:
        """Audition a reference (Space in the table, double-click, map click with 'Play on click')."""
        if self.state.finder is None:
            return
        if self.state.selected != position:
            self.select_reference(position)
        if self.player is None:
            self._status(NO_AUDIO_TIP)
            return
        path = self.state.track(position)["path"]
        if not Path(path).exists() and self._demo_render is not None and self._demo_render.running:
            self._status("The demo audio is still being rendered; this reference plays in a moment.")
            return
        ref = self.ref_audio
        if ref is not None and ref.path == path:
            if self.player.active == "B" and self.player.playing:
                self.player.pause()
            else:
                self._play("B")
        else:
            self._play_when_decoded = path
        self._tick()

    # ================================================================== transport (the A/B area drives it)
    def _update_transport(self) -> None:
        self.ab_area.refresh()

    def _sources_changed(self, a: bool, b: bool) -> None:
        for act, ok in ((self.play_wip_action, a), (self.play_ref_action, b), (self.ab_action, a and b),
                        (self.stop_action, a or b)):
            act.setEnabled(ok)

    def play_slot(self, slot: str) -> None:
        self.ab_area.play_slot(slot)

    def _play(self, slot: str) -> bool:
        return self.ab_area.play(slot)

    def toggle_ab(self) -> None:
        self.ab_area.toggle_ab()

    def stop(self) -> None:
        self.ab_area.stop()

    def seek(self, slot: str, fraction: float) -> None:
        self.ab_area.seek(slot, fraction)

    def _tick(self) -> None:
        self.ab_area.tick()

    # ================================================================== drag and drop
    @staticmethod
    def _audio_paths(mime) -> list[str]:
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and _is_audio(u.toLocalFile())]

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
        panel = self._ensure_training()
        self.dock.show()
        self.dock.raise_()
        if first and not self.dock.isFloating():
            # never wider than the window can give without growing past the screen
            room = self.width() - self.centralWidget().minimumSizeHint().width() - 24
            share = min(max(int(0.28 * self.width()), DOCK_WIDTH[0]), DOCK_WIDTH[1])
            self.resizeDocks([self.dock], [max(panel.minimumWidth(), min(share, room))], Qt.Horizontal)
        if not panel.folder.text():
            panel.folder.setFocus()

    def use_own_references(self) -> None:
        """"Use my own references…": open the panel (or bring it forward) and point at the folder field."""
        panel = self._ensure_training()
        self.show_training()
        if self.dock.isFloating():
            self.dock.activateWindow()
        panel.folder.setFocus()
        panel.folder.selectAll()
        panel.lib_box.setStyleSheet(f"QGroupBox {{ border: 2px solid {theme.ACCENT}; }}")
        QTimer.singleShot(1600, panel.lib_box, lambda: panel.lib_box.setStyleSheet(""))  # dies with the box
        self._status("Choose the folder with your reference tracks (Browse…), then press Train.", timeout=8000)

    def choose_reference_folder(self) -> None:
        self.show_training()
        self.training.choose_folder()

    def open_log_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(app_paths.user_log_dir())))

    def about_text(self) -> str:
        from trance_finder import __version__

        keys = "".join(f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;</td><td>{html.escape(v)}</td></tr>"
                       for k, v in SHORTCUTS)
        return (f"<b>Trance Finder</b> {__version__}<br>Finds which of your reference tracks a work-in-progress "
                "sounds closest to, and lets you A/B them loudness-matched.<br><br>"
                "<b>Credits and licences</b><br>"
                "musicnn (Pons &amp; Serra, MTG-UPF): pre-trained weights, ISC licence "
                "(models/LICENSE-musicnn.txt)<br>"
                "Qt for Python (PySide6, LGPLv3) · pyqtgraph (MIT) · superqt (BSD-3) · PyTorch (BSD-3) · "
                "FAISS (MIT) · NumPy, SciPy (BSD-3) · pyloudnorm (MIT) · soundfile (BSD-3) · soxr (LGPL-2.1) · "
                "PyAV / FFmpeg (BSD-3 / LGPL) · sounddevice (MIT) · platformdirs (MIT)<br><br>"
                f"<b>Shortcuts</b><table>{keys}</table><br>"
                f"Log folder: {html.escape(str(app_paths.user_log_dir()))}")

    def about(self) -> None:
        QMessageBox.about(self, "About Trance Finder", self.about_text())

    def _status(self, text: str, error: bool = False, timeout: int = 10000) -> None:
        self.statusBar().setStyleSheet(f"color: {theme.BAD};" if error else "")
        self.statusBar().showMessage(text, timeout)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.overlay.isVisible():
            self.overlay.setGeometry(self.centralWidget().rect().adjusted(20, 20, -20, -20))

    def shutdown(self) -> None:
        """Cancel every worker, then wait for them; close the audio stream (no terminate())."""
        if self._closing:
            return
        self._closing = True
        self.playhead_timer.stop()
        self.state.close()
        if self._training is not None:
            self._training.runner.cancel_all()
        self.interp.worker.cancel()
        self.runner.cancel_all()
        if self._training is not None:
            self._training.shutdown()
        self.interp.shutdown()
        self.runner.shutdown()
        if self.player is not None:
            self.player.close()

    def closeEvent(self, event) -> None:  # noqa: N802
        if self._training is not None and self._training.running:
            answer = QMessageBox.question(self, "Training is running",
                                          "Cancel training and quit? Your previous model stays as it is.")
            if answer != QMessageBox.Yes:
                event.ignore()
                return
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)
