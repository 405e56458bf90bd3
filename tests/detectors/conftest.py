"""Fixtures for the npr/spectral/training tests: CIFAKE test images and a large real photo."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FAKESCOPE_DATA", REPO.parent / "shared" / "data"))


def _need_data() -> Path:
    if not (DATA / "cifake" / "val").is_dir():
        pytest.skip(f"shared data not found at {DATA} (set FAKESCOPE_DATA)")
    return DATA


def _rgb(path: Path) -> np.ndarray:
    from fakescope.training.data import load_rgb

    return load_rgb(path)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need_data()


@pytest.fixture(scope="session")
def cifake_test_images() -> tuple[list[np.ndarray], np.ndarray]:
    """60 real + 60 fake CIFAKE val (= TEST split) images and their labels."""
    base = _need_data() / "cifake" / "val"
    imgs, labels = [], []
    for cls, label in (("real", 0), ("fake", 1)):
        for p in sorted((base / cls).glob("*.jpg"))[:60]:
            imgs.append(_rgb(p))
            labels.append(label)
    return imgs, np.asarray(labels)


@pytest.fixture(scope="session")
def photo_1024x768() -> np.ndarray:
    """A native 1024×768 crop of a real Wikipedia photo (lossless PNG)."""
    p = _need_data() / "real_photos" / "wikipedia-photos" / "001.png"
    if not p.is_file():
        pytest.skip(f"{p} not found")
    img = _rgb(p)
    h, w = img.shape[:2]
    assert h >= 768 and w >= 1024
    return np.ascontiguousarray(img[:768, :1024])
