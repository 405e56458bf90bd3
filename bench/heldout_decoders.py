"""Build fakes from decoders no shipped detector was trained on (held-out decoders).

    python bench/heldout_decoders.py      # three auto-encoders x 1000 steps each (no clock: 100 steps took 43 s here at load 4)

Three auto-encoders (bicubic, 2x2 transposed-conv and Fourier zero-padding up-sampling,
:data:`fakescope.training.models.HELDOUT_UPSAMPLERS`) are trained exactly like the four
whose reconstructions the detectors learned from, on the same train-split real photos, and
reconstruct the calibration- and test-split photos and modern reals into
``bench/_work/heldout`` (``records.json``).  No training recipe reads them.

The old calibration script (bench/calibrate_zoo.py, removed) added the calibration part to the
calibration split (each decoder its own fake group, so leave-one-group-out and the per-group CV scores see three generators that
no member was trained on); bench/quality.py and bench/detectors.py report the test part.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
WORK = REPO / "bench" / "_work" / "heldout"
SEED = 20261128


def main() -> int:
    import torch

    from fakescope.training.data import all_records
    from fakescope.training.pipeline import build_heldout_records

    torch.set_num_threads(2)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)

    recs, info = build_heldout_records(all_records(), WORK, rng=np.random.default_rng(SEED), log=log)
    info["seconds"] = round(time.perf_counter() - t0, 1)
    info["seed"] = SEED
    info["by_split"] = {s: sum(r.split == s for r in recs) for s in ("calibration", "test")}
    (WORK / "build.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    log(f"done: {info}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
