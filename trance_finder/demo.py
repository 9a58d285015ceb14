"""The built-in demo library: synthetic trance in the user data folder, and a model trained on it,
so the app has something to show before the user points it at their own references.

The trained demo model, index and profile ship with the app in ``models/demo/`` (made by
``scripts/build_demo_assets.py``; index paths relative to the demo library folder), so a first start
opens the demo at once; only the demo audio is rendered (deterministically, in the background) for
playback. Without shipped assets, or when they no longer load, the demo is built locally as before."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import soundfile as sf

from trance_finder import paths as app_paths
from trance_finder import synth
from trance_finder.core.atomic import atomic_path
from trance_finder.core.engine import TrainOptions, train_library
from trance_finder.core.progress import CancelToken, Progress
from trance_finder.core.training import TrainConfig

DEMO_VERSION = "3"  # bump when the demo library, its training or its profile naming changes
STAMP_NAME = "demo.json"
ASSET_FILES = ("embedding_model.pt", "similarity_index.faiss", "index_metadata.json", "trance_profile.json",
               STAMP_NAME)


def shipped_dir() -> Path:
    return app_paths.bundled_model_path("demo")


def shipped_assets(features: str | None = None) -> dict[str, str] | None:
    """Paths of the demo assets shipped with the app, or None when missing / made for another version."""
    folder = shipped_dir()
    try:
        stamp = json.loads((folder / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None
    if stamp.get("version") != DEMO_VERSION or (features is not None and stamp.get("features") != features):
        return None
    if not all((folder / name).exists() for name in ASSET_FILES):
        return None
    return {"library": str(app_paths.demo_library_dir()), "model": str(folder / "embedding_model.pt"),
            "index": str(folder / "similarity_index.faiss"), "profile": str(folder / "trance_profile.json"),
            "stamp": str(folder / STAMP_NAME), "shipped": "1"}


def resolve_track_paths(tracks: list[dict], library) -> None:
    """Index paths stored relative to the library folder made absolute (in place)."""
    root = Path(library)
    for t in tracks:
        p = t.get("path")
        if p and not os.path.isabs(p):
            t["path"] = str(root / p)


def demo_audio_missing(tracks: list[dict]) -> int:
    return sum(1 for t in tracks if t.get("path") and not Path(t["path"]).exists())


def render_demo_audio(cancel: CancelToken | None = None):
    """Generator: render the demo library's audio (only playback needs it); returns the folder."""
    library = app_paths.demo_library_dir()
    yield from synth.demo_library(str(library), cancel=cancel)
    return str(library)


def export_assets(paths: dict[str, str], out: Path) -> Path:
    """Copy a built demo (``ensure_demo``'s paths) into ``out`` with index paths relative to the library."""
    from trance_finder.core.index import metadata_path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    library = Path(paths["library"]).resolve()
    meta = json.loads(metadata_path(paths["index"]).read_text(encoding="utf-8"))
    for t in meta.get("tracks", []):
        p = Path(t.get("path", ""))
        if p.is_absolute():
            try:
                t["path"] = p.resolve().relative_to(library).as_posix()
            except ValueError:
                raise ValueError(f"{p} is outside the demo library {library}") from None
    meta["paths_relative_to"] = "demo library folder"
    for src, name in ((paths["model"], "embedding_model.pt"), (paths["index"], "similarity_index.faiss"),
                      (paths["profile"], "trance_profile.json")):
        with atomic_path(out / name) as tmp:
            shutil.copyfile(src, tmp)
    with atomic_path(out / "index_metadata.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    stamp = json.loads(Path(paths["stamp"]).read_text())
    with atomic_path(out / STAMP_NAME) as tmp:
        tmp.write_text(json.dumps({**stamp, "tracks": len(meta.get("tracks", []))}, indent=2))
    return out


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
                features: str | None = None, use_shipped: bool = True):
    """Generator: the shipped demo assets when they fit, else builds the demo library and model if
    missing; returns their paths (``"shipped"`` in them when they are the shipped ones)."""
    from trance_finder.core.extract import DEFAULT_FEATURES

    if use_shipped and not rebuild:
        shipped = shipped_assets(features)
        if shipped is not None:
            yield Progress("demo", 1, 1, "Demo library ready")
            return shipped
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
