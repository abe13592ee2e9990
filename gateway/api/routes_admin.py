"""Admin: health, readiness, quarantine and dead letters (visible and re-playable), adapters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse

from gateway.api.auth import TokenService
from gateway.api.deps import GatewayDep, PrincipalDep
from gateway.errors import NotFound, TokenRequestRefused
from gateway.store import inbox_repo, outbox_repo
from gateway.store.inbox_repo import InboxRow

router = APIRouter(tags=["admin"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
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


@router.post("/oauth/token", tags=["auth"])
def token(request: Request, grant_type: Annotated[str | None, Form()] = None,
          client_id: Annotated[str | None, Form()] = None, client_secret: Annotated[str | None, Form()] = None,
          scope: Annotated[str | None, Form()] = None) -> JSONResponse:
    """OAuth2 client credentials (RFC 6749 4.4), credentials in the form body."""
    if not grant_type or not client_id or client_secret is None:
        raise TokenRequestRefused("grant_type, client_id and client_secret are required", error="invalid_request")
    if grant_type != "client_credentials":
        raise TokenRequestRefused("only grant_type=client_credentials is supported", error="unsupported_grant_type")
    tokens: TokenService = request.app.state.tokens
    issued = tokens.issue(client_id, client_secret, scope)
    return JSONResponse(issued, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _inbox_view(row: InboxRow) -> dict[str, Any]:
    return {"id": row.id, "channel": row.channel, "source_id": row.source_id, "tenant": row.tenant_ars,
            "state": row.state, "attempts": row.attempts, "error": row.last_error,
            "received_at": row.received_at.isoformat(), "updated_at": row.updated_at.isoformat(),
            "case_id": row.case_id}


@router.get("/v1/admin/inbox", tags=["admin"])
def inbox(gateway: GatewayDep, principal: PrincipalDep,
          state: Literal["quarantined", "dead", "retry", "received"] = "quarantined",
          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    principal.require("admin")
    with gateway.db.reading() as conn:
        return [_inbox_view(r) for r in inbox_repo.list_by_state(conn, [state], limit, principal.tenants)]


@router.post("/v1/admin/inbox/{inbox_id}/replay", tags=["admin"])
def replay_inbox(inbox_id: str, gateway: GatewayDep, principal: PrincipalDep) -> dict[str, str]:
    principal.require("admin")
    with gateway.db.reading() as conn:
        row = inbox_repo.get(conn, inbox_id)
    if row is None or (principal.tenants is not None and row.tenant_ars not in principal.tenants):
        raise NotFound("no quarantined or dead inbox entry with that id")
    if not gateway.pipeline.replay(inbox_id, f"client:{principal.client_id}"):
        raise NotFound("no quarantined or dead inbox entry with that id")
    return {"id": inbox_id, "state": "received"}


@router.get("/v1/admin/outbox", tags=["admin"])
def outbox(gateway: GatewayDep, principal: PrincipalDep, state: Literal["dead", "pending"] = "dead",
           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    principal.require("admin")
    with gateway.db.reading() as conn:
        rows = outbox_repo.list_state(conn, state, limit, principal.tenants)
    return [{"id": r.id, "kind": r.kind, "target": r.target, "case_id": r.case_id, "attempts": r.attempts,
             "error": r.last_error} for r in rows]


@router.post("/v1/admin/outbox/{row_id}/replay", tags=["admin"])
def replay_outbox(row_id: int, gateway: GatewayDep, principal: PrincipalDep) -> dict[str, Any]:
    principal.require("admin")
    with gateway.db.transaction() as uow:
        allowed = principal.tenants is None or outbox_repo.tenant_of(uow.conn, row_id) in principal.tenants
        if not allowed or not outbox_repo.revive(uow.conn, row_id, gateway.clock()):
            raise NotFound("no dead outbox entry with that id")
    return {"id": row_id, "state": "pending"}


@router.get("/v1/admin/adapters", tags=["admin"])
def adapters(gateway: GatewayDep, principal: PrincipalDep) -> dict[str, Any]:
    principal.require("admin")
    return {"channels": list(gateway.adapters.channels), "sources": list(gateway.adapters.sources),
            "senders": list(gateway.adapters.senders), "queue_dead_letters": len(gateway.queue.dead_letters())}
