"""``ensemble``: learned stacking of low-level experts (the ALEI idea).

Different low-level traces generalise to different forgeries (up-sampling residuals, wavelet
bands, texture-patch contrast, the spectrum): no single expert covers every generator.
The ensemble runs its member detectors and combines their raw scores with a logistic
stacker fitted on the held-out calibration split (each group weighted equally inside its
class), separately for thumbnails (smaller side <= 64 px) and full-resolution images, the
same regimes as :mod:`fakescope.fusion`.  Its output is the stacker's logit; the card's
Platt parameters map it to a probability.

The card (``weights/ensemble.json``) names the members and the sha256 of each member's
weights at fitting time: loading refuses a member whose weights changed since, because the
stacker's coefficients would no longer mean anything.

Reference: Li et al. 2025, "Towards Generalizable AI-Generated Image Detection via Adaptive
Low-level Experts Injection" (ALEI); stacking: Wolpert 1992.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import WeightsError
from ..regimes import regime_of
from . import DETECTORS
from .base import Detector, DetectorCard, load_card

__all__ = ["EnsembleDetector"]


class EnsembleDetector(Detector):
    """Stacked member detectors (see the module docstring)."""

    name = "ensemble"

    def __init__(self, card: DetectorCard) -> None:
        super().__init__(card)
        from . import create_detector

        ex = card.extra
        try:
            self.member_names: tuple[str, ...] = tuple(ex["members"])
            self.stackers = {r: (np.asarray(s["mu"], np.float64), np.asarray(s["sd"], np.float64),
                                 np.asarray(s["coef"], np.float64), float(s["intercept"]))
                             for r, s in ex["stacking"].items()}
            pinned = dict(ex.get("member_sha256", {}))
        except (KeyError, TypeError, ValueError) as e:
            raise WeightsError(f"the ensemble card is malformed: {e}") from e
        if set(self.stackers) != {"thumbnail", "full"}:
            raise WeightsError("the ensemble card needs 'thumbnail' and 'full' stackers")
        self.members: list[Detector] = []
        for m in self.member_names:
            det = create_detector(m)
            if pinned.get(m) and det.card.sha256 and det.card.sha256 != pinned[m]:
                raise WeightsError(f"ensemble member {m!r} has other weights than the ensemble was fitted on "
                                   f"({det.card.sha256[:12]}… != {pinned[m][:12]}…); refit it")
            self.members.append(det)
        self.min_side = min(d.min_side for d in self.members)
        for r, (mu, sd, coef, _) in self.stackers.items():
            if not (mu.shape == sd.shape == coef.shape == (len(self.members),)):
                raise WeightsError(f"the ensemble's {r} stacker does not match its {len(self.members)} members")

    def member_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """``(n_images, n_members)`` raw scores."""
        return np.stack([d.raw_scores(images) for d in self.members], axis=1)

    def raw_scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        x = self.member_scores(images)
        out = np.empty(len(images), np.float64)
        for i, im in enumerate(images):
            mu, sd, coef, b = self.stackers[regime_of(min(im.shape[:2]))]
            out[i] = float(((x[i] - mu) / sd) @ coef + b)
        return out


@DETECTORS.register("ensemble")
def _create(**kw: Any) -> Detector:
    return EnsembleDetector(load_card("ensemble", kw.pop("card_path", None)), **kw)
