"""Where verdicts go: terminal table, JSONL, CSV and the self-contained HTML report.

>>> from fakescope.report import FORMATS
>>> FORMATS
('table', 'jsonl', 'csv', 'html')
"""

from __future__ import annotations

from .html import (
    MAX_THUMBNAILS,
    make_thumbnail,
    read_jsonl,
    render_html,
    summarize_records,
    summary_to_dict,
    write_html_from_jsonl,
)
from .sinks import (
    CSV_COLUMNS,
    FORMATS,
    CsvSink,
    HtmlSink,
    JsonlSink,
    Sink,
    TableSink,
    compact_evidence,
    open_sink,
    top_evidence,
)

__all__ = [
    "FORMATS",
    "CSV_COLUMNS",
    "MAX_THUMBNAILS",
    "Sink",
    "TableSink",
    "JsonlSink",
    "CsvSink",
    "HtmlSink",
    "open_sink",
    "render_html",
    "write_html_from_jsonl",
    "read_jsonl",
    "summarize_records",
    "summary_to_dict",
    "make_thumbnail",
    "top_evidence",
    "compact_evidence",
]
