"""C2PA Content Credentials: signed manifests that say how an image was made.

A C2PA manifest is a signed record embedded in the file (a JPEG APP11 segment, a PNG
``caBX`` chunk, ...) listing what was done to the image (``c2pa.created``, ``c2pa.edited``,
...), with each action's IPTC *digital source type* (``trainedAlgorithmicMedia`` for
generative AI, ``digitalCapture`` for a camera), the software, the ingredients it was made
from, and a hash of the pixels.  The manifest is read and verified by the official
``c2pa-python`` bindings (the Rust ``c2pa-rs`` SDK), never fetched from the network.

How fakescope reads the result:

* **no manifest** → nothing (most images online have none);
* **invalid** (the pixels or the manifest changed after signing, or a signature fails) →
  reported, weight ``"none"``: the manifest no longer describes this file, and is proof
  of nothing either way;
* **valid** and declaring an AI source (in an action or an ingredient) → ``"strong"``,
  score 0.99, or 1.0 when the signer is in the trust list the user gave (``--c2pa-trust``);
* **valid** and declaring a camera capture → ``"strong"`` toward real (0.05) when the
  signer is trusted, ``"weak"`` (0.3) when not: anyone can sign "camera" with their own key;
* **valid** without a source type (an edit history) → reported, weight ``"none"``.

"Valid" means the signature verifies and the hashes match; "trusted" means, in addition,
that the signing certificate chains to an anchor in the trust list.
"""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..types import Evidence
from .iptc import AI_SOURCE_CATEGORIES, DigitalSourceType, source_type

__all__ = [
    "C2PA_MIME_TYPES",
    "NOT_INSTALLED",
    "c2pa_available",
    "has_manifest_marker",
    "load_trust_anchors",
    "C2paResult",
    "read_c2pa",
    "c2pa_evidence",
]

#: fakescope format name → the MIME type c2pa-python reads.
C2PA_MIME_TYPES = {
    "JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff",
    "HEIF": "image/heif", "AVIF": "image/avif", "GIF": "image/gif",
}
NOT_INSTALLED = "C2PA support not installed (pip install 'c2pa-python>=0.38.1,<0.40', a dependency of fakescope)"

#: Validation codes about *trust* (who signed), not integrity (what was signed).
_TRUST_ONLY = ("signingCredential.untrusted", "signingCredential.ocsp", "timeStamp.untrusted",
               "cawg.x509.credential.untrusted", "cawg.ica.credential.untrusted", "signingCredential.trusted")
_MAX_DEPTH = 8


def _module() -> Any | None:
    try:
        return importlib.import_module("c2pa")
    except ImportError:
        return None


@lru_cache(maxsize=1)
def c2pa_available() -> bool:
    """Whether the optional ``c2pa-python`` package can be imported."""
    return _module() is not None


def has_manifest_marker(data: bytes) -> bool:
    """Cheap pre-check: every embedded C2PA manifest store is a JUMBF box labelled ``c2pa``.

    Examples
    --------
    >>> has_manifest_marker(b"\\xff\\xd8 no manifest"), has_manifest_marker(b"..jumb...c2pa..")
    (False, True)
    """
    return b"c2pa" in data


@lru_cache(maxsize=16)
def load_trust_anchors(paths: tuple[str, ...]) -> str:
    """Read PEM trust anchors (root or intermediate CA certificates, or a signer's own) into one string.

    Parameters
    ----------
    paths : PEM files.

    Returns
    -------
    str
        The concatenated certificates ("" when ``paths`` is empty).

    Raises
    ------
    fakescope.errors.UsageError
        A file is missing or holds no PEM certificate.
    """
    parts = []
    for p in paths:
        try:
            text = Path(p).read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise UsageError(f"C2PA trust anchor file {p!r} cannot be read: {e.strerror or e}") from None
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise UsageError(f"C2PA trust anchor file {p!r} holds no PEM certificate "
                             "(expected '-----BEGIN CERTIFICATE-----')")
        parts.append(text.strip())
    return "\n".join(parts) + ("\n" if parts else "")


@lru_cache(maxsize=8)
def _context(trust: tuple[str, ...]) -> Any:
    """A reusable c2pa Context: no network (no remote manifests, no OCSP), the user's anchors added."""
    mod = _module()
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    anchors = load_trust_anchors(trust)
    if anchors:
        settings["trust"] = {"user_anchors": anchors}
    return mod.Context.from_dict(settings)


