"""Real servers: ``fakescope serve`` (uvicorn) on 127.0.0.1 in a subprocess, keys from ``fakescope keys``.
A fuzz run of the upload path, a restart that keeps every result, a batch whose server is killed midway."""

from __future__ import annotations

import io
import json
import random
import signal
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from .conftest import SAMPLES, cli, create_key, sample_bytes


def test_keys_create_list_revoke_through_the_cli(sqlite_url: str, live_server):
    p = cli("keys", "create", "alice", "--db", sqlite_url)
    key = p.stdout.strip().splitlines()[-1]
    assert key.startswith("fsk_") and "keep it secret" in p.stderr
    key2 = create_key(sqlite_url, "bob")
    listed = json.loads(cli("keys", "list", "--json", "--db", sqlite_url).stdout)
    assert [k["name"] for k in listed] == ["alice", "bob"] and all(k["revoked"] is None for k in listed)
    assert key not in cli("keys", "list", "--db", sqlite_url).stdout  # never the key itself
    srv = live_server(sqlite_url).start()
    data = sample_bytes("fake_cifake_val_00001.jpg")
    scan = lambda k: httpx.post(srv.url + "/v1/scan", files={"file": ("a.jpg", data)},  # noqa: E731
                                headers={"Authorization": f"Bearer {k}"} if k else {}, timeout=60)
    assert scan(None).status_code == 401 and scan(key).status_code == 200 and scan(key2).status_code == 200
    assert "revoked" in cli("keys", "revoke", "alice", "--db", sqlite_url).stdout
    assert scan(key).status_code == 401 and scan(key2).status_code == 200
    assert cli("keys", "revoke", "alice", "--db", sqlite_url, check=False).returncode == 2  # nothing left to revoke
    listed = json.loads(cli("keys", "list", "--json", "--db", sqlite_url).stdout)
    assert listed[0]["revoked"] and listed[1]["last_used"]


def test_no_auth_warns_off_loopback(sqlite_url: str, live_server):
    srv = live_server(sqlite_url, "--no-auth")
    srv.start()
    assert "no API key needed" in srv.output()
    assert httpx.get(srv.url + "/v1/results", timeout=10).status_code == 200
    srv.stop()
    import subprocess
    import sys

    from .conftest import free_port

    p = subprocess.Popen([sys.executable, "-m", "fakescope.cli", "serve", "--no-auth", "--host", "0.0.0.0",
                          "--port", str(free_port()), "--db", sqlite_url], stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        line = p.stderr.readline()
        assert "WARNING" in line and "0.0.0.0" in line and "not a loopback" in line
    finally:
        import os

        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)


