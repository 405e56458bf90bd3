"""Train the shipped tile-network families of the detector zoo (safe, cnnspot, patchcraft) and install them.

    python bench/train_zoo.py [--family safe ...] [--steps N]

Each family: ``fakescope.training.trainer.train`` with ``configs/train/<family>.yaml`` on the
shared data's train split plus the auto-encoder reconstructions of ``bench/_work/train``
(built by ``bench/train_defaults.py``), early-stopped on the calibration split; the run
folder is ``bench/_work/zoo/<family>`` (resumable: rerun the same command after a kill).
The ONNX graph and card are then copied into ``src/fakescope/weights/``.  Afterwards run
``bench/calibrate_zoo.py`` (calibration scores, Platt, ensemble, default set) and
``bench/detectors.py`` (the comparison table).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", action="append", default=None, choices=("safe", "cnnspot", "patchcraft", "npr"))
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "_work" / "zoo")
    ap.add_argument("--aligned-fakes", type=Path, default=REPO / "bench" / "_work" / "train")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-install", dest="install", action="store_false")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from fakescope.detectors.base import WEIGHTS_DIR, DetectorCard
    from fakescope.training.trainer import load_recipe, train

    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)

    for fam in args.family or ["safe", "cnnspot", "patchcraft"]:
        recipe = load_recipe(REPO / "configs" / "train" / f"{fam}.yaml", steps=args.steps)
        res = train(recipe, "shared", args.work / fam, aligned_fakes=args.aligned_fakes, log=log)
        log(f"{fam}: best step {res.best_step}, validation {json.dumps(res.best_metrics)}, {res.seconds:.0f}s")
        if args.install:
            shutil.copy2(res.onnx_path, WEIGHTS_DIR / res.onnx_path.name)
            card = DetectorCard.load(res.card_path)
            replace(card, weights=res.onnx_path.name,
                    training_data=card.training_data.replace(str(args.aligned_fakes), "bench/_work/train")) \
                .save(WEIGHTS_DIR / f"{fam}.json")
            log(f"{fam}: installed into {WEIGHTS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
