"""Does a re-bounced, pitched or mp3 copy of a reference still find that reference first?

A head trained on style labels pulls a whole style together, so inside a style the order can become
arbitrary. The index vectors mix in the raw backbone similarity with weight ``identity_weight``
(see core/head.py). This prints, per weight: how often altered copies of 24 references retrieve
their original at rank 1, and the held-out style precision@5, on the 215-track benchmark.

    python bench/bench_identity.py [--weights 0,0.15,0.3,0.5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from _common import OUT, benchmark_library, machine, table
from audiomentations import PitchShift

from trance_finder.core.audio import find_audio_files
from trance_finder.core.cache import EmbeddingCache
from trance_finder.core.evaluation import held_out_evaluation
from trance_finder.core.extract import DEFAULT_FEATURES, FeatureExtractor
from trance_finder.core.labels import read_labels_csv
from trance_finder.core.progress import run_to_end
from trance_finder.core.training import TrainConfig, TrainingSet, train_head

ALTERATIONS = {
    "-12 dB": lambda a, sr: (a * 10 ** (-12 / 20), "wav"),
    "+1 semitone": lambda a, sr: (PitchShift(min_semitones=1, max_semitones=1, p=1.0)(a.T.copy(), sample_rate=sr).T, "wav"),
    "-1 semitone": lambda a, sr: (PitchShift(min_semitones=-1, max_semitones=-1, p=1.0)(a.T.copy(), sample_rate=sr).T, "wav"),
    "mp3 re-bounce -3 dB": lambda a, sr: (a * 10 ** (-3 / 20), "mp3"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="0,0.15,0.3,0.5")
    ap.add_argument("--copies", type=int, default=24)
    ap.add_argument("--instance-weight", type=float, default=TrainConfig.instance_weight)
    args = ap.parse_args()
    lib = benchmark_library()
    files = find_audio_files(lib)
    labels = read_labels_csv(lib / "labels.csv", lib)
    ex = FeatureExtractor(DEFAULT_FEATURES, cache=EmbeddingCache(OUT / "cache"))
    tracks = run_to_end(ex.extract_library(files, n_views=4)).tracks
    data = TrainingSet.from_tracks(tracks, labels, ex.names, 4)
    originals = np.stack([t.joined(ex.names) for t in tracks])
    picks = np.linspace(0, len(tracks) - 1, args.copies).astype(int)
    altered: dict[str, list[tuple[int, np.ndarray]]] = {name: [] for name in ALTERATIONS}
    with tempfile.TemporaryDirectory() as tmp:
        for i in picks:
            audio, sr = sf.read(tracks[i].path, dtype="float32", always_2d=True)
            for name, fn in ALTERATIONS.items():
                out, ext = fn(audio, sr)
                path = Path(tmp) / f"{i}_{len(altered[name])}.{ext}"
                sf.write(str(path), out, sr)
                altered[name].append((i, ex.analyse_file(path).joined(ex.names)))
    rows = []
    for w in [float(x) for x in args.weights.split(",")]:
        cfg = TrainConfig(identity_weight=w, instance_weight=args.instance_weight)
        model = run_to_end(train_head(data, cfg))
        base = model.embed(originals)
        row = [w]
        for name in ALTERATIONS:
            hits = [int(np.argmax(base @ model.embed(v[None, :])[0]) == i) for i, v in altered[name]]
            row.append(f"{np.mean(hits):.2f}")
        held = run_to_end(held_out_evaluation(data, cfg, 5))["finetuned"]
        row += [f"{held['precision_at_5']:.3f}", f"{held['silhouette']:.3f}", f"{held['nmi']:.3f}"]
        rows.append(row)
    print(f"Machine: {machine()}\nFeatures: {DEFAULT_FEATURES}; instance loss weight {args.instance_weight}; "
          f"{args.copies} references altered each way; "
          "cell = share of copies whose rank-1 neighbour is their original\n")
    print(table(["identity weight", *ALTERATIONS, "held-out P@5", "held-out silhouette", "held-out NMI"], rows))


if __name__ == "__main__":
    main()
