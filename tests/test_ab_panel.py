"""ABPanel (pytest-qt): section jumps move both sides to the matching section, loop it bar-aligned and
match loudness on the looped passages; free loops; keys 1-9; no player."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from trance_finder.core.audio import integrated_lufs
from trance_finder.core.sections import Section, TrackSections, loop_bounds
from trance_finder.gui.ab_panel import ABPanel
from trance_finder.playback.player import Player, match_gains

SR = 8000


class FakeStream:
    def __init__(self, samplerate, channels, blocksize, callback):
        self.channels, self.callback = channels, callback

    def start(self):
        pass

    def stop(self):
        pass

    def close(self):
        pass

    def pull(self, frames: int) -> np.ndarray:
        out = np.full((frames, self.channels), np.nan, np.float32)
        self.callback(out, frames, None, None)
        return out


def make_track(tempo: float, plan, seed: int):
    """Noise whose level steps per section; plan = [(label, bars, dBFS rms)]. Returns (buffer, sections)."""
    rng = np.random.default_rng(seed)
    bar = 240.0 / tempo
    ts = TrackSections(tempo, bar, 0.0, 0.0, [])
    parts, counts, bar_no, t = [], {}, 1, 0.0
    for label, bars, db in plan:
        n = int(round(bars * bar * SR))
        parts.append(rng.standard_normal((n, 2)).astype(np.float32) * np.float32(10 ** (db / 20)))
        counts[label] = counts.get(label, 0) + 1
        end = t + n / SR
        ts.sections.append(Section(label, counts[label], t, end, bar_no, bar_no + bars, None))
        t, bar_no = end, bar_no + bars
    ts.duration = t
    return np.concatenate(parts), ts


@pytest.fixture
def wip():
    return make_track(120.0, [("intro", 4, -24), ("breakdown", 4, -30), ("build", 2, -22), ("drop", 14, -16),
                              ("outro", 4, -26)], 1)


@pytest.fixture
def ref():
    # a loud intro: the whole file's loudness is not its drop's
    return make_track(140.0, [("intro", 8, -3), ("breakdown", 6, -22), ("build", 2, -14), ("drop", 12, -8)], 2)


@pytest.fixture
def player():
    p = Player(samplerate=SR, channels=2, blocksize=256, stream_factory=FakeStream)
    yield p
    p.close()


@pytest.fixture
def panel(qtbot, player, wip, ref):
    w = ABPanel(player)
    qtbot.addWidget(w)
    w.resize(1000, 320)
    w.show()
    qtbot.waitExposed(w)
    (wbuf, wts), (rbuf, rts) = wip, ref
    w.set_wip(wbuf, SR, "my wip", wts, lufs=integrated_lufs(wbuf.T, SR))
    w.set_reference(rbuf, SR, "a reference", rts, lufs=integrated_lufs(rbuf.T, SR))
    return w


def click_section(qtbot, wave, section):
    r = wave.section_rect(section)
    qtbot.mouseClick(wave, Qt.LeftButton, pos=QPoint(int(r.center().x()), int(r.center().y())))


def test_clicking_a_wip_section_loops_both_sides_on_the_matching_section(qtbot, panel, player, wip, ref):
    (wbuf, wts), (rbuf, rts) = wip, ref
    drop_a, drop_b = wts.find("drop", 1), rts.find("drop", 1)
    whole = (player.gain_db("A"), player.gain_db("B"))
    with qtbot.waitSignal(panel.statusMessage) as status:
        click_section(qtbot, panel.wave_a, drop_a)
    assert "drop 1" in status.args[0] and "a reference" in status.args[0]
    loop_a, loop_b = loop_bounds(drop_a, wts, 8), loop_bounds(drop_b, rts, 8)
    assert player.loop("A") == pytest.approx(loop_a, abs=1e-3)
    assert player.loop("B") == pytest.approx(loop_b, abs=1e-3)
    assert loop_a == pytest.approx((20.0, 36.0))  # 8 bars of 2 s from the drop's first bar
    assert loop_b[1] - loop_b[0] == pytest.approx(8 * 240 / 140)
    assert player.active == "A" and player.playing and player.position == pytest.approx(loop_a[0], abs=1e-3)
    # gains from the looped passages' loudness, not the whole files'
    la = integrated_lufs(wbuf[int(loop_a[0] * SR):int(loop_a[1] * SR)].T, SR)
    lb = integrated_lufs(rbuf[int(loop_b[0] * SR):int(loop_b[1] * SR)].T, SR)
    ga, gb = match_gains(la, lb)
    assert player.gain_db("A") == pytest.approx(ga, abs=0.05) and player.gain_db("B") == pytest.approx(gb, abs=0.05)
    assert (player.gain_db("A"), player.gain_db("B")) != pytest.approx(whole, abs=0.5)
    assert gb == pytest.approx(-8.0, abs=0.5)  # the reference's drop is 8 dB hotter than the WIP's
    assert f"B {gb:+.1f} dB" in panel.gain_label.text() and "loops" in panel.gain_label.text()
    assert panel.wave_a.loop == pytest.approx(loop_a) and panel.wave_b.loop == pytest.approx(loop_b)
    # the other player: A/B lands on the reference's drop at the same place in the loop
    stream = player._stream
    stream.pull(SR * 3)  # 3 s into the WIP's loop (1.5 bars)
    panel.toggle_ab()
    assert player.active == "B"
    assert player.position == pytest.approx(loop_b[0] + 1.5 * 240 / 140, abs=2e-3)
    out = stream.pull(64)
    start = int(round((loop_b[0] + 1.5 * 240 / 140) * SR))
    np.testing.assert_allclose(out, rbuf[start:start + 64] * 10 ** (gb / 20), rtol=1e-4, atol=1e-6)


def test_keys_menu_and_loop_length(qtbot, panel, player, wip, ref):
    (_wbuf, wts), (_rbuf, rts) = wip, ref
    panel.setFocus()
    qtbot.keyClick(panel, Qt.Key_2)  # the WIP's second section: breakdown 1
    assert player.loop("A") == pytest.approx((8.0, 24.0), abs=1e-3)
    assert player.loop("B") == pytest.approx(loop_bounds(rts.find("breakdown", 1), rts, 8), abs=1e-3)
    panel.loop_menu.setCurrentIndex(0)  # 4 bars: the current jump is redone
    assert panel.loop_bars == 4 and player.loop("A") == pytest.approx((8.0, 16.0), abs=1e-3)
    assert panel.section_menu.count() == len(wts.sections)
    panel.section_menu.activated.emit(4)  # outro 1: the reference has none -> closest in content
    assert panel.current[0].name == "outro 1" and panel.current[1].label != "outro"
    assert not panel.jump_to_section(9)  # no 9th section: nothing happens


def test_drag_sets_a_free_loop_and_double_click_clears(qtbot, panel, player):
    wave = panel.wave_b
    r = wave._wave_rect()
    y = int(r.center().y() + 10)
    x0, x1 = int(r.left() + 0.25 * r.width()), int(r.left() + 0.5 * r.width())
    with qtbot.waitSignal(wave.loopRequested) as sig:
        qtbot.mousePress(wave, Qt.LeftButton, pos=QPoint(x0, y))
        qtbot.mouseMove(wave, QPoint((x0 + x1) // 2, y))
        qtbot.mouseMove(wave, QPoint(x1, y))
        qtbot.mouseRelease(wave, Qt.LeftButton, pos=QPoint(x1, y))
    start, end = sig.args
    bar = 240.0 / 140.0
    assert start / bar == pytest.approx(round(start / bar), abs=1e-6)  # snapped to bar lines
    assert player.loop("B") == pytest.approx((start, end), abs=1e-3)
    assert player.active == "B" and player.position == pytest.approx(start, abs=1e-3)
    qtbot.mouseDClick(wave, Qt.LeftButton, pos=QPoint(x0, y))
    assert player.loop("A") is None and player.loop("B") is None and wave.loop is None


def test_playhead_label_shows_bar_and_tempo(panel, player):
    player.select("B")
    player.seek(17.0)
    panel.refresh()
    text = panel.wave_b.playhead_text()
    assert "bar 10" in text and "140.0 BPM" in text and "breakdown 1" in text


def test_without_a_player_sections_and_jumps_still_show(qtbot, wip, ref):
    (_wbuf, wts), (_rbuf, rts) = wip, ref
    w = ABPanel(None)
    qtbot.addWidget(w)
    w.resize(1000, 320)
    w.show()
    qtbot.waitExposed(w)
    w.set_wip(None, 0, "wip", wts)
    w.set_reference(None, 0, "ref", rts)
    assert w.wave_a.sections is wts and w.wave_a.duration == pytest.approx(wts.duration)
    assert not w.play_wip_button.isEnabled()
    with qtbot.waitSignal(w.statusMessage):
        click_section(qtbot, w.wave_a, wts.find("drop", 1))
    assert w.wave_b.loop == pytest.approx(loop_bounds(rts.find("drop", 1), rts, 8))
    assert "no audio output" in w.gain_label.text()
    w.clear_reference()
    w.clear_wip()
    assert w.wave_a.sections is None and w.section_menu.count() == 0


@pytest.mark.parametrize("width", [440, 1000])
def test_a_narrow_panel_wraps_its_controls_instead_of_cutting_their_text(qtbot, panel, width):
    """At 1280x720 with the library dock open the A/B area is ~480 px wide: buttons and menus keep their
    full text (the row wraps), nothing overlaps and the wrapped line stays inside the panel."""
    panel.resize(width, 400)
    qtbot.wait(50)
    controls = [*panel.buttons, panel.section_menu, panel.loop_menu]
    for w in controls:
        assert w.isVisible() and w.width() >= w.sizeHint().width(), (w, w.width(), w.sizeHint().width())
    rects = [w.geometry() for w in controls]
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])
    inside = panel.rect()
    for w in controls:
        assert inside.contains(w.mapTo(panel, w.rect().bottomRight()))
    rows = {w.geometry().top() for w in controls}
    assert (len(rows) > 1) == (width < 700)  # one line when there is room, wrapped when narrow
