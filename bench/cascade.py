"""The two-stage scan (early exit): fit its first stage on the calibration split, then measure it.

    python bench/cascade.py        # ~3 min: weights/cascade.json + docs/benchmarks/cascade.md

A full-resolution image is scanned by the default full-resolution set (npr + spectral).  In a
two-stage scan each member contributes to a first stage either half of its tiles ("half": one
chessboard colour of its tile grid, :func:`fakescope.detectors.base.two_stage_indices`) or its
whole score ("full"); when the first-stage fusion is far enough from the thresholds, the scan
stops there (:meth:`fakescope.fusion.Fuser.early_exit`), else the other halves are added and the
image gets exactly the exhaustive scan's scores.

1. Every calibration row (both variants, row-aligned with ``weights/calibration.json``) is scored
   in two stages; the finished scores must reproduce the calibration file's.
2. The plan: every member takes part in the first stage (no single family decides an image on
   its own), and among those plans the lowest expected detector time per 1024x768 image, from
   the first-stage and second-stage times measured here and each plan's exit rate on the
   throughput benchmark's 1024x768 photos (``bench/_work/jpeg_1024x768``; no labels are used).
   The exit margin itself is fitted by :class:`fakescope.fusion.Fuser` on the calibration split.
3. ``weights/cascade.json``: the chosen plan's first-stage scores + the calibration file's sha256.
4. The test split (read only here, after 1-3): per report row, the share of images that exit
   early, labels that differ from the exhaustive scan, and the AUC of the two-stage p_fake beside
   the exhaustive one, at the 1% and 5% operating points.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import quality  # noqa: E402
from _common import DOCS, WORK, machine, make_jpegs, median  # noqa: E402


def staged_scores(dets: dict, images) -> dict[str, dict[str, list]]:
    """First-stage and finished raw scores of every detector on every image (None for thumbnails
    and for images a detector scores in one stage)."""
    from fakescope.fusion import THUMBNAIL_MAX_SIDE

    out = {n: {"first": [], "full": []} for n in dets}
    for im in images:
        for n, d in dets.items():
            if min(im.shape[:2]) <= THUMBNAIL_MAX_SIDE:
                out[n]["first"].append(None)
                out[n]["full"].append(None)
                continue
            a, finish = d.staged_raw_score(im)
            out[n]["first"].append(a if finish is not None else None)
            out[n]["full"].append(finish() if finish is not None else a)
    return out


def _stage_times(dets: dict, images) -> dict[str, tuple[float, float]]:
    """Median ms of the first stage and of the finishing stage, per detector, one thread."""
    out = {}
    for n, d in dets.items():
        first, rest = [], []
        for _ in range(3):
            for im in images:
                t = time.perf_counter()
                _, finish = d.staged_raw_score(im)
                t1 = time.perf_counter()
                finish()
                first.append(t1 - t)
                rest.append(time.perf_counter() - t1)
        out[n] = (1000 * median(first), 1000 * median(rest))
    return out


def plan_scores(plan: dict[str, str], s: dict) -> dict[str, list]:
    return {n: s[n]["first"] if how == "half" else [None if f is None else v
                                                    for f, v in zip(s[n]["first"], s[n]["full"])]
            for n, how in plan.items()}


def _cascade_for(plan: dict[str, str], s: dict, sha: str):
    from fakescope.fusion import CascadeScores

    cols = plan_scores(plan, s)
    return CascadeScores(calibration_sha256=sha, members=plan,
                         scores={n: np.array([np.nan if v is None else v for v in c]) for n, c in cols.items()})


def main() -> int:
    from fakescope.detectors import create_detector
    from fakescope.detectors.base import WEIGHTS_DIR
    from fakescope.fusion import CalibrationSet, Fuser, default_regime_detectors, default_detectors
    from fakescope.io.decode import load
    from fakescope.training.calibrate import calibration_records
    from fakescope.training.data import SPLITS_DOC
    from fakescope.training.evaluate import group_metrics, report_groups
    from fakescope.training.pipeline import eval_images

    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)

    cal_path = WEIGHTS_DIR / "calibration.json"
    cal = CalibrationSet.from_json(cal_path)
    regime = default_regime_detectors()
    names = tuple(regime["full"]) if regime else default_detectors()
    dets = {n: create_detector(n) for n in names}

    # 1. calibration rows, in calibration.json's order (training.calibrate.score_calibration)
    records = calibration_records(REPO / "bench" / "_work" / "train", heldout=REPO / "bench" / "_work" / "heldout")
    cal_s = {n: {"first": [], "full": []} for n in names}
    for j90 in (False, True):
        for i in range(0, len(records), 32):
            part = staged_scores(dets, eval_images(records[i : i + 32], jpeg90=j90))
            for n in names:
                for k in ("first", "full"):
                    cal_s[n][k] += part[n][k]
    if len(cal_s[names[0]]["full"]) != cal.labels.size:
        raise SystemExit(f"{len(cal_s[names[0]]['full'])} calibration rows scored, the calibration file has "
                         f"{cal.labels.size}: rerun bench/calibrate_zoo.py first")
    worst = max(abs(v - cal.scores[n][i]) for n in names for i, v in enumerate(cal_s[n]["full"]) if v is not None)
    log(f"calibration: {cal.labels.size} rows scored in two stages; finished vs calibration file max |diff| {worst:.2e}")
    if worst > 1e-4:
        raise SystemExit("the finished two-stage scores do not reproduce weights/calibration.json")

    # 2. the plan
    bench_imgs = [load(p).image for p in make_jpegs(300, (1024, 768), WORK / "jpeg_1024x768")]
    bench_s = staged_scores(dets, bench_imgs)
    times = _stage_times(dets, bench_imgs[:20])
    rows = []
    for hows in itertools.product(("half", "full"), repeat=len(names)):
        plan = dict(zip(names, hows))
        if "half" not in hows:
            continue
        fuser = Fuser(default_detectors(), calibration=cal, regime_detectors=regime,
                      cascade=_cascade_for(plan, cal_s, cal.sha256))
        if fuser.cascade_margin is None:
            rows.append({"plan": plan, "margin": None})
            continue
        bcols = plan_scores(plan, bench_s)
        exits = [fuser.early_exit({n: bcols[n][i] for n in names}, min_side=768) for i in range(len(bench_imgs))]
        first = sum(times[n][0] + (times[n][1] if plan[n] == "full" else 0.0) for n in names)
        rest = sum(times[n][1] for n in names if plan[n] == "half")
        rate = float(np.mean(exits))
        rows.append({"plan": plan, "margin": fuser.cascade_margin, "calibration_exit": fuser.cascade_exit_rate,
                     "bench_exit": rate, "first_ms": first, "rest_ms": rest, "expected_ms": first + (1 - rate) * rest})
    exhaustive_ms = sum(sum(times[n]) for n in names)
    usable = [r for r in rows if r["margin"] is not None]
    best = min(usable, key=lambda r: r["expected_ms"])
    plan = best["plan"]
    log(f"plan {plan}: expected {best['expected_ms']:.2f} ms vs exhaustive {exhaustive_ms:.2f} ms per image")

    # 3. the shipped first-stage scores
    cols = plan_scores(plan, cal_s)
    doc = {"calibration_sha256": cal.sha256, "members": plan, "safety_margin": 0.5,
           "about": "First-stage raw scores of the full-resolution default detectors on the calibration split, "
                    "row-aligned with calibration.json (null: thumbnails and images without two stages). "
                    "'half': half of the detector's tiles (one chessboard colour of its grid); 'full': its whole "
                    "score. Written by bench/cascade.py; fusion.Fuser fits the first-stage stacker and the exit "
                    "margin on these.",
           "scores": {n: [None if v is None else round(float(v), 6) for v in c] for n, c in cols.items()}}
    (WEIGHTS_DIR / "cascade.json").write_text(json.dumps(doc) + "\n")
    from fakescope.fusion import load_cascade

    load_cascade.cache_clear()
    log(f"wrote {WEIGHTS_DIR / 'cascade.json'}")

    # 4. the test split
    all_recs, _ = quality._records(REPO / "bench" / "_work" / "train")
    test = [r for r in all_recs if r.split == "test"]
    groups = [r.group for r in test]
    labels = np.array([r.label for r in test])
    report_rows = report_groups(test)
    test_scores = {variant: staged_scores(dets, eval_images(test, jpeg90=j90))
                   for variant, j90 in (("original", False), ("jpeg90", True))}
    results = {}
    for fpr in (0.01, 0.05):
        fuser = Fuser.default(fpr=fpr)
        for variant, s in test_scores.items():
            first_cols = plan_scores(plan, s)
            p_ex, p_two, lab_ex, lab_two, early = [], [], [], [], []
            for i, r in enumerate(test):
                side = 32 if r.source == "cifake" else 768  # regime only: thumbnails have no second stage
                full = {n: s[n]["full"][i] for n in names}
                if any(v is None for v in full.values()):  # a thumbnail: scored by the thumbnail set
                    p_ex.append(np.nan)
                    p_two.append(np.nan)
                    lab_ex.append("")
                    lab_two.append("")
                    early.append(False)
                    continue
                d_ex = fuser.decide([], full, min_side=side)
                first = {n: first_cols[n][i] for n in names}
                ex = all(v is not None for v in first.values()) and fuser.early_exit(first, min_side=side)
                d_two = fuser.decide([], first, min_side=side, first_stage=True) if ex else d_ex
                p_ex.append(d_ex.p_fake)
                p_two.append(d_two.p_fake)
                lab_ex.append(d_ex.label)
                lab_two.append(d_two.label)
                early.append(ex)
            p_ex, p_two = np.array(p_ex), np.array(p_two)
            early = np.array(early)
            changed = np.array([a != b for a, b in zip(lab_ex, lab_two)])
            per_row = {}
            full_rows = {k: v for k, v in report_rows.items() if not k.startswith("cifake")}
            m_ex = group_metrics(labels, np.nan_to_num(p_ex), groups, full_rows)
            m_two = group_metrics(labels, np.nan_to_num(p_two), groups, full_rows)
            for name, gs in full_rows.items():
                sel = np.isin(groups, gs)
                per_row[name] = {"n": int(sel.sum()), "exit_real": float(early[sel & (labels == 0)].mean()),
                                 "exit_fake": float(early[sel & (labels == 1)].mean()),
                                 "labels_changed": int(changed[sel].sum()),
                                 "auc_exhaustive": m_ex[name]["auc"], "auc_two_stage": m_two[name]["auc"]}
            full_sel = ~np.isnan(p_ex)
            results[f"{fpr}/{variant}"] = {"rows": per_row, "exit_all": float(early[full_sel].mean()),
                                           "labels_changed": int(changed.sum()), "n_full": int(full_sel.sum())}
            log(f"test fpr {fpr} {variant}: exit {early[full_sel].mean():.1%}, labels changed {changed.sum()}")

    out = {"plan": plan, "candidates": rows, "stage_ms": times, "exhaustive_ms": exhaustive_ms, "results": results,
           "split": SPLITS_DOC, "machine": machine()}
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "cascade.json").write_text(json.dumps(out, indent=1, default=float) + "\n")
    (DOCS / "cascade.md").write_text(_markdown(out))
    log(f"wrote {DOCS / 'cascade.md'}")
    return 0


def _markdown(out: dict) -> str:
    def plan_txt(p: dict) -> str:
        return ", ".join(f"{n} {h}" for n, h in p.items())

    L = ["# Two-stage scan (early exit)", "",
         f"`python bench/cascade.py` on {out['machine']}. A full-resolution image is scored first on part of the "
         "evidence; when the first-stage fusion is beyond its thresholds by a margin at which no calibration image's "
         "label differed from the exhaustive scan (smallest such margin on a 0.25-logit grid, plus 0.5), the scan stops; "
         "otherwise the rest is scored and the image gets exactly the exhaustive scan's result. Thumbnails (<= 64 px) "
         "are always scored whole. `fakescope scan --exhaustive` turns the early exit off.", "",
         "## The plan (chosen without the test split)", "",
         "Per member: `half` = half of its tiles in the first stage (one chessboard colour of its grid), `full` = its "
         "whole score. Exit rates: calibration split (held-out-decoder rows left out) and the throughput benchmark's "
         "300 1024x768 photos (no labels used). Expected ms: first stage + (1 - exit rate) x second stage, from the "
         "stage times measured here (one thread; exhaustive: "
         f"{out['exhaustive_ms']:.2f} ms). Rule: every member in the first stage, lowest expected time.", "",
         "| plan | margin (logits) | exit, calibration | exit, 1024x768 photos | first stage ms | second stage ms | expected ms |",
         "|---|---|---|---|---|---|---|"]
    for r in out["candidates"]:
        if r["margin"] is None:
            L.append(f"| {plan_txt(r['plan'])} | no margin keeps every calibration label | | | | | |")
            continue
        mark = " **(chosen)**" if r["plan"] == out["plan"] else ""
        L.append(f"| {plan_txt(r['plan'])}{mark} | {r['margin']:.2f} | {r['calibration_exit']:.1%} | {r['bench_exit']:.1%} | "
                 f"{r['first_ms']:.2f} | {r['rest_ms']:.2f} | {r['expected_ms']:.2f} |")
    L += ["", "## Test split (never used above)", "",
          f"Split: {out['split']}", "",
          "Per report row: images that exit early (reals / fakes), labels that differ from the exhaustive scan, and "
          "the AUC of p_fake of the exhaustive and of the two-stage scan. The early exit is tied to the operating point "
          "(`--fpr`), so both the default 1% and 5% are shown."]
    for key, res in out["results"].items():
        fpr, variant = key.split("/")
        L += ["", f"### fpr {float(fpr):.0%}, {'as stored' if variant == 'original' else 'every image re-encoded as JPEG q90'}", "",
              f"{res['n_full']} full-resolution test images: {res['exit_all']:.1%} exit early; "
              f"{res['labels_changed']} label(s) differ from the exhaustive scan.", "",
              "| row | images | exit, reals | exit, fakes | labels changed | AUC exhaustive | AUC two-stage |",
              "|---|---|---|---|---|---|---|"]
        for name, r in res["rows"].items():
            L.append(f"| {name.strip()} | {r['n']} | {r['exit_real']:.1%} | {r['exit_fake']:.1%} | {r['labels_changed']} | "
                     f"{quality._fmt(r['auc_exhaustive'])} | {quality._fmt(r['auc_two_stage'])} |")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
