"""The command line, through a real subprocess, on real images."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fakescope.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


@pytest.fixture()
def small_folder(tmp_path: Path, cifake_val) -> Path:
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    for i in range(3):
        shutil.copy(cifake_val["real"][i], d / f"real_{i}.jpg")
        shutil.copy(cifake_val["fake"][i], d / "sub" / f"fake_{i}.jpg")
    return d


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_scan_jsonl_recursive_exit_zero(small_folder: Path, tmp_path: Path):
    out = tmp_path / "out.jsonl"
    r = run("scan", str(small_folder), "--recursive", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    recs = _records(out)
    assert len(recs) == 6 and all(x["status"] == "ok" for x in recs)
    assert {x["label"] for x in recs} <= {"ai-generated", "real", "inconclusive"}
    assert all(len(x["sha256"]) == 64 and 0.0 <= x["p_fake"] <= 1.0 for x in recs)
    from fakescope.fusion import default_regime_detectors

    regimes = default_regime_detectors()
    for x in recs:  # each image carries the evidence of its regime's default set
        regime = "full" if min(x["width"], x["height"]) > 64 else "thumbnail"
        assert set(regimes[regime]) <= {e["source"] for e in x["evidence"]}
    assert "6 scanned" in r.stderr and "img/s" in r.stderr


def test_scan_without_recursive_skips_subfolders(small_folder: Path, tmp_path: Path):
    out = tmp_path / "out.jsonl"
    r = run("scan", str(small_folder), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert len(_records(out)) == 3


def test_broken_file_is_one_error_row_and_exit_one(small_folder: Path, tmp_path: Path):
    data = (small_folder / "real_0.jpg").read_bytes()
    (small_folder / "broken.jpg").write_bytes(data[: len(data) // 2])
    (small_folder / "empty.png").write_bytes(b"")
    (small_folder / "text.jpg").write_text("this is not an image")
    out = tmp_path / "out.jsonl"
    r = run("scan", str(small_folder), "--out", str(out), "--no-progress")
    assert r.returncode == 1, r.stderr
    recs = {Path(x["path"]).name: x for x in _records(out)}
    assert len(recs) == 6
    for name in ("broken.jpg", "empty.png", "text.jpg"):
        assert recs[name]["status"] == "error" and name in recs[name]["error"], recs[name]
    assert recs["real_0.jpg"]["status"] == "ok"


def test_csv_and_table_formats(small_folder: Path, tmp_path: Path):
    out = tmp_path / "out.csv"
    r = run("scan", str(small_folder), "-r", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6 and {"path", "label", "p_fake", "explanation"} <= set(rows[0])
    t = run("scan", str(small_folder), "--no-progress")
    assert t.returncode == 0, t.stderr
    assert "real_0.jpg" in t.stdout and "images/s" in t.stdout.replace("img/s", "images/s")


def test_html_report(small_folder: Path, tmp_path: Path):
    out = tmp_path / "r.jsonl"
    html = tmp_path / "r.html"
    r = run("scan", str(small_folder), "-r", "--out", str(out), "--html", str(html), "--no-progress")
    assert r.returncode == 0, r.stderr
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>")
    assert "real_0.jpg" in page and "data:image/jpeg;base64," in page
    html2 = tmp_path / "again.html"
    r2 = run("report", str(out), "--out", str(html2))
    assert r2.returncode == 0, r2.stderr
    assert "fake_0.jpg" in html2.read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["scan", "{small}", "--detector", "nope"], "unknown detector 'nope'"),
        (["scan", "{small}", "--fpr", "0.7"], "--fpr"),
        (["scan", "{small}", "--resume"], "--resume needs --out"),
        (["scan", "{small}", "--format", "html"], "needs --out"),
        (["scan"], "no inputs"),
        (["scan", "-", "--files-from", "-"], "standard input can be read once"),
        (["scan", "--files-from", "/no/such/list.txt"], "cannot read /no/such/list.txt"),
        ([], "usage"),
    ],
)
def test_usage_errors_exit_two(small_folder: Path, args: list[str], message: str):
    r = run(*[a.replace("{small}", str(small_folder)) for a in args])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in (r.stderr + r.stdout)


def test_detectors_command_lists_cards():
    r = run("detectors", "--json")
    assert r.returncode == 0, r.stderr
    cards = {c["name"]: c for c in json.loads(r.stdout)}
    assert {"npr", "spectral"} <= set(cards)
    assert all(len(c["sha256"]) == 64 for c in cards.values() if c["weights"])


def test_resume_after_kill(tmp_path: Path, cifake_val):
    d = tmp_path / "many"
    d.mkdir()
    # all 1,000 CIFAKE val images: enough work that the kill lands mid-way even on a quiet machine
    files = cifake_val["real"] + cifake_val["fake"]
    for i, f in enumerate(files):
        shutil.copy(f, d / f"{i:04d}.jpg")
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "fakescope.cli", "scan", str(d), "--out", str(out),
                             "--no-progress", "--jobs", "2"], env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if out.exists() and out.read_text().count("\n") >= 10:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = out.read_text().count("\n")
    assert 10 <= done_before < len(files), "the scan should have been killed mid-way"
    with out.open("a") as f:  # a torn last line, as a kill during a write leaves it
        f.write('{"path": "' + str(d / "9999.jpg"))
    r = run("scan", str(d), "--out", str(out), "--resume", "--no-progress")
    assert r.returncode == 0, r.stderr
    recs = _records(out)
    names = [Path(x["path"]).name for x in recs]
    assert sorted(names) == sorted(f"{i:04d}.jpg" for i in range(len(files)))  # each exactly once
    assert f"skipped {done_before}" in r.stderr


def test_provenance_command_text_and_json(data_dir: Path):
    c = data_dir / "c2pa" / "C.jpg"
    r = run("provenance", str(c))
    assert r.returncode == 0, r.stderr
    assert "C2PA" in r.stdout and "algorithmicMedia" in r.stdout
    j = run("provenance", str(c), "--format", "json")
    assert j.returncode == 0, j.stderr
    rep = json.loads(j.stdout)
    assert rep["path"].endswith("C.jpg")
    missing = run("provenance", "/no/such.jpg")
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_scan_fuses_strong_provenance(data_dir: Path, tmp_path: Path):
    """A valid C2PA manifest declaring an algorithmic source decides the label, with the reason."""
    out = tmp_path / "c.jsonl"
    r = run("scan", str(data_dir / "c2pa" / "C.jpg"), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    rec = _records(out)[0]
    assert rec["label"] == "ai-generated"
    assert any(e["kind"] == "provenance" and e["weight"] == "strong" for e in rec["evidence"])
    assert "C2PA" in rec["explanation"]
    r2 = run("scan", str(data_dir / "c2pa" / "C.jpg"), "--out", str(out), "--no-provenance", "--no-progress",
             "--overwrite")
    assert r2.returncode == 0
    kinds = {e["kind"] for e in _records(out)[0]["evidence"]}
    # pixel evidence only (detectors, and attribution when the pixels say ai-generated): no provenance
    assert "detector" in kinds and "provenance" not in kinds, kinds


# --- a new user's first hour (issue 12) ----------------------------------------------------------------

def test_missing_path_beside_good_ones_is_an_error_row_and_exit_one(small_folder: Path, tmp_path: Path):
    out = tmp_path / "out.jsonl"
    r = run("scan", str(small_folder), "/no/such/file.jpg", "--out", str(out), "--no-progress", "--no-provenance")
    assert r.returncode == 1, r.stderr
    recs = _records(out)
    assert [x["status"] for x in recs] == ["ok"] * 3 + ["error"]
    assert recs[-1]["error_type"] == "InputError" and "no such file or folder" in recs[-1]["error"]


def test_existing_output_is_never_overwritten_silently(small_folder: Path, tmp_path: Path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"path": "earlier.jpg", "status": "ok"}\n')
    r = run("scan", str(small_folder), "--out", str(out), "--no-progress", "--no-provenance")
    assert r.returncode == 2 and "--resume" in r.stderr and "--overwrite" in r.stderr
    assert out.read_text() == '{"path": "earlier.jpg", "status": "ok"}\n'  # nothing lost
    r = run("scan", str(small_folder), "--out", str(out), "--overwrite", "--no-progress", "--no-provenance")
    assert r.returncode == 0 and len(_records(out)) == 3 and "earlier.jpg" not in out.read_text()


def test_a_folder_of_subfolders_without_r_gets_a_hint(small_folder: Path, tmp_path: Path):
    only_sub = tmp_path / "nested"
    shutil.copytree(small_folder / "sub", only_sub / "inner")
    r = run("scan", str(only_sub), "--format", "jsonl", "--no-progress", "--no-provenance")
    assert r.returncode == 0 and r.stdout.strip() == ""
    assert "-r (--recursive)" in r.stderr


def test_symlink_loops_scan_each_image_once_and_report_the_loop(small_folder: Path, tmp_path: Path):
    (small_folder / "sub" / "up").symlink_to("..", target_is_directory=True)
    (small_folder / "sub" / "again").symlink_to("..", target_is_directory=True)
    out = tmp_path / "out.jsonl"
    r = run("scan", str(small_folder), "-r", "--out", str(out), "--no-progress", "--no-provenance", timeout=120)
    recs = _records(out)
    ok = [x for x in recs if x["status"] == "ok"]
    loops = [x for x in recs if x["status"] == "error"]
    assert len(ok) == 6 and len({os.path.realpath(x["path"]) for x in ok}) == 6
    assert loops and all("loop" in x["error"] for x in loops) and len(loops) <= 2
    assert r.returncode == 1


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"),
                    reason="running as root: setpriv (util-linux) is needed to drop root's file access")
def test_an_unreadable_subfolder_is_one_error_row_and_the_rest_is_scanned(small_folder: Path):
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="fakescope-perm-"))  # pytest's tmp_path is private to root
    try:
        base.chmod(0o777)
        tree = base / "imgs"
        shutil.copytree(small_folder, tree)
        locked = tree / "locked"
        locked.mkdir()
        shutil.copy(next((tree / "sub").iterdir()), locked / "x.jpg")
        for p in [tree, *tree.rglob("*")]:
            p.chmod(0o777 if p.is_dir() else 0o666)
        locked.chmod(0o000)
        out = base / "out.jsonl"
        cmd = [sys.executable, "-m", "fakescope.cli", "scan", str(tree), "-r", "--out", str(out),
               "--no-progress", "--no-provenance"]
        if os.geteuid() == 0:  # root reads any folder: run as nobody, without capabilities
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"] + cmd
        env = {**os.environ, "HOME": str(base), "FAKESCOPE_CACHE": str(base / "cache")}
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
        recs = _records(out)
        assert r.returncode == 1, r.stderr
        errors = [x for x in recs if x["status"] == "error"]
        assert len(errors) == 1 and "cannot list folder" in errors[0]["error"]
        assert errors[0]["path"].endswith("locked")
        assert sum(x["status"] == "ok" for x in recs) == 6
    finally:
        (base / "imgs" / "locked").chmod(0o755) if (base / "imgs" / "locked").exists() else None
        shutil.rmtree(base, ignore_errors=True)


def test_file_names_that_are_not_utf8_survive_every_sink_and_resume(cifake_val, tmp_path: Path):
    import base64

    d = tmp_path / "imgs"
    d.mkdir()
    name = os.fsdecode(b"caf\xe9 [dev].jpg")  # Latin-1 bytes on disk, and text rich markup would eat
    shutil.copy(cifake_val["real"][0], os.path.join(os.fsencode(d), os.fsencode(name)))
    out, html, csv_out = tmp_path / "r.jsonl", tmp_path / "r.html", tmp_path / "r.csv"
    r = run("scan", str(d), "--out", str(out), "--html", str(html), "--no-progress", "--no-provenance")
    assert r.returncode == 0, r.stderr
    rec = _records(out)[0]
    assert rec["path"].endswith("caf\\xe9 [dev].jpg")
    # (compared as ascii(): a failing assertion must not carry a surrogate into xdist's report)
    assert ascii(os.fsdecode(base64.b64decode(rec["path_bytes_b64"]))) == ascii(os.path.join(str(d), name))
    assert "caf\\xe9 [dev].jpg" in html.read_text(encoding="utf-8")
    r = run("report", str(out), "--out", str(tmp_path / "again.html"))
    assert r.returncode == 0 and "caf\\xe9" in (tmp_path / "again.html").read_text(encoding="utf-8")
    r = run("scan", str(d), "--out", str(csv_out), "--no-progress", "--no-provenance")
    assert r.returncode == 0 and "caf\\xe9 [dev].jpg" in csv_out.read_text(encoding="utf-8")
    r = run("scan", str(d), "--no-progress", "--no-provenance")  # the table
    assert r.returncode == 0 and "caf\\xe9 [dev].jpg" in r.stdout
    for f in (out, csv_out):  # resume finds the file done, in either format
        r = run("scan", str(d), "--out", str(f), "--resume", "--no-progress", "--no-provenance")
        assert r.returncode == 0 and "skipped 1" in r.stderr
    assert len(_records(out)) == 1


def test_detectors_is_a_compact_table_and_name_shows_a_card_verbatim():
    env = {**os.environ, "COLUMNS": "80"}
    r = subprocess.run([sys.executable, "-m", "fakescope.cli", "detectors"], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) < 30 and max(len(x) for x in lines) <= 80
    rows = {x.split("│")[1].strip(): x for x in lines if x.startswith("│")}
    assert {"npr", "spectral", "safe", "rine"} <= set(rows)
    from fakescope.fusion import Fuser

    fuser = Fuser.default()  # the default column names each detector's regimes in the shipped fusion
    for name in set(fuser.detectors_for(1024)) | set(fuser.detectors_for(32)):
        both = name in fuser.detectors_for(1024) and name in fuser.detectors_for(32)
        want = "full+thumb" if both else ("full" if name in fuser.detectors_for(1024) else "thumb")
        assert f"│ {want} " in rows[name], rows[name]
    assert "crops 224" in rows["rine"] and "tiles 96" in rows["npr"] and "crops 128" in rows["zed"]
    assert "…" not in r.stdout  # nothing cut
    r = subprocess.run([sys.executable, "-m", "fakescope.cli", "detectors", "npr"], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("name: npr")
    assert "sha256: " in r.stdout and "training_data: " in r.stdout
    # square brackets in card text print as they are (rich markup would eat "[dev]")
    from fakescope.detectors import create_detector

    card_text = json.dumps(create_detector("npr").card.to_dict())
    if "[" in card_text:
        assert "[" in r.stdout
    r = run("detectors", "nope")
    assert r.returncode == 2 and "unknown detector 'nope'" in r.stderr


def test_files_from_and_dash_read_path_lists(small_folder: Path, tmp_path: Path):
    files = sorted(str(p) for p in small_folder.rglob("*.jpg"))
    lst = tmp_path / "list.txt"
    lst.write_text("\n".join(files[:2]) + "\n\n")
    r = run("scan", "--files-from", str(lst), "--format", "jsonl", "--no-progress", "--no-provenance")
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["path"] for x in r.stdout.splitlines()] == files[:2]
    # find -print0 | fakescope scan - -0 : NUL-separated on standard input, beside a PATH argument
    r = subprocess.run([sys.executable, "-m", "fakescope.cli", "scan", files[2], "-", "-0", "--format", "jsonl",
                        "--no-progress", "--no-provenance"], input=("\0".join(files[3:]) + "\0").encode(),
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["path"] for x in r.stdout.decode().splitlines()] == files[2:]


def test_a_missing_optional_extra_is_exit_two_with_the_install_hint():
    """One rule for missing extras (exit 2, the message names what to install), checked through main()
    with the extra's import made to fail in a real subprocess."""
    code = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def fake(name, *a, **k):\n"
        "    if name == 'torch' or name.startswith('torch.'):\n"
        "        raise ImportError('no torch here')\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = fake\n"
        "from fakescope.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code, "train", "--detector", "npr", "--data", "shared", "--out",
                        "/tmp/never"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "pip install" in r.stderr
    # a detector whose backbone export is not cached yet and cannot be made without torch
    sample = REPO / "samples" / "real_kodim05.jpg"
    env = {**os.environ, "FAKESCOPE_CACHE": str(REPO / ".cache" / "no-such-cache-for-this-test")}
    r = subprocess.run([sys.executable, "-c", code, "scan", str(sample), "--detector", "probe", "--format", "jsonl",
                        "--no-progress"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 2 and "pip install 'fakescope[backbone]'" in r.stderr


def test_bench_on_the_users_folder_shrinks_and_logs_progress(cifake_val, tmp_path: Path):
    d = tmp_path / "mine"
    for cls in ("real", "fake"):
        (d / cls).mkdir(parents=True)
        for p in cifake_val[cls][:6]:
            shutil.copy(p, d / cls / p.name)
    out = tmp_path / "rep"
    r = run("bench", "--config", str(REPO / "configs" / "bench" / "calibration.yaml"), "--data", str(d),
            "--out", str(out), "--limit", "6", "--no-html")
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["dataset"]["n_items"] == 6 and rep["dataset"]["n_real"] == 3 and rep["dataset"]["filters"]["limit"] == 6
    assert "fakescope bench: " in r.stderr and "/6 images" in r.stderr  # not a terminal: progress lines
    r = run("bench", "--config", str(REPO / "configs" / "bench" / "calibration.yaml"), "--data", str(d),
            "--out", str(tmp_path / "rep2"), "--max-per-class", "2", "--no-html", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "rep2" / "report.json").read_text())["dataset"]["n_items"] == 4
    r = run("bench", "--config", str(REPO / "configs" / "bench" / "calibration.yaml"), "--data", str(d),
            "--out", str(tmp_path / "rep3"), "--limit", "0")
    assert r.returncode == 2 and "--limit" in r.stderr
