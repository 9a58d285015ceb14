"""A WIP's mix against a target made of references: ranges, ranked differences, plain sentences.

``compare(wip, targets, section_name)`` takes ``MixStats`` (core.mixstats) of the WIP and of every
reference in the target (the top 5 neighbours, one reference, a cluster...) and returns a
``CompareResult`` whose ``to_json()`` is what ``trance-finder compare --json`` prints:

    bands       [{name, lo_hz, hi_hz, wip_db, target_db, target_lo_db, target_hi_db, outside}]
                levels relative to each track's total level (dB), target = median
    loudness    {wip: {lufs, short_term_max, lra, true_peak, plr}, target: {same keys, medians},
                 target_lo: {...}, target_hi: {...}}
    stereo      [{name, lo_hz, hi_hz, wip_width, target_width, target_lo, target_hi, outside}]
    correlation {wip, target, target_lo, target_hi};  tempo {wip, target}
    differences [{measure, amount, text, score, ...}] ranked, largest first (3-6, or none)
    summary     one sentence;  section, n_targets

The target range of a measure is the 10th-90th percentile of the references, never narrower than
``TOLERANCE`` either side of their median. With a single reference the range is that reference's value
plus or minus ``TOLERANCE`` (1 dB for bands and PLR, 1.5 LU for LRA, 0.05 or 20 % -- the larger -- for
side/mid width, 0.1 for correlation).

Differences (at most ``MAX_DIFFERENCES``, none closer to the range than ``MIN_SCORE`` units) are ranked
by how far outside the range the WIP is, in units of ``UNIT`` (1 dB, 1.5 LU of LRA -- a noisier, more
varied measure --, 0.1 of width or correlation, 0.5 dB of true peak over 0 dBTP); ``amount`` is the
WIP minus the target median. Loudness itself (integrated, short-term maximum, true peak) is level, not mix: a -12 dB copy of a reference lists no difference,
the table shows the 12 LU. The level enters the sentences through PLR ("5 LU quieter and more dynamic")
and a true peak above 0 dBTP is listed as clipping.

Reference stats stored in the index: ``track["mix"] = {"whole": MixStats.to_json(), "drop": ..., label:
...}`` (``mixstats.section_stats``; all sections of a label summarised together); ``record_mix`` /
``reference_stats`` read them; ``file_structure`` measures a file (sections and mix from one decode)
when they are missing. ``compare_mixes(wip_mix, ref_mixes, section)`` is what the CLI and the window
show: the chosen section (drops by default) with the whole-track fallbacks said in ``notes``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from trance_finder.core import mixstats
from trance_finder.core.mixstats import BANDS, STEREO_BANDS, MixStats

TOLERANCE = {"band": 1.0, "width": 0.05, "correlation": 0.1, "plr": 1.0, "lra": 1.5, "lufs": 1.0,
             "short_term_max": 1.0, "true_peak": 0.5, "tempo": 1.0}
UNIT = {"band": 1.0, "width": 0.1, "correlation": 0.1, "plr": 1.0, "lra": 1.5, "true_peak": 0.5}
MAX_DIFFERENCES = 6
MIN_SCORE = 0.2  # closer to the range than this (0.2 dB, 0.02 width...) is measurement noise, not a difference
LOUDNESS_KEYS = ("lufs", "short_term_max", "lra", "true_peak", "plr")
MONO_WIDTH = 0.05
WIDTH_RELATIVE_TOLERANCE = 0.2  # side/mid energy below this: "mono there"

#: one line per measure, for tooltips and the CLI's legend
MEASURE_HELP = {
    "lufs": "Integrated loudness (ITU-R BS.1770, gated), LUFS: how loud the whole section sounds on average.",
    "short_term_max": "Loudest 3-second stretch (short-term loudness maximum), LUFS.",
    "lra": "Loudness range (EBU Tech 3342), LU: how much the loudness moves between quiet and loud parts.",
    "true_peak": "Highest peak between samples (4x oversampled), dBTP: above 0 clips after conversion.",
    "plr": "Peak-to-loudness ratio = true peak - integrated loudness, dB: low means heavily limited.",
    "band": "Level of this band relative to the track's total level, dB (independent of how loud the file is).",
    "width": "Stereo width: side energy / mid energy in this band (0 = mono, 1 = unrelated left and right).",
    "correlation": "Left/right correlation: +1 mono, 0 unrelated, below 0 out of phase (thin in mono).",
    "tempo": "Tempo, BPM.",
}


@dataclass
class Difference:
    measure: str  # "band:low mids", "width:lows", "plr", "lra", "correlation", "true_peak"
    amount: float  # WIP - target median (dB, LU, or width units)
    text: str
    score: float  # how far outside the range, in UNIT
    wip: float = math.nan
    target: float = math.nan
    target_lo: float = math.nan
    target_hi: float = math.nan

    def to_json(self) -> dict:
        return {"measure": self.measure, "amount": _r(self.amount), "text": self.text, "score": _r(self.score),
                "wip": _r(self.wip), "target": _r(self.target), "target_lo": _r(self.target_lo),
                "target_hi": _r(self.target_hi)}


@dataclass
class CompareResult:
    section: str
    n_targets: int
    bands: list[dict]
    loudness: dict
    stereo: list[dict]
    correlation: dict
    tempo: dict
    differences: list[Difference]
    summary: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"section": self.section, "n_targets": self.n_targets, "bands": self.bands,
                "loudness": self.loudness, "stereo": self.stereo, "correlation": self.correlation,
                "tempo": self.tempo, "differences": [d.to_json() for d in self.differences],
                "summary": self.summary, "notes": list(self.notes)}


def _r(v, nd: int = 3):
    if v is None:
        return None
    v = float(v)
    return round(v, nd) if math.isfinite(v) else None


def target_range(values, kind: str) -> tuple[float, float, float]:
    """(median, lo, hi) of the finite values: 10-90 %, at least TOLERANCE[kind] either side."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    med = float(np.median(v))
    tol = TOLERANCE.get(kind, 0.0)
    if kind == "width":  # a ratio: wide images vary more in absolute terms
        tol = max(tol, WIDTH_RELATIVE_TOLERANCE * abs(med))
    lo, hi = (float(np.percentile(v, 10)), float(np.percentile(v, 90))) if v.size > 1 else (med, med)
    return med, min(lo, med - tol), max(hi, med + tol)


