"""Retention on SQLite and PostgreSQL: raw originals go a while after their acknowledgement,
those of messages that never became a case (discarded, quarantined, dead) after theirs, closed
cases after their service's retention period, with their rows and (through the blob collector)
their blobs; open cases, the inbox rows of messages never taken in and the audit log stay."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.case.model import Case, CaseStatus, Decision
from gateway.cli import app as cli
from gateway.config import Settings
from gateway.errors import InvalidPayload, OriginalPurged, Problem, UpstreamUnavailable
from gateway.events import audit_trail
from gateway.ports import CommittedCase, InboundMessage
from gateway.retention import Retention
from gateway.store import inbox_repo, outbox_repo, tables
from gateway.store.inbox_repo import InboxRow
from tests.conftest import SECRETS, TEST_MASTER_KEY
from tests.integration.conftest import envelope, portal_message
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
    assert "0 raw original(s), 0 discarded/quarantined/dead message(s) and 0 closed case(s) purged" in ran.output
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


# -- messages that never became a case ---------------------------------------------------------
UNKNOWN_SERVICE = "99999999999999"


def retention(gw: Gateway, clock: Clock) -> Retention:
    return Retention(gw.db, gw.blobs, gw.catalog, gw.settings, clock)


def quarantine(gw: Gateway) -> InboxRow:
    """A pull channel's message the worker quarantines (no such service); bytes of its own."""
    data = envelope()["data"]
    data["hund"]["name"] = f"Bello {uuid.uuid4()}"
    received = gw.pipeline.receive(portal_message(service=UNKNOWN_SERVICE, data=data))
    gw.worker.run_until_idle()
    return entry(gw, received.inbox_id, "quarantined")


