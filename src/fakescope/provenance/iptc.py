"""IPTC metadata: the Digital Source Type vocabulary, XMP properties and IPTC-IIM records.

The IPTC *Digital Source Type* (``Iptc4xmpExt:DigitalSourceType`` in XMP, and the
``digitalSourceType`` of C2PA actions) is how a file declares where its pixels came from:
a camera, a scan of film, a person with drawing tools, or a trained AI model.  It is
plain, unsigned metadata inside XMP: anyone can write it and anyone can strip it.  A
declaration of AI origin is still decisive (nobody labels a real photo "made by AI" by
accident), while a declared capture type is only a weak hint toward real.

Everything here is pure Python over the strings that :mod:`fakescope.io.metadata` and
the raw file bytes provide; nothing is decoded twice.
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Literal

from ..types import Evidence

__all__ = [
    "DigitalSourceType",
    "DIGITAL_SOURCE_TYPES",
    "IPTC_DST_PREFIX",
    "AI_SOURCE_CATEGORIES",
    "CATEGORY_EFFECTS",
    "source_type",
    "parse_xmp",
    "XmpProperties",
    "NS",
    "jpeg_segments",
    "parse_iim",
    "iim_from_jpeg",
    "IIM_DATASETS",
    "iptc_evidence",
]

#: The vocabulary's URI prefix; a term is ``IPTC_DST_PREFIX + code``.
IPTC_DST_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"

Category = Literal["ai", "ai-composite", "synthetic", "enhanced", "capture", "human-edit", "human-made",
                   "neutral", "empty"]

#: Categories that say the pixels were (partly) made by an algorithm rather than sampled from life.
AI_SOURCE_CATEGORIES: frozenset[str] = frozenset({"ai", "ai-composite", "synthetic"})


@dataclass(frozen=True)
class DigitalSourceType:
    """One term of the IPTC Digital Source Type vocabulary (plus C2PA's additions).

    Parameters
    ----------
    code : the term's identifier, e.g. ``"trainedAlgorithmicMedia"``.
    name : its IPTC name in English.
    meaning : a plain-words explanation a non-specialist understands.
    category : how fakescope reads it: ``"ai"`` (made by a trained AI model), ``"ai-composite"``
        (real material combined with AI-generated parts), ``"synthetic"`` (made by an algorithm,
        or composited with synthetic elements), ``"enhanced"`` (captured, then altered by an
        algorithm), ``"capture"`` (sampled from real life), ``"human-edit"``, ``"human-made"``
        (made by a person with digital tools), ``"neutral"`` (says nothing about AI), ``"empty"``.
    retired : IPTC retired the term (still found in older files).
    definition : the definition the IPTC vocabulary gives (NewsCodes, 2024-09-17 release), where fakescope records it.

    Examples
    --------
    >>> t = DIGITAL_SOURCE_TYPES["compositeWithTrainedAlgorithmicMedia"]
    >>> t.effect.startswith("decides the label: ai-generated, as a partial fake")
    True
    """

    code: str
    name: str
    meaning: str
    category: Category
    retired: bool = False
    definition: str = ""

    @property
    def uri(self) -> str:
        return IPTC_DST_PREFIX + self.code

    @property
    def effect(self) -> str:
        """How the declaration weighs on fakescope's label, in words (see :data:`CATEGORY_EFFECTS`)."""
        return CATEGORY_EFFECTS[self.category]


#: How each category weighs on the label when declared (unsigned in XMP; a valid C2PA manifest is weighed
#: by :mod:`.c2pa`, where trust decides between "decides" and "self-declared").
CATEGORY_EFFECTS: dict[str, str] = {
    "ai": "decides the label: ai-generated (a self-declaration of generative AI)",
    "ai-composite": ("decides the label: ai-generated, as a partial fake — real material with parts made by "
                     "generative AI (inpainting, outpainting, generative fill), so some of what it shows may be "
                     "real and some is not"),
    "synthetic": "decides the label: ai-generated (made or combined by a computer rather than captured)",
    "enhanced": ("a weak hint toward AI: a real capture altered by an algorithm (sharpening, denoising, upscaling) "
                 "without changing what it shows; not generated"),
    "capture": "a weak hint toward real: unsigned, and anyone can write it",
    "human-edit": "a weak hint toward real: edited by people with non-generative tools",
    "human-made": "a weak hint that it is not AI-generated: made by a person with digital tools",
    "neutral": "nothing either way: the term does not say whether generative AI made the content",
    "empty": "nothing either way",
}


_TERMS = (
    DigitalSourceType("digitalCapture", "Digital capture sampled from real life",
                      "captured from real life with a digital camera or recorder", "capture",
                      definition="The media was captured from a real-life source using a digital camera or digital "
                                 "recording device"),
    DigitalSourceType("computationalCapture", "Multi-frame computational capture sampled from real life",
                      "captured from real life by a camera that merged several frames (for example a "
                      "smartphone's HDR), without generative AI", "capture"),
    DigitalSourceType("negativeFilm", "Digitised from a negative on film",
                      "scanned from a film negative", "capture"),
    DigitalSourceType("positiveFilm", "Digitised from a positive on film",
                      "scanned from a slide or other positive film", "capture"),
    DigitalSourceType("print", "Digitised from a print on non-transparent medium",
                      "scanned or photographed from a printed picture", "capture"),
    DigitalSourceType("compositeCapture", "Composite of captured elements",
                      "a montage of several real captures", "capture"),
    DigitalSourceType("humanEdits", "Human-edited media",
                      "real media edited by people with non-generative tools", "human-edit"),
    DigitalSourceType("minorHumanEdits", "Original media with minor human edits",
                      "real media with minor retouching by a person", "human-edit", retired=True),
    DigitalSourceType("algorithmicallyEnhanced", "Algorithmically-altered media",
                      "real media modified by an algorithm (for example AI denoising or upscaling) "
                      "without changing what it shows", "enhanced",
                      definition="Modification or correction by algorithm without changing the main content of "
                                 "the media, initiated or configured by a human, such as sharpening or applying noise "
                                 "reduction"),
    DigitalSourceType("digitalCreation", "Digital creation",
                      "made by a person with digital tools (drawing, 3D), not by AI", "human-made"),
    DigitalSourceType("digitalArt", "Digital art",
                      "made by a person with digital tools, not by AI", "human-made", retired=True),
    DigitalSourceType("softwareImage", "Created by software",
                      "created by software (an old, retired term)", "neutral", retired=True),
    DigitalSourceType("dataDrivenMedia", "Data-driven media",
                      "a visualisation made from data, such as a chart or satellite rendering", "neutral"),
    DigitalSourceType("virtualRecording", "Virtual recording",
                      "a recording of a virtual scene, such as a video game", "neutral"),
    DigitalSourceType("screenCapture", "Screen capture",
                      "a screenshot of a screen", "neutral",
                      definition="The media is a capture of the contents of the screen of a computer or mobile "
                                 "device"),
    DigitalSourceType("composite", "Composite",
                      "a combination of several sources of unspecified kinds", "neutral"),
    DigitalSourceType("trainedAlgorithmicMedia", "Trained algorithmic media",
                      "created by a generative AI model trained on sampled content", "ai",
                      definition="Digital media created algorithmically using a model derived from sampled "
                                 "content"),
    DigitalSourceType("compositeWithTrainedAlgorithmicMedia", "Composite with trained algorithmic media",
                      "real media combined with parts made by generative AI (for example generative "
                      "fill or inpainting)", "ai-composite",
                      definition="The compositing of trained algorithmic media with some other media, such as with "
                                 "inpainting or outpainting operations"),
    DigitalSourceType("algorithmicMedia", "Purely algorithmic media",
                      "created entirely by an algorithm, not sampled from real life", "synthetic"),
    DigitalSourceType("compositeSynthetic", "Composite including synthetic elements",
                      "a montage that includes synthetic (computer-made) elements", "synthetic",
                      definition="Mix or composite of several elements, at least one of which is synthetic"),
    # C2PA's own additions to the vocabulary
    DigitalSourceType("trainedAlgorithmicData", "Trained algorithmic data",
                      "data created by a generative AI model", "ai"),
    DigitalSourceType("empty", "Empty", "no source type given", "empty"),
)

#: Every known term by its code (``"trainedAlgorithmicMedia"`` → :class:`DigitalSourceType`).
DIGITAL_SOURCE_TYPES: dict[str, DigitalSourceType] = {t.code: t for t in _TERMS}
_LOWER = {t.code.lower(): t for t in _TERMS}

_DST_RE = re.compile(r"(?:digitalsourcetype|digsrctype)[/:]([A-Za-z]+)", re.IGNORECASE)


def source_type(value: str) -> DigitalSourceType | None:
    """Look up a Digital Source Type from a URI, a QCode or a bare code.

    Parameters
    ----------
    value : e.g. ``"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"``,
        ``"digsrctype:digitalCapture"`` or ``"digitalCapture"`` (case and surrounding space ignored).

    Returns
    -------
    DigitalSourceType or None
        ``None`` when the value is not a term of the vocabulary.

    Examples
    --------
    >>> source_type(" http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia").category
    'ai'
    >>> source_type("digsrctype:digitalCapture").code
    'digitalCapture'
    >>> source_type("http://c2pa.org/digitalsourcetype/empty").category
    'empty'
    >>> source_type("camera") is None
    True
    """
    v = str(value).strip()
    m = _DST_RE.search(v)
    code = m.group(1) if m else v.rsplit("/", 1)[-1]
    return _LOWER.get(code.lower())


# --------------------------------------------------------------------------- XMP

#: Namespace URIs of the XMP schemas fakescope reads.
NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "x": "adobe:ns:meta/",
    "xml": "http://www.w3.org/XML/1998/namespace",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "exifEX": "http://cipa.jp/exif/1.0/",
    "aux": "http://ns.adobe.com/exif/1.0/aux/",
    "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
    "dcterms": "http://purl.org/dc/terms/",
}
_SKIP_ATTR_NS = {NS["rdf"], NS["x"], NS["xml"]}
_MAX_XMP_CHARS = 2_000_000
_MAX_VALUES = 64


