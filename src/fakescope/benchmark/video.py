"""The video benchmark's pieces: synthetic clips with known fake segments, and ForgeryNet's temporal metrics.

* :func:`camera_motion` turns a still into frames with a pan or a zoom (a real clip from a real photo);
* :func:`make_clip` splices frames of a fake image (moving the same way) into a real clip at ``[start, end)``;
* :func:`encode_clip` writes frames with PyAV (H.264 by CRF, VP9 by CRF, FFV1 lossless);
* :func:`temporal_iou`, :func:`temporal_ap` and :func:`average_recall_at_k` are ForgeryNet's temporal
  forgery localization metrics (ActivityNet-style AP at a temporal IoU, AR@k averaged over IoU 0.5:0.05:0.95).

>>> temporal_iou((1.0, 3.0), (2.0, 4.0))
0.3333333333333333
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, Sequence

import numpy as np

from ..errors import UsageError

__all__ = ["ClipSpec", "camera_motion", "make_clip", "encode_clip", "temporal_iou", "temporal_ap",
           "average_recall_at_k", "frame_labels", "ENCODINGS"]

#: name → (container suffix, codec, options): the encodings of the benchmark
ENCODINGS: dict[str, tuple[str, str, dict[str, str]]] = {
    "h264-crf18": (".mp4", "libx264", {"crf": "18", "preset": "veryfast"}),
    "h264-crf23": (".mp4", "libx264", {"crf": "23", "preset": "veryfast"}),
    "h264-crf35": (".mp4", "libx264", {"crf": "35", "preset": "veryfast"}),
    "vp9-crf40": (".webm", "libvpx-vp9", {"crf": "40", "b": "0", "deadline": "realtime", "cpu-used": "8"}),
    "ffv1": (".mkv", "ffv1", {}),
    "h264-qp0": (".mp4", "libx264", {"qp": "0", "preset": "ultrafast"}),
}


@dataclass(frozen=True)
class ClipSpec:
    """One benchmark clip: which photos, the motion, and the fake segment in frames (``None``: all real)."""

    name: str
    real: str
    fake: str | None
    start: int | None  # first fake frame
    end: int | None  # one past the last fake frame
    motion: Literal["pan", "zoom"]
    frames: int
    fps: int

    @property
    def fake_segment_s(self) -> tuple[float, float] | None:
        if self.start is None or self.end is None:
            return None
        return self.start / self.fps, self.end / self.fps


def camera_motion(image: np.ndarray, n: int, *, size: tuple[int, int], kind: Literal["pan", "zoom"] = "pan",
                  rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` frames of ``size`` (w, h) looking at ``image`` with a camera that pans or zooms.

    The motion's parameters (direction, amount) are drawn from ``rng``; the photo is first scaled so the
    frame covers it with room to move (bicubic), then each frame is a crop (pan) or a shrinking crop scaled
    to ``size`` (zoom)."""
    from PIL import Image

    W, H = size
    im = Image.fromarray(image)
    extra = 1.0 + rng.uniform(0.15, 0.35)
    sc = max(W * extra / im.width, H * extra / im.height)
    im = im.resize((max(W, int(round(im.width * sc))), max(H, int(round(im.height * sc)))), Image.BICUBIC)
    a = np.asarray(im)
    ah, aw = a.shape[:2]
    out: list[np.ndarray] = []
    if kind == "pan":
        x0, x1 = (0, aw - W) if rng.random() < 0.5 else (aw - W, 0)
        y0, y1 = rng.integers(0, ah - H + 1, size=2)
        for i in range(n):
            f = i / max(1, n - 1)
            x, y = int(round(x0 + (x1 - x0) * f)), int(round(y0 + (y1 - y0) * f))
            out.append(np.ascontiguousarray(a[y:y + H, x:x + W]))
    elif kind == "zoom":
        z_end = rng.uniform(0.6, 0.8)  # the last frame sees this share of the first one's width
        for i in range(n):
            z = 1.0 + (z_end - 1.0) * i / max(1, n - 1)
            cw, ch = max(W // 2, int(aw / extra * z)), max(H // 2, int(ah / extra * z))
            cw, ch = min(cw, aw), min(ch, ah)
            x, y = (aw - cw) // 2, (ah - ch) // 2
            crop = Image.fromarray(a[y:y + ch, x:x + cw]).resize((W, H), Image.BICUBIC)
            out.append(np.asarray(crop))
    else:
        raise UsageError(f"camera motion must be 'pan' or 'zoom', got {kind!r}")
    return out


def make_clip(real: np.ndarray, fake: np.ndarray | None, *, n: int, start: int | None, end: int | None,
              size: tuple[int, int], kind: Literal["pan", "zoom"], rng: np.random.Generator) -> list[np.ndarray]:
    """A real clip of ``n`` frames whose frames ``[start, end)`` come from ``fake`` moving the same way
    (``fake=None``: all real; ``start=0, end=n``: all fake)."""
    state = rng.bit_generator.state
    frames = camera_motion(real, n, size=size, kind=kind, rng=rng)
    if fake is None or start is None or end is None:
        return frames
    rng2 = np.random.default_rng()
    rng2.bit_generator.state = state  # the fake moves as the real camera would
    fake_frames = camera_motion(fake, n, size=size, kind=kind, rng=rng2)
    return frames[:start] + fake_frames[start:end] + frames[end:]


def encode_clip(frames: Sequence[np.ndarray], path: str | Path, *, encoding: str = "h264-crf23", fps: int = 10,
                size: tuple[int, int] | None = None) -> Path:
    """Write RGB frames as a video with one of :data:`ENCODINGS` (``size`` resizes first; the suffix of
    ``path`` is replaced by the encoding's container)."""
    import av
    from PIL import Image

    if encoding not in ENCODINGS:
        raise UsageError(f"unknown encoding {encoding!r}; known: {', '.join(ENCODINGS)}")
    suffix, codec, opts = ENCODINGS[encoding]
    path = Path(path).with_suffix(suffix)
    h, w = frames[0].shape[:2]
    if size is not None and (w, h) != tuple(size):
        w, h = size
        frames = [np.asarray(Image.fromarray(f).resize((w, h), Image.BICUBIC)) for f in frames]
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps, options=dict(opts))
        s.width, s.height = w, h
        s.pix_fmt = "yuv444p" if codec == "ffv1" or "qp" in opts else "yuv420p"
        if codec == "ffv1":
            s.pix_fmt = "bgr0"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two time intervals."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def frame_labels(t_s: Sequence[float], truth: Sequence[tuple[float, float]]) -> np.ndarray:
    """1 for the frames whose time falls in a true fake segment ``[start, end)``, else 0."""
    t = np.asarray(t_s, np.float64)
    y = np.zeros(t.size, np.int64)
    for s, e in truth:
        y[(t >= s - 1e-9) & (t < e - 1e-9)] = 1
    return y


