"""Outbox: what must leave the gateway once a transaction has committed.

Rows are written in the same transaction as the case they belong to. A dispatcher
claims a due row with a conditional update (exclusive across processes), delivers
it, and marks it done; a crash leaves the lease to expire and the row is tried again,
so every handler must be idempotent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, String, bindparam, func, insert, or_, select, update

from gateway.logs import correlation
from gateway.store.tables import cases, inbox, outbox

# A row carries its message's correlation id (gateway.logs.correlation): the one given, else its
# inbox entry's, else its case's inbox entry's, else the one bound while the row is written — so
# every delivery of a case (acknowledgement, webhook, forwarding, reply) leads back to its message.
_CORRELATION = func.coalesce(
    bindparam("corr_given", type_=String()),
    select(inbox.c.correlation_id).where(inbox.c.id == bindparam("corr_inbox", type_=String()))
    .scalar_subquery(),
    select(inbox.c.correlation_id).join(cases, cases.c.inbox_id == inbox.c.id)
    .where(cases.c.id == bindparam("corr_case", type_=String())).scalar_subquery(),
    bindparam("corr_context", type_=String()))
_INSERT_OUTBOX = insert(outbox).values(correlation_id=_CORRELATION).returning(outbox.c.id)


@dataclass(frozen=True)
class OutboxRow:
    """One delivery owed to the outside: its ``kind`` names the handler (``webhook``, ``ack``,
    ``reject``, ``forward``, ...), ``target`` whom it goes to; ``state`` is ``pending``, ``done``,
    ``dead`` (the cap was reached: an admin revives or discards it) or ``discarded``. ``attempts`` counts claims and is
    the claim's token: only the latest claim may finish, retry or bury the row."""

    id: int
    kind: str
    target: str
    inbox_id: str | None
    case_id: str | None
    event_seq: int | None
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: dt.datetime
    lease_until: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
    done_at: dt.datetime | None
    correlation_id: str | None = None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> OutboxRow:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})


def add(conn: Connection, *, kind: str, target: str, payload: dict[str, Any], now: dt.datetime,
        inbox_id: str | None = None, case_id: str | None = None, event_seq: int | None = None,
        correlation_id: str | None = None) -> int:
    return int(conn.execute(_INSERT_OUTBOX, {
        "kind": kind, "target": target, "payload": payload, "state": "pending", "attempts": 0,
        "next_attempt_at": now, "created_at": now, "inbox_id": inbox_id, "case_id": case_id,
        "event_seq": event_seq, "lease_until": None, "last_error": None, "done_at": None,
        "corr_given": correlation_id, "corr_inbox": inbox_id, "corr_case": case_id,
        "corr_context": correlation.current()}).scalar_one())


_UNCLAIMED = or_(outbox.c.lease_until.is_(None), outbox.c.lease_until <= bindparam("now"))
_DUE = (outbox.c.state == "pending", outbox.c.next_attempt_at <= bindparam("now"), _UNCLAIMED)
_ANY_DUE = select(outbox.c.id).where(*_DUE).limit(1)
_CLAIM = (update(outbox).where(outbox.c.id == bindparam("row_id"), outbox.c.state == "pending", _UNCLAIMED)
          .values(lease_until=bindparam("lease"), attempts=outbox.c.attempts + 1).returning(*outbox.c))


def any_due(conn: Connection, now: dt.datetime) -> bool:
    """Whether a row is due (a read: the worker asks every round)."""
    return conn.execute(_ANY_DUE, {"now": now}).first() is not None


def claim_due(conn: Connection, now: dt.datetime, lease_until: dt.datetime, limit: int, *,
              kinds: Collection[str] | None = None, other_than: Collection[str] = (),
              skip_targets: Collection[str] = ()) -> list[OutboxRow]:
    """Claim up to ``limit`` due rows, oldest first: of ``kinds`` only (None: any kind), none of
    the kinds ``other_than``, none for ``skip_targets``."""
    where = list(_DUE)
    if kinds is not None:
        where.append(outbox.c.kind.in_(list(kinds)))
    if other_than:
        where.append(outbox.c.kind.not_in(list(other_than)))
    if skip_targets:
        where.append(outbox.c.target.not_in(list(skip_targets)))
    query = select(outbox.c.id).where(*where).order_by(outbox.c.id).limit(limit)
    candidates = conn.execute(query, {"now": now}).scalars().all()
    claimed = []
    for row_id in candidates:
        row = conn.execute(_CLAIM, {"row_id": row_id, "now": now, "lease": lease_until}).mappings().first()
        if row is not None:  # nobody claimed it between our look and our update
            claimed.append(OutboxRow.of(row))
    return claimed


# ``attempts`` is the claim token: each claim increments it, so a delivery whose lease ran out
# and was taken over by another worker can no longer finish, retry or bury the row.
_CLAIMED = (outbox.c.id == bindparam("row_id"), outbox.c.state == "pending",
            outbox.c.attempts == bindparam("token"))
_FINISH = update(outbox).where(*_CLAIMED).values(state="done", done_at=bindparam("now"), lease_until=None,
                                                 last_error=None)
