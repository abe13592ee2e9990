"""Statements that differ by dialect only in their spelling (upserts), built once.

Statements on the hot path are built once at import and executed with parameter
dictionaries: building a SQLAlchemy statement object per call costs more than running it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def both(build: Any) -> dict[str, Any]:
    return {"sqlite": build(sqlite.insert), "postgresql": build(postgresql.insert)}


def insert_ignoring_conflicts(table: Table, returning: Column[Any]) -> dict[str, Any]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING: no row back tells a duplicate, without a
    savepoint (rowcount is not reliable for this statement under psycopg)."""
    return both(lambda dialect_insert: dialect_insert(table).on_conflict_do_nothing().returning(returning))


def for_connection(statements: dict[str, Any], conn: Connection) -> Any:
    return statements[conn.dialect.name]
