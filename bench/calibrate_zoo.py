"""Score the calibration split with every shipped detector, refit Platt, fit the ensemble, choose the default set.

    python bench/calibrate_zoo.py

1. raw scores of each available shipped detector on the calibration split (as stored and as
   JPEG q90), cached in ``bench/_work/calib/<name>-<sha12>.json``;
2. each card's Platt parameters refitted on those scores;
3. ``weights/ensemble.json``: the stacker over the low-level experts;
4. the default set of a plain scan: 5-fold cross-validation inside the calibration split over
   every subset of the core-install detectors (ONNX/numpy only, no torch), scored by the
   mean of the thumbnail AUC, the full-resolution AUC and the mean per-group AUC; among sets
   within 0.002 of the best, the cheapest (ms per 1024x768 image, measured here) wins.
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
WORK = REPO / "bench" / "_work" / "calib"
CORE = ("npr", "spectral", "safe", "cnnspot", "patchcraft")  # run on the core install (no torch)
# the ensemble stacks every expert (ALEI: low-level experts beside a frozen foundation backbone)
ENSEMBLE = ("npr", "spectral", "safe", "cnnspot", "patchcraft", "probe", "rigid")


def ms_per_image(det, img, reps: int = 5) -> float:
    det.raw_scores([img])
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        det.raw_scores([img])
        ts.append(time.perf_counter() - t)
    return float(np.median(ts) * 1000)


def ensemble_scores(cal, card) -> np.ndarray:
    from fakescope.training.calibrate import THUMBNAIL_MAX_SIDE

    x = np.stack([np.asarray(cal["scores"][m], np.float64) for m in card.extra["members"]], axis=1)
    out = np.empty(len(x))
    for i, side in enumerate(cal["min_side"]):
        st = card.extra["stacking"]["thumbnail" if side <= THUMBNAIL_MAX_SIDE else "full"]
        out[i] = ((x[i] - np.asarray(st["mu"])) / np.asarray(st["sd"])) @ np.asarray(st["coef"]) + st["intercept"]
    return out


def main() -> int:
    from fakescope.detectors import create_detector
    from fakescope.detectors.base import WEIGHTS_DIR
    from fakescope.errors import FakescopeError
    from fakescope.training.calibrate import (calibration_records, candidate_sets, cross_validate_sets,
                                              fit_ensemble_card, score_calibration, update_platt,
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
    cost = {n: ms_per_image(d, np.ascontiguousarray(img)) for n, d in dets.items()}
    log("ms per image: " + json.dumps({k: round(v, 2) for k, v in cost.items()}))
    core = [n for n in CORE if n in dets]
    rows = cross_validate_sets(cal, candidate_sets(core, max_size=len(core)))
    for r in rows:
        r["score"] = float(np.mean([r["auc_thumbnail"], r["auc_full"], r["mean_group_auc"]]))
        r["ms_per_image"] = round(sum(cost[m] for m in r["members"]), 2)
    best = max(r["score"] for r in rows)
    near = [r for r in rows if r["score"] >= best - 0.002]
    chosen = min(near, key=lambda r: (r["ms_per_image"], -r["score"]))
    rows.sort(key=lambda r: -r["score"])
    log(f"default set: {chosen['members']} (cv score {chosen['score']:.4f}, best {best:.4f}, "
        f"{chosen['ms_per_image']} ms)")
    members = [m for m in ENSEMBLE if m in dets]
    ens = fit_ensemble_card(cal, members, cards)
    ens.save(WEIGHTS_DIR / "ensemble.json")
    # the ensemble's own raw scores on the calibration split (its stacker applied to the members'
    # scores), so `--detector ensemble` can be fused and thresholded like any detector
    cal["scores"]["ensemble"] = [round(float(v), 6) for v in ensemble_scores(cal, ens)]
    log(f"ensemble over {members}: cv {json.dumps(ens.metrics['calibration_cv5_auc'])}")
    selection = {"rule": "5-fold CV inside the calibration split over subsets of the core-install detectors; "
                         "score = mean(thumbnail AUC, full-resolution AUC, mean per-group AUC); the cheapest set "
                         "within 0.002 of the best", "ms_per_image_1024x768": {k: round(v, 2) for k, v in cost.items()},
                 "table": rows[:15], "chosen": chosen}
    write_calibration(cal, default=chosen["members"], selection=selection)
    (WORK / "selection.json").write_text(json.dumps(selection, indent=1))
    log("wrote weights/calibration.json, ensemble.json and refitted Platt parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
