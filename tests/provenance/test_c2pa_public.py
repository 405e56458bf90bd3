"""A peer test suite: every C2PA public test file, compared with C2PA Tool's report beside it.

``shared/data/c2pa/public-testfiles`` holds the JPEGs of c2pa-org/public-testfiles with the
manifest-store report C2PA Tool wrote for each (``<name>.c2patool.json``; SOURCE.md there).  For every
file fakescope must agree with the report on

* the **state**: invalid exactly when the report's ``validation_status`` lists a failure that is not
  about trust (the old reports list no ``validation_state``);
* the **failure codes** of the active manifest (fakescope's failures and noteworthy informational codes);
* each **ingredient's own validation status** (``ingredients[].validation_status``), which fakescope
  keeps under ``ingredients[].validation`` and says in words.

The reports were written by C2PA Tool 0.16 (2022); the C2PA specification has moved on since, so a
few differences are expected and listed in :data:`KNOWN_DIFFERENCES`, each with its reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakescope.provenance import analyze_provenance, format_report, provenance_report
from fakescope.provenance import c2pa as fc2pa

pytest.importorskip("c2pa", reason="c2pa-python not installed (a dependency of fakescope)")

TRUST_ONLY = ("signingCredential.untrusted", "signingCredential.trusted", "signingCredential.ocsp",
              "timeStamp.untrusted", "timeStamp.trusted")

#: file → codes C2PA Tool 0.16 reported that today's c2pa-rs (through c2pa-python) does not, and why.
KNOWN_DIFFERENCES = {
    # Nikon's claim signature verifies today (claimSignature.validated); c2pa-rs 0.16 reported a mismatch
    # alongside the expired certificate.  Both agree the file is invalid, for its expired certificate.
    "nikon-20221019-building.jpeg": {"claimSignature.mismatch"},
}


def _dir(c2pa_dir: Path) -> Path:
    d = c2pa_dir / "public-testfiles"
    if not (d / "SOURCE.md").exists():
        pytest.skip(f"C2PA public test files not found at {d}")
    return d


def _files(c2pa_dir: Path) -> list[Path]:
    d = _dir(c2pa_dir)
    return sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))


def _norm(codes) -> set[str]:
    return {fc2pa.CODE_ALIASES.get(c, c) for c in codes if not str(c).startswith(TRUST_ONLY)}


def test_every_public_file_agrees_with_c2patool(c2pa_dir: Path, to_sample) -> None:
    files = _files(c2pa_dir)
    assert len(files) == 23  # 21 with a report, A.jpg and I.jpg without credentials
    compared = 0
    for path in files:
        data = path.read_bytes()
        r = fc2pa.read_c2pa(data, "JPEG")
        ref_path = path.with_name(path.stem + ".c2patool.json")
        if not ref_path.exists():  # no credentials: C2PA Tool wrote no report
            assert r is None, path.name
            continue
        ref = json.loads(ref_path.read_text())
        assert r is not None and r.error is None, path.name
        known = KNOWN_DIFFERENCES.get(path.name, set())
        theirs = _norm(v["code"] for v in ref.get("validation_status") or [])
        ours = _norm(f["code"] for f in r.failures) | _norm(f["code"] for f in r.informational)
        expected_state = "Invalid" if theirs else "Valid"
        assert ("Invalid" if not r.valid else "Valid") == expected_state, (path.name, r.state, theirs)
        assert ours == theirs - known, (path.name, ours, theirs)
        # every ingredient's own validation status, by title
        active = ref["manifests"][ref["active_manifest"]]
        ref_ing = {i["title"]: _norm(v["code"] for v in i.get("validation_status") or [])
                   for i in active.get("ingredients") or []}
        our_ing = {i["title"]: _norm(i.get("validation") or []) for i in r.ingredients}
        assert our_ing == ref_ing, (path.name, our_ing, ref_ing)
        assert r.manifests == len(ref["manifests"]), path.name
        compared += 1
    assert compared == 21


def test_valid_manifest_with_a_failing_ingredient_is_not_a_clean_history(c2pa_dir: Path, to_sample) -> None:
    path = _dir(c2pa_dir) / "adobe-20220124-CIE-sig-CA.jpg"
    r = fc2pa.read_c2pa(path.read_bytes(), "JPEG")
    assert r.state == "Valid" and r.valid and not r.clean_history
    words = r.state_in_words()
    assert words.startswith("valid, but ingredient E-sig-CA.jpg carries credentials that fail validation: "
                            "signature mismatch")
    assert {f["code"] for f in r.ingredient_failures} == {"claimSignature.mismatch", "timeStamp.mismatch"}
    # the evidence summary says it, and the item is not weighed as a clean edit history
    (item,) = [e for e in analyze_provenance(to_sample(path.read_bytes(), path.name)) if e.source == "c2pa"]
    assert "ingredient E-sig-CA.jpg carries credentials that fail validation: signature mismatch" in item.summary
    assert "not a clean one" in item.summary and item.details["clean_history"] is False
    assert item.weight == "none"
    # so does `fakescope provenance`
    text = " ".join(format_report(provenance_report(to_sample(path.read_bytes(), path.name))).split())
    assert "state: Valid (valid, but ingredient E-sig-CA.jpg carries credentials that fail validation" in text
    assert "ingredient: E-sig-CA.jpg (componentOf, with manifest) — its credentials fail validation: " \
           "signature mismatch" in text


def test_failing_ingredient_weakens_a_capture_claim(c2pa_dir: Path, test_signer, to_sample, photo, builders) -> None:
    """A camera claim whose history holds an ingredient with failing credentials is not taken at its word."""
    bad = (_dir(c2pa_dir) / "adobe-20220124-E-sig-CA.jpg").read_bytes()
    base = builders["jpeg"](photo[:128, :160])
    capture = test_signer(base, "image/jpeg", source_type="digitalCapture", agent="TestCam",
                          ingredient=(bad, "image/jpeg", "E-sig-CA.jpg"))
    clean = test_signer(base, "image/jpeg", source_type="digitalCapture", agent="TestCam")
    trust = (str(c2pa_dir / "es256_certs.pem"),)
    from fakescope.provenance import ProvenanceOptions

    opts = ProvenanceOptions(c2pa_trust=trust)
    (ok,) = [e for e in analyze_provenance(to_sample(clean), opts) if e.source == "c2pa"]
    (weak,) = [e for e in analyze_provenance(to_sample(capture), opts) if e.source == "c2pa"]
    assert ok.weight == "strong" and ok.score == pytest.approx(0.05)
    assert weak.details["state"] in ("Valid", "Trusted") and weak.details["ingredient_failures"]
    assert weak.weight == "weak" and "E-sig-CA.jpg carries credentials that fail validation" in weak.summary
    (untrusted,) = [e for e in analyze_provenance(to_sample(capture)) if e.source == "c2pa"]
    assert untrusted.weight == "none"


def test_expired_certificate_is_reported_as_such(c2pa_dir: Path, to_sample) -> None:
    path = _dir(c2pa_dir) / "nikon-20221019-building.jpeg"
    (item,) = [e for e in analyze_provenance(to_sample(path.read_bytes(), path.name)) if e.source == "c2pa"]
    assert item.details["state"] == "Invalid" and item.weight == "none"
    assert "the signing certificate had expired (signingCredential.expired)" in item.summary
    assert "NIKON CORPORATION" in item.summary
