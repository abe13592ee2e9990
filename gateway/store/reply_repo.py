"""Replies, their deliveries and "send by post" tasks (gateway/replies): rows in and out."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gateway.store.tables import replies, reply_deliveries, reply_post_tasks


def _of(cls: Any, row: Mapping[Any, Any]) -> Any:
    return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class ReplyRow:
    id: str
    case_id: str
    tenant_ars: str
    kind: str
    title: str
    text: str
    status: str | None
    documents: list[dict[str, Any]]
    plan: list[str]
    explicit_channel: str | None
    client_id: str | None
    idempotency_key: str | None
    request_fingerprint: str
    created_by: str
    created_at: dt.datetime


@dataclass(frozen=True)
class DeliveryRow:
    id: str
    reply_id: str
    case_id: str
    tenant_ars: str
    channel: str
    recipient: str
    state: str
    remote_id: str | None
    detail: str | None
    problem: dict[str, Any] | None
    attempts: int
    outbox_id: int | None
    history: list[dict[str, Any]]
    follow_at: dt.datetime | None
    follow_round: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class PostTaskRow:
    id: str
    reply_id: str
    case_id: str
    tenant_ars: str
    state: str
    reason: dict[str, Any]
    note: str | None
    closed_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


def insert_reply(conn: Connection, row: ReplyRow) -> None:
    conn.execute(insert(replies).values(**dataclasses.asdict(row)))


def get_reply(conn: Connection, reply_id: str) -> ReplyRow | None:
    row = conn.execute(select(replies).where(replies.c.id == reply_id)).mappings().first()
    return _of(ReplyRow, row) if row else None


def reply_by_key(conn: Connection, client_id: str, idempotency_key: str) -> ReplyRow | None:
    row = conn.execute(select(replies).where(replies.c.client_id == client_id,
                                             replies.c.idempotency_key == idempotency_key)).mappings().first()
    return _of(ReplyRow, row) if row else None


def replies_of_case(conn: Connection, case_id: str) -> list[ReplyRow]:
    rows = conn.execute(select(replies).where(replies.c.case_id == case_id)
                        .order_by(replies.c.created_at, replies.c.id)).mappings().all()
    return [_of(ReplyRow, r) for r in rows]


def insert_delivery(conn: Connection, row: DeliveryRow) -> None:
    conn.execute(insert(reply_deliveries).values(**dataclasses.asdict(row)))


def get_delivery(conn: Connection, delivery_id: str) -> DeliveryRow | None:
    row = conn.execute(select(reply_deliveries).where(reply_deliveries.c.id == delivery_id)).mappings().first()
    return _of(DeliveryRow, row) if row else None


def deliveries_of(conn: Connection, reply_ids: list[str]) -> list[DeliveryRow]:
    if not reply_ids:
        return []
    rows = conn.execute(select(reply_deliveries).where(reply_deliveries.c.reply_id.in_(reply_ids))
                        .order_by(reply_deliveries.c.created_at, reply_deliveries.c.id)).mappings().all()
    return [_of(DeliveryRow, r) for r in rows]


def update_delivery(conn: Connection, delivery_id: str, **values: Any) -> None:
    conn.execute(update(reply_deliveries).where(reply_deliveries.c.id == delivery_id).values(**values))


def deliveries_in_state(conn: Connection, state: str, tenants: list[str] | None, limit: int) -> list[DeliveryRow]:
    query = select(reply_deliveries).where(reply_deliveries.c.state == state)
    if tenants is not None:
        query = query.where(reply_deliveries.c.tenant_ars.in_(tenants))
    rows = conn.execute(query.order_by(reply_deliveries.c.updated_at).limit(limit)).mappings().all()
    return [_of(DeliveryRow, r) for r in rows]


def claim_follow_due(conn: Connection, now: dt.datetime, lease_until: dt.datetime, limit: int) -> list[DeliveryRow]:
    """Deliveries whose remote state is due to be read again, each claimed by moving its
    ``follow_at`` to ``lease_until`` (a conditional update: one worker per delivery)."""
    due = conn.execute(select(reply_deliveries.c.id, reply_deliveries.c.follow_at)
                       .where(reply_deliveries.c.follow_at <= now)
                       .order_by(reply_deliveries.c.follow_at).limit(limit)).all()
    claimed = []
    for delivery_id, follow_at in due:
        row = conn.execute(update(reply_deliveries)
                           .where(reply_deliveries.c.id == delivery_id, reply_deliveries.c.follow_at == follow_at)
                           .values(follow_at=lease_until).returning(*reply_deliveries.c)).mappings().first()
        if row is not None:
            claimed.append(_of(DeliveryRow, row))
    return claimed


def insert_post_task(conn: Connection, row: PostTaskRow) -> None:
    conn.execute(insert(reply_post_tasks).values(**dataclasses.asdict(row)))


def get_post_task(conn: Connection, task_id: str) -> PostTaskRow | None:
    row = conn.execute(select(reply_post_tasks).where(reply_post_tasks.c.id == task_id)).mappings().first()
    return _of(PostTaskRow, row) if row else None


def post_tasks_of(conn: Connection, reply_ids: list[str]) -> list[PostTaskRow]:
    if not reply_ids:
        return []
    rows = conn.execute(select(reply_post_tasks).where(reply_post_tasks.c.reply_id.in_(reply_ids))).mappings().all()
    return [_of(PostTaskRow, r) for r in rows]


def list_post_tasks(conn: Connection, state: str, tenants: list[str] | None, limit: int) -> list[PostTaskRow]:
    query = select(reply_post_tasks).where(reply_post_tasks.c.state == state)
    if tenants is not None:
        query = query.where(reply_post_tasks.c.tenant_ars.in_(tenants))
    rows = conn.execute(query.order_by(reply_post_tasks.c.created_at).limit(limit)).mappings().all()
    return [_of(PostTaskRow, r) for r in rows]


def update_post_task(conn: Connection, task_id: str, expected_state: str, **values: Any) -> bool:
    result = conn.execute(update(reply_post_tasks).where(reply_post_tasks.c.id == task_id,
                                                         reply_post_tasks.c.state == expected_state).values(**values))
    return result.rowcount == 1