@dataclass(frozen=True)
class C2paResult:
    """What a file's C2PA manifest says, in plain data.

    ``state`` is c2pa-rs' validation state: ``"Trusted"`` (valid and every credential chains to a
    trust anchor), ``"Valid"`` (signature and hashes verify) or ``"Invalid"``; ``trusted`` says
    whether the claim signer's certificate chains to a trust anchor (``signingCredential.trusted``).
    """

    present: bool
    state: str | None = None
    trusted: bool = False
    failures: tuple[dict[str, str], ...] = ()
    signer: dict[str, Any] = field(default_factory=dict)
    claim_generator: str | None = None
    title: str | None = None
    actions: tuple[dict[str, Any], ...] = ()
    ingredients: tuple[dict[str, Any], ...] = ()
    source_types: tuple[tuple[DigitalSourceType, str], ...] = ()  # (type, where: "active"/ingredient title)
    generator: str | None = None  # softwareAgent of the action declaring the most telling source
    manifests: int = 0
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.state in ("Valid", "Trusted")

    def to_dict(self) -> dict[str, Any]:
        return {
            "present": self.present, "state": self.state, "valid": self.valid, "trusted": self.trusted,
            "failures": [dict(f) for f in self.failures], "signer": dict(self.signer),
            "claim_generator": self.claim_generator, "title": self.title, "actions": [dict(a) for a in self.actions],
            "ingredients": [dict(i) for i in self.ingredients],
            "digital_source_types": [{"code": t.code, "category": t.category, "where": w}
                                     for t, w in self.source_types],
            "generator": self.generator, "manifests": self.manifests, "error": self.error,
        }


def _agent(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        name = value.get("name")
        if name:
            return f"{name} {value['version']}".strip() if value.get("version") else str(name)
    return None


def _claim_generator(m: dict[str, Any]) -> str | None:
    info = m.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        return _agent(info[0])
    if isinstance(info, dict):
        return _agent(info)
    cg = m.get("claim_generator")
    return cg.strip() if isinstance(cg, str) and cg.strip() else None


def _walk_source_types(data: Any, out: list[str], depth: int = 0) -> None:
    """Every value of a ``digitalSourceType``/``DigitalSourceType`` key in an assertion's data."""
    if depth > 12:
        return
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(k, str) and k.lower().endswith("digitalsourcetype"):
                if isinstance(v, str):
                    out.append(v)
                elif isinstance(v, list):
                    out.extend(x for x in v if isinstance(x, str))
            else:
                _walk_source_types(v, out, depth + 1)
    elif isinstance(data, list):
        for v in data:
            _walk_source_types(v, out, depth + 1)


def _actions(m: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for a in m.get("assertions") or []:
        if not isinstance(a, dict) or not str(a.get("label", "")).startswith("c2pa.actions"):
            continue
        data = a.get("data") or {}
        for act in data.get("actions") or []:
            if not isinstance(act, dict):
                continue
            d: dict[str, Any] = {"action": act.get("action")}
            agent = _agent(act.get("softwareAgent"))
            if agent:
                d["software_agent"] = agent
            dst = act.get("digitalSourceType")
            if isinstance(dst, str) and dst.strip():
                t = source_type(dst)
                d["digital_source_type"] = t.code if t else dst.strip()
            for k in ("when", "description", "reason"):
                if act.get(k):
                    d[k] = act[k]
            params = act.get("parameters")
            if isinstance(params, dict) and isinstance(params.get("name"), str):
                d["name"] = params["name"]
            out.append(d)
    return out


def _source_types(m: dict[str, Any]) -> list[DigitalSourceType]:
    raw: list[str] = []
    for a in m.get("assertions") or []:
        if isinstance(a, dict):
            _walk_source_types(a.get("data"), raw)
    out: list[DigitalSourceType] = []
    for v in raw:
        t = source_type(v)
        if t is not None and t not in out:
            out.append(t)
    return out


def _failures(results: dict[str, Any] | None, status: list[dict[str, Any]]) -> list[dict[str, str]]:
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, str]] = []

    def add(items: Any, where: str) -> None:
        for f in items or []:
            code = str(f.get("code", ""))
            if not code or code.startswith(_TRUST_ONLY) or (code, where) in seen:
                continue
            seen.add((code, where))
            out.append({"code": code, "explanation": str(f.get("explanation", "")), "where": where})

    if isinstance(results, dict):
        add((results.get("activeManifest") or {}).get("failure"), "active manifest")
        for d in results.get("ingredientDeltas") or []:
            add((d.get("validationDeltas") or {}).get("failure"), "ingredient")
    if not out:
        add(status, "manifest store")
    return out


