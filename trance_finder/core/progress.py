"""The one pattern for long work: generators that yield Progress and check a CancelToken."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from trance_finder.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """One step of a long job. ``stage`` names the phase ("extract", "train", "index", ...).

    ``info`` carries stage-specific facts (e.g. ``{"epoch": 3, "loss": 0.41}`` while training, or
    ``{"skipped": path, "reason": "..."}`` when a file was skipped).
    """

    stage: str
    done: int
    total: int
    message: str = ""
    info: dict = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)


class CancelToken:
    """Thread-safe flag; long jobs call ``check()`` between files or batches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


def run_to_end(gen, on_progress=None):
    """Drive a progress generator to its end and return its return value."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(p)
