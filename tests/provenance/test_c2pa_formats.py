"""C2PA in every container fakescope decodes and c2pa-python reads: sign, tamper, strip, re-encode.

Each file is written for real (Pillow, pillow-heif, or a hand-built ISO BMFF container for MP4/MOV),
signed with c2pa-python's Builder and the shared ES256 test key, and then:

* read back through fakescope's decoder and provenance (images) or :func:`read_c2pa` (video containers);
* **tampered**: one byte of signed content changed (a marker in metadata the hash covers, so the file
  still decodes) → ``Invalid`` with the format's content-hash failure;
* **stripped**: the manifest removed from the container (segment, chunk, tag or box) → no manifest;
* **re-encoded**: decoded and written again by Pillow → no manifest (encoders do not carry C2PA).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from fakescope.provenance import ABSENCE_SUMMARY, analyze_provenance
from fakescope.provenance import c2pa as fc2pa

pytest.importorskip("c2pa", reason="c2pa-python not installed (a dependency of fakescope)")

MARK = b"FAKESCOPE-SIGNED-MARK-0001"
TAMPERED = b"FAKESCOPE-SIGNED-MARK-9999"
C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")  # the uuid box c2pa writes in ISO BMFF
CONTENT_HASH = {"assertion.dataHash.mismatch", "assertion.bmffHash.mismatch", "assertion.boxesHash.mismatch"}


def _rgb() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:96]
    return np.stack([x * 2, y * 3, (x + y) % 256], axis=-1).astype(np.uint8)


def _xmp() -> bytes:
    return (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:source>' + MARK +
            b'</dc:source></rdf:Description></rdf:RDF></x:xmpmeta>')


# ------------------------------------------------------------------------------------------ writers
def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_rgb()).save(buf, "JPEG", quality=90, comment=MARK)
    return buf.getvalue()


def _png() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", MARK.decode())
    buf = io.BytesIO()
    Image.fromarray(_rgb()).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _webp(lossless: bool) -> Callable[[], bytes]:
    def make() -> bytes:
        buf = io.BytesIO()
        Image.fromarray(_rgb()).save(buf, "WEBP", lossless=lossless, quality=85, xmp=_xmp())
        return buf.getvalue()
    return make


def _tiff() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_rgb()).save(buf, "TIFF", tiffinfo={270: MARK.decode()})
    return buf.getvalue()


def _avif() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_rgb()).save(buf, "AVIF", quality=80, xmp=_xmp())
    return buf.getvalue()


def _heif() -> bytes:
    pillow_heif = pytest.importorskip("pillow_heif", reason="HEIF needs pillow-heif (a dependency of fakescope)")
    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.fromarray(_rgb()).save(buf, "HEIF", quality=85, xmp=_xmp())
    return buf.getvalue()


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_rgb()).convert("P").save(buf, "GIF", comment=MARK)
    return buf.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _bmff(brand: bytes) -> bytes:
    """A minimal ISO BMFF file: ftyp, moov with a movie header, and an mdat holding the marker.

    Neither PyAV nor ffmpeg is installed here, so the container carries no video track; C2PA's
    BMFF hash binding covers its boxes all the same, which is what these tests exercise.
    """
    mvhd = _box(b"mvhd", b"\0\0\0\0" + struct.pack(">IIII", 0, 0, 1000, 0) + struct.pack(">IH", 0x00010000, 0x0100)
                + b"\0" * 10 + struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
                + b"\0" * 24 + struct.pack(">I", 1))
    compat = brand + (b"isomiso2mp41" if brand != b"qt  " else b"")
    return _box(b"ftyp", brand + struct.pack(">I", 0x200) + compat) + _box(b"moov", mvhd) + _box(b"mdat", MARK * 8)


# (name, writer, MIME for c2pa, fakescope format name, can Pillow re-encode it)
FORMATS = [
    ("jpeg", _jpeg, "image/jpeg", "JPEG"),
    ("png", _png, "image/png", "PNG"),
    ("webp-lossless", _webp(True), "image/webp", "WEBP"),
    ("webp-lossy", _webp(False), "image/webp", "WEBP"),
    ("tiff", _tiff, "image/tiff", "TIFF"),
    ("avif", _avif, "image/avif", "AVIF"),
    ("heic", _heif, "image/heif", "HEIF"),
    ("gif", _gif, "image/gif", "GIF"),
    ("mp4", lambda: _bmff(b"isom"), "video/mp4", "MP4"),
    ("mov", lambda: _bmff(b"qt  "), "video/quicktime", "MOV"),
]
VIDEO = {"MP4", "MOV"}


# ------------------------------------------------------------------------------------------ strippers
def _strip_jpeg(data: bytes) -> bytes:
    out, pos = bytearray(data[:2]), 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xDA, 0xD9):
        n = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if data[pos + 1] != 0xEB:  # APP11: JUMBF, where C2PA lives
            out += data[pos:pos + 2 + n]
        pos += 2 + n
    return bytes(out + data[pos:])


def _strip_png(data: bytes) -> bytes:
    out, pos = bytearray(data[:8]), 8
    while pos + 12 <= len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        if data[pos + 4:pos + 8] != b"caBX":
            out += data[pos:pos + 12 + n]
        pos += 12 + n
    return bytes(out)


def _strip_webp(data: bytes) -> bytes:
    body, pos = bytearray(), 12
    while pos + 8 <= len(data):
        n = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        end = pos + 8 + n + (n & 1)
        if data[pos:pos + 4] != b"C2PA":
            body += data[pos:end]
        pos = end
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + bytes(body)


def _strip_tiff(data: bytes) -> bytes:
    """Delete the C2PA tag (0xCD41) from the first IFD; its bytes stay, unreferenced, so no offset moves."""
    e = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(e + "I", data[4:8])[0]
    n = struct.unpack(e + "H", data[ifd:ifd + 2])[0]
    entries = [data[ifd + 2 + 12 * i: ifd + 14 + 12 * i] for i in range(n)]
    keep = [x for x in entries if struct.unpack(e + "H", x[:2])[0] != 0xCD41]
    assert len(keep) == n - 1, "the signed TIFF should carry the C2PA tag"
    nxt = data[ifd + 2 + 12 * n: ifd + 6 + 12 * n]
    new_ifd = struct.pack(e + "H", len(keep)) + b"".join(keep) + nxt + b"\0" * 12
    return data[:ifd] + new_ifd + data[ifd + len(new_ifd):]


def _strip_bmff(data: bytes) -> bytes:
    """Turn the top-level C2PA ``uuid`` box into a ``free`` box of the same size (every offset stays valid)."""
    out, pos, found = bytearray(data), 0, False
    while pos + 8 <= len(data):
        size = struct.unpack(">I", data[pos:pos + 4])[0] or len(data) - pos
        if data[pos + 4:pos + 8] == b"uuid" and data[pos + 8:pos + 24] == C2PA_UUID:
            out[pos + 4:pos + 8] = b"free"
            out[pos + 8:pos + size] = b"\0" * (size - 8)
            found = True
        pos += size
    assert found, "the signed file should carry the C2PA uuid box"
    return bytes(out)


def _strip_gif(data: bytes) -> bytes:
    """Drop the application extension block ``C2PA_GIF`` (and its sub-blocks)."""
    start = data.find(b"\x21\xff\x0bC2PA_GIF")
    assert start > 0, "the signed GIF should carry a C2PA_GIF application extension"
    pos = start + 3 + 11
    while data[pos] != 0:
        pos += 1 + data[pos]
    return data[:start] + data[pos + 1:]


STRIP = {"JPEG": _strip_jpeg, "PNG": _strip_png, "WEBP": _strip_webp, "TIFF": _strip_tiff, "AVIF": _strip_bmff,
         "HEIF": _strip_bmff, "MP4": _strip_bmff, "MOV": _strip_bmff, "GIF": _strip_gif}


def _tamper(data: bytes, fmt: str) -> bytes:
    """Change the signed marker; for PNG recompute the chunk's CRC, so that only C2PA can tell."""
    i = data.find(MARK)
    assert i > 0, "the marker should be in the signed file"
    out = bytearray(data)
    out[i:i + len(MARK)] = TAMPERED
    if fmt == "PNG":
        pos = 8
        while pos + 12 <= len(out):
            n = struct.unpack(">I", out[pos:pos + 4])[0]
            if pos + 8 <= i < pos + 8 + n:
                out[pos + 8 + n:pos + 12 + n] = struct.pack(">I", zlib.crc32(bytes(out[pos + 4:pos + 8 + n])))
            pos += 12 + n
    return bytes(out)


