"""The VGG-like networks of the musicnn wheel (MSD_vgg, MTT_vgg) ported to PyTorch.

Same input as musicnn (``musicnn.log_mel_patches``: 187 frames x 96 mel bands, 3 s at 16 kHz), but a
plain computer-vision style stack (musicnn's ``models.vgg`` with 128 filters): input batch norm, then
five blocks of 3x3 conv ('same') + ReLU + BN + max pooling, flatten (time, frequency, channel order as
in TF's NHWC) and a dense layer to 50 tags. A 187 x 96 patch leaves 2 x 1 positions x 128 channels
after the last pooling: the 256-d "pool5" vector the tag layer reads is the embedding exposed here.
Every batch norm uses epsilon 1e-3. Only 3 s patches make sense (the flattening fixes the positions),
as the wheel's extractor enforces.

The two checkpoints pool differently, read from the graphs saved with them (``.meta``): MTT_vgg as the
wheel's ``models.vgg`` says (4x1 stride 2x2, then 2x2, 2x2, 2x2, 4x4), MSD_vgg as 4x1 stride 4x1, 1x4
stride 1x4, then 2x2, 2x2, 4x4. The wheel rebuilds MSD_vgg with MTT's pooling (the shapes still fit),
so its own MSD_vgg outputs are not those of the trained network; this port follows the saved graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trance_finder.core.backbones.musicnn import frozen_bn, signed_conv

BN_EPS = 1e-3
N_FILTERS = 128
Pools = tuple[tuple[tuple[int, int], tuple[int, int]], ...]  # ((kernel), (stride)) per block
POOLS: dict[str, Pools] = {
    "MTT_vgg": (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4))),
    "MSD_vgg": (((4, 1), (4, 1)), ((1, 4), (1, 4)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4))),
}


class _VggBlock(nn.Module):
    """3x3 'same' conv -> ReLU -> BN -> max pooling ('valid')."""

    def __init__(self, in_channels: int, pool: tuple[int, int], stride: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, N_FILTERS, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2d(N_FILTERS, eps=BN_EPS)
        self.pool = nn.MaxPool2d(pool, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.bn
        if self.training:
            return self.pool(bn(F.relu(self.conv(x))))
        # Eval: the pooling first (signed_conv: a min pooling where the BN scale is negative), then ReLU
        # and BN on the pooled map only: the literal order's floats.
        c, sign = signed_conv(self.conv, bn, x, padding=1)
        return frozen_bn(bn, F.relu(self.pool(c) * sign[None, :, None, None]))


class VggNet(nn.Module):
    """``forward(x)`` with x (N, 187, 96) log-mel patches returns (tags (N, 50), pool5 (N, 256))."""

    def __init__(self, network: str = "MTT_vgg", n_tags: int = 50, n_frames: int = 187, n_mels: int = 96):
        super().__init__()
        pools = POOLS[network]
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        self.convs = nn.ModuleList([_VggBlock(1 if i == 0 else N_FILTERS, p, s) for i, (p, s) in enumerate(pools)])
        t, f = n_frames, n_mels
        for (pt, pf), (st, sf) in pools:
            t, f = (t - pt) // st + 1, (f - pf) // sf + 1
        self.n_frames = n_frames
        self.embed_dim = t * f * N_FILTERS
        self.classifier = nn.Linear(self.embed_dim, n_tags)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] != self.n_frames:
            raise ValueError(f"the VGG networks take {self.n_frames}-frame patches, not {x.shape[1]}")
        h = self.input_bn(x.unsqueeze(1))  # (N, 1, T, F)
        for block in self.convs:
            h = block(h)
        pool5 = h.permute(0, 2, 3, 1).flatten(1)  # TF flattens NHWC: time, frequency, channel
        return torch.sigmoid(self.classifier(pool5)), pool5
