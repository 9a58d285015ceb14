"""Where things live: bundled resources and models, and the user's data, cache and log folders.

Bundled files are found next to the package in a source checkout, or under ``sys._MEIPASS`` in a
PyInstaller bundle. User folders come from platformdirs and can be overridden with the environment
variables ``TRANCE_FINDER_DATA_DIR``, ``TRANCE_FINDER_CACHE_DIR`` and ``TRANCE_FINDER_LOG_DIR``
(tests point them at a temporary folder).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "TranceFinder"
APP_AUTHOR = "TranceFinder"


def bundle_dir() -> Path:
    """Top folder holding ``models/`` and ``resources/`` (the repo root, or the frozen bundle)."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parent.parent


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def resource_path(*parts: str) -> Path:
    return bundle_dir().joinpath("resources", *parts)


def bundled_model_path(*parts: str) -> Path:
    return bundle_dir().joinpath("models", *parts)


def _dir_from_env(var: str, default: str) -> Path:
    value = os.environ.get(var)
    path = Path(value) if value else Path(default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_data_dir() -> Path:
    return _dir_from_env("TRANCE_FINDER_DATA_DIR", platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))


def user_cache_dir() -> Path:
    return _dir_from_env("TRANCE_FINDER_CACHE_DIR", platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR))


def user_log_dir() -> Path:
    """TRANCE_FINDER_LOG_DIR, else ``logs`` in TRANCE_FINDER_DATA_DIR when only that is set (a portable or
    test profile keeps its log with its data), else the platform's log folder."""
    data = os.environ.get("TRANCE_FINDER_DATA_DIR")
    default = str(Path(data) / "logs") if data else platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)
    return _dir_from_env("TRANCE_FINDER_LOG_DIR", default)


def embedding_cache_dir() -> Path:
    """The app's embedding cache (features of every analysed file, keyed by content)."""
    return user_cache_dir() / "embeddings"


def default_embedding_cache():
    from trance_finder.core.cache import EmbeddingCache

    return EmbeddingCache(embedding_cache_dir())


def demo_library_dir() -> Path:
    return user_data_dir() / "demo_library"


def demo_model_dir() -> Path:
    return user_data_dir() / "demo_model"


def user_model_dir() -> Path:
    """Where models trained from the app's settings panel are written."""
    return user_data_dir() / "model"


def user_config_dir() -> Path:
    """TRANCE_FINDER_CONFIG_DIR, else ``config`` in TRANCE_FINDER_DATA_DIR when only that is set."""
    data = os.environ.get("TRANCE_FINDER_DATA_DIR")
    default = str(Path(data) / "config") if data else platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)
    return _dir_from_env("TRANCE_FINDER_CONFIG_DIR", default)


def settings_file() -> Path:
    """INI file for the app's settings and window layout (QSettings in IniFormat)."""
    return user_config_dir() / "settings.ini"
