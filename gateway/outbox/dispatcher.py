"""Claims due outbox rows and hands each to the handler of its kind; retries with backoff,
buries after the cap. A handler may run again for the same row after a crash: each must be
idempotent (check the remote state before acting).

Every delivery goes through the circuit breaker of the adapter it calls (:mod:`gateway.health`):
the adapter is the row's target under the handler's ``adapter_kind`` (a class attribute; the
row's kind if it has none). While a breaker is open, the rows for its adapter are moved to the
end of its cool-down without being tried and without using up an attempt.

Acknowledgements and rejections upstream (``ack``, ``reject``) are claimed and delivered first
in every round: a source keeps a message until it hears from us, and a slow webhook subscriber
must not delay that."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection

from gateway.backoff import backoff_seconds
from gateway.config import Settings
from gateway.errors import ConfigurationError, PermanentError, Problem
from gateway.events import audit
from gateway.health.breaker import classify
from gateway.health.model import AdapterKey
from gateway.health.recorder import HealthRecorder
from gateway.logs import correlation
from gateway.metrics import instruments
from gateway.store import outbox_repo
from gateway.store.db import Database
from gateway.store.outbox_repo import OutboxRow

log = logging.getLogger(__name__)

UPSTREAM_KINDS = ("ack", "reject")


class OutboxHandler(Protocol):
    """Delivers the rows of one kind. ``deliver`` runs outside any transaction; ``delivered``
    records what the delivery changed, in the transaction that marks the row done."""

    def deliver(self, row: OutboxRow) -> None: ...

    def delivered(self, conn: Connection, row: OutboxRow, now: dt.datetime) -> None: ...


@runtime_checkable
class FailureAware(Protocol):
    """A handler that records its own side of a failed delivery, in the transaction that
    schedules the retry (``buried`` False) or buries the row (True), and of a replay."""

    def failed(self, conn: Connection, row: OutboxRow, problem: Problem, buried: bool, now: dt.datetime) -> None: ...

    def revived(self, conn: Connection, row: OutboxRow, now: dt.datetime) -> None: ...


class Dispatcher:
    def __init__(self, *, db: Database, handlers: Mapping[str, OutboxHandler], settings: Settings,
                 clock: Callable[[], dt.datetime], health: HealthRecorder) -> None:
        self.db, self.handlers, self.settings, self.clock = db, dict(handlers), settings, clock
        self.health = health
        self._postponed: dict[AdapterKey, dt.datetime] = {}
        self._failing: set[str] = set()  # targets whose last delivery from this process failed

    def adapter_kinds(self) -> dict[str, str]:
        """Outbox kind -> the kind of adapter its handler calls."""
        return {kind: str(getattr(handler, "adapter_kind", kind)) for kind, handler in self.handlers.items()}

    def run_due(self, limit: int = 32) -> int:
        """One round: the acknowledgements and rejections upstream first, then the other rows
        (webhooks, forwardings, replies) within a time budget, so a slow subscriber never holds
        up what the sources wait for nor takes the whole round."""
        self._postpone_open()
        with self.db.reading() as conn:
            if not outbox_repo.any_due(conn, self.clock()):
                return 0  # the usual answer: no write transaction for it
        upstream = self._claim(limit, kinds=UPSTREAM_KINDS)
        for row in upstream:
            self._deliver(row)
        return len(upstream) + self._others(limit)

    def _others(self, limit: int) -> int:
        """Claimed one at a time while the round's budget (one webhook timeout) lasts. Targets
        whose last delivery failed come after the others, and one that fails in this round gets
        no further attempt in it (its rows wait for their retry): a hanging endpoint costs a
        round at most about one timeout and does not starve the other subscribers."""
        deadline = time.monotonic() + self.settings.webhook_timeout_seconds
        failed_now: set[str] = set()
        done = 0
        while done < limit and time.monotonic() < deadline:
            claimed = (self._claim(1, other_than=UPSTREAM_KINDS, skip_targets=self._failing | failed_now)
                       or self._claim(1, other_than=UPSTREAM_KINDS, skip_targets=failed_now))
            if not claimed:
                break
            row = claimed[0]
            if self._deliver(row):
                self._failing.discard(row.target)
            else:
                self._failing.add(row.target)
                failed_now.add(row.target)
            done += 1
        return done

    def _claim(self, limit: int, **which: Any) -> list[OutboxRow]:
        # deliveries run one after the other: claim no more than the lease covers even if every
        # webhook takes its full timeout, or another worker would take the rest over meanwhile
        lease = self.settings.delivery_lease_seconds
        limit = max(1, min(limit, int(lease // (self.settings.webhook_timeout_seconds + 1))))
        now = self.clock()
        with self.db.transaction() as uow:
            return outbox_repo.claim_due(uow.conn, now, now + dt.timedelta(seconds=lease), limit, **which)

    def _postpone_open(self) -> None:
        """Once per cool-down of each open breaker: its adapter's waiting rows to the end of it."""
        open_until = self.health.open_until()
        due = {key: until for key, until in open_until.items() if self._postponed.get(key) != until}
        self._postponed = {key: until for key, until in self._postponed.items() if key in open_until}
        if not due:
            return
        by_kind: dict[str, list[str]] = {}
        for kind, adapter_kind in self.adapter_kinds().items():
            by_kind.setdefault(adapter_kind, []).append(kind)
        now = self.clock()
        with self.db.transaction() as uow:
            for key, until in due.items():
                if key.kind in by_kind:
                    outbox_repo.postpone(uow.conn, by_kind[key.kind], key.name, until, now)
        self._postponed.update(due)

    def _handler(self, kind: str) -> OutboxHandler:
        handler = self.handlers.get(kind)
        if handler is None:
            raise ConfigurationError(f"no handler for outbox rows of kind {kind!r}")
        return handler

    def _adapter(self, row: OutboxRow) -> AdapterKey:
        return AdapterKey(str(getattr(self.handlers.get(row.kind), "adapter_kind", row.kind)), row.target)

    def _deliver(self, row: OutboxRow) -> bool:
        """Deliver one claimed row; False when the delivery failed (or its circuit is open)."""
        adapter = self._adapter(row)
        if not self.health.permit(adapter):
            until = self.health.resume_at(adapter) or self.clock()
            with self.db.transaction() as uow:
                outbox_repo.release(uow.conn, row, until)
            instruments.delivery(row.kind, row.target, "postponed")
            return False
        with correlation.bound(row.correlation_id):
            try:
                handler = self._handler(row.kind)
                handler.deliver(row)
            except Exception as exc:
                self._failed(row, exc, adapter)
                return False
            now = self.clock()
            with self.db.transaction() as uow:
                self.health.record(adapter, "ok", conn=uow.conn)
                if not outbox_repo.finish(uow.conn, row, now):
                    # its claim ran out and another worker took the row over: that one records it
                    log.warning("outbox %s was delivered after its claim ran out", row.id)
                    return True
                handler.delivered(uow.conn, row, now)
            instruments.delivery(row.kind, row.target, "delivered", (now - row.created_at).total_seconds())
            return True

    def _failed(self, row: OutboxRow, exc: Exception, adapter: AdapterKey) -> None:
        error = f"{type(exc).__name__}: {getattr(exc, 'detail', '')}"[:500]
        now = self.clock()
        outcome = "retry"
        handler = self.handlers.get(row.kind)
        aware = handler if isinstance(handler, FailureAware) else None
        with self.db.transaction() as uow:
            self.health.record(adapter, classify(exc), exc, conn=uow.conn)
            if isinstance(exc, PermanentError) or row.attempts >= self.settings.delivery_max_attempts:
                outcome = "dead"
                if outbox_repo.bury(uow.conn, row, error):
                    if aware is not None:
                        aware.failed(uow.conn, row, Problem.of(exc), True, now)
                    audit.record(uow.conn, at=now, actor="outbox", action="delivery.dead", case_id=row.case_id,
                                 tenant_ars=outbox_repo.tenant_of(uow.conn, row.id), inbox_id=row.inbox_id,
                                 details={"outbox_id": row.id, "kind": row.kind, "target": row.target})
            else:
                when = now + dt.timedelta(seconds=backoff_seconds(self.settings, row.attempts))
                # not before the adapter's circuit lets calls through again (it may have just opened)
                if outbox_repo.retry_later(uow.conn, row, max(when, self.health.resume_at(adapter) or when),
                                           error) and aware is not None:
                    aware.failed(uow.conn, row, Problem.of(exc), False, now)
        instruments.delivery(row.kind, row.target, outcome)
        log.warning("outbox %s (%s -> %s) failed: %s", row.id, row.kind, row.target, type(exc).__name__)

    def revive(self, conn: Connection, row_id: int, now: dt.datetime, actor: str) -> bool:
        """A dead row is delivered again (admin replay), in the caller's transaction, audited."""
        row = outbox_repo.get(conn, row_id)
        if row is None or not outbox_repo.revive(conn, row_id, now):
            return False
        handler = self.handlers.get(row.kind)
        if isinstance(handler, FailureAware):
            handler.revived(conn, row, now)
        audit.record(conn, at=now, actor=actor, action="delivery.replayed", case_id=row.case_id,
                     tenant_ars=outbox_repo.tenant_of(conn, row_id), inbox_id=row.inbox_id,
                     details={"outbox_id": row.id, "kind": row.kind, "target": row.target})
        return True
