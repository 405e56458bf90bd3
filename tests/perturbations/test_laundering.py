"""The training laundering chains: drawn from the seed and the image's key, pinned."""

from __future__ import annotations

import numpy as np

from fakescope.perturbations.laundering import CHAINS, RECIPE, training_chains


def test_draws_are_pinned_to_the_key_and_seed():
    """The parameters of a key are what every cached feature and shipped weight was made with."""
    got = [(n, c.to_dict()) for n, c in training_chains("camera/IMG_1.jpg")]
    assert [n for n, _ in got] == list(CHAINS) == ["stored", "design", "web", "webp", "screenshot"]
    assert got[0][1] == {"steps": []}
    assert got[1][1]["steps"] == [{"name": "whatsapp", "params": {"long_side": 1189, "quality": 88, "aspect": None}}]
    assert got[2][1]["steps"] == [{"name": "whatsapp", "params": {"long_side": 387, "quality": 64, "aspect": None}}]
    assert got[3][1]["steps"] == [{"name": "webp", "params": {"quality": 84}}]
    assert RECIPE["seed"] == 20261207
    other = [c.to_dict() for _, c in training_chains("camera/IMG_1.jpg", RECIPE["seed"] + 1)]
    assert other != [c for _, c in got]


def test_chains_apply_to_both_classes_alike():
    img = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    views = [c.apply(img) for _, c in training_chains("k")]
    assert views[0].shape == img.shape and (views[0] == img).all()
    assert all(v.dtype == np.uint8 and v.ndim == 3 and v.shape[2] == 3 for v in views)
    assert max(views[2].shape[:2]) <= 640  # the web copy
