"""Attacks on detectors and the defences measured against them (``fakescope attack``).

An attack turns AI-generated images into images the detectors should still flag.  Every attack is a
registered function ``attack(images, *, eps, detector, rng, **options) -> images`` on ``(N, H, W, 3)``
uint8 arrays (one size per call), so the output is exactly what is written to disk and re-scored:

================  ==================================================================================
``fgsm``          one signed-gradient step of size ``eps`` (Goodfellow et al. 2015), L∞
``pgd``           projected gradient descent in the L∞ ball of radius ``eps`` (Madry et al. 2018),
                  random start, ``steps`` steps of ``2.5 eps / steps``
``pgd-l2``        PGD in the L2 ball: ``eps`` is the per-image L2 norm in [0, 1] units, scaled by
                  ``sqrt(H·W·3)`` so that ``eps=4/255`` is the RMS budget of an L∞ 4/255 attack
``freq-high``     PGD whose perturbation lies in the high spatial-frequency band (radial frequency
``freq-low``      above / at most ``cutoff`` = 0.25 cycles/pixel), then scaled into the L∞ ball
                  (FPBA-like, Jia et al. 2024: the band of the perturbation is an explicit choice)
``ganprintr``     GANprintR-style fingerprint removal (Neves et al. 2020): each fake through an
                  auto-encoder trained on real photos only (no detector, no gradient; ``eps`` unused)
``launder``       a resize + JPEG chain from the perturbation registry (``eps`` unused)
================  ==================================================================================

White-box attacks go through the detector's PyTorch twin (:mod:`fakescope.attacks.twins`); their
loss is the twin's raw logit (lower = more "real").  Transfer attacks are the same attacks with one
detector as the surrogate, scored by the others (:func:`fakescope.attacks.evaluate.evaluate`).
Budgets are in [0, 1] pixel units; ``parse_eps("4/255")``.  After quantisation to uint8, an L∞ attack's
change of any pixel is at most ``floor(255 eps)`` grey levels.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from .._registry import Registry
from ..errors import UsageError

__all__ = ["ATTACKS", "attack", "list_attacks", "parse_eps", "band_mask", "band_project", "WHITE_BOX"]

AttackFn = Callable[..., np.ndarray]
ATTACKS: Registry[np.ndarray] = Registry("attack")
WHITE_BOX: tuple[str, ...] = ("fgsm", "pgd", "pgd-l2", "freq-high", "freq-low")


def parse_eps(text: str | float) -> float:
    """A budget as a float in [0, 1] pixel units: ``"4/255"``, ``"0.0157"`` or a number.

    >>> parse_eps("4/255") == 4 / 255, parse_eps("0"), parse_eps(0.5)
    (True, 0.0, 0.5)
    """
    try:
        v = float(Fraction(str(text).strip())) if not isinstance(text, (int, float)) else float(text)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"eps must be a number or a fraction like 4/255, got {text!r}") from None
    if not 0.0 <= v <= 1.0 or not math.isfinite(v):
        raise UsageError(f"eps must lie in [0, 1] (pixel units), got {text!r}")
    return v


def list_attacks(pattern: str = "*") -> list[str]:
    return ATTACKS.names(pattern)


def attack(name: str, images: np.ndarray, *, eps: float = 4 / 255, detector: str = "fusion",
           seed: int = 0, **options: Any) -> np.ndarray:
    """Run a registered attack on ``(N, H, W, 3)`` uint8 fakes; returns attacked uint8 images."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise UsageError(f"attacks take (N, H, W, 3) uint8 images, got {images.dtype} {images.shape}")
    return ATTACKS.get(name)(images, eps=eps, detector=detector, rng=np.random.default_rng(seed), **options)


# ----------------------------------------------------------------------------------------------
# frequency bands


def band_mask(h: int, w: int, band: str, *, cutoff: float = 0.25) -> np.ndarray:
    """Boolean ``(h, w)`` mask over ``numpy.fft.fft2`` frequencies: ``"low"`` radial frequency
    ``<= cutoff`` cycles/pixel, ``"high"`` above it (Nyquist is 0.5 along an axis).

    >>> m = band_mask(8, 8, "low"); bool(m[0, 0]), bool(m[4, 4])
    (True, False)
    """
    if band not in ("low", "high"):
        raise UsageError(f"band must be 'low' or 'high', got {band!r}")
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    r = np.sqrt(fy ** 2 + fx ** 2)
    return r <= cutoff if band == "low" else r > cutoff


