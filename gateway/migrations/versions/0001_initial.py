"""Initial schema: inbox, step results, cases, counters, events, outbox, jobs, audit, forwardings.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UtcDateTime

revision = "0001"
down_revision = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, UtcDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("tenant_ars", sa.String(12)),
        sa.Column("client_id", sa.String(64)),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("request_fingerprint", sa.String(64)),
        _ts("received_at", False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("raw_key", sa.String(200), nullable=False),
        sa.Column("raw_sha512", sa.String(128), nullable=False),
        sa.Column("raw_size", sa.BigInteger, nullable=False),
        sa.Column("references", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _ts("next_attempt_at"),
        sa.Column("last_error", sa.JSON),
        sa.Column("case_id", sa.String(36)),
        _ts("updated_at", False),
        sa.UniqueConstraint("channel", "source_id", name="uq_inbox_source"),
        sa.UniqueConstraint("client_id", "idempotency_key", name="uq_inbox_idempotency"),
    )
    op.create_index("ix_inbox_state", "inbox", ["state", "next_attempt_at"])
    op.create_table(
        "step_results",
        sa.Column("inbox_id", sa.String(36), primary_key=True),
        sa.Column("step", sa.String(32), primary_key=True),
        sa.Column("result", sa.JSON, nullable=False),
        _ts("at", False),
    )
    op.create_table(
        "cases",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("inbox_id", sa.String(36), nullable=False, unique=True),
        sa.Column("tenant_ars", sa.String(12), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False, unique=True),
        sa.Column("service_leika", sa.String(14), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("routing_queue", sa.String(64), nullable=False),
        _ts("received_at", False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_index("ix_cases_filter", "cases", ["tenant_ars", "status", "service_leika", "seq"])
    op.create_table(
        "reference_counters",
        sa.Column("tenant_ars", sa.String(12), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("tenant_ars", sa.String(12), nullable=False),
        _ts("time", False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", Seq, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("inbox_id", sa.String(36)),
        sa.Column("case_id", sa.String(36)),
        sa.Column("event_seq", sa.BigInteger),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _ts("next_attempt_at", False),
        _ts("lease_until"),
        sa.Column("last_error", sa.Text),
        _ts("created_at", False),
        _ts("done_at"),
    )
    op.create_index("ix_outbox_due", "outbox", ["state", "next_attempt_at"])
    op.create_table(
        "jobs",
        sa.Column("id", Seq, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _ts("available_at", False),
        _ts("lease_until"),
        sa.Column("locked_by", sa.String(64)),
        sa.Column("last_error", sa.Text),
        _ts("created_at", False),
    )
    op.create_index("ix_jobs_due", "jobs", ["state", "available_at"])
    op.create_table(
        "audit",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        _ts("at", False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("tenant_ars", sa.String(12)),
        sa.Column("case_id", sa.String(36)),
        sa.Column("inbox_id", sa.String(36)),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_table(
        "forwardings",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("target", sa.String(255), primary_key=True),
        sa.Column("remote_id", sa.String(255)),
        sa.Column("status", sa.String(32), nullable=False),
        _ts("updated_at", False),
    )


def downgrade() -> None:
    for table in ("forwardings", "audit", "jobs", "outbox", "events", "reference_counters", "cases",
                  "step_results", "inbox"):
        op.drop_table(table)
