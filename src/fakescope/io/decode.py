"""Safe, fast image decoding: bytes → :class:`fakescope.types.Sample`.

This is the one place in fakescope where files become pixels.  Every reader (the scan,
the service, the benchmarks) calls :func:`load` or :func:`decode`, so every image gets
the same limits, the same conversions and the same errors.

What :func:`decode` guarantees
------------------------------
* ``Sample.image`` is ``H×W×3`` ``uint8`` RGB, C-contiguous and writable, with the EXIF
  orientation applied (``metadata.width``/``height`` are the oriented size).
* The format comes from the content, never from the file name.
* Size limits (:class:`DecodeLimits`) are checked on the header, *before* any pixel is
  decoded; a 60000×60000 header fails at once.
* A file that ends early raises :class:`~fakescope.errors.TruncatedFileError`; it never
  comes back as a half-grey image.
* Every error is a :class:`~fakescope.errors.DecodeError` whose message starts with the
  path and says what is wrong; the decoder's own exception is chained as ``__cause__``.

Conversions (all of them here, nowhere else)
--------------------------------------------
* alpha (RGBA, LA, PA, palette or RGB/L with a transparent colour): composited onto a
  **white** background, only where alpha < 255 (opaque pixels keep their exact values);
  ``Sample.has_alpha`` is True whenever the source had alpha or transparency.
* palette ``P``, greyscale ``L``/``1``, ``CMYK`` (including Adobe's inverted CMYK JPEG),
  ``YCbCr``: converted by Pillow.
* 16-bit (``I;16``, ``I;16B``, ...): scaled to 8 bits as ``round(v / 257)``; 32-bit ``I``
  the same when its values fit 0..65535, else min-max; float ``F``: min-max over the
  finite values.  16-bit RGB(A) PNG/TIFF are reduced to 8 bits by Pillow (high byte).
* animations (GIF, WebP, APNG), multi-page TIFF, MPO, HEIF sequences: the first frame;
  ``metadata.frames`` says how many there are.
* HEIF/HEIC through pillow-heif (registered on the first HEIF input, not at import),
  AVIF through Pillow's own plugin.

The fast path
-------------
A JPEG whose colour is YCbCr/RGB or greyscale is decoded by ``simplejpeg`` (libjpeg-turbo,
accurate DCT and upsampling; about 1.5× faster than Pillow, same pixels), while its metadata comes from
Pillow's lazy ``Image.open``, which reads the markers but no pixels.  When simplejpeg
refuses a file (it is strict), Pillow decodes it, and Pillow's verdict stands.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import stat
import struct
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import simplejpeg
from PIL import (
    BmpImagePlugin,  # noqa: F401  (importing a plugin registers it with Image.open)
    GifImagePlugin,  # noqa: F401
    Image,
    ImageFile,
    JpegImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    TiffImagePlugin,  # noqa: F401
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401
)

from ..errors import (
    DecodeError,
    EmptyFileError,
    FakescopeError,
    ImageTooLargeError,
    TruncatedFileError,
    UnsupportedFormatError,
    UsageError,
)
from ..types import ImageMetadata, Sample
from . import metadata as _meta

try:  # Pillow >= 11.2 ships an AVIF plugin; without it AVIF files are "unsupported"
    from PIL import AvifImagePlugin  # noqa: F401
except ImportError:  # pragma: no cover - depends on the Pillow build
    pass

__all__ = ["DecodeLimits", "decode", "load", "read_file", "read_limited", "IMAGE_EXTENSIONS", "SUPPORTED_FORMATS", "compression_class", "COMPRESSION_CLASSES"]

_log = logging.getLogger(__name__)

#: File extensions that folder walks treat as images (lower case, with the dot).
#: Only a hint for discovery: :func:`decode` always judges the format from the bytes.
IMAGE_EXTENSIONS: frozenset[str] = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff",
    ".gif", ".heic", ".heif", ".avif",
})

#: The formats fakescope reads, as reported in ``ImageMetadata.format``.
SUPPORTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF")

#: Pillow's names → ours (an MPO is a JPEG with extra frames).
_FORMAT_NAMES = {"MPO": "JPEG", "DIB": "BMP"}

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_WIDE_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
                          b"mif1", b"msf1", b"mif2", b"miaf"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})

#: Formats whose structure is checked for truncation even when the decoder is content
#: (JPEG is not: both decoders refuse a short JPEG, and many carry data after EOI).
_STRUCTURE_CHECKED = frozenset({"PNG", "GIF", "WEBP", "TIFF", "HEIF", "AVIF"})

_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
                    16: 8, 17: 8, 18: 8}

_TRUNCATION_WORDS = ("truncated", "premature end", "unexpected end", "end of file", "end of data",
                     "not enough data", "short read")


@dataclass(frozen=True)
class DecodeLimits:
    """Limits checked before decoding, so hostile or absurd files fail fast.

    Parameters
    ----------
    max_bytes : the largest file accepted, in bytes (checked before reading it).
    max_pixels : the most pixels (width × height, from the header) accepted.  The default
        equals Pillow's own hard limit (``2 × Image.MAX_IMAGE_PIXELS``), which fakescope
        never changes: a larger value here does not lift Pillow's.
    max_side : the longest width or height accepted.
    keep_bytes : keep the raw file bytes in ``Sample.data`` (provenance analyzers need them);
        ``False`` stores ``b""`` (the sha256 is computed either way).

    Examples
    --------
    >>> DecodeLimits(max_pixels=4096 * 4096).max_side
    65535
    """

    max_bytes: int = 256 * 1024 * 1024
    max_pixels: int = 178_956_970
    max_side: int = 65_535
    keep_bytes: bool = True

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_side"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"DecodeLimits.{name} must be a positive integer, got {value!r}")


# --------------------------------------------------------------------------------------
# public API


def load(path: str | os.PathLike[str] | os.PathLike[bytes] | bytes, *,
         limits: DecodeLimits = DecodeLimits()) -> Sample:
    """Read and decode an image file.

    The file size is checked against ``limits.max_bytes`` before a byte is read, and the
    read itself stops one byte past the limit (a file that grows, or a device, cannot make
    it read more).  The file is closed before decoding starts.

    Parameters
    ----------
    path : the file.
    limits : decoding limits.

    Returns
    -------
    Sample
        ``path`` is the given path as a string.

    Raises
    ------
    DecodeError
        The file cannot be read (missing, a folder, permissions), with the OS error chained;
        or any of :func:`decode`'s errors.

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "a.png")
    ...     Image.new("RGB", (4, 3), (10, 20, 30)).save(p)
    ...     s = load(p)
    >>> s.image.shape, s.metadata.format, s.image[0, 0].tolist()
    ((3, 4, 3), 'PNG', [10, 20, 30])
    """
    return decode(read_file(path, limits=limits), path=os.fsdecode(os.fspath(path)), limits=limits)


def read_file(path: str | os.PathLike[str] | os.PathLike[bytes] | bytes, *,
              limits: DecodeLimits = DecodeLimits(), video_max_bytes: int | None = None) -> bytes:
    """Read an image file's bytes with :func:`load`'s checks and errors, without decoding them.

    ``decode(read_file(p), path=os.fsdecode(p))`` is ``load(p)``: the Ray engine's driver reads the
    files this way and ships the bytes to the workers, which need no access to the files.

    ``video_max_bytes``: the file may also be a video (the scan reads every input once and sniffs
    the bytes): a file over ``limits.max_bytes`` whose first bytes are a video container
    (:func:`fakescope.io.video.sniff_video`) is read up to this limit instead (``VideoLimits.max_bytes``).

    Raises
    ------
    DecodeError
        As :func:`load`, for everything met before decoding.
    """
    return read_limited(path, limits.max_bytes, limit_name="DecodeLimits.max_bytes", video_max_bytes=video_max_bytes)


def read_limited(path: str | os.PathLike[str] | os.PathLike[bytes] | bytes, max_bytes: int, *,
                 limit_name: str, what: str = "an image", video_max_bytes: int | None = None) -> bytes:
    """A file's bytes with the checks every reader of media files makes (the one implementation, for
    images and videos): it must exist and be a regular file, not empty, and at most ``max_bytes``
    (checked on its size before a byte is read; the read stops one byte past the limit, so a file
    that grows, or a device, cannot make it read more).  ``limit_name`` names the limit in the message;
    ``what`` ("an image", "a video") the kind of file expected; ``video_max_bytes``: see :func:`read_file`.

    Raises
    ------
    DecodeError
        Missing, a folder, not a regular file, unreadable (OS error chained); :class:`EmptyFileError`,
        :class:`ImageTooLargeError` subclasses of it.
    """
    name = os.fsdecode(os.fspath(path))
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        raise DecodeError(f"{name}: no such file") from e
    except OSError as e:
        raise DecodeError(f"{name}: cannot read the file: {e.strerror or e}") from e
    if stat.S_ISDIR(st.st_mode):
        raise DecodeError(f"{name}: is a folder, not {what} file")
    if not stat.S_ISREG(st.st_mode):
        raise DecodeError(f"{name}: is not a regular file (a pipe, socket or device), not reading it")
    if st.st_size == 0:
        raise EmptyFileError(f"{name}: the file is empty (0 bytes)")
    limit = max_bytes
    try:
        with open(path, "rb") as f:
            if st.st_size > max_bytes:
                head = f.read(64) if video_max_bytes is not None else b""
                if head and st.st_size <= video_max_bytes and _sniff_video(head):
                    limit = video_max_bytes  # type: ignore[assignment]
                else:
                    raise ImageTooLargeError(_too_many_bytes(name, st.st_size, max_bytes, limit_name))
                return head + f.read(limit + 1 - len(head))
            return f.read(limit + 1)
    except OSError as e:
        raise DecodeError(f"{name}: cannot read the file: {e.strerror or e}") from e


def _sniff_video(head: bytes) -> bool:
    from .video import sniff_video

    return sniff_video(head) is not None


def decode(data: bytes, *, path: str = "<bytes>", limits: DecodeLimits = DecodeLimits()) -> Sample:
    """Decode an image held in memory.

    Parameters
    ----------
    data : the encoded file (``bytes``; ``bytearray``/``memoryview`` are copied).
    path : a name for messages and ``Sample.path``.
    limits : decoding limits.

    Returns
    -------
    Sample
        RGB pixels (``H×W×3`` uint8, orientation applied), the raw bytes (unless
        ``limits.keep_bytes`` is False), their sha256 and the metadata.

    Raises
    ------
    EmptyFileError
        ``data`` is empty.
    UnsupportedFormatError
        The bytes are not an image in a format fakescope reads.
    ImageTooLargeError
        Over ``limits`` (bytes, pixels or side), checked before decoding pixels.
    TruncatedFileError
        The file ends before the image data does.
    DecodeError
        Anything else the decoder rejects (cause chained).

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGBA", (2, 1), (255, 0, 0, 0)).save(buf, "PNG")
    >>> s = decode(buf.getvalue(), path="clear.png")
    >>> s.metadata.format, s.metadata.mode, s.has_alpha, s.image[0, 0].tolist()
    ('PNG', 'RGBA', True, [255, 255, 255])
    >>> decode(b"hello", path="x.jpg")
    Traceback (most recent call last):
    ...
    fakescope.errors.UnsupportedFormatError: x.jpg: not an image fakescope can read (it is text); supported formats: JPEG, PNG, WEBP, GIF, BMP, TIFF, HEIF, AVIF
    """
    if not isinstance(limits, DecodeLimits):
        raise UsageError(f"limits must be a DecodeLimits, got {type(limits).__name__}")
    if isinstance(data, (bytearray, memoryview)):
        size = memoryview(data).nbytes
    elif isinstance(data, bytes):
        size = len(data)
    else:
        raise UsageError(f"{path}: decode() needs bytes, got {type(data).__name__}")
    if size == 0:
        raise EmptyFileError(f"{path}: the file is empty (0 bytes)")
    if size > limits.max_bytes:
        raise ImageTooLargeError(_too_many_bytes(path, size, limits.max_bytes))
    if not isinstance(data, bytes):
        data = memoryview(data).tobytes()

    kind = _sniff(data)
    if data[4:8] == b"ftyp" and kind != "AVIF":
        _ensure_heif_opener()
    try:
        with warnings.catch_warnings():
            # Pillow warns between MAX_IMAGE_PIXELS and twice that; our own limit, checked
            # right after opening, decides instead.  ("ignore", not "error": catch_warnings is
            # not thread-safe, and a leaked "ignore" of this one category is harmless.)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_open_formats(kind)) as im:
                return _decode_opened(im, data, path, kind, limits)
    except FakescopeError:
        raise
    except Image.DecompressionBombError as e:
        # Pillow's own hard limit fired inside Image.open, before we saw the size
        size_wh = _header_size(data, kind)
        if size_wh is not None:
            try:
                _check_size(*size_wh, path, limits)
            except ImageTooLargeError as ours:
                raise ours from e
        raise ImageTooLargeError(
            f"{path}: the image is too large to decode safely: {e} (Pillow's hard limit, "
            "2 × PIL.Image.MAX_IMAGE_PIXELS, which fakescope leaves as it is)"
        ) from e
    except UnidentifiedImageError as e:
        if kind is None:
            raise UnsupportedFormatError(
                f"{path}: not an image fakescope can read ({_describe(data)}); "
                f"supported formats: {', '.join(SUPPORTED_FORMATS)}"
            ) from e
        if kind == "HEIF" and not _ensure_heif_opener():
            raise UnsupportedFormatError(
                f"{path}: is a HEIF/HEIC image, which needs the package pillow-heif "
                "(pip install pillow-heif)"
            ) from e
        if _ends_early(data, kind):
            raise TruncatedFileError(
                f"{path}: the file is truncated: it ends ({size:,} bytes) before its {kind} "
                "header is complete"
            ) from e
        raise DecodeError(
            f"{path}: looks like a {kind} file, but its header cannot be read: "
            "the file is damaged or uses a variant fakescope cannot read"
        ) from e
    except MemoryError as e:
        raise DecodeError(f"{path}: ran out of memory while decoding the image") from e
    except Exception as e:
        if _is_truncation(e, data, kind):
            raise TruncatedFileError(
                f"{path}: the file is truncated: its {kind or 'image'} data ends before the "
                f"image is complete ({_reason(e)})"
            ) from e
        raise DecodeError(
            f"{path}: cannot decode this {kind or 'image'} file: {_reason(e)}"
        ) from e


# --------------------------------------------------------------------------------------
# the decoding steps


def _decode_opened(im: ImageFile.ImageFile, data: bytes, path: str, kind: str | None,
                   limits: DecodeLimits) -> Sample:
    width, height = im.size
    _check_size(width, height, path, limits)
    fmt = _FORMAT_NAMES.get(im.format or "", im.format or (kind or "unknown"))
    mode = im.mode
    frames = max(1, int(getattr(im, "n_frames", 1) or 1))

    image: np.ndarray | None = None
    has_alpha = False
    if fmt == "JPEG" and mode in ("RGB", "L"):
        image = _simplejpeg(data, width, height)
    if image is None:
        im.load()
        # Pillow notices missing pixel data (unless someone switched its global leniency on),
        # but not a cut in a later frame or chunk: the file's own structure is checked too.
        if (kind in _STRUCTURE_CHECKED or ImageFile.LOAD_TRUNCATED_IMAGES) and _ends_early(data, kind):
            raise TruncatedFileError(
                f"{path}: the file is truncated: its {kind} data ends before the file is complete"
            )
        image, has_alpha = _to_rgb(im, path)

    exif: dict[str, Any] = {}
    orientation = 1
    try:
        exif_obj = im.getexif()
        exif = _meta.exif_dict(exif_obj)
        orientation = _meta.exif_orientation(exif_obj)
    except Exception as e:  # a broken EXIF block must not cost the pixels
        _log.warning("%s: ignoring unreadable EXIF data (%s: %s)", path, type(e).__name__, e)

    if fmt == "HEIF":
        # libheif already applied the container's rotation/mirroring (irot/imir) and
        # pillow-heif reset the EXIF tag to 1; the original value is kept in info.
        orientation = int(im.info.get("original_orientation") or 1)
    else:
        image = _orient(image, orientation)

    meta = ImageMetadata(
        format=fmt,
        width=int(image.shape[1]),
        height=int(image.shape[0]),
        mode=mode,
        frames=frames,
        orientation=orientation,
        exif=exif,
        xmp=_meta.xmp_packet(im),
        text=_meta.text_chunks(im),
        icc_profile=_meta.has_icc_profile(im),
        jpeg_quantization=_meta.jpeg_quantization(im),
        jpeg_subsampling=_meta.jpeg_subsampling(im),
    )
    return Sample(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        data=data if limits.keep_bytes else b"",
        image=image,
        metadata=meta,
        has_alpha=has_alpha,
    )


def _check_size(width: int, height: int, path: str, limits: DecodeLimits) -> None:
    if width < 1 or height < 1:
        raise DecodeError(f"{path}: the header says the image is {width}x{height}: it has no pixels")
    if max(width, height) > limits.max_side:
        raise ImageTooLargeError(
            f"{path}: the image is {width}x{height}, its longest side is over the limit of "
            f"{limits.max_side:,} pixels (DecodeLimits.max_side); not decoding it"
        )
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"{path}: the image is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{limits.max_pixels:,} pixels (DecodeLimits.max_pixels); not decoding it "
            "(a possible decompression bomb)"
        )


def _simplejpeg(data: bytes, width: int, height: int) -> np.ndarray | None:
    """libjpeg-turbo via simplejpeg; ``None`` when it refuses (Pillow then decides)."""
    try:
        arr = simplejpeg.decode_jpeg(data, colorspace="RGB")
    except ValueError:
        return None
    if arr.shape != (height, width, 3):  # never trust a disagreement: let Pillow decode
        return None
    return arr


def _to_rgb(im: Image.Image, path: str) -> tuple[np.ndarray, bool]:
    """A loaded Pillow image → (H×W×3 uint8 C-contiguous RGB, had alpha)."""
    mode = im.mode
    transparency = im.info.get("transparency")
    has_alpha = mode in _ALPHA_MODES or transparency is not None
    if mode in _WIDE_MODES:
        raw = np.asarray(im)
        grey = _scale_to_uint8(raw, mode)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
        if isinstance(transparency, int) and mode != "F":
            rgb[raw == transparency] = 255  # a transparent grey level: white, like alpha 0
        return rgb, has_alpha
    if has_alpha:
        return _composite_on_white(im), True
    try:
        rgb_im = im if mode == "RGB" else im.convert("RGB")
    except ValueError as e:
        raise UnsupportedFormatError(
            f"{path}: the image's colour mode {mode} cannot be converted to RGB"
        ) from e
    return np.array(rgb_im, dtype=np.uint8, order="C"), False


def _scale_to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """Wide greyscale → uint8: 16-bit as round(v/257); out-of-range int and float: min-max."""
    if mode != "F":
        lo, hi = int(a.min()), int(a.max())
        if lo >= 0 and hi <= 65535:
            return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
    a = a.astype(np.float64)
    finite = np.isfinite(a)
    if not finite.any():
        return np.zeros(a.shape, np.uint8)
    lo, hi = float(a[finite].min()), float(a[finite].max())
    if hi <= lo:
        return np.zeros(a.shape, np.uint8)
    out = (np.where(finite, a, lo) - lo) * (255.0 / (hi - lo)) + 0.5
    return np.clip(out, 0, 255).astype(np.uint8)


def _composite_on_white(im: Image.Image) -> np.ndarray:
    """An image with alpha or transparency → RGB over white.

    Each channel becomes ``round((c·a + 255·(255 − a)) / 255)``, which is Pillow's masked
    paste (exact rounding, 3-4× faster than the same sum in numpy): pixels with alpha 255
    keep their exact values, fully transparent ones turn white.
    """
    rgba = im if im.mode == "RGBA" else im.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema()[0] == 255:  # has an alpha channel, but every pixel is opaque
        return np.array(rgba.convert("RGB"), dtype=np.uint8, order="C")
    out = Image.new("RGB", rgba.size, (255, 255, 255))
    out.paste(rgba, mask=alpha)
    return np.array(out, dtype=np.uint8, order="C")


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an H×W×C array; the result is C-contiguous.

    Pixels are moved as single ``C``-byte items (a void view): 2-3× faster than letting
    numpy walk the channel axis of a flipped or transposed view.
    """
    if orientation not in (2, 3, 4, 5, 6, 7, 8):
        return a
    a = np.ascontiguousarray(a)
    h, w, c = a.shape
    px = a.view(np.dtype((np.void, c))).reshape(h, w)
    if orientation == 2:
        v = px[:, ::-1]
    elif orientation == 3:
        v = px[::-1, ::-1]
    elif orientation == 4:
        v = px[::-1]
    elif orientation == 5:
        v = px.T
    elif orientation == 6:
        v = px.T[:, ::-1]
    elif orientation == 7:
        v = px.T[::-1, ::-1]
    else:  # 8
        v = px.T[::-1]
    out = np.ascontiguousarray(v)
    return out.view(a.dtype).reshape(out.shape[0], out.shape[1], c)


