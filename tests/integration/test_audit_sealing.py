"""Writers only insert, the sealer links afterwards (gateway/events/audit_sealer.py), on real SQLite
and PostgreSQL: writers of one municipality never wait for each other, a transaction that commits
late is sealed in its place, sealers running at once take turns, only the sealing may change a
row, an entry slipped in behind the sealed part is named, and going back to 0012 seals first."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from gateway.events import audit, audit_sealer, audit_trail
from gateway.migrations import upgrade
from gateway.store import audit_repo
from gateway.store.db import Database
from gateway.store.dialects import current_xid
from gateway.store.tables import audit as audit_table
from tests.conftest import OTHER_TENANT, TENANT
from tests.support.audit_chains import AT, problems, seal_all, unsealed, write


def record(conn: sa.Connection, action: str, tenant: str | None = TENANT) -> None:
    audit.record(conn, at=AT, actor="worker", action=action, tenant_ars=tenant, details={})


def chain_rows(db: Database, chain: str = TENANT) -> list[Any]:
    with db.reading() as conn:
        return list(conn.execute(sa.select(audit_table).where(audit_table.c.chain == chain)
                                 .order_by(audit_table.c.position)).all())


def test_writers_of_one_municipality_do_not_wait_for_each_other(pg_db: Database) -> None:
    with pg_db.engine.connect() as first, pg_db.engine.connect() as second, first.begin():
        record(first, "first")  # open, its entry written: no row of the chain is locked by it
        with second.begin():
            second.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
            started = time.monotonic()
            record(second, "second")
            assert time.monotonic() - started < 1.0
        assert unsealed(pg_db) == 1, "the second committed while the first is still open"
    seal_all(pg_db)
    assert [(row.action, row.position) for row in chain_rows(pg_db)] == [("first", 1), ("second", 2)]
    assert problems(pg_db) == {}


def test_a_late_commit_is_sealed_in_its_place_after_it_ends(pg_db: Database) -> None:
    with pg_db.engine.connect() as old, pg_db.engine.connect() as young:
        transaction = old.begin()
        old_xid = old.execute(sa.select(current_xid())).scalar_one()  # the older transaction id
        with young.begin():
            record(young, "young")
        record(old, "old")  # written after the young one's entry: the larger seq, the smaller xid
        assert audit_sealer.seal(pg_db) == 0, "the young entry waits: the old transaction may still write"
        [result] = audit_trail.verify(pg_db)
        assert result.problem is None and result.entries == 0
        assert result.pending is not None and result.pending.count == 1
        transaction.commit()
    seal_all(pg_db)
    rows = chain_rows(pg_db)
    assert [(row.action, row.position) for row in rows] == [("old", 1), ("young", 2)]
    assert rows[0].xid == old_xid < rows[1].xid and rows[0].seq > rows[1].seq, "(xid, seq) order, not seq"
    assert rows[1].prev_hash == rows[0].hash
    [result] = audit_trail.verify(pg_db)
    assert (result.entries, result.problem, result.pending) == (2, None, None)


def test_sealers_running_at_once_take_turns_and_seal_each_entry_once(db: Database,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write(db, 120)
    write(db, 30, tenant=OTHER_TENANT)
    original = audit_repo.sealable

    def slow(conn: sa.Connection, chain: str, limit: int) -> Sequence[Any]:
        rows = original(conn, chain, limit)
        time.sleep(0.01)  # with the head row locked: the other sealers queue on it meanwhile
        return rows

    monkeypatch.setattr(audit_repo, "sealable", slow)
    sealers = 3
    start = threading.Barrier(sealers)
    counts = [0] * sealers
    errors: list[BaseException] = []

    def run(n: int) -> None:
        start.wait()
        try:
            while sealed := audit_sealer.seal(db, batch=7):
                counts[n] += sealed
        except BaseException as exc:  # reported below, with the others' counts
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(sealers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == [] and sum(counts) == 150, (errors, counts)
    assert sum(count > 0 for count in counts) >= 2, f"one sealer did all the work: {counts}"
    results = {r.chain: (r.entries, r.problem, r.pending) for r in audit_trail.verify(db)}
    assert results == {TENANT: (120, None, None), OTHER_TENANT: (30, None, None)}


def test_a_batch_seals_the_oldest_entries_first(db: Database) -> None:
    write(db, 5)
    assert audit_sealer.seal(db, batch=2) == 2
    assert [row.details["n"] for row in chain_rows(db) if row.position is not None] == [0, 1]
    [result] = audit_trail.verify(db)
    assert result.problem is None and result.entries == 2 and result.pending is not None
    assert result.pending.count == 3 and result.pending.at == AT + dt.timedelta(seconds=2)
    assert [h["position"] for h in audit_trail.current_heads(db)] == [2]
    assert seal_all(db) == 3 and [r.details["n"] for r in chain_rows(db)] == [0, 1, 2, 3, 4]


def test_only_the_sealing_may_change_an_entry(db: Database) -> None:
    write(db, 1)
    with db.reading() as conn:
        seq = conn.execute(sa.select(audit_table.c.seq)).scalar_one()
    link = {"position": 1, "prev_hash": "0" * 64, "hash": "f" * 64}
    refused: list[dict[str, Any]] = [
        {"actor": "console:mallory"},  # the content of an unsealed entry
        {"hash": "f" * 64},  # a part of the link only
        {**link, "actor": "console:mallory"},  # sealing, and changing something else with it
        {**link, "xid": 42},
        {**link, "details": {"n": 99}},
    ]
    where = audit_table.c.seq == seq
    for values in refused:
        with pytest.raises(DBAPIError, match="append-only"), db.transaction() as uow:
            uow.conn.execute(sa.update(audit_table).where(where).values(**values))
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as uow:
        uow.conn.execute(sa.delete(audit_table).where(where))
    assert seal_all(db) == 1  # the one change allowed
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as uow:  # and only once
        uow.conn.execute(sa.update(audit_table).where(where).values(hash="e" * 64))
    assert problems(db) == {}


def test_an_unsealed_entry_slipped_in_behind_the_sealed_part_is_named(db: Database) -> None:
    write(db, 3)
    seal_all(db)
    with db.transaction() as uow:  # no trigger stops an INSERT: one that claims an old transaction
        uow.conn.execute(sa.insert(audit_table).values(
            seq=0, xid=0, at=AT, actor="console:mallory", action="case.status", tenant_ars=TENANT,
            chain=TENANT, details={}))
    found = problems(db)
    assert list(found) == [TENANT]
    assert found[TENANT].startswith("unsealed entry seq 0 was written before the sealed entry seq ")
    assert "entry seq 0 was inserted afterwards" in found[TENANT]
    seal_all(db)  # sealed, it sits ahead of entries written after it: still named
    assert "entry seq 0 at position 4: written before the entry ahead of it" in problems(db)[TENANT]


def test_going_back_to_0012_seals_what_is_unsealed(db_url: str) -> None:
    from alembic import command

    from gateway.migrations import alembic_config

    upgrade(db_url)
    db = Database(db_url)
    write(db, 2)
    seal_all(db)
    write(db, 2)
    write(db, 1, tenant=OTHER_TENANT)
    db.dispose()
    command.downgrade(alembic_config(db_url), "0012")
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        columns = {column["name"]: column for column in sa.inspect(conn).get_columns("audit")}
        assert "xid" not in columns and not columns["hash"]["nullable"]
        chained = conn.execute(sa.text("SELECT chain, position FROM audit ORDER BY chain, position")).all()
        assert chained == [(OTHER_TENANT, 1), (TENANT, 1), (TENANT, 2), (TENANT, 3), (TENANT, 4)]
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:  # 0008's triggers again
        conn.execute(sa.text("UPDATE audit SET actor = 'x'"))
    engine.dispose()
    upgrade(db_url)
    db = Database(db_url)
    results = {r.chain: (r.entries, r.problem, r.pending) for r in audit_trail.verify(db)}
    db.dispose()
    assert results == {TENANT: (4, None, None), OTHER_TENANT: (1, None, None)}


def test_going_back_to_0012_is_refused_when_a_late_commit_would_look_inserted(pg_url: str) -> None:
    from alembic import command

    from gateway.migrations import alembic_config

    upgrade(pg_url)
    db = Database(pg_url)
    with db.engine.connect() as old, db.engine.connect() as young:
        transaction = old.begin()
        old.execute(sa.select(current_xid())).scalar_one()
        with young.begin():
            record(young, "young")
        record(old, "old")  # the smaller xid, the larger seq: sealed ahead of "young"
        transaction.commit()
    seal_all(db)
    db.dispose()
    with pytest.raises(RuntimeError, match="cannot go back below 0013"):
        command.downgrade(alembic_config(pg_url), "0012")
    db = Database(pg_url)
    [result] = audit_trail.verify(db)
    db.dispose()
    assert (result.entries, result.problem) == (2, None)


def test_a_chain_that_cannot_be_sealed_does_not_hold_the_others_back(db: Database) -> None:
    write(db, 2)
    seal_all(db)
    with db.transaction() as uow:  # the head row set back (audit_heads has no trigger): a restore gone wrong
        uow.conn.execute(sa.text("UPDATE audit_heads SET position = 0, hash = :genesis WHERE chain = :chain"),
                         {"genesis": "0" * 64, "chain": TENANT})
    write(db, 1)
    write(db, 1, tenant=OTHER_TENANT)
    assert audit_sealer.seal(db) == 1, "the other municipality's entry is sealed all the same"
    assert [row.position for row in chain_rows(db, OTHER_TENANT)] == [1]
    positions = sorted((row.position for row in chain_rows(db)), key=lambda p: (p is None, p or 0))
    assert positions == [1, 2, None], "the broken chain's entry waits, unsealed"
