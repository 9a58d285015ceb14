"""Library & training panel: the reference folder (with a summary: files, total length), feature set,
training settings (defaults from ``trance_finder.settings``, i.e. the core dataclasses) and device;
runs ``train_library`` in a worker with one progress bar over all phases, an ETA, a live loss curve,
Cancel, the evaluation numbers and the list of skipped files (with their reasons). The previous model
stays in use until a new one has loaded."""

from __future__ import annotations

import math
import time

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from trance_finder import settings
from trance_finder.gui import evaluation_view, tasks, theme
from trance_finder.gui.evaluation_view import cell_colour
from trance_finder.gui.workers import JobRunner, LatestOnly

FEATURE_SETS = [("musicnn+vgg_msd+dsp", "musicnn+VGG+DSP (best)"),
                ("musicnn+dsp", "musicnn + DSP (faster)"), ("musicnn", "musicnn only"),
                ("dsp", "DSP only (fast, no neural net)"), ("openl3", "OpenL3")]
DEVICES = [("auto", "Auto"), ("cpu", "CPU"), ("cuda", "CUDA (GPU)")]
BUSY_STAGES = {"profile", "labels", "index", "save", "load", "synth", "guard", "scan"}
# where each phase sits on the one progress bar (fractions of the whole run; evaluate only with folds)
PHASES = ("extract", "profile", "labels", "train", "evaluate", "guard", "index", "save", "load")
PHASE_WEIGHTS = {"extract": 0.45, "profile": 0.01, "labels": 0.01, "train": 0.25, "evaluate": 0.22, "guard": 0.005,
                 "index": 0.01, "save": 0.01, "load": 0.015}
METRIC_NAMES = [("precision_at_5", "Precision@5"), ("silhouette", "Silhouette"), ("nmi", "NMI")]


def fmt_eta(seconds) -> str:
    if seconds is None or not math.isfinite(float(seconds)):
        return ""
    s = int(round(float(seconds)))
    if s < 60:
        return f"about {s} s left"
    return f"about {s // 60} min {s % 60:02d} s left"


class OverallProgress:
    """One fraction over every phase of a training run, and an ETA from the run's own pace."""

    def __init__(self, eval_folds: int, clock=time.monotonic):
        self.weights = dict(PHASE_WEIGHTS)
        if not eval_folds:
            self.weights["evaluate"] = 0.0
        total = sum(self.weights.values())
        self.weights = {k: v / total for k, v in self.weights.items()}
        self.clock = clock
        self.started = clock()
        self.fraction = 0.0

    def update(self, stage: str, done: int, total: int) -> float:
        if stage not in self.weights:
            return self.fraction
        before = sum(self.weights[s] for s in PHASES[:PHASES.index(stage)])
        inside = (done / total) if total else 0.0
        self.fraction = max(self.fraction, min(1.0, before + self.weights[stage] * max(0.0, min(1.0, inside))))
        return self.fraction

    def eta(self) -> float | None:
        elapsed = self.clock() - self.started
        if self.fraction < 0.03 or elapsed < 2.0:
            return None
        return elapsed * (1.0 - self.fraction) / self.fraction


def folder_summary(folder: str) -> str:
    """"48 audio files · 19 min 12 s in total" for a reference folder (runs in a worker)."""
    from pathlib import Path

    from trance_finder.core.audio import audio_info, is_audio_file

    root = Path(folder).expanduser()
    if not folder or not root.is_dir():
        return "" if not folder else "This folder does not exist."
    files = [p for p in root.rglob("*") if p.is_file() and is_audio_file(str(p))]
    seconds, unreadable = 0.0, 0
    for f in files:
        try:
            seconds += float(audio_info(str(f)).duration)
        except Exception:  # noqa: BLE001 - an unreadable file is counted, training will list it as skipped
            unreadable += 1
    if not files:
        return "No audio files in this folder (wav, flac, aiff, mp3, ogg)."
    m, sec = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    length = f"{h} h {m:02d} min" if h else f"{m} min {sec:02d} s"
    extra = f" ({unreadable} unreadable)" if unreadable else ""
    return f"{len(files)} audio files · {length} in total{extra}"


def _fmt_metric(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):.2f}"


