"""The shipped spectral detector and its features."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakescope.detectors import create_detector
from fakescope.detectors.base import WEIGHTS_DIR, sha256_file
from fakescope.detectors.spectral import FEATURE_NAMES, NumpyMLP, SpectralDetector, spectral_features, tile_features
from fakescope.errors import UsageError, WeightsError
from fakescope.training.evaluate import roc_auc


@pytest.fixture(scope="module")
def spectral() -> SpectralDetector:
    return create_detector("spectral")


def test_loads_weights_matching_card(spectral):
    assert spectral.card.weights == "spectral.npz"
    assert sha256_file(WEIGHTS_DIR / "spectral.npz") == spectral.card.sha256
    assert (WEIGHTS_DIR / "spectral.npz").stat().st_size < 5_000_000
    assert spectral.mlp.mean.shape == (len(FEATURE_NAMES),)
    assert "Closer Look" in spectral.card.extra["caveat"]


def test_tampered_card_is_refused(tmp_path):
    card = json.loads((WEIGHTS_DIR / "spectral.json").read_text())
    card["sha256"] = "f" * 64
    p = tmp_path / "spectral.json"
    p.write_text(json.dumps(card))
    with pytest.raises(WeightsError):
        create_detector("spectral", card_path=p)


def test_ranks_cifake_test_reals_below_fakes(spectral, cifake_test_images):
    imgs, labels = cifake_test_images
    s = spectral.raw_scores(imgs)
    assert s.shape == (len(imgs),) and np.isfinite(s).all()
    assert s[labels == 1].mean() > s[labels == 0].mean()
    assert roc_auc(labels, s) > 0.8


def test_scores_1024x768_and_32x32(spectral, photo_1024x768):
    f = spectral.features([photo_1024x768])
    assert f.shape == (1, len(FEATURE_NAMES)) and np.isfinite(f).all()
    assert f[0, FEATURE_NAMES.index("log2_tile")] == 7.0  # 128-px native tiles
    tiny = photo_1024x768[:32, :32]
    assert spectral.features([tiny])[0, FEATURE_NAMES.index("log2_tile")] == 5.0  # the whole 32-px image
    s = spectral.raw_scores([photo_1024x768, tiny])
    assert s.shape == (2,) and np.isfinite(s).all()


def test_tiles_are_native_crops():
    """Features of an image are the mean of its native tiles' features (nothing is resampled)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (256, 384, 3), dtype=np.uint8)
    from fakescope.detectors.base import grid_tiles

    tiles = np.stack(grid_tiles(img, 128, 8, align=8))
    assert tiles.shape == (6, 128, 128, 3)
    np.testing.assert_allclose(spectral_features(img), tile_features(tiles).mean(axis=0))


def test_checkerboard_artefacts_raise_the_periodic_peaks():
    """A faint period-2 checkerboard and period-4 stripes (transposed-convolution artefacts) show up
    as peak contrast at 1/2 and 1/4 cycle per pixel; the other features barely move."""
    rng = np.random.default_rng(0)
    clean = rng.normal(128, 20, (256, 256, 3))
    yy, xx = np.mgrid[:256, :256]
    checker = 3.0 * (-1.0) ** (yy + xx)
    stripes = 3.0 * np.cos(np.pi * xx / 2)
    base = spectral_features(clean.clip(0, 255).astype(np.uint8))
    f2 = spectral_features((clean + checker[..., None]).clip(0, 255).astype(np.uint8))
    f4 = spectral_features((clean + stripes[..., None]).clip(0, 255).astype(np.uint8))
    assert f2[FEATURE_NAMES.index("peak2_diag")] > base[FEATURE_NAMES.index("peak2_diag")] + 1.0
    assert f4[FEATURE_NAMES.index("peak4_axis")] > base[FEATURE_NAMES.index("peak4_axis")] + 0.3
    assert abs(f2[FEATURE_NAMES.index("log2_tile")] - base[FEATURE_NAMES.index("log2_tile")]) == 0


def test_mlp_round_trip_and_logistic_special_case():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    lr = NumpyMLP(np.zeros(3), np.ones(3), [np.array([[1.0], [2.0], [0.0]])], [np.array([0.5])])
    np.testing.assert_allclose(lr(x), x[:, 0] + 2 * x[:, 1] + 0.5)
    mlp = NumpyMLP(rng.normal(size=3), rng.uniform(1, 2, 3), [rng.normal(size=(3, 4)), rng.normal(size=(4, 1))],
                   [rng.normal(size=4), rng.normal(size=1)])
    np.testing.assert_allclose(NumpyMLP.from_arrays(mlp.to_arrays())(x), mlp(x))
    with pytest.raises(WeightsError):
        NumpyMLP(np.zeros(3), np.ones(3), [np.ones((3, 2))], [np.zeros(2)])


def test_rejects_bad_input():
    with pytest.raises(UsageError):
        spectral_features(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(UsageError):
        tile_features(np.zeros((1, 8, 8, 3), np.uint8))
