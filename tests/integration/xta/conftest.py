"""The XTA sandbox on a real loopback port, plain or with mutual TLS (test PKI)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from adapters.xta.sandbox.__main__ import tls_config
from adapters.xta.sandbox.app import create_app
from tests.support.servers import free_port, serve_app


@contextmanager
def serve_tls(app: Any) -> Iterator[str]:
    """Like tests.support.servers.serve_app, with the sandbox's mutual-TLS settings."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           **tls_config()))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("TLS sandbox did not start")
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[str, Any]]:
    app = create_app()
    with serve_app(app, health_path="/health") as url:
        yield url, app.state.xta
