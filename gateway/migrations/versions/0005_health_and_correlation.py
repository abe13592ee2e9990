"""Adapter health (circuit breakers, recent calls) and correlation ids on inbox and outbox rows.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UtcDateTime

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "adapter_health",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("circuit", sa.String(16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("trips", sa.Integer, nullable=False),
        sa.Column("opened_at", UtcDateTime()),
        sa.Column("retry_at", UtcDateTime()),
        sa.Column("probe_until", UtcDateTime()),
        sa.Column("last_success_at", UtcDateTime()),
        sa.Column("last_failure_at", UtcDateTime()),
        sa.Column("last_error_type", sa.String(255)),
        sa.Column("last_error_title", sa.String(255)),
        sa.Column("window_started_at", UtcDateTime(), nullable=False),
        sa.Column("window_calls", sa.Integer, nullable=False),
        sa.Column("window_failures", sa.Integer, nullable=False),
        sa.Column("previous_calls", sa.Integer, nullable=False),
        sa.Column("previous_failures", sa.Integer, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("correlation_id", sa.String(64)))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("correlation_id", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("correlation_id")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("correlation_id")
    op.drop_table("adapter_health")
