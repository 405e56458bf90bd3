"""The output sinks write what the scan gives them, in the documented formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from fakescope.errors import UsageError
from fakescope.report import CSV_COLUMNS, FORMATS, CsvSink, HtmlSink, JsonlSink, TableSink, open_sink
from fakescope.types import Attribution, Evidence, ScanSummary, Verdict

SHA = "cd" * 32


def ok(path: str = "a.jpg", p: float = 0.97, label: str = "ai-generated", **kw) -> dict:
    return Verdict(
        path=path, status="ok", sha256=SHA, p_fake=p, label=label, threshold=0.62, operating_fpr=0.01,
        generator=kw.pop("generator", Attribution("stable-diffusion-1.x", "diffusion", 0.71)),
        evidence=kw.pop("evidence", (
            Evidence("npr", "detector", 0.95, "up-sampling traces"),
            Evidence("c2pa", "provenance", 1.0, "signed manifest", weight="strong"),
            Evidence("exif", "provenance", 0.45, "no camera", weight="weak"),
        )),
        explanation=kw.pop("explanation", "Two detectors agree."), elapsed_ms=41.0, width=64, height=48,
        format="JPEG", **kw,
    ).to_dict()


def err(path: str = "broken.jpg") -> dict:
    return Verdict(path=path, status="error", sha256=SHA, error="the file ends before the image data does",
                   error_type="TruncatedFileError", elapsed_ms=0.5).to_dict()


SUMMARY = ScanSummary(total=3, ok=2, errors=1, skipped=0, labels={"ai-generated": 1, "real": 1},
                      elapsed_s=1.5, detectors=("npr",), operating_fpr=0.01)


def test_formats() -> None:
    assert FORMATS == ("table", "jsonl", "csv", "html")


# ---------------------------------------------------------------- jsonl
def test_jsonl_file_flushes_every_record(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "r.jsonl"
    sink = open_sink("jsonl", out)
    assert isinstance(sink, JsonlSink)
    a, b = ok(), err()
    sink.write(a)
    # readable before close: a killed scan keeps what was written
    assert [json.loads(x) for x in out.read_text("utf-8").splitlines()] == [a]
    sink.write(b)
    sink.close(SUMMARY)
    text = out.read_text("utf-8")
    lines = text.splitlines()
    assert [json.loads(x) for x in lines] == [a, b]
    assert text.endswith("\n") and ", " not in lines[1] and ": " not in lines[1]  # compact separators
    assert sink.closed and sink.written == 2


def test_jsonl_append_repairs_cut_last_line(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    first = ok("first.jpg")
    out.write_text(json.dumps(first) + "\n" + '{"path": "half', encoding="utf-8")
    sink = open_sink("jsonl", out, append=True)
    assert sink.dropped_bytes == len('{"path": "half')
    second = ok("second.jpg", p=0.1, label="real")
    sink.write(second)
    sink.close(SUMMARY)
    assert [json.loads(x) for x in out.read_text("utf-8").splitlines()] == [first, second]


def test_jsonl_append_to_file_with_only_a_cut_line(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    out.write_bytes(b'{"path": "x", "sta')
    sink = open_sink("jsonl", out, append=True)
    sink.write(err())
    sink.close()
    assert [json.loads(x) for x in out.read_text("utf-8").splitlines()] == [err()]


def test_jsonl_without_append_replaces(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text("old\n", encoding="utf-8")
    with open_sink("jsonl", out) as sink:
        sink.write(err())
    assert out.read_text("utf-8").splitlines() == [json.dumps(err(), separators=(",", ":"))]


def test_jsonl_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    sink = open_sink("jsonl")
    sink.write(ok("ü.png"))
    sink.write(err())
    sink.close(SUMMARY)
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(x)["path"] for x in lines] == ["ü.png", "broken.jpg"]


def test_jsonl_undecodable_file_name_stays_valid_json(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    name = b"caf\xe9.jpg".decode("utf-8", "surrogateescape")  # a Latin-1 name on a UTF-8 system
    with open_sink("jsonl", out) as sink:
        sink.write(ok(name))
        sink.write(ok("日本.png"))
    raw = out.read_bytes()
    raw.decode("utf-8")  # the file is valid UTF-8
    recs = [json.loads(x) for x in raw.decode("utf-8").splitlines()]
    # shown escaped (valid UTF-8 for every JSON reader), kept losslessly as base64 of the name's bytes
    assert recs[0]["path"] == "caf\\xe9.jpg" and ascii(recs[0]["path"]) == ascii("caf\\xe9.jpg")
    import base64
    import os

    assert os.fsdecode(base64.b64decode(recs[0]["path_bytes_b64"])) == name
    assert recs[1]["path"] == "日本.png" and "path_bytes_b64" not in recs[1]
    assert "日本".encode() in raw  # non-ASCII kept as is when it can be


def test_jsonl_refuses_nan(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    sink = open_sink("jsonl", out)
    sink.write(ok("good.png"))
    bad = ok("nan.png")
    bad["p_fake"] = float("nan")
    with pytest.raises(ValueError, match="'nan.png' holds a non-finite number"):
        sink.write(bad)
    sink.close()
    assert [json.loads(x)["path"] for x in out.read_text("utf-8").splitlines()] == ["good.png"]


# ---------------------------------------------------------------- csv
def test_csv_columns_and_values(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    sink = open_sink("csv", out)
    assert isinstance(sink, CsvSink)
    sink.write(ok())
    assert len(out.read_text("utf-8").splitlines()) == 2  # header + first row, flushed
    sink.write(ok("plain.png", p=0.1, label="real", generator=None, evidence=()))
    sink.write(err())
    sink.close(SUMMARY)
    with open(out, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    assert len(rows) == 3
    r0, r1, r2 = rows
    assert r0["label"] == "ai-generated" and float(r0["p_fake"]) == pytest.approx(0.97)
    assert r0["generator"] == "stable-diffusion-1.x" and r0["generator_family"] == "diffusion"
    assert float(r0["generator_confidence"]) == pytest.approx(0.71)
    assert r0["evidence"] == "npr=0.950;c2pa=1.000;exif=0.450"
    assert (r0["width"], r0["height"], r0["format"], r0["elapsed_ms"]) == ("64", "48", "JPEG", "41.0")
    assert r0["operating_fpr"] == "0.01" and r0["threshold"] == "0.62"
    assert r1["generator"] == "" and r1["evidence"] == "" and r1["label"] == "real"
    assert r2["status"] == "error" and r2["label"] == "" and r2["p_fake"] == ""
    assert r2["error"] == "the file ends before the image data does"


def test_csv_escapes_formulas_and_line_breaks(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    with open_sink("csv", out) as sink:
        sink.write(ok('=HYPERLINK("http://x","y").png', explanation="line one\nline two"))
        sink.write(ok("@SUM(A1).jpg"))
    text = out.read_text("utf-8")
    assert len(text.splitlines()) == 3  # every row is one line
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["path"] == "'=HYPERLINK(\"http://x\",\"y\").png"
    assert rows[0]["explanation"] == "line one line two"
    assert rows[1]["path"] == "'@SUM(A1).jpg"


def test_csv_append_writes_header_once(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    with open_sink("csv", out) as sink:
        sink.write(ok("1.jpg"))
    with open_sink("csv", out, append=True) as sink:
        sink.write(ok("2.jpg"))
    lines = out.read_text("utf-8").splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert sum(1 for x in lines if x.startswith("path,")) == 1
    assert [r["path"] for r in csv.DictReader(io.StringIO("\n".join(lines)))] == ["1.jpg", "2.jpg"]


def test_csv_append_to_empty_file_writes_header(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    out.touch()
    with open_sink("csv", out, append=True) as sink:
        sink.write(err())
    assert out.read_text("utf-8").splitlines()[0] == ",".join(CSV_COLUMNS)


def test_csv_append_refuses_foreign_file(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    out.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(UsageError, match="header"):
        open_sink("csv", out, append=True)
    assert out.read_text("utf-8") == "a,b\n1,2\n"


def test_csv_empty_scan_still_has_header(capsys: pytest.CaptureFixture[str]) -> None:
    sink = open_sink("csv")
    sink.close(SUMMARY)
    assert capsys.readouterr().out == ",".join(CSV_COLUMNS) + "\n"


# ---------------------------------------------------------------- table
def _console() -> Console:
    return Console(file=io.StringIO(), width=160, force_terminal=False, color_system=None)


def _table_cells(sink: TableSink, summary) -> tuple[list[list[Text]], str]:
    group = sink.render(summary)
    table, panel = group.renderables
    cols = [list(c._cells) for c in table.columns]  # the rendered cells, column by column
    rows = [list(r) for r in zip(*cols)]
    con = _console()
    con.print(panel)
    return rows, con.file.getvalue()


def test_table_rows_colours_and_summary() -> None:
    con = _console()
    sink = open_sink("table", console=con)
    assert isinstance(sink, TableSink)
    sink.write(ok("x/[red]markup[/red].jpg"))
    sink.write(ok("r.png", p=0.05, label="real"))
    sink.write(ok("i.png", p=0.5, label="inconclusive"))
    sink.write(err())
    rows, panel = _table_cells(sink, SUMMARY.to_dict())
    labels = [(r[1].plain, str(r[1].style)) for r in rows]
    assert labels == [("ai-generated", "bold red"), ("real", "green"), ("inconclusive", "yellow"),
                      ("error", "bold magenta")]
    assert rows[0][0].plain == "x/[red]markup[/red].jpg"  # a file name is text, not markup
    assert rows[0][2].plain == "0.970"
    # detector scores first, then the decisive provenance item's own words
    assert rows[0][3].plain == "npr 0.95\nsigned manifest"
    assert rows[3][3].plain == "TruncatedFileError: the file ends before the image data does"
    assert rows[0][4].plain == "41 ms"
    assert "3 inputs: 1 ai-generated · 1 real · 0 inconclusive · 1 error" in panel
    assert "2.00 images/s" in panel and "detectors: npr" in panel and "operating FPR: 1%" in panel
    sink.close(SUMMARY)
    printed = con.file.getvalue()
    assert "x/[red]markup[/red].jpg" in printed and "fakescope summary" in printed


def test_table_long_scan_lists_only_flagged_rows() -> None:
    sink = TableSink(_console(), max_rows=200)
    for i in range(250):
        sink.write(ok(f"real{i}.png", p=0.05, label="real") if i % 10 else ok(f"fake{i}.png"))
    sink.write(err())
    rows, panel = _table_cells(sink, sink._summary())
    assert [r[0].plain for r in rows] == [f"fake{i}.png" for i in range(0, 250, 10)] + ["broken.jpg"]
    assert "225 real verdicts not listed" in panel
    assert "251 inputs: 25 ai-generated · 225 real" in panel
    assert "(from per-image times)" in panel


def test_table_short_scan_keeps_real_rows() -> None:
    sink = TableSink(_console(), max_rows=200)
    for i in range(200):
        sink.write(ok(f"r{i}.png", p=0.05, label="real"))
    rows, panel = _table_cells(sink, SUMMARY)
    assert len(rows) == 200 and "not listed" not in panel


def test_table_to_file(tmp_path: Path) -> None:
    out = tmp_path / "table.txt"
    with open_sink("table", out) as sink:
        sink.write(ok("a_very_long_folder_name/" * 4 + "final-image-name.jpg"))
    text = out.read_text("utf-8")
    assert "final-image-name.jpg" in text and "…" in text  # shortened, file name kept
    assert "\x1b[" not in text  # no colour codes in a file


# ---------------------------------------------------------------- errors and lifecycle
def test_open_sink_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="table, jsonl, csv, html"):
        open_sink("xml")
    with pytest.raises(UsageError, match="output path"):
        open_sink("html")
    with pytest.raises(UsageError, match="appended"):
        open_sink("html", tmp_path / "r.html", append=True)
    with pytest.raises(UsageError, match="directory"):
        open_sink("jsonl", tmp_path)


def test_write_after_close_and_bad_record(tmp_path: Path) -> None:
    sink = open_sink("jsonl", tmp_path / "r.jsonl")
    with pytest.raises(UsageError, match="dict"):
        sink.write(["not", "a", "record"])  # type: ignore[arg-type]
    sink.close()
    sink.close()  # second close is a no-op
    with pytest.raises(UsageError, match="closed"):
        sink.write(ok())


def test_html_sink_writes_only_at_close(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    sink = open_sink("html", out, thumbnails=False, title="demo <scan>")
    assert isinstance(sink, HtmlSink)
    sink.write(ok())
    sink.write(err())
    assert not out.exists()
    sink.close(SUMMARY)
    page = out.read_text("utf-8")
    assert "<title>demo &lt;scan&gt;</title>" in page
    assert page.count('<tr data-label="ai-generated"') == 1
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left


def test_html_sink_failure_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    try:
        with open_sink("html", out, thumbnails=False) as sink:
            sink.write(ok())
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert not out.exists() and sink.closed
