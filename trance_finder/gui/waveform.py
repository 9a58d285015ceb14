"""Waveform overview with a playhead; click (or drag) to seek. Peaks are computed in a worker
(``tasks.waveform_peaks``); this widget only paints them."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from trance_finder.gui import theme

LABEL_W = 34


def fmt_time(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60}:{s % 60:02d}"


class WaveformView(QWidget):
    seekRequested = Signal(float)  # noqa: N815 - fraction 0..1

    def __init__(self, tag: str = "A", colour: str = theme.ACCENT, placeholder: str = "", parent=None):
        super().__init__(parent)
        self.tag = tag
        self.colour = QColor(colour)
        self.placeholder = placeholder
        self.title = ""
        self.peaks: np.ndarray | None = None
        self.duration = 0.0
        self.fraction = 0.0
        self.active = False
        self.loading = False
        self._polygon: QPolygonF | None = None
        self._poly_size = QSize()
        self.setMinimumHeight(54)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        self.setCursor(Qt.PointingHandCursor)
        self.setToolTip("Click to play from here")

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(600, 64)

    # -- state ------------------------------------------------------------------------------------
    def set_audio(self, title: str, peaks, duration: float) -> None:
        self.title = title
        self.peaks = None if peaks is None else np.asarray(peaks, dtype=np.float32)
        self.duration = float(duration)
        self.loading = False
        self._polygon = None
        self.update()

    def set_loading(self, title: str) -> None:
        self.title = title
        self.loading = True
        self.peaks = None
        self._polygon = None
        self.update()

    def clear(self) -> None:
        self.title, self.peaks, self.duration, self.loading, self._polygon = "", None, 0.0, False, None
        self.fraction = 0.0
        self.update()

    def set_fraction(self, fraction: float) -> None:
        fraction = float(np.clip(fraction, 0.0, 1.0))
        if abs(fraction - self.fraction) > 1e-5:
            self.fraction = fraction
            self.update()

    def set_active(self, active: bool) -> None:
        if active != self.active:
            self.active = active
            self.update()

    @property
    def has_audio(self) -> bool:
        return self.peaks is not None

    # -- painting -----------------------------------------------------------------------------------
    def _wave_rect(self) -> QRectF:
        return QRectF(self.rect()).adjusted(LABEL_W, 4, -6, -4)

    def _build_polygon(self, r: QRectF) -> QPolygonF:
        peaks = self.peaks
        n = len(peaks)
        width = max(2, int(r.width()))
        # resample the peaks to at most one column per pixel (max of max, min of min)
        edges = np.linspace(0, n, min(width, n) + 1).astype(np.int64)
        lo = np.minimum.reduceat(peaks[:, 0], edges[:-1])
        hi = np.maximum.reduceat(peaks[:, 1], edges[:-1])
        scale = max(1e-6, float(np.max(np.abs(peaks))))
        xs = r.left() + (np.arange(len(lo)) + 0.5) * r.width() / len(lo)
        mid, half = r.center().y(), r.height() / 2 * 0.95
        top = [QPointF(x, mid - h / scale * half) for x, h in zip(xs, hi)]
        bottom = [QPointF(x, mid - v / scale * half) for x, v in zip(xs[::-1], lo[::-1])]
        return QPolygonF(top + bottom)

    def paintEvent(self, _event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing, True)
        full = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QPen(QColor(self.colour if self.active else theme.BORDER), 1.5 if self.active else 1))
        p.setBrush(QColor(theme.BASE))
        p.drawRoundedRect(full, 6, 6)
        # slot tag
        tag_rect = QRectF(full.left(), full.top(), LABEL_W - 4, full.height())
        f = QFont(self.font())
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() + 1)
        p.setFont(f)
        p.setPen(QColor(self.colour if self.active else theme.MUTED))
        p.drawText(tag_rect, Qt.AlignCenter, self.tag)
        p.setFont(self.font())
        r = self._wave_rect()
        if self.peaks is None:
            p.setPen(QColor(theme.MUTED))
            text = f"Decoding {self.title}…" if self.loading else self.placeholder
            p.drawText(r, Qt.AlignVCenter | Qt.AlignLeft, text)
            p.end()
            return
        if self._polygon is None or self._poly_size != self.size():
            self._polygon, self._poly_size = self._build_polygon(r), self.size()
        played_x = r.left() + self.fraction * r.width()
        base = QColor(self.colour)
        base.setAlphaF(0.85 if self.active else 0.45)
        dim = QColor(base)
        dim.setAlphaF(0.28 if self.active else 0.18)
        path = QPainterPath()
        path.addPolygon(self._polygon)
        p.setPen(Qt.NoPen)
        p.save()
        p.setClipRect(QRectF(r.left(), r.top(), played_x - r.left(), r.height()))
        p.fillPath(path, base)
        p.restore()
        p.save()
        p.setClipRect(QRectF(played_x, r.top(), r.right() - played_x, r.height()))
        p.fillPath(path, dim)
        p.restore()
        # title and time
        p.setPen(QColor(theme.TEXT))
        small = QFont(self.font())
        small.setPointSizeF(max(7.5, small.pointSizeF() - 1))
        p.setFont(small)
        label = f"{self.title}   {fmt_time(self.fraction * self.duration)} / {fmt_time(self.duration)}"
        p.drawText(r.adjusted(6, 2, -6, -2), Qt.AlignTop | Qt.AlignLeft, label)
        # playhead
        p.setPen(QPen(QColor("#ffffff" if self.active else theme.MUTED), 1.5))
        p.drawLine(QLineF(played_x, r.top(), played_x, r.bottom()))
        p.end()

    # -- seeking ------------------------------------------------------------------------------------
    def _fraction_at(self, x: float) -> float:
        r = self._wave_rect()
        return float(np.clip((x - r.left()) / max(1.0, r.width()), 0.0, 1.0))

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton and self.peaks is not None:
            frac = self._fraction_at(event.position().x())
            self.set_fraction(frac)
            self.seekRequested.emit(frac)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if event.buttons() & Qt.LeftButton and self.peaks is not None:
            frac = self._fraction_at(event.position().x())
            self.set_fraction(frac)
            self.seekRequested.emit(frac)
            return
        super().mouseMoveEvent(event)
