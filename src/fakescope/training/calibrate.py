"""The calibration split, scored by every shipped detector; the ensemble and the default set fitted on it.

``weights/calibration.json`` holds the raw score of every shipped detector on every
calibration image (as stored and re-encoded as JPEG q90), so :class:`fakescope.fusion.Fuser`
can fuse any subset.  This module

1. scores the calibration split with a set of detectors (:func:`score_calibration`);
2. fits each detector's Platt parameters and the ``ensemble`` stacker on it
   (:func:`fit_ensemble_card`);
3. picks the default set a plain scan fuses by 5-fold cross-validation *inside* the
   calibration split (:func:`cross_validate_sets`) — the test split is never looked at;
4. writes it all (:func:`write_calibration`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..detectors.base import WEIGHTS_DIR, Detector, DetectorCard
from ..regimes import HELDOUT_PREFIX, THUMBNAIL_MAX_SIDE, regime_of
from .data import Record, all_records
from .evaluate import _balanced_weights, _fit_logistic, fit_platt, roc_auc
from .pipeline import CALIBRATION_SPLIT_DOC, _cal_group, eval_images, heldout_records

__all__ = ["calibration_records", "score_calibration", "subset_rows", "cv_folds", "hanley_mcneil_se", "full_score_se",
           "write_calibration", "fit_stacker", "fit_ensemble_card", "cross_validate_sets", "stacker_scores",
           "THUMBNAIL_MAX_SIDE"]

Log = Callable[[str], None]


def calibration_records(aligned_fakes: str | Path | None = None, heldout: str | Path | None = None) -> list[Record]:
    """The calibration split: shared data plus auto-encoder reconstructions (``records.json``) and,
    when ``heldout`` is given, the held-out-decoder reconstructions (:func:`.pipeline.heldout_records`)."""
    recs = all_records()
    if aligned_fakes is not None and (Path(aligned_fakes) / "records.json").is_file():
        recs += [Record(**r) for r in json.loads((Path(aligned_fakes) / "records.json").read_text())
                 if r["source"] == "ae"]
    if heldout is not None:
        recs += heldout_records(heldout)
    return [r for r in recs if r.split == "calibration"]


def score_calibration(detectors: Mapping[str, Detector], records: Sequence[Record], *, log: Log | None = None,
                      chunk: int = 32) -> dict[str, Any]:
    """Raw scores of every detector on every record, as stored and as JPEG q90 (decoded once per chunk)."""
    labels, groups, variants, min_side, keys = [], [], [], [], []
    scores: dict[str, list[float]] = {k: [] for k in detectors}
    for variant, j90 in (("original", False), ("jpeg90", True)):
        for i in range(0, len(records), chunk):
            part = records[i : i + chunk]
            imgs = eval_images(part, jpeg90=j90)
            for k, det in detectors.items():
                scores[k].extend(float(v) for v in det.raw_scores(imgs))
            labels += [r.label for r in part]
            groups += [_cal_group(r) for r in part]
            min_side += [int(min(im.shape[:2])) for im in imgs]
            variants += [variant] * len(part)
            keys += [r.key for r in part]  # the split's grouping key: a photo and its reconstructions share it
            if log and (i // chunk) % 10 == 0:
                log(f"calibration scores: {variant} {i + len(part)}/{len(records)}")
    return {"split": CALIBRATION_SPLIT_DOC, "labels": labels, "groups": groups, "variants": variants,
            "min_side": min_side, "keys": keys, "scores": {k: [round(v, 6) for v in s] for k, s in scores.items()}}


def subset_rows(cal: Mapping[str, Any], keep: np.ndarray) -> dict[str, Any]:
    """The calibration dict restricted to the rows where ``keep`` is true (every per-row list cut)."""
    keep = np.asarray(keep, bool)
    out: dict[str, Any] = {}
    for k, v in cal.items():
        if k == "scores":
            out[k] = {m: [x for x, t in zip(sc, keep) if t] for m, sc in v.items()}
        elif isinstance(v, list) and len(v) == len(keep):
            out[k] = [x for x, t in zip(v, keep) if t]
        else:
            out[k] = v
    return out


def cv_folds(cal: Mapping[str, Any], folds: int, seed: int) -> np.ndarray:
    """Fold of every calibration row.

    With ``keys`` (the split's grouping keys): a hash of ``seed`` and the key, so a source photo,
    its reconstructions and its JPEG copy share a fold, and adding images never moves the others.
    Without (older files): a seeded permutation of the original rows, the JPEG copy following.
    """
    if cal.get("keys"):
        return np.array([int(hashlib.sha256(f"{seed}:{k}".encode()).hexdigest()[:8], 16) % folds
                         for k in cal["keys"]])
    n = len(cal["labels"])
    n_orig = int(np.sum(np.asarray(cal["variants"]) == "original"))
    base = np.random.default_rng(seed).permutation(n_orig) % folds
    return np.concatenate([base, base])[:n]


def fit_stacker(x: np.ndarray, y: np.ndarray, groups: Sequence[str], *, method: str = "logistic",
                l2: float = 1e-2) -> dict[str, Any]:
    """Standardise the columns, then combine them.

    ``method="logistic"``: group-balanced L2 logistic regression (penalty ``l2``).
    ``method="nonneg"``: the same with non-negative weights (Breiman 1996).
    ``method="mean"``: the mean of the standardised scores (no learnt weights), with a
    fitted intercept — the robust choice when the weights learnt on known generators do not
    carry over to new ones.
    """
    mu = x.mean(axis=0)
    sd = x.std(axis=0) + 1e-9
    z = (x - mu) / sd
    w = _balanced_weights(y, groups)
    if method == "mean":
        coef = np.full(x.shape[1], 1.0 / x.shape[1])
        beta = _fit_logistic((z @ coef)[:, None], y.astype(np.float64), w, l2=0.0)
        coef = coef * beta[0]
        return {"mu": mu.tolist(), "sd": sd.tolist(), "coef": coef.tolist(), "intercept": float(beta[1]),
                "method": "mean"}
    if method == "nonneg":
        # Breiman (1996, "Stacked regressions"): constrain the stacking weights to be non-negative, so no
        # expert becomes evidence *against* what it detects on the generators the stacker happened to
        # see. Active set: refit without the members whose weight came out negative until none does.
        active = np.ones(x.shape[1], bool)
        coef = np.zeros(x.shape[1])
        while True:
            beta = _fit_logistic(z[:, active], y.astype(np.float64), w, l2=l2)
            if np.all(beta[:-1] >= 0) or active.sum() == 1:
                coef[active] = np.maximum(beta[:-1], 0.0)
                break
            idx = np.flatnonzero(active)
            active[idx[beta[:-1] < 0]] = False
        return {"mu": mu.tolist(), "sd": sd.tolist(), "coef": coef.tolist(), "intercept": float(beta[-1]),
                "method": "nonneg", "l2": l2}
    if method != "logistic":
        raise ValueError(f"unknown stacking method {method!r}")
    beta = _fit_logistic(z, y.astype(np.float64), w, l2=l2)
    return {"mu": mu.tolist(), "sd": sd.tolist(), "coef": beta[:-1].tolist(), "intercept": float(beta[-1]),
            "method": "logistic", "l2": l2}


STACKING_CHOICES: tuple[tuple[str, float], ...] = (("logistic", 1e-2), ("logistic", 1.0), ("logistic", 10.0),
                                                    ("logistic", 100.0), ("nonneg", 1e-2), ("nonneg", 1.0),
                                                    ("nonneg", 10.0), ("mean", 0.0))


def leave_one_generator_out(cal: Mapping[str, Any], members: Sequence[str], *, method: str = "logistic",
                            l2: float = 1e-2) -> dict[str, Any]:
    """How a full-resolution stacker does on a generator it was not fitted on.

    For every full-resolution fake group of the calibration split: fit on the other groups (and all
    reals), score the held-out group against the reals.  Returns the mean and per-group AUCs, and
    ``mean_heldout``: the mean over the held-out-decoder groups (``"heldout:*"``, fakes from decoders
    no member was trained on), or None without them.  This is the calibration split's stand-in for
    "never-seen generators" (the test split keeps the real ones); only the held-out decoders are new
    to the members too, the other groups are new to the stacker alone.
    """
    y = np.asarray(cal["labels"], np.int64)
    g = np.asarray(cal["groups"])
    full = _regimes(cal) == "full"
    x = np.stack([np.asarray(cal["scores"][m], np.float64) for m in members], axis=1)
    per: dict[str, float] = {}
    for grp in sorted(set(g[full & (y == 1)].tolist())):
        hold = g == grp
        tr = full & ~hold
        st = fit_stacker(x[tr], y[tr], list(g[tr]), method=method, l2=l2)
        m = full & (hold | (y == 0))
        per[grp] = roc_auc(y[m], _apply(st, x[m]))
    held = [v for k, v in per.items() if k.startswith(HELDOUT_PREFIX)]
    return {"mean": float(np.mean(list(per.values()))), "mean_heldout": float(np.mean(held)) if held else None,
            "per_group": per}


def _apply(st: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    return ((x - np.asarray(st["mu"])) / np.asarray(st["sd"])) @ np.asarray(st["coef"]) + st["intercept"]


def _regimes(cal: Mapping[str, Any]) -> np.ndarray:
    return np.array([regime_of(s) for s in cal["min_side"]])


def stacker_scores(cal: Mapping[str, Any], members: Sequence[str], stacking: Mapping[str, Any]) -> np.ndarray:
    """Per-regime stackers applied to the members' calibration scores (the ensemble's own raw scores)."""
    x = np.stack([np.asarray(cal["scores"][m], np.float64) for m in members], axis=1)
    reg = _regimes(cal)
    z = np.empty(len(x))
    for r, st in stacking.items():
        z[reg == r] = _apply(st, x[reg == r])
    return z


def fit_ensemble_card(cal: Mapping[str, Any], members: Sequence[str], cards: Mapping[str, DetectorCard]) -> DetectorCard:
    """The ``ensemble`` card: one stacker per regime over ``members``, its Platt parameters, members' sha256."""
    y = np.asarray(cal["labels"], np.int64)
    g = np.asarray(cal["groups"])
    x = np.stack([np.asarray(cal["scores"][m], np.float64) for m in members], axis=1)
    reg = _regimes(cal)
    # full resolution: the combination that does best on generators left out of its fit
    logo = {f"{m}:{l2:g}": leave_one_generator_out(cal, members, method=m, l2=l2) for m, l2 in STACKING_CHOICES}
    # the choice: AUC on generators new to the members as well as to the stacker when the calibration
    # split has such fakes (held-out decoders), else on generators new to the stacker
    crit = "mean_heldout" if all(v["mean_heldout"] is not None for v in logo.values()) else "mean"
    best = max(logo, key=lambda k: logo[k][crit])
    method, l2 = best.split(":")[0], float(best.split(":")[1])
    stacking = {"thumbnail": fit_stacker(x[reg == "thumbnail"], y[reg == "thumbnail"], list(g[reg == "thumbnail"])),
                "full": fit_stacker(x[reg == "full"], y[reg == "full"], list(g[reg == "full"]), method=method,
                                    l2=l2)}
    z = stacker_scores(cal, members, stacking)
    cv = cross_validate_sets(cal, [tuple(members)])[0]
    params = sum(cards[m].parameters for m in members)
    return DetectorCard(
        name="ensemble", family="ensemble",
        summary="Stacked low-level experts (" + ", ".join(members) + ")",
        paper="Li et al., Towards Generalizable AI-Generated Image Detection via Adaptive Low-level Experts "
              "Injection (ALEI), 2025; Wolpert, Stacked Generalization, 1992",
        weights=None, sha256=None,
        input_policy="each member's own policy (see their cards); the stacker by image size: thumbnails "
                     f"(smaller side <= {THUMBNAIL_MAX_SIDE} px) and full-resolution images have separate weights",
        preprocessing="member raw scores, standardised with the calibration split's mean and deviation; "
                      "thumbnails: logistic stacking (L2 1e-2, each group weighted equally inside its class); "
                      "full resolution: the combination (logistic with L2 in {0.01, 1, 10, 100}, non-negative "
                      "logistic with L2 in {0.01, 1, 10}, or the plain mean "
                      "of the standardised scores) with the best leave-one-generator-out AUC on the calibration "
                      + ("split's held-out-decoder groups (fakes from decoders no member was trained on)"
                         if crit == "mean_heldout" else "split") + f" — here {best}",
        training_data="no images of its own: fitted on the members' raw scores on the calibration split",
        split=CALIBRATION_SPLIT_DOC, parameters=params + (len(members) + 1) * 2,
        metrics={"calibration_cv5_auc": cv,
                 "leave_one_generator_out_auc": {k: v["mean"] for k, v in logo.items()},
                 "leave_one_heldout_decoder_out_auc": {k: v["mean_heldout"] for k, v in logo.items()},
                 "stacking_chosen_by": crit,
                 "full_resolution_stacking": best},
        calibration=fit_platt(z, y, groups=list(g)),
        extra={"members": list(members), "stacking": stacking,
               "member_sha256": {m: cards[m].sha256 for m in members}},
    )


