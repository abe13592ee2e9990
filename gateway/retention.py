"""Retention of personal data: raw originals a while after their acknowledgement, closed cases
after their service's retention period (``retention_days`` in the catalog).

* A **raw original** is deleted ``retention.raw_original_days`` after its message was
  acknowledged: for a pull channel when the source confirmed it (inbox state ``acknowledged``),
  for a synchronous channel (the portal), whose acknowledgement is the answer to the request,
  when its case was committed. The inbox row keeps its ids and is marked
  (``original_purged_at``); the blob goes unless another message still holds the same bytes,
  and the parts it stood for (a pull channel's fetched pieces) are no references any more, so
  the blob collector run right after deletes them unless a case names them.
* A **message that never became a case** loses its raw original, the parts it stood for and its
  verify checkpoint (the sealed decrypted metadata, the data and attachment blobs it names):
  a ``discarded`` one ``retention.discarded_days`` after the discard, a ``quarantined`` one or
  a ``dead`` letter ``retention.quarantine_days`` after it entered that state (an admin's time
  to fix and replay it). The inbox row stays with its ids, state, timestamps and reason, marked
  like an acknowledged one (``original_purged_at``), so the console and the admin API show it as
  purged and a replay is refused (:class:`gateway.errors.OriginalPurged`). A rejection still
  owed to the source (pending) is sent from the original: the purge waits for it; one that
  could not be sent (dead) cannot be sent any more and is discarded with the purge.
* A **closed or withdrawn case** is purged ``retention_days`` after it was closed: its row, its
  events, replies and their deliveries and post tasks, forwardings, outbox rows, the inbox row
  and the verify checkpoints of its message, in one transaction with an audit entry. Its blobs
  (original, attachments, reply documents) are then unreferenced and the blob collector run
  right after deletes them (gateway/store/blob_gc.py: a blob another case still names stays).

Audit entries are never deleted: they carry ids only, so the audit log stays whole (and its
chain verifiable) after any purge; the purge itself is one more entry.

Each purge marks its rows (and deletes their database rows) with its audit entry in one
transaction and deletes blobs only after that commit: a crash in between leaves blobs no row
refers to any more, which the next blob collection deletes (the one right after a retention run
that purged something, the worker's periodic one, or ``rathaus-gateway blobs gc``). A run
after a crash finds nothing twice: a marked row is never purged or audited again, and deleting
a blob that is gone already is no error.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, exists, or_, select, update

from gateway.catalog import Catalog
from gateway.config import Settings
from gateway.events.audit import record
from gateway.store import blob_gc
from gateway.store.case_repo import FINAL_STATUSES
from gateway.store.db import Database
from gateway.store.inbox_repo import WAITING_STATES
from gateway.store.tables import (
    cases,
    events,
    forwardings,
    inbox,
    outbox,
    replies,
    reply_deliveries,
    reply_post_tasks,
    step_results,
)

log = logging.getLogger(__name__)
ACTOR = "retention"
_BATCH = 200


@dataclass(frozen=True)
class RetentionResult:
    originals: int
    cases: int
    blobs_deleted: int
    messages: int  # discarded, quarantined and dead messages whose originals were deleted


class Retention:
    def __init__(self, db: Database, blobs: blob_gc.CollectableBlobs, catalog: Catalog, settings: Settings,
                 clock: Callable[[], dt.datetime]) -> None:
        self._db, self._blobs, self._catalog, self._settings, self._clock = db, blobs, catalog, settings, clock

    def run(self) -> RetentionResult:
        originals = self.purge_originals()
        messages = self.purge_messages()
        purged = self.purge_cases()
        collected = blob_gc.collect(self._db, self._blobs, self._settings.blob_gc_grace_seconds) \
            if originals or messages or purged else None
        result = RetentionResult(originals=originals, messages=messages, cases=purged,
                                 blobs_deleted=collected.deleted if collected else 0)
        if originals or messages or purged:
            log.info("retention: %d raw originals, %d messages never taken in and %d closed cases purged, "
                     "%d blobs deleted", result.originals, result.messages, result.cases, result.blobs_deleted)
        return result

    # -- raw originals -----------------------------------------------------------------------
    def purge_originals(self) -> int:
        days = self._settings.retention.raw_original_days
        if days is None:
            return 0
        now = self._clock()
        cutoff = now - dt.timedelta(days=days)
        awaits_ack = exists().where(outbox.c.inbox_id == inbox.c.id, outbox.c.kind == "ack")
        due = or_(inbox.c.state == "acknowledged", and_(inbox.c.state == "committed", ~awaits_ack))
        purged = 0
        while True:
            with self._db.reading() as conn:
                rows = conn.execute(select(inbox.c.id, inbox.c.raw_key, inbox.c.tenant_ars, inbox.c.case_id)
                                    .where(inbox.c.original_purged_at.is_(None), inbox.c.updated_at <= cutoff, due)
                                    .limit(_BATCH)).all()
            if not rows:
                return purged
            for row in rows:
                with self._db.transaction() as uow:
                    marked = uow.conn.execute(update(inbox).where(inbox.c.id == row.id,
                                                                  inbox.c.original_purged_at.is_(None))
                                              .values(original_purged_at=now)).rowcount
                    if marked:
                        record(uow.conn, at=now, actor=ACTOR, action="original.purged", tenant_ars=row.tenant_ars,
                               case_id=row.case_id, inbox_id=row.id, details={"retention_days": days})
                if marked and not self._still_held(row.raw_key):
                    # within the grace period a new message may have put the same bytes: then it stays
                    self._blobs.delete_if_older(row.raw_key, self._settings.blob_gc_grace_seconds)
                purged += marked

    def _still_held(self, raw_key: str) -> bool:
        with self._db.reading() as conn:
            return conn.execute(select(inbox.c.id).where(inbox.c.raw_key == raw_key,
                                                         inbox.c.original_purged_at.is_(None)).limit(1)).first() \
                is not None

    # -- messages that never became a case ---------------------------------------------------
    def purge_messages(self) -> int:
        """Discarded messages after ``discarded_days``, quarantined and dead ones after
        ``quarantine_days``, counted from their last change of state (``updated_at``: the
        discard, the quarantine, the last attempt)."""
        settings = self._settings.retention
        now = self._clock()
        purged = 0
        for states, days in ((("discarded",), settings.discarded_days), (WAITING_STATES, settings.quarantine_days)):
            if days is not None:
                purged += self._purge_messages(states, days, now - dt.timedelta(days=days), now)
        return purged

    def _purge_messages(self, states: tuple[str, ...], days: float, cutoff: dt.datetime, now: dt.datetime) -> int:
        # the source is still owed its rejection, which the outbox builds from the original
        owes_reject = exists().where(outbox.c.inbox_id == inbox.c.id, outbox.c.kind == "reject",
                                     outbox.c.state == "pending")
        due = and_(inbox.c.state.in_(states), inbox.c.updated_at <= cutoff, inbox.c.original_purged_at.is_(None),
                   ~owes_reject)
        purged = 0
        while True:
            with self._db.reading() as conn:
                rows = conn.execute(select(inbox.c.id, inbox.c.raw_key, inbox.c.tenant_ars)
                                    .where(due).limit(_BATCH)).all()
            if not rows:
                return purged
            for row in rows:
                with self._db.transaction() as uow:
                    # ``due`` again: a replay or discard meanwhile (it locks the row) moved it on
                    state = uow.conn.execute(update(inbox).where(inbox.c.id == row.id, due)
                                             .values(original_purged_at=now).returning(inbox.c.state)).scalar()
                    if state is not None:
                        _forget_message(uow.conn, row.id, row.tenant_ars, state, days, now)
                if state is None:
                    continue
                if not self._still_held(row.raw_key):  # the same bytes may have come again as another message
                    self._blobs.delete_if_older(row.raw_key, self._settings.blob_gc_grace_seconds)
                purged += 1

    # -- closed cases ------------------------------------------------------------------------
    def purge_cases(self) -> int:
        now = self._clock()
        purged = 0
        for tenant in self._catalog.tenants():
            for service in tenant.services:
                if service.retention_days is None:
                    continue
                cutoff = now - dt.timedelta(days=service.retention_days)
                purged += self._purge_service(tenant.tenant.ars, service.leika, service.retention_days, cutoff, now)
        return purged

    def _purge_service(self, ars: str, leika: str, days: int, cutoff: dt.datetime, now: dt.datetime) -> int:
        expired = and_(cases.c.tenant_ars == ars, cases.c.service_leika == leika,
                       cases.c.status.in_(sorted(FINAL_STATUSES)), cases.c.closed_at <= cutoff)
        purged = 0
        while True:
            with self._db.reading() as conn:
                rows = conn.execute(select(cases.c.id, cases.c.inbox_id).where(expired).limit(_BATCH)).all()
            if not rows:
                return purged
            for row in rows:
                with self._db.transaction() as uow:
                    # still expired (a concurrent status change re-checked here)
                    if uow.conn.execute(delete(cases).where(cases.c.id == row.id, expired)).rowcount == 0:
                        continue
                    _delete_case_rows(uow.conn, row.id, row.inbox_id)
                    record(uow.conn, at=now, actor=ACTOR, action="case.purged", tenant_ars=ars, case_id=row.id,
                           inbox_id=row.inbox_id, details={"service": leika, "retention_days": days})
                purged += 1


def _delete_case_rows(conn: Connection, case_id: str, inbox_id: str) -> None:
    for statement in (delete(events).where(events.c.case_id == case_id),
                      delete(reply_post_tasks).where(reply_post_tasks.c.case_id == case_id),
                      delete(reply_deliveries).where(reply_deliveries.c.case_id == case_id),
                      delete(replies).where(replies.c.case_id == case_id),
                      delete(forwardings).where(forwardings.c.case_id == case_id),
                      delete(outbox).where(or_(outbox.c.case_id == case_id, outbox.c.inbox_id == inbox_id)),
                      delete(step_results).where(step_results.c.inbox_id == inbox_id),
                      delete(inbox).where(inbox.c.id == inbox_id)):
        conn.execute(statement)


def _forget_message(conn: Connection, inbox_id: str, tenant_ars: str | None, state: str, days: float,
                    now: dt.datetime) -> None:
    """In the transaction that marked the entry purged: its verify checkpoint goes (sealed
    personal data; the data and attachment blobs it names are no references any more), a
    rejection that could not be sent is given up (it cannot be built without the original), and
    the purge is audited."""
    checkpoints = conn.execute(delete(step_results).where(step_results.c.inbox_id == inbox_id)).rowcount
    rejections = conn.execute(update(outbox).where(outbox.c.inbox_id == inbox_id, outbox.c.kind == "reject",
                                                   outbox.c.state == "dead")
                              .values(state="discarded", done_at=now)).rowcount
    record(conn, at=now, actor=ACTOR, action="message.purged", tenant_ars=tenant_ars, inbox_id=inbox_id,
           details={"state": state, "retention_days": days, "checkpoints": checkpoints,
                    "rejections_given_up": rejections})
