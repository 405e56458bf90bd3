"""The open invisible watermarks of Stable Diffusion's reference code (``invisible-watermark``, dwtDct).

Stability AI's and CompVis' reference scripts stamp every output with a fixed message,
using the ``invisible-watermark`` package's ``dwtDct`` method:

* Stable Diffusion 1.x (``CompVis/stable-diffusion`` ``scripts/txt2img.py``): the bytes
  ``"StableDiffusionV1"`` (136 bits), embedded in a ``uint8`` BGR copy of the output;
* Stable Diffusion 2.x (``Stability-AI/stablediffusion`` ``scripts/txt2img.py``): the bytes
  ``"SDV2"`` (32 bits), the same way;
* Stable Diffusion XL (``Stability-AI/generative-models`` ``sgm/inference/helpers.py``, and
  diffusers' ``StableDiffusionXLWatermarker``): the 48 bits of ``0xB3EC907BB19E``, embedded
  in a *float* BGR array with values 0..255.

How dwtDct works: the image goes to YUV (OpenCV), one Haar wavelet level is taken of the U
plane, the approximation band is cut into 4×4 blocks, and in each block the
largest-magnitude coefficient (after the first) is quantised to an odd or even quarter of
a step of 36: that is one bit, and the message repeats over all blocks in raster order.
Decoding reads every block and averages the repeats of each bit.

The reference decoder (``WatermarkDecoder.decode``) loops over blocks in Python (about
50 ms for a 1024×768 image, per payload).  :func:`decode_bits` computes the *same bits*
(checked bit for bit against the package in the tests) with array operations, in about
3 ms for 1024×768 for all three payloads together, and reads the float-embedded SDXL mark
on the grid it was written on (U offset of a float image), which the package's ``uint8``
decoder reads poorly.

What it cannot do: the bit-to-block mapping depends on the exact pixel grid, so any
resize or crop that changes the width destroys the mark, and so does chroma subsampling
(JPEG 4:2:0, lossy WebP); see docs/benchmarks/provenance.md.  Scans therefore check PNG,
lossless WebP, TIFF, BMP, GIF, HEIF/AVIF and 4:4:4 JPEGs between 256×256 and 2048×2048
pixels, and skip the rest (:func:`chroma_intact`), which keeps the cost of provenance for a
typical web JPEG under a millisecond.  Anybody can stamp these public messages on any
image, so a match says "made by a Stable Diffusion reference pipeline, or stamped to look
so"; its absence says nothing (most services do not use these marks, and most tools strip
them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from ..errors import MissingDependencyError
from ..types import Evidence, Sample

__all__ = [
    "WatermarkPayload",
    "KNOWN_PAYLOADS",
    "MIN_PIXELS",
    "MAX_PIXELS",
    "DEFAULT_THRESHOLD",
    "CHANCE_LEVEL",
    "decode_bits",
    "required_agreement",
    "WatermarkResult",
    "check_watermarks",
    "chroma_intact",
    "watermark_evidence",
]

#: dwtDct needs at least 256×256 pixels (the package refuses smaller images).
MIN_PIXELS = 256 * 256
#: Larger images are not checked: no reference pipeline writes them (SDXL's largest output is
#: about 1.6 MP; 2048² leaves room for its 2× "hires" passes), and the mark does not survive
#: the resize that made a larger picture.  Also bounds the cost (≈2 ms per MP).
MAX_PIXELS = 2048 * 2048
#: Bit agreement at or above which a payload counts as present (see docs/benchmarks/provenance.md:
#: the highest agreement among the real photos we measured is well below it).
DEFAULT_THRESHOLD = 0.8
#: The per-payload threshold is never below the agreement that chance (fair coin bits)
#: reaches with this probability, so a short payload (SD 2's 32 bits) needs more agreement.
CHANCE_LEVEL = 1e-6

_SCALE = 36.0  # the package's default scales=[0, 36, 36]: only the U plane (index 1) is used
_BLOCK = 4
_HAAR = 0.7071067811865476  # pywt's dec_lo[0] for 'haar' (1/sqrt(2) rounds one ulp lower)


@dataclass(frozen=True)
class WatermarkPayload:
    """A fixed message some generator stamps into its outputs.

    Parameters
    ----------
    name : id used in reports (``"stable-diffusion-v1"``).
    bits : the message, most significant bit first.
    generator : the generator in words.
    mode : ``"uint8"`` when the reference code embeds into an 8-bit image, ``"float"`` when it
        embeds into a float array (values 0..255), which shifts OpenCV's U plane by -127.5.
    source : the reference code that embeds it.
    """

    name: str
    bits: tuple[int, ...]
    generator: str
    mode: Literal["uint8", "float"]
    source: str
    family: str = "diffusion"


def _bytes_bits(s: bytes) -> tuple[int, ...]:
    return tuple(int(b) for b in np.unpackbits(np.frombuffer(s, np.uint8)))


_SDXL_MESSAGE = 0b101100111110110010010000011110111011000110011110  # = 0xB3EC907BB19E

#: The payloads checked, in report order.
KNOWN_PAYLOADS: tuple[WatermarkPayload, ...] = (
    WatermarkPayload("stable-diffusion-v1", _bytes_bits(b"StableDiffusionV1"), "Stable Diffusion 1.x", "uint8",
                     "CompVis/stable-diffusion scripts/txt2img.py: set_watermark('bytes', b'StableDiffusionV1')"),
    WatermarkPayload("stable-diffusion-v2", _bytes_bits(b"SDV2"), "Stable Diffusion 2.x", "uint8",
                     "Stability-AI/stablediffusion scripts/txt2img.py: set_watermark('bytes', b'SDV2')"),
    WatermarkPayload("sdxl", tuple(int(b) for b in bin(_SDXL_MESSAGE)[2:]), "Stable Diffusion XL", "float",
                     "Stability-AI/generative-models sgm/inference/helpers.py: WATERMARK_MESSAGE 0xB3EC907BB19E"),
)


def _cv2() -> Any:
    try:
        import cv2  # noqa: PLC0415  (optional dependency, imported on first use)
    except ImportError as e:  # pragma: no cover - depends on the install
        raise MissingDependencyError("opencv-python-headless", "provenance", "Invisible-watermark checking") from e
    return cv2


def _u_plane(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's 8-bit U plane (as the package computes it), cropped to a multiple of 4."""
    cv2 = _cv2()
    h, w = rgb.shape[:2]
    yuv = cv2.cvtColor(np.ascontiguousarray(rgb[: h // 4 * 4, : w // 4 * 4]), cv2.COLOR_RGB2YUV)
    return yuv[:, :, 1]


@lru_cache(maxsize=1)
def _pair_sums() -> np.ndarray:
    """``t[256*a + b] = a*c + b*c`` in float64, the first (vertical) Haar step for every pixel pair."""
    v = np.arange(256, dtype=np.float64)
    return (v[:, None] * _HAAR + v[None, :] * _HAAR).ravel()


def _haar_ll(u: np.ndarray) -> np.ndarray:
    """``pywt.dwt2(u, 'haar')[0]`` for a uint8 plane with even sides, bit-identical and ~3× faster.

    pywt filters rows then columns, each output being ``x0*c + x1*c``: the first step only
    ever sees pairs of bytes, so it is a table lookup; the second is done with the same
    float operations.
    """
    idx = (u[0::2].astype(np.uint16) << 8) | u[1::2]
    a = np.take(_pair_sums(), idx)
    p = a.reshape(a.shape[0], -1, 2) * _HAAR
    return p[:, :, 0] + p[:, :, 1]


def _shift(ll: np.ndarray, mode: str) -> np.ndarray:
    """The approximation band as the encoder saw it: a float image has OpenCV's U offset 0.5
    instead of 128, which lowers every coefficient by 2 × 127.5."""
    return ll - 255.0 if mode == "float" else ll


def _block_votes(ll: np.ndarray) -> np.ndarray:
    """One 0/1 vote per 4×4 block of the approximation band, in the package's raster order.

    The package takes, in each block, the largest-magnitude coefficient after the first and
    votes 1 when its magnitude modulo 36 exceeds 18.  The magnitude at the argmax *is* the
    largest magnitude, so an element-wise max over the 15 strided sub-grids gives it
    without reshaping or gathering.
    """
    r, c = ll.shape
    nr, nc = r // _BLOCK, c // _BLOCK
    mag = np.abs(ll[: nr * _BLOCK, : nc * _BLOCK])
    val = mag[0::_BLOCK, 1::_BLOCK].copy()
    for i in range(_BLOCK):
        for j in range(_BLOCK):
            if i or j > 1:  # (0, 0) is never used, (0, 1) is the start value
                np.maximum(val, mag[i::_BLOCK, j::_BLOCK], out=val)
    return (np.mod(val.ravel(), _SCALE) > 0.5 * _SCALE).astype(np.float64)


def _bits_from_votes(votes: np.ndarray, n_bits: int) -> np.ndarray:
    idx = np.arange(votes.size) % n_bits
    sums = np.bincount(idx, weights=votes, minlength=n_bits)
    counts = np.bincount(idx, minlength=n_bits)
    avg = np.divide(sums, counts, out=np.zeros(n_bits), where=counts > 0)
    return avg * 255 > 127


def decode_bits(rgb: np.ndarray, n_bits: int, *, mode: Literal["uint8", "float"] = "uint8") -> np.ndarray:
    """Decode ``n_bits`` of an invisible-watermark ``dwtDct`` message from an RGB image.

    With ``mode="uint8"`` the result equals ``WatermarkDecoder('bits', n_bits).decode(bgr, 'dwtDct')``
    of the ``invisible-watermark`` package, bit for bit; ``mode="float"`` reads a mark that
    was embedded into a float image (as SDXL's reference code does).

    Parameters
    ----------
    rgb : H×W×3 uint8 RGB pixels (``Sample.image``), at least 256×256 pixels in total.
    n_bits : the message length.
    mode : ``"uint8"`` or ``"float"``.

    Returns
    -------
    numpy.ndarray
        ``n_bits`` booleans.

    Raises
    ------
    fakescope.errors.UsageError
        If the image is smaller than 256×256 pixels or not H×W×3 uint8.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> decode_bits(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), 48).shape
    (48,)
    """
    from ..errors import UsageError

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise UsageError(f"decode_bits needs H×W×3 uint8 RGB pixels, got {rgb.shape} {rgb.dtype}")
    if rgb.shape[0] * rgb.shape[1] < MIN_PIXELS:
        raise UsageError(f"the image has {rgb.shape[0] * rgb.shape[1]} pixels; dwtDct needs at least {MIN_PIXELS}")
    ll = _haar_ll(_u_plane(rgb))
    return _bits_from_votes(_block_votes(_shift(ll, mode)), n_bits)


@lru_cache(maxsize=64)
def _chance_bits(n_bits: int, level: float) -> int:
    """The fewest matching bits that fair coins reach with probability ≤ ``level``."""
    tail = 0.0
    for k in range(n_bits, -1, -1):
        tail += math.comb(n_bits, k) / 2.0 ** n_bits
        if tail > level:
            return k + 1
    return 0


def required_agreement(n_bits: int, threshold: float = DEFAULT_THRESHOLD) -> float:
    """The bit agreement a payload of ``n_bits`` needs: ``threshold``, or more for short payloads.

    Examples
    --------
    >>> required_agreement(136), required_agreement(48), round(required_agreement(32), 4)
    (0.8, 0.8541666666666666, 0.9375)
    """
    return max(float(threshold), _chance_bits(n_bits, CHANCE_LEVEL) / n_bits)


@dataclass(frozen=True)
class WatermarkResult:
    """The outcome of checking one image for every known payload."""

    checked: bool
    reason: str | None
    agreements: dict[str, float]
    required: dict[str, float]
    detected: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "reason": self.reason,
                "bit_agreement": {k: round(v, 4) for k, v in self.agreements.items()},
                "required": {k: round(v, 4) for k, v in self.required.items()},
                "detected": list(self.detected)}


def check_watermarks(rgb: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD,
                     payloads: Sequence[WatermarkPayload] = KNOWN_PAYLOADS) -> WatermarkResult:
    """Bit agreement of the image with every known payload, and which ones are present.

    Parameters
    ----------
    rgb : H×W×3 uint8 RGB pixels.
    threshold : bit agreement needed (see :func:`required_agreement`).
    payloads : the payloads to look for.

    Returns
    -------
    WatermarkResult
        ``checked`` is False (with a ``reason``) for images too small or too large.
    """
    n = int(rgb.shape[0]) * int(rgb.shape[1])
    if n < MIN_PIXELS:
        return WatermarkResult(False, f"too small for the watermark ({rgb.shape[1]}×{rgb.shape[0]} < 256×256 pixels)",
                               {}, {}, ())
    if n > MAX_PIXELS:
        return WatermarkResult(False, (f"larger ({rgb.shape[1]}×{rgb.shape[0]}) than the reference pipelines write "
                                       "and than a resized mark survives; not checked"), {}, {}, ())
    ll = _haar_ll(_u_plane(rgb))
    votes: dict[str, np.ndarray] = {}
    agreements: dict[str, float] = {}
    required: dict[str, float] = {}
    detected: list[str] = []
    for p in payloads:
        if p.mode not in votes:
            votes[p.mode] = _block_votes(_shift(ll, p.mode))
        bits = _bits_from_votes(votes[p.mode], len(p.bits))
        agree = float(np.mean(bits == np.asarray(p.bits, bool)))
        agreements[p.name] = agree
        required[p.name] = required_agreement(len(p.bits), threshold)
        if agree >= required[p.name]:
            detected.append(p.name)
    return WatermarkResult(True, None, agreements, required, tuple(detected))


def _webp_codec(data: bytes) -> bytes | None:
    """``b"VP8L"`` (lossless) or ``b"VP8 "`` (lossy) for a WebP file, by walking its RIFF chunks."""
    if len(data) < 16 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    pos, n = 12, len(data)
    for _ in range(64):
        if pos + 8 > n:
            return None
        fourcc = data[pos:pos + 4]
        if fourcc in (b"VP8 ", b"VP8L"):
            return fourcc
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        pos += 8 + size + (size & 1)
    return None


def chroma_intact(sample: Sample) -> tuple[bool, str | None]:
    """Whether the file can still hold a dwtDct mark: its chroma was stored at full resolution.

    The mark lives in the chroma plane at full resolution; JPEG's chroma subsampling (4:2:0,
    the default of nearly every encoder, also 4:2:2 ...) and lossy WebP (always 4:2:0) erase
    it: in docs/benchmarks/provenance.md, JPEG 90 at 4:2:0 keeps 3 % of SD 1 marks and none
    of the others, while JPEG 90 at 4:4:4 keeps them as well as PNG does.  Checking such
    files would cost time for nothing, so they are skipped with this reason.

    Returns
    -------
    (bool, str or None)
        ``(False, reason)`` when the format rules the mark out.
    """
    meta = sample.metadata
    if meta.format == "JPEG":
        sub = meta.jpeg_subsampling
        if sub == "4:4:4":
            return True, None
        if sub is None:
            return False, "a greyscale or CMYK JPEG has no chroma plane to carry the mark; not checked"
        return False, (f"JPEG with {sub} chroma subsampling, which erases this watermark "
                       "(see docs/benchmarks/provenance.md); not checked")
    if meta.format == "WEBP" and _webp_codec(sample.data or b"") == b"VP8 ":
        return False, "lossy WebP (4:2:0 chroma), which erases this watermark; not checked"
    return True, None


def watermark_evidence(sample: Sample, *, threshold: float = DEFAULT_THRESHOLD
                       ) -> tuple[list[Evidence], WatermarkResult]:
    """A strong Evidence item for each known watermark found (nothing when none is found).

    Parameters
    ----------
    sample : the decoded image.
    threshold : bit agreement needed.

    Returns
    -------
    (list of Evidence, WatermarkResult)
        Files whose format erases the mark (:func:`chroma_intact`) are not checked.
    """
    ok, reason = chroma_intact(sample)
    if not ok:
        return [], WatermarkResult(False, reason, {}, {}, ())
    result = check_watermarks(sample.image, threshold=threshold)
    by_name = {p.name: p for p in KNOWN_PAYLOADS}
    evidence = []
    for name in result.detected:
        p = by_name[name]
        agree = result.agreements[name]
        evidence.append(Evidence(
            source="invisible-watermark", kind="watermark", score=0.98, weight="strong",
            summary=(f"The image carries the invisible watermark that {p.generator}'s reference code stamps on "
                     f"every output ({agree:.0%} of its {len(p.bits)} bits match)."),
            details={"payload": name, "bit_agreement": round(agree, 4), "required": round(result.required[name], 4),
                     "bits": len(p.bits), "generator": p.generator, "family": p.family, "method": "dwtDct",
                     "all_agreements": {k: round(v, 4) for k, v in result.agreements.items()}}))
    return evidence, result
