"""Command line: ``trance-finder`` (no arguments or an audio file opens the app) and its subcommands.

    trance-finder profile  --references DIR --out models/trance_profile.json
    trance-finder train    --references DIR [--profile P] [--labels labels.csv] --output-model M --output-index I
    trance-finder similar  --query WIP --model M --index I [--k 10] [--json]
    trance-finder evaluate --references DIR [--labels labels.csv] [--folds 5] [--json]
    trance-finder demo     # synthetic demo library + trained model in the user data folder, then a query
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trance_finder.core.progress import CancelToken, Progress
from trance_finder.errors import AudioLoadError, Cancelled, TranceFinderError

DEFAULT_MODEL = "models/embedding_model.pt"
DEFAULT_INDEX = "models/similarity_index.faiss"


# -- progress display ------------------------------------------------------------------------------
class ConsoleProgress:
    """Turns Progress into the spec's console output: a bar for extraction, one line per epoch."""

    BAR_STAGES = ("extract", "synth")

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_stage = None
        self._last_decile = -1

    def _print(self, text: str = "") -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def __call__(self, p: Progress) -> None:
        if p.info.get("skipped"):
            self._end_bar()
            print(f"  skipped {p.info['skipped']}: {p.info['reason']}", file=sys.stderr, flush=True)
        if p.stage in self.BAR_STAGES:
            if p.done == 0:
                self._end_bar()
                self._print(f"{p.message}...")
                self._last_decile = -1
            else:
                self._last_stage = p.stage
                self._bar(p)
            return
        self._end_bar()
        if p.stage == "train":
            if p.done == 0:
                self._print("\nTraining embedding model...")
                self._print(f"  {p.message}")
            else:
                self._print(f"  {p.message}")
        elif p.stage == "evaluate":
            if p.info.get("epoch") is None:
                self._print(f"  {p.message}")
        elif p.message:
            self._print(f"\n{p.message}" if p.done == 0 else f"  {p.message}")

    def _bar(self, p: Progress) -> None:
        if self.quiet:
            return
        width = 20
        filled = int(width * p.fraction)
        text = f"  [{'█' * filled}{' ' * (width - filled)}] {p.done}/{p.total}"
        if self.tty:
            self.stream.write("\r" + text)
            self.stream.flush()
        else:
            decile = int(p.fraction * 10)
            if decile != self._last_decile or p.done == p.total:
                self._last_decile = decile
                self._print(text)
        if p.done == p.total:
            self._end_bar()

    def _end_bar(self) -> None:
        if self._last_stage in self.BAR_STAGES:
            if self.tty and not self.quiet:
                self.stream.write("\n")
            self._last_stage = None


def _drive(gen, show):
    from trance_finder.core.progress import run_to_end

    return run_to_end(gen, show)


# -- commands --------------------------------------------------------------------------------------
def _train_options(args):
    from trance_finder.core.engine import TrainOptions
    from trance_finder.core.extract import WindowPlan
    from trance_finder.core.training import TrainConfig
    from trance_finder.paths import embedding_cache_dir, user_model_dir

    output_model = getattr(args, "output_model", None) or str(user_model_dir() / "embedding_model.pt")
    output_index = getattr(args, "output_index", None) or str(Path(output_model).with_name("similarity_index.faiss"))
    return TrainOptions(
        references=args.references, output_model=output_model, output_index=output_index,
        profile=args.profile, labels_csv=args.labels, features=args.backbone, device=args.device,
        n_views=args.views, window_views=args.window_views, clusters=args.clusters, eval_folds=args.eval_folds,
        window_plan=WindowPlan(args.windows, args.window_seconds),
        train=TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, margin=args.margin,
                          seed=args.seed, identity_weight=args.identity_weight),
        cache_dir=args.cache_dir or str(embedding_cache_dir()))


def _fmt(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.2f}"


def print_evaluation(ev: dict, out=None) -> None:
    out = out or sys.stdout
    rows = [("in-sample", ev.get("in_sample", {}))]
    if "held_out" in ev:
        rows.append((f"held-out ({ev['held_out'].get('folds')} folds)", ev["held_out"]))
    print("\nEvaluating model...", file=out)
    if ev.get("label_sentence"):
        print(f"  Labels: {ev['label_sentence']}", file=out)
    if "summary" in ev:
        print(f"  {ev['summary']}", file=out)
    if "guard_sentence" in ev:
        print(f"  {ev['guard_sentence']}", file=out)
    for name, block in rows:
        ft, raw = block.get("finetuned", {}), block.get("raw", {})
        print(f"  {name:<22} Precision@5: {_fmt(ft.get('precision_at_5'))} (raw backbone {_fmt(raw.get('precision_at_5'))})"
              f"  Silhouette: {_fmt(ft.get('silhouette'))} ({_fmt(raw.get('silhouette'))})"
              f"  NMI: {_fmt(ft.get('nmi'))} ({_fmt(raw.get('nmi'))})", file=out)