# --------------------------------------------------------------------------------------
# formats, sniffing and truncation


_heif_lock = threading.Lock()
_heif_state: bool | None = None  # None: not tried yet; then whether pillow-heif is registered


def _ensure_heif_opener() -> bool:
    """Register pillow-heif's HEIF opener once, on the first HEIF-like input."""
    global _heif_state
    if _heif_state is None:
        with _heif_lock:
            if _heif_state is None:
                try:
                    import pillow_heif
                except ImportError:
                    _heif_state = False
                else:
                    pillow_heif.register_heif_opener()
                    _heif_state = True
    return bool(_heif_state)


_PLUGIN_ORDER = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "HEIF")
_formats_cache: dict[tuple[str | None, int], tuple[str, ...]] = {}


def _open_formats(kind: str | None) -> tuple[str, ...]:
    """The Pillow plugins Image.open may try (those registered), the sniffed one first."""
    key = (kind, len(Image.OPEN))  # HEIF joins Image.OPEN when pillow-heif is registered
    names = _formats_cache.get(key)
    if names is None:
        found = [f for f in _PLUGIN_ORDER if f in Image.OPEN]
        if kind in found:
            found.remove(kind)
            found.insert(0, kind)
        names = _formats_cache[key] = tuple(found)
    return names


def _sniff(data: bytes) -> str | None:
    """The format named by the file's magic bytes, or ``None``."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(b"BM"):
        return "BMP"
    if data.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+", b"MM*\x00", b"II\x00*")):
        return "TIFF"
    if data[4:8] == b"ftyp":
        major = data[8:12]
        box = int.from_bytes(data[0:4], "big")
        brands = {major} | {data[i:i + 4] for i in range(16, min(box, len(data), 1024) - 3, 4)}
        if major in _AVIF_BRANDS:
            return "AVIF"
        if major in _HEIF_BRANDS - {b"mif1", b"msf1", b"mif2", b"miaf"}:
            return "HEIF"
        if brands & _AVIF_BRANDS:
            return "AVIF"
        if brands & _HEIF_BRANDS:
            return "HEIF"
    return None


_KNOWN_OTHERS: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"8BPS", "a Photoshop PSD file"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
    (b"\x00\x00\x01\x00", "a Windows icon (ICO)"),
    (b"qoif", "a QOI image"),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg media file"),
    (b"\x7fELF", "an executable (ELF)"),
)


def _describe(data: bytes) -> str:
    """A plain-words guess at what non-image bytes are, for error messages."""
    for magic, what in _KNOWN_OTHERS:
        if data.startswith(magic):
            return f"it is {what}"
    if data.startswith(b"RIFF"):
        return f"it is a RIFF {data[8:12].decode('latin-1')!r} file, not WebP"
    if data[4:8] == b"ftyp":
        return f"it is an ISO media file of brand {data[8:12].decode('latin-1')!r} (a video?)"
    head = data[:512].lstrip()
    if head[:5].lower() in (b"<?xml", b"<svg ") or b"<svg" in head[:256].lower():
        return "it is XML or SVG (vector images are not read)"
    if head[:14].lower().startswith((b"<!doctype html", b"<html")):
        return "it is an HTML page"
    try:
        text = data[:512].decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\t\r\n" for c in text):
        return "it is text"
    return f"unrecognised content starting with {data[:8].hex(' ')}"


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _is_truncation(e: BaseException, data: bytes, kind: str | None) -> bool:
    if isinstance(e, EOFError):
        return True
    message = str(e).lower()
    if any(w in message for w in _TRUNCATION_WORDS):
        return True
    return _ends_early(data, kind)


def _ends_early(data: bytes, kind: str | None) -> bool:
    """Whether the file's own structure says bytes are missing at its end."""
    n = len(data)
    if kind == "JPEG":
        return not data.rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9")
    if kind == "PNG":
        return _png_ends_early(data)
    if kind == "GIF":
        return _gif_ends_early(data)
    if kind == "WEBP":
        return n < 12 or int.from_bytes(data[4:8], "little") + 8 > n
    if kind == "BMP":
        if n < 14:
            return True
        declared = int.from_bytes(data[2:6], "little")
        offset = int.from_bytes(data[10:14], "little")
        return offset >= n or (declared > n and declared - n < 1 << 30)
    if kind == "TIFF":
        order = "little" if data[:2] == b"II" else "big"
        if data[2:4] in (b"+\x00", b"\x00+"):  # BigTIFF: 8-byte offsets and counts
            off_at, off_size, count_size, entry_size = 8, 8, 8, 20
        else:
            off_at, off_size, count_size, entry_size = 4, 4, 2, 12
        if n < off_at + off_size:
            return True
        ifd = int.from_bytes(data[off_at:off_at + off_size], order)
        if ifd + count_size > n:
            return True
        count = int.from_bytes(data[ifd:ifd + count_size], order)
        if ifd + count_size + count * entry_size + off_size > n:  # the first IFD is cut
            return True
        for i in range(min(count, 4096)):  # values stored outside the IFD
            e = ifd + count_size + i * entry_size
            typ = int.from_bytes(data[e + 2:e + 4], order)
            num = int.from_bytes(data[e + 4:e + 4 + off_size], order)
            nbytes = _TIFF_TYPE_SIZES.get(typ, 1) * num
            if nbytes > off_size:
                where = int.from_bytes(data[e + 4 + off_size:e + 4 + 2 * off_size], order)
                if where + nbytes > n:
                    return True
        return False
    if kind in ("HEIF", "AVIF"):
        return _boxes_end_early(data)
    return False


