"""Does fine-tuning EfficientNet-Lite0's stage 5 beat rine's frozen-feature head?  (measures only)

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE nice -n 15 python bench/finetune_probe.py [--folds 3] [--steps 300]
        [--eval-at 100] [--md-only]

    # cost (2 cores shared with other jobs, session 9): the stage-4 cache ~5.5 min wall on 2 workers (once,
    #   bench/_work/finetune_probe/, 370 MB); then ~5.5 min per fold (300 steps of 32 crops on 2 torch threads
    #   ~4 min, scoring the held-out fold twice ~1 min): 3 folds 17 min wall, ~16 CPU-min; --md-only: 30 s

The question (issue 11, section 3, "invariance training"): ``rine`` (:mod:`fakescope.build.rine`) is a
linear head on frozen ImageNet Lite0 statistics (per-channel mean and std of the maps after stages 3-5,
up to 4 native 224-px crops, sources weighted equally, the training laundering chains on both classes).
Would training the backbone's stage 5 together with that head, with the same loss weighting and the
same laundered views, generalise better to sources it never saw?

Protocol.  The rine selection pool (:func:`fakescope.build.rine.selection_records`: every non-CIFAKE row
of the frozen split, wild rows included) is cut into ``--folds`` grouped folds over sources (origins):
real and fake sources are shuffled separately (seed 0) and dealt round-robin, each source entirely in
one fold.  For each fold, on the rows of the other folds (every row as stored and through the four
training chains, :func:`~fakescope.perturbations.laundering.training_chains`):

* **frozen**: rine's own recipe: :func:`~fakescope.build.rine.fit_head` (standardised, L2 logistic via
  :func:`fakescope.fitting.fit_logistic`, :func:`~fakescope.build.rine.source_weights`) on the cached
  features of the build (maps 3-5 of rine's 4-crop features), the card's L2; scores by
  :func:`fakescope.detectors.probe.apply_head`;
* **fine-tune**: the same head as the starting point, the ImageNet weights of stage 5 (3 MBConv
  blocks, 80 -> 112 channels) trainable together with the head (BatchNorm statistics frozen; its affine
  parameters train), stages <= 4 frozen.  Stage 4's output maps of every crop of every laundered view
  are computed once (exact, since nothing before them trains) and cached under bench/_work/.  Each step
  draws a batch of rows with probability proportional to rine's source weights (every source weighs
  the same in expectation, as in the frozen fit) and one of the row's native crops at random (the
  crops are the fixed 2x2-grid native crops of :func:`fakescope.backbones.native_crops`, not new random
  positions: the cache holds those), and minimises the logistic loss of the crop's logit; fixed step
  count, Adam, seeds fixed.  An image's score is the mean of its crops' logits (as rine scores).

Both are scored on the held-out fold's rows under every chain.  The criterion is rine's: per chain the
AUC of each source of >= 5 images (a fake source against all reals of that chain, a real source against
all fakes; :func:`fakescope.build.generalisation.source_aucs`, AUC from :mod:`fakescope.benchmark.metrics`),
the mean over sources and the worst source, then the mean over chains.  "pooled": all folds' held-out
scores together (each source scored by the model of its fold, as in leave-one-source-out); "fold k":
that fold's rows only.  The interval on the difference resamples sources (the same draw for every chain).

Writes docs/benchmarks/finetune_probe.md and .json.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
DOCS = REPO / "docs" / "benchmarks"
WORK = REPO / "bench" / "_work" / "finetune_probe"
#: Lite0 blocks 0-7 are stages 1-4; 8-10 stage 5
STAGE5 = (8, 9, 10)


def _chunk(args):
    """Stage-4 maps (float16) and the pooled statistics of maps 3 and 4 of every native crop of every
    training chain's view of each image."""
    import torch

    from fakescope.backbones import load_backbone, native_crops
    from fakescope.io.decode import load
    from fakescope.perturbations.laundering import training_chains

    torch.set_num_threads(1)
    items, max_crops = args
    m = load_backbone("efficientnet_lite0").eval()
    maps, stats, owner = [], [], []
    row = 0
    with torch.no_grad():
        for path, key in items:
            image = load(path).image
            for _, chain in training_chains(key):
                crops = native_crops(chain.apply(image), max_crops=max_crops)
                x = torch.from_numpy(crops.transpose(0, 3, 1, 2).astype(np.float32))
                x = (x - m.mean) / m.std
                x = torch.nn.functional.relu6(m._bn0(m._conv_stem(x)))
                for i in range(8):
                    x = m._blocks[i](x)
                    if i == 4:
                        m3 = x
                maps.append(x.numpy().astype(np.float16))
                stats.append(torch.cat([m3.mean(dim=(2, 3)), m3.std(dim=(2, 3)), x.mean(dim=(2, 3)),
                                        x.std(dim=(2, 3))], 1).numpy())
                owner += [row] * len(crops)
                row += 1
    return np.concatenate(maps), np.concatenate(stats), np.asarray(owner, np.int64), row


def stage4_cache(pool, max_crops: int, jobs: int, log) -> dict[str, np.ndarray]:
    from fakescope.build.generalisation import map_chunks
    from fakescope.perturbations.laundering import training_chains

    what = json.dumps({"paths": [r.path for r in pool], "keys": [r.key for r in pool], "crops": max_crops,
                       "code": [inspect.getsource(f) for f in (_chunk, training_chains)]}, sort_keys=True)
    path = WORK / f"stage4-{hashlib.sha256(what.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    parts = map_chunks(_chunk, [(r.path, r.key) for r in pool], (max_crops,), size=4, jobs=jobs, log=log,
                       what="stage-4 maps", every=25)
    off, owners = 0, []
    for p in parts:
        owners.append(p[2] + off)
        off += p[3]
    out = {"maps": np.concatenate([p[0] for p in parts]), "stats": np.concatenate([p[1] for p in parts]),
           "owner": np.concatenate(owners)}
    WORK.mkdir(parents=True, exist_ok=True)
    np.savez(path.with_suffix(".tmp.npz"), **out)
    os.replace(path.with_suffix(".tmp.npz"), path)
    return out


def grouped_folds(origins: np.ndarray, y: np.ndarray, k: int, seed: int = 0) -> dict[str, int]:
    """origin -> fold: real and fake sources shuffled separately and dealt round-robin."""
    rng = np.random.default_rng(seed)
    out: dict[str, int] = {}
    start = 0
    for label in (0, 1):
        srcs = sorted({o for o, l in zip(origins.tolist(), y.tolist()) if round(l) == label} - set(out))
        rng.shuffle(srcs)
        for i, s in enumerate(srcs):
            out[s] = (start + i) % k
        start += len(srcs)
    return out


class Stage5Head:
    """Stage 5 of Lite0 (ImageNet weights) + the pooled statistics + a standardised linear head."""

    def __init__(self, head: dict, torch):
        from fakescope.backbones import load_backbone

        m = load_backbone("efficientnet_lite0")
        self.torch = torch
        self.blocks = torch.nn.Sequential(*[m._blocks[i] for i in STAGE5])
        for p in self.blocks.parameters():
            p.requires_grad_(True)
        self.blocks.eval()  # BatchNorm running statistics stay the ImageNet ones
        self.mean = torch.tensor(head["mean"], dtype=torch.float32)
        self.scale = torch.tensor(head["scale"], dtype=torch.float32)
        self.coef = torch.nn.Parameter(torch.tensor(np.asarray(head["coef"]), dtype=torch.float32))
        self.bias = torch.nn.Parameter(torch.tensor(float(head["intercept"]), dtype=torch.float32))

    def params(self):
        return list(self.blocks.parameters()), [self.coef, self.bias]

    def logits(self, maps4, stats34):
        x = self.blocks(maps4)
        f = self.torch.cat([stats34, x.mean(dim=(2, 3)), x.std(dim=(2, 3))], 1)
        return ((f - self.mean) / self.scale) @ self.coef + self.bias


def finetune(head: dict, cache: dict, crop_rows: np.ndarray, row_w: np.ndarray, y: np.ndarray, train_rows: np.ndarray,
             *, steps: int, batch: int, lr: float, lr_head: float, seed: int, log, on_checkpoint=None,
             checkpoints=()) -> Stage5Head:
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Stage5Head(head, torch)
    backbone, head_p = net.params()
    opt = torch.optim.Adam([{"params": backbone, "lr": lr}, {"params": head_p, "lr": lr_head}])
    p = row_w[train_rows] / row_w[train_rows].sum()
    losses = []
    for step in range(steps):
        rows = train_rows[rng.choice(len(train_rows), batch, p=p)]
        pick = np.array([rng.choice(crop_rows[r]) for r in rows])
        m4 = torch.from_numpy(cache["maps"][pick].astype(np.float32))
        s34 = torch.from_numpy(cache["stats"][pick])
        t = torch.from_numpy(y[rows].astype(np.float32))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net.logits(m4, s34), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if log and (step + 1) % 100 == 0:
            log(f"  step {step + 1}/{steps}: loss (last 100) {np.mean(losses[-100:]):.4f}")
        if on_checkpoint is not None and step + 1 in checkpoints:
            on_checkpoint(step + 1, net)
    return net


