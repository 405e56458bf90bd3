"""Train and install ``npr-thumb``: the NPR network trained on thumbnails only (CIFAKE train).

    python bench/train_thumb.py [--seeds K] [--steps N] [--no-install]     # ~7 min per seed

A member for the thumbnail regime (images of at most 64 px, fused apart from full-resolution
images): ``configs/train/npr-thumb.yaml`` through the generic trainer on a CIFAKE-only manifest
(cifake/train indices 0..1999 per class = train, 2000..2499 = validation and early stopping, the
same split as every shipped detector; CIFAKE val, the test split, is never read), once per seed
(the recipe's seed, +1, ...; run folders ``bench/_work/thumb/seed-<seed>``, resumable).  The
shipped detector is one ONNX graph averaging the seeds' logits
(:class:`fakescope.training.models.MeanOfNets`).  Installs ``weights/npr-thumb.onnx`` + card.
Afterwards: ``bench/calibrate_zoo.py`` (which decides whether the default thumbnail set uses
it), ``bench/cascade.py``, ``bench/quality.py``, ``bench/detectors.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
WORK = REPO / "bench" / "_work" / "thumb"
NAME = "npr-thumb"


def write_manifest(path: Path) -> int:
    """The CIFAKE part of the shared split as a manifest (train / val rows only)."""
    from fakescope.training.data import all_records

    rows = [r for r in all_records() if r.source == "cifake" and r.split in ("train", "calibration")]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split", "generator", "source"])
        for r in rows:
            w.writerow([r.path, r.label, "val" if r.split == "calibration" else "train", r.group, r.source])
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=1, help="networks averaged (seed, seed+1, ...)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-install", dest="install", action="store_false")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from fakescope.detectors.base import WEIGHTS_DIR, DetectorCard, sha256_file
    from fakescope.training.export import export_onnx, load_onnx_weights, onnx_max_abs_diff
    from fakescope.training.models import MeanOfNets, count_parameters
    from fakescope.training.trainer import load_recipe, train

    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)

    manifest = WORK / "cifake.csv"
    log(f"manifest: {write_manifest(manifest)} CIFAKE images (train + validation)")
    base = load_recipe(REPO / "configs" / "train" / f"{NAME}.yaml", steps=args.steps)
    runs = []
    for i in range(args.seeds):
        recipe = replace(base, seed=base.seed + i)
        res = train(recipe, str(manifest), WORK / f"seed-{recipe.seed}", log=log)
        log(f"seed {recipe.seed}: best step {res.best_step}, validation {res.best_metrics}, {res.seconds:.0f}s")
        runs.append((recipe, res))
    nets = []
    for recipe, res in runs:
        net = recipe.family().build(**recipe.model)
        nets.append(load_onnx_weights(net, res.onnx_path).eval())
    model = MeanOfNets(nets).eval()
    out = WORK / f"{NAME}.onnx"
    blob = export_onnx(model, out, example_size=32)
    probe = [np.random.default_rng(0).uniform(0, 255, (n, 3, s, s)).astype(np.float32) for n, s in ((2, 32), (8, 96))]
    diff = onnx_max_abs_diff(model, blob, probe)
    log(f"{NAME}: {len(nets)} network(s) averaged, ONNX vs torch max |diff| {diff:.2e}, {len(blob) / 1e6:.2f} MB")
    if not args.install:
        return 0
    target = WEIGHTS_DIR / f"{NAME}.onnx"
    target.write_bytes(out.read_bytes())
    card = DetectorCard.load(runs[0][1].card_path)
    seeds = [r.seed for r, _ in runs]
    extra = dict(card.extra)
    extra.update({"regime": "thumbnail", "seeds": seeds, "onnx_max_abs_diff_vs_torch": diff,
                  "seed_runs": [{"seed": r.seed, "best_step": res.best_step, "validation": res.best_metrics,
                                 "train_seconds": round(res.seconds, 1)} for r, res in runs],
                  "train_seconds": round(sum(res.seconds for _, res in runs), 1)})
    replace(card, name=NAME, weights=target.name, sha256=sha256_file(target), parameters=count_parameters(model),
            summary="NPR thumbnail specialist (trained on CIFAKE only)",
            training_data=f"CIFAKE only (32x32 JPEG: CIFAR-10 photos vs Stable Diffusion 1.4): cifake/train indices "
                          f"0..1999 per class = train, 2000..2499 = validation / early stopping; "
                          f"{len(seeds)} networks trained from seeds {seeds} with the same recipe, averaged",
            input_policy=card.input_policy + "; meant for thumbnails (<= 64 px): trained on 24-32 px CIFAKE views only; "
                         "on full-resolution images it is no detector (test AUC 0.62, below chance on never-seen "
                         "generators: docs/benchmarks/detectors.md), so fuse it for thumbnails only",
            preprocessing=card.preprocessing + f"; the graph averages the logits of {len(seeds)} networks",
            extra=extra, metrics={"validation": {f"seed {r.seed}": res.best_metrics for r, res in runs}}) \
        .save(WEIGHTS_DIR / f"{NAME}.json")
    (WORK / "train_report.json").write_text(json.dumps(extra, indent=1, default=float))
    log(f"installed {NAME} into {WEIGHTS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
