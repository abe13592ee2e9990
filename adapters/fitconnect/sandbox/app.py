"""The sandbox Zustelldienst as an ASGI app (entry point ``rathaus_gateway.sandboxes``).

Paths, field names, status codes and content types follow the FIT-Connect Submission API v1
(OpenAPI 1.1.x) and v2 (see :mod:`adapters.fitconnect.wire`), so a FIT-Connect client library
of either generation only needs its base URLs changed: the Submission API at ``<sandbox>``
(paths start with ``/v1`` or ``/v2``; libraries that put the version into their base URL use
``<sandbox>/v1`` or ``<sandbox>/v2``), the token endpoint at ``<sandbox>/token``. The
sandbox also serves the Routing API (``<sandbox>/routing/v1``, see :mod:`.routing`) and the
Self-Service-Portal's JWKS (``<sandbox>/ssp/.well-known/jwks.json``), and -- behind the ZBP
bridge destination -- the citizen postbox and status monitor (``<sandbox>/postbox/``, see
:mod:`.postbox`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_plus

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from adapters.fitconnect.sandbox.config import SandboxConfig, config_from_env
from adapters.fitconnect.sandbox.postbox import Postbox
from adapters.fitconnect.sandbox.postbox_routes import postbox_router
from adapters.fitconnect.sandbox.replies import OnlineService, reply_router
from adapters.fitconnect.sandbox.routes import Auth, problem_response, submission_router
from adapters.fitconnect.sandbox.routing import routing_router
from adapters.fitconnect.sandbox.state import PROBLEM_BASE, OAuthError, Problem, Sandbox
from adapters.fitconnect.wire import PATHS, ApiVersion

NO_CACHE = {"Cache-Control": "no-cache"}  # destinations and their keys must not be cached (API spec)
# the OpenAPI documents the sandbox follows (v2: derived, see adapters/fitconnect/wire.py)
API_VERSIONS: dict[ApiVersion, dict[str, int]] = {"v1": {"major": 1, "minor": 1, "patch": 3},
                                                  "v2": {"major": 2, "minor": 0, "patch": 0}}


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """client_secret_basic (RFC 6749 section 2.3.1): form-encoded id and secret in HTTP Basic."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError(401, "invalid_client", "Malformed Basic credentials", basic=True) from None
    if not sep:
        raise OAuthError(401, "invalid_client", "Malformed Basic credentials", basic=True)
    return unquote_plus(client_id), unquote_plus(secret)


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    sandbox = Sandbox(config or config_from_env())
    app = FastAPI(title="FIT-Connect Zustelldienst sandbox (TEST ONLY)", version="1.1.3+2.0.0")
    app.state.sandbox = sandbox

    @app.middleware("http")
    async def _base_url(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # The Zustelldienst signs its SETs with its base URL as iss; the sandbox takes the one its
        # first request was sent to and keeps it (a canonical URL, whatever host names follow).
        if sandbox.base_url is None:
            sandbox.base_url = str(request.base_url).rstrip("/")
        return await call_next(request)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(OAuthError)
    async def _oauth(request: Request, exc: OAuthError) -> JSONResponse:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if exc.basic:
            headers["WWW-Authenticate"] = 'Basic realm="fit-connect-sandbox"'
        return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=exc.status,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        return JSONResponse({"type": PROBLEM_BASE + "request-invalid", "title": "Request invalid",
                             "status": 400, "detail": f"invalid fields: {fields}"},
                            status_code=400, media_type="application/problem+json")

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        """OAuth 2.0 client credentials; the client authenticates in the form or with HTTP Basic."""
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise OAuthError(400, "invalid_request", "The token request must be form-encoded")
        form = await request.form()
        basic = _basic_credentials(request.headers.get("authorization"))
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", "Only client_credentials is supported", basic is not None)
        if basic is not None:
            client_id, secret = basic
        else:
            client_id, secret = str(form.get("client_id") or ""), str(form.get("client_secret") or "")
            if not client_id or not secret:
                raise OAuthError(401, "invalid_client", "Client credentials missing")
        issued = sandbox.issue_token(client_id, secret, basic is not None, str(form.get("scope") or ""))
        return JSONResponse(issued, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @app.get("/.well-known/jwks.json")
    def jwks() -> dict[str, Any]:
        return {"keys": [sandbox.signing.public_jwk]}

    for version in ("v1", "v2"):
        _destination_routes(app, sandbox, version)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(submission_router(sandbox, "v1"))
    app.include_router(submission_router(sandbox, "v2"))
    online = OnlineService(sandbox, sandbox.config.reply_keys)
    app.state.online_service = online
    app.include_router(reply_router(sandbox, "v1", online))
    app.include_router(reply_router(sandbox, "v2", online))
    app.include_router(routing_router(sandbox))
    if sandbox.config.postbox is not None:
        postbox = Postbox(sandbox, sandbox.config.postbox)
        sandbox.on_submitted.append(postbox.process)
        app.state.postbox = postbox
        app.include_router(postbox_router(postbox))
    return app


def _destination_routes(app: FastAPI, sandbox: Sandbox, version: ApiVersion) -> None:
    paths = PATHS[version]

    @app.get(paths.info)
    def info() -> dict[str, Any]:
        return {"version": API_VERSIONS[version]}

    @app.get(paths.destination)
    def destination(destination_id: str, authorization: Auth = None) -> JSONResponse:
        sandbox.client_for(authorization)
        found = sandbox.destination(destination_id)
        body: dict[str, Any] = {"destinationId": found.id, "status": found.status,
                                paths.destination_services_field: found.services,
                                "encryptionKid": found.encryption_kid, "metadataVersions": found.metadata_versions,
                                "replyChannels": {"eMail": {"usePgp": False}, "fitConnect": {
                                    "processStandards": ["urn:xoev-de:bmk:standard:xbau_2.4",
                                                         "urn:x-rathaus-gateway:standard:antwort_1.0"]}}}
        if version == "v2":
            body["name"] = found.name
        return JSONResponse(body, headers=NO_CACHE)

    @app.get(paths.destination_key)
    def destination_key(destination_id: str, kid: str) -> JSONResponse:
        # Public keys: the API documents no security requirement for this operation.
        for key in sandbox.destination(destination_id).keys:
            if key.get("kid") == kid:
                return JSONResponse(key, headers=NO_CACHE)
        raise Problem(404, "key-not-found", "Key not found")

    if version == "v2":
        @app.get(paths.destination_keys)
        def destination_keys(destination_id: str) -> JSONResponse:
            found = sandbox.destination(destination_id)
            keys = [k for k in found.keys if k.get("kid") == found.encryption_kid] + \
                [k for k in found.keys if k.get("kid") != found.encryption_kid]
            return JSONResponse({"keys": keys}, headers=NO_CACHE)
