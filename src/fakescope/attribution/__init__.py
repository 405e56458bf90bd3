"""Attribution: which generator made an image (closed set), ``unknown`` for one neither shipped nor
enrolled (open set), and few-shot enrolment of new generators into a user registry.

>>> from fakescope.attribution import canonical
>>> canonical("SDXL")
('sdxl', 'diffusion-unet')

The shipped model is made by ``fakescope build attribution`` (:mod:`fakescope.build.attribution`);
docs/benchmarks/attribution.md measures it.
"""

from __future__ import annotations

from .families import FAMILIES, FAMILY_NAMES, GENERATORS, canonical, family_of, family_words, generator_of
from .runtime import ATTRIBUTION_CARD, Attributor, Registry, default_registry_path, image_features

__all__ = ["FAMILIES", "FAMILY_NAMES", "GENERATORS", "canonical", "family_of", "family_words", "generator_of",
           "ATTRIBUTION_CARD", "Attributor", "Registry", "default_registry_path", "image_features"]
