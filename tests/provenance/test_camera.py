"""Camera EXIF and JPEG quantization tables, on JPEGs written by Pillow (libjpeg) and a real camera file."""

from __future__ import annotations

import pytest

from fakescope.provenance import analyze_provenance
from fakescope.provenance.camera import (
    IJG_LUMINANCE,
    ZIGZAG,
    analyze_quantization,
    camera_info,
    ijg_table,
    quality_to_scale,
)

CAMERA_IFD0 = {0x010F: "Canon", 0x0110: "Canon EOS R5"}
CAMERA_EXIF = {0x829A: 1 / 250, 0x829D: 4.0, 0x8827: 200, 0x9003: "2023:06:01 12:00:00",
               0x920A: 50.0, 0xA434: "RF24-105mm F4 L IS USM"}
# a camera-style table (not a scaled libjpeg table): fine steps for low frequencies
VENDOR_LUMA = [1, 1, 1, 1, 1, 2, 2, 3, 1, 1, 1, 1, 2, 3, 3, 3, 1, 1, 1, 2, 2, 3, 3, 3, 1, 1, 1, 2, 3, 4, 4, 3,
               1, 1, 2, 2, 3, 5, 5, 4, 1, 2, 2, 3, 4, 5, 5, 4, 2, 3, 3, 4, 5, 6, 6, 5, 3, 4, 4, 5, 5, 5, 5, 5]
VENDOR_CHROMA = [1, 1, 1, 2, 5, 5, 5, 5, 1, 1, 1, 3, 5, 5, 5, 5, 1, 1, 3, 5, 5, 5, 5, 5] + [5] * 40


def _items(ev, source):
    return [e for e in ev if e.source == source]


@pytest.mark.parametrize("q", [30, 50, 75, 90, 95, 100])
def test_pillow_jpeg_is_standard_at_its_quality(q, small_rgb, builders, to_sample):
    ev = analyze_provenance(to_sample(builders["jpeg"](small_rgb, quality=q)))
    (item,) = _items(ev, "jpeg-quantization")
    assert item.details["standard"] is True and item.details["ijg_quality"] == q
    assert item.weight == "none" and item.score == 0.5
    assert f"quality {q}" in item.summary and "says nothing" in item.summary


def test_custom_tables_are_non_standard(small_rgb, builders, to_sample):
    jpeg = builders["jpeg"](small_rgb, qtables=[VENDOR_LUMA, VENDOR_CHROMA])
    (item,) = _items(analyze_provenance(to_sample(jpeg)), "jpeg-quantization")
    assert item.details["standard"] is False and item.details["ijg_quality"] is None
    assert 90 <= item.details["estimated_quality"] <= 100
    assert item.weight == "none"


def test_camera_exif_is_weak_toward_real(small_rgb, builders, to_sample):
    jpeg = builders["jpeg"](small_rgb, exif=CAMERA_IFD0, exif_ifd=CAMERA_EXIF)
    (cam,) = _items(analyze_provenance(to_sample(jpeg)), "camera")
    assert cam.weight == "weak" and cam.score == pytest.approx(0.35)
    assert cam.details["model"] == "Canon EOS R5" and cam.details["iso"] == 200
    assert cam.details["jpeg_tables"] == "standard libjpeg"
    assert "1/250 s" in cam.summary and "f/4" in cam.summary and "ISO 200" in cam.summary


def test_camera_exif_with_vendor_tables_is_a_bit_stronger(small_rgb, builders, to_sample):
    jpeg = builders["jpeg"](small_rgb, exif=CAMERA_IFD0, exif_ifd=CAMERA_EXIF, qtables=[VENDOR_LUMA, VENDOR_CHROMA])
    (cam,) = _items(analyze_provenance(to_sample(jpeg)), "camera")
    assert cam.weight == "weak" and cam.score == pytest.approx(0.3)
    assert cam.details["jpeg_tables"] == "non-standard"


def test_implausible_or_thin_exif_says_nothing(small_rgb, builders, to_sample):
    jpeg = builders["jpeg"](small_rgb, exif=CAMERA_IFD0, exif_ifd={0x829A: 0.0, 0x829D: 500.0})
    (cam,) = _items(analyze_provenance(to_sample(jpeg)), "camera")
    assert cam.weight == "none" and cam.details["plausible"] is False
    assert any("impossible" in p for p in cam.details["problems"])
    jpeg = builders["jpeg"](small_rgb, exif=CAMERA_IFD0)
    (cam,) = _items(analyze_provenance(to_sample(jpeg)), "camera")
    assert cam.weight == "none" and "no exposure settings" in cam.summary
    assert not _items(analyze_provenance(to_sample(builders["jpeg"](small_rgb))), "camera")


def test_png_has_no_quantization_item(small_rgb, builders, to_sample):
    assert not _items(analyze_provenance(to_sample(builders["png"](small_rgb))), "jpeg-quantization")


def test_real_camera_file(c2pa_dir, to_sample):
    # A.jpg: a Canon EOS REBEL T3 photo exported by Lightroom (Adobe's own tables)
    ev = analyze_provenance(to_sample((c2pa_dir / "A.jpg").read_bytes()))
    (cam,) = _items(ev, "camera")
    (q,) = _items(ev, "jpeg-quantization")
    assert cam.weight == "weak" and cam.details["model"] == "Canon EOS REBEL T3"
    assert q.details["standard"] is False


def test_table_math():
    assert [quality_to_scale(q) for q in (1, 25, 50, 75, 100)] == [5000, 200, 100, 50, 0]
    assert ijg_table(50) == list(IJG_LUMINANCE)
    assert max(ijg_table(1)) == 255 and max(ijg_table(1, baseline=False)) > 255
    # tables listed in zig-zag order are recognised too
    zz = [ijg_table(80)[ZIGZAG[k]] for k in range(64)]
    zc = [ijg_table(80, chroma=True)[ZIGZAG[k]] for k in range(64)]
    info = analyze_quantization({0: zz, 1: zc})
    assert info.standard and info.ijg_quality == 80 and info.order == "zigzag"
    # different quality for luma and chroma (some libjpeg front ends): still the standard tables
    info = analyze_quantization({0: ijg_table(95), 1: ijg_table(85, chroma=True)})
    assert info.standard and info.ijg_quality == 95
    assert analyze_quantization(None) is None


def test_camera_info_parsing():
    c = camera_info({"Make": "Apple", "Model": "iPhone 15 Pro", "ExposureTime": "1/120", "FNumber": 1.78,
                     "PhotographicSensitivity": [80], "DateTimeOriginal": "2024:02:30 25:00:00"})
    assert c.exposure_time == pytest.approx(1 / 120) and c.iso == 80 and c.taken is None
    assert c.plausible and any("not a valid date" in p for p in c.problems)
