"""Training: splits, format alignment, models, ONNX export, metrics and a short real training run."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from fakescope.errors import UsageError  # noqa: E402
from fakescope.training import augment, data, evaluate  # noqa: E402
from fakescope.training.autoencoder import psnr, reconstruct, train_autoencoder  # noqa: E402
from fakescope.training.export import export_onnx, onnx_max_abs_diff  # noqa: E402
from fakescope.training.models import (HELDOUT_UPSAMPLERS, UPSAMPLERS, ConvAutoEncoder, FourierUpsample,  # noqa: E402
                                      NPRNet, npr_residual)


# --- models and export -------------------------------------------------------------------------

def test_npr_residual_is_zero_for_nearest_upsampled_images():
    g = torch.Generator().manual_seed(0)
    small = torch.rand(2, 3, 8, 8, generator=g)
    up = small.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert torch.count_nonzero(npr_residual(up)) == 0
    x = torch.rand(1, 3, 16, 16, generator=g)
    r = npr_residual(x)
    assert torch.count_nonzero(r[:, :, ::2, ::2]) == 0  # the reference pixel of every block
    assert torch.allclose(r[:, :, 1::2, 1::2], x[:, :, 1::2, 1::2] - x[:, :, ::2, ::2])


@pytest.mark.parametrize("image_weight", [0.0, 0.5])
def test_onnx_export_matches_torch(image_weight):
    torch.manual_seed(0)
    model = NPRNet(width=4, image_weight=image_weight).eval()
    # non-trivial batch-norm statistics, so folding them into the convolutions is exercised
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    blob = export_onnx(model, example_size=32)
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(0, 255, (n, 3, h, w)).astype(np.float32) for n, h, w in ((3, 96, 96), (1, 32, 32), (2, 48, 64))]
    assert onnx_max_abs_diff(model, blob, inputs) < 1e-4


def test_autoencoder_shapes_and_learning():
    rng = np.random.default_rng(0)
    # smooth synthetic "photos": low-frequency noise, so a few steps already help
    base = rng.uniform(0, 255, (4, 12, 12, 3))
    imgs = [np.clip(b.repeat(8, 0).repeat(8, 1), 0, 255).astype(np.uint8) for b in base]
    for variant in UPSAMPLERS + HELDOUT_UPSAMPLERS:
        untrained = ConvAutoEncoder(upsample=variant, width=8).eval()
        model = train_autoencoder(imgs, upsample=variant, rng=np.random.default_rng(1), steps=150, crop=32,
                                  batch=8, lr=3e-3, width=8)
        rec = reconstruct(model, imgs[0])
        assert rec.shape == (96, 96, 3) and rec.dtype == np.uint8
        # 150 steps on 8x8-blocky noise: learning shows as a clear gain over the untrained net
        assert psnr(rec, imgs[0]) > psnr(reconstruct(untrained, imgs[0]), imgs[0]) + 1.0
    with pytest.raises(ValueError):
        ConvAutoEncoder(upsample="lanczos")
    # the held-out decoders are not the training ones
    assert not set(UPSAMPLERS) & set(HELDOUT_UPSAMPLERS)


def test_fourier_upsampling_is_band_limited_interpolation():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    y = FourierUpsample()(x)
    assert y.shape == (2, 3, 16, 16)
    # no new frequencies: the up-sampled spectrum is zero outside the original band (-4..4 cycles;
    # the real part splits the even-size Nyquist bin between -4 and +4)
    spec = torch.fft.fftshift(torch.fft.fft2(y), dim=(-2, -1)).abs()
    outside = spec.clone()
    outside[..., 4:13, 4:13] = 0
    assert float(outside.max()) < 1e-9 * float(spec.max())
    # and the mean is kept
    assert torch.allclose(y.mean(dim=(-2, -1)), x.mean(dim=(-2, -1)))


def test_quantize_int8_keeps_a_small_net_close(tmp_path):
    pytest.importorskip("onnx")
    from fakescope.training.export import load_onnx_weights, quantize_int8

    torch.manual_seed(0)
    model = NPRNet(width=8, image_weight=1.0, norm="none").eval()
    src = tmp_path / "m.onnx"
    export_onnx(model, src, example_size=32)
    # reload: the same weights come back into a fresh module
    again = load_onnx_weights(NPRNet(width=8, image_weight=1.0, norm="none"), src)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    rng = np.random.default_rng(0)
    calib = [rng.uniform(0, 255, (4, 3, 32, 32)).astype(np.float32) for _ in range(8)]
    dst = quantize_int8(src, tmp_path / "m.int8.onnx", calib, keep_fp32=["/features/features.0/features.0.0/Conv"])
    import onnx
    import onnxruntime as ort

    ops = {n.op_type for n in onnx.load(str(dst)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    sess = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    x = rng.uniform(0, 255, (6, 3, 48, 64)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = sess.run(None, {"image": x})[0]
    assert got.shape == ref.shape and not np.array_equal(got, ref)
    assert np.max(np.abs(got - ref)) < 0.05 * max(1.0, float(np.abs(ref).max()))


# --- format alignment ---------------------------------------------------------------------------

def test_views_replay_exactly_and_never_resize():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    p1 = augment.sample_view(np.random.default_rng(5), 200, 300, 96, lossless_source=True)
    p2 = augment.sample_view(np.random.default_rng(5), 200, 300, 96, lossless_source=True)
    assert p1 == p2
    v = augment.apply_view(img, p1)
    assert v.shape == (96, 96, 3)
    assert np.array_equal(augment.apply_view(img, p1), v)
    lossless = augment.ViewParams(8, 16, 96, 96, augment.EncodingParams(), augment.EncodingParams())
    assert np.array_equal(augment.apply_view(img, lossless), img[8:104, 16:112])
    with pytest.raises(UsageError):
        augment.sample_view(rng, 50, 300, 96, lossless_source=True)


def test_encoding_distribution_is_the_same_for_both_classes():
    """The view parameters do not depend on the label: only on the source's own format."""
    draws = [augment.sample_view(np.random.default_rng(i), 512, 512, 96, lossless_source=False) for i in range(400)]
    q = np.array([d.post.quality for d in draws])
    assert 0.4 < np.mean(q > 0) < 0.6 and q[q > 0].min() >= 65 and q.max() <= 100
    assert all(d.pre.quality == 0 for d in draws)  # JPEG sources are not pre-encoded
    pre = [augment.sample_view(np.random.default_rng(i), 512, 512, 96, lossless_source=True).pre.quality
           for i in range(400)]
    assert 0.4 < np.mean(np.array(pre) > 0) < 0.6
    aligned = np.mean([d.y % 8 == 0 and d.x % 8 == 0 for d in draws])
    assert aligned > 0.7


