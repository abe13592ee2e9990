"""Reading the audit chains: their names, their entries in order (streamed), their head rows and
their newest entries, from one consistent snapshot of the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, select

from gateway.events.audit_chain import Entry
from gateway.events.audit_verify import Head
from gateway.store.db import Database
from gateway.store.tables import audit, audit_heads

BATCH = 1000


@contextmanager
def snapshot(db: Database) -> Iterator[Connection]:
    """A read-only transaction that sees one state throughout: SQLite's WAL reader does; on
    PostgreSQL, REPEATABLE READ (READ COMMITTED would let entries appear between the reads)."""
    if db.is_sqlite:
        with db.reading() as conn:
            yield conn
        return
    with db.engine.connect() as raw:
        conn = raw.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


def chains(conn: Connection) -> list[str]:
    names = set(conn.execute(select(audit_heads.c.chain)).scalars())
    names.update(conn.execute(select(audit.c.chain).distinct()).scalars())
    return sorted(names)


def heads(conn: Connection) -> dict[str, Head]:
    return {row.chain: Head(row.chain, row.position, row.hash) for row in conn.execute(select(audit_heads))}


def _entry(row: Any) -> Entry:
    return Entry(seq=row.seq, chain=row.chain, position=row.position, prev_hash=row.prev_hash, hash=row.hash,
                 at=row.at, actor=row.actor, action=row.action, tenant_ars=row.tenant_ars, case_id=row.case_id,
                 inbox_id=row.inbox_id, details=row.details)


def entries(conn: Connection, chain: str) -> Iterator[Entry]:
    """The chain's entries by position (then seq), fetched in batches."""
    query = select(audit).where(audit.c.chain == chain).order_by(audit.c.position, audit.c.seq)
    for row in conn.execution_options(yield_per=BATCH).execute(query):
        yield _entry(row)


def newest(conn: Connection, chain: str) -> Entry | None:
    row = conn.execute(select(audit).where(audit.c.chain == chain)
                       .order_by(audit.c.position.desc(), audit.c.seq.desc()).limit(1)).first()
    return _entry(row) if row is not None else None
