"""Shared fixtures: user folders in tmp, one torch thread, offscreen Qt, small synthetic libraries."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# one extraction process: a 2-process pool per small test library costs more than it saves on CI's 2 cores
# (tests/test_pipeline.py asks for the pool explicitly)
os.environ.setdefault("TRANCE_FINDER_WORKERS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(autouse=True)
def _user_dirs(tmp_path_factory, monkeypatch):
    """Never touch the real user folders."""
    base = tmp_path_factory.mktemp("userdirs")
    for var in ("DATA", "CACHE", "LOG", "CONFIG"):
        monkeypatch.setenv(f"TRANCE_FINDER_{var}_DIR", str(base / var.lower()))


@pytest.fixture(scope="session")
def small_library(tmp_path_factory):
    """4 families x 5 tracks of 12 s at 22.05 kHz, written once per test session."""
    from trance_finder import synth
    from trance_finder.core.progress import run_to_end

    folder = tmp_path_factory.mktemp("small_library")
    families = ["uplifting", "progressive", "psy", "balearic"]
    run_to_end(synth.make_library(folder, n_per_family=5, families=families, seconds=12.0, sr=22050, seed=7))
    return folder


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("embedding_cache")


def write_wav(path, audio: np.ndarray, sr: int, subtype: str = "PCM_16") -> str:
    audio = np.asarray(audio)
    sf.write(str(path), audio.T if audio.ndim == 2 else audio, sr, subtype=subtype)
    return str(path)
