"""The model folder is always whole: a kill after ANY single file operation of a save leaves the old
set or the new set loadable (never a mix), leftovers are cleaned on the next start, modes honour the
umask. Kills are real (a forked child ends with os._exit at the n-th operation: no cleanup runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from trance_finder.core import modelstore
from trance_finder.core.backbones import get_backbone
from trance_finder.core.engine import save_model_files
from trance_finder.core.head import EmbeddingModel, MusicEmbeddingNetwork, Standardizer, unit_rows
from trance_finder.core.index import SimilarityIndex
from trance_finder.core.profile import ReferenceProfile
from trance_finder.errors import ModelError

NAMES = ("embedding_model.pt", "similarity_index.faiss", "index_metadata.json", "trance_profile.json")
COUNTED = ("replace", "rename", "link", "unlink", "remove", "fsync", "mkdir", "rmdir", "symlink")


def make_set(tag: str, seed: int):
    import torch

    torch.manual_seed(seed)
    model = EmbeddingModel(MusicEmbeddingNetwork(8, 4), Standardizer(np.zeros(8, np.float32), np.ones(8, np.float32)),
                           {"embedding_dim": 4, "features": "dsp", "tag": tag,
                            "backbone_ids": {"dsp": get_backbone("dsp").id}})
    vectors = unit_rows(np.random.default_rng(seed).standard_normal((5 + seed, 4)))
    index = SimilarityIndex.build(vectors, [{"path": f"/r/{tag}{i}.wav"} for i in range(len(vectors))],
                                  {"model_fingerprint": model.fingerprint(), "features": "dsp", "tag": tag})
    profile = ReferenceProfile([f"cluster-{tag}"], [], {})
    return model, index, profile


def save(folder, tag, seed):
    model, index, profile = make_set(tag, seed)
    save_model_files(folder / NAMES[0], folder / NAMES[1], index, model=model, profile=profile,
                     profile_path=folder / NAMES[3])


def loaded_tag(folder) -> str:
    """Load the folder as the app does; the set must be whole (one tag everywhere)."""
    model = EmbeddingModel.load(folder / NAMES[0])
    index = SimilarityIndex.load(folder / NAMES[1])
    index.check_model(model.fingerprint(), "dsp")
    profile = ReferenceProfile.load(modelstore.resolve(folder / NAMES[3]).path)
    tags = {model.meta["tag"], index.meta["tag"], profile.clusters[0].split("-")[1]}
    assert len(tags) == 1, f"mixed set: {tags}"
    return tags.pop()


def save_killed_after(folder, n: int) -> int:
    """Fork; the child saves the 'new' set and dies (os._exit) right after its n-th file operation.
    Returns the child's exit status (0: the save finished before the n-th operation)."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            count = [0]

            def wrap(fn):
                def inner(*a, **k):
                    out = fn(*a, **k)
                    count[0] += 1
                    if count[0] == n:
                        os._exit(77)
                    return out
                return inner

            for name in COUNTED:
                setattr(os, name, wrap(getattr(os, name)))
            save(folder, "new", 2)
            os._exit(0)
        except BaseException:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def leftovers(folder) -> list[str]:
    pointer = modelstore.read_pointer(folder)
    keep = {pointer["current"]["id"], (pointer.get("previous") or {}).get("id")} if pointer else set()
    out = []
    for name in os.listdir(folder):
        if name.endswith(".tmp"):
            out.append(name)
        m = modelstore._VERSION_RE.match(name)
        if m and m.group("vid") not in keep:
            out.append(name)
    return out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to kill a save for real")
