"""The self-contained HTML report of a scan.

One file, no network: inline CSS (``report.css``), inline JavaScript and markup
(``template.html``), charts drawn as inline SVG, thumbnails embedded as base64 JPEG
data URIs.  Every string that comes from a record (file names, metadata, evidence
details) is escaped, and the page carries a Content-Security-Policy that forbids
loading anything from outside it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import warnings
from collections import Counter
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from PIL import Image, ImageOps

from ..errors import UsageError
from ..types import EVIDENCE_KINDS, LABELS, ScanSummary

__all__ = [
    "render_html",
    "write_html_from_jsonl",
    "read_jsonl",
    "summarize_records",
    "summary_to_dict",
    "make_thumbnail",
    "histogram_svg",
    "MAX_THUMBNAILS",
    "LABEL_COLORS",
]

#: At most this many thumbnails are embedded in one report.
MAX_THUMBNAILS = 2000
#: Images with more pixels than this get no thumbnail (decoding them would be slow).
MAX_THUMBNAIL_SOURCE_PIXELS = 64_000_000

LABEL_COLORS: dict[str, str] = {
    "ai-generated": "#d62728",
    "real": "#2ca02c",
    "inconclusive": "#d4a000",
    "error": "#c2189b",
}

_MAX_TEXT = 2000  # longest string shown from evidence details
_MAX_ITEMS = 50  # longest list / dict shown from evidence details
_MAX_DEPTH = 4


def _esc(x: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape("" if x is None else str(x), quote=True)


def _num(x: Any) -> float | None:
    """A finite float, or ``None`` for anything else (records may come from a tampered file)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _unit(x: Any) -> float | None:
    f = _num(x)
    return None if f is None else min(1.0, max(0.0, f))


def _version() -> str:
    try:
        from fakescope import __version__  # type: ignore[attr-defined]
    except ImportError:
        return "unknown"
    return str(__version__)


