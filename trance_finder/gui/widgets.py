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
