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

from trance_finder.core.audio import is_audio_file
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
    from trance_finder.paths import embedding_cache_dir

    return TrainOptions(
        references=args.references, output_model=args.output_model, output_index=args.output_index,
        profile=args.profile, labels_csv=args.labels, features=args.backbone, device=args.device,
        n_views=args.views, clusters=args.clusters, eval_folds=args.eval_folds,
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
    out = out or sys.stdout
    q = result.query
    print(f"Query: {Path(q.path).name}", file=out)
    print(f"  {q.duration:.1f} s, {q.lufs:.1f} LUFS, {q.dna.get('tempo', 0):.1f} BPM\n", file=out)
    print("Most Similar Reference Tracks:", file=out)
    for n in result.neighbours:
        print(f"  {n.rank:>2}. {Path(n.track['path']).name} (similarity: {n.similarity:.2f})"
              f"  {n.track.get('tempo', 0):.0f} BPM · {n.track.get('cluster', '')}", file=out)
    if result.cluster:
        print(f'\nCluster: "{result.cluster}" (confidence: {result.confidence:.2f})', file=out)


def cmd_similar(args) -> int:
    from trance_finder.core.engine import load_finder_or_explain
    from trance_finder.paths import default_embedding_cache

    finder = load_finder_or_explain(args.model, args.index, device=args.device, cache=None if args.no_cache else default_embedding_cache())
    result = finder.query(args.query, k=args.k)
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
    p.add_argument("--output-model", default=DEFAULT_MODEL)
    p.add_argument("--output-index", default=DEFAULT_INDEX)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--margin", type=float, default=d.margin)
    p.add_argument("--backbone", default=d.features,
                   help="musicnn, dsp, openl3, or several joined with + (default %(default)s)")
    p.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda"])
    p.add_argument("--views", type=int, default=d.n_views, help="augmented views per reference (default %(default)s)")
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
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--index", default=DEFAULT_INDEX)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--no-cache", action="store_true", help="do not cache the query's features")
    p.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    from trance_finder.core.extract import DEFAULT_FEATURES

    parser = argparse.ArgumentParser(prog="trance-finder", description=__doc__.splitlines()[0])
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


def main(argv: list[str] | None = None) -> int:
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
    try:
        return int(args.func(args) or 0)
    except Cancelled:
        print("Cancelled; previous model and index left unchanged.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\nInterrupted; previous model and index left unchanged.", file=sys.stderr)
        return 130
    except AudioLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TranceFinderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def train_main() -> int:
    return main(["train", *sys.argv[1:]])


def similar_main() -> int:
    return main(["similar", *sys.argv[1:]])


def gui_main() -> int:
    return main(["gui", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
