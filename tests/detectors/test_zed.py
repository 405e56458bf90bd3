"""The real-only ``zed`` detector: coding statistics of a shipped ONNX coder, its crops and its score."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakescope.detectors import create_detector, list_detectors
from fakescope.detectors.base import WEIGHTS_DIR
from fakescope.detectors.zed import STATISTICS, statistic, zed_crops, zed_stats
from fakescope.io.decode import load


def test_zed_crops_keep_native_pixels_and_refuse_tiny_images():
    img = np.random.default_rng(0).integers(0, 256, (300, 700, 3), dtype=np.uint8)
    c = zed_crops(img)
    assert c.shape == (4, 128, 128, 3)
    assert (c[0] == img[:128, :128]).all() and (c[3] == img[-128:, -128:]).all()
    assert zed_crops(img, max_crops=1).shape == (1, 128, 128, 3)
    small = zed_crops(img[:45, :70])  # smaller than a crop: one, cut to multiples of 8, never resized
    assert small.shape == (1, 40, 64, 3) and (small[0] == img[2:42, 3:67]).all()
    with pytest.raises(ValueError, match="at least 16x16"):
        zed_crops(img[:12, :100])


def test_statistics_are_the_documented_functions_of_nll_and_entropy():
    s = np.array([[5.0, 4.0, 6.0, 4.5, 7.0, 5.0], [4.0, 4.5, 6.0, 5.0, 7.0, 5.0]])
    d0, d1 = np.array([1.0, -0.5]), np.array([1.5, 1.0])
    assert statistic(s, "neg_delta01") == pytest.approx(-(d0 - d1))
    assert statistic(s, "abs_delta01", -1.0, 2.0) == pytest.approx(np.abs(d0 - d1 + 1.0) / 2.0)
    assert statistic(s, "neg_d0") == pytest.approx(-d0)
    assert statistic(s, "neg_nll0") == pytest.approx([-5.0, -4.0])
    assert set(STATISTICS) >= {"abs_delta01", "abs_d0"}
    with pytest.raises(ValueError, match="unknown zed statistic"):
        statistic(s, "nope")


def test_shipped_zed_scores_real_files_deterministically(shared_data):
    det = create_detector("zed")
    assert "zed" in list_detectors() and det.card.family == "zed" and det.card.sha256
    photo = load(sorted((shared_data / "real_photos" / "kodak").glob("*.png"))[0]).image
    fake = load(sorted((shared_data / "modern").rglob("*.png"))[0]).image
    st = det.stats([photo, fake])
    assert st.shape == (2, 6) and np.isfinite(st).all()
    # NLL and entropy are costs in bits per sub-pixel of 8-bit values
    assert (st > 0).all() and (st < 8.5).all()
    a = det.raw_scores([photo, fake])
    assert a.shape == (2,) and np.isfinite(a).all() and (a >= 0).all()  # a distance from the real photos' centre
    assert det.raw_scores([photo])[0] == pytest.approx(a[0], abs=1e-6)  # batching and order change nothing
    assert det.raw_scores([fake, photo])[1] == a[0]
    assert zed_stats(det.model, photo, max_crops=det.max_crops) == pytest.approx(st[0])
    assert det.raw_scores([]).shape == (0,)
    p = det.probability(float(a[0]))
    assert 0.0 <= p <= 1.0
    with pytest.raises(ValueError):
        det.raw_scores([photo[:, :, 0]])


def test_zed_card_says_it_trained_on_reals_only():
    card = json.loads((WEIGHTS_DIR / "zed.json").read_text())
    assert card["weights"] == "zed.onnx" and card["metrics"]["onnx_parity"] < 1e-3
    assert card["metrics"]["inputs_sha256"] and card["extra"]["recipe"]["steps"] > 0
    assert "real images only" in card["training_data"]
    assert card["metrics"]["final_nll_bits"] < card["metrics"]["first_nll_bits"]
    assert (WEIGHTS_DIR / "zed.onnx").stat().st_size < 3_000_000