def _outside(x: float, lo: float, hi: float) -> float:
    """Signed distance outside [lo, hi] (0 inside or unknown)."""
    if not all(math.isfinite(v) for v in (x, lo, hi)):
        return 0.0
    return x - hi if x > hi else (x - lo if x < lo else 0.0)


def _significant(out: float, kind: str) -> float:
    """``out``, or 0 when it is within measurement noise of the range (``MIN_SCORE`` units)."""
    return out if abs(out) / UNIT[kind] >= MIN_SCORE else 0.0


def _subject(section: str) -> str:
    return "Your WIP" if section in ("", "whole", "whole track") else f"Your {section}"


def compare(wip: MixStats, targets: list[MixStats], section_name: str = "whole track") -> CompareResult:
    """Compare ``wip`` with the references ``targets`` (at least one). See the module docstring."""
    if not targets:
        raise ValueError("compare needs at least one reference")
    subject = _subject(section_name)
    diffs: list[Difference] = []

    bands = []
    for b in BANDS:
        med, lo, hi = target_range([t.bands_db.get(b.name, math.nan) for t in targets], "band")
        x = wip.bands_db.get(b.name, math.nan)
        out = _significant(_outside(x, lo, hi), "band")
        bands.append({"name": b.name, "lo_hz": b.lo_hz, "hi_hz": b.hi_hz, "wip_db": _r(x, 2),
                      "target_db": _r(med, 2), "target_lo_db": _r(lo, 2), "target_hi_db": _r(hi, 2),
                      "outside": _r(out, 2), "help": MEASURE_HELP["band"]})
        if out:
            amount = x - med
            verb = "are" if b.name.endswith("s") and b.name not in ("bass", "upper bass") else "is"
            text = (f"{b.label} {verb} {abs(amount):.1f} dB {'above' if amount > 0 else 'below'} "
                    "your references")
            diffs.append(Difference(f"band:{b.name}", amount, text, abs(out) / UNIT["band"], x, med, lo, hi))

    stereo = []
    for sb in STEREO_BANDS:
        med, lo, hi = target_range([t.widths.get(sb.name, math.nan) for t in targets], "width")
        lo = max(lo, 0.0) if math.isfinite(lo) else lo
        x = wip.widths.get(sb.name, math.nan)
        out = _significant(_outside(x, lo, hi), "width")
        stereo.append({"name": sb.name, "lo_hz": sb.lo_hz, "hi_hz": sb.hi_hz, "wip_width": _r(x),
                       "target_width": _r(med), "target_lo": _r(lo), "target_hi": _r(hi), "outside": _r(out),
                       "help": MEASURE_HELP["width"]})
        if out:
            diffs.append(Difference(f"width:{sb.name}", x - med, _width_text(sb, x, med, hi),
                                    abs(out) / UNIT["width"], x, med, lo, hi))

    cmed, clo, chi = target_range([t.correlation for t in targets], "correlation")
    chi = min(chi, 1.0) if math.isfinite(chi) else chi
    correlation = {"wip": _r(wip.correlation), "target": _r(cmed), "target_lo": _r(clo), "target_hi": _r(chi),
                   "help": MEASURE_HELP["correlation"]}
    out = _outside(wip.correlation, clo, chi)
    if out < 0:  # only less correlated than the references is a problem worth a sentence
        diffs.append(Difference(
            "correlation", wip.correlation - cmed,
            f"{subject}'s left/right correlation is {wip.correlation:.2f} against {cmed:.2f} in your references: "
            "parts of it cancel or thin out in mono", abs(out) / UNIT["correlation"], wip.correlation, cmed,
            clo, chi))

    loud_w, loud_t, loud_lo, loud_hi = {}, {}, {}, {}
    ranges = {}
    for key in LOUDNESS_KEYS:
        med, lo, hi = target_range([getattr(t, key) for t in targets], key)
        if key in ("lra", "plr") and math.isfinite(lo):
            lo = max(lo, 0.0)
        ranges[key] = (med, lo, hi)
        loud_w[key], loud_t[key], loud_lo[key], loud_hi[key] = (_r(getattr(wip, key), 2), _r(med, 2),
                                                                 _r(lo, 2), _r(hi, 2))
    loudness = {"wip": loud_w, "target": loud_t, "target_lo": loud_lo, "target_hi": loud_hi,
                "help": {k: MEASURE_HELP[k] for k in LOUDNESS_KEYS}}

    lufs_delta = wip.lufs - ranges["lufs"][0]
    med, lo, hi = ranges["plr"]
    out = _outside(wip.plr, lo, hi)
    if out:
        diffs.append(Difference("plr", wip.plr - med, _plr_text(subject, lufs_delta, wip.plr, med),
                                abs(out) / UNIT["plr"], wip.plr, med, lo, hi))
    med, lo, hi = ranges["lra"]
    out = _outside(wip.lra, lo, hi)
    if out:
        more = out > 0
        diffs.append(Difference(
            "lra", wip.lra - med,
            f"{subject}'s loudness range is {wip.lra:.1f} LU against {med:.1f} LU in your references "
            f"({'more' if more else 'less'} movement between its quiet and loud moments)",
            abs(out) / UNIT["lra"], wip.lra, med, lo, hi))
    if math.isfinite(wip.true_peak) and wip.true_peak > 0.0:
        med, lo, hi = ranges["true_peak"]
        over = wip.true_peak - max(0.0, hi if math.isfinite(hi) else 0.0)
        if over > 0:
            diffs.append(Difference("true_peak", wip.true_peak - med,
                                    f"{subject} peaks at {wip.true_peak:+.1f} dBTP: it will clip after conversion "
                                    f"(your references: {med:+.1f} dBTP)", over / UNIT["true_peak"],
                                    wip.true_peak, med, lo, hi))

    diffs = sorted((d for d in diffs if d.score >= MIN_SCORE), key=lambda d: -d.score)[:MAX_DIFFERENCES]
    tempos = [t.tempo for t in targets if t.tempo is not None]
    tmed = float(np.median(tempos)) if tempos else None
    tempo = {"wip": _r(wip.tempo, 1), "target": _r(tmed, 1), "help": MEASURE_HELP["tempo"]}
    summary = _summary(subject, section_name, len(targets), diffs, lufs_delta, wip, ranges)
    return CompareResult(section_name, len(targets), bands, loudness, stereo, correlation, tempo, diffs, summary)


