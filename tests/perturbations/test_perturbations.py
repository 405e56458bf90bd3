"""Perturbations: every registered one on small synthetic arrays, plus the properties each must have."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakescope.errors import UnknownNameError, UsageError
from fakescope.perturbations import (
    PRESET_DOCS,
    SEVERITIES,
    Chain,
    Perturbation,
    apply_perturbation,
    get_perturbation,
    list_perturbations,
    list_presets,
    preset,
    sample_chain,
    sample_params,
)
from fakescope.perturbations.geometry import max_inscribed_rect

H, W = 48, 64


def smooth_image(h: int = H, w: int = W) -> np.ndarray:
    """Smooth ramps with a soft blob: little high-frequency energy, kind to codecs."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3))
    img[..., 0] = 40 + 170 * x / (w - 1)
    img[..., 1] = 30 + 150 * y / (h - 1)
    img[..., 2] = 90 + 80 * np.exp(-((x - w / 2) ** 2 + (y - h / 2) ** 2) / (2 * 9.0**2))
    return np.round(img).astype(np.uint8)


def textured_image(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    return np.clip(smooth_image(h, w).astype(int) + g.integers(-40, 41, (h, w, 3)), 0, 255).astype(np.uint8)


def hf_energy(img: np.ndarray) -> float:
    """Mean squared 4-neighbour Laplacian of the luma (high-frequency energy)."""
    yl = img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    lap = 4 * yl[1:-1, 1:-1] - yl[:-2, 1:-1] - yl[2:, 1:-1] - yl[1:-1, :-2] - yl[1:-1, 2:]
    return float(np.mean(lap**2))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


NAMES = list_perturbations()


def test_at_least_thirty_registered_with_five_levels_each():
    assert len(NAMES) >= 30
    for n in NAMES:
        spec = get_perturbation(n)
        assert len(spec.levels) == len(SEVERITIES) == 5, n
        assert spec.summary and spec.category


@pytest.mark.parametrize("name", NAMES)
def test_every_perturbation_is_pure_deterministic_and_typed(name):
    spec = get_perturbation(name)
    img = textured_image()
    before = img.copy()
    for sev in SEVERITIES:
        p1 = spec.sample_params(np.random.default_rng(100 + sev), sev)
        p2 = spec.sample_params(np.random.default_rng(100 + sev), sev)
        assert p1 == p2, "sampling must be deterministic given the rng"
        assert json.loads(json.dumps(p1)) == p1, "parameters must be plain JSON"
        out1 = spec(img, **p1)
        out2 = apply_perturbation(name, img, **json.loads(json.dumps(p1)))
        assert out1.dtype == np.uint8 and out1.ndim == 3 and out1.shape[2] == 3
        assert np.array_equal(out1, out2), "same parameters must give identical pixels"
        if spec.keeps_shape:
            assert out1.shape == img.shape
        assert out1.flags["C_CONTIGUOUS"]
    assert np.array_equal(img, before), "the input must not be modified"


def test_severity_and_rng_are_checked():
    with pytest.raises(UsageError, match="severity"):
        sample_params("jpeg", np.random.default_rng(0), 6)
    with pytest.raises(UsageError, match="rng"):
        get_perturbation("jpeg").sample_params(0, 1)  # type: ignore[arg-type]


def test_severity_orders_strength_for_graded_perturbations():
    img = textured_image(64, 64)
    for name in ("jpeg", "webp", "gaussian-blur", "gaussian-noise", "salt-pepper", "motion-blur", "median-blur"):
        errs = []
        for sev in (1, 3, 5):
            p = sample_params(name, np.random.default_rng(7), sev)
            errs.append(float(np.mean(np.abs(apply_perturbation(name, img, **p).astype(int) - img))))
        assert errs[0] < errs[1] < errs[2], (name, errs)


def test_jpeg_quality_100_is_close_to_identity():
    img = textured_image()
    assert psnr(img, apply_perturbation("jpeg", img, quality=100, subsampling="4:4:4")) > 40
    smooth = smooth_image()
    assert psnr(smooth, apply_perturbation("jpeg", smooth, quality=100, subsampling="4:2:0")) > 40
    low = apply_perturbation("jpeg", img, quality=20, subsampling="4:2:0")
    assert psnr(img, low) < 35


def test_chroma_subsampling_matters():
    img = textured_image()
    a = apply_perturbation("jpeg", img, quality=90, subsampling="4:4:4")
    b = apply_perturbation("jpeg", img, quality=90, subsampling="4:2:0")
    assert psnr(img, a) > psnr(img, b)
    with pytest.raises(UsageError, match="subsampling"):
        apply_perturbation("jpeg", img, quality=90, subsampling="4:1:1")


def test_double_jpeg_differs_from_single():
    img = textured_image()
    once = apply_perturbation("jpeg", img, quality=70)
    twice = apply_perturbation("double-jpeg", img, quality1=90, quality2=70)
    assert not np.array_equal(once, twice)
    assert abs(psnr(img, twice) - psnr(img, once)) < 2.0  # the second, harsher encoding dominates


def test_png_resave_and_identity_are_exact():
    img = textured_image()
    assert np.array_equal(apply_perturbation("png-resave", img, compress_level=9), img)
    assert np.array_equal(apply_perturbation("identity", img), img)


def test_lossy_codecs_change_pixels_but_stay_close():
    img = smooth_image()
    for name, kw in (("webp", {"quality": 90}), ("avif", {"quality": 85})):
        out = apply_perturbation(name, img, **kw)
        assert out.shape == img.shape
        assert 28 < psnr(img, out) < float("inf"), name


@pytest.mark.parametrize("name", ["gaussian-blur", "median-blur", "motion-blur"])
def test_blur_lowers_high_frequency_energy(name):
    img = textured_image()
    p = sample_params(name, np.random.default_rng(1), 3)
    assert hf_energy(apply_perturbation(name, img, **p)) < 0.5 * hf_energy(img)


@pytest.mark.parametrize("name", ["gaussian-noise", "poisson-noise", "salt-pepper"])
def test_noise_raises_high_frequency_energy(name):
    img = smooth_image()
    p = sample_params(name, np.random.default_rng(1), 3)
    assert hf_energy(apply_perturbation(name, img, **p)) > 2 * hf_energy(img) + 1.0


def test_noise_seed_is_the_only_randomness():
    img = smooth_image()
    a = apply_perturbation("gaussian-noise", img, sigma=8.0, seed=1)
    b = apply_perturbation("gaussian-noise", img, sigma=8.0, seed=1)
    c = apply_perturbation("gaussian-noise", img, sigma=8.0, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_sharpen_raises_high_frequency_energy():
    img = textured_image()
    assert hf_energy(apply_perturbation("sharpen", img, radius=1.5, percent=200, threshold=0)) > hf_energy(img)


def test_grayscale_gives_equal_channels_and_saturation_zero_too():
    img = textured_image()
    g = apply_perturbation("grayscale", img)
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 1], g[..., 2])
    s = apply_perturbation("saturation", img, factor=0.0)
    assert np.abs(s[..., 0].astype(int) - s[..., 2]).max() <= 1


