"""Milliseconds per image of every scored detector, measured side by side: the price list of the model build.

    PYTHONPATH=src python bench/detector_costs.py            # → docs/benchmarks/detector_costs.md / .json (~1 min)

The ``calibrate`` build step prices each candidate default set by the sum of its members' costs (the
one-SE rule picks the cheapest set near the best, :mod:`fakescope.build.calibrate`).  It reads them from
``docs/benchmarks/detector_costs.json`` (written here, committed) instead of timing the detectors itself:
a clock differs from run to run, and a build that timed its own prices chose a different set in one
nested leave-one-source-out fold on a rebuild of identical inputs (docs/benchmarks/reproduction.md).  A
committed measurement makes the build reproducible; measuring again is a deliberate act (rerun this, then
``fakescope build calibrate``), recorded by the file's hash in calibrate's input fingerprint.

Method: the reference image of the build (the first ``photos`` row of the calibration split, tiled to
1024×768, :func:`fakescope.build.cascade._tile_to`) and its 64-px thumbnail (the build's ``thumbnail-64``
chain); every detector warmed up once (its ONNX session opened), then ``--rounds`` rounds in each of
which every detector scores the image once, in a new random order each round (paired: a slow spell of the
machine hits all detectors alike); the median per detector.  One thread per process
(``OMP_NUM_THREADS=1``; ONNX sessions are single-threaded), as a scan worker runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from _common import DOCS, machine  # noqa: E402

OUT_JSON = DOCS / "detector_costs.json"


def reference_images() -> dict[str, np.ndarray]:
    """The build's reference 1024×768 image and its thumbnail (what the calibrate step once timed)."""
    from fakescope.build.calibrate import MADE_THUMBNAIL, THUMBNAIL_CHAINS, calibration_rows
    from fakescope.build.cascade import _tile_to
    from fakescope.io.decode import load

    photo = next(r for r in calibration_rows(None) if r.source == "photos")
    img = _tile_to(load(photo.path).image)
    return {"full": img, "thumbnail": THUMBNAIL_CHAINS[MADE_THUMBNAIL].apply(img)}


def measure(names: list[str], rounds: int, seed: int = 0) -> dict[str, dict[str, float]]:
    from fakescope.detectors import create_detector

    dets = {n: create_detector(n) for n in names}
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for regime, img in reference_images().items():
        for d in dets.values():
            d.raw_scores([img])  # warm-up: the session opens
        ts: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(rounds):
            for i in rng.permutation(len(names)):
                n = names[i]
                t = time.perf_counter()
                dets[n].raw_scores([img])
                ts[n].append(1000.0 * (time.perf_counter() - t))
        out[regime] = {n: round(float(np.median(v)), 2) for n, v in ts.items()}
    return out


def main() -> None:
    from fakescope.build.calibrate import SCORED_DETECTORS
    from fakescope.detectors.base import load_card

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=25)
    args = ap.parse_args()
    names = list(SCORED_DETECTORS)
    t0 = time.time()
    ms = measure(names, args.rounds)
    res = {"what": "median milliseconds of Detector.raw_scores([image]) per detector, one thread, side by side",
           "image": "the first photos row of the calibration split tiled to 1024x768, and its thumbnail-64 chain",
           "rounds": args.rounds, "machine": machine(), "seconds": round(time.time() - t0, 1),
           "ms_per_image": ms,
           "weights_sha256": {n: load_card(n).sha256 for n in names}}
    OUT_JSON.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    lines = ["# What each detector costs per image (the model build's price list)", "",
             "`bench/detector_costs.py`: median ms of one `raw_scores([image])` call, one thread, every detector "
             f"once per round in a random order, {args.rounds} rounds, after a warm-up call. Machine: "
             f"{res['machine']}. The `calibrate` build step reads `detector_costs.json` to price candidate "
             "default sets (the one-SE rule picks the cheapest set near the best), so that a rebuild of the "
             "same inputs chooses the same sets.", "",
             "| detector | 1024×768 ms | 64-px thumbnail ms |", "|---|---:|---:|"]
    for n in names:
        lines.append(f"| {n} | {ms['full'][n]:.2f} | {ms['thumbnail'][n]:.2f} |")
    (DOCS / "detector_costs.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
