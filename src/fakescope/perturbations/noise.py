"""Noise perturbations: Gaussian, Poisson (shot) and salt-and-pepper.

Randomness is a parameter: each function takes a ``seed`` (drawn by the sampler from the
caller's ``rng``) and builds its own ``numpy.random.default_rng(seed)``, so the same
parameters give the same pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from ._core import draw_float, perturbation

__all__ = ["gaussian_noise", "poisson_noise", "salt_pepper"]


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _sample_gaussian(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = ((1.5, 2.5), (3.5, 5.0), (6.0, 8.0), (10.0, 13.0), (16.0, 20.0))[severity - 1]
    return {"sigma": draw_float(rng, lo, hi), "seed": _seed(rng)}


@perturbation("gaussian-noise", sampler=_sample_gaussian, category="noise",
              summary="additive white Gaussian noise, independent per channel (σ in 0..255 units)",
              levels=("1: σ 1.5-2.5", "2: σ 3.5-5", "3: σ 6-8", "4: σ 10-13", "5: σ 16-20"))
def gaussian_noise(image: np.ndarray, *, sigma: float, seed: int = 0) -> np.ndarray:
    """Add ``N(0, sigma²)`` noise per pixel and channel, round and clip to 0..255.

    Examples
    --------
    >>> x = np.full((64, 64, 3), 128, np.uint8)
    >>> y = gaussian_noise(x, sigma=5.0, seed=1)
    >>> 4.0 < float((y.astype(float) - 128).std()) < 6.0
    True
    """
    if not isinstance(sigma, (int, float)) or not 0.0 <= float(sigma) <= 128.0:
        raise UsageError(f"sigma must be in [0, 128], got {sigma!r}")
    g = np.random.default_rng(_check_seed(seed))
    noise = g.standard_normal(image.shape, dtype=np.float32) * np.float32(sigma)
    return np.clip(np.rint(image.astype(np.float32) + noise), 0, 255).astype(np.uint8)


def _sample_poisson(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = ((600.0, 1000.0), (250.0, 400.0), (100.0, 160.0), (45.0, 70.0), (18.0, 30.0))[severity - 1]
    return {"peak": draw_float(rng, lo, hi, digits=1), "seed": _seed(rng)}


@perturbation("poisson-noise", sampler=_sample_poisson, category="noise",
              summary="photon shot noise: white (255) collects `peak` photons",
              levels=("1: peak 600-1000", "2: 250-400", "3: 100-160", "4: 45-70", "5: 18-30"))
def poisson_noise(image: np.ndarray, *, peak: float, seed: int = 0) -> np.ndarray:
    """Shot noise: each value ``v`` becomes ``Poisson(v/255 · peak) · 255/peak`` (lower ``peak`` is noisier).

    Examples
    --------
    >>> x = np.full((64, 64, 3), 100, np.uint8)
    >>> y = poisson_noise(x, peak=100.0, seed=0).astype(float)
    >>> bool(abs(y.mean() - 100) < 2 and y.std() > 5)
    True
    """
    if not isinstance(peak, (int, float)) or not 1.0 <= float(peak) <= 1e6:
        raise UsageError(f"peak must be in [1, 1e6], got {peak!r}")
    g = np.random.default_rng(_check_seed(seed))
    lam = image.astype(np.float64) * (float(peak) / 255.0)
    out = g.poisson(lam).astype(np.float64) * (255.0 / float(peak))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _sample_salt_pepper(rng: np.random.Generator, severity: int) -> dict[str, Any]:
    lo, hi = ((0.001, 0.002), (0.004, 0.006), (0.01, 0.015), (0.025, 0.035), (0.05, 0.07))[severity - 1]
    return {"amount": draw_float(rng, lo, hi, digits=4), "salt": 0.5, "seed": _seed(rng)}


@perturbation("salt-pepper", sampler=_sample_salt_pepper, category="noise",
              summary="impulse noise: a share of pixels set to black or white (all channels)",
              levels=("1: 0.1-0.2% of pixels", "2: 0.4-0.6%", "3: 1-1.5%", "4: 2.5-3.5%", "5: 5-7%"))
def salt_pepper(image: np.ndarray, *, amount: float, salt: float = 0.5, seed: int = 0) -> np.ndarray:
    """Set a share ``amount`` of pixels to white (share ``salt`` of them) or black.

    Examples
    --------
    >>> x = np.full((100, 100, 3), 128, np.uint8)
    >>> y = salt_pepper(x, amount=0.1, seed=0)
    >>> 0.08 < float((y[..., 0] != 128).mean()) < 0.12
    True
    """
    if not 0.0 <= float(amount) <= 1.0 or not 0.0 <= float(salt) <= 1.0:
        raise UsageError(f"amount and salt must be in [0, 1], got {amount!r}, {salt!r}")
    g = np.random.default_rng(_check_seed(seed))
    h, w = image.shape[:2]
    u = g.random((h, w))
    out = image.copy()
    hit = u < float(amount)
    white = hit & (g.random((h, w)) < float(salt))
    out[hit] = 0
    out[white] = 255
    return out
