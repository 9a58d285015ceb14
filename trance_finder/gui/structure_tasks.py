"""Qt-free jobs for the sections and Compare wiring (issues 12 and 13); they run in worker threads.

``decode_wip`` decodes the WIP ONCE and makes from that one decode everything the window needs of it:
the playback buffer, waveform peaks and whole-file loudness (``tasks.PlaybackAudio``), the sections
(``core.sections.SectionAnalyzer``) and the mix statistics per section (``core.mixstats``). AppState
runs it in place of ``tasks.decode_for_playback`` for the WIP, in parallel with the ranked-list query,
so sections and Compare are there when the ranked list is.

``compare_for`` builds the Compare result for a target (top 5 / one reference / a cluster or label)
from the stored index records: no decode of any reference.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from trance_finder.gui.tasks import PlaybackAudio, file_stamp, waveform_peaks

BLOCK_SECONDS = 30.0
WHOLE = "whole"
TOP_N = 5


@dataclass
class WipAudio(PlaybackAudio):
    """A decoded WIP for the player, plus its structure from the same decode."""

    sections: object = None  # core.sections.TrackSections or None (analysis failed: said in ``structure_error``)
    mix: dict = field(default_factory=dict)  # {"whole": MixStats, label: MixStats}
    structure_error: str = ""
    timings: dict = field(default_factory=dict)  # seconds: decode, playback, structure


def analyse_blocks(audio: np.ndarray, sr: int, cancel=None, tempo: float | None = None):
    """(TrackSections, {label: MixStats}) of a decoded (channels, n) float32 signal, fed block by block to
    the same streaming analysers training uses (``core.extract`` feeds them from ``iter_blocks``)."""
    from trance_finder.core.mixstats import MixAnalyzer, section_stats
    from trance_finder.core.sections import SectionAnalyzer

    sec_an, mix_an = SectionAnalyzer(sr), MixAnalyzer(sr)
    step = max(1, int(BLOCK_SECONDS * sr))
    for i in range(0, audio.shape[1], step):
        if cancel is not None:
            cancel.check()
        block = np.ascontiguousarray(audio[:, i:i + step], dtype=np.float32)
        sec_an.add(block)
        mix_an.add(block)
    sections = sec_an.finish(tempo)
    mix = section_stats(mix_an.finish(), sections.sections)
    track_tempo = tempo or getattr(sections, "tempo", None)
    for st in mix.values():
        st.tempo = float(track_tempo) if track_tempo else None
    return sections, mix


def decode_wip(path: str, device_rate: float | None, channels: int = 2, cancel=None,
               target_lufs: float | None = None) -> WipAudio:
    """One decode of ``path``: what ``tasks.decode_for_playback`` gives, plus sections and mix stats.

    A structure analysis that fails (a file too short or too odd for it) leaves ``sections`` None and
    says why in ``structure_error``; playback still works."""
    from trance_finder.core import audio as audio_io

    t0 = time.perf_counter()
    target_lufs = audio_io.TARGET_LUFS if target_lufs is None else target_lufs
    stamp = file_stamp(path)
    audio, sr = audio_io.load(path)  # (channels, n) at the file's rate: the only decode of the WIP
    t_decode = time.perf_counter()
    sections, mix, error = None, {}, ""
    try:
        sections, mix = analyse_blocks(audio, sr, cancel)
    except (ValueError, FloatingPointError, IndexError) as exc:
        error = f"no sections for this file ({exc})"
    t_structure = time.perf_counter()
    mono = audio_io.to_mono(audio)
    peaks = waveform_peaks(mono)
    if audio.shape[0] == 1 and channels > 1:
        audio = np.repeat(audio, channels, axis=0)  # played on every channel: measure it that way
    audio = audio[:channels]
    whole = mix.get("whole")
    if whole is not None and audio.shape[0] == 2 and math.isfinite(float(whole.lufs)):
        lufs = float(whole.lufs)  # BS.1770 from the same decode (within 0.1 dB of pyloudnorm; seconds cheaper)
    else:
        lufs = audio_io.integrated_lufs(audio, sr)
    gain = min(0.0, audio_io.loudness_gain_db(lufs, target_lufs))
    buffer, rate = None, 0.0
    if device_rate:
        rate = float(device_rate)
        if int(round(rate)) != sr:
            audio = audio_io.resample(audio, sr, int(round(rate)))
        buffer = np.ascontiguousarray(audio.T, dtype=np.float32)
    t_end = time.perf_counter()
    duration = mono.shape[-1] / float(sr)
    return WipAudio(str(path), duration, lufs if math.isfinite(lufs) else -math.inf, gain, peaks, buffer, rate,
                    stamp, sections=sections, mix=mix, structure_error=error,
                    timings={"decode": t_decode - t0, "structure": t_structure - t_decode,
                             "playback": t_end - t_structure, "total": t_end - t0})


# -- Compare targets ----------------------------------------------------------------------------------
def group_names(finder) -> list[str]:
    """Clusters, then labels that are not also cluster names, for the Compare target menu."""
    clusters = list(getattr(finder, "cluster_names", []) or [])
    labels = sorted({str(t.get("label")) for t in finder.tracks if t.get("label")} - set(clusters))
    return clusters + labels


def target_positions(finder, kind: str, value: str = "", ranking=None, selected: int | None = None) -> list[int]:
    """The references a Compare target stands for: the top 5 of the ranked list, the selected
    reference, or every reference of a cluster / label."""
    if kind == "top5":
        if ranking is None:
            return []
        return [int(i) for i in list(ranking)[:TOP_N]]
    if kind == "reference":
        return [] if selected is None else [int(selected)]
    if kind == "group":
        return [i for i, t in enumerate(finder.tracks) if t.get("cluster") == value or t.get("label") == value]
    raise ValueError(f"unknown Compare target {kind!r}")


def measure_references(paths: list[str], cancel=None) -> dict[str, tuple]:
    """{path: (TrackSections or None, {label: MixStats})} measured from the files (one decode each):
    for references whose index records have no stored sections / mix (an index from before them)."""
    from trance_finder.core.compare import file_structure
    from trance_finder.errors import TranceFinderError

    out = {}
    for path in paths:
        if cancel is not None:
            cancel.check()
        try:
            out[path] = file_structure(path, cancel)
        except (OSError, ValueError, TranceFinderError) as exc:  # unreadable or too odd: left out, the rest still counts
            out[path] = (None, {})
            out.setdefault("_errors", []).append(f"{path}: {exc}")
    return out


def compare_for(finder, wip_mix: dict, positions: list[int], section: str = "drop", wip_name: str = "Your WIP",
                measured: dict | None = None):
    """The CompareResult of the WIP against the references at ``positions``: stored stats, else the
    ones ``measured`` from the file ({path: (sections, mix)}); a reference with neither is left out,
    said in the notes."""
    from pathlib import Path

    from trance_finder.core.compare import compare_mixes, record_mix

    mixes, names, missing = [], [], []
    for i in positions:
        track = finder.tracks[i]
        name = track.get("title") or Path(str(track.get("path", ""))).stem
        mix = record_mix(track)
        if mix is None and measured and measured.get(track.get("path")):
            mix = measured[track["path"]][1] or None
        if mix is None:
            missing.append(name)
            continue
        mixes.append(mix)
        names.append(name)
    if not mixes:
        return None
    result = compare_mixes(wip_mix, mixes, section, wip_name=wip_name, ref_names=names)
    if missing:
        result.notes.append(f"{len(missing)} reference(s) have no stored mix statistics (train again to "
                            f"include them): {', '.join(missing[:5])}")
    return result
