"""Output sinks: where verdict records go (terminal table, JSONL, CSV, HTML report).

Every front of fakescope ends a scan the same way: it opens one sink with
:func:`open_sink`, calls :meth:`Sink.write` once per input with the record that
:meth:`fakescope.types.Verdict.to_dict` returns, and calls :meth:`Sink.close` with the
scan's :class:`~fakescope.types.ScanSummary`.

=========  ===============================================================================
format     what it writes
=========  ===============================================================================
``table``  a rich table on the terminal (or a text file) followed by a summary panel
``jsonl``  one compact JSON object per line, flushed after every record (resumable)
``csv``    flat columns (:data:`CSV_COLUMNS`), flushed after every row (resumable)
``html``   one self-contained report file, written at :meth:`Sink.close`
=========  ===============================================================================
"""

from __future__ import annotations

import csv
import json
import os
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any, Mapping

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..errors import UsageError
from ..types import ScanSummary
from .html import render_html, summarize_records, summary_to_dict

__all__ = [
    "FORMATS",
    "CSV_COLUMNS",
    "LABEL_STYLES",
    "Sink",
    "TableSink",
    "JsonlSink",
    "CsvSink",
    "HtmlSink",
    "open_sink",
    "top_evidence",
    "compact_evidence",
]

FORMATS: tuple[str, ...] = ("table", "jsonl", "csv", "html")

CSV_COLUMNS: tuple[str, ...] = (
    "path",
    "sha256",
    "status",
    "label",
    "p_fake",
    "threshold",
    "operating_fpr",
    "generator",
    "generator_family",
    "generator_confidence",
    "explanation",
    "evidence",
    "width",
    "height",
    "format",
    "error",
    "elapsed_ms",
)

#: rich styles of each label in the terminal table.
LABEL_STYLES: dict[str, str] = {
    "ai-generated": "bold red",
    "real": "green",
    "inconclusive": "yellow",
    "error": "bold magenta",
}

# Cells starting with one of these are read as formulas by spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Sink(ABC):
    """Base class of every output sink.

    A sink receives verdict records (``Verdict.to_dict()``) one at a time and is
    finalised once with the scan summary.  It is also a context manager: leaving the
    ``with`` block without an exception closes it with a summary computed from the
    records it saw; leaving it on an exception only releases its files.

    Attributes
    ----------
    format : str
        The format name, one of :data:`FORMATS`.
    written : int
        How many records have been written so far.
    """

    format: str = ""

    def __init__(self) -> None:
        self.written = 0
        self._closed = False
        self._labels: dict[str, int] = {}
        self._ok = 0
        self._errors = 0
        self._elapsed_ms = 0.0
        self._detectors: set[str] = set()
        self._fprs: dict[float, int] = {}

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def write(self, record: Mapping[str, Any]) -> None:
        """Write one verdict record.

        Parameters
        ----------
        record : Mapping
            One record as :meth:`fakescope.types.Verdict.to_dict` returns it
            (``status`` ``"ok"`` or ``"error"``).

        Raises
        ------
        UsageError
            If the sink is already closed or the record is not a mapping.
        """
        if self._closed:
            raise UsageError(f"cannot write to a closed {self.format} sink")
        if not isinstance(record, Mapping):
            raise UsageError(f"a sink record must be a dict, got {type(record).__name__}")
        self._write(record)
        self._count(record)
        self.written += 1

    def close(self, summary: ScanSummary | Mapping[str, Any] | None = None) -> None:
        """Finalise the output.

        Parameters
        ----------
        summary : ScanSummary or dict or None
            The scan's totals.  When ``None`` a summary is computed from the records
            this sink saw (timings then come from the per-image ``elapsed_ms``).

        Notes
        -----
        Closing twice is a no-op.
        """
        if self._closed:
            return
        self._closed = True
        self._finish(summary_to_dict(summary) if summary is not None else self._summary())

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        elif not self._closed:
            self._closed = True
            self._release()

    # -- for subclasses -------------------------------------------------------------
    @abstractmethod
    def _write(self, record: Mapping[str, Any]) -> None:
        """Write one record (the base class has checked it and counts it afterwards)."""

    @abstractmethod
    def _finish(self, summary: dict[str, Any]) -> None:
        """Finalise the output with the scan summary and release files."""

    def _release(self) -> None:
        """Release files without finalising (the scan failed)."""

    # -- running totals -------------------------------------------------------------
    def _count(self, record: Mapping[str, Any]) -> None:
        if record.get("status") == "ok":
            self._ok += 1
            label = str(record.get("label"))
            self._labels[label] = self._labels.get(label, 0) + 1
            for ev in record.get("evidence") or ():
                if isinstance(ev, Mapping) and ev.get("kind") == "detector":
                    self._detectors.add(str(ev.get("source")))
            fpr = record.get("operating_fpr")
            if isinstance(fpr, (int, float)):
                self._fprs[float(fpr)] = self._fprs.get(float(fpr), 0) + 1
        else:
            self._errors += 1
        ms = record.get("elapsed_ms")
        if isinstance(ms, (int, float)):
            self._elapsed_ms += float(ms)

    def _summary(self) -> dict[str, Any]:
        # Same keys as ScanSummary.to_dict(); built from counters so no record is kept.
        labels = {k: 0 for k in ("ai-generated", "real", "inconclusive")}
        labels.update(self._labels)
        elapsed_s = self._elapsed_ms / 1000.0
        done = self._ok + self._errors
        fpr = max(self._fprs.items(), key=lambda kv: kv[1])[0] if self._fprs else None
        return {
            "total": done,
            "ok": self._ok,
            "errors": self._errors,
            "skipped": 0,
            "labels": labels,
            "elapsed_s": round(elapsed_s, 3),
            "detectors": sorted(self._detectors),
            "operating_fpr": fpr,
            "images_per_s": round(done / elapsed_s, 2) if elapsed_s > 0 else 0.0,
            "estimated": True,
        }


