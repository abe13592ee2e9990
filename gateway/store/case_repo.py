"""Cases: the committed documents, their reference numbers and the event log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, text, update

from gateway.case.model import Case
from gateway.ports import CommittedCase
from gateway.store import dialects
from gateway.store.tables import cases, events, reference_counters

# One upsert: concurrent first cases of a tenant and year must not race on the INSERT.
_NEXT_REFERENCE = dialects.both(lambda dialect_insert: dialect_insert(reference_counters)
                                 .on_conflict_do_update(index_elements=["tenant_ars", "year"],
                                                        set_={"last": reference_counters.c.last + 1})
                                 .returning(reference_counters.c.last))
_INSERT_CASE = insert(cases)
_INSERT_EVENT = insert(events).returning(events.c.seq)


def next_reference(conn: Connection, tenant_ars: str, prefix: str, year: int) -> str:
    """Per tenant and year, gap-free within committed transactions (the row lock serialises)."""
    number = conn.execute(dialects.for_connection(_NEXT_REFERENCE, conn),
                          {"tenant_ars": tenant_ars, "year": year, "last": 1}).scalar_one()
    return f"{prefix}-{year}-{number:06d}"


FEED_LOCK = 7_401_285_164


def hold_feed_order(conn: Connection) -> None:
    """Cursors page by ``seq``; PostgreSQL hands sequence numbers out at INSERT but rows become
    visible at COMMIT, so a poller could pass over a row that commits late. Writers of the case
    and event feeds therefore take one transaction-scoped advisory lock: seq order = commit
    order. (SQLite writers are serial anyway.)"""
    if conn.dialect.name == "postgresql":
        conn.execute(_FEED_LOCK, {"key": FEED_LOCK})


_FEED_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


FINAL_STATUSES = frozenset({"closed", "withdrawn"})


def closed_at(case: Case) -> dt.datetime | None:
    """When the case reached a final status (its retention period runs from there)."""
    if case.status.value not in FINAL_STATUSES:
        return None
    return case.status_history[-1].at if case.status_history else case.received_at


def insert_case(conn: Connection, case: Case, inbox_id: str) -> None:
    hold_feed_order(conn)
    conn.execute(_INSERT_CASE, {
        "id": str(case.id), "inbox_id": inbox_id, "tenant_ars": case.tenant.ars, "reference": case.reference,
        "service_leika": case.service.leika, "channel": case.source.channel, "status": case.status.value,
        "routing_queue": case.routing_queue, "received_at": case.received_at, "version": case.version,
        "document": case.model_dump_json(), "closed_at": closed_at(case),
    })


def get_case(conn: Connection, case_id: str) -> Case | None:
    document = conn.execute(select(cases.c.document).where(cases.c.id == case_id)).scalar_one_or_none()
    return Case.model_validate_json(document) if document else None


def committed(conn: Connection, case_id: str) -> CommittedCase | None:
    row = conn.execute(select(cases.c.id, cases.c.reference, cases.c.tenant_ars, cases.c.service_leika)
                       .where(cases.c.id == case_id)).first()
    return CommittedCase(id=row.id, reference=row.reference, tenant_ars=row.tenant_ars,
                         service_leika=row.service_leika) if row else None


def get_case_by_inbox(conn: Connection, inbox_id: str) -> Case | None:
    document = conn.execute(select(cases.c.document).where(cases.c.inbox_id == inbox_id)).scalar_one_or_none()
    return Case.model_validate_json(document) if document else None


def replace_case(conn: Connection, case: Case, expected_version: int) -> bool:
    """Optimistic concurrency: writes only if nobody changed the case since ``expected_version``."""
    result = conn.execute(
        update(cases)
        .where(cases.c.id == str(case.id), cases.c.version == expected_version)
        .values(status=case.status.value, version=case.version, document=case.model_dump_json(),
                closed_at=closed_at(case))
    )
    return result.rowcount == 1


@dataclass(frozen=True)
class CaseFilter:
    tenants: list[str] | None = None
    status: str | None = None
    service: str | None = None
    received_since: dt.datetime | None = None
    after_seq: int = 0
    limit: int = 50


def list_cases(conn: Connection, flt: CaseFilter) -> list[tuple[int, Case]]:
    query = select(cases.c.seq, cases.c.document).where(cases.c.seq > flt.after_seq)
    if flt.tenants is not None:
        query = query.where(cases.c.tenant_ars.in_(flt.tenants))
    if flt.status:
        query = query.where(cases.c.status == flt.status)
    if flt.service:
        query = query.where(cases.c.service_leika == flt.service)
    if flt.received_since:
        query = query.where(cases.c.received_at >= flt.received_since)
    rows = conn.execute(query.order_by(cases.c.seq).limit(flt.limit)).all()
    return [(int(seq), Case.model_validate_json(doc)) for seq, doc in rows]


def append_event(conn: Connection, event: dict[str, Any], case_id: str, tenant_ars: str,
                 time: dt.datetime) -> int:
    hold_feed_order(conn)
    return int(conn.execute(_INSERT_EVENT, {"id": event["id"], "type": event["type"], "case_id": case_id,
                                            "tenant_ars": tenant_ars, "time": time, "data": event}).scalar_one())


def events_after(conn: Connection, after: int, limit: int, tenants: list[str] | None) -> list[tuple[int, Any]]:
    query = select(events.c.seq, events.c.data).where(events.c.seq > after)
    if tenants is not None:
        query = query.where(events.c.tenant_ars.in_(tenants))
    return [(int(s), d) for s, d in conn.execute(query.order_by(events.c.seq).limit(limit)).all()]
