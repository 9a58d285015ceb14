"""Compare in the WINDOW (issue 13), pytest-qt offscreen: load a WIP, the Compare tab shows it against
the top 5; switching the target (one reference, one cluster) changes the plotted target curve, the
table and the sentences, and they always equal the core's compare for that target."""
# ruff: noqa: F811 - the window fixtures are imported from tests/test_gui.py

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from tests.test_gui import T, gui_model, make_window, run_query, wip_file  # noqa: E402,F401
from trance_finder.core.compare import compare_mixes, record_mix  # noqa: E402


def _pick(view, kind, value=""):
    combo = view.target_combo
    i = combo.findData(f"{kind}\t{value}")
    assert i >= 0, [combo.itemData(j) for j in range(combo.count())]
    combo.setCurrentIndex(i)


def _expected(w, positions, section):
    mixes = [record_mix(w.finder.tracks[i]) for i in positions]
    return compare_mixes(w.state.wip.audio.mix, mixes, section)


def _num(v):
    return np.nan if v is None else float(v)


def _target_median(res):
    """The median line the view must draw: bands where the target's median and range are known."""
    rows = [(_num(b["target_db"]), _num(b["target_lo_db"]), _num(b["target_hi_db"])) for b in res.bands]
    return [m for m, lo, hi in rows if np.isfinite(m) and np.isfinite(lo) and np.isfinite(hi)]


def _median(view):
    return np.asarray(view.median_curve.getData()[1], dtype=float)


def test_compare_follows_the_target(qtbot, gui_model, wip_file):
    w = make_window(qtbot, gui_model)
    path, source = wip_file
    outcome = run_query(qtbot, w, path)
    view = w.structure.compare
    tab = w.views.indexOf(w.structure.compare_scroll)
    assert tab >= 0 and w.views.tabText(tab) == "Compare" and w.structure.compare_scroll.widget() is view
    qtbot.waitUntil(lambda: view.result is not None, timeout=T)
    # default: the top 5 of the ranked list, drops when the WIP has drops
    assert view.current_target() == ("top5", "")
    section = view.current_section()
    assert section == ("drop" if "drop" in w.state.wip.audio.mix else "whole")
    top5 = [int(i) for i in outcome.ranking.order[:5]]
    exp = _expected(w, top5, section)
    np.testing.assert_allclose(_median(view), _target_median(exp),
                               atol=1e-6)
    top5_median, top5_summary = _median(view), view.summary_label.text()
    assert top5_summary == exp.summary
    wip_curve = np.asarray(view.wip_curve.getData()[1])

    # one reference: the WIP's own source (the WIP is it at -10 dB: level alone is no difference)
    _pick(view, "reference")
    assert w.state.selected == outcome.result.neighbours[0].position
    assert w.finder.tracks[w.state.selected]["path"] == str(source)
    exp = _expected(w, [w.state.selected], section)
    assert view.summary_label.text() == exp.summary != top5_summary
    assert not np.allclose(_median(view), top5_median)
    np.testing.assert_allclose(np.asarray(view.wip_curve.getData()[1]), wip_curve)  # the WIP stays
    texts = [view.differences_list.item(i).text() for i in range(view.differences_list.count())]
    assert texts == ["Inside your references' range on every measure."] or all(
        "quieter" not in t for t in texts)

    # one cluster: every reference in it
    cluster = w.finder.cluster_names[0]
    _pick(view, "group", cluster)
    members = [i for i, t in enumerate(w.finder.tracks) if t.get("cluster") == cluster]
    exp = _expected(w, members, section)
    assert view.summary_label.text() == exp.summary
    np.testing.assert_allclose(_median(view), _target_median(exp),
                               atol=1e-6)
    assert [view.differences_list.item(i).text() for i in range(view.differences_list.count())][:1] == (
        [f"1. {exp.differences[0].text}"] if exp.differences else
        ["Inside your references' range on every measure."])

    # the whole track instead of the drops
    view.section_combo.setCurrentIndex(view.section_combo.findData("whole"))
    exp_whole = _expected(w, members, "whole")
    assert view.summary_label.text() == exp_whole.summary
    # selecting another reference changes the "reference" target
    _pick(view, "reference")
    other = outcome.result.neighbours[2].position
    w.select_reference(other)
    qtbot.waitUntil(lambda: w.state.selected == other, timeout=T)
    assert view.current_target() == ("reference", "")
    assert view.summary_label.text() == _expected(w, [other], "whole").summary
    w.close()


def test_references_without_stored_stats_are_measured_from_their_files(qtbot, gui_model, wip_file):
    """An index from before stored sections / mix (the shipped demo's): Compare and the B sections
    still come, measured from the reference files in the background."""
    w = make_window(qtbot, gui_model)
    for t in w.finder.tracks:
        t.pop("mix", None)
        t.pop("sections", None)
    path, source = wip_file
    outcome = run_query(qtbot, w, path)
    view, ab = w.structure.compare, w.structure.ab
    qtbot.waitUntil(lambda: view.result is not None, timeout=T)
    top5 = [w.finder.tracks[int(i)]["path"] for i in outcome.ranking.order[:5]]
    assert set(top5) <= set(w.structure.measured)
    assert "no stored mix statistics" not in " ".join(view.result.notes)
    qtbot.waitUntil(lambda: ab.sides["B"].sections is not None, timeout=T)
    assert ab.sides["B"].sections is w.structure.measured[str(source)][0]
    w.close()
