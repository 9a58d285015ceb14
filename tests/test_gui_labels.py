# ruff: noqa: F811 - pytest fixtures imported from tests.test_gui
"""Issue 8 in the window: the training panel says which labels were used, the quality guard's decision
and the evaluation as a sentence (table behind "Details", never green for worse-than-raw); the predicted
cluster is a confidence word + calibrated %; the similarity column is never negative and says what it is;
a cluster renamed from the table or the legend is shown everywhere at once and survives a reload."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.test_gui import T, gui_model, make_window, run_query, wip_file  # noqa: E402, F401
from trance_finder.core import calibration  # noqa: E402
from trance_finder.gui import theme  # noqa: E402
from trance_finder.gui.results import COL_CLUSTER, COL_SIM, SimilarityRole  # noqa: E402


def _evaluation(ft_folds, raw_folds, source="folders"):
    """An evaluation dict as train_library makes it, from per-fold held-out precision@5."""
    ft, raw = float(np.mean(ft_folds)), float(np.mean(raw_folds))
    ev = {"in_sample": {"finetuned": {"precision_at_5": 0.9, "silhouette": 0.5, "nmi": 0.8},
                       "raw": {"precision_at_5": 0.6, "silhouette": 0.2, "nmi": 0.5}},
          "held_out": {"finetuned": {"precision_at_5": ft, "silhouette": 0.1, "nmi": 0.4},
                       "raw": {"precision_at_5": raw, "silhouette": 0.1, "nmi": 0.4}, "folds": len(ft_folds),
                       "per_fold": {"finetuned": ft_folds, "raw": raw_folds, "chance": [0.1] * len(ft_folds)}},
          "label_source": source, "label_sentence": "8 styles from the sub-folders of your reference folder.",
          "views_only": False, "n_tracks": 40, "n_labels": 8}
    ev["guard"] = calibration.guard_decision(ev["held_out"])
    ev["head_in_use"] = bool(ev["guard"]["use_head"])
    ev["summary"] = calibration.evaluation_sentence(ev)
    ev["guard_sentence"] = calibration.guard_sentence(ev)
    return ev


def test_training_panel_says_labels_guard_and_evaluation_in_words(qtbot):
    from trance_finder.gui.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.show()
    worse = _evaluation([0.30, 0.35, 0.25, 0.30], [0.50, 0.55, 0.45, 0.50])
    assert worse["guard"]["verdict"] == "worse" and not worse["head_in_use"]
    panel.show_evaluation(worse)
    view = panel.evaluation_view
    assert "the sub-folders" in view.source.text() and "8 styles" in view.source.text()
    assert view.guard.text() == worse["guard_sentence"] and "did not help" in view.guard.text()
    assert view.guard.isVisible()
    assert view.summary.text() == worse["summary"] and "Of the 5 closest references" in view.summary.text()
    # the numbers sit behind "Details"
    assert not panel.eval_table.isVisible()
    view.details_button.click()
    assert panel.eval_table.isVisible()
    held = panel.eval_table.item(1, 0)  # held-out precision@5, fine-tuned worse than raw
    assert held.foreground().color() != QColor(theme.GOOD)
    in_sample = panel.eval_table.item(0, 0)  # in-sample is never coloured as good
    assert in_sample.foreground().color() != QColor(theme.GOOD)

    better = _evaluation([0.80, 0.75, 0.85, 0.80], [0.50, 0.55, 0.45, 0.50])
    assert better["guard"]["verdict"] == "better" and better["head_in_use"]
    panel.show_evaluation(better)
    assert panel.eval_table.item(1, 0).foreground().color() == QColor(theme.GOOD)
    assert "is in use" in view.guard.text()


def test_training_done_line_carries_the_guard_sentence(qtbot):
    from types import SimpleNamespace

    from trance_finder.gui.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    ev = _evaluation([0.30, 0.35, 0.25, 0.30], [0.50, 0.55, 0.45, 0.50])
    result = SimpleNamespace(skipped=[], evaluation=ev, loss_history=[1.0, 0.5], n_tracks=40, n_labels=8,
                             seconds=12.0, model_path="m.pt", guard_sentence=ev["guard_sentence"])
    with qtbot.waitSignal(panel.modelTrained, timeout=T):
        panel._on_finished(SimpleNamespace(result=result, loaded=None))
    assert ev["guard_sentence"] in panel.stage.text() and "The new model is in use" not in panel.stage.text()


def test_confidence_word_and_never_negative_similarity(qtbot, gui_model, wip_file):
    w = make_window(qtbot, gui_model)
    try:
        out = run_query(qtbot, w, wip_file[0])
        r = out.result
        assert r.confidence_word in ("likely", "possible", "unsure")
        assert w.confidence.format().startswith(r.confidence_word)
        assert w.confidence.value() == int(round(100 * r.confidence))
        assert calibration.CONFIDENCE_TOOLTIP in w.confidence.toolTip()
        assert "%" not in w.confidence.toolTip().split("\n")[-1]  # raw softmax scores are not shown as %
        # a ranking with negative cosines: never shown below 0, with a tooltip saying what it is
        model = w.table.neighbours
        n = len(w.finder.tracks)
        sims = np.linspace(0.8, -0.6, n).astype(np.float32)
        model.set_ranking(np.arange(n), sims)
        model.set_limit(n)
        shown = [model.index(r, COL_SIM).data(SimilarityRole) for r in range(model.rowCount())]
        assert min(shown) == 0.0 and max(shown) == pytest.approx(0.8)
        assert all(not str(model.index(r, COL_SIM).data()).startswith("-") for r in range(model.rowCount()))
        assert model.index(0, COL_SIM).data(Qt.ToolTipRole) == calibration.SIMILARITY_TOOLTIP
        assert model.headerData(COL_SIM, Qt.Horizontal, Qt.ToolTipRole) == calibration.SIMILARITY_TOOLTIP
    finally:
        w.close()


@pytest.fixture
def own_model(gui_model, tmp_path):
    """A private copy of the session model folder (renames write to it)."""
    src = Path(gui_model[0]).parent
    dst = tmp_path / "model"
    shutil.copytree(src, dst)
    return str(dst / Path(gui_model[0]).name), str(dst / Path(gui_model[1]).name), gui_model[2]


def _double_click(widget, pos):
    ev = QMouseEvent(QEvent.MouseButtonDblClick, QPointF(pos), QPointF(widget.mapToGlobal(pos)), Qt.LeftButton,
                     Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, ev)


def test_rename_from_table_and_legend_shows_everywhere_and_survives_a_reload(qtbot, own_model, wip_file):
    from trance_finder.core import modelstore
    from trance_finder.core.profile import ReferenceProfile

    w = make_window(qtbot, own_model)
    played = []
    w.table.playRequested.connect(played.append)
    out = run_query(qtbot, w, wip_file[0])
    old = w.table.neighbours.row_data(0).track["cluster"]
    # double-click on the Cluster cell opens the editor (and does not play the row)
    rect = w.table.visualRect(w.table.neighbours.index(0, COL_CLUSTER))
    _double_click(w.table.viewport(), rect.center())
    editor = w.cluster_rename.editor
    assert editor is not None and editor.text() == old and not played
    editor.setText("Sunrise Anthems")
    qtbot.keyClick(editor, Qt.Key_Return)
    assert w.finder.cluster_names.count("Sunrise Anthems") == 1 and old not in w.finder.cluster_names
    # shown everywhere at once
    rows = [w.table.neighbours.row_data(r).track["cluster"] for r in range(w.table.neighbours.rowCount())]
    assert old not in rows and "Sunrise Anthems" in rows
    assert "Sunrise&nbsp;Anthems" in w.map.legend.text()
    if out.result.cluster == "Sunrise Anthems" or w.state.wip.outcome.result.cluster == "Sunrise Anthems":
        assert w.cluster_label.text() == "Sunrise Anthems"
    assert w.cluster_label.text() != old
    assert ("cluster", "Sunrise Anthems") in [w.interp.rows[0].combo.itemData(i)
                                              for i in range(w.interp.rows[0].combo.count())]
    assert w.interp.target.findData("Sunrise Anthems") >= 0 and w.interp.target.findData(old) < 0
    compare = getattr(getattr(w, "structure", None), "compare", None)  # the Compare tab's targets
    if compare is not None and hasattr(compare, "target_combo"):
        texts = [compare.target_combo.itemText(i) for i in range(compare.target_combo.count())]
        assert "Cluster / label: Sunrise Anthems" in texts and f"Cluster / label: {old}" not in texts
    # the legend: a click on a name opens the editor there too
    second = next(c for c in w.finder.cluster_names if c != "Sunrise Anthems")
    w.cluster_rename._legend_link(f"cluster:{w.finder.cluster_names.index(second)}")
    editor = w.cluster_rename.editor
    assert editor is not None and editor.text() == second
    editor.setText("Dark Rollers")
    qtbot.keyClick(editor, Qt.Key_Return)
    assert "Dark&nbsp;Rollers" in w.map.legend.text()
    # a duplicate name is refused with a message
    assert w.state.rename_cluster("Dark Rollers", "Sunrise Anthems") is None
    qtbot.waitUntil(lambda: not w.state.writing, timeout=T)
    w.close()
    # saved as one set: a new window (a reload) shows the producer's names
    w2 = make_window(qtbot, own_model)
    try:
        assert "Sunrise Anthems" in w2.finder.cluster_names and "Dark Rollers" in w2.finder.cluster_names
        assert "Sunrise&nbsp;Anthems" in w2.map.legend.text()
        profile = ReferenceProfile.load(modelstore.resolve(Path(own_model[0]).parent / "trance_profile.json").path)
        assert {"Sunrise Anthems", "Dark Rollers"} <= set(profile.renamed)
    finally:
        w2.close()


def test_demo_names_are_fixed(qtbot, gui_model):
    w = make_window(qtbot, gui_model)
    try:
        w.state.loaded.kind = "demo"
        messages = []
        w.state.subscribe(lambda e, p: messages.append(p) if e == "message" else None)
        name = w.finder.cluster_names[0]
        assert w.state.rename_cluster(name, "Mine") is None and name in w.finder.cluster_names
        assert messages and "fixed" in messages[-1]
    finally:
        w.close()
