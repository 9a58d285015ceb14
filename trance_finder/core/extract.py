"""From audio files to track features: window plan, loudness normalisation, backbones, pooling, cache.

A "feature set" names one backbone or several joined with "+" (``musicnn+dsp``): each track gets one
pooled vector per backbone, plus optional augmented *views* (the audio is augmented, then embedded).
Which windows of a track get embedded is the main speed lever: by default 8 windows of 6 s spread
over the track (a 30-minute mix costs as much as a 3-minute track); short tracks are read whole.

Every window is brought to mono at ``analysis.TAPE_SR`` (22.05 kHz) before anything else, whichever
way it was read:

* a query (``analyse_file(path)``) seeks and reads just its windows (fast: ranking needs no more);
* a reference (``analyse_file(path, structure=True)``, what training asks for) is decoded once, whole,
  in blocks: the blocks feed the section and mix analysers and a mono tape the windows are cut from
  (``core.analysis``), so sections, mix statistics and per-section vectors cost no second read.

``extract_library`` runs files in a process pool (``workers``, spawn) when there is more than one
core: decode, augmentation and the backbones of two files at once. Cancel stops the workers at once.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import numpy as np

from trance_finder.core import analysis
from trance_finder.core import audio as audio_io
from trance_finder.core.analysis import TAPE_SR
from trance_finder.core.augment import AUGMENT_VERSION, AudioAugmenter
from trance_finder.core.backbones import Backbone, get_backbone
from trance_finder.core.cache import EmbeddingCache, file_fingerprint
from trance_finder.core.dna import DNA_SR, DNA_VERSION, compute_dna
from trance_finder.core.progress import CancelToken, Progress
from trance_finder.errors import AudioLoadError, Cancelled

# musicnn (MSD) + the wheel's MSD_vgg + dsp: best held-out precision on real music (bench/bench_real.py
# --only networks,candidates: 0.490 vs 0.452 for musicnn+dsp, three fold draws) for 1.8 s per 7-minute
# query on one thread (bench/bench_extraction.py --only query)
DEFAULT_FEATURES = "musicnn+vgg_msd+dsp"
#: below this many files to extract, a process pool costs more (worker start-up) than it saves
POOL_MIN_FILES = 6


@dataclass(frozen=True)
class WindowPlan:
    n_windows: int = 8
    window_seconds: float = 6.0

    def windows(self, duration: float) -> list[tuple[float, float]]:
        """(start, length) pairs in seconds. Whole track when it is short, else evenly spread windows."""
        total = self.n_windows * self.window_seconds
        if duration <= total * 1.25:
            return [(0.0, duration)]
        lo, hi = 0.05 * duration, 0.95 * duration - self.window_seconds
        starts = np.linspace(lo, hi, self.n_windows)
        return [(float(s), self.window_seconds) for s in starts]


@dataclass
class TrackFeatures:
    """What the engine knows about one audio file."""

    path: str
    duration: float
    lufs: float  # integrated loudness of the analysed audio before normalisation
    dna: dict
    vectors: dict[str, np.ndarray]  # backbone name -> (1 + n_views, dim), row 0 = the original audio
    tags: np.ndarray | None = None  # mean tag probabilities of the original, when a backbone tags
    tag_names: tuple[str, ...] = ()
    # from the whole-file analysis (references; None when only windows were read):
    sections: dict | None = None  # TrackSections.to_json()
    mix: dict | None = None  # {"whole": MixStats.to_json(), "drop": ..., one per label present}
    section_vectors: dict[str, dict[str, np.ndarray]] | None = None  # label -> backbone -> pooled vector
    # backbone -> (n, dim): the original's frames pooled per window (a short track's one window split in
    # up to 8 parts); training pools random quarters of them into extra rows (TrainingSet.from_tracks)
    windows: dict[str, np.ndarray] | None = None

    @property
    def n_views(self) -> int:
        return min(v.shape[0] for v in self.vectors.values()) - 1

    def joined(self, names: list[str], view: int = 0) -> np.ndarray:
        return np.concatenate([self.vectors[n][view] for n in names]).astype(np.float32)

    def joined_section(self, names: list[str], label: str) -> np.ndarray:
        return np.concatenate([self.section_vectors[label][n] for n in names]).astype(np.float32)


@dataclass
class LibraryFeatures:
    tracks: list[TrackFeatures] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def parse_feature_set(spec: str) -> list[str]:
    names = [n.strip().lower() for n in str(spec).split("+") if n.strip()]
    if not names:
        raise ValueError("empty backbone name")
    return names


def default_workers() -> int:
    """Processes for a library extraction: 2 on a machine with 2 or more cores, else 1
    (``TRANCE_FINDER_WORKERS`` overrides)."""
    try:
        return max(1, int(os.environ["TRANCE_FINDER_WORKERS"]))
    except (KeyError, ValueError):
        return 2 if (os.cpu_count() or 1) >= 2 else 1


@dataclass
class _Embedded:
    vectors: dict[str, np.ndarray]
    tags: dict[str, np.ndarray]  # backbone -> mean tag probabilities of the original, for those that tag
    dna: dict
    frames0: dict[str, list[np.ndarray]]  # backbone -> frames of each window of the original (view 0)
    windows: dict[str, np.ndarray]  # backbone -> the original's frames pooled per window (window_vectors)


def window_vectors(backbone: Backbone, frames: list[np.ndarray], parts: int = 8) -> np.ndarray:
    """(n, dim): each window's frames pooled; one long window (a short track) is split in up to ``parts``."""
    if len(frames) == 1:
        frames = [f for f in np.array_split(frames[0], min(parts, len(frames[0]))) if len(f)]
    return np.stack([backbone.pool(f) for f in frames]).astype(np.float32)


