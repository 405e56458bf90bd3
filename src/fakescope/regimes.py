"""Image regimes and calibration-group conventions shared by detectors, fusion, training and the build.

Thumbnails (smaller side at most :data:`THUMBNAIL_MAX_SIDE`) behave unlike photos and are
calibrated on their own; :func:`regime_of` says which regime an image belongs to.  Nothing here
imports the rest of the package, so any layer may use it.
"""

from __future__ import annotations

__all__ = ["REGIMES", "THUMBNAIL_MAX_SIDE", "HELDOUT_PREFIX", "regime_of"]

REGIMES = ("thumbnail", "full")
THUMBNAIL_MAX_SIDE = 64  # CIFAR-size images behave unlike photos: calibrated on their own
HELDOUT_PREFIX = "heldout:"  # calibration groups of fakes from decoders no detector trained on


def regime_of(min_side: int | None) -> str:
    """``"thumbnail"`` for an image whose smaller side is at most ``THUMBNAIL_MAX_SIDE``, else ``"full"``.

    >>> regime_of(32), regime_of(65), regime_of(None)
    ('thumbnail', 'full', 'full')
    """
    return "thumbnail" if min_side is not None and min_side <= THUMBNAIL_MAX_SIDE else "full"
