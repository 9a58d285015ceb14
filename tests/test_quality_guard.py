"""The quality guard (a head worse than raw on held-out folds is bypassed), the calibrated confidence
and the producer-facing numbers."""

import numpy as np
import pytest

from tests.test_labels import tone_track
from trance_finder.core.calibration import (
    calibrated_confidence,
    display_similarity,
    evaluation_sentence,
    fit_calibration,
    guard_decision,
    guard_sentence,
)
from trance_finder.core.engine import Finder, TrainOptions, train_library
from trance_finder.core.head import EmbeddingModel, MusicEmbeddingNetwork, Standardizer, unit_rows
from trance_finder.core.progress import run_to_end
from trance_finder.core.training import TrainConfig

FAMILIES, PER_FAMILY = 3, 10


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    refs = tmp_path_factory.mktemp("guard_refs")
    family = {}
    for f in range(FAMILIES):
        for i in range(PER_FAMILY):
            family[tone_track(refs / f"f{f}_{i}.wav", 2 * f, i)] = f
    return refs, family


def _train(refs, out, labels: dict, epochs: int):
    csv = out / "labels.csv"
    out.mkdir(parents=True, exist_ok=True)
    csv.write_text("path,label\n" + "".join(f"{p},{lab}\n" for p, lab in labels.items()))
    opts = TrainOptions(references=str(refs), output_model=str(out / "model.pt"),
                        output_index=str(out / "index.faiss"), labels_csv=str(csv), features="dsp",
                        device="cpu", n_views=1, eval_folds=5, train=TrainConfig(epochs=epochs, seed=0))
    return opts, run_to_end(train_library(opts))


def test_shuffled_labels_trigger_the_guard_and_the_index_uses_raw_vectors(library, tmp_path):
    refs, family = library
    paths = sorted(family)
    shuffled = np.random.default_rng(3).permutation([f"style{i % FAMILIES}" for i in range(len(paths))])
    opts, result = _train(refs, tmp_path, dict(zip(paths, shuffled)), epochs=8)
    ev = result.evaluation
    assert ev["guard"]["use_head"] is False, ev["guard"]
    assert not result.head_in_use
    assert result.guard_sentence.startswith("Training did not help")
    finder = Finder(opts.output_model, opts.output_index)
    assert not finder.model.head_in_use
    # the index holds the standardised backbone vectors themselves
    track = finder.analyse(paths[0])
    raw = finder.extractor.backbones[0].dim
    assert finder.vectors.shape[1] == raw
    expected = unit_rows(finder.model.standardizer(track.joined(finder.extractor.names)[None, :]))[0]
    np.testing.assert_allclose(finder.vector_of(track), expected, atol=1e-5)
    # and the app still answers: the track finds itself first, the map places it
    res = finder.query(paths[0], k=3)
    assert res.neighbours[0].track["path"] == paths[0]
    assert np.isfinite(res.xy).all()


def test_true_labels_keep_the_trained_head(library, tmp_path):
    refs, family = library
    opts, result = _train(refs, tmp_path, {p: f"style{f}" for p, f in family.items()}, epochs=8)
    g = result.evaluation["guard"]
    assert g["use_head"] is True and g["verdict"] in ("same", "better"), g
    assert result.head_in_use and result.guard_sentence.startswith("The trained model is in use")
    assert "never saw" in result.evaluation_sentence
    finder = Finder(opts.output_model, opts.output_index)
    assert finder.model.meta["calibration"]["n"] == len(family)  # every track was a held-out query once
    res = finder.query(sorted(family)[0], k=3)
    assert res.calibrated and res.confidence_word in ("likely", "possible", "unsure")
    assert 0.0 <= res.confidence <= 1.0


def test_guard_rule_on_fold_numbers():
    def held(ft, raw, chance):
        return {"per_fold": {"finetuned": ft, "raw": raw, "chance": chance}}

    worse = guard_decision(held([0.5, 0.52, 0.48, 0.5, 0.5], [0.6, 0.62, 0.6, 0.58, 0.6], [0.1] * 5))
    assert worse["use_head"] is False and worse["verdict"] == "worse"
    noisy = guard_decision(held([0.5, 0.7, 0.4, 0.6, 0.5], [0.6, 0.5, 0.5, 0.55, 0.6], [0.1] * 5))
    assert noisy["use_head"] is True and noisy["verdict"] == "same"
    better = guard_decision(held([0.8, 0.82, 0.78, 0.8, 0.8], [0.6] * 5, [0.1] * 5))
    assert better["use_head"] is True and better["verdict"] == "better"
    chance = guard_decision(held([0.1, 0.15, 0.05, 0.1, 0.1], [0.1, 0.1, 0.1, 0.12, 0.08], [0.1] * 5))
    assert chance["use_head"] is False and not chance["learned"]
    assert guard_decision(None)["use_head"] is None


def test_sentences_never_present_worse_as_good():
    ev = {"held_out": {"finetuned": {"precision_at_5": 0.82}, "raw": {"precision_at_5": 0.72}},
          "guard": {"use_head": True, "verdict": "better"}}
    assert evaluation_sentence(ev) == ("Of the 5 closest references, 4.1 share the query's style on tracks the "
                                       "model never saw; without training: 3.6.")
    assert guard_sentence(ev).startswith("The trained model is in use")
    ev = {"held_out": {"finetuned": {"precision_at_5": 0.4}, "raw": {"precision_at_5": 0.5}},
          "guard": {"use_head": False, "verdict": "worse", "learned": True}}
    assert guard_sentence(ev).startswith("Training did not help") and "2.0" in guard_sentence(ev)
    assert "could not be tested" in evaluation_sentence({})


def test_calibration_says_how_often_it_was_right():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.3, 1.0, 400)
    right = rng.uniform(size=400) < (scores - 0.3) / 0.7  # higher score, more often right
    cal = fit_calibration(scores, right)
    lo, word_lo, ok = calibrated_confidence(0.35, cal)
    hi, word_hi, _ = calibrated_confidence(0.98, cal)
    assert ok and lo < 0.25 and hi > 0.8 and word_lo == "unsure" and word_hi == "likely"
    assert fit_calibration([0.9, 0.8], [True, False]) is None  # too few to say anything
    # uncalibrated: never "likely"
    assert calibrated_confidence(0.99, None)[1:] == ("possible", False)


def test_similarity_for_display_is_never_negative():
    assert [display_similarity(c) for c in (-0.4, 0.0, 0.37, 1.2, float("nan"))] == [0.0, 0.0, 0.37, 1.0, 0.0]


def test_a_bypassed_head_embeds_raw_vectors_and_changes_the_fingerprint():
    X = np.random.default_rng(1).standard_normal((6, 10)).astype(np.float32)
    std = Standardizer.fit(X, [10])
    model = EmbeddingModel(MusicEmbeddingNetwork(10, 8), std, {"embedding_dim": 8, "identity_weight": 0.15})
    before = model.fingerprint()
    assert model.embed(X).shape == (6, 8 + 10)
    model.bypass_head("test")
    assert model.fingerprint() != before
    np.testing.assert_allclose(model.embed(X), unit_rows(std(X)), atol=1e-6)
    raw = EmbeddingModel.raw(std)
    assert not raw.head_in_use and raw.embed(X).shape == (6, 10)
