"""Add, remove and move references without retraining; the result equals a full index rebuild with
the same model; moved files are recognised by content and never analysed again."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from trance_finder import cli, synth
from trance_finder.core import modelstore
from trance_finder.core.audio import scan_audio_files
from trance_finder.core.engine import TrainOptions, load_finder_or_explain, train_library
from trance_finder.core.extract import FeatureExtractor
from trance_finder.core.library import LibraryDiff, content_id, scan, update_index
from trance_finder.core.progress import run_to_end
from trance_finder.core.training import TrainConfig


@pytest.fixture(scope="module")
def trained(small_library, shared_cache, tmp_path_factory):
    base = tmp_path_factory.mktemp("live_library")
    refs = base / "refs"
    shutil.copytree(small_library, refs)
    out = base / "model"
    opts = TrainOptions(references=str(refs), output_model=str(out / "embedding_model.pt"),
                        output_index=str(out / "similarity_index.faiss"), features="dsp", n_views=0,
                        eval_folds=0, train=TrainConfig(epochs=2), cache_dir=str(shared_cache))
    run_to_end(train_library(opts))
    return refs, opts


def render(path, family, seed, seconds=12.0, sr=22050):
    style = synth.sample_style(family, np.random.default_rng(seed), seed=seed)
    audio = synth.render_track(style, seconds, sr)
    sf.write(str(path), np.asarray(audio).T, sr, subtype="PCM_16")
    return str(path)


def test_update_adds_removes_moves_and_equals_a_rebuild(trained, tmp_path):
    refs, opts = trained
    model_path, index_path = opts.output_model, opts.output_index
    before = load_finder_or_explain(model_path, index_path)
    assert all("content_id" in t for t in before.tracks)  # training records the content ids
    model_fp = before.model.fingerprint()

    files = sorted(str(p) for p in scan_audio_files(refs).files)
    gone, mover = files[0], files[5]
    os.unlink(gone)
    (refs / "moved here").mkdir()
    moved_to = str(refs / "moved here" / os.path.basename(mover))
    os.rename(mover, moved_to)
    added = [render(refs / "new_a.wav", "psy", 901), render(refs / "progressive" / "new_b.wav", "progressive", 902)]

    diff = scan(refs, before.index)
    assert sorted(diff.new) == sorted(added)
    assert [before.tracks[i]["path"] for i in diff.removed] == [gone]
    assert [(before.tracks[i]["path"], p) for i, p in diff.moved] == [(mover, moved_to)]
    assert diff.changed == [] and diff.n_changes == 3

    analysed = []
    real = before.extractor.analyse_file

    def counting(path, *a, **k):
        analysed.append(str(path))
        return real(path, *a, **k)

    before.extractor.analyse_file = counting
    result = run_to_end(update_index(before, model_path, index_path, refs, diff))
    assert result.saved and result.analysed == 2 and result.n_tracks == 21
    assert sorted(analysed) == sorted(added)  # the moved file was not analysed again

    after = load_finder_or_explain(model_path, index_path)
    assert after.model.fingerprint() == model_fp  # no retraining
    assert after.index.meta["changed_since_training"] == 3

    # a full rebuild: every file of the folder analysed from scratch (no cache) with the same model
    now = [str(p) for p in scan_audio_files(refs).files]
    fresh = FeatureExtractor("dsp", plan=after.extractor.plan, cache=None)
    rebuilt = after.model.embed(np.stack([fresh.analyse_file(p).joined(fresh.names) for p in now]))
    assert [t["path"] for t in after.tracks] == now  # same tracks, same order
    np.testing.assert_allclose(after.vectors, rebuilt, atol=2e-5)
    for q in rebuilt[[0, 7, 20]]:
        assert [i for i, _ in after.index.search(q, 5)] == list(np.argsort(-(rebuilt @ q))[:5])
    for t, p in zip(after.tracks, now):
        track = fresh.analyse_file(p)
        assert t["duration"] == round(track.duration, 2) and t["tempo"] == round(float(track.dna["tempo"]), 1)
        assert t["content_id"] == content_id(p)
    moved_rec = after.tracks[now.index(moved_to)]
    assert moved_rec["title"] == os.path.splitext(os.path.basename(moved_to))[0]
    assert {after.tracks[now.index(p)]["cluster"] for p in added} <= set(after.cluster_names)

    # nothing changed now: a second update writes nothing
    again = run_to_end(update_index(after, model_path, index_path, refs))
    assert not again.saved and again.diff.is_empty
    assert len(modelstore.versions(os.path.dirname(model_path))) == 2


def test_changed_content_at_the_same_path_is_analysed_again(trained, tmp_path):
    refs, opts = trained
    finder = load_finder_or_explain(opts.output_model, opts.output_index)
    target = finder.tracks[3]["path"]
    render(target, "balearic", 777)  # another track under the same name
    diff = scan(refs, finder.index)
    assert [finder.tracks[i]["path"] for i in diff.changed] == [target] and not diff.new and not diff.removed
    result = run_to_end(update_index(finder, opts.output_model, opts.output_index, refs, diff))
    assert result.analysed == 1
    after = load_finder_or_explain(opts.output_model, opts.output_index)
    fresh = FeatureExtractor("dsp", plan=after.extractor.plan, cache=None)
    want = after.model.embed(fresh.analyse_file(target).joined(fresh.names)[None, :])[0]
    got = after.vectors[[t["path"] for t in after.tracks].index(target)]
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_cli_update_and_dry_run(trained, capsys):
    refs, opts = trained
    render(refs / "cli_new.wav", "uplifting", 4242)
    args = ["update", "--references", str(refs), "--model", opts.output_model, "--index", opts.output_index]
    assert cli.main([*args, "--dry-run"]) == 0
    assert "1 new" in capsys.readouterr().out
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "Index updated:" in out and "1 new" in out and "1 file(s) analysed" in out
    assert cli.main(args) == 0
    assert "Index up to date" in capsys.readouterr().out


def test_retrain_suggested_sentence():
    d = LibraryDiff("/refs", 20, new=["a", "b", "c"], removed=[4], n_trained=20)
    assert d.sentence == "3 new, 1 removed, retrain suggested (20% of the library changed since training)"
    assert d.retrain_suggested
    small = LibraryDiff("/refs", 215, new=["a", "b", "c"], removed=[4], n_trained=215)
    assert small.sentence == "3 new, 1 removed" and not small.retrain_suggested
    piled = LibraryDiff("/refs", 215, new=["a"], changed_before=50, n_trained=215)
    assert piled.retrain_suggested  # changes of earlier updates count too
    assert LibraryDiff("/refs", 5, moved=[(1, "x")]).sentence == "1 moved"
    assert LibraryDiff("/refs", 5).sentence == "no changes"


# -- filters for the ranked list (core/filters.py) ----------------------------------------------------
def test_version_key_collapses_edits_and_extended_mixes_not_remixes():
    from trance_finder.core.filters import version_key

    same = ["Artist - Skyline (Extended Mix)", "Artist - Skyline [Radio Edit]", "01 - Artist - Skyline",
            "artist  -  skyline (original mix)", "Artist - Skyline - Extended Mix", "Artist_-_Skyline (Edit)",
            "A1 Artist - Skyline (Extended Mix) [Remastered]", "Artist - Skylíne (Club Mix)"]
    assert len({version_key(t) for t in same}) == 1, {version_key(t) for t in same}
    assert version_key("Artist - Skyline (Someone Remix)") != version_key("Artist - Skyline")
    assert version_key("Artist - Skyline 2") != version_key("Artist - Skyline")
    assert version_key("(Extended Mix)") != ""  # a title that is only a marker keeps a key


def test_rank_filter_tempo_cluster_label_exclude_and_collapse():
    from trance_finder.core.filters import RankFilter, facet_values, tempo_range

    recs = [
        {"path": "/refs/Uplifting/A - Sky (Extended Mix).wav", "title": "A - Sky (Extended Mix)", "tempo": 138.0,
         "cluster": "Bright", "label": "uplifting"},
        {"path": "/refs/Uplifting/A - Sky (Radio Edit).wav", "title": "A - Sky (Radio Edit)", "tempo": 138.0,
         "cluster": "Bright", "label": "uplifting"},
        {"path": "/refs/Psy/B - Forest.wav", "title": "B - Forest", "tempo": 145.0, "cluster": "Dark", "label": "psy"},
        {"path": "/refs/Bootlegs/C - Rain.wav", "title": "C - Rain", "tempo": 132.0, "cluster": "Bright"},
        {"path": "/refs/Progressive/D - Sky (Extended Mix).wav", "title": "D - Sky (Extended Mix)", "tempo": 130.0,
         "cluster": "Deep", "label": "prog"},
    ]
    order = [1, 4, 0, 2, 3]  # ranked: the radio edit first
    assert [r.position for r in RankFilter().apply(order, recs)] == order
    assert not RankFilter().active and RankFilter(collapse_versions=True).active
    assert [r.position for r in RankFilter(tempo_min=131, tempo_max=140).apply(order, recs)] == [1, 0, 3]
    assert [r.position for r in RankFilter(clusters=frozenset({"Bright"})).apply(order, recs)] == [1, 0, 3]
    assert [r.position for r in RankFilter(labels=frozenset({"psy", "prog"})).apply(order, recs)] == [4, 2]
    assert [r.position for r in RankFilter(exclude=("bootlegs",)).apply(order, recs)] == [1, 4, 0, 2]  # folder
    assert [r.position for r in RankFilter(exclude=("FOREST", " ")).apply(order, recs)] == [1, 4, 0, 3]  # title
    rows = RankFilter(collapse_versions=True).apply(order, recs)
    assert [(r.position, r.versions) for r in rows] == [(1, [0]), (4, []), (2, []), (3, [])]  # best version shown
    from trance_finder.core.filters import FilterTable

    table = FilterTable.of(recs)
    for f in (RankFilter(tempo_min=131, exclude=("sky",)), RankFilter(collapse_versions=True, clusters=frozenset({"Bright"}))):
        assert [(r.position, r.versions) for r in f.apply(order, recs, table)] == \
            [(r.position, r.versions) for r in f.apply(order, recs)]
    assert [r.position for r in RankFilter(tempo_min=120).apply([0, 1], [{"path": "x"}, {"tempo": 125.0}])] == [1]
    assert tempo_range(recs) == (130.0, 145.0) and tempo_range([{}]) is None
    assert facet_values(recs, "cluster") == [("Bright", 3), ("Dark", 1), ("Deep", 1)]
