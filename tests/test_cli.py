"""The command line as a user runs it (in-process through cli.main, same code as the console script)."""

import json

import numpy as np
import pytest
import soundfile as sf

from trance_finder import cli


@pytest.fixture(scope="module")
def cli_model(small_library, shared_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_model")
    model, index = out / "embedding_model.pt", out / "similarity_index.faiss"
    rc = cli.main(["train", "--references", str(small_library), "--output-model", str(model),
                   "--output-index", str(index), "--profile", str(out / "trance_profile.json"),
                   "--epochs", "4", "--batch-size", "32", "--lr", "1e-3", "--margin", "0.25", "--backbone", "dsp",
                   "--views", "1", "--eval-folds", "0", "--cache-dir", str(shared_cache)])
    assert rc == 0
    return model, index, out


def test_train_prints_the_spec_output(cli_model, capsys, small_library, shared_cache, tmp_path):
    rc = cli.main(["train", "--references", str(small_library), "--output-model", str(tmp_path / "m.pt"),
                   "--output-index", str(tmp_path / "i.faiss"), "--epochs", "2", "--backbone", "dsp",
                   "--views", "0", "--eval-folds", "2", "--cache-dir", str(shared_cache)])
    out = capsys.readouterr().out
    assert rc == 0
    for text in ("Extracting features from 20 tracks", "20/20", "unique labels", "Epoch 2/2, Loss:",
                 "Index size: 20 tracks", "Precision@5:", "Silhouette:", "held-out (2 folds)",
                 f"Model saved to: {tmp_path / 'm.pt'}", f"Index saved to: {tmp_path / 'i.faiss'}"):
        assert text in out, text
    assert (tmp_path / "index_metadata.json").exists() and (tmp_path / "trance_profile.json").exists()


def test_similar_human_and_json(cli_model, capsys, small_library):
    model, index, _ = cli_model
    query = sorted((small_library / "psy").glob("*.wav"))[0]
    assert cli.main(["similar", "--query", str(query), "--model", str(model), "--index", str(index), "--k", "5"]) == 0
    out = capsys.readouterr().out
    assert f"Query: {query.name}" in out and "Most Similar Reference Tracks:" in out
    assert f"1. {query.name} (similarity: 1.00)" in out and "Cluster: " in out and "(confidence: " in out
    assert cli.main(["similar", "--query", str(query), "--model", str(model), "--index", str(index),
                     "--k", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["query"] == str(query)
    assert [r["rank"] for r in data["results"]] == [1, 2, 3]
    assert data["results"][0]["path"] == str(query) and -1 <= data["results"][2]["similarity"] <= 1
    assert set(data["cluster"]) >= {"name", "confidence"}


def test_console_script_aliases(cli_model, capsys, small_library, monkeypatch):
    model, index, _ = cli_model
    query = sorted((small_library / "balearic").glob("*.wav"))[1]
    monkeypatch.setattr("sys.argv", ["find-similar", "--query", str(query), "--model", str(model),
                                     "--index", str(index), "--json"])
    assert cli.similar_main() == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["path"] == str(query)


def test_profile_command(small_library, capsys, tmp_path, shared_cache, monkeypatch):
    monkeypatch.setenv("TRANCE_FINDER_CACHE_DIR", str(shared_cache))
    out = tmp_path / "p.json"
    assert cli.main(["profile", "--references", str(small_library), "--out", str(out), "--backbone", "dsp"]) == 0
    text = capsys.readouterr().out
    assert "clusters:" in text and "BPM" in text
    data = json.loads(out.read_text())
    assert len(data["tracks"]) == 20 and data["clusters"]


def test_evaluate_writes_report(small_library, capsys, tmp_path, shared_cache):
    report = tmp_path / "report.md"
    assert cli.main(["evaluate", "--references", str(small_library), "--labels", str(small_library / "labels.csv"),
                     "--folds", "2", "--epochs", "3", "--backbone", "dsp", "--views", "1", "--cache-dir",
                     str(shared_cache), "--report", str(report), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for block in ("held_out", "in_sample"):
        for kind in ("finetuned", "raw"):
            assert set(data["evaluation"][block][kind]) >= {"precision_at_5", "silhouette", "nmi"}
    assert "| precision_at_5 |" in report.read_text()
    assert json.loads(report.with_suffix(".json").read_text())["evaluation"]["n_tracks"] == 20


def test_labels_csv_with_absolute_and_relative_paths(small_library, tmp_path, capsys, shared_cache):
    files = sorted(small_library.rglob("*.wav"))
    csv = tmp_path / "labels.csv"
    rows = ["path,label"] + [f"{f if i % 2 else f.relative_to(small_library)},{'A' if i < 10 else 'B'}"
                             for i, f in enumerate(files)]
    csv.write_text("\n".join(rows) + "\n")
    assert cli.main(["train", "--references", str(small_library), "--labels", str(csv), "--output-model",
                     str(tmp_path / "m.pt"), "--output-index", str(tmp_path / "i.faiss"), "--epochs", "1",
                     "--backbone", "dsp", "--views", "0", "--eval-folds", "0", "--cache-dir", str(shared_cache),
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["labels"] == 2


def test_bad_files_are_listed_and_nothing_usable_fails(tmp_path, capsys):
    refs = tmp_path / "refs"
    refs.mkdir()
    (refs / "notes.wav").write_text("not audio")
    sf.write(str(refs / "silence.wav"), np.zeros(22050 * 2, np.float32), 22050)
    sf.write(str(refs / "blip.wav"), np.ones(100, np.float32) * 0.1, 22050)
    rc = cli.main(["train", "--references", str(refs), "--output-model", str(tmp_path / "m.pt"),
                   "--output-index", str(tmp_path / "i.faiss"), "--backbone", "dsp", "--views", "0"])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"skipped {refs / 'notes.wav'}: not a readable audio file" in err
    assert "audio is silent" in err and "too short" in err
    assert "only 0 usable track(s)" in err
    assert not (tmp_path / "m.pt").exists()


def test_missing_model_and_empty_folder_messages(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["train", "--references", str(tmp_path / "empty"), "--backbone", "dsp"]) == 1
    assert "no audio files" in capsys.readouterr().err
    wav = tmp_path / "q.wav"
    sf.write(str(wav), np.random.default_rng(0).standard_normal(22050 * 2).astype(np.float32) * 0.1, 22050)
    assert cli.main(["similar", "--query", str(wav), "--model", str(tmp_path / "nope.pt"),
                     "--index", str(tmp_path / "nope.faiss")]) == 1
    assert "Train first" in capsys.readouterr().err


def test_bad_query_file_is_one_clear_line(cli_model, tmp_path, capsys):
    model, index, _ = cli_model
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"ID3" + b"\x00" * 50)
    assert cli.main(["similar", "--query", str(bad), "--model", str(model), "--index", str(index)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]
