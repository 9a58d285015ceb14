"""The app's one state owner, Qt-free: the loaded model, the WIP (its analysis, its decoded audio), the
selected reference, the compare target and the blend, plus a request generation for every kind of
background request. Widgets render it and send it intents; nothing else keeps a copy.

Long work is started through an injected ``runner`` (the GUI's superqt workers, or a synchronous /
manual runner in tests) and every result comes back through one gate, ``_deliver``: a result whose
generation is no longer current is dropped there, and only there. Changes go out as plain callbacks
``listener(event, payload)``; the events are listed in ``EVENTS``.

Jobs are plain callables ``job(cancel) -> value | generator`` built from ``jobs`` (an object with the
functions of ``trance_finder.gui.tasks``: ``run_query``, ``decode_for_playback``), so this module
imports neither Qt nor torch.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trance_finder.app_library import LibraryState

MODEL, QUERY, WIP_AUDIO, REFERENCE, BLEND, TRAIN, AUDIO_RENDER = (
    "model", "query", "wip_audio", "reference", "blend", "train", "audio_render")
RESCAN = "rescan"
REF_STRUCTURE = "ref_structure"  # sections + mix of references whose index records lack them (structure_controller)
KINDS = (MODEL, QUERY, WIP_AUDIO, REFERENCE, BLEND, TRAIN, AUDIO_RENDER, RESCAN, REF_STRUCTURE)
EVENTS = ("model", "model_progress", "wip", "wip_audio", "selection", "reference_audio", "blend", "message",
          "filters", "clusters", "library")
REF_CACHE = 6
REF_CACHE_BYTES = 768 << 20  # decoded references kept for A/B: at most this many bytes of audio in all
BAD_FORMAT_HINT = "Re-export it from your DAW as WAV, AIFF or FLAC (or MP3/OGG) and drop it again."


@dataclass
class Ticket:
    kind: str
    generation: int
    model_generation: int


@dataclass
class WipState:
    """The work-in-progress being analysed or shown. ``status``: "none", "waiting" (for a model),
    "analysing", "done", "failed"."""

    path: str | None = None
    status: str = "none"
    outcome: Any = None  # tasks.QueryOutcome
    audio: Any = None  # tasks.PlaybackAudio (whole file decoded)
    error: str = ""
    audio_error: str = ""

    @property
    def name(self) -> str:
        return Path(self.path).name if self.path else ""

    def loudness(self) -> tuple[float | None, bool, int]:
        """(LUFS, exact, windows): the whole-file value once decoded, else the analysis windows' estimate."""
        if self.audio is not None and math.isfinite(float(self.audio.lufs)):
            return float(self.audio.lufs), True, 0
        q = getattr(getattr(self.outcome, "result", None), "query", None)
        lufs = getattr(q, "lufs", None)
        if lufs is None or not math.isfinite(float(lufs)):
            return None, False, 0
        return float(lufs), False, int(getattr(self.outcome, "n_windows", 0) or 0)


def _cache_bytes(cache) -> int:
    return sum(int(getattr(getattr(a, "buffer", None), "nbytes", 0) or 0) for a in cache.values())


