"""The sandbox Zustelldienst as an ASGI app (entry point ``rathaus_gateway.sandboxes``).

Paths, field names, status codes and content types follow the FIT-Connect Submission API v1,
so a FIT-Connect client library only needs its base URLs changed (token URL: ``/token``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from adapters.fitconnect.sandbox.config import SandboxConfig, config_from_env
from adapters.fitconnect.sandbox.routes import Auth, problem_response, submission_router
from adapters.fitconnect.sandbox.state import PROBLEM_BASE, Problem, Sandbox


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    sandbox = Sandbox(config or config_from_env())
    app = FastAPI(title="FIT-Connect Zustelldienst sandbox (TEST ONLY)", version="1.0.0")
    app.state.sandbox = sandbox

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        return JSONResponse({"type": PROBLEM_BASE + "request-invalid", "title": "Request invalid",
                             "status": 422, "detail": f"invalid fields: {fields}"},
                            status_code=422, media_type="application/problem+json")

    @app.post("/token")
    def token(grant_type: Annotated[str, Form()], client_id: Annotated[str, Form()],
              client_secret: Annotated[str, Form()]) -> dict[str, Any]:
        if grant_type != "client_credentials":
            raise Problem(400, "unsupported-grant-type", "Only client_credentials is supported")
        return sandbox.issue_token(client_id, client_secret)

    @app.get("/.well-known/jwks.json")
    def jwks() -> dict[str, Any]:
        return {"keys": [sandbox.signing.public_jwk]}

    @app.get("/v1/destinations/{destination_id}")
    def destination(destination_id: str, authorization: Auth = None) -> dict[str, Any]:
        sandbox.client_for(authorization)
        found = sandbox.destination(destination_id)
        return {"destinationId": found.id, "status": found.status, "services": found.services,
                "encryptionKid": found.encryption_kid, "metadataVersions": found.metadata_versions,
                "replyChannels": {"eMail": {"usePgp": False}}}

    @app.get("/v1/destinations/{destination_id}/keys/{kid}")
    def destination_key(destination_id: str, kid: str, authorization: Auth = None) -> dict[str, Any]:
        sandbox.client_for(authorization)
        for key in sandbox.destination(destination_id).keys:
            if key.get("kid") == kid:
                return key
        raise Problem(404, "key-not-found", "Key not found")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(submission_router(sandbox))
    return app
