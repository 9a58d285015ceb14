"""Extraction speed of the musicnn backbone: audio seconds analysed per wall-clock second.

    python bench/bench_musicnn_speed.py [--seconds 60] [--repeats 3]

Runs ``MusicnnBackbone.analyse`` on a synthetic 60 s clip on the CPU with one torch thread, and on
CUDA when a device is present, and prints a markdown table (best of ``--repeats`` runs after one
warm-up; the log-mel front end and the network are also timed apart).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from trance_finder.core.backbones.musicnn import MusicnnBackbone, log_mel_patches  # noqa: E402


def clip(seconds: float, sr: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    kick = np.sin(2 * np.pi * 50 * t) * np.exp(-12 * ((t * 138 / 60) % 1))
    saw = sum(0.1 * (2 * ((t * f) % 1) - 1) for f in (220.0, 261.63, 329.63))
    return (0.5 * kick + saw + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench(device: str, audio: np.ndarray, repeats: int, batch_size: int) -> dict:
    bb = MusicnnBackbone(device=device, batch_size=batch_size)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def full():
        bb.analyse(audio)
        sync()

    patches = log_mel_patches(audio)
    x = torch.from_numpy(patches).to(device)

    def net_only():
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                bb.net(x[i:i + batch_size])
        sync()

    seconds = audio.size / bb.sample_rate
    t_full = best_of(full, repeats)
    t_mel = best_of(lambda: log_mel_patches(audio), repeats)
    t_net = best_of(net_only, repeats)
    return {"device": device, "patches": len(patches), "t_full": t_full, "t_mel": t_mel, "t_net": t_net,
            "speed": seconds / t_full}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    audio = clip(args.seconds)
    results = [bench("cpu", audio, args.repeats, args.batch_size)]
    if torch.cuda.is_available():
        results.append(bench("cuda", audio, args.repeats, args.batch_size))

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
          f"({platform.system()} {platform.release()}), torch {torch.__version__} "
          f"(1 CPU thread, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), CUDA device: {gpu}")
    print(f"Audio: {args.seconds:g} s synthetic clip at 16 kHz, batch size {args.batch_size}, "
          f"best of {args.repeats} after a warm-up\n")
    print("| device | patches | analyse (s) | log-mel (s) | network (s) | audio s / wall s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['device']} | {r['patches']} | {r['t_full']:.3f} | {r['t_mel']:.3f} | {r['t_net']:.3f} | "
              f"{r['speed']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