def test_jpeg_roundtrip_changes_pixels_but_not_shape():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    j = augment.jpeg(img, 70)
    assert j.shape == img.shape and not np.array_equal(j, img)
    with pytest.raises(UsageError):
        augment.jpeg(img, 0)


# --- metrics ------------------------------------------------------------------------------------

def test_metrics_match_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = y * 0.8 + rng.normal(size=300)
    s[:20] = np.round(s[:20])  # ties
    assert evaluate.roc_auc(y, s) == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)
    assert evaluate.average_precision(y, s) == pytest.approx(metrics.average_precision_score(y, s), abs=1e-12)
    fpr, tpr, _ = metrics.roc_curve(y, s)
    assert evaluate.tpr_at_fpr(y, s, 0.05) == pytest.approx(tpr[fpr <= 0.05].max(), abs=1e-12)


def test_platt_and_stacking_recover_a_known_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    y = (rng.random(4000) < 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.5)))).astype(int)
    st = evaluate.fit_stacking(x, y)
    # balanced class weights shift the intercept, not the slopes
    assert st["coef"][0] == pytest.approx(2.0, abs=0.25) and st["coef"][1] == pytest.approx(-1.0, abs=0.2)
    p = evaluate.fit_platt(x[:, 0], y)
    assert p["a"] > 1.0


# --- splits -------------------------------------------------------------------------------------

