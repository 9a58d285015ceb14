"""Section detection on the synthetic generator (whose sections are known) and on constructed signals."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from trance_finder import synth
from trance_finder.core.audio import integrated_lufs
from trance_finder.core.sections import (
    LABELS,
    Section,
    SectionAnalyzer,
    TrackSections,
    detect_sections,
    loop_bounds,
    matching_section,
)

SR = 22050
SECONDS = 60.0


_RENDERS: dict = {}


def _render(family: str, seed: int, seconds: float):
    """A synthetic track, rendered once per test session (CI runs without pytest's cache plugin)."""
    key = (family, seed, seconds)
    if key not in _RENDERS:
        style = synth.sample_style(family, np.random.default_rng(seed))
        _RENDERS[key] = (style, synth.render_track(style, seconds, SR))
    return _RENDERS[key]


@pytest.fixture(scope="module")
def tracks():
    """One 60 s render per style family: family -> (style, audio, truth)."""
    out = {}
    for i, fam in enumerate(synth.FAMILIES):
        style, audio = _render(fam, 100 + i, SECONDS)
        out[fam] = (style, audio, synth.track_sections(style, SECONDS))
    return out


@pytest.fixture(scope="module")
def detected(tracks):
    return {fam: detect_sections(audio, SR) for fam, (_s, audio, _t) in tracks.items()}


def _truth_label(truth, t: float) -> str | None:
    return next((s.name for s in truth if s.start <= t < s.end), None)


def _scores(ts: TrackSections, truth, bar: float, duration: float) -> tuple[int, int, float]:
    bounds = [s.start for s in truth[1:] if s.end > s.start]
    found = [s.start for s in ts.sections[1:]]
    hits = sum(any(abs(f - b) < bar for f in found) for b in bounds)
    mids = np.arange(bar / 2, duration, bar)
    right = np.mean([_truth_label(truth, m) == ts.section_at(m).label for m in mids])
    return hits, len(bounds), float(right)


def test_boundaries_and_labels_across_every_family(tracks, detected):
    hits = total = 0
    for fam, (style, _audio, truth) in tracks.items():
        ts = detected[fam]
        assert abs(ts.tempo - style.bpm) < 0.2, fam
        h, n, right = _scores(ts, truth, 240.0 / style.bpm, SECONDS)
        hits, total = hits + h, total + n
        assert right >= 0.9, (fam, right, [s.name for s in ts.sections])
    assert hits / total >= 0.9, (hits, total)


def test_sections_tile_the_file_on_bar_lines(detected):
    for ts in detected.values():
        secs = ts.sections
        assert secs[0].start == 0.0 and secs[-1].end == pytest.approx(ts.duration)
        for a, b in zip(secs, secs[1:]):
            assert a.end == b.start
            assert a.end_bar == b.start_bar
            bars = (b.start - ts.first_downbeat) / ts.bar_seconds
            assert bars == pytest.approx(round(bars), abs=1e-6)  # on a bar line
            assert ts.bar_at(b.start) == b.start_bar
        for lab in LABELS:
            assert [s.index for s in ts.of_label(lab)] == list(range(1, len(ts.of_label(lab)) + 1))
        assert all(s.label in LABELS for s in secs)


def test_matched_jump_lands_in_the_right_section_of_another_track(tracks, detected):
    fams = list(synth.FAMILIES)
    checked, right, misses = 0, 0, []
    for i, fam in enumerate(fams):
        other = fams[(i + 1) % len(fams)]
        wip, ref = detected[fam], detected[other]
        ref_truth = tracks[other][2]
        for sec in wip.sections:
            target = matching_section(sec, ref, wip)
            start, end = loop_bounds(target, ref, 8)
            probe = start + 0.5 * ref.bar_seconds  # the middle of the loop's first bar
            ok = _truth_label(ref_truth, probe) == sec.label
            right += ok
            checked += 1
            if not ok:
                misses.append((fam, other, sec.name, target.name, round(start, 2)))
            if sec.label == "drop":
                assert ok, (fam, other, sec.name, target.name, start)  # the drop-vs-drop jump always lands
    assert checked >= 3 * len(fams)
    assert right / checked >= 0.9, misses


def test_section_loudness_close_to_bs1770(tracks, detected):
    _style, audio, _truth = tracks["uplifting"]
    for sec in detected["uplifting"].sections:
        a, b = int(sec.start * SR), int(sec.end * SR)
        ref = integrated_lufs(audio[:, a:b], SR)
        assert sec.lufs is not None and abs(sec.lufs - ref) < 1.0, (sec.name, sec.lufs, ref)


def test_given_tempo_is_refined(tracks):
    style, audio, truth = tracks["psy"]
    ts = detect_sections(audio, SR, tempo=style.bpm + 0.1)
    assert abs(ts.tempo - style.bpm) < 0.05
    assert [s.label for s in ts.sections][:2] == ["intro", "breakdown"]


def test_no_breakdown(tracks):
    style, audio, truth = tracks["uplifting"]
    intro, drop = truth[0], truth[3]
    x = np.concatenate([audio[:, : int(round(intro.end * SR))], audio[:, int(round(drop.start * SR)):]], axis=1)
    ts = detect_sections(x, SR)
    assert [s.label for s in ts.sections] == ["intro", "drop"]
    assert abs(ts.sections[1].start - intro.end) < 240.0 / style.bpm


def test_ambient_without_kick():
    rng = np.random.default_rng(3)
    t = np.arange(int(60 * SR)) / SR
    chord = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (220.0, 261.6, 329.6, 440.0))
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * t / 16.0)
    x = 0.08 * chord * swell + 0.01 * rng.standard_normal(len(t))
    ts = detect_sections(np.stack([x, x]).astype(np.float32), SR)
    assert 1 <= len(ts.sections) <= 3
    assert {s.label for s in ts.sections} <= {"intro", "breakdown", "outro"}  # no kick: never a drop
    assert ts.sections[0].start == 0.0 and ts.sections[-1].end == pytest.approx(60.0)


