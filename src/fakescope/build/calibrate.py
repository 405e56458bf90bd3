"""The ``calibrate`` build step: score the calibration split, choose the default sets by leave-one-source-out.

``weights/calibration.json`` holds the raw score of every shipped detector on every calibration
image of the frozen split (``split == "calibration"``: CIFAKE's calibration part, the modern set's
and the photos'), as stored (``original``) and re-encoded as JPEG q90 4:2:0 (``jpeg90``), and every
image larger than a thumbnail once more as a thumbnail made of it (``thumbnail-64``: long side 64,
JPEG q90, the held-out scores' thumbnail condition; these rows follow the others), scored by
the build's one scoring loop (:func:`fakescope.build.generalisation.score_wild`: the scan's decoder,
each detector's own input policy).  The fusion (:class:`fakescope.fusion.Fuser`) fits its stackers
on these rows, so any subset of detectors can be fused; in the thumbnail regime the native thumbnails
(CIFAKE) and the made ones weigh equally (:func:`fakescope.regimes.fit_weights`), so CIFAKE's 2,000 rows
do not fit the thumbnail stacker alone.

The default sets a plain scan fuses, one per regime (thumbnails ≤ 64 px, full resolution), are
chosen on the sources no detector trained on (``weights/wild.json``: the test split and the wild
sources, as stored and laundered), never on the calibration split: for every candidate set of the
core-install detectors, a stacker fitted on the calibration rows of the regime (weighted as the
fusion weighs them) scores the wild rows of the regime; the criterion is the mean over laundering conditions of the mean per-source
AUC (sources of at least 5 images; a fake source against every real image of its condition, a real
source against every fake).
Full resolution fuses at least two families; both regimes take the cheapest set (milliseconds per
image of the regime: a 1024×768 photo, a 64-px thumbnail of it, measured by bench/detector_costs.py and
committed as docs/benchmarks/detector_costs.json, so that a rebuild prices sets as the last one did) within
one standard error of the best (the spread of the per-source AUCs over the square root of their number),
which also keeps the pick from chasing the noise of a dozen sources among a hundred candidates.  Because the sets are chosen on these
sources, :func:`nested_loso` also reports what the rule gives a source it did not see: each
source's AUC under the set chosen on all the other sources.

The ``ensemble`` detector's stacker (``weights/ensemble.json``) is fitted here on the same rows but
the made thumbnails (:func:`fit_ensemble`; :func:`fakescope.training.calibrate.fit_ensemble_card` over :data:`ENSEMBLE_MEMBERS`: one stacker per
regime; at full resolution the combination with the best leave-one-generator-out AUC); its column of
the file is that stacker applied to its members' scores, exactly what the detector computes, so the
ensemble is never scored (nor an input of this step).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..perturbations import Chain, Perturbation
from ..regimes import MADE_THUMBNAIL, fit_weights, regime_of
from .generalisation import LAUNDERING, source_aucs

__all__ = ["CAL_CHAINS", "THUMBNAIL_CHAINS", "CALIBRATION_DETECTORS", "SCORED_DETECTORS", "ENSEMBLE_MEMBERS", "CORE_DETECTORS",
           "COSTS_FILE", "load_costs", "calibration_rows", "choose_defaults", "nested_loso", "fit_ensemble",
           "write_calibration"]

Log = Callable[[str], None]

#: the price list (bench/detector_costs.py, committed; a source checkout's docs/benchmarks)
COSTS_FILE = Path(__file__).resolve().parents[3] / "docs" / "benchmarks" / "detector_costs.json"


def load_costs(names: Sequence[str], path: str | os.PathLike[str] | None = None) -> dict[str, dict[str, float]]:
    """Per regime (``full``, ``thumbnail``), the committed milliseconds per image of each of ``names``."""
    from ..errors import UsageError

    p = Path(path) if path is not None else COSTS_FILE
    try:
        ms = json.loads(p.read_text(encoding="utf-8"))["ms_per_image"]
    except (OSError, ValueError, KeyError) as e:
        raise UsageError(f"cannot read the detectors' price list {p} ({e}): the calibrate step needs a source "
                         "checkout's docs/benchmarks/detector_costs.json (bench/detector_costs.py writes it)") from e
    missing = sorted({n for n in names for r in ("full", "thumbnail") if n not in ms.get(r, {})})
    if missing:
        raise UsageError(f"{p} has no price for {missing}: rerun bench/detector_costs.py")
    return {r: {n: float(ms[r][n]) for n in names} for r in ("full", "thumbnail")}

#: the two variants of every calibration image
CAL_CHAINS: dict[str, Chain] = {"original": Chain([]),
                                "jpeg90": Chain([Perturbation("jpeg", {"quality": 90, "subsampling": "4:2:0"})])}
#: the variant of every calibration image larger than a thumbnail that makes one of it (rows after the others)
THUMBNAIL_CHAINS: dict[str, Chain] = {MADE_THUMBNAIL: LAUNDERING[MADE_THUMBNAIL][1]}
#: every detector the calibration file scores (any subset can be fused with ``--detector``); zed, rine-adv
#: and cnnspot-adv are research detectors (weak or not robust, see docs/benchmarks/zed.md and attacks.md),
#: scored so that a scan can run them, never candidates for the default sets
CALIBRATION_DETECTORS: tuple[str, ...] = ("npr", "spectral", "safe", "cnnspot", "patchcraft", "npr-thumb", "rine",
                                          "probe", "rigid", "zed", "rine-adv", "cnnspot-adv", "ensemble")
#: the ensemble's members (the low-level experts and the two frozen-backbone heads)
ENSEMBLE_MEMBERS: tuple[str, ...] = ("npr", "spectral", "safe", "cnnspot", "patchcraft", "probe", "rigid")
#: what the step scores: every detector but the ensemble, which it fits
SCORED_DETECTORS: tuple[str, ...] = tuple(n for n in CALIBRATION_DETECTORS if n != "ensemble")
#: the candidates for a plain scan's default sets: what a core install runs (ONNX/numpy only)
CORE_DETECTORS: tuple[str, ...] = ("npr", "spectral", "safe", "cnnspot", "patchcraft", "npr-thumb", "rine")
SPLIT_DOC = ("calibration split of the frozen manifest fakescope/io/split.csv (rows with split 'calibration': "
             "CIFAKE cifake/train indices 2000..2499 per class; the modern set's and the photo collections' "
             "calibration parts, never-seen generators excluded). Every image twice: as stored ('original') and "
             "re-encoded as JPEG quality 90 4:2:0 ('jpeg90'), record-major; then every image larger than a "
             "thumbnail once more as a thumbnail of it ('thumbnail-64': long side 64 Lanczos, JPEG q90 4:2:0); "
             "see 'variants'.")


def calibration_rows(root: str | os.PathLike[str] | None = None) -> list[Any]:
    """The frozen split's calibration records."""
    from ..training.data import all_records

    return [r for r in all_records(root) if r.split == "calibration"]


