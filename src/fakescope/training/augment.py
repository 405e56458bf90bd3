"""Format-aligned sampling: the same random encoding and cropping for both classes.

Fakes in public sets are mostly small PNGs, reals mostly JPEG photos; a detector trained
on them as they are learns "JPEG → real".  Here every training view, whatever its class,
goes through parameters drawn from one distribution (kornia-style: parameters are sampled
first, as plain data, then applied, so a view can be replayed exactly):

1. a native-resolution crop (offsets on the 8-pixel grid with probability ``p_aligned``,
   which is how inference tiles are placed; anywhere otherwise), never a resize;
2. for files that are themselves lossless, with probability ``p_pre_jpeg`` a first JPEG
   encoding (so "has JPEG traces" is not a property of one class's sources);
3. with probability ``p_jpeg`` a JPEG encoding at quality ``U(q_min, q_max)`` with 4:2:0 or
   4:4:4 chroma, else nothing (lossless).

Optionally (``p_blur``, applied before the encodings, like optical blur) a Gaussian blur of
sigma ``U(blur_min, blur_max)``.  The training loops use it to *align blur*: the auto-encoder
fakes are softer than camera photos, so real views are blurred at random too and
sharpness alone cannot decide the class.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import UsageError

__all__ = ["EncodingParams", "ViewParams", "sample_encoding", "apply_encoding", "jpeg", "gaussian_blur",
           "sample_view", "apply_view", "random_view"]


@dataclass(frozen=True)
class EncodingParams:
    """A JPEG re-encoding (``quality`` 0 means: leave lossless)."""

    quality: int = 0
    subsampling: int = 2  # PIL: 0 = 4:4:4, 2 = 4:2:0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ViewParams:
    """One training view: crop box, optional pre-encoding (lossless sources) and encoding."""

    y: int
    x: int
    height: int
    width: int
    pre: EncodingParams
    post: EncodingParams
    blur: float = 0.0  # Gaussian sigma in pixels (0: none)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def jpeg(image: np.ndarray, quality: int, *, subsampling: int = 2) -> np.ndarray:
    """JPEG-encode and decode an ``H×W×3`` uint8 array in memory (PIL/libjpeg).

    >>> x = np.full((16, 16, 3), 128, np.uint8)
    >>> jpeg(x, 90).shape
    (16, 16, 3)
    """
    from PIL import Image

    if not 1 <= int(quality) <= 100:
        raise UsageError(f"JPEG quality must be in 1..100, got {quality}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="JPEG", quality=int(quality),
                                                      subsampling=int(subsampling))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def sample_encoding(rng: np.random.Generator, *, p_jpeg: float = 0.5, q_min: int = 65,
                    q_max: int = 100) -> EncodingParams:
    """Draw an encoding: JPEG with probability ``p_jpeg`` at quality ``U{q_min..q_max}``."""
    if rng.random() >= p_jpeg:
        return EncodingParams(0, 2)
    return EncodingParams(int(rng.integers(q_min, q_max + 1)), int(rng.choice([0, 2])))


def apply_encoding(image: np.ndarray, params: EncodingParams) -> np.ndarray:
    """Apply :class:`EncodingParams` (identity when ``quality`` is 0)."""
    if params.quality == 0:
        return image
    return jpeg(image, params.quality, subsampling=params.subsampling)


def sample_view(rng: np.random.Generator, height: int, width: int, size: int, *, lossless_source: bool,
                p_aligned: float = 0.75, p_pre_jpeg: float = 0.5, p_jpeg: float = 0.5, q_min: int = 65,
                q_max: int = 100, p_blur: float = 0.0, blur_min: float = 0.4, blur_max: float = 1.2) -> ViewParams:
    """Draw a ``size``×``size`` native-resolution view of a ``height``×``width`` image.

    The image must be at least ``size`` on both sides (views never resize).
    """
    if height < size or width < size:
        raise UsageError(f"a {size}px view needs an image at least that big, got {width}x{height}")
    if rng.random() < p_aligned:
        y = int(rng.integers(0, (height - size) // 8 + 1)) * 8
        x = int(rng.integers(0, (width - size) // 8 + 1)) * 8
    else:
        y = int(rng.integers(0, height - size + 1))
        x = int(rng.integers(0, width - size + 1))
    pre = sample_encoding(rng, p_jpeg=p_pre_jpeg if lossless_source else 0.0, q_min=q_min, q_max=q_max)
    post = sample_encoding(rng, p_jpeg=p_jpeg, q_min=q_min, q_max=q_max)
    blur = float(rng.uniform(blur_min, blur_max)) if rng.random() < p_blur else 0.0
    return ViewParams(y, x, size, size, pre, post, blur)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an ``H×W×3`` uint8 array (PIL; ``sigma`` in pixels, 0 = identity)."""
    if sigma <= 0:
        return image
    from PIL import Image, ImageFilter

    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=float(sigma))), np.uint8).copy()


def apply_view(image: np.ndarray, params: ViewParams) -> np.ndarray:
    """Crop, blur, then apply the pre- and post-encodings of :class:`ViewParams`."""
    crop = np.ascontiguousarray(image[params.y : params.y + params.height, params.x : params.x + params.width])
    return apply_encoding(apply_encoding(gaussian_blur(crop, params.blur), params.pre), params.post)


def random_view(image: np.ndarray, rng: np.random.Generator, size: int, *, lossless_source: bool,
                **kw: Any) -> np.ndarray:
    """:func:`sample_view` then :func:`apply_view` in one call."""
    h, w = image.shape[:2]
    return apply_view(image, sample_view(rng, h, w, size, lossless_source=lossless_source, **kw))
