"""Training the projection head with triplet loss, as a generator that yields progress.

The spec's recipe: TripletMarginLoss with cosine distance, a semi-hard TripletMarginMiner, an
MPerClassSampler, AdamW and a cosine learning-rate schedule. Each track contributes its original
vector and its augmented *views*; batches hold two rows of each sampled track, so besides the style
loss on the labels an instance loss (weight ``instance_weight``) keeps every track's views together:
"positive = same label, or an augmented version of the same track".
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import zlib
from dataclasses import asdict, dataclass

import numpy as np
import torch
from pytorch_metric_learning import losses, miners, samplers
from pytorch_metric_learning.distances import CosineSimilarity
from pytorch_metric_learning.utils import common_functions as pml_common
from torch.utils.data import DataLoader, TensorDataset

from trance_finder.core.head import EmbeddingModel, MusicEmbeddingNetwork, Standardizer
from trance_finder.core.progress import CancelToken, Progress

#: share of a track's windows pooled into each window view (2 of 8: bench/bench_real.py --only losses)
WINDOW_SHARE = 0.25


@dataclass
class TrainConfig:
    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    margin: float = 0.2
    embedding_dim: int = 256
    dropout: float = 0.1
    weight_decay: float = 0.01
    # 0.5, not 2.0: on real music (bench/bench_real.py, 187 tracks, 5 held-out folds) held-out P@5 was
    # 0.364 at 2.0, 0.444 at 0.5, 0.455 at 0; copies of a track stay first through the raw share
    instance_weight: float = 0.5
    identity_weight: float = 0.15
    # the loss on the style labels: the spec's triplet loss plus a Proxy-Anchor loss (one learned vector per
    # label). On real music (bench/bench_real.py --only losses, 216 tracks, 3 x 5 held-out folds) held-out
    # P@5 0.507 with the triplet loss alone, 0.519 with both; other choices: "triplet", "proxy_anchor",
    # "normsoftmax", "supcon", "multisim", joined with "+", each with optional "(key=value,...)"
    style_loss: str = "triplet+proxy_anchor(margin=0.2)"
    # std of Gaussian noise added to the standardised inputs while training (a feature-space augmentation)
    input_noise: float = 0.0
    # rows drawn per epoch, at most this many per track (0: every row once): 4 window views per track
    # with 2 passes gave held-out P@5 0.531-0.543 (bench/bench_real.py --only losses) at twice the training time
    # of the tracks alone, all 5 rows per track 0.553 at five times
    epoch_passes: float = 2.0
    seed: int = 0
    device: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainingSet:
    """Rows of raw joined features with their style label and the track they came from."""

    X: np.ndarray  # (n_rows, dim) raw features
    labels: np.ndarray  # (n_rows,) int style label, -1 = no class (learns from its views only)
    groups: np.ndarray  # (n_rows,) int track id
    blocks: list[int]  # dims of each backbone block inside X
    label_names: list[str]

    @classmethod
    def from_tracks(cls, tracks, label_of: dict[str, str], names: list[str], n_views: int,
                    window_views: int = 0, seed: int = 0, window_share: float = WINDOW_SHARE) -> TrainingSet:
        """``label_of``: path -> triplet class; tracks not in it get label -1 (views / instance loss only).

        Rows per track: the original, its first ``n_views`` augmented views, then ``window_views`` rows
        that each pool a random ``window_share`` of the track's windows (``TrackFeatures.windows``; none
        for a track whose cache entry predates them): other moments of the same track, at no extraction
        cost."""
        label_names = sorted({label_of[t.path] for t in tracks if t.path in label_of})
        index = {name: i for i, name in enumerate(label_names)}
        rows, labels, groups = [], [], []
        for g, t in enumerate(tracks):
            own = [t.joined(names, v) for v in range(min(n_views, t.n_views) + 1)]
            own += window_subsets(t, names, window_views, seed, window_share)
            rows += own
            labels += [index.get(label_of.get(t.path), -1)] * len(own)
            groups += [g] * len(own)
        blocks = [int(tracks[0].vectors[n].shape[1]) for n in names]
        return cls(np.stack(rows), np.array(labels), np.array(groups), blocks, label_names)


def window_subsets(track, names: list[str], k: int, seed: int = 0,
                   share: float = WINDOW_SHARE) -> list[np.ndarray]:
    """``k`` joined vectors of ``track``, each the mean of the window vectors of a random ``share`` of its
    windows (at least one; the same draw for every backbone; fixed by the seed and the track's path).
    With mean pooling this is exactly what the analysis of those windows alone would give."""
    wins = track.windows
    if not k or not wins or any(n not in wins for n in names):
        return []
    n = min(len(wins[name]) for name in names)
    if n < 2:
        return []
    size = min(n - 1, max(1, round(n * share)))
    rng = np.random.default_rng([seed, zlib.crc32(str(track.path).encode())])
    out = []
    for _ in range(k):
        pick = np.sort(rng.choice(n, size=size, replace=False))
        out.append(np.concatenate([wins[name][pick].mean(axis=0) for name in names]).astype(np.float32))
    return out


@contextlib.contextmanager
def _seeded(seed: int):
    """Seed torch and pytorch-metric-learning's sampler RNG for reproducible runs."""
    saved = pml_common.NUMPY_RANDOM
    pml_common.NUMPY_RANDOM = np.random.RandomState(seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        pml_common.NUMPY_RANDOM = saved
        torch.random.set_rng_state(torch_state)


def _style_losses(cfg: TrainConfig, n_classes: int, triplet, miner) -> list:
    """[(loss, miner or None)] for ``cfg.style_loss`` ("a+b", each "name" or "name(key=value,...)");
    proxy losses carry their own class vectors."""
    out = []
    for part in cfg.style_loss.split("+"):
        name, _, args = part.partition("(")
        kw = {k: float(v) for k, v in (a.split("=") for a in args.rstrip(")").split(",") if a)}
        if name == "triplet":
            out.append((triplet, miner))
        elif name == "proxy_anchor":
            out.append((losses.ProxyAnchorLoss(n_classes, cfg.embedding_dim, **kw), None))
        elif name == "normsoftmax":
            out.append((losses.NormalizedSoftmaxLoss(n_classes, cfg.embedding_dim, **{"temperature": 0.05, **kw}), None))
        elif name == "supcon":
            out.append((losses.SupConLoss(**{"temperature": 0.1, **kw}), None))
        elif name == "multisim":
            out.append((losses.MultiSimilarityLoss(**kw), None))
        else:
            raise ValueError(f"unknown style loss {name!r}")
    for func, _ in out:
        func.to(torch.device(cfg.device))
    return out


def _epoch_rows(data: TrainingSet, cfg: TrainConfig, bs: int) -> int:
    n = len(data.X)
    if cfg.epoch_passes > 0:
        n = min(n, int(cfg.epoch_passes * len(np.unique(data.groups))))
    return max(bs, n - n % bs)


def _batch_layout(data: TrainingSet, batch_size: int) -> tuple[np.ndarray, int, int]:
    """(sampler labels, m, batch size): 2 rows per track when there are views, else 4 per label."""
    has_views = len(np.unique(data.groups)) < len(data.groups)
    keys = data.groups if has_views else data.labels
    m = 2 if has_views else 4
    n_keys = len(np.unique(keys))
    bs = min(int(batch_size), m * n_keys)
    bs = max(m * 2, bs - bs % m) if m * n_keys >= 2 * m else m * n_keys
    return keys, m, bs


def train_head(data: TrainingSet, cfg: TrainConfig, cancel: CancelToken | None = None):
    """Generator: yields Progress("train", epoch, epochs, info={"loss", "lr"}) and returns an EmbeddingModel."""
    device = torch.device(cfg.device)
    standardizer = Standardizer.fit(data.X, data.blocks)
    Z = standardizer(data.X)
    keys, m, bs = _batch_layout(data, cfg.batch_size)
    use_instance = m == 2 and cfg.instance_weight > 0
    use_style = len(np.unique(data.labels[data.labels >= 0])) >= 2
    history: list[float] = []
    with _seeded(cfg.seed):
        model = MusicEmbeddingNetwork(Z.shape[1], cfg.embedding_dim, cfg.dropout).to(device)
        dataset = TensorDataset(torch.from_numpy(Z), torch.from_numpy(data.labels).long(),
                                torch.from_numpy(data.groups).long())
        sampler = samplers.MPerClassSampler(keys, m=m, batch_size=bs,
                                            length_before_new_iter=_epoch_rows(data, cfg, bs))
        loader = DataLoader(dataset, batch_size=bs, sampler=sampler, drop_last=True)
        distance = CosineSimilarity()
        loss_func = losses.TripletMarginLoss(margin=cfg.margin, distance=distance)
        miner = miners.TripletMarginMiner(margin=cfg.margin, distance=distance, type_of_triplets="semihard")
        style_losses = _style_losses(cfg, len(data.label_names), loss_func, miner) if use_style else []
        params = [{"params": model.parameters()}]
        params += [{"params": f.parameters(), "lr": cfg.lr * 100, "weight_decay": 0.0}
                   for f, _ in style_losses if list(f.parameters())]
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, cfg.epochs))
        yield Progress("train", 0, cfg.epochs, f"Training on {len(np.unique(data.groups))} tracks, "
                       f"{len(data.label_names)} labels, {len(Z)} rows (batch {bs})")
        for epoch in range(cfg.epochs):
            model.train()
            total, batches = 0.0, 0
            for xb, yb, gb in loader:
                if cancel:
                    cancel.check()
                xb, yb, gb = xb.to(device), yb.to(device), gb.to(device)
                optimizer.zero_grad()
                if cfg.input_noise > 0:
                    xb = xb + cfg.input_noise * torch.randn_like(xb)
                emb = model(xb)
                loss = emb.sum() * 0.0
                keep = yb >= 0  # rows without a class take no part in the style loss
                if use_style and int(keep.sum()) > 2:
                    e, y = emb[keep], yb[keep]
                    for func, mine in style_losses:
                        loss = loss + (func(e, y, mine(e, y)) if mine is not None else func(e, y))
                if use_instance:
                    loss = loss + cfg.instance_weight * loss_func(emb, gb, miner(emb, gb))
                loss.backward()
                optimizer.step()
                total += float(loss.item())
                batches += 1
            scheduler.step()
            history.append(total / max(1, batches))
            yield Progress("train", epoch + 1, cfg.epochs, f"Epoch {epoch + 1}/{cfg.epochs}, Loss: {history[-1]:.4f}",
                           {"epoch": epoch + 1, "loss": history[-1], "lr": scheduler.get_last_lr()[0]})
    model.eval().cpu()
    meta = {
        "embedding_dim": cfg.embedding_dim,
        "dropout": cfg.dropout,
        "identity_weight": cfg.identity_weight,
        "label_names": data.label_names,
        "blocks": data.blocks,
        "train_config": {**cfg.to_dict(), "batch_size_used": bs, "m_per_class": m},
        "loss_history": history,
        "trained_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return EmbeddingModel(model, standardizer, meta)
