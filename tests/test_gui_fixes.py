# ruff: noqa: F811 - the shared fixtures are imported from tests.test_gui
"""Issue 10, what a producer tripped over in the window: sizes, stale state, marked estimates, training
progress, map and Explore, controls, what is kept on reopen, small things. Offscreen pytest-qt."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.test_gui import T, drop_file, gui_model, make_window, run_query, wip_file  # noqa: E402, F401

LONG = "Artist {i} - Mushroom Engine (psy)"


def settle(qtbot, ms=80):
    QApplication.processEvents()
    qtbot.wait(ms)


def long_titles(w):
    for i, t in enumerate(w.finder.tracks):
        t["title"] = LONG.format(i=i + 1)
    w.results.render_library(w.finder)


def assert_titles_readable(w):
    table = w.table
    width = table.viewport().width()
    assert table.title_width() >= 0.45 * width, (table.title_width(), width)
    shown = table.fontMetrics().elidedText(LONG.format(i=2), Qt.ElideMiddle, table.title_width() - 8)
    assert shown.startswith("Artist 2") and shown.endswith("(psy)"), shown  # never "Artist 2 - ..."
    assert table.textElideMode() == Qt.ElideMiddle


# ------------------------------------------------------------------------------------------ sizes
def test_titles_stay_readable_with_the_panel_open_and_at_the_minimum_size(qtbot, gui_model):
    w = make_window(qtbot, gui_model)
    long_titles(w)
    w.resize(1280, 720)
    w.show_training()
    settle(qtbot)
    assert_titles_readable(w)
    heading = w.results.title  # the card's heading is never clipped by its controls
    assert heading.width() >= heading.sizeHint().width(), (heading.width(), heading.sizeHint().width())
    w.dock.hide()
    w.resize(w.minimumSizeHint())
    settle(qtbot)
    assert_titles_readable(w)
    tip = w.table.neighbours.data(w.table.neighbours.index(0, 1), Qt.ToolTipRole)
    assert "Mushroom Engine (psy)" in tip  # the full title in the tooltip
    w.close()


def test_the_window_never_grows_past_a_laptop_screen(qtbot, gui_model):
    w = make_window(qtbot, gui_model)
    hint = w.minimumSizeHint()
    assert hint.width() <= 960 and hint.height() <= 600, hint
    w.resize(1280, 720)
    settle(qtbot)
    w.show_training()
    settle(qtbot, 200)
    assert w.width() == 1280 and w.height() == 720  # the panel opens inside the window
    height = w.height()
    panel = w.interp
    panel.add_anchor()
    panel.add_anchor()
    settle(qtbot)
    assert w.height() == height  # more anchors: the Explore card scrolls
    from trance_finder.gui.tasks import load_model

    w.state.set_model(load_model(gui_model[0], gui_model[1], "user", "cpu"))  # switching library
    settle(qtbot)
    assert (w.width(), w.height()) == (1280, 720)
    w.close()


def test_map_points_are_never_cut_off(qtbot, gui_model):
    w = make_window(qtbot, gui_model)
    for size in ((1280, 720), (w.minimumSizeHint().width(), w.minimumSizeHint().height()), (1920, 1080)):
        w.resize(*size)
        settle(qtbot, 120)
        assert w.map.points_in_view(), size
    w.close()


# ------------------------------------------------------------------------------------- stale state
def test_no_stale_data_under_a_new_name(qtbot, gui_model, wip_file, tmp_path):
    w = make_window(qtbot, gui_model)
    run_query(qtbot, w, wip_file[0])
    qtbot.waitUntil(lambda: w.wip_audio is not None, timeout=T)
    second = tmp_path / "Artist 2 - Second Idea.wav"
    shutil.copy(wip_file[1], second)
    drop_file(w.table.viewport(), second)
    # at once, before the analysis ends: the new name and nothing of the previous WIP
    assert w.query_title.text() == second.name
    assert all(v.text() in ("…", "—") for v in w.stats.values())
    assert "analysing" in w.cluster_label.text()
    assert not w.table.neighbours.ranked and len(w.map.wip.data) == 0
    assert w.wip_audio is None and not w.wave_a.has_audio
    qtbot.waitUntil(lambda: w.query_outcome is not None and w.query_outcome.path == str(second), timeout=T)
    # a broken file: results cleared, waveform A not left saying "Decoding ..."
    bad = tmp_path / "broken_notes.wav"
    bad.write_bytes(b"RIFF....not really audio")
    with qtbot.waitSignal(w.queryFailed, timeout=T) as blocker:
        drop_file(w.table.viewport(), bad)
    assert "WAV, AIFF or FLAC" in blocker.args[0]  # says what to do
    assert w.error_label.isVisible() and "re-export" in w.error_label.text().lower()
    assert not w.table.neighbours.ranked and len(w.map.wip.data) == 0
    assert not w.wave_a.loading and not w.wave_a.has_audio
    assert w.cluster_label.text() == "—" and all(v.text() == "—" for v in w.stats.values())
    w.close()


def test_the_first_loudness_is_marked_as_an_estimate(qtbot, gui_model, wip_file):
    """Until the whole file is decoded (a job that may end before or after the analysis), the header shows
    the analysis windows' loudness marked as an estimate; then the exact value, unmarked."""
    from trance_finder.app_state import WipState

    w = make_window(qtbot, gui_model)
    run_query(qtbot, w, wip_file[0])
    qtbot.waitUntil(lambda: w.wip_audio is not None, timeout=T)
    settle(qtbot)
    assert w.stats["lufs"].text() == f"{w.wip_audio.lufs:.1f} LUFS"  # exact, unmarked
    before_decode = WipState(str(wip_file[0]), "done", outcome=w.query_outcome)  # the same WIP, not yet decoded
    w.header.render(before_decode, True)
    text, tip = w.stats["lufs"].text(), w.stats["lufs"].toolTip()
    assert text.startswith("≈ ") and "LUFS" in text and "Estimate from" in tip and "windows" in tip
    w.close()


