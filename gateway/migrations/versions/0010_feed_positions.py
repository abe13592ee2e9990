"""Feed positions without a global lock: the writing transaction's id on cases and events.

Rows written before this revision get ``xid`` 0: they have all committed, and among themselves
``seq`` order is commit order (their writers were serialised), so ``(0, seq)`` keeps their order
and places them before every later row. New rows name their transaction (gateway/store/case_repo.py
does so explicitly); on PostgreSQL the column's default does the same for any other writer (an
import, a repair by hand), so no row can land below the horizon unnoticed. SQLite keeps 0.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"

_FEEDS = ("cases", "events")


def upgrade() -> None:
    for table in _FEEDS:
        op.add_column(table, sa.Column("xid", sa.BigInteger, nullable=False, server_default="0"))
        if op.get_bind().dialect.name == "postgresql":
            op.alter_column(table, "xid", server_default=sa.text("(pg_current_xact_id()::text::bigint)"))
        op.create_index(f"ix_{table}_feed", table, ["xid", "seq"])
        op.create_index(f"ix_{table}_tenant_feed", table, ["tenant_ars", "xid", "seq"])


def downgrade() -> None:
    for table in _FEEDS:
        op.drop_index(f"ix_{table}_tenant_feed", table)
        op.drop_index(f"ix_{table}_feed", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("xid")
