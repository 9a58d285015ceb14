"""Check the PyTorch ports of the musicnn wheel's networks against their original TensorFlow graphs.

Two interpreters take part, because tensorflow and torch are not installed side by side:

* the torch side (this project's Python) builds the test signals and their log-mel patches, calls
  the TF side, runs the port on the very same patches and compares;
* the TF side (``--tf-side``, run with ``--tf-python``, a Python with tensorflow + numpy) imports the
  forward part of the checkpoint's ``.meta`` graph, loads the checkpoint variables into it and dumps
  ``model/Sigmoid`` (tags) and the embedding node (``model/dense/BiasAdd`` for musicnn, the flattened
  pool5 ``model/Flatten/flatten/Reshape`` for the VGG networks) for every patch set to an .npz.

    python scripts/verify_musicnn.py --wheel musicnn-0.1.0-py3-none-any.whl \\
        --tf-python /tmp/tfenv/bin/python --write-doc --write-golden [--model MTT_vgg]

Rows marked "pipeline" compare end to end: TF on patches made by musicnn's own librosa
preprocessing against the port on patches made by ``log_mel_patches``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SR = 16000
MODEL = "MSD_musicnn"
# network -> (file stem of weights / golden / doc, TF embedding node)
NETWORK_FILES = {"MSD_musicnn": ("musicnn_msd", "model/dense/BiasAdd"),
                 "MTT_musicnn": ("musicnn_mtt", "model/dense/BiasAdd"),
                 "MSD_vgg": ("vgg_msd", "model/Flatten/flatten/Reshape"),
                 "MTT_vgg": ("vgg_mtt", "model/Flatten/flatten/Reshape")}


def golden_path(model: str) -> Path:
    stem = NETWORK_FILES[model][0]
    return REPO / "tests" / "data" / ("musicnn_golden.npz" if model == MODEL else f"{stem}_golden.npz")


def doc_path(model: str) -> Path:
    stem = NETWORK_FILES[model][0]
    return REPO / "docs" / ("musicnn_verification.md" if model == MODEL else f"musicnn_verification_{stem}.md")


# ==================================================================================================
# TF side (numpy + tensorflow only)


def tf_side(wheel: Path, inputs: Path, out: Path, model: str = MODEL) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp, [n for n in zf.namelist() if n.startswith(f"musicnn/{model}/")])
        model_dir = Path(tmp) / "musicnn" / model
        meta = tf.compat.v1.MetaGraphDef()
        meta.ParseFromString((model_dir / ".meta").read_bytes())
        outputs = ["model/Sigmoid", NETWORK_FILES[model][1]]
        graph_def = tf.compat.v1.graph_util.extract_sub_graph(meta.graph_def, outputs)
        for node in graph_def.node:  # the TF 1.12 shape annotations do not import in TF 2
            if "_output_shapes" in node.attr:
                del node.attr["_output_shapes"]
        reader = tf.compat.v1.train.NewCheckpointReader(str(model_dir) + "/")

        graph = tf.Graph()
        with graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
            variables = [n.name for n in graph_def.node if n.op in ("VariableV2", "Variable")]
            assigns = [tf.compat.v1.assign(graph.get_tensor_by_name(f"{v}:0"), reader.get_tensor(v))
                       for v in variables]
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
        data = dict(np.load(inputs))
        results = {}
        with tf.compat.v1.Session(graph=graph, config=config) as sess:
            sess.run(assigns)
            x = graph.get_tensor_by_name("model/Placeholder:0")
            is_training = graph.get_tensor_by_name("model/Placeholder_2:0")
            fetch = [graph.get_tensor_by_name(f"{o}:0") for o in outputs]
            for name, patches in data.items():
                tags, emb = [], []
                for i in range(0, len(patches), 16):
                    t, e = sess.run(fetch, feed_dict={x: patches[i:i + 16], is_training: False})
                    tags.append(t)
                    emb.append(e)
                results[f"{name}/tags"] = np.concatenate(tags)
                results[f"{name}/embedding"] = np.concatenate(emb)
        results["_meta/tf_version"] = np.array(tf.__version__)
        results["_meta/n_variables"] = np.array(len(variables))
        np.savez(out, **results)


# ==================================================================================================
# test signals (numpy only)


def _norm(x: np.ndarray, peak: float) -> np.ndarray:
    return (peak * x / max(np.abs(x).max(), 1e-12)).astype(np.float32)


def trance_loop(seconds: float = 12.0, bpm: float = 138.0) -> np.ndarray:
    rng = np.random.default_rng(7)
    n = int(SR * seconds)
    t = np.arange(n) / SR
    beat = 60.0 / bpm
    out = np.zeros(n)
    for k, start in enumerate(np.arange(0.0, seconds, beat / 2)):
        i = int(start * SR)
        tt = np.arange(min(int(0.3 * SR), n - i)) / SR
        if k % 2 == 0:  # kick: pitch-swept sine
            f = 45.0 + 120.0 * np.exp(-35.0 * tt)
            out[i:i + tt.size] += 0.9 * np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-10.0 * tt)
        else:  # off-beat bass saw + open hat
            m = min(int(0.12 * SR), n - i)
            out[i:i + m] += 0.25 * (2 * ((t[:m] * 55.0) % 1) - 1) * np.exp(-20.0 * t[:m])
            h = min(int(0.08 * SR), n - i)
            out[i:i + h] += 0.1 * np.diff(rng.standard_normal(h + 1)) * np.exp(-50.0 * t[:h])
    chords = [(220.0, 261.63, 329.63), (174.61, 220.0, 261.63), (196.0, 246.94, 293.66)]
    bar = 4 * beat
    for j, start in enumerate(np.arange(0.0, seconds, bar)):
        i, e = int(start * SR), min(int((start + bar) * SR), n)
        for f0 in chords[j % len(chords)]:
            for det in (-0.004, 0.0, 0.004):
                out[i:e] += 0.04 * (2 * ((t[i:e] * f0 * (1 + det)) % 1) - 1)
    return _norm(out, 0.95)


def white_noise(seconds: float = 12.0) -> np.ndarray:
    return (0.1 * np.random.default_rng(11).standard_normal(int(SR * seconds))).astype(np.float32)


def pink_noise(seconds: float = 12.0) -> np.ndarray:
    n = int(SR * seconds)
    spec = np.fft.rfft(np.random.default_rng(12).standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    return _norm(np.fft.irfft(spec, n), 0.5)


def chirp(seconds: float = 12.0, f0: float = 30.0, f1: float = 7800.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    k = np.log(f1 / f0) / seconds
    return (0.5 * np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)).astype(np.float32)


def tone_sequence(seconds: float = 12.0) -> np.ndarray:
    rng = np.random.default_rng(13)
    n = int(SR * seconds)
    out = np.zeros(n)
    note = int(0.25 * SR)
    env = np.minimum(1.0, np.arange(note) / 80.0) * np.exp(-6.0 * np.arange(note) / SR)
    for i in range(0, n - note + 1, note):
        midi = rng.choice([57, 60, 62, 64, 67, 69, 72, 74, 76, 79, 81])
        f = 440.0 * 2 ** ((midi - 69) / 12)
        tt = np.arange(note) / SR
        out[i:i + note] += env * (np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(4 * np.pi * f * tt))
    return _norm(out, 0.6)


def silence(seconds: float = 6.0) -> np.ndarray:
    return np.zeros(int(SR * seconds), np.float32)


def random_patches(n: int = 8) -> np.ndarray:
    """log-mel-like random patches: smooth band envelope + noise, values in about [0, 4.5]."""
    rng = np.random.default_rng(14)
    base = np.cumsum(rng.standard_normal((n, 1, 96)) * 0.2, axis=2) + 2.0
    x = base + rng.gamma(2.0, 0.4, size=(n, 187, 96)) - 0.8
    return np.clip(x, 0, None).astype(np.float32)


def load_golden_signal():
    spec = importlib.util.spec_from_file_location("_musicnn_test", REPO / "tests" / "test_musicnn.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.golden_signal


# ==================================================================================================
# musicnn's own preprocessing (librosa), as extractor.batch_data does it


def musicnn_reference_patches(audio: np.ndarray, numpy2_literal: bool = False) -> np.ndarray:
    """extractor.batch_data on an array: librosa mel (pad_mode 'reflect', the librosa 0.7 default
    musicnn was built with), float16 rounding, log10(10000 x + 1), non-overlapping 187-frame patches.

    The wheel computes ``np.log10(10000 * audio_rep + 1)`` on a float16 array; under numpy 1.x
    (the wheel pins numpy < 1.17) legacy promotion evaluates that in float32. ``numpy2_literal``
    runs the same line under numpy 2 rules instead (float16 arithmetic, which overflows to inf).
    """
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=SR, hop_length=256, n_fft=512, n_mels=96,
                                         pad_mode="reflect").T
    rep = mel.astype(np.float16)
    if numpy2_literal:
        with np.errstate(over="ignore"):
            rep = np.log10(10000 * rep + 1).astype(np.float32)
    else:
        rep = np.log10(np.float32(10000) * rep.astype(np.float32) + np.float32(1))
    starts = range(0, rep.shape[0] - 187 + 1, 187)
    return np.stack([rep[s:s + 187] for s in starts]).astype(np.float32)


# ==================================================================================================
# torch side


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(na * nb, 1e-30)


def run(args) -> int:
    if str(REPO) not in sys.path:  # run from a source checkout without installing
        sys.path.insert(0, str(REPO))
    import torch

    from trance_finder.core.backbones import musicnn as mn

    torch.set_num_threads(1)
    golden_signal = load_golden_signal()
    signals = {
        "trance loop (kick, off-beat bass, saw chords, hats)": trance_loop(),
        "trance loop at -40 dB": (trance_loop() * 0.01).astype(np.float32),
        "white noise (rms 0.1)": white_noise(),
        "pink noise": pink_noise(),
        "log chirp 30 Hz - 7.8 kHz": chirp(),
        "sine-tone sequence": tone_sequence(),
        "silence": silence(),
        "golden_signal (tests)": golden_signal(),
    }
    keys = {name: f"s{i}" for i, name in enumerate(signals)}
    inputs: dict[str, np.ndarray] = {}
    pipeline: dict[str, dict] = {}
    for name, audio in signals.items():
        ours = mn.log_mel_patches(audio)
        ref = musicnn_reference_patches(audio)
        inputs[keys[name]] = ours
        inputs[keys[name] + "_ref"] = ref
        diff = np.abs(ours - ref)
        pipeline[name] = {"n_patches": len(ours), "max_abs_logmel": float(diff.max()),
                          "frac_differing": float((diff > 0).mean())}
    inputs["random"] = random_patches()
    literal = musicnn_reference_patches(signals["trance loop (kick, off-beat bass, saw chords, hats)"],
                                        numpy2_literal=True)
    n_inf = int(np.isinf(literal).sum())
    inputs["numpy2_literal"] = literal

    with tempfile.TemporaryDirectory() as tmp:
        in_path, out_path = Path(tmp) / "inputs.npz", Path(tmp) / "tf_out.npz"
        np.savez(in_path, **inputs)
        t0 = time.time()
        cmd = [args.tf_python, str(Path(__file__).resolve()), "--tf-side", "--wheel", str(args.wheel),
               "--inputs", str(in_path), "--out", str(out_path), "--model", args.model]
        env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stdout[-4000:], proc.stderr[-4000:], file=sys.stderr)
            return proc.returncode
        tf_seconds = time.time() - t0
        tf_out = dict(np.load(out_path))

    model = args.model
    stem, emb_node = NETWORK_FILES[model]
    net = mn.load_network(network=model)
    emb_dim = mn.NETWORKS[model].embed_dim

    def port(patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            t, e = net(torch.from_numpy(patches))
        return t.numpy(), e.numpy()

    rows = []

    def compare(label: str, kind: str, ours_in: str, tf_in: str) -> None:
        tags, emb = port(inputs[ours_in])
        tf_tags, tf_emb = tf_out[f"{tf_in}/tags"], tf_out[f"{tf_in}/embedding"]
        rows.append({
            "signal": label, "kind": kind, "n": len(tags),
            "tag_diff": float(np.abs(tags - tf_tags).max()),
            "emb_diff": float(np.abs(emb - tf_emb).max()),
            "emb_scale": float(np.abs(tf_emb).max()),
            "cos": float(cosine_rows(emb, tf_emb).min()),
        })

    for name in signals:
        compare(name, "same patches", keys[name], keys[name])
    compare("random log-mel patches", "same patches", "random", "random")
    for name in signals:
        compare(name, "pipeline", keys[name], keys[name] + "_ref")

    worst_tag = max(r["tag_diff"] for r in rows)
    worst_cos = min(r["cos"] for r in rows)
    ok = worst_tag < 1e-4 and worst_cos >= 0.9999

    lit_tags = tf_out["numpy2_literal/tags"]
    lines = [
        f"# {model} port: verification against the original TensorFlow graph",
        "",
        f"Produced by `scripts/verify_musicnn.py` on {time.strftime('%Y-%m-%d')} "
        f"({platform.machine()}, {os.cpu_count()} CPUs, 1 thread each side).",
        "",
        f"* original: `{args.wheel.name}` {model} checkpoint; forward subgraph of its `.meta` "
        f"(`model/Sigmoid`, `{emb_node}`) imported into TensorFlow "
        f"{tf_out['_meta/tf_version']} with the `_output_shapes` attributes dropped, "
        f"{int(tf_out['_meta/n_variables'])} variables assigned from the checkpoint, "
        f"`is_training` fed False ({tf_seconds:.1f} s for the TF side);",
        f"* port: `trance_finder.core.backbones.{'musicnn_vgg' if 'vgg' in model else 'musicnn'}` "
        f"(torch {torch.__version__}, CPU, float32) with `models/{stem}.safetensors`;",
        "* **same patches**: both graphs get the identical (N, 187, 96) log-mel patches made by "
        "`log_mel_patches` (or random log-mel-like patches);",
        "* **pipeline**: end to end: TF gets patches from musicnn's own preprocessing "
        "(`extractor.batch_data` steps: `librosa.feature.melspectrogram` with `pad_mode='reflect'`, the "
        "librosa 0.7 default the model was built with, float16 rounding, `log10(10000 x + 1)` in float32), "
        f"the port gets `log_mel_patches` (librosa {_librosa_version()});",
        f"* tags: max |p_port - p_tf| over all patches and 50 tags; embedding: the {emb_dim}-d "
        f"`{emb_node}`, min cosine over patches and max abs difference (|emb| max in brackets).",
        "",
        "| signal | comparison | patches | max abs tag diff | min emb cosine (1 - cos) | max abs emb diff (scale) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['signal']} | {r['kind']} | {r['n']} | {r['tag_diff']:.2e} | "
                     f"{r['cos']:.7f} ({1 - r['cos']:.1e}) | "
                     f"{r['emb_diff']:.2e} ({r['emb_scale']:.1f}) |")
    lines += [
        "",
        f"**Worst over all rows: max abs tag diff {worst_tag:.2e} (target < 1e-4), min embedding cosine "
        f"{worst_cos:.9f} (target >= 0.9999): {'PASS' if ok else 'FAIL'}.**",
        "",
        "Input pipeline, `log_mel_patches` vs musicnn's librosa preprocessing (log-mel values, before "
        "the network):",
        "",
        "| signal | patches | max abs log-mel diff | fraction of entries differing |",
        "|---|---:|---:|---:|",
    ]
    for name, p in pipeline.items():
        lines.append(f"| {name} | {p['n_patches']} | {p['max_abs_logmel']:.2e} | {p['frac_differing']:.2e} |")
    lines += [
        "",
        "Differences in the log-mel come from float16 rounding of the mel power: values that fall on a "
        "float16 rounding boundary may round the other way after float32 summation-order differences "
        "(one float16 step is at most 2^-10 relative, i.e. at most about 4e-4 after the log).",
        "",
        "numpy 2 caveat: the wheel's literal `np.log10(10000 * audio_rep + 1)` on the float16 array is "
        "evaluated in float16 under numpy >= 2 (NEP 50) and overflows for mel power above 6.55. On the "
        f"trance loop that gives {n_inf} inf entries out of {literal.size} and the TF graph then returns "
        f"{int(np.isnan(lit_tags).sum())} NaN tag values out of {lit_tags.size}. Under numpy 1.x, which the "
        "wheel pins (< 1.17), legacy promotion evaluates the same line in float32; the port does that "
        "explicitly.",
        "",
        "Reproduce: `/tmp/tfenv/bin/python scripts/convert_musicnn.py --wheel WHEEL` then "
        "`python scripts/verify_musicnn.py --wheel WHEEL --tf-python /tmp/tfenv/bin/python --write-doc "
        "--write-golden` (the TF Python needs tensorflow, numpy, safetensors; this one torch and librosa).",
    ]
    report = "\n".join(lines) + "\n"
    print(report)

    if args.write_doc:
        doc = doc_path(model)
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(report, encoding="utf-8")
        print(f"wrote {doc}")
    if args.write_golden:
        key = keys["golden_signal (tests)"] + "_ref"
        gold = golden_path(model)
        gold.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            gold, tags=tf_out[f"{key}/tags"].astype(np.float32),
            embedding=tf_out[f"{key}/embedding"].astype(np.float32),
            source=np.array(json.dumps({
                "what": f"TF original (musicnn wheel {model}) outputs for tests/test_musicnn.py:golden_signal() "
                        "preprocessed with musicnn's librosa pipeline",
                "tensorflow": str(tf_out["_meta/tf_version"]), "wheel": args.wheel.name})))
        print(f"wrote {gold} ({gold.stat().st_size} bytes)")
    return 0 if ok else 1


def _librosa_version() -> str:
    import librosa

    return librosa.__version__


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, required=True)
    ap.add_argument("--tf-python", default="/tmp/tfenv/bin/python", help="Python with tensorflow")
    ap.add_argument("--model", default=MODEL, choices=list(NETWORK_FILES))
    ap.add_argument("--write-doc", action="store_true", help="write docs/musicnn_verification[_<net>].md")
    ap.add_argument("--write-golden", action="store_true", help="write tests/data/<net>_golden.npz")
    ap.add_argument("--tf-side", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.tf_side:
        tf_side(args.wheel, args.inputs, args.out, args.model)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
