"""Filtering perturbations: Gaussian, median and motion blur, unsharp sharpening, block occlusion.

All keep the image shape.  Borders are reflected (OpenCV's ``BORDER_REFLECT_101``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import cv2
import numpy as np
from PIL import Image, ImageFilter

from ..errors import UsageError
from ._core import draw_float, draw_int, perturbation

__all__ = ["gaussian_blur", "median_blur", "motion_blur", "motion_kernel", "sharpen", "occlusion"]


def _sample_gaussian_blur(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = ((0.4, 0.6), (0.8, 1.2), (1.4, 1.8), (2.0, 2.6), (3.0, 4.0))[severity - 1]
    return {"sigma": draw_float(rng, lo, hi)}


@perturbation("gaussian-blur", sampler=_sample_gaussian_blur, category="blur",
              summary="Gaussian blur (kernel ±3σ)",
              levels=("1: σ 0.4-0.6 px", "2: σ 0.8-1.2", "3: σ 1.4-1.8", "4: σ 2.0-2.6", "5: σ 3.0-4.0"))
def gaussian_blur(image: np.ndarray, *, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels (kernel side ``2⌈3σ⌉+1``).

    Examples
    --------
    >>> x = np.zeros((9, 9, 3), np.uint8); x[4, 4] = 255
    >>> y = gaussian_blur(x, sigma=1.0)
    >>> int(y[4, 4, 0]) < 255 and int(y[4, 5, 0]) > 0
    True
    """
    if not isinstance(sigma, (int, float)) or not 0.0 < float(sigma) <= 50.0:
        raise UsageError(f"sigma must be in (0, 50], got {sigma!r}")
    k = 2 * math.ceil(3.0 * float(sigma)) + 1
    return cv2.GaussianBlur(image, (k, k), sigmaX=float(sigma), sigmaY=float(sigma),
                            borderType=cv2.BORDER_REFLECT_101)


