"""Background jobs on superqt's generator workers (QRunnables in a thread pool; no QThread subclassing,
no moveToThread).

A job is a callable taking ``cancel`` (the core CancelToken) and returning a value or a core generator
(Progress out; its return value is the result). ``JobRunner.start`` wraps it in a ``GeneratorWorker``;
each yield becomes ``progress`` and the job ends with exactly one of ``finished(result)``,
``failed(message)`` or ``cancelled()``, then ``done``. Cancellation is cooperative: the token.

``JobRunner.run`` is the runner protocol AppState uses. ``LatestOnly`` runs small numeric requests
(a blend while a slider is dragged) one at a time, always the newest one.
"""

from __future__ import annotations

import inspect
import logging
import threading
import traceback
from collections.abc import Callable

from PySide6.QtCore import QObject, QThreadPool, Signal
from superqt.utils import GeneratorWorker

from trance_finder.core.progress import CancelToken, Progress
from trance_finder.errors import Cancelled, TranceFinderError

log = logging.getLogger("trance_finder.gui")

_STRAGGLERS: list = []  # jobs still running at shutdown: kept referenced until they end
POOL_THREADS = 8  # training, start-up, a query, decodes and a blend can all run at once


def describe_error(exc: BaseException) -> str:
    """The message a user sees: TranceFinderError text as is, anything else as 'unexpected'."""
    if isinstance(exc, TranceFinderError):
        return str(exc)
    return f"Unexpected error: {type(exc).__name__}: {exc} (details in the log)"


def _pool() -> QThreadPool:
    pool = QThreadPool.globalInstance()
    if pool.maxThreadCount() < POOL_THREADS:
        pool.setMaxThreadCount(POOL_THREADS)
    return pool


class _JobError(Exception):
    """Carries a job's RuntimeError past superqt, which would otherwise swallow it as 'worker deleted'."""

    def __init__(self, exc: BaseException):
        super().__init__(str(exc))
        self.original = exc


def _drive(job: Callable, token: CancelToken, ended: threading.Event):
    """The generator superqt runs: the job's Progress yields pass through, its value is returned."""
    try:
        out = job(token)
        if inspect.isgenerator(out):
            out = yield from _progress_only(out)
        return out
    except RuntimeError as exc:
        raise _JobError(exc) from exc
    finally:
        ended.set()


def _progress_only(gen):
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        if isinstance(p, Progress):
            yield p


class Job(QObject):
    """UI-thread handle on one worker."""

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, job: Callable, name: str = "job", parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self.token = CancelToken()
        self._ended = threading.Event()
        self.worker = GeneratorWorker(_drive, job, self.token, self._ended)
        self.worker.yielded.connect(self._on_yielded)
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(self._on_errored)
        self.worker.finished.connect(self._on_done)
        self.running = False
        self.outcome: str | None = None  # "finished", "failed", "cancelled"

    def start(self) -> Job:
        self.running = True
        _pool()
        self.worker.start()
        return self

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def cancel_requested(self) -> bool:
        return self.token.cancelled

    def wait(self, ms: int = 5000) -> bool:
        """Wait for the job's code to end (never needed on the UI thread in normal use)."""
        return self._ended.wait(ms / 1000) if self.running or not self._ended.is_set() else True

    def _on_yielded(self, p) -> None:
        self.progress.emit(p)

    def _on_returned(self, result) -> None:
        self.outcome = "finished"
        self.running = False
        self.finished.emit(result)

    def _on_errored(self, exc) -> None:
        self.running = False
        exc = exc.original if isinstance(exc, _JobError) else exc
        if isinstance(exc, Cancelled):
            self.outcome = "cancelled"
            self.cancelled.emit()
            return
        self.outcome = "failed"
        if isinstance(exc, TranceFinderError):
            log.info("%s failed: %s", self.name, exc)
        else:
            log.error("%s crashed:\n%s", self.name, "".join(traceback.format_exception(exc)))
        self.failed.emit(describe_error(exc))

    def _on_done(self) -> None:
        self.running = False
        self.done.emit()


class JobRunner(QObject):
    """Starts jobs and keeps their handles until they end; ``shutdown`` cancels all, then waits."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.jobs: list[Job] = []

    def start(self, job: Callable, name: str = "job", on_finished=None, on_failed=None, on_progress=None,
              on_cancelled=None) -> Job:
        handle = Job(job, name)
        for signal, slot in ((handle.progress, on_progress), (handle.finished, on_finished),
                             (handle.failed, on_failed), (handle.cancelled, on_cancelled)):
            if slot is not None:
                signal.connect(slot)
        handle.done.connect(lambda h=handle: self.jobs.remove(h) if h in self.jobs else None)
        self.jobs.append(handle)
        return handle.start()

    def run(self, name, job, on_progress, on_result, on_error, on_cancel) -> Job:
        """The runner protocol of ``AppState``."""
        return self.start(job, name, on_finished=on_result, on_failed=on_error, on_progress=on_progress,
                          on_cancelled=on_cancel)

    def busy(self, name: str | None = None) -> bool:
        return any(j.running and (name is None or j.name == name) for j in self.jobs)

    def cancel_all(self) -> None:
        for j in list(self.jobs):
            j.cancel()

    def wait_all(self, ms: int = 10000) -> None:
        """Wait for every job; one still running is kept referenced for good (``_STRAGGLERS``)."""
        for j in list(self.jobs):
            if not j.wait(ms):
                log.warning("worker %s did not stop within %.1f s", j.name, ms / 1000)
                _STRAGGLERS.append(j)

    def shutdown(self, ms: int = 10000) -> None:
        """Cancel, wait, and deliver nothing afterwards: a result already queued for the UI thread must
        not reach a widget that is being deleted."""
        self.cancel_all()
        self.wait_all(ms)
        for j in self.jobs:
            j.blockSignals(True)


class LatestOnly(QObject):
    """Computes requests one at a time on a worker, always the newest one.

    ``submit(fn)`` replaces any request still waiting; ``result`` is emitted for each computed request
    (so the view keeps moving while a slider is dragged), but work never queues up behind it.
    """

    result = Signal(object)
    failed = Signal(str)
    idle = Signal()

    def __init__(self, name: str = "latest", parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self._pending: Callable | None = None
        self._busy = False
        self._runner = JobRunner(self)
        self.computed = 0

    @property
    def busy(self) -> bool:
        return self._busy or self._pending is not None

    def submit(self, fn: Callable[[], object]) -> None:
        self._pending = fn
        if not self._busy:
            self._next()

    def _next(self) -> None:
        fn, self._pending = self._pending, None
        if fn is None:
            self._busy = False
            self.idle.emit()
            return
        self._busy = True
        self._runner.start(lambda cancel, f=fn: f(), self.name, on_finished=self._done, on_failed=self._fail)

    def _done(self, value) -> None:
        self.computed += 1
        self.result.emit(value)
        self._next()

    def _fail(self, message: str) -> None:
        self.failed.emit(message)
        self._next()

    def cancel(self) -> None:
        self._pending = None
        self._runner.cancel_all()

    def shutdown(self) -> None:
        self.cancel()
        self._runner.wait_all()
