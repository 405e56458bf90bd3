"""Benchmark reports: ``report.json`` (machine), ``report.md`` (pasteable tables), ``report.html`` (one file).

The HTML page is self-contained: inline CSS (the scan report's stylesheet plus a few rules),
plots as base64 PNG drawn with matplotlib's object API (no pyplot, no global backend
switch), and a Content-Security-Policy that forbids loading anything.  matplotlib is the
optional ``bench`` extra: without it :func:`write_html` raises
:class:`~fakescope.errors.MissingDependencyError` (JSON and Markdown need nothing).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from ..errors import MissingDependencyError, UsageError

__all__ = ["write_json", "write_markdown", "write_html", "render_markdown", "render_html", "render_figure",
           "format_cell", "FIGURE_KINDS"]

#: The figure kinds :func:`render_figure` draws.
FIGURE_KINDS = ("roc", "panels", "heatmap", "lines", "bars", "reliability", "fpr")


def format_cell(v: Any) -> str:
    """A table cell as text: floats with 3 decimals, None as an en dash.

    >>> format_cell(0.12345), format_cell(None), format_cell(7), format_cell("a|b")
    ('0.123', '–', '7', 'a\\\\|b')
    """
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "–" if not math.isfinite(v) else f"{v:.3f}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def write_json(report: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the report as indented JSON (``allow_nan=False``: non-finite numbers are already None)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, allow_nan=False)
        f.write("\n")


def _short(h: Any, n: int = 12) -> str:
    return str(h)[:n] if h else "–"


def _header_lines(r: Mapping[str, Any]) -> list[str]:
    ds = r.get("dataset", {})
    out = [f"- fakescope {r.get('fakescope_version')} · protocol `{r.get('protocol')}` · {r.get('created')} · "
           f"seed {r.get('seed')}"]
    if r.get("config_file"):
        out.append(f"- config: `{os.path.basename(str(r['config_file']))}`")
    out.append(f"- dataset: {ds.get('name')} ({ds.get('layout')}), {ds.get('n_items')} images "
               f"({ds.get('n_real')} real, {ds.get('n_fake')} AI-generated); manifest sha256 "
               f"`{_short(ds.get('manifest_hash'), 16)}`; filters {json.dumps(ds.get('filters', {}))}")
    dets = ", ".join(f"{d['name']} (weights sha256 `{_short(d.get('sha256'))}`)" for d in r.get("detectors", []))
    out.append(f"- detectors: {dets}")
    fu = r.get("fusion")
    if fu:
        out.append(f"- fusion: logistic stacker over {', '.join(fu['detectors'])}, fitted on the calibration split "
                   f"(calibration.json sha256 `{_short(fu.get('calibration_file_sha256'))}`)")
    elif r.get("fusion_note"):
        out.append(f"- {r['fusion_note']}")
    rt = r.get("runtime", {})
    out.append(f"- runtime: {rt.get('seconds')} s; {rt.get('decoded')} images decoded, {rt.get('perturbed')} "
               f"perturbed images, {rt.get('computed')} detector runs, {rt.get('cache_hits')} results from the cache")
    return out


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: header, notes, every table, the conditions, the errors."""
    r = report
    lines = [f"# {r.get('title')}", ""]
    if r.get("description"):
        lines += [str(r["description"]).strip(), ""]
    lines += _header_lines(r) + [""]
    for n in r.get("notes", []):
        lines.append(f"> {n}")
    if r.get("notes"):
        lines.append("")
    for t in r.get("tables", []):
        lines += [f"## {t['title']}", ""]
        lines.append("| " + " | ".join(format_cell(c) for c in t["columns"]) + " |")
        lines.append("|" + "|".join("---" for _ in t["columns"]) + "|")
        for row in t["rows"]:
            lines.append("| " + " | ".join(format_cell(c) for c in row) + " |")
        if t.get("note"):
            lines += ["", f"*{t['note']}*"]
        lines.append("")
    conds = r.get("conditions", [])
    if conds:
        lines += ["## Conditions", "", "| id | example chain (first image) | distinct chains | parameter ranges |",
                  "|---|---|---|---|"]
        for c in conds:
            rng = "; ".join(f"{k.split(':', 1)[-1]} {v[0]:g}–{v[1]:g}" for k, v in c.get("param_ranges", {}).items())
            lines.append(f"| {format_cell(c['id'])} | `{format_cell(c.get('example_chain', c.get('chain_text', '')))}` "
                         f"| {c.get('distinct_chains', '')} | {format_cell(rng)} |")
        lines.append("")
    if r.get("n_errors"):
        lines += [f"## Errors ({r['n_errors']})", ""]
        for e in r.get("errors", [])[:20]:
            lines.append(f"- `{e.get('path')}` ({e.get('stage')}): {e.get('error')}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(report: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write :func:`render_markdown` to ``path``."""
    Path(path).write_text(render_markdown(report), encoding="utf-8")


# --------------------------------------------------------------------------------------
# figures


def _mpl():
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise MissingDependencyError("matplotlib", "bench", "the benchmark HTML report's plots") from e
    return Figure


def _nan(v: Any) -> float:
    return math.nan if v is None else float(v)


def _ylim(ylim: Any, values: list[Any]) -> tuple[float, float] | None:
    """The requested y range, widened (in steps of 0.1) so that no data point falls outside it."""
    if not ylim:
        return None
    lo, hi = float(ylim[0]), float(ylim[1])
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if finite:
        lo = min(lo, math.floor(min(finite) * 10) / 10)
        hi = max(hi, math.ceil(max(finite) * 10) / 10)
    return lo, hi


def render_figure(spec: Mapping[str, Any]) -> bytes:
    """Draw one figure specification (see :data:`FIGURE_KINDS`) as PNG bytes.

    Raises
    ------
    MissingDependencyError
        matplotlib is not installed.
    UsageError
        Unknown figure kind.
    """
    Figure = _mpl()
    kind = spec.get("kind")
    if kind not in FIGURE_KINDS:
        raise UsageError(f"unknown figure kind {kind!r}; valid: {', '.join(FIGURE_KINDS)}")
    if kind == "panels":
        panels = spec["panels"]
        ncol = min(4, max(1, len(panels)))
        nrow = math.ceil(len(panels) / ncol)
        fig = Figure(figsize=(3.2 * ncol, 2.5 * nrow + 0.5), layout="constrained")
        axes = fig.subplots(nrow, ncol, squeeze=False)
        ylim = _ylim(spec.get("ylim"), [v for pan in panels for ser in pan["series"] for v in ser["y"]])
        for ax in axes.flat[len(panels):]:
            ax.set_visible(False)
        for ax, pan in zip(axes.flat, panels):
            for ser in pan["series"]:
                ax.plot(pan["x"], [_nan(v) for v in ser["y"]], marker="o", ms=3, label=ser["label"])
            ax.set_title(pan["title"], fontsize=9)
            ax.set_xticks(pan["x"])
            if ylim:
                ax.set_ylim(*ylim)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
        axes.flat[0].legend(fontsize=7, loc="lower left")
        fig.suptitle(spec.get("title", ""), fontsize=11)
        fig.supxlabel(spec.get("xlabel", ""), fontsize=9)
        fig.supylabel(spec.get("ylabel", ""), fontsize=9)
    elif kind == "heatmap":
        rows, cols, vals = spec["rows"], spec["cols"], spec["values"]
        fig = Figure(figsize=(max(5.0, 1.0 + 0.9 * len(cols)), max(2.5, 0.9 + 0.42 * len(rows))))
        ax = fig.subplots()
        import numpy as np

        arr = np.array([[_nan(v) for v in r] for r in vals], dtype=float)
        im = ax.imshow(arr, cmap="RdYlGn", vmin=spec.get("vmin", 0.0), vmax=spec.get("vmax", 1.0), aspect="auto")
        ax.set_xticks(range(len(cols)), [str(c)[:28] for c in cols], rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), [str(r)[:40] for r in rows], fontsize=8)
        for i in range(arr.shape[0]):
            for j in range(arr.shape[1]):
                if math.isfinite(arr[i, j]):
                    ax.text(j, i, f"{arr[i, j]:.2f}", ha="center", va="center", fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.04)
        ax.set_title(spec.get("title", ""), fontsize=10)
        if spec.get("xlabel"):
            ax.set_xlabel(spec["xlabel"], fontsize=8)
        if spec.get("ylabel"):
            ax.set_ylabel(spec["ylabel"], fontsize=8)
    else:
        fig = Figure(figsize=(6.0, 4.2))
        ax = fig.subplots()
        if kind == "roc":
            for c in spec["curves"]:
                ax.plot(c["fpr"], c["tpr"], lw=1.5, label=c["label"])
            ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
            ax.set_xlabel("false-positive rate (real images flagged)")
            ax.set_ylabel("true-positive rate (AI images caught)")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.01)
        elif kind == "lines":
            xs = list(range(len(spec["x"])))
            for ser in spec["series"]:
                ax.plot(xs, [_nan(v) for v in ser["y"]], marker="o", label=ser["label"])
            ax.set_xticks(xs, [str(x) for x in spec["x"]], rotation=30, fontsize=8)
            ax.set_xlabel(spec.get("xlabel", ""))
            ax.set_ylabel(spec.get("ylabel", ""))
            ylim = _ylim(spec.get("ylim"), [v for ser in spec["series"] for v in ser["y"]])
            if ylim:
                ax.set_ylim(*ylim)
        elif kind == "bars":
            cats = spec["categories"]
            k = len(spec["series"])
            w = 0.8 / max(1, k)
            for i, ser in enumerate(spec["series"]):
                ax.bar([j + (i - (k - 1) / 2) * w for j in range(len(cats))], [_nan(v) for v in ser["values"]],
                       width=w, label=ser["label"])
            ax.set_xticks(range(len(cats)), [str(c) for c in cats], rotation=20, fontsize=8)
            ax.set_ylabel(spec.get("ylabel", ""))
            if spec.get("ylim"):
                ax.set_ylim(*spec["ylim"])
        elif kind == "reliability":
            for c in spec["curves"]:
                pts = [(mp, fp) for mp, fp, n in zip(c["mean_p"], c["frac_pos"], c["count"])
                       if n and mp is not None and fp is not None]
                if pts:
                    ax.plot([a for a, _ in pts], [b for _, b in pts], marker="o", ms=3, label=c["label"])
            ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1, label="perfect calibration")
            ax.set_xlabel("mean predicted p_fake (bin)")
            ax.set_ylabel("share of AI-generated images (bin)")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
        elif kind == "fpr":
            for ser in spec["series"]:
                lo = [_nan(r) - _nan(a) for r, a in zip(ser["reached"], ser["low"])]
                hi = [_nan(b) - _nan(r) for r, b in zip(ser["reached"], ser["high"])]
                ax.errorbar(ser["asked"], [_nan(v) for v in ser["reached"]], yerr=[lo, hi], marker="o", capsize=3,
                            label=ser["label"])
            top = max([max(s["asked"]) for s in spec["series"]] + [0.1]) * 1.3
            ax.plot([0, top], [0, top], ls=":", color="grey", lw=1, label="reached = asked")
            ax.set_xlabel("FPR asked for (threshold fitted on the calibration split)")
            ax.set_ylabel("FPR reached on these real images")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(spec.get("title", ""), fontsize=10)
    if kind != "panels":  # panels use the constrained layout (room for the suptitle)
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


