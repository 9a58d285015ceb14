"""The musicnn family (Pons & Serra 2019) ported to PyTorch: MSD_musicnn (the default), MTT_musicnn,
and the input pipeline the VGG networks share (``musicnn_vgg.py``).

musicnn: pre-trained convolutional neural networks for music audio tagging, J. Pons and X. Serra,
ISMIR 2019 LBD (arXiv:1909.06654). The weights are the checkpoints of the ``musicnn`` 0.1.0 wheel (ISC
licence, see ``models/LICENSE-musicnn.txt``), converted by ``scripts/convert_musicnn.py`` and checked
against the original TensorFlow graphs by ``scripts/verify_musicnn.py``. MSD_musicnn_big is not in
the wheel (only in the source repository's git LFS), so it is not here.

Input pipeline (as in musicnn's ``extractor.batch_data``): 16 kHz mono, centred STFT (periodic Hann,
n_fft 512, hop 256, reflect padding as in the librosa of 2019), power spectrum, 96 Slaney mel bands
(0-8 kHz, Slaney area normalisation), rounded to float16 (the original stored / rounded its
spectrograms to float16), then ``log10(10000 * x + 1)`` in float32, cut into non-overlapping
187-frame (3 s) patches.

Network: input batch norm; front-end of five parallel conv + ReLU + BN + max-over-frequency blocks
(two "timbral" 7x38 / 7x67 kernels with 204 filters each and three "temporal" 128x1 / 64x1 / 32x1
kernels with 51 filters each, 561 channels in all); mid-end of three 7-tap convs with 64 filters,
ReLU + BN, the last two residual; dense concatenation (561 + 3 x 64 = 753 channels); temporal max
and mean pooling *interleaved* per channel (1506); BN; dense 200 + ReLU; BN; dense 50 + sigmoid.
Every batch norm uses epsilon 1e-3. The embedding exposed here is the 200-d dense layer before its
ReLU (TF node ``model/dense/BiasAdd``).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trance_finder.core.backbones.base import Backbone, BackboneOutput
from trance_finder.core.resources import weights_dir

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3 s) + 1, as musicnn computes it
PATCH_SECONDS = 3.0
EMBED_DIM = 200
BN_EPS = 1e-3

#: the 50 Million Song Dataset tags, in the order of the network's outputs
MSD_TAGS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock",
    "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental",
    "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist",
    "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy", "catchy", "funk",
    "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip


#: the 50 MagnaTagATune tags, in the order of the MTT networks' outputs
MTT_TAGS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
    "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal",
    "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice",
    "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice",
    "choral",
)  # fmt: skip


@dataclass(frozen=True)
class NetworkSpec:
    """One checkpoint of the wheel: its converted weights file, architecture and tag vocabulary."""

    weights_file: str
    arch: str  # "musicnn" or "vgg"
    tags: tuple[str, ...]
    embed_dim: int
    layer: str  # the TF node the embedding equals


NETWORKS: dict[str, NetworkSpec] = {
    "MSD_musicnn": NetworkSpec("musicnn_msd.safetensors", "musicnn", MSD_TAGS, EMBED_DIM, "model/dense/BiasAdd"),
    "MTT_musicnn": NetworkSpec("musicnn_mtt.safetensors", "musicnn", MTT_TAGS, EMBED_DIM, "model/dense/BiasAdd"),
    "MSD_vgg": NetworkSpec("vgg_msd.safetensors", "vgg", MSD_TAGS, 256, "model/Flatten/flatten/Reshape"),
    "MTT_vgg": NetworkSpec("vgg_mtt.safetensors", "vgg", MTT_TAGS, 256, "model/Flatten/flatten/Reshape"),
}
DEFAULT_NETWORK = "MSD_musicnn"


def weights_path(network: str = DEFAULT_NETWORK) -> Path:
    return weights_dir() / NETWORKS[network].weights_file


# --------------------------------------------------------------------------------------------------
# input pipeline (numpy)


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3.0  # linear part: 66.7 Hz per mel below 1 kHz
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    mel = hz / f_sp
    high = hz >= min_log_hz
    mel[high] = min_log_mel + np.log(hz[high] / min_log_hz) / logstep
    return mel


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    hz = mel * f_sp
    high = mel >= min_log_mel
    hz[high] = min_log_hz * np.exp(logstep * (mel[high] - min_log_mel))
    return hz


@functools.lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(96, 257) float32 Slaney-scale, Slaney-normalised triangular filters from 0 Hz to Nyquist
    (the filterbank librosa builds by default; checked against it in the tests)."""
    fft_hz = np.linspace(0.0, SAMPLE_RATE / 2.0, N_FFT // 2 + 1)
    edges_mel = np.linspace(_hz_to_mel_slaney(np.array([0.0]))[0],
                            _hz_to_mel_slaney(np.array([SAMPLE_RATE / 2.0]))[0], N_MELS + 2)
    edges_hz = _mel_to_hz_slaney(edges_mel)
    widths = np.diff(edges_hz)
    dist = edges_hz[:, None] - fft_hz[None, :]  # (n_mels + 2, n_bins)
    bank = np.zeros((N_MELS, fft_hz.size), dtype=np.float64)
    for m in range(N_MELS):
        rising = -dist[m] / widths[m]
        falling = dist[m + 2] / widths[m + 1]
        bank[m] = np.maximum(0.0, np.minimum(rising, falling))
    bank *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]  # equal area per band
    out = bank.astype(np.float32)
    out.setflags(write=False)  # shared through the cache
    return out


