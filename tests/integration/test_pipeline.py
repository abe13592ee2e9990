"""The intake pipeline on real stores, both profiles."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any

import pytest
from sqlalchemy import event, func, select

from gateway.errors import IdempotencyKeyReused, PermanentError, TransientError, UpstreamUnavailable
from gateway.ports import CommittedCase, InboundMessage, VerifiedSubmission
from gateway.runtime import Gateway
from gateway.store.tables import audit, cases, events, outbox, step_results
from tests.integration.conftest import portal_message


def count(gw: Gateway, table: Any) -> int:
    with gw.db.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


class PullChannel:
    """A pull channel stand-in that wraps the portal's verification and records calls."""

    name = "testpull"

    def __init__(self, gw: Gateway) -> None:
        self.inner = gw.adapters.channels.get("portal")
        self.verify_calls = 0
        self.fail_transient = 0
        self.acks: list[str] = []
        self.rejects: list[str] = []
        self.ack_failures = 0

    def verify(self, message: InboundMessage) -> VerifiedSubmission:
        self.verify_calls += 1
        if self.fail_transient > 0:
            self.fail_transient -= 1
            raise UpstreamUnavailable("upstream down")
        return self.inner.verify(message)

    def acknowledge(self, message: InboundMessage, case: CommittedCase) -> None:
        if self.ack_failures > 0:
            self.ack_failures -= 1
            raise UpstreamUnavailable("ack endpoint down")
        self.acks.append(message.source_id)

    def reject(self, message: InboundMessage, error: PermanentError) -> None:
        self.rejects.append(f"{message.source_id}:{error.slug}")


def pull_message(source_id: str, **overrides: Any) -> InboundMessage:
    message = portal_message(source_id, **overrides)
    return InboundMessage(channel="testpull", source_id=source_id, payload=message.payload,
                          media_type=message.media_type, received_at=message.received_at, tenant_ars=message.tenant_ars)


@pytest.fixture
def pull(gw: Gateway) -> PullChannel:
    channel = PullChannel(gw)
    gw.adapters.channels.register("testpull", channel)
    return channel


def test_inline_intake_commits_case_with_reference_and_event(gw: Gateway) -> None:
    outcome = gw.submit_now(portal_message("req-1"))
    assert outcome.state == "committed" and outcome.case is not None
    case = outcome.case
    assert case.reference == f"TGH-{dt.datetime.now(dt.UTC).year}-000001"
    assert case.service.mapping_id == "portal.test-hund" and case.service.mapping_version == 3
    assert case.routing_queue == "steueramt"
    assert case.applicant.party.kind == "natural_person"
    assert [f.key for f in case.form] == ["hund_name", "wurfdatum", "gefaehrlich"]
    raw = gw.blobs.get(case.original.storage_key)
    assert hashlib.sha512(raw).hexdigest() == case.original.sha512 and b'"test-hund"' in raw
    assert count(gw, events) == 1
    assert count(gw, outbox) == 0  # the portal's acknowledgement is the HTTP response


def test_repeated_source_message_returns_the_existing_case(gw: Gateway) -> None:
    first = gw.submit_now(portal_message("req-dup"))
    again = gw.submit_now(portal_message("req-dup"))
    assert again.duplicate and again.case is not None and first.case is not None
    assert again.case.id == first.case.id
    assert count(gw, cases) == 1


def test_reference_numbers_are_sequential_per_tenant(gw: Gateway) -> None:
    refs = [gw.submit_now(portal_message()).case.reference for _ in range(3)]  # type: ignore[union-attr]
    other = gw.submit_now(portal_message(tenant="150855500000")).case
    assert [r[-6:] for r in refs] == ["000001", "000002", "000003"]
    assert other is not None and other.reference.startswith("ZWG-") and other.reference.endswith("000001")


def test_pull_channel_case_is_acknowledged_only_after_commit(gw: Gateway, pull: PullChannel) -> None:
    received = gw.submit(pull_message("m-1"))
    assert not received.duplicate
    assert pull.acks == []
    gw.work_until_idle()
    entry = gw.inbox_entry("testpull", "m-1")
    assert entry is not None and entry["state"] == "acknowledged"
    assert pull.acks == ["m-1"]
    assert gw.case_by_source("testpull", "m-1") is not None