def _width_text(sb, x: float, med: float, hi: float) -> str:
    where = "Below 120 Hz" if sb.name == "lows" else f"In the {sb.name} ({sb.range_text})"
    if x > med:
        if hi <= MONO_WIDTH * 2 and med < MONO_WIDTH:
            return f"{where} your WIP is wide (side/mid {x:.2f}); your references are mono there ({med:.2f})"
        return f"{where} your WIP is wider than your references (side/mid {x:.2f} vs {med:.2f})"
    if x < MONO_WIDTH:
        return f"{where} your WIP is mono (side/mid {x:.2f}); your references are wide there ({med:.2f})"
    return f"{where} your WIP is narrower than your references (side/mid {x:.2f} vs {med:.2f})"


def _plr_text(subject: str, lufs_delta: float, plr: float, med: float) -> str:
    dyn = "more dynamic" if plr > med else "less dynamic"
    if math.isfinite(lufs_delta) and abs(lufs_delta) >= 0.5:
        loud = f"{abs(lufs_delta):.1f} LU {'louder' if lufs_delta > 0 else 'quieter'} and "
    else:
        loud = ""
    return f"{subject} is {loud}{dyn} than your references (PLR {plr:.1f} vs {med:.1f} dB)"


def _summary(subject: str, section: str, n: int, diffs: list[Difference], lufs_delta: float, wip, ranges) -> str:
    against = "your reference" if n == 1 else f"your {n} references"
    if not diffs:
        level = ""
        if math.isfinite(lufs_delta) and abs(lufs_delta) >= 0.5:
            level = (f" It is {abs(lufs_delta):.1f} LU {'louder' if lufs_delta > 0 else 'quieter'}: level only, "
                     "with the same dynamics.")
        return f"{subject} sits inside the range of {against} on every measure.{level}"
    first = diffs[0].text[0].lower() + diffs[0].text[1:]
    n_more = len(diffs) - 1
    more = f" ({n_more} more below)" if n_more else ""
    return f"Compared with {against}, the largest difference: {first}{more}."


