"""What an image file says about itself: EXIF, XMP, text chunks, JPEG tables.

Every function here reads an already opened :class:`PIL.Image.Image` and returns plain,
JSON-able Python values; none of them decodes pixels except :func:`text_chunks` on PNG
(PNG text chunks after the image data are only known once the pixels have been read, so
call it after ``im.load()``).  :mod:`fakescope.io.decode` calls them once per image and
stores the result in :class:`fakescope.types.ImageMetadata`.
"""

from __future__ import annotations

import math
from typing import Any

from PIL import ExifTags, Image, JpegImagePlugin, TiffImagePlugin

__all__ = [
    "exif_dict",
    "exif_orientation",
    "xmp_packet",
    "text_chunks",
    "jpeg_quantization",
    "jpeg_subsampling",
    "has_icc_profile",
    "decode_text_bytes",
]

#: IFD pointers: followed (Exif, GPS) or skipped (Interop), never reported as values.
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_INTEROP_IFD = 0xA005
_POINTERS = frozenset({_EXIF_IFD, _GPS_IFD, _INTEROP_IFD})

#: Tags never reported: opaque vendor blobs, embedded profiles and TIFF storage layout.
#: (XMP, tag 0x02BC, goes to ``ImageMetadata.xmp`` instead.)
_DROPPED = frozenset({
    0x927C,  # MakerNote: vendor binary, often tens of kB
    0xC4A5,  # PrintImageMatching
    0x8773,  # InterColorProfile (ICC): ``icc_profile`` says whether there is one
    0x02BC,  # XMLPacket (XMP)
    0x83BB,  # IPTC/NAA block (binary)
    0x8649,  # Photoshop ImageResources (binary)
    0x0111, 0x0117,  # StripOffsets, StripByteCounts
    0x0144, 0x0145,  # TileOffsets, TileByteCounts
    0x0120, 0x0121,  # FreeOffsets, FreeByteCounts
    0x0140,  # ColorMap
    0x012D,  # TransferFunction
    0x015B,  # JPEGTables
    0x0201, 0x0202,  # JPEGInterchangeFormat(Length): thumbnail position
})

_USER_COMMENT = 0x9286
#: Windows Explorer tags, stored as UTF-16LE bytes.
_XP_TAGS = frozenset({0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F})

#: Byte strings longer than this are binary blobs and are dropped.
MAX_BLOB_BYTES = 1024
#: Sequences longer than this (strip tables and the like) are dropped.
MAX_SEQUENCE = 256

_BLANK = "\x00 \t\r\n\x0b\x0c"  # what is stripped around metadata text