def _sample_median(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    return {"ksize": (3, 5, 7, 9, 11)[severity - 1]}


@perturbation("median-blur", sampler=_sample_median, category="blur",
              summary="median filter (OpenCV)",
              levels=("1: 3×3", "2: 5×5", "3: 7×7", "4: 9×9", "5: 11×11"))
def median_blur(image: np.ndarray, *, ksize: int = 3) -> np.ndarray:
    """Median filter over a ``ksize``×``ksize`` window (odd, 3..15).

    Examples
    --------
    >>> x = np.zeros((9, 9, 3), np.uint8); x[4, 4] = 255
    >>> int(median_blur(x, ksize=3).max())
    0
    """
    if isinstance(ksize, bool) or not isinstance(ksize, (int, np.integer)) or ksize % 2 == 0 or not 3 <= ksize <= 15:
        raise UsageError(f"ksize must be an odd integer 3..15, got {ksize!r}")
    return cv2.medianBlur(image, int(ksize))


def motion_kernel(length: int, angle: float) -> np.ndarray:
    """A normalised line kernel ``length`` pixels long at ``angle`` degrees (anti-aliased).

    Examples
    --------
    >>> k = motion_kernel(5, 0.0)
    >>> k.shape, round(float(k.sum()), 6), int((k[2] > 0).sum())
    ((5, 5), 1.0, 5)
    """
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or not 1 <= length <= 101:
        raise UsageError(f"length must be an integer 1..101, got {length!r}")
    n = int(length) if int(length) % 2 == 1 else int(length) + 1
    k = np.zeros((n, n), np.float32)
    c = (n - 1) / 2.0
    a = math.radians(float(angle))
    dx, dy = math.cos(a), -math.sin(a)
    # sample the segment densely and splat bilinearly, so any angle gives a smooth line
    for t in np.linspace(-(length - 1) / 2.0, (length - 1) / 2.0, 8 * int(length)):
        x, y = c + t * dx, c + t * dy
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        for yy, xx, wgt in ((y0, x0, (1 - fx) * (1 - fy)), (y0, x0 + 1, fx * (1 - fy)),
                            (y0 + 1, x0, (1 - fx) * fy), (y0 + 1, x0 + 1, fx * fy)):
            if 0 <= yy < n and 0 <= xx < n:
                k[yy, xx] += wgt
    return k / k.sum()


def _sample_motion(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = ((3, 4), (5, 7), (8, 11), (12, 16), (17, 23))[severity - 1]
    return {"length": draw_int(rng, lo, hi), "angle": draw_float(rng, 0.0, 180.0, digits=1)}


@perturbation("motion-blur", sampler=_sample_motion, category="blur",
              summary="linear motion blur at a random angle",
              levels=("1: 3-4 px", "2: 5-7 px", "3: 8-11 px", "4: 12-16 px", "5: 17-23 px"))
def motion_blur(image: np.ndarray, *, length: int, angle: float = 0.0) -> np.ndarray:
    """Convolve with :func:`motion_kernel` (``length`` pixels at ``angle`` degrees).

    Examples
    --------
    >>> x = np.zeros((11, 11, 3), np.uint8); x[5, 5] = 255
    >>> y = motion_blur(x, length=5, angle=0.0)
    >>> int((y[5, :, 0] > 0).sum()), int((y[:, 5, 0] > 0).sum())
    (5, 1)
    """
    k = motion_kernel(length, angle)
    return cv2.filter2D(image, -1, k, borderType=cv2.BORDER_REFLECT_101)


def _sample_sharpen(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = ((40, 60), (80, 120), (130, 170), (180, 240), (260, 340))[severity - 1]
    return {"radius": draw_float(rng, 1.0, 2.0, digits=2), "percent": draw_int(rng, lo, hi), "threshold": 2}


@perturbation("sharpen", sampler=_sample_sharpen, category="enhancement",
              summary="unsharp mask (Pillow), as phone galleries and platforms apply",
              levels=("1: 40-60%", "2: 80-120%", "3: 130-170%", "4: 180-240%", "5: 260-340%"))
def sharpen(image: np.ndarray, *, radius: float = 1.5, percent: int = 100, threshold: int = 2) -> np.ndarray:
    """Unsharp mask: ``image + percent/100 · (image − blur_radius(image))`` where the difference exceeds ``threshold``.

    Examples
    --------
    >>> x = np.full((8, 8, 3), 128, np.uint8)
    >>> bool((sharpen(x, percent=150) == x).all())
    True
    """
    if not 0.0 < float(radius) <= 20.0 or not 0 <= int(percent) <= 1000 or not 0 <= int(threshold) <= 255:
        raise UsageError("sharpen needs 0 < radius <= 20, 0 <= percent <= 1000, 0 <= threshold <= 255")
    pil = Image.fromarray(image, "RGB").filter(
        ImageFilter.UnsharpMask(radius=float(radius), percent=int(percent), threshold=int(threshold)))
    return np.asarray(pil, dtype=np.uint8).copy()


def _sample_occlusion(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    n, (lo, hi) = ((1, (0.08, 0.12)), (2, (0.1, 0.15)), (3, (0.12, 0.18)), (5, (0.12, 0.2)),
                   (8, (0.15, 0.22)))[severity - 1]
    blocks = [[draw_float(rng, 0.0, 1.0), draw_float(rng, 0.0, 1.0), draw_float(rng, lo, hi),
               draw_float(rng, lo, hi)] for _ in range(n)]
    return {"blocks": blocks, "fill": [draw_int(rng, 0, 255) for _ in range(3)]}


@perturbation("occlusion", sampler=_sample_occlusion, category="content",
              summary="flat blocks pasted over the image (stickers, captions, redactions)",
              levels=("1: 1 block of 8-12% per side", "2: 2 blocks 10-15%", "3: 3 blocks 12-18%",
                      "4: 5 blocks 12-20%", "5: 8 blocks 15-22%"))
def occlusion(image: np.ndarray, *, blocks: Sequence[Sequence[float]], fill: Sequence[int] = (128, 128, 128)) -> np.ndarray:
    """Paint flat rectangles of colour ``fill``.

    Parameters
    ----------
    blocks : list of ``[y, x, height, width]``
        Relative to the image: ``height``/``width`` are fractions of its sides (0..1], ``y``/``x``
        place the block (0 = top/left edge, 1 = bottom/right edge).
    fill : three integers 0..255.

    Examples
    --------
    >>> y = occlusion(np.zeros((10, 10, 3), np.uint8), blocks=[[0.0, 0.0, 0.5, 0.5]], fill=[9, 9, 9])
    >>> int((y[..., 0] == 9).sum())
    25
    """
    if len(fill) != 3 or any(not 0 <= int(v) <= 255 for v in fill):
        raise UsageError(f"fill must be three integers 0..255, got {fill!r}")
    out = image.copy()
    h, w = image.shape[:2]
    for b in blocks:
        if len(b) != 4:
            raise UsageError(f"each block is [y, x, height, width], got {b!r}")
        by, bx, bh, bw = (float(v) for v in b)
        if not (0 <= by <= 1 and 0 <= bx <= 1 and 0 < bh <= 1 and 0 < bw <= 1):
            raise UsageError(f"block values must be 0 <= y, x <= 1 and 0 < height, width <= 1, got {b!r}")
        ph, pw = max(1, round(h * bh)), max(1, round(w * bw))
        y0, x0 = round(by * (h - ph)), round(bx * (w - pw))
        out[y0 : y0 + ph, x0 : x0 + pw] = np.asarray([int(v) for v in fill], np.uint8)
    return out
