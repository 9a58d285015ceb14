"""Screenshots of the library side of the window (issues 8 and 11), saved into docs/screenshots/:

  training_result.png   the Library & training panel after a finished run: which labels were used, the
                        quality guard's sentence, the evaluation sentence, the table behind "Details"
  legend_names.png      the map with its legend: cluster names from the producer's folders, one renamed
                        in the app ("Sunrise Anthems")
  filters.png           the ranked list with the filters bar open (tempo range, a style, collapsed versions)

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshots_library.py

A 16-track synthetic library in 4 style folders (10 s tracks) is trained with the fast "dsp" features and
3 held-out folds in a work folder (the user folders point there: yours are never touched).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")


from screenshots import _save, _settle, _wait  # noqa: E402  (one copy of the Qt wait/grab helpers)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "trance_finder_library_shots"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    work, out = Path(args.workdir), Path(args.out)
    shutil.rmtree(work / "user", ignore_errors=True)
    for var in ("DATA", "CACHE", "LOG", "CONFIG"):
        os.environ[f"TRANCE_FINDER_{var}_DIR"] = str(work / "user" / var.lower())

    import numpy as np
    import soundfile as sf

    from trance_finder import synth
    from trance_finder.core.progress import run_to_end
    from trance_finder.gui.app import create_main_window, ensure_app

    refs = work / "References"
    if not refs.exists():
        run_to_end(synth.make_library(refs, n_per_family=4, families=["uplifting", "psy", "progressive", "balearic"],
                                      seconds=10.0, sr=22050, seed=11))
    app = ensure_app()
    w = create_main_window(use_demo=False, player=None)
    w.resize(1600, 1000)
    w.show()
    _settle(app, 0.5)
    w.show_training()
    panel = w.training
    panel.set_values({"references": str(refs), "features": "dsp", "epochs": 12, "n_views": 2, "eval_folds": 3,
                      "device": "cpu"})
    panel.start_training()
    _wait(app, lambda: not panel.running, 1800, "training")
    _wait(app, lambda: w.finder is not None, 120, "the new model")
    _settle(app, 1.0)
    panel.evaluation_view.details_button.setChecked(True)
    _settle(app, 0.5)
    print("stage:", panel.stage.text())
    print("label:", panel.evaluation_view.source.text())
    print("guard:", panel.evaluation_view.guard.text())
    print("summary:", panel.evaluation_view.summary.text())
    from PySide6.QtWidgets import QScrollArea

    scroll = panel.findChild(QScrollArea)
    scroll.ensureWidgetVisible(panel.evaluation_view.details, 0, 0)  # the run's result, not the settings
    _settle(app, 0.4)
    _save(w.dock, out / "training_result.png")

    # a WIP: a library track 8 dB quieter
    src = sorted(refs.rglob("*.wav"))[5]
    audio, sr = sf.read(str(src), dtype="float32", always_2d=True)
    wip = work / "my_wip.wav"
    sf.write(str(wip), audio * np.float32(10 ** (-8 / 20)), sr)
    w.dock.hide()
    w.open_query(str(wip))
    _wait(app, lambda: w.query_outcome is not None, 300, "the query")
    _settle(app, 0.5)
    names = list(w.finder.cluster_names)
    print("clusters:", names)
    w.state.rename_cluster(names[0], "Sunrise Anthems")
    _wait(app, lambda: not w.state.writing, 120, "the rename to be saved")
    _settle(app, 0.5)
    _save(w.views, out / "legend_names.png")

    w.filters_bar.toggle.setChecked(True)
    w.filters_bar.collapse.setChecked(True)
    w.filters_bar.exclude.setText("balearic")
    _settle(app, 0.8)
    _save(w.results, out / "filters.png")
    _save(w, out / "library_window.png")
    w.close()
    _settle(app, 0.2)
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
