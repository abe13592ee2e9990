"""``POST /oauth/token``: OAuth2 client credentials (RFC 6749 4.4), rate limited and locked
out per client id and per client address (see gateway/api/throttle.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from gateway.api.auth import TokenService
from gateway.api.responses import TokenIssued
from gateway.api.throttle import TokenThrottle
from gateway.errors import AuthenticationFailed, TokenRequestRefused

router = APIRouter(tags=["auth"])


def client_address(request: Request) -> str:
    """The peer address (behind a reverse proxy: run uvicorn with ``--forwarded-allow-ips``
    for the proxy, so this is the client's and not the proxy's)."""
    return request.client.host if request.client else "unknown"


@router.post("/oauth/token", response_model=TokenIssued)
def token(request: Request, grant_type: Annotated[str | None, Form()] = None,
          client_id: Annotated[str | None, Form()] = None, client_secret: Annotated[str | None, Form()] = None,
          scope: Annotated[str | None, Form()] = None) -> JSONResponse:
    """OAuth2 client credentials, credentials in the form body. A plain ``def``: the argon2
    check of the secret runs in the thread pool, not on the event loop."""
    if not grant_type or not client_id or client_secret is None:
        raise TokenRequestRefused("grant_type, client_id and client_secret are required", error="invalid_request")
    if grant_type != "client_credentials":
        raise TokenRequestRefused("only grant_type=client_credentials is supported", error="unsupported_grant_type")
    tokens: TokenService = request.app.state.tokens
    throttle: TokenThrottle = request.app.state.token_throttle
    address = client_address(request)
    throttle.admit(client_id, address)
    try:
        issued = tokens.issue(client_id, client_secret, scope)
    except AuthenticationFailed:
        throttle.failed(client_id, address)
        raise
    throttle.succeeded(client_id)
    return JSONResponse(issued, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
