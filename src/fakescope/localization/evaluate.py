"""Measuring localization maps: pixel metrics against masks, the benchmark's sets of partial fakes, and the
choices the ``localizer`` build step makes on its validation set (the fused map's logistic weights, the
fixed threshold).  Library code: the build step (:mod:`fakescope.build.localizer`), ``fakescope localize
--masks`` and the tests all use these.

>>> m = np.zeros((8, 8), np.float32); m[:4] = 0.9
>>> k = np.zeros((8, 8), np.uint8); k[:4] = 1
>>> pixel_metrics([m], [k], 0.5)["f1"]
1.0
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .synth import KINDS, launder, make_partial, shrink, shrink_mask

__all__ = ["pixel_metrics", "marked_share", "evaluation_set", "method_maps", "evaluate_maps", "fuse",
           "fit_fusion", "choose_threshold", "THRESHOLDS", "DEFAULT_FUSION"]

Log = Callable[[str], None]

DEFAULT_FUSION: dict[str, float] = {"unet": 1.0, "rine": 0.0, "bias": 0.0}  # the network alone
THRESHOLDS: tuple[float, ...] = tuple(float(t) for t in np.round(np.arange(0.05, 0.951, 0.025), 3))


def pixel_metrics(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray], threshold: float) -> dict[str, float]:
    """Pooled pixel AUC; F1 and IoU at ``threshold`` (pooled over pixels) and at the best threshold of
    :data:`THRESHOLDS` (chosen on the same images: optimistic)."""
    from ..benchmark.metrics import roc_auc

    p = np.concatenate([m.ravel() for m in maps]).astype(np.float64)
    y = np.concatenate([k.ravel() for k in masks]).astype(np.float64)
    step = max(1, len(p) // 400_000)  # the AUC on a regular subsample of pixels (exact enough, cheap)
    auc = float(roc_auc(y[::step], p[::step])) if 0 < y[::step].sum() < len(y[::step]) else float("nan")

    def f1_iou(t: float) -> tuple[float, float]:
        pred = p >= t
        tp = float(np.sum(pred & (y > 0)))
        fp, fn = float(np.sum(pred & (y == 0))), float(np.sum(~pred & (y > 0)))
        return (2 * tp / max(1.0, 2 * tp + fp + fn), tp / max(1.0, tp + fp + fn))

    f1, iou = f1_iou(threshold)
    best = max((f1_iou(t) + (t,) for t in THRESHOLDS), key=lambda v: v[0])
    return {"pixel_auc": auc, "f1": f1, "iou": iou, "best_f1": best[0], "best_iou": best[1], "best_threshold": best[2]}


def marked_share(maps: Sequence[np.ndarray], threshold: float) -> float:
    """The share of all pixels of ``maps`` at or above ``threshold``."""
    return float(np.mean(np.concatenate([(m >= threshold).ravel() for m in maps]))) if len(maps) else float("nan")


def evaluation_set(photos: Sequence[np.ndarray], donors: Mapping[str, Sequence[np.ndarray]], *, seed: int,
                   max_side: int, kinds: Sequence[str] = KINDS) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(kind, image, mask)``: every photo once per kind of ``kinds`` (``fake-paste (<donor set>)`` for each
    donor set, ``splice`` from the next photo, the others from the photo itself) and once untouched
    (``untouched``), each laundered (resize 0.5-1 with p 0.5, JPEG q60-95 with p 0.8), then reduced to
    ``max_side``."""
    rng = np.random.default_rng(seed)
    out = []
    for i, base in enumerate(photos):
        for kind in kinds:
            if kind == "fake-paste":
                for name, ds in donors.items():
                    if ds:
                        img, m = make_partial(base, ds[int(rng.integers(len(ds)))], kind, rng)
                        out.append((f"fake-paste ({name})", shrink(img, max_side), shrink_mask(m, max_side)))
                continue
            donor = photos[(i + 1) % len(photos)] if kind == "splice" else None
            img, m = make_partial(base, donor, kind, rng)
            out.append((kind, shrink(img, max_side), shrink_mask(m, max_side)))
        img, m = launder(base, np.zeros(base.shape[:2], np.uint8), rng)
        out.append(("untouched", shrink(img, max_side), shrink_mask(m, max_side)))
    return out


def fuse(unet: np.ndarray, rine: np.ndarray, fusion: Mapping[str, float]) -> np.ndarray:
    """The fused probability: ``sigmoid(a * logit(unet) + b * logit(rine) + c)`` with ``fusion`` =
    ``{"unet": a, "rine": b, "bias": c}`` (fitted by :func:`fit_fusion`)."""
    lu = _logit(unet)
    lr = _logit(rine)
    z = float(fusion["unet"]) * lu + float(fusion["rine"]) * lr + float(fusion.get("bias", 0.0))
    return (1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))).astype(np.float32)


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, np.float64), 1e-4, 1 - 1e-4)
    return np.log(q / (1 - q))