def _stacker_p(xc: np.ndarray, yc: np.ndarray, xw: np.ndarray, wc: np.ndarray | None = None) -> np.ndarray:
    """The fusion's stacker (:func:`fakescope.fitting.fit_stacker`, rows weighted by ``wc``) fitted on
    ``xc`` and applied to ``xw`` (logits)."""
    from ..fitting import fit_stacker

    mu, sd, w, b = fit_stacker(xc, yc, sample_weight=wc)
    return ((xw - mu) / sd) @ w + b


def _criterion(aucs: Mapping[str, Mapping[str, float]], drop: str | None = None) -> tuple[float, float, float]:
    """(mean over conditions of the mean per-source AUC, its standard error, mean over conditions of the worst)."""
    means, ses, worst = [], [], []
    for row in aucs.values():
        v = np.array([a for o, a in row.items() if o != drop])
        if v.size == 0:
            continue
        means.append(v.mean())
        ses.append(v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0)
        worst.append(v.min())
    return float(np.mean(means)), float(np.mean(ses)), float(np.mean(worst))


def _candidates(names: Sequence[str], families: Mapping[str, str], min_families: int) -> list[tuple[str, ...]]:
    out = []
    for k in range(1, len(names) + 1):
        for c in itertools.combinations(names, k):
            if len({families[n] for n in c}) >= min_families:
                out.append(c)
    return out


def _choose(table: Sequence[Mapping[str, Any]], cost: Mapping[str, float], drop: str | None = None,
            one_se: bool = True) -> Mapping[str, Any]:
    scored = []
    for r in table:
        mean, se, worst = _criterion(r["aucs"], drop)
        scored.append((r, mean, se, worst))
    best = max(scored, key=lambda t: t[1])
    tol = best[2] if one_se else 0.0
    pool = [t for t in scored if t[1] >= best[1] - tol]
    return min(pool, key=lambda t: (sum(cost.get(m, 0.0) for m in t[0]["members"]), -t[1]))[0]


