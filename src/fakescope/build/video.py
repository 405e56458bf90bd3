"""The ``video`` build step: fit the video fusion (``weights/video.json``) on calibration clips.

Recipe (:data:`RECIPE`): :data:`CLIPS` clips made by :mod:`fakescope.benchmark.video` from the frozen
split's ``calibration`` rows outside CIFAKE — a camera pan or zoom over a real photo, one clip in
three all real, one in six all fake, the rest with one fake segment (frames of a fake image) at a
random position — 640×360, 6 s at 10 fps, H.264 CRF 23, every draw seeded; plus :data:`FACE_CLIPS`
face-swap clips (480×360) from the train and calibration rows where OpenCV's Haar cascade finds a
frontal face with two eyes (the calibration rows alone hold no real photo of a face):
the fake frames show the real photo with the fake's face blended in
(:func:`fakescope.benchmark.video.face_swap`).  Each clip is scored through the scan
(:meth:`fakescope.pipeline.Scanner.scan_path`: 2 sampled frames/s, with face crops, whole frames and
face crops recorded apart); :func:`fakescope.benchmark.video.fit_face_fusion` chooses how a frame's face
crops join it (none, max, or a logistic model judged leave-one-clip-out; by the mean frame AUC of the
photo clips and the face clips), then :func:`fakescope.benchmark.video.fit_video_fusion` chooses the
top-k share, the thresholds (no calibration real clip flagged) and the hysteresis on the fused frames.
The test clips of ``bench/video.py`` (test and wild rows) never enter the choice.

Clips and scores live under ``$FAKESCOPE_CACHE/build/video-<fingerprint>`` (rebuilt when an input
changes).
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["RECIPE", "CLIPS", "FACE_CLIPS", "FPS", "FRAMES", "SIZE", "FACE_SIZE", "split_rows", "clip_specs_for",
           "face_clip_specs_for", "build_video"]

Log = Callable[[str], None]

CLIPS = 48
FACE_CLIPS = 24
FPS, FRAMES, SIZE = 10, 60, (640, 360)
FACE_SIZE = (480, 360)
RECIPE: dict[str, Any] = {"clips": CLIPS, "fps": FPS, "frames": FRAMES, "size": list(SIZE), "encoding": "h264-crf23",
                          "spec_seed": 2026, "clip_seed": 1000, "sampling": "2 frames/s", "faces": True,
                          "face_clips": FACE_CLIPS, "face_size": list(FACE_SIZE), "face_spec_seed": 2029,
                          "face_clip_seed": 3000, "face_fusion_l2": 1e-2, "operating_fpr": 0.05}


def split_rows(root: str | os.PathLike[str] | None = None) -> list[dict[str, str]]:
    """The frozen split manifest's rows outside CIFAKE, ``path`` made absolute under the data root."""
    from ..io.splits import SPLIT_FILE, data_root

    base = data_root(root)
    with open(SPLIT_FILE, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["source"] != "cifake"]
    return [dict(r, path=str(base / r["path"])) for r in rows]


def clip_specs_for(n: int, part: str, rng: np.random.Generator, root: str | os.PathLike[str] | None = None) -> list[Any]:
    """``n`` clip specs: ``part="calibration"`` from the calibration rows; ``"test"`` from test reals and
    test/wild fakes (no detector trained on them; what ``bench/video.py`` measures)."""
    from ..benchmark.video import clip_specs

    rows = split_rows(root)
    if part == "calibration":
        reals = [r["path"] for r in rows if r["split"] == "calibration" and r["label"] == "0"]
        fakes = [r["path"] for r in rows if r["split"] == "calibration" and r["label"] == "1"]
    else:
        reals = [r["path"] for r in rows if r["split"] == "test" and r["label"] == "0"]
        fakes = [r["path"] for r in rows if r["label"] == "1" and r["split"] in ("test", "wild")]
    return clip_specs(reals, fakes, n, part=part, rng=rng, frames=FRAMES, fps=FPS)


def _with_face(paths: list[str], *, eyes: bool = False) -> list[str]:
    """The photos where OpenCV's Haar cascade finds a frontal face (``eyes``: and two eyes in its upper half,
    which drops most of the cascade's false faces on photos of things)."""
    from PIL import Image

    from ..video import _eye_pair, detect_faces

    out = []
    for p in paths:
        with Image.open(p) as im:
            a = np.asarray(im.convert("RGB"))
        boxes = detect_faces(a, max_faces=1)
        if boxes and (not eyes or _eye_pair(a, boxes[0])):
            out.append(p)
    return out


