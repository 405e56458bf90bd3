"""Colour perturbations: brightness, contrast, saturation, gamma, hue and grayscale.

Computed in float32 on 0..255 values, rounded half to even and clipped once at the end.
The shape is unchanged.  Greyscale uses the ITU-R BT.601 luma weights (Pillow's ``L``).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..errors import UsageError
from ._core import draw_float, draw_sign, perturbation

__all__ = ["brightness", "contrast", "saturation", "gamma", "hue", "grayscale", "luma"]

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_DELTAS = ((0.05, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5))
_DELTA_WORDS = ("1: ×(1±0.05-0.1)", "2: ×(1±0.1-0.2)", "3: ×(1±0.2-0.3)", "4: ×(1±0.3-0.4)", "5: ×(1±0.4-0.5)")


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma (``H×W`` float32, 0..255).

    >>> float(luma(np.full((1, 1, 3), 100, np.uint8))[0, 0])
    100.0
    """
    return image.astype(np.float32) @ _LUMA


def _check_factor(factor: Any, name: str = "factor") -> float:
    if not isinstance(factor, (int, float)) or not 0.0 <= float(factor) <= 10.0:
        raise UsageError(f"{name} must be in [0, 10], got {factor!r}")
    return float(factor)


def _sample_factor(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = _DELTAS[severity - 1]
    return {"factor": round(1.0 + draw_sign(rng) * draw_float(rng, lo, hi), 3)}


@perturbation("brightness", sampler=_sample_factor, category="color", summary="multiply all values by a factor",
              levels=_DELTA_WORDS)
def brightness(image: np.ndarray, *, factor: float) -> np.ndarray:
    """Scale every value by ``factor`` (Pillow's ``ImageEnhance.Brightness``).

    Examples
    --------
    >>> int(brightness(np.full((2, 2, 3), 100, np.uint8), factor=0.5)[0, 0, 0])
    50
    """
    return _u8(image.astype(np.float32) * _check_factor(factor))


@perturbation("contrast", sampler=_sample_factor, category="color",
              summary="scale the distance from the mean grey level", levels=_DELTA_WORDS)
def contrast(image: np.ndarray, *, factor: float) -> np.ndarray:
    """Blend with the image's mean luma: ``mean + factor · (x − mean)`` (Pillow's ``ImageEnhance.Contrast``).

    Examples
    --------
    >>> x = np.array([[[0, 0, 0], [200, 200, 200]]], np.uint8)
    >>> contrast(x, factor=0.5)[0].tolist()
    [[50, 50, 50], [150, 150, 150]]
    """
    f = _check_factor(factor)
    m = float(luma(image).mean())
    return _u8(m + f * (image.astype(np.float32) - m))


@perturbation("saturation", sampler=_sample_factor, category="color",
              summary="scale the distance from each pixel's grey level", levels=_DELTA_WORDS)
def saturation(image: np.ndarray, *, factor: float) -> np.ndarray:
    """Blend each pixel with its luma: ``y + factor · (x − y)`` (``factor`` 0 gives grey).

    Examples
    --------
    >>> y = saturation(np.array([[[200, 100, 50]]], np.uint8), factor=0.0)
    >>> len(set(y[0, 0].tolist()))
    1
    """
    f = _check_factor(factor)
    x = image.astype(np.float32)
    y = luma(image)[..., None]
    return _u8(y + f * (x - y))


def _sample_gamma(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = ((1.05, 1.12), (1.15, 1.25), (1.3, 1.45), (1.5, 1.7), (1.8, 2.2))[severity - 1]
    g = draw_float(rng, lo, hi)
    return {"gamma": g if draw_sign(rng) > 0 else round(1.0 / g, 3)}


@perturbation("gamma", sampler=_sample_gamma, category="color", summary="gamma curve 255·(x/255)^γ",
              levels=("1: γ or 1/γ, γ 1.05-1.12", "2: γ 1.15-1.25", "3: γ 1.3-1.45", "4: γ 1.5-1.7",
                      "5: γ 1.8-2.2"))
def gamma(image: np.ndarray, *, gamma: float) -> np.ndarray:
    """Apply ``255 · (x/255) ** gamma`` through a lookup table.

    Examples
    --------
    >>> gamma(np.array([[[0, 64, 255]]], np.uint8), gamma=2.0)[0, 0].tolist()
    [0, 16, 255]
    """
    if not isinstance(gamma, (int, float)) or not 0.05 <= float(gamma) <= 20.0:
        raise UsageError(f"gamma must be in [0.05, 20], got {gamma!r}")
    lut = _u8(255.0 * (np.arange(256, dtype=np.float64) / 255.0) ** float(gamma))
    return lut[image]


def _sample_hue(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = ((3.0, 6.0), (8.0, 12.0), (15.0, 22.0), (28.0, 38.0), (50.0, 70.0))[severity - 1]
    return {"shift": draw_sign(rng) * draw_float(rng, lo, hi, digits=1)}


@perturbation("hue", sampler=_sample_hue, category="color", summary="rotate the hue (HSV, float precision)",
              levels=("1: ±3-6°", "2: ±8-12°", "3: ±15-22°", "4: ±28-38°", "5: ±50-70°"))
def hue(image: np.ndarray, *, shift: float) -> np.ndarray:
    """Rotate every pixel's hue by ``shift`` degrees (OpenCV HSV conversion in float32).

    Examples
    --------
    >>> hue(np.array([[[255, 0, 0]]], np.uint8), shift=120.0)[0, 0].tolist()
    [0, 255, 0]
    """
    if not isinstance(shift, (int, float)) or not -360.0 <= float(shift) <= 360.0:
        raise UsageError(f"shift must be in [-360, 360] degrees, got {shift!r}")
    hsv = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.mod(hsv[..., 0] + float(shift), 360.0)
    return _u8(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0)


def _sample_grayscale(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    return {}


@perturbation("grayscale", sampler=_sample_grayscale, category="color",
              summary="BT.601 greyscale copied to three channels (severity has no effect)",
              levels=("greyscale",) * 5)
def grayscale(image: np.ndarray) -> np.ndarray:
    """Replace each pixel by its BT.601 luma in all three channels.

    Examples
    --------
    >>> grayscale(np.array([[[255, 0, 0]]], np.uint8))[0, 0].tolist()
    [76, 76, 76]
    """
    y = _u8(luma(image))
    return np.repeat(y[..., None], 3, axis=2)
