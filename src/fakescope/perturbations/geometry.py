"""Geometric perturbations: rescaling with each interpolation, crops, test-time preprocessing, rotation.

All of these change the image size (``keeps_shape=False``), except ``rotate`` at 0°.

Resampling libraries differ, and the difference matters to detectors of up-sampling
traces, so it is explicit here:

* ``downscale-*`` / ``upscale-*`` use OpenCV's ``cv2.resize`` as research code does:
  ``nearest``, ``bilinear``, ``bicubic`` and ``lanczos`` (Lanczos-4) sample the source
  without low-pass filtering when shrinking (aliasing), ``area`` averages the source pixels.
* ``resize`` and ``resize-crop`` (test-time preprocessing to a network's input size) use
  Pillow with ``antialias=True`` (its filters widen when shrinking, like torchvision's
  ``Resize(antialias=True)``), or OpenCV with ``antialias=False``.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from PIL import Image

from ..errors import UsageError
from ._core import draw_float, draw_sign, perturbation

__all__ = ["rescale", "random_crop", "center_crop", "resize", "resize_crop", "rotate", "INTERPOLATIONS",
           "max_inscribed_rect", "MAX_OUTPUT_PIXELS"]

#: Interpolation names → OpenCV flags (``area`` is OpenCV's pixel-area relation).
INTERPOLATIONS: dict[str, int] = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
    "area": cv2.INTER_AREA,
}
_PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}

#: No geometric perturbation may produce more pixels than this (an upscale of a huge image).
MAX_OUTPUT_PIXELS = 100_000_000

_DOWN_SCALES: tuple[tuple[float, float], ...] = ((0.85, 0.95), (0.7, 0.8), (0.5, 0.6), (0.38, 0.45), (0.25, 0.3))
_UP_SCALES: tuple[tuple[float, float], ...] = ((1.1, 1.2), (1.3, 1.45), (1.6, 1.8), (2.0, 2.4), (2.8, 3.2))


def _interp(name: str) -> int:
    try:
        return INTERPOLATIONS[name]
    except (KeyError, TypeError):
        raise UsageError(f"interpolation must be one of {sorted(INTERPOLATIONS)}, got {name!r}") from None


def _resize_to(image: np.ndarray, width: int, height: int, interpolation: str, *, antialias: bool = False) -> np.ndarray:
    if width < 1 or height < 1:
        raise UsageError(f"cannot resize to {width}×{height}")
    if width * height > MAX_OUTPUT_PIXELS:
        raise UsageError(f"resizing to {width}×{height} exceeds {MAX_OUTPUT_PIXELS:,} pixels")
    if (height, width) == image.shape[:2]:
        return image.copy()
    if antialias:
        if interpolation not in _PIL_FILTERS:
            raise UsageError(f"interpolation must be one of {sorted(_PIL_FILTERS)}, got {interpolation!r}")
        pil = Image.fromarray(image, "RGB").resize((width, height), _PIL_FILTERS[interpolation])
        return np.asarray(pil, dtype=np.uint8).copy()
    return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=_interp(interpolation)))


def rescale(image: np.ndarray, *, scale: float, interpolation: str = "bilinear") -> np.ndarray:
    """Resize by ``scale`` (both sides, rounded, at least 1 pixel) with OpenCV.

    Examples
    --------
    >>> rescale(np.zeros((40, 60, 3), np.uint8), scale=0.5, interpolation="area").shape
    (20, 30, 3)
    """
    if not isinstance(scale, (int, float)) or not 0.0 < float(scale) <= 16.0:
        raise UsageError(f"scale must be in (0, 16], got {scale!r}")
    h, w = image.shape[:2]
    return _resize_to(image, max(1, round(w * scale)), max(1, round(h * scale)), interpolation)


def _make_rescale(direction: str, interp: str) -> None:
    bands = _DOWN_SCALES if direction == "downscale" else _UP_SCALES

    def sampler(rng: np.random.Generator, severity: int) -> dict[str, Any]:
        lo, hi = bands[severity - 1]
        return {"scale": draw_float(rng, lo, hi)}

    def fn(image: np.ndarray, *, scale: float) -> np.ndarray:
        return rescale(image, scale=scale, interpolation=interp)

    fn.__name__ = f"{direction}_{interp}"
    fn.__doc__ = f"{direction.capitalize()} by ``scale`` with OpenCV's {interp} interpolation (see :func:`rescale`)."
    levels = tuple(f"{i + 1}: ×{lo:g}-{hi:g}" for i, (lo, hi) in enumerate(bands))
    perturbation(f"{direction}-{interp}", sampler=sampler, keeps_shape=False, category="resampling",
                 summary=f"{direction} with cv2 {interp} interpolation", levels=levels)(fn)


for _direction in ("downscale", "upscale"):
    for _interp_name in INTERPOLATIONS:
        _make_rescale(_direction, _interp_name)
del _direction, _interp_name


def _sample_random_crop(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = ((0.88, 0.95), (0.75, 0.85), (0.62, 0.72), (0.5, 0.6), (0.35, 0.45))[severity - 1]
    return {"fraction": draw_float(rng, lo, hi), "y": draw_float(rng, 0.0, 1.0), "x": draw_float(rng, 0.0, 1.0)}


@perturbation("random-crop", sampler=_sample_random_crop, keeps_shape=False, category="geometry",
              summary="keep a random window of a fraction of each side (no resize)",
              levels=("1: 88-95% of each side", "2: 75-85%", "3: 62-72%", "4: 50-60%", "5: 35-45%"))
def random_crop(image: np.ndarray, *, fraction: float, y: float = 0.5, x: float = 0.5) -> np.ndarray:
    """Crop a window of ``fraction`` of each side whose offset is ``y``, ``x`` (0 = top/left, 1 = bottom/right).

    Examples
    --------
    >>> random_crop(np.zeros((100, 200, 3), np.uint8), fraction=0.5, y=0.0, x=1.0).shape
    (50, 100, 3)
    """
    if not 0.0 < float(fraction) <= 1.0 or not 0.0 <= float(y) <= 1.0 or not 0.0 <= float(x) <= 1.0:
        raise UsageError(f"random-crop needs 0 < fraction <= 1 and 0 <= y, x <= 1, got {fraction}, {y}, {x}")
    h, w = image.shape[:2]
    ch, cw = max(1, round(h * fraction)), max(1, round(w * fraction))
    y0, x0 = round(y * (h - ch)), round(x * (w - cw))
    return image[y0 : y0 + ch, x0 : x0 + cw].copy()


_SIZES = (512, 384, 256, 224, 160)


def _sample_size(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    return {"size": _SIZES[severity - 1]}


def _check_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= int(size) <= 8192:
        raise UsageError(f"size must be an integer 1..8192, got {size!r}")
    return int(size)


@perturbation("center-crop", sampler=_sample_size, keeps_shape=False, category="preprocessing",
              summary="test-time preprocessing: the central size×size window (no resize, no padding)",
              levels=tuple(f"{i + 1}: {s}×{s}" for i, s in enumerate(_SIZES)))
def center_crop(image: np.ndarray, *, size: int = 224) -> np.ndarray:
    """The central ``size``×``size`` window; a side shorter than ``size`` is kept whole (never padded).

    Examples
    --------
    >>> center_crop(np.zeros((300, 500, 3), np.uint8), size=224).shape
    (224, 224, 3)
    >>> center_crop(np.zeros((32, 500, 3), np.uint8), size=224).shape
    (32, 224, 3)
    """
    s = _check_size(size)
    h, w = image.shape[:2]
    ch, cw = min(s, h), min(s, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return image[y0 : y0 + ch, x0 : x0 + cw].copy()


def _sample_resize(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    return {"size": _SIZES[severity - 1], "interpolation": "bilinear", "antialias": True}


@perturbation("resize", sampler=_sample_resize, keeps_shape=False, category="preprocessing",
              summary="test-time preprocessing: the whole image squeezed to size×size (aspect not kept)",
              levels=tuple(f"{i + 1}: {s}×{s}" for i, s in enumerate(_SIZES)))
def resize(image: np.ndarray, *, size: int = 224, interpolation: str = "bilinear",
           antialias: bool = True) -> np.ndarray:
    """Resize to ``size``×``size`` (Pillow with ``antialias``, else OpenCV).

    Examples
    --------
    >>> resize(np.zeros((300, 500, 3), np.uint8), size=224).shape
    (224, 224, 3)
    """
    s = _check_size(size)
    return _resize_to(image, s, s, interpolation, antialias=bool(antialias))


def _sample_resize_crop(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    size = _SIZES[severity - 1]
    return {"short_side": round(size * 256 / 224), "size": size, "interpolation": "bilinear", "antialias": True}


@perturbation("resize-crop", sampler=_sample_resize_crop, keeps_shape=False, category="preprocessing",
              summary="test-time preprocessing (ImageNet style): short side to 256/224·size, then the central crop",
              levels=tuple(f"{i + 1}: short side {round(s * 256 / 224)}, crop {s}" for i, s in enumerate(_SIZES)))
def resize_crop(image: np.ndarray, *, short_side: int = 256, size: int = 224, interpolation: str = "bilinear",
                antialias: bool = True) -> np.ndarray:
    """Resize so the short side is ``short_side`` (aspect kept), then :func:`center_crop` to ``size``.

    Examples
    --------
    >>> resize_crop(np.zeros((300, 500, 3), np.uint8)).shape
    (224, 224, 3)
    """
    ss = _check_size(short_side)
    h, w = image.shape[:2]
    k = ss / min(h, w)
    out = _resize_to(image, max(1, round(w * k)), max(1, round(h * k)), interpolation, antialias=bool(antialias))
    return center_crop(out, size=size)


def max_inscribed_rect(width: int, height: int, angle_deg: float) -> tuple[int, int]:
    """The largest axis-aligned rectangle (width, height) inside a ``width``×``height`` one rotated by ``angle_deg``.

    Examples
    --------
    >>> max_inscribed_rect(100, 50, 0.0)
    (100, 50)
    >>> max_inscribed_rect(100, 100, 45.0)
    (70, 70)
    """
    a = math.radians(angle_deg)
    sin_a, cos_a = abs(math.sin(a)), abs(math.cos(a))
    if sin_a < 1e-12:
        return int(width), int(height)
    long_side, short_side = max(width, height), min(width, height)
    if short_side <= 2.0 * sin_a * cos_a * long_side or abs(sin_a - cos_a) < 1e-10:
        x = 0.5 * short_side
        wr, hr = (x / sin_a, x / cos_a) if width >= height else (x / cos_a, x / sin_a)
    else:
        cos_2a = cos_a * cos_a - sin_a * sin_a
        wr, hr = (width * cos_a - height * sin_a) / cos_2a, (height * cos_a - width * sin_a) / cos_2a
    return max(1, int(math.floor(wr + 1e-9))), max(1, int(math.floor(hr + 1e-9)))


def _sample_rotate(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = ((0.5, 1.0), (1.5, 2.5), (3.0, 5.0), (6.0, 9.0), (10.0, 15.0))[severity - 1]
    return {"angle": draw_sign(rng) * draw_float(rng, lo, hi, digits=2)}


@perturbation("rotate", sampler=_sample_rotate, keeps_shape=False, category="geometry",
              summary="small rotation (bilinear), cropped to the largest rectangle without empty corners",
              levels=("1: ±0.5-1°", "2: ±1.5-2.5°", "3: ±3-5°", "4: ±6-9°", "5: ±10-15°"))
def rotate(image: np.ndarray, *, angle: float) -> np.ndarray:
    """Rotate by ``angle`` degrees (counter-clockwise) about the centre, then crop to the inscribed rectangle.

    Examples
    --------
    >>> rotate(np.zeros((100, 200, 3), np.uint8), angle=5.0).shape
    (81, 191, 3)
    """
    if not isinstance(angle, (int, float)) or not -45.0 <= float(angle) <= 45.0:
        raise UsageError(f"rotate supports angles in -45..45 degrees, got {angle!r}")
    h, w = image.shape[:2]
    if float(angle) == 0.0:
        return image.copy()
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), float(angle), 1.0)
    rot = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    cw, ch = max_inscribed_rect(w, h, float(angle))
    cw, ch = max(1, min(w, cw - 2)), max(1, min(h, ch - 2))  # one pixel inside, away from interpolated edges
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(rot[y0 : y0 + ch, x0 : x0 + cw])
