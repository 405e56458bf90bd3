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
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from ..errors import UsageError

__all__ = ["ClipSpec", "camera_motion", "make_clip", "encode_clip", "temporal_iou", "temporal_ap",
           "average_recall_at_k", "frame_labels", "ENCODINGS", "VARIANTS", "face_swap", "clip_specs", "build_clip", "score_clip",
           "evaluate_clips", "fit_video_fusion", "with_face_fusion", "fit_face_fusion", "EXACT_OPTIONS"]

#: name → (container suffix, codec, options): the encodings of the benchmark
ENCODINGS: dict[str, tuple[str, str, dict[str, str]]] = {
    "h264-crf18": (".mp4", "libx264", {"crf": "18", "preset": "veryfast"}),
    "h264-crf23": (".mp4", "libx264", {"crf": "23", "preset": "veryfast"}),
    "h264-crf35": (".mp4", "libx264", {"crf": "35", "preset": "veryfast"}),
    "vp9-crf40": (".webm", "libvpx-vp9", {"crf": "40", "b": "0", "deadline": "realtime", "cpu-used": "8"}),
    "ffv1": (".mkv", "ffv1", {}),
    "h264-qp0": (".mp4", "libx264", {"qp": "0", "preset": "ultrafast"}),
}

#: codec → options every clip is encoded with, so that the same frames give the same bytes on every run and
#: machine: one encoder thread (x264 and libvpx decide differently with another thread count), and x264's C
#: code (its AVX-512 code reads memory it never wrote: 480x360 face clips came out with different bytes from
#: one run of ``fakescope build video`` to the next, and even from one encode to the next in one process)
EXACT_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": {"threads": "1", "x264-params": "no-asm=1"},
    "libvpx-vp9": {"threads": "1"},
    "ffv1": {"threads": "1"},
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
    swap: bool = False  # the fake frames are the real photo with the fake's face blended in (face_swap)

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


