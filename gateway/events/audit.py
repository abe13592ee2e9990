"""The audit log: who did what to which message or case, and when — one row per action, in the
transaction of the action itself. Entries carry ids, reasons and counts, never personal data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, insert

from gateway.store.tables import audit

_INSERT = insert(audit)


def record(conn: Connection, *, at: dt.datetime, actor: str, action: str, details: dict[str, Any],
           tenant_ars: str | None = None, case_id: str | None = None, inbox_id: str | None = None) -> None:
    conn.execute(_INSERT, {"at": at, "actor": actor, "action": action, "details": details,
                           "tenant_ars": tenant_ars, "case_id": case_id, "inbox_id": inbox_id})
