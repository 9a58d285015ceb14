"""The A/B area: waveform A (the WIP), waveform B (the compare target) and the loudness-matched transport.
It renders ``AppState`` (the decoded WIP and reference) and the player; the window drives it. This
whole widget is the slot where the sections helper's ABPanel goes (``MainWindow.ab_area``)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from trance_finder.gui import theme
from trance_finder.gui.waveform import WaveformView, fmt_time
from trance_finder.gui.widgets import card


def fmt_gain(db: float) -> str:
    return f"{db:+.1f} dB"


class TransportPanel(QFrame):
    seekRequested = Signal(str, float)  # noqa: N815 - slot ("A"/"B"), fraction

    def __init__(self, has_player: bool, parent=None):
        super().__init__(parent)
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
        self.gain_label = QLabel("Loudness-matched")
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
        alone = "" if target_lufs is None else f"; a side alone is turned down to {target_lufs:.0f} LUFS at most"
        self.gain_label.setToolTip("Both sides are played at the loudness of the quieter one (never boosted, so "
                                   f"nothing clips{alone}), so you compare sound, not level." if has_player
                                   else reason)