class XmpProperties:
    """The properties of one XMP packet, keyed by (namespace URI, local name).

    Values keep document order; a property written several times (``rdf:Seq``/``rdf:Bag``/
    ``rdf:Alt`` items, repeated attributes) has several values.  Build one with
    :func:`parse_xmp`.

    Examples
    --------
    >>> p = parse_xmp('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    ...   'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    ...   'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="GIMP 2.10"/></rdf:RDF></x:xmpmeta>')
    >>> p.get("xmp", "CreatorTool")
    ['GIMP 2.10']
    """

    def __init__(self, values: dict[tuple[str, str], list[str]], parsed: bool, raw: str) -> None:
        self._values = values
        self.parsed = parsed  # False when the packet was not well-formed XML (regex fallback)
        self.raw = raw

    def get(self, prefix: str, local: str) -> list[str]:
        """All values of ``prefix:local`` (``prefix`` is a key of :data:`NS`); ``[]`` when absent."""
        return list(self._values.get((NS[prefix], local), ()))

    def first(self, prefix: str, local: str) -> str | None:
        v = self.get(prefix, local)
        return v[0] if v else None

    def items(self) -> list[tuple[str, list[str]]]:
        """Every property as ``("prefix:Local" or "{uri}Local", values)``, for reports."""
        names = {uri: p for p, uri in NS.items()}
        out = []
        for (uri, local), vals in self._values.items():
            out.append((f"{names[uri]}:{local}" if uri in names else f"{{{uri}}}{local}", list(vals)))
        return out

    def __bool__(self) -> bool:
        return bool(self._values)


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return "", tag