# --------------------------------------------------------------------------------------
# HTML

_EXTRA_CSS = """
.fig { margin: 12px 0 24px; } .fig img { max-width: 100%; border: 1px solid var(--line); border-radius: 6px; }
table.bench { width: auto; min-width: 50%; margin-bottom: 6px; } table.bench td.n { text-align: right;
  font-variant-numeric: tabular-nums; white-space: nowrap; }
table.bench th { position: static; }
.note { font-size: 12px; color: var(--muted); margin: 2px 0 18px; }
ul.header { padding-left: 18px; } ul.header li { margin: 2px 0; }
"""


def _css() -> str:
    try:
        base = resources.files("fakescope.report").joinpath("report.css").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError, OSError):
        base = ""
    return base + _EXTRA_CSS


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _md_inline(text: str) -> str:
    """Escape, then turn `code` spans into <code> (the header lines use them)."""
    parts = str(text).split("`")
    return "".join(f"<code>{_e(p)}</code>" if i % 2 else _e(p) for i, p in enumerate(parts))


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page (figures embedded as base64 PNG)."""
    r = report
    figs = []
    for spec in r.get("figures", []):
        png = render_figure(spec)
        figs.append(f'<div class="fig"><img alt="{_e(spec.get("title"))}" '
                    f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"></div>')
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
           'style-src \'unsafe-inline\'">',
           f"<title>{_e(r.get('title'))}</title><style>{_css()}</style></head><body><main>",
           f"<h1>{_e(r.get('title'))}</h1>"]
    if r.get("description"):
        out.append(f"<p>{_e(str(r['description']).strip())}</p>")
    out.append('<ul class="header">' + "".join(f"<li>{_md_inline(line[2:])}</li>" for line in _header_lines(r))
               + "</ul>")
    if r.get("notes"):
        out.append('<div class="notices">' + "".join(f"<p>{_e(n)}</p>" for n in r["notes"]) + "</div>")
    if figs:
        out.append("<h2>Figures</h2>" + "".join(figs))
    for t in r.get("tables", []):
        out.append(f"<h2>{_e(t['title'])}</h2>")
        out.append('<table class="bench"><thead><tr>' + "".join(f"<th>{_e(c)}</th>" for c in t["columns"])
                   + "</tr></thead><tbody>")
        for row in t["rows"]:
            cells = []
            for v in row:
                cls = ' class="n"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
                cells.append(f"<td{cls}>{_e(format_cell(v).replace(chr(92) + '|', '|'))}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
        if t.get("note"):
            out.append(f'<p class="note">{_e(t["note"])}</p>')
    conds = r.get("conditions", [])
    if conds:
        out.append("<h2>Conditions</h2><table class=\"bench\"><thead><tr><th>id</th><th>example chain</th>"
                   "<th>distinct chains</th><th>parameter ranges</th></tr></thead><tbody>")
        for c in conds:
            rng = "; ".join(f"{k.split(':', 1)[-1]} {v[0]:g}–{v[1]:g}" for k, v in c.get("param_ranges", {}).items())
            out.append(f"<tr><td>{_e(c['id'])}</td><td><code>{_e(c.get('example_chain', c.get('chain_text', '')))}"
                       f"</code></td><td class=\"n\">{_e(c.get('distinct_chains', ''))}</td><td>{_e(rng)}</td></tr>")
        out.append("</tbody></table>")
    if r.get("n_errors"):
        out.append(f"<h2>Errors ({_e(r['n_errors'])})</h2><ul>"
                   + "".join(f"<li><code>{_e(e.get('path'))}</code> ({_e(e.get('stage'))}): {_e(e.get('error'))}</li>"
                             for e in r.get("errors", [])[:50]) + "</ul>")
    env = r.get("environment", {})
    out.append(f"<footer>fakescope {_e(r.get('fakescope_version'))} · "
               + " · ".join(f"{_e(k)} {_e(v)}" for k, v in env.items()) + "</footer></main></body></html>")
    return "\n".join(out) + "\n"


def write_html(report: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write :func:`render_html` to ``path`` (raises MissingDependencyError without matplotlib)."""
    text = render_html(report)
    Path(path).write_text(text, encoding="utf-8")

