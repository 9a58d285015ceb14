"""Waveform overview with a playhead, song sections and a loop. Peaks are computed in a worker
(``tasks.waveform_peaks``); this widget only paints them.

* Click in the waveform: ``seekRequested(fraction)``.
* Sections (``set_sections(TrackSections | None)``): coloured, labelled regions (intro, breakdown, build,
  drop, outro; repeats numbered "drop 2") in a strip along the top; a click in the strip emits
  ``sectionClicked(Section)``.
* Drag across the waveform: ``loopRequested(start_s, end_s)`` on release (snapped to bar lines when the
  sections are known); double-click: ``loopCleared()``. ``set_loop(start, end)`` / ``set_loop(None)``
  draws the active loop (the owner decides: the view only asks).
* The label at the playhead shows the time and, with sections, the bar number and the tempo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from trance_finder.gui import theme

if TYPE_CHECKING:  # core.sections pulls scipy: not before the window shows
    from trance_finder.core.sections import Section, TrackSections

LABEL_W = 34
STRIP_H = 15  # section strip height (px)
DRAG_PX = 5  # a press that moves further than this is a loop drag, not a click

#: region colours per section label (muted on the dark base; labels stay readable)
SECTION_COLORS = {"intro": "#4c7bd9", "breakdown": "#8e5bd6", "build": "#d9a23c", "drop": "#d9475b",
                  "outro": "#4aa88a"}


def section_color(label: str) -> QColor:
    return QColor(SECTION_COLORS.get(label, theme.MUTED))


def fmt_time(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60}:{s % 60:02d}"


class WaveformView(QWidget):
    seekRequested = Signal(float)  # noqa: N815 - fraction 0..1
    sectionClicked = Signal(object)  # noqa: N815 - the Section clicked in the strip
    loopRequested = Signal(float, float)  # noqa: N815 - seconds, from a drag
    loopCleared = Signal()  # noqa: N815 - double-click

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
        self._poly_size = None
        self.sections: TrackSections | None = None
        self.loop: tuple[float, float] | None = None
        self._press_x: float | None = None
        self._drag: tuple[float, float] | None = None  # fractions while dragging a loop
        self.setMinimumHeight(54)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        self.setCursor(Qt.PointingHandCursor)
        self.setToolTip("Click to play from here · drag to loop (snaps to bars) · double-click clears the loop"
                        " · click a section label to jump to it")

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
        self.sections, self.loop, self._drag = None, None, None
        self.update()

    def set_sections(self, sections: TrackSections | None) -> None:
        self.sections = sections
        self.update()

    def set_loop(self, start: float | None, end: float | None = None) -> None:
        """Draw the active loop (seconds); ``None`` removes it."""
        self.loop = None if start is None or end is None else (float(start), float(end))
        self.update()

    def section_at_x(self, x: float) -> Section | None:
        if self.sections is None or self.duration <= 0:
            return None
        return self.sections.section_at(self._fraction_at(x) * self.duration)

    def section_rect(self, section: Section) -> QRectF:
        """The section's label region in the strip (widget coordinates)."""
        r = self._wave_rect()
        d = max(1e-9, self.duration)
        x0 = r.left() + np.clip(section.start / d, 0, 1) * r.width()
        x1 = r.left() + np.clip(section.end / d, 0, 1) * r.width()
        return QRectF(x0, r.top(), max(1.0, x1 - x0), STRIP_H)

    def playhead_text(self) -> str:
        t = self.fraction * self.duration
        text = f"{fmt_time(t)} / {fmt_time(self.duration)}"
        if self.sections is not None and self.sections.tempo > 0:
            text += f"   bar {max(0, self.sections.bar_at(t))} · {self.sections.tempo:.1f} BPM"
            sec = self.sections.section_at(t)
            if sec is not None:
                text += f" · {sec.name}"
        return text

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
        body = r.adjusted(0, STRIP_H + 1, 0, 0) if self.sections is not None else r  # the strip stays readable
        key = (self.size(), self.sections is not None)
        if self._polygon is None or self._poly_size != key:
            self._polygon, self._poly_size = self._build_polygon(body), key
        played_x = r.left() + self.fraction * r.width()
        base = QColor(self.colour)
        base.setAlphaF(0.85 if self.active else 0.45)
        dim = QColor(base)
        dim.setAlphaF(0.28 if self.active else 0.18)
        self._paint_sections(p, r)
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
        label = f"{self.title}   {self.playhead_text()}"
        p.drawText(r.adjusted(6, 2 + (STRIP_H if self.sections else 0), -6, -2), Qt.AlignTop | Qt.AlignLeft, label)
        # playhead
        p.setPen(QPen(QColor("#ffffff" if self.active else theme.MUTED), 1.5))
        p.drawLine(QLineF(played_x, r.top(), played_x, r.bottom()))
        p.end()

    def _paint_sections(self, p: QPainter, r: QRectF) -> None:
        d = self.duration
        if d <= 0:
            return
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() - 1.5))
        if self.sections is not None:
            for sec in self.sections.sections:
                box = self.section_rect(sec)
                col = section_color(sec.label)
                body = QColor(col)
                body.setAlphaF(0.13)
                p.fillRect(QRectF(box.left(), r.top(), box.width(), r.height()), body)
                strip = QColor(col)
                strip.setAlphaF(0.75)
                p.fillRect(box.adjusted(0.5, 0, -0.5, 0), strip)
                if box.width() > 18:
                    p.setFont(small)
                    p.setPen(QColor("#0d1013"))
                    p.drawText(box.adjusted(3, 0, -2, 0), Qt.AlignVCenter | Qt.AlignLeft,
                               sec.name if box.width() > 46 else sec.label[:1].upper() + str(sec.index))
        span = None
        if self._drag is not None:
            span = sorted(self._drag)
        elif self.loop is not None:
            span = [self.loop[0] / d, self.loop[1] / d]
        if span is not None:
            x0 = r.left() + float(np.clip(span[0], 0, 1)) * r.width()
            x1 = r.left() + float(np.clip(span[1], 0, 1)) * r.width()
            fill = QColor("#ffffff")
            fill.setAlphaF(0.12)
            p.fillRect(QRectF(x0, r.top(), max(1.0, x1 - x0), r.height()), fill)
            p.setPen(QPen(QColor("#ffffff"), 1.2, Qt.DashLine))
            p.drawLine(QLineF(x0, r.top(), x0, r.bottom()))
            p.drawLine(QLineF(x1, r.top(), x1, r.bottom()))

    # -- seeking, sections, loops ----------------------------------------------------------------------
    def _fraction_at(self, x: float) -> float:
        r = self._wave_rect()
        return float(np.clip((x - r.left()) / max(1.0, r.width()), 0.0, 1.0))

    def _in_strip(self, y: float) -> bool:
        r = self._wave_rect()
        return self.sections is not None and r.top() <= y <= r.top() + STRIP_H

    def _snap(self, seconds: float) -> float:
        """The nearest bar line (with sections), clipped to the file."""
        ts = self.sections
        if ts is None or ts.bar_seconds <= 0:
            return float(np.clip(seconds, 0.0, self.duration))
        bar = round((seconds - ts.first_downbeat) / ts.bar_seconds)
        return float(np.clip(ts.first_downbeat + bar * ts.bar_seconds, 0.0, self.duration))

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton and self.peaks is not None:
            pos = event.position()
            self._press_x = pos.x()
            self._drag = None
            if self._in_strip(pos.y()):
                sec = self.section_at_x(pos.x())
                if sec is not None:
                    self.sectionClicked.emit(sec)
                    self._press_x = None
                    event.accept()
                    return
            frac = self._fraction_at(pos.x())
            self.set_fraction(frac)
            self.seekRequested.emit(frac)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if event.buttons() & Qt.LeftButton and self.peaks is not None and self._press_x is not None:
            x = event.position().x()
            if self._drag is not None or abs(x - self._press_x) > DRAG_PX:
                self._drag = (self._fraction_at(self._press_x), self._fraction_at(x))
                self.update()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton and self._drag is not None:
            a, b = sorted(self._drag)
            self._drag, self._press_x = None, None
            start, end = self._snap(a * self.duration), self._snap(b * self.duration)
            if end <= start and self.sections is not None:  # a drag inside one bar: that bar
                end = min(self.duration, start + self.sections.bar_seconds)
            if end > start:
                self.loopRequested.emit(start, end)
            self.update()
            event.accept()
            return
        self._press_x = None
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton:
            self._drag = None
            self.loopCleared.emit()
            event.accept()
            return
        super().mouseDoubleClickEvent(event)
