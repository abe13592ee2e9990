"""Response bodies of the API's own routes, for the OpenAPI document (and so for clients and
the schemathesis run in the tests: each route's answers must match what is declared here)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class TokenIssued(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]


class Health(BaseModel):
    status: Literal["ok"]


class InboxEntry(BaseModel):
    id: str
    channel: str
    source_id: str
    tenant: str | None
    state: str
    attempts: int
    error: dict[str, Any] | None
    received_at: str
    updated_at: str
    case_id: str | None
    replayable: bool = Field(description="quarantined or dead and its original still kept: replay is possible")
    original_purged_at: str | None = Field(description="when the retention deleted the raw original (and its parts "
                                           "and checkpoint); the entry stays for the audit trail")


class Replayed(BaseModel):
    id: str
    state: Literal["received"]


class OutboxEntry(BaseModel):
    id: int
    kind: str
    target: str
    case_id: str | None
    attempts: int
    error: str | None


class OutboxReplayed(BaseModel):
    id: int
    state: Literal["pending"]


class AdapterError(BaseModel):
    type: str = Field(description="RFC 9457 problem type of the last failure (its detail is not kept)")
    title: str
    at: str | None


class AdapterHealth(BaseModel):
    """One adapter instance (gateway.health): ``kind`` source, acknowledger, sender, reply_channel or
    webhook (or an outbox kind whose handler names no adapter kind), ``name`` as registered."""

    kind: str
    name: str
    state: Literal["ok", "degraded", "down"]
    circuit: Literal["closed", "open", "half_open"]
    consecutive_failures: int = Field(ge=0)
    last_success_at: str | None
    last_error: AdapterError | None
    error_rate: float = Field(ge=0, le=1, description="failed calls / calls in the recent window")
    calls: int = Field(ge=0, description="calls in the recent window")
    backlog: int = Field(ge=0, description="open inbox messages (source) or pending outbox rows (others)")
    lag_seconds: float | None = Field(description="age of the oldest of them")
    dead_letters: int = Field(ge=0)
    retry_at: str | None = Field(description="next retry: an open circuit's probe, else the earliest scheduled "
                                             "retry of the waiting work")


class AdapterOverview(BaseModel):
    adapters: list[AdapterHealth]
    channels: list[str]
    sources: list[str]
    senders: list[str]
    reply_channels: list[str]
    queue_dead_letters: int


class Refusal(BaseModel):
    at: str
    client: str
    tenant: str | None
    channel: str
    type: str
    status: int


class Refusals(BaseModel):
    total: int
    by_type: dict[str, int]
    latest: list[Refusal]


class ForwardingQueued(BaseModel):
    case_id: str
    channel: str
    target: str
    status: Literal["queued"]


class Forwarding(BaseModel):
    channel: str
    target: str
    remote_id: str | None
    status: str
    updated_at: str


class EventsPage(BaseModel):
    items: list[dict[str, Any]]
    next: str
