import os

import numpy as np
import pytest
import torch

from tests.conftest import write_wav
from trance_finder.core.backbones.base import Backbone, BackboneOutput
from trance_finder.core.backbones.dsp import DspBackbone
from trance_finder.core.cache import EmbeddingCache, file_fingerprint
from trance_finder.core.extract import FeatureExtractor, WindowPlan
from trance_finder.core.progress import CancelToken, run_to_end
from trance_finder.core.training import TrainConfig, TrainingSet, train_head, window_subsets
from trance_finder.errors import Cancelled


class CountingBackbone(DspBackbone):
    """The dsp backbone, counting how many times it is asked to analyse audio."""

    def __init__(self, version="1"):
        super().__init__()
        self.version = version
        self.calls = 0

    def analyse(self, audio):
        self.calls += 1
        return super().analyse(audio)


def _noise_track(path, seed, seconds=4.0, sr=22050):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.2 * np.sin(2 * np.pi * (100 + 50 * seed) * t) + 0.05 * rng.standard_normal(len(t))
    return write_wav(path, x.astype(np.float32), sr)


def test_cache_extracts_only_what_changed(tmp_path):
    files = [_noise_track(tmp_path / f"t{i}.wav", i) for i in range(3)]
    cache = EmbeddingCache(tmp_path / "cache")
    bb = CountingBackbone()
    ex = FeatureExtractor("dsp", backbones=[bb], cache=cache)
    first = run_to_end(ex.extract_library(files))
    assert bb.calls == 3
    # unchanged library: no extraction at all, identical vectors
    again = run_to_end(ex.extract_library(files))
    assert bb.calls == 3
    np.testing.assert_array_equal(first.tracks[1].vectors["dsp"], again.tracks[1].vectors["dsp"])
    # one file added: one extraction
    files.append(_noise_track(tmp_path / "t3.wav", 3))
    run_to_end(ex.extract_library(files))
    assert bb.calls == 4
    # one file changed: re-extracted, and its vector changes
    _noise_track(tmp_path / "t1.wav", 9)
    os.utime(files[1], ns=(1, 1))
    changed = run_to_end(ex.extract_library(files))
    assert bb.calls == 5
    assert not np.allclose(changed.tracks[1].vectors["dsp"], first.tracks[1].vectors["dsp"])
    # another backbone version never gets the old vectors
    bb2 = CountingBackbone(version="2")
    run_to_end(FeatureExtractor("dsp", backbones=[bb2], cache=cache).extract_library(files))
    assert bb2.calls == 4


def test_views_are_augmented_audio_and_cached(tmp_path):
    f = _noise_track(tmp_path / "a.wav", 1, seconds=6.0)
    cache = EmbeddingCache(tmp_path / "cache")
    bb = CountingBackbone()
    t = FeatureExtractor("dsp", backbones=[bb], cache=cache).analyse_file(f, n_views=3)
    assert t.vectors["dsp"].shape[0] == 4 and bb.calls == 4
    assert not np.allclose(t.vectors["dsp"][0], t.vectors["dsp"][1])
    t2 = FeatureExtractor("dsp", backbones=[bb], cache=cache).analyse_file(f, n_views=2)
    assert bb.calls == 4 and t2.vectors["dsp"].shape[0] == 3
    np.testing.assert_array_equal(t2.vectors["dsp"], t.vectors["dsp"][:3])


def test_window_vectors_are_kept_cached_and_make_training_rows(tmp_path):
    f = _noise_track(tmp_path / "a.wav", 1, seconds=12.0)
    cache = EmbeddingCache(tmp_path / "cache")
    plan = WindowPlan(n_windows=4, window_seconds=2.0)
    bb = CountingBackbone()
    t = FeatureExtractor("dsp", backbones=[bb], cache=cache, plan=plan).analyse_file(f)
    wins = t.windows["dsp"]
    assert wins.shape == (4, t.vectors["dsp"].shape[1])
    assert not np.allclose(wins[0], wins[1])  # each window its own vector
    np.testing.assert_allclose(wins.mean(axis=0), t.vectors["dsp"][0], rtol=1e-5, atol=1e-6)  # mean pooling
    again = FeatureExtractor("dsp", backbones=[bb], cache=cache, plan=plan).analyse_file(f)
    assert bb.calls == 4  # from the cache, windows included
    np.testing.assert_array_equal(again.windows["dsp"], wins)

    rows = window_subsets(t, ["dsp"], 3, seed=0, share=0.5)
    assert len(rows) == 3
    pairs = [wins[[i, j]].mean(axis=0) for i in range(4) for j in range(i + 1, 4)]
    assert all(any(np.allclose(r, p, atol=1e-5) for p in pairs) for r in rows)  # each the mean of 2 of 4 windows
    assert not np.allclose(rows[0], rows[1]) or not np.allclose(rows[1], rows[2])  # not one draw thrice
    np.testing.assert_array_equal(window_subsets(t, ["dsp"], 3, seed=0, share=0.5), rows)  # reproducible
    for row in window_subsets(t, ["dsp"], 3, seed=1):  # the default share of 4 windows: one window each
        assert any(np.allclose(row, w, atol=1e-6) for w in wins)

    old = FeatureExtractor("dsp", backbones=[bb], cache=cache, plan=plan).analyse_file(f)
    old.windows = None  # a cache entry written before window vectors were kept
    data = TrainingSet.from_tracks([t, old], {t.path: "a", old.path + "x": "b"}, ["dsp"], n_views=0, window_views=3)
    assert len(data.X) == 1 + 3 + 1 and list(data.groups) == [0, 0, 0, 0, 1]
    np.testing.assert_array_equal(data.X[0], t.joined(["dsp"]))  # the original first: evaluation relies on it


