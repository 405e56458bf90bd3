"""Image perturbations as pure functions, replayable records and chains, and named presets.

Each registered perturbation has a pure ``apply(image, **params)`` on ``H×W×3`` uint8 RGB
arrays and a sampler ``sample_params(rng, severity)`` for severities 1..5 (kornia-style:
parameters are drawn first, as plain data, then applied, so any run replays exactly).

>>> import numpy as np
>>> from fakescope.perturbations import Chain, sample_chain, list_perturbations
>>> len(list_perturbations()) >= 30
True
>>> chain = sample_chain([("jpeg", 3), ("gaussian-blur", 1)], np.random.default_rng(0))
>>> img = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
>>> out = chain.apply(img)
>>> bool((Chain.from_dict(chain.to_dict()).apply(img) == out).all())
True

Categories: ``compression`` (jpeg, double-jpeg, webp, avif, png-resave), ``resampling``
(downscale-/upscale- with nearest, bilinear, bicubic, lanczos, area), ``geometry``
(random-crop, rotate), ``preprocessing`` (center-crop, resize, resize-crop), ``blur``
(gaussian-, median-, motion-blur), ``noise`` (gaussian-, poisson-noise, salt-pepper),
``color`` (brightness, contrast, saturation, gamma, hue, grayscale), ``enhancement``
(sharpen), ``content`` (occlusion), ``platform`` (screenshot, instagram, twitter-x,
facebook, whatsapp) and ``baseline`` (identity).
"""

from __future__ import annotations

from ._core import (
    PERTURBATIONS,
    SEVERITIES,
    Chain,
    Perturbation,
    PerturbationSpec,
    apply_perturbation,
    check_image,
    get_perturbation,
    list_perturbations,
    sample_chain,
    sample_params,
)
from .presets import PRESET_DOCS, list_presets, preset

__all__ = [
    "PERTURBATIONS",
    "SEVERITIES",
    "Chain",
    "Perturbation",
    "PerturbationSpec",
    "apply_perturbation",
    "check_image",
    "get_perturbation",
    "list_perturbations",
    "sample_chain",
    "sample_params",
    "preset",
    "list_presets",
    "PRESET_DOCS",
]