def choose_defaults(cal: Mapping[str, Any], wild: Mapping[str, Any], families: Mapping[str, str],
                    costs: Mapping[str, Mapping[str, float]], candidates: Sequence[str] = CORE_DETECTORS
                    ) -> dict[str, Any]:
    """The default set per regime (see the module docs) and the table it was chosen from; ``costs``: per
    regime, milliseconds per image of each detector."""
    names = [n for n in candidates if n in cal["scores"] and n in wild["scores"]]
    yc = np.asarray(cal["labels"], np.float64)
    rc = np.array([regime_of(int(v)) for v in cal["min_side"]])
    wc = fit_weights([int(v) for v in cal["min_side"]], cal.get("variants"))
    yw = np.asarray(wild["labels"], np.float64)
    rw = np.array([regime_of(int(v)) for v in wild["min_side"]])
    ow, cw = np.asarray(wild["origins"]), np.asarray(wild["conditions"])
    chosen: dict[str, Any] = {}
    tables: dict[str, list[dict[str, Any]]] = {}
    for regime, min_fam in (("thumbnail", 1), ("full", 2)):
        cost = costs[regime]
        mc, mw = rc == regime, rw == regime
        rows = []
        for members in _candidates(names, families, min_fam):
            xc = np.stack([cal["scores"][n] for n in members], 1)[mc]
            xw = np.stack([wild["scores"][n] for n in members], 1)[mw]
            p = _stacker_p(np.asarray(xc, np.float64), yc[mc], np.asarray(xw, np.float64), wc[mc])
            aucs = source_aucs(p, yw[mw], ow[mw], cw[mw])
            mean, se, worst = _criterion(aucs)
            rows.append({"members": list(members), "aucs": aucs, "mean_source_auc": mean, "se": se,
                         "mean_worst_auc": worst, "ms_per_image": round(sum(cost.get(m, 0.0) for m in members), 2)})
        # the one-SE rule in both regimes (thumbnails, measured by nested_loso on 12 sources: the best set
        # alone gave a mean of 0.818 and a worst source of 0.60 to sources it never saw, the rule 0.797 and 0.72)
        pick = _choose(rows, cost)
        chosen[regime] = {k: pick[k] for k in ("members", "mean_source_auc", "se", "mean_worst_auc", "ms_per_image")}
        tables[regime] = rows
    return {"chosen": chosen, "tables": tables}


def nested_loso(tables: Mapping[str, Sequence[Mapping[str, Any]]], costs: Mapping[str, Mapping[str, float]]
                ) -> dict[str, Any]:
    """Per regime and source: the set the rule chooses without that source, and the source's AUC per
    condition under it (what the selection gives a source it never saw)."""
    out: dict[str, Any] = {}
    for regime, rows in tables.items():
        sources = sorted({o for r in rows for c in r["aucs"].values() for o in c})
        per = {}
        for s in sources:
            pick = _choose(rows, costs[regime], drop=s)
            per[s] = {"members": pick["members"], "auc": {c: v[s] for c, v in pick["aucs"].items() if s in v}}
        out[regime] = per
    return out


def fit_ensemble(cal: Mapping[str, Any], cards: Mapping[str, Any], *, inputs_sha256: str = "",
                 members: Sequence[str] = ENSEMBLE_MEMBERS) -> Any:
    """The ``ensemble`` card fitted on the calibration scores ``cal`` (:func:`fit_ensemble_card`), with this
    step's split description and input fingerprint.  Its stacker keeps to the stored and JPEG rows: the
    thumbnails made of larger images are left out, because its members' scores on made thumbnails are
    measured on no held-out source (``probe`` and ``rigid`` are not in ``wild.json``), so nothing could say
    whether fitting on them helps it — and with its group-balanced weights they cost it CIFAKE (in-sample
    AUC 0.985 -> 0.904 when they were in)."""
    from dataclasses import replace

    from ..training.calibrate import fit_ensemble_card, subset_rows

    if cal.get("variants"):
        cal = subset_rows(cal, np.asarray(cal["variants"]) != MADE_THUMBNAIL)
    card = fit_ensemble_card(cal, list(members), cards)
    build = {"step": "calibrate", "command": "fakescope build calibrate", "inputs_sha256": inputs_sha256,
             "fitted_on": f"{len(cal['labels'])} calibration rows (calibration.json)"}
    return replace(card, split=SPLIT_DOC, metrics={**card.metrics, "inputs_sha256": inputs_sha256, "build": build})


