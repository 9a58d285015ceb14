"""Sections in the WINDOW (issue 12), pytest-qt offscreen with a fake output stream: load a WIP, its
sections and the reference's appear over both waveforms; a click on a WIP section moves both players to
the matching sections, loops them bar-aligned and matches loudness on the looped passages; keys 1-9;
rank by section."""
# ruff: noqa: F811 - the window fixtures are imported from tests/test_gui.py

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, Qt  # noqa: E402

from tests.test_gui import T, fake_player, gui_model, make_window, run_query, wip_file  # noqa: E402,F401
from trance_finder.core.audio import integrated_lufs  # noqa: E402
from trance_finder.core.sections import loop_bounds, matching_section  # noqa: E402


def _loaded(w, player):
    ab = w.structure.ab
    return (player.has_source("A") and player.has_source("B") and ab.sides["A"].sections is not None
            and ab.sides["B"].sections is not None)


def _passage_lufs(player, slot, bounds):
    src = player.source(slot)
    a, b = int(bounds[0] * src.samplerate), int(bounds[1] * src.samplerate)
    return integrated_lufs(src.buffer[a:b].T, int(round(src.samplerate)))


def click_section(qtbot, wave, section):
    r = wave.section_rect(section)
    qtbot.mouseClick(wave, Qt.LeftButton, pos=QPoint(int(r.center().x()), int(r.center().y())))


