"""The PyTorch port of MSD_musicnn: golden outputs from the original TensorFlow graph, shapes, the
input pipeline and the backbone wrapper.

``tests/data/musicnn_golden.npz`` holds the *TensorFlow original's* tags and embeddings for
``golden_signal()``, preprocessed with musicnn's own librosa pipeline; it is written by
``scripts/verify_musicnn.py --write-golden``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trance_finder.core.backbones import musicnn as mn

torch.set_num_threads(1)

GOLDEN = Path(__file__).parent / "data" / "musicnn_golden.npz"

pytestmark = pytest.mark.skipif(not mn.MusicnnBackbone.check_available()[0],
                                reason="musicnn weights not present (scripts/convert_musicnn.py)")


def golden_signal(sr: int = 16000, seconds: float = 6.0) -> np.ndarray:
    """Deterministic 6 s trance-ish bar loop: kick on the beat, detuned saw chord, noise hats."""
    rng = np.random.default_rng(20190906)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    out = np.zeros(n)
    beat = 60.0 / 138.0
    for start in np.arange(0.0, seconds, beat):
        i = int(start * sr)
        tt = np.arange(min(int(0.25 * sr), n - i)) / sr
        freq = 50.0 + 100.0 * np.exp(-30.0 * tt)
        out[i:i + tt.size] += 0.8 * np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-12.0 * tt)
    for f0 in (220.0, 261.63, 329.63):
        for detune in (-0.003, 0.003):
            out += 0.05 * (2.0 * ((t * f0 * (1.0 + detune)) % 1.0) - 1.0)
    for start in np.arange(beat / 2, seconds, beat):
        i = int(start * sr)
        m = min(int(0.05 * sr), n - i)
        hat = np.diff(rng.standard_normal(m + 1))
        out[i:i + m] += 0.15 * hat * np.exp(-80.0 * np.arange(m) / sr)
    return (0.9 * out / np.abs(out).max()).astype(np.float32)


@pytest.fixture(scope="module")
def net():
    return mn.load_network()


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_golden_matches_tensorflow_original(net):
    ref = np.load(GOLDEN)
    patches = mn.log_mel_patches(golden_signal())
    assert patches.shape == (2, 187, 96)
    with torch.inference_mode():
        tags, emb = net(torch.from_numpy(patches))
    tags, emb = tags.numpy(), emb.numpy()
    assert tags.shape == ref["tags"].shape and emb.shape == ref["embedding"].shape
    np.testing.assert_allclose(tags, ref["tags"], atol=1e-4, rtol=0)
    assert _cos(emb, ref["embedding"]).min() >= 0.9999


def test_network_shapes_dtype_and_eval_mode(net):
    assert not net.training
    assert all(not m.training for m in net.modules())
    assert next(net.parameters()).dtype == torch.float32
    n_params = sum(p.numel() for p in net.parameters())
    assert 700_000 < n_params < 900_000
    x = torch.rand(3, 187, 96) * 3
    with torch.inference_mode():
        tags, emb = net(x)
        tags1, emb1 = net(x[1:2])
    assert tags.shape == (3, 50) and emb.shape == (3, 200)
    assert tags.dtype == torch.float32 and emb.dtype == torch.float32
    assert torch.all((tags >= 0) & (tags <= 1))
    # eval-mode batch norm: a patch's output does not depend on the rest of the batch
    torch.testing.assert_close(tags1[0], tags[1], atol=1e-5, rtol=0)
    torch.testing.assert_close(emb1[0], emb[1], atol=1e-4, rtol=1e-4)


def test_front_end_fast_path_equals_literal_order(net):
    """Eval blocks pool before ReLU + BN; that must give the very floats of conv -> ReLU -> BN -> max."""
    import torch.nn.functional as F

    x = net.input_bn((torch.rand(2, 187, 96) * 3).unsqueeze(1))
    with torch.inference_mode():
        for blk in [*net.timbral, *net.temporal]:
            conv = blk.conv(F.pad(x, (0, 0, *blk.time_pad)))
            torch.testing.assert_close(blk(x), blk.bn(F.relu(conv)).amax(dim=3), atol=0, rtol=0)


def test_tags_and_weights_metadata():
    assert len(mn.MSD_TAGS) == 50 and len(set(mn.MSD_TAGS)) == 50
    assert mn.MSD_TAGS[0] == "rock" and mn.MSD_TAGS[-1] == "happy" and "House" in mn.MSD_TAGS
    meta = mn.weights_metadata()
    assert tuple(meta["tags"]) == mn.MSD_TAGS


def test_backbone_analyse_7s():
    bb = mn.MusicnnBackbone(pooling="mean")
    audio = np.random.default_rng(0).standard_normal(7 * 16000).astype(np.float32) * 0.1
    out = bb.analyse(audio)
    assert out.frames.shape == (2, 200) and out.frames.dtype == np.float32
    assert out.tags.shape == (2, 50) and out.tags.dtype == np.float32
    assert np.all((out.tags >= 0) & (out.tags <= 1))
    assert bb.pool(out.frames).shape == (200,) and bb.dim == 200
    assert bb.tag_names == mn.MSD_TAGS and bb.sample_rate == 16000 and bb.patch_seconds == 3.0
    mm = mn.MusicnnBackbone(pooling="meanmax", batch_size=1)
    out_mm = mm.analyse(audio)  # one patch per batch: same frames
    np.testing.assert_allclose(out_mm.frames, out.frames, atol=1e-4, rtol=1e-4)
    assert mm.pool(out_mm.frames).shape == (400,) and mm.dim == 400
    assert mm.id != bb.id and mm.id.startswith("musicnn-v")
    assert mm.params["pooling"] == "meanmax"
    with pytest.raises(ValueError):
        mn.MusicnnBackbone(pooling="median")


def test_log_mel_patches_pads_short_audio():
    short = np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 0.1  # 1 s
    p = mn.log_mel_patches(short)
    assert p.shape == (1, 187, 96) and p.dtype == np.float32
    assert np.all(np.isfinite(p)) and p.min() >= 0
    # the padded tail is silent: its frames are log10(1) = 0
    assert np.all(p[0, 100:] == 0) and p[0, :50].mean() > 0.1
    assert mn.log_mel_patches(np.zeros(10, np.float32)).shape == (1, 187, 96)
    # 187 frames fit in 3 s; frames after the last whole patch are dropped
    assert mn.log_mel_patches(np.zeros(int(5.9 * 16000), np.float32)).shape == (1, 187, 96)
    assert mn.log_mel_patches(np.zeros(6 * 16000, np.float32)).shape == (2, 187, 96)


def test_log_mel_no_float16_overflow_on_loud_audio():
    t = np.arange(3 * 16000) / 16000
    loud = np.sign(np.sin(2 * np.pi * 55 * t)).astype(np.float32)  # full-scale square wave
    p = mn.log_mel_patches(loud)
    assert np.all(np.isfinite(p)) and p.max() > 5


def test_mel_filterbank_matches_librosa():
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=96)
    np.testing.assert_allclose(mn.mel_filterbank(), ref, atol=1e-7, rtol=0)


def test_cpu_unless_cuda_is_asked():
    bb = mn.MusicnnBackbone()
    assert bb.device == "cpu" and next(bb.net.parameters()).device.type == "cpu"
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    gpu = mn.MusicnnBackbone(device="cuda")
    assert next(gpu.net.parameters()).device.type == "cuda"
    audio = golden_signal()
    out_gpu, out_cpu = gpu.analyse(audio), bb.analyse(audio)
    np.testing.assert_allclose(out_gpu.tags, out_cpu.tags, atol=1e-3)


# -- the other networks of the wheel: MTT_musicnn, MSD_vgg, MTT_vgg ---------------------------------------
OTHER_NETWORKS = {"MTT_musicnn": "musicnn_mtt", "MSD_vgg": "vgg_msd", "MTT_vgg": "vgg_mtt"}


@pytest.mark.parametrize("network", list(OTHER_NETWORKS))
def test_other_networks_match_their_tensorflow_originals(network):
    """Golden outputs of each TF original (scripts/verify_musicnn.py --model NET --write-golden)."""
    ref = np.load(Path(__file__).parent / "data" / f"{OTHER_NETWORKS[network]}_golden.npz")
    net = mn.load_network(network=network)
    patches = mn.log_mel_patches(golden_signal())
    with torch.inference_mode():
        tags, emb = net(torch.from_numpy(patches))
    tags, emb = tags.numpy(), emb.numpy()
    assert emb.shape == ref["embedding"].shape == (2, mn.NETWORKS[network].embed_dim)
    np.testing.assert_allclose(tags, ref["tags"], atol=1e-4, rtol=0)
    assert _cos(emb, ref["embedding"]).min() >= 0.9999
    # and they are different networks: not the MSD_musicnn answer under another name
    msd = np.load(GOLDEN)
    assert np.abs(tags - msd["tags"]).max() > 0.01


def test_vgg_pools_follow_each_saved_graph():
    """MSD_vgg and MTT_vgg pool differently; both must end at 2 x 1 positions x 128 channels."""
    from trance_finder.core.backbones.musicnn_vgg import VggNet

    for network in ("MSD_vgg", "MTT_vgg"):
        net = VggNet(network).eval()
        assert net.embed_dim == 256
        with torch.inference_mode():
            tags, emb = net(torch.rand(3, 187, 96))
        assert tags.shape == (3, 50) and emb.shape == (3, 256)
    with pytest.raises(ValueError, match="187-frame"):
        VggNet("MTT_vgg")(torch.rand(1, 200, 96))


@pytest.mark.parametrize("network", ["MSD_vgg", "MTT_vgg"])
def test_vgg_fast_path_equals_literal_order(network):
    """Eval VGG blocks pool before ReLU + BN (a min pool where the BN scale is negative): the very
    floats of conv -> ReLU -> BN -> max pooling, block by block."""
    import torch.nn.functional as F

    net = mn.load_network(network=network)
    assert any((blk.bn.weight < 0).any() for blk in net.convs)  # both branches are exercised
    h = net.input_bn((torch.rand(2, 187, 96) * 3).unsqueeze(1)).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        for blk in net.convs:
            literal = blk.pool(blk.bn(F.relu(blk.conv(h))))
            torch.testing.assert_close(blk(h), literal, atol=0, rtol=0)
            h = literal


@pytest.mark.parametrize("name", ["musicnn_mtt", "vgg_msd", "vgg_mtt"])
def test_other_backbones_analyse_and_join(name):
    from trance_finder.core.backbones import get_backbone

    bb = get_backbone(name)
    audio = golden_signal()
    out = bb.analyse(audio)
    assert out.frames.shape == (2, bb.frame_dim) and out.tags.shape == (2, 50)
    assert bb.tag_names == (mn.MTT_TAGS if name.endswith("mtt") else mn.MSD_TAGS)
    assert tuple(mn.weights_metadata(network=bb.network)["tags"]) == bb.tag_names
    # its own cache identity: never the default musicnn's vectors
    assert bb.id != mn.MusicnnBackbone().id and bb.id.startswith(f"{name}-v")
