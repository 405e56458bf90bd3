"""Named chains: platform uploads, test-time preprocessing and container re-encodings.

A preset is a fixed :class:`~fakescope.perturbations.Chain` (no randomness), so it can be
named in a benchmark config or on the command line and means the same thing everywhere.
"""

from __future__ import annotations

from typing import Any

from ..errors import UnknownNameError
from ._core import Chain, Perturbation
from .platforms import PLATFORM_PRESETS

__all__ = ["preset", "list_presets", "PRESET_DOCS"]

_PRESETS: dict[str, tuple[str, list[tuple[str, dict[str, Any]]]]] = {
    "clean": ("no change", []),
    **{name: (f"one {name} upload ({p['long_side']} px, JPEG q{p['quality']} {p['subsampling']})",
              [(name, {**p, "passes": 1})]) for name, p in PLATFORM_PRESETS.items()},
    "screenshot": ("a screenshot at display scale 0.5 (linear-light area resample, sharpening 0.3, PNG)",
                   [("screenshot", {"scale": 0.5, "sharpen": 0.3})]),
    "center-crop-224": ("test-time preprocessing: central 224×224 window", [("center-crop", {"size": 224})]),
    "resize-224": ("test-time preprocessing: whole image to 224×224 (Pillow bilinear, antialiased)",
                   [("resize", {"size": 224, "interpolation": "bilinear", "antialias": True})]),
    "resize-crop-224": ("test-time preprocessing: short side 256, central 224 crop",
                        [("resize-crop", {"short_side": 256, "size": 224, "interpolation": "bilinear",
                                          "antialias": True})]),
    "png": ("lossless PNG re-save (pixels unchanged)", [("png-resave", {"compress_level": 6})]),
    "jpeg-95": ("JPEG quality 95, 4:2:0", [("jpeg", {"quality": 95, "subsampling": "4:2:0"})]),
    "jpeg-95-444": ("JPEG quality 95, 4:4:4", [("jpeg", {"quality": 95, "subsampling": "4:4:4"})]),
    "jpeg-75": ("JPEG quality 75, 4:2:0", [("jpeg", {"quality": 75, "subsampling": "4:2:0"})]),
    "webp-80": ("lossy WebP quality 80", [("webp", {"quality": 80})]),
    "avif-60": ("AVIF quality 60", [("avif", {"quality": 60})]),
}

#: name → one-line description of each preset.
PRESET_DOCS: dict[str, str] = {k: v[0] for k, v in _PRESETS.items()}


def preset(name: str) -> Chain:
    """The preset chain called ``name``.

    Examples
    --------
    >>> print(preset("jpeg-75"))
    jpeg(quality=75, subsampling='4:2:0')
    >>> len(preset("clean"))
    0
    """
    try:
        _, steps = _PRESETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown preset {name!r}; valid names: {', '.join(list_presets())}") from None
    return Chain([Perturbation(n, dict(p)) for n, p in steps])


def list_presets() -> list[str]:
    """Names of the preset chains, sorted.

    >>> "instagram" in list_presets()
    True
    """
    return sorted(_PRESETS)