def cross_validate_sets(cal: Mapping[str, Any], sets: Sequence[Sequence[str]], *, folds: int = 5,
                        seed: int = 0, repeats: int = 5) -> list[dict[str, Any]]:
    """Cross-validated AUCs of stacking each detector set, inside the calibration split.

    ``repeats`` × ``folds``-fold CV (:func:`cv_folds`: a source image, its JPEG q90 copy and its
    reconstructions stay in one fold), metrics averaged over the repeats (one split's noise can
    flip a choice between close sets). Returns one dict per set: pooled AUC, thumbnail and
    full-resolution AUCs, and the mean over fake groups of the per-group AUC (each fake group
    against all reals of its regime).
    """
    y = np.asarray(cal["labels"], np.int64)
    g = np.asarray(cal["groups"])
    reg = _regimes(cal)
    fold_sets = [cv_folds(cal, folds, seed + k) for k in range(repeats)]
    out = []
    for members in sets:
        x = np.stack([np.asarray(cal["scores"][m], np.float64) for m in members], axis=1)
        reps: list[dict[str, float]] = []
        for fold in fold_sets:
            z = np.empty(len(y))
            for f in range(folds):
                te = fold == f
                for r in ("thumbnail", "full"):
                    tr_m, te_m = (~te) & (reg == r), te & (reg == r)
                    if te_m.any():
                        z[te_m] = _apply(fit_stacker(x[tr_m], y[tr_m], list(g[tr_m])), x[te_m])
            rep = {"auc": roc_auc(y, z)}
            for r in ("thumbnail", "full"):
                m = reg == r
                rep[f"auc_{r}"] = roc_auc(y[m], z[m])
            per, per_full = [], []
            for grp in sorted(set(g[y == 1].tolist())):
                r = reg[(g == grp) & (y == 1)][0]
                m = ((g == grp) & (y == 1)) | ((y == 0) & (reg == r))
                per.append(roc_auc(y[m], z[m]))
                if r == "full":
                    per_full.append(per[-1])
            rep["mean_group_auc"] = float(np.mean(per))
            rep["mean_group_auc_full"] = float(np.mean(per_full)) if per_full else float("nan")
            # spread of the per-group AUCs: the groups (generators) are the sampling unit of that mean
            rep["group_auc_sd_full"] = float(np.std(per_full, ddof=1)) if len(per_full) > 1 else float("nan")
            reps.append(rep)
        row: dict[str, Any] = {"members": list(members)}
        row.update({k: float(np.mean([rp[k] for rp in reps])) for k in reps[0]})
        row["n_groups_full"] = len(per_full)
        out.append(row)
    return out


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC (Hanley & McNeil 1982).

    >>> round(hanley_mcneil_se(0.9, 100, 100), 4)
    0.0226
    """
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return float(np.sqrt(max(var, 0.0)))


def full_score_se(row: Mapping[str, Any], n_pos: int, n_neg: int) -> float:
    """Standard error of the full-resolution selection score ``(auc_full + mean_group_auc_full) / 2``.

    The pooled AUC's by Hanley-McNeil, the mean per-group AUC's as the spread of the group AUCs over
    the square root of the number of groups (generators are what varies from one deployment to the
    next); combined as independent.
    """
    se_auc = hanley_mcneil_se(row["auc_full"], n_pos, n_neg)
    k = int(row.get("n_groups_full", 0))
    se_grp = row["group_auc_sd_full"] / np.sqrt(k) if k > 1 and np.isfinite(row["group_auc_sd_full"]) else 0.0
    return float(0.5 * np.sqrt(se_auc**2 + se_grp**2))


def candidate_sets(names: Sequence[str], *, max_size: int = 4) -> list[tuple[str, ...]]:
    """Every non-empty subset of ``names`` up to ``max_size`` members."""
    return [c for k in range(1, max_size + 1) for c in itertools.combinations(sorted(names), k)]


def write_calibration(cal: Mapping[str, Any], *, default: Sequence[str] | Mapping[str, Sequence[str]],
                      selection: Any = None,
                      path: str | Path = WEIGHTS_DIR / "calibration.json") -> None:
    """Write the scores, the default set and how it was chosen."""
    d = dict(cal)
    d["default"] = {k: list(v) for k, v in default.items()} if isinstance(default, Mapping) else list(default)
    if selection is not None:
        d["default_selection"] = selection
    Path(path).write_text(json.dumps(d) + "\n")


def update_platt(cal: Mapping[str, Any], name: str, card_path: str | Path) -> DetectorCard:
    """Refit a shipped card's Platt parameters on the calibration scores and save it."""
    card = DetectorCard.load(card_path)
    weights = card.weights
    card = replace(card, calibration=fit_platt(cal["scores"][name], cal["labels"], groups=cal["groups"]),
                   weights=Path(weights).name if weights else None)
    card.save(card_path)
    return card
