"""Runs ASGI apps on real loopback ports for e2e tests (uvicorn in a thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

_HANDED_OUT: set[int] = set()
_HANDED_OUT_LOCK = threading.Lock()


def free_port() -> int:
    """A loopback port nobody listens on, never the same one twice in this process (a port
    handed out for one server and not yet bound must not go to the next)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with _HANDED_OUT_LOCK:
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port


def _started(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread] | None:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                            server_header=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            thread.join(timeout=5)
            return None
        time.sleep(0.02)
    return server, thread


@contextmanager
def serve_app(app: Any, port: int | None = None, health_path: str | None = None) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 and yield its base URL; stops the server on exit. Without a
    given port a second port is tried should another process have taken the first meanwhile."""
    running: tuple[uvicorn.Server, threading.Thread] | None = None
    chosen = 0
    for _ in range(1 if port else 2):
        chosen = port or free_port()
        running = _started(app, chosen)
        if running is not None:
            break
    if running is None:
        raise RuntimeError(f"server on http://127.0.0.1:{chosen} did not start")
    server, thread = running
    base = f"http://127.0.0.1:{chosen}"
    if health_path:
        httpx.get(base + health_path, timeout=5).raise_for_status()
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
