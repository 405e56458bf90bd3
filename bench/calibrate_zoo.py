"""Score the calibration split with every shipped detector, refit Platt, fit the ensemble, choose the default set.

    python bench/calibrate_zoo.py

1. raw scores of each available shipped detector on the calibration split (as stored and as
   JPEG q90), cached in ``bench/_work/calib/<name>-<key>-<records>.json`` (``DetectorCard.scoring_key``);
2. each card's Platt parameters refitted on those scores;
3. ``weights/ensemble.json``: the stacker over the low-level experts;
4. the default sets of a plain scan, one per regime: 5 x repeated 5-fold cross-validation inside the
   calibration split over every subset of the core-install detectors (ONNX/numpy only, no
   torch). Thumbnails (<= 64 px, where every detector is cheap): the best CV AUC.
   Full-resolution images (sets of at least two families): mean of the CV AUC and the mean
   per-group CV AUC; the cheapest set (ms per 1024x768 image, measured here) within one standard
   error of the best score wins (the one-standard-error rule;
   :func:`fakescope.training.calibrate.full_score_se`). Table: docs/benchmarks/default_sets.md.
   The held-out-decoder fakes (bench/heldout_decoders.py) are left out of this choice and used for
   the ensemble's (3.); the test split is never read.
5. ``weights/calibration.json`` with all scores, the default set and the selection table.

A new calibration file makes the shipped ``weights/cascade.json`` (the two-stage scan's first-stage
scores, keyed by the calibration file's sha256) stale: the scan then runs every tile until
``bench/cascade.py`` is rerun.
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
CORE = ("npr", "spectral", "safe", "cnnspot", "patchcraft", "npr-thumb")  # run on the core install (no torch)
# the ensemble stacks every expert (ALEI: low-level experts beside a frozen foundation backbone)
ENSEMBLE = ("npr", "spectral", "safe", "cnnspot", "patchcraft", "probe", "rigid")


def _write_markdown(selection: dict, multi: list, se: float) -> None:
    """docs/benchmarks/default_sets.md: how the default sets and tile counts were chosen."""
    from _common import DOCS, machine

    ch = selection["chosen"]
    lines = ["# Default detector sets (chosen on the calibration split)", "",
             f"`python bench/calibrate_zoo.py` on {machine()}. {selection['rule']}", "",
             f"Chosen: thumbnails {', '.join(ch['thumbnail']['members'])}; full resolution "
             f"{', '.join(ch['full']['members'])}; tolerance {se:.4f}.", "",
             "## Full resolution: the 20 best-scoring candidates and the cheapest ones", "",
             "| members | CV AUC | mean group CV AUC | score | ms per 1024x768 image |", "|---|---|---|---|---|"]
    top = sorted(multi, key=lambda r: -r["score_full"])[:20]
    cheap = sorted(multi, key=lambda r: r["ms_per_image"])[:8]
    for r in top + [r for r in cheap if r not in top]:
        lines.append(f"| {' + '.join(r['members'])} | {r['auc_full']:.4f} | {r['mean_group_auc_full']:.4f} | "
                     f"{r['score_full']:.4f} | {r['ms_per_image']:.2f} |")
    lines += ["", "## Thumbnails (<= 64 px): the 8 best", "", "| members | CV AUC |", "|---|---|"]
    for r in sorted(selection["table"], key=lambda r: -r["score_thumbnail"])[:8]:
        lines.append(f"| {' + '.join(r['members'])} | {r['score_thumbnail']:.4f} |")
    (DOCS / "default_sets.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    from fakescope.detectors import create_detector
    from fakescope.detectors.base import WEIGHTS_DIR
    from fakescope.errors import FakescopeError
    from fakescope.fusion import heldout_mask, regime_of
    from fakescope.training.calibrate import (calibration_records, candidate_sets, cross_validate_sets,
                                              fit_ensemble_card, full_score_se, score_calibration, stacker_scores,
                                              subset_rows, update_platt, write_calibration)

    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)

    WORK.mkdir(parents=True, exist_ok=True)
    records = calibration_records(REPO / "bench" / "_work" / "train", heldout=REPO / "bench" / "_work" / "heldout")
    log(f"calibration split: {len(records)} images")
    import hashlib

    rec_key = hashlib.sha256("\n".join(f"{r.key}|{r.group}|{Path(r.path).name}|{r.label}"
                                        for r in records).encode()).hexdigest()[:8]
    dets, cards = {}, {}
    for name in ("npr", "spectral", "safe", "cnnspot", "patchcraft", "npr-thumb", "probe", "rigid"):
        try:
            dets[name] = create_detector(name)
            cards[name] = dets[name].card
        except FakescopeError as e:
            log(f"{name}: unavailable ({e})")
    def scores_of(name: str, det) -> dict:
        f = WORK / f"{name}-{det.card.scoring_key()[:12]}-{rec_key}.json"
        if f.exists():
            return json.loads(f.read_text())
        part = score_calibration({name: det}, records, log=log)
        f.write_text(json.dumps(part))
        return part

    cal = None
    for name, det in dets.items():
        part = scores_of(name, det)
        log(f"{name}: scored")
        if cal is None:
            cal = {k: v for k, v in part.items() if k != "scores"}
            cal["scores"] = {}
        assert part["labels"] == cal["labels"]
        cal["scores"][name] = part["scores"][name]
    rng_img = np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    from fakescope.training.data import load_rgb

    photo = next((r for r in records if r.source == "photos"), None)
    img = np.ascontiguousarray(load_rgb(photo.path)[:768, :1024] if photo is not None else rng_img)
    cost = {n: d.ms_per_image(img, reps=5) for n, d in dets.items()}
    log("ms per image: " + json.dumps({k: round(v, 2) for k, v in cost.items()}))
    core = [n for n in CORE if n in dets]
    # the default sets are chosen on the calibration split's real generators and training-decoder
    # reconstructions; the held-out-decoder fakes answer one question, how a stacker does on fakes new to
    # every member (the ensemble's choice below). Left in, they would steer the cost/accuracy choice:
    # spectral alone separates all three decoders' reconstructions from the reals (AUC ~1.0)
    sel = subset_rows(cal, ~heldout_mask(cal["groups"]))
    rows = cross_validate_sets(sel, candidate_sets(core, max_size=len(core)))  # 5 x 5-fold
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
    # one standard error of the best (the SE of that score: calibrate.full_score_se)
    multi = [r for r in rows if len({cards[m].family for m in r["members"]}) >= 2]
    top = max(multi, key=lambda r: r["score_full"])
    y = np.asarray(sel["labels"])
    full = np.array([regime_of(v) == "full" for v in sel["min_side"]])
    se = full_score_se(top, int(np.sum(y[full] == 1)), int(np.sum(y[full] == 0)))
    chosen["full"] = min((r for r in multi if r["score_full"] >= top["score_full"] - se),
                         key=lambda r: (r["ms_per_image"], -r["score_full"]))
    chosen["full_tolerance_se"] = se
    log(f"full-resolution tolerance (1 SE of the best score): {se:.4f}")
    for name in dets:
        cards[name] = dets[name].card
        side = np.asarray(cal["min_side"])
        rows = None
        if name == "rigid":  # no evidence below 64 px: Platt on the images it judges (see its card)
            rows = side >= dets[name].min_side
        elif dets[name].card.extra.get("regime") == "thumbnail":  # a thumbnail specialist (npr-thumb)
            rows = np.array([regime_of(int(v)) == "thumbnail" for v in side])
        if rows is not None:
            sub = {"scores": {name: list(np.asarray(cal["scores"][name])[rows])},
                   "labels": list(np.asarray(cal["labels"])[rows]), "groups": list(np.asarray(cal["groups"])[rows])}
            cards[name] = update_platt(sub, name, WEIGHTS_DIR / f"{name}.json")
        else:
            cards[name] = update_platt(cal, name, WEIGHTS_DIR / f"{name}.json")
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
    selection = {"rule": "5 x repeated 5-fold CV (folds by source key) inside the calibration split (held-out-decoder "
                         "fakes left out) over every subset of the core-install detectors, per regime. Thumbnails "
                         "(<= 64 px): best CV AUC (ties within 0.001: fewer members). Full resolution: sets of at least "
                         "two families; score = mean(CV AUC, mean per-generator-"
                         "group CV AUC); the cheapest set (ms per 1024x768 image) within one standard error of the "
                         "best score (SE: Hanley-McNeil for the AUC, spread of the group AUCs / sqrt(groups) for the "
                         "group mean, combined).",
                 "ms_per_image_1024x768": {k: round(v, 2) for k, v in cost.items()},
                 "table": rows, "chosen": chosen}
    write_calibration(cal, default={r: chosen[r]["members"] for r in ("thumbnail", "full")}, selection=selection)
    (WORK / "selection.json").write_text(json.dumps(selection, indent=1))
    _write_markdown(selection, multi, se)
    log("wrote weights/calibration.json, ensemble.json and refitted Platt parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
