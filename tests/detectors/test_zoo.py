"""The zoo's numpy side: PatchCraft's smash-and-reconstruct, tile batches, card-driven input policy."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from fakescope.detectors.base import DetectorCard
from fakescope.detectors.zoo import (TileNetDetector, patchcraft_geometry, smash_and_reconstruct, texture_diversity,
                                     tile_batch)
from fakescope.errors import UsageError, WeightsError
from fakescope.training.data import load_rgb


def _photo(data_dir):
    return load_rgb(sorted((data_dir / "real_photos" / "kodak").glob("*.png"))[0])


def test_smash_and_reconstruct_keeps_native_patches_rich_first(data_dir):
    img = _photo(data_dir)[:192, :192]
    out = smash_and_reconstruct(np.ascontiguousarray(img))
    p, k = patchcraft_geometry(192, 192)
    assert out.shape == (k * p, k * p, 6) and out.dtype == np.uint8
    patches = img.reshape(6, 32, 6, 32, 3).transpose(0, 2, 1, 3, 4).reshape(-1, 32, 32, 3)
    originals = {pt.tobytes() for pt in patches}
    rich = out[..., :3].reshape(k, p, k, p, 3).transpose(0, 2, 1, 3, 4).reshape(-1, p, p, 3)
    poor = out[..., 3:].reshape(k, p, k, p, 3).transpose(0, 2, 1, 3, 4).reshape(-1, p, p, 3)
    # every patch is an untouched copy of one of the image's patches (nothing resized or blended)
    assert all(pt.tobytes() in originals for pt in np.concatenate([rich, poor]))
    d_rich, d_poor = texture_diversity(rich), texture_diversity(poor)
    assert d_rich.min() >= d_poor.max()  # the rich set holds the k² most diverse patches
    assert list(d_rich) == sorted(d_rich, reverse=True)
    assert not {pt.tobytes() for pt in rich} & {pt.tobytes() for pt in poor}


@pytest.mark.parametrize("shape,expect", [((768, 1024, 3), (8, 3, 96, 96)), ((32, 32, 3), (2, 3, 32, 32)),
                                          ((50, 70, 3), (2, 3, 48, 64))])
def test_tile_batch_shapes(shape, expect):
    assert tile_batch(np.zeros(shape, np.uint8), tile=96, max_tiles=8).shape == expect


def test_tile_batch_rejects_bad_input():
    with pytest.raises(UsageError):
        tile_batch(np.zeros((8, 8, 3), np.uint8), tile=96, max_tiles=8)
    with pytest.raises(UsageError):
        tile_batch(np.zeros((64, 64), np.uint8), tile=96, max_tiles=8)
    with pytest.raises(UsageError):
        tile_batch(np.zeros((64, 64, 3), np.uint8), tile=96, max_tiles=8, transform="fft")


def test_card_without_input_policy_is_a_weights_error(tmp_path):
    from fakescope.detectors.zoo import load_card

    card = load_card("safe")
    bad = replace(card, extra={k: v for k, v in card.extra.items() if k != "tile"})
    with pytest.raises(WeightsError, match="input policy"):
        TileNetDetector(bad)
    with pytest.raises(WeightsError, match="no card"):
        load_card("safe", tmp_path / "missing.json")
    tampered = tmp_path / "safe.json"
    d = card.to_dict()
    d["sha256"] = "0" * 64
    tampered.write_text(json.dumps(d))
    (tmp_path / "safe.onnx").write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="does not match"):
        TileNetDetector(DetectorCard.load(tampered))