def band_project(delta: "Any", mask: "Any") -> "Any":
    """Keep only the frequencies of ``mask`` in a ``(..., H, W)`` torch perturbation (orthonormal FFT)."""
    import torch

    spec = torch.fft.fft2(delta, norm="ortho")
    return torch.fft.ifft2(spec * mask, norm="ortho").real


# ----------------------------------------------------------------------------------------------
# white-box attacks


def _twin(detector: str, images: np.ndarray) -> Any:
    """The detector's twin, ready for a batch of ``images`` (the fusion's members without a twin are
    fixed at their clean scores)."""
    from .twins import FusionTwin, load_twin

    regime = "thumbnail" if min(images.shape[1:3]) <= 64 else "full"
    twin = load_twin(detector, **({"regime": regime} if detector == "fusion" else {}))
    if isinstance(twin, FusionTwin):
        import torch

        from ..detectors import create_detector

        for m in twin.members:
            if m not in twin.twins:
                twin.fixed[m] = torch.tensor(create_detector(m).raw_scores(list(images)), dtype=torch.float32)
    return twin


def _quantise(x0: np.ndarray, delta: "Any", eps: float | None) -> np.ndarray:
    """uint8 images ``x0 + delta`` (delta in [0, 1] units), an L∞ budget kept in grey levels."""
    d = np.rint(delta.detach().numpy().transpose(0, 2, 3, 1) * 255.0)
    if eps is not None:
        lim = math.floor(eps * 255.0 + 1e-6)
        d = np.clip(d, -lim, lim)
    return np.clip(x0.astype(np.int16) + d.astype(np.int16), 0, 255).astype(np.uint8)


