"""``trance-finder compare``: what separates a WIP's mix from its references, as a table and in words.

    trance-finder compare --query WIP [--model M --index I] [--against top5|topN|PATH|CLUSTER]
                          [--section drop|whole|LABEL] [--json]

Target (``--against``): the top 5 neighbours of the ranked list (default; ``top3``, ``top10``... work
too), one reference file (a path; it need not be in the index), or every reference of a cluster or a
label. Section (``--section``): the WIP's drops against the references' drops by default, the whole
track when the WIP has no drop (said so); ``whole`` or any section label.

Reference statistics come from the index records (``track["mix"] = {"whole": MixStats json, "drop":
..., label: ...}``, stored by training). A record without them (an index trained before mix statistics
existed) is measured from its audio file here, and the output says how many were.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from trance_finder.errors import TranceFinderError


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="compare your WIP's mix with your references "
                              "(tonal balance, loudness, dynamics, stereo width)")
    p.add_argument("--query", required=True, help="audio file of your WIP")
    p.add_argument("--model", default=None, help="model file (default: the app's model)")
    p.add_argument("--index", default=None, help="index file (default: the one saved with the model)")
    p.add_argument("--against", default="top5",
                   help="top5 (default), topN, a reference audio file, or a cluster or label name")
    p.add_argument("--section", default="drop",
                   help="drop (default; the whole track when your WIP has no drop), whole, or a section label")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--no-cache", action="store_true", help="do not cache the query's features")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def parse_against(text: str) -> tuple[str, object]:
    """("top", k) for top5/topN, ("path", Path) for an existing file, else ("group", name)."""
    m = re.fullmatch(r"top\s*(\d*)", text.strip().lower())
    if m:
        k = int(m.group(1) or 5)
        if k < 1:
            raise TranceFinderError("--against topN needs N >= 1")
        return "top", k
    p = Path(text).expanduser()
    if p.is_file():
        return "path", p
    return "group", text.strip()


def run(args) -> int:
    from trance_finder.cli import model_args
    from trance_finder.core import compare as cmp
    from trance_finder.core.engine import load_finder_or_explain
    from trance_finder.paths import default_embedding_cache

    query = Path(args.query).expanduser()
    if not query.is_file():
        raise TranceFinderError(f"--query {args.query}: file not found")
    kind, what = parse_against(args.against)
    model, index = model_args(args)
    finder = load_finder_or_explain(model, index, device=args.device,
                                    cache=None if args.no_cache else default_embedding_cache())
    tracks = finder.tracks
    notes: list[str] = []
    tempo = None
    refs: list[tuple[str, dict | None]] = []  # (path, index record or None)
    if kind == "top":
        result = finder.query(str(query), k=int(what))
        tempo = result.query.dna.get("tempo") if result.query is not None else None
        refs = [(n.track["path"], n.track) for n in result.neighbours]
        target = f"the top {len(refs)} neighbours" if len(refs) > 1 else "the nearest reference"
    elif kind == "path":
        real = os.path.realpath(str(what))
        rec = next((t for t in tracks if os.path.realpath(str(t.get("path", ""))) == real), None)
        refs = [(str(what), rec)]
        target = Path(str(what)).name
    else:
        name = str(what).lower()
        refs = [(t["path"], t) for t in tracks
                if str(t.get("cluster", "")).lower() == name or str(t.get("label", "")).lower() == name]
        if not refs:
            groups = sorted({str(t.get(k)) for t in tracks for k in ("cluster", "label") if t.get(k)})
            raise TranceFinderError(f"--against {what!r}: not top5/topN, not a file, and no cluster or label of "
                                    f"that name (known: {', '.join(groups[:20]) or 'none'})")
        target = f'the {len(refs)} references in "{what}"'

    wip_sections, wip_mix = _wip_structure(finder, query, tempo)
    tempo = tempo or getattr(wip_sections, "tempo", None)
    for st in wip_mix.values():
        if st.tempo is None and tempo:
            st.tempo = float(tempo)

    ref_mixes, names, measured, missing = [], [], 0, []
    for path, rec in refs:
        mix = cmp.record_mix(rec) if rec else None
        if mix is None:
            if not Path(path).is_file():
                missing.append(Path(path).name)
                continue
            _secs, mix = cmp.file_structure(path, tempo=(rec or {}).get("tempo"))
            measured += 1
        ref_mixes.append(mix)
        names.append(Path(path).name)
    if measured:
        notes.append(f"measured {measured} reference(s) from their audio: this index stores no mix statistics "
                     "for them (re-train to store them)")
    if missing:
        notes.append(f"skipped {len(missing)} reference(s) whose file is gone: {', '.join(missing[:5])}")
    if not ref_mixes:
        raise TranceFinderError("no reference to compare with (their files are gone and the index stores no "
                                "mix statistics)")
    res = cmp.compare_mixes(wip_mix, ref_mixes, args.section or "drop", query.name, names)
    res.notes.extend(notes)
    if args.json:
        out = res.to_json()
        out.update({"query": str(query), "against": args.against, "target": target,
                    "references": [p for p, _ in refs]})
        print(json.dumps(out, indent=2))
    else:
        print_result(res, query.name, target, [p for p, _ in refs])
    return 0


def _wip_structure(finder, query: Path, tempo):
    """(sections, {label: MixStats}) of the WIP: through the Finder when it offers it (cached, one decode
    shared with section queries), else one decode here."""
    from trance_finder.core import compare as cmp

    analyse = getattr(finder, "analyse_structure", None)
    if analyse is not None:
        return analyse(str(query))
    return cmp.file_structure(str(query), tempo=tempo)


def _fmt(v, spec: str = "{:+.1f}") -> str:
    return "  n/a" if v is None else spec.format(v)


def print_result(res, query_name: str, target: str, refs: list[str], out=None) -> None:
    out = out or sys.stdout
    w = lambda s="": print(s, file=out)  # noqa: E731
    w(f"Compare: {query_name} ({res.section}) against {target}")
    for i, p in enumerate(refs[:10], 1):
        w(f"  {i:>2}. {Path(p).name}")
    if len(refs) > 10:
        w(f"      ... and {len(refs) - 10} more")
    w()
    w("Tonal balance (dB relative to the total)        WIP    target   target range")
    for b in res.bands:
        name = f"{b['name'][0].upper()}{b['name'][1:]} ({_hz_range(b)})"
        flag = "  <-- " + ("high" if (b["outside"] or 0) > 0 else "low") if b["outside"] else ""
        w(f"  {name:<44}{_fmt(b['wip_db'], '{:6.1f}')}  {_fmt(b['target_db'], '{:6.1f}')}   "
          f"{_fmt(b['target_lo_db'], '{:6.1f}')} .. {_fmt(b['target_hi_db'], '{:.1f}')}{flag}")
    w()
    w("Loudness and dynamics                            WIP    target   target range")
    names = {"lufs": "Integrated loudness (LUFS)", "short_term_max": "Short-term max, 3 s (LUFS)",
             "lra": "Loudness range (LU)", "true_peak": "True peak (dBTP)", "plr": "PLR (dB)"}
    L = res.loudness
    for k, label in names.items():
        w(f"  {label:<44}{_fmt(L['wip'][k], '{:6.1f}')}  {_fmt(L['target'][k], '{:6.1f}')}   "
          f"{_fmt(L['target_lo'][k], '{:6.1f}')} .. {_fmt(L['target_hi'][k], '{:.1f}')}")
    w()
    w("Stereo width (side/mid energy)                   WIP    target   target range")
    for s in res.stereo:
        name = f"{s['name'][0].upper()}{s['name'][1:]} ({_hz_range(s)})"
        flag = "  <-- " + ("wide" if (s["outside"] or 0) > 0 else "narrow") if s["outside"] else ""
        w(f"  {name:<44}{_fmt(s['wip_width'], '{:6.2f}')}  {_fmt(s['target_width'], '{:6.2f}')}   "
          f"{_fmt(s['target_lo'], '{:6.2f}')} .. {_fmt(s['target_hi'], '{:.2f}')}{flag}")
    c = res.correlation
    w(f"  {'Correlation (L/R)':<44}{_fmt(c['wip'], '{:6.2f}')}  {_fmt(c['target'], '{:6.2f}')}   "
      f"{_fmt(c['target_lo'], '{:6.2f}')} .. {_fmt(c['target_hi'], '{:.2f}')}")
    if res.tempo.get("wip") or res.tempo.get("target"):
        w(f"  {'Tempo (BPM)':<44}{_fmt(res.tempo.get('wip'), '{:6.1f}')}  {_fmt(res.tempo.get('target'), '{:6.1f}')}")
    w()
    if res.differences:
        w("Largest differences:")
        for i, d in enumerate(res.differences, 1):
            w(f"  {i}. {d.text}")
    else:
        w("No measure sits outside your references' range.")
    w()
    w(res.summary)
    for n in res.notes:
        w(f"Note: {n}")


def _hz_range(row: dict) -> str:
    from trance_finder.core.mixstats import hz_range

    return hz_range(row["lo_hz"], row["hi_hz"])
