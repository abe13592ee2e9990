"""What adapter health is made of: the key of an adapter instance, the recorded state of its
circuit breaker (one ``adapter_health`` row) and the summary of an error (never its detail)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from gateway.errors import GatewayError

Circuit = Literal["closed", "open", "half_open"]
# ok: the adapter did what was asked; refused: it answered but refused this one item (a permanent
# error: the upstream is reachable); failed: it could not be reached or answered with an error
Verdict = Literal["ok", "refused", "failed"]
State = Literal["ok", "degraded", "down"]

# the kinds of adapter instances the core calls (an outbox handler may name another one)
SOURCE, ACKNOWLEDGER, SENDER, REPLY_CHANNEL, WEBHOOK = "source", "acknowledger", "sender", "reply_channel", "webhook"


@dataclass(frozen=True, order=True)
class AdapterKey:
    """One adapter instance: ``kind`` (source, acknowledger, sender, reply_channel, webhook) and
    its registered ``name`` (a channel's name, a webhook subscriber's name)."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class ErrorSummary:
    """An error as health keeps it: the problem type and title, which name the kind of failure
    and never carry personal data (the detail may, so it is not kept)."""

    type: str
    title: str

    @classmethod
    def of(cls, exc: BaseException) -> ErrorSummary:
        if isinstance(exc, GatewayError):
            return cls(type=exc.type_uri, title=exc.title)
        return cls(type="about:blank", title=type(exc).__name__)


@dataclass(frozen=True)
class Breaker:
    """The recorded state of one adapter instance (a row of ``adapter_health``)."""

    circuit: Circuit
    consecutive_failures: int
    trips: int  # openings since the circuit was last closed: the cool-down grows with them
    opened_at: dt.datetime | None
    retry_at: dt.datetime | None  # an open circuit: when the next probe may run
    probe_until: dt.datetime | None  # a half-open circuit: until when its probe is taken
    last_success_at: dt.datetime | None
    last_failure_at: dt.datetime | None
    last_error_type: str | None
    last_error_title: str | None
    window_started_at: dt.datetime
    window_calls: int
    window_failures: int
    previous_calls: int
    previous_failures: int
    updated_at: dt.datetime

    @classmethod
    def fresh(cls, now: dt.datetime) -> Breaker:
        return cls(circuit="closed", consecutive_failures=0, trips=0, opened_at=None, retry_at=None,
                   probe_until=None, last_success_at=None, last_failure_at=None, last_error_type=None,
                   last_error_title=None, window_started_at=now, window_calls=0, window_failures=0,
                   previous_calls=0, previous_failures=0, updated_at=now)

    @property
    def healthy(self) -> bool:
        """Closed and not failing: a success changes nothing but counters."""
        return self.circuit == "closed" and self.consecutive_failures == 0
