"""Every format a producer has: m4a (AAC and ALAC), opus and raw AAC through PyAV; files made here by
encoding synthetic audio with PyAV. They decode (windowed reads equal the same span of a full
decode), are found in folders, and rank: each compressed copy finds its WAV original first."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from trance_finder import synth
from trance_finder.core import audio
from trance_finder.core.extract import FeatureExtractor, WindowPlan
from trance_finder.core.head import unit_rows

av = pytest.importorskip("av")

CODECS = [("aac", "mp4", ".m4a"), ("alac", "mp4", ".m4a"), ("libopus", "ogg", ".opus"), ("aac", "adts", ".aac")]


def encode(path, x: np.ndarray, sr: int, codec: str, container: str) -> str:
    """Encode (channels, n) float audio with PyAV (ffmpeg's encoders inside its wheels)."""
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=sr, layout="stereo" if x.shape[0] == 2 else "mono")
        ctx = stream.codec_context
        fmt = ctx.format.name
        size = ctx.frame_size if ctx.frame_size and ctx.frame_size > 0 else 1024
        for pos in range(0, x.shape[1], size):
            chunk = np.clip(np.ascontiguousarray(x[:, pos:pos + size]), -1.0, 1.0)
            if fmt == "fltp":
                data = chunk.astype(np.float32)
            elif fmt == "flt":
                data = chunk.T.reshape(1, -1).astype(np.float32)
            elif fmt == "s16":
                data = (chunk.T.reshape(1, -1) * 32767).astype(np.int16)
            elif fmt == "s16p":
                data = (chunk * 32767).astype(np.int16)
            elif fmt == "s32p":
                data = (chunk * 2147483000).astype(np.int32)
            else:  # pragma: no cover
                raise AssertionError(f"sample format {fmt}")
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=ctx.layout)
            frame.sample_rate, frame.pts, frame.time_base = sr, pos, Fraction(1, sr)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return str(path)


def music(seconds=8.0, sr=48000, seed=3, family="uplifting"):
    style = synth.sample_style(family, np.random.default_rng(seed), seed=seed)
    y = np.asarray(synth.render_track(style, seconds, 22050), dtype=np.float32)
    y = y if y.ndim == 2 else np.stack([y, y])
    return audio.resample(y, 22050, sr)


@pytest.mark.parametrize("codec,container,ext", CODECS)
def test_compressed_formats_decode_with_windowed_reads(tmp_path, codec, container, ext):
    sr = 48000
    t = np.arange(int(6 * sr)) / sr
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    path = encode(tmp_path / f"x{ext}", x, sr, codec, container)
    info = audio.audio_info(path)
    assert info.decoder == "pyav" and info.sample_rate == sr and info.channels == 2
    assert abs(info.duration - 6.0) < 0.25
    full = audio.read_window(path, 0.0, None, info)
    assert full.dtype == np.float32 and full.shape[0] == 2 and abs(full.shape[1] / sr - 6.0) < 0.1
    window = audio.read_window(path, 3.0, 1.0, info)  # seeks: decodes about 1.5 s, not 6
    assert window.shape == (2, sr)
    np.testing.assert_allclose(window, full[:, 3 * sr:4 * sr], atol=1e-3)
    rms = np.sqrt(np.mean(window[0] ** 2))
    assert 0.15 < rms < 0.25  # the 0.3-amplitude sine, not silence or garbage
    blocks = list(audio.iter_blocks(path, 1.0, info))
    assert sum(b.shape[1] for _, b in blocks) == full.shape[1] and blocks[1][0] == pytest.approx(1.0)
    if container != "adts":  # seekable containers: a window decodes about its own length, not the file
        decoded = []
        real = audio._frame_array

        def counting(frame):
            decoded.append(frame.samples)
            return real(frame)

        audio._frame_array = counting
        try:
            audio.read_window(path, 4.5, 1.0, info)
        finally:
            audio._frame_array = real
        assert sum(decoded) < 0.45 * full.shape[1], (sum(decoded), full.shape[1])
    if codec == "alac":  # lossless: the samples themselves come back
        np.testing.assert_allclose(full[:, :x.shape[1]], x, atol=1e-6)


def test_compressed_copies_rank_their_original_first(tmp_path):
    sr = 48000
    originals, copies = [], []
    for i, family in enumerate(["uplifting", "psy", "progressive", "balearic"]):
        x = music(8.0, sr, seed=40 + i, family=family)
        wav = tmp_path / f"{family}.wav"
        sf.write(str(wav), x.T, sr, subtype="PCM_16")
        originals.append(str(wav))
        codec, container, ext = CODECS[i]
        copies.append(encode(tmp_path / f"{family}_copy{ext}", x, sr, codec, container))
    found = {str(p) for p in audio.find_audio_files(tmp_path)}
    assert set(copies) <= found  # .m4a, .opus, .aac are part of a library now
    ex = FeatureExtractor("dsp", plan=WindowPlan(2, 3.0))
    raw = np.stack([ex.analyse_file(p).joined(ex.names) for p in originals])
    mean, scale = raw.mean(axis=0), raw.std(axis=0) + 1e-6  # standardised raw features, cosine
    ref = unit_rows((raw - mean) / scale)
    for i, p in enumerate(copies):
        q = unit_rows((ex.analyse_file(p).joined(ex.names)[None, :] - mean) / scale)
        sims = ref @ q[0]
        assert int(np.argmax(sims)) == i, (p, sims)


def test_non_audio_renamed_is_one_clear_line(tmp_path, capfd):
    png = tmp_path / "cover.mp3"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    with pytest.raises(audio.AudioLoadError, match="not an audio file: it is a PNG image"):
        audio.audio_info(png)
    zipped = tmp_path / "stems.m4a"
    zipped.write_bytes(b"PK\x03\x04" + bytes(500))
    with pytest.raises(audio.AudioLoadError, match="ZIP archive"):
        audio.audio_info(zipped)
    junk = tmp_path / "noise.mp3"
    junk.write_bytes(np.random.default_rng(0).integers(0, 255, 4000, dtype=np.uint8).tobytes()[1:] + b"\x00")
    with pytest.raises(audio.AudioLoadError) as err:
        audio.audio_info(junk)
    assert "does not exist" not in str(err.value)  # the file is there: the message must not say otherwise
    captured = capfd.readouterr()
    assert "libmpg123" not in captured.err and "libmpg123" not in captured.out
