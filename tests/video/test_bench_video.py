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
    from fakescope.benchmark.video import ClipSpec, evaluate_clips, with_face_fusion
    from fakescope.temporal import VideoFusionParams

    t = [i * 0.5 for i in range(12)]
    real = ClipSpec("r", "a", None, None, None, "pan", 60, 10)
    swap = ClipSpec("s", "a", "b", 20, 40, "pan", 60, 10, swap=True)
    frames_only = {"t_s": t, "p": [0.1] * 12, "p_face": [None] * 12, "duration_s": 6.0}
    faces = {"t_s": t, "p": [0.1] * 12, "p_face": [0.1] * 4 + [0.9] * 4 + [0.1] * 4, "duration_s": 6.0}
    params = VideoFusionParams(topk_frac=0.25, threshold=0.5, real_threshold=0.2)
    clips = [(real, frames_only), (swap, faces)]
    plain = evaluate_clips(with_face_fusion(clips, params), params)
    maxed = VideoFusionParams(topk_frac=0.25, threshold=0.5, real_threshold=0.2, face_fusion="max")
    fused = evaluate_clips(with_face_fusion(clips, maxed), maxed)
    assert plain["video_auc"] == 0.5 and plain["ap@0.5"] == 0.0
    assert fused["video_auc"] == 1.0 and fused["ap@0.95"] == 1.0 and fused["video_fpr"] == 0.0
    # the whole frames' scores are kept apart (p_frame): fusing twice gives the same frames
    again = with_face_fusion(with_face_fusion([(swap, dict(faces, p_frame=faces["p"]))], maxed), maxed)
    assert again[0][1]["p"] == [0.1] * 4 + [0.9] * 4 + [0.1] * 4


def _clip(i: int, fake: bool, rng: np.random.Generator, face_signal: bool):
    from fakescope.benchmark.video import ClipSpec

    spec = ClipSpec(f"c{i}", "a", "b" if fake else None, 20 if fake else None, 40 if fake else None, "pan", 60, 10)
    y = np.array([1 if fake and 2.0 <= k * 0.5 < 4.0 else 0 for k in range(12)])
    p_frame = np.clip(0.3 + 0.1 * y + rng.normal(0, 0.15, 12), 0.01, 0.99)  # whole frames: a weak signal
    p_face = np.clip((0.2 + 0.6 * y if face_signal else 0.5) + rng.normal(0, 0.1, 12), 0.01, 0.99)
    has = rng.random(12) < 0.7
    return spec, {"t_s": [k * 0.5 for k in range(12)], "p": list(p_frame), "p_frame": list(p_frame),
                  "p_face": [float(f) if h else None for f, h in zip(p_face, has)], "duration_s": 6.0}


def test_fit_face_fusion_keeps_face_crops_only_when_they_help() -> None:
    from fakescope.benchmark.video import fit_face_fusion, fit_video_fusion

    rng = np.random.default_rng(0)
    telling = [_clip(i, i % 3 != 0, rng, True) for i in range(18)]
    params, table = fit_face_fusion(telling, families={"a": range(9), "b": range(9, 18)})
    assert params.face_fusion in ("max", "logistic") and table["chosen"] == params.face_fusion
    c = table["candidates"]
    assert c[params.face_fusion]["mean"] > c["none"]["mean"] + 0.1 and set(c["none"]["frame_auc"]) == {"a", "b"}
    if params.face_fusion == "logistic":
        assert params.face_coef is not None and params.face_coef[1] > 0  # a fake-looking face raises the frame
    fitted = fit_video_fusion(telling, face=params)
    assert fitted.face_fusion == params.face_fusion and fitted.face_coef == params.face_coef
    noise = [_clip(i, i % 3 != 0, rng, False) for i in range(18)]
    params, table = fit_face_fusion(noise)
    assert params.face_fusion == "none" and params.face_coef is None and table["chosen"] == "none"


def test_encode_clip_is_bitwise_reproducible(tmp_path: Path, data_dir: Path) -> None:
    """The same frames give the same file: a 480x360 clip of a photo with a face (the size of the video build's
    face clips, whose bytes changed from one encode to the next before x264 was held to one thread and its C
    code), encoded three times with OpenCV's face detection run between the encodes."""
    from PIL import Image

    from fakescope.benchmark.video import encode_clip
    from fakescope.video import detect_faces

    photo = data_dir / "modern" / "scikit-image__scikit-image" / "src__skimage2_data_astronaut.png"
    real = np.asarray(Image.open(photo).convert("RGB"))
    x, y, w, h = detect_faces(real, max_faces=1)[0]  # framed as the build's face clips are: 2.5 face sides
    side = min(real.shape[0], real.shape[1], int(max(w, h) * 2.5))
    x0 = int(min(max(0, x + w // 2 - side // 2), real.shape[1] - side))
    y0 = int(min(max(0, y + h // 2 - side // 2), real.shape[0] - side))
    framed = np.ascontiguousarray(real[y0:y0 + side, x0:x0 + side])
    files = []
    for i in range(3):  # the frames made afresh each time, with OpenCV's work between the encodes (as in the build)
        frames = make_clip(framed, None, n=20, start=None, end=None, size=(480, 360), kind="zoom",
                           rng=np.random.default_rng(3006))
        assert detect_faces(framed)
        files.append(encode_clip(frames, tmp_path / f"clip{i}.mp4", encoding="h264-crf23", fps=10).read_bytes())
    assert len(files[0]) > 1000 and files[1] == files[0] and files[2] == files[0]
