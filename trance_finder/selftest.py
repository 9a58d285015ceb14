"""``TranceFinder --self-test``: check that this installation (a source checkout or the frozen app)
works end to end, without network and without touching the user's data.

Builds a tiny synthetic library in a temporary folder, trains a model on it for a few epochs, indexes
it, queries a library track (which must come back first), opens the main window for a moment
(offscreen when there is no display) and checks that the audio backend loads. Every user folder
(data, cache, logs, config) points into the temporary folder while it runs; the folder is removed
at the end (set ``TRANCE_FINDER_SELFTEST_KEEP=1`` to keep it).

Prints one line per step, ``[ OK ] step — detail (seconds)`` or ``[FAIL] step — reason (seconds)``
(``[SKIP]`` for a step that needs one that failed), then a summary line; the exit status is 0 only
when every step passed.

``TRANCE_FINDER_SELFTEST_FAIL=train,audio`` (or ``run_self_test(fail=...)``) makes the named steps
fail on purpose, to check that a failure is reported and turns the exit status non-zero.
Step keys: bundle, folders, numeric, backbone, synth, augment, train, query, gui, audio.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

FAIL_ENV = "TRANCE_FINDER_SELFTEST_FAIL"
KEEP_ENV = "TRANCE_FINDER_SELFTEST_KEEP"
USER_DIR_VARS = {"data": "TRANCE_FINDER_DATA_DIR", "cache": "TRANCE_FINDER_CACHE_DIR",
                 "logs": "TRANCE_FINDER_LOG_DIR", "config": "TRANCE_FINDER_CONFIG_DIR"}

#: the synthetic library: 3 clearly different families x 3 tracks of 8 s at 22.05 kHz
FAMILIES = ("uplifting", "psy", "balearic")
N_PER_FAMILY = 4  # 12 tracks: at least engine.MIN_TRACKS_FOR_STYLES, so the styles are trained
SECONDS = 8.0
SAMPLE_RATE = 22050
EPOCHS = 3
GUI_SECONDS = 0.5  # how long the main window stays up, processing events
GUI_MODEL_SECONDS = 120.0  # how long the main window may take to open the trained model

#: files a user's training writes into models/: must never ship inside the app
USER_MODEL_FILES = ("embedding_model.pt", "similarity_index.faiss", "index_metadata.json", "trance_profile.json")


class StepFailure(Exception):
    """A step's check did not hold; the message is the reason shown on the step's line."""


@dataclass
class StepResult:
    key: str
    title: str
    status: str  # "OK", "FAIL", "SKIP"
    detail: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == "OK"

    def line(self) -> str:
        tag = {"OK": "[ OK ]", "FAIL": "[FAIL]", "SKIP": "[SKIP]"}[self.status]
        return f"{tag} {self.title} — {self.detail} ({self.seconds:.1f} s)"


@dataclass
class Context:
    """What the steps share: the temp folder and what earlier steps produced."""

    root: Path
    fail: frozenset[str]
    features: str = "dsp"
    library: Path | None = None
    tracks: list[Path] = field(default_factory=list)
    model: Path | None = None
    index: Path | None = None


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    run: Callable[[Context], str]
    needs: tuple[str, ...] = ()


# -------------------------------------------------------------------------------------------- steps
def _step_bundle(ctx: Context) -> str:
    from trance_finder import paths

    base = paths.bundle_dir()
    if not base.is_dir():
        raise StepFailure(f"bundle folder {base} does not exist")
    models = paths.bundled_model_path()
    shipped = sorted(p.name for p in models.iterdir() if p.is_file()) if models.is_dir() else []
    resources = paths.resource_path()
    n_res = sum(1 for p in resources.rglob("*") if p.is_file()) if resources.is_dir() else 0
    if paths.is_frozen():
        if getattr(sys, "_MEIPASS", None) is None or Path(sys._MEIPASS).resolve() != base.resolve():
            raise StepFailure(f"frozen, but bundle_dir() = {base} is not sys._MEIPASS")
        if not shipped:
            raise StepFailure(f"no models/ folder in the bundle ({models})")
        leaked = [n for n in shipped if n in USER_MODEL_FILES]
        if leaked:
            raise StepFailure(f"user-trained files shipped in the bundle's models/: {', '.join(leaked)}")
    where = "frozen app" if paths.is_frozen() else "source checkout"
    from trance_finder.demo import shipped_assets

    demo = "shipped" if shipped_assets() else "none shipped (built at first start)"
    return f"{where}, bundle {base}; models/: {len(shipped)} files; resources/: {n_res} files; demo: {demo}"


def _step_folders(ctx: Context) -> str:
    import platformdirs

    from trance_finder import paths

    got = {"data": paths.user_data_dir(), "cache": paths.user_cache_dir(), "logs": paths.user_log_dir(),
           "config": paths.user_config_dir()}
    root = ctx.root.resolve()
    outside = [f"{k}={v}" for k, v in got.items() if root not in Path(v).resolve().parents]
    if outside:
        raise StepFailure(f"user folders not redirected to the temp folder: {', '.join(outside)}")
    app_default = platformdirs.user_data_dir(paths.APP_NAME, paths.APP_AUTHOR)
    return f"data, cache, logs, config -> {root} (the app's own data folder would be {app_default})"


def _step_numeric(ctx: Context) -> str:
    import faiss
    import numpy as np
    import scipy
    import sklearn
    import torch

    from trance_finder.core.device import describe_devices

    x = torch.randn(64, 32)
    y = (x @ x.T).diag()
    if not torch.allclose(y, (x * x).sum(1), rtol=1e-4, atol=1e-4):
        raise StepFailure("torch matmul gives wrong numbers")
    v = np.random.default_rng(0).standard_normal((20, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(16)
    index.add(v)
    _, ids = index.search(v[3:4], 1)
    if int(ids[0, 0]) != 3:
        raise StepFailure("faiss search does not find a vector's own row")
    return (f"numpy {np.__version__}, scipy {scipy.__version__}, torch {torch.__version__} "
            f"({describe_devices()}), faiss {faiss.__version__}, scikit-learn {sklearn.__version__}")


def _step_backbone(ctx: Context) -> str:
    from trance_finder import paths
    from trance_finder.core.backbones import availability
    from trance_finder.core.extract import DEFAULT_FEATURES, parse_feature_set

    status = {name: availability(name) for name in parse_feature_set(DEFAULT_FEATURES)}
    missing = [f"{name}: {why}" for name, (ok, why) in status.items() if not ok]
    if not missing:
        ctx.features = DEFAULT_FEATURES
        return f"weights found: training on the default features {DEFAULT_FEATURES}"
    reason = "; ".join(missing)
    if paths.is_frozen():
        raise StepFailure(f"a bundled backbone of the default features is unusable: {reason}")
    ctx.features = "dsp"
    return f"default features unavailable ({reason}): training on dsp features only"


def _step_synth(ctx: Context) -> str:
    import soundfile as sf

    from trance_finder import synth
    from trance_finder.core.progress import run_to_end

    ctx.library = ctx.root / "library"
    made = run_to_end(synth.make_library(ctx.library, n_per_family=N_PER_FAMILY, families=list(FAMILIES),
                                         seconds=SECONDS, sr=SAMPLE_RATE))
    ctx.tracks = sorted(Path(p) for p, _style in made)
    if len(ctx.tracks) != N_PER_FAMILY * len(FAMILIES) or not all(p.is_file() for p in ctx.tracks):
        raise StepFailure(f"expected {N_PER_FAMILY * len(FAMILIES)} wav files, got {len(ctx.tracks)}")
    info = sf.info(str(ctx.tracks[0]))
    return (f"{len(ctx.tracks)} tracks ({', '.join(FAMILIES)}), {info.duration:.0f} s at {info.samplerate} Hz, "
            f"written with libsndfile {sf.__libsndfile_version__}")


def _step_augment(ctx: Context) -> str:
    import numpy as np

    from trance_finder.core.augment import AudioAugmenter

    aug = AudioAugmenter()
    for t in aug.augment.transforms:  # apply every transform (each has p < 1 in the app)
        t.p = 1.0
    aug.augment.p = 1.0
    sr = SAMPLE_RATE
    t = np.arange(2 * sr) / sr
    x = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)]).astype(np.float32) * 0.3
    y = aug(x, sr, seed=2)
    if y.ndim != 2 or y.shape[0] != 2 or y.shape[1] < sr or not np.isfinite(y).all():
        raise StepFailure(f"augmented audio looks wrong: shape {y.shape}")
    params = {type(t).__name__: t.parameters for t in aug.augment.transforms}
    skipped = [name for name, p in params.items() if not p.get("should_apply")]
    if skipped:
        raise StepFailure(f"transforms not applied: {', '.join(skipped)}")
    stretch = params.get("TimeStretch", {}).get("rate", float("nan"))
    pitch = params.get("PitchShift", {}).get("num_semitones", float("nan"))
    return (f"{', '.join(params)} on a 2 s stereo clip (stretch x{stretch:.3f}, pitch {pitch:+.1f} st) "
            f"-> {y.shape[1] / sr:.2f} s")


def _step_train(ctx: Context) -> str:
    from trance_finder.core.engine import TrainOptions, train_library
    from trance_finder.core.progress import run_to_end
    from trance_finder.core.training import TrainConfig

    out = ctx.root / "model"
    # only the speed knobs are set here (few epochs, no folds); every other number is the
    # core dataclasses' default, the same one the CLI and the panel show (trance_finder.settings)
    opts = TrainOptions(references=str(ctx.library), output_model=str(out / "embedding_model.pt"),
                        output_index=str(out / "similarity_index.faiss"), features=ctx.features,
                        eval_folds=0, train=TrainConfig(epochs=EPOCHS), cache_dir=str(ctx.root / "embeddings"))
    result = run_to_end(train_library(opts))
    ctx.model, ctx.index = Path(result.model_path), Path(result.index_path)
    if not (ctx.model.is_file() and ctx.index.is_file()):
        raise StepFailure("training finished but the model or index file is missing")
    if result.n_tracks != len(ctx.tracks):
        raise StepFailure(f"{result.n_tracks} of {len(ctx.tracks)} tracks used; skipped: {result.skipped}")
    if not result.loss_history or result.n_labels < 2:
        raise StepFailure(f"nothing was trained ({result.n_labels} labels, {len(result.loss_history)} epochs): "
                          "the library's labels.csv and sub-folders were not used")
    loss = result.loss_history[-1]
    if not math.isfinite(loss):
        raise StepFailure(f"training ended with a loss of {loss}")
    return (f"{result.n_tracks} tracks, {result.n_labels} labels, {len(result.loss_history)} epochs on "
            f"{ctx.features}, last loss {loss:.3f}; model + index written")


def _step_query(ctx: Context) -> str:
    from trance_finder.core.engine import Finder

    finder = Finder(ctx.model, ctx.index)
    target = ctx.tracks[0]
    result = finder.query(target)
    if not result.neighbours:
        raise StepFailure("the query returned no neighbours")
    first = result.neighbours[0]
    if Path(first.track["path"]).resolve() != target.resolve():
        raise StepFailure(f"querying {target.name} ranked {Path(first.track['path']).name} first "
                          f"(similarity {first.similarity:.3f}), not itself")
    return (f"{target.name} -> itself first (similarity {first.similarity:.3f}) of {len(result.neighbours)}, "
            f"cluster {result.cluster!r}, {result.seconds:.2f} s")


def _has_display() -> bool:
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _pick_window(made):
    from PySide6.QtWidgets import QWidget

    if isinstance(made, QWidget):
        return made
    for item in made if isinstance(made, (tuple, list)) else ():
        if isinstance(item, QWidget):
            return item
    raise StepFailure(f"create_main_window returned {type(made).__name__}, not a window")


def _step_gui(ctx: Context) -> str:
    t0 = time.perf_counter()
    if not os.environ.get("QT_QPA_PLATFORM") and not _has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        from PySide6 import QtCore
        from PySide6.QtWidgets import QApplication
    except Exception as exc:  # noqa: BLE001 - the reason is the report
        raise StepFailure(f"Qt (PySide6) could not be loaded: {type(exc).__name__}: {exc}") from exc
    try:
        from trance_finder.gui.app import create_main_window
    except Exception as exc:  # noqa: BLE001
        raise StepFailure(f"the GUI module trance_finder.gui.app could not be imported: "
                          f"{type(exc).__name__}: {exc}") from exc
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "TranceFinder"])
    window = _pick_window(create_main_window(model_path=str(ctx.model), index_path=str(ctx.index), use_demo=False))
    model: dict[str, object] = {}
    if hasattr(window, "modelLoaded"):  # the window opens the model in a worker: wait for it
        window.modelLoaded.connect(lambda loaded: model.setdefault("loaded", loaded))
        window.modelFailed.connect(lambda message: model.setdefault("failed", message))
    else:
        model["loaded"] = None
    try:
        window.show()
        app.processEvents()
        ready = time.perf_counter() - t0  # Qt + GUI modules imported, window built and shown
        deadline = time.monotonic() + GUI_SECONDS
        model_deadline = time.monotonic() + GUI_MODEL_SECONDS
        while time.monotonic() < deadline or (not model and time.monotonic() < model_deadline):
            app.processEvents()
            time.sleep(0.02)
        if "failed" in model:
            raise StepFailure(f"the main window could not open the trained model: {model['failed']}")
        if not model:
            raise StepFailure(f"the main window did not open the trained model within {GUI_MODEL_SECONDS:.0f} s")
        if not window.isVisible():
            raise StepFailure("the main window did not become visible")
        title = window.windowTitle()
        loaded = model["loaded"]
        tracks = len(loaded.finder.tracks) if loaded is not None else None
    finally:
        window.close()
        window.deleteLater()
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)
        app.processEvents()
    return (f"{type(window).__name__} {title!r} shown on Qt {QtCore.qVersion()}, platform {app.platformName()!r}, "
            f"window ready in {ready:.2f} s" + (f", model with {tracks} references loaded" if tracks else ""))


def _step_audio(ctx: Context) -> str:
    try:
        import sounddevice as sd
    except Exception as exc:  # noqa: BLE001 - PortAudio missing shows up here (OSError)
        raise StepFailure(f"sounddevice / PortAudio could not be loaded: {type(exc).__name__}: {exc}") from exc
    version = sd.get_portaudio_version()[1]
    try:
        out = sd.query_devices(kind="output")
        where = f"default output: {out['name']} ({int(out['default_samplerate'])} Hz)"
    except Exception:  # noqa: BLE001 - no device is a fact about the machine, not a broken install
        where = "no output device on this machine (playback will say so; OK)"
    return f"sounddevice {sd.__version__}, {version}; {where}"


STEPS: tuple[Step, ...] = (
    Step("bundle", "bundle", _step_bundle),
    Step("folders", "user folders", _step_folders),
    Step("numeric", "numeric stack", _step_numeric),
    Step("backbone", "backbone", _step_backbone),
    Step("synth", "synthetic library", _step_synth),
    Step("augment", "augmentation", _step_augment),
    Step("train", "train + index", _step_train, needs=("synth",)),
    Step("query", "query", _step_query, needs=("train",)),
    Step("gui", "main window", _step_gui, needs=("train",)),
    Step("audio", "audio backend", _step_audio),
)
STEP_KEYS = tuple(s.key for s in STEPS)


# ------------------------------------------------------------------------------------------- driver
@contextlib.contextmanager
def redirected_user_dirs(root: Path):
    """Point every user folder env override into ``root``; restore the previous values after."""
    saved = {var: os.environ.get(var) for var in (*USER_DIR_VARS.values(), "QT_QPA_PLATFORM")}
    try:
        for name, var in USER_DIR_VARS.items():
            os.environ[var] = str(root / "user" / name)
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _parse_fail(fail: str | Iterable[str] | None) -> frozenset[str]:
    if fail is None:
        fail = os.environ.get(FAIL_ENV, "")
    if isinstance(fail, str):
        fail = fail.replace(";", ",").split(",")
    return frozenset(f.strip() for f in fail if f and f.strip())


def _run_step(step: Step, ctx: Context, results: dict[str, StepResult]) -> StepResult:
    missing = [n for n in step.needs if not results.get(n) or not results[n].ok]
    if missing:
        return StepResult(step.key, step.title, "SKIP", f"not run: needs {', '.join(missing)}", 0.0)
    t0 = time.perf_counter()
    try:
        if step.key in ctx.fail:
            raise StepFailure(f"injected failure ({FAIL_ENV}={','.join(sorted(ctx.fail))})")
        detail = step.run(ctx)
        status = "OK"
    except StepFailure as exc:
        status, detail = "FAIL", str(exc)
    except Exception as exc:  # noqa: BLE001 - any error is this step's failure, the others still run
        status = "FAIL"
        where = traceback.extract_tb(exc.__traceback__)[-1]
        detail = f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
    return StepResult(step.key, step.title, status, detail, time.perf_counter() - t0)


def _output_stream():
    """stdout, or on a windowed Windows build the console of the shell that started it (if any)."""
    if sys.stdout is not None:
        return sys.stdout
    if sys.platform == "win32":
        try:
            import ctypes

            if ctypes.windll.kernel32.AttachConsole(-1):  # ATTACH_PARENT_PROCESS
                return open("CONOUT$", "w", encoding="utf-8", errors="replace")  # noqa: SIM115
        except Exception:  # noqa: BLE001
            pass
    return None


def _write(stream, text: str, also: list[str]) -> None:
    also.append(text)
    if stream is None:
        return
    try:
        stream.write(text + "\n")
    except UnicodeEncodeError:
        stream.write(text.encode("ascii", "replace").decode("ascii").replace("?", "-") + "\n")
    stream.flush()


def _save_report(lines: list[str]) -> str | None:
    """Without any console (windowed app started from a file manager): the report goes to the log folder."""
    try:
        import platformdirs

        from trance_finder.paths import APP_AUTHOR, APP_NAME

        folder = Path(os.environ.get(USER_DIR_VARS["logs"]) or platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "self-test.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(path)
    except OSError:
        return None


def run_steps(fail: str | Iterable[str] | None = None, stream=None, keep: bool | None = None,
              workdir: str | os.PathLike | None = None) -> list[StepResult]:
    """Run every step, writing each line as it finishes; returns the results."""
    fail_set = _parse_fail(fail)
    unknown = sorted(fail_set - set(STEP_KEYS))
    keep = bool(os.environ.get(KEEP_ENV)) if keep is None else keep
    root = Path(tempfile.mkdtemp(prefix="trance-finder-selftest-", dir=workdir))
    lines: list[str] = []
    results: dict[str, StepResult] = {}
    t_all = time.perf_counter()
    from trance_finder import __version__ as app_version

    frozen = "frozen" if getattr(sys, "frozen", False) else "not frozen"
    _write(stream, f"Trance Finder {app_version} self-test ({frozen}, Python {platform.python_version()}, "
                   f"{platform.system()} {platform.machine()})", lines)
    if unknown:
        _write(stream, f"  note: unknown step(s) in {FAIL_ENV}: {', '.join(unknown)} (known: {', '.join(STEP_KEYS)})",
               lines)
    try:
        with redirected_user_dirs(root):
            ctx = Context(root=root, fail=fail_set)
            for step in STEPS:
                res = _run_step(step, ctx, results)
                results[step.key] = res
                _write(stream, res.line(), lines)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    bad = [r for r in results.values() if not r.ok]
    total = time.perf_counter() - t_all
    where = f"temp folder kept: {root}" if keep else "temp folder removed"
    if bad:
        _write(stream, f"self-test FAILED: {len(bad)} of {len(results)} steps not OK "
                       f"({', '.join(r.key for r in bad)}) in {total:.1f} s; {where}", lines)
    else:
        _write(stream, f"self-test passed: {len(results)}/{len(results)} steps OK in {total:.1f} s; {where}", lines)
    if stream is None:
        _save_report(lines)
    return list(results.values())


def run_self_test(argv: list[str] | None = None, *, fail: str | Iterable[str] | None = None, stream=None,
                  keep: bool | None = None, workdir: str | os.PathLike | None = None) -> int:
    """Entry point of ``trance-finder --self-test``: 0 when every step passed, 1 otherwise."""
    results = run_steps(fail=fail, stream=stream if stream is not None else _output_stream(), keep=keep,
                        workdir=workdir)
    return 0 if results and all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(run_self_test())
