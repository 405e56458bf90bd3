"""The trainable tile-network families: their networks (plain torch) and training augmentations.

Every network takes ``(N, C, H, W)`` float32 pixel values 0..255 (``C`` = 3 RGB, or 6 for
PatchCraft's rich/poor pair) and returns ``(N,)`` logits; all preprocessing (scaling, wavelet
or SRM filtering) is inside the graph, so the ONNX export is the whole detector.  None of
them uses batch-norm: training mixes 32-pixel CIFAKE batches with full-resolution crops,
whose statistics differ, so residual branches start switched off instead (a learnable
scale initialised at zero, "SkipInit", De & Smith 2020).

A :class:`Family` bundles what the generic trainer (:mod:`fakescope.training.trainer`)
needs: the network builder, the input policy (shared with inference through
:func:`fakescope.detectors.zoo.tile_batch`) and the family's own augmentations, applied to
uint8 views after the format alignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import UsageError
from .augment import gaussian_blur, jpeg
from .models import NPRNet

__all__ = ["Family", "FAMILIES", "get_family", "SAFENet", "CNNSpotNet", "PatchCraftNet", "haar_highpass",
           "SRM_KERNELS", "color_jitter", "random_rotation", "random_mask"]


# --------------------------------------------------------------------------------------
# building blocks


class ResBlock(nn.Module):
    """Two 3×3 convolutions with a zero-initialised residual scale (no normalisation)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.scale = nn.Parameter(torch.zeros(1))
        self.short = None if (cin == cout and stride == 1) else nn.Conv2d(cin, cout, 1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x if self.short is None else self.short(x)
        return F.relu(s + self.scale * self.conv2(F.relu(self.conv1(x))))


class _ResTrunk(nn.Module):
    """Stem, four residual stages (widths w, 2w, 4w, 8w; the last three stride 2), average pool, linear."""

    def __init__(self, cin: int, width: int, *, stem_kernel: int = 3, stem_stride: int = 1) -> None:
        super().__init__()
        w = width
        pad = (stem_kernel - stem_stride) // 2 if stem_stride > 1 else stem_kernel // 2
        self.stem = nn.Sequential(nn.Conv2d(cin, w, stem_kernel, stride=stem_stride, padding=pad), nn.ReLU())
        self.stages = nn.Sequential(ResBlock(w, w), ResBlock(w, 2 * w, 2), ResBlock(2 * w, 4 * w, 2),
                                    ResBlock(4 * w, 8 * w, 2))
        self.head = nn.Linear(8 * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)).mean(dim=(2, 3)))[:, 0]


