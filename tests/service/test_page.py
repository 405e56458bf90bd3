"""The web page at / in real headless Chromium (Debian's chromium, driven by Playwright; no browser
download): a key pasted in, a real photo and an AI image uploaded, the two verdicts read, the history
searched and filtered, all by keyboard where a person would use it."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from .conftest import SAMPLES, create_key, write_pan_clip


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    pytest.skip("Chromium not installed: install Debian's 'chromium' package (.ci/run does) to run the page test")


@pytest.fixture
def browser():
    exe = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="the page test needs playwright (the [dev] extra)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def test_upload_two_images_read_verdicts_and_history(sqlite_url: str, live_server, browser, tmp_path: Path):
    from playwright.sync_api import expect

    key = create_key(sqlite_url, "page")
    srv = live_server(sqlite_url).start()
    labels = {r["file"]: r["label"] for r in csv.DictReader(open(SAMPLES / "labels.csv", encoding="utf-8"))}
    real, fake = "real_kodim23.jpg", "fake_cifake_val_00000.jpg"
    assert (labels[real], labels[fake]) == ("real", "fake")
    hostile = tmp_path / "<img src=x onerror=window.pwned=1>.jpg"  # a file name is shown as text, never as HTML
    hostile.write_bytes((SAMPLES / fake).read_bytes())

    expect.set_options(timeout=30_000)  # a shared, busy CI machine: a scan may wait for a core
    page = browser.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "401" not in m.text else None)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    # Listen for file choosers from the start: Playwright turns Chromium's chooser interception on only when the
    # first listener appears, without waiting for the browser's answer, so a listener added just before the
    # key press races it on a busy machine (the chooser then opens natively, unseen, and the wait times out).
    choosers: list = []
    page.on("filechooser", lambda c: choosers.append(c))
    page.goto(srv.url + "/")
    expect(page.locator("#keyform")).to_be_visible()
    expect(page.locator("#hist-count")).to_contain_text("API key")

    # without a key the upload is refused and the page says why
    page.set_input_files("#file", str(SAMPLES / real))
    expect(page.locator("#status")).to_contain_text("Unauthorized")
    # paste the key (keyboard only), kept in sessionStorage
    page.locator("#apikey").focus()
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("key set")
    assert page.evaluate("sessionStorage.getItem('fakescope.apiKey')") == key
    assert page.evaluate("localStorage.length") == 0

    page.set_input_files("#file", str(SAMPLES / real))
    expect(page.locator("#status")).to_contain_text("scanned real_kodim23.jpg")
    real_label = page.locator("#verdict-label").inner_text()
    assert real_label in ("real", "inconclusive")  # a real photo is never called AI-generated here
    assert float(page.locator("#verdict-p").inner_text()) < 0.5
    expect(page.locator("#explanation")).not_to_be_empty()
    assert page.locator("#evidence tbody tr").count() >= 2
    expect(page.locator("#provenance-panel")).not_to_be_empty()
    assert page.locator("#gauge-fill").get_attribute("d") != "M 20 100 A 80 80 0 0 1 20 100"

    page.set_input_files("#file", str(SAMPLES / fake))
    expect(page.locator("#status")).to_contain_text("scanned fake_cifake_val_00000.jpg")
    expect(page.locator("#verdict-label")).to_have_text("ai-generated")
    assert float(page.locator("#verdict-p").inner_text()) > 0.5
    assert "ai" in page.locator("#gauge-fill").get_attribute("class")

    # the same bytes again (under a hostile name): answered from the database, the name shown as text
    page.set_input_files("#file", str(hostile))
    expect(page.locator("#notice")).to_contain_text("scanned before")
    expect(page.locator("#vname")).to_have_text(hostile.name)
    assert page.evaluate("window.pwned") is None

    # history: two images stored, newest first; search and filter; Enter on a row opens its verdict
    rows = page.locator("#history tbody tr")
    expect(page.locator("#hist-count")).to_contain_text("2 scans stored")
    assert rows.count() == 2
    page.select_option("#label-filter", "ai-generated")
    expect(page.locator("#hist-count")).to_contain_text("1 scan match")
    assert rows.count() == 1 and rows.first.get_attribute("data-label") == "ai-generated"
    page.select_option("#label-filter", "")
    page.fill("#q", "kodim")
    page.press("#q", "Enter")
    expect(page.locator("#hist-count")).to_contain_text("1 scan match")
    rows.first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("stored verdict of real_kodim23.jpg")
    expect(page.locator("#verdict-label")).to_have_text(real_label)

    # keyboard: the drop zone is reachable with Tab and opens the file chooser with Enter
    page.locator("#apikey").focus()
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "drop":
            break
    assert page.evaluate("document.activeElement.id") == "drop"
    with page.expect_file_chooser() as fc:
        page.keyboard.press("Enter")
    assert choosers and choosers[-1].element.evaluate("e => e.id") == "file"  # the page's own hidden input
    fc.value.set_files(str(SAMPLES / "fake_ddpm_flowers.png"))
    expect(page.locator("#status")).to_contain_text("scanned fake_ddpm_flowers.png")

    assert not errors, errors
    assert all(u.startswith(srv.url) or u.startswith("blob:") or u.startswith("data:") for u in requests), requests


def test_upload_a_video_shows_its_timeline_and_segments(sqlite_url: str, live_server, browser, tmp_path: Path):
    from playwright.sync_api import expect

    pytest.importorskip("av", reason="video uploads need PyAV (the 'video' extra)")
    clip = tmp_path / "spliced.mp4"  # 1.5 s of a real photo, then 1.5 s of a Kolors image
    write_pan_clip(clip, [("real_kodim23.jpg", 15), ("fake_kolors_canny-dog.jpg", 15)])
    srv = live_server(sqlite_url, "--no-auth").start()
    expect.set_options(timeout=60_000)
    page = browser.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(srv.url + "/")
    expect(page.locator("#hist-count")).to_contain_text("0 scans stored")
    page.set_input_files("#file", str(clip))
    expect(page.locator("#status")).to_contain_text("scanned spliced.mp4")
    expect(page.locator("#video-panel")).to_be_visible()
    expect(page.locator("#preview-video")).to_be_visible()
    expect(page.locator("#video-facts")).to_contain_text("6 frames analysed")
    expect(page.locator("#video-facts")).to_contain_text("1 segment look generated")
    rows = page.locator("#segments tbody tr")
    assert rows.count() == 1 and float(rows.first.get_attribute("data-start")) == pytest.approx(1.5, abs=0.51)
    assert page.locator("#tl-segments rect").count() == 1
    assert len(page.locator("#tl-frames").get_attribute("points").split()) == 6
    # the stored verdict, opened from the history, shows the same segments
    page.locator("#history tbody tr").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("stored verdict of spliced.mp4")
    expect(page.locator("#video-panel")).to_be_visible()
    assert page.locator("#segments tbody tr").count() == 1
    # an image after the video: the timeline goes away
    page.set_input_files("#file", str(SAMPLES / "fake_cifake_val_00000.jpg"))
    expect(page.locator("#status")).to_contain_text("scanned fake_cifake_val_00000.jpg")
    expect(page.locator("#video-panel")).to_be_hidden()
    assert not errors, errors
