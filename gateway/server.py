"""Runs the API under uvicorn: one process in-process, or several via the ASGI factory."""

from __future__ import annotations

from typing import Any

import uvicorn

from gateway.api.app import create_app
from gateway.runtime import Gateway


def uvicorn_config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    """Every server this project starts (gateway, sandboxes, `make run`, tests) is built here:
    without a ``server`` header, which would only tell an attacker what to look for."""
    return uvicorn.Config(app, host=host, port=port, server_header=False, **options)


def serve(gateway: Gateway, host: str, port: int, with_worker: bool = True, access_log: bool = True) -> None:
    app = create_app(gateway, run_worker=with_worker and gateway.settings.embedded_worker)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log, server_header=False)
    finally:
        gateway.close()


def serve_processes(host: str, port: int, workers: int) -> None:
    """Several processes, each with its own gateway built from the environment's settings."""
    uvicorn.run("gateway.asgi:create", factory=True, host=host, port=port, workers=workers, log_level="info",
                server_header=False)
