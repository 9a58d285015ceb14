"""Synthetic trance generator: determinism, structure, style differences, library writing."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from scipy import signal
from scipy.ndimage import uniform_filter1d

from trance_finder import synth
from trance_finder.core.progress import CancelToken, Progress
from trance_finder.errors import Cancelled

SR = 22050


def _style(family: str, i: int = 0) -> synth.TrackStyle:
    return synth.sample_style(family, np.random.default_rng(1000 + i))


def _section_slice(style, seconds, name):
    s = next(s for s in synth.track_sections(style, seconds) if s.name == name)
    return slice(int(s.start * SR), int(s.end * SR))


def _beat_period(x: np.ndarray, sr: int) -> float:
    """Dominant period (s) in 0.3..0.6 s of the onsets of the low-passed (< 150 Hz) energy envelope."""
    low = signal.sosfilt(signal.butter(4, 150, "lowpass", fs=sr, output="sos"), x)
    hop, win = 64, int(0.025 * sr)  # the window spans a period of the kick's ~50 Hz body
    env = np.sqrt(uniform_filter1d(low**2, win))[::hop]
    onset = np.maximum(0.0, np.diff(env))
    onset -= onset.mean()
    ac = np.correlate(onset, onset, mode="full")[len(onset) - 1 :]
    lo, hi = int(0.3 * sr / hop), int(0.6 * sr / hop) + 1
    k = lo + int(np.argmax(ac[lo:hi]))
    a, b, c = ac[k - 1], ac[k], ac[k + 1]
    frac = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c != 0 else 0.0
    return (k + frac) * hop / sr


def _centroid(x: np.ndarray, sr: int) -> float:
    f, _t, z = signal.stft(x, fs=sr, nperseg=1024)
    mag = np.abs(z)
    return float((f[:, None] * mag).sum() / mag.sum())


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# ------------------------------------------------------------------------------------------ rendering
def test_families_and_sample_style():
    assert len(synth.STYLE_FAMILIES) == 8
    rng = np.random.default_rng(0)
    keys = set()
    for name, fam in synth.STYLE_FAMILIES.items():
        for _ in range(6):
            st = synth.sample_style(name, rng)
            assert st.style == name
            assert fam.bpm[0] <= st.bpm <= fam.bpm[1]
            assert 0 <= st.brightness <= 1 and 0 <= st.energy <= 1
            assert st.groove in fam.grooves and st.palette in fam.palettes
            keys.add(st.key % 12)
    assert len(keys) >= 10
    assert synth.sample_style("psy", rng, seed=42).seed == 42
    st = _style("acid")
    assert synth.TrackStyle.from_dict({**st.to_dict(), "path": "x.wav"}) == st
    with pytest.raises(ValueError):
        synth.sample_style("polka", rng)


def test_determinism_shape_peak():
    st = _style("uplifting")
    a = synth.render_track(st, seconds=6.0, sr=SR)
    b = synth.render_track(st, seconds=6.0, sr=SR)
    assert a.dtype == np.float32 and a.shape == (2, int(6.0 * SR))
    assert np.array_equal(a, b)
    assert np.isfinite(a).all()
    assert 0.5 < np.abs(a).max() <= 0.99
    c = synth.render_track(replace(st, seed=st.seed + 1), seconds=6.0, sr=SR)
    assert not np.array_equal(a, c)
    assert np.abs(a - c).mean() > 0.01
    # stereo: supersaws are wide, so the channels differ
    assert _rms(a[0] - a[1]) > 0.02


@pytest.mark.parametrize("family", ["tech", "balearic", "hard"])
def test_other_families_render_clean(family):
    x = synth.render_track(_style(family, 3), seconds=5.0, sr=16000)
    assert x.shape == (2, 80000) and np.isfinite(x).all() and np.abs(x).max() <= 0.99


def test_mastered_loudness_and_wip():
    st = _style("progressive", 1)
    x = synth.render_track(st, seconds=12.0, sr=SR)
    assert -10.5 < synth.integrated_loudness(x, SR) < -7.5
    w = synth.render_wip(st, seconds=12.0, sr=SR)
    assert w.shape == x.shape and np.abs(w).max() <= 0.99 and np.isfinite(w).all()
    assert not np.array_equal(w, x)
    assert synth.integrated_loudness(w, SR) == pytest.approx(synth.integrated_loudness(x, SR) - 9.0, abs=1.0)
    # same song: same tempo, same structure -> the kick (low band) lines up
    lx = signal.sosfilt(signal.butter(4, 120, "lowpass", fs=SR, output="sos"), x.mean(0))
    lw = signal.sosfilt(signal.butter(4, 120, "lowpass", fs=SR, output="sos"), w.mean(0))
    assert np.corrcoef(np.abs(lx), np.abs(lw))[0, 1] > 0.5


def test_sections_cover_the_track():
    st = _style("uplifting")
    for seconds in (3.0, 12.0, 24.0, 30.0):
        secs = synth.track_sections(st, seconds)
        assert [s.name for s in secs] == ["intro", "breakdown", "build", "drop"]
        assert secs[0].start == 0 and secs[-1].end == pytest.approx(seconds)
        assert all(a.end == pytest.approx(b.start) for a, b in zip(secs, secs[1:]))
        assert secs[-1].end - secs[-1].start >= 0.2 * seconds


# -------------------------------------------------------------------------------------------- musical
@pytest.mark.parametrize("family,i", [("uplifting", 0), ("psy", 1), ("balearic", 2)])
def test_kick_on_the_beat_in_the_drop(family, i):
    st = _style(family, i)
    seconds = 24.0
    x = synth.render_track(st, seconds=seconds, sr=SR).mean(axis=0)
    drop = x[_section_slice(st, seconds, "drop")]
    assert _beat_period(drop, SR) == pytest.approx(60.0 / st.bpm, rel=0.02)


def test_no_kick_in_breakdown():
    st = _style("uplifting")
    x = synth.render_track(st, seconds=24.0, sr=SR).mean(axis=0)
    low = signal.sosfilt(signal.butter(4, 90, "lowpass", fs=SR, output="sos"), x)
    bd, drop = low[_section_slice(st, 24.0, "breakdown")], low[_section_slice(st, 24.0, "drop")]
    assert _rms(bd) < 0.25 * _rms(drop)


def test_bright_family_brighter_than_dark_family():
    def mean_centroid(family):
        return np.mean([_centroid(synth.render_track(_style(family, i), 10.0, SR).mean(0), SR) for i in range(3)])

    assert mean_centroid("uplifting") > 1.1 * mean_centroid("progressive")


def test_energy_raises_drop_over_breakdown():
    st = _style("uplifting", 4)

    def ratio(energy):
        x = synth.render_track(replace(st, energy=energy), seconds=16.0, sr=SR)
        return _rms(x[:, _section_slice(st, 16.0, "drop")]) / _rms(x[:, _section_slice(st, 16.0, "breakdown")])

    lo, hi = ratio(0.15), ratio(0.95)
    assert lo > 1.0
    assert hi > 1.3 * lo


# -------------------------------------------------------------------------------------------- library
def test_make_library_writes_skips_and_cancels(tmp_path):
    fams = ["uplifting", "psy", "balearic"]
    kw = dict(n_per_family=1, families=fams, seconds=2.0, sr=16000, seed=3)

    token = CancelToken()
    seen = []
    with pytest.raises(Cancelled):
        for p in synth.make_library(tmp_path, cancel=token, **kw):
            seen.append(p)
            if len(seen) == 2:
                token.cancel()
    assert len(seen) == 2
    assert len(json.loads((tmp_path / "styles.json").read_text())) == 2
    assert not (tmp_path / "balearic").exists()

    progress = []
    gen = synth.make_library(tmp_path, **kw)
    while True:
        try:
            progress.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert all(isinstance(p, Progress) and p.stage == "synth" and p.total == 3 for p in progress)
    assert [p.done for p in progress] == [1, 2, 3]
    assert [p.info["cached"] for p in progress] == [True, True, False]
    assert len(result) == 3
    for path, style in result:
        assert path.is_file()
        data, sr = sf.read(path, dtype="float32", always_2d=True)
        assert sr == 16000 and data.shape == (32000, 2) and sf.info(path).subtype == "PCM_16"
        assert np.allclose(data.T, synth.render_track(style, 2.0, 16000), atol=1.5 / 32768)
    rows = list(csv.DictReader((tmp_path / "labels.csv").open()))
    assert [r["path"] for r in rows] == [f"{f}/{f}_00.wav" for f in fams]
    assert [r["label"] for r in rows] == fams
    styles = json.loads((tmp_path / "styles.json").read_text())
    assert [synth.TrackStyle.from_dict(e) for e in styles] == [s for _p, s in result]

    mtimes = [p.stat().st_mtime_ns for p, _s in result]
    again = list(synth.make_library(tmp_path, **kw))
    assert all(p.info["cached"] for p in again)
    assert [p.stat().st_mtime_ns for p, _s in result] == mtimes
    # a different length is a different library: everything is rendered again
    assert not any(p.info["cached"] for p in synth.make_library(tmp_path, **{**kw, "seconds": 1.5}))


def test_library_styles_do_not_depend_on_counts(tmp_path):
    a = synth._plan({"tech": 2, "acid": 3}, None, seed=5)
    b = synth._plan(4, ["acid", "tech"], seed=5)
    assert dict(a).items() <= dict(b).items()
    assert len({s.seed for _p, s in b}) == len(b)
    bench = synth._plan({f: 27 for f in synth.FAMILIES}, None, seed=0)
    assert len({s.seed for _p, s in bench}) == len(bench)


@pytest.mark.parametrize("maker,total,seconds", [(synth.demo_library, 48, 24.0),
                                                   (synth.benchmark_library, 215, 30.0)])
def test_demo_and_benchmark_libraries(tmp_path, maker, total, seconds):
    token = CancelToken()
    gen = maker(tmp_path, seed=0, cancel=token)
    first = next(gen)
    assert first.total == total and first.done == 1
    token.cancel()
    with pytest.raises(Cancelled):
        next(gen)
    info = sf.info(tmp_path / first.info["path"])
    assert info.samplerate == 22050 and info.frames == int(seconds * 22050) and info.channels == 2
