"""Inbox part keys: the blobs a raw original stands for besides its own bytes.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("part_keys", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("part_keys")