def test_twenty_second_sketch():
    style, audio = _render("hard", 7, 20.0)
    ts = detect_sections(audio, SR)
    assert ts.sections and ts.sections[-1].label == "drop"
    assert ts.sections[0].start == 0.0 and ts.sections[-1].end == pytest.approx(20.0)
    assert abs(ts.tempo - style.bpm) < 0.5


def test_silence_at_either_end(tracks):
    style, audio, truth = tracks["progressive"]
    pad = np.zeros((2, 5 * SR), np.float32)
    ts = detect_sections(np.concatenate([pad, audio, pad], axis=1), SR)
    bar = 240.0 / style.bpm
    assert [s.label for s in ts.sections] == ["intro", "breakdown", "build", "drop"]
    for got, want in zip(ts.sections[1:], truth[1:]):
        assert abs(got.start - (want.start + 5.0)) < bar
    assert ts.first_downbeat == pytest.approx(5.0, abs=0.1)
    assert ts.bar_at(5.05) == 1 and ts.bar_at(1.0) <= 0
    assert ts.sections[-1].end == pytest.approx(SECONDS + 10.0)


def test_quiet_tail_after_the_last_drop_is_an_outro(tracks):
    style, audio, truth = tracks["uplifting"]
    intro = truth[0]
    bar_n = int(round(240.0 / style.bpm * SR))
    tail = audio[:, : 8 * bar_n] * np.float32(10 ** (-8 / 20))  # kick and hats only, 8 dB down
    x = np.concatenate([audio[:, : len(audio[0]) // bar_n * bar_n], tail], axis=1)
    ts = detect_sections(x, SR)
    assert ts.sections[-1].label == "outro", [s.name for s in ts.sections]
    assert abs(ts.sections[-1].start - len(audio[0]) // bar_n * bar_n / SR) < 240.0 / style.bpm
    assert ts.sections[-2].label == "drop"
    del intro


def test_thirty_minute_mix_streams_in_bounded_memory(tracks):
    style, audio, _truth = tracks["tech"]
    bars = int(audio.shape[1] / SR / (240.0 / style.bpm))
    audio = audio[:, : int(round(bars * 240.0 / style.bpm * SR))]  # whole bars: the tiles keep the beat grid
    an = SectionAnalyzer(SR)
    tracemalloc.start()
    try:
        block = 7 * SR + 123  # blocks that do not line up with frames
        pos, total = 0, 30 * 60 * SR
        while pos < total:
            a = pos % audio.shape[1]
            n = min(block, audio.shape[1] - a, total - pos)
            an.add(audio[:, a:a + n])
            pos += n
        _cur, peak = tracemalloc.get_traced_memory()
        ts = an.finish()
        _cur, peak2 = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert an.duration == pytest.approx(1800.0)
    assert an.state_bytes < 4_000_000  # a few floats per frame
    assert max(peak, peak2) < 64_000_000
    assert abs(ts.tempo - style.bpm) < 0.3
    assert len(ts.of_label("drop")) >= 10
    assert ts.sections[-1].end == pytest.approx(1800.0)


def test_json_round_trip_and_lookups():
    ts = TrackSections(140.0, 240.0 / 140.0, 0.5, 30.0, [])
    bar = ts.bar_seconds
    ts.sections = [Section("intro", 1, 0.0, 0.5 + 4 * bar, 0, 5, -12.0),
                   Section("drop", 1, 0.5 + 4 * bar, 30.0, 5, ts.bar_at(30.0) + 1, -8.5)]
    back = TrackSections.from_json(ts.to_json())
    assert [s.name for s in back.sections] == ["intro 1", "drop 1"]
    assert back.sections[1].lufs == -8.5 and back.first_downbeat == 0.5
    assert ts.bar_at(0.5) == 1 and ts.bar_at(0.49) == 0 and ts.bar_at(0.5 + bar) == 2
    assert ts.section_at(10.0).name == "drop 1" and ts.section_at(31.0) is None
    assert ts.find("drop", 1) is ts.sections[1] and ts.find("drop", 2) is None


def test_loop_bounds_are_bar_aligned_and_inside_the_file():
    ts = TrackSections(128.0, 240.0 / 128.0, 0.3, 40.0, [])
    bar = ts.bar_seconds
    first = Section("intro", 1, 0.0, 0.3 + 8 * bar, 0, 9, None)
    drop = Section("drop", 1, 0.3 + 8 * bar, 40.0, 9, 23, None)
    ts.sections = [first, drop]
    assert loop_bounds(first, ts, 4) == pytest.approx((0.3, 0.3 + 4 * bar))
    start, end = loop_bounds(drop, ts, 16)
    assert start == pytest.approx(0.3 + 8 * bar)
    assert end <= 40.0 and (end - start) / bar == pytest.approx(round((end - start) / bar))
    assert (end - start) / bar == pytest.approx(13)  # only 13 whole bars left in the file


def test_matching_rules():
    def track(*labels_lufs):
        ts = TrackSections(138.0, 240.0 / 138.0, 0.0, 100.0, [])
        counts = {}
        for i, (lab, lufs) in enumerate(labels_lufs):
            counts[lab] = counts.get(lab, 0) + 1
            ts.sections.append(Section(lab, counts[lab], i * 10.0, (i + 1) * 10.0, i * 6 + 1, i * 6 + 7, lufs))
        return ts

    ref = track(("intro", -12), ("breakdown", -16), ("drop", -8), ("breakdown", -15), ("drop", -7))
    wip = track(("intro", -20), ("drop", -14), ("drop", -13), ("drop", -13), ("outro", -17))
    assert matching_section(wip.sections[1], ref, wip).name == "drop 1"
    assert matching_section(wip.sections[2], ref, wip).name == "drop 2"
    assert matching_section(wip.sections[3], ref, wip).name == "drop 2"  # nearest index
    # no outro in the reference: closest in content (7 dB under the WIP's loudest, a kick part) -> intro
    assert matching_section(wip.sections[4], ref, wip).name == "intro 1"
    with pytest.raises(ValueError):
        matching_section(wip.sections[0], TrackSections(138.0, 1.7, 0.0, 10.0, []))


def test_cli_sections_json_and_table(tracks, detected, tmp_path, capsys):
    import json

    import soundfile as sf

    from trance_finder import cli

    style, audio, truth = tracks["psy"]
    path = tmp_path / "psy wip.wav"
    sf.write(str(path), audio.T, SR, subtype="FLOAT")
    assert cli.main(["sections", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["path"] == str(path) and abs(out["tempo"] - style.bpm) < 0.2
    secs = out["sections"]
    assert [s["label"] for s in secs] == [s.label for s in detected["psy"].sections]
    for s in secs:
        assert set(s) >= {"label", "index", "start", "end", "start_bar", "end_bar", "lufs"}
        assert s["label"] in LABELS and s["end"] > s["start"] and s["end_bar"] > s["start_bar"]
    assert [s["start"] for s in secs] == sorted(s["start"] for s in secs)
    assert secs[0]["start"] == 0.0 and secs[-1]["end"] == pytest.approx(SECONDS, abs=1e-3)
    assert cli.main(["sections", str(path)]) == 0
    table = capsys.readouterr().out
    assert "drop 1" in table and "BPM" in table and "LUFS" in table
    assert cli.main(["sections", str(tmp_path / "missing.wav")]) == 1
    assert "file not found" in capsys.readouterr().err


def test_short_sections_join_a_neighbour_and_no_track_opens_with_a_breakdown():
    from trance_finder.core.sections import _tidy

    assert _tidy([(0, 1, "intro"), (1, 9, "breakdown"), (9, 11, "build"), (11, 20, "drop")]) == \
        [(0, 9, "intro"), (9, 11, "build"), (11, 20, "drop")]
    assert _tidy([(0, 8, "intro"), (8, 9, "drop"), (9, 12, "intro"), (12, 20, "drop")]) == \
        [(0, 12, "intro"), (12, 20, "drop")]
    assert _tidy([(0, 8, "drop"), (8, 9, "build"), (9, 20, "drop")]) == [(0, 8, "drop"), (8, 9, "build"),
                                                                       (9, 20, "drop")]
