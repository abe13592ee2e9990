"""Response bodies of the API's own routes, for the OpenAPI document (and so for clients and
the schemathesis run in the tests: each route's answers must match what is declared here)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


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


class AdapterOverview(BaseModel):
    channels: list[str]
    sources: list[str]
    senders: list[str]
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