def parse_xmp(xmp: str | None) -> XmpProperties:
    """Parse an XMP packet into :class:`XmpProperties`, never raising.

    The packet is untrusted input: documents that declare a DOCTYPE or entities are not
    parsed as XML (no entity expansion), nor is anything over 2 million characters.  When
    the packet is not well-formed, the Digital Source Type, creator tool and credit are
    still found with a tolerant pattern search (``parsed`` is then ``False``).

    Parameters
    ----------
    xmp : the raw packet (``ImageMetadata.xmp``) or ``None``.

    Returns
    -------
    XmpProperties
    """
    if not xmp:
        return XmpProperties({}, True, "")
    text = xmp[:_MAX_XMP_CHARS]
    values: dict[tuple[str, str], list[str]] = {}

    def add(key: tuple[str, str], value: str | None) -> None:
        if value is None:
            return
        value = value.strip()
        if not value:
            return
        lst = values.setdefault(key, [])
        if len(lst) < _MAX_VALUES:
            lst.append(value)

    if "<!DOCTYPE" not in text and "<!ENTITY" not in text:
        body = text
        start = body.find("<x:xmpmeta")
        if start < 0:
            start = body.find("<rdf:RDF")
        if start > 0:
            body = body[start:]
        end_meta = body.rfind("</x:xmpmeta>")
        if end_meta >= 0:
            body = body[: end_meta + len("</x:xmpmeta>")]
        else:
            end_rdf = body.rfind("</rdf:RDF>")
            if end_rdf >= 0:
                body = body[: end_rdf + len("</rdf:RDF>")]
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            root = None
        if root is not None:
            rdf_li = f"{{{NS['rdf']}}}li"
            for el in root.iter():
                uri, local = _split(el.tag)
                for k, v in el.attrib.items():
                    kuri, klocal = _split(k)
                    if kuri and kuri not in _SKIP_ATTR_NS:
                        add((kuri, klocal), v)
                    elif kuri == NS["rdf"] and klocal == "resource" and uri not in _SKIP_ATTR_NS:
                        add((uri, local), v)
                if uri in _SKIP_ATTR_NS or not uri:
                    continue
                if el.text and el.text.strip() and len(el) == 0:
                    add((uri, local), el.text)
                else:
                    for li in el.iter(rdf_li):
                        if li.text and li.text.strip() and len(li) == 0:
                            add((uri, local), li.text)
            return XmpProperties(values, True, text)

    # tolerant fallback: a few properties by pattern, whatever the namespace prefix
    for prop, key in (("DigitalSourceType", (NS["Iptc4xmpExt"], "DigitalSourceType")),
                      ("CreatorTool", (NS["xmp"], "CreatorTool")),
                      ("Credit", (NS["photoshop"], "Credit")),
                      ("softwareAgent", (NS["stEvt"], "softwareAgent"))):
        for m in re.finditer(rf"[\w.-]+:{prop}\s*=\s*\"([^\"]*)\"", text):
            add(key, m.group(1))
        for m in re.finditer(rf"<[\w.-]+:{prop}[^>]*>(.*?)</[\w.-]+:{prop}>", text, re.S):
            inner = re.sub(r"<[^>]+>", " ", m.group(1))
            add(key, inner)
    return XmpProperties(values, False, text)


