"""Fit and ship the ``probe`` head and the ``rigid`` calibration on the standard splits.

    python bench/ship_probe_rigid.py        # ~10-15 min on one core (backbone features cached)

Writes ``src/fakescope/weights/{probe.npz,probe.json,rigid.json}`` (cards with calibration- and
test-split metrics).  Backbone features and scores are cached in ``bench/_work/probe`` (git-ignored);
the raw calibration-split scores go to ``bench/_work/probe/calibration_scores.json``.  Uses the
auto-encoder reconstructions listed in ``bench/_work/train/records.json`` (bench/train_defaults.py)
when present.  Needs the shared data and the [train] + [backbone] extras.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "_work" / "probe")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from fakescope.training.probe import ship_probe_and_rigid

    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)

    ship_probe_and_rigid(log, work=args.work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