def cmd_train(args) -> int:
    from trance_finder.core.engine import train_library

    show = ConsoleProgress(quiet=args.json)
    result = _drive(train_library(_train_options(args), CancelToken()), show)
    if args.json:
        print(json.dumps({"model": result.model_path, "index": result.index_path, "profile": result.profile_path,
                          "tracks": result.n_tracks, "labels": result.n_labels, "evaluation": result.evaluation,
                          "label_source": result.label_source, "head_in_use": result.head_in_use,
                          "skipped": [{"path": p, "reason": r} for p, r in result.skipped],
                          "loss_history": result.loss_history, "seconds": round(result.seconds, 2)}, indent=2))
        return 0
    print_evaluation(result.evaluation)
    if result.skipped:
        print(f"\n{len(result.skipped)} file(s) skipped (see above).")
    print(f"\nModel saved to: {result.model_path}")
    print(f"Index saved to: {result.index_path}")
    print(f"Profile saved to: {result.profile_path}")
    return 0


def cmd_profile(args) -> int:
    from trance_finder.core.audio import find_audio_files
    from trance_finder.core.extract import FeatureExtractor
    from trance_finder.core.profile import build_profile
    from trance_finder.paths import default_embedding_cache

    files = find_audio_files(Path(args.references).expanduser().resolve())
    cache = default_embedding_cache()
    extractor = FeatureExtractor(args.backbone, cache=cache)
    lib = _drive(extractor.extract_library(files), ConsoleProgress())
    if not lib.tracks:
        raise TranceFinderError("no usable tracks: nothing to profile")
    profile = build_profile(lib.tracks, k=args.clusters, backbone_names=extractor.names)
    profile.save(args.out)
    print(f"\nFound {len(profile.clusters)} clusters:")
    for name in profile.clusters:
        s = profile.summary[name]
        print(f"  {name:<32} {s['size']:>4} tracks  {s['tempo']:.1f} BPM  energy {s['energy_progression']:.2f}")
    print(f"\nProfile saved to: {args.out}")
    return 0


def print_query(result, out=None) -> None:
    from trance_finder.core.calibration import display_similarity

    out = out or sys.stdout
    q = result.query
    print(f"Query: {Path(q.path).name}", file=out)
    print(f"  {q.duration:.1f} s, {q.lufs:.1f} LUFS, {q.dna.get('tempo', 0):.1f} BPM\n", file=out)
    section = getattr(result, "section", None)
    print(f"Most Similar Reference Tracks{f' (your {section} against their {section}s)' if section else ''}:",
          file=out)
    for n in result.neighbours:
        note = "  (no " + section + ": whole track)" if section and n.section is None else ""
        print(f"  {n.rank:>2}. {Path(n.track['path']).name} (similarity: {display_similarity(n.similarity):.2f})"
              f"  {n.track.get('tempo', 0):.0f} BPM · {n.track.get('cluster', '')}{note}", file=out)
    if result.cluster:
        word = getattr(result, "confidence_word", "")
        how = (f"{word}, right {result.confidence:.0%} of the time at this score on references it had not trained on"
               if getattr(result, "calibrated", False) else f"{word or 'unsure'}, not calibrated")
        print(f'\nCluster: "{result.cluster}" (confidence: {how})', file=out)


def app_model_paths() -> tuple[str, str, str] | None:
    """The model the app uses: the library trained in the app (or by ``train`` without
    --output-model), else the demo. (model, index, what) or None when there is none yet."""
    from trance_finder import paths as app_paths
    from trance_finder.core import modelstore

    user = app_paths.user_model_dir()
    model, index = user / "embedding_model.pt", user / "similarity_index.faiss"
    if modelstore.exists(model) and modelstore.exists(index):
        return str(model), str(index), f"your trained library model ({user})"
    try:
        from trance_finder.demo import demo_paths, shipped_assets
    except ImportError:  # pragma: no cover
        return None
    demo = demo_paths()
    if modelstore.exists(demo["model"]) and modelstore.exists(demo["index"]):
        return demo["model"], demo["index"], f"the demo model ({Path(demo['model']).parent})"
    shipped = shipped_assets()
    if shipped:
        return shipped["model"], shipped["index"], "the demo model shipped with the app"
    return None


