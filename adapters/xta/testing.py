"""Test helpers: the sandbox as an in-process httpx transport, adapter options, a state store.

``sandbox_http()`` runs the sandbox's SOAP handling directly in the calling thread (no
server, no sockets), which keeps unit tests fast; integration and e2e tests serve the real
ASGI app on a loopback port instead.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx

from adapters.xta.client import XtaClient
from adapters.xta.metadata import Party
from adapters.xta.samples import TOWN
from adapters.xta.sandbox.app import handle_soap
from adapters.xta.sandbox.store import SandboxState
from gateway.ports import StateStore

SANDBOX_URL = "http://xta-sandbox.test"


def sandbox_transport(state: SandboxState, *, mtom_responses: bool = True) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        port = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        status, body, ctype = handle_soap(state, port, request.read(), request.headers.get("content-type", ""),
                                          mtom_responses=mtom_responses)
        content = body if isinstance(body, bytes) else (bytes(chunk) for chunk in body)
        return httpx.Response(status, content=content, headers={"content-type": ctype})

    return httpx.MockTransport(handler)


def sandbox_http(state: SandboxState | None = None, *, mtom_responses: bool = True
                 ) -> tuple[httpx.Client, SandboxState]:
    state = state if state is not None else SandboxState()
    return httpx.Client(transport=sandbox_transport(state, mtom_responses=mtom_responses)), state


def client_for(party: Party, http: httpx.Client, url: str = SANDBOX_URL) -> XtaClient:
    return XtaClient(url, party, http)


def options(server_url: str = SANDBOX_URL, **overrides: Any) -> dict[str, Any]:
    """Adapter options for the demo municipality against a (sandbox) server over plain http."""
    values: dict[str, Any] = {
        "server_url": server_url, "insecure_http": True, "party": TOWN.value, "party_name": TOWN.name,
        "tenant_ars": "150905350535", "poll_interval_seconds": 0,
    }
    values.update(overrides)
    return values


def state_store(db_file: Path) -> StateStore:
    """The gateway's own StateStore on a (new or existing) SQLite file, as ``ctx.state`` is in a
    gateway. Two stores on the same file behave like two processes of one installation."""
    from gateway.migrations import upgrade
    from gateway.store.db import Database
    from gateway.store.state_repo import SqlStateStore

    url = f"sqlite:///{db_file}"
    upgrade(url)
    return SqlStateStore(Database(url), lambda: dt.datetime.now(dt.UTC))
