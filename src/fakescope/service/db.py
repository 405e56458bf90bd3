"""The results database: SQLAlchemy 2 tables, the engine, and Alembic migrations run in code.

Tables (``migrations/versions`` creates them; this module only maps them):

``images``      one row per distinct file (sha256): perceptual hash and its eight byte-bands, size,
                first name, first and last seen, upload count.
``verdicts``    the verdict record of one image under one scan configuration (``scan_key``: options and
                fakescope version): the same bytes with the same options are never scored twice.
``jobs``        batches; ``job_items`` one row per image of a batch, claimed by a worker with a lease.
``api_keys``    keys as the sha256 of the key (never the key), a public prefix, name, created, revoked.
``audit_log``   who did what: scans, batches, key events, refused keys.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any

from sqlalchemy import (BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint, create_engine, event)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "Image", "VerdictRow", "Job", "JobItem", "ApiKey", "AuditEntry", "make_engine", "migrate",
           "utcnow", "as_utc", "redact_url"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def as_utc(t: dt.datetime | None) -> dt.datetime | None:
    """A time read back from the database, in UTC (SQLite returns naive times)."""
    if t is None:
        return None
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


TS = DateTime(timezone=True)


class Image(Base):
    __tablename__ = "images"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    phash: Mapped[str | None] = mapped_column(String(16))
    b0: Mapped[int | None] = mapped_column(Integer, index=True)
    b1: Mapped[int | None] = mapped_column(Integer, index=True)
    b2: Mapped[int | None] = mapped_column(Integer, index=True)
    b3: Mapped[int | None] = mapped_column(Integer, index=True)
    b4: Mapped[int | None] = mapped_column(Integer, index=True)
    b5: Mapped[int | None] = mapped_column(Integer, index=True)
    b6: Mapped[int | None] = mapped_column(Integer, index=True)
    b7: Mapped[int | None] = mapped_column(Integer, index=True)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    format: Mapped[str | None] = mapped_column(String(16))
    size: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(255))
    first_seen: Mapped[dt.datetime] = mapped_column(TS, default=utcnow, index=True)
    last_seen: Mapped[dt.datetime] = mapped_column(TS, default=utcnow)
    uploads: Mapped[int] = mapped_column(Integer, default=1)


class VerdictRow(Base):
    __tablename__ = "verdicts"
    __table_args__ = (UniqueConstraint("sha256", "scan_key", name="uq_verdicts_sha256_scan_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), ForeignKey("images.sha256"), index=True)
    scan_key: Mapped[str] = mapped_column(String(255))
    label: Mapped[str | None] = mapped_column(String(16), index=True)
    p_fake: Mapped[float | None] = mapped_column(Float)
    record: Mapped[str] = mapped_column(Text)
    created: Mapped[dt.datetime] = mapped_column(TS, default=utcnow, index=True)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created: Mapped[dt.datetime] = mapped_column(TS, default=utcnow, index=True)
    finished: Mapped[dt.datetime | None] = mapped_column(TS)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    source: Mapped[str] = mapped_column(String(16))
    folder: Mapped[str | None] = mapped_column(Text)
    options: Mapped[str] = mapped_column(Text)
    scan_key: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str | None] = mapped_column(String(100))
    total: Mapped[int] = mapped_column(Integer, default=0)


class JobItem(Base):
    __tablename__ = "job_items"
    __table_args__ = (UniqueConstraint("job_id", "seq", name="uq_job_items_job_seq"),
                      Index("ix_job_items_status_claimed", "status", "claimed_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(TS)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    record: Mapped[str | None] = mapped_column(Text)
    finished: Mapped[dt.datetime | None] = mapped_column(TS)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created: Mapped[dt.datetime] = mapped_column(TS, default=utcnow)
    revoked: Mapped[dt.datetime | None] = mapped_column(TS)
    last_used: Mapped[dt.datetime | None] = mapped_column(TS)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(TS, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[int | None] = mapped_column(Integer)
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine for ``url``; a SQLite file gets its folder created, WAL journaling and a busy timeout
    (several server processes share it), PostgreSQL a pre-ping pool."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        db = u.database
        if db and db != ":memory:" and not db.startswith("file:"):
            from pathlib import Path

            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, connect_args={"timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if u.get_backend_name() == "postgresql" and u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")  # psycopg 3 (the serve extra), not psycopg2
    return create_engine(u, pool_pre_ping=True, **kw)


def redact_url(url: str) -> str:
    """``url`` with its password hidden (for logs and messages)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all
        return "<invalid database URL>"


def migrate(engine: Engine, revision: str = "head") -> str | None:
    """Bring the database to ``revision`` with the Alembic migrations shipped in the package
    (``alembic upgrade head`` in code); returns the revision it is at."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("fakescope.service") / "migrations"))
    script = ScriptDirectory.from_config(cfg)
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    target = script.get_current_head() if revision == "head" else revision
    if current == target:
        return current
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