# --------------------------------------------------------------------------- IPTC-IIM

#: IIM record 2 (application record) datasets fakescope reports, by number.
IIM_DATASETS = {
    5: "ObjectName", 15: "Category", 25: "Keywords", 40: "SpecialInstructions", 55: "DateCreated",
    60: "TimeCreated", 65: "OriginatingProgram", 70: "ProgramVersion", 80: "By-line",
    85: "By-lineTitle", 90: "City", 95: "Province-State", 101: "Country", 103: "OriginalTransmissionReference",
    105: "Headline", 110: "Credit", 115: "Source", 116: "CopyrightNotice", 120: "Caption-Abstract",
    122: "Writer-Editor",
}
_MAX_SEGMENTS = 4096


def jpeg_segments(data: bytes, markers: frozenset[int] | None = None) -> list[tuple[int, bytes]]:
    """The marker segments of a JPEG before its image data, as ``(marker, payload)`` pairs.

    Parameters
    ----------
    data : the file's bytes.
    markers : keep only these markers (e.g. ``{0xED}`` for APP13); ``None`` keeps all.

    Returns
    -------
    list of (int, bytes)
        Empty when ``data`` is not a JPEG.  A malformed segment ends the walk.

    Examples
    --------
    >>> jpeg_segments(b"\\xff\\xd8\\xff\\xfe\\x00\\x05hey\\xff\\xda\\x00\\x02")
    [(254, b'hey')]
    """
    out: list[tuple[int, bytes]] = []
    if not data.startswith(b"\xff\xd8"):
        return out
    pos, n = 2, len(data)
    for _ in range(_MAX_SEGMENTS):
        while pos < n and data[pos] == 0xFF and pos + 1 < n and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > n or data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):
            break
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if length < 2 or pos + 2 + length > n:
            break
        if markers is None or marker in markers:
            out.append((marker, data[pos + 4:pos + 2 + length]))
        pos += 2 + length
    return out