# ---------------------------------------------------------------------------------------
# helpers shared by the flat formats
# ---------------------------------------------------------------------------------------
def top_evidence(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The evidence item of a record that says the most either way.

    Parameters
    ----------
    record : Mapping
        A verdict record.

    Returns
    -------
    Mapping or None
        The item whose ``score`` is furthest from 0.5 (items of weight ``"none"`` only
        when nothing else is there), or ``None`` when the record has no evidence.

    Examples
    --------
    >>> top_evidence({"evidence": [{"source": "a", "score": 0.6}, {"source": "b", "score": 0.1}]})["source"]
    'b'
    """
    items = [e for e in record.get("evidence") or () if isinstance(e, Mapping)]
    if not items:
        return None
    weighted = [e for e in items if e.get("weight") != "none"] or items

    def strength(e: Mapping[str, Any]) -> float:
        s = e.get("score")
        return abs(float(s) - 0.5) if isinstance(s, (int, float)) else -1.0

    return max(weighted, key=strength)


def _table_evidence(record: Mapping[str, Any]) -> str:
    """Detector scores in one line, then the most telling non-detector item's summary (shortened)."""
    items = [e for e in record.get("evidence") or () if isinstance(e, Mapping)]
    dets = [f"{e.get('source', '?')} {float(e['score']):.2f}" for e in items
            if e.get("kind") == "detector" and isinstance(e.get("score"), (int, float))]
    other = [e for e in items if e.get("kind") != "detector" and e.get("weight") in ("strong", "weak")]
    txt = " · ".join(dets)
    if other:
        lead = max(other, key=lambda e: (e.get("weight") == "strong", abs(float(e.get("score", 0.5)) - 0.5)))
        summary = str(lead.get("summary", ""))
        txt += ("\n" if txt else "") + (summary if len(summary) <= 90 else summary[:89] + "…")
    if record.get("media") == "video":  # a video: which seconds look generated
        segs = [s for s in record.get("segments") or () if isinstance(s, Mapping)]
        words = ", ".join(f"{float(s.get('start_s', 0)):.1f}-{float(s.get('end_s', 0)):.1f} s" for s in segs[:3])
        n = len(record.get("frames") or ())
        txt += ("\n" if txt else "") + (f"segments {words}" if segs else "no segment") + \
            f" ({n} frames, {float(record.get('duration_s') or 0):.1f} s)"
    return txt


def compact_evidence(record: Mapping[str, Any]) -> str:
    """Evidence as ``"source=score;source=score"`` (scores with 3 decimals).

    Examples
    --------
    >>> compact_evidence({"evidence": [{"source": "npr", "score": 0.95}, {"source": "c2pa", "score": 1}]})
    'npr=0.950;c2pa=1.000'
    """
    parts = []
    for e in record.get("evidence") or ():
        if not isinstance(e, Mapping):
            continue
        s = e.get("score")
        score = f"{float(s):.3f}" if isinstance(s, (int, float)) else ""
        parts.append(f"{e.get('source', '')}={score}")
    return ";".join(parts)


def _truncate_partial_line(path: Path) -> int:
    """Cut a last line that has no newline (a record cut short by a killed scan).

    Returns the number of bytes removed.
    """
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        pos = size
        keep = 0
        while pos > 0:
            step = min(1 << 16, pos)
            pos -= step
            f.seek(pos)
            chunk = f.read(step)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                keep = pos + idx + 1
                break
        f.truncate(keep)
        return size - keep


def _open_text(out: str | os.PathLike[str], append: bool) -> tuple[IO[str], int]:
    """Open an output file for text, creating its folder; repair a cut last line on append."""
    path = Path(out)
    if path.is_dir():
        raise UsageError(f"output {str(path)!r} is a directory, not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    dropped = 0
    if append and path.is_file():
        dropped = _truncate_partial_line(path)
    fh = open(path, "a" if append else "w", encoding="utf-8", newline="")
    return fh, dropped


# ---------------------------------------------------------------------------------------
# JSONL
# ---------------------------------------------------------------------------------------
class JsonlSink(Sink):
    """One compact JSON object per line, flushed after every record.

    Parameters
    ----------
    out : path or None
        Output file; ``None`` writes to standard output.
    append : bool
        Append to an existing file (``--resume``).  A last line without a newline (a
        record cut short when a scan was killed) is removed first, so the file stays
        valid JSONL; :attr:`dropped_bytes` says how much was removed.

    Notes
    -----
    Text is written as UTF-8 with non-ASCII characters kept; a record that cannot be
    encoded that way (a file name with undecodable bytes) is written with ASCII escapes,
    which every JSON reader accepts.
    """

    format = "jsonl"

    def __init__(self, out: str | os.PathLike[str] | None = None, *, append: bool = False) -> None:
        super().__init__()
        self.path = Path(out) if out is not None else None
        self.dropped_bytes = 0
        self._fh: IO[str] | None = None
        if out is not None:
            self._fh, self.dropped_bytes = _open_text(out, append)

    def _write(self, record: Mapping[str, Any]) -> None:
        try:
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError as exc:  # NaN/inf would make the line unreadable to strict JSON parsers
            raise ValueError(f"the record of {record.get('path')!r} holds a non-finite number: {exc}") from exc
        fh = self._fh if self._fh is not None else sys.stdout
        encoding = getattr(fh, "encoding", None) or "utf-8"
        try:
            line.encode(encoding)
        except (UnicodeEncodeError, LookupError):
            line = json.dumps(record, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
        fh.write(line + "\n")
        fh.flush()

    def _finish(self, summary: dict[str, Any]) -> None:
        self._release()

    def _release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        else:
            sys.stdout.flush()


# ---------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------
def _csv_number(x: Any) -> str:
    if isinstance(x, bool) or x is None:
        return ""
    if isinstance(x, (int, float)):
        return repr(x) if isinstance(x, float) else str(x)
    return str(x)


class CsvSink(Sink):
    """Flat CSV, one row per input (columns :data:`CSV_COLUMNS`), flushed after every row.

    Parameters
    ----------
    out : path or None
        Output file; ``None`` writes to standard output.
    append : bool
        Append to an existing file (``--resume``).  The header is written only when the
        file is new or empty; an existing header must match :data:`CSV_COLUMNS`.
        A last row without a newline (cut short by a killed scan) is removed first.
    escape_formulas : bool
        Prefix text cells that start with ``= + - @``, a tab or a carriage return with
        ``'`` so that spreadsheet programs do not run attacker-chosen file names as
        formulas.  The JSONL output keeps every string exactly.

    Notes
    -----
    Line breaks inside text cells are replaced by spaces so that every row is one line.
    """

    format = "csv"

    def __init__(
        self,
        out: str | os.PathLike[str] | None = None,
        *,
        append: bool = False,
        escape_formulas: bool = True,
    ) -> None:
        super().__init__()
        self.path = Path(out) if out is not None else None
        self.escape_formulas = escape_formulas
        self.dropped_bytes = 0
        self._fh: IO[str] | None = None
        need_header = True
        if out is not None:
            path = Path(out)
            if append and path.is_file() and path.stat().st_size > 0:
                with open(path, encoding="utf-8", newline="") as f:
                    first = f.readline().rstrip("\r\n")
                expected = ",".join(CSV_COLUMNS)
                if first != expected:
                    raise UsageError(
                        f"cannot append to {str(path)!r}: its header is not fakescope's CSV header "
                        f"({expected})"
                    )
            self._fh, self.dropped_bytes = _open_text(path, append)
            need_header = self._fh.tell() == 0
        self._need_header = need_header

    def _text(self, x: Any) -> str:
        if x is None:
            return ""
        s = str(x).replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
        if self.escape_formulas and s.startswith(_FORMULA_START):
            s = "'" + s
        return s

    def row(self, record: Mapping[str, Any]) -> list[str]:
        """The CSV cells of one record, in the order of :data:`CSV_COLUMNS`.

        Parameters
        ----------
        record : Mapping
            A verdict record.

        Returns
        -------
        list of str
        """
        gen = record.get("generator") if isinstance(record.get("generator"), Mapping) else {}
        return [
            self._text(record.get("path")),
            self._text(record.get("sha256")),
            self._text(record.get("status")),
            self._text(record.get("label")),
            _csv_number(record.get("p_fake")),
            _csv_number(record.get("threshold")),
            _csv_number(record.get("operating_fpr")),
            self._text(gen.get("name")),
            self._text(gen.get("family")),
            _csv_number(gen.get("confidence")),
            self._text(record.get("explanation")),
            self._text(compact_evidence(record)),
            _csv_number(record.get("width")),
            _csv_number(record.get("height")),
            self._text(record.get("format")),
            self._text(record.get("error")),
            _csv_number(record.get("elapsed_ms")),
        ]

    def _write(self, record: Mapping[str, Any]) -> None:
        fh = self._fh if self._fh is not None else sys.stdout
        w = csv.writer(fh, lineterminator="\n")
        if self._need_header:
            w.writerow(CSV_COLUMNS)
            self._need_header = False
        w.writerow(self.row(record))
        fh.flush()

    def _finish(self, summary: dict[str, Any]) -> None:
        if self._need_header:  # an empty scan still gets a well-formed file
            fh = self._fh if self._fh is not None else sys.stdout
            csv.writer(fh, lineterminator="\n").writerow(CSV_COLUMNS)
            self._need_header = False
        self._release()

    def _release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        else:
            sys.stdout.flush()


# ---------------------------------------------------------------------------------------
# terminal table
# ---------------------------------------------------------------------------------------
def _shorten(path: str, width: int = 48) -> str:
    """Keep the file name and as much of its folder as fits in ``width`` characters."""
    if len(path) <= width:
        return path
    name = os.path.basename(path) or path
    if len(name) >= width - 2:
        return "…" + name[-(width - 1):]
    return "…" + path[-(width - 1):]


def _fmt_fpr(fpr: Any) -> str:
    if not isinstance(fpr, (int, float)) or isinstance(fpr, bool):
        return "n/a"
    pct = f"{100 * float(fpr):g}%"
    return f"{pct} (threshold set so that at most {pct} of held-out real photos are flagged)"


class TableSink(Sink):
    """A rich table of results followed by a summary panel, printed at :meth:`close`.

    Parameters
    ----------
    console : rich.console.Console or None
        Where to print; default a console on standard output.
    out : path or None
        Print into this text file instead (no colours); takes precedence over ``console``.
    append : bool
        Append to ``out`` instead of replacing it.
    max_rows : int
        Above this many records only the non-real verdicts and the errors are listed
        (the panel says how many rows were left out).

    Notes
    -----
    Only a few short strings per row are kept, and above ``max_rows`` rows the real
    verdicts are dropped as they arrive, so memory grows with the number of flagged
    images, not with the size of the scan.  File names are printed as plain text, never
    as rich markup.
    """

    format = "table"

    def __init__(
        self,
        console: Console | None = None,
        *,
        out: str | os.PathLike[str] | None = None,
        append: bool = False,
        max_rows: int = 200,
    ) -> None:
        super().__init__()
        self.max_rows = max_rows
        self._fh: IO[str] | None = None
        if out is not None:
            self._fh, _ = _open_text(out, append)
            console = Console(file=self._fh, width=120, no_color=True, highlight=False, soft_wrap=False)
        self._console = console
        self._rows: list[tuple[str, str, str, str, str]] = []
        self._hidden = 0
        self._long = False

    @property
    def console(self) -> Console:
        """The console the table is printed on."""
        if self._console is None:
            import sys

            # piped or redirected: a fixed, wide layout instead of rich's 80-column default
            self._console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
        return self._console

    def _write(self, record: Mapping[str, Any]) -> None:
        status = record.get("status")
        label = str(record.get("label")) if status == "ok" else "error"
        if status == "ok":
            p = record.get("p_fake")
            p_txt = f"{float(p):.3f}" if isinstance(p, (int, float)) else "—"
            ev_txt = _table_evidence(record)
        else:
            p_txt = "—"
            etype = record.get("error_type")
            ev_txt = f"{etype}: {record.get('error', '')}" if etype else str(record.get("error", ""))
        ms = record.get("elapsed_ms")
        ms_txt = f"{float(ms):.0f} ms" if isinstance(ms, (int, float)) else ""
        row = (str(record.get("path", "")), label, p_txt, ev_txt, ms_txt)
        if not self._long and self.written + 1 > self.max_rows:
            self._long = True
            kept = [r for r in self._rows if r[1] != "real"]
            self._hidden += len(self._rows) - len(kept)
            self._rows = kept
        if self._long and label == "real":
            self._hidden += 1
        else:
            self._rows.append(row)

    def render(self, summary: ScanSummary | Mapping[str, Any]) -> Group:
        """The table and the summary panel as one rich renderable.

        Parameters
        ----------
        summary : ScanSummary or Mapping
            Scan totals (a dict as :meth:`fakescope.types.ScanSummary.to_dict` returns).

        Returns
        -------
        rich.console.Group
        """
        sdict = summary_to_dict(summary)
        assert sdict is not None
        table = Table(show_lines=False, header_style="bold", expand=False)
        table.add_column("file", overflow="fold", max_width=52)
        table.add_column("label", no_wrap=True)
        table.add_column("p_fake", justify="right", no_wrap=True)
        table.add_column("evidence", overflow="fold", max_width=70)
        table.add_column("elapsed", justify="right", no_wrap=True)
        for path, label, p_txt, ev_txt, ms_txt in self._rows:
            table.add_row(
                Text(_shorten(path)),
                Text(label, style=LABEL_STYLES.get(label, "")),
                Text(p_txt),
                Text(ev_txt, style="dim" if label == "error" else ""),
                Text(ms_txt),
            )
        return Group(table, self._panel(sdict))

    def _panel(self, summary: Mapping[str, Any]) -> Panel:
        labels = summary.get("labels") or {}
        lines = Text()
        total = summary.get("total", 0)
        lines.append(f"{total} input{'s' if total != 1 else ''}: ")
        parts: list[tuple[str, str]] = []
        for name in ("ai-generated", "real", "inconclusive"):
            parts.append((f"{labels.get(name, 0)} {name}", LABEL_STYLES[name]))
        for name, n in labels.items():
            if name not in LABEL_STYLES:
                parts.append((f"{n} {name}", ""))
        parts.append((f"{summary.get('errors', 0)} error{'s' if summary.get('errors', 0) != 1 else ''}",
                      LABEL_STYLES["error"]))
        for i, (txt, style) in enumerate(parts):
            if i:
                lines.append(" · ")
            lines.append(txt, style=style)
        skipped = summary.get("skipped") or 0
        if skipped:
            lines.append(f"\n{skipped} skipped (already in the output)")
        ips = summary.get("images_per_s")
        elapsed = summary.get("elapsed_s")
        speed = f"{float(ips):.2f} images/s" if isinstance(ips, (int, float)) else "n/a"
        if isinstance(elapsed, (int, float)):
            speed += f" ({float(elapsed):.3g} s)"
        if summary.get("estimated"):
            speed += " (from per-image times)"
        lines.append(f"\nspeed: {speed}")
        detectors = summary.get("detectors") or []
        lines.append("\ndetectors: " + (", ".join(str(d) for d in detectors) or "none"))
        lines.append(f"\noperating FPR: {_fmt_fpr(summary.get('operating_fpr'))}")
        if self._hidden:
            lines.append(
                f"\n{self._hidden} real verdict{'s' if self._hidden != 1 else ''} not listed "
                f"(more than {self.max_rows} rows: only ai-generated, inconclusive and errors are shown; "
                "use --format jsonl, csv or html for every row)",
                style="italic",
            )
        return Panel(lines, title="fakescope summary", expand=False)

    def _finish(self, summary: dict[str, Any]) -> None:
        try:
            self.console.print(self.render(summary))
        finally:
            self._release()

    def _release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# ---------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------
class HtmlSink(Sink):
    """Collects records and writes one self-contained HTML report at :meth:`close`.

    Parameters
    ----------
    out : path
        The report file (required).
    title : str
        Title of the report.
    thumbnails : bool
        Embed ~160 px JPEG thumbnails, made at close time by re-opening each file.
    heatmap_dir : path or None
        Folder against which relative ``heatmap`` paths of records are resolved; heatmaps
        found there are embedded next to the evidence.

    Notes
    -----
    Only the record dicts are kept in memory, never pixels.  The file is written to a
    temporary name and renamed, so a failed close never leaves half a report.
    """

    format = "html"

    def __init__(
        self,
        out: str | os.PathLike[str],
        *,
        title: str = "fakescope report",
        thumbnails: bool = True,
        heatmap_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        path = Path(out)
        if path.is_dir():
            raise UsageError(f"output {str(path)!r} is a directory, not a file")
        self.path = path
        self.title = title
        self.thumbnails = thumbnails
        self.heatmap_dir = heatmap_dir
        self._records: list[Mapping[str, Any]] = []

    def _write(self, record: Mapping[str, Any]) -> None:
        self._records.append(record)

    def _summary(self) -> dict[str, Any]:
        return summarize_records(self._records)

    def _finish(self, summary: dict[str, Any]) -> None:
        text = render_html(
            self._records, summary, title=self.title, thumbnails=self.thumbnails,
            heatmap_dir=self.heatmap_dir,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # a temporary name in the same folder (so the rename is atomic), created with the
        # usual permissions (mkstemp would make the report readable by its owner only)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._records = []

    def _release(self) -> None:
        self._records = []


# ---------------------------------------------------------------------------------------
def open_sink(
    fmt: str,
    out: str | os.PathLike[str] | None = None,
    *,
    append: bool = False,
    console: Console | None = None,
    thumbnails: bool = True,
    heatmap_dir: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Sink:
    """Open the sink for an output format.

    Parameters
    ----------
    fmt : str
        One of :data:`FORMATS`: ``"table"``, ``"jsonl"``, ``"csv"``, ``"html"``.
    out : path or None
        Output file.  ``None`` writes ``table``, ``jsonl`` and ``csv`` to standard
        output; ``html`` needs a file.
    append : bool
        Append to ``out`` (``--resume``); not possible for ``html``.
    console : rich.console.Console or None
        Console of the ``table`` format when ``out`` is ``None`` (default: standard output).
    thumbnails : bool
        ``html`` only: embed thumbnails.
    heatmap_dir : path or None
        ``html`` only: folder of the heatmaps referenced by records.
    title : str or None
        ``html`` only: report title (default ``"fakescope report"``).

    Returns
    -------
    Sink

    Raises
    ------
    UsageError
        Unknown format, ``html`` without ``out``, ``html`` with ``append``, or ``out``
        naming a folder.

    Examples
    --------
    >>> import io, contextlib
    >>> buf = io.StringIO()
    >>> with contextlib.redirect_stdout(buf):
    ...     sink = open_sink("jsonl")
    ...     sink.write({"path": "a.jpg", "sha256": None, "status": "error", "error": "empty file",
    ...                 "error_type": "EmptyFileError", "elapsed_ms": 0.1})
    ...     sink.close()
    >>> buf.getvalue()
    '{"path":"a.jpg","sha256":null,"status":"error","error":"empty file","error_type":"EmptyFileError","elapsed_ms":0.1}\\n'
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown output format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    if fmt == "jsonl":
        return JsonlSink(out, append=append)
    if fmt == "csv":
        return CsvSink(out, append=append)
    if fmt == "table":
        return TableSink(console, out=out, append=append)
    if out is None:
        raise UsageError("the html format writes a file: give an output path (--out report.html)")
    if append:
        raise UsageError(
            "an HTML report cannot be appended to: write --format jsonl with --resume, then "
            "build the report with  fakescope report results.jsonl --out report.html"
        )
    return HtmlSink(out, title=title or "fakescope report", thumbnails=thumbnails, heatmap_dir=heatmap_dir)
