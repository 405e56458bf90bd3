"""The ensemble: its stackers applied to its members' raw scores, and a refusal when a member changed."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fakescope
from fakescope.detectors.base import DetectorCard, WEIGHTS_DIR
from fakescope.detectors.ensemble import EnsembleDetector
from fakescope.errors import WeightsError


@pytest.fixture(scope="module")
def ensemble():
    return fakescope.create_detector("ensemble")


def test_ensemble_is_the_stacker_over_its_members(ensemble, cifake_val, data_dir):
    photo = fakescope.load(sorted((data_dir / "real_photos" / "kodak").glob("*.png"))[0]).image
    imgs = [fakescope.load(cifake_val["fake"][0]).image, photo]
    x = ensemble.member_scores(imgs)
    assert x.shape == (2, len(ensemble.member_names))
    got = ensemble.raw_scores(imgs)
    for i, regime in enumerate(("thumbnail", "full")):
        st = ensemble.card.extra["stacking"][regime]
        want = ((x[i] - np.asarray(st["mu"])) / np.asarray(st["sd"])) @ np.asarray(st["coef"]) + st["intercept"]
        assert got[i] == pytest.approx(want, abs=1e-9)


def test_ensemble_refuses_a_changed_member(tmp_path):
    d = json.loads((WEIGHTS_DIR / "ensemble.json").read_text())
    first = d["extra"]["members"][0]
    d["extra"]["member_sha256"][first] = "f" * 64
    p = tmp_path / "ensemble.json"
    p.write_text(json.dumps(d))
    with pytest.raises(WeightsError, match="refit"):
        EnsembleDetector(DetectorCard.load(p))


def test_ensemble_card_names_real_members():
    card = DetectorCard.load(WEIGHTS_DIR / "ensemble.json")
    assert set(card.extra["members"]) <= set(fakescope.list_detectors()) and len(card.extra["members"]) >= 3
    assert card.metrics["calibration_cv5_auc"]["auc"] > 0.9
