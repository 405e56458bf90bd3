"""The attack benchmark behind docs/benchmarks/attacks.md: attacks, transfer, laundering, purification and
provenance on the CIFAKE *test* split (cifake/val: never trained or calibrated on), N fakes + N reals.

    PYTHONPATH=src python bench/adversary_eval.py --n 64 --work /tmp/adv_eval

Each run is ``fakescope.attacks.run.run_attack`` (what ``fakescope attack`` runs) writing its folder under
--work; finished runs (report.json present) are reused, so an interrupted sweep resumes.
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
    from fakescope.io.decode import load
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--work", type=Path, default=Path("/tmp/adv_eval"))
    ap.add_argument("--data", default="/work/shared/data/cifake/val")
    ap.add_argument("--only", default=None)
    ap.add_argument("--docs", type=Path, default=None, help="only write this Markdown file from finished runs")
    a = ap.parse_args()
    if a.docs:
        write_docs(a.work, a.docs, a.n)
        return 0
    import torch

    from fakescope.attacks import parse_eps
    from fakescope.attacks.run import run_attack

    torch.set_num_threads(1)
    a.work.mkdir(parents=True, exist_ok=True)
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


def _r(work: Path, name: str) -> dict | None:
    p = work / name / "report.json"
    return json.loads(p.read_text()) if p.exists() else None


def write_docs(work: Path, out: Path, n: int) -> None:
    """docs/benchmarks/attacks.md from the finished runs under ``work``."""
    L: list[str] = []
    first = _r(work, "fusion-pgd-4") or _r(work, "cnnspot-pgd-4")
    L += ["# Attacks on the detectors, and defences", "",
          "Generated by `bench/adversary_eval.py` (each run is `fakescope attack`, i.e. "
          "`fakescope.attacks.run.run_attack`). Data: the CIFAKE **test** split (`cifake/val`, never trained, "
          f"calibrated or selected on): the first {n} AI-generated (Stable Diffusion 1.4) and the first {n} real "
          "images in file order, 32x32 px (the fusion's thumbnail regime: cnnspot + rine). Only fakes are attacked; "
          "the reals are the same before and after. Attacked images are written as PNG and re-scored by the same "
          "ONNX detectors a scan runs (white-box gradients come from exact PyTorch twins: max |twin - ONNX| < 1e-5 "
          "logits for the tile networks, < 0.02 for rine, whose twin reproduces Pillow's uint8 resize).", "",
          "Columns: *flagged* = share of fakes at or above the target's default operating point (1% FPR on the "
          "calibration split; the label `fakescope scan` gives); *evasion* = share of the fakes flagged clean that "
          "are no longer flagged; *TPR@1%FPR* = threshold at the 99th percentile of these reals' scores (with "
          f"{n} reals this is the largest real score); PSNR/SSIM of attacked vs clean fakes (SSIM: Gaussian window "
          "sigma 1.5, mean over RGB). eps in [0, 1] pixel units; 4/255 = 4 grey levels.", "",
          "Small sample: with 64 fakes one image is 1.6 points; read differences under ~10 points as noise.", "",
          "Targets: the shipped detectors, `ensemble` (the stacker over npr, spectral, safe, cnnspot, patchcraft, probe "
          "and rigid: always a black-box/transfer target, several members have no twin) and `fusion` (the default "
          "scan's pixel fusion; thumbnails: cnnspot + rine).", ""]
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
        L += ["- Adversarial training as a build option: **not done** in this round.", ""]
        L += ["Reading the tables (from the run of 2026-12-07; re-check after a rerun):", "",
              "- On 32-px CIFAKE the default thumbnail fusion is driven by cnnspot: rine flags only 2 of the 64 clean "
              "fakes at its own threshold (its evasion rate is over those 2 images), so an attack on cnnspot alone "
              "transfers fully to the fusion.",
              "- Gradient attacks transfer poorly across families: through cnnspot or the fusion, npr, safe and the "
              "ensemble keep most of their detections; through npr-thumb or safe, cnnspot and the fusion keep theirs.",
              "- Black-box fingerprint removal is the mirror image: GANprintR and the resize+JPEG chain wipe out the "
              "trace detectors (npr, safe, patchcraft, the ensemble) but barely move cnnspot (trained with blur and "
              "JPEG) and hence the fusion. No single detector resists both kinds of attack here.",
              ""]

    def row(name: str, t: str) -> str:
        r = _r(work, name)
        if r is None or t not in r["targets"]:
            return ""
        m, p = r["targets"][t], r["perturbation"]
        return (f"| {name} | {t} | {m['flagged_before']:.2f} | {m['flagged_after']:.2f} | {m['evasion_rate']:.2f} | "
                f"{m['tpr_at_1fpr_before']:.2f} | {m['tpr_at_1fpr_after']:.2f} | {m['auc_before']:.3f} | "
                f"{m['auc_after']:.3f} | {p['psnr_db']} | {p['ssim']} |")

    hdr = ["| run | target | flagged before | flagged after | evasion | TPR@1%FPR before | after | AUC before | "
           "after | PSNR dB | SSIM |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    L += ["## White-box PGD on the default fusion", "",
          "PGD (L-inf, random start, 5 steps of 2.5 eps/5) through the fusion's twin: the calibrated stacker over "
          "the cnnspot and rine twins (both differentiable, so the whole default thumbnail fusion is attacked).", ""]
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
                L.append(f"| {m} | {e}/255 | {c['flagged_after']:.2f} | {c['evasion_rate']:.2f} | "
                         f"{c['tpr_at_1fpr_after']:.2f} | {f['flagged_after']:.2f} | {f['evasion_rate']:.2f} | "
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
        cells = [f"{r['targets'][t]['flagged_after']:.2f} ({r['targets'][t]['evasion_rate']:.2f})"
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
