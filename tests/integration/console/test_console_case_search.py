"""The console's case search: filters, newest-first keyset paging, several municipalities merged,
and query plans that read one index range (no sort of all matches) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import insert

from gateway.console import case_search
from gateway.console.case_search import CaseQuery
from gateway.migrations import upgrade
from gateway.store.tables import cases
from tests.conftest import OTHER_TENANT, TENANT

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HUND, GEWERBE = "99108008001000", "99050012104000"


def _rows(count: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        tenant = OTHER_TENANT if n % 4 == 3 else TENANT
        rows.append({"id": str(uuid.uuid4()), "inbox_id": str(uuid.uuid4()), "tenant_ars": tenant,
                     "reference": f"{'ZWG' if tenant == OTHER_TENANT else 'TGH'}-2026-{n:06d}",
                     "service_leika": HUND if n % 2 else GEWERBE, "channel": "portal",
                     "status": "received" if n % 3 else "closed", "routing_queue": "q",
                     # received one hour apart, but the seq order differs from it now and then
                     "received_at": START + dt.timedelta(hours=n if n % 10 else n - 5), "version": 1, "document": "{}"})
    return rows


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path / 'search.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    upgrade(url)
    created = sa.create_engine(url)
    with created.begin() as conn:
        conn.execute(insert(cases), _rows(300))
    yield created
    created.dispose()


def _expected(rows: list[dict[str, Any]], keep: Any) -> list[str]:
    chosen = [r for r in rows if keep(r)]
    chosen.sort(key=lambda r: (r["received_at"], rows.index(r)), reverse=True)
    return [str(r["reference"]) for r in chosen]


def _all_pages(conn: sa.Connection, query: CaseQuery) -> list[str]:
    found: list[str] = []
    before = None
    for _ in range(100):
        hits, before = case_search.search(conn, CaseQuery(**{**query.__dict__, "before_seq": before}))
        found += [h.reference for h in hits]
        if before is None:
            return found
    raise AssertionError("paging did not end")


PAGED = [
    ("all of one", CaseQuery(tenants=[TENANT], limit=17), lambda r: r["tenant_ars"] == TENANT),
    ("two merged", CaseQuery(tenants=[TENANT, OTHER_TENANT], limit=23), lambda r: True),
    ("status", CaseQuery(tenants=[TENANT, OTHER_TENANT], status="closed", limit=9),
     lambda r: r["status"] == "closed"),
    ("service and dates", CaseQuery(tenants=[TENANT], service=HUND, received_from=START + dt.timedelta(hours=50),
                                    received_until=START + dt.timedelta(hours=120), limit=5),
     lambda r: r["tenant_ars"] == TENANT and r["service_leika"] == HUND
     and START + dt.timedelta(hours=50) <= r["received_at"] < START + dt.timedelta(hours=120)),
]


def test_every_page_in_order_and_nothing_twice(engine: sa.Engine) -> None:
    rows = _rows(300)
    with engine.connect() as conn:
        for name, query, keep in PAGED:
            assert _all_pages(conn, query) == _expected(rows, keep), name


def test_a_reference_is_found_only_within_the_admins_municipalities(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        hits, more = case_search.search(conn, CaseQuery(tenants=[OTHER_TENANT], reference="ZWG-2026-000003"))
        assert [h.reference for h in hits] == ["ZWG-2026-000003"] and more is None
        assert case_search.search(conn, CaseQuery(tenants=[TENANT], reference="ZWG-2026-000003"))[0] == []
        # a cursor of another municipality's case opens nothing
        assert case_search.search(conn, CaseQuery(tenants=[TENANT], before_seq=hits[0].seq))[0] == []


QUERIES = {
    "newest": CaseQuery(tenants=[TENANT]),
    "status": CaseQuery(tenants=[TENANT], status="closed"),
    "service": CaseQuery(tenants=[TENANT], service=HUND),
    "status and service": CaseQuery(tenants=[TENANT], status="closed", service=HUND),
    "dates": CaseQuery(tenants=[TENANT], received_from=START, received_until=START + dt.timedelta(days=3)),
    "next page": CaseQuery(tenants=[TENANT], status="received", before_seq=201),  # seq 201: the 200th row, ours
}


def _statement(conn: sa.Connection, query: CaseQuery) -> tuple[str, object]:
    """The SQL and the parameters the search runs for its one municipality."""
    captured: list[tuple[str, object]] = []

    def capture(conn: object, cursor: object, statement: str, parameters: object, context: object,
                executemany: bool) -> None:
        if "FROM cases" in statement and "ORDER BY" in statement:
            captured.append((statement, parameters))

    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        case_search.search(conn, query)
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    assert len(captured) == 1
    return captured[0]


def test_the_search_reads_an_index_range_without_sorting(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # the table is small: ask what it could do
        for name, query in QUERIES.items():
            statement, params = _statement(conn, query)
            if engine.dialect.name == "sqlite":
                plan = " | ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
                assert "USING INDEX ix_cases_" in plan or "USING COVERING INDEX ix_cases_" in plan, (name, plan)
                assert "TEMP B-TREE" not in plan, (name, plan)
            else:
                plan = " | ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))
                assert "Index Scan" in plan and "ix_cases_" in plan, (name, plan)
                assert "Sort" not in plan, (name, plan)