def _gradient_attack(images: np.ndarray, *, eps: float, detector: str, rng: np.random.Generator, norm: str,
                     steps: int, band: str | None = None, cutoff: float = 0.25, batch: int = 32,
                     alpha: float | None = None, random_start: bool = True, twin: Any = None,
                     sign: np.ndarray | None = None) -> np.ndarray:
    """``twin``: a differentiable module to attack instead of ``detector``'s twin (the adversarial
    training of :mod:`fakescope.build.rine_adv` attacks the head being fitted); ``sign``: per image, +1
    to lower the logit (a fake made to look real, the default) or -1 to raise it (a real made to look
    fake)."""
    import torch

    if eps == 0:
        return images.copy()
    twin = twin if twin is not None else _twin(detector, images)
    signs = torch.ones(len(images)) if sign is None else torch.as_tensor(np.asarray(sign, np.float32))
    n, h, w, _ = images.shape
    dim = math.sqrt(h * w * 3)
    radius = eps * dim if norm == "l2" else eps
    step = alpha if alpha is not None else (radius if steps == 1 else 2.5 * radius / steps)
    mask = torch.from_numpy(band_mask(h, w, band, cutoff=cutoff)) if band else None
    out = []
    for i in range(0, n, batch):
        x0 = images[i : i + batch]
        x = torch.from_numpy(x0.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
        fixed = {k: v[i : i + batch] for k, v in getattr(twin, "fixed", {}).items()}
        if fixed:
            twin.fixed, saved = fixed, twin.fixed
        if random_start and steps > 1:
            d0 = rng.uniform(-1, 1, x.shape).astype(np.float32)
            delta = torch.from_numpy(d0) * (radius / dim if norm == "l2" else radius) * 0.5
        else:
            delta = torch.zeros_like(x)

        def project(d: torch.Tensor) -> torch.Tensor:
            if mask is not None:
                d = band_project(d, mask)
                # scale (not clip) into the L∞ ball: clipping would leak energy out of the band
                m = d.abs().flatten(1).amax(dim=1).clamp_min(1e-12)
                d = d * torch.clamp(eps / m, max=1.0)[:, None, None, None]
            elif norm == "l2":
                nrm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
                d = d * torch.clamp(radius / nrm, max=1.0)[:, None, None, None]
            else:
                d = d.clamp(-eps, eps)
            return (x + d).clamp(0, 1) - x if mask is None else d

        delta = project(delta)
        for _ in range(steps):
            delta.requires_grad_(True)
            loss = (twin(((x + delta).clamp(0, 1)) * 255.0) * signs[i : i + batch]).sum()
            (g,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                if norm == "l2":
                    g = g / g.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None, None]
                    delta = delta - step * g
                else:
                    if mask is not None:
                        g = band_project(g, mask)
                    delta = delta - step * g.sign()
                delta = project(delta)
        if fixed:
            twin.fixed = saved
        out.append(_quantise(x0, delta, None if norm == "l2" else eps))
    return np.concatenate(out)


@ATTACKS.register("fgsm")
def fgsm(images: np.ndarray, *, eps: float, detector: str, rng: np.random.Generator, **kw: Any) -> np.ndarray:
    """One signed-gradient step (FGSM) of size ``eps`` against ``detector``'s twin."""
    return _gradient_attack(images, eps=eps, detector=detector, rng=rng, norm="linf", steps=1, **kw)


@ATTACKS.register("pgd")
def pgd(images: np.ndarray, *, eps: float, detector: str, rng: np.random.Generator, steps: int = 10,
        **kw: Any) -> np.ndarray:
    """L∞ PGD with a random start."""
    return _gradient_attack(images, eps=eps, detector=detector, rng=rng, norm="linf", steps=steps, **kw)


@ATTACKS.register("pgd-l2")
def pgd_l2(images: np.ndarray, *, eps: float, detector: str, rng: np.random.Generator, steps: int = 10,
           **kw: Any) -> np.ndarray:
    """L2 PGD (per-image budget ``eps * sqrt(H W 3)``)."""
    return _gradient_attack(images, eps=eps, detector=detector, rng=rng, norm="l2", steps=steps, **kw)


@ATTACKS.register("freq-high")
def freq_high(images: np.ndarray, *, eps: float, detector: str, rng: np.random.Generator, steps: int = 10,
              cutoff: float = 0.25, **kw: Any) -> np.ndarray:
    """PGD with the perturbation restricted to radial frequencies above ``cutoff``."""
    return _gradient_attack(images, eps=eps, detector=detector, rng=rng, norm="linf", steps=steps, band="high",
                            cutoff=cutoff, **kw)


@ATTACKS.register("freq-low")
def freq_low(images: np.ndarray, *, eps: float, detector: str, rng: np.random.Generator, steps: int = 10,
             cutoff: float = 0.25, **kw: Any) -> np.ndarray:
    """PGD with the perturbation restricted to radial frequencies at most ``cutoff``."""
    return _gradient_attack(images, eps=eps, detector=detector, rng=rng, norm="linf", steps=steps, band="low",
                            cutoff=cutoff, **kw)


# ----------------------------------------------------------------------------------------------
# black-box attacks


LAUNDER_CHAIN: list[dict[str, Any]] = [
    {"name": "downscale-bicubic", "params": {"scale": 0.75}},
    {"name": "upscale-bicubic", "params": {"scale": 4 / 3}},
    {"name": "jpeg", "params": {"quality": 80, "subsampling": "4:2:0"}},
]


@ATTACKS.register("launder")
def launder(images: np.ndarray, *, eps: float, detector: str, rng: np.random.Generator,
            chain: list[dict[str, Any]] | None = None, **kw: Any) -> np.ndarray:
    """A perturbation-registry chain (default :data:`LAUNDER_CHAIN`: bicubic ×0.75, back up, JPEG 80);
    resampled images are cropped or padded back to the input size so pixels stay aligned."""
    from ..perturbations import Chain

    ch = Chain.from_dict(chain or LAUNDER_CHAIN)
    out = []
    h, w = images.shape[1:3]
    for im in images:
        y = ch.apply(im)
        if y.shape[:2] != (h, w):
            from PIL import Image

            y = np.asarray(Image.fromarray(y).resize((w, h), Image.BICUBIC))
        out.append(y)
    return np.stack(out)


@ATTACKS.register("ganprintr")
def ganprintr(images: np.ndarray, *, eps: float, detector: str, rng: np.random.Generator, **kw: Any) -> np.ndarray:
    """Each image through the shipped real-photo auto-encoder (``weights/generators/ae-real.npz``)."""
    from .autoencoders import apply_autoencoder

    return apply_autoencoder("ae-real", images)
