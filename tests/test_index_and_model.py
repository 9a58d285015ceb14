import numpy as np
import pytest
import torch

from trance_finder.core.head import EmbeddingModel, MusicEmbeddingNetwork, Standardizer, unit_rows
from trance_finder.core.index import SimilarityIndex, metadata_path
from trance_finder.core.interpolate import blend, toward
from trance_finder.core.map2d import layout, place
from trance_finder.errors import IndexMismatchError, ModelError


def clustered(n=300, d=32, groups=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((groups, d))
    labels = rng.integers(0, groups, n)
    return unit_rows(centres[labels] + 0.3 * rng.standard_normal((n, d))), labels


@pytest.mark.parametrize("exact", [True, False])
def test_search_returns_cosines_best_first(exact):
    X, _ = clustered()
    idx = SimilarityIndex.build(X, [{"path": f"t{i}"} for i in range(len(X))], exact=exact)
    assert idx.meta["kind"] == ("flat" if exact else "hnsw")
    hits = idx.search(X[5], k=10)
    assert hits[0][0] == 5 and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    sims = [s for _, s in hits]
    assert sims == sorted(sims, reverse=True) and all(-1.0001 <= s <= 1.0001 for s in sims)
    exact_top = set(np.argsort(-(X @ X[5]))[:10])
    assert len(exact_top & {i for i, _ in hits}) >= 9


def test_save_load_roundtrip_and_metadata(tmp_path):
    X, _ = clustered(50)
    tracks = [{"path": f"/refs/t{i}.wav", "title": f"t{i}"} for i in range(50)]
    idx = SimilarityIndex.build(X, tracks, {"model_fingerprint": "abc", "features": "dsp"})
    path = tmp_path / "similarity_index.faiss"
    idx.save(path)
    assert metadata_path(path).name == "index_metadata.json"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    loaded = SimilarityIndex.load(path)
    assert loaded.tracks == tracks and len(loaded) == 50
    np.testing.assert_allclose(loaded.vectors(), X, atol=1e-6)
    loaded.check_model("abc", "dsp")
    with pytest.raises(IndexMismatchError, match="another model"):
        loaded.check_model("zzz", "musicnn")


def test_damaged_index_is_refused(tmp_path):
    path = tmp_path / "similarity_index.faiss"
    path.write_bytes(b"garbage")
    (tmp_path / "index_metadata.json").write_text('{"tracks": []}')
    with pytest.raises(ModelError, match="not a readable FAISS index"):
        SimilarityIndex.load(path)


def _model(dim=20):
    torch.manual_seed(0)
    X = np.random.default_rng(1).standard_normal((30, dim)).astype(np.float32)
    std = Standardizer.fit(X, [12, 8])
    return EmbeddingModel(MusicEmbeddingNetwork(dim, 16), std, {"embedding_dim": 16, "identity_weight": 0.3,
                                                                "features": "a+b"}), X


def test_model_roundtrip_is_pickle_free(tmp_path):
    model, X = _model()
    path = tmp_path / "embedding_model.pt"
    model.save(path)
    loaded = EmbeddingModel.load(path)  # torch.load(weights_only=True) inside
    np.testing.assert_allclose(loaded.embed(X), model.embed(X), atol=1e-6)
    assert loaded.fingerprint() == model.fingerprint()
    out = loaded.embed(X)
    assert out.shape == (30, 16 + 20)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_model_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"meta_json": "{}", "state_dict": {}, "x": Evil()}, path)
    with pytest.raises(ModelError, match="not a Trance Finder model"):
        EmbeddingModel.load(path)
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ModelError):
        EmbeddingModel.load(tmp_path / "junk.pt")
    with pytest.raises(ModelError, match="not found"):
        EmbeddingModel.load(tmp_path / "missing.pt")


