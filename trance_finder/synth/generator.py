"""Seeded synthetic trance: short tracks whose style is known, for tests, benchmarks and the demo library.

No real music ships with the app, so everything that needs "reference tracks" uses these. A track is
rendered from a :class:`TrackStyle` (family label, bpm, key, brightness, energy, groove, palette, seed);
the same style gives bit-identical audio.

Song structure (sections on bar lines, see :func:`track_sections`)::

    intro (kick, hats, bass) | breakdown (no kick: chords/pads, arp, maybe a riser)
    | build (gated/opening chords, snare roll, noise riser) | drop (everything, sidechain pumping)

Style families (``STYLE_FAMILIES``) differ in *sound* the way trance subgenres do. Neighbours on
purpose: uplifting/hard, progressive/tech, psy/acid, vocal/balearic, so retrieval is not trivial.

============  =========  ======  ======  ============  ==============  ===================================
family        bpm        bright  energy  groove        palette         character
============  =========  ======  ======  ============  ==============  ===================================
uplifting     138-140    0.75    0.80    offbeat       supersaw        wide bright supersaws, offbeat bass
hard          148-150    0.86    0.90    offbeat/str.  supersaw        distorted kick, harsh wide supersaws
progressive   128-132    0.40    0.55    rolling       pluck           dark plucks + delay, rolling bass
tech          134-138    0.28    0.70    straight/rol  square/fm       dark dry stabs, driving 16th bass
psy           142-146    0.60    0.85    rolling       acid/fm         K-B-B-B bass, squelchy acid riffs
acid          135-140    0.50    0.70    straight/off  acid            resonant 303-like saw bass line
vocal         136-138    0.45    0.45    offbeat       pad/supersaw    soft pads, formant "vocal" pad, reverb
balearic      122-126    0.32    0.30    swing         pluck/pad       soft swung plucks, shaker, reverb
============  =========  ======  ======  ============  ==============  ===================================

Within a family each track draws its own key (12), bpm in range, brightness/energy jittered (+-0.08)
around the centre, a chord progression (minor, e.g. i-VI-III-VII), note patterns and sound-design
details, so two tracks of a family are different songs of the same style.

The seed drives two independent streams: the *song* (progression, voicings, patterns, melody) and the
*sound details* (detune, decays, cutoff and level jitter, noise). :func:`render_wip` keeps the song and
redraws the details, mixes without bus compression and sits ``gain_db`` lower: an "unmastered WIP".

Everything is vectorised with numpy/scipy (notes rendered once into buffers and placed); only
time-varying filters (acid squelch, riser sweep) loop over short blocks. Mono-centred kick and bass,
wide supersaws. Mastered output is about -9 LUFS integrated, peak <= 0.99.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from trance_finder.core.atomic import atomic_path, write_bytes, write_json
from trance_finder.core.audio import integrated_lufs
from trance_finder.core.progress import Progress

__all__ = [
    "FAMILIES",
    "PROGRESSIONS",
    "STYLE_FAMILIES",
    "Section",
    "StyleFamily",
    "TrackStyle",
    "benchmark_library",
    "demo_library",
    "integrated_loudness",
    "make_library",
    "render_track",
    "render_wip",
    "sample_style",
    "track_sections",
]

MASTER_LUFS = -9.0
KEY_LOW = 50  # keys are drawn from D3 (50) .. C#4 (61); 57 = A
MINOR = (0, 2, 3, 5, 7, 8, 10)
# minor-key progressions as scale degrees (0 = i, 2 = III, 3 = iv, 4 = v, 5 = VI, 6 = VII)
PROGRESSIONS: dict[str, tuple[int, ...]] = {
    "i-VI-III-VII": (0, 5, 2, 6),
    "i-VII-VI-VII": (0, 6, 5, 6),
    "i-VI-iv-VII": (0, 5, 3, 6),
    "VI-VII-i-i": (5, 6, 0, 0),
    "i-v-VI-iv": (0, 4, 5, 3),
    "iv-VI-i-VII": (3, 5, 0, 6),
    "i-III-VII-VI": (0, 2, 6, 5),
}


# --------------------------------------------------------------------------------------------- styles
@dataclass(frozen=True)
class TrackStyle:
    style: str  # style family name (the ground-truth label)
    bpm: float
    key: int  # root midi note of the minor key (e.g. 57 = A)
    brightness: float  # 0..1 -> filter cutoff / harmonics of synths
    energy: float  # 0..1 -> density, level of drop vs breakdown, hat density
    groove: str  # "straight", "offbeat", "rolling", "swing"
    palette: str  # "supersaw", "pluck", "acid", "pad", "square", "fm"
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrackStyle:
        """Build from a dict (extra keys such as ``path`` are ignored)."""
        casts = {"bpm": float, "key": int, "brightness": float, "energy": float, "seed": int}
        return cls(**{f.name: casts.get(f.name, str)(d[f.name]) for f in fields(cls)})


@dataclass(frozen=True)
class StyleFamily:
    """The ranges one trance subgenre draws its tracks from (see the module docstring)."""

    name: str
    bpm: tuple[float, float]
    brightness: float  # centre; tracks jitter +-0.08
    energy: float  # centre; tracks jitter +-0.08
    grooves: tuple[str, ...]
    palettes: tuple[str, ...]
    bass: str  # bass voice: "saw" (sub + filtered saw), "roll" (tight, filter envelope), "acid" (303-like)
    kick_drive: float  # 0 clean .. 1 distorted
    kick_decay: tuple[float, float]  # seconds
    detune: tuple[float, float]  # supersaw detune spread, cents
    width: float  # stereo width of the synths
    reverb: float  # reverb send
    room: float  # reverb time (s)
    delay: float  # ping-pong delay send (plucks, leads)
    sidechain: float  # ducking depth
    lead_prob: float
    arp_prob: float  # arp in the breakdown (pluck palettes always arp in the drop)
    gate_prob: float  # trance-gated chords in build/drop
    vox: bool = False  # formant "vocal" pad
    swing: tuple[float, float] = (0.0, 0.0)  # delay of odd 16ths, fraction of a 16th
    glue: float = 0.5  # bus saturation before the limiter
    saw_drive: float = 0.0  # distortion on the chords (harsh supersaws)
    description: str = ""


STYLE_FAMILIES: dict[str, StyleFamily] = {
    f.name: f
    for f in (
        StyleFamily("uplifting", (138, 140), 0.75, 0.80, ("offbeat",), ("supersaw",), "saw", 0.15,
                    (0.28, 0.36), (14, 24), 0.9, 0.35, 2.2, 0.15, 0.65, 0.75, 0.6, 0.5,
                    description="bright wide supersaws, offbeat bass, big breakdown"),
        StyleFamily("hard", (148, 150), 0.86, 0.90, ("offbeat", "straight"), ("supersaw",), "saw", 0.85,
                    (0.26, 0.34), (24, 36), 0.95, 0.25, 1.6, 0.10, 0.75, 0.7, 0.3, 0.6, glue=0.9, saw_drive=0.7,
                    description="distorted kick, harsh detuned supersaws, relentless"),
        StyleFamily("progressive", (128, 132), 0.40, 0.55, ("rolling",), ("pluck",), "roll", 0.10,
                    (0.30, 0.40), (8, 14), 0.7, 0.35, 2.0, 0.35, 0.5, 0.25, 0.8, 0.2,
                    description="darker plucks with delay, rolling bass"),
        StyleFamily("tech", (134, 138), 0.28, 0.70, ("straight", "rolling"), ("square", "fm"), "roll", 0.35,
                    (0.24, 0.32), (6, 12), 0.5, 0.15, 1.2, 0.20, 0.45, 0.15, 0.3, 0.3, glue=0.7,
                    description="dark dry square/FM stabs, driving bass"),
        StyleFamily("psy", (142, 146), 0.60, 0.85, ("rolling",), ("acid", "fm"), "roll", 0.25,
                    (0.18, 0.24), (10, 18), 0.75, 0.15, 1.4, 0.30, 0.3, 0.4, 0.3, 0.2, glue=0.7,
                    description="tight K-B-B-B rolling bass, squelchy acid/FM riffs"),
        StyleFamily("acid", (135, 140), 0.50, 0.70, ("straight", "offbeat"), ("acid",), "acid", 0.30,
                    (0.24, 0.32), (8, 16), 0.6, 0.2, 1.5, 0.25, 0.4, 0.1, 0.2, 0.2, glue=0.6,
                    description="resonant 303-like saw bass line"),
        StyleFamily("vocal", (136, 138), 0.45, 0.45, ("offbeat",), ("pad", "supersaw"), "saw", 0.05,
                    (0.30, 0.38), (10, 18), 1.0, 0.55, 3.0, 0.25, 0.55, 0.3, 0.5, 0.2, vox=True, glue=0.4,
                    description="soft pads, formant vocal pad, lots of reverb"),
        StyleFamily("balearic", (122, 126), 0.32, 0.30, ("swing",), ("pluck", "pad"), "saw", 0.0,
                    (0.32, 0.42), (6, 12), 0.8, 0.5, 2.5, 0.4, 0.35, 0.35, 0.7, 0.1,
                    swing=(0.12, 0.25), glue=0.3,
                    description="soft swung plucks, shaker, low energy"),
    )
}
FAMILIES: tuple[str, ...] = tuple(STYLE_FAMILIES)


def _family(name: str) -> StyleFamily:
    try:
        return STYLE_FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown style family {name!r}; known: {', '.join(FAMILIES)}") from None


def sample_style(family: str, rng: np.random.Generator, seed: int | None = None) -> TrackStyle:
    """Draw one track's style from a family; ``seed`` (drawn from ``rng`` if None) drives the details."""
    fam = _family(family)
    bpm = round(float(rng.uniform(*fam.bpm)) * 2.0) / 2.0
    key = KEY_LOW + int(rng.integers(12))
    brightness = round(float(np.clip(fam.brightness + rng.uniform(-0.08, 0.08), 0.02, 0.98)), 3)
    energy = round(float(np.clip(fam.energy + rng.uniform(-0.08, 0.08), 0.02, 0.98)), 3)
    groove = fam.grooves[int(rng.integers(len(fam.grooves)))]
    palette = fam.palettes[int(rng.integers(len(fam.palettes)))]
    if seed is None:
        seed = int(rng.integers(0, 2**31 - 1))
    return TrackStyle(fam.name, bpm, key, brightness, energy, groove, palette, int(seed))


