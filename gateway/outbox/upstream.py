"""Outbox handlers that tell a pull channel's source how its message ended: ``ack`` (the case
is committed) and ``reject`` (the message is quarantined; the row carries the problem)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection

from gateway.adapter_registry import Adapters
from gateway.errors import ConfigurationError, Problem
from gateway.events import audit
from gateway.health.model import ACKNOWLEDGER
from gateway.ports import Acknowledger, BlobStore, CommittedCase, InboundMessage
from gateway.store import case_repo, inbox_repo, outbox_repo
from gateway.store.db import Database
from gateway.store.outbox_repo import OutboxRow


class _Upstream:
    adapter_kind = ACKNOWLEDGER  # the breaker these rows go through: the channel's (gateway.health)

    def __init__(self, db: Database, blobs: BlobStore, adapters: Adapters) -> None:
        self.db, self.blobs, self.adapters = db, blobs, adapters

    def _acknowledger(self, channel: str) -> Acknowledger:
        adapter = self.adapters.channels.get(channel)
        if not isinstance(adapter, Acknowledger):
            raise ConfigurationError(f"channel {channel!r} cannot acknowledge upstream")
        return adapter

    def _message(self, row: OutboxRow) -> tuple[InboundMessage, CommittedCase | None]:
        assert row.inbox_id is not None, "an upstream report belongs to an inbox entry"
        with self.db.reading() as conn:
            entry = inbox_repo.get(conn, row.inbox_id)
            case = case_repo.committed(conn, row.case_id) if row.case_id else None
        assert entry is not None, "outbox row points to a missing inbox entry"
        assert row.case_id is None or case is not None, "outbox row points to a missing case"
        return inbox_repo.message_of(entry, self.blobs), case


def _audit_report(conn: Connection, row: OutboxRow, action: str, now: dt.datetime) -> None:
    audit.record(conn, at=now, actor="outbox", action=action, tenant_ars=outbox_repo.tenant_of(conn, row.id),
                 case_id=row.case_id, inbox_id=row.inbox_id, details={"channel": row.target, "outbox_id": row.id})


class AcknowledgeHandler(_Upstream):
    def deliver(self, row: OutboxRow) -> None:
        message, case = self._message(row)
        assert case is not None, "an acknowledgement belongs to a committed case"
        self._acknowledger(row.target).acknowledge(message, case)

    def delivered(self, conn: Connection, row: OutboxRow, now: dt.datetime) -> None:
        if row.inbox_id:
            inbox_repo.mark_acknowledged(conn, row.inbox_id, now)
        _audit_report(conn, row, "acknowledged", now)


class RejectHandler(_Upstream):
    def deliver(self, row: OutboxRow) -> None:
        message, _ = self._message(row)
        self._acknowledger(row.target).reject(message, Problem.from_dict(row.payload))

    def delivered(self, conn: Connection, row: OutboxRow, now: dt.datetime) -> None:
        """The entry stays quarantined: the rejection changes nothing of it but the audit log."""
        _audit_report(conn, row, "rejected_upstream", now)
