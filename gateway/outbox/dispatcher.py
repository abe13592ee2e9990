"""Claims due outbox rows and hands each to the handler of its kind; retries with backoff,
buries after the cap. A handler may run again for the same row after a crash: each must be
idempotent (check the remote state before acting)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from sqlalchemy import Connection

from gateway.backoff import backoff_seconds
from gateway.config import Settings
from gateway.errors import ConfigurationError, PermanentError
from gateway.events import audit
from gateway.store import outbox_repo
from gateway.store.db import Database
from gateway.store.outbox_repo import OutboxRow

log = logging.getLogger(__name__)


class OutboxHandler(Protocol):
    """Delivers the rows of one kind. ``deliver`` runs outside any transaction; ``delivered``
    records what the delivery changed, in the transaction that marks the row done."""

    def deliver(self, row: OutboxRow) -> None: ...

    def delivered(self, conn: Connection, row: OutboxRow, now: dt.datetime) -> None: ...


class Dispatcher:
    def __init__(self, *, db: Database, handlers: Mapping[str, OutboxHandler], settings: Settings,
                 clock: Callable[[], dt.datetime]) -> None:
        self.db, self.handlers, self.settings, self.clock = db, dict(handlers), settings, clock

    def run_due(self, limit: int = 32) -> int:
        # deliveries run one after the other: claim no more than the lease covers even if every
        # webhook takes its full timeout, or another worker would take the rest over meanwhile
        lease = self.settings.delivery_lease_seconds
        limit = max(1, min(limit, int(lease // (self.settings.webhook_timeout_seconds + 1))))
        now = self.clock()
        with self.db.reading() as conn:
            if not outbox_repo.any_due(conn, now):
                return 0  # the usual answer: no write transaction for it
        with self.db.transaction() as uow:
            rows = outbox_repo.claim_due(uow.conn, now, now + dt.timedelta(seconds=lease), limit)
        for row in rows:
            self._deliver(row)
        return len(rows)

    def _handler(self, kind: str) -> OutboxHandler:
        handler = self.handlers.get(kind)
        if handler is None:
            raise ConfigurationError(f"no handler for outbox rows of kind {kind!r}")
        return handler

    def _deliver(self, row: OutboxRow) -> None:
        try:
            handler = self._handler(row.kind)
            handler.deliver(row)
        except Exception as exc:
            self._failed(row, exc)
            return
        now = self.clock()
        with self.db.transaction() as uow:
            if not outbox_repo.finish(uow.conn, row, now):
                # its claim ran out and another worker took the row over: that one records it
                log.warning("outbox %s was delivered after its claim ran out", row.id)
                return
            handler.delivered(uow.conn, row, now)

    def _failed(self, row: OutboxRow, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {getattr(exc, 'detail', '')}"[:500]
        now = self.clock()
        with self.db.transaction() as uow:
            if isinstance(exc, PermanentError) or row.attempts >= self.settings.delivery_max_attempts:
                if outbox_repo.bury(uow.conn, row, error):
                    audit.record(uow.conn, at=now, actor="outbox", action="delivery.dead", case_id=row.case_id,
                                 inbox_id=row.inbox_id, details={"kind": row.kind, "target": row.target})
            else:
                delay = backoff_seconds(self.settings, row.attempts)
                outbox_repo.retry_later(uow.conn, row, now + dt.timedelta(seconds=delay), error)
        log.warning("outbox %s (%s -> %s) failed: %s", row.id, row.kind, row.target, type(exc).__name__)
