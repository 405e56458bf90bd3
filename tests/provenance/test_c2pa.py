"""C2PA: manifests signed here with c2pa-python and the ES256 test key, and the real fixtures."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.errors import UsageError
from fakescope.provenance import ABSENCE_SUMMARY, ProvenanceOptions, analyze_provenance, provenance_report
from fakescope.provenance import c2pa as fc2pa
from fakescope.provenance.iptc import jpeg_segments

c2pa = pytest.importorskip("c2pa", reason="c2pa-python not installed (a dependency of fakescope)")

DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def _sign(src: bytes, mime: str, c2pa_dir: Path, source_type: str, agent: str = "TestDiffusion",
          action: str = "c2pa.created") -> bytes:
    cert = (c2pa_dir / "es256_certs.pem").read_bytes()
    key = (c2pa_dir / "es256_private.key").read_bytes()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, cert, key, None))
    manifest = {
        "claim_generator_info": [{"name": "fakescope-tests", "version": "1.0"}],
        "title": "test image",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            {"action": action, "digitalSourceType": DST + source_type,
             "softwareAgent": {"name": agent, "version": "2.1"}}]}}],
    }
    ctx = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}},
                                  "verify": {"remote_manifest_fetch": False}})
    out = io.BytesIO()
    with c2pa.Builder(manifest, context=ctx) as builder:
        builder.sign(signer, mime, io.BytesIO(src), out)
    return out.getvalue()


@pytest.fixture(scope="module")
def base_jpeg(photo: np.ndarray, builders) -> bytes:
    return builders["jpeg"](photo[:256, :320], quality=90)


@pytest.fixture(scope="module")
def ai_jpeg(base_jpeg: bytes, c2pa_dir: Path) -> bytes:
    return _sign(base_jpeg, "image/jpeg", c2pa_dir, "trainedAlgorithmicMedia")


@pytest.fixture(scope="module")
def capture_jpeg(base_jpeg: bytes, c2pa_dir: Path) -> bytes:
    return _sign(base_jpeg, "image/jpeg", c2pa_dir, "digitalCapture", agent="TestCam")


def _c2pa_items(ev):
    return [e for e in ev if e.source == "c2pa"]


def test_signed_ai_manifest_is_strong(ai_jpeg, to_sample):
    ev = analyze_provenance(to_sample(ai_jpeg))
    (item,) = _c2pa_items(ev)
    assert item.weight == "strong" and item.score == pytest.approx(0.99) and item.kind == "provenance"
    assert item.details["generator"] == "TestDiffusion 2.1"
    assert item.details["state"] == "Valid" and item.details["trusted"] is False
    assert item.details["declared"]["code"] == "trainedAlgorithmicMedia"
    assert item.details["signer"]["common_name"] == "C2PA Signer"
    assert item.details["actions"][0]["digital_source_type"] == "trainedAlgorithmicMedia"
    assert "generative AI" in item.summary and "self-declared" in item.summary and item.details["self_declared"]
    assert ("signed by a certificate that no trusted authority vouches for (it names itself 'C2PA Test Signing "
            "Cert'): it proves the file was not changed since signing, not who made it") in item.summary
    assert item.details["trust_list"]["date"] == "2026-08-21" and item.details["trust_list"]["certificates"] == 30
    assert not any(e.summary == ABSENCE_SUMMARY for e in ev)


def test_trusted_signer_gives_certainty(ai_jpeg, capture_jpeg, to_sample, c2pa_dir):
    opts = ProvenanceOptions(c2pa_trust=(str(c2pa_dir / "es256_certs.pem"),))
    (ai,) = _c2pa_items(analyze_provenance(to_sample(ai_jpeg), opts))
    assert ai.weight == "strong" and ai.score == 1.0 and ai.details["trusted"] is True
    assert ai.details["self_declared"] is False and "self-declared" not in ai.summary
    assert "signed by C2PA Test Signing Cert — trusted (your trust anchors: es256_certs.pem)" in ai.summary
    (cap,) = _c2pa_items(analyze_provenance(to_sample(capture_jpeg), opts))
    assert cap.weight == "strong" and cap.score == pytest.approx(0.05)
    assert "— trusted (your trust anchors: es256_certs.pem)" in cap.summary


def test_untrusted_capture_claim_is_only_weak(capture_jpeg, to_sample):
    (cap,) = _c2pa_items(analyze_provenance(to_sample(capture_jpeg)))
    assert cap.weight == "weak" and cap.score < 0.5
    assert cap.details["declared"]["category"] == "capture"


def _reembed_manifest(signed: bytes, new_jpeg: bytes) -> bytes:
    """Put the signed file's APP11 (C2PA JUMBF) segments into another JPEG, as an editor keeping metadata would."""
    segs = [seg for m, seg in jpeg_segments(signed) if m == 0xEB]
    assert segs, "the signed JPEG should carry APP11 segments"
    app11 = b"".join(b"\xff\xeb" + len(s + b"..").to_bytes(2, "big") + s for s in segs)
    return new_jpeg[:2] + app11 + new_jpeg[2:]


