"""docs/verdict.schema.json describes exactly what Verdict.to_dict() emits."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

from fakescope.types import Attribution, Evidence, Verdict  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "docs" / "verdict.schema.json"
PACKAGED_SCHEMA_PATH = ROOT / "src" / "fakescope" / "schema" / "verdict.schema.json"
SHA = "ab" * 32


@pytest.fixture(scope="module")
def validator() -> "jsonschema.Draft202012Validator":
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def ok_full() -> dict:
    v = Verdict(
        path="photos/ä b.jpg",
        status="ok",
        sha256=SHA,
        p_fake=0.97,
        label="ai-generated",
        threshold=0.62,
        operating_fpr=0.01,
        generator=Attribution(name="stable-diffusion-1.x", family="diffusion", confidence=0.71),
        evidence=(
            Evidence("c2pa", "provenance", 1.0, "signed manifest: trainedAlgorithmicMedia", weight="strong",
                     details={"claim_generator": "Adobe Firefly", "signature": {"valid": True}}),
            Evidence("npr", "detector", 0.95, "up-sampling traces", details={"tiles": [0.9, 0.97], "n": 2}),
            Evidence("exif", "provenance", 0.5, "no camera metadata", weight="weak"),
            Evidence("invisible-watermark", "watermark", 0.5, "no watermark found", weight="none"),
            Evidence("attrib", "attribution", 0.8, "closest: SD 1.x"),
            Evidence("loc", "localization", 0.6, "no localized edits"),
        ),
        explanation="A signed C2PA manifest says the image was made by a generative AI tool.",
        heatmap="reports/a.heatmap.png",
        elapsed_ms=41.237,
        width=1024,
        height=768,
        format="JPEG",
    )
    return v.to_dict()


def ok_bare() -> dict:
    return Verdict(path="b.png", status="ok", sha256=SHA, p_fake=0.2, label="real", threshold=0.62,
                   operating_fpr=0.01, elapsed_ms=3.0, width=32, height=32, format="PNG").to_dict()


def error_record() -> dict:
    return Verdict(path="broken.jpg", status="error", sha256=SHA, error="the file ends before the image data does",
                   error_type="TruncatedFileError", elapsed_ms=0.4).to_dict()


@pytest.mark.parametrize("make", [ok_full, ok_bare, error_record])
def test_verdicts_validate(validator, make) -> None:
    record = make()
    errors = list(validator.iter_errors(record))
    assert errors == []
    # the record is plain JSON: a round trip through text keeps it valid and equal
    again = json.loads(json.dumps(record))
    assert again == record
    assert list(validator.iter_errors(again)) == []


def test_error_without_sha_validates(validator) -> None:
    record = Verdict(path="missing.jpg", status="error", error="no such file", error_type="DecodeError").to_dict()
    assert record["sha256"] is None and record["elapsed_ms"] is None
    assert list(validator.iter_errors(record)) == []


def test_ok_record_has_every_required_field(validator) -> None:
    required = set(validator.schema["$defs"]["ok"]["required"])
    assert required == set(ok_bare())
    assert set(validator.schema["$defs"]["error"]["required"]) == set(error_record())


def test_new_fields_are_allowed(validator) -> None:
    record = ok_full()
    record["added_later"] = {"anything": [1, 2]}
    record["evidence"][0]["extra"] = "x"
    assert validator.is_valid(record)


def _invalid(record: dict) -> list[str]:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    v = jsonschema.Draft202012Validator(schema)
    return [e.message for e in v.iter_errors(record)]


def _mutated(record: dict, fn) -> dict:
    r = copy.deepcopy(record)
    fn(r)
    return r


@pytest.mark.parametrize(
    "name, record, expected_fragment",
    [
        ("wrong label", _mutated(ok_full(), lambda r: r.update(label="fake")), "'fake' is not one of"),
        ("score 1.5", _mutated(ok_full(), lambda r: r["evidence"][1].update(score=1.5)), "1.5 is greater than"),
        ("missing status", _mutated(ok_full(), lambda r: r.pop("status")), "'status' is a required property"),
        ("unknown status", _mutated(ok_full(), lambda r: r.update(status="done")), "'done' is not one of"),
        ("p_fake above 1", _mutated(ok_full(), lambda r: r.update(p_fake=1.2)), "1.2 is greater than"),
        ("p_fake null on ok", _mutated(ok_bare(), lambda r: r.update(p_fake=None)), "None is not of type"),
        ("unknown kind", _mutated(ok_full(), lambda r: r["evidence"][0].update(kind="vibes")), "'vibes' is not one of"),
        ("unknown weight", _mutated(ok_full(), lambda r: r["evidence"][0].update(weight="huge")), "'huge' is not one of"),
        ("evidence without source", _mutated(ok_full(), lambda r: r["evidence"][0].pop("source")),
         "'source' is a required property"),
        ("generator without family", _mutated(ok_full(), lambda r: r["generator"].pop("family")),
         "is not valid under any of the given schemas"),
        ("error without message", _mutated(error_record(), lambda r: r.pop("error")), "'error' is a required property"),
        ("bad sha256", _mutated(ok_bare(), lambda r: r.update(sha256="xyz")), "is not valid under any of the given schemas"),
        ("negative time", _mutated(ok_bare(), lambda r: r.update(elapsed_ms=-1)), "-1 is less than the minimum"),
    ],
)
def test_invalid_records_are_rejected(name, record, expected_fragment) -> None:
    messages = _invalid(record)
    assert messages, f"{name}: accepted but should be rejected"
    assert any(expected_fragment in m for m in messages), (name, messages)


def test_packaged_copy_is_identical() -> None:
    assert PACKAGED_SCHEMA_PATH.read_bytes() == SCHEMA_PATH.read_bytes()


def test_schema_enums_match_types(validator) -> None:
    from fakescope.types import EVIDENCE_KINDS, LABELS

    defs = validator.schema["$defs"]
    assert tuple(defs["ok"]["properties"]["label"]["enum"]) == LABELS
    assert tuple(defs["evidence"]["properties"]["kind"]["enum"]) == EVIDENCE_KINDS
