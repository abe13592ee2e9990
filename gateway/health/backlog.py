"""What waits for each adapter: open inbox entries per channel (a source's messages not yet
committed) and pending outbox rows per kind and target (acknowledgements, forwardings,
replies, webhooks), with the age of the oldest, the earliest scheduled retry and the dead
letters. Every query stays on the ``state`` indexes: cheap however many cases are done."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, case, func, select

from gateway.store.inbox_repo import OPEN_STATES
from gateway.store.outbox_repo import tenant_column
from gateway.store.tables import inbox, outbox


@dataclass(frozen=True)
class Backlog:
    waiting: int = 0
    oldest: dt.datetime | None = None
    next_retry_at: dt.datetime | None = None
    dead: int = 0

    def plus(self, other: Backlog) -> Backlog:
        return Backlog(waiting=self.waiting + other.waiting, oldest=_earliest(self.oldest, other.oldest),
                       next_retry_at=_earliest(self.next_retry_at, other.next_retry_at),
                       dead=self.dead + other.dead)


def _earliest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return min((t for t in (a, b) if t is not None), default=None)


def inbox_by_channel(conn: Connection, tenants: list[str] | None = None) -> dict[str, Backlog]:
    query = (select(inbox.c.channel, inbox.c.state, func.count(), func.min(inbox.c.received_at),
                    func.min(case((inbox.c.state == "retry", inbox.c.next_attempt_at))))
             .where(inbox.c.state.in_([*OPEN_STATES, "dead"])).group_by(inbox.c.channel, inbox.c.state))
    if tenants is not None:
        query = query.where(inbox.c.tenant_ars.in_(tenants))
    found: dict[str, Backlog] = {}
    for channel, state, count, oldest, retry in conn.execute(query).all():
        part = Backlog(dead=count) if state == "dead" else Backlog(waiting=count, oldest=oldest, next_retry_at=retry)
        found[channel] = found.get(channel, Backlog()).plus(part)
    return found


def outbox_by_target(conn: Connection, tenants: list[str] | None = None) -> dict[tuple[str, str], Backlog]:
    query = (select(outbox.c.kind, outbox.c.target, outbox.c.state, func.count(), func.min(outbox.c.created_at),
                    func.min(case((outbox.c.attempts > 0, outbox.c.next_attempt_at))))
             .where(outbox.c.state.in_(["pending", "dead"]))
             .group_by(outbox.c.kind, outbox.c.target, outbox.c.state))
    if tenants is not None:
        query = query.where(tenant_column().in_(tenants))
    found: dict[tuple[str, str], Backlog] = {}
    for kind, target, state, count, oldest, retry in conn.execute(query).all():
        part = Backlog(dead=count) if state == "dead" else Backlog(waiting=count, oldest=oldest, next_retry_at=retry)
        found[(kind, target)] = found.get((kind, target), Backlog()).plus(part)
    return found
