"""Indexes of the admin console: case search newest first (by municipality, status, service and
date) and the adapter overview (inbox per channel and state).

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0005"


def upgrade() -> None:
    op.create_index("ix_inbox_channel_state", "inbox", ["channel", "state", "updated_at"])
    op.create_index("ix_cases_received", "cases", ["tenant_ars", "received_at", "seq"])
    op.create_index("ix_cases_status_received", "cases", ["tenant_ars", "status", "received_at", "seq"])
    op.create_index("ix_cases_service_received", "cases", ["tenant_ars", "service_leika", "received_at", "seq"])


def downgrade() -> None:
    op.drop_index("ix_cases_service_received", "cases")
    op.drop_index("ix_cases_status_received", "cases")
    op.drop_index("ix_cases_received", "cases")
    op.drop_index("ix_inbox_channel_state", "inbox")
