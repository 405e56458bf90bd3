"""The ``video`` build step: fit the video fusion (``weights/video.json``) on calibration clips.

Recipe (:data:`RECIPE`): :data:`CLIPS` clips made by :mod:`fakescope.benchmark.video` from the frozen
split's ``calibration`` rows outside CIFAKE — a camera pan or zoom over a real photo, one clip in
three all real, one in six all fake, the rest with one fake segment (frames of a fake image) at a
random position — 640×360, 6 s at 10 fps, H.264 CRF 23, every draw seeded; each scored through the
scan (:meth:`fakescope.pipeline.Scanner.scan_path`: 2 sampled frames/s, no face crops, the shipped
default fusion); then :func:`fakescope.benchmark.video.fit_video_fusion` chooses the top-k share,
the thresholds (no calibration real clip flagged) and the hysteresis.  The test clips of
``bench/video.py`` (test and wild rows) never enter the choice.

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

__all__ = ["RECIPE", "CLIPS", "FPS", "FRAMES", "SIZE", "split_rows", "clip_specs_for", "build_video"]

Log = Callable[[str], None]

CLIPS = 18
FPS, FRAMES, SIZE = 10, 60, (640, 360)
RECIPE: dict[str, Any] = {"clips": CLIPS, "fps": FPS, "frames": FRAMES, "size": list(SIZE), "encoding": "h264-crf23",
                          "spec_seed": 2026, "clip_seed": 1000, "sampling": "2 frames/s", "faces": False,
                          "operating_fpr": 0.05}


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


def build_video(root: str | os.PathLike[str] | None = None, *, jobs: int = 2, log: Log | None = None,
                inputs_sha256: str = "", out_dir: str | os.PathLike[str] | None = None,
                clips: int = CLIPS) -> dict[str, Any]:
    """Make and score the calibration clips, fit the video fusion, write ``video.json`` (into ``out_dir``,
    default the package's ``weights/``).  ``clips``: fewer for tests."""
    from ..backbones import cache_dir
    from ..benchmark.video import build_clip, fit_video_fusion, score_clip
    from ..pipeline import Scanner
    from ..temporal import VIDEO_FUSION_FILE
    from ..video import VideoOptions

    t0 = time.time()
    work = cache_dir() / "build" / f"video-{(inputs_sha256 or 'adhoc')[:16]}-{clips}"
    specs = clip_specs_for(clips, "calibration", np.random.default_rng(RECIPE["spec_seed"]), root)
    scanner = Scanner(video=VideoOptions(faces=False))
    scored = []
    for i, s in enumerate(specs):
        path = build_clip(s, RECIPE["encoding"], work / "clips", seed=RECIPE["clip_seed"] + i, size=SIZE)
        scored.append((s, score_clip(scanner, path, work / "scores")))
        if log and (i + 1) % 6 == 0:
            log(f"video: {i + 1}/{len(specs)} calibration clips scored")
    n_real = sum(1 for s, _ in scored if s.fake_segment_s is None)
    params = fit_video_fusion(scored, fpr=RECIPE["operating_fpr"], describe=(
        f"{len(scored)} calibration clips of `fakescope build video` ({n_real} real, {len(scored) - n_real} with fake "
        f"frames; {SIZE[0]}x{SIZE[1]} H.264 CRF 23, 2 frames/s) from the frozen split's calibration rows"))
    out = Path(out_dir) / "video.json" if out_dir is not None else VIDEO_FUSION_FILE
    d = {"params": params.to_dict(), "made_by": "fakescope build video", "recipe": RECIPE,
         "frames_scored": int(sum(len(x["p"]) for _, x in scored)), "seconds": round(time.time() - t0, 1),
         "inputs_sha256": inputs_sha256}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(d, indent=1) + "\n")
    if log:
        log(f"wrote {out} (top-k {params.topk_frac}, threshold {params.threshold}, {d['seconds']} s)")
    return d
