"""The audit log: who did what to which message or case, and when — one row per action, in the
transaction of the action itself. Entries carry ids, reasons and counts, never personal data.

The log is append-only (triggers refuse UPDATE and DELETE) and hash-chained per municipality
(gateway.events.audit_chain). A writer first moves its chain's head row one position on — an
upsert that locks the row until the transaction ends — so writers of one chain take turns
and the chain never forks, on PostgreSQL with many processes as on SQLite with its one writer.

Because the head row stays locked until the commit, a transaction records its audit entry after
its other writes (rows it updates, the reference counter it draws from), so that two
transactions never take these locks in opposite orders and deadlock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from gateway.events.audit_chain import GENESIS, canonical_details, chain_of, entry_hash
from gateway.store.dialects import both, for_connection
from gateway.store.tables import audit, audit_heads

_INSERT = insert(audit)
_ADVANCE_HEAD = both(lambda dialect_insert: dialect_insert(audit_heads).values(
    chain=bindparam("chain"), position=1, hash=GENESIS).on_conflict_do_update(
    index_elements=[audit_heads.c.chain], set_={"position": audit_heads.c.position + 1}).returning(
    audit_heads.c.position, audit_heads.c.hash))
_SET_HEAD = update(audit_heads).where(audit_heads.c.chain == bindparam("head_chain")).values(
    hash=bindparam("head_hash"), at=bindparam("head_at"))


def record(conn: Connection, *, at: dt.datetime, actor: str, action: str, details: dict[str, Any],
           tenant_ars: str | None = None, case_id: str | None = None, inbox_id: str | None = None) -> None:
    chain = chain_of(tenant_ars)
    position, prev_hash = conn.execute(for_connection(_ADVANCE_HEAD, conn), {"chain": chain}).one()
    stored = canonical_details(details)
    digest = entry_hash(chain=chain, position=position, prev_hash=prev_hash, at=at, actor=actor, action=action,
                        tenant_ars=tenant_ars, case_id=case_id, inbox_id=inbox_id, details=stored)
    conn.execute(_INSERT, {"at": at, "actor": actor, "action": action, "details": stored, "tenant_ars": tenant_ars,
                           "case_id": case_id, "inbox_id": inbox_id, "chain": chain, "position": position,
                           "prev_hash": prev_hash, "hash": digest})
    conn.execute(_SET_HEAD, {"head_chain": chain, "head_hash": digest, "head_at": at})


def record_views(conn: Connection, *, at: dt.datetime, actor: str, action: str,
                 shown: list[tuple[str | None, str]], details: dict[str, Any]) -> None:
    """An admin saw a list of inbox entries: one entry per municipality (in its chain) with the
    ids and their count; chains in a fixed order, so two such writers never wait on each other
    crosswise."""
    by_tenant: dict[str | None, list[str]] = {}
    for tenant, inbox_id in shown:
        by_tenant.setdefault(tenant, []).append(inbox_id)
    for tenant in sorted(by_tenant, key=chain_of):
        ids = by_tenant[tenant]
        record(conn, at=at, actor=actor, action=action, tenant_ars=tenant,
               details={**details, "count": len(ids), "inbox_ids": ids})
