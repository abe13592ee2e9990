"""The floor: the bare framework answering the portal request without any gateway work.

Same framework (FastAPI on uvicorn, started with the same options and worker count as the
gateway), same request: it reads the JSON body, parses it with the gateway's JSON library
(orjson) and answers 201 with a body of the size the gateway sends. No auth, no database,
no validation, no middleware.

    python -m uvicorn tests.perf.floor_app:create_app --factory --port 8001
"""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def create_app() -> FastAPI:
    app = FastAPI(title="floor")

    @app.post("/v1/applications", status_code=201)
    async def submit_application(request: Request) -> JSONResponse:
        envelope = orjson.loads(await request.body())
        case_id = str(uuid.uuid4())
        body = {"case_id": case_id, "reference": "TGH-2026-000001", "status": "received",
                "tenant": envelope["tenant"], "service": envelope["service"],
                "received_at": dt.datetime.now(dt.UTC).isoformat(), "warnings": []}
        return JSONResponse(body, status_code=201, headers={"Location": f"/v1/cases/{case_id}"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
