"""Attribution from pixels: nearest class mean under a shared (tied, shrunk) covariance — the
class-conditional Mahalanobis classifier of Lee et al. (NeurIPS 2018) on rine-style features (pooled
intermediate EfficientNet-Lite0 maps, :mod:`fakescope.detectors.rine`), with open-set rejection by that
distance and few-shot enrolment (OmniDFA's setting) as new class means in the same space.

The features are whitened once (``z = W (x - mean)``, ``W`` the inverse square root of the shrunk
within-class covariance of the training generators and real photos), so a class is only a mean
``mu`` in ``z`` space and an enrolled generator is the mean of its few images: nothing is retrained.
For an image, ``d_c = |z - mu_c|^2 / dim`` for every class and ``p_c`` the softmax of ``-d_c / (2 T)``
over the generators (``T`` fitted on held-out rows).  The nearest generator ``g`` is claimed when
``p_g`` is at least the calibrated ``threshold`` and ``g`` is nearer than the real-photo mean;
otherwise the answer is ``unknown``, with the nearest family when the same softmax over family means
passes ``family_threshold``.  The open-set score is thus the relative distance (how much nearer the
best class is than the others), not the absolute one: by leave-one-generator-out on the shipped data
the absolute distance did not separate known from unknown generators (AUROC ~0.5; relative: ~0.7,
docs/benchmarks/attribution.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .families import FAMILIES

__all__ = ["signed_power", "Space", "ClassMeans", "AttributionResult", "fit_space", "class_means", "distances", "attribute_z",
           "fit_temperature"]

REAL = "real"


def signed_power(x: np.ndarray, power: float) -> np.ndarray:
    """``sign(x) |x|^power`` (``power`` 1: ``x`` itself): compresses the features' heavy tails."""
    x = np.asarray(x, np.float64)
    return x if power == 1.0 else np.sign(x) * np.abs(x) ** power


@dataclass(frozen=True)
class Space:
    """The whitening: ``z = (signed_power(x, power) - mean) @ w``."""

    mean: np.ndarray
    w: np.ndarray
    power: float = 1.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (signed_power(x, self.power) - self.mean) @ self.w

    @property
    def dim(self) -> int:
        return int(self.w.shape[1])


@dataclass(frozen=True)
class ClassMeans:
    """Class means in ``z`` space: ``names[i]`` (``real`` for real photos), ``families[i]``, ``means[i]``,
    ``counts[i]`` (images behind the mean)."""

    names: tuple[str, ...]
    families: tuple[str, ...]
    means: np.ndarray
    counts: tuple[int, ...]

    def without(self, name: str) -> "ClassMeans":
        keep = [i for i, n in enumerate(self.names) if n != name]
        return ClassMeans(tuple(self.names[i] for i in keep), tuple(self.families[i] for i in keep),
                          self.means[keep], tuple(self.counts[i] for i in keep))

    def plus(self, name: str, family: str, mean: np.ndarray, count: int) -> "ClassMeans":
        base = self.without(name)
        return ClassMeans(base.names + (name,), base.families + (family,),
                          np.vstack([base.means, np.asarray(mean, np.float64)[None]]), base.counts + (int(count),))


@dataclass(frozen=True)
class AttributionResult:
    """One image's attribution: ``name`` (a generator, or ``unknown``), ``family``, ``confidence`` (0-1),
    ``accepted`` (a generator is claimed), ``distance`` to the nearest generator and the ``threshold`` it
    was compared with, ``nearest`` (the nearest generator even when rejected), ``top`` (up to three
    ``(name, probability)``)."""

    name: str
    family: str
    confidence: float
    accepted: bool
    distance: float
    threshold: float
    nearest: str
    real_distance: float | None = None
    top: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "confidence": round(float(self.confidence), 4),
                "accepted": self.accepted, "distance": round(float(self.distance), 4),
                "threshold": round(float(self.threshold), 4), "nearest": self.nearest,
                "real_distance": None if self.real_distance is None else round(float(self.real_distance), 4),
                "top": [[n, round(float(p), 4)] for n, p in self.top]}


def fit_space(x: np.ndarray, classes: Sequence[str], *, shrinkage: float, dim: int | None = None,
              power: float = 1.0, scale: np.ndarray | None = None) -> Space:
    """The whitening of the features ``x`` (rows) given their classes: :func:`signed_power` of them (times
    ``scale`` per column when given: blocks of features of different units weigh alike in the shrinkage),
    centred on the grand mean, the pooled within-class covariance ``S`` shrunk towards ``tr(S)/d * I`` by
    ``shrinkage``, whitened by its inverse square root (keeping its ``dim`` largest-variance directions when
    given).  The scale is folded into the returned space's ``mean`` and ``w``."""
    x = signed_power(x, power)
    if scale is not None:
        sp = fit_space(x * scale, classes, shrinkage=shrinkage, dim=dim, power=1.0)
        return Space(sp.mean / scale, sp.w * scale[:, None], float(power))
    mean = x.mean(axis=0)
    cls = np.asarray(classes)
    xc = np.empty_like(x)
    for c in np.unique(cls):
        m = cls == c
        xc[m] = x[m] - x[m].mean(axis=0)
    s = xc.T @ xc / max(1, len(x) - len(np.unique(cls)))
    s = (1.0 - shrinkage) * s + shrinkage * np.trace(s) / s.shape[0] * np.eye(s.shape[0])
    vals, vecs = np.linalg.eigh(s)
    order = np.argsort(vals)[::-1][: dim or len(vals)]
    w = vecs[:, order] / np.sqrt(np.maximum(vals[order], 1e-12))
    return Space(mean, w, float(power))