# -- sections and where the stats come from ------------------------------------------------------
def compare_mixes(wip_mix: dict[str, MixStats], ref_mixes: list[dict[str, MixStats]], section: str = "drop",
                  wip_name: str = "Your WIP", ref_names: list[str] | None = None) -> CompareResult:
    """The Compare the app shows. ``wip_mix`` and each of ``ref_mixes``: {"whole": MixStats, label:
    MixStats, ...} (``Finder.analyse_structure`` / ``Finder.reference_structure`` / ``record_mix``).

    The WIP's ``section`` (drops by default) against the same section of every reference; the WIP's
    whole track when it has no such section, a reference's whole track when it has none: both said in
    ``notes``. ``section`` "whole" (or "whole track") compares whole tracks."""
    section = (section or "whole").strip().lower()
    section = "whole" if section in ("whole track", "all", "") else section
    notes = []
    if section != "whole" and section not in wip_mix:
        have = ", ".join(k for k in wip_mix if k != "whole") or "none found"
        notes.append(f"{wip_name} has no {section} section (its sections: {have}): comparing whole tracks")
        section = "whole"
    if "whole" not in wip_mix:
        raise ValueError("the WIP's mix statistics have no whole-track entry")
    names = ref_names or [f"reference {i + 1}" for i in range(len(ref_mixes))]
    stats, fallback = [], []
    for name, mix in zip(names, ref_mixes):
        st = (mix or {}).get(section)
        if st is None and mix and section != "whole" and mix.get("whole") is not None:
            st = mix["whole"]
            fallback.append(name)
        if st is not None:
            stats.append(st)
    if fallback:
        notes.append(f"{len(fallback)} reference(s) without a {section} section count with their whole track: "
                     f"{', '.join(fallback[:5])}")
    res = compare(wip_mix[section], stats, "whole track" if section == "whole" else section)
    res.notes.extend(notes)
    return res