# ---------------------------------------------------------------------------------------- training
def test_one_progress_bar_over_all_phases_and_a_fresh_eta_after_cancel():
    from trance_finder.gui.training_panel import OverallProgress

    clock = [0.0]
    run = OverallProgress(eval_folds=4, clock=lambda: clock[0])
    seen = []
    for stage, total in (("extract", 10), ("train", 5), ("evaluate", 4)):
        for done in range(total + 1):
            clock[0] += 1.0
            seen.append(run.update(stage, done, total))
    run.update("save", 1, 1)
    run.update("load", 1, 1)
    assert seen == sorted(seen) and seen[0] < 0.1 and run.fraction == pytest.approx(1.0)  # never back to 0
    # a cancelled run, then a new one: the ETA comes from the new run's own pace
    clock[0] = 100.0
    again = OverallProgress(eval_folds=4, clock=lambda: clock[0])
    clock[0] = 110.0
    f = again.update("extract", 5, 10)
    assert again.eta() == pytest.approx(10.0 * (1 - f) / f)
    assert again.eta() > 5  # not "about 0 s left" at a quarter of the way


def test_training_panel_explains_its_settings_and_summarises_the_folder(qtbot, gui_model, small_library):
    from trance_finder.settings import training_defaults

    w = make_window(qtbot, gui_model)
    w.show_training()
    p = w.training
    d = training_defaults()
    assert (p.epochs.value(), p.batch_size.value(), p.n_views.value(), p.window_views.value(),
            p.eval_folds.value()) == (d.epochs, d.batch_size, d.n_views, d.window_views, d.eval_folds)
    assert p.lr.value() == pytest.approx(d.lr) and p.margin.value() == pytest.approx(d.margin)
    for spin in (p.epochs, p.margin, p.n_views, p.window_views, p.eval_folds):
        assert len(spin.toolTip()) > 40
    p.folder.setText(str(small_library))
    n = len(list(Path(small_library).rglob("*.wav")))
    qtbot.waitUntil(lambda: "audio files" in p.summary.text(), timeout=T)
    assert p.summary.text().startswith(f"{n} audio files") and "in total" in p.summary.text()
    p._add_skipped("/x/y/" + "very_long_name_" * 6 + ".wav", "Format not recognised: re-export as WAV/FLAC")
    item = p.skipped_list.item(0)
    assert p.skipped_list.wordWrap() and "re-export" in item.text() and "/x/y/" in item.toolTip()
    w.close()


# ------------------------------------------------------------------------------------ map and explore
def test_cluster_colours_are_distinct():
    from trance_finder.gui.theme import CLUSTER_COLORS

    def lab(h):
        rgb = [int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        r, g, b = lin
        x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
        y = 0.2126 * r + 0.7152 * g + 0.0722 * b
        z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

        def f(t):
            return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

        return np.array([116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))])

    worst = min(np.linalg.norm(lab(a) - lab(b)) for a, b in itertools.combinations(CLUSTER_COLORS, 2))
    assert worst >= 25  # CIE76: clearly different colours, no two near-identical blues


