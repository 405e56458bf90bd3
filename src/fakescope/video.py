"""The scan of a video: decode → evidence per frame (the image flow) → fusion in time → one verdict.

Each sampled frame goes through the same :class:`~fakescope.pipeline.Scanner` analysis as an image, at the
stream's native resolution (:meth:`Scanner.scan_sample`: the same detectors, calibration and fusion), so a
frame scores what the same pixels score as an image file.  Faces found by OpenCV's Haar cascade (the frontal
face detector DeepfakeBench and ForgeryNet crop with) are scanned as crops too: aligned on the eye line,
squared with a margin and resized to the detectors' input side (:func:`face_crop`); the highest crop's
probability joins the frame's by the video fusion's face fusion (:func:`fakescope.temporal.fuse_face`, chosen
and fitted by ``fakescope build video`` on calibration clips).
Provenance is read once, from the container: C2PA in MP4/MOV (BMFF), and the container's and encoder's
metadata (generator services' tags).  :mod:`fakescope.temporal` turns the frame probabilities into the clip's
``p_fake`` (top-k pooling) and its segments (hysteresis).
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .io.video import Sampling, Video, VideoFrame, VideoLimits, VideoReader, open_video
from .temporal import VideoFusionParams, fuse_face, hysteresis_segments, load_video_fusion, topk_pool
from .types import Evidence, ImageMetadata, Sample, Verdict

if TYPE_CHECKING:
    from .pipeline import Scanner

__all__ = ["VideoOptions", "scan_video", "frame_sample", "detect_faces", "face_crop", "container_sample",
           "provenance_of_file"]

MAX_FACES_PER_FRAME = 2
FACE_MARGIN = 1.3  # crop side / detected box side (DeepfakeBench and ForgeryNet crop with a margin)
MIN_FACE_CROP = 64  # smaller crops are not scanned (the detectors see too little)
FACE_INPUT = 224  # crops are resized to the backbones' input side (fakescope.backbones.INPUT_SIZE)
MAX_ROLL_DEG = 30.0  # an eye line steeper than this is taken for a misdetection: no rotation


@dataclass(frozen=True)
class VideoOptions:
    """How videos are scanned.

    Parameters
    ----------
    sampling : which frames are analysed (default 2 frames per second).
    limits : decoding limits (duration, frame size, frames).
    faces : also scan face crops (OpenCV Haar cascade) of every sampled frame.
    fusion : the video fusion's parameters (default: ``weights/video.json``).
    """

    sampling: Sampling = field(default_factory=Sampling)
    limits: VideoLimits = field(default_factory=VideoLimits)
    faces: bool = True
    fusion: VideoFusionParams | None = None

    def params(self) -> VideoFusionParams:
        return self.fusion or load_video_fusion()


def frame_sample(video: Video, index: int) -> Sample:
    """Sampled frame ``index`` of ``video`` as a :class:`~fakescope.types.Sample` (no raw bytes: provenance is
    read from the container once, not per frame)."""
    return _frame_sample(video.path, video.info.format, video.frames[index])


def _frame_sample(path: str, fmt: str, fr: VideoFrame) -> Sample:
    img = fr.image
    h, w = img.shape[:2]
    sha = hashlib.sha256(img.tobytes()).hexdigest()
    meta = ImageMetadata(format=f"{fmt}-FRAME", width=w, height=h, mode="RGB")
    return Sample(path=f"{path}#t={fr.t_s:.3f}", sha256=sha, data=b"", image=img, metadata=meta)


_cascade = None


def detect_faces(image: np.ndarray, *, max_faces: int = MAX_FACES_PER_FRAME) -> list[tuple[int, int, int, int]]:
    """Frontal faces in an RGB image as ``(x, y, w, h)`` boxes (largest first), by OpenCV's Haar cascade
    run on a copy at most 480 px high."""
    global _cascade
    import cv2

    if _cascade is None:
        _cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    h, w = image.shape[:2]
    scale = min(1.0, 480.0 / h)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        grey = cv2.resize(grey, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    found = _cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(32, 32))
    boxes = [(int(x / scale), int(y / scale), int(bw / scale), int(bh / scale)) for x, y, bw, bh in found]
    # largest first; equal areas by position (OpenCV's threads may hand them over in any order)
    boxes.sort(key=lambda b: (-b[2] * b[3], b[1], b[0], b[2], b[3]))
    return boxes[:max_faces]


_eye_cascade = None


def _eye_pair(image: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether OpenCV's Haar eye cascade finds a pair of eyes in the upper half of the face ``box``."""
    import cv2

    return _eye_angle(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), box, pair_only=True) is not None


