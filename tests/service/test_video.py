"""Video uploads to a real server (``fakescope serve`` on 127.0.0.1): a clip with a known fake segment scanned,
its verdict and segments stored and returned; the video limits (bytes, duration) and a damaged file answered
with clear 4xx problems, never a 5xx, nothing stored lost."""

from __future__ import annotations

import httpx
import pytest

from .conftest import SAMPLES, create_key, write_pan_clip

av = pytest.importorskip("av", reason="video uploads need PyAV (the 'video' extra)")

FPS = 10


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("clips")
    # 3 s: 1.5 s of a real photo (Kodak), then 1.5 s of a Kolors image, the camera panning on
    spliced = write_pan_clip(d / "spliced.mp4", [("real_kodim23.jpg", 15), ("fake_kolors_canny-dog.jpg", 15)])
    long = write_pan_clip(d / "long.mp4", [("real_kodim23.jpg", 50)])  # 5 s, all real
    return {"spliced": spliced, "long": long}


def _problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["detail"]
    return body


def test_video_upload_verdict_segments_stored_limits_and_a_damaged_file(sqlite_url: str, live_server, clips):
    key = create_key(sqlite_url, "video")
    # images up to 10 kB, videos up to 4 s: the two limits are told apart by the bytes, not the file name
    srv = live_server(sqlite_url, "--max-upload-mb", "0.01", "--max-video-seconds", "4").start()
    h = {"Authorization": f"Bearer {key}"}

    def scan(name: str, data: bytes, **kw) -> httpx.Response:
        return httpx.post(srv.url + "/v1/scan", files={"file": (name, data)}, headers=h, timeout=180, **kw)

    spliced = clips["spliced"]
    assert len(spliced) > 10 * 1024 * 1.05  # over the image limit, under the video one
    r = scan("spliced.mp4", spliced)
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["status"] == "ok" and v["media"] == "video" and v["format"] == "MP4" and not v["cached"]
    assert v["duration_s"] == pytest.approx(3.0, abs=0.15) and v["fps"] == pytest.approx(FPS)
    assert len(v["frames"]) == 6 and v["video"]["sampled_frames"] == 6  # 2 frames/s
    p = [f["p_fake"] for f in v["frames"]]
    assert max(p[:3]) < min(p[3:])  # the Kolors frames score above the real ones
    # the fake half is found as one segment starting where the cut is (frames sampled every 0.5 s)
    assert len(v["segments"]) == 1 and v["segments"][0]["start_s"] == pytest.approx(1.5, abs=0.51)
    assert v["segments"][0]["end_s"] == pytest.approx(3.0, abs=0.51)
    assert v["label"] in ("ai-generated", "inconclusive") and v["p_fake"] >= min(p[3:])
    sha = v["sha256"]
    assert v["result_url"] == f"/v1/results/{sha}"

    # stored: the same verdict (segments, frames) by its sha256, in the history, and answered from the database
    stored = httpx.get(srv.url + f"/v1/results/{sha}", headers=h, timeout=30).json()
    assert stored["segments"] == v["segments"] and stored["frames"] == v["frames"] and stored["media"] == "video"
    assert stored["image"]["format"] == "MP4"
    again = scan("again.mp4", spliced).json()
    assert again["cached"] and again["segments"] == v["segments"] and again["path"] == "again.mp4"

    # an image over the image limit is refused, as before
    big_png = (SAMPLES / "real_skimage_coffee.png").read_bytes()
    assert len(big_png) > 10 * 1024
    assert _problem(scan("coffee.png", big_png), 413)["type"].endswith("too-large")

    # a clip over the duration limit: 413, read from the container's header
    body = _problem(scan("long.mp4", clips["long"]), 413)
    assert body["type"].endswith("too-large") and "limit" in body["detail"]

    # a damaged video (the first 60 % of the bytes, or its header alone): a clear 422 problem, no 5xx
    for cut in (0.6, 0.02):
        body = _problem(scan("damaged.mp4", spliced[:int(len(spliced) * cut)]), 422)
        assert body["type"].split(":")[-1] in ("damaged-video", "unreadable-video"), body
        assert "damaged.mp4" in body["detail"] and "Traceback" not in body["detail"]

    # nothing lost: the server is up, the stored verdict unchanged, and one scan stored (the refusals are not)
    assert srv.alive()
    hist = httpx.get(srv.url + "/v1/results", headers=h, timeout=30).json()
    assert hist["total"] == 1 and hist["items"][0]["sha256"] == sha
    assert httpx.get(srv.url + f"/v1/results/{sha}", headers=h, timeout=30).json()["segments"] == v["segments"]
    metrics = httpx.get(srv.url + "/metrics", timeout=30).text
    assert 'status="500"' not in metrics


def test_video_size_limit_before_reading_and_videos_off(sqlite_url: str, live_server, clips):
    """A video over the video byte limit is refused with 413 as its bytes pass the limit; a server started with
    --no-video refuses videos with 422 and still scans images."""
    srv = live_server(sqlite_url, "--no-auth", "--max-video-mb", "0.01", "--max-upload-mb", "0.01").start()
    data = clips["spliced"]
    r = httpx.post(srv.url + "/v1/scan", files={"file": ("spliced.mp4", data)}, timeout=60)
    assert _problem(r, 413)["limit"] < len(data)
    srv.stop()
    srv2 = live_server(sqlite_url, "--no-auth", "--no-video").start()
    r = httpx.post(srv2.url + "/v1/scan", files={"file": ("spliced.mp4", data)}, timeout=60)
    assert "does not scan videos" in _problem(r, 422)["detail"]
    img = (SAMPLES / "fake_cifake_val_00000.jpg").read_bytes()
    ok = httpx.post(srv2.url + "/v1/scan", files={"file": ("a.jpg", img)}, timeout=120)
    assert ok.status_code == 200 and "media" not in ok.json()
