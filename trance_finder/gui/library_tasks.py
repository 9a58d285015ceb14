"""The library's background jobs, Qt-free (run in a worker, never on the UI thread): rescan the
reference folder into the loaded index without retraining, and save a cluster's new name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trance_finder.core.progress import CancelToken, Progress
from trance_finder.gui.tasks import LoadedModel


@dataclass
class RescanOutcome:
    diff: object  # core.library.LibraryDiff
    result: object | None  # core.library.UpdateResult, None when nothing changed
    loaded: LoadedModel | None  # the updated index with the same model; None when nothing was saved


def rescan_library(loaded: LoadedModel, references: str, cancel: CancelToken | None = None):
    """Generator: scan ``references`` against the loaded index; when something changed, analyse only
    the new and changed files with the current model, save the index as a new version of the model
    folder and open it (the model's extractor is reused: no backbone is loaded again)."""
    import dataclasses

    from trance_finder.core.engine import Finder
    from trance_finder.core.library import scan, update_index

    finder = loaded.finder
    yield Progress("scan", 0, 1, f"Scanning {references}")
    diff = scan(references, finder.index)
    if diff.is_empty:
        yield Progress("scan", 1, 1, diff.sentence, {"diff": diff.to_json()})
        return RescanOutcome(diff, None, None)
    result = yield from update_index(finder, loaded.model_path, loaded.index_path, references, diff, cancel)
    if not result.saved:
        return RescanOutcome(diff, result, None)
    yield Progress("load", 0, 1, "Opening the updated index")
    new = Finder(loaded.model_path, loaded.index_path, device=finder.device, extractor=finder.extractor)
    return RescanOutcome(diff, result, dataclasses.replace(loaded, finder=new))


def profile_path_of(loaded: LoadedModel) -> str:
    return str(Path(loaded.model_path).parent / "trance_profile.json")


def save_cluster_name(loaded: LoadedModel, old: str, new: str) -> str:
    """Save a cluster's new name in the profile, the model and the index (one set, core API)."""
    from trance_finder.core.engine import rename_cluster

    return rename_cluster(loaded.model_path, loaded.index_path, profile_path_of(loaded), old, new)
