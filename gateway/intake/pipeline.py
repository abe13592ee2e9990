"""The intake pipeline: one way through per kind of channel, every step recorded.

receive  pull channels (FIT-Connect callbacks and polls, XTA polls): the raw original made
         durable in the blob store, then the inbox row (deduplicated on channel + source id)
         and its job in one transaction. The source keeps its copy until it is acknowledged.
process  the worker's job: verify (channel; attachments made durable) -> route (catalog) ->
         map (mapping file) -> commit case + event + webhook rows + acknowledgement row + the
         job's end in one transaction. The worker's outbox round, right after, sends the
         acknowledgement upstream: never before the commit.
intake   the synchronous portal, whose client waits for the case: verify, route and map in
         memory first — a request refused there leaves nothing on disk —, then the raw
         original and the attachments made durable, then the inbox row, the case and its
         events in one transaction; the HTTP answer is the acknowledgement. A repeat (same
         channel + source id, or same client + Idempotency-Key) meets the first one's inbox
         row at that commit and gets the first outcome; the same key with another body is
         refused.
failure  permanent: quarantine (+ a reject row for a pull channel); transient: retry with
         backoff and jitter — the verify result is checkpointed then, so the retry does not
         decrypt again — and a dead letter after the cap.
admin    a quarantined or dead message is replayed (back to ``received``) once its cause is
         fixed, or discarded (``discarded``: kept, audited, never replayed). The retention
         deletes the raw original of either after a while (gateway/retention.py); a replay is
         refused then.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from gateway.adapter_registry import Adapters
from gateway.backoff import backoff_seconds
from gateway.catalog import Catalog, MappingLookup, Route
from gateway.config import Settings
from gateway.errors import IdempotencyKeyReused, OriginalPurged, PermanentError, Problem, TransientError
from gateway.events import audit
from gateway.intake import records
from gateway.intake.checkpoint import Verified, store_attachments, to_checkpoint
from gateway.logs import correlation
from gateway.metrics import instruments
from gateway.ports import Acknowledger, BlobStore, InboundMessage, Outcome, Received, VerifiedSubmission
from gateway.queue import WorkQueue
from gateway.store import case_repo, inbox_repo
from gateway.store.db import Database, UnitOfWork
from gateway.store.inbox_repo import InboxRow

log = logging.getLogger(__name__)

INTAKE_JOB = "intake"


class MappingSource(MappingLookup, Protocol):
    def get(self, mapping_id: str) -> Any: ...


class IntakePipeline:
    def __init__(self, *, db: Database, blobs: BlobStore, catalog: Catalog, mappings: MappingSource,
                 adapters: Adapters, queue: WorkQueue, settings: Settings,
                 clock: Callable[[], dt.datetime]) -> None:
        self.db, self.blobs, self.catalog, self.mappings = db, blobs, catalog, mappings
        self.adapters, self.queue, self.settings, self.clock = adapters, queue, settings, clock

    # -- receive (pull channels) --------------------------------------------------------------
    def receive(self, message: InboundMessage) -> Received:
        """Keep the raw original and record the message once; a worker processes it."""
        now = self.clock()
        row = self._new_row(message, None, now)
        self._keep_original(message, row)
        with self.db.transaction() as uow:
            if records.write_received(uow, row, now):
                self.queue.enqueue(uow, INTAKE_JOB, row.id)
                return Received(inbox_id=row.id, case_id=None, duplicate=False)
        existing = self._first(message)
        return Received(inbox_id=existing.id, case_id=existing.case_id, duplicate=True)

    # -- intake (synchronous channels) --------------------------------------------------------
    def intake(self, message: InboundMessage, fingerprint: str | None = None) -> Outcome:
        """Record and process at once. ``fingerprint`` identifies the request's body: a repeat
        with it gets the first outcome (``duplicate``), one with another raises
        :class:`IdempotencyKeyReused`."""
        # No look-up first: the inbox's unique keys find a repeat in the final transaction.
        now = self.clock()
        row = self._new_row(message, fingerprint, now)
        checked: tuple[VerifiedSubmission, Verified] | None = None
        try:
            checked = self._verify_in_memory(row, message)
            route, version, mapped = self._route_and_map(message.channel, checked[1])
        except PermanentError as exc:
            return self._record_intake_failure(row, message, exc, now)
        except Exception as exc:
            if not isinstance(exc, TransientError):
                log.exception("intake failed unexpectedly")
            return self._record_intake_failure(row, message, exc, now, checked)
        # accepted: its bytes become durable now, before the commit that refers to them
        submission, verified = checked
        self._keep_original(message, row, (submission, verified))
        case_id = uuid.uuid4()
        reference = records.draw_reference(self.db, route, now)
        with self.db.transaction() as uow:
            inserted = inbox_repo.insert_entry(uow.conn, records.committed(row, case_id))
            if inserted:  # audited together with the case
                case = records.write_case(uow, row=row, verified=verified, route=route, mapping_version=version,
                                          mapped=mapped, webhooks=self.settings.webhooks,
                                          acknowledge=self._acknowledged(row.channel), now=now, case_id=case_id,
                                          reference=reference)
        if not inserted:
            return self._repeat(message, fingerprint)
        return Outcome(inbox_id=row.id, state="committed", case=case)

    def _record_intake_failure(self, row: InboxRow, message: InboundMessage, exc: Exception, now: dt.datetime,
                               checked: tuple[VerifiedSubmission, Verified] | None = None) -> Outcome:
        """``checked``: the verify step's result when a later step failed transiently — kept,
        so the worker's retry neither decrypts nor checks again."""
        problem = Problem.of(exc)
        permanent = isinstance(exc, PermanentError)
        verified = checked[1] if checked is not None else None
        if permanent and not self._acknowledged(row.channel):
            # The client gets the problem in its answer and may send a corrected request: nothing
            # of this one was written, nothing is kept; the channel records the refusal without
            # personal data. A repeat of a request that was recorded before (an earlier
            # success) still answers with that.
            with self.db.reading() as conn:
                existing = inbox_repo.find(conn, channel=row.channel, source_id=row.source_id,
                                           client_id=row.client_id, idempotency_key=row.idempotency_key)
            if existing is not None:
                return self._repeat(row, row.request_fingerprint)
            log.info("intake refused: %s", problem.type)
            instruments.intake(row.channel, None, "refused")
            return Outcome(inbox_id=row.id, state="refused", error=problem.to_dict())
        self._keep_original(message, row, checked)  # the worker (or the quarantine) takes it from here
        with self.db.transaction() as uow:
            recorded = records.write_received(uow, row, now)
            if recorded and permanent:
                records.write_quarantine(uow, row=row, problem=problem, reject=self._acknowledged(row.channel),
                                         now=now)
            elif recorded:  # the worker takes it from here
                records.write_retry(uow, row=row, problem=problem, attempts=1, dead=False, now=now,
                                    next_attempt_at=now + dt.timedelta(seconds=self.backoff(1)))
                if verified is not None:
                    inbox_repo.save_step(uow.conn, row.id, "verify", verified.checkpoint(), now)
        if not recorded:
            return self._repeat(row, row.request_fingerprint)
        if permanent:
            log.warning("intake %s quarantined: %s", row.id, problem.type)
        return Outcome(inbox_id=row.id, state="quarantined" if permanent else "retry", error=problem.to_dict())

    def _repeat(self, message: InboundMessage | InboxRow, fingerprint: str | None) -> Outcome:
        """The outcome of the message's first intake — unless the key came with another body."""
        existing = self._first(message)
        if fingerprint is not None and existing.request_fingerprint not in (None, fingerprint):
            raise IdempotencyKeyReused("this Idempotency-Key or request id was already used for a different request")
        return self.outcome(existing.id, duplicate=True)

    # -- process (the worker's job) -----------------------------------------------------------
    def process(self, inbox_id: str, finish: Callable[[UnitOfWork], None] | None = None) -> Outcome:
        """Verify, route, map and commit one received message. ``finish`` joins the transaction
        that records the result (case or failure) — the worker ends its job there."""
        with self.db.reading() as conn:
            row = inbox_repo.get(conn, inbox_id)
            if row is None or not row.open:
                return self.outcome(inbox_id)
            checkpoint = inbox_repo.load_step(conn, inbox_id, "verify")
        with correlation.bound(row.correlation_id):  # the message's, in every log record on its way
            return self._process(row, checkpoint, finish)

    def _process(self, row: InboxRow, checkpoint: Any, finish: Callable[[UnitOfWork], None] | None) -> Outcome:
        verified: Verified | None = None
        try:
            verified = Verified(checkpoint, self.blobs) if checkpoint is not None else self._verify(row)
            route, version, mapped = self._route_and_map(row.channel, verified)
        except PermanentError as exc:
            return self._fail(row, exc, finish=finish)
        except Exception as exc:  # transient or a defect: retry, then dead letter
            if not isinstance(exc, TransientError):
                log.exception("intake %s failed unexpectedly", row.id)
            return self._fail(row, exc, verified if checkpoint is None else None, finish)
        now = self.clock()
        case_id = uuid.uuid4()
        reference = records.draw_reference(self.db, route, now)
        with self.db.transaction() as uow:
            # the conditional update is the claim: a worker whose lease ran out finds 0 rows
            finished_elsewhere = not inbox_repo.commit_open(uow.conn, row.id, str(case_id), now)
            if finish is not None:
                finish(uow)
            if not finished_elsewhere:
                case = records.write_case(uow, row=row, verified=verified, route=route, mapping_version=version,
                                          mapped=mapped, webhooks=self.settings.webhooks,
                                          acknowledge=self._acknowledged(row.channel), now=now, case_id=case_id,
                                          reference=reference)
        if finished_elsewhere:
            return self.outcome(row.id)
        return Outcome(inbox_id=row.id, state="committed", case=case)

    def _fail(self, row: InboxRow, exc: Exception, verified: Verified | None = None,
              finish: Callable[[UnitOfWork], None] | None = None) -> Outcome:
        """Record a failure — unless another worker finished the message meanwhile (its lease
        ran out while this one was slow): a late failure must never undo a commit. A transient
        failure after a successful verify keeps its result, so the retry neither decrypts nor
        checks again."""
        now = self.clock()
        problem = Problem.of(exc)
        permanent = isinstance(exc, PermanentError)
        with self.db.transaction() as uow:
            current = inbox_repo.get(uow.conn, row.id, lock=True)
            if finish is not None:
                finish(uow)
            finished_elsewhere = current is None or not current.open
            if current is not None and not finished_elsewhere:
                attempts = current.attempts + 1
                dead = not permanent and attempts >= self.settings.intake_max_attempts
                if permanent:
                    records.write_quarantine(uow, row=row, problem=problem, reject=self._acknowledged(row.channel),
                                             now=now)
                else:
                    records.write_retry(uow, row=row, problem=problem, attempts=attempts, dead=dead, now=now,
                                        next_attempt_at=None if dead
                                        else now + dt.timedelta(seconds=self.backoff(attempts)))
                    if verified is not None and not dead:
                        inbox_repo.save_step(uow.conn, row.id, "verify", verified.checkpoint(), now)
        if finished_elsewhere:
            return self.outcome(row.id)
        if permanent:
            log.warning("intake %s quarantined: %s", row.id, problem.type)
            return Outcome(inbox_id=row.id, state="quarantined", error=problem.to_dict())
        return Outcome(inbox_id=row.id, state="dead" if dead else "retry", error=problem.to_dict())

    # -- the steps every path shares ----------------------------------------------------------
    def _new_row(self, message: InboundMessage, fingerprint: str | None, now: dt.datetime) -> InboxRow:
        """The inbox row a message would get; nothing is written yet (see :meth:`_keep_original`)."""
        raw_key = "sha512/" + hashlib.sha512(message.payload).hexdigest()
        return InboxRow(
            id=str(uuid.uuid4()), channel=message.channel, source_id=message.source_id, tenant_ars=message.tenant_ars,
            client_id=message.client_id, idempotency_key=message.idempotency_key, request_fingerprint=fingerprint,
            received_at=message.received_at, media_type=message.media_type, raw_key=raw_key,
            raw_sha512=raw_key.split("/", 1)[1], raw_size=len(message.payload), references=dict(message.references),
            part_keys=list(message.parts) or None, state="received", attempts=0, last_error=None, case_id=None,
            updated_at=now, correlation_id=correlation.current() or correlation.new_id(),
            next_attempt_at=now + dt.timedelta(seconds=self.settings.job_lease_seconds))

    def _keep_original(self, message: InboundMessage, row: InboxRow,
                       checked: tuple[VerifiedSubmission, Verified] | None = None) -> None:
        """The raw original (and the attachments of an in-memory verify), durable in the blob
        store before any row refers to them."""
        if checked is not None:
            store_attachments(checked[0], checked[1].attachments, self.blobs)
        self.blobs.put(message.payload, row.raw_sha512)

    def _verify_in_memory(self, row: InboxRow, message: InboundMessage) -> tuple[VerifiedSubmission, Verified]:
        """The channel's verification for a synchronous request: nothing is written (the
        attachments are stored only if the request is accepted, :meth:`_keep_original`)."""
        submission = self.adapters.channels.get(row.channel).verify(message)
        checkpoint = to_checkpoint(submission, self.blobs, keep_data=False, store=False)
        return submission, Verified(checkpoint, self.blobs, data=submission.data, parsed_data=submission.parsed_data)

    def _verify(self, row: InboxRow, message: InboundMessage | None = None) -> Verified:
        """Run the channel's verification; attachments reach the blob store here. The checkpoint
        itself is written only when a later step fails (see :meth:`_fail`) — on the usual way
        through, the case commits right after and a crash in between just verifies again."""
        channel = self.adapters.channels.get(row.channel)
        submission = channel.verify(message if message is not None else inbox_repo.message_of(row, self.blobs))
        checkpoint = to_checkpoint(submission, self.blobs, keep_data=False)
        return Verified(checkpoint, self.blobs, data=submission.data, parsed_data=submission.parsed_data)

    def _route_and_map(self, channel: str, verified: Verified) -> tuple[Route, int, Any]:
        route = self.catalog.route(tenant_ars=verified.tenant_ars, leika=verified.service_leika,
                                   source_format=verified.source_format, channel=channel,
                                   account=verified.account, mappings=self.mappings)
        mapping = self.mappings.get(route.mapping_id)
        return route, int(mapping.version), mapping.apply(verified.data, verified.parsed_data)

    def _acknowledged(self, channel: str) -> bool:
        """A channel that reports back to its source gets ack/reject rows; a synchronous one
        (no acknowledger: the portal) answers its client directly."""
        return channel in self.adapters.channels and isinstance(self.adapters.channels.get(channel), Acknowledger)

    def _first(self, message: InboundMessage | InboxRow) -> InboxRow:
        """The inbox entry a repeat collided with (same source message or Idempotency-Key)."""
        with self.db.reading() as conn:
            existing = inbox_repo.find(conn, channel=message.channel, source_id=message.source_id,
                                       client_id=message.client_id, idempotency_key=message.idempotency_key)
        assert existing is not None, "insert failed without a conflicting row"
        return existing

    def backoff(self, attempts: int) -> float:
        return backoff_seconds(self.settings, attempts)

    def outcome(self, inbox_id: str, duplicate: bool = False) -> Outcome:
        with self.db.reading() as conn:
            row = inbox_repo.get(conn, inbox_id)
            if row is None:
                return Outcome(inbox_id=inbox_id, state="missing")
            case = case_repo.get_case(conn, row.case_id) if row.case_id else None
        return Outcome(inbox_id=inbox_id, state=row.state, case=case, error=row.last_error, duplicate=duplicate)

    # -- the worker's housekeeping and the admin's --------------------------------------------
    def requeue_due(self, limit: int = 100) -> int:
        """Enqueue again the open entries whose retry time (or whose job's lease) has come."""
        now = self.clock()
        lease = now + dt.timedelta(seconds=self.settings.job_lease_seconds)
        with self.db.reading() as conn:
            if not inbox_repo.any_due(conn, now):
                return 0  # the usual answer: no write transaction for it
        with self.db.transaction() as uow:
            due = inbox_repo.claim_due(uow.conn, now, lease, limit)
            for inbox_id in due:
                self.queue.enqueue(uow, INTAKE_JOB, inbox_id)
        return len(due)

    def bury(self, inbox_id: str, reason: str) -> None:
        """A job its workers could not finish (delivery cap reached) becomes a dead letter."""
        now = self.clock()
        with self.db.transaction() as uow:
            row = inbox_repo.get(uow.conn, inbox_id, lock=True)
            if row is None or not row.open:
                return
            problem = Problem(type="about:blank", title="Dead letter", status=500, detail=reason)
            records.write_retry(uow, row=row, problem=problem, attempts=row.attempts, dead=True,
                                next_attempt_at=None, now=now)

    def replay(self, inbox_id: str, actor: str) -> bool:
        """Give a quarantined or dead message another go once its cause is fixed. False when there
        is no such entry waiting; :class:`OriginalPurged` when the retention deleted its original
        (the lock orders this after a purge running at the same time, or the purge after it)."""
        now = self.clock()
        with self.db.transaction() as uow:
            row = inbox_repo.get(uow.conn, inbox_id, lock=True)
            if row is None or row.state not in inbox_repo.WAITING_STATES:
                return False
            if row.purged:
                raise OriginalPurged("the retention deleted this message's original: it cannot be replayed; "
                                     "discard it, or ask its sender to send it again")
            inbox_repo.set_state(uow.conn, inbox_id, now, state="received", attempts=0, last_error=None,
                                 next_attempt_at=now + dt.timedelta(seconds=self.settings.job_lease_seconds))
            self.queue.enqueue(uow, INTAKE_JOB, inbox_id)
            audit.record(uow.conn, at=now, actor=actor, action="replayed", inbox_id=inbox_id,
                         tenant_ars=row.tenant_ars, details={"previous_state": row.state})
        return True

    def discard(self, inbox_id: str, actor: str, reason: str) -> bool:
        """An admin's decision that a quarantined or dead message is not to be taken in: the entry
        becomes ``discarded`` (kept, never offered for replay again; the retention deletes its raw
        original ``retention.discarded_days`` later). The source is not contacted: a quarantined
        message was rejected upstream when it was quarantined; a dead letter stays unanswered
        there. ``reason``: a short code, no free text."""
        now = self.clock()
        with self.db.transaction() as uow:
            row = inbox_repo.get(uow.conn, inbox_id, lock=True)
            if row is None or row.state not in inbox_repo.WAITING_STATES:
                return False
            inbox_repo.set_state(uow.conn, inbox_id, now, state="discarded", next_attempt_at=None)
            audit.record(uow.conn, at=now, actor=actor, action="discarded", inbox_id=inbox_id,
                         tenant_ars=row.tenant_ars, details={"previous_state": row.state, "reason": reason})
        return True

