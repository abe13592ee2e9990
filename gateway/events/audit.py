"""The audit log: who did what to which message or case, and when — one row per action, in the
transaction of the action itself. Entries carry ids, reasons and counts, never personal data.

The log is append-only (triggers refuse DELETE and every UPDATE but the one that seals an entry)
and hash-chained per municipality (gateway.events.audit_chain). A writer only inserts its entry,
with the chain's name and its own transaction's id (``xid``) but without a place in the chain:
no row is locked, so writers of one municipality never wait for each other, on PostgreSQL with
many processes as on SQLite.

The entry is linked into its chain after its commit by the sealer
(gateway.events.audit_sealer, every worker round), in the order of ``(xid, seq)``, which no
later commit can fall behind; until then it is "unsealed", and `rathaus-gateway audit verify`
reports it as pending.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, insert

from gateway.events.audit_chain import canonical_details, chain_of
from gateway.store.dialects import current_xid
from gateway.store.tables import audit

_INSERT = insert(audit).values(xid=current_xid())


def record(conn: Connection, *, at: dt.datetime, actor: str, action: str, details: dict[str, Any],
           tenant_ars: str | None = None, case_id: str | None = None, inbox_id: str | None = None) -> None:
    conn.execute(_INSERT, {"at": at, "actor": actor, "action": action, "details": canonical_details(details),
                           "tenant_ars": tenant_ars, "case_id": case_id, "inbox_id": inbox_id,
                           "chain": chain_of(tenant_ars)})


def record_views(conn: Connection, *, at: dt.datetime, actor: str, action: str,
                 shown: list[tuple[str | None, str]], details: dict[str, Any]) -> None:
    """An admin saw a list of inbox entries: one entry per municipality (in its chain) with the
    ids and their count, the chains in a fixed order."""
    by_tenant: dict[str | None, list[str]] = {}
    for tenant, inbox_id in shown:
        by_tenant.setdefault(tenant, []).append(inbox_id)
    for tenant in sorted(by_tenant, key=chain_of):
        ids = by_tenant[tenant]
        record(conn, at=at, actor=actor, action=action, tenant_ars=tenant,
               details={**details, "count": len(ids), "inbox_ids": ids})