def test_map_labels_never_overlap_and_the_legend_keeps_entries_whole(qtbot, gui_model):
    from trance_finder.gui.map_view import legend_html

    w = make_window(qtbot, gui_model)
    x, y = map(float, w.map.xy[0])
    for dy in (0.0, 0.01, -0.01, 0.05, -0.05):
        w.map.set_query((x, y), [])
        w.map.set_blend((x, y + dy))
        settle(qtbot, 30)
        a, b = w.map.wip_label.sceneBoundingRect(), w.map.blend_label.sceneBoundingRect()
        assert not a.intersects(b), dy
    text = legend_html(["Psy Drive", "Bright Uplifting"], {"Psy Drive": 3})
    assert "your&nbsp;WIP" in text and "white-space:nowrap" in text
    w.close()


def test_explore_has_no_gap_and_the_walk_starts_at_another_cluster(qtbot, gui_model, wip_file):
    w = make_window(qtbot, gui_model)
    out = run_query(qtbot, w, wip_file[0])
    panel = w.interp
    qtbot.mouseClick(panel.mode_toward, Qt.LeftButton)
    settle(qtbot)
    assert panel.target.currentData() != out.result.cluster
    # the stacked pages are as tall as the page shown, not the tallest page
    assert panel.pages.sizeHint().height() <= panel.pages.currentWidget().sizeHint().height() + 4
    w.close()


# ------------------------------------------------------------------------------------------ controls
def _bright_pixels(widget, region=None) -> int:
    img = widget.grab().toImage()
    r = region or img.rect()
    count = 0
    for x in range(r.left(), r.right(), 1):
        for y in range(r.top(), r.bottom(), 1):
            if img.pixelColor(x, y).lightness() > 170:
                count += 1
    return count


def test_controls_are_visible_and_the_dock_behaves(qtbot, gui_model):
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QDockWidget

    w = make_window(qtbot, gui_model)
    w.show_training()
    spin = w.training.epochs
    settle(qtbot)
    arrows = QRect(spin.width() - 18, 0, 17, spin.height())
    assert _bright_pixels(spin, arrows) >= 6  # up/down arrows drawn
    box = w.map.play_on_click
    assert _bright_pixels(box) >= 20  # "Play on click" is light text on the dark card
    assert w.dock.windowTitle() == "Library && training"  # docked: drawn with mnemonics, reads "Library & training"
    w.dock.setFloating(True)
    assert w.dock.windowTitle() == "Library & training" and w.dock.isVisible()  # floating: the window manager's
    w.dock.setFloating(False)
    assert w.dock.features() & QDockWidget.DockWidgetClosable
    assert "titlebar-close-icon: none" not in QApplication.instance().styleSheet()
    assert w.dock_action.shortcut().toString() == "Ctrl+T"
    w.dock_action.trigger()
    assert not w.dock.isVisible()
    w.dock_action.trigger()
    assert w.dock.isVisible()
    assert not w.table.tabKeyNavigation()  # Tab leaves the table; arrows move by row
    assert "QTableView:focus" in QApplication.instance().styleSheet()
    w.close()


# ----------------------------------------------------------------------------------- kept on reopen
def test_last_wip_explore_and_open_folder_are_kept(qtbot, gui_model, wip_file):
    from trance_finder import paths
    from trance_finder.settings import Keys

    w = make_window(qtbot, gui_model)
    run_query(qtbot, w, wip_file[0])
    panel = w.interp
    panel.add_anchor()
    panel.rows[0].slider.setValue(80)
    qtbot.mouseClick(panel.mode_toward, Qt.LeftButton)
    saved = panel.explore_settings()
    Keys.open_folder.set(w.settings, str(wip_file[0].parent))
    w.close()
    w2 = make_window(qtbot, gui_model)
    qtbot.waitUntil(lambda: w2.query_outcome is not None, timeout=T)
    assert w2.query_path == str(wip_file[0])
    assert w2.interp.explore_settings() == saved and w2.interp.pages.currentIndex() == 1
    s = QSettings(str(paths.settings_file()), QSettings.IniFormat)
    assert Keys.open_folder.get(s) == str(wip_file[0].parent)
    w2.close()