def parse_iim(block: bytes) -> dict[str, Any]:
    """Decode IPTC-IIM datasets of record 2 (the "IPTC" fields most software writes).

    Parameters
    ----------
    block : the IIM byte stream (``0x1C`` record dataset size value ...).

    Returns
    -------
    dict
        Field name → text (a list for repeatable fields such as ``Keywords``).

    Examples
    --------
    >>> parse_iim(b"\\x1c\\x02\\x6e\\x00\\x07Reuters\\x1c\\x02\\x19\\x00\\x03cat")
    {'Credit': 'Reuters', 'Keywords': ['cat']}
    """
    out: dict[str, Any] = {}
    pos, n = 0, len(block)
    while pos + 5 <= n and block[pos] == 0x1C:
        record, dataset = block[pos + 1], block[pos + 2]
        size = struct.unpack(">H", block[pos + 3:pos + 5])[0]
        pos += 5
        if size & 0x8000:  # extended dataset: the next (size & 0x7FFF) bytes hold the length
            k = size & 0x7FFF
            if k > 4 or pos + k > n:
                break
            size = int.from_bytes(block[pos:pos + k], "big")
            pos += k
        value = block[pos:pos + size]
        pos += size
        if record != 2 or dataset not in IIM_DATASETS:
            continue
        try:  # UTF-8 when 1:90 says so (ESC % G), and in practice also most of the time when not
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("latin-1")
        text = text.strip("\x00").strip()
        name = IIM_DATASETS[dataset]
        if name == "Keywords":
            out.setdefault(name, []).append(text)
        else:
            out[name] = text
    return out


def iim_from_jpeg(data: bytes) -> dict[str, Any]:
    """The IPTC-IIM fields in a JPEG's Photoshop (APP13, 8BIM resource 0x0404) block, else ``{}``."""
    out: dict[str, Any] = {}
    for _, payload in jpeg_segments(data, frozenset({0xED})):
        if not payload.startswith(b"Photoshop 3.0\x00"):
            continue
        pos, n = 14, len(payload)
        while pos + 12 <= n and payload[pos:pos + 4] == b"8BIM":
            rid = struct.unpack(">H", payload[pos + 4:pos + 6])[0]
            name_len = payload[pos + 6]
            pos += 7 + name_len + ((name_len + 1) % 2)  # Pascal string padded to even length
            if pos + 4 > n:
                break
            size = struct.unpack(">I", payload[pos:pos + 4])[0]
            pos += 4
            if rid == 0x0404:
                out.update(parse_iim(payload[pos:pos + size]))
            pos += size + (size % 2)
    return out


# --------------------------------------------------------------------------- evidence

