"""Qt-free audio playback (sounddevice)."""

from trance_finder.playback.player import PlaybackUnavailable, Player, Source, probe_output

__all__ = ["Player", "PlaybackUnavailable", "Source", "probe_output"]
