"""The adapter overview's read interface, and what fills it until the adapter health engine does.

:class:`AdapterHealthSource` is what the overview page reads: one :class:`AdapterHealthRow` per
adapter instance (an intake channel, a forwarding sender, a reply channel, a webhook). The
adapter health engine (``gateway/health``, ``GET /v1/admin/adapters``: circuit breakers, error
rates, lag) plugs in by implementing it and being passed to :func:`gateway.console.install`.

Until then :class:`StoreDerivedHealth` derives the rows from what the store already records:
open, retrying, quarantined and dead inbox entries per channel, pending and dead outbox rows per
target, the latest failure (problem type and title only, never personal data) and the latest
success (a message committed or acknowledged). Its state: ``down`` while dead letters wait (the
retries ran out), ``degraded`` while messages sit in quarantine or are being retried, else ``ok``.
It knows no circuit state and no next retry time (``None``): :class:`WithCircuits` adds those
from the adapter health engine (``gateway/health``, the circuit breaker around every call to an
adapter), which is what the console shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, func, select

from gateway.adapter_registry import Adapters
from gateway.config import WebhookConfig
from gateway.health.model import ACKNOWLEDGER, SENDER, SOURCE
from gateway.health.overview import AdapterStatus, HealthService
from gateway.store import outbox_repo
from gateway.store.db import Database
from gateway.store.tables import inbox

AdapterState = Literal["ok", "degraded", "down", "unknown"]
AdapterKind = Literal["channel", "sender", "reply_channel", "webhook"]


@dataclass(frozen=True)
class AdapterHealthRow:
    """The state of one adapter instance as the overview shows it. Texts hold no personal data."""

    name: str
    kind: AdapterKind
    state: AdapterState
    summary: str  # one German sentence: why this state
    backlog: int = 0  # messages or deliveries waiting to be worked on
    retrying: int = 0
    quarantined: int = 0
    dead: int = 0  # dead letters: messages whose intake retries ran out
    dead_deliveries: int = 0  # deliveries (acknowledgements, forwardings, webhooks) whose retries ran out
    last_success_at: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    circuit: str | None = None  # closed / open / half-open, where a circuit breaker guards the adapter
    next_retry_at: dt.datetime | None = None


class AdapterHealthSource(Protocol):
    """Reads the state of every adapter instance, counting only what ``tenants`` may see."""

    def adapter_health(self, tenants: Sequence[str]) -> list[AdapterHealthRow]: ...


FAILED_STATES = ("retry", "quarantined", "dead")
WAITING_STATES = ("received", "retry", "quarantined", "dead")


def _problem_text(error: Any) -> str | None:
    """``title (type slug)`` of a stored problem (its detail is left out: short, but free text)."""
    if isinstance(error, dict):
        slug = str(error.get("type", "")).rsplit("/", 1)[-1]
        title = str(error.get("title", "")) or slug
        return f"{title} ({slug})" if slug and slug != title else title
    if isinstance(error, str):
        return error.split(":", 1)[0][:120]  # an outbox error: "ExceptionName: detail"
    return None


class StoreDerivedHealth:
    """``outbox_kinds``: outbox row kind -> the kind of adapter that delivers it (the dispatcher's
    ``adapter_kinds``): an acknowledgement counts for its channel, a reply for its reply channel,
    a forwarding for its sender (shown with the channel of the same name), a webhook for itself."""

    def __init__(self, db: Database, adapters: Adapters, webhooks: Sequence[WebhookConfig],
                 outbox_kinds: Callable[[], Mapping[str, str]]) -> None:
        self.db, self.adapters, self.webhooks, self.outbox_kinds = db, adapters, list(webhooks), outbox_kinds

    def _console_kind(self, adapter_kind: str, name: str) -> str:
        if adapter_kind in (SOURCE, ACKNOWLEDGER) or (adapter_kind == SENDER and name in self.adapters.channels):
            return "channel"
        return adapter_kind

    def _names(self) -> list[tuple[str, AdapterKind]]:
        names: list[tuple[str, AdapterKind]] = [(n, "channel") for n in self.adapters.channels]
        names += [(n, "sender") for n in self.adapters.senders if n not in self.adapters.channels]
        names += [(n, "reply_channel") for n in self.adapters.reply_channels]
        names += [(w.name, "webhook") for w in self.webhooks]
        return names

    def adapter_health(self, tenants: Sequence[str]) -> list[AdapterHealthRow]:
        allowed = list(tenants)
        with self.db.reading() as conn:
            counts = {(c, s): int(n) for c, s, n in conn.execute(
                select(inbox.c.channel, inbox.c.state, func.count())
                .where(inbox.c.state.in_(WAITING_STATES), inbox.c.tenant_ars.in_(allowed))
                .group_by(inbox.c.channel, inbox.c.state)).all()}
            kinds = self.outbox_kinds()
            deliveries: dict[tuple[str, str, str], int] = {}
            for (row_kind, target, state), n in outbox_repo.count_by_target(conn, ["pending", "dead"], allowed).items():
                key = (self._console_kind(kinds.get(row_kind, row_kind), target), target, state)
                deliveries[key] = deliveries.get(key, 0) + n
            rows = [self._row(conn, name, kind, allowed, counts if kind == "channel" else {}, deliveries,
                              [k for k, a in kinds.items() if self._console_kind(a, name) == kind])
                    for name, kind in self._names()]
        return rows

    def _row(self, conn: Connection, name: str, kind: AdapterKind, tenants: list[str],
             counts: dict[tuple[str, str], int], deliveries: dict[tuple[str, str, str], int],
             row_kinds: list[str]) -> AdapterHealthRow:
        retrying = counts.get((name, "retry"), 0)
        quarantined = counts.get((name, "quarantined"), 0)
        dead, dead_deliveries = counts.get((name, "dead"), 0), deliveries.get((kind, name, "dead"), 0)
        backlog = counts.get((name, "received"), 0) + retrying + deliveries.get((kind, name, "pending"), 0)
        error, error_at = self._latest_failure(conn, name, tenants, kind == "channel", row_kinds)
        success = self._latest_success(conn, name, tenants) if kind == "channel" else None
        state: AdapterState
        if dead or dead_deliveries:
            state, summary = "down", f"{dead + dead_deliveries} unzustellbar: die Wiederholungen sind erschöpft"
        elif quarantined or retrying:
            parts = [f"{quarantined} in Quarantäne"] if quarantined else []
            parts += [f"{retrying} im erneuten Versuch"] if retrying else []
            state, summary = "degraded", ", ".join(parts)
        else:
            state, summary = "ok", "keine wartenden Fehler"
        return AdapterHealthRow(name=name, kind=kind, state=state, summary=summary, backlog=backlog,
                                retrying=retrying, quarantined=quarantined, dead=dead,
                                dead_deliveries=dead_deliveries, last_success_at=success,
                                last_error=error, last_error_at=error_at)

    @staticmethod
    def _latest_failure(conn: Connection, name: str, tenants: list[str], intake: bool, row_kinds: list[str]
                        ) -> tuple[str | None, dt.datetime | None]:
        found = conn.execute(
            select(inbox.c.last_error, inbox.c.updated_at)
            .where(inbox.c.channel == name, inbox.c.state.in_(FAILED_STATES), inbox.c.tenant_ars.in_(tenants))
            .order_by(inbox.c.updated_at.desc()).limit(1)).first() if intake else None
        dead = outbox_repo.list_state(conn, "dead", 1, tenants, target=name, newest_first=True,
                                      kinds=row_kinds) if row_kinds else []
        if dead and (found is None or dead[0].created_at > found.updated_at):
            return _problem_text(dead[0].last_error), None
        if found is None:
            return None, None
        return _problem_text(found.last_error), found.updated_at

    @staticmethod
    def _latest_success(conn: Connection, name: str, tenants: list[str]) -> dt.datetime | None:
        latest: dt.datetime | None = None
        for state in ("acknowledged", "committed"):  # one index range each, newest first
            at = conn.execute(select(inbox.c.updated_at)
                              .where(inbox.c.channel == name, inbox.c.state == state, inbox.c.tenant_ars.in_(tenants))
                              .order_by(inbox.c.updated_at.desc()).limit(1)).scalar_one_or_none()
            if at is not None and (latest is None or at > latest):
                latest = at
        return latest



_RANK: dict[str, int] = {"ok": 0, "unknown": 0, "degraded": 1, "down": 2}
_CIRCUIT_TEXT = {"open": "Verbindung unterbrochen: Aufrufe ruhen bis zum nächsten Versuch",
                 "half_open": "Verbindung wird erneut versucht"}


class WithCircuits:
    """The store's rows with the circuit, next retry and latest error of the adapter health engine
    (a source and an acknowledger are both the console's ``channel``): the worse state of the two
    counts, so a quarantined message and an open circuit both show."""

    def __init__(self, store: StoreDerivedHealth, health: HealthService) -> None:
        self.store, self.health = store, health

    def adapter_health(self, tenants: Sequence[str]) -> list[AdapterHealthRow]:
        engine: dict[tuple[str, str], list[AdapterStatus]] = {}
        for status in self.health.overview(list(tenants)):
            kind = "channel" if status.kind in (SOURCE, ACKNOWLEDGER) else status.kind
            engine.setdefault((status.name, kind), []).append(status)
        return [self._merged(row, engine.get((row.name, row.kind), [])) for row in self.store.adapter_health(tenants)]

    @staticmethod
    def _merged(row: AdapterHealthRow, statuses: list[AdapterStatus]) -> AdapterHealthRow:
        if not statuses:
            return row
        worst = max(statuses, key=lambda s: (_RANK.get(s.state, 0), s.circuit != "closed"))
        failed = [s for s in statuses if s.last_error is not None and s.last_error_at is not None]
        latest = max(failed, key=lambda s: s.last_error_at or dt.datetime.min.replace(tzinfo=dt.UTC), default=None)
        state, summary = row.state, row.summary
        if _RANK.get(worst.state, 0) > _RANK.get(row.state, 0):
            state = worst.state
            summary = _CIRCUIT_TEXT.get(worst.circuit, "Fehler bei den letzten Aufrufen")
        error, error_at = row.last_error, row.last_error_at
        if latest is not None and latest.last_error is not None and (
                error_at is None or (latest.last_error_at is not None and latest.last_error_at > error_at)):
            slug = latest.last_error.type.rsplit("/", 1)[-1]
            error, error_at = f"{latest.last_error.title} ({slug})", latest.last_error_at
        successes = [s.last_success_at for s in statuses if s.last_success_at is not None]
        success = max([*successes, *([row.last_success_at] if row.last_success_at else [])], default=None)
        return AdapterHealthRow(
            name=row.name, kind=row.kind, state=state, summary=summary, backlog=row.backlog, retrying=row.retrying,
            quarantined=row.quarantined, dead=row.dead, dead_deliveries=row.dead_deliveries,
            last_success_at=success, last_error=error, last_error_at=error_at, circuit=worst.circuit,
            next_retry_at=worst.retry_at)