class FeatureExtractor:
    """Turns files into TrackFeatures for a feature set, using (and filling) the cache."""

    def __init__(self, features: str = DEFAULT_FEATURES, device: str = "cpu", plan: WindowPlan | None = None,
                 cache: EmbeddingCache | None = None, seed: int = 0,
                 backbones: list[Backbone] | None = None):
        self.names = parse_feature_set(features)
        self._custom_backbones = backbones is not None
        self.device = device
        self.backbones = backbones or [get_backbone(n, device=device) for n in self.names]
        self.plan = plan or WindowPlan()
        self.cache = cache
        self.seed = int(seed)
        self.augmenter: AudioAugmenter | None = None

    @property
    def spec(self) -> str:
        return "+".join(self.names)

    @property
    def dims(self) -> dict[str, int]:
        return {b.name: b.dim for b in self.backbones}

    @property
    def tagger(self) -> Backbone | None:
        """The backbone whose tags a track shows: the first one that tags (a joined set may hold two)."""
        return next((b for b in self.backbones if b.tag_names), None)

    @property
    def tag_names(self) -> tuple[str, ...]:
        return tuple(self.tagger.tag_names) if self.tagger is not None else ()

    def _shown(self, tags: dict[str, np.ndarray]) -> tuple[np.ndarray | None, tuple[str, ...]]:
        """(tags, names) a track shows: the tagger's own, or none."""
        mine = tags.get(self.tagger.name) if self.tagger is not None else None
        return mine, (self.tag_names if mine is not None else ())

    def describe(self) -> dict:
        return {"features": self.spec, "backbones": [b.describe() for b in self.backbones],
                "window_plan": {"n_windows": self.plan.n_windows, "window_seconds": self.plan.window_seconds}}

    # -- cache keys -----------------------------------------------------------------------------
    def _plan_key(self) -> dict:
        return {"n_windows": self.plan.n_windows, "window_seconds": self.plan.window_seconds,
                "target_lufs": audio_io.TARGET_LUFS, "tape_sr": TAPE_SR}

    def _backbone_key(self, b: Backbone) -> dict:
        return {"kind": "embedding", "backbone": b.id, "seed": self.seed, "augment": AUGMENT_VERSION,
                **self._plan_key()}

    def _dna_key(self) -> dict:
        return {"kind": "dna", "version": DNA_VERSION, **self._plan_key()}

    def _structure_key(self) -> dict:
        # the tempo handed to the section analysis comes from the DNA of the plan's windows
        return {"kind": "structure", "version": analysis.structure_version(), "dna": DNA_VERSION,
                **self._plan_key()}

    def _section_vectors_key(self) -> dict:
        return {"kind": "section_vectors", "version": analysis.structure_version(),
                "backbones": [b.id for b in self.backbones], **self._plan_key()}

    # -- one file -------------------------------------------------------------------------------
    def analyse_file(self, path, n_views: int = 0, cancel: CancelToken | None = None,
                     structure: bool = False) -> TrackFeatures:
        """Features for one file; raises AudioLoadError with a clear reason for unusable files.

        ``structure``: decode the whole file once and add sections, mix statistics and section
        vectors (what references need); else only the plan's windows are read (what a query needs).
        ``cancel`` is checked between blocks, views and backbones, so even a long file stops promptly."""
        path = str(path)
        info = audio_io.audio_info(path)
        structure = structure and analysis.structure_available()
        fp = file_fingerprint(path) if self.cache else ""
        if self.cache:
            hit = self._from_cache(path, info, fp, n_views, structure)
            if hit is not None:
                return hit
        if structure:
            return self._analyse_whole(path, info, fp, n_views, cancel)
        excerpts = [audio_io.resample(audio_io.to_mono(audio_io.read_window(path, s, d, info)), info.sample_rate,
                                      TAPE_SR) for s, d in self.plan.windows(info.duration)]
        lufs = audio_io.check_usable(np.concatenate(excerpts), TAPE_SR, path)
        emb = self._embed(excerpts, lufs, fp or path, n_views, cancel)
        if self.cache:
            self._to_cache(fp, emb.dna, lufs, emb.vectors, emb.tags, emb.windows)
        return TrackFeatures(path, info.duration, float(lufs), emb.dna, emb.vectors, *self._shown(emb.tags),
                             windows=emb.windows)

    def _embed(self, excerpts: list[np.ndarray], lufs: float, seed_key: str, n_views: int,
               cancel: CancelToken | None) -> _Embedded:
        """Vectors of the original excerpts (mono, TAPE_SR) and ``n_views`` augmented views of them."""
        views = [excerpts]
        if n_views:
            self.augmenter = self.augmenter or AudioAugmenter()
            for v in range(1, n_views + 1):
                if cancel:
                    cancel.check()
                views.append(self.augmenter.augment_excerpts(excerpts, TAPE_SR, self._view_seed(seed_key, v)))
        vectors: dict[str, list[np.ndarray]] = {b.name: [] for b in self.backbones}
        frames0: dict[str, list[np.ndarray]] = {}
        tags: dict[str, np.ndarray] = {}
        dna: dict = {}
        for v, view in enumerate(views):
            view_lufs = lufs if v == 0 else audio_io.integrated_lufs(np.concatenate(view), TAPE_SR)
            at = self._normalised(view, audio_io.loudness_gain_db(view_lufs))
            if v == 0:
                dna = compute_dna(at(DNA_SR), DNA_SR, lufs)
            for b in self.backbones:
                if cancel:
                    cancel.check()
                outs = [b.analyse(x) for x in at(b.sample_rate)]
                if v == 0:
                    frames0[b.name] = [o.frames for o in outs]
                vectors[b.name].append(b.pool(np.concatenate([o.frames for o in outs])))
                if v == 0 and outs[0].tags is not None:
                    tags[b.name] = np.concatenate([o.tags for o in outs]).mean(axis=0).astype(np.float32)
        stacked = {name: np.stack(rows).astype(np.float32) for name, rows in vectors.items()}
        windows = {b.name: window_vectors(b, frames0[b.name], self.plan.n_windows) for b in self.backbones}
        return _Embedded(stacked, tags, dna, frames0, windows)

    @staticmethod
    def _normalised(excerpts: list[np.ndarray], gain_db: float):
        """at(rate) -> the excerpts with ``gain_db`` applied, resampled to ``rate`` (memoised)."""
        normalised = [audio_io.apply_gain_db(x, gain_db) for x in excerpts]
        done: dict[int, list[np.ndarray]] = {}

        def at(rate: int) -> list[np.ndarray]:
            if rate not in done:
                done[rate] = [audio_io.resample(x, TAPE_SR, rate) for x in normalised]
            return done[rate]

        return at

    def _view_seed(self, key: str, view: int) -> int:
        return (zlib.crc32(key.encode()) * 1000003 + self.seed * 7919 + view) % (2**31)

    # -- the whole file, one decode ---------------------------------------------------------------
    def _analyse_whole(self, path, info, fp: str, n_views: int, cancel: CancelToken | None) -> TrackFeatures:
        mix_mod = analysis.modules()[1]
        tape, sec_an, mix_an = self.decode_whole(path, info, cancel)
        windows = self.plan.windows(_plan_duration(info, tape))
        excerpts = [tape.excerpt(s, d) for s, d in windows]
        lufs = audio_io.check_usable(np.concatenate(excerpts), TAPE_SR, path)
        cached = self._cached_embedding(fp, n_views) if self.cache else None
        if cached is not None:  # windows embedded before (e.g. once a query): only view 0's frames again
            dna, vectors, tags, _, had_windows = cached
            emb = self._embed(excerpts, lufs, fp or path, 0, cancel)
            emb = _Embedded(vectors, tags, dna, emb.frames0, emb.windows)
            if had_windows is None:  # an entry from before the window vectors were kept gets them now
                self._to_cache(fp, dna, lufs, vectors, tags, emb.windows)
        else:
            emb = self._embed(excerpts, lufs, fp or path, n_views, cancel)
            if self.cache:
                self._to_cache(fp, emb.dna, lufs, emb.vectors, emb.tags, emb.windows)
        if cancel:
            cancel.check()
        sections = sec_an.finish(float(emb.dna["tempo"]) or None)
        frames = mix_an.finish()
        mix = {label: s.to_json() for label, s in mix_mod.section_stats(frames, sections.sections).items()}
        sec_json = sections.to_json()
        svec = self._section_vectors(tape, windows, emb.frames0, sections, lufs, cancel)
        if self.cache:
            self.cache.put(fp, self._structure_key(), {"sections": np.array(json.dumps(sec_json)),
                                                      "mix": np.array(json.dumps(mix))})
            self._put_section_vectors(fp, svec)
        return TrackFeatures(path, info.duration, float(lufs), emb.dna, emb.vectors, *self._shown(emb.tags),
                             sec_json, mix, svec, emb.windows)

    def decode_whole(self, path, info, cancel: CancelToken | None = None, analysers: bool = True,
                     tape: bool = True):
        """One pass over the file: (Tape or None, SectionAnalyzer, MixAnalyzer) filled block by block."""
        mods = analysis.modules() if analysers else None
        sec_an = mods[0].SectionAnalyzer(info.sample_rate) if mods else None
        mix_an = mods[1].MixAnalyzer(info.sample_rate) if mods else None
        mono = analysis.Tape(info.sample_rate, info.frames) if tape else None
        n = 0
        for _start, block in audio_io.iter_blocks(path, info=info):
            if cancel:
                cancel.check()
            n += block.shape[1]
            if sec_an is not None:
                sec_an.add(block)
                mix_an.add(block)
            if mono is not None:
                mono.add(audio_io.to_mono(block))
        if mono is not None:
            mono.finish()
        if n == 0:
            raise AudioLoadError(path, "file is truncated: no audio could be decoded")
        return mono, sec_an, mix_an

    def _section_vectors(self, tape: analysis.Tape, windows, frames0: dict[str, list[np.ndarray]], sections,
                         lufs: float, cancel: CancelToken | None, labels=None) -> dict[str, dict[str, np.ndarray]]:
        """label -> backbone -> pooled frames of that label's sections (see ``core.analysis``)."""
        ranges = analysis.label_ranges(sections)
        gain = audio_io.loudness_gain_db(lufs)
        out: dict[str, dict[str, np.ndarray]] = {}
        for label in sorted(ranges if labels is None else [lb for lb in labels if lb in ranges]):
            per: dict[str, np.ndarray] = {}
            for b in self.backbones:
                picked = [f[analysis.frames_in(ranges[label], s, len(f), b.patch_seconds)]
                          for (s, _d), f in zip(windows, frames0[b.name])]
                picked = [p for p in picked if len(p)]
                if picked:
                    per[b.name] = b.pool(np.concatenate(picked))
            missing = [b for b in self.backbones if b.name not in per]
            if missing:
                extra = analysis.extra_window(ranges[label], self.plan.window_seconds,
                                              min(b.patch_seconds for b in missing) / 2.0)
                if extra is None:
                    continue  # a section shorter than half a patch: no vector for this label
                at = self._normalised([tape.excerpt(*extra)], gain)
                for b in missing:
                    if cancel:
                        cancel.check()
                    per[b.name] = b.pool(b.analyse(at(b.sample_rate)[0]).frames)
            out[label] = per
        return out

    def structure_of(self, path, cancel: CancelToken | None = None, tempo: float | None = None,
                     use_cache: bool = True, need_tape: bool = False):
        """(sections, {label: MixStats}, tape, lufs of the plan's windows) for one file, from one decode
        (or the cache). For the query side: the WIP's sections and mix. ``tempo`` (the DNA tempo of
        its ranked-list analysis) spares the tempo search and, unless ``need_tape`` (section search),
        the mono tape: then ``tape`` and ``lufs`` are None."""
        if not analysis.structure_available():
            raise AudioLoadError(path, "section and mix analysis are not available in this build")
        sections_mod, mix_mod = analysis.modules()
        path = str(path)
        info = audio_io.audio_info(path)
        fp = file_fingerprint(path) if self.cache else ""
        if self.cache and use_cache:
            entry = self.cache.get(fp, self._structure_key())
            if entry is not None:
                try:
                    sec = sections_mod.TrackSections.from_json(json.loads(str(entry["sections"])))
                    mix = {k: mix_mod.MixStats.from_json(v) for k, v in json.loads(str(entry["mix"])).items()}
                    return sec, mix, None, None
                except (KeyError, ValueError, TypeError):
                    pass  # made by another version: recompute
        tape, sec_an, mix_an = self.decode_whole(path, info, cancel, tape=need_tape or not tempo)
        lufs = None
        if tape is not None:
            excerpts = [tape.excerpt(s, d) for s, d in self.plan.windows(_plan_duration(info, tape))]
            lufs = audio_io.check_usable(np.concatenate(excerpts), TAPE_SR, path)
        if not tempo:
            from trance_finder.core.dna import estimate_tempo

            gain = audio_io.loudness_gain_db(lufs)
            tempo = estimate_tempo([audio_io.apply_gain_db(x, gain) for x in excerpts], TAPE_SR)
        sec = sec_an.finish(float(tempo) or None)
        mix = mix_mod.section_stats(mix_an.finish(), sec.sections)
        if self.cache:
            self.cache.put(fp, self._structure_key(), {
                "sections": np.array(json.dumps(sec.to_json())),
                "mix": np.array(json.dumps({k: v.to_json() for k, v in mix.items()}))})
        return sec, mix, tape, lufs

    def section_vector(self, tape: analysis.Tape, sections, lufs: float, label: str,
                       cancel: CancelToken | None = None, duration: float | None = None) -> np.ndarray | None:
        """The joined raw vector of ``label``'s sections of a decoded file (as references store it),
        or None when the file has no such section. ``duration``: the file's (header) duration."""
        windows = self.plan.windows(duration if duration and abs(duration - tape.duration) < 0.5
                                    else tape.duration)
        excerpts = [tape.excerpt(s, d) for s, d in windows]
        at = self._normalised(excerpts, audio_io.loudness_gain_db(lufs))
        frames0 = {}
        for b in self.backbones:
            if cancel:
                cancel.check()
            frames0[b.name] = [b.analyse(x).frames for x in at(b.sample_rate)]
        per = self._section_vectors(tape, windows, frames0, sections, lufs, cancel, labels=[label])
        if label not in per or len(per[label]) < len(self.backbones):
            return None
        return np.concatenate([per[label][n] for n in self.names]).astype(np.float32)

    # -- cache ----------------------------------------------------------------------------------
    def _cached_embedding(self, fp: str, n_views: int):
        dna_entry = self.cache.get(fp, self._dna_key())
        if dna_entry is None:
            return None
        vectors, tags, windows = {}, {}, {}
        for b in self.backbones:
            entry = self.cache.get(fp, self._backbone_key(b))
            if entry is None or entry["views"].shape[0] < 1 + n_views or entry["views"].shape[1] != b.dim:
                return None
            vectors[b.name] = entry["views"][: 1 + n_views]
            if "tags" in entry:
                tags[b.name] = entry["tags"]
            if "windows" in entry and entry["windows"].ndim == 2 and entry["windows"].shape[1] == b.dim:
                windows[b.name] = entry["windows"]
        windows = windows if len(windows) == len(self.backbones) else None  # entries written before them: none
        return _dna_from_arrays(dna_entry), vectors, tags, float(dna_entry["lufs"]), windows

    def _from_cache(self, path, info, fp: str, n_views: int, structure: bool) -> TrackFeatures | None:
        cached = self._cached_embedding(fp, n_views)
        if cached is None:
            return None
        dna, vectors, tags, lufs, windows = cached
        t = TrackFeatures(path, info.duration, lufs, dna, vectors, *self._shown(tags), windows=windows)
        if structure:
            entry = self.cache.get(fp, self._structure_key())
            svec = self._get_section_vectors(fp)
            if entry is None or svec is None:
                return None
            try:
                t.sections, t.mix = json.loads(str(entry["sections"])), json.loads(str(entry["mix"]))
            except (KeyError, ValueError):
                return None
            t.section_vectors = svec
        return t

    def _to_cache(self, fp, dna, lufs, stacked, tags, windows) -> None:
        self.cache.put(fp, self._dna_key(), _dna_to_arrays(dna, lufs))
        for b in self.backbones:
            arrays = {"views": stacked[b.name], "windows": windows[b.name]}
            if b.name in tags:  # each backbone's own tags
                arrays["tags"] = tags[b.name]
            self.cache.put(fp, self._backbone_key(b), arrays)

    def _put_section_vectors(self, fp: str, svec: dict[str, dict[str, np.ndarray]]) -> None:
        arrays: dict[str, np.ndarray] = {"labels": np.array(sorted(svec), dtype=str)}
        for b in self.backbones:
            arrays[f"v_{b.name}"] = (np.stack([svec[lb][b.name] for lb in sorted(svec)]).astype(np.float32)
                                     if svec else np.zeros((0, b.dim), np.float32))
        self.cache.put(fp, self._section_vectors_key(), arrays)

    def _get_section_vectors(self, fp: str) -> dict[str, dict[str, np.ndarray]] | None:
        entry = self.cache.get(fp, self._section_vectors_key())
        if entry is None:
            return None
        labels = [str(x) for x in entry["labels"]]
        try:
            return {lb: {b.name: entry[f"v_{b.name}"][i] for b in self.backbones} for i, lb in enumerate(labels)}
        except (KeyError, IndexError):
            return None

    # -- a library ------------------------------------------------------------------------------
    def extract_library(self, paths, n_views: int = 0, cancel: CancelToken | None = None,
                        structure: bool = False, workers: int = 1):
        """Generator: yields Progress per file, returns LibraryFeatures (tracks in ``paths`` order).
        Bad files are skipped with a one-line reason. ``workers`` > 1: files the cache does not
        hold are analysed in that many processes."""
        paths = [str(p) for p in paths]
        total = len(paths)
        results: dict[int, TrackFeatures] = {}
        skipped: dict[int, tuple[str, str]] = {}
        started = time.monotonic()
        yield Progress("extract", 0, total, f"Extracting features from {total} tracks")
        done = 0

        def step(i: int, outcome) -> Progress:
            nonlocal done
            done += 1
            info: dict = {}
            if isinstance(outcome, TrackFeatures):
                results[i] = outcome
            else:
                skipped[i] = (paths[i], outcome)
                info = {"skipped": paths[i], "reason": outcome}
            elapsed = time.monotonic() - started
            return Progress("extract", done, total, paths[i], {**info, "eta_s": elapsed / done * (total - done)})

        todo = list(range(total))
        if self.cache:  # what the cache holds costs no process
            rest = []
            for i in todo:
                if cancel:
                    cancel.check()
                hit = self._cache_only(paths[i], n_views, structure)
                if hit is None:
                    rest.append(i)
                else:
                    yield step(i, hit)
            todo = rest
        use_pool = (workers > 1 and len(todo) >= POOL_MIN_FILES and not self._custom_backbones
                    and str(self.device).startswith("cpu"))
        if use_pool:
            todo = yield from self._pooled(paths, todo, n_views, structure, workers, cancel, step)
        for i in todo:
            if cancel:
                cancel.check()
            yield step(i, self._analyse_or_reason(paths[i], n_views, cancel, structure))
        return LibraryFeatures([results[i] for i in sorted(results)], [skipped[i] for i in sorted(skipped)])

    def _cache_only(self, path: str, n_views: int, structure: bool) -> TrackFeatures | None:
        try:
            info = audio_io.audio_info(path)
            return self._from_cache(path, info, file_fingerprint(path), n_views,
                                    structure and analysis.structure_available())
        except (AudioLoadError, OSError):
            return None  # analysed (and reported) below

    def _analyse_or_reason(self, path: str, n_views: int, cancel, structure: bool):
        """TrackFeatures, or the one-line reason the file was skipped."""
        try:
            return self.analyse_file(path, n_views, cancel, structure=structure)
        except AudioLoadError as exc:
            return exc.reason
        except Cancelled:
            raise
        except (OSError, ValueError, RuntimeError, MemoryError) as exc:  # vanished mid-read, decoder errors
            return f"could not be analysed ({type(exc).__name__}: {str(exc)[:120]})"

    def _pooled(self, paths, todo, n_views, structure, workers, cancel, step):
        """Generator: runs ``todo`` in a spawn process pool, yields ``step`` Progress; returns the
        indices still to do in-process (all of them left when the pool broke)."""
        import multiprocessing

        cache_dir = str(self.cache.folder) if self.cache else None
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_init,
                                   initargs=(self.spec, self.plan, cache_dir, self.seed))
        pending = {pool.submit(_worker_run, paths[i], n_views, structure): i for i in todo}
        finished: set[int] = set()
        clean = False
        try:
            while pending:
                if cancel:
                    cancel.check()
                ready, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for fut in ready:
                    i = pending.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool:
                        return [j for j in todo if j not in finished]
                    finished.add(i)
                    yield step(i, outcome)
            clean = True
            return []
        finally:
            _stop_pool(pool, graceful=clean)


