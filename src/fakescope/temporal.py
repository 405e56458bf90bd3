"""Fusion in time: per-frame probabilities → a clip's ``p_fake`` and its temporal segments.

Pure functions on score sequences (scikit-image style: arrays in, keyword-only options) and the fitted
parameters of the video fusion, loaded from ``weights/video.json`` — chosen by ``fakescope build video`` on the
calibration clips of the video benchmark (never its test clips); see docs/benchmarks/video.md.

* :func:`topk_pool`: the clip's score is the mean of its ``k`` highest frame probabilities,
  ``k = ceil(topk_frac · n)``: a clip with a few generated seconds in a long real one still scores high,
  while a lone outlier frame of a real clip is averaged with its neighbours in the top ``k``.
* :func:`fuse_face`: a frame's probability from its whole-frame and its face crops' probabilities (the
  face fusion: ``none``, ``max``, or a logistic model on their logits, chosen and fitted by the build step).
* :func:`hysteresis_segments`: a segment starts at a frame at or above ``high``, grows while frames stay at or
  above ``low``, gaps shorter than ``max_gap_s`` are bridged, and segments shorter than ``min_len_s`` are
  dropped (ForgeryNet's temporal task: fake segments at random positions in a real clip).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import UsageError, WeightsError

__all__ = ["Segment", "VideoFusionParams", "topk_pool", "hysteresis_segments", "load_video_fusion",
           "VIDEO_FUSION_FILE", "fuse_face", "FACE_FUSIONS"]

#: how a frame's face crops enter its probability (:func:`fuse_face`)
FACE_FUSIONS = ("none", "max", "logistic")

VIDEO_FUSION_FILE = Path(__file__).resolve().parent / "weights" / "video.json"


@dataclass(frozen=True)
class Segment:
    """A stretch of a clip whose frames look generated: ``[start_s, end_s)`` and its mean frame probability."""

    start_s: float
    end_s: float
    score: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, float]:
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "score": round(self.score, 4)}


@dataclass(frozen=True)
class VideoFusionParams:
    """The video fusion's parameters (``weights/video.json``).

    Parameters
    ----------
    topk_frac : share of the sampled frames pooled (:func:`topk_pool`).
    threshold : pooled score at or above which the clip is labelled ``ai-generated``.
    real_threshold : pooled score below which it is labelled ``real`` (in between: ``inconclusive``).
    seg_high, seg_low, min_len_s, max_gap_s : :func:`hysteresis_segments`' options.
    face_fusion : how a frame's face crops enter its probability (:data:`FACE_FUSIONS`, :func:`fuse_face`).
    face_coef : with ``face_fusion="logistic"``: the weights of the whole frame's and the highest face crop's
        logit and the bias.
    operating_fpr : the share of calibration real clips the threshold was allowed to flag.
    fitted_on : what the parameters were chosen on (clips, sizes), for the card.
    """

    topk_frac: float = 0.25
    threshold: float = 0.5
    real_threshold: float = 0.5
    seg_high: float = 0.7
    seg_low: float = 0.5
    min_len_s: float = 0.5
    max_gap_s: float = 0.5
    face_fusion: str = "none"
    face_coef: tuple[float, float, float] | None = None
    operating_fpr: float | None = None
    fitted_on: str = "defaults (not fitted)"

    def __post_init__(self) -> None:
        if not 0 < self.topk_frac <= 1:
            raise UsageError(f"topk_frac must be in (0, 1], got {self.topk_frac}")
        if self.seg_low > self.seg_high:
            raise UsageError(f"seg_low ({self.seg_low}) must not exceed seg_high ({self.seg_high})")
        if self.real_threshold > self.threshold:
            raise UsageError("real_threshold must not exceed threshold")
        if self.face_fusion not in FACE_FUSIONS:
            raise UsageError(f"face_fusion must be one of {', '.join(FACE_FUSIONS)}, got {self.face_fusion!r}")
        if self.face_coef is not None:
            coef = tuple(float(c) for c in self.face_coef)
            if len(coef) != 3 or not all(math.isfinite(c) for c in coef):
                raise UsageError(f"face_coef must be 3 finite numbers, got {self.face_coef!r}")
            object.__setattr__(self, "face_coef", coef)
        if self.face_fusion == "logistic" and self.face_coef is None:
            raise UsageError("face_fusion 'logistic' needs face_coef")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def topk_pool(p: Sequence[float] | np.ndarray, *, topk_frac: float = 0.25) -> float:
    """Mean of the ``ceil(topk_frac · n)`` highest values of ``p`` (NaNs ignored; 0.5 when nothing is left).

    >>> topk_pool([0.1, 0.2, 0.9, 0.95], topk_frac=0.5)
    0.925
    >>> round(topk_pool([0.1, 0.2, 0.9, 0.95], topk_frac=1.0), 4)
    0.5375
    """
    a = np.asarray(p, np.float64).ravel()
    a = a[np.isfinite(a)]
    if a.size == 0:
        return 0.5
    k = max(1, int(math.ceil(topk_frac * a.size - 1e-9)))
    return float(np.sort(a)[-k:].mean())


def _logit(p: float) -> float:
    q = min(max(float(p), 1e-6), 1 - 1e-6)
    return math.log(q / (1 - q))


def fuse_face(p_frame: float, p_face: float | None, params: VideoFusionParams) -> float:
    """A frame's probability from the whole frame's ``p_frame`` and the highest of its face crops' ``p_face``
    (``None``: no face scanned in this frame, the whole frame's probability is kept).

    ``params.face_fusion``: ``"none"`` keeps ``p_frame``; ``"max"`` takes the higher; ``"logistic"`` is
    ``sigmoid(a·logit(p_frame) + b·logit(p_face) + c)`` with ``(a, b, c) = params.face_coef``.

    >>> fuse_face(0.2, 0.9, VideoFusionParams(face_fusion="max"))
    0.9
    >>> round(fuse_face(0.2, 0.9, VideoFusionParams(face_fusion="logistic", face_coef=(0.0, 1.0, 0.0))), 6)
    0.9
    >>> fuse_face(0.2, None, VideoFusionParams(face_fusion="max"))
    0.2
    """
    if p_face is None or params.face_fusion == "none":
        return float(p_frame)
    if params.face_fusion == "max":
        return float(max(p_frame, p_face))
    a, b, c = params.face_coef  # type: ignore[misc]
    z = a * _logit(p_frame) + b * _logit(p_face) + c
    return float(1.0 / (1.0 + math.exp(-min(max(z, -60.0), 60.0))))


def hysteresis_segments(t_s: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray, *, high: float = 0.7,
                        low: float = 0.5, min_len_s: float = 0.5, max_gap_s: float = 0.5,
                        duration_s: float | None = None) -> list[Segment]:
    """Segments of frames whose probability rises to ``high`` and stays at or above ``low``.

    Parameters
    ----------
    t_s : the frames' times (seconds, increasing).
    p : their probabilities.
    high, low : the hysteresis thresholds (a segment needs one frame at ``high``; it runs while ``>= low``).
    min_len_s : segments shorter than this are dropped (a segment's length runs from its first frame to the
        time of the frame after its last, so one frame sampled at 2 fps lasts 0.5 s).
    max_gap_s : segments separated by less than this are merged.
    duration_s : the clip's duration (the end of a segment that runs to the last frame); default: the last
        time plus the median frame interval.

    Examples
    --------
    >>> t = [i * 0.5 for i in range(12)]
    >>> p = [.1, .1, .2, .8, .9, .6, .85, .2, .1, .1, .95, .1]
    >>> [s.to_dict() for s in hysteresis_segments(t, p, min_len_s=1.0)]
    [{'start_s': 1.5, 'end_s': 3.5, 'score': 0.7875}]
    """
    t = np.asarray(t_s, np.float64).ravel()
    a = np.asarray(p, np.float64).ravel()
    if t.shape != a.shape:
        raise UsageError(f"t_s and p differ in length ({t.size} vs {a.size})")
    if t.size == 0:
        return []
    if np.any(np.diff(t) < 0):
        raise UsageError("t_s must be increasing")
    if low > high:
        raise UsageError(f"low ({low}) must not exceed high ({high})")
    step = float(np.median(np.diff(t))) if t.size > 1 else 0.5
    end_all = float(duration_s) if duration_s is not None else float(t[-1] + step)
    ends = np.append(t[1:], max(end_all, float(t[-1])))
    a = np.where(np.isfinite(a), a, 0.0)
    runs: list[list[int]] = []
    i = 0
    n = a.size
    while i < n:
        if a[i] >= low:
            j = i
            while j + 1 < n and a[j + 1] >= low:
                j += 1
            if a[i:j + 1].max() >= high:
                runs.append([i, j])
            i = j + 1
        else:
            i += 1
    merged: list[list[int]] = []
    for r in runs:
        if merged and t[r[0]] - ends[merged[-1][1]] < max_gap_s - 1e-9:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    out = []
    for i, j in merged:
        start, end = float(t[i]), float(ends[j])
        if end - start + 1e-9 < min_len_s:
            continue
        out.append(Segment(start, end, float(a[i:j + 1].mean())))
    return out


def load_video_fusion(path: str | Path | None = None) -> VideoFusionParams:
    """The fitted video fusion (``weights/video.json``); the defaults when the file is absent."""
    p = Path(path or VIDEO_FUSION_FILE)
    try:
        st = p.stat()
    except FileNotFoundError:
        return VideoFusionParams()
    return _load(str(p), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> VideoFusionParams:
    p = Path(path)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        fields = VideoFusionParams.__dataclass_fields__
        return VideoFusionParams(**{k: v for k, v in d.get("params", d).items() if k in fields})
    except (json.JSONDecodeError, TypeError, UsageError) as e:
        raise WeightsError(f"video fusion file {path} is invalid: {e}") from e