def face_swap(real: np.ndarray, fake: np.ndarray) -> np.ndarray | None:
    """``real`` with the face of ``fake`` blended in (a simple face swap: the fake's face box, with a margin,
    resized onto the real one's and Poisson-blended through an elliptic mask, OpenCV's ``seamlessClone``).
    ``None`` when either image shows no frontal face (OpenCV's Haar cascade)."""
    import cv2

    from ..video import detect_faces

    rf, ff = detect_faces(real, max_faces=1), detect_faces(fake, max_faces=1)
    if not rf or not ff:
        return None
    x, y, w, h = rf[0]
    fx, fy, fw, fh = ff[0]
    H, W = real.shape[:2]
    # the fake's face, a little beyond its box, resized onto the real face's box
    mx, my = int(fw * 0.1), int(fh * 0.1)
    src = fake[max(0, fy - my):fy + fh + my, max(0, fx - mx):fx + fw + mx]
    bx0, by0 = max(0, x - int(w * 0.1)), max(0, y - int(h * 0.1))
    bx1, by1 = min(W, x + w + int(w * 0.1)), min(H, y + h + int(h * 0.1))
    src = cv2.resize(np.ascontiguousarray(src), (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_AREA)
    canvas = real.copy()
    canvas[by0:by1, bx0:bx1] = src
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(mask, (x + w // 2, y + h // 2), (int(w * 0.45), int(h * 0.55)), 0, 0, 360, 255, -1)
    mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0  # seamlessClone needs the mask inside the frame
    ys, xs = np.nonzero(mask)
    center = (int((xs.min() + xs.max() + 1) // 2), int((ys.min() + ys.max() + 1) // 2))
    out = cv2.seamlessClone(canvas, np.ascontiguousarray(real), mask, center, cv2.NORMAL_CLONE)
    return np.ascontiguousarray(out)


def encode_clip(frames: Sequence[np.ndarray], path: str | Path, *, encoding: str = "h264-crf23", fps: int = 10,
                size: tuple[int, int] | None = None) -> Path:
    """Write RGB frames as a video with one of :data:`ENCODINGS` (``size`` resizes first; the suffix of
    ``path`` is replaced by the encoding's container).  Bitwise reproducible: the same frames give the same
    file (:data:`EXACT_OPTIONS`)."""
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
        s = c.add_stream(codec, rate=fps, options={**opts, **EXACT_OPTIONS.get(codec, {})})
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


# --------------------------------------------------------------------------------------
# the protocol: clips from a dataset's items → scores through the video scan → metrics

#: the robustness variants: name → (encoding, resize to)
VARIANTS: dict[str, tuple[str, tuple[int, int] | None]] = {
    "h264-crf23": ("h264-crf23", None), "h264-crf35": ("h264-crf35", None),
    "vp9-crf40": ("vp9-crf40", None), "resize-320x180": ("h264-crf23", (320, 180)),
}


def clip_specs(reals: Sequence[str], fakes: Sequence[str], n: int, *, part: str, rng: np.random.Generator,
               frames: int = 60, fps: int = 10, swap: bool = False) -> list[ClipSpec]:
    """``n`` clips: one in three all real, one in six all fake, the rest with one fake segment of 1.2-3.0 s
    (at 10 fps) at a random position; photos drawn from ``reals``/``fakes`` in a random order."""
    if not reals or not fakes:
        raise UsageError(f"the {part} clips need real and fake images (got {len(reals)} real, {len(fakes)} fake)")
    reals, fakes = list(rng.permutation(list(reals))), list(rng.permutation(list(fakes)))
    out = []
    for i in range(n):
        kind = "real" if i % 3 == 0 else ("full" if i % 6 == 5 else "segment")
        motion = "pan" if rng.random() < 0.5 else "zoom"
        fake = None if kind == "real" else fakes[i % len(fakes)]
        if kind == "segment":
            lo = min(int(1.2 * fps), max(1, frames // 3))  # short clips: shorter segments
            hi = max(lo, min(int(3.0 * fps), frames - 1))
            length = int(rng.integers(lo, hi + 1))
            start = int(rng.integers(0, frames - length + 1))
            seg: tuple[int | None, int | None] = (start, start + length)
        elif kind == "full":
            seg = (0, frames)
        else:
            seg = (None, None)
        out.append(ClipSpec(f"{part}-{i:03d}-{kind}", str(reals[i % len(reals)]), fake and str(fake), seg[0], seg[1],
                            motion, frames, fps, swap))
    return out


def _rgb(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def build_clip(spec: ClipSpec, variant: str, folder: str | Path, *, seed: int,
               size: tuple[int, int] = (640, 360)) -> Path:
    """Write ``spec`` as ``variant`` (:data:`VARIANTS`) under ``folder/variant/`` (kept: built once)."""
    if variant not in VARIANTS:
        raise UsageError(f"unknown video variant {variant!r}; known: {', '.join(VARIANTS)}")
    enc, resize = VARIANTS[variant]
    d = Path(folder) / variant
    d.mkdir(parents=True, exist_ok=True)
    target = d / spec.name
    for suf in (".mp4", ".webm", ".mkv"):
        if target.with_suffix(suf).exists():
            return target.with_suffix(suf)
    rng = np.random.default_rng(seed)
    real = _rgb(spec.real)
    fake = _rgb(spec.fake) if spec.fake else None
    if spec.swap:
        real, fake = _face_framed(real, fake, spec)
    frames = make_clip(real, fake, n=spec.frames, start=spec.start, end=spec.end, size=size, kind=spec.motion,
                       rng=rng)
    return encode_clip(frames, target, encoding=enc, fps=spec.fps, size=resize)


SWAP_FRAME = 2.5  # a face-swap clip's photo: a square of this many face sides around the real face


def _face_framed(real: np.ndarray, fake: np.ndarray | None, spec: ClipSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """A face-swap clip's photos: the real one and (with a fake) the real one with the fake's face blended in
    (:func:`face_swap`), both cut to a square of :data:`SWAP_FRAME` face sides around the real face (as face
    datasets crop their photos: the face fills the clip's frames whatever the photo's size)."""
    from ..video import detect_faces

    if fake is not None:
        fake = face_swap(real, fake)
        if fake is None:
            raise UsageError(f"{spec.name}: no frontal face in {spec.real} or {spec.fake} to swap")
    boxes = detect_faces(real, max_faces=1)
    if not boxes:
        raise UsageError(f"{spec.name}: no frontal face in {spec.real}")
    x, y, w, h = boxes[0]
    H, W = real.shape[:2]
    side = min(H, W, int(max(w, h) * SWAP_FRAME))
    x0 = int(min(max(0, x + w // 2 - side // 2), W - side))
    y0 = int(min(max(0, y + h // 2 - side // 2), H - side))
    cut = (slice(y0, y0 + side), slice(x0, x0 + side))
    return (np.ascontiguousarray(real[cut]), None if fake is None else np.ascontiguousarray(fake[cut]))


def score_clip(scanner: Any, path: Path, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """The sampled frames' times and p_fake of a clip through :meth:`Scanner.scan_path` (cached as JSON)."""
    import json
    import time

    cache = Path(cache_dir) / (path.parent.name + "__" + path.name + ".json") if cache_dir is not None else None
    if cache is not None and cache.exists():
        return json.loads(cache.read_text())
    t0 = time.perf_counter()
    v = scanner.scan_path(str(path))
    if v.status != "ok":
        raise UsageError(f"{path}: {v.error}")
    d = {"t_s": [f["t_s"] for f in v.frames], "p": [f["p_fake"] for f in v.frames],
         "p_frame": [f.get("p_frame", f["p_fake"]) for f in v.frames],
         "p_face": [max((c["p_fake"] for c in f.get("faces", ())), default=None) for f in v.frames],
         "duration_s": v.duration_s,
         "decode_ms": v.video["decode_ms"], "analysis_ms": v.video["analysis_ms"],
         "elapsed_s": time.perf_counter() - t0}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(d))
    return d


def evaluate_clips(clips: Sequence[tuple[ClipSpec, Mapping[str, Any]]], params: Any) -> dict[str, Any]:
    """Video AUC (pooled score, clips with fake frames vs all-real clips), frame AUC, the video label's TPR and
    FPR at ``params.threshold``, temporal AP@0.5/0.75/0.95 and AR@1/2/5 of the hysteresis segments, on the
    frames' ``p`` as given (:func:`with_face_fusion` applies a face fusion first)."""
    from ..temporal import hysteresis_segments, topk_pool
    from .metrics import roc_auc

    y_vid, p_vid, y_fr, p_fr = [], [], [], []
    preds: dict[str, list[dict[str, float]]] = {}
    truth: dict[str, list[tuple[float, float]]] = {}
    for spec, d in clips:
        seg = spec.fake_segment_s
        y_vid.append(0 if seg is None else 1)
        p_vid.append(topk_pool(d["p"], topk_frac=params.topk_frac))
        gt = [seg] if seg else []
        y_fr += list(frame_labels(d["t_s"], gt))
        p_fr += list(d["p"])
        truth[spec.name] = gt
        preds[spec.name] = [s.to_dict() for s in hysteresis_segments(
            d["t_s"], d["p"], high=params.seg_high, low=params.seg_low, min_len_s=params.min_len_s,
            max_gap_s=params.max_gap_s, duration_s=d["duration_s"])]
    yv, pv = np.array(y_vid), np.array(p_vid)
    flagged = pv >= params.threshold
    out: dict[str, Any] = {
        "clips": len(clips), "video_auc": roc_auc(y_vid, p_vid), "frame_auc": roc_auc(y_fr, p_fr),
        "video_tpr": float(flagged[yv == 1].mean()) if (yv == 1).any() else float("nan"),
        "video_fpr": float(flagged[yv == 0].mean()) if (yv == 0).any() else float("nan")}
    for iou in (0.5, 0.75, 0.95):
        out[f"ap@{iou}"] = temporal_ap(preds, truth, iou=iou)
    for k in (1, 2, 5):
        out[f"ar@{k}"] = average_recall_at_k(preds, truth, k=k)
    return out


def with_face_fusion(clips: Sequence[tuple[ClipSpec, Mapping[str, Any]]],
                     params: Any) -> list[tuple[ClipSpec, dict[str, Any]]]:
    """The clips with each frame's ``p`` recomputed from its whole frame's (``p_frame``) and its highest face
    crop's (``p_face``) probability by ``params``' face fusion (:func:`fakescope.temporal.fuse_face`)."""
    from ..temporal import fuse_face

    out = []
    for spec, d in clips:
        pf = d.get("p_frame") or d["p"]
        faces = d.get("p_face") or [None] * len(pf)
        out.append((spec, dict(d, p=[fuse_face(a, b, params) for a, b in zip(pf, faces)])))
    return out


def _face_features(clips: Sequence[tuple[ClipSpec, Mapping[str, Any]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames with a face crop: (logit p_frame, logit p_face), their labels, and their clip's index."""
    x, y, g = [], [], []
    for ci, (spec, d) in enumerate(clips):
        seg = spec.fake_segment_s
        lab = frame_labels(d["t_s"], [seg] if seg else [])
        for j, (pf, pc) in enumerate(zip(d.get("p_frame") or d["p"], d.get("p_face") or [None] * len(d["p"]))):
            if pc is None:
                continue
            q = np.clip([pf, pc], 1e-6, 1 - 1e-6)
            x.append(np.log(q / (1 - q)))
            y.append(int(lab[j]))
            g.append(ci)
    return np.array(x, np.float64).reshape(-1, 2), np.array(y, np.int64), np.array(g, np.int64)


def fit_face_fusion(clips: Sequence[tuple[ClipSpec, Mapping[str, Any]]], *,
                    families: Mapping[str, Sequence[int]] | None = None,
                    l2: float = 1e-2) -> tuple[Any, dict[str, Any]]:
    """Choose the face fusion (:data:`fakescope.temporal.FACE_FUSIONS`) on calibration clips scanned with face
    crops (``p_frame``, ``p_face``).

    ``"logistic"`` is fitted (:func:`fakescope.fitting.fit_logistic`) on the frames with a face crop and judged
    by its leave-one-clip-out predictions (a clip's frames are scored by the model fitted without it).  Each
    candidate's frame AUC is measured over all frames of each clip family (``families``: name → clip indices,
    e.g. photo clips and face clips; default one family); the choice is the best mean over the families
    (ties: the simpler fusion, in the order none, max, logistic).  Returns the parameters (a
    :class:`~fakescope.temporal.VideoFusionParams` with only the face fusion set) and the table of the choice.
    """
    from ..fitting import fit_logistic
    from ..temporal import VideoFusionParams
    from .metrics import roc_auc

    fams = dict(families or {"all": list(range(len(clips)))})
    x, y, g = _face_features(clips)
    coef = None
    loo: dict[tuple[int, int], float] = {}
    if x.shape[0] >= 4 and len(set(y.tolist())) == 2:
        w, b = fit_logistic(x, y, l2=l2)
        coef = (float(w[0]), float(w[1]), float(b))
        for ci in sorted(set(g.tolist())):
            tr = g != ci
            if len(set(y[tr].tolist())) < 2:
                wi, bi = w, b
            else:
                wi, bi = fit_logistic(x[tr], y[tr], l2=l2)
            idx = np.nonzero(g == ci)[0]
            z = x[idx] @ wi + bi
            for k, zz in zip(idx, z):
                loo[(ci, int(k))] = float(1 / (1 + np.exp(-np.clip(zz, -60, 60))))
    # each face frame's row in x: (clip, frame index) → row
    pos = {}
    k = 0
    for ci, (_, d) in enumerate(clips):
        for j, pc in enumerate(d.get("p_face") or [None] * len(d["p"])):
            if pc is not None:
                pos[(ci, j)] = k
                k += 1

    def frames_of(name: str, members: Sequence[int]) -> tuple[list[int], list[float]]:
        ys, ps = [], []
        for ci in members:
            spec, d = clips[ci]
            seg = spec.fake_segment_s
            lab = frame_labels(d["t_s"], [seg] if seg else [])
            pf = d.get("p_frame") or d["p"]
            pcs = d.get("p_face") or [None] * len(pf)
            for j, (a, c) in enumerate(zip(pf, pcs)):
                ys.append(int(lab[j]))
                if c is None or name == "none":
                    ps.append(float(a))
                elif name == "max":
                    ps.append(float(max(a, c)))
                else:
                    ps.append(loo[(ci, pos[(ci, j)])])
        return ys, ps

    table: dict[str, Any] = {"face_frames": int(x.shape[0]), "face_frames_fake": int(y.sum()) if y.size else 0,
                             "candidates": {}}
    best = None
    for name in ("none", "max", "logistic"):
        if name == "logistic" and coef is None:
            continue
        aucs = {}
        for fam, idx in fams.items():
            ys, ps = frames_of(name, idx)
            aucs[fam] = roc_auc(ys, ps) if len(set(ys)) == 2 else float("nan")
        vals = [v for v in aucs.values() if v == v]
        mean = float(np.mean(vals)) if vals else float("nan")
        table["candidates"][name] = {"frame_auc": {k: round(v, 4) for k, v in aucs.items()}, "mean": round(mean, 4),
                                     "worst": round(float(min(vals)), 4) if vals else None}
        if best is None or mean > best[0] + 1e-4:
            best = (mean, name)
    assert best is not None
    table["chosen"] = best[1]
    if coef is not None:
        table["logistic_coef"] = [round(c, 6) for c in coef]
    params = VideoFusionParams(face_fusion=best[1], face_coef=coef if best[1] == "logistic" else None)
    return params, table


def fit_video_fusion(clips: Sequence[tuple[ClipSpec, Mapping[str, Any]]], *, fpr: float = 0.05,
                     describe: str = "", face: Any = None) -> Any:
    """Choose the video fusion on calibration clips: the top-k share by video AUC, the hysteresis by temporal
    AP@0.5 (ties: the mean of AP@0.5 and AP@0.75), the threshold so that at most ``fpr`` of the real clips
    (with few clips: none) are flagged, the real threshold at the 10th percentile of the fake clips' scores.
    ``face``: the face fusion (:func:`fit_face_fusion`), applied to the clips' frames first and kept in the
    result."""
    from ..temporal import VideoFusionParams, topk_pool

    face = face or VideoFusionParams()
    clips = with_face_fusion(clips, face)

    best: tuple[float, float] | None = None
    for frac in (0.1, 0.25, 0.5, 1.0):
        auc = evaluate_clips(clips, VideoFusionParams(topk_frac=frac))["video_auc"]
        if best is None or auc > best[0] + 1e-9:
            best = (auc, frac)
    assert best is not None
    frac = best[1]
    pooled = np.array([topk_pool(d["p"], topk_frac=frac) for _, d in clips])
    is_real = np.array([s.fake_segment_s is None for s, _ in clips])
    real_scores, fake_scores = np.sort(pooled[is_real]), np.sort(pooled[~is_real])
    k = int(np.floor(fpr * real_scores.size))
    thr = float(min(0.999, real_scores[-1 - k] + 1e-3)) if real_scores.size else 0.5
    thr = max(thr, 0.05)
    real_thr = float(min(thr, np.quantile(fake_scores, 0.10))) if fake_scores.size else thr
    best_seg = None
    for high in (0.5, 0.6, 0.7, 0.8, 0.9):
        for low in (0.2, 0.3, 0.5, 0.7):
            if low > high:
                continue
            for min_len in (0.5, 1.0):
                r = evaluate_clips(clips, VideoFusionParams(topk_frac=frac, seg_high=high, seg_low=low,
                                                            min_len_s=min_len))
                key = (r["ap@0.5"], (r["ap@0.5"] + r["ap@0.75"]) / 2)
                if best_seg is None or key > best_seg[0]:
                    best_seg = (key, high, low, min_len)
    assert best_seg is not None
    _, high, low, min_len = best_seg
    return VideoFusionParams(topk_frac=frac, threshold=round(thr, 6), real_threshold=round(real_thr, 6), seg_high=high,
                             seg_low=low, min_len_s=min_len, max_gap_s=0.5, face_fusion=face.face_fusion,
                             face_coef=face.face_coef, operating_fpr=fpr,
                             fitted_on=describe or f"{len(clips)} calibration clips ({int(is_real.sum())} real)")


def _register() -> None:
    from .runner import PROTOCOLS, ProtocolResult, Table

    if "video" in PROTOCOLS.names():
        return

    @PROTOCOLS.register("video")
    def video(ctx: Any) -> "ProtocolResult":
        """Video: clips built from the items (pan/zoom over real photos, fake segments cut in), scanned through
        the video path; video AUC, frame AUC, temporal AP@IoU and AR@k, per encoding variant.

        Config keys (under ``video``): ``calibration_clips`` (from items of split ``calibration``; 0: use the
        shipped video fusion), ``test_clips`` (split ``test`` reals, ``test``/``wild`` fakes), ``seconds``,
        ``fps``, ``size`` [w, h], ``sample_fps``, ``variants`` (:data:`VARIANTS`), ``fpr``.
        """
        from ..io.video import Sampling
        from ..pipeline import Scanner
        from ..temporal import load_video_fusion
        from ..video import VideoOptions

        vc = dict(ctx.config.get("video") or {})
        fps = int(vc.get("fps", 10))
        frames = int(round(float(vc.get("seconds", 6)) * fps))
        size = tuple(int(x) for x in vc.get("size", (640, 360)))
        variants = list(vc.get("variants", list(VARIANTS)))
        base = Path(ctx.engine.cache.path).parent if getattr(ctx.engine.cache, "path", None) else Path(".")
        clip_dir, cache_dir = base / "video-clips", base / "video-scores"
        usable = [it for it in ctx.items if it.source != "cifake"]  # 32-px images make no video frame

        def pick(splits: Sequence[str], label: int) -> list[str]:
            return sorted(str(it.path) for it in usable if it.label == label and (it.split in splits or it.split is None))

        scanner = Scanner(list(ctx.detectors) if ctx.config.get("detectors") else None,
                          video=VideoOptions(sampling=Sampling(fps=float(vc.get("sample_fps", 2))), faces=False))
        n_cal = int(vc.get("calibration_clips", 0))
        cal: list[tuple[ClipSpec, Mapping[str, Any]]] = []
        if n_cal:
            specs = clip_specs(pick(["calibration"], 0), pick(["calibration"], 1), n_cal, part="calibration",
                               rng=ctx.rng("video", "calibration"), frames=frames, fps=fps)
            cal = [(s, score_clip(scanner, build_clip(s, "h264-crf23", clip_dir, seed=1000 + i, size=size), cache_dir))
                   for i, s in enumerate(specs)]
            params = fit_video_fusion(cal, fpr=float(vc.get("fpr", 0.05)),
                                      describe=f"{n_cal} calibration clips of this run")
        else:
            params = load_video_fusion()
        specs = clip_specs(pick(["test"], 0), pick(["test", "wild"], 1), int(vc.get("test_clips", 24)), part="test",
                           rng=ctx.rng("video", "test"), frames=frames, fps=fps)
        results: dict[str, Any] = {"params": params.to_dict()}
        if cal:
            results["calibration"] = evaluate_clips(cal, params)
        rows = []
        for v in variants:
            clips = [(s, score_clip(scanner, build_clip(s, v, clip_dir, seed=5000 + i, size=size), cache_dir))
                     for i, s in enumerate(specs)]
            r = results[v] = evaluate_clips(clips, params)
            rows.append([v, r["clips"]] + [None if r[k] != r[k] else round(r[k], 4) for k in _COLS])
        if cal:
            r = results["calibration"]
            rows.insert(0, ["calibration (fit)", r["clips"]] + [None if r[k] != r[k] else round(r[k], 4)
                                                                 for k in _COLS])
        table = Table("video", "Video detection and temporal localization per encoding", ["clips", "n"] + list(_COLS),
                      rows, note="AP at temporal IoU and AR@k averaged over IoU 0.5:0.05:0.95 (ForgeryNet).")
        notes = [f"{frames / fps:g} s clips at {fps} fps, {size[0]}x{size[1]}, sampled at "
                 f"{float(vc.get('sample_fps', 2)):g} frames/s; video fusion: {params.fitted_on}."]
        return ProtocolResult(results=results, tables=[table], notes=notes)


_COLS = ("video_auc", "frame_auc", "video_tpr", "video_fpr", "ap@0.5", "ap@0.75", "ap@0.95", "ar@1", "ar@2", "ar@5")