def build_train_options(values: dict):
    """TrainOptions from the panel's values; output goes to the user model folder."""
    from trance_finder.core.engine import TrainOptions
    from trance_finder.core.training import TrainConfig

    model, index = tasks.user_model_paths()
    return TrainOptions(references=values["references"], output_model=model, output_index=index,
                        labels_csv=values.get("labels_csv") or None, features=values["features"],
                        device=values["device"], n_views=int(values["n_views"]),
                        window_views=int(values["window_views"]),
                        eval_folds=int(values["eval_folds"]),
                        train=TrainConfig(epochs=int(values["epochs"]), batch_size=int(values["batch_size"]),
                                          lr=float(values["lr"]), margin=float(values["margin"])))



def _path_row(placeholder: str, on_browse) -> tuple[QLineEdit, QHBoxLayout]:
    """A path field with a Browse… button beside it."""
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    browse = QPushButton("Browse…")
    browse.clicked.connect(on_browse)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(browse)
    return edit, row

class TrainingPanel(QWidget):
    trainingStarted = Signal()  # noqa: N815
    progress = Signal(object)  # Progress, re-emitted for listeners (tests, status bar)
    modelTrained = Signal(object)  # noqa: N815 - tasks.TrainOutcome (new model loaded, not yet swapped in)
    trainingCancelled = Signal()  # noqa: N815
    trainingFailed = Signal(str)  # noqa: N815

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runner = JobRunner(self)
        self.job = None
        self.losses: list[float] = []
        self._train_started: float | None = None
        self.skipped: dict[str, str] = {}
        self.options_factory = build_train_options  # tests may swap in their own

        # library
        self.folder, folder_row = _path_row("Folder with your reference tracks", self.choose_folder)
        self.labels_csv, csv_row = _path_row("optional: CSV with columns path,label", self.choose_labels)

        # model settings: defaults and ranges from trance_finder.settings (the core dataclasses' defaults)
        d = settings.training_defaults()
        self.defaults = d
        self.features = QComboBox()
        for name, label in FEATURE_SETS:
            self.features.addItem(label, name)
        self.epochs = self._spin(QSpinBox(), "epochs", d.epochs)
        self.batch_size = self._spin(QSpinBox(), "batch_size", d.batch_size)
        self.lr = self._spin(QDoubleSpinBox(), "lr", d.lr, decimals=5, step=1e-4)
        self.margin = self._spin(QDoubleSpinBox(), "margin", d.margin, decimals=2, step=0.05)
        self.n_views = self._spin(QSpinBox(), "n_views", d.n_views)
        self.window_views = self._spin(QSpinBox(), "window_views", d.window_views)
        self.eval_folds = self._spin(QSpinBox(), "eval_folds", d.eval_folds)
        self.device = QComboBox()
        for name, label in DEVICES:
            self.device.addItem(label, name)
        self.device_info = QLabel("Checking devices…")
        self.device_info.setObjectName("hint")
        self.device_info.setWordWrap(True)

        lib_box = QGroupBox("Reference library")
        self.lib_box = lib_box
        lib_form = QFormLayout(lib_box)
        lib_form.addRow("Folder", folder_row)
        self.summary = QLabel("")
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)
        lib_form.addRow("", self.summary)
        lib_form.addRow("Labels", csv_row)
        lib_form.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
        lib_form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        model_box = QGroupBox("Model")
        form = QFormLayout(model_box)
        form.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        form.addRow("Features", self.features)
        for text, spin, key in (("Epochs", self.epochs, "epochs"), ("Batch size", self.batch_size, "batch_size"),
                                ("Learning rate", self.lr, "lr"), ("Margin", self.margin, "margin"),
                                ("Audio views", self.n_views, "n_views"),
                                ("Window views", self.window_views, "window_views"),
                                ("Eval folds", self.eval_folds, "eval_folds")):
            label = self._label(text)
            label.setToolTip(settings.TRAINING_HELP[key])
            form.addRow(label, spin)
        form.addRow("Device", self.device)
        form.addRow("", self.device_info)
        self.features.setMinimumContentsLength(12)
        self.features.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.summary_worker = LatestOnly("folder-summary", self)
        self.summary_worker.result.connect(self.summary.setText)
        self._summary_timer = QTimer(self)
        self._summary_timer.setSingleShot(True)
        self._summary_timer.setInterval(300)
        self._summary_timer.timeout.connect(self._summarise)
        self.folder.textChanged.connect(lambda _t: self._summary_timer.start())

        # run
        self.train_button = QPushButton("Train on this folder")
        self.train_button.setObjectName("primary")
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_training)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button, 1)
        buttons.addWidget(self.cancel_button)
        self.stage = QLabel("Not training.")
        self.stage.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.eta = QLabel("")
        self.eta.setObjectName("hint")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)

        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setMinimumHeight(150)
        self.loss_plot.setMaximumHeight(220)
        self.loss_plot.setMenuEnabled(False)
        self.loss_plot.hideButtons()
        self.loss_plot.setLabel("left", "loss")
        self.loss_plot.setLabel("bottom", "epoch")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.15)
        self.loss_plot.setMouseEnabled(False, False)
        self.loss_plot.getAxis("left").enableAutoSIPrefix(False)
        self.loss_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen(theme.ACCENT, width=2), symbol="o",
                                              symbolSize=5, symbolBrush=theme.ACCENT, symbolPen=None)

        self.eval_table = QTableWidget(2, len(METRIC_NAMES))
        self.eval_table.setHorizontalHeaderLabels([m[1] for m in METRIC_NAMES])
        self.eval_table.setVerticalHeaderLabels(["In-sample", "Held-out"])
        self.eval_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.eval_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.eval_table.setFixedHeight(96)
        self.eval_table.setToolTip("Fine-tuned model, with the raw backbone features in brackets")
        self.eval_note = QLabel("Evaluation numbers appear after training (fine-tuned, raw backbone in brackets).")
        self.eval_note.setObjectName("hint")
        self.eval_note.setWordWrap(True)

        self.skipped_label = QLabel("Skipped files: none")
        self.skipped_label.setWordWrap(True)
        self.skipped_list = QListWidget()
        self.skipped_list.setWordWrap(True)  # the reason is read in full, not cut off
        self.skipped_list.setMaximumHeight(140)
        self.skipped_list.setVisible(False)

        run_box = QGroupBox("Training")
        rl = QVBoxLayout(run_box)
        rl.addLayout(buttons)
        rl.addWidget(self.stage)
        rl.addWidget(self.bar)
        rl.addWidget(self.eta)
        rl.addWidget(self.loss_plot)
        rl.addWidget(self.message)
        eval_box = QGroupBox("Evaluation")
        el = QVBoxLayout(eval_box)
        el.addWidget(self.eval_table)
        el.addWidget(self.eval_note)
        el.addWidget(self.skipped_label)
        el.addWidget(self.skipped_list)

        inner = QWidget()
        lay = QVBoxLayout(inner)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addWidget(lib_box)
        lay.addWidget(model_box)
        lay.addWidget(run_box)
        lay.addWidget(eval_box)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        scroll.setFrameShape(QScrollArea.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Expanding)
        self.setMinimumWidth(320)  # one setting per row: fits a 1280-px screen beside the main view
        evaluation_view.install(self)  # the result in words; the table behind "Details"

    # -- environment (filled from a worker) ---------------------------------------------------------
    @staticmethod
    def _spin(spin, key: str, value, decimals: int | None = None, step: float | None = None):
        if decimals is not None:
            spin.setDecimals(decimals)
        lo, hi = settings.TRAINING_RANGES[key]
        spin.setRange(lo, hi)
        if step is not None:
            spin.setSingleStep(step)
        spin.setValue(value)
        spin.setToolTip(settings.TRAINING_HELP[key])
        spin.setMinimumWidth(90)
        return spin

    def _summarise(self) -> None:
        folder = self.folder.text().strip()
        self.summary.setText("Counting files…" if folder else "")
        self.summary_worker.submit(lambda: folder_summary(folder))

    @staticmethod
    def _label(text: str) -> QLabel:
        label = QLabel(text)
        label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        return label

    def set_environment(self, env: dict) -> None:
        """``env``: {"backbones": {name: (ok, reason)}, "devices": str, "cuda": bool}."""
        status = env.get("backbones", {})
        model = self.features.model()
        for i in range(self.features.count()):
            name = self.features.itemData(i)
            problems = [f"{part}: {status[part][1]}" for part in name.split("+")
                        if part in status and not status[part][0]]
            item = model.item(i)
            item.setEnabled(not problems)
            base = dict(FEATURE_SETS)[name]
            item.setText(base if not problems else f"{base} (unavailable)")
            item.setToolTip("; ".join(problems) if problems else "")
        if not model.item(self.features.currentIndex()).isEnabled():
            for i in range(self.features.count()):
                if model.item(i).isEnabled():
                    self.features.setCurrentIndex(i)
                    break
        self.device_info.setText(env.get("devices", ""))
        cuda_item = self.device.model().item(2)
        cuda_item.setEnabled(bool(env.get("cuda")))
        cuda_item.setToolTip("" if env.get("cuda") else "No CUDA device detected")
        if not env.get("cuda") and self.device.currentData() == "cuda":
            self.device.setCurrentIndex(0)

    # -- values ---------------------------------------------------------------------------------------
    def values(self) -> dict:
        return {"references": self.folder.text().strip(), "labels_csv": self.labels_csv.text().strip(),
                "features": self.features.currentData(), "epochs": self.epochs.value(),
                "batch_size": self.batch_size.value(), "lr": self.lr.value(), "margin": self.margin.value(),
                "n_views": self.n_views.value(), "window_views": self.window_views.value(),
                "eval_folds": self.eval_folds.value(),
                "device": self.device.currentData()}

    def set_values(self, v: dict) -> None:
        if "references" in v:
            self.folder.setText(str(v["references"] or ""))
        if "labels_csv" in v:
            self.labels_csv.setText(str(v["labels_csv"] or ""))
        for key, combo in (("features", self.features), ("device", self.device)):
            if v.get(key):
                i = combo.findData(v[key])
                if i >= 0:
                    combo.setCurrentIndex(i)
        for key, spin in (("epochs", self.epochs), ("batch_size", self.batch_size), ("n_views", self.n_views),
                          ("window_views", self.window_views), ("eval_folds", self.eval_folds)):
            if v.get(key) is not None:
                spin.setValue(int(v[key]))
        for key, spin in (("lr", self.lr), ("margin", self.margin)):
            if v.get(key) is not None:
                spin.setValue(float(v[key]))

    def save_settings(self, s: QSettings) -> None:
        for key, value in self.values().items():
            settings.Keys.training(key).set(s, value)

    def load_settings(self, s: QSettings) -> None:
        self.set_values({k: settings.Keys.training(k).get(s) for k in settings.TRAINING_KEYS
                         if s.contains(f"training/{k}")})

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose your reference folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def choose_labels(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a labels CSV", self.folder.text(), "CSV (*.csv)")
        if path:
            self.labels_csv.setText(path)

    # -- running --------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def start_training(self) -> bool:
        if self.running:
            return False
        v = self.values()
        if not v["references"]:
            self._say("Choose the folder with your reference tracks first.", error=True)
            return False
        try:
            opts = self.options_factory(v)
        except (ValueError, TypeError) as exc:
            self._say(f"Check the settings: {exc}", error=True)
            return False
        self.losses = []
        self.skipped = {}
        self._train_started = None
        self.overall = OverallProgress(int(v["eval_folds"]))  # a fresh clock for every run (ETA after a cancel)
        self.loss_curve.setData([], [])
        self.loss_plot.setXRange(1, max(2, int(v["epochs"])), padding=0.02)
        self.skipped_list.clear()
        self.skipped_list.setVisible(False)
        self.skipped_label.setText("Skipped files: none")
        self._say("")
        self.stage.setText("Starting…")
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setFormat("%p%")
        self.eta.setText("")
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        device = v["device"]
        self.job = self.runner.start(lambda cancel: tasks.train_and_load(opts, device, cancel), "train",
                                     on_progress=self._on_progress, on_finished=self._on_finished,
                                     on_failed=self._on_failed, on_cancelled=self._on_cancelled)
        self.trainingStarted.emit()
        return True

    def cancel_training(self) -> None:
        if self.running and self.cancel_button.isEnabled():
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.stage.setText("Cancelling…")

    def _on_progress(self, p) -> None:
        if p.info.get("skipped"):
            self._add_skipped(p.info["skipped"], p.info.get("reason", ""))
        overall = getattr(self, "overall", None)
        if overall is not None:
            self.bar.setValue(int(round(1000 * overall.update(p.stage, p.done, p.total))))
            self.eta.setText(fmt_eta(overall.eta()))
        if p.stage == "extract":
            self.stage.setText(f"Extracting features: {p.done} / {p.total} files")
        elif p.stage == "train":
            self.stage.setText(p.message if p.done else "Training the embedding model…")
            if "loss" in p.info:
                self.losses.append(float(p.info["loss"]))
                self.loss_curve.setData(list(range(1, len(self.losses) + 1)), self.losses)
        elif p.stage == "evaluate":
            if p.info.get("epoch") is None:
                self.stage.setText(p.message)
        elif p.stage in BUSY_STAGES and p.message:
            self.stage.setText(p.message)
        if p.stage == "save" and self.cancel_button.isEnabled():
            # too late to cancel: the files are being written; a cancel now could not keep the old model
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Saving…")
        self.progress.emit(p)

    def _add_skipped(self, path: str, reason: str) -> None:
        if path in self.skipped:
            return
        self.skipped[path] = reason
        from pathlib import Path

        item = QListWidgetItem(f"{Path(path).name}: {reason}")
        item.setToolTip(f"{path}\n{reason}")
        self.skipped_list.addItem(item)
        self.skipped_list.setVisible(True)
        self.skipped_label.setText(f"Skipped files: {len(self.skipped)} (not usable; training goes on)")

    def _finish_ui(self) -> None:
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.bar.setRange(0, 1)
        self.bar.setFormat("%p%")
        self.eta.setText("")

    def _on_finished(self, outcome) -> None:
        self._finish_ui()
        self.bar.setValue(1)
        r = outcome.result
        for path, reason in r.skipped:
            self._add_skipped(path, reason)
        self.show_evaluation(r.evaluation)
        if r.loss_history and not self.losses:
            self.losses = list(r.loss_history)
            self.loss_curve.setData(list(range(1, len(self.losses) + 1)), self.losses)
        self.stage.setText(f"Done: {r.n_tracks} tracks, {r.n_labels} labels, {r.seconds:.0f} s. "
                           + (getattr(r, "guard_sentence", "") or "The new model is in use."))
        self._say(f"Model saved to {r.model_path}")
        self.modelTrained.emit(outcome)

    def _on_failed(self, message: str) -> None:
        self._finish_ui()
        self.bar.setValue(0)
        self.stage.setText("Training failed; the previous model is still in use.")
        self._say(message, error=True)
        self.trainingFailed.emit(message)

    def _on_cancelled(self) -> None:
        self._finish_ui()
        self.bar.setValue(0)
        self.stage.setText("Cancelled. The previous model and index are still in use.")
        self.trainingCancelled.emit()

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {theme.BAD};" if error else f"color: {theme.MUTED};")

    def show_evaluation(self, ev: dict | None) -> None:
        ev = ev or {}
        for row, key in enumerate(("in_sample", "held_out")):
            block = ev.get(key) or {}
            ft, raw = block.get("finetuned", {}), block.get("raw", {})
            for col, (metric, _label) in enumerate(METRIC_NAMES):
                text = "—" if not block else f"{_fmt_metric(ft.get(metric))}  ({_fmt_metric(raw.get(metric))})"
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignCenter)
                colour = cell_colour(ev, key, ft.get(metric), raw.get(metric)) if block else None
                if colour is not None:  # never green for worse-than-raw, in-sample never coloured
                    item.setForeground(QColor(colour))
                self.eval_table.setItem(row, col, item)
        self.evaluation_view.show_evaluation(ev)
        if ev:
            folds = (ev.get("held_out") or {}).get("folds")
            self.eval_note.setText(f"{ev.get('n_tracks', '?')} tracks, {ev.get('n_labels', '?')} labels "
                                   f"({ev.get('label_source', '')})" + (f"; held-out: {folds} folds" if folds else
                                                                        "; held-out: not run"))

    def shutdown(self) -> None:
        self.summary_worker.shutdown()
        self.runner.shutdown()