def temporal_ap(predictions: Mapping[str, Sequence[Mapping[str, float]]],
                truth: Mapping[str, Sequence[tuple[float, float]]], *, iou: float = 0.5) -> float:
    """Average precision of predicted segments at a temporal IoU (ActivityNet/ForgeryNet).

    All clips' predictions are ranked by score; a prediction is a true positive when its IoU with a not yet
    matched true segment of the same clip is at least ``iou``.  AP is the area under the interpolated
    precision-recall curve (precision made monotone, summed over recall steps).  ``nan`` without true segments.

    >>> temporal_ap({"a": [{"start_s": 1, "end_s": 3, "score": .9}, {"start_s": 5, "end_s": 6, "score": .8}]},
    ...             {"a": [(1.0, 3.0)]})
    1.0
    """
    n_true = sum(len(v) for v in truth.values())
    if n_true == 0:
        return float("nan")
    preds = [(float(p["score"]), clip, float(p["start_s"]), float(p["end_s"]))
             for clip, ps in predictions.items() for p in ps]
    preds.sort(key=lambda x: -x[0])
    used = {clip: [False] * len(v) for clip, v in truth.items()}
    tp = np.zeros(len(preds))
    for i, (_, clip, s, e) in enumerate(preds):
        best, bj = iou, -1
        for j, g in enumerate(truth.get(clip, ())):
            if used[clip][j]:
                continue
            v = temporal_iou((s, e), g)
            if v >= best:
                best, bj = v, j
        if bj >= 0:
            used[clip][bj] = True
            tp[i] = 1
    if not preds:
        return 0.0
    ctp = np.cumsum(tp)
    recall = ctp / n_true
    precision = ctp / np.arange(1, len(preds) + 1)
    mprec = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [recall[-1]]])
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def average_recall_at_k(predictions: Mapping[str, Sequence[Mapping[str, float]]],
                        truth: Mapping[str, Sequence[tuple[float, float]]], *, k: int = 1,
                        ious: Sequence[float] = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))) -> float:
    """AR@k: the share of true segments matched by one of their clip's ``k`` highest-scoring predictions,
    averaged over the IoU thresholds ``ious`` (0.5:0.05:0.95, ForgeryNet's).  ``nan`` without true segments.

    >>> average_recall_at_k({"a": [{"start_s": 1, "end_s": 3, "score": .9}]}, {"a": [(1.0, 3.0)]}, k=1)
    1.0
    """
    if k < 1:
        raise UsageError(f"k must be >= 1, got {k}")
    n_true = sum(len(v) for v in truth.values())
    if n_true == 0:
        return float("nan")
    recalls = []
    for thr in ious:
        hit = 0
        for clip, gts in truth.items():
            top = sorted(predictions.get(clip, ()), key=lambda p: -float(p["score"]))[:k]
            for g in gts:
                if any(temporal_iou((float(p["start_s"]), float(p["end_s"])), g) >= thr - 1e-9 for p in top):
                    hit += 1
        recalls.append(hit / n_true)
    return float(np.mean(recalls))


def _ceil(x: float) -> int:
    return int(math.ceil(x - 1e-9))