def test_splits_are_deterministic_disjoint_and_hold_out_generators(shared_data):
    recs = data.all_records(shared_data, include_system=False)
    assert recs == data.all_records(shared_data, include_system=False)
    by_split = {s: {r.key for r in recs if r.split == s and r.source != "cifake"} for s in ("train", "calibration", "test")}
    assert not (by_split["train"] & by_split["calibration"]) and not (by_split["train"] & by_split["test"])
    assert not (by_split["calibration"] & by_split["test"])
    cif = [r for r in recs if r.source == "cifake"]
    assert sum(r.split == "train" for r in cif) == 4000 and sum(r.split == "calibration" for r in cif) == 1000
    assert sum(r.split == "test" for r in cif) == 1000 and all("val/" in r.key for r in cif if r.split == "test")
    for r in recs:
        if r.group.startswith("unseen:"):
            assert r.split == "test" and r.group[len("unseen:"):] in data.HELD_OUT_GENERATORS
        if r.source == "modern" and r.label == 1 and r.split != "test":
            assert r.group[len("modern:"):] not in data.HELD_OUT_GENERATORS
    # every grid stays in one split
    modern = [r for r in recs if r.source == "modern"]
    for key in {r.key for r in modern}:
        assert len({r.split for r in modern if r.key == key}) == 1
    shares = np.array([sum(r.split == s for r in modern) for s in ("train", "calibration", "test")]) / len(modern)
    assert shares[0] > 0.5 and shares[1] > 0.08 and shares[2] > 0.15


# --- a short real training run -----------------------------------------------------------------

def test_short_training_on_cifake_beats_chance_by_far(shared_data):
    """~30 s on 2 cores: 300+300 CIFAKE train images → AUC > 0.85 on 100+100 CIFAKE test images."""
    from fakescope.training.loops import NPRConfig, load_train_data, torch_scores, train_npr

    torch.set_num_threads(2)
    recs = data.cifake_records(shared_data)
    train = [r for r in recs if r.split == "train" and int(r.key.rsplit("/", 1)[1]) < 300]
    assert len(train) == 600
    td = load_train_data(train)
    cfg = NPRConfig(width=16, image_weight=1.0, steps=300, batch_cifake=64, batch_crops=0, lr=3e-3)
    model = train_npr(td, cfg, rng=np.random.default_rng(0))
    test = [r for r in recs if r.split == "test" and int(r.key.rsplit("/", 1)[1]) < 100]
    imgs = [data.load_rgb(r.path) for r in test]
    s = torch_scores(model, imgs)
    assert evaluate.roc_auc([r.label for r in test], s) > 0.85


def test_split_is_frozen_whatever_optional_files_a_machine_has(shared_data, tmp_path):
    """The split comes from the committed manifest: leaving out the system photos (a machine without
    the Debian packages) or any other file moves no other file to another split."""
    from fakescope.io.splits import read_split, write_rows

    full = {r.key + r.path: r.split for r in data.all_records(shared_data, include_system=True, wild=True)}
    bare = {r.key + r.path: r.split for r in data.all_records(shared_data, include_system=False, wild=True)}
    assert bare and all(full[k] == s for k, s in bare.items())
    assert not any(r.path.startswith("/usr/") for r in data.all_records(shared_data, include_system=False))
    # a manifest that lists files this machine lacks: those are skipped, the others keep their rows
    rows = read_split()
    ghost = [r.__class__(**{**r.__dict__, "path": "/nonexistent/" + r.path.replace("/", "_")}) for r in rows[:50]]
    write_rows(ghost + rows, tmp_path / "split.csv")
    got = data._records(shared_data, ("cifake", "modern", "photos"), manifest=tmp_path / "split.csv")
    assert [r.path for r in got] == [r.path for r in data.all_records(shared_data)]


def test_split_manifest_matches_the_data(shared_data):
    """Every file the manifest lists that this machine has carries the listed bytes; the derivation
    rules reproduce every row for the files present (nothing is in the manifest by accident)."""
    from fakescope.build.splits import derive_rows
    from fakescope.io.splits import check_split, read_split

    rows = read_split()
    report = check_split(rows, shared_data)
    assert report["changed"] == []
    assert not [p for p in report["missing"] if not p.startswith("/usr/")]  # only optional packages may be absent
    derived = {r.path: r for r in derive_rows(shared_data)}
    listed = {r.path: r for r in rows}
    assert set(derived) <= set(listed)
    # the photos' ranks were cut over the shared and the system photos together: they re-derive only
    # on a machine with every system photo (elsewhere the frozen rows are what keeps them in place)
    every_photo = not [p for p in report["missing"] if p.startswith("/usr/")]
    assert all(derived[p] == listed[p] for p in derived if every_photo or listed[p].source != "photos")
    assert {r.split for r in rows} == {"train", "calibration", "test", "wild"}
    assert {r.source for r in rows if r.split == "wild"} == {"comfyui", "camera", "faces"}
