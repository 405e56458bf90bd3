"""``rigid``: training-free detection by representation robustness to noise (He et al., 2024).

RIGID ("RIGID: A Training-free and Model-Agnostic Framework for Robust AI-Generated Image
Detection", He, Chen & Tsai, arXiv:2405.20112) observes that a frozen pretrained backbone's
representation of a *real* image barely moves when a little Gaussian noise is added to the
pixels, while that of a generated image moves more (generated images sit off the natural-image
manifold the backbone was trained on).  No detector training: the score is

    score = mean over k of  1 - cos( f(x), f(x + sigma * std * n_k) )

where ``f`` is the backbone's pooled feature, ``x`` the raw 0..255 input, ``n_k`` (k = 1..draws)
fixed standard-normal images drawn once from ``numpy.random.default_rng([seed, k])``, and
``std`` the backbone's per-channel normalisation std (so ``sigma`` is in *normalised* units, as in
the paper, which adds noise to the normalised tensor; for EfficientNet-Lite0, std = 128, so the
default sigma 0.05 is 6.4 grey levels per channel).  The noise is not clipped to 0..255.  Higher =
more likely AI-generated; the same noise for every image, so scores are deterministic.

Defaults (``sigma`` 0.05, ``draws`` 2, ``seed`` 0) follow the paper's noise level and were not
tuned on fakescope's data.  RIGID is a statement about natural images at the backbone's resolution:
on thumbnails up-sampled many times (CIFAKE's 32 px) every image is smooth and fragile and the
relation breaks, so :meth:`RigidDetector.analyze` gives no evidence for images whose shorter side
is under 64 px (:attr:`RigidDetector.min_side`).  The input policy is the ``probe``'s: shorter side resized to 224 px
(Pillow BICUBIC), centre 224×224 crop, through the backbone's cached ONNX feature export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..backbones import BACKBONES, INPUT_SIZE, NORMALISATION, backbone_onnx, to_input_batch
from ..errors import UsageError
from . import DETECTORS
from .base import Detector, DetectorCard, OnnxModel, load_card

__all__ = ["RigidDetector", "rigid_noise", "SIGMA", "DRAWS", "SEED", "BATCH"]

SIGMA = 0.05
DRAWS = 2
SEED = 0
BATCH = 8


def rigid_noise(std: Sequence[float], *, sigma: float = SIGMA, draws: int = DRAWS, seed: int = SEED,
                size: int = INPUT_SIZE) -> np.ndarray:
    """The fixed noise images ``(draws, 3, size, size)`` float32 on the raw 0..255 scale.

    Draw ``k`` is ``default_rng([seed, k]).standard_normal((3, size, size)) * sigma * std[c]``.

    >>> rigid_noise((128.0,) * 3, draws=2).shape
    (2, 3, 224, 224)
    """
    if sigma <= 0 or draws < 1:
        raise UsageError(f"rigid needs sigma > 0 and draws >= 1, got sigma={sigma}, draws={draws}")
    s = np.asarray(std, np.float64).reshape(1, 3, 1, 1) * float(sigma)
    n = np.stack([np.random.default_rng([int(seed), k]).standard_normal((3, size, size)) for k in range(draws)])
    return (n * s).astype(np.float32)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    return np.sum(a * b, axis=-1) / np.maximum(na * nb, 1e-12)


class RigidDetector(Detector):
    """RIGID on a frozen backbone via ONNX Runtime (training-free).

    Parameters
    ----------
    card : DetectorCard
        ``extra`` holds ``backbone``, ``backbone_sha256``, ``sigma``, ``draws`` and ``seed``.
    backbone, checkpoint : optional
        Another backbone (``"clip"``/``"dino"`` with a local checkpoint).  The card's Platt
        calibration was fitted for the shipped backbone; with another backbone it is reset to
        the identity (``a = 1, b = 0``), so :meth:`probability` is uncalibrated.
    sigma, draws, seed : optional
        Override the card's noise parameters (see the module docstring).
    threads : int
        ONNX Runtime intra-op threads.
    """

    name = "rigid"
    #: Smaller images give no evidence in :meth:`analyze`: up-sampled more than 3.5x to 224 px they are
    #: smooth for both classes, and on CIFAKE's 32-px images (calibration split) the relation is inverted
    #: (fakes *more* robust than reals, AUC 0.36).  :meth:`raw_scores` still scores them.
    min_side = 64

    def __init__(self, card: DetectorCard, *, backbone: str | None = None, checkpoint: str | Path | None = None,
                 sigma: float | None = None, draws: int | None = None, seed: int | None = None,
                 threads: int = 1) -> None:
        from dataclasses import replace

        shipped = card.extra.get("backbone", "efficientnet_lite0")
        backbone = backbone or shipped
        if backbone not in BACKBONES:
            raise UsageError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
        self.sigma = float(card.extra.get("sigma", SIGMA) if sigma is None else sigma)
        self.draws = int(card.extra.get("draws", DRAWS) if draws is None else draws)
        self.seed = int(card.extra.get("seed", SEED) if seed is None else seed)
        changed = (backbone != shipped or checkpoint is not None or self.sigma != card.extra.get("sigma", SIGMA)
                   or self.draws != card.extra.get("draws", DRAWS) or self.seed != card.extra.get("seed", SEED))
        if changed:
            card = replace(card, calibration={"method": "platt", "a": 1.0, "b": 0.0}, metrics={},
                           extra={**card.extra, "backbone": backbone, "sigma": self.sigma, "draws": self.draws,
                                  "seed": self.seed, "checkpoint": str(checkpoint) if checkpoint else None,
                                  "note": "parameters differ from the shipped card: uncalibrated"})
        super().__init__(card)
        self.backbone = backbone
        if checkpoint is None and backbone == shipped:
            self.onnx_path = backbone_onnx(backbone, None, source_sha256=card.extra.get("backbone_sha256"))
        else:
            self.onnx_path = backbone_onnx(backbone, checkpoint)
        self.model = OnnxModel(self.onnx_path, threads=threads)
        self.noise = rigid_noise(NORMALISATION[backbone][1], sigma=self.sigma, draws=self.draws, seed=self.seed)

    def scores_and_features(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """RIGID scores (float64, ``(n,)``) and the clean images' features (float32, ``(n, D)``)."""
        images = list(images)
        scores, feats = [], []
        k = self.draws
        for i in range(0, len(images), BATCH):
            x = to_input_batch(images[i : i + BATCH])
            m = len(x)
            noisy = (x[None] + self.noise[:, None]).reshape(k * m, *x.shape[1:])
            f = self.model(np.concatenate([x, noisy]))
            clean, pert = f[:m], f[m:].reshape(k, m, -1)
            scores.append(np.mean(1.0 - _cosine(clean[None], pert), axis=0))
            feats.append(clean)
        if not scores:
            return np.zeros(0, np.float64), np.zeros((0, 0), np.float32)
        return np.concatenate(scores).astype(np.float64), np.concatenate(feats)

    def raw_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """``mean_k (1 - cos(f(x), f(x + noise_k)))`` per image (higher = more likely AI-generated)."""
        return self.scores_and_features(images)[0]


@DETECTORS.register("rigid")
def _create(**kw: Any) -> Detector:
    return RigidDetector(load_card("rigid", kw.pop("card_path", None)), **kw)
