"""The ``adapter_health`` table: one row per adapter instance, shared by every process."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from gateway.health.model import AdapterKey, Breaker
from gateway.store import dialects
from gateway.store.tables import adapter_health

_FIELDS = tuple(f.name for f in dataclasses.fields(Breaker))
_INSERT = dialects.insert_ignoring_conflicts(adapter_health, adapter_health.c.kind)
_THIS = and_(adapter_health.c.kind == bindparam("k_kind"), adapter_health.c.name == bindparam("k_name"))
_GET = select(adapter_health).where(_THIS)
_GET_LOCKED = _GET.with_for_update()
_SAVE = update(adapter_health).where(_THIS).values({name: bindparam(name) for name in _FIELDS})
# the probe goes to whoever turns an open circuit (cool-down over) or an abandoned probe half-open first
_CLAIM_PROBE = update(adapter_health).where(_THIS, or_(
    and_(adapter_health.c.circuit == "open", adapter_health.c.retry_at <= bindparam("now")),
    and_(adapter_health.c.circuit == "half_open", adapter_health.c.probe_until <= bindparam("now")),
)).values(circuit="half_open", probe_until=bindparam("until"), updated_at=bindparam("now"))


def _breaker(row: Any) -> Breaker:
    return Breaker(**{name: row[name] for name in _FIELDS})


def _key(key: AdapterKey) -> dict[str, str]:
    return {"k_kind": key.kind, "k_name": key.name}


def load_all(conn: Connection) -> dict[AdapterKey, Breaker]:
    rows = conn.execute(select(adapter_health)).mappings().all()
    return {AdapterKey(row["kind"], row["name"]): _breaker(row) for row in rows}


def load(conn: Connection, key: AdapterKey) -> Breaker | None:
    row = conn.execute(_GET, _key(key)).mappings().first()
    return _breaker(row) if row is not None else None


def load_for_update(conn: Connection, key: AdapterKey, now: dt.datetime) -> Breaker:
    """The row, created if missing, locked until the transaction ends (PostgreSQL; SQLite's
    writers take turns anyway): read, change and save without losing another worker's update."""
    conn.execute(dialects.for_connection(_INSERT, conn),
                 {"kind": key.kind, "name": key.name, **dataclasses.asdict(Breaker.fresh(now))})
    row = conn.execute(_GET_LOCKED, _key(key)).mappings().one()
    return _breaker(row)


def save(conn: Connection, key: AdapterKey, state: Breaker) -> None:
    conn.execute(_SAVE, {**_key(key), **dataclasses.asdict(state)})


def claim_probe(conn: Connection, key: AdapterKey, now: dt.datetime, until: dt.datetime) -> bool:
    return conn.execute(_CLAIM_PROBE, {**_key(key), "now": now, "until": until}).rowcount == 1
