"""NPR: neighbouring-pixel relationships into a small CNN (Tan et al., CVPR 2024).

Generators up-sample: inside every 2×2 block of an up-sampled image the pixels are tied
together in a way camera pipelines do not tie them.  The residual
``x - nearest_up(x[::2, ::2])`` exposes these relationships; a small CNN reads them.

Inference runs the int8 quantization of the trained export (``weights/npr.int8.onnx``, 2×
faster than the float32 export ``weights/npr.onnx`` it came from, calibration AUC within
0.0005: docs/benchmarks/npr_int8.md) on images of at least 65 pixels a side, and the float32
export on thumbnails, where int8 saves nothing (``precision="fp32"`` or ``"int8"`` runs one
model for all sizes), through ONNX Runtime on up to
8 native-resolution 96×96 tiles on an 8-pixel-aligned grid (never resized: resizing
erases up-sampling traces), plus their horizontal mirrors when an image gives at most 4
tiles, and returns the mean of the tile logits.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import UsageError, WeightsError
from . import DETECTORS
from .base import Detector, DetectorCard, OnnxModel, check_rgb, grid_tiles, load_card, two_stage_indices

__all__ = ["NPRDetector", "tiles_to_batch", "TILE", "MAX_TILES"]

TILE = 96
MAX_TILES = 8


def tiles_to_batch(image: np.ndarray, *, tile: int = TILE, max_tiles: int = MAX_TILES,
                   mirror: bool = True) -> np.ndarray:
    """The network input for one image: ``(n, 3, t, t)`` float32 raw pixel values (0..255).

    Parameters
    ----------
    image : ndarray
        ``H×W×3`` uint8 RGB.
    tile, max_tiles : int
        Tile side and count (see :func:`fakescope.detectors.base.grid_tiles`); an image
        smaller than ``tile`` gives one tile cropped to a multiple of 8 pixels.
    mirror : bool
        When the grid gives at most ``max_tiles // 2`` tiles (small images), also feed their
        horizontal mirrors (the network was trained with flips; averaging both halves the
        variance where there are few tiles, and costs at most ``max_tiles`` tiles).

    Examples
    --------
    >>> tiles_to_batch(np.zeros((768, 1024, 3), np.uint8)).shape
    (8, 3, 96, 96)
    >>> tiles_to_batch(np.zeros((32, 32, 3), np.uint8)).shape
    (2, 3, 32, 32)
    """
    check_rgb(image)
    if min(image.shape[:2]) < 16:
        raise UsageError(f"NPR needs at least 16×16 pixels, got {image.shape[1]}×{image.shape[0]}")
    tiles = grid_tiles(image, tile, max_tiles, align=8)
    if mirror and len(tiles) <= max_tiles // 2:
        tiles = tiles + [t[:, ::-1] for t in tiles]
    return np.ascontiguousarray(np.stack(tiles).transpose(0, 3, 1, 2), dtype=np.float32)


class NPRDetector(Detector):
    """The NPR detector: ONNX Runtime over native-resolution tiles, mean of tile logits."""

    name = "npr"
    min_side = 16

    def __init__(self, card: DetectorCard, *, threads: int = 1, precision: str | None = None) -> None:
        ref = card.extra.get("reference_weights")
        shipped = str(card.extra.get("precision", "fp32"))
        if precision not in (None, shipped):
            if not ref or ref.get("precision") != precision:
                raise UsageError(f"the npr card has no {precision!r} weights (it has {shipped!r}"
                                 + (f" and {ref.get('precision')!r}" if ref else "") + ")")
            # the reference weights, e.g. the float32 export an int8 file was quantized from
            card = replace(card, weights=ref["file"], sha256=ref["sha256"])
        super().__init__(card)
        path = card.verify()
        if path is None:
            raise WeightsError("the npr card names no weights file")
        self.model = OnnxModel(path, threads=threads)
        self.precision = precision or shipped
        # thumbnails run the float32 reference: there int8 saves ~0.1 ms and only adds noise
        self.small_model: OnnxModel | None = None
        self.small_below = int(card.extra.get("reference_below_side", 0))
        if precision is None and ref and self.small_below:
            small = replace(card, weights=ref["file"], sha256=ref["sha256"]).verify()
            self.small_model = OnnxModel(small, threads=threads)
            self.precision = f"{shipped} ({ref['precision']} below {self.small_below} px)"
        self.tile = int(card.extra.get("tile", TILE))
        self.max_tiles = int(card.extra.get("max_tiles", MAX_TILES))
        self.mirror = bool(card.extra.get("mirror", True))

    def batch(self, image: np.ndarray) -> np.ndarray:
        """The network input for one image (see :func:`tiles_to_batch`)."""
        return tiles_to_batch(image, tile=self.tile, max_tiles=self.max_tiles, mirror=self.mirror)

    def _model_for(self, image: np.ndarray) -> OnnxModel:
        if self.small_model is not None and min(image.shape[:2]) < self.small_below:
            return self.small_model
        return self.model

    def tile_logits(self, image: np.ndarray) -> np.ndarray:
        """Logits of every tile of one image (float64, one per tile; mirrored tiles included)."""
        return self._model_for(image)(self.batch(image)).astype(np.float64)

    def staged_raw_score(self, image: np.ndarray) -> tuple[float, Callable[[], float] | None]:
        """Mean logit of half of the tiles (one chessboard colour of the grid, or the tiles without
        their mirrors), and a function adding the other half's logits: the mean of all tiles,
        as :meth:`raw_scores` gives it."""
        batch = self.batch(image)
        model = self._model_for(image)
        first, rest = two_stage_indices(image.shape[0], image.shape[1], self.tile, self.max_tiles,
                                        mirror=self.mirror)
        if not rest or len(first) + len(rest) != len(batch):
            return float(model(batch).astype(np.float64).mean()), None
        a = model(np.ascontiguousarray(batch[first])).astype(np.float64)

        def finish() -> float:
            b = model(np.ascontiguousarray(batch[rest])).astype(np.float64)
            return float(np.concatenate([a, b]).mean())

        return float(a.mean()), finish

    def raw_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Mean tile logit per image (higher = more likely AI-generated)."""
        return np.array([float(self.tile_logits(im).mean()) for im in images], dtype=np.float64)


@DETECTORS.register("npr")
def _create(**kw: Any) -> Detector:
    return NPRDetector(load_card("npr", kw.pop("card_path", None)), **kw)
