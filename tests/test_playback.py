"""The Qt-free A/B player, driven through a fake output stream (no sound card needed)."""

from __future__ import annotations

import numpy as np
import pytest

from trance_finder.playback import player as player_mod
from trance_finder.playback.player import PlaybackUnavailable, Player

SR = 8000


class FakeStream:
    """Stands in for sounddevice.OutputStream: the test pulls frames through the callback."""

    instances: list[FakeStream] = []

    def __init__(self, samplerate, channels, blocksize, callback):
        self.samplerate, self.channels, self.blocksize, self.callback = samplerate, channels, blocksize, callback
        self.started = self.stopped = self.closed = False
        FakeStream.instances.append(self)

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True

    def close(self):
        self.closed = True

    def pull(self, frames: int) -> np.ndarray:
        out = np.full((frames, self.channels), np.nan, np.float32)  # the callback must write every sample
        self.callback(out, frames, None, None)
        return out


def ramp(n: int, channels: int = 2, scale: float = 0.5) -> np.ndarray:
    x = np.linspace(0.0, scale, n, dtype=np.float32)
    return np.stack([x, -x], axis=1) if channels == 2 else x


@pytest.fixture
def player():
    p = Player(samplerate=SR, channels=2, blocksize=256, stream_factory=FakeStream)
    yield p
    p.close()


def stream_of(p: Player) -> FakeStream:
    assert p._stream is not None, "the stream opens on the first play"
    return p._stream


def test_plays_the_buffer_with_its_gain(player):
    buf = ramp(4 * SR)
    player.set_source(buf, SR, gain_db=-6.0, slot="A")
    player.play()
    out = stream_of(player).pull(1000)
    np.testing.assert_allclose(out, buf[:1000] * 10 ** (-6 / 20), rtol=1e-6, atol=1e-7)
    assert player.position == pytest.approx(1000 / SR)
    assert stream_of(player).started


def test_paused_or_empty_outputs_silence(player):
    player.set_source(ramp(SR), SR, slot="A")
    player.play()
    stream = stream_of(player)
    player.pause()
    assert not np.any(stream.pull(300))
    assert player.position == 0.0
    player.clear("A")
    assert not np.any(stream.pull(300))


def test_gain_boost_is_clipped_to_full_scale(player):
    player.set_source(np.full((SR, 2), 0.5, np.float32), SR, gain_db=12.0)
    player.play()
    out = stream_of(player).pull(100)
    assert out.max() == pytest.approx(1.0)


