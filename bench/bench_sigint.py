"""Ctrl-C latency of CLI jobs: time from SIGINT to the message, and to the end of the process.

    nice -n 5 python bench/bench_sigint.py

Each job runs as a real child process (``python -m trance_finder ...``, the console script's code
path); SIGINT is sent once the job has reached the named phase (a line on its output). The same jobs
are also run through ``cli.main(argv)`` with ``exit_fast=False`` (the interpreter's normal shutdown,
as before the fix) for comparison.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import soundfile as sf
from _common import OUT, machine, table

from trance_finder import synth

SLOW_EXIT = ("import sys; from trance_finder.cli import main; "
             "sys.exit(main(sys.argv[1:], exit_fast=False))")


def make_library(folder, n=12, seconds=10.0, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    families = list(synth.FAMILIES)
    for i in range(n):
        p = folder / f"t{i:02d}.wav"
        if not p.exists():
            style = synth.sample_style(families[i % len(families)], np.random.default_rng(seed + i), seed=seed + i)
            sf.write(str(p), np.asarray(synth.render_track(style, seconds, 22050)).T, 22050, subtype="PCM_16")
    return folder


def run_once(argv: list[str], trigger: str | None, delay: float, fast: bool):
    """(seconds to the message, seconds to exit, return code, message, tracebacks printed, processes
    of the job still alive 2 s later) after SIGINT to the job's process group."""
    cmd = [sys.executable, "-m", "trance_finder", *argv] if fast else [sys.executable, "-c", SLOW_EXIT, *argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
           "TRANCE_FINDER_CACHE_DIR": str(OUT / "sigint" / f"appcache_{time.time_ns()}")}  # nothing cached
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)  # its own process group, like a terminal job
    seen = threading.Event()
    message: list[tuple[float, str]] = []
    tracebacks: list[str] = []

    def read(stream, watch_trigger):
        for line in stream:
            if "Traceback" in line:
                tracebacks.append(line)
            if watch_trigger and trigger and trigger in line:
                seen.set()
            if "Interrupted" in line:
                message.append((time.perf_counter(), line.strip()))

    threads = [threading.Thread(target=read, args=(proc.stdout, True), daemon=True),
               threading.Thread(target=read, args=(proc.stderr, True), daemon=True)]
    for t in threads:
        t.start()
    if trigger:
        seen.wait(300)
    time.sleep(delay)
    sent = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the job and its workers
    proc.wait(60)
    ended = time.perf_counter()
    for t in threads:
        t.join(5)
    time.sleep(2.0)
    leftover = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    msg_at, text = message[0] if message else (float("nan"), "(no message)")
    return msg_at - sent, ended - sent, proc.returncode, text, len(tracebacks), len(leftover)


def main() -> None:
    base = OUT / "sigint"
    lib = make_library(base / "lib")
    model_dir = base / "model"
    def train(epochs: int, cache: str) -> list[str]:
        return ["train", "--references", str(lib), "--output-model", str(model_dir / "embedding_model.pt"),
                "--backbone", "dsp", "--views", "2", "--epochs", str(epochs), "--eval-folds", "0",
                "--cache-dir", cache]

    if not (model_dir / "embedding_model.pt").exists():  # a model to query (trained once, fully)
        subprocess.run([sys.executable, "-m", "trance_finder", *train(3, str(base / "cache"))], check=True,
                       capture_output=True)
    more = make_library(base / "more", n=12, seconds=30.0, seed=100)
    update = ["update", "--references", str(more), "--model", str(model_dir / "embedding_model.pt"),
              "--index", str(model_dir / "similarity_index.faiss")]
    jobs = [
        ("train, during extraction (empty cache)", lambda: train(400, str(base / f"cache_{time.time_ns()}")),
         "Extracting features", 0.8),
        ("train, during training epochs", lambda: train(400, str(base / "cache")), "Epoch 2/", 0.3),
        ("update, analysing 12 new files (empty cache)", lambda: update, "Extracting features", 0.8),
    ]
    rows = []
    for name, make_argv, trigger, delay in jobs:
        for fast in (True, False):
            msg_s, exit_s, rc, text, tbs, alive = run_once(make_argv(), trigger, delay, fast)
            rows.append([name, "console script (exit at once)" if fast else "normal shutdown (before)",
                         f"{msg_s * 1000:.0f}", f"{exit_s * 1000:.0f}", rc, tbs, alive, text[:60]])
    print(f"Machine: {machine()}\n")
    print(table(["job", "exit path", "message ms", "exit ms", "rc", "tracebacks", "left running", "message"], rows))


if __name__ == "__main__":
    main()