def test_edited_pixels_invalidate_the_manifest(ai_jpeg, to_sample, builders):
    pixels = np.asarray(Image.open(io.BytesIO(ai_jpeg)).convert("RGB")).copy()
    pixels[40:80, 40:120] = 255 - pixels[40:80, 40:120]  # an edit after signing
    edited = _reembed_manifest(ai_jpeg, builders["jpeg"](pixels, quality=90))
    ev = analyze_provenance(to_sample(edited))
    (item,) = _c2pa_items(ev)
    assert item.weight == "none" and item.score == 0.5
    assert item.details["state"] == "Invalid"
    assert any(f["code"] == "assertion.dataHash.mismatch" for f in item.details["failures"])
    assert "edited after signing" in item.summary and "not proof either way" in item.summary
    # the declaration is still shown, but decides nothing
    assert "trainedAlgorithmicMedia" in item.summary


def test_reencoding_strips_the_manifest(ai_jpeg, to_sample):
    buf = io.BytesIO()
    Image.open(io.BytesIO(ai_jpeg)).save(buf, "JPEG", quality=85)
    ev = analyze_provenance(to_sample(buf.getvalue()))
    assert _c2pa_items(ev) == []
    assert any(e.summary == ABSENCE_SUMMARY for e in ev)


def test_signed_png(photo, c2pa_dir, builders, to_sample):
    png = builders["png"](photo[:200, :300])
    signed = _sign(png, "image/png", c2pa_dir, "compositeWithTrainedAlgorithmicMedia")
    (item,) = _c2pa_items(analyze_provenance(to_sample(signed)))
    assert item.weight == "strong" and item.details["declared"]["category"] == "ai-composite"


