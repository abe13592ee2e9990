"""The read side of adapter health: one :class:`AdapterStatus` per adapter instance, from the
breakers the workers recorded and the backlog in the store. ``GET /v1/admin/adapters``, the
metrics and the admin console all read it through :meth:`HealthService.overview`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.adapter_registry import Adapters
from gateway.config import HealthSettings, WebhookConfig
from gateway.health import backlog, breaker, store
from gateway.health.backlog import Backlog
from gateway.health.model import (
    ACKNOWLEDGER,
    REPLY_CHANNEL,
    SENDER,
    SOURCE,
    WEBHOOK,
    AdapterKey,
    Breaker,
    Circuit,
    ErrorSummary,
    State,
)
from gateway.ports import Acknowledger
from gateway.store.db import Database

MIN_CALLS_FOR_RATE = 4  # fewer calls in the window say nothing about an error rate


@dataclass(frozen=True)
class AdapterStatus:
    """How one adapter instance is doing. Times are UTC; ``lag_seconds`` is the age of the oldest
    waiting message or delivery; ``retry_at`` the next retry (an open circuit's probe, else the
    earliest scheduled retry of its waiting work)."""

    kind: str
    name: str
    state: State
    circuit: Circuit
    consecutive_failures: int
    last_success_at: dt.datetime | None
    last_error: ErrorSummary | None
    last_error_at: dt.datetime | None
    error_rate: float
    calls: int
    backlog: int
    lag_seconds: float | None
    dead_letters: int
    retry_at: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        def when(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {"kind": self.kind, "name": self.name, "state": self.state, "circuit": self.circuit,
                "consecutive_failures": self.consecutive_failures, "last_success_at": when(self.last_success_at),
                "last_error": None if self.last_error is None else {
                    "type": self.last_error.type, "title": self.last_error.title, "at": when(self.last_error_at)},
                "error_rate": round(self.error_rate, 4), "calls": self.calls, "backlog": self.backlog,
                "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
                "dead_letters": self.dead_letters, "retry_at": when(self.retry_at)}


class HealthService:
    """``outbox_kinds``: outbox row kind -> the kind of adapter its handler calls (``ack`` and
    ``reject`` -> acknowledger, ``forward`` -> sender, ``webhook`` -> webhook, ...), asked at
    every overview (handlers may be added after start-up)."""

    def __init__(self, *, db: Database, adapters: Adapters, webhooks: list[WebhookConfig], settings: HealthSettings,
                 outbox_kinds: Callable[[], Mapping[str, str]], clock: Callable[[], dt.datetime]) -> None:
        self.db, self.adapters, self.webhooks, self.settings = db, adapters, webhooks, settings
        self.outbox_kinds, self.clock = outbox_kinds, clock

    def instances(self, tenants: list[str] | None = None) -> list[AdapterKey]:
        """Every adapter instance the core calls; webhooks only if they serve one of ``tenants``."""
        keys = [AdapterKey(SOURCE, name) for name in self.adapters.sources]
        keys += [AdapterKey(ACKNOWLEDGER, name) for name, channel in self.adapters.channels.items()
                 if isinstance(channel, Acknowledger)]
        keys += [AdapterKey(SENDER, name) for name in self.adapters.senders]
        keys += [AdapterKey(REPLY_CHANNEL, name) for name in self.adapters.reply_channels]
        keys += [AdapterKey(WEBHOOK, hook.name) for hook in self.webhooks
                 if tenants is None or hook.tenants is None or set(hook.tenants) & set(tenants)]
        return keys

    def overview(self, tenants: list[str] | None = None) -> list[AdapterStatus]:
        """Each adapter instance with its state; the backlog counts only ``tenants``' work. Adapters
        that are no longer configured but have a recorded history are listed too."""
        now = self.clock()
        with self.db.reading() as conn:
            breakers = store.load_all(conn)
            inbox = backlog.inbox_by_channel(conn, tenants)
            outbox = backlog.outbox_by_target(conn, tenants)
        waiting: dict[AdapterKey, Backlog] = {AdapterKey(SOURCE, channel): b for channel, b in inbox.items()}
        kinds = self.outbox_kinds()
        for (kind, target), part in outbox.items():
            key = AdapterKey(kinds.get(kind, kind), target)
            waiting[key] = waiting.get(key, Backlog()).plus(part)
        keys = self.instances(tenants)
        configured_hooks = {hook.name for hook in self.webhooks}
        keys += sorted(key for key in breakers if key not in keys
                       and not (key.kind == WEBHOOK and key.name in configured_hooks))  # another tenant's hook
        return [self._status(key, breakers.get(key), waiting.get(key, Backlog()), now) for key in keys]

    def _status(self, key: AdapterKey, recorded: Breaker | None, work: Backlog, now: dt.datetime) -> AdapterStatus:
        state = recorded or Breaker.fresh(now)
        rate, calls = breaker.error_rate(state, now, self.settings)
        lag = (now - work.oldest).total_seconds() if work.oldest is not None else None
        retry_at = state.retry_at if state.circuit == "open" else None
        if retry_at is None and work.next_retry_at is not None and work.next_retry_at > now:
            retry_at = work.next_retry_at
        return AdapterStatus(
            kind=key.kind, name=key.name, state=self._state(state, rate, calls, lag), circuit=state.circuit,
            consecutive_failures=state.consecutive_failures, last_success_at=state.last_success_at,
            last_error=ErrorSummary(state.last_error_type, state.last_error_title or "")
            if state.last_error_type else None, last_error_at=state.last_failure_at, error_rate=rate, calls=calls,
            backlog=work.waiting, lag_seconds=max(lag, 0.0) if lag is not None else None, dead_letters=work.dead,
            retry_at=retry_at)

    def _state(self, recorded: Breaker, rate: float, calls: int, lag: float | None) -> State:
        if recorded.circuit != "closed":
            return "down"
        failing = calls >= MIN_CALLS_FOR_RATE and rate >= self.settings.degraded_error_rate
        if recorded.consecutive_failures > 0 or failing:
            return "degraded"
        if lag is not None and lag >= self.settings.degraded_lag_seconds:
            return "degraded"
        return "ok"
