"""``trance-finder update``: bring the index up to date with the reference folder without retraining.

    trance-finder update [--references DIR] [--model M --index I] [--dry-run] [--json]

New files are analysed with the current model and added, removed ones dropped, moved ones recognised
by their content (not analysed again); the model and profile stay. Without --model/--index the app's
model is updated (your trained library, else the demo); without --references, the folder the model
was trained on.
"""

from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("update", help="add new references and drop removed ones without retraining",
                              description=__doc__.splitlines()[0].replace("``", ""))
    p.add_argument("--references", default=None,
                   help="reference folder (default: the folder the model was trained on)")
    p.add_argument("--model", default=None, help="model file (default: the app's model)")
    p.add_argument("--index", default=None, help="index file (default: the one saved with the model)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--dry-run", action="store_true", help="only say what changed; write nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from trance_finder.cli import ConsoleProgress, _drive, model_args
    from trance_finder.core.engine import load_finder_or_explain
    from trance_finder.core.library import scan, update_index
    from trance_finder.paths import default_embedding_cache

    model, index = model_args(args)
    finder = load_finder_or_explain(model, index, device=args.device, cache=default_embedding_cache())
    references = args.references or finder.model.meta.get("references")
    if not references:
        from trance_finder.errors import TranceFinderError

        raise TranceFinderError("the model does not record its reference folder: give --references DIR")
    diff = scan(references, finder.index)
    if args.dry_run:
        if args.json:
            print(json.dumps(diff.to_json(), indent=2))
        else:
            print(f"{references}: {diff.sentence}")
            for where, why in diff.problems:
                print(f"  not readable: {where}: {why}")
        return 0
    result = _drive(update_index(finder, model, index, references, diff), ConsoleProgress(quiet=args.json))
    if args.json:
        print(json.dumps({**diff.to_json(), "tracks": result.n_tracks, "analysed": result.analysed,
                          "saved": result.saved, "skipped": [{"path": p, "reason": r} for p, r in result.skipped],
                          "seconds": round(result.seconds, 2)}, indent=2))
        return 0
    if not result.saved:
        print(f"\nIndex up to date ({result.n_tracks} tracks): {diff.sentence}.")
        return 0
    print(f"\nIndex updated: {result.n_tracks} tracks ({diff.sentence}); {result.analysed} file(s) analysed "
          f"in {result.seconds:.1f} s.", file=sys.stdout)
    if result.skipped:
        print(f"{len(result.skipped)} file(s) skipped (see above).")
    print(f"Index saved to: {index}")
    return 0
