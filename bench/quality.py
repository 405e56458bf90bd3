"""Quality of the shipped ``npr`` and ``spectral`` detectors and their fusion, on the TEST split only.

    python bench/quality.py [--work bench/_work/train]

Reads the split definitions from :mod:`fakescope.training.data` (and the auto-encoder
reconstructions listed in ``<work>/records.json`` when given), scores every
test image as stored and re-encoded as JPEG q90 through the build's one scoring loop
(:func:`fakescope.build.generalisation.score_wild`: the scan's decoder; ``rine``, whose shipped head
is cross-fitted on the test rows, scores each test row with the head of its fold, which never saw
the row's origin), and writes

* ``docs/benchmarks/quality.md`` (tables) and ``docs/benchmarks/quality.json`` (numbers) — nothing else: the
  cards are the model build's (``fakescope build``), so a rebuild reproduces them byte for byte.

Fusion = the default fusion of :class:`fakescope.fusion.Fuser` (logistic stacking of the
raw scores, fitted on ``weights/calibration.json``), plus a group-balanced stacking for
comparison.  Nothing here is fitted or tuned on the test split.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

DOCS = REPO / "docs" / "benchmarks"
METRIC_KEYS = ("auc", "ap", "tpr@1%fpr", "tpr@5%fpr")


def _records(work: Path, heldout: Path = REPO / "bench" / "_work" / "heldout"):
    """Every record: ``work/records.json`` (shared data + aligned fakes) or the shared data alone,
    plus the held-out-decoder reconstructions when bench/heldout_decoders.py has run."""
    from fakescope.training.data import Record, all_records
    from fakescope.training.pipeline import heldout_records

    f = work / "records.json"
    recs = [Record(**d) for d in json.loads(f.read_text())] if f.is_file() else all_records()
    recs += heldout_records(heldout)
    ok = [r for r in recs if Path(r.path).is_file()]
    return ok, len(recs) - len(ok)


def _report_groups(test) -> dict[str, list[str]]:
    """Report rows: name → the record groups pooled (fakes of that row + the reals it is compared with)."""
    from fakescope.training.evaluate import report_groups

    return report_groups(test)


def _timing(detectors, image: np.ndarray, reps: int = 30) -> dict[str, float]:
    return {name: det.ms_per_image(image, reps) for name, det in detectors.items()}


def _fmt(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="test-split quality of npr, spectral and their fusion")
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "_work" / "train")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="scoring processes")
    args = ap.parse_args(argv)

    from fakescope.detectors import create_detector
    from fakescope.detectors.base import WEIGHTS_DIR
    from fakescope.fusion import CalibrationSet, Fuser
    from fakescope.training.data import SPLITS_DOC, HELD_OUT_GENERATORS, load_rgb
    from fakescope.training.evaluate import fit_stacking, group_metrics
    from fakescope.build.calibrate import CAL_CHAINS, SPLIT_DOC as CALIBRATION_SPLIT_DOC
    from fakescope.build.generalisation import score_wild

    t0 = time.perf_counter()
    records, missing = _records(args.work)
    test = [r for r in records if r.split == "test"]
    cal = CalibrationSet.from_json(WEIGHTS_DIR / "calibration.json")
    # the default fusion of a scan: per-regime detector sets (`fakescope build calibrate`)
    fuser = Fuser.default()
    names = tuple(fuser.detectors)
    # the fused detectors, and npr and spectral
    dets = {n: create_detector(n) for n in dict.fromkeys((*names, "npr", "spectral"))}
    fit = cal.fit_mask()  # as the fusion: held-out-decoder fakes are not fitted on
    cal_x = np.stack([cal.scores[n] for n in names], axis=1)[fit]
    balanced = fit_stacking(cal_x, cal.labels[fit], groups=list(np.asarray(cal.groups)[fit]))

    labels = np.array([r.label for r in test])
    groups = [r.group for r in test]
    rows = _report_groups(test)
    results: dict[str, dict] = {}
    d = score_wild(test, detectors=list(dets), chains=CAL_CHAINS, jobs=args.jobs, what="test scores",
                   log=lambda m: print(f"[{time.perf_counter() - t0:.0f}s] {m}", flush=True))
    cond = np.asarray(d["conditions"])
    for variant in CAL_CHAINS:  # rows are record-major: within a variant, in the records' order
        m = cond == variant
        s = {n: np.asarray(d["scores"][n], np.float64)[m] for n in dets}
        sides = np.asarray(d["min_side"])[m]
        x = np.stack([s[n] for n in names], axis=1)
        # the fusion is calibrated per resolution regime (CIFAKE's 32 px images are thumbnails), each
        # regime fusing its own default set
        s["fusion"] = np.array([fuser.pixel_probability(dict(zip(names, row)), min_side=int(side))
                                for row, side in zip(x, sides)])
        s["fusion (group-balanced)"] = x @ np.asarray(balanced["coef"]) + balanced["intercept"]
        results[variant] = {k: group_metrics(labels, v, groups, rows) for k, v in s.items()}
    print(f"[{time.perf_counter() - t0:.0f}s] scored {len(test)} test images (as stored, JPEG q90)", flush=True)

    # timing at 1024x768 (one thread each): a native crop of a real photo, and a CIFAKE image
    big = None
    for r in records:
        if r.source == "photos" and r.split == "test":
            img = load_rgb(r.path)
            h, w = img.shape[:2]
            if h >= 768 and w >= 1024:
                big = np.ascontiguousarray(img[(h - 768) // 2 : (h - 768) // 2 + 768,
                                               (w - 1024) // 2 : (w - 1024) // 2 + 1024])
                break
    if big is None:  # no large test photo here: a deterministic noise image still times the detectors
        big = np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    timing = {"1024x768": _timing(dets, big), "32x32": _timing(dets, load_rgb(next(r.path for r in test if r.source == "cifake")))}

    out = {"split": SPLITS_DOC, "calibration": CALIBRATION_SPLIT_DOC, "held_out_generators": list(HELD_OUT_GENERATORS),
           "results": results, "timing_ms": timing, "missing_files": missing,
           "balanced_stacking": balanced, "machine": platform.platform(), "processor": platform.processor()}
    DOCS.mkdir(parents=True, exist_ok=True)
    out["fusion_sets"] = {"thumbnail": list(fuser.detectors_for(32)), "full": list(fuser.detectors_for(None))}
    (DOCS / "quality.json").write_text(json.dumps(out, indent=1, default=float) + "\n")
    (DOCS / "quality.md").write_text(_markdown(out, rows))
    print(f"[{time.perf_counter() - t0:.0f}s] wrote {DOCS / 'quality.md'}", flush=True)
    return 0


def _markdown(out: dict, rows: dict[str, list[str]]) -> str:
    L = ["# Detector quality: npr, spectral and the default fusion", "",
         "Generated by `python bench/quality.py` . All numbers are on the "
         "**test split**, which npr and spectral never trained, tuned or calibrated on. The fusion includes "
         "`rine`, whose shipped head is cross-fitted (fitted on the test and wild rows too): every test row "
         "outside CIFAKE gets rine's score from the head of its fold, which never saw the row's origin (the "
         "repository or photo collection) nor any fake of its generator, as the build's held-out scores do "
         "(generalisation.md); rine's head never sees CIFAKE. Every image is scored by the build's one scoring "
         "loop (the scan's decoder).", "",
         "## Splits", "", f"- {out['split']}", f"- Calibration (fusion and Platt fits): {out['calibration']}",
         f"- Never-seen generators (no image in train or calibration): {', '.join(out['held_out_generators'])}.",
         "- Reals for every full-resolution row: the test parts of the modern-set reals and the photos "
         "(Kodak/Wikipedia/Debian); CIFAKE is scored against CIFAKE reals only.",
         "- **JPEG-q90**: every test image (both classes) re-encoded as JPEG quality 90, 4:2:0 — format robustness.",
         f"- **fusion** = `fakescope.fusion.Fuser.default()`, what `fakescope scan` fuses: logistic stacking of "
         f"{', '.join(out['fusion_sets']['full'])} for full-resolution images and of "
         f"{', '.join(out['fusion_sets']['thumbnail'])} for thumbnails (<= 64 px, i.e. CIFAKE), fitted on the "
         "calibration split (as stored and JPEG q90; the thumbnail stacker also on thumbnails made of the larger "
         "calibration images, the two kinds weighing equally); the sets were chosen by leave-one-source-out on "
         "the held-out sources, as stored and laundered (`fakescope build calibrate`, generalisation.md). TPR@x%FPR uses the test reals of the row to place the threshold. The other "
         "zoo detectors: docs/benchmarks/detectors.md.", ""]
    if out["missing_files"]:
        L += [f"Note: {out['missing_files']} listed files were missing and skipped.", ""]
    dets = ("npr", "spectral", "fusion")
    for variant, title in (("original", "As stored"), ("jpeg90", "Re-encoded as JPEG q90")):
        L += [f"## {title}", "",
              "| group | reals | fakes | " + " | ".join(f"{d} AUC | {d} AP | {d} TPR@1% | {d} TPR@5%" for d in dets) + " |",
              "|---|---:|---:|" + "---:|" * (4 * len(dets))]
        for row in rows:
            m0 = out["results"][variant]["npr"][row]
            cells = [row.replace("  ", "&nbsp;&nbsp;"), str(m0["n_real"]), str(m0["n_fake"])]
            for d in dets:
                m = out["results"][variant][d][row]
                cells += [_fmt(m[k]) for k in METRIC_KEYS]
            L.append("| " + " | ".join(cells) + " |")
        L.append("")
    L += ["## Group-balanced stacking (for comparison)", "",
          "Logistic stacking with every calibration group weighted equally within its class (so the 2000 CIFAKE "
          f"calibration entries do not dominate): coef {np.round(out['balanced_stacking']['coef'], 4).tolist()}, "
          f"intercept {out['balanced_stacking']['intercept']:.4f}.", "",
          "| group | AUC (stored) | TPR@5% (stored) | AUC (JPEG-q90) | TPR@5% (JPEG-q90) |", "|---|---:|---:|---:|---:|"]
    for row in rows:
        if row.startswith("  "):
            continue
        a = out["results"]["original"]["fusion (group-balanced)"][row]
        b = out["results"]["jpeg90"]["fusion (group-balanced)"][row]
        L.append(f"| {row} | {_fmt(a['auc'])} | {_fmt(a['tpr@5%fpr'])} | {_fmt(b['auc'])} | {_fmt(b['tpr@5%fpr'])} |")
    L += ["", "## Speed", "", "Median ms per image, one thread (ONNX Runtime intra-op threads = 1), detector only "
          "(decode excluded), on this machine: " + f"`{out['machine']}`.", "",
          "| detector | 1024x768 | 32x32 |", "|---|---:|---:|"]
    for d in out["timing_ms"]["1024x768"]:
        L.append(f"| {d} | {out['timing_ms']['1024x768'][d]:.2f} | {out['timing_ms']['32x32'][d]:.2f} |")
    L += ["", "## Caveats", "",
          "- Small groups: several generators have only 1-6 test images; their AUCs are noisy. The never-seen "
          "rows are the ones that speak to generalisation.",
          "- The aligned fakes come from four small auto-encoders trained for minutes on CPU; their reconstructions "
          "are blurrier than a real generator's. Training blurs real crops at random (blur alignment) so sharpness "
          "cannot decide alone, but the near-perfect 'auto-encoder' row still overstates what transfers to real "
          "generators: read the never-seen rows.",
          "- 'StyleGAN2 (stylegan2-pytorch, hands 256)' tiles are lossless crops of a JPEG sample sheet with 2-px "
          "padding: the sheet's JPEG compression (and its block grid, shifted by 2 px in every tile) dominates "
          "their pixel statistics; pixel-trace detectors see little of the generator there.",
          "- Only 44 real test images back the full-resolution rows, so TPR@1%FPR rests on the top-scoring real "
          "image or two.",
          "- The spectral detector is weak alone by design (Chandrasegaran et al., CVPR 2021; Dzanic et al., "
          "NeurIPS 2020): spectral artefacts disappear when a generator's last up-sampling layer changes.", ""]
    return "\n".join(L)


if __name__ == "__main__":
    raise SystemExit(main())