_SAMPLING_NAMES = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
#: Luma sampling factors (h, v) with 1×1 chroma, for the layouts ``get_sampling`` does not name.
_EXTRA_SAMPLINGS = {(1, 2): "4:4:0", (4, 1): "4:1:1", (1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0"}


def decode_text_bytes(raw: bytes) -> str:
    """Decode a metadata byte string as UTF-8 (or Latin-1 when it is not UTF-8).

    Trailing NUL bytes and surrounding whitespace are removed.

    Parameters
    ----------
    raw : the bytes.

    Returns
    -------
    str

    Examples
    --------
    >>> decode_text_bytes(b"Canon\\x00")
    'Canon'
    >>> decode_text_bytes("café".encode("latin-1"))
    'café'
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.strip(_BLANK)


def _decode_utf16(body: bytes) -> str:
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return body.decode("utf-16", errors="replace")
    # No BOM: the byte order is the TIFF's, which we do not see here.  ASCII-range text
    # puts its zero bytes at even offsets in big-endian, odd offsets in little-endian.
    even_zeros = body[0::2].count(0)
    odd_zeros = body[1::2].count(0)
    codec = "utf-16-be" if even_zeros > odd_zeros else "utf-16-le"
    return body[: len(body) // 2 * 2].decode(codec, errors="replace")


def _decode_user_comment(raw: bytes) -> str:
    """EXIF UserComment: an 8-byte character-code prefix, then the text."""
    prefix, body = raw[:8], raw[8:]
    if prefix.startswith(b"ASCII"):
        text = decode_text_bytes(body)
    elif prefix.startswith(b"UNICODE"):
        text = _decode_utf16(body)
    elif prefix.startswith(b"JIS"):
        text = body.decode("shift_jis", errors="replace")
    elif prefix == b"\x00" * 8:
        text = decode_text_bytes(body)
    else:  # no (valid) prefix: some writers store the text directly
        text = decode_text_bytes(raw)
    return text.strip(_BLANK)


def _is_printable(text: str) -> bool:
    return all(c.isprintable() or c in "\t\r\n" for c in text)


def _convert_value(tag: int, value: Any) -> Any:
    """One EXIF value as a JSON-able value; ``_DROP`` when it should not be reported."""
    if isinstance(value, TiffImagePlugin.IFDRational):
        if value.denominator == 0:
            return None
        f = value.numerator / value.denominator
        return int(f) if f.is_integer() and abs(f) < 2**53 else f
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.strip(_BLANK)
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
        if tag == _USER_COMMENT:
            return _decode_user_comment(raw)
        if tag in _XP_TAGS:
            return raw.decode("utf-16-le", errors="replace").strip(_BLANK)
        if len(raw) > MAX_BLOB_BYTES:
            return _DROP
        stripped = raw.rstrip(b"\x00")
        if stripped and all(32 <= b < 127 or b in (9, 10, 13) for b in stripped):
            return stripped.decode("ascii").strip()
        return raw.hex()
    if isinstance(value, (tuple, list)):
        if len(value) > MAX_SEQUENCE:
            return _DROP
        if tag in _XP_TAGS and all(isinstance(v, int) for v in value):
            return bytes(value).decode("utf-16-le", errors="replace").strip(_BLANK)
        items = [_convert_value(tag, v) for v in value]
        return [v for v in items if v is not _DROP]
    if isinstance(value, dict):
        return {str(k): v for k, v in ((k, _convert_value(tag, v)) for k, v in value.items()) if v is not _DROP}
    text = str(value)
    return text if _is_printable(text) else _DROP


class _Drop:
    def __repr__(self) -> str:
        return "<dropped>"


_DROP = _Drop()


def _add_ifd(out: dict[str, Any], items: Any, names: dict[int, str], unknown: str) -> None:
    for tag, value in sorted(items, key=lambda kv: kv[0]):
        if tag in _POINTERS or tag in _DROPPED:
            continue
        converted = _convert_value(tag, value)
        if converted is _DROP:
            continue
        out[names.get(tag, f"{unknown}0x{tag:04X}")] = converted


def exif_dict(exif: Image.Exif) -> dict[str, Any]:
    """EXIF tags by name, with JSON-able values.

    IFD0 (``Make``, ``Model``, ``Software``, ``Orientation``, ``ImageDescription`` ...),
    the Exif IFD (``DateTimeOriginal``, ``LensModel``, ``ExposureTime``, ``UserComment`` ...)
    and the GPS IFD (``GPSLatitude`` ...) are merged into one flat dict.  Rationals become
    numbers (``None`` for a zero denominator), byte strings become text when they are
    text (``UserComment`` honours its character-code prefix, ``XP*`` tags are UTF-16) and
    a hex string otherwise.  Binary blobs (``MakerNote``, embedded ICC/IPTC/XMP blocks,
    anything over :data:`MAX_BLOB_BYTES`) and TIFF storage tables are left out.
    Tags without a name are keyed ``Tag0xNNNN`` (``GPSTag0xNNNN`` in the GPS IFD).

    Parameters
    ----------
    exif : ``im.getexif()`` of an opened image.

    Returns
    -------
    dict

    Examples
    --------
    >>> from PIL import Image
    >>> e = Image.Exif()
    >>> e[0x010F] = "Canon"; e[0x0110] = "EOS R5"
    >>> exif_dict(e)
    {'Make': 'Canon', 'Model': 'EOS R5'}
    """
    out: dict[str, Any] = {}
    _add_ifd(out, exif.items(), ExifTags.TAGS, "Tag")
    if _EXIF_IFD in exif:
        _add_ifd(out, exif.get_ifd(_EXIF_IFD).items(), ExifTags.TAGS, "Tag")
    if _GPS_IFD in exif:
        _add_ifd(out, exif.get_ifd(_GPS_IFD).items(), ExifTags.GPSTAGS, "GPSTag")
    return out


def exif_orientation(exif: Image.Exif) -> int:
    """The EXIF orientation (1..8); 1 when absent or invalid.

    >>> from PIL import Image
    >>> e = Image.Exif(); e[0x0112] = 6
    >>> exif_orientation(e), exif_orientation(Image.Exif())
    (6, 1)
    """
    value = exif.get(0x0112, 1)
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    try:
        o = int(value)
    except (TypeError, ValueError):
        return 1
    return o if 1 <= o <= 8 else 1


def xmp_packet(im: Image.Image) -> str | None:
    """The raw XMP packet as text, or ``None``.

    Pillow puts it in ``im.info["xmp"]`` for JPEG (APP1), WebP, TIFF (tag 700), GIF,
    AVIF and HEIF, and PNG (iTXt ``XML:com.adobe.xmp``, also found in ``im.text`` when
    the chunk follows the image data: for PNG call this after ``im.load()``).
    """
    raw = im.info.get("xmp")
    if raw is None:
        raw = im.info.get("XML:com.adobe.xmp")
    if raw is None and im.format == "PNG":  # iTXt after IDAT: known once loaded
        raw = getattr(im, "text", {}).get("XML:com.adobe.xmp")
    if raw is None:
        return None
    if isinstance(raw, (tuple, list)) and len(raw) == 1:
        raw = raw[0]
    if isinstance(raw, (bytes, bytearray)):
        text = decode_text_bytes(bytes(raw))
    else:
        text = str(raw).strip(_BLANK)
    return text or None


def text_chunks(im: Image.Image) -> dict[str, str]:
    """Free-text metadata: PNG tEXt/iTXt/zTXt chunks, JPEG COM segments, GIF comments.

    For PNG this includes chunks after the image data, so call it after ``im.load()``;
    the XMP chunk is reported by :func:`xmp_packet`, not here.  JPEG files can hold
    several COM segments: they are keyed ``comment``, ``comment_2``, ...
    """
    out: dict[str, str] = {}
    fmt = im.format
    if fmt == "PNG":
        chunks = getattr(im, "text", None) or {}
        for key, value in chunks.items():
            if key == "XML:com.adobe.xmp":
                continue
            out[str(key)] = str(value)
        return out
    if fmt in ("JPEG", "MPO"):
        n = 0
        for marker, payload in getattr(im, "applist", ()):
            if marker == "COM":
                n += 1
                out["comment" if n == 1 else f"comment_{n}"] = decode_text_bytes(payload)
        return out
    comment = im.info.get("comment")
    if isinstance(comment, (bytes, bytearray)):
        out["comment"] = decode_text_bytes(bytes(comment))
    elif isinstance(comment, str):
        out["comment"] = comment
    return out


def jpeg_quantization(im: Image.Image) -> dict[int, list[int]] | None:
    """A JPEG's quantization tables (table id → 64 values in zig-zag order), else ``None``."""
    tables = getattr(im, "quantization", None)
    if im.format not in ("JPEG", "MPO") or not tables:
        return None
    return {int(k): list(map(int, v)) for k, v in tables.items()}


def jpeg_subsampling(im: Image.Image) -> str | None:
    """A colour JPEG's chroma subsampling: ``"4:4:4"``, ``"4:2:2"``, ``"4:2:0"`` (also
    ``"4:4:0"``, ``"4:1:1"``); ``None`` for greyscale, CMYK or non-JPEG images."""
    if im.format not in ("JPEG", "MPO"):
        return None
    layers = getattr(im, "layer", None)
    if not layers or len(layers) != 3:
        return None
    name = _SAMPLING_NAMES.get(JpegImagePlugin.get_sampling(im))
    if name is not None:
        return name
    (_, h0, v0, _), (_, h1, v1, _), (_, h2, v2, _) = layers
    if (h1, v1) == (h2, v2) == (1, 1):
        return _EXTRA_SAMPLINGS.get((h0, v0))
    return None


def has_icc_profile(im: Image.Image) -> bool:
    """Whether the file embeds an ICC colour profile."""
    return bool(im.info.get("icc_profile"))