@functools.lru_cache(maxsize=1)
def _hann_periodic() -> np.ndarray:
    n = np.arange(N_FFT, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / N_FFT)


def mel_power(audio_16k: np.ndarray) -> np.ndarray:
    """(n_frames, 96) float32 mel power spectrogram, n_frames = 1 + len // 256 (centred frames)."""
    y = np.asarray(audio_16k, dtype=np.float32).reshape(-1)
    if y.size <= N_FFT // 2:
        raise ValueError("audio too short for a centred STFT; pad it first")
    y = np.pad(y, N_FFT // 2, mode="reflect")
    n_frames = 1 + (y.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP][:n_frames]
    # window and FFT in float64, spectrum kept as complex64 (what librosa's stft returns)
    spec = np.fft.rfft(frames * _hann_periodic(), axis=1).astype(np.complex64)
    power = np.abs(spec) ** 2  # float32
    return power @ mel_filterbank().T


def log_compress(mel: np.ndarray) -> np.ndarray:
    """musicnn's ``log10(10000 x + 1)`` on float16-rounded mel power, evaluated in float32 (what
    numpy 1.x did with the original code; numpy 2 would evaluate it in float16 and overflow).
    Power above float16's maximum (only for audio far beyond full scale) is clipped, not made inf."""
    x = np.minimum(np.asarray(mel, dtype=np.float32), np.float32(np.finfo(np.float16).max))
    x = x.astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000.0) * x + np.float32(1.0))


def log_mel_patches(audio_16k: np.ndarray) -> np.ndarray:
    """(N, 187, 96) float32 musicnn input patches for mono float ``audio_16k`` at 16 kHz.

    Patches do not overlap; frames after the last whole patch are dropped (as in musicnn). Audio
    shorter than one patch (3 s) is zero-padded at the end to one patch.
    """
    y = np.asarray(audio_16k, dtype=np.float32).reshape(-1)
    min_len = int(round(PATCH_SECONDS * SAMPLE_RATE))
    if y.size < min_len:
        y = np.concatenate([y, np.zeros(min_len - y.size, dtype=np.float32)])
    spec = log_compress(mel_power(y))
    n_patches = (spec.shape[0] - PATCH_FRAMES) // PATCH_FRAMES + 1
    return np.ascontiguousarray(spec[: n_patches * PATCH_FRAMES].reshape(n_patches, PATCH_FRAMES, N_MELS))


# --------------------------------------------------------------------------------------------------
# network


def signed_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d, x: torch.Tensor, **conv_kw) -> tuple[torch.Tensor, torch.Tensor]:
    """(conv output with the channels whose frozen BN scale is negative negated, per-channel sign).

    ReLU and a frozen BN are monotone per channel (rising where the scale is >= 0, falling where it is
    negative), so a max over some axis can be taken before them: the max of the signed output times the
    sign is the max (or min) the literal order picks. Negating those channels' weights negates their
    outputs exactly, so the floats stay those of conv -> ReLU -> BN -> max."""
    sign = torch.where(bn.weight >= 0, 1.0, -1.0).to(x.dtype)
    return F.conv2d(x, conv.weight * sign[:, None, None, None], conv.bias * sign, **conv_kw), sign


