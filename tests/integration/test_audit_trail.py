"""The audit trail on real SQLite and PostgreSQL: rows cannot be changed or deleted (only sealed,
once), tampering done behind the triggers' back is found and named, concurrent writers in
several processes with a sealer running beside them end in one chain, and databases upgraded
from 0007 verify. (Sealing itself: tests/integration/test_audit_sealing.py.)"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from gateway.events import audit_sealer, audit_trail
from gateway.events.audit_chain import entry_hash
from gateway.migrations import upgrade
from gateway.store.db import Database
from gateway.store.tables import audit as audit_table
from gateway.store.tables import audit_heads
from tests.conftest import OTHER_TENANT, TENANT
from tests.support.audit_chains import AT, drop_triggers, problems, seal_all, seq_at, write


def test_entries_chain_per_municipality_and_verify(db: Database) -> None:
    write(db, 3)
    write(db, 2, tenant=OTHER_TENANT)
    write(db, 1, tenant=None, actor="console:anna")
    written = {r.chain: (r.entries, r.problem, r.pending.count if r.pending else 0) for r in audit_trail.verify(db)}
    assert written == {TENANT: (0, None, 3), OTHER_TENANT: (0, None, 2), "-": (0, None, 1)}, "pending, not a problem"
    assert audit_trail.current_heads(db) == [], "an anchor covers sealed entries only"
    assert seal_all(db) == 6
    results = {r.chain: r for r in audit_trail.verify(db)}
    assert {chain: (r.entries, r.problem) for chain, r in results.items()} == {
        TENANT: (3, None), OTHER_TENANT: (2, None), "-": (1, None)}
    assert [r.pending for r in results.values()] == [None, None, None]
    heads = {h["tenant"]: h for h in audit_trail.current_heads(db)}
    assert heads[TENANT]["position"] == 3 and heads[TENANT]["hash"] == results[TENANT].last.hash  # type: ignore[union-attr]
    assert [h["tenant"] for h in audit_trail.current_heads(db, TENANT)] == [TENANT]


def test_the_database_refuses_to_change_or_delete_entries(db: Database) -> None:
    write(db, 2)
    seal_all(db)
    statements = ["UPDATE audit SET actor = 'someone' WHERE position = 1", "DELETE FROM audit WHERE position = 2"]
    if not db.is_sqlite:
        statements.append("TRUNCATE audit")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), db.transaction() as uow:
            uow.conn.exec_driver_sql(statement)
    assert problems(db) == {}
    with db.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_table)).scalar_one() == 2


def test_a_changed_entry_is_named(db: Database) -> None:
    write(db, 5)
    seal_all(db)
    drop_triggers(db)
    seq = seq_at(db, TENANT, 3)
    with db.transaction() as uow:
        uow.conn.execute(sa.update(audit_table).where(audit_table.c.seq == seq).values(actor="console:mallory"))
    assert problems(db) == {TENANT: f"entry seq {seq} at position 3: its fields do not give its stored hash — "
                                    "the entry was changed"}


def test_a_removed_entry_is_named(db: Database) -> None:
    write(db, 5)
    write(db, 1, tenant=OTHER_TENANT)
    seal_all(db)
    drop_triggers(db)
    seq = seq_at(db, TENANT, 4)
    with db.transaction() as uow:
        uow.conn.execute(sa.delete(audit_table).where(audit_table.c.seq == seq))
    found = problems(db)
    assert list(found) == [TENANT] and "position 5: position(s) 4 missing" in found[TENANT]
    assert problems(db, tenant=OTHER_TENANT) == {}


def test_an_inserted_entry_is_named(db: Database) -> None:
    write(db, 3)
    seal_all(db)
    drop_triggers(db)
    with db.transaction() as uow:  # shift the last entry up to make room, slip one in that links properly
        uow.conn.execute(sa.update(audit_table).where(audit_table.c.position == 3).values(position=4))
        prev = uow.conn.execute(sa.select(audit_table.c.hash).where(audit_table.c.position == 2)).scalar_one()
        fields = {"at": AT, "actor": "console:mallory", "action": "case.status", "tenant_ars": TENANT,
                  "case_id": None, "inbox_id": None, "details": {}}
        forged = entry_hash(chain=TENANT, position=3, prev_hash=prev, **fields)  # type: ignore[arg-type]
        seq = uow.conn.execute(sa.insert(audit_table).values(chain=TENANT, position=3, prev_hash=prev, hash=forged,
                                                             **fields).returning(audit_table.c.seq)).scalar_one()
    message = problems(db)[TENANT]
    assert f"at position 4: written before the entry ahead of it (seq {seq}) — one of the two was inserted" \
        in message


def test_cutting_off_the_end_is_found_by_the_head_row_and_by_an_anchor(db: Database, tmp_path: Path) -> None:
    write(db, 4)
    seal_all(db)
    anchor_file = tmp_path / "anchor.json"
    anchor_file.write_text(__import__("json").dumps(audit_trail.current_heads(db)), encoding="utf-8")
    drop_triggers(db)
    with db.transaction() as uow:
        uow.conn.execute(sa.delete(audit_table).where(audit_table.c.position >= 3))
    assert "head row is at position 4" in problems(db)[TENANT]
    with db.transaction() as uow:  # the head row rewritten to match: only the anchor still knows
        head = uow.conn.execute(sa.select(audit_table.c.hash).where(audit_table.c.position == 2)).scalar_one()
        uow.conn.execute(sa.update(audit_heads).values(position=2, hash=head))
    assert problems(db) == {}
    anchors = audit_trail.load_anchors(anchor_file)
    assert "anchored head at position 4 is gone" in problems(db, anchors=anchors)[TENANT]


def _writer(url: str, tenant: str, count: int, actor: str) -> None:
    db = Database(url)
    write(db, count, tenant=tenant, actor=actor)
    db.dispose()


def _seal_and_check(db: Database, stop: threading.Event, sealed: list[int], found: list[str]) -> None:
    """A sealer beside the writers; every verification in between must find nothing wrong (an
    entry committed late never lands behind the sealed part of its chain)."""
    while not stop.is_set():
        sealed[0] += audit_sealer.seal(db)
        found.extend(f"{r.chain}: {r.problem.message}" for r in audit_trail.verify(db) if r.problem is not None)
        stop.wait(0.02)


def test_concurrent_writers_in_several_processes_keep_one_chain(pg_url: str) -> None:
    upgrade(pg_url)
    each = 150
    context = multiprocessing.get_context("spawn")
    tenants = [TENANT, OTHER_TENANT, TENANT, OTHER_TENANT, TENANT]
    workers = [context.Process(target=_writer, args=(pg_url, tenant, each, f"writer-{n}"))
               for n, tenant in enumerate(tenants)]
    db = Database(pg_url)
    stop, sealed, found = threading.Event(), [0], list[str]()
    sealer = threading.Thread(target=_seal_and_check, args=(db, stop, sealed, found))
    for worker in workers:
        worker.start()
    sealer.start()
    for worker in workers:
        worker.join(300)
        assert worker.exitcode == 0
    stop.set()
    sealer.join(60)
    assert found == [] and sealed[0] > 0, "the sealer ran beside the writers and every check passed"
    seal_all(db)
    results = {r.chain: r for r in audit_trail.verify(db)}
    with db.reading() as conn:
        positions = dict(conn.execute(sa.select(audit_table.c.chain, sa.func.max(audit_table.c.position))
                                      .group_by(audit_table.c.chain)).all())
        writers = list(conn.execute(sa.select(audit_table.c.actor).where(audit_table.c.chain == TENANT)
                                    .order_by(audit_table.c.position)).scalars())
    db.dispose()
    assert {c: (r.entries, r.problem) for c, r in results.items()} == {TENANT: (3 * each, None),
                                                                        OTHER_TENANT: (2 * each, None)}
    assert positions == {TENANT: 3 * each, OTHER_TENANT: 2 * each}
    switches = sum(a != b for a, b in itertools.pairwise(writers))
    assert switches > 10, "the writers ran one after another: the test proved nothing"


def test_entries_written_before_the_chain_are_chained_by_the_upgrade(db_url: str) -> None:
    upgrade(db_url, "0007")
    engine = sa.create_engine(db_url)
    old = sa.table("audit", sa.column("at", audit_table.c.at.type), sa.column("actor"), sa.column("action"),
                   sa.column("tenant_ars"), sa.column("case_id"), sa.column("details", sa.JSON))
    with engine.begin() as conn:
        conn.execute(sa.insert(old), [
            {"at": AT, "actor": "channel:portal", "action": "received", "tenant_ars": TENANT, "case_id": None,
             "details": {"bytes": 10}},
            {"at": AT, "actor": "console:anna", "action": "console.login", "tenant_ars": None, "case_id": None,
             "details": {}},
            {"at": AT, "actor": "worker", "action": "case.created", "tenant_ars": TENANT, "case_id": "c1",
             "details": {"reference": "R-1"}}])
    engine.dispose()
    upgrade(db_url)
    db = Database(db_url)
    with db.reading() as conn:  # the chained entries come first in the sealing order
        assert set(conn.execute(sa.select(audit_table.c.xid)).scalars()) == {0}
    write(db, 1)
    seal_all(db)
    results = {r.chain: r for r in audit_trail.verify(db)}
    db.dispose()
    assert {c: (r.entries, r.problem) for c, r in results.items()} == {TENANT: (3, None), "-": (1, None)}


def test_the_migration_goes_down_and_up_again(db_url: str) -> None:
    from alembic import command

    from gateway.migrations import alembic_config

    upgrade(db_url)
    command.downgrade(alembic_config(db_url), "0007")
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        assert "audit_heads" not in sa.inspect(conn).get_table_names()
        conn.execute(sa.text("UPDATE audit SET actor = 'x'"))  # no trigger left behind
    engine.dispose()
    upgrade(db_url)
    db = Database(db_url)
    write(db, 2)
    seal_all(db)
    assert problems(db) == {}
    db.dispose()