def _declared(code: DigitalSourceType, where: str, extra: dict[str, Any]) -> Evidence:
    details = {"digital_source_type": code.code, "uri": code.uri, "name": code.name, "meaning": code.meaning,
               "category": code.category, "where": where, "signed": False, "effect": code.effect, **extra}
    if code.definition:
        details["iptc_definition"] = code.definition
    if code.retired:
        details["retired_term"] = True
    if code.category in ("ai", "ai-composite", "synthetic"):
        what = {"ai": "made by generative AI",
                "ai-composite": ("partly made by generative AI — a partial fake: some of what it shows may be real, "
                                 "some was generated"),
                "synthetic": "made or combined by a computer rather than captured"}[code.category]
        return Evidence(
            source="iptc", kind="provenance", score=0.99, weight="strong",
            summary=(f"The file's metadata declares it {what} (IPTC digital source type "
                     f"'{code.code}': {code.meaning}); the declaration is unsigned, but nobody labels "
                     "a real photo this way by accident."),
            details=details)
    if code.category == "capture":
        return Evidence(
            source="iptc", kind="provenance", score=0.35, weight="weak",
            summary=(f"The file's metadata declares it {code.meaning} (IPTC '{code.code}'); this is "
                     "unsigned and anyone can write it, so it is only a weak hint toward real."),
            details=details)
    if code.category == "enhanced":
        return Evidence(
            source="iptc", kind="provenance", score=0.6, weight="weak",
            summary=(f"The file's metadata declares it {code.meaning} (IPTC '{code.code}'): altered by "
                     "software, but not declared as generated."),
            details=details)
    if code.category in ("human-edit", "human-made"):
        return Evidence(
            source="iptc", kind="provenance", score=0.4, weight="weak",
            summary=(f"The file's metadata declares it {code.meaning} (IPTC '{code.code}'); unsigned, "
                     "so only a weak hint that it is not AI-generated."),
            details=details)
    if code.code == "screenCapture":
        return Evidence(
            source="iptc", kind="provenance", score=0.5, weight="none",
            summary=(f"The file's metadata declares it {code.meaning} (IPTC '{code.code}'): a screenshot can show "
                     "anything, a photo or a generated picture, so this says nothing about AI either way."),
            details=details)
    return Evidence(
        source="iptc", kind="provenance", score=0.5, weight="none",
        summary=(f"The file's metadata declares it {code.meaning} (IPTC '{code.code}'), which says "
                 "nothing about AI either way."),
        details=details)


_AI_XMP_FIELDS = (("AISystemUsed", "ai_system"), ("AISystemVersionUsed", "ai_system_version"),
                  ("AIPromptInformation", "ai_prompt"), ("AIPromptWriterName", "ai_prompt_writer"))


def iptc_evidence(xmp: XmpProperties) -> tuple[list[Evidence], dict[str, Any]]:
    """Evidence from the IPTC Digital Source Type (and IPTC's AI properties) in an XMP packet.

    Parameters
    ----------
    xmp : parsed properties of the file's XMP packet (:func:`parse_xmp`).

    Returns
    -------
    (list of Evidence, dict)
        One item for the most telling declared type (AI > capture > others) and a report
        section listing everything declared.
    """
    declared: list[DigitalSourceType] = []
    unknown: list[str] = []
    for value in xmp.get("Iptc4xmpExt", "DigitalSourceType"):
        t = source_type(value)
        if t is None:
            unknown.append(value)
        elif t not in declared:
            declared.append(t)
    ai_fields = {key: xmp.first("Iptc4xmpExt", local) for local, key in _AI_XMP_FIELDS}
    ai_fields = {k: v for k, v in ai_fields.items() if v}
    report: dict[str, Any] = {
        "digital_source_types": [{"code": t.code, "name": t.name, "meaning": t.meaning, "category": t.category,
                                  "effect": t.effect, **({"iptc_definition": t.definition} if t.definition else {})}
                                 for t in declared],
    }
    if unknown:
        report["unknown_source_types"] = unknown
    if ai_fields:
        report.update(ai_fields)
    evidence: list[Evidence] = []
    order = ("ai", "ai-composite", "synthetic", "capture", "enhanced", "human-edit", "human-made", "neutral")
    ranked = sorted((t for t in declared if t.category != "empty"), key=lambda t: order.index(t.category))
    if ranked:
        lead = ranked[0]
        extra: dict[str, Any] = dict(ai_fields)
        if lead.category in AI_SOURCE_CATEGORIES and ai_fields.get("ai_system"):
            extra["generator"] = ai_fields["ai_system"]
        if len(ranked) > 1:
            extra["also_declared"] = [t.code for t in ranked[1:]]
        evidence.append(_declared(lead, "XMP Iptc4xmpExt:DigitalSourceType", extra))
    elif ai_fields.get("ai_system"):
        evidence.append(Evidence(
            source="iptc", kind="provenance", score=0.99, weight="strong",
            summary=(f"The file's metadata names the AI system that made it ({ai_fields['ai_system']}, "
                     "IPTC 'AI System Used'); unsigned, but a self-declaration of AI origin."),
            details={"generator": ai_fields["ai_system"], "where": "XMP Iptc4xmpExt:AISystemUsed",
                     "signed": False, **ai_fields}))
    return evidence, report
