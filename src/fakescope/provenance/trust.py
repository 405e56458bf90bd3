"""C2PA trust anchors: the official C2PA trust list shipped with fakescope, and the user's own.

A valid C2PA manifest proves that the file was not changed since it was signed; *who* signed it
is only known when the signing certificate chains to an anchor one trusts.  fakescope ships the
official trust list of the C2PA conformance programme (``trust/C2PA-TRUST-LIST.json`` and
``.pem``, CC BY 4.0; see ``trust/SOURCE.md``) and uses it by default, so that a manifest signed by
a conforming generator or camera (Adobe, Google, DigiCert-issued, ...) validates as *trusted*.

* :func:`default_trust_list` is the list in use when nothing else is said: the file named by the
  environment variable ``FAKESCOPE_C2PA_TRUST_LIST`` when set (a newer list the user downloaded),
  else the shipped one.
* :func:`load_trust_list` reads a list in either form: the LoTE JSON (with each anchor's
  organisation, status and the list's issue date) or plain PEM (undated).
* A list older than :data:`MAX_AGE_DAYS` (12 months) gives a warning: anchors are added and
  withdrawn over time, and an old list misses new signers.

Nothing here touches the network, and nothing needs a package beyond the standard library.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from ..errors import UsageError

__all__ = [
    "TrustList",
    "TRUST_DIR",
    "SHIPPED_TRUST_LIST",
    "TRUST_LIST_ENV",
    "MAX_AGE_DAYS",
    "load_trust_list",
    "shipped_trust_list",
    "default_trust_list",
    "pem_certificates",
]

#: Folder of the shipped list (inside the package).
TRUST_DIR = Path(__file__).resolve().parent / "trust"
#: The shipped list, in its LoTE JSON form (the PEM beside it holds the same certificates).
SHIPPED_TRUST_LIST = TRUST_DIR / "C2PA-TRUST-LIST.json"
#: Environment variable naming a trust list file that replaces the shipped one.
TRUST_LIST_ENV = "FAKESCOPE_C2PA_TRUST_LIST"
#: A list older than this (in days) is reported as out of date.
MAX_AGE_DAYS = 365

_PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.S)
_TRUSTED_STATUS = "/trusted"


def _der_to_pem(der: bytes) -> str:
    b64 = base64.b64encode(der).decode("ascii")
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)) + \
        "\n-----END CERTIFICATE-----\n"


def pem_certificates(text: bytes | str) -> list[bytes]:
    """The DER bytes of every certificate in a PEM text (``[]`` when there is none).

    Examples
    --------
    >>> pem_certificates(b"no certificate here")
    []
    """
    raw = text.encode("latin-1") if isinstance(text, str) else text
    out = []
    for m in _PEM_RE.finditer(raw):
        try:
            out.append(base64.b64decode(b"".join(m.group(1).split()), validate=True))
        except (binascii.Error, ValueError):
            continue
    return out


@dataclass(frozen=True)
class TrustList:
    """A list of C2PA trust anchors and what is known about it.

    Parameters
    ----------
    name : e.g. ``"C2PA trust list"``.
    path : the file it was read from.
    sha256 : of that file's bytes.
    date : the list's date (ISO ``YYYY-MM-DD``): its publication date for the shipped list, its
        ``ListIssueDateTime`` for a LoTE JSON file; ``None`` for a PEM file (undated).
    certificates : DER bytes of the anchors in use (services whose status is not "trusted" are left out).
    organisations : for each anchor (same order), the organisation the list names for it (``""`` when unknown).
    next_update : when the list's issuer plans the next one (LoTE ``NextUpdate``), if said.
    shipped : this is the list shipped inside fakescope.
    withdrawn : anchors the list names with another status than "trusted" (not used).
    """

    name: str
    path: str
    sha256: str
    date: str | None
    certificates: tuple[bytes, ...]
    organisations: tuple[str, ...] = ()
    next_update: str | None = None
    shipped: bool = False
    withdrawn: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def pem(self) -> str:
        """The anchors as one PEM text (what the C2PA SDK takes)."""
        return "".join(_der_to_pem(d) for d in self.certificates)

    def age_days(self, today: _dt.date | None = None) -> int | None:
        """Days since the list's date (``None`` when undated)."""
        if not self.date:
            return None
        today = today or _dt.date.today()
        return (today - _dt.date.fromisoformat(self.date)).days

    def warning(self, today: _dt.date | None = None) -> str | None:
        """A sentence when the list is more than 12 months old (or undated), else ``None``."""
        age = self.age_days(today)
        if age is None:
            return (f"the C2PA trust list {self.path} has no date (a PEM file): fakescope cannot tell whether it "
                    "is out of date; give the JSON form of the list to have its age checked")
        if age > MAX_AGE_DAYS:
            return (f"the C2PA trust list in use is from {self.date}, {age // 30} months old: signers added since "
                    "are reported as untrusted and withdrawn ones may still count as trusted; use a newer list "
                    f"(--c2pa-trust-list FILE or ${TRUST_LIST_ENV}; see docs/provenance.md)")
        return None

    def label(self) -> str:
        """How the list is named in explanations, e.g. ``"C2PA trust list of 2026-08-21"``."""
        return f"{self.name} of {self.date}" if self.date else f"{self.name} ({Path(self.path).name}, undated)"

    def to_dict(self, today: _dt.date | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "date": self.date, "sha256": self.sha256,
                             "certificates": len(self.certificates), "path": self.path, "shipped": self.shipped,
                             "age_days": self.age_days(today)}
        if self.next_update:
            d["next_update"] = self.next_update
        if self.withdrawn:
            d["withdrawn"] = self.withdrawn
        d.update(self.extra)
        warn = self.warning(today)
        d["out_of_date"] = warn is not None and self.date is not None
        if warn:
            d["warning"] = warn
        return d


