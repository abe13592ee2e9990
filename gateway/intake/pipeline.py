"""The intake pipeline: one way through, every step checkpointed.

receive  -> raw original to the blob store, inbox row (dedup on channel + source id and
            on client + Idempotency-Key), job enqueued in the same transaction
process  -> verify (channel; checkpointed) -> route (catalog) -> map (mapping file)
            -> commit case + event + webhook rows + acknowledgement row in one transaction
failure  -> permanent: quarantine + reject row; transient: retry with backoff and jitter,
            dead letter after the cap
The acknowledgement to the source leaves through the outbox, i.e. only after commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from gateway.catalog import Catalog, MappingLookup, Route
from gateway.config import Settings
from gateway.errors import GatewayError, PermanentError, TransientError
from gateway.intake.case_builder import build_case
from gateway.intake.checkpoint import Verified, to_checkpoint
from gateway.intake.events import CASE_RECEIVED, case_event
from gateway.intake.publish import publish
from gateway.ports import BlobStore, InboundMessage, Outcome, Received
from gateway.queue import WorkQueue
from gateway.registry import Adapters
from gateway.store import case_repo, inbox_repo, outbox_repo
from gateway.store.db import Database

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

    # -- receive -----------------------------------------------------------------------
    def receive(self, message: InboundMessage, *, inline: bool = False,
                fingerprint: str | None = None) -> Received:
        """Keep the raw original and record the message once. With ``inline`` the caller
        processes it right away; the inbox lease makes the worker take over if it dies."""
        raw_key = self.blobs.put(message.payload)
        now = self.clock()
        lease = dt.timedelta(seconds=self.settings.job_lease_seconds)
        inbox_id = str(uuid.uuid4())
        row = {
            "id": inbox_id, "channel": message.channel, "source_id": message.source_id,
            "tenant_ars": message.tenant_ars, "client_id": message.client_id,
            "idempotency_key": message.idempotency_key, "request_fingerprint": fingerprint,
            "received_at": message.received_at, "media_type": message.media_type, "raw_key": raw_key,
            "raw_sha512": raw_key.split("/", 1)[1], "raw_size": len(message.payload),
            "references": dict(message.references), "state": "received", "attempts": 0,
            "next_attempt_at": now + lease, "updated_at": now,
        }
        with self.db.transaction() as uow:
            if inbox_repo.insert_entry(uow.conn, row):
                outbox_repo.record_audit(uow.conn, at=now, actor=f"channel:{message.channel}", action="received",
                                         inbox_id=inbox_id, tenant_ars=message.tenant_ars,
                                         details={"source_id": message.source_id, "size": len(message.payload)})
                if not inline:
                    self.queue.enqueue(uow, INTAKE_JOB, inbox_id)
                return Received(inbox_id=inbox_id, case_id=None, duplicate=False)
            existing = inbox_repo.find(uow.conn, channel=message.channel, source_id=message.source_id,
                                       client_id=message.client_id, idempotency_key=message.idempotency_key)
        assert existing is not None, "insert failed without a conflicting row"
        return Received(inbox_id=existing["id"], case_id=existing["case_id"], duplicate=True)

    def outcome(self, inbox_id: str) -> Outcome:
        with self.db.reading() as conn:
            row = inbox_repo.get(conn, inbox_id)
            if row is None:
                return Outcome(inbox_id=inbox_id, state="missing")
            case = case_repo.get_case(conn, row["case_id"]) if row["case_id"] else None
        return Outcome(inbox_id=inbox_id, state=row["state"], case=case, error=row["last_error"])

    # -- process -----------------------------------------------------------------------
    def process(self, inbox_id: str) -> Outcome:
        with self.db.reading() as conn:
            row = inbox_repo.get(conn, inbox_id)
        if row is None or row["state"] not in inbox_repo.OPEN_STATES:
            return self.outcome(inbox_id)
        try:
            verified = self._verified(row)
            route = self.catalog.route(tenant_ars=verified.tenant_ars, leika=verified.service_leika,
                                       source_format=verified.source_format, channel=row["channel"],
                                       account=verified.account, mappings=self.mappings)
            mapping = self.mappings.get(route.mapping_id)
            mapped = mapping.apply(verified.data)
            return self._commit(row, verified, route, mapping.version, mapped)
        except PermanentError as exc:
            return self._quarantine(row, exc)
        except Exception as exc:  # transient or a defect: retry, then dead letter
            if not isinstance(exc, TransientError):
                log.exception("intake %s failed unexpectedly", inbox_id)
            return self._retry(row, exc)

    def _message(self, row: dict[str, Any]) -> InboundMessage:
        return InboundMessage(channel=row["channel"], source_id=row["source_id"],
                              payload=self.blobs.get(row["raw_key"]), media_type=row["media_type"],
                              received_at=row["received_at"], tenant_ars=row["tenant_ars"],
                              references=row["references"], idempotency_key=row["idempotency_key"],
                              client_id=row["client_id"])

    def _verified(self, row: dict[str, Any]) -> Verified:
        with self.db.reading() as conn:
            checkpoint = inbox_repo.load_step(conn, row["id"], "verify")
        if checkpoint is None:
            channel = self.adapters.channels.get(row["channel"])
            submission = channel.verify(self._message(row))
            checkpoint = to_checkpoint(submission, self.blobs)
            with self.db.transaction() as uow:
                inbox_repo.save_step(uow.conn, row["id"], "verify", checkpoint, self.clock())
        return Verified(checkpoint, self.blobs)

    def _commit(self, row: dict[str, Any], verified: Verified, route: Route, mapping_version: int,
                mapped: Any) -> Outcome:
        now = self.clock()
        synchronous = getattr(self.adapters.channels.get(row["channel"]), "acknowledges_in_response", False)
        with self.db.transaction() as uow:
            current = inbox_repo.get(uow.conn, row["id"], lock=True)
            if current is None or current["state"] not in inbox_repo.OPEN_STATES:
                return self.outcome(row["id"])  # another worker finished it first
            reference = case_repo.next_reference(uow.conn, route.tenant.ars, route.tenant.reference_prefix,
                                                 now.year)
            case = build_case(row=row, verified=verified, route=route, mapping_version=mapping_version,
                              mapped=mapped, reference=reference, now=now)
            case_repo.insert_case(uow.conn, case, row["id"])
            publish(uow, self.settings.webhooks, case, case_event(CASE_RECEIVED, case, now), now)
            if not synchronous:
                outbox_repo.add(uow.conn, kind="ack", target=row["channel"], payload={}, now=now,
                                inbox_id=row["id"], case_id=str(case.id))
            inbox_repo.set_state(uow.conn, row["id"], now, state="committed", case_id=str(case.id),
                                 last_error=None, next_attempt_at=None)
            outbox_repo.record_audit(uow.conn, at=now, actor=f"channel:{row['channel']}", action="case.created",
                                     tenant_ars=case.tenant.ars, case_id=str(case.id), inbox_id=row["id"],
                                     details={"reference": case.reference, "service": case.service.leika,
                                              "mapping": route.mapping_id, "warnings": len(case.warnings)})
        return Outcome(inbox_id=row["id"], state="committed", case=case)

    def _quarantine(self, row: dict[str, Any], exc: PermanentError) -> Outcome:
        now = self.clock()
        record = error_record(exc)
        synchronous = (row["channel"] in self.adapters.channels and
                       getattr(self.adapters.channels.get(row["channel"]), "acknowledges_in_response", False))
        with self.db.transaction() as uow:
            inbox_repo.set_state(uow.conn, row["id"], now, state="quarantined", last_error=record,
                                 next_attempt_at=None)
            if not synchronous:
                outbox_repo.add(uow.conn, kind="reject", target=row["channel"], payload=record, now=now,
                                inbox_id=row["id"])
            outbox_repo.record_audit(uow.conn, at=now, actor=f"channel:{row['channel']}", action="quarantined",
                                     tenant_ars=row["tenant_ars"], inbox_id=row["id"],
                                     details={"type": record["type"], "detail": record["detail"]})
        log.warning("intake %s quarantined: %s", row["id"], record["type"])
        return Outcome(inbox_id=row["id"], state="quarantined", error=record)

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with full jitter (AWS architecture blog's variant)."""
        ceiling = min(self.settings.backoff_max_seconds, self.settings.backoff_base_seconds * 2 ** attempts)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

    def _retry(self, row: dict[str, Any], exc: Exception) -> Outcome:
        now = self.clock()
        attempts = row["attempts"] + 1
        record = error_record(exc)
        dead = attempts >= self.settings.intake_max_attempts
        with self.db.transaction() as uow:
            inbox_repo.set_state(
                uow.conn, row["id"], now, state="dead" if dead else "retry", attempts=attempts, last_error=record,
                next_attempt_at=None if dead else now + dt.timedelta(seconds=self.backoff(attempts)))
            if dead:
                outbox_repo.record_audit(uow.conn, at=now, actor="worker", action="dead-lettered",
                                         tenant_ars=row["tenant_ars"], inbox_id=row["id"],
                                         details={"attempts": attempts, "type": record["type"]})
        return Outcome(inbox_id=row["id"], state="dead" if dead else "retry", error=record)

    def bury(self, inbox_id: str, reason: str) -> None:
        """A job its workers could not finish (delivery cap reached) becomes a dead letter."""
        now = self.clock()
        with self.db.transaction() as uow:
            row = inbox_repo.get(uow.conn, inbox_id)
            if row is None or row["state"] not in inbox_repo.OPEN_STATES:
                return
            inbox_repo.set_state(uow.conn, inbox_id, now, state="dead", next_attempt_at=None,
                                 last_error={"type": "about:blank", "title": "Dead letter", "detail": reason})
            outbox_repo.record_audit(uow.conn, at=now, actor="worker", action="dead-lettered", inbox_id=inbox_id,
                                     tenant_ars=row["tenant_ars"], details={"reason": reason})

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


def fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
