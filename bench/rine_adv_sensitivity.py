"""A probe (nothing ships): are shallower or mean-only pooled statistics of Lite0 less sensitive to a
4/255 perturbation than rine's stages 3-5, enough for a head on them to resist white-box PGD?

    PYTHONPATH=src python bench/rine_adv_sensitivity.py --work bench/_work/adv_eval

For each feature set (``VARIANTS``: maps of the frozen Lite0, which statistics, the L2 strength), a head is
fitted as ``rine``'s (standardise, L2 logistic with rine's L2 unless the variant says, source weights) on the
cached features of the train rows outside CIFAKE (as stored and through the four laundering chains, one
centre crop).  With ``--adversarial`` also the heads of ``ADVERSARIAL``: the shipped ``rine-adv`` and
rine-adv's recipe (:func:`fakescope.build.rine_adv.adversarial_rounds`) with a stronger L2.  Every head is
measured on the **calibration** rows outside CIFAKE (never fitted on here; not the test rows attacks.md
reports): centre 224 crop, clean AUC, and white-box L-inf PGD (random start, 10 steps) at 1/255 and 4/255
through that head's own graph: AUC of attacked fakes vs clean reals, share of fakes above the largest clean
real logit before and after, median logit drop over the clean separation (median fake logit minus median
real logit).  Writes ``work/rine-adv/sensitivity.json`` (resumes from it); ``adversary_eval.py --docs`` puts
it into attacks.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

#: name -> (maps, statistics, L2 strength or None for rine's): the head reads these columns of the pooled statistics
VARIANTS = {
    "stages 3-5, mean+std (rine's features, train-only head)": ((3, 4, 5), ("mean", "std"), None),
    "stages 3-5, L2 0.1 (rine's grid max)": ((3, 4, 5), ("mean", "std"), 0.1),
    "stages 3-5, means only": ((3, 4, 5), ("mean",), None),
    "stage 2 (mean+std)": ((2,), ("mean", "std"), None),
    "stage 3 (mean+std)": ((3,), ("mean", "std"), None),
    "stage 5 (mean+std)": ((5,), ("mean", "std"), None),
}


def columns(maps: tuple[int, ...], stats: tuple[str, ...], within: tuple[int, ...]) -> np.ndarray:
    """Columns of ``stats`` of ``maps`` in features pooling ``within`` (each map: means, then stds)."""
    from fakescope.backbones.efficientnet_lite import LITE0_BLOCKS

    ch = {k + 1: int(b[5]) for k, b in enumerate(LITE0_BLOCKS)}
    off, out = 0, []
    for m in within:
        if m in maps:
            if "mean" in stats:
                out.extend(range(off, off + ch[m]))
            if "std" in stats:
                out.extend(range(off + ch[m], off + 2 * ch[m]))
        off += 2 * ch[m]
    return np.asarray(out, np.int64)


#: with --adversarial: name -> L2 strength of the head fitted by rine-adv's recipe (adversarial rounds on
#: the train crops, fakescope.build.rine_adv.adversarial_rounds); "shipped": the shipped rine-adv head itself
ADVERSARIAL = {
    "rine-adv as shipped (adversarial rounds, rine's L2)": "shipped",
    "rine-adv recipe with L2 0.1": 0.1,
}


def adversarial_head(l2v: "float | str", l2_rine: float) -> tuple[np.ndarray, float]:
    """``(w, b)`` over the pooled statistics of stages 3-5: the shipped rine-adv head, or rine-adv's recipe
    (its clean rows, crops and rounds) with the L2 strength ``l2v`` instead of rine's."""
    from fakescope.attacks.twins import RineTwin
    from fakescope.build import rine
    from fakescope.build.rine_adv import adversarial_rounds, train_crops

    if l2v == "shipped":
        t = RineTwin("rine-adv")
        return t.w.numpy().astype(np.float64), float(t.b)
    pool = rine.selection_records(None)
    max_crops = 4  # rine's (and rine-adv's) crop count for the clean rows
    feats = rine._cached_features(pool, jobs=1, log=None)[list(rine.RECIPE["crops_grid"]).index(max_crops)]
    nc = len(rine.CHAINS)
    is_train = np.repeat([r.split == "train" for r in pool], nc)
    x = feats[is_train][:, rine.stage_columns((3, 4, 5))]
    y = np.repeat([r.label for r in pool], nc).astype(np.float64)[is_train]
    wc = rine.source_weights(np.repeat([r.origin for r in pool], nc)[is_train])
    train = [r for r in pool if r.split == "train"]
    head, rounds = adversarial_rounds(train_crops(train), np.array([r.label for r in train]), x, y, float(l2v),
                                      stages=(3, 4, 5), clean_weight=wc, log=print)
    w = np.asarray(head["coef"], np.float64) / np.asarray(head["scale"], np.float64)
    return w, float(head["intercept"]) - float(np.asarray(head["mean"], np.float64) @ w)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("bench/_work/adv_eval"))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--adversarial", action="store_true", help="also the heads of ADVERSARIAL (minutes each)")
    a = ap.parse_args()
    import torch

    from fakescope.attacks import _gradient_attack
    from fakescope.attacks.evaluate import tpr_at_fpr
    from fakescope.backbones import load_backbone
    from fakescope.benchmark.metrics import roc_auc
    from fakescope.build import rine
    from fakescope.build.rine_adv import train_crops

    torch.set_num_threads(1)
    t0 = time.time()
    base = json.loads((Path(rine.__file__).parents[1] / "weights" / "rine.json").read_text())
    l2 = float(base["extra"]["l2"])
    pool = rine.selection_records(None)
    feats = rine._cached_features(pool, jobs=1, log=None)[list(rine.RECIPE["crops_grid"]).index(1)]
    nc = len(rine.CHAINS)
    is_train = np.repeat([r.split == "train" for r in pool], nc)
    y_tr = np.repeat([r.label for r in pool], nc).astype(np.float64)[is_train]
    w_tr = rine.source_weights(np.repeat([r.origin for r in pool], nc)[is_train])
    cal = rine.train_records(None, "calibration")
    crops, yc = train_crops(cal), np.array([r.label for r in cal], np.int64)
    fk = crops[yc == 1]
    within = tuple(rine.RECIPE["stages"])
    lite = load_backbone("efficientnet_lite0").eval()
    for p in lite.parameters():
        p.requires_grad_(False)
    res: dict = {"n_train_rows": int(is_train.sum()), "n_cal_fakes": int(yc.sum()), "n_cal_reals": int((yc == 0).sum()),
                 "l2": l2, "steps": a.steps, "variants": {}}
    out = a.work / "rine-adv" / "sensitivity.json"
    if out.exists():  # resume: variants already measured are kept
        res["variants"] = json.loads(out.read_text())["variants"]
    adv = {k: ((3, 4, 5), ("mean", "std"), v) for k, v in ADVERSARIAL.items()} if a.adversarial else {}
    todo = {**VARIANTS, **adv}
    for name, (maps, stats, l2v) in todo.items():
        if name in res["variants"]:
            continue
        t1 = time.time()
        cols = columns(maps, stats, within)
        if name in ADVERSARIAL:
            w, b = adversarial_head(ADVERSARIAL[name], l2)
        else:
            head = rine.fit_head(feats[is_train][:, cols], y_tr, l2 if l2v is None else l2v, w_tr)
            w = np.asarray(head["coef"], np.float64) / np.asarray(head["scale"], np.float64)
            b = float(head["intercept"]) - float(np.asarray(head["mean"], np.float64) @ w)
        fit_seconds = round(time.time() - t1, 1)
        # the pooled statistics of the deepest map needed, in `within` order, then this head's columns
        need = tuple(m for m in within if m <= max(maps))
        sel = torch.from_numpy(columns(maps, stats, need))

        class Net(torch.nn.Module):
            def forward(self, x: "torch.Tensor") -> "torch.Tensor":
                return lite.forward_pooled_stages(x, need)[:, sel] @ wt + b

        wt = torch.tensor(w, dtype=torch.float32)
        net = Net()

        def logits(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                t = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))
                return np.concatenate([net(t[i : i + 16]).numpy() for i in range(0, len(t), 16)]).astype(np.float64)

        z = logits(crops)
        zr, zf = z[yc == 0], z[yc == 1]
        thr = float(zr.max())
        row = {"n_features": int(len(cols)), "l2": l2 if l2v in (None, "shipped") else l2v, "fit_seconds": fit_seconds,
               "auc_clean": round(roc_auc(yc, z), 4),
               "tpr_at_1fpr_clean": round(tpr_at_fpr(zr, zf), 4), "flagged_clean": round(float(np.mean(zf > thr)), 4),
               "median_fake_logit": round(float(np.median(zf)), 3), "median_real_logit": round(float(np.median(zr)), 3),
               "attacks": {}}
        sep = float(np.median(zf) - np.median(zr))
        for e in (1, 4):
            t1 = time.time()
            adv = _gradient_attack(fk, eps=e / 255, detector="rine", rng=np.random.default_rng(e), norm="linf",
                                   steps=a.steps, batch=16, twin=net)
            za = logits(adv)
            was = zf > thr
            row["attacks"][f"{e}/255"] = {
                "auc_after": round(roc_auc(np.r_[np.zeros(len(zr)), np.ones(len(za))], np.r_[zr, za]), 4),
                "flagged_after": round(float(np.mean(za > thr)), 4),
                "evasion": round(float(np.mean(za[was] <= thr)), 4) if was.any() else None,
                "median_logit_drop": round(float(np.median(zf - za)), 3),
                "drop_over_separation": round(float(np.median(zf - za)) / sep, 2) if sep > 0 else None,
                "seconds": round(time.time() - t1, 1)}
        res["variants"][name] = row
        print(name, json.dumps(row), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({**res, "seconds": round(time.time() - t0, 1)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