def _first_value(items: Any) -> str:
    if isinstance(items, list):
        for it in items:
            if isinstance(it, dict) and isinstance(it.get("value"), str):
                return it["value"]
    return ""


def _from_lote(doc: dict[str, Any], path: str, sha: str) -> TrustList:
    lote = doc.get("LoTE")
    if not isinstance(lote, dict):
        raise UsageError(f"C2PA trust list {path!r}: a JSON trust list must be an ETSI TS 119 602 'LoTE' document "
                         "(the form of the official C2PA-TRUST-LIST.json)")
    info = lote.get("ListAndSchemeInformation") or {}
    certs: list[bytes] = []
    orgs: list[str] = []
    withdrawn = 0
    for entity in lote.get("TrustedEntitiesList") or []:
        if not isinstance(entity, dict):
            continue
        org = _first_value((entity.get("TrustedEntityInformation") or {}).get("TEName"))
        for service in entity.get("TrustedEntityServices") or []:
            si = (service or {}).get("ServiceInformation") or {}
            status = str(si.get("ServiceStatus") or "")
            for c in ((si.get("ServiceDigitalIdentity") or {}).get("X509Certificates") or []):
                val = c.get("val") if isinstance(c, dict) else None
                if not isinstance(val, str):
                    continue
                if status and not status.endswith(_TRUSTED_STATUS):
                    withdrawn += 1
                    continue
                try:
                    certs.append(base64.b64decode(val, validate=True))
                except (binascii.Error, ValueError):
                    raise UsageError(f"C2PA trust list {path!r}: a certificate of {org or 'an entity'} is not "
                                     "valid base64") from None
                orgs.append(org)
    if not certs:
        raise UsageError(f"C2PA trust list {path!r} holds no trusted certificate")
    issued = str(info.get("ListIssueDateTime") or "")
    date = issued[:10] if re.match(r"\d{4}-\d{2}-\d{2}", issued) else None
    nxt = str(info.get("NextUpdate") or "")[:10] or None
    name = _first_value(info.get("SchemeName")) or "C2PA trust list"
    extra = {"issued": issued} if issued else {}
    return TrustList(name=name, path=path, sha256=sha, date=date, certificates=tuple(certs),
                     organisations=tuple(orgs), next_update=nxt, withdrawn=withdrawn, extra=extra)


