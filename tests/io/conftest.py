"""A corpus of image files for the decoder tests, built in a temporary folder.

Every case is made here from a small asymmetric picture, in every format and colour
layout fakescope reads, with the pixels ``decode`` must return.  Odd and broken files
(empty, random, truncated, lying headers, bombs) are made by the fixtures below.
Case names are known at collection (``CASE_BUILDERS``), so tests parametrised over
``case_name`` get one test id per file.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FAKESCOPE_DATA", REPO.parent / "shared" / "data"))

W, H = 48, 32  # landscape, so rotations show in the shape


def reference_rgb() -> np.ndarray:
    """An H×W×3 picture that no flip or rotation maps onto itself: smooth ramps (kind to
    lossy codecs) plus a bright block near the top-left corner."""
    y, x = np.mgrid[0:H, 0:W]
    img = np.empty((H, W, 3), np.uint8)
    img[..., 0] = (x * 255 // (W - 1)).astype(np.uint8)
    img[..., 1] = (y * 255 // (H - 1)).astype(np.uint8)
    img[..., 2] = 60
    img[2:10, 3:15] = (250, 250, 40)
    return img


def alpha_ramp() -> np.ndarray:
    """Alpha: opaque left third, a ramp, then fully transparent right columns."""
    a = np.full((H, W), 255, np.uint8)
    a[:, W // 3:] = np.linspace(255, 0, W - W // 3).astype(np.uint8)[None, :]
    a[:, -4:] = 0
    return a


def over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The expected compositing, computed independently in floating point."""
    a = alpha.astype(np.float64)[..., None] / 255.0
    return np.round(rgb * a + 255.0 * (1.0 - a)).astype(np.uint8)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with a valid CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_from_rows(width: int, height: int, bit_depth: int, colour_type: int, raw_rows: bytes,
                  extra_before_iend: bytes = b"") -> bytes:
    """A PNG written by hand (for layouts Pillow does not write: 16-bit RGB, lying headers)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw_rows))
            + extra_before_iend + png_chunk(b"IEND", b""))


@dataclass(frozen=True)
class Case:
    """One corpus file and what decoding it must give."""

    name: str
    path: Path
    format: str
    mode: str
    expected: np.ndarray  # H×W×3 uint8, orientation applied
    tol: float  # largest allowed mean absolute difference (0: exact)
    has_alpha: bool = False
    frames: int = 1


def _build_cases() -> dict[str, Callable[[], tuple[str, bytes, str, str, np.ndarray, float, bool, int]]]:
    ref = reference_rgb()
    pil = Image.fromarray(ref)
    grey = np.asarray(pil.convert("L"))
    grey3 = np.repeat(grey[..., None], 3, axis=2)
    alpha = alpha_ramp()
    rgba = Image.fromarray(np.dstack([ref, alpha]))

    def jpeg(**kw):
        return lambda: ("a.jpg", encode(pil, "JPEG", **kw), "JPEG", "RGB", ref, 4.0, False, 1)

    def palette(transparent: bool):
        def build():
            p = pil.quantize(colors=16, dither=Image.Dither.NONE)
            expected = np.array(p.convert("RGB"))
            kw = {}
            if transparent:
                idx = int(np.asarray(p)[0, W - 1])  # the colour of the top-right pixel
                kw["transparency"] = idx
                expected[np.asarray(p) == idx] = 255
            return ("p.png", encode(p, "PNG", **kw), "PNG", "P", expected, 0.0, transparent, 1)
        return build

    def png16_grey():
        v = (np.arange(H * W, dtype=np.uint32).reshape(H, W) * 47 % 65536).astype(np.uint16)
        expected = np.floor(v / 257.0 + 0.5).astype(np.uint8)
        return ("g16.png", encode(Image.fromarray(v), "PNG"), "PNG", "I;16",
                np.repeat(expected[..., None], 3, axis=2), 0.0, False, 1)

    def png16_rgb():
        v = ref.astype(np.uint16) * 257  # 16-bit values whose 8-bit form is exactly ref
        rows = b"".join(b"\x00" + v[r].astype(">u2").tobytes() for r in range(H))
        return ("rgb16.png", png_from_rows(W, H, 16, 2, rows), "PNG", "RGB", ref, 0.0, False, 1)

    def one_bit():
        bits = (ref[..., 0] > 127)
        img = Image.fromarray(bits)
        expected = np.repeat(np.where(bits, 255, 0).astype(np.uint8)[..., None], 3, axis=2)
        return ("b.png", encode(img, "PNG"), "PNG", "1", expected, 0.0, False, 1)

    def animated(fmt: str, filename: str, mode: str, tol: float, **kw):
        def build():
            second = Image.fromarray(255 - ref)
            third = Image.fromarray(ref[::-1].copy())
            data = encode(pil, fmt, save_all=True, append_images=[second, third], duration=100, loop=0, **kw)
            expected = np.asarray(Image.open(io.BytesIO(encode(pil, fmt, **kw))).convert("RGB")) if fmt == "GIF" else ref
            return (filename, data, fmt, mode, expected, tol, False, 3)
        return build

    def tiff_cmyk():
        cmyk = pil.convert("CMYK")
        return ("c.tif", encode(cmyk, "TIFF"), "TIFF", "CMYK", np.asarray(cmyk.convert("RGB")), 0.0, False, 1)

    def jpeg_cmyk():
        cmyk = pil.convert("CMYK")
        return ("cmyk.jpg", encode(cmyk, "JPEG", quality=95), "JPEG", "CMYK",
                np.asarray(cmyk.convert("RGB")), 4.0, False, 1)

    def tiff16():
        v = ref[..., 1].astype(np.uint16) * 257
        return ("g16.tif", encode(Image.fromarray(v), "TIFF"), "TIFF", "I;16", np.repeat(ref[..., 1:2], 3, axis=2),
                0.0, False, 1)

    def tiff16_big_endian():
        v = (ref[..., 0].astype(np.uint16) * 257).astype(">u2")
        return ("g16b.tif", encode(Image.fromarray(v), "TIFF"), "TIFF", "I;16B",
                np.repeat(ref[..., 0:1], 3, axis=2), 0.0, False, 1)

    def tiff_float():
        f = ref[..., 0].astype(np.float32) / 255.0 * 3.0 - 1.0  # range -1..2: min-max back to 0..255
        return ("f.tif", encode(Image.fromarray(f), "TIFF"), "TIFF", "F", np.repeat(ref[..., 0:1], 3, axis=2),
                0.6, False, 1)

    def heic():
        import pillow_heif

        buf = io.BytesIO()
        pillow_heif.from_pillow(pil).save(buf, quality=95)
        return ("a.heic", buf.getvalue(), "HEIF", "RGB", ref, 6.0, False, 1)

    return {
        "jpeg_baseline_420": jpeg(quality=95, subsampling=2),
        "jpeg_progressive_444": jpeg(quality=95, subsampling=0, progressive=True),
        "jpeg_422": jpeg(quality=95, subsampling=1),
        "jpeg_grey": lambda: ("g.jpg", encode(pil.convert("L"), "JPEG", quality=95), "JPEG", "L", grey3, 3.0,
                              False, 1),
        "jpeg_cmyk": jpeg_cmyk,
        "png_rgb": lambda: ("a.png", encode(pil, "PNG"), "PNG", "RGB", ref, 0.0, False, 1),
        "png_rgba": lambda: ("rgba.png", encode(rgba, "PNG"), "PNG", "RGBA", over_white(ref, alpha), 0.0, True, 1),
        "png_p": palette(False),
        "png_p_transparency": palette(True),
        "png_l": lambda: ("l.png", encode(pil.convert("L"), "PNG"), "PNG", "L", grey3, 0.0, False, 1),
        "png_la": lambda: ("la.png", encode(Image.fromarray(np.dstack([grey, alpha])), "PNG"), "PNG", "LA",
                           over_white(grey3, alpha), 0.0, True, 1),
        "png_16bit_grey": png16_grey,
        "png_16bit_rgb": png16_rgb,
        "png_1bit": one_bit,
        "png_apng": animated("PNG", "anim.png", "RGB", 0.0),
        "webp_lossy": lambda: ("a.webp", encode(pil, "WEBP", quality=95), "WEBP", "RGB", ref, 5.0, False, 1),
        "webp_lossless": lambda: ("b.webp", encode(pil, "WEBP", lossless=True), "WEBP", "RGB", ref, 0.0, False, 1),
        "webp_lossless_rgba": lambda: ("c.webp", encode(rgba, "WEBP", lossless=True, exact=True), "WEBP", "RGBA",
                                       over_white(ref, alpha), 0.0, True, 1),
        "webp_animated": animated("WEBP", "anim.webp", "RGB", 0.0, lossless=True),
        "gif_animated": animated("GIF", "anim.gif", "P", 0.0),
        "bmp": lambda: ("a.bmp", encode(pil, "BMP"), "BMP", "RGB", ref, 0.0, False, 1),
        "tiff_rgb": lambda: ("a.tif", encode(pil, "TIFF", compression="tiff_lzw"), "TIFF", "RGB", ref, 0.0, False, 1),
        "tiff_cmyk": tiff_cmyk,
        "tiff_16bit": tiff16,
        "tiff_16bit_big_endian": tiff16_big_endian,
        "tiff_float": tiff_float,
        "heic": heic,
        "avif": lambda: ("a.avif", encode(pil, "AVIF", quality=95), "AVIF", "RGB", ref, 6.0, False, 1),
    }


CASE_BUILDERS = _build_cases()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case_name" in metafunc.fixturenames:
        metafunc.parametrize("case_name", sorted(CASE_BUILDERS))


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    """Every case of ``CASE_BUILDERS`` written to a file (named by its case)."""
    folder = tmp_path_factory.mktemp("io_corpus")
    out: dict[str, Case] = {}
    for name, build in CASE_BUILDERS.items():
        filename, data, fmt, mode, expected, tol, has_alpha, frames = build()
        path = folder / f"{name}{Path(filename).suffix}"
        path.write_bytes(data)
        out[name] = Case(name, path, fmt, mode, np.ascontiguousarray(expected), tol, has_alpha, frames)
    return out


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers above, for the test modules (which cannot import this conftest reliably)."""
    return SimpleNamespace(W=W, H=H, reference_rgb=reference_rgb, alpha_ramp=alpha_ramp, over_white=over_white,
                           encode=encode, png_chunk=png_chunk, png_from_rows=png_from_rows)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder (``FAKESCOPE_DATA``), or skip."""
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA} (set FAKESCOPE_DATA)")
    return DATA