def score_rows(net: Stage5Head, cache: dict, rows: np.ndarray, crop_rows: list, chunk: int = 256) -> np.ndarray:
    import torch

    crops = np.concatenate([crop_rows[r] for r in rows])
    owner = np.concatenate([[i] * len(crop_rows[r]) for i, r in enumerate(rows)]).astype(np.int64)
    out = []
    with torch.no_grad():
        for i in range(0, len(crops), chunk):
            c = crops[i : i + chunk]
            out.append(net.logits(torch.from_numpy(cache["maps"][c].astype(np.float32)),
                                  torch.from_numpy(cache["stats"][c])).numpy().astype(np.float64))
    z = np.concatenate(out)
    s = np.zeros(len(rows))
    np.add.at(s, owner, z)
    return s / np.bincount(owner, minlength=len(rows))


def summary(aucs: dict) -> dict:
    per = {c: {"mean": float(np.mean(list(a.values()))), "worst": float(min(a.values())),
               "worst_source": min(a, key=a.get), "n_sources": len(a)} for c, a in aucs.items() if a}
    return {"criterion": float(np.mean([v["mean"] for v in per.values()])), "chains": per}


def paired(a: dict, b: dict, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """mean over chains and sources of a - b, and its 95% interval with sources resampled."""
    srcs = sorted(set.intersection(*(set(v) for v in a.values()), *(set(v) for v in b.values())))
    d = np.array([[a[c][s] - b[c][s] for s in srcs] for c in a])
    rng = np.random.default_rng(seed)
    boots = d[:, rng.integers(0, len(srcs), (n, len(srcs)))].mean(axis=(0, 2))
    return float(d.mean()), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def frozen_loso() -> float:
    """rine's leave-one-source-out criterion recomputed from the same cached features, L2 and fit as the
    folds use (checks that the frozen arm is rine's recipe: it should equal the card's value)."""
    from fakescope.build.generalisation import chain_rows
    from fakescope.build.rine import RECIPE, _cached_features, selection_records, select_l2, stage_columns
    from fakescope.detectors.base import load_card
    from fakescope.perturbations.laundering import CHAINS

    card = load_card("rine")
    pool = selection_records()
    y, origins, chains = chain_rows(pool, CHAINS)
    x = _cached_features(pool, jobs=1, log=None)[list(RECIPE["crops_grid"]).index(int(card.extra["max_crops"]))]
    l2 = float(card.extra["l2"])
    _, table = select_l2(x[:, stage_columns([3, 4, 5])], y, origins, chains, grid=[l2])
    return float(table[repr(l2)]["criterion"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval-at", type=int, nargs="*", default=[100],
                    help="earlier step counts also scored (reported beside, not chosen from)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--lr-head", type=float, default=1e-3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--md-only", action="store_true",
                    help="rewrite the .md from the .json (adding the frozen LOSO check if missing)")
    args = ap.parse_args()
    if args.md_only:
        res = json.loads((DOCS / "finetune_probe.json").read_text())
        if "frozen_loso" not in res["setup"]:
            res["setup"]["frozen_loso"] = frozen_loso()
            (DOCS / "finetune_probe.json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
        write_md(res)
        return 0

    import torch

    from fakescope.build.generalisation import chain_rows, source_aucs
    from fakescope.build.rine import _cached_features, fit_head, selection_records, source_weights, stage_columns
    from fakescope.detectors.base import load_card
    from fakescope.detectors.probe import apply_head
    from fakescope.perturbations.laundering import CHAINS

    torch.set_num_threads(args.threads)
    t0 = time.time()
    cpu0 = time.process_time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:7.1f}s] {msg}", flush=True)

    card = load_card("rine")
    l2, max_crops = float(card.extra["l2"]), int(card.extra["max_crops"])
    pool = selection_records()
    y, origins, chains = chain_rows(pool, CHAINS)
    from fakescope.build.rine import RECIPE

    feats = _cached_features(pool, jobs=args.jobs, log=log)[list(RECIPE["crops_grid"]).index(max_crops)]
    x = feats[:, stage_columns([3, 4, 5])]
    log(f"pool: {len(pool)} images, {len(set(origins.tolist()))} sources, {len(y)} rows; frozen features {x.shape}")
    tc = time.process_time()
    cache = stage4_cache(pool, max_crops, args.jobs, log)
    log(f"stage-4 cache: {len(cache['owner'])} crops")
    crop_rows = [[] for _ in range(len(y))]
    for i, r in enumerate(cache["owner"].tolist()):
        crop_rows[r].append(i)
    crop_rows = [np.asarray(c, np.int64) for c in crop_rows]

    folds = grouped_folds(origins, y, args.folds)
    fold_of = np.array([folds[o] for o in origins.tolist()])
    p_frozen = np.full(len(y), np.nan)
    p_ft = np.full(len(y), np.nan)
    early = sorted(s for s in set(args.eval_at) if 0 < s < args.steps)
    p_early = {s: np.full(len(y), np.nan) for s in early}
    check = []
    fold_secs = []
    for k in range(args.folds):
        tf = time.time()
        te, tr = np.flatnonzero(fold_of == k), np.flatnonzero(fold_of != k)
        w = source_weights(origins[tr])
        head = fit_head(x[tr], y[tr], l2, w)
        p_frozen[te] = apply_head(x[te], head)
        row_w = np.zeros(len(y))
        row_w[tr] = w
        log(f"fold {k}: {len(set(origins[te].tolist()))} sources held out ({len(te)} rows), frozen head fitted")
        net = finetune(head, cache, crop_rows, row_w, y, tr, steps=args.steps, batch=args.batch, lr=args.lr,
                       lr_head=args.lr_head, seed=k, log=log, checkpoints=early,
                       on_checkpoint=lambda s, n: p_early[s].__setitem__(te, score_rows(n, cache, te, crop_rows)))
        if k == 0:  # the untrained graph reproduces the frozen head's scores (cache and stage 5 exact)
            net0 = Stage5Head(head, torch)
            sub = te[:: max(1, len(te) // 200)]
            check.append(float(np.max(np.abs(score_rows(net0, cache, sub, crop_rows) - p_frozen[sub]))))
            log(f"  parity of the untrained stage-5 graph with the frozen head: max |dlogit| {check[-1]:.2e}")
        p_ft[te] = score_rows(net, cache, te, crop_rows)
        fold_secs.append(time.time() - tf)
        log(f"fold {k} done in {fold_secs[-1]:.0f} s")

    res: dict = {"folds": {}, "pooled": {}}
    a_fr = source_aucs(p_frozen, y, origins, chains)
    a_ft = source_aucs(p_ft, y, origins, chains)
    res["pooled"] = {"frozen": summary(a_fr), "finetune": summary(a_ft), "delta": paired(a_ft, a_fr),
                     "aucs": {"frozen": a_fr, "finetune": a_ft}}
    res["pooled_at_step"] = {}
    for s_, p_ in p_early.items():
        a_ = source_aucs(p_, y, origins, chains)
        res["pooled_at_step"][str(s_)] = {"finetune": summary(a_), "delta": paired(a_, a_fr)}
    for k in range(args.folds):
        m = fold_of == k
        f_fr = source_aucs(p_frozen[m], y[m], origins[m], chains[m])
        f_ft = source_aucs(p_ft[m], y[m], origins[m], chains[m])
        res["folds"][str(k)] = {"sources": sorted(set(origins[m].tolist())), "frozen": summary(f_fr),
                                "finetune": summary(f_ft), "delta": paired(f_ft, f_fr)}
    res["setup"] = {"folds": args.folds, "steps": args.steps, "batch": args.batch, "lr_stage5": args.lr,
                    "lr_head": args.lr_head, "optimizer": "Adam", "trained": "Lite0 stage 5 (blocks 8-10, BN "
                    "running statistics frozen) + the head, initialised from the fold's frozen head",
                    "l2": l2, "max_crops": max_crops, "n_images": len(pool), "n_rows": int(len(y)),
                    "n_crops": int(len(cache["owner"])), "n_sources": len(set(origins.tolist())),
                    "parity_untrained": check, "fold_seconds": [round(s) for s in fold_secs],
                    "wall_seconds": round(time.time() - t0), "cpu_seconds_main": round(time.process_time() - cpu0),
                    "cpu_seconds_after_cache": round(time.process_time() - tc),
                    "rine_card_loso_criterion": card.metrics.get("loso_criterion"), "frozen_loso": frozen_loso()}
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "finetune_probe.json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    write_md(res)
    log("wrote docs/benchmarks/finetune_probe.md/.json")
    return 0


def write_md(res: dict) -> None:
    s = res["setup"]
    from fakescope.perturbations.laundering import CHAINS

    def row(name: str, r: dict) -> str:
        cells = [f"{r['chains'][c]['mean']:.3f} / {r['chains'][c]['worst']:.2f}" for c in CHAINS]
        return f"| {name} | {r['criterion']:.3f} | " + " | ".join(cells) + " |"

    lines = ["# Fine-tuning Lite0 stage 5 against rine's frozen-feature head", "",
             "Written by `bench/finetune_probe.py` (measures only; nothing shipped). Protocol in the script's "
             "docstring.", "",
             f"Pool: rine's selection pool ({s['n_images']} images, {s['n_sources']} sources, every image as stored "
             f"and through the 4 training laundering chains: {s['n_rows']} rows, {s['n_crops']} native 224-px crops, "
             f"up to {s['max_crops']} per view), cut into {s['folds']} grouped folds over sources (each source in "
             "one fold; real and fake sources dealt separately, seed 0). Every model is fitted on the other folds "
             "and scores the held-out one.", "",
             f"* **frozen**: rine's recipe refitted per fold (maps 3-5, L2 {s['l2']}, sources weighted equally).",
             f"* **fine-tune**: {s['trained']}; {s['steps']} steps of {s['batch']} crops ({s['optimizer']}, "
             f"lr {s['lr_stage5']} stage 5, {s['lr_head']} head), rows drawn in proportion to rine's source "
             "weights, one random native crop of the row per draw (of the fixed grid crops), logistic loss.", "",
             "Cells: mean per-source AUC / worst source, per chain; criterion = mean over chains of the mean "
             "(rine's LOSO criterion; the rine card's leave-one-source-out value is "
             f"{s['rine_card_loso_criterion']:.3f}, with a model per source instead of per fold; recomputed here "
             f"from the same features and fit: {s.get('frozen_loso', float('nan')):.3f}). A fold holds out a third "
             "of the sources, real ones included, so every model here trains on ~28 sources instead of 41: the "
             "frozen arm's numbers are lower than rine's leave-one-source-out figures for that reason alone.", "",
             "| model | criterion | " + " | ".join(CHAINS) + " |", "|---|---|" + "---|" * len(CHAINS)]
    p = res["pooled"]
    lines += [row("frozen, pooled", p["frozen"]), row(f"fine-tune {s['steps']} steps, pooled", p["finetune"])]
    for st, r in res.get("pooled_at_step", {}).items():
        lines.append(row(f"fine-tune {st} steps, pooled", r["finetune"]))
    for k, f in res["folds"].items():
        lines += [row(f"frozen, fold {k}", f["frozen"]), row(f"fine-tune, fold {k}", f["finetune"])]
    d = p["delta"]
    lines += ["", f"Fine-tune minus frozen, pooled (mean over chains and sources; 95% source bootstrap): "
              f"**{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]**.", ""]
    signs = [f["delta"][0] for f in res["folds"].values()]
    worse = sum(p["finetune"]["chains"][c]["worst"] < p["frozen"]["chains"][c]["worst"] for c in CHAINS)
    reading = "Reading: the interval contains 0, so no gain is measurable; " if d[1] <= 0 <= d[2] else \
        "Reading: the interval excludes 0; "
    if min(signs) < 0 < max(signs):
        reading += f"the folds disagree in sign ({', '.join(f'{v:+.3f}' for v in signs)}) "
    reading += f"and the pooled worst source is lower after fine-tuning in {worse} of {len(CHAINS)} chains."
    lines += [reading, ""]
    lines += ["| fold | sources | delta [95%] |", "|---|---|---|"]
    for k, f in res["folds"].items():
        dd = f["delta"]
        lines.append(f"| {k} | {len(f['sources'])} | {dd[0]:+.3f} [{dd[1]:+.3f}, {dd[2]:+.3f}] |")
    for st, r in res.get("pooled_at_step", {}).items():
        dd = r["delta"]
        lines.append(f"| pooled, after {st} steps | | {dd[0]:+.3f} [{dd[1]:+.3f}, {dd[2]:+.3f}] |")
    lines += ["", "Worst sources (pooled): " + "; ".join(
        f"{c}: frozen {p['frozen']['chains'][c]['worst_source']}, fine-tune {p['finetune']['chains'][c]['worst_source']}"
        for c in CHAINS) + ".", "",
              f"Parity: the untrained stage-5 graph on the cached stage-4 maps reproduces the frozen head's scores "
              f"to {max(s['parity_untrained']):.1e} logits (fold 0 sample).", "",
              f"Compute: {s['wall_seconds']} s wall for the run (stage-4 cache included when it was built), per fold "
              f"{s['fold_seconds']} s (fine-tune + scoring), main-process CPU {s['cpu_seconds_main']} s; 2 cores "
              "shared with other jobs.", ""]
    (DOCS / "finetune_probe.md").write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
