"""``POST /oauth/token``: OAuth2 client credentials (RFC 6749 4.4), rate limited and locked
out per client id and per client address (see gateway/api/throttle.py).

The client authenticates either with HTTP Basic (``client_secret_basic``, RFC 6749 2.3.1: id
and secret each form-urlencoded, joined by ``:``, base64) or with ``client_id`` and
``client_secret`` in the form body (``client_secret_post``) — not both in one request (2.3:
"MUST NOT use more than one authentication method"). A failed Basic login is answered 401 with
a ``Basic`` challenge (5.2)."""

from __future__ import annotations

import binascii
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from gateway.api.auth import TokenService
from gateway.api.problems import problem_response
from gateway.api.responses import TokenIssued
from gateway.api.throttle import TokenThrottle, client_address
from gateway.errors import AuthenticationFailed, TokenRequestRefused

BASIC_CHALLENGE = 'Basic realm="rathaus-gateway"'

router = APIRouter(tags=["auth"])


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """Client id and secret from an ``Authorization: Basic`` header; None without one."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = binascii.a2b_base64(value.strip(), strict_mode=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise TokenRequestRefused("the Basic credentials are not valid base64 of UTF-8 text",
                                  error="invalid_request") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise TokenRequestRefused("the Basic credentials need the form client_id:client_secret",
                                  error="invalid_request")
    return unquote_plus(client_id), unquote_plus(secret)


@router.post("/oauth/token", response_model=TokenIssued)
def token(request: Request, grant_type: Annotated[str | None, Form()] = None,
          client_id: Annotated[str | None, Form()] = None, client_secret: Annotated[str | None, Form()] = None,
          scope: Annotated[str | None, Form()] = None) -> JSONResponse:
    """OAuth2 client credentials, the client's credentials in an ``Authorization: Basic`` header
    or in the form body (one of the two). A plain ``def``: the argon2 check of the secret runs
    in the thread pool, not on the event loop."""
    basic = basic_credentials(request.headers.get("authorization"))
    if basic is not None:
        if client_secret is not None or (client_id is not None and client_id != basic[0]):
            raise TokenRequestRefused("use one client authentication method: the Authorization header or "
                                      "client_id and client_secret in the body, not both", error="invalid_request")
        client_id, client_secret = basic
    if not grant_type or not client_id or client_secret is None:
        raise TokenRequestRefused("grant_type and the client's credentials (client_id and client_secret, or "
                                  "HTTP Basic) are required", error="invalid_request")
    if grant_type != "client_credentials":
        raise TokenRequestRefused("only grant_type=client_credentials is supported", error="unsupported_grant_type")
    tokens: TokenService = request.app.state.tokens
    throttle: TokenThrottle = request.app.state.token_throttle
    address = client_address(request)
    throttle.admit(client_id, address)
    try:
        issued = tokens.issue(client_id, client_secret, scope)
    except AuthenticationFailed as exc:
        throttle.failed(client_id, address)
        if basic is None:
            raise
        return problem_response(exc.to_problem(request.url.path), {"WWW-Authenticate": BASIC_CHALLENGE})
    throttle.succeeded(client_id)
    return JSONResponse(issued, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
