"""The library side of ``AppState`` (Qt-free, mixed into it): the ranked list's filters, cluster renames
and rescans of the reference folder.

* **Filters** (``set_filters``): one ``core.filters.RankFilter`` for the whole window; the table renders
  it. ``filter_table()`` is the vectorised per-track table, built once per loaded index (and again
  after a rename).
* **Renames** (``rename_cluster``): shown everywhere at once (the loaded Finder, the WIP's predicted
  cluster, the filters), then saved in the background through the core API (profile + model + index as
  one set, so the name survives a reload and a retrain). A save that fails puts the old name back and
  says why. The demo library's names are fixed (its files ship with the app).
* **Rescan** (``rescan``): ``core.library.scan`` + ``update_index`` with the current model in a worker;
  the updated index replaces the loaded one without a restart (the WIP is ranked again), and
  ``library`` carries the sentence ("3 new, 1 removed, retrain suggested").

Everything that writes the model folder (renames, rescans) runs one job at a time, in order: two saves
never interleave. Events: "filters", "clusters" ((old, new)), "library" (``LibraryStatus``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

RESCAN_KIND = "rescan"
DEMO_NAMES_FIXED = ("The demo library's cluster names are fixed. Train on your own references "
                    "(Library › Train) to name your styles.")
DEMO_FIXED = "The demo library is fixed. Train on your own reference folder to add and remove tracks."


@dataclass
class LibraryStatus:
    """What the Rescan row shows. ``state``: "idle", "scanning", "updating", "done", "failed",
    "unavailable"."""

    state: str = "idle"
    sentence: str = ""
    retrain_suggested: bool = False
    diff: Any = None  # core.library.LibraryDiff of the last scan
    analysed: int = 0
    skipped: list | None = None

    @property
    def busy(self) -> bool:
        return self.state in ("scanning", "updating")


class LibraryState:
    """Mixed into AppState: uses its ``finder``, ``loaded``, ``wip``, ``runner``, ``begin``,
    ``is_current``, ``_deliver``, ``_emit``, ``_handles`` and ``_install_model``."""

    def _library_init(self) -> None:
        from trance_finder.core.filters import RankFilter

        self.filters = RankFilter()
        self._ftable: tuple | None = None  # (finder, version, FilterTable)
        self._ftable_version = 0
        self.library = LibraryStatus()
        self._writes: list = []  # queued starters of model-folder writes
        self._writing: Any = None  # the running write's handle ("starting" while it is being started)
        self.pending_renames: list[tuple[str, str]] = []  # shown, not yet saved
        if getattr(self, "library_jobs", None) is None:
            from trance_finder.gui import library_tasks

            self.library_jobs = library_tasks  # rescan_library, save_cluster_name (tests may swap it)

    # ------------------------------------------------------------------ filters
    def set_filters(self, rank_filter) -> None:
        """Intent: show the ranked list through ``rank_filter`` (a core.filters.RankFilter)."""
        self.filters = rank_filter
        self._emit("filters", rank_filter)

    def filter_table(self):
        """The per-track table the filters read (built once per loaded index and rename)."""
        finder = self.finder
        if finder is None:
            return None
        if self._ftable is None or self._ftable[0] is not finder or self._ftable[1] != self._ftable_version \
                or len(self._ftable[2].tempo) != len(finder.tracks):
            from trance_finder.core.filters import FilterTable

            self._ftable = (finder, self._ftable_version, FilterTable.of(finder.tracks))
        return self._ftable[2]

    # ------------------------------------------------------------------ renames
    @property
    def can_rename(self) -> bool:
        return self.loaded is not None and self.loaded.kind != "demo"

    def rename_cluster(self, old: str, new: str) -> str | None:
        """Intent: call cluster ``old`` ``new`` from now on. Returns the name shown, or None (refused,
        with a "message" event saying why, or nothing to do)."""
        finder, loaded = self.finder, self.loaded
        new = " ".join(str(new or "").split())
        if finder is None or old not in finder.cluster_names or new == old:
            return None
        if not new:
            self._emit("message", "A cluster name cannot be empty.")
            return None
        if loaded.kind == "demo":
            self._emit("message", DEMO_NAMES_FIXED)
            return None
        if new in finder.cluster_names:
            self._emit("message", f"There is already a cluster called “{new}”.")
            return None
        self._apply_rename(old, new)
        self.pending_renames.append((old, new))

        def saved(_stored) -> None:
            if (old, new) in self.pending_renames:
                self.pending_renames.remove((old, new))

        def failed(message: str) -> None:
            if (old, new) in self.pending_renames:
                self.pending_renames.remove((old, new))
            if self.loaded is loaded and new in finder.cluster_names:
                self._apply_rename(new, old)
            self._emit("message", f"Could not save the name “{new}”: {message}. The cluster is called “{old}” again.")

        self._queue_write("rename", lambda cancel: self.library_jobs.save_cluster_name(loaded, old, new), saved, failed)
        return new

    def _apply_rename(self, old: str, new: str) -> None:
        """Rename in what is loaded and shown: the Finder (names, records), the WIP's predicted cluster,
        the cluster filter; then tell every view."""
        finder = self.finder
        finder.rename_cluster(old, new)
        result = getattr(self.wip.outcome, "result", None)
        if result is not None:
            if result.cluster == old:
                result.cluster = new
            if old in result.cluster_scores:
                result.cluster_scores = {new if k == old else k: v for k, v in result.cluster_scores.items()}
        if old in self.filters.clusters:
            from dataclasses import replace

            self.filters = replace(self.filters, clusters=frozenset(new if c == old else c
                                                                     for c in self.filters.clusters))
        self._ftable_version += 1
        self._emit("clusters", (old, new))

    # ------------------------------------------------------------------ rescan
    def rescan(self, reason: str = "manual") -> bool:
        """Intent: bring the loaded index up to date with its reference folder (new, removed, moved,
        changed files) without retraining. ``reason``: "manual", "start", "watch" (said in the log)."""
        loaded = self.loaded
        if loaded is None or getattr(self, "model_status", "") != "ready":
            return False
        if loaded.kind == "demo":
            self._set_library(LibraryStatus("unavailable", DEMO_FIXED))
            return False
        refs = loaded.references
        if not refs or not os.path.isdir(refs):
            self._set_library(LibraryStatus("failed", f"The reference folder {refs or '(unknown)'} is not there "
                                                      "(moved, renamed or unplugged?); choose it again and train."))
            return False
        ticket = self.begin(RESCAN_KIND)
        self._set_library(LibraryStatus("scanning", f"Scanning {os.path.basename(refs.rstrip(os.sep)) or refs}…",
                                        self.library.retrain_suggested, self.library.diff))

        def progress(p) -> None:
            if p.stage == "extract" and p.total:
                self._set_library(LibraryStatus("updating", f"Analysing new files: {p.done} / {p.total}",
                                                self.library.retrain_suggested, self.library.diff))
            elif p.stage == "scan" and p.info.get("diff"):
                d = p.info["diff"]
                self._set_library(LibraryStatus("updating", d["sentence"], bool(d["retrain_suggested"])))

        self._queue_write(f"rescan-{reason}", lambda cancel: self.library_jobs.rescan_library(loaded, refs, cancel),
                          self._rescan_done, self._rescan_failed, progress, ticket)
        return True

    def _rescan_done(self, outcome) -> None:
        diff, result = outcome.diff, outcome.result
        skipped = list(getattr(result, "skipped", []) or []) + list(diff.problems)
        sentence = diff.sentence
        if skipped:
            sentence += f" ({len(skipped)} could not be read)"
        self.library = LibraryStatus("done", sentence, diff.retrain_suggested, diff,
                                     int(getattr(result, "analysed", 0) or 0), skipped)
        if outcome.loaded is not None:
            for old, new in self.pending_renames:  # shown already, saved after this rescan
                if old in outcome.loaded.finder.cluster_names:
                    outcome.loaded.finder.rename_cluster(old, new)
            self._install_model(outcome.loaded)  # same model, new index: the WIP is ranked again
        self._emit("library", self.library)

    def _rescan_failed(self, message: str) -> None:
        self._set_library(LibraryStatus("failed", f"Rescan failed: {message}", self.library.retrain_suggested,
                                        self.library.diff))

    def _set_library(self, status: LibraryStatus) -> None:
        self.library = status
        self._emit("library", status)

    # ------------------------------------------------------------------ one model-folder write at a time
    def _queue_write(self, name, job, on_result, on_error, on_progress=None, ticket=None) -> None:
        def start() -> None:
            if ticket is not None and not self.is_current(ticket):
                self.dropped += 1
                self._writing = None
                self._next_write()
                return
            ended: list = []

            def finish(handler, *args) -> None:
                ended.append(True)
                if self._handles.get(RESCAN_KIND) is handle_box[0] and handle_box[0] is not None:
                    del self._handles[RESCAN_KIND]
                self._writing = None
                try:
                    if ticket is None:
                        handler(*args)
                    else:
                        self._deliver(ticket, handler, *args)
                finally:
                    self._next_write()

            handle_box: list = [None]
            self._writing = "starting"
            handle = self.runner.run(
                name, job,
                (lambda p: on_progress(p) if ticket is None or self.is_current(ticket) else None)
                if on_progress else None,
                lambda value: finish(on_result, value),
                lambda message: finish(on_error, message),
                lambda: finish(lambda: None))
            handle_box[0] = handle
            if not ended:
                self._writing = handle
                if ticket is not None and handle is not None:
                    self._handles[RESCAN_KIND] = handle  # a newer rescan cancels this one

        self._writes.append(start)
        self._next_write()

    def _next_write(self) -> None:
        if self._writing is None and self._writes:
            self._writes.pop(0)()

    @property
    def writing(self) -> bool:
        return self._writing is not None or bool(self._writes)
