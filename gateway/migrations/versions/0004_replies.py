"""Replies to the applicant: replies, their deliveries (one per reply and channel) and "send by
post" tasks.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UtcDateTime

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "replies",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("tenant_ars", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16)),
        sa.Column("documents", sa.JSON, nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("explicit_channel", sa.String(32)),
        sa.Column("client_id", sa.String(64)),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("request_fingerprint", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("client_id", "idempotency_key", name="uq_replies_idempotency"),
    )
    op.create_index("ix_replies_case", "replies", ["case_id", "created_at"])
    op.create_table(
        "reply_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("reply_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("tenant_ars", sa.String(12), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("remote_id", sa.String(255)),
        sa.Column("detail", sa.String(500)),
        sa.Column("problem", sa.JSON),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("outbox_id", sa.BigInteger),
        sa.Column("history", sa.JSON, nullable=False),
        sa.Column("follow_at", UtcDateTime()),
        sa.Column("follow_round", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("reply_id", "channel", name="uq_reply_deliveries_channel"),
    )
    op.create_index("ix_reply_deliveries_follow", "reply_deliveries", ["follow_at"])
    op.create_index("ix_reply_deliveries_state", "reply_deliveries", ["state", "tenant_ars"])
    op.create_table(
        "reply_post_tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("reply_id", sa.String(36), nullable=False, unique=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("tenant_ars", sa.String(12), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.JSON, nullable=False),
        sa.Column("note", sa.String(1000)),
        sa.Column("closed_by", sa.String(128)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_reply_post_tasks_state", "reply_post_tasks", ["state", "tenant_ars"])


def downgrade() -> None:
    op.drop_table("reply_post_tasks")
    op.drop_table("reply_deliveries")
    op.drop_table("replies")
