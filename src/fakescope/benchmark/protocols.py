"""The benchmark protocols: robustness, cross-generator, chronological, preprocessing, format bias, calibration.

Each protocol is a function ``ctx -> ProtocolResult`` registered in
:data:`fakescope.benchmark.runner.PROTOCOLS`; its config keys are listed in its docstring.
The detectors are always the fixed, shipped ones: the cross-generator and chronological
protocols refit only a small logistic *stacker* (or, for one detector, a logistic
calibration) on detector scores, never the detectors themselves.

"Models" in the results are the detectors (each with its own Platt-calibrated probability
from its card) and ``fused`` (the shipped :class:`fakescope.fusion.Fuser`'s pixel probability),
when the fusion covers the chosen detectors.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import UsageError
from .metrics import (
    bootstrap_ci,
    ece,
    fake_accuracy,
    mean_accuracy,
    real_accuracy,
    reliability_curve,
    roc_auc,
    roc_curve,
    summarize,
    threshold_at_fpr,
)
from .runner import FUSED, PROTOCOLS, Condition, Context, ProtocolResult, ScoreSet, Table, clean_condition, \
    fused_probability_fn, op_thresholds, parse_condition_spec

__all__ = ["robustness", "cross_generator", "chronological", "preprocessing", "format_bias", "calibration",
           "fit_stacker", "DEFAULT_ROBUSTNESS", "wilson_interval"]

#: The perturbations the robustness protocol runs when its config names none.
DEFAULT_ROBUSTNESS: tuple[str, ...] = (
    "jpeg", "webp", "downscale-bilinear", "downscale-area", "upscale-bicubic", "gaussian-blur",
    "gaussian-noise", "sharpen", "random-crop", "rotate", "screenshot", "instagram",
)

_SHOW = ("auc", "ap", "acc_real", "acc_fake", "acc", "tpr@1%fpr", "tpr@5%fpr", "ece")


# --------------------------------------------------------------------------------------
# helpers


def _summ(ctx: Context, y: np.ndarray, p: np.ndarray, **kw: Any) -> dict[str, Any]:
    return summarize(y, p, threshold=ctx.threshold, fpr_targets=ctx.fpr_targets, bins=ctx.bins, **kw)


def _ci(ctx: Context, fn: Any, y: np.ndarray, p: np.ndarray, *keys: str) -> dict[str, float] | None:
    if ctx.bootstrap <= 0 or not (0 < int(y.sum()) < y.size):
        return None
    return bootstrap_ci(fn, y, p, rng=ctx.rng(*keys), n=ctx.bootstrap).to_dict()


def _r(x: Any, d: int = 4) -> Any:
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else round(float(x), d)
    return x


def _pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x + 0.0:+.1%}"


def _roc_points(y: np.ndarray, p: np.ndarray, max_points: int = 200) -> dict[str, list[float]]:
    f, t, _ = roc_curve(y, p)
    if f.size > max_points:
        idx = np.unique(np.r_[np.linspace(0, f.size - 1, max_points).astype(int), f.size - 1])
        f, t = f[idx], t[idx]
    return {"fpr": [round(float(v), 5) for v in f], "tpr": [round(float(v), 5) for v in t]}


def _primary(models: Sequence[str]) -> str:
    return FUSED if FUSED in models else models[0]


def _clean_table(ctx: Context, s: ScoreSet, cond: str, key: str, title: str) -> tuple[Table, dict[str, Any]]:
    rows, res = [], {}
    for m in s.models:
        p = s.prob(cond, m)
        summ = _summ(ctx, s.y, p)
        summ["auc_ci"] = _ci(ctx, roc_auc, s.y, p, key, m, "auc")
        summ["acc_ci"] = _ci(ctx, mean_accuracy, s.y, p, key, m, "acc")
        summ["n_unscored"] = s.unscored(cond, m)
        res[m] = summ
        ci = summ["auc_ci"]
        auc_txt = (f"{summ['auc']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]" if ci and summ["auc"] == summ["auc"]
                   else _r(summ["auc"]))
        rows.append([m, summ["n_real"], summ["n_fake"], auc_txt] + [_r(summ[k]) for k in _SHOW[1:]]
                    + [summ["n_unscored"]])
    cols = ["model", "n real", "n fake", "AUC [95% CI]", "AP", "acc real", "acc fake", "acc", "TPR@1%FPR",
            "TPR@5%FPR", "ECE", "unscored"]
    return Table(key, title, cols, rows, note=f"accuracies at p_fake ≥ {ctx.threshold}; 95% CIs: stratified "
                                               f"bootstrap, {ctx.bootstrap} resamples"), res


def fit_stacker(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-3, iters: int = 100) -> dict[str, Any]:
    """Class-balanced L2 logistic regression on standardised detector scores (Newton's method).

    Each class carries half the total weight, so the fitted probability is calibrated for
    balanced classes, like the shipped fusion.  Returns ``{"mu", "sd", "w", "b"}``.

    Examples
    --------
    >>> g = np.random.default_rng(0)
    >>> x = np.r_[g.normal(-1, 1, (300, 1)), g.normal(1, 1, (100, 1))]
    >>> y = np.r_[np.zeros(300), np.ones(100)]
    >>> m = fit_stacker(x, y)
    >>> p = predict_stacker(m, np.array([[0.0]]))[0]
    >>> bool(abs(p - 0.5) < 0.1)
    True
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.ndim != 2 or x.shape[0] != y.size or not (0 < y.sum() < y.size):
        raise UsageError("fit_stacker needs an (n, d) matrix and labels with both classes")
    from ..fitting import fit_logistic  # the one logistic fitter

    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    n1 = y.sum()
    wt = np.where(y == 1, 0.5 / n1, 0.5 / (y.size - n1))
    w, b = fit_logistic((x - mu) / sd, y, l2=float(l2) / y.size, iters=iters, sample_weight=wt)
    theta = np.r_[w, b]
    return {"mu": mu, "sd": sd, "w": theta[:-1], "b": float(theta[-1])}


def predict_stacker(model: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    """Probabilities of a :func:`fit_stacker` model (rows with a non-finite score get 0.5)."""
    x = np.asarray(x, np.float64)
    ok = np.isfinite(x).all(axis=1)
    out = np.full(x.shape[0], 0.5)
    z = ((x[ok] - model["mu"]) / model["sd"]) @ model["w"] + model["b"]
    out[ok] = 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))
    return out


