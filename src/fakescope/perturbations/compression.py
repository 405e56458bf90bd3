"""Re-encoding perturbations: JPEG (single and double), WebP, AVIF, PNG, and the identity.

Every function encodes in memory with Pillow and decodes the result back to ``H×W×3``
uint8 RGB; the shape is unchanged.  Encoders run single-threaded with fixed settings, so
the same parameters give the same bytes and the same pixels.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from ..errors import UsageError
from ._core import draw_int, perturbation

__all__ = ["identity", "jpeg", "double_jpeg", "webp", "avif", "png_resave", "encode", "SUBSAMPLING",
           "JPEG_QUALITY_BANDS"]

#: Chroma subsampling names → Pillow's JPEG ``subsampling`` codes.
SUBSAMPLING: dict[str, int] = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}

#: JPEG quality drawn per severity (inclusive bands): 1 is mild, 5 is harsh.
JPEG_QUALITY_BANDS: tuple[tuple[int, int], ...] = ((90, 95), (80, 89), (65, 79), (50, 64), (30, 49))
_WEBP_QUALITY_BANDS: tuple[tuple[int, int], ...] = ((88, 95), (78, 87), (62, 77), (45, 61), (25, 44))
_AVIF_QUALITY_BANDS: tuple[tuple[int, int], ...] = ((80, 90), (65, 79), (50, 64), (35, 49), (20, 34))
_LEVEL_WORDS = ("1: q {0}-{1}", "2: q {0}-{1}", "3: q {0}-{1}", "4: q {0}-{1}", "5: q {0}-{1}")


def _levels(bands: tuple[tuple[int, int], ...], extra: str = "") -> tuple[str, ...]:
    return tuple(w.format(*b) + extra for w, b in zip(_LEVEL_WORDS, bands))


def encode(image: np.ndarray, fmt: str, **options: Any) -> bytes:
    """Encode an ``H×W×3`` uint8 RGB array with Pillow (``fmt``: "JPEG", "PNG", "WEBP", "AVIF").

    Examples
    --------
    >>> encode(np.zeros((8, 8, 3), np.uint8), "PNG")[:4]
    b'\\x89PNG'
    """
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), "RGB").save(buf, format=fmt, **options)
    return buf.getvalue()


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def _check_quality(q: Any, lo: int = 1, hi: int = 100) -> int:
    if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not lo <= int(q) <= hi:
        raise UsageError(f"quality must be an integer {lo}..{hi}, got {q!r}")
    return int(q)


def _subsampling(name: str) -> int:
    try:
        return SUBSAMPLING[name]
    except (KeyError, TypeError):
        raise UsageError(f"subsampling must be one of {sorted(SUBSAMPLING)}, got {name!r}") from None


def _sample_identity(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    return {}


@perturbation("identity", sampler=_sample_identity, summary="no change (the clean baseline)",
              levels=("no change",) * 5, category="baseline")
def identity(image: np.ndarray) -> np.ndarray:
    """Return a copy of ``image`` unchanged.

    Examples
    --------
    >>> x = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    >>> bool((identity(x) == x).all())
    True
    """
    return image.copy()


def _sample_jpeg(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = JPEG_QUALITY_BANDS[severity - 1]
    return {"quality": draw_int(rng, lo, hi), "subsampling": "4:2:0"}


@perturbation("jpeg", sampler=_sample_jpeg, category="compression",
              summary="JPEG re-encoding (libjpeg via Pillow, baseline, optimised Huffman off)",
              levels=_levels(JPEG_QUALITY_BANDS, ", 4:2:0"))
def jpeg(image: np.ndarray, *, quality: int = 75, subsampling: str = "4:2:0") -> np.ndarray:
    """JPEG-encode and decode.

    Parameters
    ----------
    image : ndarray
        ``H×W×3`` uint8 RGB.
    quality : int
        1..100 (libjpeg's scale; 100 still quantises a little).
    subsampling : str
        Chroma subsampling: ``"4:4:4"``, ``"4:2:2"`` or ``"4:2:0"``.

    Examples
    --------
    >>> x = np.full((16, 16, 3), 120, np.uint8)
    >>> int(np.abs(jpeg(x, quality=95).astype(int) - 120).max()) <= 1
    True
    """
    q = _check_quality(quality)
    return _decode(encode(image, "JPEG", quality=q, subsampling=_subsampling(subsampling)))


def _sample_double_jpeg(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = JPEG_QUALITY_BANDS[severity - 1]
    return {"quality1": draw_int(rng, 85, 95), "quality2": draw_int(rng, lo, hi), "subsampling": "4:2:0"}


@perturbation("double-jpeg", sampler=_sample_double_jpeg, category="compression",
              summary="two JPEG encodings on the same 8×8 grid (an upload of an already-compressed photo)",
              levels=_levels(JPEG_QUALITY_BANDS, " after a first q 85-95"))
def double_jpeg(image: np.ndarray, *, quality1: int = 90, quality2: int = 75,
                subsampling: str = "4:2:0") -> np.ndarray:
    """JPEG at ``quality1``, then again at ``quality2`` (aligned grids).

    Examples
    --------
    >>> double_jpeg(np.zeros((16, 24, 3), np.uint8), quality1=90, quality2=60).shape
    (16, 24, 3)
    """
    return jpeg(jpeg(image, quality=quality1, subsampling=subsampling), quality=quality2, subsampling=subsampling)


def _sample_webp(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = _WEBP_QUALITY_BANDS[severity - 1]
    return {"quality": draw_int(rng, lo, hi)}


@perturbation("webp", sampler=_sample_webp, category="compression",
              summary="lossy WebP re-encoding (libwebp via Pillow, method 4)",
              levels=_levels(_WEBP_QUALITY_BANDS))
def webp(image: np.ndarray, *, quality: int = 80) -> np.ndarray:
    """Lossy WebP encode and decode (libwebp method 4; 4:2:0 chroma, as libwebp always does).

    Examples
    --------
    >>> webp(np.zeros((16, 16, 3), np.uint8), quality=80).shape
    (16, 16, 3)
    """
    q = _check_quality(quality, 0, 100)
    return _decode(encode(image, "WEBP", quality=q, method=4))


def _sample_avif(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = _AVIF_QUALITY_BANDS[severity - 1]
    return {"quality": draw_int(rng, lo, hi)}


@perturbation("avif", sampler=_sample_avif, category="compression",
              summary="AVIF re-encoding (libavif via Pillow, speed 8, one thread, 4:2:0)",
              levels=_levels(_AVIF_QUALITY_BANDS))
def avif(image: np.ndarray, *, quality: int = 60) -> np.ndarray:
    """AVIF encode and decode (Pillow's plugin, speed 8, one encoder thread, 4:2:0).

    Raises
    ------
    UsageError
        Pillow was built without AVIF support.

    Examples
    --------
    >>> avif(np.zeros((16, 16, 3), np.uint8), quality=60).shape
    (16, 16, 3)
    """
    from PIL import features

    if not features.check("avif"):
        raise UsageError("the 'avif' perturbation needs a Pillow built with AVIF support (Pillow >= 11.2)")
    q = _check_quality(quality, 0, 100)
    return _decode(encode(image, "AVIF", quality=q, speed=8, max_threads=1, subsampling="4:2:0"))


def _sample_png(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    return {"compress_level": (1, 3, 6, 8, 9)[severity - 1]}


@perturbation("png-resave", sampler=_sample_png, category="compression",
              summary="PNG re-save: lossless, pixels unchanged (a control for container effects)",
              levels=tuple(f"{i + 1}: zlib level {v}" for i, v in enumerate((1, 3, 6, 8, 9))))
def png_resave(image: np.ndarray, *, compress_level: int = 6) -> np.ndarray:
    """PNG encode and decode: the pixels come back identical.

    Examples
    --------
    >>> x = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    >>> bool((png_resave(x) == x).all())
    True
    """
    if not isinstance(compress_level, (int, np.integer)) or not 0 <= int(compress_level) <= 9:
        raise UsageError(f"compress_level must be an integer 0..9, got {compress_level!r}")
    return _decode(encode(image, "PNG", compress_level=int(compress_level)))