def test_failed_acknowledgement_is_retried_and_sent_once(gw: Gateway, pull: PullChannel) -> None:
    pull.ack_failures = 2
    gw.submit(pull_message("m-ack"))
    for _ in range(40):
        gw.work_once()
        if pull.acks:
            break
        time.sleep(0.03)
    gw.work_until_idle()
    assert pull.acks == ["m-ack"]
    assert count(gw, cases) == 1


def test_a_transient_failure_after_verify_keeps_the_checkpoint(gw: Gateway, pull: PullChannel,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    received = gw.submit(pull_message("m-cp"))
    route_and_map = gw.pipeline._route_and_map

    def mapping_store_down(*args: Any) -> Any:
        monkeypatch.setattr(gw.pipeline, "_route_and_map", route_and_map)
        raise UpstreamUnavailable("registry down")

    monkeypatch.setattr(gw.pipeline, "_route_and_map", mapping_store_down)
    assert gw.pipeline.process(received.inbox_id).state == "retry"
    assert pull.verify_calls == 1
    with gw.db.reading() as conn:
        checkpoint = conn.execute(select(step_results.c.result)
                                  .where(step_results.c.inbox_id == received.inbox_id)).scalar_one()
    assert gw.blobs.get(checkpoint["data_key"])  # the decrypted/verified data, kept for the retry
    assert gw.pipeline.process(received.inbox_id).state == "committed"
    assert pull.verify_calls == 1  # the retry started from the checkpoint
    assert gw.case_by_source("testpull", "m-cp") is not None


def test_the_usual_way_through_writes_no_checkpoint(gw: Gateway, pull: PullChannel) -> None:
    received = gw.submit(pull_message("m-direct"))
    assert gw.pipeline.process(received.inbox_id).state == "committed"
    assert count(gw, step_results) == 0 and pull.verify_calls == 1


def test_a_crash_between_verify_and_commit_verifies_again_and_commits_once(gw: Gateway, pull: PullChannel,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    received = gw.submit(pull_message("m-crash"))

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit("SIGKILL stand-in")  # not an Exception: nothing is recorded, as after a kill

    monkeypatch.setattr("gateway.intake.records.write_case", killed)
    with pytest.raises(SystemExit):
        gw.pipeline.process(received.inbox_id)
    monkeypatch.undo()
    entry = gw.inbox_entry("testpull", "m-crash")
    assert entry is not None and entry["state"] == "received" and entry["case_id"] is None  # rolled back
    assert gw.pipeline.process(received.inbox_id).state == "committed"
    assert pull.verify_calls == 2 and count(gw, cases) == 1


def test_permanent_failure_is_quarantined_rejected_and_replayable(gw: Gateway, pull: PullChannel) -> None:
    gw.submit(pull_message("m-bad", service="99999999999999"))
    gw.work_until_idle()
    entry = gw.inbox_entry("testpull", "m-bad")
    assert entry is not None and entry["state"] == "quarantined"
    assert entry["last_error"]["type"].endswith("/unknown-service")
    assert pull.rejects == ["m-bad:unknown-service"]
    assert count(gw, cases) == 0
    with gw.db.reading() as conn:
        actions = conn.execute(select(audit.c.action).where(audit.c.inbox_id == entry["id"])).scalars().all()
    assert "quarantined" in actions
    assert gw.pipeline.replay(entry["id"], "test")
    gw.work_until_idle()
    assert gw.inbox_entry("testpull", "m-bad")["state"] == "quarantined"  # type: ignore[index]
    assert not gw.pipeline.replay("no-such-id", "test")


def test_transient_failures_retry_with_backoff_then_succeed(gw: Gateway, pull: PullChannel) -> None:
    pull.fail_transient = 2
    gw.submit(pull_message("m-flaky"))
    deadline = time.monotonic() + 10
    while gw.case_by_source("testpull", "m-flaky") is None and time.monotonic() < deadline:
        gw.work_once()
        time.sleep(0.02)
    assert gw.case_by_source("testpull", "m-flaky") is not None
    assert pull.verify_calls == 3


def test_repeated_transient_failure_ends_in_dead_letters(gw: Gateway, pull: PullChannel) -> None:
    pull.fail_transient = 10_000
    gw.submit(pull_message("m-dead"))
    deadline = time.monotonic() + 15
    while gw.inbox_entry("testpull", "m-dead")["state"] != "dead" and time.monotonic() < deadline:  # type: ignore[index]
        gw.work_once()
        time.sleep(0.02)
    entry = gw.inbox_entry("testpull", "m-dead")
    assert entry is not None and entry["state"] == "dead"
    assert entry["attempts"] == gw.settings.intake_max_attempts
    assert count(gw, cases) == 0
    pull.fail_transient = 0
    assert gw.pipeline.replay(entry["id"], "test")
    gw.work_until_idle()
    assert gw.case_by_source("testpull", "m-dead") is not None


def test_envelope_not_matching_mapping_names_field_not_value(gw: Gateway) -> None:
    outcome = gw.submit_now(portal_message(data={"halter": {"vorname": "Erika", "nachname": "Geheim"},
                                                 "hund": {"name": "Rex", "wurfdatum": "31.02.2025"}}))
    assert outcome.state == "refused" and outcome.error is not None  # a synchronous channel keeps nothing
    assert "wurfdatum" in str(outcome.error["detail"])
    assert "31.02.2025" not in str(outcome.error) and "Geheim" not in str(outcome.error)


def test_unknown_channel_message_is_retried_not_lost(gw: Gateway) -> None:
    message = InboundMessage(channel="nochannel", source_id="x", payload=b"{}", media_type="application/json",
                             received_at=dt.datetime.now(dt.UTC))
    received = gw.submit(message)
    gw.work_once()
    assert gw.pipeline.outcome(received.inbox_id).state in ("retry", "dead")


def test_the_acknowledgement_leaves_right_after_the_commit(gw: Gateway, pull: PullChannel) -> None:
    received = gw.submit(pull_message("m-now"))
    assert gw.pipeline.process(received.inbox_id).state == "committed"
    assert pull.acks == ["m-now"]  # no dispatcher round needed
    assert gw.inbox_entry("testpull", "m-now")["state"] == "acknowledged"  # type: ignore[index]
    assert gw.dispatcher.run_due() == 0


def test_a_crash_before_the_direct_acknowledgement_leaves_it_to_the_dispatcher(
        profile_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [dt.datetime.now(dt.UTC)]
    gw = Gateway.create(profile_settings, clock=lambda: now[0])
    try:
        pull = PullChannel(gw)
        gw.adapters.channels.register("testpull", pull)
        received = gw.submit(pull_message("m-died"))

        def killed(*args: Any) -> None:
            raise SystemExit("SIGKILL stand-in")

        gw.pipeline.deliver_now = killed
        with pytest.raises(SystemExit):
            gw.pipeline.process(received.inbox_id)
        assert gw.inbox_entry("testpull", "m-died")["state"] == "committed"  # type: ignore[index]
        assert gw.dispatcher.run_due() == 0 and pull.acks == []  # still claimed by the dead worker
        now[0] += dt.timedelta(seconds=gw.settings.delivery_lease_seconds + 1)
        assert gw.dispatcher.run_due() == 1 and pull.acks == ["m-died"]
        assert gw.dispatcher.run_due() == 0 and pull.acks == ["m-died"]
    finally:
        gw.close()


def test_the_job_ends_in_the_transaction_that_records_its_result(gw: Gateway, pull: PullChannel) -> None:
    gw.submit(pull_message("m-job"))
    writes: list[str] = []

    def count_writes(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):  # SQLite: every write transaction starts so
            writes.append(statement)

    event.listen(gw.db.engine, "before_cursor_execute", count_writes)
    assert gw.run_jobs() == 1
    event.remove(gw.db.engine, "before_cursor_execute", count_writes)
    assert gw.case_by_source("testpull", "m-job") is not None
    assert gw.queue.reserve(gw.worker_id, 16, 0)[0] == []  # nothing left to run
    if gw.settings.profile == "embedded":
        # claim the job; commit the case and end the job; record the direct acknowledgement
        assert len(writes) == 3, writes


def test_a_job_whose_commit_fails_is_not_acknowledged(profile_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gw = Gateway.create(profile_settings.model_copy(update={"job_lease_seconds": 0.3}))
    try:
        pull = PullChannel(gw)
        gw.adapters.channels.register("testpull", pull)
        gw.submit(pull_message("m-rollback"))

        def killed(*args: Any, **kwargs: Any) -> Any:
            raise SystemExit("SIGKILL stand-in")

        monkeypatch.setattr("gateway.intake.records.write_case", killed)
        with pytest.raises(SystemExit):
            gw.run_jobs()
        monkeypatch.undo()
        assert gw.case_by_source("testpull", "m-rollback") is None
        time.sleep(0.4)  # the dead worker's lease runs out: the job comes back
        gw.work_until_idle()
        assert gw.case_by_source("testpull", "m-rollback") is not None and pull.acks == ["m-rollback"]
    finally:
        gw.close()


def test_take_processes_a_fetched_message_at_once(gw: Gateway, pull: PullChannel) -> None:
    outcome = gw.take(pull_message("m-take"))
    assert outcome.state == "committed" and outcome.case is not None and not outcome.duplicate
    assert pull.acks == ["m-take"] and pull.verify_calls == 1
    assert gw.queue.reserve(gw.worker_id, 16, 0) == ([], [])  # no job was ever queued
    again = gw.take(pull_message("m-take"))  # fetched once more before the upstream saw the accept
    assert again.duplicate and again.case is not None and again.case.id == outcome.case.id
    assert pull.acks == ["m-take"] and count(gw, cases) == 1  # recognised at the commit: no second ack


def test_take_interrupted_before_the_commit_leaves_the_message_to_its_source(
        gw: Gateway, pull: PullChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    def killed(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit("SIGKILL stand-in")

    monkeypatch.setattr("gateway.intake.records.write_case", killed)
    with pytest.raises(SystemExit):
        gw.take(pull_message("m-take-crash"))
    monkeypatch.undo()
    # nothing half-done: no inbox entry, no case, nothing acknowledged — the source still holds
    # the message and hands it over again (the next poll, or after a restart)
    assert gw.inbox_entry("testpull", "m-take-crash") is None and count(gw, cases) == 0 and pull.acks == []
    assert gw.work_until_idle() == 0
    outcome = gw.take(pull_message("m-take-crash"))
    assert outcome.state == "committed" and not outcome.duplicate
    assert pull.verify_calls == 2 and pull.acks == ["m-take-crash"] and count(gw, cases) == 1


def test_take_records_a_transient_failure_and_a_later_fetch_finishes_it(profile_settings: Any) -> None:
    gw = Gateway.create(profile_settings.model_copy(update={"backoff_base_seconds": 0.05,
                                                            "backoff_max_seconds": 0.1}))
    try:
        pull = PullChannel(gw)
        gw.adapters.channels.register("testpull", pull)
        pull.fail_transient = 1
        outcome = gw.take(pull_message("m-take-retry"))
        assert outcome.state == "retry" and pull.acks == []
        # fetched again (the next poll, or a second worker) and verified this time: it finishes
        # the recorded entry instead of being dropped as a duplicate
        again = gw.take(pull_message("m-take-retry"))
        assert again.state == "committed" and not again.duplicate and again.inbox_id == outcome.inbox_id
        assert pull.acks == ["m-take-retry"] and count(gw, cases) == 1
        time.sleep(0.15)
        gw.work_until_idle()  # the sweep's job finds the entry finished
        assert pull.acks == ["m-take-retry"] and count(gw, cases) == 1
        assert gw.inbox_entry("testpull", "m-take-retry")["state"] == "acknowledged"  # type: ignore[index]
    finally:
        gw.close()


def test_a_transient_failure_after_verify_keeps_the_verified_result(profile_settings: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    gw = Gateway.create(profile_settings.model_copy(update={"backoff_base_seconds": 0.05,
                                                            "backoff_max_seconds": 0.1}))
    try:
        pull = PullChannel(gw)
        gw.adapters.channels.register("testpull", pull)
        route_and_map = gw.pipeline._route_and_map

        def catalog_unreachable(*args: Any) -> Any:
            raise TransientError("catalog service unreachable")

        monkeypatch.setattr(gw.pipeline, "_route_and_map", catalog_unreachable)
        assert gw.take(pull_message("m-after-verify")).state == "retry"
        monkeypatch.setattr(gw.pipeline, "_route_and_map", route_and_map)
        time.sleep(0.15)
        gw.work_until_idle()
        assert gw.case_by_source("testpull", "m-after-verify") is not None
        assert pull.verify_calls == 1 and pull.acks == ["m-after-verify"]  # the retry did not verify again
    finally:
        gw.close()


def test_an_idempotency_key_reused_for_another_body_never_takes_over_the_open_entry(
        gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def keyed(name: str) -> InboundMessage:
        message = portal_message(data={"halter": {"vorname": "Erika", "nachname": "Mustermann",
                                                  "geburtsdatum": "12.08.1964"},
                                       "hund": {"name": name, "wurfdatum": "2025-03-01", "gefaehrlich": False}})
        return InboundMessage(**{**message.__dict__, "client_id": "portal-a", "idempotency_key": "key-1"})

    route_and_map = gw.pipeline._route_and_map
    monkeypatch.setattr(gw.pipeline, "_route_and_map",
                        lambda *a: (_ for _ in ()).throw(TransientError("catalog service unreachable")))
    assert gw.submit_now(keyed("Rex"), fingerprint="body-rex").state == "retry"
    monkeypatch.setattr(gw.pipeline, "_route_and_map", route_and_map)
    with pytest.raises(IdempotencyKeyReused):
        gw.submit_now(keyed("Bello"), fingerprint="body-bello")
    assert count(gw, cases) == 0
    retried = gw.submit_now(keyed("Rex"), fingerprint="body-rex")  # the client's retry of the same request
    assert retried.state == "committed" and retried.case is not None and count(gw, cases) == 1
    assert [f.value for f in retried.case.form if f.key == "hund_name"] == ["Rex"]


def test_take_quarantines_a_permanent_failure_and_rejects_at_once(gw: Gateway, pull: PullChannel) -> None:
    outcome = gw.take(pull_message("m-take-bad", service="99999999999999"))
    assert outcome.state == "quarantined"
    assert pull.rejects == ["m-take-bad:unknown-service"]  # sent right after the commit, not by a later round
    entry = gw.inbox_entry("testpull", "m-take-bad")
    assert entry is not None and entry["state"] == "quarantined" and gw.dispatcher.run_due() == 0


def test_a_poll_takes_each_message_in_the_polling_worker(gw: Gateway, pull: PullChannel) -> None:
    class Source:
        name = "testpull"

        def poll(self) -> list[InboundMessage]:
            return [pull_message("m-poll-1"), pull_message("m-poll-2")]

    gw.adapters.sources.register("testpull", Source())
    assert gw.poll_sources(force=True) == 2
    assert pull.acks == ["m-poll-1", "m-poll-2"]  # processed and acknowledged within the poll
    assert gw.poll_sources(force=True) == 0  # fetched again: duplicates, recognised at the commit
    assert pull.acks == ["m-poll-1", "m-poll-2"] and count(gw, cases) == 2


def test_a_delivery_whose_claim_ran_out_cannot_undo_the_takeover(profile_settings: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    now = [dt.datetime.now(dt.UTC)]
    gw = Gateway.create(profile_settings, clock=lambda: now[0])
    try:
        pull = PullChannel(gw)
        gw.adapters.channels.register("testpull", pull)
        stalled: list[dict[str, Any]] = []
        gw.pipeline.deliver_now = lambda row, message, case: stalled.append(row)  # worker A hangs upstream
        gw.pipeline.process(gw.submit(pull_message("m-slow")).inbox_id)
        [claimed_by_a] = stalled
        now[0] += dt.timedelta(seconds=gw.settings.delivery_lease_seconds + 1)
        assert gw.dispatcher.run_due() == 1 and pull.acks == ["m-slow"]  # worker B takes over and delivers

        def already_accepted(message: InboundMessage, case: Any) -> None:
            raise PermanentError("the upstream has this acknowledgement already")

        monkeypatch.setattr(pull, "acknowledge", already_accepted)
        gw.dispatcher.deliver_claimed(claimed_by_a)  # A wakes up, its call fails permanently
        monkeypatch.undo()
        gw.dispatcher.deliver_claimed(claimed_by_a)  # ... or succeeds late
        with gw.db.reading() as conn:
            state, attempts = conn.execute(select(outbox.c.state, outbox.c.attempts)
                                           .where(outbox.c.id == claimed_by_a["id"])).one()
            dead = conn.execute(select(func.count()).select_from(audit)
                                .where(audit.c.action == "delivery.dead")).scalar_one()
        assert (state, attempts, dead) == ("done", 2, 0)  # B's result stands
        assert gw.inbox_entry("testpull", "m-slow")["state"] == "acknowledged"  # type: ignore[index]
    finally:
        gw.close()


def test_a_failing_direct_delivery_does_not_break_the_intake(gw: Gateway, pull: PullChannel,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def database_gone(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database connection lost")

    monkeypatch.setattr(gw.dispatcher, "_deliver", database_gone)
    outcome = gw.take(pull_message("m-hook"))
    assert outcome.state == "committed"  # the case stands; the claimed row waits for the dispatcher
    assert gw.dispatcher.run_due() == 0  # still claimed
