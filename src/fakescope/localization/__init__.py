"""Localization: a per-pixel map of where an image was changed (255 = manipulated).

Two methods and their fusion: the ``localizer`` network (a small U-Net trained on synthetic partial fakes,
ONNX, ``weights/localizer.onnx``, made by ``fakescope build localizer``), and a coarse map from the ``rine``
detector's calibrated probability on 224-px crops of a sliding grid (stride 112): a region made by a
generator scores higher where the crops cover it.  The fused map is
``sigmoid(a logit(unet) + b logit(rine) + c)`` with the weights of the card (fitted on the calibration
split's photos, :func:`fakescope.localization.evaluate.fit_fusion`); each method has its own fixed
threshold (the card's ``thresholds``).  The build ships one of ``unet`` and ``fused`` (the card's ``method``,
the higher pixel F1 on the calibration photos): the scan, ``fakescope localize`` and :func:`localize` use it
unless told otherwise, and compute rine's map only when the method needs it.

>>> import numpy as np
>>> loc = Localizer(rine=False)
>>> m = loc.map(np.zeros((50, 70, 3), np.uint8))
>>> m.shape, m.dtype
((50, 70), dtype('uint8'))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..types import Evidence
from .evaluate import DEFAULT_FUSION, fuse, pixel_metrics
from .synth import KINDS, make_partial, shrink

__all__ = ["METHODS", "Localizer", "localize", "find_mask", "score_against_masks", "describe_regions", "write_map", "map_path", "KINDS", "make_partial"]

GRID = 224
STRIDE = 112
METHODS = ("unet", "fused", "rine")


def _as_rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.shape[2] == 4:
        a = a[:, :, :3]
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return a


def _resize_f(m: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    if m.shape == (h, w):
        return m.astype(np.float32)
    return np.asarray(Image.fromarray(m.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR),
                      np.float32)


def map_path(out_dir: str | os.PathLike[str], image_path: str) -> Path:
    """``<out_dir>/<stem>.map.png`` of an input path."""
    return Path(out_dir) / f"{Path(image_path).stem}.map.png"


def write_map(path: str | os.PathLike[str], m: np.ndarray) -> Path:
    """Write an 8-bit map (uint8, or floats 0..1 scaled to 0..255) as a grayscale PNG."""
    from PIL import Image

    a = np.asarray(m)
    if a.dtype != np.uint8:
        a = np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a, mode="L").save(p)
    return p


_ROWS = ("upper", "middle", "lower")
_COLS = ("left", "centre", "right")


def describe_regions(prob: np.ndarray, threshold: float = 0.5, *, max_regions: int = 3,
                     min_fraction: float = 0.005) -> list[dict[str, Any]]:
    """The marked regions of a probability map in plain words, largest first: ``{"where", "fraction",
    "mean", "box": [x0, y0, x1, y1] (fractions of the width and height)}``.

    >>> m = np.zeros((90, 90), np.float32); m[:30, :30] = 0.9
    >>> describe_regions(m)[0]["where"]
    'the upper left'
    """
    from scipy import ndimage

    marked = prob >= threshold
    if marked.mean() < min_fraction:
        return []
    lab, n = ndimage.label(marked)
    if n == 0:
        return []
    sizes = ndimage.sum(marked, lab, index=np.arange(1, n + 1))
    h, w = prob.shape
    out = []
    for k in np.argsort(-sizes)[:max_regions]:
        if sizes[k] / marked.size < min_fraction:
            break
        ys, xs = np.nonzero(lab == k + 1)
        cy, cx = ys.mean() / h, xs.mean() / w
        r, c = _ROWS[min(2, int(cy * 3))], _COLS[min(2, int(cx * 3))]
        where = "the centre" if (r, c) == ("middle", "centre") else \
            f"the {r if r != 'middle' else 'middle'} {c}" if c != "centre" else f"the {r} centre"
        span = (xs.max() - xs.min() + 1) / w, (ys.max() - ys.min() + 1) / h
        if span[0] > 0.6 and span[1] > 0.6:
            where = "most of the image"
        out.append({"where": where, "fraction": float(sizes[k] / marked.size),
                    "mean": float(prob[lab == k + 1].mean()),
                    "box": [float(xs.min() / w), float(ys.min() / h), float((xs.max() + 1) / w), float((ys.max() + 1) / h)]})
    return out


class Localizer:
    """Per-pixel maps of edited regions.

    Parameters
    ----------
    card_path : the card (default ``weights/localizer.json``).
    onnx_path : a network file to use instead of the card's (the build step's evaluation).
    max_side : the long side the image is reduced to before the network (default: the card's).
    rine : whether rine's coarse map may be computed: None (default) follows the card's shipped ``method``
        (rine only for ``fused``); False: the network alone; True: every method available.
    threads : ONNX Runtime intra-op threads.

    ``method`` is the map :meth:`map`, :meth:`probability_map` and :meth:`evidence` make by default: the card's
    shipped one (``unet`` when rine is off), and ``threshold`` its fixed threshold.
    """

    def __init__(self, card_path: str | os.PathLike[str] | None = None, *,
                 onnx_path: str | os.PathLike[str] | None = None, max_side: int | None = None,
                 rine: bool | None = None, threads: int = 1) -> None:
        from ..detectors.base import OnnxModel, load_card

        self.fusion = dict(DEFAULT_FUSION)
        self.thresholds: dict[str, float] = {}
        shipped = "fused"
        if onnx_path is None:
            self.card = load_card("localizer", card_path)
            onnx_path = self.card.verify()
            self.fusion = {**self.fusion, **self.card.extra.get("fusion", {})}
            self.thresholds = {k: float(v) for k, v in self.card.extra.get("thresholds", {}).items()}
            shipped = str(self.card.extra.get("method", "fused"))  # cards before the choice shipped the fused map
            max_side = max_side or int(self.card.extra.get("max_side", 512))
        else:
            self.card = None
        if shipped not in METHODS:
            raise ValueError(f"the localizer card's method {shipped!r} is not one of {', '.join(METHODS)}")
        self.use_rine = shipped != "unet" if rine is None else bool(rine)
        self.method = shipped if self.use_rine else "unet"
        self.threshold = self.threshold_for(self.method)
        self.max_side = int(max_side or 512)
        self.net = OnnxModel(onnx_path, threads=threads)
        self._rine: Any = None
        self._threads = threads

    def threshold_for(self, method: str | None = None) -> float:
        """The fixed threshold of a method's map (the card's, chosen on the calibration split; default
        :attr:`method`'s)."""
        method = self.method if method is None else method
        if method == "fused" and not self.use_rine:
            method = "unet"
        default = float(self.card.extra.get("threshold", 0.5)) if self.card is not None else 0.5
        return float(self.thresholds.get(method, default))

    # -- maps ------------------------------------------------------------------------------------
    def _shrunk(self, image: np.ndarray) -> np.ndarray:
        return shrink(image, self.max_side)

    def unet_map(self, image: np.ndarray) -> np.ndarray:
        """The network's probability map (float32 0..1) at the image's size."""
        rgb = _as_rgb(image)
        h, w = rgb.shape[:2]
        x = self._shrunk(rgb)
        sh, sw = x.shape[:2]
        ph, pw = max(16, -(-sh // 8) * 8), max(16, -(-sw // 8) * 8)
        xp = np.pad(x, ((0, ph - sh), (0, pw - sw), (0, 0)), mode="reflect" if min(sh, sw) > 1 else "edge")
        logit = self.net(xp.transpose(2, 0, 1)[None].astype(np.float32))[0, 0, :sh, :sw]
        p = 1.0 / (1.0 + np.exp(-logit.astype(np.float64)))
        return _resize_f(p.astype(np.float32), h, w)

    def rine_map(self, image: np.ndarray) -> np.ndarray:
        """The coarse map: rine's calibrated probability per 224-px crop of a sliding grid (stride 112) over
        the reduced image, averaged over the crops covering each pixel (float32 0..1, the image's size)."""
        from ..detectors import create_detector

        if self._rine is None:
            self._rine = create_detector("rine", threads=self._threads)
        rgb = _as_rgb(image)
        h, w = rgb.shape[:2]
        x = self._shrunk(rgb)
        sh, sw = x.shape[:2]
        if min(sh, sw) < GRID:
            p = float(self._rine.evidence(float(self._rine.raw_scores([x])[0])).score)
            return np.full((h, w), p, np.float32)
        ys = sorted(set(list(range(0, sh - GRID + 1, STRIDE)) + [sh - GRID]))
        xs = sorted(set(list(range(0, sw - GRID + 1, STRIDE)) + [sw - GRID]))
        crops = np.stack([x[y : y + GRID, c : c + GRID] for y in ys for c in xs]).transpose(0, 3, 1, 2).astype(np.float32)
        logits = np.concatenate([self._rine.model(crops[i : i + 1]).ravel() for i in range(len(crops))])
        cal = self._rine.card.calibration
        probs = 1.0 / (1.0 + np.exp(-(float(cal.get("a", 1.0)) * logits.astype(np.float64) + float(cal.get("b", 0.0)))))
        acc = np.zeros((sh, sw), np.float64)
        cnt = np.zeros((sh, sw), np.float64)
        for (y, c), p in zip(((y, c) for y in ys for c in xs), probs):
            acc[y : y + GRID, c : c + GRID] += p
            cnt[y : y + GRID, c : c + GRID] += 1
        return _resize_f((acc / np.maximum(cnt, 1)).astype(np.float32), h, w)

    def probability_map(self, image: np.ndarray, *, method: str | None = None) -> np.ndarray:
        """float32 0..1 map of the image's size; ``method``: ``unet``, ``fused`` or ``rine`` (default
        :attr:`method`, the shipped one)."""
        method = self.method if method is None else method
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
        if method == "unet" or (method == "fused" and not self.use_rine):
            return self.unet_map(image)
        if method == "rine":
            return self.rine_map(image)
        return fuse(self.unet_map(image), self.rine_map(image), self.fusion)

    def map(self, image: np.ndarray, *, method: str | None = None) -> np.ndarray:
        """The 8-bit map (uint8, the image's size, 255 = manipulated) of ``method`` (default the shipped one)."""
        return np.clip(np.round(self.probability_map(image, method=method) * 255.0), 0, 255).astype(np.uint8)

    def localize(self, images: Sequence[np.ndarray], *, method: str | None = None) -> list[np.ndarray]:
        return [self.map(im, method=method) for im in images]

    def evidence(self, image: np.ndarray, *, out_path: str | os.PathLike[str] | None = None) -> tuple[Evidence, np.ndarray]:
        """The shipped method's map (:attr:`method`, marked at its :attr:`threshold`) as an evidence item
        (``kind="localization"``, weight ``none``: it says where, not whether) and the 8-bit map; written to
        ``out_path`` when given."""
        prob = self.probability_map(image)
        regions = describe_regions(prob, self.threshold)
        marked = float(np.mean(prob >= self.threshold))
        if regions:
            words = ", ".join(f"{r['where']} ({100 * r['fraction']:.0f}% of the image)" for r in regions)
            summary = f"the localization map marks {words}"
        else:
            summary = "the localization map marks no region (under 0.5% of the pixels)"
        m8 = np.clip(np.round(prob * 255.0), 0, 255).astype(np.uint8)
        details: dict[str, Any] = {"marked_fraction": marked, "max": float(prob.max()), "regions": regions,
                                   "threshold": self.threshold, "method": self.method}
        if out_path is not None:
            details["map"] = str(write_map(out_path, m8))
        return Evidence(source="localizer", kind="localization", score=0.5, summary=summary, weight="none",
                        details=details), m8


def localize(image: "np.ndarray | str | os.PathLike[str]", *, method: str | None = None) -> np.ndarray:
    """The 8-bit localization map (uint8, the image's size, 255 = manipulated) of an array or an image file
    (decoded as the scan does); ``method`` default the shipped one (the card's ``method``).

    >>> import numpy as np
    >>> localize(np.zeros((40, 60, 3), np.uint8), method="unet").shape
    (40, 60)
    """
    if not isinstance(image, np.ndarray):
        from ..io.decode import load

        image = load(image).image
    return Localizer(rine=None if method is None else method != "unet").map(image, method=method)


MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".webp")


def find_mask(masks_dir: str | os.PathLike[str], image_path: str | os.PathLike[str]) -> Path | None:
    """The ground-truth mask of an image in a folder of masks: ``<stem>.<ext>``, ``<stem>_mask.<ext>`` or
    ``<stem>.mask.<ext>`` (any image format; non-zero = manipulated), or None."""
    stem = Path(image_path).stem
    for name in (stem, stem + "_mask", stem + ".mask", stem + "_gt"):
        for ext in MASK_SUFFIXES:
            p = Path(masks_dir) / (name + ext)
            if p.is_file():
                return p
    return None


def score_against_masks(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray], *, threshold: float = 0.5
                        ) -> dict[str, float]:
    """Pixel metrics of probability maps (0..1, or uint8 0..255) against masks (non-zero = manipulated; resized
    to the map, nearest, when their sizes differ): pooled pixel AUC, F1/IoU at ``threshold`` and at the best
    threshold, the share of pixels marked where the mask is empty (the same functions as the build's
    benchmark, :func:`fakescope.localization.evaluate.pixel_metrics`).

    >>> m = np.zeros((8, 8), np.float32); m[:4] = 0.9
    >>> k = np.zeros((8, 8), np.uint8); k[:4] = 1
    >>> score_against_masks([m], [k])["f1"]
    1.0
    """
    from PIL import Image

    probs, truths = [], []
    for m, k in zip(maps, masks):
        p = np.asarray(m, np.float32)
        if np.asarray(m).dtype == np.uint8:
            p = p / 255.0
        t = np.asarray(k)
        if t.ndim == 3:
            t = t.max(axis=2)
        if t.shape != p.shape:
            t = np.asarray(Image.fromarray((t > 0).astype(np.uint8) * 255).resize(
                (p.shape[1], p.shape[0]), Image.Resampling.NEAREST))
        probs.append(p)
        truths.append((t > 0).astype(np.uint8))
    out = pixel_metrics(probs, truths, threshold)
    clean = np.concatenate([p[t == 0] for p, t in zip(probs, truths)])
    out["marked_outside"] = float(np.mean(clean >= threshold)) if clean.size else float("nan")
    out["images"] = len(probs)
    return out
