"""Where core finds the files it ships with (backbone weights). Core does not know the app's folder
layout: the app sets the folder once at import (``trance_finder/__init__.py``); tests or other hosts
may point it elsewhere with ``set_weights_dir``."""

from __future__ import annotations

from pathlib import Path

_weights_dir: Path | None = None


def set_weights_dir(folder) -> None:
    global _weights_dir
    _weights_dir = Path(folder)


def weights_dir() -> Path:
    if _weights_dir is None:
        raise RuntimeError("trance_finder.core.resources.set_weights_dir() was not called")
    return _weights_dir
