"""Retention on SQLite and PostgreSQL: raw originals go a while after their acknowledgement,
closed cases after their service's retention period, with their rows and (through the blob
collector) their blobs; open cases and the audit log stay."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from gateway.bootstrap import Gateway
from gateway.case.model import Case, CaseStatus, Decision
from gateway.cli import app as cli
from gateway.config import Settings
from gateway.events import audit_trail
from gateway.retention import Retention
from gateway.store import tables
from tests.conftest import TEST_MASTER_KEY
from tests.integration.conftest import portal_message
from tests.support.audit_chains import seal_all

DAY = dt.timedelta(days=1)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_gateway(profile_settings: Settings, clock: Clock) -> Iterator[Callable[..., Gateway]]:
    made: list[Gateway] = []

    def make(**retention: object) -> Gateway:
        settings = profile_settings.model_copy(update={
            "retention": profile_settings.retention.model_validate(retention)} if retention else {})
        gateway = Gateway.create(settings, clock=clock)
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.close()


def age_blobs(gw: Gateway, seconds: float) -> None:
    past = time.time() - seconds
    if gw.settings.effective_blob_store == "database":
        with gw.db.transaction() as uow:
            uow.conn.execute(update(tables.blobs).values(touched_ns=int(past * 1e9)))
        return
    for key, _ in list(gw.blobs.stored()):
        os.utime(gw.settings.effective_blob_dir / key[7:9] / key[7:], (past, past))


def use_in_cli(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The command line's environment for the gateway of ``settings``."""
    monkeypatch.setenv("RG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("RG_MAPPINGS_DIR", str(settings.mappings_dir))
    if settings.database_url:
        monkeypatch.setenv("RG_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RG_BLOB_STORE", settings.effective_blob_store)
    monkeypatch.setenv("RG_AT_REST", json.dumps({"master_keys": [TEST_MASTER_KEY]}))


def assert_audit_chains_intact(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """A purge deletes no audit entry and changes none: every chain still verifies, sealed to
    its end (the purges' own entries too), by the library and by `rathaus-gateway audit verify`."""
    seal_all(gw.db)
    results = audit_trail.verify(gw.db, None, None)
    assert results and [(result.problem, result.pending) for result in results] == [(None, None)] * len(results)
    use_in_cli(monkeypatch, gw.settings)
    verified = CliRunner().invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert f"{len(results)} chain(s) verified" in verified.output and "TAMPERED" not in verified.output


def intake(gw: Gateway, name: str) -> Case:
    outcome = gw.pipeline.intake(portal_message(data={"halter": {"vorname": name, "nachname": "Mustermann",
                                                                 "geburtsdatum": "12.08.1964"},
                                                      "hund": {"name": "Bello", "wurfdatum": "2025-03-01",
                                                               "gefaehrlich": False}}))
    assert outcome.case is not None
    return outcome.case


def close(gw: Gateway, case: Case) -> None:
    version = case.version
    for status in (CaseStatus.IN_PROGRESS, CaseStatus.DECIDED, CaseStatus.CLOSED):
        decision = Decision.APPROVED if status is CaseStatus.DECIDED else None
        version = gw.cases.change_status(str(case.id), to=status, decision=decision, note=None,
                                         expected_version=version, actor="fach", tenants=None).version


def audit_actions(gw: Gateway, case_id: str) -> list[str]:
    with gw.db.reading() as conn:
        return list(conn.execute(select(tables.audit.c.action).where(tables.audit.c.case_id == case_id)
                                 .order_by(tables.audit.c.seq)).scalars())


def test_raw_originals_go_after_their_acknowledgement(make_gateway: Callable[..., Gateway], clock: Clock,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    gw = make_gateway(raw_original_days=30)
    case = intake(gw, "Erika")
    key = case.original.storage_key
    age_blobs(gw, 2 * gw.settings.blob_gc_grace_seconds)
    clock.now += 29 * DAY
    assert Retention(gw.db, gw.blobs, gw.catalog, gw.settings, clock).run().originals == 0
    assert gw.blobs.exists(key)
    clock.now += 2 * DAY
    done = Retention(gw.db, gw.blobs, gw.catalog, gw.settings, clock).run()
    assert (done.originals, done.cases) == (1, 0)
    assert not gw.blobs.exists(key)
    with gw.db.reading() as conn:
        purged_at = conn.execute(select(tables.inbox.c.original_purged_at)).scalar_one()
    assert purged_at == clock.now
    assert audit_actions(gw, str(case.id)) == ["case.created", "original.purged"]
    assert gw.cases.get(str(case.id), None).reference == case.reference  # the case itself stays
    assert Retention(gw.db, gw.blobs, gw.catalog, gw.settings, clock).run().originals == 0  # once
    assert_audit_chains_intact(gw, monkeypatch)


def test_an_original_another_message_still_holds_stays(make_gateway: Callable[..., Gateway],
                                                       clock: Clock) -> None:
    gw = make_gateway(raw_original_days=30)
    first = intake(gw, "Erika")
    clock.now += 31 * DAY
    second = gw.pipeline.intake(portal_message(data=json.loads(gw.blobs.get(first.original.storage_key))["data"]))
    assert second.case is not None and second.case.original.storage_key == first.original.storage_key
    age_blobs(gw, 2 * gw.settings.blob_gc_grace_seconds)
    assert Retention(gw.db, gw.blobs, gw.catalog, gw.settings, clock).run().originals == 1
    assert gw.blobs.exists(first.original.storage_key)  # the second message's original


def test_closed_cases_are_purged_after_their_services_retention(make_gateway: Callable[..., Gateway],
                                                                clock: Clock, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    gw = make_gateway(raw_original_days=None)
    closed, still_open = intake(gw, "Erika"), intake(gw, "Max")
    close(gw, closed)
    age_blobs(gw, 2 * gw.settings.blob_gc_grace_seconds)
    clock.now += 364 * DAY
    assert Retention(gw.db, gw.blobs, gw.catalog, gw.settings, clock).run().cases == 0
    clock.now += 2 * DAY
    done = Retention(gw.db, gw.blobs, gw.catalog, gw.settings, clock).run()
    assert (done.originals, done.cases, done.blobs_deleted) == (0, 1, 1)
    assert not gw.blobs.exists(closed.original.storage_key)
    assert gw.blobs.exists(still_open.original.storage_key)
    with gw.db.reading() as conn:
        def count(table: tables.Table, column: str, value: str) -> int:
            return int(conn.execute(select(func.count()).select_from(table)
                                    .where(table.c[column] == value)).scalar_one())
        assert count(tables.cases, "id", str(closed.id)) == 0
        assert count(tables.events, "case_id", str(closed.id)) == 0
        assert count(tables.inbox, "case_id", str(closed.id)) == 0
        assert count(tables.cases, "id", str(still_open.id)) == 1
    # the audit entries of the purged case stay (ids only), the purge is one more
    assert audit_actions(gw, str(closed.id)) == ["case.created"] + ["case.status"] * 3 + ["case.purged"]
    assert_audit_chains_intact(gw, monkeypatch)
    assert gw.cases.get(str(still_open.id), None).reference == still_open.reference


def test_retention_run_and_keys_commands(make_gateway: Callable[..., Gateway], clock: Clock,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    gw = make_gateway()
    intake(gw, "Erika")
    settings = gw.settings
    gw.close()
    use_in_cli(monkeypatch, settings)
    runner = CliRunner()
    ran = runner.invoke(cli, ["retention", "run"])
    assert ran.exit_code == 0, ran.output
    assert "0 raw original(s) and 0 closed case(s) purged" in ran.output
    status = runner.invoke(cli, ["keys", "status"])
    assert status.exit_code == 0 and "test-suite: 2 data key(s)" in status.output
    rotated = runner.invoke(cli, ["keys", "rotate", "--new-data-keys", "--reseal"])
    assert rotated.exit_code == 0, rotated.output
    assert "2 new data key(s)" in rotated.output and "1 blob(s) sealed again" in rotated.output


def test_the_worker_applies_retention_periodically(profile_settings: Settings, clock: Clock) -> None:
    gw = Gateway.create(profile_settings.model_copy(update={"retention": profile_settings.retention.model_validate(
        {"raw_original_days": 30, "interval_seconds": 0.01})}), clock=clock)
    try:
        case = intake(gw, "Erika")
        age_blobs(gw, 2 * gw.settings.blob_gc_grace_seconds)
        clock.now += 31 * DAY
        time.sleep(0.05)
        gw.worker.run_once()
        assert not gw.blobs.exists(case.original.storage_key)
        assert audit_actions(gw, str(case.id)) == ["case.created", "original.purged"]
    finally:
        gw.close()


def test_the_parts_an_original_stood_for_go_with_it(make_gateway: Callable[..., Gateway], clock: Clock) -> None:
    gw = make_gateway(raw_original_days=30)
    part = gw.blobs.put(b"a piece fetched before the message was received")
    gw.pipeline.receive(dataclasses.replace(portal_message(), parts=(part,)))
    gw.worker.run_until_idle()
    age_blobs(gw, 2 * gw.settings.blob_gc_grace_seconds)
    clock.now += 31 * DAY
    done = Retention(gw.db, gw.blobs, gw.catalog, gw.settings, clock).run()
    assert (done.originals, done.blobs_deleted) == (1, 1)
    assert not gw.blobs.exists(part)
