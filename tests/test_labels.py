"""Label sources (labels.csv, sub-folders, genre tags, clusters) and the class rule, end to end on
short synthetic tracks with the dsp backbone."""

import shutil
import subprocess

import numpy as np
import pytest

from tests.conftest import write_wav
from trance_finder.core.engine import Finder, TrainOptions, train_library
from trance_finder.core.labels import (
    cluster_labels,
    find_label_source,
    genre_labels,
    genre_of,
    triplet_classes,
)
from trance_finder.core.profile import ReferenceProfile, TrackMeta
from trance_finder.core.progress import run_to_end
from trance_finder.core.training import TrainConfig

SR = 22050


def tone_track(path, family: int, seed: int, seconds: float = 3.5):
    """A short track whose sound depends on ``family`` (partials, pulse rate, noise colour)."""
    rng = np.random.default_rng(1000 * family + seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 110.0 * 2 ** (family / 3.0)
    x = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6)) / h for h in (1, 2, 3, 5)) * 0.15
    pulse = (np.sin(2 * np.pi * (1.5 + 0.5 * family) * t) > 0.6).astype(np.float32)
    noise = rng.standard_normal(len(t))
    if family % 2:
        noise = np.cumsum(noise) / 30.0
        noise -= noise.mean()
    x = x * (0.6 + 0.4 * pulse) + 0.03 * noise + 0.01 * rng.standard_normal(len(t))
    return write_wav(path, x.astype(np.float32), SR)


def train(refs, out, **kw):
    opts = TrainOptions(references=str(refs), output_model=str(out / "model.pt"),
                        output_index=str(out / "index.faiss"), features="dsp", device="cpu",
                        n_views=kw.pop("n_views", 1), eval_folds=kw.pop("eval_folds", 0),
                        train=TrainConfig(epochs=kw.pop("epochs", 2), seed=0), **kw)
    return opts, run_to_end(train_library(opts))


STYLES = ["Uplifting", "Psy", "Progressive", "Balearic", "Acid", "Hard", "Tech", "Deep"]


def test_sixteen_tracks_in_eight_folders_train_on_the_folder_names(tmp_path):
    refs = tmp_path / "References"
    for f, name in enumerate(STYLES):
        (refs / name).mkdir(parents=True)
        for i in range(2):
            tone_track(refs / name / f"{name.lower()}_{i}.wav", f, i)
    opts, result = train(refs, tmp_path / "model")
    assert result.label_source == "folders"
    assert result.n_labels == 8
    assert "sub-folders" in result.label_sentence and "8 styles" in result.label_sentence
    finder = Finder(opts.output_model, opts.output_index)
    assert sorted(finder.cluster_names) == sorted(STYLES)
    by_folder = {t["path"].split("/")[-2]: t["cluster"] for t in finder.tracks}
    assert all(folder == cluster for folder, cluster in by_folder.items())
    assert finder.model.meta["label_source"] == "folders"


