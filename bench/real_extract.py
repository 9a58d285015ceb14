"""Extraction half of bench_real.py: per-patch frames of the development corpus, stored ONCE.

For every corpus track (labels.csv of the corpus) it stores, per 3-s patch, musicnn's 200-d
penultimate layer (pre-ReLU, what the app uses), its 50 tag probabilities, and the mid-end feature
maps pooled per patch (753 max + 753 mean, the input of musicnn's dense layer), the embeddings and
tags of the wheel's other networks on the same patches (``mtt``: MTT_musicnn 200-d, ``vggmsd`` /
``vggmtt``: MSD_vgg / MTT_vgg pool5 256-d; ``*_tags`` with them), plus the dsp backbone's frames and
the DNA. Four "sets" per track:

* ``def``  the app's default window plan (8 x 6 s), loudness-normalised like the app;
* ``full`` the whole excerpt (<= 120 s) as consecutive patches (window-plan experiments);
* ``v1``, ``v2`` two augmented views of the default windows (the app's augmenter).

And for about every 10th track, five WIP-like copies (-12 dB, +1 semitone, tempo x1.03,
treble -6 dB, mp3 128 kbit/s, all made with ffmpeg) through the default plan.

    nice -n 10 python bench/real_extract.py --corpus /work/corpus --jobs 2 [--sets def,v1,v2,full]

Re-running adds only what is missing (more views, the full set), so a first pass can be lean.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

OTHER_NETWORKS = {"mtt": "MTT_musicnn", "vggmsd": "MSD_vgg", "vggmtt": "MTT_vgg"}
COPIES = {
    "minus12db": "volume=-12dB",
    "pitch_up1": "asetrate=44100*1.0594630943592953,aresample=44100,atempo=0.9438743126816935",
    "tempo103": "atempo=1.03",
    "treble_minus6": "treble=g=-6",
    "mp3_128k": None,
}


def corpus_rows(corpus: Path) -> list[dict]:
    """labels.csv rows; while the corpus is still being built, the finished tracks (sidecar written)."""
    if (corpus / "labels.csv").exists():
        with open(corpus / "labels.csv", newline="") as fh:
            return list(csv.DictReader(fh))
    return [{"path": str(f.relative_to(corpus)), "label": f.parent.name}
            for f in sorted(corpus.glob("*/*__*.flac")) if f.with_suffix(".json").exists()]


def has_copies(key: str) -> bool:
    """About every 10th track gets the WIP-like copies, fixed by its name (stable as tracks are added)."""
    return zlib.crc32(key.encode()) % 10 == 0


def key_of(row: dict) -> str:
    return Path(row["path"]).stem


class Extractor:
    def __init__(self):
        import torch

        torch.set_num_threads(1)
        from trance_finder.core.augment import AudioAugmenter
        from trance_finder.core.backbones.dsp import DspBackbone
        from trance_finder.core.backbones.musicnn import load_network

        self.torch = torch
        self.net = load_network()
        self.others = {key: load_network(network=net) for key, net in OTHER_NETWORKS.items()}
        self.dsp = DspBackbone()
        self.aug = AudioAugmenter()

    def musicnn(self, x16: np.ndarray) -> dict:
        import torch.nn.functional as F

        from trance_finder.core.backbones.musicnn import log_mel_patches

        torch = self.torch
        net = self.net
        patches = log_mel_patches(x16)
        embs, tags, mids = [], [], []
        with torch.inference_mode():
            for s in range(0, len(patches), 8):
                x = net.input_bn(torch.from_numpy(patches[s:s + 8]).unsqueeze(1))
                front = torch.cat([b(x) for b in net.timbral] + [b(x) for b in net.temporal], dim=1)
                m1 = net.midend[0](front)
                m2 = net.midend[1](m1) + m1
                m3 = net.midend[2](m2) + m2
                feats = torch.cat([front, m1, m2, m3], dim=1)
                mx, mn = feats.amax(dim=2), feats.mean(dim=2)
                pooled = torch.stack([mx, mn], dim=2).flatten(1)
                emb = net.dense(net.pool_bn(pooled))
                t = torch.sigmoid(net.classifier(net.dense_bn(F.relu(emb))))
                embs.append(emb.numpy())
                tags.append(t.numpy())
                mids.append(torch.cat([mx, mn], dim=1).numpy())
            out = {"emb": np.concatenate(embs).astype(np.float32), "tags": np.concatenate(tags).astype(np.float32),
                   "mid": np.concatenate(mids).astype(np.float16)}
            for key, other in self.others.items():
                t, e = other(torch.from_numpy(patches))
                out[key], out[f"{key}_tags"] = e.numpy().astype(np.float32), t.numpy().astype(np.float32)
        return out

    def one_set(self, excerpts: list[np.ndarray], sr: int, lufs: float, prefix: str, out: dict,
                dna: bool = False) -> None:
        from trance_finder.core import audio as aio
        from trance_finder.core.dna import DNA_SR, compute_dna

        gain = aio.loudness_gain_db(lufs)
        normed = [aio.apply_gain_db(x, gain) for x in excerpts]
        parts = [self.musicnn(aio.resample(x, sr, 16000)) for x in normed]
        for k in parts[0]:
            out[f"{prefix}_{k}"] = np.concatenate([p[k] for p in parts])
        out[f"{prefix}_dsp"] = np.concatenate([self.dsp.analyse(aio.resample(x, sr, 22050)).frames for x in normed])
        if dna:
            d = compute_dna([aio.resample(x, sr, DNA_SR) for x in normed], DNA_SR, lufs)
            out["dna_names"] = np.array(sorted(d))
            out["dna_values"] = np.array([d[n] for n in sorted(d)], dtype=np.float64)

    def default_plan(self, path: str) -> tuple[list[np.ndarray], int, float]:
        from trance_finder.core import audio as aio
        from trance_finder.core.extract import WindowPlan

        info = aio.audio_info(path)
        ex = [aio.to_mono(aio.read_window(path, s, d, info)) for s, d in WindowPlan().windows(info.duration)]
        lufs = aio.check_usable(np.concatenate(ex), info.sample_rate, path)
        return ex, info.sample_rate, lufs

    def track(self, path: str, sets: list[str], have: dict) -> dict:
        """The arrays of ``sets`` ("def", "full", "v1", "v2", ...) not already in ``have``."""
        from trance_finder.core import audio as aio

        out: dict = dict(have)
        ex, sr, lufs = self.default_plan(path)
        if "def_emb" not in out or "def_mtt" not in out:
            out["lufs"] = np.array(lufs)
            out["duration"] = np.array(aio.audio_info(path).duration)
            self.one_set(ex, sr, lufs, "def", out, dna=True)
        if "full" in sets and "full_emb" not in out:
            full = aio.to_mono(aio.read_window(path, 0.0, None))
            self.one_set([full], sr, aio.integrated_lufs(full, sr), "full", out)
        for name in sets:
            if name.startswith("v") and (f"{name}_emb" not in out or f"{name}_mtt" not in out):
                seed = (zlib.crc32(path.encode()) * 1000003 + int(name[1:])) % (2**31)
                views = self.aug.augment_excerpts(ex, sr, seed)
                self.one_set(views, sr, aio.integrated_lufs(np.concatenate(views), sr), name, out)
        return out

    def copy(self, path: str, kind: str) -> dict:
        out: dict = {}
        with tempfile.TemporaryDirectory() as tmp:
            dst = str(Path(tmp) / "copy.wav")
            if COPIES[kind] is None:
                mp3 = str(Path(tmp) / "copy.mp3")
                subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", path, "-b:a", "128k", mp3], check=True)
                subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", mp3, dst], check=True)
            else:
                subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", path, "-af", COPIES[kind], dst], check=True)
            ex, sr, lufs = self.default_plan(dst)
            self.one_set(ex, sr, lufs, "def", out)
        return out


_EX: Extractor | None = None


def _work(job):
    global _EX
    corpus, out_dir, row, with_copies, sets = job
    if _EX is None:
        _EX = Extractor()
    key = key_of(row)
    path = str(Path(corpus) / row["path"])
    t = time.perf_counter()
    dst = Path(out_dir) / "tracks" / f"{key}.npz"
    have = {}
    if dst.exists():
        with np.load(dst) as d:
            have = {k: d[k] for k in d.files}
    if any(f"{s}_{k}" not in have for s in sets for k in ("emb", "mtt")):
        arrays = _EX.track(path, sets, have)
        tmp = dst.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, dst)
    if with_copies:
        for kind in COPIES:
            cdst = Path(out_dir) / "copies" / f"{key}__{kind}.npz"
            if cdst.exists():
                continue
            arrays = _EX.copy(path, kind)
            tmp = cdst.with_suffix(".tmp.npz")
            np.savez(tmp, **arrays)
            os.replace(tmp, cdst)
    return key, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/work/corpus")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "real"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--copies", type=int, default=1, help="0: skip the WIP-like copies in this pass")
    ap.add_argument("--sets", default="def,v1", help="def (always), full, v1, v2, ...: added to what is stored")
    args = ap.parse_args()
    corpus, out = Path(args.corpus), Path(args.out)
    (out / "tracks").mkdir(parents=True, exist_ok=True)
    (out / "copies").mkdir(parents=True, exist_ok=True)
    rows = corpus_rows(corpus)
    sets = [x for x in args.sets.split(",") if x]
    # round-robin over labels, so that a partial run still covers every label evenly
    by_label: dict[str, list[dict]] = {}
    for r in rows:
        by_label.setdefault(r["label"], []).append(r)
    ordered = [r for i in range(max(map(len, by_label.values()))) for rs in by_label.values() if i < len(rs)
               for r in [rs[i]]]
    jobs = [(str(corpus), str(out), r, args.copies and has_copies(key_of(r)), sets) for r in ordered]
    t0 = time.perf_counter()
    if args.jobs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.jobs) as pool:
            for n, (key, s) in enumerate(pool.imap_unordered(_work, jobs), 1):
                print(f"[{n}/{len(jobs)}] {key} {s:.1f} s (total {time.perf_counter() - t0:.0f} s)", flush=True)
    else:
        for n, job in enumerate(jobs, 1):
            key, s = _work(job)
            print(f"[{n}/{len(jobs)}] {key} {s:.1f} s (total {time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"done in {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
