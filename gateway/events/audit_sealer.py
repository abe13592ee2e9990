"""Sealing the audit log: committed entries are linked into their municipality's hash chain after
the fact, so that writers only insert and never wait for each other (gateway.events.audit).

Per chain with entries to seal, one short transaction locks the chain's head row (the sealers
of one chain take turns there, e.g. several workers), takes the chain's unsealed entries whose
transaction id lies below the horizon — the lowest transaction id still running — in ``(xid,
seq)`` order, at most a batch of them, gives each its position, the previous hash and its hash
(gateway.events.audit_chain) and moves the head row on. Every transaction below the horizon has
ended, so all its entries are visible and an entry that commits later has a larger ``xid``:
it can only come after what is sealed, never behind it (the argument of the case feeds,
gateway/store/case_repo.py). A long transaction on the PostgreSQL server delays the sealing (the
entries wait, unsealed); it cannot misorder it. SQLite: one writer at a time, order ``seq``.

The worker runs :func:`seal` every round; ``rathaus-gateway audit seal`` runs it once.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import AuditChainConflict
from gateway.events.audit_chain import entry_hash
from gateway.events.audit_verify import Head
from gateway.store import audit_repo
from gateway.store.db import Database

log = logging.getLogger(__name__)

BATCH = 1000


def seal(db: Database, batch: int = BATCH) -> int:
    """Seal what can be sealed now, at most ``batch`` entries per chain; how many were sealed
    (a full batch may leave more for the next call). A chain that cannot be sealed (its head
    row damaged, say) is logged and left for ``audit verify`` to name; the others go on."""
    with db.reading() as conn:
        names = audit_repo.sealable_chains(conn)
    sealed = 0
    for name in names:
        try:
            sealed += seal_chain(db, name, batch)
        except (SQLAlchemyError, AuditChainConflict) as exc:
            log.error("sealing audit chain %s failed: %s", name, type(exc).__name__)
    return sealed


def seal_chain(db: Database, chain: str, batch: int = BATCH) -> int:
    with db.transaction() as uow:
        head = audit_repo.lock_head(uow.conn, chain)
        rows = audit_repo.sealable(uow.conn, chain, batch)  # read after the lock: what the sealer before left
        if not rows:
            return 0
        position, prev_hash = head.position, head.hash
        links: list[audit_repo.Link] = []
        for row in rows:
            # hashed as read back from the columns, exactly what verification recomputes
            position += 1
            digest = entry_hash(chain=chain, position=position, prev_hash=prev_hash, at=row.at, actor=row.actor,
                                action=row.action, tenant_ars=row.tenant_ars, case_id=row.case_id,
                                inbox_id=row.inbox_id, details=row.details)
            links.append(audit_repo.Link(row.seq, position, prev_hash, digest))
            prev_hash = digest
        audit_repo.seal(uow.conn, links, Head(chain, position, prev_hash), rows[-1].at)
    return len(links)
