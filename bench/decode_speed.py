"""Decode speed: fakescope's ``decode()`` vs raw simplejpeg vs Pillow, on plain JPEGs.

Makes 100 JPEGs of 1024×768 (quality 90, 4:2:0) in memory from real photos (the shared
data's ``real_photos`` and the desktop backgrounds in /usr/share/backgrounds, whichever
exist), then decodes all of them with each method, several rounds, methods interleaved
so that a busy machine slows them alike.  Prints ms/image (median over rounds) and the
overhead of ``decode()`` over raw simplejpeg (goal: under 10 %).

    python bench/decode_speed.py [--rounds 7] [--n 100]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image

from fakescope.io.decode import decode

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("FAKESCOPE_DATA", REPO.parent / "shared" / "data"))
SOURCES = (DATA / "real_photos", Path("/usr/share/backgrounds"))


def make_jpegs(n: int, *, size: tuple[int, int] = (1024, 768), quality: int = 90) -> list[bytes]:
    """``n`` JPEGs of ``size`` cut from real photos (different crops when photos repeat)."""
    photos = sorted(p for root in SOURCES if root.is_dir() for p in root.rglob("*")
                    if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise SystemExit(f"no photos found under {', '.join(map(str, SOURCES))}")
    out: list[bytes] = []
    rng = np.random.default_rng(0)
    i = 0
    while len(out) < n:
        with Image.open(photos[i % len(photos)]) as im:
            im = im.convert("RGB")
            w, h = size
            scale = max(w / im.width, h / im.height) * float(rng.uniform(1.0, 1.5))
            im = im.resize((max(w, round(im.width * scale)), max(h, round(im.height * scale))),
                           Image.Resampling.LANCZOS)
            x = int(rng.integers(0, im.width - w + 1))
            y = int(rng.integers(0, im.height - h + 1))
            buf = io.BytesIO()
            im.crop((x, y, x + w, y + h)).save(buf, "JPEG", quality=quality)
            out.append(buf.getvalue())
        i += 1
    return out


def _pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


METHODS = {
    "simplejpeg.decode_jpeg (raw)": lambda d: simplejpeg.decode_jpeg(d, colorspace="RGB"),
    "fakescope decode()": lambda d: decode(d).image,
    "Pillow open+convert+asarray": _pillow,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    jpegs = make_jpegs(args.n)
    print(f"{len(jpegs)} JPEGs 1024x768 q90, mean {np.mean([len(j) for j in jpegs]) / 1024:.0f} KiB")
    for fn in METHODS.values():  # warm-up (plugin imports, first allocations)
        fn(jpegs[0])
    times: dict[str, list[float]] = {k: [] for k in METHODS}
    for _ in range(args.rounds):
        for name, fn in METHODS.items():
            t0 = time.perf_counter()
            for d in jpegs:
                fn(d)
            times[name].append((time.perf_counter() - t0) * 1000.0 / len(jpegs))
    med = {k: statistics.median(v) for k, v in times.items()}
    raw = med["simplejpeg.decode_jpeg (raw)"]
    print(f"| method | ms/image (median of {args.rounds}) | min | vs raw simplejpeg |")
    print("|---|---|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:.2f} | {min(times[k]):.2f} | {v / raw:.2f}x |")
    ours = med["fakescope decode()"]
    print(f"decode() overhead over raw simplejpeg: {100 * (ours / raw - 1):+.1f} % (goal < 10 %)")


if __name__ == "__main__":
    main()
