"""Every read and write of the results database, in one class (the app, the batch worker and the
``fakescope keys`` command all go through :class:`Store`)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import UsageError
from . import phash as ph
from .db import ApiKey, AuditEntry, Image, Job, JobItem, VerdictRow, as_utc, make_engine, migrate, utcnow
from .security import hash_key, keys_equal, new_key, parse_key

__all__ = ["Store", "KeyInfo", "Similar"]


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    created: dt.datetime
    revoked: dt.datetime | None
    last_used: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "prefix": self.prefix, "created": _iso(self.created),
                "revoked": _iso(self.revoked), "last_used": _iso(self.last_used)}


@dataclass(frozen=True)
class Similar:
    sha256: str
    distance: int
    first_seen: dt.datetime | None
    name: str | None


def _iso(t: dt.datetime | None) -> str | None:
    t = as_utc(t)
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def _key_info(k: ApiKey) -> KeyInfo:
    return KeyInfo(k.id, k.name, k.prefix, as_utc(k.created), as_utc(k.revoked), as_utc(k.last_used))


class Store:
    """The results database behind ``url``; migrated to the newest schema when opened."""

    def __init__(self, url: str, *, engine: Engine | None = None, run_migrations: bool = True) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        if run_migrations:
            migrate(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._session()

    def close(self) -> None:
        self.engine.dispose()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def ping(self) -> None:
        with self.engine.connect() as c:
            c.execute(text("SELECT 1"))

    # ---------------------------------------------------------------- verdicts and images
    def get_verdict(self, sha256: str, scan_key: str) -> dict[str, Any] | None:
        with self.session() as s:
            row = s.scalar(select(VerdictRow).where(VerdictRow.sha256 == sha256, VerdictRow.scan_key == scan_key))
            if row is None:
                return None
            return {"record": json.loads(row.record), "created": _iso(row.created), "scan_key": row.scan_key}

    def result(self, sha256: str, scan_key: str | None = None) -> dict[str, Any] | None:
        """An image's stored verdict: the one of ``scan_key`` when given, else the newest; with what is
        known of the image and the other configurations it was scanned with."""
        with self.session() as s:
            img = s.get(Image, sha256)
            if img is None:
                return None
            rows = s.scalars(select(VerdictRow).where(VerdictRow.sha256 == sha256)
                             .order_by(VerdictRow.created.desc(), VerdictRow.id.desc())).all()
            chosen = next((r for r in rows if scan_key is None or r.scan_key == scan_key), None)
            if chosen is None:
                return None
            return {"record": json.loads(chosen.record), "scan_key": chosen.scan_key, "created": _iso(chosen.created),
                    "image": self._image_dict(img), "scan_keys": [r.scan_key for r in rows]}

    @staticmethod
    def _image_dict(img: Image) -> dict[str, Any]:
        return {"sha256": img.sha256, "phash": img.phash, "width": img.width, "height": img.height,
                "format": img.format, "size": img.size, "name": img.name, "first_seen": _iso(img.first_seen),
                "last_seen": _iso(img.last_seen), "uploads": img.uploads}

    def seen(self, sha256: str) -> None:
        """One more upload of known bytes."""
        with self.session() as s, s.begin():
            s.execute(update(Image).where(Image.sha256 == sha256)
                      .values(uploads=Image.uploads + 1, last_seen=utcnow()))

    def similar(self, h: int, *, max_distance: int, exclude: str | None = None) -> Similar | None:
        """The closest earlier image (with a verdict) within ``max_distance`` bits of perceptual hash ``h``."""
        if max_distance < 0:
            return None
        bs = ph.bands(h)
        cols = [Image.b0, Image.b1, Image.b2, Image.b3, Image.b4, Image.b5, Image.b6, Image.b7]
        cond = or_(*[c == b for c, b in zip(cols, bs)]) if max_distance <= ph.MAX_BAND_DISTANCE else Image.phash.is_not(None)
        q = select(Image.sha256, Image.phash, Image.first_seen, Image.name).where(cond, Image.phash.is_not(None))
        if exclude:
            q = q.where(Image.sha256 != exclude)
        best: Similar | None = None
        with self.session() as s:
            for sha, hx, first, name in s.execute(q.limit(5000)):
                d = ph.hamming(h, ph.from_hex(hx))
                if d <= max_distance and (best is None or d < best.distance
                                          or (d == best.distance and as_utc(first) < best.first_seen)):
                    best = Similar(sha, d, as_utc(first), name)
        return best

    def save_verdict(self, record: dict[str, Any], scan_key: str, *, phash: int | None, size: int,
                     name: str) -> bool:
        """Store an image's verdict (and the image when new); False when another request stored the same
        verdict first (the stored one stands)."""
        sha = record["sha256"]
        now = utcnow()
        with self.session() as s:
            try:
                with s.begin():
                    img = s.get(Image, sha)
                    if img is None:
                        bs = ph.bands(phash) if phash is not None else (None,) * 8
                        s.add(Image(sha256=sha, phash=ph.to_hex(phash) if phash is not None else None,
                                    **{f"b{i}": b for i, b in enumerate(bs)}, width=record.get("width"),
                                    height=record.get("height"), format=record.get("format"), size=size,
                                    name=name[:255], first_seen=now, last_seen=now, uploads=1))
                        s.flush()
                    else:
                        img.uploads += 1
                        img.last_seen = now
                    s.add(VerdictRow(sha256=sha, scan_key=scan_key, label=record.get("label"),
                                     p_fake=record.get("p_fake"), record=json.dumps(record), created=now))
                return True
            except IntegrityError:  # two uploads of new bytes at once: the first one's verdict stands
                return False

    def history(self, *, q: str | None = None, label: str | None = None, limit: int = 50, offset: int = 0,
                since: dt.datetime | None = None) -> tuple[list[dict[str, Any]], int]:
        """Past scans, newest first: search ``q`` in names and sha256 prefixes, filter by ``label``."""
        conds = []
        if q:
            like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conds.append(or_(Image.name.ilike(like, escape="\\"), VerdictRow.sha256.like(q.lower() + "%")))
        if label:
            conds.append(VerdictRow.label == label)
        if since is not None:
            conds.append(VerdictRow.created >= since)
        base = select(VerdictRow, Image).join(Image, Image.sha256 == VerdictRow.sha256)
        if conds:
            base = base.where(and_(*conds))
        with self.session() as s:
            total = s.scalar(select(func.count()).select_from(base.subquery())) or 0
            rows = s.execute(base.order_by(VerdictRow.created.desc(), VerdictRow.id.desc())
                             .limit(limit).offset(offset)).all()
            items = []
            for v, img in rows:
                rec = json.loads(v.record)
                items.append({"sha256": v.sha256, "name": img.name, "label": v.label, "p_fake": v.p_fake,
                              "created": _iso(v.created), "scan_key": v.scan_key, "width": img.width,
                              "height": img.height, "format": img.format, "uploads": img.uploads,
                              "explanation": rec.get("explanation"), "url": f"/v1/results/{v.sha256}"})
        return items, int(total)

    def count_verdicts(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(VerdictRow)) or 0)

    # ---------------------------------------------------------------- API keys
    def create_key(self, name: str) -> tuple[str, KeyInfo]:
        name = (name or "").strip()
        if not name or len(name) > 100 or any(ord(c) < 32 for c in name):
            raise UsageError("a key name must be 1-100 printable characters")
        key, prefix = new_key()
        with self.session() as s, s.begin():
            row = ApiKey(name=name, prefix=prefix, key_hash=hash_key(key), created=utcnow())
            s.add(row)
            s.flush()
            info = _key_info(row)
        self.audit("cli", "key.create", target=f"{name} ({prefix})")
        return key, info

    def list_keys(self, *, include_revoked: bool = True) -> list[KeyInfo]:
        with self.session() as s:
            q = select(ApiKey).order_by(ApiKey.id)
            if not include_revoked:
                q = q.where(ApiKey.revoked.is_(None))
            return [_key_info(k) for k in s.scalars(q)]

    def revoke_key(self, which: str) -> list[KeyInfo]:
        """Revoke the live keys named ``which``, or the one with that prefix (or id); returns them."""
        with self.session() as s, s.begin():
            q = select(ApiKey).where(ApiKey.revoked.is_(None), or_(ApiKey.name == which, ApiKey.prefix == which,
                                                                   *([ApiKey.id == int(which)] if which.isdigit() else [])))
            rows = list(s.scalars(q))
            now = utcnow()
            for r in rows:
                r.revoked = now
            out = [_key_info(r) for r in rows]
        for k in out:
            self.audit("cli", "key.revoke", target=f"{k.name} ({k.prefix})")
        return out

    def has_keys(self) -> bool:
        with self.session() as s:
            return s.scalar(select(ApiKey.id).where(ApiKey.revoked.is_(None)).limit(1)) is not None

    def verify_key(self, key: str) -> KeyInfo | None:
        """The live key ``key`` is, or None (unknown, malformed, revoked)."""
        prefix = parse_key(key)
        if prefix is None:
            return None
        with self.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            if row is None or row.revoked is not None or not keys_equal(row.key_hash, key):
                return None
            info = _key_info(row)
            last = as_utc(row.last_used)
        now = utcnow()
        if last is None or (now - last).total_seconds() > 60:  # one write a minute per key, not per request
            with self.session() as s, s.begin():
                s.execute(update(ApiKey).where(ApiKey.id == info.id).values(last_used=now))
        return info

    # ---------------------------------------------------------------- audit log
    def audit(self, actor: str, action: str, *, target: str | None = None, status: int | None = None,
              client: str | None = None, detail: str | None = None) -> None:
        with self.session() as s, s.begin():
            s.add(AuditEntry(at=utcnow(), actor=actor[:100], action=action[:32],
                             target=target[:255] if target else None, status=status,
                             client=client[:64] if client else None, detail=detail))

    def audit_entries(self, *, limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
        with self.session() as s:
            q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if action:
                q = q.where(AuditEntry.action == action)
            return [{"at": _iso(a.at), "actor": a.actor, "action": a.action, "target": a.target,
                     "status": a.status, "client": a.client, "detail": a.detail} for a in s.scalars(q)]

    # ---------------------------------------------------------------- batches
    def create_job(self, items: Sequence[tuple[str, str | None, bytes | None]], *, source: str,
                   options: dict[str, Any], scan_key: str, owner: str | None, folder: str | None = None) -> str:
        """A batch of ``items`` (name, server path or None, uploaded bytes or None), queued."""
        job_id = uuid.uuid4().hex
        now = utcnow()
        with self.session() as s, s.begin():
            s.add(Job(id=job_id, created=now, status="queued", source=source, folder=folder,
                      options=json.dumps(options), scan_key=scan_key, owner=owner, total=len(items)))
            s.flush()
            s.add_all([JobItem(job_id=job_id, seq=i, name=name, path=path, data=data, status="pending",
                               attempts=0, cached=False) for i, (name, path, data) in enumerate(items)])
        return job_id

    def claim(self, worker: str, *, lease_s: float, limit: int = 1) -> list[JobItem]:
        """Claim up to ``limit`` items: pending ones, or running ones whose worker let the lease run out
        (it died).  A compare-and-set on each row: two workers never hold the same item."""
        now = utcnow()
        stale = now - dt.timedelta(seconds=lease_s)
        claimable = or_(JobItem.status == "pending", and_(JobItem.status == "running", JobItem.claimed_at < stale))
        got: list[JobItem] = []
        with self.session() as s:
            ids = s.scalars(select(JobItem.id).where(claimable).order_by(JobItem.id).limit(limit * 4)).all()
            s.commit()
            for i in ids:
                res = s.execute(update(JobItem).where(JobItem.id == i, claimable)
                                .values(status="running", claimed_by=worker, claimed_at=now,
                                        attempts=JobItem.attempts + 1))
                s.commit()
                if res.rowcount != 1:  # another worker was quicker
                    continue
                item = s.get(JobItem, i, populate_existing=True)
                s.execute(update(Job).where(Job.id == item.job_id, Job.status == "queued").values(status="running"))
                s.commit()
                got.append(item)
                if len(got) >= limit:
                    break
        return got

    def job_options(self, job_id: str) -> tuple[dict[str, Any], str]:
        with self.session() as s:
            j = s.get(Job, job_id)
            return json.loads(j.options), j.scan_key

    def complete(self, item_id: int, worker: str, *, status: str, record: dict[str, Any],
                 cached: bool = False) -> bool:
        """Record an item's result, only if ``worker`` still holds it (else another worker took it over
        after a lapsed lease and its result stands: each item has exactly one result)."""
        with self.session() as s, s.begin():
            res = s.execute(update(JobItem).where(JobItem.id == item_id, JobItem.status == "running",
                                                  JobItem.claimed_by == worker)
                            .values(status=status, record=json.dumps(record), sha256=record.get("sha256"),
                                    cached=cached, finished=utcnow(), data=None))
            if res.rowcount != 1:
                return False
            job_id = s.scalar(select(JobItem.job_id).where(JobItem.id == item_id))
            # lock the job row before counting: two workers finishing the last two items at once would each
            # still see the other's item running (READ COMMITTED) and neither would close the job; the lock
            # makes the second count after the first committed (SQLite serialises writers anyway)
            s.execute(select(Job.id).where(Job.id == job_id).with_for_update())
            left = s.scalar(select(func.count()).select_from(JobItem)
                            .where(JobItem.job_id == job_id, JobItem.status.in_(("pending", "running"))))
            if not left:
                s.execute(update(Job).where(Job.id == job_id).values(status="done", finished=utcnow()))
        return True

    def job(self, job_id: str, *, offset: int = 0, limit: int = 100) -> dict[str, Any] | None:
        with self.session() as s:
            j = s.get(Job, job_id)
            if j is None:
                return None
            counts = dict(s.execute(select(JobItem.status, func.count()).where(JobItem.job_id == job_id)
                                    .group_by(JobItem.status)).all())
            items = s.execute(select(JobItem.seq, JobItem.name, JobItem.status, JobItem.sha256, JobItem.cached,
                                     JobItem.record, JobItem.attempts, JobItem.finished)
                              .where(JobItem.job_id == job_id).order_by(JobItem.seq)
                              .offset(offset).limit(limit)).all()
            results = []
            for seq, name, st, sha, cached, rec, attempts, fin in items:
                results.append({"seq": seq, "name": name, "status": st, "sha256": sha, "cached": bool(cached),
                                "attempts": attempts, "finished": _iso(fin),
                                "verdict": json.loads(rec) if rec else None})
            done = counts.get("done", 0) + counts.get("error", 0)
            nxt = offset + len(results)
            return {"id": j.id, "status": j.status, "source": j.source, "folder": j.folder,
                    "options": json.loads(j.options), "owner": j.owner,
                    "created": _iso(j.created), "finished": _iso(j.finished), "total": j.total,
                    "done": done, "ok": counts.get("done", 0), "errors": counts.get("error", 0),
                    "pending": counts.get("pending", 0), "running": counts.get("running", 0),
                    "progress": round(done / j.total, 4) if j.total else 1.0,
                    "offset": offset, "limit": limit, "results": results,
                    "next_offset": nxt if nxt < j.total else None}

    def item_data(self, item_id: int) -> tuple[str, str | None, bytes | None]:
        with self.session() as s:
            it = s.get(JobItem, item_id)
            return it.name, it.path, it.data

    def pending_items(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(JobItem)
                                .where(JobItem.status.in_(("pending", "running")))) or 0)


def iter_chunks(seq: Iterable, n: int):
    buf = []
    for x in seq:
        buf.append(x)
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf
