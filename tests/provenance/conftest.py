"""Fixtures for the provenance tests: the shared data, and builders of real files with metadata.

Every file here is built for real: JPEGs and PNGs written by Pillow with EXIF, XMP, text
chunks and quantization tables; C2PA manifests signed with the c2pa-python Builder and the
ES256 test certificate in ``shared/data/c2pa``; watermarks embedded with the
invisible-watermark package, as Stable Diffusion's reference scripts do.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from fakescope.io.decode import decode
from fakescope.types import Sample

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FAKESCOPE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def c2pa_dir() -> Path:
    d = DATA / "c2pa"
    if not (d / "es256_certs.pem").exists():
        pytest.skip(f"C2PA fixtures not found at {d} (set FAKESCOPE_DATA to the shared data folder)")
    return d


@pytest.fixture(scope="session")
def kodak_dir() -> Path:
    d = DATA / "real_photos" / "kodak"
    if not any(d.glob("*.png")):
        pytest.skip(f"real photos not found at {d} (set FAKESCOPE_DATA to the shared data folder)")
    return d


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo (Kodak kodim08, 768×512) as RGB pixels."""
    p = DATA / "real_photos" / "kodak" / "kodim08.png"
    if not p.exists():
        pytest.skip(f"real photos not found at {p.parent} (set FAKESCOPE_DATA to the shared data folder)")
    return np.asarray(Image.open(p).convert("RGB"))


def _exif(tags: dict[int, Any] | None, exif_ifd: dict[int, Any] | None) -> bytes | None:
    if not tags and not exif_ifd:
        return None
    e = Image.Exif()
    for k, v in (tags or {}).items():
        e[k] = v
    if exif_ifd:
        ifd = e.get_ifd(0x8769)
        for k, v in exif_ifd.items():
            ifd[k] = v
    return e.tobytes()


def make_jpeg(rgb: np.ndarray, *, quality: int = 90, exif: dict[int, Any] | None = None,
              exif_ifd: dict[int, Any] | None = None, xmp: str | None = None,
              qtables: list[list[int]] | None = None, comment: str | None = None,
              subsampling: int | None = None) -> bytes:
    """A JPEG written by Pillow with the given metadata."""
    kw: dict[str, Any] = {"quality": quality}
    ex = _exif(exif, exif_ifd)
    if ex:
        kw["exif"] = ex
    if xmp is not None:
        kw["xmp"] = xmp.encode("utf-8")
    if qtables is not None:
        kw["qtables"] = qtables
        kw.pop("quality")
    if comment is not None:
        kw["comment"] = comment
    if subsampling is not None:
        kw["subsampling"] = subsampling
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", **kw)
    return buf.getvalue()


def make_png(rgb: np.ndarray, *, text: dict[str, str] | None = None, xmp: str | None = None) -> bytes:
    """A PNG with tEXt/iTXt chunks (and XMP as the iTXt 'XML:com.adobe.xmp' chunk)."""
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        if all(ord(c) < 256 for c in v):
            info.add_text(k, v)
        else:
            info.add_itxt(k, v)
    if xmp is not None:
        info.add_itxt("XML:com.adobe.xmp", xmp)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def insert_app13_iim(jpeg: bytes, datasets: dict[int, str]) -> bytes:
    """Insert a Photoshop APP13 segment holding IPTC-IIM record-2 datasets after SOI."""
    iim = b"".join(b"\x1c\x02" + bytes([num]) + struct.pack(">H", len(v.encode())) + v.encode()
                   for num, v in datasets.items())
    res = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    if len(iim) % 2:
        res += b"\x00"
    payload = b"Photoshop 3.0\x00" + res
    seg = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + seg + jpeg[2:]


def xmp_packet(body: str, namespaces: dict[str, str]) -> str:
    """A complete XMP packet with one rdf:Description holding ``body``."""
    ns = " ".join(f'xmlns:{k}="{v}"' for k, v in namespaces.items())
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" {ns}>{body}</rdf:Description></rdf:RDF></x:xmpmeta>'
            '<?xpacket end="w"?>')


@pytest.fixture(scope="session")
def builders() -> dict[str, Callable[..., Any]]:
    """The file builders, for tests in this folder."""
    return {"jpeg": make_jpeg, "png": make_png, "iim": insert_app13_iim, "xmp": xmp_packet}


@pytest.fixture(scope="session")
def to_sample() -> Callable[[bytes, str], Sample]:
    """Decode bytes the way the scan does (fakescope.io.decode.decode)."""
    def _decode(data: bytes, name: str = "test") -> Sample:
        return decode(data, path=name)
    return _decode


@pytest.fixture(scope="session")
def small_rgb() -> np.ndarray:
    """A smooth 96×128 RGB gradient (for metadata tests that do not need a photo)."""
    y, x = np.mgrid[0:96, 0:128]
    return np.stack([x * 2, y * 2, (x + y)], axis=-1).astype(np.uint8)


DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def sign_c2pa(src: bytes, mime: str, cert_chain: bytes, private_key: bytes, *,
              source_type: str = "trainedAlgorithmicMedia", agent: str = "TestDiffusion",
              action: str = "c2pa.created", ingredient: tuple[bytes, str, str] | None = None) -> bytes:
    """Sign ``src`` with c2pa-python's Builder (ES256), one action declaring ``source_type``.

    ``ingredient``: ``(bytes, mime, title)`` of a file added as a ``componentOf`` ingredient (its own
    manifest, if any, is carried along with its validation status).
    """
    import c2pa

    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, cert_chain, private_key, None))
    manifest: dict[str, Any] = {
        "claim_generator_info": [{"name": "fakescope-tests", "version": "1.0"}],
        "title": "test image",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            {"action": action, "digitalSourceType": DST + source_type,
             "softwareAgent": {"name": agent, "version": "2.1"}}]}}],
    }
    ctx = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}},
                                  "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
    out = io.BytesIO()
    with c2pa.Builder(manifest, context=ctx) as builder:
        if ingredient is not None:
            data, imime, title = ingredient
            builder.add_ingredient({"title": title, "relationship": "componentOf"}, imime, io.BytesIO(data))
        builder.sign(signer, mime, io.BytesIO(src), out)
    return out.getvalue()


@pytest.fixture(scope="session")
def test_signer(c2pa_dir: Path) -> Callable[..., bytes]:
    """``sign(src, mime, **kw)`` with the shared ES256 test certificate (not in any trust list)."""
    pytest.importorskip("c2pa", reason="c2pa-python not installed (a dependency of fakescope)")
    cert = (c2pa_dir / "es256_certs.pem").read_bytes()
    key = (c2pa_dir / "es256_private.key").read_bytes()

    def _sign(src: bytes, mime: str, **kw: Any) -> bytes:
        return sign_c2pa(src, mime, cert, key, **kw)
    return _sign
