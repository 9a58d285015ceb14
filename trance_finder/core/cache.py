"""On-disk embedding cache.

Entries are keyed by the file's content fingerprint (size, mtime and a hash of a few blocks) and by a
key naming everything that changes the result (backbone id + parameters, window plan, augmentation
seed). A changed file or backbone therefore never serves a stale vector. Values are ``.npz`` files
holding plain arrays (loaded with ``allow_pickle=False``) written atomically; a corrupt entry is
treated as a miss and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from trance_finder.core.atomic import atomic_path

_BLOCK = 1 << 16


def file_fingerprint(path) -> str:
    """sha1 over size, mtime and four 64 KiB blocks spread over the file."""
    path = str(path)
    st = os.stat(path)
    h = hashlib.sha1(f"{st.st_size}:{st.st_mtime_ns}".encode())
    with open(path, "rb") as fh:
        for frac in (0.0, 0.33, 0.66, 1.0):
            fh.seek(max(0, int(st.st_size * frac) - (_BLOCK if frac == 1.0 else 0)))
            h.update(fh.read(_BLOCK))
    return h.hexdigest()


def key_digest(key: dict) -> str:
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


class EmbeddingCache:
    def __init__(self, folder):
        self.folder = Path(folder)

    def _path(self, fingerprint: str, key: dict) -> Path:
        return self.folder / key_digest(key) / fingerprint[:2] / f"{fingerprint}.npz"

    def get(self, fingerprint: str, key: dict) -> dict[str, np.ndarray] | None:
        path = self._path(fingerprint, key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except Exception:
            return None  # corrupt or truncated entry: recompute

    def put(self, fingerprint: str, key: dict, arrays: dict[str, np.ndarray]) -> None:
        path = self._path(fingerprint, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = path.parent.parent / "key.json"
        if not meta.exists():
            with atomic_path(meta) as tmp:
                tmp.write_text(json.dumps(key, indent=1, sort_keys=True))
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
