"""Mix measurements against references computed independently (pyloudnorm, full-signal 4x oversampling)."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
import scipy.signal

from trance_finder.core import mixstats as M

SR = 44100


def _ref_true_peak(x: np.ndarray) -> float:
    return 20 * math.log10(np.abs(scipy.signal.resample_poly(np.asarray(x, np.float64), 4, 1, axis=-1)).max())


def _signals():
    rng = np.random.default_rng(5)
    t = np.arange(SR * 8) / SR
    sine = 0.5 * np.sin(2 * np.pi * 997 * t + 0.3)
    sine5k = 0.3 * np.sin(2 * np.pi * 5003 * t)
    noise = rng.standard_normal((2, t.size)) * 0.1
    quiet_then_loud = np.concatenate([noise[:, : t.size // 2] * 0.05, noise[:, t.size // 2:]], axis=1)
    return {"sine 997 Hz stereo": np.stack([sine, sine]), "sine 5 kHz mono": sine5k,
            "white noise stereo": noise, "white noise mono": noise[0],
            "noise quiet then loud": quiet_then_loud}


@pytest.mark.parametrize("name", list(_signals()))
def test_lufs_and_true_peak_match_references(name):
    x = _signals()[name].astype(np.float32)
    st = M.analyse_audio(x, SR)
    want_lufs = pyloudnorm.Meter(SR).integrated_loudness(np.asarray(x, np.float64).T)
    assert abs(st.lufs - want_lufs) < 0.1, (st.lufs, want_lufs)
    want_tp = _ref_true_peak(x)
    assert abs(st.true_peak - want_tp) < 0.1, (st.true_peak, want_tp)
    assert st.true_peak >= st.sample_peak - 1e-6
    assert st.plr == pytest.approx(st.true_peak - st.lufs)


def test_streaming_blocks_of_any_size_give_the_same_table():
    x = _signals()["white noise stereo"][:, : SR * 3].astype(np.float32)
    whole = M.analyse_frames(x, SR, block_seconds=10.0)
    an = M.MixAnalyzer(SR)
    i, sizes = 0, [1, 7, 4410, 4409, 13, 30000, 2, 100000]
    k = 0
    while i < x.shape[1]:
        n = sizes[k % len(sizes)]
        an.add(x[:, i:i + n])
        i += n
        k += 1
    parts = an.finish()
    assert parts.n_frames == whole.n_frames == math.ceil(x.shape[1] / 4410)
    np.testing.assert_allclose(parts.k_power, whole.k_power, rtol=1e-5)
    np.testing.assert_allclose(parts.mid, whole.mid, rtol=1e-4, atol=1e-12)
    np.testing.assert_array_equal(parts.sample_peak, whole.sample_peak)


def test_loudness_range_short_term_and_ranges():
    rng = np.random.default_rng(2)
    # 10 s at -20 dB relative, then 10 s loud: LRA ~ 20 LU, short-term max = the loud part's loudness
    a = rng.standard_normal((2, SR * 10)) * 0.01
    b = rng.standard_normal((2, SR * 10)) * 0.1
    x = np.concatenate([a, b], axis=1).astype(np.float32)
    fr = M.analyse_frames(x, SR)
    st = M.summarise(fr)
    loud = pyloudnorm.Meter(SR).integrated_loudness(np.asarray(b, np.float64).T)
    quiet = pyloudnorm.Meter(SR).integrated_loudness(np.asarray(a, np.float64).T)
    assert st.short_term_max == pytest.approx(loud, abs=0.2)
    assert 17.0 < st.lra < 21.0
    # per-range summaries come from the same table: no second pass over the audio
    only_loud = M.summarise(fr, [(10.0, 20.0)])
    only_quiet = M.summarise(fr, [(0.0, 10.0)])
    assert only_loud.lufs == pytest.approx(loud, abs=0.1)
    assert only_quiet.lufs == pytest.approx(quiet, abs=0.1)
    assert only_loud.lra < 1.0
    assert only_loud.seconds == pytest.approx(10.0, abs=0.11)


def test_bands_are_relative_to_the_total_and_widths_follow_the_stereo_image():
    rng = np.random.default_rng(3)
    n = SR * 4
    mid = scipy.signal.sosfilt(scipy.signal.butter(4, 120, "lowpass", fs=SR, output="sos"), rng.standard_normal(n))
    high = scipy.signal.sosfilt(scipy.signal.butter(4, 4000, "highpass", fs=SR, output="sos"),
                                rng.standard_normal((2, n)))
    x = (np.stack([mid, mid]) * 0.3 + high * 0.05).astype(np.float32)  # mono lows, unrelated (wide) highs
    st = M.analyse_audio(x, SR)
    quieter = M.analyse_audio(x * 0.1, SR)
    for b in M.BANDS:
        assert quieter.bands_db[b.name] == pytest.approx(st.bands_db[b.name], abs=1e-3)
    assert st.widths["lows"] < 0.01
    assert st.widths["highs"] == pytest.approx(1.0, abs=0.1)
    total = sum(10 ** (v / 10) for v in st.bands_db.values() if math.isfinite(v))
    assert total == pytest.approx(1.0, rel=1e-4)
    mono = M.analyse_audio(x[0], SR)
    assert mono.widths["highs"] == 0.0 and mono.correlation == pytest.approx(1.0)
    flipped = M.analyse_audio(np.stack([x[0], -x[0]]), SR)
    assert flipped.correlation == pytest.approx(-1.0, abs=1e-6)


def test_bands_above_nyquist_are_missing_not_zero():
    x = (np.random.default_rng(0).standard_normal((2, 22050 * 2)) * 0.1).astype(np.float32)
    st = M.analyse_audio(x, 22050)
    assert math.isnan(st.bands_db["air"])
    assert math.isfinite(st.bands_db["highs"])


def test_frames_and_stats_round_trip(tmp_path):
    x = _signals()["noise quiet then loud"].astype(np.float32)
    fr = M.analyse_frames(x, SR)
    np.savez(tmp_path / "f.npz", **fr.to_arrays())
    with np.load(tmp_path / "f.npz") as d:
        back = M.MixFrames.from_arrays(d)
    a, b = M.summarise(fr, [(1.0, 6.0)]), M.summarise(back, [(1.0, 6.0)])
    assert a.to_json() == b.to_json()
    a.tempo = 138.0
    j = a.to_json()
    assert M.MixStats.from_json(j).to_json() == j
    bad = dict(fr.to_arrays(), version=np.array(99))
    with pytest.raises(ValueError):
        M.MixFrames.from_arrays(bad)


def test_section_stats_groups_labels():
    x = _signals()["noise quiet then loud"].astype(np.float32)
    fr = M.analyse_frames(x, SR)
    out = M.section_stats(fr, [("breakdown", 0.0, 2.0), ("drop", 4.0, 6.0), ("drop", 6.0, 8.0)])
    assert set(out) == {"whole", "breakdown", "drop"}
    assert out["drop"].seconds == pytest.approx(4.0, abs=0.11)
    assert out["drop"].lufs > out["breakdown"].lufs + 20


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        M.MixAnalyzer(SR).finish()
    an = M.MixAnalyzer(SR)
    an.add(np.zeros((2, 10000), np.float32))
    with pytest.raises(ValueError):
        an.add(np.zeros((1, 10000), np.float32))
    an2 = M.MixAnalyzer(SR)
    with pytest.raises(ValueError):
        an2.add(np.full((2, 20000), np.nan, np.float32))
    with pytest.raises(ValueError, match="transposed"):
        M.MixAnalyzer(SR).add(np.zeros((20000, 2), np.float32))
    silent = M.analyse_audio(np.zeros((2, SR), np.float32), SR)
    assert math.isnan(silent.lufs) and math.isnan(silent.plr)
    assert M.MixStats.from_json(silent.to_json()).to_json() == silent.to_json()
