"""Tiny real datasets for the protocol tests, built from the shared data (skipped when it is absent)."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FAKESCOPE_DATA", REPO.parent / "shared" / "data"))


def _need_data() -> None:
    if not (DATA / "cifake" / "val").is_dir() or not (DATA / "modern" / "manifest.csv").is_file():
        pytest.skip(f"shared data not found at {DATA} (set FAKESCOPE_DATA)")


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 real + 8 fake CIFAKE val images (the shipped detectors' test split) in a real/fake folder."""
    _need_data()
    root = tmp_path_factory.mktemp("tiny") / "cifake8"
    for cls in ("real", "fake"):
        (root / cls).mkdir(parents=True)
        for f in sorted((DATA / "cifake" / "val" / cls).glob("*.jpg"))[:8]:
            shutil.copy(f, root / cls / f.name)
    return root


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV manifest over real test images with generators: CIFAKE val (6 + 6) and modern test images
    of two generators (4 each) and 6 modern real photos, all from the detectors' held-out test split."""
    _need_data()
    from fakescope.training.data import modern_records

    test = [r for r in modern_records(DATA) if r.split == "test"]
    rows: list[dict[str, str]] = []
    for cls, label in (("real", "real"), ("fake", "fake")):
        for f in sorted((DATA / "cifake" / "val" / cls).glob("*.jpg"))[:6]:
            rows.append({"path": str(f), "label": label, "generator": "CIFAKE-SD" if label == "fake" else "",
                         "source": "cifake"})
    picks = {"unseen:StyleGAN2 (stylegan2-pytorch, hands 256)": "StyleGAN2 hands",
             "modern:Latent Diffusion (LDM-KL-8-G text2img, LAION-400M)": "LDM"}
    for group, gen in picks.items():
        for r in [r for r in test if r.group == group][:4]:
            rows.append({"path": r.path, "label": "fake", "generator": gen, "source": "modern"})
    for r in [r for r in test if r.group == "modern:real"][:6]:
        rows.append({"path": r.path, "label": "real", "generator": "", "source": "modern"})
    path = tmp_path_factory.mktemp("manifest") / "tiny.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label", "generator", "source"])
        w.writeheader()
        w.writerows(rows)
    return path
