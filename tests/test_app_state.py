"""AppState without a display: intents in, callbacks out, stale results dropped in one place."""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

from trance_finder.app_state import AppState


class Handle:
    def __init__(self, name, job, on_progress, on_result, on_error, on_cancel):
        self.name, self.job = name, job
        self.on_progress, self.on_result, self.on_error, self.on_cancel = on_progress, on_result, on_error, on_cancel
        self.cancelled = False

    def cancel(self):
        self.cancelled = True

    def finish(self):
        """Run the job now (as the worker would) and hand back its result."""
        value = self.job(SimpleNamespace(cancelled=self.cancelled))
        if hasattr(value, "__next__"):
            try:
                while True:
                    p = next(value)
                    if self.on_progress:
                        self.on_progress(p)
            except StopIteration as stop:
                value = stop.value
        self.on_result(value)

    def fail(self, message):
        self.on_error(message)


class ManualRunner:
    """Jobs wait until the test finishes them, in any order."""

    def __init__(self):
        self.handles: list[Handle] = []

    def run(self, name, job, on_progress, on_result, on_error, on_cancel):
        h = Handle(name, job, on_progress, on_result, on_error, on_cancel)
        self.handles.append(h)
        return h

    def last(self, name) -> Handle:
        return [h for h in self.handles if h.name == name][-1]


def fake_finder(n=5):
    tracks = [{"path": f"/lib/refs/t{i}.wav", "title": f"Artist {i} - Track {i}"} for i in range(n)]
    return SimpleNamespace(tracks=tracks)


def loaded(n=5, kind="user"):
    return SimpleNamespace(finder=fake_finder(n), kind=kind, references="/lib")


def outcome(path, top=(2, 0), lufs=-18.4, windows=8):
    neighbours = [SimpleNamespace(position=p) for p in top]
    query = SimpleNamespace(lufs=lufs)
    return SimpleNamespace(path=path, result=SimpleNamespace(neighbours=neighbours, query=query), n_windows=windows)


def audio(path, lufs=-15.0):
    return SimpleNamespace(path=path, lufs=lufs, is_current=lambda p, q=path: str(p) == q)


class Jobs:
    def run_query(self, finder, path, k, cancel):
        return outcome(path)

    def decode_for_playback(self, path, rate, channels):
        return audio(path)


def make_state():
    runner = ManualRunner()
    state = AppState(runner, Jobs())
    events = []
    state.subscribe(lambda e, p: events.append(e))
    return state, runner, events


def ready(state, runner, model=None):
    model = model or loaded()
    state.open_model(lambda cancel: model)
    runner.last("startup").finish()
    return model


def test_imports_without_qt():
    code = "import sys, trance_finder.app_state, trance_finder.settings; " \
           "print(any(m.startswith(('PySide6', 'torch')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_late_query_result_for_an_older_wip_is_dropped():
    state, runner, events = make_state()
    ready(state, runner)
    state.open_wip("/w/first.wav")
    first = runner.last("query")
    state.open_wip("/w/second.wav")
    second = runner.last("query")
    assert first.cancelled  # a newer drop cancels the older analysis
    second.finish()
    first.finish()  # arrives late: dropped at the gate
    assert state.wip.path == "/w/second.wav" and state.wip.outcome.path == "/w/second.wav"
    assert state.dropped == 1


def test_a_new_wip_clears_the_previous_results_at_once():
    state, runner, events = make_state()
    ready(state, runner)
    state.open_wip("/w/first.wav")
    runner.last("query").finish()
    runner.last("decode-wip").finish()
    assert state.wip.outcome is not None and state.wip.audio is not None
    state.open_wip("/w/second.wav")
    assert state.wip.status == "analysing" and state.wip.outcome is None and state.wip.audio is None
    assert state.wip.loudness() == (None, False, 0)


def test_a_rejected_file_clears_results_and_says_what_to_do():
    state, runner, events = make_state()
    ready(state, runner)
    state.open_wip("/w/ok.wav")
    runner.last("query").finish()
    state.open_wip("/w/broken.wav")
    runner.last("query").fail("Format not recognised: broken.wav")
    assert state.wip.status == "failed" and state.wip.outcome is None and state.wip.audio is None
    assert "WAV, AIFF or FLAC" in state.wip.error
    ok = state.open_wip("/w/notes.txt", is_audio=lambda p: p.endswith(".wav"))
    assert not ok and state.wip.status == "failed" and "re-export" in state.wip.error.lower()


def test_loudness_is_an_estimate_until_the_whole_file_is_decoded():
    state, runner, events = make_state()
    ready(state, runner)
    state.open_wip("/w/long.wav")
    runner.last("query").finish()
    assert state.wip.loudness() == (-18.4, False, 8)
    runner.last("decode-wip").finish()
    value, exact, _ = state.wip.loudness()
    assert exact and math.isclose(value, -15.0)