@dataclass
class AppState(LibraryState):
    runner: Any  # .run(name, job, on_progress, on_result, on_error, on_cancel) -> handle with .cancel()
    jobs: Any  # run_query(finder, path, k, cancel), decode_for_playback(path, rate, channels)
    playback_format: Callable[[], tuple[float | None, int]] = lambda: (None, 2)
    loaded: Any = None  # tasks.LoadedModel
    model_status: str = "none"  # "none", "opening", "ready", "empty", "failed"
    model_message: str = ""
    wip: WipState = field(default_factory=WipState)
    selected: int | None = None
    target: int | None = None  # the reference A/B compares against
    reference_audio: Any = None  # PlaybackAudio of the target
    blend: Any = None  # tasks.BlendOutcome
    k: int = 10
    # issues 12/13 (gui/structure_controller.py): the WIP's one decode for playback + sections + mix,
    # started with the query (None: tasks.decode_for_playback after it), and the ranked list's section
    wip_job: Callable | None = None  # (path, rate, channels, cancel) -> PlaybackAudio with .sections/.mix
    rank_section: str = "whole"  # "whole", "drop", "breakdown", ...: rank by that section of the WIP

    def __post_init__(self) -> None:
        self._gen = {k: 0 for k in KINDS}
        self._handles: dict[str, Any] = {}
        self._listeners: list[Callable[[str, Any], None]] = []
        self.ref_cache: OrderedDict[str, Any] = OrderedDict()
        self.dropped = 0  # stale results dropped (tests and the log read it)
        self._library_init()

    # ------------------------------------------------------------------ notifications
    def subscribe(self, listener: Callable[[str, Any], None]) -> None:
        self._listeners.append(listener)

    def _emit(self, event: str, payload: Any = None) -> None:
        for fn in list(self._listeners):
            fn(event, payload)

    # ------------------------------------------------------------------ the one gate for results
    def begin(self, kind: str) -> Ticket:
        """A new request of ``kind``: every older one of that kind is now stale (and cancelled)."""
        self._gen[kind] += 1
        old = self._handles.pop(kind, None)
        if old is not None:
            old.cancel()
        return Ticket(kind, self._gen[kind], self._gen[MODEL])

    def is_current(self, ticket: Ticket) -> bool:
        return (self._gen[ticket.kind] == ticket.generation
                and (ticket.kind in (MODEL, TRAIN, AUDIO_RENDER) or self._gen[MODEL] == ticket.model_generation))

    def _deliver(self, ticket: Ticket, handler: Callable, *args) -> bool:
        """Every background result passes here: a stale one is dropped (counted), a current one handled."""
        if not self.is_current(ticket):
            self.dropped += 1
            return False
        handler(*args)
        return True

    def _start(self, ticket: Ticket, name: str, job: Callable, on_result: Callable, on_error: Callable,
               on_progress: Callable | None = None, on_cancel: Callable | None = None):
        box: list = []

        def ended(handler, *args):
            if box and self._handles.get(ticket.kind) is box[0]:
                del self._handles[ticket.kind]
            return self._deliver(ticket, handler, *args)

        handle = self.runner.run(
            name, job,
            (lambda p: self._deliver(ticket, on_progress, p)) if on_progress else None,
            lambda value: ended(on_result, value),
            lambda message: ended(on_error, message),
            lambda: ended(on_cancel or (lambda: None)))
        if handle is not None and self.is_current(ticket):
            box.append(handle)
            self._handles[ticket.kind] = handle
        return handle

    def invalidate(self, *kinds: str) -> None:
        for kind in kinds:
            self.begin(kind)

    def cancel_all(self) -> None:
        for handle in list(self._handles.values()):
            handle.cancel()

    def close(self) -> None:
        """The window is going: cancel everything, make every result still on its way stale (a queued
        result must not reach a widget that Qt has deleted) and forget the listeners."""
        self.cancel_all()
        for kind in self._gen:
            self._gen[kind] += 1
        self._handles.clear()
        self._listeners.clear()

    # ------------------------------------------------------------------ model
    @property
    def finder(self):
        return None if self.loaded is None else self.loaded.finder

    def open_model(self, job: Callable) -> None:
        """Open a model with ``job(cancel)`` (a generator returning a LoadedModel, or None for none)."""
        ticket = self.begin(MODEL)
        self.model_status = "opening"
        self.model_message = ""
        self._emit("model", None)
        self._start(ticket, "startup", job, self._model_ready, self._model_failed,
                    on_progress=lambda p: self._emit("model_progress", p))

    def _model_ready(self, loaded) -> None:
        if loaded is None:
            self.model_status = "empty"
            self._emit("model", None)
            return
        self._install_model(loaded)

    def _model_failed(self, message: str) -> None:
        self.model_status = "failed"
        self.model_message = message
        self._emit("model", None)

    def set_model(self, loaded) -> None:
        """A model built elsewhere (training): it replaces whatever a startup job would still bring."""
        self.begin(MODEL)
        self._install_model(loaded)

    def _install_model(self, loaded) -> None:
        self._gen[MODEL] += 1  # every query, decode or blend for the previous model is stale now
        self.invalidate(QUERY, REFERENCE, BLEND)
        self.loaded = loaded
        self.model_status = "ready"
        self.selected = self.target = None
        self.reference_audio = None
        self.blend = None
        self.ref_cache.clear()
        requery = self.wip.path and self.wip.status in ("waiting", "analysing", "done")
        self.wip.outcome = None
        self._emit("model", loaded)
        self._emit("selection", None)
        if requery:
            self._start_query(self.wip.path)
        else:
            self._emit("wip", self.wip)

    # ------------------------------------------------------------------ WIP
    def open_wip(self, path, is_audio: Callable[[str], bool] | None = None) -> bool:
        """Intent: analyse ``path``. Everything shown for the previous WIP is cleared at once."""
        path = str(path)
        if is_audio is not None and not is_audio(path):
            self.wip = WipState(path, "failed", error=f"{Path(path).name} is not an audio file this app reads. "
                                                    f"{BAD_FORMAT_HINT}")
            self.invalidate(QUERY, WIP_AUDIO)
            self._emit("wip", self.wip)
            self._emit("wip_audio", None)
            return False
        keep_audio = self.wip.audio if self.wip.audio is not None and self._audio_is_current(self.wip.audio, path) \
            else None
        self.wip = WipState(path, "waiting" if self.finder is None else "analysing", audio=keep_audio)
        if keep_audio is None:
            self.invalidate(WIP_AUDIO)
            self._emit("wip_audio", None)
        if self.finder is None:
            self.invalidate(QUERY)
            self._emit("wip", self.wip)
            return True
        self._start_query(path)
        return True

    @staticmethod
    def _audio_is_current(audio, path) -> bool:
        check = getattr(audio, "is_current", None)
        return bool(check(path)) if check else audio.path == path

    def _start_query(self, path: str) -> None:
        self.wip.status, self.wip.outcome, self.wip.error = "analysing", None, ""
        self._emit("wip", self.wip)
        ticket = self.begin(QUERY)
        finder, k = self.finder, max(10, self.k)
        section = None if self.rank_section in ("", "whole") else self.rank_section
        self._start(ticket, "query", (lambda cancel: self.jobs.run_query(finder, path, k, cancel, section=section))
                    if section else (lambda cancel: self.jobs.run_query(finder, path, k, cancel)),
                    self._query_done, self._query_failed)
        if self.wip_job is not None and self.wip.audio is None and self.wip.path == path:
            self._decode_wip(path)  # one decode for playback and structure, alongside the query

    def rank_by(self, section: str) -> None:
        """Intent: rank by ``section`` of the WIP ("whole": the whole track); re-ranks a loaded WIP."""
        section = section or "whole"
        if section == self.rank_section:
            return
        self.rank_section = section
        if self.finder is not None and self.wip.path and self.wip.status in ("analysing", "done"):
            self._start_query(self.wip.path)

    def _query_done(self, outcome) -> None:
        self.wip.outcome = outcome
        self.wip.status = "done"
        self.wip.error = ""
        self._emit("wip", self.wip)
        if self.wip.audio is None and not self._wip_decoding():
            self._decode_wip(outcome.path)
        top = [n.position for n in outcome.result.neighbours]
        if top:
            self.select(top[0])

    def _query_failed(self, message: str) -> None:
        self.wip.status = "failed"
        self.wip.outcome = None
        self.wip.audio = None
        if "not recognised" in message.lower() or "format" in message.lower():
            message = f"{message} {BAD_FORMAT_HINT}"
        self.wip.error = message
        self.invalidate(WIP_AUDIO)
        self._emit("wip", self.wip)
        self._emit("wip_audio", None)

    def _wip_decoding(self) -> bool:
        """A current decode of the WIP is in flight (started with the query: ``wip_job``)."""
        t = getattr(self, "_wip_audio_ticket", None)
        return t is not None and WIP_AUDIO in self._handles and self.is_current(t)

    def _decode_wip(self, path: str) -> None:
        ticket = self._wip_audio_ticket = self.begin(WIP_AUDIO)
        rate, channels = self.playback_format()
        job = self.wip_job
        self._start(ticket, "decode-wip", (lambda cancel: job(path, rate, channels, cancel)) if job is not None
                    else (lambda cancel: self.jobs.decode_for_playback(path, rate, channels)),
                    self._wip_decoded, self._wip_decode_failed)

    def _wip_decoded(self, audio) -> None:
        if audio.path != self.wip.path:
            self.dropped += 1
            return
        self.wip.audio = audio
        self._emit("wip_audio", audio)
        self._emit("wip", self.wip)  # the loudness is exact now

    def _wip_decode_failed(self, message: str) -> None:
        self.wip.audio_error = message
        self._emit("wip_audio", None)
        self._emit("message", f"Could not decode the WIP for playback: {message}")

    @property
    def pending_wip(self) -> str | None:
        return self.wip.path if self.wip.status == "waiting" else None

    # ------------------------------------------------------------------ selection and compare target
    def select(self, position: int | None) -> None:
        """Intent: select a reference (table, map, blend list); it becomes the compare target."""
        if position is not None and (self.finder is None or not 0 <= int(position) < len(self.finder.tracks)):
            return
        if position == self.selected and self.target == position:
            return
        self.selected = None if position is None else int(position)
        self._emit("selection", self.selected)
        self.set_target(self.selected)

    def set_target(self, position: int | None) -> None:
        self.target = position
        if position is None:
            self.reference_audio = None
            self.invalidate(REFERENCE)
            self._emit("reference_audio", None)
            return
        path = self.finder.tracks[position]["path"]
        cached = self.ref_cache.get(path)
        if cached is not None:
            self.ref_cache.move_to_end(path)
            self.invalidate(REFERENCE)
            self.reference_audio = cached
            self._emit("reference_audio", cached)
            return
        ticket = self.begin(REFERENCE)
        self.reference_audio = None
        self._emit("reference_audio", "loading")
        rate, channels = self.playback_format()
        self._start(ticket, "decode-reference",
                    lambda cancel: self.jobs.decode_for_playback(path, rate, channels),
                    self._reference_decoded, self._reference_failed)

    def _reference_decoded(self, audio) -> None:
        self.ref_cache[audio.path] = audio
        while len(self.ref_cache) > REF_CACHE or (len(self.ref_cache) > 1 and _cache_bytes(self.ref_cache)
                                                  > REF_CACHE_BYTES):
            self.ref_cache.popitem(last=False)
        self.reference_audio = audio
        self._emit("reference_audio", audio)

    def _reference_failed(self, message: str) -> None:
        self._emit("reference_audio", None)
        self._emit("message", f"Could not play that reference: {message}")

    def track(self, position: int) -> dict:
        return self.finder.tracks[position]

    def display_path(self, position: int) -> str:
        """The reference's path relative to its library folder where possible (tooltips)."""
        path = str(self.finder.tracks[position].get("path", ""))
        root = getattr(self.loaded, "references", "") or ""
        if root:
            try:
                return os.path.relpath(path, root) if Path(path).resolve().is_relative_to(Path(root).resolve()) \
                    else path
            except (OSError, ValueError):
                return path
        return path

    # ------------------------------------------------------------------ blend
    def blend_ticket(self) -> Ticket:
        """For a blend request: its result is dropped once the model or the WIP changes."""
        return Ticket(BLEND, self._gen[BLEND], self._gen[MODEL])

    def blend_result(self, ticket: Ticket, outcome) -> bool:
        return self._deliver(ticket, self._set_blend, outcome)

    def _set_blend(self, outcome) -> None:
        self.blend = outcome
        self._emit("blend", outcome)

    def clear_blend(self) -> None:
        self.invalidate(BLEND)
        self.blend = None
        self._emit("blend", None)
