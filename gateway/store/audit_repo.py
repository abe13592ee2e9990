"""The audit chains in the database. Reading (verification, anchors): their names, their sealed
entries in order (streamed), their unsealed ones, their head rows and newest sealed entries, from
one consistent snapshot. Sealing (gateway.events.audit_sealer): the chains with entries ready
to seal, a chain's head row locked, its next entries, and their links written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update

from gateway.errors import AuditChainConflict
from gateway.events.audit_chain import GENESIS, Entry
from gateway.events.audit_verify import Head, Pending
from gateway.store import dialects
from gateway.store.db import Database
from gateway.store.tables import audit, audit_heads

BATCH = 1000

_SEALED = audit.c.hash.is_not(None)
_UNSEALED = audit.c.hash.is_(None)  # the partial index ix_audit_unsealed
# below the horizon: every transaction that could still add an entry there has ended (case_repo's docstring)
_SETTLED = audit.c.xid < dialects.feed_horizon()


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
    # a sealed row without position or previous hash was tampered with: -1 and "" fail the walk
    return Entry(seq=row.seq, chain=row.chain, position=row.position if row.position is not None else -1,
                 prev_hash=row.prev_hash or "", hash=row.hash, at=row.at, actor=row.actor, action=row.action,
                 tenant_ars=row.tenant_ars, case_id=row.case_id, inbox_id=row.inbox_id, details=row.details,
                 xid=row.xid)


def entries(conn: Connection, chain: str) -> Iterator[Entry]:
    """The chain's sealed entries by position (then seq), fetched in batches."""
    query = select(audit).where(audit.c.chain == chain, _SEALED).order_by(audit.c.position, audit.c.seq)
    for row in conn.execution_options(yield_per=BATCH).execute(query):
        yield _entry(row)


def newest(conn: Connection, chain: str) -> Entry | None:
    """The chain's newest sealed entry (what an anchor records)."""
    row = conn.execute(select(audit).where(audit.c.chain == chain, _SEALED)
                       .order_by(audit.c.position.desc(), audit.c.seq.desc()).limit(1)).first()
    return _entry(row) if row is not None else None


def pending(conn: Connection, chain: str) -> Pending | None:
    """The chain's unsealed entries: their count and the next one to be sealed."""
    where = (audit.c.chain == chain, _UNSEALED)
    count = conn.execute(select(func.count()).select_from(audit).where(*where)).scalar_one()
    if not count:
        return None
    first = conn.execute(select(audit.c.seq, audit.c.xid, audit.c.at).where(*where)
                         .order_by(audit.c.xid, audit.c.seq).limit(1)).one()
    return Pending(count=count, seq=first.seq, xid=first.xid, at=first.at)


# --- sealing ---

@dataclass(frozen=True)
class Link:
    """An entry's place in its chain, as the sealer gives it."""

    seq: int
    position: int
    prev_hash: str
    hash: str


_CREATE_HEAD = dialects.both(lambda dialect_insert: dialect_insert(audit_heads).values(
    chain=bindparam("head_chain"), position=0, hash=GENESIS).on_conflict_do_nothing())
_LOCK_HEAD = select(audit_heads.c.position, audit_heads.c.hash).where(
    audit_heads.c.chain == bindparam("head_chain")).with_for_update()
_SEAL = update(audit).where(audit.c.seq == bindparam("key"), _UNSEALED).values(
    position=bindparam("link_position"), prev_hash=bindparam("link_prev_hash"), hash=bindparam("link_hash"))
_MOVE_HEAD = update(audit_heads).where(audit_heads.c.chain == bindparam("head_chain")).values(
    position=bindparam("head_position"), hash=bindparam("head_hash"), at=bindparam("head_at"))


def sealable_chains(conn: Connection) -> list[str]:
    """Chains with unsealed entries below the horizon (an index look-up: cheap when none are)."""
    return sorted(conn.execute(select(audit.c.chain).where(_UNSEALED, _SETTLED).distinct()).scalars())


def lock_head(conn: Connection, chain: str) -> Head:
    """The chain's head row, created at the genesis if missing and locked to the end of the
    transaction: the sealers of one chain take turns here. On PostgreSQL the SELECT after the
    wait returns the row as the sealer before left it, and every later statement (READ
    COMMITTED) sees the entries it sealed."""
    conn.execute(dialects.for_connection(_CREATE_HEAD, conn), {"head_chain": chain})
    row = conn.execute(_LOCK_HEAD, {"head_chain": chain}).one()
    return Head(chain, row.position, row.hash)


def sealable(conn: Connection, chain: str, limit: int) -> Sequence[Row[Any]]:
    """The chain's next unsealed entries below the horizon, in (xid, seq) order."""
    return conn.execute(select(audit).where(audit.c.chain == chain, _UNSEALED, _SETTLED)
                        .order_by(audit.c.xid, audit.c.seq).limit(limit)).all()


def seal(conn: Connection, links: list[Link], head: Head, at: dt.datetime) -> None:
    """Write the entries' links and move the head row to the last of them."""
    for link in links:  # one by one: each must have been unsealed still, else the chain would skip it
        sealed = conn.execute(_SEAL, {"key": link.seq, "link_position": link.position,
                                      "link_prev_hash": link.prev_hash, "link_hash": link.hash}).rowcount
        if sealed != 1:
            raise AuditChainConflict(f"audit entry seq {link.seq} of chain {head.chain} was sealed meanwhile")
    conn.execute(_MOVE_HEAD, {"head_chain": head.chain, "head_position": head.position, "head_hash": head.hash,
                              "head_at": at})
