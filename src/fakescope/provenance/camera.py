"""Camera traces: EXIF capture settings and JPEG quantization tables.

A photo straight from a camera carries its make, model and exposure settings, and is
compressed by the camera's own JPEG encoder, whose quantization tables are usually not
the standard ones of the IJG reference library (libjpeg).  Almost every other program
(Pillow, OpenCV, browsers, web services, AI pipelines) writes the libjpeg tables scaled to
a "quality" between 1 and 100.  Both traces are easy to copy or forge, so together they
are only a *weak* hint toward a real photo; a standard table on its own says nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..types import Evidence, ImageMetadata

__all__ = [
    "IJG_LUMINANCE",
    "IJG_CHROMINANCE",
    "ZIGZAG",
    "ijg_table",
    "jpeg_table_index",
    "quality_to_scale",
    "QuantizationInfo",
    "analyze_quantization",
    "CameraInfo",
    "camera_info",
    "camera_evidence",
]

#: The IJG (libjpeg) reference luminance table at quality 50, natural (row-major) order.
IJG_LUMINANCE: tuple[int, ...] = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)
#: The IJG reference chrominance table at quality 50, natural order.
IJG_CHROMINANCE: tuple[int, ...] = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    *([99] * 32),
)
#: ``ZIGZAG[k]`` is the natural-order index of the k-th coefficient in zig-zag order.
ZIGZAG: tuple[int, ...] = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
)
_MAX_SCALE = 5000  # libjpeg's scale factor at quality 1


def quality_to_scale(quality: int) -> int:
    """libjpeg's ``jpeg_quality_scaling``: quality 1..100 → percentage scale factor.

    Examples
    --------
    >>> quality_to_scale(75), quality_to_scale(50), quality_to_scale(10), quality_to_scale(100)
    (50, 100, 500, 0)
    """
    q = min(max(int(quality), 1), 100)
    return 5000 // q if q < 50 else 200 - 2 * q


def ijg_table(quality: int, *, chroma: bool = False, baseline: bool = True) -> list[int]:
    """The table libjpeg writes at ``quality`` (natural order), as ``jpeg_set_quality`` does.

    Parameters
    ----------
    quality : 1..100.
    chroma : the chrominance table instead of the luminance one.
    baseline : clamp values to 255 (``force_baseline``, the default of cjpeg and Pillow).

    Examples
    --------
    >>> ijg_table(75)[:8]
    [8, 6, 5, 8, 12, 20, 26, 31]
    >>> set(ijg_table(100))
    {1}
    """
    return _scaled(quality_to_scale(quality), chroma, baseline)


def _scaled(scale: int, chroma: bool, baseline: bool) -> list[int]:
    base = IJG_CHROMINANCE if chroma else IJG_LUMINANCE
    hi = 255 if baseline else 32767
    return [min(max((b * scale + 50) // 100, 1), hi) for b in base]


@lru_cache(maxsize=1)
def _lookup() -> tuple[dict[bytes, list[int]], dict[bytes, list[int]], dict[int, int]]:
    """Every table libjpeg can write (scale factors 0..5000, baseline or not) → the scales that write it,
    and scale → quality.  Built once (~50 ms)."""
    scales = np.arange(0, _MAX_SCALE + 1, dtype=np.int64)[:, None]
    maps: list[dict[bytes, list[int]]] = []
    for base in (IJG_LUMINANCE, IJG_CHROMINANCE):
        raw = (np.asarray(base, np.int64)[None, :] * scales + 50) // 100
        m: dict[bytes, list[int]] = {}
        for hi in (255, 32767):
            tab = np.clip(raw, 1, hi).astype(np.int32)
            for s, row in enumerate(tab):
                lst = m.setdefault(row.tobytes(), [])
                if not lst or lst[-1] != s:
                    lst.append(s)
        maps.append(m)
    scale_to_q: dict[int, int] = {}
    for q in range(100, 0, -1):
        scale_to_q.setdefault(quality_to_scale(q), q)
    return maps[0], maps[1], scale_to_q


def jpeg_table_index() -> None:
    """Build (once per process) the index of libjpeg's quantization tables used to read a JPEG's quality."""
    _lookup()


def _key(values: Sequence[int]) -> bytes:
    return np.asarray(values, np.int32).tobytes()


@dataclass(frozen=True)
class QuantizationInfo:
    """What a JPEG's quantization tables say about the encoder.

    Parameters
    ----------
    standard : the tables are libjpeg's reference tables (at one scale factor).
    ijg_quality : the libjpeg quality 1..100 that writes exactly these tables, else ``None``.
    ijg_scale : libjpeg's percentage scale factor matching the tables (``None`` when not standard).
    estimated_quality : the libjpeg quality whose luminance table is closest (for any table).
    tables : how many tables the file defines.
    order : ``"natural"`` or ``"zigzag"``, the order in which the standard tables matched.
    """

    standard: bool
    ijg_quality: int | None
    ijg_scale: int | None
    estimated_quality: int
    tables: int
    order: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"standard": self.standard, "ijg_quality": self.ijg_quality, "ijg_scale": self.ijg_scale,
                "estimated_quality": self.estimated_quality, "tables": self.tables, "order": self.order}


def _estimate_quality(lum: Sequence[int]) -> int:
    """The libjpeg quality whose luminance table is closest: the median ratio to the base table
    gives the scale factor (entries clamped at 1 or 255 say little and are left out)."""
    t = np.asarray(lum, np.float64)
    base = np.asarray(IJG_LUMINANCE, np.float64)
    keep = (t > 1) & (t < 255)
    ratio = t[keep] / base[keep] if keep.any() else t / base
    s = 100.0 * float(np.median(ratio))
    q = (200.0 - s) / 2.0 if s <= 100.0 else 5000.0 / max(s, 1e-9)
    return int(min(max(round(q), 1), 100))


def analyze_quantization(tables: Mapping[int, Sequence[int]] | None) -> QuantizationInfo | None:
    """Match a JPEG's quantization tables against libjpeg's standard tables at every scale.

    Parameters
    ----------
    tables : ``ImageMetadata.jpeg_quantization`` (table id → 64 values); ``None`` for non-JPEGs.

    Returns
    -------
    QuantizationInfo or None

    Examples
    --------
    >>> info = analyze_quantization({0: ijg_table(75), 1: ijg_table(75, chroma=True)})
    >>> info.standard, info.ijg_quality
    (True, 75)
    >>> cam = [2, 1, 1, 2, 3, 5, 6, 7] + [3] * 56
    >>> analyze_quantization({0: cam, 1: cam}).standard
    False
    """
    if not tables:
        return None
    ids = sorted(tables)
    lum_t = [int(v) for v in tables[ids[0]]]
    if len(lum_t) != 64:
        return None
    chrom_ts = [[int(v) for v in tables[i]] for i in ids[1:] if len(tables[i]) == 64]
    lum_map, chrom_map, scale_to_q = _lookup()
    for order in ("natural", "zigzag"):
        if order == "natural":
            lt, cts = lum_t, chrom_ts
        else:  # values listed in zig-zag order: put them back in natural order
            lt = _unzigzag(lum_t)
            cts = [_unzigzag(c) for c in chrom_ts]
        lum_scales = lum_map.get(_key(lt))
        if not lum_scales:
            continue
        common = set(lum_scales)
        ok = True
        for ct in cts:
            cs = chrom_map.get(_key(ct))
            if not cs:
                ok = False
                break
            common &= set(cs)
        if not ok:
            continue
        candidates = sorted(common) if common else sorted(lum_scales)
        q = next((scale_to_q[s] for s in candidates if s in scale_to_q), None)
        scale = next((s for s in candidates if s in scale_to_q), candidates[0])
        return QuantizationInfo(standard=True, ijg_quality=q, ijg_scale=scale,
                                estimated_quality=q if q is not None else _estimate_quality(lt), tables=len(tables),
                                order=order)
    return QuantizationInfo(standard=False, ijg_quality=None, ijg_scale=None,
                            estimated_quality=_estimate_quality(lum_t), tables=len(tables))


def _unzigzag(values: Sequence[int]) -> list[int]:
    out = [0] * 64
    for k, idx in enumerate(ZIGZAG):
        out[idx] = int(values[k])
    return out


# --------------------------------------------------------------------------- EXIF camera settings

@dataclass(frozen=True)
class CameraInfo:
    """Capture settings found in EXIF and whether they look like a real camera's."""

    make: str | None
    model: str | None
    lens: str | None
    exposure_time: float | None
    f_number: float | None
    iso: int | None
    focal_length: float | None
    taken: str | None
    plausible: bool
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in (("make", self.make), ("model", self.model), ("lens", self.lens),
                               ("exposure_time", self.exposure_time), ("f_number", self.f_number),
                               ("iso", self.iso), ("focal_length", self.focal_length), ("taken", self.taken))
             if v is not None}
        d["plausible"] = self.plausible
        if self.problems:
            d["problems"] = list(self.problems)
        return d

    @property
    def present(self) -> bool:
        return bool(self.make or self.model)


