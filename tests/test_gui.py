"""The desktop app, driven as a user would (pytest-qt, offscreen): drop a file, click the map, move a
blend slider, train and cancel, A/B with a fake output stream. One small "dsp" model is trained per
session; every test gets fresh user folders (conftest) so settings and models never leak."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.test_playback import FakeStream  # noqa: E402
from trance_finder.core.progress import Progress, run_to_end  # noqa: E402
from trance_finder.playback.player import Player  # noqa: E402

T = 60_000  # generous timeouts (ms): these tests wait for behaviour, never for speed
PLAYER_SR = 22050


@pytest.fixture(scope="session")
def gui_model(small_library, shared_cache, tmp_path_factory):
    """A tiny dsp model over the small synthetic library: (model, index, library)."""
    from trance_finder.core.engine import TrainOptions, train_library
    from trance_finder.core.training import TrainConfig

    out = tmp_path_factory.mktemp("gui_model")
    opts = TrainOptions(references=str(small_library), output_model=str(out / "embedding_model.pt"),
                        output_index=str(out / "similarity_index.faiss"), features="dsp", n_views=1,
                        eval_folds=0, train=TrainConfig(epochs=3), cache_dir=str(shared_cache))
    result = run_to_end(train_library(opts))
    return result.model_path, result.index_path, Path(small_library)


@pytest.fixture
def wip_file(gui_model, tmp_path):
    """A 'WIP' made from one library track: 10 dB quieter, so it should rank that track first."""
    library = gui_model[2]
    source = sorted(library.rglob("*.wav"))[3]
    audio, sr = sf.read(str(source), dtype="float32", always_2d=True)
    path = tmp_path / f"my_wip_{source.stem}.wav"
    sf.write(str(path), audio * 10 ** (-10 / 20), sr)
    return path, source


def make_window(qtbot, gui_model=None, player=None, use_demo=False, wait=True):
    from trance_finder.gui.app import create_main_window

    model, index = (gui_model[0], gui_model[1]) if gui_model else (None, None)
    w = create_main_window(model_path=model, index_path=index, use_demo=use_demo, player=player)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    if wait and gui_model:
        qtbot.waitUntil(lambda: w.finder is not None, timeout=T)
    return w


@pytest.fixture
def window(qtbot, gui_model):
    w = make_window(qtbot, gui_model)
    yield w
    w.close()


@pytest.fixture
def fake_player():
    FakeStream.instances.clear()
    p = Player(samplerate=PLAYER_SR, channels=2, blocksize=512, stream_factory=FakeStream)
    yield p
    p.close()


def drop_file(target, path) -> QDropEvent:
    """A real drag-enter + drop with a file URL, delivered to ``target`` (any widget in the window)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPoint(target.width() // 2, target.height() // 2)
    try:  # the constructor takes QPoint in PySide6 6.11 and QPointF in 6.12
        enter = QDragEnterEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    except TypeError:
        enter = QDragEnterEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(target, enter)
    drop = QDropEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(target, drop)
    return drop


def run_query(qtbot, w, path):
    with qtbot.waitSignal(w.queryFinished, timeout=T) as blocker:
        drop_file(w.table.viewport(), path)
    return blocker.args[0]


# ---------------------------------------------------------------------------------------------- query
def test_dropping_a_file_fills_the_ranked_list(qtbot, window, wip_file):
    w = window
    path, source = wip_file
    assert w.table.neighbours.rowCount() == len(w.finder.tracks)  # browse mode before a query
    out = run_query(qtbot, w, path)
    model = w.table.neighbours
    assert model.ranked and model.rowCount() == min(w.k_spin.value(), len(w.finder.tracks))
    sims = [model.row_data(r).similarity for r in range(model.rowCount())]
    assert sims == sorted(sims, reverse=True)
    assert [model.row_data(r).rank for r in range(model.rowCount())] == list(range(1, model.rowCount() + 1))
    assert model.row_data(0).track["title"] == source.stem  # the quiet copy finds its original
    assert w.query_title.text() == path.name
    assert "LUFS" in w.stats["lufs"].text() and "BPM" in w.stats["tempo"].text()
    assert w.cluster_label.text() == out.result.cluster and w.confidence.value() > 0
    assert w.table.selected_position() == out.result.neighbours[0].position
    assert not w.busy.isVisible()
    # the map shows the WIP and lines to its nearest references
    assert len(w.map.wip.data) == 1 and len(w.map.lines.xData) > 0
    # the whole-file loudness arrives from the decode worker
    qtbot.waitUntil(lambda: w.wip_audio is not None and w.wave_a.has_audio, timeout=T)
    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    from trance_finder.core.audio import integrated_lufs

    assert w.wip_audio.lufs == pytest.approx(integrated_lufs(audio.T, sr), abs=0.05)
    assert w.stats["lufs"].text() == f"{w.wip_audio.lufs:.1f} LUFS"


def test_a_bad_file_is_an_error_message_not_a_crash(qtbot, window, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....not really audio")
    with qtbot.waitSignal(window.queryFailed, timeout=T) as blocker:
        drop_file(window, bad)
    assert "broken.wav" in blocker.args[0]
    assert window.error_label.isVisible() and not window.busy.isVisible()
    assert window.open_query(tmp_path / "notes.txt") is False  # not audio: refused up front


def test_show_top_k_and_keyboard(qtbot, window, wip_file, fake_player):
    run_query(qtbot, window, wip_file[0])
    window.k_spin.setValue(5)
    assert window.table.neighbours.rowCount() == 5
    window.table.setFocus()
    first = window.table.selected_position()
    qtbot.keyClick(window.table, Qt.Key_Down)
    assert window.table.selected_position() == window.table.neighbours.position_at(1) != first


# ------------------------------------------------------------------------------------------------ map
def _isolated_point(w) -> int:
    xy = w.map.xy
    d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=-1) + np.eye(len(xy)) * 1e9
    return int(np.argmax(d.min(axis=1)))


def test_clicking_a_map_point_selects_it_in_the_table(qtbot, window, wip_file):
    w = window
    run_query(qtbot, w, wip_file[0])
    w.k_spin.setValue(3)
    target = _isolated_point(w)
    w.map.fit()
    qtbot.wait(50)
    pos = w.map.point_view_pos(target).toPoint()
    with qtbot.waitSignal(w.map.pointClicked, timeout=T) as blocker:
        qtbot.mouseClick(w.map.plot_widget.viewport(), Qt.LeftButton, pos=pos)
    assert blocker.args == [target]
    qtbot.waitUntil(lambda: w.table.selected_position() == target, timeout=T)
    assert w.selected_position == target
    assert len(w.map.selected.data) == 1  # the ring on the map follows
    # a reference outside the top 3 is pinned into the table with its true rank
    row = w.table.neighbours.row_data(w.table.neighbours.row_of(target))
    assert row.rank is not None and (row.rank <= 3 or row.pinned)


def test_map_hover_tip_names_the_track(window):
    tip = window.map._tip(0.0, 0.0, 2)
    assert window.finder.tracks[2]["title"] in tip


# -------------------------------------------------------------------------------------- interpolation
def test_moving_a_blend_slider_changes_the_neighbours(qtbot, window):
    panel = window.interp
    assert panel.isEnabled() and len(panel.sliders) == 2
    a, b = panel.sliders

    def settled():
        return panel.last_outcome is not None and panel.last_outcome.request_id == panel.request_id

    qtbot.waitUntil(settled, timeout=T)
    a.setValue(100)
    b.setValue(0)
    qtbot.waitUntil(settled, timeout=T)
    towards_a = panel.blend_titles()
    marker_a = tuple(window.map.blend.data[0][["x", "y"]])
    a.setValue(0)
    b.setValue(100)
    qtbot.waitUntil(settled, timeout=T)
    assert panel.blend_titles() != towards_a
    assert tuple(window.map.blend.data[0][["x", "y"]]) != marker_a  # the marker moved on the map
    assert panel.results.topLevelItemCount() == len(panel.blend_titles()) > 0


def test_slider_drags_are_coalesced(qtbot, window):
    panel = window.interp
    qtbot.waitUntil(lambda: not panel.worker.busy, timeout=T)
    before = panel.worker.computed
    for v in range(0, 101, 2):  # 51 events, as fast as a drag can make them
        panel.sliders[0].setValue(v)
    qtbot.waitUntil(lambda: not panel.worker.busy and panel.last_outcome.request_id == panel.request_id,
                    timeout=T)
    assert panel.worker.computed - before < 51  # stale requests were dropped, the newest computed


def test_clicking_a_blend_result_selects_it(qtbot, window):
    panel = window.interp
    qtbot.waitUntil(lambda: panel.results.topLevelItemCount() > 0, timeout=T)
    item = panel.results.topLevelItem(panel.results.topLevelItemCount() - 1)
    panel.results.scrollToItem(item)
    rect = panel.results.visualItemRect(item)
    qtbot.mouseClick(panel.results.viewport(), Qt.LeftButton, pos=rect.center())
    assert window.table.selected_position() == int(item.data(0, Qt.UserRole))


def test_two_to_four_anchors_including_the_wip(qtbot, window, wip_file):
    run_query(qtbot, window, wip_file[0])
    panel = window.interp
    qtbot.mouseClick(panel.add_button, Qt.LeftButton)
    qtbot.mouseClick(panel.add_button, Qt.LeftButton)
    assert len(panel.rows) == 4 and not panel.add_button.isEnabled()
    assert len({r.anchor() for r in panel.rows}) == 4  # each new anchor starts on a different choice
    qtbot.mouseClick(panel.rows[-1].remove, Qt.LeftButton)
    assert len(panel.rows) == 3 and panel.add_button.isEnabled()
    combo = panel.rows[2].combo
    combo.setCurrentIndex(next(i for i in range(combo.count()) if combo.itemData(i) == ("wip", None)))
    for r, weight in zip(panel.rows, (0, 0, 100)):
        r.slider.setValue(weight)
    qtbot.waitUntil(lambda: panel.last_outcome is not None and panel.last_outcome.request_id == panel.request_id,
                    timeout=T)
    np.testing.assert_allclose(panel.last_outcome.vector, window.query_outcome.result.vector, atol=1e-5)
    assert panel.blend_titles()[0] == wip_file[1].stem  # all weight on the WIP: its original comes first
    run_query(qtbot, window, wip_file[1])  # a new WIP: the "My WIP" anchor follows it
    other = window.query_outcome.result.vector
    assert panel.rows[2].anchor() == ("wip", None)
    qtbot.waitUntil(lambda: panel.last_outcome is not None and panel.last_outcome.request_id == panel.request_id,
                    timeout=T)
    np.testing.assert_allclose(panel.last_outcome.vector, other, atol=1e-5)
    qtbot.mouseClick(panel.rows[0].remove, Qt.LeftButton)
    qtbot.mouseClick(panel.rows[0].remove, Qt.LeftButton)
    assert len(panel.rows) == 2  # never fewer than two


def test_walk_from_the_wip_toward_a_cluster(qtbot, window, wip_file):
    run_query(qtbot, window, wip_file[0])
    panel = window.interp
    qtbot.mouseClick(panel.mode_toward, Qt.LeftButton)
    assert panel.amount.isEnabled()
    panel.amount.setValue(0)
    qtbot.waitUntil(lambda: panel.last_outcome is not None and panel.last_outcome.request_id == panel.request_id,
                    timeout=T)
    at_wip = panel.last_outcome.vector
    np.testing.assert_allclose(at_wip, window.query_outcome.result.vector, atol=1e-5)
    panel.amount.setValue(100)
    qtbot.waitUntil(lambda: panel.last_outcome.request_id == panel.request_id, timeout=T)
    target = window.finder.centroids[window.finder.cluster_names.index(panel.target.currentData())]
    assert float(panel.last_outcome.vector @ target) > float(at_wip @ target)


# ------------------------------------------------------------------------------------------- playback
def test_ab_switch_keeps_position_and_matches_loudness(qtbot, gui_model, wip_file, fake_player):
    from trance_finder.core.audio import integrated_lufs

    w = make_window(qtbot, gui_model, player=fake_player)
    path, source = wip_file
    run_query(qtbot, w, path)
    qtbot.waitUntil(lambda: fake_player.has_source("A") and fake_player.has_source("B"), timeout=T)
    assert w.ab_button.isEnabled() and w.play_wip_button.isEnabled()
    # gains: both sides meet at the quieter one's LUFS (of the whole decoded, stereo file); never a boost
    lufs = {}
    for slot, f in (("A", path), ("B", source)):
        audio, sr = sf.read(str(f), dtype="float32", always_2d=True)
        lufs[slot] = integrated_lufs(np.repeat(audio, 2, axis=1).T if audio.shape[1] == 1 else audio.T, sr)
    for slot in "AB":
        assert fake_player.source(slot).gain_db == pytest.approx(min(lufs.values()) - lufs[slot], abs=0.05)
    assert fake_player.source("A").gain_db == pytest.approx(0.0, abs=0.05)  # the quiet WIP is not boosted
    assert fake_player.source("B").gain_db == pytest.approx(-10.0, abs=0.3)  # the reference is turned down
    assert "A +0.0 dB" in w.gain_label.text() and "B -" in w.gain_label.text()

    qtbot.mouseClick(w.play_wip_button, Qt.LeftButton)
    assert fake_player.playing and fake_player.active == "A"
    stream = FakeStream.instances[-1]
    for _ in range(40):
        stream.pull(2048)  # ~3.7 s
    frac = fake_player.fraction
    qtbot.mouseClick(w.ab_button, Qt.LeftButton)
    assert fake_player.active == "B" and fake_player.playing
    assert fake_player.fraction == pytest.approx(frac, abs=1e-3)
    # what comes out is the reference at its loudness-matched gain
    src = fake_player.source("B")
    start = fake_player._pos
    out = stream.pull(1024)
    expected = np.clip(src.buffer[start:start + 1024] * 10 ** (src.gain_db / 20), -1, 1)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    qtbot.waitUntil(lambda: w.wave_b.active and abs(w.wave_b.fraction - fake_player.fraction) < 0.01, timeout=T)
    # the quiet WIP copy and its original sound equally loud after the gain match
    a_src = fake_player.source("A")
    rms = [float(np.sqrt(np.mean((s.buffer * 10 ** (s.gain_db / 20)) ** 2))) for s in (a_src, src)]
    assert 20 * math.log10(rms[0] / rms[1]) == pytest.approx(0.0, abs=0.5)
    w.close()


def test_a_rebounced_wip_at_the_same_path_is_decoded_again(qtbot, gui_model, wip_file, fake_player):
    import os

    w = make_window(qtbot, gui_model, player=fake_player)
    path, _source = wip_file
    run_query(qtbot, w, path)
    qtbot.waitUntil(lambda: fake_player.has_source("A"), timeout=T)
    first = w.wip_audio
    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    sf.write(str(path), audio[: len(audio) // 2] * 0.5, sr)  # re-bounced: shorter and quieter, same name
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with qtbot.waitSignal(w.wipDecoded, timeout=T):
        run_query(qtbot, w, path)
    assert w.wip_audio is not first and w.wip_audio.duration == pytest.approx(first.duration / 2, abs=0.05)
    assert fake_player.source("A").frames == len(w.wip_audio.buffer)
    w.close()


def test_a_mono_file_is_measured_as_it_is_played(tmp_path):
    from trance_finder.gui.tasks import decode_for_playback

    rng = np.random.default_rng(0)
    mono = (0.1 * rng.standard_normal(22050 * 3)).astype(np.float32)
    sf.write(str(tmp_path / "mono.wav"), mono, 22050)
    sf.write(str(tmp_path / "stereo.wav"), np.stack([mono, mono], axis=1), 22050)
    m = decode_for_playback(str(tmp_path / "mono.wav"), 22050, 2)
    s = decode_for_playback(str(tmp_path / "stereo.wav"), 22050, 2)
    assert m.lufs == pytest.approx(s.lufs, abs=0.01)
    assert m.gain_db == pytest.approx(s.gain_db, abs=0.01) and m.gain_db <= 0.0


def test_waveform_click_seeks_and_space_plays_the_reference(qtbot, gui_model, wip_file, fake_player):
    w = make_window(qtbot, gui_model, player=fake_player)
    run_query(qtbot, w, wip_file[0])
    qtbot.waitUntil(lambda: fake_player.has_source("A") and w.wave_a.has_audio, timeout=T)
    r = w.wave_a._wave_rect()
    qtbot.mouseClick(w.wave_a, Qt.LeftButton, pos=QPoint(int(r.left() + 0.75 * r.width()), w.wave_a.height() // 2))
    assert fake_player.active == "A" and fake_player.fraction == pytest.approx(0.75, abs=0.01)
    w.table.setFocus()
    qtbot.keyClick(w.table, Qt.Key_Down)
    second = w.table.selected_position()
    path = w.finder.tracks[second]["path"]
    qtbot.keyClick(w.table, Qt.Key_Space)
    qtbot.waitUntil(lambda: fake_player.playing and fake_player.active == "B"
                    and fake_player.source("B").label == Path(path).stem, timeout=T)
    w.close()


def test_a_failing_audio_stream_is_a_status_message(qtbot, gui_model, wip_file):
    from tests.test_playback import FailingStream

    player = Player(samplerate=PLAYER_SR, channels=2, blocksize=512, stream_factory=FailingStream)
    w = make_window(qtbot, gui_model, player=player)
    run_query(qtbot, w, wip_file[0])
    qtbot.waitUntil(lambda: player.has_source("A"), timeout=T)
    qtbot.mouseClick(w.play_wip_button, Qt.LeftButton)
    assert not player.playing
    assert "could not" in w.statusBar().currentMessage().lower()
    assert "device unavailable" in w.statusBar().currentMessage()
    assert "color" in w.statusBar().styleSheet()  # the error style
    assert w.play_wip_button.text() == "▶  WIP"
    w.close()


def test_without_an_audio_device_playback_is_disabled_with_a_reason(qtbot, window, wip_file):
    assert window.player is None or window.player_reason == ""
    if window.player is not None:
        pytest.skip("this machine has an audio output device")
    run_query(qtbot, window, wip_file[0])
    qtbot.waitUntil(lambda: window.wave_a.has_audio, timeout=T)  # the waveform still works
    for b in (window.play_wip_button, window.play_ref_button, window.ab_button, window.stop_button):
        assert not b.isEnabled()
        assert "No audio output device" in b.toolTip()
    assert "no audio output" in window.gain_label.text().lower()


# ------------------------------------------------------------------------------------------- training
def _train_settings(w, folder, epochs):
    w.show_training()
    w.training.set_values({"references": str(folder), "features": "dsp", "epochs": epochs, "batch_size": 16,
                           "n_views": 1, "eval_folds": 0, "device": "cpu"})


def test_training_can_be_cancelled_and_the_previous_model_stays(qtbot, window, small_library):
    from trance_finder.gui.tasks import user_model_paths

    w = window
    before, before_path = w.finder, w.loaded.model_path
    _train_settings(w, small_library, epochs=500)
    seen: list[Progress] = []
    w.training.progress.connect(seen.append)
    with qtbot.waitSignal(w.training.progress, timeout=T, check_params_cb=lambda p: p.stage == "extract" and p.done):
        qtbot.mouseClick(w.training.train_button, Qt.LeftButton)
    assert w.training.running and not w.training.train_button.isEnabled()
    assert w.training.bar.maximum() == 1000 and 0 < w.training.bar.value() < 1000  # one bar over all phases
    with qtbot.waitSignal(w.training.trainingCancelled, timeout=T):
        qtbot.mouseClick(w.training.cancel_button, Qt.LeftButton)
    assert not w.training.running and w.training.train_button.isEnabled()
    assert w.finder is before and w.loaded.model_path == before_path
    assert not Path(user_model_paths()[0]).exists()  # nothing written
    assert "previous model" in w.training.stage.text()
    assert seen and seen[0].stage == "extract"


def test_training_to_the_end_swaps_in_the_new_model(qtbot, window, tmp_path):
    from trance_finder import synth

    lib = tmp_path / "refs"
    run_to_end(synth.make_library(lib, n_per_family=3, families=["uplifting", "psy"], seconds=6.0, sr=22050,
                                  seed=3))
    (lib / "not_audio.wav").write_bytes(b"garbage")  # listed as skipped, not fatal
    w = window
    _train_settings(w, lib, epochs=3)
    epochs = []
    w.training.progress.connect(lambda p: epochs.append(p.info["loss"]) if p.stage == "train" and "loss" in p.info
                                else None)
    at_save = []
    w.training.progress.connect(lambda p: at_save.append((w.training.cancel_button.isEnabled(),
                                                          w.training.cancel_button.text()))
                                if p.stage == "save" else None)
    with qtbot.waitSignal(w.modelLoaded, timeout=T) as blocker:
        qtbot.mouseClick(w.training.train_button, Qt.LeftButton)
    loaded = blocker.args[0]
    assert at_save and all(s == (False, "Saving…") for s in at_save)  # too late to cancel while saving
    assert w.training.cancel_button.text() == "Cancel" and not w.training.cancel_button.isEnabled()
    assert loaded.kind == "user" and w.loaded is loaded and len(w.finder.tracks) == 6
    assert w.table.neighbours.rowCount() == 6 and len(w.map.xy) == 6
    # the live loss curve follows every epoch the engine runs (on 6 unlabelled tracks the core may decide
    # to train nothing and index the raw backbone: then there are no epochs to show)
    assert len(epochs) in (0, 3) and len(w.training.losses) == len(epochs)
    assert w.training.eval_table.item(0, 0).text() != "—"  # in-sample numbers shown
    assert w.training.skipped_list.count() == 1 and "not_audio.wav" in w.training.skipped_list.item(0).text()
    assert "user" in w.model_label.text().lower() or "your library" in w.model_label.text().lower()


def test_a_late_startup_job_never_replaces_a_trained_model(qtbot, window, gui_model):
    from types import SimpleNamespace

    from trance_finder.gui.tasks import load_model

    w = window
    trained = load_model(gui_model[0], gui_model[1], "user", "cpu")
    w.start_model()  # a startup job still running when training ends
    startup_job = [j for j in w.runner.jobs if j.name == "startup"][-1]
    w._model_trained(SimpleNamespace(loaded=trained, result=SimpleNamespace(n_tracks=len(trained.finder.tracks))))
    assert w.loaded is trained and startup_job.cancel_requested
    qtbot.waitUntil(lambda: not w.runner.busy("startup"), timeout=T)
    qtbot.wait(50)
    assert w.loaded is trained and w.finder is trained.finder  # its late result was dropped by AppState


def test_training_errors_are_messages(qtbot, window, tmp_path):
    _train_settings(window, tmp_path / "missing_folder", epochs=2)
    with qtbot.waitSignal(window.training.trainingFailed, timeout=T) as blocker:
        qtbot.mouseClick(window.training.train_button, Qt.LeftButton)
    assert "missing_folder" in blocker.args[0] and window.training.message.text()
    assert window.finder is not None


def test_settings_panel_lists_backbones_and_devices(qtbot, window):
    panel = window.training
    qtbot.waitUntil(lambda: "Checking" not in panel.device_info.text(), timeout=T)
    names = [panel.features.itemData(i) for i in range(panel.features.count())]
    assert names == ["musicnn+vgg_msd+dsp", "musicnn+dsp", "musicnn", "dsp", "openl3"]
    from trance_finder.core.backbones import availability

    for i, name in enumerate(names):
        ok = all(availability(part)[0] for part in name.split("+"))
        assert panel.features.model().item(i).isEnabled() == ok
        if not ok:
            assert panel.features.model().item(i).toolTip()
    assert "CPU" in panel.device_info.text() or "CUDA" in panel.device_info.text()


# ------------------------------------------------------------------------------------ start and state
def test_first_start_opens_the_demo_with_progress(qtbot, gui_model, monkeypatch, tmp_path):
    import trance_finder.demo as demo

    wip = tmp_path / "demo_wip.wav"
    sf.write(str(wip), np.zeros((22050, 2), np.float32) + 0.01, 22050)

    def fake_ensure_demo(device="auto", rebuild=False, cancel=None, features=None):
        for i in range(3):
            yield Progress("extract", i, 3, "fake demo build")
        return {"model": gui_model[0], "index": gui_model[1], "library": str(gui_model[2])}

    monkeypatch.setattr(demo, "ensure_demo", fake_ensure_demo)
    monkeypatch.setattr(demo, "demo_query_file", lambda: str(wip))
    w = make_window(qtbot, None, use_demo=True, wait=False)
    qtbot.waitUntil(lambda: w.finder is not None, timeout=T)
    assert w.loaded.kind == "demo"
    text = w.banner.text.text()
    assert w.banner.isVisible() and "demo library" in text and "own reference" in text
    assert w.banner.own_button.isVisible() and w.banner.demo_wip_button.isVisible()
    assert "Demo library" in w.model_label.text()
    qtbot.mouseClick(w.banner.own_button, Qt.LeftButton)
    assert w.dock.isVisible()
    w.close()


def test_an_empty_profile_without_demo_explains_what_to_do(qtbot, wip_file):
    w = make_window(qtbot, None, use_demo=False, wait=False)
    qtbot.waitUntil(lambda: "No model yet" in w.banner.text.text(), timeout=T)
    assert w.finder is None and w.table.neighbours.rowCount() == 0
    drop_file(w, wip_file[0])  # waits for a model instead of failing
    assert w.pending_query == str(wip_file[0]) and "Waiting" in w.query_sub.text()
    w.close()


def test_a_damaged_model_is_a_message(qtbot, tmp_path):
    model, index = tmp_path / "m.pt", tmp_path / "i.faiss"
    model.write_bytes(b"junk")
    index.write_bytes(b"junk")
    from trance_finder.gui.app import create_main_window

    w = create_main_window(model_path=str(model), index_path=str(index), use_demo=False, player=None)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.modelFailed, timeout=T):
        w.show()
    assert w.banner.isVisible() and "Could not open a model" in w.banner.text.text()
    w.close()


def test_settings_and_layout_persist(qtbot, gui_model, tmp_path):
    from trance_finder import paths

    w = make_window(qtbot, gui_model)
    w.k_spin.setValue(17)
    w.training.set_values({"references": str(tmp_path), "epochs": 7, "lr": 0.002, "features": "dsp"})
    w.resize(1100, 700)
    w.close()
    s = QSettings(str(paths.settings_file()), QSettings.IniFormat)
    assert int(s.value("results/limit")) == 17 and s.value("window/geometry") is not None
    w2 = make_window(qtbot, gui_model)
    assert w2.k_spin.value() == 17
    v = w2.training.values()
    assert v["references"] == str(tmp_path) and v["epochs"] == 7 and v["lr"] == pytest.approx(0.002)
    assert v["features"] == "dsp"
    assert w2.height() == min(700, w2.screen().availableGeometry().height()) and w2.width() < 1400  # restored
    w2.close()


def test_default_window_size_and_theme(qtbot, window):
    avail = window.screen().availableGeometry()
    assert (window.width(), window.height()) == (min(1400, avail.width()), min(900, avail.height()))
    app = QApplication.instance()
    assert app.property("trance_finder_style") == "Fusion" and app.styleSheet()
    assert app.palette().window().color().lightness() < 60  # dark


# ------------------------------------------------------------------------------------------- plumbing
def test_worker_reports_progress_result_errors_and_cancel(qtbot):
    from trance_finder.errors import Cancelled, TranceFinderError
    from trance_finder.gui.workers import JobRunner

    runner = JobRunner()

    def counting(cancel):
        for i in range(3):
            yield Progress("x", i + 1, 3)
        return "done"

    got = []
    with qtbot.waitSignal(runner.start(counting, "ok", on_progress=got.append).finished, timeout=T) as b:
        pass
    assert b.args == ["done"] and [p.done for p in got] == [1, 2, 3]

    def user_error(cancel):
        raise TranceFinderError("a clear message")

    with qtbot.waitSignal(runner.start(user_error, "err").failed, timeout=T) as b:
        pass
    assert b.args == ["a clear message"]

    def bug(cancel):
        raise ZeroDivisionError("oops")

    with qtbot.waitSignal(runner.start(bug, "bug").failed, timeout=T) as b:
        pass
    assert b.args[0].startswith("Unexpected error: ZeroDivisionError")

    def slow(cancel):
        while True:
            cancel.check()
            yield Progress("x", 0, 0)

    job = runner.start(slow, "slow")
    with qtbot.waitSignal(job.cancelled, timeout=T):
        job.cancel()
    qtbot.waitUntil(lambda: not runner.jobs, timeout=T)
    assert Cancelled


def test_shutdown_cancels_all_then_keeps_a_stuck_thread_referenced(qtbot):
    import time

    from trance_finder.gui import workers

    runner = workers.JobRunner()
    stuck = runner.start(lambda cancel: time.sleep(0.5), "stuck")  # ignores its cancel token
    polite = runner.start(lambda cancel: [time.sleep(0.01) for _ in range(500) if not cancel.cancelled], "polite")
    runner.shutdown(ms=20)
    assert stuck.cancel_requested and polite.cancel_requested
    assert stuck in workers._STRAGGLERS  # never destroyed while its thread runs
    assert stuck.wait(5000)
    workers._STRAGGLERS.remove(stuck)


def test_a_result_queued_when_the_runner_shuts_down_is_not_delivered(qtbot):
    from trance_finder.gui import workers

    runner = workers.JobRunner()
    got = []
    job = runner.start(lambda cancel: "late", "quick", on_finished=got.append, on_failed=got.append)
    assert job.wait(5000)  # the job's code has ended; its result is queued for the UI thread
    runner.shutdown()
    qtbot.wait(200)
    assert got == []
    control = workers.JobRunner()
    with qtbot.waitSignal(control.start(lambda cancel: "on time", "quick", on_finished=got.append).finished,
                          timeout=T):
        pass
    assert got == ["on time"]


def test_excepthook_logs_and_names_the_log(qtbot, monkeypatch):
    from trance_finder.gui import app as gui_app

    shown = []
    monkeypatch.setattr(gui_app, "_show_crash_dialog", shown.append)
    try:
        raise RuntimeError("boom from a slot")
    except RuntimeError as exc:
        gui_app.excepthook(type(exc), exc, exc.__traceback__)
    text = gui_app.log_file().read_text()
    assert "boom from a slot" in text and shown and "RuntimeError" in shown[0]


def test_create_main_window_returns_the_window(qtbot, gui_model):
    from trance_finder.gui.main_window import MainWindow

    w = make_window(qtbot, gui_model)
    assert isinstance(w, MainWindow) and w.windowTitle() == "Trance Finder"
    assert w.loaded.kind == "custom"
    app = QApplication.instance()
    assert app.organizationName() and app.applicationName()
    w.close()


RUN_APP_PROBE = r"""
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from trance_finder.gui import app as gui_app
from trance_finder.gui.main_window import MainWindow

seen = {}


def poll():
    wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    if wins and wins[-1].query_outcome is not None:
        seen["title"] = wins[-1].table.neighbours.row_data(0).track["title"]
        wins[-1].close()
        QApplication.instance().quit()
    else:
        QTimer.singleShot(20, poll)


QTimer.singleShot(0, poll)
code = gui_app.run_app(query=sys.argv[1], model_path=sys.argv[2], index_path=sys.argv[3])
print("RESULT", code, seen.get("title"), sys.excepthook is gui_app.excepthook)
"""


def test_run_app_opens_the_window_with_the_query(gui_model, wip_file):
    """In a fresh process: ``app.exec()`` inside pytest-qt's QApplication leaves posted (cross-thread)
    events undelivered for every later test, so the real entry point runs where it runs for a user."""
    import os
    import subprocess
    import sys

    from trance_finder.gui import app as gui_app

    out = subprocess.run([sys.executable, "-c", RUN_APP_PROBE, str(wip_file[0]), gui_model[0], gui_model[1]],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")]
    assert line, out.stdout + out.stderr[-3000:]
    _tag, code, title, hook = line[0].split(" ", 3)
    assert code == "0" and title == wip_file[1].stem and hook == "True"
    assert "starting" in gui_app.log_file().read_text()


def test_pyside_refcount_guard_survives_many_void_calls_and_emits(qapp):
    """PySide6 6.12 on Python < 3.12 steals a reference to None per void call and to True per emit;
    without the guard in trance_finder.gui this loop ends in 'Fatal Python error: none_dealloc'."""
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QLabel

    from trance_finder.gui._pyside_fix import protect_singletons

    protect_singletons()

    class Pinger(QObject):
        ping = Signal()

    label, pinger = QLabel(), Pinger()
    for _ in range(300_000):
        label.setText("x")
        pinger.ping.emit()
    assert label.text() == "x"


def test_no_display_is_a_clear_message_not_an_abort(monkeypatch, capsys):
    import sys as _sys

    from trance_finder.gui import app as gui_app

    if _sys.platform.startswith(("win", "darwin")):
        pytest.skip("X11/Wayland check only")
    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    assert gui_app.run_app() == 1
    assert "no display found" in capsys.readouterr().err
