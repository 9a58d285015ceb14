# ruff: noqa: F811 - pytest fixtures imported from tests.test_gui
"""Issue 11 in the window: filters above the ranked list change its rows; Rescan (and the folder watch)
adds and drops references without retraining and the new index opens without a restart; a 10,000-track
index loads, browses, filters and has searchable anchor pickers, with no per-row objects in the table."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from tests.test_gui import T, gui_model, make_window, run_query, wip_file  # noqa: E402, F401
from trance_finder.core.filters import RankFilter  # noqa: E402


def _titles(model) -> list[str]:
    return [model.row_data(r).track["title"] for r in range(model.rowCount())]


def test_filters_change_the_rows(qtbot, gui_model, wip_file):
    w = make_window(qtbot, gui_model)
    try:
        bar = w.filters_bar
        model = w.table.neighbours
        n = len(w.finder.tracks)
        bar.toggle.click()
        assert bar.isVisible()
        # browse mode: exclude words hide titles or folders
        family = Path(w.finder.tracks[0]["path"]).parent.name
        bar.exclude.setText(family)
        qtbot.waitUntil(lambda: w.state.filters.exclude == (family,), timeout=T)
        assert model.rowCount() == n - sum(family in t["path"] for t in w.finder.tracks)
        assert all(family not in model.row_data(r).track["path"] for r in range(model.rowCount()))
        assert bar.count.text() == f"{n - model.rowCount()} hidden" and bar.toggle.text() == "Filters (1)"
        bar.clear_button.click()
        assert model.rowCount() == n and not w.state.filters.active
        # ranked mode: a cluster, then a tempo range, keep only matching rows in similarity order
        run_query(qtbot, w, wip_file[0])
        w.k_spin.setValue(n)
        name = w.finder.cluster_names[-1]
        action = next(a for a in bar.styles_menu.actions() if a.text().startswith(name + "  ("))
        action.trigger()
        rows = [model.row_data(r) for r in range(model.rowCount())]
        assert rows and all(r.track["cluster"] == name for r in rows)
        assert len(rows) == sum(t["cluster"] == name for t in w.finder.tracks)
        assert [r.rank for r in rows] == sorted(r.rank for r in rows)
        bar.clear_button.click()
        tempos = sorted(t["tempo"] for t in w.finder.tracks)
        lo, hi = tempos[len(tempos) // 4], tempos[3 * len(tempos) // 4]
        w.state.set_filters(RankFilter(tempo_min=lo, tempo_max=hi))
        kept = [model.row_data(r).track["tempo"] for r in range(model.rowCount())]
        assert kept and all(lo <= t <= hi for t in kept)
        assert len(kept) == sum(lo <= t <= hi for t in tempos)
        # versions of one production collapse into the best-ranked row
        tracks = w.finder.tracks
        saved = [t["title"] for t in tracks]
        try:
            tracks[1]["title"] = saved[0] + " (Extended Mix)"
            tracks[2]["title"] = saved[0] + " (Radio Edit)"
            w.state._ftable = None
            w.state.set_filters(RankFilter(collapse_versions=True))
            assert model.rowCount() == n - 2
            row = next(r for r in range(model.rowCount()) if model.row_data(r).position in (0, 1, 2))
            assert "(+2)" in model.index(row, 1).data()
            assert len(model.versions_of(model.row_data(row).position)) == 2
        finally:
            for t, title in zip(tracks, saved):
                t["title"] = title
            w.state._ftable = None
    finally:
        w.close()


@pytest.fixture
def living_library(gui_model, shared_cache, tmp_path):
    """A private 8-track library (copies of the session library) with its own tiny model."""
    from trance_finder.core.engine import TrainOptions, train_library
    from trance_finder.core.progress import run_to_end
    from trance_finder.core.training import TrainConfig

    src = gui_model[2]
    refs = tmp_path / "refs"
    for p in sorted(src.rglob("*.wav"))[::2][:8]:
        dest = refs / p.parent.name / p.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dest)
    spare = [p for p in sorted(src.rglob("*.wav"))[1::2]][:2]
    out = tmp_path / "model"
    opts = TrainOptions(references=str(refs), output_model=str(out / "embedding_model.pt"),
                        output_index=str(out / "similarity_index.faiss"), features="dsp", n_views=0,
                        eval_folds=0, train=TrainConfig(epochs=1), cache_dir=str(shared_cache))
    result = run_to_end(train_library(opts))
    return result.model_path, result.index_path, refs, spare


def test_rescan_adds_and_removes_without_retraining(qtbot, living_library):
    model_path, index_path, refs, spare = living_library
    w = make_window(qtbot, (model_path, index_path))
    try:
        lw = w.library_watch
        # the start-up rescan finds nothing to do
        qtbot.waitUntil(lambda: w.state.library.state == "done", timeout=T)
        assert w.state.library.sentence.startswith("no changes")
        fingerprint = w.finder.model.fingerprint()
        n = len(w.finder.tracks)
        # the panel's row
        w.show_training()
        assert lw.button is not None and lw.button.isEnabled()
        # 2 new files, 1 removed
        for p in spare:
            shutil.copy2(p, refs / p.parent.name / f"new {p.name}")
        gone = sorted(refs.rglob("*.wav"))[0]
        gone.unlink()
        finder_before = w.finder
        lw.button.click()
        qtbot.waitUntil(lambda: w.state.library.state == "done" and w.finder is not finder_before, timeout=T)
        assert w.state.library.sentence.startswith("2 new, 1 removed")
        assert "2 new, 1 removed" in lw.label.text() and f"{n + 1} references" in lw.label.text()
        assert len(w.finder.tracks) == n + 1 and w.table.neighbours.rowCount() == n + 1
        titles = _titles(w.table.neighbours)
        assert all(f"new {p.stem}" in titles for p in spare) and gone.stem not in titles
        assert w.finder.model.fingerprint() == fingerprint  # the same model: nothing was retrained
        assert w.state.library.analysed == 2
        # the folder watch: a removed file triggers a (debounced) rescan on its own
        lw.timer.setInterval(150)
        finder_before = w.finder
        (refs / spare[0].parent.name / f"new {spare[0].name}").unlink()
        qtbot.waitUntil(lambda: w.finder is not finder_before and w.state.library.state == "done", timeout=T)
        assert lw.watch_events >= 1 and len(w.finder.tracks) == n
        assert w.state.library.sentence.startswith("1 removed")
    finally:
        w.close()


def synthetic_index(model_path, out_dir, n=10_000, seed=0):
    """A model folder with ``n`` synthetic references (random vectors around cluster centres, realistic
    records) for the trained model at ``model_path``: built directly, no audio. Returns (model, index)."""
    from trance_finder.core.engine import save_model_files
    from trance_finder.core.head import EmbeddingModel, unit_rows
    from trance_finder.core.index import SimilarityIndex

    model = EmbeddingModel.load(model_path)
    names = list(model.meta["clusters"])
    centroids = np.asarray(model.meta["cluster_centroids"], np.float32)
    rng = np.random.default_rng(seed)
    cl = rng.integers(0, len(names), n)
    vectors = unit_rows(centroids[cl] + 0.3 * rng.standard_normal(centroids[cl].shape).astype(np.float32))
    versions = ["", " (Extended Mix)", " (Radio Edit)", " (Original Mix)"]
    records = []
    for i in range(n):
        title = f"Artist {i % 997} - Title {i // 3}{versions[i % 4]}"
        records.append({"path": str(Path(out_dir) / "refs" / f"label_{i % 50:02d}" / f"{title}.wav"),
                        "title": title, "duration": 420.0, "tempo": float(128 + i % 20), "energy": 0.5,
                        "lufs": -8.0, "cluster": names[cl[i]], "label": "",
                        "x": float(rng.uniform(-1, 1)), "y": float(rng.uniform(-1, 1))})
    model.meta["references"] = ""  # nothing to rescan: the files do not exist
    index = SimilarityIndex.build(vectors.astype(np.float32), records,
                                  {"model_fingerprint": model.fingerprint(), "features": model.meta["features"]})
    out = Path(out_dir)
    save_model_files(out / "embedding_model.pt", out / "similarity_index.faiss", index, model=model)
    return str(out / "embedding_model.pt"), str(out / "similarity_index.faiss")


def test_ten_thousand_references_load_filter_and_are_searchable(qtbot, gui_model, tmp_path):
    from trance_finder.gui.anchor_picker import AnchorPicker
    from trance_finder.gui.ranked_model import _LazyRows

    n = 10_000
    paths = synthetic_index(gui_model[0], tmp_path / "big", n)
    w = make_window(qtbot, paths)
    try:
        model = w.table.neighbours
        assert len(w.finder.tracks) == n and model.rowCount() == n
        assert isinstance(model._rows, _LazyRows)  # no object per reference
        assert model.row_of(model.position_at(n - 1)) == n - 1
        # a ranking with filters: tempo range, exclude a folder, collapse versions
        rng = np.random.default_rng(1)
        sims = rng.uniform(-0.2, 0.9, n).astype(np.float32)
        order = np.argsort(-sims, kind="stable")
        model.set_ranking(order, sims)
        assert model.rowCount() == w.k_spin.value()
        w.state.set_filters(RankFilter(tempo_min=130, tempo_max=135, exclude=("label_07",), collapse_versions=True))
        w.k_spin.setValue(w.k_spin.maximum())
        rows = [model.row_data(r) for r in range(model.rowCount())]
        assert len(rows) == w.k_spin.maximum()
        assert all(130 <= r.track["tempo"] <= 135 and "label_07" not in r.track["path"] for r in rows)
        assert [r.rank for r in rows] == sorted(r.rank for r in rows)
        keys = [w.state.filter_table().version[r.position] for r in rows]
        assert len(set(keys)) == len(keys)  # one row per production
        w.state.set_filters(RankFilter())
        # Explore's anchor pickers: searchable, every reference reachable by typing
        combo = w.interp.rows[0].combo
        assert isinstance(combo, AnchorPicker) and combo.count() == n + len(w.finder.cluster_names)
        combo.finder.setCompletionPrefix("title 3000 (radio")
        assert combo.finder.completionCount() >= 1
        first = combo.finder.completionModel().index(0, 0)
        combo._picked(first)
        assert "Title 3000 (Radio Edit)" in combo.currentText() and combo.currentData()[0] == "track"
        assert w.finder.tracks[combo.currentData()[1]]["title"] == combo.currentText()
    finally:
        w.close()
