"""Video decoding over a corpus of good, broken and odd files: clear errors or correct handling."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from fakescope.errors import (DecodeError, EmptyFileError, ImageTooLargeError, MissingDependencyError,
                              TruncatedFileError, UnsupportedFormatError)
from fakescope.io.video import Sampling, VideoLimits, decode_video, load_video, sniff_video

from .conftest import pattern, write_clip


@pytest.mark.parametrize("name,codec,fmt,opts,pix", [
    ("a.mp4", "libx264", "MP4", {}, "yuv420p"),
    ("a.mov", "libx264", "MOV", {}, "yuv420p"),
    ("a.webm", "libvpx-vp9", "WEBM", {"deadline": "realtime", "cpu-used": "8"}, "yuv420p"),
    ("a.mkv", "ffv1", "MKV", {}, "bgr0"),
    ("a.avi", "mpeg4", "AVI", {}, "yuv420p"),
])
def test_containers_sampled_by_time(tmp_path: Path, name, codec, fmt, opts, pix) -> None:
    p = write_clip(tmp_path / name, [pattern(i) for i in range(20)], codec=codec, options=opts, pix_fmt=pix)
    v = load_video(p, sampling=Sampling(fps=2))
    assert v.info.format == fmt and sniff_video(p.read_bytes()) == fmt
    assert [f.t_s for f in v.frames] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert [f.index for f in v.frames] == [0, 5, 10, 15]
    assert v.decoded_frames == 20 and (v.info.width, v.info.height) == (64, 48)
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in v.frames)
    assert v.info.has_audio is False and v.duration_s == pytest.approx(2.0, abs=0.11)


def test_lossless_frames_are_exact(tmp_path: Path) -> None:
    frames = [pattern(i) for i in range(6)]
    v = load_video(write_clip(tmp_path / "x.mkv", frames, codec="ffv1", pix_fmt="bgr0"), sampling=Sampling("all"))
    assert len(v.frames) == 6
    for f, ref in zip(v.frames, frames):
        np.testing.assert_array_equal(f.image, ref)


def test_keyframes_only(tmp_path: Path) -> None:
    p = write_clip(tmp_path / "k.mp4", [pattern(i) for i in range(30)], options={"g": "10", "keyint_min": "10",
                                                                               "sc_threshold": "0"})
    v = load_video(p, sampling=Sampling("keyframes"))
    assert [f.t_s for f in v.frames] == pytest.approx([0.0, 1.0, 2.0]) and all(f.keyframe for f in v.frames)


@pytest.mark.parametrize("rotation,shape", [(90, (64, 48, 3)), (180, (48, 64, 3)), (-90, (64, 48, 3))])
def test_rotation_applied(tmp_path: Path, rotation: int, shape) -> None:
    base = np.zeros((48, 64, 3), np.uint8)
    base[:, :16] = 255  # a white band on the left
    p = write_clip(tmp_path / "r.mp4", [base] * 3, rotation=rotation, options={"qp": "0"}, pix_fmt="yuv444p")
    v = load_video(p, sampling=Sampling("all"))
    img = v.frames[0].image
    assert img.shape == shape and (v.info.width, v.info.height) == (shape[1], shape[0])
    assert v.info.rotation == rotation % 360
    white = img.mean(axis=2) > 128
    if rotation == 90:  # counter-clockwise: the left band ends at the bottom
        assert white[-10:].all() and not white[:30].any()
    elif rotation == 180:  # the band moves to the right
        assert white[:, -10:].all() and not white[:, :40].any()
    else:  # clockwise: the band ends at the top
        assert white[:10].all() and not white[-30:].any()


def test_variable_frame_rate_sampled_by_timestamps(tmp_path: Path) -> None:
    tb = Fraction(1, 1000)
    pts = [0, 100, 150, 700, 1250, 1300, 2100]
    p = write_clip(tmp_path / "vfr.mkv", [pattern(i) for i in range(len(pts))], codec="ffv1", pix_fmt="bgr0",
                   pts=pts, time_base=tb)
    v = load_video(p, sampling=Sampling(fps=2))
    assert v.variable_frame_rate
    # first frame at or after each 0.5 s tick: 0.0, 0.7 (tick 0.5), 1.25 (tick 1.0), 2.1 (tick 1.5 and 2.0)
    assert [f.t_s for f in v.frames] == pytest.approx([0.0, 0.7, 1.25, 2.1])
    assert load_video(p, sampling=Sampling("all")).decoded_frames == len(pts)


def test_audio_reported_and_ignored(tmp_path: Path) -> None:
    p = write_clip(tmp_path / "av.mp4", [pattern(i) for i in range(10)], audio=True)
    v = load_video(p, sampling=Sampling("all"))
    assert v.info.has_audio and v.info.audio_codec == "aac" and len(v.frames) == 10


def test_truncated_files(tmp_path: Path, clip: Path) -> None:
    data = clip.read_bytes()
    with pytest.raises(TruncatedFileError, match="truncated"):  # moov at the end: the index is gone
        decode_video(data[: len(data) // 2], path="cut.mp4")
    fast = write_clip(tmp_path / "fast.mp4", [pattern(i) for i in range(40)], options={"movflags": "+faststart"})
    data = fast.read_bytes()
    with pytest.raises(TruncatedFileError, match="cut.mp4.*truncated"):  # index first, frames cut short
        decode_video(data[: int(len(data) * 0.4)], path="cut.mp4", sampling=Sampling("all"))
    mkv = write_clip(tmp_path / "c.mkv", [pattern(i) for i in range(40)], codec="ffv1", pix_fmt="bgr0").read_bytes()
    with pytest.raises(TruncatedFileError):
        decode_video(mkv[: len(mkv) // 3], path="cut.mkv")


def test_zero_frames_and_no_video(tmp_path: Path) -> None:
    import av

    p = tmp_path / "empty.mp4"
    with av.open(str(p), "w") as c:  # a video stream, no frames
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
    with pytest.raises(DecodeError, match="empty.mp4"):
        load_video(p)
    a = tmp_path / "audio.mp4"
    with av.open(str(a), "w") as c:
        st = c.add_stream("aac", rate=8000)
        st.layout = "mono"
        af = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.float32), format="fltp", layout="mono")
        af.sample_rate, af.pts = 8000, 0
        for pk in list(st.encode(af)) + list(st.encode()):
            c.mux(pk)
    with pytest.raises(DecodeError, match="no video stream"):
        load_video(a)


def test_limits(clip: Path) -> None:
    with pytest.raises(ImageTooLargeError, match="max_side"):
        load_video(clip, limits=VideoLimits(max_side=32))
    with pytest.raises(ImageTooLargeError, match="max_pixels"):
        load_video(clip, limits=VideoLimits(max_pixels=1000))
    with pytest.raises(ImageTooLargeError, match="max_duration_s"):
        load_video(clip, limits=VideoLimits(max_duration_s=1.0))
    with pytest.raises(ImageTooLargeError, match="max_frames"):
        load_video(clip, sampling=Sampling("all"), limits=VideoLimits(max_frames=5))
    with pytest.raises(ImageTooLargeError, match="max_decoded_frames"):
        load_video(clip, limits=VideoLimits(max_decoded_frames=5))
    with pytest.raises(ImageTooLargeError, match="max_bytes"):
        load_video(clip, limits=VideoLimits(max_bytes=100))


def _claim_20000(data: bytes) -> bytes:
    """An AVI whose headers (avih, and the stream's BITMAPINFOHEADER) claim 20000x20000 frames."""
    b = bytearray(data)
    i = b.find(b"strf")
    b[i + 12:i + 20] = (20000).to_bytes(4, "little") * 2
    j = b.find(b"avih")
    b[j + 40:j + 48] = (20000).to_bytes(4, "little") * 2
    return bytes(b)


def test_huge_dimensions_in_the_header(tmp_path: Path) -> None:
    """Headers claiming 20000x20000: raw frames cannot be that size (a clear error, no 1.2 GB frame);
    MJPEG frames carry their own size, which is what is decoded (and checked against the limits)."""
    raw = write_clip(tmp_path / "raw.avi", [pattern(i) for i in range(3)], codec="rawvideo", pix_fmt="bgr24")
    with pytest.raises(DecodeError, match="huge.avi"):
        decode_video(_claim_20000(raw.read_bytes()), path="huge.avi")
    mj = write_clip(tmp_path / "m.avi", [pattern(i) for i in range(3)], codec="mjpeg", pix_fmt="yuvj420p")
    v = decode_video(_claim_20000(mj.read_bytes()), path="m.avi", sampling=Sampling("all"))
    assert [f.image.shape for f in v.frames] == [(48, 64, 3)] * 3
    with pytest.raises(ImageTooLargeError, match="max_side"):
        decode_video(_claim_20000(mj.read_bytes()), path="m.avi", limits=VideoLimits(max_side=60))


def test_not_videos() -> None:
    with pytest.raises(EmptyFileError):
        decode_video(b"", path="e.mp4")
    with pytest.raises(UnsupportedFormatError, match="supported containers"):
        decode_video(b"hello world, not a video", path="t.mp4")
    with pytest.raises(DecodeError, match="g.mp4"):  # an MP4 header and garbage
        decode_video(b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2" + bytes(range(256)) * 8, path="g.mp4")
    assert sniff_video(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf") is None  # AVIF stays an image


def test_missing_pyav_names_the_extra(monkeypatch, clip: Path) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(MissingDependencyError, match=r"fakescope\[video\]"):
        load_video(clip)
