"""A 64-bit perceptual hash (DCT pHash) in numpy, and its eight byte-bands for indexed look-ups.

The hash survives resizing, re-encoding and mild colour changes: the image is reduced to 32×32
grey levels (area averaging, so the size it comes in hardly matters), transformed by a 2-D DCT-II,
and each of the 8×8 lowest frequencies but the DC term is one bit: above or below their median.
Copies of one picture land within a few bits of each other; unrelated pictures near 32.

A near-duplicate look-up must not compare an upload with every stored hash. Split into eight
bytes, two hashes within Hamming distance 7 share at least one byte in the same position (the
pigeonhole rule), so the database finds the candidates through eight indexed columns and only
those are compared bit by bit.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> img = (rng.random((64, 96, 3)) * 255).astype(np.uint8)
>>> h = phash(img)
>>> 0 <= h < 2 ** 64, hamming(h, h), len(bands(h))
(True, 0, 8)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["phash", "hamming", "bands", "to_hex", "from_hex", "MAX_BAND_DISTANCE"]

_N = 32
_K = 8
#: The largest distance the eight-band look-up is guaranteed to find.
MAX_BAND_DISTANCE = 7


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_D = _dct_matrix(_N)


def phash(image: np.ndarray) -> int:
    """The 64-bit DCT perceptual hash of an ``H×W×3`` (or ``H×W``) uint8 image."""
    a = np.asarray(image)
    if a.ndim == 3:  # ITU-R 601 luma, as Pillow's "L"
        a = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    grey = Image.fromarray(np.clip(a, 0, 255).astype(np.float32), mode="F")
    small = np.asarray(grey.resize((_N, _N), Image.Resampling.BOX), dtype=np.float64)
    coeffs = (_D @ small @ _D.T)[:_K, :_K].ravel()
    med = np.median(coeffs[1:])
    bits = coeffs > med
    bits[0] = False  # the DC term is brightness, not structure
    out = 0
    for b in bits:
        out = (out << 1) | int(b)
    return out


def hamming(a: int, b: int) -> int:
    return int((a ^ b).bit_count())


def bands(h: int) -> tuple[int, ...]:
    """The hash's eight bytes, most significant first."""
    return tuple((h >> (8 * (7 - i))) & 0xFF for i in range(8))


def to_hex(h: int) -> str:
    return f"{h:016x}"


def from_hex(s: str) -> int:
    return int(s, 16)