def _png_ends_early(data: bytes) -> bool:
    """PNG: whether the file stops inside a chunk (ending between chunks, even without
    IEND, is not truncation: every chunk that is there is whole)."""
    n, pos = len(data), 8
    while pos < n:
        if n - pos < 12:
            return True
        length = int.from_bytes(data[pos:pos + 4], "big")
        if length > 0x7FFFFFFF:
            return False  # corrupt, not short: the decoder's error stands
        if pos + 12 + length > n:
            return True
        if data[pos + 4:pos + 8] == b"IEND":
            return False
        pos += 12 + length
    return False


def _gif_ends_early(data: bytes) -> bool:
    """GIF: whether the file stops inside a block (a missing trailer alone is tolerated)."""
    n = len(data)
    if n < 13:
        return True
    pos = 13
    if data[10] & 0x80:  # global colour table
        pos += 3 << ((data[10] & 7) + 1)
    if pos > n:
        return True
    while pos < n:
        block = data[pos]
        if block == 0x3B:  # trailer
            return False
        if block == 0x2C:  # image descriptor, optional local colour table, LZW code size
            if pos + 10 > n:
                return True
            flags = data[pos + 9]
            pos += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0) + 1
        elif block == 0x21:  # extension: introducer, label
            pos += 2
        else:
            return False  # not GIF structure: corrupt rather than short
        while True:  # data sub-blocks up to the zero-length terminator
            if pos >= n:
                return True
            size = data[pos]
            pos += 1 + size
            if size == 0:
                break
        if pos > n:
            return True
    return False


