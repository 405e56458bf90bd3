"""Every registered detector: loads its shipped, verified weights and ranks real below fake."""

from __future__ import annotations

import numpy as np
import pytest

import fakescope
from fakescope.detectors import list_detectors
from fakescope.detectors.base import DetectorCard


@pytest.mark.parametrize("name", list_detectors())
def test_detector_loads_verified_weights_and_card(name):
    det = fakescope.create_detector(name)
    card = det.card
    assert isinstance(card, DetectorCard) and card.name == name == det.name
    if card.weights:
        assert card.verify() is not None
    for key in ("paper", "input_policy", "training_data", "split", "preprocessing"):
        assert getattr(card, key), f"card of {name} lacks {key}"
    assert card.metrics, f"card of {name} reports no held-out metrics"


def _full_resolution_test_images(n: int) -> tuple[list, list]:
    """Test-split modern fakes (seen generators) and test-split real photos/modern reals."""
    from fakescope.training.data import all_records

    test = [r for r in all_records() if r.split == "test" and r.source != "cifake"]
    fakes = [r for r in test if r.label == 1 and r.group.startswith("modern:")]
    reals = [r for r in test if r.label == 0]
    step_f, step_r = max(1, len(fakes) // n), max(1, len(reals) // n)
    return ([fakescope.load(r.path).image for r in reals[::step_r][:n]],
            [fakescope.load(r.path).image for r in fakes[::step_f][:n]])


#: detectors trained on full-resolution images only (not on CIFAKE's 32-px thumbnails)
FULL_RESOLUTION_ONLY = {"rine", "zed", "rine-adv"}
#: detectors measured weak on purpose-built benchmarks and kept out of the default sets: zed, the real-only
#: coding-cost detector, is near chance by source (docs/benchmarks/zed.md); here it must only lean the right way
MIN_AUC = {"zed": 0.5}


@pytest.mark.parametrize("name", list_detectors())
def test_detector_ranks_real_below_fake(name, cifake_val):
    det = fakescope.create_detector(name)
    n = 40
    if det.min_side > 32 or name in FULL_RESOLUTION_ONLY:
        # a detector that gives no evidence on CIFAKE's 32-px images (rigid) or never trained on them
        # (rine): full-resolution test images
        reals, fakes = _full_resolution_test_images(n)
        n = min(len(reals), len(fakes))
        assert n > 10
        real, fake = det.raw_scores(reals[:n]), det.raw_scores(fakes[:n])
    else:
        real = det.raw_scores([fakescope.load(p).image for p in cifake_val["real"][:n]])
        fake = det.raw_scores([fakescope.load(p).image for p in cifake_val["fake"][:n]])
    assert real.shape == fake.shape == (n,) and np.isfinite(real).all() and np.isfinite(fake).all()
    # a real and a fake image in the right order, and on average over the set
    assert float(np.mean(fake)) > float(np.mean(real))
    auc = float(np.mean(fake[:, None] > real[None, :]))
    # rine was chosen for how it holds on sources no one trained on (docs/benchmarks/generalisation.md:
    # 0.81 pooled as stored), not for the seen generators' small PNGs this subset holds
    assert auc > MIN_AUC.get(name, 0.7 if name in FULL_RESOLUTION_ONLY else 0.8), \
        f"{name}: AUC {auc:.2f} on {n}+{n} test images"


@pytest.mark.parametrize("name", list_detectors())
def test_detector_scores_large_and_tiny_images(name):
    det = fakescope.create_detector(name)
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    tiny = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    s = det.raw_scores([big, tiny])
    assert s.shape == (2,) and np.isfinite(s).all()
