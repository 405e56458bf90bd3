"""Training loops: the NPR network (torch) and the spectral classifier (numpy MLP).

Both detectors see the same format-aligned views (:mod:`fakescope.training.augment`):
CIFAKE images whole (32×32, re-encoded at random like everything else) and native-resolution
crops of the full-resolution pools (modern set, photos, auto-encoder reconstructions).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from .augment import apply_encoding, random_view, sample_encoding
from .data import Record, load_rgb
from .models import NPRNet

__all__ = ["Pool", "TrainData", "load_train_data", "NPRConfig", "train_npr", "SpectralConfig",
           "spectral_training_set", "fit_spectral", "torch_scores"]

Log = Callable[[str], None] | None


@dataclass
class Pool:
    """Decoded images of one class with sampling weights."""

    images: list[np.ndarray] = field(default_factory=list)
    lossless: list[bool] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def add(self, image: np.ndarray, lossless: bool, weight: float, group: str) -> None:
        self.images.append(image)
        self.lossless.append(bool(lossless))
        self.weights.append(float(weight))
        self.groups.append(group)

    def probabilities(self) -> np.ndarray:
        w = np.asarray(self.weights, np.float64)
        return w / w.sum()

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class TrainData:
    """Everything a training run reads, decoded once."""

    cifake_images: np.ndarray  # (n, 32, 32, 3) uint8
    cifake_labels: np.ndarray  # (n,) int
    real: Pool
    fake: Pool

    def summary(self) -> dict[str, Any]:
        def counts(p: Pool) -> dict[str, int]:
            out: dict[str, int] = {}
            for g in p.groups:
                out[g] = out.get(g, 0) + 1
            return out

        return {"cifake": int(len(self.cifake_labels)), "real": counts(self.real), "fake": counts(self.fake)}


def _source_weights(records: Sequence[Record]) -> list[float]:
    """Per-record weights: each (source, generator) stratum gets weight ∝ sqrt(its size).

    Big strata (36 tiles of one flower grid) do not drown small ones, yet still count more
    than one image.
    """
    sizes: dict[str, int] = {}
    for r in records:
        sizes[r.group] = sizes.get(r.group, 0) + 1
    return [1.0 / np.sqrt(sizes[r.group]) for r in records]


def load_train_data(records: Sequence[Record], *, min_side: int = 96, max_side: int = 2048,
                    source_share: dict[str, float] | None = None, log: Log = None) -> TrainData:
    """Decode the train-split records into CIFAKE arrays and per-class crop pools.

    Parameters
    ----------
    records : sequence of Record
        Train-split records (CIFAKE, modern, photos, ae).
    min_side : int
        Full-resolution images smaller than this on a side are skipped (views never resize).
    max_side : int
        Larger images keep only their central ``max_side`` region (native pixels) to bound memory.
    source_share : dict, optional
        Share of each source inside its class pool, e.g. ``{"modern": 0.5, "ae": 0.5}`` for
        fakes; default: equal shares between the sources present in the class.
    """
    cif = [r for r in records if r.source == "cifake"]
    if cif:
        cimgs = np.stack([load_rgb(r.path) for r in cif])
        clab = np.array([r.label for r in cif], np.int64)
    else:
        cimgs, clab = np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, np.int64)
    pools = {0: Pool(), 1: Pool()}
    full = [r for r in records if r.source != "cifake"]
    for label in (0, 1):
        recs = [r for r in full if r.label == label]
        sources = sorted({r.source for r in recs})
        share = {s: (source_share or {}).get(s, 1.0 / len(sources)) for s in sources}
        for s in sources:
            srecs = [r for r in recs if r.source == s]
            w = np.asarray(_source_weights(srecs))
            w = w / w.sum() * share[s]
            for r, wi in zip(srecs, w):
                img = load_rgb(r.path)
                h, wd = img.shape[:2]
                if min(h, wd) < min_side:
                    continue
                if max(h, wd) > max_side:
                    y0 = max(0, (h - max_side) // 2) // 8 * 8
                    x0 = max(0, (wd - max_side) // 2) // 8 * 8
                    img = np.ascontiguousarray(img[y0 : y0 + max_side, x0 : x0 + max_side])
                pools[label].add(img, r.lossless, float(wi), f"{r.source}:{r.group}")
    data = TrainData(cimgs, clab, pools[0], pools[1])
    if log:
        s = data.summary()
        log(f"train data: cifake {s['cifake']}, real pool {len(pools[0])}, fake pool {len(pools[1])}")
    return data


def _cifake_batch(data: TrainData, rng: np.random.Generator, n: int, *, p_flip: float = 0.0,
                  crop_sizes: Sequence[int] = (), **enc: Any) -> tuple[np.ndarray, np.ndarray]:
    """``n`` CIFAKE images (half per class): flipped with ``p_flip``, then one crop size for the
    whole batch drawn from ``crop_sizes`` (even offsets, so the 2×2 phase is kept; 32 = whole),
    then the random encoding."""
    idx = np.concatenate([rng.choice(np.flatnonzero(data.cifake_labels == c), n // 2) for c in (0, 1)])
    flips = rng.random(len(idx)) < p_flip
    h = data.cifake_images.shape[1]
    size = int(rng.choice(list(crop_sizes))) if len(crop_sizes) else h
    out = []
    for i, f in zip(idx, flips):
        img = data.cifake_images[i][:, ::-1] if f else data.cifake_images[i]
        if size < h:
            y, x = (int(rng.integers(0, (h - size) // 2 + 1)) * 2 for _ in range(2))
            img = img[y : y + size, x : x + size]
        out.append(apply_encoding(np.ascontiguousarray(img), sample_encoding(rng, **enc)))
    return np.stack(out), data.cifake_labels[idx]


def _crop_batch(data: TrainData, rng: np.random.Generator, n: int, size: int, *, p_flip: float = 0.0,
                p_blur_real: float = 0.0, p_blur_fake: float = 0.0,
                **view: Any) -> tuple[np.ndarray, np.ndarray]:
    out, labels = [], []
    for label, pool in ((0, data.real), (1, data.fake)):
        p = pool.probabilities()
        p_blur = p_blur_fake if label else p_blur_real
        for i in rng.choice(len(pool), n // 2, p=p):
            v = random_view(pool.images[i], rng, size, lossless_source=pool.lossless[i], p_blur=p_blur, **view)
            out.append(v[:, ::-1] if rng.random() < p_flip else v)
            labels.append(label)
    return np.stack(out), np.asarray(labels, np.int64)


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float()


@dataclass(frozen=True)
class NPRConfig:
    """Recipe of the NPR network (recorded in its card)."""

    width: int = 24
    image_weight: float = 0.0
    norm: str = "batch"
    tile: int = 96
    steps: int = 3000
    batch_cifake: int = 64
    batch_crops: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    cifake_loss_weight: float = 1.0
    p_jpeg: float = 0.5
    q_min: int = 65
    q_max: int = 100
    p_pre_jpeg: float = 0.5
    p_aligned: float = 0.75
    p_flip: float = 0.5
    p_blur_real: float = 0.0
    p_blur_fake: float = 0.0
    cifake_crop_sizes: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_npr(data: TrainData, config: NPRConfig, *, rng: np.random.Generator, log: Log = None) -> NPRNet:
    """Train :class:`NPRNet` with a balanced BCE loss on CIFAKE and full-resolution crops.

    Each step draws ``batch_cifake`` CIFAKE images and ``batch_crops`` native-resolution
    ``tile``-pixel crops (half real, half fake in each), all through the same format
    alignment, and sums the two losses.
    """
    if len(data.real) == 0 and len(data.cifake_labels) == 0:
        raise UsageError("no training data")
    torch.manual_seed(int(rng.integers(2**31)))
    model = NPRNet(width=config.width, image_weight=config.image_weight, norm=config.norm)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps, pct_start=0.1)
    loss_fn = nn.BCEWithLogitsLoss()
    enc = dict(p_jpeg=config.p_jpeg, q_min=config.q_min, q_max=config.q_max, p_flip=config.p_flip,
               crop_sizes=config.cifake_crop_sizes)
    view = dict(p_jpeg=config.p_jpeg, q_min=config.q_min, q_max=config.q_max, p_pre_jpeg=config.p_pre_jpeg,
                p_aligned=config.p_aligned, p_flip=config.p_flip, p_blur_real=config.p_blur_real,
                p_blur_fake=config.p_blur_fake)
    use_cifake = len(data.cifake_labels) > 0 and config.batch_cifake > 0
    use_crops = len(data.real) > 0 and len(data.fake) > 0 and config.batch_crops > 0
    t0 = time.perf_counter()
    hist: list[tuple[float, float]] = []
    model.train()
    for step in range(config.steps):
        loss = torch.zeros(())
        lc = lm = float("nan")
        if use_cifake:
            x, y = _cifake_batch(data, rng, config.batch_cifake, **enc)
            l1 = loss_fn(model(_to_tensor(x)), torch.from_numpy(y).float())
            loss = loss + config.cifake_loss_weight * l1
            lc = l1.item()
        if use_crops:
            x, y = _crop_batch(data, rng, config.batch_crops, config.tile, **view)
            l2 = loss_fn(model(_to_tensor(x)), torch.from_numpy(y).float())
            loss = loss + l2
            lm = l2.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        hist.append((lc, lm))
        if log and (step % 100 == 0 or step == config.steps - 1):
            h = np.asarray(hist[-100:])
            log(f"npr step {step}/{config.steps}  loss cifake {np.nanmean(h[:, 0]):.3f}  crops "
                f"{np.nanmean(h[:, 1]):.3f}  ({time.perf_counter() - t0:.0f}s)")
    return model.eval()


@torch.no_grad()
def torch_scores(model: nn.Module, images: Sequence[np.ndarray], *, tile: int = 96, max_tiles: int = 8) -> np.ndarray:
    """Mean tile logit per image with the torch model (same tiling as the shipped detector)."""
    from ..detectors.npr import tiles_to_batch

    model.eval()
    return np.array([float(model(torch.from_numpy(tiles_to_batch(im, tile=tile, max_tiles=max_tiles))).mean())
                     for im in images])


@dataclass(frozen=True)
class SpectralConfig:
    """Recipe of the spectral classifier (recorded in its card)."""

    hidden: tuple[int, ...] = (32,)
    alpha: float = 1e-3
    views_per_image: int = 6
    view_size: int = 512
    max_iter: int = 400
    p_jpeg: float = 0.5
    q_min: int = 65
    q_max: int = 100
    p_pre_jpeg: float = 0.5
    p_aligned: float = 0.75
    p_blur_real: float = 0.0
    p_blur_fake: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spectral_training_set(data: TrainData, config: SpectralConfig, *, rng: np.random.Generator,
                          log: Log = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of format-aligned views: ``(X, y, sample_weight)``.

    CIFAKE images once each (re-encoded at random); every full-resolution image
    ``views_per_image`` times as a native crop of up to ``view_size`` pixels (the same
    size for both classes) through the format alignment.  Weights balance the two
    domains (CIFAKE, full resolution) and, inside each, the classes and pool weights.
    """
    from ..detectors.spectral import spectral_features

    enc = dict(p_jpeg=config.p_jpeg, q_min=config.q_min, q_max=config.q_max)
    X, y, w = [], [], []
    n_c = len(data.cifake_labels)
    for i in range(n_c):
        img = apply_encoding(data.cifake_images[i], sample_encoding(rng, **enc))
        X.append(spectral_features(img))
        y.append(int(data.cifake_labels[i]))
        w.append(0.5 / max(1, int((data.cifake_labels == data.cifake_labels[i]).sum())))
    view = dict(enc, p_pre_jpeg=config.p_pre_jpeg, p_aligned=config.p_aligned)
    for label, pool in ((0, data.real), (1, data.fake)):
        p = pool.probabilities()
        p_blur = config.p_blur_fake if label else config.p_blur_real
        for i, img in enumerate(pool.images):
            size = min(config.view_size, *img.shape[:2]) // 8 * 8
            for _ in range(config.views_per_image):
                v = random_view(img, rng, size, lossless_source=pool.lossless[i], p_blur=p_blur, **view)
                X.append(spectral_features(v))
                y.append(label)
                w.append(0.5 * p[i] / config.views_per_image)
        if log:
            log(f"spectral features: class {label} done ({len(X)} rows)")
    w_arr = np.asarray(w)
    # the two domains weigh the same
    dom = np.r_[np.zeros(n_c, bool), np.ones(len(w_arr) - n_c, bool)]
    for d in (False, True):
        if (dom == d).any():
            w_arr[dom == d] *= 0.5 / w_arr[dom == d].sum()
    return np.asarray(X), np.asarray(y), w_arr * len(w_arr)


