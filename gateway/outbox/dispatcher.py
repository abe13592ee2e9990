"""Claims due outbox rows and hands each to its handler; retries with backoff, buries after the cap."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from gateway.backoff import backoff_seconds
from gateway.case.model import Case
from gateway.config import Settings
from gateway.errors import ConfigurationError, PermanentError, permanent_from_problem
from gateway.outbox.webhooks import WebhookSender
from gateway.ports import Acknowledger, BlobStore, CommittedCase, Forwarding, InboundMessage
from gateway.registry import Adapters
from gateway.store import case_repo, forwarding_repo, inbox_repo, outbox_repo
from gateway.store.db import Database

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, *, db: Database, blobs: BlobStore, adapters: Adapters, webhooks: WebhookSender,
                 settings: Settings, clock: Callable[[], dt.datetime]) -> None:
        self.db, self.blobs, self.adapters, self.webhooks = db, blobs, adapters, webhooks
        self.settings, self.clock = settings, clock

    def run_due(self, limit: int = 32) -> int:
        # deliveries run one after the other: claim no more than the lease covers even if every
        # webhook takes its full timeout, or another worker would take the rest over meanwhile
        lease = self.settings.delivery_lease_seconds
        limit = max(1, min(limit, int(lease // (self.settings.webhook_timeout_seconds + 1))))
        now = self.clock()
        with self.db.transaction() as uow:
            rows = outbox_repo.claim_due(uow.conn, now, now + dt.timedelta(seconds=lease), limit)
        for row in rows:
            self._deliver(row)
        return len(rows)

    def _deliver(self, row: dict[str, Any]) -> None:
        try:
            self._handle(row)
        except Exception as exc:
            error = f"{type(exc).__name__}: {getattr(exc, 'detail', '')}"[:500]
            now = self.clock()
            with self.db.transaction() as uow:
                if isinstance(exc, PermanentError) or row["attempts"] >= self.settings.delivery_max_attempts:
                    if outbox_repo.bury(uow.conn, row, error):
                        outbox_repo.record_audit(uow.conn, at=now, actor="outbox", action="delivery.dead",
                                                 case_id=row["case_id"], inbox_id=row["inbox_id"],
                                                 details={"kind": row["kind"], "target": row["target"]})
                else:
                    delay = backoff_seconds(self.settings, row["attempts"])
                    outbox_repo.retry_later(uow.conn, row, now + dt.timedelta(seconds=delay), error)
            log.warning("outbox %s (%s -> %s) failed: %s", row["id"], row["kind"], row["target"], type(exc).__name__)
            return
        with self.db.transaction() as uow:
            if not outbox_repo.finish(uow.conn, row, self.clock()):
                # its claim ran out and another worker took the row over: that one records it
                log.warning("outbox %s was delivered after its claim ran out", row["id"])
                return
            if row["kind"] == "ack" and row["inbox_id"]:
                inbox_repo.mark_acknowledged(uow.conn, row["inbox_id"], self.clock())

    def _message(self, inbox_id: str, case_id: str | None = None) -> tuple[InboundMessage, CommittedCase | None]:
        with self.db.reading() as conn:
            row = inbox_repo.get(conn, inbox_id)
            case = case_repo.committed(conn, case_id) if case_id else None
        assert row is not None, "outbox row points to a missing inbox entry"
        assert case_id is None or case is not None, "outbox row points to a missing case"
        return inbox_repo.message_of(row, self.blobs), case

    def _case(self, case_id: str) -> Case:
        with self.db.reading() as conn:
            case = case_repo.get_case(conn, case_id)
        assert case is not None, "outbox row points to a missing case"
        return case

    def _handle(self, row: dict[str, Any]) -> None:
        kind = row["kind"]
        if kind == "webhook":
            self.webhooks.deliver(row["target"], row["payload"])
        elif kind == "ack":
            message, committed = self._message(row["inbox_id"], row["case_id"])
            assert committed is not None
            self._acknowledger(row["target"]).acknowledge(message, committed)
        elif kind == "reject":
            message, _ = self._message(row["inbox_id"])
            self._acknowledger(row["target"]).reject(message, permanent_from_problem(row["payload"]))
        elif kind == "forward":
            sender = self.adapters.senders.get(row["target"])
            case = self._case(row["case_id"])
            sent = sender.send(case, row["payload"]["target"], self.blobs)
            self._record_forwarding(case, sent.channel, sent.target, sent.remote_id, sent.status)
        else:
            raise ValueError(f"unknown outbox kind {kind!r}")

    def _acknowledger(self, channel: str) -> Acknowledger:
        adapter = self.adapters.channels.get(channel)
        if not isinstance(adapter, Acknowledger):
            raise ConfigurationError(f"channel {channel!r} cannot acknowledge upstream")
        return adapter

    def _record_forwarding(self, case: Case, channel: str, target: str, remote_id: str, status: str) -> None:
        now = self.clock()
        with self.db.transaction() as uow:
            previous = forwarding_repo.get(uow.conn, str(case.id), channel, target)
            forwarding_repo.upsert(uow.conn, case_id=str(case.id), channel=channel, target=target,
                                   remote_id=remote_id, status=status, now=now)
            if previous is None or previous["status"] != status:
                outbox_repo.record_audit(uow.conn, at=now, actor=f"channel:{channel}", action="forwarding.status",
                                         tenant_ars=case.tenant.ars, case_id=str(case.id),
                                         details={"target": target, "remote_id": remote_id, "status": status})

    def follow_forwardings(self, limit: int = 20) -> int:
        """Reads the remote status of cases sent on (e.g. FIT-Connect's event log)."""
        with self.db.reading() as conn:
            rows = forwarding_repo.open_ones(conn, limit)
        followed = 0
        for row in rows:
            if row["channel"] not in self.adapters.senders:
                continue
            try:
                current = self.adapters.senders.get(row["channel"]).follow(
                    Forwarding(channel=row["channel"], target=row["target"], remote_id=row["remote_id"],
                               status=row["status"]))
            except Exception as exc:
                log.warning("following forwarding of case %s failed: %s", row["case_id"], type(exc).__name__)
                continue
            if current.status != row["status"]:
                self._record_forwarding(self._case(row["case_id"]), current.channel, current.target,
                                        current.remote_id, current.status)
                followed += 1
        return followed
