"""Fixtures for the model-build tests: the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FAKESCOPE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (DATA / "modern" / "manifest.csv").is_file():
        pytest.skip(f"shared data not found at {DATA} (set FAKESCOPE_DATA)")
    return DATA
