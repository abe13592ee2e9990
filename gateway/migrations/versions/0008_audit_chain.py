"""A tamper-evident audit log: every entry joins its municipality's hash chain (position, the
previous entry's hash, its own hash; see gateway.events.audit_chain), one head row per chain,
and triggers that refuse UPDATE, DELETE (and, on PostgreSQL, TRUNCATE) of audit rows.

Entries written before this revision are chained here, in the order they were written (seq),
with encoding version 1, so `rathaus-gateway audit verify` checks upgraded databases too.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from gateway.events.audit_chain import GENESIS, canonical_details, chain_of, entry_hash
from gateway.store.tables import UtcDateTime

revision = "0008"
down_revision = "0007"

REFUSAL = "the audit log is append-only"

_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
    f"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
]
_POSTGRESQL_TRIGGERS = [
    "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'insufficient_privilege'; END $$",
    "CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
]

_audit = sa.table("audit", sa.column("seq", sa.BigInteger), sa.column("at", UtcDateTime()),
                  sa.column("actor", sa.String), sa.column("action", sa.String), sa.column("tenant_ars", sa.String),
                  sa.column("case_id", sa.String), sa.column("inbox_id", sa.String), sa.column("details", sa.JSON),
                  sa.column("chain", sa.String), sa.column("position", sa.BigInteger),
                  sa.column("prev_hash", sa.String), sa.column("hash", sa.String))


def _chain_existing_entries(conn: sa.Connection) -> list[dict[str, Any]]:
    """Give every existing entry its place in its chain; returns the chains' heads."""
    heads: dict[str, dict[str, Any]] = {}
    updates: list[dict[str, Any]] = []
    for row in conn.execute(sa.select(_audit).order_by(_audit.c.seq)).mappings():
        chain = chain_of(row["tenant_ars"])
        head = heads.get(chain, {"chain": chain, "position": 0, "hash": GENESIS, "at": None})
        position = head["position"] + 1
        digest = entry_hash(chain=chain, position=position, prev_hash=head["hash"], at=row["at"],
                            actor=row["actor"], action=row["action"], tenant_ars=row["tenant_ars"],
                            case_id=row["case_id"], inbox_id=row["inbox_id"],
                            details=canonical_details(row["details"]))
        updates.append({"key": row["seq"], "c": chain, "p": position, "ph": head["hash"], "h": digest})
        heads[chain] = {"chain": chain, "position": position, "hash": digest, "at": row["at"]}
    if updates:
        conn.execute(_audit.update().where(_audit.c.seq == sa.bindparam("key")).values(
            chain=sa.bindparam("c"), position=sa.bindparam("p"), prev_hash=sa.bindparam("ph"),
            hash=sa.bindparam("h")), updates)
    return list(heads.values())


def upgrade() -> None:
    op.add_column("audit", sa.Column("chain", sa.String(12)))
    op.add_column("audit", sa.Column("position", sa.BigInteger))
    op.add_column("audit", sa.Column("prev_hash", sa.String(64)))
    op.add_column("audit", sa.Column("hash", sa.String(64)))
    heads = _chain_existing_entries(op.get_bind())
    with op.batch_alter_table("audit") as batch:
        for name in ("chain", "position", "prev_hash", "hash"):
            batch.alter_column(name, nullable=False)
    op.create_index("ux_audit_chain_position", "audit", ["chain", "position"], unique=True)
    audit_heads = op.create_table(
        "audit_heads",
        sa.Column("chain", sa.String(12), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", UtcDateTime()),
    )
    if heads:
        op.bulk_insert(audit_heads, heads)
    triggers = _SQLITE_TRIGGERS if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_no_delete")
        op.execute("DROP TRIGGER audit_no_update")
    else:
        op.execute("DROP TRIGGER audit_no_truncate ON audit")
        op.execute("DROP TRIGGER audit_no_update_delete ON audit")
        op.execute("DROP FUNCTION audit_append_only()")
    op.drop_table("audit_heads")
    op.drop_index("ux_audit_chain_position", "audit")
    with op.batch_alter_table("audit") as batch:
        for name in ("hash", "prev_hash", "position", "chain"):
            batch.drop_column(name)
