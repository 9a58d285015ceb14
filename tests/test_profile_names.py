"""Cluster names a producer can read, and renames that survive a reload and a retrain."""

import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from tests.test_labels import STYLES, tone_track, train
from trance_finder.core.engine import Finder, rename_cluster
from trance_finder.core.profile import (
    ReferenceProfile,
    TrackMeta,
    carry_names,
    name_clusters,
    profile_from_labels,
)
from trance_finder.errors import ModelError


def fake_track(path, tempo, centroid, low=0.3, onsets=2.0):
    dna = {"tempo": tempo, "energy_progression": 0.5, "dynamic_range": 6.0, "spectral_centroid": centroid,
           "spectral_rolloff": 2 * centroid, "spectral_flatness": 0.1, "low_end_ratio": low,
           "high_end_ratio": 0.1, "onset_density": onsets, "loudness": -9.0}
    return SimpleNamespace(path=path, dna=dna, lufs=-9.0, duration=200.0)


def test_names_say_tempo_range_and_sound_and_never_repeat():
    tracks = ([fake_track(f"/a{i}", 138 + i % 3, 3000) for i in range(6)]      # bright, 138-140
              + [fake_track(f"/b{i}", 124 + i % 2, 900, low=0.6) for i in range(6)]  # dark, heavy low end
              + [fake_track(f"/c{i}", 138 + i % 3, 2950) for i in range(6)]  # same sound as a: must differ
              + [fake_track(f"/d{i}", 132, 1900) for i in range(6)])  # nothing special
    assign = np.repeat(np.arange(4), 6)
    names = name_clusters(tracks, assign, 4)
    assert len(set(names)) == 4, names
    assert names[0].startswith("Bright") and names[0].endswith("138-140 BPM")
    assert names[1].startswith("Dark") and "124-125 BPM" in names[1]
    assert names[3].endswith("132 BPM")


def test_label_names_are_readable_and_unique():
    tracks = [fake_track(f"/{i}", 138, 2000) for i in range(5)]
    label_of = {"/0": "uplifting", "/1": "uplifting", "/2": "psy_trance", "/3": "Psy trance"}
    p = profile_from_labels(tracks, label_of, "labels.csv")
    assert set(p.clusters) == {"Uplifting", "Psy trance", "Psy trance (2)", "Unsorted"}
    assert p.cluster_of()["/4"] == "Unsorted"


def test_rename_rules_and_carry_over():
    p = ReferenceProfile(["A", "B"], [TrackMeta(f"/{i}", "A" if i < 4 else "B", 138, 0.5, -9, 200)
                                      for i in range(8)])
    with pytest.raises(ModelError):
        p.rename("A", "B")
    with pytest.raises(ModelError):
        p.rename("Z", "Q")
    p.rename("A", "  My   sound ")
    assert p.clusters == ["My sound", "B"] and p.renamed == ["My sound"]
    # a rebuilt profile whose cluster keeps 3 of the 4 members (and gains one) gets the name back
    q = ReferenceProfile(["X", "Y"], [TrackMeta(f"/{i}", "X" if i in (0, 1, 2, 5) else "Y", 138, 0.5, -9, 200)
                                      for i in range(9)])
    assert carry_names(p, q) == ["My sound"] and "My sound" in q.clusters and "Y" in q.clusters
    # members mostly gone: the name is not forced on another cluster
    r = ReferenceProfile(list("WXYZ"), [TrackMeta(f"/{i}", "WXYZ"[i % 4], 138, 0.5, -9, 200) for i in range(8)])
    assert carry_names(p, r) == []


def test_a_renamed_cluster_survives_a_reload_and_a_retrain(tmp_path):
    refs = tmp_path / "References"
    for f, name in enumerate(STYLES[:2]):
        (refs / name).mkdir(parents=True)
        for i in range(6):
            tone_track(refs / name / f"{i}.wav", 3 * f, i)
    out = tmp_path / "model"
    opts, result = train(refs, out)
    assert sorted(Finder(opts.output_model, opts.output_index).cluster_names) == ["Psy", "Uplifting"]
    stored = rename_cluster(opts.output_model, opts.output_index, result.profile_path, "Psy", "Night drive")
    assert stored == "Night drive"
    finder = Finder(opts.output_model, opts.output_index)  # reload: model, index and profile agree
    assert sorted(finder.cluster_names) == ["Night drive", "Uplifting"]
    assert {t["cluster"] for t in finder.tracks} == {"Night drive", "Uplifting"}
    assert "Night drive" in ReferenceProfile.load(result.profile_path).renamed
    # retrain after adding a track to that folder: the members mostly stay, so does the name
    tone_track(refs / "Psy" / "new.wav", 3, 99)
    opts, result = train(refs, out)
    finder = Finder(opts.output_model, opts.output_index)
    assert sorted(finder.cluster_names) == ["Night drive", "Uplifting"]
    assert sum(t["cluster"] == "Night drive" for t in finder.tracks) == 7
    # the folder is emptied into a new one: no match, the new folder's own name
    shutil.move(str(refs / "Psy"), str(refs / "Goa"))
    for f in list((refs / "Goa").iterdir())[:4]:
        f.unlink()
    opts, result = train(refs, out)
    assert sorted(Finder(opts.output_model, opts.output_index).cluster_names) == ["Goa", "Uplifting"]
