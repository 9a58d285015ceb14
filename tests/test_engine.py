"""End to end on real code paths: train on a synthetic library, query held-out tracks and altered
copies, refuse mismatched files, survive interruption."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from trance_finder import synth
from trance_finder.core.backbones import availability
from trance_finder.core.engine import Finder, TrainOptions, train_library
from trance_finder.core.progress import CancelToken, run_to_end
from trance_finder.core.training import TrainConfig
from trance_finder.errors import Cancelled, IndexMismatchError

FEATURES = "musicnn+dsp" if availability("musicnn")[0] else "dsp"


@pytest.fixture(scope="module")
def trained(small_library, shared_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    opts = TrainOptions(references=str(small_library), output_model=str(out / "embedding_model.pt"),
                        output_index=str(out / "similarity_index.faiss"),
                        labels_csv=str(small_library / "labels.csv"), features=FEATURES, n_views=2,
                        eval_folds=0, train=TrainConfig(epochs=30, seed=0), cache_dir=str(shared_cache))
    progress = []
    result = run_to_end(train_library(opts), progress.append)
    return opts, result, progress, Finder(opts.output_model, opts.output_index)


def test_training_reports_every_stage(trained):
    opts, result, progress, finder = trained
    stages = {p.stage for p in progress}
    assert {"extract", "train", "index", "save"} <= stages
    assert result.n_tracks == 20 and result.n_labels == 4
    assert len(finder.tracks) == 20
    assert set(finder.cluster_names) == {t["cluster"] for t in finder.tracks}
    # 5 tracks per family: at most 4 same-style others in a top 5 (0.8)
    assert result.evaluation["in_sample"]["finetuned"]["precision_at_5"] >= 0.75


def test_held_out_tracks_find_their_style(trained, tmp_path):
    _, _, _, finder = trained
    rng = np.random.default_rng(123)
    precisions = []
    for family in ["uplifting", "progressive", "psy", "balearic"]:
        for j in range(2):
            style = synth.sample_style(family, rng, seed=5000 + 10 * j + len(precisions))
            path = tmp_path / f"{family}_{j}.wav"
            sf.write(str(path), synth.render_track(style, seconds=12.0, sr=22050).T, 22050)
            result = finder.query(path, k=5)
            top = [n.track["label"] for n in result.neighbours]
            precisions.append(np.mean([lab == family for lab in top]))
    assert np.mean(precisions) >= 0.7, precisions
    assert np.mean(np.array(precisions) >= 0.6) >= 0.75  # same-style references dominate most top-5s


@pytest.mark.parametrize("alteration", ["minus_12_db", "pitch_up_1_semitone", "pitch_down_1_semitone", "mp3_rebounce"])
def test_altered_copy_finds_its_original_first(trained, tmp_path, alteration):
    from audiomentations import PitchShift

    _, _, _, finder = trained
    for record in finder.tracks[::4]:  # one track of each family
        audio, sr = sf.read(record["path"], dtype="float32", always_2d=True)
        ext = "wav"
        if alteration == "minus_12_db":
            altered = audio * 10 ** (-12 / 20)
        elif alteration == "mp3_rebounce":  # re-bounced at -3 dB and encoded lossy
            altered, ext = audio * 10 ** (-3 / 20), "mp3"
        else:
            st = 1 if alteration.startswith("pitch_up") else -1
            altered = PitchShift(min_semitones=st, max_semitones=st, p=1.0)(audio.T.copy(), sample_rate=sr).T
        path = tmp_path / f"copy_{record['title']}.{ext}"
        sf.write(str(path), altered, sr)
        result = finder.query(path, k=3)
        assert result.neighbours[0].track["path"] == record["path"], (alteration, record["title"])


def test_query_result_is_consistent(trained):
    _, _, _, finder = trained
    path = finder.tracks[0]["path"]
    r = finder.query(path, k=5)
    assert r.neighbours[0].similarity == pytest.approx(1.0, abs=1e-3)
    sims = [n.similarity for n in r.neighbours]
    assert sims == sorted(sims, reverse=True) and all(-1 <= s <= 1.0001 for s in sims)
    assert r.cluster in finder.cluster_names and 0 < r.confidence <= 1
    assert sum(r.cluster_scores.values()) == pytest.approx(1.0, abs=1e-4)
    js = r.to_json()
    assert js["query"] == path and js["results"][0]["rank"] == 1 and js["cluster"]["name"] == r.cluster


def test_index_from_another_model_is_refused(trained, small_library, shared_cache, tmp_path):
    opts, _, _, _ = trained
    other = TrainOptions(references=str(small_library), output_model=str(tmp_path / "m.pt"),
                         output_index=str(tmp_path / "i.faiss"), features="dsp", n_views=0, eval_folds=0,
                         train=TrainConfig(epochs=2), cache_dir=str(shared_cache))
    run_to_end(train_library(other))
    with pytest.raises(IndexMismatchError, match="another model"):
        Finder(opts.output_model, other.output_index)


def test_interrupted_training_keeps_previous_files(trained, tmp_path):
    opts, _, _, _ = trained
    folder = tmp_path / "models"
    shutil.copytree(opts.output_model.rsplit("/", 1)[0], folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    token = CancelToken()
    again = TrainOptions(**{**opts.__dict__, "output_model": str(folder / "embedding_model.pt"),
                            "output_index": str(folder / "similarity_index.faiss")})
    with pytest.raises(Cancelled):
        for p in train_library(again, token):
            if p.stage == "train" and p.done == 3:
                token.cancel()
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after == before
    Finder(folder / "embedding_model.pt", folder / "similarity_index.faiss")


def test_cancel_raises_cancelled(trained):
    opts, _, _, _ = trained
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_end(train_library(opts, token))


def test_profile_json_roundtrip(trained):
    from trance_finder.core.profile import ReferenceProfile

    _, result, _, _ = trained
    profile = ReferenceProfile.load(result.profile_path)
    assert len(profile.tracks) == 20 and profile.clusters
    data = json.loads(open(result.profile_path).read())
    assert data["format"] == 1
