"""Inbox: every message exactly as received, its processing state and checkpoints."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from gateway.ports import BlobStore, InboundMessage
from gateway.store import dialects
from gateway.store.tables import inbox, step_results

OPEN_STATES = ("received", "retry")
WAITING_STATES = ("quarantined", "dead")  # an admin replays or discards them


@dataclass(frozen=True)
class InboxRow:
    """One inbox entry: a message as received (its raw original is the blob ``raw_key``) and where
    its intake stands — ``received``/``retry`` (open), ``committed``, ``acknowledged``,
    ``quarantined`` or ``dead`` (both wait for an admin: replay or discard), ``discarded`` (an
    admin decided it is not to be taken in; kept, never replayed). ``original_purged_at``: the
    retention deleted the raw original (the row stays, with its ids, state and reason)."""

    id: str
    channel: str
    source_id: str
    tenant_ars: str | None
    client_id: str | None
    idempotency_key: str | None
    request_fingerprint: str | None
    received_at: dt.datetime
    media_type: str
    raw_key: str
    raw_sha512: str
    raw_size: int
    references: dict[str, str]
    part_keys: list[str] | None
    state: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: dict[str, Any] | None
    case_id: str | None
    updated_at: dt.datetime
    correlation_id: str | None = None  # follows the message into logs and outbox rows (gateway.logs)
    # the retention deleted the raw original (and the parts and checkpoints): nothing to show or replay
    original_purged_at: dt.datetime | None = None

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def purged(self) -> bool:
        return self.original_purged_at is not None

    @property
    def replayable(self) -> bool:
        """Waiting for an admin (quarantined or dead) and still holding its original."""
        return self.state in WAITING_STATES and not self.purged

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> InboxRow:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})

    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


_INSERT = dialects.insert_ignoring_conflicts(inbox, inbox.c.id)
_INSERT_STEP = dialects.insert_ignoring_conflicts(step_results, step_results.c.step)


def insert_entry(conn: Connection, row: InboxRow) -> bool:
    """Insert unless the same source message or idempotency key is already there (False then)."""
    return conn.execute(dialects.for_connection(_INSERT, conn), row.values()).first() is not None


def find(conn: Connection, *, channel: str | None = None, source_id: str | None = None,
         client_id: str | None = None, idempotency_key: str | None = None) -> InboxRow | None:
    clauses = []
    if channel is not None and source_id is not None:
        clauses.append(and_(inbox.c.channel == channel, inbox.c.source_id == source_id))
    if client_id is not None and idempotency_key is not None:
        clauses.append(and_(inbox.c.client_id == client_id, inbox.c.idempotency_key == idempotency_key))
    if not clauses:
        return None
    row = conn.execute(select(inbox).where(or_(*clauses)).limit(1)).mappings().first()
    return InboxRow.of(row) if row else None


# Statements of the intake's hot path are built once: SQLAlchemy then only binds parameters
# (building an expression per call costs more than SQLite running it).
_GET = select(inbox).where(inbox.c.id == bindparam("inbox_id"))
_GET_LOCKED = _GET.with_for_update()
_LOAD_STEP = select(step_results.c.result).where(step_results.c.inbox_id == bindparam("inbox_id"),
                                                 step_results.c.step == bindparam("step"))
_COMMIT_OPEN = (update(inbox).where(inbox.c.id == bindparam("inbox_id"), inbox.c.state.in_(OPEN_STATES))
                .values(state="committed", case_id=bindparam("case_id"), last_error=None, next_attempt_at=None,
                        updated_at=bindparam("now")))
_MARK_ACKNOWLEDGED = (update(inbox).where(inbox.c.id == bindparam("inbox_id"))
                      .values(state="acknowledged", updated_at=bindparam("now")))


def get(conn: Connection, inbox_id: str, lock: bool = False) -> InboxRow | None:
    """With ``lock`` the row stays locked until commit (PostgreSQL; SQLite writers are serial anyway)."""
    row = conn.execute(_GET_LOCKED if lock else _GET, {"inbox_id": inbox_id}).mappings().first()
    return InboxRow.of(row) if row else None


def message_of(row: InboxRow, blobs: BlobStore) -> InboundMessage:
    """The message as it was received, rebuilt from its inbox row and the kept raw original."""
    return InboundMessage(channel=row.channel, source_id=row.source_id, payload=blobs.get(row.raw_key),
                          media_type=row.media_type, received_at=row.received_at, tenant_ars=row.tenant_ars,
                          references=row.references, idempotency_key=row.idempotency_key, client_id=row.client_id,
                          parts=tuple(row.part_keys or ()))


def set_state(conn: Connection, inbox_id: str, now: dt.datetime, **values: Any) -> None:
    conn.execute(update(inbox).where(inbox.c.id == inbox_id).values(updated_at=now, **values))


def commit_open(conn: Connection, inbox_id: str, case_id: str, now: dt.datetime) -> bool:
    """Mark an open entry committed to ``case_id``; False when it is no longer open (another
    worker finished it). On PostgreSQL the update holds the row lock until commit."""
    result = conn.execute(_COMMIT_OPEN, {"inbox_id": inbox_id, "case_id": case_id, "now": now})
    return result.rowcount == 1


def mark_acknowledged(conn: Connection, inbox_id: str, now: dt.datetime) -> None:
    conn.execute(_MARK_ACKNOWLEDGED, {"inbox_id": inbox_id, "now": now})


_DUE = and_(inbox.c.state.in_(OPEN_STATES), inbox.c.next_attempt_at <= bindparam("now"))
_ANY_DUE = select(inbox.c.id).where(_DUE).limit(1)
_DUE_IDS = select(inbox.c.id).where(_DUE).order_by(inbox.c.next_attempt_at).limit(bindparam("limit"))
_CLAIM_DUE = update(inbox).where(inbox.c.id == bindparam("inbox_id"), _DUE).values(next_attempt_at=bindparam("lease"))


def any_due(conn: Connection, now: dt.datetime) -> bool:
    """Whether an open entry's time has come (a read: the worker asks every round)."""
    return conn.execute(_ANY_DUE, {"now": now}).first() is not None


def claim_due(conn: Connection, now: dt.datetime, lease_until: dt.datetime, limit: int) -> list[str]:
    """Claim open entries whose time has come; the conditional update makes a claim exclusive."""
    due = conn.execute(_DUE_IDS, {"now": now, "limit": limit}).scalars().all()
    claimed = []
    for inbox_id in due:
        result = conn.execute(_CLAIM_DUE, {"inbox_id": inbox_id, "now": now, "lease": lease_until})
        if result.rowcount == 1:
            claimed.append(inbox_id)
    return claimed


def list_by_state(conn: Connection, states: Sequence[str], limit: int = 100,
                  tenants: list[str] | None = None) -> list[InboxRow]:
    query = select(inbox).where(inbox.c.state.in_(states))
    if tenants is not None:
        query = query.where(inbox.c.tenant_ars.in_(tenants))
    rows = conn.execute(query.order_by(inbox.c.updated_at).limit(limit)).mappings().all()
    return [InboxRow.of(r) for r in rows]


def load_step(conn: Connection, inbox_id: str, step: str) -> Any | None:
    return conn.execute(_LOAD_STEP, {"inbox_id": inbox_id, "step": step}).scalar_one_or_none()


def save_step(conn: Connection, inbox_id: str, step: str, result: Any, now: dt.datetime) -> None:
    # on a conflict another worker checkpointed the same step first: its result is as good as ours
    conn.execute(dialects.for_connection(_INSERT_STEP, conn),
                 {"inbox_id": inbox_id, "step": step, "result": result, "at": now})
