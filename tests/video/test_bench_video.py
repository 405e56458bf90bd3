"""The video benchmark protocol through `fakescope bench`, on a few tiny clips; clip synthesis properties."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fakescope.benchmark.video import camera_motion, make_clip
from fakescope.cli import main

pytest.importorskip("av")
pytest.importorskip("yaml")


def test_camera_motion_and_spliced_segment() -> None:
    rng = np.random.default_rng(0)
    real = np.random.default_rng(1).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    fake = np.full((90, 90, 3), 200, np.uint8)
    pan = camera_motion(real, 5, size=(64, 48), kind="pan", rng=np.random.default_rng(3))
    assert all(f.shape == (48, 64, 3) for f in pan) and not np.array_equal(pan[0], pan[-1])
    zoom = camera_motion(real, 5, size=(64, 48), kind="zoom", rng=np.random.default_rng(3))
    assert all(f.shape == (48, 64, 3) for f in zoom)
    frames = make_clip(real, fake, n=10, start=3, end=6, size=(64, 48), kind="pan", rng=rng)
    flat = [bool(np.all(f == 200)) for f in frames]
    assert flat == [False] * 3 + [True] * 3 + [False] * 4


def test_bench_video_protocol(tmp_path: Path, data_dir: Path) -> None:
    cfg = tmp_path / "video.yaml"
    cfg.write_text("""protocol: video
seed: 1
data: {path: shipped, splits: [test, wild]}
video: {calibration_clips: 0, test_clips: 3, seconds: 2, fps: 10, size: [128, 96], sample_fps: 2,
        variants: [h264-crf23, resize-320x180]}
""")
    out = tmp_path / "out"
    assert main(["bench", "--config", str(cfg), "--out", str(out), "--no-html", "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["protocol"] == "video"
    res = report["results"]
    assert set(res) >= {"params", "h264-crf23", "resize-320x180"}
    for v in ("h264-crf23", "resize-320x180"):
        assert res[v]["clips"] == 3
        assert 0.0 <= res[v]["frame_auc"] <= 1.0 and 0.0 <= res[v]["ap@0.5"] <= 1.0
    assert len(list((out / "video-clips" / "h264-crf23").glob("*.mp4"))) == 3
    assert "Video detection" in (out / "report.md").read_text()


def test_face_swap_changes_only_the_face(data_dir: Path) -> None:
    from PIL import Image

    from fakescope.benchmark.video import face_swap
    from fakescope.video import detect_faces

    def first_with_face(folder: str) -> np.ndarray:
        for p in sorted((data_dir / "faces" / folder).glob("*"))[:20]:
            a = np.asarray(Image.open(p).convert("RGB"))
            if detect_faces(a, max_faces=1):
                return a
        pytest.skip(f"no frontal face among the first shared faces/{folder} images")

    real, fake = first_with_face("real"), first_with_face("fake")
    out = face_swap(real, fake)
    assert out is not None and out.shape == real.shape
    x, y, w, h = detect_faces(real, max_faces=1)[0]
    changed = np.abs(out.astype(int) - real.astype(int)).sum(axis=2) > 0
    inside = np.zeros_like(changed)
    inside[max(0, y - h // 2):y + h + h // 2, max(0, x - w // 2):x + w + w // 2] = True
    assert changed[y:y + h, x:x + w].mean() > 0.5 and not changed[~inside].any()
    assert face_swap(np.zeros((64, 64, 3), np.uint8), fake) is None


def test_evaluate_with_face_crops() -> None:
    from fakescope.benchmark.video import ClipSpec, evaluate_clips
    from fakescope.temporal import VideoFusionParams

    t = [i * 0.5 for i in range(12)]
    real = ClipSpec("r", "a", None, None, None, "pan", 60, 10)
    swap = ClipSpec("s", "a", "b", 20, 40, "pan", 60, 10, swap=True)
    frames_only = {"t_s": t, "p": [0.1] * 12, "p_face": [None] * 12, "duration_s": 6.0}
    faces = {"t_s": t, "p": [0.1] * 12, "p_face": [0.1] * 4 + [0.9] * 4 + [0.1] * 4, "duration_s": 6.0}
    params = VideoFusionParams(topk_frac=0.25, threshold=0.5, real_threshold=0.2)
    plain = evaluate_clips([(real, frames_only), (swap, faces)], params)
    fused = evaluate_clips([(real, frames_only), (swap, faces)], params, faces=True)
    assert plain["video_auc"] == 0.5 and plain["ap@0.5"] == 0.0
    assert fused["video_auc"] == 1.0 and fused["ap@0.95"] == 1.0 and fused["video_fpr"] == 0.0
