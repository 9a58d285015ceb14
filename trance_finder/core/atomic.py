"""Atomic file writes: write to a temp file in the same folder, fsync, then os.replace.

Temp files are hidden (``.<name>.<pid>-<random>.tmp``) and carry the writer's process id, so a later
run can tell the leftovers of a killed process from a save in progress (``stale_temp_files``). The
finished file gets the permissions the user's umask asks for (mkstemp alone would leave 0600).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")
_LEGACY_TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # mkstemp names of older versions
LEGACY_TEMP_AGE_S = 60.0
_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux: /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def honour_umask(path, mode: int = 0o666) -> None:
    """Give ``path`` the mode a freshly created file would get (``mode & ~umask``)."""
    try:
        os.chmod(path, mode & ~current_umask())
    except OSError:
        pass


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would *terminate* the process on Windows
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False  # e.g. Windows without such a process
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return kernel32.GetLastError() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def temp_name(target_name: str) -> str:
    """A hidden temp name for ``target_name`` that records this process."""
    return f".{target_name}.{os.getpid()}-"


def fsync_dir(folder) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: str | os.PathLike):
    """Yield a temp path next to ``target``; on success it replaces ``target`` in one step."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_name(target.name), suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        honour_umask(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_paths(*targets):
    """Temp paths for several files that must change together: nothing is replaced until every one
    of them has been written, and an error while writing leaves all the targets as they were.
    (A kill between the replaces can still mix old and new: model folders use ``modelstore``.)"""
    with ExitStack() as stack:
        yield [stack.enter_context(atomic_path(t)) for t in targets]


def write_bytes(target, data: bytes) -> None:
    with atomic_path(target) as tmp:
        Path(tmp).write_bytes(data)


def write_json(target, obj) -> None:
    write_bytes(target, json.dumps(obj, indent=2, sort_keys=False).encode("utf-8"))


def stale_temp_files(folder) -> list[Path]:
    """Hidden temp files in ``folder`` left by processes that no longer run (or, for names of
    older versions without a process id, older than a minute)."""
    folder = Path(folder)
    out = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    now = time.time()
    for e in entries:
        m = _TEMP_RE.match(e.name)
        if m:
            if not pid_alive(int(m.group("pid"))):
                out.append(Path(e.path))
        elif _LEGACY_TEMP_RE.match(e.name):
            try:
                if now - e.stat(follow_symlinks=False).st_mtime > LEGACY_TEMP_AGE_S:
                    out.append(Path(e.path))
            except OSError:
                pass
    return out


def remove_stale_temp_files(folder) -> int:
    n = 0
    for p in stale_temp_files(folder):
        try:
            p.unlink()
            n += 1
        except OSError:
            pass
    return n
