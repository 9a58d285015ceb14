"""The one-decode reference pipeline: sections, mix statistics and section vectors from the same
decode as the embedding windows, cached, stored with the index; section search; the process pool."""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_wav
from trance_finder import synth
from trance_finder.core import analysis
from trance_finder.core import audio as audio_io
from trance_finder.core.backbones.dsp import DspBackbone
from trance_finder.core.cache import EmbeddingCache
from trance_finder.core.engine import Finder, TrainOptions, train_library
from trance_finder.core.extract import FeatureExtractor
from trance_finder.core.index import SimilarityIndex
from trance_finder.core.progress import CancelToken, run_to_end
from trance_finder.core.training import TrainConfig
from trance_finder.errors import Cancelled

pytestmark = pytest.mark.skipif(not analysis.structure_available(), reason="sections / mixstats not importable")


class CountingBackbone(DspBackbone):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def analyse(self, audio):
        self.calls += 1
        return super().analyse(audio)


@pytest.fixture
def reads(monkeypatch):
    """Counts every decode entry point of core.audio (whole-file blocks and windowed reads)."""
    counts = {"iter_blocks": 0, "read_window": 0}
    for name in counts:
        real = getattr(audio_io, name)

        def counting(*a, _real=real, _name=name, **k):
            counts[_name] += 1
            return _real(*a, **k)

        monkeypatch.setattr(audio_io, name, counting)
    return counts


def _synth_track(path, family="uplifting", seconds=48.0, seed=3, sr=22050):
    style = synth.sample_style(family, np.random.default_rng(seed), seed=seed)
    return write_wav(path, synth.render_track(style, seconds=seconds, sr=sr), sr)


def test_reference_is_decoded_once_and_cached(tmp_path, reads):
    path = _synth_track(tmp_path / "ref.wav")
    cache = EmbeddingCache(tmp_path / "cache")
    bb = CountingBackbone()
    t = FeatureExtractor("dsp", backbones=[bb], cache=cache).analyse_file(path, n_views=1, structure=True)
    assert reads == {"iter_blocks": 1, "read_window": 0}
    labels = {s["label"] for s in t.sections["sections"]}
    assert labels and labels <= set(t.section_vectors) | {"build"}  # a build shorter than a patch may lack one
    assert "whole" in t.mix and set(t.mix) - {"whole"} == labels
    assert t.section_vectors and all(v["dsp"].shape == (bb.dim,) for v in t.section_vectors.values())
    assert t.vectors["dsp"].shape == (2, bb.dim)
    calls = bb.calls
    # a second extractor on the same cache: no decode, no backbone, the same numbers
    again = FeatureExtractor("dsp", backbones=[bb], cache=cache).analyse_file(path, n_views=1, structure=True)
    assert reads == {"iter_blocks": 1, "read_window": 0} and bb.calls == calls
    assert again.sections == t.sections and again.mix == t.mix
    np.testing.assert_array_equal(again.vectors["dsp"], t.vectors["dsp"])
    for label, v in t.section_vectors.items():
        np.testing.assert_array_equal(again.section_vectors[label]["dsp"], v["dsp"])


def test_windows_from_the_tape_match_a_query_read(tmp_path):
    """The reference path (whole decode, windows cut from the tape) and the query path (seek and
    read the windows) give the same vectors, so a reference queried as a WIP finds itself."""
    path = _synth_track(tmp_path / "ref.flac", seconds=62.0, sr=44100)
    ex = FeatureExtractor("dsp", backbones=[DspBackbone()])
    whole = ex.analyse_file(path, structure=True)
    windows = ex.analyse_file(path)
    assert len(ex.plan.windows(whole.duration)) == 8
    np.testing.assert_allclose(whole.vectors["dsp"], windows.vectors["dsp"], rtol=1e-3, atol=2e-3)
    assert whole.dna["tempo"] == windows.dna["tempo"]


def test_section_vector_of_a_label_uses_its_own_audio(tmp_path):
    """Two sections with different sound get different vectors; the extra window of a label no
    embedding window reaches lies inside that label's longest section."""
    assert analysis.extra_window([(0.0, 4.0), (10.0, 30.0)], 6.0, 1.5) == (17.0, 6.0)
    assert analysis.extra_window([(2.0, 3.0)], 6.0, 1.5) is None
    mask = analysis.frames_in([(3.0, 9.0)], 0.0, 4, 3.0)  # patch centres 1.5, 4.5, 7.5, 10.5
    assert mask.tolist() == [False, True, True, False]
    path = _synth_track(tmp_path / "ref.wav", seconds=60.0)
    t = FeatureExtractor("dsp", backbones=[DspBackbone()]).analyse_file(path, structure=True)
    vecs = list(t.section_vectors.values())
    assert len(vecs) >= 2 and not np.allclose(vecs[0]["dsp"], vecs[1]["dsp"])


def test_vector_codec_round_trips():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(256).astype(np.float32)
    text = analysis.encode_vector(v)
    back = analysis.decode_vector(text, 256)
    assert len(text) == 344 and float(back @ (v / np.linalg.norm(v))) > 0.999
    assert analysis.decode_vector(text, 128) is None and analysis.decode_vector("not base64!", 256) is None


