"""The A/B panel: the WIP's and the reference's waveforms with their sections, a transport, and section
jumps that compare like with like (the WIP's drop 1 against the reference's drop 1), looped and
loudness-matched on the looped passages.

API for the main window::

    panel = ABPanel(player_or_None, parent=None)
    panel.set_wip(buffer, samplerate, title, sections, lufs=None, peaks=None)
    panel.set_reference(buffer, samplerate, title, sections, lufs=None, peaks=None)
    panel.clear_wip(); panel.clear_reference()
    panel.jump_to_section(n)          # the WIP's n-th section (1-based; keys 1-9 do the same)
    panel.jump_to(section)            # a WIP Section
    panel.set_loop_bars(4 | 8 | 16)   # default 8
    signals: statusMessage(str), sectionJumped(object wip Section, object ref Section | None),
             loopChanged(), seekRequested(str slot, float fraction)

``buffer`` is (frames, channels) float32 at the player's rate (what ``Player.set_source`` takes; mono
(frames,) works); with no player it may be None (the waveform then needs ``peaks``, the duration comes
from the sections) or any rate. ``sections`` is a ``core.sections.TrackSections`` or None (no regions,
no jumps). ``lufs`` is the whole file's loudness (the match before any loop is set).

Behaviour: a click on a WIP section label (or keys 1-9, or the section menu) finds the reference's
matching section (``core.sections.matching_section``: same label and number, else same label, else the
closest in content), loops both for N bars from their first bar line (``loop_bounds``), measures the
two looped passages (BS.1770, from the buffers) and hands those loudnesses to the player, so the gain
match is between the loops; the gains applied are shown. Playback starts on the active side at its
loop start; A/B keeps the place inside the loops. A click on a reference section does the same the
other way round. Dragging across a waveform sets a free loop on that side (snapped to bars), a
double-click clears the loops. Without a player everything but the sound works (regions, menu, jumps
shown as loop regions, status text).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QFrame, QLabel, QPushButton, QVBoxLayout
from superqt import QFlowLayout

from trance_finder.core.audio import integrated_lufs
from trance_finder.core.sections import Section, TrackSections, loop_bounds, matching_section
from trance_finder.gui import theme
from trance_finder.gui.waveform import WaveformView, fmt_time
from trance_finder.gui.widgets import card

log = logging.getLogger(__name__)
LOOP_CHOICES = (4, 8, 16)
WAVEFORM_BINS = 4000


def fmt_gain(db: float) -> str:
    return f"{db:+.1f} dB"


def _peaks(buffer: np.ndarray, bins: int = WAVEFORM_BINS) -> np.ndarray:
    mono = buffer if buffer.ndim == 1 else buffer.mean(axis=1)
    n = len(mono)
    if n == 0:
        return np.zeros((1, 2), np.float32)
    bins = max(1, min(bins, n))
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    return np.stack([np.minimum.reduceat(mono, edges[:-1]), np.maximum.reduceat(mono, edges[:-1])],
                    axis=1).astype(np.float32)


class _Side:
    """What the panel knows about one slot."""

    def __init__(self):
        self.buffer: np.ndarray | None = None
        self.samplerate = 0.0
        self.title = ""
        self.sections: TrackSections | None = None
        self.duration = 0.0
        self.loop: tuple[float, float] | None = None
        self.loop_lufs: float | None = None

    def passage_lufs(self, start: float, end: float) -> float | None:
        if self.buffer is None or self.samplerate <= 0:
            return None
        a, b = int(start * self.samplerate), int(end * self.samplerate)
        buf = self.buffer[a:b]
        if buf.ndim == 1:
            buf = buf[:, None]
        value = integrated_lufs(buf.T, int(round(self.samplerate)))
        return value if math.isfinite(value) else None


class ABPanel(QFrame):
    statusMessage = Signal(str)  # noqa: N815
    sectionJumped = Signal(object, object)  # noqa: N815 - (WIP Section, reference Section | None)
    loopChanged = Signal()  # noqa: N815
    seekRequested = Signal(str, float)  # noqa: N815 - slot, fraction (also applied to the player here)

    def __init__(self, player=None, parent=None):
        super().__init__(parent)
        self.player = player
        self.sides = {"A": _Side(), "B": _Side()}
        self.loop_bars = 8
        self.current: tuple[Section, Section | None] | None = None  # the last section jump (WIP, ref)
        self.setFocusPolicy(Qt.StrongFocus)
        frame, wl = card()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(frame)
        self.wave_a = WaveformView("A", theme.ACCENT, "Your WIP's waveform and sections appear here")
        self.wave_b = WaveformView("B", theme.ACCENT_2, "Select a reference to compare section by section")
        for slot, wave in (("A", self.wave_a), ("B", self.wave_b)):
            wave.seekRequested.connect(lambda f, s=slot: self.seek(s, f))
            wave.loopRequested.connect(lambda a, b, s=slot: self.set_free_loop(s, a, b))
            wave.loopCleared.connect(self.clear_loops)
        self.wave_a.sectionClicked.connect(self.jump_to)
        self.wave_b.sectionClicked.connect(self._reference_section_clicked)
        self.play_wip_button = QPushButton("▶  WIP")
        self.play_wip_button.setToolTip("Play / pause your WIP")
        self.play_wip_button.clicked.connect(lambda: self.play_slot("A"))
        self.play_ref_button = QPushButton("▶  Reference")
        self.play_ref_button.setToolTip("Play / pause the reference")
        self.play_ref_button.clicked.connect(lambda: self.play_slot("B"))
        self.ab_button = QPushButton("A / B")
        self.ab_button.setObjectName("primary")
        self.ab_button.setToolTip("Switch between WIP and reference; inside a loop you stay at the same bar")
        self.ab_button.clicked.connect(self.toggle_ab)
        self.stop_button = QPushButton("■")
        self.stop_button.setToolTip("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.section_menu = QComboBox()
        self.section_menu.setToolTip("Jump to a section of your WIP and the matching one of the reference "
                                     "(keys 1-9)")
        self.section_menu.activated.connect(lambda i: self.jump_to_section(i + 1))
        self.section_menu.setPlaceholderText("Sections")  # until a WIP with sections is loaded
        self.loop_menu = QComboBox()
        for n in LOOP_CHOICES:
            self.loop_menu.addItem(f"Loop {n} bars", n)
        self.loop_menu.setCurrentIndex(LOOP_CHOICES.index(8))
        self.loop_menu.setToolTip("Loop length of a section jump, from the section's first bar")
        self.loop_menu.currentIndexChanged.connect(lambda i: self.set_loop_bars(LOOP_CHOICES[i]))
        self.gain_label = QLabel("")
        self.gain_label.setObjectName("muted")
        self.time_label = QLabel("")
        self.time_label.setObjectName("muted")
        self.time_label.setVisible(player is not None)
        # a flow: in a narrow window the menus and the gain line wrap to the next line, so no button or
        # menu is squeezed below its text; the play position stays beside the buttons
        row = QFlowLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setHorizontalSpacing(8)
        row.setVerticalSpacing(6)
        for w in (*self.buttons, self.time_label, self.section_menu, self.loop_menu, self.gain_label):
            row.addWidget(w)
        wl.addWidget(self.wave_a)
        wl.addWidget(self.wave_b)
        wl.addLayout(row)
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self.refresh)
        if player is not None:
            self._timer.start()
        self._update_controls()

    @property
    def buttons(self):
        return (self.play_wip_button, self.play_ref_button, self.ab_button, self.stop_button)

    # -- content ----------------------------------------------------------------------------------------
    def _set_side(self, slot: str, buffer, samplerate, title, sections, lufs, peaks) -> None:
        again = self.current[0] if self.current is not None and slot == "B" else None
        was_playing = self.player is not None and self.player.playing
        side = self.sides[slot]
        wave = self.wave_a if slot == "A" else self.wave_b
        buf = None if buffer is None else np.asarray(buffer, dtype=np.float32)
        side.buffer, side.samplerate, side.title, side.sections = buf, float(samplerate or 0.0), title, sections
        side.loop, side.loop_lufs = None, None
        if buf is not None and side.samplerate > 0:
            side.duration = buf.shape[0] / side.samplerate
        else:
            side.duration = sections.duration if sections is not None else 0.0
        if peaks is None and buf is not None:
            peaks = _peaks(buf)
        if peaks is None:  # sections only: a flat line so the regions still show
            peaks = np.zeros((2, 2), np.float32)
        wave.set_audio(title, peaks, side.duration)
        wave.set_sections(sections)
        wave.set_loop(None)
        if self.player is not None:
            if buf is not None:
                if self.player.active == slot:
                    self.player.stop()
                self.player.set_source(buf, samplerate, 0.0, slot, title, lufs=lufs)
            else:
                self.player.clear(slot)
            self.player.clear_loop()
        for s in self.sides.values():
            s.loop, s.loop_lufs = None, None
        self.wave_a.set_loop(None)
        self.wave_b.set_loop(None)
        self.current = None
        self._update_controls()
        if again is not None and sections is not None and self.sides["A"].sections is not None:
            self._jump(again, matching_section(again, sections, self.sides["A"].sections) if sections.sections
                       else None, play=was_playing)  # a new reference: the same WIP section against its match

    def set_wip(self, buffer, samplerate, title: str, sections: TrackSections | None, lufs: float | None = None,
                peaks=None) -> None:
        self._set_side("A", buffer, samplerate, title, sections, lufs, peaks)
        self.section_menu.clear()
        for i, sec in enumerate(sections.sections if sections is not None else []):
            key = f"{i + 1} · " if i < 9 else ""
            self.section_menu.addItem(f"{key}{sec.name}  (bars {sec.start_bar}-{max(sec.start_bar, sec.end_bar - 1)})")
        self._update_controls()

    def set_reference(self, buffer, samplerate, title: str, sections: TrackSections | None,
                      lufs: float | None = None, peaks=None) -> None:
        self._set_side("B", buffer, samplerate, title, sections, lufs, peaks)

    def clear_wip(self) -> None:
        self._clear("A")
        self.section_menu.clear()
        self._update_controls()

    def clear_reference(self) -> None:
        self._clear("B")

    def _clear(self, slot: str) -> None:
        self.sides[slot] = _Side()
        (self.wave_a if slot == "A" else self.wave_b).clear()
        if self.player is not None:
            self.player.clear(slot)
            self.player.clear_loop()
        self.current = None
        self._update_controls()

    # -- section jumps --------------------------------------------------------------------------------
    def set_loop_bars(self, bars: int) -> None:
        self.loop_bars = int(bars)
        if self.loop_menu.currentData() != self.loop_bars and self.loop_bars in LOOP_CHOICES:
            self.loop_menu.setCurrentIndex(LOOP_CHOICES.index(self.loop_bars))
        if self.current is not None:
            self.jump_to(self.current[0])

    def jump_to_section(self, n: int) -> bool:
        """Jump to the WIP's section number ``n`` (1-based, in time order); False when there is none."""
        ts = self.sides["A"].sections
        if ts is None or not 1 <= n <= len(ts.sections):
            return False
        self.jump_to(ts.sections[n - 1])
        return True

    def jump_to(self, wip_section: Section) -> None:
        """Loop ``wip_section`` of the WIP and the matching section of the reference for N bars."""
        a, b = self.sides["A"], self.sides["B"]
        if a.sections is None:
            return
        ref = None
        if b.sections is not None and b.sections.sections:
            ref = matching_section(wip_section, b.sections, a.sections)
        self._jump(wip_section, ref)

    def _reference_section_clicked(self, ref_section: Section) -> None:
        a, b = self.sides["A"], self.sides["B"]
        if b.sections is None:
            return
        wip = None
        if a.sections is not None and a.sections.sections:
            wip = matching_section(ref_section, a.sections, b.sections)
        if wip is None:
            self._loop_side("B", loop_bounds(ref_section, b.sections, self.loop_bars))
            self._after_loops("B")
            self.statusMessage.emit(f"Looping the reference's {ref_section.name} for {self.loop_bars} bars")
            return
        self._jump(wip, ref_section)

    def _jump(self, wip_section: Section, ref_section: Section | None, play: bool = True) -> None:
        a, b = self.sides["A"], self.sides["B"]
        self.current = (wip_section, ref_section)
        a_secs = a.sections.sections if a.sections is not None else []
        if wip_section in a_secs:
            self.section_menu.setCurrentIndex(a_secs.index(wip_section))
        self._loop_side("A", loop_bounds(wip_section, a.sections, self.loop_bars))
        if ref_section is not None:
            self._loop_side("B", loop_bounds(ref_section, b.sections, self.loop_bars))
        elif self.player is not None and self.player.has_source("B"):
            self.player.clear_loop("B")
            b.loop = None
            self.wave_b.set_loop(None)
        self._after_loops(None, play)
        bars_a = self._bars_text("A")
        text = f"Looping your {wip_section.name} ({bars_a})"
        if ref_section is not None:
            same = ref_section.label == wip_section.label and ref_section.index == wip_section.index
            how = "" if same else " (closest match)" if ref_section.label != wip_section.label else \
                f" (no {wip_section.name} there)"
            text += f" against {b.title or 'the reference'}'s {ref_section.name}{how} ({self._bars_text('B')})"
        text += self._gain_text()
        self.statusMessage.emit(text)
        self.sectionJumped.emit(wip_section, ref_section)

    def _bars_text(self, slot: str) -> str:
        side = self.sides[slot]
        if side.loop is None or side.sections is None:
            return ""
        first = side.sections.bar_at(side.loop[0] + 1e-3)
        n = int(round((side.loop[1] - side.loop[0]) / side.sections.bar_seconds))
        return f"bars {first}-{first + n - 1}"

    def _loop_side(self, slot: str, bounds: tuple[float, float]) -> None:
        side = self.sides[slot]
        start, end = bounds
        side.loop = (start, end)
        side.loop_lufs = side.passage_lufs(start, end)
        (self.wave_a if slot == "A" else self.wave_b).set_loop(start, end)
        if self.player is not None and self.player.has_source(slot):
            self.player.set_loop(slot, start, end, lufs=side.loop_lufs)

    def _after_loops(self, only: str | None, play: bool = True) -> None:
        """Move the active side to its loop's start and play (when there is a player and ``play``)."""
        p = self.player
        if p is not None:
            active = p.active if p.has_source(p.active) else ("A" if p.has_source("A") else "B")
            if only is not None and active != only and p.has_source(only):
                active = only
            if p.has_source(active):
                if p.active != active:
                    p.select(active)
                loop = p.loop(active)
                if loop is not None:
                    p.seek(loop[0])
                if play:
                    self._play(active)
        self.loopChanged.emit()
        self._update_controls()
        self.refresh()

    # -- free loops ----------------------------------------------------------------------------------
    def set_free_loop(self, slot: str, start: float, end: float) -> None:
        side = self.sides[slot]
        if side.duration <= 0 or end <= start:
            return
        self.current = None
        self._loop_side(slot, (start, end))
        if self.player is not None and self.player.has_source(slot):
            if self.player.active != slot:
                self.player.select(slot)
            self.player.seek(start)
        self.loopChanged.emit()
        self._update_controls()
        self.statusMessage.emit(f"Looping {fmt_time(start)}-{fmt_time(end)} of "
                                f"{'your WIP' if slot == 'A' else side.title or 'the reference'}"
                                f"{self._gain_text()} · double-click clears")

    def clear_loops(self) -> None:
        self.current = None
        for slot, side in self.sides.items():
            side.loop, side.loop_lufs = None, None
            (self.wave_a if slot == "A" else self.wave_b).set_loop(None)
        if self.player is not None:
            self.player.clear_loop()
        self.loopChanged.emit()
        self._update_controls()
        self.statusMessage.emit("Loop cleared" + self._gain_text())

    # -- transport ------------------------------------------------------------------------------------
    def _play(self, slot: str) -> bool:
        message = self.player.try_play(slot)
        if message:
            log.warning("playback failed: %s", message)
            self.statusMessage.emit(message)
        return message is None

    def play_slot(self, slot: str) -> None:
        p = self.player
        if p is None or not p.has_source(slot):
            return
        if p.active == slot and p.playing:
            p.pause()
        else:
            self._play(slot)
        self.refresh()

    def toggle_ab(self) -> None:
        if self.player is not None:
            self.player.toggle_ab()
            self.refresh()

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
            self.refresh()

    def seek(self, slot: str, fraction: float) -> None:
        self.seekRequested.emit(slot, fraction)
        p = self.player
        if p is None or not p.has_source(slot):
            return
        if p.active != slot:
            p.select(slot)
        p.seek_fraction(fraction)
        self.refresh()

    def keyPressEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        if Qt.Key_1 <= key <= Qt.Key_9 and not event.modifiers() & ~Qt.KeypadModifier:
            if self.jump_to_section(key - Qt.Key_0):
                event.accept()
                return
        super().keyPressEvent(event)

    # -- display ------------------------------------------------------------------------------------------
    def gains(self) -> dict[str, float | None]:
        """Gain (dB) applied to each side by the player (None without a player or audio)."""
        if self.player is None:
            return {"A": None, "B": None}
        return {s: self.player.gain_db(s) for s in ("A", "B")}

    def _gain_text(self) -> str:
        g = self.gains()
        parts = [f"{s} {fmt_gain(v)}" for s, v in g.items() if v is not None]
        return (" · " + " · ".join(parts)) if parts else ""

    def _update_controls(self) -> None:
        p = self.player
        a = p is not None and p.has_source("A")
        b = p is not None and p.has_source("B")
        for w, ok in ((self.play_wip_button, a), (self.play_ref_button, b), (self.ab_button, a and b),
                      (self.stop_button, a or b)):
            w.setEnabled(ok)
        self.section_menu.setEnabled(self.section_menu.count() > 0)
        if p is None:
            self.gain_label.setText("Playback off: no audio output device")
            return
        looped = any(s.loop is not None for s in self.sides.values())
        parts = [f"{s} {fmt_gain(v)}" for s, v in self.gains().items() if v is not None]
        what = "loops" if looped else "whole tracks"
        self.gain_label.setText(f"Loudness-matched ({what})" + (": " + " · ".join(parts) if parts else ""))
        self.gain_label.setToolTip("Both sides play at the loudness of the quieter one (never boosted). During a "
                                   "section loop the match is between the looped passages, not the whole files.")

    def _landing_fraction(self, slot: str) -> float:
        """Where the inactive ``slot`` would play from on an A/B switch (its playhead), as a fraction."""
        p = self.player
        src, cur = p.source(slot), p.source(p.active)
        if src is None or not src.frames:
            return 0.0
        loop, cur_loop = p.loop(slot), p.loop(p.active)
        if loop is not None:
            t = loop[0]
            if cur_loop is not None and cur_loop[0] <= p.position < cur_loop[1]:
                t += (p.position - cur_loop[0]) / (cur_loop[1] - cur_loop[0]) * (loop[1] - loop[0])
            return t / src.duration
        return p.fraction if cur is not None else 0.0

    def refresh(self) -> None:
        p = self.player
        if p is None:
            return
        frac = p.fraction
        other = "B" if p.active == "A" else "A"
        for w, slot in ((self.wave_a, "A"), (self.wave_b, "B")):
            w.set_fraction(frac if slot == p.active else self._landing_fraction(other))
            w.set_active(p.active == slot and p.has_source(slot))
        self.time_label.setText(f"{p.active}  {fmt_time(p.position)} / {fmt_time(p.duration)}")
        playing = p.playing
        self.play_wip_button.setText("❚❚  WIP" if playing and p.active == "A" else "▶  WIP")
        self.play_ref_button.setText("❚❚  Reference" if playing and p.active == "B" else "▶  Reference")
        self._update_controls()