@lru_cache(maxsize=16)
def _load(path: str, mtime_ns: int) -> TrustList:
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"C2PA trust list {path!r} cannot be read: {e.strerror or e}") from None
    sha = hashlib.sha256(raw).hexdigest()
    head = raw.lstrip()[:1]
    if head in (b"{", b"["):
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UsageError(f"C2PA trust list {path!r} is not valid JSON: {e}") from None
        return _from_lote(doc if isinstance(doc, dict) else {}, path, sha)
    certs = pem_certificates(raw)
    if not certs:
        raise UsageError(f"C2PA trust list {path!r} holds no PEM certificate (expected '-----BEGIN CERTIFICATE-----' "
                         "or the LoTE JSON form of the list)")
    return TrustList(name="C2PA trust list", path=path, sha256=sha, date=None, certificates=tuple(certs),
                     organisations=("",) * len(certs))


def load_trust_list(path: str | os.PathLike[str]) -> TrustList:
    """Read a trust list file: the LoTE JSON form (dated, with organisations) or PEM (undated).

    Parameters
    ----------
    path : e.g. a newer ``C2PA-TRUST-LIST.json`` from c2pa-org/conformance-public.

    Returns
    -------
    TrustList

    Raises
    ------
    fakescope.errors.UsageError
        The file cannot be read, is neither form, or holds no trusted certificate.

    Examples
    --------
    >>> tl = load_trust_list(SHIPPED_TRUST_LIST)
    >>> tl.name, len(tl.certificates) > 0
    ('C2PA Trust List', True)
    """
    p = str(Path(path))
    try:
        mtime = os.stat(p).st_mtime_ns
    except OSError as e:
        raise UsageError(f"C2PA trust list {p!r} cannot be read: {e.strerror or e}") from None
    return _load(p, mtime)


@lru_cache(maxsize=1)
def shipped_trust_list() -> TrustList:
    """The official C2PA trust list shipped inside fakescope (dated by its publication, see ``trust/VERSION.json``).

    Raises
    ------
    fakescope.errors.UsageError
        The package's copy is missing or was altered (its sha256 differs from ``VERSION.json``).
    """
    try:
        meta = json.loads((TRUST_DIR / "VERSION.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"the shipped C2PA trust list's VERSION.json cannot be read ({e}): reinstall fakescope") from None
    tl = load_trust_list(SHIPPED_TRUST_LIST)
    expected = (meta.get("files") or {}).get(SHIPPED_TRUST_LIST.name)
    if expected and expected != tl.sha256:
        raise UsageError(f"the shipped C2PA trust list {SHIPPED_TRUST_LIST} does not match its recorded sha256 "
                         f"({expected[:12]}…): reinstall fakescope, or give a list with --c2pa-trust-list")
    extra = dict(tl.extra)
    extra.update({"source": meta.get("source"), "licence": meta.get("licence")})
    return TrustList(name=str(meta.get("name") or tl.name), path=tl.path, sha256=tl.sha256,
                     date=str(meta.get("date") or tl.date), certificates=tl.certificates,
                     organisations=tl.organisations, next_update=tl.next_update, shipped=True,
                     withdrawn=tl.withdrawn, extra={k: v for k, v in extra.items() if v})


def default_trust_list() -> TrustList:
    """The list used when none is named: ``$FAKESCOPE_C2PA_TRUST_LIST`` when set, else the shipped one.

    Raises
    ------
    fakescope.errors.UsageError
        The file the environment variable names cannot be read as a trust list.
    """
    env = os.environ.get(TRUST_LIST_ENV, "").strip()
    if env:
        return load_trust_list(env)
    return shipped_trust_list()
