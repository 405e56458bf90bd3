"""Image regimes and calibration-group conventions shared by detectors, fusion, training and the build.

Thumbnails (smaller side at most :data:`THUMBNAIL_MAX_SIDE`) behave unlike photos and are
calibrated on their own; :func:`regime_of` says which regime an image belongs to.  Nothing here
imports the rest of the package, so any layer may use it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["REGIMES", "THUMBNAIL_MAX_SIDE", "HELDOUT_PREFIX", "MADE_THUMBNAIL", "SIZE_BOUNDS", "regime_of",
           "size_class", "condition_key", "fit_weights"]

REGIMES = ("thumbnail", "full")
THUMBNAIL_MAX_SIDE = 64  # CIFAR-size images behave unlike photos: calibrated on their own
HELDOUT_PREFIX = "heldout:"  # calibration groups of fakes from decoders no detector trained on
#: the calibration variant that makes a thumbnail of a larger image (long side 64, JPEG q90; the same
#: chain as the held-out scores' ``thumbnail-64`` condition)
MADE_THUMBNAIL = "thumbnail-64"


def regime_of(min_side: int | None) -> str:
    """``"thumbnail"`` for an image whose smaller side is at most ``THUMBNAIL_MAX_SIDE``, else ``"full"``.

    >>> regime_of(32), regime_of(65), regime_of(None)
    ('thumbnail', 'full', 'full')
    """
    return "thumbnail" if min_side is not None and min_side <= THUMBNAIL_MAX_SIDE else "full"


#: bounds (exclusive) of the smaller-side classes of the full regime that get false-positive thresholds of
#: their own where held-out real photos need them: web-size copies of photos (a 128-, 256- or 384-px JPEG) look
#: fake to the detectors far more often than the photos themselves, and the more so the smaller they are
SIZE_BOUNDS: tuple[int, ...] = (160, 320, 480)


def size_class(min_side: int | None) -> str:
    """The size class of a full-resolution image by its smaller side (``""`` for a thumbnail or an unknown size).

    >>> [size_class(s) for s in (32, 65, 159, 160, 319, 479, 480, 4000, None)]
    ['', '65-159', '65-159', '160-319', '160-319', '320-479', '480+', '480+', '']
    """
    if min_side is None or regime_of(min_side) == "thumbnail":
        return ""
    lower = THUMBNAIL_MAX_SIDE + 1
    for upper in SIZE_BOUNDS:
        if min_side < upper:
            return f"{lower}-{upper - 1}"
        lower = upper
    return f"{lower}+"


def condition_key(compression: str | None, min_side: int | None) -> str:
    """The key of a per-condition threshold: the compression class, and the size class where there is one.

    >>> condition_key("jpeg", 200), condition_key("jpeg", 48), condition_key(None, 200)
    ('jpeg@160-319', 'jpeg', '')
    """
    if not compression:
        return ""
    s = size_class(min_side)
    return f"{compression}@{s}" if s else compression


def fit_weights(min_sides: Sequence[int | None], variants: Sequence[str] | None) -> np.ndarray:
    """Row weights for fitting a regime's stacker on calibration rows.

    Thumbnails come in two kinds: images stored that small (CIFAKE's 32-px photos and fakes) and
    thumbnails made from larger images (the :data:`MADE_THUMBNAIL` variant).  The two kinds carry equal
    total weight in the thumbnail regime, so the stacker is not the stacker of whichever kind has more
    rows (2,000 CIFAKE rows beside ~70 made thumbnails would otherwise decide alone, and a detector that
    ranks CIFAKE backwards would be turned against every other thumbnail).  Every other row weighs 1;
    without variants, or with only one kind present, every row weighs 1.  The weights average 1 within
    the thumbnail regime.

    >>> fit_weights([32, 32, 32, 64, 500], ["original", "jpeg90", "original", MADE_THUMBNAIL, "original"]).tolist()
    [0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 2.0, 1.0]
    """
    w = np.ones(len(min_sides))
    if variants is None:
        return w
    thumb = np.array([regime_of(s) == "thumbnail" for s in min_sides], bool)
    made = thumb & (np.asarray(list(variants)) == MADE_THUMBNAIL)
    native = thumb & ~made
    n_made, n_native = int(made.sum()), int(native.sum())
    if n_made and n_native:
        total = n_made + n_native
        w[made] = total / (2 * n_made)
        w[native] = total / (2 * n_native)
    return w