def frozen_bn(bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """``bn`` with its running statistics (eval), for any input rank."""
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


class _FreqMaxConvBlock(nn.Module):
    """conv over (time, freq) -> ReLU -> BN -> max over the remaining frequency axis."""

    def __init__(self, out_channels: int, kernel: tuple[int, int], time_pad: tuple[int, int]):
        super().__init__()
        self.time_pad = time_pad
        self.conv = nn.Conv2d(1, out_channels, kernel_size=kernel)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, T, F) -> (N, C, T)
        x = F.pad(x, (0, 0, self.time_pad[0], self.time_pad[1]))
        bn = self.bn
        if self.training:
            return bn(F.relu(self.conv(x))).amax(dim=3)
        # Eval: the max over frequency first (signed_conv; the min where the BN scale is negative, as for
        # most channels here), then ReLU and BN on the (C, T) maxima only: the literal order's floats.
        c, sign = signed_conv(self.conv, bn, x)
        return frozen_bn(bn, F.relu(c.amax(dim=3) * sign[:, None]))


class _MidendBlock(nn.Module):
    """7-tap conv over time (all channels) -> ReLU -> BN."""

    def __init__(self, in_channels: int, out_channels: int = 64):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size=7, padding=3)
        self.bn = nn.BatchNorm1d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


def _same_pad(k: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding for stride 1: the extra sample goes after."""
    return (k - 1) // 2, k - 1 - (k - 1) // 2


class MusicnnNet(nn.Module):
    """MSD_musicnn. ``forward(x)`` with x (N, 187, 96) log-mel patches returns (tags (N, 50),
    embedding (N, 200)); any number of frames >= 1 works (the network pools over time)."""

    def __init__(self, n_mels: int = N_MELS, n_tags: int = 50):
        super().__init__()
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        self.timbral = nn.ModuleList([
            _FreqMaxConvBlock(204, (7, int(0.4 * n_mels)), (3, 3)),
            _FreqMaxConvBlock(204, (7, int(0.7 * n_mels)), (3, 3)),
        ])
        self.temporal = nn.ModuleList([_FreqMaxConvBlock(51, (k, 1), _same_pad(k)) for k in (128, 64, 32)])
        front = 2 * 204 + 3 * 51  # 561
        self.midend = nn.ModuleList([_MidendBlock(front), _MidendBlock(64), _MidendBlock(64)])
        pooled = 2 * (front + 3 * 64)  # 1506
        self.pool_bn = nn.BatchNorm1d(pooled, eps=BN_EPS)
        self.dense = nn.Linear(pooled, EMBED_DIM)
        self.dense_bn = nn.BatchNorm1d(EMBED_DIM, eps=BN_EPS)
        self.classifier = nn.Linear(EMBED_DIM, n_tags)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.input_bn(x.unsqueeze(1))  # (N, 1, T, F)
        front = torch.cat([blk(x) for blk in self.timbral] + [blk(x) for blk in self.temporal], dim=1)
        m1 = self.midend[0](front)
        m2 = self.midend[1](m1) + m1
        m3 = self.midend[2](m2) + m2
        feats = torch.cat([front, m1, m2, m3], dim=1)  # (N, 753, T)
        # TF concatenates [max, mean] on a trailing axis before flattening: the two interleave
        pooled = torch.stack([feats.amax(dim=2), feats.mean(dim=2)], dim=2).flatten(1)
        embedding = self.dense(self.pool_bn(pooled))
        logits = self.classifier(self.dense_bn(F.relu(embedding)))
        return torch.sigmoid(logits), embedding


def load_state(path: Path | None = None, network: str = DEFAULT_NETWORK) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path or weights_path(network)))


def build_network(network: str = DEFAULT_NETWORK) -> nn.Module:
    """The untrained network of ``network``'s architecture (``forward(x) -> (tags, embedding)``)."""
    spec = NETWORKS[network]
    if spec.arch == "vgg":
        from trance_finder.core.backbones.musicnn_vgg import VggNet

        return VggNet(network, n_tags=len(spec.tags))
    return MusicnnNet(n_tags=len(spec.tags))


def load_network(device: str | torch.device = "cpu", path: Path | None = None,
                 network: str = DEFAULT_NETWORK) -> nn.Module:
    """The network in eval mode with its shipped weights (MSD_musicnn unless ``network`` says)."""
    net = build_network(network)
    state = load_state(path, network)
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"{network} weights do not match the network: missing {missing}, unexpected {unexpected}")
    if NETWORKS[network].arch == "vgg":
        # its 128 -> 128 channel 3x3 convs run ~30 % faster in channels-last layout on CPU (same floats
        # to ~1e-6; bench/bench_extraction.py --only query)
        net = net.to(memory_format=torch.channels_last)
    return net.eval().to(device)


