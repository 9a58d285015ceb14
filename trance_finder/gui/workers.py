"""One generic worker: a QObject moved to a QThread that drives any job.

A job is a callable taking ``cancel`` (a CancelToken) and returning either a plain value or a core
generator (Progress out; its return value is the result). The worker turns each yield into a
``progress`` signal and ends with exactly one of ``finished(result)``, ``failed(message)`` or
``cancelled()``. Cancellation is cooperative (the token; no ``terminate()``).

Signals from the worker thread reach the UI through a ``Job`` handle that lives in the UI thread, so
slots connected to a Job (lambdas included) always run on the UI thread.

``LatestOnly`` runs small numeric requests (interpolation while a slider is dragged) one at a time
and drops every request that a newer one replaced before it started.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from trance_finder.core.progress import CancelToken, Progress
from trance_finder.errors import Cancelled, TranceFinderError

log = logging.getLogger("trance_finder.gui")

_STRAGGLERS: list = []  # Jobs whose thread had not stopped at shutdown: never garbage-collected


def describe_error(exc: BaseException) -> str:
    """The message a user sees: TranceFinderError text as is, anything else as 'unexpected'."""
    if isinstance(exc, TranceFinderError):
        return str(exc)
    return f"Unexpected error: {type(exc).__name__}: {exc} (details in the log)"


class Worker(QObject):
    progress = Signal(object)  # Progress
    finished = Signal(object)  # the job's result
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()  # after any of the three above

    def __init__(self, job: Callable, name: str = "job"):
        super().__init__()
        self.job = job
        self.name = name
        self.cancel_token = CancelToken()

    @Slot()
    def run(self) -> None:
        try:
            out = self.job(self.cancel_token)
            if inspect.isgenerator(out):
                while True:
                    try:
                        p = next(out)
                    except StopIteration as stop:
                        out = stop.value
                        break
                    if isinstance(p, Progress):
                        self.progress.emit(p)
            self.finished.emit(out)  # a job that returned keeps its result even if cancel came late
        except Cancelled:
            self.cancelled.emit()
        except TranceFinderError as exc:
            log.info("%s failed: %s", self.name, exc)
            self.failed.emit(describe_error(exc))
        except Exception as exc:  # noqa: BLE001 - any bug must end the job, not the app
            log.error("%s crashed:\n%s", self.name, "".join(traceback.format_exception(exc)))
            self.failed.emit(describe_error(exc))
        finally:
            # No moveToThread back to the UI thread here: moving dispatches a ThreadChange event into
            # Python while Qt holds both threads' event-queue locks, which can deadlock with a UI thread
            # that holds the GIL and posts an event. The Job keeps the worker alive until its thread has
            # finished; only then is it released, with no event loop left to race with.
            self.done.emit()


class Job(QObject):
    """UI-thread handle on a running worker: re-emits its signals on the UI thread."""

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, job: Callable, name: str = "job", parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self.worker = Worker(job, name)
        self.thread = QThread()
        self.thread.setObjectName(f"worker:{name}")
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        # bound methods of a UI-thread QObject: queued to the UI thread
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.done.connect(self._on_done)
        self.thread.finished.connect(self._on_thread_finished)
        self.running = False
        self.outcome: str | None = None  # "finished", "failed", "cancelled"

    def start(self) -> Job:
        self.running = True
        self.thread.start()
        return self

    def cancel(self) -> None:
        self.worker.cancel_token.cancel()

    @property
    def cancel_requested(self) -> bool:
        return self.worker.cancel_token.cancelled

    def wait(self, ms: int = 5000) -> bool:
        return self.thread.wait(ms)

    @Slot(object)
    def _on_progress(self, p) -> None:
        self.progress.emit(p)

    @Slot(object)
    def _on_finished(self, result) -> None:
        self.outcome = "finished"
        self.running = False  # the job is over for the UI; its thread winds down right after
        self.finished.emit(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.outcome = "failed"
        self.running = False  # the job is over for the UI; its thread winds down right after
        self.failed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        self.outcome = "cancelled"
        self.running = False  # the job is over for the UI; its thread winds down right after
        self.cancelled.emit()

    @Slot()
    def _on_done(self) -> None:
        # Never block the UI thread on the worker thread here: it may still be finishing its last
        # signal emission and need the GIL. Ask its event loop to stop; ``done`` follows its ``finished``.
        self.thread.quit()

    @Slot()
    def _on_thread_finished(self) -> None:
        self.running = False
        self.done.emit()


class JobRunner(QObject):
    """Starts jobs and keeps them alive until they end; ``shutdown`` cancels and waits for all."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.jobs: list[Job] = []

    def start(self, job: Callable, name: str = "job", on_finished=None, on_failed=None, on_progress=None,
              on_cancelled=None) -> Job:
        # No Qt parent: the runner's list owns the handle, so Qt never deletes it behind Python's back
        handle = Job(job, name)
        if on_progress:
            handle.progress.connect(on_progress)
        if on_finished:
            handle.finished.connect(on_finished)
        if on_failed:
            handle.failed.connect(on_failed)
        if on_cancelled:
            handle.cancelled.connect(on_cancelled)
        handle.done.connect(lambda h=handle: self._forget(h))
        self.jobs.append(handle)
        return handle.start()

    def _forget(self, handle: Job) -> None:
        # called from the handle's own signal: drop the last reference on the next turn of the loop
        QTimer.singleShot(0, lambda: self.jobs.remove(handle) if handle in self.jobs else None)
        handle.running = False

    def busy(self, name: str | None = None) -> bool:
        return any(j.running and (name is None or j.name == name) for j in self.jobs)

    def cancel_all(self) -> None:
        for j in list(self.jobs):
            j.cancel()

    def wait_all(self, ms: int = 10000) -> None:
        """Wait for every job's thread; one still running is kept referenced for good (``_STRAGGLERS``)
        so Qt never destroys a running QThread (which aborts the process)."""
        for j in list(self.jobs):
            j.thread.quit()
            if not j.thread.wait(ms):
                log.warning("worker %s did not stop within %.1f s", j.name, ms / 1000)
                _STRAGGLERS.append(j)

    def shutdown(self, ms: int = 10000) -> None:
        self.cancel_all()
        self.wait_all(ms)


class LatestOnly(QObject):
    """Computes requests one at a time on a worker thread, always the newest one.

    ``submit(fn)`` replaces any request still waiting; ``result`` is emitted (on the UI thread) for
    each computed request; a request whose result arrives after a newer submit is still delivered, so
    the view keeps moving while a slider is dragged, but work never queues up behind it.
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
