"""Cases: the committed documents, their reference numbers and the event log.

The case list and the event log are feeds a client pages through with a cursor, so a row that
commits late must never fall behind a cursor already handed out. PostgreSQL numbers rows
(``seq``) at INSERT but shows them at COMMIT, in any order; instead of serialising the writers,
each feed row carries its writing transaction's id (``xid``) and a reader hands out only rows
below the *horizon*, the lowest transaction id its snapshot still sees running, ordered by
``(xid, seq)``. Every transaction below the horizon has ended, so all its rows are visible and
final; a row that appears later belongs to a transaction at or above the horizon, hence after
every position handed out so far. (``seq`` alone would not do: a transaction with a larger xid
may take a smaller ``seq``.) A long-running transaction on the server holds the horizon back:
the feeds then lag, they do not skip. SQLite writes one transaction at a time (``xid`` 0, no
horizon), so its order is ``seq``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, insert, select, tuple_, update

from gateway.case.model import Case
from gateway.ports import CommittedCase
from gateway.store import dialects
from gateway.store.db import Database
from gateway.store.tables import cases, events, reference_counters

# One upsert: concurrent first cases of a tenant and year must not race on the INSERT.
_NEXT_REFERENCE = dialects.both(lambda dialect_insert: dialect_insert(reference_counters)
                                 .on_conflict_do_update(index_elements=["tenant_ars", "year"],
                                                        set_={"last": reference_counters.c.last + 1})
                                 .returning(reference_counters.c.last))
_INSERT_CASE = insert(cases).values(xid=dialects.current_xid())
_INSERT_EVENT = insert(events).values(xid=dialects.current_xid()).returning(events.c.seq)

Position = tuple[int, int]  # (xid, seq): where a feed reader stands
START: Position = (0, 0)


def draw_reference(db: Database, tenant_ars: str, prefix: str, year: int) -> str:
    """The next reference number of a municipality and year, committed before the case that
    will carry it: the counter's row is locked for that one statement only, so the case
    creations of one municipality do not queue behind each other's commits. A number whose case
    then does not commit (a crash, a repeat found at the commit) stays unused: the numbers are
    unique and ascending in the order they are drawn, with gaps."""
    with db.single_statements() as conn:
        number = conn.execute(dialects.for_connection(_NEXT_REFERENCE, conn),
                              {"tenant_ars": tenant_ars, "year": year, "last": 1}).scalar_one()
    return f"{prefix}-{year}-{number:06d}"


FINAL_STATUSES = frozenset({"closed", "withdrawn"})


def closed_at(case: Case) -> dt.datetime | None:
    """When the case reached a final status (its retention period runs from there)."""
    if case.status.value not in FINAL_STATUSES:
        return None
    return case.status_history[-1].at if case.status_history else case.received_at


def insert_case(conn: Connection, case: Case, inbox_id: str) -> None:
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
    after: Position = START
    limit: int = 50


def _settled_after(table: Table, after: Position) -> Any:
    """The feed's condition: past the cursor and below the horizon (see the module docstring)."""
    return (tuple_(table.c.xid, table.c.seq) > tuple_(*after)) & (table.c.xid < dialects.feed_horizon())


def case_position(conn: Connection, xid: int | None, seq: int) -> Position:
    return _position(conn, cases, xid, seq)


def event_position(conn: Connection, xid: int | None, seq: int) -> Position:
    return _position(conn, events, xid, seq)


def _position(conn: Connection, table: Table, xid: int | None, seq: int) -> Position:
    """A cursor's position; ``xid`` None (an earlier version's cursor, ``seq`` only): the position
    of the newest row at or before ``seq``."""
    if xid is not None:
        return (xid, seq)
    row = conn.execute(select(table.c.xid, table.c.seq).where(table.c.seq <= seq)
                       .order_by(table.c.seq.desc()).limit(1)).first()
    return (int(row.xid), int(row.seq)) if row else START


def list_cases(conn: Connection, flt: CaseFilter) -> list[tuple[Position, Case]]:
    query = select(cases.c.xid, cases.c.seq, cases.c.document).where(_settled_after(cases, flt.after))
    if flt.tenants is not None:
        query = query.where(cases.c.tenant_ars.in_(flt.tenants))
    if flt.status:
        query = query.where(cases.c.status == flt.status)
    if flt.service:
        query = query.where(cases.c.service_leika == flt.service)
    if flt.received_since:
        query = query.where(cases.c.received_at >= flt.received_since)
    rows = conn.execute(query.order_by(cases.c.xid, cases.c.seq).limit(flt.limit)).all()
    return [((int(xid), int(seq)), Case.model_validate_json(doc)) for xid, seq, doc in rows]


def append_event(conn: Connection, event: dict[str, Any], case_id: str, tenant_ars: str,
                 time: dt.datetime) -> int:
    return int(conn.execute(_INSERT_EVENT, {"id": event["id"], "type": event["type"], "case_id": case_id,
                                            "tenant_ars": tenant_ars, "time": time, "data": event}).scalar_one())


def events_after(conn: Connection, after: Position, limit: int,
                 tenants: list[str] | None) -> list[tuple[Position, Any]]:
    query = select(events.c.xid, events.c.seq, events.c.data).where(_settled_after(events, after))
    if tenants is not None:
        query = query.where(events.c.tenant_ars.in_(tenants))
    rows = conn.execute(query.order_by(events.c.xid, events.c.seq).limit(limit)).all()
    return [((int(x), int(s)), d) for x, s, d in rows]
