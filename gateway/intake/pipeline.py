"""The intake pipeline: one way through, every step recorded.

receive  -> raw original to the blob store, inbox row (dedup on channel + source id and
            on client + Idempotency-Key), job enqueued in the same transaction
process  -> verify (channel) -> route (catalog) -> map (mapping file)
            -> commit case + event + webhook rows + acknowledgement row + the job's end in
            one transaction
failure  -> permanent: quarantine + reject row; transient: retry with backoff and jitter
            (the verify result is checkpointed then, so the retry does not decrypt again),
            dead letter after the cap
The acknowledgement to the source leaves through the outbox, i.e. only after commit: the
row is written claimed by the committing worker, which delivers it right away; should it
die first, the claim runs out and the dispatcher sends it.

``take`` is what a pull channel's poll does with each fetched message: the inline path
below, with the acknowledgement sent right after the commit. No inbox row is written
before the commit because the source is the durable copy until then: a pull source keeps
every message until it is acknowledged (FIT-Connect until accept or reject, XTA until
``close``) and hands it over again after a crash. A message fetched again meets the first
one's inbox row in the final transaction: one case, one acknowledgement — and should that
entry still be open (it failed transiently, or a callback recorded it and its job has not
run), this intake finishes it.

``intake_inline`` is the path for a synchronous channel (the portal, whose client waits
for the case) too: the raw original is stored first, then verify, route and map run in
memory and the inbox row, the case and its events commit in one transaction — there is no
intermediate state a crash could leave behind, and the client's retry (same
Idempotency-Key) finds either nothing or the finished case.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from gateway.backoff import backoff_seconds
from gateway.catalog import Catalog, MappingLookup, Route
from gateway.config import Settings
from gateway.errors import GatewayError, PermanentError, TransientError
from gateway.intake import records
from gateway.intake.checkpoint import Verified, to_checkpoint
from gateway.ports import Acknowledger, BlobStore, CommittedCase, InboundMessage, Outcome, Received
from gateway.queue import WorkQueue
from gateway.registry import Adapters
from gateway.store import case_repo, inbox_repo, outbox_repo
from gateway.store.db import Database, UnitOfWork

log = logging.getLogger(__name__)

INTAKE_JOB = "intake"


class MappingSource(MappingLookup, Protocol):
    def get(self, mapping_id: str) -> Any: ...


def error_record(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, GatewayError):
        return exc.to_problem()
    # Unexpected errors keep their class only: messages may carry personal data.
    return {"type": "about:blank", "title": "Unexpected error", "status": 500, "detail": type(exc).__name__}


class IntakePipeline:
    def __init__(self, *, db: Database, blobs: BlobStore, catalog: Catalog, mappings: MappingSource,
                 adapters: Adapters, queue: WorkQueue, settings: Settings,
                 clock: Callable[[], dt.datetime]) -> None:
        self.db, self.blobs, self.catalog, self.mappings = db, blobs, catalog, mappings
        self.adapters, self.queue, self.settings, self.clock = adapters, queue, settings, clock
        # the outbox's delivery of one claimed row; set by the composition root (runtime)
        self.deliver_now: Callable[[dict[str, Any], InboundMessage | None, CommittedCase | None], None] | None = None

    def _direct(self, now: dt.datetime, message: InboundMessage | None = None) -> records.DirectReport | None:
        if self.deliver_now is None:
            return None
        return records.DirectReport(self.deliver_now,
                                    now + dt.timedelta(seconds=self.settings.delivery_lease_seconds), message)

    def _row(self, message: InboundMessage, fingerprint: str | None, now: dt.datetime) -> dict[str, Any]:
        raw_key = self.blobs.put(message.payload)
        return {
            "id": str(uuid.uuid4()), "channel": message.channel, "source_id": message.source_id,
            "tenant_ars": message.tenant_ars, "client_id": message.client_id,
            "idempotency_key": message.idempotency_key, "request_fingerprint": fingerprint,
            "received_at": message.received_at, "media_type": message.media_type, "raw_key": raw_key,
            "raw_sha512": raw_key.split("/", 1)[1], "raw_size": len(message.payload),
            "references": dict(message.references), "state": "received", "attempts": 0,
            "next_attempt_at": now + dt.timedelta(seconds=self.settings.job_lease_seconds), "updated_at": now,
        }

    def _synchronous(self, channel: str) -> bool:
        """A channel without an acknowledger answers its client directly: no outbox rows."""
        return channel in self.adapters.channels and not isinstance(self.adapters.channels.get(channel),
                                                                      Acknowledger)

    def find(self, message: InboundMessage) -> dict[str, Any] | None:
        with self.db.reading() as conn:
            return inbox_repo.find(conn, channel=message.channel, source_id=message.source_id,
                                   client_id=message.client_id, idempotency_key=message.idempotency_key)

    # -- receive -----------------------------------------------------------------------
    def receive(self, message: InboundMessage, *, fingerprint: str | None = None) -> Received:
        """Keep the raw original and record the message once; a worker processes it."""
        now = self.clock()
        row = self._row(message, fingerprint, now)
        with self.db.transaction() as uow:
            if records.write_received(uow, row, now):
                self.queue.enqueue(uow, INTAKE_JOB, row["id"])
                return Received(inbox_id=row["id"], case_id=None, duplicate=False)
        existing = self.find(message)
        assert existing is not None, "insert failed without a conflicting row"
        return Received(inbox_id=existing["id"], case_id=existing["case_id"], duplicate=True)

    def outcome(self, inbox_id: str, duplicate: bool = False) -> Outcome:
        with self.db.reading() as conn:
            row = inbox_repo.get(conn, inbox_id)
            if row is None:
                return Outcome(inbox_id=inbox_id, state="missing")
            case = case_repo.get_case(conn, row["case_id"]) if row["case_id"] else None
        return Outcome(inbox_id=inbox_id, state=row["state"], case=case, error=row["last_error"],
                       duplicate=duplicate)

    # -- the decisions every path shares ------------------------------------------------
    def _route_and_map(self, channel: str, verified: Verified) -> tuple[Route, int, Any]:
        route = self.catalog.route(tenant_ars=verified.tenant_ars, leika=verified.service_leika,
                                   source_format=verified.source_format, channel=channel,
                                   account=verified.account, mappings=self.mappings)
        mapping = self.mappings.get(route.mapping_id)
        return route, int(mapping.version), mapping.apply(verified.data, verified.parsed_data)

    def backoff(self, attempts: int) -> float:
        return backoff_seconds(self.settings, attempts)

    # -- inline (synchronous channels) ---------------------------------------------------
    def intake_inline(self, message: InboundMessage, fingerprint: str | None = None) -> Outcome:
        # No look-up first: the inbox's unique keys find a repeat in the final transaction.
        now = self.clock()
        row = self._row(message, fingerprint, now)
        verified: Verified | None = None
        try:
            submission = self.adapters.channels.get(message.channel).verify(message)
            verified = Verified(to_checkpoint(submission, self.blobs, keep_data=False),
                                self.blobs, data=submission.data, parsed_data=submission.parsed_data)
            route, version, mapped = self._route_and_map(message.channel, verified)
        except PermanentError as exc:
            return self._record_inline_failure(message, row, exc, now)
        except Exception as exc:
            if not isinstance(exc, TransientError):
                log.exception("inline intake failed unexpectedly")
            return self._record_inline_failure(message, row, exc, now, verified)
        case_id = uuid.uuid4()
        committed = {**row, "state": "committed", "case_id": str(case_id), "next_attempt_at": None}
        with self.db.transaction() as uow:
            # audited together with the case
            target = row if inbox_repo.insert_entry(uow.conn, committed) else self._open_twin(uow, row, case_id, now)
            if target is not None:
                case = records.write_case(uow, row=target, verified=verified, route=route, mapping_version=version,
                                          mapped=mapped, webhooks=self.settings.webhooks,
                                          acknowledge=not self._synchronous(message.channel), now=now,
                                          case_id=case_id, direct=self._direct(now, message))
        if target is None:  # a twin committed or quarantined it first
            return self.outcome(self.find(message)["id"], duplicate=True)  # type: ignore[index]
        return Outcome(inbox_id=target["id"], state="committed", case=case)

    def _open_twin(self, uow: UnitOfWork, row: dict[str, Any], case_id: uuid.UUID, now: dt.datetime
                   ) -> dict[str, Any] | None:
        """The same message was recorded meanwhile (two workers fetched it at once, or a callback
        and a poll) and is still open — received, or failed transiently: this successful intake
        finishes that entry, under the same conditional update a worker's commit uses, rather
        than being dropped as a duplicate. An entry of a different request (same Idempotency-Key,
        other body) is never taken over."""
        existing = inbox_repo.find(uow.conn, channel=row["channel"], source_id=row["source_id"],
                                   client_id=row["client_id"], idempotency_key=row["idempotency_key"])
        if (existing is None or existing["request_fingerprint"] != row["request_fingerprint"]
                or not inbox_repo.commit_open(uow.conn, existing["id"], str(case_id), now)):
            return None
        # the case keeps this intake's raw original: the one its verified content comes from
        return {**row, "id": existing["id"]}

    def _record_inline_failure(self, message: InboundMessage, row: dict[str, Any], exc: Exception,
                               now: dt.datetime, verified: Verified | None = None) -> Outcome:
        """``verified``: the verify step's result when a later step failed transiently — kept,
        so the retry neither decrypts nor checks again."""
        record = error_record(exc)
        permanent = isinstance(exc, PermanentError)
        with self.db.transaction() as uow:
            if not records.write_received(uow, row, now):
                existing = None
            else:
                existing = row
                if permanent:
                    records.write_quarantine(uow, row=row, record=record,
                                             reject=not self._synchronous(message.channel), now=now,
                                             direct=self._direct(now, message))
                else:  # the worker takes it from here
                    records.write_retry(uow, row=row, record=record, attempts=1, dead=False, now=now,
                                        next_attempt_at=now + dt.timedelta(seconds=self.backoff(1)))
                    if verified is not None:
                        inbox_repo.save_step(uow.conn, row["id"], "verify", verified.checkpoint(), now)
        if existing is None:
            return self.outcome(self.find(message)["id"], duplicate=True)  # type: ignore[index]
        if permanent:
            log.warning("intake %s quarantined: %s", row["id"], record["type"])
        return Outcome(inbox_id=row["id"], state="quarantined" if permanent else "retry", error=record)

    # -- process (worker) ----------------------------------------------------------------
    def process(self, inbox_id: str, finish: Callable[[UnitOfWork], None] | None = None) -> Outcome:
        """Verify, route, map and commit one received message. ``finish`` joins the transaction
        that records the result (case or failure) — the worker acknowledges its job there."""
        with self.db.reading() as conn:
            row = inbox_repo.get(conn, inbox_id)
            if row is None or row["state"] not in inbox_repo.OPEN_STATES:
                return self.outcome(inbox_id)
            checkpoint = inbox_repo.load_step(conn, inbox_id, "verify")
        return self._process_row(row, checkpoint, finish)

    def take(self, message: InboundMessage) -> Outcome:
        """Process a message a pull source fetched, in this worker and one transaction (see the
        module's docstring). A repeat is recognised when its inbox row meets the first one's
        unique key — after verifying, not before: the sources remember what they handed over, so
        a repeat reaching this point is rare (a restart before the acknowledgement went out), and a
        read in front of every message would cost more than verifying those few again."""
        return self.intake_inline(message)

    def _process_row(self, row: dict[str, Any], checkpoint: dict[str, Any] | None,
                     finish: Callable[[UnitOfWork], None] | None = None) -> Outcome:
        inbox_id = row["id"]
        verified: Verified | None = None
        try:
            verified, message = self._verified(row, checkpoint)
            route, version, mapped = self._route_and_map(row["channel"], verified)
        except PermanentError as exc:
            return self._fail(row, exc, finish=finish)
        except Exception as exc:  # transient or a defect: retry, then dead letter
            if not isinstance(exc, TransientError):
                log.exception("intake %s failed unexpectedly", inbox_id)
            return self._fail(row, exc, verified if checkpoint is None else None, finish)
        now = self.clock()
        case_id = uuid.uuid4()
        with self.db.transaction() as uow:
            # the conditional update is the claim: a worker whose lease ran out finds 0 rows
            finished_elsewhere = not inbox_repo.commit_open(uow.conn, row["id"], str(case_id), now)
            if finish is not None:
                finish(uow)
            if not finished_elsewhere:
                case = records.write_case(uow, row=row, verified=verified, route=route, mapping_version=version,
                                          mapped=mapped, webhooks=self.settings.webhooks,
                                          acknowledge=not self._synchronous(row["channel"]), now=now,
                                          case_id=case_id, direct=self._direct(now, message))
        if finished_elsewhere:
            return self.outcome(row["id"])
        return Outcome(inbox_id=row["id"], state="committed", case=case)

    def _verified(self, row: dict[str, Any], checkpoint: dict[str, Any] | None
                  ) -> tuple[Verified, InboundMessage | None]:
        """The verify step's result: from its checkpoint after an earlier transient failure,
        else by running the channel. Attachments reach the blob store here; the checkpoint
        itself is written only when a later step fails (see :meth:`_fail`) — on the usual
        way through, the case commits right after and a crash in between just verifies again."""
        if checkpoint is not None:
            return Verified(checkpoint, self.blobs), None
        channel = self.adapters.channels.get(row["channel"])
        message = inbox_repo.message_of(row, self.blobs)
        submission = channel.verify(message)
        checkpoint = to_checkpoint(submission, self.blobs, keep_data=False)
        return Verified(checkpoint, self.blobs, data=submission.data, parsed_data=submission.parsed_data), message

    def _fail(self, row: dict[str, Any], exc: Exception, verified: Verified | None = None,
              finish: Callable[[UnitOfWork], None] | None = None) -> Outcome:
        """Record a failure — unless another worker finished the message meanwhile (its lease
        ran out while this one was slow): a late failure must never undo a commit. A transient
        failure after a successful verify keeps its result, so the retry neither decrypts nor
        checks again."""
        now = self.clock()
        record = error_record(exc)
        permanent = isinstance(exc, PermanentError)
        with self.db.transaction() as uow:
            current = inbox_repo.get(uow.conn, row["id"], lock=True)
            if finish is not None:
                finish(uow)
            if current is None or current["state"] not in inbox_repo.OPEN_STATES:
                finished_elsewhere = True
            else:
                finished_elsewhere = False
                attempts = current["attempts"] + 1
                dead = not permanent and attempts >= self.settings.intake_max_attempts
                if permanent:
                    records.write_quarantine(uow, row=row, record=record,
                                             reject=not self._synchronous(row["channel"]), now=now,
                                             direct=self._direct(now))
                else:
                    records.write_retry(uow, row=row, record=record, attempts=attempts, dead=dead, now=now,
                                        next_attempt_at=None if dead
                                        else now + dt.timedelta(seconds=self.backoff(attempts)))
                    if verified is not None and not dead:
                        inbox_repo.save_step(uow.conn, row["id"], "verify", verified.checkpoint(), now)
        if finished_elsewhere:
            return self.outcome(row["id"])
        if permanent:
            log.warning("intake %s quarantined: %s", row["id"], record["type"])
            return Outcome(inbox_id=row["id"], state="quarantined", error=record)
        return Outcome(inbox_id=row["id"], state="dead" if dead else "retry", error=record)

    # -- admin ---------------------------------------------------------------------------
    def bury(self, inbox_id: str, reason: str) -> None:
        """A job its workers could not finish (delivery cap reached) becomes a dead letter."""
        now = self.clock()
        with self.db.transaction() as uow:
            row = inbox_repo.get(uow.conn, inbox_id, lock=True)
            if row is None or row["state"] not in inbox_repo.OPEN_STATES:
                return
            records.write_retry(uow, row=row, attempts=row["attempts"], dead=True, next_attempt_at=None, now=now,
                                record={"type": "about:blank", "title": "Dead letter", "detail": reason})

    def replay(self, inbox_id: str, actor: str) -> bool:
        """Give a quarantined or dead message another go once its cause is fixed."""
        now = self.clock()
        with self.db.transaction() as uow:
            row = inbox_repo.get(uow.conn, inbox_id)
            if row is None or row["state"] not in ("quarantined", "dead"):
                return False
            inbox_repo.set_state(uow.conn, inbox_id, now, state="received", attempts=0, last_error=None,
                                 next_attempt_at=now + dt.timedelta(seconds=self.settings.job_lease_seconds))
            self.queue.enqueue(uow, INTAKE_JOB, inbox_id)
            outbox_repo.record_audit(uow.conn, at=now, actor=actor, action="replayed", inbox_id=inbox_id,
                                     tenant_ars=row["tenant_ars"], details={"previous_state": row["state"]})
        return True