def model_args(args) -> tuple[str, str]:
    """--model/--index as given; a missing one from the other's folder; neither: the app's model
    (said on stderr, so --json output stays clean)."""
    model, index = getattr(args, "model", None), getattr(args, "index", None)
    if model and not index:
        index = str(Path(model).expanduser().with_name("similarity_index.faiss"))
    elif index and not model:
        model = str(Path(index).expanduser().with_name("embedding_model.pt"))
    if model and index:
        return model, index
    found = app_model_paths()
    if found is None:
        raise TranceFinderError("no model yet: train one (trance-finder train --references DIR), "
                                "build the demo (trance-finder demo), or give --model and --index")
    print(f"Using {found[2]}", file=sys.stderr)
    return found[0], found[1]


def cmd_similar(args) -> int:
    from trance_finder.core.engine import load_finder_or_explain
    from trance_finder.paths import default_embedding_cache

    model, index = model_args(args)
    finder = load_finder_or_explain(model, index, device=args.device, cache=None if args.no_cache else default_embedding_cache())
    result = finder.query(args.query, k=args.k, section=getattr(args, "section", None))
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_query(result)
    return 0


def cmd_evaluate(args) -> int:
    from trance_finder.core.report import run_evaluation

    report = _drive(run_evaluation(_train_options(args), args.report), ConsoleProgress(quiet=args.json))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_evaluation(report["evaluation"])
        print(f"\nReport saved to: {report['report_md']} and {report['report_json']}")
    return 0


def cmd_demo(args) -> int:
    from trance_finder.demo import demo_query_file, ensure_demo

    finder_paths = _drive(ensure_demo(device=args.device, rebuild=args.rebuild), ConsoleProgress())
    from trance_finder.core.engine import Finder
    from trance_finder.paths import default_embedding_cache

    finder = Finder(finder_paths["model"], finder_paths["index"], cache=default_embedding_cache())
    evaluation = finder.model.meta.get("evaluation")
    if evaluation:
        print_evaluation(evaluation)
    wip = demo_query_file()
    print(f"\nDemo library: {finder_paths['library']}")
    print(f"Querying with a synthetic WIP bounce (-9 dB, unmastered): {wip}\n")
    print_query(finder.query(wip, k=args.k))
    print("\nNext: open the app with `trance-finder` (or `trance-finder your_wip.wav`), or train on your "
          "own references: trance-finder train --references DIR")
    return 0


def cmd_gui(args) -> int:
    from trance_finder.gui.app import run_app

    return run_app(query=args.query)


def cmd_self_test(args) -> int:
    from trance_finder.selftest import run_self_test

    return run_self_test()


# -- parser ----------------------------------------------------------------------------------------
def _add_train_args(p) -> None:
    from trance_finder.settings import training_defaults

    d = training_defaults()  # the core dataclasses' defaults: no second copy of a number here

    p.add_argument("--references", required=True, help="folder of reference tracks (searched recursively)")
    p.add_argument("--profile", help="reference profile JSON (made and saved if missing)")
    p.add_argument("--labels", help="CSV with columns path,label: your own style tags")
    p.add_argument("--output-model", default=None,
                   help="model file to write (default: the app's model folder, so the app and similar use it)")
    p.add_argument("--output-index", default=None, help="index file to write (default: beside the model)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--margin", type=float, default=d.margin)
    p.add_argument("--backbone", default=d.features,
                   help="musicnn, vgg_msd, musicnn_mtt, vgg_mtt, dsp, openl3, or several joined with + "
                        "(default %(default)s)")
    p.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda"])
    p.add_argument("--views", type=int, default=d.n_views, help="augmented views per reference (default %(default)s)")
    p.add_argument("--window-views", type=int, default=d.window_views,
                   help="extra training rows per reference, each from a random quarter of its own windows (no extra "
                        "analysis; default %(default)s)")
    p.add_argument("--clusters", type=int, default=None, help="number of profile clusters (default: by silhouette)")
    p.add_argument("--eval-folds", type=int, default=d.eval_folds, help="held-out folds evaluated after training (0: skip)")
    p.add_argument("--windows", type=int, default=d.n_windows, help="windows embedded per track (default %(default)s)")
    p.add_argument("--window-seconds", type=float, default=d.window_seconds)
    p.add_argument("--identity-weight", type=float, default=d.identity_weight,
                   help="share of the raw backbone similarity in the index vectors (keeps copies of a track first)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--json", action="store_true")