def test_a_cache_entry_without_window_vectors_gets_them_when_the_file_is_analysed_whole(tmp_path):
    f = _noise_track(tmp_path / "a.wav", 2, seconds=12.0)
    cache = EmbeddingCache(tmp_path / "cache")
    ex = FeatureExtractor("dsp", cache=cache, plan=WindowPlan(n_windows=4, window_seconds=2.0))
    t = ex.analyse_file(f)
    key = ex._backbone_key(ex.backbones[0])
    entry = cache.get(file_fingerprint(f), key)
    cache.put(file_fingerprint(f), key, {k: v for k, v in entry.items() if k != "windows"})
    assert ex.analyse_file(f).windows is None
    whole = ex.analyse_file(f, structure=True)
    np.testing.assert_allclose(whole.windows["dsp"], t.windows["dsp"], rtol=1e-5, atol=1e-6)
    assert ex.analyse_file(f).windows is not None


def test_corrupt_cache_entry_is_recomputed(tmp_path):
    f = _noise_track(tmp_path / "a.wav", 1)
    cache = EmbeddingCache(tmp_path / "cache")
    bb = CountingBackbone()
    FeatureExtractor("dsp", backbones=[bb], cache=cache).analyse_file(f)
    for p in (tmp_path / "cache").rglob("*.npz"):
        p.write_bytes(b"broken")
    t = FeatureExtractor("dsp", backbones=[bb], cache=cache).analyse_file(f)
    assert bb.calls == 2 and np.isfinite(t.vectors["dsp"]).all()


