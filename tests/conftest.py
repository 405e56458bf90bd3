"""Shared fixtures: where the project's data lives, real sample files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("FAKESCOPE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "manifest.csv").exists():
        pytest.skip(f"shared data not found at {DATA} (set FAKESCOPE_DATA)")
    return DATA


@pytest.fixture(scope="session")
def cifake_val(data_dir: Path) -> dict[str, list[Path]]:
    """The CIFAKE val split: the TEST split of the shipped detectors (never trained or calibrated on)."""
    return {c: sorted((data_dir / "cifake" / "val" / c).glob("*.jpg")) for c in ("real", "fake")}
