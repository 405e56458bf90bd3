"""Tile-network families of the detector zoo: ``safe``, ``cnnspot`` and ``patchcraft``.

All three are small convolutional networks exported to ONNX (``weights/<name>.onnx``) that
read native-resolution tiles (never resized: resizing erases the low-level traces they look
at) and average the tile logits, like :mod:`fakescope.detectors.npr`.  What differs is inside
the network graph (wavelet sub-bands, plain RGB, SRM high-pass filters), and for
``patchcraft`` a numpy transform in front of it:

``safe``
    Li et al. 2024, "Improving Synthetic Image Detection Towards Generalization: An Image
    Transformation Perspective" (SAFE).  Haar-wavelet high-frequency sub-bands (LH, HL, HH
    of each colour channel) into a residual CNN, trained on crops (not resizes) with colour
    jitter, rotation and patch masking.
``cnnspot``
    Wang et al., CVPR 2020, "CNN-generated images are surprisingly easy to spot... for now".
    A ResNet classifier on RGB pixels trained with blur and JPEG augmentation (p=0.5 each).
``patchcraft``
    Zhong et al. 2023, "PatchCraft: Exploring Texture Patch for Efficient AI-generated Image
    Detection".  Smash the tile into patches, rank them by texture diversity, reassemble the
    richest and the poorest patches into two images (:func:`smash_and_reconstruct`), filter
    both with fixed SRM high-pass kernels and learn from their contrast.

``cnnspot-adv``
    ``cnnspot`` fine-tuned from its shipped weights with adversarial examples (L∞ PGD through the
    network being trained, ``configs/train/cnnspot-adv.yaml``): a research detector, scored and
    calibrated like the others but not in the default set (docs/benchmarks/attacks.md).

``npr-thumb``
    The NPR network (:mod:`fakescope.detectors.npr`) trained on thumbnails only (CIFAKE's
    32x32 images): a member for the default fusion's thumbnail regime (images of at most
    64 px, fused apart from full-resolution images), where npr's full-resolution training
    shares its capacity with photos.

The input policy of each shipped network is in its card's ``extra``: ``tile`` (side),
``max_tiles``, ``mirror`` (add horizontal mirrors when the grid gives few tiles) and
``transform`` (``"none"`` or ``"patchcraft"``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..errors import UsageError, WeightsError
from . import DETECTORS
from .base import Detector, DetectorCard, OnnxModel, check_rgb, grid_tiles, load_card

__all__ = ["TileNetDetector", "tile_batch", "smash_and_reconstruct", "texture_diversity", "patchcraft_geometry",
           "ZOO_FAMILIES", "SPECIALISTS", "ADVERSARIAL", "TRANSFORMS"]

ZOO_FAMILIES: tuple[str, ...] = ("safe", "cnnspot", "patchcraft")
SPECIALISTS: tuple[str, ...] = ("npr-thumb",)  # a family's network trained for one regime
#: a family's network fine-tuned against white-box PGD (``fakescope build cnnspot-adv``; not in the default set)
ADVERSARIAL: tuple[str, ...] = ("cnnspot-adv",)
TRANSFORMS: tuple[str, ...] = ("none", "patchcraft")


def texture_diversity(patches: np.ndarray) -> np.ndarray:
    """PatchCraft's texture diversity of each patch: summed absolute differences of neighbouring
    pixels in four directions (horizontal, vertical, both diagonals), over the colour channels.

    Parameters
    ----------
    patches : ndarray
        ``(n, p, p, 3)`` uint8.

    Returns
    -------
    ndarray
        ``(n,)`` float64; flat patches score 0.

    >>> flat = np.zeros((1, 8, 8, 3), np.uint8)
    >>> noisy = np.random.default_rng(0).integers(0, 255, (1, 8, 8, 3)).astype(np.uint8)
    >>> bool(texture_diversity(np.concatenate([flat, noisy]))[1] > 0 == texture_diversity(flat)[0])
    True
    """
    x = patches.astype(np.int16)
    d = np.abs(x[:, :, 1:] - x[:, :, :-1]).sum(axis=(1, 2, 3), dtype=np.int64)
    d += np.abs(x[:, 1:, :] - x[:, :-1, :]).sum(axis=(1, 2, 3), dtype=np.int64)
    d += np.abs(x[:, 1:, 1:] - x[:, :-1, :-1]).sum(axis=(1, 2, 3), dtype=np.int64)
    d += np.abs(x[:, 1:, :-1] - x[:, :-1, 1:]).sum(axis=(1, 2, 3), dtype=np.int64)
    return d.astype(np.float64)


def patchcraft_geometry(height: int, width: int) -> tuple[int, int]:
    """Patch side ``p`` and grid side ``k`` for a ``height``×``width`` tile.

    ``p`` is 32 for tiles of at least 128 px (the paper's patch size), 16 from 64 px, else 8;
    each reconstruction is a ``k``×``k`` grid of patches with ``2 k² <= number of patches``
    (the rich and poor sets never share a patch), ``k <= 4``.

    >>> patchcraft_geometry(192, 192), patchcraft_geometry(32, 32), patchcraft_geometry(96, 96)
    ((32, 4), (8, 2), (16, 4))
    """
    side = min(height, width)
    p = 32 if side >= 128 else (16 if side >= 64 else 8)
    n = (height // p) * (width // p)
    k = max(1, min(4, math.isqrt(n // 2)))
    return p, k


def smash_and_reconstruct(tile: np.ndarray) -> np.ndarray:
    """The rich- and poor-texture reconstructions of one tile, stacked: ``(k·p, k·p, 6)`` uint8.

    The tile is cut into non-overlapping ``p``×``p`` patches (:func:`patchcraft_geometry`),
    ranked by :func:`texture_diversity`; the ``k²`` richest patches (richest first, row-major)
    form channels 0-2 and the ``k²`` poorest form channels 3-5.  Patches keep their native
    pixels: nothing is resized.
    """
    h, w = tile.shape[:2]
    if min(h, w) < 16:
        raise UsageError(f"PatchCraft needs at least 16x16 pixels, got {w}x{h}")
    p, k = patchcraft_geometry(h, w)
    ny, nx = h // p, w // p
    patches = tile[: ny * p, : nx * p].reshape(ny, p, nx, p, 3).transpose(0, 2, 1, 3, 4).reshape(-1, p, p, 3)
    order = np.argsort(-texture_diversity(patches), kind="stable")
    m = k * k
    if patches.shape[0] < 2 * m:  # one patch only (tiny tile): it is both the rich and the poor image
        rich = poor = patches[order[:m]]
    else:
        rich, poor = patches[order[:m]], patches[order[::-1][:m]]

    def grid(ps: np.ndarray) -> np.ndarray:
        return ps.reshape(k, k, p, p, 3).transpose(0, 2, 1, 3, 4).reshape(k * p, k * p, 3)

    return np.concatenate([grid(rich), grid(poor)], axis=2)


def tile_batch(image: np.ndarray, *, tile: int, max_tiles: int, mirror: bool = True,
               transform: str = "none") -> np.ndarray:
    """The network input for one image: ``(n, C, h, w)`` float32 pixel values 0..255.

    ``C`` is 3 (RGB tiles) or 6 (PatchCraft's rich and poor reconstructions).  Tiles come from
    :func:`fakescope.detectors.base.grid_tiles` (native resolution, 8-aligned; an image
    smaller than ``tile`` gives one tile cropped to a multiple of 8).  With ``mirror``, when
    the grid gives at most ``max_tiles // 2`` tiles their horizontal mirrors are added.

    >>> tile_batch(np.zeros((768, 1024, 3), np.uint8), tile=96, max_tiles=8).shape
    (8, 3, 96, 96)
    >>> tile_batch(np.zeros((32, 32, 3), np.uint8), tile=192, max_tiles=4, transform="patchcraft").shape
    (2, 6, 16, 16)
    """
    check_rgb(image)
    if min(image.shape[:2]) < 16:
        raise UsageError(f"needs at least 16×16 pixels, got {image.shape[1]}×{image.shape[0]}")
    if transform not in TRANSFORMS:
        raise UsageError(f"unknown transform {transform!r}; one of {TRANSFORMS}")
    tiles = grid_tiles(image, tile, max_tiles, align=8)
    if mirror and len(tiles) <= max_tiles // 2:
        tiles = tiles + [t[:, ::-1] for t in tiles]
    if transform == "patchcraft":
        tiles = [smash_and_reconstruct(np.ascontiguousarray(t)) for t in tiles]
    return np.ascontiguousarray(np.stack(tiles).transpose(0, 3, 1, 2), dtype=np.float32)


class TileNetDetector(Detector):
    """An ONNX tile network: mean of the tile logits (``safe``, ``cnnspot``, ``patchcraft``, ``npr-thumb``)."""

    min_side = 16

    def __init__(self, card: DetectorCard, *, threads: int = 1) -> None:
        super().__init__(card)
        self.name = card.name
        path = card.verify()
        if path is None:
            raise WeightsError(f"the {card.name} card names no weights file")
        self.model = OnnxModel(path, threads=threads)
        ex = card.extra
        try:
            self.tile = int(ex["tile"])
            self.max_tiles = int(ex.get("max_tiles", 8))
            self.mirror = bool(ex.get("mirror", True))
            self.transform = str(ex.get("transform", "none"))
        except (KeyError, TypeError, ValueError) as e:
            raise WeightsError(f"the {card.name} card's extra lacks a valid input policy: {e}") from e
        if self.transform not in TRANSFORMS:
            raise WeightsError(f"the {card.name} card names an unknown transform {self.transform!r}")

    def batch(self, image: np.ndarray) -> np.ndarray:
        return tile_batch(image, tile=self.tile, max_tiles=self.max_tiles, mirror=self.mirror,
                          transform=self.transform)

    def tile_logits(self, image: np.ndarray) -> np.ndarray:
        """Logits of every tile of one image (float64, mirrored tiles included)."""
        return self.model(self.batch(image)).astype(np.float64)

    def raw_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([float(self.tile_logits(im).mean()) for im in images], dtype=np.float64)


def _register(family: str) -> None:
    @DETECTORS.register(family)
    def _create(**kw: Any) -> Detector:
        return TileNetDetector(load_card(family, kw.pop("card_path", None)), **kw)


for _family in ZOO_FAMILIES + SPECIALISTS + ADVERSARIAL:
    _register(_family)