def record_mix(track: dict) -> dict[str, MixStats] | None:
    """{label: MixStats} stored in an index record (``track["mix"]``), tempo from the record; None when
    the record has none (an index trained before mix statistics existed) or they cannot be read."""
    mix = track.get("mix") if isinstance(track, dict) else None
    if not isinstance(mix, dict) or "whole" not in mix:
        return None
    out = {k: reference_stats(track, k) for k in mix}
    return None if any(v is None for v in out.values()) else out


def file_frames(path, cancel=None) -> mixstats.MixFrames:
    """Decode a file block by block (core.audio.iter_blocks) into MixFrames; ``cancel`` is checked per
    block (``CancelToken.check``)."""
    from trance_finder.core.audio import audio_info, iter_blocks

    info = audio_info(path)
    an = mixstats.MixAnalyzer(info.sample_rate)
    for _, block in iter_blocks(path, 30.0, info):
        if cancel is not None:
            cancel.check()
        an.add(block)
    return an.finish()


def file_structure(path, cancel=None, tempo: float | None = None):
    """(TrackSections or None, {"whole": MixStats, label: MixStats, ...}) of a file from one decode: the
    blocks feed core.sections (when available) and the MixAnalyzer together."""
    from trance_finder.core.audio import audio_info, iter_blocks

    try:
        from trance_finder.core.sections import SectionAnalyzer
    except ImportError:  # pragma: no cover - sections are part of the app, but keep Compare usable
        SectionAnalyzer = None
    info = audio_info(path)
    an = mixstats.MixAnalyzer(info.sample_rate)
    sec_an = SectionAnalyzer(info.sample_rate) if SectionAnalyzer else None
    for _, block in iter_blocks(path, 30.0, info):
        if cancel is not None:
            cancel.check()
        an.add(block)
        if sec_an is not None:
            sec_an.add(block)
    sections = sec_an.finish(tempo) if sec_an is not None else None
    stats = mixstats.section_stats(an.finish(), sections.sections if sections is not None else ())
    track_tempo = tempo or (getattr(sections, "tempo", None) if sections is not None else None)
    for st in stats.values():
        st.tempo = float(track_tempo) if track_tempo else None
    return sections, stats


def reference_stats(track: dict, section: str = "whole") -> MixStats | None:
    """The stored stats of an index record for ``section`` (``track["mix"][section]``), else None."""
    mix = track.get("mix") if isinstance(track, dict) else None
    if not isinstance(mix, dict) or not isinstance(mix.get(section), dict):
        return None
    try:
        stats = MixStats.from_json(mix[section])
    except (KeyError, TypeError, ValueError):
        return None
    if stats.tempo is None and track.get("tempo") is not None:
        stats.tempo = float(track["tempo"])
    return stats
