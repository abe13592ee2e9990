"""Cases sent on to another authority through a channel's sender: the ``forward`` outbox
handler, and following the remote status of what was sent (e.g. FIT-Connect's event log)."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable

from sqlalchemy import Connection

from gateway.adapter_registry import Adapters
from gateway.case.model import Case
from gateway.errors import CircuitOpen
from gateway.events import audit
from gateway.health.model import SENDER, AdapterKey
from gateway.health.recorder import HealthRecorder
from gateway.ports import BlobStore, Forwarding
from gateway.store import case_repo, forwarding_repo
from gateway.store.db import Database
from gateway.store.outbox_repo import OutboxRow

log = logging.getLogger(__name__)


class Forwarder:
    adapter_kind = SENDER  # the breaker ``forward`` rows go through: the sender's (gateway.health)

    def __init__(self, db: Database, blobs: BlobStore, adapters: Adapters, clock: Callable[[], dt.datetime],
                 health: HealthRecorder) -> None:
        self.db, self.blobs, self.adapters, self.clock, self.health = db, blobs, adapters, clock, health

    def deliver(self, row: OutboxRow) -> None:
        assert row.case_id is not None, "a forwarding belongs to a case"
        sender = self.adapters.senders.get(row.target)
        case = self._case(row.case_id)
        sent = sender.send(case, row.payload["target"], self.blobs)
        self._record(case, sent)

    def delivered(self, conn: Connection, row: OutboxRow, now: dt.datetime) -> None:
        """Recorded by :meth:`deliver` already: the send's remote id must outlive a lost claim."""

    def follow(self, limit: int = 20) -> int:
        """Read the remote status of open forwardings; the number that changed."""
        with self.db.reading() as conn:
            rows = forwarding_repo.open_ones(conn, limit)
        followed = 0
        for row in rows:
            if row["channel"] not in self.adapters.senders:
                continue
            sender = self.adapters.senders.get(row["channel"])
            known = Forwarding(channel=row["channel"], target=row["target"], remote_id=row["remote_id"],
                               status=row["status"])
            try:
                current = self.health.call(AdapterKey(SENDER, row["channel"]), functools.partial(sender.follow, known))
            except CircuitOpen:
                continue
            except Exception as exc:
                log.warning("following forwarding of case %s failed: %s", row["case_id"], type(exc).__name__)
                continue
            if current.status != row["status"]:
                self._record(self._case(row["case_id"]), current)
                followed += 1
        return followed

    def _case(self, case_id: str) -> Case:
        with self.db.reading() as conn:
            case = case_repo.get_case(conn, case_id)
        assert case is not None, "a forwarding points to a missing case"
        return case

    def _record(self, case: Case, sent: Forwarding) -> None:
        now = self.clock()
        with self.db.transaction() as uow:
            previous = forwarding_repo.get(uow.conn, str(case.id), sent.channel, sent.target)
            forwarding_repo.upsert(uow.conn, case_id=str(case.id), channel=sent.channel, target=sent.target,
                                   remote_id=sent.remote_id, status=sent.status, now=now)
            if previous is None or previous["status"] != sent.status:
                audit.record(uow.conn, at=now, actor=f"channel:{sent.channel}", action="forwarding.status",
                             tenant_ars=case.tenant.ars, case_id=str(case.id),
                             details={"target": sent.target, "remote_id": sent.remote_id, "status": sent.status})
