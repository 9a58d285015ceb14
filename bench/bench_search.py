"""Search latency (median, p99) and recall@10 against exact search, for the library size (215) and
for 1,000,000 vectors. The big set is made of jittered copies of real track vectors (the benchmark
library's index vectors), because on uniform random vectors HNSW recall is near zero and measures
nothing.

    python bench/bench_search.py [--big 1000000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import os
import time

import faiss
import numpy as np
from _common import OUT, machine, table

from trance_finder.core.head import unit_rows
from trance_finder.core.index import HNSW_THRESHOLD, build_faiss_index


def latency(index, queries, k=10):
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None, :], k)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times)), float(np.percentile(times, 99))


def recall_at_10(index, exact, queries):
    _, got = index.search(queries, 10)
    _, want = exact.search(queries, 10)
    return float(np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)]))


def base_vectors() -> np.ndarray:
    path = OUT / "index_vectors.npy"
    if path.exists():
        return np.load(path)
    raise SystemExit(f"{path} missing: run bench/bench_quality.py first (it saves the 215 index vectors)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--jitter", type=float, default=0.15)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    real = unit_rows(base_vectors())
    d = real.shape[1]
    rows = []

    def jittered(n):
        out = np.empty((n, d), np.float32)
        for s in range(0, n, 100_000):
            m = min(100_000, n - s)
            src = real[rng.integers(0, len(real), m)]
            out[s:s + m] = unit_rows(src + args.jitter * rng.standard_normal((m, d)).astype(np.float32) / np.sqrt(d))
        return out

    # library size: the app's choice (exact below HNSW_THRESHOLD) and HNSW for comparison
    faiss.omp_set_num_threads(1)
    q_small = jittered(args.queries)
    truth = build_faiss_index(real, exact=True)
    for exact in (True, False):
        idx = build_faiss_index(real, exact=exact)
        med, p99 = latency(idx, q_small)
        rec = recall_at_10(idx, truth, q_small)
        rows.append([len(real), "flat (exact)" if exact else "HNSW M=32 efC=40", "-", f"{med:.3f}", f"{p99:.3f}", f"{rec:.3f}"])

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    big = jittered(args.big)
    queries = jittered(args.queries)
    exact = faiss.IndexFlatIP(d)
    exact.add(big)
    t = time.perf_counter()
    hnsw = build_faiss_index(big, exact=False)  # built with all cores
    build_s = time.perf_counter() - t
    faiss.omp_set_num_threads(1)  # searched like the app: one query at a time, one thread
    med, p99 = latency(exact, queries[:100])
    rows.append([args.big, "flat (exact)", "-", f"{med:.3f}", f"{p99:.3f}", "1.000"])
    for ef in (64, 128, 256):
        hnsw.hnsw.efSearch = ef
        med, p99 = latency(hnsw, queries)
        rows.append([args.big, f"HNSW M=32 efC=40 efSearch={ef}", f"{build_s:.0f}", f"{med:.3f}", f"{p99:.3f}",
                     f"{recall_at_10(hnsw, exact, queries):.3f}"])
    print(f"Machine: {machine()}, faiss {faiss.__version__}, 1 search thread (HNSW built on all cores)")
    print(f"Vectors: {d}-d index vectors of the 215-track benchmark; big set = jittered copies "
          f"(noise {args.jitter}); app switches to HNSW at {HNSW_THRESHOLD} vectors\n")
    print(table(["vectors", "index", "build (s)", "median ms", "p99 ms", "recall@10"], rows))


if __name__ == "__main__":
    main()
