"""The built-in demo library: synthetic trance in the user data folder, and a model trained on it,
so the app has something to show before the user points it at their own references."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf

from trance_finder import paths as app_paths
from trance_finder import synth
from trance_finder.core.atomic import atomic_path
from trance_finder.core.engine import TrainOptions, train_library
from trance_finder.core.progress import CancelToken, Progress
from trance_finder.core.training import TrainConfig

DEMO_VERSION = "2"  # bump when the demo library, its training or its profile naming changes


def demo_paths() -> dict[str, str]:
    model_dir = app_paths.demo_model_dir()
    return {"library": str(app_paths.demo_library_dir()), "model": str(model_dir / "embedding_model.pt"),
            "index": str(model_dir / "similarity_index.faiss"), "profile": str(model_dir / "trance_profile.json"),
            "stamp": str(model_dir / "demo.json")}


def demo_is_ready(features: str | None = None) -> bool:
    p = demo_paths()
    try:
        stamp = json.loads(Path(p["stamp"]).read_text())
    except (OSError, ValueError):
        return False
    return (stamp.get("version") == DEMO_VERSION and Path(p["model"]).exists() and Path(p["index"]).exists()
            and (features is None or stamp.get("features") == features))


def ensure_demo(device: str = "auto", rebuild: bool = False, cancel: CancelToken | None = None,
                features: str | None = None):
    """Generator: builds the demo library and model if missing; returns demo_paths()."""
    from trance_finder.core.extract import DEFAULT_FEATURES

    features = features or DEFAULT_FEATURES
    p = demo_paths()
    if demo_is_ready(features) and not rebuild:
        yield Progress("demo", 1, 1, "Demo library ready")
        return p
    yield Progress("synth", 0, 1, "Building the demo library (synthetic trance, once)")
    yield from synth.demo_library(p["library"], cancel=cancel)
    opts = TrainOptions(references=p["library"], output_model=p["model"], output_index=p["index"],
                        profile=p["profile"], labels_csv=str(Path(p["library"]) / "labels.csv"),
                        features=features, device=device, n_views=4, eval_folds=4,
                        train=TrainConfig(epochs=40), cache_dir=str(app_paths.embedding_cache_dir()))
    result = yield from train_library(opts, cancel)
    with atomic_path(p["stamp"]) as tmp:
        tmp.write_text(json.dumps({"version": DEMO_VERSION, "features": features,
                                   "evaluation": result.evaluation}))
    demo_query_file()
    return p


def demo_query_file() -> str:
    """A synthetic 'WIP bounce' (quieter, unmastered) to try the demo with; made once."""
    path = app_paths.demo_model_dir() / "demo_wip.wav"
    if not path.exists():
        import numpy as np

        style = synth.sample_style("uplifting", np.random.default_rng(2024), seed=2024)
        audio = synth.render_wip(style, seconds=30.0, sr=22050, gain_db=-9.0)
        with atomic_path(path) as tmp:
            sf.write(str(tmp), audio.T, 22050, subtype="PCM_16", format="WAV")
    return str(path)