def test_standardizer_balances_blocks():
    rng = np.random.default_rng(0)
    X = np.hstack([rng.standard_normal((200, 100)) * 50, rng.standard_normal((200, 4))])
    Z = Standardizer.fit(X, [100, 4])(X)
    assert Z[:, :100].var(axis=0).sum() == pytest.approx(Z[:, 100:].var(axis=0).sum(), rel=1e-3)


def test_blend_and_toward():
    a, b = np.eye(4, dtype=np.float32)[:2]
    assert blend(np.stack([a, b]), [1, 0]) @ a == pytest.approx(1.0)
    mid = blend(np.stack([a, b]), [1, 1])
    assert mid @ a == pytest.approx(mid @ b) and np.linalg.norm(mid) == pytest.approx(1.0)
    half = toward(a, b, 0.5)
    assert half @ a == pytest.approx(np.cos(np.pi / 4), abs=1e-5)
    assert toward(a, b, 0) @ a == pytest.approx(1.0) and toward(a, b, 1) @ b == pytest.approx(1.0)


def test_map_layout_keeps_groups_and_places_queries():
    X, labels = clustered(120, 32, 4)
    xy = layout(X)
    assert xy.shape == (120, 2) and np.abs(xy).max() <= 1.0 + 1e-6
    p = place(X[0], X, xy)
    same = xy[labels == labels[0]].mean(axis=0)
    others = [xy[labels == g].mean(axis=0) for g in range(4) if g != labels[0]]
    assert np.linalg.norm(p - same) < min(np.linalg.norm(p - o) for o in others)


def test_files_saved_together_change_together(tmp_path, monkeypatch):
    from trance_finder.core.atomic import atomic_paths

    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_text("old a")
    b.write_text("old b")
    with pytest.raises(RuntimeError):
        with atomic_paths(a, b) as (ta, tb):
            ta.write_text("new a")
            raise RuntimeError("crash before the second file was written")
    assert a.read_text() == "old a" and b.read_text() == "old b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.bin"]  # no temp files left
    with atomic_paths(a, b) as (ta, tb):
        ta.write_text("new a")
        tb.write_text("new b")
    assert a.read_text() == "new a" and b.read_text() == "new b"


def test_embedding_cache_has_a_size_cap_and_evicts_the_least_recently_used(tmp_path):
    import os
    import time

    from trance_finder.core.cache import EmbeddingCache

    key = {"kind": "embedding", "backbone": "x"}
    probe = EmbeddingCache(tmp_path / "probe", max_bytes=None)
    probe.put("00probe", key, {"v": np.zeros(2500, np.float32)})
    entry = probe.size_bytes()
    cache = EmbeddingCache(tmp_path / "c", max_bytes=int(entry * 5.5))
    base = time.time() - 1000
    for i in range(5):
        fp = f"{i:02d}" + "f" * 38
        cache.put(fp, key, {"v": np.full(2500, i, np.float32)})
        os.utime(cache._path(fp, key), (base + i, base + i))  # a clear order of use
    assert cache.size_bytes() == 5 * entry and cache.get("00" + "f" * 38, key) is not None  # a hit: used now
    cache.put("05" + "f" * 38, key, {"v": np.full(2500, 5, np.float32)})  # over the cap: evict
    assert cache.size_bytes() <= cache.max_bytes
    present = [i for i in range(6) if cache.get(f"{i:02d}" + "f" * 38, key) is not None]
    assert 0 in present and 5 in present and 1 not in present  # the least recently used went first
    assert float(cache.get("05" + "f" * 38, key)["v"][0]) == 5.0
    import subprocess
    import sys

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    leftover = cache._path("05" + "f" * 38, key).parent / f".x.npz.{dead}-abc.tmp"  # a killed run's
    leftover.write_bytes(b"x" * 5000)
    cache.evict(cache.max_bytes)
    assert not leftover.exists()
    unlimited = EmbeddingCache(tmp_path / "u", max_bytes=None)
    for i in range(8):
        unlimited.put(f"{i:02d}" + "e" * 38, key, {"v": np.zeros(2500, np.float32)})
    assert unlimited.size_bytes() == 8 * entry
