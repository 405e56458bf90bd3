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
def synthetic_calibration():
    """Make a synthetic calibration split for the fusion tests: ``n`` real and ``n`` fake rows (seeded by
    ``seed``) of two detectors, ``a`` (fakes 4 standard deviations above the reals) and ``b`` (1 apart)."""
    import numpy as np

    from fakescope.fusion import CalibrationSet

    def make(n: int = 1000, seed: int = 0) -> CalibrationSet:
        rng = np.random.default_rng(seed)
        y = np.r_[np.zeros(n), np.ones(n)].astype(np.int64)
        a = np.where(y == 1, rng.normal(2.0, 1.0, 2 * n), rng.normal(-2.0, 1.0, 2 * n))
        b = np.where(y == 1, rng.normal(0.5, 1.0, 2 * n), rng.normal(-0.5, 1.0, 2 * n))
        return CalibrationSet(split="synthetic", labels=y, groups=("g",) * (2 * n), scores={"a": a, "b": b})

    return make


@pytest.fixture(scope="session")
def cifake_val(data_dir: Path) -> dict[str, list[Path]]:
    """The CIFAKE val split: the TEST split of the shipped detectors (never trained or calibrated on)."""
    return {c: sorted((data_dir / "cifake" / "val" / c).glob("*.jpg")) for c in ("real", "fake")}


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """One clear line when tests were skipped for want of the shared data (they are not failures, but
    a run without the data checks much less)."""
    skipped = terminalreporter.stats.get("skipped", [])
    n = sum(1 for r in skipped if "shared data not found" in str(getattr(r, "longrepr", "")))
    if n:
        terminalreporter.write_line(
            f"{n} tests skipped: the shared data folder was not found at {DATA}; put the project's shared/ "
            "beside the checkout or set FAKESCOPE_DATA to its data/ folder to run them", yellow=True, bold=True)