def class_means(z: np.ndarray, classes: Sequence[str], families: Mapping[str, str]) -> ClassMeans:
    """The mean of every class's rows of ``z`` (classes sorted, ``real`` included when present)."""
    cls = np.asarray(classes)
    names = tuple(sorted(set(cls.tolist())))
    return ClassMeans(names, tuple(families.get(n, "unknown") if n != REAL else REAL for n in names),
                      np.stack([z[cls == n].mean(axis=0) for n in names]), tuple(int(np.sum(cls == n)) for n in names))


def distances(z: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``(n, k)`` squared distances per dimension between rows of ``z`` and ``means``."""
    z = np.atleast_2d(np.asarray(z, np.float64))
    d = (z * z).sum(1)[:, None] - 2.0 * z @ means.T + (means * means).sum(1)[None]
    return np.maximum(d, 0.0) / z.shape[1]


def _softmax(a: np.ndarray) -> np.ndarray:
    a = a - a.max(axis=-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


def generator_probabilities(d: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of ``-d / (2 T)`` over the columns (generators)."""
    return _softmax(-np.asarray(d, np.float64) / (2.0 * temperature))


def fit_temperature(d: np.ndarray, truth: np.ndarray, grid: Sequence[float] = tuple(np.geomspace(1e-3, 10, 41))) -> float:
    """The temperature of :func:`generator_probabilities` with the least negative log-likelihood of the
    true columns ``truth`` (held-out rows)."""
    best, best_nll = float(grid[0]), np.inf
    for t in grid:
        p = generator_probabilities(d, float(t))
        nll = -np.mean(np.log(np.maximum(p[np.arange(len(truth)), truth], 1e-12)))
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def family_means(means: ClassMeans) -> tuple[tuple[str, ...], np.ndarray]:
    """Each family's mean of its generators' means, weighted by their counts (families with generators)."""
    fams = [f for f in FAMILIES if f in means.families and f != REAL]
    out = []
    for f in fams:
        idx = [i for i, g in enumerate(means.families) if g == f]
        wts = np.asarray([means.counts[i] for i in idx], np.float64)
        out.append((means.means[idx] * wts[:, None]).sum(0) / wts.sum())
    return tuple(fams), np.stack(out) if out else np.zeros((0, means.means.shape[1]))


def attribute_z(z: np.ndarray, means: ClassMeans, *, threshold: float, temperature: float,
                family_threshold: float | None = None) -> list[AttributionResult]:
    """Attribute every row of ``z`` (see the module docs)."""
    z = np.atleast_2d(z)
    gen = [i for i, n in enumerate(means.names) if n != REAL]
    real = [i for i, n in enumerate(means.names) if n == REAL]
    d_all = distances(z, means.means)
    dg = d_all[:, gen]
    p = generator_probabilities(dg, temperature)
    fams, fmeans = family_means(means)
    df = distances(z, fmeans) if len(fams) else np.zeros((len(z), 0))
    pf = generator_probabilities(df, temperature) if len(fams) else df
    out = []
    for r in range(len(z)):
        j = int(np.argmin(dg[r]))
        name, fam = means.names[gen[j]], means.families[gen[j]]
        d_real = float(d_all[r, real[0]]) if real else None
        accepted = bool(p[r, j] >= threshold and (d_real is None or dg[r, j] < d_real))
        order = np.argsort(-p[r])[:3]
        top = tuple((means.names[gen[k]], float(p[r, k])) for k in order)
        if accepted:
            out.append(AttributionResult(name, fam, float(p[r, j]), True, float(dg[r, j]), threshold, name, d_real, top))
            continue
        fam_out, conf = "unknown", 0.0
        if len(fams):
            k = int(np.argmin(df[r]))
            ft = threshold if family_threshold is None else family_threshold
            if pf[r, k] >= ft and (d_real is None or df[r, k] < d_real):
                fam_out, conf = fams[k], float(pf[r, k])
        out.append(AttributionResult("unknown", fam_out, conf, False, float(dg[r, j]), threshold, name, d_real, top))
    return out


def save_arrays(path: str | Path, space: Space, means: ClassMeans, **scalars: float) -> None:
    """Write the space and the class means to an ``.npz`` (no pickles)."""
    np.savez(path, mean=space.mean, w=space.w, power=np.float64(space.power), names=np.array(means.names), families=np.array(means.families),
             means=means.means, counts=np.array(means.counts, np.int64),
             **{k: np.float64(v) for k, v in scalars.items()})


def load_arrays(path: str | Path) -> tuple[Space, ClassMeans, dict[str, float]]:
    with np.load(path, allow_pickle=False) as z:
        space = Space(z["mean"], z["w"], float(z["power"]) if "power" in z.files else 1.0)
        means = ClassMeans(tuple(str(s) for s in z["names"]), tuple(str(s) for s in z["families"]), z["means"],
                           tuple(int(c) for c in z["counts"]))
        scalars = {k: float(z[k]) for k in z.files if z[k].ndim == 0 and k not in ("names", "families", "power")}
    return space, means, scalars
