"""The HTML report: one self-contained, escaped, well-formed page built from records."""

from __future__ import annotations

import base64
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.report import (
    MAX_THUMBNAILS,
    make_thumbnail,
    open_sink,
    render_html,
    summarize_records,
    write_html_from_jsonl,
)
from fakescope.report.html import histogram_svg
from fakescope.types import Attribution, Evidence, ScanSummary, Verdict

SHA = "ef" * 32
VOID = {"meta", "img", "input", "br", "hr", "link", "source", "wbr", "col", "area", "base", "embed", "track"}
SVG_SELF_CLOSING = {"rect", "line", "path", "circle"}


class Page(HTMLParser):
    """Collects elements (tag, attrs, text inside) and checks that tags nest properly."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.elements: list[tuple[str, dict[str, str | None], str]] = []
        self.problems: list[str] = []
        self.feed(text)
        self.close()
        if self.stack:
            self.problems.append(f"unclosed: {[t for t, _, _ in self.stack]}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            self.elements.append((tag, dict(attrs), ""))
            return
        self.stack.append((tag, dict(attrs), []))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs), ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.problems.append(f"unexpected </{tag}> (open: {self.stack[-1][0] if self.stack else None})")
            return
        t, attrs, text = self.stack.pop()
        joined = "".join(text)
        self.elements.append((t, attrs, joined))
        if self.stack:
            self.stack[-1][2].append(joined)

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.stack[-1][2].append(data)

    def find(self, tag: str, **attrs: str) -> list[tuple[dict[str, str | None], str]]:
        out = []
        for t, a, text in self.elements:
            if t != tag:
                continue
            if all((a.get(k.rstrip("_")) or "").split().count(v) or a.get(k.rstrip("_")) == v for k, v in attrs.items()):
                out.append((a, text))
        return out


def ok(path: str, p: float, label: str, **kw) -> dict:
    return Verdict(
        path=path, status="ok", sha256=SHA, p_fake=p, label=label, threshold=0.62, operating_fpr=0.01,
        generator=kw.pop("generator", None), evidence=kw.pop("evidence", ()),
        explanation=kw.pop("explanation", f"{label} because of reasons"), elapsed_ms=kw.pop("elapsed_ms", 20.0),
        width=kw.pop("width", 64), height=kw.pop("height", 48), format=kw.pop("format", "PNG"), **kw,
    ).to_dict()


def err(path: str, message: str = "cannot identify image file", etype: str = "UnsupportedFormatError") -> dict:
    return Verdict(path=path, status="error", sha256=None, error=message, error_type=etype, elapsed_ms=1.0).to_dict()


def decode_data_uri(uri: str) -> Image.Image:
    assert uri.startswith("data:image/jpeg;base64,")
    im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    im.load()
    return im


@pytest.fixture()
def images(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    files = {}
    big = rng.integers(0, 256, (300, 500, 3), dtype=np.uint8)
    files["jpeg"] = tmp_path / "photo.jpg"
    Image.fromarray(big).save(files["jpeg"], quality=90)
    files["png"] = tmp_path / "gen.png"
    Image.fromarray(big[:120, :90]).save(files["png"])
    rgba = np.dstack([big[:64, :64], np.full((64, 64), 128, np.uint8)])
    files["rgba"] = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(files["rgba"])
    files["gray16"] = tmp_path / "deep.png"
    Image.fromarray((rng.integers(0, 65535, (40, 40))).astype(np.uint16)).save(files["gray16"])
    files["broken"] = tmp_path / "broken.jpg"
    files["broken"].write_bytes(files["jpeg"].read_bytes()[:400])
    files["text"] = tmp_path / "notes.png"
    files["text"].write_text("not an image", encoding="utf-8")
    return files


# ---------------------------------------------------------------- thumbnails
@pytest.mark.parametrize("kind", ["jpeg", "png", "rgba", "gray16"])
def test_thumbnail_of_real_files(images: dict[str, Path], kind: str) -> None:
    uri, why = make_thumbnail(images[kind], size=160)
    assert why is None and uri is not None
    im = decode_data_uri(uri)
    assert im.format == "JPEG" and im.mode == "RGB" and max(im.size) <= 160
    src = Image.open(images[kind])
    assert abs(im.size[0] / im.size[1] - src.size[0] / src.size[1]) < 0.05  # aspect ratio kept


def test_thumbnail_never_raises(images: dict[str, Path], tmp_path: Path) -> None:
    assert make_thumbnail(tmp_path / "missing.jpg") == (None, "file not found")
    assert make_thumbnail(tmp_path) == (None, "file not found")  # a folder is not opened
    for bad in ("broken", "text"):
        uri, why = make_thumbnail(images[bad])
        assert uri is None and why and why.startswith("no preview:")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_thumbnail_does_not_open_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    assert make_thumbnail(fifo) == (None, "file not found")  # opening it would block forever


# ---------------------------------------------------------------- the page
def test_report_is_self_contained_escaped_and_well_formed(images: dict[str, Path], tmp_path: Path) -> None:
    evil = tmp_path / '"><script>alert(1)<script>.png'
    Image.new("RGB", (20, 20), (200, 10, 10)).save(evil)
    evidence = (
        Evidence("npr", "detector", 0.93, "up-sampling <b>traces</b>",
                 details={"tiles": [0.9, 0.95], "model": {"name": "npr-s", "onnx": "npr.onnx"}}),
        Evidence("c2pa", "provenance", 1.0, "signed manifest", weight="strong",
                 details={"claim_generator": "<img src=x onerror=alert(1)>", "assertions": [{"label": "c2pa.actions"}]}),
        Evidence("meta", "watermark", 0.5, "no watermark", weight="none"),
    )
    records = [
        ok(str(images["jpeg"]), 0.97, "ai-generated", evidence=evidence,
           generator=Attribution("stable-diffusion-1.x", "diffusion", 0.71)),
        ok(str(evil), 0.2, "real", explanation='"quoted" & <tagged>'),
        ok(str(images["rgba"]), 0.5, "inconclusive"),
        ok(str(tmp_path / "gone.png"), 0.1, "real"),
        ok(str(images["broken"]), 0.8, "ai-generated"),
        err(str(tmp_path / "x<y>.jpg"), message="bad <header> & stuff"),
    ]
    summary = ScanSummary(total=6, ok=5, errors=1, skipped=0,
                          labels={"ai-generated": 2, "real": 2, "inconclusive": 1},
                          elapsed_s=2.0, detectors=("npr",), operating_fpr=0.01)
    text = render_html(records, summary, title="Scan of <evil> & co")
    page = Page(text)
    assert page.problems == []

    # one inline script, no external resources at all
    scripts = page.find("script")
    assert len(scripts) == 1 and "src" not in scripts[0][0]
    for tag, attrs, _ in page.elements:
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or value.startswith("data:"), (tag, name, value)
    assert page.find("link") == []
    csp = [a for a, _ in page.find("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")

    # attacker-controlled strings come back as text, never as markup
    assert "<script>alert" not in text and "<img src=x" not in text and "<b>traces" not in text
    assert page.find("title")[0][1] == "Scan of <evil> & co"
    paths = [t for a, t in page.find("div", class_="path")]
    assert str(evil) in paths
    assert any(t == '"quoted" & <tagged>' for _, t in page.find("td", class_="expl"))

    # rows: one per ok record, with label badges, sortable data, thumbnails where the file decodes
    rows = page.find("tr")
    data_rows = [a for a, _ in rows if a.get("data-label")]
    assert [a["data-label"] for a in data_rows] == ["ai-generated", "real", "inconclusive", "real", "ai-generated"]
    assert [float(a["data-p"] or 0) for a in data_rows] == [0.97, 0.2, 0.5, 0.1, 0.8]
    badges = [t for _, t in page.find("span", class_="badge")]
    assert badges == ["ai-generated", "real", "inconclusive", "real", "ai-generated"]
    thumbs = page.find("img", class_="thumb")
    assert len(thumbs) == 3  # jpeg, evil png, rgba; not the missing or broken file
    for a, _ in thumbs:
        assert max(decode_data_uri(a["src"] or "").size) <= 160
    assert len(page.find("span", class_="nothumb")) == 2

    # evidence grouped by kind, with details as key/value lists
    kinds = [t for _, t in page.find("h4")]
    assert kinds == ["detector", "provenance", "watermark"]
    dts = [t for _, t in page.find("dt")]
    assert {"tiles", "model", "name", "onnx", "claim_generator", "assertions", "label"} <= set(dts)
    assert any(t == "<img src=x onerror=alert(1)>" for _, t in page.find("span"))
    assert any("stable-diffusion-1.x" in t for _, t in page.find("td"))

    # summary cards and errors section
    cards = {t2: t1 for t1, t2 in (
        (re.sub(r"\s+", "", v), k) for v, k in
        zip([t for _, t in page.find("div", class_="v")], [t for _, t in page.find("div", class_="k")]))}
    assert cards["inputs"] == "6" and cards["ai-generated"] == "2" and cards["errors"] == "1"
    assert cards["images/s"] == "3.00" and cards["operating FPR"] == "1%" and cards["threshold"] == "0.620"
    err_rows = page.find("table", class_="errors")
    assert len(err_rows) == 1 and "bad <header> & stuff" in err_rows[0][1] and "x<y>.jpg" in err_rows[0][1]
    assert "fakescope " in page.find("p", class_="meta")[0][1]


def test_histogram_counts_and_threshold() -> None:
    records = [ok(f"{i}.png", p, lab) for i, (p, lab) in enumerate(
        [(0.01, "real"), (0.02, "real"), (0.03, "real"), (0.55, "inconclusive"), (0.97, "ai-generated"), (1.0, "ai-generated")])]
    svg = histogram_svg(records, 0.62, bins=20, width=640, height=220)
    page = Page(svg)
    assert page.problems == []
    bars = [a for a, _ in page.find("rect", class_="bar")]
    by_label: dict[str, list[dict]] = {}
    for a in bars:
        by_label.setdefault(a["data-label"] or "", []).append(a)
    # 3 real in bin 0 (one bar), 1 inconclusive in bin 11, 2 ai-generated in bin 19 (p=1.0 goes to the last bin)
    assert {k: len(v) for k, v in by_label.items()} == {"real": 1, "inconclusive": 1, "ai-generated": 1}
    heights = {k: float(v[0]["height"] or 0) for k, v in by_label.items()}
    assert heights["real"] == pytest.approx(166.0, abs=0.2)  # the tallest bar fills the plot (220-14-40)
    assert heights["ai-generated"] == pytest.approx(166.0 * 2 / 3, abs=0.2)
    titles = [t for _, t in page.find("title")]
    assert "p_fake 0.00–0.05: 3 real" in titles and "p_fake 0.95–1.00: 2 ai-generated" in titles
    line = page.find("line", class_="threshold")
    assert len(line) == 1 and float(line[0][0]["x1"] or 0) == pytest.approx(44 + 0.62 * 584, abs=0.1)


def test_histogram_without_scores_says_so() -> None:
    page = Page(histogram_svg([err("a.png")], None))
    assert [t for _, t in page.find("text", class_="empty")] == ["no scored images"]
    assert page.find("line", class_="threshold") == []


def test_thumbnail_cap(images: dict[str, Path]) -> None:
    records = [ok(str(images["png"]), 0.1 * i, "real") for i in range(4)]
    page = Page(render_html(records, None, title="t", max_thumbnails=2))
    assert len(page.find("img", class_="thumb")) == 2
    assert any("first 2 of 4 images" in t for _, t in page.find("p"))
    assert MAX_THUMBNAILS == 2000


def test_thumbnails_off(images: dict[str, Path]) -> None:
    page = Page(render_html([ok(str(images["png"]), 0.3, "real")], None, title="t", thumbnails=False))
    assert page.find("img", class_="thumb") == []


def test_empty_report() -> None:
    page = Page(render_html([], None, title="nothing"))
    assert page.problems == []
    assert any(t == "No image was scored." for _, t in page.find("p"))
    assert any(t == "Every input was read." for _, t in page.find("p"))


def test_summary_recomputed_from_records() -> None:
    records = [ok("a.png", 0.9, "ai-generated", evidence=(Evidence("npr", "detector", 0.9, "x"),
                                                           Evidence("c2pa", "provenance", 0.5, "none"))),
               ok("b.png", 0.1, "real", elapsed_ms=30.0), err("c.png")]
    s = summarize_records(records)
    assert (s["total"], s["ok"], s["errors"]) == (3, 2, 1)
    assert s["labels"] == {"ai-generated": 1, "real": 1, "inconclusive": 0}
    assert s["detectors"] == ["npr"] and s["operating_fpr"] == 0.01
    assert s["elapsed_s"] == pytest.approx(0.051) and s["images_per_s"] == pytest.approx(3 / 0.051, abs=0.01)


def test_write_html_from_jsonl(images: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scan_dir = tmp_path / "scan"
    scan_dir.mkdir()
    Image.open(images["png"]).save(scan_dir / "rel.png")
    jsonl = scan_dir / "results.jsonl"
    with open_sink("jsonl", jsonl) as sink:
        sink.write(ok("rel.png", 0.9, "ai-generated", evidence=(Evidence("npr", "detector", 0.9, "x"),)))
        sink.write(ok("other.png", 0.2, "real"))
        sink.write(err("bad.jpg"))
    with open(jsonl, "a", encoding="utf-8") as f:
        f.write("[1, 2]\n")
        f.write('{"path": "cut')  # a scan killed mid-line
    monkeypatch.chdir(tmp_path)  # relative paths resolve from the JSONL's folder
    out = write_html_from_jsonl(jsonl, tmp_path / "out" / "report.html")
    page = Page(out.read_text("utf-8"))
    assert page.problems == []
    assert page.find("title")[0][1] == "fakescope report: results.jsonl"
    assert len([a for a, _ in page.find("tr") if a.get("data-label")]) == 2
    assert len(page.find("img", class_="thumb")) == 1
    notices = " ".join(t for _, t in page.find("section", class_="notices"))
    assert "2 lines of results.jsonl could not be read" in notices and "line 4, 5" in notices
    cards = [t for _, t in page.find("div", class_="k")]
    assert "images/s (est.)" in cards


def test_write_html_from_missing_jsonl(tmp_path: Path) -> None:
    from fakescope.errors import UsageError

    with pytest.raises(UsageError, match="no such results file"):
        write_html_from_jsonl(tmp_path / "nope.jsonl", tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_records_from_a_tampered_file_do_not_break_the_page() -> None:
    weird = {"path": 123, "status": "ok", "p_fake": "0.9\" onmouseover=\"x", "label": "<b>", "threshold": float("nan"),
             "evidence": [{"source": "s", "kind": "k<i>", "score": 9, "summary": None, "details": {"a": [{"b": 1}]}}, "junk"],
             "generator": "sd", "elapsed_ms": "slow", "width": "w"}
    text = render_html([weird, json.loads(json.dumps(err("e.png")))], None, title="t", thumbnails=False)
    page = Page(text)
    assert page.problems == []
    assert "onmouseover" not in text  # a non-number p_fake is not echoed
    assert [a["data-label"] for a, _ in page.find("tr") if a.get("data-label")] == ["<b>"]
    assert [t for _, t in page.find("h4")] == ["k<i>"]


def test_each_threshold_is_shown_where_it_applies_and_tiny_images_stay_sharp(images: dict[str, Path],
                                                                               tmp_path: Path) -> None:
    """Thumbnails and some compressions have thresholds of their own: the header lists every one with its
    count; a 32-px image is drawn large with its pixels kept sharp; a moved file says so in the page."""
    thumb = dict(ok(str(images["png"]), 0.99, "ai-generated", width=32, height=32))
    thumb["threshold"] = 0.951
    big = ok(str(images["png"]), 0.7, "ai-generated", width=1024, height=768)
    moved = ok(str(tmp_path / "gone.png"), 0.2, "inconclusive", width=1024, height=768)
    html = render_html([thumb, big, moved], None, title="t")
    page = Page(html)
    assert page.problems == []
    metas = " ".join(t for _, t in page.find("p", class_="meta"))
    assert "0.620 for 2 images" in metas and "0.951 for 1 image" in metas
    imgs = page.find("img", class_="thumb")
    assert len(imgs) == 2 and sum("pixel" in (a.get("class") or "") for a, _ in imgs) == 1
    assert "image-rendering: pixelated" in html
    assert any("file not found" in t for _, t in page.find("small"))


def test_c2pa_panel_says_trust_and_failing_ingredients_in_words(tmp_path: Path) -> None:
    """The Content Credentials panel of a real C2PA result: state and ingredients in words, signer, trust list."""
    pytest.importorskip("c2pa", reason="c2pa-python not installed (a dependency of fakescope)")
    from fakescope.provenance import c2pa as fc2pa

    data_dir = Path(os.environ.get("FAKESCOPE_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
    f = data_dir / "c2pa" / "public-testfiles" / "adobe-20220124-CIE-sig-CA.jpg"
    if not f.exists():
        pytest.skip(f"C2PA public test files not found at {f.parent}")
    (item,) = fc2pa.c2pa_evidence(fc2pa.read_c2pa(f.read_bytes(), "JPEG"))
    page = render_html([ok(str(f), 0.5, "inconclusive", evidence=(item,))], None, title="t", thumbnails=False)
    panel = re.search(r'<dl class="kv c2pa-panel">(.*?)</dl>', page, re.S)
    assert panel is not None
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", panel.group(1)))
    assert "Content Credentials" in text
    assert "valid, but ingredient E-sig-CA.jpg carries credentials that fail validation: signature mismatch" in text
    assert "E-sig-CA.jpg carries credentials that fail validation: signature mismatch (claimSignature.mismatch)" in text
    assert "signed by a certificate that no trusted authority vouches for" in text
    assert "C2PA trust list of 2026-08-21, 30 certificates" in text
    # an item without a C2PA result (a hand-made one) gets no panel
    bare = Evidence("c2pa", "provenance", 1.0, "signed manifest", weight="strong", details={"claim_generator": "x"})
    assert '<dl class="kv c2pa-panel">' not in render_html([ok(str(f), 1.0, "ai-generated", evidence=(bare,))], None,
                                                           title="t", thumbnails=False)
