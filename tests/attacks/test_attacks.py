"""Attacks on the shipped detectors' twins: budgets, score drops, frequency bands, the CLI report."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fakescope.attacks import ATTACKS, attack, band_mask, band_project, parse_eps  # noqa: E402
from fakescope.errors import UsageError  # noqa: E402


@pytest.fixture(scope="module")
def fakes(cifake_val) -> np.ndarray:
    from fakescope.training.data import load_rgb

    return np.stack([load_rgb(p) for p in cifake_val["fake"][:6]])


def test_parse_eps() -> None:
    assert parse_eps("4/255") == 4 / 255 and parse_eps("0.5") == 0.5
    for bad in ("x", "2", "-1/255", "1/0"):
        with pytest.raises(UsageError):
            parse_eps(bad)


@pytest.mark.parametrize("name", ["npr-thumb", "cnnspot", "cnnspot-adv", "safe", "patchcraft", "rine", "rine-adv"])
def test_twins_match_the_onnx_detectors(name: str, fakes: np.ndarray) -> None:
    from fakescope.attacks.twins import parity

    # tile networks: float rounding only; rine: Pillow's uint8 rounding inside its resize, reproduced
    assert parity(name, list(fakes[:3])) < (0.1 if name.startswith("rine") else 1e-3)


@pytest.mark.parametrize("method,detector", [("fgsm", "cnnspot"), ("pgd", "npr-thumb"), ("pgd", "fusion"),
                                             ("pgd-l2", "safe")])
def test_attack_respects_the_budget_and_lowers_the_attacked_score(method: str, detector: str,
                                                                   fakes: np.ndarray) -> None:
    from fakescope.attacks.evaluate import Target

    eps = 4 / 255
    if detector == "fusion":  # rine's twin runs Lite0 at 224 px: fewer images and steps keep the test short
        fakes = fakes[:3]
    steps = {"fgsm": {}, "pgd": {"steps": 2 if detector == "fusion" else 4}}.get(method, {"steps": 4})
    adv = attack(method, fakes, eps=eps, detector=detector, seed=0, **steps)
    assert adv.dtype == np.uint8 and adv.shape == fakes.shape
    d = adv.astype(int) - fakes.astype(int)
    if method == "pgd-l2":  # per-image L2 radius eps * sqrt(H W 3), in grey levels, + rounding
        assert np.sqrt((d.reshape(len(d), -1) ** 2).sum(1)).max() <= 4 * np.sqrt(32 * 32 * 3) + 0.5 * np.sqrt(3072)
    else:
        assert np.abs(d).max() <= 4
    assert np.abs(d).max() > 0
    t = Target(detector, 32)  # scored by the real ONNX detectors (the fusion: its calibrated stacker)
    before, _ = t.scores(list(fakes))
    after, _ = t.scores(list(adv))
    assert after.mean() < before.mean() - 0.5
    assert (after < before).all()


@pytest.mark.parametrize("band", ["high", "low"])
def test_frequency_pgd_perturbation_lies_in_the_band(band: str, fakes: np.ndarray) -> None:
    adv = attack(f"freq-{band}", fakes, eps=8 / 255, detector="cnnspot", seed=0, steps=3)
    d = (adv.astype(np.float64) - fakes.astype(np.float64)).transpose(0, 3, 1, 2)
    # pixels at 0 or 255 clip the perturbation; use images away from the range's ends
    keep = [(f.min() > 8) and (f.max() < 247) for f in fakes]
    d = d[np.array(keep)] if any(keep) else d
    p = np.abs(np.fft.fft2(d)) ** 2
    inside = p[..., band_mask(32, 32, band)].sum() / p.sum()
    assert inside > 0.85, inside  # the rest: rounding to grey levels (white noise, ~1/12 level²)
    assert np.abs(d).max() <= 8


def test_band_projection_is_exact() -> None:
    x = torch.randn(2, 3, 16, 16)
    hi, lo = torch.from_numpy(band_mask(16, 16, "high")), torch.from_numpy(band_mask(16, 16, "low"))
    a, b = band_project(x, hi), band_project(x, lo)
    assert torch.allclose(a + b, x, atol=1e-5)
    assert float((torch.fft.fft2(a).abs() * lo).max()) < 1e-4


def test_black_box_attacks(fakes: np.ndarray) -> None:
    from fakescope.attacks.evaluate import psnr

    lau = attack("launder", fakes)
    assert lau.shape == fakes.shape and not np.array_equal(lau, fakes)
    gp = attack("ganprintr", fakes)
    assert gp.shape == fakes.shape and 18 < np.mean([psnr(a, b) for a, b in zip(fakes, gp)]) < 60
    assert set(ATTACKS.names()) >= {"fgsm", "pgd", "pgd-l2", "freq-high", "freq-low", "launder", "ganprintr"}


def test_cli_attack_writes_report_with_documented_fields(tmp_path, cifake_val) -> None:
    from fakescope.cli import main

    data = tmp_path / "data"
    for c in ("real", "fake"):
        (data / c).mkdir(parents=True)
        for p in cifake_val[c][:4]:
            shutil.copy(p, data / c / p.name)
    out = tmp_path / "out"
    rc = main(["attack", str(data), "--method", "fgsm", "--eps", "4/255", "--detector", "cnnspot",
               "--targets", "cnnspot,fusion", "--defence", "jpeg75", "--out", str(out)])
    assert rc == 0
    r = json.loads((out / "report.json").read_text())
    assert r["eps"] == pytest.approx(4 / 255) and r["eps_text"] == "4/255" and r["n_fakes"] == 4
    for t in ("cnnspot", "fusion"):
        m = r["targets"][t]
        for k in ("evasion_rate", "tpr_at_1fpr_before", "tpr_at_1fpr_after", "flagged_before", "flagged_after",
                  "auc_before", "auc_after"):
            assert 0.0 <= m[k] <= 1.0
        assert set(r["defences"]["jpeg75"][t]) >= {"tpr_at_1fpr_purified_attacked", "clean_auc_cost"}
    assert r["perturbation"]["linf_grey_levels"] <= 4 and 20 < r["perturbation"]["psnr_db"] < 80
    assert 0 < r["perturbation"]["ssim"] <= 1
    assert len(list((out / "images").glob("*.png"))) == 4 and (out / "report.md").read_text().startswith("# Attack")
    assert main(["attack", str(data), "--method", "nope", "--out", str(out)]) == 2