def face_clip_specs_for(n: int, part: str, rng: np.random.Generator,
                        root: str | os.PathLike[str] | None = None) -> list[Any]:
    """``n`` face-swap clip specs (the fake frames: the real photo with the fake's face blended in) from photos
    with a frontal face (OpenCV's Haar cascade).  ``part="calibration"``: from the ``train`` and
    ``calibration`` rows outside CIFAKE whose face also shows two eyes (the calibration rows alone hold no
    real photo of a face; the eye check drops the cascade's false faces on photos of things);
    ``"test"``: from the ``faces`` source's wild rows (web photos of public figures vs FLUX.1 + LoRA
    portraits of the same people; what ``bench/video.py`` measures)."""
    from ..benchmark.video import clip_specs

    rows = split_rows(root)
    if part == "calibration":
        pick = [r for r in rows if r["split"] in ("train", "calibration")]
    else:
        pick = [r for r in rows if r["source"] == "faces" and r["split"] == "wild"]
    eyes = part == "calibration"
    reals = _with_face(sorted(r["path"] for r in pick if r["label"] == "0"), eyes=eyes)
    fakes = _with_face(sorted(r["path"] for r in pick if r["label"] == "1"), eyes=eyes)
    return clip_specs(reals, fakes, n, part=f"{part}-faces", rng=rng, frames=FRAMES, fps=FPS, swap=True)


def build_video(root: str | os.PathLike[str] | None = None, *, jobs: int = 2, log: Log | None = None,
                inputs_sha256: str = "", out_dir: str | os.PathLike[str] | None = None,
                clips: int = CLIPS, face_clips: int = FACE_CLIPS) -> dict[str, Any]:
    """Make and score the calibration clips, fit the video fusion, write ``video.json`` (into ``out_dir``,
    default the package's ``weights/``).  ``clips``, ``face_clips``: fewer for tests."""
    from ..backbones import cache_dir
    from ..benchmark.video import build_clip, fit_face_fusion, fit_video_fusion, score_clip
    from ..pipeline import Scanner
    from ..temporal import VIDEO_FUSION_FILE, VideoFusionParams
    from ..video import VideoOptions

    t0 = time.time()
    work = cache_dir() / "build" / f"video-{(inputs_sha256 or 'adhoc')[:16]}-{clips}-{face_clips}"
    specs = clip_specs_for(clips, "calibration", np.random.default_rng(RECIPE["spec_seed"]), root)
    fspecs = face_clip_specs_for(face_clips, "calibration", np.random.default_rng(RECIPE["face_spec_seed"]),
                                 root) if face_clips else []
    # whole frames and face crops scored apart (the face fusion "none": p_fake is the whole frame's)
    scanner = Scanner(video=VideoOptions(faces=True, fusion=VideoFusionParams()))
    scored = []
    jobs_ = [(s, RECIPE["clip_seed"] + i, SIZE, "clips") for i, s in enumerate(specs)]
    jobs_ += [(s, RECIPE["face_clip_seed"] + i, FACE_SIZE, "face-clips") for i, s in enumerate(fspecs)]
    for i, (s, seed, size, folder) in enumerate(jobs_):
        path = build_clip(s, RECIPE["encoding"], work / folder, seed=seed, size=size)
        scored.append((s, score_clip(scanner, path, work / "scores")))
        if log and (i + 1) % 6 == 0:
            log(f"video: {i + 1}/{len(jobs_)} calibration clips scored")
    families = {"photo clips": list(range(len(specs)))}
    if fspecs:
        families["face clips"] = list(range(len(specs), len(scored)))
    face, face_table = fit_face_fusion(scored, families=families, l2=RECIPE["face_fusion_l2"])
    n_real = sum(1 for s, _ in scored if s.fake_segment_s is None)
    params = fit_video_fusion(scored, fpr=RECIPE["operating_fpr"], face=face, describe=(
        f"{len(scored)} calibration clips of `fakescope build video` ({len(specs)} photo clips {SIZE[0]}x{SIZE[1]} "
        f"and {len(fspecs)} face-swap clips {FACE_SIZE[0]}x{FACE_SIZE[1]}; {n_real} real, {len(scored) - n_real} "
        f"with fake frames; H.264 CRF 23, 2 frames/s, face crops {face.face_fusion}) from the frozen split's "
        "calibration rows (face clips: train and calibration rows)"))
    out = Path(out_dir) / "video.json" if out_dir is not None else VIDEO_FUSION_FILE
    d = {"params": params.to_dict(), "made_by": "fakescope build video", "recipe": RECIPE,
         "face_fusion_choice": face_table,
         "frames_scored": int(sum(len(x["p"]) for _, x in scored)),
         "frames_with_face_crops": int(sum(1 for _, x in scored for f in x["p_face"] if f is not None)),
         "seconds": round(time.time() - t0, 1), "inputs_sha256": inputs_sha256}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(d, indent=1) + "\n")
    if log:
        log(f"wrote {out} (top-k {params.topk_frac}, threshold {params.threshold}, {d['seconds']} s)")
    return d
