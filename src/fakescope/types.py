"""Typed results: frozen dataclasses with ``to_dict()`` for the stable JSON output."""

from __future__ import annotations

import os

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = [
    "ImageMetadata",
    "Sample",
    "Evidence",
    "Attribution",
    "Verdict",
    "ScanSummary",
    "EVIDENCE_KINDS",
    "LABELS",
]

EvidenceKind = Literal["detector", "provenance", "watermark", "attribution", "localization"]
Label = Literal["ai-generated", "real", "inconclusive"]
EVIDENCE_KINDS: tuple[str, ...] = ("detector", "provenance", "watermark", "attribution", "localization")
LABELS: tuple[str, ...] = ("ai-generated", "real", "inconclusive")


@dataclass(frozen=True)
class ImageMetadata:
    """What the file says about itself, kept as decoded (provenance analyzers read it).

    ``exif`` maps EXIF tag names to values (strings/numbers), ``text`` holds PNG text
    chunks (tEXt/iTXt/zTXt) and JPEG comments, ``xmp`` is the raw XMP packet when present.
    """

    format: str  # "JPEG", "PNG", "WEBP", "HEIF", "AVIF", "TIFF", "BMP", "GIF"
    width: int
    height: int
    mode: str  # the file's own colour mode before conversion: "RGB", "RGBA", "CMYK", "I;16", "P", "L", ...
    frames: int = 1
    orientation: int = 1  # EXIF orientation that was applied
    exif: dict[str, Any] = field(default_factory=dict)
    xmp: str | None = None
    text: dict[str, str] = field(default_factory=dict)
    icc_profile: bool = False
    jpeg_quantization: dict[int, list[int]] | None = None
    jpeg_subsampling: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Sample:
    """One decoded input: RGB pixels (H×W×3 uint8, orientation applied), the raw bytes and metadata."""

    path: str
    sha256: str
    data: bytes = field(repr=False)
    image: np.ndarray = field(repr=False)
    metadata: ImageMetadata
    has_alpha: bool = False

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True)
class Evidence:
    """One analyzer's finding.

    ``score`` is this item's own probability that the image is AI-generated
    (1.0 says fake, 0.0 says real, 0.5 says nothing either way).
    ``weight`` tells fusion how strong the item is: ``"pixel"`` (a calibrated detector),
    ``"strong"`` (verifiable provenance that decides), ``"weak"`` (may shift a little), ``"none"``.
    """

    source: str
    kind: EvidenceKind
    score: float
    summary: str
    weight: Literal["pixel", "strong", "weak", "none"] = "pixel"
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {"source": self.source, "kind": self.kind, "score": round(float(self.score), 6),
             "summary": self.summary, "weight": self.weight}
        if self.details:
            d["details"] = _jsonable(self.details)
        return d


@dataclass(frozen=True)
class Attribution:
    name: str
    family: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "confidence": round(float(self.confidence), 4)}


def display_text(text: str) -> str:
    """``text`` with the undecodable bytes of a POSIX file name (Python's surrogate escapes) shown as
    ``\\xNN``: always valid UTF-8, so every sink can write it.

    >>> display_text("caf\\udce9.jpg")
    'caf\\\\xe9.jpg'
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def path_bytes_b64(path: str) -> str | None:
    """The base64 of a path's bytes when they are not valid UTF-8 (None otherwise): the lossless form a
    JSON record keeps beside the escaped ``path``; ``os.fsdecode(base64.b64decode(v))`` gives it back."""
    try:
        path.encode("utf-8")
        return None
    except UnicodeEncodeError:
        import base64

        return base64.b64encode(os.fsencode(path)).decode("ascii")


@dataclass(frozen=True)
class Verdict:
    """The stable output for one input (see docs/verdict.schema.json)."""

    path: str
    status: Literal["ok", "error"]
    sha256: str | None = None
    p_fake: float | None = None
    label: Label | None = None
    threshold: float | None = None
    operating_fpr: float | None = None
    generator: Attribution | None = None
    evidence: tuple[Evidence, ...] = ()
    explanation: str | None = None
    heatmap: str | None = None
    elapsed_ms: float | None = None
    error: str | None = None
    error_type: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    # videos only (``media == "video"``; absent from an image's JSON): see docs/verdict.md
    media: Literal["video"] | None = None
    duration_s: float | None = None
    fps: float | None = None
    segments: tuple[dict[str, float], ...] = ()  # [{start_s, end_s, score}]
    frames: tuple[dict[str, Any], ...] = ()  # sampled frames: [{t_s, p_fake, ...}]
    video: dict[str, Any] | None = None  # container, codec, encoder, audio, sampling, timings

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": display_text(self.path), "sha256": self.sha256, "status": self.status}
        raw = path_bytes_b64(self.path)
        if raw is not None:  # a file name that is not UTF-8: shown escaped, kept losslessly beside
            d["path_bytes_b64"] = raw
        if self.status == "ok":
            d.update(
                p_fake=round(float(self.p_fake), 6) if self.p_fake is not None else None,
                label=self.label,
                threshold=round(float(self.threshold), 6) if self.threshold is not None else None,
                operating_fpr=self.operating_fpr,
                generator=self.generator.to_dict() if self.generator else None,
                evidence=[e.to_dict() for e in self.evidence],
                explanation=self.explanation,
                heatmap=self.heatmap,
                width=self.width,
                height=self.height,
                format=self.format,
            )
            if self.media == "video":
                d.update(media="video", duration_s=round(float(self.duration_s or 0.0), 3),
                         fps=round(float(self.fps), 3) if self.fps else None,
                         segments=[_jsonable(s) for s in self.segments],
                         frames=[_jsonable(f) for f in self.frames], video=_jsonable(self.video or {}))
        else:
            d.update(error=display_text(self.error) if self.error is not None else None, error_type=self.error_type)
        d["elapsed_ms"] = round(float(self.elapsed_ms), 2) if self.elapsed_ms is not None else None
        return d


@dataclass(frozen=True)
class ScanSummary:
    """Totals at the end of a scan."""

    total: int
    ok: int
    errors: int
    skipped: int  # already in the output (``--resume``)
    labels: dict[str, int]
    elapsed_s: float
    detectors: tuple[str, ...] = ()
    operating_fpr: float | None = None

    @property
    def images_per_s(self) -> float:
        done = self.ok + self.errors
        return done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["detectors"] = list(self.detectors)
        d["images_per_s"] = round(self.images_per_s, 2)
        return d


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, float):
        return round(x, 6)
    return x
