"""The training result in words (issue 8): which labels the model learned from, the quality guard's
decision and the evaluation as one sentence; the numbers table sits behind a "Details" toggle.

``install(panel)`` puts the view at the top of the training panel's Evaluation box and moves the
panel's table and note into the details; ``panel.show_evaluation`` calls ``show_evaluation`` here.
Colours: a held-out number is green only when the trained model is in use and not worse than the raw
backbone; in-sample numbers (always flattering: the model saw those tracks) are never coloured."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QLabel, QToolButton, QVBoxLayout, QWidget

from trance_finder.gui import theme

SOURCE_NAMES = {"labels.csv": "your labels.csv", "folders": "the sub-folders", "genre tags": "the genre tags",
                "clusters": "clusters found in the sound", "none": "no styles (views only)"}


def head_trusted(ev: dict) -> bool:
    """The trained model is in use and the guard did not find it worse than raw."""
    guard = ev.get("guard") or {}
    return bool(ev.get("head_in_use", True)) and guard.get("verdict") != "worse" and guard.get("use_head") is not False


def cell_colour(ev: dict, block: str, ft, raw) -> str | None:
    """Colour of one "fine-tuned (raw)" cell, or None: never green for worse-than-raw."""
    if block != "held_out" or ft is None or raw is None:
        return None
    try:
        better = float(ft) >= float(raw)
    except (TypeError, ValueError):
        return None
    return theme.GOOD if better and head_trusted(ev) else theme.ACCENT_2


class EvaluationView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.source = QLabel("")
        self.source.setWordWrap(True)
        self.guard = QLabel("")
        self.guard.setWordWrap(True)
        self.summary = QLabel("Train on your reference folder to see how well the model finds your styles.")
        self.summary.setWordWrap(True)
        self.summary.setObjectName("hint")
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("The numbers behind the sentence: precision@5, silhouette and NMI, "
                                       "fine-tuned with the raw backbone in brackets")
        self.details = QWidget()
        self.details_layout = QVBoxLayout(self.details)
        self.details_layout.setContentsMargins(0, 0, 0, 0)
        self.details.setVisible(False)
        self.details_button.toggled.connect(self._toggle)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.source)
        lay.addWidget(self.guard)
        lay.addWidget(self.summary)
        lay.addWidget(self.details_button)
        lay.addWidget(self.details)
        for w in (self.source, self.guard):
            w.setVisible(False)

    def _toggle(self, on: bool) -> None:
        self.details.setVisible(on)
        self.details_button.setText("Hide details" if on else "Details")

    def show_evaluation(self, ev: dict | None) -> None:
        ev = ev or {}
        if not ev:
            for w in (self.source, self.guard):
                w.setVisible(False)
            return
        src = ev.get("label_source", "")
        sentence = ev.get("label_sentence", "")
        self.source.setText(f"<b>Styles:</b> {html.escape(sentence)}" if sentence else
                            f"<b>Styles learned from:</b> {SOURCE_NAMES.get(src, src or 'unknown')}.")
        self.source.setToolTip(f"Label source: {SOURCE_NAMES.get(src, src or 'unknown')}")
        self.source.setVisible(True)
        guard = ev.get("guard_sentence", "")
        self.guard.setText(guard)
        self.guard.setVisible(bool(guard))
        self.guard.setStyleSheet(f"color: {theme.TEXT if head_trusted(ev) else theme.ACCENT_2};")
        self.summary.setText(ev.get("summary", "") or "No held-out test was run (too few tracks with a shared "
                                                       "style, or Eval folds set to 0).")


def install(panel) -> EvaluationView:
    """Put the view at the top of the panel's Evaluation box; its table and note go into the details."""
    box = panel.eval_table.parentWidget().layout()
    view = EvaluationView()
    box.insertWidget(0, view)
    for w in (panel.eval_table, panel.eval_note):
        box.removeWidget(w)
        view.details_layout.addWidget(w)
    panel.evaluation_view = view
    return view
