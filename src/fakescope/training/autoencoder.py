"""Aligned fakes: auto-encoder reconstructions of real photos.

A stride-8 convolutional auto-encoder is trained for a fixed number of steps on crops of the
*train-split* real photos only; its reconstructions keep a photo's content but carry the
decoder's up-sampling traces, which is what a detector should learn (Rajan et al. 2025,
"On the Effectiveness of Dataset Alignment for Fake Image Detection").  Reconstructions
of calibration/test photos stay in those splits.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from .data import Record, load_rgb
from .models import ConvAutoEncoder

__all__ = ["train_autoencoder", "reconstruct", "make_ae_fakes", "psnr"]


def _batch(images: Sequence[np.ndarray], rng: np.random.Generator, size: int, n: int) -> torch.Tensor:
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = images[int(rng.integers(len(images)))]
        h, w = img.shape[:2]
        y = int(rng.integers(0, h - size + 1))
        x = int(rng.integers(0, w - size + 1))
        out[i] = img[y : y + size, x : x + size]
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)


def train_autoencoder(images: Sequence[np.ndarray], *, upsample: str, rng: np.random.Generator,
                      steps: int = 1500, crop: int = 64, batch: int = 24, lr: float = 2e-3,
                      latent: int = 48, width: int = 32,
                      log: Callable[[str], None] | None = None) -> ConvAutoEncoder:
    """Train a :class:`ConvAutoEncoder` on random ``crop``-pixel crops with an L1 loss.

    Parameters
    ----------
    images : sequence of ndarray
        Train-split real photos (``H×W×3`` uint8), each at least ``crop`` pixels on a side.
    upsample : {"nearest", "transposed"}
        Decoder variant (see :class:`ConvAutoEncoder`).
    rng : numpy.random.Generator
        Drives the crops and seeds torch's initialisation (reproducible).
    steps, crop, batch, lr : int, int, int, float
        Optimisation schedule (Adam, cosine decay): exactly ``steps`` optimizer steps, no wall-clock
        limit, so the same inputs, seed and torch thread count give the same weights.
    """
    if not images:
        raise UsageError("train_autoencoder needs at least one image")
    images = [im for im in images if min(im.shape[:2]) >= crop]
    if not images:
        raise UsageError(f"no training image is at least {crop}px on both sides")
    torch.manual_seed(int(rng.integers(2**31)))
    model = ConvAutoEncoder(upsample=upsample, latent=latent, width=width)  # type: ignore[arg-type]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    loss_fn = nn.L1Loss()
    model.train()
    for step in range(steps):
        x = _batch(images, rng, crop, batch)
        loss = loss_fn(model(x), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log and (step % 100 == 0 or step == steps - 1):
            log(f"ae[{upsample}] step {step} L1 {loss.item():.4f}")
    return model.eval()


@torch.no_grad()
def reconstruct(model: ConvAutoEncoder, image: np.ndarray, *, max_side: int = 768) -> np.ndarray:
    """Reconstruct the central native-resolution crop of ``image`` (sides multiples of 8, ≤ ``max_side``).

    Returns
    -------
    ndarray
        ``h×w×3`` uint8, the reconstruction of ``image[y0:y0+h, x0:x0+w]`` (the centre crop).
    """
    h, w = image.shape[:2]
    ch, cw = min(h, max_side) // 8 * 8, min(w, max_side) // 8 * 8
    if ch < 8 or cw < 8:
        raise UsageError(f"image too small to reconstruct: {w}x{h}")
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = image[y0 : y0 + ch, x0 : x0 + cw]
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float().div_(255.0)
    y = model(x)[0].clamp_(0, 1).mul_(255.0).round_().byte().permute(1, 2, 0).numpy()
    return np.ascontiguousarray(y)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images of one shape.

    >>> psnr(np.zeros((4, 4), np.uint8), np.full((4, 4), 255, np.uint8))
    0.0
    """
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def make_ae_fakes(sources: Sequence[Record], models: dict[str, ConvAutoEncoder], out_dir: str | Path, *,
                  max_side: int = 768, log: Callable[[str], None] | None = None, source: str = "ae",
                  group: str | None = None) -> tuple[list[Record], dict]:
    """Reconstruct every source photo with every auto-encoder and save the results as PNG.

    Each reconstruction becomes a ``label=1`` record in its source's split, source ``source``,
    group ``source`` (or ``group.format(model=name)`` when given, e.g. ``"heldout:{model}"``)
    and ``key`` = the source key (so pairs can be matched).

    Returns
    -------
    records : list of Record
    stats : dict
        Mean PSNR (dB) of the reconstructions per auto-encoder variant.
    """
    from PIL import Image

    out = Path(out_dir)
    records: list[Record] = []
    psnrs: dict[str, list[float]] = {k: [] for k in models}
    for i, src in enumerate(sources):
        img = load_rgb(src.path)
        h, w = img.shape[:2]
        ch, cw = min(h, max_side) // 8 * 8, min(w, max_side) // 8 * 8
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        ref = img[y0 : y0 + ch, x0 : x0 + cw]
        for name, model in models.items():
            rec = reconstruct(model, img, max_side=max_side)
            psnrs[name].append(psnr(rec, ref))
            dst = out / name / src.split / f"{i:04d}_{Path(src.path).stem}.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rec).save(dst, compress_level=1)
            grp = source if group is None else group.format(model=name)
            records.append(replace(src, path=str(dst), label=1, group=grp, source=source, lossless=True))
        if log and i % 50 == 0:
            log(f"ae reconstructions: {i + 1}/{len(sources)}")
    stats = {k: float(np.mean(v)) if v else float("nan") for k, v in psnrs.items()}
    return records, stats