def test_clicking_a_wip_section_jumps_both_players_loops_and_matches_the_loops(qtbot, gui_model, wip_file,
                                                                              fake_player):
    w = make_window(qtbot, gui_model, player=fake_player)
    path, source = wip_file
    outcome = run_query(qtbot, w, path)
    qtbot.waitUntil(lambda: _loaded(w, fake_player), timeout=T)
    ab = w.structure.ab
    assert w.ab_area is ab and ab.isVisible()
    wip_secs, ref_secs = ab.sides["A"].sections, ab.sides["B"].sections
    # the WIP's sections come from its one decode, shown over waveform A; the reference's from its record
    assert w.state.wip.audio.sections is wip_secs and w.wave_a.sections is wip_secs
    pos = w.state.target
    assert ref_secs.to_json() == w.finder.reference_structure(pos)[0].to_json()
    assert outcome.result.neighbours[0].track["path"] == str(source)
    assert ab.section_menu.count() == len(wip_secs.sections) >= 2

    # pick the second reference so the two tracks differ (not the WIP's own source)
    other = outcome.result.neighbours[1].position
    w.select_reference(other)
    qtbot.waitUntil(lambda: ab.audio["B"] is not None and ab.audio["B"].path == w.finder.tracks[other]["path"]
                    and ab.sides["B"].sections is not None, timeout=T)
    ref_secs = ab.sides["B"].sections
    whole = (fake_player.gain_db("A"), fake_player.gain_db("B"))

    target = next((s for s in wip_secs.sections if s.label == "drop"), wip_secs.sections[-1])
    with qtbot.waitSignal(ab.sectionJumped, timeout=T) as jumped:
        click_section(qtbot, w.wave_a, target)
    wip_section, ref_section = jumped.args
    assert wip_section == target
    expect_ref = matching_section(target, ref_secs, wip_secs)
    assert ref_section == expect_ref
    # loops: 8 bars from each section's first bar line
    la, lb = loop_bounds(target, wip_secs, 8), loop_bounds(expect_ref, ref_secs, 8)
    assert fake_player.loop("A") == pytest.approx(la, abs=1e-4)
    assert fake_player.loop("B") == pytest.approx(lb, abs=1e-4)
    assert w.wave_a.loop == pytest.approx(la) and w.wave_b.loop == pytest.approx(lb)
    # both players at their section: the active one plays from its loop start, the other lands there
    assert fake_player.playing and fake_player.active == "A"
    assert fake_player.position == pytest.approx(la[0], abs=0.05)
    fake_player.toggle_ab()
    assert fake_player.active == "B" and fake_player.position == pytest.approx(lb[0], abs=0.05)
    fake_player.toggle_ab()
    # gains from the looped passages: both meet at the quieter loop's loudness, never boosted
    pa, pb = _passage_lufs(fake_player, "A", la), _passage_lufs(fake_player, "B", lb)
    quiet = min(pa, pb)
    assert fake_player.gain_db("A") == pytest.approx(quiet - pa, abs=0.1)
    assert fake_player.gain_db("B") == pytest.approx(quiet - pb, abs=0.1)
    assert (fake_player.gain_db("A"), fake_player.gain_db("B")) != pytest.approx(whole, abs=0.05)
    assert "Loudness-matched (loops)" in w.gain_label.text()
    assert f"B {fake_player.gain_db('B'):+.1f} dB" in w.gain_label.text()
    assert target.name in w.statusBar().currentMessage()

    # keys 1-9 work from the window (the table has the focus), and the loop length follows the menu
    w.table.setFocus()
    qtbot.keyClick(w.table, Qt.Key_1)
    first = wip_secs.sections[0]
    assert fake_player.loop("A") == pytest.approx(loop_bounds(first, wip_secs, 8), abs=1e-4)
    ab.loop_menu.setCurrentIndex(0)  # 4 bars
    assert fake_player.loop("A") == pytest.approx(loop_bounds(first, wip_secs, 4), abs=1e-4)
    # a double-click clears the loops: the whole-track match is back
    qtbot.mouseDClick(w.wave_b, Qt.LeftButton, pos=QPoint(w.wave_b.width() // 2, w.wave_b.height() - 8))
    assert fake_player.loop("A") is None and fake_player.loop("B") is None
    assert (fake_player.gain_db("A"), fake_player.gain_db("B")) == pytest.approx(whole, abs=0.05)
    w.close()


def test_the_wip_is_decoded_once_and_a_stale_decode_is_dropped(qtbot, gui_model, wip_file, monkeypatch):
    from trance_finder.gui import structure_tasks, tasks

    calls = []
    real, real_playback = structure_tasks.decode_wip, tasks.decode_for_playback

    def playback(path, *a, **k):
        calls.append(("playback", str(path)))
        return real_playback(path, *a, **k)

    monkeypatch.setattr(tasks, "decode_for_playback", playback)

    def counting(path, *a, **k):
        calls.append(("wip", path))
        return real(path, *a, **k)

    w = make_window(qtbot, gui_model)
    w.state.wip_job = counting
    path, _source = wip_file
    run_query(qtbot, w, path)
    qtbot.waitUntil(lambda: w.state.wip.audio is not None and w.structure.ab.sides["A"].sections is not None,
                    timeout=T)
    assert [c for c in calls if c[1] == str(path)] == [("wip", str(path))]  # no second decode for playback
    # a result for an older WIP never lands: the gate drops it
    dropped = w.state.dropped
    ticket = w.state.begin("wip_audio")
    w.state.begin("wip_audio")
    assert not w.state._deliver(ticket, lambda *_: pytest.fail("stale result handled"), None)
    assert w.state.dropped == dropped + 1
    w.close()


def test_rank_by_section_reranks_with_the_section_search(qtbot, gui_model, wip_file):
    w = make_window(qtbot, gui_model)
    path, _source = wip_file
    run_query(qtbot, w, path)
    combo = w.structure.rank_combo
    labels = [combo.itemData(i) for i in range(combo.count())]
    assert labels[0] == "whole" and "drop" in labels and combo.isEnabled()
    with qtbot.waitSignal(w.queryFinished, timeout=T) as blocker:
        combo.setCurrentIndex(labels.index("drop"))
        combo.activated.emit(labels.index("drop"))
    out = blocker.args[0]
    assert out.result.section == "drop" and w.state.rank_section == "drop"
    expect = w.finder.query_section(path, "drop", k=len(out.result.neighbours))
    assert [n.position for n in out.result.neighbours] == [n.position for n in expect.neighbours]
    first = out.result.neighbours[0]
    assert out.ranking.similarity[first.position] == pytest.approx(first.similarity, abs=1e-5)
    assert "drop" in combo.toolTip()
    # back to the whole track
    with qtbot.waitSignal(w.queryFinished, timeout=T) as blocker:
        w.structure.rank_by("whole")
    assert blocker.args[0].result.section is None
    assert np.all(np.diff(blocker.args[0].ranking.similarity[blocker.args[0].ranking.order[:5]]) <= 1e-6)
    w.close()


# ---------------------------------------------------------------------------------- AppState, no display
def test_appstate_decodes_the_wip_once_alongside_the_query_and_restarts_it_for_a_new_model():
    from tests.test_app_state import Jobs, ManualRunner, audio, loaded
    from trance_finder.app_state import AppState

    runner, made = ManualRunner(), []

    def wip_job(path, rate, channels, cancel):
        made.append(path)
        return audio(path)

    st = AppState(runner, Jobs())
    st.wip_job = wip_job
    st.set_model(loaded())
    st.open_wip("/wip/a.wav")
    assert [h.name for h in runner.handles] == ["query", "decode-wip"]  # together, not after
    runner.last("query").finish()
    assert [h.name for h in runner.handles] == ["query", "decode-wip", "decode-reference"]  # no 2nd decode
    # a new model while the WIP decode is in flight: that decode is stale, a new one starts with the query
    first = runner.last("decode-wip")
    st.set_model(loaded())
    first.finish()
    assert st.wip.audio is None and st.dropped >= 1
    assert [h.name for h in runner.handles].count("decode-wip") == 2
    runner.last("query").finish()
    runner.last("decode-wip").finish()
    assert st.wip.audio is not None and st.wip.audio.path == "/wip/a.wav"
    assert [h.name for h in runner.handles].count("decode-wip") == 2
    # ranking by a section re-queries with the section, keeps the decoded audio (no decode)
    calls = []
    st.jobs.run_query = lambda finder, path, k, cancel, section=None: calls.append(section) or Jobs().run_query(
        finder, path, k, cancel)
    st.rank_by("drop")
    runner.last("query").finish()
    assert calls == ["drop"] and st.wip.audio is not None
    assert [h.name for h in runner.handles].count("decode-wip") == 2
