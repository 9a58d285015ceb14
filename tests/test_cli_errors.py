"""What a new user runs into, each as one clear line and never a traceback: vanished or looping
query, unreadable sub-folder, non-UTF-8 stdout, 0-byte model, Latin-1 labels.csv, damaged metadata
(nine cases), labels.csv matching no track, escape codes in titles, the app's model by default,
--help without markup, Ctrl-C."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_wav
from trance_finder import cli
from trance_finder.core import modelstore
from trance_finder.core.audio import scan_audio_files
from trance_finder.core.backbones import get_backbone
from trance_finder.core.engine import save_model_files
from trance_finder.core.head import EmbeddingModel, MusicEmbeddingNetwork, Standardizer, unit_rows
from trance_finder.core.index import SimilarityIndex
from trance_finder.core.labels import read_labels_csv

TITLES = ["Café del Mar – 東京", "Evil \x1b[2J\x1b]0;pwned\x07Title", "Plain Track"]


def tiny_set(folder: Path, titles=TITLES, meta_extra=None, tracks_extra=None) -> tuple[str, str]:
    """A real (small) model + index a Finder loads: dsp features, a random head, 3 records."""
    torch.manual_seed(0)
    dsp = get_backbone("dsp")
    meta = {"embedding_dim": 8, "features": "dsp", "backbone_ids": {"dsp": dsp.id},
            "window_plan": {"n_windows": 2, "window_seconds": 1.0}, "clusters": ["Bright", "Dark"]}
    model = EmbeddingModel(MusicEmbeddingNetwork(dsp.dim, 8), Standardizer(np.zeros(dsp.dim, np.float32),
                                                                            np.ones(dsp.dim, np.float32)), meta)
    vectors = unit_rows(np.random.default_rng(0).standard_normal((len(titles), 8)))
    model.meta["cluster_centroids"] = [vectors[0].tolist(), vectors[1].tolist()]
    model.meta.update(meta_extra or {})
    records = [{"path": f"/refs/{t}.wav", "title": t, "tempo": 138.0, "duration": 200.0, "cluster": "Bright",
                "x": 0.0, "y": float(i)} for i, t in enumerate(titles)]
    for rec in records:
        rec.update(tracks_extra or {})
    index = SimilarityIndex.build(vectors, records, {"model_fingerprint": model.fingerprint(), "features": "dsp"})
    folder.mkdir(parents=True, exist_ok=True)
    save_model_files(folder / "embedding_model.pt", folder / "similarity_index.faiss", index, model=model)
    return str(folder / "embedding_model.pt"), str(folder / "similarity_index.faiss")


@pytest.fixture
def query(tmp_path):
    t = np.arange(3 * 22050) / 22050
    return write_wav(tmp_path / "wip.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050)


def run_cli(argv, capsys):
    rc = cli.main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out, out.err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_vanished_query_is_one_line(tmp_path, query, capsys, monkeypatch):
    model, index = tiny_set(tmp_path / "m")

    def vanish(path):  # the file disappears after its header was read
        os.unlink(path)
        raise FileNotFoundError(2, "No such file or directory", path)

    monkeypatch.setattr("trance_finder.core.extract.file_fingerprint", vanish)
    rc, _, err = run_cli(["similar", "--query", query, "--model", model, "--index", index], capsys)
    assert rc == 1 and "vanished" in one_error_line(err)


def test_symlink_loop_query_and_folder(tmp_path, capsys):
    model, index = tiny_set(tmp_path / "m")
    loop = tmp_path / "loop.wav"
    os.symlink(loop, loop)
    rc, _, err = run_cli(["similar", "--query", str(loop), "--model", model, "--index", index], capsys)
    assert rc == 1 and "symbolic link loop" in one_error_line(err)
    refs = tmp_path / "refs"
    (refs / "sub").mkdir(parents=True)
    os.symlink(refs, refs / "sub" / "back")  # a folder link pointing to its own ancestor
    os.symlink(refs / "self.wav", refs / "self.wav")
    write_wav(refs / "sub" / "ok.wav", np.zeros(100, np.float32), 8000)
    scan = scan_audio_files(refs)
    assert [p.name for p in scan.files] == ["ok.wav"]
    reasons = dict(scan.problems)
    assert "symbolic link loop" in reasons[str(refs / "self.wav")]
    assert "already scanned" in reasons[str(refs / "sub" / "back")]


def test_unreadable_sub_folder_is_reported(tmp_path, monkeypatch):
    refs = tmp_path / "refs"
    (refs / "locked").mkdir(parents=True)
    write_wav(refs / "a.wav", np.zeros(100, np.float32), 8000)
    write_wav(refs / "locked" / "b.wav", np.zeros(100, np.float32), 8000)
    real = os.scandir

    def scandir(path):  # as root chmod 000 would not stop us: refuse like the OS would for a user
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    scan = scan_audio_files(refs)
    assert [p.name for p in scan.files] == ["a.wav"]
    assert scan.problems == [(str(refs / "locked"), "folder cannot be read (permission denied): its files are left out")]


def test_non_utf8_stdout_and_escape_codes(tmp_path, query, monkeypatch):
    model, index = tiny_set(tmp_path / "m")
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="cp1252", errors="strict")  # a Windows `> out.txt`
    monkeypatch.setattr(sys, "stdout", stream)
    rc = cli.main(["similar", "--query", query, "--model", model, "--index", index, "--k", "3"])
    stream.flush()
    text = raw.getvalue().decode("cp1252")
    assert rc == 0
    assert "Café del Mar" in text and "\x1b" not in text and "\x07" not in text
    assert "Evil \\x1b[2J\\x1b]0;pwned\\x07Title" in text  # shown, not obeyed


def test_escape_codes_never_reach_a_terminal(tmp_path, query, capsys):
    model, index = tiny_set(tmp_path / "m")
    rc, out, _ = run_cli(["similar", "--query", query, "--model", model, "--index", index], capsys)
    assert rc == 0 and "\x1b" not in out and "\\x1b[2J" in out
    rc, out, _ = run_cli(["similar", "--query", query, "--model", model, "--index", index, "--json"], capsys)
    assert rc == 0 and "\x1b" not in out and json.loads(out)["results"]


def test_zero_byte_model_and_index(tmp_path, query, capsys):
    model, index = tiny_set(tmp_path / "m")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    rc, _, err = run_cli(["similar", "--query", query, "--model", str(empty), "--index", index], capsys)
    assert rc == 1 and "empty (0 bytes)" in one_error_line(err)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "similarity_index.faiss").write_bytes(b"")
    (tmp_path / "x" / "index_metadata.json").write_text('{"tracks": []}')
    rc, _, err = run_cli(["similar", "--query", query, "--model", model, "--index",
                          str(tmp_path / "x" / "similarity_index.faiss")], capsys)
    assert rc == 1 and "empty (0 bytes)" in one_error_line(err)


def test_latin1_labels_csv(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    (tmp_path / "labels.csv").write_bytes("path,label\nCafé.wav,Mañana\n".encode("latin-1"))
    labels = read_labels_csv(tmp_path / "labels.csv", refs)
    assert labels == {os.path.realpath(refs / "Café.wav"): "Mañana"}


def _damage_index(folder: Path, fn):
    meta_file = modelstore.resolve(folder / "similarity_index.faiss").path.with_name(
        modelstore.resolve(folder / "similarity_index.faiss").path.name.replace("similarity_index.faiss",
                                                                                 "index_metadata.json"))
    data = json.loads(meta_file.read_text())
    fn(data)
    for p in (meta_file, folder / "index_metadata.json"):
        p.unlink()
        p.write_text(json.dumps(data))


INDEX_CASES = {
    "tracks not a list": (lambda d: d.update(tracks={"a": 1}), "'tracks' is not a list"),
    "track not a record": (lambda d: d["tracks"].__setitem__(1, "x.wav"), "track 2 is not a record"),
    "no path": (lambda d: d["tracks"][0].pop("path"), "track 1 has no path"),
    "text tempo": (lambda d: d["tracks"][2].update(tempo="fast"), "tempo is 'fast', not a number"),
    "text map position": (lambda d: d["tracks"][1].update(x="left"), "x is 'left', not a number"),
}
MODEL_CASES = {
    "n_windows 0": ({"window_plan": {"n_windows": 0, "window_seconds": 1.0}}, "n_windows is 0"),
    "unknown plan key": ({"window_plan": {"n_windows": 2, "window_seconds": 1.0, "hop": 3}}, "unknown window plan key 'hop'"),
    "3 names 2 centroids": ({"clusters": ["A", "B", "C"]}, "3 cluster names but 2 centroids"),
    "centroid of the wrong size": ({"cluster_centroids": [[0.1, 0.2], [0.3, 0.4]]}, "not a list of 8 numbers"),
}


@pytest.mark.parametrize("case", sorted(INDEX_CASES))
def test_damaged_index_metadata_is_one_line(tmp_path, query, capsys, case):
    damage, expected = INDEX_CASES[case]
    model, index = tiny_set(tmp_path / "m")
    _damage_index(tmp_path / "m", damage)
    rc, _, err = run_cli(["similar", "--query", query, "--model", model, "--index", index], capsys)
    assert rc == 1 and expected in one_error_line(err)


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_damaged_model_metadata_is_one_line(tmp_path, query, capsys, case):
    extra, expected = MODEL_CASES[case]
    model, index = tiny_set(tmp_path / "m", meta_extra=extra)
    rc, _, err = run_cli(["similar", "--query", query, "--model", model, "--index", index], capsys)
    assert rc == 1 and expected in one_error_line(err)


def test_unknown_record_keys_are_kept(tmp_path):
    tiny_set(tmp_path / "m", tracks_extra={"sections": [{"label": "drop"}], "mix": {"lufs": -8}})
    idx = SimilarityIndex.load(tmp_path / "m" / "similarity_index.faiss")
    assert idx.tracks[0]["sections"] == [{"label": "drop"}] and idx.tracks[0]["mix"] == {"lufs": -8}


def test_labels_matching_no_track_is_refused(small_library, shared_cache, tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\nsomewhere/else.wav,Uplifting\nnot/here.wav,Psy\n")
    rc, _, err = run_cli(["train", "--references", str(small_library), "--labels", str(labels), "--output-model",
                          str(tmp_path / "m" / "embedding_model.pt"), "--backbone", "dsp", "--views", "0",
                          "--epochs", "1", "--eval-folds", "0", "--cache-dir", str(shared_cache)], capsys)
    assert rc == 1
    line = one_error_line(err)
    assert "none of its" in line and "is a track of" in line
    assert not (tmp_path / "m" / "embedding_model.pt").exists()


def test_app_model_is_the_default_and_said(tmp_path, query, capsys, monkeypatch):
    import trance_finder.demo as demo

    if demo.shipped_assets() is not None:  # the demo shipped with the app is the last resort
        rc, out, err = run_cli(["similar", "--query", query, "--json"], capsys)
        assert rc == 0 and "Using the demo model shipped with the app" in err and json.loads(out)["results"]
    monkeypatch.setattr(demo, "shipped_assets", lambda features=None: None)
    rc, _, err = run_cli(["similar", "--query", query], capsys)
    assert rc == 1 and "no model yet" in one_error_line(err)
    from trance_finder import paths

    tiny_set(paths.user_model_dir())
    rc, out, err = run_cli(["similar", "--query", query, "--json"], capsys)
    assert rc == 0 and "Using your trained library model" in err and json.loads(out)["results"]
    rc, out, err = run_cli(["similar", "--query", query, "--model", str(paths.user_model_dir() / "embedding_model.pt")],
                           capsys)
    assert rc == 0 and "Using" not in err  # the index beside the given model


def test_help_has_no_markup(capsys):
    for argv in (["--help"], ["similar", "--help"], ["update", "--help"], ["train", "--help"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        text = capsys.readouterr().out
        assert "``" not in text and "usage:" in text


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
def test_ctrl_c_exits_and_leaves_the_old_set(tmp_path, small_library):
    model, index = tiny_set(tmp_path / "m")
    before = modelstore.read_pointer(tmp_path / "m")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "trance_finder", "train", "--references", str(small_library),
                             "--output-model", model, "--output-index", index, "--backbone", "dsp", "--views", "2",
                             "--epochs", "50", "--eval-folds", "0", "--cache-dir", str(tmp_path / "cache")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            # Ctrl-C reaches the job as in a terminal even when the test run itself was started
                            # in the background (where the shell makes children ignore SIGINT)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if "Extracting" in line or time.monotonic() > deadline:
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, err
    assert "nothing was saved" in err and "Traceback" not in err
    assert modelstore.read_pointer(tmp_path / "m") == before
    EmbeddingModel.load(model)  # the old set still loads
    SimilarityIndex.load(index).check_model(EmbeddingModel.load(model).fingerprint(), "dsp")


def test_no_streams_at_all_like_a_windowed_build(monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    assert cli.main(["similar", "--query", "/nonexistent.wav", "--model", "/nope.pt", "--index", "/nope.faiss"]) == 1
