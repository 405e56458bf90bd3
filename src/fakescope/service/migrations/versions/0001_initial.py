"""The first schema: images, verdicts, jobs, job items, API keys, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-09-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("phash", sa.String(16)),
        *[sa.Column(f"b{i}", sa.Integer) for i in range(8)],
        sa.Column("width", sa.Integer), sa.Column("height", sa.Integer),
        sa.Column("format", sa.String(16)), sa.Column("size", sa.BigInteger), sa.Column("name", sa.String(255)),
        sa.Column("first_seen", TS, nullable=False), sa.Column("last_seen", TS, nullable=False),
        sa.Column("uploads", sa.Integer, nullable=False),
    )
    for i in range(8):
        op.create_index(f"ix_images_b{i}", "images", [f"b{i}"])
    op.create_index("ix_images_first_seen", "images", ["first_seen"])

    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("images.sha256"), nullable=False),
        sa.Column("scan_key", sa.String(255), nullable=False),
        sa.Column("label", sa.String(16)), sa.Column("p_fake", sa.Float),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.UniqueConstraint("sha256", "scan_key", name="uq_verdicts_sha256_scan_key"),
    )
    op.create_index("ix_verdicts_sha256", "verdicts", ["sha256"])
    op.create_index("ix_verdicts_label", "verdicts", ["label"])
    op.create_index("ix_verdicts_created", "verdicts", ["created"])

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created", TS, nullable=False), sa.Column("finished", TS),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False), sa.Column("folder", sa.Text),
        sa.Column("options", sa.Text, nullable=False), sa.Column("scan_key", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(100)), sa.Column("total", sa.Integer, nullable=False),
    )
    op.create_index("ix_jobs_created", "jobs", ["created"])
    op.create_index("ix_jobs_status", "jobs", ["status"])

    op.create_table(
        "job_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False), sa.Column("path", sa.Text), sa.Column("data", sa.LargeBinary),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.String(64)), sa.Column("claimed_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64)), sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("record", sa.Text), sa.Column("finished", TS),
        sa.UniqueConstraint("job_id", "seq", name="uq_job_items_job_seq"),
    )
    op.create_index("ix_job_items_job_id", "job_items", ["job_id"])
    op.create_index("ix_job_items_status_claimed", "job_items", ["status", "claimed_at"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created", TS, nullable=False), sa.Column("revoked", TS), sa.Column("last_used", TS),
    )
    op.create_index("ix_api_keys_name", "api_keys", ["name"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False), sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(255)), sa.Column("status", sa.Integer), sa.Column("client", sa.String(64)),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])


def downgrade() -> None:
    for t in ("audit_log", "api_keys", "job_items", "jobs", "verdicts", "images"):
        op.drop_table(t)