def haar_highpass(x: torch.Tensor) -> torch.Tensor:
    """One level of the orthonormal Haar DWT, high-frequency sub-bands only.

    ``(N, C, H, W)`` → ``(N, 3C, H/2, W/2)``: LH, HL and HH of every channel (cropped to even
    sides first).  Written with reshapes so the ONNX graph is exact.

    >>> x = torch.zeros(1, 1, 4, 4); x[..., ::2, :] = 1.0  # horizontal stripes
    >>> haar_highpass(x).abs().sum(dim=(2, 3))[0].tolist()  # only the vertical detail (LH) responds
    [4.0, 0.0, 0.0]
    """
    n, c, h, w = x.shape
    x = x[:, :, : h // 2 * 2, : w // 2 * 2]
    b = x.reshape(n, c, h // 2, 2, w // 2, 2)
    a, bb, cc, d = b[:, :, :, 0, :, 0], b[:, :, :, 0, :, 1], b[:, :, :, 1, :, 0], b[:, :, :, 1, :, 1]
    lh = (a + bb - cc - d) * 0.5  # difference between rows: horizontal edges
    hl = (a - bb + cc - d) * 0.5  # difference between columns: vertical edges
    hh = (a - bb - cc + d) * 0.5  # diagonal
    return torch.cat([lh, hl, hh], dim=1)


# nine of the SRM (spatial rich model, Fridrich & Kodovsky 2012) high-pass kernels PatchCraft
# starts from, as 5×5 arrays
def _k(rows: list[list[float]], div: float) -> np.ndarray:
    a = np.zeros((5, 5), np.float32)
    r = np.asarray(rows, np.float32) / div
    o = (5 - r.shape[0]) // 2
    a[o : o + r.shape[0], o : o + r.shape[1]] = r
    return a


SRM_KERNELS: np.ndarray = np.stack([
    _k([[0, 0, 0], [0, -1, 1], [0, 0, 0]], 1),  # 1st order, horizontal
    _k([[0, 0, 0], [0, -1, 0], [0, 1, 0]], 1),  # 1st order, vertical
    _k([[0, 0, 0], [1, -2, 1], [0, 0, 0]], 2),  # 2nd order, horizontal
    _k([[0, 1, 0], [0, -2, 0], [0, 1, 0]], 2),  # 2nd order, vertical
    _k([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, -3, 3, -1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], 3),  # 3rd order
    _k([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], 4),  # SQUARE 3×3
    _k([[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]], 12),
    _k([[-1, 2, -1], [2, -4, 2], [0, 0, 0]], 4),  # EDGE 3×3
    _k([[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], 12),  # EDGE 5×5
])


# --------------------------------------------------------------------------------------
# networks


class SAFENet(nn.Module):
    """SAFE-style: Haar high-frequency sub-bands (9 channels at half resolution) into a residual CNN."""

    def __init__(self, *, width: int = 24) -> None:
        super().__init__()
        self.trunk = _ResTrunk(9, width, stem_kernel=3, stem_stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(haar_highpass(x * (1.0 / 255.0)) * 8.0)


class CNNSpotNet(nn.Module):
    """CNNSpot-style: a residual CNN on ImageNet-normalised RGB (4×4 stride-2 stem)."""

    def __init__(self, *, width: int = 24) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255.0)
        self.trunk = _ResTrunk(3, width, stem_kernel=4, stem_stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk((x - self.mean) / self.std)


class PatchCraftNet(nn.Module):
    """PatchCraft-style: SRM filters on the rich and poor reconstructions, learnt contrast, CNN.

    Input ``(N, 6, S, S)``: channels 0-2 the rich-texture reconstruction, 3-5 the poor one
    (:func:`fakescope.detectors.zoo.smash_and_reconstruct`).  Each goes through the fixed SRM
    bank (per colour channel), a truncation (hard tanh at ±3 grey levels, as in SRM), and its
    own learnable 4×4 stride-2 convolution; the network classifies their difference.
    """

    def __init__(self, *, width: int = 24) -> None:
        super().__init__()
        k = torch.from_numpy(SRM_KERNELS)  # (9, 5, 5)
        bank = k[:, None].repeat(3, 1, 1, 1)  # (27, 1, 5, 5): every kernel on every channel (groups=3)
        self.register_buffer("srm", bank.reshape(3, 9, 1, 5, 5).reshape(27, 1, 5, 5))
        nf = 27
        # 4x4 stride-2 learnable filters per branch (a 4x4 window covers whole 2x2 pixel blocks): the
        # contrast is learnt at half resolution, which keeps the network about as cheap as npr's
        self.rich = nn.Sequential(nn.Conv2d(nf, width, 4, stride=2, padding=1), nn.Hardtanh())
        self.poor = nn.Sequential(nn.Conv2d(nf, width, 4, stride=2, padding=1), nn.Hardtanh())
        self.trunk = _ResTrunk(width, width, stem_kernel=3, stem_stride=1)

    def _filter(self, x: torch.Tensor) -> torch.Tensor:
        r = F.conv2d(x, self.srm, padding=2, groups=3)
        return torch.clamp(r, -3.0, 3.0) * (1.0 / 3.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rich = self.rich(self._filter(x[:, :3]))
        poor = self.poor(self._filter(x[:, 3:]))
        return self.trunk(rich - poor)


# --------------------------------------------------------------------------------------
# augmentations (uint8 HxWx3 in, uint8 out; parameters drawn from ``rng``)


def color_jitter(img: np.ndarray, rng: np.random.Generator, *, brightness: float = 0.1, contrast: float = 0.1,
                 saturation: float = 0.1, hue: float = 0.02) -> np.ndarray:
    """torchvision-style ColorJitter: brightness, contrast, saturation factors ``1±x``, hue shift ``±hue`` turns."""
    import cv2

    x = img.astype(np.float32)
    x *= rng.uniform(1 - brightness, 1 + brightness)
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = (x - grey.mean()) * rng.uniform(1 - contrast, 1 + contrast) + grey.mean()
    grey = (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    x = (x - grey) * rng.uniform(1 - saturation, 1 + saturation) + grey
    out = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if hue > 0:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV_FULL)
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(round(rng.uniform(-hue, hue) * 256))) % 256
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)
    return out


def random_rotation(img: np.ndarray, rng: np.random.Generator, *, p_right: float = 0.5, p_free: float = 0.2,
                    max_degrees: float = 20.0) -> np.ndarray:
    """Lossless quarter turns with probability ``p_right``; a free rotation (bilinear, reflected
    borders) of ``±max_degrees`` with probability ``p_free``."""
    import cv2

    out = img
    if rng.random() < p_right:
        out = np.ascontiguousarray(np.rot90(out, int(rng.integers(1, 4))))
    if rng.random() < p_free:
        h, w = out.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), float(rng.uniform(-max_degrees, max_degrees)), 1.0)
        out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out


def random_mask(img: np.ndarray, rng: np.random.Generator, *, p: float = 0.5, max_ratio: float = 0.5,
                patch: int = 16) -> np.ndarray:
    """SAFE's patch masking: with probability ``p``, zero a random ``U(0, max_ratio)`` share of
    the ``patch``-pixel grid cells (``patch`` is halved until the image holds at least 4×4 cells)."""
    if rng.random() >= p:
        return img
    h, w = img.shape[:2]
    while patch > 2 and (h // patch < 4 or w // patch < 4):
        patch //= 2
    ny, nx = -(-h // patch), -(-w // patch)
    cells = rng.random(ny * nx) < rng.uniform(0.0, max_ratio)
    if not cells.any():
        return img
    mask = np.repeat(np.repeat(cells.reshape(ny, nx), patch, 0), patch, 1)[:h, :w]
    out = img.copy()
    out[mask] = 0
    return out


def _safe_augment(img: np.ndarray, rng: np.random.Generator, cfg: dict[str, Any]) -> np.ndarray:
    img = color_jitter(img, rng, brightness=cfg.get("jitter", 0.1), contrast=cfg.get("jitter", 0.1),
                       saturation=cfg.get("jitter", 0.1), hue=cfg.get("hue", 0.02)) \
        if rng.random() < cfg.get("p_jitter", 0.8) else img
    img = random_rotation(img, rng, p_right=cfg.get("p_rot90", 0.5), p_free=cfg.get("p_rotate", 0.2),
                          max_degrees=cfg.get("max_degrees", 20.0))
    return random_mask(img, rng, p=cfg.get("p_mask", 0.5), max_ratio=cfg.get("mask_ratio", 0.5),
                       patch=cfg.get("mask_patch", 16))


def _cnnspot_augment(img: np.ndarray, rng: np.random.Generator, cfg: dict[str, Any]) -> np.ndarray:
    # Wang et al.'s "Blur+JPEG (0.5)": Gaussian blur sigma ~ U(0, 3) with p=0.5, then JPEG quality
    # ~ U{30..100} with p=0.5 (both classes alike)
    # (the blur range scales with the view: sigma 3 on a 32-px CIFAKE image would erase it)
    if rng.random() < cfg.get("p_blur", 0.5):
        scale = min(1.0, min(img.shape[:2]) / 128.0)
        img = gaussian_blur(img, float(rng.uniform(0.0, cfg.get("blur_max", 3.0) * scale)))
    if rng.random() < cfg.get("p_jpeg", 0.5):
        img = jpeg(img, int(rng.integers(cfg.get("q_min", 30), 101)))
    return img


def _no_augment(img: np.ndarray, rng: np.random.Generator, cfg: dict[str, Any]) -> np.ndarray:
    return img


# --------------------------------------------------------------------------------------
# families


@dataclass(frozen=True)
class Family:
    """A trainable tile-network family (see the module docstring)."""

    name: str
    summary: str
    paper: str
    looks_at: str
    build: Callable[..., nn.Module]
    augment: Callable[[np.ndarray, np.random.Generator, dict[str, Any]], np.ndarray]
    transform: str = "none"  # the numpy input transform (fakescope.detectors.zoo.TRANSFORMS)
    tile: int = 96
    max_tiles: int = 8
    augment_doc: str = ""


FAMILIES: dict[str, Family] = {
    "npr": Family(
        name="npr", summary="NPR up-sampling traces (small CNN)",
        paper="Tan et al., Rethinking the Up-Sampling Operations in CNN-based Generative Network for "
              "Generalizable Deepfake Detection, CVPR 2024",
        looks_at="x - nearest_up(x[::2, ::2]): how the pixels of every 2x2 block relate (up-sampling traces)",
        build=lambda width=32, image_weight=1.0, **_: NPRNet(width=width, image_weight=image_weight, norm="none"),
        augment=_no_augment, augment_doc="format alignment only"),
    "safe": Family(
        name="safe", summary="SAFE wavelet high-frequency CNN",
        paper="Li et al., Improving Synthetic Image Detection Towards Generalization: An Image Transformation "
              "Perspective (SAFE), 2024 (KDD 2025)",
        looks_at="Haar-wavelet LH/HL/HH sub-bands of each colour channel (high-frequency artifacts)",
        build=lambda width=24, **_: SAFENet(width=width), augment=_safe_augment,
        augment_doc="crop (never resize); ColorJitter 0.1 (p 0.8); quarter turns p 0.5 and free rotation "
                    "+-20 deg p 0.2; patch masking p 0.5 up to 50% of 16-px cells"),
    "cnnspot": Family(
        name="cnnspot", summary="CNNSpot RGB ResNet (blur+JPEG trained)",
        paper="Wang et al., CNN-generated images are surprisingly easy to spot... for now, CVPR 2020",
        looks_at="RGB pixels (ImageNet-normalised) through a residual CNN",
        build=lambda width=24, **_: CNNSpotNet(width=width), augment=_cnnspot_augment,
        augment_doc="Blur+JPEG(0.5): Gaussian blur sigma~U(0,3) (scaled by side/128 for views under 128 px) p 0.5, "
                    "JPEG q~U{30..100} p 0.5"),
    "patchcraft": Family(
        name="patchcraft", summary="PatchCraft rich/poor texture contrast",
        paper="Zhong et al., PatchCraft: Exploring Texture Patch for Efficient AI-generated Image Detection, 2023",
        looks_at="SRM high-pass residuals of the richest vs the poorest texture patches (inter-pixel correlation "
                 "contrast)",
        build=lambda width=16, **_: PatchCraftNet(width=width), augment=_no_augment, transform="patchcraft",
        tile=192, max_tiles=4, augment_doc="format alignment only (smash-and-reconstruct is the input)"),
}


def get_family(name: str) -> Family:
    """A trainable family by name (``npr``, ``safe``, ``cnnspot``, ``patchcraft``)."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise UsageError(f"no trainable tile-network family {name!r}; known: {sorted(FAMILIES)} "
                         "(probe: fakescope.training.probe; rigid needs no training)") from None
