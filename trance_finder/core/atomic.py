"""Atomic file writes: write to a temp file in the same folder, fsync, then os.replace."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path


@contextmanager
def atomic_path(target: str | os.PathLike):
    """Yield a temp path next to ``target``; on success it replaces ``target`` in one step."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_paths(*targets):
    """Temp paths for several files that must change together: nothing is replaced until every one
    of them has been written, and an error while writing leaves all the targets as they were."""
    with ExitStack() as stack:
        yield [stack.enter_context(atomic_path(t)) for t in targets]


def write_bytes(target, data: bytes) -> None:
    with atomic_path(target) as tmp:
        Path(tmp).write_bytes(data)


def write_json(target, obj) -> None:
    write_bytes(target, json.dumps(obj, indent=2, sort_keys=False).encode("utf-8"))