def _reencode(data: bytes, fmt: str) -> bytes:
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    im = Image.open(io.BytesIO(data))
    im.load()
    buf = io.BytesIO()
    im.save(buf, {"HEIF": "HEIF", "AVIF": "AVIF"}.get(fmt, fmt))
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ the tests
def _read(data: bytes, fmt: str, to_sample) -> tuple[fc2pa.C2paResult | None, list]:
    if fmt in VIDEO:
        assert fc2pa.container_format(data) == fmt
        r = fc2pa.read_c2pa(data, fmt)
        return r, fc2pa.c2pa_evidence(r)
    sample = to_sample(data, f"signed.{fmt.lower()}")
    assert sample.metadata.format == fmt  # fakescope's decoder still reads the signed file
    ev = analyze_provenance(sample)
    return fc2pa.read_c2pa(data, fmt), ev


@pytest.fixture(scope="module", params=FORMATS, ids=[f[0] for f in FORMATS])
def signed(request, test_signer):
    name, make, mime, fmt = request.param
    src = make()
    return fmt, src, test_signer(src, mime)


def test_signed_file_reads_as_a_valid_ai_declaration(signed, to_sample):
    fmt, src, data = signed
    r, ev = _read(data, fmt, to_sample)
    assert r is not None and r.present and r.state == "Valid" and not r.failures
    assert r.trust_list is not None and r.trust_list["certificates"] == 30
    (item,) = [e for e in ev if e.source == "c2pa"]
    assert item.weight == "strong" and item.score == pytest.approx(0.99)
    assert item.details["self_declared"] is True and item.details["generator"] == "TestDiffusion 2.1"
    assert item.details["declared"]["code"] == "trainedAlgorithmicMedia"
    # the unsigned original has no manifest
    r0, _ = _read(src, fmt, to_sample)
    assert r0 is None


