import numpy as np
import pytest

from trance_finder import synth
from trance_finder.core.dna import DNA_SR, compute_dna, estimate_tempo
from trance_finder.core.labels import bpm_bin, composite_labels, energy_bin, read_labels_csv
from trance_finder.core.profile import ReferenceProfile, TrackMeta, build_profile
from trance_finder.errors import ModelError, TranceFinderError


@pytest.mark.parametrize("family", ["balearic", "progressive", "uplifting", "psy", "hard"])
def test_tempo_of_synthetic_tracks_without_octave_errors(family):
    errors = []
    for seed in range(3):
        style = synth.sample_style(family, np.random.default_rng(seed), seed=seed)
        x = synth.render_track(style, seconds=20.0, sr=DNA_SR).mean(axis=0)
        windows = [x[i * 6 * DNA_SR:(i + 1) * 6 * DNA_SR] for i in range(3)]
        errors.append(estimate_tempo(windows) - style.bpm)
    assert max(abs(e) for e in errors) < 1.5, errors


def test_dna_features_are_finite_and_named():
    style = synth.sample_style("tech", np.random.default_rng(1), seed=1)
    x = synth.render_track(style, seconds=12.0, sr=DNA_SR).mean(axis=0)
    dna = compute_dna([x], DNA_SR, loudness=-9.0)
    assert dna["loudness"] == -9.0 and 0 <= dna["energy_progression"] <= 1
    assert all(np.isfinite(v) for v in dna.values())


def test_dna_reads_each_onset_envelope_once_and_matches_the_standalone_measures(monkeypatch):
    from trance_finder.core import dna as dna_mod

    style = synth.sample_style("uplifting", np.random.default_rng(2), seed=2)
    x = synth.render_track(style, seconds=20.0, sr=DNA_SR).mean(axis=0)
    windows = [x[: 6 * DNA_SR], x[6 * DNA_SR: 12 * DNA_SR], x[12 * DNA_SR: 15 * DNA_SR]]  # the last < 4 s
    alone = (estimate_tempo(windows), dna_mod.onset_density(windows))
    calls = []
    real = dna_mod.onset_envelope
    monkeypatch.setattr(dna_mod, "onset_envelope", lambda a, sr=DNA_SR: calls.append(len(a)) or real(a, sr))
    dna = compute_dna(windows, DNA_SR, loudness=-9.0)
    assert calls == [len(w) for w in windows]  # tempo and onset density share one envelope per window
    assert (dna["tempo"], dna["onset_density"]) == alone


def test_bins_follow_the_spec():
    assert [bpm_bin(t) for t in (128, 135, 141.9, 142)] == ["slow", "medium", "medium", "fast"]
    assert [energy_bin(e) for e in (0.1, 0.4, 0.59, 0.6)] == ["low", "medium", "medium", "high"]
    profile = ReferenceProfile(["A"], [TrackMeta("/x.wav", "Bright Steady", 140.0, 0.7, -9, 200)])
    assert composite_labels(profile) == {"/x.wav": "Bright Steady_medium_high"}


def test_profile_groups_styles_and_roundtrips(small_library, tmp_path):
    from trance_finder.core.backbones.dsp import DspBackbone
    from trance_finder.core.extract import FeatureExtractor
    from trance_finder.core.progress import run_to_end

    files = sorted(small_library.rglob("*.wav"))
    tracks = run_to_end(FeatureExtractor("dsp", backbones=[DspBackbone()]).extract_library(files)).tracks
    profile = build_profile(tracks, backbone_names=["dsp"])
    assert 2 <= len(profile.clusters) <= 6 and len(set(profile.clusters)) == len(profile.clusters)
    # tracks of one style mostly share a cluster
    by_family = {}
    for t in profile.tracks:
        by_family.setdefault(t.path.split("/")[-2], []).append(t.cluster)
    purity = np.mean([max(c.count(x) for x in c) / len(c) for c in by_family.values()])
    assert purity >= 0.8
    path = tmp_path / "profile.json"
    profile.save(path)
    assert ReferenceProfile.load(path).cluster_of() == profile.cluster_of()
    assert len(build_profile(tracks, k=3).clusters) == 3
    (tmp_path / "bad.json").write_text('{"format": 99}')
    with pytest.raises(ModelError):
        ReferenceProfile.load(tmp_path / "bad.json")


def test_labels_csv_errors(tmp_path):
    bad = tmp_path / "l.csv"
    bad.write_text("file,tag\na.wav,x\n")
    with pytest.raises(TranceFinderError, match="columns 'path' and 'label'"):
        read_labels_csv(bad, tmp_path)
    good = tmp_path / "g.csv"
    good.write_text("Path,Label\nsub/a.wav,uplifting\n,empty\n")
    assert read_labels_csv(good, tmp_path) == {str((tmp_path / "sub/a.wav").resolve()): "uplifting"}
