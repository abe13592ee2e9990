"""The gateway database as a small key-value store for adapters (the StateStore port)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, delete, select

from gateway.store import dialects
from gateway.store.db import Database
from gateway.store.tables import adapter_state

_UPSERT = dialects.both(lambda dialect_insert: (
    lambda stmt: stmt.on_conflict_do_update(
        index_elements=["namespace", "key"],
        set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at,
              "updated_at": stmt.excluded.updated_at}))(dialect_insert(adapter_state)))
_ADD = dialects.insert_ignoring_conflicts(adapter_state, adapter_state.c.key)
# built once: ``add`` runs for every FIT-Connect callback (its replay check)
_DELETE_EXPIRED_KEY = delete(adapter_state).where(
    adapter_state.c.namespace == bindparam("ns"), adapter_state.c.key == bindparam("k"),
    adapter_state.c.expires_at.is_not(None), adapter_state.c.expires_at <= bindparam("now"))


class SqlStateStore:
    def __init__(self, db: Database, clock: Callable[[], dt.datetime]) -> None:
        self._db = db
        self._clock = clock

    def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        with self._db.reading() as conn:
            row = conn.execute(select(adapter_state.c.value, adapter_state.c.expires_at).where(
                adapter_state.c.namespace == namespace, adapter_state.c.key == key)).first()
        if row is None or (row.expires_at is not None and row.expires_at <= self._clock()):
            return None
        value: dict[str, Any] = row.value
        return value

    def put(self, namespace: str, key: str, value: dict[str, Any], ttl_seconds: float | None = None) -> None:
        now = self._clock()
        expires = now + dt.timedelta(seconds=ttl_seconds) if ttl_seconds is not None else None
        with self._db.transaction() as uow:
            uow.conn.execute(dialects.for_connection(_UPSERT, uow.conn), {
                "namespace": namespace, "key": key, "value": value, "expires_at": expires, "updated_at": now})

    def scan(self, namespace: str, prefix: str) -> list[tuple[str, dict[str, Any]]]:
        """The live entries of ``namespace`` whose key starts with ``prefix``."""
        now = self._clock()
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self._db.reading() as conn:
            rows = conn.execute(select(adapter_state.c.key, adapter_state.c.value).where(
                adapter_state.c.namespace == namespace, adapter_state.c.key.like(escaped + "%", escape="\\"),
                (adapter_state.c.expires_at.is_(None)) | (adapter_state.c.expires_at > now))).all()
        return [(row.key, row.value) for row in rows]

    def delete(self, namespace: str, key: str) -> None:
        with self._db.transaction() as uow:
            uow.conn.execute(delete(adapter_state).where(adapter_state.c.namespace == namespace,
                                                         adapter_state.c.key == key))

    def add(self, namespace: str, key: str, value: dict[str, Any], ttl_seconds: float | None = None) -> bool:
        now = self._clock()
        expires = now + dt.timedelta(seconds=ttl_seconds) if ttl_seconds is not None else None
        with self._db.transaction() as uow:
            # an expired entry no longer counts: remove it so the insert can take its place
            uow.conn.execute(_DELETE_EXPIRED_KEY, {"ns": namespace, "k": key, "now": now})
            inserted = uow.conn.execute(dialects.for_connection(_ADD, uow.conn), {
                "namespace": namespace, "key": key, "value": value, "expires_at": expires,
                "updated_at": now}).first()
        return inserted is not None

    def purge_expired(self) -> int:
        """Entries with a time to live (e.g. seen callback signatures) are deleted once expired."""
        with self._db.transaction() as uow:
            result = uow.conn.execute(delete(adapter_state).where(
                adapter_state.c.expires_at.is_not(None), adapter_state.c.expires_at <= self._clock()))
        return int(result.rowcount or 0)