def test_tampered_file_is_invalid(signed, to_sample):
    fmt, _, data = signed
    bad = _tamper(data, fmt)
    r, ev = _read(bad, fmt, to_sample)
    assert r is not None and r.state == "Invalid"
    assert {f["code"] for f in r.failures} & CONTENT_HASH, r.failures
    (item,) = [e for e in ev if e.source == "c2pa"]
    assert item.weight == "none" and item.score == 0.5 and "edited after signing" in item.summary
    assert r.state_in_words().startswith("invalid: the content changed after signing")


def test_stripped_file_has_no_manifest(signed, to_sample):
    fmt, _, data = signed
    bare = STRIP[fmt](data)
    assert len(bare) < len(data) or fmt in ("TIFF", "AVIF", "HEIF", "MP4", "MOV")
    r, ev = _read(bare, fmt, to_sample)
    assert r is None
    assert [e for e in ev if e.source == "c2pa"] == []
    if fmt not in VIDEO:
        assert any(e.summary == ABSENCE_SUMMARY for e in ev) or any(e.source == "iptc" for e in ev)


def test_reencoded_file_loses_the_manifest(signed, to_sample):
    fmt, _, data = signed
    if fmt in VIDEO:
        pytest.skip("the signed MP4/MOV fixtures are minimal containers without a video track: nothing to "
                    "re-encode (tests/video covers real clips)")
    again = _reencode(data, fmt)
    r, ev = _read(again, fmt, to_sample)
    assert r is None and [e for e in ev if e.source == "c2pa"] == []


def test_video_containers_are_named_from_their_bytes():
    assert fc2pa.container_format(_bmff(b"isom")) == "MP4"
    assert fc2pa.container_format(_bmff(b"qt  ")) == "MOV"
    assert fc2pa.container_format(_avif()) is None
    assert fc2pa.container_format(_jpeg()) is None
