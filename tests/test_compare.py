"""Compare on synthetic music where the truth is known: one change to a copy of a reference must come out
as the top difference, in the right band or measure, within 1 dB / LU (0.05 for side/mid width) of the
change measured in this test directly from the audio."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
import scipy.ndimage
import scipy.signal

from trance_finder import synth
from trance_finder.core import compare as C
from trance_finder.core import mixstats as M

SR = 44100
SECONDS = 12.0


@pytest.fixture(scope="module")
def song():
    style = synth.sample_style("uplifting", np.random.default_rng(3), seed=3)
    mastered = synth.render_track(style, SECONDS, SR)
    drop = [(s.start, s.end) for s in synth.track_sections(style, SECONDS) if s.name == "drop"]
    return mastered, drop, style


# -- changes, as a producer would make them -------------------------------------------------------
def _rbj(kind: str, f0: float, gain_db: float, q: float = 1.0):
    a_ = 10 ** (gain_db / 40)
    w = 2 * np.pi * f0 / SR
    c = np.cos(w)
    if kind == "peak":
        al = np.sin(w) / (2 * q)
        b = [1 + al * a_, -2 * c, 1 - al * a_]
        a = [1 + al / a_, -2 * c, 1 - al / a_]
    else:  # high shelf, slope 1
        al = np.sin(w) / 2 * np.sqrt(2.0)
        sa = 2 * np.sqrt(a_) * al
        b = [a_ * ((a_ + 1) + (a_ - 1) * c + sa), -2 * a_ * ((a_ - 1) + (a_ + 1) * c),
             a_ * ((a_ + 1) + (a_ - 1) * c - sa)]
        a = [(a_ + 1) - (a_ - 1) * c + sa, 2 * ((a_ - 1) - (a_ + 1) * c), (a_ + 1) - (a_ - 1) * c - sa]
    return np.array(b) / a[0], np.array(a) / a[0]


def _filtered(x, kind, f0, gain_db):
    b, a = _rbj(kind, f0, gain_db)
    return scipy.signal.lfilter(b, a, x, axis=-1).astype(np.float32)


def _limited(x, boost_db):
    """Louder by ``boost_db`` through a 4 ms look-ahead gain rider that holds the original sample peak."""
    peak = np.abs(x).max()
    y = x * 10 ** (boost_db / 20)
    need = np.minimum(1.0, peak / np.maximum(np.abs(y).max(axis=0), 1e-12))
    w = int(0.004 * SR)
    g = np.minimum(scipy.ndimage.uniform_filter1d(scipy.ndimage.minimum_filter1d(need, 2 * w + 1), w + 1), need)
    return (y * g).astype(np.float32)


# -- the truth, measured from the audio without the app's code -----------------------------------
def _band_rel_db(x, lo, hi):
    f = np.fft.rfftfreq(x.shape[-1], 1 / SR)
    p = (np.abs(np.fft.rfft(np.asarray(x, np.float64), axis=-1)) ** 2).sum(axis=0)
    return 10 * np.log10(p[(f >= lo) & (f < hi)].sum() / p[(f >= 20) & (f < 20000)].sum())


def _side_mid(x, lo, hi):
    f = np.fft.rfftfreq(x.shape[-1], 1 / SR)
    sel = (f >= lo) & (f < hi)
    m = np.abs(np.fft.rfft((x[0] + x[1]) / 2.0))[sel] ** 2
    s = np.abs(np.fft.rfft((x[0] - x[1]) / 2.0))[sel] ** 2
    return s.sum() / m.sum()


def _plr(x):
    tp = 20 * np.log10(np.abs(scipy.signal.resample_poly(np.asarray(x, np.float64), 4, 1, axis=-1)).max())
    return tp - pyloudnorm.Meter(SR).integrated_loudness(np.asarray(x, np.float64).T)


def _top(wip_audio, ref_audio, ranges=None, section="whole track"):
    res = C.compare(M.analyse_audio(wip_audio, SR, ranges), [M.analyse_audio(ref_audio, SR, ranges)], section)
    assert res.differences, res.summary
    assert len(res.differences) <= C.MAX_DIFFERENCES
    return res.differences[0], res


def test_bell_at_300_hz_is_the_low_mids(song):
    x, _, _ = song
    y = _filtered(x, "peak", 300.0, 4.0) * np.float32(0.5)  # -6 dB so the boost does not clip
    top, res = _top(y, x)
    truth = _band_rel_db(y, 250, 500) - _band_rel_db(x, 250, 500)
    assert top.measure == "band:low mids", res.summary
    assert abs(top.amount - truth) < 1.0, (top.amount, truth)
    assert top.text.startswith("Low mids (250-500 Hz) are") and "above your references" in top.text


def test_high_shelf_is_the_highs_or_air(song):
    x, _, _ = song
    y = _filtered(x, "shelf", 8000.0, -6.0)
    top, res = _top(y, x)
    assert top.measure in ("band:highs", "band:air"), res.summary
    band = next(b for b in M.BANDS if f"band:{b.name}" == top.measure)
    truth = _band_rel_db(y, band.lo_hz, band.hi_hz) - _band_rel_db(x, band.lo_hz, band.hi_hz)
    assert truth < -3.0
    assert abs(top.amount - truth) < 1.0, (top.amount, truth)
    assert "below your references" in top.text


def test_folded_to_mono_is_a_width_difference(song):
    x, _, _ = song
    m = x.mean(axis=0)
    y = np.stack([m, m])
    top, res = _top(y, x)
    assert top.measure.startswith("width:"), res.summary
    sb = next(b for b in M.STEREO_BANDS if f"width:{b.name}" == top.measure)
    truth = 0.0 - _side_mid(x, sb.lo_hz, sb.hi_hz)
    assert truth < -0.1
    assert abs(top.amount - truth) < 0.05, (top.amount, truth)
    assert "your WIP is mono" in top.text


def test_limited_louder_at_the_same_peak_is_less_dynamic(song):
    """On the drop (the default comparison) of an unmastered bounce: a mastered drop has no 4 dB left."""
    _, drop, style = song
    x = synth.render_wip(style, SECONDS, SR)
    y = _limited(x, 5.0)
    a, b = (int(drop[0][0] * SR), int(drop[0][1] * SR))
    assert np.abs(y).max() <= np.abs(x).max() + 1e-6
    louder = (pyloudnorm.Meter(SR).integrated_loudness(np.asarray(y[:, a:b], np.float64).T)
              - pyloudnorm.Meter(SR).integrated_loudness(np.asarray(x[:, a:b], np.float64).T))
    assert louder > 3.0
    top, res = _top(y, x, drop, "drop")
    truth = _plr(y[:, a:b]) - _plr(x[:, a:b])
    assert top.measure == "plr", res.summary
    assert abs(top.amount - truth) < 1.0, (top.amount, truth)
    assert top.text.startswith("Your drop is") and "louder and less dynamic" in top.text


def test_copy_and_quieter_copy_list_nothing(song):
    x, _, _ = song
    ref = M.analyse_audio(x, SR)
    same = C.compare(M.analyse_audio(x.copy(), SR), [ref])
    assert same.differences == []
    assert "inside the range" in same.summary
    quiet = C.compare(M.analyse_audio(x * np.float32(10 ** (-12 / 20)), SR), [ref])
    assert quiet.differences == []
    assert quiet.loudness["wip"]["lufs"] - quiet.loudness["target"]["lufs"] == pytest.approx(-12.0, abs=0.05)
    assert "12.0 LU quieter" in quiet.summary and "inside the range" in quiet.summary


# -- the compare logic on made-up stats ----------------------------------------------------------
def _stats(bands=0.0, widths=(0.0, 0.2, 0.4), lufs=-9.0, tp=-0.5, lra=4.0, corr=0.6, tempo=None):
    b = {band.name: (-10.0 + bands if isinstance(bands, float) else bands[i]) for i, band in enumerate(M.BANDS)}
    w = {sb.name: widths[i] for i, sb in enumerate(M.STEREO_BANDS)}
    return M.MixStats(lufs, lufs + 2.0, lra, tp, tp - lufs, b, w, corr, tp - 0.3, 10.0, tempo)


def test_range_is_10_to_90_percent_with_a_tolerance_floor():
    med, lo, hi = C.target_range(list(np.linspace(-20, -10, 11)), "band")
    assert (med, lo, hi) == pytest.approx((-15.0, -19.0, -11.0))
    assert C.target_range([-12.0], "band") == (-12.0, -13.0, -11.0)
    assert C.target_range([-12.0, -12.1, -11.9], "band") == pytest.approx((-12.0, -13.0, -11.0))
    assert all(math.isnan(v) for v in C.target_range([math.nan, None], "band"))


def test_ranked_largest_first_capped_and_json_keys():
    refs = [_stats(tp=-1.0, tempo=138.0 + i) for i in range(5)]
    bands = [-10.0] * len(M.BANDS)
    bands[3] = -6.9  # low mids +3.1
    bands[0] = -18.0  # sub -8
    wip = _stats(bands=bands, widths=(0.2, 0.2, 0.4), lufs=-14.0, tp=-1.9, corr=0.6, tempo=140.0)
    res = C.compare(wip, refs, "drop")
    d = res.to_json()
    assert [x["measure"] for x in d["differences"]][:3] == ["band:sub", "plr", "band:low mids"]
    assert d["differences"][2]["text"] == "Low mids (250-500 Hz) are 3.1 dB above your references"
    assert any(x["measure"] == "width:lows" and "your references are mono there" in x["text"]
               for x in d["differences"])
    plr = next(x for x in d["differences"] if x["measure"] == "plr")
    assert plr["text"] == "Your drop is 5.0 LU quieter and more dynamic than your references (PLR 12.1 vs 8.0 dB)"
    scores = [x["score"] for x in d["differences"]]
    assert scores == sorted(scores, reverse=True) and 3 <= len(scores) <= C.MAX_DIFFERENCES
    assert set(d["bands"][0]) >= {"name", "lo_hz", "hi_hz", "wip_db", "target_db", "target_lo_db", "target_hi_db"}
    for side in ("wip", "target"):
        assert set(d["loudness"][side]) == {"lufs", "short_term_max", "lra", "true_peak", "plr"}
    assert set(d["stereo"][0]) >= {"name", "lo_hz", "hi_hz", "wip_width", "target_width", "target_lo", "target_hi"}
    assert set(d["differences"][0]) >= {"measure", "amount", "text"}
    assert d["tempo"] == {"wip": 140.0, "target": 140.0, "help": C.MEASURE_HELP["tempo"]}
    assert d["summary"].startswith("Compared with your 5 references, the largest difference: sub (20-60 Hz)")
    many = [5.0 * (i % 2 * 2 - 1) - 10.0 for i in range(len(M.BANDS))]  # every band 5 dB off
    assert len(C.compare(_stats(bands=many), refs).differences) == C.MAX_DIFFERENCES


def test_clipping_and_phase_are_listed_but_level_alone_is_not():
    refs = [_stats()]
    res = C.compare(_stats(lufs=-5.0, tp=1.5, corr=-0.2), refs)
    measures = [x.measure for x in res.differences]
    assert "true_peak" in measures and "correlation" in measures
    assert "lufs" not in measures
    assert C.compare(_stats(lufs=-20.0, tp=-11.5), refs).differences == []
    with pytest.raises(ValueError):
        C.compare(_stats(), [])


def test_compare_mixes_falls_back_to_whole_tracks_and_says_so():
    drop, whole = _stats(lufs=-8.0, tp=0.0), _stats(lufs=-10.0, tp=-1.0)
    refs = [{"whole": whole, "drop": drop}, {"whole": whole}]
    res = C.compare_mixes({"whole": _stats(), "drop": drop}, refs, "drop", "wip.wav", ["a.wav", "b.wav"])
    assert res.section == "drop" and res.n_targets == 2
    assert res.notes == ["1 reference(s) without a drop section count with their whole track: b.wav"]
    res = C.compare_mixes({"whole": _stats()}, refs, "drop", "wip.wav")
    assert res.section == "whole track" and "wip.wav has no drop section" in res.notes[0]
    assert C.compare_mixes({"whole": _stats()}, refs, "Whole track").section == "whole track"
    track = {"tempo": 140.0, "mix": {"whole": whole.to_json(), "drop": drop.to_json()}}
    mix = C.record_mix(track)
    assert set(mix) == {"whole", "drop"} and mix["drop"].tempo == 140.0
    assert C.record_mix({"mix": {"drop": drop.to_json()}}) is None and C.record_mix({}) is None


def test_reference_stats_read_from_index_records():
    st = _stats(tempo=None)
    track = {"path": "a.wav", "tempo": 138.0, "mix": {"whole": st.to_json(), "drop": st.to_json()}}
    got = C.reference_stats(track, "drop")
    assert got is not None and got.tempo == 138.0 and got.bands_db == st.bands_db
    assert C.reference_stats(track, "breakdown") is None
    assert C.reference_stats({"path": "b.wav"}) is None
    assert C.reference_stats({"mix": {"whole": {"lufs": 1}}}) is None


# -- the CLI, with a stand-in for the trained model (the command's own logic, no training) -------
def _write(path, audio, sr=22050):
    import soundfile as sf

    sf.write(str(path), np.asarray(audio, np.float32).T, sr)
    return str(path)


@pytest.fixture
def cli_setup(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from trance_finder.core import engine

    rng = np.random.default_rng(9)
    sr = 22050

    def song(low_gain):
        x = rng.standard_normal((2, sr * 6)) * 0.05
        low = scipy.signal.sosfilt(scipy.signal.butter(2, [250, 500], "bandpass", fs=sr, output="sos"),
                                   rng.standard_normal(sr * 6))
        return x + low_gain * np.stack([low, low])

    paths = [_write(tmp_path / f"ref{i}.wav", song(0.1)) for i in range(3)]
    wip = _write(tmp_path / "wip.wav", song(0.3))
    tracks = []
    for i, p in enumerate(paths):
        rec = {"path": p, "title": f"ref{i}", "tempo": 138.0, "cluster": "Bright" if i < 2 else "Dark", "label": "x"}
        if i < 2:  # the third has no stored stats (an old index): measured from its file
            _, mix = C.file_structure(p)
            rec["mix"] = {k: v.to_json() for k, v in mix.items()}
        tracks.append(rec)

    class FakeFinder:
        def __init__(self):
            self.tracks = tracks

        def query(self, path, k=10):
            return SimpleNamespace(query=SimpleNamespace(dna={"tempo": 139.0}),
                                   neighbours=[SimpleNamespace(track=t, position=i) for i, t in enumerate(tracks[:k])])

    monkeypatch.setattr(engine, "load_finder_or_explain", lambda *a, **kw: FakeFinder())
    return wip, paths, ["--model", str(tmp_path / "m.pt"), "--index", str(tmp_path / "i.faiss")]


def test_cli_compare_json_and_text(cli_setup, capsys):
    import json

    from trance_finder import cli

    wip, paths, model = cli_setup
    assert cli.main(["compare", "--query", wip, *model, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_targets"] == 3 and d["references"] == paths
    assert d["section"] == "whole track" and any("has no drop section" in n for n in d["notes"])
    assert any("measured 1 reference" in n for n in d["notes"])
    assert d["differences"][0]["measure"] == "band:low mids" and d["differences"][0]["amount"] > 6
    assert set(d["loudness"]["wip"]) == set(d["loudness"]["target"]) == set(C.LOUDNESS_KEYS)
    assert d["tempo"]["target"] == 138.0

    assert cli.main(["compare", "--query", wip, *model, "--against", "bright", "--section", "whole"]) == 0
    out = capsys.readouterr().out
    assert 'against the 2 references in "bright"' in out
    assert "Low mids (250-500 Hz)" in out and "Largest differences:" in out
    assert "1. Low mids (250-500 Hz) are" in out

    assert cli.main(["compare", "--query", paths[0], *model, "--against", paths[0], "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_targets"] == 1 and d["differences"] == [] and "inside the range" in d["summary"]

    assert cli.main(["compare", "--query", wip, *model, "--against", "nope"]) != 0
    assert "no cluster or label of that name" in capsys.readouterr().err


def test_parse_against():
    from trance_finder.commands.compare import parse_against
    from trance_finder.errors import TranceFinderError

    assert parse_against("top5") == ("top", 5) and parse_against("TOP12") == ("top", 12)
    assert parse_against("top") == ("top", 5)
    assert parse_against("Uplifting") == ("group", "Uplifting")
    assert parse_against(__file__)[0] == "path"
    with pytest.raises(TranceFinderError):
        parse_against("top0")


def test_cli_compare_on_a_tiny_trained_library(tmp_path, capsys):
    """End to end: train (dsp backbone, 4 tracks, 1 epoch), then compare a reference's copy with its top 5."""
    import json

    from trance_finder import cli
    from trance_finder.core.engine import load_finder_or_explain
    from trance_finder.core.progress import run_to_end

    lib = tmp_path / "lib"
    run_to_end(synth.make_library(lib, n_per_family=2, families=["uplifting", "psy"], seconds=12.0, sr=22050,
                                  seed=7))
    model, index = tmp_path / "m" / "embedding_model.pt", tmp_path / "m" / "similarity_index.faiss"
    assert cli.main(["train", "--references", str(lib), "--output-model", str(model), "--output-index", str(index),
                     "--epochs", "1", "--backbone", "dsp", "--views", "0", "--eval-folds", "0",
                     "--cache-dir", str(tmp_path / "cache"), "--json"]) == 0
    capsys.readouterr()
    query = sorted((lib / "psy").glob("*.wav"))[0]
    assert cli.main(["compare", "--query", str(query), "--model", str(model), "--index", str(index), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_targets"] == 4 and len(d["references"]) == 4 and str(query) in d["references"]
    assert len(d["bands"]) == len(M.BANDS) and len(d["stereo"]) == len(M.STEREO_BANDS) and d["summary"]
    stored = all(t.get("mix") for t in load_finder_or_explain(str(model), str(index)).tracks)
    assert any("measured 4 reference" in n for n in d["notes"]) == (not stored)
