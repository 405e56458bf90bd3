"""The attack benchmark behind docs/benchmarks/attacks.md: attacks, transfer, laundering, purification and
provenance on the CIFAKE *test* split (cifake/val: never trained or calibrated on), N fakes + N reals.

    W=bench/_work/adv_eval
    PYTHONPATH=src python bench/adversary_eval.py --n 64 --work $W             # the sweep (~12 min, 2 busy cores)
    PYTHONPATH=src python bench/adversary_eval.py --n 64 --work $W --rine-adv  # rine vs rine-adv (~20 min)
    PYTHONPATH=src python bench/rine_adv_finetune.py --work $W                 # optional probes (~10 and ~25 min)
    PYTHONPATH=src python bench/rine_adv_sensitivity.py --work $W --adversarial
    PYTHONPATH=src python bench/adversary_eval.py --n 64 --work $W --docs docs/benchmarks/attacks.md

Each run is ``fakescope.attacks.run.run_attack`` (what ``fakescope attack`` runs) writing its folder under
--work; finished runs (report.json present) are reused, so an interrupted sweep resumes — only with the weights
they were made with (--work/weights.sha256; other weights: the script stops and asks for a fresh --work).  The reports are
copied to docs/benchmarks/attacks_runs/ (NAME.json; rine-adv*.json from work/rine-adv/).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np


def runs(n: int) -> list[dict]:
    all_t = ["npr", "npr-thumb", "cnnspot", "safe", "patchcraft", "rine", "ensemble", "fusion"]
    out = [dict(name="fusion-pgd-4", method="pgd", eps="4/255", detector="fusion", steps=5, targets=all_t,
                defences=["jpeg75", "blur", "dae"])]
    for e in ("1/255", "2/255", "4/255", "8/255"):
        out.append(dict(name=f"cnnspot-fgsm-{e.split('/')[0]}", method="fgsm", eps=e, detector="cnnspot", steps=1,
                        targets=["cnnspot", "fusion"], defences=[]))
        out.append(dict(name=f"cnnspot-pgd-{e.split('/')[0]}", method="pgd", eps=e, detector="cnnspot", steps=10,
                        targets=all_t if e == "4/255" else ["cnnspot", "fusion"],
                        defences=["jpeg75", "blur", "dae"] if e == "4/255" else []))
    for s in ("npr-thumb", "safe", "patchcraft"):
        out.append(dict(name=f"{s}-pgd-4", method="pgd", eps="4/255", detector=s, steps=10, targets=all_t, defences=[]))
    for m in ("freq-high", "freq-low", "pgd-l2"):
        out.append(dict(name=f"cnnspot-{m}-4", method=m, eps="4/255", detector="cnnspot", steps=10, targets=all_t,
                        defences=[]))
    for m in ("launder", "ganprintr"):
        out.append(dict(name=m, method=m, eps="0", detector="fusion", steps=1, targets=all_t, defences=["jpeg75"]))
    out.append(dict(name="fusion-pgd-2", method="pgd", eps="2/255", detector="fusion", steps=5, targets=["fusion"],
                    defences=[]))
    return out


def c2pa_check(work: Path) -> dict:
    """A C2PA-signed JPEG whose pixels a PGD attack changes, saved with the original manifest segments kept
    (the adversary's best try at keeping the credentials): what the provenance analyzer then says."""
    from PIL import Image

    from fakescope.attacks import attack
    from fakescope.pipeline import Scanner

    src = Path(__file__).resolve().parents[2] / "shared" / "data" / "c2pa" / "C.jpg"
    if not src.exists():
        src = Path("/work/shared/data/c2pa/C.jpg")
    data = src.read_bytes()
    im = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    adv = attack("pgd", im[None], eps=4 / 255, detector="cnnspot", steps=3)[0]
    buf = io.BytesIO()
    Image.fromarray(adv).save(buf, "JPEG", quality=95)
    new = buf.getvalue()
    # copy every APP11 (JUMBF: the C2PA manifest store) segment of the original after the new SOI
    segs, i = [], 2
    while i < len(data) - 4 and data[i] == 0xFF and data[i + 1] not in (0xDA, 0xD9):
        ln = int.from_bytes(data[i + 2 : i + 4], "big")
        if data[i + 1] == 0xEB:
            segs.append(data[i : i + 2 + ln])
        i += 2 + ln
    out = work / "c2pa-attacked.jpg"
    out.write_bytes(new[:2] + b"".join(segs) + new[2:])
    sc = Scanner(provenance=True)
    res = {}
    for name, path in (("original", src), ("attacked", out)):
        v = sc.scan_path(path)
        ev = [e for e in v.evidence if e.source == "c2pa"]
        res[name] = {"label": v.label, "p_fake": round(v.p_fake, 4) if v.p_fake is not None else None,
                     "c2pa": ev[0].summary if ev else "no C2PA evidence", "c2pa_score": ev[0].score if ev else None,
                     "watermark": [e.summary for e in v.evidence if e.kind == "watermark"]}
    res["app11_segments_copied"] = len(segs)
    return res


def variant_eval(out: Path, base: str, variant: str, *, steps: int = 10, eps_text: str = "4/255") -> dict:
    """A detector vs its adversarially trained variant on the held-out rows outside CIFAKE (the frozen split's
    ``test`` rows of the modern set and the photo collections: full-resolution images; never trained,
    calibrated or tuned on): clean AUC (as stored and laundered), white-box PGD through each detector's twin
    at native resolution (one image per call: the sizes differ), and transfer of the base's attack to the
    variant.  Thresholds: 1% FPR on the calibration split's reals, raw scores.  Adversarial images are cached
    under ``out/`` (.npz per detector), so a rerun resumes."""
    from fakescope.attacks import LAUNDER_CHAIN, attack, parse_eps
    from fakescope.attacks.evaluate import psnr, tpr_at_fpr
    from fakescope.benchmark.metrics import roc_auc, threshold_at_fpr
    from fakescope.build.rine import train_records
    from fakescope.detectors import create_detector
    from fakescope.io.decode import load
    from fakescope.perturbations import Chain

    out.mkdir(parents=True, exist_ok=True)
    test = train_records(None, "test")
    cal = train_records(None, "calibration")
    reals = [load(r.path).image for r in test if r.label == 0]
    fakes = [load(r.path).image for r in test if r.label == 1]
    cal_reals = [load(r.path).image for r in cal if r.label == 0]
    eps = parse_eps(eps_text)
    adv: dict[str, list] = {}
    for src in (base, variant):
        path = out / f"pgd-{src}.npz"
        if path.exists():
            with np.load(path) as z:
                adv[src] = [z[f"a{i}"] for i in range(len(fakes))]
            continue
        t0 = time.time()
        adv[src] = [attack("pgd", im[None], eps=eps, detector=src, steps=steps, seed=i)[0] for i, im in enumerate(fakes)]
        np.savez(path, **{f"a{i}": a for i, a in enumerate(adv[src])})
        print(f"{variant} eval: PGD via {src}: {time.time() - t0:.0f} s", flush=True)
    dets = {n: create_detector(n) for n in (base, variant)}
    ch = Chain.from_dict(LAUNDER_CHAIN)
    res: dict = {"n_fakes": len(fakes), "n_reals": len(reals), "n_calibration_reals": len(cal_reals), "eps": eps_text,
                 "steps": steps, "psnr_db": {s: round(float(np.median([psnr(a, f) for a, f in zip(adv[s], fakes)])), 2)
                                            for s in adv},
                 "linf_grey_levels": {s: int(max(np.abs(a.astype(np.int16) - f.astype(np.int16)).max()
                                                 for a, f in zip(adv[s], fakes))) for s in adv}, "targets": {}}
    for t, d in dets.items():
        zr, zf = d.raw_scores(reals), d.raw_scores(fakes)
        zc = d.raw_scores(cal_reals)
        thr = threshold_at_fpr(np.zeros(len(zc)), zc, fpr=0.01)
        lr, lf = d.raw_scores([ch.apply(x) for x in reals]), d.raw_scores([ch.apply(x) for x in fakes])
        y = [0] * len(zr) + [1] * len(zf)
        row = {"auc_clean": round(roc_auc(y, np.r_[zr, zf]), 4), "auc_laundered": round(roc_auc(y, np.r_[lr, lf]), 4),
               "tpr_at_1fpr_clean": round(tpr_at_fpr(zr, zf), 4), "flagged_clean": round(float(np.mean(zf >= thr)), 4),
               "threshold_raw": float(thr), "attacks": {}}
        for s in adv:
            za = d.raw_scores(adv[s])
            was = zf >= thr
            row["attacks"][s] = {
                "white_box": s == t, "auc_after": round(roc_auc(y, np.r_[zr, za]), 4),
                "tpr_at_1fpr_after": round(tpr_at_fpr(zr, za), 4), "flagged_after": round(float(np.mean(za >= thr)), 4),
                "evasion_rate": round(float(np.mean(za[was] < thr)), 4) if was.any() else None,
                "mean_logit_drop": round(float(np.mean(zf - za)), 3)}
        res["targets"][t] = row
    return res


def rine_adv_eval(work: Path, *, steps: int = 10, eps_text: str = "4/255") -> dict:
    """rine vs rine-adv (:func:`variant_eval`), plus rine's held-out fold scores and rine-adv's build rounds;
    written to ``work/rine-adv/report.json``."""
    from fakescope.attacks import LAUNDER_CHAIN
    from fakescope.attacks.evaluate import tpr_at_fpr
    from fakescope.benchmark.metrics import roc_auc
    from fakescope.build.rine import train_records
    from fakescope.detectors import create_detector
    from fakescope.io.decode import load
    from fakescope.perturbations import Chain

    out = work / "rine-adv"
    res = variant_eval(out, "rine", "rine-adv", steps=steps, eps_text=eps_text)
    test = train_records(None, "test")
    ch = Chain.from_dict(LAUNDER_CHAIN)
    # rine's shipped head is cross-fitted (fitted on these test rows too): its clean columns above are in-sample.
    # Held out: each row through the fold head that never saw it (build.generalisation.FoldScorer, as wild.json)
    from fakescope.build.generalisation import FoldScorer

    fs = FoldScorer()
    folds = [fs.fold(r) for r in test]
    if all(f is not None for f in folds):
        ims = [load(r.path).image for r in test]
        yt = [r.label for r in test]
        zc = np.array([fs(im, f) for im, f in zip(ims, folds)])
        zl = np.array([fs(ch.apply(im), f) for im, f in zip(ims, folds)])
        lab = np.asarray(yt)
        res["rine_held_out"] = {"auc_clean": round(roc_auc(yt, zc), 4), "auc_laundered": round(roc_auc(yt, zl), 4),
                                "tpr_at_1fpr_clean": round(tpr_at_fpr(zc[lab == 0], zc[lab == 1]), 4),
                                "n_folds": len(set(folds))}
    res["train_rounds"] = create_detector("rine-adv").card.metrics.get("rounds", [])
    (out / "report.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--work", type=Path, default=Path("/tmp/adv_eval"))
    ap.add_argument("--data", default="/work/shared/data/cifake/val")
    ap.add_argument("--only", default=None)
    ap.add_argument("--docs", type=Path, default=None, help="only write this Markdown file from finished runs")
    ap.add_argument("--rine-adv", action="store_true", help="only the rine vs rine-adv measurement")
    ap.add_argument("--update-docs", type=Path, default=None,
                    help="with --rine-adv: rewrite only the rine-adv summary line and section of this Markdown file "
                         "(the other runs' tables stay as they are)")
    a = ap.parse_args()
    if a.docs:
        write_docs(a.work, a.docs, a.n)
        return 0
    if a.update_docs and not a.rine_adv:  # from the finished rine-adv report, nothing recomputed
        update_rine_adv_docs(json.loads((a.work / "rine-adv" / "report.json").read_text()), a.update_docs, a.work)
        return 0
    import torch

    from fakescope.attacks import parse_eps
    from fakescope.attacks.run import run_attack

    torch.set_num_threads(1)
    a.work.mkdir(parents=True, exist_ok=True)
    # finished runs are reused only with the weights they were made with
    stamp, fp = a.work / "weights.sha256", weights_fingerprint()
    if stamp.exists() and stamp.read_text().strip() != fp:
        print(f"{a.work} holds runs made with other weights (weights.sha256 differs): pass a fresh --work",
              file=sys.stderr)
        return 2
    stamp.write_text(fp + "\n")
    if a.rine_adv:
        r = rine_adv_eval(a.work)
        print(json.dumps(r, indent=2))
        if a.update_docs:
            update_rine_adv_docs(r, a.update_docs, a.work)
        return 0
    for r in runs(a.n):
        if a.only and r["name"] not in a.only.split(","):
            continue
        out = a.work / r["name"]
        if (out / "report.json").exists():
            continue
        t0 = time.time()
        run_attack(a.data, method=r["method"], eps=parse_eps(r["eps"]), eps_text=r["eps"], detector=r["detector"],
                   out=out, n=a.n, targets=r["targets"], defences=r["defences"], steps=r["steps"], seed=0)
        print(f"{r['name']}: {time.time() - t0:.0f} s", flush=True)
    if not (a.work / "c2pa.json").exists():
        (a.work / "c2pa.json").write_text(json.dumps(c2pa_check(a.work), indent=2))
        print("c2pa done", flush=True)
    return 0


CNNSPOT_ADV_POINTER = ("- Adversarial training of a whole network (`fakescope build cnnspot-adv`: cnnspot fine-tuned on PGD "
                       "4/255 examples through itself; the detector `cnnspot-adv`): measured by bench/cnnspot_adv_eval.py "
                       "in [cnnspot_adv.md](cnnspot_adv.md).")


def weights_fingerprint() -> str:
    """sha256 over the shipped weights and calibration files every run here reads (names and contents)."""
    import hashlib

    from fakescope.detectors.base import WEIGHTS_DIR

    h = hashlib.sha256()
    for p in sorted(WEIGHTS_DIR.rglob("*")):
        if p.is_file() and p.suffix in (".onnx", ".json", ".npz"):
            h.update(str(p.relative_to(WEIGHTS_DIR)).encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _rine_adv_summary(r: dict) -> str:
    a, b = r["targets"]["rine"], r["targets"]["rine-adv"]
    wa, wb = a["attacks"]["rine"], b["attacks"]["rine-adv"]
    ev = lambda m: "n/a" if m["evasion_rate"] is None else f"{m['evasion_rate']:.2f}"  # noqa: E731
    halved = (wa["evasion_rate"] is not None and wb["evasion_rate"] is not None
              and wb["evasion_rate"] <= 0.5 * wa["evasion_rate"])
    h = r.get("rine_held_out")
    ref = h or a  # rine's clean AUC held out (fold heads) where measured, else the shipped head's (in-sample)
    d_auc = b["auc_clean"] - ref["auc_clean"]
    clean = (f"clean AUC {h['auc_clean']:.3f} (rine held out: each row through the fold head that never saw it; the "
             f"shipped cross-fitted head, fitted on these rows, {a['auc_clean']:.3f} in-sample) vs {b['auc_clean']:.3f} "
             f"(rine-adv, never fitted on them) ({d_auc:+.3f}), clean TPR@1%FPR {h['tpr_at_1fpr_clean']:.2f} vs "
             f"{b['tpr_at_1fpr_clean']:.2f}" if h else
             f"clean AUC {a['auc_clean']:.3f} vs {b['auc_clean']:.3f} ({d_auc:+.3f}), clean TPR@1%FPR "
             f"{a['tpr_at_1fpr_clean']:.2f} vs {b['tpr_at_1fpr_clean']:.2f} (rine's shipped head is cross-fitted on "
             "these rows: its clean figures are in-sample)")
    return (f"- Adversarial training as a build option (`fakescope build rine-adv`: rine's head refitted on PGD "
            f"examples through its own graph; the detector `rine-adv`, not in the default set), on the {r['n_fakes']} "
            f"fakes and {r['n_reals']} reals of the test rows outside CIFAKE: white-box PGD {r['eps']} "
            f"({r['steps']} steps) evasion {ev(wa)} (rine) vs {ev(wb)} (rine-adv), TPR@1%FPR after the attack "
            f"{wa['tpr_at_1fpr_after']:.2f} vs {wb['tpr_at_1fpr_after']:.2f}; {clean}. Goal (evasion halved, clean "
            f"AUC within 0.02): **{'met' if halved and abs(d_auc) <= 0.02 else 'not met'}** (details below).")


def _finetune_lines(work: Path) -> list[str]:
    """The probes of bench/rine_adv_finetune.py (block 10 + head, nothing shipped): one table row per model and
    run (``work/rine-adv/finetune*.json``), when any ran."""
    runs = [json.loads(p.read_text()) for p in sorted((work / "rine-adv").glob("finetune*.json"))]
    if not runs:
        return []
    f = runs[0]
    L = ["", "### Probe: adversarial fine-tuning of the last used block (nothing ships)", "",
         f"`bench/rine_adv_finetune.py`: block 10 of Lite0 (the end of stage 5, the deepest map rine reads) and the "
         f"head trained on {f['n_train']} train crops (half fakes); each round: PGD 4/255 (5 steps) on those crops "
         "through the current model, then epochs of Adam (batch 16) on the clean and every adversarial crop so far "
         "(rounds, epochs and learning rate per run below; *per-batch*: every batch attacked afresh through the "
         "current model, after Madry et al., loss on the clean and adversarial crops); measured on the same test rows, **centre crop only** "
         f"(one 224 crop, not the detector's four: numbers differ from the table above), {f['n_test_fakes']} fakes "
         f"and {f['n_test_reals']} reals; white-box PGD 4/255, 10 steps, through each model. Every run starts from "
         "rine's shipped head, which is cross-fitted on these test rows: the clean columns are in-sample; the attack "
         "columns are the measurement.", "",
         "| run | model | clean AUC | clean TPR@1%FPR | AUC after PGD | TPR@1%FPR after | "
         "mean logit drop |", "|---|---|---|---|---|---|---|"]
    def tag(f: dict) -> str:
        return (f"per-batch PGD, {f['epochs']} epochs, lr {f['lr']:g}" if f.get("per_batch") else
                f"{len(f['rounds'])} rounds x {f['epochs']} epochs, lr {f.get('lr', 1e-4):g}")

    for f in runs:
        for n, m in f["models"].items():
            if n == "rine" and f is not runs[0]:
                continue  # the same shipped model each run
            L.append(f"| {tag(f) if n != 'rine' else '(shipped)'} | {n} | {m['auc_clean']:.3f} | "
                     f"{m['tpr_at_1fpr_clean']:.2f} | {m['auc_after']:.3f} | {m['tpr_at_1fpr_after']:.2f} | "
                     f"{m['mean_logit_drop']:.2f} |")
    L += ["", "Training (share of a round's adversarial train crops the model gets wrong, before and after its "
          "epochs; per-batch runs: of each epoch's fresh adversarial crops, when attacked and after the epoch): "
          + "; ".join(f"{tag(f)}: " + ", ".join(
              f"{'epoch' if f.get('per_batch') else 'round'} {t['round']} {t['adv_wrong_before']:.2f} -> "
              f"{t['adv_wrong_after']:.2f}" for t in f["rounds"]) for f in runs) + "."]
    fits = [f for f in runs if min(t["adv_wrong_after"] for t in f["rounds"]) < 0.5]
    robust = [f for f in runs if f["models"]["fine-tuned"]["auc_after"] >= 0.5]
    if not fits:
        most = max(f.get("adam_steps") or sum(f["epochs"] * max(1, f["n_train"] * (r + 2) // 16)
                                              for r in range(len(f["rounds"]))) for f in runs)
        L += ["", f"No run fits even its own adversarial train crops: these probes (at most {most} Adam steps, "
              "on CPU under load) are too short to say whether adversarial fine-tuning of the backbone could reach "
              "the goal; they say only that a brief one does not. A real attempt needs a build step with far more "
              "steps and crops (hours of CPU, or a GPU)."]
    elif not robust:
        again = min(t["adv_wrong_before"] for f in fits for t in f["rounds"][1:]) if any(
            len(f["rounds"]) > 1 for f in fits) else None
        L += ["", "A run that fits its own adversarial train crops "
              + (f"is broken again by each fresh attack (at least {again:.2f} of the next round's adversarial crops "
                 "wrong) and " if again is not None else "")
              + "leaves the held-out fakes fully evaded (AUC after PGD below 0.5 for every run): on 96 train crops "
              "the fine-tuned block learns those perturbations, not robustness."]
        unfit = [f for f in runs if f not in fits]
        if unfit:
            L[-1] += (" Runs that never get their adversarial train crops right (after their epochs): "
                      + "; ".join(f"{tag(f)} ({f['adam_steps']} Adam steps)" if f.get("adam_steps") else tag(f)
                                  for f in unfit) + ".")
        L[-1] += " A real attempt needs far more crops and steps (a GPU-scale build step, not done)."
    return L


def _rine_adv_section(r: dict, work: Path | None = None) -> list[str]:
    L = ["", "## Adversarial training: rine vs rine-adv", "",
         f"Data: the frozen split's **test** rows outside CIFAKE ({r['n_fakes']} fakes of the modern set, "
         f"{r['n_reals']} reals: modern-set reals and photo collections), full resolution, rine's domain. "
         "rine-adv never saw them (its head keeps to the train split; its recipe was fixed before this measurement, "
         "not chosen on it); rine's shipped head is cross-fitted and was fitted on them too, so rine's clean columns "
         "in the table are **in-sample** (its held-out line follows the table); the attack columns compare "
         "robustness of the shipped weights, which is what an attacker holds. Attacks: L-inf PGD "
         f"{r['eps']}, {r['steps']} steps, random start, one image per call at its native size through the "
         "attacked detector's twin (only the crops rine reads move); median PSNR "
         + ", ".join(f"{k} {v} dB" for k, v in r["psnr_db"].items()) + "; max change "
         + ", ".join(f"{k} {v}" for k, v in r["linf_grey_levels"].items()) + " grey levels. "
         "*flagged* = raw score at or above the detector's own 1% FPR threshold on the calibration split's "
         f"reals outside CIFAKE ({r['n_calibration_reals']} images, as stored: with so few reals, just above the "
         "largest; rine-adv has no fusion calibration, so both use this rule here); *evasion* = share of the "
         "fakes flagged clean that are not flagged after; TPR@1%FPR against these test reals. *laundered*: "
         "every test image through the `launder` chain (bicubic x0.75, back up, JPEG 80).", "",
         "| target | clean AUC | laundered AUC | flagged clean | TPR@1%FPR clean | attack via | white-box | "
         "flagged after | evasion | TPR@1%FPR after | AUC after | mean logit drop |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for t, m in r["targets"].items():
        for s, a in m["attacks"].items():
            ev = "n/a" if a["evasion_rate"] is None else f"{a['evasion_rate']:.2f}"
            L.append(f"| {t} | {m['auc_clean']:.3f} | {m['auc_laundered']:.3f} | {m['flagged_clean']:.2f} | "
                     f"{m['tpr_at_1fpr_clean']:.2f} | {s} | {'yes' if a['white_box'] else 'no (transfer)'} | "
                     f"{a['flagged_after']:.2f} | {ev} | {a['tpr_at_1fpr_after']:.2f} | {a['auc_after']:.3f} | "
                     f"{a['mean_logit_drop']:.2f} |")
    h = r.get("rine_held_out")
    if h:
        L += ["", f"rine held out (each test row through the one of its {h['n_folds']} fold heads that never saw it, "
              f"`build.generalisation.FoldScorer`, as wild.json): clean AUC {h['auc_clean']:.3f}, laundered AUC "
              f"{h['auc_laundered']:.3f}, clean TPR@1%FPR {h['tpr_at_1fpr_clean']:.2f}. This, not the shipped head's "
              "in-sample row, is the clean accuracy rine-adv is compared with."]
    tr, wb = r["targets"]["rine-adv"]["attacks"].get("rine"), r["targets"]["rine-adv"]["attacks"].get("rine-adv")
    if tr and wb:
        ev = lambda x: "n/a" if x is None else f"{x:.2f}"  # noqa: E731
        L += ["", f"Transfer: rine's adversarial fakes (an attacker holding the *old* weights) leave rine-adv flagging "
              f"{tr['flagged_after']:.2f} of the fakes (evasion {ev(tr['evasion_rate'])}, AUC {tr['auc_after']:.3f} "
              f"against {r['targets']['rine-adv']['auc_clean']:.3f} clean), while PGD through rine-adv itself reaches "
              f"evasion {ev(wb['evasion_rate'])}: the refitted head has learned what a perturbation through *rine* does "
              "to the features, not to resist perturbations; it is a defence only against an attacker who does not "
              "hold its weights, and they ship with the package."]
    if r.get("train_rounds"):
        L += ["", "The build's own rounds (train crops; from the rine-adv card): share of the adversarial crops a "
              "head gets wrong (logit on the wrong side of 0), attacked through that head, before and after it is "
              "refitted on them.", "",
              "| round | fakes missed before refit | after | reals flagged before refit | after | seconds |",
              "|---|---|---|---|---|---|"]
        for t in r["train_rounds"]:
            L.append(f"| {t['round']} | {t['fakes_missed_before_refit']:.2f} | {t['fakes_missed_after_refit']:.2f} | "
                     f"{t['reals_flagged_before_refit']:.2f} | {t['reals_flagged_after_refit']:.2f} | {t['seconds']} |")
        if all(t["fakes_missed_before_refit"] >= 0.9 for t in r["train_rounds"][1:]) and len(r["train_rounds"]) > 1:
            L += ["", "Every refitted head separates the adversarial crops it was fitted on, and a fresh PGD through "
                  "that head breaks it again: with the backbone frozen, a 4/255 perturbation moves the pooled "
                  "statistics far enough in some direction whatever the linear head; a head alone cannot be made "
                  "robust here. The next step would be adversarial fine-tuning of the backbone's last used blocks "
                  "(a brief probe below, if it ran; a build step for it is not done)."]
    return L + (_finetune_lines(work) + _sensitivity_lines(work) if work is not None else [])


def _sensitivity_lines(work: Path) -> list[str]:
    """The probe of bench/rine_adv_sensitivity.py (heads on other Lite0 statistics, nothing shipped), when it ran."""
    p = work / "rine-adv" / "sensitivity.json"
    if not p.exists():
        return []
    f = json.loads(p.read_text())
    L = ["", "### Probe: are other Lite0 statistics less sensitive? (nothing ships)", "",
         f"`bench/rine_adv_sensitivity.py`: a head fitted as rine's (standardised features, L2 {f['l2']:g} unless "
         f"the row says, source weights; {f['n_train_rows']} train rows: train images as stored and through the four "
         "chains, one centre crop) on each set of pooled statistics; the `rine-adv` rows: the shipped rine-adv head, "
         "and rine-adv's build recipe (`fakescope.build.rine_adv.adversarial_rounds`: its clean rows, 3 rounds of "
         "PGD 4/255 on the train crops through the head being fitted) with L2 0.1 instead of rine's. All measured "
         "on the **calibration** rows outside CIFAKE "
         f"({f['n_cal_fakes']} fakes, {f['n_cal_reals']} reals; centre crop; not the test rows above, and not fitted "
         f"on). White-box L-inf PGD ({f['steps']} steps, random start) through each head's own graph. *flagged* = "
         "above the largest clean real logit; *drop / separation* = the median logit drop of the attacked fakes over "
         "the clean separation (median fake logit minus median real logit): above 1, the attack moves the typical "
         "fake past the typical real.", "",
         "| features | n | clean AUC | flagged clean | eps | AUC after | flagged after | evasion | drop / separation |",
         "|---|---|---|---|---|---|---|---|---|"]
    for n, m in f["variants"].items():
        for e, t in m["attacks"].items():
            ev = "n/a" if t["evasion"] is None else f"{t['evasion']:.2f}"
            L.append(f"| {n} | {m['n_features']} | {m['auc_clean']:.3f} | {m['flagged_clean']:.2f} | {e} | "
                     f"{t['auc_after']:.3f} | {t['flagged_after']:.2f} | {ev} | "
                     f"{'n/a' if t['drop_over_separation'] is None else format(t['drop_over_separation'], '.1f')} |")
    at4 = {n: m["attacks"]["4/255"] for n, m in f["variants"].items() if "4/255" in m["attacks"]}
    ratios = {n: t["drop_over_separation"] for n, t in at4.items() if t["drop_over_separation"] is not None}
    best = min(ratios, key=ratios.get) if ratios else None
    top = max((t["auc_after"] for t in at4.values()), default=1.0)
    if best is not None and top < 0.5 and ratios[best] > 1:
        L += ["", f"At 4/255 the best AUC after the attack over these heads is {top:.3f} and the smallest drop / "
              f"separation is {ratios[best]:.1f} ({best}): PGD moves the typical fake's logit "
              f"{ratios[best]:.0f}x or more the clean gap between the typical fake and the typical real, whichever "
              "statistics of the frozen backbone the head reads, however strongly it is regularised"
              + (", and with rine-adv's adversarial rounds" if any("adv" in n for n in at4) else "")
              + f". A head alone would need the attack's effect to shrink {ratios[best]:.0f}-fold or more to fall "
              "below that gap; the rine-adv build recipe is therefore left as it is (no measured change helped), and the "
              "adversarially trained variant the issue asks for needs the backbone trained adversarially (GPU-scale "
              "work, not done)."]
    return L


def update_rine_adv_docs(r: dict, path: Path, work: Path | None = None) -> None:
    """Put the rine-adv summary line and section (the same text :func:`write_docs` writes) into an existing
    attacks.md, replacing the previous ones: a rine-adv rerun need not rerun the whole sweep."""
    lines = path.read_text(encoding="utf-8").split("\n")
    lines = [_rine_adv_summary(r) if x.startswith("- Adversarial training as a build option") else x for x in lines]
    head = "## Adversarial training: rine vs rine-adv"
    if head in lines:  # drop the old section: up to the next heading
        i = lines.index(head)
        j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
        lines = lines[: i - 1] + lines[j - 1 :]
    sec = _rine_adv_section(r, work)
    at = next((k for k, x in enumerate(lines) if x.startswith("## Provenance")), len(lines))
    lines = lines[: at - 1] + sec + lines[at - 1 :]
    path.write_text("\n".join(lines), encoding="utf-8")


def _ev(m: dict) -> str:
    """A target's evasion rate for a table: n/a when it flagged none of the clean fakes (nothing to evade)."""
    return "n/a" if m["flagged_before"] == 0 or m["evasion_rate"] is None else f"{m['evasion_rate']:.2f}"


def _kept(r: dict, t: str) -> float | None:
    """Share of ``t``'s clean detections still flagged after run ``r`` (flagged after / flagged before)."""
    m = r["targets"].get(t)
    return None if not m or m["flagged_before"] == 0 else m["flagged_after"] / m["flagged_before"]


def _reading(work: Path, members: tuple[str, ...]) -> list[str]:
    """The bullets under "Reading the tables": statements computed from the finished runs."""
    L: list[str] = []
    c, f = _r(work, "cnnspot-pgd-4"), _r(work, "fusion-pgd-4")
    if c and f:
        n = c["n_fakes"]
        per = ", ".join(f"{m} flags {round(c['targets'][m]['flagged_before'] * n)}"
                        for m in members if m in c["targets"])
        fu_c, fu_f = c["targets"]["fusion"], f["targets"]["fusion"]
        L.append(f"- Clean, of the {n} fakes: {per} at its own threshold; the fusion ({' + '.join(members)}) flags "
                 f"{round(fu_c['flagged_before'] * n)}. PGD 4/255 through cnnspot alone leaves the fusion flagging "
                 f"{fu_c['flagged_after']:.2f} (evasion {fu_c['evasion_rate']:.2f}); through the fusion itself "
                 f"{fu_f['flagged_after']:.2f} (evasion {fu_f['evasion_rate']:.2f}).")
        few = [t for t in c["targets"] if round(c["targets"][t]["flagged_before"] * n) < 5]
        if few:
            L[-1] += (f" {', '.join(few)} flag(s) fewer than 5 clean fakes at their own threshold: their evasion rates "
                      "are over a handful of images (n/a when none) and mean little; their AUC columns say more.")
    tg = ["npr", "npr-thumb", "cnnspot", "safe", "patchcraft", "rine", "ensemble", "fusion"]
    # targets flagging fewer than 5 clean fakes say little about transfer: left out of these bullets
    few = {t for t in tg if c and t in c["targets"] and round(c["targets"][t]["flagged_before"] * c["n_fakes"]) < 5}
    tg = [t for t in tg if t not in few]
    parts = []
    for s, name in (("cnnspot", "cnnspot-pgd-4"), ("fusion", "fusion-pgd-4"), ("npr-thumb", "npr-thumb-pgd-4"),
                    ("safe", "safe-pgd-4"), ("patchcraft", "patchcraft-pgd-4")):
        r = _r(work, name)
        if not r:
            continue
        keep = [t for t in tg if t != s and (_kept(r, t) or 0) >= 0.5]
        lose = [t for t in tg if t != s and _kept(r, t) is not None and _kept(r, t) < 0.5]
        parts.append(f"through {s}: {', '.join(keep) or 'none'} keep at least half their detections"
                     + (f", {', '.join(lose)} lose more than half" if lose else ""))
    if parts:
        L.append("- Gradient transfer at 4/255" + (f" ({', '.join(sorted(few))} left out: too few clean fakes "
                 "flagged)" if few else "") + ": " + "; ".join(parts) + ".")
    bb = []
    for name in ("launder", "ganprintr"):
        r = _r(work, name)
        if not r:
            continue
        lose = [t for t in tg if _kept(r, t) is not None and _kept(r, t) < 0.5]
        keep = [t for t in tg if (_kept(r, t) or 0) >= 0.8]
        bb.append(f"{name} removes more than half the detections of {', '.join(lose) or 'none'} and leaves at least "
                  f"80% to {', '.join(keep) or 'none'}")
    if bb:
        L.append("- Black-box fingerprint removal: " + "; ".join(bb) + ".")
    return L


def _twinned() -> set[str]:
    from fakescope.attacks.twins import TWINS

    return set(TWINS)


def _r(work: Path, name: str) -> dict | None:
    p = work / name / "report.json"
    return json.loads(p.read_text()) if p.exists() else None


def write_docs(work: Path, out: Path, n: int) -> None:
    """docs/benchmarks/attacks.md from the finished runs under ``work``."""
    from fakescope.fusion import Fuser

    L: list[str] = []
    first = _r(work, "fusion-pgd-4") or _r(work, "cnnspot-pgd-4")
    members = Fuser.default().detectors_for(32)  # the thumbnail regime's default set, as the runs fused it
    TWINNED = _twinned()  # noqa: N806
    thumb = " + ".join(members)
    L += ["# Attacks on the detectors, and defences", "",
          "Generated by `bench/adversary_eval.py` (each run is `fakescope attack`, i.e. "
          "`fakescope.attacks.run.run_attack`). Data: the CIFAKE **test** split (`cifake/val`, never trained, "
          f"calibrated or selected on): the first {n} AI-generated (Stable Diffusion 1.4) and the first {n} real "
          f"images in file order, 32x32 px (the fusion's thumbnail regime: {thumb}). Only fakes are attacked; "
          "the reals are the same before and after. Attacked images are written as PNG and re-scored by the same "
          "ONNX detectors a scan runs (white-box gradients come from exact PyTorch twins: max |twin - ONNX| < 1e-5 "
          "logits for the tile networks, < 0.02 for rine, whose twin reproduces Pillow's uint8 resize).", "",
          "Columns: *flagged* = share of fakes at or above the target's default operating point (1% FPR on the "
          "calibration split; the label `fakescope scan` gives); *evasion* = share of the fakes flagged clean that "
          "are no longer flagged; *TPR@1%FPR* = threshold at the 99th percentile of these reals' scores (with "
          f"{n} reals this is the largest real score); PSNR/SSIM of attacked vs clean fakes (SSIM: Gaussian window "
          "sigma 1.5, mean over RGB). eps in [0, 1] pixel units; 4/255 = 4 grey levels.", "",
          "Small sample: with 64 fakes one image is 1.6 points; read differences under ~10 points as noise. Each "
          "run's report.json: docs/benchmarks/attacks_runs/.", "",
          "Targets: the shipped detectors, `ensemble` (the stacker over npr, spectral, safe, cnnspot, patchcraft, probe "
          "and rigid: always a black-box/transfer target, several members have no twin) and `fusion` (the default "
          f"scan's pixel fusion, `Fuser.default()`; thumbnails: {thumb}).", ""]
    if first:
        f = first["targets"]["fusion"]
        L += ["## Summary against the issue's goals", "",
              f"- White-box PGD at 4/255 (5 steps) through the default fusion: TPR@1%FPR {f['tpr_at_1fpr_before']:.2f} "
              f"-> {f['tpr_at_1fpr_after']:.2f}, flagged {f['flagged_before']:.2f} -> {f['flagged_after']:.2f} "
              f"(evasion {f['evasion_rate']:.2f}) at PSNR {first['perturbation']['psnr_db']} dB: the default detector "
              "is easily evaded by anyone holding its weights, and the weights ship with the package."]
        for d, per in first.get("defences", {}).items():
            m = per["fusion"]
            rec = "n/a" if m["recovered_share"] is None else f"{m['recovered_share']:.2f}"
            L.append(f"- purifier `{d}` on the fusion: TPR {m['tpr_at_1fpr_attacked']:.2f} -> "
                     f"{m['tpr_at_1fpr_purified_attacked']:.2f} (recovers {rec} of the loss; goal >= 0.5) at a clean AUC "
                     f"cost of {m['clean_auc_cost']:+.3f} (goal < 0.02). Not adaptive: an attacker who differentiates "
                     "through the purifier (BPDA) would be expected to undo it.")
        verdict, one = [], []
        for name in ("fusion-pgd-4", "cnnspot-pgd-4"):
            r = _r(work, name)
            for d, per in (r or {}).get("defences", {}).items():
                m = per.get("fusion")
                if m and m["recovered_share"] is not None:
                    ok = m["recovered_share"] >= 0.5 and m["clean_auc_cost"] < 0.02
                    verdict.append(f"`{d}` vs {name}: {'met' if ok else 'not met'}")
                    lost = m["tpr_at_1fpr_clean"] - m["tpr_at_1fpr_attacked"]
                    one.append(1.0 / (r["n_fakes"] * lost))
        if verdict:
            L.append("- Purification goal (>= half of the lost fusion TPR back at a clean-AUC cost < 0.02), per purifier "
                     "and attack: " + "; ".join(verdict) + f". One fake image moves a recovered share by about "
                     f"{max(one):.2f}: a share near 0.5 is within noise of the line.")
        ra = work / "rine-adv" / "report.json"
        if ra.exists():
            L.append(_rine_adv_summary(json.loads(ra.read_text())))
        else:
            L.append("- Adversarial training as a build option (`rine-adv`): not measured in this run.")
        L.append(CNNSPOT_ADV_POINTER)
        L.append("")
        L += ["Reading the tables (computed from this run's reports):", ""] + _reading(work, members) + [""]

    def row(name: str, t: str) -> str:
        r = _r(work, name)
        if r is None or t not in r["targets"]:
            return ""
        m, p = r["targets"][t], r["perturbation"]
        return (f"| {name} | {t} | {m['flagged_before']:.2f} | {m['flagged_after']:.2f} | {_ev(m)} | "
                f"{m['tpr_at_1fpr_before']:.2f} | {m['tpr_at_1fpr_after']:.2f} | {m['auc_before']:.3f} | "
                f"{m['auc_after']:.3f} | {p['psnr_db']} | {p['ssim']} |")

    hdr = ["| run | target | flagged before | flagged after | evasion | TPR@1%FPR before | after | AUC before | "
           "after | PSNR dB | SSIM |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    L += ["## White-box PGD on the default fusion", "",
          "PGD (L-inf, random start, 5 steps of 2.5 eps/5) through the fusion's twin: the calibrated stacker over "
          f"the {' and '.join(members)} twins"
          + (" (all differentiable, so the whole default thumbnail fusion is attacked)." if set(members) <= TWINNED
             else f" (members without a twin enter at their clean scores: {', '.join(sorted(set(members) - TWINNED))}).")
          , ""]
    L += hdr + [x for x in (row("fusion-pgd-2", "fusion"),) if x]
    r4 = _r(work, "fusion-pgd-4")
    if r4:
        L += [row("fusion-pgd-4", t) for t in r4["targets"]]
    L += ["", "## Evasion vs eps (surrogate cnnspot; white-box for cnnspot, transfer to the fusion)", "",
          "| attack | eps | cnnspot flagged after | cnnspot evasion | cnnspot TPR@1%FPR after | fusion flagged after | "
          "fusion evasion | fusion TPR@1%FPR after | PSNR dB |", "|---|---|---|---|---|---|---|---|---|"]
    for m in ("fgsm", "pgd"):
        for e in ("1", "2", "4", "8"):
            r = _r(work, f"cnnspot-{m}-{e}")
            if r:
                c, f = r["targets"]["cnnspot"], r["targets"]["fusion"]
                L.append(f"| {m} | {e}/255 | {c['flagged_after']:.2f} | {_ev(c)} | "
                         f"{c['tpr_at_1fpr_after']:.2f} | {f['flagged_after']:.2f} | {_ev(f)} | "
                         f"{f['tpr_at_1fpr_after']:.2f} | {r['perturbation']['psnr_db']} |")
    c0 = _r(work, "cnnspot-pgd-4")
    if c0:
        L.append(f"\nClean (eps 0): cnnspot flagged {c0['targets']['cnnspot']['flagged_before']:.2f}, TPR@1%FPR "
                 f"{c0['targets']['cnnspot']['tpr_at_1fpr_before']:.2f}; fusion flagged "
                 f"{c0['targets']['fusion']['flagged_before']:.2f}, TPR@1%FPR "
                 f"{c0['targets']['fusion']['tpr_at_1fpr_before']:.2f}.")
    surr = [("npr-thumb", "npr-thumb-pgd-4"), ("cnnspot", "cnnspot-pgd-4"), ("safe", "safe-pgd-4"),
            ("patchcraft", "patchcraft-pgd-4"), ("fusion", "fusion-pgd-4")]
    tg = ["npr", "npr-thumb", "cnnspot", "safe", "patchcraft", "rine", "ensemble", "fusion"]
    L += ["", "## Transfer matrix (PGD 4/255; rows: surrogate, columns: target; cell: flagged after (evasion))", "",
          "| surrogate \\ target | " + " | ".join(tg) + " |", "|---|" + "---|" * len(tg)]
    clean = None
    for s, name in surr:
        r = _r(work, name)
        if not r:
            continue
        clean = clean or r
        cells = [f"{r['targets'][t]['flagged_after']:.2f} ({_ev(r['targets'][t])})"
                 if t in r["targets"] else "" for t in tg]
        L.append(f"| {s} | " + " | ".join(cells) + " |")
    if clean:
        L.append("| *clean* | " + " | ".join(f"{clean['targets'][t]['flagged_before']:.2f}" for t in tg) + " |")
    L += ["", "## Frequency-band PGD, L2 PGD, laundering and GANprintR (all targets)", ""] + hdr
    for name in ("cnnspot-freq-high-4", "cnnspot-freq-low-4", "cnnspot-pgd-l2-4", "launder", "ganprintr"):
        r = _r(work, name)
        if r:
            L += [row(name, t) for t in r["targets"]]
    L += ["", "`freq-high`/`freq-low`: the perturbation is projected onto radial frequencies above / at most 0.25 "
          "cycles/pixel (FFT mask), then scaled into the L-inf ball. `launder`: bicubic x0.75, back up, JPEG 80 "
          "(perturbation registry chain). `ganprintr`: each fake through `ae-real`, an auto-encoder trained on "
          "CIFAKE real train images only (`fakescope build attack-models`).", ""]
    L += ["## Purification", "",
          "Every input (reals, clean fakes, attacked fakes) goes through the purifier before scoring. *recovered* = "
          "(TPR purified-attacked - TPR attacked) / (TPR clean - TPR attacked); *cost* = clean AUC without minus "
          "with the purifier.", "",
          "| attack | purifier | target | TPR clean | TPR attacked | TPR purified+attacked | recovered | clean AUC "
          "| purified clean AUC | cost |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("fusion-pgd-4", "cnnspot-pgd-4", "launder", "ganprintr"):
        r = _r(work, name)
        if not r:
            continue
        for d, per in r["defences"].items():
            for t, m in per.items():
                if t not in ("fusion", "cnnspot", "rine", "npr-thumb"):
                    continue
                rec = "n/a" if m["recovered_share"] is None else f"{m['recovered_share']:.2f}"
                L.append(f"| {name} | {d} | {t} | {m['tpr_at_1fpr_clean']:.2f} | {m['tpr_at_1fpr_attacked']:.2f} | "
                         f"{m['tpr_at_1fpr_purified_attacked']:.2f} | {rec} | {m['clean_auc']:.3f} | "
                         f"{m['clean_auc_purified']:.3f} | {m['clean_auc_cost']:+.3f} |")
    ra = work / "rine-adv" / "report.json"
    if ra.exists():
        L += _rine_adv_section(json.loads(ra.read_text()), work)
    c = work / "c2pa.json"
    if c.exists():
        cj = json.loads(c.read_text())
        L += ["", "## Provenance is unaffected", "",
              "`shared/data/c2pa/C.jpg` (a C2PA-signed test image) attacked with PGD 4/255 via cnnspot, saved as JPEG "
              f"with the original's {cj['app11_segments_copied']} APP11 (manifest) segments copied in:", "",
              f"- original: label {cj['original']['label']}; c2pa: {cj['original']['c2pa']}",
              f"- attacked: label {cj['attacked']['label']}; c2pa: {cj['attacked']['c2pa']}",
              f"- watermark evidence (attacked): {cj['attacked']['watermark'] or 'none'}", ""]
    out.write_text("\n".join(L) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
