"""Metrics, Platt scaling and logistic stacking as pure numpy functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..benchmark import metrics
from ..errors import UsageError
from ..fitting import fit_logistic
from ..regimes import HELDOUT_PREFIX

if TYPE_CHECKING:
    from .data import Record

__all__ = ["roc_auc", "average_precision", "tpr_at_fpr", "summary_metrics", "fit_platt", "fit_stacking",
           "group_metrics"]


def _check(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(np.int64).ravel()
    s = np.asarray(scores, np.float64).ravel()
    if y.shape != s.shape:
        raise UsageError(f"labels and scores differ in length: {y.shape} vs {s.shape}")
    return y, s


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve: :func:`fakescope.benchmark.metrics.roc_auc` (the one metric library).

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y, s = _check(np.asarray(labels), np.asarray(scores))
    return metrics.roc_auc(y, s)


def average_precision(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Average precision: :func:`fakescope.benchmark.metrics.average_precision`.

    >>> round(average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.8333
    """
    y, s = _check(np.asarray(labels), np.asarray(scores))
    return metrics.average_precision(y, s) if y.sum() else float("nan")


def tpr_at_fpr(labels: Sequence[int], scores: Sequence[float], fpr: float) -> float:
    """The best true-positive rate at a false-positive rate of at most ``fpr``:
    :func:`fakescope.benchmark.metrics.tpr_at_fpr`.

    >>> tpr_at_fpr([0, 0, 0, 0, 1, 1], [0, 1, 2, 3, 2.5, 4], 0.25)
    1.0
    """
    y, s = _check(np.asarray(labels), np.asarray(scores))
    return metrics.tpr_at_fpr(y, s, fpr=fpr)


def summary_metrics(labels: Sequence[int], scores: Sequence[float]) -> dict[str, Any]:
    """AUC, AP, TPR at 1 % and 5 % FPR, and the class counts."""
    y, s = _check(np.asarray(labels), np.asarray(scores))
    return {
        "n_real": int((y == 0).sum()), "n_fake": int((y == 1).sum()),
        "auc": roc_auc(y, s), "ap": average_precision(y, s),
        "tpr@1%fpr": tpr_at_fpr(y, s, 0.01), "tpr@5%fpr": tpr_at_fpr(y, s, 0.05),
    }


def group_metrics(labels: Sequence[int], scores: Sequence[float], groups: Sequence[str],
                  reals_for: dict[str, Sequence[str]]) -> dict[str, dict[str, Any]]:
    """Metrics per group of fakes against a chosen set of real groups.

    Parameters
    ----------
    reals_for : dict
        Maps a report name to the groups it pools (fake groups and the real groups they
        are compared against), e.g. ``{"cifake": ["cifake"], "unseen (all)": [...]}``.
    """
    y, s = _check(np.asarray(labels), np.asarray(scores))
    g = np.asarray(groups)
    out = {}
    for name, members in reals_for.items():
        m = np.isin(g, list(members))
        out[name] = summary_metrics(y[m], s[m])
    return out


def _fit_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray, *, l2: float = 1e-4, iters: int = 100) -> np.ndarray:
    """Weighted logistic regression (:func:`fakescope.fusion.fit_logistic`, the one fitter; ``l2`` here is
    the absolute penalty); returns ``[coef..., intercept]``."""
    coef, b = fit_logistic(X, y, l2=l2 / max(len(y), 1), iters=iters, sample_weight=w)
    return np.r_[coef, b]


def _balanced_weights(y: np.ndarray, groups: Sequence[str] | None) -> np.ndarray:
    """Each class weighs the same; with ``groups``, each group weighs the same inside its class."""
    w = np.ones(len(y), np.float64)
    if groups is not None:
        g = np.asarray(groups)
        for c in (0, 1):
            for name in np.unique(g[y == c]):
                m = (y == c) & (g == name)
                w[m] = 1.0 / m.sum()
    for c in (0, 1):
        m = y == c
        if m.any():
            w[m] *= 0.5 / w[m].sum()
    return w * len(y)


def fit_platt(scores: Sequence[float], labels: Sequence[int], *, groups: Sequence[str] | None = None) -> dict[str, Any]:
    """Platt scaling ``p = sigmoid(a * score + b)`` fitted by weighted maximum likelihood.

    With ``groups`` the fit weighs every group equally inside its class (so 1000 CIFAKE
    images do not decide the calibration of full-resolution photos alone).

    >>> p = fit_platt([-2, -1, 1, 2], [0, 0, 1, 1])
    >>> p["method"], p["a"] > 0
    ('platt', True)
    """
    y, s = _check(np.asarray(labels), np.asarray(scores))
    beta = _fit_logistic(s[:, None], y.astype(np.float64), _balanced_weights(y, groups), l2=1e-3)
    return {"method": "platt", "a": float(beta[0]), "b": float(beta[1])}


def fit_stacking(features: np.ndarray, labels: Sequence[int], *, groups: Sequence[str] | None = None) -> dict[str, Any]:
    """Logistic stacking of several detectors' raw scores: ``sigmoid(X @ coef + intercept)``."""
    y = np.asarray(labels).astype(np.float64)
    X = np.asarray(features, np.float64)
    beta = _fit_logistic(X, y, _balanced_weights(y.astype(np.int64), groups), l2=1e-3)
    return {"method": "logistic-stacking", "coef": beta[:-1].tolist(), "intercept": float(beta[-1])}


def report_groups(records: Sequence[Record], *, cifake_row: str = "cifake (CIFAKE val)") -> dict[str, list[str]]:
    """Report rows of the quality tables (bench/quality.py, bench/detectors.py, the probe card): name → the record groups it pools (fakes + the reals compared).

    ``cifake_row`` names the CIFAKE row (the test split is CIFAKE val; the calibration split is
    cifake/train 2000..2499)."""
    gs = sorted({r.group for r in records})
    full_reals = [g for g in ("modern:real", "photos") if g in gs]
    rows: dict[str, list[str]] = {}
    if "cifake" in gs:
        rows[cifake_row] = ["cifake"]
    seen = [g for g in gs if g.startswith("modern:") and g != "modern:real"]
    unseen = [g for g in gs if g.startswith("unseen:")]
    if seen:
        rows["modern, seen generators (all)"] = seen + full_reals
        for g in seen:
            rows[f"  {g}"] = [g] + full_reals
    if unseen:
        rows["never-seen generators (all)"] = unseen + full_reals
        for g in unseen:
            rows[f"  {g}"] = [g] + full_reals
    if "ae" in gs:
        rows["auto-encoder reconstructions (aligned)"] = ["ae"] + full_reals
    heldout = [g for g in gs if g.startswith(HELDOUT_PREFIX)]
    if heldout:  # decoders no detector was trained on (bench/heldout_decoders.py)
        rows["held-out decoders (all)"] = heldout + full_reals
        for g in heldout:
            rows[f"  {g}"] = [g] + full_reals
    rows["all full-resolution"] = seen + unseen + (["ae"] if "ae" in gs else []) + full_reals
    return rows
