"""Audit entries sealed after the fact: writers only insert, the sealer links them into the chain.

Writers used to move their chain's head row on in their own transaction, which held the row
locked until their commit and so queued every writer of a municipality. Now an entry is written
without its place in the chain (``position``, ``prev_hash`` and ``hash`` NULL: "unsealed") but with
its writing transaction's id (``xid``, as on cases and events since 0010), and the sealer
(gateway/events/audit_sealer.py) links committed entries in ``(xid, seq)`` order. Entries written
before this revision are all sealed and get ``xid`` 0, which places them before every later one.

The append-only triggers of 0008 are replaced by ones that still refuse DELETE (and TRUNCATE on
PostgreSQL) and every UPDATE but one: sealing, i.e. an unsealed row getting its position,
previous hash and hash, with every other column unchanged.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from gateway.events.audit_chain import GENESIS, canonical_details, entry_hash
from gateway.store.tables import UtcDateTime

revision = "0013"
down_revision = "0012"

REFUSAL = "the audit log is append-only"

# Every column but the three the sealing sets; a column added to audit later must join this list.
_KEPT = ("seq", "at", "actor", "action", "tenant_ars", "case_id", "inbox_id", "details", "chain", "xid")
_LINK = ("position", "prev_hash", "hash")


def _sealing(unchanged: str, cast: dict[str, str]) -> str:
    """The condition an UPDATE must meet: the row was unsealed, now it is sealed whole, and
    nothing else moved (``unchanged`` is the dialect's null-safe equality)."""
    parts = [f"OLD.{name} IS NULL" for name in _LINK] + [f"NEW.{name} IS NOT NULL" for name in _LINK]
    parts += [f"NEW.{name}{cast.get(name, '')} {unchanged} OLD.{name}{cast.get(name, '')}" for name in _KEPT]
    return " AND ".join(parts)


_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit WHEN NOT ({_sealing('IS', {})}) "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
    f"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
]
# 0008's triggers (audit_no_update_delete, audit_no_truncate) stay; their function learns the one
# exception. details is a json column, which has no equality operator: compared as its text.
_POSTGRESQL_FUNCTION = (
    "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF TG_OP = 'UPDATE' THEN IF {_sealing('IS NOT DISTINCT FROM', {'details': '::text'})} THEN "
    "RETURN NEW; END IF; END IF; "
    f"RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'insufficient_privilege'; END $$")
_POSTGRESQL_0008_FUNCTION = (
    "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'insufficient_privilege'; END $$")
_SQLITE_0008_TRIGGERS = [
    f"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
    f"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
]

_audit = sa.table("audit", sa.column("seq", sa.BigInteger), sa.column("at", UtcDateTime()),
                  sa.column("actor", sa.String), sa.column("action", sa.String), sa.column("tenant_ars", sa.String),
                  sa.column("case_id", sa.String), sa.column("inbox_id", sa.String), sa.column("details", sa.JSON),
                  sa.column("chain", sa.String), sa.column("position", sa.BigInteger),
                  sa.column("prev_hash", sa.String), sa.column("hash", sa.String), sa.column("xid", sa.BigInteger))
_heads = sa.table("audit_heads", sa.column("chain", sa.String), sa.column("position", sa.BigInteger),
                  sa.column("hash", sa.String), sa.column("at", UtcDateTime()))


def _is_sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def upgrade() -> None:
    if _is_sqlite():  # the table is copied below, and its triggers would not come along
        op.execute("DROP TRIGGER audit_no_update")
        op.execute("DROP TRIGGER audit_no_delete")
    op.add_column("audit", sa.Column("xid", sa.BigInteger, nullable=False, server_default="0"))
    if not _is_sqlite():  # as on cases and events (0010): a writer that names no xid still gets its own
        op.alter_column("audit", "xid", server_default=sa.text("(pg_current_xact_id()::text::bigint)"))
    with op.batch_alter_table("audit") as batch:
        for name in _LINK:
            batch.alter_column(name, existing_type=sa.BigInteger if name == "position" else sa.String(64),
                               nullable=True)
    # after the copy: the batch copy of a SQLite table does not keep an index's WHERE clause
    op.create_index("ix_audit_unsealed", "audit", ["chain", "xid", "seq"],
                    postgresql_where=sa.text("hash IS NULL"), sqlite_where=sa.text("hash IS NULL"))
    if _is_sqlite():
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        op.execute(_POSTGRESQL_FUNCTION)


