"""The intake pipeline on real stores, both profiles."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select

from gateway.bootstrap import Gateway
from gateway.errors import IdempotencyKeyReused, PermanentError, Problem, TransientError, UpstreamUnavailable
from gateway.ports import CommittedCase, InboundMessage, VerifiedSubmission
from gateway.store import tables
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

    def reject(self, message: InboundMessage, problem: Problem) -> None:
        self.rejects.append(f"{message.source_id}:{problem.type.rsplit('/', 1)[-1]}")


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
    outcome = gw.pipeline.intake(portal_message("req-1"))
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
    first = gw.pipeline.intake(portal_message("req-dup"))
    again = gw.pipeline.intake(portal_message("req-dup"))
    assert again.duplicate and again.case is not None and first.case is not None
    assert again.case.id == first.case.id
    assert count(gw, cases) == 1


def test_reference_numbers_are_sequential_per_tenant(gw: Gateway) -> None:
    refs = [gw.pipeline.intake(portal_message()).case.reference for _ in range(3)]  # type: ignore[union-attr]
    other = gw.pipeline.intake(portal_message(tenant="150855500000")).case
    assert [r[-6:] for r in refs] == ["000001", "000002", "000003"]
    assert other is not None and other.reference.startswith("ZWG-") and other.reference.endswith("000001")


def test_pull_channel_case_is_acknowledged_only_after_commit(gw: Gateway, pull: PullChannel) -> None:
    received = gw.pipeline.receive(pull_message("m-1"))
    assert not received.duplicate
    assert pull.acks == []
    gw.worker.run_until_idle()
    entry = gw.queries.inbox_entry("testpull", "m-1")
    assert entry is not None and entry.state == "acknowledged"
    assert pull.acks == ["m-1"]
    assert gw.queries.case_by_source("testpull", "m-1") is not None


def test_failed_acknowledgement_is_retried_and_sent_once(gw: Gateway, pull: PullChannel) -> None:
    pull.ack_failures = 2
    gw.pipeline.receive(pull_message("m-ack"))
    for _ in range(40):
        gw.worker.run_once()
        if pull.acks:
            break
        time.sleep(0.03)
    gw.worker.run_until_idle()
    assert pull.acks == ["m-ack"]
    assert count(gw, cases) == 1


def test_a_transient_failure_after_verify_keeps_the_checkpoint(gw: Gateway, pull: PullChannel,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    received = gw.pipeline.receive(pull_message("m-cp"))
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
    assert gw.queries.case_by_source("testpull", "m-cp") is not None


def test_the_usual_way_through_writes_no_checkpoint(gw: Gateway, pull: PullChannel) -> None:
    received = gw.pipeline.receive(pull_message("m-direct"))
    assert gw.pipeline.process(received.inbox_id).state == "committed"
    assert count(gw, step_results) == 0 and pull.verify_calls == 1


def test_a_crash_between_verify_and_commit_verifies_again_and_commits_once(gw: Gateway, pull: PullChannel,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    received = gw.pipeline.receive(pull_message("m-crash"))

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit("SIGKILL stand-in")  # not an Exception: nothing is recorded, as after a kill

    monkeypatch.setattr("gateway.intake.records.write_case", killed)
    with pytest.raises(SystemExit):
        gw.pipeline.process(received.inbox_id)
    monkeypatch.undo()
    entry = gw.queries.inbox_entry("testpull", "m-crash")
    assert entry is not None and entry.state == "received" and entry.case_id is None  # rolled back
    assert gw.pipeline.process(received.inbox_id).state == "committed"
    assert pull.verify_calls == 2 and count(gw, cases) == 1


def test_permanent_failure_is_quarantined_rejected_and_replayable(gw: Gateway, pull: PullChannel) -> None:
    gw.pipeline.receive(pull_message("m-bad", service="99999999999999"))
    gw.worker.run_until_idle()
    entry = gw.queries.inbox_entry("testpull", "m-bad")
    assert entry is not None and entry.state == "quarantined"
    assert entry.last_error["type"].endswith("/unknown-service")
    assert pull.rejects == ["m-bad:unknown-service"]
    assert count(gw, cases) == 0
    with gw.db.reading() as conn:
        actions = conn.execute(select(audit.c.action).where(audit.c.inbox_id == entry.id)).scalars().all()
    assert "quarantined" in actions
    assert gw.pipeline.replay(entry.id, "test")
    gw.worker.run_until_idle()
    assert gw.queries.inbox_entry("testpull", "m-bad").state == "quarantined"  # type: ignore[union-attr]
    assert not gw.pipeline.replay("no-such-id", "test")


def test_transient_failures_retry_with_backoff_then_succeed(gw: Gateway, pull: PullChannel) -> None:
    pull.fail_transient = 2
    gw.pipeline.receive(pull_message("m-flaky"))
    deadline = time.monotonic() + 10
    while gw.queries.case_by_source("testpull", "m-flaky") is None and time.monotonic() < deadline:
        gw.worker.run_once()
        time.sleep(0.02)
    assert gw.queries.case_by_source("testpull", "m-flaky") is not None
    assert pull.verify_calls == 3


def test_repeated_transient_failure_ends_in_dead_letters(gw: Gateway, pull: PullChannel) -> None:
    pull.fail_transient = 10_000
    gw.pipeline.receive(pull_message("m-dead"))
    deadline = time.monotonic() + 15
    while gw.queries.inbox_entry("testpull", "m-dead").state != "dead" and time.monotonic() < deadline:  # type: ignore[union-attr]
        gw.worker.run_once()
        time.sleep(0.02)
    entry = gw.queries.inbox_entry("testpull", "m-dead")
    assert entry is not None and entry.state == "dead"
    assert entry.attempts == gw.settings.intake_max_attempts
    assert count(gw, cases) == 0
    pull.fail_transient = 0
    assert gw.pipeline.replay(entry.id, "test")
    gw.worker.run_until_idle()
    assert gw.queries.case_by_source("testpull", "m-dead") is not None


def test_envelope_not_matching_mapping_names_field_not_value(gw: Gateway) -> None:
    outcome = gw.pipeline.intake(portal_message(data={"halter": {"vorname": "Erika", "nachname": "Geheim"},
                                                 "hund": {"name": "Rex", "wurfdatum": "31.02.2025"}}))
    assert outcome.state == "refused" and outcome.error is not None  # a synchronous channel keeps nothing
    assert "wurfdatum" in str(outcome.error["detail"])
    assert "31.02.2025" not in str(outcome.error) and "Geheim" not in str(outcome.error)


def test_unknown_channel_message_is_retried_not_lost(gw: Gateway) -> None:
    message = InboundMessage(channel="nochannel", source_id="x", payload=b"{}", media_type="application/json",
                             received_at=dt.datetime.now(dt.UTC))
    received = gw.pipeline.receive(message)
    gw.worker.run_once()
    assert gw.pipeline.outcome(received.inbox_id).state in ("retry", "dead")


def test_the_acknowledgement_leaves_through_the_outbox_right_after_the_commit(gw: Gateway,
                                                                            pull: PullChannel) -> None:
    received = gw.pipeline.receive(pull_message("m-now"))
    assert gw.pipeline.process(received.inbox_id).state == "committed"
    assert pull.acks == []  # processing commits; it never reports upstream itself
    assert gw.queries.inbox_entry("testpull", "m-now").state == "committed"  # type: ignore[union-attr]
    assert gw.dispatcher.run_due() == 1 and pull.acks == ["m-now"]  # the outbox claim sends it
    assert gw.queries.inbox_entry("testpull", "m-now").state == "acknowledged"  # type: ignore[union-attr]
    assert gw.dispatcher.run_due() == 0 and pull.acks == ["m-now"]


def test_one_worker_round_processes_and_then_acknowledges(gw: Gateway, pull: PullChannel) -> None:
    gw.pipeline.receive(pull_message("m-round"))
    gw.worker.run_once()
    assert pull.acks == ["m-round"]  # the round's outbox pass follows its jobs' commits
    assert gw.queries.inbox_entry("testpull", "m-round").state == "acknowledged"  # type: ignore[union-attr]


def test_a_crash_between_the_commit_and_the_outbox_round_acknowledges_after_the_restart(
        profile_settings: Any) -> None:
    gw = Gateway.create(profile_settings)
    try:
        gw.adapters.channels.register("testpull", PullChannel(gw))
        received = gw.pipeline.receive(pull_message("m-died"))
        assert gw.pipeline.process(received.inbox_id).state == "committed"  # ... and the worker dies here
    finally:
        gw.close()
    restarted = Gateway.create(profile_settings)
    try:
        pull = PullChannel(restarted)
        restarted.adapters.channels.register("testpull", pull)
        restarted.worker.run_until_idle()
        assert pull.acks == ["m-died"] and count(restarted, cases) == 1
        restarted.worker.run_until_idle()
        assert pull.acks == ["m-died"]
    finally:
        restarted.close()


def test_the_job_ends_in_the_transaction_that_records_its_result(gw: Gateway, pull: PullChannel) -> None:
    gw.pipeline.receive(pull_message("m-job"))
    writes: list[str] = []

    def count_writes(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):  # SQLite: every write transaction starts so
            writes.append(statement)

    event.listen(gw.db.engine, "before_cursor_execute", count_writes)
    assert gw.worker.run_jobs() == 1
    event.remove(gw.db.engine, "before_cursor_execute", count_writes)
    assert gw.queries.case_by_source("testpull", "m-job") is not None
    assert gw.queue.reserve(gw.worker.id, 16, 0)[0] == []  # nothing left to run
    if gw.settings.profile == "embedded":
        # claim the job; draw the reference number; commit the case and end the job (the
        # acknowledgement is the outbox's)
        assert len(writes) == 3, writes


def test_a_job_whose_commit_fails_is_not_acknowledged(profile_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gw = Gateway.create(profile_settings.model_copy(update={"job_lease_seconds": 0.3}))
    try:
        pull = PullChannel(gw)
        gw.adapters.channels.register("testpull", pull)
        gw.pipeline.receive(pull_message("m-rollback"))

        def killed(*args: Any, **kwargs: Any) -> Any:
            raise SystemExit("SIGKILL stand-in")

        monkeypatch.setattr("gateway.intake.records.write_case", killed)
        with pytest.raises(SystemExit):
            gw.worker.run_jobs()
        monkeypatch.undo()
        assert gw.queries.case_by_source("testpull", "m-rollback") is None
        time.sleep(0.4)  # the dead worker's lease runs out: the job comes back
        gw.worker.run_until_idle()
        assert gw.queries.case_by_source("testpull", "m-rollback") is not None and pull.acks == ["m-rollback"]
    finally:
        gw.close()


def test_a_message_received_again_while_open_is_a_duplicate_and_its_retry_finishes_it(
        profile_settings: Any) -> None:
    gw = Gateway.create(profile_settings.model_copy(update={"backoff_base_seconds": 0.5,
                                                            "backoff_max_seconds": 0.5}))
    try:
        pull = PullChannel(gw)
        gw.adapters.channels.register("testpull", pull)
        pull.fail_transient = 1
        first = gw.pipeline.receive(pull_message("m-again"))
        gw.worker.run_until_idle()
        assert gw.pipeline.outcome(first.inbox_id).state == "retry" and pull.acks == []
        # fetched again (the next poll, or a callback): the inbox already holds it
        again = gw.pipeline.receive(pull_message("m-again"))
        assert again.duplicate and again.inbox_id == first.inbox_id
        time.sleep(0.6)  # the backoff: long enough that the first worker run (several rounds) ends before it
        gw.worker.run_until_idle()
        assert pull.acks == ["m-again"] and count(gw, cases) == 1
        assert gw.queries.inbox_entry("testpull", "m-again").state == "acknowledged"  # type: ignore[union-attr]
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
        assert gw.pipeline.intake(pull_message("m-after-verify")).state == "retry"  # the synchronous path
        monkeypatch.setattr(gw.pipeline, "_route_and_map", route_and_map)
        time.sleep(0.15)
        gw.worker.run_until_idle()
        assert gw.queries.case_by_source("testpull", "m-after-verify") is not None
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
    first = gw.pipeline.intake(keyed("Rex"), fingerprint="body-rex")
    assert first.state == "retry"
    monkeypatch.setattr(gw.pipeline, "_route_and_map", route_and_map)
    with pytest.raises(IdempotencyKeyReused):
        gw.pipeline.intake(keyed("Bello"), fingerprint="body-bello")
    assert count(gw, cases) == 0
    waiting = gw.pipeline.intake(keyed("Rex"), fingerprint="body-rex")  # the client's retry of the same request
    assert waiting.duplicate and waiting.state == "retry" and waiting.inbox_id == first.inbox_id
    time.sleep(0.06)
    gw.worker.run_until_idle()  # the worker finishes the recorded request
    retried = gw.pipeline.intake(keyed("Rex"), fingerprint="body-rex")
    assert retried.state == "committed" and retried.case is not None and count(gw, cases) == 1
    assert [f.value for f in retried.case.form if f.key == "hund_name"] == ["Rex"]


def test_a_poll_receives_each_message_and_the_same_round_processes_it(gw: Gateway, pull: PullChannel) -> None:
    class Source:
        name = "testpull"

        def poll(self) -> list[InboundMessage]:
            return [pull_message("m-poll-1"), pull_message("m-poll-2")]

    gw.adapters.sources.register("testpull", Source())
    assert gw.worker.poll_sources(force=True) == 2
    assert pull.acks == [] and pull.verify_calls == 0  # received: kept and queued, nothing more yet
    assert gw.queries.inbox_entry("testpull", "m-poll-1").state == "received"  # type: ignore[union-attr]
    gw.worker.run_once()
    assert pull.acks == ["m-poll-1", "m-poll-2"]
    assert gw.worker.poll_sources(force=True) == 0  # fetched again: duplicates at the inbox
    gw.worker.run_until_idle()
    assert pull.acks == ["m-poll-1", "m-poll-2"] and count(gw, cases) == 2


def test_an_announced_message_is_fetched_in_the_next_round_without_a_listing(gw: Gateway, pull: PullChannel) -> None:
    class Announcing:
        name = "testpull"

        def __init__(self) -> None:
            self.waiting: list[str] = []
            self.listings = 0

        def poll(self) -> list[InboundMessage]:
            self.listings += 1
            return self.fetch()

        def announced(self) -> bool:
            return bool(self.waiting)

        def poll_announced(self) -> list[InboundMessage]:
            return self.fetch()

        def fetch(self) -> list[InboundMessage]:
            fetched, self.waiting = [pull_message(ref) for ref in self.waiting], []
            return fetched

    source = Announcing()
    gw.adapters.sources.register("testpull", source)
    assert gw.worker.poll_sources(force=True) == 0 and source.listings == 1
    assert gw.worker.poll_sources() == 0, "nothing announced, the poll interval not over: nothing asked"
    source.waiting.append("m-announced")
    assert gw.worker.poll_sources() == 1 and source.listings == 1, "fetched at once, no listing"
    assert gw.queries.inbox_entry("testpull", "m-announced").state == "received"  # type: ignore[union-attr]


def test_a_delivery_whose_claim_ran_out_cannot_undo_the_takeover(profile_settings: Any) -> None:
    now = [dt.datetime.now(dt.UTC)]
    gateways = [Gateway.create(profile_settings, clock=lambda: now[0]) for _ in range(2)]
    try:
        hanging, released = threading.Event(), threading.Event()
        outcome: list[str] = []

        class Stalling(PullChannel):
            """Worker A's acknowledgement hangs upstream, then fails permanently or succeeds late."""

            def acknowledge(self, message: InboundMessage, case: CommittedCase) -> None:
                hanging.set()
                released.wait(10)
                if outcome[0] == "fails":
                    raise PermanentError("the upstream has this acknowledgement already")
                super().acknowledge(message, case)

        a, b = gateways
        b_channel = PullChannel(b)
        a.adapters.channels.register("testpull", Stalling(a))
        b.adapters.channels.register("testpull", b_channel)
        for late in ("fails", "succeeds"):
            outcome[:] = [late]
            hanging.clear()
            released.clear()
            b_channel.acks.clear()
            a.pipeline.process(a.pipeline.receive(pull_message(f"m-slow-{late}")).inbox_id)
            worker_a = threading.Thread(target=a.dispatcher.run_due)
            worker_a.start()
            assert hanging.wait(10)
            now[0] += dt.timedelta(seconds=a.settings.delivery_lease_seconds + 1)
            assert b.dispatcher.run_due() == 1 and b_channel.acks == [f"m-slow-{late}"]  # B takes over
            released.set()
            worker_a.join(10)
            with a.db.reading() as conn:
                state, attempts = conn.execute(select(outbox.c.state, outbox.c.attempts)
                                               .where(outbox.c.kind == "ack")
                                               .order_by(outbox.c.id.desc()).limit(1)).one()
                dead = conn.execute(select(func.count()).select_from(audit)
                                    .where(audit.c.action == "delivery.dead")).scalar_one()
            assert (state, attempts, dead) == ("done", 2, 0)  # B's result stands
            assert a.queries.inbox_entry("testpull", f"m-slow-{late}").state == "acknowledged"  # type: ignore[union-attr]
    finally:
        for gateway in gateways:
            gateway.close()


def test_a_missing_raw_original_is_a_transient_blob_failure_never_a_rejection(gw: Gateway, pull: PullChannel) -> None:
    received = gw.pipeline.receive(pull_message("m-lost"))
    entry = gw.queries.inbox_entry("testpull", "m-lost")
    assert entry is not None
    digest = entry.raw_key.removeprefix("sha512/")
    if gw.settings.effective_blob_store == "database":  # e.g. restored from an older backup
        with gw.db.transaction() as uow:
            uow.conn.execute(delete(tables.blobs).where(tables.blobs.c.key == entry.raw_key))
    else:
        (gw.settings.effective_blob_dir / digest[:2] / digest).unlink()  # e.g. the blob volume is not mounted
    outcome = gw.pipeline.process(received.inbox_id)
    assert outcome.state == "retry" and outcome.error is not None
    assert outcome.error["type"].endswith("/blob-not-found") and outcome.error["status"] == 503
    gw.dispatcher.run_due()
    assert pull.rejects == [] and count(gw, cases) == 0
