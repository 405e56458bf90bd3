"""The project's one logistic fitter (stackers, detector heads, Platt scaling): Newton's method in numpy.

It sits below :mod:`fakescope.fusion`, the detectors and the training code, which all import it
from here (``fakescope.fusion.fit_logistic`` is the same function).
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_logistic", "fit_stacker"]


def _sigmoid(z: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-5, iters: int = 100,
                 sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Fit L2-regularised logistic regression by Newton's method (no scikit-learn needed): the
    project's one logistic fitter (stackers, heads, Platt scaling).

    Parameters
    ----------
    x : (n, d) array of features; y : (n,) array of 0/1 labels.
    l2 : penalty per row (the penalty on the weights is ``l2 * n``; the intercept is not penalised).
    sample_weight : optional (n,) weights of the rows' losses.

    Returns
    -------
    (weights, bias)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(-1, 1, (200, 1)), rng.normal(1, 1, (200, 1))]
    >>> y = np.r_[np.zeros(200), np.ones(200)]
    >>> w, b = fit_logistic(x, y)
    >>> bool(w[0] > 1.0 and abs(b) < 0.5)
    True
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n, d = x.shape
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    xa = np.c_[x, np.ones(n)]
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, l2 * n)
    reg[-1] = 0.0
    for _ in range(iters):
        p = _sigmoid(xa @ theta)
        grad = xa.T @ (sw * (p - y)) + reg * theta
        w = sw * p * (1 - p) + 1e-12
        hess = (xa * w[:, None]).T @ xa + np.diag(reg) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return theta[:-1], float(theta[-1])


def fit_stacker(x: np.ndarray, y: np.ndarray, *, sample_weight: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The fusion's stacker: columns standardised on these rows, then :func:`fit_logistic` (rows weighted by
    ``sample_weight``).  Returns ``(mu, sd, w, b)``; the logit of a row ``r`` is ``((r - mu) / sd) @ w + b``.
    The fusion (:class:`fakescope.fusion.Fuser`) and the build's default-set choice fit it the same way."""
    mu = x.mean(axis=0)
    sd = x.std(axis=0) + 1e-9
    w, b = fit_logistic((x - mu) / sd, y, sample_weight=sample_weight)
    return mu, sd, w, b
