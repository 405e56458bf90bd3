"""The results database on SQLite and on a real PostgreSQL server: migrations, verdicts, near-duplicates,
keys, and the batch queue's claim/complete protocol (each item exactly one result, leases)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import inspect

from .conftest import sample_bytes

from fakescope.service import Settings, Store, create_app  # noqa: E402
from fakescope.service import phash as ph  # noqa: E402
from fakescope.service.db import migrate  # noqa: E402


def _record(sha: str, label: str = "inconclusive", p: float = 0.4) -> dict:
    return {"path": "x.jpg", "sha256": sha, "status": "ok", "p_fake": p, "label": label, "threshold": 0.6,
            "operating_fpr": 0.01, "generator": None, "evidence": [], "explanation": "because", "heatmap": None,
            "width": 10, "height": 10, "format": "JPEG", "elapsed_ms": 1.0}


def test_migrations_create_every_table_once(db_url: str):
    store = Store(db_url)
    tables = set(inspect(store.engine).get_table_names())
    assert {"images", "verdicts", "jobs", "job_items", "api_keys", "audit_log", "alembic_version"} <= tables
    assert migrate(store.engine) == "0001"  # idempotent: already at head
    Store(db_url).close()  # a second open (a restart) migrates nothing and loses nothing
    store.close()


def test_verdicts_similar_history_keys(db_url: str):
    store = Store(db_url)
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    h = 0x0F0F_F0F0_1234_ABCD
    assert store.save_verdict(_record(a, "ai-generated", 0.9), "k1", phash=h, size=10, name="cat.jpg")
    assert not store.save_verdict(_record(a), "k1", phash=h, size=10, name="cat.jpg")  # unique (sha256, config)
    assert store.save_verdict(_record(a, "ai-generated", 0.8), "k2", phash=h, size=10, name="cat.jpg")
    store.save_verdict(_record(b, "real", 0.01), "k1", phash=h ^ 0xFFFF_FFFF_0000_0000, size=10, name="dog.png")
    assert store.get_verdict(a, "k1")["record"]["p_fake"] == 0.9
    assert store.get_verdict(a, "k3") is None
    near = store.similar(h ^ 0b1011, max_distance=6)  # 3 bits apart
    assert near.sha256 == a and near.distance == 3
    assert store.similar(h ^ 0b1011, max_distance=2) is None
    assert store.similar(h, max_distance=6, exclude=a) is None
    items, total = store.history(q="cat")
    assert total == 2 and {i["name"] for i in items} == {"cat.jpg"}
    assert store.history(label="real")[1] == 1
    assert store.history(q="100%_'; drop table images; --")[1] == 0  # a search is data, never SQL
    assert store.result(c) is None and store.result(a)["scan_keys"] == ["k2", "k1"]
    key, info = store.create_key("desk")
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert store.verify_key(key).name == "desk" and store.verify_key(wrong) is None
    assert store.verify_key("nonsense") is None
    assert store.revoke_key(info.prefix)[0].id == info.id and store.verify_key(key) is None
    with pytest.raises(Exception):
        store.create_key("")
    store.close()


def test_claim_is_exclusive_and_a_lapsed_lease_is_taken_over(db_url: str):
    store = Store(db_url)
    job = store.create_job([(f"{i}.jpg", None, b"x") for i in range(30)], source="upload",
                           options={"fpr": 0.01, "detectors": None, "provenance": True}, scan_key="k", owner="t")
    got: dict[str, list[int]] = {"w1": [], "w2": [], "w3": []}

    def work(w: str) -> None:  # three workers race for the same 30 items
        while True:
            items = store.claim(w, lease_s=60)
            if not items:
                return
            for it in items:
                got[w].append(it.seq)
                assert store.complete(it.id, w, status="done", record={"sha256": None, "seq": it.seq})

    threads = [threading.Thread(target=work, args=(w,)) for w in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    seqs = sorted(s for v in got.values() for s in v)
    assert seqs == list(range(30))  # every item once, no item twice
    j = store.job(job, limit=100)
    assert j["status"] == "done" and j["done"] == 30 and all(r["verdict"]["seq"] == r["seq"] for r in j["results"])

    job2 = store.create_job([("only.jpg", None, b"x")], source="upload", options={}, scan_key="k", owner="t")
    [dead] = store.claim("dead-worker", lease_s=60)
    assert store.claim("w2", lease_s=60) == []  # held
    time.sleep(1.1)
    [taken] = store.claim("w2", lease_s=1.0)  # the lease ran out: the item is given to another worker
    assert taken.id == dead.id and taken.attempts == 2
    assert not store.complete(dead.id, "dead-worker", status="done", record={"by": "dead"})  # too late
    assert store.complete(taken.id, "w2", status="done", record={"by": "w2"})
    assert store.job(job2)["results"][0]["verdict"] == {"by": "w2"}
    store.close()


def test_the_app_on_this_database(db_url: str):
    from fastapi.testclient import TestClient

    data = sample_bytes("fake_biggan_imagenet.jpg")
    with TestClient(create_app(Settings(db_url=db_url, auth=False, poll_s=0.05))) as c:
        r1 = c.post("/v1/scan", files={"file": ("g.jpg", data)}).json()
        r2 = c.post("/v1/scan", files={"file": ("g2.jpg", data)}).json()
        assert (r1["cached"], r2["cached"]) == (False, True) and r1["p_fake"] == r2["p_fake"]
        rb = c.post("/v1/batches", files=[("files", ("g.jpg", data)), ("files", ("h.png", sample_bytes("fake_ddpm_flowers.png")))])
        t0 = time.time()
        while c.get(rb.json()["status_url"]).json()["status"] != "done":
            assert time.time() - t0 < 60
            time.sleep(0.1)
        assert c.get(f"/v1/results/{r1['sha256']}").json()["image"]["uploads"] == 3
        assert c.get("/healthz").json()["database"] in ("sqlite", "postgresql")


def test_phash_survives_resizing_and_reencoding_and_separates_pictures():
    import io

    import numpy as np
    from PIL import Image

    from fakescope.io.decode import decode

    hs = []
    for n in ("real_kodim14.jpg", "fake_kandinsky3_photo13.jpg", "real_skimage_coffee.png", "fake_biggan_imagenet.jpg"):
        s = decode(sample_bytes(n))
        im = Image.fromarray(s.image)
        for size, fmt, q in (((im.width // 2, im.height // 2), "JPEG", 60), ((im.width * 3 // 4, im.height * 3 // 4), "WEBP", 70)):
            buf = io.BytesIO()
            im.resize(size, Image.Resampling.BILINEAR).save(buf, fmt, quality=q)
            assert ph.hamming(ph.phash(s.image), ph.phash(decode(buf.getvalue()).image)) <= 4, (n, fmt)
        hs.append(ph.phash(s.image))
    assert min(ph.hamming(a, b) for i, a in enumerate(hs) for b in hs[i + 1:]) > 12
    assert ph.phash(np.zeros((8, 8, 3), np.uint8)) == 0  # a flat image: no structure
    h = 0x0123456789ABCDEF
    assert ph.bands(h) == (0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF) and ph.from_hex(ph.to_hex(h)) == h
