"""fakescope scan over a folder with an image and a video: JSON lines valid against the schema, CSV, HTML."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.cli import main

from .conftest import pattern, write_clip

jsonschema = pytest.importorskip("jsonschema")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def validator():
    schema = json.loads((REPO / "docs" / "verdict.schema.json").read_text())
    packaged = json.loads((REPO / "src" / "fakescope" / "schema" / "verdict.schema.json").read_text())
    assert schema == packaged
    return jsonschema.Draft202012Validator(schema)


def test_scan_folder_with_an_image_and_a_video(tmp_path: Path, validator) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(pattern(0, 128, 96)).save(folder / "a.png")
    write_clip(folder / "b.mp4", [pattern(i, 128, 96) for i in range(12)], fps=4, audio=True)
    (folder / "c.bin").write_bytes(b"not scanned: no media extension")
    # a video named like an image is still a video (sniffed by content)
    write_clip(tmp_path / "x.mp4", [pattern(i, 128, 96) for i in range(4)], fps=4).rename(folder / "d.jpg")
    out, html = tmp_path / "r.jsonl", tmp_path / "r.html"
    rc = main(["scan", str(folder), "--out", str(out), "--html", str(html), "--no-progress", "--video-sample", "2"])
    assert rc == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["path"]).name for r in recs] == ["a.png", "b.mp4", "d.jpg"]
    for r in recs:
        assert not list(validator.iter_errors(r)), r
    img, vid, disguised = recs
    assert "media" not in img and img["format"] == "PNG"
    assert vid["media"] == "video" and vid["format"] == "MP4" and vid["duration_s"] == pytest.approx(3.0)
    assert [f["t_s"] for f in vid["frames"]] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert vid["video"]["has_audio"] is True and vid["video"]["audio_codec"] == "aac"
    assert vid["label"] in ("real", "inconclusive", "ai-generated") and 0 <= vid["p_fake"] <= 1
    assert {e["source"] for e in vid["evidence"]} >= {"frames", "container", "provenance"}
    assert disguised["media"] == "video"
    page = html.read_text()
    assert 'class="timeline"' in page and "frame at 0.0 s" in page and "a.png" in page
    # a broken video is an error row beside the rest; CSV keeps its flat columns
    (folder / "e.mp4").write_bytes((folder / "b.mp4").read_bytes()[:500])
    out2 = tmp_path / "r.csv"
    rc = main(["scan", str(folder), "--out", str(out2), "--no-progress", "--no-faces"])
    assert rc == 1
    rows = list(csv.DictReader(out2.open()))
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "error"]
    assert "truncated" in rows[-1]["error"]


def test_video_sample_option_is_checked(tmp_path: Path, capsys) -> None:
    Image.fromarray(pattern(0)).save(tmp_path / "a.png")
    assert main(["scan", str(tmp_path / "a.png"), "--video-sample", "often", "--no-progress"]) == 2
    assert "video sampling" in capsys.readouterr().err


def test_schema_rejects_bad_video_fields(validator) -> None:
    from fakescope.types import Verdict

    d = Verdict(path="v.mp4", status="ok", sha256="ab" * 32, p_fake=0.9, label="ai-generated", threshold=0.8,
                operating_fpr=0.05, elapsed_ms=1.0, width=64, height=48, format="MP4", media="video",
                duration_s=2.0, fps=10.0, segments=({"start_s": 0.5, "end_s": 1.5, "score": 0.9},),
                frames=({"t_s": 0.0, "p_fake": 0.1}, {"t_s": 0.5, "p_fake": 0.95}),
                video={"format": "MP4", "codec": "h264", "has_audio": False, "sampled_frames": 2}).to_dict()
    assert not list(validator.iter_errors(d))
    bad = dict(d, segments=[{"start_s": 0.5, "end_s": 1.5, "score": 1.5}])
    assert list(validator.iter_errors(bad))
    missing = {k: v for k, v in d.items() if k != "frames"}
    assert list(validator.iter_errors(missing))  # media needs its companions


def test_table_shows_the_segments(tmp_path: Path, capsys) -> None:
    clip = write_clip(tmp_path / "v.mp4", [pattern(i, 96, 64) for i in range(8)], fps=4)
    assert main(["scan", str(clip), "--format", "table", "--no-progress", "--no-faces", "--no-provenance"]) == 0
    out = capsys.readouterr().out
    assert "v.mp4" in out and ("no segment" in out or "segments" in out) and "(4 frames, 2.0 s)" in out
