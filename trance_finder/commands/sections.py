"""``trance-finder sections FILE [--json]``: the song sections of one audio file.

Plain output is a table (section, start and end in m:ss.s and bars, length in bars, loudness).
``--json`` prints one object, sections in time order::

    {"path": ..., "tempo": BPM, "bar_seconds": s, "first_downbeat": s, "duration": s,
     "sections": [{"label": "intro|breakdown|build|drop|outro", "index": 1, "name": "drop 1",
                   "start": s, "end": s, "start_bar": n, "end_bar": n, "lufs": x}, ...]}

``end_bar`` is exclusive (the bar the next section starts in). The file is decoded block by block
(``audio.iter_blocks``) into the streaming ``SectionAnalyzer``, so a 30-minute mix costs bounded memory.
"""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("sections", help="show the sections of a track (intro, breakdown, build, drop, outro)")
    p.add_argument("file", help="audio file")
    p.add_argument("--tempo", type=float, default=None, help="tempo in BPM, if known (refined by up to 0.4 %%)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def analyse_file(path, tempo: float | None = None):
    """TrackSections of an audio file, streamed block by block."""
    from trance_finder.core.audio import audio_info, iter_blocks
    from trance_finder.core.sections import SectionAnalyzer

    info = audio_info(path)
    an = SectionAnalyzer(info.sample_rate)
    for _start, block in iter_blocks(path, info=info):
        an.add(block)
    return an.finish(tempo)


def _clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60.0)
    return f"{int(m)}:{s:04.1f}"


def format_table(path: str, ts) -> str:
    lines = [f"{Path(path).name}: {ts.tempo:.2f} BPM, {_clock(ts.duration)}, "
             f"{len(ts.sections)} section{'s' if len(ts.sections) != 1 else ''} (bar 1 at {ts.first_downbeat:.2f} s)",
             f"  {'section':<13} {'start':>7} {'end':>7}  {'bars':>9} {'length':>7} {'LUFS':>6}"]
    for s in ts.sections:
        lufs = "-" if s.lufs is None else f"{s.lufs:.1f}"
        bars = f"{s.start_bar}-{s.end_bar - 1}" if s.end_bar - 1 > s.start_bar else f"{s.start_bar}"
        lines.append(f"  {s.name:<13} {_clock(s.start):>7} {_clock(s.end):>7}  {bars:>9} {s.bars:>4} b. {lufs:>6}")
    return "\n".join(lines)


def to_json(path: str, ts) -> dict:
    d = ts.to_json()
    sections = []
    for s, j in zip(ts.sections, d["sections"]):
        sections.append({**j, "name": s.name})
    return {"path": str(path), "tempo": d["tempo"], "bar_seconds": round(d["bar_seconds"], 6),
            "first_downbeat": round(d["first_downbeat"], 4), "duration": round(d["duration"], 4),
            "sections": sections}


def run(args) -> int:
    ts = analyse_file(args.file, args.tempo)
    if args.json:
        print(json.dumps(to_json(args.file, ts)))
    else:
        print(format_table(args.file, ts))
    return 0
