"""``zed``: a real-only detector from the coding cost of a small lossless-coding model (after ZED, ECCV 2024).

Cozzolino, Poggi, Nießner & Verdoliva ("Zero-Shot Detection of AI-Generated Images", ECCV 2024)
model *real* photos with a multi-resolution lossless coder (SReC) that gives every pixel a
predictive distribution, and compare the image's actual coding cost (negative log-likelihood,
NLL) with the cost the model expects (the entropy H of its predictive distributions): at level
``l`` of the resolution pyramid, ``D_l = NLL_l - H_l``.  A real photo is about as surprising as
the model expects; generated images tend to be "too predictable" (or otherwise off), and ZED's
statistic ``Δ01 = D_0 - D_1`` compares the gap at full resolution with the gap one level down,
so that content that is simply easy or hard to code cancels.  No fake image is needed to train it.

fakescope's model (trained by ``fakescope build zed``, :mod:`fakescope.build.zed`, on the train
split's real photos only, as stored and laundered) is much smaller than SReC: a three-level
pyramid (each level the rounded 2×2 mean of the one above), each level's pixels coded given the
level below in two checkerboard passes (the first half from the parent alone, the second from the
parent and the first half), every sub-pixel a discretised logistic.  The ONNX graph
(``weights/zed.onnx``) maps a ``(n, 3, H, W)`` float32 0..255 crop (H, W multiples of 8) to
``(n, 6)``: NLL and entropy, bits per sub-pixel, for levels 0, 1, 2.

The score: ``|Δ01 - m| / s``, with ``m``, ``s`` the mean and spread of ``Δ01`` over the train
split's real photos (as stored and laundered) — a two-sided test, as ZED's, fixed before any fake
was scored.  docs/benchmarks/zed.md measures it by source, as stored and laundered.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import WeightsError
from . import DETECTORS
from .base import Detector, DetectorCard, OnnxModel, load_card

__all__ = ["ZedDetector", "zed_crops", "zed_stats", "statistic", "CROP", "MAX_CROPS", "LEVELS", "STATISTICS"]

CROP = 128  # side of a native-resolution crop
MAX_CROPS = 4
LEVELS = 3  # coded levels: crops must be multiples of 2**LEVELS
#: the statistics of the six numbers the bench compares (the detector uses the card's ``statistic``)
STATISTICS: tuple[str, ...] = ("abs_delta01", "neg_delta01", "neg_d0", "abs_d0", "neg_nll0")


def zed_crops(image: np.ndarray, *, size: int = CROP, max_crops: int = MAX_CROPS) -> np.ndarray:
    """Up to ``max_crops`` native-resolution ``size``×``size`` crops (the corners of a 2×2 grid where
    the image is at least twice ``size`` along that axis, else centred); an image smaller than
    ``size`` on a side gives one centred crop as large as it allows, cut to a multiple of 8 on each
    side (never resized: up-sampling would make it look predictable).  ``(k, h, w, 3)`` uint8."""
    m = 2 ** LEVELS
    h, w = image.shape[:2]
    ch, cw = min(size, h // m * m), min(size, w // m * m)
    if ch < m * 2 or cw < m * 2:
        raise ValueError(f"zed needs an image of at least {2 * m}x{2 * m} pixels, got {w}x{h}")
    ys = [0, h - ch] if h >= 2 * ch and max_crops > 1 else [(h - ch) // 2]
    xs = [0, w - cw] if w >= 2 * cw and max_crops > 1 else [(w - cw) // 2]
    return np.stack([image[y : y + ch, x : x + cw] for y in ys for x in xs])[:max_crops]


def zed_stats(model: OnnxModel, image: np.ndarray, *, max_crops: int = MAX_CROPS) -> np.ndarray:
    """The six coding statistics (NLL and entropy in bits per sub-pixel, levels 0, 1, 2) of ``image``,
    averaged over its crops: ``(6,)`` float64.  The detector and the build share it."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"zed expects an RGB image (H, W, 3), got shape {image.shape}")
    crops = zed_crops(image, max_crops=max_crops)
    x = crops.transpose(0, 3, 1, 2).astype(np.float32)
    out = np.concatenate([model(x[i : i + 1]) for i in range(len(x))]).astype(np.float64)
    return out.reshape(len(x), -1).mean(axis=0)


def statistic(stats: np.ndarray, name: str, center: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """A detection statistic (higher = more likely AI-generated) from ``(n, 6)`` coding statistics:
    ``abs_delta01`` ``|Δ01 - center| / scale`` (the detector's), ``neg_delta01`` ``-Δ01`` (too
    predictable at full resolution compared with the level below), ``neg_d0`` ``-D_0``, ``abs_d0``
    ``|D_0 - center| / scale``, ``neg_nll0`` ``-NLL_0`` (the plain coding cost)."""
    s = np.atleast_2d(np.asarray(stats, np.float64))
    d0, d1 = s[:, 0] - s[:, 1], s[:, 2] - s[:, 3]
    if name == "abs_delta01":
        return np.abs(d0 - d1 - center) / scale
    if name == "neg_delta01":
        return -(d0 - d1)
    if name == "neg_d0":
        return -d0
    if name == "abs_d0":
        return np.abs(d0 - center) / scale
    if name == "neg_nll0":
        return -s[:, 0]
    raise ValueError(f"unknown zed statistic {name!r}; known: {', '.join(STATISTICS)}")


class ZedDetector(Detector):
    """Coding-cost surprise of a real-only lossless-coding model (see the module docs), via ONNX Runtime.

    Parameters
    ----------
    card : DetectorCard
        ``weights``: the ONNX graph; ``extra``: ``statistic``, ``center``, ``scale``, ``max_crops``.
    threads : int
        ONNX Runtime intra-op threads.
    """

    name = "zed"
    min_side = 2 * 2 ** LEVELS

    def __init__(self, card: DetectorCard, *, threads: int = 1) -> None:
        path = card.verify()
        if path is None:
            raise WeightsError("the zed card names no weights file")
        super().__init__(card)
        self.statistic = str(card.extra.get("statistic", "abs_delta01"))
        self.center = float(card.extra.get("center", 0.0))
        self.scale = float(card.extra.get("scale", 1.0))
        self.max_crops = int(card.extra.get("max_crops", MAX_CROPS))
        self.model = OnnxModel(path, threads=threads)

    def stats(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """``(n, 6)`` coding statistics (see :func:`zed_stats`)."""
        if not len(images):
            return np.zeros((0, 2 * LEVELS), np.float64)
        return np.stack([zed_stats(self.model, im, max_crops=self.max_crops) for im in images])

    def raw_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The card's statistic of each image's coding statistics (float64; higher = more likely AI-generated)."""
        if not len(images):
            return np.zeros(0, np.float64)
        return statistic(self.stats(images), self.statistic, self.center, self.scale)


@DETECTORS.register("zed")
def _create(**kw: Any) -> Detector:
    return ZedDetector(load_card("zed", kw.pop("card_path", None)), **kw)