def _add_similar_args(p) -> None:
    p.add_argument("--query", required=True, help="audio file to compare (your WIP)")
    p.add_argument("--model", default=None, help="model file (default: the app's model: your trained library, "
                   "else the demo)")
    p.add_argument("--index", default=None, help="index file (default: the one saved with the model)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--no-cache", action="store_true", help="do not cache the query's features")
    p.add_argument("--section", default=None, choices=["whole", "intro", "breakdown", "build", "drop", "outro"],
                   help="rank by this section of the WIP against the references' same sections (default: whole track)")
    p.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    from trance_finder.core.extract import DEFAULT_FEATURES

    parser = argparse.ArgumentParser(prog="trance-finder", description=__doc__.splitlines()[0].replace("``", ""))
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("profile", help="cluster the references into named styles")
    p.add_argument("--references", required=True)
    p.add_argument("--out", default="models/trance_profile.json")
    p.add_argument("--clusters", type=int, default=None)
    p.add_argument("--backbone", default=DEFAULT_FEATURES)
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("train", help="train the embedding model and build the index")
    _add_train_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("similar", help="rank the references by similarity to a WIP")
    _add_similar_args(p)
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("evaluate", help="held-out and in-sample retrieval quality, raw vs fine-tuned")
    _add_train_args(p)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--report", default="evaluation_report.md", help="markdown report path (JSON beside it)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="build the synthetic demo library and model, then run a query")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--k", type=int, default=10)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("gui", help="open the app")
    p.add_argument("query", nargs="?")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("self-test", help="check that this installation works end to end")
    p.set_defaults(func=cmd_self_test)

    from trance_finder.commands import register_all

    register_all(sub)
    return parser


# -- safe output ------------------------------------------------------------------------------------
_UNSAFE = {c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)} | {0x7F} | set(range(0x80, 0xA0)) | {
    0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069}


def safe_text(text: str) -> str:
    """Terminal control characters (escape codes in a track title, bidi overrides) shown as
    visible escapes instead of being obeyed by the terminal."""
    if not any(ord(ch) in _UNSAFE for ch in text):
        return text
    return "".join(ch if ord(ch) not in _UNSAFE else f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
                   for ch in text)


class SafeStream:
    """Wraps stdout/stderr: control characters escaped, and text the stream's encoding cannot hold
    (a cp1252 console, ``> out.txt`` on Windows, LC_ALL=C) replaced instead of raising."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text) -> int:
        text = safe_text(str(text))
        try:
            return self._stream.write(text)
        except UnicodeEncodeError:
            enc = getattr(self._stream, "encoding", None) or "ascii"
            return self._stream.write(text.encode(enc, "replace").decode(enc, "replace"))

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _interrupted_message(command: str, commits_before: int) -> str:
    from trance_finder.core import modelstore

    if command not in ("train", "update", "demo"):
        return "Interrupted."
    new = modelstore.COMMITS[commits_before:]
    if new:
        return f"Interrupted after the new model set was saved in {new[-1][0]} (it is complete and in use)."
    return "Interrupted; nothing was saved: the previous model and index are unchanged."


def main(argv: list[str] | None = None, exit_fast: bool | None = None) -> int:
    """Run the command line. ``exit_fast`` (default: when run as the console script, i.e. ``argv``
    is None) ends the process at once after Ctrl-C: the message first, then no slow interpreter
    shutdown (torch, faiss, threads), so the job is over within a second."""
    if exit_fast is None:
        exit_fast = argv is None
    out, err = sys.stdout, sys.stderr
    # (a windowed build has no streams at all: None stays None, print() then writes nothing)
    sys.stdout, sys.stderr = (None if s is None else SafeStream(s) for s in (out, err))
    try:
        code = _main(argv, exit_fast)
    except KeyboardInterrupt:  # while starting (imports, parsing): nothing had begun
        print("\nInterrupted before the job started; nothing was changed.", file=sys.stderr)
        if exit_fast:
            _exit_now(130)
        code = 130
    finally:
        sys.stdout, sys.stderr = out, err
    return code


def _main(argv, exit_fast: bool) -> int:
    from trance_finder.core.audio import is_audio_file

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("--self-test",):
        argv[0] = "self-test"
    if not argv or (len(argv) == 1 and not argv[0].startswith("-") and is_audio_file(argv[0])):
        argv = ["gui", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if args.command == "evaluate":
        args.eval_folds = args.folds
    from trance_finder.core import modelstore

    commits_before = len(modelstore.COMMITS)
    try:
        return int(args.func(args) or 0)
    except Cancelled:
        print(_interrupted_message(args.command, commits_before).replace("Interrupted", "Cancelled"), file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\n" + _interrupted_message(args.command, commits_before), file=sys.stderr)
        if exit_fast:
            _exit_now(130)
        return 130
    except AudioLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TranceFinderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file vanished or became unreadable mid-job: one line, no traceback
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


def _exit_now(code: int) -> None:
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def train_main() -> int:
    return main(["train", *sys.argv[1:]], exit_fast=True)


def similar_main() -> int:
    return main(["similar", *sys.argv[1:]], exit_fast=True)


def gui_main() -> int:
    return main(["gui", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
