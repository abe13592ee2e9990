"""Every error leaves the API as RFC 9457 ``application/problem+json``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import PROBLEM_BASE, GatewayError, MalformedRequest, StoreUnavailable, TooManyRequests

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
# how soon a client may try again while the database is away (a restart takes seconds)
STORE_RETRY_AFTER_SECONDS = 5


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem, status_code=int(problem["status"]), media_type=PROBLEM_JSON, headers=headers)


def _validation_problem(exc: RequestValidationError, instance: str) -> dict[str, Any]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return MalformedRequest("the request body is not valid JSON").to_problem(instance)
    # 'input' is left out on purpose: it may hold personal data
    return {"type": PROBLEM_BASE + "invalid-request", "title": "The request is not valid", "status": 422,
            "detail": f"{len(errors)} problem(s) in the request", "instance": instance,
            "errors": [{"location": [str(p) for p in e["loc"]], "message": e["msg"], "code": e["type"]}
                       for e in errors]}


def install(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="rathaus-gateway"'} if exc.status == 401 else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        return problem_response(exc.to_problem(request.url.path), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(_validation_problem(exc, request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem_response({"type": PROBLEM_BASE + slug, "title": str(exc.detail), "status": exc.status_code,
                                 "instance": request.url.path})

    # a database that cannot be reached (the driver's connection errors, whichever statement met them)
    # is an outage to wait out, not a fault of the gateway: 503, as every TransientError
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable on %s: %s", request.url.path, type(exc).__name__)
        problem = StoreUnavailable("the database did not answer; send the request again shortly")\
            .to_problem(request.url.path)
        return problem_response(problem, {"Retry-After": str(STORE_RETRY_AFTER_SECONDS)})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response({"type": PROBLEM_BASE + "internal-error", "title": "Internal error", "status": 500,
                                 "instance": request.url.path})
