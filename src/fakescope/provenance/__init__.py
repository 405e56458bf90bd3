"""Provenance: what an image file says about where it came from.

:func:`analyze_provenance` reads, once per image and in a few milliseconds:

* **C2PA** Content Credentials (signed manifests; :mod:`.c2pa`),
* the **IPTC digital source type** and IPTC AI fields in XMP, and IPTC-IIM (:mod:`.iptc`),
* **generator parameters** that AI tools write (AUTOMATIC1111/Forge, ComfyUI, InvokeAI,
  NovelAI, Fooocus, SwarmUI, ...) and names of AI services and editors (:mod:`.generators`),
* **camera traces**: EXIF capture settings and JPEG quantization tables (:mod:`.camera`),
* the open **invisible watermarks** of Stable Diffusion's reference code (:mod:`.watermark`),

and returns every finding as :class:`~fakescope.types.Evidence`.  Provenance is decisive
when present (``weight="strong"``: a valid manifest or a self-declaration of AI origin),
a weak hint for traces anyone can forge (camera EXIF, an editor's name), and silent when
absent: most images online have had their metadata stripped.

The packages behind C2PA and the watermark (``c2pa-python``, ``opencv-python-headless``: fakescope's
dependencies; ``invisible-watermark``: installed apart with ``--no-deps``) are imported on first use;
without them the affected check reports that it is not installed, and everything else still runs.

Examples
--------
>>> import numpy as np
>>> from fakescope.types import ImageMetadata, Sample
>>> img = np.zeros((64, 64, 3), np.uint8)
>>> s = Sample("x.png", "0" * 64, b"", img, ImageMetadata("PNG", 64, 64, "RGB",
...            text={"parameters": "a cat\\nSteps: 20, Sampler: Euler a, Seed: 1, Model: sd_xl_base_1.0"}))
>>> ev = analyze_provenance(s)
>>> ev[0].weight, ev[0].details["generator"], ev[0].details["tool"]
('strong', 'sd_xl_base_1.0', 'automatic1111')
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from ..errors import MissingDependencyError, UsageError
from ..types import Evidence, Sample
from . import c2pa as _c2pa
from . import camera as _camera
from . import generators as _generators
from . import iptc as _iptc
from . import trust as _trust
from .watermark import DEFAULT_THRESHOLD

__all__ = ["ProvenanceOptions", "analyze_provenance", "provenance_report", "format_report", "ABSENCE_SUMMARY", "preload"]

ABSENCE_SUMMARY = ("No provenance found: no C2PA manifest, no AI-source declaration, no generator metadata, "
                   "no known watermark (most images online are stripped of these).")
WATERMARK_NOT_INSTALLED = ("Invisible-watermark checking not installed (pip install --no-deps "
                           "invisible-watermark==0.2.0 PyWavelets; its own dependencies would replace opencv and torch).")



def preload() -> None:
    """Build what the first image would build: the C2PA SDK import (when installed), the default
    C2PA trust list, and the table of every JPEG quantization table libjpeg writes (~50 ms).  The
    scan engine calls it before forking workers, so they share the work instead of each redoing it."""
    _c2pa.c2pa_available()
    try:
        _trust.default_trust_list()
    except UsageError:
        pass  # reported, with its reason, by the first image that needs it
    _camera.jpeg_table_index()


@dataclass(frozen=True)
class ProvenanceOptions:
    """How provenance is checked.

    Parameters
    ----------
    c2pa_trust : files of added trust anchors (``--c2pa-trust FILE``): PEM certificates (root or
        intermediate CAs, or a signer's own), or a trust list in its LoTE JSON form.  A C2PA signer
        chaining to one of them, or to the trust list, is "trusted".
    c2pa_trust_list : the trust list: ``"default"`` (the official C2PA trust list shipped with
        fakescope, or the file ``$FAKESCOPE_C2PA_TRUST_LIST`` names), a file (``--c2pa-trust-list``,
        e.g. a newer list), or ``None`` (``--c2pa-trust none``: only the added anchors count).
    watermark : look for the known invisible watermarks, in the formats that can still hold them
        (PNG, lossless WebP, 4:4:4 JPEG, ...; about 3 ms per 1024×768 image).
    watermark_threshold : bit agreement at or above which a watermark counts as present
        (short payloads need more; see :func:`fakescope.provenance.watermark.required_agreement`).
        The default 0.8 lies well above the highest agreement measured on 301 real photos
        (0.57 for the 136-bit SD 1 payload, 0.73 for the 48-bit SDXL one).

    Examples
    --------
    >>> ProvenanceOptions(c2pa_trust=["ca.pem"]).c2pa_trust
    ('ca.pem',)
    """

    c2pa_trust: tuple[str, ...] = ()
    watermark: bool = True
    watermark_threshold: float = DEFAULT_THRESHOLD
    c2pa_trust_list: str | None = _c2pa.DEFAULT_TRUST_LIST

    def __post_init__(self) -> None:
        trust = self.c2pa_trust
        if isinstance(trust, (str, bytes)) or hasattr(trust, "__fspath__"):
            trust = (trust,)
        object.__setattr__(self, "c2pa_trust", tuple(str(t) for t in trust))
        if self.c2pa_trust_list is not None:
            object.__setattr__(self, "c2pa_trust_list", str(self.c2pa_trust_list))
        if not 0.5 < float(self.watermark_threshold) <= 1.0:
            raise UsageError(f"watermark_threshold must be in (0.5, 1], got {self.watermark_threshold}")


def _collect(sample: Sample, options: ProvenanceOptions) -> tuple[list[Evidence], dict[str, Any]]:
    meta = sample.metadata
    data = sample.data or b""
    evidence: list[Evidence] = []
    report: dict[str, Any] = {"path": sample.path, "sha256": sample.sha256, "format": meta.format,
                              "width": meta.width, "height": meta.height}

    # C2PA: the marker check needs no package, so "no manifest" holds even without c2pa-python
    c2pa_section: dict[str, Any] = {"installed": _c2pa.c2pa_available(), "checked": bool(data),
                                    "trust_anchors": list(options.c2pa_trust)}
    c2 = _c2pa.read_c2pa(data, meta.format, options.c2pa_trust, options.c2pa_trust_list) if data else None
    if not data:
        c2pa_section["reason"] = "the raw file bytes were not kept (DecodeLimits.keep_bytes=False)"
    c2pa_section.update(c2.to_dict() if c2 is not None else {"present": False})
    report["c2pa"] = c2pa_section
    evidence.extend(_c2pa.c2pa_evidence(c2))

    # XMP / IPTC
    xmp = _iptc.parse_xmp(meta.xmp)
    iim = _iptc.iim_from_jpeg(data) if meta.format == "JPEG" and data else {}
    iptc_ev, iptc_section = _iptc.iptc_evidence(xmp)
    iptc_section["iim"] = iim
    report["iptc"] = iptc_section
    report["xmp"] = {"present": bool(meta.xmp), "well_formed": xmp.parsed,
                     "properties": {k: [v[:300] for v in vals[:8]] for k, vals in xmp.items()}}
    evidence.extend(iptc_ev)

    # generator parameters, AI services, editors
    gens = _generators.find_generators(meta, xmp, iim)
    editors = _generators.find_editors(meta, xmp, iim)
    report["generators"] = [g.to_dict() for g in gens]
    report["editors"] = [e.to_dict() for e in editors]
    evidence.extend(_generators.generator_evidence(gens))

    # invisible watermarks
    wm_found = False
    if options.watermark:
        try:
            from .watermark import watermark_evidence

            wm_ev, wm = watermark_evidence(sample, threshold=options.watermark_threshold)
            report["watermark"] = wm.to_dict()
            evidence.extend(wm_ev)
            wm_found = bool(wm.detected)
        except MissingDependencyError:
            report["watermark"] = {"checked": False, "reason": WATERMARK_NOT_INSTALLED}
            evidence.append(Evidence(source="invisible-watermark", kind="watermark", score=0.5, weight="none",
                                     summary=WATERMARK_NOT_INSTALLED, details={"installed": False}))
    else:
        report["watermark"] = {"checked": False, "reason": "turned off (ProvenanceOptions.watermark=False)"}

    # weaker traces: editors, camera, JPEG tables
    evidence.extend(_generators.editor_evidence(editors))
    cam_ev, cam_section = _camera.camera_evidence(meta)
    report["camera"] = cam_section
    evidence.extend(cam_ev)

    found = (c2 is not None and c2.present) or bool(iptc_section["digital_source_types"]) or bool(iptc_ev) \
        or bool(gens) or wm_found
    if not found:
        details: dict[str, Any] = {"c2pa_checked": bool(data)}
        if isinstance(report.get("watermark"), dict):
            details["watermark"] = report["watermark"]
        evidence.append(Evidence(source="provenance", kind="provenance", score=0.5, weight="none",
                                 summary=ABSENCE_SUMMARY, details=details))
    report["found"] = bool(found)
    return evidence, report


def analyze_provenance(sample: Sample, options: ProvenanceOptions = ProvenanceOptions()) -> list[Evidence]:
    """Every provenance and watermark finding for one decoded image, as Evidence.

    Parameters
    ----------
    sample : a decoded image (:func:`fakescope.io.decode.load`), with its raw bytes kept.
    options : trust anchors and watermark settings.

    Returns
    -------
    list of Evidence
        ``kind`` is ``"provenance"`` or ``"watermark"``.  Strong items (a valid C2PA manifest,
        a self-declaration of AI origin, generator parameters, a known watermark) decide the
        verdict; weak items (camera EXIF, an editor, an unsigned capture declaration) shift it;
        ``"none"`` items are reported only.  When nothing is found there is exactly one item
        from ``source="provenance"`` saying so (:data:`ABSENCE_SUMMARY`).

    Raises
    ------
    fakescope.errors.UsageError
        A C2PA trust anchor file cannot be read.
    """
    return _collect(sample, options)[0]


def provenance_report(sample: Sample, options: ProvenanceOptions = ProvenanceOptions()) -> dict[str, Any]:
    """A structured, JSON-able report of everything provenance found (for ``fakescope provenance FILE``).

    Parameters
    ----------
    sample : a decoded image with its raw bytes.
    options : as for :func:`analyze_provenance`.

    Returns
    -------
    dict
        Sections ``c2pa``, ``iptc``, ``xmp``, ``generators``, ``editors``, ``watermark``,
        ``camera``, and ``evidence`` (the items :func:`analyze_provenance` returns, as dicts).
    """
    evidence, report = _collect(sample, options)
    report["evidence"] = [e.to_dict() for e in evidence]
    return report


def _wrap(text: str, indent: str = "    ") -> str:
    return textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent + "  ")


def _short(v: Any, n: int = 80) -> str:
    s = " ".join(str(v).split())
    return s if len(s) <= n else s[: n - 1] + "…"


def format_report(report: dict[str, Any]) -> str:
    """Render :func:`provenance_report` as plain text for a terminal.

    Examples
    --------
    >>> print(format_report({"path": "a.jpg", "format": "JPEG", "width": 8, "height": 8, "evidence": [],
    ...                      "c2pa": {"present": False, "checked": True, "installed": True}}).splitlines()[0])
    a.jpg  (JPEG, 8×8)
    """
    out = [f"{report.get('path', '?')}  ({report.get('format', '?')}, {report.get('width')}×{report.get('height')})"]
    out.append("Evidence:")
    for e in report.get("evidence", []):
        out.append(_wrap(f"[{e.get('weight')}, {e.get('score'):.2f}] {e.get('source')}: {e.get('summary')}"))
    if not report.get("evidence"):
        out.append("    (none)")

    c = report.get("c2pa") or {}
    out.append("C2PA:")
    if not c.get("checked", True):
        out.append(f"    not checked: {c.get('reason', '')}")
    elif not c.get("present"):
        out.append("    no manifest")
    elif c.get("error"):
        out.append(f"    manifest present but unreadable: {c['error']}")
    else:
        out.append(_wrap(f"state: {c.get('state')} ({c.get('state_in_words') or ('valid' if c.get('valid') else 'invalid')})"))
        signer = c.get("signer") or {}
        out.append(_wrap("trust: " + _c2pa.trust_phrase(bool(c.get("trusted")), c.get("trusted_by"), signer)))
        if signer:
            out.append("    signer: " + ", ".join(f"{k} {v}" for k, v in signer.items()))
        if c.get("claim_generator"):
            out.append(f"    claim generator: {c['claim_generator']}")
        for f in c.get("failures") or []:
            out.append(_wrap(f"failure: {f['code']} ({f['where']}): {f.get('explanation', '')}"))
        for a in c.get("actions") or []:
            extra = ", ".join(f"{k}: {a[k]}" for k in ("digital_source_type", "software_agent", "name") if a.get(k))
            out.append(f"    action: {a.get('action')}" + (f" ({extra})" if extra else ""))
        for i in c.get("ingredients") or []:
            dst = ", ".join(i.get("digital_source_types") or [])
            bad = (f" — its credentials fail validation: {i['validation_in_words']} ({', '.join(i['validation'])})"
                   if i.get("validation") else "")
            out.append(_wrap(f"ingredient: {i.get('title')} ({i.get('relationship')}, "
                             f"{'with' if i.get('has_manifest') else 'no'} manifest{', ' + dst if dst else ''}){bad}"))
        top = {i.get("title") for i in c.get("ingredients") or []}
        for f in c.get("ingredient_failures") or []:
            if f.get("ingredient") not in top:  # deeper in the history
                out.append(_wrap(f"ingredient {f['ingredient']}: credentials fail validation: {f['words']} "
                                 f"({f['code']})"))
        for f in c.get("informational") or []:
            out.append(_wrap(f"note: {f['code']} ({f.get('explanation', '')})"))
    tl = c.get("trust_list")
    if c.get("present") and c.get("checked", True):
        if tl:
            out.append(_wrap(f"trust list: {tl.get('name')} of {tl.get('date') or 'unknown date'} "
                             f"({tl.get('certificates')} certificates, sha256 {str(tl.get('sha256'))[:16]}…)"
                             + (f"; warning: {tl['warning']}" if tl.get("warning") else "")))
        elif c.get("installed", True) and not c.get("error"):
            out.append("    trust list: none (--c2pa-trust none)")

    iptc = report.get("iptc") or {}
    if iptc.get("digital_source_types") or iptc.get("iim") or iptc.get("ai_system"):
        out.append("IPTC:")
        for t in iptc.get("digital_source_types") or []:
            out.append(_wrap(f"digital source type: {t['code']} — {t['meaning']}"
                             + (f"; effect: {t['effect']}" if t.get("effect") else "")))
        for k in ("ai_system", "ai_system_version", "ai_prompt", "ai_prompt_writer"):
            if iptc.get(k):
                out.append(f"    {k.replace('_', ' ')}: {_short(iptc[k])}")
        for k, v in (iptc.get("iim") or {}).items():
            out.append(f"    IIM {k}: {_short(v)}")

    gens = report.get("generators") or []
    if gens:
        out.append("Generator metadata:")
        for g in gens:
            head = f"{g['tool_name'] if 'tool_name' in g else g['tool']}: {g['generator']}"
            if g.get("base_model"):
                head += f" ({g['base_model']})"
            out.append(f"    {head}  [{g['where']}]")
            for k, v in (g.get("parameters") or {}).items():
                out.append(f"        {k}: {_short(v)}")
    if report.get("editors"):
        out.append("Editors: " + ", ".join(f"{e['editor']} ({e['where']}: {e['value']})" for e in report["editors"]))

    cam = report.get("camera") or {}
    if cam.get("exif"):
        ex = cam["exif"]
        out.append("Camera EXIF: " + ", ".join(f"{k} {v}" for k, v in ex.items() if k != "problems"))
    q = cam.get("quantization")
    if q:
        if q.get("standard"):
            qual = q["ijg_quality"] if q.get("ijg_quality") is not None else f"scale {q.get('ijg_scale')}%"
            out.append(f"JPEG tables: standard libjpeg, quality {qual}")
        else:
            out.append(f"JPEG tables: non-standard (about quality {q.get('estimated_quality')})")

    wm = report.get("watermark") or {}
    if wm:
        if not wm.get("checked"):
            out.append(f"Invisible watermark: not checked ({wm.get('reason')})")
        else:
            ag = ", ".join(f"{k} {v:.2f} (needs {wm['required'][k]:.2f})" for k, v in wm["bit_agreement"].items())
            found = ", ".join(wm.get("detected") or []) or "none"
            out.append(_wrap(f"Invisible watermark: {found} found; bit agreement: {ag}", indent="").rstrip())
    return "\n".join(out)