def _seal_everything(conn: sa.Connection) -> None:
    """Seal what is still unsealed, in (xid, seq) order, as the sealer would: 0008's schema has
    no place for an unsealed entry. (Run it with the gateway stopped: an entry of a transaction
    still open now is not seen, and then the column change below fails on it.)"""
    heads = {row.chain: {"chain": row.chain, "position": row.position, "hash": row.hash, "at": row.at}
             for row in conn.execute(sa.select(_heads))}
    known = set(heads)
    updates: list[dict[str, Any]] = []
    rows = conn.execute(sa.select(_audit).where(_audit.c.hash.is_(None)).order_by(_audit.c.xid, _audit.c.seq))
    for row in rows.mappings():
        head = heads.setdefault(row["chain"], {"chain": row["chain"], "position": 0, "hash": GENESIS, "at": None})
        position = head["position"] + 1
        digest = entry_hash(chain=row["chain"], position=position, prev_hash=head["hash"], at=row["at"],
                            actor=row["actor"], action=row["action"], tenant_ars=row["tenant_ars"],
                            case_id=row["case_id"], inbox_id=row["inbox_id"],
                            details=canonical_details(row["details"]))
        updates.append({"key": row["seq"], "p": position, "ph": head["hash"], "h": digest})
        head.update(position=position, hash=digest, at=row["at"])
    if not updates:
        return
    conn.execute(_audit.update().where(_audit.c.seq == sa.bindparam("key")).values(
        position=sa.bindparam("p"), prev_hash=sa.bindparam("ph"), hash=sa.bindparam("h")), updates)
    for chain, head in heads.items():
        if chain in known:
            conn.execute(_heads.update().where(_heads.c.chain == chain).values(
                position=head["position"], hash=head["hash"], at=head["at"]))
        else:
            conn.execute(_heads.insert().values(**head))


def _refuse_what_0012_would_misread(conn: sa.Connection) -> None:
    """0012 checks that ``seq`` grows along a chain; since 0013 a late commit may sit behind an
    entry with a larger ``seq`` (the order is ``(xid, seq)``, and ``xid`` goes with this revision).
    Going back would make an intact chain look tampered with: refuse instead."""
    before: tuple[str, int] | None = None
    for chain, seq in conn.execute(sa.select(_audit.c.chain, _audit.c.seq).order_by(_audit.c.chain,
                                                                                    _audit.c.position)):
        if before is not None and before[0] == chain and seq < before[1]:
            raise RuntimeError(f"cannot go back below 0013: audit chain {chain} holds an entry committed late "
                               f"(seq {seq} after seq {before[1]}), which the older verification would "
                               "report as inserted; stay on 0013 or later")
        before = (chain, seq)


def downgrade() -> None:
    _seal_everything(op.get_bind())  # through the sealing exception of the triggers still in place
    _refuse_what_0012_would_misread(op.get_bind())
    op.drop_index("ix_audit_unsealed", "audit")
    if _is_sqlite():
        op.execute("DROP TRIGGER audit_no_update")
        op.execute("DROP TRIGGER audit_no_delete")
    with op.batch_alter_table("audit") as batch:
        for name in _LINK:
            batch.alter_column(name, existing_type=sa.BigInteger if name == "position" else sa.String(64),
                               nullable=False)
        batch.drop_column("xid")
    if _is_sqlite():
        for statement in _SQLITE_0008_TRIGGERS:
            op.execute(statement)
    else:
        op.execute(_POSTGRESQL_0008_FUNCTION)
