"""The REST API through FastAPI's TestClient on a real SQLite file: keys, limits, problem details,
dedupe by sha256 and by perceptual hash, the CLI's verdict for the same bytes, batches and folders."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from .conftest import REPO, SAMPLES, cli, sample_bytes

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

from fastapi.testclient import TestClient  # noqa: E402

from fakescope.io.decode import DecodeLimits  # noqa: E402
from fakescope.service import Settings, Store, create_app  # noqa: E402


def client(url: str, **kw) -> TestClient:
    kw.setdefault("poll_s", 0.05)
    return TestClient(create_app(Settings(db_url=url, **kw)))


def assert_problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["type"].startswith("urn:fakescope:problem:") and body["title"]
    assert "Traceback" not in r.text and 'File "' not in r.text
    return body


def test_keys_401_bearer_x_api_key_revoked_and_audit(sqlite_url: str):
    store = Store(sqlite_url)
    key, info = store.create_key("newsroom")
    data = sample_bytes("fake_cifake_val_00000.jpg")
    with client(sqlite_url) as c:
        body = assert_problem(c.post("/v1/scan", files={"file": ("a.jpg", data)}), 401)
        assert "fakescope keys create" in body["detail"]
        r = c.post("/v1/scan", files={"file": ("a.jpg", data)}, headers={"Authorization": "Bearer fsk_00000000_" + "x" * 43})
        assert_problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.post("/v1/scan", files={"file": ("a.jpg", data)}, headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert c.get("/v1/results", headers={"X-API-Key": key}).json()["total"] == 1
        assert_problem(c.get("/v1/detectors"), 401)
        # no key needed: health, metrics, the page and the API description
        for path in ("/healthz", "/metrics", "/", "/docs", "/openapi.json", "/static/app.js"):
            assert c.get(path).status_code == 200, path
        assert store.revoke_key("newsroom")[0].prefix == info.prefix
        assert_problem(c.get("/v1/results", headers={"X-API-Key": key}), 401)
    actions = [(a["action"], a["status"], a["actor"]) for a in store.audit_entries(limit=50)]
    assert ("scan", 200, f"newsroom ({info.prefix})") in actions
    assert ("auth.fail", 401, "anonymous") in actions
    assert any(a == "key.create" for a, _, _ in actions) and any(a == "key.revoke" for a, _, _ in actions)


def test_rate_limit_429_with_retry_after(sqlite_url: str):
    data = sample_bytes("fake_cifake_val_00000.jpg")
    with client(sqlite_url, auth=False, rate_per_minute=6, rate_burst=2) as c:
        codes = [c.post("/v1/scan", files={"file": ("a.jpg", data)}).status_code for _ in range(2)]
        assert codes == [200, 200]
        r = c.post("/v1/scan", files={"file": ("a.jpg", data)})
        body = assert_problem(r, 429)
        assert 1 <= int(r.headers["retry-after"]) <= 10 and "retry in" in body["detail"]
        assert c.get("/v1/results").status_code == 200  # reads are not rate limited
        assert 'fakescope_rate_limited_total 1' in c.get("/metrics").text


def test_size_and_pixel_limits_413_bad_files_422_and_no_url_fetching(sqlite_url: str):
    big = sample_bytes("real_kodim05.jpg")  # 178 kB, 768x512
    with client(sqlite_url, auth=False, limits=DecodeLimits(max_bytes=100_000, max_pixels=200_000)) as c:
        body = assert_problem(c.post("/v1/scan", files={"file": ("big.jpg", big)}), 413)
        assert "limit" in body["detail"]
        # under the byte limit but over the pixel limit (the header is read before any pixel is decoded)
        buf = io.BytesIO()
        Image.new("RGB", (1000, 300), (200, 10, 10)).save(buf, "PNG")
        body = assert_problem(c.post("/v1/scan", files={"file": ("wide.png", buf.getvalue())}), 413)
        assert body["error_type"] == "ImageTooLargeError"
        # content sniffing: a PNG named .jpg is a PNG; text named .png is refused
        r = c.post("/v1/scan", files={"file": ("lies.jpg", sample_bytes("fake_ddpm_flowers.png"), "image/jpeg")})
        assert r.status_code == 200 and r.json()["format"] == "PNG"
        body = assert_problem(c.post("/v1/scan", files={"file": ("x.png", b"GIF89a not really", "image/png")}), 422)
        assert body["error_type"] in ("UnsupportedFormatError", "TruncatedFileError", "DecodeError")
        truncated = sample_bytes("fake_biggan_imagenet.jpg")[:9000]
        assert assert_problem(c.post("/v1/scan", files={"file": ("t.jpg", truncated)}), 422)["error_type"] == "TruncatedFileError"
        assert assert_problem(c.post("/v1/scan", files={"file": ("e.jpg", b"")}), 422)["type"].endswith("empty-file")
        assert_problem(c.post("/v1/scan", data={"fpr": "0.01"}), 400)
        body = assert_problem(c.post("/v1/scan", data={"url": "http://169.254.169.254/latest/meta-data/"}, files={"file": ("a.jpg", b"x")}), 400)
        assert "never fetches URLs" in body["detail"]
        assert_problem(c.post("/v1/scan", files={"file": ("a.jpg", b"x")}, data={"fpr": "0.9"}), 400)
        assert_problem(c.post("/v1/scan", files={"file": ("a.jpg", b"x")}, data={"detectors": "nope"}), 400)
        assert_problem(c.get("/v1/results/not-a-sha"), 400)
        assert_problem(c.get("/v1/results/" + "0" * 64), 404)
        assert_problem(c.get("/v1/batches/" + "0" * 32), 404)
        assert_problem(c.get("/nowhere"), 404)
        assert_problem(c.delete("/v1/scan"), 405)
        assert c.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("video_bytes", [None, 20_000])
def test_streamed_body_over_the_limit_is_cut_off_with_413(sqlite_url: str, video_bytes: int | None):
    # the gate cuts a body off at the larger of the image and video limits (videos off: the image's)
    from fakescope.io.video import VideoLimits

    app = create_app(Settings(db_url=sqlite_url, auth=False, limits=DecodeLimits(max_bytes=10_000),
                              video_limits=VideoLimits(max_bytes=video_bytes) if video_bytes else None))
    with TestClient(app) as c:
        def chunks():  # no Content-Length: the gate counts the bytes as they arrive
            for _ in range(200):
                yield b"x" * 4096
        r = c.post("/v1/scan", content=chunks(), headers={"content-type": "multipart/form-data; boundary=zz"})
        assert_problem(r, 413)


def _resized_jpeg(data: bytes, scale: float, quality: int) -> bytes:
    im = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    im.resize((int(im.width * scale), int(im.height * scale)), Image.Resampling.LANCZOS).save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_dedupe_by_sha256_and_seen_before_by_perceptual_hash(sqlite_url: str):
    orig = sample_bytes("fake_sdxl-turbo_tile.jpg")
    copy = _resized_jpeg(orig, 0.6, 70)
    other = sample_bytes("real_kodim23.jpg")
    with client(sqlite_url, auth=False) as c:
        first = c.post("/v1/scan", files={"file": ("orig.jpg", orig)}).json()
        assert first["cached"] is False and first["seen_before"] is None
        again = c.post("/v1/scan", files={"file": ("renamed.jpg", orig)}).json()
        assert again["cached"] is True and again["path"] == "renamed.jpg"
        strip = lambda d: {k: v for k, v in d.items() if k not in ("path", "cached", "elapsed_ms")}  # noqa: E731
        assert strip(again) == strip(first)
        app = c.app
        assert app.state.service.scans == 1  # the same bytes were scored once
        near = c.post("/v1/scan", files={"file": ("copy.jpg", copy)}).json()
        assert near["cached"] is False and near["sha256"] != first["sha256"]
        assert near["seen_before"]["sha256"] == first["sha256"]
        assert near["seen_before"]["url"] == f"/v1/results/{first['sha256']}"
        assert near["seen_before"]["distance"] <= 6 and near["seen_before"]["name"] == "orig.jpg"
        linked = c.get(near["seen_before"]["url"]).json()
        assert linked["sha256"] == first["sha256"] and linked["label"] == first["label"]
        assert linked["image"]["uploads"] == 2
        unrelated = c.post("/v1/scan", files={"file": ("other.jpg", other)}).json()
        assert unrelated["seen_before"] is None
        # other options are another verdict of the same bytes (not answered from the first)
        strict = c.post("/v1/scan", files={"file": ("orig.jpg", orig)}, data={"fpr": "0.05"}).json()
        assert strict["cached"] is False and strict["operating_fpr"] == 0.05
        both = c.get(f"/v1/results/{first['sha256']}").json()
        assert len(both["scan_keys"]) == 2
        assert c.get(f"/v1/results/{first['sha256']}", params={"fpr": 0.01}).json()["operating_fpr"] == 0.01
        hist = c.get("/v1/results", params={"q": "orig"}).json()
        assert hist["total"] == 2 and {i["name"] for i in hist["items"]} == {"orig.jpg"}
        assert c.get("/v1/results", params={"q": first["sha256"][:10]}).json()["total"] == 2
        labels = {i["label"] for i in c.get("/v1/results").json()["items"]}
        for lab in labels:
            got = c.get("/v1/results", params={"label": lab}).json()["items"]
            assert got and all(i["label"] == lab for i in got)
        assert_problem(c.get("/v1/results", params={"label": "fake"}), 422)


def test_same_verdict_as_fakescope_scan_for_the_same_bytes(sqlite_url: str, tmp_path: Path):
    import jsonschema

    names = ["real_kodim14.jpg", "fake_kolors_canny-dog.jpg", "fake_stylegan2_hands.png", "real_cifake_val_00001.jpg"]
    out = tmp_path / "cli.jsonl"
    cli("scan", *[str(SAMPLES / n) for n in names], "--out", str(out), "--no-progress")
    by_cli = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    schema = json.loads((REPO / "docs" / "verdict.schema.json").read_text())
    with client(sqlite_url, auth=False) as c:
        for n in names:
            r = c.post("/v1/scan", files={"file": (n, sample_bytes(n))})
            assert r.status_code == 200
            got = r.json()
            jsonschema.validate(got, schema)
            want = by_cli[n]
            assert got["path"] == n
            for k in want:
                if k not in ("path", "elapsed_ms"):
                    assert got[k] == want[k], (n, k)
        dets = c.get("/v1/detectors").json()
        assert {"default", "detectors"} <= set(dets) and any(d["name"] == "rine" for d in dets["detectors"])


def _wait_job(c: TestClient, url: str, timeout: float = 60) -> dict:
    t0 = time.time()
    while time.time() - t0 < timeout:
        j = c.get(url).json()
        if j["status"] == "done":
            return j
        time.sleep(0.1)
    raise AssertionError(f"batch not done in {timeout} s: {j}")


def test_batch_uploads_paged_results(sqlite_url: str):
    names = ["fake_cifake_val_00000.jpg", "fake_cifake_val_00001.jpg", "real_cifake_val_00000.jpg", "broken.jpg",
             "fake_ddpm_flowers.png"]
    with client(sqlite_url, auth=False) as c:
        r = c.post("/v1/batches", files=[("files", (n, sample_bytes(n))) for n in names], data={"fpr": "0.01"})
        assert r.status_code == 202 and r.headers["location"] == r.json()["status_url"]
        j = _wait_job(c, r.json()["status_url"])
        assert (j["total"], j["done"], j["ok"], j["errors"], j["progress"]) == (5, 5, 4, 1, 1.0)
        page = c.get(r.json()["status_url"], params={"offset": 2, "limit": 2}).json()
        assert [x["seq"] for x in page["results"]] == [2, 3] and page["next_offset"] == 4
        assert page["results"][1]["status"] == "error" and "truncated" in page["results"][1]["verdict"]["error"]
        assert [x["name"] for x in j["results"]] == names
        # a batch of bytes already known is answered from the database
        r2 = c.post("/v1/batches", files=[("files", (n, sample_bytes(n))) for n in names[:2]])
        j2 = _wait_job(c, r2.json()["status_url"])
        assert all(x["cached"] for x in j2["results"])
        assert_problem(c.post("/v1/batches", data={"fpr": "0.01"}), 400)


def test_folder_batches_only_inside_allowed_folders(sqlite_url: str, tmp_path: Path):
    allowed = tmp_path / "inbox"
    (allowed / "sub").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.mkdir()
    for n in ("fake_cifake_val_00000.jpg", "real_cifake_val_00001.jpg"):
        (allowed / n).write_bytes(sample_bytes(n))
    (allowed / "sub" / "deep.jpg").write_bytes(sample_bytes("fake_cifake_val_00001.jpg"))
    (secret / "private.jpg").write_bytes(sample_bytes("real_cifake_val_00000.jpg"))
    os.symlink(secret / "private.jpg", allowed / "link-out.jpg")  # a link that leads outside is not read
    os.symlink(secret, allowed / "dir-out")
    with client(sqlite_url, auth=False) as c:  # no --allow-folder: folder batches are off
        assert "allow-folder" in assert_problem(c.post("/v1/batches", data={"folder": str(allowed)}), 403)["detail"]
    with client(sqlite_url, auth=False, batch_roots=(str(allowed),)) as c:
        for bad in (str(secret), "../secret", str(allowed / ".." / "secret"), "dir-out", "/etc", "sub/../../secret"):
            assert_problem(c.post("/v1/batches", data={"folder": bad}), 403)
        assert_problem(c.post("/v1/batches", data={"folder": "missing"}), 404)
        r = c.post("/v1/batches", data={"folder": "", "recursive": "true"})
        assert r.status_code in (400, 422)
        r = c.post("/v1/batches", data={"folder": str(allowed), "recursive": "true"})
        assert r.status_code == 202, r.text
        j = _wait_job(c, r.json()["status_url"])
        assert sorted(x["name"] for x in j["results"]) == ["fake_cifake_val_00000.jpg", "real_cifake_val_00001.jpg",
                                                           "sub/deep.jpg"]
        assert j["ok"] == 3
        r = c.post("/v1/batches", data={"folder": "sub"})  # relative to the one allowed folder
        assert _wait_job(c, r.json()["status_url"])["total"] == 1


def test_metrics_health_page_and_security_headers(sqlite_url: str):
    with client(sqlite_url, auth=False) as c:
        c.post("/v1/scan", files={"file": ("a.jpg", sample_bytes("fake_cifake_val_00000.jpg"))})
        c.post("/v1/scan", files={"file": ("a.jpg", sample_bytes("fake_cifake_val_00000.jpg"))})
        m = c.get("/metrics")
        assert m.headers["content-type"].startswith("text/plain; version=0.0.4")
        t = m.text
        assert '# TYPE fakescope_http_requests_total counter' in t
        assert 'fakescope_http_requests_total{method="POST",route="/v1/scan",status="200"} 2' in t
        assert 'fakescope_scans_total{cached="true",label=' in t and 'fakescope_scans_total{cached="false",label=' in t
        assert 'fakescope_scan_seconds_count 1' in t and "process_resident_memory_bytes " in t
        page = c.get("/")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "http" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        html = page.text + c.get("/static/app.js").text + c.get("/static/app.css").text + c.get("/docs").text
        assert "//cdn" not in html and "https://" not in html  # every asset is served from the package
        assert c.get("/openapi.json").json()["paths"]["/v1/scan"]["post"]