def dead_letter(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> tuple[InboxRow, str]:
    """A message with an attachment whose verify succeeded and whose next step failed
    transiently (so its verify checkpoint is kept), then buried: its inbox row and attachment key."""
    part = gw.blobs.put(b"%PDF-1.7 a scanned certificate of the applicant")
    message = dataclasses.replace(portal_message(attachments=[{
        "id": "nachweis", "filename": "nachweis.pdf", "media_type": "application/pdf", "sha512": part[7:]}]),
        parts=(part,))
    received = gw.pipeline.receive(message)

    def unreachable(*_: object) -> NoReturn:
        raise UpstreamUnavailable("the mapping's code list service does not answer")

    with monkeypatch.context() as patch:
        patch.setattr(gw.pipeline, "_route_and_map", unreachable)
        assert gw.pipeline.process(received.inbox_id).state == "retry"
    gw.pipeline.bury(received.inbox_id, "delivery cap reached")
    return entry(gw, received.inbox_id, "dead"), part


def entry(gw: Gateway, inbox_id: str, state: str) -> InboxRow:
    with gw.db.reading() as conn:
        row = inbox_repo.get(conn, inbox_id)
    assert row is not None and row.state == state, row
    return row


def checkpoint_of(gw: Gateway, inbox_id: str) -> dict[str, Any] | None:
    with gw.db.reading() as conn:
        found: dict[str, Any] | None = inbox_repo.load_step(conn, inbox_id, "verify")
    return found


def audited(gw: Gateway, inbox_id: str, action: str) -> list[dict[str, Any]]:
    with gw.db.reading() as conn:
        return [dict(r) for r in conn.execute(select(tables.audit.c.actor, tables.audit.c.details)
                                              .where(tables.audit.c.inbox_id == inbox_id,
                                                     tables.audit.c.action == action)
                                              .order_by(tables.audit.c.seq)).mappings()]


def admin_api(gw: Gateway) -> tuple[TestClient, dict[str, str]]:
    api = TestClient(create_app(gw))
    token = api.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "admin",
                                           "client_secret": SECRETS["admin"]})
    assert token.status_code == 200, token.text
    return api, {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_a_discarded_message_loses_its_original_after_discarded_days(
        make_gateway: Callable[..., Gateway], clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    gw = make_gateway(raw_original_days=None, discarded_days=30, quarantine_days=None)
    row = quarantine(gw)
    clock.now += 10 * DAY  # the admin decides ten days later: the period runs from the discard
    assert gw.pipeline.discard(row.id, "console:leitung", "test")
    case = intake(gw, "Erika")  # a message taken in: untouched by this rule
    age_blobs(gw, 2 * gw.settings.blob_gc_grace_seconds)
    clock.now += 29 * DAY
    assert retention(gw, clock).run().messages == 0
    assert gw.blobs.exists(row.raw_key)
    clock.now += 2 * DAY
    done = retention(gw, clock).run()
    assert (done.messages, done.originals, done.cases) == (1, 0, 0)
    assert not gw.blobs.exists(row.raw_key)
    assert gw.blobs.exists(case.original.storage_key)
    kept = entry(gw, row.id, "discarded")  # the row stays, with its ids, times and reason
    assert kept.original_purged_at == clock.now and kept.purged
    assert (kept.source_id, kept.received_at, kept.raw_sha512) == (row.source_id, row.received_at, row.raw_sha512)
    assert kept.last_error is not None and kept.last_error["type"].endswith("/unknown-service")
    assert audited(gw, row.id, "message.purged") == [{"actor": "retention", "details": {
        "state": "discarded", "retention_days": 30, "checkpoints": 0, "rejections_given_up": 0}}]
    assert retention(gw, clock).run().messages == 0  # once
    assert len(audited(gw, row.id, "message.purged")) == 1
    assert_audit_chains_intact(gw, monkeypatch)


def test_quarantined_and_dead_messages_go_after_quarantine_days_in_their_state(
        make_gateway: Callable[..., Gateway], clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    gw = make_gateway(raw_original_days=None, discarded_days=1, quarantine_days=90)
    quarantined = quarantine(gw)
    clock.now += 5 * DAY
    dead, attachment = dead_letter(gw, monkeypatch)
    checkpoint = checkpoint_of(gw, dead.id)
    assert checkpoint is not None and checkpoint["data_key"] and checkpoint["attachments"]
    still_open = gw.pipeline.receive(portal_message())  # waits for the worker: never purged
    age_blobs(gw, 2 * gw.settings.blob_gc_grace_seconds)
    clock.now += 84 * DAY  # 89 days in quarantine, 84 dead
    assert retention(gw, clock).run().messages == 0
    assert all(gw.blobs.exists(key) for key in (quarantined.raw_key, dead.raw_key, attachment))
    clock.now += 2 * DAY  # 91 days in quarantine, 86 dead
    assert retention(gw, clock).run().messages == 1
    assert not gw.blobs.exists(quarantined.raw_key) and gw.blobs.exists(dead.raw_key)
    assert entry(gw, quarantined.id, "quarantined").purged and not entry(gw, dead.id, "dead").purged
    clock.now += 5 * DAY  # 91 days dead
    done = retention(gw, clock).run()
    assert done.messages == 1 and done.blobs_deleted >= 2  # the attachment and the checkpoint's data
    for key in (dead.raw_key, attachment, checkpoint["data_key"]):
        assert not gw.blobs.exists(key), key
    assert checkpoint_of(gw, dead.id) is None  # the sealed metadata (account, reply channel) is gone
    kept = entry(gw, dead.id, "dead")
    assert kept.purged and not kept.replayable and kept.last_error == dead.last_error and kept.attempts == 1
    assert audited(gw, dead.id, "message.purged") == [{"actor": "retention", "details": {
        "state": "dead", "retention_days": 90, "checkpoints": 1, "rejections_given_up": 0}}]
    assert audited(gw, quarantined.id, "message.purged")[0]["details"]["state"] == "quarantined"
    assert entry(gw, still_open.inbox_id, "received").original_purged_at is None
    assert gw.blobs.exists(entry(gw, still_open.inbox_id, "received").raw_key)
    assert_audit_chains_intact(gw, monkeypatch)


def test_a_purged_message_is_shown_as_purged_and_its_replay_is_refused(
        make_gateway: Callable[..., Gateway], clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    gw = make_gateway(quarantine_days=90)
    purged, kept = quarantine(gw), None
    clock.now += 60 * DAY
    kept = quarantine(gw)
    age_blobs(gw, 2 * gw.settings.blob_gc_grace_seconds)
    clock.now += 31 * DAY
    assert retention(gw, clock).run().messages == 1
    api, admin = admin_api(gw)
    listed = {e["id"]: e for e in api.get("/v1/admin/inbox", headers=admin).json()}
    assert listed[purged.id]["state"] == "quarantined" and listed[purged.id]["replayable"] is False
    assert listed[purged.id]["original_purged_at"] is not None
    assert listed[kept.id]["replayable"] is True and listed[kept.id]["original_purged_at"] is None
    refused = api.post(f"/v1/admin/inbox/{purged.id}/replay", headers=admin)
    assert refused.status_code == 410, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/original-purged") and "cannot be replayed" in refused.json()["detail"]
    with pytest.raises(OriginalPurged):
        gw.pipeline.replay(purged.id, "cli")
    assert entry(gw, purged.id, "quarantined").purged  # nothing changed, nothing queued
    assert audited(gw, purged.id, "replayed") == []
    settings = gw.settings
    gw.close()
    use_in_cli(monkeypatch, settings)
    runner = CliRunner()
    replayed = runner.invoke(cli, ["replay", "inbox", purged.id])
    assert replayed.exit_code == 1 and "not replayable" in replayed.output and "Traceback" not in replayed.output
    listing = runner.invoke(cli, ["replay", "list"])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert next(line for line in lines if purged.id in line).endswith("(original purged: not replayable)")
    assert "not replayable" not in next(line for line in lines if kept.id in line)
    # a purged message can still be discarded, and is not purged (or audited) twice then
    gw = make_gateway(quarantine_days=90)
    assert gw.pipeline.discard(purged.id, "cli", "test")
    clock.now += 60 * DAY
    assert retention(gw, clock).run().messages == 1  # the other one only
    assert len(audited(gw, purged.id, "message.purged")) == 1


class RefusingPullChannel:
    """A pull channel (it reports back to its source) that refuses every message; its source
    takes rejections only while ``reachable``."""

    name = "testpull"

    def __init__(self) -> None:
        self.reachable = False
        self.rejected: list[str] = []

    def verify(self, message: InboundMessage) -> NoReturn:
        raise InvalidPayload("the sender's format is not configured")

    def acknowledge(self, message: InboundMessage, case: CommittedCase) -> NoReturn:
        raise AssertionError("nothing is taken in")

    def reject(self, message: InboundMessage, problem: Problem) -> None:
        if not self.reachable:
            raise UpstreamUnavailable("the source does not answer")
        self.rejected.append(message.source_id)


def test_a_rejection_still_owed_holds_the_purge_and_one_that_failed_is_given_up(
        make_gateway: Callable[..., Gateway], clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    gw = make_gateway(quarantine_days=90)
    channel = RefusingPullChannel()
    gw.adapters.channels.register(channel.name, channel)
    rows = []
    for _ in range(2):
        received = gw.pipeline.receive(dataclasses.replace(portal_message(), channel=channel.name))
        gw.worker.run_until_idle()
        rows.append(entry(gw, received.inbox_id, "quarantined"))
    answered, unanswered = rows
    with gw.db.reading() as conn:
        rejects = {row.inbox_id: row for row in outbox_repo.list_state(conn, "pending", kinds=["reject"])}
    assert set(rejects) == {answered.id, unanswered.id}
    age_blobs(gw, 2 * gw.settings.blob_gc_grace_seconds)
    clock.now += 91 * DAY
    assert retention(gw, clock).run().messages == 0  # the rejections are built from the originals
    with gw.db.transaction() as uow:  # the one's retries ran out
        uow.conn.execute(update(tables.outbox).where(tables.outbox.c.id == rejects[unanswered.id].id)
                         .values(state="dead", last_error="UpstreamUnavailable"))
    channel.reachable = True
    gw.dispatcher.run_due()
    assert channel.rejected == [answered.source_id]
    done = retention(gw, clock).run()
    assert done.messages == 2
    assert not gw.blobs.exists(answered.raw_key) and not gw.blobs.exists(unanswered.raw_key)
    with gw.db.transaction() as uow:
        given_up = outbox_repo.get(uow.conn, rejects[unanswered.id].id)
        assert given_up is not None and given_up.state == "discarded"  # out of the dead deliveries' list
        assert not outbox_repo.revive(uow.conn, given_up.id, clock.now)
    assert [a["details"]["rejections_given_up"] for a in audited(gw, unanswered.id, "message.purged")] == [1]
    assert [a["details"]["rejections_given_up"] for a in audited(gw, answered.id, "message.purged")] == [0]
    assert_audit_chains_intact(gw, monkeypatch)


def test_a_crash_between_purge_and_blob_deletion_is_finished_later(
        make_gateway: Callable[..., Gateway], clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    gw = make_gateway(discarded_days=30)
    rows = [quarantine(gw), quarantine(gw)]
    for row in rows:
        assert gw.pipeline.discard(row.id, "cli", "duplikat")
    age_blobs(gw, 2 * gw.settings.blob_gc_grace_seconds)
    clock.now += 31 * DAY

    def crash(key: str, seconds: float) -> bool:
        raise SystemExit("killed after the first purge's commit")

    with monkeypatch.context() as patch:
        patch.setattr(gw.blobs, "delete_if_older", crash)
        with pytest.raises(SystemExit):
            retention(gw, clock).run()
    first = next(row for row in rows if entry(gw, row.id, "discarded").purged)
    second = next(row for row in rows if row is not first)
    assert gw.blobs.exists(first.raw_key) and not entry(gw, second.id, "discarded").purged
    done = retention(gw, clock).run()
    assert done.messages == 1  # the other one; the first is neither purged nor audited twice
    assert not gw.blobs.exists(first.raw_key) and not gw.blobs.exists(second.raw_key)
    assert [len(audited(gw, row.id, "message.purged")) for row in rows] == [1, 1]
    assert retention(gw, clock).run().messages == 0
    assert_audit_chains_intact(gw, monkeypatch)