def test_ab_switch_keeps_relative_position_and_applies_each_gain(player):
    a = ramp(10 * SR, scale=0.4)
    b = ramp(4 * SR, scale=0.8)
    player.set_source(a, SR, gain_db=+6.0, slot="A", label="wip")
    player.set_source(b, SR, gain_db=-3.0, slot="B", label="ref")
    player.play("A")
    stream = stream_of(player)
    for _ in range(10):
        stream.pull(SR // 4)  # 2.5 s into a 10 s WIP: 25 %
    assert player.fraction == pytest.approx(0.25)
    assert player.toggle_ab() == "B"
    assert player.active == "B" and player.playing
    assert player.fraction == pytest.approx(0.25, abs=1e-3)  # 1 s into the 4 s reference
    assert player.position == pytest.approx(1.0, abs=1e-3)
    start = player._pos
    out = stream.pull(200)
    np.testing.assert_allclose(out, b[start:start + 200] * 10 ** (-3 / 20), rtol=1e-6, atol=1e-7)
    player.select("A")
    assert player.position == pytest.approx((1.0 + 200 / SR) / 4 * 10, abs=2e-3)  # same fraction in A
    out = stream.pull(50)
    np.testing.assert_allclose(out, a[player._pos - 50:player._pos] * 10 ** (6 / 20), rtol=1e-6, atol=1e-7)


def test_loudness_match_meets_at_the_quieter_side_and_never_boosts(player):
    wip = ramp(2 * SR, scale=0.95)  # peaky but quiet: a boost would clip it
    ref = ramp(2 * SR, scale=0.9)
    player.set_source(wip, SR, slot="A", lufs=-24.0)
    assert player.source("A").gain_db == 0.0  # alone: attenuate only
    player.set_source(ref, SR, slot="B", lufs=-9.0)
    assert player.source("A").gain_db == pytest.approx(0.0)
    assert player.source("B").gain_db == pytest.approx(-15.0)
    player.play("A")
    out = stream_of(player).pull(2 * SR)
    assert np.abs(out).max() <= 1.0
    np.testing.assert_array_equal(out, wip)  # played as is: no gain, no clipping
    player.select("B")
    player.seek(0.0)
    player.play()
    out = stream_of(player).pull(SR)
    np.testing.assert_allclose(out, ref[:SR] * 10 ** (-15 / 20), rtol=1e-6, atol=1e-7)
    player.clear("A")  # either side changing recomputes both: B alone is only turned down to -14 LUFS
    assert player.source("B").gain_db == pytest.approx(-5.0)
    player.set_source(wip, SR, slot="A", lufs=-30.0)
    assert player.source("A").gain_db == pytest.approx(0.0) and player.source("B").gain_db == pytest.approx(-21.0)


def test_match_gains():
    assert player_mod.match_gains(-24.0, -9.0) == (0.0, -15.0)
    assert player_mod.match_gains(-9.0, -24.0) == (-15.0, 0.0)
    assert player_mod.match_gains(-20.0) == (0.0, 0.0)  # quieter than the target alone: no boost
    assert player_mod.match_gains(None, -9.0) == (0.0, -5.0)
    assert player_mod.match_gains(float("-inf"), -9.0) == (0.0, -5.0)  # silence is not matched


def test_toggle_needs_both_slots(player):
    player.set_source(ramp(SR), SR, slot="A")
    assert player.toggle_ab() == "A"


def test_seek_and_stop(player):
    player.set_source(ramp(8 * SR), SR, slot="A")
    player.seek(3.0)
    assert player.position == pytest.approx(3.0)
    player.seek_fraction(0.5)
    assert player.position == pytest.approx(4.0)
    player.seek(99.0)
    assert player.fraction < 1.0
    player.stop()
    assert player.position == 0.0 and not player.playing


def test_end_of_track_pads_silence_and_stops(player):
    buf = ramp(1000)
    player.set_source(buf, SR, slot="A")
    player.play()
    out = stream_of(player).pull(1500)
    np.testing.assert_allclose(out[:1000], buf, atol=1e-7)
    assert not np.any(out[1000:])
    assert player.finished and not player.playing
    player.play()  # playing again starts from the top
    assert player.position == 0.0 and player.playing


def test_replacing_the_active_source_keeps_relative_position(player):
    player.set_source(ramp(4 * SR), SR, slot="B")
    player.play("B")
    stream_of(player).pull(2 * SR)
    player.set_source(ramp(8 * SR), SR, slot="B")
    assert player.fraction == pytest.approx(0.5)


def test_mono_sources_are_spread_to_the_stream_channels(player):
    player.set_source(ramp(SR, channels=1), SR, slot="A")
    player.play()
    out = stream_of(player).pull(64)
    np.testing.assert_array_equal(out[:, 0], out[:, 1])


def test_wrong_rate_is_refused(player):
    with pytest.raises(ValueError, match="resample"):
        player.set_source(ramp(SR), SR * 2, slot="A")
    with pytest.raises(ValueError, match="slot"):
        player.set_source(ramp(SR), SR, slot="C")


def test_close_stops_and_closes_the_stream(player):
    player.set_source(ramp(SR), SR)
    player.play()
    stream = stream_of(player)
    player.close()
    assert stream.stopped and stream.closed and not player.playing


class FailingStream(FakeStream):
    """A stream that opens but cannot start (device unplugged, busy, format refused)."""

    def start(self):
        raise OSError("Error starting stream: device unavailable")


def test_a_stream_that_fails_to_start_stops_playing_and_says_why():
    FakeStream.instances.clear()
    p = Player(samplerate=SR, channels=2, stream_factory=FailingStream)
    p.set_source(ramp(SR), SR)
    with pytest.raises(PlaybackUnavailable, match="device unavailable"):
        p.play()
    assert not p.playing and p._stream is None
    assert FakeStream.instances[-1].closed  # the half-opened stream is closed

    def no_stream(*_args):
        raise OSError("Invalid number of channels")

    p = Player(samplerate=SR, channels=2, stream_factory=no_stream)
    p.set_source(ramp(SR), SR)
    with pytest.raises(PlaybackUnavailable, match="channels"):
        p.play()
    assert not p.playing
    p.close()


def test_no_output_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(player_mod, "probe_output", lambda device=None: (False, 0.0, "no audio output device found"))
    with pytest.raises(PlaybackUnavailable, match="no audio output"):
        Player()


def test_probe_reports_instead_of_raising():
    ok, rate, reason = player_mod.probe_output()
    assert isinstance(ok, bool)
    assert (rate > 0 and not reason) if ok else reason


# -- loops (sections A/B) ------------------------------------------------------------------------------
def test_loop_wraps_at_its_end(player):
    buf = ramp(4 * SR)
    player.set_source(buf, SR, slot="A")
    player.set_loop("A", 1.0, 1.5)
    assert player.loop("A") == pytest.approx((1.0, 1.5))
    assert player.position == pytest.approx(1.0)  # moved into the new loop
    player.play()
    out = stream_of(player).pull(SR)  # 1 s of a 0.5 s loop: twice round
    a, b = SR, SR + SR // 2
    np.testing.assert_array_equal(out, np.concatenate([buf[a:b], buf[a:b]]))
    assert player.playing and player.position == pytest.approx(1.0)
    player.stop()
    assert player.position == pytest.approx(1.0)  # stop goes back to the loop start
    player.clear_loop("A")
    assert player.loop("A") is None
    player.seek(1.4)
    player.play()
    out = stream_of(player).pull(SR // 2)
    np.testing.assert_array_equal(out, buf[int(1.4 * SR): int(1.4 * SR) + SR // 2])  # plays on through


def test_ab_switch_keeps_the_place_inside_the_loops(player):
    a = ramp(10 * SR, scale=0.4)
    b = ramp(6 * SR, scale=0.8)
    player.set_source(a, SR, slot="A")
    player.set_source(b, SR, slot="B")
    player.set_loop("A", 2.0, 6.0)  # e.g. 8 bars of the WIP's drop
    player.set_loop("B", 1.0, 3.0)  # 8 bars of the reference's (faster) drop
    player.play("A")
    stream = stream_of(player)
    stream.pull(SR)  # 1 s into a 4 s loop: a quarter
    assert player.position == pytest.approx(3.0)
    player.toggle_ab()
    assert player.active == "B" and player.position == pytest.approx(1.5, abs=1e-3)  # a quarter into B's loop
    stream.pull(int(1.5 * SR))  # to the end of B's loop and round again
    assert player.position == pytest.approx(1.0, abs=1e-3)
    player.select("A")
    assert player.position == pytest.approx(2.0, abs=1e-3)
    player.clear_loop("B")
    player.select("B")  # B unlooped: the relative place in the song
    assert player.position == pytest.approx(2.0 / 10.0 * 6.0, abs=1e-3)
    player.select("A")  # into a looped slot from outside a loop: its start
    assert player.position == pytest.approx(2.0)


def test_loop_loudness_drives_the_match_and_gains_are_exposed(player):
    player.set_source(ramp(8 * SR), SR, slot="A", lufs=-20.0)  # quiet WIP as a whole
    player.set_source(ramp(8 * SR), SR, slot="B", lufs=-9.0)
    assert player.gain_db("A") == pytest.approx(0.0) and player.gain_db("B") == pytest.approx(-11.0)
    player.set_loop("A", 4.0, 6.0, lufs=-12.0)  # the WIP's drop is much louder than the WIP overall
    player.set_loop("B", 2.0, 4.0, lufs=-7.0)
    assert player.gain_db("A") == pytest.approx(0.0) and player.gain_db("B") == pytest.approx(-5.0)
    player.play("B")
    out = stream_of(player).pull(100)
    np.testing.assert_allclose(out, ramp(8 * SR)[2 * SR:2 * SR + 100] * 10 ** (-5 / 20), rtol=1e-6, atol=1e-7)
    player.clear_loop()
    assert player.gain_db("B") == pytest.approx(-11.0)  # back to the whole files
    assert Player(samplerate=SR, stream_factory=FakeStream).gain_db("A") is None
    with pytest.raises(ValueError):
        player.set_loop("A", 3.0, 3.0)
