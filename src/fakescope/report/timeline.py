"""The HTML report's timeline strip for a video: thumbnails along the clip, the frames' p_fake and the segments.

The verdict record carries the sampled frames' times and probabilities and the segments; thumbnails are made
by re-opening the video (as image thumbnails re-open the image), so a report of a moved file still shows
the strip, without pictures.
"""

from __future__ import annotations

import base64
import io
import os
from html import escape
from typing import Any, Mapping, Sequence

__all__ = ["video_thumbnails", "timeline_html", "MAX_STRIP_THUMBS"]

MAX_STRIP_THUMBS = 8


def video_thumbnails(path: str | os.PathLike[str], duration_s: float, *, n: int = MAX_STRIP_THUMBS,
                     size: int = 96) -> tuple[list[tuple[float, str]], str | None]:
    """Up to ``n`` JPEG ``data:`` URIs of frames spread over the clip, with their times; or ``([], reason)``.
    Any failure only costs the pictures."""
    try:
        from PIL import Image

        from ..io.video import Sampling, VideoLimits, load_video

        rate = max(1e-3, n / max(duration_s, 1e-3))
        video = load_video(path, sampling=Sampling(fps=rate), limits=VideoLimits(max_duration_s=4 * 3600.0),
                           keep_bytes=False)
        out = []
        for fr in video.frames[:n]:
            im = Image.fromarray(fr.image)
            im.thumbnail((size, size), Image.Resampling.BILINEAR)
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=75)
            out.append((fr.t_s, "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")))
        return out, None
    except Exception as exc:  # noqa: BLE001 - a report is never lost for a bad or missing video
        return [], f"no preview: {type(exc).__name__}: {exc}"


def timeline_html(record: Mapping[str, Any], thumbs: Sequence[tuple[float, str]] = (), *, width: int = 480,
                  height: int = 48) -> str:
    """The strip: thumbnails above an SVG of the frames' p_fake (bars) with the segments shaded red and the
    video threshold dashed.

    >>> html = timeline_html({"duration_s": 4.0, "frames": [{"t_s": 0.0, "p_fake": 0.1}, {"t_s": 2.0, "p_fake": 0.9}],
    ...                       "segments": [{"start_s": 2.0, "end_s": 4.0, "score": 0.9}], "threshold": 0.5})
    >>> "timeline" in html and "2.0-4.0 s" in html
    True
    """
    dur = float(record.get("duration_s") or 0.0)
    frames = [f for f in record.get("frames") or [] if isinstance(f, Mapping)]
    if dur <= 0 and frames:
        dur = float(frames[-1].get("t_s", 0.0)) + 0.5
    dur = max(dur, 1e-3)
    segs = [s for s in record.get("segments") or [] if isinstance(s, Mapping)]

    def x(t: float) -> float:
        return round(max(0.0, min(1.0, t / dur)) * width, 2)

    parts = [f'<svg class="timeline-svg" width="100%" height="{height}" viewBox="0 0 {width} {height}" '
             f'preserveAspectRatio="none" style="max-width:{width}px;display:block" '
             f'role="img" aria-label="frame p_fake over time">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f4f4f4"/>']
    for s in segs:
        a, b = x(float(s.get("start_s", 0))), x(float(s.get("end_s", 0)))
        parts.append(f'<rect x="{a}" y="0" width="{max(1.0, b - a):.2f}" height="{height}" fill="#e5484d" '
                     f'fill-opacity="0.25"><title>{float(s.get("start_s", 0)):.1f}-{float(s.get("end_s", 0)):.1f} s, '
                     f'score {float(s.get("score", 0)):.2f}</title></rect>')
    bw = max(1.0, width / max(1, len(frames)) * 0.6)
    for f in frames:
        p = float(f.get("p_fake") or 0.0)
        hgt = round(p * (height - 2), 2)
        col = "#e5484d" if p >= 0.5 else "#30a46c"
        parts.append(f'<rect x="{x(float(f.get("t_s", 0))):.2f}" y="{height - hgt:.2f}" width="{bw:.2f}" '
                     f'height="{hgt}" fill="{col}"><title>{float(f.get("t_s", 0)):.2f} s: p_fake {p:.3f}</title></rect>')
    thr = record.get("threshold")
    if isinstance(thr, (int, float)):
        y = round(height - float(thr) * (height - 2), 2)
        parts.append(f'<line x1="0" x2="{width}" y1="{y}" y2="{y}" stroke="#555" stroke-dasharray="3 3"/>')
    parts.append("</svg>")
    strip = ""
    if thumbs:
        imgs = "".join(f'<figure style="margin:0;text-align:center"><img src="{uri}" alt="frame at {t:.1f} s" '
                       f'style="height:40px;display:block"><figcaption class="sub">{t:.1f} s</figcaption></figure>'
                       for t, uri in thumbs)
        strip = f'<div class="timeline-thumbs" style="display:flex;gap:2px;overflow-x:auto">{imgs}</div>'
    words = ", ".join(f"{float(s.get('start_s', 0)):.1f}-{float(s.get('end_s', 0)):.1f} s" for s in segs) \
        or "no segment looks generated"
    return (f'<div class="timeline" style="margin-top:6px">{strip}{"".join(parts)}'
            f'<div class="sub">{escape(f"{len(frames)} frames over {dur:.1f} s; segments: {words}")}</div></div>')
