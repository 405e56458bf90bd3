"""Score the calibration split with every shipped detector, refit Platt, fit the ensemble, choose the default set.

    python bench/calibrate_zoo.py

1. raw scores of each available shipped detector on the calibration split (as stored and as
   JPEG q90), cached in ``bench/_work/calib/<name>-<sha12>.json``;
2. each card's Platt parameters refitted on those scores;
3. ``weights/ensemble.json``: the stacker over the low-level experts;
4. the default sets of a plain scan, one per regime: 5-fold cross-validation inside the
   calibration split over every subset of the core-install detectors (ONNX/numpy only, no
   torch). Thumbnails (<= 64 px, where every detector is cheap): the best CV AUC.
   Full-resolution images (sets of at least two families): mean of the CV AUC and the mean
   per-group CV AUC; the cheapest set (ms per 1024x768 image, measured here) within one
   standard error of the best wins (the one-standard-error rule; Hanley-McNeil SE).
   The test split is never read.
5. ``weights/calibration.json`` with all scores, the default set and the selection table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))
WORK = REPO / "bench" / "_work" / "calib"
CORE = ("npr", "spectral", "safe", "cnnspot", "patchcraft")  # run on the core install (no torch)
# the ensemble stacks every expert (ALEI: low-level experts beside a frozen foundation backbone)
ENSEMBLE = ("npr", "spectral", "safe", "cnnspot", "patchcraft", "probe", "rigid")


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC (Hanley & McNeil 1982)."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return float(np.sqrt(max(var, 0.0)))


def main() -> int:
    from fakescope.detectors import create_detector
    from fakescope.detectors.base import WEIGHTS_DIR
    from fakescope.errors import FakescopeError
    from fakescope.fusion import regime_of
    from _common import detector_ms
    from fakescope.training.calibrate import (calibration_records, candidate_sets, cross_validate_sets,
                                              fit_ensemble_card, score_calibration, stacker_scores, update_platt,
                                              write_calibration)

    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)

    WORK.mkdir(parents=True, exist_ok=True)
    records = calibration_records(REPO / "bench" / "_work" / "train")
    log(f"calibration split: {len(records)} images")
    dets, cards = {}, {}
    for name in ("npr", "spectral", "safe", "cnnspot", "patchcraft", "probe", "rigid"):
        try:
            dets[name] = create_detector(name)
            cards[name] = dets[name].card
        except FakescopeError as e:
            log(f"{name}: unavailable ({e})")
    cal = None
    for name, det in dets.items():
        key = (det.card.sha256 or "nosha")[:12]
        f = WORK / f"{name}-{key}.json"
        if f.exists():
            part = json.loads(f.read_text())
        else:
            part = score_calibration({name: det}, records, log=log)
            f.write_text(json.dumps(part))
        log(f"{name}: scored")
        if cal is None:
            cal = {k: v for k, v in part.items() if k != "scores"}
            cal["scores"] = {}
        assert part["labels"] == cal["labels"]
        cal["scores"][name] = part["scores"][name]
    for name in dets:
        if name == "rigid":  # no evidence below 64 px: Platt on the images it judges (see its card)
            big = np.asarray(cal["min_side"]) >= dets[name].min_side
            sub = {"scores": {name: list(np.asarray(cal["scores"][name])[big])},
                   "labels": list(np.asarray(cal["labels"])[big]), "groups": list(np.asarray(cal["groups"])[big])}
            cards[name] = update_platt(sub, name, WEIGHTS_DIR / f"{name}.json")
        else:
            cards[name] = update_platt(cal, name, WEIGHTS_DIR / f"{name}.json")
    rng_img = np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    from fakescope.training.data import load_rgb

    photo = next((r for r in records if r.source == "photos"), None)
    img = load_rgb(photo.path)[:768, :1024] if photo is not None else rng_img
    cost = {n: detector_ms(d, np.ascontiguousarray(img), reps=5) for n, d in dets.items()}
    log("ms per image: " + json.dumps({k: round(v, 2) for k, v in cost.items()}))
    core = [n for n in CORE if n in dets]
    rows = cross_validate_sets(cal, candidate_sets(core, max_size=len(core)))
    for r in rows:
        r["ms_per_image"] = round(sum(cost[m] for m in r["members"]), 2)
        r["score_thumbnail"] = r["auc_thumbnail"]
        r["score_full"] = float(np.mean([r["auc_full"], r["mean_group_auc_full"]]))
    chosen = {}
    # thumbnails (<= 64 px): every detector costs well under a millisecond there, so the best CV AUC wins
    # (ties within 0.001: fewer members); full resolution: see below
    best_t = max(r["score_thumbnail"] for r in rows)
    chosen["thumbnail"] = min((r for r in rows if r["score_thumbnail"] >= best_t - 0.001),
                              key=lambda r: (len(r["members"]), -r["score_thumbnail"]))
    # full resolution fuses at least two families: one family alone is one change of generator away from
    # blind (spectral peaks vanish with another last up-sampling layer: its card says never to use it alone)
    # and, since cost matters there, the one-standard-error rule: the cheapest set whose score is within
    # one standard error (Hanley-McNeil, of the best set's full-resolution AUC) of the best
    multi = [r for r in rows if len(r["members"]) >= 2]
    top = max(multi, key=lambda r: r["score_full"])
    y = np.asarray(cal["labels"])
    full = np.array([regime_of(v) == "full" for v in cal["min_side"]])
    se = hanley_mcneil_se(top["auc_full"], int(np.sum(y[full] == 1)), int(np.sum(y[full] == 0)))
    chosen["full"] = min((r for r in multi if r["score_full"] >= top["score_full"] - se),
                         key=lambda r: (r["ms_per_image"], -r["score_full"]))
    chosen["full_tolerance_se"] = se
    log(f"full-resolution tolerance (1 SE): {se:.4f}")
    for reg in ("thumbnail", "full"):
        log(f"default set, {reg}: {chosen[reg]['members']} (cv score {chosen[reg]['score_' + reg]:.4f}, "
            f"{chosen[reg]['ms_per_image']} ms at 1024x768)")
    rows.sort(key=lambda r: -r["score_full"])
    members = [m for m in ENSEMBLE if m in dets]
    ens = fit_ensemble_card(cal, members, cards)
    ens.save(WEIGHTS_DIR / "ensemble.json")
    # the ensemble's own raw scores on the calibration split (its stacker applied to the members'
    # scores), so `--detector ensemble` can be fused and thresholded like any detector
    z = stacker_scores(cal, ens.extra["members"], ens.extra["stacking"])
    cal["scores"]["ensemble"] = [round(float(v), 6) for v in z]
    log(f"ensemble over {members}: cv {json.dumps(ens.metrics['calibration_cv5_auc'])}")
    selection = {"rule": "5-fold CV inside the calibration split over every subset of the core-install detectors, "
                         "per regime. Thumbnails (<= 64 px): best CV AUC (ties within 0.001: fewer members). "
                         "Full resolution: sets of at least two families; score = mean(CV AUC, mean per-generator-group "
                         "CV AUC); the cheapest set (ms per 1024x768 image) within one standard error (Hanley-McNeil, of "
                         "the best set's full-resolution AUC) of the best.",
                 "ms_per_image_1024x768": {k: round(v, 2) for k, v in cost.items()},
                 "table": rows, "chosen": chosen}
    write_calibration(cal, default={r: chosen[r]["members"] for r in ("thumbnail", "full")}, selection=selection)
    (WORK / "selection.json").write_text(json.dumps(selection, indent=1))
    log("wrote weights/calibration.json, ensemble.json and refitted Platt parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