def test_singleton_labels_fall_back_to_views_only_and_say_so(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    rows = ["path,label"]
    for i in range(12):
        tone_track(refs / f"t{i}.wav", i % 8, i)
        rows.append(f"t{i}.wav,song{i}")  # every track a style of its own
    (refs / "labels.csv").write_text("\n".join(rows) + "\n")
    opts, result = train(refs, tmp_path / "model")
    assert result.label_source == "labels.csv"  # found beside the references without --labels
    assert result.n_labels == 0
    assert result.evaluation["views_only"]
    assert "sound alone" in result.label_sentence and "one sub-folder per style" in result.label_sentence
    # the clusters are still the producer's own labels
    assert len(Finder(opts.output_model, opts.output_index).cluster_names) == 12


def test_too_few_tracks_train_on_views_only(tmp_path):
    refs = tmp_path / "refs"
    for f in range(2):
        (refs / STYLES[f]).mkdir(parents=True)
        for i in range(3):
            tone_track(refs / STYLES[f] / f"{i}.wav", f, i)
    _, result = train(refs, tmp_path / "model")
    assert result.label_source == "folders" and result.evaluation["views_only"]
    assert "too few to learn styles" in result.label_sentence


def test_triplet_class_rule():
    lab = {f"t{i}": lab for i, lab in enumerate("aabbbc")}
    assert triplet_classes(lab) == {"t0": "a", "t1": "a", "t2": "b", "t3": "b", "t4": "b"}
    assert triplet_classes({"t0": "a", "t1": "a", "t2": "b"}) == {}  # one class is no style loss
    # far too fine: most tracks would be singletons
    fine = {f"t{i}": f"x{i}" for i in range(8)} | {"u0": "a", "u1": "a", "v0": "b", "v1": "b"}
    assert triplet_classes(fine) == {}


def test_composite_labels_only_when_every_one_has_three_tracks():
    def prof(specs):
        return ReferenceProfile(sorted({c for c, *_ in specs}),
                                [TrackMeta(f"/{i}.wav", c, bpm, e, -9, 200) for i, (c, bpm, e) in enumerate(specs)])

    six = [("A", 128, 0.7)] * 3 + [("A", 145, 0.7)] * 3 + [("B", 128, 0.2)] * 3
    plan = cluster_labels(prof(six))
    assert plan.detail == "clusters x tempo x energy" and plan.n_classes == 3
    # one composite label with 2 tracks: coarser (cluster x tempo), still every label >= 3
    uneven = [("A", 128, 0.7)] * 2 + [("A", 128, 0.2)] * 1 + [("A", 145, 0.7)] * 3 + [("B", 128, 0.2)] * 3
    assert cluster_labels(prof(uneven)).detail == "clusters x tempo"
    # tempo splits too: the clusters alone
    coarse = [("A", 128, 0.7)] * 2 + [("A", 145, 0.7)] * 2 + [("B", 128, 0.2)] * 4
    plan = cluster_labels(prof(coarse))
    assert plan.detail.endswith("clusters") and set(plan.classes.values()) == {"A", "B"}


def _tag(path, genre):
    from mutagen import File

    f = File(str(path), easy=True)
    if f.tags is None:
        f.add_tags()
    f.tags["genre"] = genre
    f.save()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg makes the mp3 and m4a files")
def test_genre_tags_of_id3_vorbis_and_mp4_are_read(tmp_path):
    src = tone_track(tmp_path / "src.wav", 1, 0)
    paths = {}
    for ext, codec in (("mp3", "libmp3lame"), ("m4a", "aac"), ("ogg", "libvorbis")):
        p = tmp_path / f"t.{ext}"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", src, "-c:a", codec, str(p)], check=True)
        paths[ext] = p
    flac = tmp_path / "t.flac"
    write_wav(flac, np.zeros(SR, np.float32), SR, subtype="PCM_16")
    paths["flac"] = flac
    for ext, p in paths.items():
        _tag(p, f"Psy {ext}")
        assert genre_of(p) == f"Psy {ext}", ext
    assert genre_of(src) is None
    # genres differing only in case are one genre
    _tag(paths["mp3"], "psy")
    _tag(paths["m4a"], "Psy")
    g = genre_labels([paths["mp3"], paths["m4a"]])
    assert len(set(g.values())) == 1


def test_training_picks_up_genre_tags(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    for f, genre in enumerate(["Uplifting", "Psytrance", "Progressive"]):
        for i in range(4):
            p = refs / f"{genre}_{i}.flac"
            tone_track(p.with_suffix(".wav"), f, i)
            data = __import__("soundfile").read(str(p.with_suffix(".wav")))[0]
            p.with_suffix(".wav").unlink()
            write_wav(p, data.astype(np.float32), SR)
            _tag(p, genre)
    plan = find_label_source(sorted(str(p) for p in refs.iterdir()), refs)
    assert plan.source == "genre tags" and plan.n_classes == 3
    opts, result = train(refs, tmp_path / "model")
    assert result.label_source == "genre tags" and result.n_labels == 3
    assert sorted(Finder(opts.output_model, opts.output_index).cluster_names) == ["Progressive", "Psytrance",
                                                                                   "Uplifting"]


def test_no_labels_anywhere_uses_the_clusters(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    for i in range(12):
        tone_track(refs / f"t{i}.wav", i % 3, i)
    assert find_label_source(sorted(str(p) for p in refs.iterdir()), refs) is None
    _, result = train(refs, tmp_path / "model")
    assert result.label_source in ("clusters", "none")


def test_linked_files_are_labelled_by_the_folder_they_are_listed_in(tmp_path):
    """References/Psy/x.wav may be a link to a file elsewhere (a producer's downloads): its folder label is
    where it is listed, and a labels.csv beside it matches it too (the dev corpus bench links its files)."""
    store, refs = tmp_path / "store", tmp_path / "References"
    store.mkdir()
    paths = []
    for fam, style in enumerate(["Uplifting", "Psy"]):
        for i in range(2):
            target = tone_track(store / f"{style.lower()}_{i}.wav", fam, i)
            link = refs / style / f"track_{i}.wav"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
            paths.append(str(link))
    plan = find_label_source(paths, refs)
    assert plan.source == "folders"
    assert {plan.label_of[p] for p in paths} == {"Uplifting", "Psy"}
    assert plan.label_of[paths[2]] == "Psy"
    (refs / "labels.csv").write_text("path,label\n" + "".join(
        f"{p.split('References/')[1]},{'A' if i < 2 else 'B'}\n" for i, p in enumerate(paths)), encoding="utf-8")
    plan = find_label_source(paths, refs)
    assert plan.source == "labels.csv" and [plan.label_of[p] for p in paths] == ["A", "A", "B", "B"]
