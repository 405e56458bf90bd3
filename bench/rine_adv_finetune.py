"""A brief probe (nothing ships): can adversarially fine-tuning rine's last used Lite0 block (block 10, the end
of stage 5) plus its head resist white-box PGD where the head alone (``rine-adv``) could not?

    PYTHONPATH=src python bench/rine_adv_finetune.py --work bench/_work/adv

Train: ``--n-train`` train images outside CIFAKE (half fakes, half reals, split order), centre 224 crops; each
round: PGD 4/255 (5 steps) through the current model (fakes toward real, reals toward fake), then ``--epochs``
epochs of Adam (``--lr``, default 1e-4) on the clean and all adversarial crops so far, block 10 and the head
trainable (batch norm statistics frozen).  Held out: the test rows outside CIFAKE, centre crop only (one crop:
not the shipped detector's four), clean AUC and white-box PGD 4/255 (10 steps) for rine and the fine-tuned
model.  Writes ``work/rine-adv/`` ``--out`` (default finetune.json); ``adversary_eval.py --docs`` puts every
``finetune*.json`` into attacks.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("bench/_work/adv"))
    ap.add_argument("--n-train", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--out", default="finetune.json", help="file name under work/rine-adv/")
    ap.add_argument("--per-batch", action="store_true",
                    help="Madry-style: each batch attacked afresh through the current model (--rounds ignored; "
                         "each 'round' in the output is an epoch: its fresh adversarial crops wrong before / after)")
    a = ap.parse_args()
    import torch

    from fakescope.attacks import _gradient_attack
    from fakescope.attacks.evaluate import tpr_at_fpr
    from fakescope.attacks.twins import RineTwin
    from fakescope.benchmark.metrics import roc_auc
    from fakescope.build.rine import train_records
    from fakescope.build.rine_adv import train_crops

    torch.set_num_threads(1)
    torch.manual_seed(0)
    t0 = time.time()
    tr = train_records(None, "train")
    h = a.n_train // 2
    rows = [r for r in tr if r.label == 1][:h] + [r for r in tr if r.label == 0][:h]
    crops, y = train_crops(rows), np.array([r.label for r in rows], np.int64)
    test = train_records(None, "test")
    tcrops, ty = train_crops(test), np.array([r.label for r in test], np.int64)

    base = RineTwin("rine").eval()
    model = copy.deepcopy(base)
    block = model.lite._blocks[10]
    params = list(block.parameters()) + [model.w, model.b]
    for p in params:
        p.requires_grad_(True)

    def logits(m, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            t = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))
            return np.concatenate([m(t[i : i + 16]).numpy() for i in range(0, len(t), 16)]).astype(np.float64)

    def pgd(m, x: np.ndarray, sign: np.ndarray, steps: int, seed: int) -> np.ndarray:
        return _gradient_attack(x, eps=4 / 255, detector="rine", rng=np.random.default_rng(seed), norm="linf",
                                steps=steps, batch=16, twin=m, sign=sign)

    opt = torch.optim.Adam(params, lr=a.lr)
    sign = np.where(y == 1, 1.0, -1.0)
    pool_x, pool_y, rounds = [crops], [y], []
    n_steps = 0
    for r in range(a.rounds if not a.per_batch else 0):
        adv = pgd(model, crops, sign, 5, r)
        missed = float(np.mean((logits(model, adv) >= 0) != (y == 1)))
        pool_x.append(adv)
        pool_y.append(y)
        xs, ys = np.concatenate(pool_x), np.concatenate(pool_y)
        model.train()
        model.lite.eval()  # batch-norm statistics stay frozen
        rng = np.random.default_rng(100 + r)
        for _ in range(a.epochs):
            for idx in np.array_split(rng.permutation(len(xs)), max(1, len(xs) // 16)):
                xb = torch.from_numpy(xs[idx].transpose(0, 3, 1, 2).astype(np.float32))
                yb = torch.from_numpy(ys[idx].astype(np.float32))
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                n_steps += 1
        model.eval()
        after = float(np.mean((logits(model, adv) >= 0) != (y == 1)))
        rounds.append({"round": r, "adv_wrong_before": round(missed, 4), "adv_wrong_after": round(after, 4),
                       "seconds": round(time.time() - t0, 1)})
        print(rounds[-1], flush=True)
    if a.per_batch:  # Madry et al.: every batch attacked afresh through the current model, one round of epochs
        rng = np.random.default_rng(100)
        for e in range(a.epochs):
            wrong, kept = [], []
            for k, idx in enumerate(np.array_split(rng.permutation(len(crops)), max(1, len(crops) // 16))):
                model.eval()
                xa = pgd(model, crops[idx], sign[idx], 5, 1000 * e + k)
                wrong.append((logits(model, xa) >= 0) != (y[idx] == 1))
                kept.append((xa, idx))
                model.train()
                model.lite.eval()  # batch-norm statistics stay frozen
                xb = torch.from_numpy(np.concatenate([crops[idx], xa]).transpose(0, 3, 1, 2).astype(np.float32))
                yb = torch.from_numpy(np.r_[y[idx], y[idx]].astype(np.float32))
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xb), yb)  # clean + adversarial
                opt.zero_grad()
                loss.backward()
                opt.step()
                n_steps += 1
            model.eval()
            after = np.concatenate([(logits(model, xa) >= 0) != (y[idx] == 1) for xa, idx in kept])
            rounds.append({"round": e, "adv_wrong_before": round(float(np.mean(np.concatenate(wrong))), 4),
                           "adv_wrong_after": round(float(np.mean(after)), 4), "seconds": round(time.time() - t0, 1)})
            print(rounds[-1], flush=True)
    res: dict = {"n_train": len(rows), "rounds": rounds, "epochs": a.epochs, "lr": a.lr, "per_batch": a.per_batch,
                 "adam_steps": n_steps, "n_test_fakes": int(ty.sum()),
                 "n_test_reals": int((ty == 0).sum()), "models": {}}
    fk = tcrops[ty == 1]
    for name, m in (("rine", base), ("fine-tuned", model)):
        z = logits(m, tcrops)
        za = logits(m, pgd(m, fk, np.ones(len(fk)), 10, 7))
        zr, zf = z[ty == 0], z[ty == 1]
        res["models"][name] = {
            "auc_clean": round(roc_auc(ty, z), 4), "tpr_at_1fpr_clean": round(tpr_at_fpr(zr, zf), 4),
            "auc_after": round(roc_auc(np.r_[np.zeros(len(zr)), np.ones(len(za))], np.r_[zr, za]), 4),
            "tpr_at_1fpr_after": round(tpr_at_fpr(zr, za), 4), "mean_logit_drop": round(float(np.mean(zf - za)), 3)}
        print(name, res["models"][name], flush=True)
    res["seconds"] = round(time.time() - t0, 1)
    out = a.work / "rine-adv" / a.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
