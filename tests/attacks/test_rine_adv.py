"""``rine-adv``: rine's head adversarially trained by the build step of the same name."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def test_sign_minus_one_makes_a_real_look_fake(cifake_val) -> None:
    """The adversarial training attacks reals too (toward "fake"): ``sign=-1`` raises the logit."""
    from fakescope.attacks import _gradient_attack
    from fakescope.attacks.evaluate import Target
    from fakescope.training.data import load_rgb

    reals = np.stack([load_rgb(p) for p in cifake_val["real"][:4]])
    adv = _gradient_attack(reals, eps=4 / 255, detector="cnnspot", rng=np.random.default_rng(0), norm="linf",
                           steps=3, sign=-np.ones(len(reals)))
    assert np.abs(adv.astype(int) - reals.astype(int)).max() <= 4
    t = Target("cnnspot", 32)
    assert t.scores(list(adv))[0].mean() > t.scores(list(reals))[0].mean() + 0.5


def test_build_rine_adv_on_a_few_train_rows(tmp_path) -> None:
    """One round on six train images: PGD within 4/255 through the head, a refitted head that gets its
    own adversarial crops right, an ONNX graph equal to that head, a card the detector loads."""
    from fakescope.build.rine import train_records
    from fakescope.build.rine_adv import build_rine_adv
    from fakescope.detectors.base import load_card
    from fakescope.detectors.rine import RineDetector

    train, cal = train_records(None, "train"), train_records(None, "calibration")
    rows = [r for r in train if r.label == 1][:3] + [r for r in train if r.label == 0][:3]
    cal_rows = [r for r in cal if r.label == 1][:2] + [r for r in cal if r.label == 0][:2]
    d = build_rine_adv(records=rows, calibration=cal_rows, out_dir=tmp_path, recipe={"rounds": 1, "steps": 2}, jobs=1)
    (r0,) = d["metrics"]["rounds"]
    assert 0 < r0["max_linf_grey_levels"] <= 4
    assert r0["fakes_missed_after_refit"] <= r0["fakes_missed_before_refit"]
    assert d["metrics"]["onnx_parity"] < 1e-3 and d["extra"]["recipe"]["rounds"] == 1
    det = RineDetector(load_card("rine-adv", tmp_path / "rine-adv.json"))
    assert det.name == "rine-adv" and det.card.family == "rine"
    from fakescope.io.decode import load

    s = det.raw_scores([load(r.path).image for r in rows])
    assert s.shape == (6,) and np.isfinite(s).all()


def test_shipped_rine_adv_is_registered_fresh_and_not_default() -> None:
    from fakescope.build import steps
    from fakescope.detectors import create_detector, list_detectors
    from fakescope.detectors.base import WEIGHTS_DIR
    from fakescope.fusion import default_detectors, default_regime_detectors

    assert "rine-adv" in list_detectors()
    det = create_detector("rine-adv")
    card = json.loads((WEIGHTS_DIR / "rine-adv.json").read_text())
    assert card["metrics"]["inputs_sha256"] and len(card["metrics"]["rounds"]) == card["extra"]["recipe"]["rounds"]
    rine = create_detector("rine")
    assert tuple(card["extra"]["stages"]) == rine.stages and det.max_crops == rine.max_crops
    defaults = set(default_detectors()) | {d for v in (default_regime_detectors() or {}).values() for d in v}
    assert "rine-adv" not in defaults
    assert steps()["rine-adv"].up_to_date(), "run `fakescope build rine-adv`"