def _malformed(rng: random.Random, n: int) -> list[tuple[str, bytes]]:
    """Broken files made from real images: truncated, bit-flipped, garbage, spliced headers, and headers that
    claim huge sizes."""
    seeds = [sample_bytes(n) for n in ("fake_cifake_val_00000.jpg", "real_cifake_val_00001.jpg", "fake_ddpm_flowers.png",
                                       "fake_biggan_imagenet.jpg")]
    small = Image.open(io.BytesIO(seeds[0])).convert("RGB")
    for fmt in ("GIF", "WEBP", "TIFF", "BMP"):
        b = io.BytesIO()
        small.save(b, fmt)
        seeds.append(b.getvalue())
    out = []
    for i in range(n):
        src = rng.choice(seeds)
        kind = i % 8
        if kind == 0:
            data = src[: rng.randrange(0, len(src))]
        elif kind == 1:
            data = bytearray(src)
            for _ in range(rng.randrange(1, 20)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            data = bytes(data)
        elif kind == 2:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
        elif kind == 3:
            data = src[:rng.randrange(2, 40)] + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 2000)))
        elif kind == 4:  # a PNG whose IHDR claims up to 2^31-1 pixels a side
            png = seeds[2]
            w, h = rng.choice([(2**31 - 1, 1), (100000, 100000), (1, 2**31 - 1), (0, 0), (65536, 65536)])
            data = png[:16] + w.to_bytes(4, "big") + h.to_bytes(4, "big") + png[24:]
        elif kind == 5:  # a JPEG whose SOF claims 65535 x 65535
            jpg = bytearray(seeds[3])
            k = jpg.find(b"\xff\xc0")
            if k > 0:
                jpg[k + 5:k + 9] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\x00\x01"])
            data = bytes(jpg)
        elif kind == 6:  # a GIF with a huge logical screen
            g = bytearray(seeds[4])
            g[6:10] = b"\xff\xff\xff\xff"
            data = bytes(g)
        else:  # chunks of two files glued, or empty
            other = rng.choice(seeds)
            data = src[: len(src) // 2] + other[len(other) // 2:] if rng.random() < 0.9 else b""
        out.append((f"fuzz{i:03d}{rng.choice(['.jpg', '.png', '', '.exe', '../../etc/passwd'])}", data))
    return out


def test_fuzz_the_upload_path_no_5xx_and_the_server_stays_up(sqlite_url: str, live_server):
    srv = live_server(sqlite_url, "--no-auth", "--rate", "0", "--max-pixels", "40000000").start()
    rng = random.Random(1234)
    files = _malformed(rng, 240)
    try:  # hypothesis adds its own shrinking examples on top of the seeded set when it is installed
        from hypothesis import HealthCheck, given, settings, strategies as st

        extra: list[bytes] = []

        @settings(max_examples=40, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
        @given(st.binary(min_size=0, max_size=600), st.integers(0, 7))
        def collect(blob: bytes, which: int) -> None:
            heads = [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP", b"II*\x00",
                     b"BM", b"\x00\x00\x00\x1cftypheic", b"\x00\x00\x00\x1cftypavif"]
            extra.append(heads[which] + blob)

        collect()
        files += [(f"hyp{i}.bin", b) for i, b in enumerate(extra)]
    except ImportError:
        pass
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        for name, data in files:
            r = c.post("/v1/scan", files={"file": (name, data)})
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code < 500, (name, r.status_code, r.text)
            if r.status_code != 200:
                assert r.headers["content-type"].startswith("application/problem+json")
                assert "Traceback" not in r.text
            else:
                assert r.json()["status"] == "ok"
        assert sum(statuses.values()) >= 200
        assert statuses.get(413, 0) > 0 and statuses.get(422, 0) > 0
        assert srv.alive() and c.get("/healthz").json()["status"] == "ok"
        ok = c.post("/v1/scan", files={"file": ("fine.jpg", sample_bytes("real_kodim23.jpg"))})
        assert ok.status_code == 200 and ok.json()["label"] in ("real", "inconclusive", "ai-generated")


def test_a_restart_keeps_every_stored_result(tmp_path: Path, live_server):
    url = f"sqlite:///{tmp_path / 'keep.db'}"
    key = create_key(url)
    h = {"X-API-Key": key}
    srv = live_server(url).start()
    names = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".jpg", ".png") and p.name != "broken.jpg")[:10]
    before = {}
    with httpx.Client(base_url=srv.url, timeout=60, headers=h) as c:
        for n in names:
            r = c.post("/v1/scan", files={"file": (n, sample_bytes(n))})
            assert r.status_code == 200, r.text
            before[r.json()["sha256"]] = r.json()
    assert srv.stop(signal.SIGTERM) in (0, -signal.SIGTERM)  # a graceful stop (uvicorn re-raises the signal)
    srv2 = live_server(url).start()
    with httpx.Client(base_url=srv2.url, timeout=60, headers=h) as c:
        assert c.get("/v1/results", params={"limit": 100}).json()["total"] == len(before)
        for sha, v in before.items():
            got = c.get(f"/v1/results/{sha}").json()
            assert {k: got[k] for k in ("p_fake", "label", "evidence", "explanation")} == \
                   {k: v[k] for k in ("p_fake", "label", "evidence", "explanation")}
        again = c.post("/v1/scan", files={"file": (names[0], sample_bytes(names[0]))}).json()
        assert again["cached"] is True


def test_a_batch_whose_server_is_killed_midway_completes_every_image_exactly_once(tmp_path: Path, live_server):
    url = f"sqlite:///{tmp_path / 'batch.db'}"
    srv = live_server(url, "--no-auth", "--lease", "2").start()
    rng = random.Random(7)
    base = Image.open(SAMPLES / "real_kodim05.jpg").convert("RGB")
    files = []
    for i in range(24):  # 24 distinct crops: every item is really scored
        x, y = rng.randrange(0, base.width - 256), rng.randrange(0, base.height - 256)
        b = io.BytesIO()
        base.crop((x, y, x + 256, y + 256)).save(b, "JPEG", quality=90 - i)
        files.append((f"crop{i:02d}.jpg", b.getvalue()))
    r = httpx.post(srv.url + "/v1/batches", files=[("files", f) for f in files], timeout=60)
    assert r.status_code == 202
    status_url = srv.url + r.json()["status_url"]
    t0 = time.time()
    while True:  # kill -9 the server once a few items are done and others are not
        j = httpx.get(status_url, timeout=30).json()
        if j["done"] >= 3:
            break
        assert time.time() - t0 < 60, j
        time.sleep(0.05)
    srv.stop(signal.SIGKILL)
    assert j["done"] < 24, "the batch finished before the kill: make it bigger"
    srv2 = live_server(url, "--no-auth", "--lease", "2").start()  # the restarted server resumes the batch
    t0 = time.time()
    while True:
        j = httpx.get(srv2.url + r.json()["status_url"], params={"limit": 100}, timeout=30).json()
        if j["status"] == "done":
            break
        assert time.time() - t0 < 120, j
        time.sleep(0.2)
    assert (j["total"], j["done"], j["ok"], j["errors"], j["pending"], j["running"]) == (24, 24, 24, 0, 0, 0)
    res = j["results"]
    assert [x["seq"] for x in res] == list(range(24))  # each image once: one result per item, none twice
    assert [x["name"] for x in res] == [n for n, _ in files]
    assert len({x["sha256"] for x in res}) == 24
    import hashlib

    assert [x["sha256"] for x in res] == [hashlib.sha256(d).hexdigest() for _, d in files]
    assert httpx.get(srv2.url + "/v1/results", params={"limit": 100}, timeout=30).json()["total"] == 24