def test_back_from_the_demo_to_my_trained_library(qtbot, gui_model):
    from trance_finder.gui.tasks import user_model_paths
    from trance_finder.settings import Keys

    model, index = user_model_paths()
    Path(model).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(gui_model[0], model)
    shutil.copy(gui_model[1], index)
    meta = Path(gui_model[1]).with_name("index_metadata.json")
    shutil.copy(meta, Path(index).with_name("index_metadata.json"))
    w = make_window(qtbot, None, use_demo=False, wait=False)
    qtbot.waitUntil(lambda: w.loaded is not None, timeout=T)
    assert w.loaded.kind == "user"
    w._update_library_actions()
    assert not w.user_library_action.isEnabled()
    Keys.library.set(w.settings, "demo")  # as after "Use the demo library"
    w.state.loaded.kind = "demo"
    w._update_library_actions()
    assert w.user_library_action.isEnabled()
    with qtbot.waitSignal(w.modelLoaded, timeout=T) as blocker:
        w.user_library_action.trigger()
    assert blocker.args[0].kind == "user" and Keys.library.get(w.settings) == "user"
    w.close()


def test_use_my_own_references_does_something_visible_with_the_panel_open(qtbot, gui_model):
    w = make_window(qtbot, gui_model)
    w.show_training()
    w.training.train_button.setFocus()
    settle(qtbot)
    w.use_own_references()
    settle(qtbot)
    assert w.dock.isVisible() and w.training.folder.hasFocus()
    assert "reference" in w.statusBar().currentMessage().lower()
    assert w.training.lib_box.styleSheet()  # highlighted for a moment
    w.close()


# -------------------------------------------------------------------------------------------- small
def test_about_log_folders_and_relative_paths(qtbot, gui_model, monkeypatch, tmp_path):
    from trance_finder import paths

    w = make_window(qtbot, gui_model)
    text = w.about_text()
    for needle in ("musicnn", "licence", "Ctrl+T", "Ctrl+O", "PySide6"):
        assert needle in text
    # a reference's tooltip shows its path relative to the library
    w.state.loaded.references = str(gui_model[2])
    tip = w.table.neighbours.data(w.table.neighbours.index(0, 1), Qt.ToolTipRole)
    rel = w.state.display_path(w.table.neighbours.position_at(0))
    assert rel in tip and not Path(rel).is_absolute()
    w.close()
    monkeypatch.delenv("TRANCE_FINDER_LOG_DIR")
    monkeypatch.delenv("TRANCE_FINDER_CONFIG_DIR")
    monkeypatch.setenv("TRANCE_FINDER_DATA_DIR", str(tmp_path / "portable"))
    assert paths.user_log_dir().is_relative_to(tmp_path / "portable")
    assert paths.settings_file().is_relative_to(tmp_path / "portable")


# ------------------------------------------------------------------------------------------ workers
def test_a_runtime_error_in_a_job_is_a_failure_not_a_hang(qtbot):
    """superqt swallows a RuntimeError from a worker (it takes it for a deleted object); ours arrive."""
    from trance_finder.gui.workers import JobRunner

    runner = JobRunner()

    def plain(cancel):
        raise RuntimeError("torch said no")

    def generator(cancel):
        yield from ()
        raise RuntimeError("in a generator")

    for job, text in ((plain, "torch said no"), (generator, "in a generator")):
        handle = runner.start(job, "rt")
        with qtbot.waitSignal(handle.failed, timeout=T) as blocker:
            pass
        assert "RuntimeError" in blocker.args[0] and text in blocker.args[0]
    qtbot.waitUntil(lambda: not runner.jobs, timeout=T)


def test_training_panel_settings_reach_the_training_options_and_survive_a_restart(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from trance_finder.gui import tasks
    from trance_finder.gui.training_panel import TrainingPanel

    monkeypatch.setattr(tasks, "user_model_paths", lambda: (str(tmp_path / "m.pt"), str(tmp_path / "i.faiss")))
    p = TrainingPanel()
    qtbot.addWidget(p)
    p.set_values({"references": str(tmp_path), "epochs": 7, "n_views": 1, "window_views": 2, "eval_folds": 3,
                  "margin": 0.3})
    opts = p.options_factory(p.values())
    assert (opts.train.epochs, opts.n_views, opts.window_views, opts.eval_folds) == (7, 1, 2, 3)
    assert opts.train.margin == pytest.approx(0.3)
    store = QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)
    p.save_settings(store)
    again = TrainingPanel()
    qtbot.addWidget(again)
    again.load_settings(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    assert again.values() == p.values()