def method_maps(localizer: Any, items: Sequence[tuple[str, np.ndarray, np.ndarray]], methods: Sequence[str],
                fusion: Mapping[str, float] | None = None) -> dict[str, list[np.ndarray]]:
    """Each method's probability map of every item (the network's and rine's maps computed once per
    image; ``fused`` by :func:`fuse` with ``fusion``, default the localizer's)."""
    fz = dict(fusion if fusion is not None else localizer.fusion)
    out: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    for _, img, _ in items:
        u = localizer.unet_map(img)
        r = localizer.rine_map(img) if ("rine" in methods or "fused" in methods) else None
        for m in methods:
            out[m].append(u if m == "unet" else r if m == "rine" else fuse(u, r, fz))
    return out


def fit_fusion(unet: Sequence[np.ndarray], rine: Sequence[np.ndarray], masks: Sequence[np.ndarray], *,
               pixels: int = 200_000) -> dict[str, float]:
    """The fused map's weights: a logistic regression (:func:`fakescope.fitting.fit_logistic`) of the mask on
    the two maps' logits, on a regular subsample of ``pixels`` pixels pooled over the images."""
    from ..fitting import fit_logistic

    lu = np.concatenate([_logit(m).ravel() for m in unet])
    lr = np.concatenate([_logit(m).ravel() for m in rine])
    y = np.concatenate([np.asarray(k).ravel() for k in masks]).astype(np.float64)
    step = max(1, len(y) // pixels)
    (a, b), c = fit_logistic(np.c_[lu[::step], lr[::step]], y[::step], l2=1e-4)
    return {"unet": float(a), "rine": float(b), "bias": float(c)}


def choose_threshold(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray], clean: Sequence[np.ndarray], *,
                     max_marked: float) -> dict[str, float]:
    """The fixed threshold: of :data:`THRESHOLDS`, the one with the best pooled pixel F1 on the edited images
    (``maps``, ``masks``) among those that mark at most ``max_marked`` of the untouched images' pixels
    (``clean``); the highest threshold when none does."""
    p = np.concatenate([m.ravel() for m in maps]).astype(np.float64)
    y = np.concatenate([np.asarray(k).ravel() for k in masks]) > 0
    best: dict[str, float] | None = None
    for t in THRESHOLDS:
        marked = marked_share(clean, t)
        pred = p >= t
        tp = float(np.sum(pred & y))
        f1 = 2 * tp / max(1.0, float(pred.sum()) + float(y.sum()))
        if marked <= max_marked and (best is None or f1 > best["f1"]):
            best = {"threshold": t, "f1": f1, "marked": marked}
    if best is None:
        t = THRESHOLDS[-1]
        best = {"threshold": t, "f1": float("nan"), "marked": marked_share(clean, t)}
    return best


def evaluate_maps(items: Sequence[tuple[str, np.ndarray, np.ndarray]], maps: Mapping[str, Sequence[np.ndarray]],
                  thresholds: Mapping[str, float], *, log: Log | None = None) -> dict[str, Any]:
    """Per method (``maps``: each method's map of every item) and kind: pixel metrics at the method's fixed
    threshold; image-level AUC of the map's 99th percentile (edited vs untouched); the share of pixels at or
    above the threshold on untouched photos."""
    from ..benchmark.metrics import roc_auc

    by_kind: dict[str, list[int]] = collections.defaultdict(list)
    for i, (k, _, _) in enumerate(items):
        by_kind[k].append(i)
    res: dict[str, Any] = {}
    for method, mm in maps.items():
        t = float(thresholds[method])
        clean = by_kind.get("untouched", [])
        clean_score = [float(np.percentile(mm[i], 99)) for i in clean]
        out: dict[str, Any] = {}
        for k, idx in by_kind.items():
            if k == "untouched":
                out[k] = {"n": len(idx), "marked": marked_share([mm[i] for i in idx], t)}
                continue
            d = pixel_metrics([mm[i] for i in idx], [items[i][2] for i in idx], t)
            s = [float(np.percentile(mm[i], 99)) for i in idx]
            d["image_auc"] = float(roc_auc(np.r_[np.zeros(len(clean_score)), np.ones(len(s))], np.r_[clean_score, s])) \
                if clean_score else float("nan")
            d["n"] = len(idx)
            out[k] = d
        res[method] = out
        if log:
            log(f"localizer: {method} @ {t}: " + ", ".join(f"{k} F1 {v['f1']:.2f}" for k, v in out.items() if "f1" in v)
                + (f", untouched marked {100 * out['untouched']['marked']:.1f}%" if "untouched" in out else ""))
    return res
