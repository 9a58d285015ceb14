"""Work around a PySide6 reference-count bug that crashes the app on Python < 3.12.

The PySide6 6.12.0 wheels (``cp310-abi3``) return ``None`` from every void method (``setText``,
``setValue``, ``processEvents``...) and ``True`` from ``Signal.emit()`` *without taking a reference*,
as if those objects were immortal, which they only are from Python 3.12 on. On 3.10 / 3.11 every
such call steals one reference; after some tens of thousands of calls (minutes of a playhead timer,
a worker reporting progress, a slider being dragged) Python aborts with ``Fatal Python error:
none_dealloc: deallocating None`` (or ``bool_dealloc``).

The guard measures the leak once with a few probe calls and, only when it is real, gives ``None``,
``True`` and ``False`` a reference count no run can exhaust (2**40): what Python 3.12 does for them.
Nothing changes on an interpreter or a PySide6 that does not leak. Remove once PySide6 is fixed.
"""

from __future__ import annotations

import ctypes
import sys

_applied: bool | None = None
_BOOST = 1 << 40
_PROBES = 32


def _add_refs(obj, n: int) -> None:
    offset = 2 * ctypes.sizeof(ctypes.c_void_p) if hasattr(sys, "getobjects") else 0  # Py_TRACE_REFS builds
    ctypes.c_ssize_t.from_address(id(obj) + offset).value += n


def measure_leaks(probes: int = _PROBES) -> dict[str, int]:
    """References lost by ``probes`` void calls (None) and ``probes`` emits (True); given back after."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    leaks = {}
    before = sys.getrefcount(None)
    for _ in range(probes):
        probe.setObjectName("probe")  # a void method
    leaks["None"] = before - sys.getrefcount(None)
    before = sys.getrefcount(True)
    for _ in range(probes):
        probe.ping.emit()
    leaks["True"] = before - sys.getrefcount(True)
    for name, obj in (("None", None), ("True", True)):
        if leaks[name] > 0:  # the probe itself must never harm an unprotected interpreter
            _add_refs(obj, leaks[name])
    return leaks


def protect_singletons() -> bool:
    """Apply the guard when needed (once per process); True when it was applied."""
    global _applied
    if _applied is None:
        _applied = False
        if sys.version_info < (3, 12) and sys.implementation.name == "cpython":
            leaks = measure_leaks()
            if max(leaks.values()) >= _PROBES // 2:
                for obj in (None, True, False):
                    _add_refs(obj, _BOOST)
                _applied = True
    return _applied
