"""What local processing does with cases: read them, change their status, forward them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from gateway.adapter_registry import Adapters
from gateway.case.lifecycle import transition
from gateway.case.model import Case, CaseStatus, Decision
from gateway.config import Settings
from gateway.errors import Conflict, NotFound
from gateway.events import audit
from gateway.events.cloudevents import CASE_STATUS_CHANGED, case_event
from gateway.events.publish import publish
from gateway.store import case_repo, forwarding_repo, outbox_repo
from gateway.store.db import Database


class CaseService:
    def __init__(self, db: Database, settings: Settings, adapters: Adapters,
                 clock: Callable[[], dt.datetime]) -> None:
        self.db, self.settings, self.adapters, self.clock = db, settings, adapters, clock

    def get(self, case_id: str, tenants: list[str] | None) -> Case:
        with self.db.reading() as conn:
            case = case_repo.get_case(conn, case_id)
        if case is None or (tenants is not None and case.tenant.ars not in tenants):
            raise NotFound("no such case")
        return case

    def change_status(self, case_id: str, *, to: CaseStatus, decision: Decision | None, note: str | None,
                      expected_version: int, actor: str, tenants: list[str] | None) -> Case:
        now = self.clock()
        with self.db.transaction() as uow:
            case = case_repo.get_case(uow.conn, case_id)
            if case is None or (tenants is not None and case.tenant.ars not in tenants):
                raise NotFound("no such case")
            if case.version != expected_version:
                raise Conflict("the case was changed meanwhile; reload it and try again",
                               current_version=case.version)
            changed = transition(case, to, decision=decision, note=note, by=actor, at=now)
            if not case_repo.replace_case(uow.conn, changed, expected_version):
                raise Conflict("the case was changed meanwhile; reload it and try again")
            publish(uow, self.settings.webhooks, changed,
                    case_event(CASE_STATUS_CHANGED, changed, now, {"previous_status": case.status.value}), now)
            audit.record(uow.conn, at=now, actor=actor, action="case.status", tenant_ars=case.tenant.ars,
                                     case_id=case_id, details={"from": case.status.value, "to": to.value,
                                                               "decision": decision.value if decision else None,
                                                               "version": changed.version})
        return changed

    def forward(self, case_id: str, *, channel: str, target: str, actor: str, tenants: list[str] | None) -> None:
        """Queues sending the case on; the outbox does it after commit, idempotently."""
        self.adapters.senders.get(channel)
        now = self.clock()
        with self.db.transaction() as uow:
            case = case_repo.get_case(uow.conn, case_id)
            if case is None or (tenants is not None and case.tenant.ars not in tenants):
                raise NotFound("no such case")
            if forwarding_repo.get(uow.conn, case_id, channel, target) is not None:
                return
            forwarding_repo.upsert(uow.conn, case_id=case_id, channel=channel, target=target, remote_id=None,
                                   status="queued", now=now)
            outbox_repo.add(uow.conn, kind="forward", target=channel, payload={"target": target}, now=now,
                            case_id=case_id)
            audit.record(uow.conn, at=now, actor=actor, action="case.forward", tenant_ars=case.tenant.ars,
                                     case_id=case_id, details={"channel": channel, "target": target})

    def forwardings(self, case_id: str, tenants: list[str] | None) -> list[dict[str, Any]]:
        self.get(case_id, tenants)
        with self.db.reading() as conn:
            return forwarding_repo.for_case(conn, case_id)
