"""Personal data at rest: data keys wrapped under master keys, replies' titles as text (a sealed
title is longer than 500 characters), and the columns retention reads (when a case was closed,
when a raw original was deleted).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UtcDateTime

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("master_key_id", sa.String(64), nullable=False),
        sa.Column("wrapped", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("rewrapped_at", UtcDateTime()),
    )
    op.create_index("ix_data_keys_scope", "data_keys", ["scope", "created_at"])
    with op.batch_alter_table("replies") as batch:
        batch.alter_column("title", type_=sa.Text, existing_type=sa.String(500), existing_nullable=False)
    op.add_column("cases", sa.Column("closed_at", UtcDateTime()))
    op.create_index("ix_cases_closed", "cases", ["closed_at"])
    op.add_column("inbox", sa.Column("original_purged_at", UtcDateTime()))


def downgrade() -> None:
    op.drop_column("inbox", "original_purged_at")
    op.drop_index("ix_cases_closed", "cases")
    op.drop_column("cases", "closed_at")
    with op.batch_alter_table("replies") as batch:
        batch.alter_column("title", type_=sa.String(500), existing_type=sa.Text, existing_nullable=False)
    op.drop_index("ix_data_keys_scope", "data_keys")
    op.drop_table("data_keys")
