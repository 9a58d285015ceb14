"""CompareView: switching the target (top 5, one reference, a cluster) changes the plot data and the words;
the selectors emit what the window needs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trance_finder.core import compare as C
from trance_finder.core import mixstats as M

pytest.importorskip("pytestqt")


def _stats(tilt=0.0, lows_width=0.0, lufs=-9.0, tp=-1.0, tempo=138.0):
    bands = {b.name: -10.0 - 1.5 * i + tilt * (i - 4.5) for i, b in enumerate(M.BANDS)}
    widths = {"lows": lows_width, "mids": 0.2, "highs": 0.4}
    return M.MixStats(lufs, lufs + 2, 4.0, tp, tp - lufs, bands, widths, 0.6, tp - 0.3, 60.0, tempo)


@pytest.fixture
def results():
    wip = _stats(tilt=0.0, lows_width=0.3, lufs=-14.0, tp=-2.0, tempo=140.0)
    top5 = [_stats(tilt=0.1 * i, tempo=138.0 + i) for i in range(5)]  # close to the WIP's tonal balance
    one = [_stats(tilt=1.0)]  # a much brighter reference
    cluster = [_stats(tilt=-1.0 + 0.05 * i, lows_width=0.35) for i in range(8)]  # darker, wide lows
    return {"top5": C.compare(wip, top5, "drop"), "reference": C.compare(wip, one, "drop"),
            "cluster": C.compare(wip, cluster, "drop"), "same": C.compare(wip, [wip], "drop")}


@pytest.fixture
def view(qtbot):
    from trance_finder.gui.compare_view import CompareView

    v = CompareView()
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    return v


def _sentences(v) -> list[str]:
    return [v.differences_list.item(i).text() for i in range(v.differences_list.count())]


def test_switching_targets_changes_plot_and_words(view, results):
    from trance_finder.gui import compare_view as cv

    view.set_result(results["top5"])
    x, wip = view.wip_curve.getData()
    _, med_top5 = view.median_curve.getData()
    assert list(x) == list(range(len(M.BANDS)))
    np.testing.assert_allclose(wip, [b["wip_db"] for b in results["top5"].bands])
    s_top5 = _sentences(view)
    assert s_top5[0].startswith("1. Your drop is 5.0 LU quieter and more dynamic")
    assert s_top5[1].startswith("2. Below 120 Hz your WIP is wide")
    assert view.summary_label.text() == results["top5"].summary
    bars = view.width_bars.opts
    assert bars["height"][0] == pytest.approx(0.3)
    assert bars["brushes"][0].color().name() == cv.OUT_COLOR.lower()  # lows out of range
    assert bars["brushes"][1].color().name() == cv.IN_COLOR.lower()

    view.set_result(results["reference"])
    _, wip2 = view.wip_curve.getData()
    _, med_one = view.median_curve.getData()
    np.testing.assert_allclose(wip2, wip)  # the WIP did not change
    assert not np.allclose(med_one, med_top5)  # the target did
    _, lo_one = view.range_lo.getData()
    _, hi_one = view.range_hi.getData()
    np.testing.assert_allclose(hi_one - lo_one, 2 * C.TOLERANCE["band"])  # one reference: +/- tolerance
    s_one = _sentences(view)
    assert s_one != s_top5 and any("Air (12-20 kHz) is" in s and "below your references" in s for s in s_one)
    # outside points are drawn in the warning colour, inside ones in the accent colour
    brushes = [p.brush().color().name() for p in view.wip_points.points()]
    outside = [bool(b["outside"]) for b in results["reference"].bands]
    assert brushes == [cv.OUT_COLOR.lower() if o else cv.IN_COLOR.lower() for o in outside]
    assert any(outside) and not all(outside)

    view.set_result(results["cluster"])
    s_cluster = _sentences(view)
    assert s_cluster != s_one and not any("Below 120 Hz" in s for s in s_cluster)
    assert view.width_bars.opts["brushes"][0].color().name() == cv.IN_COLOR.lower()

    view.set_result(results["same"])
    assert _sentences(view) == ["Inside your references' range on every measure."]
    assert "inside the range" in view.summary_label.text()


def test_table_tooltips_and_colours(view, results):
    from trance_finder.gui import compare_view as cv

    view.set_result(results["top5"])
    rows = {key: r for r, (key, _, _) in enumerate(cv.LOUDNESS_ROWS)}
    t = view.table
    assert t.item(rows["lufs"], 0).text() == "-14.0"
    assert t.item(rows["tempo"], 0).text() == "140.0" and t.item(rows["tempo"], 1).text() == "140.0"
    assert t.item(rows["plr"], 0).foreground().color().name() == cv.OUT_COLOR.lower()  # 12.0 vs 8.0
    assert t.item(rows["lufs"], 0).foreground().color().name() == cv.theme.ACCENT_2.lower()  # level only
    for r in range(t.rowCount()):
        assert t.verticalHeaderItem(r).toolTip() and "\n" not in t.item(r, 0).toolTip()
    assert view.tonal_plot.toolTip() and view.width_plot.toolTip()
    tips = [p.data() for p in view.wip_points.points()]
    assert all(tip.count("\n") == 0 and "references" in tip for tip in tips)
    for i in range(view.differences_list.count()):
        assert view.differences_list.item(i).toolTip()


def test_selectors_emit_choices(view, qtbot):
    view.set_target_choices(["Uplifting", "Psy"], reference="ref_03.wav")
    view.set_sections(["intro", "breakdown", "drop"])
    assert view.current_target() == ("top5", "") and view.current_section() == "drop"
    with qtbot.waitSignal(view.targetChanged) as sig:
        view.target_combo.setCurrentIndex(view.target_combo.count() - 1)
    assert sig.args == ["group", "Psy"]
    with qtbot.waitSignal(view.targetChanged) as sig:
        view.target_combo.setCurrentIndex(1)
    assert sig.args == ["reference", ""]
    with qtbot.waitSignal(view.sectionChanged) as sig:
        view.section_combo.setCurrentIndex(0)
    assert sig.args == ["whole"]
    # refilling keeps the current choice and emits nothing
    with qtbot.assertNotEmitted(view.targetChanged):
        view.set_target_choices(["Uplifting", "Psy", "Hard"], reference="ref_03.wav")
    assert view.current_target() == ("reference", "")
    view.set_sections([])
    assert view.current_section() == "whole"
    view.clear("No WIP")
    assert view.summary_label.text() == "No WIP" and view.differences_list.count() == 0
    assert len(view.wip_curve.getData()[0] if view.wip_curve.getData()[0] is not None else []) == 0


def test_missing_bands_are_left_out(view):
    wip = _stats()
    wip.bands_db["air"] = math.nan
    ref = _stats()
    ref.bands_db["air"] = math.nan
    view.set_result(C.compare(wip, [ref]))
    x, _ = view.wip_curve.getData()
    assert len(x) == len(M.BANDS) - 1


def test_a_narrow_tab_stacks_the_table_instead_of_scrolling_sideways(qtbot):
    from PySide6.QtWidgets import QScrollArea

    from trance_finder.gui.compare_view import CompareView

    view = CompareView()
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(view)
    qtbot.addWidget(scroll)
    scroll.resize(520, 700)  # the Compare tab at 1280x720 with the training panel open
    scroll.show()
    qtbot.waitUntil(lambda: view._narrow is True)
    assert view.width() <= scroll.viewport().width()
    assert not scroll.horizontalScrollBar().isVisible()
    rows = [view._grid.getItemPosition(view._grid.indexOf(w))[0] for w in (view.width_plot, view.table)]
    assert rows[1] > rows[0]  # the loudness table sits under the width bars
    scroll.resize(1000, 700)
    qtbot.waitUntil(lambda: view._narrow is False)
    rows = [view._grid.getItemPosition(view._grid.indexOf(w))[0] for w in (view.width_plot, view.table)]
    assert rows[0] == rows[1]
