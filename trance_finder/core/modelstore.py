"""The model folder, always whole: model, index, metadata and profile are saved as one *version* and
made current by one atomic switch of a pointer file.

Layout of a model folder (the folder of ``--output-model``; the app's is ``paths.user_model_dir()``)::

    model_set.json                         the pointer: current version (file names) and the previous one
    .v<ns>-<pid>.embedding_model.pt        the files of a version (hidden, written once, never changed)
    .v<ns>-<pid>.similarity_index.faiss
    .v<ns>-<pid>.index_metadata.json
    .v<ns>-<pid>.trance_profile.json
    embedding_model.pt, similarity_index.faiss, index_metadata.json, trance_profile.json
                                           "mirrors": hard links to (or copies of) the current version's
                                           files, under the names the CLI flags and the spec use

Saving (``save_set``): every file of the new version is written and fsynced under its hidden name,
then ``model_set.json`` is replaced in one ``os.replace`` (the commit), then the mirrors are re-pointed
and versions older than the previous one are deleted. Loading (``resolve``) goes through the pointer:
a mirror that is the current or previous version's file (a kill while the mirrors were being
re-pointed) is read from the current version instead, so a kill at any point leaves the old set or
the new set, never a mix. A visible file that is neither (the user copied another model over it, or
the folder holds no pointer: older versions of the app) is used as it is.

``--output-model M --output-index I`` keep working: M and I are the mirror names, and the version
set lives in M's folder. The guarantee covers the files of one folder; an index saved in another
folder than its model is a second set, switched right after the first.

Leftovers of a killed save (hidden temp files, files of a version that was never made current) carry
the writer's process id and are removed by ``clean`` (run before each save and on each load) once
that process is gone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from trance_finder.core.atomic import atomic_path, fsync_dir, honour_umask, pid_alive, stale_temp_files
from trance_finder.errors import ModelError

POINTER_NAME = "model_set.json"
POINTER_FORMAT = 1
_VERSION_RE = re.compile(r"^\.(?P<vid>v\d+-(?P<pid>\d+))\.(?P<name>.+)$")

#: every successful commit of this process: (folder, version id). The CLI reads it to say truthfully
#: whether an interrupted job had already saved its new set.
COMMITS: list[tuple[str, str]] = []


@dataclass(frozen=True)
class Resolved:
    """Where a logical file of a model folder really is."""

    path: Path  # the file to read
    version: str | None  # version id, or None for a plain file outside any set
    folder: Path


def version_file(folder, vid: str, name: str) -> Path:
    return Path(folder) / f".{vid}.{name}"


def new_version_id() -> str:
    return f"v{time.time_ns()}-{os.getpid()}"


def read_pointer(folder) -> dict | None:
    """The pointer's content, or None (no pointer, or one that cannot be read)."""
    path = Path(folder) / POINTER_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != POINTER_FORMAT or not _valid_entry(data.get("current")):
        return None
    if data.get("previous") is not None and not _valid_entry(data["previous"]):
        data["previous"] = None
    return data


def _valid_entry(entry) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("files"), list)
            and all(isinstance(n, str) and n and "/" not in n and "\\" not in n for n in entry["files"]))


