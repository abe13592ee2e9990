"""Cases sent on to other authorities, with the last remote status seen."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from gateway.store.tables import forwardings

FINAL_STATES = ("accepted", "rejected", "delivered", "failed")


def get(conn: Connection, case_id: str, channel: str, target: str) -> dict[str, Any] | None:
    row = conn.execute(select(forwardings).where(
        forwardings.c.case_id == case_id, forwardings.c.channel == channel, forwardings.c.target == target
    )).mappings().first()
    return dict(row) if row else None


def upsert(conn: Connection, *, case_id: str, channel: str, target: str, remote_id: str | None, status: str,
           now: dt.datetime) -> None:
    if get(conn, case_id, channel, target) is None:
        conn.execute(insert(forwardings).values(case_id=case_id, channel=channel, target=target,
                                                remote_id=remote_id, status=status, updated_at=now))
    else:
        conn.execute(update(forwardings).where(
            forwardings.c.case_id == case_id, forwardings.c.channel == channel, forwardings.c.target == target
        ).values(remote_id=remote_id, status=status, updated_at=now))


def for_case(conn: Connection, case_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(forwardings).where(forwardings.c.case_id == case_id)).mappings().all()
    return [dict(r) for r in rows]


# built once: the worker asks every round
_OPEN = (select(forwardings).where(forwardings.c.status.not_in(FINAL_STATES), forwardings.c.remote_id.is_not(None))
         .order_by(forwardings.c.updated_at).limit(bindparam("limit")))


def open_ones(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(_OPEN, {"limit": limit}).mappings().all()
    return [dict(r) for r in rows]
