"""Defaults and setting keys in one place, read by the CLI, the GUI and the self-test.

Training numbers are *not* written here a second time: they are the defaults of the core dataclasses
(``TrainConfig`` in core/training.py, ``TrainOptions`` in core/engine.py, ``WindowPlan`` in
core/extract.py), read once by ``training_defaults()``. That import is lazy (it pulls in torch), so
importing this module is cheap and the window can show before torch is loaded.

Setting keys are typed: ``Key("results/limit", int, 10)`` reads and writes one value of a QSettings-like
store (anything with ``value(key, default)``, ``setValue(key, value)`` and ``contains(key)``), so no
module repeats a key string or its conversion. No Qt import here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

# -- training defaults ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingDefaults:
    features: str
    device: str
    epochs: int
    batch_size: int
    lr: float
    margin: float
    n_views: int
    window_views: int
    eval_folds: int
    n_windows: int
    window_seconds: float
    identity_weight: float
    seed: int


@lru_cache(maxsize=1)
def training_defaults() -> TrainingDefaults:
    """The defaults of TrainOptions / TrainConfig / WindowPlan, as the core declares them."""
    from trance_finder.core.engine import TrainOptions
    from trance_finder.core.extract import WindowPlan
    from trance_finder.core.training import TrainConfig

    opts = {f.name: f.default for f in fields(TrainOptions)}
    cfg, plan = TrainConfig(), WindowPlan()
    return TrainingDefaults(features=opts["features"], device=opts["device"], epochs=cfg.epochs,
                            batch_size=cfg.batch_size, lr=cfg.lr, margin=cfg.margin, n_views=opts["n_views"],
                            window_views=opts["window_views"], eval_folds=opts["eval_folds"], n_windows=plan.n_windows,
                            window_seconds=plan.window_seconds, identity_weight=cfg.identity_weight,
                            seed=cfg.seed)


# What the panel's number boxes allow and say (ranges are UI limits, not defaults).
TRAINING_RANGES = {"epochs": (1, 1000), "batch_size": (4, 2048), "lr": (1e-5, 0.1), "margin": (0.01, 2.0),
                   "n_views": (0, 16), "window_views": (0, 16), "eval_folds": (0, 10)}
TRAINING_HELP = {
    "epochs": "Passes over the training data. More: the model fits your library more closely (slower); "
              "the loss curve shows when more stops helping.",
    "batch_size": "Examples per training step. Larger is steadier and faster on a GPU; smaller suits small "
                  "libraries.",
    "lr": "Learning rate: how big each training step is. Lower is safer, higher learns faster.",
    "margin": "Triplet margin: how much closer a track of the same style must be than one of another style. "
              "Larger separates styles more strongly.",
    "n_views": "Augmented copies of each reference (pitch, tempo, noise, level) added to training. 0 (default): "
               "none; on real music they did not improve the results, and each one adds a full analysis of "
               "every reference to the first training.",
    "window_views": "Extra training examples per reference, each pooled from a random quarter (2 of 8) of its "
                    "own analysed windows: no extra analysis. 4 (default) lifted held-out precision on real music "
                    "(0.531 vs 0.519 without); 0: each reference counts once.",
    "eval_folds": "Held-out evaluation after training: the library is split into this many parts and each is "
                  "searched with a model trained on the others. 0: in-sample numbers only (faster).",
}

# -- query / display defaults -----------------------------------------------------------------------
RESULTS_LIMIT = 10  # rows in the ranked list
RESULTS_RANGE = (3, 200)
MIN_WINDOW = (960, 600)  # the window never asks for more than this
DEFAULT_WINDOW = (1400, 900)  # first start (clamped to the screen)

# -- typed setting keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    name: str
    type: type
    default: Any = None

    def get(self, store, default: Any = None) -> Any:
        fallback = self.default if default is None else default
        if not store.contains(self.name):
            return fallback
        raw = store.value(self.name)
        try:
            return _convert(raw, self.type)
        except (TypeError, ValueError):
            return fallback

    def set(self, store, value: Any) -> None:
        if self.type in (list, dict):
            store.setValue(self.name, json.dumps(value))
        elif self.type is bool:
            store.setValue(self.name, "true" if value else "false")
        else:
            store.setValue(self.name, value)


def _convert(raw: Any, kind: type) -> Any:
    if raw is None:
        raise ValueError("no value")
    if kind is bool:
        return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
    if kind in (list, dict):
        value = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(value, kind):
            raise ValueError(f"not a {kind.__name__}")
        return value
    if kind is bytes or kind is object:
        return raw
    return kind(raw)


class Keys:
    """Every key the app stores (INI file in the user config folder)."""

    geometry = Key("window/geometry", object)
    state = Key("window/state", object)
    main_split = Key("window/mainSplit", object)
    right_split = Key("window/rightSplit", object)
    table_header = Key("window/tableHeader", object)
    results_limit = Key("results/limit", int, RESULTS_LIMIT)
    play_on_click = Key("map/playOnClick", bool, False)
    last_wip = Key("session/lastWip", str, "")
    open_folder = Key("session/openFolder", str, "")
    library = Key("session/library", str, "")  # "user", "demo" or "" (the default order)
    explore_mode = Key("explore/mode", int, 0)
    explore_anchors = Key("explore/anchors", list, [])  # [[kind, key, weight], ...]
    explore_target = Key("explore/target", str, "")
    explore_amount = Key("explore/amount", int, 50)
    explore_model = Key("explore/model", str, "")  # the anchors above belong to this model

    @staticmethod
    def training(name: str) -> Key:
        kinds = {"references": str, "labels_csv": str, "features": str, "device": str, "epochs": int,
                 "batch_size": int, "lr": float, "margin": float, "n_views": int, "window_views": int,
                 "eval_folds": int}
        return Key(f"training/{name}", kinds[name])


TRAINING_KEYS = ("references", "labels_csv", "features", "epochs", "batch_size", "lr", "margin", "n_views",
                 "window_views", "eval_folds", "device")