def read_c2pa(data: bytes, fmt: str, trust: Sequence[str] = ()) -> C2paResult | None:
    """Read and verify the C2PA manifest embedded in a file.

    Parameters
    ----------
    data : the file's bytes (``Sample.data``).
    fmt : fakescope's format name (``ImageMetadata.format``), e.g. ``"JPEG"``.
    trust : PEM files of trust anchors; the signer is "trusted" when it chains to one.

    Returns
    -------
    C2paResult or None
        ``None`` when there is no manifest (or the format cannot hold one).  A manifest that
        is present but unreadable gives ``present=True`` and ``error``.

        Without the ``c2pa-python`` package, a file that holds a manifest gives a result
        whose ``error`` is :data:`NOT_INSTALLED` (a file without one still gives ``None``: the
        check for the manifest's marker needs no package).

    Raises
    ------
    fakescope.errors.UsageError
        A trust anchor file cannot be read.
    """
    mime = C2PA_MIME_TYPES.get(fmt)
    if mime is None or not data or not has_manifest_marker(data):
        return None
    mod = _module()
    if mod is None:
        return C2paResult(present=True, error=NOT_INSTALLED)
    ctx = _context(tuple(str(t) for t in trust))
    try:  # the library guards the shared Context itself; reading takes about a millisecond
        reader = mod.Reader.try_create(mime, io.BytesIO(data), context=ctx)
        if reader is None:
            return None
        with reader:
            state = reader.get_validation_state()
            store = json.loads(reader.json())
            results = reader.get_validation_results()
    except mod.C2paError as e:
        text = str(e).strip() or type(e).__name__
        if "ManifestNotFound" in type(e).__name__ or "no JUMBF data" in text:
            return None
        return C2paResult(present=True, error=f"{type(e).__name__}: {text}"[:300])
    manifests = store.get("manifests") or {}
    active_label = store.get("active_manifest")
    m = manifests.get(active_label) or {}
    sig = m.get("signature_info") or {}
    signer = {k: sig[k] for k in ("issuer", "common_name", "alg", "time", "cert_serial_number") if sig.get(k)}

    types: list[tuple[DigitalSourceType, str]] = [(t, "active manifest") for t in _source_types(m)]
    ingredients = []

    def visit(man: dict[str, Any], depth: int) -> None:
        for ing in man.get("ingredients") or []:
            if not isinstance(ing, dict):
                continue
            title = str(ing.get("title") or "untitled ingredient")
            entry: dict[str, Any] = {"title": title, "relationship": ing.get("relationship"),
                                     "format": ing.get("format"), "has_manifest": bool(ing.get("active_manifest"))}
            vs = ing.get("validation_status") or []
            bad = [str(v.get("code")) for v in vs if isinstance(v, dict)
                   and not str(v.get("code", "")).startswith(_TRUST_ONLY)]
            if bad:
                entry["validation"] = bad
            sub = manifests.get(ing.get("active_manifest")) if ing.get("active_manifest") else None
            if isinstance(sub, dict) and depth < _MAX_DEPTH:
                sub_types = _source_types(sub)
                entry["digital_source_types"] = [t.code for t in sub_types]
                if _claim_generator(sub):
                    entry["claim_generator"] = _claim_generator(sub)
                for t in sub_types:
                    types.append((t, f"ingredient '{title}'"))
                visit(sub, depth + 1)
            if depth == 0:
                ingredients.append(entry)

    visit(m, 0)
    actions = _actions(m)
    generator = None
    for a in actions:
        t = source_type(a.get("digital_source_type", "")) if a.get("digital_source_type") else None
        if t is not None and t.category in AI_SOURCE_CATEGORIES and a.get("software_agent"):
            generator = a["software_agent"]
            break
    success = {str(f.get("code")) for f in ((results or {}).get("activeManifest") or {}).get("success") or []}
    # c2pa-rs says "Trusted" only when every credential (CAWG identity, timestamp) is trusted too;
    # what matters here is the claim signer's certificate
    trusted = state == "Trusted" or (state == "Valid" and "signingCredential.trusted" in success)
    return C2paResult(
        present=True, state=state, trusted=trusted,
        failures=tuple(_failures(results, store.get("validation_status") or [])), signer=signer,
        claim_generator=_claim_generator(m), title=m.get("title"), actions=tuple(actions),
        ingredients=tuple(ingredients), source_types=tuple(types), generator=generator, manifests=len(manifests))


