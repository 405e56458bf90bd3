"""fakescope.io.metadata, through decode(): EXIF, XMP, text chunks, comments, ICC."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from PIL import Image, ImageCms, PngImagePlugin, TiffImagePlugin

from fakescope.io.decode import decode, load
from fakescope.io.metadata import decode_text_bytes, exif_dict, exif_orientation

R = TiffImagePlugin.IFDRational

XMP = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
       '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
       'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
       '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')

A1111 = ("a photo of an astronaut riding a horse\nNegative prompt: blurry\n"
         "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, Model: sd_xl_base_1.0")


def _img() -> Image.Image:
    return Image.new("RGB", (24, 16), (120, 30, 200))


def _camera_exif() -> Image.Exif:
    e = Image.Exif()
    e[0x010F] = "Canon"
    e[0x0110] = "Canon EOS R5"
    e[0x0131] = "Adobe Photoshop 25.0 (Windows)"
    e[0x010E] = "a cat on a mat"
    e[0x0112] = 1
    ex = e.get_ifd(0x8769)
    ex[0x9003] = "2024:01:02 03:04:05"
    ex[0xA434] = "RF24-105mm F4 L IS USM"
    ex[0x829A] = R(1, 250)
    ex[0x829D] = R(28, 10)
    ex[0x8827] = 400
    ex[0x9286] = b"ASCII\x00\x00\x00shot at dusk"
    ex[0x927C] = bytes(range(256)) * 20  # a 5 kB MakerNote
    ex[0x9101] = b"\x01\x02\x03\x00"
    ex[0x9000] = b"0232"
    gps = e.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (R(52, 1), R(31, 1), R(1234, 100))
    gps[3] = "E"
    gps[4] = (R(13, 1), R(24, 1), R(0, 1))
    return e


def test_jpeg_exif_round_trip():
    data = _encode(_img(), "JPEG", exif=_camera_exif())
    m = decode(data).metadata
    x = m.exif
    assert x["Make"] == "Canon" and x["Model"] == "Canon EOS R5"
    assert x["Software"] == "Adobe Photoshop 25.0 (Windows)"
    assert x["ImageDescription"] == "a cat on a mat"
    assert x["DateTimeOriginal"] == "2024:01:02 03:04:05"
    assert x["LensModel"] == "RF24-105mm F4 L IS USM"
    assert x["ExposureTime"] == pytest.approx(0.004) and x["FNumber"] == pytest.approx(2.8)
    assert x["UserComment"] == "shot at dusk"
    assert x["GPSLatitudeRef"] == "N" and x["GPSLatitude"] == pytest.approx([52, 31, 12.34])
    assert x["GPSLongitude"] == [13, 24, 0]
    assert x["ExifVersion"] == "0232"  # ASCII bytes become text
    assert x["ComponentsConfiguration"] == "01020300"  # binary bytes become hex
    assert "MakerNote" not in x and "ExifOffset" not in x and "GPSInfo" not in x
    assert m.orientation == 1
    json.dumps(m.to_dict())


@pytest.mark.parametrize("payload, expected", [
    (b"UNICODE\x00" + A1111.encode("utf-16-be"), A1111),  # what Automatic1111 (via piexif) writes
    (b"UNICODE\x00" + "Grüße".encode("utf-16-le"), "Grüße"),
    (b"UNICODE\x00" + "\ufeffbom first".encode("utf-16-le"), "bom first"),
    (b"ASCII\x00\x00\x00plain\x00\x00", "plain"),
    (b"\x00" * 8 + "undefined code, utf-8 é".encode(), "undefined code, utf-8 é"),
    (b"JIS\x00\x00\x00\x00\x00" + "日本".encode("shift_jis"), "日本"),
])
def test_user_comment_encodings(payload, expected):
    e = Image.Exif()
    e.get_ifd(0x8769)[0x9286] = payload
    m = decode(_encode(_img(), "JPEG", exif=e)).metadata
    assert m.exif["UserComment"] == expected


def test_windows_xp_tags_are_utf16():
    e = Image.Exif()
    e[0x9C9B] = "Urlaub am Meer ü".encode("utf-16-le") + b"\x00\x00"
    e[0x9C9E] = "beach;sea".encode("utf-16-le") + b"\x00\x00"
    x = decode(_encode(_img(), "JPEG", exif=e)).metadata.exif
    assert x["XPTitle"] == "Urlaub am Meer ü" and x["XPKeywords"] == "beach;sea"


def test_exif_value_conversion_rules():
    e = Image.Exif()
    e[0x010F] = "Nikon\x00\x00"
    e[0x011A] = R(300, 1)  # XResolution: a whole number stays a number
    e[0x011B] = R(1, 0)  # zero denominator: not a number
    e[0xABCD] = "private tag"  # no name in the EXIF tables
    e[0x0201] = 1234  # thumbnail offset: storage layout, not reported
    x = exif_dict(e)
    assert x == {"Make": "Nikon", "XResolution": 300, "YResolution": None, "Tag0xABCD": "private tag"}
    json.dumps(x)


def test_exif_orientation_values():
    e = Image.Exif()
    for value, expected in ((6, 6), (0, 1), (9, 1), ("3", 3), ("x", 1), ((8,), 8)):
        e[0x0112] = value
        assert exif_orientation(e) == expected, value
    assert exif_orientation(Image.Exif()) == 1


def test_broken_exif_keeps_the_pixels():
    data = _encode(_img(), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x0f\x00\x02")
    with pytest.warns(UserWarning, match="Corrupt EXIF"):  # Pillow's own complaint, passed through
        s = decode(data, path="badexif.jpg")
    assert s.image.shape == (16, 24, 3)
    assert s.metadata.exif == {} and s.metadata.orientation == 1


def test_png_text_chunks_and_xmp():
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)  # tEXt, as Automatic1111 writes it
    workflow = json.dumps({"nodes": [{"id": i, "type": "KSampler"} for i in range(200)]})
    info.add_text("workflow", workflow, zip=True)  # zTXt
    info.add_itxt("prompt", '{"3": {"class_type": "KSampler", "inputs": {"seed": 42, "text": "Café ☕"}}}')
    info.add_itxt("XML:com.adobe.xmp", XMP)
    m = decode(_encode(_img(), "PNG", pnginfo=info)).metadata
    assert m.text["parameters"] == A1111
    assert json.loads(m.text["workflow"])["nodes"][199]["id"] == 199
    assert json.loads(m.text["prompt"])["3"]["inputs"]["text"] == "Café ☕"
    assert "XML:com.adobe.xmp" not in m.text
    assert m.xmp == XMP and "trainedAlgorithmicMedia" in m.xmp
    json.dumps(m.to_dict())


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def test_png_text_after_image_data():
    data = _encode(_img(), "PNG")
    iend = data.rfind(b"IEND") - 4
    late = _chunk(b"tEXt", b"Comment\x00written after IDAT") + _chunk(
        b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP.encode())
    m = decode(data[:iend] + late + data[iend:]).metadata
    assert m.text == {"Comment": "written after IDAT"}
    assert m.xmp == XMP


def test_png_exif_chunk():
    e = Image.Exif()
    e[0x0131] = "ComfyUI"
    e[0x0112] = 3
    s = decode(_encode(_img(), "PNG", exif=e))
    assert s.metadata.exif["Software"] == "ComfyUI" and s.metadata.orientation == 3


def test_jpeg_comments_and_xmp():
    data = _encode(_img(), "JPEG", comment="Generated with Midjourney", xmp=XMP.encode())
    m = decode(data).metadata
    assert m.text == {"comment": "Generated with Midjourney"}
    assert m.xmp == XMP
    # a second COM segment, right after SOI
    second = b"\xff\xfe" + struct.pack(">H", 2 + len(b"second one")) + b"second one"
    m2 = decode(data[:2] + second + data[2:]).metadata
    assert m2.text == {"comment": "second one", "comment_2": "Generated with Midjourney"}


def test_webp_xmp_and_exif():
    e = Image.Exif()
    e[0x0131] = "DALL-E"
    m = decode(_encode(_img(), "WEBP", xmp=XMP.encode(), exif=e)).metadata
    assert m.xmp == XMP and m.exif["Software"] == "DALL-E"


def test_tiff_xmp_and_tags():
    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[700] = XMP.encode()
    info[305] = "Firefly"
    m = decode(_encode(_img(), "TIFF", tiffinfo=info)).metadata
    assert m.xmp == XMP and m.exif["Software"] == "Firefly"
    assert "StripOffsets" not in m.exif  # storage layout is not metadata


def test_heif_and_avif_xmp_and_exif():
    import pillow_heif

    e = Image.Exif()
    e[0x010F] = "Apple"
    buf = io.BytesIO()
    pillow_heif.from_pillow(_img()).save(buf, quality=90, exif=e.tobytes(), xmp=XMP.encode())
    m = decode(buf.getvalue()).metadata
    assert m.format == "HEIF" and m.exif["Make"] == "Apple" and m.xmp == XMP
    m = decode(_encode(_img(), "AVIF", exif=e, xmp=XMP.encode())).metadata
    assert m.format == "AVIF" and m.exif["Make"] == "Apple" and m.xmp == XMP


def test_gif_comment():
    m = decode(_encode(_img(), "GIF", comment=b"made in GIMP")).metadata
    assert m.text == {"comment": "made in GIMP"}


def test_icc_profile_flag():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert decode(_encode(_img(), "JPEG", icc_profile=srgb)).metadata.icc_profile is True
    assert decode(_encode(_img(), "PNG", icc_profile=srgb)).metadata.icc_profile is True
    assert decode(_encode(_img(), "JPEG")).metadata.icc_profile is False


def test_decode_text_bytes():
    assert decode_text_bytes(b"\xef\xbb\xbfhello\x00\x00 ") == "hello"
    assert decode_text_bytes("naïve".encode()) == "naïve"
    assert decode_text_bytes("naïve".encode("latin-1")) == "naïve"


def test_metadata_of_real_files(data_root):
    files = sorted((data_root / "c2pa").glob("*.jpg")) + sorted((data_root / "modern").rglob("*.webp"))
    assert files
    for p in files:
        m = load(p).metadata
        json.dumps(m.to_dict())
        if m.format == "JPEG":
            assert m.jpeg_quantization and all(len(t) == 64 for t in m.jpeg_quantization.values())
    a = load(data_root / "c2pa" / "A.jpg").metadata  # a camera photo, edited in Lightroom
    assert a.exif["Make"] == "Canon" and a.exif["LensModel"].startswith("EF-S18-55mm")
    assert a.exif["Software"].startswith("Adobe Lightroom") and a.exif["FNumber"] == pytest.approx(5.6)
    assert a.xmp.startswith("<?xpacket") and "x:xmpmeta" in a.xmp
    assert a.icc_profile and a.jpeg_subsampling == "4:2:0"


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()
