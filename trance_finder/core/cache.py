"""On-disk embedding cache.

Entries are keyed by the file's content fingerprint (size, mtime and a hash of a few blocks) and by a
key naming everything that changes the result (backbone id + parameters, window plan, augmentation
seed). A changed file or backbone therefore never serves a stale vector. Values are ``.npz`` files
holding plain arrays (loaded with ``allow_pickle=False``) written atomically; a corrupt entry is
treated as a miss and rewritten. The folder has a size cap (``DEFAULT_MAX_BYTES``): beyond it the
least recently used entries are evicted.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from trance_finder.core.atomic import atomic_path, remove_stale_temp_files

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


#: default size cap of the cache folder; the oldest entries (by last use) go first beyond it
DEFAULT_MAX_BYTES = 2 * 1024**3
EVICT_TO = 0.9  # evict down to this share of the cap, so eviction does not run on every put


class EmbeddingCache:
    """``max_bytes``: size cap (None: no cap). A hit refreshes the entry's date, so eviction removes
    the entries used least recently; the running size is counted once per instance, then kept up
    to date by ``put``."""

    def __init__(self, folder, max_bytes: int | None = DEFAULT_MAX_BYTES):
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._size: int | None = None

    def _entries(self) -> list[tuple[float, int, str]]:
        out = []
        for root, _dirs, files in os.walk(self.folder):
            if any(name.endswith(".tmp") for name in files):
                remove_stale_temp_files(root)  # what killed runs left half-written
            for name in files:
                if not name.endswith(".npz"):
                    continue
                full = os.path.join(root, name)
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                out.append((st.st_mtime, st.st_size, full))
        return out

    def size_bytes(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def evict(self, target: int) -> int:
        """Remove least recently used entries until the cache holds at most ``target`` bytes.
        Returns the number removed."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, full in entries:
            if total <= target:
                break
            try:
                os.unlink(full)
            except OSError:
                continue
            total -= size
            removed += 1
        self._size = total
        return removed

    def _account(self, added: int) -> None:
        if self.max_bytes is None:
            return
        if self._size is None:
            self._size = self.size_bytes()
        else:
            self._size += added
        if self._size > self.max_bytes:
            self.evict(int(self.max_bytes * EVICT_TO))

    def _path(self, fingerprint: str, key: dict) -> Path:
        return self.folder / key_digest(key) / fingerprint[:2] / f"{fingerprint}.npz"

    def get(self, fingerprint: str, key: dict) -> dict[str, np.ndarray] | None:
        path = self._path(fingerprint, key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                out = {name: data[name] for name in data.files}
        except Exception:
            return None  # corrupt or truncated entry: recompute
        if self.max_bytes is not None:
            try:
                os.utime(path)  # recently used: evicted last
            except OSError:
                pass
        return out

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
        try:
            self._account(path.stat().st_size)
        except OSError:
            pass