# ------------------------------------------------------------------------------------------ structure
@dataclass(frozen=True)
class Section:
    name: str  # "intro", "breakdown", "build", "drop"
    start: float  # seconds
    end: float


def track_sections(style: TrackStyle, seconds: float = 30.0) -> list[Section]:
    """Intro, breakdown, build, drop boundaries (s). Whole bars for tracks of 8+ bars, else beats."""
    beat = 60.0 / style.bpm
    total = seconds / beat  # in beats
    unit = 4 if total >= 32 else 1
    units = total / unit
    intro = max(1, round(units * 0.25))
    breakdown = max(1, round(units * 0.2))
    build = (2 if units >= 12 else 1) if unit == 4 else max(1, round(units * 0.15))
    while intro + breakdown + build > units - 1 and (intro > 1 or breakdown > 1 or build > 1):
        if intro >= breakdown and intro > 1:
            intro -= 1
        elif breakdown > 1:
            breakdown -= 1
        else:
            build -= 1
    edges = np.cumsum([0, intro, breakdown, build]) * unit * beat
    names = ("intro", "breakdown", "build", "drop")
    ends = [*edges[1:], seconds]
    return [Section(n, float(min(s, seconds)), float(min(e, seconds))) for n, s, e in zip(names, edges, ends)]


# ------------------------------------------------------------------------------------------- helpers
def _rng(seed: int, *salt: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *salt])


def _db(x: float) -> float:
    return float(10.0 ** (x / 20.0))


def _hz(midi) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


@lru_cache(maxsize=512)
def _sos(kind: str, order: int, fc, sr: int) -> np.ndarray:
    nyq = 0.5 * sr
    if isinstance(fc, tuple):
        hi = min(max(fc[1], 20.0), 0.45 * sr)
        wn = [min(max(fc[0], 10.0), 0.7 * hi) / nyq, hi / nyq]
    else:
        wn = min(max(fc, 10.0), 0.45 * sr) / nyq
    return signal.butter(order, wn, btype=kind, output="sos")


def _filt(x: np.ndarray, kind: str, fc, sr: int, order: int = 2) -> np.ndarray:
    fc = tuple(round(float(f), 1) for f in fc) if isinstance(fc, tuple) else round(float(fc), 1)
    return signal.sosfilt(_sos(kind, order, fc, sr), x, axis=-1)


def _blep_saw(p: np.ndarray, dt) -> np.ndarray:
    """Band-limited (PolyBLEP) saw from phase ``p`` in [0, 1) and phase increment ``dt``."""
    y = 2.0 * p - 1.0
    dt = np.broadcast_to(dt, p.shape)
    i = np.nonzero(p < dt)
    t = p[i] / dt[i]
    y[i] -= t + t - t * t - 1.0
    i = np.nonzero(p > 1.0 - dt)
    t = (p[i] - 1.0) / dt[i]
    y[i] -= t * t + t + t + 1.0
    return y


def _saw(freqs, n: int, sr: int, phases=None) -> np.ndarray:
    """Saws for each frequency: shape (len(freqs), n)."""
    f = np.atleast_1d(np.asarray(freqs, dtype=float))
    dt = (f / sr)[:, None]
    ph = np.zeros(len(f)) if phases is None else np.asarray(phases, dtype=float)
    p = (ph[:, None] + dt * np.arange(n)) % 1.0
    return _blep_saw(p, dt)


def _square(freqs, n: int, sr: int, phases=None) -> np.ndarray:
    ph = np.zeros(len(np.atleast_1d(freqs))) if phases is None else np.asarray(phases, dtype=float)
    return 0.5 * (_saw(freqs, n, sr, ph) - _saw(freqs, n, sr, ph + 0.5))


def _ar(n_gate: int, sr: int, attack: float, release: float) -> np.ndarray:
    """Attack ramp, sustain to ``n_gate`` samples, then a linear release (total n_gate + release)."""
    na, nr = max(1, int(attack * sr)), max(1, int(release * sr))
    env = np.ones(n_gate + nr)
    na = min(na, n_gate) if n_gate > 0 else 1
    env[:na] = np.linspace(0.0, 1.0, na, endpoint=False)
    level = env[n_gate - 1] if n_gate > 0 else 0.0
    env[n_gate:] = level * np.linspace(1.0, 0.0, nr)
    return env


def _perc(n: int, sr: int, attack: float, tau: float) -> np.ndarray:
    t = np.arange(n) / sr
    env = np.exp(-t / tau)
    na = max(1, int(attack * sr))
    env[:na] *= np.linspace(0.0, 1.0, na)
    fade = min(n, int(0.005 * sr))
    if fade > 1:
        env[-fade:] *= np.linspace(1.0, 0.0, fade)
    return env


def _pan(x: np.ndarray, pan: float) -> np.ndarray:
    """Mono -> stereo with an equal-power pan in [-1, 1]."""
    a = (pan + 1.0) * np.pi / 4.0
    return np.stack([np.cos(a) * x, np.sin(a) * x]) * np.sqrt(2.0)


