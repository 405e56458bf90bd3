"""Invisible watermarks embedded with the invisible-watermark package, as the SD reference scripts do."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

from fakescope.errors import UsageError
from fakescope.provenance import ABSENCE_SUMMARY, ProvenanceOptions, analyze_provenance
from fakescope.provenance import provenance_report as prov_report
from fakescope.provenance import watermark as wm
from fakescope.types import ImageMetadata, Sample

imwatermark = pytest.importorskip("imwatermark", reason="invisible-watermark not installed (test dependency)")
pytest.importorskip("cv2", reason="opencv-python-headless not installed (a dependency of fakescope)")

PAYLOADS = {p.name: p for p in wm.KNOWN_PAYLOADS}


def embed_sd1(rgb: np.ndarray) -> np.ndarray:
    """CompVis/stable-diffusion scripts/txt2img.py put_watermark: bytes 'StableDiffusionV1' into uint8 BGR."""
    import cv2

    enc = imwatermark.WatermarkEncoder()
    enc.set_watermark("bytes", "StableDiffusionV1".encode("utf-8"))
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(enc.encode(bgr, "dwtDct")[:, :, ::-1])


def embed_sd2(rgb: np.ndarray) -> np.ndarray:
    """Stability-AI/stablediffusion scripts/txt2img.py: bytes 'SDV2', same way."""
    import cv2

    enc = imwatermark.WatermarkEncoder()
    enc.set_watermark("bytes", "SDV2".encode("utf-8"))
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(enc.encode(bgr, "dwtDct")[:, :, ::-1])


def embed_sdxl(rgb: np.ndarray) -> np.ndarray:
    """SDXL (sgm WatermarkEmbedder / diffusers StableDiffusionXLWatermarker): 48 bits into a float BGR array."""
    bits = [int(b) for b in bin(0b101100111110110010010000011110111011000110011110)[2:]]
    enc = imwatermark.WatermarkEncoder()
    enc.set_watermark("bits", bits)
    out = enc.encode(np.ascontiguousarray(rgb[:, :, ::-1]).astype(np.float32), "dwtDct")
    return np.ascontiguousarray(np.clip(np.round(out), 0, 255).astype(np.uint8)[:, :, ::-1])


EMBED = {"stable-diffusion-v1": embed_sd1, "stable-diffusion-v2": embed_sd2, "sdxl": embed_sdxl}


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(rgb: np.ndarray, q: int, subsampling: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=q, subsampling=subsampling)
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(EMBED))
def test_embedded_payload_is_detected(name, photo, to_sample):
    marked = EMBED[name](photo)
    ev = analyze_provenance(to_sample(_png(marked)))
    (item,) = [e for e in ev if e.kind == "watermark"]
    assert item.weight == "strong" and item.score == pytest.approx(0.98) and item.source == "invisible-watermark"
    assert item.details["payload"] == name and item.details["generator"] == PAYLOADS[name].generator
    assert item.details["bit_agreement"] >= wm.required_agreement(len(PAYLOADS[name].bits))
    # only the embedded payload is found
    others = {k: v for k, v in item.details["all_agreements"].items() if k != name}
    assert all(v < wm.required_agreement(len(PAYLOADS[k].bits)) for k, v in others.items())
    assert not any(e.summary == ABSENCE_SUMMARY for e in ev)


@pytest.mark.parametrize("name", ["stable-diffusion-v1", "sdxl"])
def test_survives_jpeg_90_without_chroma_subsampling(name, photo, to_sample):
    marked = EMBED[name](photo)
    ev = analyze_provenance(to_sample(_jpeg(marked, 90, subsampling=0)))
    assert [e.details["payload"] for e in ev if e.kind == "watermark"] == [name]


def test_clean_photos_are_not_flagged(photo, kodak_dir, to_sample):
    files = sorted(kodak_dir.glob("*.png"))
    assert len(files) == 24
    results = [wm.check_watermarks(np.asarray(Image.open(f).convert("RGB"))) for f in files]
    results.append(wm.check_watermarks(photo))
    assert all(r.checked for r in results)
    assert [r.detected for r in results if r.detected] == []
    assert max(max(r.agreements.values()) for r in results) < wm.DEFAULT_THRESHOLD
    ev = analyze_provenance(to_sample(_png(photo)))
    assert not [e for e in ev if e.kind == "watermark"]
    (absent,) = [e for e in ev if e.summary == ABSENCE_SUMMARY]
    assert absent.details["watermark"]["checked"] is True


def test_decoder_matches_the_package_bit_for_bit(photo):
    dec_img = [photo, embed_sd1(photo), embed_sdxl(photo), photo[:300, :500].copy(), photo[::-1].copy()]
    for img in dec_img:
        for n in (136, 48, 32):
            ref = imwatermark.WatermarkDecoder("bits", n).decode(np.ascontiguousarray(img[:, :, ::-1]), "dwtDct")
            assert np.array_equal(np.asarray(ref, bool), wm.decode_bits(img, n))


def test_size_limits(to_sample):
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    r = wm.check_watermarks(small)
    assert not r.checked and "too small" in r.reason
    big = np.zeros((2100, 2100, 3), np.uint8)
    r = wm.check_watermarks(big)
    assert not r.checked and "not checked" in r.reason
    with pytest.raises(UsageError):
        wm.decode_bits(small, 48)
    with pytest.raises(UsageError):
        wm.decode_bits(small[:, :, 0], 48)


def test_threshold_option(photo, to_sample):
    marked = embed_sdxl(photo)
    s = to_sample(_png(marked))
    assert [e for e in analyze_provenance(s, ProvenanceOptions(watermark=False)) if e.kind == "watermark"] == []
    strict = analyze_provenance(s, ProvenanceOptions(watermark_threshold=1.0))
    agree = wm.check_watermarks(s.image).agreements["sdxl"]
    assert bool([e for e in strict if e.kind == "watermark"]) == (agree >= 1.0)
    with pytest.raises(UsageError):
        ProvenanceOptions(watermark_threshold=0.4)


def test_required_agreement_guards_short_payloads():
    assert wm.required_agreement(136, 0.8) == 0.8
    assert wm.required_agreement(32, 0.8) > 0.9  # 24/32 matching bits happen by chance too often
    assert wm.required_agreement(48, 0.95) == 0.95


def test_without_opencv_it_degrades(photo, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    s = Sample("x.png", "0" * 64, b"", photo, ImageMetadata("PNG", photo.shape[1], photo.shape[0], "RGB"))
    ev = analyze_provenance(s)
    (item,) = [e for e in ev if e.kind == "watermark"]
    assert item.weight == "none" and "not installed" in item.summary and "pip install --no-deps invisible-watermark" in item.summary


def test_formats_that_erase_the_mark_are_skipped(photo, to_sample):
    marked = embed_sdxl(photo)
    s420 = to_sample(_jpeg(marked, 95, subsampling=2))
    rep = prov_report(s420)
    assert rep["watermark"]["checked"] is False and "4:2:0" in rep["watermark"]["reason"]
    assert not [e for e in analyze_provenance(s420) if e.kind == "watermark"]
    buf = io.BytesIO()
    Image.fromarray(marked).save(buf, "WEBP", quality=95)
    assert prov_report(to_sample(buf.getvalue()))["watermark"]["checked"] is False
    buf = io.BytesIO()
    Image.fromarray(marked).save(buf, "WEBP", lossless=True)
    ev = analyze_provenance(to_sample(buf.getvalue()))
    assert [e.details["payload"] for e in ev if e.kind == "watermark"] == ["sdxl"]
    gray = to_sample(_jpeg(np.ascontiguousarray(photo[:, :, 1]), 95, subsampling=0))
    assert "greyscale" in prov_report(gray)["watermark"]["reason"]
