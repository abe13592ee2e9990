"""What each intake outcome writes, inside the caller's transaction.

Kept apart from the control flow in :mod:`gateway.intake.pipeline` so the pull channels' path
(receive, then process) and the synchronous one (intake) write the same rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from gateway.case.model import Case
from gateway.catalog import Route
from gateway.config import WebhookConfig
from gateway.errors import Problem
from gateway.events import audit
from gateway.events.cloudevents import CASE_RECEIVED, case_event
from gateway.events.publish import publish
from gateway.intake.case_builder import build_case
from gateway.intake.checkpoint import Verified
from gateway.metrics import instruments
from gateway.store import case_repo, inbox_repo, outbox_repo
from gateway.store.db import Database, UnitOfWork
from gateway.store.inbox_repo import InboxRow


def report_upstream(uow: UnitOfWork, *, kind: str, row: InboxRow, payload: dict[str, Any], now: dt.datetime,
                    case_id: str | None = None) -> None:
    """The outbox row that tells the source how its message ended (``ack`` or ``reject``); the
    worker's outbox round sends it once this transaction has committed."""
    outbox_repo.add(uow.conn, kind=kind, target=row.channel, payload=payload, now=now, inbox_id=row.id,
                    case_id=case_id)


def draw_reference(db: Database, route: Route, now: dt.datetime) -> str:
    """The reference number of a case about to be written (drawn before its transaction)."""
    return case_repo.draw_reference(db, route.tenant.ars, route.tenant.reference_prefix, now.year)


def write_case(uow: UnitOfWork, *, row: InboxRow, verified: Verified, route: Route, mapping_version: int,
               mapped: Any, webhooks: list[WebhookConfig], acknowledge: bool, now: dt.datetime,
               case_id: uuid.UUID, reference: str) -> Case:
    """Case, its event and webhook rows, the acknowledgement row and the audit entry — all or
    nothing. The caller has marked the inbox row committed to ``case_id`` (the synchronous
    intake inserts it so, the worker's claim updates it) and drawn ``reference``."""
    case = build_case(row=row, verified=verified, route=route, mapping_version=mapping_version, mapped=mapped,
                      reference=reference, now=now, case_id=case_id)
    case_repo.insert_case(uow.conn, case, row.id)
    publish(uow, webhooks, case, case_event(CASE_RECEIVED, case, now), now)
    if acknowledge:
        report_upstream(uow, kind="ack", row=row, payload={}, now=now, case_id=str(case.id))
    uow.after_commit(lambda: instruments.committed(row.channel, case.service.leika,
                                                   (now - row.received_at).total_seconds()))
    audit.record(uow.conn, at=now, actor=f"channel:{row.channel}", action="case.created",
                 tenant_ars=case.tenant.ars, case_id=str(case.id), inbox_id=row.id,
                 details={"reference": case.reference, "service": case.service.leika,
                          "mapping": route.mapping_id, "warnings": len(case.warnings),
                          "source_id": row.source_id, "size": row.raw_size})
    return case


def write_quarantine(uow: UnitOfWork, *, row: InboxRow, problem: Problem, reject: bool, now: dt.datetime) -> None:
    record = problem.to_dict()
    inbox_repo.set_state(uow.conn, row.id, now, state="quarantined", last_error=record, next_attempt_at=None)
    uow.after_commit(lambda: instruments.intake(row.channel, None, "quarantined"))
    if reject:
        report_upstream(uow, kind="reject", row=row, payload=record, now=now)
    audit.record(uow.conn, at=now, actor=f"channel:{row.channel}", action="quarantined",
                 tenant_ars=row.tenant_ars, inbox_id=row.id, details={"type": problem.type, "detail": problem.detail})


def write_retry(uow: UnitOfWork, *, row: InboxRow, problem: Problem, attempts: int, dead: bool,
                next_attempt_at: dt.datetime | None, now: dt.datetime) -> None:
    inbox_repo.set_state(uow.conn, row.id, now, state="dead" if dead else "retry", attempts=attempts,
                         last_error=problem.to_dict(), next_attempt_at=next_attempt_at)
    uow.after_commit(lambda: instruments.intake(row.channel, None, "dead" if dead else "retry"))
    if dead:
        audit.record(uow.conn, at=now, actor="worker", action="dead-lettered", tenant_ars=row.tenant_ars,
                     inbox_id=row.id, details={"attempts": attempts, "type": problem.type})


def write_received(uow: UnitOfWork, row: InboxRow, now: dt.datetime) -> bool:
    """The inbox row and its audit entry; False when the message is already known."""
    if not inbox_repo.insert_entry(uow.conn, row):
        return False
    audit.record(uow.conn, at=now, actor=f"channel:{row.channel}", action="received", inbox_id=row.id,
                 tenant_ars=row.tenant_ars, details={"source_id": row.source_id, "size": row.raw_size})
    return True


def committed(row: InboxRow, case_id: uuid.UUID) -> InboxRow:
    """The inbox row as the synchronous intake inserts it: committed to its case at once."""
    return dataclasses.replace(row, state="committed", case_id=str(case_id), next_attempt_at=None)
