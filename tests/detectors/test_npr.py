"""The shipped NPR detector: verified weights, real CIFAKE test images below fakes, tiling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakescope.detectors import create_detector
from fakescope.detectors.base import WEIGHTS_DIR, grid_tiles, sha256_file
from fakescope.detectors.npr import NPRDetector, tiles_to_batch
from fakescope.errors import UsageError, WeightsError
from fakescope.training.evaluate import roc_auc


@pytest.fixture(scope="module")
def npr() -> NPRDetector:
    return create_detector("npr")


def test_loads_weights_matching_card(npr):
    assert isinstance(npr, NPRDetector)
    assert npr.card.weights == "npr.int8.onnx" and npr.precision.startswith("int8")
    assert sha256_file(WEIGHTS_DIR / "npr.int8.onnx") == npr.card.sha256
    ref = npr.card.extra["reference_weights"]
    assert ref["file"] == "npr.onnx" and sha256_file(WEIGHTS_DIR / "npr.onnx") == ref["sha256"]
    assert (WEIGHTS_DIR / "npr.onnx").stat().st_size < 5_000_000
    assert (WEIGHTS_DIR / "npr.int8.onnx").stat().st_size < 1_000_000
    assert npr.card.calibration["method"] == "platt" and npr.card.calibration["a"] > 0
    # the card is the model build's: its step, recipe and input fingerprint (test metrics live in docs/benchmarks)
    assert npr.card.metrics["build"]["step"] == "npr" and npr.card.metrics["inputs_sha256"]


def test_tampered_card_is_refused(tmp_path):
    card = json.loads((WEIGHTS_DIR / "npr.json").read_text())
    card["sha256"] = "0" * 64
    p = tmp_path / "npr.json"
    p.write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="does not match"):
        create_detector("npr", card_path=p)
    with pytest.raises(WeightsError, match="no card for detector"):
        create_detector("npr", card_path=tmp_path / "missing.json")


def test_ranks_cifake_test_reals_below_fakes(npr, cifake_test_images):
    imgs, labels = cifake_test_images
    s = npr.raw_scores(imgs)
    assert s.shape == (len(imgs),) and s.dtype == np.float64 and np.isfinite(s).all()
    assert s[labels == 1].mean() > s[labels == 0].mean()
    assert roc_auc(labels, s) > 0.9


def test_scores_1024x768_as_mean_of_eight_native_tiles(npr, photo_1024x768):
    batch = tiles_to_batch(photo_1024x768)
    assert batch.shape == (8, 3, 96, 96) and batch.dtype == np.float32
    tiles = npr.tile_logits(photo_1024x768)
    assert tiles.shape == (8,)
    assert npr.raw_score(photo_1024x768) == pytest.approx(float(tiles.mean()), abs=1e-9)
    p = npr.probability(npr.raw_score(photo_1024x768))
    assert 0.0 < p < 1.0


def test_tiles_are_exact_native_crops(photo_1024x768):
    img = photo_1024x768
    batch = tiles_to_batch(img)
    tiles = grid_tiles(img, 96, 8, align=8)
    for b, t in zip(batch, tiles):
        assert np.array_equal(b.transpose(1, 2, 0).astype(np.uint8), t)
        # every tile is found at an 8-aligned offset of the original pixels (no resampling)
        hits = [(y, x) for y in range(0, 768 - 95, 8) for x in range(0, 1024 - 95, 8)
                if np.array_equal(img[y : y + 96, x : x + 96], t)]
        assert hits


def test_small_images_are_cropped_never_resized(npr):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    batch = tiles_to_batch(img)
    assert batch.shape == (2, 3, 48, 64)  # the one native tile and its mirror
    assert np.array_equal(batch[0].transpose(1, 2, 0).astype(np.uint8), img[:48, :64])
    assert np.array_equal(batch[1].transpose(1, 2, 0).astype(np.uint8), img[:48, :64][:, ::-1])
    assert tiles_to_batch(img, mirror=False).shape == (1, 3, 48, 64)
    tiny = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert np.isfinite(npr.raw_score(tiny))


def test_rejects_bad_input(npr):
    with pytest.raises(UsageError):
        tiles_to_batch(np.zeros((64, 64), np.uint8))
    with pytest.raises(UsageError):
        tiles_to_batch(np.zeros((8, 64, 3), np.uint8))
    assert npr.raw_scores([]).shape == (0,)


def test_int8_weights_agree_with_their_float32_reference(npr, cifake_test_images, photo_1024x768):
    fp32 = create_detector("npr", precision="fp32")
    int8 = create_detector("npr", precision="int8")
    assert fp32.precision == "fp32" and fp32.card.weights == "npr.onnx"
    assert int8.precision == "int8" and int8.card.weights == "npr.int8.onnx"
    imgs, labels = cifake_test_images
    imgs = list(imgs) + [photo_1024x768]
    a, b = fp32.raw_scores(imgs), int8.raw_scores(imgs)
    assert not np.array_equal(a, b)  # really two models
    # quantization noise is small next to the spread of the scores, and keeps the ranking
    assert np.median(np.abs(a - b)) < 0.1 * a.std()
    assert np.corrcoef(a, b)[0, 1] > 0.99
    assert abs(roc_auc(labels, a[:-1]) - roc_auc(labels, b[:-1])) < 0.01
    with pytest.raises(UsageError, match="no 'fp16' weights"):
        create_detector("npr", precision="fp16")
    # the default runs float32 on thumbnails (<= 64 px) and int8 on larger images
    assert npr.precision == "int8 (fp32 below 65 px)"
    mixed = npr.raw_scores(imgs)
    assert np.array_equal(mixed[:-1], a[:-1]) and mixed[-1] == b[-1]


def test_reference_weights_reload_into_torch_exactly(photo_1024x768):
    torch = pytest.importorskip("torch")
    from fakescope.training.export import load_onnx_weights
    from fakescope.training.models import NPRNet

    card = create_detector("npr", precision="fp32").card
    rec = card.extra["recipe"]["npr"] if "npr" in card.extra["recipe"] else card.extra["recipe"]
    net = load_onnx_weights(NPRNet(width=rec["width"], image_weight=rec["image_weight"], norm=rec["norm"]),
                            WEIGHTS_DIR / "npr.onnx")
    batch = tiles_to_batch(photo_1024x768)
    with torch.no_grad():
        got = net(torch.from_numpy(batch)).numpy()
    want = create_detector("npr", precision="fp32").tile_logits(photo_1024x768)
    assert np.allclose(got, want, atol=1e-4)
    with pytest.raises(WeightsError, match="has shape"):
        load_onnx_weights(NPRNet(width=8, image_weight=0.0, norm="none"), WEIGHTS_DIR / "npr.onnx")
    with pytest.raises(WeightsError, match="has no tensor"):  # batch-norm statistics are not in the export
        load_onnx_weights(NPRNet(width=32, image_weight=1.0, norm="batch"), WEIGHTS_DIR / "npr.onnx")


def test_scoring_key_follows_what_decides_the_scores(npr):
    from dataclasses import replace

    card = npr.card
    key = card.scoring_key()
    assert len(key) == 16 and key == replace(card, metrics={}, calibration={"method": "platt", "a": 2.0, "b": 1.0}).scoring_key()
    assert replace(card, extra={**card.extra, "max_tiles": 4}).scoring_key() != key
    assert replace(card, sha256="0" * 64).scoring_key() != key


def test_ms_per_image_times_real_scoring(npr, photo_1024x768):
    ms = npr.ms_per_image(photo_1024x768, reps=3)
    assert 0.1 < ms < 10_000  # 8 int8 tiles: a few ms here
