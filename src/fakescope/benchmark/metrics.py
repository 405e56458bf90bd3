"""Detection and calibration metrics: pure functions plus an accumulating :class:`MetricCollection`.

Convention everywhere: ``y`` holds labels (1 = AI-generated, the positive class; 0 = real)
and ``p`` the predicted probability (or any score, for the ranking metrics) that the image
is AI-generated.  A metric that needs both classes returns ``nan`` when one is missing,
instead of raising, so one empty cell does not stop a benchmark.

The functional forms follow scikit-learn's definitions exactly (the tests compare them):
ROC-AUC with ties counted one half, average precision as the step-wise sum
``Σ (R_n − R_{n−1}) P_n`` over distinct thresholds, Brier score, balanced accuracy.  ECE is
the binary form (the probability of the positive class against its frequency, 15
equal-width bins), as ``torchmetrics``' ``BinaryCalibrationError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import UsageError

__all__ = [
    "wilson_interval",
    "accuracy",
    "real_accuracy",
    "fake_accuracy",
    "mean_accuracy",
    "balanced_accuracy",
    "roc_curve",
    "roc_auc",
    "average_precision",
    "eer",
    "tpr_at_fpr",
    "threshold_at_fpr",
    "ece",
    "brier",
    "reliability_curve",
    "bootstrap_ci",
    "CI",
    "summarize",
    "MetricCollection",
    "METRIC_FUNCTIONS",
]


def _arrays(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    ya = np.asarray(y)
    pa = np.asarray(p, dtype=np.float64)
    if ya.ndim != 1 or pa.ndim != 1 or ya.shape != pa.shape:
        raise UsageError(f"y and p must be 1-D arrays of the same length, got {ya.shape} and {pa.shape}")
    if ya.size and not np.isin(ya, (0, 1)).all():
        raise UsageError("labels must be 0 (real) or 1 (fake)")
    if not np.isfinite(pa).all():
        raise UsageError("scores must be finite numbers (map unscored images to 0.5 first)")
    return ya.astype(np.int64), pa


def _both(y: np.ndarray) -> bool:
    return bool(y.size) and 0 < int(y.sum()) < y.size


def real_accuracy(y: Any, p: Any, *, threshold: float = 0.5) -> float:
    """Share of real images scored below ``threshold`` (the true-negative rate).

    >>> real_accuracy([0, 0, 1], [0.2, 0.7, 0.9])
    0.5
    """
    ya, pa = _arrays(y, p)
    r = ya == 0
    return float(np.mean(pa[r] < threshold)) if r.any() else math.nan


def fake_accuracy(y: Any, p: Any, *, threshold: float = 0.5) -> float:
    """Share of AI-generated images scored at or above ``threshold`` (the true-positive rate).

    >>> fake_accuracy([0, 1, 1], [0.2, 0.7, 0.4])
    0.5
    """
    ya, pa = _arrays(y, p)
    f = ya == 1
    return float(np.mean(pa[f] >= threshold)) if f.any() else math.nan


def mean_accuracy(y: Any, p: Any, *, threshold: float = 0.5) -> float:
    """The mean of :func:`real_accuracy` and :func:`fake_accuracy` (what detection papers call "acc").

    >>> mean_accuracy([0, 0, 1, 1], [0.2, 0.7, 0.9, 0.9])
    0.75
    """
    return 0.5 * (real_accuracy(y, p, threshold=threshold) + fake_accuracy(y, p, threshold=threshold))


def balanced_accuracy(y: Any, p: Any, *, threshold: float = 0.5) -> float:
    """Balanced accuracy of the decision ``p >= threshold`` (equal to :func:`mean_accuracy` for two classes).

    >>> balanced_accuracy([0, 1], [0.1, 0.9])
    1.0
    """
    return mean_accuracy(y, p, threshold=threshold)


def accuracy(y: Any, p: Any, *, threshold: float = 0.5) -> float:
    """Plain accuracy of ``p >= threshold`` over all images (depends on the class mix).

    >>> accuracy([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4])
    0.75
    """
    ya, pa = _arrays(y, p)
    return float(np.mean((pa >= threshold) == (ya == 1))) if ya.size else math.nan


def roc_curve(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC points at every distinct score: ``(fpr, tpr, thresholds)``, starting at (0, 0).

    ``thresholds[i]`` is the score at or above which images are called fake to reach point
    ``i`` (the first threshold is ``inf``), as ``sklearn.metrics.roc_curve(drop_intermediate=False)``.

    Examples
    --------
    >>> f, t, th = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> f.tolist(), t.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    ya, pa = _arrays(y, p)
    if not _both(ya):
        nan = np.array([math.nan])
        return nan, nan, np.array([math.inf])
    order = np.argsort(-pa, kind="mergesort")
    ps, ys = pa[order], ya[order]
    distinct = np.r_[np.nonzero(np.diff(ps))[0], ps.size - 1]
    tps = np.cumsum(ys)[distinct]
    fps = (distinct + 1) - tps
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return fpr, tpr, np.r_[np.inf, ps[distinct]]


def roc_auc(y: Any, p: Any) -> float:
    """Area under the ROC curve (ties count one half); ``nan`` without both classes.

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    ya, pa = _arrays(y, p)
    if not _both(ya):
        return math.nan
    # Mann-Whitney U with average ranks for ties
    order = np.argsort(pa, kind="mergesort")
    ranks = np.empty(pa.size, np.float64)
    ps = pa[order]
    starts = np.r_[0, np.nonzero(np.diff(ps))[0] + 1]
    ends = np.r_[starts[1:], ps.size]
    avg = (starts + ends + 1) / 2.0  # 1-based average rank of each tie group
    ranks[order] = np.repeat(avg, ends - starts)
    n1 = int(ya.sum())
    n0 = ya.size - n1
    return float((ranks[ya == 1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def average_precision(y: Any, p: Any) -> float:
    """Average precision ``Σ (R_n − R_{n−1}) P_n`` over distinct thresholds (scikit-learn's definition).

    >>> round(average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 6)
    0.833333
    """
    ya, pa = _arrays(y, p)
    if not ya.size or ya.sum() == 0:
        return math.nan
    order = np.argsort(-pa, kind="mergesort")
    ps, ys = pa[order], ya[order]
    distinct = np.r_[np.nonzero(np.diff(ps))[0], ps.size - 1]
    tps = np.cumsum(ys)[distinct].astype(np.float64)
    precision = tps / (distinct + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def eer(y: Any, p: Any) -> float:
    """Equal error rate: where the false-positive rate equals the miss rate (linear interpolation on the ROC).

    >>> eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    0.0
    """
    fpr, tpr, _ = roc_curve(y, p)
    if np.isnan(fpr).any():
        return math.nan
    fnr = 1.0 - tpr
    d = fpr - fnr  # rises from -1 to +1 along the curve
    i = int(np.argmax(d >= 0))
    if i == 0:
        return float(fpr[0])
    d0, d1 = d[i - 1], d[i]
    t = 0.0 if d1 == d0 else -d0 / (d1 - d0)
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def threshold_at_fpr(y: Any, p: Any, *, fpr: float = 0.01) -> float:
    """The lowest threshold whose false-positive rate on the reals is at most ``fpr``.

    Images with ``p >= threshold`` are called fake; at most ``floor(fpr · n_real)`` reals are.

    >>> t = threshold_at_fpr([0, 0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9, 0.5], fpr=0.25)
    >>> 0.3 < t < 0.3001  # just above the second-highest real: one real in four (0.9) is flagged
    True
    """
    ya, pa = _arrays(y, p)
    reals = np.sort(pa[ya == 0])[::-1]
    if not reals.size:
        return math.nan
    k = int(math.floor(float(fpr) * reals.size + 1e-9))
    if k >= reals.size:
        return float(reals[-1])
    # just above the (k+1)-th highest real score: exactly k reals (ties excluded) reach it
    return float(np.nextafter(reals[k], np.inf))


def tpr_at_fpr(y: Any, p: Any, *, fpr: float = 0.01) -> float:
    """The best true-positive rate reachable with a false-positive rate at most ``fpr`` (from the ROC).

    >>> tpr_at_fpr([0, 0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.9, 0.5, 0.95], fpr=0.25)
    1.0
    """
    f, t, _ = roc_curve(y, p)
    if np.isnan(f).any():
        return math.nan
    ok = f <= float(fpr) + 1e-12
    return float(t[ok].max())


def wilson_interval(k: int, n: int, *, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (95% by default): honest at small ``n`` and near 0 or 1,
    where the normal approximation leaves [0, 1].  ``(nan, nan)`` for ``n = 0``.

    >>> [round(v, 3) for v in wilson_interval(39, 81)]
    [0.376, 0.589]
    >>> wilson_interval(0, 10)[0]
    0.0
    """
    if n <= 0:
        return (math.nan, math.nan)
    if not 0 <= k <= n:
        raise ValueError(f"k must be within 0..n, got k={k}, n={n}")
    phat = k / n
    den = 1.0 + z * z / n
    centre = (phat + z * z / (2 * n)) / den
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def brier(y: Any, p: Any) -> float:
    """Mean squared error of the probabilities (Brier score).

    >>> brier([0, 1], [0.0, 0.5])
    0.125
    """
    ya, pa = _arrays(y, p)
    return float(np.mean((pa - ya) ** 2)) if ya.size else math.nan


def _bin_index(p: np.ndarray, bins: int) -> np.ndarray:
    return np.minimum((p * bins).astype(np.int64), bins - 1)


def reliability_curve(y: Any, p: Any, *, bins: int = 15) -> dict[str, list[float]]:
    """Per equal-width bin: the mean probability, the observed share of fakes and the count.

    Empty bins have ``nan`` means and count 0.

    Examples
    --------
    >>> r = reliability_curve([0, 1, 1, 1], [0.1, 0.9, 0.95, 0.6], bins=2)
    >>> r["count"], r["frac_pos"]
    ([1, 3], [0.0, 1.0])
    """
    ya, pa = _arrays(y, p)
    if bins < 1:
        raise UsageError(f"bins must be >= 1, got {bins}")
    idx = _bin_index(np.clip(pa, 0.0, 1.0), bins)
    count = np.bincount(idx, minlength=bins)
    sum_p = np.bincount(idx, weights=pa, minlength=bins)
    sum_y = np.bincount(idx, weights=ya.astype(np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(count > 0, sum_p / np.maximum(count, 1), np.nan)
        frac = np.where(count > 0, sum_y / np.maximum(count, 1), np.nan)
    return {"bin_edges": np.linspace(0.0, 1.0, bins + 1).tolist(), "mean_p": mean_p.tolist(),
            "frac_pos": frac.tolist(), "count": count.astype(int).tolist()}


def ece(y: Any, p: Any, *, bins: int = 15) -> float:
    """Expected calibration error: ``Σ_b (n_b/n) · |mean p_b − share of fakes_b|`` over equal-width bins.

    >>> round(ece([0, 1], [0.2, 0.8]), 6)
    0.2
    """
    ya, pa = _arrays(y, p)
    if not ya.size:
        return math.nan
    r = reliability_curve(ya, pa, bins=bins)
    c = np.asarray(r["count"], np.float64)
    m = np.nan_to_num(np.asarray(r["mean_p"]))
    f = np.nan_to_num(np.asarray(r["frac_pos"]))
    return float(np.sum(c / ya.size * np.abs(m - f)))


@dataclass(frozen=True)
class CI:
    """A point estimate with a bootstrap percentile interval."""

    value: float
    low: float
    high: float
    level: float = 0.95
    n: int = 0

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high, "level": self.level, "n": self.n}

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_ci(metric_fn: Callable[..., float], y: Any, p: Any, *, rng: np.random.Generator, n: int = 1000,
                 level: float = 0.95, stratified: bool = True) -> CI:
    """Percentile bootstrap interval of ``metric_fn(y, p)``.

    Parameters
    ----------
    metric_fn : a function of ``(y, p)`` returning a float.
    rng : the random generator the resamples are drawn from (pass one in; nothing global is used).
    n : number of resamples.
    level : coverage of the interval.
    stratified : resample reals and fakes separately (each resample keeps the class counts,
        so every resample has both classes).

    Examples
    --------
    >>> g = np.random.default_rng(0)
    >>> y = np.r_[np.zeros(100), np.ones(100)]
    >>> p = np.r_[g.uniform(0, 0.6, 100), g.uniform(0.4, 1, 100)]
    >>> ci = bootstrap_ci(roc_auc, y, p, rng=np.random.default_rng(1), n=200)
    >>> ci.low < ci.value < ci.high
    True
    """
    ya, pa = _arrays(y, p)
    if not isinstance(rng, np.random.Generator):
        raise UsageError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if n < 1 or not 0.0 < level < 1.0:
        raise UsageError(f"need n >= 1 and 0 < level < 1, got n={n}, level={level}")
    value = float(metric_fn(ya, pa))
    if not ya.size:
        return CI(value, math.nan, math.nan, level, 0)
    groups = [np.nonzero(ya == c)[0] for c in (0, 1)] if stratified else [np.arange(ya.size)]
    groups = [g for g in groups if g.size]
    stats = np.empty(n, np.float64)
    for i in range(n):
        idx = np.concatenate([g[rng.integers(0, g.size, g.size)] for g in groups])
        stats[i] = metric_fn(ya[idx], pa[idx])
    stats = stats[np.isfinite(stats)]
    if not stats.size:
        return CI(value, math.nan, math.nan, level, n)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [a, 1.0 - a])
    return CI(value, float(lo), float(hi), level, n)


#: The metrics :func:`summarize` reports, by name.
METRIC_FUNCTIONS: dict[str, Callable[..., float]] = {
    "auc": roc_auc,
    "ap": average_precision,
    "eer": eer,
    "brier": brier,
}


def summarize(y: Any, p: Any, *, threshold: float = 0.5, fpr_targets: Sequence[float] = (0.01, 0.05),
              bins: int = 15, extra_thresholds: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Every metric of one set of predictions, as a flat dict (the benchmark tables' cells).

    Keys: ``n``, ``n_real``, ``n_fake``, ``auc``, ``ap``, ``eer``, ``acc_real``, ``acc_fake``,
    ``acc`` (their mean) at ``threshold``, ``balanced_acc``, ``tpr@1%fpr`` (one per target),
    ``ece``, ``brier``, and ``acc_real@NAME``/``acc_fake@NAME``/``acc@NAME`` for each of
    ``extra_thresholds``.

    Examples
    --------
    >>> s = summarize([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> s["auc"], s["acc"], s["n_fake"]
    (0.75, 0.75, 2)
    """
    ya, pa = _arrays(y, p)
    out: dict[str, Any] = {
        "n": int(ya.size), "n_real": int((ya == 0).sum()), "n_fake": int((ya == 1).sum()),
        "auc": roc_auc(ya, pa), "ap": average_precision(ya, pa), "eer": eer(ya, pa),
        "acc_real": real_accuracy(ya, pa, threshold=threshold), "acc_fake": fake_accuracy(ya, pa, threshold=threshold),
    }
    out["acc"] = 0.5 * (out["acc_real"] + out["acc_fake"])
    out["balanced_acc"] = out["acc"]
    for f in fpr_targets:
        out[f"tpr@{f:.0%}fpr"] = tpr_at_fpr(ya, pa, fpr=f)
    out["ece"] = ece(ya, pa, bins=bins)
    out["brier"] = brier(ya, pa)
    for name, t in (extra_thresholds or {}).items():
        ar, af = real_accuracy(ya, pa, threshold=t), fake_accuracy(ya, pa, threshold=t)
        out[f"acc_real@{name}"], out[f"acc_fake@{name}"], out[f"acc@{name}"] = ar, af, 0.5 * (ar + af)
    return out


class MetricCollection:
    """Accumulates ``(y, p)`` batches and computes :func:`summarize` on everything seen (torchmetrics-style).

    Ranking metrics need every score, so the scores are kept (8 bytes each + the label).

    Examples
    --------
    >>> m = MetricCollection(threshold=0.5)
    >>> m.update([0, 1], [0.2, 0.9]); m.update([0, 1], [0.6, 0.7])
    >>> r = m.compute()
    >>> r["n"], r["auc"], r["acc"]
    (4, 1.0, 0.75)
    >>> r["auc"] == summarize([0, 1, 0, 1], [0.2, 0.9, 0.6, 0.7])["auc"]
    True
    """

    def __init__(self, *, threshold: float = 0.5, fpr_targets: Sequence[float] = (0.01, 0.05), bins: int = 15,
                 extra_thresholds: Mapping[str, float] | None = None) -> None:
        self.threshold = float(threshold)
        self.fpr_targets = tuple(fpr_targets)
        self.bins = int(bins)
        self.extra_thresholds = dict(extra_thresholds or {})
        self.reset()

    def reset(self) -> None:
        self._y: list[np.ndarray] = []
        self._p: list[np.ndarray] = []

    def update(self, y: Any, p: Any) -> None:
        ya, pa = _arrays(np.atleast_1d(y), np.atleast_1d(p))
        self._y.append(ya)
        self._p.append(pa)

    def merge(self, other: "MetricCollection") -> None:
        """Add everything another collection has seen (e.g. from another worker)."""
        self._y.extend(other._y)
        self._p.extend(other._p)

    @property
    def y(self) -> np.ndarray:
        return np.concatenate(self._y) if self._y else np.zeros(0, np.int64)

    @property
    def p(self) -> np.ndarray:
        return np.concatenate(self._p) if self._p else np.zeros(0, np.float64)

    def __len__(self) -> int:
        return sum(a.size for a in self._y)

    def compute(self) -> dict[str, Any]:
        return summarize(self.y, self.p, threshold=self.threshold, fpr_targets=self.fpr_targets, bins=self.bins,
                         extra_thresholds=self.extra_thresholds)

    def ci(self, metric_fn: Callable[..., float], *, rng: np.random.Generator, n: int = 1000) -> CI:
        """:func:`bootstrap_ci` of ``metric_fn`` over everything seen."""
        return bootstrap_ci(metric_fn, self.y, self.p, rng=rng, n=n)

