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
