"""Admin: health, readiness, quarantine and dead letters (visible and re-playable), adapters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from gateway.api.deps import GatewayDep, PrincipalDep
from gateway.api.responses import (
    AdapterOverview,
    Health,
    InboxEntry,
    OutboxEntry,
    OutboxReplayed,
    Readiness,
    Refusals,
    Replayed,
)
from gateway.errors import NotFound
from gateway.events import audit
from gateway.store import inbox_repo, outbox_repo, rejections
from gateway.store.inbox_repo import InboxRow

router = APIRouter(tags=["admin"])  # health and readiness too


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready"}})
def readyz(gateway: GatewayDep) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, probe in (("store", gateway.db.ping), ("queue", gateway.queue.ping)):
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


def _inbox_view(row: InboxRow) -> dict[str, Any]:
    return {"id": row.id, "channel": row.channel, "source_id": row.source_id, "tenant": row.tenant_ars,
            "state": row.state, "attempts": row.attempts, "error": row.last_error,
            "received_at": row.received_at.isoformat(), "updated_at": row.updated_at.isoformat(),
            "case_id": row.case_id, "replayable": row.replayable,
            "original_purged_at": row.original_purged_at.isoformat() if row.original_purged_at else None}


@router.get("/v1/admin/inbox", tags=["admin"], response_model=list[InboxEntry])
def inbox(gateway: GatewayDep, principal: PrincipalDep,
          state: Literal["quarantined", "dead", "retry", "received", "discarded"] = "quarantined",
          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    principal.require("admin")
    with gateway.db.transaction() as uow:  # who saw which entries (sources' ids, problems) is audited
        rows = inbox_repo.list_by_state(uow.conn, [state], limit, principal.tenants)
        audit.record_views(uow.conn, at=gateway.clock(), actor=f"client:{principal.client_id}",
                           action="admin.inbox_listed", shown=[(r.tenant_ars, r.id) for r in rows],
                           details={"states": [state]})
    return [_inbox_view(r) for r in rows]


@router.post("/v1/admin/inbox/{inbox_id}/replay", tags=["admin"], response_model=Replayed, responses={
    410: {"description": "the retention deleted the message's original (original-purged): it cannot be replayed"}})
def replay_inbox(inbox_id: str, gateway: GatewayDep, principal: PrincipalDep) -> dict[str, str]:
    principal.require("admin")
    with gateway.db.reading() as conn:
        row = inbox_repo.get(conn, inbox_id)
    if row is None or (principal.tenants is not None and row.tenant_ars not in principal.tenants):
        raise NotFound("no quarantined or dead inbox entry with that id")
    if not gateway.pipeline.replay(inbox_id, f"client:{principal.client_id}"):
        raise NotFound("no quarantined or dead inbox entry with that id")
    return {"id": inbox_id, "state": "received"}


@router.get("/v1/admin/outbox", tags=["admin"], response_model=list[OutboxEntry])
def outbox(gateway: GatewayDep, principal: PrincipalDep, state: Literal["dead", "pending"] = "dead",
           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    principal.require("admin")
    with gateway.db.reading() as conn:
        rows = outbox_repo.list_state(conn, state, limit, principal.tenants)
    return [{"id": r.id, "kind": r.kind, "target": r.target, "case_id": r.case_id, "attempts": r.attempts,
             "error": r.last_error} for r in rows]


@router.post("/v1/admin/outbox/{row_id}/replay", tags=["admin"], response_model=OutboxReplayed)
def replay_outbox(row_id: Annotated[int, Path(ge=1, le=2**63 - 1)], gateway: GatewayDep,
                  principal: PrincipalDep) -> dict[str, Any]:
    principal.require("admin")
    with gateway.db.transaction() as uow:
        allowed = principal.tenants is None or outbox_repo.tenant_of(uow.conn, row_id) in principal.tenants
        if not allowed or not gateway.dispatcher.revive(uow.conn, row_id, gateway.clock(),
                                                        f"client:{principal.client_id}"):
            raise NotFound("no dead outbox entry with that id")
    return {"id": row_id, "state": "pending"}


@router.get("/v1/admin/adapters", tags=["admin"], response_model=AdapterOverview)
def adapters(gateway: GatewayDep, principal: PrincipalDep) -> dict[str, Any]:
    """Every adapter instance with its state (ok, degraded, down), circuit breaker, last success,
    last error (problem type and time), error rate, backlog and lag, dead letters and next retry.
    Backlogs count the work of the client's municipalities; webhooks of others are left out."""
    principal.require("admin")
    return {"adapters": [status.to_dict() for status in gateway.health.overview(principal.tenants)],
            "channels": list(gateway.adapters.channels), "sources": list(gateway.adapters.sources),
            "senders": list(gateway.adapters.senders), "reply_channels": list(gateway.adapters.reply_channels),
            "queue_dead_letters": len(gateway.queue.dead_letters())}


@router.get("/v1/admin/rejections", tags=["admin"], response_model=Refusals)
def refused_requests(gateway: GatewayDep, principal: PrincipalDep,
                     limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """Requests a synchronous channel refused (4xx): counts per problem type and the latest
    records — channel, client, municipality, problem type, time; nothing of the request. An
    admin sees the refusals for its municipalities and those without one (refused before the
    request named one) of the clients configured for its municipalities."""
    principal.require("admin")
    tenants = principal.tenants
    # a refusal without a municipality belongs to the admins of the municipalities its client serves
    clients = None if tenants is None else [c.client_id for c in gateway.settings.clients
                                            if c.tenants is None or set(c.tenants) & set(tenants)]
    return rejections.summary(gateway.db, tenants, limit, clients)
