"""Sections and Compare in the main window (issues 12 and 13), driven by ``AppState``.

``install_structure(window)`` (called once by ``MainWindow``):

- puts ``StructureABArea`` (the ABPanel with the window's transport protocol) in the A/B slot: both
  waveforms with their sections, section jumps with 4/8/16-bar loops, loudness matched on the loops;
  keys 1-9 jump to the WIP's sections from anywhere in the window (not while typing in a field);
- sets ``AppState.wip_job`` to ``structure_tasks.decode_wip``: the WIP is decoded ONCE, alongside the
  ranked-list query, for playback, sections and mix statistics together; the result passes AppState's
  generation gate (request kind ``wip_audio``) like any decode;
- adds the Compare tab (``CompareView``) beside the map: the WIP's mix against the top 5 (default), the
  selected reference or a cluster / label, drops by default; built from the references' stored stats
  on the UI thread (a few ms), so it follows every change at once and is never stale;
- adds "Rank by" (whole track / drop / breakdown / ...) to the ranked list's heading; a choice re-ranks
  through ``AppState.rank_by`` (the query request kind, so a late whole-track list is dropped).

``timings`` keeps perf_counter stamps of the last WIP (ranked list, sections shown, Compare shown) for
``bench/bench_structure_gui.py``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QTextEdit,
)

from trance_finder.gui import structure_tasks
from trance_finder.gui.ab_panel import ABPanel
from trance_finder.gui.compare_view import CompareView

log = logging.getLogger("trance_finder.gui")

COMPARE_MIN_HEIGHT = 560  # plots, table and sentences without overlap
SECTION_ORDER = ("intro", "breakdown", "build", "drop", "outro")
RANK_TIP = ("Rank the references by one section of your WIP against their same sections (\"whose drops are "
            "like my drop\"); references without that section count with their whole track")


def _section_labels(labels) -> list[str]:
    labels = set(labels)
    return [lb for lb in SECTION_ORDER if lb in labels] + sorted(labels - set(SECTION_ORDER) - {"whole"})


class StructureABArea(ABPanel):
    """ABPanel speaking the window's transport protocol (what ``TransportPanel`` offers): ``set_source``,
    ``render_wip``, ``render_reference``, ``play``/``play_slot``/``toggle_ab``/``stop``/``seek``,
    ``tick``/``refresh`` and the ``failed``/``sourcesChanged`` signals. The WIP's sections come with its
    decoded audio (``structure_tasks.WipAudio``); a reference's from its index record
    (``reference_sections(audio)``)."""

    failed = Signal(str)
    sourcesChanged = Signal(bool, bool)  # noqa: N815

    def __init__(self, player=None, reason: str = "", reference_sections=None, parent=None):
        self.reason = reason
        self._sources: tuple[bool, bool] | None = None
        self.audio: dict[str, object] = {"A": None, "B": None}
        super().__init__(player, parent)
        self.reference_sections = reference_sections or (lambda audio: None)
        self.shown_at: dict[str, float] = {}  # perf_counter when a side's sections were shown
        # as wide as its longest entry ("3 · breakdown 1  (bars 33-48)"): the transport row wraps instead
        self.section_menu.setSizeAdjustPolicy(QComboBox.AdjustToContents)

    # -- sources ----------------------------------------------------------------------------------------
    def set_source(self, slot: str, audio) -> None:
        if audio is None:
            if self.audio[slot] is not None:
                (self.clear_wip if slot == "A" else self.clear_reference)()
            self.audio[slot] = None
            self.refresh()
            return
        if audio is self.audio[slot]:
            return
        self.audio[slot] = audio
        buf = audio.buffer if self.player is not None else None
        rate = audio.samplerate if buf is not None else 0.0
        if slot == "A":
            sections = getattr(audio, "sections", None)
            self.set_wip(buf, rate, audio.title, sections, lufs=audio.lufs, peaks=audio.peaks)
        else:
            sections = self.reference_sections(audio)
            self.set_reference(buf, rate, audio.title, sections, lufs=audio.lufs, peaks=audio.peaks)
        side, wave = self.sides[slot], (self.wave_a if slot == "A" else self.wave_b)
        if abs(side.duration - audio.duration) > 0.5 and buf is None:  # no buffer: the file's own length
            side.duration = float(audio.duration)
            wave.set_audio(audio.title, audio.peaks, side.duration)
            wave.set_sections(sections)
        if sections is not None:
            self.shown_at[slot] = time.perf_counter()
        self.refresh()

    def render_wip(self, wip) -> None:
        if wip.path is None or wip.status == "failed":
            if self.audio["A"] is not None:
                self.set_source("A", None)
            self.wave_a.clear()
        elif wip.audio is not None:
            if wip.audio is not self.audio["A"]:
                self.set_source("A", wip.audio)
        elif not self.wave_a.loading or self.wave_a.title != wip.name:
            if self.audio["A"] is not None:
                self.set_source("A", None)
            self.wave_a.set_loading(wip.name)

    def render_reference(self, audio, title: str = "") -> None:
        if audio == "loading":
            self.wave_b.set_loading(title)
        elif audio is None:
            self.set_source("B", None)
            self.wave_b.clear()
        else:
            self.set_source("B", audio)

    # -- transport protocol -----------------------------------------------------------------------------
    def _play(self, slot: str) -> bool:
        message = self.player.try_play(slot)
        if message:
            log.warning("playback failed: %s", message)
            self.failed.emit(message)
        return message is None

    def play(self, slot: str) -> bool:
        return self._play(slot)

    def tick(self) -> None:
        self.refresh()

    def render_player(self, _player=None) -> None:
        self.refresh()

    def render_gains(self, *_args) -> None:
        self._update_controls()

    def refresh(self) -> None:
        if self.player is None:
            self._update_controls()
            return
        super().refresh()

    def _update_controls(self) -> None:
        super()._update_controls()
        if self.player is None and self.reason:
            for w in self.buttons:
                w.setToolTip(w.toolTip().split("\n\n")[0] + f"\n\n{self.reason}")
            self.gain_label.setToolTip(self.reason)
        p = self.player
        now = (p is not None and p.has_source("A"), p is not None and p.has_source("B"))
        if now != self._sources:
            self._sources = now
            self.sourcesChanged.emit(*now)


class StructureController(QObject):
    """Wires ``StructureABArea``, ``CompareView`` and the "Rank by" control to the window's AppState."""

    compareUpdated = Signal(object)  # noqa: N815 - CompareResult or None

    def __init__(self, window):
        super().__init__(window)
        self.window, self.state = window, window.state
        self.state.wip_job = structure_tasks.decode_wip
        self.timings: dict[str, float] = {}
        self._wip_path: str | None = None
        self._user_section: str | None = None  # the Compare section the user picked for this WIP
        # references whose index records lack sections / mix (an index from before them, the shipped
        # demo): measured from their files in the background, {path: (sections, mix)}
        self.measured: dict[str, tuple] = {}
        self._measuring: set[str] = set()

        area = StructureABArea(window.player, window.player_reason, reference_sections=self._reference_sections)
        area.failed.connect(lambda m: window._status(m, error=True))
        area.sourcesChanged.connect(window._sources_changed)
        area.statusMessage.connect(lambda m: window._status(m, timeout=12000))
        area.sectionJumped.connect(lambda *_: None)
        window.set_ab_area(area)
        window.ab_area = area
        self.ab = area

        self.compare = CompareView()
        self.compare.clear()
        self.compare.targetChanged.connect(lambda *_: self.update_compare())
        self.compare.sectionChanged.connect(self._compare_section_picked)
        self.compare.setMinimumHeight(COMPARE_MIN_HEIGHT)  # short windows scroll it instead of overlapping
        self.compare_scroll = QScrollArea()
        self.compare_scroll.setWidgetResizable(True)
        self.compare_scroll.setFrameShape(QScrollArea.NoFrame)
        self.compare_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)  # never clipped text
        self.compare_scroll.setWidget(self.compare)
        self.compare_tab = window.add_view(self.compare_scroll, "Compare")
        self._split_before: list[int] | None = None
        window.views.currentChanged.connect(self._view_changed)

        self.rank_combo = QComboBox()
        self.rank_combo.setToolTip(RANK_TIP)
        self.rank_combo.addItem("Whole track", "whole")
        self.rank_combo.activated.connect(self._rank_picked)
        self.rank_label = QLabel("Rank by")
        self.rank_label.setToolTip(RANK_TIP)
        self._install_rank_control()

        self.shortcuts = []
        for n in range(1, 10):
            sc = QShortcut(QKeySequence(str(n)), window)
            sc.setContext(Qt.WindowShortcut)
            sc.activated.connect(lambda n=n: self._section_key(n))
            self.shortcuts.append(sc)

        self.state.subscribe(self._on_state)
        if self.state.finder is not None:
            self._model_changed()

    # -- installation --------------------------------------------------------------------------------
    def _view_changed(self, index: int) -> None:
        """The Compare tab gets most of the right column's height (its plots and sentences need it); the
        Map gets the split back as it was."""
        split = getattr(self.window, "right_split", None)
        if split is None or split.count() < 2:
            return
        sizes = split.sizes()
        if index == self.compare_tab:
            self._split_before = sizes
            total = sum(sizes)
            split.setSizes([int(total * 0.85), total - int(total * 0.85)])
        elif self._split_before is not None:
            split.setSizes(self._split_before)
            self._split_before = None

    def _install_rank_control(self) -> None:
        """Beside "Show top" in the ranked list's heading."""
        title = self.window.results.title
        head = _layout_of(title)
        if head is None:
            log.warning("rank-by control: the results heading was not found")
            return
        i = head.indexOf(title)
        head.insertWidget(i + 2, self.rank_label)
        head.insertWidget(i + 3, self.rank_combo)
        head.insertSpacing(i + 4, 10)

    # -- AppState events -------------------------------------------------------------------------------
    def _on_state(self, event: str, payload) -> None:
        if event == "model":
            if self.state.finder is not None:
                self._model_changed()
            else:
                self.compare.clear()
        elif event == "wip":
            self._wip_changed(payload)
        elif event == "wip_audio":
            self._wip_audio(payload)
        elif event == "selection":
            self._refill_targets()
            if (self.compare.current_target() or ("top5", ""))[0] == "reference":
                self.update_compare()

    def _model_changed(self) -> None:
        finder = self.state.finder
        self._measuring = set()  # an in-flight measurement for the previous model is dropped by the gate
        labels = _section_labels(finder.section_labels()) if hasattr(finder, "section_labels") else []
        keep = self.state.rank_section
        self.rank_combo.clear()
        self.rank_combo.addItem("Whole track", "whole")
        for lb in labels:
            self.rank_combo.addItem(lb.capitalize(), lb)
        i = self.rank_combo.findData(keep)
        if i < 0:
            self.state.rank_section = "whole"
        self.rank_combo.setCurrentIndex(max(0, i))
        self.rank_combo.setEnabled(bool(labels))
        self._refill_targets()
        self.update_compare()

    def _wip_changed(self, wip) -> None:
        if wip.path != self._wip_path:
            self._wip_path = wip.path
            self._user_section = None
            self.timings = {"opened": time.perf_counter()}
        if wip.status == "done" and wip.outcome is not None and "ranked" not in self.timings:
            self.timings["ranked"] = time.perf_counter()
        if wip.status == "done" and wip.outcome is not None and getattr(wip.outcome, "note", ""):
            self.window._status(wip.outcome.note, timeout=12000)
        self._render_rank_hint(wip)
        self.update_compare()

    def _wip_audio(self, audio) -> None:
        if audio is not None:
            if "A" in self.ab.shown_at and self.ab.audio["A"] is audio:
                self.timings.setdefault("sections", self.ab.shown_at["A"])
            err = getattr(audio, "structure_error", "")
            if err:
                self.window._status(f"{Path(audio.path).name}: {err}", timeout=12000)
            labels = _section_labels(getattr(audio, "mix", {}) or {})
            self.compare.set_sections(labels, default=self._user_section if self._user_section in labels else None)
        self.update_compare()

    def _render_rank_hint(self, wip) -> None:
        out = wip.outcome
        section = getattr(getattr(out, "result", None), "section", None)
        if section:
            matched = sum(1 for n in out.result.neighbours if n.section is not None)
            total = len(out.result.neighbours)
            self.rank_combo.setToolTip(f"Ranked by your {section} against the references' {section}s "
                                       f"({matched} of the top {total} have one; the others count with their "
                                       f"whole track)\n\n{RANK_TIP}")
        else:
            self.rank_combo.setToolTip(RANK_TIP)

    # -- intents ----------------------------------------------------------------------------------------
    def _rank_picked(self, _i: int) -> None:
        self.state.rank_by(self.rank_combo.currentData() or "whole")

    def rank_by(self, section: str) -> None:
        i = self.rank_combo.findData(section)
        if i >= 0:
            self.rank_combo.setCurrentIndex(i)
        self.state.rank_by(section)

    def _compare_section_picked(self, section: str) -> None:
        self._user_section = section
        self.update_compare()

    def _section_key(self, n: int) -> None:
        focus = self.window.focusWidget()
        if isinstance(focus, (QLineEdit, QTextEdit, QAbstractSpinBox)):
            return
        self.ab.jump_to_section(n)

    # -- data ---------------------------------------------------------------------------------------------
    def _reference_sections(self, audio):
        finder, st = self.state.finder, self.state
        if finder is None:
            return None
        pos = st.target
        if pos is None or finder.tracks[pos].get("path") != audio.path:
            pos = next((i for i, t in enumerate(finder.tracks) if t.get("path") == audio.path), None)
        if pos is None:
            return None
        try:
            stored = finder.reference_structure(pos)[0]
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("sections of %s unreadable: %s", audio.path, exc)
            stored = None
        if stored is not None:
            return stored
        if audio.path in self.measured:
            return self.measured[audio.path][0]
        self._measure([pos])
        return None

    # -- references without stored structure ---------------------------------------------------------
    def _lacking(self, positions) -> list[str]:
        from trance_finder.core.compare import record_mix

        finder = self.state.finder
        out = []
        for i in positions:
            t = finder.tracks[i]
            path = t.get("path")
            if path and path not in self.measured and (record_mix(t) is None or not t.get("sections")) \
                    and Path(path).is_file():
                out.append(path)
        return out

    def _measure(self, positions) -> bool:
        """Measure the references at ``positions`` that lack stored stats; True when some are pending."""
        paths = self._lacking(positions)
        if not paths:
            return bool(self._measuring)
        if set(paths) <= self._measuring:
            return True
        todo = sorted(self._measuring | set(paths))  # a new request replaces (cancels) the running one
        self._measuring = set(todo)
        ticket = self.state.begin("ref_structure")
        self.state._start(ticket, "ref-structure",
                          lambda cancel: structure_tasks.measure_references(todo, cancel),
                          self._measured_done, self._measured_failed)
        return True

    def _measured_done(self, found: dict) -> None:
        errors = found.pop("_errors", [])
        self.measured.update(found)
        self._measuring -= set(found)
        for e in errors:
            log.warning("reference not measured: %s", e)
        b = self.ab.audio["B"]
        if b is not None and self.ab.sides["B"].sections is None and found.get(b.path, (None,))[0] is not None:
            secs = found[b.path][0]
            self.ab.sides["B"].sections = secs
            self.ab.wave_b.set_sections(secs)
        self.update_compare()

    def _measured_failed(self, message: str) -> None:
        self._measuring = set()
        self.window._status(f"Could not measure the references' mix: {message}", error=True)

    def _refill_targets(self) -> None:
        finder = self.state.finder
        if finder is None:
            return
        sel = self.state.selected
        name = None if sel is None else (finder.tracks[sel].get("title") or Path(finder.tracks[sel]["path"]).stem)
        self.compare.set_target_choices(structure_tasks.group_names(finder), reference=name)

    def update_compare(self) -> None:
        """Render the Compare tab from AppState: the WIP's stats (from its one decode) against the
        target's stored stats."""
        st, finder = self.state, self.state.finder
        wip = st.wip
        result = None
        if finder is None or wip.path is None:
            self.compare.clear()
        elif wip.status == "failed":
            self.compare.clear(wip.error or "The WIP could not be analysed.")
        elif not getattr(wip.audio, "mix", None):
            self.compare.clear(f"Measuring the mix of {wip.name}…" if wip.audio is None else
                               f"No mix statistics for {wip.name}: "
                               f"{getattr(wip.audio, 'structure_error', '') or 'not measured'}")
        else:
            kind, value = self.compare.current_target() or ("top5", "")
            ranking = None if wip.outcome is None else wip.outcome.ranking.order
            positions = structure_tasks.target_positions(finder, kind, value, ranking, st.selected)
            if not positions:
                self.compare.clear({"top5": "Compare with your top 5 appears with the ranked list…",
                                    "reference": "Select a reference to compare with it."}.get(
                                       kind, f"No references in {value}."))
            elif self._measure(positions) and self._lacking(positions):
                self.compare.clear(f"Measuring the mix of {len(self._lacking(positions))} reference(s) from their "
                                   "files (this library's index has no stored statistics; training again stores "
                                   "them)…")
            else:
                result = structure_tasks.compare_for(finder, wip.audio.mix, positions, self.compare.current_section(),
                                                     wip_name="Your WIP", measured=self.measured)
                if result is None:
                    self.compare.clear("These references have no stored mix statistics: train again to "
                                       "compare with them.")
                else:
                    self.compare.set_result(result)
                    self.timings.setdefault("compare", time.perf_counter())
        self.compareUpdated.emit(result)


def _layout_of(widget):
    """The layout (at any depth under its parent's) that holds ``widget``."""
    parent = widget.parentWidget()
    if parent is None or parent.layout() is None:
        return None

    def walk(lay):
        for i in range(lay.count()):
            item = lay.itemAt(i)
            if item.widget() is widget:
                return lay
            if item.layout() is not None:
                found = walk(item.layout())
                if found is not None:
                    return found
        return None

    return walk(parent.layout())


def install_structure(window) -> StructureController:
    return StructureController(window)
