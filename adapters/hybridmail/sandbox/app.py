"""A local stand-in for the E-POSTBUSINESS API (entry point ``rathaus_gateway.sandboxes``:
``hybridmail``), following the API's shape as the adapter's README describes it:

* ``POST /api/Login`` -> ``{"token"}``; ``GET /api/Login/HealthCheck``
* ``POST /api/Letter`` (JSON array; all or nothing) -> ``[{"fileName", "letterID"}]``
* ``GET /api/Letter/{id}``, ``POST /api/Letter/StatusQuery``, ``GET /api/Letter/Custom1?custom1=``,
  ``GET /api/Letter/Batch?batchID=``, ``GET /api/Letter/Open``
* errors as ``{"level": "Error", "code", "description"}``

and for people and tests: ``GET /`` (letters as HTML), ``GET /sandbox/letters`` (JSON),
``GET /sandbox/letters/{id}.pdf``, ``POST /sandbox/letters/{id}/fail`` (the letter ends in 99),
``POST /sandbox/faults`` ``{"path": "/api/Letter", "method": "POST", "status": 500,
"delay_seconds": 0, "count": 1}`` and ``DELETE /sandbox/faults``. The state is ``app.state.epost``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from adapters.hybridmail.sandbox.checks import CheckedLetter, Refused, check_letter
from adapters.hybridmail.sandbox.config import SandboxConfig, config_from_env
from adapters.hybridmail.sandbox.pages import letters_page
from adapters.hybridmail.sandbox.state import EPostSandbox, Fault


class FaultRequest(BaseModel):
    path: str = Field(pattern=r"^/")
    method: str | None = Field(None, pattern=r"^(GET|POST|PUT|DELETE)$")
    status: int | None = Field(None, ge=400, le=599)
    delay_seconds: float = Field(0.0, ge=0, le=120)
    count: int = Field(1, ge=1, le=1000)


def create_app(config: SandboxConfig | None = None, sandbox: EPostSandbox | None = None) -> FastAPI:
    sandbox = sandbox or EPostSandbox(config or config_from_env())
    cfg = sandbox.config
    app = FastAPI(title="E-POSTBUSINESS API sandbox (TEST ONLY)")
    app.state.epost = sandbox

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.middleware("http")
    async def _faults(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        fault = sandbox.take_fault(request.method, request.url.path) if request.url.path.startswith("/api") else None
        if fault is not None:
            await asyncio.sleep(fault.delay_seconds)
            if fault.status is not None:
                return JSONResponse({"level": "Error", "code": "E999", "description": "injected sandbox fault"},
                                    status_code=fault.status)
        return await call_next(request)

    async def _json(request: Request, limit: int) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise Refused(413, "E904", f"the request is larger than {limit} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise Refused(413, "E904", f"the request is larger than {limit} bytes")
        try:
            return json.loads(body)
        except ValueError:
            raise Refused(400, "E900", "the request is not JSON") from None

    @app.post("/api/Login")
    async def login(request: Request) -> dict[str, str]:
        return {"token": sandbox.login(await _json(request, 64 * 1024))}

    @app.get("/api/Login/HealthCheck")
    def health_check() -> dict[str, str]:
        return {"level": "Info", "code": "I501", "description": "OK"}

    @app.post("/api/Letter")
    async def upload(request: Request) -> list[dict[str, Any]]:
        account = sandbox.account(request.headers.get("authorization"))
        items = await _json(request, cfg.max_request_bytes)
        if not isinstance(items, list) or not items:
            raise Refused(400, "E900", "the request must be a non-empty JSON array of letters")

        def check_all() -> list[CheckedLetter]:
            return [check_letter(item, n, cfg.pdf, cfg.window) for n, item in enumerate(items, start=1)]

        checked = await run_in_threadpool(check_all)
        return sandbox.accept(account, checked)

    def _poll(request: Request) -> list[Any]:
        account = sandbox.account(request.headers.get("authorization"))
        sandbox.polled(request.headers.get("authorization"))
        return sandbox.mine(account)

    @app.get("/api/Letter/Custom1")
    def by_custom1(request: Request, custom1: str) -> list[dict[str, Any]]:
        return [sandbox.status(x) for x in _poll(request) if x.fields.get("custom1") == custom1]

    @app.get("/api/Letter/Batch")
    def by_batch(request: Request, batchID: int) -> list[dict[str, Any]]:  # noqa: N803 - the API's name
        return [sandbox.status(x) for x in _poll(request) if x.fields.get("batchID") == batchID]

    @app.get("/api/Letter/Open")
    def open_letters(request: Request) -> list[dict[str, Any]]:
        return [s for s in (sandbox.status(x) for x in _poll(request)) if s["statusID"] in (1, 2, 3)]

    @app.post("/api/Letter/StatusQuery")
    async def status_query(request: Request, onlyIssues: bool = False) -> list[dict[str, Any]]:  # noqa: N803
        ids = await _json(request, 1024 * 1024)
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise Refused(400, "E900", "the request must be a JSON array of letter ids")
        wanted = set(ids)
        statuses = [sandbox.status(x) for x in _poll(request) if x.letter_id in wanted]
        return [s for s in statuses if s["statusID"] == 99] if onlyIssues else statuses

    @app.get("/api/Letter/{letter_id}")
    def status(request: Request, letter_id: int) -> dict[str, Any]:
        letter = next((x for x in _poll(request) if x.letter_id == letter_id), None)
        if letter is None:
            raise Refused(404, "E404", "no such letter")
        return sandbox.status(letter)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return letters_page(sandbox)

    @app.get("/sandbox/letters")
    def letters() -> list[dict[str, Any]]:
        return [{**sandbox.status(x), "address": {k: x.fields.get(k) for k in (
            "addressLine1", "addressLine2", "addressLine3", "addressLine4", "addressLine5", "zipCode", "city",
            "country")}, "sha256": x.sha256, "size": x.size} for x in list(sandbox.letters.values())]

    @app.get("/sandbox/letters/{letter_id}.pdf")
    def letter_pdf(letter_id: int) -> Response:
        letter = sandbox.letters.get(letter_id)
        if letter is None:
            raise HTTPException(404, "no such letter")
        return Response(sandbox.pdf(letter), media_type="application/pdf")

    @app.post("/sandbox/letters/{letter_id}/fail", status_code=204)
    def fail(letter_id: int) -> None:
        if not sandbox.fail(letter_id):
            raise HTTPException(404, "no such letter")

    @app.post("/sandbox/faults", status_code=201)
    def add_fault(fault: FaultRequest) -> dict[str, Any]:
        sandbox.add_fault(Fault(fault.path, fault.method, fault.status, fault.delay_seconds, fault.count))
        return fault.model_dump()

    @app.delete("/sandbox/faults", status_code=204)
    def clear_faults() -> None:
        sandbox.clear_faults()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