def _header_size(data: bytes, kind: str | None) -> tuple[int, int] | None:
    """(width, height) read straight from the header, for messages; ``None`` if unknown."""
    try:
        if kind == "PNG" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if kind == "GIF":
            return struct.unpack("<HH", data[6:10])
        if kind == "BMP":
            if int.from_bytes(data[14:18], "little") == 12:
                return struct.unpack("<HH", data[18:22])
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if kind == "WEBP":
            chunk = data[12:16]
            if chunk == b"VP8X":
                return (1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little"))
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
        if kind == "JPEG":
            pos = 2
            while pos + 9 <= len(data):
                if data[pos] != 0xFF:
                    return None
                marker = data[pos + 1]
                if marker == 0xFF:
                    pos += 1
                    continue
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    h, w = struct.unpack(">HH", data[pos + 5:pos + 9])
                    return w, h
                pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    except struct.error:
        return None
    return None


def _boxes_end_early(data: bytes) -> bool:
    """ISO-BMFF: whether a top-level box claims more bytes than the file has."""
    n, pos = len(data), 0
    while pos < n:
        if n - pos < 8:
            return True
        size = struct.unpack(">I", data[pos:pos + 4])[0]
        header = 8
        if size == 1:
            if n - pos < 16:
                return True
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            header = 16
        elif size == 0:  # the last box runs to the end of the file
            return False
        if size < header:
            return False  # malformed, not short: let the decoder's error stand
        if pos + size > n:
            return True
        pos += size
    return False


def _too_many_bytes(path: str, size: int, max_bytes: int, limit_name: str = "DecodeLimits.max_bytes") -> str:
    return f"{path}: the file is {size:,} bytes, over the limit of {max_bytes:,} bytes ({limit_name}); not reading it"


#: compression classes of :func:`compression_class`
COMPRESSION_CLASSES: tuple[str, ...] = ("jpeg", "webp-lossy", "lossless", "other")


def compression_class(fmt: str, data: bytes = b"") -> str:
    """The compression a decoded file carries: ``"jpeg"``, ``"webp-lossy"``, ``"lossless"`` (PNG, BMP,
    TIFF, GIF, lossless WebP) or ``"other"`` (HEIF, AVIF, ...).  The fusion calibrates its threshold
    per class where held-out real photos show that a lossy codec moves the detectors' scores.

    >>> compression_class("JPEG"), compression_class("PNG")
    ('jpeg', 'lossless')
    >>> compression_class("WEBP", b"RIFF\\x00\\x00\\x00\\x00WEBPVP8L\\x00\\x00\\x00\\x00")
    'lossless'
    >>> compression_class("WEBP", b"RIFF\\x00\\x00\\x00\\x00WEBPVP8 \\x00\\x00\\x00\\x00")
    'webp-lossy'
    """
    fmt = (fmt or "").upper()
    if fmt in ("JPEG", "MPO"):
        return "jpeg"
    if fmt in ("PNG", "BMP", "TIFF", "GIF"):
        return "lossless"
    if fmt == "WEBP":
        return "lossless" if _webp_image_chunk(data) == b"VP8L" else "webp-lossy"
    return "other"


def _webp_image_chunk(data: bytes) -> bytes | None:
    """The FourCC of a WebP file's image chunk (``VP8 `` lossy, ``VP8L`` lossless), walking the RIFF chunks."""
    pos = 12
    while pos + 8 <= len(data):
        fourcc = data[pos : pos + 4]
        if fourcc in (b"VP8 ", b"VP8L"):
            return fourcc
        if fourcc == b"ANMF":  # animation frame: its image chunk is inside, after a 16-byte header
            pos += 8 + 16
            continue
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        pos += 8 + size + (size & 1)
    return None