@pytest.mark.parametrize("start", ["versioned", "plain files of an older version"])
def test_kill_after_every_file_operation_leaves_a_whole_set(tmp_path, start):
    n, outcomes = 0, []
    while True:
        n += 1
        folder = tmp_path / f"kill{n}"
        folder.mkdir()
        if start == "versioned":
            save(folder, "old", 1)
        else:  # what earlier releases left: four plain files and no pointer
            model, index, profile = make_set("old", 1)
            model.save(folder / NAMES[0])
            index.save(folder / NAMES[1])
            profile.save(folder / NAMES[3])
        code = save_killed_after(folder, n)
        assert code in (0, 77), code
        tag = loaded_tag(folder)
        outcomes.append(tag)
        modelstore.clean(folder)  # what the next start does
        assert leftovers(folder) == [], (n, leftovers(folder))
        assert loaded_tag(folder) == tag  # cleaning never changes which set is current
        if code == 0:
            break
        assert n < 200
    assert outcomes[-1] == "new" and outcomes[0] == "old"
    assert n > 10  # the save really has that many single steps, every one of them was a kill point
    # once the pointer switched, every later kill point leaves the new set
    first_new = outcomes.index("new")
    assert all(t == "new" for t in outcomes[first_new:])
    folder = tmp_path / f"kill{n}"
    assert len(modelstore.versions(folder)) == 2  # the new one and the previous one
    for name in NAMES:  # the mirrors under the spec's names are the current files
        assert os.path.samefile(folder / name, modelstore.resolve(folder / name).path)


def test_versions_are_pruned_to_current_and_previous(tmp_path):
    for i in range(4):
        save(tmp_path, f"v{i}", i + 1)
    assert loaded_tag(tmp_path) == "v3"
    assert len(modelstore.versions(tmp_path)) == 2
    pointer = modelstore.read_pointer(tmp_path)
    assert pointer["previous"] is not None and pointer["current"]["files"] == sorted(NAMES)


def test_leftover_temp_files_of_a_dead_process_are_removed(tmp_path):
    save(tmp_path, "old", 1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    junk = [f".embedding_model.pt.{pid}-abc123.tmp", f".v1-{pid}.similarity_index.faiss"]
    for name in junk:
        (tmp_path / name).write_bytes(b"x" * 100)
    alive = f".embedding_model.pt.{os.getpid()}-zzz.tmp"  # a save of this (live) process: left alone
    (tmp_path / alive).write_bytes(b"x")
    removed = modelstore.clean(tmp_path)
    assert sorted(removed) == sorted(junk)
    assert (tmp_path / alive).exists() and not any((tmp_path / n).exists() for n in junk)
    assert loaded_tag(tmp_path) == "old"


def test_loading_cleans_what_a_killed_save_left(tmp_path):
    save(tmp_path, "old", 1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f".similarity_index.faiss.{int(dead.stdout)}-q1w2e3.tmp"
    leftover.write_bytes(b"partial")
    from trance_finder.core.engine import load_finder_or_explain

    finder = load_finder_or_explain(tmp_path / NAMES[0], tmp_path / NAMES[1])
    assert finder.model.meta["tag"] == "old" and len(finder.tracks) == 6
    assert not leftover.exists()


def test_saved_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        save(tmp_path, "a", 1)
    finally:
        os.umask(old)
    for name in [*NAMES, modelstore.POINTER_NAME]:
        assert (os.stat(tmp_path / name).st_mode & 0o777) == 0o644, name
    old = os.umask(0o077)
    try:
        save(tmp_path / "private", "b", 2)
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "private" / NAMES[0]).st_mode & 0o777) == 0o600


def test_a_file_the_user_put_under_a_name_is_used_as_it_is(tmp_path):
    save(tmp_path / "a", "a", 1)
    save(tmp_path / "b", "b", 2)
    # the user copies set b over set a by hand: the visible files win, and they form a whole set
    for name in NAMES:
        (tmp_path / "a" / name).unlink()
        (tmp_path / "a" / name).write_bytes((tmp_path / "b" / name).read_bytes())
    assert loaded_tag(tmp_path / "a") == "b"


def test_damaged_pointer_falls_back_to_the_visible_files(tmp_path):
    save(tmp_path, "a", 1)
    (tmp_path / modelstore.POINTER_NAME).write_text("{not json")
    assert loaded_tag(tmp_path) == "a"
    (tmp_path / modelstore.POINTER_NAME).write_text(json.dumps({"format": 1, "current": {"id": "x", "files": 3}}))
    assert loaded_tag(tmp_path) == "a"


def test_missing_set_says_so(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        EmbeddingModel.load(tmp_path / NAMES[0])
    assert not modelstore.exists(tmp_path / NAMES[0])
