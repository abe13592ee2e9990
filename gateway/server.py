"""Runs the API under uvicorn, with the worker loop in a thread when asked to."""

from __future__ import annotations

import logging
import threading

import uvicorn

from gateway.runtime import Gateway

log = logging.getLogger(__name__)


def serve(gateway: Gateway, host: str, port: int, with_worker: bool = True, access_log: bool = True) -> None:
    stop = threading.Event()
    thread = None
    if with_worker and gateway.settings.embedded_worker:
        thread = threading.Thread(target=gateway.run_worker, args=(stop,), name="worker", daemon=True)
        thread.start()
    config = uvicorn.Config(gateway.api, host=host, port=port, log_level="info", access_log=access_log,
                            proxy_headers=False, server_header=False)
    try:
        uvicorn.Server(config).run()
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=10)
        gateway.close()