def _toy_set(n_tracks=24, views=2, labels=4, single=False, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((labels, 40)) * 2
    rows, ys, gs = [], [], []
    for g in range(n_tracks):
        y = g % labels
        base = centres[y] + rng.standard_normal(40)
        for _ in range(views + 1):
            rows.append(base + 0.2 * rng.standard_normal(40))
            ys.append(y)
            gs.append(g)
    if single:  # one label with a single track
        rows.append(rng.standard_normal(40) * 3)
        ys.append(labels)
        gs.append(n_tracks)
    names = [f"l{i}" for i in range(max(ys) + 1)]
    return TrainingSet(np.array(rows, np.float32), np.array(ys), np.array(gs), [30, 10], names)


def test_training_is_reproducible_and_learns():
    data = _toy_set()
    cfg = TrainConfig(epochs=8, batch_size=32, seed=3)
    progress = []
    m1 = run_to_end(train_head(data, cfg), progress.append)
    m2 = run_to_end(train_head(data, cfg))
    for k, v in m1.network.state_dict().items():
        torch.testing.assert_close(v, m2.network.state_dict()[k])
    epochs = [p for p in progress if p.info.get("epoch")]
    assert [p.info["epoch"] for p in epochs] == list(range(1, 9))
    assert all(np.isfinite(p.info["loss"]) for p in epochs)
    m3 = run_to_end(train_head(data, TrainConfig(epochs=8, batch_size=32, seed=4)))
    assert not torch.equal(m1.network.projection[0].weight, m3.network.projection[0].weight)


def test_training_works_with_single_track_labels_and_without_views():
    run_to_end(train_head(_toy_set(single=True), TrainConfig(epochs=2, batch_size=64)))
    model = run_to_end(train_head(_toy_set(views=0, single=True), TrainConfig(epochs=2, batch_size=64)))
    assert model.meta["train_config"]["m_per_class"] == 4


def _hidden_classes(n, seed, labels=4, dim=40, informative=6):
    """Tracks whose label lives in 6 of 40 dimensions, the other 34 louder noise: raw nearest
    neighbours get about half of the unseen tracks' labels right, a head that learned the labels more."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((labels, informative)) * 1.5
    y = np.arange(n) % labels
    X = rng.standard_normal((n, dim))
    X[:, :informative] += centres[y]
    X[:, informative:] *= 2.0
    return TrainingSet(X.astype(np.float32), y, np.arange(n), [30, 10], [f"l{i}" for i in range(labels)])


@pytest.mark.parametrize("style_loss", ["triplet", "triplet+proxy_anchor(margin=0.2)", "proxy_anchor"])
def test_each_style_loss_learns_the_labels_of_unseen_tracks(style_loss):
    train, test = _hidden_classes(96, seed=1), _hidden_classes(48, seed=2)

    def nearest_label_rate(model):
        B, Q = model.embed(train.X), model.embed(test.X)
        return float(np.mean(train.labels[np.argmax(Q @ B.T, axis=1)] == test.labels))

    cfg = TrainConfig(epochs=6, batch_size=32, style_loss=style_loss, identity_weight=0.0)
    trained = run_to_end(train_head(train, cfg))
    untrained = run_to_end(train_head(train, TrainConfig(epochs=0, style_loss=style_loss, identity_weight=0.0)))
    assert trained.meta["train_config"]["style_loss"] == style_loss
    assert nearest_label_rate(trained) >= nearest_label_rate(untrained) + 0.15


def test_the_proxy_loss_changes_what_is_learned_and_unknown_losses_are_refused():
    data = _toy_set(views=0)
    plain = run_to_end(train_head(data, TrainConfig(epochs=3, batch_size=32, style_loss="triplet")))
    both = run_to_end(train_head(data, TrainConfig(epochs=3, batch_size=32, style_loss="triplet+proxy_anchor")))
    assert not torch.equal(plain.network.projection[0].weight, both.network.projection[0].weight)
    with pytest.raises(ValueError, match="unknown style loss"):
        run_to_end(train_head(data, TrainConfig(epochs=1, style_loss="triplet+arcfeces")))


def test_training_honours_cancel_token():
    token = CancelToken()
    gen = train_head(_toy_set(), TrainConfig(epochs=50, batch_size=16))
    next(gen)
    next(gen)
    token.cancel()
    gen2 = train_head(_toy_set(), TrainConfig(epochs=50, batch_size=16), token)
    with pytest.raises(Cancelled):
        run_to_end(gen2)


class _FakeBackbone(Backbone):
    name = "fake"
    sample_rate = 8000

    @property
    def frame_dim(self):
        return 3

    def analyse(self, audio):
        return BackboneOutput(frames=np.ones((2, 3), np.float32))


def test_backbone_id_names_its_parameters():
    a, b = _FakeBackbone(), _FakeBackbone()
    b.pooling = "meanmax"
    assert a.id != b.id and a.dim == 3 and b.dim == 6
    np.testing.assert_array_equal(b.pool(np.array([[0, 1, 2], [2, 1, 0]])), [1, 1, 1, 2, 1, 2])


def test_analysis_of_one_file_can_be_cancelled(tmp_path):
    f = _noise_track(tmp_path / "long.wav", 2, seconds=8.0)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        FeatureExtractor("dsp", backbones=[DspBackbone()]).analyse_file(f, n_views=2, cancel=token)


class _TaggingBackbone(DspBackbone):
    """The dsp backbone with made-up tags: a constant per backbone, so whose tags they are is visible."""

    def __init__(self, name, tag_names, value):
        super().__init__()
        self.name, self.tag_names, self._value = name, tag_names, value

    def analyse(self, audio):
        out = super().analyse(audio)
        return BackboneOutput(out.frames, np.full((len(out.frames), len(self.tag_names)), self._value, np.float32))


def test_a_joined_set_shows_the_first_taggers_tags_also_from_the_cache(tmp_path):
    """Two tagging backbones joined (musicnn + musicnn_mtt): the names and the values shown are the first
    one's, fresh and from the cache, and each backbone's cache entry holds only its own tags."""
    f = _noise_track(tmp_path / "a.wav", 1)
    cache = EmbeddingCache(tmp_path / "cache")

    def extractor():
        return FeatureExtractor("one+two", cache=cache, backbones=[
            _TaggingBackbone("one", ("rock", "pop"), 0.25), _TaggingBackbone("two", ("techno", "synth", "beat"), 0.75)])

    for _ in range(2):  # fresh, then from the cache
        t = extractor().analyse_file(f)
        assert t.tag_names == ("rock", "pop")
        np.testing.assert_allclose(t.tags, [0.25, 0.25])
    alone = FeatureExtractor("two", cache=cache, backbones=[_TaggingBackbone("two", ("techno", "synth", "beat"), 0.75)])
    t = alone.analyse_file(f)  # "two" was analysed with the join: its entry must not hold "one"'s tags
    assert t.tag_names == ("techno", "synth", "beat")
    np.testing.assert_allclose(t.tags, [0.75, 0.75, 0.75])