def wilson_interval(k: int, n: int, *, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``k/n`` (95% by default).

    >>> lo, hi = wilson_interval(0, 100)
    >>> lo, round(hi, 4)
    (0.0, 0.037)
    """
    if n <= 0:
        return (math.nan, math.nan)
    ph = k / n
    den = 1 + z * z / n
    c = (ph + z * z / (2 * n)) / den
    h = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
    return (max(0.0, c - h), min(1.0, c + h))


def _rate(p: np.ndarray, thr: np.ndarray, mask: np.ndarray) -> float:
    """Share of the images in ``mask`` whose ``p`` reaches their own threshold."""
    return float(np.mean(p[mask] >= thr[mask])) if mask.any() else math.nan


def _folds(s: ScoreSet) -> np.ndarray:
    """Two folds by image hash (deterministic): reals are cross-fitted over them."""
    return np.array([int(h[:8], 16) % 2 for h in s.sha256], np.int64)


def _domains(ctx: Context, s: ScoreSet) -> np.ndarray:
    mapping = dict(ctx.config.get("domains") or {})
    return np.array([str(mapping.get(str(it.source), it.source)) for it in s.items], dtype=object)


def _condition_from_config(ctx: Context) -> Condition:
    entry = ctx.config.get("condition")
    if entry is None:
        return clean_condition()
    conds = parse_condition_spec(entry, [3])
    if len(conds) != 1:
        raise UsageError("'condition' must name one preset, chain, or perturbation at one severity")
    return conds[0]


def _crossfit(x: np.ndarray, y: np.ndarray, folds: np.ndarray, train_fake: np.ndarray, test_fake: np.ndarray,
              test_real: np.ndarray, *, l2: float, target_fpr: float, fake_folds: bool = False) -> dict[str, Any]:
    """Fit on (reals of the other fold + ``train_fake``), predict (reals of the fold + ``test_fake``).

    Returns out-of-fold probabilities for ``test_real`` reals and the mean over folds for
    ``test_fake`` (or, with ``fake_folds``, the fakes' own out-of-fold predictions), and the
    decisions at each fold's threshold chosen for ``target_fpr`` on its training reals.
    """
    finite = np.isfinite(x).all(axis=1)
    n = y.size
    p = np.full(n, np.nan)
    fake_sum = np.zeros(n)
    fake_cnt = np.zeros(n)
    flagged = np.zeros(n)
    for k in (0, 1):
        tr_real = (y == 0) & (folds != k) & finite
        tr_fake = train_fake & finite & ((folds != k) if fake_folds else True)
        tr = tr_real | tr_fake
        if tr_real.sum() < 2 or tr_fake.sum() < 1:
            continue
        model = fit_stacker(x[tr], y[tr], l2=l2)
        thr = threshold_at_fpr(np.zeros(int(tr_real.sum()), np.int64), predict_stacker(model, x[tr_real]),
                               fpr=target_fpr)
        te_real = test_real & (folds == k)
        te_fake = test_fake & ((folds == k) if fake_folds else True)
        pr = predict_stacker(model, x[te_real])
        p[te_real] = pr
        flagged[te_real] = pr >= thr
        pf = predict_stacker(model, x[te_fake])
        fake_sum[te_fake] += pf
        fake_cnt[te_fake] += 1
        flagged[te_fake] += pf >= thr
    has = fake_cnt > 0
    p[has] = fake_sum[has] / fake_cnt[has]
    flagged[has] = flagged[has] / fake_cnt[has]
    sel = (test_real | test_fake) & np.isfinite(p)
    yy, pp = y[sel], p[sel]
    return {"auc": roc_auc(yy, pp), "tpr@target": float(flagged[sel & (y == 1)].mean()) if (sel & (y == 1)).any()
            else math.nan, "fpr@target": float(flagged[sel & (y == 0)].mean()) if (sel & (y == 0)).any() else math.nan,
            "acc_fake": fake_accuracy(yy, pp), "acc_real": real_accuracy(yy, pp), "ece": ece(yy, pp),
            "n_real": int((yy == 0).sum()), "n_fake": int((yy == 1).sum())}


# --------------------------------------------------------------------------------------
# robustness


@PROTOCOLS.register("robustness")
def robustness(ctx: Context) -> ProtocolResult:
    """Each perturbation at several severities, per detector (AIGIBench-style degradation table).

    Config keys: ``perturbations`` (list of names or entries, see
    :func:`~fakescope.benchmark.runner.parse_condition_spec`; default :data:`DEFAULT_ROBUSTNESS`),
    ``severities`` (default ``[1, 3, 5]``), ``domains`` (source → domain: adds an AUC table per
    domain for the primary model, e.g. 32×32 CIFAKE vs full-resolution images).

    Per model and condition: every :func:`~fakescope.benchmark.metrics.summarize` metric,
    bootstrap CIs of AUC, the absolute and relative drop from the clean images, the mean
    ``|Δp_fake|`` and the share of decisions at 0.5 that flip.
    """
    sev = [int(v) for v in ctx.config.get("severities", [1, 3, 5])]
    entries = ctx.config.get("perturbations") or list(DEFAULT_ROBUSTNESS)
    conds = [clean_condition()]
    for e in entries:
        conds.extend(parse_condition_spec(e, sev))
    s = ctx.score(conds, description="robustness")
    models = s.models
    clean_tab, clean_res = _clean_table(ctx, s, "clean", "clean", "Clean images")
    per: dict[str, dict[str, Any]] = {m: {"clean": clean_res[m]} for m in models}
    labels: list[str] = []
    by_label: dict[str, list[Condition]] = {}
    for c in conds[1:]:
        if c.label not in by_label:
            labels.append(c.label)
        by_label.setdefault(c.label, []).append(c)
    for m in models:
        p0 = s.prob("clean", m)
        c0 = per[m]["clean"]
        for c in conds[1:]:
            p = s.prob(c.id, m)
            summ = _summ(ctx, s.y, p)
            summ["auc_ci"] = _ci(ctx, roc_auc, s.y, p, c.id, m, "auc")
            summ["n_unscored"] = s.unscored(c.id, m)
            summ["mean_abs_dp"] = float(np.mean(np.abs(p - p0)))
            summ["flip@0.5"] = float(np.mean((p >= ctx.threshold) != (p0 >= ctx.threshold)))
            for k in ("auc", "acc", "ap", "tpr@5%fpr"):
                a, b = c0.get(k, math.nan), summ.get(k, math.nan)
                summ[f"drop_{k}"] = a - b
                summ[f"rel_drop_{k}"] = (a - b) / a if a and math.isfinite(a) and math.isfinite(b) else math.nan
            per[m][c.id] = summ
    sev_cols = sorted({c.severity for c in conds[1:] if c.severity is not None})
    has_fixed = any(c.severity is None for c in conds[1:])
    cols = ["perturbation"] + [f"s{v}" for v in sev_cols] + (["fixed"] if has_fixed else [])

    def cell(m: str, c: Condition, key: str) -> str:
        r = per[m][c.id]
        v = r[key]
        if v is None or not math.isfinite(v):
            return "–"
        return f"{v:.3f} ({_pct(-r.get('rel_drop_' + key, math.nan))})"

    tables = [clean_tab]
    for m in models:
        rows = []
        for lab in labels:
            row: list[Any] = [lab]
            cs = {c.severity: c for c in by_label[lab]}
            row += [cell(m, cs[v], "auc") if v in cs else "" for v in sev_cols]
            if has_fixed:
                row.append(cell(m, cs[None], "auc") if None in cs else "")
            rows.append(row)
        tables.append(Table(f"auc_{m}", f"AUC under perturbation — {m} (clean {per[m]['clean']['auc']:.3f})",
                            cols, rows, note="cell: AUC (relative change from clean)"))
    prim = _primary(models)
    for key, title in (("acc", f"mean accuracy at p_fake ≥ {ctx.threshold}"), ("tpr@5%fpr", "TPR at 5% FPR")):
        rows = []
        for lab in labels:
            cs = {c.severity: c for c in by_label[lab]}
            row = [lab] + [cell(prim, cs[v], key) if v in cs else "" for v in sev_cols]
            if has_fixed:
                row.append(cell(prim, cs[None], key) if None in cs else "")
            rows.append(row)
        tables.append(Table(f"{key}_{prim}", f"{title} — {prim} (clean {per[prim]['clean'][key]:.3f})", cols, rows,
                            note="cell: value (relative change from clean)"))
    # per domain (e.g. 32x32 CIFAKE vs full-resolution images), when the config maps sources to domains
    per_domain: dict[str, Any] = {}
    if ctx.config.get("domains"):
        dom = _domains(ctx, s)
        for dname in sorted(set(dom)):
            mask = dom == dname
            yd = s.y[mask]
            if not (0 < int(yd.sum()) < yd.size):
                continue
            per_domain[dname] = {"n_real": int((yd == 0).sum()), "n_fake": int(yd.sum()), "models": {}}
            for m in models:
                per_domain[dname]["models"][m] = {
                    c.id: {"auc": _r(roc_auc(yd, s.prob(c.id, m)[mask])),
                           "acc": _r(mean_accuracy(yd, s.prob(c.id, m)[mask], threshold=ctx.threshold)),
                           "n_unscored": int((~np.isfinite(s.raw_matrix(c.id)[mask]).all(axis=1)).sum())}
                    for c in conds}
            dres = per_domain[dname]["models"][prim]
            c_auc = dres["clean"]["auc"]
            rows = []
            for lab in labels:
                cs = {c.severity: c for c in by_label[lab]}

                def dcell(c: Condition) -> str:
                    v = dres[c.id]["auc"]
                    if v is None:
                        return "–"
                    rel = (v - c_auc) / c_auc if c_auc else math.nan
                    return f"{v:.3f} ({_pct(rel)})" + (" *" if dres[c.id]["n_unscored"] else "")
                row = [lab] + [dcell(cs[v]) if v in cs else "" for v in sev_cols]
                if has_fixed:
                    row.append(dcell(cs[None]) if None in cs else "")
                rows.append(row)
            tables.append(Table(f"auc_{prim}_{dname}", f"AUC under perturbation — {prim}, {dname} images only "
                                f"({per_domain[dname]['n_real']} real, {per_domain[dname]['n_fake']} fake; "
                                f"clean {c_auc:.3f})", cols, rows,
                                note="cell: AUC (relative change from clean); * some images too small to score "
                                     "after the perturbation (counted as p_fake 0.5)"))
    # summary ranking: which perturbations hurt most
    rows = []
    for lab in labels:
        cs = by_label[lab]
        worst = {m: min(per[m][c.id]["auc"] for c in cs) for m in models}
        mean_rel = float(np.nanmean([per[prim][c.id]["rel_drop_auc"] for c in cs]))
        flips = float(np.mean([per[prim][c.id]["flip@0.5"] for c in cs]))
        dp = float(np.mean([per[prim][c.id]["mean_abs_dp"] for c in cs]))
        rows.append([lab] + [_r(worst[m]) for m in models] + [_pct(-mean_rel), _r(dp), _r(flips)])
    rows.sort(key=lambda r: r[1 + models.index(prim)] if r[1 + models.index(prim)] is not None else 9)
    tables.append(Table("summary", "Which perturbations hurt most (sorted by the worst AUC of "
                        f"{prim})", ["perturbation"] + [f"worst AUC {m}" for m in models]
                        + [f"mean AUC change {prim}", f"mean |Δp| {prim}", f"flips@0.5 {prim}"], rows))
    figures: list[dict[str, Any]] = [{
        "kind": "roc", "title": "ROC on clean images",
        "curves": [{"label": f"{m} (AUC {per[m]['clean']['auc']:.3f})", **_roc_points(s.y, s.prob('clean', m))}
                   for m in models]}]
    panels = []
    for lab in labels:
        cs = sorted([c for c in by_label[lab] if c.severity is not None], key=lambda c: c.severity)
        if not cs:
            continue
        panels.append({"title": lab, "x": [0] + [c.severity for c in cs],
                       "series": [{"label": m, "y": [_r(per[m]["clean"]["auc"])] + [_r(per[m][c.id]["auc"]) for c in cs]}
                                  for m in models]})
    if panels:
        figures.append({"kind": "panels", "title": "AUC against severity (0 = clean)", "xlabel": "severity",
                        "ylabel": "AUC", "panels": panels, "ylim": [0.4, 1.0]})
    results = {"models": list(models), "per_model": {m: {cid: _round_dict(v) for cid, v in d.items()}
                                                     for m, d in per.items()}, "per_domain": per_domain}
    notes = [f"{len(s.items)} images ({int((s.y == 0).sum())} real, {int(s.y.sum())} fake); "
             f"{len(conds) - 1} perturbed conditions, parameters drawn per image (seed {ctx.seed})."]
    small = {c.id: per[prim][c.id]["n_unscored"] for c in conds if per[prim][c.id].get("n_unscored")}
    if small:
        notes.append("Images a detector cannot score after the perturbation (smaller than its minimum side) "
                     f"count as p_fake 0.5: {small}")
    return ProtocolResult(results, tables, figures, notes)


def _round_dict(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (_r(v) if isinstance(v, float) else v) for k, v in d.items()}


# --------------------------------------------------------------------------------------
# cross-generator


def _groups(ctx: Context, s: ScoreSet) -> tuple[np.ndarray, list[str]]:
    by = str(ctx.config.get("group_by", "generator"))
    if by not in ("generator", "family"):
        raise UsageError(f"group_by must be 'generator' or 'family', got {by!r}")
    min_fakes = int(ctx.config.get("min_fakes", 5))
    raw = [((getattr(it, by) or "unknown") if it.label == 1 else "") for it in s.items]
    counts = Counter(g for g in raw if g)
    merged = [g if (not g or counts[g] >= min_fakes) else "other" for g in raw]
    names = sorted({g for g in merged if g}, key=lambda g: (g == "other", g))
    return np.array(merged, dtype=object), names


@PROTOCOLS.register("cross-generator")
def cross_generator(ctx: Context) -> ProtocolResult:
    """Leave one generator out: fit a stacker on the other generators' scores, test on the held-out one.

    Config keys: ``group_by`` (``generator`` or ``family``), ``min_fakes`` (smaller groups are
    pooled as ``other``; default 5), ``target_fpr`` (default 0.05), ``l2`` (default 1e-3),
    ``domains`` (source → domain: a group is tested against the reals of its fakes' domains;
    default each source is its own domain), ``condition`` (a preset/perturbation applied to
    every image; default none).

    Reals are split in two folds by image hash and cross-fitted (every real is predicted by a
    stacker that never saw it).  Reported per held-out group: the stacker's AUC and its TPR
    at the threshold that gives ``target_fpr`` on its training reals; the same with the
    group's own fakes in training (cross-fitted: the "seen" reference); each detector's AUC;
    the shipped fusion's AUC and TPR at its own ``target_fpr`` threshold.  Also a
    train-on-one / test-on-another matrix.
    """
    from ..fusion import Fuser

    cond = _condition_from_config(ctx)
    s = ctx.score([cond], description="cross-generator")
    target = float(ctx.config.get("target_fpr", 0.05))
    l2 = float(ctx.config.get("l2", 1e-3))
    x = s.raw_matrix(cond.id)
    y = s.y
    folds = _folds(s)
    groups, names = _groups(ctx, s)
    dom = _domains(ctx, s)
    if len(names) < 2:
        raise UsageError(f"cross-generator needs at least two generator groups with ≥ {ctx.config.get('min_fakes', 5)} "
                         f"fakes, found {names}")
    shipped_thr = None
    if ctx.fuser is not None:
        # the shipped thresholds for this FPR, per image size regime (thumbnails and full resolution)
        shipped_thr = op_thresholds(Fuser(ctx.detectors, fpr=target), s.side_of(cond.id))[0]
        p_ship = s.prob(cond.id, FUSED)
    rows, heat, res = [], [], {}
    has_ship = shipped_thr is not None
    heat_cols = list(s.detectors) + ["stacker (held out)", "stacker (seen)"] + (["shipped fusion"] if has_ship else [])
    for g in names:
        test_fake = (groups == g)
        g_domains = set(dom[test_fake])
        test_real = (y == 0) & np.isin(dom, list(g_domains))
        train_fake = (y == 1) & ~test_fake
        loo = _crossfit(x, y, folds, train_fake, test_fake, test_real, l2=l2, target_fpr=target)
        seen = _crossfit(x, y, folds, (y == 1), test_fake, test_real, l2=l2, target_fpr=target, fake_folds=True)
        sel = test_fake | test_real
        det_auc = {d: roc_auc(y[sel], np.nan_to_num(x[sel, j], nan=np.nanmedian(x[:, j])))
                   for j, d in enumerate(s.detectors)}
        det_loo = {}
        for j, d in enumerate(s.detectors):
            det_loo[d] = _crossfit(x[:, [j]], y, folds, train_fake, test_fake, test_real, l2=l2, target_fpr=target)
        entry: dict[str, Any] = {"n_fake": int(test_fake.sum()), "n_real": int(test_real.sum()),
                                 "domains": sorted(g_domains), "stacker_held_out": _round_dict(loo),
                                 "stacker_seen": _round_dict(seen),
                                 "detector_auc": {d: _r(v) for d, v in det_auc.items()},
                                 "detector_calibrated_held_out": {d: _round_dict(v) for d, v in det_loo.items()}}
        hrow = [det_auc[d] for d in s.detectors] + [loo["auc"], seen["auc"]]
        if shipped_thr is not None:
            ys, ps, ts = y[sel], p_ship[sel], shipped_thr[sel]
            entry["shipped_fusion"] = {"auc": _r(roc_auc(ys, ps)), "tpr@target": _r(_rate(ps, ts, ys == 1)),
                                       "fpr@target": _r(_rate(ps, ts, ys == 0))}
            hrow.append(entry["shipped_fusion"]["auc"])
        res[g] = entry
        heat.append([_r(v) for v in hrow])
        gen_list = ""
        if g == "other":
            gen_list = ", ".join(sorted({str(it.generator) for it, m in zip(s.items, test_fake) if m}))
        rows.append([g + (f" ({gen_list})" if gen_list else ""), entry["n_fake"], entry["n_real"]]
                    + [_r(det_auc[d]) for d in s.detectors]
                    + [_r(loo["auc"]), _r(loo["tpr@target"]), _r(seen["auc"]), _r(seen["tpr@target"])]
                    + ([entry["shipped_fusion"]["auc"], entry["shipped_fusion"]["tpr@target"]] if has_ship else []))
    cols = (["held-out group", "n fake", "n real"] + [f"AUC {d}" for d in s.detectors]
            + ["AUC stacker held-out", f"TPR@{target:.0%} held-out", "AUC stacker seen", f"TPR@{target:.0%} seen"]
            + (["AUC shipped", f"TPR@{target:.0%} shipped"] if has_ship else []))
    # train on one group, test on each
    matrix_tpr, matrix_auc = [], []
    for gi in names:
        r_tpr, r_auc = [], []
        for gj in names:
            test_fake = groups == gj
            test_real = (y == 0) & np.isin(dom, list(set(dom[test_fake])))
            out = _crossfit(x, y, folds, groups == gi, test_fake, test_real, l2=l2, target_fpr=target,
                            fake_folds=(gi == gj))
            r_tpr.append(_r(out["tpr@target"]))
            r_auc.append(_r(out["auc"]))
        matrix_tpr.append(r_tpr)
        matrix_auc.append(r_auc)
    mrows = [[gi] + r for gi, r in zip(names, matrix_tpr)]
    tables = [
        Table("leave_one_out", f"Leave one generator out (stacker on {', '.join(s.detectors)}; detectors fixed)",
              cols, rows, note=f"TPR at the threshold giving {target:.0%} FPR on the stacker's training reals; "
                                "'seen' includes the group's own fakes (cross-fitted); detector AUCs need no fitting"),
        Table("train_on_one", f"Train the stacker on one group (rows), test on another (columns): TPR@{target:.0%}FPR",
              ["trained on \\ tested on"] + names, mrows),
    ]
    figures = [
        {"kind": "heatmap", "title": "AUC per held-out group", "rows": names, "cols": heat_cols, "values": heat,
         "vmin": 0.5, "vmax": 1.0},
        {"kind": "heatmap", "title": f"Train on one group, test on another (TPR@{target:.0%}FPR)", "rows": names,
         "cols": names, "values": matrix_tpr, "vmin": 0.0, "vmax": 1.0, "xlabel": "tested on",
         "ylabel": "trained on"},
    ]
    notes = [f"The detectors ({', '.join(s.detectors)}) are fixed (the shipped weights); only a logistic stacker "
             "on their raw scores (class-balanced, L2) is refitted. Held-out AUC of a single detector does not "
             "depend on fitting.",
             f"Groups with fewer than {ctx.config.get('min_fakes', 5)} fakes are pooled as 'other'."]
    if ctx.fuser is not None:
        notes.append(f"The shipped fusion was fitted on the calibration split ({ctx.fuser.calibration_split[:80]}…); "
                     "if the data include that split its numbers there are in-sample.")
    results = {"groups": names, "per_group": res, "train_on_one": {"rows": names, "cols": names,
                                                                    "tpr@target": matrix_tpr, "auc": matrix_auc},
               "target_fpr": target, "condition": cond.to_dict()}
    return ProtocolResult(results, tables, figures, notes)


# --------------------------------------------------------------------------------------
# chronological


def _period(date: str | None, granularity: str) -> str | None:
    if not date:
        return None
    m = re.match(r"^(\d{4})(?:-(\d{2}))?", str(date))
    if not m:
        return None
    if granularity == "year" or not m.group(2):
        return m.group(1)
    return f"{m.group(1)}-{m.group(2)}"


@PROTOCOLS.register("chronological")
def chronological(ctx: Context) -> ProtocolResult:
    """Generators ordered by release date: fit the stacker on the past, test on the next period.

    Config keys: ``dates`` (generator → ``"YYYY-MM"``; an item's own ``date`` wins), ``granularity``
    (``year`` or ``month``; default ``year``), ``window`` (past periods used for fitting; default
    all), ``min_past_fakes`` (default 5), ``target_fpr`` (0.05), ``l2``, ``domains``, ``condition``.
    """
    cond = _condition_from_config(ctx)
    s = ctx.score([cond], description="chronological")
    target = float(ctx.config.get("target_fpr", 0.05))
    l2 = float(ctx.config.get("l2", 1e-3))
    gran = str(ctx.config.get("granularity", "year"))
    if gran not in ("year", "month"):
        raise UsageError(f"granularity must be 'year' or 'month', got {gran!r}")
    window = ctx.config.get("window")
    min_past = int(ctx.config.get("min_past_fakes", 5))
    dates = {str(k): str(v) for k, v in (ctx.config.get("dates") or {}).items()}
    x, y = s.raw_matrix(cond.id), s.y
    folds, dom = _folds(s), _domains(ctx, s)
    period = np.array([(_period(it.date or dates.get(str(it.generator)), gran) if it.label == 1 else None)
                       for it in s.items], dtype=object)
    undated = sorted({str(it.generator) for it, p in zip(s.items, period) if it.label == 1 and p is None})
    steps = sorted({p for p in period if p is not None})
    from ..fusion import Fuser

    shipped_thr = (op_thresholds(Fuser(ctx.detectors, fpr=target), s.side_of(cond.id))[0]
                   if ctx.fuser is not None else None)
    has_ship = shipped_thr is not None
    rows, res, curve = [], {}, []
    for i, t in enumerate(steps):
        past_steps = steps[:i] if window is None else steps[max(0, i - int(window)):i]
        train_fake = np.isin(period, past_steps) & (y == 1)
        test_fake = period == t
        gens = Counter(str(it.generator) for it, m in zip(s.items, test_fake) if m)
        test_real = (y == 0) & np.isin(dom, list(set(dom[test_fake])))
        entry: dict[str, Any] = {"generators": dict(gens), "n_test_fake": int(test_fake.sum()),
                                 "n_past_fake": int(train_fake.sum()), "past_periods": list(past_steps)}
        row = [t, ", ".join(f"{g} ({n})" for g, n in sorted(gens.items())), int(test_fake.sum()), int(train_fake.sum())]
        if train_fake.sum() >= min_past:
            out = _crossfit(x, y, folds, train_fake, test_fake, test_real, l2=l2, target_fpr=target)
            entry["past_fit"] = _round_dict(out)
            row += [_r(out["auc"]), _r(out["tpr@target"])]
        else:
            entry["past_fit"] = None
            row += ["too few past fakes", ""]
        sel = test_fake | test_real
        if shipped_thr is not None:
            ps = s.prob(cond.id, FUSED)[sel]
            entry["shipped_fusion"] = {"auc": _r(roc_auc(y[sel], ps)),
                                       "tpr@target": _r(_rate(ps, shipped_thr[sel], y[sel] == 1))}
            row += [entry["shipped_fusion"]["auc"], entry["shipped_fusion"]["tpr@target"]]
        res[t] = entry
        rows.append(row)
        curve.append((t, entry["past_fit"]["auc"] if entry["past_fit"] else None,
                      entry.get("shipped_fusion", {}).get("auc")))
    cols = ["period", "generators tested (n)", "n fake", "n past fakes", "AUC past-fit",
            f"TPR@{target:.0%} past-fit"] + (["AUC shipped", f"TPR@{target:.0%} shipped"] if has_ship else [])
    date_rows = sorted(([g, d] for g, d in dates.items()), key=lambda r: (r[1], r[0]))
    tables = [Table("chronological", "Fit on the past, test on the next period", cols, rows,
                    note=f"granularity {gran}, window {window or 'all past'}; TPR at the threshold giving "
                         f"{target:.0%} FPR on the training reals"),
              Table("dates", "Generator release dates used", ["generator", "date"], date_rows)]
    figures = [{"kind": "lines", "title": "AUC on the next period", "xlabel": "period", "ylabel": "AUC",
                "x": [c[0] for c in curve],
                "series": [{"label": "stacker fitted on the past", "y": [c[1] for c in curve]}]
                + ([{"label": "shipped fusion", "y": [c[2] for c in curve]}] if has_ship else []),
                "ylim": [0.3, 1.0]}]
    notes = ["The detectors are fixed; only the logistic stacker on their scores is fitted on past generators."]
    if undated:
        notes.append(f"Fakes without a release date (left out): {undated}")
    return ProtocolResult({"periods": steps, "per_period": res, "undated_generators": undated,
                           "granularity": gran, "window": window, "target_fpr": target}, tables, figures, notes)


# --------------------------------------------------------------------------------------
# preprocessing and format bias (paired conditions on the same images)


def _paired(ctx: Context, conds: list[Condition], ref: str, key: str, title: str,
            op_fuser: Any) -> tuple[list[Table], dict[str, Any], list[dict[str, Any]]]:
    s = ctx.scores
    assert s is not None
    op_threshold = None
    thr: dict[str, np.ndarray] = {}
    if op_fuser is not None:
        thr = {c.id: op_thresholds(op_fuser, s.side_of(c.id))[0] for c in conds}
        op_threshold = (op_fuser.operating_point_for(32).threshold, op_fuser.operating_point_for(None).threshold)
    res: dict[str, Any] = {}
    tables = []
    for m in s.models:
        p_ref = s.prob(ref, m)
        rows = []
        res[m] = {}
        for c in conds:
            p = s.prob(c.id, m)
            summ = _summ(ctx, s.y, p)
            summ["auc_ci"] = _ci(ctx, roc_auc, s.y, p, key, c.id, m)
            d = np.abs(p - p_ref)
            summ["mean_abs_dp"] = float(d.mean())
            summ["mean_abs_dp_real"] = float(d[s.y == 0].mean()) if (s.y == 0).any() else math.nan
            summ["mean_abs_dp_fake"] = float(d[s.y == 1].mean()) if (s.y == 1).any() else math.nan
            summ["mean_p_real"] = float(p[s.y == 0].mean()) if (s.y == 0).any() else math.nan
            summ["mean_p_fake"] = float(p[s.y == 1].mean()) if (s.y == 1).any() else math.nan
            summ["flip@0.5"] = float(np.mean((p >= ctx.threshold) != (p_ref >= ctx.threshold)))
            if m == FUSED and op_threshold is not None:
                summ["flip@op"] = float(np.mean((p >= thr[c.id]) != (p_ref >= thr[ref])))
                summ["flagged@op"] = float(np.mean(p >= thr[c.id]))
            summ["n_unscored"] = s.unscored(c.id, m)
            res[m][c.id] = _round_dict(summ)
            rows.append([c.label, _r(summ["auc"]), _r(summ["acc"]), _r(summ["mean_p_real"]), _r(summ["mean_p_fake"]),
                         _r(summ["mean_abs_dp"]), _r(summ["mean_abs_dp_real"]), _r(summ["mean_abs_dp_fake"]),
                         _r(summ["flip@0.5"])] + ([_r(summ.get("flip@op"))] if m == FUSED and op_threshold else []))
        cols = ["condition", "AUC", "acc", "mean p real", "mean p fake", "mean |Δp|", "|Δp| real", "|Δp| fake",
                "flips@0.5"] + (["flips@op"] if m == FUSED and op_threshold else [])
        tables.append(Table(f"{key}_{m}", f"{title} — {m}", cols, rows,
                            note=f"Δp against '{next(c.label for c in conds if c.id == ref)}' on the same images"
                                 + (f"; op = the shipped 1%-FPR threshold of the image's size regime "
                                    f"(thumbnails ≤ 64 px {op_threshold[0]:.3f}, full resolution "
                                    f"{op_threshold[1]:.3f})" if m == FUSED and op_threshold else "")))
    prim = _primary(s.models)
    figures = [
        {"kind": "roc", "title": f"ROC per condition — {prim}",
         "curves": [{"label": f"{c.label} (AUC {res[prim][c.id]['auc'] or float('nan'):.3f})",
                     **_roc_points(s.y, s.prob(c.id, prim))} for c in conds]},
        {"kind": "bars", "title": f"Mean p_fake per condition — {prim}", "categories": [c.label for c in conds],
         "series": [{"label": "real images", "values": [res[prim][c.id]["mean_p_real"] for c in conds]},
                    {"label": "AI-generated images", "values": [res[prim][c.id]["mean_p_fake"] for c in conds]}],
         "ylabel": "mean p_fake", "ylim": [0.0, 1.0]},
    ]
    return tables, res, figures


@PROTOCOLS.register("preprocessing")
def preprocessing(ctx: Context) -> ProtocolResult:
    """The same images fed natively, centre-cropped or resized to the network size at test time.

    Config keys: ``conditions`` (preset names or entries; default ``[center-crop-224, resize-224,
    resize-crop-224]``); set ``data.min_side`` (e.g. 224) so that crops do not pad small images.
    The reference is the native image (the detectors' own tiling).
    """
    entries = ctx.config.get("conditions") or ["center-crop-224", "resize-224", "resize-crop-224"]
    conds = [Condition("native", "native (no preprocessing)", None, (), None)]
    for e in entries:
        conds.extend(parse_condition_spec({"preset": e} if isinstance(e, str) else e, [3]))
    s = ctx.score(conds, description="preprocessing")
    tables, res, figures = _paired(ctx, conds, "native", "preprocessing", "Test-time preprocessing", ctx.fuser)
    notes = [f"{len(s.items)} images with a shorter side ≥ {ctx.engine.min_side or 1} px "
             f"({ctx.engine.stats['skipped_small']} smaller ones skipped)."]
    return ProtocolResult({"per_model": res}, tables, figures, notes)


@PROTOCOLS.register("format-bias")
def format_bias(ctx: Context) -> ProtocolResult:
    """Format-bias audit: the same pixels in different containers (PNG vs JPEG q95/q75 vs WebP).

    Config keys: ``containers`` (preset names or entries; default ``[png, jpeg-95, jpeg-75, webp-80]``),
    ``reference`` (the label of the reference container; default the first).  A detector that
    has learnt "JPEG means real" moves p_fake when only the container changes.
    """
    entries = ctx.config.get("containers") or ["png", "jpeg-95", "jpeg-75", "webp-80"]
    conds = []
    for e in entries:
        conds.extend(parse_condition_spec({"preset": e} if isinstance(e, str) else e, [3]))
    ref_label = str(ctx.config.get("reference", conds[0].label))
    ref = next((c.id for c in conds if c.label == ref_label), None)
    if ref is None:
        raise UsageError(f"reference {ref_label!r} is not one of the containers {[c.label for c in conds]}")
    s = ctx.score(conds, description="format bias")
    tables, res, figures = _paired(ctx, conds, ref, "format", "Same pixels, different container", ctx.fuser)
    # per original container of the source files
    prim = _primary(s.models)
    ext = np.array([("jpeg" if it.path.lower().endswith((".jpg", ".jpeg")) else
                     it.path.rsplit(".", 1)[-1].lower()) for it in s.items], dtype=object)
    rows = []
    by_src: dict[str, Any] = {}
    for e in sorted(set(ext)):
        mask = ext == e
        for lab in (0, 1):
            mm = mask & (s.y == lab)
            if not mm.any():
                continue
            vals = [float(s.prob(c.id, prim)[mm].mean()) for c in conds]
            by_src[f"{e}/{'fake' if lab else 'real'}"] = {c.label: _r(v) for c, v in zip(conds, vals)}
            rows.append([e, "fake" if lab else "real", int(mm.sum())] + [_r(v) for v in vals])
    tables.append(Table("by_source_format", f"Mean p_fake by the source file's own format — {prim}",
                        ["source format", "class", "n"] + [c.label for c in conds], rows,
                        note="a large gap between source formats within a class hints at a format shortcut"))
    return ProtocolResult({"per_model": res, "reference": ref_label, "by_source_format": by_src}, tables, figures,
                          [f"{len(s.items)} images; every image is re-encoded in each container from its decoded "
                           "pixels (so JPEG sources carry their own JPEG traces under every container)."])


# --------------------------------------------------------------------------------------
# calibration


@PROTOCOLS.register("calibration")
def calibration(ctx: Context) -> ProtocolResult:
    """Reliability, ECE and Brier per model, and the false-positive rate the shipped thresholds reach.

    Config keys: ``fprs`` (requested rates; default ``[0.01, 0.05, 0.10]``), ``by_source``
    (also break the reached FPR down by ``source``; default true), ``condition``.

    For each requested rate ``f`` the shipped :class:`fakescope.fusion.Fuser` (over all the
    detectors, and over each detector alone) picks its thresholds on the calibration split,
    separately for thumbnails (≤ 64 px) and full-resolution images; each image here is judged
    by its own regime's threshold (as ``fakescope scan`` does).  The table gives the FPR and
    TPR reached on these images, with Wilson 95% intervals, and the share of images landing
    in the "inconclusive" band.
    """
    from ..fusion import Fuser

    cond = _condition_from_config(ctx)
    s = ctx.score([cond], description="calibration")
    fprs = [float(f) for f in ctx.config.get("fprs", [0.01, 0.05, 0.10])]
    rel, rows, res = {}, [], {}
    for m in s.models:
        p = s.prob(cond.id, m)
        summ = _summ(ctx, s.y, p)
        summ["ece_ci"] = _ci(ctx, lambda yy, pp: ece(yy, pp, bins=ctx.bins), s.y, p, "ece", m)
        summ["brier_ci"] = _ci(ctx, lambda yy, pp: float(np.mean((pp - yy) ** 2)), s.y, p, "brier", m)
        rel[m] = reliability_curve(s.y, p, bins=ctx.bins)
        res[m] = _round_dict(summ)
        ci = summ["ece_ci"]
        rows.append([m, _r(summ["ece"]), f"[{ci['low']:.3f}, {ci['high']:.3f}]" if ci else "", _r(summ["brier"]),
                     _r(summ["auc"]), _r(summ["acc"])])
    tables = [Table("calibration", f"Calibration of p_fake ({ctx.bins} equal-width bins)",
                    ["model", "ECE", "ECE 95% CI", "Brier", "AUC", f"acc@{ctx.threshold}"], rows,
                    note="detectors: each card's own Platt calibration; fused: the shipped stacker")]
    # reached FPR at the shipped thresholds
    fpr_rows, fpr_res = [], {}
    models = [(FUSED, tuple(s.detectors))] if ctx.fuser is not None else []
    models += [(d, (d,)) for d in s.detectors]
    src = np.array([str(it.source) for it in s.items], dtype=object)
    by_source = bool(ctx.config.get("by_source", True))
    sides = s.side_of(cond.id)
    for name, dets in models:
        fpr_res[name] = {}
        if name == FUSED:
            p = s.prob(cond.id, FUSED)
        else:
            r = s.raw[cond.id][name][:, None]
            ok = np.isfinite(r[:, 0])
            p = np.full(r.shape[0], 0.5)
            p[ok] = fused_probability_fn(Fuser(dets, fpr=0.01))(r[ok], sides[ok])
        for f in fprs:
            fu = Fuser(dets, fpr=f)
            ops = (fu.operating_point_for(32), fu.operating_point_for(None))  # thumbnails, full resolution
            t_fake, t_real = op_thresholds(fu, sides)
            flagged = p >= t_fake
            real_band = p < t_real
            reals, fakes = s.y == 0, s.y == 1
            k, n = int(flagged[reals].sum()), int(reals.sum())
            lo, hi = wilson_interval(k, n)
            tpr = float(flagged[fakes].mean()) if fakes.any() else math.nan
            inconc = float(np.mean(~flagged & ~real_band))
            entry = {"asked": f, "threshold": {"thumbnail": _r(ops[0].threshold), "full": _r(ops[1].threshold)},
                     "real_threshold": {"thumbnail": _r(ops[0].real_threshold), "full": _r(ops[1].real_threshold)},
                     "calibration_fpr": {"thumbnail": _r(ops[0].calibration_fpr), "full": _r(ops[1].calibration_fpr)},
                     "reached_fpr": _r(k / n if n else math.nan),
                     "reached_fpr_ci": [_r(lo), _r(hi)], "tpr": _r(tpr), "inconclusive_share": _r(inconc),
                     "n_real": n}
            if by_source:
                entry["by_source"] = {}
                for sname in sorted(set(src[reals])):
                    mm = reals & (src == sname)
                    entry["by_source"][sname] = {"n_real": int(mm.sum()), "reached_fpr": _r(float(flagged[mm].mean()))}
            fpr_res[name][f"{f:g}"] = entry
            extra = ("; ".join(f"{k2} {v['reached_fpr']:.3f} (n={v['n_real']})" for k2, v in entry.get("by_source", {}).items())
                     if by_source else "")
            fpr_rows.append([name, f"{f:.0%}", f"{ops[0].threshold:.3f} / {ops[1].threshold:.3f}",
                             f"{ops[0].calibration_fpr:.3f} / {ops[1].calibration_fpr:.3f}",
                             _r(k / n if n else math.nan), f"[{lo:.3f}, {hi:.3f}]", _r(tpr), _r(inconc), extra])
    tables.append(Table("reached_fpr", "False-positive rate asked for vs reached (shipped thresholds)",
                        ["model", "asked FPR", "threshold thumb / full", "FPR on calibration thumb / full",
                         "FPR reached here", "95% CI (Wilson)", "TPR", "inconclusive share", "reached FPR by source"],
                        fpr_rows,
                        note="thresholds fitted on the calibration split by fakescope.fusion.Fuser, separately for "
                             "thumbnails (≤ 64 px, e.g. CIFAKE) and full-resolution images; each image is judged "
                             "by its own regime's threshold; 'inconclusive' = between the real and AI thresholds"))
    figures = [{"kind": "reliability", "title": "Reliability diagram",
                "curves": [{"label": f"{m} (ECE {res[m]['ece']:.3f})", **rel[m]} for m in s.models]}]
    if fpr_res:
        figures.append({"kind": "fpr", "title": "FPR asked vs reached",
                        "series": [{"label": name, "asked": [float(k) for k in fr],
                                    "reached": [v["reached_fpr"] for v in fr.values()],
                                    "low": [v["reached_fpr_ci"][0] for v in fr.values()],
                                    "high": [v["reached_fpr_ci"][1] for v in fr.values()]}
                                   for name, fr in fpr_res.items()]})
    return ProtocolResult({"per_model": res, "reliability": {m: {k: [(_r(v) if isinstance(v, float) else v) for v in vs]
                                                                  for k, vs in r.items()} for m, r in rel.items()},
                           "reached_fpr": fpr_res}, tables, figures,
                          [f"{len(s.items)} images ({int((s.y == 0).sum())} real, {int(s.y.sum())} fake)."])
