"""The blob garbage collector: keeps what any row references and what is younger than the
grace period, deletes the rest — also while intake runs (a blob put just before its
referencing transaction commits is never deleted)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update
from typer.testing import CliRunner

from gateway.bootstrap import Gateway
from gateway.cli import app as cli
from gateway.store import tables
from gateway.store.blob_gc import collect, referenced_keys
from tests.conftest import make_settings
from tests.integration.conftest import portal_message

HOUR = 3600.0


def age(gw: Gateway, key: str, seconds: float) -> None:
    past = time.time() - seconds
    if gw.settings.effective_blob_store == "database":
        with gw.db.transaction() as uow:
            uow.conn.execute(update(tables.blobs).where(tables.blobs.c.key == key)
                             .values(touched_ns=int(past * 1e9)))
        return
    path = gw.settings.effective_blob_dir / key[7:9] / key[7:]
    os.utime(path, (past, past))


def age_all(gw: Gateway, seconds: float) -> None:
    for key, _ in list(gw.blobs.stored()):
        age(gw, key, seconds)


def test_referenced_blobs_stay_and_old_unreferenced_ones_go(gw: Gateway) -> None:
    outcome = gw.pipeline.intake(portal_message())
    assert outcome.case is not None
    case_keys = {outcome.case.original.storage_key}
    orphan = gw.blobs.put(b"left behind by a refused request")
    young_orphan_content = b"written a moment ago, its transaction not committed yet"
    age_all(gw, 2 * HOUR)
    young = gw.blobs.put(young_orphan_content)
    done = collect(gw.db, gw.blobs, grace_seconds=HOUR)
    assert (done.deleted, done.young) == (1, 1)
    assert not gw.blobs.exists(orphan)
    assert gw.blobs.exists(young)
    assert all(gw.blobs.exists(k) for k in case_keys)
    assert case_keys <= referenced_keys(gw.db)


def test_the_parts_a_received_original_stands_for_are_references(gw: Gateway) -> None:
    """A pull channel's raw original may be a manifest of blobs stored beforehand (FIT-Connect
    keeps one blob per fetched part): those blobs live as long as the inbox entry."""
    part = gw.blobs.put(b"an encrypted attachment, fetched before the manifest was received")
    unrelated = gw.blobs.put(b"fetched, but its message was never received")
    received = gw.pipeline.receive(dataclasses.replace(portal_message(), parts=(part,)))
    assert not received.duplicate
    age_all(gw, 2 * HOUR)
    collect(gw.db, gw.blobs, grace_seconds=HOUR)
    assert gw.blobs.exists(part)
    assert not gw.blobs.exists(unrelated)
    assert gw.queries.inbox_entry("portal", received_source(gw, received.inbox_id)) is not None


def received_source(gw: Gateway, inbox_id: str) -> str:
    with gw.db.reading() as conn:
        row = conn.execute(tables.inbox.select().where(tables.inbox.c.id == inbox_id)).mappings().one()
    assert row["part_keys"] is not None
    return str(row["source_id"])


def test_checkpoints_outbox_and_live_state_entries_are_references(gw: Gateway) -> None:
    checkpoint_blob = gw.blobs.put(b"decrypted data of a message that failed transiently")
    state_blob = gw.blobs.put(b"a pending upload")
    expired_blob = gw.blobs.put(b"an upload nobody used")
    now = gw.clock()
    with gw.db.transaction() as uow:
        uow.conn.execute(tables.step_results.insert().values(inbox_id="i-1", step="verify", at=now,
                                                             result={"data_key": checkpoint_blob}))
    gw.state.put("portal.uploads", "c:1", {"size": 1, "blob": state_blob}, ttl_seconds=HOUR)
    gw.state.put("portal.uploads", "c:2", {"size": 1, "blob": expired_blob}, ttl_seconds=HOUR)
    with gw.db.transaction() as uow:  # the second upload's time is up
        uow.conn.execute(update(tables.adapter_state).where(tables.adapter_state.c.key == "c:2")
                         .values(expires_at=now - dt.timedelta(seconds=1)))
    age_all(gw, 2 * HOUR)
    collect(gw.db, gw.blobs, grace_seconds=HOUR)
    assert gw.blobs.exists(checkpoint_blob) and gw.blobs.exists(state_blob)
    assert not gw.blobs.exists(expired_blob)


def test_a_blob_put_again_while_the_collector_runs_is_kept(gw: Gateway) -> None:
    """The collector read the references; then an intake puts bytes that are already stored
    (an old orphan, e.g. of an earlier refused request) and commits a case naming them; then the
    collector reaches that blob. The put made it young again: it stays."""
    message = portal_message()
    stale = gw.blobs.put(message.payload)
    age(gw, stale, 2 * HOUR)
    snapshot = referenced_keys(gw.db)  # the collector's view, before the intake
    outcome = gw.pipeline.intake(message)  # puts the same bytes again, commits the case
    assert outcome.case is not None and outcome.case.original.storage_key == stale
    collect(gw.db, gw.blobs, grace_seconds=HOUR, references=snapshot)
    assert gw.blobs.exists(stale)
    assert gw.blobs.get(stale) == message.payload


def test_a_blob_written_just_before_its_commit_is_kept(gw: Gateway) -> None:
    """Between the blob write and the commit the collector sees an unreferenced blob: the grace
    period on its age keeps it."""
    snapshot = referenced_keys(gw.db)
    outcome = gw.pipeline.intake(portal_message())
    assert outcome.case is not None
    done = collect(gw.db, gw.blobs, grace_seconds=60, references=snapshot)
    assert done.deleted == 0
    assert gw.blobs.exists(outcome.case.original.storage_key)


def test_stale_temporary_files_are_removed(gw: Gateway) -> None:
    if gw.settings.effective_blob_store == "database":  # an upload whose writer died between two chunks
        with gw.db.transaction() as uow:
            uow.conn.execute(insert(tables.blob_uploads),
                             {"upload": 7, "started_ns": int((time.time() - 2 * HOUR) * 1e9)})
            uow.conn.execute(insert(tables.blob_chunks), {"upload": 7, "n": 0, "data": b"half a blob"})
        assert collect(gw.db, gw.blobs, grace_seconds=HOUR).temporaries == 1
        with gw.db.reading() as conn:
            assert conn.execute(select(tables.blob_chunks.c.upload)).first() is None
        return
    leftover = gw.settings.effective_blob_dir / "ab" / ".tmp-1-2-3"
    leftover.write_bytes(b"half a blob")
    os.utime(leftover, (time.time() - 2 * HOUR,) * 2)
    assert collect(gw.db, gw.blobs, grace_seconds=HOUR).temporaries == 1
    assert not leftover.exists()


def test_the_worker_collects_periodically(tmp_path: Path) -> None:
    gw = Gateway.create(make_settings(tmp_path, blob_gc_interval_seconds=0.01))
    try:
        orphan = gw.blobs.put(b"orphan")
        age(gw, orphan, 2 * HOUR)
        time.sleep(0.05)
        gw.worker.run_once()
        assert not gw.blobs.exists(orphan)
    finally:
        gw.close()


def test_cli_blobs_gc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    gw = Gateway.create(settings)
    orphan = gw.blobs.put(b"orphan for the cli")
    age(gw, orphan, 2 * HOUR)
    gw.close()
    monkeypatch.setenv("RG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RG_MAPPINGS_DIR", str(settings.mappings_dir))
    runner = CliRunner()
    dry = runner.invoke(cli, ["blobs", "gc", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would delete 1 blob(s)" in dry.output
    done = runner.invoke(cli, ["blobs", "gc"])
    assert done.exit_code == 0, done.output
    assert "deleted 1 blob(s)" in done.output
    assert not (tmp_path / "blobs" / orphan[7:9] / orphan[7:]).exists()
