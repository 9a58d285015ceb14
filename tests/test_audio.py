import math

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import write_wav
from trance_finder.core import audio
from trance_finder.core.backbones.dsp import DspBackbone
from trance_finder.core.extract import FeatureExtractor, WindowPlan
from trance_finder.core.progress import run_to_end
from trance_finder.errors import AudioLoadError


def tone_mix(seconds=3.0, sr=22050, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    sig = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1760 * t) + 0.02 * rng.standard_normal(len(t))
    beat = (np.sin(2 * np.pi * 2.3 * t) > 0.9) * 0.4 * np.sin(2 * np.pi * 60 * t)
    mono = (sig + beat).astype(np.float32)
    return np.stack([mono * (1 - 0.1 * c) for c in range(channels)]) if channels > 1 else mono


@pytest.mark.parametrize("fmt,subtype,ext", [
    ("WAV", "PCM_16", "wav"), ("WAV", "PCM_24", "wav"), ("WAV", "FLOAT", "wav"), ("FLAC", "PCM_24", "flac"),
    ("AIFF", "PCM_16", "aiff"), ("OGG", "VORBIS", "ogg"), ("MP3", "MPEG_LAYER_III", "mp3")])
def test_reads_every_supported_format(tmp_path, fmt, subtype, ext):
    x = tone_mix(3.0, 44100)
    path = tmp_path / f"x.{ext}"
    sf.write(str(path), x.T, 44100, format=fmt, subtype=subtype)
    y, sr = audio.load(path, sr=16000, mono=True)
    assert sr == 16000 and y.ndim == 1 and y.dtype == np.float32
    assert abs(len(y) - 3 * 16000) < 0.1 * 16000
    assert np.sqrt(np.mean(y**2)) > 0.05


@pytest.mark.parametrize("sr", [8000, 11025, 44100, 48000, 96000, 192000])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_any_rate_and_channel_count(tmp_path, sr, channels):
    x = tone_mix(1.5, sr, channels)
    path = write_wav(tmp_path / "x.wav", x, sr)
    info = audio.audio_info(path)
    assert info.sample_rate == sr and info.channels == channels
    y, out_sr = audio.load(path, sr=22050, mono=True)
    assert out_sr == 22050 and abs(len(y) - int(1.5 * 22050)) <= 2
    assert math.isfinite(audio.integrated_lufs(audio.read_window(path), sr))


def test_read_window_reads_only_the_window(tmp_path):
    sr = 8000
    x = np.arange(sr * 10, dtype=np.float32) / (sr * 10)
    path = write_wav(tmp_path / "ramp.wav", x, sr, subtype="FLOAT")
    w = audio.read_window(path, start_s=4.0, duration_s=1.0)
    assert w.shape == (1, sr)
    assert w[0, 0] == pytest.approx(0.4, abs=1e-4)


def test_loudness_normalisation_makes_features_gain_invariant(tmp_path):
    x = tone_mix(8.0, 22050)
    a = write_wav(tmp_path / "loud.wav", x, 22050, subtype="FLOAT")
    b = write_wav(tmp_path / "quiet.wav", x * 10 ** (-12 / 20), 22050, subtype="FLOAT")
    ex = FeatureExtractor("dsp", backbones=[DspBackbone()])
    fa, fb = ex.analyse_file(a), ex.analyse_file(b)
    assert fa.lufs - fb.lufs == pytest.approx(12.0, abs=0.1)
    np.testing.assert_allclose(fa.vectors["dsp"], fb.vectors["dsp"], rtol=1e-3, atol=1e-3)
    assert fa.dna["tempo"] == fb.dna["tempo"]


@pytest.mark.parametrize("case", ["not_audio", "empty", "truncated", "silence", "short", "nan", "missing"])
def test_bad_input_gets_a_clear_reason(tmp_path, case):
    path = tmp_path / f"{case}.wav"
    sr = 22050
    if case == "not_audio":
        path.write_text("this is a text file pretending to be audio")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        write_wav(path, tone_mix(3.0, sr), sr)
        path.write_bytes(path.read_bytes()[:30])
    elif case == "silence":
        write_wav(path, np.zeros(sr * 3, np.float32), sr)
    elif case == "short":
        write_wav(path, tone_mix(0.5, sr), sr)
    elif case == "nan":
        x = tone_mix(3.0, sr, 1)
        x[1000:1010] = np.nan
        write_wav(path, x, sr, subtype="FLOAT")
    ex = FeatureExtractor("dsp", backbones=[DspBackbone()])
    with pytest.raises(AudioLoadError) as err:
        ex.analyse_file(path)
    expected = {"not_audio": "not a readable audio file", "empty": "empty", "truncated": "",
                "silence": "silent", "short": "too short", "nan": "NaN", "missing": "not found"}[case]
    assert expected in err.value.reason
    assert str(path) in str(err.value)


def test_library_run_skips_bad_files_and_goes_on(tmp_path):
    good = [write_wav(tmp_path / f"good{i}.wav", tone_mix(4.0, 22050, seed=i), 22050) for i in range(2)]
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\x00" * 100)
    gone = tmp_path / "vanished.wav"  # listed, then deleted before it is read
    ex = FeatureExtractor("dsp", backbones=[DspBackbone()])
    progress = []
    lib = run_to_end(ex.extract_library([good[0], str(bad), str(gone), good[1]]), progress.append)
    assert [t.path for t in lib.tracks] == good
    assert {p for p, _ in lib.skipped} == {str(bad), str(gone)}
    assert progress[-1].done == 4 == progress[-1].total
    assert any(p.info.get("skipped") == str(bad) for p in progress)


def test_long_file_costs_only_its_windows(tmp_path):
    sr = 8000
    minutes = 30
    path = tmp_path / "mix.flac"
    with sf.SoundFile(str(path), "w", sr, 1, subtype="PCM_16") as fh:  # 30-minute mix written in blocks
        for m in range(minutes):
            fh.write(tone_mix(60.0, sr, 1, seed=m))
    plan = WindowPlan(n_windows=8, window_seconds=6.0)
    windows = plan.windows(audio.audio_info(path).duration)
    assert len(windows) == 8 and sum(d for _, d in windows) == 48.0
    assert windows[0][0] > 60 and windows[-1][0] + windows[-1][1] < minutes * 60 - 60
    t = FeatureExtractor("dsp", backbones=[DspBackbone()], plan=plan).analyse_file(path)
    assert t.duration == pytest.approx(minutes * 60, abs=1)
