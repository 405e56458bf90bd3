"""The laundering chains training images go through: both classes alike, parameters drawn per image.

Invariance training (issue 11): every training image as stored and through four chains a published
image meets — a design-tool export, a web copy, lossy WebP, a screenshot — so that format, size and
compression stop telling real from fake.  The parameters are drawn from a seed and the image's split
key (kornia-style: drawn first, as plain data, then applied), so the draw never moves and a feature
computed once stays valid.  :data:`RECIPE` is that recipe as data; the build steps that train on
laundered images (``rine``, ``rine-adv``, ``zed``) and user enrolment in attribution
(:func:`fakescope.attribution.runtime.enrolment_views`) share it from here.

>>> names = [n for n, _ in training_chains("some-key")]
>>> names == list(CHAINS)
True
>>> training_chains("some-key")[1][1].to_dict() == training_chains("some-key")[1][1].to_dict()
True
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ._core import Chain, Perturbation
from .presets import preset

__all__ = ["RECIPE", "CHAINS", "training_chains"]

#: the chains (name -> what it does) and the seed their parameters are drawn from
RECIPE: dict[str, Any] = {
    "seed": 20261207,
    "chains": {
        "stored": "as stored",
        "design": "long side U{768..1280} (Lanczos), JPEG quality U{75..95} 4:2:0",
        "web": "long side U{384..640} (Lanczos), JPEG quality U{60..80} 4:2:0",
        "webp": "lossy WebP quality U{70..90}, same size",
        "screenshot": "the 'screenshot' preset (display scale 0.5, area resample, sharpening 0.3, PNG)",
    },
}
CHAINS: tuple[str, ...] = tuple(RECIPE["chains"])


def training_chains(key: str, seed: int = RECIPE["seed"]) -> list[tuple[str, Chain]]:
    """The laundering chains one training image goes through, parameters drawn from ``seed`` and its key."""
    rng = np.random.default_rng(int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:12], 16))
    design = Perturbation("whatsapp", {"long_side": int(rng.integers(768, 1281)), "quality": int(rng.integers(75, 96)),
                                       "aspect": None})
    web = Perturbation("whatsapp", {"long_side": int(rng.integers(384, 641)), "quality": int(rng.integers(60, 81)),
                                    "aspect": None})
    webp = Perturbation("webp", {"quality": int(rng.integers(70, 91))})
    return [("stored", Chain([])), ("design", Chain([design])), ("web", Chain([web])), ("webp", Chain([webp])),
            ("screenshot", preset("screenshot"))]