def test_a_new_model_makes_every_older_request_stale():
    state, runner, events = make_state()
    ready(state, runner)
    state.open_wip("/w/a.wav")
    runner.last("query").finish()  # selects the top reference and decodes it
    ref_job = runner.last("decode-reference")
    old_query_count = len([h for h in runner.handles if h.name == "query"])
    state.set_model(loaded(3))  # a trained model arrives
    ref_job.finish()  # decoded for the previous model: dropped
    assert state.reference_audio is None and state.selected is None
    # the WIP is analysed again against the new model
    assert len([h for h in runner.handles if h.name == "query"]) == old_query_count + 1
    assert state.wip.status == "analysing"


def test_a_late_startup_job_never_replaces_a_trained_model():
    state, runner, events = make_state()
    state.open_model(lambda cancel: loaded(5, "demo"))
    startup = runner.last("startup")
    trained = loaded(3)
    state.set_model(trained)
    assert startup.cancelled
    startup.finish()
    startup.fail("stale failure")
    assert state.loaded is trained and state.model_status == "ready" and state.dropped == 2


def test_a_wip_dropped_before_the_model_waits_for_it():
    state, runner, events = make_state()
    state.open_model(lambda cancel: loaded())
    state.open_wip("/w/early.wav")
    assert state.pending_wip == "/w/early.wav" and not [h for h in runner.handles if h.name == "query"]
    runner.last("startup").finish()
    assert state.wip.status == "analysing"
    runner.last("query").finish()
    assert state.wip.status == "done" and state.selected == 2


def test_selection_sets_the_compare_target_and_reuses_decoded_references():
    state, runner, events = make_state()
    ready(state, runner)
    state.select(1)
    runner.last("decode-reference").finish()
    assert state.target == 1 and state.reference_audio.path == "/lib/refs/t1.wav"
    state.select(3)
    slow = runner.last("decode-reference")
    state.select(1)  # cached: shown at once, the slow decode of 3 is now stale
    assert state.reference_audio.path == "/lib/refs/t1.wav"
    slow.finish()
    assert state.reference_audio.path == "/lib/refs/t1.wav" and state.target == 1
    state.select(99)  # unknown position: ignored
    assert state.selected == 1
    assert "selection" in events and "reference_audio" in events


def test_blend_results_for_a_previous_model_are_dropped():
    state, runner, events = make_state()
    ready(state, runner)
    ticket = state.blend_ticket()
    state.set_model(loaded(4))
    assert not state.blend_result(ticket, "old blend")
    fresh = state.blend_ticket()
    assert state.blend_result(fresh, "new blend") and state.blend == "new blend"


def test_paths_are_shown_relative_to_the_library():
    state, runner, events = make_state()
    ready(state, runner)
    assert state.display_path(2) == "refs/t2.wav"


def test_settings_keys_are_typed():
    from trance_finder.settings import Keys

    class Store(dict):
        def value(self, k, default=None):
            return self.get(k, default)

        def setValue(self, k, v):  # noqa: N802
            self[k] = str(v) if not isinstance(v, str) else v

        def contains(self, k):
            return k in self

    s = Store()
    assert Keys.results_limit.get(s) == 10 and Keys.play_on_click.get(s) is False
    Keys.results_limit.set(s, 17)
    Keys.play_on_click.set(s, True)
    Keys.explore_anchors.set(s, [["cluster", "Psy", 40], ["track", 3, 60]])
    assert Keys.results_limit.get(s) == 17 and Keys.play_on_click.get(s) is True
    assert Keys.explore_anchors.get(s) == [["cluster", "Psy", 40], ["track", 3, 60]]
    s["results/limit"] = "garbage"
    assert Keys.results_limit.get(s) == 10  # a damaged value falls back to the default


def test_training_defaults_come_from_the_core_dataclasses():
    from trance_finder.cli import build_parser
    from trance_finder.core.engine import TrainOptions
    from trance_finder.core.training import TrainConfig
    from trance_finder.settings import training_defaults

    d = training_defaults()
    assert (d.epochs, d.batch_size, d.lr, d.margin) == (TrainConfig.epochs, TrainConfig.batch_size, TrainConfig.lr,
                                                        TrainConfig.margin)
    assert (d.n_views, d.eval_folds) == (TrainOptions.n_views, TrainOptions.eval_folds)
    args = build_parser().parse_args(["train", "--references", "x"])
    assert (args.epochs, args.batch_size, args.lr, args.margin, args.views, args.eval_folds) == (
        d.epochs, d.batch_size, d.lr, d.margin, d.n_views, d.eval_folds)


def test_results_on_their_way_when_the_window_closes_reach_nobody():
    state, runner, events = make_state()
    ready(state, runner)
    state.open_wip("/w/a.wav")
    runner.last("query").finish()  # starts the WIP's decode and the top reference's decode
    wip, ref = runner.last("decode-wip"), runner.last("decode-reference")
    heard = len(events)
    state.close()  # the window is going; Qt may delete its widgets before these queued results arrive
    assert wip.cancelled and ref.cancelled
    wip.finish()
    ref.finish()
    assert len(events) == heard and state.dropped == 2
