"""fakescope.io.decode: every format, every conversion, orientation, limits and errors."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import simplejpeg
from PIL import Image, ImageFile, ImageOps

from fakescope.errors import (
    DecodeError,
    EmptyFileError,
    ImageTooLargeError,
    TruncatedFileError,
    UnsupportedFormatError,
    UsageError,
)
from fakescope.io.decode import IMAGE_EXTENSIONS, DecodeLimits, decode, load

EXIF_TRANSPOSE = {  # the EXIF meaning of each orientation, as Pillow operations
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _with_orientation(o: int) -> Image.Exif:
    e = Image.Exif()
    e[0x0112] = o
    return e


# ---------------------------------------------------------------------------- every format


def test_corpus_case_decodes_to_expected_pixels(corpus, case_name, kit):
    case = corpus[case_name]
    s = load(case.path)
    img = s.image
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.flags.c_contiguous and img.flags.writeable
    assert img.shape == case.expected.shape, (img.shape, case.expected.shape)
    mad = _mad(img, case.expected)
    if case.tol == 0:
        assert np.array_equal(img, case.expected), f"{case_name}: not exact, mean abs diff {mad:.3f}"
    else:
        assert mad < case.tol, f"{case_name}: mean abs diff {mad:.2f} >= {case.tol}"
    m = s.metadata
    assert (m.format, m.mode, m.frames) == (case.format, case.mode, case.frames)
    assert (m.width, m.height) == (img.shape[1], img.shape[0]) == (kit.W, kit.H)
    assert s.has_alpha is case.has_alpha
    raw = case.path.read_bytes()
    assert s.data == raw and s.sha256 == hashlib.sha256(raw).hexdigest()
    assert s.path == str(case.path)
    json.dumps(m.to_dict())  # the metadata is JSON-able as it stands


def test_jpeg_subsampling_and_tables(corpus):
    got = {n: load(corpus[n].path).metadata for n in
           ("jpeg_baseline_420", "jpeg_progressive_444", "jpeg_422", "jpeg_grey", "png_rgb")}
    assert got["jpeg_baseline_420"].jpeg_subsampling == "4:2:0"
    assert got["jpeg_progressive_444"].jpeg_subsampling == "4:4:4"
    assert got["jpeg_422"].jpeg_subsampling == "4:2:2"
    assert got["jpeg_grey"].jpeg_subsampling is None
    assert got["png_rgb"].jpeg_subsampling is None and got["png_rgb"].jpeg_quantization is None
    q = got["jpeg_baseline_420"].jpeg_quantization
    assert sorted(q) == [0, 1] and all(len(t) == 64 for t in q.values())


def test_custom_quantization_tables_round_trip(kit):
    luma, chroma = list(range(1, 65)), [2 * v for v in range(1, 65)]
    data = kit.encode(Image.fromarray(kit.reference_rgb()), "JPEG", qtables=[luma, chroma])
    assert decode(data).metadata.jpeg_quantization == {0: luma, 1: chroma}


def test_format_comes_from_content_not_extension(tmp_path, corpus):
    for src, fake_name in (("png_rgb", "really_a_png.jpg"), ("webp_lossless", "x.png"), ("jpeg_grey", "y.gif")):
        p = tmp_path / fake_name
        p.write_bytes(corpus[src].path.read_bytes())
        s = load(p)
        assert s.metadata.format == corpus[src].format
        assert s.image.shape == corpus[src].expected.shape


def test_image_extensions():
    assert {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".gif",
            ".heic", ".heif", ".avif"} == IMAGE_EXTENSIONS
    assert all(e == e.lower() and e.startswith(".") for e in IMAGE_EXTENSIONS)


def test_alpha_composited_on_white_only_where_transparent(corpus, kit):
    s = load(corpus["png_rgba"].path)
    ref = kit.reference_rgb()
    opaque = slice(0, kit.W // 3)
    assert np.array_equal(s.image[:, opaque], ref[:, opaque])  # alpha 255: untouched
    assert (s.image[:, -4:] == 255).all()  # alpha 0: white
    assert s.has_alpha


def test_opaque_rgba_keeps_pixels_and_reports_alpha(kit):
    ref = kit.reference_rgb()
    data = kit.encode(Image.fromarray(np.dstack([ref, np.full((kit.H, kit.W), 255, np.uint8)])), "PNG")
    s = decode(data)
    assert np.array_equal(s.image, ref) and s.has_alpha and s.metadata.mode == "RGBA"


def test_sixteen_bit_is_scaled_not_clipped(kit):
    v = np.array([[0, 128, 129, 257, 32768, 65534, 65535]], np.uint16)
    s = decode(kit.encode(Image.fromarray(v), "PNG"))
    assert s.image[0, :, 0].tolist() == [0, 0, 1, 1, 128, 255, 255]


def test_first_frame_of_animation(corpus):
    for name in ("gif_animated", "webp_animated", "png_apng"):
        s = load(corpus[name].path)
        assert s.metadata.frames == 3
        # frame 2 is the negative: frame 1 must not be mixed with it
        assert _mad(s.image, corpus[name].expected) <= corpus[name].tol + 0.5


# ---------------------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_exif_orientation(orientation, fmt, kit):
    ref = kit.reference_rgb()
    pil = Image.fromarray(ref)
    kw = {"quality": 100, "subsampling": 0} if fmt == "JPEG" else {}
    data = kit.encode(pil, fmt, exif=_with_orientation(orientation), **kw)
    s = decode(data, path=f"o{orientation}.{fmt.lower()}")
    expected = np.asarray(pil.transpose(EXIF_TRANSPOSE[orientation]) if orientation > 1 else pil)
    assert s.image.shape == expected.shape
    assert s.image.flags.c_contiguous
    if fmt == "PNG":
        assert np.array_equal(s.image, expected)
    else:
        assert _mad(s.image, expected) < 1.5
    assert s.metadata.orientation == orientation
    assert (s.metadata.width, s.metadata.height) == (expected.shape[1], expected.shape[0])
    assert s.metadata.exif["Orientation"] == orientation


def test_orientation_6_means_rotate_clockwise(kit):
    # a 2x3 (H×W) image; orientation 6: the displayed top row is the stored left column, bottom up
    stored = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
    data = kit.encode(Image.fromarray(stored), "PNG", exif=_with_orientation(6))
    shown = decode(data).image[..., 0]
    assert shown.tolist() == [[120, 0], [160, 40], [200, 80]]


def test_avif_orientation_applied(kit):
    ref = kit.reference_rgb()
    data = kit.encode(Image.fromarray(ref), "AVIF", quality=95, exif=_with_orientation(6))
    s = decode(data)
    assert s.metadata.orientation == 6
    assert _mad(s.image, np.asarray(Image.fromarray(ref).transpose(Image.Transpose.ROTATE_270))) < 6


def test_heif_orientation_applied_once(kit):
    import pillow_heif

    ref = kit.reference_rgb()
    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(ref)).save(buf, quality=95, exif=_with_orientation(6).tobytes())
    s = decode(buf.getvalue())
    # pillow-heif turns orientation 6 into the container's rotation (irot); libheif applies it
    # and the EXIF tag is reset to 1: fakescope must not rotate a second time
    expected = np.asarray(Image.fromarray(ref).transpose(Image.Transpose.ROTATE_270))
    assert s.image.shape == expected.shape and _mad(s.image, expected) < 6
    assert s.metadata.orientation == 6


# ---------------------------------------------------------------------------- fast path


def test_fast_path_used_for_plain_jpeg_only(corpus, monkeypatch):
    calls = []
    real = simplejpeg.decode_jpeg

    def spy(data, *args, **kw):
        calls.append(len(data))
        return real(data, *args, **kw)

    monkeypatch.setattr(simplejpeg, "decode_jpeg", spy)
    load(corpus["jpeg_baseline_420"].path)
    load(corpus["jpeg_progressive_444"].path)
    load(corpus["jpeg_grey"].path)
    assert len(calls) == 3
    load(corpus["jpeg_cmyk"].path)
    load(corpus["png_rgb"].path)
    assert len(calls) == 3


def test_fast_path_matches_pillow_on_real_jpegs(data_root):
    jpegs = sorted(p for p in (data_root / "modern").rglob("*")
                   if p.suffix.lower() in (".jpg", ".jpeg"))[::6][:20]
    assert jpegs, "no JPEGs under modern/"
    for p in jpegs:
        s = load(p)
        with Image.open(p) as im:
            ref = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        assert s.image.shape == ref.shape
        assert _mad(s.image, ref) < 2.0, p


def test_fallback_to_pillow_when_simplejpeg_is_strict(kit):
    good = kit.encode(Image.fromarray(kit.reference_rgb()), "JPEG", quality=95)
    assert good.endswith(b"\xff\xd9")
    sof = good.find(b"\xff\xc0")
    odd = good[:sof] + b"\x00\x00" + good[sof:]  # junk between markers: libjpeg warns, strict simplejpeg refuses
    with pytest.raises(ValueError):
        simplejpeg.decode_jpeg(odd, colorspace="RGB")
    s = decode(odd)
    assert _mad(s.image, kit.reference_rgb()) < 3


# ---------------------------------------------------------------------------- errors


def test_empty_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty.jpg") as e:
        load(p)
    assert "empty" in str(e.value)
    with pytest.raises(EmptyFileError, match="upload-1"):
        decode(b"", path="upload-1")


def test_random_bytes_are_unsupported(tmp_path):
    p = tmp_path / "noise.png"
    p.write_bytes(random.Random(1).randbytes(5000))
    with pytest.raises(UnsupportedFormatError, match="noise.png") as e:
        load(p)
    assert "not an image" in str(e.value)


@pytest.mark.parametrize("content, words", [
    (b"name,label\na.jpg,real\n", "text"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "ISO media"),
])
def test_non_images_are_named_in_the_error(tmp_path, content, words):
    p = tmp_path / "thing.jpg"
    p.write_bytes(content)
    with pytest.raises(UnsupportedFormatError, match=words) as e:
        load(p)
    assert str(p) in str(e.value)


def _idat_span(png: bytes) -> tuple[int, int]:
    pos = 8
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"IDAT":
            return pos + 8, n
        pos += 12 + n
    raise AssertionError("no IDAT")


def _truncations(corpus) -> list[tuple[str, bytes]]:
    out = []
    for name in ("jpeg_baseline_420", "jpeg_progressive_444", "jpeg_grey", "jpeg_cmyk", "webp_lossy",
                 "webp_lossless", "webp_animated", "tiff_rgb", "tiff_cmyk", "bmp", "avif", "heic"):
        data = corpus[name].path.read_bytes()
        for frac in (0.3, 0.6, 0.9):
            out.append((f"{name}@{frac}", data[: int(len(data) * frac)]))
        out.append((f"{name}@-2", data[:-2]))
    gif = corpus["gif_animated"].path.read_bytes()
    first_frame_end = gif.find(b"\x00\x21\xf9", 800) + 1  # the graphic control block of frame 2
    for frac in (0.3, 0.6, 0.9):  # inside the first frame
        out.append((f"gif@{frac}", gif[: int(first_frame_end * frac)]))
    for cut in (first_frame_end + 20, int(len(gif) * 0.9)):  # inside a later frame: still truncated
        out.append((f"gif@{cut}", gif[:cut]))
    for name in ("png_rgb", "png_rgba", "png_16bit_grey"):
        data = corpus[name].path.read_bytes()
        start, n = _idat_span(data)
        for frac in (0.0, 0.5, 0.95):
            out.append((f"{name}@idat{frac}", data[: start + int(n * frac)]))
    return out


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning", "ignore:Truncated File Read:UserWarning")
def test_truncated_files_raise_never_half_images(corpus, tmp_path):
    cases = _truncations(corpus)
    assert len(cases) > 40
    for label, data in cases:
        p = tmp_path / label
        p.write_bytes(data)
        with pytest.raises(TruncatedFileError, match="truncated") as e:
            load(p)
        assert str(p) in str(e.value), label


def test_truncated_even_when_pillow_is_set_lenient(corpus, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # what research code often does
    data = corpus["png_rgb"].path.read_bytes()
    start, n = _idat_span(data)
    with pytest.raises(TruncatedFileError):
        decode(data[: start + n // 2], path="half.png")
    jpg = corpus["jpeg_baseline_420"].path.read_bytes()
    with pytest.raises(TruncatedFileError):
        decode(jpg[: len(jpg) // 2], path="half.jpg")


def test_png_missing_only_iend_still_decodes(corpus):
    data = corpus["png_rgb"].path.read_bytes()
    s = decode(data[:-12])  # the pixels are all there
    assert np.array_equal(s.image, corpus["png_rgb"].expected)


def _png_header_only(kit, width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + kit.png_chunk(b"IHDR", ihdr) + kit.png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + kit.png_chunk(b"IEND", b""))


def test_lying_png_header_fails_fast(tmp_path, kit):
    p = tmp_path / "huge.png"
    p.write_bytes(_png_header_only(kit, 50000, 50000))
    t0 = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="huge.png"):
        load(p)
    with pytest.raises(ImageTooLargeError, match="50000x50000 = 2,500,000,000 pixels"):
        load(p, limits=DecodeLimits(max_pixels=10**9))
    with pytest.raises(ImageTooLargeError, match="Pillow's hard limit"):
        load(p, limits=DecodeLimits(max_pixels=10**10))  # ours allows it, Pillow's does not
    assert time.perf_counter() - t0 < 1.0


def test_max_side(tmp_path, kit):
    with pytest.raises(ImageTooLargeError, match="max_side"):
        decode(_png_header_only(kit, 70000, 4), path="wide.png")
    with pytest.raises(ImageTooLargeError, match="max_side"):
        decode(kit.encode(Image.fromarray(kit.reference_rgb()), "PNG"), limits=DecodeLimits(max_side=40))


def test_lying_jpeg_header_fails_fast(kit):
    data = bytearray(kit.encode(Image.fromarray(kit.reference_rgb()), "JPEG", quality=90))
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 60000, 60000)  # height, width
    t0 = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="lie.jpg"):
        decode(bytes(data), path="lie.jpg")
    assert time.perf_counter() - t0 < 1.0


def test_decompression_bomb(tmp_path, kit):
    # a 20000x20000 1-bit PNG of zeros: 50 MB of rows that compress to ~50 kB
    side = 20000
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + side // 8)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + kit.png_chunk(b"IHDR", ihdr) + kit.png_chunk(b"IDAT", idat)
            + kit.png_chunk(b"IEND", b""))
    assert len(data) < 200_000
    p = tmp_path / "bomb.png"
    p.write_bytes(data)
    t0 = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="bomb.png") as e:
        load(p, limits=DecodeLimits(max_pixels=50_000_000))
    assert "20000x20000" in str(e.value) and "max_pixels" in str(e.value)
    with pytest.raises(ImageTooLargeError):  # default limits: Pillow's own hard limit says no too
        load(p)
    assert time.perf_counter() - t0 < 1.0


def test_no_bomb_warning_escapes_and_our_limit_decides(monkeypatch, kit):
    data = kit.encode(Image.fromarray(kit.reference_rgb()), "PNG")  # 1536 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow would warn (1000 < 1536 <= 2000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        before = list(warnings.filters)
        s = decode(data)
        assert warnings.filters == before, "decode() left a warnings filter behind"
    assert s.image.shape == (kit.H, kit.W, 3)
    with pytest.raises(ImageTooLargeError):
        decode(data, limits=DecodeLimits(max_pixels=1000))


def test_threads_get_the_same_pixels(corpus):
    from concurrent.futures import ThreadPoolExecutor

    paths = [c.path for c in corpus.values()] * 3
    serial = [load(p).image for p in paths]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda p: load(p).image, paths))
    assert all(np.array_equal(a, b) for a, b in zip(serial, threaded))


def test_max_bytes(tmp_path, corpus, kit):
    data = corpus["png_rgb"].path.read_bytes()
    with pytest.raises(ImageTooLargeError, match="max_bytes"):
        decode(data, path="x.png", limits=DecodeLimits(max_bytes=len(data) - 1))
    with pytest.raises(ImageTooLargeError, match=str(corpus["png_rgb"].path.name)):
        load(corpus["png_rgb"].path, limits=DecodeLimits(max_bytes=100))
    assert load(corpus["png_rgb"].path, limits=DecodeLimits(max_bytes=len(data))).image.shape == (kit.H, kit.W, 3)


def test_corrupt_but_complete_file_is_a_decode_error(kit):
    data = bytearray(kit.encode(Image.fromarray(kit.reference_rgb()), "PNG"))
    start, n = _idat_span(bytes(data))
    data[start] ^= 0xFF  # breaks the zlib header of the image data
    with pytest.raises(DecodeError, match="bad.png") as e:
        decode(bytes(data), path="bad.png")
    assert not isinstance(e.value, (TruncatedFileError, UnsupportedFormatError))
    assert e.value.__cause__ is not None
    jpg = bytearray(kit.encode(Image.fromarray(kit.reference_rgb()), "JPEG"))
    sof = jpg.find(b"\xff\xc0")
    jpg[sof + 9] = 7  # seven colour components: no decoder accepts that
    with pytest.raises(DecodeError, match="bad.jpg"):
        decode(bytes(jpg), path="bad.jpg")


def test_load_path_errors(tmp_path):
    with pytest.raises(DecodeError, match="no such file") as e:
        load(tmp_path / "missing.png")
    assert isinstance(e.value.__cause__, FileNotFoundError)
    with pytest.raises(DecodeError, match="folder"):
        load(tmp_path)


def test_keep_bytes_false(corpus):
    raw = corpus["jpeg_baseline_420"].path.read_bytes()
    s = load(corpus["jpeg_baseline_420"].path, limits=DecodeLimits(keep_bytes=False))
    assert s.data == b"" and s.sha256 == hashlib.sha256(raw).hexdigest()


def test_decode_accepts_bytearray_and_rejects_other_types(corpus):
    raw = corpus["png_rgb"].path.read_bytes()
    assert decode(bytearray(raw)).data == raw
    assert decode(memoryview(raw)).sha256 == hashlib.sha256(raw).hexdigest()
    with pytest.raises(UsageError):
        decode(str(corpus["png_rgb"].path))  # a path is not bytes: use load()


@pytest.mark.parametrize("bad", [dict(max_pixels=0), dict(max_bytes=-1), dict(max_side=1.5), dict(max_side=True)])
def test_limits_are_validated(bad):
    with pytest.raises(UsageError):
        DecodeLimits(**bad)


def test_no_file_handles_leak(corpus, tmp_path):
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        pytest.skip("needs /proc/self/fd")
    trunc = tmp_path / "t.jpg"
    trunc.write_bytes(corpus["jpeg_baseline_420"].path.read_bytes()[:300])
    paths = [c.path for c in corpus.values()] + [trunc, tmp_path / "missing.png"]
    before = len(os.listdir(fd_dir))
    for _ in range(3):
        for p in paths:
            try:
                load(p)
            except DecodeError:
                pass
    assert len(os.listdir(fd_dir)) == before


def test_import_has_no_side_effects():
    code = (
        "from PIL import Image, ImageFile\n"
        "before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)\n"
        "import fakescope.io.decode, fakescope.io.metadata\n"
        "assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before\n"
        "assert 'HEIF' not in Image.OPEN, 'pillow-heif registered at import'\n"
        "import io, pillow_heif\n"
        "buf = io.BytesIO(); pillow_heif.from_pillow(Image.new('RGB', (8, 8))).save(buf)\n"
        "s = fakescope.io.decode.decode(buf.getvalue())\n"
        "assert s.metadata.format == 'HEIF' and 'HEIF' in Image.OPEN\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ---------------------------------------------------------------------------- the real files


def test_every_real_file_decodes(data_root):
    counts: dict[str, int] = {}
    failures = []
    others = []
    for sub in ("modern", "c2pa"):
        for p in sorted((data_root / sub).rglob("*")):
            if not p.is_file():
                continue
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                others.append(p)
                continue
            try:
                s = load(p)
            except DecodeError as e:  # collect them all, then fail with the list
                failures.append(f"{p}: {e}")
                continue
            assert s.image.shape == (s.metadata.height, s.metadata.width, 3)
            key = f"{sub}/{s.metadata.format}"
            counts[key] = counts.get(key, 0) + 1
    assert not failures, "\n".join(failures)
    assert sum(counts.values()) > 400, counts
    for p in others:  # licences, keys, manifests: named as non-images
        with pytest.raises(UnsupportedFormatError, match="not an image"):
            load(p)
    print(f"decoded {sum(counts.values())} real files: {dict(sorted(counts.items()))}; "
          f"{len(others)} non-image files rejected")


def test_images_and_videos_share_the_file_checks(tmp_path):
    """io.video reads files through io.decode's one implementation: same errors for the same problems."""
    from fakescope.io.decode import read_file
    from fakescope.io.video import VideoLimits, load_video

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * 1000)
    cases = [(tmp_path / "gone.mp4", DecodeError, "no such file"), (tmp_path, DecodeError, "is a folder"),
             (empty, EmptyFileError, "is empty")]
    for path, err, words in cases:
        with pytest.raises(err, match=words):
            read_file(path)
        with pytest.raises(err, match=words):
            load_video(path)
    with pytest.raises(ImageTooLargeError, match=r"DecodeLimits\.max_bytes"):
        read_file(big, limits=DecodeLimits(max_bytes=100))
    with pytest.raises(ImageTooLargeError, match=r"VideoLimits\.max_bytes"):
        load_video(big, limits=VideoLimits(max_bytes=100))
    # not a video container: the image limit holds even when a video limit is given
    with pytest.raises(ImageTooLargeError, match=r"DecodeLimits\.max_bytes"):
        read_file(big, limits=DecodeLimits(max_bytes=100), video_max_bytes=10_000)