def _plan_duration(info, tape: analysis.Tape) -> float:
    """The duration the window plan is laid over: the header's (as a query reads it), unless the
    decode found the header wrong."""
    return info.duration if abs(info.duration - tape.duration) < 0.5 else tape.duration


def _stop_pool(pool: ProcessPoolExecutor, graceful: bool) -> None:
    """Shut a pool down; unless ``graceful``, terminate its workers first (cancel within a second)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    if not graceful:
        for proc in procs:
            try:
                proc.terminate()
            except Exception:  # already gone
                pass
    pool.shutdown(wait=graceful, cancel_futures=True)
    for proc in procs:
        proc.join(timeout=1.0)


_WORKER: FeatureExtractor | None = None


def _worker_init(spec: str, plan: WindowPlan, cache_dir: str | None, seed: int) -> None:
    global _WORKER
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    _WORKER = FeatureExtractor(spec, device="cpu", plan=plan, cache=EmbeddingCache(cache_dir) if cache_dir else None,
                               seed=seed)


def _worker_run(path: str, n_views: int, structure: bool):
    """In a pool process: TrackFeatures, or the one-line reason the file is skipped."""
    return _WORKER._analyse_or_reason(path, n_views, None, structure)


def _dna_to_arrays(dna: dict, lufs: float) -> dict[str, np.ndarray]:
    names = sorted(dna)
    return {"names": np.array(names), "values": np.array([dna[n] for n in names], dtype=np.float64),
            "lufs": np.array(lufs)}


def _dna_from_arrays(entry: dict) -> dict:
    return {str(n): float(v) for n, v in zip(entry["names"], entry["values"])}
