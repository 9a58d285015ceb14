"""Small widgets shared by the panels."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy


class ElidedLabel(QLabel):
    """One line of text, shortened with an ellipsis to the width it gets (full text in the tooltip)."""

    def __init__(self, text: str = "", mode=Qt.ElideMiddle, parent=None):
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setMinimumWidth(40)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        self._full = str(text)
        self.setToolTip(self._full)
        self._refresh()

    def text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._refresh()

    def changeEvent(self, event) -> None:  # noqa: N802 - the style sheet sets the font after construction
        super().changeEvent(event)
        self._refresh()

    def _refresh(self) -> None:
        width = max(10, self.width() - 2)
        QLabel.setText(self, self.fontMetrics().elidedText(self._full, self._mode, width))


def card(title: str | None = None):
    """A rounded panel with an optional heading; returns (frame, its vertical layout)."""
    from PySide6.QtWidgets import QFrame, QVBoxLayout

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


def stat(name: str):
    """A small caption over a value label; returns (widget, value label)."""
    from PySide6.QtWidgets import QVBoxLayout, QWidget

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
    import html

    if not items:
        return ""
    style = (f"background-color:{colour}22; color:{colour}; border:1px solid {colour}66; "
             "border-radius:8px; padding:1px 6px;")
    return " ".join(f"<span style='{style}'>&nbsp;{html.escape(str(t))}&nbsp;</span>" for t in items)