def test_colour_neutral_parameters_are_identity():
    img = textured_image()
    for name, kw in (("brightness", {"factor": 1.0}), ("contrast", {"factor": 1.0}), ("saturation", {"factor": 1.0}),
                     ("gamma", {"gamma": 1.0})):
        assert np.abs(apply_perturbation(name, img, **kw).astype(int) - img).max() <= 1, name
    assert np.abs(apply_perturbation("hue", img, shift=360.0).astype(int) - img).max() <= 1
    darker = apply_perturbation("brightness", img, factor=0.5)
    assert darker.mean() < 0.6 * img.mean()
    assert apply_perturbation("contrast", img, factor=0.5).std() < img.std()


@pytest.mark.parametrize("interp", ["nearest", "bilinear", "bicubic", "lanczos", "area"])
def test_rescaling_sizes_for_every_interpolation(interp):
    img = textured_image()
    assert apply_perturbation(f"downscale-{interp}", img, scale=0.5).shape == (24, 32, 3)
    assert apply_perturbation(f"upscale-{interp}", img, scale=2.0).shape == (96, 128, 3)


def test_nearest_upscale_by_two_repeats_pixels():
    img = textured_image()
    up = apply_perturbation("upscale-nearest", img, scale=2.0)
    assert np.array_equal(up[::2, ::2], img)


def test_crops_and_preprocessing_shapes():
    img = textured_image(300, 400)
    assert apply_perturbation("random-crop", img, fraction=0.5, y=0.0, x=0.0).shape == (150, 200, 3)
    assert np.array_equal(apply_perturbation("random-crop", img, fraction=0.5, y=0.0, x=0.0), img[:150, :200])
    assert apply_perturbation("center-crop", img, size=224).shape == (224, 224, 3)
    assert np.array_equal(apply_perturbation("center-crop", img, size=224), img[38:262, 88:312])
    assert apply_perturbation("resize", img, size=224).shape == (224, 224, 3)
    assert apply_perturbation("resize", img, size=224, antialias=False, interpolation="area").shape == (224, 224, 3)
    assert apply_perturbation("resize-crop", img).shape == (224, 224, 3)
    small = textured_image(32, 32)
    assert apply_perturbation("center-crop", small, size=224).shape == (32, 32, 3)


