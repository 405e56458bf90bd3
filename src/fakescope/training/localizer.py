"""Training of the localization network: a small U-Net on partial fakes synthesised from real photos
(:mod:`fakescope.localization.synth`), exported to ONNX for :mod:`fakescope.localization`.

The network maps ``(n, 3, H, W)`` float32 0..255 (H, W multiples of 8) to ``(n, 1, H, W)`` logits of
"this pixel was changed".  Loss: binary cross-entropy plus soft Dice.  A quarter of the training crops
are untouched photos, so the network learns to leave them blank; every crop is laundered (resize, JPEG)
as the benchmark's are.
"""

from __future__ import annotations

import io
import time
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..localization.synth import launder, make_partial

__all__ = ["TinyUNet", "sample_batch", "train_localizer", "export_localizer"]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyUNet(nn.Module):
    """A three-level U-Net (``width``, 2x, 4x, 4x channels); the first layer sees the image and its
    high-pass residual (image minus its 3x3 mean), where resampling and re-noising show."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.e1, self.e2, self.e3, self.b = _block(6, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 4 * w)
        self.u3, self.d3 = nn.ConvTranspose2d(4 * w, 4 * w, 2, stride=2), _block(8 * w, 2 * w)
        self.u2, self.d2 = nn.ConvTranspose2d(2 * w, 2 * w, 2, stride=2), _block(4 * w, w)
        self.u1, self.d1 = nn.ConvTranspose2d(w, w, 2, stride=2), _block(2 * w, w)
        self.head = nn.Conv2d(w, 1, 1)
        self.pool = nn.MaxPool2d(2)
        self.register_buffer("box", torch.ones(3, 1, 3, 3) / 9.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x / 127.5 - 1.0
        hp = (x - nn.functional.conv2d(nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), self.box, groups=3)) * 4.0
        e1 = self.e1(torch.cat([x, hp], 1))
        e2 = self.e2(self.pool(e1))
        e3 = self.e3(self.pool(e2))
        b = self.b(self.pool(e3))
        d3 = self.d3(torch.cat([self.u3(b), e3], 1))
        d2 = self.d2(torch.cat([self.u2(d3), e2], 1))
        d1 = self.d1(torch.cat([self.u1(d2), e1], 1))
        return self.head(d1)


def _crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    from ..localization.synth import _resize

    h, w = image.shape[:2]
    if h < size or w < size:
        s = size / min(h, w)
        image = _resize(image, max(size, int(round(h * s)) + 1), max(size, int(round(w * s)) + 1))
        h, w = image.shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return image[y : y + size, x : x + size]


def sample_batch(reals: Sequence[np.ndarray], fakes: Sequence[np.ndarray], kinds: Sequence[str], n: int, size: int,
                 rng: np.random.Generator, *, p_clean: float = 0.25, p_resize: float = 0.5,
                 scale: tuple[float, float] = (0.5, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """``n`` training crops (``(n, 3, size, size)`` float32 0..255) and masks (``(n, 1, size, size)``),
    laundered as the benchmark's partial fakes are: with probability ``p_resize`` the edit is made on a
    crop of ``size / s`` px (``s`` drawn from ``scale``) then reduced to ``size`` (bicubic; the mask
    nearest), then JPEG q60-95 with probability 0.8 (:func:`fakescope.localization.synth.launder`)."""
    from PIL import Image

    from ..localization.synth import _resize

    xs, ms = [], []
    for _ in range(n):
        s = float(rng.uniform(*scale)) if p_resize > 0 and rng.random() < p_resize else 1.0
        big = max(size, int(round(size / s)))
        base = _crop(reals[int(rng.integers(len(reals)))], big, rng)
        if rng.random() < p_clean:
            img, mask = base, np.zeros(base.shape[:2], np.uint8)
        else:
            kind = kinds[int(rng.integers(len(kinds)))]
            donor = None
            if kind == "fake-paste":
                donor = fakes[int(rng.integers(len(fakes)))]
            elif kind == "splice":
                donor = reals[int(rng.integers(len(reals)))]
            img, mask = make_partial(base, donor, kind, rng, area=(0.05, 0.4), launder=False)
        if big != size:
            img = _resize(img, size, size)
            mask = _resize(mask * 255, size, size, Image.Resampling.NEAREST) // 255
        img, mask = launder(img, mask, rng, p_resize=0.0)
        xs.append(img.transpose(2, 0, 1))
        ms.append(mask[None])
    return np.stack(xs).astype(np.float32), np.stack(ms).astype(np.float32)


def train_localizer(reals: Sequence[np.ndarray], fakes: Sequence[np.ndarray], kinds: Sequence[str], *, steps: int,
                    batch: int = 12, size: int = 128, width: int = 16, lr: float = 2e-3, seed: int = 0,
                    p_clean: float = 0.25, p_resize: float = 0.5, log: Callable[[str], None] | None = None) -> tuple[TinyUNet, list[float]]:
    """Train :class:`TinyUNet` for ``steps`` steps (Adam, cosine learning rate); returns it and the losses."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = TinyUNet(width)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    losses: list[float] = []
    t0 = time.time()
    net.train()
    for step in range(steps):
        x, m = sample_batch(reals, fakes, kinds, batch, size, rng, p_clean=p_clean, p_resize=p_resize)
        xt, mt = torch.from_numpy(x), torch.from_numpy(m)
        logit = net(xt)
        p = torch.sigmoid(logit)
        bce = nn.functional.binary_cross_entropy_with_logits(logit, mt)
        inter = (p * mt).sum((1, 2, 3))
        dice = 1 - (2 * inter + 1) / (p.sum((1, 2, 3)) + mt.sum((1, 2, 3)) + 1)
        loss = bce + 0.5 * dice.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if log and (step + 1) % 200 == 0:
            log(f"localizer: step {step + 1}/{steps}, loss {np.mean(losses[-200:]):.4f}, {time.time() - t0:.0f} s")
    net.eval()
    return net, losses


def export_localizer(net: TinyUNet, path: str) -> float:
    """Write the ONNX graph (``image`` ``(n, 3, H, W)`` float32 0..255 → ``logit`` ``(n, 1, H, W)``; H, W
    dynamic, multiples of 8).  Returns the largest difference from torch on a fixed batch (parity)."""
    import warnings

    from ..backbones import OPSET
    from ..detectors.base import OnnxModel

    net.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 64, 64),), buf, input_names=["image"], output_names=["logit"],
                          dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "logit": {0: "n", 2: "h", 3: "w"}},
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 96, 80)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    return float(np.max(np.abs(OnnxModel(path)(x) - ref)))
