"""The audit trail on real SQLite and PostgreSQL: rows cannot be changed or deleted, tampering
done behind the triggers' back is found and named, concurrent writers in several processes keep
one chain, and databases upgraded from 0007 verify."""

from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from gateway.events import audit, audit_trail
from gateway.events.audit_chain import entry_hash
from gateway.migrations import upgrade
from gateway.store.db import Database
from gateway.store.tables import audit as audit_table
from gateway.store.tables import audit_heads
from tests.conftest import OTHER_TENANT, TENANT

AT = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    upgrade(db_url)
    database = Database(db_url)
    yield database
    database.dispose()


def write(db: Database, count: int, tenant: str | None = TENANT, actor: str = "worker") -> None:
    for n in range(count):
        with db.transaction() as uow:
            audit.record(uow.conn, at=AT + dt.timedelta(seconds=n), actor=actor, action="case.status",
                         tenant_ars=tenant, case_id=f"case-{n}", details={"to": "in_progress", "n": n})


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


def test_entries_chain_per_municipality_and_verify(db: Database) -> None:
    write(db, 3)
    write(db, 2, tenant=OTHER_TENANT)
    write(db, 1, tenant=None, actor="console:anna")
    results = {r.chain: r for r in audit_trail.verify(db)}
    assert {chain: (r.entries, r.problem) for chain, r in results.items()} == {
        TENANT: (3, None), OTHER_TENANT: (2, None), "-": (1, None)}
    heads = {h["tenant"]: h for h in audit_trail.current_heads(db)}
    assert heads[TENANT]["position"] == 3 and heads[TENANT]["hash"] == results[TENANT].last.hash  # type: ignore[union-attr]
    assert [h["tenant"] for h in audit_trail.current_heads(db, TENANT)] == [TENANT]


def test_the_database_refuses_to_change_or_delete_entries(db: Database) -> None:
    write(db, 2)
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
    drop_triggers(db)
    seq = seq_at(db, TENANT, 3)
    with db.transaction() as uow:
        uow.conn.execute(sa.update(audit_table).where(audit_table.c.seq == seq).values(actor="console:mallory"))
    assert problems(db) == {TENANT: f"entry seq {seq} at position 3: its fields do not give its stored hash — "
                                    "the entry was changed"}


def test_a_removed_entry_is_named(db: Database) -> None:
    write(db, 5)
    write(db, 1, tenant=OTHER_TENANT)
    drop_triggers(db)
    seq = seq_at(db, TENANT, 4)
    with db.transaction() as uow:
        uow.conn.execute(sa.delete(audit_table).where(audit_table.c.seq == seq))
    found = problems(db)
    assert list(found) == [TENANT] and "position 5: position(s) 4 missing" in found[TENANT]
    assert problems(db, tenant=OTHER_TENANT) == {}


def test_an_inserted_entry_is_named(db: Database) -> None:
    write(db, 3)
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
    assert f"at position 4: written before the entry ahead of it (seq {seq}) — entry seq {seq} was inserted" \
        in message


def test_cutting_off_the_end_is_found_by_the_head_row_and_by_an_anchor(db: Database, tmp_path: Path) -> None:
    write(db, 4)
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


def test_concurrent_writers_in_several_processes_keep_one_chain(pg_url: str) -> None:
    upgrade(pg_url)
    each = 150
    context = multiprocessing.get_context("spawn")
    tenants = [TENANT, OTHER_TENANT, TENANT, OTHER_TENANT, TENANT]
    workers = [context.Process(target=_writer, args=(pg_url, tenant, each, f"writer-{n}"))
               for n, tenant in enumerate(tenants)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
        assert worker.exitcode == 0
    db = Database(pg_url)
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
    write(db, 1)
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
    assert problems(db) == {}
    db.dispose()