_RETRY_LATER = update(outbox).where(*_CLAIMED).values(next_attempt_at=bindparam("when"), lease_until=None,
                                                      last_error=bindparam("error"))
_BURY = update(outbox).where(*_CLAIMED).values(state="dead", lease_until=None, last_error=bindparam("error"))
# the claim handed back uncounted: the token goes back too, so only a claim from before this one
# (long expired, whose delivery did happen) could still finish the row — which is then right
_RELEASE = update(outbox).where(*_CLAIMED).values(next_attempt_at=bindparam("when"), lease_until=None,
                                                  attempts=outbox.c.attempts - 1)


def finish(conn: Connection, row: OutboxRow, now: dt.datetime) -> bool:
    """Mark a delivered row done; False when this claim was taken over meanwhile."""
    return conn.execute(_FINISH, {"row_id": row.id, "token": row.attempts, "now": now}).rowcount == 1


def retry_later(conn: Connection, row: OutboxRow, when: dt.datetime, error: str) -> bool:
    return conn.execute(_RETRY_LATER, {"row_id": row.id, "token": row.attempts, "when": when,
                                       "error": error}).rowcount == 1


def bury(conn: Connection, row: OutboxRow, error: str) -> bool:
    return conn.execute(_BURY, {"row_id": row.id, "token": row.attempts, "error": error}).rowcount == 1


def release(conn: Connection, row: OutboxRow, until: dt.datetime) -> bool:
    """Hand a claimed row back untried (its adapter's circuit is open): due again at ``until``,
    the claim not counted as an attempt."""
    return conn.execute(_RELEASE, {"row_id": row.id, "token": row.attempts, "when": until}).rowcount == 1


def postpone(conn: Connection, kinds: list[str], target: str, until: dt.datetime, now: dt.datetime) -> int:
    """Move the pending, unclaimed rows of ``kinds`` to ``target`` that would be due before
    ``until`` to ``until`` (their adapter's circuit is open until then); attempts stay."""
    result = conn.execute(
        update(outbox).where(outbox.c.state == "pending", outbox.c.next_attempt_at < until,
                             outbox.c.kind.in_(kinds), outbox.c.target == target,
                             or_(outbox.c.lease_until.is_(None), outbox.c.lease_until <= now))
        .values(next_attempt_at=until))
    return int(result.rowcount or 0)


def get(conn: Connection, row_id: int) -> OutboxRow | None:
    row = conn.execute(select(outbox).where(outbox.c.id == row_id)).mappings().first()
    return OutboxRow.of(row) if row else None


def revive(conn: Connection, row_id: int, now: dt.datetime) -> bool:
    result = conn.execute(update(outbox).where(outbox.c.id == row_id, outbox.c.state == "dead")
                          .values(state="pending", attempts=0, next_attempt_at=now, last_error=None))
    return result.rowcount == 1


def discard(conn: Connection, row_id: int, now: dt.datetime) -> bool:
    """A dead delivery an admin gave up on: ``discarded`` (kept, never delivered or revived)."""
    result = conn.execute(update(outbox).where(outbox.c.id == row_id, outbox.c.state == "dead")
                          .values(state="discarded", done_at=now))
    return result.rowcount == 1


def tenant_column() -> Any:
    """The municipality an outbox row belongs to: its case's, else its inbox entry's."""
    return func.coalesce(
        select(cases.c.tenant_ars).where(cases.c.id == outbox.c.case_id).scalar_subquery(),
        select(inbox.c.tenant_ars).where(inbox.c.id == outbox.c.inbox_id).scalar_subquery())


def list_state(conn: Connection, state: str, limit: int = 100, tenants: list[str] | None = None, *,
               target: str | None = None, kinds: list[str] | None = None, newest_first: bool = False
               ) -> list[OutboxRow]:
    query = select(outbox).where(outbox.c.state == state)
    if kinds is not None:
        query = query.where(outbox.c.kind.in_(kinds))
    if tenants is not None:
        query = query.where(tenant_column().in_(tenants))
    if target is not None:
        query = query.where(outbox.c.target == target)
    rows = conn.execute(query.order_by(outbox.c.id.desc() if newest_first else outbox.c.id).limit(limit))
    return [OutboxRow.of(r) for r in rows.mappings().all()]


def count_by_target(conn: Connection, states: list[str], tenants: list[str] | None = None
                    ) -> dict[tuple[str, str, str], int]:
    """Rows per (kind, target, state) among ``states`` (pending and dead rows are few; done ones are
    not counted)."""
    query = select(outbox.c.kind, outbox.c.target, outbox.c.state, func.count()).where(outbox.c.state.in_(states))
    if tenants is not None:
        query = query.where(tenant_column().in_(tenants))
    grouped = query.group_by(outbox.c.kind, outbox.c.target, outbox.c.state)
    return {(k, t, s): int(n) for k, t, s, n in conn.execute(grouped).all()}


def tenant_of(conn: Connection, row_id: int) -> str | None:
    tenant: str | None = conn.execute(select(tenant_column()).where(outbox.c.id == row_id)).scalar_one_or_none()
    return tenant
