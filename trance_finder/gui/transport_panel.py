"""The A/B area: waveform A (the WIP), waveform B (the compare target) and the loudness-matched transport.
It renders ``AppState`` (the decoded WIP and reference) and drives the player (play, pause, A/B, stop,
seek; sources A and B). This whole widget is the slot where the sections helper's ABPanel goes
(``MainWindow.ab_area`` / ``set_ab_area``)."""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from trance_finder.gui import theme
from trance_finder.gui.waveform import WaveformView, fmt_time
from trance_finder.gui.widgets import ElidedLabel, card

log = logging.getLogger("trance_finder.gui")


def fmt_gain(db: float) -> str:
    return f"{db:+.1f} dB"


class TransportPanel(QFrame):
    seekRequested = Signal(str, float)  # noqa: N815 - slot ("A"/"B"), fraction
    failed = Signal(str)  # a stream that could not start
    sourcesChanged = Signal(bool, bool)  # noqa: N815 - (A loaded, B loaded): the window's menu follows

    def __init__(self, player=None, reason: str = "", parent=None):
        super().__init__(parent)
        self.player, self.reason = player, reason
        has_player = player is not None
        frame, wl = card()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(frame)
        self.wave_a = WaveformView("A", theme.ACCENT, "Your WIP's waveform appears here")
        self.wave_b = WaveformView("B", theme.ACCENT_2, "Select a reference (arrows, Space plays) to compare")
        self.wave_a.seekRequested.connect(lambda f: self.seekRequested.emit("A", f))
        self.wave_b.seekRequested.connect(lambda f: self.seekRequested.emit("B", f))
        self.play_wip_button = QPushButton("▶  WIP")
        self.play_wip_button.setToolTip("Play / pause your WIP (W)")
        self.play_ref_button = QPushButton("▶  Reference")
        self.play_ref_button.setToolTip("Play / pause the selected reference (Space in the table)")
        self.ab_button = QPushButton("A / B")
        self.ab_button.setObjectName("primary")
        self.ab_button.setToolTip("Switch between WIP and reference at the same point in the song (B)")
        self.stop_button = QPushButton("■")
        self.stop_button.setToolTip("Stop (S)")
        self.gain_label = ElidedLabel("Loudness-matched", Qt.ElideRight)
        self.gain_label.setObjectName("muted")
        self.time_label = QLabel("")
        self.time_label.setObjectName("muted")
        self.time_label.setVisible(has_player)
        row = QHBoxLayout()
        for b in (self.play_wip_button, self.play_ref_button, self.ab_button, self.stop_button):
            row.addWidget(b)
        row.addSpacing(10)
        row.addWidget(self.gain_label, 1)
        row.addWidget(self.time_label)
        wl.addWidget(self.wave_a)
        wl.addWidget(self.wave_b)
        wl.addLayout(row)
        self.seekRequested.connect(self.seek)
        self.play_wip_button.clicked.connect(lambda: self.play_slot("A"))
        self.play_ref_button.clicked.connect(lambda: self.play_slot("B"))
        self.ab_button.clicked.connect(self.toggle_ab)
        self.stop_button.clicked.connect(self.stop)

    # -- the player ---------------------------------------------------------------------------------
    def set_source(self, slot: str, audio) -> None:
        """Load decoded ``audio`` (or None: clear) into player slot A or B."""
        p = self.player
        if p is not None:
            if audio is None:
                if p.has_source(slot):
                    if p.active == slot:
                        p.stop()
                    p.clear(slot)
            elif audio.buffer is not None:
                if slot == "A" and p.active == "A":
                    p.stop()
                p.set_source(audio.buffer, audio.samplerate, audio.gain_db, slot, audio.title, lufs=audio.lufs)
        self.refresh()

    def play_slot(self, slot: str) -> None:
        p = self.player
        if p is None or not p.has_source(slot):
            return
        if p.active == slot and p.playing:
            p.pause()
        else:
            self.play(slot)
        self.tick()

    def play(self, slot: str) -> bool:
        """Start playing ``slot``; a stream that fails to start is a message, not a crash."""
        message = self.player.try_play(slot)
        if message:
            log.warning("playback failed: %s", message)
            self.failed.emit(message)
        return message is None

    def toggle_ab(self) -> None:
        if self.player is not None:
            self.player.toggle_ab()
        self.tick()

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
        self.tick()

    def seek(self, slot: str, fraction: float) -> None:
        p = self.player
        if p is None:
            return
        if p.has_source(slot):
            if p.active != slot:
                p.select(slot)
            p.seek_fraction(fraction)
        self.tick()

    def tick(self) -> None:
        self.render_player(self.player)

    def refresh(self) -> None:
        """Buttons, their tooltips and the gain line follow the loaded sources."""
        p = self.player
        a = p is not None and p.has_source("A")
        b = p is not None and p.has_source("B")
        for w, ok in zip(self.buttons, (a, b, a and b, a or b)):
            w.setEnabled(ok)
            w.setToolTip(w.toolTip().split("\n\n")[0] + ("" if p is not None else f"\n\n{self.reason}"))
        audio_mod = sys.modules.get("trance_finder.core.audio")  # loaded by the first job, not at start-up
        self.render_gains(p, self.reason, None if audio_mod is None else audio_mod.TARGET_LUFS)
        self.sourcesChanged.emit(a, b)

    @property
    def buttons(self):
        return (self.play_wip_button, self.play_ref_button, self.ab_button, self.stop_button)

    def render_wip(self, wip) -> None:
        """Waveform A follows the WIP: loading while analysed / decoded, cleared when rejected."""
        if wip.path is None or wip.status == "failed":
            self.wave_a.clear()
        elif wip.audio is not None:
            self.wave_a.set_audio(wip.audio.title, wip.audio.peaks, wip.audio.duration)
        elif not self.wave_a.loading or self.wave_a.title != wip.name:
            self.wave_a.set_loading(wip.name)

    def render_reference(self, audio, title: str = "") -> None:
        if audio == "loading":
            self.wave_b.set_loading(title)
        elif audio is None:
            self.wave_b.clear()
        else:
            self.wave_b.set_audio(audio.title, audio.peaks, audio.duration)

    def render_player(self, player) -> None:
        if player is None:
            return
        frac = player.fraction
        for w, slot in ((self.wave_a, "A"), (self.wave_b, "B")):
            w.set_fraction(frac)
            w.set_active(player.active == slot and player.has_source(slot))
        self.time_label.setText(f"{player.active}  {fmt_time(player.position)} / {fmt_time(player.duration)}")
        playing = player.playing
        self.play_wip_button.setText("❚❚  WIP" if playing and player.active == "A" else "▶  WIP")
        self.play_ref_button.setText("❚❚  Reference" if playing and player.active == "B" else "▶  Reference")

    def render_gains(self, player, reason: str, target_lufs: float | None) -> None:
        has_player = player is not None
        parts = []
        for slot in "AB":
            if has_player and player.has_source(slot):
                parts.append(f"{slot} {fmt_gain(player.source(slot).gain_db)}")
        match = "Loudness-matched" + (": " + " · ".join(parts) if parts else "")
        self.gain_label.setText(match if has_player else "Playback off: no audio output device")
        full = self.gain_label.text()
        alone = "" if target_lufs is None else f"; a side alone is turned down to {target_lufs:.0f} LUFS at most"
        self.gain_label.setToolTip("Both sides are played at the loudness of the quieter one (never boosted, so "
                                   f"nothing clips{alone}), so you compare sound, not level." if has_player
                                   else f"{full}\n{reason}")
