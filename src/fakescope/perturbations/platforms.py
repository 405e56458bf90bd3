"""What platforms do to an upload: social-network re-encoding presets and screenshots.

Social presets
--------------
Each preset caps the long side (Lanczos, aspect kept, never upscales), optionally crops
to an allowed aspect-ratio range, and re-encodes as baseline JPEG 4:2:0.  Severity ``s``
means the image was shared ``s`` times (each share runs the whole pipeline again).
The parameters approximate what the platforms were observed to do in 2023-2024; they
change without notice, so treat them as representative, not exact:

==============  =========  =======  ==============================================
preset          long side  quality  notes
==============  =========  =======  ==============================================
``instagram``   1080       80       feed posts; aspect cropped into 4:5 .. 1.91:1
``twitter-x``   2048       85       "large" variant served to viewers
``facebook``    2048       72       high-quality upload setting
``whatsapp``    1600       75       standard-quality photo messages
==============  =========  =======  ==============================================

Screenshot
----------
An image shown on a screen at a display scale and captured: resampled in linear light
(area filter, as compositors do), re-encoded to 8-bit sRGB with rounding, slightly
sharpened (display/scaler sharpening), saved as PNG.
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np
from PIL import Image

from ..errors import UsageError
from ._core import draw_float, perturbation
from .compression import _decode, encode, jpeg

__all__ = ["social", "screenshot", "PLATFORM_PRESETS", "srgb_to_linear", "linear_to_srgb"]

#: The documented parameters of each social-platform preset (one share).
PLATFORM_PRESETS: dict[str, dict[str, Any]] = {
    "instagram": {"long_side": 1080, "quality": 80, "subsampling": "4:2:0", "aspect": [0.8, 1.91]},
    "twitter-x": {"long_side": 2048, "quality": 85, "subsampling": "4:2:0", "aspect": None},
    "facebook": {"long_side": 2048, "quality": 72, "subsampling": "4:2:0", "aspect": None},
    "whatsapp": {"long_side": 1600, "quality": 75, "subsampling": "4:2:0", "aspect": None},
}


def _crop_aspect(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    h, w = image.shape[:2]
    r = w / h
    if r < lo:  # too tall: keep the central lo-aspect band
        nh = max(1, round(w / lo))
        y0 = (h - nh) // 2
        return image[y0 : y0 + nh]
    if r > hi:  # too wide
        nw = max(1, round(h * hi))
        x0 = (w - nw) // 2
        return image[:, x0 : x0 + nw]
    return image


def social(image: np.ndarray, *, long_side: int, quality: int, subsampling: str = "4:2:0",
           aspect: Sequence[float] | None = None, passes: int = 1) -> np.ndarray:
    """One or more platform uploads: aspect crop, long side capped with Lanczos, JPEG.

    Parameters
    ----------
    long_side : the longest side after upload (larger images are shrunk, smaller ones kept).
    quality, subsampling : the platform's JPEG settings.
    aspect : ``[min, max]`` allowed width/height ratio (centre crop into it), or None.
    passes : how many times the image was uploaded (re-shared).

    Examples
    --------
    >>> social(np.zeros((3000, 2000, 3), np.uint8), long_side=1080, quality=80).shape
    (1080, 720, 3)
    """
    if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or not 1 <= passes <= 20:
        raise UsageError(f"passes must be an integer 1..20, got {passes!r}")
    if isinstance(long_side, bool) or not isinstance(long_side, (int, np.integer)) or long_side < 16:
        raise UsageError(f"long_side must be an integer >= 16, got {long_side!r}")
    out = image
    for _ in range(int(passes)):
        if aspect is not None:
            lo, hi = (float(v) for v in aspect)
            if not 0 < lo <= hi:
                raise UsageError(f"aspect must be [min, max] with 0 < min <= max, got {aspect!r}")
            out = _crop_aspect(out, lo, hi)
        h, w = out.shape[:2]
        if max(h, w) > long_side:
            k = long_side / max(h, w)
            size = (max(1, round(w * k)), max(1, round(h * k)))
            out = np.asarray(Image.fromarray(np.ascontiguousarray(out), "RGB").resize(size, Image.Resampling.LANCZOS))
        out = jpeg(np.ascontiguousarray(out), quality=quality, subsampling=subsampling)
    return out


def _register_platform(name: str) -> None:
    preset = PLATFORM_PRESETS[name]

    def sampler(rng: np.random.Generator, severity: int) -> dict[str, Any]:
        return {**preset, "passes": severity}

    def fn(image: np.ndarray, *, long_side: int = preset["long_side"], quality: int = preset["quality"],
           subsampling: str = preset["subsampling"], aspect: Sequence[float] | None = preset["aspect"],
           passes: int = 1) -> np.ndarray:
        return social(image, long_side=long_side, quality=quality, subsampling=subsampling, aspect=aspect,
                      passes=passes)

    fn.__name__ = name.replace("-", "_")
    fn.__doc__ = f"The {name!r} upload preset {preset} (see :func:`social`)."
    extra = f", aspect {preset['aspect'][0]}..{preset['aspect'][1]}" if preset["aspect"] else ""
    perturbation(name, sampler=sampler, keeps_shape=False, category="platform",
                 summary=f"{name} upload: long side ≤ {preset['long_side']}, JPEG q{preset['quality']} "
                         f"{preset['subsampling']}{extra}",
                 levels=tuple(f"{s}: shared {s}×" for s in range(1, 6)))(fn)


for _name in PLATFORM_PRESETS:
    _register_platform(_name)
del _name


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """The sRGB decoding curve (IEC 61966-2-1) on values in 0..1.

    >>> round(float(srgb_to_linear(np.array(0.5))), 4)
    0.214
    """
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """The sRGB encoding curve on linear values in 0..1 (clipped).

    >>> round(float(linear_to_srgb(srgb_to_linear(np.array(0.5)))), 4)
    0.5
    """
    x = np.clip(np.asarray(x, np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def _sample_screenshot(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = ((0.85, 0.95), (0.72, 0.82), (0.6, 0.7), (0.48, 0.55), (0.36, 0.42))[severity - 1]
    slo, shi = ((0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))[severity - 1]
    return {"scale": draw_float(rng, lo, hi), "sharpen": draw_float(rng, slo, shi)}


@perturbation("screenshot", sampler=_sample_screenshot, keeps_shape=False, category="platform",
              summary="shown on screen at a display scale and captured (linear-light resample, sRGB, "
                      "sharpening, PNG)",
              levels=("1: ×0.85-0.95", "2: ×0.72-0.82", "3: ×0.6-0.7", "4: ×0.48-0.55", "5: ×0.36-0.42"))
def screenshot(image: np.ndarray, *, scale: float, sharpen: float = 0.3) -> np.ndarray:
    """Display at ``scale`` and capture.

    Resample in linear light with OpenCV's area filter (bilinear when enlarging), encode
    back to sRGB and round to 8 bits, apply an unsharp mask of strength ``sharpen`` (σ 0.8),
    and pass the result through a PNG encode/decode.

    Examples
    --------
    >>> screenshot(np.full((100, 80, 3), 90, np.uint8), scale=0.5).shape
    (50, 40, 3)
    """
    if not isinstance(scale, (int, float)) or not 0.05 <= float(scale) <= 4.0:
        raise UsageError(f"scale must be in [0.05, 4], got {scale!r}")
    if not isinstance(sharpen, (int, float)) or not 0.0 <= float(sharpen) <= 3.0:
        raise UsageError(f"sharpen must be in [0, 3], got {sharpen!r}")
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    lin = srgb_to_linear(image.astype(np.float32) / 255.0)
    interp = cv2.INTER_AREA if scale <= 1.0 else cv2.INTER_LINEAR
    lin = cv2.resize(lin, size, interpolation=interp) if size != (w, h) else lin
    srgb = np.rint(linear_to_srgb(lin) * 255.0)  # the display's 8-bit framebuffer
    if float(sharpen) > 0:
        blur = cv2.GaussianBlur(srgb, (0, 0), sigmaX=0.8, borderType=cv2.BORDER_REFLECT_101)
        srgb = srgb + float(sharpen) * (srgb - blur)
    out = np.clip(np.rint(srgb), 0, 255).astype(np.uint8)
    return _decode(encode(out, "PNG", compress_level=6))

