"""Statements that differ by dialect only in their spelling (upserts), built once.

Statements on the hot path are built once at import and executed with parameter
dictionaries: building a SQLAlchemy statement object per call costs more than running it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


def both(build: Any) -> dict[str, Any]:
    return {"sqlite": build(sqlite.insert), "postgresql": build(postgresql.insert)}


def insert_ignoring_conflicts(table: Table, returning: Column[Any]) -> dict[str, Any]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING: no row back tells a duplicate, without a
    savepoint (rowcount is not reliable for this statement under psycopg)."""
    return both(lambda dialect_insert: dialect_insert(table).on_conflict_do_nothing().returning(returning))


def for_connection(statements: dict[str, Any], conn: Connection) -> Any:
    return statements[conn.dialect.name]


class current_xid(FunctionElement[int]):  # noqa: N801 - an SQL function, named like one
    """The writing transaction's id, stored on every feed row (see :mod:`gateway.store.feed`).
    SQLite has one writer at a time, so its rows commit in ``seq`` order: 0 for all of them."""

    type = BigInteger()
    inherit_cache = True


class feed_horizon(FunctionElement[int]):  # noqa: N801
    """The lowest transaction id that may still be running: every transaction below it has
    committed or rolled back, so no row with a smaller ``xid`` can appear any more. Read from
    the statement's own snapshot (``pg_current_snapshot``). SQLite: no limit (serial writers)."""

    type = BigInteger()
    inherit_cache = True


@compiles(current_xid, "postgresql")
def _current_xid_pg(_element: current_xid, _compiler: Any, **_kw: Any) -> str:
    return "(pg_current_xact_id()::text::bigint)"


@compiles(current_xid, "sqlite")
def _current_xid_sqlite(_element: current_xid, _compiler: Any, **_kw: Any) -> str:
    return "0"


@compiles(feed_horizon, "postgresql")
def _feed_horizon_pg(_element: feed_horizon, _compiler: Any, **_kw: Any) -> str:
    return "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"


@compiles(feed_horizon, "sqlite")
def _feed_horizon_sqlite(_element: feed_horizon, _compiler: Any, **_kw: Any) -> str:
    return str(2**63 - 1)