def _same_content(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
        if a.stat().st_size != b.stat().st_size:
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x, y = fa.read(1 << 20), fb.read(1 << 20)
                if x != y:
                    return False
                if not x:
                    return True
    except OSError:
        return False


def resolve(path) -> Resolved:
    """The file to read for ``path`` (a mirror name in a model folder, or any plain file)."""
    path = Path(path)
    folder = path.parent
    pointer = read_pointer(folder)
    if pointer is None or path.name not in pointer["current"]["files"]:
        return Resolved(path, None, folder)
    current = version_file(folder, pointer["current"]["id"], path.name)
    if not current.exists():
        return Resolved(path, None, folder)
    if not path.exists():
        return Resolved(current, pointer["current"]["id"], folder)
    known = [current]
    prev = pointer.get("previous")
    if prev and path.name in prev["files"]:
        known.append(version_file(folder, prev["id"], path.name))
    if any(_same_content(path, k) for k in known):
        return Resolved(current, pointer["current"]["id"], folder)
    return Resolved(path, None, folder)  # someone put another file under this name: use it as it is


def resolve_pair(index_path, metadata_name: str) -> tuple[Path, Path]:
    """The index file and *its* metadata file: both from the same version (or both plain)."""
    r = resolve(index_path)
    if r.version is None:
        return Path(r.path), Path(index_path).with_name(metadata_name)
    return r.path, version_file(r.folder, r.version, metadata_name)


def exists(path) -> bool:
    """True when ``path`` can be loaded: as a plain file or through the folder's pointer."""
    return Path(resolve(path).path).exists()


# -- cleaning ---------------------------------------------------------------------------------------
def clean(folder) -> list[str]:
    """Remove what killed saves left in ``folder``: hidden temp files and files of versions that are
    neither current nor previous, when the process that wrote them is gone. Re-point mirrors a kill
    left on the previous version. Returns the names removed. Never raises for I/O problems."""
    folder = Path(folder)
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    for p in _stale_temp(folder):
        removed.append(p)
    pointer = read_pointer(folder)
    keep = set()
    if pointer:
        keep.add(pointer["current"]["id"])
        if pointer.get("previous"):
            keep.add(pointer["previous"]["id"])
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        m = _VERSION_RE.match(e.name)
        if not m or m.group("vid") in keep:
            continue
        if int(m.group("pid")) == os.getpid() or pid_alive(int(m.group("pid"))):
            continue  # a save in progress (this process or another)
        try:
            os.unlink(e.path)
            removed.append(e.name)
        except OSError:
            pass
    if pointer:
        _repair_mirrors(folder, pointer)
    return removed


def _stale_temp(folder: Path) -> list[str]:
    names = []
    for p in stale_temp_files(folder):
        try:
            p.unlink()
            names.append(p.name)
        except OSError:
            pass
    return names


def _repair_mirrors(folder: Path, pointer: dict) -> None:
    prev = pointer.get("previous")
    for name in pointer["current"]["files"]:
        mirror, current = folder / name, version_file(folder, pointer["current"]["id"], name)
        if not current.exists():
            continue
        stale = not mirror.exists() or (
            prev is not None and name in prev["files"] and not _same_content(mirror, current)
            and _same_content(mirror, version_file(folder, prev["id"], name)))
        if stale:
            try:
                _link_or_copy(current, mirror)
            except OSError:
                pass


# -- saving -----------------------------------------------------------------------------------------
def _link_or_copy(src: Path, target: Path) -> None:
    """``target`` becomes ``src``'s content in one os.replace (hard link, else a copy)."""
    with atomic_path(target) as tmp:
        os.unlink(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _adopt_plain_files(folder: Path, names) -> None:
    """A folder saved by an older version (plain files, no pointer): make its files a version first,
    so that a kill while the mirrors are re-pointed can still be told apart from a user's file."""
    plain = [n for n in names if (folder / n).is_file()]
    if not plain or read_pointer(folder) is not None:
        return
    vid = new_version_id()
    for n in plain:
        target = version_file(folder, vid, n)
        try:
            os.link(folder / n, target)
        except OSError:
            shutil.copyfile(folder / n, target)
    _write_pointer(folder, {"id": vid, "files": plain}, None)


def _write_pointer(folder: Path, current: dict, previous: dict | None) -> None:
    data = {"format": POINTER_FORMAT, "current": current, "previous": previous,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with atomic_path(folder / POINTER_NAME) as tmp:
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    fsync_dir(folder)


def save_set(folder, writers: dict, reuse: dict | None = None) -> str:
    """Write a new version of a model folder and make it current in one step; returns its id.

    ``writers``: file name -> function(path) that writes the file at ``path``. ``reuse``: file name
    -> an existing file to take over unchanged (hard-linked when possible: ``update`` keeps the
    model). Names of the previous version that are not given are carried over too, so a set never
    loses a file. Nothing visible changes before the pointer is replaced."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    reuse = dict(reuse or {})
    clean(folder)
    old = read_pointer(folder)
    _adopt_plain_files(folder, [*writers, *reuse])
    old = read_pointer(folder) or old
    if old:
        for n in old["current"]["files"]:
            if n not in writers and n not in reuse:
                reuse[n] = version_file(folder, old["current"]["id"], n)
    vid = new_version_id()
    try:
        _write_version(folder, vid, writers, reuse)
    except BaseException:  # an error or Ctrl-C before the commit: take this version's files away again
        _prune(folder, keep={v for v in versions(folder) if v != vid})
        raise
    names = sorted([*writers, *reuse])
    _write_pointer(folder, {"id": vid, "files": names}, old["current"] if old else None)  # the commit
    COMMITS.append((str(folder), vid))
    for name in names:
        try:
            _link_or_copy(version_file(folder, vid, name), folder / name)
        except OSError:
            pass  # loading goes through the pointer; the next clean() retries
    _prune(folder, keep={vid, old["current"]["id"] if old else vid})
    return vid


def _write_version(folder: Path, vid: str, writers: dict, reuse: dict) -> None:
    for name, write in writers.items():
        target = version_file(folder, vid, name)
        write(target)
        _fsync_file(target)
        honour_umask(target)
    for name, src in reuse.items():
        src = Path(resolve(src).path)
        target = version_file(folder, vid, name)
        try:
            os.link(src, target)
        except OSError:
            try:
                shutil.copyfile(src, target)
            except OSError as exc:
                raise ModelError(f"could not carry {name} over to the new model version ({exc.strerror})") from exc
            honour_umask(target)
    fsync_dir(folder)


def _prune(folder: Path, keep: set[str]) -> None:
    """Delete the files of versions not in ``keep`` written by this process or by one that is gone."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        m = _VERSION_RE.match(e.name)
        if not m or m.group("vid") in keep:
            continue
        pid = int(m.group("pid"))
        if pid == os.getpid() or not pid_alive(pid):
            try:
                os.unlink(e.path)
            except OSError:
                pass


def versions(folder) -> list[str]:
    """Version ids with files in ``folder`` (any state), oldest first."""
    ids = set()
    try:
        for e in os.scandir(folder):
            m = _VERSION_RE.match(e.name)
            if m:
                ids.add(m.group("vid"))
    except OSError:
        pass
    return sorted(ids, key=lambda v: int(v[1:].split("-")[0]))
