"""The top of the window: the banner (first start, demo, errors), the drop overlay and the query header
(the WIP's name, length, loudness, tempo, predicted cluster). The header renders ``AppState.wip``:
while a new WIP is analysed nothing of the previous one is shown; a rejected file clears it."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
)

from trance_finder.gui import theme
from trance_finder.gui.results import fmt_duration
from trance_finder.gui.widgets import ElidedLabel, card, stat

DROP_HINT = "Drop your WIP here"
DROP_SUB = "Drag a bounce onto the window, or File › Open… (Ctrl+O)"
ANALYSING = "analysing…"


def fmt_lufs(lufs) -> str:
    return "—" if lufs is None or not math.isfinite(float(lufs)) else f"{float(lufs):.1f} LUFS"


def fmt_loudness(value, exact: bool, windows: int) -> tuple[str, str]:
    """(text, tooltip) for the loudness stat: an estimate is marked with ≈ until the exact value arrives."""
    if value is None:
        return "—", ""
    if exact:
        return fmt_lufs(value), "Integrated loudness of the whole file (EBU R128)."
    source = f"{windows} analysis windows" if windows else "the analysis windows"
    return f"≈ {fmt_lufs(value)}", (f"Estimate from {source}; the exact whole-file value replaces it once the "
                                    "file is decoded.")


class Banner(QFrame):
    """The strip under the menu: first-start guidance, demo state, or an error."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.RichText)
        self.text.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(220)
        self.bar.setVisible(False)
        self.own_button = QPushButton("Use my own references…")
        self.own_button.setObjectName("primary")
        self.demo_wip_button = QPushButton("Try the demo WIP")
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Hide this message")
        self.close_button.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 6, 8, 6)
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


class QueryHeader(QFrame):
    """Title, folder, Length / Loudness / Tempo, predicted cluster with confidence, and errors."""

    def __init__(self, parent=None):
        super().__init__(parent)
        frame, ql = card()
        self.setObjectName("cardHost")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(frame)
        # row 1: the WIP's name gets the whole width (never squeezed to "..." by the numbers)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(0)
        self.title = ElidedLabel(DROP_HINT, Qt.ElideMiddle)
        self.title.setObjectName("title")
        self.sub = ElidedLabel(DROP_SUB, Qt.ElideMiddle)
        self.sub.setObjectName("muted")
        titles.addWidget(self.title)
        titles.addWidget(self.sub)
        head.addLayout(titles, 1)
        self.open_button = QPushButton("Open WIP…")
        head.addWidget(self.open_button, 0, Qt.AlignTop)
        ql.addLayout(head)
        # row 2: Length / Loudness / Tempo, then the predicted cluster
        numbers = QHBoxLayout()
        self.stats = {}
        for key, name in (("duration", "Length"), ("lufs", "Loudness"), ("tempo", "Tempo")):
            w, value = stat(name)
            self.stats[key] = value
            numbers.addWidget(w)
            numbers.addSpacing(16)
        numbers.addStretch(1)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumHeight(6)
        self.busy.setTextVisible(False)
        self.busy.setVisible(False)
        ql.addWidget(self.busy)
        cl = numbers
        caption = QLabel("Predicted cluster")
        caption.setObjectName("statname")
        self.cluster = ElidedLabel("—", Qt.ElideRight)
        self.cluster.setObjectName("cluster")
        self.cluster.setMinimumWidth(90)
        cluster_box = QVBoxLayout()
        cluster_box.setSpacing(0)
        self.confidence = QProgressBar()
        self.confidence.setRange(0, 100)
        self.confidence.setValue(0)
        self.confidence.setFormat("%p% confidence")
        self.confidence.setMaximumWidth(180)
        self.confidence.setMaximumHeight(16)
        self.confidence.setVisible(False)
        cluster_box.addWidget(caption)
        cluster_box.addWidget(self.cluster)
        cluster_box.addWidget(self.confidence)
        cl.addLayout(cluster_box, 1)
        ql.addLayout(cl)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.BAD};")
        self.error.setVisible(False)
        ql.addWidget(self.error)

    # -- render --------------------------------------------------------------------------------------
    def render(self, wip, model_ready: bool) -> None:
        """Show ``wip`` (an ``AppState.WipState``): never a value that belongs to another file."""
        if wip.path is None:
            self.title.setText(DROP_HINT)
            self.sub.setText(DROP_SUB)
            self._blank("—")
            self.busy.setVisible(False)
            self.error.setVisible(False)
            return
        self.title.setText(wip.name)
        self.error.setVisible(wip.status == "failed")
        self.error.setText(wip.error)
        self.busy.setVisible(wip.status in ("waiting", "analysing"))
        if wip.status == "waiting":
            self.sub.setText("Waiting for the model to open; the WIP is analysed right after.")
            self._blank(ANALYSING)
        elif wip.status == "analysing":
            self.sub.setText("Analysing…")
            self._blank(ANALYSING)
        elif wip.status == "failed":
            self.sub.setText("Could not analyse this file.")
            self._blank("—")
        else:
            self._show_outcome(wip)

    def _blank(self, text: str) -> None:
        for v in self.stats.values():
            v.setText("—" if text == "—" else "…")
            v.setToolTip("")
        self.cluster.setText(text)
        self.confidence.setVisible(False)
        self.confidence.setValue(0)

    def _show_outcome(self, wip) -> None:
        out = wip.outcome
        r = out.result
        q = r.query
        self.sub.setText(str(Path(out.path).parent))
        self.stats["duration"].setText(fmt_duration(q.duration) if q else "—")
        text, tip = fmt_loudness(*wip.loudness())
        self.stats["lufs"].setText(text)
        self.stats["lufs"].setToolTip(tip)
        tempo = q.dna.get("tempo") if q else None
        self.stats["tempo"].setText("—" if tempo is None else f"{float(tempo):.1f} BPM")
        word = getattr(r, "confidence_word", "")
        self.cluster.setText(r.cluster or "—")
        self.confidence.setFormat(f"{word} · %p%" if word else "%p% confidence")
        self.confidence.setValue(int(round(100 * r.confidence)))
        self.confidence.setVisible(bool(r.cluster))
        from trance_finder.core.calibration import CONFIDENCE_TOOLTIP

        others = [k for k, _v in sorted(r.cluster_scores.items(), key=lambda kv: -kv[1]) if k != r.cluster][:3]
        self.confidence.setToolTip(CONFIDENCE_TOOLTIP + ("" if getattr(r, "calibrated", False) else
                                                         " (This model has no held-out calibration yet.)")
                                   + (f"\nNext closest: {', '.join(others)}" if others else ""))
