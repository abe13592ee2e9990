"""``serve``: the API under uvicorn, and the worker in a process of its own beside it. Both log
JSON lines on stderr (gateway.logs) and count their metrics in one directory (gateway.metrics)."""

from __future__ import annotations

import logging.config
from typing import Any

import uvicorn

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.logs import setup as logs
from gateway.metrics import directory as metrics_directory
from gateway.migrations import upgrade
from gateway.worker_process import WorkerProcess


def uvicorn_config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    """Every server this project starts (gateway, sandboxes, `make run`, tests) is built here:
    without a ``server`` header, which would only tell an attacker what to look for."""
    return uvicorn.Config(app, host=host, port=port, server_header=False, **options)


def serve(settings: Settings, host: str, port: int, with_worker: bool = True, processes: int = 1,
          access_log: bool = True) -> None:
    """One API process with a gateway of its own, or ``processes`` of them through the ASGI
    factory (each builds its gateway from the environment's settings). With ``with_worker`` one
    supervised ``rathaus-gateway worker`` process runs beside them."""
    log_config = logs.config(settings.log_level, "api")
    logging.config.dictConfig(log_config)
    # before the first count, in this process and the ones it starts (worker, API processes)
    metrics_directory.use(settings.metrics_dir, clear=True)
    upgrade(settings.effective_database_url)  # once, before the worker and the API open the database
    worker = WorkerProcess() if with_worker else None
    if worker is not None:
        worker.start()
    level = settings.log_level.lower()
    try:
        if processes > 1:
            uvicorn.run("gateway.asgi:create", factory=True, host=host, port=port, workers=processes,
                        log_level=level, access_log=access_log, server_header=False, log_config=log_config)
        else:
            gateway = Gateway.create(settings)
            try:
                uvicorn.run(create_app(gateway), host=host, port=port, log_level=level, access_log=access_log,
                            server_header=False, log_config=log_config)
            finally:
                gateway.close()
    finally:
        if worker is not None:
            worker.stop()
