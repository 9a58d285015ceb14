"""Convert the musicnn wheel's TensorFlow checkpoints to the PyTorch weights shipped in ``models/``.

Run it with a Python that has tensorflow, numpy and safetensors (no torch needed), e.g.::

    /tmp/tfenv/bin/python scripts/convert_musicnn.py --wheel /path/to/musicnn-0.1.0-py3-none-any.whl \
        [--model MSD_musicnn,MTT_musicnn,MSD_vgg,MTT_vgg]

It reads each checkpoint straight from the wheel (nothing is downloaded) and writes, per network,

* ``models/<file>.safetensors``: float32 tensors named after the torch network's state_dict keys
  (``musicnn_msd``, ``musicnn_mtt``: ``MusicnnNet``; ``vgg_msd``, ``vgg_mtt``: ``VggNet``),
* ``models/<file>.provenance.json``: wheel and checkpoint hashes, TF version, date, name mapping,

and ``models/LICENSE-musicnn.txt``, the ISC licence from the wheel's metadata.

``scripts/verify_musicnn.py`` then checks the converted network against the original TF graph.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODELS = {"MSD_musicnn": "musicnn_msd", "MTT_musicnn": "musicnn_mtt", "MSD_vgg": "vgg_msd", "MTT_vgg": "vgg_mtt"}
CKPT_FILES = (".index", ".data-00000-of-00001", ".meta", "checkpoint", "config.json")


def wheel_tags(root: Path, model: str) -> list[str]:
    """The model's 50 tag names as the wheel itself lists them (``musicnn/configuration.py``,
    ``MTT_LABELS`` / ``MSD_LABELS``), read without importing it (it needs librosa and TF)."""
    import ast

    want = "MTT_LABELS" if model.startswith("MTT") else "MSD_LABELS"
    tree = ast.parse((root / "musicnn" / "configuration.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == want for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise SystemExit(f"{want} not found in the wheel's musicnn/configuration.py")


def _conv2d(k: np.ndarray) -> np.ndarray:
    """TF (kh, kw, in, out) -> torch Conv2d (out, in, kh, kw)."""
    return k.transpose(3, 2, 0, 1)


def _conv_over_channels(k: np.ndarray) -> np.ndarray:
    """TF (7, C, 1, out) conv spanning the whole channel axis -> torch Conv1d (out, C, 7)."""
    assert k.shape[2] == 1, k.shape
    return k[:, :, 0, :].transpose(2, 1, 0)


def _dense(k: np.ndarray) -> np.ndarray:
    """TF (in, out) -> torch Linear (out, in)."""
    return k.T


def _same(k: np.ndarray) -> np.ndarray:
    return k


# TF layer -> torch module prefix, in the order the original graph creates them (musicnn networks)
CONV_LAYERS = {
    "conv2d": ("timbral.0.conv", _conv2d),
    "conv2d_1": ("timbral.1.conv", _conv2d),
    "conv2d_2": ("temporal.0.conv", _conv2d),
    "conv2d_3": ("temporal.1.conv", _conv2d),
    "conv2d_4": ("temporal.2.conv", _conv2d),
    "conv2d_5": ("midend.0.conv", _conv_over_channels),
    "conv2d_6": ("midend.1.conv", _conv_over_channels),
    "conv2d_7": ("midend.2.conv", _conv_over_channels),
    "dense": ("dense", _dense),
    "dense_1": ("classifier", _dense),
}
BN_LAYERS = {
    "batch_normalization": "input_bn",
    "batch_normalization_1": "timbral.0.bn",
    "batch_normalization_2": "timbral.1.bn",
    "batch_normalization_3": "temporal.0.bn",
    "batch_normalization_4": "temporal.1.bn",
    "batch_normalization_5": "temporal.2.bn",
    "batch_normalization_6": "midend.0.bn",
    "batch_normalization_7": "midend.1.bn",
    "batch_normalization_8": "midend.2.bn",
    "batch_normalization_9": "pool_bn",
    "batch_normalization_10": "dense_bn",
}
# the VGG networks (musicnn's models.vgg): five named convs, six batch norms, one dense
VGG_CONV_LAYERS = {f"{i + 1}CNN": (f"convs.{i}.conv", _conv2d) for i in range(5)} | {"dense": ("classifier", _dense)}
VGG_BN_LAYERS = {"batch_normalization": "input_bn"} | {f"batch_normalization_{i + 1}": f"convs.{i}.bn"
                                                       for i in range(5)}
BN_PARAMS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}

# torch shapes MusicnnNet expects (checked here so a wrong mapping fails at conversion time)
EXPECTED = {
    "timbral.0.conv.weight": (204, 1, 7, 38), "timbral.1.conv.weight": (204, 1, 7, 67),
    "temporal.0.conv.weight": (51, 1, 128, 1), "temporal.1.conv.weight": (51, 1, 64, 1),
    "temporal.2.conv.weight": (51, 1, 32, 1), "midend.0.conv.weight": (64, 561, 7),
    "midend.1.conv.weight": (64, 64, 7), "midend.2.conv.weight": (64, 64, 7),
    "dense.weight": (200, 1506), "classifier.weight": (50, 200),
    "input_bn.weight": (1,), "pool_bn.weight": (1506,), "dense_bn.weight": (200,),
}  # fmt: skip
VGG_EXPECTED = {"convs.0.conv.weight": (128, 1, 3, 3), "convs.4.conv.weight": (128, 128, 3, 3),
                "classifier.weight": (50, 256), "input_bn.weight": (1,), "convs.4.bn.weight": (128,)}


def layer_maps(model: str) -> tuple[dict, dict, dict]:
    if model.endswith("_vgg"):
        return VGG_CONV_LAYERS, VGG_BN_LAYERS, VGG_EXPECTED
    return CONV_LAYERS, BN_LAYERS, EXPECTED


def tf_to_torch_name(tf_name: str, model: str = "MSD_musicnn") -> tuple[str, object] | None:
    conv_layers, bn_layers, _ = layer_maps(model)
    layer, _, param = tf_name.partition("/")
    if layer in conv_layers:
        prefix, fn = conv_layers[layer]
        if param == "kernel":
            return f"{prefix}.weight", fn
        if param == "bias":
            return f"{prefix}.bias", _same
    if layer in bn_layers and param in BN_PARAMS:
        return f"{bn_layers[layer]}.{BN_PARAMS[param]}", _same
    return None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tensors_digest(tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        h.update(f"{key}:{tensors[key].shape}".encode())
        h.update(np.ascontiguousarray(tensors[key], dtype="<f4").tobytes())
    return h.hexdigest()


def find_licence(root: Path) -> Path:
    for cand in sorted(root.glob("*.dist-info/LICENSE*")):
        return cand
    raise SystemExit("no LICENSE file in the wheel's dist-info")


def convert(wheel: Path, out_dir: Path, model: str = "MSD_musicnn") -> dict:
    import tensorflow as tf
    from safetensors.numpy import save_file

    conv_layers, bn_layers, expected = layer_maps(model)
    stem = MODELS[model]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(wheel) as zf:
            members = [n for n in zf.namelist() if n.startswith(f"musicnn/{model}/") or ".dist-info/" in n
                       or n == "musicnn/configuration.py"]
            zf.extractall(root, members)
        model_dir = root / "musicnn" / model
        reader = tf.compat.v1.train.NewCheckpointReader(str(model_dir) + "/")  # file stem is empty
        shapes = reader.get_variable_to_shape_map()

        tensors: dict[str, np.ndarray] = {}
        mapping: dict[str, str] = {}
        skipped = []
        for tf_name in sorted(shapes):
            target = tf_to_torch_name(tf_name, model)
            if target is None:
                skipped.append(tf_name)  # Adam slots, beta powers
                continue
            key, fn = target
            value = np.ascontiguousarray(fn(reader.get_tensor(tf_name)).astype(np.float32))
            if key in expected and value.shape != expected[key]:
                raise SystemExit(f"{tf_name} -> {key}: shape {value.shape}, expected {expected[key]}")
            tensors[key] = value
            mapping[tf_name] = key
        n_expected = 2 * len(conv_layers) + 4 * len(bn_layers)
        if len(tensors) != n_expected:
            raise SystemExit(f"mapped {len(tensors)} tensors, expected {n_expected}")
        bad = [s for s in skipped if "Adam" not in s and "power" not in s]
        if bad:
            raise SystemExit(f"unmapped checkpoint variables: {bad}")

        n_params = int(sum(v.size for k, v in tensors.items() if "running_" not in k))
        date = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        out_dir.mkdir(parents=True, exist_ok=True)
        weights = out_dir / f"{stem}.safetensors"
        vgg = model.endswith("_vgg")
        save_file(tensors, str(weights), metadata={
            "model": model, "source": wheel.name, "licence": "ISC (see LICENSE-musicnn.txt)",
            "tags": json.dumps(wheel_tags(root, model)),
            "embedding": "pool5 (flattened, the input of model/dense)" if vgg else "model/dense/BiasAdd",
            "bn_eps": "0.001",
        })
        weights.chmod(0o644)  # safetensors creates the file owner-only

        licence_src = find_licence(root)
        licence_text = licence_src.read_text(encoding="utf-8").strip()
        (out_dir / "LICENSE-musicnn.txt").write_text(
            "The weights in musicnn_msd, musicnn_mtt, vgg_msd and vgg_mtt.safetensors (the MSD_musicnn,\n"
            "MTT_musicnn, MSD_vgg and MTT_vgg checkpoints) are converted from the musicnn 0.1.0\n"
            "package (https://github.com/jordipons/musicnn), distributed under the ISC licence:\n\n"
            f"{licence_text}\n", encoding="utf-8")

        provenance = {
            "model": model,
            "paper": "J. Pons and X. Serra, musicnn: pre-trained convolutional neural networks for music "
                     "audio tagging, ISMIR 2019 late-breaking demo (arXiv:1909.06654)",
            "wheel": wheel.name,
            "wheel_sha256": sha256(wheel),
            "checkpoint_files_sha256": {f"musicnn/{model}/{n}": sha256(model_dir / n)
                                        for n in CKPT_FILES if (model_dir / n).exists()},
            "licence_file": str(licence_src.relative_to(root)),
            "tensorflow_version": tf.__version__,
            "numpy_version": np.__version__,
            "converted_utc": date,
            "n_parameters": n_params,
            "weights_sha256": sha256(weights),  # of this file; the header's metadata order varies per run
            "tensors_sha256": tensors_digest(tensors),  # reproducible: sorted names, shapes and float32 bytes
            "tf_to_torch": mapping,
            "layout_notes": {
                "conv2d kernels": "TF (kh, kw, in, out) -> torch (out, in, kh, kw)",
                "mid-end kernels": "TF (7, C, 1, out) -> torch Conv1d (out, C, 7)",
                "dense kernels": "TF (in, out) -> torch (out, in)",
                "batch norm": "gamma/beta/moving_mean/moving_variance -> weight/bias/running_mean/running_var, eps 1e-3",
            },
        }
        (out_dir / f"{stem}.provenance.json").write_text(json.dumps(provenance, indent=2) + "\n",
                                                             encoding="utf-8")
        return provenance


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, required=True, help="path to musicnn-0.1.0-py3-none-any.whl")
    ap.add_argument("--out", type=Path, default=REPO / "models", help="output folder (default: models/)")
    ap.add_argument("--model", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    args = ap.parse_args(argv)
    if not args.wheel.is_file():
        ap.error(f"no such wheel: {args.wheel}")
    for model in [m.strip() for m in args.model.split(",") if m.strip()]:
        if model not in MODELS:
            ap.error(f"unknown model {model!r}")
        prov = convert(args.wheel, args.out, model)
        path = args.out / f"{MODELS[model]}.safetensors"
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {prov['n_parameters']} parameters, "
              f"{len(prov['tf_to_torch'])} tensors) with TF {prov['tensorflow_version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
