"""A video through the scan: same frame verdicts as images, a known segment found, faces, C2PA in MP4."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.io.video import Sampling, VideoLimits
from fakescope.pipeline import Scanner
from fakescope.temporal import VideoFusionParams
from fakescope.types import Verdict
from fakescope.video import FACE_INPUT, VideoOptions, detect_faces, face_crop, scan_video

from .conftest import pattern, write_clip

REPO = Path(__file__).resolve().parents[2]


def _photo_frames(data_dir: Path, n: int, size=(320, 240)) -> list[np.ndarray]:
    """``n`` crops of a real photo, panning right."""
    src = sorted((data_dir / "real_photos").rglob("*.png"))[0]
    a = np.asarray(Image.open(src).convert("RGB"))
    w, h = size
    return [np.ascontiguousarray(a[:h, i * 16:i * 16 + w]) for i in range(n)]


def test_same_frame_verdicts_as_images_or_as_a_video(tmp_path: Path, data_dir: Path) -> None:
    frames = _photo_frames(data_dir, 3)
    clip = write_clip(tmp_path / "v.mkv", frames, codec="ffv1", pix_fmt="bgr0", fps=2)  # lossless
    opts = VideoOptions(sampling=Sampling("all"), faces=False)
    scanner = Scanner(exhaustive=True, provenance=False, video=opts)
    v = scanner.scan_path(clip)
    assert v.status == "ok" and v.media == "video" and len(v.frames) == 3
    for i, f in enumerate(frames):
        png = tmp_path / f"f{i}.png"
        Image.fromarray(f).save(png)
        img = scanner.scan_path(png)
        assert img.media is None and img.status == "ok"
        assert v.frames[i]["p_fake"] == pytest.approx(img.p_fake, abs=1e-6)
    # the clip's score is the top-k pool of exactly those frame scores
    p = sorted(f["p_fake"] for f in v.frames)
    k = int(np.ceil(opts.params().topk_frac * 3 - 1e-9))
    assert v.p_fake == pytest.approx(np.mean(p[-k:]), abs=1e-5)


def test_known_segment_in_a_synthetic_clip(tmp_path: Path, monkeypatch) -> None:
    """Frames 15-27 of 40 (1.5-2.8 s at 10 fps) are 'generated': a frame analyser that scores a frame by its
    red channel stands in for the detectors, so the test checks decoding, timing and fusion in time."""
    frames = []
    for i in range(40):
        f = pattern(i, 96, 64) // 4
        if 15 <= i < 28:
            f[..., 0] = 240
        frames.append(f)
    clip = write_clip(tmp_path / "seg.mp4", frames, options={"crf": "10"})

    def by_red(self, sample, *, t0=None):  # noqa: ANN001
        p = float(sample.image[..., 0].mean() / 255.0)
        return Verdict(path=sample.path, status="ok", p_fake=p, label="inconclusive")

    monkeypatch.setattr(Scanner, "scan_sample", by_red)
    params = VideoFusionParams(topk_frac=0.25, threshold=0.6, real_threshold=0.3, seg_high=0.7, seg_low=0.5,
                               min_len_s=0.5)
    scanner = Scanner(provenance=False)
    v = scan_video(scanner, str(clip), options=VideoOptions(sampling=Sampling(fps=5), faces=False, fusion=params))
    assert [round(f["t_s"], 1) for f in v.frames] == [round(0.2 * i, 1) for i in range(20)]
    assert len(v.segments) == 1
    seg = v.segments[0]
    assert seg["start_s"] == pytest.approx(1.6) and seg["end_s"] == pytest.approx(2.8)
    assert v.label == "ai-generated" and "frames 1.6-2.8 s look generated" in v.explanation.lower()
    d = v.to_dict()
    assert d["media"] == "video" and d["duration_s"] == pytest.approx(4.0) and d["fps"] == 10.0
    assert d["video"]["codec"] == "h264" and d["video"]["sampled_frames"] == 20
    # the same clip without the red frames: no segment; its frames score between the image flow's real cut for
    # frames of this size and the video fusion's (0.3): the image flow would not call them real, so neither is the clip
    opts = VideoOptions(sampling=Sampling(fps=5), faces=False, fusion=params)
    cut = min(scanner.fuser.operating_point_for(64, "other").real_threshold, params.real_threshold)
    level = int(round(255 * (cut + params.real_threshold) / 2))
    dull = []
    for i in range(40):
        f = pattern(i, 96, 64) // 4
        f[..., 0] = level
        dull.append(f)
    clean = write_clip(tmp_path / "clean.mp4", dull)
    v2 = scan_video(scanner, str(clean), options=opts)
    assert v2.segments == () and v2.label == "inconclusive" and "between the real" in v2.explanation
    # frames with no red at all score 0: below every real threshold, labelled real
    black = []
    for i in range(40):
        f = pattern(i, 96, 64)
        f[..., 0] = 0
        black.append(f)
    nored = str(write_clip(tmp_path / "nored.mp4", black, options={"crf": "0"}))
    v3 = scan_video(scanner, nored, options=opts)
    assert v3.segments == () and v3.label == "real" and v3.p_fake < 0.01
    # through a detector set with no held-out "real" rule (rine-adv: no scores on never-seen sources), never real
    v4 = scan_video(Scanner(["rine-adv"], provenance=False, attribution=False), nored, options=opts)
    assert v4.p_fake < 0.01 and v4.label == "inconclusive" and "never say real" in v4.explanation


def test_faces_are_cropped_and_scanned(tmp_path: Path, data_dir: Path) -> None:
    faces = sorted((data_dir / "faces" / "real").rglob("*.*"))
    face = None
    for p in faces[:40]:
        a = np.asarray(Image.open(p).convert("RGB").resize((256, 256)))
        if detect_faces(a):
            face = a
            break
    assert face is not None, "no frontal face found among the shared real faces"
    clip = write_clip(tmp_path / "face.mp4", [face] * 4, fps=2, options={"crf": "12"})
    fusion = VideoFusionParams(face_fusion="max")
    v = scan_video(Scanner(provenance=False), str(clip), options=VideoOptions(fusion=fusion))
    assert v.status == "ok" and all("faces" in f for f in v.frames)
    box = v.frames[0]["faces"][0]["box"]
    assert len(box) == 4 and box[2] >= 32
    (ev,) = [e for e in v.evidence if e.source == "faces"]
    assert ev.weight == "pixel" and ev.details["crops"] == 4 and ev.details["face_fusion"] == "max"
    for f in v.frames:  # each frame: the higher of the whole frame and its face crop
        assert f["p_fake"] == pytest.approx(max(f["p_frame"], f["faces"][0]["p_fake"]), abs=1e-6)
    assert v.video["face_fusion"] == "max" and v.video["faces"] is True
    # the crop the detectors see: square, at the backbones' input side, the face in the middle
    crop = face_crop(face, tuple(detect_faces(face)[0]))
    assert crop is not None and crop.shape == (FACE_INPUT, FACE_INPUT, 3)
    assert face_crop(face, (0, 0, 20, 20)) is None  # too small to scan
    edge = face_crop(face, (200, 200, 100, 100))  # a box running off the frame: the edge is reflected
    assert edge is not None and edge.shape == (FACE_INPUT, FACE_INPUT, 3)


def test_face_crop_levels_a_tilted_face(data_dir: Path) -> None:
    import cv2

    from fakescope.video import _eye_angle

    for p in sorted((data_dir / "faces" / "real").rglob("*.*"))[:60]:
        a = np.asarray(Image.open(p).convert("RGB").resize((320, 320)))
        boxes = detect_faces(a, max_faces=1)
        if not boxes:
            continue
        grey = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
        base = _eye_angle(grey, boxes[0], pair_only=True)
        if base is None or abs(base) > 3:
            continue
        x, y, w, h = boxes[0]
        m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), -12.0, 1.0)  # the face rolled 12 degrees
        tilted = cv2.warpAffine(grey, m, (320, 320), borderMode=cv2.BORDER_REFLECT_101)
        roll = _eye_angle(tilted, boxes[0], pair_only=True)
        if roll is None:
            continue
        assert roll - base == pytest.approx(12.0, abs=4.0)
        return
    pytest.skip("no shared real face with both eyes found level and rolled")


def test_c2pa_in_mp4_decides(tmp_path: Path, capsys) -> None:
    pytest.importorskip("c2pa")
    spec = importlib.util.spec_from_file_location("_prov_conftest", REPO / "tests" / "provenance" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c2pa_dir = REPO.parent / "shared" / "data" / "c2pa"
    if not (c2pa_dir / "es256_private.key").exists():
        pytest.skip("C2PA test key not found")
    src = write_clip(tmp_path / "src.mp4", [pattern(i) for i in range(6)], fps=6).read_bytes()
    signed = mod.sign_c2pa(src, "video/mp4", (c2pa_dir / "es256_certs.pem").read_bytes(),
                           (c2pa_dir / "es256_private.key").read_bytes())
    p = tmp_path / "signed.mp4"
    p.write_bytes(signed)
    v = Scanner().scan_path(p)
    assert v.status == "ok" and v.media == "video"
    (c2,) = [e for e in v.evidence if e.source == "c2pa"]
    assert c2.weight == "strong" and v.label == "ai-generated" and v.p_fake == pytest.approx(0.99)
    assert "frames say" in v.explanation
    assert not [e for e in Scanner().scan_path(tmp_path / "src.mp4").evidence if e.source == "c2pa"]
    # fakescope provenance reads the container too
    import json

    from fakescope.cli import main

    assert main(["provenance", str(p), "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["c2pa"]["present"] and rep["video"]["codec"] == "h264" and rep["format"] == "MP4"


def test_broken_video_is_an_error_row(tmp_path: Path, clip: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[:600])
    v = Scanner(provenance=False).scan_path(cut)
    assert v.status == "error" and v.error_type == "TruncatedFileError" and "cut.mp4" in v.error
    b = Scanner(provenance=False).scan_bytes(clip.read_bytes(), name="up.mp4")
    assert b.status == "ok" and b.media == "video" and b.path == "up.mp4"


_opened: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _opened and isinstance(args[0], str) and args[0] == _opened[0]:
        _opened.append(args[0])


def test_scan_path_opens_each_file_once(tmp_path: Path, clip: Path) -> None:
    """One read per input: the bytes say whether it is a video (no separate sniff of the file)."""
    import sys

    from fakescope.io.decode import DecodeLimits

    sys.addaudithook(_audit)  # hooks cannot be removed; this one only counts while _opened names a path
    img = tmp_path / "a.png"
    Image.fromarray(pattern(0)).save(img)
    scanner = Scanner(provenance=False, attribution=False, limits=DecodeLimits(max_bytes=200))
    for path, media in ((clip, "video"), (img, None)):  # an image verdict names no media
        _opened[:] = [str(path)]
        try:
            v = scanner.scan_path(str(path))
        finally:
            opens = len(_opened) - 1
            _opened.clear()
        # the clip is over the image byte limit but under the video one: read as a video all the same
        assert v.status == "ok" and v.media == media and opens == 1, (path, v.error, opens)
    big = Scanner(provenance=False, attribution=False, limits=DecodeLimits(max_bytes=200),
                  video=VideoOptions(limits=VideoLimits(max_bytes=300)))
    v = big.scan_path(clip)
    assert v.status == "error" and v.error_type == "ImageTooLargeError" and "DecodeLimits.max_bytes" in v.error
