"""Helpers shared by the benchmark scripts: test images made from real photos, RSS sampling."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "_work"
DATA = Path(os.environ.get("FAKESCOPE_DATA", REPO.parent / "shared" / "data"))
DOCS = REPO / "docs" / "benchmarks"


def photo_sources() -> list[Path]:
    """Large real photos available on this machine (shared data + Debian photo packages)."""
    roots = [DATA / "real_photos", Path("/usr/share/backgrounds/mate"), Path("/usr/share/doc/opencv-doc/examples/data")]
    out = []
    for r in roots:
        if r.exists():
            out += [p for p in sorted(r.rglob("*")) if p.suffix.lower() in {".jpg", ".jpeg", ".png"}]
    return out


def make_jpegs(n: int, size: tuple[int, int], folder: Path, *, quality: int = 90, seed: int = 0) -> list[Path]:
    """``n`` JPEGs of ``size`` (w, h): random crops/rescales of real photos (cached on disk)."""
    folder.mkdir(parents=True, exist_ok=True)
    have = sorted(folder.glob("*.jpg"))
    if len(have) >= n:
        return have[:n]
    rng = np.random.default_rng(seed)
    srcs = []
    for p in photo_sources():
        try:
            im = Image.open(p).convert("RGB")
        except OSError:
            continue
        if min(im.size) >= 256:
            srcs.append(im)
    if not srcs:
        raise SystemExit("no real photos found to build benchmark images")
    w, h = size
    out = []
    for i in range(n):
        im = srcs[i % len(srcs)]
        scale = max(w / im.width, h / im.height) * rng.uniform(1.0, 1.6)
        big = im.resize((max(w, int(im.width * scale) + 1), max(h, int(im.height * scale) + 1)), Image.BICUBIC)
        x = int(rng.integers(0, big.width - w + 1))
        y = int(rng.integers(0, big.height - h + 1))
        p = folder / f"img_{i:05d}.jpg"
        big.crop((x, y, x + w, y + h)).save(p, quality=quality)
        out.append(p)
    return out


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}"
