"""``trance-finder evaluate``: train on the library in a scratch folder (held-out folds included) and
write an evaluation report (markdown + JSON) comparing the raw backbone with the fine-tuned head."""

from __future__ import annotations

import datetime as _dt
import tempfile
from pathlib import Path

from trance_finder.core.atomic import write_bytes, write_json
from trance_finder.core.evaluation import METRICS

_TARGETS = {"precision_at_5": 0.70, "silhouette": 0.50, "nmi": 0.60}


def report_markdown(evaluation: dict, settings: dict) -> str:
    lines = ["# Trance Finder evaluation report", "",
             f"- date: {_dt.datetime.now().isoformat(timespec='seconds')}",
             f"- references: {settings.get('references')}",
             f"- tracks: {evaluation.get('n_tracks')}, labels: {evaluation.get('n_labels')} ({evaluation.get('label_source')})",
             f"- features: {settings.get('features')}, epochs {settings.get('epochs')}, views {settings.get('views')}",
             "", "| metric | target | raw in-sample | fine-tuned in-sample | raw held-out | fine-tuned held-out |",
             "|---|---|---|---|---|---|"]
    ins, held = evaluation.get("in_sample", {}), evaluation.get("held_out", {})

    def cell(block, kind, metric):
        v = block.get(kind, {}).get(metric)
        return "n/a" if v is None or v != v else f"{v:.3f}"

    for m in METRICS:
        lines.append(f"| {m} | > {_TARGETS[m]:.2f} | {cell(ins, 'raw', m)} | {cell(ins, 'finetuned', m)} | "
                     f"{cell(held, 'raw', m)} | {cell(held, 'finetuned', m)} |")
    if held:
        lines += ["", f"Held-out: {held.get('folds')} folds; each fold's head is trained without the held-out tracks, "
                  "which then query the index of the others. In-sample numbers flatter; judge by held-out."]
    return "\n".join(lines) + "\n"


def run_evaluation(opts, report_path):
    """Generator (Progress); returns a dict with the evaluation and the report paths.

    ``opts`` is a TrainOptions; its output paths are replaced by a scratch folder (nothing is kept)."""
    import dataclasses

    from trance_finder.core.engine import train_library

    with tempfile.TemporaryDirectory(prefix="tf-eval-") as tmp:
        opts = dataclasses.replace(opts, output_model=str(Path(tmp) / "model.pt"),
                                   output_index=str(Path(tmp) / "index.faiss"),
                                   profile=opts.profile or str(Path(tmp) / "profile.json"))
        result = yield from train_library(opts)
    settings = {"references": str(Path(opts.references).resolve()), "features": opts.features,
                "epochs": opts.train.epochs, "views": opts.n_views, "window views": opts.window_views,
                "folds": opts.eval_folds}
    md_path = Path(report_path)
    json_path = md_path.with_suffix(".json")
    report = {"evaluation": result.evaluation, "settings": settings,
              "skipped": [{"path": p, "reason": r} for p, r in result.skipped],
              "report_md": str(md_path), "report_json": str(json_path)}
    write_bytes(md_path, report_markdown(result.evaluation, settings).encode())
    write_json(json_path, report)
    return report