def weights_metadata(path: Path | None = None, network: str = DEFAULT_NETWORK) -> dict:
    """The metadata the converter wrote into the weights file's header."""
    from safetensors import safe_open

    with safe_open(str(path or weights_path(network)), framework="pt") as f:
        meta = dict(f.metadata() or {})
    if "tags" in meta:
        meta["tags"] = json.loads(meta["tags"])
    return meta


# --------------------------------------------------------------------------------------------------
# backbone


class MusicnnBackbone(Backbone):
    name = "musicnn"
    version = "1"
    sample_rate = SAMPLE_RATE
    patch_seconds = PATCH_SECONDS
    network = DEFAULT_NETWORK
    tag_names = MSD_TAGS

    def __init__(self, device: str = "cpu", pooling: str = "mean", batch_size: int | None = None):
        if pooling not in ("mean", "meanmax"):
            raise ValueError(f"pooling must be 'mean' or 'meanmax', not {pooling!r}")
        if device == "auto":
            from trance_finder.core.device import resolve_device

            device = resolve_device("auto")
        self.device = str(device)
        self.pooling = pooling
        # small batches are faster and far lighter on CPU (bench/bench_musicnn_speed.py); big ones on CUDA
        self.batch_size = max(1, int(batch_size or (64 if self.device.startswith("cuda") else 8)))
        self._torch_device = torch.device(self.device)
        self.net = load_network(self._torch_device, network=self.network)

    @property
    def frame_dim(self) -> int:
        return NETWORKS[self.network].embed_dim

    @property
    def params(self) -> dict:
        # the layer and patching are fixed, named so a future change cannot reuse old vectors
        params = {"pooling": self.pooling, "layer": "dense_preact", "patch": "187f_nonoverlap"}
        if self.network != DEFAULT_NETWORK:  # the default's id stays what existing caches hold
            params.update(network=self.network, layer=NETWORKS[self.network].layer)
        return params

    @classmethod
    def check_available(cls) -> tuple[bool, str]:
        path = weights_path(cls.network)
        if not path.is_file():
            return False, f"{cls.network} weights not found at {path} (run scripts/convert_musicnn.py)"
        try:
            import safetensors  # noqa: F401
        except ImportError:
            return False, "the safetensors package is not installed"
        return True, ""

    def analyse(self, audio: np.ndarray) -> BackboneOutput:
        patches = log_mel_patches(audio)
        embs, tags = [], []
        with torch.inference_mode():
            for start in range(0, len(patches), self.batch_size):
                x = torch.from_numpy(patches[start:start + self.batch_size]).to(self._torch_device)
                t, e = self.net(x)
                tags.append(t.float().cpu().numpy())
                embs.append(e.float().cpu().numpy())
        return BackboneOutput(frames=np.concatenate(embs).astype(np.float32),
                              tags=np.concatenate(tags).astype(np.float32))


class MusicnnMttBackbone(MusicnnBackbone):
    """MTT_musicnn: the same network trained on MagnaTagATune (its tags say techno, synth, beat...)."""

    name = "musicnn_mtt"
    network = "MTT_musicnn"
    tag_names = MTT_TAGS


class VggMsdBackbone(MusicnnBackbone):
    """MSD_vgg: the wheel's 5-layer VGG-like baseline trained on the Million Song Dataset."""

    name = "vgg_msd"
    network = "MSD_vgg"
    tag_names = MSD_TAGS


class VggMttBackbone(MusicnnBackbone):
    """MTT_vgg: the VGG-like baseline trained on MagnaTagATune."""

    name = "vgg_mtt"
    network = "MTT_vgg"
    tag_names = MTT_TAGS