def fit_spectral(X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, config: SpectralConfig, *,
                 rng: np.random.Generator) -> "NumpyMLP":  # noqa: F821
    """Fit standardise + MLP (torch, full-batch L-BFGS-free Adam) and return it as numpy arrays."""
    from ..detectors.spectral import NumpyMLP

    mean = X.mean(axis=0)
    scale = X.std(axis=0) + 1e-6
    Z = torch.from_numpy((X - mean) / scale).float()
    t = torch.from_numpy(y).float()
    sw = torch.from_numpy(sample_weight).float()
    torch.manual_seed(int(rng.integers(2**31)))
    dims = [X.shape[1], *config.hidden, 1]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=0.0)
    bce = nn.BCEWithLogitsLoss(reduction="none")
    for _ in range(config.max_iter):
        out = net(Z)[:, 0]
        loss = (bce(out, t) * sw).mean() + config.alpha * sum((m.weight**2).sum() for m in net if isinstance(m, nn.Linear))
        opt.zero_grad()
        loss.backward()
        opt.step()
    lin = [m for m in net if isinstance(m, nn.Linear)]
    return NumpyMLP(mean, scale, [m.weight.detach().numpy().T.astype(np.float64) for m in lin],
                    [m.bias.detach().numpy().astype(np.float64) for m in lin])
