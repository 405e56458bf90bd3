"""C2PA trust: the shipped official trust list, the user's anchors, and what trust does to the verdict.

The certificate chains here are made in the test with the ``cryptography`` package: a root CA, an
intermediate CA and a signer with the C2PA certificate profile (EC P-256, digitalSignature, the
emailProtection EKU c2pa-rs accepts), so that a manifest signed with them validates as *trusted*
exactly when the root is given as an anchor.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time

import numpy as np
import pytest

from fakescope.errors import UsageError
from fakescope.fusion import CalibrationSet, Fuser
from fakescope.provenance import ProvenanceOptions, analyze_provenance, format_report, provenance_report
from fakescope.provenance import c2pa as fc2pa
from fakescope.provenance import trust as ftrust

from .conftest import sign_c2pa

c2pa = pytest.importorskip("c2pa", reason="c2pa-python not installed (a dependency of fakescope)")
x509 = pytest.importorskip("cryptography.x509", reason="the test CA needs the cryptography package ([dev] extra)")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

def _name(cn: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "US")])


def _cert(subject: x509.Name, issuer: x509.Name, key, issuer_key, *, ca: bool, not_after: dt.datetime):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
         .not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=not ca, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
    if not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=True)
    return b.sign(issuer_key, hashes.SHA256())


def make_chain(org: str = "Fakescope Test Generator Inc", signer_lifetime: dt.timedelta = dt.timedelta(days=365)):
    """(signer chain PEM: leaf + intermediate, signer private key PEM, root certificate PEM)."""
    now = dt.datetime.now(dt.timezone.utc)
    rk, ik, lk = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    rn, iname = _name("Fakescope Test Root CA", "Fakescope Test Root"), _name("Fakescope Test ICA", "Fakescope Test ICA")
    root = _cert(rn, rn, rk, rk, ca=True, not_after=now + dt.timedelta(days=3650))
    ica = _cert(iname, rn, ik, rk, ca=True, not_after=now + dt.timedelta(days=3650))
    leaf = _cert(_name("Fakescope Test Signer", org), iname, lk, ik, ca=False, not_after=now + signer_lifetime)
    pem = [c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ica, root)]
    key = lk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem[0] + pem[1], key, pem[2]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain_pem, key, root = make_chain()
    d = tmp_path_factory.mktemp("ca")
    (d / "root.pem").write_bytes(root)
    return chain_pem, key, d / "root.pem"


@pytest.fixture(scope="module")
def ai_signed(chain, photo, builders) -> bytes:
    chain_pem, key, _ = chain
    return sign_c2pa(builders["jpeg"](photo[:160, :200]), "image/jpeg", chain_pem, key, agent="Imaginator")


def _item(ev):
    (e,) = [x for x in ev if x.source == "c2pa"]
    return e


# ---------------------------------------------------------------------------------- the shipped list
def test_shipped_list_parses_with_its_30_anchors():
    tl = ftrust.shipped_trust_list()
    assert tl.shipped and tl.date == "2026-08-21" and len(tl.certificates) == 30
    assert tl.sha256 == hashlib.sha256(ftrust.SHIPPED_TRUST_LIST.read_bytes()).hexdigest()
    assert tl.next_update == "2027-08-05" and tl.extra["issued"] == "2026-08-05T00:11:39Z"
    assert tl.label() == "C2PA trust list of 2026-08-21"
    # the PEM shipped beside it holds exactly the same certificates
    pem = ftrust.pem_certificates((ftrust.TRUST_DIR / "C2PA-TRUST-LIST.pem").read_bytes())
    assert sorted(pem) == sorted(tl.certificates)
    # the organisations the list names, e.g. Adobe and Google, each with its anchors
    assert "Adobe Inc" in tl.organisations and tl.organisations.count("Google LLC") == 6
    assert len(set(tl.organisations)) == 17
    # the recorded sha256 in VERSION.json (and the licence note) travel with it
    meta = json.loads((ftrust.TRUST_DIR / "VERSION.json").read_text())
    assert meta["files"]["C2PA-TRUST-LIST.json"] == tl.sha256 and meta["licence"] == "CC-BY-4.0"
    assert "CC BY 4.0" in (ftrust.TRUST_DIR / "SOURCE.md").read_text()
    # each anchor is a parsable X.509 certificate
    for der in tl.certificates:
        x509.load_der_x509_certificate(der)


def test_list_age_warning():
    tl = ftrust.shipped_trust_list()
    assert tl.warning(dt.date(2027, 8, 21)) is None  # 12 months to the day
    w = tl.warning(dt.date(2027, 9, 1))
    assert w is not None and "2026-08-21" in w and "12 months" in w and "--c2pa-trust-list" in w
    d = tl.to_dict(dt.date(2028, 1, 1))
    assert d["out_of_date"] is True and d["warning"] and d["age_days"] == 498
    today = tl.to_dict()
    assert today["age_days"] == (dt.date.today() - dt.date(2026, 8, 21)).days
    assert today["out_of_date"] is (today["age_days"] > 365)


def test_a_user_list_replaces_the_shipped_one(tmp_path, monkeypatch, chain):
    _, _, root = chain
    der = x509.load_pem_x509_certificate(root.read_bytes()).public_bytes(serialization.Encoding.DER)
    doc = json.loads(ftrust.SHIPPED_TRUST_LIST.read_text())
    info = doc["LoTE"]["ListAndSchemeInformation"]
    info["ListIssueDateTime"] = "2024-01-02T00:00:00Z"
    entities = doc["LoTE"]["TrustedEntitiesList"]
    entities.append({"TrustedEntityInformation": {"TEName": [{"lang": "en", "value": "Fakescope Test Root"}]},
                     "TrustedEntityServices": [{"ServiceInformation": {
                         "ServiceDigitalIdentity": {"X509Certificates": [{"val": base64.b64encode(der).decode()}]},
                         "ServiceStatus": "http://c2pa.org/conformance/trust-list/trusted"}}]})
    # a withdrawn anchor is not used
    entities[0]["TrustedEntityServices"][0]["ServiceInformation"]["ServiceStatus"] = \
        "http://c2pa.org/conformance/trust-list/withdrawn"
    p = tmp_path / "newer.json"
    p.write_text(json.dumps(doc))
    tl = ftrust.load_trust_list(p)
    assert len(tl.certificates) == 30 and tl.withdrawn == 1 and tl.date == "2024-01-02" and not tl.shipped
    assert "Fakescope Test Root" in tl.organisations and "Adobe Inc" not in tl.organisations
    assert tl.warning() is not None  # older than 12 months
    monkeypatch.setenv(ftrust.TRUST_LIST_ENV, str(p))
    assert ftrust.default_trust_list().path == str(p)
    # a PEM list is undated, and says so
    pem = tmp_path / "list.pem"
    pem.write_bytes(root.read_bytes())
    tl = ftrust.load_trust_list(pem)
    assert tl.date is None and len(tl.certificates) == 1 and "has no date" in tl.warning()


def test_bad_lists_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="cannot be read"):
        ftrust.load_trust_list(tmp_path / "missing.json")
    (tmp_path / "a.json").write_text('{"not": "a list"}')
    with pytest.raises(UsageError, match="LoTE"):
        ftrust.load_trust_list(tmp_path / "a.json")
    (tmp_path / "b.pem").write_text("hello")
    with pytest.raises(UsageError, match="no PEM certificate"):
        ftrust.load_trust_list(tmp_path / "b.pem")
    (tmp_path / "c.json").write_text('{"LoTE": {"TrustedEntitiesList": []}}')
    with pytest.raises(UsageError, match="no trusted certificate"):
        ftrust.load_trust_list(tmp_path / "c.json")


# ---------------------------------------------------------------------------------- trust in the verdict
def test_own_chain_validates_as_trusted_only_with_its_root(ai_signed, chain, to_sample):
    _, _, root = chain
    untrusted = _item(analyze_provenance(to_sample(ai_signed)))
    assert untrusted.details["state"] == "Valid" and untrusted.details["trusted"] is False
    assert untrusted.weight == "strong" and untrusted.score == pytest.approx(0.99)
    assert untrusted.details["self_declared"] is True and "self-declared" in untrusted.summary
    assert "(it names itself 'Fakescope Test Generator Inc')" in untrusted.summary

    trusted = _item(analyze_provenance(to_sample(ai_signed), ProvenanceOptions(c2pa_trust=(str(root),))))
    assert trusted.details["state"] == "Trusted" and trusted.details["trusted"] is True
    assert trusted.weight == "strong" and trusted.score == 1.0 and trusted.details["self_declared"] is False
    assert trusted.details["trusted_by"] == "your trust anchors: root.pem"
    assert "signed by Fakescope Test Generator Inc — trusted (your trust anchors: root.pem)" in trusted.summary
    assert trusted.details["trust_list"]["date"] == "2026-08-21"  # the shipped list stays in use beside it

    # --c2pa-trust none: no list at all; the root alone still vouches
    alone = _item(analyze_provenance(to_sample(ai_signed),
                                     ProvenanceOptions(c2pa_trust=(str(root),), c2pa_trust_list=None)))
    assert alone.details["trusted"] is True and alone.details["trust_list"] is None


def test_a_trust_list_holding_the_root_names_itself(ai_signed, chain, to_sample, tmp_path):
    """When the anchor comes from a trust list, the explanation names the list and its date."""
    _, _, root = chain
    der = x509.load_pem_x509_certificate(root.read_bytes()).public_bytes(serialization.Encoding.DER)
    doc = {"LoTE": {"ListAndSchemeInformation": {"SchemeName": [{"lang": "en", "value": "C2PA trust list"}],
                                                 "ListIssueDateTime": "2026-11-30T00:00:00Z"},
                    "TrustedEntitiesList": [{"TrustedEntityInformation": {"TEName": [{"value": "Fakescope"}]},
                                             "TrustedEntityServices": [{"ServiceInformation": {
                                                 "ServiceDigitalIdentity": {"X509Certificates": [
                                                     {"val": base64.b64encode(der).decode()}]},
                                                 "ServiceStatus": "http://c2pa.org/conformance/trust-list/trusted"}}]}]}}
    p = tmp_path / "list.json"
    p.write_text(json.dumps(doc))
    item = _item(analyze_provenance(to_sample(ai_signed), ProvenanceOptions(c2pa_trust_list=str(p))))
    assert item.details["trusted"] is True and item.details["trusted_by"] == "C2PA trust list of 2026-11-30"
    assert "signed by Fakescope Test Generator Inc — trusted (C2PA trust list of 2026-11-30)" in item.summary
    assert item.details["trust_list"]["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    # the same JSON list given as added anchors (--c2pa-trust none --c2pa-trust list.json) vouches too
    added = _item(analyze_provenance(to_sample(ai_signed), ProvenanceOptions(c2pa_trust=(str(p),),
                                                                            c2pa_trust_list=None)))
    assert added.details["trusted"] is True and added.details["trusted_by"] == "your trust anchors: list.json"


def test_trust_decides_how_the_label_reads(ai_signed, chain, to_sample):
    _, _, root = chain
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(200), np.ones(200)].astype(np.int64)
    cal = CalibrationSet(split="t", labels=y, groups=(), scores={"a": np.r_[rng.normal(-2, 1, 200),
                                                                              rng.normal(2, 1, 200)]})
    fuser = Fuser(["a"], calibration=cal)
    self_decl = fuser.decide(analyze_provenance(to_sample(ai_signed)), {"a": -4.0})
    assert self_decl.label == "ai-generated" and "self-declared" in self_decl.explanation
    assert self_decl.explanation.startswith("Labelled ai-generated on the file's own declaration")
    vouched = fuser.decide(analyze_provenance(to_sample(ai_signed), ProvenanceOptions(c2pa_trust=(str(root),))),
                           {"a": -4.0})
    assert vouched.label == "ai-generated" and vouched.p_fake == 1.0
    assert "self-declared" not in vouched.explanation and "— trusted (your trust anchors: root.pem)" in \
        vouched.explanation


def test_expired_signing_certificate_is_reported_as_such(photo, builders, to_sample, tmp_path):
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
    chain_pem, key, root = make_chain(signer_lifetime=dt.timedelta(seconds=3))
    signed = sign_c2pa(builders["jpeg"](photo[:96, :128]), "image/jpeg", chain_pem, key)
    (tmp_path / "root.pem").write_bytes(root)
    opts = ProvenanceOptions(c2pa_trust=(str(tmp_path / "root.pem"),))
    fresh = _item(analyze_provenance(to_sample(signed), opts))
    assert fresh.details["trusted"] is True
    time.sleep(max(0.0, (expires - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 1.5)
    item = _item(analyze_provenance(to_sample(signed), opts))
    assert item.details["state"] == "Invalid" and item.weight == "none" and item.score == 0.5
    assert "signingCredential.expired" in {f["code"] for f in item.details["failures"]}
    assert "the signing certificate had expired" in item.summary
    assert item.details["state_in_words"] == "invalid: the signing certificate had expired"


def test_report_names_the_trust_list(ai_signed, to_sample):
    text = " ".join(format_report(provenance_report(to_sample(ai_signed, "ai.jpg"))).split())
    assert "trust list: C2PA trust list of 2026-08-21 (30 certificates, sha256 709555a038a78d4b…)" in text
    assert "trust: signed by a certificate that no trusted authority vouches for" in text
    none = provenance_report(to_sample(ai_signed, "ai.jpg"), ProvenanceOptions(c2pa_trust_list=None))
    assert none["c2pa"]["trust_list"] is None
    assert "trust list: none (--c2pa-trust none)" in format_report(none)


def test_read_c2pa_takes_a_list_object_or_none(ai_signed):
    r = fc2pa.read_c2pa(ai_signed, "JPEG", trust_list=None)
    assert r.state == "Valid" and r.trust_list is None
    r = fc2pa.read_c2pa(ai_signed, "JPEG", trust_list=ftrust.shipped_trust_list())
    assert r.trust_list["certificates"] == 30 and not r.trusted


# ---------------------------------------------------------------------------------- the command line
def test_cli_version_names_the_trust_list(capsys, tmp_path, monkeypatch):
    from fakescope.cli import main

    assert main(["provenance", "--version"]) == 0
    out = capsys.readouterr().out
    assert "C2PA trust list: C2PA trust list of 2026-08-21, 30 certificates, shipped with fakescope" in out
    assert f"sha256: {ftrust.shipped_trust_list().sha256}" in out and "c2pa-python 0.3" in out
    # an old list given by the user: its date, and the warning
    doc = json.loads(ftrust.SHIPPED_TRUST_LIST.read_text())
    doc["LoTE"]["ListAndSchemeInformation"]["ListIssueDateTime"] = "2023-05-01T00:00:00Z"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    assert main(["provenance", "--version", "--c2pa-trust-list", str(old)]) == 0
    out = capsys.readouterr().out
    assert "of 2023-05-01, 30 certificates, given by the user" in out and "warning: the C2PA trust list" in out
    monkeypatch.setenv(ftrust.TRUST_LIST_ENV, str(old))
    assert main(["provenance", "--version"]) == 0
    assert "of 2023-05-01" in capsys.readouterr().out
    monkeypatch.delenv(ftrust.TRUST_LIST_ENV)
    assert main(["provenance", "--version", "--c2pa-trust", "none"]) == 0
    assert "C2PA trust list: none (--c2pa-trust none)" in capsys.readouterr().out


def test_cli_trust_options(capsys, ai_signed, chain, tmp_path):
    from fakescope.cli import main

    _, _, root = chain
    f = tmp_path / "ai.jpg"
    f.write_bytes(ai_signed)
    assert main(["provenance", str(f), "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["c2pa"]["trusted"] is False and rep["c2pa"]["trust_list"]["date"] == "2026-08-21"
    ev = [e for e in rep["evidence"] if e["source"] == "c2pa"][0]
    assert ev["details"]["trust_list"]["sha256"] == ftrust.shipped_trust_list().sha256
    assert main(["provenance", str(f), "--format", "json", "--c2pa-trust", str(root)]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["c2pa"]["trusted"] is True and rep["c2pa"]["trusted_by"] == "your trust anchors: root.pem"
    assert main(["provenance", str(f), "--format", "json", "--c2pa-trust", "none"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["c2pa"]["trust_list"] is None and rep["c2pa"]["trusted"] is False
    assert main(["provenance", str(f), "--c2pa-trust", "none", "--c2pa-trust", str(root)]) == 0
    assert "— trusted (your trust anchors: root.pem)" in " ".join(capsys.readouterr().out.split())
    # an old list warns on standard error, once
    doc = json.loads(ftrust.SHIPPED_TRUST_LIST.read_text())
    doc["LoTE"]["ListAndSchemeInformation"]["ListIssueDateTime"] = "2023-05-01T00:00:00Z"
    (tmp_path / "old.json").write_text(json.dumps(doc))
    assert main(["provenance", str(f), "--c2pa-trust-list", str(tmp_path / "old.json")]) == 0
    err = capsys.readouterr().err
    assert err.count("fakescope: warning: the C2PA trust list in use is from 2023-05-01") == 1
    # usage errors: exit 2
    assert main(["provenance", str(f), "--c2pa-trust", str(tmp_path / "nope.pem")]) == 2
    assert main(["provenance", str(f), "--c2pa-trust", "none", "--c2pa-trust-list", str(root)]) == 2
    assert main(["provenance"]) == 2
    assert "give at least one FILE" in capsys.readouterr().err