def _place(buf: np.ndarray, snip: np.ndarray, start: int, gain: float = 1.0) -> None:
    n = buf.shape[-1]
    if start >= n or gain == 0.0:
        return
    a = max(0, start)
    b = min(n, start + snip.shape[-1])
    if b <= a:
        return
    buf[..., a:b] += gain * snip[..., a - start : b - start]


def _blockwise_biquad(x: np.ndarray, bs: np.ndarray, as_: np.ndarray, block: int) -> np.ndarray:
    """Run one biquad per block (coefficients bs[i], as_[i]), carrying the filter state across blocks."""
    y = np.empty_like(x)
    z = np.zeros(x.shape[:-1] + (2,))
    for i in range(len(bs)):
        s = slice(i * block, (i + 1) * block)
        y[..., s], z = signal.lfilter(bs[i], as_[i], x[..., s], axis=-1, zi=z)
    return y


def _tv_lowpass(x: np.ndarray, fc: np.ndarray, q: float, sr: int, block: int = 64) -> np.ndarray:
    """Resonant lowpass whose cutoff ``fc`` (per sample) changes every ``block`` samples."""
    nb = -(-x.shape[-1] // block)
    fcb = np.clip(fc[::block][:nb], 20.0, 0.45 * sr)
    w0 = 2.0 * np.pi * fcb / sr
    cw, alpha = np.cos(w0), np.sin(w0) / (2.0 * q)
    a0 = 1.0 + alpha
    bs = np.stack([(1 - cw) / 2 / a0, (1 - cw) / a0, (1 - cw) / 2 / a0], axis=1)
    as_ = np.stack([np.ones(nb), -2 * cw / a0, (1 - alpha) / a0], axis=1)
    return _blockwise_biquad(x, bs, as_, block)


def _tv_bandpass(x: np.ndarray, fc: np.ndarray, q: float, sr: int, block: int = 256) -> np.ndarray:
    nb = -(-x.shape[-1] // block)
    fcb = np.clip(fc[::block][:nb], 30.0, 0.45 * sr)
    w0 = 2.0 * np.pi * fcb / sr
    alpha = np.sin(w0) / (2.0 * q)
    a0 = 1.0 + alpha
    zeros = np.zeros(nb)
    bs = np.stack([alpha / a0, zeros, -alpha / a0], axis=1)
    as_ = np.stack([np.ones(nb), -2 * np.cos(w0) / a0, (1 - alpha) / a0], axis=1)
    return _blockwise_biquad(x, bs, as_, block)


# ------------------------------------------------------------------------------- song and sound design
@dataclass
class _Song:
    """Composition: everything that makes the track *this song* (drawn from the song seed)."""

    style: TrackStyle
    fam: StyleFamily
    seconds: float
    sr: int
    n: int
    beat: float
    step: float  # a 16th, seconds
    swing: float
    sections: list[Section]
    chords: list[tuple[int, ...]]  # per bar, midi
    roots: list[int]  # bass root per bar, midi
    bass_steps: list[tuple[int, int, float, int]]  # per-bar pattern: (16th, length, velocity, +semitones)
    acid_bass: list[tuple[int, int, int, bool]]  # (16th, length, +semitones, accent)
    acid_riff: list[tuple[int, int, int, bool]]
    arp: list[int]  # per 16th index into chord tones over two octaves
    arp_rate: int  # 16ths per arp note
    lead: list[tuple[int, int, int]]  # 2-bar phrase: (16th 0..31, length, chord-tone index)
    stab_steps: tuple[int, ...]
    gate: np.ndarray | None  # 16 steps of 0/1, or None for sustained chords
    has_lead: bool
    has_arp: bool
    breakdown_riser: bool
    progression: str


@dataclass
class _Sound:
    """Sound-design details (drawn from the detail seed; render_wip redraws these)."""

    seed: int
    kick_f0: float
    kick_f1: float
    kick_tp: float
    kick_decay: float
    kick_drive: float
    kick_click: float
    bass_cut: float
    bass_sub: float
    bass_decay: float
    voices: int
    detune: float
    saw_cut: float
    width: float
    pluck_decay: float
    pluck_mix: float
    fm_ratio: float
    fm_index: float
    stab_decay: float
    acid_q: float
    acid_env: float
    acid_decay: float
    acid_drive: float
    hat_cut: float
    hat_closed: float
    hat_open: float
    hat_pan: float
    sc_depth: float
    sc_release: float
    reverb: float
    room: float
    delay: float
    levels: dict[str, float]


_STEMS = ("kick", "bass", "chords", "main", "arp", "lead", "hats", "perc", "riser", "vox")


def _compose(style: TrackStyle, seconds: float, sr: int) -> _Song:
    fam = _family(style.style)
    rng = _rng(style.seed, 1)
    beat = 60.0 / style.bpm
    nbars = int(np.ceil(seconds / (4 * beat))) + 1
    names = list(PROGRESSIONS)
    prog = names[int(rng.integers(len(names)))]
    degrees = PROGRESSIONS[prog]
    voicings, prev = [], None
    for d in degrees:
        pcs = [style.key + MINOR[(d + j) % 7] + 12 * ((d + j) // 7) for j in (0, 2, 4)]
        best, best_cost = None, np.inf
        for inv in range(3):
            notes = sorted(p + (12 if i < inv else 0) for i, p in enumerate(pcs))
            for octv in (-12, 0, 12):
                v = [p + octv for p in notes]
                if v[0] < style.key - 7 or v[-1] > style.key + 16:
                    continue
                cost = (sum(abs(a - b) for a, b in zip(v, prev)) if prev
                        else abs(np.mean(v) - (style.key + 5)))
                if cost < best_cost:
                    best, best_cost = v, cost
        prev = best
        root = style.key + MINOR[d]
        low_root = best[0] - ((best[0] - root) % 12)
        voicings.append(tuple(sorted({low_root, *best})))
    chords = [voicings[b % 4] for b in range(nbars)]
    roots = [31 + (style.key + MINOR[degrees[b % 4]] - 31) % 12 for b in range(nbars)]

    # bass pattern from the groove; draws are unconditional so every stream stays aligned
    ghost, octv, vel = rng.random(16), rng.random(16), rng.uniform(0.8, 1.0, 16)
    steps = {
        "offbeat": [(s, 2) for s in (2, 6, 10, 14)],
        "rolling": [(s, 1) for s in range(16) if s % 4],
        "straight": [(s, 1) for s in range(16) if s % 4 in (2, 3)],
        "swing": [(s, 2) for s in (2, 6, 10, 14)] + [(s, 1) for s in (3, 7, 11, 15) if ghost[s] < 0.5],
    }[style.groove]
    bass_steps = [(s, ln, float(vel[s] * (0.55 if s % 4 == 3 and style.groove == "swing" else 1.0)),
                   12 if (octv[s] < 0.12 and style.groove != "rolling") else 0) for s, ln in sorted(steps)]

    def acid_line():
        on, off, acc, ln = rng.random(16) < 0.72, rng.integers(0, 9, 16), rng.random(16) < 0.3, rng.random(16)
        on[0] = True
        table = (0, 0, 0, 12, 12, 7, 3, 10, -12)
        line = []
        for s in range(16):
            if on[s]:
                long = ln[s] < 0.2 and s < 15 and not on[s + 1]
                line.append((s, 2 if long else 1, table[off[s]], bool(acc[s])))
        return line

    acid_bass, acid_riff = acid_line(), acid_line()

    kind = ("up", "down", "updown", "random", "pedal")[int(rng.integers(5))]
    rnd = rng.integers(0, 7, 16)
    arp = {
        "up": [i % 7 for i in range(16)],
        "down": [6 - i % 7 for i in range(16)],
        "updown": [(0, 1, 2, 3, 4, 5, 4, 3, 2, 1)[i % 10] for i in range(16)],
        "random": list(rnd),
        "pedal": [0 if i % 2 == 0 else 1 + i // 2 % 6 for i in range(16)],
    }[kind]
    arp_rate = 1 if rng.random() < 0.3 + 0.6 * style.energy else 2

    templates = (
        [(0, 3), (3, 3), (6, 2), (8, 4), (12, 2), (14, 2), (16, 3), (19, 3), (22, 2), (24, 6), (30, 2)],
        [(0, 2), (2, 2), (4, 4), (8, 2), (10, 2), (12, 4), (16, 2), (18, 2), (20, 4), (24, 8)],
        [(0, 6), (6, 6), (12, 4), (16, 6), (22, 6), (28, 4)],
        [(2, 2), (6, 2), (10, 2), (14, 2), (18, 2), (22, 2), (26, 4), (30, 2)],
    )
    rhythm = templates[int(rng.integers(len(templates)))]
    walk = np.clip(np.cumsum(rng.integers(-2, 3, 16)) + 3, 0, 6)
    lead = [(s, ln, int(walk[i])) for i, (s, ln) in enumerate(rhythm)]

    stabs = ((2, 6, 10, 14), (0, 3, 6, 10, 12), (2, 5, 8, 14), (3, 6, 11, 14), (0, 6, 8, 14))
    stab_steps = stabs[int(rng.integers(len(stabs)))]
    gate = (rng.random(16) < 0.7).astype(float)
    gate[0] = 1.0
    use_gate = rng.random() < fam.gate_prob
    has_lead = rng.random() < fam.lead_prob
    has_arp = style.palette == "pluck" or rng.random() < fam.arp_prob
    riser = rng.random() < 0.5
    swing = float(rng.uniform(*fam.swing)) if style.groove == "swing" else 0.0
    n = int(round(seconds * sr))
    return _Song(style, fam, seconds, sr, n, beat, beat / 4, swing, track_sections(style, seconds), chords,
                 roots, bass_steps, acid_bass, acid_riff, arp, arp_rate, lead, stab_steps,
                 gate if use_gate else None, has_lead, has_arp, riser, prog)


def _design(style: TrackStyle, detail_seed: int) -> _Sound:
    fam = _family(style.style)
    r = _rng(detail_seed, 2)
    u = r.uniform
    levels = {k: float(u(-1.0, 1.0)) for k in _STEMS}
    return _Sound(
        seed=int(detail_seed),
        kick_f0=u(150, 230), kick_f1=u(44, 56), kick_tp=u(0.018, 0.04), kick_decay=u(*fam.kick_decay),
        kick_drive=float(np.clip(fam.kick_drive + u(-0.1, 0.1), 0, 1)), kick_click=u(0.1, 0.35),
        bass_cut=u(0.8, 1.25), bass_sub=u(0.35, 0.6), bass_decay=u(0.06, 0.12),
        voices=int(r.choice((5, 7, 9))), detune=u(*fam.detune), saw_cut=u(0.85, 1.2),
        width=float(np.clip(fam.width + u(-0.1, 0.1), 0.2, 1.0)),
        pluck_decay=u(0.12, 0.3), pluck_mix=u(0.0, 0.6),
        fm_ratio=float(r.choice((0.5, 1.0, 1.5, 2.0, 3.0))), fm_index=u(1.0, 4.0), stab_decay=u(0.08, 0.2),
        acid_q=u(4.0, 9.0), acid_env=u(2.0, 3.5), acid_decay=u(0.06, 0.16), acid_drive=u(1.5, 4.0),
        hat_cut=u(0.85, 1.15), hat_closed=u(0.025, 0.05), hat_open=u(0.12, 0.22), hat_pan=u(-0.3, 0.3),
        sc_depth=float(np.clip(fam.sidechain + u(-0.08, 0.08), 0, 0.9)), sc_release=u(0.5, 0.8),
        reverb=fam.reverb * u(0.8, 1.2), room=fam.room * u(0.8, 1.2), delay=fam.delay * u(0.8, 1.2),
        levels=levels,
    )


# -------------------------------------------------------------------------------------------- events
def _in_sections(song: _Song, t: np.ndarray, names) -> np.ndarray:
    starts = np.array([s.start for s in song.sections])
    idx = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
    ok = np.array([s.name in names and s.end > s.start for s in song.sections])
    return ok[idx] & (t < song.seconds)


def _grid(song: _Song, names, steps=None, period: int = 16):
    """16th-grid events in the named sections: (sample index, bar, step within ``period``)."""
    k = np.arange(int(np.ceil(song.seconds / song.step)) + 1)
    t = k * song.step + song.swing * song.step * (k % 2)
    pos = k % period
    keep = _in_sections(song, k * song.step, names)
    if steps is not None:
        keep &= np.isin(pos, list(steps))
    return (np.round(t[keep] * song.sr).astype(int), (k[keep] // 16).astype(int), pos[keep].astype(int))


def _section(song: _Song, name: str) -> Section:
    return next(s for s in song.sections if s.name == name)


def _automation(song: _Song, points: dict[str, tuple[float, float]]) -> np.ndarray:
    """Per-sample curve, linear within each section from (start value, end value); 0 elsewhere."""
    out = np.zeros(song.n)
    for s in song.sections:
        if s.name in points and s.end > s.start:
            a, b = int(s.start * song.sr), min(song.n, int(s.end * song.sr))
            out[a:b] = np.linspace(*points[s.name], b - a)
    return out


def _sidechain(song: _Song, sd: _Sound, depth: float) -> np.ndarray:
    """Gain ducking keyed to the kick: dips at each beat where the kick plays, recovers over the beat."""
    t = np.arange(song.n) / song.sr
    ts = np.mod(t + 0.5 / song.sr, song.beat)
    rel = np.clip(ts / (sd.sc_release * song.beat), 0.0, 1.0)
    duck = depth * (1.0 - rel) ** 2 * np.minimum(1.0, ts / 0.004)
    mask = _in_sections(song, t - ts, ("intro", "drop"))
    return 1.0 - duck * mask


# ------------------------------------------------------------------------------------------ instruments
def _kick(song: _Song, sd: _Sound) -> np.ndarray:
    """Four-on-the-floor pitch-swept sine kick (with click; tanh-distorted for hard styles), mono."""
    sr = song.sr
    n = int(min(sd.kick_decay * 1.6, song.beat * 0.97) * sr)
    t = np.arange(n) / sr
    f = sd.kick_f1 + (sd.kick_f0 - sd.kick_f1) * np.exp(-t / sd.kick_tp)
    body = np.sin(2 * np.pi * np.cumsum(f) / sr) * _perc(n, sr, 0.0005, sd.kick_decay * 0.45)
    if sd.kick_drive > 0.02:
        k = 1.0 + 7.0 * sd.kick_drive
        body = np.tanh(k * body) / np.tanh(k)
        body = _filt(body, "lowpass", 3000 + 4000 * sd.kick_drive, sr)
    nc = int(0.004 * sr)
    click = _rng(sd.seed, 3).standard_normal(nc) * np.exp(-np.arange(nc) / (0.0008 * sr))
    body[:nc] += sd.kick_click * _filt(click, "highpass", 1500, sr)
    out = np.zeros(song.n)
    beats = np.arange(int(song.seconds / song.beat) + 1) * song.beat
    for tb in beats[_in_sections(song, beats, ("intro", "drop"))]:
        _place(out, body, int(round(tb * sr)))
    return out


def _bass_note(song: _Song, sd: _Sound, midi: int, n_gate: int, voice: str) -> np.ndarray:
    sr, br = song.sr, song.style.brightness
    f = float(_hz(midi))
    rel = 0.012 if voice != "roll" else 0.006
    n = n_gate + int(rel * sr)
    t = np.arange(n) / sr
    saw = _saw([f], n, sr)[0]
    sub = np.sin(2 * np.pi * f * t)
    cut = (180 + 900 * br) * sd.bass_cut
    if voice == "roll":
        bright, dark = _filt(saw, "lowpass", cut * 3.5, sr), _filt(saw, "lowpass", cut * 0.8, sr)
        w = np.exp(-t / 0.035)
        x = 0.45 * sub + 0.8 * (w * bright + (1 - w) * dark)
        env = _perc(n, sr, 0.002, sd.bass_decay)
    else:
        x = sd.bass_sub * sub + (1 - sd.bass_sub) * _filt(saw, "lowpass", cut, sr)
        env = _ar(n_gate, sr, 0.003, rel)
    return x * env


def _acid_note(song: _Song, sd: _Sound, midi: int, n_gate: int, accent: bool, sub: bool) -> np.ndarray:
    """303-ish: saw through a resonant lowpass whose cutoff decays from an envelope peak (the squelch)."""
    sr, br = song.sr, song.style.brightness
    f = float(_hz(midi))
    n = n_gate + max(1, int(0.008 * sr))
    t = np.arange(n) / sr
    x = _saw([f], n, sr)[0]
    base = (120 + 700 * br**1.5) * (1.0 + 0.3 * accent)
    fc = base * 2.0 ** ((sd.acid_env + 1.2 * accent) * np.exp(-t / (sd.acid_decay * (1.4 if accent else 1.0))))
    y = _tv_lowpass(x, fc, sd.acid_q + 3.0 * accent, sr)
    y = np.tanh(sd.acid_drive * y) / np.tanh(sd.acid_drive)
    if sub:
        y = y + 0.6 * np.sin(np.pi * f * t)
    return 0.3 * y * _ar(n_gate, sr, 0.002, 0.008) * (1.25 if accent else 1.0)


def _bass(song: _Song, sd: _Sound) -> np.ndarray:
    """Bass: offbeat / rolling 16ths / driving / swung pattern on the chord root, or a 303-like line."""
    voice, sr = song.fam.bass, song.sr
    out, cache = np.zeros(song.n), {}
    if voice == "acid":
        where = _grid(song, ("intro", "drop"))
        line = {s: (ln, off, acc) for s, ln, off, acc in song.acid_bass}
        for i, bar, pos in zip(*where):
            if pos not in line:
                continue
            ln, off, acc = line[pos]
            midi = song.roots[bar] + 12 + off
            key = (midi, ln, acc)
            if key not in cache:
                cache[key] = _acid_note(song, sd, midi, int(ln * song.step * sr * 0.9), acc, True)
            _place(out, cache[key], i)
        return out
    pattern = {s: (ln, vel, off) for s, ln, vel, off in song.bass_steps}
    intro = _section(song, "intro")
    gate = 0.8 if voice == "saw" else 0.95
    for i, bar, pos in zip(*_grid(song, ("intro", "drop"), pattern)):
        if i < (intro.start + 0.5 * (intro.end - intro.start)) * sr and intro.end - intro.start > 4 * song.beat:
            continue  # bass enters halfway through the intro
        ln, vel, off = pattern[pos]
        midi = song.roots[bar] + off
        key = (midi, ln)
        if key not in cache:
            cache[key] = _bass_note(song, sd, midi, int(ln * song.step * sr * gate), voice)
        _place(out, cache[key], i, vel)
    return out


def _supersaw(song: _Song, sd: _Sound, notes, n: int, voices: int, detune: float) -> np.ndarray:
    """Detuned saws per note, voices spread across the stereo field: shape (2, n)."""
    r = _rng(sd.seed, 5, *notes, voices)
    offs = np.linspace(-1.0, 1.0, voices) * detune / 2 + r.uniform(-1.5, 1.5, voices)
    freqs = (_hz(notes)[:, None] * 2.0 ** (offs[None, :] / 1200.0)).ravel()
    waves = _saw(freqs, n, song.sr, r.random(len(freqs)))
    pans = np.concatenate([r.permutation(np.linspace(-sd.width, sd.width, voices)) for _ in notes])
    a = (pans + 1.0) * np.pi / 4.0
    gains = np.stack([np.cos(a), np.sin(a)]) * np.sqrt(2.0 / len(freqs))
    return np.einsum("cv,vn->cn", gains, waves)


def _chords(song: _Song, sd: _Sound) -> np.ndarray:
    """Chords/pads, one per bar: soft in the breakdown, opening through the build, full in the drop."""
    st, sr = song.style, song.sr
    bar_n = int(round(4 * song.beat * sr))
    pad = st.palette not in ("supersaw",)
    voices = 3 if pad else sd.voices
    detune = sd.detune * (0.6 if pad else 1.0)
    rel = 0.35 if pad else 0.15
    if st.palette in ("supersaw", "pad"):
        levels = {"breakdown": 1.0, "build": 1.0, "drop": 1.0 if st.palette == "supersaw" else 0.9}
    else:  # the pad carries the breakdown and steps back behind plucks/stabs/acid in the drop
        levels = {"breakdown": 1.8, "build": 1.4, "drop": 0.55}
    out, raw, envs = np.zeros((2, song.n)), {}, {}
    for s in song.sections:
        if s.name not in levels or s.end <= s.start:
            continue
        attack = (0.6 if s.name == "breakdown" else 0.05) if not pad else 0.4
        for bar in range(int(s.start / (4 * song.beat) + 1e-6), int(np.ceil(s.end / (4 * song.beat) - 1e-6))):
            notes = song.chords[bar]
            if notes not in raw:
                raw[notes] = _supersaw(song, sd, notes, bar_n + int(rel * sr), voices, detune)
            if attack not in envs:
                envs[attack] = _ar(bar_n, sr, attack, rel)
            start = max(int(round(bar * 4 * song.beat * sr)), int(s.start * sr))
            seg = raw[notes] * envs[attack]
            seg = seg[:, : max(0, int(s.end * sr) - start + int(rel * sr))]
            _place(out, seg, start, levels[s.name])
    if song.gate is not None:
        steps = np.arange(song.n) / sr / song.step
        g = song.gate[(steps.astype(int)) % 16]
        g = np.where(np.mod(steps, 1.0) < 0.8, g, 0.0)
        g = uniform_filter1d(g, int(0.004 * sr) + 1)
        on = _automation(song, {"build": (1, 1), "drop": (1, 1)})
        out *= 1.0 - on + on * (0.15 + 0.85 * g)
    cut = 400.0 * 2.0 ** (st.brightness * 5.5) * sd.saw_cut
    bright, dark = _filt(out, "lowpass", cut, sr), _filt(out, "lowpass", cut / 6.0, sr)
    w = _automation(song, {"breakdown": (0.15, 0.45), "build": (0.45, 1.0), "drop": (1.0, 1.0)})
    out = w * bright + (1.0 - w) * dark
    if song.fam.saw_drive > 0:
        k = 1.0 + 6.0 * song.fam.saw_drive
        rms = np.sqrt(np.mean(out**2)) + 1e-12
        dist = np.tanh(k * out / (3 * rms))
        out = dist * (rms / (np.sqrt(np.mean(dist**2)) + 1e-12))
    return out


def _pluck(song: _Song, sd: _Sound, midi: int) -> np.ndarray:
    sr = song.sr
    n = int(min(4 * sd.pluck_decay, 1.2) * sr)
    t = np.arange(n) / sr
    f = float(_hz(midi))
    x = (1 - sd.pluck_mix) * _saw([f], n, sr)[0] + sd.pluck_mix * _square([f], n, sr)[0]
    cut = 300.0 * 2.0 ** (song.style.brightness * 5.0)
    w = np.exp(-t / (0.4 * sd.pluck_decay))
    x = w * _filt(x, "lowpass", cut * 2.5, sr) + (1 - w) * _filt(x, "lowpass", cut * 0.5, sr)
    return x * _perc(n, sr, 0.002, sd.pluck_decay)


def _arp(song: _Song, sd: _Sound) -> np.ndarray:
    """Pluck arpeggio over the chord tones (two octaves), in the drop (and breakdown if drawn)."""
    names = ("drop", "breakdown", "build") if song.has_arp else ("drop",)
    if not song.has_arp and song.style.palette != "pluck":
        return np.zeros((2, song.n))
    out, cache = np.zeros((2, song.n)), {}
    steps = range(0, 16, song.arp_rate)
    bd = _section(song, "breakdown")
    for i, bar, pos in zip(*_grid(song, names, steps)):
        chord = song.chords[bar]
        tones = [*chord[:3], *(c + 12 for c in chord[:3]), chord[0] + 24]
        midi = tones[song.arp[pos] % len(tones)] + 12
        if midi not in cache:
            cache[midi] = _pluck(song, sd, midi)
        gain = 0.5 if bd.start * song.sr <= i < bd.end * song.sr else 1.0
        pan = 0.35 * sd.width * (1 if pos % 4 < 2 else -1)
        _place(out, _pan(cache[midi], pan), i, gain * (1.0 if pos % 4 == 0 else 0.8))
    return out


def _stab(song: _Song, sd: _Sound, notes) -> np.ndarray:
    """Square or 2-operator FM chord stab, stereo (two slightly detuned copies)."""
    sr, br = song.sr, song.style.brightness
    n = int(min(4 * sd.stab_decay, song.beat) * sr)
    t = np.arange(n) / sr
    f = _hz(notes)
    outs = []
    for cents in (-6.0, 6.0):
        fd = f * 2 ** (cents / 1200)
        if song.style.palette == "fm":
            index = sd.fm_index * (0.3 + br) * np.exp(-t / (0.5 * sd.stab_decay))
            mod = np.sin(2 * np.pi * fd[:, None] * sd.fm_ratio * t) * index
            x = np.sin(2 * np.pi * fd[:, None] * t + mod).sum(0)
        else:
            x = _filt(_square(fd, n, sr).sum(0), "lowpass", 500.0 * 2 ** (4.5 * br), sr)
        outs.append(x / len(f))
    return np.stack(outs) * _perc(n, sr, 0.002, sd.stab_decay)


def _main(song: _Song, sd: _Sound) -> np.ndarray:
    """The drop's signature element besides chords: stabs (square/fm) or an acid riff (acid palette)."""
    pal = song.style.palette
    out, cache = np.zeros((2, song.n)), {}
    if pal in ("square", "fm"):
        for i, bar, _pos in zip(*_grid(song, ("drop", "build"), song.stab_steps)):
            notes = song.chords[bar]
            if notes not in cache:
                cache[notes] = _stab(song, sd, notes)
            _place(out, cache[notes], i)
    elif pal == "acid" and song.fam.bass != "acid":
        line = {s: (ln, off, acc) for s, ln, off, acc in song.acid_riff}
        for i, bar, pos in zip(*_grid(song, ("drop",))):
            if pos not in line:
                continue
            ln, off, acc = line[pos]
            midi = song.roots[bar] + 24 + off
            key = (midi, ln, acc)
            if key not in cache:
                cache[key] = _acid_note(song, sd, midi, int(ln * song.step * song.sr * 0.9), acc, False)
            _place(out, _pan(cache[key], 0.2 * (1 if pos % 2 else -1)), i)
    return out


def _lead(song: _Song, sd: _Sound) -> np.ndarray:
    """Optional lead melody over chord tones (2-bar phrase), detuned saws or square, in the drop."""
    out = np.zeros((2, song.n))
    if not song.has_lead:
        return out
    sr, st = song.sr, song.style
    cache = {}
    phrase = {s: (ln, idx) for s, ln, idx in song.lead}
    cut = 500.0 * 2.0 ** (st.brightness * 5.0)
    for i, bar, pos in zip(*_grid(song, ("drop",), phrase, period=32)):
        ln, idx = phrase[pos]
        chord = song.chords[bar]
        tones = [*chord[:3], *(c + 12 for c in chord[:3]), chord[0] + 24]
        midi = tones[idx % len(tones)] + 12
        key = (midi, ln)
        if key not in cache:
            n_gate = int(ln * song.step * sr * 0.9)
            n = n_gate + int(0.06 * sr)
            if st.palette in ("supersaw", "pad"):
                x = _supersaw(song, sd, (midi,), n, 3, sd.detune * 0.5)
            else:
                x = _pan(_square([float(_hz(midi))], n, sr)[0], 0.0)
            cache[key] = _filt(x, "lowpass", cut, sr) * _ar(n_gate, sr, 0.005, 0.06)
        _place(out, cache[key], i)
    return out


def _noise_hit(r: np.random.Generator, sr: int, n: int, lo: float, hi: float | None, tau: float) -> np.ndarray:
    x = r.standard_normal(n)
    x = _filt(x, "highpass", lo, sr, 2) if hi is None else _filt(x, "bandpass", (lo, hi), sr, 2)
    return x * _perc(n, sr, 0.001, tau)


def _hats(song: _Song, sd: _Sound) -> np.ndarray:
    """Closed/open hats (noise), density from energy; swing groove gets a swung shaker."""
    st, sr = song.style, song.sr
    r = _rng(sd.seed, 7)
    lo = (2500 + 5000 * st.brightness) * sd.hat_cut
    closed = [_noise_hit(r, sr, int(0.09 * sr), lo, None, sd.hat_closed) for _ in range(4)]
    opened = [_noise_hit(r, sr, int(0.4 * sr), lo * 0.9, None, sd.hat_open) for _ in range(2)]
    shaker = [_noise_hit(r, sr, int(0.12 * sr), 2500, 8000, 0.03) for _ in range(4)]
    out = np.zeros((2, song.n))
    intro = _section(song, "intro")
    half = (intro.start + intro.end) / 2 * sr
    for i, _bar, pos in zip(*_grid(song, ("intro", "drop"), (2, 6, 10, 14))):
        if i >= half:
            _place(out, _pan(opened[pos // 4 % 2], sd.hat_pan), i, 0.7 if st.groove == "swing" else 1.0)
    if st.groove == "swing":
        closed_steps = range(16)
    elif st.energy > 0.62 or st.groove == "straight":
        closed_steps = [s for s in range(16) if s % 4 != 2]
    elif st.energy > 0.4:
        closed_steps = (1, 3, 5, 7, 9, 11, 13, 15)
    else:
        closed_steps = (0, 4, 8, 12)
    for i, _bar, pos in zip(*_grid(song, ("intro", "drop"), closed_steps)):
        accent = 1.0 if pos % 2 else 0.6
        if st.groove == "swing":
            _place(out, _pan(shaker[pos % 4], -sd.hat_pan), i, 0.9 * accent)
        else:
            _place(out, _pan(closed[pos % 4], -0.5 * sd.hat_pan), i, 0.6 * accent)
    return out


def _percussion(song: _Song, sd: _Sound) -> np.ndarray:
    """Clap on 2 and 4 in the drop (energy permitting), snare roll through the build, crash at the drop."""
    st, sr = song.style, song.sr
    r = _rng(sd.seed, 8)
    n = int(0.3 * sr)
    clap = np.zeros(n)
    for k, d in enumerate((0.0, 0.011, 0.022)):
        a = int(d * sr)
        clap[a:] += _noise_hit(r, sr, n - a, 600 + 800 * st.brightness, 2500 + 4000 * st.brightness,
                               0.012 if k < 2 else 0.09)
    snare = _noise_hit(r, sr, int(0.2 * sr), 1200, 7000, 0.06)
    snare += 0.6 * np.sin(2 * np.pi * 190 * np.arange(len(snare)) / sr) * _perc(len(snare), sr, 0.001, 0.04)
    crash = _noise_hit(r, sr, int(1.8 * sr), 4000, None, 0.5)
    out = np.zeros((2, song.n))
    if st.energy > 0.35:
        for i, _b, _p in zip(*_grid(song, ("drop",), (4, 12))):
            _place(out, _pan(clap, 0.0), i, 0.9)
    build = _section(song, "build")
    if build.end > build.start:
        idx, _b, _p = _grid(song, ("build",))
        t = idx / sr
        frac = (t - build.start) / (build.end - build.start)
        rate = np.where(frac < 0.5, 4, np.where(frac < 0.75, 2, 1))  # quarters, 8ths, 16ths
        keep = (np.round((t - build.start) / song.step).astype(int) % rate) == 0
        for i, fr in zip(idx[keep], frac[keep]):
            _place(out, _pan(snare, 0.0), i, 0.25 + 0.75 * fr)
    drop = _section(song, "drop")
    if drop.end > drop.start:
        _place(out, np.stack([crash, r.permutation(crash)]), int(drop.start * sr), 0.6)
    return out


def _riser(song: _Song, sd: _Sound) -> np.ndarray:
    """Noise riser: band-pass sweeping up, rising level, through the build (and end of the breakdown)."""
    sr = song.sr
    r = _rng(sd.seed, 9)
    out = np.zeros((2, song.n))
    spans = [_section(song, "build")]
    bd = _section(song, "breakdown")
    if song.breakdown_riser and bd.end - bd.start >= 8 * song.beat:
        spans.append(Section("riser", bd.end - 4 * song.beat, bd.end))
    for s in spans:
        a, b = int(s.start * sr), min(song.n, int(s.end * sr))
        if b - a < 16:
            continue
        x = r.standard_normal((2, b - a))
        ramp = np.linspace(0.0, 1.0, b - a)
        y = _tv_bandpass(x, 300.0 * 2.0 ** (5.0 * ramp), 1.5, sr)
        _place(out, y * ramp**2, a)
    return out


def _vox(song: _Song, sd: _Sound) -> np.ndarray:
    """Formant "aah/ooh" pad on the chords' top notes with vibrato (vocal family)."""
    out = np.zeros((2, song.n))
    if not song.fam.vox:
        return out
    sr = song.sr
    bar_n = int(round(4 * song.beat * sr))
    n = bar_n + int(0.4 * sr)
    t = np.arange(n) / sr
    formants = (((700, 1220, 2600), (1.0, 0.5, 0.25)), ((320, 870, 2250), (1.0, 0.35, 0.15)))
    cache = {}
    for bar in range(len(song.chords)):
        t0 = bar * 4 * song.beat
        if not _in_sections(song, np.array([t0]), ("breakdown", "build", "drop"))[0]:
            continue
        midi = song.chords[bar][-1] + 12
        vowel = bar % 2
        if (midi, vowel) not in cache:
            f = _hz(midi) * 2 ** (0.25 / 12 * np.sin(2 * np.pi * 5.2 * t) * np.minimum(1, t / 0.6))
            dt = f / sr
            src = _blep_saw(np.cumsum(dt) % 1.0, dt)
            fs, gs = formants[vowel]
            x = sum(g * _filt(src, "bandpass", (fc / 1.15, fc * 1.15), sr) for fc, g in zip(fs, gs))
            cache[(midi, vowel)] = x * _ar(bar_n, sr, 0.3, 0.4)
        _place(out, _pan(cache[(midi, vowel)], 0.0), int(round(t0 * sr)))
    return out


# --------------------------------------------------------------------------------------------- mixing
def _reverb(x: np.ndarray, sd: _Sound, sr: int) -> np.ndarray:
    r = _rng(sd.seed, 10)
    m = int(min(sd.room, 2.5) * sr)
    t = np.arange(m) / sr
    ir = r.standard_normal((2, m)) * np.exp(-6.9 * t / sd.room)
    ir = _filt(ir, "lowpass", 5000, sr) * np.minimum(1.0, t / 0.02)
    ir[:, : int(0.012 * sr)] = 0.0
    ir /= np.sqrt(np.sum(ir**2, axis=1, keepdims=True))
    return signal.oaconvolve(x, ir, axes=-1)[:, : x.shape[-1]]


def _delay(x: np.ndarray, song: _Song, taps: int = 4, fb: float = 0.5) -> np.ndarray:
    """Ping-pong dotted-8th delay (wet only)."""
    d = int(round(0.75 * song.beat * song.sr))
    mono = x.mean(axis=0)
    mono = _filt(mono, "bandpass", (400.0, 4000.0), song.sr)
    out = np.zeros_like(x)
    for k in range(1, taps + 1):
        if k * d < len(mono):
            out[k % 2, k * d :] += fb ** (k - 1) * mono[: len(mono) - k * d]
    return out


def integrated_loudness(x: np.ndarray, sr: int) -> float:
    """ITU-R BS.1770 integrated loudness (LUFS, via pyloudnorm) of (channels, n) or (n,) audio; -70 if silent."""
    value = integrated_lufs(x, sr)
    return value if np.isfinite(value) else -70.0


def _limit(x: np.ndarray, sr: int, ceiling: float) -> np.ndarray:
    """Look-ahead brickwall limiter, vectorised: gain = ceiling / (held peak), smoothed."""
    w = max(3, int(0.004 * sr))
    peak = np.abs(x).max(axis=0)
    held = maximum_filter1d(peak, 2 * w + 1)
    g = np.minimum(1.0, ceiling / np.maximum(held, 1e-9))
    return x * uniform_filter1d(g, w)


def _glue(x: np.ndarray, amount: float) -> np.ndarray:
    """Soft-knee saturation: unity below the knee, peaks above it squeezed towards 1.3 (the limiter
    takes the rest)."""
    knee, top = 0.9 - 0.4 * amount, 1.3
    a = np.abs(x)
    over = a > knee
    y = x.copy()
    y[over] = np.sign(x[over]) * (knee + (top - knee) * np.tanh((a[over] - knee) / (top - knee)))
    return y


def _master(mix: np.ndarray, sr: int, glue: float, target: float, wip: bool) -> np.ndarray:
    """Loudness to ``target`` LUFS; mastered: glue + look-ahead limiter (iterated), WIP: gain only."""
    mix = _filt(mix, "highpass", 25.0, sr)
    gain = _db(target - integrated_loudness(mix, sr))
    y = mix * gain
    if wip:
        if np.abs(y).max() > 0.97:
            y = _limit(y, sr, 0.97)
    else:
        for _ in range(5):
            y = _limit(_glue(mix * gain, glue), sr, 0.97)
            err = target - integrated_loudness(y, sr)
            if abs(err) < 0.2:
                break
            gain *= _db(err * 1.1)
    return np.clip(y, -0.99, 0.99).astype(np.float32)


def _stems(style: TrackStyle, seconds: float, sr: int, detail_seed: int) -> tuple[_Song, _Sound, dict]:
    """Every instrument rendered, levelled and sidechained: name -> (2, n) float64."""
    if seconds <= 0:
        raise ValueError("seconds must be > 0")
    song = _compose(style, seconds, sr)
    sd = _design(style, detail_seed)
    lv = {k: _db(v) for k, v in sd.levels.items()}
    sc = _sidechain(song, sd, sd.sc_depth)
    sc_bass = _sidechain(song, sd, min(0.9, sd.sc_depth + 0.2))
    st = style
    chord_lvl = {"supersaw": 0.4, "pad": 0.4}.get(st.palette, 0.2)
    # energy: the breakdown sits lower under a high-energy drop (and comes back up through the build)
    g = _db(1.0 - 6.0 * st.energy)
    bd = _automation(song, {"intro": (1, 1), "breakdown": (g, g), "build": (g, 1), "drop": (1, 1)})
    hat_lvl = 0.07 * (0.5 + 0.6 * st.energy) * (0.15 + 1.7 * st.brightness**1.5)
    stems = {
        "kick": _pan(0.5 * lv["kick"] * _kick(song, sd), 0.0),
        "bass": _pan(0.8 * lv["bass"] * sc_bass * _bass(song, sd), 0.0),
        "chords": chord_lvl * lv["chords"] * sc * bd * _chords(song, sd),
        "main": (0.7 if st.palette in ("square", "fm") else 0.5) * lv["main"] * sc * _main(song, sd),
        "arp": 0.3 * lv["arp"] * sc * bd * _arp(song, sd),
        "lead": 0.25 * lv["lead"] * (0.5 + 0.5 * sc) * _lead(song, sd),
        "vox": 1.0 * lv["vox"] * sc * bd * _vox(song, sd),
        "hats": hat_lvl * lv["hats"] * _hats(song, sd),
        "perc": 0.16 * lv["perc"] * _percussion(song, sd),
        "riser": 0.08 * lv["riser"] * _riser(song, sd),
    }
    send = sum(stems[k] for k in ("chords", "main", "arp", "lead", "vox", "riser"))
    send = send + 0.3 * stems["perc"] + (0.5 * stems["hats"] if st.groove == "swing" else 0.0)
    stems["reverb"] = 0.4 * sd.reverb * _reverb(send, sd, sr) * (0.6 + 0.4 * sc)
    stems["delay"] = sd.delay * _delay(stems["arp"] + stems["lead"] + stems["main"], song)
    return song, sd, stems


def _render(style: TrackStyle, seconds: float, sr: int, detail_seed: int, wip: bool, target: float) -> np.ndarray:
    song, _sd, stems = _stems(style, seconds, sr, detail_seed)
    mix = sum(stems.values())
    return _master(mix, sr, 0.0 if wip else song.fam.glue, target, wip)


def render_track(style: TrackStyle, seconds: float = 30.0, sr: int = 22050) -> np.ndarray:
    """Render one mastered track: float32, shape (2, round(seconds * sr)), peak <= 0.99, ~-9 LUFS."""
    return _render(style, seconds, sr, style.seed, wip=False, target=MASTER_LUFS)


def render_wip(style: TrackStyle, seconds: float = 30.0, sr: int = 22050, gain_db: float = -9.0) -> np.ndarray:
    """The same song as an unmastered work in progress: same key/bpm/chords/patterns, redrawn
    sound-design details (detune, decays, levels...), no bus saturation or limiting, ``gain_db`` quieter
    (integrated loudness about ``-9 + gain_db`` LUFS)."""
    detail = zlib.crc32(f"wip:{style.seed}".encode())
    return _render(style, seconds, sr, detail, wip=True, target=MASTER_LUFS + gain_db)


# -------------------------------------------------------------------------------------------- library
def _track_seed(seed: int, family: str, index: int) -> int:
    return int(_rng(seed, zlib.crc32(family.encode()), index).integers(0, 2**31 - 1))


def _plan(n_per_family, families, seed):
    if families is None:
        families = list(n_per_family) if isinstance(n_per_family, dict) else list(FAMILIES)
    plan = []
    for fam in families:
        _family(fam)
        count = n_per_family.get(fam, 0) if isinstance(n_per_family, dict) else int(n_per_family)
        width = max(2, len(str(max(count - 1, 0))))
        for i in range(count):
            rng = _rng(seed, zlib.crc32(fam.encode()), i, 1)
            style = sample_style(fam, rng, seed=_track_seed(seed, fam, i))
            plan.append((f"{fam}/{fam}_{i:0{width}d}.wav", style))
    return plan


def _entry(rel: str, style: TrackStyle, seconds: float, sr: int) -> dict:
    return {"path": rel, **style.to_dict(), "seconds": float(seconds), "sr": int(sr)}


def _write_index(folder: Path, plan, index: dict) -> None:
    entries = [index[rel] for rel, _ in plan if rel in index]
    write_json(folder / "styles.json", entries)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "label"])
    for e in entries:
        w.writerow([e["path"], e["style"]])
    write_bytes(folder / "labels.csv", buf.getvalue().encode("utf-8"))


def _is_current(path: Path, old: dict | None, new: dict) -> bool:
    if old != new or not path.is_file():
        return False
    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - unreadable file: render it again
        return False
    return info.samplerate == new["sr"] and info.frames == int(round(new["seconds"] * new["sr"]))


def make_library(folder, n_per_family: int | dict[str, int] = 8, families: list[str] | None = None,
                 seconds: float = 30.0, sr: int = 22050, seed: int = 0, cancel=None):
    """Generator: render a labelled synthetic library into ``folder``.

    Writes ``<folder>/<family>/<family>_<nn>.wav`` (16-bit PCM stereo), ``labels.csv`` (columns
    ``path,label``; paths relative to ``folder``, label = family) and ``styles.json`` (one dict per track:
    ``path``, the TrackStyle fields, ``seconds``, ``sr``). Every file is written atomically; the two index
    files are rewritten after each rendered track, so an interrupted run keeps what it finished.
    Yields ``Progress(stage="synth", done, total, message, info={"path", "family", "cached"})`` after
    each track. Tracks whose wav exists and whose styles.json entry matches are not rendered again.
    ``cancel`` (a CancelToken) is checked before each track: a cancelled run raises
    :class:`trance_finder.errors.Cancelled` (tracks already written stay valid).
    Track styles depend only on (seed, family, index), not on the other counts.
    Returns the list of (absolute path, TrackStyle).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plan = _plan(n_per_family, families, seed)
    old = {}
    if (folder / "styles.json").is_file():
        try:
            old = {e["path"]: e for e in json.loads((folder / "styles.json").read_text("utf-8"))}
        except (ValueError, KeyError, TypeError):
            old = {}
    planned = {rel for rel, _ in plan}
    index = {k: v for k, v in old.items() if k in planned}
    result = []
    for done, (rel, style) in enumerate(plan, start=1):
        if cancel is not None:
            cancel.check()
        path = folder / rel
        entry = _entry(rel, style, seconds, sr)
        cached = _is_current(path, old.get(rel), entry)
        if not cached:
            audio = render_track(style, seconds, sr)
            with atomic_path(path) as tmp:
                sf.write(str(tmp), audio.T, sr, format="WAV", subtype="PCM_16")
            index[rel] = entry
            _write_index(folder, plan, index)
        result.append((path, style))
        yield Progress("synth", done, len(plan), f"{'kept' if cached else 'rendered'} {rel}",
                       {"path": rel, "family": style.style, "cached": cached})
    _write_index(folder, plan, {rel: _entry(rel, s, seconds, sr) for rel, s in plan})
    return result


def demo_library(folder, seed: int = 0, cancel=None):
    """Generator: the built-in demo library, 8 families x 6 tracks of 24 s at 22050 Hz."""
    return (yield from make_library(folder, 6, list(FAMILIES), seconds=24.0, sr=22050, seed=seed, cancel=cancel))


def benchmark_library(folder, seed: int = 0, cancel=None):
    """Generator: the benchmark library, 215 tracks of 30 s at 22050 Hz (27 per family, 26 for the last)."""
    counts = {f: 27 for f in FAMILIES}
    counts[FAMILIES[-1]] = 215 - 27 * (len(FAMILIES) - 1)
    return (yield from make_library(folder, counts, list(FAMILIES), seconds=30.0, sr=22050, seed=seed,
                                    cancel=cancel))