def write_calibration(root: str | os.PathLike[str] | None = None, *, path: str | os.PathLike[str] | None = None,
                      jobs: int = 2, log: Log | None = None, inputs_sha256: str = "",
                      detectors: Sequence[str] = SCORED_DETECTORS, records: Sequence[Any] | None = None,
                      wild: Mapping[str, Any] | None = None,
                      ensemble_path: str | os.PathLike[str] | None = None,
                      costs_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Score the calibration split, fit the ensemble (when all its members are scored: ``weights/ensemble.json``,
    or ``ensemble_path``), choose the defaults (pricing sets by ``costs_path``, default :data:`COSTS_FILE`),
    write ``weights/calibration.json``."""
    from ..detectors import create_detector
    from ..fusion import CALIBRATION_FILE
    from ..io.splits import split_sha256
    from .generalisation import WILD_FILE, score_wild

    t0 = time.time()
    recs = calibration_rows(root) if records is None else list(records)
    detectors = [n for n in detectors if n != "ensemble"]
    d = score_wild(recs, detectors=detectors, chains=CAL_CHAINS, jobs=jobs, log=log, what="calibration scores")
    first = list(CAL_CHAINS)[0]
    big = [recs[i] for i, c, s in zip(d["images"], d["conditions"], d["min_side"])
           if c == first and regime_of(int(s)) == "full"]
    if big:  # the thumbnails made of the larger images, after the other rows
        t = score_wild(big, detectors=detectors, chains=THUMBNAIL_CHAINS, jobs=jobs, log=log,
                       what="calibration thumbnails")
        for k in ("labels", "groups", "origins", "conditions", "min_side", "keys"):
            d[k] = d[k] + t[k]
        d["scores"] = {n: d["scores"][n] + t["scores"][n] for n in detectors}
    cal = {"split": SPLIT_DOC, "split_sha256": split_sha256(), "inputs_sha256": inputs_sha256,
           "labels": d["labels"], "groups": d["groups"], "origins": d["origins"], "variants": d["conditions"],
           "min_side": d["min_side"], "keys": d["keys"], "scores": d["scores"]}
    wild_d = wild if wild is not None else json.loads(Path(WILD_FILE).read_text(encoding="utf-8"))
    dets = {n: create_detector(n) for n in detectors}
    families = {n: dets[n].card.family for n in detectors}
    if all(m in d["scores"] for m in ENSEMBLE_MEMBERS):
        from ..detectors.base import WEIGHTS_DIR
        from ..training.calibrate import stacker_scores

        ens = fit_ensemble(cal, {n: dets[n].card for n in ENSEMBLE_MEMBERS}, inputs_sha256=inputs_sha256)
        ens.save(Path(ensemble_path) if ensemble_path is not None else WEIGHTS_DIR / "ensemble.json")
        z = stacker_scores(cal, ens.extra["members"], ens.extra["stacking"])
        cal["scores"]["ensemble"] = [round(float(v), 6) for v in z]
        if log:
            log(f"ensemble over {list(ENSEMBLE_MEMBERS)}: full-resolution stacker "
                f"{ens.metrics['full_resolution_stacking']}, cv {json.dumps(ens.metrics['calibration_cv5_auc'])}")
    costs = load_costs([n for n in CORE_DETECTORS if n in dets], costs_path)
    sel = choose_defaults(cal, wild_d, families, costs)
    nested = nested_loso(sel["tables"], costs)
    cal["default"] = {r: sel["chosen"][r]["members"] for r in ("thumbnail", "full")}
    cal["default_selection"] = {
        "rule": __doc__.split("\n\n")[2].replace("\n", " "),
        "ms_per_image_1024x768": costs["full"], "ms_per_image_thumbnail_64": costs["thumbnail"],
        "costs_from": "docs/benchmarks/detector_costs.json (bench/detector_costs.py)",
        "chosen": sel["chosen"],
        "table": {r: [{k: v for k, v in row.items() if k != "aucs"} for row in rows]
                  for r, rows in sel["tables"].items()},
        "chosen_aucs": {r: next(row["aucs"] for row in sel["tables"][r] if row["members"] == sel["chosen"][r]["members"])
                        for r in sel["tables"]},
        "nested_loso": nested,
    }
    cal["seconds"] = round(time.time() - t0, 1)
    out = Path(path) if path is not None else CALIBRATION_FILE
    out.write_text(json.dumps(cal, separators=(",", ":")) + "\n", encoding="utf-8")
    if log:
        log(f"wrote {out}: {len(cal['labels'])} rows; default thumbnail {cal['default']['thumbnail']}, "
            f"full {cal['default']['full']} ({cal['seconds']} s)")
    return cal
