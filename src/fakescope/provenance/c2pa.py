"""C2PA Content Credentials: signed manifests that say how an image was made.

A C2PA manifest is a signed record embedded in the file (a JPEG APP11 segment, a PNG
``caBX`` chunk, a WebP ``C2PA`` chunk, a TIFF tag, a ``uuid`` box in HEIF/AVIF/MP4/MOV, ...)
listing what was done to the image (``c2pa.created``, ``c2pa.edited``, ...), with each action's
IPTC *digital source type* (``trainedAlgorithmicMedia`` for generative AI, ``digitalCapture`` for
a camera), the software, the ingredients it was made from (each with its own manifest and
validation status), and a hash of the content.  The manifest is read and verified by the
official ``c2pa-python`` bindings (the Rust ``c2pa-rs`` SDK), never fetched from the network.

Two questions are kept apart:

* **valid**: the signature verifies and the hashes match, so the file was not changed since
  it was signed.  That says nothing about *who* signed: anyone can make a certificate.
* **trusted**: the signing certificate also chains to a trust anchor: by default the official
  C2PA trust list shipped with fakescope (:mod:`.trust`), plus the user's ``--c2pa-trust`` files.

How fakescope reads the result:

* **no manifest** → nothing (most images online have none);
* **invalid** (the content or the manifest changed after signing, a signature fails, the signing
  certificate had expired, ...) → reported in words, weight ``"none"``: the manifest no longer
  describes this file, and is proof of nothing either way;
* **valid** and declaring an AI source → ``"strong"``: score 1.0 when the signer is trusted (its
  declaration decides the label), 0.99 when not (strong, but *self-declared*: the file says so
  about itself, and nobody vouches for the signer);
* **valid** and declaring a camera capture → ``"strong"`` toward real (0.05) when the signer is
  trusted, ``"weak"`` (0.3) when not: anyone can sign "camera" with their own key;
* **valid** without a source type (an edit history) → reported, weight ``"none"``.

A valid manifest whose **ingredients** carry credentials that fail validation (their own
signature mismatches, their content changed) is valid, *but its history is not a clean one*:
it says so in words, the failing ingredients' declarations decide nothing, and a capture claim
resting on such a history is weakened (trusted: ``"weak"``; untrusted: ``"none"``).
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
from . import trust as _trust
from .iptc import AI_SOURCE_CATEGORIES, DigitalSourceType, source_type

__all__ = [
    "C2PA_MIME_TYPES",
    "NOT_INSTALLED",
    "DEFAULT_TRUST_LIST",
    "FAILURE_WORDS",
    "CODE_ALIASES",
    "c2pa_available",
    "has_manifest_marker",
    "container_format",
    "failure_words",
    "load_trust_anchors",
    "resolve_trust_list",
    "trust_phrase",
    "C2paResult",
    "read_c2pa",
    "c2pa_evidence",
]

#: fakescope format name → the MIME type c2pa-python reads.  ``MP4`` and ``MOV`` are not decoded
#: as images by fakescope; :func:`container_format` names them from the bytes for the video work.
C2PA_MIME_TYPES = {
    "JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff",
    "HEIF": "image/heif", "AVIF": "image/avif", "GIF": "image/gif",
    "MP4": "video/mp4", "MOV": "video/quicktime",
}
#: ``trust_list`` value meaning "the default list" (``$FAKESCOPE_C2PA_TRUST_LIST``, else the shipped one).
DEFAULT_TRUST_LIST = "default"

#: Validation codes in plain words (C2PA 2.x names; older names in :data:`CODE_ALIASES`).
FAILURE_WORDS = {
    "claimSignature.mismatch": "signature mismatch",
    "claimSignature.missing": "signature missing",
    "claimSignature.outsideValidity": "signed outside the certificate's validity period",
    "signingCredential.expired": "the signing certificate had expired",
    "signingCredential.revoked": "the signing certificate was revoked",
    "signingCredential.invalid": "the signing certificate is not valid for C2PA",
    "signingCredential.untrusted": "no trusted authority vouches for the signer",
    "timeStamp.mismatch": "time-stamp mismatch",
    "timeStamp.malformed": "malformed time-stamp",
    "timeStamp.outsideValidity": "time-stamp outside its validity period",
    "timeStamp.untrusted": "untrusted time-stamp",
    "assertion.dataHash.mismatch": "the content changed after signing",
    "assertion.bmffHash.mismatch": "the content changed after signing",
    "assertion.boxesHash.mismatch": "the content changed after signing",
    "assertion.collectionHash.mismatch": "the content changed after signing",
    "assertion.hashedURI.mismatch": "an assertion was altered after signing",
    "assertion.missing": "an assertion is missing",
    "assertion.undeclared": "an assertion was added after signing",
    "assertion.dataHash.malformed": "malformed content hash",
    "assertion.action.ingredientMismatch": "an action names an ingredient that is not there",
    "ingredient.manifest.missing": "a manifest it refers to is missing",
    "ingredient.manifest.mismatch": "an ingredient's manifest was altered",
    "ingredient.hashedURI.mismatch": "an ingredient was altered",
    "claim.malformed": "malformed claim",
    "claim.cbor.invalid": "malformed claim",
    "manifest.inaccessible": "the manifest cannot be read",
    "manifest.multipleParents": "more than one parent ingredient",
    "general.error": "validation error",
}
#: Codes renamed between C2PA versions: old name → the name c2pa-rs reports now.
CODE_ALIASES = {"claim.missing": "ingredient.manifest.missing"}
_CONTENT_CHANGED = ("assertion.dataHash.mismatch", "assertion.bmffHash.mismatch", "assertion.boxesHash.mismatch",
                    "assertion.collectionHash.mismatch")
#: Informational codes that are not about this file's integrity (kept out of ``informational``).
_NOT_NOTEWORTHY = ("signingCredential.ocsp.skipped", "ingredient.unknownProvenance", "timeStamp.validated",
                   "timeStamp.trusted")
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


def container_format(data: bytes) -> str | None:
    """The format name (a key of :data:`C2PA_MIME_TYPES`) of an ISO media file that is a video:
    ``"MP4"`` or ``"MOV"`` (QuickTime brand ``qt  ``), else ``None``.  Images are named by
    :func:`fakescope.io.decode.decode` (``ImageMetadata.format``).

    Examples
    --------
    >>> container_format(b"\\0\\0\\0\\x14ftypqt  \\0\\0\\0\\0qt  "), container_format(b"\\xff\\xd8")
    ('MOV', None)
    """
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    major = data[8:12]
    size = int.from_bytes(data[:4], "big")
    brands = {major} | {data[i:i + 4] for i in range(16, min(size, len(data), 64), 4)}
    if major == b"qt  ":
        return "MOV"
    if brands & {b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"hevc", b"hevx"} \
            and major not in (b"isom", b"mp41", b"mp42", b"iso2", b"M4V ", b"dash"):
        return None
    return "MP4"


def failure_words(code: str) -> str:
    """A validation code in plain words (the code itself when it has none).

    Examples
    --------
    >>> failure_words("claimSignature.mismatch"), failure_words("claim.missing")
    ('signature mismatch', 'a manifest it refers to is missing')
    """
    code = CODE_ALIASES.get(code, code)
    return FAILURE_WORDS.get(code, code)


def _read_anchor_file(p: str) -> str:
    try:
        raw = Path(p).read_bytes()
    except OSError as e:
        raise UsageError(f"C2PA trust anchor file {p!r} cannot be read: {e.strerror or e}") from None
    if raw.lstrip()[:1] == b"{":  # a trust list in its LoTE JSON form
        return _trust_list_pem(p)
    text = raw.decode("utf-8", errors="replace")
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise UsageError(f"C2PA trust anchor file {p!r} holds no PEM certificate "
                         "(expected '-----BEGIN CERTIFICATE-----', or a trust list's LoTE JSON)")
    return text.strip()


def _trust_list_pem(path: str) -> str:
    """The anchors of a trust list file (PEM or LoTE JSON) as PEM text."""
    return _trust.load_trust_list(path).pem.strip()


@lru_cache(maxsize=16)
def load_trust_anchors(paths: tuple[str, ...]) -> str:
    """Read trust anchors (root or intermediate CA certificates, or a signer's own) into one PEM string.

    Parameters
    ----------
    paths : PEM files, or trust lists in their LoTE JSON form.

    Returns
    -------
    str
        The concatenated certificates ("" when ``paths`` is empty).

    Raises
    ------
    fakescope.errors.UsageError
        A file is missing or holds no certificate.
    """
    parts = [_read_anchor_file(p) for p in paths]
    return "\n".join(parts) + ("\n" if parts else "")


def resolve_trust_list(spec: "str | _trust.TrustList | None") -> "_trust.TrustList | None":
    """The trust list meant by ``spec``: :data:`DEFAULT_TRUST_LIST` → :func:`.trust.default_trust_list`,
    a path → that file, ``None`` → no list.

    Raises
    ------
    fakescope.errors.UsageError
        The file cannot be read as a trust list.
    """
    if spec is None or isinstance(spec, _trust.TrustList):
        return spec
    if str(spec) == DEFAULT_TRUST_LIST:
        return _trust.default_trust_list()
    return _trust.load_trust_list(str(spec))


@lru_cache(maxsize=8)
def _context(trust: tuple[str, ...], list_pem: str | None) -> Any:
    """A reusable c2pa Context: no network (no remote manifests, no OCSP), the trust list's anchors
    and the user's added."""
    mod = _module()
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    anchors = load_trust_anchors(trust)
    t: dict[str, Any] = {}
    if list_pem:
        t["trust_anchors"] = list_pem
    if anchors:
        t["user_anchors"] = anchors
    if t:
        settings["trust"] = t
    return mod.Context.from_dict(settings)


@dataclass(frozen=True)
class C2paResult:
    """What a file's C2PA manifest says, in plain data.

    ``state`` is c2pa-rs' validation state: ``"Trusted"`` (valid and every credential chains to a
    trust anchor), ``"Valid"`` (signature and hashes verify) or ``"Invalid"``; ``trusted`` says
    whether the claim signer's certificate chains to a trust anchor (``signingCredential.trusted``),
    and ``trusted_by`` which one: ``"C2PA trust list of 2026-08-21"`` or ``"your trust anchors: a.pem"``.
    ``failures`` are the active manifest's failing codes (and those of ingredient checks c2pa-rs
    counts against it); ``ingredient_failures`` are the failing codes in each ingredient's *own*
    validation status (``{"ingredient", "code", "explanation", "words"}``): a valid manifest can
    carry an ingredient whose credentials fail.  ``informational`` keeps the noteworthy
    informational codes (e.g. ``timeStamp.mismatch``, which C2PA 2.x no longer counts as a failure).
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
    trusted_by: str | None = None
    ingredient_failures: tuple[dict[str, str], ...] = ()
    informational: tuple[dict[str, str], ...] = ()
    trust_list: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return self.state in ("Valid", "Trusted")

    @property
    def clean_history(self) -> bool:
        """Valid, and no ingredient carries credentials that fail validation."""
        return self.valid and not self.ingredient_failures

    def state_in_words(self) -> str:
        """E.g. ``"valid, but ingredient E-sig-CA.jpg carries credentials that fail validation: signature mismatch"``."""
        if self.error is not None:
            return f"unreadable ({self.error})"
        if not self.valid:
            words = _join_words(f["code"] for f in self.failures)
            return f"invalid: {words}" if words else "invalid"
        head = "valid and trusted" if self.trusted else "valid"
        if not self.ingredient_failures:
            return head
        return f"{head}, but " + "; ".join(
            f"ingredient {title} carries credentials that fail validation: {_join_words(codes)}"
            for title, codes in _by_ingredient(self.ingredient_failures))

    def to_dict(self) -> dict[str, Any]:
        return {
            "present": self.present, "state": self.state, "valid": self.valid, "trusted": self.trusted,
            "failures": [dict(f) for f in self.failures], "signer": dict(self.signer),
            "claim_generator": self.claim_generator, "title": self.title, "actions": [dict(a) for a in self.actions],
            "ingredients": [dict(i) for i in self.ingredients],
            "digital_source_types": [{"code": t.code, "category": t.category, "where": w}
                                     for t, w in self.source_types],
            "generator": self.generator, "manifests": self.manifests, "error": self.error,
            "trusted_by": self.trusted_by, "ingredient_failures": [dict(f) for f in self.ingredient_failures],
            "informational": [dict(f) for f in self.informational], "trust_list": self.trust_list,
            "state_in_words": self.state_in_words() if self.present else None,
            "trust_in_words": (trust_phrase(self.trusted, self.trusted_by, self.signer)
                               if self.present and self.error is None else None),
        }


def _join_words(codes: Any) -> str:
    out: list[str] = []
    for c in codes:
        w = failure_words(str(c))
        if w not in out:
            out.append(w)
    return ", ".join(out)


def _by_ingredient(failures: Sequence[dict[str, str]]) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for f in failures:
        groups.setdefault(f["ingredient"], []).append(f["code"])
    return list(groups.items())


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


def _informational(results: dict[str, Any] | None) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for f in ((results or {}).get("activeManifest") or {}).get("informational") or []:
        code = str(f.get("code", ""))
        if code and not code.startswith(_NOT_NOTEWORTHY) and code not in seen:
            seen.add(code)
            out.append({"code": code, "explanation": str(f.get("explanation", ""))})
    return out


def _ingredient_status(ing: dict[str, Any]) -> list[dict[str, Any]]:
    """The failing codes of an ingredient's own validation: ``validation_status`` (ingredient v1/v2) or
    ``validation_results`` (v3: its failures, and noteworthy informational codes such as ``timeStamp.mismatch``)."""
    items: list[Any] = list(ing.get("validation_status") or [])
    vr = ing.get("validation_results")
    if isinstance(vr, dict):
        am = vr.get("activeManifest") or {}
        items += list(am.get("failure") or [])
        items += [f for f in am.get("informational") or []
                  if isinstance(f, dict) and str(f.get("code", "")) in FAILURE_WORDS
                  and not str(f.get("code", "")).startswith(_NOT_NOTEWORTHY)]
        for d in vr.get("ingredientDeltas") or []:
            items += list(((d or {}).get("validationDeltas") or {}).get("failure") or [])
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for v in items:
        code = str(v.get("code", "")) if isinstance(v, dict) else ""
        if code and not code.startswith(_TRUST_ONLY) and code not in seen:
            seen.add(code)
            out.append(v)
    return out


def _severity(code: str) -> int:
    keys = list(FAILURE_WORDS)
    code = CODE_ALIASES.get(code, code)
    return keys.index(code) if code in keys else len(keys)


def _read(data: bytes, mime: str, ctx: Any) -> tuple[str | None, dict[str, Any], dict[str, Any] | None] | None:
    mod = _module()
    reader = mod.Reader.try_create(mime, io.BytesIO(data), context=ctx)
    if reader is None:
        return None
    with reader:
        return reader.get_validation_state(), json.loads(reader.json()), reader.get_validation_results()


def _signer_trusted(state: str | None, results: dict[str, Any] | None) -> bool:
    # c2pa-rs says "Trusted" only when every credential (CAWG identity, timestamp) is trusted too;
    # what matters here is the claim signer's certificate
    success = {str(f.get("code")) for f in ((results or {}).get("activeManifest") or {}).get("success") or []}
    return state == "Trusted" or (state == "Valid" and "signingCredential.trusted" in success)


def read_c2pa(data: bytes, fmt: str, trust: Sequence[str] = (),
              trust_list: "str | _trust.TrustList | None" = DEFAULT_TRUST_LIST) -> C2paResult | None:
    """Read and verify the C2PA manifest embedded in a file.

    Parameters
    ----------
    data : the file's bytes (``Sample.data``).
    fmt : fakescope's format name (``ImageMetadata.format``), e.g. ``"JPEG"``; ``"MP4"``/``"MOV"``
        for video containers (:func:`container_format`).
    trust : files of added trust anchors (PEM, or a trust list's LoTE JSON): the user's own.
    trust_list : the trust list: :data:`DEFAULT_TRUST_LIST` (the shipped official C2PA list, or
        the one ``$FAKESCOPE_C2PA_TRUST_LIST`` names), a file, a :class:`~.trust.TrustList`, or ``None``.

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
        A trust anchor or trust list file cannot be read.
    """
    mime = C2PA_MIME_TYPES.get(fmt)
    if mime is None or not data or not has_manifest_marker(data):
        return None
    mod = _module()
    if mod is None:
        return C2paResult(present=True, error=NOT_INSTALLED)
    tl = resolve_trust_list(trust_list)
    user = tuple(str(t) for t in trust)
    tl_dict = tl.to_dict() if tl is not None else None
    try:  # the library guards the shared Context itself; reading takes about a millisecond
        got = _read(data, mime, _context(user, tl.pem if tl is not None else None))
        if got is None:
            return None
        state, store, results = got
        trusted = _signer_trusted(state, results)
        trusted_by = None
        if trusted:
            if tl is not None and user:  # which anchors vouch: read again with the list alone
                again = _read(data, mime, _context((), tl.pem))
                by_list = again is not None and _signer_trusted(again[0], again[2])
            else:
                by_list = tl is not None
            trusted_by = tl.label() if by_list and tl is not None else \
                "your trust anchors: " + ", ".join(Path(u).name for u in user)
    except mod.C2paError as e:
        text = str(e).strip() or type(e).__name__
        if "ManifestNotFound" in type(e).__name__ or "no JUMBF data" in text:
            return None
        return C2paResult(present=True, error=f"{type(e).__name__}: {text}"[:300], trust_list=tl_dict)
    manifests = store.get("manifests") or {}
    active_label = store.get("active_manifest")
    m = manifests.get(active_label) or {}
    sig = m.get("signature_info") or {}
    signer = {k: sig[k] for k in ("issuer", "common_name", "alg", "time", "cert_serial_number") if sig.get(k)}

    types: list[tuple[DigitalSourceType, str]] = [(t, "active manifest") for t in _source_types(m)]
    ingredients: list[dict[str, Any]] = []
    ing_failures: list[dict[str, str]] = []

    def visit(man: dict[str, Any], depth: int, path: str, tainted: bool) -> None:
        for ing in man.get("ingredients") or []:
            if not isinstance(ing, dict):
                continue
            title = str(ing.get("title") or "untitled ingredient")
            where = f"{path} › {title}" if path else title
            entry: dict[str, Any] = {"title": title, "relationship": ing.get("relationship"),
                                     "format": ing.get("format"), "has_manifest": bool(ing.get("active_manifest"))}
            bad = _ingredient_status(ing)
            bad.sort(key=lambda v: _severity(str(v.get("code"))))
            if bad:
                entry["validation"] = [str(v.get("code")) for v in bad]
                entry["validation_in_words"] = _join_words(entry["validation"])
                for v in bad:
                    ing_failures.append({"ingredient": where, "code": str(v.get("code")),
                                         "explanation": str(v.get("explanation", "")),
                                         "words": failure_words(str(v.get("code")))})
            fails = tainted or bool(bad)
            sub = manifests.get(ing.get("active_manifest")) if ing.get("active_manifest") else None
            if isinstance(sub, dict) and depth < _MAX_DEPTH:
                sub_types = _source_types(sub)
                entry["digital_source_types"] = [t.code for t in sub_types]
                if _claim_generator(sub):
                    entry["claim_generator"] = _claim_generator(sub)
                for t in sub_types:
                    types.append((t, f"ingredient '{title}'" + (" (failing validation)" if fails else "")))
                visit(sub, depth + 1, where, fails)
            if depth == 0:
                ingredients.append(entry)

    visit(m, 0, "", False)
    actions = _actions(m)
    generator = None
    for a in actions:
        t = source_type(a.get("digital_source_type", "")) if a.get("digital_source_type") else None
        if t is not None and t.category in AI_SOURCE_CATEGORIES and a.get("software_agent"):
            generator = a["software_agent"]
            break
    failures = _failures(results, store.get("validation_status") or [])
    failures.sort(key=lambda f: _severity(f["code"]))
    return C2paResult(
        present=True, state=state, trusted=trusted, failures=tuple(failures), signer=signer,
        claim_generator=_claim_generator(m), title=m.get("title"), actions=tuple(actions),
        ingredients=tuple(ingredients), source_types=tuple(types), generator=generator, manifests=len(manifests),
        trusted_by=trusted_by, ingredient_failures=tuple(ing_failures), informational=tuple(_informational(results)),
        trust_list=tl_dict)


def _organisation(signer: dict[str, Any]) -> str | None:
    """The signing certificate's organisation (c2pa-rs calls it ``issuer``), else its common name."""
    return signer.get("issuer") or signer.get("common_name")


def trust_phrase(trusted: bool, trusted_by: str | None, signer: dict[str, Any]) -> str:
    """Who signed, and whether anyone vouches for them, in words.

    Examples
    --------
    >>> trust_phrase(True, "C2PA trust list of 2026-08-21", {"issuer": "Adobe Inc"})
    'signed by Adobe Inc — trusted (C2PA trust list of 2026-08-21)'
    >>> trust_phrase(False, None, {})
    'signed by a certificate that no trusted authority vouches for: it proves the file was not changed since signing, not who made it'
    """
    org = _organisation(signer)
    if trusted:
        return f"signed by {org or 'an unnamed signer'} — trusted ({trusted_by or 'a trust anchor'})"
    named = f" (it names itself '{org}')" if org else ""
    return (f"signed by a certificate that no trusted authority vouches for{named}: it proves the file was not "
            "changed since signing, not who made it")


def _ingredient_clause(r: C2paResult) -> str:
    return "; ".join(f"ingredient {title} carries credentials that fail validation: {_join_words(codes)}"
                     for title, codes in _by_ingredient(r.ingredient_failures))


def c2pa_evidence(result: C2paResult | None) -> list[Evidence]:
    """Turn a :class:`C2paResult` into Evidence (nothing when there is no manifest).

    Parameters
    ----------
    result : from :func:`read_c2pa`.

    Returns
    -------
    list of Evidence
        One item.  Its ``details`` hold the whole result (:meth:`C2paResult.to_dict`, with
        ``trust_list``: the list in use, its date and sha256), and ``self_declared`` (a valid
        declaration whose signer nobody trusted vouches for), ``declared`` (the most telling
        source type) and ``clean_history`` when they apply.
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
    org = _organisation(result.signer)
    failing = [tw for tw in result.source_types if tw[1].endswith("(failing validation)")]
    usable = [tw for tw in result.source_types if tw not in failing]
    ranked = sorted(usable, key=lambda tw: (tw[0].category not in AI_SOURCE_CATEGORIES,
                                            tw[0].category != "capture", tw[1] != "active manifest"))
    lead = ranked[0] if ranked else None
    if lead is None and failing:
        lead_any = failing[0]
    else:
        lead_any = lead
    if lead_any is not None:
        details["declared"] = {"code": lead_any[0].code, "meaning": lead_any[0].meaning,
                               "category": lead_any[0].category, "where": lead_any[1], "effect": lead_any[0].effect}
    if not result.valid:
        codes = ", ".join(dict.fromkeys(f["code"] for f in result.failures)) or "no failure code given"
        words = _join_words(f["code"] for f in result.failures) or "validation failed"
        declared = (f"; it declares the image {lead_any[0].meaning} ('{lead_any[0].code}')" if lead_any else "")
        codeset = {f["code"] for f in result.failures}
        if codeset & set(_CONTENT_CHANGED):
            why = f"the content no longer matches it: the image was edited after signing ({codes})"
        elif any(f["where"] == "ingredient" for f in result.failures):
            why = f"an image it was made from carries a manifest that fails verification: {words} ({codes})"
        else:
            why = f"it fails validation: {words} ({codes})"
        who = f"signed by {org}" if org else "signed"
        return [Evidence(
            source="c2pa", kind="provenance", score=0.5, weight="none",
            summary=f"The file has a C2PA manifest ({who}), but {why}{declared}; the manifest is not proof either way.",
            details=details)]

    trust = trust_phrase(result.trusted, result.trusted_by, result.signer)
    opening = f"A valid C2PA manifest, {trust}," if result.trusted else "A valid C2PA manifest"
    closing = "" if result.trusted else f" It is {trust}."
    history = ""
    if result.ingredient_failures:
        details["clean_history"] = False
        history = (f"; but {_ingredient_clause(result)}, so the history it records is not a clean one"
                   + (" and that ingredient's own declaration decides nothing" if failing else ""))
    if lead is not None and lead[0].category in AI_SOURCE_CATEGORIES:
        t, where = lead
        gen = result.generator or result.claim_generator or "unnamed software"
        details["generator"] = gen
        details["self_declared"] = not result.trusted
        inside = "" if where == "active manifest" else f" in its {where}"
        partial = (" — a partial fake: real material with parts made by generative AI, so the image as a whole "
                   "is not a real capture" if t.category == "ai-composite" else "")
        self_decl = "" if result.trusted else ", self-declared"
        return [Evidence(
            source="c2pa", kind="provenance", score=1.0 if result.trusted else 0.99, weight="strong",
            summary=(f"{opening} declares the image {t.meaning}{inside} ('{t.code}', made with {gen}){partial}"
                     f"{self_decl}{history}.{closing}"),
            details=details)]
    if lead is not None and lead[0].category == "capture":
        t = lead[0]
        said = f"{opening} declares the image {t.meaning} ('{t.code}')"
        if result.trusted and not result.ingredient_failures:
            return [Evidence(source="c2pa", kind="provenance", score=0.05, weight="strong",
                             summary=f"{said}.", details=details)]
        if result.trusted:
            return [Evidence(source="c2pa", kind="provenance", score=0.3, weight="weak",
                             summary=f"{said}{history}: only a hint toward real.", details=details)]
        if result.ingredient_failures:
            return [Evidence(source="c2pa", kind="provenance", score=0.5, weight="none",
                             summary=f"{said}, self-declared{history}: it says nothing either way.{closing}",
                             details=details)]
        return [Evidence(
            source="c2pa", kind="provenance", score=0.3, weight="weak",
            summary=(f"{said}, self-declared: anyone can sign 'camera' with their own key, so it is only a hint "
                     f"toward real.{closing}"),
            details=details)]
    what = (f"declares it {lead[0].meaning} ('{lead[0].code}')" if lead is not None
            else "records an edit history without saying how the picture was first made")
    return [Evidence(
        source="c2pa", kind="provenance", score=0.5, weight="none",
        summary=f"{opening} {what}{history}: this says nothing about AI either way.{closing}",
        details=details)]
