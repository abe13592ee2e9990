"""Audit chains in tests: write entries, seal them with the real sealer, tamper, read the findings."""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa

from gateway.events import audit, audit_sealer, audit_trail
from gateway.store.db import Database
from gateway.store.tables import audit as audit_table
from tests.conftest import TENANT

AT = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.UTC)


def write(db: Database, count: int, tenant: str | None = TENANT, actor: str = "worker") -> None:
    """``count`` entries, each in a transaction of its own (unsealed until sealed)."""
    for n in range(count):
        with db.transaction() as uow:
            audit.record(uow.conn, at=AT + dt.timedelta(seconds=n), actor=actor, action="case.status",
                         tenant_ars=tenant, case_id=f"case-{n}", details={"to": "in_progress", "n": n})


def unsealed(db: Database) -> int:
    with db.reading() as conn:
        count: int = conn.execute(sa.select(sa.func.count()).select_from(audit_table)
                                  .where(audit_table.c.hash.is_(None))).scalar_one()
    return count


def seal_all(db: Database, timeout: float = 30.0) -> int:
    """Seal until nothing is left unsealed; how many were sealed. On the shared PostgreSQL server a
    transaction of another client may hold the horizon back for a moment: wait for it, bounded."""
    deadline = time.monotonic() + timeout
    total = 0
    while True:
        total += audit_sealer.seal(db)
        if unsealed(db) == 0:
            return total
        if time.monotonic() > deadline:
            raise AssertionError(f"{unsealed(db)} audit entries still unsealed after {timeout} s")
        time.sleep(0.05)


def drop_triggers(db: Database) -> None:
    """What someone with full database access could do first."""
    with db.transaction() as uow:
        if db.is_sqlite:
            uow.conn.exec_driver_sql("DROP TRIGGER audit_no_update")
            uow.conn.exec_driver_sql("DROP TRIGGER audit_no_delete")
        else:
            uow.conn.exec_driver_sql("DROP TRIGGER audit_no_update_delete ON audit")


def problems(db: Database, **kwargs: object) -> dict[str, str]:
    return {r.chain: r.problem.message for r in audit_trail.verify(db, **kwargs)  # type: ignore[arg-type]
            if r.problem is not None}


def seq_at(db: Database, chain: str, position: int) -> int:
    with db.reading() as conn:
        seq: int = conn.execute(sa.select(audit_table.c.seq).where(
            audit_table.c.chain == chain, audit_table.c.position == position)).scalar_one()
    return seq
