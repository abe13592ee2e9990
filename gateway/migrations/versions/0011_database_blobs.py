"""Blobs in the database, for the scale-out profile without a shared filesystem.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("key", sa.String(135), primary_key=True),
        sa.Column("upload", sa.BigInteger, nullable=False, unique=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("touched_ns", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "blob_uploads",
        sa.Column("upload", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("started_ns", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "blob_chunks",
        sa.Column("upload", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("blob_chunks")
    op.drop_table("blob_uploads")
    op.drop_table("blobs")