def _text(v: Any) -> str | None:
    if isinstance(v, str):
        s = " ".join(v.split())
        return s if s and any(c.isalnum() for c in s) else None
    return None


def _number(v: Any) -> float | None:
    if isinstance(v, (list, tuple)):
        v = v[0] if v else None
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?\s*", v)
        if m:
            num = float(m.group(1))
            den = float(m.group(2)) if m.group(2) else 1.0
            return num / den if den else None
    return None


_DATE_RE = re.compile(r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def camera_info(exif: Mapping[str, Any]) -> CameraInfo:
    """Read and sanity-check the capture settings in EXIF.

    Plausible means: a make or model, and at least two of exposure time, aperture, ISO,
    focal length and original capture date present with values a camera could record.

    Examples
    --------
    >>> c = camera_info({"Make": "Canon", "Model": "Canon EOS R5", "ExposureTime": 0.004,
    ...                  "FNumber": 4.0, "ISOSpeedRatings": 200, "DateTimeOriginal": "2023:06:01 12:00:00"})
    >>> c.plausible, c.iso
    (True, 200)
    >>> camera_info({"Software": "GIMP"}).present
    False
    """
    make = _text(exif.get("Make"))
    model = _text(exif.get("Model"))
    lens = _text(exif.get("LensModel"))
    problems: list[str] = []
    et = _number(exif.get("ExposureTime"))
    if et is not None and not (0 < et <= 3600):
        problems.append(f"exposure time {et} s is impossible")
        et = None
    fn = _number(exif.get("FNumber"))
    if fn is not None and not (0.5 <= fn <= 128):
        problems.append(f"aperture f/{fn} is impossible")
        fn = None
    iso_raw = exif.get("ISOSpeedRatings", exif.get("PhotographicSensitivity"))
    iso_f = _number(iso_raw)
    iso = int(iso_f) if iso_f is not None else None
    if iso is not None and not (1 <= iso <= 10_000_000):
        problems.append(f"ISO {iso} is impossible")
        iso = None
    fl = _number(exif.get("FocalLength"))
    if fl is not None and not (0.5 <= fl <= 10_000):
        problems.append(f"focal length {fl} mm is impossible")
        fl = None
    taken = _text(exif.get("DateTimeOriginal"))
    if taken is not None:
        m = _DATE_RE.match(taken)
        if not m or not (1900 <= int(m.group(1)) <= 2100 and 1 <= int(m.group(2)) <= 12
                         and 1 <= int(m.group(3)) <= 31 and int(m.group(4)) < 24):
            problems.append(f"capture date {taken!r} is not a valid date")
            taken = None
    settings = sum(v is not None for v in (et, fn, iso, fl, taken))
    plausible = bool((make or model) and settings >= 2)
    return CameraInfo(make, model, lens, et, fn, iso, fl, taken, plausible, tuple(problems))


def _exposure_phrase(c: CameraInfo) -> str:
    parts = []
    name = " ".join(x for x in (c.make, c.model) if x)
    if c.make and c.model and c.model.lower().startswith(c.make.lower()):
        name = c.model
    parts.append(name)
    if c.exposure_time is not None:
        parts.append(f"1/{round(1 / c.exposure_time)} s" if c.exposure_time < 1 else f"{c.exposure_time:g} s")
    if c.f_number is not None:
        parts.append(f"f/{c.f_number:g}")
    if c.iso is not None:
        parts.append(f"ISO {c.iso}")
    if c.taken:
        parts.append(f"taken {c.taken}")
    return ", ".join(parts)


def camera_evidence(meta: ImageMetadata) -> tuple[list[Evidence], dict[str, Any]]:
    """Evidence from EXIF capture settings and (for JPEGs) the quantization tables.

    Parameters
    ----------
    meta : the sample's metadata.

    Returns
    -------
    (list of Evidence, dict)
        At most one camera item (weak toward real when plausible) and one quantization item
        (weight ``"none"``: the estimated quality and whether the tables are standard), and a
        report section.
    """
    cam = camera_info(meta.exif)
    q = analyze_quantization(meta.jpeg_quantization)
    report: dict[str, Any] = {"exif": cam.to_dict() if cam.present else None,
                              "quantization": q.to_dict() if q else None}
    evidence: list[Evidence] = []
    if cam.present:
        details: dict[str, Any] = cam.to_dict()
        if cam.plausible:
            vendor_tables = q is not None and not q.standard
            details["jpeg_tables"] = None if q is None else ("non-standard" if vendor_tables else "standard libjpeg")
            if vendor_tables:
                summary = (f"The file has consistent camera metadata ({_exposure_phrase(cam)}) and its JPEG "
                           "compression tables are not the standard libjpeg ones, as a camera's own encoder "
                           "writes: a weak hint toward a real photo (both can be copied).")
                score = 0.3
            else:
                summary = (f"The file has consistent camera metadata ({_exposure_phrase(cam)}): a weak hint "
                           "toward a real photo, since camera metadata can be copied or forged.")
                score = 0.35
            evidence.append(Evidence(source="camera", kind="provenance", score=score, weight="weak",
                                     summary=summary, details=details))
        else:
            why = ("but " + "; ".join(cam.problems)) if cam.problems else "but records no exposure settings"
            evidence.append(Evidence(
                source="camera", kind="provenance", score=0.5, weight="none",
                summary=(f"The file names a camera ({_exposure_phrase(cam)}) {why}, so the camera metadata "
                         "says nothing either way."),
                details=details))
    if q is not None:
        if q.standard:
            qual = (f"quality {q.ijg_quality}" if q.ijg_quality is not None
                    else f"scale factor {q.ijg_scale}% (about quality {q.estimated_quality})")
            summary = (f"The JPEG was saved with the standard libjpeg compression tables at {qual}, as most "
                       "software does: this says nothing either way.")
        else:
            summary = (f"The JPEG uses non-standard compression tables (about quality {q.estimated_quality}), "
                       "as cameras and some apps write: on its own this says nothing either way.")
        evidence.append(Evidence(source="jpeg-quantization", kind="provenance", score=0.5, weight="none",
                                 summary=summary, details=q.to_dict()))
    return evidence, report