# ---------------------------------------------------------------------------------------
# summaries
# ---------------------------------------------------------------------------------------
def summarize_records(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Recompute scan totals from records (when a scan's own summary is not at hand).

    Parameters
    ----------
    records : iterable of Mapping
        Verdict records.

    Returns
    -------
    dict
        The keys of :meth:`fakescope.types.ScanSummary.to_dict`, plus ``"estimated":
        True``: ``elapsed_s`` is the sum of the per-image ``elapsed_ms`` (the scan's wall
        time is not recorded per image), so ``images_per_s`` is a per-worker rate.

    Examples
    --------
    >>> s = summarize_records([{"status": "ok", "label": "real", "elapsed_ms": 500},
    ...                        {"status": "error", "elapsed_ms": 500}])
    >>> s["ok"], s["errors"], s["labels"]["real"], s["images_per_s"]
    (1, 1, 1, 2.0)
    """
    labels: dict[str, int] = {k: 0 for k in LABELS}
    ok = errors = 0
    elapsed_ms = 0.0
    detectors: set[str] = set()
    fprs: Counter[float] = Counter()
    for r in records:
        if r.get("status") == "ok":
            ok += 1
            label = str(r.get("label"))
            labels[label] = labels.get(label, 0) + 1
            for ev in r.get("evidence") or ():
                if isinstance(ev, Mapping) and ev.get("kind") == "detector":
                    detectors.add(str(ev.get("source")))
            fpr = _num(r.get("operating_fpr"))
            if fpr is not None:
                fprs[fpr] += 1
        else:
            errors += 1
        ms = _num(r.get("elapsed_ms"))
        if ms is not None:
            elapsed_ms += ms
    elapsed_s = elapsed_ms / 1000.0
    done = ok + errors
    return {
        "total": done,
        "ok": ok,
        "errors": errors,
        "skipped": 0,
        "labels": labels,
        "elapsed_s": round(elapsed_s, 3),
        "detectors": sorted(detectors),
        "operating_fpr": fprs.most_common(1)[0][0] if fprs else None,
        "images_per_s": round(done / elapsed_s, 2) if elapsed_s > 0 else 0.0,
        "estimated": True,
    }


def summary_to_dict(summary: ScanSummary | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A summary as a plain dict with ``images_per_s`` and every label present.

    Parameters
    ----------
    summary : ScanSummary or Mapping or None

    Returns
    -------
    dict or None
    """
    if summary is None:
        return None
    if isinstance(summary, ScanSummary):
        d = summary.to_dict()
    elif isinstance(summary, Mapping):
        d = dict(summary)
    else:
        raise UsageError(f"a summary must be a ScanSummary or a dict, got {type(summary).__name__}")
    labels = {k: 0 for k in LABELS}
    labels.update(d.get("labels") or {})
    d["labels"] = labels
    if "images_per_s" not in d:
        done = (d.get("ok") or 0) + (d.get("errors") or 0)
        el = _num(d.get("elapsed_s"))
        d["images_per_s"] = round(done / el, 2) if el else 0.0
    d["detectors"] = list(d.get("detectors") or [])
    return d


# ---------------------------------------------------------------------------------------
# thumbnails
# ---------------------------------------------------------------------------------------
def make_overlay(image_path: str | os.PathLike[str], map_path: str | os.PathLike[str], *, size: int = 160,
                 quality: int = 80) -> str | None:
    """A small JPEG ``data:`` URI of the image with its localization map laid over it in red (opacity
    0.65 x the map's value, 255 = manipulated), or None when either file cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(image_path) as im, Image.open(map_path) as mp:
                if im.width * im.height > MAX_THUMBNAIL_SOURCE_PIXELS:
                    return None
                im = ImageOps.exif_transpose(im)
                im.thumbnail((size, size), Image.Resampling.BILINEAR)
                base = im.convert("RGB")
                alpha = mp.convert("L").resize(base.size, Image.Resampling.BILINEAR).point(lambda v: int(v * 0.65))
                red = Image.new("RGB", base.size, (230, 20, 20))
                out = Image.composite(red, base, alpha)
                buf = io.BytesIO()
                out.save(buf, "JPEG", quality=quality)
    except Exception:  # noqa: BLE001 - an overlay is decoration: a bad file only costs it
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def make_thumbnail(path: str | os.PathLike[str], *, size: int = 160, quality: int = 80) -> tuple[str | None, str | None]:
    """A small JPEG of an image file as a ``data:`` URI.

    Parameters
    ----------
    path : path
        The image file.  Anything but a regular file (missing, a folder, a FIFO) is
        refused without being opened.
    size : int
        Longest side of the thumbnail in pixels.
    quality : int
        JPEG quality.

    Returns
    -------
    (uri, None) or (None, reason)
        The data URI, or why there is none (the report shows the reason on hover).

    Notes
    -----
    Decoding errors of any kind only cost the thumbnail: a report is never lost for a
    bad file.  Images above :data:`MAX_THUMBNAIL_SOURCE_PIXELS` pixels (or that Pillow
    flags as decompression bombs) are not decoded.
    """
    p = Path(path)
    try:
        if not p.is_file():
            return None, "file not found"
    except OSError as exc:  # e.g. a name too long for the file system
        return None, f"file not accessible: {exc}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                if im.width * im.height > MAX_THUMBNAIL_SOURCE_PIXELS:
                    return None, f"image too large for a thumbnail ({im.width}x{im.height})"
                im.draft("RGB", (2 * size, 2 * size))  # JPEG: decode at reduced scale
                im = ImageOps.exif_transpose(im)
                im.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    rgba = im.convert("RGBA")
                    rgb = Image.new("RGB", rgba.size, (255, 255, 255))
                    rgb.paste(rgba, mask=rgba.getchannel("A"))
                elif im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                    arr = im.convert("F")
                    lo, hi = arr.getextrema()
                    scale = 255.0 / (hi - lo) if hi > lo else 1.0
                    rgb = arr.point(lambda v: (v - lo) * scale).convert("L").convert("RGB")
                else:
                    rgb = im.convert("RGB")
                buf = io.BytesIO()
                rgb.save(buf, "JPEG", quality=quality, optimize=True)
    except Exception as exc:  # noqa: BLE001 - any decoder failure only costs the thumbnail
        return None, f"no preview: {type(exc).__name__}: {exc}"
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), None


def _resolve(path: Any, bases: Sequence[Path]) -> Path | None:
    if not isinstance(path, str) or not path:
        return None
    p = Path(path)
    try:
        if p.is_absolute() or p.exists():
            return p
    except OSError:
        return p
    for base in bases:
        cand = base / p
        try:
            if cand.exists():
                return cand
        except OSError:
            continue
    return p


# ---------------------------------------------------------------------------------------
# SVG
# ---------------------------------------------------------------------------------------
def histogram_svg(
    records: Sequence[Mapping[str, Any]],
    threshold: float | None = None,
    *,
    bins: int = 20,
    width: int = 640,
    height: int = 220,
) -> str:
    """Histogram of ``p_fake`` as inline SVG, bars stacked by label, with the threshold line.

    Parameters
    ----------
    records : sequence of Mapping
        Verdict records; those with status ``"ok"`` and a numeric ``p_fake`` are counted.
    threshold : float or None
        Decision threshold drawn as a dashed vertical line.
    bins : int
        Number of equal-width bins on [0, 1].
    width, height : int
        Size of the drawing in pixels.

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    counts = [{k: 0 for k in LABELS} for _ in range(bins)]
    n = 0
    for r in records:
        if r.get("status") != "ok":
            continue
        p = _unit(r.get("p_fake"))
        if p is None:
            continue
        b = min(bins - 1, int(p * bins))
        label = r.get("label") if r.get("label") in LABELS else "inconclusive"
        counts[b][label] += 1
        n += 1
    ml, mr, mt, mb = 44, 12, 14, 40
    pw, ph = width - ml - mr, height - mt - mb
    ymax = max((sum(c.values()) for c in counts), default=0)
    ymax = max(ymax, 1)
    out = [
        f'<svg class="hist" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="Histogram of p_fake over {n} images">',
        f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" class="plot"/>',
    ]
    # y grid and ticks
    for val in sorted({0, ymax // 2, ymax}):
        y = mt + ph - val / ymax * ph
        lab = str(val)
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{ml - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{lab}</text>')
    # bars
    bw = pw / bins
    for i, c in enumerate(counts):
        y0 = mt + ph
        for label in ("real", "inconclusive", "ai-generated"):
            k = c[label]
            if not k:
                continue
            h = k / ymax * ph
            y0 -= h
            lo, hi = i / bins, (i + 1) / bins
            out.append(
                f'<rect x="{ml + i * bw + 1:.1f}" y="{y0:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" '
                f'fill="{LABEL_COLORS[label]}" class="bar" data-label="{label}">'
                f"<title>p_fake {lo:.2f}–{hi:.2f}: {k} {label}</title></rect>"
            )
    # x ticks
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = ml + t * pw
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt + ph}" y2="{mt + ph + 4}" class="axis"/>')
        out.append(f'<text x="{x:.1f}" y="{mt + ph + 16}" text-anchor="middle" class="tick">{t:g}</text>')
    out.append(
        f'<text x="{ml + pw / 2:.1f}" y="{height - 6}" text-anchor="middle" class="axis-label">'
        "p_fake (calibrated probability of AI generation)</text>"
    )
    out.append(
        f'<text x="12" y="{mt + ph / 2:.1f}" text-anchor="middle" class="axis-label" '
        f'transform="rotate(-90 12 {mt + ph / 2:.1f})">images</text>'
    )
    thr = _unit(threshold)
    if thr is not None:
        x = ml + thr * pw
        anchor = "end" if thr > 0.8 else "start"
        dx = -4 if thr > 0.8 else 4
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt}" y2="{mt + ph}" class="threshold">'
            f"<title>decision threshold {thr:.3f}</title></line>"
        )
        out.append(
            f'<text x="{x + dx:.1f}" y="{mt + 12}" text-anchor="{anchor}" class="threshold-label">'
            f"threshold {thr:.2f}</text>"
        )
    if n == 0:
        out.append(
            f'<text x="{ml + pw / 2:.1f}" y="{mt + ph / 2:.1f}" text-anchor="middle" class="empty">'
            "no scored images</text>"
        )
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------------------------------
# HTML pieces
# ---------------------------------------------------------------------------------------
def _fmt_value(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    s = str(v)
    return s if len(s) <= _MAX_TEXT else s[:_MAX_TEXT] + f"… ({len(s) - _MAX_TEXT} more characters)"


def _render_value(v: Any, depth: int = 0) -> str:
    """Details of an evidence item as nested key/value lists (all text escaped)."""
    if isinstance(v, Mapping):
        if not v:
            return '<span class="muted">{}</span>'
        if depth >= _MAX_DEPTH:
            return f"<code>{_esc(_fmt_value(json.dumps(v, default=str)))}</code>"
        items = list(v.items())
        parts = ['<dl class="kv">']
        for k, val in items[:_MAX_ITEMS]:
            parts.append(f"<dt>{_esc(k)}</dt><dd>{_render_value(val, depth + 1)}</dd>")
        if len(items) > _MAX_ITEMS:
            parts.append(f'<dt class="muted">…</dt><dd class="muted">{len(items) - _MAX_ITEMS} more</dd>')
        parts.append("</dl>")
        return "".join(parts)
    if isinstance(v, (list, tuple)):
        if not v:
            return '<span class="muted">[]</span>'
        if all(not isinstance(x, (Mapping, list, tuple)) for x in v):
            shown = ", ".join(_fmt_value(x) for x in v[:_MAX_ITEMS])
            more = f" … ({len(v) - _MAX_ITEMS} more)" if len(v) > _MAX_ITEMS else ""
            return f"<span>{_esc(shown + more)}</span>"
        if depth >= _MAX_DEPTH:
            return f"<code>{_esc(_fmt_value(json.dumps(v, default=str)))}</code>"
        parts = ['<ol class="kv-list">']
        for x in v[:_MAX_ITEMS]:
            parts.append(f"<li>{_render_value(x, depth + 1)}</li>")
        if len(v) > _MAX_ITEMS:
            parts.append(f'<li class="muted">… {len(v) - _MAX_ITEMS} more</li>')
        parts.append("</ol>")
        return "".join(parts)
    return f"<span>{_esc(_fmt_value(v))}</span>"


def _score_bar(score: float | None, cls: str, threshold: float | None = None) -> str:
    if score is None:
        return '<span class="muted">—</span>'
    thr = ""
    if threshold is not None:
        thr = f'<i class="thr" style="left:{100 * threshold:.1f}%" title="threshold {threshold:.3f}"></i>'
    return (
        f'<span class="pbar"><span class="fill {cls}" style="width:{100 * score:.1f}%"></span>{thr}</span>'
        f'<span class="num">{score:.3f}</span>'
    )


def _score_class(score: float | None) -> str:
    if score is None:
        return "neutral"
    if score >= 0.6:
        return "ai"
    if score <= 0.4:
        return "real"
    return "neutral"


def _label_class(label: str) -> str:
    return {"ai-generated": "ai", "real": "real", "inconclusive": "inc"}.get(label, "other")


def _c2pa_panel(d: Mapping[str, Any]) -> str:
    """Content Credentials in words: state, who signed and who vouches, the trust list, failing ingredients."""
    if "state" not in d or not d.get("present", True) or d.get("error") or d.get("installed") is False:
        return ""
    rows: list[tuple[str, str, str]] = []
    state = str(d.get("state_in_words") or ("valid" if d.get("valid") else "invalid"))
    rows.append(("state", state, "ok" if d.get("valid") and not d.get("ingredient_failures") else "bad"))
    if d.get("trust_in_words"):
        rows.append(("signer", str(d["trust_in_words"]), "ok" if d.get("trusted") else "warn"))
    if d.get("self_declared"):
        rows.append(("declaration", "self-declared: the file says so about itself, and no trusted authority "
                                    "vouches for its signer", "warn"))
    for f in d.get("ingredient_failures") or []:
        if isinstance(f, Mapping):
            rows.append(("ingredient", f"{f.get('ingredient')} carries credentials that fail validation: "
                                       f"{f.get('words')} ({f.get('code')})", "bad"))
    tl = d.get("trust_list")
    if isinstance(tl, Mapping):
        txt = f"{tl.get('name')} of {tl.get('date') or 'unknown date'}, {tl.get('certificates')} certificates, " \
              f"sha256 {str(tl.get('sha256', ''))[:16]}…"
        if tl.get("warning"):
            txt += f" — {tl['warning']}"
        rows.append(("trust list", txt, "warn" if tl.get("warning") else ""))
    elif "trust_list" in d:
        rows.append(("trust list", "none (--c2pa-trust none)", "warn"))
    body = "".join(f'<dt>{_esc(k)}</dt><dd class="{cls}">{_esc(v)}</dd>' for k, v, cls in rows)
    return f'<dl class="kv c2pa-panel"><dt class="c2pa-title">Content Credentials</dt><dd></dd>{body}</dl>'


def _evidence_html(evidence: Any) -> str:
    items = [e for e in (evidence or ()) if isinstance(e, Mapping)]
    if not items:
        return '<span class="muted">no evidence</span>'
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for e in items:
        groups.setdefault(str(e.get("kind", "other")), []).append(e)
    order = [k for k in EVIDENCE_KINDS if k in groups] + sorted(k for k in groups if k not in EVIDENCE_KINDS)
    strongest = max(items, key=lambda e: abs((_unit(e.get("score")) or 0.5) - 0.5))
    s = _unit(strongest.get("score"))
    head = f"{len(items)} item{'s' if len(items) != 1 else ''} · top: {strongest.get('source', '?')}"
    if s is not None:
        head += f" {s:.2f}"
    parts = [f'<details class="evidence"><summary>{_esc(head)}</summary>']
    for kind in order:
        parts.append(f'<section class="kind kind-{_esc(re.sub(r"[^a-z0-9-]", "", kind.lower()))}">')
        parts.append(f"<h4>{_esc(kind)}</h4><ul>")
        for e in groups[kind]:
            score = _unit(e.get("score"))
            parts.append("<li>")
            parts.append(
                f'<div class="ev-head"><b>{_esc(e.get("source", "?"))}</b> '
                f'{_score_bar(score, _score_class(score))} '
                f'<span class="weight" title="weight in fusion">{_esc(e.get("weight", ""))}</span></div>'
            )
            if e.get("summary"):
                parts.append(f'<p class="ev-summary">{_esc(e.get("summary"))}</p>')
            if e.get("source") == "c2pa" and isinstance(e.get("details"), Mapping):
                parts.append(_c2pa_panel(e["details"]))
            details = e.get("details")
            if isinstance(details, Mapping) and details:
                parts.append(_render_value(details))
            parts.append("</li>")
        parts.append("</ul></section>")
    parts.append("</details>")
    return "".join(parts)


def _summary_cards(summary: Mapping[str, Any], threshold: float | None,
                   thresholds: Mapping[float, int] | None = None) -> str:
    labels = summary.get("labels") or {}
    cards = [
        ("inputs", str(summary.get("total", 0)), ""),
        ("ai-generated", str(labels.get("ai-generated", 0)), "ai"),
        ("real", str(labels.get("real", 0)), "real"),
        ("inconclusive", str(labels.get("inconclusive", 0)), "inc"),
        ("errors", str(summary.get("errors", 0)), "err"),
    ]
    for k, v in labels.items():
        if k not in LABELS:
            cards.append((str(k), str(v), "other"))
    skipped = summary.get("skipped") or 0
    if skipped:
        cards.append(("skipped", str(skipped), ""))
    ips = _num(summary.get("images_per_s"))
    speed = f"{ips:.2f}" if ips is not None else "n/a"
    cards.append(("images/s" + (" (est.)" if summary.get("estimated") else ""), speed, ""))
    fpr = _num(summary.get("operating_fpr"))
    cards.append(("operating FPR", f"{100 * fpr:g}%" if fpr is not None else "n/a", ""))
    if threshold is not None:
        cards.append(("threshold" + (" (most images)" if len(thresholds or {}) > 1 else ""), f"{threshold:.3f}", ""))
    out = ['<div class="cards">']
    for name, value, cls in cards:
        out.append(f'<div class="card {cls}"><div class="v">{_esc(value)}</div><div class="k">{_esc(name)}</div></div>')
    out.append("</div>")
    detectors = [str(d) for d in summary.get("detectors") or []]
    out.append(
        '<p class="meta">detectors: '
        + (", ".join(f"<code>{_esc(d)}</code>" for d in detectors) if detectors else '<span class="muted">none</span>')
    )
    el = _num(summary.get("elapsed_s"))
    if el is not None:
        out.append(f" · elapsed {el:.1f} s" + (" (sum of per-image times)" if summary.get("estimated") else ""))
    if fpr is not None:
        out.append(
            f" · at the operating point at most {100 * fpr:g}% of held-out real photos were flagged as ai-generated"
        )
    out.append("</p>")
    if thresholds and len(thresholds) > 1:  # thumbnails and some compressions have thresholds of their own
        parts = " · ".join(f"{t:.3f} for {n} image{'s' if n != 1 else ''}" for t, n in sorted(thresholds.items()))
        out.append(f'<p class="meta">thresholds differ by image size and compression (each row marks its own): '
                   f"{_esc(parts)}</p>")
    return "".join(out)


def _row_html(r: Mapping[str, Any], thumb: tuple[str | None, str | None], heat: str | None,
              timeline: str = "") -> str:
    path = str(r.get("path", ""))
    label = str(r.get("label"))
    p = _unit(r.get("p_fake"))
    thr = _unit(r.get("threshold"))
    gen = r.get("generator") if isinstance(r.get("generator"), Mapping) else None
    gen_name = str(gen.get("name", "")) if gen else ""
    gen_conf = _unit(gen.get("confidence")) if gen else None
    ms = _num(r.get("elapsed_ms"))
    expl = r.get("explanation") or ""
    search = " ".join([path, label, gen_name, str(expl)]).lower()
    uri, why = thumb
    w, h = r.get("width"), r.get("height")
    tiny = _num(w) is not None and _num(h) is not None and max(float(w), float(h)) <= 64  # type: ignore[arg-type]
    if uri:
        cls = "thumb pixel" if tiny else "thumb"  # a 32-px image drawn large, its pixels kept sharp
        img = f'<img class="{cls}" src="{uri}" alt="thumbnail of {_esc(os.path.basename(path))}" loading="lazy">'
    else:  # say why in the page, not only on hover (a moved or deleted file, a disabled preview)
        img = (f'<span class="nothumb" title="{_esc(why or "")}">no preview'
               f'<br><small>{_esc(why or "")}</small></span>')
    dims = f"{w}×{h}" if _num(w) is not None and _num(h) is not None else ""
    fmt = r.get("format") or ""
    sub = " · ".join(x for x in (_esc(fmt), _esc(dims)) if x)
    gen_html = '<span class="muted">—</span>'
    if gen:
        gen_html = f"{_esc(gen_name)}"
        if gen.get("family"):
            gen_html += f'<div class="sub">{_esc(gen.get("family"))}</div>'
        if gen_conf is not None:
            gen_html += f'<div class="sub">confidence {gen_conf:.2f}</div>'
    heat_html = ""
    if heat:
        heat_html = (f'<div class="heatmap"><img src="{heat}" alt="localization map over the image">'
                     '<div class="sub">edited regions (red)</div></div>')
    return (
        f'<tr data-label="{_esc(label)}" data-p="{p if p is not None else -1}" data-file="{_esc(path.lower())}" '
        f'data-gen="{_esc(gen_name.lower())}" data-ms="{ms if ms is not None else -1}" data-search="{_esc(search)}">'
        f"<td>{img}</td>"
        f'<td class="file"><div class="path" title="{_esc(path)}">{_esc(path)}</div><div class="sub">{sub}</div>'
        f'<div class="sub hash" title="sha256">{_esc(r.get("sha256") or "")}</div></td>'
        f'<td><span class="badge {_label_class(label)}">{_esc(label)}</span></td>'
        f'<td class="p">{_score_bar(p, _label_class(label), thr)}</td>'
        f"<td>{gen_html}</td>"
        f'<td class="expl">{_esc(expl)}{timeline}</td>'
        f"<td>{_evidence_html(r.get('evidence'))}{heat_html}</td>"
        f'<td class="ms">{f"{ms:.0f}" if ms is not None else ""}</td>'
        "</tr>"
    )


def _errors_html(errors: Sequence[Mapping[str, Any]]) -> str:
    if not errors:
        return '<p class="muted">Every input was read.</p>'
    out = [
        '<table class="errors"><thead><tr><th>file</th><th>error type</th><th>message</th></tr></thead><tbody>'
    ]
    for r in errors:
        out.append(
            f'<tr><td class="path">{_esc(r.get("path", ""))}</td><td><code>{_esc(r.get("error_type") or "")}</code></td>'
            f"<td>{_esc(r.get('error') or '')}</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _load_asset(name: str) -> str:
    return resources.files("fakescope.report").joinpath(name).read_text(encoding="utf-8")


def render_html(
    records: Iterable[Mapping[str, Any]],
    summary: ScanSummary | Mapping[str, Any] | None = None,
    *,
    title: str = "fakescope report",
    thumbnails: bool = True,
    max_thumbnails: int = MAX_THUMBNAILS,
    thumb_size: int = 160,
    heatmap_dir: str | os.PathLike[str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    notices: Sequence[str] = (),
) -> str:
    """Render a scan as one self-contained HTML page.

    Parameters
    ----------
    records : iterable of Mapping
        Verdict records (``Verdict.to_dict()``), ``"ok"`` and ``"error"``.
    summary : ScanSummary or Mapping or None
        The scan's totals; ``None`` recomputes them from ``records``.
    title : str
        Page title.
    thumbnails : bool
        Embed a thumbnail of each image, made by re-opening its file.
    max_thumbnails : int
        Embed thumbnails for the first this many images only.
    thumb_size : int
        Longest side of a thumbnail in pixels.
    heatmap_dir : path or None
        Folder against which relative ``heatmap`` paths are resolved.
    base_dir : path or None
        Folder against which relative image paths are resolved when they do not exist
        relative to the working directory (e.g. the folder of a JSONL file).
    notices : sequence of str
        Lines shown at the top of the report (e.g. unreadable lines of a JSONL file).

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> page = render_html([{"path": "<a>.png", "status": "error", "error": "empty file",
    ...                      "error_type": "EmptyFileError", "elapsed_ms": 1.0}], title="t")
    >>> "&lt;a&gt;.png" in page and "<a>.png" not in page
    True
    """
    recs = [r for r in records if isinstance(r, Mapping)]
    sdict = summary_to_dict(summary) if summary is not None else summarize_records(recs)
    assert sdict is not None
    ok = [r for r in recs if r.get("status") == "ok"]
    errors = [r for r in recs if r.get("status") != "ok"]
    thresholds = Counter(t for t in (_unit(r.get("threshold")) for r in ok) if t is not None)
    threshold = thresholds.most_common(1)[0][0] if thresholds else None

    notes = list(notices)
    path_bases = [Path(base_dir)] if base_dir is not None else []
    heat_bases = [Path(heatmap_dir)] if heatmap_dir is not None else []
    heat_bases += path_bases
    n_thumbs = 0
    rows = []
    for r in ok:
        thumb: tuple[str | None, str | None] = (None, "thumbnails disabled")
        heat: str | None = None
        if r.get("media") == "video":  # a video: its first frame, and the timeline strip
            from .timeline import timeline_html, video_thumbnails

            strip: list[tuple[float, str]] = []
            thumb = (None, "thumbnails disabled")
            if thumbnails and n_thumbs < max_thumbnails:
                target = _resolve(r.get("path"), path_bases)
                strip, why = (video_thumbnails(target, float(r.get("duration_s") or 0.0))
                              if target is not None else ([], "no path"))
                thumb = (strip[0][1], None) if strip else (None, why)
                n_thumbs += 1
            rows.append(_row_html(r, thumb, None, timeline_html(r, strip)))
            continue
        if thumbnails and n_thumbs < max_thumbnails:
            target = _resolve(r.get("path"), path_bases)
            thumb = make_thumbnail(target, size=thumb_size) if target is not None else (None, "no path")
            n_thumbs += 1
            hp = _resolve(r.get("heatmap"), heat_bases)
            if hp is not None:  # the map over the image in red; the bare map when the image is gone
                heat = make_overlay(target, hp, size=thumb_size) if target is not None else None
                if heat is None:
                    heat, _ = make_thumbnail(hp, size=thumb_size)
        elif thumbnails:
            thumb = (None, f"only the first {max_thumbnails} images get a thumbnail")
        rows.append(_row_html(r, thumb, heat))
    if thumbnails and len(ok) > max_thumbnails:
        notes.append(
            f"Thumbnails are embedded for the first {max_thumbnails} of {len(ok)} images only, to keep the file small."
        )

    version = _version()
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body: list[str] = []
    body.append(f"<header><h1>{_esc(title)}</h1>")
    body.append(f'<p class="meta">generated {generated} by fakescope {_esc(version)}</p>')
    body.append(_summary_cards(sdict, threshold, thresholds))
    body.append("</header>")
    if notes:
        body.append('<section class="notices">' + "".join(f"<p>{_esc(n)}</p>" for n in notes) + "</section>")
    body.append('<section class="chart"><h2>Distribution of p_fake</h2>')
    body.append(histogram_svg(ok, threshold))
    body.append(
        '<p class="legend">'
        + " ".join(
            f'<span class="swatch" style="background:{LABEL_COLORS[k]}"></span>{_esc(k)}'
            for k in ("ai-generated", "inconclusive", "real")
        )
        + (" · dashed line: decision threshold" if threshold is not None else "")
        + "</p></section>"
    )
    body.append(f'<section class="results"><h2>Results <span class="muted" id="shown">{len(ok)} images</span></h2>')
    body.append('<div class="controls"><input type="search" id="q" placeholder="filter by file, generator, explanation…">')
    for k in (*LABELS, *sorted({str(r.get("label")) for r in ok} - set(LABELS))):
        n = sum(1 for r in ok if str(r.get("label")) == k)
        body.append(
            f'<label class="flt {_label_class(k)}"><input type="checkbox" class="lbl" value="{_esc(k)}" checked> '
            f"{_esc(k)} ({n})</label>"
        )
    body.append('<button type="button" id="toggle-evidence" data-open="0">expand all evidence</button></div>')
    body.append(
        '<table id="results"><thead><tr><th>image</th>'
        '<th data-key="file" class="sortable">file</th>'
        '<th data-key="label" class="sortable">label</th>'
        '<th data-key="p" data-num="1" class="sortable">p_fake</th>'
        '<th data-key="gen" class="sortable">generator</th>'
        "<th>explanation</th><th>evidence</th>"
        '<th data-key="ms" data-num="1" class="sortable">ms</th></tr></thead><tbody>'
    )
    body.extend(rows)
    body.append("</tbody></table>")
    if not ok:
        body.append('<p class="muted">No image was scored.</p>')
    body.append("</section>")
    body.append(f'<section class="errors-section"><h2>Errors ({len(errors)})</h2>')
    body.append(_errors_html(errors))
    body.append("</section>")
    body.append(
        '<footer><p><b>p_fake</b> is a calibrated probability that the image is AI-generated; '
        "<b>ai-generated</b> means p_fake is at or above the threshold chosen so that at most the operating "
        "FPR of held-out real photos are flagged; <b>inconclusive</b> is the band between the “real” and the "
        "“fake” thresholds. Evidence scores are each item's own probability of AI generation (0.5 says nothing). "
        "A detector can be wrong: treat a verdict as one signal among others.</p></footer>"
    )

    parts = {"CSS": _load_asset("report.css"), "TITLE": _esc(title), "BODY": "".join(body)}
    template = _load_asset("template.html")
    return re.sub(r"@@(CSS|TITLE|BODY)@@", lambda m: parts[m.group(1)], template)


# ---------------------------------------------------------------------------------------
# from a JSONL file
# ---------------------------------------------------------------------------------------
def read_jsonl(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], list[int]]:
    """Read the records of a JSONL results file.

    Parameters
    ----------
    path : path
        A file written by ``fakescope scan --format jsonl``.

    Returns
    -------
    records : list of dict
        Every line that is a JSON object.
    bad_lines : list of int
        1-based numbers of the non-empty lines that are not (e.g. the last line of a
        scan that was killed while writing it).

    Raises
    ------
    UsageError
        If the file does not exist or is not a file.
    """
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"no such results file: {str(p)!r}")
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    with open(p, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                bad.append(i)
                continue
            if isinstance(obj, dict):
                records.append(obj)
            else:
                bad.append(i)
    return records, bad


def write_html_from_jsonl(
    jsonl_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    title: str | None = None,
    thumbnails: bool = True,
    heatmap_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Build the HTML report of a finished (or interrupted) JSONL scan.

    The summary is recomputed from the records; timings are then the sum of the
    per-image times.  Lines that are not JSON objects are left out and listed at the
    top of the report.  Relative image paths are looked up from the working directory,
    then from the JSONL file's folder.

    Parameters
    ----------
    jsonl_path : path
        Results written by ``fakescope scan --format jsonl``.
    out_path : path
        The HTML file to write.
    title : str or None
        Report title (default: ``"fakescope report: <file name>"``).
    thumbnails : bool
        Embed thumbnails.
    heatmap_dir : path or None
        Folder of the heatmaps referenced by records.

    Returns
    -------
    pathlib.Path
        ``out_path``.
    """
    src = Path(jsonl_path)
    records, bad = read_jsonl(src)
    notices = []
    if bad:
        shown = ", ".join(str(i) for i in bad[:10]) + (" …" if len(bad) > 10 else "")
        notices.append(
            f"{len(bad)} line{'s' if len(bad) != 1 else ''} of {src.name} could not be read as a record "
            f"and {'are' if len(bad) != 1 else 'is'} not shown (line {shown})."
        )
    page = render_html(
        records,
        None,
        title=title or f"fakescope report: {src.name}",
        thumbnails=thumbnails,
        heatmap_dir=heatmap_dir,
        base_dir=src.resolve().parent,
        notices=notices,
    )
    out = Path(out_path)
    if out.is_dir():
        raise UsageError(f"output {str(out)!r} is a directory, not a file")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(page)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