def test_rotation_crops_to_the_inscribed_rectangle():
    img = textured_image(100, 200)
    assert np.array_equal(apply_perturbation("rotate", img, angle=0.0), img)
    out = apply_perturbation("rotate", img, angle=5.0)
    w, h = max_inscribed_rect(200, 100, 5.0)
    assert out.shape == (h - 2, w - 2, 3)
    # no empty corners: the reflected border never produces black wedges
    flat = np.full((100, 200, 3), 200, np.uint8)
    assert apply_perturbation("rotate", flat, angle=12.0).min() >= 199


def test_occlusion_paints_blocks():
    img = textured_image()
    out = apply_perturbation("occlusion", img, blocks=[[0.0, 0.0, 0.25, 0.25]], fill=[1, 2, 3])
    assert (out[:12, :16] == np.array([1, 2, 3], np.uint8)).all()
    assert np.array_equal(out[12:], img[12:])


def test_social_presets_cap_the_long_side_and_recompress():
    img = textured_image(1200, 2400)
    for name, side in (("instagram", 1080), ("twitter-x", 2048), ("facebook", 2048), ("whatsapp", 1600)):
        p = sample_params(name, np.random.default_rng(0), 1)
        out = apply_perturbation(name, img, **p)
        assert max(out.shape[:2]) <= side, name
        assert p["subsampling"] == "4:2:0" and 70 <= p["quality"] <= 85 and p["passes"] == 1
    # instagram crops 2:1 into its 1.91:1 limit
    ig = apply_perturbation("instagram", img, **sample_params("instagram", np.random.default_rng(0), 1))
    assert abs(ig.shape[1] / ig.shape[0] - 1.91) < 0.01
    small = textured_image(100, 120)
    once = apply_perturbation("whatsapp", small, passes=1)
    assert once.shape == small.shape and not np.array_equal(once, small)
    assert sample_params("facebook", np.random.default_rng(0), 4)["passes"] == 4


def test_screenshot_rescales_and_keeps_levels():
    img = smooth_image(100, 80)
    out = apply_perturbation("screenshot", img, scale=0.5, sharpen=0.0)
    assert out.shape == (50, 40, 3)
    assert abs(float(out.mean()) - float(img.mean())) < 3.0
    same = apply_perturbation("screenshot", img, scale=1.0, sharpen=0.0)
    assert np.abs(same.astype(int) - img).max() <= 1  # sRGB round trip only


def test_chain_replays_exactly_through_dict_and_json():
    rng = np.random.default_rng(3)
    chain = sample_chain([("downscale-area", 2), ("gaussian-noise", 2), "jpeg", {"name": "rotate", "severity": 1}],
                         rng, severity=3)
    img = textured_image(96, 128)
    out = chain.apply(img)
    d = json.loads(json.dumps(chain.to_dict()))
    assert np.array_equal(Chain.from_dict(d).apply(img), out)
    assert np.array_equal(Chain.from_json(chain.to_json()).apply(img), out)
    assert Chain.from_dict(d) == chain and hash(Chain.from_dict(d)) == hash(chain)
    assert str(chain).count("→") == 3 and str(chain).startswith("downscale-area(scale=")
    assert str(Chain()) == "identity" and np.array_equal(Chain().apply(img), img)
    again = sample_chain([("downscale-area", 2), ("gaussian-noise", 2), "jpeg", {"name": "rotate", "severity": 1}],
                         np.random.default_rng(3), severity=3)
    assert again == chain


def test_overrides_in_templates_and_bad_records():
    c = sample_chain([{"name": "jpeg", "severity": 5, "params": {"subsampling": "4:4:4"}}], np.random.default_rng(0))
    assert c.steps[0].params["subsampling"] == "4:4:4" and 30 <= c.steps[0].params["quality"] <= 49
    with pytest.raises(UnknownNameError, match="valid names: .*jpeg"):
        Perturbation("jpg", {})
    with pytest.raises(UsageError, match="no parameter"):
        Perturbation("jpeg", {"qualiti": 3})
    with pytest.raises(UsageError):
        Chain.from_dict({"nope": []})
    with pytest.raises(UsageError, match="uint8"):
        apply_perturbation("jpeg", np.zeros((8, 8, 3), np.float32), quality=50)


def test_presets_are_fixed_chains():
    assert {"instagram", "twitter-x", "facebook", "whatsapp", "png", "jpeg-95", "jpeg-75", "webp-80",
            "center-crop-224", "resize-224", "screenshot"} <= set(list_presets())
    assert set(PRESET_DOCS) == set(list_presets())
    img = textured_image(300, 260)
    for name in list_presets():
        c = preset(name)
        assert np.array_equal(c.apply(img), Chain.from_json(c.to_json()).apply(img)), name
    assert preset("resize-224").apply(img).shape == (224, 224, 3)
    with pytest.raises(UnknownNameError):
        preset("tiktok")
