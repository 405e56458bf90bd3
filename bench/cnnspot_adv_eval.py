"""cnnspot vs cnnspot-adv (``fakescope build cnnspot-adv``): does adversarial training make it resist white-box PGD?

    PYTHONPATH=src python bench/cnnspot_adv_eval.py --work bench/_work/cnnspot_adv    # ~10 min, one core
    → docs/benchmarks/cnnspot_adv.md, docs/benchmarks/attacks_runs/cnnspot-adv.json

``cnnspot-adv`` is ``cnnspot`` fine-tuned from its shipped weights on the same training rows with every batch
also attacked by L∞ PGD through the network being trained (``configs/train/cnnspot-adv.yaml``; the build step
of the same name).  Two held-out sets, neither trained, calibrated nor tuned on:

* CIFAKE's test split (cifake/val), the first ``--n`` fakes and reals: ``fakescope attack``'s own runs
  (:func:`fakescope.attacks.run.run_attack`: PGD, 10 steps, random start, through each detector's twin),
  eps 2, 4 and 8 / 255, each attack scored by both detectors: evasion at the default threshold (a scan with
  ``--detector cnnspot`` / ``cnnspot-adv``: the calibration split's 1% FPR operating point), TPR@1%FPR and
  AUC before and after (thresholds on these reals), PSNR;
* the frozen split's test rows outside CIFAKE at native resolution (bench/adversary_eval.py's
  :func:`variant_eval`, as for rine-adv): clean AUC as stored and laundered, PGD 4/255 through each.

The issue's goal: white-box evasion at 4/255 halved, clean AUC within 0.02.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from _common import DATA, DOCS, machine  # noqa: E402
from adversary_eval import variant_eval, weights_fingerprint  # noqa: E402

BASE, VARIANT = "cnnspot", "cnnspot-adv"
EPS = ("2/255", "4/255", "8/255")
RUNS_JSON = DOCS / "attacks_runs" / "cnnspot-adv.json"
MIN_FLAGGED = 10  # fewer flagged clean fakes than this: no evasion rate is reported
#: the build step's earlier recipes, measured by this script when they were shipped or tried (rows of its history)
EARLIER = (
    "| PGD-3 4/255, weight 0.5 (shipped 2026-12-07, commit e81cc12) | 3,000 | 0.67 | 0.814 | 0.919 | 0.757 | 0.831 |",
    "| PGD-4 5/255, weight 0.8 (stopped at step 500: calibration-split validation AUC 0.76 CIFAKE, 0.61 full "
    "resolution, falling) | 500 | | | | | |",
    "| PGD-3 4/255, weight 0.7 (2026-12-08, commit 2d44828) | 4,500 | 0.55 | 0.834 | 0.918 | 0.844 | 0.888 |",
)


def cifake_runs(work: Path, n: int) -> dict:
    from fakescope.attacks import parse_eps
    from fakescope.attacks.run import run_attack

    out = {}
    for via in (BASE, VARIANT):
        for e in EPS:
            d = work / f"cifake-pgd-{via}-{e.split('/')[0]}"
            if not (d / "report.json").exists():
                t0 = time.time()
                run_attack(DATA / "cifake" / "val", method="pgd", eps=parse_eps(e), eps_text=e, detector=via, out=d,
                           n=n, targets=[BASE, VARIANT], steps=10, seed=0)
                print(f"{d.name}: {time.time() - t0:.0f} s", flush=True)
            out[f"{via} {e}"] = json.loads((d / "report.json").read_text())
    return out


def goal(before: dict, after: dict, clean_base: float, clean_var: float, n_fakes: int | None = None) -> str:
    """The issue's goal in words; with ``n_fakes``, each evasion rate's 95% Wilson interval over the flagged
    fakes it is a share of (a rate of ~80 flagged fakes is good to about ±0.1)."""
    from fakescope.benchmark.metrics import wilson_interval

    eb, ev = before["evasion_rate"], after["evasion_rate"]
    halved = eb is not None and ev is not None and ev <= 0.5 * eb
    close = clean_var >= clean_base - 0.02

    def rate(m: dict) -> str:
        if n_fakes is None or m["evasion_rate"] is None:
            return f"{m['evasion_rate']:.2f}"
        n = round(m["flagged_before"] * n_fakes)
        lo, hi = wilson_interval(round(m["evasion_rate"] * n), n)
        return f"{m['evasion_rate']:.2f} [{lo:.2f}, {hi:.2f}] of {n}"

    return (f"white-box evasion {rate(before)} → {rate(after)} ({'halved' if halved else 'not halved'}"
            + (" at the point estimates; the intervals say how firmly" if n_fakes else "") + "), clean AUC "
            f"{clean_base:.3f} → {clean_var:.3f} ({'within' if close else 'not within'} 0.02)")


def write_docs(res: dict) -> None:
    c = res["cifake"]
    L = ["# Adversarial training: cnnspot vs cnnspot-adv", "",
         f"`bench/cnnspot_adv_eval.py` ({machine()}). `cnnspot-adv` = `fakescope build cnnspot-adv`: cnnspot fine-tuned "
         "from its shipped weights on its own training rows (train split + aligned fakes, the same format-aligned "
         "views) with every batch also attacked by L∞ PGD through the network being trained (fakes toward real, "
         f"reals toward fake), loss {1 - float(res['recipe']['adversarial']['weight']):g} clean + "
         f"{float(res['recipe']['adversarial']['weight']):g} adversarial; recipe `configs/train/cnnspot-adv.yaml` "
         f"({json.dumps(res['recipe']['adversarial'])}, {res['recipe']['steps']} steps, batches of "
         f"{res['recipe']['batch_small']} small + {res['recipe']['batch_crops']} crops, last step shipped; "
         f"trained in {res['train_seconds']} s). Not in the default set.", "",
         f"**CIFAKE test split** (cifake/val, {res['n']} fakes + {res['n']} reals, never trained, calibrated or tuned "
         "on; `fakescope attack` runs: PGD 10 steps through each detector's twin). *Evasion*: flagged fakes no longer "
         "flagged at the detector's default threshold (the calibration split's 1% FPR point). TPR and AUC: thresholds "
         "on these reals.", "",
         "| attack via | eps | target | flagged before | after | evasion | TPR@1%FPR before | after | AUC before | after | PSNR dB |",
         "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for via in (BASE, VARIANT):
        for e in EPS:
            r = c[f"{via} {e}"]
            for t in (BASE, VARIANT):
                m = r["targets"][t]
                wb = " (white-box)" if t == via else ""
                L.append(f"| {via} | {e} | {t}{wb} | {m['flagged_before']:.2f} | {m['flagged_after']:.2f} | "
                         f"{m['evasion_rate']:.2f} | {m['tpr_at_1fpr_before']:.2f} | {m['tpr_at_1fpr_after']:.2f} | "
                         f"{m['auc_before']:.3f} | {m['auc_after']:.3f} | {r['perturbation']['psnr_db']:.1f} |")
    b4, v4 = c[f"{BASE} 4/255"]["targets"][BASE], c[f"{VARIANT} 4/255"]["targets"][VARIANT]
    L += ["", "Goal at 4/255 on CIFAKE (evasion with its 95% Wilson interval and the flagged fakes it is a share "
          "of): " + goal(b4, v4, b4["auc_before"], v4["auc_before"], c[f"{VARIANT} 4/255"]["n_fakes"]) + "."]
    f = res["full_resolution"]
    tb, tv = f["targets"][BASE], f["targets"][VARIANT]
    L += ["", f"**Full resolution** (the frozen split's test rows outside CIFAKE: {f['n_fakes']} fakes, {f['n_reals']} "
          f"reals, native resolution; PGD {f['eps']}, {f['steps']} steps, through each twin; threshold: 1% FPR on the "
          f"{f['n_calibration_reals']} calibration-split reals, raw scores; laundered = the attack benchmark's resize + "
          "JPEG chain).", "",
          "| target | AUC clean | AUC laundered | flagged clean | attack via | flagged after | evasion | AUC after | mean logit drop |",
          "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    for t, row in ((BASE, tb), (VARIANT, tv)):
        for via, m in row["attacks"].items():
            ev = "n/a" if m["evasion_rate"] is None else f"{m['evasion_rate']:.2f}"
            L.append(f"| {t} | {row['auc_clean']:.3f} | {row['auc_laundered']:.3f} | {row['flagged_clean']:.2f} | "
                     f"{via}{' (white-box)' if m['white_box'] else ''} | {m['flagged_after']:.2f} | {ev} | "
                     f"{m['auc_after']:.3f} | {m['mean_logit_drop']:.2f} |")
    wb_b, wb_v = tb["attacks"][BASE], tv["attacks"][VARIANT]
    n_flag = {t: round(row["flagged_clean"] * f["n_fakes"]) for t, row in ((BASE, tb), (VARIANT, tv))}
    if min(n_flag.values()) >= MIN_FLAGGED:
        L += ["", "Goal at 4/255 at full resolution: " + goal(wb_b, wb_v, tb["auc_clean"], tv["auc_clean"]) + "."]
    else:  # an evasion rate of one or two flagged fakes says nothing
        L += ["", f"At full resolution the evasion rate cannot be measured: at 1% FPR on the calibration reals only "
              f"{n_flag[BASE]} ({BASE}) and {n_flag[VARIANT]} ({VARIANT}) of the {f['n_fakes']} clean fakes are flagged "
              f"(fewer than {MIN_FLAGGED}). What can: under white-box PGD 4/255 the AUC goes {tb['auc_clean']:.3f} → "
              f"{wb_b['auc_after']:.3f} for {BASE} and {tv['auc_clean']:.3f} → {wb_v['auc_after']:.3f} for {VARIANT} "
              f"(mean logit drop {wb_b['mean_logit_drop']:.2f} vs {wb_v['mean_logit_drop']:.2f}); clean AUC "
              f"{tb['auc_clean']:.3f} → {tv['auc_clean']:.3f}."]
    L += ["", "History: before this build step, a probe (bench/cnnspot_adv_finetune.py, removed after commit 86a146d; its own "
          "PGD loop, CIFAKE train only, 32-px batches) measured on the first 200 + 200 CIFAKE test images with the threshold at 1% FPR of those "
          "reals: shipped cnnspot evasion 0.81, AUC under attack 0.49, clean 0.900; after 3,000 steps of PGD-3 at "
          "6/255: 0.55 / 0.86 / 0.928 (runs: attacks_runs/cnnspot_adv_finetune.json). The build step replaces it: the "
          "same attack code as `fakescope attack`, the full training pool, the default thresholds. A first run of the "
          "step at eps 8/255 (killed at step 1,000 of 3,000) had taken the calibration-split validation AUC from 0.92 "
          "(cnnspot) to 0.75 on CIFAKE and 0.68 at full resolution, so the shipped recipe trains at the attack's own "
          "4/255.", "", "Earlier recipes of the build step (same evaluation; the table above is the shipped one). Each "
          "recipe was tried after reading the one before on this same CIFAKE draw (three tries, each with more of the "
          "loss adversarial), so the shipped figure carries a selection effect: the first 200 + 200 test images are "
          "no longer untouched for this choice; images 200-499 of cifake/val, never looked at, are the check still "
          "to run.", "",
          "| recipe | steps | CIFAKE white-box evasion 4/255 | AUC under it | clean AUC | full-res AUC under it | "
          "full-res clean AUC |", "|---|---:|---:|---:|---:|---:|---:|", *EARLIER]
    (DOCS / "cnnspot_adv.md").write_text("\n".join(L) + "\n", encoding="utf-8")


def main() -> int:
    import torch

    from fakescope.detectors.base import load_card

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "_work" / "cnnspot_adv")
    ap.add_argument("--n", type=int, default=200)
    a = ap.parse_args()
    torch.set_num_threads(1)
    a.work.mkdir(parents=True, exist_ok=True)
    stamp, fp = a.work / "weights.sha256", weights_fingerprint()
    if stamp.exists() and stamp.read_text().strip() != fp:
        print(f"{a.work} holds runs made with other weights: pass a fresh --work", file=sys.stderr)
        return 2
    stamp.write_text(fp + "\n")
    card = load_card(VARIANT)
    res = {"n": a.n, "recipe": card.extra["recipe"], "validation": card.metrics.get("validation"),
           "train_seconds": card.metrics.get("build", {}).get("train_seconds"),
           "cifake": cifake_runs(a.work, a.n),
           "full_resolution": variant_eval(a.work / "full", BASE, VARIANT)}
    RUNS_JSON.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    write_docs(res)
    print((DOCS / "cnnspot_adv.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