def _eye_angle(grey: np.ndarray, box: tuple[int, int, int, int], *, pair_only: bool = False) -> float | None:
    """The roll of a face (degrees, the eye line's angle) from OpenCV's Haar eye cascade in the upper half of its
    box; 0 when two eyes are not found, or their line is implausible (``pair_only``: ``None`` then)."""
    global _eye_cascade
    import cv2

    if _eye_cascade is None:
        _eye_cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")
    x, y, w, h = box
    upper = grey[max(0, y):max(0, y) + h // 2 + 1, max(0, x):max(0, x) + w]
    none = None if pair_only else 0.0
    if upper.size == 0 or min(upper.shape) < 20:
        return none
    m = max(1, w // 12)
    eyes = _eye_cascade.detectMultiScale(upper, scaleFactor=1.1, minNeighbors=5, minSize=(m, m))
    if len(eyes) < 2:
        return none
    eyes = sorted(eyes, key=lambda e: e[2] * e[3], reverse=True)[:2]
    (ax, ay, aw, ah), (bx, by, bw, bh) = sorted(eyes, key=lambda e: e[0])
    c1 = (ax + aw / 2.0, ay + ah / 2.0)
    c2 = (bx + bw / 2.0, by + bh / 2.0)
    dx, dy = c2[0] - c1[0], c2[1] - c1[1]
    if dx < w * 0.2:  # overlapping or stacked detections: not a pair of eyes
        return none
    ang = float(np.degrees(np.arctan2(dy, dx)))
    return ang if abs(ang) <= MAX_ROLL_DEG else none


def face_crop(image: np.ndarray, box: tuple[int, int, int, int], *, size: int = FACE_INPUT,
              align: bool = True) -> np.ndarray | None:
    """The face in ``box`` (x, y, w, h) as the image detectors expect it: rotated so its eyes are level (Haar
    eye cascade; no rotation when two eyes are not found), a square of ``FACE_MARGIN`` times the box's side
    around its centre (the image's edge reflected where the square leaves it), resized to ``size`` square
    (area filter down, bicubic up).  ``None`` for faces under ``MIN_FACE_CROP`` pixels."""
    import cv2

    x, y, w, h = (int(v) for v in box)
    if max(w, h) < MIN_FACE_CROP:
        return None
    side = int(round(max(w, h) * FACE_MARGIN))
    cx, cy = x + w / 2.0, y + h / 2.0
    angle = 0.0
    if align:
        angle = _eye_angle(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (x, y, w, h)) or 0.0
    # the affine map taking the rotated square around the face to a size x size crop
    m = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    m[0, 2] += size / 2.0 - cx
    m[1, 2] += size / 2.0 - cy
    interp = cv2.INTER_AREA if side > size and angle == 0.0 else cv2.INTER_CUBIC
    out = cv2.warpAffine(image, m, (size, size), flags=interp, borderMode=cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(out)


def scan_video(scanner: "Scanner", source: str | bytes | Video, *, options: VideoOptions | None = None,
               name: str | None = None, t0: float | None = None) -> Verdict:
    """Scan a video (a path, its bytes, or a decoded :class:`~fakescope.io.video.Video`) into one verdict.

    Decoding errors propagate as :class:`~fakescope.errors.DecodeError` (the Scanner turns them into
    error verdicts)."""
    t0 = time.perf_counter() if t0 is None else t0
    options = options or VideoOptions()
    reader: VideoReader | None = None
    if isinstance(source, Video):
        stream: Any = source.frames
    elif isinstance(source, bytes):
        stream = reader = VideoReader(source, path=name or "<upload>", limits=options.limits,
                                      sampling=options.sampling)
    else:
        stream = reader = open_video(source, limits=options.limits, sampling=options.sampling)
    params = options.params()
    frame_scanner = copy.copy(scanner)
    frame_scanner.provenance = False  # read once, from the container

    frames: list[dict[str, Any]] = []
    p_frames: list[float] = []
    face_ps: list[float] = []
    fused_frames = 0
    detectors: set[str] = set()
    first: np.ndarray | None = None
    analysis_s = 0.0
    path = source.path if isinstance(source, Video) else reader.path  # type: ignore[union-attr]
    fmt = source.info.format if isinstance(source, Video) else reader.format  # type: ignore[union-attr]
    for fr in stream:  # one frame decoded at a time: a long clip is never held in memory
        t_an = time.perf_counter()
        if first is None:
            first = fr.image
        v = frame_scanner.scan_sample(_frame_sample(path, fmt, fr))
        p_whole = float(v.p_fake if v.p_fake is not None else 0.5)
        detectors.update(e.source for e in v.evidence if e.kind == "detector")
        rec: dict[str, Any] = {"t_s": round(fr.t_s, 3), "p_fake": round(p_whole, 6), "index": fr.index}
        if fr.keyframe:
            rec["keyframe"] = True
        faces = []
        if options.faces:
            for box in detect_faces(fr.image):
                crop = face_crop(fr.image, box)
                if crop is None:
                    continue
                fs = Sample(path=f"{path}#t={fr.t_s:.3f}&face", sha256=hashlib.sha256(crop.tobytes()).hexdigest(),
                            data=b"", image=crop, metadata=ImageMetadata(f"{fmt}-FRAME", crop.shape[1],
                                                                        crop.shape[0], "RGB"))
                fp = float(frame_scanner.scan_sample(fs).p_fake or 0.5)
                face_ps.append(fp)
                faces.append({"box": list(box), "p_fake": round(fp, 6)})
            if faces:
                rec["faces"] = faces
        p = fuse_face(p_whole, max(f["p_fake"] for f in faces) if faces else None, params)
        if faces and params.face_fusion != "none":
            rec["p_frame"] = rec["p_fake"]
            rec["p_fake"] = round(p, 6)
            fused_frames += 1
        p_frames.append(p)
        frames.append(rec)
        analysis_s += time.perf_counter() - t_an
    video = source if isinstance(source, Video) else reader.video()  # type: ignore[union-attr]

    t = np.array([f["t_s"] for f in frames], np.float64)
    duration = video.duration_s
    pooled = topk_pool(p_frames, topk_frac=params.topk_frac)
    segments = hysteresis_segments(t, p_frames, high=params.seg_high, low=params.seg_low,
                                   min_len_s=params.min_len_s, max_gap_s=params.max_gap_s,
                                   duration_s=duration) if frames else []

    evidence: list[Evidence] = []
    n = len(p_frames)
    k = max(1, int(np.ceil(params.topk_frac * n - 1e-9))) if n else 0
    evidence.append(Evidence(
        source="frames", kind="detector", score=pooled, weight="pixel",
        summary=(f"{n} frames sampled ({video.sampling.describe()}) through {', '.join(sorted(detectors)) or 'the detectors'}: "
                 f"mean of the {k} highest frame probabilities {pooled:.2f}"
                 + (f" (max {max(p_frames):.2f}, median {float(np.median(p_frames)):.2f})" if p_frames else "")),
        details={"frames": n, "topk": k, "topk_frac": params.topk_frac, "detectors": sorted(detectors),
                 "max": round(max(p_frames), 6) if p_frames else None,
                 "median": round(float(np.median(p_frames)), 6) if p_frames else None}))
    if face_ps:
        fused = params.face_fusion != "none"
        how = {"max": "each frame takes the higher of its whole frame's and its face crops' p_fake",
               "logistic": "each frame's p_fake joins its whole frame's and its highest face crop's by the "
                           "fitted face fusion",
               "none": "reported, not fused: the face fusion fitted on calibration clips kept whole frames"}
        evidence.append(Evidence(
            source="faces", kind="detector", score=float(max(face_ps)), weight="pixel" if fused else "none",
            summary=(f"{len(face_ps)} face crops in {sum(1 for f in frames if 'faces' in f)} frames: highest p_fake "
                     f"{max(face_ps):.2f}, mean {float(np.mean(face_ps)):.2f} ({how[params.face_fusion]})"),
            details={"crops": len(face_ps), "max": round(max(face_ps), 6), "mean": round(float(np.mean(face_ps)), 6),
                     "face_fusion": params.face_fusion, "fused_frames": fused_frames}))
    if segments:
        evidence.append(Evidence(
            source="temporal", kind="localization", score=max(s.score for s in segments), weight="none",
            summary=_segments_words(segments) + " look generated",
            details={"segments": [s.to_dict() for s in segments], "high": params.seg_high, "low": params.seg_low,
                     "min_len_s": params.min_len_s}))
    evidence.append(_container_evidence(video))
    prov: list[Evidence] = []
    if scanner.provenance:
        prov = _provenance(scanner, video, first)
        evidence.extend(prov)

    strong = [e for e in prov if e.weight == "strong"]
    generator = None
    if strong:  # verifiable provenance decides, in the one place it is decided for images
        d = scanner.fuser.decide(strong, {})
        p_fake, label, generator = d.p_fake, d.label, d.generator
        explanation = d.explanation.rstrip(".") + f"; the frames say {pooled:.2f} ({_frames_words(segments)})."
    else:
        p_fake = pooled
        real_thr = _real_threshold(scanner, params, video)
        if pooled >= params.threshold:
            label = "ai-generated"
        elif pooled < real_thr and not segments:
            label = "real"
        else:
            label = "inconclusive"
        explanation = _explain(label, pooled, params, segments, n, real_thr)

    info = video.info
    meta = info.to_dict()
    meta.update(decoded_frames=video.decoded_frames, sampled_frames=n, sampling=video.sampling.describe(),
                variable_frame_rate=video.variable_frame_rate, decode_ms=round(video.decode_s * 1000, 1),
                analysis_ms=round(analysis_s * 1000, 1), fusion=params.fitted_on,
                topk_frac=params.topk_frac, faces=options.faces, face_fusion=params.face_fusion)
    return Verdict(
        path=video.path, status="ok", sha256=video.sha256, p_fake=p_fake, label=label,
        threshold=params.threshold, operating_fpr=params.operating_fpr, generator=generator,
        evidence=tuple(evidence), explanation=explanation, elapsed_ms=(time.perf_counter() - t0) * 1000.0,
        width=info.width, height=info.height, format=info.format, media="video", duration_s=duration,
        fps=info.fps, segments=tuple(s.to_dict() for s in segments), frames=tuple(frames), video=meta)


def _segments_words(segments: list) -> str:
    parts = [f"{s.start_s:.1f}-{s.end_s:.1f} s" for s in segments[:4]]
    more = f" and {len(segments) - 4} more" if len(segments) > 4 else ""
    return "frames " + ", ".join(parts) + more


def _frames_words(segments: list) -> str:
    return _segments_words(segments) + " look generated" if segments else "no stretch of frames looks generated"


def _real_threshold(scanner: "Scanner", params: VideoFusionParams, video: Video) -> float:
    """The clip is called real only below both the video fusion's real threshold and the image fusion's for
    frames of this size (a frame the image flow would not call real never makes its clip real: fakes of
    generators the detectors never saw score low too, :func:`fakescope.fusion.real_rule`)."""
    try:
        op = scanner.fuser.operating_point_for(min(video.info.width, video.info.height) or None, "other")
        return float(min(params.real_threshold, op.real_threshold))
    except Exception:  # noqa: BLE001 - a fuser without operating points: the video fusion's own
        return float(params.real_threshold)


def _explain(label: str, pooled: float, params: VideoFusionParams, segments: list, n: int, real_thr: float) -> str:
    how = f"the mean of the top {params.topk_frac:.0%} of {n} sampled frame probabilities is {pooled:.2f}"
    if label == "ai-generated":
        head = (_segments_words(segments).capitalize() + " look generated" if segments
                else "The clip's frames look generated")
        return f"{head}: {how}, at or above the video threshold {params.threshold:.2f}."
    if label == "real":
        return (f"No stretch of frames looks generated: {how}, below the real threshold {real_thr:.2g}. A low score is "
                "not proof: generators the detectors never saw score low too.")
    if segments:
        return (f"{_segments_words(segments).capitalize()} look generated, but the clip as a whole is not conclusive: "
                f"{how} (ai-generated at {params.threshold:.2f}).")
    if real_thr <= 0.0:
        return (f"Inconclusive: {how}, below the ai-generated threshold {params.threshold:.2f}, but for these "
                "detectors frames never say real: no held-out rule kept the fakes of generators they never saw "
                "out of 'real' (see the image fusion's explanation for a frame).")
    return f"Inconclusive: {how}, between the real ({real_thr:.2g}) and ai-generated " \
           f"({params.threshold:.2f}) thresholds."


def _container_evidence(video: Video) -> Evidence:
    i = video.info
    bits = [f"{i.format} ({i.container.split(',')[0]}), {i.codec} {i.width}x{i.height}"]
    if i.fps:
        bits.append(f"{i.fps:.3g} fps" + (" (variable)" if video.variable_frame_rate else ""))
    if i.duration_s:
        bits.append(f"{i.duration_s:.1f} s")
    if i.rotation:
        bits.append(f"rotated {i.rotation}°")
    bits.append(f"audio {i.audio_codec}" if i.has_audio else "no audio")
    if i.encoder:
        bits.append(f"encoder {i.encoder}")
    return Evidence(source="container", kind="provenance", score=0.5, weight="none",
                    summary="Container: " + ", ".join(bits) + ".",
                    details={"tags": dict(list(i.tags.items())[:40]), "codec": i.codec, "encoder": i.encoder,
                             "has_audio": i.has_audio})


def container_sample(path: str, sha256: str, data: bytes, info: Any, first: np.ndarray | None = None) -> Sample:
    """The container of a video as a :class:`~fakescope.types.Sample` for the provenance analyzers: the raw bytes
    (C2PA in MP4/MOV), the container's and stream's tags as text metadata (generator services' names), and the
    first frame's pixels when given (nothing reads them: lossy video frames cannot hold the image watermarks)."""
    if first is None:
        first = np.zeros((1, 1, 3), np.uint8)
    meta = ImageMetadata(format=info.format, width=info.width, height=info.height, mode="RGB",
                         frames=max(1, int(info.frames_declared or 1)), text=dict(info.tags))
    return Sample(path=path, sha256=sha256, data=data, image=first, metadata=meta)


def provenance_of_file(path: str, options: Any = None, *, data: bytes | None = None) -> dict[str, Any]:
    """``fakescope provenance`` for a video file: :func:`fakescope.provenance.provenance_report` of its container
    (C2PA, generator tags), without the watermark check, plus a ``video`` section (container metadata).
    Only the container's header is read; no frame is decoded.  ``data``: the file's bytes, already read."""
    from dataclasses import replace

    from .io.video import open_video
    from .provenance import ProvenanceOptions, provenance_report

    reader = open_video(path, sampling=Sampling("keyframes")) if data is None else \
        VideoReader(data, path=path, sampling=Sampling("keyframes"))
    try:
        sample = container_sample(reader.path, reader.sha256, reader.data, reader.info)
    finally:
        reader.close()
    rep = provenance_report(sample, replace(options or ProvenanceOptions(), watermark=False))
    rep["video"] = reader.info.to_dict()
    return rep


def _provenance(scanner: "Scanner", video: Video, first: np.ndarray | None) -> list[Evidence]:
    """C2PA (MP4/MOV) and generator-service tags of the container, through the image provenance analyzers:
    the container's tags are given as text metadata; no watermark check (lossy video frames cannot hold
    the image watermarks)."""
    from dataclasses import replace

    from .provenance import ProvenanceOptions, analyze_provenance

    sample = container_sample(video.path, video.sha256, video.data, video.info, first)
    opts = replace(scanner.provenance_options or ProvenanceOptions(), watermark=False)
    return analyze_provenance(sample, opts)