def _signer_phrase(r: C2paResult) -> str:
    who = r.signer.get("common_name") or r.signer.get("issuer")
    org = r.signer.get("issuer")
    if who and org and org != who:
        who = f"{who} ({org})"
    return f"signed by {who}" if who else "signed"


def c2pa_evidence(result: C2paResult | None) -> list[Evidence]:
    """Turn a :class:`C2paResult` into Evidence (nothing when there is no manifest).

    Parameters
    ----------
    result : from :func:`read_c2pa`.

    Returns
    -------
    list of Evidence
        One item.
    """
    if result is None or not result.present:
        return []
    details = result.to_dict()
    if result.error is not None:
        if result.error == NOT_INSTALLED:
            return [Evidence(source="c2pa", kind="provenance", score=0.5, weight="none",
                             summary=f"The file seems to hold a C2PA manifest, but {NOT_INSTALLED}.",
                             details={"installed": False})]
        return [Evidence(source="c2pa", kind="provenance", score=0.5, weight="none",
                         summary=("The file holds a C2PA manifest that could not be read "
                                  f"({result.error}): it says nothing either way."), details=details)]
    signer = _signer_phrase(result)
    ranked = sorted(result.source_types, key=lambda tw: (tw[0].category not in AI_SOURCE_CATEGORIES,
                                                         tw[0].category != "capture", tw[1] != "active manifest"))
    lead = ranked[0] if ranked else None
    if lead is not None:
        details["declared"] = {"code": lead[0].code, "meaning": lead[0].meaning, "category": lead[0].category,
                               "where": lead[1]}
    if not result.valid:
        codes = ", ".join(sorted({f["code"] for f in result.failures})) or "validation failed"
        declared = (f"; it declares the image {lead[0].meaning} ('{lead[0].code}')" if lead else "")
        if any(f["code"].startswith("assertion.dataHash") or f["code"].startswith("assertion.boxesHash")
               or f["code"].startswith("assertion.bmffHash") for f in result.failures):
            why = "the pixels no longer match it: the image was edited after signing"
        elif any(f["where"] == "ingredient" for f in result.failures):
            why = "an image it was made from carries a manifest that fails verification"
        else:
            why = "it fails verification: it was altered after signing or is corrupt"
        return [Evidence(
            source="c2pa", kind="provenance", score=0.5, weight="none",
            summary=(f"The file has a C2PA manifest ({signer}), but {why} ({codes}){declared}; "
                     "the manifest is not proof either way."),
            details=details)]
    trust_txt = "a trusted signer" if result.trusted else "a signer not in the trust list"
    if lead is not None and lead[0].category in AI_SOURCE_CATEGORIES:
        t, where = lead
        gen = result.generator or result.claim_generator or "unnamed software"
        details["generator"] = gen
        inside = "" if where == "active manifest" else f" in its {where}"
        return [Evidence(
            source="c2pa", kind="provenance", score=1.0 if result.trusted else 0.99, weight="strong",
            summary=(f"A valid C2PA manifest ({signer}, {trust_txt}) declares the image {t.meaning}{inside} "
                     f"('{t.code}', made with {gen})."),
            details=details)]
    if lead is not None and lead[0].category == "capture":
        t = lead[0]
        if result.trusted:
            return [Evidence(
                source="c2pa", kind="provenance", score=0.05, weight="strong",
                summary=(f"A valid C2PA manifest from a trusted signer ({signer}) declares the image "
                         f"{t.meaning} ('{t.code}')."),
                details=details)]
        return [Evidence(
            source="c2pa", kind="provenance", score=0.3, weight="weak",
            summary=(f"A valid C2PA manifest declares the image {t.meaning} ('{t.code}'), but it is {signer}, "
                     "a signer not in the trust list, so it is only a hint toward real."),
            details=details)]
    what = (f"declares it {lead[0].meaning} ('{lead[0].code}')" if lead is not None
            else "records an edit history without saying how the picture was first made")
    return [Evidence(
        source="c2pa", kind="provenance", score=0.5, weight="none",
        summary=f"A valid C2PA manifest ({signer}, {trust_txt}) {what}: this says nothing about AI either way.",
        details=details)]
