"""The console's case search: by reference, status, service and date of receipt, newest first,
paged by keyset (``received_at``, ``seq``) — never by offset, so page 1,000 costs what page 1
costs.

Fast at 100,000 cases and more because every query is one index range read from its newest end:
a reference is the unique index; otherwise the leading filter picks ``ix_cases_status_received``
(status), ``ix_cases_service_received`` (service) or ``ix_cases_received`` (neither), each
``(tenant_ars, <filter>, received_at, seq)``. An admin of several municipalities gets one such
query per municipality, each with the page's limit, merged here: a single ``tenant_ars IN (...)``
would make the database sort every match before it could return the first page. Only the
listed columns are read, never the case document (which holds personal data).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select, tuple_

from gateway.store.tables import cases

MAX_PAGE = 100


@dataclass(frozen=True)
class CaseQuery:
    tenants: Sequence[str]
    reference: str | None = None
    status: str | None = None
    service: str | None = None
    received_from: dt.datetime | None = None  # inclusive
    received_until: dt.datetime | None = None  # exclusive
    before_seq: int | None = None  # the last case of the previous page
    limit: int = 50


@dataclass(frozen=True)
class CaseHit:
    seq: int
    case_id: str
    reference: str
    tenant_ars: str
    service_leika: str
    status: str
    channel: str
    received_at: dt.datetime


_COLUMNS = (cases.c.seq, cases.c.id, cases.c.reference, cases.c.tenant_ars, cases.c.service_leika, cases.c.status,
            cases.c.channel, cases.c.received_at)


def _hit(row: Sequence[object]) -> CaseHit:
    seq, case_id, reference, tenant, service, status, channel, received = row
    assert isinstance(received, dt.datetime)
    return CaseHit(seq=int(str(seq)), case_id=str(case_id), reference=str(reference), tenant_ars=str(tenant),
                   service_leika=str(service), status=str(status), channel=str(channel), received_at=received)


def _cursor(conn: Connection, before_seq: int | None, tenants: Sequence[str]) -> tuple[dt.datetime, int] | None:
    if before_seq is None:
        return None
    received = conn.execute(select(cases.c.received_at).where(cases.c.seq == before_seq,
                                                              cases.c.tenant_ars.in_(list(tenants)))
                            ).scalar_one_or_none()
    return (received, before_seq) if received is not None else None


def search(conn: Connection, query: CaseQuery) -> tuple[list[CaseHit], int | None]:
    """One page of hits and the ``before_seq`` of the next page (None: this is the last)."""
    limit = max(1, min(query.limit, MAX_PAGE))
    if query.reference:
        row = conn.execute(select(*_COLUMNS).where(cases.c.reference == query.reference,
                                                   cases.c.tenant_ars.in_(list(query.tenants)))).first()
        return ([_hit(row)] if row is not None else []), None
    cursor = _cursor(conn, query.before_seq, query.tenants)
    if query.before_seq is not None and cursor is None:
        return [], None
    per_tenant = [_tenant_page(conn, query, tenant, cursor, limit + 1) for tenant in sorted(set(query.tenants))]
    merged = list(heapq.merge(*per_tenant, key=lambda h: (h.received_at, h.seq), reverse=True))
    page = merged[:limit]
    return page, (page[-1].seq if len(merged) > limit else None)


def _tenant_page(conn: Connection, query: CaseQuery, tenant: str, cursor: tuple[dt.datetime, int] | None,
                 limit: int) -> list[CaseHit]:
    stmt = select(*_COLUMNS).where(cases.c.tenant_ars == tenant)
    if query.status:
        stmt = stmt.where(cases.c.status == query.status)
    if query.service:
        stmt = stmt.where(cases.c.service_leika == query.service)
    if query.received_from is not None:
        stmt = stmt.where(cases.c.received_at >= query.received_from)
    if query.received_until is not None:
        stmt = stmt.where(cases.c.received_at < query.received_until)
    if cursor is not None:
        after = tuple_(bindparam("cursor_at", cursor[0], type_=cases.c.received_at.type),
                       bindparam("cursor_seq", cursor[1], type_=cases.c.seq.type))
        stmt = stmt.where(tuple_(cases.c.received_at, cases.c.seq) < after)
    stmt = stmt.order_by(cases.c.received_at.desc(), cases.c.seq.desc()).limit(limit)
    return [_hit(row) for row in conn.execute(stmt).all()]
