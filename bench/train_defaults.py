"""Train and ship the default ``npr`` and ``spectral`` detectors, end to end and seeded.

    python bench/train_defaults.py            # full recipe (~40-60 min on 2 cores)
    python bench/train_defaults.py --quick    # a few minutes: smoke-test weights

Writes ``src/fakescope/weights/{npr.onnx,npr.json,spectral.npz,spectral.json,calibration.json}``,
then runs ``bench/quality.py`` (test-split metrics into the cards and docs/benchmarks/quality.md).
Scratch files (auto-encoder reconstructions) go to ``bench/_work/train`` (git-ignored).
Needs the shared data (``$FAKESCOPE_DATA``, default ``../shared/data``) and the [train] extra.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run (smoke-test weights)")
    ap.add_argument("--seed", type=int, default=None, help="override the recipe seed")
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "_work" / "train")
    ap.add_argument("--no-quality", action="store_true", help="skip bench/quality.py afterwards")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(2)
    from fakescope.training.pipeline import FULL, QUICK, train_and_ship

    recipe = QUICK if args.quick else FULL
    if args.seed is not None:
        recipe = replace(recipe, seed=args.seed)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)

    report = train_and_ship(recipe, work=args.work, log=log)
    (args.work / "train_report.json").write_text(json.dumps(report, indent=2, default=str))
    if not args.no_quality:
        import quality

        quality.main(["--work", str(args.work)])
    log("all done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