@pytest.fixture(scope="module")
def trained(small_library, tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline_model")
    opts = TrainOptions(references=str(small_library), output_model=str(out / "embedding_model.pt"),
                        output_index=str(out / "similarity_index.faiss"), features="dsp", device="cpu", n_views=1,
                        eval_folds=0, train=TrainConfig(epochs=3, seed=0), cache_dir=str(out / "cache"), workers=1)
    run_to_end(train_library(opts))
    return opts


def test_records_carry_sections_mix_and_section_vectors(trained, tmp_path):
    index = SimilarityIndex.load(trained.output_index)
    assert all("sections" in t and "mix" in t and "whole" in t["mix"] for t in index.tracks)
    assert any(t.get("section_vectors") for t in index.tracks)
    # what was written is what is read back; saving again gives the same records
    index.save(tmp_path / "copy.faiss")
    assert SimilarityIndex.load(tmp_path / "copy.faiss").tracks == index.tracks
    finder = Finder(trained.output_model, trained.output_index)
    sections, mix = finder.reference_structure(0)
    assert sections.sections and sections.duration == pytest.approx(index.tracks[0]["duration"], abs=0.1)
    assert set(mix) == {"whole", *(s.label for s in sections.sections)} and np.isfinite(mix["whole"].lufs)


def test_section_search_ranks_references_by_their_same_sections(trained):
    finder = Finder(trained.output_model, trained.output_index)
    rec = next(t for t in finder.tracks if t.get("section_vectors"))
    label = sorted(rec["section_vectors"])[0]
    sections, mix = finder.analyse_structure(rec["path"])
    assert label in {s.label for s in sections.sections} and "whole" in mix
    result = finder.query(rec["path"], k=5, section=label)
    assert result.section == label and len(result.neighbours) == 5
    sims = [n.similarity for n in result.neighbours]
    assert sims == sorted(sims, reverse=True)
    # a reference queried by its own section finds itself first, through its stored section vector
    assert result.neighbours[0].track["path"] == rec["path"] and result.neighbours[0].section == label
    assert result.neighbours[0].similarity > 0.99
    assert result.to_json()["section"] == label
    whole = finder.query(rec["path"], k=5)
    assert whole.section is None and [n.section for n in whole.neighbours] == [None] * 5
    # after a ranked list, the WIP's sections need no mono tape (the ranked list's tempo is used)
    fresh = Finder(trained.output_model, trained.output_index)
    fresh.query(rec["path"], k=3)
    again, _ = fresh.analyse_structure(rec["path"])
    assert fresh._memo["structure"][1][2] is None
    assert [(s.label, s.start_bar) for s in again.sections] == [(s.label, s.start_bar) for s in sections.sections]


def _tracks(folder, n, seconds):
    fams = list(synth.STYLE_FAMILIES)
    return [_synth_track(folder / f"t{i}.wav", fams[i % len(fams)], seconds, seed=i) for i in range(n)]


def _assert_close(a, b, tol=2e-3):
    """Nested JSON equal up to ``tol`` on numbers (another process may round the last digit otherwise)."""
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _assert_close(a[k], b[k], tol)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_close(x, y, tol)
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, abs=tol, rel=tol)
    else:
        assert a == b


def test_process_pool_gives_the_serial_features(tmp_path):
    files = _tracks(tmp_path, 6, 20.0)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + b"\x00" * 60)
    files.insert(2, str(bad))
    serial = run_to_end(FeatureExtractor("dsp").extract_library(files, n_views=1, structure=True, workers=1))
    pooled = run_to_end(FeatureExtractor("dsp").extract_library(files, n_views=1, structure=True, workers=2))
    assert [t.path for t in pooled.tracks] == [t.path for t in serial.tracks] == [f for f in files if f != str(bad)]
    assert [p for p, _ in pooled.skipped] == [str(bad)] and "\n" not in pooled.skipped[0][1]
    for a, b in zip(serial.tracks, pooled.tracks):
        np.testing.assert_allclose(a.vectors["dsp"], b.vectors["dsp"], rtol=1e-5, atol=1e-5)
        _assert_close(a.sections, b.sections)
        _assert_close(a.mix, b.mix)
        assert set(a.section_vectors) == set(b.section_vectors)


def test_cancel_stops_the_pool_workers(tmp_path):
    files = _tracks(tmp_path, 8, 30.0)
    token = CancelToken()
    timer = threading.Timer(1.0, token.cancel)
    timer.start()
    seen = []
    try:
        with pytest.raises(Cancelled):
            run_to_end(FeatureExtractor("dsp").extract_library(files, n_views=2, cancel=token, structure=True,
                                                                workers=2), seen.append)
    finally:
        timer.cancel()
    assert seen[-1].done < len(files)
    # ask the OS: multiprocessing's is_alive() can still say True for a moment after the pool's own
    # manager thread reaped a terminated worker (seen: /proc/<pid> gone, is_alive() True)
    assert not [p for p in multiprocessing.active_children() if _process_exists(p.pid)]


def _process_exists(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not yet reaped, counts as stopped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return not stat.parent.parent.is_dir()  # no /proc (macOS): the signal check is all we have


def test_cli_similar_by_section(trained, capsys):
    import json

    from trance_finder.cli import main

    index = SimilarityIndex.load(trained.output_index)
    rec = next(t for t in index.tracks if t.get("section_vectors"))
    label = sorted(rec["section_vectors"])[0]
    assert main(["similar", "--query", rec["path"], "--model", trained.output_model, "--index",
                 trained.output_index, "--k", "3", "--section", label, "--device", "cpu", "--no-cache",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["section"] == label and out["results"][0]["path"] == rec["path"]
    assert main(["similar", "--query", rec["path"], "--model", trained.output_model, "--index",
                 trained.output_index, "--k", "3", "--section", label, "--device", "cpu", "--no-cache"]) == 0
    assert f"your {label} against their {label}s" in capsys.readouterr().out