# What each real fixture is (c2pa-rs test images): state, what it declares, and how we weigh it.
FIXTURES = {
    "A.jpg": None,  # no manifest: a Canon photo edited in Lightroom
    "C.jpg": ("Valid", "strong", "algorithmicMedia"),  # created by "Make Test Images" (a gradient)
    "CA.jpg": ("Valid", "none", None),  # opened A.jpg + colour adjustments: an edit history only
    "CIE-sig-CA.jpg": ("Invalid", "none", "algorithmicMedia"),  # its ingredient E-sig-CA fails its signature
    "C_with_CAWG_data.jpg": ("Valid", "weak", "digitalCapture"),  # capture claim, untrusted test signer
    "E-sig-CA.jpg": ("Invalid", "none", None),  # claimSignature.mismatch
    "XCA.jpg": ("Invalid", "none", None),  # assertion.dataHash.mismatch: pixels changed after signing
    "boxhash.jpg": ("Valid", "none", None),  # box-hash binding, edit history only
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_real_fixtures(name, c2pa_dir, to_sample):
    data = (c2pa_dir / name).read_bytes()
    expected = FIXTURES[name]
    ev = analyze_provenance(to_sample(data, name))
    items = _c2pa_items(ev)
    if expected is None:
        assert items == [] and any(e.summary == ABSENCE_SUMMARY for e in ev)
        return
    state, weight, declared = expected
    (item,) = items
    assert item.details["state"] == state
    assert item.weight == weight
    assert (item.details.get("declared") or {}).get("code") == declared
    if state == "Invalid":
        assert item.score == 0.5 and item.details["failures"]
    assert item.summary.endswith(".") and "\n" not in item.summary


def test_fixture_failure_codes(c2pa_dir):
    codes = {n: {f["code"] for f in fc2pa.read_c2pa((c2pa_dir / n).read_bytes(), "JPEG").failures}
             for n in ("XCA.jpg", "E-sig-CA.jpg", "CIE-sig-CA.jpg")}
    assert "assertion.dataHash.mismatch" in codes["XCA.jpg"]
    assert "claimSignature.mismatch" in codes["E-sig-CA.jpg"]
    assert "claimSignature.mismatch" in codes["CIE-sig-CA.jpg"]  # from its ingredient


def test_trust_list_makes_fixture_trusted(c2pa_dir):
    pem = str(c2pa_dir / "es256_certs.pem")
    r = fc2pa.read_c2pa((c2pa_dir / "boxhash.jpg").read_bytes(), "JPEG", (pem,))
    assert r.state == "Trusted" and r.trusted
    # C.jpg is signed with another (PS256) test certificate: valid, still untrusted
    r = fc2pa.read_c2pa((c2pa_dir / "C.jpg").read_bytes(), "JPEG", (pem,))
    assert r.state == "Valid" and not r.trusted


def test_bad_trust_file_is_a_usage_error(ai_jpeg, to_sample, tmp_path):
    with pytest.raises(UsageError, match="cannot be read"):
        analyze_provenance(to_sample(ai_jpeg), ProvenanceOptions(c2pa_trust=(str(tmp_path / "missing.pem"),)))
    not_pem = tmp_path / "x.pem"
    not_pem.write_text("hello")
    with pytest.raises(UsageError, match="no PEM certificate"):
        analyze_provenance(to_sample(ai_jpeg), ProvenanceOptions(c2pa_trust=(str(not_pem),)))


def test_report_sections(ai_jpeg, to_sample):
    rep = provenance_report(to_sample(ai_jpeg, "ai.jpg"))
    c = rep["c2pa"]
    assert c["present"] and c["valid"] and c["claim_generator"] == "fakescope-tests 1.0"
    assert c["digital_source_types"][0]["code"] == "trainedAlgorithmicMedia"


def test_without_the_package_it_degrades(ai_jpeg, c2pa_dir, to_sample, monkeypatch):
    monkeypatch.setitem(sys.modules, "c2pa", None)  # makes `import c2pa` raise ImportError
    fc2pa.c2pa_available.cache_clear()
    try:
        (item,) = _c2pa_items(analyze_provenance(to_sample(ai_jpeg)))
        assert item.weight == "none" and item.score == 0.5
        assert "C2PA support not installed (pip install 'c2pa-python" in item.summary
        # a file without a manifest needs no package to say so
        ev = analyze_provenance(to_sample((c2pa_dir / "A.jpg").read_bytes()))
        assert _c2pa_items(ev) == [] and any(e.summary == ABSENCE_SUMMARY for e in ev)
    finally:
        monkeypatch.undo()
        fc2pa.c2pa_available.cache_clear()
    assert fc2pa.c2pa_available()


def test_formats_without_manifests_are_skipped(small_rgb):
    buf = io.BytesIO()
    Image.fromarray(small_rgb).save(buf, "BMP")
    assert fc2pa.read_c2pa(buf.getvalue() + b"c2pa", "BMP") is None
    assert fc2pa.read_c2pa(b"", "JPEG") is None
